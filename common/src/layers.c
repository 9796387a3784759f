/* common/src/layers.c - convolution (im2col + sgemm), pooling */
#include "fcl/layers.h"

#include <cblas.h>
#include <string.h>

size_t fcl_conv_col_floats(const struct fcl_conv_geom *g)
{
	return (size_t)g->ci * g->k * g->k * g->ho * g->wo;
}

/* The output columns ox whose input column ox * stride + kx - pad is inside
 * 0..w-1: [*lo, *hi). */
static void valid_cols(const struct fcl_conv_geom *g, uint32_t kx, uint32_t *lo, uint32_t *hi)
{
	long a = (long)g->pad - (long)kx; /* ox * stride >= a */
	long b = (long)g->w + (long)g->pad - (long)kx; /* ox * stride < b */
	long l = a <= 0 ? 0 : (a + g->stride - 1) / g->stride;
	long h = b <= 0 ? 0 : (b + g->stride - 1) / g->stride;
	l = l > (long)g->wo ? (long)g->wo : l;
	h = h > (long)g->wo ? (long)g->wo : h;
	*lo = (uint32_t)l;
	*hi = (uint32_t)(h < l ? l : h);
}

/* The padded-plane paths below copy each input plane into a zero-bordered
 * (h + 2 pad) x (w + 2 pad) buffer on the stack, so every patch row is a plain
 * strided copy (or add) with no bounds logic; larger planes, or geometries
 * whose windows run past the padded plane, take the bounds-checked loops. */
#define PADDED_MAX 4096

static int padded_fits(const struct fcl_conv_geom *g)
{
	size_t ph = (size_t)g->h + 2 * g->pad, pw = (size_t)g->w + 2 * g->pad;
	return ph * pw <= PADDED_MAX && g->ho > 0 && g->wo > 0 &&
	       ((size_t)g->ho - 1) * g->stride + g->k <= ph &&
	       ((size_t)g->wo - 1) * g->stride + g->k <= pw;
}

/* buf's interior (rows pad.., columns pad..) = plane; the border is left as is. */
static void pad_plane(float *restrict buf, const float *restrict plane,
		      const struct fcl_conv_geom *g)
{
	size_t pw = (size_t)g->w + 2 * g->pad;
	for (uint32_t y = 0; y < g->h; y++)
		memcpy(buf + (y + g->pad) * pw + g->pad, plane + (size_t)y * g->w,
		       g->w * sizeof(float));
}

/* GCC makes each short row copy (14 or 28 floats in the cnn preset) a memmove
 * call; inline vector moves are faster for the 14-float rows that dominate. */
#if defined(__GNUC__) && !defined(__clang__)
#define INLINE_ROW_COPIES __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define INLINE_ROW_COPIES
#endif

INLINE_ROW_COPIES
static void im2col_padded(float *restrict col, const float *x, const struct fcl_conv_geom *g)
{
	float buf[PADDED_MAX];
	size_t P = (size_t)g->ho * g->wo, pw = (size_t)g->w + 2 * g->pad;
	size_t s = g->stride, wo = g->wo;

	if (g->pad) /* the border stays zero: only the interior is rewritten */
		memset(buf, 0, ((size_t)g->h + 2 * g->pad) * pw * sizeof(float));
	for (uint32_t c = 0; c < g->ci; c++) {
		const float *pp = x + (size_t)c * g->h * g->w;
		if (g->pad) {
			pad_plane(buf, pp, g);
			pp = buf;
		}
		for (uint32_t ky = 0; ky < g->k; ky++)
			for (uint32_t kx = 0; kx < g->k; kx++) {
				float *r = col + (((size_t)c * g->k + ky) * g->k + kx) * P;
				for (uint32_t oy = 0; oy < g->ho; oy++, r += wo) {
					const float *src = pp + ((size_t)oy * s + ky) * pw + kx;
					if (s == 1)
						for (size_t ox = 0; ox < wo; ox++)
							r[ox] = src[ox];
					else
						for (size_t ox = 0; ox < wo; ox++)
							r[ox] = src[ox * s];
				}
			}
	}
}

