/* common/src/agg_fedavg.c - FedAvg: sample-weighted or uniform mean of the updates
 * (also the server side of FedProx, whose proximal term lives in the client). */
#include "fcl/aggregate.h"

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	fcl_agg_mean(a, u, n, a->sc.aggregation.weighted);
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = (float)a->acc[k];
	return 0;
}

const struct fcl_agg_ops fcl_agg_fedavg_ops = {.name = "fedavg", .combine = combine};
