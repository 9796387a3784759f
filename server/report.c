/* server/report.c - the run folder: its files, events.jsonl and the accounting
 * of traffic and time (the files are listed in report.h)
 */
#include "report.h"
#include "evaluate.h"
#include "report-private.h"
#include "round.h"
#include "sim.h"

#include "fcl/log.h"
#include "fcl/metrics.h"
#include "fcl/model.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The end of a batch of events.jsonl lines that began at `at`. */
static void end_lines(struct coord_report *rep, long at)
{
	int rc = fcl_flush_lines(rep->events, at);
	if (rc)
		coord_report__io_error(rep, "events.jsonl", rc);
}

/* ---- setup and teardown -------------------------------------------------- */

/* scenario.yaml, and the compiled schedule: what each client meets and when
 * (docs/scenarios.md). 0 or -errno. */
static int write_inputs(struct coord_report *rep)
{
	char path[4096];
	int rc;

	snprintf(path, sizeof path, "%s/scenario.yaml", rep->c.run_dir);
	if ((rc = fcl_write_file_atomic(path, rep->c.scenario_text, rep->c.scenario_len)) != 0) {
		coord_report__io_error(rep, "scenario.yaml", rc);
		return rc;
	}
	snprintf(path, sizeof path, "%s/schedule", rep->c.run_dir);
	int per_client = rep->c.sched->n_clients <= FCL_SCHEDULE_CSV_MAX_CLIENTS;
	if (!per_client)
		fcl_info("%u logical clients: the run folder's schedule/ has tasks.csv only "
			 "(fcl-scenario compile writes the per-client files)",
			 rep->c.sched->n_clients);
	if ((rc = fcl_mkdir_p(path)) != 0 ||
	    (rc = per_client
		      ? fcl_schedule_write_csv(rep->c.sched, rep->c.sc, rep->c.train, path, 0)
		      : fcl_schedule_write_tasks_csv(rep->c.sched, rep->c.sc, rep->c.train,
						     path)) != 0) {
		coord_report__io_error(rep, "schedule/", rc < 0 ? rc : -EIO);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

static int alloc_accounting(struct coord_report *rep)
{
	uint32_t T = rep->c.sched->n_tasks, N = rep->c.sched->n_clients;

	rep->task_bytes_up = calloc(T, sizeof *rep->task_bytes_up);
	rep->task_bytes_down = calloc(T, sizeof *rep->task_bytes_down);
	rep->task_seconds = calloc(T, sizeof *rep->task_seconds);
	rep->client_bytes_up = calloc(N, sizeof *rep->client_bytes_up);
	rep->client_bytes_down = calloc(N, sizeof *rep->client_bytes_down);
	rep->client_updates = calloc(N, sizeof *rep->client_updates);
	rep->client_train_s = calloc(N, sizeof *rep->client_train_s);
	rep->gap_per_switch = calloc(T, sizeof *rep->gap_per_switch);
	if (rep->task_bytes_up && rep->task_bytes_down && rep->task_seconds &&
	    rep->client_bytes_up && rep->client_bytes_down && rep->client_updates &&
	    rep->client_train_s && rep->gap_per_switch)
		return 0;
	fcl_error("out of memory for the run record");
	return -ENOMEM;
}

static void free_accounting(struct coord_report *rep)
{
	free(rep->task_bytes_up);
	free(rep->task_bytes_down);
	free(rep->task_seconds);
	free(rep->client_bytes_up);
	free(rep->client_bytes_down);
	free(rep->client_updates);
	free(rep->client_train_s);
	free(rep->gap_per_switch);
}

/* The first lines of events.jsonl: the run, then the client strategies and their
 * memory budget per logical client (the default, then one line per client group). */
static void write_start(struct coord_report *rep)
{
	const struct fcl_scenario *sc = rep->c.sc;
	const struct fcl_schedule *sched = rep->c.sched;
	FILE *f = rep->events;

	long at = ftell(f);
	fprintf(f,
		"{\"event\":\"start\",\"scenario\":\"%s\",\"scenario_hash\":\"%016llx\","
		"\"seed\":%llu,\"clients\":%u,\"per_round\":%u,\"tasks\":%u,\"rounds\":%u,"
		"\"n_params\":%zu,\"local_epochs\":%u,\"layers\":[%u",
		sc->name, (unsigned long long)rep->c.scenario_hash, (unsigned long long)sc->seed,
		sched->n_clients, sched->per_round, sched->n_tasks, sched->n_rounds,
		rep->c.model->n_params, sched->online ? 1 : sched->local_epochs, sched->dim);
	/* the model's layer sizes, input to output (tools/bench-protocol counts FLOPs) */
	for (uint32_t h = 0; h < sc->model.n_hidden; h++)
		fprintf(f, ",%u", sc->model.hidden[h]);
	fprintf(f, ",%u]}\n", sched->n_classes);
	for (uint32_t g = 0; g <= sc->n_strategy_groups; g++) {
		const struct fcl_strategy_config *st =
		    g ? &sc->strategy_groups[g - 1].cfg : &sc->strategy;
		uint32_t mem = fcl_strategy_uses_replay(st) ? st->memory : 0;
		size_t per = fcl_strategy_bytes_per_sample(st, sched->n_classes);
		fprintf(f,
			"{\"event\":\"strategy\",\"name\":\"%s\",\"memory_samples\":%u,"
			"\"bytes_per_sample\":%zu,\"memory_bytes\":%zu,\"mode\":\"%s\","
			"\"stream_batch\":%u,\"replay_batch\":%u,\"online_iter\":%u",
			fcl_strategy_name(st), mem, per, (size_t)mem * per,
			sc->train.online ? "online" : "offline", sc->train.stream_batch,
			sc->train.replay_batch, sc->train.online_iter);
		if (g)
			fprintf(f, ",\"clients\":[%u,%u]", sc->strategy_groups[g - 1].first,
				sc->strategy_groups[g - 1].last);
		fprintf(f, "}\n");
	}
	end_lines(rep, at);
}

/* The first lines of eval.csv, eval_class.csv and events.jsonl. */
static int write_heads(struct coord_report *rep)
{
	int rc;
	if (rep->eval_class_csv) {
		fprintf(rep->eval_class_csv, "round,model,class,accuracy\n");
		if ((rc = fcl_flush_lines(rep->eval_class_csv, 0)) != 0) {
			coord_report__io_error(rep, "eval_class.csv", rc);
			return rc;
		}
	}
	fprintf(rep->eval_csv, "round,model,task,accuracy%s\n",
		isnan(rep->sim_time) ? "" : ",sim_time");
	if ((rc = fcl_flush_lines(rep->eval_csv, 0)) != 0) {
		coord_report__io_error(rep, "eval.csv", rc);
		return rc;
	}
	write_start(rep);
	return rep->io_error[0] ? -EIO : 0;
}

int coord_report_init(struct coord_report *rep, const struct coord_report_config *cfg)
{
	/* a resumed run appends to its files, cut back to the checkpoint (coord_report_load) */
	const char *mode = cfg->resume ? "a" : "w";
	int rc;

	memset(rep, 0, sizeof *rep);
	rep->c = *cfg;
	rep->sim_time = fcl_scenario_timed(cfg->sc) ? 0.0 : NAN;
	if ((rc = coord_report__reserve(rep)) != 0)
		return rc;
	if (!cfg->resume && (rc = write_inputs(rep)) != 0)
		goto err_reserve;
	rc = -EIO;
	/* events.jsonl is read too, by a rollback (interruptions) */
	if (!(rep->events = coord_report__open(rep, "events.jsonl", cfg->resume ? "a+" : "w+")))
		goto err_reserve;
	if (!(rep->eval_csv = coord_report__open(rep, "eval.csv", mode)))
		goto err_events;
	if (cfg->sc->eval.per_class &&
	    !(rep->eval_class_csv = coord_report__open(rep, "eval_class.csv", mode)))
		goto err_eval_csv;
	if ((rc = alloc_accounting(rep)) != 0 || (rc = coord_report__open_finals(rep)) != 0)
		goto err_accounting;
	if (!cfg->resume && (rc = write_heads(rep)) != 0)
		goto err_accounting;
	return 0;

err_accounting:
	coord_report__close_finals(rep);
	free_accounting(rep);
	if (rep->eval_class_csv)
		fclose(rep->eval_class_csv);
err_eval_csv:
	fclose(rep->eval_csv);
err_events:
	fclose(rep->events);
err_reserve:
	coord_report__unreserve(rep);
	return rc;
}

void coord_report_fini(struct coord_report *rep)
{
	coord_report__unreserve(rep);
	coord_report__close_finals(rep);
	if (rep->eval_class_csv)
		fclose(rep->eval_class_csv);
	fclose(rep->eval_csv);
	fclose(rep->events);
	free_accounting(rep);
	memset(rep, 0, sizeof *rep);
}

/* ---- during the run ------------------------------------------------------ */

void coord_report_dropped(struct coord_report *rep, const char *why)
{
	rep->bad_messages++;
	fcl_warn("dropped message (%llu so far): %s", (unsigned long long)rep->bad_messages, why);
}

void coord_report_up(struct coord_report *rep, size_t bytes)
{
	rep->bytes_up += bytes;
	rep->round_bytes_up += bytes;
}

void coord_report_down(struct coord_report *rep, size_t bytes)
{
	rep->bytes_down += bytes;
	rep->round_bytes_down += bytes;
}

void coord_report_update(struct coord_report *rep, uint32_t client, size_t bytes)
{
	if (client < rep->c.sched->n_clients)
		rep->client_bytes_up[client] += bytes;
}

void coord_report_round_start(struct coord_report *rep)
{
	rep->round_bytes_up = rep->round_bytes_down = 0;
}

void coord_report_say(const struct coord_report *rep, const char *line)
{
	if (rep->c.progress) {
		printf("%s\n", line);
		fflush(stdout);
	}
}

void coord_report_event(struct coord_report *rep, const struct coord_round *r, const char *event,
			const char *detail)
{
	long at = ftell(rep->events);
	fprintf(rep->events, "{\"event\":\"%s\",\"round\":%u,\"elapsed\":%.3f", event, r->round,
		fcl_now() - rep->c.started);
	if (detail) {
		fprintf(rep->events, ",\"detail\":");
		coord_report__json_str(rep->events, detail);
	}
	if (!isnan(rep->sim_time))
		fprintf(rep->events, ",\"sim_time\":%.4f", rep->sim_time);
	fprintf(rep->events,
		",\"peers\":%u,\"bad_messages\":%llu,\"refused_hellos\":%llu,\"bytes_up\":%llu,"
		"\"bytes_down\":%llu}\n",
		r->n_peers, (unsigned long long)rep->bad_messages,
		(unsigned long long)rep->refused_hellos,
		(unsigned long long)rep->bytes_up, (unsigned long long)rep->bytes_down);
	end_lines(rep, at);
}

/* The global model goes down once per client process, so bytes down per client are
 * an attribution: the round's bytes down are split evenly over the processes that
 * had participants (their messages differ only in the list of ids), and each
 * process's share evenly over its participants. */
static void attribute_bytes_down(struct coord_report *rep, const struct coord_round *r)
{
	uint32_t n_procs = 0;

	for (uint32_t p = 0; p < r->n_peers; p++)
		for (uint32_t i = 0; i < r->n_participants; i++)
			if (r->owner[r->participants[i]] == (int32_t)p) {
				n_procs++;
				break;
			}
	for (uint32_t p = 0; n_procs && p < r->n_peers; p++) {
		uint32_t here = 0;
		for (uint32_t i = 0; i < r->n_participants; i++)
			here += r->owner[r->participants[i]] == (int32_t)p;
		for (uint32_t i = 0; here && i < r->n_participants; i++)
			if (r->owner[r->participants[i]] == (int32_t)p)
				rep->client_bytes_down[r->participants[i]] +=
				    (double)rep->round_bytes_down / n_procs / here;
	}
}

void coord_report_gone(struct coord_report *rep, const struct coord_round *r, const char *event,
		       uint32_t p, const char *addr, const uint32_t *ids, uint32_t n_ids,
		       const char *why)
{
	const struct coord_peer *peer = &r->peers[p];
	char host[sizeof peer->hostname];

	/* the hostname comes from the client: keep JSON-safe characters only */
	snprintf(host, sizeof host, "%s", peer->hostname);
	for (char *c = host; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	long at = ftell(rep->events);
	fprintf(rep->events,
		"{\"event\":\"%s\",\"round\":%u,\"elapsed\":%.3f,\"pid\":%u,\"host\":\"%s\","
		"\"address\":",
		event, r->round, fcl_now() - rep->c.started, peer->pid, host);
	coord_report__json_str(rep->events, addr);
	fprintf(rep->events, ",\"reason\":");
	coord_report__json_str(rep->events, why);
	fprintf(rep->events, ",\"clients\":");
	json_u32s(rep->events, ids, n_ids);
	fprintf(rep->events, ",\"clients_gone\":%u}\n", r->n_clients_gone);
	end_lines(rep, at);
	/* a launcher that can replace the process (fcl-sim) learns which one */
	if (rep->c.progress && strcmp(event, "lost") == 0 && n_ids) {
		printf("lost first=%u last=%u\n", ids[0], ids[n_ids - 1]);
		fflush(stdout);
	}
}

void coord_report_absent(struct coord_report *rep, const struct coord_round *r, const uint32_t *ids,
			 uint32_t n_ids)
{
	long at = ftell(rep->events);
	fprintf(rep->events,
		"{\"event\":\"absent\",\"round\":%u,\"elapsed\":%.3f,\"clients\":", r->round,
		fcl_now() - rep->c.started);
	json_u32s(rep->events, ids, n_ids);
	fprintf(rep->events, ",\"clients_gone\":%u}\n", r->n_clients_gone);
	end_lines(rep, at);
}

/* How many client processes host the n clients ids (owner: each client's peer). */
static uint32_t count_procs(const int32_t *owner, const uint32_t *ids, uint32_t n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t j = 0;
		while (j < i && owner[ids[j]] != owner[ids[i]])
			j++;
		k += j == i && owner[ids[i]] >= 0;
	}
	return k;
}

/* The round's share of the per-task and per-client accounting. */
static void account_round(struct coord_report *rep, const struct coord_round *r, uint32_t task,
			  double round_seconds, double server_seconds)
{
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->slot[i] == COORD_SLOT_ACCEPTED) {
			rep->client_updates[r->participants[i]]++;
			rep->client_train_s[r->participants[i]] += r->slot_train_s[i];
		}
	attribute_bytes_down(rep, r);
	rep->task_bytes_up[task] += rep->round_bytes_up;
	rep->task_bytes_down[task] += rep->round_bytes_down;
	rep->task_seconds[task] += round_seconds;
	rep->server_s_sum += server_seconds;
	rep->server_s_max = fmax(rep->server_s_max, server_seconds);
	rep->n_rounds_done++;
}

void coord_report_round(struct coord_report *rep, const struct coord_round *r,
			const struct coord_eval *e, double round_seconds, double server_seconds)
{
	const struct fcl_schedule *sched = rep->c.sched;
	uint32_t task = fcl_schedule_task_of_round(sched, r->round);
	double loss = 0.0, train_s = 0.0;
	FILE *f = rep->events;
	long at = ftell(f);

	fprintf(f, "{\"event\":\"round\",\"round\":%u,\"task\":%u,\"participants\":", r->round,
		task);
	json_u32s(f, r->participants, r->n_participants);
	fprintf(f, ",\"accepted\":%u,\"rejected\":%u,\"missing\":%u", r->n_accepted, r->n_rejected,
		r->n_participants - r->n_accepted - r->n_rejected);
	if (r->n_gone) {
		/* participants whose process had left: a subset of "missing" */
		fprintf(f, ",\"gone\":[");
		for (uint32_t i = 0, k = 0; i < r->n_participants; i++)
			if (r->slot[i] == COORD_SLOT_GONE)
				fprintf(f, "%s%u", k++ ? "," : "", r->participants[i]);
		fprintf(f, "]");
	}
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->slot[i] == COORD_SLOT_ACCEPTED) {
			loss += r->slot_loss[i];
			train_s += r->slot_train_s[i];
		}
	if (r->n_accepted)
		fprintf(f, ",\"mean_loss\":%.6f", loss / r->n_accepted);
	account_round(rep, r, task, round_seconds, server_seconds);
	fprintf(f,
		",\"bytes_up\":%llu,\"bytes_down\":%llu,\"client_train_seconds\":%.4f,"
		"\"round_seconds\":%.4f,\"server_seconds\":%.4f,\"bad_messages\":%llu",
		(unsigned long long)rep->round_bytes_up, (unsigned long long)rep->round_bytes_down,
		train_s, round_seconds, server_seconds, (unsigned long long)rep->bad_messages);
	coord_cost_round_end(&rep->cost, f, round_seconds,
			     count_procs(r->owner, r->participants, r->n_participants));
	fprintf(f, "}\n");
	end_lines(rep, at);
	if (rep->c.progress) {
		printf("progress round=%u rounds=%u task=%u tasks=%u updates=%u/%u acc=%.4f "
		       "bytes_up=%llu bytes_down=%llu elapsed=%.2f\n",
		       r->round, sched->n_rounds, task, sched->n_tasks, r->n_accepted,
		       r->n_participants, e->last_acc, (unsigned long long)rep->bytes_up,
		       (unsigned long long)rep->bytes_down, fcl_now() - rep->c.started);
		fflush(stdout);
	}
}