void fcl_im2col(float *col, const float *x, const struct fcl_conv_geom *g)
{
	size_t P = (size_t)g->ho * g->wo;

	if (padded_fits(g)) {
		im2col_padded(col, x, g);
		return;
	}
	for (uint32_t c = 0; c < g->ci; c++)
		for (uint32_t ky = 0; ky < g->k; ky++)
			for (uint32_t kx = 0; kx < g->k; kx++) {
				float *row = col + (((size_t)c * g->k + ky) * g->k + kx) * P;
				const float *plane = x + (size_t)c * g->h * g->w;
				uint32_t lo, hi;
				valid_cols(g, kx, &lo, &hi);
				for (uint32_t oy = 0; oy < g->ho; oy++) {
					long iy = (long)oy * g->stride + ky - g->pad;
					float *r = row + (size_t)oy * g->wo;
					if (iy < 0 || iy >= (long)g->h) {
						memset(r, 0, g->wo * sizeof(float));
						continue;
					}
					/* input column of output column lo: inside the plane */
					const float *src = plane + (size_t)iy * g->w +
							   ((size_t)lo * g->stride + kx - g->pad);
					for (uint32_t ox = 0; ox < lo; ox++)
						r[ox] = 0.0f;
					if (g->stride == 1)
						memcpy(r + lo, src, (hi - lo) * sizeof(float));
					else
						for (uint32_t ox = lo; ox < hi; ox++)
							r[ox] = src[(size_t)(ox - lo) * g->stride];
					for (uint32_t ox = hi; ox < g->wo; ox++)
						r[ox] = 0.0f;
				}
			}
}

/* dst[oy][ox] += a[oy][ox], then dst[oy][ox + 1] += b[oy][ox]: the patch rows
 * of kx and kx + 1 in stride 1 meet every element a then b, as two passes
 * would, with half the stores: (d + a) + b is exactly d += a; d += b. */
static void add_row_pair(float *restrict dst, const float *restrict a, const float *restrict b,
			 size_t ho, size_t wo, size_t pw)
{
	for (size_t oy = 0; oy < ho; oy++, dst += pw, a += wo, b += wo) {
		dst[0] += a[0];
		for (size_t ox = 1; ox < wo; ox++)
			dst[ox] = dst[ox] + a[ox] + b[ox - 1];
		dst[wo] += b[wo - 1];
	}
}

/* col2im into the padded plane: each element of dx gets the same additions in
 * the same (ky, kx) order as the bounds-checked loop; the border collects the
 * patches' out-of-plane entries and is dropped. With add, the plane starts
 * from dx; without, from zero and dx is overwritten (0 + a + b + ... is what
 * the bounds-checked loop gives on a zeroed dx). */
static void col2im_padded(float *dx, const float *restrict dcol, const struct fcl_conv_geom *g,
			  int add)
{
	float buf[PADDED_MAX];
	size_t P = (size_t)g->ho * g->wo, ph = (size_t)g->h + 2 * g->pad;
	size_t pw = (size_t)g->w + 2 * g->pad, s = g->stride, wo = g->wo;

	for (uint32_t c = 0; c < g->ci; c++) {
		float *plane = dx + (size_t)c * g->h * g->w, *pp = plane;
		if (g->pad) {
			memset(buf, 0, ph * pw * sizeof(float));
			if (add)
				pad_plane(buf, plane, g);
			pp = buf;
		} else if (!add) {
			memset(plane, 0, (size_t)g->h * g->w * sizeof(float));
		}
		for (uint32_t ky = 0; ky < g->k; ky++)
			for (uint32_t kx = 0; kx < g->k; kx++) {
				const float *r = dcol + (((size_t)c * g->k + ky) * g->k + kx) * P;
				if (s == 1 && kx + 1 < g->k) { /* kx and kx + 1 in one pass */
					add_row_pair(pp + (size_t)ky * pw + kx, r, r + P, g->ho, wo, pw);
					kx++;
					continue;
				}
				for (uint32_t oy = 0; oy < g->ho; oy++, r += wo) {
					float *dst = pp + ((size_t)oy * s + ky) * pw + kx;
					if (s == 1)
						for (size_t ox = 0; ox < wo; ox++)
							dst[ox] += r[ox];
					else
						for (size_t ox = 0; ox < wo; ox++)
							dst[ox * s] += r[ox];
				}
			}
		if (g->pad)
			for (uint32_t y = 0; y < g->h; y++)
				memcpy(plane + (size_t)y * g->w, buf + (y + g->pad) * pw + g->pad,
				       g->w * sizeof(float));
	}
}

