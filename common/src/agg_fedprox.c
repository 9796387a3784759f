/* common/src/agg_fedprox.c - FedProx (Li et al. 2020): FedAvg on the server;
 * every client adds the proximal term (mu/2)|w - w_global|^2 to its local
 * loss, i.e. mu (w - w_global) to every gradient, through the optimiser's
 * gradient hook. */
#include "fcl/rule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct fedprox_params {
	int weighted;
	float mu;
};

static const struct fcl_key keys[] = {
    FCL_KEY_CHOICE("weighting", struct fedprox_params, weighted, fcl_agg_weightings,
		   "weight each update by its samples, or uniformly"),
    FCL_KEY_F32("mu", struct fedprox_params, mu, 0, 0, HUGE_VAL, 0,
		"proximal weight: clients add (mu/2)|w - w_global|^2"),
    {0},
};

/* w_i in the sum of updates: samples or 1 (fcl/rule.h) */
static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)local_steps;
	return ((const struct fedprox_params *)params)->weighted ? (double)n_samples : 1.0;
}

static void defaults(void *params)
{
	*(struct fedprox_params *)params = (struct fedprox_params){.weighted = 1, .mu = 0.01f};
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct fedprox_params *p = a->params;
	return fcl_agg_mean_delta(a, u, n, p->weighted);
}

/* client: the hook's context, one per process */
struct prox {
	float mu;
	const float *anchor; /* the round's global parameters */
};

static void prox_hook(void *ctx, const float *params, float *g, size_t n)
{
	const struct prox *x = ctx;
	for (size_t i = 0; i < n; i++)
		g[i] += x->mu * (params[i] - x->anchor[i]);
}

static int worker_init(struct fcl_rule_worker *w)
{
	struct prox *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->mu = ((const struct fedprox_params *)(const void *)w->sc->aggregation.params)->mu;
	w->state = x;
	return 0;
}

static void worker_fini(struct fcl_rule_worker *w)
{
	free(w->state);
}

static int before_train(struct fcl_rule_worker *w, struct fcl_local_round *lr)
{
	struct prox *x = w->state;
	x->anchor = lr->global;
	lr->opt->grad_hook = prox_hook;
	lr->opt->hook_ctx = x;
	return 0;
}

const struct fcl_rule fcl_rule_fedprox = {
    .name = "fedprox",
    .summary = "FedProx: FedAvg, clients pulled towards the global model by (mu/2)|w - w_g|^2",
    .keys = keys,
    .params_size = sizeof(struct fedprox_params),
    .defaults = defaults,
    .sum_weight = sum_weight,
    .combine = combine,
    .worker_init = worker_init,
    .worker_fini = worker_fini,
    .before_train = before_train,
};
