/* common/src/agg_median.c - coordinate-wise median (Yin et al. 2018); the mean
 * of the two middle values for an even count. Unweighted. */
#include "agg-private.h"
#include "fcl/rule.h"

#include <errno.h>
#include <stdlib.h>

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	float *col = malloc(n * sizeof *col);
	if (!col)
		return -ENOMEM;
	for (size_t k = 0; k < a->n_params; k++) {
		for (size_t i = 0; i < n; i++)
			col[i] = u[i].delta[k];
		fcl__sort_floats(col, n);
		a->delta[k] = n % 2 ? col[n / 2] : 0.5f * (col[n / 2 - 1] + col[n / 2]);
	}
	free(col);
	return 0;
}

const struct fcl_rule fcl_rule_median = {
    .name = "median",
    .summary = "coordinate-wise median of the updates (robust)",
    .combine = combine,
};