void fcl_col2im_add(float *dx, const float *dcol, const struct fcl_conv_geom *g)
{
	size_t P = (size_t)g->ho * g->wo;

	if (padded_fits(g)) {
		col2im_padded(dx, dcol, g, 1);
		return;
	}
	for (uint32_t c = 0; c < g->ci; c++)
		for (uint32_t ky = 0; ky < g->k; ky++)
			for (uint32_t kx = 0; kx < g->k; kx++) {
				const float *row = dcol + (((size_t)c * g->k + ky) * g->k + kx) * P;
				float *plane = dx + (size_t)c * g->h * g->w;
				uint32_t lo, hi;
				valid_cols(g, kx, &lo, &hi);
				for (uint32_t oy = 0; oy < g->ho; oy++) {
					long iy = (long)oy * g->stride + ky - g->pad;
					if (iy < 0 || iy >= (long)g->h)
						continue;
					const float *r = row + (size_t)oy * g->wo;
					float *dst = plane + (size_t)iy * g->w +
						     ((size_t)lo * g->stride + kx - g->pad);
					if (g->stride == 1) /* contiguous: vectorises */
						for (size_t t = 0; t < (size_t)(hi - lo); t++)
							dst[t] += r[lo + t];
					else
						for (uint32_t ox = lo; ox < hi; ox++)
							dst[(size_t)(ox - lo) * g->stride] += r[ox];
				}
			}
}

void fcl_conv2d_forward(float *y, const float *x, const float *w, const float *b, float *col,
			size_t B, const struct fcl_conv_geom *g)
{
	fcl_conv2d_forward_keep(y, x, w, b, col, NULL, B, g);
}

void fcl_conv2d_forward_keep(float *y, const float *x, const float *w, const float *b,
			     float *col, float *kept, size_t B, const struct fcl_conv_geom *g)
{
	int K = (int)(g->ci * g->k * g->k), P = (int)(g->ho * g->wo), M = (int)g->co;
	size_t in = (size_t)g->ci * g->h * g->w, out = (size_t)M * P, cf = (size_t)K * P;
	/* a 1x1 convolution with stride 1 and no padding reads x as its patches */
	int direct = g->k == 1 && g->stride == 1 && g->pad == 0;

	for (size_t i = 0; i < B; i++) {
		float *yi = y + i * out;
		const float *pi = x + i * in;
		if (!direct) {
			float *c = kept ? kept + i * cf : col;
			fcl_im2col(c, pi, g);
			pi = c;
		}
		if (b)
			for (int o = 0; o < M; o++)
				for (int p = 0; p < P; p++)
					yi[(size_t)o * P + p] = b[o];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, P, K, 1.0f, w, K, pi, P,
			    b ? 1.0f : 0.0f, yi, P);
	}
}

void fcl_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			 const float *w, float *col, size_t B, const struct fcl_conv_geom *g)
{
	fcl_conv2d_backward_ex(dx, dw, db, dy, x, w, col, NULL, B, g);
}

/* db[o] += the sum of dy's row o, each summed in order from 0 as before; eight
 * rows at a time, so eight independent chains hide the add latency. */
