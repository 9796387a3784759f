/* tools/fcl-compare.c - aggregation rules side by side on identical client streams
 *
 *   fcl-compare SCENARIO.yaml --rules fedavg,fot[,...] [--seeds N] [--out DIR]
 *               [--procs P] [--set KEY=VALUE]... [--client-arg ARG]...
 *
 * For every rule and seed (the scenario's seed, +1, ..., +N-1) it writes the
 * derived scenario DIR/<rule>-seed<S>.yaml (the scenario text with
 * aggregation.rule, seed and any --set edits applied) and runs fcl-sim on it
 * into DIR/<rule>-seed<S>/. Everything but the rule is the same text, so every
 * rule sees the same clients, shards, task streams, participants and local
 * shuffles; running `fcl-sim DIR/<rule>-seed<S>.yaml` alone gives the same
 * numbers (tests/net/compare.sh checks it). At the end it writes DIR/compare.csv
 * (one row per run) and DIR/compare.md (per run, then mean +- std per rule over
 * seeds) and prints the markdown.
 *
 * --strategies S1,S2 crosses the rules with client strategies (strategy.name;
 * give their parameters with --set strategy.memory=...): a run per rule,
 * strategy and seed, named <rule>-<strategy>-seed<S>.
 *
 * --variant NAME:KEY=VALUE (repeatable; the edits of one NAME add up) crosses
 * them with variants of the scenario, e.g. aggregation modes of a scenario
 * with device profiles: runs <rule>[-<strategy>]-<NAME>-seed<S>. With
 * simulated time the tables give each run's simulated seconds, and with
 * --target ACC the simulated time at which task 0's accuracy first reached
 * ACC; --plot draws every run's accuracy against rounds and simulated time
 * with fcl-report into DIR/plots.
 */
#include "compare.h"

