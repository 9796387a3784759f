/* server/server.h - the coordinator's state, shared by its modules
 *
 * main.c    command line, setup and teardown
 * net.c     ZeroMQ ROUTER in the libuv loop: receive, validate, dispatch, send
 * round.c   the round state machine: join, start, collect, aggregate, evaluate
 * report.c  the run folder: events.jsonl, eval.csv, metrics.json, summary.txt/.md
 * evaluate.c the evaluation schedule's work and the accuracy record (evaluate.h)
 */
#ifndef FCL_SERVER_H
#define FCL_SERVER_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/eval.h"

struct fcl_msg;
struct fcl_agg;

/* One connected client process. */
struct peer {
	uint8_t identity[256]; /* ZeroMQ routing id */
	size_t identity_len;
	uint32_t pid;
	char hostname[64];
	uint32_t first_id, n_ids; /* for log lines */
	/* departure detection (net.c): the TCP connection its hello came on */
	int conn_known; /* conn_fd is valid */
	int conn_fd;    /* libzmq's fd for the connection (ZMQ_SRCFD) */
	char addr[64];  /* the peer's IP address as libzmq saw it, or "" */
	int gone;       /* its connection closed or timed out: it hosts nobody now */
};

/* owner[] value of a logical client whose process is gone for good. */
#define OWNER_GONE (-2)

enum round_phase {
	PHASE_JOINING,  /* waiting for every logical client's process to say hello */
	PHASE_TRAINING, /* a round is out; collecting updates */
	PHASE_DONE,
};

/* What happened to one participant's update this round. */
enum slot_state {
	SLOT_WAITING = 0,
	SLOT_ACCEPTED,
	SLOT_REJECTED,
	SLOT_GONE, /* its process left the run: no update will come */
};

struct fcl_server {
	/* configuration */
	const char *scenario_path;
	const char *run_dir;
	const char *bind_endpoint;
	int progress; /* print machine-readable progress lines on stdout */
	double heartbeat_s; /* a peer silent this long is gone (ZMTP heartbeats) */
	int count_clients;       /* --count-clients: print the scenario's client count, exit */
	long long seed_override; /* -1 = the scenario's */
	const char **sets;       /* --set KEY=VALUE edits of the scenario */
	size_t n_sets;
	struct fcl_scenario sc;
	char *scenario_text;
	size_t scenario_len;
	uint64_t scenario_hash;

	/* data and model */
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_eval_scratch eval_scratch;
	struct fcl_agg *agg;    /* the aggregation rule and its state */
	struct fcl_agg_update *agg_in; /* (per_round) the round's accepted updates */

	/* network */
	void *zmq_ctx, *router;
	uv_loop_t *loop;
	uv_poll_t poll;
	void *monitor; /* PAIR socket reading the ROUTER's disconnect events */
	uv_poll_t monitor_poll;
	uv_timer_t deadline; /* join timeout, then round deadline */
	uv_signal_t sigint, sigterm;
	struct peer *peers;
	uint32_t n_peers;
	int32_t *owner; /* (n_clients) peer index of each logical client, -1 = none yet */
	uint32_t n_joined;

	/* the current round */
	enum round_phase phase;
	uint32_t round;
	uint32_t *participants; /* (per_round) ascending */
	uint32_t n_participants;
	enum slot_state *slot;  /* (per_round) */
	float **updates;        /* (per_round)(n_params) accepted updates */
	uint32_t *slot_answers; /* (per_round) rule messages received from each participant */
	uint32_t answers_due;   /* rule messages each participant sends this round */
	uint32_t request_sends; /* round starts that carried the rule's request */
	uint64_t *slot_samples;
	float *slot_loss;
	double *slot_train_s;
	uint32_t n_accepted, n_rejected, n_gone;
	double round_started;
	uint64_t round_bytes_up, round_bytes_down;

	/* totals and results */
	uint64_t bytes_up, bytes_down;
	uint64_t bad_messages; /* malformed, unexpected or invalid, all dropped */
	uint32_t n_clients_gone; /* logical clients whose process left the run */
	double *acc_matrix;    /* (n_tasks, n_tasks) global model at task ends */
	double last_acc;       /* mean accuracy over seen tasks at the last evaluation */
	double started;
	int exit_code;
	const char *fail_reason;

	/* run folder */
	FILE *events, *eval_csv;
	FILE *eval_class_csv;   /* per-class accuracy, with evaluation.per_class */
	struct run_record *rec; /* evaluate.c: every evaluation, traffic and time */
};

/* net.c */
int server_net_start(struct fcl_server *s);
void server_net_stop(struct fcl_server *s);
/* Sends m to peer p; counts bytes down. 0 or negative errno. */
int server_send(struct fcl_server *s, uint32_t p, const struct fcl_msg *m);
/* (Re)starts the one deadline timer: join timeout, then each round's. */
void server_arm_deadline(struct fcl_server *s, double seconds);
void server_drop(struct fcl_server *s, const char *why, ...) __attribute__((format(printf, 2, 3)));

/* round.c */
void round_on_hello(struct fcl_server *s, const uint8_t *identity, size_t identity_len,
		    const struct fcl_msg *m);
void round_on_update(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m,
		     size_t bytes);
void round_on_deadline(struct fcl_server *s);
/* A participant's extra message for the rule. */
void round_on_rule_message(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m,
			   size_t bytes);
/* Peer p's connection closed (or its heartbeats stopped): its logical clients
 * leave the run. Before the first round they may join again. */
void round_on_peer_gone(struct fcl_server *s, uint32_t p, const char *why);
/* Ends the run: shutdown to every peer, outputs written, loop stopped. */
void round_finish_run(struct fcl_server *s, int exit_code, const char *reason);

/* report.c */
int report_open(struct fcl_server *s);
void report_round(struct fcl_server *s, double round_seconds, double server_seconds);
void report_event(struct fcl_server *s, const char *event, const char *detail);
/* An update message of `bytes` from a participant (counted per client). */
void report_update(struct fcl_server *s, uint32_t client, size_t bytes);
/* An "absent" line: logical clients that never joined, left out of the run. */
void report_absent(struct fcl_server *s, const uint32_t *ids, uint32_t n_ids);
/* One "gone" (or "left", before the first round) line naming the peer and its ids. */
void report_gone(struct fcl_server *s, const char *event, uint32_t p, const uint32_t *ids,
		 uint32_t n_ids, const char *why);
int report_close(struct fcl_server *s);
/* Frees what report_open allocated (teardown). */
void report_free(struct fcl_server *s);

#endif
