/* common/src/data.c - IDX (MNIST-format) reader and writer, synthetic data, labels, gather;
 * CIFAR and .npy files are in data_formats.c */
#include "fcl/data.h"

#include "fcl/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Reads a whole IDX file through zlib (which passes plain files through). */
static int read_idx(const char *path, uint32_t want_magic, uint32_t *dims, int want_ndims,
		    uint8_t **out, size_t *count, char *err, size_t errlen)
{
	unsigned char hdr[20];
	gzFile f = gzopen(path, "rb");
	int rc = 0;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno ? errno : ENOENT));
		return -ENOENT;
	}
	int hdr_len = 4 + 4 * want_ndims;
	if (gzread(f, hdr, (unsigned)hdr_len) != hdr_len) {
		snprintf(err, errlen, "%s: truncated IDX header", path);
		rc = -EPROTO;
		goto out;
	}
	uint32_t magic = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	if (magic != want_magic) {
		snprintf(err, errlen, "%s: IDX magic 0x%08x, expected 0x%08x", path, magic,
			 want_magic);
		rc = -EPROTO;
		goto out;
	}
	size_t total = 1;
	for (int d = 0; d < want_ndims; d++) {
		const unsigned char *p = hdr + 4 + 4 * d;
		dims[d] = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
		/* dims[d] < 2^32 and total <= 2^32 here, so the product fits 64 bits */
		if (total <= ((size_t)1 << 32))
			total *= dims[d];
	}
	if (total == 0 || total > ((size_t)1 << 34)) {
		snprintf(err, errlen, "%s: implausible IDX size", path);
		rc = -EPROTO;
		goto out;
	}
	/* The buffer grows with the bytes that arrive, not with what the header
	 * declares: a 16-byte header could otherwise claim 4 GiB. */
	size_t got = 0, cap = 0;
	while (got < total) {
		if (got == cap) {
			size_t ncap = cap ? cap * 2 : ((size_t)1 << 20);
			uint8_t *p = realloc(*out, ncap < total ? ncap : total);
			if (!p) {
				rc = -ENOMEM;
				goto fail;
			}
			*out = p;
			cap = ncap < total ? ncap : total;
		}
		size_t room = cap - got;
		unsigned chunk = room > (1u << 30) ? (1u << 30) : (unsigned)room;
		int n = gzread(f, *out + got, chunk);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != total) {
		snprintf(err, errlen, "%s: truncated IDX data (%zu of %zu bytes)", path, got,
			 total);
		rc = -EIO;
		goto fail;
	}
	*count = dims[0];
	goto out;
fail:
	free(*out);
	*out = NULL;
out:
	gzclose(f);
	return rc;
}

/* The image file's magic says 3 dimensions (n, rows, cols) or 4 (n, channels, rows, cols). */
static int idx_image_dims(const char *path, int *ndims, char *err, size_t errlen)
{
	unsigned char m[4];
	gzFile f = gzopen(path, "rb");

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno ? errno : ENOENT));
		return -ENOENT;
	}
	int n = gzread(f, m, 4);
	gzclose(f);
	if (n != 4) {
		snprintf(err, errlen, "%s: truncated IDX header", path);
		return -EPROTO;
	}
	*ndims = m[0] == 0 && m[1] == 0 && m[2] == 0x08 && m[3] == 4 ? 4 : 3;
	return 0;
}

int fcl_dataset_load_idx(struct fcl_dataset *ds, const char *images_path, const char *labels_path,
			 char *err, size_t errlen)
{
	uint32_t idims[4], ldims[1];
	size_t ni = 0, nl = 0;
	uint8_t *x = NULL, *y = NULL;
	int rc, nd;

	memset(ds, 0, sizeof *ds);
	if ((rc = idx_image_dims(images_path, &nd, err, errlen)) != 0)
		return rc;
	rc = read_idx(images_path, 0x00000800u | (uint32_t)nd, idims, nd, &x, &ni, err, errlen);
	if (rc)
		return rc;
	rc = read_idx(labels_path, 0x00000801, ldims, 1, &y, &nl, err, errlen);
	if (rc)
		goto err_x;
	if (ni != nl) {
		snprintf(err, errlen, "%s has %zu images but %s has %zu labels", images_path, ni,
			 labels_path, nl);
		rc = -EPROTO;
		goto err_y;
	}
	uint32_t max_label = 0;
	for (size_t i = 0; i < nl; i++)
		max_label = y[i] > max_label ? y[i] : max_label;
	ds->n = (uint32_t)ni;
	ds->shape = nd == 4 ? (struct fcl_input_shape){idims[1], idims[2], idims[3]}
			    : (struct fcl_input_shape){1, idims[1], idims[2]};
	ds->dim = ds->shape.c * ds->shape.h * ds->shape.w;
	ds->n_classes = max_label + 1;
	ds->x = x;
	ds->y = y;
	return 0;
err_y:
	free(y);
err_x:
	free(x);
	return rc;
}