#include "fcl/override.h"
#include "fcl/scenario.h"
#include "fcl/util.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run_sim(const char *sim, const char *scenario, const char *run_dir, const char *procs,
		   char **client_args, size_t n_client_args, const char *log_path)
{
	const char *argv[16 + 2 * 64];
	size_t n = 0;
	argv[n++] = sim;
	argv[n++] = scenario;
	argv[n++] = "--run-dir";
	argv[n++] = run_dir;
	argv[n++] = "--force"; /* fcl-sim refuses a folder that exists without it */
	argv[n++] = "--quiet";
	if (procs) {
		argv[n++] = "--procs";
		argv[n++] = procs;
	}
	for (size_t i = 0; i < n_client_args && n < sizeof argv / sizeof argv[0] - 2; i++) {
		argv[n++] = "--client-arg";
		argv[n++] = client_args[i];
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		FILE *f = freopen(log_path, "w", stdout);
		if (f)
			dup2(fileno(stdout), 2);
		execv(sim, (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fcl-compare SCENARIO.yaml --rules R1,R2,... [--seeds N] [--out DIR]\n"
		"                   [--strategies S1,...] [--procs P] [--set KEY=VALUE]...\n"
		"                   [--variant NAME:KEY=VALUE]... [--target ACC] [--plot]\n"
		"                   [--client-arg ARG]...\n"
		"  --rules   aggregation rules: fedavg, fot, fedprox, fedavgm, fedadam, fedyogi,\n"
		"            fednova, median, trimmed-mean, krum, scaffold\n"
		"  --strategies  client strategies to cross with the rules (strategy.name)\n"
		"  --seeds   seeds per rule: the scenario's seed and the next N-1 (default 1)\n"
		"  --out     output folder (default runs/compare-<name>-<time>)\n"
		"  --set     scenario edit applied to every run, e.g. tasks.rounds_per_task=20\n"
		"  --variant NAME:KEY=VALUE  a variant of the scenario to cross with the rules\n"
		"            (repeatable; the edits of one NAME add up)\n"
		"  --target ACC  with simulated time: when task 0's accuracy first reached ACC\n"
		"  --plot    draw the runs with fcl-report into DIR/plots\n"
		"  --client-arg  passed to every client process through fcl-sim\n");
}

/* What one run writes: the derived scenario, the run folder, fcl-sim's log. */
struct run_files {
	char yaml[PATH_MAX], dir[PATH_MAX], log[PATH_MAX];
};

/* --variant NAME:KEY=VALUE: 0, or -1 when it is malformed or there are too many. */
static int add_variant(struct compare *c, const char *v)
{
	const char *colon = strchr(v, ':');
	size_t len = colon ? (size_t)(colon - v) : 0, k;

	if (!len || len >= sizeof c->var_name[0] || !strchr(colon, '=') ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return -1;
	for (k = 0; k < c->n_vars; k++)
		if (strlen(c->var_name[k]) == len && !strncmp(c->var_name[k], v, len))
			break;
	if (k == c->n_vars) {
		if (c->n_vars == MAX_VARIANTS)
			return -1;
		memcpy(c->var_name[k], v, len);
		c->var_name[k][len] = '\0';
		c->n_vars++;
	}
	if (c->n_var_sets[k] == MAX_VARIANT_SETS)
		return -1;
	c->var_sets[k][c->n_var_sets[k]++] = colon + 1;
	return 0;
}

/* Returns -1 to exit 0 (--help), 0 to go on, 2 on a usage error. */
static int parse_args(struct compare *c, int argc, char **argv)
{
	c->n_seeds = 1;
	c->target = NAN;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char name[64];
		const char *eq = strchr(a, '=');
		int joined = 0; /* --opt=value */
		if (a[0] == '-' && a[1] == '-' && eq && (size_t)(eq - a) < sizeof name) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			a = name;
			v = eq + 1;
			joined = 1;
			i--; /* the value is not a separate argument */
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return -1;
		} else if (!strcmp(a, "--rules") && v) {
			c->rules_arg = v;
			i++;
		} else if (!strcmp(a, "--seeds") && v) {
			c->n_seeds = strtoul(v, NULL, 10);
			i++;
		} else if (!strcmp(a, "--out") && v) {
			c->out_arg = v;
			i++;
		} else if (!strcmp(a, "--procs") && v) {
			c->procs = v;
			i++;
		} else if (!strcmp(a, "--set") && v && c->n_sets < MAX_SETS) {
			c->sets[c->n_sets++] = v;
			i++;
		} else if (!strcmp(a, "--client-arg") && v && c->n_client_args < 64) {
			c->client_args[c->n_client_args++] = (char *)v;
			i++;
		} else if (!strcmp(a, "--strategies") && v) {
			c->strategies_arg = v;
			i++;
		} else if (!strcmp(a, "--variant") && v && add_variant(c, v) == 0) {
			i++;
		} else if (!strcmp(a, "--target") && v) {
			c->target = strtod(v, NULL);
			i++;
		} else if (!strcmp(a, "--plot") && !joined) {
			c->plot = 1;
		} else if (joined) {
			usage(stderr);
			return 2;
		} else if (a[0] != '-' && !c->scenario) {
			c->scenario = a;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!c->scenario || !c->rules_arg || c->n_seeds == 0 || c->n_seeds > 1000) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* The scenario as given, checked; 0 or 2 after saying why. */
static int load_scenario(struct compare *c)
{
	char err[1024];

	if (fcl_scenario_load(&c->sc, c->scenario, &c->text, &c->len, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	/* the data path resolved against the scenario's folder, so derived files work anywhere */
	snprintf(c->data_set, sizeof c->data_set, "data.path=\"%s\"", c->sc.data.path);
	int path_set = 0;
	for (size_t i = 0; i < c->n_sets; i++)
		path_set |= strncmp(c->sets[i], "data.path=", 10) == 0;
	if (!path_set && c->sc.data.kind != FCL_DATASET_SYNTHETIC)
		c->sets[c->n_sets++] = c->data_set;
	return 0;
}

/* The first MAX_RULES names of a comma-separated list. */
static size_t split_list(const char *arg, char (*names)[32])
{
	char *list = strdup(arg), *save = NULL;
	size_t n = 0;

	for (char *r = strtok_r(list, ",", &save); r && n < MAX_RULES;
	     r = strtok_r(NULL, ",", &save))
		snprintf(names[n++], sizeof names[0], "%s", r);
	free(list);
	return n;
}

/* Every rule, crossed with every strategy when given. */
static int make_combinations(struct compare *c)
{
	char rl[MAX_RULES][32], stl[MAX_RULES][32];
	size_t n_rl = split_list(c->rules_arg, rl), n_sl = 0;

	if (c->strategies_arg)
		n_sl = split_list(c->strategies_arg, stl);
	for (size_t a = 0; a < n_rl; a++)
		for (size_t b = 0; b < (n_sl ? n_sl : 1); b++)
			for (size_t v = 0; v < (c->n_vars ? c->n_vars : 1); v++) {
				size_t k = c->n_rules;
				const char *var = c->n_vars ? c->var_name[v] : "";
				int w1 = snprintf(c->rule_of[k], sizeof c->rule_of[0], "%s", rl[a]);
				int w2 = snprintf(c->strat_of[k], sizeof c->strat_of[0], "%s",
						  n_sl ? stl[b] : "");
				int w3 = snprintf(c->rules[k], sizeof c->rules[0], "%s%s%s%s%s",
						  rl[a], n_sl ? "/" : "", n_sl ? stl[b] : "",
						  *var ? "/" : "", var);
				if (w1 < 0 || w2 < 0 || w3 < 0)
					return 2;
				c->var_of[k] = c->n_vars ? (int)v : -1;
				c->n_rules++;
			}
	return 0;
}

/* --out, or runs/compare-<name>-<time>; and fcl-sim next to us. 0 or 2. */
static int prepare_paths(struct compare *c)
{
	if (c->out_arg) {
		snprintf(c->out, sizeof c->out, "%s", c->out_arg);
	} else {
		time_t t = time(NULL);
		struct tm tm;
		char stamp[32];
		localtime_r(&t, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		snprintf(c->out, sizeof c->out, "runs/compare-%s-%s", c->sc.name, stamp);
	}
	if (fcl_mkdir_p(c->out) != 0) {
		fprintf(stderr, "fcl-compare: cannot create %s\n", c->out);
		return 2;
	}

	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0) {
		fprintf(stderr, "fcl-compare: cannot find myself\n");
		return 2;
	}
	self[sl] = '\0';
	snprintf(c->sim, sizeof c->sim, "%s/fcl-sim", dirname(self));
	return 0;
}

/* Writes the scenario of combination ri with seed r->seed (the text with
 * aggregation.rule, seed, strategy.name and the --set edits applied, checked)
 * to f->yaml; *rounds_per_task is its tasks.rounds_per_task. 0 or 2. */
static int write_derived(struct compare *c, size_t ri, const struct result *r, struct run_files *f,
			 uint32_t *rounds_per_task)
{
	char rule_set[64], seed_set[64], strat_set[64], stem[100], err[1024];
	const char *sets[MAX_SETS + 4 + MAX_VARIANT_SETS];
	int var = c->var_of[ri];
	size_t n = c->n_sets;
	char *dtext;
	size_t dlen;

	snprintf(rule_set, sizeof rule_set, "aggregation.rule=%s", c->rule_of[ri]);
	if (snprintf(strat_set, sizeof strat_set, "strategy.name=%s", c->strat_of[ri]) < 0)
		return 2;
	if (snprintf(stem, sizeof stem, "%s%s%s%s%s", c->rule_of[ri], c->strat_of[ri][0] ? "-" : "",
		     c->strat_of[ri], var >= 0 ? "-" : "", var >= 0 ? c->var_name[var] : "") < 0)
		return 2;
	snprintf(seed_set, sizeof seed_set, "seed=%llu", (unsigned long long)r->seed);
	memcpy(sets, c->sets, n * sizeof *sets);
	sets[n++] = rule_set;
	sets[n++] = seed_set;
	if (c->strat_of[ri][0])
		sets[n++] = strat_set;
	for (size_t k = 0; var >= 0 && k < c->n_var_sets[var]; k++)
		sets[n++] = c->var_sets[var][k];
	struct fcl_scenario check;
	if (fcl_scenario_override(c->text, c->len, sets, n, &dtext, &dlen, err, sizeof err) != 0 ||
	    fcl_scenario_parse(&check, dtext, dlen, "<derived>", err, sizeof err) != 0) {
		fprintf(stderr, "fcl-compare: rule %s: %s\n", c->rules[ri], err);
		return 2;
	}
	*rounds_per_task = check.tasks.rounds_per_task;
	snprintf(f->yaml, sizeof f->yaml, "%s/%s-seed%llu.yaml", c->out, stem,
		 (unsigned long long)r->seed);
	snprintf(f->dir, sizeof f->dir, "%s/%s-seed%llu", c->out, stem,
		 (unsigned long long)r->seed);
	if (snprintf(f->log, sizeof f->log, "%s.log", f->dir) >= (int)sizeof f->log)
		return 2;
	int wrc = fcl_write_file_atomic(f->yaml, dtext, dlen);
	free(dtext);
	if (wrc != 0) {
		fprintf(stderr, "fcl-compare: cannot write %s\n", f->yaml);
		return 2;
	}
	return 0;
}

/* Runs fcl-sim on the derived scenario and reads its results into r. */
static void run_one(struct compare *c, const struct run_files *f, uint32_t rounds_per_task,
		    struct result *r)
{
	fprintf(stderr, "fcl-compare: %s seed %llu ...", r->rule, (unsigned long long)r->seed);
	double t0 = now();
	int rc =
	    run_sim(c->sim, f->yaml, f->dir, c->procs, c->client_args, c->n_client_args, f->log);
	r->wall = now() - t0;
	r->ok = compare_read_run(f->dir, rounds_per_task, c->target, r) == 0 && rc == 0;
	fprintf(stderr, r->ok ? " %.2f%% in %.1f s\n" : " FAILED (%.0f, %.1f s), see %s\n",
		r->ok ? 100 * r->acc : 0.0, r->wall, r->ok ? "" : f->log);
}

/* Every combination with every seed, in order; *failed counts the runs that
 * did not complete. 0, or 2 when a run could not be set up. */
static int run_all(struct compare *c, int *failed)
{
	for (size_t ri = 0; ri < c->n_rules; ri++) {
		for (unsigned long si = 0; si < c->n_seeds; si++) {
			struct result *r = &c->res[ri * c->n_seeds + si];
			struct run_files f;
			uint32_t rounds_per_task;

			snprintf(r->rule, sizeof r->rule, "%s", c->rules[ri]);
			r->seed = c->sc.seed + si;
			if (write_derived(c, ri, r, &f, &rounds_per_task))
				return 2;
			snprintf(r->dir, sizeof r->dir, "%s", f.dir);
			run_one(c, &f, rounds_per_task, r);
			*failed += !r->ok;
		}
	}
	return 0;
}

/* --plot: fcl-report (next to fcl-sim) over the runs that completed, into
 * DIR/plots. 0 or -1. */
static int plot_runs(const struct compare *c)
{
	char report[PATH_MAX + 16], out[PATH_MAX];
	const char **argv = calloc(c->n_rules * c->n_seeds + 4, sizeof *argv);
	size_t n = 0;
	int st = 0;

	if (!argv)
		return -1;
	snprintf(report, sizeof report, "%s", c->sim);
	snprintf(strrchr(report, '/') + 1, 16, "fcl-report");
	snprintf(out, sizeof out, "%s/plots", c->out);
	argv[n++] = report;
	argv[n++] = "-o";
	argv[n++] = out;
	for (size_t i = 0; i < c->n_rules * c->n_seeds; i++)
		if (c->res[i].ok)
			argv[n++] = c->res[i].dir;
	fprintf(stderr, "fcl-compare: plotting %zu runs into %s\n", n - 3, out);
	pid_t pid = fork();
	if (pid == 0) {
		execv(report, (char *const *)argv);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	free(argv);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct compare c; /* large; static keeps it off the stack */
	char csv_path[PATH_MAX], md_path[PATH_MAX];
	int rc, failed = 0;

	rc = parse_args(&c, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = load_scenario(&c)) != 0 || (rc = make_combinations(&c)) != 0 ||
	    (rc = prepare_paths(&c)) != 0)
		return rc;
	c.res = calloc(c.n_rules * c.n_seeds, sizeof *c.res);
	if ((rc = run_all(&c, &failed)) != 0)
		return rc;

	snprintf(csv_path, sizeof csv_path, "%s/compare.csv", c.out);
	snprintf(md_path, sizeof md_path, "%s/compare.md", c.out);
	if ((rc = compare_write_tables(&c, csv_path, md_path)) != 0)
		return rc;
	char *table;
	size_t tlen;
	if (fcl_read_file(md_path, &table, &tlen) == 0) {
		fwrite(table, 1, tlen, stdout);
		free(table);
	}
	printf("\ntables: %s, %s\n", md_path, csv_path);
	if (c.plot && plot_runs(&c) != 0) {
		fprintf(stderr, "fcl-compare: fcl-report failed (is gnuplot installed?)\n");
		failed = 1;
	}
	free(c.res);
	free(c.text);
	return failed ? 1 : 0;
}
