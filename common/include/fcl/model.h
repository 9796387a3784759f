/* common/include/fcl/model.h - a network of layers on one flat buffer
 *
 * A model is an architecture (fcl/arch.h): a body of spatial layers
 * (convolutions, pooling, ReLU, flatten) and a dense stack on its flat output.
 * The fields below named after the MLP (n_layers, sizes, w_offset, b_offset,
 * acts) describe the dense stack, which is all an MLP has: acts[0] is the
 * body's output (the input itself for an MLP).
 *
 * Layout of params (and of grads, which mirrors it): the body's parameters
 * (fcl/arch.h), then for dense layer l with fan-in n_in and fan-out n_out:
 * W_l (n_out, n_in) row-major, then b_l (n_out) (held at 0 for a dense layer
 * without bias). Hidden dense layers use ReLU, then their dropout if the list
 * has one (arch.dense_drop; in training mode only); the last layer gives
 * logits for softmax cross-entropy. Every dense product and convolution goes through
 * cblas_sgemm.
 */
#ifndef FCL_MODEL_H
#define FCL_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/arch.h"
#include "fcl/rng.h"

#define FCL_MLP_MAX_LAYERS FCL_ARCH_MAX_DENSE

struct fcl_mlp {
	uint32_t n_layers;                      /* dense layers */
	uint32_t sizes[FCL_MLP_MAX_LAYERS + 1]; /* sizes[0] input ... sizes[n_layers] classes */
	size_t w_offset[FCL_MLP_MAX_LAYERS];    /* into params/grads */
	size_t b_offset[FCL_MLP_MAX_LAYERS];
	size_t n_params;
	float *params; /* (n_params) owned */
	float *grads;  /* (n_params) owned, same layout */
	/* Activations kept by forward for backward, sized for max_batch. */
	size_t max_batch;
	float *acts[FCL_MLP_MAX_LAYERS + 1]; /* acts[0] aliases the input; acts[l] (B, sizes[l]) */
	float *dacts[2];                     /* two ping-pong (B, max width) gradient buffers */
	float *probs;                        /* (B, classes) softmax output */
	/* The body (arch.n_body layers before the dense stack). */
	struct fcl_arch arch;
	float *bout[FCL_ARCH_MAX_LAYERS];    /* (B, out) each; flatten aliases its input */
	int32_t *barg[FCL_ARCH_MAX_LAYERS];  /* max-pool: the argmax of each output */
	float *col;                          /* one sample's patches, the largest conv's */
	float *kept[FCL_ARCH_MAX_LAYERS];    /* conv: the forward's patches (B, col), or NULL */
	const float *x;                      /* the last forward's input */
	/* grads holds zeros: the training loop's SGD step cleared them as it read
	 * them (fcl_sgd_step_clear), so its next step need not zero them; any
	 * backward resets it. */
	int grads_clean;
	/* When set (the training loop, for a step that writes grads only through
	 * one backward), each layer's SGD update runs right after its backward,
	 * while its gradient is still in cache; updated[i] marks arch layer i's. */
	struct fcl_sgd *fused;
	uint8_t updated[FCL_ARCH_MAX_LAYERS];
	uint32_t dense_layer[FCL_MLP_MAX_LAYERS]; /* the arch layer of dense layer l */
	/* Residual blocks (fcl/residual.h): each one's inner ReLU output, and a
	 * scratch for its gradient, sized for the largest block. */
	float *rmid[FCL_ARCH_MAX_LAYERS];
	float *rtmp;
	/* Dropout and the norms (fcl/norm.h). */
	float *baux[FCL_ARCH_MAX_LAYERS]; /* (B, out): dropout's mask, a norm's xhat */
	float *bstd[FCL_ARCH_MAX_LAYERS]; /* a norm's 1/std: (B, groups) or (C) */
	size_t n_trained;                 /* params [0, n_trained) are trained (fcl/arch.h) */
	/* Dropout after hidden dense layer l: its mask (B, sizes[l + 1]), NULL
	 * without one; dmasked[l]: the last forward applied it (training mode). */
	float *dmask[FCL_MLP_MAX_LAYERS];
	uint8_t dmasked[FCL_MLP_MAX_LAYERS];
	int train;           /* 1: training forward (dropout on, batch statistics); 0: evaluation */
	struct fcl_rng drop; /* the training forward's dropout masks */
};

/* The model of an architecture (fcl_arch_compile). Returns 0, -EINVAL or -ENOMEM. */
int fcl_model_init(struct fcl_mlp *m, const struct fcl_arch *arch, size_t max_batch);
/* The bytes fcl_model_init allocates for arch and max_batch (parameters,
 * gradients, activations, scratch), without allocating: for estimates. */
size_t fcl_model_bytes(const struct fcl_arch *arch, size_t max_batch);
/* Training mode for the steps that follow, or evaluation mode (on 0, the
 * state after init): with on, dropout draws from the stream of (seed, client,
 * round, step), so a step's masks do not depend on the process that runs it. */
void fcl_model_set_train(struct fcl_mlp *m, int on, uint64_t seed, uint32_t client, uint32_t round,
			 uint64_t step);
/* Forward through the body only: acts[0] gets its output (x itself without a body). */
void fcl_model_body_forward(struct fcl_mlp *m, const float *x, size_t batch);

