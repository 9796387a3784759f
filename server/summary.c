/* server/summary.c - the results at the end of the run: metrics.json (for
 * programs, a function of the scenario and seed only), summary.txt (the
 * headline numbers) and summary.md (everything, as markdown tables)
 */
#include "evaluate.h"
#include "report-private.h"
#include "round.h"

#include "fcl/blas_core.h"
#include "fcl/metrics.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* The local-model metrics of one client, in metrics.json and summary.md. */
static const struct {
	const char *key, *unit;
	double (*fn)(const struct fcl_acc_record *);
} local_metrics[] = {
    {"final_avg_acc", "%", fcl_metric_final_avg_acc_rec},
    {"forgetting_max", "points", fcl_metric_forgetting_max_rec},
    {"forgetting_first", "points", fcl_metric_forgetting_first_rec},
    {"bwt", "points", fcl_metric_bwt_rec},
    {"a_auc", "%", fcl_metric_a_auc},
    {"min_acc", "%", fcl_metric_min_acc},
};
#define N_LOCAL_METRICS (sizeof local_metrics / sizeof *local_metrics)

static uint64_t params_checksum(const struct coord_report *rep)
{
	return fcl_hash64(rep->c.model->params, rep->c.model->n_params * sizeof(float));
}

/* ---- metrics.json -------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.6f", v);
}

static void json_row(FILE *f, const double *v, size_t n)
{
	fprintf(f, "[");
	for (size_t j = 0; j < n; j++) {
		fprintf(f, "%s", j ? ", " : "");
		json_num(f, v[j]);
	}
	fprintf(f, "]");
}

/* A row of task accuracies: null for a task without test samples. */
static void json_task_row(FILE *f, const struct coord_eval *e, const double *v)
{
	fprintf(f, "[");
	for (uint32_t j = 0; j < e->T; j++) {
		fprintf(f, "%s", j ? ", " : "");
		json_num(f, e->no_test[j] ? NAN : v[j]);
	}
	fprintf(f, "]");
}

/* The tasks without test samples, as a list; and for people. */
static void json_empty_tasks(FILE *f, const struct coord_eval *e)
{
	fprintf(f, "  \"empty_tasks\": [");
	for (uint32_t j = 0, k = 0; j < e->T; j++)
		if (e->no_test[j])
			fprintf(f, "%s%u", k++ ? ", " : "", j);
	fprintf(f, "],\n");
}

static void say_empty_tasks(FILE *f, const struct coord_eval *e, const char *pre, const char *post)
{
	fprintf(f, "%s%s", pre, e->n_no_test > 1 ? "tasks" : "task");
	for (uint32_t j = 0, k = 0; j < e->T; j++)
		if (e->no_test[j])
			fprintf(f, "%s%u", k++ ? ", " : " ", j);
	fprintf(f, " %s no test samples with this seed: left out of every average "
		   "(docs/metrics.md)%s",
		e->n_no_test > 1 ? "have" : "has", post);
}

static void json_metrics(FILE *f, const struct fcl_metric_values *v, uint32_t T)
{
	for (const struct fcl_metric_info *m = fcl_metric_table; m->key; m++) {
		fprintf(f, "  \"%s\": ", m->key);
		json_num(f, fcl_metric_value(v, m));
		fprintf(f, ",\n");
	}
	fprintf(f, "  \"stability_gap_depth\": ");
	json_num(f, v->gap.depth);
	fprintf(f, ",\n  \"stability_gap_depth_newest_task\": ");
	json_num(f, v->gap.depth_newest);
	fprintf(f, ",\n  \"stability_gap_recovery_rounds\": ");
	json_num(f, v->gap.recovery_rounds);
	fprintf(f, ",\n  \"stability_gap_pairs\": %zu,\n", v->gap.n_pairs);
	fprintf(f, "  \"stability_gap_recovered\": %zu,\n", v->gap.n_recovered);
	fprintf(f, "  \"stability_gap_depth_per_switch\": ");
	json_row(f, v->gap_per_switch, T > 1 ? T - 1 : 0);
	fprintf(f, ",\n");
}

