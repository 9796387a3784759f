/* tools/fcl-scenario.c - check, show and compile scenario files
 *
 *   fcl-scenario check FILE...             strict validation (the data loads), one line per file
 *   fcl-scenario show FILE [--seed N]      readable summary of the compiled schedule
 *   fcl-scenario compile FILE -o DIR [--seed N] [--samples]
 *                                          the compiled schedule as CSV files
 *
 * The CSV files are what a researcher reads to see what each client meets
 * and when; their columns are documented in docs/scenarios.md and kept
 * stable. Compiling is a pure function of (file, seed, data): the same
 * input gives byte-identical files.
 */
#include "fcl/cli.h"
#include "fcl/data.h"
#include "fcl/devices.h"
#include "fcl/estimate.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-scenario check FILE... [--seed N]\n"
		   "       fcl-scenario show FILE [--seed N]\n"
		   "       fcl-scenario compile FILE -o DIR [--seed N] [--samples]\n"
		   "       fcl-scenario --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf("\n  check FILE...     strict validation of each file, one line per file\n"
	       "  show FILE         what the compiled schedule gives each client and task\n"
	       "  compile FILE -o DIR  the compiled schedule as CSV files in DIR\n"
	       "                    (columns in docs/scenarios.md)\n"
	       "  --seed N          compile with seed N instead of the scenario's\n"
	       "  -o, --out DIR     compile: the folder for the CSV files (created)\n"
	       "  --samples         compile: also each client's sample ids (samples.csv)\n"
	       "  -h, --help, --version\n\n"
	       "show and compile read the data set the scenario names.\n\n"
	       "Exit status: 0 every file is valid (done); 1 a file is invalid or its data\n"
	       "cannot be read or compiled; 2 bad command line.\n");
}

/* An argument no command takes: an option it does not know, or one too many. */
static int bad_argument(const char *arg)
{
	if (arg[0] == '-' && arg[1])
		fcl_cli_unknown_option("fcl-scenario", arg);
	else
		fcl_cli_unexpected("fcl-scenario", arg);
	return 2;
}

/* "--seed" needing a value at argv[i + 1]: 0 and the seed, or 2. */
static int seed_option(int argc, char **argv, int *i, long long *seed)
{
	uint64_t v;

	if (*i + 1 >= argc) {
		fcl_cli_needs_value("fcl-scenario", argv[*i]);
		return 2;
	}
	if (fcl_cli_u64("fcl-scenario", "--seed", argv[++*i], 0, &v) != 0 || v > LLONG_MAX)
		return 2;
	*seed = (long long)v;
	return 0;
}

