/* tests/test_round_sim.c - the coordinator's rounds in simulated time, without sockets
 *
 * The world of round_world.c with a devices section: 4 clients in 2 processes
 * (peer 0 hosts 0-1, peer 1 hosts 2-3) whose jobs take 2, 4, 6 and 8 simulated
 * seconds (latency 1, 2, 3, 4 s each way, computing at a billion samples per
 * second). Deadlines, stragglers, over-selection, staleness, the order in which
 * updates arrive, FedBuff and FedAsync, availability traces, lost jobs.
 */
#include "round_world.h"

#include "fcl/log.h"
#include "fcl/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char sim_fmt[] =
    "name: round-sim\n"
    "seed: 3\n"
    "data: {dataset: synthetic, synthetic: {train: 200, test: 50, dim: 8, classes: 4}}\n"
    "model: {hidden: [4]}\n"
    "clients: {count: 4, per_round: %u}\n"
    "tasks: {generator: class-incremental, count: 2, classes_per_task: 2, "
    "rounds_per_task: 2%s}\n"
    "train: {batch_size: 10}\n"
    "aggregation: {rule: fedavg%s}\n"
    "evaluation: {every_rounds: 1}\n"
    "run: {round_timeout: 60, join_timeout: 30, quorum: 0.5}\n"
    "devices:\n"
    "  speed: 1e9\n"
    "%s";
static const char latencies[] = "  latency: {dist: table, values: [1, 2, 3, 4]}\n";

static struct world *sim_world(uint32_t per_round, const char *tasks, const char *agg,
			       const char *devices)
{
	char text[2048];
	snprintf(text, sizeof text, sim_fmt, per_round, tasks, agg, devices);
	return world_new_text(text);
}

/* The last round start that gave client c a job, since `since`. */
static const struct sent *job_of(const struct world *w, size_t since, uint32_t c)
{
	const struct sent *found = NULL;
	for (size_t i = since; i < w->out.n; i++) {
		const struct sent *s = &w->out.sent[i];
		for (size_t k = 0; s->type == FCL_MSG_ROUND_START && k < s->n_ids; k++)
			if (s->ids[k] == c)
				found = s;
	}
	return found;
}

/* Client c's update for its last job: every value v, 25 samples. */
static void job_update(struct world *w, uint32_t c, float v)
{
	const struct sent *s = job_of(w, 0, c);
	size_t n = w->model.n_params;
	float *u = malloc(n * sizeof *u);
	if (!s || !u) {
		free(u);
		return;
	}
	for (size_t i = 0; i < n; i++)
		u[i] = v;
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = s->round,
			    .client_id = c,
			    .values = u,
			    .n_values = n,
			    .n_samples = 25,
			    .loss = 1.0f,
			    .dispatch = s->dispatch};
	deliver(w, c < 2 ? 0 : 1, &m);
	free(u);
}

/* Answers every job of the round starts sent since *cursor; moves the cursor. */
static void answer_all(struct world *w, size_t *cursor)
{
	size_t end = w->out.n;
	for (size_t i = *cursor; i < end; i++) {
		const struct sent s = w->out.sent[i];
		for (size_t k = 0; s.type == FCL_MSG_ROUND_START && k < s.n_ids; k++)
			job_update(w, s.ids[k], 0.01f);
	}
	*cursor = end;
}

static uint64_t checksum(const struct world *w)
{
	return fcl_hash64(w->model.params, w->model.n_params * sizeof(float));
}

/* ---- sync rounds ----------------------------------------------------------- */

/* Deadline 5 s: clients 0 and 1 (2 s, 4 s) make it, 2 and 3 (6 s, 8 s) do not,
 * and are dropped: they never get the round's start. */
