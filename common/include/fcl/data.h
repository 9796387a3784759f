/* common/include/fcl/data.h - labelled image data sets and their file formats
 *
 * Byte pixels stay as bytes (n, dim) and become floats in [0, 1] only when a
 * batch is gathered, so each process holds Fashion-MNIST in 47 MB, not 188;
 * float32 data (a float .npy) is kept as stored. Every loader checks its
 * files' sizes and labels and names the file and record that is wrong.
 */
#ifndef FCL_DATA_H
#define FCL_DATA_H
#include <stddef.h>
#include <stdint.h>

#define FCL_DATA_MAX_CLASSES 256 /* labels are stored as bytes */

/* A sample's layout, channels first as stored (CIFAR, NCHW .npy); c * h * w
 * is the dataset's dim. Flat data (an N x D .npy) is (1, 1, D). A model with
 * convolutions reads it; the MLP only needs the product. */
struct fcl_input_shape {
	uint32_t c, h, w;
};

/* The floats of one sample of shape s (c * h * w). */
static inline size_t fcl_shape_floats(struct fcl_input_shape s)
{
	return (size_t)s.c * s.h * s.w;
}

struct fcl_dataset {
	uint32_t n;         /* samples */
	uint32_t n_file;    /* samples the files held when data.*_limit kept fewer, else 0 */
	uint32_t dim;       /* features per sample (c * h * w) */
	uint32_t n_classes; /* labels are 0 .. n_classes-1 */
	struct fcl_input_shape shape;
	uint8_t *x; /* (n, dim) owned bytes, gathered as x / 255; NULL when xf is set */
	float *xf;  /* (n, dim) owned floats, gathered as they are (float32 .npy) */
	uint8_t *y; /* (n) owned */
	/* per-feature normalisation applied by gather, x * scale[k] + shift[k]
	 * (bytes: scale includes 1/255); NULL: none. (2 * dim) owned */
	float *norm;
	/* training split with data.augment: crop-flip; fcl_dataset_augment acts */
	int augment;
};

enum fcl_data_format {
	FCL_FORMAT_IDX,      /* train-images-idx3-ubyte[.gz] ... t10k-labels-idx1-ubyte[.gz] */
	FCL_FORMAT_CIFAR10,  /* data_batch_1..5.bin, test_batch.bin */
	FCL_FORMAT_CIFAR100, /* train.bin, test.bin (coarse and fine label bytes) */
	FCL_FORMAT_NPY,      /* X_train.npy, y_train.npy, X_test.npy, y_test.npy */
};

/* Where a split comes from and how many classes its labels may name. */
struct fcl_data_source {
	enum fcl_data_format format;
	const char *path; /* the folder */
	uint32_t classes; /* labels must be below this; 0: detect (max label + 1) */
	int coarse;       /* cifar100: the 20 coarse labels instead of the 100 fine ones */
};

/* Loads split 0 (train) or 1 (test) from src. Labels at or above src->classes
 * (when not 0) are refused, naming the file and record. Returns 0, -ENOENT,
 * -EIO, -EPROTO (malformed) or -ENOMEM; err gets "FILE: what is wrong". */
int fcl_dataset_load(struct fcl_dataset *ds, const struct fcl_data_source *src, int split,
		     char *err, size_t errlen);
/* The class count detected from src's training labels (max label + 1),
 * reading only the label file(s). Same errors as fcl_dataset_load. */
int fcl_dataset_detect_classes(const struct fcl_data_source *src, uint32_t *classes, char *err,
			       size_t errlen);
const char *fcl_data_format_name(enum fcl_data_format f);

/* Reads an IDX image file (magic 0x803, or 0x804 with channels) and label
 * file (0x801), gzip or plain. Returns 0, -ENOENT, -EIO, -EPROTO (bad magic
 * or mismatched counts) or -ENOMEM; err gets a readable reason. n_classes is
 * max label + 1. */
int fcl_dataset_load_idx(struct fcl_dataset *ds, const char *images_path, const char *labels_path,
			 char *err, size_t errlen);
/* Writes an IDX pair (gzip when the path ends in .gz); for tests and tools. */
int fcl_dataset_save_idx(const struct fcl_dataset *ds, const char *images_path,
			 const char *labels_path);
/* Writes ds in the official binary layout of format into folder dir (the
 * train split as data_batch_1..5.bin or train.bin, the test split as
 * test_batch.bin or test.bin; cifar100's coarse label is fine / 5), or as
 * X_<split>.npy / y_<split>.npy (uint8 or float32 images NCHW, int64 labels).
 * For tests and fcl-gen-data. */
int fcl_dataset_save(const struct fcl_dataset *ds, enum fcl_data_format format, const char *dir,
		     int split);
/* Refuses a label at or above classes: "FILE: record I has label L, ...". */
int fcl_dataset_check_labels(const struct fcl_dataset *ds, uint32_t classes, const char *file,
			     char *err, size_t errlen);

/* Normalises what gather returns, per channel: (x - mean[c]) / std[c], x
 * the pixel in [0, 1] (bytes) or as stored (floats). n_values is 1 (every
 * channel) or ds->shape.c. 0, -EINVAL (err says why) or -ENOMEM. */
int fcl_dataset_normalize(struct fcl_dataset *ds, const float *mean, const float *std,
			  uint32_t n_values, char *err, size_t errlen);

struct fcl_rng;
#define FCL_AUGMENT_PAD 4 /* random crops shift by up to this many pixels each way */
/* With ds->augment (else nothing): each gathered sample x (batch, dim), as
 * images of ds->shape, is shifted by a random (dy, dx) in [-4, 4]^2 with the
 * uncovered border set to a black pixel (0, normalised like the rest): a
 * random crop of the image zero-padded by 4, as RandomCrop(H, padding=4);
 * then flipped left-right with probability 1/2. Three draws per sample from
 * rng, in batch order. */
void fcl_dataset_augment(const struct fcl_dataset *ds, float *x, size_t batch, struct fcl_rng *rng);

/* Gaussian class clusters quantised to bytes: reproducible from seed. */
int fcl_dataset_synthetic(struct fcl_dataset *ds, uint32_t n, uint32_t dim, uint32_t n_classes,
			  uint64_t seed, uint32_t split);
void fcl_dataset_fini(struct fcl_dataset *ds);

/* Gathers samples idx[0..batch) into x (batch, dim) as floats (bytes in
 * [0, 1]) and their labels into y (batch). perm (dim) permutes the pixels
 * when not NULL: x[i][k] = pixel[perm[k]]. */
void fcl_dataset_gather(const struct fcl_dataset *ds, const uint32_t *idx, size_t batch,
			const uint32_t *perm, float *x, int32_t *y);

#endif
