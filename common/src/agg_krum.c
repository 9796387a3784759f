/* common/src/agg_krum.c - Krum and Multi-Krum (Blanchard et al. 2017).
 * With f = aggregation.byzantine, each update scores the sum of its squared
 * distances to its n - f - 2 nearest others (at least 1); the krum_select
 * lowest scores (ties: lower client id) are averaged uniformly. krum_select 1
 * is Krum. */
#include "fcl/rule.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct krum_params {
	uint32_t byzantine, krum_select;
};

static const struct fcl_key keys[] = {
    FCL_KEY_U32("byzantine", struct krum_params, byzantine, 0, 100000,
		"faulty clients f assumed among the participants"),
    FCL_KEY_U32("krum_select", struct krum_params, krum_select, 1, 100000,
		"updates averaged (1: Krum, more: Multi-Krum)"),
    {0},
};

static void defaults(void *params)
{
	*(struct krum_params *)params = (struct krum_params){.byzantine = 2, .krum_select = 1};
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct krum_params *p = a->params;
	size_t f = p->byzantine, m = p->krum_select;
	size_t near = n > f + 2 ? n - f - 2 : 1;
	double *dist = calloc(n * n, sizeof *dist), *row = malloc(n * sizeof *row);
	double *score = malloc(n * sizeof *score);
	unsigned char *chosen = calloc(n, 1);
	int rc = -ENOMEM;

	if (!dist || !row || !score || !chosen)
		goto out;
	if (near > n - 1)
		near = n - 1;
	if (m > n)
		m = n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			double s = 0.0;
			for (size_t k = 0; k < a->n_params; k++) {
				double d = (double)u[i].delta[k] - (double)u[j].delta[k];
				s += d * d;
			}
			dist[i * n + j] = dist[j * n + i] = s;
		}
	for (size_t i = 0; i < n; i++) {
		size_t c = 0;
		for (size_t j = 0; j < n; j++)
			if (j != i)
				row[c++] = dist[i * n + j];
		qsort(row, c, sizeof *row, cmp_double);
		score[i] = 0.0;
		for (size_t j = 0; j < near && j < c; j++)
			score[i] += row[j];
	}
	for (size_t s = 0; s < m; s++) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (!chosen[i] && (best == n || score[i] < score[best]))
				best = i;
		chosen[best] = 1;
	}
	memset(a->acc, 0, a->n_params * sizeof *a->acc);
	for (size_t i = 0; i < n; i++)
		if (chosen[i])
			for (size_t k = 0; k < a->n_params; k++)
				a->acc[k] += (double)u[i].delta[k] / (double)m;
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = (float)a->acc[k];
	rc = 0;
out:
	free(chosen);
	free(score);
	free(row);
	free(dist);
	return rc;
}

const struct fcl_rule fcl_rule_krum = {
    .name = "krum",
    .summary = "Krum / Multi-Krum: the updates closest to their neighbours (robust)",
    .keys = keys,
    .params_size = sizeof(struct krum_params),
    .defaults = defaults,
    .combine = combine,
};
