/* tests/test_round.c - the coordinator's state machine without sockets
 *
 * Drives server/dispatch.c as net.c would (hellos with a fresh peer index,
 * other messages with the sender's) on a tiny synthetic scenario: 4 logical
 * clients in 2 processes (peer 0 hosts 0-1, peer 1 hosts 2-3), all 4 in every
 * round, 2 tasks x 2 rounds, quorum 0.5. A recording outbox keeps what the
 * machine sends, arms and stops; the assertions are on that record, on the
 * drop count and log lines, and on the run folder it writes.
 */
#include "dispatch.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"

#include "fcl/data.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/util.h"
#include "fcl/wire.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the recording outbox ------------------------------------------------ */

/* One message the machine sent, copied (what it points to is borrowed). */
struct sent {
	uint32_t peer;
	enum fcl_msg_type type;
	uint32_t round;
	uint32_t ids[8];
	size_t n_ids, n_values;
	uint32_t n_params;
	uint64_t scenario_hash;
	char text[160];
	/* the round start's request: tensor shapes and ints */
	uint32_t n_tensors, n_ints, rows[8], cols[8];
	uint64_t ints[16];
};

struct recorder {
	struct sent sent[256];
	size_t n;
	double armed; /* the last deadline armed, -1: none */
	int n_armed, stopped;
	int fail_round_start_to; /* a peer whose round starts cannot be sent, -1: none */
};

static int rec_send(void *ud, uint32_t p, const struct fcl_msg *m, size_t *bytes)
{
	struct recorder *r = ud;
	uint8_t *buf;
	size_t len;

	if (m->type == FCL_MSG_ROUND_START && (int)p == r->fail_round_start_to)
		return -EHOSTUNREACH;
	if (r->n == sizeof r->sent / sizeof *r->sent || fcl_wire_encode(m, &buf, &len) != 0)
		return -ENOBUFS;
	free(buf);
	struct sent *s = &r->sent[r->n++];
	memset(s, 0, sizeof *s);
	s->peer = p;
	s->type = m->type;
	s->round = m->round;
	s->n_ids = m->n_ids;
	for (size_t i = 0; i < m->n_ids && i < 8; i++)
		s->ids[i] = m->ids[i];
	s->n_values = m->n_values;
	s->n_params = m->n_params;
	s->scenario_hash = m->scenario_hash;
	snprintf(s->text, sizeof s->text, "%s", m->text ? m->text : "");
	s->n_tensors = m->extras.n_tensors;
	s->n_ints = m->extras.n_ints;
	for (uint32_t t = 0; t < m->extras.n_tensors && t < 8; t++) {
		s->rows[t] = m->extras.t[t].rows;
		s->cols[t] = m->extras.t[t].cols;
	}
	for (uint32_t i = 0; i < m->extras.n_ints && i < 16; i++)
		s->ints[i] = m->extras.ints[i];
	*bytes = len;
	return 0;
}

static void rec_arm(void *ud, double seconds)
{
	struct recorder *r = ud;
	r->armed = seconds;
	r->n_armed++;
}

static void rec_stop(void *ud)
{
	struct recorder *r = ud;
	r->stopped++;
}

/* ---- the log ------------------------------------------------------------- */

static char log_lines[64][512];
static size_t n_log_lines;

static void log_sink(enum fcl_log_level level, const char *line, void *user)
{
	(void)level;
	(void)user;
	snprintf(log_lines[n_log_lines % 64], sizeof log_lines[0], "%s", line);
	n_log_lines++;
}

static void forget_log(void)
{
	n_log_lines = 0;
}

/* Some line logged since forget_log contains s. */
static int logged(const char *s)
{
	for (size_t i = 0; i < n_log_lines && i < 64; i++)
		if (strstr(log_lines[i], s))
			return 1;
	return 0;
}

/* ---- a run without sockets ----------------------------------------------- */

