/* common/src/agg_fedavg.c - FedAvg (McMahan et al. 2017): the sample-weighted or
 * uniform mean of the updates. */
#include "fcl/rule.h"

struct fedavg_params {
	int weighted; /* aggregation.weighting: samples (1) or uniform (0) */
};

static const struct fcl_key keys[] = {
    FCL_KEY_CHOICE("weighting", struct fedavg_params, weighted, fcl_agg_weightings,
		   "weight each update by its samples, or uniformly"),
    {0},
};

/* w_i in the sum of updates: samples or 1 (fcl/rule.h) */
static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)local_steps;
	return ((const struct fedavg_params *)params)->weighted ? (double)n_samples : 1.0;
}

static void defaults(void *params)
{
	((struct fedavg_params *)params)->weighted = 1;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct fedavg_params *p = a->params;
	return fcl_agg_mean_delta(a, u, n, p->weighted);
}

const struct fcl_rule fcl_rule_fedavg = {
    .name = "fedavg",
    .summary = "FedAvg: the (sample-weighted) mean of the clients' updates",
    .keys = keys,
    .params_size = sizeof(struct fedavg_params),
    .defaults = defaults,
    .sum_weight = sum_weight,
    .combine = combine,
};
