/* common/src/train.c - minibatch SGD epochs and top-1 evaluation */
#include "fcl/train.h"

#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fcl_train_scratch_init(struct fcl_train_scratch *t, size_t batch, size_t dim)
{
	memset(t, 0, sizeof *t);
	t->batch = batch;
	t->dim = dim;
	t->x = aligned_alloc(64, ((batch * dim * sizeof(float)) + 63) & ~(size_t)63);
	t->y = malloc(batch * sizeof *t->y);
	if (!t->x || !t->y) {
		fcl_train_scratch_fini(t);
		return -ENOMEM;
	}
	return 0;
}

void fcl_train_scratch_fini(struct fcl_train_scratch *t)
{
	free(t->x);
	free(t->y);
	free(t->order);
	memset(t, 0, sizeof *t);
}

static int reserve_order(struct fcl_train_scratch *t, size_t n)
{
	if (n <= t->order_cap)
		return 0;
	uint32_t *p = realloc(t->order, n * sizeof *p);
	if (!p)
		return -ENOMEM;
	t->order = p;
	t->order_cap = n;
	return 0;
}

int fcl_train_epochs(struct fcl_mlp *m, struct fcl_sgd *opt, struct fcl_train_scratch *t,
		     const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
		     const uint32_t *perm, uint32_t epochs, struct fcl_rng *rng, float *loss)
{
	return fcl_train_epochs_masked(m, opt, t, ds, idx, n, perm, NULL, epochs, rng, loss);
}

/* Masked classes get a logit so low that their probability, and so their
 * gradient, is exactly zero. The logits are outputs only; backward does not
 * read them. */
static void mask_logits(struct fcl_mlp *m, const uint8_t *mask, size_t batch)
{
	uint32_t classes = m->sizes[m->n_layers];
	float *z = m->acts[m->n_layers];

	for (size_t k = 0; k < batch; k++)
		for (uint32_t c = 0; c < classes; c++)
			if (!mask[c])
				z[k * classes + c] = -1e30f;
}

int fcl_train_epochs_masked(struct fcl_mlp *m, struct fcl_sgd *opt, struct fcl_train_scratch *t,
			    const struct fcl_dataset *ds, const uint32_t *idx, size_t n,
			    const uint32_t *perm, const uint8_t *mask, uint32_t epochs,
			    struct fcl_rng *rng, float *loss)
{
	int rc = reserve_order(t, n);
	*loss = 0.0f;
	if (rc || n == 0)
		return rc;
	for (uint32_t e = 0; e < epochs; e++) {
		double sum = 0.0;
		memcpy(t->order, idx, n * sizeof *idx);
		fcl_rng_shuffle_u32(rng, t->order, n);
		for (size_t i = 0; i < n; i += t->batch) {
			size_t b = n - i < t->batch ? n - i : t->batch;
			fcl_dataset_gather(ds, t->order + i, b, perm, t->x, t->y);
			fcl_mlp_forward(m, t->x, b);
			if (mask)
				mask_logits(m, mask, b);
			sum += (double)fcl_mlp_loss(m, t->y, b) * (double)b;
			fcl_mlp_zero_grad(m);
			fcl_mlp_backward(m, t->y, b);
			if ((rc = fcl_sgd_step(opt, m->params, m->grads, m->n_params)) != 0)
				return rc;
		}
		*loss = (float)(sum / (double)n);
	}
	return 0;
}

double fcl_evaluate(struct fcl_mlp *m, struct fcl_train_scratch *t, const struct fcl_dataset *ds,
		    const uint32_t *idx, size_t n, const uint32_t *perm)
{
	return fcl_evaluate_masked(m, t, ds, idx, n, perm, NULL);
}

double fcl_evaluate_masked(struct fcl_mlp *m, struct fcl_train_scratch *t,
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