static const char scenario_fmt[] =
    "name: round-test\n"
    "seed: 3\n"
    "data: {dataset: synthetic, synthetic: {train: 200, test: 50, dim: 8, classes: 4}}\n"
    "model: {hidden: [4]}\n"
    "clients: {count: 4, per_round: 4}\n"
    "tasks: {generator: class-incremental, count: 2, classes_per_task: 2, rounds_per_task: 2}\n"
    "train: {batch_size: 10}\n"
    "aggregation: {rule: %s}\n"
    "evaluation: {every_rounds: 1, local_models: true}\n"
    "run: {round_timeout: 60, join_timeout: 30, quorum: 0.5}\n";

struct world {
	char dir[64];
	char text[1024];
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_agg *agg;
	struct coord_round round;
	struct coord_eval eval;
	struct coord_report report;
	struct coord_dispatch d;
	struct recorder out;
	uint64_t initial_checksum;
};

/* The inputs as fcl-server's main sets them up, then the parts. */
static int world_inputs(struct world *w, const char *rule)
{
	char err[512];
	uint32_t sizes[3];
	struct fcl_rng rng;

	snprintf(w->text, sizeof w->text, scenario_fmt, rule);
	if (fcl_scenario_parse(&w->sc, w->text, strlen(w->text), "<test>", err, sizeof err) != 0 ||
	    fcl_schedule_load_data(&w->sc, &w->train, &w->test, err, sizeof err) != 0) {
		NOTE("%s", err);
		return -EINVAL;
	}
	if (fcl_schedule_compile(&w->sched, &w->sc, &w->train, &w->test) != 0)
		return -EINVAL;
	sizes[0] = w->sched.dim;
	sizes[1] = 4;
	sizes[2] = w->sched.n_classes;
	if (fcl_mlp_init(&w->model, 2, sizes, 256) != 0)
		return -ENOMEM;
	fcl_rng_init(&rng, w->sc.seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(&w->model, &rng);
	w->initial_checksum = fcl_hash64(w->model.params, w->model.n_params * sizeof(float));
	struct fcl_agg_env env = {
	    .run_dir = w->dir, .event = coord_dispatch_rule_event, .ud = &w->d};
	return fcl_agg_create(&w->sc, &w->model, &env, &w->agg);
}

static int world_parts(struct world *w)
{
	struct coord_report_config rep = {.run_dir = w->dir,
					  .sc = &w->sc,
					  .sched = &w->sched,
					  .train = &w->train,
					  .model = &w->model,
					  .scenario_text = w->text,
					  .scenario_len = strlen(w->text),
					  .scenario_hash = fcl_hash64(w->text, strlen(w->text)),
					  .started = fcl_now()};
	int rc = coord_round_init(&w->round, &w->sc, &w->sched, &w->model, w->agg, w->train.n);
	if (rc || (rc = coord_report_init(&w->report, &rep)) != 0)
		return rc;
	struct coord_eval_config ev = {.sched = &w->sched,
				       .model = &w->model,
				       .test = &w->test,
				       .csv = w->report.eval_csv,
				       .class_csv = w->report.eval_class_csv,
				       .local_models = w->sc.eval.local_models,
				       .every_rounds = w->sc.eval.every_rounds};
	/* the initial model is evaluated when the run begins (all joined) */
	if ((rc = coord_eval_init(&w->eval, &ev)) != 0)
		return rc;
	struct coord_dispatch_config dc = {
	    .round = &w->round,
	    .eval = &w->eval,
	    .report = &w->report,
	    .out = {.send = rec_send, .arm = rec_arm, .stop = rec_stop, .ud = &w->out},
	    .sc = &w->sc,
	    .sched = &w->sched,
	    .scenario_text = w->text,
	    .scenario_hash = rep.scenario_hash,
	    .n_params = (uint32_t)w->model.n_params};
	coord_dispatch_init(&w->d, &dc);
	coord_dispatch_start(&w->d);
	return 0;
}

static struct world *world_new(const char *rule)
{
	struct world *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	snprintf(w->dir, sizeof w->dir, "/tmp/fcl-test-round-XXXXXX");
	w->out.armed = -1;
	w->out.fail_round_start_to = -1;
	if (!mkdtemp(w->dir) || world_inputs(w, rule) != 0 || world_parts(w) != 0) {
		NOTE("cannot set up a run in %s", w->dir);
		free(w);
		return NULL;
	}
	forget_log();
	return w;
}

static void world_free(struct world *w)
{
	char cmd[128];

	if (!w)
		return;
	coord_eval_fini(&w->eval);
	coord_report_fini(&w->report);
	coord_round_fini(&w->round);
	fcl_agg_destroy(w->agg);
	fcl_mlp_fini(&w->model);
	fcl_schedule_fini(&w->sched);
	fcl_dataset_fini(&w->train);
	fcl_dataset_fini(&w->test);
	if (!getenv("FCL_KEEP")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
		if (system(cmd) != 0)
			NOTE("could not remove %s", w->dir);
	}
	free(w);
}

/* ---- what the fake net delivers ------------------------------------------ */

static void deliver(struct world *w, int from, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len = 0;
	if (fcl_wire_encode(m, &buf, &len) == 0)
		free(buf);
	coord_dispatch_message(&w->d, from, m, len);
}

/* A hello from a new process hosting first .. first + n - 1: its peer index
 * if the run took it, else -1 (net forgets the route again). */
static int hello(struct world *w, uint32_t first, uint32_t n, uint32_t version)
{
	uint32_t ids[8];
	int p = (int)coord_dispatch_peers(&w->d);
	for (uint32_t i = 0; i < n; i++)
		ids[i] = first + i;
	struct fcl_msg m = {.type = FCL_MSG_HELLO,
			    .client_id = -1,
			    .protocol_version = version,
			    .pid = 1000 + first,
			    .hostname = "testhost",
			    .ids = ids,
			    .n_ids = n};
	deliver(w, p, &m);
	return coord_dispatch_peers(&w->d) > (uint32_t)p ? p : -1;
}

enum update_kind { GOOD, WRONG_SIZE, NON_FINITE, NO_SAMPLES };

static void update(struct world *w, int from, uint32_t client, uint32_t round, enum update_kind k)
{
	size_t n = w->model.n_params;
	float *v = calloc(n + 1, sizeof *v);
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = 0.001f * (float)((i + client) % 7);
	if (k == NON_FINITE)
		v[n / 2] = NAN;
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = client,
			    .values = v,
			    .n_values = k == WRONG_SIZE ? n + 1 : n,
			    .n_samples = k == NO_SAMPLES ? 0 : 25,
			    .loss = 1.0f,
			    .train_seconds = 0.01};
	deliver(w, from, &m);
	free(v);
}

