/* common/include/fcl/residual.h - the residual block (ResNet's BasicBlock), with or
 * without BatchNorm
 *
 *   out = relu(conv2(relu(conv1(x))) + shortcut(x))                  (FOT's)
 *   out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))        (norm: batchnorm)
 *
 * conv1: 3x3, stride s, padding 1, C_in -> C_out; conv2: 3x3, stride 1,
 * padding 1, C_out -> C_out; shortcut: the identity when s == 1 and
 * C_in == C_out, else a 1x1 convolution with stride s (a projection), followed
 * by its own BatchNorm (bn_s) in the BatchNorm block. No biases (ResNet's
 * convolutions have none; with BatchNorm they would be redundant). Parameters
 * in the model's buffer from the layer's w_off: W1 (C_out, C_in*9), W2
 * (C_out, C_out*9), then Ws (C_out, C_in) when the shortcut is a projection,
 * each in the im2col order of fcl/layers.h; with BatchNorm then gamma, beta
 * (C_out each) of bn1, bn2 (and bn_s). Their running mean and variance (C_out
 * each, in the same order) sit with the statistics at the buffer's tail, at
 * the layer's s_off (fcl/arch.h), as a batchnorm layer's do.
 */
#ifndef FCL_RESIDUAL_H
#define FCL_RESIDUAL_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/arch.h"
#include "fcl/layers.h"

/* The block's three convolutions (shortcut.k == 0: the identity). */
struct fcl_residual_geom {
	struct fcl_conv_geom c1, c2, sc;
	size_t w1, w2, ws; /* offsets of W1, W2, Ws in the parameter buffer */
	uint32_t n_bn;     /* BatchNorms: 0, or 2 (bn1, bn2) and 3 with bn_s */
	size_t bn_at;      /* gamma, beta of BatchNorm k at bn_at + 2 C_out k */
	size_t st_at;      /* its running mean, variance at st_at + 2 C_out k */
};

/* What a block's forward keeps for its backward, and its scratch. */
struct fcl_residual_bufs {
	float *mid;  /* (B, co, ho, wo): relu(conv1(x)), or relu(bn1(conv1(x))) */
	float *tmp;  /* n = B co ho wo floats of scratch, 2n with BatchNorm */
	float *col;  /* fcl_residual_col_floats */
	float *xhat; /* with BatchNorm: n_bn x n, each one's normalised input */
	float *rstd; /* with BatchNorm: n_bn x co, each one's 1 / std */
};

int fcl_residual_has_projection(uint32_t c_in, uint32_t c_out, uint32_t stride);
/* The BatchNorms of a block (0 without bn). */
uint32_t fcl_residual_norms(uint32_t c_in, uint32_t c_out, uint32_t stride, int bn);
/* Trained parameters of a block (weights, and gamma, beta with bn). */
size_t fcl_residual_params(uint32_t c_in, uint32_t c_out, uint32_t stride, int bn);
void fcl_residual_geom(struct fcl_residual_geom *g, const struct fcl_layer *L);
/* Floats of the largest patch matrix of the block's convolutions. */
size_t fcl_residual_col_floats(const struct fcl_residual_geom *g);

/* out (B, co, ho, wo); b->mid and, with BatchNorm, b->xhat and b->rstd are
 * kept for backward. train: BatchNorm normalises with the batch statistics and
 * moves the running ones in params (else it normalises with the running ones). */
void fcl_residual_forward(float *out, const float *x, float *params,
			  const struct fcl_residual_bufs *b, size_t B,
			  const struct fcl_residual_geom *g, int train);
/* The training-mode gradient. d (B, co, ho, wo), the gradient of out, is
 * overwritten; grads += the block's parameters' gradients; dx (B, ci, h, w) =
 * the input's gradient when not NULL. */
void fcl_residual_backward(float *dx, float *grads, float *d, const float *x, const float *out,
			   const float *params, const struct fcl_residual_bufs *b, size_t B,
			   const struct fcl_residual_geom *g);

#endif