static void deadline_drop(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	const struct sent *s0 = find_sent(w, 0, FCL_MSG_ROUND_START, 0);
	CHECK(s0 && s0->n_ids == 2 && s0->ids[0] == 0 && s0->ids[1] == 1 && s0->dispatch == 1 &&
		  s0->round == 0,
	      "round 0 goes to peer 0 for clients 0 and 1 (dispatch 1)");
	CHECK(count_sent(w, 0, FCL_MSG_ROUND_START, 1) == 0,
	      "clients 2 and 3 would finish after the deadline: peer 1 gets no round start");
	size_t mark = w->out.n;
	job_update(w, 1, 0.01f);
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0 && w->sim.steps == 0,
	      "client 1's update alone does not end the round");
	job_update(w, 0, 0.01f);
	CHECK(w->sim.steps == 1 && w->sim.now == 5.0,
	      "with client 0's, round 0 ends at the "
	      "deadline, simulated time 5 (%.3f)",
	      w->sim.now);
	CHECK(file_has(w, "events.jsonl",
		       "\"round\":0,\"task\":0,\"sim_time\":5.0000,\"sim_start\":0.0000,"
		       "\"data_round\":0,\"participants\":[0,1,2,3],\"late\":[2,3],\"version\":1,"
		       "\"updates\":[0,1],\"staleness\":[0,0]"),
	      "events.jsonl: round 0 at 5 s, 2 and 3 late, updates of 0 and 1");
	const struct sent *s1 = find_sent(w, mark, FCL_MSG_ROUND_START, 0);
	CHECK(s1 && s1->dispatch == 2 && s1->round == 1 && s1->n_ids == 2 &&
		  count_sent(w, mark, FCL_MSG_ROUND_START, 1) == 0,
	      "round 1 starts at 5 s the same way: the dropped clients were freed at the deadline");
	CHECK(file_has(w, "eval.csv", "round,model,task,accuracy,sim_time\n") &&
		  file_has(w, "eval.csv", "\n0,global,0,") &&
		  file_has(w, "eval.csv", ",5.000000\n"),
	      "eval.csv has a sim_time column: round 0 evaluated at 5 s");
	size_t cursor = mark;
	for (int i = 0; i < 4 && !w->out.stopped; i++)
		answer_all(w, &cursor);
	CHECK(w->out.stopped && w->d.exit_code == 0 && w->sim.now == 20.0,
	      "the run completes after 4 rounds of 5 s (%.1f s)", w->sim.now);
}

/* Deadline 5 s, stragglers kept: 2 and 3 train on, and their updates join the
 * round in which they finish, weighted by s(1) = 1/sqrt(2). */
static void deadline_keep(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	CHECK(count_sent(w, 0, FCL_MSG_ROUND_START, 0) == 1 &&
		  count_sent(w, 0, FCL_MSG_ROUND_START, 1) == 1,
	      "round 0 goes to both processes: the stragglers train too");
	size_t mark = w->out.n;
	job_update(w, 3, 0.04f); /* arrives first, finishes last */
	job_update(w, 2, 0.03f);
	CHECK(w->sim.steps == 0 && count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0,
	      "the stragglers' updates, arriving first, end nothing");
	job_update(w, 1, 0.02f);
	job_update(w, 0, 0.01f);
	CHECK(w->sim.steps == 1 && w->sim.now == 5.0 &&
		  file_has(w, "events.jsonl", "\"late\":[2,3],\"version\":1,\"updates\":[0,1],"),
	      "round 0 ends at 5 s with clients 0 and 1");
	const struct sent *s1 = find_sent(w, mark, FCL_MSG_ROUND_START, -1);
	CHECK(s1 && s1->peer == 0 && s1->n_ids == 2 &&
		  count_sent(w, mark, FCL_MSG_ROUND_START, 1) == 0,
	      "round 1 at 5 s: 2 and 3 still train, so only 0 and 1 are idle to take part");
	uint32_t n = (uint32_t)w->model.n_params;
	float *before = malloc(n * sizeof *before);
	REQUIRE(before, "memory");
	memcpy(before, w->model.params, n * sizeof *before);
	job_update(w, 0, 0.01f);
	job_update(w, 1, 0.02f);
	CHECK(w->sim.steps == 2 && fabs(w->sim.now - 9.0) < 1e-6,
	      "round 1 ends when its 2 participants are done, at 5 + 4 = 9 s (%.3f)", w->sim.now);
	CHECK(file_has(w, "events.jsonl",
		       "\"round\":1,\"task\":0,\"sim_time\":9.0000,\"sim_start\":5.0000,"
		       "\"data_round\":1,\"participants\":[0,1],\"late\":[],\"version\":2,"
		       "\"updates\":[0,1,2,3],\"staleness\":[0,0,1,1]"),
	      "... with the stragglers' updates (finished at 6 and 8 s), staleness 1");
	/* FedAvg, equal samples: (0.01 + 0.02 + (0.03 + 0.04) / sqrt 2) / 4 */
	double want = (0.01 + 0.02 + (double)(0.03f * (float)(1 / sqrt(2.0))) +
		       (double)(0.04f * (float)(1 / sqrt(2.0)))) /
		      4.0;
	double worst = 0;
	for (uint32_t k = 0; k < n; k++)
		worst = fmax(worst, fabs((w->model.params[k] - before[k]) - want));
	CHECK(worst < 1e-6,
	      "the model moved by (u0 + u1 + s(1) (u2 + u3)) / 4 = %.6f "
	      "(largest error %.2g)",
	      want, worst);
	free(before);
}

