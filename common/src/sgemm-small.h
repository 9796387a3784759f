/* common/src/sgemm-small.h - the dense layers' products at small batches
 * without OpenBLAS's packing, in its order of additions (sgemm_small.c) */
#ifndef FCL_SGEMM_SMALL_H
#define FCL_SGEMM_SMALL_H
#include <stddef.h>

/* y (batch, n_out) += x (batch, n_in) w^T, w (n_out, n_in): the bits of
 * cblas_sgemm(RowMajor, NoTrans, Trans, ..., beta 1). 0, or -1 when this core,
 * thread count or batch is not covered (y untouched: call cblas_sgemm). */
int fcl__sgemm_small_forward(float *y, const float *x, const float *w, size_t batch, size_t n_in,
			     size_t n_out);

/* dx (batch, n_in) = dy (batch, n_out) w, w (n_out, n_in): the bits of
 * cblas_sgemm(RowMajor, NoTrans, NoTrans, ..., beta 0). 0, or -1 as above. */
int fcl__sgemm_small_dx(float *dx, const float *dy, const float *w, size_t batch, size_t n_in,
			size_t n_out);
#endif
