/* common/include/fcl/train.h - local training and evaluation loops */
#ifndef FCL_TRAIN_H
#define FCL_TRAIN_H
#include <stddef.h>
#include <stdint.h>

struct fcl_mlp;
struct fcl_sgd;
struct fcl_rng;
struct fcl_dataset;

struct fcl_train_scratch {
	size_t batch, dim;
	float *x;        /* (batch, dim) */
	int32_t *y;      /* (batch) */
	uint32_t *order; /* (capacity) sample order of the current epoch */
	size_t order_cap;
};

int fcl_train_scratch_init(struct fcl_train_scratch *t, size_t batch, size_t dim);
void fcl_train_scratch_fini(struct fcl_train_scratch *t);

/* Epochs of minibatch SGD over idx (n), reshuffled every epoch from rng.
 * The last partial batch is used. Returns 0 and the mean loss of the last
 * epoch in *loss, or -ENOMEM. */
int fcl_train_epochs(struct fcl_mlp *m, struct fcl_sgd *opt, struct fcl_train_scratch *t,
		     const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
		     const uint32_t *perm, uint32_t epochs, struct fcl_rng *rng, float *loss);

/* The same with the softmax restricted to classes c where mask[c] is set
 * (task-incremental training: a head per task over one output layer);
 * mask NULL = every class. Every label in idx must be in the mask. */
int fcl_train_epochs_masked(struct fcl_mlp *m, struct fcl_sgd *opt, struct fcl_train_scratch *t,
			    const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
			    const uint32_t *perm, const uint8_t *mask, uint32_t epochs,
			    struct fcl_rng *rng, float *loss);

/* Top-1 accuracy over idx (n); 0 when n == 0. */
double fcl_evaluate(struct fcl_mlp *m, struct fcl_train_scratch *t, const struct fcl_dataset *ds,
		    const uint32_t *idx, size_t n, const uint32_t *perm);

/* The same with the argmax restricted to classes c where mask[c] is set
 * (task-incremental evaluation); mask NULL = every class. */
double fcl_evaluate_masked(struct fcl_mlp *m, struct fcl_train_scratch *t,
			   const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
			   const uint32_t *perm, const uint8_t *mask);

#endif
