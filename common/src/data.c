/* common/src/data.c - IDX (MNIST-format) reader and writer, synthetic data */
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
	unsigned char hdr[16];
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
		total *= dims[d];
	}
	if (total == 0 || total > ((size_t)1 << 32)) {
		snprintf(err, errlen, "%s: implausible IDX size", path);
		rc = -EPROTO;
		goto out;
	}
	*out = malloc(total);
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < total) {
		unsigned chunk = total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
		int n = gzread(f, *out + got, chunk);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != total) {
		snprintf(err, errlen, "%s: truncated IDX data (%zu of %zu bytes)", path, got,
			 total);
		free(*out);
		*out = NULL;
		rc = -EIO;
		goto out;
	}
	*count = dims[0];
out:
	gzclose(f);
	return rc;
}

int fcl_dataset_load_idx(struct fcl_dataset *ds, const char *images_path, const char *labels_path,
			 char *err, size_t errlen)
{
	uint32_t idims[3], ldims[1];
	size_t ni = 0, nl = 0;
	uint8_t *x = NULL, *y = NULL;
	int rc;

	memset(ds, 0, sizeof *ds);
	rc = read_idx(images_path, 0x00000803, idims, 3, &x, &ni, err, errlen);
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
	ds->dim = idims[1] * idims[2];
	ds->shape = (struct fcl_input_shape){1, idims[1], idims[2]};
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

static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
		     const uint8_t *data, size_t n)
{
	size_t len = strlen(path);
	int gz = len > 3 && strcmp(path + len - 3, ".gz") == 0;
	gzFile f = gzopen(path, gz ? "wb6" : "wbT");
	unsigned char hdr[16];
	int rc = 0;

	if (!f)
		return -errno ? -errno : -EIO;
	uint32_t words[4] = {magic, dims[0], ndims > 1 ? dims[1] : 0, ndims > 2 ? dims[2] : 0};
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
	/* IDX wants rows x cols; a non-square dim is written as 1 x dim. */
	uint32_t side = 1;
	while ((side + 1) * (side + 1) <= ds->dim)
		side++;
	uint32_t idims[3] = {ds->n, side * side == ds->dim ? side : 1,
			     side * side == ds->dim ? side : ds->dim};
	int rc = write_idx(images_path, 0x00000803, idims, 3, ds->x, (size_t)ds->n * ds->dim);
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
	free(ds->y);
	memset(ds, 0, sizeof *ds);
}

void fcl_dataset_gather(const struct fcl_dataset *ds, const uint32_t *idx, size_t batch,
			const uint32_t *perm, float *x, int32_t *y)
{
	const float scale = 1.0f / 255.0f;
	for (size_t i = 0; i < batch; i++) {
		const uint8_t *src = ds->x + (size_t)idx[i] * ds->dim;
		float *dst = x + i * ds->dim;
		if (perm)
			for (uint32_t k = 0; k < ds->dim; k++)
				dst[k] = (float)src[perm[k]] * scale;
		else
			for (uint32_t k = 0; k < ds->dim; k++)
				dst[k] = (float)src[k] * scale;
		y[i] = ds->y[idx[i]];
	}
}
