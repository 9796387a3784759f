/* server/round.c - the round state machine
 *
 *   JOINING  --hello covers every logical client-->  TRAINING (round 0 out)
 *   JOINING  --join timeout, quorum of clients in-->  TRAINING without the absent ones
 *   JOINING  --join timeout, fewer-->                DONE (failed: names who is missing)
 *   TRAINING --every participant answered-->         aggregate, evaluate, next round or DONE
 *   TRAINING --deadline, quorum met-->               aggregate what arrived, go on
 *   TRAINING --deadline, quorum missed-->            DONE (failed)
 *   any      --a process is gone (net.c)-->          its clients leave (see round_on_peer_gone)
 *
 * Updates are summed in client-id order, never arrival order, so the
 * result does not depend on timing or on how clients map to processes.
 */
#include "server.h"
#include "evaluate.h"

#include "fcl/rule.h"
#include "fcl/log.h"
#include "fcl/rng.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void start_round(struct fcl_server *s);
static void check_complete(struct fcl_server *s);
static int start_without_absent(struct fcl_server *s);

static void send_error(struct fcl_server *s, uint32_t peer, int code, const char *text)
{
	struct fcl_msg m = {.type = FCL_MSG_ERROR, .client_id = -1, .code = code, .text = text};
	server_send(s, peer, &m);
}

void round_on_hello(struct fcl_server *s, const uint8_t *identity, size_t identity_len,
		    const struct fcl_msg *m)
{
	char why[256] = "";

	if (s->phase != PHASE_JOINING)
		snprintf(why, sizeof why, "the run has started (late joiners are not supported)");
	else if (m->protocol_version != FCL_PROTOCOL_VERSION)
		snprintf(why, sizeof why, "protocol version %u, this server speaks %u",
			 m->protocol_version, FCL_PROTOCOL_VERSION);
	else if (m->n_ids == 0)
		snprintf(why, sizeof why, "hello names no logical clients");
	for (size_t i = 0; i < m->n_ids && !why[0]; i++) {
		if (m->ids[i] >= s->sched.n_clients)
			snprintf(why, sizeof why, "client id %u out of range (scenario has %u)",
				 m->ids[i], s->sched.n_clients);
		else if (s->owner[m->ids[i]] >= 0)
			snprintf(why, sizeof why, "client id %u is already hosted elsewhere",
				 m->ids[i]);
	}
	/* Register the peer even to refuse it: the error needs a route back. */
	struct peer *p = realloc(s->peers, (s->n_peers + 1) * sizeof *p);
	if (!p)
		return;
	s->peers = p;
	p = &s->peers[s->n_peers];
	memset(p, 0, sizeof *p);
	memcpy(p->identity, identity, identity_len);
	p->identity_len = identity_len;
	p->pid = m->pid;
	snprintf(p->hostname, sizeof p->hostname, "%s", m->hostname ? m->hostname : "?");
	uint32_t index = s->n_peers++;
	if (why[0]) {
		fcl_warn("refusing process %u on %s: %s", m->pid, p->hostname, why);
		send_error(s, index, -22, why);
		s->n_peers--; /* forget it again */
		return;
	}
	p->first_id = m->ids[0];
	p->n_ids = (uint32_t)m->n_ids;
	for (size_t i = 0; i < m->n_ids; i++)
		s->owner[m->ids[i]] = (int32_t)index;
	s->n_joined += (uint32_t)m->n_ids;
	fcl_info("process %u on %s hosts %zu logical clients from %u (%u of %u joined)", m->pid,
		 p->hostname, m->n_ids, m->ids[0], s->n_joined, s->sched.n_clients);

	struct fcl_msg w = {.type = FCL_MSG_WELCOME,
			    .client_id = -1,
			    .protocol_version = FCL_PROTOCOL_VERSION,
			    .scenario_text = s->scenario_text,
			    .scenario_name = s->sc.name,
			    .scenario_hash = s->scenario_hash,
			    .seed = s->sc.seed,
			    .n_params = (uint32_t)s->model.n_params};
	server_send(s, index, &w);
	if (s->n_joined == s->sched.n_clients) {
		report_event(s, "joined", NULL);
		start_round(s);
	}
}

