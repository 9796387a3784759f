/* common/src/sgemm_small.c - the dense layers' forward and input-gradient
 * products at batches of at most 11, without OpenBLAS's packing, in OpenBLAS's
 * own order of additions
 *
 * At batch 10 OpenBLAS spends about as long packing the weights (twice a
 * step, for the forward and the input gradient) as multiplying. These kernels
 * read the weights where they are and give the same bits as OpenBLAS 0.3.21's
 * Haswell sgemm (the kernel the golden suite pins, and the one it picks on the
 * project's AMD machine) by doing its additions in its order:
 *
 * - k is cut in blocks as its level-3 driver cuts it (GEMM_Q 320, unroll 8),
 *   and each block's sum is added to C on its own (C + 1 * sum, one rounding);
 * - within a block each output is one FMA chain from 0, k ascending, except in
 *   the kernel's 8x4 tiles, which sum even and odd k apart over the block's
 *   first multiple of 8 and add the two at the end. The driver gives 8x4
 *   tiles to the first 4 * (n / 4) columns of the first block of rows when a
 *   call has fewer than 12 columns, and to later row blocks when n % 8 >= 4;
 *   here n (the batch) is 1-3 or 8-11, so only the first rule applies.
 *
 * The kernels are AVX-512 (16 batch columns, or 16 rows, a register). Any
 * other OpenBLAS version, core, thread count, batch or CPU goes to cblas_sgemm
 * as before; tests/test_sgemm_small.c checks the bits against cblas_sgemm.
 */
#include "sgemm-small.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) && defined(FCL_OPENBLAS)
#include <immintrin.h>

#define HSW_P 320 /* OpenBLAS 0.3.21 param.h, HASWELL: SGEMM_DEFAULT_P, _Q, _UNROLL_M */
#define HSW_Q 320
#define HSW_UNROLL 8

/* The driver's next block of `rest` rows (P) or k (Q). */
static size_t hsw_block(size_t rest, size_t pq)
{
	if (rest >= 2 * pq)
		return pq;
	if (rest > pq)
		return (rest / 2 + HSW_UNROLL - 1) / HSW_UNROLL * HSW_UNROLL;
	return rest;
}

/* Rows (of C in OpenBLAS's column-major view) whose first 8 columns get the
 * split sums: the 8-row tiles of the first row block. */
static size_t split_rows(size_t m)
{
	return hsw_block(m, HSW_P) / 8 * 8;
}

static int agrees_with_openblas(void);

/* -1 not yet known, 0 no, 1 yes, 2 while the self-check runs (its calls are served). */
static int kernels_ok = -1;

static int usable(size_t batch)
{
	if (kernels_ok < 0) {
		const char *core = openblas_get_corename(), *conf = openblas_get_config();
		kernels_ok = core && strcasecmp(core, "haswell") == 0 && conf &&
			     strstr(conf, "OpenBLAS 0.3.21 ") && __builtin_cpu_supports("avx512f");
		/* A library that calls itself 0.3.21 Haswell but was built or patched
		 * otherwise must not change results: check the bits once, here. */
		if (kernels_ok) {
			kernels_ok = 2;
			kernels_ok = agrees_with_openblas();
		}
	}
	return kernels_ok && (batch <= 3 || (batch >= 8 && batch <= 11)) &&
	       openblas_get_num_threads() == 1;
}

/* x (batch, k) transposed into (k, 16), zero past batch: a thread's buffer. */
static float *transpose16(const float *x, size_t batch, size_t k)
{
	static _Thread_local float *buf;
	static _Thread_local size_t cap;
	if (cap < k) {
		float *p = aligned_alloc(64, (k * 16 * sizeof(float) + 63) & ~(size_t)63);
		if (!p)
			return NULL;
		free(buf);
		buf = p;
		cap = k;
	}
	for (size_t i = 0; i < k; i++) {
		for (size_t c = 0; c < batch; c++)
			buf[i * 16 + c] = x[c * k + i];
		for (size_t c = batch; c < 16; c++)
			buf[i * 16 + c] = 0.0f;
	}
	return buf;
}

