/* common/include/fcl/rule.h - aggregation rules: one federated method, one file
 *
 * A rule is everything a federated method needs, in one file
 * common/src/agg_<name>.c that exports a `const struct fcl_rule` and is
 * listed once in common/src/registry.c:
 *  - its scenario keys under `aggregation:` (a struct fcl_key table over its
 *    own parameter struct, stored in sc->aggregation.params);
 *  - the server half: turn the round's accepted updates (local - global, in
 *    ascending client id, never arrival order) into the change of the global
 *    parameters, and optionally extend the round protocol: data sent with the
 *    round start (struct fcl_extras), data carried by each update, extra
 *    messages each participant answers with, work at the round's end;
 *  - the client half: hooks around a logical client's local training (a
 *    gradient hook in the optimiser, the update's extra data, extra messages).
 * The coordinator (server/) and the client process (client/) call these
 * hooks and never name a rule. docs/extending.md walks through adding one.
 */
#ifndef FCL_RULE_H
#define FCL_RULE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/extras.h"
#include "fcl/fixsum.h"
#include "fcl/model.h"
#include "fcl/scenario.h"
#include "fcl/schema.h"

struct fcl_schedule;
struct fcl_dataset;
struct fcl_sgd;

/* ---- the server half ------------------------------------------------------ */

/* One accepted update. */
struct fcl_agg_update {
	uint32_t client_id;
	uint32_t slot;        /* the participant's slot this round (see accept_update) */
	uint64_t n_samples;   /* training samples behind it */
	uint32_t local_steps; /* SGD steps taken (FedNova) */
	const float *delta;   /* (n_params) local - global, borrowed */
};

/* The round the hooks are called for. */
struct fcl_round_info {
	uint32_t round;
	uint32_t task;          /* the global clock's task */
	int task_end;           /* the last round of that task on the global clock */
	uint32_t n_slots;       /* participants this round (slots 0 .. n_slots - 1, ascending id) */
	uint64_t n_train;       /* training samples in the data set (plausibility checks) */
	uint32_t request_sends; /* round_end: round-start messages that carried the request */
};

/* Where the coordinator lets a rule write: its own files in the run folder
 * and lines of events.jsonl. Every field may be NULL/0 (unit tests). */
struct fcl_agg_env {
	const char *run_dir;
	void (*event)(void *ud, const char *name, const char *detail);
	void *ud;
	int resume; /* the run folder's files exist: append (load cuts them back) */
};

/* Geometry of one dense or conv layer, for rules that treat weights as
 * matrices. A conv weight is the matrix (C_out, C_in*kh*kw) of fcl/arch.h. */
struct fcl_agg_layer {
	size_t w_offset; /* W (n_out, n_in) row-major at params + w_offset */
	size_t n_in, n_out;
};

struct fcl_rule;

/* A rule's server-side instance. */
struct fcl_agg {
	const struct fcl_rule *rule;
	struct fcl_scenario sc; /* a copy; rules read sc.aggregation.params and sc.train */
	const void *params;     /* = sc.aggregation.params, the rule's own settings */
	struct fcl_agg_env env;
	size_t n_params;
	uint32_t n_layers;
	struct fcl_agg_layer layers[FCL_MLP_MAX_LAYERS];
	/* the body's convolutions, in list order (none for an MLP) */
	uint32_t n_convs;
	struct fcl_agg_layer convs[FCL_ARCH_MAX_LAYERS];
	double *acc; /* (n_params) scratch accumulator */
	/* The round's sum of weighted updates, sum_i w_i Delta_i, in fixed point
	 * (fcl/fixsum.h, FCL_FIXSUM_FRAC_BITS; room for clients.per_round addends):
	 * built from the updates by fcl_agg_sum / fcl_agg_mean, or put there
	 * beforehand from the client processes' partial sums (fcl_agg_add_partial,
	 * then sum_ready = 1). Any grouping gives the same bits. */
	struct fcl_fixsum sum;
	int sum_ready;
	float *delta;   /* (n_params) the round's change, valid after fcl_agg_step */
	uint64_t steps; /* rounds aggregated so far */
	void *state;    /* the rule's own */
	/* wall seconds the rule spent projecting (FOT: in combine and round_end), for
	 * the coordinator's cost breakdown only; never part of a result */
	double project_seconds;
};

