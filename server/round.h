/* server/round.h - the round's state: who hosts which logical client, who takes
 * part in the current round and what each participant sent
 *
 * No I/O: the dispatcher (dispatch.h) hands it what arrived and sends what it
 * builds. Only round.c and round_hosts.c (who hosts whom) write these
 * fields; the other parts read them.
 * Updates are summed in client-id order, never arrival order, so the result
 * does not depend on timing or on how clients map to processes.
 */
#ifndef FCL_SERVER_ROUND_H
#define FCL_SERVER_ROUND_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/extras.h"

struct fcl_agg;
struct fcl_agg_update;
struct fcl_mlp;
struct fcl_msg;
struct fcl_scenario;
struct fcl_schedule;

/* One client process, as far as rounds go (its route is net.c's). */
struct coord_peer {
	uint32_t pid;
	char hostname[64];
	uint32_t first_id, n_ids; /* for log lines */
	int gone;                 /* its connection closed or timed out: it hosts nobody now */
	int owes;                 /* a checkpoint's states or a restore's receipt are due */
	char last_error[128];     /* the last error it reported, "" if none */
};

/* owner[] value of a logical client whose process is gone for good. */
#define COORD_OWNER_GONE (-2)

enum coord_phase {
	COORD_JOINING,    /* waiting for every logical client's process to say hello */
	COORD_TRAINING,   /* a round is out; collecting updates */
	COORD_SIMULATING, /* simulated time (sim.h): jobs out, applied in the clock's order */
	COORD_DONE,
	/* the checkpoints' phases (dispatch_ckpt.c) */
	COORD_SAVING,     /* a checkpoint: collecting the logical clients' states */
	COORD_RESTORING,  /* a resume or rollback: states sent, waiting for receipts */
	COORD_RECOVERING, /* rollback: waiting for a replacement of a lost process */
	COORD_N_PHASES,
};

/* What happened to one participant's update this round. */
enum coord_slot {
	COORD_SLOT_WAITING = 0,
	COORD_SLOT_ACCEPTED,
	COORD_SLOT_REJECTED,
	COORD_SLOT_GONE, /* its process left the run: no update will come */
};

/* What a participant's message did. */
enum coord_take {
	COORD_TAKE_DROPPED,  /* not one the round waits for: nothing changed */
	COORD_TAKE_REJECTED, /* the participant answered, with something unusable */
	COORD_TAKE_ACCEPTED,
};

/* Where the current round stands (coord_round_status). */
enum coord_status {
	COORD_ROUND_OPEN,     /* a participant can still answer */
	COORD_ROUND_COMPLETE, /* nobody can: aggregate */
	COORD_ROUND_SHORT,    /* nobody can, gone participants left it below the quorum */
};

struct coord_round {
	/* the run's inputs, borrowed */
	const struct fcl_scenario *sc;
	const struct fcl_schedule *sched;
	struct fcl_mlp *model; /* the global model: sent at round starts, changed by aggregation */
	struct fcl_agg *agg;   /* the aggregation rule and its state */
	uint64_t n_train;      /* training samples (plausibility of sample counts) */

	enum coord_phase phase;
	uint32_t round;
	struct coord_peer *peers;
	uint32_t n_peers;
	int32_t *owner; /* (n_clients) peer of each logical client, -1 = none yet */
	uint32_t n_joined;
	uint32_t n_clients_gone; /* logical clients whose process left the run */

	/* the current round */
	uint32_t *participants; /* (per_round) ascending */
	uint32_t n_participants;
	enum coord_slot *slot;     /* (per_round) */
	float **updates;           /* (per_round)(n_params) accepted updates */
	size_t bn_n;               /* batchnorm values every update carries (FedBN), or 0 */
	float **slot_bn;           /* (per_round)(bn_n) with bn_n: the accepted updates' */
	uint64_t *slot_samples;    /* (per_round) */
	float *slot_loss;          /* (per_round) */
	double *slot_train_s;      /* (per_round) */
	uint32_t *slot_answers;    /* (per_round) rule messages received from each participant */
	uint32_t answers_due;      /* rule messages each participant sends this round */
	struct fcl_extras request; /* the rule's part of the round start, borrowed from the rule */
	uint32_t request_sends;    /* round starts that carried it */
	uint32_t n_accepted, n_rejected, n_gone;
	double started; /* fcl_now() when the round went out */

	struct fcl_agg_update *agg_in; /* (per_round) the rule's input */
	uint32_t *ids;                 /* (n_clients) id lists handed out, see below */
};