static void json_local_metrics(FILE *f, const struct coord_eval *e, uint32_t n_clients)
{
	fprintf(f, "  \"local_models\": [");
	for (uint32_t c = 0, first = 1; c < n_clients; c++) {
		struct fcl_acc_record r;
		coord_eval_local_record(e, c, &r);
		if (r.n_rows == 0)
			continue;
		fprintf(f, "%s\n    {\"client\": %u, \"evaluations\": %zu", first ? "" : ",", c,
			r.n_rows);
		for (size_t m = 0; m < N_LOCAL_METRICS; m++) {
			fprintf(f, ", \"%s\": ", local_metrics[m].key);
			json_num(f, local_metrics[m].fn(&r));
		}
		fprintf(f, "}");
		first = 0;
	}
	fprintf(f, "\n  ],\n");
}

/* FedBN: the fedbn row of the last evaluation; NULL without FedBN or rows. */
static const double *fedbn_last(const struct coord_eval *e)
{
	return e->fedbn && e->n_rows ? e->fedbn + (e->n_rows - 1) * FEDBN_N : NULL;
}

static const char *const fedbn_keys[FEDBN_N] = {"clients", "mean", "min", "max"};

/* FedBN's per-client accuracies: the last evaluation's as flat keys, then
 * every evaluation's. */
static void json_fedbn(FILE *f, const struct coord_eval *e)
{
	const double *last = fedbn_last(e);

	fprintf(f, "  \"fedbn_clients\": %u,\n", last ? (uint32_t)last[FEDBN_CLIENTS] : 0);
	for (int k = FEDBN_MEAN; k < FEDBN_N; k++) {
		fprintf(f, "  \"fedbn_%s\": ", fedbn_keys[k]);
		json_num(f, last ? last[k] : NAN);
		fprintf(f, ",\n");
	}
	fprintf(f, "  \"fedbn_per_evaluation\": [");
	for (size_t i = 0; i < e->n_rows; i++) {
		const double *row = e->fedbn + i * FEDBN_N;
		fprintf(f, "%s\n    {\"round\": %lld, \"clients\": %u", i ? "," : "",
			(long long)e->round[i], (uint32_t)row[FEDBN_CLIENTS]);
		for (int k = FEDBN_MEAN; k < FEDBN_N; k++) {
			fprintf(f, ", \"%s\": ", fedbn_keys[k]);
			json_num(f, row[k]);
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n  ],\n");
}

/* metrics.json: "complete" only when the run completed and every other
 * output was written (reason NULL); else a "reason" line right after it
 * (the line fcl_run_mark_unfinished rewrites, fcl/runstatus.h). */
static int write_metrics(struct coord_report *rep, const struct coord_round *r,
			 const struct coord_eval *e, uint32_t rows,
			 const struct fcl_metric_values *v, const char *reason, int final)
{
	const struct fcl_scenario *sc = rep->c.sc;
	uint32_t T = rep->c.sched->n_tasks;
	FILE *f = coord_report__result(rep, RESULT_METRICS, final);
	if (!f)
		return -EIO;
	/* Metrics of a run that stopped early are those of its partial record. */
	fprintf(f, "{\n  \"scenario\": \"%s\",\n  \"seed\": %llu,\n  \"complete\": %s,\n", sc->name,
		(unsigned long long)sc->seed, reason ? "false" : "true");
	if (reason) {
		fprintf(f, "  \"reason\": ");
		coord_report__json_str(f, reason);
		fprintf(f, ",\n");
	}
	fprintf(f, "  \"rounds\": %u,\n  \"tasks\": %u,\n", r->round, T);
	if (e->n_no_test) /* only then: the golden runs' bytes stay as they were */
		json_empty_tasks(f, e);
	if (!isnan(rep->sim_time)) /* a function of scenario and seed, like the rest */
		fprintf(f, "  \"simulated_seconds\": %.6f,\n", rep->sim_time);
	fprintf(f, "  \"evaluations\": %zu,\n", e->n_rows);
	fprintf(f, "  \"init_accuracy\": ");
	json_task_row(f, e, e->init_acc);
	fprintf(f, ",\n  \"accuracy_matrix\": [");
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_task_row(f, e, e->acc_matrix + (size_t)i * T);
	}
	fprintf(f, "\n  ],\n");
	if (e->n_rows)
		json_metrics(f, v, T);
	if (sc->eval.local_models)
		json_local_metrics(f, e, rep->c.sched->n_clients);
	if (e->fedbn)
		json_fedbn(f, e);
	fprintf(f, "  \"params_checksum\": \"%016llx\"\n}\n",
		(unsigned long long)params_checksum(rep));
	return coord_report__result_done(rep, f, RESULT_METRICS, final);
}

