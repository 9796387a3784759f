/* common/include/fcl/strategy.h - client-side continual-learning strategies
 *
 * A strategy is what one logical client does with its data in a round: the
 * loss it optimises and the state it keeps for the whole run (replay buffer,
 * exposed classes, Fisher, MVP keys/masks/prompts, ...). The state lives in
 * a struct fcl_strategy that the client creates once per logical client and
 * keeps across rounds, whether or not the client is sampled.
 *
 * Two loops drive a strategy (fcl_strategy_train):
 *  - online (Si-Blurry style): the round's samples arrive in stream order,
 *    stream_batch at a time; each stream batch gets online_iter SGD steps,
 *    each with a fresh replay draw of replay_batch samples; the buffer is
 *    updated (reservoir) after the steps on that batch;
 *  - offline: epochs of shuffled minibatches of batch_size over the round's
 *    samples (plus a replay draw per step); the buffer sees the first epoch.
 * With mask_unexposed, logits of classes this client has not been exposed to
 * yet are masked (-inf) in training. Offline fine-tuning without the mask is
 * plain minibatch SGD on the model's own softmax cross-entropy.
 */
#ifndef FCL_STRATEGY_H
#define FCL_STRATEGY_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fcl_mlp;
struct fcl_arch;
struct fcl_sgd;
struct fcl_dataset;

struct fcl_key;
struct fcl_scenario;
struct fcl_strategy_ops; /* fcl/strategy_impl.h */

#define FCL_METHOD_PARAMS_MAX 256

/* A strategy as a scenario chooses it: the method, the settings every
 * strategy shares, and the method's own settings (its params struct). */
struct fcl_strategy_config {
	const struct fcl_strategy_method *method;
	uint32_t memory; /* replay buffer capacity per client, in samples (0 = none) */
	int wa;          /* weight aligning of the head at each task end (any strategy) */
	_Alignas(16) unsigned char params[FCL_METHOD_PARAMS_MAX];
};

/* What a strategy file (common/src/strategy_<name>.c) exports; listed once
 * in common/src/registry.c. See docs/extending.md. */
struct fcl_strategy_method {
	const char *name;    /* strategy.name */
	const char *summary; /* one line */
	/* its own keys under strategy:, over its params (size <= FCL_METHOD_PARAMS_MAX) */
	const struct fcl_key *keys;
	size_t params_size;
	void (*defaults)(void *params);
	int takes_memory;     /* keeps a replay buffer: strategy.memory applies */
	int task_incremental; /* may run with tasks.generator task-incremental */
	uint32_t min_hidden;  /* hidden layers the model needs (a body of convolutions
			       * before the head counts as one) */
	int bias_free_head;   /* needs model.head_bias: false (the scenario check says so) */
	const struct fcl_strategy_ops *ops;
};

/* The strategy of that name, or NULL; the i-th one (NULL past the last). */
const struct fcl_strategy_method *fcl_strategy_find(const char *name);
const struct fcl_strategy_method *fcl_strategy_at(size_t i);
/* Adds a strategy at run time (tests, examples); -EEXIST or -ENOSPC. */
int fcl_strategy_register(const struct fcl_strategy_method *method);
void fcl_strategy_names(char *buf, size_t len); /* "finetune, er, ..." */

/* Defaults (docs/scenarios.md): finetune, memory 0, no weight aligning, and
 * each method's own defaults when it is chosen. */
void fcl_strategy_config_defaults(struct fcl_strategy_config *cfg);
/* Chooses a method by name with its default settings (memory and wa kept);
 * -ENOENT for an unknown name. */
int fcl_strategy_config_choose(struct fcl_strategy_config *cfg, const char *name);
/* Sets one of the method's keys ("alpha", "mvp.focal") from text, as the
 * scenario would; 0, -ENOENT or -EINVAL (why says). For tests and tools. */
int fcl_strategy_config_set(struct fcl_strategy_config *cfg, const char *key, const char *value,
			    char *why, size_t len);
const char *fcl_strategy_name(const struct fcl_strategy_config *cfg);
/* Does this strategy keep a replay buffer (when memory > 0)? */
int fcl_strategy_uses_replay(const struct fcl_strategy_config *cfg);
/* What it keeps per logical client, for memory estimates: parameter-sized
 * vectors (EWC's anchor and Fisher), and models of the trained one's size
 * (LwF's teacher, MVP's query backbone). */
uint32_t fcl_strategy_model_vectors(const struct fcl_strategy_config *cfg);
uint32_t fcl_strategy_extra_models(const struct fcl_strategy_config *cfg);
/* Bytes of replay state per buffered sample (id, task, label, DER++ logits). */
size_t fcl_strategy_bytes_per_sample(const struct fcl_strategy_config *cfg, uint32_t n_classes);

