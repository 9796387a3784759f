/* server/cost.h - where a round's wall time goes: the cost breakdown
 *
 * The coordinator times its own parts (receiving and decoding, validation,
 * aggregation, the rule's projection, evaluation, sending) and adds what the
 * client processes report in their messages (training, the rule's extra
 * messages such as FOT's sketches, encoding and sending). Each round line of
 * events.jsonl carries the round's figures, summary.md the run's. Wall-clock
 * figures only: they never enter metrics.json or any result.
 */
#ifndef FCL_SERVER_COST_H
#define FCL_SERVER_COST_H
#include <stdint.h>
#include <stdio.h>

struct fcl_msg;

enum coord_cost_kind {
	/* reported by the client processes */
	COST_TRAIN,       /* local training, up to the update */
	COST_RULE,        /* the rule's extra messages (FOT: sketches) */
	COST_CLIENT_SEND, /* encoding and sending updates and rule messages */
	/* measured by the coordinator */
	COST_RECEIVE,   /* receiving and decoding messages */
	COST_VALIDATE,  /* checking and keeping updates and rule messages */
	COST_AGGREGATE, /* the rule's combine and the model step, projection excluded */
	COST_PROJECT,   /* the rule's projection and round end (FOT: projection, bases) */
	COST_EVALUATE,  /* evaluations of the global and local models */
	COST_SEND,      /* encoding and sending round starts */
	N_COST_KINDS
};

struct coord_cost {
	double round[N_COST_KINDS]; /* this round's seconds so far */
	uint64_t round_samples;     /* samples the round's updates trained on (once each) */
	/* the run's totals (this coordinator's rounds; a resumed run starts afresh) */
	double run[N_COST_KINDS];
	uint64_t run_samples;
	double run_wall;        /* sum of the rounds' wall seconds */
	double run_server_idle; /* the coordinator's round time outside its parts */
	double run_client_idle; /* the client processes' round time outside their parts */
	uint32_t rounds, max_procs;
};

void coord_cost_add(struct coord_cost *c, enum coord_cost_kind k, double seconds);
/* The timings an update or rule message reports, n_samples the samples it trained. */
void coord_cost_message(struct coord_cost *c, const struct fcl_msg *m);
/* Ends the round: writes its figures into a round line of events.jsonl
 * (,"samples":N,"cost":{...} with server_idle and client_idle: the coordinator's
 * and the n_procs client processes' wall_seconds not spent in their parts),
 * adds them to the run's totals and starts the next round from zero. */
void coord_cost_round_end(struct coord_cost *c, FILE *f, double wall_seconds, uint32_t n_procs);
/* summary.md's section: the run's totals and shares. */
void coord_cost_md(const struct coord_cost *c, FILE *f);

#endif
