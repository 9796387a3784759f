/* server/report.c - the run folder
 *
 * events.jsonl  one JSON object per line: run start, join, every round, run end
 * eval.csv      long format: round,model,task,accuracy
 * metrics.json  the accuracy matrix and the metrics derived from it: a function of
 *               the scenario and seed only (traffic, which depends on the process
 *               layout, is in events.jsonl and summary.txt)
 * summary.txt   the same for people, printed by fcl-sim at the end
 */
#include "server.h"

#include "fcl/log.h"
#include "fcl/metrics.h"
#include "fcl/rng.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
	s->events = open_in_run(s, "events.jsonl", "w");
	s->eval_csv = open_in_run(s, "eval.csv", "w");
	if (!s->events || !s->eval_csv)
		return -EIO;
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
			fcl_strategy_kind_name(st->kind), mem, per, (size_t)mem * per,
			s->sc.train.online ? "online" : "offline", s->sc.train.stream_batch,
			s->sc.train.replay_batch, s->sc.train.online_iter);
		if (g)
			fprintf(s->events, ",\"clients\":[%u,%u]",
				s->sc.strategy_groups[g - 1].first, s->sc.strategy_groups[g - 1].last);
		fprintf(s->events, "}\n");
	}
	fflush(s->events);
	return 0;
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

void report_round(struct fcl_server *s, double round_seconds, double server_seconds)
{
	uint32_t task = fcl_schedule_task_of_round(&s->sched, s->round);
	double loss = 0.0, train_s = 0.0;

	fprintf(s->events, "{\"event\":\"round\",\"round\":%u,\"task\":%u,\"participants\":[",
		s->round, task);
	for (uint32_t i = 0; i < s->n_participants; i++)
		fprintf(s->events, "%s%u", i ? "," : "", s->participants[i]);
	fprintf(s->events, "],\"accepted\":%u,\"rejected\":%u,\"missing\":%u", s->n_accepted,
		s->n_rejected, s->n_participants - s->n_accepted - s->n_rejected);
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_ACCEPTED) {
			loss += s->slot_loss[i];
			train_s += s->slot_train_s[i];
		}
	if (s->n_accepted)
		fprintf(s->events, ",\"mean_loss\":%.6f", loss / s->n_accepted);
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

void report_eval(struct fcl_server *s, const double *acc_per_task, int task_end)
{
	for (uint32_t t = 0; t < s->sched.n_tasks; t++)
		fprintf(s->eval_csv, "%u,global,%u,%.6f\n", s->round, t, acc_per_task[t]);
	fflush(s->eval_csv);
	fcl_info("round %u%s: accuracy on seen tasks %.2f%%", s->round,
		 task_end ? " (task end)" : "", 100.0 * s->last_acc);
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

static int write_metrics(struct fcl_server *s, uint32_t rows)
{
	uint32_t T = s->sched.n_tasks;
	const double *R = s->acc_matrix;
	FILE *f = open_in_run(s, "metrics.json", "w");
	if (!f)
		return -EIO;
	/* Metrics are defined on a complete matrix; a run that stopped early gets none. */
	int complete = rows == T;
	fprintf(f, "{\n  \"scenario\": \"%s\",\n  \"seed\": %llu,\n  \"complete\": %s,\n",
		s->sc.name, (unsigned long long)s->sc.seed, complete ? "true" : "false");
	fprintf(f, "  \"rounds\": %u,\n  \"tasks\": %u,\n", s->round, T);
	fprintf(f, "  \"accuracy_matrix\": [");
	for (uint32_t i = 0; i < rows; i++) {
		fprintf(f, "%s\n    [", i ? "," : "");
		for (uint32_t j = 0; j < T; j++)
			fprintf(f, "%s%.6f", j ? ", " : "", R[(size_t)i * T + j]);
		fprintf(f, "]");
	}
	fprintf(f, "\n  ],\n");
	if (complete) {
		fprintf(f, "  \"final_avg_acc\": %.6f,\n", fcl_metric_final_avg_acc(R, T));
		fprintf(f, "  \"avg_incremental_acc\": %.6f,\n",
			fcl_metric_avg_incremental_acc(R, T));
		fprintf(f, "  \"forgetting_max\": %.6f,\n", fcl_metric_forgetting_max(R, T));
		fprintf(f, "  \"forgetting_first\": %.6f,\n", fcl_metric_forgetting_first(R, T));
		fprintf(f, "  \"bwt\": %.6f,\n", fcl_metric_bwt(R, T));
	}
	fprintf(f, "  \"params_checksum\": \"%016llx\"\n}\n",
		(unsigned long long)params_checksum(s));
	return fclose(f) == 0 ? 0 : -EIO;
}

static int write_summary(struct fcl_server *s, uint32_t rows)
{
	uint32_t T = s->sched.n_tasks;
	const double *R = s->acc_matrix;
	FILE *f = open_in_run(s, "summary.txt", "w");
	if (!f)
		return -EIO;
	fprintf(f, "scenario %s, seed %llu: %u rounds, %u tasks (%s), %u clients (%u per round)\n",
		s->sc.name, (unsigned long long)s->sc.seed, s->round, T,
		fcl_task_kind_name(s->sc.tasks.kind), s->sched.n_clients, s->sched.per_round);
	print_matrix(f, s, rows);
	if (rows == T) {
		fprintf(f, "final average accuracy  %6.2f%%\n",
			100.0 * fcl_metric_final_avg_acc(R, T));
		fprintf(f, "forgetting (max)        %6.2f points\n",
			100.0 * fcl_metric_forgetting_max(R, T));
		fprintf(f, "forgetting (first)      %6.2f points\n",
			100.0 * fcl_metric_forgetting_first(R, T));
		fprintf(f, "BWT                     %+6.2f points\n", 100.0 * fcl_metric_bwt(R, T));
	} else {
		fprintf(f, "run stopped after %u of %u tasks: %s\n", rows, T,
			s->fail_reason ? s->fail_reason : "?");
	}
	fprintf(f, "traffic: %.1f MB up, %.1f MB down; %llu bad messages dropped; %.1f s\n",
		(double)s->bytes_up / 1e6, (double)s->bytes_down / 1e6,
		(unsigned long long)s->bad_messages, fcl_now() - s->started);
	fprintf(f, "final parameter checksum %016llx\n", (unsigned long long)params_checksum(s));
	return fclose(f) == 0 ? 0 : -EIO;
}

int report_close(struct fcl_server *s)
{
	/* Rows of the matrix are complete task ends. */
	uint32_t rows = s->round / s->sched.rounds_per_task;
	int rc = 0;

	if (rows > s->sched.n_tasks)
		rows = s->sched.n_tasks;
	report_event(s, s->exit_code ? "failed" : "done", s->fail_reason);
	if (write_metrics(s, rows) != 0 || write_summary(s, rows) != 0)
		rc = -EIO;
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
