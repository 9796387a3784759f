/* common/src/schedule.c - compile a scenario into tasks, client shards and rounds
 *
 * The steps live in their own files: data loading (schedule_data.c), the
 * task generators (schedule_tasks.c), the partitions (schedule_partition.c)
 * and the timeline with its queries (schedule_timeline.c); the CSV views in
 * schedule_csv.c.
 */
#include "schedule-private.h"

#include "fcl/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scenario's sizes and switches the queries need. */
static void copy_settings(struct fcl_schedule *s, const struct fcl_scenario *sc,
			  const struct fcl_dataset *train)
{
	s->n_tasks = sc->tasks.count;
	s->rounds_per_task = sc->tasks.rounds_per_task;
	s->n_clients = sc->clients.count;
	s->per_round = sc->clients.per_round;
	s->dim = train->dim;
	s->shape = train->shape;
	s->n_classes = train->n_classes;
	s->in_phase = fcl_scenario_in_phase(sc);
	s->online = sc->timeline.online;
	s->task_incremental = sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL;
	s->samples_per_round = sc->timeline.samples_per_round;
	s->local_epochs = sc->train.local_epochs;
	s->join = sc->timeline.join;
	s->leave = sc->timeline.leave;
	s->participation = sc->timeline.participation;
}

/* Each client's part of each task's stream: the samples it holds, in
 * stream order, as one array indexed by (client, task) offsets. */
static int split_streams(struct fcl_schedule *s, const uint32_t *owner)
{
	size_t K = (size_t)s->n_clients * s->n_tasks;
	uint64_t total = 0;

	for (uint32_t t = 0; t < s->n_tasks; t++)
		total += s->tasks[t].n_train;
	if (total >= UINT32_MAX)
		return -EINVAL;
	s->task_samples = malloc((size_t)total * sizeof *s->task_samples + 1);
	if (!s->task_samples)
		return -ENOMEM;
	/* counts, then starts; filling moves each start to its end, which is the
	 * next one's start: shifted back by one at the end */
	for (uint32_t t = 0; t < s->n_tasks; t++)
		for (uint32_t i = 0; i < s->tasks[t].n_train; i++)
			s->task_off[(size_t)owner[s->tasks[t].train_idx[i]] * s->n_tasks + t + 1]++;
	for (size_t k = 0; k < K; k++)
		s->task_off[k + 1] += s->task_off[k];
	for (uint32_t t = 0; t < s->n_tasks; t++)
		for (uint32_t i = 0; i < s->tasks[t].n_train; i++) {
			uint32_t id = s->tasks[t].train_idx[i];
			s->task_samples[s->task_off[(size_t)owner[id] * s->n_tasks + t]++] = id;
		}
	for (size_t k = K; k > 0; k--)
		s->task_off[k] = s->task_off[k - 1];
	s->task_off[0] = 0;
	return 0;
}

int fcl_schedule_compile(struct fcl_schedule *s, const struct fcl_scenario *sc,
			 const struct fcl_dataset *train, const struct fcl_dataset *test)
{
	uint32_t *owner = NULL;
	int rc = -ENOMEM;

	memset(s, 0, sizeof *s);
	if (train->dim != test->dim || train->n_classes > FCL_DATA_MAX_CLASSES ||
	    sc->tasks.count == 0)
		return -EINVAL;
	copy_settings(s, sc, train);
	if (sc->clients.partition == FCL_PARTITION_SHARDS &&
	    (uint64_t)s->n_clients * sc->clients.shards_per_client > train->n)
		return -EINVAL;
	s->tasks = calloc(s->n_tasks, sizeof *s->tasks);
	s->task_off = calloc((size_t)s->n_clients * s->n_tasks + 1, sizeof *s->task_off);
	owner = malloc((size_t)train->n * sizeof *owner + 1);
	if (!s->tasks || !s->task_off || !owner)
		goto err;
	/* tasks; who holds which sample and so each client's part of each
	 * task's stream; then time */
	if ((rc = fcl__schedule_make_tasks(s, sc, train, test)) != 0 ||
	    (rc = fcl__schedule_partition(sc, train, s->n_clients, owner)) != 0 ||
	    (rc = split_streams(s, owner)) != 0 || (rc = fcl__schedule_plan_timeline(s, sc)) != 0)
		goto err;
	free(owner);
	return 0;
err:
	free(owner);
	fcl_schedule_fini(s);
	return rc;
}

