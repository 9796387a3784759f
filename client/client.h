/* client/client.h - what the files of fcl-client share
 *
 * cli.c     the command line: options, usage, --help
 * conn.c    the DEALER socket to the coordinator: connect with backoff,
 *           heartbeats, the connection monitor, sending and receiving fcl_msg
 * worker.c  what this process hosts (scenario, data, model, rule, logical
 *           clients) and its rounds: the welcome, round starts, training
 * worker_state.c  the logical clients' states for checkpoints: saved, restored
 * faults.c  fault injection for tests of the coordinator's defences (--fault)
 * main.c    wiring and the receive loop
 */
#ifndef FCL_CLIENT_H
#define FCL_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/curve.h"

struct fcl_extras;
struct fcl_msg;

/* ---- faults.c ------------------------------------------------------------- */

/* Faults a client can inject, for tests of the coordinator's defences. */
enum fault_kind {
	FAULT_NONE,
	FAULT_WRONG_SIZE,
	FAULT_NAN,
	FAULT_GARBAGE,
	FAULT_SCALE,     /* update *= factor (a Byzantine client, for robust rules) */
	FAULT_SIGN_FLIP, /* update = -update */
	FAULT_RULE_NAN,  /* a NaN in every extra message for the rule */
	FAULT_OOM,       /* the process runs out of memory when it trains the client */
	FAULT_SLOW,      /* sleep `scale` seconds before training (wall time only) */
	FAULT_BN_SIZE,   /* one batchnorm value too few in the update (FedBN evaluation) */
};

struct faults {
	enum fault_kind kind;
	uint32_t *ids; /* owned; NULL = every client */
	size_t n_ids;
	float scale;     /* FAULT_SCALE's factor; FAULT_SLOW's seconds */
	float *nan_copy; /* owned: FAULT_RULE_NAN's copy of a rule message's first tensor */
};

/* Parses a --fault value (KIND[:CLIENTS], scale:F[:CLIENTS], slow:S[:CLIENTS]) into f, which
 * starts zeroed or holds an earlier --fault. 0 or -EINVAL. */
int faults_parse(struct faults *f, const char *spec);
void faults_fini(struct faults *f); /* frees the ids and the copy */
/* With --fault garbage, the bytes to send before a round's training (static,
 * borrowed) and their length; else 0. */
size_t faults_garbage(const struct faults *f, const void **bytes);
/* With --fault slow: sleeps before client's training. */
void faults_before_train(const struct faults *f, uint32_t client);
/* Spoils client's update before it is sent: m->values aliases update
 * (m->n_values floats), which may be changed, and m->n_values with it. */
void faults_on_update(const struct faults *f, uint32_t client, struct fcl_msg *m, float *update);
/* Whether training client runs out of memory here (--fault oom). */
int faults_oom(const struct faults *f, uint32_t client);
/* Spoils a rule message's extras x: its first tensor may then point to a
 * copy owned by f, valid until the next call. 0 or -ENOMEM. */
int faults_on_rule_message(struct faults *f, uint32_t client, struct fcl_extras *x);

/* ---- cli.c ---------------------------------------------------------------- */

struct client_opts {
	const char *endpoint; /* borrowed from argv */
	uint32_t *ids;        /* owned: the logical clients hosted here, ascending */
	size_t n_ids;
	double connect_timeout_s, idle_timeout_s;
	double heartbeat_s;   /* a silent coordinator connection is dropped after this */
	double round_delay_s; /* for tests: sleep before each round's training */
	struct faults faults;
	int help; /* --help was printed on stdout: exit 0 */
	/* CURVE: our key pair and the coordinator's public key; insecure_plain:
	 * plain TCP (--insecure-plain), no key */
	int insecure_plain;
	const char *key_path, *pub_path; /* borrowed from argv */
	struct fcl_curve_keypair key;
	char server_pub[FCL_CURVE_Z85 + 1];
};

/* Fills *o from the command line (and the log level from --verbose). 0, with
 * o->help set after --help; or -EINVAL after saying why on stderr, and then
 * *o owns nothing. Free with cli_fini. */
