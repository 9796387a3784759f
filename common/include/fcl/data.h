/* common/include/fcl/data.h - labelled image data sets
 *
 * Pixels stay as bytes (n, dim) and become floats in [0, 1] only when a
 * batch is gathered, so each process holds Fashion-MNIST in 47 MB, not 188.
 */
#ifndef FCL_DATA_H
#define FCL_DATA_H
#include <stddef.h>
#include <stdint.h>

/* One sample's shape, channels x height x width (C, H, W order in memory):
 * IDX images are 1 x rows x cols, synthetic samples 1 x 1 x dim. Models take
 * their input shape from here (fcl/arch.h). Added for issue 11's models; the
 * data formats of the same issue fill it for their files. */
struct fcl_input_shape {
	uint32_t c, h, w;
};

struct fcl_dataset {
	uint32_t n;         /* samples */
	uint32_t dim;       /* features per sample (c * h * w) */
	struct fcl_input_shape shape;
	uint32_t n_classes; /* labels are 0 .. n_classes-1 */
	uint8_t *x;         /* (n, dim) owned */
	uint8_t *y;         /* (n) owned */
};

/* Reads an IDX image file (magic 0x803) and label file (0x801), gzip or plain.
 * Returns 0, -ENOENT, -EIO, -EPROTO (bad magic or mismatched counts) or -ENOMEM;
 * err gets a readable reason. */
int fcl_dataset_load_idx(struct fcl_dataset *ds, const char *images_path, const char *labels_path,
			 char *err, size_t errlen);
/* Writes an IDX pair (gzip when the path ends in .gz); for tests and tools. */
int fcl_dataset_save_idx(const struct fcl_dataset *ds, const char *images_path,
			 const char *labels_path);
/* Gaussian class clusters quantised to bytes: reproducible from seed. */
int fcl_dataset_synthetic(struct fcl_dataset *ds, uint32_t n, uint32_t dim, uint32_t n_classes,
			  uint64_t seed, uint32_t split);
void fcl_dataset_fini(struct fcl_dataset *ds);

/* Gathers samples idx[0..batch) into x (batch, dim) as floats in [0, 1] and
 * their labels into y (batch). perm (dim) permutes the pixels when not NULL:
 * x[i][k] = pixel[perm[k]]. */
void fcl_dataset_gather(const struct fcl_dataset *ds, const uint32_t *idx, size_t batch,
			const uint32_t *perm, float *x, int32_t *y);

#endif