/* ---- summary.txt --------------------------------------------------------- */

/* The accuracy matrix as rows of percentages, for people. */
static void print_matrix(FILE *f, const struct coord_eval *e, uint32_t rows)
{
	uint32_t T = e->T;
	fprintf(f, "accuracy matrix (%%): row i = after task i, column j = task j\n");
	fprintf(f, "        ");
	for (uint32_t j = 0; j < T; j++)
		fprintf(f, " task%-3u", j);
	fprintf(f, "\n");
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "after %-2u", i);
		for (uint32_t j = 0; j < T; j++)
			if (e->no_test[j])
				fprintf(f, " %7s", "-");
			else
				fprintf(f, " %7.2f", 100.0 * e->acc_matrix[(size_t)i * T + j]);
		fprintf(f, "\n");
	}
	if (e->n_no_test)
		say_empty_tasks(f, e, "", "\n");
}

/* One line naming the logical clients that left the run or never came, if any. */
static void summary_gone(FILE *f, const struct coord_round *r)
{
	uint32_t n = 0;
	if (!r->n_clients_gone)
		return;
	fprintf(f, "%u logical clients gone (process left or never joined):", r->n_clients_gone);
	for (uint32_t c = 0; c < r->sched->n_clients && n < 32; c++)
		if (r->owner[c] == COORD_OWNER_GONE)
			fprintf(f, "%s%u", n++ ? "," : " ", c);
	fprintf(f, "%s\n", r->n_clients_gone > n ? ",..." : "");
}

/* One metric of summary.txt in points or percent; a metric that is not defined
 * for this run (forgetting or BWT with one task, metrics.json's null) says n/a
 * rather than printing nan. */
static void summary_value(FILE *f, const char *label, double v, const char *fmt, const char *unit)
{
	fprintf(f, "%-24s", label);
	if (isfinite(v))
		fprintf(f, fmt, 100.0 * v);
	else
		fprintf(f, "%6s", "n/a");
	fprintf(f, "%s\n", unit);
}

static void summary_metrics(FILE *f, const struct fcl_metric_values *v)
{
	summary_value(f, "final average accuracy", v->final_avg_acc, "%6.2f", "%");
	summary_value(f, "forgetting (max)", v->forgetting_max, "%6.2f", " points");
	summary_value(f, "forgetting (first)", v->forgetting_first, "%6.2f", " points");
	summary_value(f, "BWT", v->bwt, "%+6.2f", " points");
	summary_value(f, "FWT", v->fwt, "%+6.2f", " points");
	fprintf(f, "A_auc / A_last          %6.2f%% / %.2f%%\n", 100.0 * v->a_auc,
		100.0 * v->a_last);
	if (isfinite(v->min_acc))
		fprintf(f, "min-ACC / WC-ACC        %6.2f%% / %.2f%%\n", 100.0 * v->min_acc,
			100.0 * v->wc_acc);
	else
		fprintf(f, "min-ACC / WC-ACC           n/a / %.2f%%\n", 100.0 * v->wc_acc);
	if (v->gap.n_pairs)
		fprintf(f,
			"stability gap depth     %6.2f points (task just ended %.2f; %zu of %zu "
			"recovered)\n",
			100.0 * v->gap.depth, 100.0 * v->gap.depth_newest, v->gap.n_recovered,
			v->gap.n_pairs);
	else
		fprintf(f, "stability gap depth        n/a (no task followed another)\n");
}

/* summary.txt; a run that did not finish (reason not NULL) says so on its
 * second line, "run did not finish (...): reason" (fcl/runstatus.h). */
