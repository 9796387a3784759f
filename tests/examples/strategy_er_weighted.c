/* tests/examples/strategy_er_weighted.c - docs/extending.md, part 2: a new strategy.
 *
 * Experience replay with a weight on the replayed rows:
 *   L = CE(stream batch) + weight * CE(replayed samples),
 * each term a mean over its rows, over the classes the client has seen.
 * weight 1 with equal batch sizes is close to ER; weight 0 is fine-tuning
 * that still fills a buffer.
 */
#include "fcl/model.h"
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"

#include <math.h>
#include <string.h>

/* 1. The strategy's settings and keys (strategy.weight). */
struct erw_params {
	float weight;
};

static const struct fcl_key keys[] = {
    FCL_KEY_F32("weight", struct erw_params, weight, 0, 0, HUGE_VAL, 0,
		"weight of the replayed samples' cross-entropy"),
    {0},
};

static void defaults(void *params)
{
	((struct erw_params *)params)->weight = 0.5f;
}

/* 2. One SGD step's loss and gradient: fill m->grads (zeroed by the loop),
 * return the loss. Rows [0, n_new) are the stream batch, then n_rep replays. */
static double erw_step(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b)
{
	const struct erw_params *p = FCL_STRATEGY_PARAMS(s, struct erw_params);
	size_t rows = b->n_new + b->n_rep;

	fcl_mlp_forward(m, b->x, rows);
	memset(s->dz, 0, rows * s->C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	l += fcl_strategy_ce_rows(s, m, b->y, b->n_new, b->n_rep, b->exposed, p->weight);
	fcl_mlp_backward_logits(m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

/* 3. The loop's hooks (one replay draw per step) and the descriptor. */
static const struct fcl_strategy_ops ops = {.replay_draws = 1, .step = erw_step};

const struct fcl_strategy_method fcl_strategy_er_weighted = {
    .name = "er-weighted",
    .summary = "experience replay with a weight on the replayed samples",
    .keys = keys,
    .params_size = sizeof(struct erw_params),
    .defaults = defaults,
    .takes_memory = 1,
    .ops = &ops,
};
