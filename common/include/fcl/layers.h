/* common/include/fcl/layers.h - the math of the spatial layers, on (B, C, H, W) batches
 *
 * Convolutions go through im2col and cblas_sgemm, one sample at a time, with
 * a patch buffer the caller owns (fcl_conv_col_floats): nothing is allocated
 * per step. im2col rows are (c_in, kh, kw), columns (oh, ow), so the weight
 * (C_out, C_in*kh*kw) is exactly the matrix FOT projects. Exposed for the
 * finite-difference tests; fcl/model.h runs them in a network.
 */
#ifndef FCL_LAYERS_H
#define FCL_LAYERS_H
#include <stddef.h>
#include <stdint.h>

struct fcl_conv_geom {
	uint32_t ci, h, w;   /* input */
	uint32_t co, ho, wo; /* output */
	uint32_t k, stride, pad;
};

/* Floats of one sample's patch matrix (ci*k*k, ho*wo). */
size_t fcl_conv_col_floats(const struct fcl_conv_geom *g);
/* col (ci*k*k, ho*wo) = the patches of x (ci, h, w), zero outside. */
void fcl_im2col(float *col, const float *x, const struct fcl_conv_geom *g);
/* dx (ci, h, w) += col2im(dcol) */
void fcl_col2im_add(float *dx, const float *dcol, const struct fcl_conv_geom *g);

/* y (B, co, ho, wo) = conv(x (B, ci, h, w), w (co, ci*k*k)) + b (co, or NULL). */
void fcl_conv2d_forward(float *y, const float *x, const float *w, const float *b, float *col,
			size_t B, const struct fcl_conv_geom *g);
/* The same, keeping each sample's patches in kept (B, ci*k*k, ho*wo) when not
 * NULL, for the backward to reuse instead of building them again. */
void fcl_conv2d_forward_keep(float *y, const float *x, const float *w, const float *b,
			     float *col, float *kept, size_t B, const struct fcl_conv_geom *g);
/* dw += ...; db += ... (db may be NULL); dx = ... (dx may be NULL). */
void fcl_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			 const float *w, float *col, size_t B, const struct fcl_conv_geom *g);
/* The same, reading the patches from kept (fcl_conv2d_forward_keep's) when not NULL. */
void fcl_conv2d_backward_ex(float *dx, float *dw, float *db, const float *dy, const float *x,
			    const float *w, float *col, const float *kept, size_t B,
			    const struct fcl_conv_geom *g);

/* Pools over k x k windows every stride, no padding; planes = B * C. */
void fcl_maxpool_forward(float *y, int32_t *arg, const float *x, size_t planes,
			 const struct fcl_conv_geom *g);
void fcl_maxpool_backward(float *dx, const float *dy, const int32_t *arg, size_t planes,
			  const struct fcl_conv_geom *g);
void fcl_avgpool_forward(float *y, const float *x, size_t planes, const struct fcl_conv_geom *g);
void fcl_avgpool_backward(float *dx, const float *dy, size_t planes,
			  const struct fcl_conv_geom *g);
/* Global average pool: y (planes) = mean of each (hw) plane of x. */
void fcl_gap_forward(float *y, const float *x, size_t planes, size_t hw);
void fcl_gap_backward(float *dx, const float *dy, size_t planes, size_t hw);

#endif