void coord_report_task_end(struct coord_report *rep, uint32_t round, uint32_t task)
{
	long at = ftell(rep->events);
	fprintf(rep->events,
		"{\"event\":\"task_end\",\"round\":%u,\"task\":%u,\"elapsed\":%.3f,"
		"\"sim_time\":%.4f}\n",
		round, task, fcl_now() - rep->c.started, rep->sim_time);
	end_lines(rep, at);
}

void coord_report_down_to(struct coord_report *rep, const uint32_t *ids, size_t n, size_t bytes)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] < rep->c.sched->n_clients)
			rep->client_bytes_down[ids[i]] += (double)bytes / (double)n;
}

/* The step's lists in its events.jsonl line. */
static void sim_step_lists(FILE *f, const struct coord_sim *s)
{
	const struct coord_sim_step *st = &s->step;

	if (!s->async) {
		fprintf(f, ",\"sim_start\":%.4f,\"data_round\":%u,\"participants\":", st->start,
			st->data_round);
		json_u32s(f, st->selected, st->n_selected);
		fprintf(f, ",\"late\":");
		json_u32s(f, st->late, st->n_late);
	}
	fprintf(f, ",\"version\":%llu,\"updates\":", (unsigned long long)st->version);
	json_u32s(f, st->clients, st->n);
	fprintf(f, ",\"staleness\":");
	json_u32s(f, st->staleness, st->n);
}

