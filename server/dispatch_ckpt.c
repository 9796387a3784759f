/* server/dispatch_ckpt.c - the state machine's checkpoints, restores and rollbacks
 *
 *   TRAINING  --round ends, checkpoint due-->    SAVING: SAVE to every process
 *   SAVING    --every process sent its states--> checkpoint written, next round
 *   SAVING    --deadline-->                      checkpoint dropped, next round
 *   JOINING   --all joined, resuming-->          RESTORING: states to every process
 *   RESTORING --every process confirmed-->       the checkpoint's round starts
 *   any running phase --a process lost, run.on_client_loss: rollback-->
 *             RECOVERING: its ids wait for a replacement (join timeout)
 *   RECOVERING --every id hosted again-->        the parts back to the newest
 *             checkpoint, RESTORING
 * Messages from before a rollback (updates, rule messages, states, receipts
 * of an earlier restore) still arrive while RESTORING or RECOVERING: dropped
 * and counted apart. A process answers in order, so once its receipt of the
 * restore is in, everything it sends is about the restored run.
 */
#include "checkpoint.h"
#include "dispatch-private.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"

#include "fcl/log.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The logical clients peer p hosts, into the round's id scratch. */
static uint32_t ids_of(struct coord_round *r, uint32_t p, const uint32_t **ids)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < r->sched->n_clients; c++)
		if (r->owner[c] == (int32_t)p)
			r->ids[n++] = c;
	*ids = r->ids;
	return n;
}

/* Every live peer owes an answer; how many do. */
static uint32_t expect_all(struct coord_round *r)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < r->n_peers; p++) {
		r->peers[p].owes = !r->peers[p].gone;
		n += r->peers[p].owes;
	}
	return n;
}

static uint32_t owing(const struct coord_round *r)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < r->n_peers; p++)
		n += r->peers[p].owes;
	return n;
}

/* A checkpoint could not be written (the previous one stays). Out of file
 * descriptors (thousands of connections) it is dropped and the run goes on;
 * anything else, the disk most likely, stops the run: a run that cannot keep
 * its checkpoints is not the run asked for. 0: the caller goes on unless
 * the run is over. */
static int ckpt_failed(struct coord_dispatch *d, int rc)
{
	if (rc == -EMFILE || rc == -ENFILE) {
		fcl_warn("checkpoint after %u rounds dropped: %s", d->c.round->round,
			 strerror(-rc));
		coord_report_event(d->c.report, d->c.round, "checkpoint_dropped",
				   "too many open files");
		return 0;
	}
	snprintf(d->reason, sizeof d->reason, "%scannot write checkpoint after %u rounds (%s)",
		 rc == -ENOSPC || rc == -EDQUOT ? "disk full: " : "", d->c.round->round,
		 strerror(-rc));
	return coord_dispatch__finish(d, 1, d->reason);
}

/* metrics.json and the summaries say the run is not over, and where it can go on from. */
static void say_unfinished(struct coord_dispatch *d)
{
	char why[640];
	snprintf(why, sizeof why,
		 "the run is going on, or its coordinator stopped without a word; "
		 "its newest checkpoint is after %lld rounds (fcl-sim --resume %s goes on from "
		 "there)",
		 (long long)d->c.ckpt->newest, d->c.report->c.run_dir);
	coord_report_unfinished(d->c.report, d->c.round, d->c.eval, why);
}

/* The states are in (or none are needed): server.bin, the checkpoint in place. */
static int commit(struct coord_dispatch *d)
{
	struct coord_ckpt *c = d->c.ckpt;
	char detail[96];
	double t0 = fcl_now();

	snprintf(detail, sizeof detail, "after %u rounds, %llu client states", c->done,
		 (unsigned long long)c->n_records);
	coord_report_event(d->c.report, d->c.round, "checkpoint", detail);
	int rc = coord_ckpt_commit(c);
	if (rc)
		return ckpt_failed(d, rc);
	fcl_info("checkpoint after %u rounds: %llu client states, %.1f MB; %.3f s to collect the "
		 "states, %.3f s to write",
		 c->done, (unsigned long long)c->n_records, (double)c->bytes / 1e6,
		 d->save_started > 0 ? t0 - d->save_started : 0.0, fcl_now() - t0);
	d->save_started = 0;
	say_unfinished(d);
	return 0;
}

int coord_dispatch__checkpoint_now(struct coord_dispatch *d)
{
	int rc = coord_ckpt_begin(d->c.ckpt, d->c.round->round);
	return rc ? ckpt_failed(d, rc) : commit(d);
}

