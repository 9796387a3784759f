/* tools/fcl-compare.c - aggregation rules side by side on identical client streams
 *
 *   fcl-compare SCENARIO.yaml --rules fedavg,fot[,...] [--seeds N] [--out DIR]
 *               [--procs P] [--set KEY=VALUE]... [--client-arg ARG]... [--resume]
 *
 * For every rule and seed (the scenario's seed, or --set seed=N, and the next
 * N-1) it writes the derived scenario DIR/<rule>-seed<S>.yaml (the scenario
 * text with aggregation.rule, seed and any --set edits applied) and runs
 * fcl-sim on it into DIR/<rule>-seed<S>/. Everything but the rule is the same
 * text, so every rule sees the same clients, shards, task streams,
 * participants and local shuffles; running `fcl-sim DIR/<rule>-seed<S>.yaml`
 * alone gives the same numbers (tests/net/compare.sh checks it). At the end it
 * writes DIR/compare.csv (one row per run) and DIR/compare.md (per run, then
 * mean +- std per rule over seeds) and prints the markdown.
 *
 * Every derived scenario is made and parsed before the first run starts: a
 * bad name or edit stops the sweep at once (exit 2), naming the option it came
 * from. A finished run leaves DIR/<run>.done (the hash of its derived
 * scenario); --resume keeps those whose scenario is the same and runs the rest.
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
 * ACC; --plot draws the runs with fcl-report into DIR/plots (mean and band
 * over the seeds of each combination).
 */
#include "compare.h"

#include "fcl/cli.h"
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

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-compare SCENARIO.yaml --rules R1,R2,... [--seeds N] [--out DIR]\n"
		   "                   [--strategies S1,...] [--procs P] [--set KEY=VALUE]...\n"
		   "                   [--variant NAME:KEY=VALUE]... [--target ACC] [--plot]\n"
		   "                   [--client-arg ARG]... [--resume | --force]\n"
		   "       fcl-compare --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf(
	    "\nRuns the scenario once per rule (x strategy x variant) and seed, with fcl-sim,\n"
	    "and tabulates the results (DIR/compare.md, DIR/compare.csv).\n\n"
	    "  --rules R1,...    aggregation rules (aggregation.rule), e.g. fedavg,fot,median\n"
	    "  --strategies S1,...  client strategies to cross with the rules (strategy.name)\n"
	    "  --seeds N         seeds per combination: the first and the next N-1 (default 1)\n"
	    "  --set KEY=VALUE   scenario edit applied to every run, e.g.\n"
	    "                    tasks.rounds_per_task=20; --set seed=N sets the first seed\n"
	    "                    (default: the scenario's); aggregation.rule is --rules' and,\n"
	    "                    with --strategies, strategy.name is theirs\n"
	    "  --variant NAME:KEY=VALUE  a variant of the scenario to cross with the rules\n"
	    "                    (repeatable; the edits of one NAME add up)\n"
	    "  --out DIR         output folder (default runs/compare-<name>-<date>-<time>)\n"
	    "  --procs P         client processes per run, passed to fcl-sim (default: one\n"
	    "                    per core, at most one per client); runs go one after the\n"
	    "                    other, and the results do not depend on P\n"
	    "  --resume          keep the runs in DIR that finished with the same derived\n"
	    "                    scenario (DIR/<run>.done) and run the rest, e.g. after Ctrl-C\n"
	    "  --force           run everything again although DIR holds runs\n"
	    "  --target ACC      with simulated time: when task 0's accuracy first reached ACC\n"
	    "                    (a fraction, e.g. 0.8)\n"
	    "  --plot            draw the runs with fcl-report into DIR/plots: mean and band\n"
	    "                    (+- one sample std) over the seeds of each combination\n"
	    "  --client-arg ARG  passed to every client process through fcl-sim (repeatable)\n"
	    "  --help, --version\n\n"
	    "Every derived scenario is checked before the first run. A progress line on\n"
	    "stderr shows the run, its round and the time left for it and for the sweep.\n"
	    "Ctrl-C stops the current run cleanly and the sweep with it.\n\n"
	    "Exit status: 0 every run completed; 1 a run failed or the sweep was\n"
	    "interrupted; 2 bad command line, scenario or edit (nothing was run).\n");
}

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

/* fcl-sim, next to us. 0 or 2. */
static int prepare_sim(struct compare *c)
{
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

/* A whole non-negative number, or -1. */
static int parse_ulong(const char *v, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || errno || *end)
		return -1;
	*out = n;
	return 0;
}

