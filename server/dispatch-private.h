/* server/dispatch-private.h - what dispatch.c and dispatch_ckpt.c share */
#ifndef FCL_SERVER_DISPATCH_PRIVATE_H
#define FCL_SERVER_DISPATCH_PRIVATE_H
#include "dispatch.h"

enum event_kind {
	EV_HELLO,    /* a process says which logical clients it hosts */
	EV_UPDATE,   /* a participant's update */
	EV_PARTIAL,  /* a process's partial sum of its participants' updates */
	EV_RULE,     /* a participant's extra message for the rule */
	EV_STATE,    /* a piece of a logical client's state, for a checkpoint */
	EV_RESTORED, /* a process has its logical clients' states back */
	EV_ERROR,    /* a peer reports an error */
	EV_OTHER,    /* a message only the server sends */
	EV_STRANGER, /* anything but a hello from a sender that never said one */
	EV_DEADLINE, /* the join timeout, the round's deadline, a checkpoint's or restore's */
	EV_GONE,     /* a peer's connection closed or its heartbeats stopped */
	N_EVENTS,
};

struct event {
	enum event_kind kind;
	int peer;                /* messages, EV_GONE: the peer's index, -1 if none */
	const struct fcl_msg *m; /* messages */
	size_t bytes;            /* messages: size on the wire */
	const char *addr, *why;  /* EV_GONE */
	/* EV_HELLO: the ids the sender's key may host (the allow file), NULL = any */
	const uint32_t *bound;
	size_t n_bound;
};

typedef int action_fn(struct coord_dispatch *d, const struct event *e);

/* ---- dispatch.c ----------------------------------------------------------- */

/* Sends m to peer p, counting its bytes. 0 or negative errno. */
int coord_dispatch__send(struct coord_dispatch *d, uint32_t p, const struct fcl_msg *m);
/* Ends the run: shutdown to every peer, the last evaluation and the outputs,
 * the outbox stopped. Returns 0: the run ended as it should. */
int coord_dispatch__finish(struct coord_dispatch *d, int exit_code, const char *reason);
/* Opens round r->round and sends its round starts. */
int coord_dispatch__start_round(struct coord_dispatch *d);
/* "0-3,7" from ascending ids, cut with "..." to fit. */
void coord_dispatch__format_ids(char *buf, size_t len, const uint32_t *ids, uint32_t n);

/* ---- dispatch_ckpt.c: checkpoints, restores, rollbacks ---------------------- */

/* After a round: the clients' states are asked for (SAVING). */
int coord_dispatch__save(struct coord_dispatch *d);
/* Before round 0: the checkpoint of a run that has not trained yet. */
int coord_dispatch__checkpoint_now(struct coord_dispatch *d);
/* Each client process gets its logical clients' states of the newest
 * checkpoint, then the round it holds starts (RESTORING). */
int coord_dispatch__restore(struct coord_dispatch *d);
/* Every logical client has a process again after a loss: the whole run goes
 * back to the newest checkpoint. */
int coord_dispatch__rollback(struct coord_dispatch *d);
/* A peer is gone with run.on_client_loss rollback: await a replacement (RECOVERING). */
int coord_dispatch__lost(struct coord_dispatch *d, const struct event *e);
/* SAVING or RESTORING: a peer answered or left; the next step once none owes. */
int coord_dispatch__answered(struct coord_dispatch *d);

action_fn coord_dispatch__take_state, coord_dispatch__take_restored, coord_dispatch__stale,
    coord_dispatch__save_timeout, coord_dispatch__restore_timeout, coord_dispatch__recover_timeout,
    coord_dispatch__lost_again;

#endif
