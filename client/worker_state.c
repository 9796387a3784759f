/* client/worker_state.c - the hosted logical clients' states for checkpoints
 *
 * At a checkpoint each hosted logical client's state (its counters, its
 * strategy's, its rule state) goes to the coordinator in pieces; at a resume
 * or rollback the pieces come back and each whole state is put in place.
 * worker.c has the welcome and the rounds (worker-private.h).
 */
#include "worker-private.h"

#include "fcl/log.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/strategy.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checkpoints ---------------------------------------------------------- */

#define STATE_MAGIC 0x4c434c46u /* "FLCL" */

/* Logical client lc's state: its counters, its strategy's, its rule state. */
static int save_client(struct worker *w, const struct logical_client *lc, char **buf, size_t *len)
{
	uint32_t head[2] = {STATE_MAGIC, lc->rounds_trained};
	FILE *f = open_memstream(buf, len);
	if (!f)
		return -ENOMEM;
	int rc = fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, &lc->samples_seen, sizeof lc->samples_seen);
	rc = rc ? rc : fcl_strategy_save(lc->strategy, f);
	rc = rc ? rc : fcl_rule_client_save(&w->rule, lc->rule_state, f);
	if (fclose(f) != 0 && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

int worker_on_save(struct worker *w, const struct fcl_msg *m)
{
	struct fcl_msg end = {.type = FCL_MSG_STATE, .round = m->round, .client_id = -1};
	int rc = 0;

	/* every hosted client: a client that never trained has an empty state */
	for (size_t i = 0, j = 0; i < w->opts->n_ids && !rc; i++) {
		uint32_t id = w->opts->ids[i];
		char *buf = NULL;
		size_t len = 0, at = 0;
		while (j < w->n_clients && w->clients[j].id < id)
			j++;
		if (j < w->n_clients && w->clients[j].id == id &&
		    (rc = save_client(w, &w->clients[j], &buf, &len)) != 0)
			break;
		do { /* pieces the coordinator puts together again */
			size_t n =
			    len - at < FCL_STATE_PIECE_BYTES ? len - at : FCL_STATE_PIECE_BYTES;
			struct fcl_msg piece = {.type = FCL_MSG_STATE,
						.round = m->round,
						.client_id = id,
						.data = (const uint8_t *)buf + at,
						.n_data = n,
						.offset = at,
						.total = len};
			rc = conn_send(w->conn, &piece);
			at += n;
		} while (!rc && at < len);
		free(buf);
	}
	if (rc) {
		fcl_error("checkpoint after %u rounds: cannot send the clients' states: %s",
			  m->round, strerror(-rc));
		return rc;
	}
	fcl_debug("checkpoint after %u rounds: %zu states sent (%zu clients have trained)",
		  m->round, w->opts->n_ids, w->n_clients);
	return conn_send(w->conn, &end);
}

/* Hosted client id's state from buf (len 0: as it was before its first
 * round, which it is when it is not created). On failure it is unchanged. */
static int load_client(struct worker *w, uint32_t id, const uint8_t *buf, size_t len)
{
	uint32_t head[2] = {0, 0};
	const struct fcl_strategy_config *st = fcl_scenario_strategy_of(&w->sc, id);
	struct logical_client *lc;
	struct fcl_strategy *s = NULL;
	void *rule_state = NULL;
	uint64_t seen = 0;
	if (len == 0) {
		worker__reset_client(w, id);
		return 0;
	}
	FILE *f = fmemopen((void *)buf, len, "rb");
	int rc = !f ? -ENOMEM : 0;

	rc = rc ? rc : fcl_strategy_create_arch(st, &w->loop, &w->arch, w->sc.seed, id, &s);
	if (f) {
		rc = rc ? rc : fcl_fget(f, head, sizeof head);
		rc = rc ? rc : head[0] == STATE_MAGIC ? 0 : -EINVAL;
		rc = rc ? rc : fcl_fget(f, &seen, sizeof seen);
		rc = rc ? rc : fcl_strategy_load(s, f);
		rc = rc ? rc : fcl_rule_client_load(&w->rule, &rule_state, f);
		fclose(f);
	}
	rc = rc ? rc : worker__get_client(w, id, &lc);
	if (rc) {
		fcl_strategy_destroy(s);
		fcl_rule_client_free(&w->rule, rule_state);
		return rc;
	}
	fcl_strategy_destroy(lc->strategy);
	fcl_rule_client_free(&w->rule, lc->rule_state);
	lc->strategy = s;
	lc->rule_state = rule_state;
	lc->rounds_trained = head[1];
	lc->samples_seen = seen;
	return 0;
}

/* A piece of the state being assembled; the whole state goes in place. */
static int restore_piece(struct worker *w, const struct fcl_msg *m)
{
	int rc;

	if (m->client_id > UINT32_MAX || !worker__hosts(w, (uint32_t)m->client_id))
		return -EPROTO;
	if (m->offset == 0) { /* a new client's state */
		free(w->restore_buf);
		w->restore_buf = m->total ? malloc(m->total) : NULL;
		if (m->total && !w->restore_buf)
			return -ENOMEM;
		w->restore_client = m->client_id;
		w->restore_total = m->total;
		w->restore_got = 0;
	}
	if (m->client_id != w->restore_client || m->total != w->restore_total ||
	    m->offset != w->restore_got)
		return -EPROTO;
	if (m->n_data)
		memcpy(w->restore_buf + m->offset, m->data, m->n_data);
	w->restore_got += m->n_data;
	if (w->restore_got < w->restore_total)
		return 0;
	rc = load_client(w, (uint32_t)m->client_id, w->restore_buf, w->restore_total);
	free(w->restore_buf);
	w->restore_buf = NULL;
	w->restore_client = -1;
	if (rc)
		fcl_error("client %u: the coordinator's state does not fit: %s",
			  (uint32_t)m->client_id, strerror(-rc));
	w->restored += !rc;
	return rc;
}

int worker_on_restore(struct worker *w, const struct fcl_msg *m)
{
	if (m->client_id >= 0)
		return restore_piece(w, m);
	/* (clients gone for good in the run get none: they take no part any more) */
	if (w->restore_client >= 0) {
		fcl_error("restore after %u rounds: client %lld's state arrived in part", m->round,
			  (long long)w->restore_client);
		return -EPROTO;
	}
	fcl_info("restored the state of %u logical clients after %u rounds", w->restored, m->round);
	w->restored = 0;
	struct fcl_msg done = {.type = FCL_MSG_RESTORED, .round = m->round, .client_id = -1};
	return conn_send(w->conn, &done);
}
