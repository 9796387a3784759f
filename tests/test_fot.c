/* tests/test_fot.c - FOT's projection, basis growth, sketches and k rules */
#include "fcl/fot.h"
#include "fcl/layers.h"
#include "fcl/rng.h"
#include "tap.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_normal(float *v, size_t n, struct fcl_rng *r, float scale)
{
	for (size_t i = 0; i < n; i++)
		v[i] = scale * fcl_rng_normal(r);
}

/* max |U^T U - I| for U (d, k) */
static double orth_error(const float *U, size_t d, size_t k)
{
	double worst = 0;
	for (size_t a = 0; a < k; a++)
		for (size_t b = 0; b < k; b++) {
			double s = 0;
			for (size_t i = 0; i < d; i++)
				s += (double)U[i * k + a] * U[i * k + b];
			worst = fmax(worst, fabs(s - (a == b)));
		}
	return worst;
}

/* Largest principal angle (degrees) between span(W) (d, p) and span(U) (d, k), k >= p:
 * the smallest singular value of W^T U is its cosine. */
static double max_angle_deg(const float *W, size_t p, const float *U, size_t k, size_t d)
{
	float *M = calloc(p * k, sizeof *M), *S = malloc(p * sizeof *S), sup[64];
	for (size_t a = 0; a < p; a++)
		for (size_t b = 0; b < k; b++) {
			double s = 0;
			for (size_t i = 0; i < d; i++)
				s += (double)W[i * p + a] * U[i * k + b];
			M[a * k + b] = (float)s;
		}
	LAPACKE_sgesvd(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)p, (lapack_int)k, M, (lapack_int)k,
		       S, NULL, 1, NULL, 1, sup);
	double c = fmin(1.0, S[p - 1]);
	free(M);
	free(S);
	return acos(c) * 180.0 / M_PI;
}

static void test_project(void)
{
	enum { ROWS = 30, D = 40, K = 7 };
	struct fcl_rng r;
	float *M = malloc(ROWS * D * sizeof *M), *U = malloc(D * K * sizeof *U);
	float tmp[ROWS * K];
	double worst = 0, moved = 0;

	fcl_rng_init(&r, 3, FCL_RNG_TEST, 0, 0);
	fill_normal(M, ROWS * D, &r, 1.0f);
	fill_normal(U, D * K, &r, 1.0f);
	REQUIRE(fcl_fot_orthonormalize(U, D, K) == 0, "QR of a random (40, 7) matrix");
	CHECK(orth_error(U, D, K) < 1e-5, "U^T U = I after QR (%.2g)", orth_error(U, D, K));
	float *M0 = malloc(ROWS * D * sizeof *M0);
	memcpy(M0, M, ROWS * D * sizeof *M);
	fcl_fot_project(M, ROWS, D, U, K, tmp);
	for (size_t i = 0; i < ROWS; i++)
		for (size_t b = 0; b < K; b++) {
			double s = 0;
			for (size_t j = 0; j < D; j++)
				s += (double)M[i * D + j] * U[j * K + b];
			worst = fmax(worst, fabs(s));
		}
	for (size_t i = 0; i < ROWS * D; i++)
		moved = fmax(moved, fabs(M[i] - M0[i]));
	CHECK(worst < 1e-5, "after projection Delta U = 0 (max |.| %.2g)", worst);
	CHECK(moved > 0.1, "the projection changed Delta");
	/* projecting twice changes nothing more */
	memcpy(M0, M, ROWS * D * sizeof *M);
	fcl_fot_project(M, ROWS, D, U, K, tmp);
	double again = 0;
	for (size_t i = 0; i < ROWS * D; i++)
		again = fmax(again, fabs(M[i] - M0[i]));
	CHECK(again < 1e-5, "the projection is idempotent (%.2g)", again);
	/* k = 0: untouched */
	memcpy(M0, M, ROWS * D * sizeof *M);
	fcl_fot_project(M, ROWS, D, NULL, 0, tmp);
	CHECK(memcmp(M, M0, ROWS * D * sizeof *M) == 0, "k = 0 leaves Delta alone");
	free(M);
	free(M0);
	free(U);
}