struct compiled {
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule s;
	struct fcl_devices dev; /* with a devices section */
	struct fcl_arch arch;   /* the model on this data */
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
	if ((rc = fcl_scenario_arch(&c->sc, c->s.shape, c->s.n_classes, &c->arch, err,
				    sizeof err)) != 0) {
		fprintf(stderr, "%s\n", err);
		free_compiled(c);
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

/* Tasks the seed leaves empty, and what the scenario's methods do poorly, as
 * warnings on stderr. */
static void warn_empty(const char *path, const struct compiled *c)
{
	char what[2048];

	if (fcl_scenario_caveat(&c->sc, what, sizeof what))
		fprintf(stderr, "%s: warning: %s\n", path, what);
	if (fcl_schedule_empty_tasks(&c->s, what, sizeof what))
		fprintf(stderr, "%s: warning: with seed %llu, %s\n", path,
			(unsigned long long)c->sc.seed, what);
}


/* ---- check ---------------------------------------------------------------- */

/* Each file parses, and compiles against its data with its seed (or --seed):
 * an error is one line and a failure (the data must load: every file whole,
 * every label inside the class count); tasks left empty are a warning. */
static int cmd_check(int argc, char **argv)
{
	long long seed = -1;
	int bad = 0, files = 0;

	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--seed")) {
			int rc = seed_option(argc, argv, &i, &seed);
			if (rc)
				return rc;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return bad_argument(argv[i]);
		} else {
			files++;
		}
	if (files < 1) {
		fprintf(stderr, "fcl-scenario: check: no scenario given\n");
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < argc; i++) {
		struct compiled c;
		if (!strcmp(argv[i], "--seed")) {
			i++;
			continue;
		}
		if (compile_file(argv[i], seed, &c) != 0) {
			bad++;
			continue;
		}
		struct fcl_estimate e;
		const struct fcl_estimate_data loaded = fcl_estimate_data_of(&c.train, &c.test);
		fcl_estimate_scenario(&c.sc, &loaded, &e);
		printf("%s: ok (%s, %u clients, %u tasks of %s; %u classes, %u + %u samples of "
		       "%ux%ux%u)\n",
		       argv[i], c.sc.name, c.sc.clients.count, c.sc.tasks.count,
		       fcl_task_kind_name(c.sc.tasks.kind), c.train.n_classes, c.train.n, c.test.n,
		       c.train.shape.c, c.train.shape.h, c.train.shape.w);
		printf("  estimates: %llu rounds, %llu parameters (%.2f M multiply-adds per "
		       "sample), peak memory %.1f MiB server "
		       "and %.1f MiB client process (all clients), run folder %.1f MiB "
		       "(limits %llu rounds, %llu MiB, %llu MiB)\n",
		       (unsigned long long)e.rounds, (unsigned long long)e.params, e.macs / 1e6,
		       e.server_bytes / 1048576.0, e.client_bytes / 1048576.0,
		       e.disk_bytes / 1048576.0, (unsigned long long)c.sc.run.limits.rounds,
		       (unsigned long long)c.sc.run.limits.memory_mb,
		       (unsigned long long)c.sc.run.limits.disk_mb);
		fflush(stdout);
		warn_empty(argv[i], &c);
		free_compiled(&c);
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
	printf("data: %u training and %u test samples, %u classes, %u features (%ux%ux%u)\n",
	       c->train.n, c->test.n, s->n_classes, s->dim, c->train.shape.c, c->train.shape.h,
	       c->train.shape.w);
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
		fcl_arch_print(stdout, &c->arch);
		if (c->arch.n_params > c->arch.n_trained)
			printf("  model.batchnorm: %s\n",
			       c->sc.model.batchnorm ? "local (each client keeps its own)"
						     : "fedavg (aggregated like parameters)");
		show_timeline(c, mark, hist);
		show_totals(c, mark, hist, part);
		show_devices(c);
	}
	free(mark);
	free(hist);
	free(part);
}

static int cmd_show(int argc, char **argv)
{
	long long seed = -1;
	const char *file = NULL;
	struct compiled c;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--seed")) {
			if (seed_option(argc, argv, &i, &seed))
				return 2;
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			return bad_argument(argv[i]);
		}
	}
	if (!file) {
		fprintf(stderr, "fcl-scenario: show: no scenario given\n");
		usage(stderr);
		return 2;
	}
	if (compile_file(file, seed, &c))
		return 1;
	show(&c);
	fflush(stdout);
	warn_empty(file, &c);
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
		if (!strcmp(argv[i], "--seed")) {
			if (seed_option(argc, argv, &i, &seed))
				return 2;
		} else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) {
			if (i + 1 >= argc) {
				fcl_cli_needs_value("fcl-scenario", argv[i]);
				return 2;
			}
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--samples")) {
			samples = 1;
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			return bad_argument(argv[i]);
		}
	}
	if (!file || !dir) {
		fprintf(stderr, "fcl-scenario: compile: %s\n",
			!file ? "no scenario given" : "-o DIR is missing");
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
	/* --help and --version anywhere, e.g. after a command */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			help();
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			fcl_cli_version("fcl-scenario");
			return 0;
		}
	}
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "show"))
		return cmd_show(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "compile"))
		return cmd_compile(argc - 2, argv + 2);
	if (argc >= 2 && argv[1][0] == '-')
		return bad_argument(argv[1]);
	if (argc >= 2)
		fprintf(stderr, "fcl-scenario: unknown command '%s' (see fcl-scenario --help)\n",
			argv[1]);
	usage(stderr);
	return 2;
}
