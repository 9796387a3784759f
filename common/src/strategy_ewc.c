/* common/src/strategy_ewc.c - online EWC with a diagonal Fisher (EWC++-style EMA)
 *
 * F <- decay F + (1 - decay) g^2 after every step, g the CE gradient of the
 * step's batch (the empirical Fisher of the batch mean, a common cheap
 * approximation). The anchor theta* is the model the round started from
 * (the global model), so the penalty lambda sum F (theta - theta*)^2 keeps
 * the local update close to it in the directions that mattered so far.
 * F lives in the client's state for the whole run.
 */
#include "fcl/model.h"
#include "fcl/rng.h"
#include "strategy-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ewc {
	float *fisher; /* (n_params) */
	float *anchor; /* (n_params) */
	size_t n;
};

static int ewc_round_begin(struct fcl_strategy *s, struct fcl_mlp *m)
{
	struct ewc *p = s->priv;
	if (!p) {
		p = calloc(1, sizeof *p);
		if (!p)
			return -ENOMEM;
		s->priv = p;
		p->fisher = fcl__alloc_floats(m->n_params);
		p->anchor = fcl__alloc_floats(m->n_params);
		p->n = m->n_params;
		if (!p->fisher || !p->anchor)
			return -ENOMEM;
	}
	memcpy(p->anchor, m->params, m->n_params * sizeof(float));
	return 0;
}

static void ewc_fini(struct fcl_strategy *s)
{
	struct ewc *p = s->priv;
	if (!p)
		return;
	free(p->fisher);
	free(p->anchor);
	free(p);
}

static double ewc_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl__batch *b)
{
	struct ewc *p = s->priv;
	float a = s->cfg.decay, lam = s->cfg.lambda;
	double pen = 0.0;

	fcl_mlp_forward(m, b->x, b->n_new);
	memset(s->dz, 0, b->n_new * s->C * sizeof(float));
	double l = fcl__ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	fcl__backward(s, m, s->dz, NULL, b->n_new, NULL, NULL);
	for (size_t k = 0; k < p->n; k++) {
		float g = m->grads[k], diff = m->params[k] - p->anchor[k];
		/* the penalty uses the Fisher known before this step */
		pen += (double)p->fisher[k] * diff * diff;
		m->grads[k] += 2.0f * lam * p->fisher[k] * diff;
		p->fisher[k] = a * p->fisher[k] + (1.0f - a) * g * g;
	}
	return l + lam * pen;
}

static uint64_t ewc_checksum(const struct fcl_strategy *s)
{
	const struct ewc *p = s->priv;
	return p ? fcl_hash64(p->fisher, p->n * sizeof(float)) : 0;
}

const struct fcl__strategy_ops fcl__ewc_ops = {.replay_draws = 0,
					       .fini = ewc_fini,
					       .round_begin = ewc_round_begin,
					       .step = ewc_step,
					       .checksum = ewc_checksum};