/* Orthonormal basis stays orthonormal through repeated expansions, and every
 * new direction is orthogonal to the old ones (the residual is sketched). */
static void test_repeated_expansion(void)
{
	enum { D = 60, M = 200, T = 8 };
	struct fcl_rng r, g;
	struct fcl_fot_sketch sk;
	float *A = malloc(M * D * sizeof *A), *U = NULL;
	size_t k = 0;
	double worst = 0;
	int grew = 1;

	fcl_rng_init(&r, 5, FCL_RNG_TEST, 0, 0);
	REQUIRE(fcl_fot_sketch_init(&sk, D, D, 32, D) == 0, "sketch init");
	for (int t = 0; t < T; t++) {
		size_t before = k, added;
		fill_normal(A, M * D, &r, 1.0f);
		/* activations concentrated on a few random directions per task */
		for (size_t i = 0; i < M; i++)
			for (size_t j = 8; j < D; j++)
				A[i * D + j] *= 0.05f;
		fcl_fot_sketch_reset(&sk);
		fcl_rng_init(&g, 1, FCL_RNG_SKETCH, 0, (uint32_t)t);
		for (size_t i = 0; i < M; i += 32)
			fcl_fot_sketch_add(&sk, A + i * D, M - i < 32 ? M - i : 32, U, k, &g);
		double ratio = fcl_fot_sketch_ratio(&sk, FCL_K_RULE_NORM);
		if (fcl_fot_expand(&U, D, &k, sk.Y, D, ratio, 0.97, FCL_K_RULE_NORM, &added) != 0) {
			CHECK(0, "expansion %d", t);
			break;
		}
		grew &= k == before + added && added >= 1;
		worst = fmax(worst, orth_error(U, D, k));
	}
	CHECK(grew, "every expansion adds at least one direction (norm rule); basis now %zu", k);
	CHECK(k <= D, "the basis never exceeds d columns");
	CHECK(worst < 1e-4, "U^T U = I to 1e-4 through %d expansions (max %.2g)", T, worst);
	/* once full, further expansion adds nothing and stays orthonormal */
	while (k < D) {
		size_t added;
		fill_normal(sk.Y, D * D, &r, 1.0f);
		if (fcl_fot_expand(&U, D, &k, sk.Y, D, 1.0, 0.9999, FCL_K_RULE_NORM, &added) != 0)
			break;
	}
	size_t added = 7;
	fill_normal(sk.Y, D * D, &r, 1.0f);
	fcl_fot_expand(&U, D, &k, sk.Y, D, 1.0, 0.99, FCL_K_RULE_NORM, &added);
	CHECK(k == D && added == 0, "a full basis (%zu) takes no more directions", k);
	CHECK(orth_error(U, D, k) < 1e-4, "the full basis is orthonormal (%.2g)",
	      orth_error(U, D, k));
	fcl_fot_sketch_fini(&sk);
	free(A);
	free(U);
}

/* Synthetic low-rank activations spread over several clients: the summed
 * sketches recover the true subspace. */
