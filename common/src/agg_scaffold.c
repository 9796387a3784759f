/* common/src/agg_scaffold.c - SCAFFOLD (Karimireddy et al. 2020), option II.
 * Clients correct every local gradient by c - c_i, then return Delta y_i and
 * Delta c_i = c_i+ - c_i with c_i+ = c_i - c + (x - y_i) / (K lr). The server:
 *   x += server_lr * mean(Delta y)     (weighted as aggregation.weighting)
 *   c += (|S| / N) * mean(Delta c)     (uniform over the round's S of N clients) */
#include "fcl/aggregate.h"

#include <errno.h>
#include <stdlib.h>

struct scaffold_state {
	float *c; /* (n_params) */
};

static int init(struct fcl_agg *a)
{
	struct scaffold_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	a->state = st;
	st->c = calloc(a->n_params, sizeof *st->c);
	return st->c ? 0 : -ENOMEM;
}

static void fini(struct fcl_agg *a)
{
	struct scaffold_state *st = a->state;
	if (!st)
		return;
	free(st->c);
	free(st);
	a->state = NULL;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	struct scaffold_state *st = a->state;
	float eta = a->sc.aggregation.server_lr;
	for (size_t i = 0; i < n; i++)
		if (!u[i].control_delta)
			return -EPROTO;
	fcl_agg_mean(a, u, n, a->sc.aggregation.weighted);
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = eta * (float)a->acc[k];
	double share = (double)n / (double)a->sc.clients.count / (double)n;
	for (size_t k = 0; k < a->n_params; k++) {
		double s = 0.0;
		for (size_t i = 0; i < n; i++)
			s += (double)u[i].control_delta[k];
		st->c[k] += (float)(share * s);
	}
	return 0;
}

static int save(const struct fcl_agg *a, FILE *f)
{
	const struct scaffold_state *st = a->state;
	return fwrite(st->c, sizeof(float), a->n_params, f) == a->n_params ? 0 : -EIO;
}

static int load(struct fcl_agg *a, FILE *f)
{
	struct scaffold_state *st = a->state;
	return fread(st->c, sizeof(float), a->n_params, f) == a->n_params ? 0 : -EIO;
}

const struct fcl_agg_ops fcl_agg_scaffold_ops = {
    .name = "scaffold", .init = init, .fini = fini, .combine = combine, .save = save, .load = load};

const float *fcl_agg_control(const struct fcl_agg *a)
{
	return a && a->ops == &fcl_agg_scaffold_ops ? ((const struct scaffold_state *)a->state)->c
						    : NULL;
}