void coord_report_sim_step(struct coord_report *rep, const struct coord_sim *s,
			   const struct coord_eval *e, double wall_seconds, double server_seconds)
{
	const struct coord_sim_step *st = &s->step;
	FILE *f = rep->events;
	long at = ftell(f);

	fprintf(f, "{\"event\":\"round\",\"round\":%u,\"task\":%u,\"sim_time\":%.4f", st->round,
		st->task, st->time);
	sim_step_lists(f, s);
	fprintf(f, ",\"accepted\":%u,\"rejected\":%u,\"lost\":%u,\"too_stale\":%u", st->n,
		st->n_rejected, st->n_lost, st->n_too_stale);
	if (st->n)
		fprintf(f, ",\"mean_loss\":%.6f", st->loss_sum / st->n);
	for (uint32_t i = 0; i < st->n; i++) {
		rep->client_updates[st->clients[i]]++;
		rep->client_train_s[st->clients[i]] += st->train_s[i];
	}
	rep->task_bytes_up[st->task] += rep->round_bytes_up;
	rep->task_bytes_down[st->task] += rep->round_bytes_down;
	rep->task_seconds[st->task] += wall_seconds;
	rep->server_s_sum += server_seconds;
	rep->server_s_max = fmax(rep->server_s_max, server_seconds);
	rep->n_rounds_done++;
	fprintf(f,
		",\"bytes_up\":%llu,\"bytes_down\":%llu,\"client_train_seconds\":%.4f,"
		"\"round_seconds\":%.4f,\"server_seconds\":%.4f,\"bad_messages\":%llu",
		(unsigned long long)rep->round_bytes_up, (unsigned long long)rep->round_bytes_down,
		st->train_s_sum, wall_seconds, server_seconds,
		(unsigned long long)rep->bad_messages);
	/* jobs overlap steps in simulated time: the processes are those of the step's updates */
	coord_cost_round_end(&rep->cost, f, wall_seconds,
			     count_procs(s->owner, st->clients, st->n));
	fprintf(f, "}\n");
	end_lines(rep, at);
	coord_report_round_start(rep);
	if (rep->c.progress) {
		const struct fcl_schedule *sched = rep->c.sched;
		printf("progress round=%u rounds=%u task=%u tasks=%u updates=%u acc=%.4f "
		       "sim_time=%.1f bytes_up=%llu bytes_down=%llu elapsed=%.2f\n",
		       (s->time_tasks ? s->boundaries : s->steps) - 1, sched->n_rounds, st->task,
		       sched->n_tasks, st->n, e->last_acc, st->time,
		       (unsigned long long)rep->bytes_up, (unsigned long long)rep->bytes_down,
		       fcl_now() - rep->c.started);
		fflush(stdout);
	}
}