/* The round as the rule's hooks see it. */
static struct fcl_round_info round_info(const struct fcl_server *s)
{
	return (struct fcl_round_info){.round = s->round,
				       .task = fcl_schedule_task_of_round(&s->sched, s->round),
				       .task_end = fcl_schedule_is_task_end(&s->sched, s->round),
				       .n_slots = s->n_participants,
				       .n_train = s->train.n,
				       .request_sends = s->request_sends};
}

static void start_round(struct fcl_server *s)
{
	uint32_t task = fcl_schedule_task_of_round(&s->sched, s->round);
	struct fcl_extras request;

	s->phase = PHASE_TRAINING;
	s->round_started = fcl_now();
	s->round_bytes_up = s->round_bytes_down = 0;
	s->n_accepted = s->n_rejected = s->n_gone = 0;
	s->request_sends = 0;
	/* Only clients with data this round, that joined, have not left and whose
	 * participation draw came up, can be sampled; there may be none. */
	s->n_participants =
	    fcl_schedule_participants(&s->sched, s->sc.seed, s->round, s->participants);
	memset(s->slot, 0, s->n_participants * sizeof *s->slot);
	memset(s->slot_answers, 0, s->n_participants * sizeof *s->slot_answers);
	struct fcl_round_info info = round_info(s);
	s->answers_due = fcl_agg_answers(s->agg, &info);
	if (s->n_participants == 0) {
		/* Nobody to wait for: close the round from the loop, not recursively. */
		server_arm_deadline(s, 0.0);
		return;
	}
	/* Sampling ignores departures (determinism); a gone participant is just missing. */
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->owner[s->participants[i]] == OWNER_GONE) {
			s->slot[i] = SLOT_GONE;
			s->n_gone++;
		}

	/* One message per process: the parameters once, plus its participants. */
	uint32_t *ids = malloc(s->n_participants * sizeof *ids);
	int rc = ids ? fcl_agg_request(s->agg, &info, &request) : -ENOMEM;
	if (rc) {
		free(ids);
		fcl_error("round %u: cannot start: %s", s->round, strerror(-rc));
		round_finish_run(s, 1, rc == -ENOMEM ? "out of memory" : "rule request failed");
		return;
	}
	for (uint32_t p = 0; p < s->n_peers; p++) {
		size_t n = 0;
		for (uint32_t i = 0; i < s->n_participants; i++)
			if (s->owner[s->participants[i]] == (int32_t)p)
				ids[n++] = s->participants[i];
		if (n == 0)
			continue;
		struct fcl_msg m = {.type = FCL_MSG_ROUND_START,
				    .round = s->round,
				    .client_id = -1,
				    .task = task,
				    .values = s->model.params,
				    .n_values = s->model.n_params,
				    .ids = ids,
				    .n_ids = n,
				    .extras = request};
		int sent = server_send(s, p, &m) == 0;
		s->request_sends += sent && (request.n_tensors || request.n_ints);
		if (!sent) {
			/* Its clients cannot answer; count them out now rather than at the deadline. */
			for (uint32_t i = 0; i < s->n_participants; i++)
				if (s->owner[s->participants[i]] == (int32_t)p) {
					s->slot[i] = SLOT_REJECTED;
					s->n_rejected++;
				}
		}
	}
	free(ids);
	server_arm_deadline(s, s->sc.run.round_timeout_s);
	if (s->n_gone)
		check_complete(s);
}

static int slot_of(const struct fcl_server *s, int64_t client)
{
	/* participants is ascending: binary search */
	uint32_t lo = 0, hi = s->n_participants;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if ((int64_t)s->participants[mid] < client)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_participants && (int64_t)s->participants[lo] == client ? (int)lo : -1;
}

static void evaluate(struct fcl_server *s, int task_end)
{
	eval_global(s, s->round, task_end);
}

