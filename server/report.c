/* server/report.c - the run folder
 *
 * events.jsonl  one JSON object per line: run start, join, every round, run end
 * eval.csv      long format: round,model,task,accuracy (task "seen": the tasks seen
 *               so far, pooled; round -1: the initial model)
 * eval_class.csv long format: round,model,class,accuracy (classes of seen tasks)
 * metrics.json  the accuracy matrix and every metric derived from the record: a
 *               function of the scenario and seed only (traffic and times, which
 *               depend on the process layout and the machine, are in events.jsonl
 *               and summary.md)
 * summary.txt   the headline numbers for people, printed by fcl-sim at the end
 * summary.md    everything, as markdown tables
 */
#include "server.h"
#include "evaluate.h"

#include "fcl/log.h"
#include "fcl/metrics.h"
#include "fcl/rng.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* JSON arrays for events.jsonl: [v0,v1,...] */
static void json_u32s(FILE *f, const uint32_t *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? "," : "", v[i]);
	fputc(']', f);
}

static void json_u64s(FILE *f, const uint64_t *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	fputc(']', f);
}

static void json_doubles(FILE *f, const double *v, size_t n, int decimals)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%.*f", i ? "," : "", decimals, v[i]);
	fputc(']', f);
}

static FILE *open_in_run(const struct fcl_server *s, const char *name, const char *mode)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", s->run_dir, name);
	FILE *f = fopen(path, mode);
	if (!f)
		fcl_error("cannot open %s: %s", path, strerror(errno));
	return f;
}

int report_open(struct fcl_server *s)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/scenario.yaml", s->run_dir);
	if (fcl_write_file_atomic(path, s->scenario_text, s->scenario_len) != 0) {
		fcl_error("cannot write %s", path);
		return -EIO;
	}
	/* the compiled schedule: what each client meets and when (docs/scenarios.md) */
	snprintf(path, sizeof path, "%s/schedule", s->run_dir);
	if (fcl_mkdir_p(path) != 0 || fcl_schedule_write_csv(&s->sched, &s->sc, &s->train, path, 0)) {
		fcl_error("cannot write the compiled schedule into %s", path);
		return -EIO;
	}
	s->events = open_in_run(s, "events.jsonl", "w");
	s->eval_csv = open_in_run(s, "eval.csv", "w");
	if (!s->events || !s->eval_csv)
		return -EIO;
	if (s->sc.eval.per_class) {
		if (!(s->eval_class_csv = open_in_run(s, "eval_class.csv", "w")))
			return -EIO;
		fprintf(s->eval_class_csv, "round,model,class,accuracy\n");
	}
	if (eval_init(s) != 0) {
		fcl_error("out of memory for the evaluation record");
		return -ENOMEM;
	}
	fprintf(s->eval_csv, "round,model,task,accuracy\n");
	fprintf(s->events,
		"{\"event\":\"start\",\"scenario\":\"%s\",\"scenario_hash\":\"%016llx\","
		"\"seed\":%llu,\"clients\":%u,\"per_round\":%u,\"tasks\":%u,\"rounds\":%u,"
		"\"n_params\":%zu}\n",
		s->sc.name, (unsigned long long)s->scenario_hash, (unsigned long long)s->sc.seed,
		s->sched.n_clients, s->sched.per_round, s->sched.n_tasks, s->sched.n_rounds,
		s->model.n_params);
	/* The client strategies and their memory budget per logical client: the
	 * default, then one line per client group. */
	for (uint32_t g = 0; g <= s->sc.n_strategy_groups; g++) {
		const struct fcl_strategy_config *st =
		    g ? &s->sc.strategy_groups[g - 1].cfg : &s->sc.strategy;
		uint32_t mem = fcl_strategy_uses_replay(st) ? st->memory : 0;
		size_t per = fcl_strategy_bytes_per_sample(st, s->sched.n_classes);
		fprintf(s->events,
			"{\"event\":\"strategy\",\"name\":\"%s\",\"memory_samples\":%u,"
			"\"bytes_per_sample\":%zu,\"memory_bytes\":%zu,\"mode\":\"%s\","
			"\"stream_batch\":%u,\"replay_batch\":%u,\"online_iter\":%u",
			fcl_strategy_name(st), mem, per, (size_t)mem * per,
			s->sc.train.online ? "online" : "offline", s->sc.train.stream_batch,
			s->sc.train.replay_batch, s->sc.train.online_iter);
		if (g)
			fprintf(s->events, ",\"clients\":[%u,%u]",
				s->sc.strategy_groups[g - 1].first, s->sc.strategy_groups[g - 1].last);
		fprintf(s->events, "}\n");
	}
	fflush(s->events);
	eval_initial(s); /* b_j for FWT, before any training */
	return 0;
}