/* Messages of a type sent since `since`, to peer (or any peer, -1). */
static size_t count_sent(const struct world *w, size_t since, enum fcl_msg_type type, int peer)
{
	size_t n = 0;
	for (size_t i = since; i < w->out.n; i++)
		n += w->out.sent[i].type == type && (peer < 0 || (int)w->out.sent[i].peer == peer);
	return n;
}

static const struct sent *find_sent(const struct world *w, size_t since, enum fcl_msg_type type,
				    int peer)
{
	for (size_t i = since; i < w->out.n; i++)
		if (w->out.sent[i].type == type && (peer < 0 || (int)w->out.sent[i].peer == peer))
			return &w->out.sent[i];
	return NULL;
}

/* A file of the run folder contains s. */
static int file_has(const struct world *w, const char *name, const char *s)
{
	char path[128], *text = NULL;
	snprintf(path, sizeof path, "%s/%s", w->dir, name);
	if (fcl_read_file(path, &text, NULL) != 0)
		return 0;
	int found = strstr(text, s) != NULL;
	free(text);
	return found;
}

/* Both processes say hello; round 0 goes out. */
static int join_both(struct world *w)
{
	return hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 0 &&
	       hello(w, 2, 2, FCL_PROTOCOL_VERSION) == 1;
}