int cli_parse(struct client_opts *o, int argc, char **argv);
void cli_fini(struct client_opts *o);

/* ---- conn.c --------------------------------------------------------------- */

/* The connection to the coordinator. */
struct conn {
	const char *endpoint; /* borrowed */
	void *ctx, *sock;
	void *monitor; /* PAIR socket with the DEALER's connection events, or NULL */
	int welcomed;  /* set by the caller at the welcome: a disconnect is final from then on */

	/* what the monitor saw */
	unsigned retries;    /* connection attempts that failed (refused, unreachable) */
	unsigned connects;   /* TCP connections made */
	unsigned bad_peers;  /* connections whose ZMTP handshake failed */
	unsigned handshakes; /* ZMTP handshakes that succeeded */
	int up;              /* a connection is up now */
	int lost;            /* the connection went after the welcome: final */
	int curve;           /* the coordinator must prove the key of --server-pub */
	unsigned auth_failed; /* CURVE: handshakes that failed (a wrong key on either side) */
	/* Largest message taken (bytes): the welcome's bound until the scenario
	 * is known, then the scenario's largest valid message (worker.c) */
	uint64_t max_bytes;
	uint64_t oversized; /* messages over max_bytes, dropped */
};

/* Starts connecting c to endpoint (borrowed; reconnects with backoff, ZMTP
 * heartbeats of heartbeat_s); o's keys, unless o->insecure_plain. 0, or a
 * negative errno after saying why on stderr; then there is nothing to fini. */
int conn_init(struct conn *c, const char *endpoint, double heartbeat_s,
	      const struct client_opts *o);
/* Closes the connection; with flush, waits up to 5 s for queued messages to leave. */
void conn_fini(struct conn *c, int flush);
/* Sends one message. 0 or negative errno. */
int conn_send(struct conn *c, const struct fcl_msg *m);
/* Sends bytes as they are (one ZeroMQ message). 0 or negative errno. */
int conn_send_bytes(struct conn *c, const void *buf, size_t len);
/* Waits up to timeout_s for one message into *m (free with fcl_msg_free).
 * 0, -ETIMEDOUT, -ECONNRESET (the coordinator's connection broke after the
 * welcome, and nothing it sent is left to read), -EPROTO (a malformed or
 * oversized message, dropped), -EACCES (CURVE: the peer failed the
 * handshake: not the coordinator of --server-pub, or it refused our key)
 * or -errno. */
int conn_recv(struct conn *c, double timeout_s, struct fcl_msg *m);
/* Logs why nothing came within the connect timeout, in words. */
void conn_explain_no_welcome(const struct conn *c, double waited);

/* ---- worker.c ------------------------------------------------------------- */

struct worker; /* opaque */

/* Stores an owned, empty worker in *out (free with worker_destroy): it
 * borrows o (ids, --round-delay, faults) and c (where it sends) for its
 * lifetime. 0 or -ENOMEM. */
int worker_create(struct client_opts *o, struct conn *c, struct worker **out);
void worker_destroy(struct worker *w); /* NULL-safe */
/* Compiles the scenario of the coordinator's welcome m against the local
 * data; call once. 0 or a negative errno, most of them explained in the
 * log; on failure the worker stays empty. */
int worker_on_welcome(struct worker *w, const struct fcl_msg *m);
/* A round start: trains the assigned logical clients in id order, sending
 * each one's update and rule messages. A round start that does not fit is
 * dropped with a warning (0). 0 or negative errno. */
int worker_on_round_start(struct worker *w, const struct fcl_msg *m);

/* ---- worker_state.c ------------------------------------------------------- */

/* A checkpoint: every hosted logical client's state goes to the coordinator
 * (in pieces), then the end of the batch. 0 or negative errno. */
int worker_on_save(struct worker *w, const struct fcl_msg *m);
/* A resume or rollback: a piece of a logical client's state, put in place
 * once whole (client_id -1: the last message; the receipt goes back). 0,
 * -EPROTO (a state that does not fit: this process cannot go on) or
 * negative errno. */
int worker_on_restore(struct worker *w, const struct fcl_msg *m);

#endif
