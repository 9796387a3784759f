/* common/src/strategy_bn.c - model.batchnorm: local (FedBN), a logical
 * client's own batchnorm parameters and statistics
 *
 * With the local policy each logical client keeps gamma, beta and the running
 * statistics of every batchnorm layer (and of the BatchNorms inside residual
 * blocks) across rounds (and checkpoints, with the rest of its state). A round
 * trains with them in place of the global model's; when it ends they are kept
 * here and the global model's values are put back,
 * so the update the client sends carries exactly the global values there: every
 * aggregation rule (a mean, a median, Krum, FedOpt's server step on a zero
 * difference) then leaves the global model's own batchnorm values as they were,
 * without knowing about the layout. Until its first round a client uses the
 * global model's.
 */
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/strategy.h"
#include "fcl/strategy_impl.h"
#include "fcl/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fcl__strategy_bn_init(struct fcl_strategy *s)
{
	size_t total = fcl_arch_bn_values(&s->arch);

	if (!s->loop.bn_local || !total)
		return 0;
	s->bn_n = total;
	s->bn_own = fcl_alloc_floats(total);
	s->bn_global = fcl_alloc_floats(total);
	return s->bn_own && s->bn_global ? 0 : -ENOMEM;
}

void fcl__strategy_bn_fini(struct fcl_strategy *s)
{
	free(s->bn_own);
	free(s->bn_global);
}

void fcl__strategy_bn_enter(struct fcl_strategy *s, struct fcl_mlp *m)
{
	if (!s->bn_n)
		return;
	fcl_arch_bn_move(&s->arch, m->params, s->bn_global, 1);
	if (s->bn_have)
		fcl_arch_bn_move(&s->arch, m->params, s->bn_own, 0);
}

void fcl__strategy_bn_leave(struct fcl_strategy *s, struct fcl_mlp *m)
{
	if (!s->bn_n)
		return;
	fcl_arch_bn_move(&s->arch, m->params, s->bn_own, 1);
	s->bn_have = 1;
	fcl_arch_bn_move(&s->arch, m->params, s->bn_global, 0);
}

int fcl__strategy_bn_save(const struct fcl_strategy *s, FILE *f)
{
	uint32_t have = (uint32_t)s->bn_have;
	int rc;

	if (!s->bn_n)
		return 0;
	rc = fcl_fput(f, &have, sizeof have);
	return rc ? rc : fcl_fput(f, s->bn_own, s->bn_n * sizeof(float));
}

int fcl__strategy_bn_load(struct fcl_strategy *s, FILE *f)
{
	uint32_t have;
	int rc;

	if (!s->bn_n)
		return 0;
	if ((rc = fcl_fget(f, &have, sizeof have)) != 0)
		return rc;
	if (have > 1)
		return -EINVAL;
	s->bn_have = (int)have;
	return fcl_fget(f, s->bn_own, s->bn_n * sizeof(float));
}

uint64_t fcl__strategy_bn_checksum(const struct fcl_strategy *s)
{
	return s->bn_n && s->bn_have ? fcl_hash64(s->bn_own, s->bn_n * sizeof(float)) : 0;
}

const float *fcl_strategy_bn_state(const struct fcl_strategy *s, size_t *n)
{
	*n = s->bn_have ? s->bn_n : 0;
	return s->bn_have ? s->bn_own : NULL;
}

size_t fcl_strategy_bn_sent(const struct fcl_scenario *sc, const struct fcl_arch *a)
{
	return sc->model.batchnorm && sc->eval.local_models ? fcl_arch_bn_values(a) : 0;
}
