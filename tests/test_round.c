/* tests/test_round.c - the coordinator's state machine without sockets
 *
 * Drives server/dispatch.c as net.c would (hellos with a fresh peer index,
 * other messages with the sender's) on a tiny synthetic scenario: 4 logical
 * clients in 2 processes (peer 0 hosts 0-1, peer 1 hosts 2-3), all 4 in every
 * round, 2 tasks x 2 rounds, quorum 0.5. A recording outbox keeps what the
 * machine sends, arms and stops; the assertions are on that record, on the
 * drop count and log lines, and on the run folder it writes (round_world.c).
 * Simulated time's rounds are test_round_sim.c's.
 */
#include "round_world.h"

#include "fcl/blas_core.h"
#include "fcl/log.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	CHECK(w->report.refused_hellos == 3, "... but as refused hellos (%llu)",
	      (unsigned long long)w->report.refused_hellos);

	{
		/* issue 16: a hello naming id 2 four times is not four clients */
		uint32_t dup[4] = {2, 2, 2, 2};
		struct fcl_msg dh = {.type = FCL_MSG_HELLO,
				    .client_id = -1,
				    .protocol_version = FCL_PROTOCOL_VERSION,
				    .blas_core = fcl_blas_core(),
				    .blas_version = fcl_blas_version(),
				    .pid = 66,
				    .hostname = "dup",
				    .ids = dup,
				    .n_ids = 4};
		mark = w->out.n;
		deliver(w, (int)coord_dispatch_peers(&w->d), &dh);
		s = find_sent(w, mark, FCL_MSG_ERROR, 1);
		CHECK(coord_dispatch_peers(&w->d) == 1 && s && strstr(s->text, "client id 2 named twice"),
		      "a hello naming one id four times is refused: %s", s ? s->text : "(none)");
		CHECK(w->round.n_joined == 2 && w->round.owner[2] == -1,
		      "... and joins nobody (%u of 4 joined)", w->round.n_joined);
		/* a key bound to ids 0-1 (allow file `KEY 0-1`) cannot claim 2-3 */
		uint32_t bound[2] = {0, 1}, two[2] = {2, 3};
		dh.ids = two;
		dh.n_ids = 2;
		mark = w->out.n;
		coord_dispatch_hello(&w->d, (int)coord_dispatch_peers(&w->d), &dh, 16, bound, 2);
		s = find_sent(w, mark, FCL_MSG_ERROR, 1);
		CHECK(coord_dispatch_peers(&w->d) == 1 && s &&
			  strstr(s->text, "client id 2 is not among the ids its key may host"),
		      "a key bound to other ids cannot claim 2-3: %s", s ? s->text : "(none)");
		CHECK(w->report.refused_hellos == 5 && w->report.bad_messages == bad,
		      "both are counted as refused hellos (%llu)",
		      (unsigned long long)w->report.refused_hellos);
	}

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

/* Process p's sum of its participants' sketches (partial sums): ids with
 * their process's rejections; the sum holds one answer per accepted record
 * (length `len`, or the request's). */
static void sketch_sum(struct world *w, int p, const struct sent *start, const uint32_t *ids,
		       const uint32_t *rej, size_t n, long len)
{
	size_t L = 0;
	uint32_t in = 0;
	for (uint32_t l = 0; l < start->n_tensors; l++)
		L += (size_t)start->rows[l] * start->ints[1 + l] + 3;
	for (size_t k = 0; k < n; k++)
		in += rej[k] == FCL_REJECT_NONE;
	L = len >= 0 ? (size_t)len : L;
	int64_t *v = calloc(L ? L : 1, sizeof *v);
	if (!v)
		return;
	for (uint32_t l = 0, at = 0; l < start->n_tensors && in && len < 0; l++) {
		size_t dc = (size_t)start->rows[l] * start->ints[1 + l];
		v[at] = (int64_t)in << 31;                            /* Y[0] = 0.5 each */
		v[at + dc] = (int64_t)in * (((int64_t)25 << 32) / 2); /* n r = 12.5 */
		v[at + dc + 1] = (int64_t)in * ((int64_t)25 << 32);   /* n = 25 */
		v[at + dc + 2] = (int64_t)in << 32;                   /* one sketch each */
		at += (uint32_t)(dc + 3);
	}
	struct fcl_msg m = {.type = FCL_MSG_RULE,
			    .round = start->round,
			    .client_id = -1,
			    .sum = v,
			    .n_sum = in ? L : 0,
			    .frac_bits = FCL_FIXSUM_FRAC_BITS,
			    .addends = in,
			    .ids = ids,
			    .n_ids = n,
			    .rec_rejected = rej};
	deliver(w, p, &m);
	free(v);
}

