/* tools/fcl-scenario.c - check, show and compile scenario files
 *
 *   fcl-scenario check FILE...             strict validation, one line per file
 *   fcl-scenario show FILE [--seed N]      readable summary of the compiled schedule
 *   fcl-scenario compile FILE -o DIR [--seed N] [--samples]
 *                                          the compiled schedule as CSV files
 *
 * The CSV files are what a researcher reads to see what each client meets
 * and when; their columns are documented in docs/scenarios.md and kept
 * stable. Compiling is a pure function of (file, seed, data): the same
 * input gives byte-identical files.
 */
#include "fcl/data.h"
#include "fcl/devices.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-scenario check FILE...\n"
		   "       fcl-scenario show FILE [--seed N]\n"
		   "       fcl-scenario compile FILE -o DIR [--seed N] [--samples]\n");
}

struct compiled {
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule s;
	struct fcl_devices dev; /* with a devices section */
};

static void free_compiled(struct compiled *c);

static int compile_file(const char *path, long long seed, struct compiled *c)
{
	char err[1024];
	int rc;

	memset(c, 0, sizeof *c);
	if ((rc = fcl_scenario_load(&c->sc, path, NULL, NULL, err, sizeof err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	if (seed >= 0)
		c->sc.seed = (uint64_t)seed;
	if ((rc = fcl_schedule_load_data(&c->sc, &c->train, &c->test, err, sizeof err)) != 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		return rc;
	}
	if ((rc = fcl_schedule_compile(&c->s, &c->sc, &c->train, &c->test)) != 0) {
		fprintf(stderr, "%s: cannot compile the schedule against the data: %s\n", path,
			rc == -EINVAL ? "the data does not fit it (e.g. more shards than samples)"
				      : strerror(-rc));
		fcl_dataset_fini(&c->train);
		fcl_dataset_fini(&c->test);
		return rc;
	}
	if (fcl_scenario_timed(&c->sc) &&
	    (rc = fcl_devices_compile(&c->dev, &c->sc, err, sizeof err)) != 0) {
		fprintf(stderr, "%s: device profiles: %s\n", path,
			rc == -ENOMEM ? "out of memory" : err);
		free_compiled(c);
	}
	return rc;
}

static void free_compiled(struct compiled *c)
{
	fcl_devices_fini(&c->dev);
	fcl_schedule_fini(&c->s);
	fcl_dataset_fini(&c->train);
	fcl_dataset_fini(&c->test);
}

static int is_blurry(const struct fcl_scenario *sc)
{
	return sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY;
}

/* ---- check ---------------------------------------------------------------- */

static int cmd_check(int argc, char **argv)
{
	int bad = 0;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		struct fcl_scenario sc;
		char err[1024];
		if (fcl_scenario_load(&sc, argv[i], NULL, NULL, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			bad++;
		} else {
			printf("%s: ok (%s, %u clients, %u tasks of %s)\n", argv[i], sc.name,
			       sc.clients.count, sc.tasks.count, fcl_task_kind_name(sc.tasks.kind));
		}
	}
	return bad ? 1 : 0;
}

/* ---- show ----------------------------------------------------------------- */

/* The scenario's data, clients and tasks. */
static void show_setup(const struct compiled *c)
{
	const struct fcl_scenario *sc = &c->sc;
	const struct fcl_schedule *s = &c->s;

	printf("scenario %s, seed %llu, schedule digest %016llx\n", sc->name,
	       (unsigned long long)sc->seed, (unsigned long long)fcl_schedule_digest(s));
	printf("data: %u training and %u test samples, %u classes, %u features\n", c->train.n,
	       c->test.n, s->n_classes, s->dim);
	printf("clients: %u, partition %s", s->n_clients,
	       fcl_partition_kind_name(sc->clients.partition));
	if (sc->clients.partition == FCL_PARTITION_DIRICHLET ||
	    sc->clients.partition == FCL_PARTITION_QUANTITY)
		printf(" (alpha %g)", sc->clients.alpha);
	if (sc->clients.partition == FCL_PARTITION_SHARDS)
		printf(" (%u shards each)", sc->clients.shards_per_client);
	printf(", up to %u per round, participation %g\n", s->per_round, s->participation);
	printf("tasks: %u, generator %s, %u rounds per task, %s", s->n_tasks,
	       fcl_task_kind_name(sc->tasks.kind), s->rounds_per_task,
	       s->online ? "online stream (one pass)" : "offline");
	if (s->online && s->samples_per_round)
		printf(", %u stream samples per round", s->samples_per_round);
	else if (!s->online)
		printf(", %u local epochs per round", s->local_epochs);
	printf("\n");
	if (sc->recurrence.kind == FCL_RECURRENCE_POWER_LAW)
		printf("recurrence: power law, exponent %g, offset %g, lag from %s, budget %g\n",
		       sc->recurrence.exponent, sc->recurrence.offset,
		       sc->recurrence.lag_from_introduction ? "introduction" : "last seen",
		       sc->recurrence.budget);
	for (uint32_t t = 0; t < s->n_tasks && t < 50; t++) {
		const struct fcl_task *k = &s->tasks[t];
		printf("  task %u: ", t);
		if (is_blurry(sc)) {
			printf("disjoint {");
			fcl_schedule_print_classes(stdout, k->role, s->n_classes,
						   FCL_CLASS_DISJOINT);
			printf("} blurry {");
			fcl_schedule_print_classes(stdout, k->role, s->n_classes, FCL_CLASS_BLURRY);
			printf("}, %u blurry samples in", k->blurry_in);
		} else {
			printf("classes {");
			fcl_schedule_print_classes(stdout, k->has_class, s->n_classes, 1);
			printf("}%s", k->perm ? ", permuted pixels" : "");
		}
		printf(", %u train, %u test\n", k->n_train, k->n_test);
	}
	if (s->n_tasks > 50)
		printf("  ... %u more tasks\n", s->n_tasks - 50);
}

/* When each of the first clients meets each task. */
static void show_timeline(const struct compiled *c, uint8_t *mark, uint64_t *hist)
{
	const struct fcl_schedule *s = &c->s;

	printf("timeline: %u rounds, clients %s\n", s->n_rounds,
	       s->in_phase ? "in phase (one task clock)" : "out of phase");
	for (uint32_t cl = 0; cl < s->n_clients && cl < 16; cl++) {
		const struct fcl_client_plan *p = fcl_schedule_plan(s, cl);
		uint64_t n = fcl_schedule_client_labels(s, &c->train, cl, mark, hist);
		printf("  client %u (%llu samples):", cl, (unsigned long long)n);
		for (uint32_t e = 0; e < p->n_entries && e < 12; e++)
			printf(" t%u@%u-%u", p->entries[e].task, p->entries[e].start,
			       p->entries[e].end - 1);
		if (p->n_entries > 12)
			printf(" ... (%u entries)", p->n_entries);
		if (p->join || p->leave)
			printf(", present from round %u%s", p->join, p->leave ? "" : " on");
		if (p->leave)
			printf(" to %u", p->leave - 1);
		if (p->participation != s->participation)
			printf(", participation %g", p->participation);
		printf("\n");
	}
	if (s->n_clients > 16)
		printf("  ... %u more clients\n", s->n_clients - 16);
}

/* Samples per client, participants per round and the run's sample passes. */
static void show_totals(const struct compiled *c, uint8_t *mark, uint64_t *hist, uint32_t *part)
{
	const struct fcl_schedule *s = &c->s;
	uint64_t min = UINT64_MAX, max = 0, sum = 0;

	for (uint32_t cl = 0; cl < s->n_clients; cl++) {
		uint64_t n = fcl_schedule_client_labels(s, &c->train, cl, mark, hist);
		min = n < min ? n : min;
		max = n > max ? n : max;
		sum += n;
	}
	printf("samples per client: min %llu, mean %.1f, max %llu\n", (unsigned long long)min,
	       (double)sum / s->n_clients, (unsigned long long)max);
	uint32_t pmin = UINT32_MAX, pmax = 0;
	uint64_t psum = 0, train_sum = 0;
	for (uint32_t r = 0; r < s->n_rounds; r++) {
		uint32_t n = fcl_schedule_participants(s, c->sc.seed, r, part);
		pmin = n < pmin ? n : pmin;
		pmax = n > pmax ? n : pmax;
		psum += n;
		for (uint32_t i = 0; i < n; i++) {
			struct fcl_client_round cr;
			fcl_schedule_client_round(s, part[i], r, &cr);
			train_sum += (uint64_t)(cr.n + cr.n_rec) * cr.epochs;
		}
	}
	printf("participants per round: min %u, mean %.1f, max %u; %llu sample passes in all\n",
	       pmin, (double)psum / s->n_rounds, pmax, (unsigned long long)train_sum);
}

/* With a devices section: the spread of speeds, and how the clock runs. */
static void show_devices(const struct compiled *c)
{
	const struct fcl_scenario *sc = &c->sc;
	double lo, med, hi;

	if (!fcl_scenario_timed(sc))
		return;
	fcl_devices_speed_range(&c->dev, &lo, &med, &hi);
	printf("devices: speed %.3g .. %.3g samples/s (median %.3g); simulated time, %s", lo, hi,
	       med,
	       sc->aggregation.mode == FCL_AGG_SYNC                ? "synchronous rounds"
	       : sc->aggregation.async.method == FCL_ASYNC_FEDBUFF ? "FedBuff"
								   : "FedAsync");
	if (sc->tasks.seconds_per_task > 0)
		printf(", tasks of %g s", sc->tasks.seconds_per_task);
	printf(" (devices.csv: fcl-scenario compile)\n");
}

static void show(const struct compiled *c)
{
	const struct fcl_schedule *s = &c->s;
	uint8_t *mark = calloc(c->train.n + 1, 1);
	uint64_t *hist = calloc(s->n_classes, sizeof *hist);
	uint32_t *part = malloc((size_t)s->n_clients * sizeof *part + 1);

	if (!mark || !hist || !part)
		fprintf(stderr, "out of memory\n");
	else {
		show_setup(c);
		show_timeline(c, mark, hist);
		show_totals(c, mark, hist, part);
		show_devices(c);
	}
	free(mark);
	free(hist);
	free(part);
}

static int parse_seed(const char *s, long long *out)
{
	char *end;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || *end || *out < 0 ? -EINVAL : 0;
}

static int cmd_show(int argc, char **argv)
{
	long long seed = -1;
	const char *file = NULL;
	struct compiled c;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (parse_seed(argv[++i], &seed)) {
				fprintf(stderr, "fcl-scenario: bad --seed %s\n", argv[i]);
				return 2;
			}
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!file) {
		usage(stderr);
		return 2;
	}
	if (compile_file(file, seed, &c))
		return 1;
	show(&c);
	free_compiled(&c);
	return 0;
}

/* ---- compile --------------------------------------------------------------- */

static int cmd_compile(int argc, char **argv)
{
	long long seed = -1;
	const char *file = NULL, *dir = NULL;
	int samples = 0, rc;
	struct compiled c;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (parse_seed(argv[++i], &seed)) {
				fprintf(stderr, "fcl-scenario: bad --seed %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--samples")) {
			samples = 1;
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!file || !dir) {
		usage(stderr);
		return 2;
	}
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "fcl-scenario: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (compile_file(file, seed, &c))
		return 1;
	rc = fcl_schedule_write_csv(&c.s, &c.sc, &c.train, dir, samples);
	if (!rc && fcl_scenario_timed(&c.sc)) {
		char path[4096];
		snprintf(path, sizeof path, "%s/devices.csv", dir);
		rc = fcl_devices_write_csv(&c.dev, path);
	}
	if (!rc)
		printf("%s: %u tasks, %u clients, %u rounds -> %s/\n", file, c.s.n_tasks,
		       c.s.n_clients, c.s.n_rounds, dir);
	free_compiled(&c);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "compile"))
		return cmd_compile(argc - 2, argv + 2);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
