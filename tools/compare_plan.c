/* tools/compare_plan.c - fcl-compare's runs, derived and checked before the
 * first one starts: a bad rule name, edit or variant stops the sweep at once,
 * naming the option it came from, instead of after the runs before it. */
#include "compare.h"

#include "fcl/override.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/strategy.h"
#include "fcl/util.h"

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The first MAX_RULES names of a comma-separated list; 0 or -1 when there
 * are more, or a name is empty or too long. */
static int split_list(const char *arg, char (*names)[32], size_t *n)
{
	const char *p = arg;

	*n = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (!len || len >= 32 || *n == MAX_RULES)
			return -1;
		memcpy(names[*n], p, len);
		names[(*n)++][len] = '\0';
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* KEY of "KEY=VALUE" is key? */
static int edits_key(const char *set, const char *key)
{
	size_t n = strlen(key);
	return !strncmp(set, key, n) && set[n] == '=';
}

/* Edits the sweep owns: the rules are --rules', the seeds --set seed and
 * --seeds', the strategies --strategies' when given. 0 or 2. */
static int check_key(const struct compare *c, const char *opt, const char *set)
{
	const char *owner = edits_key(set, "aggregation.rule")			  ? "--rules"
			    : edits_key(set, "seed") && strcmp(opt, "--set") != 0  ? "--set seed=N"
			    : edits_key(set, "strategy.name") && c->strategies_arg ? "--strategies"
										   : NULL;
	if (!owner)
		return 0;
	fprintf(stderr, "fcl-compare: %s%s%s: that is for %s to set\n", opt,
		opt[strlen(opt) - 1] == ':' ? "" : " ", set, owner);
	return 2;
}

/* The scenario with edits sets[0..n) applied, parsed; 0, or -1 with the
 * reason in err. */
static int try_edits(const struct compare *c, const char *label, const char *const *sets, size_t n,
		     char *err, size_t errlen)
{
	struct fcl_scenario sc;
	char *text;
	size_t len;

	if (fcl_scenario_override(c->text, c->len, sets, n, &text, &len, err, errlen) != 0)
		return -1;
	int rc = fcl_scenario_parse(&sc, text, len, label, err, errlen);
	free(text);
	return rc ? -1 : 0;
}

/* --set seed=N: the first seed of the sweep, not an edit. 0 or 2. */
static int take_seed(struct compare *c, size_t i)
{
	char *end;
	const char *v = c->sets[i] + strlen("seed=");

	errno = 0;
	unsigned long long s = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || errno || *end) {
		fprintf(stderr, "fcl-compare: --set %s: seed wants a non-negative integer\n",
			c->sets[i]);
		return 2;
	}
	c->seed0 = s;
	c->have_seed0 = 1;
	memmove(&c->sets[i], &c->sets[i + 1], (c->n_sets - i - 1) * sizeof c->sets[0]);
	c->n_sets--;
	return 0;
}

/* The rule and strategy names, against the registry. 0 or 2. */
static int check_names(const char *opt, const char *arg, int rules, char (*names)[32], size_t *n)
{
	char known[512];

	if (split_list(arg, names, n) != 0) {
		fprintf(stderr, "fcl-compare: %s '%s': want 1 to %d comma-separated names\n", opt,
			arg, MAX_RULES);
		return 2;
	}
	for (size_t i = 0; i < *n; i++) {
		if (rules ? fcl_rule_find(names[i]) != NULL
			  : fcl_strategy_find(names[i]) != NULL)
			continue;
		if (rules)
			fcl_rule_names(known, sizeof known);
		else
			fcl_strategy_names(known, sizeof known);
		fprintf(stderr, "fcl-compare: %s: unknown %s '%s' (known: %s)\n", opt,
			rules ? "rule" : "strategy", names[i], known);
		return 2;
	}
	return 0;
}

/* Every rule, crossed with every strategy when given, and every variant. */
static int make_combinations(struct compare *c, char (*rl)[32], size_t n_rl, char (*stl)[32],
			     size_t n_sl)
{
	for (size_t a = 0; a < n_rl; a++)
		for (size_t b = 0; b < (n_sl ? n_sl : 1); b++)
			for (size_t v = 0; v < (c->n_vars ? c->n_vars : 1); v++) {
				size_t k = c->n_rules;
				const char *var = c->n_vars ? c->var_name[v] : "";
				snprintf(c->rule_of[k], sizeof c->rule_of[0], "%s", rl[a]);
				snprintf(c->strat_of[k], sizeof c->strat_of[0], "%s",
					 n_sl ? stl[b] : "");
				if (snprintf(c->rules[k], sizeof c->rules[0], "%s%s%s%s%s", rl[a],
					     n_sl ? "/" : "", n_sl ? stl[b] : "", *var ? "/" : "",
					     var) >= (int)sizeof c->rules[0])
					return 2;
				c->var_of[k] = c->n_vars ? (int)v : -1;
				c->n_rules++;
			}
	return 0;
}

