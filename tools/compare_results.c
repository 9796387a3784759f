/* tools/compare_results.c - fcl-compare's results: what a run folder says
 * (metrics.json, eval.csv, events.jsonl) and the tables of every run */
#include "compare.h"

#include "fcl/util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The simulated time of the first evaluation with task 0's accuracy >= target
 * (eval.csv's sim_time column); NAN when never, or without simulated time. */
static double read_time_to(const char *dir, double target)
{
	char path[PATH_MAX], line[256], model[32], task[32];
	double acc, t, found = NAN;
	long round;
	if (snprintf(path, sizeof path, "%s/eval.csv", dir) >= (int)sizeof path)
		return NAN;
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	while (isnan(found) && fgets(line, sizeof line, f))
		if (sscanf(line, "%ld,%31[^,],%31[^,],%lf,%lf", &round, model, task, &acc, &t) ==
			5 &&
		    !strcmp(model, "global") && !strcmp(task, "0") && acc >= target)
			found = t;
	fclose(f);
	return found;
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
	r->sim_s = NAN;
	json_number(text, "simulated_seconds", &r->sim_s);
	free(text);
	return bad ? -1 : 0;
}

int compare_read_run(const char *dir, uint32_t rounds_per_task, double target, struct result *r)
{
	int rc = read_metrics(dir, r);
	if (rc || isnan(r->a_auc))
		r->a_auc = read_auc(dir, rounds_per_task);
	r->t_target = isnan(target) ? NAN : read_time_to(dir, target);
	read_traffic(dir, r);
	return rc;
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

/* Does any run keep simulated time (its columns in compare.md)? */
static int any_sim(const struct compare *c)
{
	for (size_t i = 0; i < c->n_rules * c->n_seeds; i++)
		if (!isnan(c->res[i].sim_s))
			return 1;
	return 0;
}

/* A value for a table cell: "" when there is none. */
static const char *cell(char *buf, size_t len, const char *fmt, double v)
{
	if (isnan(v))
		buf[0] = '\0';
	else
		snprintf(buf, len, fmt, v);
	return buf;
}

/* One row per run, in compare.csv and in compare.md. */
static void write_run_rows(const struct compare *c, FILE *csv, FILE *md)
{
	char a[32], b[32];
	int sim = any_sim(c);

	for (size_t i = 0; i < c->n_rules * c->n_seeds; i++) {
		const struct result *r = &c->res[i];
		fprintf(csv, "%s,%s,%s,%llu,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%llu,%llu,%s,%s\n",
			r->rule_name, r->strategy, r->var, (unsigned long long)r->seed, r->ok, r->acc,
			r->fgt_first,
			r->fgt_max, r->bwt, r->a_inc, r->a_auc, r->wall, r->up, r->down,
			cell(a, sizeof a, "%.3f", r->sim_s),
			cell(b, sizeof b, "%.3f", r->t_target));
		if (!r->ok) {
			fprintf(md, "| %s | %llu | failed | | | | | | %.1f | | |%s\n", r->rule,
				(unsigned long long)r->seed, r->wall, sim ? " | |" : "");
			continue;
		}
		fprintf(md,
			"| %s | %llu | %.2f | %.2f | %.2f | %+.2f | %.2f | %.2f | %.1f | %.1f | "
			"%.1f |",
			r->rule, (unsigned long long)r->seed, 100 * r->acc, 100 * r->fgt_first,
			100 * r->fgt_max, 100 * r->bwt, 100 * r->a_inc, 100 * r->a_auc, r->wall,
			(double)r->up / 1e6, (double)r->down / 1e6);
		if (sim)
			fprintf(md, " %s | %s |", cell(a, sizeof a, "%.1f", r->sim_s),
				isnan(c->target)     ? ""
				: isnan(r->t_target) ? "not reached"
						     : cell(b, sizeof b, "%.1f", r->t_target));
		fprintf(md, "\n");
	}
}

/* Mean and sample std of the time to --target over seeds, "" without a
 * target, or how many seeds never reached it. */
static void target_summary(const struct compare *c, const struct result *r, char *buf, size_t len)
{
	size_t n = 0, missed = 0;
	double m = 0, q = 0;

	buf[0] = '\0';
	if (isnan(c->target))
		return;
	for (size_t si = 0; si < c->n_seeds; si++)
		if (isnan(r[si].t_target))
			missed++;
		else
			m += r[si].t_target, n++;
	m = n ? m / (double)n : NAN;
	for (size_t si = 0; si < c->n_seeds; si++)
		if (!isnan(r[si].t_target))
			q += (r[si].t_target - m) * (r[si].t_target - m);
	if (missed)
		snprintf(buf, len, "not reached in %zu of %lu", missed, c->n_seeds);
	else
		snprintf(buf, len, "%.1f ± %.1f", m, n > 1 ? sqrt(q / (double)(n - 1)) : 0.0);
}

/* Mean and sample std over the seeds of each combination, in compare.md. */
static void write_seed_summary(const struct compare *c, FILE *md)
{
	const size_t n_seeds = c->n_seeds;

	int sim = any_sim(c);
	char t[64];

	fprintf(md, "\nMean ± sample std over seeds:\n\n");
	fprintf(md, "| rule | final ACC | FGT (first) | FGT (max) | BWT | A_auc | wall s |%s\n",
		sim ? " sim s | time to target |" : "");
	fprintf(md, "|---|---|---|---|---|---|---|%s\n", sim ? "---|---|" : "");
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
			"%.2f ± %.2f | %.1f |",
			c->rules[ri], MS(acc), MS(fgt_first), MS(fgt_max), MS(bwt), MS(a_auc),
			mean_of(r, n_seeds, offsetof(struct result, wall)));
#undef MS
		target_summary(c, r, t, sizeof t);
		if (sim)
			fprintf(md, " %.1f | %s |",
				mean_of(r, n_seeds, offsetof(struct result, sim_s)), t);
		fprintf(md, "\n");
	}
}

/* compare.csv and compare.md; 0 or 2 after saying why. */
int compare_write_tables(const struct compare *c, const char *csv_path, const char *md_path)
{
	FILE *csv = fopen(csv_path, "w"), *md = fopen(md_path, "w");
	if (!csv || !md) {
		fprintf(stderr, "fcl-compare: cannot write the tables in %s\n", c->out);
		return 2;
	}
	fprintf(csv, "rule,strategy,variant,seed,complete,final_acc,forgetting_first,forgetting_max,bwt,"
		     "avg_incremental_acc,a_auc,wall_seconds,bytes_up,bytes_down,simulated_seconds,"
		     "time_to_target\n");
	fprintf(
	    md,
	    "Scenario `%s` (%s), %lu seed(s) from %llu; accuracy and forgetting in %%/points.\n\n",
	    c->sc.name, c->scenario, c->n_seeds, (unsigned long long)c->seed0);
	if (any_sim(c) && !isnan(c->target))
		fprintf(md,
			"Time to target: simulated seconds until task 0's accuracy first "
			"reached %.2f%% (at the evaluations).\n\n",
			100 * c->target);
	fprintf(md,
		"| rule | seed | final ACC | FGT (first) | FGT (max) | BWT | A_inc | A_auc | "
		"wall s | MB up | MB down |%s\n",
		any_sim(c) ? " sim s | time to target |" : "");
	fprintf(md, "|---|---|---|---|---|---|---|---|---|---|---|%s\n",
		any_sim(c) ? "---|---|" : "");
	write_run_rows(c, csv, md);
	if (c->n_seeds > 1)
		write_seed_summary(c, md);
	fclose(csv);
	fclose(md);
	return 0;
}
