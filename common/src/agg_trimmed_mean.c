/* common/src/agg_trimmed_mean.c - coordinate-wise trimmed mean (Yin et al. 2018):
 * per coordinate, drop the floor(trim * n) largest and smallest values and
 * average the rest. Unweighted. */
#include "agg-private.h"
#include "fcl/rule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

struct trim_params {
	double trim; /* share cut at each end */
};

static const struct fcl_key keys[] = {
    FCL_KEY_F64("trim", struct trim_params, trim, 0, 0, 0.5, FCL_OPEN,
		"share of the values cut at each end of every coordinate"),
    {0},
};

static void defaults(void *params)
{
	((struct trim_params *)params)->trim = 0.2;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	size_t cut = (size_t)floor(((const struct trim_params *)a->params)->trim * (double)n);
	if (2 * cut >= n)
		cut = (n - 1) / 2;
	float *col = malloc(n * sizeof *col);
	if (!col)
		return -ENOMEM;
	for (size_t k = 0; k < a->n_params; k++) {
		double sum = 0.0;
		for (size_t i = 0; i < n; i++)
			col[i] = u[i].delta[k];
		fcl__sort_floats(col, n);
		for (size_t i = cut; i < n - cut; i++)
			sum += col[i];
		a->delta[k] = (float)(sum / (double)(n - 2 * cut));
	}
	free(col);
	return 0;
}

const struct fcl_rule fcl_rule_trimmed_mean = {
    .name = "trimmed-mean",
    .summary = "coordinate-wise trimmed mean of the updates (robust)",
    .keys = keys,
    .params_size = sizeof(struct trim_params),
    .defaults = defaults,
    .combine = combine,
};
