/* common/src/data_formats.c - the train and test splits of a data folder in each format
 *
 * CIFAR-10 binary: data_batch_1..5.bin and test_batch.bin, records of one
 * label byte and 3072 pixel bytes (1024 R, 1024 G, 1024 B, rows in order).
 * CIFAR-100 binary: train.bin and test.bin, records of a coarse and a fine
 * label byte and the same pixels. NumPy: X_train.npy / y_train.npy and
 * X_test.npy / y_test.npy, images uint8 or float32 shaped (N, C, H, W),
 * (N, H, W) or (N, D), labels any integer type shaped (N). A folder holding
 * the official archives' sub-folder (cifar-10-batches-bin, cifar-100-binary)
 * is accepted too.
 */
#include "fcl/data.h"
#include "fcl/npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CIFAR_PIXELS 3072u
#define CIFAR10_BATCHES 5

const char *fcl_data_format_name(enum fcl_data_format f)
{
	switch (f) {
	case FCL_FORMAT_IDX:
		return "idx";
	case FCL_FORMAT_CIFAR10:
		return "cifar10";
	case FCL_FORMAT_CIFAR100:
		return "cifar100";
	case FCL_FORMAT_NPY:
		return "npy";
	}
	return "?";
}

static int is_file(const char *p)
{
	struct stat st;
	return !stat(p, &st) && S_ISREG(st.st_mode);
}

/* dir/name, or dir/sub/name when only that exists (an unpacked official archive). */
static void in_folder(char *out, size_t len, const char *dir, const char *sub, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
	if (sub && !is_file(out)) {
		char alt[1024];
		snprintf(alt, sizeof alt, "%s/%s/%s", dir, sub, name);
		if (is_file(alt))
			snprintf(out, len, "%s", alt);
	}
}

/* ---- CIFAR -------------------------------------------------------------------------- */

/* Appends the records of one CIFAR file to ds (x and y grown). label_at is
 * the offset of the label byte used, hdr the label bytes per record. */
static int cifar_append(struct fcl_dataset *ds, const char *path, unsigned hdr, unsigned label_at,
			uint32_t classes, char *err, size_t errlen)
{
	const size_t rec = hdr + CIFAR_PIXELS;
	struct stat st;
	FILE *f = fopen(path, "rb");

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno ? errno : ENOENT));
		return -ENOENT;
	}
	if (fstat(fileno(f), &st) || st.st_size <= 0 || (size_t)st.st_size % rec) {
		snprintf(err, errlen,
			 "%s: %lld bytes is not a whole number of %zu-byte records (truncated?)",
			 path, (long long)st.st_size, rec);
		fclose(f);
		return -EPROTO;
	}
	size_t n = (size_t)st.st_size / rec;
	if ((uint64_t)ds->n + n > UINT32_MAX) {
		fclose(f);
		snprintf(err, errlen, "%s: too many records", path);
		return -EPROTO;
	}
	uint8_t *x = realloc(ds->x, ((size_t)ds->n + n) * CIFAR_PIXELS);
	if (x)
		ds->x = x;
	uint8_t *y = x ? realloc(ds->y, (size_t)ds->n + n) : NULL;
	if (y)
		ds->y = y;
	unsigned char *buf = malloc(rec);
	int rc = 0;
	if (!x || !y || !buf)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		if (fread(buf, 1, rec, f) != rec) {
			snprintf(err, errlen, "%s: read error at record %zu", path, i);
			rc = -EIO;
			break;
		}
		if (buf[label_at] >= classes) {
			snprintf(err, errlen,
				 "%s: record %zu has label %u, outside the %u classes 0..%u", path,
				 i, buf[label_at], classes, classes - 1);
			rc = -EPROTO;
			break;
		}
		ds->y[ds->n + i] = buf[label_at];
		memcpy(ds->x + (ds->n + i) * CIFAR_PIXELS, buf + hdr, CIFAR_PIXELS);
	}
	free(buf);
	fclose(f);
	if (!rc)
		ds->n += (uint32_t)n;
	return rc;
}

