/* common/src/agg_fedopt.c - server optimisers on the mean update (Reddi et al. 2021;
 * Hsu et al. 2019). The sample-weighted (or uniform) mean Delta is a negative
 * pseudo-gradient; with eta = server_lr:
 *   fedavgm:  v <- beta1 v + Delta;                                     step = eta v
 *   fedadam:  m <- beta1 m + (1-beta1) Delta; v <- beta2 v + (1-beta2) Delta^2
 *   fedyogi:  m as adam; v <- v - (1-beta2) Delta^2 sign(v - Delta^2)
 *             step = eta m / (sqrt(v) + tau)     (no bias correction, as the paper) */
#include "fcl/rule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct fedopt_params {
	int weighted;
	float server_lr, beta1, beta2, tau;
};

#define P_ struct fedopt_params
#define WEIGHTING                                                                                  \
	FCL_KEY_CHOICE("weighting", P_, weighted, fcl_agg_weightings,                              \
		       "weight each update by its samples, or uniformly")
#define SERVER_LR FCL_KEY_F32("server_lr", P_, server_lr, 0, FCL_OPEN, HUGE_VAL, 0, "eta")
#define BETA1 FCL_KEY_F32("beta1", P_, beta1, 0, 0, 1, FCL_OPEN, "first-moment (momentum) decay")
static const struct fcl_key momentum_keys[] = {WEIGHTING, SERVER_LR, BETA1, {0}};
static const struct fcl_key adaptive_keys[] = {
    WEIGHTING,
    SERVER_LR,
    BETA1,
    FCL_KEY_F32("beta2", P_, beta2, 0, 0, 1, FCL_OPEN, "second-moment decay"),
    FCL_KEY_F32("tau", P_, tau, 0, FCL_OPEN, HUGE_VAL, 0, "adaptivity tau"),
    {0},
};
#undef P_

/* w_i in the sum of updates: samples or 1 (fcl/rule.h) */
static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)local_steps;
	return ((const struct fedopt_params *)params)->weighted ? (double)n_samples : 1.0;
}

static void defaults(void *params)
{
	*(struct fedopt_params *)params = (struct fedopt_params){
	    .weighted = 1, .server_lr = 1.0f, .beta1 = 0.9f, .beta2 = 0.99f, .tau = 1e-3f};
}

extern const struct fcl_rule fcl_rule_fedavgm, fcl_rule_fedadam;

struct opt_state {
	float *m, *v; /* (n_params) each */
};

static int init(struct fcl_agg *a)
{
	struct opt_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	a->state = st;
	st->m = calloc(a->n_params, sizeof *st->m);
	st->v = calloc(a->n_params, sizeof *st->v);
	return st->m && st->v ? 0 : -ENOMEM;
}

static void fini(struct fcl_agg *a)
{
	struct opt_state *st = a->state;
	if (!st)
		return;
	free(st->m);
	free(st->v);
	free(st);
	a->state = NULL;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	struct opt_state *st = a->state;
	const struct fedopt_params *p = a->params;
	float eta = p->server_lr, b1 = p->beta1, b2 = p->beta2, tau = p->tau;
	int momentum = a->rule == &fcl_rule_fedavgm, adam = a->rule == &fcl_rule_fedadam;

	int rc = fcl_agg_mean(a, u, n, p->weighted);
	if (rc)
		return rc;
	for (size_t k = 0; k < a->n_params; k++) {
		float g = (float)a->acc[k], g2 = g * g;
		if (momentum) {
			st->m[k] = b1 * st->m[k] + g;
			a->delta[k] = eta * st->m[k];
			continue;
		}
		if (adam)
			st->v[k] = b2 * st->v[k] + (1.0f - b2) * g2;
		else /* yogi */
			st->v[k] -= (1.0f - b2) * g2 *
				    (st->v[k] > g2   ? 1.0f
				     : st->v[k] < g2 ? -1.0f
						     : 0.0f);
		st->m[k] = b1 * st->m[k] + (1.0f - b1) * g;
		a->delta[k] = eta * st->m[k] / (sqrtf(st->v[k]) + tau);
	}
	return 0;
}

static int save(const struct fcl_agg *a, FILE *f)
{
	const struct opt_state *st = a->state;
	size_t n = a->n_params;
	return fwrite(st->m, sizeof(float), n, f) == n && fwrite(st->v, sizeof(float), n, f) == n
		   ? 0
		   : -EIO;
}

static int load(struct fcl_agg *a, FILE *f)
{
	struct opt_state *st = a->state;
	size_t n = a->n_params;
	return fread(st->m, sizeof(float), n, f) == n && fread(st->v, sizeof(float), n, f) == n
		   ? 0
		   : -EIO;
}

#define FEDOPT(id, label, tab, text)                                                               \
	const struct fcl_rule fcl_rule_##id = {.name = (label),                                    \
					       .summary = (text),                                  \
					       .keys = (tab),                                      \
					       .params_size = sizeof(struct fedopt_params),        \
					       .defaults = defaults,                               \
					       .sum_weight = sum_weight,                           \
					       .init = init,                                       \
					       .fini = fini,                                       \
					       .combine = combine,                                 \
					       .save = save,                                       \
					       .load = load}
FEDOPT(fedavgm, "fedavgm", momentum_keys, "FedAvgM: server momentum on the mean update");
FEDOPT(fedadam, "fedadam", adaptive_keys, "FedAdam: server Adam on the mean update");
FEDOPT(fedyogi, "fedyogi", adaptive_keys, "FedYogi: server Yogi on the mean update");
