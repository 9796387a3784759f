/* server/round_hosts.c - who hosts which logical client (see round.h): the
 * hello's checks, the peers that joined, and what a process's departure does
 * to its logical clients (back to unhosted, or gone for good with their
 * waiting slots); round.c has the rounds themselves
 */
#include "round.h"

#include "fcl/blas_core.h"
#include "fcl/log.h"
#include "fcl/schedule.h"
#include "fcl/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- joining ------------------------------------------------------------- */

void coord_round_check_hello(const struct coord_round *r, const struct fcl_msg *m, char *why,
			     size_t len)
{
	uint32_t N = r->sched->n_clients;
	uint8_t *seen = NULL;

	why[0] = '\0';
	if (m->protocol_version != FCL_PROTOCOL_VERSION)
		snprintf(why, len, "protocol version %u, this server speaks %u",
			 m->protocol_version, FCL_PROTOCOL_VERSION);
	else if (strcasecmp(m->blas_core ? m->blas_core : "", fcl_blas_core()) != 0)
		/* its numbers would differ, and with them the run's by process layout */
		snprintf(why, len,
			 "the process computes with OpenBLAS's %s kernel, the run with %s (start "
			 "the process with OPENBLAS_CORETYPE=%s)",
			 m->blas_core && *m->blas_core ? m->blas_core : "(none)", fcl_blas_core(),
			 fcl_blas_core());
	else if (strcmp(m->blas_version ? m->blas_version : "", fcl_blas_version()) != 0)
		snprintf(why, len,
			 "the process computes with OpenBLAS %s, the run with %s (their kernels "
			 "differ: install the same version)",
			 m->blas_version && *m->blas_version ? m->blas_version : "(none)",
			 fcl_blas_version());
	else if (m->n_ids == 0)
		snprintf(why, len, "hello names no logical clients");
	else if (m->n_ids > N)
		snprintf(why, len, "hello names %zu logical clients, the scenario has %u", m->n_ids,
			 N);
	else if (!(seen = calloc(N / 8 + 1, 1)))
		snprintf(why, len, "out of memory for the hello's ids");
	/* each id once, in range, and not hosted by another process */
	for (size_t i = 0; i < m->n_ids && !why[0]; i++) {
		uint32_t c = m->ids[i];
		if (c >= N)
			snprintf(why, len, "client id %u out of range (scenario has %u)", c, N);
		else if (seen[c / 8] & (1u << (c % 8)))
			snprintf(why, len, "client id %u named twice in one hello", c);
		else if (r->owner[c] >= 0)
			snprintf(why, len, "client id %u is already hosted elsewhere", c);
		else
			seen[c / 8] |= (uint8_t)(1u << (c % 8));
	}
	free(seen);
}

void coord_round_check_binding(const struct fcl_msg *m, const uint32_t *bound, size_t n_bound,
			       char *why, size_t len)
{
	why[0] = '\0';
	for (size_t i = 0; i < m->n_ids; i++) {
		size_t lo = 0, hi = n_bound;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (bound[mid] < m->ids[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n_bound || bound[lo] != m->ids[i]) {
			snprintf(why, len, "client id %u is not among the ids its key may host",
				 m->ids[i]);
			return;
		}
	}
}

int coord_round_add_peer(struct coord_round *r, uint32_t p, const struct fcl_msg *m)
{
	FCL_ASSERT(p == r->n_peers && m->n_ids > 0);
	struct coord_peer *peers = realloc(r->peers, (r->n_peers + 1) * sizeof *peers);
	if (!peers)
		return -ENOMEM;
	r->peers = peers;
	struct coord_peer *peer = &peers[r->n_peers++];
	memset(peer, 0, sizeof *peer);
	peer->pid = m->pid;
	snprintf(peer->hostname, sizeof peer->hostname, "%s", m->hostname ? m->hostname : "?");
	peer->first_id = m->ids[0];
	peer->n_ids = (uint32_t)m->n_ids;
	/* A resumed run's clients gone for good stay gone, whoever offers to host them. */
	for (size_t i = 0; i < m->n_ids; i++)
		if (r->owner[m->ids[i]] != COORD_OWNER_GONE) {
			r->owner[m->ids[i]] = (int32_t)p;
			r->n_joined++;
		}
	return 0;
}

int coord_round_all_hosted(const struct coord_round *r)
{
	return r->n_joined + r->n_clients_gone >= r->sched->n_clients;
}

/* ---- departures ---------------------------------------------------------- */

/* Peer p's logical clients into r->ids; p is gone. */
static uint32_t hosted_by(struct coord_round *r, uint32_t p, const uint32_t **ids)
{
	uint32_t n = 0;

	r->peers[p].gone = 1;
	r->peers[p].owes = 0;
	for (uint32_t c = 0; c < r->sched->n_clients; c++)
		if (r->owner[c] == (int32_t)p)
			r->ids[n++] = c;
	*ids = r->ids;
	return n;
}

uint32_t coord_round_peer_lost(struct coord_round *r, uint32_t p, const uint32_t **ids)
{
	uint32_t n = hosted_by(r, p, ids);
	/* the ids are free for a replacement process */
	for (uint32_t i = 0; i < n; i++)
		r->owner[r->ids[i]] = -1;
	r->n_joined -= n;
	return n;
}

uint32_t coord_round_unhosted(struct coord_round *r, const uint32_t **ids)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < r->sched->n_clients; c++)
		if (r->owner[c] == -1)
			r->ids[n++] = c;
	*ids = r->ids;
	return n;
}

uint32_t coord_round_peer_gone(struct coord_round *r, uint32_t p, const uint32_t **ids)
{
	if (r->phase == COORD_JOINING) /* nothing ran yet */
		return coord_round_peer_lost(r, p, ids);
	uint32_t n = hosted_by(r, p, ids);
	for (uint32_t i = 0; i < n; i++)
		r->owner[r->ids[i]] = COORD_OWNER_GONE;
	r->n_clients_gone += n;
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->slot[i] == COORD_SLOT_WAITING &&
		    r->owner[r->participants[i]] == COORD_OWNER_GONE) {
			r->slot[i] = COORD_SLOT_GONE;
			r->n_gone++;
		}
	return n;
}

uint32_t coord_round_drop_absent(struct coord_round *r, const uint32_t **ids)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < r->sched->n_clients; c++)
		if (r->owner[c] < 0) {
			r->owner[c] = COORD_OWNER_GONE;
			r->ids[n++] = c;
		}
	r->n_clients_gone += n;
	*ids = r->ids;
	return n;
}