/* How a round's samples are turned into SGD steps. */
struct fcl_loop_config {
	int online;            /* 1: online loop, 0: offline epochs */
	uint32_t epochs;       /* offline */
	uint32_t batch_size;   /* offline minibatch */
	uint32_t stream_batch; /* online */
	uint32_t online_iter;  /* online: steps per stream batch */
	uint32_t replay_batch; /* replay samples per step */
	int head_bias;         /* 0: the head bias stays at zero (its gradient is dropped) */
	int mask_unexposed;    /* mask (-inf) the logits of classes not yet exposed */
	/* model.batchnorm: local (FedBN). fcl_strategy_train then trains with this
	 * logical client's own batchnorm gamma, beta and running statistics (the
	 * global model's until its first round), keeps them, and puts the global
	 * model's values back in m, so the update leaves them unchanged. */
	int bn_local;
};
/* The largest forward batch the loop will run: size fcl_mlp max_batch with it. */
size_t fcl_loop_max_batch(const struct fcl_loop_config *loop);

struct fcl_strategy; /* opaque */

/* State of one logical client for the whole run, for a model of that
 * architecture (fcl/arch.h). Returns 0, -EINVAL or -ENOMEM. */
int fcl_strategy_create_arch(const struct fcl_strategy_config *cfg,
			     const struct fcl_loop_config *loop, const struct fcl_arch *arch,
			     uint64_t seed, uint32_t client, struct fcl_strategy **out);
/* The same for an MLP. sizes: its n_layers + 1 sizes (input, hidden..., classes). */
int fcl_strategy_create(const struct fcl_strategy_config *cfg, const struct fcl_loop_config *loop,
			uint32_t n_layers, const uint32_t *sizes, uint64_t seed, uint32_t client,
			struct fcl_strategy **out);
void fcl_strategy_destroy(struct fcl_strategy *s); /* NULL-safe */

/* One round of a logical client's local training. */
struct fcl_train_round {
	const struct fcl_dataset *ds;
	const uint32_t *const
	    *perms;          /* (n_tasks) pixel permutations (entries may be NULL), or NULL */
	uint32_t task;       /* the task the samples belong to */
	const uint32_t *idx; /* (n) sample ids in stream order */
	size_t n;
	uint32_t epochs; /* offline passes this round (the online loop makes one) */
	uint32_t round;  /* seeds this round's draws */
	const uint8_t
	    *task_mask; /* task-incremental: (C) the classes the softmax covers, or NULL */
};

/* Trains from whatever parameters m holds. Every draw comes from
 * (seed, purpose, client, round) streams. Returns 0 and the mean training
 * loss in *loss, or a negative errno. With a task mask, the logits outside it
 * are set to -1e30 before the model's own softmax cross-entropy (fine-tuning
 * only: methods say whether they support it). */
int fcl_strategy_train(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
		       const struct fcl_train_round *r, float *loss);

/* Task end (the client's last round of a task, after fcl_strategy_train):
 * with cfg.wa, weight aligning (Zhao et al., 2020) rescales the head rows
 * of the classes first exposed in this task by mean |w_old| / mean |w_new|,
 * old being the classes exposed before the task. No-op otherwise. */
void fcl_strategy_end_task(struct fcl_strategy *s, struct fcl_mlp *m);

/* A logical client's state for checkpoints: what the loop keeps (exposed
 * classes, the replay buffer, samples seen) and the method's own (its save
 * op). load reads it into a strategy created with the same settings, before
 * any training: then the strategy trains on as the saved one would have,
 * bit for bit. 0, -EIO (short or unwritable file), -EINVAL (another method
 * or geometry) or -ENOMEM; after a failed load s must be destroyed. */
int fcl_strategy_save(const struct fcl_strategy *s, FILE *f);
int fcl_strategy_load(struct fcl_strategy *s, FILE *f);

/* model.batchnorm: local: the client's own batchnorm values (per batchnorm
 * layer gamma, beta, then running mean and variance), NULL before its first
 * round. */
const float *fcl_strategy_bn_state(const struct fcl_strategy *s, size_t *n);
/* How many of those values every update carries (ClientUpdate.bn): all of
 * them with model.batchnorm: local and evaluation.local_models (the server
 * evaluates each client with its own: docs/metrics.md, "FedBN"), else none. */
size_t fcl_strategy_bn_sent(const struct fcl_scenario *sc, const struct fcl_arch *a);

