/* common/src/schedule_data.c - a scenario's train and test sets (files in data.path or synthetic)
 */
#include "fcl/schedule.h"

#include "fcl/rng.h"
#include "fcl/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keeps a seeded random subset of `limit` samples, in their original order. */
static int limit_dataset(struct fcl_dataset *ds, uint32_t limit, uint64_t seed, uint32_t split)
{
	if (limit == 0 || limit >= ds->n)
		return 0;
	uint32_t *ids = malloc((size_t)ds->n * sizeof *ids);
	uint8_t *keep = calloc(ds->n, 1);
	if (!ids || !keep) {
		free(ids);
		free(keep);
		return -ENOMEM;
	}
	struct fcl_rng rng;
	fcl_rng_init(&rng, seed, FCL_RNG_EVAL_SUBSET, split, FCL_RNG_NO_ROUND);
	for (uint32_t i = 0; i < ds->n; i++)
		ids[i] = i;
	fcl_rng_shuffle_u32(&rng, ids, ds->n);
	for (uint32_t i = 0; i < limit; i++)
		keep[ids[i]] = 1;
	uint32_t w = 0;
	for (uint32_t i = 0; i < ds->n; i++) {
		if (!keep[i])
			continue;
		if (ds->xf)
			memmove(ds->xf + (size_t)w * ds->dim, ds->xf + (size_t)i * ds->dim,
				ds->dim * sizeof *ds->xf);
		else
			memmove(ds->x + (size_t)w * ds->dim, ds->x + (size_t)i * ds->dim, ds->dim);
		ds->y[w++] = ds->y[i];
	}
	ds->n_file = ds->n;
	ds->n = limit;
	free(ids);
	free(keep);
	return 0;
}

int fcl_schedule_load_data(const struct fcl_scenario *sc, struct fcl_dataset *train,
			   struct fcl_dataset *test, char *err, size_t errlen)
{
	int rc;

	memset(train, 0, sizeof *train);
	memset(test, 0, sizeof *test);
	if (sc->data.kind == FCL_DATASET_SYNTHETIC) {
		rc = fcl_dataset_synthetic(train, sc->data.synthetic_train, sc->data.synthetic_dim,
					   sc->data.synthetic_classes, sc->seed, 0);
		if (!rc)
			rc = fcl_dataset_synthetic(test, sc->data.synthetic_test,
						   sc->data.synthetic_dim,
						   sc->data.synthetic_classes, sc->seed, 1);
		if (rc)
			snprintf(err, errlen, "synthetic data: %s", strerror(-rc));
	} else {
		/* Labels are checked against the class count the parser settled
		 * (declared, the format's, or detected from y_train.npy); with none
		 * (a scenario built in code) the training set's labels decide. */
		struct fcl_data_source src = {sc->data.format, sc->data.path, sc->data.classes,
					      sc->data.coarse};
		char why[768];
		rc = fcl_dataset_load(train, &src, 0, why, sizeof why);
		if (!rc) {
			src.classes = train->n_classes;
			rc = fcl_dataset_load(test, &src, 1, why, sizeof why);
		}
		if (!rc && (train->dim != test->dim || train->shape.c != test->shape.c ||
			    train->shape.h != test->shape.h)) {
			snprintf(why, sizeof why,
				 "the training samples have %u features (%ux%ux%u), "
				 "the test samples %u (%ux%ux%u)",
				 train->dim, train->shape.c, train->shape.h, train->shape.w,
				 test->dim, test->shape.c, test->shape.h, test->shape.w);
			rc = -EPROTO;
		}
		if (rc)
			snprintf(err, errlen, "data.path: %s", why);
	}
	if (!rc && sc->data.mean.n) {
		/* one mean or std stands for every channel; the other may list them */
		struct fcl_channel_values m = sc->data.mean, sd = sc->data.std;
		uint32_t n = m.n > sd.n ? m.n : sd.n;
		char why[256];
		for (uint32_t c = 1; c < n; c++) {
			m.v[c] = m.n == 1 ? m.v[0] : m.v[c];
			sd.v[c] = sd.n == 1 ? sd.v[0] : sd.v[c];
		}
		if ((rc = fcl_dataset_normalize(train, m.v, sd.v, n, why, sizeof why)) != 0 ||
		    (rc = fcl_dataset_normalize(test, m.v, sd.v, n, why, sizeof why)) != 0)
			snprintf(err, errlen, "data.mean: %s",
				 rc == -ENOMEM ? "out of memory" : why);
	}
	if (!rc && sc->data.augment) {
		if (train->shape.h < 2 || train->shape.w < 2 ||
		    train->shape.c * train->shape.h * train->shape.w != train->dim) {
			snprintf(err, errlen,
				 "data.augment: crop-flip needs images (got samples of %ux%ux%u)",
				 train->shape.c, train->shape.h, train->shape.w);
			rc = -EINVAL;
		}
		train->augment = 1; /* the test split is never augmented */
	}
	if (!rc)
		rc = limit_dataset(train, sc->data.train_limit, sc->seed, 0);
	if (!rc)
		rc = limit_dataset(test, sc->data.test_limit, sc->seed, 1);
	if (rc) {
		fcl_dataset_fini(train);
		fcl_dataset_fini(test);
	}
	return rc;
}