/* Hidden dense layer l's activation, in place on acts[l + 1] (B rows): ReLU,
 * then its dropout in training mode. For forwards written outside this file
 * (MVP's prompted one). */
void fcl_model_hidden_act(struct fcl_mlp *m, uint32_t l, size_t B);

/* An MLP. sizes: n_layers + 1 entries (input, hidden..., classes). Returns 0, -EINVAL or -ENOMEM. */
int fcl_mlp_init(struct fcl_mlp *m, uint32_t n_layers, const uint32_t *sizes, size_t max_batch);
void fcl_mlp_fini(struct fcl_mlp *m);
/* PyTorch's nn.Linear and nn.Conv2d default: W and b uniform in +-1/sqrt(fan_in),
 * drawn from rng, layer by layer in the buffer's order (biases of layers
 * without one: 0, no draw). */
void fcl_mlp_init_params(struct fcl_mlp *m, struct fcl_rng *rng);

/* x: (batch, sizes[0]), kept borrowed until backward. Returns the logits (batch, classes). */
const float *fcl_mlp_forward(struct fcl_mlp *m, const float *x, size_t batch);
/* Softmax cross-entropy of the last forward's logits against y (batch): mean loss.
 * Also leaves softmax probabilities in m->probs. */
float fcl_mlp_loss(struct fcl_mlp *m, const int32_t *y, size_t batch);
/* Backward of mean softmax cross-entropy after fcl_mlp_loss (the gradient
 * of the logits replaces m->probs); accumulates (+=) into grads. */
void fcl_mlp_backward(struct fcl_mlp *m, const int32_t *y, size_t batch);

/* Called with the gradient of dense layer l's pre-activation output (B, sizes[l+1]). */
typedef void (*fcl_mlp_preact_hook)(void *ctx, uint32_t layer, const float *dpre, size_t B);
/* Backpropagates the last forward from dz (B, classes), the gradient of the
 * logits, into the head (dW, db and the features' gradient), adds dh_extra
 * (B, sizes[n_layers - 1]) to the features' gradient when not NULL, then goes
 * through the hidden layers, calling hook (if any) at each, and the body. dz may be NULL
 * (dh_extra only). dz must not be m->dacts[0/1]. Accumulates into grads. */
void fcl_mlp_backward_logits(struct fcl_mlp *m, const float *dz, const float *dh_extra, size_t B,
			     fcl_mlp_preact_hook hook, void *ctx);
void fcl_mlp_zero_grad(struct fcl_mlp *m);
/* Ends a step with m->fused set: the SGD update (fcl_sgd_update_range) of
 * every layer its backward did not reach, then m->fused = NULL. */
void fcl_mlp_fused_finish(struct fcl_mlp *m);

/* Reference pieces, exposed for finite-difference tests. */
/* y (B, n_out) = x (B, n_in) W^T (n_out, n_in) + b */
void fcl_dense_forward(float *y, const float *x, const float *w, const float *b, size_t batch,
		       size_t n_in, size_t n_out);
/* dx (B, n_in) = dy W (dx may be NULL); dW += dy^T x; db += sum dy */
void fcl_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			const float *w, size_t batch, size_t n_in, size_t n_out);
void fcl_relu_forward(float *y, const float *x, size_t n);
/* dx = dy * (y > 0); in place allowed */
void fcl_relu_backward(float *dx, const float *dy, const float *y, size_t n);
/* Mean cross-entropy; probs (B, C) gets softmax(logits). */
float fcl_softmax_xent_forward(float *probs, const float *logits, const int32_t *y, size_t batch,
			       size_t classes);
/* dlogits = (probs - onehot(y)) / batch */
void fcl_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *y, size_t batch,
			       size_t classes);

/* SGD with momentum and (coupled, L2) weight decay, as torch.optim.SGD. */
struct fcl_sgd {
	float lr, momentum, weight_decay;
	float *velocity; /* (n_params) owned, NULL until momentum > 0 is first used */
	size_t n;
	/* A rule's term added to every gradient (fcl/rule.h before_train): called
	 * with g = grads + weight_decay * params, to add to g in place. NULL: none. */
	void (*grad_hook)(void *ctx, const float *params, float *g, size_t n);
	void *hook_ctx;
};
void fcl_sgd_init(struct fcl_sgd *opt, float lr, float momentum, float weight_decay);
void fcl_sgd_fini(struct fcl_sgd *opt);
void fcl_sgd_reset(struct fcl_sgd *opt); /* forget the velocity (the hook stays) */
/* params -= lr * (momentum) (grads + weight_decay params + hook term); grads may
 * be overwritten when a hook is set. */
int fcl_sgd_step(struct fcl_sgd *opt, float *params, float *grads, size_t n);
/* The same, leaving zeros in grads: the next step's zeroing, in the same pass. */
int fcl_sgd_step_clear(struct fcl_sgd *opt, float *params, float *grads, size_t n);
/* Makes the velocity (with momentum) for n parameters; 0 or -ENOMEM. */
int fcl_sgd_ready(struct fcl_sgd *opt, size_t n);
/* fcl_sgd_step_clear on params/grads [off, off + n), without a hook. */
void fcl_sgd_update_range(const struct fcl_sgd *opt, float *params, float *grads, size_t off,
			  size_t n);

#endif
