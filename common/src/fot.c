/* common/src/fot.c - FOT's projection, client sketches, k rule and basis growth */
#include "fcl/fot.h"

#include "fcl/rng.h"

#include <cblas.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fcl_fot_project(float *M, size_t rows, size_t d, const float *U, size_t k, float *tmp)
{
	if (k == 0 || rows == 0)
		return;
	/* tmp (rows, k) = M (rows, d) U (d, k) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)k, (int)d, 1.0f, M,
		    (int)d, U, (int)k, 0.0f, tmp, (int)k);
	/* M (rows, d) -= tmp (rows, k) U^T (k, d) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)d, (int)k, -1.0f, tmp,
		    (int)k, U, (int)k, 1.0f, M, (int)d);
}

int fcl_fot_sketch_init(struct fcl_fot_sketch *s, size_t d, size_t c, size_t max_batch,
			size_t max_k)
{
	memset(s, 0, sizeof *s);
	s->d = d;
	s->c = c;
	s->max_batch = max_batch;
	s->max_k = max_k;
	s->Y = calloc(d * c, sizeof *s->Y);
	s->R = malloc(max_batch * d * sizeof *s->R);
	s->G = malloc(max_batch * c * sizeof *s->G);
	s->P = malloc((max_batch * max_k + 1) * sizeof *s->P);
	if (!s->Y || !s->R || !s->G || !s->P) {
		fcl_fot_sketch_fini(s);
		return -ENOMEM;
	}
	return 0;
}

void fcl_fot_sketch_fini(struct fcl_fot_sketch *s)
{
	free(s->Y);
	free(s->R);
	free(s->G);
	free(s->P);
	memset(s, 0, sizeof *s);
}

void fcl_fot_sketch_reset(struct fcl_fot_sketch *s)
{
	memset(s->Y, 0, s->d * s->c * sizeof *s->Y);
	s->a2 = s->r2 = 0.0;
	s->n = 0;
}

/* What both layouts share once R holds the residual of b inputs (b * d values in
 * either layout): the energies of the inputs and of their residual, and the b x c
 * random matrix G, drawn row by row. */
static void norms_and_draw(struct fcl_fot_sketch *s, const float *A, size_t b, struct fcl_rng *rng)
{
	for (size_t i = 0; i < b * s->d; i++) {
		s->a2 += (double)A[i] * (double)A[i];
		s->r2 += (double)s->R[i] * (double)s->R[i];
	}
	for (size_t i = 0; i < b * s->c; i++)
		s->G[i] = 2.0f * fcl_rng_uniform(rng) - 1.0f;
}

void fcl_fot_sketch_add(struct fcl_fot_sketch *s, const float *A, size_t b, const float *U,
			size_t k, struct fcl_rng *rng)
{
	size_t d = s->d, c = s->c;

	if (b == 0)
		return;
	memcpy(s->R, A, b * d * sizeof *A);
	if (U && k) {
		/* P (b, k) = A U;  R (b, d) -= P U^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, (int)k, (int)d, 1.0f,
			    A, (int)d, U, (int)k, 0.0f, s->P, (int)k);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)d, (int)k, -1.0f,
			    s->P, (int)k, U, (int)k, 1.0f, s->R, (int)d);
	}
	norms_and_draw(s, A, b, rng); /* G: one row per sample, in sample order */
	/* Y (d, c) += R^T (d, b) G (b, c) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)c, (int)b, 1.0f, s->R,
		    (int)d, s->G, (int)c, 1.0f, s->Y, (int)c);
	s->n += b;
}

void fcl_fot_sketch_add_cols(struct fcl_fot_sketch *s, const float *At, size_t b, const float *U,
			     size_t k, struct fcl_rng *rng)
{
	size_t d = s->d, c = s->c;

	if (b == 0)
		return;
	memcpy(s->R, At, d * b * sizeof *At); /* R (d, b) */
	if (U && k) {
		/* P (k, b) = U^T At;  R (d, b) -= U P */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)b, (int)d, 1.0f, U,
			    (int)k, At, (int)b, 0.0f, s->P, (int)b);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)b, (int)k,
			    -1.0f, U, (int)k, s->P, (int)b, 1.0f, s->R, (int)b);
	}
	norms_and_draw(s, At, b, rng); /* G: one row per patch, in patch order */
	/* Y (d, c) += R (d, b) G (b, c) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)c, (int)b, 1.0f, s->R,
		    (int)b, s->G, (int)c, 1.0f, s->Y, (int)c);
	s->n += b;
}

double fcl_fot_sketch_ratio(const struct fcl_fot_sketch *s, enum fcl_k_rule rule)
{
	if (s->a2 <= 0.0)
		return 1.0;
	double q = s->r2 / s->a2;
	return rule == FCL_K_RULE_NORM ? sqrt(q) : q;
}

size_t fcl_fot_choose_k(const float *S, size_t n, double r, double eps, enum fcl_k_rule rule)
{
	double total = 0.0, cum = 0.0;
	size_t m = 0;

	for (size_t q = 0; q < n; q++)
		total += (double)S[q] * (double)S[q];
	if (n == 0 || total <= 0.0)
		return 0;
	if (r <= 0.0)
		return rule == FCL_K_RULE_NORM ? 1 : 0;
	double need = (r - (1.0 - eps)) / r;
	if (rule == FCL_K_RULE_ENERGY && need <= 0.0)
		return 0;
	while (m < n) {
		cum += (double)S[m] * (double)S[m] / total;
		m++;
		if (cum >= need)
			break;
	}
	return m;
}

int fcl_fot_orthonormalize(float *A, size_t d, size_t k)
{
	if (k == 0)
		return 0;
	float *tau = malloc(k * sizeof *tau);
	if (!tau)
		return -ENOMEM;
	int rc =
	    LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)k, A, (lapack_int)k, tau);
	if (rc == 0)
		rc = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)k, (lapack_int)k,
				    A, (lapack_int)k, tau);
	free(tau);
	return rc == 0 ? 0 : -EIO;
}

int fcl_fot_expand(float **U, size_t d, size_t *k_cur, float *Y, size_t c, double r, double eps,
		   enum fcl_k_rule rule, size_t *added)
{
	size_t mn = d < c ? d : c, k0 = *k_cur;
	float *S = malloc(mn * sizeof *S);
	float *V = malloc(d * mn * sizeof *V);   /* (d, mn) left singular vectors */
	float *VT = malloc(mn * c * sizeof *VT); /* (mn, c), unused */
	float *B = NULL;
	int rc = -ENOMEM;

	*added = 0;
	if (!S || !V || !VT)
		goto out;
	if (LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', (lapack_int)d, (lapack_int)c, Y, (lapack_int)c, S,
			   V, (lapack_int)mn, VT, (lapack_int)c) != 0) {
		rc = -EIO;
		goto out;
	}
	size_t k = fcl_fot_choose_k(S, mn, r, eps, rule);
	if (k > d - k0)
		k = d - k0;
	rc = 0;
	if (k == 0)
		goto out;
	size_t kk = k0 + k;
	B = malloc(d * kk * sizeof *B); /* (d, k0 + k) = [U, V[:, :k]] */
	if (!B) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d; i++) {
		if (k0)
			memcpy(B + i * kk, *U + i * k0, k0 * sizeof *B);
		memcpy(B + i * kk + k0, V + i * mn, k * sizeof *B);
	}
	if ((rc = fcl_fot_orthonormalize(B, d, kk)) != 0)
		goto out;
	free(*U);
	*U = B;
	B = NULL;
	*k_cur = kk;
	*added = k;
out:
	free(B);
	free(VT);
	free(V);
	free(S);
	return rc;
}