int coord_dispatch__save(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	struct fcl_msg m = {.type = FCL_MSG_SAVE, .round = r->round, .client_id = -1};
	int rc = coord_ckpt_begin(d->c.ckpt, r->round);

	if (rc) {
		rc = ckpt_failed(d, rc);
		return rc || r->phase == COORD_DONE ? rc : coord_dispatch__start_round(d);
	}
	d->save_started = fcl_now();
	r->phase = COORD_SAVING;
	expect_all(r);
	for (uint32_t p = 0; p < r->n_peers; p++)
		if (r->peers[p].owes && coord_dispatch__send(d, p, &m) != 0)
			r->peers[p].owes = 0; /* its departure follows; its clients then leave */
	d->c.out.arm(d->c.out.ud, d->c.sc->run.round_timeout_s);
	return coord_dispatch__answered(d);
}

/* The checkpoint cannot be had: the run goes on without it. */
static int skip_checkpoint(struct coord_dispatch *d, const char *why)
{
	fcl_warn("checkpoint after %u rounds dropped: %s; the previous one stays",
		 d->c.round->round, why);
	coord_ckpt_abandon(d->c.ckpt);
	coord_report_event(d->c.report, d->c.round, "checkpoint_dropped", why);
	return coord_dispatch__start_round(d);
}

int coord_dispatch__answered(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	int rc;

	if (owing(r))
		return 0;
	if (r->phase == COORD_SAVING) {
		if ((rc = commit(d)) != 0 || r->phase == COORD_DONE)
			return rc;
		return coord_dispatch__start_round(d);
	}
	/* RESTORING: every process has its clients back */
	coord_report_event(d->c.report, r, "restored", NULL);
	d->c.resume = 0;
	return coord_dispatch__start_round(d);
}

