/* tests/test_data.c - every format fcl reads, from files generated here: IDX
 * (gzip and plain, 3 and 4 dimensions), CIFAR-10 and CIFAR-100 binary, .npy
 * (uint8 and float32); loading gives exactly the generated values, and every
 * malformed file (truncated, wrong magic, wrong sizes, bad dtype, bad label)
 * is refused with its file name and what is wrong. The real Fashion-MNIST reads. */
#include "fcl/data.h"
#include "fcl/npy.h"
#include "fcl/rng.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void test_roundtrip(const char *suffix)
{
	struct fcl_dataset a, b;
	char dir[] = "/tmp/fcl-test-data-XXXXXX", img[128], lab[128], err[256];
	REQUIRE(mkdtemp(dir) != NULL, "temporary folder");
	snprintf(img, sizeof img, "%s/images%s", dir, suffix);
	snprintf(lab, sizeof lab, "%s/labels%s", dir, suffix);
	REQUIRE(fcl_dataset_synthetic(&a, 37, 49, 5, 11, 0) == 0, "synthetic 37 x 49, 5 classes");
	REQUIRE(fcl_dataset_save_idx(&a, img, lab) == 0, "IDX pair written (%s)", suffix);
	REQUIRE(fcl_dataset_load_idx(&b, img, lab, err, sizeof err) == 0, "IDX pair read: %s", err);
	CHECK(b.n == 37 && b.dim == 49 && b.n_classes <= 5, "shape survives (%u x %u)", b.n, b.dim);
	CHECK(memcmp(a.x, b.x, 37 * 49) == 0 && memcmp(a.y, b.y, 37) == 0,
	      "pixels and labels survive");

	float x[2 * 49];
	int32_t y[2];
	uint32_t idx[2] = {3, 0}, perm[49];
	for (uint32_t k = 0; k < 49; k++)
		perm[k] = 48 - k;
	fcl_dataset_gather(&b, idx, 2, perm, x, y);
	CHECK(y[0] == b.y[3] && fabsf(x[0] - b.x[3 * 49 + 48] / 255.0f) < 1e-6f,
	      "gather applies the pixel permutation and scales to [0, 1]");
	fcl_dataset_fini(&a);
	fcl_dataset_fini(&b);
	unlink(img);
	unlink(lab);
	rmdir(dir);
}

static void test_bad_files(void)
{
	struct fcl_dataset d;
	char err[256] = "", path[] = "/tmp/fcl-test-bad-XXXXXX";
	int rc = fcl_dataset_load_idx(&d, "/nonexistent/images.gz", "/nonexistent/labels.gz", err,
				      sizeof err);
	CHECK(rc < 0 && strstr(err, "/nonexistent/images.gz"), "a missing file names itself: %s",
	      err);
	int fd = mkstemp(path);
	REQUIRE(fd >= 0, "temporary file");
	REQUIRE(write(fd, "\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02\x03\x04\x05\x06\x07\x08", 16) ==
		    16,
		"write a label file");
	close(fd);
	rc = fcl_dataset_load_idx(&d, path, path, err, sizeof err);
	CHECK(rc < 0 && strstr(err, "magic"), "a label file as images is refused: %s", err);
	unlink(path);
}

static void test_fashion(void)
{
	const char *dir = "/usr/share/datasets/fashion-mnist";
	char img[256], lab[256], err[256];
	struct fcl_dataset d;
	snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", dir);
	snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", dir);
	if (access(img, R_OK) != 0) {
		NOTE("skip: %s is absent (install dataset-fashion-mnist)", img);
		return;
	}
	REQUIRE(fcl_dataset_load_idx(&d, img, lab, err, sizeof err) == 0,
		"Fashion-MNIST test set "
		"reads: %s",
		err);
	uint32_t per_class[10] = {0};
	for (uint32_t i = 0; i < d.n; i++)
		per_class[d.y[i]]++;
	CHECK(d.n == 10000 && d.dim == 784 && d.n_classes == 10,
	      "10000 images of 28x28, 10 classes (%u, %u, %u)", d.n, d.dim, d.n_classes);
	CHECK(per_class[0] == 1000 && per_class[9] == 1000, "1000 images per class");
	fcl_dataset_fini(&d);
}