static void bias_grad_add(float *db, const float *dy, int M, int P)
{
	int o = 0;
	for (; o + 8 <= M; o += 8) {
		const float *r = dy + (size_t)o * P;
		float s[8] = {0.0f};
		for (int p = 0; p < P; p++)
			for (int j = 0; j < 8; j++)
				s[j] += r[(size_t)j * P + p];
		for (int j = 0; j < 8; j++)
			db[o + j] += s[j];
	}
	for (; o < M; o++) {
		float s = 0.0f;
		for (int p = 0; p < P; p++)
			s += dy[(size_t)o * P + p];
		db[o] += s;
	}
}

void fcl_conv2d_backward_ex(float *dx, float *dw, float *db, const float *dy, const float *x,
			    const float *w, float *col, const float *kept, size_t B,
			    const struct fcl_conv_geom *g)
{
	int K = (int)(g->ci * g->k * g->k), P = (int)(g->ho * g->wo), M = (int)g->co;
	size_t in = (size_t)g->ci * g->h * g->w, out = (size_t)M * P, cf = (size_t)K * P;
	int direct = g->k == 1 && g->stride == 1 && g->pad == 0;

	for (size_t i = 0; i < B; i++) {
		const float *dyi = dy + i * out, *pi = x + i * in;
		if (kept && !direct) {
			pi = kept + i * cf;
		} else if (!direct) {
			fcl_im2col(col, pi, g);
			pi = col;
		}
		/* dW (M, K) += dy (M, P) . patches^T (P, K) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, P, 1.0f, dyi, P, pi, P,
			    1.0f, dw, K);
		if (db)
			bias_grad_add(db, dyi, M, P);
		if (!dx)
			continue;
		float *dxi = dx + i * in;
		if (direct) { /* dx (K, P) = W^T (K, M) . dy (M, P) */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, M, 1.0f, w, K,
				    dyi, P, 0.0f, dxi, P);
			continue;
		}
		/* the patches are not needed any more (or are kept): their gradient goes to col */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, M, 1.0f, w, K, dyi, P,
			    0.0f, col, P);
		if (padded_fits(g)) {
			col2im_padded(dxi, col, g, 0);
		} else {
			memset(dxi, 0, in * sizeof(float));
			fcl_col2im_add(dxi, col, g);
		}
	}
}

/* The 2x2, stride 2 max-pool: the four comparisons of the general loop, in its
 * order (a strict > keeps the first of equal values, and a NaN where it is
 * met), written as selects so they vectorise. */
static void maxpool2_forward(float *restrict y, int32_t *restrict arg, const float *restrict x,
			     size_t planes, const struct fcl_conv_geom *g)
{
	size_t in = (size_t)g->h * g->w, w = g->w, wo = g->wo;

	for (size_t p = 0; p < planes; p++)
		for (uint32_t oy = 0; oy < g->ho; oy++) {
			size_t top = (size_t)oy * 2 * w;
			const float *r0 = x + p * in + top, *r1 = r0 + w;
			float *yr = y + (p * g->ho + oy) * wo;
			int32_t *ar = arg + (p * g->ho + oy) * wo;
			for (size_t ox0 = 0; ox0 < wo; ox0 += 4) {
				/* the last block of four overlaps the one before
				 * (writing the same values again) rather than ending
				 * in a scalar loop whose branches the data decides */
				size_t first = ox0 + 4 <= wo || wo < 4 ? ox0 : wo - 4;
				size_t n = wo < 4 ? wo : 4;
				for (size_t j = 0; j < n; j++) {
					size_t ox = first + j;
					float v = r0[2 * ox], b = r0[2 * ox + 1];
					float c = r1[2 * ox], d = r1[2 * ox + 1];
					int32_t at = (int32_t)(top + 2 * ox);
					at = b > v ? (int32_t)(top + 2 * ox + 1) : at;
					v = b > v ? b : v;
					at = c > v ? (int32_t)(top + w + 2 * ox) : at;
					v = c > v ? c : v;
					at = d > v ? (int32_t)(top + w + 2 * ox + 1) : at;
					v = d > v ? d : v;
					yr[ox] = v;
					ar[ox] = at;
				}
			}
		}
}

