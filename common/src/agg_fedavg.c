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

static void defaults(void *params)
{
	((struct fedavg_params *)params)->weighted = 1;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct fedavg_params *p = a->params;
	fcl_agg_mean_delta(a, u, n, p->weighted);
	return 0;
}

const struct fcl_rule fcl_rule_fedavg = {
    .name = "fedavg",
    .summary = "FedAvg: the (sample-weighted) mean of the clients' updates",
    .keys = keys,
    .params_size = sizeof(struct fedavg_params),
    .defaults = defaults,
    .combine = combine,
};