static int write_summary(struct coord_report *rep, const struct coord_round *r,
			 const struct coord_eval *e, uint32_t rows,
			 const struct fcl_metric_values *v, const char *reason, int final)
{
	const struct fcl_scenario *sc = rep->c.sc;
	uint32_t T = rep->c.sched->n_tasks;
	FILE *f = coord_report__result(rep, RESULT_SUMMARY, final);
	if (!f)
		return -EIO;
	fprintf(f, "scenario %s, seed %llu: %u rounds, %u tasks (%s), %u clients (%u per round)\n",
		sc->name, (unsigned long long)sc->seed, r->round, T,
		fcl_task_kind_name(sc->tasks.kind), rep->c.sched->n_clients,
		rep->c.sched->per_round);
	if (reason)
		fprintf(f, "run did not finish (%u of %u rounds, %u of %u tasks): %s\n", r->round,
			rep->c.sched->n_rounds, rows, T, reason);
	if (!isnan(rep->sim_time))
		fprintf(f, "simulated time %.1f s (devices: %s aggregation)\n", rep->sim_time,
			sc->aggregation.mode == FCL_AGG_SYNC                ? "synchronous"
			: sc->aggregation.async.method == FCL_ASYNC_FEDBUFF ? "FedBuff"
									    : "FedAsync");
	print_matrix(f, e, rows);
	if (e->n_rows)
		summary_metrics(f, v);
	const double *fedbn = fedbn_last(e);
	if (fedbn && fedbn[FEDBN_CLIENTS] > 0)
		fprintf(f,
			"FedBN (own batchnorm)   %6.2f%% mean over %u clients (min %.2f%%, max "
			"%.2f%%)\n",
			100.0 * fedbn[FEDBN_MEAN], (uint32_t)fedbn[FEDBN_CLIENTS],
			100.0 * fedbn[FEDBN_MIN], 100.0 * fedbn[FEDBN_MAX]);
	summary_gone(f, r);
	fprintf(f, "traffic: %.1f MB up, %.1f MB down; %llu bad messages dropped; %.1f s\n",
		(double)rep->bytes_up / 1e6, (double)rep->bytes_down / 1e6,
		(unsigned long long)rep->bad_messages, fcl_now() - rep->c.started);
	fprintf(f, "final parameter checksum %016llx (OpenBLAS's %s kernel)\n",
		(unsigned long long)params_checksum(rep), fcl_blas_core());
	fprintf(f, "every metric: metrics.json; tables: summary.md; plots: fcl-report %s\n",
		rep->c.run_dir);
	return coord_report__result_done(rep, f, RESULT_SUMMARY, final);
}

/* ---- summary.md ---------------------------------------------------------- */

static void md_value(FILE *f, double v, const char *unit)
{
	if (isnan(v))
		fprintf(f, "n/a");
	else if (strcmp(unit, "%") == 0)
		fprintf(f, "%.2f %%", 100.0 * v);
	else
		fprintf(f, "%+.2f", 100.0 * v);
}

static void md_matrix(FILE *f, const struct coord_eval *e, uint32_t rows)
{
	uint32_t T = e->T;

	fprintf(f, "## Accuracy matrix (%%)\n\nRow *i*: the global model after task *i*; "
		   "column *j*: task *j*'s test set; `init`: the model before training.\n\n");
	fprintf(f, "| |");
	for (uint32_t j = 0; j < T; j++)
		fprintf(f, " task %u |", j);
	fprintf(f, "\n|---|");
	for (uint32_t j = 0; j < T; j++)
		fprintf(f, "---:|");
	fprintf(f, "\n| init |");
	for (uint32_t j = 0; j < T; j++)
		if (e->no_test[j])
			fprintf(f, " - |");
		else
			fprintf(f, " %.2f |", 100.0 * e->init_acc[j]);
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "\n| after %u |", i);
		for (uint32_t j = 0; j < T; j++)
			if (e->no_test[j])
				fprintf(f, " - |");
			else
				fprintf(f, " %.2f |", 100.0 * e->acc_matrix[(size_t)i * T + j]);
	}
	if (e->n_no_test)
		say_empty_tasks(f, e, "\n\n", ".");
}

