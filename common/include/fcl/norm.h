/* common/include/fcl/norm.h - dropout, GroupNorm and BatchNorm on (B, C, HW) batches
 *
 * The math of the normalisation layers (issue 11), kept apart from the
 * convolutions (fcl/layers.h). Flat features are the HW = 1 case. Statistics
 * are summed in double, in one fixed order, so a forward gives the same bits
 * whatever process runs it. Exposed for the finite-difference tests;
 * fcl/model.h runs them in a network.
 */
#ifndef FCL_NORM_H
#define FCL_NORM_H
#include <stddef.h>
#include <stdint.h>

struct fcl_rng;

#define FCL_NORM_EPS 1e-5f
#define FCL_BN_MOMENTUM 0.1f /* PyTorch's: running = (1 - m) running + m batch */

/* Inverted dropout: mask (n) gets 0 with probability rate, else 1 / (1 - rate),
 * drawn from rng in element order; y = x * mask (in place allowed). */
void fcl_dropout_mask(float *mask, size_t n, float rate, struct fcl_rng *rng);
void fcl_dropout_apply(float *y, const float *x, const float *mask, size_t n);

/* GroupNorm over x (B, C, hw), C divisible by groups: each sample's group of
 * C / groups channels is normalised over its (C / groups) * hw values, then
 * y = gamma[c] xhat + beta[c]. xhat (B, C, hw) and rstd (B, groups) are kept
 * for backward. */
void fcl_groupnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
			   const float *beta, size_t B, size_t C, size_t hw, size_t groups);
/* dgamma, dbeta (C) accumulate; dx (B, C, hw) is set (it may be dy). */
void fcl_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *xhat, const float *rstd, const float *gamma, size_t B,
			    size_t C, size_t hw, size_t groups);

/* BatchNorm over x (B, C, hw), per channel. Training: batch mean and biased
 * variance over (B, hw); running mean/var (C) move by FCL_BN_MOMENTUM towards
 * the batch mean and unbiased variance (as torch.nn.BatchNorm2d). Evaluation
 * (train 0): the running statistics normalise and are left as they are.
 * xhat (B, C, hw) and rstd (C) are kept for backward; y may be x (in place). */
void fcl_batchnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
			   const float *beta, float *run_mean, float *run_var, size_t B, size_t C,
			   size_t hw, int train);
/* The training-mode gradient. dgamma, dbeta (C) accumulate; dx is set (may be dy). */
void fcl_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *xhat, const float *rstd, const float *gamma, size_t B,
			    size_t C, size_t hw);

/* A norm's initial values, as PyTorch's: gamma 1, beta 0 (gb: 2C), and when st
 * is not NULL running mean 0, variance 1 (st: 2C). */
void fcl_norm_reset(float *gb, float *st, size_t C);

#endif
