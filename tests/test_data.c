/* tests/test_data.c - IDX files (gzip and plain) round-trip; the real Fashion-MNIST reads */
#include "fcl/data.h"
#include "tap.h"

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

int main(void)
{
	test_roundtrip(".gz");
	test_roundtrip("");
	test_bad_files();
	test_fashion();
	return tap_done();
}