/* The same run with the updates arriving in another order: the same model. */
static uint64_t keep_run(int reversed)
{
	struct world *w = sim_world(4, "", ", deadline: 5, stragglers: keep", latencies);
	uint64_t sum = 0;
	if (!w)
		return 0;
	if (join_both(w)) {
		size_t cursor = 0;
		for (int i = 0; i < 12 && !w->out.stopped; i++) {
			size_t end = w->out.n;
			for (size_t k = 0; k < 4;
			     k++) { /* every job out, in one order or the other */
				uint32_t c = reversed ? 3 - (uint32_t)k : (uint32_t)k;
				const struct sent *s = job_of(w, cursor, c);
				if (s)
					job_update(w, c, 0.01f * (float)(c + 1));
			}
			cursor = end;
		}
		if (w->out.stopped && w->d.exit_code == 0)
			sum = checksum(w);
	}
	world_free(w);
	return sum;
}

static void arrival_order(void)
{
	uint64_t a = keep_run(0), b = keep_run(1);
	CHECK(a && a == b, "updates arriving in opposite orders give the same model (%016llx)",
	      (unsigned long long)a);
}

/* per_round 2 with over_selection 1: 4 selected, the first 2 kept. */
static void over_selection(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	const struct sent *s0 = find_sent(w, 0, FCL_MSG_ROUND_START, 0);
	CHECK(s0 && s0->n_ids == 2 && count_sent(w, 0, FCL_MSG_ROUND_START, 1) == 0,
	      "4 selected for 2: the 2 slowest would come third and fourth and are dropped");
	job_update(w, 0, 0.01f);
	job_update(w, 1, 0.01f);
	CHECK(w->sim.steps == 1 && fabs(w->sim.now - 4.0) < 1e-6 &&
		  file_has(w, "events.jsonl", "\"participants\":[0,1,2,3],\"late\":[2,3]"),
	      "round 0 ends at 4 s, when the second has finished");
}

/* A lost job: the wall-clock timer while the clock waits. */
static void lost_job(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	job_update(w, 0, 0.01f);
	forget_log();
	coord_dispatch_deadline(&w->d);
	CHECK(logged("nothing from client 1 within run.round_timeout") && w->sim.steps == 1,
	      "at the timer client 1's job is lost and round 0 ends without it");
	CHECK(file_has(w, "events.jsonl",
		       "\"updates\":[0],\"staleness\":[0],\"accepted\":1,"
		       "\"rejected\":0,\"lost\":1"),
	      "events.jsonl counts it as lost");
	uint64_t bad = w->report.bad_messages;
	const struct sent *s = job_of(w, 0, 0);
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = s->round,
			    .client_id = 0,
			    .values = w->model.params,
			    .n_values = w->model.n_params,
			    .n_samples = 25,
			    .dispatch = s->dispatch + 7};
	deliver(w, 0, &m);
	CHECK(w->report.bad_messages == bad + 1 && logged("which no job awaits"),
	      "an update for a dispatch that gave it no job is dropped");
	m.dispatch = s->dispatch;
	deliver(w, 0, &m);
	deliver(w, 0, &m);
	CHECK(w->report.bad_messages == bad + 2 && logged("second update from client 0"),
	      "a second update for the same job is dropped");
}

/* ---- asynchronous ------------------------------------------------------------ */

/* FedBuff, K = 1, 2 at once: the clock takes jobs in finish order whatever the
 * order their updates arrive in. */
static void fedbuff_order(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	uint32_t a = UINT32_MAX, b = UINT32_MAX;
	for (uint32_t c = 0; c < 4; c++)
		if (job_of(w, 0, c))
			a == UINT32_MAX ? (void)(a = c) : (void)(b = c);
	REQUIRE(b != UINT32_MAX, "two jobs go out at 0 s (clients %u and %u)", a, b);
	size_t mark = w->out.n;
	job_update(w, b, 0.02f); /* b is slower: its latency is larger */
	CHECK(w->sim.steps == 0 && count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0,
	      "the slower job's update, first to arrive, waits for the faster one");
	double before = w->model.params[0];
	job_update(w, a, 0.01f);
	CHECK(w->sim.steps >= 1 && w->sim.now >= 2.0 * (a + 1), "the faster one is taken");
	char want[128];
	snprintf(want, sizeof want,
		 "\"round\":0,\"task\":0,\"sim_time\":%.4f,\"version\":1,"
		 "\"updates\":[%u],\"staleness\":[0]",
		 2.0 * (a + 1), a);
	CHECK(file_has(w, "events.jsonl", want), "step 0 is client %u's, at %.0f s, fresh", a,
	      2.0 * (a + 1));
	CHECK(fabs((w->model.params[0] - before) - 0.01) < 1e-7 || w->sim.steps > 1,
	      "K = 1, lr 1: the first step adds its update");
	size_t cursor = mark;
	for (int i = 0; i < 40 && !w->out.stopped; i++)
		answer_all(w, &cursor);
	CHECK(w->out.stopped && w->d.exit_code == 0 && w->sim.steps == 4,
	      "4 steps (2 tasks x 2 rounds) complete the run");
	snprintf(want, sizeof want, "\"updates\":[%u],\"staleness\":[1]", b);
	CHECK(file_has(w, "events.jsonl", want),
	      "client %u's update came one version late: staleness 1", b);
}

