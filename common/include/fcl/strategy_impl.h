/* common/include/fcl/strategy_impl.h - for strategy authors: the loop's state and hooks
 *
 * A strategy file (common/src/strategy_<name>.c) includes this header,
 * implements a struct fcl_strategy_ops (at least `step`) and exports a
 * struct fcl_strategy_method naming it (fcl/strategy.h). The loop
 * (strategy.c) owns batching, replay draws, the buffer and the SGD step;
 * a strategy supplies the loss and its gradient, and any state of its own
 * in s->priv. See docs/extending.md.
 */
#ifndef FCL_STRATEGY_IMPL_H
#define FCL_STRATEGY_IMPL_H
#include "fcl/model.h"
#include "fcl/replay.h"
#include "fcl/strategy.h"

struct fcl_rng;

/* One SGD step's inputs. Rows of x/y: [0, n_new) the stream batch, then
 * n_rep replayed samples (slots rep), then n_rep2 more (slots rep2, DER++). */
struct fcl_strategy_batch {
	const float *x;   /* (rows, dim) */
	const int32_t *y; /* (rows) */
	size_t n_new, n_rep, n_rep2;
	const uint32_t *rep;      /* (n_rep) buffer slots */
	const uint32_t *rep2;     /* (n_rep2) */
	const uint8_t *exposed;   /* (C) classes this client has seen (all when not masking) */
	const uint8_t *present;   /* (C) classes of the stream batch */
	int last_iter;            /* the last of the online_iter steps on this stream batch */
	const uint8_t *task_mask; /* task-incremental: (C) the round's task classes, or NULL */
};

struct fcl_strategy_ops {
	int replay_draws;  /* replay draws per step when memory > 0: 0, 1 or 2 */
	int replay_logits; /* the buffer keeps each sample's logits (DER++) */
	/* What this strategy keeps per logical client, for run.limits' memory
	 * estimate: parameter-sized vectors (EWC's anchor and Fisher) and models
	 * of the trained one's size (LwF's teacher, MVP's query backbone). */
	int model_vectors, extra_models;
	int (*init)(struct fcl_strategy *s);
	void (*fini)(struct fcl_strategy *s);
	int (*round_begin)(struct fcl_strategy *s, struct fcl_mlp *m);
	/* The step writes grads only through one fcl_mlp_backward(_logits) call
	 * and does not read them after it: the loop may then run each layer's SGD
	 * update inside that backward (fcl_mlp.fused), while it is in cache. */
	int one_backward;
	/* Fills m->grads (zeroed by the caller) and returns the loss. */
	double (*step)(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b);
	/* After the SGD step on the MLP (strategy-owned parameters step here). */
	void (*after_step)(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl_sgd *opt);
	uint64_t (*checksum)(const struct fcl_strategy *s);
	/* The strategy's own state that lasts across rounds (s->priv), for
	 * checkpoints: load reads what save wrote into a strategy just created
	 * with the same settings. NULL when nothing in s->priv outlives a round
	 * (LwF's teacher, EWC's anchor are set again at every round_begin). */
	int (*save)(const struct fcl_strategy *s, FILE *f);
	int (*load)(struct fcl_strategy *s, FILE *f);
	/* GDumb-style strategies: no SGD on the stream, own buffer policy, and
	 * the round's training at its end. NULL / 0 for the others. */
	int no_stream_steps;
	int64_t (*offer)(struct fcl_strategy *s, struct fcl_rng *rng, uint32_t id, uint16_t task,
			 int32_t label);
	int (*round_end)(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
			 const struct fcl_dataset *ds, const uint32_t *const *perms, uint32_t round,
			 float *loss);
};

struct fcl_strategy {
	struct fcl_strategy_config cfg;
	struct fcl_loop_config loop;
	const struct fcl_strategy_ops *ops;
	uint64_t seed;
	uint32_t client;
	struct fcl_arch arch; /* the model's */
	uint32_t n_layers, sizes[FCL_MLP_MAX_LAYERS + 1]; /* its dense layers */
	uint32_t dim, d, C; /* input, head input (features h), classes */

	uint8_t *exposed; /* (C) persistent */
	uint8_t *before;  /* (C) exposed before the current task began (WA) */
	int64_t task;     /* task of the last round trained, -1 before the first */
	uint32_t n_exposed;
	uint64_t seen; /* stream samples seen */
	struct fcl_replay buf;

	/* scratch, sized for max_batch rows */
	size_t max_batch;
	float *x;                 /* (max_batch, dim) */
	int32_t *y;               /* (max_batch) */
	uint8_t *present;         /* (C) */
	uint8_t *all;             /* (C) ones: the "exposed" mask when masking is off */
	uint32_t *slots, *slots2; /* (replay_batch) */
	uint32_t *order;          /* (order_cap) */
	size_t order_cap;
	float *z, *dz, *probs; /* (max_batch, C) */
	float *ce;             /* (max_batch) */
	float *dh;             /* (max_batch, d) */
	float *zsave;          /* (max_batch, C) logits of the stream rows, for DER++ */
	float *zero_bias;      /* (C) zeros */

	void *priv; /* the strategy's own state */

	/* model.batchnorm: local (strategy_bn.c): this client's batchnorm values */
	size_t bn_n;      /* floats; 0: the policy is fedavg or the model has no batchnorm */
	float *bn_own;    /* (bn_n) its gamma, beta and running statistics */
	float *bn_global; /* (bn_n) the global model's, put back after training */
	int bn_have;      /* bn_own holds a trained state (after its first round) */
};

/* strategy_bn.c, called by strategy.c */
int fcl__strategy_bn_init(struct fcl_strategy *s);
void fcl__strategy_bn_fini(struct fcl_strategy *s);
void fcl__strategy_bn_enter(struct fcl_strategy *s, struct fcl_mlp *m);
void fcl__strategy_bn_leave(struct fcl_strategy *s, struct fcl_mlp *m);
int fcl__strategy_bn_save(const struct fcl_strategy *s, FILE *f);
int fcl__strategy_bn_load(struct fcl_strategy *s, FILE *f);
uint64_t fcl__strategy_bn_checksum(const struct fcl_strategy *s);

/* The strategy's own settings: cfg.params as its params struct. */
#define FCL_STRATEGY_PARAMS(s, type) ((const type *)(const void *)(s)->cfg.params)

/* Plain masked CE on rows [r0, r0 + n) of the last forward's logits, mean
 * over n times weight, gradient into s->dz; returns weight * mean CE. */
double fcl_strategy_ce_rows(struct fcl_strategy *s, struct fcl_mlp *m, const int32_t *y, size_t r0,
			    size_t n, const uint8_t *mask, float weight);
/* MVP: the queries of B inputs x (B, dim) into q (B, *dq), for tests. */
void fcl_mvp_query(struct fcl_strategy *s, const float *x, size_t B, float *q, uint32_t *dq);

#endif /* FCL_STRATEGY_IMPL_H */