/* The end of the part of block [k0, k1) an 8x4 tile sums as even and odd k:
 * its first multiple of 8. */
static size_t split_end(size_t k0, size_t k1)
{
	return k0 + (k1 - k0) / 8 * 8;
}

#define KERNEL512 static inline __attribute__((always_inline, target("avx512f")))

/* The forward's sums over k in [k0, k1) for R rows of w (n_in apart) against
 * xt's 16 columns, one register a row; split: columns 0-7 as the 8x4 tiles
 * sum them (odd k apart, in o). */
KERNEL512 void fwd_sums(float s[8][16], const float *xt, const float *w, size_t n_in, int R,
			size_t k0, size_t k1, int split)
{
	const __mmask16 lo = 0x00ff, hi = 0xff00;
	__m512 a[8], o[8];
	for (int r = 0; r < 8; r++)
		a[r] = o[r] = _mm512_setzero_ps();
	size_t k = k0, ke = split ? split_end(k0, k1) : k0;
	for (; k < ke; k += 2) {
		__m512 x0 = _mm512_load_ps(xt + k * 16), x1 = _mm512_load_ps(xt + k * 16 + 16);
		for (int r = 0; r < R; r++) {
			const float *wr = w + r * n_in + k;
			a[r] = _mm512_fmadd_ps(x0, _mm512_set1_ps(wr[0]), a[r]);
			__m512 b1 = _mm512_set1_ps(wr[1]);
			o[r] = _mm512_mask3_fmadd_ps(x1, b1, o[r], lo);
			a[r] = _mm512_mask3_fmadd_ps(x1, b1, a[r], hi);
		}
	}
	for (; k < k1; k++) {
		__m512 x0 = _mm512_load_ps(xt + k * 16);
		for (int r = 0; r < R; r++)
			a[r] = _mm512_fmadd_ps(x0, _mm512_set1_ps(w[r * n_in + k]), a[r]);
	}
	for (int r = 0; r < R; r++)
		/* the tile adds its odd sums even when they are empty (0): -0 + 0 is +0 */
		_mm512_storeu_ps(s[r], split ? _mm512_mask_add_ps(a[r], lo, a[r], o[r]) : a[r]);
}

/* fwd_sums with R and split constant in each copy, so that its sums stay in
 * registers. */
__attribute__((target("avx512f"))) static void fwd_rows(float s[8][16], const float *xt,
							const float *w, size_t n_in, int R,
							size_t k0, size_t k1, int split)
{
	switch (R) {
	case 8:
		if (split)
			fwd_sums(s, xt, w, n_in, 8, k0, k1, 1);
		else
			fwd_sums(s, xt, w, n_in, 8, k0, k1, 0);
		break;
	case 7:
		fwd_sums(s, xt, w, n_in, 7, k0, k1, split);
		break;
	case 6:
		fwd_sums(s, xt, w, n_in, 6, k0, k1, split);
		break;
	case 5:
		fwd_sums(s, xt, w, n_in, 5, k0, k1, split);
		break;
	case 4:
		fwd_sums(s, xt, w, n_in, 4, k0, k1, split);
		break;
	case 3:
		fwd_sums(s, xt, w, n_in, 3, k0, k1, split);
		break;
	case 2:
		fwd_sums(s, xt, w, n_in, 2, k0, k1, split);
		break;
	default:
		fwd_sums(s, xt, w, n_in, 1, k0, k1, split);
	}
}

