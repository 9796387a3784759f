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
 * bit for bit the plain minibatch SGD of fcl_train_epochs.
 */
#ifndef FCL_STRATEGY_H
#define FCL_STRATEGY_H
#include <stddef.h>
#include <stdint.h>

struct fcl_mlp;
struct fcl_sgd;
struct fcl_dataset;

enum fcl_strategy_kind {
	FCL_STRATEGY_FINETUNE,
	FCL_STRATEGY_ER,     /* CE over the concatenated stream + replay batch */
	FCL_STRATEGY_ER_ACE, /* CE(new, classes of the batch) + CE(replay, exposed) */
	FCL_STRATEGY_DERPP,  /* CE(new) + alpha MSE(logits, stored) + beta CE(replay) */
	FCL_STRATEGY_LWF,    /* CE(new) + lambda KD_T(global model, model) on old classes */
	FCL_STRATEGY_EWC,    /* CE + lambda sum F (theta - theta_round_start)^2, online F */
	FCL_STRATEGY_UER,    /* scaled cosine CE(new) + dot-product CE(replay) */
	FCL_STRATEGY_MVP,    /* keys, masks, prompts, GSF focal loss, AFS, key loss */
	FCL_STRATEGY_GDUMB,  /* class-balanced greedy buffer; retrain from the initial model */
};

enum fcl_mvp_focal { FCL_MVP_FOCAL_SAMPLE, FCL_MVP_FOCAL_BATCH, FCL_MVP_FOCAL_OFF };
enum fcl_mvp_query {
	FCL_MVP_QUERY_PROJECTION, /* q = R x, a fixed random projection */
	FCL_MVP_QUERY_BACKBONE,   /* q = h(x) of a frozen copy of the MLP after a warm-up */
};

struct fcl_strategy_config {
	enum fcl_strategy_kind kind;
	uint32_t memory;   /* replay buffer capacity per client, in samples (0 = none) */
	float alpha, beta; /* DER++ weights of the logit MSE and of the replay CE */
	float lambda;      /* LwF distillation weight; EWC penalty weight */
	float temperature; /* LwF */
	float decay;       /* EWC: Fisher EMA factor (F = decay F + (1 - decay) g^2) */
	float scale;       /* UER cosine-logit scale s */
	int wa;            /* weight aligning of the head at each task end (any strategy) */
	uint32_t epochs;   /* GDumb: epochs over the buffer in each round */
	struct {
		uint32_t pool; /* keys / e-prompts P */
		enum fcl_mvp_query query;
		uint32_t query_dim; /* random-projection query size */
		uint32_t warmup;    /* backbone query: stream samples before the copy is frozen */
		float alpha, gamma, margin;
		enum fcl_mvp_focal focal;
		int afs;         /* adaptive feature scaling in training */
		int contrastive; /* contrastive key loss (else the L2P pull term) */
		int mask;        /* learned class-wise logit masks */
	} mvp;
};

/* Defaults (docs/scenarios.md): finetune, memory 0, alpha 0.3, beta 0.5,
 * lambda 1, T 2, decay 0.9, scale 1/0.09, MVP P 10, projection query of
 * size 64 (backbone warm-up 1000 samples), alpha 0.5,
 * gamma 2, margin 0.5, per-sample focal, AFS, contrastive, masks on. */
void fcl_strategy_config_defaults(struct fcl_strategy_config *cfg);
const char *fcl_strategy_kind_name(enum fcl_strategy_kind kind);
/* Does this strategy keep a replay buffer (when memory > 0)? */
int fcl_strategy_uses_replay(const struct fcl_strategy_config *cfg);
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
};
/* The largest forward batch the loop will run: size fcl_mlp max_batch with it. */
size_t fcl_loop_max_batch(const struct fcl_loop_config *loop);

struct fcl_strategy; /* opaque */

/* State of one logical client for the whole run. sizes: the MLP's n_layers + 1
 * sizes (input, hidden..., classes). Returns 0, -EINVAL or -ENOMEM. */
int fcl_strategy_create(const struct fcl_strategy_config *cfg, const struct fcl_loop_config *loop,
			uint32_t n_layers, const uint32_t *sizes, uint64_t seed, uint32_t client,
			struct fcl_strategy **out);
void fcl_strategy_destroy(struct fcl_strategy *s); /* NULL-safe */

/* One round of local training on idx (n) in stream order, from whatever
 * parameters m holds. perms (n_tasks, entries may be NULL) are the pixel
 * permutations of the tasks; task is the task the samples belong to.
 * Every draw comes from (seed, purpose, client, round) streams.
 * Returns 0 and the mean training loss in *loss, or a negative errno. */
int fcl_strategy_train(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
		       const struct fcl_dataset *ds, const uint32_t *const *perms, uint32_t task,
		       const uint32_t *idx, size_t n, uint32_t round, float *loss);
/* The same with the offline loop's number of passes given for this round
 * (the schedule's epochs); the online loop always makes one pass. */
int fcl_strategy_train_epochs(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
			      const struct fcl_dataset *ds, const uint32_t *const *perms,
			      uint32_t task, const uint32_t *idx, size_t n, uint32_t epochs,
			      uint32_t round, float *loss);

/* Task end (the client's last round of a task, after fcl_strategy_train):
 * with cfg.wa, weight aligning (Zhao et al., 2020) rescales the head rows
 * of the classes first exposed in this task by mean |w_old| / mean |w_new|,
 * old being the classes exposed before the task. No-op otherwise. */
void fcl_strategy_end_task(struct fcl_strategy *s, struct fcl_mlp *m);

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