static void test_recovery(void)
{
	enum { D = 50, P = 5, CLIENTS = 4, M = 400, B = 64 };
	struct fcl_rng r, g;
	struct fcl_fot_sketch sk;
	float *W = malloc(D * P * sizeof *W), *A = malloc(B * D * sizeof *A);
	float *Y = calloc(D * D, sizeof *Y), *U = NULL;
	const float scale[P] = {5, 4, 3, 2.5f, 2};
	double rsum = 0, nsum = 0;
	size_t k = 0, added;

	fcl_rng_init(&r, 11, FCL_RNG_TEST, 0, 0);
	fill_normal(W, D * P, &r, 1.0f);
	REQUIRE(fcl_fot_orthonormalize(W, D, P) == 0, "true basis");
	REQUIRE(fcl_fot_sketch_init(&sk, D, D, B, D) == 0, "sketch init");
	for (uint32_t c = 0; c < CLIENTS; c++) {
		fcl_fot_sketch_reset(&sk);
		fcl_rng_init(&g, 1, FCL_RNG_SKETCH, c, 0);
		for (size_t i = 0; i < M; i += B) {
			size_t b = M - i < B ? M - i : B;
			for (size_t s = 0; s < b; s++) {
				float z[P];
				for (size_t q = 0; q < P; q++)
					z[q] = scale[q] * fcl_rng_normal(&r);
				for (size_t j = 0; j < D; j++) {
					double v = 0.01 * fcl_rng_normal(&r); /* small noise */
					for (size_t q = 0; q < P; q++)
						v += (double)W[j * P + q] * z[q];
					A[s * D + j] = (float)v;
				}
			}
			fcl_fot_sketch_add(&sk, A, b, NULL, 0, &g);
		}
		for (size_t q = 0; q < D * D; q++)
			Y[q] += sk.Y[q];
		rsum += (double)sk.n * fcl_fot_sketch_ratio(&sk, FCL_K_RULE_ENERGY);
		nsum += (double)sk.n;
	}
	CHECK(fabs(rsum / nsum - 1.0) < 1e-12, "no basis yet: r = 1");
	REQUIRE(fcl_fot_expand(&U, D, &k, Y, D, rsum / nsum, 0.99, FCL_K_RULE_ENERGY, &added) == 0,
		"expansion from the summed sketches");
	CHECK(k == P, "energy rule at 0.99 finds the rank: k = %zu (want %d)", k, P);
	double angle = max_angle_deg(W, P, U, k, D);
	CHECK(k >= P && angle < 5.0, "largest principal angle to the true subspace %.3f deg (< 5)",
	      angle);
	/* a second task in the same subspace: the residual is tiny, GPM adds nothing */
	fcl_fot_sketch_reset(&sk);
	fcl_rng_init(&g, 1, FCL_RNG_SKETCH, 0, 1);
	for (size_t s = 0; s < B; s++)
		for (size_t j = 0; j < D; j++) {
			double v = 0;
			for (size_t q = 0; q < P; q++)
				v += (double)W[j * P + q] * scale[q];
			A[s * D + j] = (float)(v * (s % 3 + 1));
		}
	fcl_fot_sketch_add(&sk, A, B, U, k, &g);
	double re = fcl_fot_sketch_ratio(&sk, FCL_K_RULE_ENERGY);
	CHECK(re < 1e-3, "activations inside the basis leave residual energy %.2g", re);
	size_t k0 = k;
	fcl_fot_expand(&U, D, &k, sk.Y, D, re, 0.99, FCL_K_RULE_ENERGY, &added);
	CHECK(added == 0 && k == k0, "energy rule adds no direction when none is needed");
	fcl_fot_sketch_fini(&sk);
	free(W);
	free(A);
	free(Y);
	free(U);
}