int fcl__sgemm_small_forward(float *y, const float *x, const float *w, size_t batch, size_t n_in,
			     size_t n_out)
{
	if (!usable(batch))
		return -1;
	const float *xt = transpose16(x, batch, n_in);
	if (!xt)
		return -1;
	size_t S = batch >= 8 ? split_rows(n_out) : 0;
	float s[8][16];
	for (size_t k0 = 0, kb; k0 < n_in; k0 += kb) {
		kb = hsw_block(n_in - k0, HSW_Q);
		for (size_t j = 0, R; j < n_out; j += R) {
			size_t end = j < S ? S : n_out; /* S is a multiple of 8 */
			R = end - j < 8 ? end - j : 8;
			fwd_rows(s, xt, w + j * n_in, n_in, (int)R, k0, k0 + kb, j < S);
			for (size_t r = 0; r < R; r++)
				for (size_t c = 0; c < batch; c++)
					y[c * n_out + j + r] += s[r][c];
		}
	}
	return 0;
}

/* The input gradient's sums over k in [k0, k1) for 16 columns of w (rows of
 * OpenBLAS's C; valid: those inside w) and NC <= 8 dy rows (C's columns):
 * s[c]; split: the lanes whose sums are the 8x4 tiles' (odd k apart, in o). */
KERNEL512 void dx_sums(__m512 s[8], const float *dy, const float *w, size_t n_in, size_t n_out,
		       int NC, size_t k0, size_t k1, __mmask16 split, __mmask16 valid)
{
	__m512 a[8], o[8];
	for (int c = 0; c < 8; c++)
		a[c] = o[c] = _mm512_setzero_ps();
	size_t k = k0, ke = split ? split_end(k0, k1) : k0;
	for (; k < ke; k += 2) {
		__m512 w0 = _mm512_maskz_loadu_ps(valid, w + k * n_in);
		__m512 w1 = _mm512_maskz_loadu_ps(valid, w + (k + 1) * n_in);
		for (int c = 0; c < NC; c++) {
			a[c] = _mm512_fmadd_ps(_mm512_set1_ps(dy[c * n_out + k]), w0, a[c]);
			__m512 b1 = _mm512_set1_ps(dy[c * n_out + k + 1]);
			o[c] = _mm512_mask3_fmadd_ps(b1, w1, o[c], split);
			a[c] = _mm512_mask3_fmadd_ps(b1, w1, a[c], (__mmask16)~split);
		}
	}
	for (; k < k1; k++) {
		__m512 w0 = _mm512_maskz_loadu_ps(valid, w + k * n_in);
		for (int c = 0; c < NC; c++)
			a[c] = _mm512_fmadd_ps(_mm512_set1_ps(dy[c * n_out + k]), w0, a[c]);
	}
	for (int c = 0; c < NC; c++)
		/* the tile adds its odd sums even when they are empty (0): -0 + 0 is +0 */
		s[c] = split ? _mm512_mask_add_ps(a[c], split, a[c], o[c]) : a[c];
}

/* dx_sums with NC constant in each copy (registers, not the stack). */
__attribute__((target("avx512f"))) static void dx_cols(__m512 s[8], const float *dy, const float *w,
						       size_t n_in, size_t n_out, size_t nc,
						       size_t k0, size_t k1, __mmask16 split,
						       __mmask16 valid)
{
	if (nc == 8) /* batches 8-11, dy rows 0-7 */
		dx_sums(s, dy, w, n_in, n_out, 8, k0, k1, split, valid);
	else if (nc == 3)
		dx_sums(s, dy, w, n_in, n_out, 3, k0, k1, 0, valid);
	else if (nc == 2)
		dx_sums(s, dy, w, n_in, n_out, 2, k0, k1, 0, valid);
	else
		dx_sums(s, dy, w, n_in, n_out, 1, k0, k1, 0, valid);
}

/* The lanes l of a vector from row r that are below `end`. */
static __mmask16 lanes_below(size_t r, size_t end)
{
	return r >= end ? 0 : end - r >= 16 ? 0xffff : (__mmask16)((1u << (end - r)) - 1);
}