/* ---- the client half ------------------------------------------------------ */

/* One client process's view, for the rule's client hooks (borrowed). */
struct fcl_rule_worker {
	const struct fcl_rule *rule;
	const struct fcl_scenario *sc;
	const struct fcl_schedule *sched;
	const struct fcl_dataset *train;
	struct fcl_mlp *model; /* trained in place; its parameters are the local model */
	void *state;           /* the rule's per-process state (worker_init) */
};

/* One logical client's round on the client side. */
struct fcl_local_round {
	uint32_t client, round;
	int32_t task;                     /* the client's own task this round (-1: none) */
	const struct fcl_extras *request; /* what the round start carried */
	const float *global;              /* (n_params) the round's starting parameters */
	struct fcl_sgd *opt;              /* the optimiser: set a gradient hook here */
	void **state;                     /* this logical client's rule state, kept across rounds */
	uint64_t n_samples;               /* after training: samples trained on */
	uint32_t local_steps;             /* after training: ceil(n / batch_size) * epochs */
};

/* Sends one extra message of a participant (see send_answers). */
typedef int (*fcl_answer_fn)(void *sink, uint32_t client, const struct fcl_extras *x);

/* A client process's sum of its participants' extra messages (keep_answer):
 * n_sum integers at 2^-frac_bits (none when addends == 0), `addends`
 * participants in it; one record per participant that answered, ascending
 * id: ids[k] and rejected[k] (0: in the sum, else enum fcl_reject). */
struct fcl_answer_sum {
	const int64_t *sum;
	size_t n_sum;
	uint32_t frac_bits, addends;
	const uint32_t *ids, *rejected;
	size_t n_ids;
};
typedef int (*fcl_answer_sum_fn)(void *sink, const struct fcl_answer_sum *s);

/* ---- the descriptor a rule file exports ---------------------------------- */

struct fcl_rule {
	const char *name;    /* aggregation.rule */
	const char *summary; /* one line */
	/* scenario keys under aggregation:, over the rule's params (size <= FCL_METHOD_PARAMS_MAX)
	 */
	const struct fcl_key *keys;
	size_t params_size;
	void (*defaults)(void *params);

	/* Linear rules define it: combine needs of the round's updates only
	 * their weighted sum sum_i w_i Delta_i (fcl_agg_sum or fcl_agg_mean, never
	 * u[i].delta itself) and the records (ids, samples, steps); this is w_i.
	 * Without per-update extras (accept_update) the client processes then
	 * send one partial sum per round instead of one update per client
	 * (fcl_rule_sums_only). Rules that need each update (median, Krum) leave
	 * it NULL. */
	double (*sum_weight)(const void *params, uint64_t n_samples, uint32_t local_steps);
	/* Parameter-sized vectors the client half keeps per logical client
	 * (SCAFFOLD's c_i), for run.limits' memory estimate. */
	uint32_t client_vectors;