/* FedAsync: x += alpha s(d) (x_start + u - x); the first step moves by alpha u. */
static void fedasync_mix(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	uint32_t a = UINT32_MAX;
	double first = HUGE_VAL;
	for (uint32_t c = 0; c < 4; c++)
		if (job_of(w, 0, c) && 2.0 * (c + 1) < first) {
			first = 2.0 * (c + 1);
			a = c;
		}
	REQUIRE(a != UINT32_MAX, "jobs go out");
	float before = w->model.params[3];
	job_update(w, a, 0.05f);
	CHECK(w->sim.steps == 1 && fabs((w->model.params[3] - before) - 0.6 * 0.05) < 1e-7,
	      "the first update moves the model by alpha u = 0.6 x 0.05 (by %.7f)",
	      w->model.params[3] - before);
}

/* ---- availability --------------------------------------------------------------- */

/* Tasks of 10 simulated seconds; client 2 is online only in [0, 10): it misses
 * task 1 entirely, and the run goes on without it. */
static void misses_task(void)
{
	char trace[] = "/tmp/fcl-test-trace-XXXXXX", dev[256];
	int fd = mkstemp(trace);
	REQUIRE(fd >= 0, "a trace file");
	FILE *f = fdopen(fd, "w");
	fprintf(f, "client,start,end\n2,0,10\n");
	fclose(f);
	/* every latency 0.25 s: a round lasts 0.5 s */
	snprintf(dev, sizeof dev, "  latency: 0.25\n  availability: {kind: trace, file: %s}\n",
		 trace);
	struct world *w = sim_world(4, ", seconds_per_task: 10", "", dev);
	REQUIRE(w, "a run whose tasks last 10 s");
	if (join_both(w)) {
		size_t cursor = 0, with2_task0 = 0, with2_task1 = 0, task1 = 0;
		for (int i = 0; i < 200 && !w->out.stopped; i++)
			answer_all(w, &cursor);
		for (size_t i = 0; i < w->out.n; i++) {
			const struct sent *s = &w->out.sent[i];
			if (s->type != FCL_MSG_ROUND_START)
				continue;
			int has2 = s->peer == 1 && s->ids[0] == 2;
			task1 += s->round >= 2;
			with2_task0 += has2 && s->round < 2;
			with2_task1 += has2 && s->round >= 2;
		}
		CHECK(w->out.stopped && w->d.exit_code == 0, "the run completes");
		CHECK(with2_task0 > 0 && task1 > 0 && with2_task1 == 0,
		      "client 2 trains in task 0 (%zu jobs) but gets no job of task 1 (%zu round "
		      "starts in it)",
		      with2_task0, task1);
		CHECK(file_has(w, "eval.csv", "\n3,global,seen,") &&
			  file_has(w, "eval.csv", ",20.000000\n"),
		      "the last round of the schedule is evaluated at 20 s");
		CHECK(file_has(w, "events.jsonl",
			       "{\"event\":\"task_end\",\"round\":1,\"task\":0,") &&
			  file_has(w, "events.jsonl", "\"sim_time\":10.0000}"),
		      "events.jsonl marks task 0's end: schedule round 1, at 10 s");
	}
	world_free(w);
	unlink(trace);
}

static void on_sim_run(uint32_t per_round, const char *agg, void (*test)(struct world *),
		       const char *what)
{
	struct world *w = sim_world(per_round, "", agg, latencies);
	CHECK(w != NULL, "%s: a run in simulated time is set up", what);
	if (w)
		test(w);
	world_free(w);
}

int main(void)
{
	fcl_log_set(log_sink, NULL);
	on_sim_run(4, ", deadline: 5", deadline_drop, "a deadline, stragglers dropped");
	on_sim_run(4, ", deadline: 5, stragglers: keep", deadline_keep, "stragglers kept");
	arrival_order();
	on_sim_run(2, ", over_selection: 1", over_selection, "over-selection");
	on_sim_run(4, ", deadline: 5", lost_job, "a lost job");
	on_sim_run(2, ", mode: async, async: {buffer: 1, concurrency: 2}", fedbuff_order,
		   "FedBuff's arrival order");
	on_sim_run(2, ", mode: async, async: {method: fedasync, concurrency: 2}", fedasync_mix,
		   "FedAsync's mixing");
	misses_task();
	return tap_done();
}
