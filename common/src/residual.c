/* common/src/residual.c - the residual block's forward and backward (fcl/residual.h) */
#include "fcl/residual.h"

#include "fcl/model.h"
#include "fcl/norm.h"

#include <cblas.h>
#include <string.h>

int fcl_residual_has_projection(uint32_t c_in, uint32_t c_out, uint32_t stride)
{
	return stride != 1 || c_in != c_out;
}

uint32_t fcl_residual_norms(uint32_t c_in, uint32_t c_out, uint32_t stride, int bn)
{
	return bn ? 2 + (uint32_t)fcl_residual_has_projection(c_in, c_out, stride) : 0;
}

size_t fcl_residual_params(uint32_t c_in, uint32_t c_out, uint32_t stride, int bn)
{
	size_t n = (size_t)c_out * c_in * 9 + (size_t)c_out * c_out * 9;
	if (fcl_residual_has_projection(c_in, c_out, stride))
		n += (size_t)c_out * c_in;
	return n + 2 * (size_t)c_out * fcl_residual_norms(c_in, c_out, stride, bn);
}

void fcl_residual_geom(struct fcl_residual_geom *g, const struct fcl_layer *L)
{
	uint32_t ci = L->in.c, co = L->out.c, s = L->s.stride;

	memset(g, 0, sizeof *g);
	g->c1 = (struct fcl_conv_geom){.ci = ci, .h = L->in.h, .w = L->in.w, .co = co,
				       .ho = L->out.h, .wo = L->out.w, .k = 3, .stride = s, .pad = 1};
	g->c2 = (struct fcl_conv_geom){.ci = co, .h = L->out.h, .w = L->out.w, .co = co,
				       .ho = L->out.h, .wo = L->out.w, .k = 3, .stride = 1, .pad = 1};
	if (fcl_residual_has_projection(ci, co, s))
		g->sc = (struct fcl_conv_geom){.ci = ci, .h = L->in.h, .w = L->in.w, .co = co,
					       .ho = L->out.h, .wo = L->out.w, .k = 1, .stride = s};
	g->w1 = L->w_off;
	g->w2 = g->w1 + (size_t)co * ci * 9;
	g->ws = g->w2 + (size_t)co * co * 9;
	g->n_bn = fcl_residual_norms(ci, co, s, L->s.bn);
	g->bn_at = g->ws + (g->sc.k ? (size_t)co * ci : 0);
	g->st_at = L->s_off;
}

size_t fcl_residual_col_floats(const struct fcl_residual_geom *g)
{
	size_t a = fcl_conv_col_floats(&g->c1), b = fcl_conv_col_floats(&g->c2);
	size_t c = g->sc.k ? fcl_conv_col_floats(&g->sc) : 0;
	a = b > a ? b : a;
	return c > a ? c : a;
}

/* y (B, co, ho, wo) += the 1x1 projection of x. */
static void projection_add(float *y, const float *x, const float *w, float *col, size_t B,
			   const struct fcl_conv_geom *g)
{
	int K = (int)g->ci, P = (int)(g->ho * g->wo), M = (int)g->co;
	size_t in = (size_t)g->ci * g->h * g->w, out = (size_t)M * P;

	for (size_t i = 0; i < B; i++) {
		const float *pi = x + i * in;
		if (g->stride != 1) {
			fcl_im2col(col, pi, g);
			pi = col;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, P, K, 1.0f, w, K, pi, P,
			    1.0f, y + i * out, P);
	}
}

static size_t out_floats(const struct fcl_residual_geom *g, size_t B)
{
	return B * g->c1.co * g->c1.ho * g->c1.wo;
}

/* BatchNorm k of the block (0: bn1, 1: bn2, 2: bn_s) on v (B, co, ho, wo), in place. */
static void bn_forward(float *v, float *params, const struct fcl_residual_bufs *b, size_t B,
		       const struct fcl_residual_geom *g, uint32_t k, int train)
{
	size_t co = g->c1.co, hw = (size_t)g->c1.ho * g->c1.wo;
	float *gb = params + g->bn_at + 2 * co * k, *st = params + g->st_at + 2 * co * k;

	fcl_batchnorm_forward(v, b->xhat + k * out_floats(g, B), b->rstd + k * co, v, gb, gb + co,
			      st, st + co, B, co, hw, train);
}