static void test_k_rules(void)
{
	/* S^2 = 9, 4, 1, 1 (total 15): cumulative shares .6, .8667, .9333, 1 */
	const float S[4] = {3, 2, 1, 1};
	/* r = 1, eps .9: eps' = .9 -> 3 terms */
	CHECK(fcl_fot_choose_k(S, 4, 1.0, 0.9, FCL_K_RULE_NORM) == 3, "norm rule, r 1, eps .9: 3");
	CHECK(fcl_fot_choose_k(S, 4, 1.0, 0.9, FCL_K_RULE_ENERGY) == 3, "energy rule, r 1: 3");
	/* r = .5, eps .9: eps' = (.5 - .1) / .5 = .8 -> 2 */
	CHECK(fcl_fot_choose_k(S, 4, 0.5, 0.9, FCL_K_RULE_NORM) == 2, "norm rule, r .5: 2");
	CHECK(fcl_fot_choose_k(S, 4, 0.5, 0.9, FCL_K_RULE_ENERGY) == 2, "energy rule, r .5: 2");
	/* r = .2, eps .96: eps' = (.2 - .04) / .2 = .8 -> 2 */
	CHECK(fcl_fot_choose_k(S, 4, 0.2, 0.96, FCL_K_RULE_NORM) == 2,
	      "norm rule, r .2, eps .96: 2");
	/* r = .05, eps .9: eps' = -1: the authors' rule still adds 1, GPM adds none */
	CHECK(fcl_fot_choose_k(S, 4, 0.05, 0.9, FCL_K_RULE_NORM) == 1, "norm rule, eps' < 0: 1");
	CHECK(fcl_fot_choose_k(S, 4, 0.05, 0.9, FCL_K_RULE_ENERGY) == 0,
	      "energy rule, eps' < 0: 0");
	/* r = .95, eps .99: eps' = (.95 - .01) / .95 = .98947 -> 4 */
	CHECK(fcl_fot_choose_k(S, 4, 0.95, 0.99, FCL_K_RULE_NORM) == 4, "norm rule, eps' .989: 4");

	/* The ratio: one sample A = (3, 4), U = e1: R = (0, 4); |R|/|A| = .8, squared .64 */
	struct fcl_fot_sketch sk;
	struct fcl_rng g;
	const float A[2] = {3, 4}, U[2] = {1, 0};
	REQUIRE(fcl_fot_sketch_init(&sk, 2, 2, 1, 1) == 0, "sketch init");
	fcl_rng_init(&g, 1, FCL_RNG_SKETCH, 0, 0);
	fcl_fot_sketch_add(&sk, A, 1, U, 1, &g);
	CHECK(fabs(fcl_fot_sketch_ratio(&sk, FCL_K_RULE_NORM) - 0.8) < 1e-6, "norm ratio .8");
	CHECK(fabs(fcl_fot_sketch_ratio(&sk, FCL_K_RULE_ENERGY) - 0.64) < 1e-6, "energy ratio .64");
	CHECK(sk.Y[0] == 0.0f && sk.Y[1] == 0.0f, "the sketch holds no component along U");
	fcl_fot_sketch_fini(&sk);
}

/* G is drawn sample by sample: the sketch does not depend on the batch size. */
static void test_batch_independent(void)
{
	enum { D = 12, C = 9, M = 37 };
	struct fcl_rng r, g;
	struct fcl_fot_sketch a, b;
	float X[M * D];
	fcl_rng_init(&r, 2, FCL_RNG_TEST, 0, 0);
	fill_normal(X, M * D, &r, 1.0f);
	fcl_fot_sketch_init(&a, D, C, M, 0);
	fcl_fot_sketch_init(&b, D, C, 5, 0);
	fcl_rng_init(&g, 7, FCL_RNG_SKETCH, 3, 0);
	fcl_fot_sketch_add(&a, X, M, NULL, 0, &g);
	fcl_rng_init(&g, 7, FCL_RNG_SKETCH, 3, 0);
	for (size_t i = 0; i < M; i += 5)
		fcl_fot_sketch_add(&b, X + i * D, M - i < 5 ? M - i : 5, NULL, 0, &g);
	double worst = 0;
	for (size_t i = 0; i < D * C; i++)
		worst = fmax(worst, fabs(a.Y[i] - b.Y[i]));
	CHECK(worst < 1e-4, "batch 37 vs batch 5: same sketch (max diff %.2g)", worst);
	fcl_fot_sketch_fini(&a);
	fcl_fot_sketch_fini(&b);
}

/* A conv layer's sketch, fed one sample's im2col matrix at a time
 * (fcl_fot_sketch_add_cols, as the client does), equals the dense sketch of
 * the explicit patch matrix A (patches, C_in*kh*kw) built here by indexing
 * the input directly, patches in (sample, oh, ow) order; and the conv layer
 * is the dense layer W (C_out, C_in*kh*kw) on those patches, the matrix the
 * server projects. With a basis, the residual ratio agrees too. */
