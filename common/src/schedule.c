/* common/src/schedule.c - compile a scenario into tasks, client shards and rounds */
#include "fcl/schedule.h"

#include "fcl/log.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Picks "<dir>/<base>" or "<dir>/<base>.gz", whichever exists. */
static void idx_path(char *out, size_t len, const char *dir, const char *base)
{
	snprintf(out, len, "%s/%s.gz", dir, base);
	if (access(out, R_OK) != 0)
		snprintf(out, len, "%s/%s", dir, base);
}

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
		memmove(ds->x + (size_t)w * ds->dim, ds->x + (size_t)i * ds->dim, ds->dim);
		ds->y[w++] = ds->y[i];
	}
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
		char img[FCL_SCENARIO_PATH_MAX + 64], lab[FCL_SCENARIO_PATH_MAX + 64];
		idx_path(img, sizeof img, sc->data.path, "train-images-idx3-ubyte");
		idx_path(lab, sizeof lab, sc->data.path, "train-labels-idx1-ubyte");
		rc = fcl_dataset_load_idx(train, img, lab, err, errlen);
		if (!rc) {
			idx_path(img, sizeof img, sc->data.path, "t10k-images-idx3-ubyte");
			idx_path(lab, sizeof lab, sc->data.path, "t10k-labels-idx1-ubyte");
			rc = fcl_dataset_load_idx(test, img, lab, err, errlen);
		}
		/* Both splits share the label space, even if a split lacks the top class. */
		if (!rc && train->n_classes != test->n_classes)
			train->n_classes = test->n_classes =
				train->n_classes > test->n_classes ? train->n_classes
								   : test->n_classes;
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

static void task_classes(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	uint32_t order[256];

	for (uint32_t c = 0; c < s->n_classes; c++)
		order[c] = c;
	if (sc->tasks.kind != FCL_TASKS_CLASS_INCREMENTAL) {
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			s->tasks[t].n_classes = s->n_classes;
			for (uint32_t c = 0; c < s->n_classes; c++) {
				s->tasks[t].classes[c] = c;
				s->tasks[t].has_class[c] = 1;
			}
		}
		return;
	}
	if (sc->tasks.n_class_order) {
		memcpy(order, sc->tasks.class_order, sc->tasks.n_class_order * sizeof order[0]);
	} else {
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_CLASS_ORDER, FCL_RNG_NO_CLIENT,
			     FCL_RNG_NO_ROUND);
		fcl_rng_shuffle_u32(&rng, order, s->n_classes);
	}
	uint32_t per = sc->tasks.classes_per_task;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		struct fcl_task *task = &s->tasks[t];
		for (uint32_t k = 0; k < per; k++)
			task->has_class[order[t * per + k]] = 1;
		for (uint32_t c = 0; c < s->n_classes; c++)
			if (task->has_class[c])
				task->classes[task->n_classes++] = c;
	}
}

static int task_permutations(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	if (sc->tasks.kind != FCL_TASKS_PERMUTED)
		return 0;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		if (t == 0 && sc->tasks.identity_first)
			continue;
		uint32_t *perm = malloc((size_t)s->dim * sizeof *perm);
		if (!perm)
			return -ENOMEM;
		for (uint32_t k = 0; k < s->dim; k++)
			perm[k] = k;
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_PERMUTATION, FCL_RNG_NO_CLIENT, t);
		fcl_rng_shuffle_u32(&rng, perm, s->dim);
		s->tasks[t].perm = perm;
	}
	return 0;
}

/* Collects the samples of `ids` (n) whose label is in the task, keeping order. */
static uint32_t *select_task_samples(const struct fcl_task *task, const struct fcl_dataset *ds,
				     const uint32_t *ids, uint32_t n, uint32_t *count)
{
	uint32_t *out = malloc((size_t)(n ? n : 1) * sizeof *out);
	*count = 0;
	if (!out)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if (task->has_class[ds->y[ids[i]]])
			out[(*count)++] = ids[i];
	return out;
}

