/* tools/fcl-gen-data.c - writes a separable labelled data set in any format fcl reads
 *
 *   fcl-gen-data -o DIR [--format npy|cifar10|cifar100|idx] [--classes C]
 *                [--train N] [--test M] [--shape CxHxW] [--float] [--seed S]
 *
 * Each class is a Gaussian cluster of pixels around its own centre (the
 * synthetic data of fcl/data.h, reshaped), so a model can learn it and a
 * scenario over it runs end to end where CIFAR-100 or Tiny-ImageNet cannot
 * be downloaded. Defaults: npy, 100 classes, 5000 + 1000 samples, 3x32x32,
 * uint8 (--float: float32 in [0, 1]). cifar10 and cifar100 need 3x32x32.
 */
#include "fcl/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: fcl-gen-data -o DIR [--format npy|cifar10|cifar100|idx] [--classes C]\n"
	       "                    [--train N] [--test M] [--shape CxHxW] [--float] [--seed S]\n");
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Bytes to floats in [0, 1], as a float32 .npy would hold them. */
static int to_float(struct fcl_dataset *ds)
{
	size_t n = (size_t)ds->n * ds->dim;
	if (!(ds->xf = malloc(n * sizeof *ds->xf + 1)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ds->xf[i] = (float)ds->x[i] / 255.0f;
	free(ds->x);
	ds->x = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *fmt = "npy";
	uint32_t classes = 100, n_train = 5000, n_test = 1000, seed = 1;
	struct fcl_input_shape shape = {3, 32, 32};
	int as_float = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(a, "--float")) {
			as_float = 1;
			continue;
		}
		if (!v || (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(v ? stdout : stderr);
			return v ? 0 : 2;
		}
		if (!strcmp(a, "-o"))
			dir = v;
		else if (!strcmp(a, "--format"))
			fmt = v;
		else if (!strcmp(a, "--classes"))
			bad = parse_u32(v, 2, FCL_DATA_MAX_CLASSES, &classes);
		else if (!strcmp(a, "--train"))
			bad = parse_u32(v, 1, 10000000, &n_train);
		else if (!strcmp(a, "--test"))
			bad = parse_u32(v, 1, 10000000, &n_test);
		else if (!strcmp(a, "--seed"))
			bad = parse_u32(v, 0, UINT32_MAX, &seed);
		else if (!strcmp(a, "--shape"))
			bad = sscanf(v, "%ux%ux%u", &shape.c, &shape.h, &shape.w) != 3 ||
			      !shape.c || !shape.h || !shape.w ||
			      (uint64_t)shape.c * shape.h * shape.w > 1u << 20;
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "fcl-gen-data: bad argument %s %s\n", a, v);
			usage(stderr);
			return 2;
		}
		i++;
	}
	enum fcl_data_format format;
	if (!strcmp(fmt, "npy"))
		format = FCL_FORMAT_NPY;
	else if (!strcmp(fmt, "cifar10"))
		format = FCL_FORMAT_CIFAR10;
	else if (!strcmp(fmt, "cifar100"))
		format = FCL_FORMAT_CIFAR100;
	else if (!strcmp(fmt, "idx"))
		format = FCL_FORMAT_IDX;
	else {
		fprintf(stderr, "fcl-gen-data: unknown format %s\n", fmt);
		return 2;
	}
	uint32_t dim = shape.c * shape.h * shape.w;
	int cifar = format == FCL_FORMAT_CIFAR10 || format == FCL_FORMAT_CIFAR100;
	if (!dir || (cifar && (dim != 3072 || shape.c != 3 || shape.h != 32 || classes > 100 ||
			       (format == FCL_FORMAT_CIFAR10 && classes > 10)))) {
		fprintf(stderr, "fcl-gen-data: %s\n",
			!dir ? "-o DIR is required"
			     : "cifar10/cifar100 need --shape 3x32x32 and at most 10/100 classes");
		return 2;
	}
	if (as_float && format != FCL_FORMAT_NPY) {
		fprintf(stderr, "fcl-gen-data: --float needs --format npy\n");
		return 2;
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "fcl-gen-data: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int split = 0; split < 2; split++) {
		struct fcl_dataset ds;
		int rc = fcl_dataset_synthetic(&ds, split ? n_test : n_train, dim, classes, seed,
					       (uint32_t)split);
		if (!rc) {
			ds.shape = shape;
			rc = as_float ? to_float(&ds) : 0;
		}
		if (!rc)
			rc = fcl_dataset_save(&ds, format, dir, split);
		fcl_dataset_fini(&ds);
		if (rc) {
			fprintf(stderr, "fcl-gen-data: cannot write the %s split to %s: %s\n",
				split ? "test" : "training", dir, strerror(-rc));
			return 1;
		}
	}
	printf("%s: %s, %u classes, %u + %u samples of %ux%ux%u%s\n", dir, fmt, classes, n_train,
	       n_test, shape.c, shape.h, shape.w, as_float ? " (float32)" : "");
	return 0;
}
