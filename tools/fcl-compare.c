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
 */
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

#define MAX_RULES 16
#define MAX_SETS 64

struct result {
	char rule[72]; /* rule, or rule/strategy */
	uint64_t seed;
	int ok;
	double acc, fgt_first, fgt_max, bwt, a_inc, a_auc, wall;
	unsigned long long up, down;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int json_number(const char *text, const char *key, double *out)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(text, pat);
	if (!p)
		return -1;
	*out = strtod(p + strlen(pat), NULL);
	return 0;
}

/* The last "bytes_up"/"bytes_down" in events.jsonl: the run's totals. */
static void read_traffic(const char *dir, struct result *r)
{
	char path[PATH_MAX], line[8192];
	if (snprintf(path, sizeof path, "%s/events.jsonl", dir) >= (int)sizeof path)
		return;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (!strstr(line, "\"event\":\"done\""))
			continue;
		double v;
		if (json_number(line, "bytes_up", &v) == 0)
			r->up = (unsigned long long)v;
		if (json_number(line, "bytes_down", &v) == 0)
			r->down = (unsigned long long)v;
	}
	fclose(f);
}

/* A_auc: the mean, over every evaluation, of the accuracy on the tasks seen so
 * far (tasks <= the evaluation round's task); uniform spacing, so the area under
 * the accuracy curve divided by its length. */
static double read_auc(const char *dir, uint32_t rounds_per_task)
{
	char path[PATH_MAX], line[256];
	if (snprintf(path, sizeof path, "%s/eval.csv", dir) >= (int)sizeof path)
		return NAN;
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	long cur = -1;
	double sum = 0, seen = 0, total = 0;
	unsigned n_seen = 0, n_evals = 0;
	while (fgets(line, sizeof line, f)) {
		long round;
		unsigned task;
		double acc;
		char model[32];
		if (sscanf(line, "%ld,%31[^,],%u,%lf", &round, model, &task, &acc) != 4)
			continue;
		if (round != cur) {
			if (cur >= 0 && n_seen) {
				total += seen / n_seen;
				n_evals++;
			}
			cur = round;
			seen = 0;
			n_seen = 0;
		}
		if (round >= 0 && task <= (unsigned)(round / rounds_per_task)) {
			seen += acc;
			n_seen++;
		}
	}
	if (cur >= 0 && n_seen) {
		total += seen / n_seen;
		n_evals++;
	}
	fclose(f);
	(void)sum;
	return n_evals ? total / n_evals : NAN;
}

static int read_metrics(const char *dir, struct result *r)
{
	char path[PATH_MAX];
	char *text;
	size_t len;
	if (snprintf(path, sizeof path, "%s/metrics.json", dir) >= (int)sizeof path)
		return -1;
	if (fcl_read_file(path, &text, &len) != 0)
		return -1;
	int bad =
	    !strstr(text, "\"complete\": true") || json_number(text, "final_avg_acc", &r->acc) ||
	    json_number(text, "forgetting_first", &r->fgt_first) ||
	    json_number(text, "forgetting_max", &r->fgt_max) || json_number(text, "bwt", &r->bwt) ||
	    json_number(text, "avg_incremental_acc", &r->a_inc);
	r->a_auc = NAN;
	json_number(text, "a_auc", &r->a_auc); /* the server's own, when it writes one */
	free(text);
	return bad ? -1 : 0;
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
		"                   [--client-arg ARG]...\n"
		"  --rules   aggregation rules: fedavg, fot, fedprox, fedavgm, fedadam, fedyogi,\n"
		"            fednova, median, trimmed-mean, krum, scaffold\n"
		"  --strategies  client strategies to cross with the rules (strategy.name)\n"
		"  --seeds   seeds per rule: the scenario's seed and the next N-1 (default 1)\n"
		"  --out     output folder (default runs/compare-<name>-<time>)\n"
		"  --set     scenario edit applied to every run, e.g. tasks.rounds_per_task=20\n"
		"  --client-arg  passed to every client process through fcl-sim\n");
}

static double mean_of(const struct result *r, size_t n, size_t off)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += *(const double *)((const char *)&r[i] + off);
	return s / (double)n;
}