/* Every participant of round r sends a good update. */
static void all_good(struct world *w, uint32_t r)
{
	for (uint32_t c = 0; c < 4; c++)
		update(w, c < 2 ? 0 : 1, c, r, GOOD);
}

/* ---- the tests ----------------------------------------------------------- */

static void joining(struct world *w)
{
	uint64_t bad = w->report.bad_messages;
	size_t mark = w->out.n;

	CHECK(w->out.n_armed == 1 && w->out.armed == 30.0, "the join timeout is armed (%.0f s)",
	      w->out.armed);
	CHECK(hello(w, 0, 2, 999) == -1, "a hello of another protocol version is refused");
	const struct sent *s = find_sent(w, mark, FCL_MSG_ERROR, 0);
	CHECK(s && strstr(s->text, "protocol version 999"),
	      "... with an error back on its route: %s", s ? s->text : "(none)");
	CHECK(coord_dispatch_peers(&w->d) == 0, "... and no peer kept");

	mark = w->out.n;
	REQUIRE(hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 0,
		"the process hosting 0-1 joins as peer 0");
	s = find_sent(w, mark, FCL_MSG_WELCOME, 0);
	CHECK(s && s->n_params == w->model.n_params &&
		  s->scenario_hash == fcl_hash64(w->text, strlen(w->text)),
	      "... and is welcomed with the scenario and the model size");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0, "no round while 2 of 4 are in");

	mark = w->out.n;
	CHECK(hello(w, 1, 2, FCL_PROTOCOL_VERSION) == -1, "a hello for a client already hosted is "
							  "refused");
	s = find_sent(w, mark, FCL_MSG_ERROR, 1);
	CHECK(s && strstr(s->text, "client id 1 is already hosted elsewhere"), "... saying so: %s",
	      s ? s->text : "(none)");
	CHECK(hello(w, 9, 1, FCL_PROTOCOL_VERSION) == -1 &&
		  (s = find_sent(w, mark, FCL_MSG_ERROR, 1)) != NULL && logged("out of range"),
	      "a hello for a client id out of range is refused");
	CHECK(w->report.bad_messages == bad, "refused hellos are not counted as dropped messages");

	forget_log();
	mark = w->out.n;
	update(w, 0, 0, 0, GOOD);
	CHECK(w->report.bad_messages == bad + 1 && logged("update for round 0 while in round 0"),
	      "an update before the first round is dropped");
	update(w, -1, 0, 0, GOOD);
	CHECK(w->report.bad_messages == bad + 2 && logged("client_update from an unknown peer"),
	      "an update from a process that never said hello is dropped");
	struct fcl_msg m = {.type = FCL_MSG_ERROR, .client_id = -1, .code = 5, .text = "disk full"};
	deliver(w, 0, &m);
	CHECK(w->report.bad_messages == bad + 2 &&
		  logged("process 1000 on testhost reports error 5: disk full"),
	      "a peer's error is logged, not dropped");
	m = (struct fcl_msg){.type = FCL_MSG_WELCOME, .client_id = -1};
	deliver(w, 0, &m);
	CHECK(w->report.bad_messages == bad + 3 && logged("unexpected welcome from peer 0"),
	      "a message only the server sends is dropped");
	CHECK(w->out.n == mark, "nothing was sent for any of them");

	REQUIRE(hello(w, 2, 2, FCL_PROTOCOL_VERSION) == 1,
		"the process hosting 2-3 joins as peer 1");
	CHECK(find_sent(w, mark, FCL_MSG_WELCOME, 1) != NULL, "... and is welcomed");
	const struct sent *r0 = find_sent(w, mark, FCL_MSG_ROUND_START, 0);
	const struct sent *r1 = find_sent(w, mark, FCL_MSG_ROUND_START, 1);
	CHECK(r0 && r0->round == 0 && r0->n_ids == 2 && r0->ids[0] == 0 && r0->ids[1] == 1 &&
		  r0->n_values == w->model.n_params,
	      "round 0 goes to peer 0 with the parameters for clients 0,1");
	CHECK(r1 && r1->round == 0 && r1->n_ids == 2 && r1->ids[0] == 2 && r1->ids[1] == 3,
	      "... and to peer 1 for clients 2,3");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2, "one round start per process");
	CHECK(w->out.armed == 60.0, "the round's deadline is armed (%.0f s)", w->out.armed);
	CHECK(file_has(w, "events.jsonl", "\"event\":\"joined\""), "events.jsonl says all joined");

	mark = w->out.n;
	CHECK(hello(w, 0, 1, FCL_PROTOCOL_VERSION) == -1, "a hello after the start is refused");
	s = find_sent(w, mark, FCL_MSG_ERROR, 2);
	CHECK(s && strstr(s->text, "the run has started"), "... because the run has started: %s",
	      s ? s->text : "(none)");
}

