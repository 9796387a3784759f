/* tests/test_recovery.c - the coordinator's checkpoints, restores and
 * rollbacks, without sockets
 *
 * A tiny synthetic run (4 logical clients in 2 processes: peer 0 hosts 0-1,
 * peer 1 hosts 2-3; 2 tasks x 2 rounds) with a checkpoint after every round
 * and run.on_client_loss: rollback, driven through server/dispatch.c as
 * net.c would, with a recording outbox. What the machine sends, the files it
 * writes and its phases are checked; tests/net/resume.sh does the same with
 * real processes.
 */
#include "checkpoint.h"
#include "dispatch.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"

#include "fcl/blas_core.h"
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- what the machine sends ---------------------------------------------- */

struct sent {
	uint32_t peer;
	enum fcl_msg_type type;
	uint32_t round;
	int64_t client_id;
	uint64_t total;
	char text[128];
};

struct recorder {
	struct sent sent[256];
	size_t n;
	int stopped;
};

static int rec_send(void *ud, uint32_t p, const struct fcl_msg *m, size_t *bytes)
{
	struct recorder *r = ud;
	if (r->n == sizeof r->sent / sizeof *r->sent)
		return -ENOBUFS;
	r->sent[r->n++] = (struct sent){.peer = p,
					.type = m->type,
					.round = m->round,
					.client_id = m->client_id,
					.total = m->total};
	snprintf(r->sent[r->n - 1].text, sizeof r->sent[0].text, "%s", m->text ? m->text : "");
	*bytes = 100;
	return 0;
}

static void rec_arm(void *ud, double seconds)
{
	(void)ud;
	(void)seconds;
}

static void rec_stop(void *ud)
{
	((struct recorder *)ud)->stopped++;
}

/* ---- the run ------------------------------------------------------------- */

static const char scenario[] =
    "name: recovery-test\n"
    "seed: 3\n"
    "data: {dataset: synthetic, synthetic: {train: 200, test: 50, dim: 8, classes: 4}}\n"
    "model: {hidden: [4]}\n"
    "clients: {count: 4, per_round: 4}\n"
    "tasks: {generator: class-incremental, count: 2, classes_per_task: 2, rounds_per_task: 2}\n"
    "train: {batch_size: 10}\n"
    "run: {round_timeout: 60, join_timeout: 30, quorum: 0.5, on_client_loss: rollback,\n"
    "      checkpoint: {every_rounds: 1, task_ends: false, every_minutes: 0}}\n";

static struct {
	char dir[64];
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_agg *agg;
	struct coord_round round;
	struct coord_eval eval;
	struct coord_report report;
	struct coord_ckpt ckpt;
	struct coord_dispatch d;
	struct recorder out;
} w;

