/* common/src/aggregate.c - picks a rule, and what every rule shares */
#include "fcl/aggregate.h"

#include "agg-private.h"
#include "fcl/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern const struct fcl_agg_ops fcl_agg_fedavg_ops, fcl_agg_fot_ops, fcl_agg_fedopt_ops,
    fcl_agg_fednova_ops, fcl_agg_median_ops, fcl_agg_trimmed_mean_ops, fcl_agg_krum_ops,
    fcl_agg_scaffold_ops;

static const struct {
	enum fcl_rule_kind rule;
	const char *name;
	const struct fcl_agg_ops *ops;
} registry[] = {
    {FCL_RULE_FEDAVG, "fedavg", &fcl_agg_fedavg_ops},
    {FCL_RULE_FOT, "fot", &fcl_agg_fot_ops},
    {FCL_RULE_FEDPROX, "fedprox", &fcl_agg_fedavg_ops}, /* the proximal term is client-side */
    {FCL_RULE_FEDAVGM, "fedavgm", &fcl_agg_fedopt_ops},
    {FCL_RULE_FEDADAM, "fedadam", &fcl_agg_fedopt_ops},
    {FCL_RULE_FEDYOGI, "fedyogi", &fcl_agg_fedopt_ops},
    {FCL_RULE_FEDNOVA, "fednova", &fcl_agg_fednova_ops},
    {FCL_RULE_MEDIAN, "median", &fcl_agg_median_ops},
    {FCL_RULE_TRIMMED_MEAN, "trimmed-mean", &fcl_agg_trimmed_mean_ops},
    {FCL_RULE_KRUM, "krum", &fcl_agg_krum_ops},
    {FCL_RULE_SCAFFOLD, "scaffold", &fcl_agg_scaffold_ops},
};
#define N_RULES (sizeof registry / sizeof registry[0])

const char *fcl_agg_rule_name(enum fcl_rule_kind rule)
{
	for (size_t i = 0; i < N_RULES; i++)
		if (registry[i].rule == rule)
			return registry[i].name;
	return "unknown";
}

int fcl_agg_create(const struct fcl_scenario *sc, const struct fcl_mlp *m, struct fcl_agg **out)
{
	const struct fcl_agg_ops *ops = NULL;
	for (size_t i = 0; i < N_RULES; i++)
		if (registry[i].rule == sc->aggregation.rule)
			ops = registry[i].ops;
	if (!ops || m->n_layers > 8)
		return -EINVAL;
	struct fcl_agg *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->ops = ops;
	a->rule = sc->aggregation.rule;
	a->sc = *sc;
	a->n_params = m->n_params;
	a->n_layers = m->n_layers;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		a->layers[l].w_offset = m->w_offset[l];
		a->layers[l].n_in = m->sizes[l];
		a->layers[l].n_out = m->sizes[l + 1];
	}
	a->acc = calloc(a->n_params, sizeof *a->acc);
	a->delta = calloc(a->n_params, sizeof *a->delta);
	int rc = (!a->acc || !a->delta) ? -ENOMEM : 0;
	if (!rc && ops->init)
		rc = ops->init(a);
	if (rc) {
		fcl_agg_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

void fcl_agg_destroy(struct fcl_agg *a)
{
	if (!a)
		return;
	if (a->ops && a->ops->fini)
		a->ops->fini(a);
	free(a->acc);
	free(a->delta);
	free(a);
}

void fcl_agg_mean(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted)
{
	size_t np = a->n_params;
	double total = 0.0;

	for (size_t i = 0; i < n; i++)
		total += weighted ? (double)u[i].n_samples : 1.0;
	memset(a->acc, 0, np * sizeof *a->acc);
	if (total <= 0.0)
		return;
	for (size_t i = 0; i < n; i++) {
		double w = (weighted ? (double)u[i].n_samples : 1.0) / total;
		const float *d = u[i].delta;
		for (size_t k = 0; k < np; k++)
			a->acc[k] += w * (double)d[k];
	}
}

int fcl_agg_step(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, float *params)
{
	if (n == 0)
		return 0;
	int rc = a->ops->combine(a, u, n);
	if (rc)
		return rc;
	for (size_t k = 0; k < a->n_params; k++)
		params[k] += a->delta[k];
	a->steps++;
	return 0;
}

#define STATE_MAGIC 0x41474c43u /* "CLGA" */

int fcl_agg_save(const struct fcl_agg *a, FILE *f)
{
	uint32_t head[2] = {STATE_MAGIC, (uint32_t)a->rule};
	if (fwrite(head, sizeof head, 1, f) != 1 || fwrite(&a->steps, sizeof a->steps, 1, f) != 1)
		return -EIO;
	return a->ops->save ? a->ops->save(a, f) : 0;
}

int fcl_agg_load(struct fcl_agg *a, FILE *f)
{
	uint32_t head[2];
	uint64_t steps;
	if (fread(head, sizeof head, 1, f) != 1 || fread(&steps, sizeof steps, 1, f) != 1)
		return -EIO;
	if (head[0] != STATE_MAGIC || head[1] != (uint32_t)a->rule)
		return -EINVAL;
	int rc = a->ops->load ? a->ops->load(a, f) : 0;
	if (!rc)
		a->steps = steps;
	return rc;
}

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return (a > b) - (a < b);
}

void fcl__sort_floats(float *v, size_t n)
{
	if (n > 32) {
		qsort(v, n, sizeof *v, cmp_float);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		float x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}