/* Partial sums: a process's sum of sketches answers for its participants;
 * those its process kept out are named, and a sum holding a participant whose
 * update was rejected here is refused whole. */
static void rule_sums(struct world *w)
{
	REQUIRE(join_both(w), "both processes join");
	all_good(w, 0);
	size_t mark = w->out.n;
	update(w, 0, 0, 1, GOOD);
	const struct sent *start = find_sent(w, 0, FCL_MSG_ROUND_START, 0);
	for (size_t i = 0; i < w->out.n; i++)
		if (w->out.sent[i].type == FCL_MSG_ROUND_START && w->out.sent[i].round == 1)
			start = &w->out.sent[i];
	REQUIRE(start && start->round == 1 && start->n_tensors > 0, "round 1 ends task 0");
	uint32_t ids01[2] = {0, 1}, ok2[2] = {0, 0}, one_out[2] = {0, FCL_REJECT_FINITE};
	uint64_t bad = w->report.bad_messages;
	forget_log();
	sketch_sum(w, 0, start, ids01, ok2, 2, -1);
	CHECK(w->report.bad_messages == bad + 1 && logged("names client 1 before its update"),
	      "a sum naming a participant whose update has not come is dropped");
	update(w, 0, 1, 1, GOOD);
	update(w, 1, 2, 1, GOOD);
	update(w, 1, 3, 1, NON_FINITE);
	forget_log();
	bad = w->report.bad_messages;
	sketch_sum(w, 0, start, ids01, one_out, 2, 5);
	CHECK(w->report.bad_messages == bad + 2 &&
		  logged("fot message from client 0 in round 1 rejected: a sum of sketches of the "
			 "wrong length"),
	      "a sum of the wrong length is refused by the rule, its participant named");
	CHECK(logged("fot message from client 1 in round 1 rejected by its process: non-finite "
		     "values") &&
		  count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 0,
	      "the participant its process kept out is named; the round waits for peer 1");
	forget_log();
	sketch_sum(w, 0, start, ids01, one_out, 2, -1);
	CHECK(logged("client 0 has answered already"),
	      "a second sum for the same clients is dropped");
	uint32_t ids23[2] = {2, 3};
	forget_log();
	bad = w->report.bad_messages;
	sketch_sum(w, 1, start, ids23, ok2, 2, -1);
	CHECK(w->report.bad_messages == bad + 2 &&
		  logged("fot message from client 2 in round 1 rejected: a participant in it has a "
			 "rejected update") &&
		  logged("fot message from client 3 in round 1 rejected: a participant"),
	      "a sum holding a rejected update is refused whole, each participant named");
	CHECK(count_sent(w, mark, FCL_MSG_ROUND_START, -1) == 2 && w->round.round == 2,
	      "every participant has answered: round 2 goes out");
	CHECK(file_has(w, "fot.csv", "\n0,0,") && file_has(w, "fot.csv", ",1.000000,0,0,0,"),
	      "no sum was kept, so no layer grew (no sketches, ratio 1)");
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
	on_fresh_run("fot", rule_sums, "sums of rule messages");
	return tap_done();
}