int fcl_dataset_check_labels(const struct fcl_dataset *ds, uint32_t classes, const char *file,
			     char *err, size_t errlen)
{
	for (uint32_t i = 0; i < ds->n; i++)
		if (ds->y[i] >= classes) {
			snprintf(err, errlen,
				 "%s: record %u has label %u, outside the %u classes 0..%u", file,
				 i, ds->y[i], classes, classes - 1);
			return -EPROTO;
		}
	return 0;
}

static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
		     const uint8_t *data, size_t n)
{
	size_t len = strlen(path);
	int gz = len > 3 && strcmp(path + len - 3, ".gz") == 0;
	gzFile f = gzopen(path, gz ? "wb6" : "wbT");
	unsigned char hdr[20];
	int rc = 0;

	if (!f)
		return errno ? -errno : -EIO;
	uint32_t words[5] = {magic, dims[0], ndims > 1 ? dims[1] : 0, ndims > 2 ? dims[2] : 0,
			     ndims > 3 ? dims[3] : 0};
	for (int w = 0; w < 1 + ndims; w++)
		for (int b = 0; b < 4; b++)
			hdr[4 * w + b] = (unsigned char)(words[w] >> (24 - 8 * b));
	if (gzwrite(f, hdr, (unsigned)(4 + 4 * ndims)) != 4 + 4 * ndims ||
	    gzwrite(f, data, (unsigned)n) != (int)n)
		rc = -EIO;
	if (gzclose(f) != Z_OK)
		rc = -EIO;
	return rc;
}

int fcl_dataset_save_idx(const struct fcl_dataset *ds, const char *images_path,
			 const char *labels_path)
{
	if (!ds->x)
		return -EINVAL; /* IDX holds bytes */
	struct fcl_input_shape sh = ds->shape;
	if (sh.c * sh.h * sh.w != ds->dim || sh.h == 1) {
		/* no image shape: the squarest rows x cols, else 1 x dim */
		uint32_t side = 1;
		while ((side + 1) * (side + 1) <= ds->dim)
			side++;
		sh = side * side == ds->dim ? (struct fcl_input_shape){1, side, side}
					    : (struct fcl_input_shape){1, 1, ds->dim};
	}
	uint32_t idims[4] = {ds->n, sh.h, sh.w, 0};
	int nd = 3;
	if (sh.c > 1) {
		idims[1] = sh.c, idims[2] = sh.h, idims[3] = sh.w;
		nd = 4;
	}
	int rc = write_idx(images_path, 0x00000800u | (uint32_t)nd, idims, nd, ds->x,
			   (size_t)ds->n * ds->dim);
	if (rc)
		return rc;
	return write_idx(labels_path, 0x00000801, &ds->n, 1, ds->y, ds->n);
}

int fcl_dataset_synthetic(struct fcl_dataset *ds, uint32_t n, uint32_t dim, uint32_t n_classes,
			  uint64_t seed, uint32_t split)
{
	struct fcl_rng rng;
	float *centres;

	memset(ds, 0, sizeof *ds);
	if (n == 0 || dim == 0 || n_classes < 2 || n_classes > 256)
		return -EINVAL;
	centres = malloc((size_t)n_classes * dim * sizeof(float));
	ds->x = malloc((size_t)n * dim);
	ds->y = malloc(n);
	if (!centres || !ds->x || !ds->y) {
		free(centres);
		fcl_dataset_fini(ds);
		return -ENOMEM;
	}
	/* Centres depend on the seed only, so train and test splits share them. */
	fcl_rng_init(&rng, seed, FCL_RNG_SYNTHETIC_DATA, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	for (size_t i = 0; i < (size_t)n_classes * dim; i++)
		centres[i] = 0.5f + 0.2f * fcl_rng_normal(&rng);
	fcl_rng_init(&rng, seed, FCL_RNG_SYNTHETIC_DATA, split, FCL_RNG_NO_ROUND);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t c = (uint32_t)fcl_rng_below(&rng, n_classes);
		ds->y[i] = (uint8_t)c;
		for (uint32_t k = 0; k < dim; k++) {
			float v = centres[(size_t)c * dim + k] + 0.15f * fcl_rng_normal(&rng);
			v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
			ds->x[(size_t)i * dim + k] = (uint8_t)(v * 255.0f + 0.5f);
		}
	}
	free(centres);
	ds->n = n;
	ds->dim = dim;
	ds->shape = (struct fcl_input_shape){1, 1, dim};
	ds->n_classes = n_classes;
	return 0;
}

void fcl_dataset_fini(struct fcl_dataset *ds)
{
	free(ds->x);
	free(ds->xf);
	free(ds->y);
	free(ds->norm);
	memset(ds, 0, sizeof *ds);
}

