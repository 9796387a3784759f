/* server/server.h - the coordinator's state, shared by its modules
 *
 * main.c    command line, setup and teardown
 * net.c     ZeroMQ ROUTER in the libuv loop: receive, validate, dispatch, send
 * round.c   the round state machine: join, start, collect, aggregate, evaluate
 * report.c  the run folder: events.jsonl, eval.csv, metrics.json, summary.txt
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
#include "fcl/train.h"

struct fcl_msg;
struct fcl_agg;
struct sketch_store;

/* One connected client process. */
struct peer {
	uint8_t identity[256]; /* ZeroMQ routing id */
	size_t identity_len;
	uint32_t pid;
	char hostname[64];
	uint32_t first_id, n_ids; /* for log lines */
};

enum round_phase {
	PHASE_JOINING,  /* waiting for every logical client's process to say hello */
	PHASE_TRAINING, /* a round is out; collecting updates */
	PHASE_DONE,
};

/* What happened to one participant's update this round. */
enum slot_state { SLOT_WAITING = 0, SLOT_ACCEPTED, SLOT_REJECTED };

struct fcl_server {
	/* configuration */
	const char *scenario_path;
	const char *run_dir;
	const char *bind_endpoint;
	int progress; /* print machine-readable progress lines on stdout */
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
	struct fcl_train_scratch eval_scratch;
	struct fcl_agg *agg;    /* the aggregation rule and its state */
	struct fcl_agg_update *agg_in; /* (per_round) the round's accepted updates */
	struct sketch_store *sk; /* FOT: this round's sketches, NULL for other rules */

	/* network */
	void *zmq_ctx, *router;
	uv_loop_t *loop;
	uv_poll_t poll;
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
	float **controls;       /* (per_round)(n_params) SCAFFOLD's Delta c_i, NULL for other rules */
	uint64_t *slot_samples;
	float *slot_loss;
	double *slot_train_s;
	uint32_t n_accepted, n_rejected;
	double round_started;
	uint64_t round_bytes_up, round_bytes_down;

	/* totals and results */
	uint64_t bytes_up, bytes_down;
	uint64_t bad_messages; /* malformed, unexpected or invalid, all dropped */
	double *acc_matrix;    /* (n_tasks, n_tasks) global model at task ends */
	double last_acc;       /* mean accuracy over seen tasks at the last evaluation */
	double started;
	int exit_code;
	const char *fail_reason;

	/* run folder */
	FILE *events, *eval_csv;
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
/* Every expected answer of the round is in (sketch.c calls it): aggregate and go on. */
void round_on_complete(struct fcl_server *s);
/* Ends the run: shutdown to every peer, outputs written, loop stopped. */
void round_finish_run(struct fcl_server *s, int exit_code, const char *reason);

/* sketch.c: FOT's task-end protocol */
int sketch_setup(struct fcl_server *s);
void sketch_teardown(struct fcl_server *s);
/* Does this round end a task under a rule that wants sketches? */
int sketch_round(const struct fcl_server *s);
/* Fills the sketch request of a round start (buffers live until the next call). */
void sketch_fill_request(struct fcl_server *s, struct fcl_msg *m);
void sketch_on_msg(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m, size_t bytes);
/* Every accepted participant has answered every layer (1 outside sketch rounds). */
int sketch_complete(const struct fcl_server *s);
/* After aggregation in a sketch round: sum, expand the bases, log, forget the sketches. */
void sketch_task_end(struct fcl_server *s);

/* report.c */
int report_open(struct fcl_server *s);
void report_round(struct fcl_server *s, double round_seconds, double server_seconds);
void report_eval(struct fcl_server *s, const double *acc_per_task, int task_end);
void report_event(struct fcl_server *s, const char *event, const char *detail);
int report_close(struct fcl_server *s);

#endif