	/* server; combine is required, the rest may be NULL */
	int (*init)(struct fcl_agg *a); /* allocates a->state */
	void (*fini)(struct fcl_agg *a);
	/* Writes the change of the global parameters into a->delta (n_params);
	 * the caller adds it. u: n >= 1 updates, ascending client id. */
	int (*combine)(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n);
	/* What the round start carries (borrowed from a until the next call). */
	int (*request)(struct fcl_agg *a, const struct fcl_round_info *r, struct fcl_extras *out);
	/* Extra messages each participant sends after its update this round. */
	uint32_t (*answers)(const struct fcl_agg *a, const struct fcl_round_info *r);
	/* An update's extras (0 keeps them; else *why says why the update is
	 * rejected). Called for every update that passed the generic checks. */
	int (*accept_update)(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			     const struct fcl_extras *x, const char **why);
	/* One extra message of a participant; 0 keeps it, else *why. */
	int (*accept_answer)(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			     const struct fcl_extras *x, size_t bytes, const char **why);
	/* A client process's sum of its participants' extra messages (the client
	 * half's keep_answer and send_answer_sum): n integers v at
	 * FCL_FIXSUM_FRAC_BITS, `addends` participants in it, each with an
	 * accepted update (the coordinator checked); bytes of the message. 0
	 * keeps it whole, else *why (then nothing of it is kept). */
	int (*accept_answer_sum)(struct fcl_agg *a, const struct fcl_round_info *r,
				 const int64_t *v, size_t n, uint32_t addends, size_t bytes,
				 const char **why);
	/* After aggregation: u are the round's accepted updates (may be n == 0). */
	int (*round_end)(struct fcl_agg *a, const struct fcl_round_info *r,
			 const struct fcl_agg_update *u, size_t n);
	int (*save)(const struct fcl_agg *a, FILE *f); /* stateless rules: NULL */
	/* A combination the rule runs but does poorly with (FOT with one output head
	 * in a class-incremental stream): a sentence into buf and 1, else 0. Said by
	 * fcl-scenario check and show and at the start of a run. May be NULL. */
	int (*caveat)(const struct fcl_scenario *sc, const void *params, char *buf, size_t len);
	int (*load)(struct fcl_agg *a, FILE *f);

	/* client; every hook may be NULL */
	int (*worker_init)(struct fcl_rule_worker *w);
	void (*worker_fini)(struct fcl_rule_worker *w);
	/* Checks a round start's request before any training: 0, or -EPROTO and *why. */
	int (*check_request)(struct fcl_rule_worker *w, const struct fcl_extras *req,
			     const char **why);
	/* Before local training, the model already holding lr->global. */
	int (*before_train)(struct fcl_rule_worker *w, struct fcl_local_round *lr);
	/* After local training: fills the update's extras (out starts empty). */
	int (*after_train)(struct fcl_rule_worker *w, struct fcl_local_round *lr,
			   const float *update, struct fcl_extras *out);
	/* After the update was sent: the participant's extra messages, through send. */
	int (*send_answers)(struct fcl_rule_worker *w, struct fcl_local_round *lr,
			    fcl_answer_fn send, void *sink);
	/* Partial sums (fcl_rule_partial_sums) for rules whose extra messages add
	 * up (with accept_answer_sum on the server; fcl_rule_sums_answers): the
	 * process hands each message send_answers makes to keep_answer instead of
	 * sending it (only for participants whose update is in its partial sum),
	 * which checks it and adds the participant, once all its messages are
	 * in, to the rule's fixed-point sum (fcl/fixsum.h) or records why not.
	 * After the process's partial sum of updates has gone, send_answer_sum
	 * sends that sum and its records through send (nothing when no
	 * participant answered) and starts the next one afresh. */
	int (*keep_answer)(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x);
	int (*send_answer_sum)(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink);
	void (*client_state_free)(void *state);
	/* A logical client's state (what before_train/after_train keep in
	 * *lr->state, NULL until first used), for checkpoints. load replaces
	 * *state, freeing the old one; rules with client_state_free have both. */
	int (*client_state_save)(const struct fcl_rule_worker *w, const void *state, FILE *f);
	int (*client_state_load)(struct fcl_rule_worker *w, void **state, FILE *f);
	/* message caps; NULL for rules that add nothing to any message */
	/* The largest extras (fcl_extras_bytes) the rule puts into any one message
	 * (round start, update or extra message) for a model of n_layers dense
	 * layers of sizes[0..n_layers] (input ... classes) and n_params
	 * parameters, with the body of arch (its convolutions; NULL: an MLP),
	 * under its settings params. Both sides cap messages with it
	 * (fcl_rule_max_message_bytes): too small, and valid runs fail. */
	uint64_t (*max_extras_bytes)(const void *params, uint32_t n_layers, const uint32_t *sizes,
				     size_t n_params, const struct fcl_arch *arch);
};