void report_free(struct fcl_server *s)
{
	if (s->eval_class_csv)
		fclose(s->eval_class_csv);
	s->eval_class_csv = NULL;
	eval_fini(s);
}

void report_update(struct fcl_server *s, uint32_t client, size_t bytes)
{
	if (s->rec && client < s->sched.n_clients)
		s->rec->client_bytes_up[client] += bytes;
}

void report_event(struct fcl_server *s, const char *event, const char *detail)
{
	if (!s->events)
		return;
	fprintf(s->events, "{\"event\":\"%s\",\"round\":%u,\"elapsed\":%.3f", event, s->round,
		fcl_now() - s->started);
	if (detail)
		fprintf(s->events, ",\"detail\":\"%s\"", detail);
	fprintf(s->events, ",\"peers\":%u,\"bad_messages\":%llu,\"bytes_up\":%llu,"
			   "\"bytes_down\":%llu}\n",
		s->n_peers, (unsigned long long)s->bad_messages, (unsigned long long)s->bytes_up,
		(unsigned long long)s->bytes_down);
	fflush(s->events);
}

/* The global model goes down once per client process, so bytes down per client are
 * an attribution: the round's bytes down are split evenly over the processes that
 * had participants (their messages differ only in the list of ids), and each
 * process's share evenly over its participants. */
static void attribute_bytes_down(struct fcl_server *s)
{
	uint32_t n_procs = 0;

	for (uint32_t p = 0; p < s->n_peers; p++)
		for (uint32_t i = 0; i < s->n_participants; i++)
			if (s->owner[s->participants[i]] == (int32_t)p) {
				n_procs++;
				break;
			}
	for (uint32_t p = 0; n_procs && p < s->n_peers; p++) {
		uint32_t here = 0;
		for (uint32_t i = 0; i < s->n_participants; i++)
			here += s->owner[s->participants[i]] == (int32_t)p;
		for (uint32_t i = 0; here && i < s->n_participants; i++)
			if (s->owner[s->participants[i]] == (int32_t)p)
				s->rec->client_bytes_down[s->participants[i]] +=
				    (double)s->round_bytes_down / n_procs / here;
	}
}