/* ---- generated folders in each format ---------------------------------------------- */

static char tmp_dir[64];

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static const char *fresh_dir(void)
{
	if (tmp_dir[0])
		rm_tree(tmp_dir);
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fcl-test-formats-XXXXXX");
	return mkdtemp(tmp_dir);
}

/* A synthetic split shaped (c, h, w); float32 pixels when as_float. */
static int make_split(struct fcl_dataset *ds, uint32_t n, struct fcl_input_shape sh,
		      uint32_t classes, int split, int as_float)
{
	if (fcl_dataset_synthetic(ds, n, sh.c * sh.h * sh.w, classes, 5, (uint32_t)split))
		return -1;
	ds->shape = sh;
	if (as_float) {
		size_t k = (size_t)n * ds->dim;
		ds->xf = malloc(k * sizeof *ds->xf);
		for (size_t i = 0; i < k; i++)
			ds->xf[i] =
			    (float)ds->x[i] / 255.0f - 0.25f; /* any floats, kept as they are */
		free(ds->x);
		ds->x = NULL;
	}
	return 0;
}

static int same_data(const struct fcl_dataset *a, const struct fcl_dataset *b)
{
	size_t k = (size_t)a->n * a->dim;
	if (a->n != b->n || a->dim != b->dim || memcmp(a->y, b->y, a->n))
		return 0;
	if (a->xf)
		return b->xf && !memcmp(a->xf, b->xf, k * sizeof *a->xf);
	return b->x && !memcmp(a->x, b->x, k);
}

static void roundtrip(enum fcl_data_format f, struct fcl_input_shape sh, uint32_t classes,
		      int as_float, int coarse)
{
	struct fcl_dataset a[2], b;
	struct fcl_data_source src = {f, fresh_dir(), classes, 0};
	const char *name = fcl_data_format_name(f);
	char err[512] = "";

	for (int split = 0; split < 2; split++) {
		REQUIRE(make_split(&a[split], split ? 23 : 57, sh, classes, split, as_float) == 0,
			"%s: generated split %d", name, split);
		REQUIRE(fcl_dataset_save(&a[split], f, src.path, split) == 0,
			"%s: split %d written", name, split);
	}
	for (int split = 0; split < 2; split++) {
		int rc = fcl_dataset_load(&b, &src, split, err, sizeof err);
		CHECK(rc == 0 && same_data(&a[split], &b) && b.shape.c == sh.c &&
			  b.shape.h == sh.h && b.shape.w == sh.w && b.n_classes == classes,
		      "%s%s %ux%ux%u, %u classes: split %d reads back exactly (%s)", name,
		      as_float ? " float32" : "", sh.c, sh.h, sh.w, classes, split, err);
		fcl_dataset_fini(&b);
	}
	if (coarse) {
		src.coarse = 1;
		src.classes = 20;
		int rc = fcl_dataset_load(&b, &src, 0, err, sizeof err);
		int ok = rc == 0 && b.n == a[0].n;
		for (uint32_t i = 0; ok && i < b.n; i++)
			ok = b.y[i] == a[0].y[i] / 5;
		CHECK(ok, "cifar100 with data.labels: coarse reads the coarse label byte (%s)",
		      err);
		fcl_dataset_fini(&b);
	}
	fcl_dataset_fini(&a[0]);
	fcl_dataset_fini(&a[1]);
}