/* ---- the end ------------------------------------------------------------- */

/* Does the run's record list every client, or only those that sent updates
 * (more than FCL_SCHEDULE_CSV_MAX_CLIENTS registered)? */
int coord_report__every_client(const struct coord_report *rep, uint32_t c)
{
	return rep->c.sched->n_clients <= FCL_SCHEDULE_CSV_MAX_CLIENTS || rep->client_updates[c];
}

/* The per-client lists of the traffic line, over the clients of the record. */
static void write_client_lists(struct coord_report *rep, FILE *f)
{
	static const char *const keys[] = {"client_bytes_up", "client_bytes_down_share",
					   "client_updates", "client_train_seconds"};
	uint32_t N = rep->c.sched->n_clients;

	if (N > FCL_SCHEDULE_CSV_MAX_CLIENTS) { /* the lists follow these ids */
		fprintf(f, ",\"client_ids\":[");
		for (uint32_t c = 0, k = 0; c < N; c++)
			if (rep->client_updates[c])
				fprintf(f, "%s%u", k++ ? "," : "", c);
		fputc(']', f);
	}
	for (int key = 0; key < 4; key++) {
		fprintf(f, ",\"%s\":[", keys[key]);
		for (uint32_t c = 0, k = 0; c < N; c++) {
			if (!coord_report__every_client(rep, c))
				continue;
			fprintf(f, "%s", k++ ? "," : "");
			if (key == 0)
				fprintf(f, "%llu", (unsigned long long)rep->client_bytes_up[c]);
			else if (key == 1)
				fprintf(f, "%.0f", rep->client_bytes_down[c]);
			else if (key == 2)
				fprintf(f, "%u", rep->client_updates[c]);
			else
				fprintf(f, "%.4f", rep->client_train_s[c]);
		}
		fputc(']', f);
	}
}