__attribute__((target("avx512f"))) int fcl__sgemm_small_dx(float *dx, const float *dy,
							   const float *w, size_t batch,
							   size_t n_in, size_t n_out)
{
	if (!usable(batch))
		return -1;
	size_t S = batch >= 8 ? split_rows(n_in) : 0;
	__m512 s[8];
	for (size_t k0 = 0, kb; k0 < n_out; k0 += kb) {
		kb = hsw_block(n_out - k0, HSW_Q);
		/* dy rows 0-7 (split where r < S), then 8-10; or all of 1-3 */
		for (size_t c0 = 0, nc; c0 < batch; c0 += nc) {
			nc = batch - c0 < 8 ? batch - c0 : 8;
			for (size_t r = 0; r < n_in; r += 16) {
				__mmask16 valid = lanes_below(r, n_in);
				__mmask16 split = c0 == 0 ? lanes_below(r, S) : 0;
				dx_cols(s, dy + c0 * n_out, w + r, n_in, n_out, nc, k0, k0 + kb,
					split, valid);
				for (size_t c = 0; c < nc; c++) {
					float *d = dx + (c0 + c) * n_in + r;
					/* beta 0: OpenBLAS zeroes C, then adds each block */
					__m512 z = k0 ? _mm512_maskz_loadu_ps(valid, d)
						      : _mm512_setzero_ps();
					_mm512_mask_storeu_ps(d, valid, _mm512_add_ps(s[c], z));
				}
			}
		}
	}
	return 0;
}

/* Both kernels against cblas_sgemm on the MLP's first layer at batches 2 and
 * 10 (two k blocks, split tiles): 1 when every bit agrees. */
static int agrees_with_openblas(void)
{
	enum { IN = 784, OUT = 400, B = 10 };
	float *x = malloc(sizeof(float) * (B * IN * 3 + OUT * IN + B * OUT * 3));
	if (!x)
		return 0;
	float *w = x + B * IN, *dx0 = w + OUT * IN, *dx1 = dx0 + B * IN, *y0 = dx1 + B * IN;
	float *y1 = y0 + B * OUT, *dy = y1 + B * OUT;
	uint32_t h = 2463534242u;
	for (size_t i = 0; i < B * IN + OUT * IN + B * OUT; i++) {
		h ^= h << 13, h ^= h >> 17, h ^= h << 5; /* xorshift32: any values do */
		float v = (float)(h >> 8) / 8388608.0f - 1.0f;
		if (i < B * IN)
			x[i] = v;
		else if (i < B * IN + OUT * IN)
			w[i - B * IN] = v;
		else
			dy[i - B * IN - OUT * IN] = v;
	}
	int same = 1;
	for (size_t b = 2; b <= B && same; b += B - 2) {
		memcpy(y0, dy, sizeof(float) * b * OUT);
		memcpy(y1, dy, sizeof(float) * b * OUT);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, OUT, IN, 1.0f, x, IN,
			    w, IN, 1.0f, y0, OUT);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, IN, OUT, 1.0f, dy,
			    OUT, w, IN, 0.0f, dx0, IN);
		same = fcl__sgemm_small_forward(y1, x, w, b, IN, OUT) == 0 &&
		       fcl__sgemm_small_dx(dx1, dy, w, b, IN, OUT) == 0 &&
		       memcmp(y0, y1, sizeof(float) * b * OUT) == 0 &&
		       memcmp(dx0, dx1, sizeof(float) * b * IN) == 0;
	}
	free(x);
	return same;
}

#else
int fcl__sgemm_small_forward(float *y, const float *x, const float *w, size_t batch, size_t n_in,
			     size_t n_out)
{
	(void)y, (void)x, (void)w, (void)batch, (void)n_in, (void)n_out;
	return -1;
}

int fcl__sgemm_small_dx(float *dx, const float *dy, const float *w, size_t batch, size_t n_in,
			size_t n_out)
{
	(void)dx, (void)dy, (void)w, (void)batch, (void)n_in, (void)n_out;
	return -1;
}
#endif