int fcl_schedule_compile(struct fcl_schedule *s, const struct fcl_scenario *sc,
			 const struct fcl_dataset *train, const struct fcl_dataset *test)
{
	uint32_t *all = NULL;
	int rc = -ENOMEM;

	memset(s, 0, sizeof *s);
	if (train->dim != test->dim || train->n_classes > 256)
		return -EINVAL;
	s->n_tasks = sc->tasks.count;
	s->rounds_per_task = sc->tasks.rounds_per_task;
	s->n_rounds = s->n_tasks * s->rounds_per_task;
	s->n_clients = sc->clients.count;
	s->per_round = sc->clients.per_round;
	s->dim = train->dim;
	s->n_classes = train->n_classes;
	s->tasks = calloc(s->n_tasks, sizeof *s->tasks);
	s->client_task_idx = calloc((size_t)s->n_clients * s->n_tasks, sizeof(uint32_t *));
	s->client_task_n = calloc((size_t)s->n_clients * s->n_tasks, sizeof(uint32_t));
	all = malloc((size_t)(test->n > train->n ? test->n : train->n) * sizeof *all);
	if (!s->tasks || !s->client_task_idx || !s->client_task_n || !all)
		goto err;
	task_classes(s, sc);
	if ((rc = task_permutations(s, sc)) != 0)
		goto err;
	rc = -ENOMEM;

	for (uint32_t i = 0; i < test->n; i++)
		all[i] = i;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		s->tasks[t].test_idx = select_task_samples(&s->tasks[t], test, all, test->n,
							   &s->tasks[t].n_test);
		if (!s->tasks[t].test_idx)
			goto err;
	}

	/* IID partition: one seeded shuffle, cut into near-equal contiguous shards. */
	struct fcl_rng rng;
	for (uint32_t i = 0; i < train->n; i++)
		all[i] = i;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_rng_shuffle_u32(&rng, all, train->n);
	for (uint32_t c = 0; c < s->n_clients; c++) {
		uint32_t lo = (uint32_t)((uint64_t)train->n * c / s->n_clients);
		uint32_t hi = (uint32_t)((uint64_t)train->n * (c + 1) / s->n_clients);
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			size_t k = (size_t)c * s->n_tasks + t;
			s->client_task_idx[k] = select_task_samples(&s->tasks[t], train, all + lo,
								    hi - lo, &s->client_task_n[k]);
			if (!s->client_task_idx[k])
				goto err;
		}
	}
	free(all);
	return 0;
err:
	free(all);
	fcl_schedule_fini(s);
	return rc;
}

void fcl_schedule_fini(struct fcl_schedule *s)
{
	if (s->tasks)
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			free(s->tasks[t].perm);
			free(s->tasks[t].test_idx);
		}
	if (s->client_task_idx)
		for (size_t k = 0; k < (size_t)s->n_clients * s->n_tasks; k++)
			free(s->client_task_idx[k]);
	free(s->tasks);
	free(s->client_task_idx);
	free(s->client_task_n);
	memset(s, 0, sizeof *s);
}

uint32_t fcl_schedule_task_of_round(const struct fcl_schedule *s, uint32_t round)
{
	uint32_t t = round / s->rounds_per_task;
	return t < s->n_tasks ? t : s->n_tasks - 1;
}

int fcl_schedule_is_task_end(const struct fcl_schedule *s, uint32_t round)
{
	return (round + 1) % s->rounds_per_task == 0;
}

void fcl_schedule_participants(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
			       uint32_t *out)
{
	if (s->per_round >= s->n_clients) {
		for (uint32_t c = 0; c < s->n_clients; c++)
			out[c] = c;
		return;
	}
	/* Partial Fisher-Yates: the first per_round slots of a seeded shuffle,
	 * then sorted, so aggregation order is the client-id order. */
	uint32_t *ids = malloc((size_t)s->n_clients * sizeof *ids);
	FCL_ASSERT(ids != NULL);
	struct fcl_rng rng;
	fcl_rng_init(&rng, seed, FCL_RNG_PARTICIPANTS, FCL_RNG_NO_CLIENT, round);
	for (uint32_t c = 0; c < s->n_clients; c++)
		ids[c] = c;
	for (uint32_t i = 0; i < s->per_round; i++) {
		uint32_t j = i + (uint32_t)fcl_rng_below(&rng, s->n_clients - i);
		uint32_t t = ids[i];
		ids[i] = ids[j];
		ids[j] = t;
	}
	uint8_t *chosen = calloc(s->n_clients, 1);
	FCL_ASSERT(chosen != NULL);
	for (uint32_t i = 0; i < s->per_round; i++)
		chosen[ids[i]] = 1;
	for (uint32_t c = 0, k = 0; c < s->n_clients; c++)
		if (chosen[c])
			out[k++] = c;
	free(chosen);
	free(ids);
}
