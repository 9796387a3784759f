/* server/sim.h - simulated time: training jobs on a virtual clock, rounds with
 * deadlines, asynchronous aggregation (FedBuff, FedAsync); no I/O
 *
 * With a devices section every piece of local training is a job: a client, the
 * round whose data it trains on, the model version it starts from, and its
 * simulated start and finish, computed from its device when it is planned
 * (fcl_devices_duration). The clock moves only from job to job in the order
 * (finish, client id): a job's update is applied when the clock reaches it,
 * once its real update has arrived and every earlier one has been applied, so
 * wall time and the process layout change nothing. Jobs start from the model
 * the clock has at their start, which is the one their round start carries.
 *
 *   sync   rounds as usual, each with a simulated length: participants are
 *          drawn among the clients online and idle at its start (over_selection
 *          draws more), the round ends when `per_round` have finished or at its
 *          deadline; the others are stragglers, dropped or kept as stale updates
 *          for the round in which they finish
 *   async  `concurrency` jobs at all times; each finished job starts another on
 *          a client drawn among the idle ones; FedBuff aggregates every `buffer`
 *          updates, FedAsync mixes each one in, both weighted by staleness
 *
 * The dispatcher (dispatch.c) asks coord_sim_next what to do and does it: send
 * the planned jobs, evaluate at the end of a round of the schedule (tasks in
 * simulated time), report an aggregation step, wait, or end the run.
 */
#ifndef FCL_SERVER_SIM_H
#define FCL_SERVER_SIM_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/extras.h"

struct fcl_agg;
struct fcl_agg_update;
struct fcl_devices;
struct fcl_mlp;
struct fcl_msg;
struct fcl_scenario;
struct fcl_schedule;
struct fcl_staleness;

enum coord_job_state {
	COORD_JOB_OUT,      /* sent (or about to be): its update is awaited */
	COORD_JOB_IN,       /* its update arrived and passed the checks */
	COORD_JOB_REJECTED, /* it answered with something unusable */
	COORD_JOB_LOST,     /* no update will come: not sent (dropped straggler, device
			     * offline before its finish), unsendable, or its process left */
};

struct coord_kept; /* a rule message kept until the rule takes it (sim.c) */

struct coord_job {
	uint32_t client;
	uint64_t dispatch;    /* the round start that carries it */
	uint32_t data_round;  /* the round of the schedule whose data it trains on */
	uint32_t round;       /* sync: the round that selected it */
	uint64_t version;     /* the model version it starts from */
	double start, finish; /* simulated; finish: its update reaches the server, or it is lost */
	enum coord_job_state state;
	int sent;                      /* its round start went out */
	int done;                      /* the clock has taken it (async: it may wait in the buffer,
					* or for the rule's task end) */
	int buffered;                  /* FedBuff: in the buffer */
	int late;                      /* sync: finishes after its round's end */
	int task_end;                  /* its round start carried the rule's task-end request */
	uint32_t answers, answers_due; /* rule messages received / expected */
	float *update;                 /* (n_params) local - global, while IN */
	uint64_t samples;
	float loss;
	double train_s;
	struct coord_kept *extras;  /* the update's extras */
	struct coord_kept *kept;    /* its rule messages, newest first */
	struct coord_version *base; /* FedAsync: the model it started from */
};

/* What coord_sim_next asks the dispatcher to do. */
enum coord_sim_what {
	COORD_SIM_WAIT,     /* an update the clock needs has not arrived */
	COORD_SIM_SEND,     /* planned jobs: a round start per peer (coord_sim_start_msg) */
	COORD_SIM_BOUNDARY, /* tasks in simulated time: a round of the schedule ended */
	COORD_SIM_STEP,     /* an aggregation step (a sync round, a flush): report it */
	COORD_SIM_END,      /* the run is over */
};

/* The last BOUNDARY or STEP, for the dispatcher's report and evaluations. */
struct coord_sim_step {
	uint32_t round;      /* STEP: the step's index; BOUNDARY: the schedule round that ended */
	uint32_t task;       /* its task */
	int task_end;        /* the round ends its task (round-based runs, BOUNDARY) */
	uint32_t data_round; /* sync: the schedule round its jobs trained on */
	double start, time;  /* simulated: the round's start (sync), the step's time */
	uint64_t version;    /* the model version after it */
	/* the updates aggregated, ascending client id, their staleness and the
	 * compute seconds their clients reported */
	uint32_t n, *clients, *staleness;
	double *train_s;
	uint32_t n_rejected, n_lost, n_too_stale; /* jobs processed with no usable update */
	uint32_t n_selected, *selected;           /* sync: the round's participants */
	uint32_t n_late, *late;                   /* sync: its stragglers (kept or dropped) */
	double loss_sum, train_s_sum;
};