/* The per-task and per-client accounting, as one events.jsonl line. */
static void write_traffic_event(struct coord_report *rep, const struct coord_round *r,
				const struct coord_eval *e)
{
	uint32_t T = rep->c.sched->n_tasks;
	FILE *f = rep->events;
	long at = ftell(f);

	fprintf(f, "{\"event\":\"traffic\",\"round\":%u,\"task_bytes_up\":", r->round);
	json_u64s(f, rep->task_bytes_up, T);
	fprintf(f, ",\"task_bytes_down\":");
	json_u64s(f, rep->task_bytes_down, T);
	fprintf(f, ",\"task_seconds\":");
	json_doubles(f, rep->task_seconds, T, 3);
	write_client_lists(rep, f);
	fprintf(f,
		",\"server_seconds_mean\":%.5f,\"server_seconds_max\":%.5f,"
		"\"eval_seconds\":%.3f}\n",
		rep->n_rounds_done ? rep->server_s_sum / rep->n_rounds_done : 0.0,
		rep->server_s_max, e->seconds);
	end_lines(rep, at);
}

/* Rows of the accuracy matrix so far (complete task ends), and every metric of
 * the global record into *v. */
static uint32_t metrics_so_far(struct coord_report *rep, const struct coord_round *r,
			       const struct coord_eval *e, struct fcl_metric_values *v)
{
	uint32_t rows = r->round / rep->c.sched->rounds_per_task;
	struct fcl_acc_record rec;

	if (rows > rep->c.sched->n_tasks)
		rows = rep->c.sched->n_tasks;
	*v = (struct fcl_metric_values){.gap_per_switch = rep->gap_per_switch};
	/* the global model's record; the local models' are in write_results */
	coord_eval_record(e, &rec);
	if (!rep->c.sc->eval.per_class)
		rec.class_acc = NULL, rec.n_classes = 0;
	fcl_metric_all(&rec, v);
	return rows;
}