/* The rule (fcl/rule.h) over the accepted updates, in client-id order; then its round end. */
static void aggregate(struct fcl_server *s)
{
	size_t n = 0;
	uint32_t B = s->sc.train.batch_size;

	for (uint32_t i = 0; i < s->n_participants; i++) {
		if (s->slot[i] != SLOT_ACCEPTED)
			continue;
		uint64_t ns = s->slot_samples[i];
		s->agg_in[n++] = (struct fcl_agg_update){
			.client_id = s->participants[i],
			.slot = i,
			.n_samples = ns,
			.local_steps = (uint32_t)((ns + B - 1) / B) * s->sc.train.local_epochs,
			.delta = s->updates[i]};
	}
	int rc = fcl_agg_step(s->agg, s->agg_in, n, s->model.params);
	if (rc)
		fcl_error("round %u: %s aggregation failed: %s", s->round, fcl_agg_name(s->agg),
			  strerror(-rc));
	struct fcl_round_info info = round_info(s);
	if ((rc = fcl_agg_round_end(s->agg, &info, s->agg_in, n)) != 0)
		fcl_error("round %u: %s round end failed: %s", s->round, fcl_agg_name(s->agg),
			  strerror(-rc));
}

static void end_round(struct fcl_server *s)
{
	double t0 = fcl_now();
	int task_end = fcl_schedule_is_task_end(&s->sched, s->round);
	uint32_t every = s->sc.eval.every_rounds;
	int last = s->round + 1 == s->sched.n_rounds;

	uv_timer_stop(&s->deadline);
	eval_local_models(s); /* before aggregation: local = global + update */
	aggregate(s);
	if (task_end || last || (every && (s->round + 1) % every == 0))
		evaluate(s, task_end);
	report_round(s, fcl_now() - s->round_started, fcl_now() - t0);
	s->round++;
	if (s->round == s->sched.n_rounds)
		round_finish_run(s, 0, NULL);
	else
		start_round(s);
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

void round_on_update(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m, size_t bytes)
{
	int i;

	if (s->phase != PHASE_TRAINING || m->round != s->round) {
		server_drop(s, "update for round %u while in round %u", m->round, s->round);
		return;
	}
	if ((i = slot_of(s, m->client_id)) < 0) {
		server_drop(s, "update from client %lld, not a participant of round %u",
			    (long long)m->client_id, s->round);
		return;
	}
	if (s->owner[m->client_id] != (int32_t)peer) {
		server_drop(s, "update for client %lld from a process that does not host it",
			    (long long)m->client_id);
		return;
	}
	if (s->slot[i] != SLOT_WAITING) {
		server_drop(s, "second update from client %lld in round %u",
			    (long long)m->client_id, s->round);
		return;
	}
	/* From here the client has answered: a bad update is rejected, not awaited. */
	report_update(s, (uint32_t)m->client_id, bytes);
	const char *bad = NULL;
	struct fcl_round_info info = round_info(s);
	if (m->n_values != s->model.n_params)
		bad = "wrong number of parameters";
	else if (m->n_samples == 0 || m->n_samples > s->train.n)
		bad = "implausible sample count";
	else if (!all_finite(m->values, m->n_values) || !fcl_extras_finite(&m->extras))
		bad = "non-finite values";
	else if (fcl_agg_accept_update(s->agg, &info, (uint32_t)i, &m->extras, &bad) != 0 && !bad)
		bad = "refused by the rule";
	if (bad) {
		server_drop(s, "update from client %lld in round %u rejected: %s (%zu values, %llu "
			       "samples)",
			    (long long)m->client_id, s->round, bad, m->n_values,
			    (unsigned long long)m->n_samples);
		s->slot[i] = SLOT_REJECTED;
		s->n_rejected++;
	} else {
		memcpy(s->updates[i], m->values, m->n_values * sizeof(float));
		s->slot_samples[i] = m->n_samples;
		s->slot_loss[i] = m->loss;
		s->slot_train_s[i] = m->train_seconds;
		s->slot[i] = SLOT_ACCEPTED;
		s->n_accepted++;
	}
	check_complete(s);
}

void round_on_rule_message(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m,
			   size_t bytes)
{
	const char *name = fcl_agg_name(s->agg), *bad = NULL;
	int i;

	if (s->phase != PHASE_TRAINING || m->round != s->round || s->answers_due == 0) {
		server_drop(s, "%s message for round %u, not expected now (round %u)", name,
			    m->round, s->round);
		return;
	}
	if ((i = slot_of(s, m->client_id)) < 0 || s->owner[m->client_id] != (int32_t)peer) {
		server_drop(s, "%s message from client %lld, not a participant hosted by that "
			       "process",
			    name, (long long)m->client_id);
		return;
	}
	if (s->slot_answers[i] >= s->answers_due) {
		server_drop(s, "%s message from client %lld: more than the %u expected", name,
			    (long long)m->client_id, s->answers_due);
		return;
	}
	/* From here it counts as answered, valid or not: nothing more is awaited. */
	s->slot_answers[i]++;
	struct fcl_round_info info = round_info(s);
	if (!fcl_extras_finite(&m->extras))
		bad = "non-finite values";
	else if (fcl_agg_accept_answer(s->agg, &info, (uint32_t)i, &m->extras, bytes, &bad) != 0 &&
		 !bad)
		bad = "refused by the rule";
	if (bad)
		server_drop(s, "%s message from client %lld rejected: %s", name,
			    (long long)m->client_id, bad);
	check_complete(s);
}

void round_on_deadline(struct fcl_server *s)
{
	if (s->phase == PHASE_JOINING && start_without_absent(s))
		return;
	if (s->phase == PHASE_JOINING) {
		char missing[256] = "";
		size_t len = 0;
		uint32_t n_missing = 0;
		for (uint32_t c = 0; c < s->sched.n_clients; c++)
			if (s->owner[c] < 0 && n_missing++ < 8 && len < sizeof missing - 16)
				len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%u",
							len ? "," : "", c);
		fcl_error("join timeout after %.0f s: %u of %u logical clients never joined "
			  "(first missing: %s)",
			  s->sc.run.join_timeout_s, n_missing, s->sched.n_clients, missing);
		round_finish_run(s, 1, "join timeout");
		return;
	}
	if (s->phase != PHASE_TRAINING)
		return;
	if (s->n_participants == 0) { /* a round nobody could take part in */
		end_round(s);
		return;
	}
	uint32_t need = (uint32_t)ceil(s->sc.run.quorum * s->n_participants);
	need = need ? need : 1;
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_WAITING)
			fcl_warn("round %u: no update from client %u by the deadline", s->round,
				 s->participants[i]);
	if (s->n_accepted >= need) {
		fcl_warn("round %u: deadline with %u of %u updates; quorum %u met, going on",
			 s->round, s->n_accepted, s->n_participants, need);
		end_round(s);
		return;
	}
	fcl_error("round %u: deadline with %u of %u updates; quorum needs %u", s->round,
		  s->n_accepted, s->n_participants, need);
	round_finish_run(s, 1, "quorum missed");
}