static double std_of(const struct result *r, size_t n, size_t off)
{
	if (n < 2)
		return 0.0;
	double m = mean_of(r, n, off), s = 0;
	for (size_t i = 0; i < n; i++) {
		double d = *(const double *)((const char *)&r[i] + off) - m;
		s += d * d;
	}
	return sqrt(s / (double)(n - 1)); /* sample standard deviation */
}

/* The comparison: what the command line asks for, the scenario, the runs. */
struct compare {
	const char *scenario, *rules_arg, *strategies_arg, *out_arg, *procs;
	/* --set edits, the resolved data path, then room for a run's rule, seed
	 * and strategy */
	const char *sets[MAX_SETS + 4];
	size_t n_sets;
	char *client_args[64];
	size_t n_client_args;
	unsigned long n_seeds;

	struct fcl_scenario sc; /* as given */
	char *text;             /* its YAML, which every run edits */
	size_t len;
	char data_set[FCL_SCENARIO_PATH_MAX + 16];

	/* combination ri: rule rule_of[ri] with strategy strat_of[ri] ("": the
	 * scenario's), labelled rules[ri] */
	char rules[MAX_RULES * MAX_RULES][72], rule_of[MAX_RULES * MAX_RULES][32];
	char strat_of[MAX_RULES * MAX_RULES][32];
	size_t n_rules;

	char out[PATH_MAX - 128]; /* output folder */
	char sim[PATH_MAX + 16];  /* fcl-sim, next to us */
	struct result *res;       /* (n_rules * n_seeds) run ri * n_seeds + si */
};

/* What one run writes: the derived scenario, the run folder, fcl-sim's log. */
struct run_files {
	char yaml[PATH_MAX], dir[PATH_MAX], log[PATH_MAX];
};

/* Returns -1 to exit 0 (--help), 0 to go on, 2 on a usage error. */
static int parse_args(struct compare *c, int argc, char **argv)
{
	c->n_seeds = 1;
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
		for (size_t b = 0; b < (n_sl ? n_sl : 1); b++) {
			size_t k = c->n_rules;
			int w1 = snprintf(c->rule_of[k], sizeof c->rule_of[0], "%s", rl[a]);
			int w2 = snprintf(c->strat_of[k], sizeof c->strat_of[0], "%s",
					  n_sl ? stl[b] : "");
			int w3 = snprintf(c->rules[k], sizeof c->rules[0], "%s%s%s", rl[a],
					  n_sl ? "/" : "", n_sl ? stl[b] : "");
			if (w1 < 0 || w2 < 0 || w3 < 0)
				return 2;
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
	char rule_set[64], seed_set[64], strat_set[64], stem[80], err[1024];
	char *dtext;
	size_t dlen;

	snprintf(rule_set, sizeof rule_set, "aggregation.rule=%s", c->rule_of[ri]);
	if (snprintf(strat_set, sizeof strat_set, "strategy.name=%s", c->strat_of[ri]) < 0)
		return 2;
	if (snprintf(stem, sizeof stem, "%s%s%s", c->rule_of[ri], c->strat_of[ri][0] ? "-" : "",
		     c->strat_of[ri]) < 0)
		return 2;
	snprintf(seed_set, sizeof seed_set, "seed=%llu", (unsigned long long)r->seed);
	c->sets[c->n_sets] = rule_set;
	c->sets[c->n_sets + 1] = seed_set;
	c->sets[c->n_sets + 2] = strat_set;
	struct fcl_scenario check;
	if (fcl_scenario_override(c->text, c->len, c->sets,
				  c->n_sets + 2 + (c->strat_of[ri][0] != 0), &dtext, &dlen, err,
				  sizeof err) != 0 ||
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
	r->ok = rc == 0 && read_metrics(f->dir, r) == 0;
	if (!r->ok || isnan(r->a_auc))
		r->a_auc = read_auc(f->dir, rounds_per_task);
	read_traffic(f->dir, r);
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
			run_one(c, &f, rounds_per_task, r);
			*failed += !r->ok;
		}
	}
	return 0;
}