void fcl_maxpool_forward(float *y, int32_t *arg, const float *x, size_t planes,
			 const struct fcl_conv_geom *g)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->ho * g->wo;

	if (g->k == 2 && g->stride == 2) {
		maxpool2_forward(y, arg, x, planes, g);
		return;
	}
	for (size_t p = 0; p < planes; p++) {
		const float *xp = x + p * in;
		for (uint32_t oy = 0; oy < g->ho; oy++)
			for (uint32_t ox = 0; ox < g->wo; ox++) {
				size_t best = (size_t)oy * g->stride * g->w + (size_t)ox * g->stride;
				for (uint32_t ky = 0; ky < g->k; ky++)
					for (uint32_t kx = 0; kx < g->k; kx++) {
						size_t at = ((size_t)oy * g->stride + ky) * g->w +
							    (size_t)ox * g->stride + kx;
						if (xp[at] > xp[best])
							best = at;
					}
				size_t o = p * out + (size_t)oy * g->wo + ox;
				y[o] = xp[best];
				arg[o] = (int32_t)best;
			}
	}
}

void fcl_maxpool_backward(float *dx, const float *dy, const int32_t *arg, size_t planes,
			  const struct fcl_conv_geom *g)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->ho * g->wo;

	memset(dx, 0, planes * in * sizeof(float));
	for (size_t p = 0; p < planes; p++)
		for (size_t o = 0; o < out; o++)
			dx[p * in + (size_t)arg[p * out + o]] += dy[p * out + o];
}

void fcl_avgpool_forward(float *y, const float *x, size_t planes, const struct fcl_conv_geom *g)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->ho * g->wo;
	float inv = 1.0f / (float)(g->k * g->k);

	for (size_t p = 0; p < planes; p++)
		for (uint32_t oy = 0; oy < g->ho; oy++)
			for (uint32_t ox = 0; ox < g->wo; ox++) {
				float s = 0.0f;
				for (uint32_t ky = 0; ky < g->k; ky++)
					for (uint32_t kx = 0; kx < g->k; kx++)
						s += x[p * in + ((size_t)oy * g->stride + ky) * g->w +
						       (size_t)ox * g->stride + kx];
				y[p * out + (size_t)oy * g->wo + ox] = s * inv;
			}
}

void fcl_avgpool_backward(float *dx, const float *dy, size_t planes, const struct fcl_conv_geom *g)
{
	size_t in = (size_t)g->h * g->w, out = (size_t)g->ho * g->wo;
	float inv = 1.0f / (float)(g->k * g->k);

	memset(dx, 0, planes * in * sizeof(float));
	for (size_t p = 0; p < planes; p++)
		for (uint32_t oy = 0; oy < g->ho; oy++)
			for (uint32_t ox = 0; ox < g->wo; ox++) {
				float d = dy[p * out + (size_t)oy * g->wo + ox] * inv;
				for (uint32_t ky = 0; ky < g->k; ky++)
					for (uint32_t kx = 0; kx < g->k; kx++)
						dx[p * in + ((size_t)oy * g->stride + ky) * g->w +
						   (size_t)ox * g->stride + kx] += d;
			}
}

void fcl_gap_forward(float *y, const float *x, size_t planes, size_t hw)
{
	for (size_t p = 0; p < planes; p++) {
		float s = 0.0f;
		for (size_t k = 0; k < hw; k++)
			s += x[p * hw + k];
		y[p] = s / (float)hw;
	}
}

void fcl_gap_backward(float *dx, const float *dy, size_t planes, size_t hw)
{
	for (size_t p = 0; p < planes; p++) {
		float d = dy[p] / (float)hw;
		for (size_t k = 0; k < hw; k++)
			dx[p * hw + k] = d;
	}
}
