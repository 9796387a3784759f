/* common/include/fcl/fot.h - Federated Orthogonal Training: the linear algebra
 *
 * FOT (Bakman et al., ICLR 2024) keeps, per protected layer l, an orthonormal
 * basis U_l (d_l, k_l) of the old tasks' input space. The server removes the
 * part of every aggregated update that lies in it; at task ends it grows the
 * bases from the clients' random sketches of their layer inputs.
 * See docs/aggregation.md and the team's reference/fot.md.
 *
 * Every matrix here is row-major float32 and every product is cblas_sgemm;
 * the SVD and QR are LAPACKE (sgesdd, sgeqrf + sorgqr).
 */
#ifndef FCL_FOT_H
#define FCL_FOT_H
#include <stddef.h>
#include <stdint.h>

struct fcl_rng;

enum fcl_k_rule {
	FCL_K_RULE_NORM,   /* FOT authors' code: r = |R|/|A|, at least one new direction */
	FCL_K_RULE_ENERGY, /* GPM: r = |R|^2/|A|^2, no direction when none is needed */
};

/* M (rows, d) <- M - (M U) U^T; U (d, k) with orthonormal columns; tmp (rows, k).
 * Two sgemm calls, no (d, d) projector. k == 0 leaves M alone. */
void fcl_fot_project(float *M, size_t rows, size_t d, const float *U, size_t k, float *tmp);

/* One client's sketch of one layer's input activations A (m samples, d):
 * Y = R^T G with R = A - A U U^T and G (m, c) uniform in (-1, 1), drawn row by
 * row (sample by sample) from the caller's stream, batch by batch, so neither
 * A nor G is ever held whole and the result does not depend on the batch size. */
struct fcl_fot_sketch {
	size_t d, c, max_batch, max_k;
	float *Y;   /* (d, c) accumulated */
	float *R;   /* (max_batch, d) scratch */
	float *G;   /* (max_batch, c) scratch */
	float *P;   /* (max_batch, max_k) scratch */
	double a2;  /* sum of squares of A */
	double r2;  /* sum of squares of R */
	uint64_t n; /* samples added */
};

int fcl_fot_sketch_init(struct fcl_fot_sketch *s, size_t d, size_t c, size_t max_batch,
			size_t max_k);
void fcl_fot_sketch_fini(struct fcl_fot_sketch *s);
void fcl_fot_sketch_reset(struct fcl_fot_sketch *s);
/* A (b, d), b <= max_batch; U (d, k) (k <= max_k) or NULL with k == 0. */
void fcl_fot_sketch_add(struct fcl_fot_sketch *s, const float *A, size_t b, const float *U,
			size_t k, struct fcl_rng *rng);
/* The same for a conv layer's patches: At (d, b) holds b patches as columns,
 * the layout fcl_im2col gives (rows (c_in, kh, kw), columns (oh, ow)), so a
 * sample's patch matrix goes in as it is, without a transpose. G has one row
 * per patch, in column order: the sketch equals fcl_fot_sketch_add on the
 * transposed patches (up to rounding). b <= max_batch. */
void fcl_fot_sketch_add_cols(struct fcl_fot_sketch *s, const float *At, size_t b, const float *U,
			     size_t k, struct fcl_rng *rng);
/* The residual ratio the k rule needs: |R|/|A| (norm rule, the authors' code) or
 * |R|^2/|A|^2 (energy rule, GPM). 1 when nothing was added. */
double fcl_fot_sketch_ratio(const struct fcl_fot_sketch *s, enum fcl_k_rule rule);

/* How many new directions to take, from the singular values S (n, descending)
 * of the summed sketch, the clients' combined residual ratio r and the task's
 * threshold eps. With eps' = (r - (1 - eps)) / r and e_q = S_q^2 / sum S^2:
 *   norm rule:   the smallest m >= 1 with e_1 + ... + e_m >= eps' (as the authors' code);
 *   energy rule: the smallest m >= 0 with e_1 + ... + e_m >= eps' (GPM: 0 when eps' <= 0).
 * Returns at most n. */
size_t fcl_fot_choose_k(const float *S, size_t n, double r, double eps, enum fcl_k_rule rule);

/* Grows a basis from a summed sketch Y (d, c) (overwritten):
 * U <- QR([U, V[:, :k]]).Q with V the left singular vectors of Y and k from
 * fcl_fot_choose_k, capped so the basis never exceeds d columns.
 * *U is reallocated ((d, *k_cur) on return); *added gets k.
 * 0, -ENOMEM, or -EIO when LAPACK fails. */
int fcl_fot_expand(float **U, size_t d, size_t *k_cur, float *Y, size_t c, double r, double eps,
		   enum fcl_k_rule rule, size_t *added);

/* Orthonormalises the columns of A (d, k) in place (reduced QR, Q kept). */
int fcl_fot_orthonormalize(float *A, size_t d, size_t k);

#endif