static int setup(void)
{
	char err[512];
	uint32_t sizes[3];
	struct fcl_rng rng;
	size_t len = strlen(scenario);
	uint64_t hash = fcl_hash64(scenario, len);

	snprintf(w.dir, sizeof w.dir, "/tmp/fcl-test-recovery-XXXXXX");
	if (!mkdtemp(w.dir) ||
	    fcl_scenario_parse(&w.sc, scenario, len, "<test>", err, sizeof err) ||
	    fcl_schedule_load_data(&w.sc, &w.train, &w.test, err, sizeof err) ||
	    fcl_schedule_compile(&w.sched, &w.sc, &w.train, &w.test))
		return -1;
	sizes[0] = w.sched.dim;
	sizes[1] = 4;
	sizes[2] = w.sched.n_classes;
	if (fcl_mlp_init(&w.model, 2, sizes, 256) != 0)
		return -1;
	fcl_rng_init(&rng, w.sc.seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(&w.model, &rng);
	struct fcl_agg_env env = {.run_dir = w.dir, .event = coord_dispatch_rule_event, .ud = &w.d};
	struct coord_report_config rep = {.run_dir = w.dir,
					  .sc = &w.sc,
					  .sched = &w.sched,
					  .train = &w.train,
					  .model = &w.model,
					  .scenario_text = scenario,
					  .scenario_len = len,
					  .scenario_hash = hash,
					  .started = fcl_now()};
	if (fcl_agg_create(&w.sc, &w.model, &env, &w.agg) ||
	    coord_round_init(&w.round, &w.sc, &w.sched, &w.model, w.agg, w.train.n) ||
	    coord_report_init(&w.report, &rep))
		return -1;
	struct coord_eval_config ev = {.sched = &w.sched,
				       .model = &w.model,
				       .test = &w.test,
				       .csv = w.report.eval_csv,
				       .io_error = w.report.io_error,
				       .every_rounds = 1};
	struct coord_ckpt_config cc = {.run_dir = w.dir,
				       .sc = &w.sc,
				       .scenario_text = scenario,
				       .scenario_len = len,
				       .scenario_hash = hash,
				       .scenario_path = "/test.yaml",
				       .n_clients = 4,
				       .parts = {.model = &w.model,
						 .agg = w.agg,
						 .round = &w.round,
						 .eval = &w.eval,
						 .report = &w.report}};
	if (coord_eval_init(&w.eval, &ev) || coord_ckpt_init(&w.ckpt, &cc))
		return -1;
	struct coord_dispatch_config dc = {
	    .round = &w.round,
	    .eval = &w.eval,
	    .report = &w.report,
	    .out = {.send = rec_send, .arm = rec_arm, .stop = rec_stop, .ud = &w.out},
	    .sc = &w.sc,
	    .sched = &w.sched,
	    .scenario_text = scenario,
	    .scenario_hash = hash,
	    .n_params = (uint32_t)w.model.n_params,
	    .ckpt = &w.ckpt};
	coord_dispatch_init(&w.d, &dc);
	coord_dispatch_start(&w.d);
	return 0;
}

static void teardown(void)
{
	char cmd[128];
	coord_ckpt_fini(&w.ckpt);
	coord_eval_fini(&w.eval);
	coord_report_fini(&w.report);
	coord_round_fini(&w.round);
	fcl_agg_destroy(w.agg);
	fcl_mlp_fini(&w.model);
	fcl_schedule_fini(&w.sched);
	fcl_dataset_fini(&w.train);
	fcl_dataset_fini(&w.test);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", w.dir);
	if (!getenv("FCL_KEEP") && system(cmd) != 0)
		NOTE("could not remove %s", w.dir);
}

/* ---- what the fake net delivers ------------------------------------------ */

static void deliver(int from, const struct fcl_msg *m)
{
	coord_dispatch_message(&w.d, from, m, 100);
}

static int hello(uint32_t first)
{
	uint32_t ids[2] = {first, first + 1};
	int p = (int)coord_dispatch_peers(&w.d);
	struct fcl_msg m = {.type = FCL_MSG_HELLO,
			    .client_id = -1,
			    .protocol_version = FCL_PROTOCOL_VERSION,
			    .blas_core = fcl_blas_core(),
			    .blas_version = fcl_blas_version(),
			    .pid = 100 + first,
			    .hostname = "h",
			    .ids = ids,
			    .n_ids = 2};
	deliver(p, &m);
	return coord_dispatch_peers(&w.d) > (uint32_t)p ? p : -1;
}

static void update(int from, uint32_t client, uint32_t round)
{
	float v[64] = {0};
	for (size_t i = 0; i < w.model.n_params && i < 64; i++)
		v[i] = 0.001f * (float)((i + client) % 5);
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = client,
			    .values = v,
			    .n_values = w.model.n_params,
			    .n_samples = 20,
			    .loss = 1.0f};
	deliver(from, &m);
}

/* Bytes [at, at + n) of a state of `total` bytes of client c (c < 0: the end). */
static void piece(int from, int64_t c, uint32_t round, uint64_t at, size_t n, uint64_t total)
{
	uint8_t data[256];
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(c * 31 + (int64_t)(at + i));
	struct fcl_msg m = {.type = FCL_MSG_STATE,
			    .round = round,
			    .client_id = c,
			    .data = data,
			    .n_data = n,
			    .offset = at,
			    .total = total};
	deliver(from, &m);
}

static size_t count(size_t since, enum fcl_msg_type type, int peer)
{
	size_t n = 0;
	for (size_t i = since; i < w.out.n; i++)
		n += w.out.sent[i].type == type && (peer < 0 || (int)w.out.sent[i].peer == peer);
	return n;
}

static int exists(const char *name)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", w.dir, name);
	return stat(path, &st) == 0;
}

static int events_has(const char *s)
{
	char path[128], *text = NULL;
	snprintf(path, sizeof path, "%s/events.jsonl", w.dir);
	int found = fcl_read_file(path, &text, NULL) == 0 && strstr(text, s);
	free(text);
	return found;
}

/* ---- the tests ----------------------------------------------------------- */

static uint64_t saved_params;

static void checkpoint(void)
{
	REQUIRE(hello(0) == 0 && hello(2) == 1, "both processes join");
	CHECK(exists("checkpoints/rounds-00000000/server.bin") &&
		  count(0, FCL_MSG_ROUND_START, -1) == 2,
	      "the checkpoint before round 0 is written, then round 0 goes out");
	size_t mark = w.out.n;
	for (uint32_t c = 0; c < 4; c++)
		update(c < 2 ? 0 : 1, c, 0);
	CHECK(w.round.phase == COORD_SAVING && count(mark, FCL_MSG_SAVE, -1) == 2 &&
		  count(mark, FCL_MSG_ROUND_START, -1) == 0 && w.out.sent[mark].round == 1,
	      "after round 0 both processes are asked for their states (after 1 round)");

	uint64_t bad = w.report.bad_messages;
	piece(0, 2, 1, 0, 10, 10);
	CHECK(w.report.bad_messages == bad + 1,
	      "a state of a client another process hosts: dropped");
	piece(0, 0, 1, 0, 60, 100);
	piece(0, 0, 1, 60, 40, 100);
	piece(0, 1, 1, 0, 0, 0);
	piece(0, -1, 1, 0, 0, 0);
	CHECK(w.round.phase == COORD_SAVING, "one process answered: still saving");
	piece(1, 2, 1, 0, 30, 30);
	piece(1, 3, 1, 0, 50, 50);
	saved_params = fcl_hash64(w.model.params, w.model.n_params * sizeof(float));
	mark = w.out.n;
	piece(1, -1, 1, 0, 0, 0);
	CHECK(exists("checkpoints/rounds-00000001/clients.bin") &&
		  !exists("checkpoints/rounds-00000000") && events_has("\"event\":\"checkpoint\""),
	      "both answered: the checkpoint after 1 round is in place, the older one gone");
	CHECK(w.round.phase == COORD_TRAINING && count(mark, FCL_MSG_ROUND_START, -1) == 2 &&
		  w.out.sent[mark].round == 1,
	      "and round 1 goes out");
}