void round_finish_run(struct fcl_server *s, int exit_code, const char *reason)
{
	if (s->phase == PHASE_DONE)
		return;
	s->phase = PHASE_DONE;
	s->exit_code = exit_code;
	s->fail_reason = reason;
	struct fcl_msg m = {.type = FCL_MSG_SHUTDOWN,
			    .round = s->round,
			    .client_id = -1,
			    .text = reason ? reason : "run complete"};
	for (uint32_t p = 0; p < s->n_peers; p++)
		server_send(s, p, &m);
	if (report_close(s) != 0 && s->exit_code == 0)
		s->exit_code = 1;
	server_net_stop(s);
}

/* ---- departures ---------------------------------------------------------- */

static uint32_t quorum_need(const struct fcl_server *s)
{
	uint32_t need = (uint32_t)ceil(s->sc.run.quorum * s->n_participants);
	return need ? need : 1;
}

/* Ends the round once no participant can still answer. Gone participants
 * never will, so a round with any of them needs the quorum, at once rather
 * than at the deadline. */
static void check_complete(struct fcl_server *s)
{
	if (s->phase != PHASE_TRAINING ||
	    s->n_accepted + s->n_rejected + s->n_gone < s->n_participants)
		return;
	/* every accepted participant has sent the rule messages the round asks for */
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_ACCEPTED && s->slot_answers[i] < s->answers_due)
			return;
	if (s->n_gone && s->n_accepted < quorum_need(s)) {
		fcl_error("round %u: %u of %u participants are gone, %u updates arrived; quorum "
			  "needs %u",
			  s->round, s->n_gone, s->n_participants, s->n_accepted, quorum_need(s));
		round_finish_run(s, 1, "quorum missed");
		return;
	}
	end_round(s);
}