int coord_dispatch__take_state(struct coord_dispatch *d, const struct event *e)
{
	struct coord_round *r = d->c.round;
	struct coord_peer *peer = &r->peers[e->peer];
	const struct fcl_msg *m = e->m;
	const uint32_t *ids;
	const char *why = NULL;

	if (m->client_id < 0) { /* the process has sent every state it has */
		if (!peer->owes || m->round != d->c.ckpt->done) {
			coord_dispatch_drop(d, "end of states for round %u, not expected now",
					    m->round);
			return 0;
		}
		uint32_t n = ids_of(r, (uint32_t)e->peer, &ids);
		if (!coord_ckpt_has(d->c.ckpt, ids, n))
			return skip_checkpoint(d, "a process did not send every state it holds");
		peer->owes = 0;
		return coord_dispatch__answered(d);
	}
	if (m->client_id < (int64_t)d->c.sched->n_clients &&
	    r->owner[m->client_id] == COORD_OWNER_GONE)
		return 0; /* a resumed run's client gone for good: its state is not kept */
	if (m->client_id >= (int64_t)d->c.sched->n_clients || r->owner[m->client_id] != e->peer) {
		coord_dispatch_drop(d, "state of client %lld from a process that does not host it",
				    (long long)m->client_id);
		return 0;
	}
	int rc = coord_ckpt_take(d->c.ckpt, (uint32_t)m->client_id, m, &why);
	if (rc == -EPROTO) {
		coord_dispatch_drop(d, "state of client %lld: %s", (long long)m->client_id, why);
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	return rc ? ckpt_failed(d, rc) : 0;
}

int coord_dispatch__save_timeout(struct coord_dispatch *d, const struct event *e)
{
	(void)e;
	return skip_checkpoint(d, "a client process did not send its states by the deadline");
}

/* ---- restores ------------------------------------------------------------ */

/* Client c's state as RESTORE pieces to peer p (one empty piece: it starts afresh). */
static int send_state(struct coord_dispatch *d, uint32_t p, uint32_t c)
{
	uint8_t *buf;
	size_t len, at = 0;
	int rc = coord_ckpt_state(d->c.ckpt, c, &buf, &len);
	if (rc)
		return rc;
	do {
		size_t n = len - at < FCL_STATE_PIECE_BYTES ? len - at : FCL_STATE_PIECE_BYTES;
		struct fcl_msg m = {.type = FCL_MSG_RESTORE,
				    .round = (uint32_t)d->c.ckpt->newest,
				    .client_id = c,
				    .data = buf ? buf + at : NULL,
				    .n_data = n,
				    .offset = at,
				    .total = len};
		rc = coord_dispatch__send(d, p, &m);
		at += n;
	} while (!rc && at < len);
	free(buf);
	return rc;
}

int coord_dispatch__restore(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	struct fcl_msg end = {
	    .type = FCL_MSG_RESTORE, .round = (uint32_t)d->c.ckpt->newest, .client_id = -1};
	const uint32_t *ids;
	int rc = 0;

	r->phase = COORD_RESTORING;
	expect_all(r);
	for (uint32_t p = 0; p < r->n_peers && rc != -ENOMEM; p++) {
		if (!r->peers[p].owes)
			continue;
		uint32_t n = ids_of(r, p, &ids);
		rc = 0;
		for (uint32_t i = 0; i < n && !rc; i++)
			rc = send_state(d, p, ids[i]);
		if (!rc)
			rc = coord_dispatch__send(d, p, &end);
		if (rc == -EIO || rc == -EINVAL) {
			coord_ckpt_restored(d->c.ckpt);
			snprintf(d->reason, sizeof d->reason,
				 "cannot read the client states of checkpoint %lld back",
				 (long long)d->c.ckpt->newest);
			return coord_dispatch__finish(d, 1, d->reason);
		}
		if (rc) /* unreachable: its departure will come */
			r->peers[p].owes = 0;
	}
	coord_ckpt_restored(d->c.ckpt);
	if (rc == -ENOMEM)
		return rc;
	d->c.out.arm(d->c.out.ud, d->c.sc->run.round_timeout_s);
	return coord_dispatch__answered(d);
}

int coord_dispatch__take_restored(struct coord_dispatch *d, const struct event *e)
{
	struct coord_peer *peer = &d->c.round->peers[e->peer];

	if (!peer->owes || e->m->round != (uint32_t)d->c.ckpt->newest)
		return coord_dispatch__stale(d, e);
	peer->owes = 0;
	return coord_dispatch__answered(d);
}

int coord_dispatch__restore_timeout(struct coord_dispatch *d, const struct event *e)
{
	(void)e;
	fcl_error("%u client processes did not confirm their restore within %.0f s",
		  owing(d->c.round), d->c.sc->run.round_timeout_s);
	return coord_dispatch__finish(d, 1, "client processes did not take their states back");
}

int coord_dispatch__stale(struct coord_dispatch *d, const struct event *e)
{
	d->stale++;
	fcl_debug("%s for round %u from before the %s dropped", fcl_msg_type_name(e->m->type),
		  e->m->round, d->rollbacks ? "rollback" : "resume");
	return 0;
}

/* ---- rollbacks ----------------------------------------------------------- */

int coord_dispatch__lost(struct coord_dispatch *d, const struct event *e)
{
	struct coord_round *r = d->c.round;
	struct coord_peer *peer = &r->peers[e->peer];
	const char *addr = e->addr[0] ? e->addr : "?";
	const uint32_t *ids;
	char list[256];

	if (peer->gone)
		return 0;
	if (d->c.ckpt->writing)
		coord_ckpt_abandon(d->c.ckpt);
	uint32_t n = coord_round_peer_lost(r, (uint32_t)e->peer, &ids);
	coord_dispatch__format_ids(list, sizeof list, ids, n);
	fcl_warn("round %u: process %u on %s (%s) is gone (%s%s%s): logical clients %s wait for "
		 "a replacement, then the run rolls back to its checkpoint after %lld rounds",
		 r->round, peer->pid, peer->hostname, addr, e->why,
		 peer->last_error[0] ? " after saying: " : "", peer->last_error, list,
		 (long long)d->c.ckpt->newest);
	coord_report_gone(d->c.report, r, "lost", (uint32_t)e->peer, e->addr, ids, n, e->why);
	if (r->phase != COORD_RECOVERING) {
		d->rollbacks++;
		d->lost[0] = '\0';
	}
	/* the rollback cuts events.jsonl back to the checkpoint: its own line says it */
	size_t at = strlen(d->lost);
	snprintf(d->lost + at, sizeof d->lost - at, "%sround %u: process %u on %s, clients %s (%s)",
		 at ? "; " : "", r->round, peer->pid, peer->hostname, list, e->why);
	r->phase = COORD_RECOVERING;
	d->c.out.arm(d->c.out.ud, d->c.sc->run.join_timeout_s);
	return 0;
}

int coord_dispatch__lost_again(struct coord_dispatch *d, const struct event *e)
{
	return coord_dispatch__lost(d, e);
}

int coord_dispatch__recover_timeout(struct coord_dispatch *d, const struct event *e)
{
	const uint32_t *ids;
	char list[256];

	(void)e;
	uint32_t n = coord_round_unhosted(d->c.round, &ids);
	coord_dispatch__format_ids(list, sizeof list, ids, n);
	fcl_error("no process took over logical clients %s within %.0f s: the run cannot roll back",
		  list, d->c.sc->run.join_timeout_s);
	snprintf(d->reason, sizeof d->reason, "a client process was lost and nothing replaced it");
	return coord_dispatch__finish(d, 1, d->reason);
}

int coord_dispatch__rollback(struct coord_dispatch *d)
{
	struct coord_round *r = d->c.round;
	char detail[400];
	int rc = coord_ckpt_restore(d->c.ckpt);

	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		snprintf(d->reason, sizeof d->reason,
			 "a client process was lost and its checkpoint cannot be read back");
		return coord_dispatch__finish(d, 1, d->reason);
	}
	/* events.jsonl is back at the checkpoint too: say what happened after it */
	snprintf(detail, sizeof detail, "back to the checkpoint after %lld rounds; lost %s",
		 (long long)d->c.ckpt->newest, d->lost);
	fcl_warn("rolling back: %s", detail);
	coord_report_event(d->c.report, r, "rollback", detail);
	return coord_dispatch__restore(d);
}