/* Introspection, for tests and debug events. */
uint64_t fcl_strategy_checksum(const struct fcl_strategy *s); /* buffer + state */
uint32_t fcl_strategy_buffer_fill(const struct fcl_strategy *s);
uint64_t fcl_strategy_seen(const struct fcl_strategy *s); /* stream samples seen */
uint32_t fcl_strategy_n_exposed(const struct fcl_strategy *s);

/* ---- kernels, exposed for finite-difference tests ------------------------- */

/* Masked softmax cross-entropy. z (B, C), y (B); mask (C) or NULL (all
 * classes); classes with mask[c] == 0 get probability 0. probs (B, C) and
 * ce (B) (per-sample losses) may be NULL. Returns the mean loss. */
double fcl_cl_xent(const float *z, const int32_t *y, size_t B, size_t C, const uint8_t *mask,
		   float *probs, float *ce);
/* dz += scale * w_i * (probs - onehot(y)) / B on unmasked classes; w (B) or NULL = 1. */
void fcl_cl_xent_grad(float *dz, const float *probs, const int32_t *y, size_t B, size_t C,
		      const uint8_t *mask, const float *w, float scale);

/* UER: z_ic = s * h_i.w_c / ((|h_i| + eps)(|w_c| + eps)), eps = 1e-6.
 * h (B, d), W (C, d), z (B, C). */
void fcl_uer_cos_forward(float *z, const float *h, const float *W, size_t B, size_t d, size_t C,
			 float s);
/* dh (B, d) and dW (C, d) accumulate (+=); either may be NULL. */
void fcl_uer_cos_backward(float *dh, float *dW, const float *dz, const float *h, const float *W,
			  size_t B, size_t d, size_t C, float s);

/* DER++ logit term: alpha * mean over (n, C) of (z - target)^2; dz += grad. */
double fcl_derpp_mse(float *dz, const float *z, const float *target, size_t n, size_t C,
		     float alpha);
/* LwF: lambda * T^2 * mean_i KL(softmax(zt_i/T) || softmax(z_i/T)) over the
 * classes in mask; dz += grad (zt is the teacher's, constant). */
double fcl_lwf_kd(float *dz, const float *z, const float *zt, size_t B, size_t C,
		  const uint8_t *mask, float T, float lambda);

/* MVP logits: z_ic = (W_c.f_i * inv_c_i + b_c) * g_ic, where g (B, C) is the
 * instance's mask gain 2 sigmoid(Mk_p*) (or all ones) and inv_c (B) the AFS
 * factor 1/c_i (or all ones). f (B, d), W (C, d), b (C) or NULL. */
void fcl_mvp_logits(float *z, const float *f, const float *W, const float *b, const float *g,
		    const float *inv_c, size_t B, size_t d, size_t C);
/* Gradients (+=) of the above given dz: df (B, d), dW (C, d), db (C), dg (B, C);
 * any may be NULL. inv_c is a constant (detached). */
void fcl_mvp_logits_backward(float *df, float *dW, float *db, float *dg, const float *dz,
			     const float *f, const float *W, const float *b, const float *g,
			     const float *inv_c, size_t B, size_t d, size_t C);
/* AFS: inv_c_i = 1 / (1 - cos(w_{y_i}, f_i) + margin). */
void fcl_mvp_afs(float *inv_c, const float *f, const float *W, const int32_t *y, size_t B, size_t d,
		 float margin);
/* GSF closed forms for a linear head with the logits above: gi (B, d) =
 * dCE_i/dw_{y_i} and gbar (B, d) = d(mean_j CE_j)/dw_{y_i}; score s_i =
 * 1 - cos(gi, gbar_i). probs from fcl_cl_xent. gi/gbar may be NULL. */
void fcl_mvp_gsf(float *score, float *gi, float *gbar, const float *probs, const float *f,
		 const float *g, const float *inv_c, const int32_t *y, size_t B, size_t d,
		 size_t C);
/* Key loss. keys (P, dq), q (B, dq), sel (B) selected key, mass (B) = cnt+1 of
 * the selected key (constants). contrastive: -log(A / (A + Bq) + 1e-6) with
 * A = mean_i mean_j exp(D_{sel_i j} / mass_i), D_pj = 1 - cos(k_p, k_j),
 * Bq = mean_i exp((1 - cos(q_i, k_sel_i)) / mass_i); else mean_i (1 - cos).
 * dkeys (P, dq) accumulates. Returns the loss. */
double fcl_mvp_key_loss(float *dkeys, const float *keys, const float *q, const uint32_t *sel,
			const float *mass, size_t B, size_t P, size_t dq, int contrastive);

#endif