static void test_formats(void)
{
	roundtrip(FCL_FORMAT_CIFAR10, (struct fcl_input_shape){3, 32, 32}, 10, 0, 0);
	roundtrip(FCL_FORMAT_CIFAR100, (struct fcl_input_shape){3, 32, 32}, 100, 0, 1);
	roundtrip(FCL_FORMAT_NPY, (struct fcl_input_shape){3, 8, 6}, 100, 0, 0);
	roundtrip(FCL_FORMAT_NPY, (struct fcl_input_shape){2, 5, 5}, 7, 1, 0);
	roundtrip(FCL_FORMAT_NPY, (struct fcl_input_shape){1, 1, 40}, 12, 1, 0);
	roundtrip(FCL_FORMAT_IDX, (struct fcl_input_shape){3, 4, 5}, 10, 0, 0);
	roundtrip(FCL_FORMAT_IDX, (struct fcl_input_shape){1, 6, 6}, 10, 0, 0);

	/* gather gives float32 data as stored, byte data scaled */
	struct fcl_dataset d;
	REQUIRE(make_split(&d, 4, (struct fcl_input_shape){1, 1, 3}, 2, 0, 1) == 0, "float split");
	float x[3];
	int32_t y;
	uint32_t i = 2;
	fcl_dataset_gather(&d, &i, 1, NULL, x, &y);
	CHECK(!memcmp(x, d.xf + 6, sizeof x) && y == d.y[2],
	      "gather copies float32 samples as stored");
	fcl_dataset_fini(&d);
}

/* Per-channel normalisation: (x - mean[c]) / std[c], through a permutation too. */
static void test_normalize(void)
{
	struct fcl_dataset d;
	char err[256] = "";
	const float mean[3] = {0.5f, 0.25f, 0.0f}, std[3] = {0.5f, 0.25f, 2.0f};
	REQUIRE(make_split(&d, 3, (struct fcl_input_shape){3, 2, 2}, 2, 0, 0) == 0, "3x2x2 bytes");
	CHECK(fcl_dataset_normalize(&d, mean, std, 2, err, sizeof err) == -EINVAL &&
		  strstr(err, "2 values for data with 3 channels"),
	      "2 values for 3 channels refused: %s", err);
	REQUIRE(fcl_dataset_normalize(&d, mean, std, 3, err, sizeof err) == 0, "normalise: %s",
		err);
	float x[12];
	int32_t y;
	uint32_t i = 1, perm[12];
	fcl_dataset_gather(&d, &i, 1, NULL, x, &y);
	int ok = 1;
	for (uint32_t k = 0; k < 12; k++) {
		float want = ((float)d.x[12 + k] / 255.0f - mean[k / 4]) / std[k / 4];
		ok = ok && fabsf(x[k] - want) < 1e-5f;
	}
	CHECK(ok, "each channel gets its own mean and std");
	for (uint32_t k = 0; k < 12; k++)
		perm[k] = 11 - k;
	fcl_dataset_gather(&d, &i, 1, perm, x, &y);
	CHECK(fabsf(x[0] - ((float)d.x[12 + 11] / 255.0f - mean[2]) / std[2]) < 1e-5f,
	      "a permuted pixel keeps its own channel's normalisation");
	fcl_dataset_fini(&d);
	REQUIRE(make_split(&d, 2, (struct fcl_input_shape){1, 1, 5}, 2, 0, 1) == 0, "float split");
	REQUIRE(fcl_dataset_normalize(&d, mean, std, 1, err, sizeof err) == 0, "one value for all");
	fcl_dataset_gather(&d, &i, 1, NULL, x, &y);
	CHECK(fabsf(x[4] - (d.xf[9] - 0.5f) / 0.5f) < 1e-6f,
	      "float32 pixels are normalised as stored");
	fcl_dataset_fini(&d);
}

/* crop-flip: each sample shifted by the drawn (dy, dx), black outside, then
 * maybe flipped; checked against a direct formula with the same draws. */
