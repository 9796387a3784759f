/* common/src/strategy_er.c - experience replay as Si-Blurry runs it: one mean CE
 * over the stream and replay rows together. */
#include "fcl/model.h"
#include "fcl/strategy_impl.h"

#include <string.h>

static double er_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl_strategy_batch *b)
{
	size_t rows = b->n_new + b->n_rep;
	fcl_mlp_forward(m, b->x, rows);
	memset(s->dz, 0, rows * s->C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, rows, b->exposed, 1.0f);
	fcl_mlp_backward_logits(m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {
    .replay_draws = 1, .step = er_step, .one_backward = 1};

const struct fcl_strategy_method fcl_strategy_er = {
    .name = "er",
    .summary = "experience replay: a reservoir buffer replayed with every step",
    .takes_memory = 1,
    .ops = &ops,
};
