/* common/src/strategy_lwf.c - Learning without Forgetting
 *
 * L = CE(new) + lambda * T^2 * KL(softmax(z_t / T) || softmax(z / T)) over the
 * classes exposed before this round, where the teacher z_t is the model the
 * round started from (the global model in federated runs). Si-Blurry's LwF
 * refreshes the teacher after every online step instead; we keep the
 * round-start model, the usual choice in federated CL.
 */
#include "fcl/model.h"
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lwf_params {
	float lambda, temperature;
};

static const struct fcl_key keys[] = {
    FCL_KEY_F32("lambda", struct lwf_params, lambda, 0, 0, HUGE_VAL, 0,
		"weight of the distillation term"),
    FCL_KEY_F32("temperature", struct lwf_params, temperature, 0, FCL_OPEN, HUGE_VAL, 0,
		"softmax temperature T of the distillation"),
    {0},
};

static void defaults(void *params)
{
	*(struct lwf_params *)params = (struct lwf_params){.lambda = 1.0f, .temperature = 2.0f};
}

struct lwf {
	struct fcl_mlp teacher;
	uint8_t *old; /* (C) exposed at round start */
	int any_old;
	float *zt; /* (max_batch, C) */
};

static void softmax_t(double *p, const float *z, size_t C, const uint8_t *mask, float T)
{
	double zmax = -INFINITY, sum = 0.0;
	for (size_t c = 0; c < C; c++)
		if (mask[c] && z[c] / T > zmax)
			zmax = z[c] / T;
	for (size_t c = 0; c < C; c++) {
		p[c] = mask[c] ? exp(z[c] / T - zmax) : 0.0;
		sum += p[c];
	}
	for (size_t c = 0; c < C; c++)
		p[c] /= sum;
}

double fcl_lwf_kd(float *dz, const float *z, const float *zt, size_t B, size_t C,
		  const uint8_t *mask, float T, float lambda)
{
	double total = 0.0, pt[256], ps[256];
	if (B == 0 || C > 256)
		return 0.0;
	for (size_t i = 0; i < B; i++) {
		softmax_t(pt, zt + i * C, C, mask, T);
		softmax_t(ps, z + i * C, C, mask, T);
		for (size_t c = 0; c < C; c++)
			if (mask[c] && pt[c] > 0.0)
				total += pt[c] * (log(pt[c]) - log(ps[c]));
		if (dz)
			for (size_t c = 0; c < C; c++)
				if (mask[c])
					dz[i * C + c] += (float)(lambda * T * (ps[c] - pt[c]) / B);
	}
	return lambda * T * T * total / (double)B;
}

static int lwf_init(struct fcl_strategy *s)
{
	struct lwf *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	s->priv = p;
	int rc = fcl_model_init(&p->teacher, &s->arch, s->max_batch);
	if (rc)
		return rc;
	p->old = calloc(s->C, 1);
	p->zt = fcl_alloc_floats(s->max_batch * s->C);
	return p->old && p->zt ? 0 : -ENOMEM;
}

static void lwf_fini(struct fcl_strategy *s)
{
	struct lwf *p = s->priv;
	if (!p)
		return;
	fcl_mlp_fini(&p->teacher);
	free(p->old);
	free(p->zt);
	free(p);
}

static int lwf_round_begin(struct fcl_strategy *s, struct fcl_mlp *m)
{
	struct lwf *p = s->priv;
	memcpy(p->teacher.params, m->params, m->n_params * sizeof(float));
	memcpy(p->old, s->exposed, s->C);
	p->any_old = s->n_exposed > 0;
	return 0;
}

static double lwf_step(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b)
{
	struct lwf *p = s->priv;
	size_t C = s->C, B = b->n_new;
	double l;

	if (p->any_old)
		memcpy(p->zt, fcl_mlp_forward(&p->teacher, b->x, B), B * C * sizeof(float));
	const float *z = fcl_mlp_forward(m, b->x, B);
	memset(s->dz, 0, B * C * sizeof(float));
	l = fcl_strategy_ce_rows(s, m, b->y, 0, B, b->exposed, 1.0f);
	if (p->any_old)
		l += fcl_lwf_kd(s->dz, z, p->zt, B, C, p->old,
				FCL_STRATEGY_PARAMS(s, struct lwf_params)->temperature,
				FCL_STRATEGY_PARAMS(s, struct lwf_params)->lambda);
	fcl_mlp_backward_logits(m, s->dz, NULL, B, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {.replay_draws = 0,
					    .extra_models = 1,
					    .init = lwf_init,
					    .fini = lwf_fini,
					    .round_begin = lwf_round_begin,
					    .step = lwf_step,
					    .one_backward = 1};

const struct fcl_strategy_method fcl_strategy_lwf = {
    .name = "lwf",
    .summary = "learning without forgetting: distil the round's global model on old classes",
    .keys = keys,
    .params_size = sizeof(struct lwf_params),
    .defaults = defaults,
    .ops = &ops,
};
