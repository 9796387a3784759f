/* common/src/schedule_csv.c - the compiled schedule as CSV files
 *
 * What a researcher reads to check what each client meets and when; the
 * columns are documented in docs/scenarios.md and kept stable. Written by
 * fcl-scenario compile and into every run folder.
 */
#include "fcl/schedule.h"

#include "fcl/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the writers need. */
struct compiled {
	const struct fcl_scenario *sc;
	const struct fcl_dataset *train;
	const struct fcl_schedule *s;
};

void fcl_schedule_print_classes(FILE *f, const uint8_t *flag, uint32_t n, uint8_t want)
{
	int first = 1;
	for (uint32_t c = 0; c < n; c++)
		if (flag[c] == want) {
			fprintf(f, "%s%u", first ? "" : " ", c);
			first = 0;
		}
}

/* Label histogram of the samples client c holds (each sample once). */
static uint64_t client_labels(const struct compiled *c, uint32_t client, uint8_t *mark,
			      uint64_t *hist)
{
	const struct fcl_schedule *s = c->s;
	uint64_t n = 0;

	memset(hist, 0, s->n_classes * sizeof *hist);
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		uint32_t m;
		const uint32_t *idx = fcl_schedule_client_task(s, client, t, &m);
		for (uint32_t i = 0; i < m; i++) {
			uint32_t id = idx[i];
			if (mark[id])
				continue;
			mark[id] = 1;
			hist[c->train->y[id]]++;
			n++;
		}
	}
	for (uint32_t t = 0; t < s->n_tasks; t++) { /* reset the marks */
		uint32_t m;
		const uint32_t *idx = fcl_schedule_client_task(s, client, t, &m);
		for (uint32_t i = 0; i < m; i++)
			mark[idx[i]] = 0;
	}
	return n;
}

static int is_blurry(const struct fcl_scenario *sc)
{
	return sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY;
}

static FILE *open_csv(const char *dir, const char *name, const char *header)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
	else
		fprintf(f, "%s\n", header);
	return f;
}

static int close_csv(FILE *f)
{
	return f && fclose(f) == 0 ? 0 : -EIO;
}

static int write_tasks(const struct compiled *c, const char *dir)
{
	const struct fcl_schedule *s = c->s;
	FILE *f = open_csv(dir, "tasks.csv", "task,classes,n_train,n_test,permuted");
	if (!f)
		return -EIO;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		fprintf(f, "%u,", t);
		fcl_schedule_print_classes(f, s->tasks[t].has_class, s->n_classes, 1);
		fprintf(f, ",%u,%u,%d\n", s->tasks[t].n_train, s->tasks[t].n_test,
			s->tasks[t].perm != NULL);
	}
	if (close_csv(f))
		return -EIO;
	if (!is_blurry(c->sc))
		return 0;
	f = open_csv(dir, "blurry.csv", "task,disjoint_classes,blurry_classes,blurry_in,n_train");
	if (!f)
		return -EIO;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		fprintf(f, "%u,", t);
		fcl_schedule_print_classes(f, s->tasks[t].role, s->n_classes, FCL_CLASS_DISJOINT);
		fprintf(f, ",");
		fcl_schedule_print_classes(f, s->tasks[t].role, s->n_classes, FCL_CLASS_BLURRY);
		fprintf(f, ",%u,%u\n", s->tasks[t].blurry_in, s->tasks[t].n_train);
	}
	return close_csv(f);
}

