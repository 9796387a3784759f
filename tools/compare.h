/* tools/compare.h - what the files of fcl-compare share (fcl-compare.c: the
 * command line; compare_plan.c: the runs, derived and checked before any
 * starts; compare_runs.c: running them; compare_results.c: reading results,
 * the tables) */
#ifndef FCL_TOOLS_COMPARE_H
#define FCL_TOOLS_COMPARE_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "fcl/scenario.h"

#define MAX_RULES 16
#define MAX_SETS 64
#define MAX_VARIANTS 8
#define MAX_VARIANT_SETS 8
#define MAX_COMBOS (MAX_RULES * MAX_RULES * MAX_VARIANTS)

/* One run: what it is, its files, its results. */
struct result {
	char rule[72];                            /* label: rule[/strategy][/variant] */
	char rule_name[32], strategy[32], var[32]; /* each part alone ("": no variant) */
	char dir[PATH_MAX - 16];                  /* its run folder */
	char yaml[PATH_MAX], log[PATH_MAX], done[PATH_MAX]; /* derived scenario, log, stamp */
	char *text;                                          /* the derived scenario */
	size_t len;
	uint64_t hash; /* of text: --resume keeps a finished run of the same text */
	uint32_t rounds_per_task;
	uint64_t seed;
	int ok, skipped; /* complete; kept from an earlier sweep (--resume) */
	double acc, fgt_first, fgt_max, bwt, a_inc, a_auc, wall;
	double sim_s, t_target; /* simulated time: the run's, and to --target (NAN: none) */
	unsigned long long up, down;
};

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
	uint64_t seed0; /* the first seed: the scenario's, or --set seed=N */
	int have_seed0;
	double target; /* --target, NAN: none */
	int plot, resume, force;
	/* --variant: names, and each one's edits */
	char var_name[MAX_VARIANTS][32];
	const char *var_sets[MAX_VARIANTS][MAX_VARIANT_SETS];
	size_t n_var_sets[MAX_VARIANTS], n_vars;

	struct fcl_scenario sc; /* as given */
	char *text;             /* its YAML, which every run edits */
	size_t len;
	char data_set[FCL_SCENARIO_PATH_MAX + 16];

	/* combination ri: rule rule_of[ri] with strategy strat_of[ri] ("": the
	 * scenario's) and variant var_of[ri] (-1: none), labelled rules[ri] */
	char rules[MAX_COMBOS][72], rule_of[MAX_COMBOS][32];
	char strat_of[MAX_COMBOS][32];
	int var_of[MAX_COMBOS];
	size_t n_rules;

	char out[PATH_MAX - 160]; /* output folder */
	char sim[PATH_MAX + 16];  /* fcl-sim, next to us */
	struct result *res;       /* (n_rules * n_seeds) run ri * n_seeds + si */
};

/* compare_plan.c. The scenario as given, checked, and the names and edits of
 * the command line, each checked alone; 0 or 2 after naming what is wrong. */
int compare_check_inputs(struct compare *c);
/* Every run's derived scenario, parsed (in memory) and its names; 0 or 2
 * after naming the run and the place in its (then kept) file. */
int compare_derive_all(struct compare *c);
/* Creates the output folder, sees which runs an earlier sweep finished
 * (--resume) or refuses to overwrite them, writes the derived scenarios.
 * 0 or 2. */
int compare_prepare_out(struct compare *c);

/* compare_runs.c. Runs every run not kept, in order, with a progress line
 * on stderr; *failed counts those that did not complete. 0, or 1 when
 * interrupted (SIGINT, SIGTERM). */
int compare_run_all(struct compare *c, int *failed);
/* --plot: fcl-report over the output folder into DIR/plots. 0 or -1. */
int compare_plot(const struct compare *c);
/* Removes a run folder and what is in it (a run started again). 0 or -1. */
int compare_remove_tree(const char *path);

/* compare_results.c. Reads run folder dir's results into r (traffic, A_auc
 * from eval.csv when metrics.json has none, the time to target when target is
 * a number). 0 when its metrics.json is complete, else -1. */
int compare_read_run(const char *dir, uint32_t rounds_per_task, double target, struct result *r);
/* compare.csv and compare.md; 0 or 2 after saying why. */
int compare_write_tables(const struct compare *c, const char *csv_path, const char *md_path);

#endif