static void test_augment(void)
{
	struct fcl_dataset d = {0};
	const uint32_t C = 2, H = 5, W = 6, D = C * H * W;
	float x[4 * 2 * 5 * 6], in[4 * 2 * 5 * 6];
	struct fcl_rng rng, ref;

	d.n = 4;
	d.dim = D;
	d.shape = (struct fcl_input_shape){C, H, W};
	for (uint32_t k = 0; k < 4 * D; k++)
		in[k] = x[k] = 1.0f + (float)k;
	fcl_rng_init(&rng, 9, FCL_RNG_AUGMENT, 3, 7);
	fcl_dataset_augment(&d, x, 4, &rng);
	CHECK(!memcmp(x, in, sizeof x), "without data.augment nothing changes");
	d.augment = 1;
	fcl_rng_init(&ref, 9, FCL_RNG_AUGMENT, 3, 7);
	fcl_dataset_augment(&d, x, 4, &rng);
	int ok = 1, shifted = 0, flipped = 0;
	for (uint32_t i = 0; i < 4; i++) {
		int dy = (int)fcl_rng_below(&ref, 9) - 4, dx = (int)fcl_rng_below(&ref, 9) - 4;
		int flip = (int)fcl_rng_below(&ref, 2);
		shifted += dy || dx;
		flipped += flip;
		for (uint32_t c = 0; c < C; c++)
			for (int r = 0; r < (int)H; r++)
				for (int q = 0; q < (int)W; q++) {
					int si = r + dy, sj = (flip ? (int)W - 1 - q : q) + dx;
					float want =
					    si >= 0 && si < (int)H && sj >= 0 && sj < (int)W
						? in[i * D + c * H * W + si * W + sj]
						: 0.0f;
					ok = ok && x[i * D + c * H * W + r * W + q] == want;
				}
	}
	CHECK(ok && shifted > 0 && flipped > 0,
	      "each sample is its image shifted by the drawn offset, black outside, flipped "
	      "when drawn (%d of 4 shifted, %d flipped)",
	      shifted, flipped);
	/* normalised data: the border is a black pixel normalised, -mean/std */
	REQUIRE(make_split(&d, 2, (struct fcl_input_shape){1, 8, 8}, 2, 0, 0) == 0, "8x8 bytes");
	const float mean = 0.5f, sd = 0.25f;
	char err[128];
	REQUIRE(fcl_dataset_normalize(&d, &mean, &sd, 1, err, sizeof err) == 0, "normalised");
	d.augment = 1;
	float y8[64];
	int32_t lab;
	uint32_t id = 0;
	int border = 0;
	fcl_rng_init(&rng, 1, FCL_RNG_AUGMENT, 0, 0);
	for (int t = 0; t < 20 && !border; t++) {
		fcl_dataset_gather(&d, &id, 1, NULL, y8, &lab);
		fcl_dataset_augment(&d, y8, 1, &rng);
		for (int k = 0; k < 64; k++)
			border += y8[k] == -2.0f;
	}
	CHECK(border > 0, "a crop's border is (0 - 0.5) / 0.25 = -2 after normalisation");
	fcl_dataset_fini(&d);
}

/* ---- malformed files -------------------------------------------------------------- */

static void put_file(const char *dir, const char *name, const void *data, size_t n)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (f) {
		fwrite(data, 1, n, f);
		fclose(f);
	}
}

/* A .npy file with a literal header and n data bytes of value v. */
static void put_npy(const char *dir, const char *name, const char *header, size_t n, int v)
{
	size_t h = strlen(header), total = 10 + h;
	unsigned char *buf = malloc(total + n + 1);
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (unsigned char)(h & 0xff);
	buf[9] = (unsigned char)(h >> 8);
	memcpy(buf + 10, header, h);
	memset(buf + total, v, n);
	put_file(dir, name, buf, total + n);
	free(buf);
}

static void patch_byte(const char *dir, const char *name, long off, int v)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "r+b");
	if (f) {
		fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
		fputc(v, f);
		fclose(f);
	}
}

static void truncate_by(const char *dir, const char *name, long by)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (!stat(p, &st))
		CHECK(truncate(p, st.st_size - by) == 0, "cut %ld bytes off %s", by, name);
}

/* Loads split `split` and expects a refusal naming `file` and containing `what`. */
static void expect_refusal(const struct fcl_data_source *src, int split, const char *file,
			   const char *what, const char *why)
{
	struct fcl_dataset d;
	char err[512] = "";
	int rc = fcl_dataset_load(&d, src, split, err, sizeof err);
	CHECK(rc < 0 && strstr(err, file) && strstr(err, what), "%s %s: refused (%s)",
	      fcl_data_format_name(src->format), why, err);
	if (!rc)
		fcl_dataset_fini(&d);
}

static void generate(enum fcl_data_format f, const char *dir, uint32_t classes,
		     struct fcl_input_shape sh)
{
	for (int split = 0; split < 2; split++) {
		struct fcl_dataset d;
		if (make_split(&d, split ? 10 : 20, sh, classes, split, 0) == 0)
			fcl_dataset_save(&d, f, dir, split);
		fcl_dataset_fini(&d);
	}
}

