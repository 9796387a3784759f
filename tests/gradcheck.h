/* tests/gradcheck.h - helpers shared by the finite-difference gradient tests */
#ifndef FCL_TESTS_GRADCHECK_H
#define FCL_TESTS_GRADCHECK_H
#include <math.h>
#include <stddef.h>

#include "fcl/rng.h"

/* Relative error that tolerates tiny gradients. */
static inline double rel_err(double a, double b)
{
	return fabs(a - b) / fmax(1e-2, fabs(a) + fabs(b));
}

/* v (n) = scale * N(0, 1) draws from r. */
static inline void fill(float *v, size_t n, struct fcl_rng *r, float scale)
{
	for (size_t i = 0; i < n; i++)
		v[i] = scale * fcl_rng_normal(r);
}

/* Loss used to probe a layer: L = sum_k g_k * y_k with fixed random g, so dL/dy = g. */
static inline double probe(const float *y, const float *g, size_t n)
{
	double s = 0;
	for (size_t k = 0; k < n; k++)
		s += (double)g[k] * y[k];
	return s;
}

/* Worst relative error between g (n) and central differences of f over v
 * (n, perturbed in place by +-h and restored). */
static inline double fd_worst(float *v, const float *g, size_t n, double (*f)(void *), void *ctx,
			      float h)
{
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		float keep = v[i];
		v[i] = keep + h;
		double up = f(ctx);
		v[i] = keep - h;
		double down = f(ctx);
		v[i] = keep;
		worst = fmax(worst, rel_err((up - down) / (2 * h), g[i]));
	}
	return worst;
}

#endif