static int load_cifar(struct fcl_dataset *ds, const struct fcl_data_source *src, int split,
		      char *err, size_t errlen)
{
	char path[1024];
	int rc = 0;

	if (src->format == FCL_FORMAT_CIFAR10) {
		uint32_t classes = src->classes ? src->classes : 10;
		if (split) {
			in_folder(path, sizeof path, src->path, "cifar-10-batches-bin",
				  "test_batch.bin");
			rc = cifar_append(ds, path, 1, 0, classes, err, errlen);
		}
		for (int b = 1; !split && b <= CIFAR10_BATCHES && !rc; b++) {
			char name[32];
			snprintf(name, sizeof name, "data_batch_%d.bin", b);
			in_folder(path, sizeof path, src->path, "cifar-10-batches-bin", name);
			rc = cifar_append(ds, path, 1, 0, classes, err, errlen);
		}
	} else {
		uint32_t classes = src->classes ? src->classes : src->coarse ? 20 : 100;
		in_folder(path, sizeof path, src->path, "cifar-100-binary",
			  split ? "test.bin" : "train.bin");
		rc = cifar_append(ds, path, 2, src->coarse ? 0 : 1, classes, err, errlen);
	}
	ds->shape = (struct fcl_input_shape){3, 32, 32};
	ds->dim = CIFAR_PIXELS;
	return rc;
}

static int write_file(const char *path, const void *a, size_t na)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return errno ? -errno : -EIO;
	int rc = fwrite(a, 1, na, f) == na ? 0 : -EIO;
	return fclose(f) || rc ? -EIO : 0;
}

/* Records lo..hi of ds as one CIFAR file. */
static int save_cifar_file(const struct fcl_dataset *ds, const char *path, unsigned hdr,
			   uint32_t lo, uint32_t hi)
{
	size_t rec = hdr + CIFAR_PIXELS;
	unsigned char *buf = malloc((hi - lo) * rec + 1);
	if (!buf)
		return -ENOMEM;
	for (uint32_t i = lo; i < hi; i++) {
		unsigned char *r = buf + (i - lo) * rec;
		if (hdr == 2)
			*r++ = ds->y[i] / 5; /* a coarse label: five fine classes per superclass */
		*r++ = ds->y[i];
		memcpy(r, ds->x + (size_t)i * CIFAR_PIXELS, CIFAR_PIXELS);
	}
	int rc = write_file(path, buf, (hi - lo) * rec);
	free(buf);
	return rc;
}