/* Round 0: every way an update is dropped or rejected. */
static void updates(struct world *w)
{
	uint64_t bad = w->report.bad_messages;
	size_t mark = w->out.n;

	forget_log();
	update(w, 1, 0, 0, GOOD);
	CHECK(w->report.bad_messages == bad + 1 &&
		  logged("update for client 0 from a process that does not host it"),
	      "an update from a process that does not host the client is dropped");
	update(w, 0, 0, 5, GOOD);
	CHECK(w->report.bad_messages == bad + 2 && logged("update for round 5 while in round 0"),
	      "an update for another round is dropped");
	update(w, 0, 0, 0, WRONG_SIZE);
	CHECK(w->report.bad_messages == bad + 3 && logged("rejected: wrong number of parameters"),
	      "an update of the wrong size is rejected");
	update(w, 0, 0, 0, GOOD);
	CHECK(w->report.bad_messages == bad + 4 && logged("second update from client 0 in round 0"),
	      "a second update from the same client is dropped");
	update(w, 0, 1, 0, NON_FINITE);
	CHECK(w->report.bad_messages == bad + 5 && logged("rejected: non-finite values"),
	      "an update with a NaN is rejected");
	update(w, 1, 2, 0, NO_SAMPLES);
	CHECK(w->report.bad_messages == bad + 6 && logged("rejected: implausible sample count"),
	      "an update trained on no samples is rejected");
	CHECK(w->round.n_rejected == 3 && w->round.n_accepted == 0, "3 rejected, none accepted");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0, "the round waits for client 3");
	update(w, 1, 3, 0, GOOD);
	CHECK(w->report.bad_messages == bad + 6, "a good update is not dropped");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2 && w->round.round == 1,
	      "everyone answered: round 1 goes out at once");
	CHECK(file_has(w, "events.jsonl",
		       "\"round\":0,\"task\":0,\"participants\":[0,1,2,3],\"accepted\":1,"
		       "\"rejected\":3,\"missing\":0"),
	      "events.jsonl has round 0: 1 accepted, 3 rejected");
	CHECK(fcl_hash64(w->model.params, w->model.n_params * sizeof(float)) != w->initial_checksum,
	      "the accepted update changed the global model");
}