int coord_report_close(struct coord_report *rep, const struct coord_round *r,
		       const struct coord_eval *e, int exit_code, const char *reason)
{
	struct fcl_metric_values v;
	uint32_t rows = metrics_so_far(rep, r, e, &v);

	/* Now the results may take the space and file descriptors set aside. */
	coord_report__unreserve(rep);
	write_traffic_event(rep, r, e);
	coord_report_event(rep, r, exit_code ? "failed" : "done", reason);
	if (!exit_code && rep->io_error[0])
		reason = rep->io_error;
	int rc = coord_report__write_results(rep, r, e, rows, &v, exit_code || rep->io_error[0],
					     reason, 1);
	if (rep->c.progress) {
		if (exit_code || rc)
			printf("done status=failed reason=%s\n", reason             ? reason
								 : rep->io_error[0] ? rep->io_error
										    : "?");
		else
			printf("done status=ok\n");
		fflush(stdout);
	}
	return rc;
}

int coord_report_unfinished(struct coord_report *rep, const struct coord_round *r,
			    const struct coord_eval *e, const char *reason)
{
	struct fcl_metric_values v;
	uint32_t rows = metrics_so_far(rep, r, e, &v);
	return coord_report__write_results(rep, r, e, rows, &v, 1, reason, 0);
}