/* The value of an option that takes one; 0, or 2 after saying what is wrong. */
static int value_option(struct compare *c, const char *a, const char *v)
{
	unsigned long n;
	char *end;

	if (!strcmp(a, "--rules")) {
		c->rules_arg = v;
	} else if (!strcmp(a, "--strategies")) {
		c->strategies_arg = v;
	} else if (!strcmp(a, "--seeds")) {
		if (parse_ulong(v, &c->n_seeds) || c->n_seeds == 0 || c->n_seeds > 1000) {
			fprintf(stderr, "fcl-compare: --seeds wants a number from 1 to 1000\n");
			return 2;
		}
	} else if (!strcmp(a, "--out")) {
		c->out_arg = v;
	} else if (!strcmp(a, "--procs")) {
		if (parse_ulong(v, &n) || n == 0) {
			fprintf(stderr, "fcl-compare: --procs wants a positive number\n");
			return 2;
		}
		c->procs = v;
	} else if (!strcmp(a, "--set")) {
		if (c->n_sets == MAX_SETS || !strchr(v, '=')) {
			fprintf(stderr, "fcl-compare: --set '%s': want KEY=VALUE (at most %d)\n", v,
				MAX_SETS);
			return 2;
		}
		c->sets[c->n_sets++] = v;
	} else if (!strcmp(a, "--client-arg")) {
		if (c->n_client_args == 64) {
			fprintf(stderr, "fcl-compare: at most 64 --client-arg\n");
			return 2;
		}
		c->client_args[c->n_client_args++] = (char *)v;
	} else if (!strcmp(a, "--variant")) {
		if (add_variant(c, v) != 0) {
			fprintf(stderr,
				"fcl-compare: --variant '%s': want NAME:KEY=VALUE (at most %d "
				"names of %d edits)\n",
				v, MAX_VARIANTS, MAX_VARIANT_SETS);
			return 2;
		}
	} else {
		/* --target */
		c->target = strtod(v, &end);
		if (end == v || *end || !(c->target >= 0 && c->target <= 1)) {
			fprintf(stderr, "fcl-compare: --target wants an accuracy from 0 to 1\n");
			return 2;
		}
	}
	return 0;
}

/* Returns -1 to exit 0 (--help, --version), 0 to go on, 2 on a usage error. */
static int parse_args(struct compare *c, int argc, char **argv)
{
	static const char *const with_value[] = {"--rules", "--strategies", "--seeds",
						 "--out",   "--procs",      "--set",
						 "--client-arg", "--variant", "--target"};
	c->n_seeds = 1;
	c->target = NAN;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		char name[64];
		const char *eq = strchr(a, '=');
		size_t k;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			help();
			return -1;
		} else if (!strcmp(a, "--version")) {
			fcl_cli_version("fcl-compare");
			return -1;
		} else if (!strcmp(a, "--plot")) {
			c->plot = 1;
			continue;
		} else if (!strcmp(a, "--resume")) {
			c->resume = 1;
			continue;
		} else if (!strcmp(a, "--force")) {
			c->force = 1;
			continue;
		} else if (a[0] != '-' || !a[1]) {
			if (c->scenario) {
				fcl_cli_unexpected("fcl-compare", a);
				return 2;
			}
			c->scenario = a;
			continue;
		}
		/* --opt VALUE or --opt=VALUE */
		if (a[1] == '-' && eq && (size_t)(eq - a) < sizeof name) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			v = eq + 1;
			a = name;
		}
		for (k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
			if (!strcmp(a, with_value[k]))
				break;
		if (k == sizeof with_value / sizeof with_value[0]) {
			fcl_cli_unknown_option("fcl-compare", argv[i]);
			return 2;
		}
		if (!v) {
			if (i + 1 >= argc) {
				fcl_cli_needs_value("fcl-compare", a);
				return 2;
			}
			v = argv[++i];
		}
		if (value_option(c, a, v) != 0)
			return 2;
	}
	if (!c->scenario || !c->rules_arg) {
		fprintf(stderr, "fcl-compare: %s\n",
			!c->scenario ? "no scenario given" : "--rules is missing");
		usage(stderr);
		return 2;
	}
	if (c->resume && (c->force || !c->out_arg)) {
		fprintf(stderr, "fcl-compare: --resume needs the sweep's --out DIR%s\n",
			c->force ? ", and no --force" : "");
		return 2;
	}
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
	if ((rc = compare_check_inputs(&c)) != 0 || (rc = compare_derive_all(&c)) != 0 ||
	    (rc = prepare_sim(&c)) != 0 || (rc = compare_prepare_out(&c)) != 0)
		return rc;
	if (compare_run_all(&c, &failed) != 0)
		return 1; /* interrupted: no tables of half a sweep */

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
	if (c.plot && compare_plot(&c) != 0) {
		fprintf(stderr, "fcl-compare: fcl-report failed (is gnuplot installed?)\n");
		failed = 1;
	}
	for (size_t i = 0; i < c.n_rules * c.n_seeds; i++)
		free(c.res[i].text);
	free(c.res);
	free(c.text);
	return failed ? 1 : 0;
}