static void md_metrics(FILE *f, const struct coord_eval *e, const struct fcl_metric_values *v)
{
	uint32_t T = e->T;

	fprintf(f,
		"\n\n## Metrics\n\nFrom %zu evaluations of the global model "
		"(formulas: docs/metrics.md). Accuracies in %%, differences in points.\n\n",
		e->n_rows);
	fprintf(f, "| metric | metrics.json key | value |\n|---|---|---:|\n");
	for (const struct fcl_metric_info *m = fcl_metric_table; m->key; m++) {
		fprintf(f, "| %s | `%s` | ", m->label, m->key);
		md_value(f, fcl_metric_value(v, m), m->unit);
		fprintf(f, " |\n");
	}
	fprintf(f, "| stability gap depth | `stability_gap_depth` | ");
	md_value(f, v->gap.depth, "points");
	fprintf(f, " |\n| stability gap depth, task that just ended | "
		   "`stability_gap_depth_newest_task` | ");
	md_value(f, v->gap.depth_newest, "points");
	fprintf(f,
		" |\n| stability gap recovery (rounds, over %zu of %zu recovered) | "
		"`stability_gap_recovery_rounds` | ",
		v->gap.n_recovered, v->gap.n_pairs);
	if (isnan(v->gap.recovery_rounds))
		fprintf(f, "n/a |\n");
	else
		fprintf(f, "%.1f |\n", v->gap.recovery_rounds);
	if (T > 1) {
		fprintf(f, "\nStability gap depth per task switch (points):");
		for (uint32_t m = 0; m + 1 < T; m++) {
			fprintf(f, "%s", m ? ", " : " ");
			md_value(f, v->gap_per_switch[m], "points");
		}
		fprintf(f, ".\n");
	}
}

static void md_traffic(FILE *f, const struct coord_report *rep, const struct coord_eval *e)
{
	uint32_t T = rep->c.sched->n_tasks, N = rep->c.sched->n_clients;

	fprintf(f, "\n## Traffic and time per task\n\n");
	fprintf(f, "| task | MB up | MB down | seconds |\n|---:|---:|---:|---:|\n");
	for (uint32_t t = 0; t < T; t++)
		fprintf(f, "| %u | %.2f | %.2f | %.2f |\n", t, (double)rep->task_bytes_up[t] / 1e6,
			(double)rep->task_bytes_down[t] / 1e6, rep->task_seconds[t]);
	fprintf(f,
		"\nServer seconds per round (aggregation, evaluation, logging after the last "
		"update): mean %.4f, max %.4f over %u rounds; evaluation in total %.2f s. "
		"%llu bad messages dropped. Wall time %.1f s. Server peak memory %.1f MiB "
		"(estimated %.1f MiB, run.limits.memory_mb).\n",
		rep->n_rounds_done ? rep->server_s_sum / rep->n_rounds_done : 0.0,
		rep->server_s_max, rep->n_rounds_done, e->seconds,
		(unsigned long long)rep->bad_messages, fcl_now() - rep->c.started,
		fcl_peak_memory_bytes() / 1048576.0, rep->c.estimated_bytes / 1048576.0);
	fprintf(f, "\n## Clients\n\nBytes up are the client's update messages. The global "
		   "model goes down once per client process per round, so bytes down per client "
		   "are a share: each round's bytes down split evenly over the processes with "
		   "participants, and each process's part over its participants.\n\n");
	if (N > FCL_SCHEDULE_CSV_MAX_CLIENTS)
		fprintf(f,
			"%u clients are registered: the table lists those that sent "
			"updates.\n\n",
			N);
	fprintf(f, "| client | updates | MB up | MB down (share) | compute seconds |\n"
		   "|---:|---:|---:|---:|---:|\n");
	for (uint32_t c = 0; c < N; c++)
		if (coord_report__every_client(rep, c))
			fprintf(f, "| %u | %u | %.2f | %.2f | %.3f |\n", c, rep->client_updates[c],
				(double)rep->client_bytes_up[c] / 1e6,
				rep->client_bytes_down[c] / 1e6, rep->client_train_s[c]);
}

static void md_local_models(FILE *f, const struct coord_eval *e, uint32_t n_clients)
{
	fprintf(f, "\n## Local models\n\nEach client's local model (global + its update) "
		   "at the rounds it took part in and the global model was evaluated: its "
		   "own time x task record, whose task ends are its last evaluation in each "
		   "task.\n\n| client | evaluations |");
	for (size_t m = 0; m < N_LOCAL_METRICS; m++)
		fprintf(f, " `%s` |", local_metrics[m].key);
	fprintf(f, "\n|---:|---:|");
	for (size_t m = 0; m < N_LOCAL_METRICS; m++)
		fprintf(f, "---:|");
	fprintf(f, "\n");
	for (uint32_t c = 0; c < n_clients; c++) {
		struct fcl_acc_record lr;
		coord_eval_local_record(e, c, &lr);
		if (lr.n_rows == 0)
			continue;
		fprintf(f, "| %u | %zu |", c, lr.n_rows);
		for (size_t m = 0; m < N_LOCAL_METRICS; m++) {
			fprintf(f, " ");
			md_value(f, local_metrics[m].fn(&lr), local_metrics[m].unit);
			fprintf(f, " |");
		}
		fprintf(f, "\n");
	}
}

