/* server/sim-private.h - what sim.c (jobs, messages, aggregation, the clock's
 * steps) and sim_plan.c (who trains when: sync rounds, async refills) share */
#ifndef FCL_SERVER_SIM_PRIVATE_H
#define FCL_SERVER_SIM_PRIVATE_H
#include "sim.h"

/* A copy of some extras (an update's, a rule message) and its size on the wire. */
struct coord_kept {
	struct coord_kept *next;
	struct fcl_extras x; /* its tensors point into values */
	size_t bytes;
	float values[];
};
void coord_sim__free_kept(struct coord_kept *k);

/* A model version still in use by a job (FedAsync mixes with it). */
struct coord_version {
	struct coord_version *next;
	uint64_t v;
	uint32_t refs;
	float params[]; /* (n_params) */
};

/* Jobs in the clock's order: (finish, client id), then dispatch. */
struct coord_sim_key {
	double finish;
	uint32_t client, job;
	uint64_t dispatch;
};
/* Sorts the jobs idx[0..n) into s->keys by (finish, client, dispatch), or by
 * (client, dispatch) when by_client; returns s->keys. */
struct coord_sim_key *coord_sim__order(struct coord_sim *s, const uint32_t *idx, uint32_t n,
				       int by_client);

/* The round of the schedule at simulated time t (tasks in simulated time):
 * the number of schedule rounds that ended by t, at most n_rounds - 1. */
uint32_t coord_sim__slot(const struct coord_sim *s, double t);
/* When schedule round j ends (tasks in simulated time). */
double coord_sim__boundary(const struct coord_sim *s, uint32_t j);
/* The schedule round whose data a job planned now trains on. */
uint32_t coord_sim__data_round(const struct coord_sim *s);

/* A new job for client c (its index), zeroed but for client; -1 without memory. */
int coord_sim__new_job(struct coord_sim *s, uint32_t c);
/* Has job j reached its end: no update or rule message is awaited any more? */
int coord_sim__ready(const struct coord_job *j);

/* Frees job i's buffers and drops it from the table (the last one moves into i). */
void coord_sim__retire(struct coord_sim *s, uint32_t i);
/* After the dispatcher sent the planned jobs: any it could not send are lost. */
void coord_sim__sending_done(struct coord_sim *s);

/* An aggregation step's record (s->step): started afresh, started afresh once
 * the last one was reported (async: jobs taken in between count in the next),
 * a job taken with no update to use, the step made (version, record, retired jobs). */
void coord_sim__step_begin(struct coord_sim *s);
void coord_sim__step_begin_once(struct coord_sim *s);
void coord_sim__count_unused(struct coord_sim *s, const struct coord_job *j);
void coord_sim__step_end(struct coord_sim *s, uint32_t round, uint32_t data_round, double start);
/* One aggregation over the jobs idx[0..n) (their IN updates, ascending client
 * id): the rule's round, the model's new version. 0, -ENOMEM or the rule's error. */
int coord_sim__aggregate(struct coord_sim *s, const uint32_t *idx, uint32_t n, int task_end);

/* Async task ends: hands the rule the kept answers of the jobs that carried
 * the task-end request, once all of them are done (or now, when forced). */
int coord_sim__collect(struct coord_sim *s, int force);

/* sync: plans round s->round at s->now (participants, their jobs, the round's end).
 * async: starts jobs until `concurrency` are out, or sets s->wake. 0 or -ENOMEM
 * (or the rule's request error). */
int coord_sim__open_round(struct coord_sim *s);
int coord_sim__refill(struct coord_sim *s);

#endif