/* dx = the gradient of BatchNorm k's input from dy (dx may be dy); grads += gamma's, beta's. */
static void bn_backward(float *dx, const float *dy, float *grads, const float *params,
			const struct fcl_residual_bufs *b, size_t B,
			const struct fcl_residual_geom *g, uint32_t k)
{
	size_t co = g->c1.co, hw = (size_t)g->c1.ho * g->c1.wo, at = g->bn_at + 2 * co * k;

	fcl_batchnorm_backward(dx, grads + at, grads + at + co, dy, b->xhat + k * out_floats(g, B),
			       b->rstd + k * co, params + at, B, co, hw);
}

void fcl_residual_forward(float *out, const float *x, float *params,
			  const struct fcl_residual_bufs *b, size_t B,
			  const struct fcl_residual_geom *g, int train)
{
	size_t n = out_floats(g, B);
	float *mid = b->mid;

	fcl_conv2d_forward(mid, x, params + g->w1, NULL, b->col, B, &g->c1);
	if (g->n_bn)
		bn_forward(mid, params, b, B, g, 0, train);
	fcl_relu_forward(mid, mid, n);
	fcl_conv2d_forward(out, mid, params + g->w2, NULL, b->col, B, &g->c2);
	if (g->n_bn)
		bn_forward(out, params, b, B, g, 1, train);
	if (g->sc.k && g->n_bn) { /* bn_s(conv_s(x)) apart, then added */
		memset(b->tmp, 0, n * sizeof(float));
		projection_add(b->tmp, x, params + g->ws, b->col, B, &g->sc);
		bn_forward(b->tmp, params, b, B, g, 2, train);
		for (size_t k = 0; k < n; k++)
			out[k] += b->tmp[k];
	} else if (g->sc.k) {
		projection_add(out, x, params + g->ws, b->col, B, &g->sc);
	} else {
		for (size_t k = 0; k < n; k++)
			out[k] += x[k];
	}
	fcl_relu_forward(out, out, n);
}

/* dx (B, ci, h, w) += the input gradient of the projection at dy. */
static void projection_dx_add(float *dx, const float *dy, const float *w, float *col, size_t B,
			      const struct fcl_conv_geom *g)
{
	int K = (int)g->ci, P = (int)(g->ho * g->wo), M = (int)g->co;
	size_t in = (size_t)g->ci * g->h * g->w, out = (size_t)M * P;

	for (size_t i = 0; i < B; i++) {
		if (g->stride == 1) { /* the patches are the input itself */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, M, 1.0f, w, K,
				    dy + i * out, P, 1.0f, dx + i * in, P);
			continue;
		}
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, M, 1.0f, w, K,
			    dy + i * out, P, 0.0f, col, P);
		fcl_col2im_add(dx + i * in, col, g);
	}
}

void fcl_residual_backward(float *dx, float *grads, float *d, const float *x, const float *out,
			   const float *params, const struct fcl_residual_bufs *b, size_t B,
			   const struct fcl_residual_geom *g)
{
	size_t n = out_floats(g, B);
	const float *d2 = d; /* the gradient of conv2's output */
	float *dmid = b->tmp;

	/* through the last ReLU; d is then the gradient of both branches' sum */
	fcl_relu_backward(d, d, out, n);
	if (g->n_bn) { /* d stays for the shortcut */
		bn_backward(b->tmp, d, grads, params, b, B, g, 1);
		d2 = b->tmp;
		dmid = b->tmp + n;
	}
	fcl_conv2d_backward(dmid, grads + g->w2, NULL, d2, b->mid, params + g->w2, b->col, B,
			    &g->c2);
	fcl_relu_backward(dmid, dmid, b->mid, n);
	if (g->n_bn)
		bn_backward(dmid, dmid, grads, params, b, B, g, 0);
	fcl_conv2d_backward(dx, grads + g->w1, NULL, dmid, x, params + g->w1, b->col, B, &g->c1);
	if (g->sc.k) {
		if (g->n_bn)
			bn_backward(d, d, grads, params, b, B, g, 2);
		fcl_conv2d_backward(NULL, grads + g->ws, NULL, d, x, params + g->ws, b->col, B,
				    &g->sc);
		if (dx)
			projection_dx_add(dx, d, params + g->ws, b->col, B, &g->sc);
	} else if (dx) {
		for (size_t k = 0; k < n; k++)
			dx[k] += d[k];
	}
}
