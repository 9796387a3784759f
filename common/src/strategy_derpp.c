/* common/src/strategy_derpp.c - DER++ (Buzzega et al., 2020)
 *
 * L = CE(new) + alpha * MSE(f(x_m), z_m) + beta * CE(f(x'_m), y'_m), with two
 * independent replay draws. The buffer stores, with each sample id, the logits
 * (all classes, unmasked) the model gave it in the forward of the last step
 * on its stream batch, i.e. just before that step.
 */
#include "fcl/model.h"
#include "fcl/strategy_impl.h"

#include "fcl/schema.h"

#include <math.h>
#include <string.h>

struct derpp_params {
	float alpha, beta;
};

static const struct fcl_key keys[] = {
    FCL_KEY_F32("alpha", struct derpp_params, alpha, 0, 0, HUGE_VAL, 0,
		"weight of the logit MSE on replayed samples"),
    FCL_KEY_F32("beta", struct derpp_params, beta, 0, 0, HUGE_VAL, 0,
		"weight of the CE on a second replay draw"),
    {0},
};

static void defaults(void *params)
{
	*(struct derpp_params *)params = (struct derpp_params){.alpha = 0.3f, .beta = 0.5f};
}

double fcl_derpp_mse(float *dz, const float *z, const float *target, size_t n, size_t C,
		     float alpha)
{
	double sum = 0.0;
	if (n == 0)
		return 0.0;
	float f = 2.0f * alpha / (float)(n * C);
	for (size_t k = 0; k < n * C; k++) {
		float e = z[k] - target[k];
		sum += (double)e * e;
		if (dz)
			dz[k] += f * e;
	}
	return alpha * sum / (double)(n * C);
}

static double derpp_step(struct fcl_strategy *s, struct fcl_mlp *m,
			 const struct fcl_strategy_batch *b)
{
	const struct derpp_params *p = FCL_STRATEGY_PARAMS(s, struct derpp_params);
	size_t rows = b->n_new + b->n_rep + b->n_rep2, C = s->C;
	const float *z = fcl_mlp_forward(m, b->x, rows);
	float *target = s->z; /* (n_rep, C) stored logits */

	if (b->last_iter)
		memcpy(s->zsave, z, b->n_new * C * sizeof(float));
	memset(s->dz, 0, rows * C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	for (size_t i = 0; i < b->n_rep; i++)
		memcpy(target + i * C, s->buf.logits + (size_t)b->rep[i] * C, C * sizeof(float));
	l += fcl_derpp_mse(s->dz + b->n_new * C, z + b->n_new * C, target, b->n_rep, C, p->alpha);
	l += fcl_strategy_ce_rows(s, m, b->y, b->n_new + b->n_rep, b->n_rep2, b->exposed, p->beta);
	fcl_mlp_backward_logits(m, s->dz, NULL, rows, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {
    .replay_draws = 2, .replay_logits = 1, .step = derpp_step, .one_backward = 1};

const struct fcl_strategy_method fcl_strategy_derpp = {
    .name = "der++",
    .summary = "dark experience replay: replayed logits (MSE) plus replayed labels (CE)",
    .keys = keys,
    .params_size = sizeof(struct derpp_params),
    .defaults = defaults,
    .takes_memory = 1,
    .ops = &ops,
};