/* "0-3,7" from ascending ids, cut with "..." to fit. */
static void format_ids(char *buf, size_t len, const uint32_t *ids, uint32_t n)
{
	size_t at = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n && at + 24 < len; i++) {
		uint32_t j = i;
		while (j + 1 < n && ids[j + 1] == ids[j] + 1)
			j++;
		if (j > i)
			at += (size_t)snprintf(buf + at, len - at, "%s%u-%u", at ? "," : "", ids[i],
					       ids[j]);
		else
			at += (size_t)snprintf(buf + at, len - at, "%s%u", at ? "," : "", ids[i]);
		i = j;
		if (i + 1 < n && at + 24 >= len)
			snprintf(buf + at, len - at, ",...");
	}
}

void round_on_peer_gone(struct fcl_server *s, uint32_t p, const char *why)
{
	struct peer *peer = &s->peers[p];
	uint32_t n = 0, N = s->sched.n_clients;
	char list[256];

	/* After the run every client disconnects: nothing to report then. */
	if (s->phase == PHASE_DONE || peer->gone)
		return;
	peer->gone = 1;
	uint32_t *ids = malloc(N * sizeof *ids);
	FCL_ASSERT(ids != NULL);
	for (uint32_t c = 0; c < N; c++)
		if (s->owner[c] == (int32_t)p)
			ids[n++] = c;
	format_ids(list, sizeof list, ids, n);
	if (s->phase == PHASE_JOINING) {
		/* Nothing ran yet: the ids are free for a replacement process. */
		for (uint32_t i = 0; i < n; i++)
			s->owner[ids[i]] = -1;
		s->n_joined -= n;
		fcl_warn("process %u on %s (%s) left before the first round (%s); logical clients "
			 "%s may join again (%u of %u joined)",
			 peer->pid, peer->hostname, peer->addr[0] ? peer->addr : "?", why, list,
			 s->n_joined, N);
		report_gone(s, "left", p, ids, n, why);
		free(ids);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		s->owner[ids[i]] = OWNER_GONE;
	s->n_clients_gone += n;
	fcl_warn("round %u: process %u on %s (%s) is gone (%s): logical clients %s leave the "
		 "run (%u of %u logical clients gone)",
		 s->round, peer->pid, peer->hostname, peer->addr[0] ? peer->addr : "?", why, list,
		 s->n_clients_gone, N);
	report_gone(s, "gone", p, ids, n, why);
	free(ids);
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_WAITING && s->owner[s->participants[i]] == OWNER_GONE) {
			s->slot[i] = SLOT_GONE;
			s->n_gone++;
		}
	check_complete(s);
}

/* At the join timeout: if run.quorum of the logical clients joined, start
 * without the others, who count as gone for the whole run (participants are
 * still sampled among all of them). 1 if the run started. */
static int start_without_absent(struct fcl_server *s)
{
	uint32_t N = s->sched.n_clients, n = 0;
	uint32_t need = (uint32_t)ceil(s->sc.run.quorum * N);
	char list[256];

	if (s->n_joined < (need ? need : 1) || s->n_joined == N)
		return 0;
	uint32_t *ids = malloc(N * sizeof *ids);
	FCL_ASSERT(ids != NULL);
	for (uint32_t c = 0; c < N; c++)
		if (s->owner[c] < 0) {
			s->owner[c] = OWNER_GONE;
			ids[n++] = c;
		}
	s->n_clients_gone += n;
	format_ids(list, sizeof list, ids, n);
	fcl_warn("join timeout after %.0f s: %u of %u logical clients joined, quorum %.2f met; "
		 "starting without %s",
		 s->sc.run.join_timeout_s, s->n_joined, N, s->sc.run.quorum, list);
	report_absent(s, ids, n);
	free(ids);
	report_event(s, "joined", "partial");
	start_round(s);
	return 1;
}
