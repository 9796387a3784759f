/* common/src/norm.c - dropout, GroupNorm, BatchNorm (fcl/norm.h) */
#include "fcl/norm.h"

#include "fcl/rng.h"

#include <math.h>

void fcl_dropout_mask(float *mask, size_t n, float rate, struct fcl_rng *rng)
{
	float keep = 1.0f / (1.0f - rate);

	for (size_t i = 0; i < n; i++)
		mask[i] = fcl_rng_uniform(rng) < rate ? 0.0f : keep;
}

void fcl_dropout_apply(float *y, const float *x, const float *mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] * mask[i];
}

/* Normalises the n values v (stride 1) into xh with their mean and biased
 * variance; returns 1 / sqrt(var + eps). */
static float normalise(float *xh, const float *v, size_t n, double *mean_out, double *var_out)
{
	double s = 0.0, ss = 0.0;

	for (size_t k = 0; k < n; k++)
		s += v[k];
	double mean = s / (double)n;
	for (size_t k = 0; k < n; k++) {
		double d = v[k] - mean;
		ss += d * d;
	}
	double var = ss / (double)n;
	float r = (float)(1.0 / sqrt(var + FCL_NORM_EPS));
	for (size_t k = 0; k < n; k++)
		xh[k] = (float)((v[k] - mean) * r);
	if (mean_out)
		*mean_out = mean;
	if (var_out)
		*var_out = var;
	return r;
}

void fcl_groupnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
			   const float *beta, size_t B, size_t C, size_t hw, size_t groups)
{
	size_t cg = C / groups, n = cg * hw;

	for (size_t b = 0; b < B; b++)
		for (size_t g = 0; g < groups; g++) {
			size_t at = (b * C + g * cg) * hw; /* a group's channels are contiguous */
			rstd[b * groups + g] = normalise(xhat + at, x + at, n, NULL, NULL);
			for (size_t c = g * cg; c < (g + 1) * cg; c++)
				for (size_t k = 0; k < hw; k++) {
					size_t i = (b * C + c) * hw + k;
					y[i] = gamma[c] * xhat[i] + beta[c];
				}
		}
}

void fcl_groupnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *xhat, const float *rstd, const float *gamma, size_t B,
			    size_t C, size_t hw, size_t groups)
{
	size_t cg = C / groups, n = cg * hw;

	for (size_t b = 0; b < B; b++)
		for (size_t g = 0; g < groups; g++) {
			double m1 = 0.0, m2 = 0.0; /* means of dxhat and dxhat * xhat */
			for (size_t c = g * cg; c < (g + 1) * cg; c++)
				for (size_t k = 0; k < hw; k++) {
					size_t i = (b * C + c) * hw + k;
					double d = (double)dy[i] * gamma[c];
					dgamma[c] += dy[i] * xhat[i];
					dbeta[c] += dy[i];
					m1 += d;
					m2 += d * xhat[i];
				}
			m1 /= (double)n;
			m2 /= (double)n;
			float r = rstd[b * groups + g];
			for (size_t c = g * cg; c < (g + 1) * cg; c++)
				for (size_t k = 0; k < hw; k++) {
					size_t i = (b * C + c) * hw + k;
					double d = (double)dy[i] * gamma[c];
					dx[i] = (float)(r * (d - m1 - xhat[i] * m2));
				}
		}
}

void fcl_batchnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *gamma,
			   const float *beta, float *run_mean, float *run_var, size_t B, size_t C,
			   size_t hw, int train)
{
	size_t n = B * hw;
	const float m = FCL_BN_MOMENTUM;

	for (size_t c = 0; c < C; c++) {
		double mean, var, s = 0.0, ss = 0.0;
		if (train) {
			for (size_t b = 0; b < B; b++)
				for (size_t k = 0; k < hw; k++)
					s += x[(b * C + c) * hw + k];
			mean = s / (double)n;
			for (size_t b = 0; b < B; b++)
				for (size_t k = 0; k < hw; k++) {
					double d = x[(b * C + c) * hw + k] - mean;
					ss += d * d;
				}
			var = ss / (double)n;
			/* PyTorch keeps the unbiased variance; one value has none */
			double unbiased = n > 1 ? ss / (double)(n - 1) : var;
			run_mean[c] = (1.0f - m) * run_mean[c] + m * (float)mean;
			run_var[c] = (1.0f - m) * run_var[c] + m * (float)unbiased;
		} else {
			mean = run_mean[c];
			var = run_var[c];
		}
		float r = (float)(1.0 / sqrt(var + FCL_NORM_EPS));
		rstd[c] = r;
		for (size_t b = 0; b < B; b++)
			for (size_t k = 0; k < hw; k++) {
				size_t i = (b * C + c) * hw + k;
				xhat[i] = (float)((x[i] - mean) * r);
				y[i] = gamma[c] * xhat[i] + beta[c];
			}
	}
}

void fcl_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
			    const float *xhat, const float *rstd, const float *gamma, size_t B,
			    size_t C, size_t hw)
{
	size_t n = B * hw;

	for (size_t c = 0; c < C; c++) {
		double m1 = 0.0, m2 = 0.0, sg = 0.0, sb = 0.0;
		for (size_t b = 0; b < B; b++)
			for (size_t k = 0; k < hw; k++) {
				size_t i = (b * C + c) * hw + k;
				sg += (double)dy[i] * xhat[i];
				sb += dy[i];
			}
		dgamma[c] += (float)sg;
		dbeta[c] += (float)sb;
		m1 = sb * gamma[c] / (double)n;
		m2 = sg * gamma[c] / (double)n;
		for (size_t b = 0; b < B; b++)
			for (size_t k = 0; k < hw; k++) {
				size_t i = (b * C + c) * hw + k;
				dx[i] = (float)(rstd[c] *
						((double)dy[i] * gamma[c] - m1 - xhat[i] * m2));
			}
	}
}

void fcl_norm_reset(float *gb, float *st, size_t C)
{
	for (size_t c = 0; c < C; c++) {
		gb[c] = 1.0f;
		gb[C + c] = 0.0f;
		if (st) {
			st[c] = 0.0f;
			st[C + c] = 1.0f;
		}
	}
}
