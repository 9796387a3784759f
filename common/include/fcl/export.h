/* common/include/fcl/export.h - a model's parameters as .npy files, for Python
 *
 * A folder per exported model: one <tensor>.npy (float32, C order, the
 * tensor's shape) per parameter tensor and manifest.json naming each tensor,
 * its file, shape and offset in the flat parameter buffer. np.load on each
 * file (or the manifest) gives the tensors; docs/results.md shows how.
 */
#ifndef FCL_EXPORT_H
#define FCL_EXPORT_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/data.h"

#define FCL_TENSOR_MAX_DIMS 4
#define FCL_EXPORT_MAX_TENSORS 256

struct fcl_mlp;

/* One parameter tensor: a named view of the flat buffer. */
struct fcl_tensor_info {
	char name[48]; /* "dense0.weight"; also the file's name without .npy */
	uint32_t ndim;
	uint64_t shape[FCL_TENSOR_MAX_DIMS];
	size_t offset; /* into params */
	size_t count;  /* product of shape */
};

/* The model's parameter tensors in buffer order; returns how many there are
 * (writing at most max). This is the one place that knows a model's layout
 * by name: the MLP's layer l is dense<l>.weight (n_out, n_in), row-major as
 * nn.Linear keeps it, and dense<l>.bias (n_out). A model with other layers
 * lists its tensors here, and the export follows. */
size_t fcl_model_tensors(const struct fcl_mlp *m, struct fcl_tensor_info *out, size_t max);

/* What the manifest says besides the tensors. */
struct fcl_export_info {
	const char *scenario; /* its name */
	int64_t round;        /* the last round the model has seen */
	int64_t task;         /* the task that ended there; -1: the run's final model */
	struct fcl_input_shape input;
	uint32_t classes;
};

/* Writes dir (created, with its parents up to an existing one) holding one
 * .npy per tensor of m and manifest.json. 0 or -errno; err says which file. */
int fcl_export_model(const char *dir, const struct fcl_mlp *m, const struct fcl_export_info *info,
		     char *err, size_t errlen);

#endif
