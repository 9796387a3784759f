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
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ewc_params {
	float lambda, decay;
};

static const struct fcl_key keys[] = {
    FCL_KEY_F32("lambda", struct ewc_params, lambda, 0, 0, HUGE_VAL, 0,
		"weight of the penalty sum F (theta - theta_round_start)^2"),
    FCL_KEY_F32("decay", struct ewc_params, decay, 0, 0, 1, FCL_OPEN,
		"Fisher EMA factor: F = decay F + (1 - decay) g^2"),
    {0},
};

static void defaults(void *params)
{
	*(struct ewc_params *)params = (struct ewc_params){.lambda = 1.0f, .decay = 0.9f};
}

struct ewc {
	float *fisher; /* (n_params) */
	float *anchor; /* (n_params) */
	size_t n;
};

/* The Fisher and the anchor, made at the first round (the model's size is
 * known then) or when a checkpoint is loaded. */
static int ewc_alloc(struct fcl_strategy *s, size_t n)
{
	struct ewc *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	s->priv = p;
	p->fisher = fcl_alloc_floats(n);
	p->anchor = fcl_alloc_floats(n);
	p->n = n;
	return p->fisher && p->anchor ? 0 : -ENOMEM;
}

static int ewc_round_begin(struct fcl_strategy *s, struct fcl_mlp *m)
{
	int rc;
	if (!s->priv && (rc = ewc_alloc(s, m->n_params)) != 0)
		return rc;
	struct ewc *p = s->priv;
	memcpy(p->anchor, m->params, m->n_params * sizeof(float));
	return 0;
}

/* The Fisher (n floats, n = 0 before the first round); the anchor is set
 * again at every round_begin. */
static int ewc_save(const struct fcl_strategy *s, FILE *f)
{
	const struct ewc *p = s->priv;
	uint64_t n = p ? p->n : 0;
	int rc = fcl_fput(f, &n, sizeof n);
	return rc || !n ? rc : fcl_fput(f, p->fisher, n * sizeof(float));
}

static int ewc_load(struct fcl_strategy *s, FILE *f)
{
	uint64_t n;
	int rc = fcl_fget(f, &n, sizeof n);
	if (rc || n == 0)
		return rc;
	if (s->priv || n > ((size_t)1 << 34) || (rc = ewc_alloc(s, n)) != 0)
		return rc ? rc : -EINVAL;
	return fcl_fget(f, ((struct ewc *)s->priv)->fisher, n * sizeof(float));
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

static double ewc_step(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b)
{
	struct ewc *p = s->priv;
	const struct ewc_params *cfg = FCL_STRATEGY_PARAMS(s, struct ewc_params);
	float a = cfg->decay, lam = cfg->lambda;
	double pen = 0.0;

	fcl_mlp_forward(m, b->x, b->n_new);
	memset(s->dz, 0, b->n_new * s->C * sizeof(float));
	double l = fcl_strategy_ce_rows(s, m, b->y, 0, b->n_new, b->exposed, 1.0f);
	fcl_mlp_backward_logits(m, s->dz, NULL, b->n_new, NULL, NULL);
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

static const struct fcl_strategy_ops ops = {.replay_draws = 0,
					    .model_vectors = 2,
					    .fini = ewc_fini,
					    .round_begin = ewc_round_begin,
					    .step = ewc_step,
					    .checksum = ewc_checksum,
					    .save = ewc_save,
					    .load = ewc_load};

const struct fcl_strategy_method fcl_strategy_ewc = {
    .name = "ewc",
    .summary = "online EWC: a Fisher-weighted pull towards the round's starting parameters",
    .keys = keys,
    .params_size = sizeof(struct ewc_params),
    .defaults = defaults,
    .ops = &ops,
};