/* Round 1 closes at the deadline with the quorum, round 2 fails without it. */
static void deadlines(struct world *w)
{
	size_t mark = w->out.n;

	forget_log();
	update(w, 0, 0, 1, GOOD);
	update(w, 0, 1, 1, GOOD);
	update(w, 1, 2, 1, GOOD);
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0, "round 1 waits for client 3");
	coord_dispatch_deadline(&w->d);
	CHECK(logged("no update from client 3 by the deadline") && logged("quorum 2 met"),
	      "at the deadline 3 of 4 meet the quorum of 2");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2 && w->round.round == 2,
	      "... and round 2 goes out");
	CHECK(file_has(w, "events.jsonl",
		       "\"round\":1,\"task\":0,\"participants\":[0,1,2,3],"
		       "\"accepted\":3,\"rejected\":0,\"missing\":1"),
	      "events.jsonl has round 1 with one missing");

	mark = w->out.n;
	update(w, 0, 0, 2, GOOD);
	coord_dispatch_deadline(&w->d);
	CHECK(w->round.phase == COORD_DONE && w->d.exit_code == 1 && w->d.fail_reason &&
		  strcmp(w->d.fail_reason, "quorum missed") == 0,
	      "at the deadline 1 of 4 misses the quorum: the run fails");
	const struct sent *s0 = find_sent(w, mark, FCL_MSG_SHUTDOWN, 0);
	CHECK(s0 && find_sent(w, mark, FCL_MSG_SHUTDOWN, 1) &&
		  strcmp(s0->text, "quorum missed") == 0,
	      "every process is told to shut down, and why");
	CHECK(w->out.stopped == 1, "the outbox is stopped");
	CHECK(file_has(w, "events.jsonl", "\"event\":\"failed\"") &&
		  file_has(w, "summary.txt",
			   "run did not finish (2 of 4 rounds, 1 of 2 tasks): quorum missed") &&
		  file_has(w, "metrics.json", "\"reason\": \"quorum missed\""),
	      "the run folder says it failed");

	uint64_t bad = w->report.bad_messages;
	mark = w->out.n;
	update(w, 0, 1, 2, GOOD);
	coord_dispatch_deadline(&w->d);
	coord_dispatch_stop(&w->d, 130, "interrupted");
	CHECK(w->out.n == mark && w->report.bad_messages == bad && w->out.stopped == 1 &&
		  w->d.exit_code == 1,
	      "after the end, messages, deadlines and stops change nothing");
}

/* A run whose every round completes ends after the last. */
static void complete_run(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	for (uint32_t r = 0; r < 3; r++)
		all_good(w, r);
	size_t mark = w->out.n;
	CHECK(w->round.round == 3 && w->round.phase == COORD_TRAINING && !w->out.stopped,
	      "three rounds done, the last one out");
	all_good(w, 3);
	const struct sent *s = find_sent(w, mark, FCL_MSG_SHUTDOWN, 0);
	CHECK(s && find_sent(w, mark, FCL_MSG_SHUTDOWN, 1) && strcmp(s->text, "run complete") == 0,
	      "after round 3 every process is told the run is complete");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0, "no round 4 goes out");
	CHECK(w->round.phase == COORD_DONE && w->d.exit_code == 0 && w->out.stopped == 1,
	      "the run is done with status 0");
	CHECK(file_has(w, "metrics.json", "\"complete\": true") &&
		  file_has(w, "metrics.json", "\"rounds\": 4"),
	      "metrics.json is complete after 4 rounds");
	CHECK(file_has(w, "eval.csv", "\n3,client-2,seen,") &&
		  file_has(w, "eval.csv", "\n3,global,1,"),
	      "eval.csv has the global and the local models of the last round");
	CHECK(file_has(w, "events.jsonl", "\"event\":\"done\""), "events.jsonl ends with done");
}

