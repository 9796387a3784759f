/* common/include/fcl/metrics.h - continual-learning metrics from an accuracy matrix
 *
 * acc is (T, T) row-major: acc[i * T + j] = accuracy on task j after training
 * through task i. Names follow docs/metrics.md; variants are named, never mixed.
 */
#ifndef FCL_METRICS_H
#define FCL_METRICS_H
#include <stddef.h>

/* Mean of the last row: (1/T) sum_j R[T-1, j]. */
double fcl_metric_final_avg_acc(const double *acc, size_t T);
/* Average incremental accuracy: mean over i of (1/(i+1)) sum_{j<=i} R[i, j]. */
double fcl_metric_avg_incremental_acc(const double *acc, size_t T);
/* Chaudhry: (1/(T-1)) sum_{j<T-1} max_{l<T-1} R[l, j] - R[T-1, j]; 0 when T == 1. */
double fcl_metric_forgetting_max(const double *acc, size_t T);
/* As Avalanche and the FOT code: (1/(T-1)) sum_{j<T-1} R[j, j] - R[T-1, j]. */
double fcl_metric_forgetting_first(const double *acc, size_t T);
/* GEM: (1/(T-1)) sum_{i<T-1} R[T-1, i] - R[i, i]. */
double fcl_metric_bwt(const double *acc, size_t T);

#endif
