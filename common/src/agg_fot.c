/* common/src/agg_fot.c - FOT on the server: FedAvg, then every protected
 * layer's update is projected off the old tasks' input subspace,
 *   Delta_l <- Delta_l - (Delta_l U_l) U_l^T,
 * for every dense layer's weight matrix (the MLP case of the authors' code,
 * the output layer included; biases are never projected). The bases grow at
 * task ends from the clients' sketches (fcl_agg_fot_expand). */
#include "fcl/aggregate.h"
#include "fcl/fot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fot_state {
	double eps;  /* threshold of the current task */
	float *U[8]; /* (d_l, k_l) */
	size_t k[8];
	float *tmp; /* (max n_out, max d) projection scratch */
};

static int init(struct fcl_agg *a)
{
	struct fot_state *st = calloc(1, sizeof *st);
	size_t most = 1;
	if (!st)
		return -ENOMEM;
	for (uint32_t l = 0; l < a->n_layers; l++) {
		size_t sz = a->layers[l].n_out * a->layers[l].n_in;
		most = sz > most ? sz : most;
	}
	st->tmp = malloc(most * sizeof *st->tmp);
	st->eps = a->sc.aggregation.threshold;
	a->state = st;
	return st->tmp ? 0 : -ENOMEM;
}

static void fini(struct fcl_agg *a)
{
	struct fot_state *st = a->state;
	if (!st)
		return;
	for (uint32_t l = 0; l < 8; l++)
		free(st->U[l]);
	free(st->tmp);
	free(st);
	a->state = NULL;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	struct fot_state *st = a->state;
	fcl_agg_mean(a, u, n, a->sc.aggregation.weighted);
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = (float)a->acc[k];
	for (uint32_t l = 0; l < a->n_layers; l++) {
		const struct fcl_agg_layer *L = &a->layers[l];
		fcl_fot_project(a->delta + L->w_offset, L->n_out, L->n_in, st->U[l], st->k[l],
				st->tmp);
	}
	return 0;
}

static int save(const struct fcl_agg *a, FILE *f)
{
	const struct fot_state *st = a->state;
	if (fwrite(&st->eps, sizeof st->eps, 1, f) != 1)
		return -EIO;
	for (uint32_t l = 0; l < a->n_layers; l++) {
		uint64_t k = st->k[l];
		size_t cnt = a->layers[l].n_in * st->k[l];
		if (fwrite(&k, sizeof k, 1, f) != 1 ||
		    (cnt && fwrite(st->U[l], sizeof(float), cnt, f) != cnt))
			return -EIO;
	}
	return 0;
}

static int load(struct fcl_agg *a, FILE *f)
{
	struct fot_state *st = a->state;
	double eps;
	if (fread(&eps, sizeof eps, 1, f) != 1 || !(eps > 0 && eps < 2))
		return -EIO;
	for (uint32_t l = 0; l < a->n_layers; l++) {
		uint64_t k;
		size_t d = a->layers[l].n_in;
		if (fread(&k, sizeof k, 1, f) != 1 || k > d)
			return -EIO;
		float *U = k ? malloc(d * k * sizeof *U) : NULL;
		if (k && !U)
			return -ENOMEM;
		if (k && fread(U, sizeof *U, d * k, f) != d * k) {
			free(U);
			return -EIO;
		}
		free(st->U[l]);
		st->U[l] = U;
		st->k[l] = k;
	}
	st->eps = eps;
	return 0;
}

const struct fcl_agg_ops fcl_agg_fot_ops = {
    .name = "fot", .init = init, .fini = fini, .combine = combine, .save = save, .load = load};

int fcl_agg_wants_sketch(const struct fcl_agg *a)
{
	return a && a->ops == &fcl_agg_fot_ops;
}

const float *fcl_agg_fot_basis(const struct fcl_agg *a, uint32_t l, size_t *d, size_t *k)
{
	const struct fot_state *st = a->state;
	*d = a->layers[l].n_in;
	*k = st->k[l];
	return st->U[l];
}

size_t fcl_agg_fot_columns(const struct fcl_agg *a, uint32_t l)
{
	double c = ceil(a->sc.aggregation.sketch_columns * (double)a->layers[l].n_in);
	return c < 1 ? 1 : (size_t)c;
}

double fcl_agg_fot_threshold(const struct fcl_agg *a)
{
	return ((const struct fot_state *)a->state)->eps;
}

int fcl_agg_fot_expand(struct fcl_agg *a, uint32_t l, float *Y, double r, size_t *added)
{
	struct fot_state *st = a->state;
	return fcl_fot_expand(&st->U[l], a->layers[l].n_in, &st->k[l], Y, fcl_agg_fot_columns(a, l),
			      r, st->eps, a->sc.aggregation.k_rule, added);
}

void fcl_agg_fot_next_task(struct fcl_agg *a)
{
	struct fot_state *st = a->state;
	st->eps += a->sc.aggregation.threshold_increment;
	if (st->eps > 1.0)
		st->eps = 1.0;
}
