/* common/include/fcl/residual.h - the residual block (ResNet's BasicBlock without BatchNorm)
 *
 *   out = relu(conv2(relu(conv1(x))) + shortcut(x))
 *
 * conv1: 3x3, stride s, padding 1, C_in -> C_out; conv2: 3x3, stride 1,
 * padding 1, C_out -> C_out; shortcut: the identity when s == 1 and
 * C_in == C_out, else a 1x1 convolution with stride s (a projection). No
 * biases (ResNet's convolutions have none; with BatchNorm they would be
 * redundant). Parameters in the model's buffer from the layer's w_off:
 * W1 (C_out, C_in*9), W2 (C_out, C_out*9), then Ws (C_out, C_in) when the
 * shortcut is a projection, each in the im2col order of fcl/layers.h.
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
};

int fcl_residual_has_projection(uint32_t c_in, uint32_t c_out, uint32_t stride);
/* Parameters of a block (all weights). */
size_t fcl_residual_params(uint32_t c_in, uint32_t c_out, uint32_t stride);
void fcl_residual_geom(struct fcl_residual_geom *g, const struct fcl_layer *L);
/* Floats of the largest patch matrix of the block's convolutions. */
size_t fcl_residual_col_floats(const struct fcl_residual_geom *g);

/* out (B, co, ho, wo) and mid (B, co, ho, wo) = relu(conv1(x)), kept for backward. */
void fcl_residual_forward(float *out, float *mid, const float *x, const float *params,
			  float *col, size_t B, const struct fcl_residual_geom *g);
/* d (B, co, ho, wo), the gradient of out, is overwritten; grads += the
 * weights' gradients; dx (B, ci, h, w) = the input's gradient when not NULL.
 * dmid is a scratch of mid's size. */
void fcl_residual_backward(float *dx, float *grads, float *d, float *dmid, const float *x,
			   const float *mid, const float *out, const float *params, float *col,
			   size_t B, const struct fcl_residual_geom *g);

#endif