/* Sizes every buffer for the schedule; everything passed is borrowed and must
 * outlive r. 0 or -ENOMEM (then nothing needs freeing). */
int coord_round_init(struct coord_round *r, const struct fcl_scenario *sc,
		     const struct fcl_schedule *sched, struct fcl_mlp *model, struct fcl_agg *agg,
		     uint64_t n_train);
void coord_round_fini(struct coord_round *r);

/* Why hello m cannot join, in why ("" when it can). */
void coord_round_check_hello(const struct coord_round *r, const struct fcl_msg *m, char *why,
			     size_t len);
/* Every id of hello m is among the sorted bound[0..n_bound) (the ids the
 * sender's key may host); else why says which is not ("" when all are). */
void coord_round_check_binding(const struct fcl_msg *m, const uint32_t *bound, size_t n_bound,
			       char *why, size_t len);
/* Registers peer p (the next index, r->n_peers) as host of hello m's ids.
 * 0 or -ENOMEM (nothing changed). */
int coord_round_add_peer(struct coord_round *r, uint32_t p, const struct fcl_msg *m);

/* Opens round r->round: samples its participants, their slots, the rule's
 * request. 0 or the rule's negative errno. */
int coord_round_open(struct coord_round *r);
/* Peer p's round start into *m (borrowing r's buffers until the next call);
 * returns how many participants p hosts, 0 when none (then send nothing). */
size_t coord_round_start_msg(struct coord_round *r, uint32_t p, struct fcl_msg *m);
/* After p's round start was sent (sent = 1) or could not be: then its
 * participants are rejected at once. */
void coord_round_sent(struct coord_round *r, uint32_t p, int sent);

/* An update from peer p: what it did in *took and, unless accepted, why in
 * why. 0 or -ENOMEM (from the rule). */
int coord_round_take_update(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			    enum coord_take *took, char *why, size_t len);
/* A partial sum from peer p (fcl_rule_partial_sums): each of its records
 * answers for one participant. *took says what it did (DROPPED: nothing
 * changed; else some participants answered); why holds one line per
 * participant refused (by its process or here) or why the message was
 * dropped. *n_records: records taken. 0 or -ENOMEM. */
int coord_round_take_partial(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			     enum coord_take *took, uint32_t *n_records, char *why, size_t len);
/* A rule message of `bytes` from peer p; the same. With client_id -1, a
 * process's sum of its participants' rule messages (fcl/rule.h keep_answer):
 * it answers for each participant it names, and why gets a line for each one
 * kept out of the sum. */
int coord_round_take_answer(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			    size_t bytes, enum coord_take *took, char *why, size_t len);
enum coord_status coord_round_status(const struct coord_round *r);
/* Updates the round needs: run.quorum of its participants, at least 1. */
uint32_t coord_round_quorum(const struct coord_round *r);
/* The rule over the accepted updates, in client-id order, then its round end.
 * Failures of the rule are logged and the run goes on; returns 0, or -ENOMEM
 * when it cannot. */
int coord_round_aggregate(struct coord_round *r);
/* Moves to the next round; 0 when the run has had its last. */
int coord_round_next(struct coord_round *r);
void coord_round_finish(struct coord_round *r); /* phase DONE */
/* Simulated time takes over the rounds (sim.h): phase SIMULATING. */
void coord_round_simulate(struct coord_round *r);

/* The functions below return a count n and set *ids to the ids (ascending,
 * borrowed from r until its next call). */

/* Peer p is gone. Before the first round its logical clients may join again;
 * after it they leave the run, and so do their waiting slots. */
uint32_t coord_round_peer_gone(struct coord_round *r, uint32_t p, const uint32_t **ids);
/* Peer p is gone and its logical clients wait for another process to host
 * them (before the first round, and for a rollback). */
uint32_t coord_round_peer_lost(struct coord_round *r, uint32_t p, const uint32_t **ids);
/* The logical clients that nobody hosts (owner -1). */
uint32_t coord_round_unhosted(struct coord_round *r, const uint32_t **ids);
/* The logical clients that never joined: gone for the whole run. */
uint32_t coord_round_drop_absent(struct coord_round *r, const uint32_t **ids);
/* Every logical client that is not gone for good has a host. */
int coord_round_all_hosted(const struct coord_round *r);

/* For checkpoints: the next round and the logical clients gone for good.
 * load keeps who hosts whom (this run's processes). 0, -EIO or -EINVAL. */
int coord_round_save(const struct coord_round *r, FILE *f);
int coord_round_load(struct coord_round *r, FILE *f);

#endif