static void test_conv_sketch(void)
{
	const struct fcl_conv_geom g = {
	    .ci = 2, .h = 7, .w = 6, .co = 3, .ho = 4, .wo = 3, .k = 3, .stride = 2, .pad = 1};
	enum { B = 3, D = 18, P = 12, M = B * P, C = 10, K = 4, CO = 3 };
	struct fcl_rng r, g1, g2;
	struct fcl_fot_sketch a, b;
	float x[B * 2 * 7 * 6], A[M * D], U[D * K], col[D * P], W[CO * D], y[B * CO * P];
	double worst = 0, conv = 0, scale = 0;

	REQUIRE(fcl_conv_col_floats(&g) == D * P, "geometry: %d patches of %d", P, D);
	fcl_rng_init(&r, 5, FCL_RNG_TEST, 0, 0);
	fill_normal(x, sizeof x / sizeof *x, &r, 1.0f);
	fill_normal(U, D * K, &r, 1.0f);
	fill_normal(W, CO * D, &r, 1.0f);
	REQUIRE(fcl_fot_orthonormalize(U, D, K) == 0, "a random basis");
	for (int s = 0; s < B; s++)
		for (int oh = 0; oh < 4; oh++)
			for (int ow = 0; ow < 3; ow++)
				for (int c = 0; c < 2; c++)
					for (int i = 0; i < 3; i++)
						for (int j = 0; j < 3; j++) {
							int h = oh * 2 - 1 + i, w = ow * 2 - 1 + j;
							int in = h >= 0 && h < 7 && w >= 0 && w < 6;
							A[((s * 4 + oh) * 3 + ow) * D + (c * 3 + i) * 3 +
							  j] = in ? x[((s * 2 + c) * 7 + h) * 6 + w] : 0.0f;
						}
	/* y = conv(x): y[s, o, p] = sum_q W[o, q] A[s*P + p, q] */
	fcl_conv2d_forward(y, x, W, NULL, col, B, &g);
	for (int s = 0; s < B; s++)
		for (int o = 0; o < CO; o++)
			for (int p = 0; p < P; p++) {
				double v = 0;
				for (int q = 0; q < D; q++)
					v += (double)W[o * D + q] * A[(s * P + p) * D + q];
				conv = fmax(conv, fabs(v - y[(s * CO + o) * P + p]));
			}
	CHECK(conv < 1e-4, "conv = W (C_out, C_in*kh*kw) times the patches (max diff %.2g)", conv);
	REQUIRE(fcl_fot_sketch_init(&a, D, C, M, K) == 0 && fcl_fot_sketch_init(&b, D, C, P, K) == 0,
		"sketches");
	fcl_rng_init(&g1, 9, FCL_RNG_SKETCH, 1, 0);
	fcl_rng_init(&g2, 9, FCL_RNG_SKETCH, 1, 0);
	fcl_fot_sketch_add(&a, A, M, U, K, &g1);
	for (int s = 0; s < B; s++) {
		fcl_im2col(col, x + s * 2 * 7 * 6, &g);
		fcl_fot_sketch_add_cols(&b, col, P, U, K, &g2);
	}
	for (size_t i = 0; i < D * C; i++) {
		worst = fmax(worst, fabs(a.Y[i] - b.Y[i]));
		scale = fmax(scale, fabs(a.Y[i]));
	}
	CHECK(scale > 1 && worst < 1e-4 * scale,
	      "streamed im2col sketch = dense sketch of the explicit patches (max diff %.2g of %.2g)",
	      worst, scale);
	double ra = fcl_fot_sketch_ratio(&a, FCL_K_RULE_NORM),
	       rb = fcl_fot_sketch_ratio(&b, FCL_K_RULE_NORM);
	CHECK(a.n == M && b.n == M && fabs(ra - rb) < 1e-6 && ra > 0.1 && ra < 1.0,
	      "patches counted (%llu) and the residual ratio agrees (%.6f vs %.6f)",
	      (unsigned long long)b.n, ra, rb);
	/* the residual is orthogonal to U: U^T Y = 0 */
	double ut = 0;
	for (int k = 0; k < K; k++)
		for (int c = 0; c < C; c++) {
			double v = 0;
			for (int q = 0; q < D; q++)
				v += (double)U[q * K + k] * b.Y[q * C + c];
			ut = fmax(ut, fabs(v));
		}
	CHECK(ut < 1e-4 * scale, "the conv sketch lies off the old basis (|U^T Y| %.2g)", ut);
	fcl_fot_sketch_fini(&a);
	fcl_fot_sketch_fini(&b);
}

int main(void)
{
	test_conv_sketch();
	test_project();
	test_repeated_expansion();
	test_recovery();
	test_k_rules();
	test_batch_independent();
	return tap_done();
}
