/* common/src/agg_fedopt.c - server optimisers on the mean update (Reddi et al. 2021;
 * Hsu et al. 2019). The sample-weighted (or uniform) mean Delta is a negative
 * pseudo-gradient; with eta = server_lr:
 *   fedavgm:  v <- beta1 v + Delta;                                     step = eta v
 *   fedadam:  m <- beta1 m + (1-beta1) Delta; v <- beta2 v + (1-beta2) Delta^2
 *   fedyogi:  m as adam; v <- v - (1-beta2) Delta^2 sign(v - Delta^2)
 *             step = eta m / (sqrt(v) + tau)     (no bias correction, as the paper) */
#include "fcl/aggregate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

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
	float eta = a->sc.aggregation.server_lr, b1 = a->sc.aggregation.beta1;
	float b2 = a->sc.aggregation.beta2, tau = a->sc.aggregation.tau;

	fcl_agg_mean(a, u, n, a->sc.aggregation.weighted);
	for (size_t k = 0; k < a->n_params; k++) {
		float g = (float)a->acc[k], g2 = g * g;
		switch (a->rule) {
		case FCL_RULE_FEDAVGM:
			st->m[k] = b1 * st->m[k] + g;
			a->delta[k] = eta * st->m[k];
			continue;
		case FCL_RULE_FEDADAM:
			st->v[k] = b2 * st->v[k] + (1.0f - b2) * g2;
			break;
		default: /* yogi */
			st->v[k] -= (1.0f - b2) * g2 *
				    (st->v[k] > g2   ? 1.0f
				     : st->v[k] < g2 ? -1.0f
						     : 0.0f);
			break;
		}
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

const struct fcl_agg_ops fcl_agg_fedopt_ops = {
    .name = "fedopt", .init = init, .fini = fini, .combine = combine, .save = save, .load = load};