int compare_check_inputs(struct compare *c)
{
	char err[1024], rl[MAX_RULES][32], stl[MAX_RULES][32];
	size_t n_rl, n_sl = 0;
	int rc;

	if (fcl_scenario_load(&c->sc, c->scenario, &c->text, &c->len, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if ((rc = check_names("--rules", c->rules_arg, 1, rl, &n_rl)) != 0 ||
	    (c->strategies_arg &&
	     (rc = check_names("--strategies", c->strategies_arg, 0, stl, &n_sl)) != 0))
		return rc;
	for (size_t i = 0; i < c->n_sets; i++)
		if (edits_key(c->sets[i], "seed") && (rc = take_seed(c, i--)) != 0)
			return rc;
	for (size_t i = 0; i < c->n_sets; i++)
		if ((rc = check_key(c, "--set", c->sets[i])) != 0)
			return rc;
	for (size_t v = 0; v < c->n_vars; v++)
		for (size_t k = 0; k < c->n_var_sets[v]; k++) {
			char opt[48];
			snprintf(opt, sizeof opt, "--variant %s:", c->var_name[v]);
			if ((rc = check_key(c, opt, c->var_sets[v][k])) != 0)
				return rc;
		}
	if (!c->have_seed0)
		c->seed0 = c->sc.seed;
	/* the data path resolved against the scenario's folder, so derived files work anywhere */
	snprintf(c->data_set, sizeof c->data_set, "data.path=\"%s\"", c->sc.data.path);
	int path_set = 0;
	for (size_t i = 0; i < c->n_sets; i++)
		path_set |= edits_key(c->sets[i], "data.path");
	if (!path_set && c->sc.data.kind != FCL_DATASET_SYNTHETIC)
		c->sets[c->n_sets++] = c->data_set;
	return make_combinations(c, rl, n_rl, stl, n_sl);
}

/* --out, or runs/compare-<name>-<time>. */
static void out_folder(struct compare *c)
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
}

/* Which option broke a derived scenario: its edits are tried in the order
 * rule, strategy, each --set, the variant, the seed, and the first that does
 * not parse with those before it is named in *what. */
static void blame(const struct compare *c, size_t ri, const char *const *own, size_t n_own,
		  char *what, size_t len)
{
	const char *sets[MAX_SETS + 4 + MAX_VARIANT_SETS];
	char err[1024];
	size_t n = 0, n_head = c->strat_of[ri][0] ? 2 : 1;
	int var = c->var_of[ri];

	/* own: rule, seed[, strategy][, variant edits...] */
	sets[n++] = own[0];
	if (c->strat_of[ri][0])
		sets[n++] = own[2];
	if (try_edits(c, "", sets, n, err, sizeof err) != 0) {
		snprintf(what, len, "%s", n_head == 2 ? "--rules/--strategies" : "--rules");
		return;
	}
	for (size_t i = 0; i < c->n_sets; i++) {
		sets[n++] = c->sets[i];
		if (try_edits(c, "", sets, n, err, sizeof err) != 0) {
			snprintf(what, len, "--set %s", c->sets[i]);
			return;
		}
	}
	for (size_t k = 0; var >= 0 && k < c->n_var_sets[var]; k++)
		sets[n++] = c->var_sets[var][k];
	if (var >= 0 && try_edits(c, "", sets, n, err, sizeof err) != 0) {
		snprintf(what, len, "--variant %s", c->var_name[var]);
		return;
	}
	snprintf(what, len, "%s", "the seed");
	(void)n_own;
}

/* The scenario of combination ri with seed r->seed: the text with the --set
 * edits, aggregation.rule, seed, strategy.name and the variant's edits
 * applied, parsed under the name of the file it will be kept in. 0 or 2. */
static int derive(struct compare *c, size_t ri, struct result *r)
{
	char rule_set[64], seed_set[64], strat_set[64], stem[100], err[1024];
	const char *sets[MAX_SETS + 4 + MAX_VARIANT_SETS];
	int var = c->var_of[ri];
	size_t n = c->n_sets;
	struct fcl_scenario sc;

	snprintf(rule_set, sizeof rule_set, "aggregation.rule=%s", c->rule_of[ri]);
	snprintf(strat_set, sizeof strat_set, "strategy.name=%s", c->strat_of[ri]);
	snprintf(stem, sizeof stem, "%s%s%s%s%s", c->rule_of[ri], c->strat_of[ri][0] ? "-" : "",
		 c->strat_of[ri], var >= 0 ? "-" : "", var >= 0 ? c->var_name[var] : "");
	snprintf(seed_set, sizeof seed_set, "seed=%" PRIu64, r->seed);
	memcpy(sets, c->sets, n * sizeof *sets);
	sets[n++] = rule_set;
	sets[n++] = seed_set;
	if (c->strat_of[ri][0])
		sets[n++] = strat_set;
	for (size_t k = 0; var >= 0 && k < c->n_var_sets[var]; k++)
		sets[n++] = c->var_sets[var][k];
	snprintf(r->dir, sizeof r->dir, "%s/%s-seed%" PRIu64, c->out, stem, r->seed);
	snprintf(r->yaml, sizeof r->yaml, "%s.yaml", r->dir);
	snprintf(r->log, sizeof r->log, "%s.log", r->dir);
	if (snprintf(r->done, sizeof r->done, "%s.done", r->dir) >= (int)sizeof r->done) {
		fprintf(stderr, "fcl-compare: %s: path too long\n", r->dir);
		return 2;
	}
	if (fcl_scenario_override(c->text, c->len, sets, n, &r->text, &r->len, err, sizeof err) !=
	    0) {
		fprintf(stderr, "fcl-compare: %s seed %" PRIu64 ": %s\n", c->rules[ri], r->seed, err);
		return 2;
	}
	if (fcl_scenario_parse(&sc, r->text, r->len, r->yaml, err, sizeof err) != 0) {
		char what[MAX_SETS + 160];
		/* keep the file the message points into */
		int kept = fcl_mkdir_p(c->out) == 0 &&
			   fcl_write_file_atomic(r->yaml, r->text, r->len) == 0;
		blame(c, ri, sets + c->n_sets, n - c->n_sets, what, sizeof what);
		fprintf(stderr, "fcl-compare: %s (run %s seed %" PRIu64 "): %s%s\n", what,
			c->rules[ri], r->seed, err,
			kept ? "" : " (the derived scenario could not be kept)");
		return 2;
	}
	r->rounds_per_task = sc.tasks.rounds_per_task;
	r->hash = fcl_hash64(r->text, r->len);
	snprintf(r->rule, sizeof r->rule, "%s", c->rules[ri]);
	snprintf(r->rule_name, sizeof r->rule_name, "%s", sc.aggregation.rule->name);
	snprintf(r->strategy, sizeof r->strategy, "%s", sc.strategy.method->name);
	snprintf(r->var, sizeof r->var, "%s", var >= 0 ? c->var_name[var] : "");
	return 0;
}

int compare_derive_all(struct compare *c)
{
	out_folder(c);
	c->res = calloc(c->n_rules * c->n_seeds, sizeof *c->res);
	if (!c->res) {
		fprintf(stderr, "fcl-compare: out of memory\n");
		return 2;
	}
	for (size_t ri = 0; ri < c->n_rules; ri++)
		for (unsigned long si = 0; si < c->n_seeds; si++) {
			struct result *r = &c->res[ri * c->n_seeds + si];
			int rc;
			r->seed = c->seed0 + si;
			if ((rc = derive(c, ri, r)) != 0)
				return rc;
		}
	return 0;
}

/* DIR/<run>.done: "hash=H wall=S", written when a run completed. */
static int read_stamp(const struct result *r, uint64_t *hash, double *wall)
{
	FILE *f = fopen(r->done, "r");
	unsigned long long h = 0;
	int ok = f && fscanf(f, "hash=%llx wall=%lf", &h, wall) == 2;
	if (f)
		fclose(f);
	*hash = h;
	return ok ? 0 : -1;
}

/* --resume: is r's run finished, from the same derived scenario? Then its
 * results (and the wall time it took then) are read into r. */
static int finished_before(const struct compare *c, struct result *r)
{
	uint64_t hash;
	double wall;

	if (read_stamp(r, &hash, &wall) != 0 || hash != r->hash ||
	    compare_read_run(r->dir, r->rounds_per_task, c->target, r) != 0)
		return 0;
	r->wall = wall;
	r->ok = 1;
	return 1;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int compare_prepare_out(struct compare *c)
{
	size_t n = c->n_rules * c->n_seeds, kept = 0;

	if (fcl_mkdir_p(c->out) != 0) {
		fprintf(stderr, "fcl-compare: cannot create %s\n", c->out);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		struct result *r = &c->res[i];
		if (c->resume && finished_before(c, r)) {
			r->skipped = 1;
			kept++;
		} else if (!c->resume && !c->force && (exists(r->dir) || exists(r->done))) {
			fprintf(stderr,
				"fcl-compare: %s holds runs already (%s): --resume keeps the "
				"finished ones, --force runs them all again\n",
				c->out, r->dir);
			return 2;
		}
		if (fcl_write_file_atomic(r->yaml, r->text, r->len) != 0) {
			fprintf(stderr, "fcl-compare: cannot write %s\n", r->yaml);
			return 2;
		}
	}
	if (c->resume)
		fprintf(stderr, "fcl-compare: %zu of %zu runs finished before, %zu to run\n", kept,
			n, n - kept);
	return 0;
}