/* Departures before and during the run. */
static void departures(struct world *w)
{
	REQUIRE(hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 0, "peer 0 joins with 0-1");
	coord_dispatch_peer_gone(&w->d, 0, "10.0.0.7", "connection closed");
	CHECK(w->round.n_joined == 0 && file_has(w, "events.jsonl", "\"event\":\"left\"") &&
		  file_has(w, "events.jsonl", "\"address\":\"10.0.0.7\""),
	      "a process gone before the first round has left");
	CHECK(hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 1, "a new process may host its clients");
	size_t mark = w->out.n;
	REQUIRE(hello(w, 2, 2, FCL_PROTOCOL_VERSION) == 2, "peer 2 joins with 2-3");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, 0) == 0 &&
		  count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2,
	      "round 0 goes to peers 1 and 2, not to the one that left");

	forget_log();
	update(w, 1, 0, 0, GOOD);
	coord_dispatch_peer_gone(&w->d, 2, "", "heartbeat lost");
	CHECK(logged("logical clients 2-3 leave the run") && w->round.n_gone == 2,
	      "peer 2 is gone during round 0: clients 2-3 leave");
	CHECK(file_has(w, "events.jsonl", "\"event\":\"gone\"") && w->round.round == 0,
	      "... said in events.jsonl; the round still waits for client 1");
	mark = w->out.n;
	update(w, 1, 1, 0, GOOD);
	CHECK(w->round.round == 1 && count_sent(w, mark, FCL_MSG_ROUND_START, 1) == 1 &&
		  count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 1,
	      "2 of 4 meet the quorum at once; round 1 goes only to peer 1");
	CHECK(file_has(w, "events.jsonl",
		       "\"accepted\":2,\"rejected\":0,\"missing\":2,"
		       "\"gone\":[2,3]"),
	      "events.jsonl names the gone participants of round 0");
	coord_dispatch_peer_gone(&w->d, 2, "", "again");
	CHECK(w->round.n_clients_gone == 2, "a peer gone twice counts once");

	mark = w->out.n;
	update(w, 1, 0, 1, NON_FINITE);
	update(w, 1, 1, 1, GOOD);
	CHECK(w->round.phase == COORD_DONE && w->d.exit_code == 1 &&
		  logged("2 of 4 participants are gone, 1 updates arrived; quorum needs 2"),
	      "with gone participants and 1 of 4 updates the run fails at once");
	CHECK(count_sent(w, mark, FCL_MSG_SHUTDOWN, -1) == 3, "the shutdown goes to every peer");
	CHECK(file_has(w, "summary.txt",
		       "2 logical clients gone (process left or never joined): "
		       "2,3"),
	      "summary.txt names the gone clients");
}

static void join_quorum(struct world *w)
{
	REQUIRE(hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 0, "only peer 0 joins, with 0-1");
	size_t mark = w->out.n;
	coord_dispatch_deadline(&w->d);
	CHECK(file_has(w, "events.jsonl", "\"event\":\"absent\",\"round\":0") &&
		  file_has(w, "events.jsonl", "\"clients\":[2,3],\"clients_gone\":2"),
	      "at the join timeout 2 of 4 meet the quorum: 2-3 are absent");
	const struct sent *s = find_sent(w, mark, FCL_MSG_ROUND_START, 0);
	CHECK(s && s->n_ids == 2 && count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 1 &&
		  w->round.n_gone == 2,
	      "round 0 goes to peer 0 only; the absent participants count as gone");
}

static void join_nobody(struct world *w)
{
	coord_dispatch_deadline(&w->d);
	CHECK(w->round.phase == COORD_DONE && w->d.exit_code == 1 &&
		  strcmp(w->d.fail_reason, "join timeout") == 0 && w->out.stopped == 1,
	      "at the join timeout with nobody in, the run fails");
	CHECK(logged("4 of 4 logical clients never joined (first missing: 0,1,2,3)"),
	      "... naming who is missing");
}

static void send_failure(struct world *w)
{
	w->out.fail_round_start_to = 1;
	REQUIRE(join_both(w), "both processes join");
	CHECK(w->round.n_rejected == 2 && count_sent(w, 0, FCL_MSG_ROUND_START, -1) == 1,
	      "a round start that cannot be sent rejects that peer's participants at once");
	update(w, 0, 0, 0, GOOD);
	update(w, 0, 1, 0, GOOD);
	CHECK(w->round.round == 1, "the others' updates complete the round without a deadline");
}

/* A rule with extra messages: FOT's sketches at task ends. */
static void sketch_answer(struct world *w, uint32_t client, const struct sent *start,
			  uint32_t layer, int finite)
{
	/* the shape the request asks for (1 x 1 where it asks for none) */
	uint32_t rows = start->n_tensors ? start->rows[layer] : 1;
	uint32_t cols = start->n_tensors ? (uint32_t)start->ints[1 + layer] : 1;
	float *y = calloc((size_t)rows * cols, sizeof *y);
	if (!y)
		return;
	y[0] = finite ? 0.5f : NAN;
	struct fcl_msg m = {.type = FCL_MSG_RULE, .round = start->round, .client_id = client};
	m.extras.n_tensors = 1;
	m.extras.t[0] = (struct fcl_tensor){.v = y, .rows = rows, .cols = cols};
	m.extras.n_ints = 2;
	m.extras.ints[0] = layer;
	m.extras.ints[1] = 25;
	m.extras.n_reals = 1;
	m.extras.reals[0] = 0.5;
	deliver(w, client < 2 ? 0 : 1, &m);
	free(y);
}

