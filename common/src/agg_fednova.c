/* common/src/agg_fednova.c - FedNova (Wang et al. 2020) for plain local SGD:
 * with p_i = n_i / sum n and tau_i client i's local steps,
 *   step = tau_eff * sum_i p_i Delta_i / tau_i,   tau_eff = sum_i p_i tau_i,
 * computed as (tau_eff / sum n) * sum_i (n_i / tau_i) Delta_i: the sum is the
 * rule's fixed-point sum of updates with weights n_i / tau_i (sum_weight).
 * With equal step counts it is FedAvg. */
#include "fcl/rule.h"

static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)params;
	return (double)n_samples / (double)(local_steps ? local_steps : 1);
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	double total = 0.0, tau_eff = 0.0;
	for (size_t i = 0; i < n; i++)
		total += (double)u[i].n_samples;
	if (total <= 0.0)
		return 0;
	for (size_t i = 0; i < n; i++)
		tau_eff += (double)u[i].n_samples / total *
			   (double)(u[i].local_steps ? u[i].local_steps : 1);
	int rc = fcl_agg_sum(a, u, n);
	if (!rc)
		fcl_fixsum_to_float(&a->sum, tau_eff / total, a->delta);
	return rc;
}

const struct fcl_rule fcl_rule_fednova = {
    .name = "fednova",
    .summary = "FedNova: updates normalised by their local step counts",
    .sum_weight = sum_weight,
    .combine = combine,
};