void fcl_schedule_fini(struct fcl_schedule *s)
{
	if (s->tasks)
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			free(s->tasks[t].perm);
			free(s->tasks[t].test_idx);
			free(s->tasks[t].train_idx);
		}
	if (s->plans)
		for (uint32_t c = 0; c < s->n_clients; c++) {
			free(s->plans[c].entries);
			free(s->plans[c].rec_off);
			free(s->plans[c].rec_idx);
			free(s->plans[c].rec_task);
		}
	free(s->shared_plan.entries);
	free(s->plans);
	free(s->global_order);
	free(s->tasks);
	free(s->task_off);
	free(s->task_samples);
	memset(s, 0, sizeof *s);
}

/* FNV-1a 64, continued from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t fcl_schedule_digest(const struct fcl_schedule *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t head[6] = {s->n_tasks,   s->n_rounds, s->n_clients,
			    s->per_round, s->dim,      s->n_classes};

	h = fnv(h, head, sizeof head);
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		const struct fcl_task *k = &s->tasks[t];
		h = fnv(h, k->has_class, sizeof k->has_class);
		h = fnv(h, k->role, sizeof k->role);
		h = fnv(h, k->train_idx, (size_t)k->n_train * sizeof *k->train_idx);
		h = fnv(h, k->test_idx, (size_t)k->n_test * sizeof *k->test_idx);
		if (k->perm)
			h = fnv(h, k->perm, (size_t)s->dim * sizeof *k->perm);
	}
	/* (client, task) by (client, task), as when each had its own array */
	h = fnv(h, s->task_samples,
		(size_t)s->task_off[(size_t)s->n_clients * s->n_tasks] * sizeof(uint32_t));
	for (uint32_t c = 0; c < s->n_clients; c++) {
		const struct fcl_client_plan *p = fcl_schedule_plan(s, c);
		uint32_t pres[2] = {p->join, p->leave};
		h = fnv(h, p->entries, (size_t)p->n_entries * sizeof *p->entries);
		h = fnv(h, pres, sizeof pres);
		h = fnv(h, &p->participation, sizeof p->participation);
		if (p->rec_off) {
			h = fnv(h, p->rec_off, ((size_t)s->n_rounds + 1) * sizeof *p->rec_off);
			h = fnv(h, p->rec_idx, (size_t)p->rec_off[s->n_rounds] * sizeof(uint32_t));
			h = fnv(h, p->rec_task, (size_t)p->rec_off[s->n_rounds] * sizeof(uint32_t));
		}
	}
	return h;
}

/* Appends to out as snprintf would, never past len. */
static size_t append(char *out, size_t len, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (at >= len)
		return at;
	va_start(ap, fmt);
	n = vsnprintf(out + at, len - at, fmt, ap);
	va_end(ap);
	return n < 0 ? at : at + (size_t)n;
}

uint32_t fcl_schedule_empty_tasks(const struct fcl_schedule *s, char *out, size_t len)
{
	uint32_t n = 0, no_test = 0;
	size_t at = 0;

	if (len)
		out[0] = '\0';
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		const struct fcl_task *k = &s->tasks[t];
		if (k->n_train && k->n_test)
			continue;
		at = append(out, len, at, "%stask %u has %u training and %u test samples",
			    n++ ? "; " : "", t, k->n_train, k->n_test);
		no_test += k->n_test == 0;
	}
	if (n)
		at = append(out, len, at,
			    "%s", no_test ? " (a task without test samples is left out of every "
					    "average: docs/metrics.md)"
					  : " (a task without training samples trains nothing)");
	return n;
}