struct coord_version; /* a model version still in use (FedAsync) */
struct coord_sim_key; /* sim-private.h */

struct coord_sim {
	/* borrowed */
	const struct fcl_scenario *sc;
	const struct fcl_schedule *sched;
	struct fcl_devices *dev;
	struct fcl_mlp *model;
	struct fcl_agg *agg;
	const int32_t *owner; /* coord_round's: the peer hosting each client, or gone */
	uint64_t n_train;

	/* settings */
	int async, fedasync, time_tasks;
	double slot_s, horizon; /* tasks in simulated time: a schedule round, the run */
	uint32_t n_rounds, need, n_select, concurrency, buffer, slots;
	uint64_t bytes; /* the model on the wire, each way */

	/* the clock */
	double now, wake; /* wake: async, when an idle client may become eligible */
	uint64_t version;
	uint32_t steps, round, boundaries;
	uint64_t dispatches, planned;
	int started, ended, send_asked;
	int step_done;    /* the record in `step` was reported: the next one starts afresh */
	const char *fail; /* why the run cannot go on, or NULL */

	/* sync: the round being trained */
	int round_open;
	double round_start, round_end;
	uint32_t round_data;
	int round_task_end;

	/* jobs: in flight, waiting in the buffer, or kept for the rule's task end */
	struct coord_job *jobs;
	uint32_t n_jobs, cap_jobs;
	double *free_at; /* (n_clients) busy until */
	uint32_t n_buffered;
	uint32_t te_round, n_te; /* async: jobs that got the task-end request of te_round */
	uint32_t request_sends;  /* round starts that carried the task-end request */

	/* the jobs being planned, then sent */
	uint64_t pending; /* their dispatch number, 0: none */
	uint32_t pending_round;
	struct fcl_extras request;
	uint32_t *ids; /* (n_clients) scratch */

	struct coord_version *versions;
	struct coord_sim_step step;
	struct fcl_agg_update *agg_in; /* (slots) */
	struct coord_sim_key *keys;    /* (cap_jobs) scratch for ordering jobs */
};

/* Everything is borrowed and must outlive s; owner is coord_round's. 0 or -ENOMEM. */
int coord_sim_init(struct coord_sim *s, const struct fcl_scenario *sc,
		   const struct fcl_schedule *sched, struct fcl_devices *dev, struct fcl_mlp *model,
		   struct fcl_agg *agg, const int32_t *owner, uint64_t n_train);
void coord_sim_fini(struct coord_sim *s);
/* The most updates one aggregation hands the rule: the per_round its slots need. */
uint32_t coord_sim_slots(const struct fcl_scenario *sc);

/* What to do next (see enum coord_sim_what); after BOUNDARY and STEP, s->step
 * says what happened. -ENOMEM or the rule's error as a negative value. */
int coord_sim_next(struct coord_sim *s, enum coord_sim_what *what);
/* Peer p's round start for the planned jobs into *m (borrowing s's buffers until
 * the next call); returns how many jobs p hosts, 0 when none. */
size_t coord_sim_start_msg(struct coord_sim *s, uint32_t p, struct fcl_msg *m);
/* After p's round start was sent (sent = 1) or could not be (its jobs are lost). */
void coord_sim_sent(struct coord_sim *s, uint32_t p, int sent);

/* An update or a rule message from peer p: 0 when it is one the clock awaits
 * (*bad then says whether it was rejected, and why), else 1 with why (dropped).
 * -ENOMEM when it cannot be kept. */
int coord_sim_take_update(struct coord_sim *s, uint32_t p, const struct fcl_msg *m, int *bad,
			  char *why, size_t len);
int coord_sim_take_answer(struct coord_sim *s, uint32_t p, const struct fcl_msg *m, size_t bytes,
			  int *bad, char *why, size_t len);
/* These clients' process is gone: their jobs are lost. */
void coord_sim_clients_gone(struct coord_sim *s, const uint32_t *ids, uint32_t n);
/* The wall-clock timer fired while waiting: the jobs the clock waits for are
 * lost (a hung process). Their clients into *ids (borrowed); returns how many. */
uint32_t coord_sim_expire(struct coord_sim *s, const uint32_t **ids);

/* s(d) of aggregation.staleness: 1, (1 + d)^-a, or hinge 1 / (a (d - b) + 1) past b. */
double coord_sim_staleness(const struct fcl_staleness *st, uint64_t d);

#endif
