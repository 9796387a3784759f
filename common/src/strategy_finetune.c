/* common/src/strategy_finetune.c - fine-tuning: plain (masked) CE on the stream batch
 *
 * With exposure masking off this is the model's own softmax cross-entropy,
 * and a task-incremental round sets the logits outside its task's classes to
 * -1e30 first (one output layer, a head per task).
 */
#include "fcl/model.h"
#include "fcl/strategy_impl.h"

#include <string.h>

/* Masked classes get a logit so low that their probability, and so their
 * gradient, is exactly zero. Backward does not read the logits. */
static void mask_logits(struct fcl_mlp *m, const uint8_t *mask, size_t batch)
{
	uint32_t classes = m->sizes[m->n_layers];
	float *z = m->acts[m->n_layers];

	for (size_t k = 0; k < batch; k++)
		for (uint32_t c = 0; c < classes; c++)
			if (!mask[c])
				z[k * classes + c] = -1e30f;
}

static double finetune_step(struct fcl_strategy *s, struct fcl_mlp *m,
			    const struct fcl_strategy_batch *b)
{
	fcl_mlp_forward(m, b->x, b->n_new);
	if (b->exposed == s->all) {
		if (b->task_mask)
			mask_logits(m, b->task_mask, b->n_new);
		double l = fcl_mlp_loss(m, b->y, b->n_new);
		fcl_mlp_backward(m, b->y, b->n_new);
		return l;
	}
	memset(s->dz, 0, b->n_new * s->C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	fcl_mlp_backward_logits(m, s->dz, NULL, b->n_new, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {
    .replay_draws = 0, .step = finetune_step, .one_backward = 1};

const struct fcl_strategy_method fcl_strategy_finetune = {
    .name = "finetune",
    .summary = "plain SGD on the client's stream (the forgetting baseline)",
    .task_incremental = 1,
    .ops = &ops,
};