static int save_cifar(const struct fcl_dataset *ds, enum fcl_data_format format, const char *dir,
		      int split)
{
	char path[1024];

	if (!ds->x || ds->dim != CIFAR_PIXELS)
		return -EINVAL;
	if (format == FCL_FORMAT_CIFAR100) {
		snprintf(path, sizeof path, "%s/%s", dir, split ? "test.bin" : "train.bin");
		return save_cifar_file(ds, path, 2, 0, ds->n);
	}
	if (split) {
		snprintf(path, sizeof path, "%s/test_batch.bin", dir);
		return save_cifar_file(ds, path, 1, 0, ds->n);
	}
	for (uint32_t b = 0; b < CIFAR10_BATCHES; b++) {
		uint32_t lo = (uint32_t)((uint64_t)ds->n * b / CIFAR10_BATCHES);
		uint32_t hi = (uint32_t)((uint64_t)ds->n * (b + 1) / CIFAR10_BATCHES);
		snprintf(path, sizeof path, "%s/data_batch_%u.bin", dir, b + 1);
		int rc = save_cifar_file(ds, path, 1, lo, hi);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- NumPy -------------------------------------------------------------------------- */

static const char *npy_name(int images, int split)
{
	static const char *const names[2][2] = {{"y_train.npy", "y_test.npy"},
						{"X_train.npy", "X_test.npy"}};
	return names[images != 0][split != 0];
}

/* Labels from a 1-d integer array into ds->y, each in 0..classes-1. */
static int npy_labels(struct fcl_dataset *ds, const struct fcl_npy *a, const char *path,
		      uint32_t classes, char *err, size_t errlen)
{
	if (a->dtype == FCL_NPY_F32 || a->dtype == FCL_NPY_F64) {
		snprintf(err, errlen, "%s: labels have dtype '%s' (expected an integer type)", path,
			 fcl_npy_descr(a->dtype));
		return -EPROTO;
	}
	if (a->ndim != 1 || a->count > UINT32_MAX) {
		snprintf(err, errlen, "%s: labels have %u dimensions (expected one: (N,))", path,
			 a->ndim);
		return -EPROTO;
	}
	if (!(ds->y = malloc(a->count + 1)))
		return -ENOMEM;
	for (uint64_t i = 0; i < a->count; i++) {
		int64_t v = fcl_npy_int_at(a, i);
		if (v < 0 || v >= (int64_t)classes) {
			snprintf(err, errlen,
				 "%s: record %llu has label %lld, outside the %u classes 0..%u",
				 path, (unsigned long long)i, (long long)v, classes, classes - 1);
			return -EPROTO;
		}
		ds->y[i] = (uint8_t)v;
	}
	ds->n = (uint32_t)a->count;
	return 0;
}

/* Images from a uint8 or float32 array of 2, 3 or 4 dimensions; takes a's data. */
static int npy_images(struct fcl_dataset *ds, struct fcl_npy *a, const char *path, char *err,
		      size_t errlen)
{
	if (a->dtype != FCL_NPY_U8 && a->dtype != FCL_NPY_F32) {
		snprintf(err, errlen, "%s: images have dtype '%s' (expected '|u1' or '<f4')", path,
			 fcl_npy_descr(a->dtype));
		return -EPROTO;
	}
	const uint64_t *s = a->shape;
	if (a->ndim < 2 || a->ndim > 4 || s[0] > UINT32_MAX || s[0] == 0 ||
	    a->count / s[0] > (1u << 24) || a->count / s[0] == 0) {
		snprintf(err, errlen,
			 "%s: images shaped with %u dimensions (expected (N, C, H, W), (N, H, W) "
			 "or (N, D), none of them 0)",
			 path, a->ndim);
		return -EPROTO;
	}
	ds->shape = a->ndim == 4
			? (struct fcl_input_shape){(uint32_t)s[1], (uint32_t)s[2], (uint32_t)s[3]}
		    : a->ndim == 3 ? (struct fcl_input_shape){1, (uint32_t)s[1], (uint32_t)s[2]}
				   : (struct fcl_input_shape){1, 1, (uint32_t)s[1]};
	ds->dim = (uint32_t)(a->count / s[0]);
	if (a->dtype == FCL_NPY_F32) {
		const float *v = a->data;
		for (uint64_t i = 0; i < a->count; i++)
			if (!isfinite(v[i])) {
				snprintf(err, errlen, "%s: record %llu has a non-finite value",
					 path, (unsigned long long)(i / ds->dim));
				return -EPROTO;
			}
		ds->xf = a->data;
	} else {
		ds->x = a->data;
	}
	a->data = NULL;
	return 0;
}

static int load_npy(struct fcl_dataset *ds, const struct fcl_data_source *src, int split, char *err,
		    size_t errlen)
{
	char xp[1024], yp[1024];
	struct fcl_npy a;
	int rc;

	snprintf(xp, sizeof xp, "%s/%s", src->path, npy_name(1, split));
	snprintf(yp, sizeof yp, "%s/%s", src->path, npy_name(0, split));
	if ((rc = fcl_npy_read(yp, &a, err, errlen)) != 0)
		return rc;
	rc =
	    npy_labels(ds, &a, yp, src->classes ? src->classes : FCL_DATA_MAX_CLASSES, err, errlen);
	fcl_npy_fini(&a);
	if (rc)
		return rc;
	uint32_t n = ds->n;
	if ((rc = fcl_npy_read(xp, &a, err, errlen)) != 0)
		return rc;
	rc = npy_images(ds, &a, xp, err, errlen);
	if (!rc && a.shape[0] != n) {
		snprintf(err, errlen, "%s has %llu images but %s has %u labels", xp,
			 (unsigned long long)a.shape[0], yp, n);
		rc = -EPROTO;
	}
	fcl_npy_fini(&a);
	return rc;
}

static int save_npy(const struct fcl_dataset *ds, const char *dir, int split)
{
	char path[1024];
	const struct fcl_input_shape *s = &ds->shape;
	uint64_t shape[4] = {ds->n, s->c, s->h, s->w};
	int64_t *y = malloc((size_t)ds->n * sizeof *y + 1);
	int rc;

	if (!y)
		return -ENOMEM;
	/* flat data (or no shape) as (N, D), images as (N, C, H, W) */
	uint32_t ndim = 4;
	if (s->c * s->h * s->w != ds->dim || (s->c == 1 && s->h == 1)) {
		shape[1] = ds->dim;
		ndim = 2;
	}
	snprintf(path, sizeof path, "%s/%s", dir, npy_name(1, split));
	rc = fcl_npy_write(path, ds->xf ? FCL_NPY_F32 : FCL_NPY_U8, shape, ndim,
			   ds->xf ? (const void *)ds->xf : (const void *)ds->x);
	for (uint32_t i = 0; i < ds->n; i++)
		y[i] = ds->y[i];
	uint64_t n = ds->n;
	snprintf(path, sizeof path, "%s/%s", dir, npy_name(0, split));
	if (!rc)
		rc = fcl_npy_write(path, FCL_NPY_I64, &n, 1, y);
	free(y);
	return rc;
}

/* ---- every format ------------------------------------------------------------------- */

static int load_idx_split(struct fcl_dataset *ds, const struct fcl_data_source *src, int split,
			  char *err, size_t errlen)
{
	static const char *const base[2][2] = {
	    {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
	    {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
	char img[1024], lab[1024];

	snprintf(img, sizeof img, "%s/%s.gz", src->path, base[split][0]);
	if (access(img, R_OK) != 0)
		snprintf(img, sizeof img, "%s/%s", src->path, base[split][0]);
	snprintf(lab, sizeof lab, "%s/%s.gz", src->path, base[split][1]);
	if (access(lab, R_OK) != 0)
		snprintf(lab, sizeof lab, "%s/%s", src->path, base[split][1]);
	int rc = fcl_dataset_load_idx(ds, img, lab, err, errlen);
	if (!rc && src->classes)
		rc = fcl_dataset_check_labels(ds, src->classes, lab, err, errlen);
	return rc;
}

int fcl_dataset_load(struct fcl_dataset *ds, const struct fcl_data_source *src, int split,
		     char *err, size_t errlen)
{
	int rc;

	memset(ds, 0, sizeof *ds);
	switch (src->format) {
	case FCL_FORMAT_IDX:
		rc = load_idx_split(ds, src, split, err, errlen);
		break;
	case FCL_FORMAT_CIFAR10:
	case FCL_FORMAT_CIFAR100:
		rc = load_cifar(ds, src, split, err, errlen);
		break;
	case FCL_FORMAT_NPY:
		rc = load_npy(ds, src, split, err, errlen);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc) {
		fcl_dataset_fini(ds);
		return rc;
	}
	uint32_t max = 0;
	for (uint32_t i = 0; i < ds->n; i++)
		max = ds->y[i] > max ? ds->y[i] : max;
	ds->n_classes = src->classes ? src->classes : max + 1;
	return 0;
}

int fcl_dataset_detect_classes(const struct fcl_data_source *src, uint32_t *classes, char *err,
			       size_t errlen)
{
	struct fcl_dataset ds = {0};
	char path[1024];
	int rc;

	if (src->format == FCL_FORMAT_CIFAR10 || src->format == FCL_FORMAT_CIFAR100) {
		*classes = src->format == FCL_FORMAT_CIFAR10 ? 10 : src->coarse ? 20 : 100;
		return 0;
	}
	if (src->format == FCL_FORMAT_NPY) {
		struct fcl_npy a;
		snprintf(path, sizeof path, "%s/%s", src->path, npy_name(0, 0));
		if ((rc = fcl_npy_read(path, &a, err, errlen)) != 0)
			return rc;
		rc = npy_labels(&ds, &a, path, FCL_DATA_MAX_CLASSES, err, errlen);
		fcl_npy_fini(&a);
	} else {
		rc = load_idx_split(&ds, src, 0, err, errlen);
		snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte[.gz]", src->path);
	}
	if (rc) {
		fcl_dataset_fini(&ds);
		return rc;
	}
	/* A gap below the top label is a corrupt byte far more often than a class
	 * without samples: detecting must not turn one bad byte into 256 classes. */
	uint32_t count[FCL_DATA_MAX_CLASSES] = {0}, top = 0;
	for (uint32_t i = 0; i < ds.n; i++) {
		count[ds.y[i]]++;
		top = ds.y[i] > top ? ds.y[i] : top;
	}
	for (uint32_t c = 0; c < top && !rc; c++)
		if (!count[c]) {
			snprintf(err, errlen,
				 "%s: labels go up to %u but class %u has no sample (a corrupt "
				 "label? declare data.classes if the gap is meant)",
				 path, top, c);
			rc = -EPROTO;
		}
	if (!rc && top == 0) {
		snprintf(err, errlen, "%s: every label is 0 (expected at least 2 classes)", path);
		rc = -EPROTO;
	}
	if (!rc)
		*classes = top + 1;
	fcl_dataset_fini(&ds);
	return rc;
}

int fcl_dataset_save(const struct fcl_dataset *ds, enum fcl_data_format format, const char *dir,
		     int split)
{
	char img[1024], lab[1024];

	switch (format) {
	case FCL_FORMAT_IDX:
		snprintf(img, sizeof img, "%s/%s", dir,
			 split ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte");
		snprintf(lab, sizeof lab, "%s/%s", dir,
			 split ? "t10k-labels-idx1-ubyte" : "train-labels-idx1-ubyte");
		return fcl_dataset_save_idx(ds, img, lab);
	case FCL_FORMAT_CIFAR10:
	case FCL_FORMAT_CIFAR100:
		return save_cifar(ds, format, dir, split);
	case FCL_FORMAT_NPY:
		return save_npy(ds, dir, split);
	}
	return -EINVAL;
}