/* One row per run, in compare.csv and in compare.md. */
static void write_run_rows(const struct compare *c, FILE *csv, FILE *md)
{
	for (size_t i = 0; i < c->n_rules * c->n_seeds; i++) {
		const struct result *r = &c->res[i];
		fprintf(csv, "%s,%llu,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%llu,%llu\n", r->rule,
			(unsigned long long)r->seed, r->ok, r->acc, r->fgt_first, r->fgt_max,
			r->bwt, r->a_inc, r->a_auc, r->wall, r->up, r->down);
		if (!r->ok) {
			fprintf(md, "| %s | %llu | failed | | | | | | %.1f | | |\n", r->rule,
				(unsigned long long)r->seed, r->wall);
			continue;
		}
		fprintf(md,
			"| %s | %llu | %.2f | %.2f | %.2f | %+.2f | %.2f | %.2f | %.1f | %.1f | "
			"%.1f |\n",
			r->rule, (unsigned long long)r->seed, 100 * r->acc, 100 * r->fgt_first,
			100 * r->fgt_max, 100 * r->bwt, 100 * r->a_inc, 100 * r->a_auc, r->wall,
			(double)r->up / 1e6, (double)r->down / 1e6);
	}
}

/* Mean and sample std over the seeds of each combination, in compare.md. */
static void write_seed_summary(const struct compare *c, FILE *md)
{
	const size_t n_seeds = c->n_seeds;

	fprintf(md, "\nMean ± sample std over seeds:\n\n");
	fprintf(md, "| rule | final ACC | FGT (first) | FGT (max) | BWT | A_auc | wall s |\n");
	fprintf(md, "|---|---|---|---|---|---|---|\n");
	for (size_t ri = 0; ri < c->n_rules; ri++) {
		const struct result *r = &c->res[ri * n_seeds];
		int all = 1;
		for (size_t si = 0; si < n_seeds; si++)
			all &= r[si].ok;
		if (!all) {
			fprintf(md, "| %s | (a run failed) | | | | | |\n", c->rules[ri]);
			continue;
		}
#define MS(f)                                                                                      \
	100 * mean_of(r, n_seeds, offsetof(struct result, f)),                                     \
	    100 * std_of(r, n_seeds, offsetof(struct result, f))
		fprintf(md,
			"| %s | %.2f ± %.2f | %.2f ± %.2f | %.2f ± %.2f | %+.2f ± %.2f | "
			"%.2f ± %.2f | %.1f |\n",
			c->rules[ri], MS(acc), MS(fgt_first), MS(fgt_max), MS(bwt), MS(a_auc),
			mean_of(r, n_seeds, offsetof(struct result, wall)));
#undef MS
	}
}

/* compare.csv and compare.md; 0 or 2 after saying why. */
static int write_tables(const struct compare *c, const char *csv_path, const char *md_path)
{
	FILE *csv = fopen(csv_path, "w"), *md = fopen(md_path, "w");
	if (!csv || !md) {
		fprintf(stderr, "fcl-compare: cannot write the tables in %s\n", c->out);
		return 2;
	}
	fprintf(csv, "rule,seed,complete,final_acc,forgetting_first,forgetting_max,bwt,"
		     "avg_incremental_acc,a_auc,wall_seconds,bytes_up,bytes_down\n");
	fprintf(
	    md,
	    "Scenario `%s` (%s), %lu seed(s) from %llu; accuracy and forgetting in %%/points.\n\n",
	    c->sc.name, c->scenario, c->n_seeds, (unsigned long long)c->sc.seed);
	fprintf(md, "| rule | seed | final ACC | FGT (first) | FGT (max) | BWT | A_inc | A_auc | "
		    "wall s | MB up | MB down |\n");
	fprintf(md, "|---|---|---|---|---|---|---|---|---|---|---|\n");
	write_run_rows(c, csv, md);
	if (c->n_seeds > 1)
		write_seed_summary(c, md);
	fclose(csv);
	fclose(md);
	return 0;
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
	if ((rc = write_tables(&c, csv_path, md_path)) != 0)
		return rc;
	char *table;
	size_t tlen;
	if (fcl_read_file(md_path, &table, &tlen) == 0) {
		fwrite(table, 1, tlen, stdout);
		free(table);
	}
	printf("\ntables: %s, %s\n", md_path, csv_path);
	free(c.res);
	free(c.text);
	return failed ? 1 : 0;
}