/* The largest valid message between coordinator and client processes of
 * scenario sc for a model of n_layers layers of sizes[0..n_layers] and
 * n_params parameters (body: arch, NULL for an MLP), with n_clients logical
 * clients: the parameters, the
 * rule's largest extras (max_extras_bytes), every logical client's id, a
 * state piece and the encoding's overhead. The coordinator's libzmq cap and
 * the client's check of every message after the welcome. */
uint64_t fcl_rule_max_message_bytes(const struct fcl_scenario *sc, uint32_t n_layers,
				    const uint32_t *sizes, size_t n_params, uint32_t n_clients,
				    const struct fcl_arch *arch);

/* ---- registry ------------------------------------------------------------- */

/* The rule of that name, or NULL. Built-in rules are listed in registry.c. */
const struct fcl_rule *fcl_rule_find(const char *name);
/* The i-th rule (0, 1, ...), NULL past the last. */
const struct fcl_rule *fcl_rule_at(size_t i);
/* Adds a rule at run time (tests, examples); -EEXIST or -ENOSPC. */
int fcl_rule_register(const struct fcl_rule *rule);
/* "fedavg, fot, ..." */
void fcl_rule_names(char *buf, size_t len);

/* ---- server-side API (the coordinator) ----------------------------------- */

/* Stores an owned instance of the scenario's rule in *out (free with
 * fcl_agg_destroy); m gives the parameter layout, env may be NULL.
 * 0, -EINVAL or -ENOMEM. */
int fcl_agg_create(const struct fcl_scenario *sc, const struct fcl_mlp *m,
		   const struct fcl_agg_env *env, struct fcl_agg **out);
void fcl_agg_destroy(struct fcl_agg *a); /* NULL-safe */
const char *fcl_agg_name(const struct fcl_agg *a);
/* params (n_params) += the rule's combination of u (n updates, ascending client id).
 * n == 0 leaves params alone. */
int fcl_agg_step(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, float *params);
/* The same combination into a->delta, not applied: for asynchronous aggregation,
 * which applies it its own way (a server learning rate, FedAsync's mixing). */
int fcl_agg_combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n);
/* The protocol hooks (each a no-op for rules that do not define it). */
int fcl_agg_request(struct fcl_agg *a, const struct fcl_round_info *r, struct fcl_extras *out);
uint32_t fcl_agg_answers(const struct fcl_agg *a, const struct fcl_round_info *r);
int fcl_agg_accept_update(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			  const struct fcl_extras *x, const char **why);
int fcl_agg_accept_answer(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			  const struct fcl_extras *x, size_t bytes, const char **why);
int fcl_agg_accept_answer_sum(struct fcl_agg *a, const struct fcl_round_info *r, const int64_t *v,
			      size_t n, uint32_t addends, size_t bytes, const char **why);
int fcl_agg_round_end(struct fcl_agg *a, const struct fcl_round_info *r,
		      const struct fcl_agg_update *u, size_t n);
/* State for checkpoints: a self-describing binary blob (rule, steps, the rule's buffers). */
int fcl_agg_save(const struct fcl_agg *a, FILE *f);
int fcl_agg_load(struct fcl_agg *a, FILE *f); /* -EINVAL when the blob is for another rule */

/* Helpers for rules. fcl_agg_sum: a->sum = sum_i w_i Delta_i with the rule's
 * sum_weight (unless a->sum_ready). fcl_agg_mean: a->acc = sum_i w_i Delta_i /
 * sum_i w_i with w_i = samples when weighted, else 1, through a->sum (so the
 * bits do not depend on the order or grouping of the updates); fcl_agg_mean_delta
 * also copies the mean into a->delta (FedAvg). 0, or -ERANGE when an update
 * is beyond the fixed-point range (the coordinator refuses those first). */
