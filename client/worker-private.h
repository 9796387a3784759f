/* client/worker-private.h - what worker.c and worker_state.c share
 *
 * worker.c        the welcome, the rounds, the logical clients hosted here
 * worker_state.c  their states for checkpoints: saved, restored
 */
#ifndef FCL_CLIENT_WORKER_PRIVATE_H
#define FCL_CLIENT_WORKER_PRIVATE_H
#include "client.h"

#include "fcl/data.h"
#include "fcl/fixsum.h"
#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/wire.h"

/* What one logical client keeps for the whole run. */
struct logical_client {
	uint32_t id;
	uint32_t rounds_trained;
	uint64_t samples_seen;
	void *rule_state; /* the rule's state for this client (fcl/rule.h), NULL until used */
	struct fcl_strategy *strategy; /* replay buffer, exposed classes, ... for the whole run */
};

struct worker {
	struct client_opts *opts; /* borrowed: ids, --round-delay, faults */
	struct conn *conn;        /* borrowed: where updates and rule messages go */

	/* compiled at the welcome; all zero before */
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_arch arch; /* the model's layers on this data */
	struct fcl_mlp model;
	struct fcl_sgd opt;
	struct fcl_rule_worker rule;
	/* The logical clients created so far, ascending by id: a hosted client is
	 * created when it first trains (or gets a state back), so memory grows with
	 * the clients that have trained, not with the clients hosted. */
	struct logical_client *clients;
	size_t n_clients, cap_clients;
	struct fcl_loop_config loop;
	const uint32_t **perms; /* (n_tasks) pixel permutation of each task, or NULL */
	float *update;          /* (n_params) */

	/* partial sums (fcl_rule_partial_sums): this round's sum and records */
	int partial;
	int sum_answers; /* the rule's messages go to its own sum (fcl_rule_sums_answers) */
	double rule_s;   /* wall seconds the rule's kept messages took, not yet reported */
	struct fcl_fixsum psum;
	struct fcl_msg precords; /* ids, rec_* arrays (n_ids so far), room for every hosted id */

	uint32_t round;    /* of the round start being worked on */
	uint64_t dispatch; /* its number (simulated time), echoed in updates and rule messages */

	/* timings for the coordinator's cost breakdown (wall clock, never in results) */
	double send_s;  /* encoding and sending not yet reported: goes with the next message */
	double sent_at; /* fcl_now() when the last message had gone */

	/* a restore's state being assembled: one logical client at a time */
	int64_t restore_client; /* -1: none */
	uint8_t *restore_buf;
	uint64_t restore_total, restore_got;
	uint32_t restored; /* states put back in this restore */
};

/* ---- worker.c ------------------------------------------------------------- */

/* Does this process host logical client id? (opts->ids is ascending) */
int worker__hosts(const struct worker *w, uint32_t id);
/* Hosted logical client id, created as it is before its first round if it
 * has not been yet: *out (valid until the next creation). 0, -ENOENT (not
 * hosted here) or the strategy's error. */
int worker__get_client(struct worker *w, uint32_t id, struct logical_client **out);
/* Logical client id back as before its first round: its state is dropped. */
void worker__reset_client(struct worker *w, uint32_t id);

#endif