static void rule_messages(struct world *w)
{
	size_t mark = w->out.n;
	REQUIRE(join_both(w), "both processes join");
	const struct sent *s = find_sent(w, mark, FCL_MSG_ROUND_START, 0);
	CHECK(s && s->n_tensors == 0 && s->n_ints == 0, "round 0 is no task end: no request");
	uint64_t bad = w->report.bad_messages;
	forget_log();
	sketch_answer(w, 0, s, 0, 1);
	CHECK(w->report.bad_messages == bad + 1 &&
		  logged("fot message for round 0, not expected now"),
	      "a rule message nobody asked for is dropped");

	mark = w->out.n;
	all_good(w, 0);
	const struct sent *start = find_sent(w, mark, FCL_MSG_ROUND_START, 0);
	REQUIRE(start && start->round == 1, "round 1 goes out");
	uint32_t L = w->model.n_layers;
	CHECK(start->n_tensors == L && start->n_ints == L + 1 && start->rows[0] == w->sched.dim,
	      "round 1 ends task 0: its start carries one basis per layer");
	mark = w->out.n;
	all_good(w, 1);
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0 && w->round.answers_due == L,
	      "all 4 updates are in, but the round waits for %u sketches each", L);
	bad = w->report.bad_messages;
	forget_log();
	sketch_answer(w, 0, start, 0, 0);
	CHECK(w->report.bad_messages == bad + 1 && logged("fot message from client 0 rejected: "
							  "non-finite values"),
	      "a sketch with a NaN is rejected");
	sketch_answer(w, 0, start, 1, 1);
	sketch_answer(w, 0, start, 1, 1);
	CHECK(w->report.bad_messages == bad + 2 && logged("more than the 2 expected"),
	      "a third sketch from client 0 is dropped: the rejected one counted as an answer");
	for (uint32_t c = 1; c < 4; c++)
		for (uint32_t l = 0; l < L; l++) {
			CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0,
			      "no round 2 before client %u's sketch of layer %u", c, l);
			sketch_answer(w, c, start, l, 1);
		}
	CHECK(w->report.bad_messages == bad + 2, "the other sketches are accepted");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2 && w->round.round == 2,
	      "with every sketch in, round 2 goes out");
	CHECK(file_has(w, "events.jsonl", "\"event\":\"fot_basis\",\"round\":1,") &&
		  file_has(w, "fot.csv", "\n0,0,"),
	      "the rule grew its bases and said so in events.jsonl through the dispatcher");
}

/* Joining, then round 0's updates, then rounds 1 and 2's deadlines: one run. */
static void one_run(struct world *w)
{
	joining(w);
	updates(w);
	deadlines(w);
}

/* A test on a fresh run, set up and removed here (a REQUIRE that fails in it
 * returns early, leaving the run to us). */
static void on_fresh_run(const char *rule, void (*test)(struct world *), const char *what)
{
	struct world *w = world_new(rule);
	CHECK(w != NULL, "%s: a run with rule %s is set up", what, rule);
	if (w)
		test(w);
	world_free(w);
}

int main(void)
{
	fcl_log_set(log_sink, NULL);
	on_fresh_run("fedavg", one_run, "joining, updates, deadlines");
	on_fresh_run("fedavg", complete_run, "a complete run");
	on_fresh_run("fedavg", departures, "departures");
	on_fresh_run("fedavg", join_quorum, "join timeout with a quorum");
	on_fresh_run("fedavg", join_nobody, "join timeout without");
	on_fresh_run("fedavg", send_failure, "an unreachable peer");
	on_fresh_run("fot", rule_messages, "rule messages");
	return tap_done();
}
