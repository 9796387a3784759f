/* tests/examples/agg_fedavg_slr.c - docs/extending.md, part 1: a new aggregation rule.
 *
 * FedAvg with a server learning rate: the global model moves by eta times
 * the (sample-weighted) mean update, x += eta * mean(Delta). eta = 1 is FedAvg.
 */
#include "fcl/rule.h"

#include <math.h>

/* 1. The rule's settings: its own struct, and the keys that fill it. */
struct slr_params {
	int weighted;    /* aggregation.weighting: samples (1) or uniform (0) */
	float server_lr; /* aggregation.server_lr: eta */
};

static const struct fcl_key keys[] = {
    FCL_KEY_CHOICE("weighting", struct slr_params, weighted, fcl_agg_weightings,
		   "weight each update by its samples, or uniformly"),
    FCL_KEY_F32("server_lr", struct slr_params, server_lr, 0, FCL_OPEN, HUGE_VAL, 0,
		"eta: the global model moves by eta times the mean update"),
    {0},
};

static void defaults(void *params)
{
	*(struct slr_params *)params = (struct slr_params){.weighted = 1, .server_lr = 1.0f};
}

/* 2. The server half: the change of the global parameters, into a->delta. */
static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct slr_params *p = a->params;
	fcl_agg_mean(a, u, n, p->weighted); /* a->acc: the mean, in doubles */
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = (float)(p->server_lr * a->acc[k]);
	return 0;
}

/* 3. The descriptor: listed in common/src/registry.c for a built-in rule. */
const struct fcl_rule fcl_rule_fedavg_slr = {
    .name = "fedavg-slr",
    .summary = "FedAvg with a server learning rate",
    .keys = keys,
    .params_size = sizeof(struct slr_params),
    .defaults = defaults,
    .combine = combine,
};
