/* common/src/sgd.c - the SGD optimizer (momentum, weight decay, a gradient
 * hook), whole-buffer or one layer's range */
#include "fcl/model.h"

#include "fcl/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fcl_sgd_init(struct fcl_sgd *opt, float lr, float momentum, float weight_decay)
{
	memset(opt, 0, sizeof *opt);
	opt->lr = lr;
	opt->momentum = momentum;
	opt->weight_decay = weight_decay;
}

void fcl_sgd_fini(struct fcl_sgd *opt)
{
	free(opt->velocity);
	opt->velocity = NULL;
	opt->n = 0;
}

void fcl_sgd_reset(struct fcl_sgd *opt)
{
	if (opt->velocity)
		memset(opt->velocity, 0, opt->n * sizeof(float));
}

/* The update without a hook, in loops that vectorise: the same sums in the
 * same order as the general loop (g + wd p, then mu v + g); clear zeroes each
 * gradient once read, which saves the next step's zeroing pass. */
static inline __attribute__((always_inline)) void sgd_loops(const struct fcl_sgd *opt,
							    float *restrict p, float *restrict g,
							    float *restrict v, size_t n, int clear)
{
	float lr = opt->lr, wd = opt->weight_decay, mu = opt->momentum;

	if (!v && !clear) {
		for (size_t i = 0; i < n; i++)
			p[i] -= lr * (g[i] + wd * p[i]);
	} else if (!v) {
		for (size_t i = 0; i < n; i++) {
			p[i] -= lr * (g[i] + wd * p[i]);
			g[i] = 0.0f;
		}
	} else {
		/* torch.optim.SGD, dampening 0: v = mu v + g; p -= lr v */
		for (size_t i = 0; i < n; i++) {
			v[i] = mu * v[i] + (g[i] + wd * p[i]);
			p[i] -= lr * v[i];
		}
		if (clear)
			memset(g, 0, n * sizeof(float));
	}
}

/* sgd_loops in AVX-512 where the CPU has it (the baseline build's SSE2 makes it
 * bound by instructions, not memory). The same operations per element, none
 * contracted (ISO C keeps -ffp-contract off): the same bits. */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void sgd_avx512(const struct fcl_sgd *opt,
							  float *restrict p, float *restrict g,
							  float *restrict v, size_t n, int clear)
{
	sgd_loops(opt, p, g, v, n, clear);
}
#endif

static void sgd_plain(const struct fcl_sgd *opt, float *restrict p, float *restrict g,
		      float *restrict v, size_t n, int clear)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx512f")) {
		sgd_avx512(opt, p, g, v, n, clear);
		return;
	}
#endif
	sgd_loops(opt, p, g, v, n, clear);
}

int fcl_sgd_ready(struct fcl_sgd *opt, size_t n)
{
	if (opt->momentum > 0.0f && !opt->velocity) {
		opt->velocity = fcl_alloc_floats(n);
		if (!opt->velocity)
			return -ENOMEM;
		opt->n = n;
	}
	return 0;
}

void fcl_sgd_update_range(const struct fcl_sgd *opt, float *params, float *grads, size_t off,
			  size_t n)
{
	sgd_plain(opt, params + off, grads + off, opt->velocity ? opt->velocity + off : NULL, n,
		  1);
}

static int sgd_step(struct fcl_sgd *opt, float *params, float *grads, size_t n, int clear)
{
	float wd = opt->weight_decay;

	if (fcl_sgd_ready(opt, n) != 0)
		return -ENOMEM;
	if (!opt->grad_hook) {
		sgd_plain(opt, params, grads, opt->velocity, n, clear);
		return 0;
	}
	/* the sums of the fused loop, in its order: (g + wd p) + term */
	for (size_t i = 0; i < n; i++)
		grads[i] += wd * params[i];
	opt->grad_hook(opt->hook_ctx, params, grads, n);
	for (size_t i = 0; i < n; i++) {
		float g = grads[i];
		if (opt->velocity) {
			opt->velocity[i] = opt->momentum * opt->velocity[i] + g;
			g = opt->velocity[i];
		}
		params[i] -= opt->lr * g;
		if (clear)
			grads[i] = 0.0f;
	}
	return 0;
}

int fcl_sgd_step(struct fcl_sgd *opt, float *params, float *grads, size_t n)
{
	return sgd_step(opt, params, grads, n, 0);
}

int fcl_sgd_step_clear(struct fcl_sgd *opt, float *params, float *grads, size_t n)
{
	return sgd_step(opt, params, grads, n, 1);
}