static void md_fedbn(FILE *f, const struct coord_eval *e)
{
	fprintf(f, "\n## FedBN\n\nNo client uses the global model's batchnorm values "
		   "(model.batchnorm: local): at each evaluation the global model is also "
		   "scored with each client's own, the latest it sent. Accuracy on the seen "
		   "tasks over those clients (docs/metrics.md, \"FedBN\").\n\n"
		   "| round | clients | mean | min | max |\n|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < e->n_rows; i++) {
		const double *row = e->fedbn + i * FEDBN_N;
		fprintf(f, "| %lld | %u |", (long long)e->round[i], (uint32_t)row[FEDBN_CLIENTS]);
		for (int k = FEDBN_MEAN; k < FEDBN_N; k++) {
			fprintf(f, " ");
			md_value(f, row[k], "%");
			fprintf(f, " |");
		}
		fprintf(f, "\n");
	}
}

static int write_summary_md(struct coord_report *rep, const struct coord_round *r,
			    const struct coord_eval *e, uint32_t rows,
			    const struct fcl_metric_values *v, const char *reason, int final)
{
	const struct fcl_scenario *sc = rep->c.sc;
	const struct fcl_schedule *sched = rep->c.sched;
	FILE *f = coord_report__result(rep, RESULT_SUMMARY_MD, final);
	if (!f)
		return -EIO;
	fprintf(f, "# Run %s\n\n", sc->name);
	fprintf(f,
		"Scenario `%s`, seed %llu: %u of %u rounds, %u tasks (%s), %u clients "
		"(%u per round), %zu parameters, computed with OpenBLAS's %s kernel. %s%s.\n\n",
		sc->name, (unsigned long long)sc->seed, r->round, sched->n_rounds, sched->n_tasks,
		fcl_task_kind_name(sc->tasks.kind), sched->n_clients, sched->per_round,
		rep->c.model->n_params, fcl_blas_core(), reason ? "**Did not finish**: " : "Complete",
		reason ? reason : "");
	md_matrix(f, e, rows);
	md_metrics(f, e, v);
	md_traffic(f, rep, e);
	coord_cost_md(&rep->cost, f);
	if (sc->eval.local_models)
		md_local_models(f, e, sched->n_clients);
	if (e->fedbn)
		md_fedbn(f, e);
	fprintf(f,
		"\nFiles: `eval.csv` (every evaluation), `events.jsonl` (every round), "
		"`metrics.json`; plots with `fcl-report %s`.\n",
		rep->c.run_dir);
	return coord_report__result_done(rep, f, RESULT_SUMMARY_MD, final);
}

int coord_report__write_results(struct coord_report *rep, const struct coord_round *r,
				const struct coord_eval *e, uint32_t rows,
				const struct fcl_metric_values *v, int unfinished,
				const char *reason, int final)
{
	char why[320];
	uint32_t T = rep->c.sched->n_tasks;

	if (unfinished || rows != T)
		snprintf(why, sizeof why, "%s",
			 reason       ? reason
			 : unfinished ? "?"
				      : "the run ended before its last task");
	/* metrics.json last: "complete" only if the others could be written */
	int rc = write_summary(rep, r, e, rows, v, unfinished || rows != T ? why : NULL, final);
	int rc2 = write_summary_md(rep, r, e, rows, v, unfinished || rows != T ? why : NULL, final);
	if ((rc || rc2) && !unfinished) {
		snprintf(why, sizeof why, "%s", rep->io_error);
		unfinished = 1;
	}
	int rc3 = write_metrics(rep, r, e, rows, v, unfinished || rows != T ? why : NULL, final);
	return rc ? rc : rc2 ? rc2 : rc3;
}
