/* common/src/agg_fednova.c - FedNova (Wang et al. 2020) for plain local SGD:
 * with p_i = n_i / sum n and tau_i client i's local steps,
 *   step = tau_eff * sum_i p_i Delta_i / tau_i,   tau_eff = sum_i p_i tau_i.
 * With equal step counts it is FedAvg. */
#include "fcl/rule.h"

#include <string.h>

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
	memset(a->acc, 0, a->n_params * sizeof *a->acc);
	for (size_t i = 0; i < n; i++) {
		double tau = u[i].local_steps ? u[i].local_steps : 1;
		double w = tau_eff * (double)u[i].n_samples / total / tau;
		for (size_t k = 0; k < a->n_params; k++)
			a->acc[k] += w * (double)u[i].delta[k];
	}
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = (float)a->acc[k];
	return 0;
}

const struct fcl_rule fcl_rule_fednova = {
    .name = "fednova",
    .summary = "FedNova: updates normalised by their local step counts",
    .combine = combine,
};