void report_gone(struct fcl_server *s, const char *event, uint32_t p, const uint32_t *ids,
		 uint32_t n_ids, const char *why)
{
	const struct peer *peer = &s->peers[p];
	char host[sizeof peer->hostname];
	if (!s->events)
		return;
	/* the hostname comes from the client: keep JSON-safe characters only */
	snprintf(host, sizeof host, "%s", peer->hostname);
	for (char *c = host; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	fprintf(s->events,
		"{\"event\":\"%s\",\"round\":%u,\"elapsed\":%.3f,\"pid\":%u,\"host\":\"%s\","
		"\"address\":\"%s\",\"reason\":\"%s\",\"clients\":",
		event, s->round, fcl_now() - s->started, peer->pid, host, peer->addr, why);
	json_u32s(s->events, ids, n_ids);
	fprintf(s->events, ",\"clients_gone\":%u}\n", s->n_clients_gone);
	fflush(s->events);
}

void report_absent(struct fcl_server *s, const uint32_t *ids, uint32_t n_ids)
{
	if (!s->events)
		return;
	fprintf(s->events, "{\"event\":\"absent\",\"round\":%u,\"elapsed\":%.3f,\"clients\":",
		s->round, fcl_now() - s->started);
	json_u32s(s->events, ids, n_ids);
	fprintf(s->events, ",\"clients_gone\":%u}\n", s->n_clients_gone);
	fflush(s->events);
}

void report_round(struct fcl_server *s, double round_seconds, double server_seconds)
{
	uint32_t task = fcl_schedule_task_of_round(&s->sched, s->round);
	double loss = 0.0, train_s = 0.0;

	fprintf(s->events, "{\"event\":\"round\",\"round\":%u,\"task\":%u,\"participants\":",
		s->round, task);
	json_u32s(s->events, s->participants, s->n_participants);
	fprintf(s->events, ",\"accepted\":%u,\"rejected\":%u,\"missing\":%u", s->n_accepted,
		s->n_rejected, s->n_participants - s->n_accepted - s->n_rejected);
	if (s->n_gone) {
		/* participants whose process had left: a subset of "missing" */
		fprintf(s->events, ",\"gone\":[");
		for (uint32_t i = 0, k = 0; i < s->n_participants; i++)
			if (s->slot[i] == SLOT_GONE)
				fprintf(s->events, "%s%u", k++ ? "," : "", s->participants[i]);
		fprintf(s->events, "]");
	}
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_ACCEPTED) {
			loss += s->slot_loss[i];
			train_s += s->slot_train_s[i];
		}
	if (s->n_accepted)
		fprintf(s->events, ",\"mean_loss\":%.6f", loss / s->n_accepted);
	if (s->rec) {
		struct run_record *r = s->rec;
		for (uint32_t i = 0; i < s->n_participants; i++)
			if (s->slot[i] == SLOT_ACCEPTED) {
				r->client_updates[s->participants[i]]++;
				r->client_train_s[s->participants[i]] += s->slot_train_s[i];
			}
		attribute_bytes_down(s);
		r->task_bytes_up[task] += s->round_bytes_up;
		r->task_bytes_down[task] += s->round_bytes_down;
		r->task_seconds[task] += round_seconds;
		r->server_s_sum += server_seconds;
		r->server_s_max = fmax(r->server_s_max, server_seconds);
		r->n_rounds_done++;
	}
	fprintf(s->events,
		",\"bytes_up\":%llu,\"bytes_down\":%llu,\"client_train_seconds\":%.4f,"
		"\"round_seconds\":%.4f,\"server_seconds\":%.4f,\"bad_messages\":%llu}\n",
		(unsigned long long)s->round_bytes_up, (unsigned long long)s->round_bytes_down,
		train_s, round_seconds, server_seconds, (unsigned long long)s->bad_messages);
	fflush(s->events);
	if (s->progress) {
		printf("progress round=%u rounds=%u task=%u tasks=%u updates=%u/%u acc=%.4f "
		       "bytes_up=%llu bytes_down=%llu elapsed=%.2f\n",
		       s->round + 1, s->sched.n_rounds, task, s->sched.n_tasks, s->n_accepted,
		       s->n_participants, s->last_acc, (unsigned long long)s->bytes_up,
		       (unsigned long long)s->bytes_down, fcl_now() - s->started);
		fflush(stdout);
	}
}

/* The accuracy matrix as rows of percentages, for people. */
static void print_matrix(FILE *f, const struct fcl_server *s, uint32_t rows)
{
	uint32_t T = s->sched.n_tasks;
	fprintf(f, "accuracy matrix (%%): row i = after task i, column j = task j\n");
	fprintf(f, "        ");
	for (uint32_t j = 0; j < T; j++)
		fprintf(f, " task%-3u", j);
	fprintf(f, "\n");
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "after %-2u", i);
		for (uint32_t j = 0; j < T; j++)
			fprintf(f, " %7.2f", 100.0 * s->acc_matrix[(size_t)i * T + j]);
		fprintf(f, "\n");
	}
}

