/* common/src/strategy_er.c - fine-tuning, ER and ER-ACE */
#include "fcl/model.h"
#include "strategy-private.h"

#include <string.h>

/* Fine-tuning: masked CE on the stream batch. */
static double finetune_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl__batch *b)
{
	fcl_mlp_forward(m, b->x, b->n_new);
	if (b->exposed == s->all) {
		/* no mask: the model's own loss, bit for bit fcl_train_epochs */
		double l = fcl_mlp_loss(m, b->y, b->n_new);
		fcl_mlp_backward(m, b->y, b->n_new);
		return l;
	}
	memset(s->dz, 0, b->n_new * s->C * sizeof(float));
	double l = fcl__ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	fcl__backward(s, m, s->dz, NULL, b->n_new, NULL, NULL);
	return l;
}

/* ER as Si-Blurry runs it: one mean CE over the stream and replay rows together. */
static double er_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl__batch *b)
{
	size_t rows = b->n_new + b->n_rep;
	fcl_mlp_forward(m, b->x, rows);
	memset(s->dz, 0, rows * s->C * sizeof(float));
	double l = fcl__ce_rows(s, m, b->y, 0, rows, b->exposed, 1.0f);
	fcl__backward(s, m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

/* ER-ACE: the stream rows compete only among the classes of the stream batch
 * (asymmetric CE), the replay rows among all exposed classes. */
static double er_ace_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl__batch *b)
{
	size_t rows = b->n_new + b->n_rep;
	fcl_mlp_forward(m, b->x, rows);
	memset(s->dz, 0, rows * s->C * sizeof(float));
	double l = fcl__ce_rows(s, m, b->y, 0, b->n_new, b->present, 1.0f);
	l += fcl__ce_rows(s, m, b->y, b->n_new, b->n_rep, b->exposed, 1.0f);
	fcl__backward(s, m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

const struct fcl__strategy_ops fcl__finetune_ops = {.replay_draws = 0, .step = finetune_step};
const struct fcl__strategy_ops fcl__er_ops = {.replay_draws = 1, .step = er_step};
const struct fcl__strategy_ops fcl__er_ace_ops = {.replay_draws = 1, .step = er_ace_step};