static int write_clients(const struct compiled *c, const char *dir)
{
	const struct fcl_schedule *s = c->s;
	char header[4096];
	size_t o = (size_t)snprintf(header, sizeof header, "client,n_samples");
	uint8_t *mark = calloc(c->train->n + 1, 1);
	uint64_t *hist = calloc(s->n_classes, sizeof *hist);
	FILE *f;
	int rc = -ENOMEM;

	if (!mark || !hist)
		goto out;
	for (uint32_t k = 0; k < s->n_classes && o < sizeof header - 16; k++)
		o += (size_t)snprintf(header + o, sizeof header - o, ",class_%u", k);
	rc = -EIO;
	if (!(f = open_csv(dir, "clients.csv", header)))
		goto out;
	for (uint32_t cl = 0; cl < s->n_clients; cl++) {
		uint64_t n = client_labels(c, cl, mark, hist);
		fprintf(f, "%u,%llu", cl, (unsigned long long)n);
		for (uint32_t k = 0; k < s->n_classes; k++)
			fprintf(f, ",%llu", (unsigned long long)hist[k]);
		fprintf(f, "\n");
	}
	if (close_csv(f))
		goto out;
	if (!(f = open_csv(dir, "timeline.csv", "client,entry,task,start_round,end_round")))
		goto out;
	for (uint32_t cl = 0; cl < s->n_clients; cl++)
		for (uint32_t e = 0; e < fcl_schedule_plan(s, cl)->n_entries; e++) {
			const struct fcl_entry *en = &fcl_schedule_plan(s, cl)->entries[e];
			fprintf(f, "%u,%u,%u,%u,%u\n", cl, e, en->task, en->start, en->end);
		}
	rc = close_csv(f);
out:
	free(mark);
	free(hist);
	return rc;
}

static int write_rounds(const struct compiled *c, const char *dir, int samples)
{
	const struct fcl_schedule *s = c->s;
	uint32_t *part = malloc((size_t)s->n_clients * sizeof *part + 1);
	uint8_t *is_part = calloc(s->n_clients + 1, 1);
	FILE *f = NULL, *g = NULL;
	int rc = -ENOMEM;

	if (!part || !is_part)
		goto out;
	rc = -EIO;
	f = open_csv(dir, "rounds.csv",
		     "round,client,task,n_samples,n_recurrence,epochs,available,participant");
	if (!f || (samples && !(g = open_csv(dir, "samples.csv", "round,client,task,sample"))))
		goto out;
	for (uint32_t r = 0; r < s->n_rounds; r++) {
		uint32_t n = fcl_schedule_participants(s, c->sc->seed, r, part);
		for (uint32_t i = 0; i < n; i++)
			is_part[part[i]] = 1;
		for (uint32_t cl = 0; cl < s->n_clients; cl++) {
			struct fcl_client_round cr;
			fcl_schedule_client_round(s, cl, r, &cr);
			if (cr.task < 0)
				continue;
			fprintf(f, "%u,%u,%d,%u,%u,%u,%d,%d\n", r, cl, cr.task, cr.n, cr.n_rec,
				cr.epochs, fcl_schedule_available(s, c->sc->seed, cl, r),
				is_part[cl]);
			for (uint32_t i = 0; g && i < cr.n; i++)
				fprintf(g, "%u,%u,%d,%u\n", r, cl, cr.task, cr.idx[i]);
			for (uint32_t i = 0; g && i < cr.n_rec; i++)
				fprintf(g, "%u,%u,%u,%u\n", r, cl, cr.rec_task[i], cr.rec_idx[i]);
		}
		for (uint32_t i = 0; i < n; i++)
			is_part[part[i]] = 0;
	}
	rc = 0;
out:
	if (f && close_csv(f))
		rc = -EIO;
	if (g && close_csv(g))
		rc = -EIO;
	free(part);
	free(is_part);
	return rc;
}

int fcl_schedule_write_csv(const struct fcl_schedule *s, const struct fcl_scenario *sc,
			   const struct fcl_dataset *train, const char *dir, int samples)
{
	const struct compiled c = {.sc = sc, .train = train, .s = s};
	int rc = write_tasks(&c, dir);

	rc = rc ? rc : write_clients(&c, dir);
	return rc ? rc : write_rounds(&c, dir, samples);
}

int fcl_schedule_write_tasks_csv(const struct fcl_schedule *s, const struct fcl_scenario *sc,
				 const struct fcl_dataset *train, const char *dir)
{
	const struct compiled c = {.sc = sc, .train = train, .s = s};
	return write_tasks(&c, dir);
}

uint64_t fcl_schedule_client_labels(const struct fcl_schedule *s, const struct fcl_dataset *train,
				    uint32_t client, uint8_t *mark, uint64_t *hist)
{
	const struct compiled c = {.train = train, .s = s};
	return client_labels(&c, client, mark, hist);
}