static void test_malformed_cifar(void)
{
	const struct fcl_input_shape sh = {3, 32, 32};
	struct fcl_data_source src = {FCL_FORMAT_CIFAR10, fresh_dir(), 10, 0};

	generate(FCL_FORMAT_CIFAR10, src.path, 10, sh);
	patch_byte(src.path, "test_batch.bin", 3073 * 4, 255);
	expect_refusal(&src, 1, "test_batch.bin", "record 4 has label 255",
		       "label byte 255 in record 4");
	truncate_by(src.path, "data_batch_3.bin", 100);
	expect_refusal(&src, 0, "data_batch_3.bin", "not a whole number of 3073-byte records",
		       "truncated batch");
	unlink(strcat(strcpy((char[512]){0}, src.path), "/data_batch_5.bin"));
	generate(FCL_FORMAT_CIFAR10, src.path, 10, sh);
	unlink(strcat(strcpy((char[512]){0}, src.path), "/data_batch_5.bin"));
	expect_refusal(&src, 0, "data_batch_5.bin", "cannot open", "missing batch");
	put_file(src.path, "test_batch.bin", "", 0);
	expect_refusal(&src, 1, "test_batch.bin", "0 bytes", "empty file");

	src = (struct fcl_data_source){FCL_FORMAT_CIFAR100, fresh_dir(), 100, 0};
	generate(FCL_FORMAT_CIFAR100, src.path, 100, sh);
	patch_byte(src.path, "train.bin", 3074 * 7 + 1, 100);
	expect_refusal(&src, 0, "train.bin", "record 7 has label 100", "fine label 100");
	src.coarse = 1;
	src.classes = 20;
	patch_byte(src.path, "test.bin", 3074 * 2, 20);
	expect_refusal(&src, 1, "test.bin", "record 2 has label 20", "coarse label 20");
	truncate_by(src.path, "test.bin", 3073);
	expect_refusal(&src, 1, "test.bin", "3074-byte records", "a record short");
}