static void rollback(void)
{
	size_t mark = w.out.n;
	uint64_t bad = w.report.bad_messages;

	update(0, 0, 1);
	coord_dispatch_peer_gone(&w.d, 1, "10.0.0.2", "connection closed");
	CHECK(w.round.phase == COORD_RECOVERING && count(mark, FCL_MSG_ROUND_START, -1) == 0,
	      "process 1 lost under rollback: its ids wait for a replacement");
	update(0, 1, 1);
	CHECK(w.report.bad_messages == bad && w.d.stale == 1,
	      "an update of the abandoned round is dropped as stale, not as bad");
	mark = w.out.n;
	REQUIRE(hello(2) == 2, "a replacement for clients 2-3 joins");
	CHECK(w.round.phase == COORD_RESTORING && w.round.round == 1 &&
		  fcl_hash64(w.model.params, w.model.n_params * sizeof(float)) == saved_params,
	      "the coordinator is back at the checkpoint: round 1, the model of then");
	size_t n0 = count(mark, FCL_MSG_RESTORE, 0), n2 = count(mark, FCL_MSG_RESTORE, 2);
	int sizes_ok = 1;
	for (size_t i = mark; i < w.out.n; i++) {
		const struct sent *s = &w.out.sent[i];
		if (s->type == FCL_MSG_RESTORE && s->client_id >= 0)
			sizes_ok &= s->total == (uint64_t[]){100, 0, 30, 50}[s->client_id];
	}
	CHECK(n0 == 3 && n2 == 3 && count(mark, FCL_MSG_RESTORE, 1) == 0 && sizes_ok,
	      "each process gets its clients' states back (sizes as saved) and an end: %zu, %zu",
	      n0, n2);
	mark = w.out.n;
	struct fcl_msg done = {.type = FCL_MSG_RESTORED, .round = 1, .client_id = -1};
	deliver(0, &done);
	CHECK(w.round.phase == COORD_RESTORING, "one receipt: still restoring");
	deliver(2, &done);
	CHECK(w.round.phase == COORD_TRAINING && count(mark, FCL_MSG_ROUND_START, 0) == 1 &&
		  count(mark, FCL_MSG_ROUND_START, 2) == 1 && w.out.sent[mark].round == 1 &&
		  events_has("\"event\":\"rollback\""),
	      "both receipts in: round 1 starts again, events.jsonl says why");
}

static void timeouts(void)
{
	size_t mark = w.out.n;
	for (uint32_t c = 0; c < 4; c++)
		update(c < 2 ? 0 : 2, c, 1);
	REQUIRE(w.round.phase == COORD_SAVING, "round 1 done: saving");
	coord_dispatch_deadline(&w.d);
	CHECK(w.round.phase == COORD_TRAINING && events_has("\"event\":\"checkpoint_dropped\"") &&
		  exists("checkpoints/rounds-00000001") &&
		  !exists("checkpoints/rounds-00000002.tmp"),
	      "no states by the deadline: that checkpoint is dropped, the previous one kept");
	CHECK(count(mark, FCL_MSG_ROUND_START, -1) == 2, "and round 2 goes out");

	coord_dispatch_peer_gone(&w.d, 0, "10.0.0.1", "connection closed");
	REQUIRE(hello(0) == 3, "a replacement for clients 0-1");
	REQUIRE(w.round.phase == COORD_RESTORING, "restoring");
	coord_dispatch_deadline(&w.d);
	CHECK(w.round.phase == COORD_DONE && w.d.exit_code == 1 && w.out.stopped == 1 &&
		  strcmp(w.d.fail_reason, "client processes did not take their states back") == 0,
	      "no receipt by the deadline: the run fails, saying so");
	char path[128], *m = NULL;
	snprintf(path, sizeof path, "%s/metrics.json", w.dir);
	CHECK(fcl_read_file(path, &m, NULL) == 0 && strstr(m, "\"complete\": false") &&
		  strstr(m, "did not take their states back"),
	      "metrics.json: not complete, and why");
	free(m);
}

int main(void)
{
	fcl_log_set_level(FCL_LOG_ERROR);
	if (setup() != 0) {
		CHECK(0, "a run set up in %s", w.dir);
		return tap_done();
	}
	checkpoint();
	rollback();
	timeouts();
	teardown();
	return tap_done();
}
