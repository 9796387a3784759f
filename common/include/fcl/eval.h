/* common/include/fcl/eval.h - top-1 evaluation of a model over a sample list */
#ifndef FCL_EVAL_H
#define FCL_EVAL_H
#include <stddef.h>
#include <stdint.h>

struct fcl_mlp;
struct fcl_dataset;

/* Gathered batches of samples. */
struct fcl_eval_scratch {
	size_t batch, dim;
	float *x;   /* (batch, dim) */
	int32_t *y; /* (batch) */
};

int fcl_eval_scratch_init(struct fcl_eval_scratch *t, size_t batch, size_t dim);
void fcl_eval_scratch_fini(struct fcl_eval_scratch *t);

/* Top-1 accuracy over idx (n); 0 when n == 0. */
double fcl_evaluate(struct fcl_mlp *m, struct fcl_eval_scratch *t, const struct fcl_dataset *ds,
		    const uint32_t *idx, size_t n, const uint32_t *perm);

/* The same with the argmax restricted to classes c where mask[c] is set
 * (task-incremental evaluation); mask NULL = every class. */
double fcl_evaluate_masked(struct fcl_mlp *m, struct fcl_eval_scratch *t,
			   const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
			   const uint32_t *perm, const uint8_t *mask);

#endif