static void test_malformed_npy(void)
{
	const char *dir = fresh_dir();
	struct fcl_data_source src = {FCL_FORMAT_NPY, dir, 5, 0};
	const char *y10 = "{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }\n";

	generate(FCL_FORMAT_NPY, dir, 5, (struct fcl_input_shape){1, 2, 3});
	put_file(dir, "X_test.npy", "\x93NUMPX\x01\x00\x10\x00{}", 12);
	expect_refusal(&src, 1, "X_test.npy", "magic", "wrong magic");
	put_file(dir, "X_test.npy", "\x93NUMPY\x01", 7);
	expect_refusal(&src, 1, "X_test.npy", "truncated", "truncated preamble");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (10, 6), }\n",
		59, 1);
	expect_refusal(&src, 1, "X_test.npy", "truncated", "one data byte short");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (10, 6), }\n",
		61, 1);
	expect_refusal(&src, 1, "X_test.npy", "trailing", "one data byte too many");
	put_npy(dir, "X_test.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 6), }\n",
		480, 0);
	expect_refusal(&src, 1, "X_test.npy", "dtype '<f8'", "float64 images");
	put_npy(dir, "X_test.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (10, 6), }\n",
		240, 0);
	expect_refusal(&src, 1, "X_test.npy", "'>f4' is not supported", "big-endian images");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': True, 'shape': (10, 6), }\n",
		60, 0);
	expect_refusal(&src, 1, "X_test.npy", "C order", "Fortran order");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'shape': (10, 6), }\n", 60, 0);
	expect_refusal(&src, 1, "X_test.npy", "lacks 'fortran_order'", "a key missing");
	put_npy(dir, "X_test.npy",
		"{'descr': '|u1', 'fortran_order': False, 'shape': (10, 6), 'x': 1}\n", 60, 0);
	expect_refusal(&src, 1, "X_test.npy", "unexpected", "an extra key");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (10 6), }\n",
		60, 0);
	expect_refusal(&src, 1, "X_test.npy", "shape", "a bad shape tuple");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (9, 6), }\n",
		54, 0);
	expect_refusal(&src, 1, "9 images", "10 labels", "9 images for 10 labels");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (60,), }\n",
		60, 0);
	expect_refusal(&src, 1, "X_test.npy", "dimensions", "1-d images");
	put_npy(dir, "X_test.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 1), }\n",
		40, 0xff);
	expect_refusal(&src, 1, "X_test.npy", "record 0 has a non-finite value", "NaN pixels");
	put_npy(dir, "X_test.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (10, 6), }\n",
		60, 0);
	struct fcl_dataset d;
	char err[256];
	CHECK(fcl_dataset_load(&d, &src, 1, err, sizeof err) == 0 && d.n == 10 && d.dim == 6,
	      "a hand-written .npy of numpy's layout reads: %s", err);
	fcl_dataset_fini(&d);

	put_npy(dir, "y_test.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }\n",
		40, 0);
	expect_refusal(&src, 1, "y_test.npy", "integer type", "float labels");
	put_npy(dir, "y_test.npy", y10, 80, 0);
	patch_byte(dir, "y_test.npy", -8 * 3, 7); /* record 7: label 7 of 5 classes */
	expect_refusal(&src, 1, "y_test.npy", "record 7 has label 7", "label 7 of 5 classes");
	put_npy(dir, "y_test.npy", y10, 80, 0);
	patch_byte(dir, "y_test.npy", -1, 0x80); /* record 9: negative int64 */
	expect_refusal(&src, 1, "y_test.npy", "record 9 has label -", "a negative label");
	put_npy(dir, "y_test.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (10, 1), }\n",
		80, 0);
	expect_refusal(&src, 1, "y_test.npy", "one: (N,)", "2-d labels");

	/* detection: max label + 1, and a gap below the top label is refused */
	uint32_t classes = 0;
	src.classes = 0;
	CHECK(fcl_dataset_detect_classes(&src, &classes, err, sizeof err) == 0 && classes == 5,
	      "5 classes detected from y_train.npy (%u; %s)", classes, err);
	put_npy(dir, "y_train.npy", y10, 80, 0);
	patch_byte(dir, "y_train.npy", -8 * 2, 2);
	patch_byte(dir, "y_train.npy", -8, 255);
	CHECK(fcl_dataset_detect_classes(&src, &classes, err, sizeof err) < 0 &&
		  strstr(err, "y_train.npy") && strstr(err, "class 1 has no sample"),
	      "one label byte 255 is not read as 256 classes: %s", err);
}

/* Issue 16's reproduction: one test label byte of Fashion-MNIST-like IDX files set to 255. */
static void test_idx_label_255(void)
{
	struct fcl_data_source src = {FCL_FORMAT_IDX, fresh_dir(), 10, 0};
	generate(FCL_FORMAT_IDX, src.path, 10, (struct fcl_input_shape){1, 4, 4});
	patch_byte(src.path, "t10k-labels-idx1-ubyte", 8 + 6, 255);
	expect_refusal(&src, 1, "t10k-labels-idx1-ubyte", "record 6 has label 255",
		       "label byte 255 (issue 16)");
	truncate_by(src.path, "train-images-idx3-ubyte", 5);
	expect_refusal(&src, 0, "train-images-idx3-ubyte", "truncated IDX data",
		       "truncated images");
	put_file(src.path, "train-images-idx3-ubyte", "\x00\x00\x08", 3);
	expect_refusal(&src, 0, "train-images-idx3-ubyte", "truncated IDX header", "3-byte file");
	put_file(src.path, "train-images-idx3-ubyte", "\x00\x00\x0d\x03\0\0\0\1\0\0\0\1\0\0\0\1",
		 16);
	expect_refusal(&src, 0, "train-images-idx3-ubyte", "magic", "float IDX images");
}

int main(void)
{
	test_roundtrip(".gz");
	test_roundtrip("");
	test_bad_files();
	test_fashion();
	test_formats();
	test_normalize();
	test_augment();
	test_malformed_cifar();
	test_malformed_npy();
	test_idx_label_255();
	if (tmp_dir[0])
		rm_tree(tmp_dir);
	return tap_done();
}