int fcl_agg_sum(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n);
int fcl_agg_mean(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted);
int fcl_agg_mean_delta(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted);
/* Does the rule need only the weighted sum of the updates, with no per-update
 * extras? Then client processes may send partial sums. */
int fcl_rule_sums_only(const struct fcl_rule *rule);
/* Do its extra messages add up too (keep_answer, send_answer_sum,
 * accept_answer_sum)? Then with partial sums a process sends their sum. */
int fcl_rule_sums_answers(const struct fcl_rule *rule);
/* w_i of an update: the rule's sum_weight (samples for rules without one). */
double fcl_rule_weight(const struct fcl_rule *rule, const void *params, uint64_t n_samples,
		       uint32_t local_steps);
/* SGD steps behind n_samples as the coordinator counts them (FedNova). */
uint32_t fcl_agg_local_steps(const struct fcl_scenario *sc, uint64_t n_samples);
/* The coordinator builds the round's sum as updates arrive (integers: their
 * order does not matter). reset starts it afresh; add_update adds one
 * update (n_params) of n_samples with the rule's weight (rules without
 * sum_weight: nothing to do); add_partial adds one process's partial sum
 * (n_params integers at FCL_FIXSUM_FRAC_BITS, `addends` updates in it).
 * 0; -ERANGE (update beyond the fixed-point range) or -EOVERFLOW: then the
 * sum is unchanged (never wrapped). */
void fcl_agg_sum_reset(struct fcl_agg *a);
int fcl_agg_add_update(struct fcl_agg *a, const float *delta, uint64_t n_samples);
int fcl_agg_add_partial(struct fcl_agg *a, const int64_t *v, uint64_t addends);
/* Do this scenario's client processes send one partial sum per round
 * (fcl_rule_sums_only, rounds not in simulated time, no local-model
 * evaluation, which needs each update)? */
int fcl_rule_partial_sums(const struct fcl_scenario *sc);
/* The scenario key aggregation.weighting (samples or uniform) for a rule's table. */
extern const struct fcl_key_choice fcl_agg_weightings[];

/* ---- client-side API (the client process) --------------------------------- */

/* Sets up the scenario's rule in a client process; the borrowed pointers
 * must outlive it. 0 or negative errno. */
int fcl_rule_worker_init(struct fcl_rule_worker *w, const struct fcl_scenario *sc,
			 const struct fcl_schedule *sched, const struct fcl_dataset *train,
			 struct fcl_mlp *model);
void fcl_rule_worker_fini(struct fcl_rule_worker *w);
int fcl_rule_check_request(struct fcl_rule_worker *w, const struct fcl_extras *req,
			   const char **why);
int fcl_rule_before_train(struct fcl_rule_worker *w, struct fcl_local_round *lr);
int fcl_rule_after_train(struct fcl_rule_worker *w, struct fcl_local_round *lr, const float *update,
			 struct fcl_extras *out);
int fcl_rule_send_answers(struct fcl_rule_worker *w, struct fcl_local_round *lr, fcl_answer_fn send,
			  void *sink);
int fcl_rule_keep_answer(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x);
int fcl_rule_send_answer_sum(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink);
/* Frees one logical client's rule state (NULL-safe). */
void fcl_rule_client_free(const struct fcl_rule_worker *w, void *state);
/* One logical client's rule state for checkpoints (rule name, then the
 * rule's own). load replaces *state: 0, -EIO, -EINVAL (another rule) or -ENOMEM. */
int fcl_rule_client_save(const struct fcl_rule_worker *w, const void *state, FILE *f);
int fcl_rule_client_load(struct fcl_rule_worker *w, void **state, FILE *f);

#endif