int fcl_dataset_normalize(struct fcl_dataset *ds, const float *mean, const float *std,
			  uint32_t n_values, char *err, size_t errlen)
{
	const struct fcl_input_shape *sh = &ds->shape;
	uint32_t channels = sh->c * sh->h * sh->w == ds->dim ? sh->c : 1;

	if (n_values != 1 && n_values != channels) {
		snprintf(err, errlen, "%u values for data with %u channel%s (expected 1 or %u)",
			 n_values, channels, channels == 1 ? "" : "s", channels);
		return -EINVAL;
	}
	float *norm = malloc(2 * (size_t)ds->dim * sizeof *norm);
	if (!norm)
		return -ENOMEM;
	const uint32_t plane = ds->dim / channels;
	for (uint32_t k = 0; k < ds->dim; k++) {
		uint32_t c = n_values == 1 ? 0 : k / plane;
		norm[k] = (ds->xf ? 1.0f : 1.0f / 255.0f) / std[c];
		norm[ds->dim + k] = -mean[c] / std[c];
	}
	free(ds->norm);
	ds->norm = norm;
	return 0;
}

/* Normalised gather: x[k] = pixel(src[k]) * scale[src[k]] + shift[src[k]]. */
static void gather_norm(const struct fcl_dataset *ds, const uint32_t *idx, size_t batch,
			const uint32_t *perm, float *x)
{
	const size_t dim = ds->dim;
	const float *scale = ds->norm, *shift = ds->norm + dim;
	for (size_t i = 0; i < batch; i++) {
		float *dst = x + i * dim;
		const size_t at = (size_t)idx[i] * dim;
		for (size_t k = 0; k < dim; k++) {
			size_t j = perm ? perm[k] : k;
			float v = ds->xf ? ds->xf[at + j] : (float)ds->x[at + j];
			dst[k] = v * scale[j] + shift[j];
		}
	}
}

void fcl_dataset_gather(const struct fcl_dataset *ds, const uint32_t *idx, size_t batch,
			const uint32_t *perm, float *x, int32_t *y)
{
	const float scale = 1.0f / 255.0f;
	const size_t dim = ds->dim;
	if (ds->norm)
		gather_norm(ds, idx, batch, perm, x);
	for (size_t i = 0; i < batch && !ds->norm; i++) {
		float *dst = x + i * dim;
		if (ds->xf) {
			const float *src = ds->xf + (size_t)idx[i] * dim;
			if (perm)
				for (size_t k = 0; k < dim; k++)
					dst[k] = src[perm[k]];
			else
				memcpy(dst, src, dim * sizeof *dst);
		} else {
			const uint8_t *src = ds->x + (size_t)idx[i] * dim;
			if (perm)
				for (size_t k = 0; k < dim; k++)
					dst[k] = (float)src[perm[k]] * scale;
			else
				for (size_t k = 0; k < dim; k++)
					dst[k] = (float)src[k] * scale;
		}
	}
	for (size_t i = 0; i < batch; i++)
		y[i] = ds->y[idx[i]];
}

/* Moves one channel plane (h, w) in place so that p(i, j) = p(i + dy, j + dx),
 * fill where that falls outside; the walk order reads each pixel before it
 * is overwritten. */
static void shift_plane(float *p, int h, int w, int dy, int dx, float fill)
{
	for (int a = 0; a < h; a++) {
		int i = dy > 0 ? a : h - 1 - a;
		for (int b = 0; b < w; b++) {
			int j = dx > 0 ? b : w - 1 - b;
			int si = i + dy, sj = j + dx;
			p[i * w + j] =
			    si >= 0 && si < h && sj >= 0 && sj < w ? p[si * w + sj] : fill;
		}
	}
}

void fcl_dataset_augment(const struct fcl_dataset *ds, float *x, size_t batch, struct fcl_rng *rng)
{
	const struct fcl_input_shape *sh = &ds->shape;
	if (!ds->augment || sh->c * sh->h * sh->w != ds->dim)
		return;
	const int h = (int)sh->h, w = (int)sh->w, plane = h * w;
	for (size_t i = 0; i < batch; i++) {
		int dy = (int)fcl_rng_below(rng, 2 * FCL_AUGMENT_PAD + 1) - FCL_AUGMENT_PAD;
		int dx = (int)fcl_rng_below(rng, 2 * FCL_AUGMENT_PAD + 1) - FCL_AUGMENT_PAD;
		int flip = (int)fcl_rng_below(rng, 2);
		for (uint32_t c = 0; c < sh->c; c++) {
			float *p = x + i * ds->dim + (size_t)c * plane;
			/* a black pixel as gather would give it */
			float fill = ds->norm ? ds->norm[ds->dim + (size_t)c * plane] : 0.0f;
			if (dy || dx)
				shift_plane(p, h, w, dy, dx, fill);
			for (int r = 0; flip && r < h; r++)
				for (int a = 0, b = w - 1; a < b; a++, b--) {
					float t = p[r * w + a];
					p[r * w + a] = p[r * w + b];
					p[r * w + b] = t;
				}
		}
	}
}
