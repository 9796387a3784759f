/* common/src/eval.c - top-1 evaluation of a model over a sample list */
#include "fcl/eval.h"

#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fcl_eval_scratch_init(struct fcl_eval_scratch *t, size_t batch, size_t dim)
{
	memset(t, 0, sizeof *t);
	t->batch = batch;
	t->dim = dim;
	t->x = fcl_alloc_floats(batch * dim);
	t->y = malloc(batch * sizeof *t->y);
	if (!t->x || !t->y) {
		fcl_eval_scratch_fini(t);
		return -ENOMEM;
	}
	return 0;
}

void fcl_eval_scratch_fini(struct fcl_eval_scratch *t)
{
	free(t->x);
	free(t->y);
	memset(t, 0, sizeof *t);
}

double fcl_evaluate(struct fcl_mlp *m, struct fcl_eval_scratch *t, const struct fcl_dataset *ds,
		    const uint32_t *idx, size_t n, const uint32_t *perm)
{
	return fcl_evaluate_masked(m, t, ds, idx, n, perm, NULL);
}

double fcl_evaluate_masked(struct fcl_mlp *m, struct fcl_eval_scratch *t,
			   const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
			   const uint32_t *perm, const uint8_t *mask)
{
	size_t correct = 0;
	uint32_t classes = m->sizes[m->n_layers];

	if (n == 0)
		return 0.0;
	for (size_t i = 0; i < n; i += t->batch) {
		size_t b = n - i < t->batch ? n - i : t->batch;
		fcl_dataset_gather(ds, idx + i, b, perm, t->x, t->y);
		const float *logits = fcl_mlp_forward(m, t->x, b);
		for (size_t k = 0; k < b; k++) {
			const float *z = logits + k * classes;
			uint32_t best = UINT32_MAX;
			for (uint32_t c = 0; c < classes; c++)
				if ((!mask || mask[c]) && (best == UINT32_MAX || z[c] > z[best]))
					best = c;
			correct += (int32_t)best == t->y[k];
		}
	}
	return (double)correct / (double)n;
}