static uint64_t params_checksum(const struct fcl_server *s)
{
	return fcl_hash64(s->model.params, s->model.n_params * sizeof(float));
}

/* Every metric of the record (fcl/metrics.h), with the local-model record left out. */
static void compute_metrics(const struct fcl_server *s, struct fcl_metric_values *v)
{
	struct fcl_acc_record r;

	eval_record(s, &r);
	if (!s->sc.eval.per_class)
		r.class_acc = NULL, r.n_classes = 0;
	fcl_metric_all(&r, v);
}

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

static void write_local_metrics(FILE *f, const struct fcl_server *s)
{
	fprintf(f, "  \"local_models\": [");
	for (uint32_t c = 0, first = 1; c < s->sched.n_clients; c++) {
		struct fcl_acc_record r;
		eval_local_record(s, c, &r);
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

static int write_metrics(struct fcl_server *s, uint32_t rows, const struct fcl_metric_values *v)
{
	uint32_t T = s->sched.n_tasks;
	const double *R = s->acc_matrix;
	FILE *f = open_in_run(s, "metrics.json", "w");
	if (!f)
		return -EIO;
	/* Metrics of a run that stopped early are those of its partial record. */
	int complete = rows == T;
	fprintf(f, "{\n  \"scenario\": \"%s\",\n  \"seed\": %llu,\n  \"complete\": %s,\n",
		s->sc.name, (unsigned long long)s->sc.seed, complete ? "true" : "false");
	fprintf(f, "  \"rounds\": %u,\n  \"tasks\": %u,\n", s->round, T);
	fprintf(f, "  \"evaluations\": %zu,\n", s->rec->n_rows);
	fprintf(f, "  \"init_accuracy\": ");
	json_row(f, s->rec->init_acc, T);
	fprintf(f, ",\n  \"accuracy_matrix\": [");
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_row(f, R + (size_t)i * T, T);
	}
	fprintf(f, "\n  ],\n");
	if (s->rec->n_rows) {
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
	if (s->sc.eval.local_models)
		write_local_metrics(f, s);
	fprintf(f, "  \"params_checksum\": \"%016llx\"\n}\n",
		(unsigned long long)params_checksum(s));
	return fclose(f) == 0 ? 0 : -EIO;
}

/* One line naming the logical clients that left the run or never came, if any. */
static void summary_gone(FILE *f, const struct fcl_server *s)
{
	uint32_t n = 0;
	if (!s->n_clients_gone)
		return;
	fprintf(f, "%u logical clients gone (process left or never joined):", s->n_clients_gone);
	for (uint32_t c = 0; c < s->sched.n_clients && n < 32; c++)
		if (s->owner[c] == OWNER_GONE)
			fprintf(f, "%s%u", n++ ? "," : " ", c);
	fprintf(f, "%s\n", s->n_clients_gone > n ? ",..." : "");
}

static int write_summary(struct fcl_server *s, uint32_t rows, const struct fcl_metric_values *v)
{
	uint32_t T = s->sched.n_tasks;
	FILE *f = open_in_run(s, "summary.txt", "w");
	if (!f)
		return -EIO;
	fprintf(f, "scenario %s, seed %llu: %u rounds, %u tasks (%s), %u clients (%u per round)\n",
		s->sc.name, (unsigned long long)s->sc.seed, s->round, T,
		fcl_task_kind_name(s->sc.tasks.kind), s->sched.n_clients, s->sched.per_round);
	print_matrix(f, s, rows);
	if (rows != T)
		fprintf(f, "run stopped after %u of %u tasks: %s\n", rows, T,
			s->fail_reason ? s->fail_reason : "?");
	if (s->rec->n_rows) {
		fprintf(f, "final average accuracy  %6.2f%%\n", 100.0 * v->final_avg_acc);
		fprintf(f, "forgetting (max)        %6.2f points\n", 100.0 * v->forgetting_max);
		fprintf(f, "forgetting (first)      %6.2f points\n", 100.0 * v->forgetting_first);
		fprintf(f, "BWT                     %+6.2f points\n", 100.0 * v->bwt);
		fprintf(f, "FWT                     %+6.2f points\n", 100.0 * v->fwt);
		fprintf(f, "A_auc / A_last          %6.2f%% / %.2f%%\n", 100.0 * v->a_auc,
			100.0 * v->a_last);
		fprintf(f, "min-ACC / WC-ACC        %6.2f%% / %.2f%%\n", 100.0 * v->min_acc,
			100.0 * v->wc_acc);
		fprintf(f, "stability gap depth     %6.2f points (task just ended %.2f; %zu of %zu "
			   "recovered)\n",
			100.0 * v->gap.depth, 100.0 * v->gap.depth_newest, v->gap.n_recovered,
			v->gap.n_pairs);
	}
	summary_gone(f, s);
	fprintf(f, "traffic: %.1f MB up, %.1f MB down; %llu bad messages dropped; %.1f s\n",
		(double)s->bytes_up / 1e6, (double)s->bytes_down / 1e6,
		(unsigned long long)s->bad_messages, fcl_now() - s->started);
	fprintf(f, "final parameter checksum %016llx\n", (unsigned long long)params_checksum(s));
	fprintf(f, "every metric: metrics.json; tables: summary.md; plots: fcl-report %s\n",
		s->run_dir);
	return fclose(f) == 0 ? 0 : -EIO;
}

static void md_value(FILE *f, double v, const char *unit)
{
	if (isnan(v))
		fprintf(f, "n/a");
	else if (strcmp(unit, "%") == 0)
		fprintf(f, "%.2f %%", 100.0 * v);
	else
		fprintf(f, "%+.2f", 100.0 * v);
}

static int write_summary_md(struct fcl_server *s, uint32_t rows, const struct fcl_metric_values *v)
{
	const struct run_record *r = s->rec;
	uint32_t T = s->sched.n_tasks, N = s->sched.n_clients;
	FILE *f = open_in_run(s, "summary.md", "w");
	if (!f)
		return -EIO;
	fprintf(f, "# Run %s\n\n", s->sc.name);
	fprintf(f, "Scenario `%s`, seed %llu: %u of %u rounds, %u tasks (%s), %u clients "
		   "(%u per round), %zu parameters. %s.\n\n",
		s->sc.name, (unsigned long long)s->sc.seed, s->round, s->sched.n_rounds, T,
		fcl_task_kind_name(s->sc.tasks.kind), N, s->sched.per_round, s->model.n_params,
		rows == T ? "Complete" : "**Stopped early**");
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
		fprintf(f, " %.2f |", 100.0 * r->init_acc[j]);
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "\n| after %u |", i);
		for (uint32_t j = 0; j < T; j++)
			fprintf(f, " %.2f |", 100.0 * s->acc_matrix[(size_t)i * T + j]);
	}
	fprintf(f, "\n\n## Metrics\n\nFrom %zu evaluations of the global model "
		   "(formulas: docs/metrics.md). Accuracies in %%, differences in points.\n\n",
		r->n_rows);
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
	fprintf(f, " |\n| stability gap recovery (rounds, over %zu of %zu recovered) | "
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

	fprintf(f, "\n## Traffic and time per task\n\n");
	fprintf(f, "| task | MB up | MB down | seconds |\n|---:|---:|---:|---:|\n");
	for (uint32_t t = 0; t < T; t++)
		fprintf(f, "| %u | %.2f | %.2f | %.2f |\n", t, (double)r->task_bytes_up[t] / 1e6,
			(double)r->task_bytes_down[t] / 1e6, r->task_seconds[t]);
	fprintf(f, "\nServer seconds per round (aggregation, evaluation, logging after the last "
		   "update): mean %.4f, max %.4f over %u rounds; evaluation in total %.2f s. "
		   "%llu bad messages dropped. Wall time %.1f s.\n",
		r->n_rounds_done ? r->server_s_sum / r->n_rounds_done : 0.0, r->server_s_max,
		r->n_rounds_done, r->eval_seconds, (unsigned long long)s->bad_messages,
		fcl_now() - s->started);
	fprintf(f, "\n## Clients\n\nBytes up are the client's update messages. The global "
		   "model goes down once per client process per round, so bytes down per client "
		   "are a share: each round's bytes down split evenly over the processes with "
		   "participants, and each process's part over its participants.\n\n");
	fprintf(f, "| client | updates | MB up | MB down (share) | compute seconds |\n"
		   "|---:|---:|---:|---:|---:|\n");
	for (uint32_t c = 0; c < N; c++)
		fprintf(f, "| %u | %u | %.2f | %.2f | %.3f |\n", c, r->client_updates[c],
			(double)r->client_bytes_up[c] / 1e6, r->client_bytes_down[c] / 1e6,
			r->client_train_s[c]);
	if (s->sc.eval.local_models) {
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
		for (uint32_t c = 0; c < N; c++) {
			struct fcl_acc_record lr;
			eval_local_record(s, c, &lr);
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
	fprintf(f, "\nFiles: `eval.csv` (every evaluation), `events.jsonl` (every round), "
		   "`metrics.json`; plots with `fcl-report %s`.\n",
		s->run_dir);
	return fclose(f) == 0 ? 0 : -EIO;
}

/* The per-task and per-client accounting, as one events.jsonl line. */
static void write_traffic_event(struct fcl_server *s)
{
	const struct run_record *r = s->rec;
	uint32_t T = s->sched.n_tasks, N = s->sched.n_clients;

	fprintf(s->events, "{\"event\":\"traffic\",\"round\":%u,\"task_bytes_up\":", s->round);
	json_u64s(s->events, r->task_bytes_up, T);
	fprintf(s->events, ",\"task_bytes_down\":");
	json_u64s(s->events, r->task_bytes_down, T);
	fprintf(s->events, ",\"task_seconds\":");
	json_doubles(s->events, r->task_seconds, T, 3);
	fprintf(s->events, ",\"client_bytes_up\":");
	json_u64s(s->events, r->client_bytes_up, N);
	fprintf(s->events, ",\"client_bytes_down_share\":");
	json_doubles(s->events, r->client_bytes_down, N, 0);
	fprintf(s->events, ",\"client_updates\":");
	json_u32s(s->events, r->client_updates, N);
	fprintf(s->events, ",\"client_train_seconds\":");
	json_doubles(s->events, r->client_train_s, N, 4);
	fprintf(s->events, ",\"server_seconds_mean\":%.5f,\"server_seconds_max\":%.5f,"
			   "\"eval_seconds\":%.3f}\n",
		r->n_rounds_done ? r->server_s_sum / r->n_rounds_done : 0.0, r->server_s_max,
		r->eval_seconds);
	fflush(s->events);
}

int report_close(struct fcl_server *s)
{
	/* Rows of the matrix are complete task ends. */
	uint32_t rows = s->round / s->sched.rounds_per_task;
	int rc = 0;

	if (rows > s->sched.n_tasks)
		rows = s->sched.n_tasks;
	if (!s->rec)
		return -EIO;
	/* The end of the run is evaluated too, when it stopped between evaluations. */
	if (s->round > 0)
		eval_global(s, s->round - 1, 0);
	struct fcl_metric_values v = {.gap_per_switch = calloc(s->sched.n_tasks, sizeof(double))};
	if (!v.gap_per_switch)
		return -ENOMEM;
	compute_metrics(s, &v);
	write_traffic_event(s);
	report_event(s, s->exit_code ? "failed" : "done", s->fail_reason);
	if (write_metrics(s, rows, &v) != 0 || write_summary(s, rows, &v) != 0 ||
	    write_summary_md(s, rows, &v) != 0)
		rc = -EIO;
	free(v.gap_per_switch);
	if (s->progress) {
		if (s->exit_code)
			printf("done status=failed reason=%s\n",
			       s->fail_reason ? s->fail_reason : "?");
		else
			printf("done status=ok\n");
		fflush(stdout);
	}
	return rc;
}
