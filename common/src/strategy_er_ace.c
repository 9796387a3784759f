/* common/src/strategy_er_ace.c - ER-ACE (Caccia et al., 2022): the stream rows
 * compete only among the classes of the stream batch (asymmetric CE), the
 * replay rows among all exposed classes. */
#include "fcl/model.h"
#include "fcl/strategy_impl.h"

#include <string.h>

static double er_ace_step(struct fcl_strategy *s, struct fcl_mlp *m,
			  const struct fcl_strategy_batch *b)
{
	size_t rows = b->n_new + b->n_rep;
	fcl_mlp_forward(m, b->x, rows);
	memset(s->dz, 0, rows * s->C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, b->n_new, b->present, 1.0f);
	l += fcl_strategy_ce_rows(s, m, b->y, b->n_new, b->n_rep, b->exposed, 1.0f);
	fcl_mlp_backward_logits(m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {
    .replay_draws = 1, .step = er_ace_step, .one_backward = 1};

const struct fcl_strategy_method fcl_strategy_er_ace = {
    .name = "er-ace",
    .summary = "experience replay with asymmetric cross-entropy",
    .takes_memory = 1,
    .ops = &ops,
};
