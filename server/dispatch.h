/* server/dispatch.h - the coordinator's state machine
 *
 * Every message net.c decodes, the deadline timer and every departure come
 * here as an event; one table in dispatch.c, event x phase -> action, picks
 * what happens. Actions change the round (round.h), evaluate (evaluate.h),
 * write the run folder (report.h) and send through an outbox, which net.c
 * implements over ZeroMQ and tests with a recorder (tests/test_round.c).
 * This is the only code that both receives and sends.
 */
#ifndef FCL_SERVER_DISPATCH_H
#define FCL_SERVER_DISPATCH_H
#include <stddef.h>
#include <stdint.h>

#include "cost.h"
#include "fcl/wire.h"

struct coord_ckpt;
struct coord_eval;
struct coord_report;
struct coord_round;
struct coord_sim;
struct fcl_scenario;
struct fcl_schedule;

/* Where the machine's output goes. */
struct coord_outbox {
	/* Sends m to peer p (borrowed for the call); on success *bytes is its size
	 * on the wire. 0 or negative errno. */
	int (*send)(void *ud, uint32_t p, const struct fcl_msg *m, size_t *bytes);
	/* (Re)starts the one deadline timer: join timeout, then each round's. */
	void (*arm)(void *ud, double seconds);
	/* The run is over: stop receiving and let the loop end. */
	void (*stop)(void *ud);
	void *ud;
};

/* The parts the machine drives; all borrowed, and must outlive it. */
struct coord_dispatch_config {
	struct coord_round *round;
	struct coord_sim *sim; /* simulated time (a devices section), else NULL */
	struct coord_eval *eval;
	struct coord_report *report;
	struct coord_outbox out;
	const struct fcl_scenario *sc;    /* timeouts, quorum, evaluation schedule */
	const struct fcl_schedule *sched; /* clients, rounds, task ends */
	const char *scenario_text;        /* what the welcome carries */
	const char *scenario_dir;         /* ... and where its relative paths resolve */
	uint64_t scenario_hash;
	uint32_t n_params;
	struct coord_ckpt *ckpt; /* checkpoints, or NULL: none (then no rollback) */
	int resume;              /* the parts hold a checkpoint: the clients get theirs first */
	const char *resume_note; /* resuming: what the run folder said about the stop, or NULL */
};

struct coord_dispatch {
	struct coord_dispatch_config c;
	struct fcl_msg welcome;
	int exit_code;           /* the run's: 0 complete, else failed */
	const char *fail_reason; /* NULL while nothing failed */
	char reason[320];        /* fail_reason's text when it is made up */
	uint64_t stale;          /* messages from before a rollback, dropped */
	uint32_t rollbacks;
	char lost[256];      /* what the coming rollback is for (its events.jsonl line) */
	double save_started; /* fcl_now() when the states of a checkpoint were asked for */
	double step_wall;    /* simulated time: fcl_now() at the last step */
};

/* Nothing to free: d only borrows. */
void coord_dispatch_init(struct coord_dispatch *d, const struct coord_dispatch_config *cfg);
/* The run listens: arms the join timeout and says so in events.jsonl (and,
 * resuming, from which checkpoint). */
void coord_dispatch_start(struct coord_dispatch *d);

/* A decoded message of `bytes` bytes. For a hello, `from` is a new peer index
 * (coord_dispatch_peers(d) before the call) whose route the caller has just
 * added, and keeps while coord_dispatch_peers(d) counts it after the call;
 * for other messages it is the sender's index, or -1 for a sender that never
 * said hello. Returns 0, or the negative errno that ended the run. */
int coord_dispatch_message(struct coord_dispatch *d, int from, const struct fcl_msg *m,
			   size_t bytes);
/* A hello, as coord_dispatch_message, from a sender whose key may host only
 * the sorted ids bound[0..n_bound) (the allow file's `KEY IDS` line); NULL:
 * any id. */
int coord_dispatch_hello(struct coord_dispatch *d, int from, const struct fcl_msg *m, size_t bytes,
			 const uint32_t *bound, size_t n_bound);
/* The deadline timer fired. */
int coord_dispatch_deadline(struct coord_dispatch *d);
/* Peer p's connection closed or its heartbeats stopped; addr is the address it
 * connected from ("" if unknown), why says how it went. */
int coord_dispatch_peer_gone(struct coord_dispatch *d, uint32_t p, const char *addr,
			     const char *why);
/* Something arrived that is no message (framing): counted and logged. */
/* Seconds the coordinator spent on part k of the round (cost.h), e.g. receiving. */
void coord_dispatch_cost(struct coord_dispatch *d, enum coord_cost_kind k, double seconds);
void coord_dispatch_drop(struct coord_dispatch *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Ends the run (a signal, a failure outside the machine): shutdown to every
 * peer, outputs written, the outbox stopped. Once only. */
void coord_dispatch_stop(struct coord_dispatch *d, int exit_code, const char *reason);
/* Peers that said a hello the run took: routes a net must keep. */
uint32_t coord_dispatch_peers(const struct coord_dispatch *d);
/* A rule's line for events.jsonl (struct fcl_agg_env's event; ud: the dispatcher). */
void coord_dispatch_rule_event(void *ud, const char *name, const char *detail);

#endif
