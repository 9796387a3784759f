/* common/src/strategy_gdumb.c - GDumb (Prabhu et al., 2020)
 *
 * The stream only fills a class-balanced buffer (greedy: while the buffer
 * is full, a sample of a class with fewer samples than the largest class
 * replaces a random sample of the largest class). At the end of each round
 * the model is retrained from the run's initial parameters (the server's
 * seeded initialisation) for `epochs` epochs over the buffer, and that model
 * is the client's update. Under FedAvg the server averages the clients'
 * retrained models (they all start from the same initialisation).
 */
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct gdumb_params {
	uint32_t epochs;
};

static const struct fcl_key keys[] = {
    FCL_KEY_U32("epochs", struct gdumb_params, epochs, 1, 100000,
		"epochs over the buffer in each round"),
    {0},
};

static void defaults(void *params)
{
	*(struct gdumb_params *)params = (struct gdumb_params){.epochs = 10};
}

struct gdumb {
	uint32_t *count; /* (C) buffered samples per class */
	uint32_t *slots; /* (cap) training order */
};

static int gdumb_init(struct fcl_strategy *s)
{
	struct gdumb *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	s->priv = g;
	g->count = calloc(s->C, sizeof *g->count);
	g->slots = calloc(s->buf.cap ? s->buf.cap : 1, sizeof *g->slots);
	return g->count && g->slots ? 0 : -ENOMEM;
}

static void gdumb_fini(struct fcl_strategy *s)
{
	struct gdumb *g = s->priv;
	if (!g)
		return;
	free(g->count);
	free(g->slots);
	free(g);
}

static int64_t gdumb_offer(struct fcl_strategy *s, struct fcl_rng *rng, uint32_t id, uint16_t task,
			   int32_t label)
{
	struct gdumb *g = s->priv;
	struct fcl_replay *r = &s->buf;
	int64_t slot = -1;

	r->seen++;
	if (r->cap == 0)
		return -1;
	if (r->n < r->cap) {
		slot = r->n++;
	} else {
		uint32_t big = 0;
		for (uint32_t c = 1; c < s->C; c++)
			if (g->count[c] > g->count[big])
				big = c;
		if (g->count[label] + 1 >= g->count[big])
			return -1; /* the new class would become (or stay) the largest */
		uint64_t k = fcl_rng_below(rng, g->count[big]);
		for (uint32_t i = 0; i < r->n; i++)
			if (r->label[i] == (int32_t)big && k-- == 0) {
				slot = i;
				break;
			}
		g->count[big]--;
	}
	r->ids[slot] = id;
	r->task[slot] = task;
	r->label[slot] = label;
	g->count[label]++;
	return slot;
}

static int gdumb_round_end(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
			   const struct fcl_dataset *ds, const uint32_t *const *perms,
			   uint32_t round, float *loss)
{
	struct gdumb *g = s->priv;
	struct fcl_replay *r = &s->buf;
	struct fcl_rng init, rng;
	size_t bs = s->loop.batch_size < s->max_batch ? s->loop.batch_size : s->max_batch;
	uint32_t L = m->n_layers;
	double sum = 0.0;
	uint64_t step = 0;
	int rc;

	if (r->n == 0)
		return 0;
	fcl_rng_init(&init, s->seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(m, &init);
	if (!s->loop.head_bias)
		memset(m->params + m->b_offset[L - 1], 0, s->C * sizeof(float));
	fcl_sgd_reset(opt);
	fcl_rng_init(&rng, s->seed, FCL_RNG_REPLAY, s->client, round);
	for (uint32_t i = 0; i < r->n; i++)
		g->slots[i] = i;
	const uint8_t *mask = s->loop.mask_unexposed ? s->exposed : s->all;
	for (uint32_t e = 0; e < FCL_STRATEGY_PARAMS(s, struct gdumb_params)->epochs; e++) {
		sum = 0.0;
		fcl_rng_shuffle_u32(&rng, g->slots, r->n);
		for (size_t i = 0; i < r->n; i += bs) {
			size_t b = r->n - i < bs ? r->n - i : bs;
			for (size_t k = 0; k < b; k++) {
				uint32_t slot = g->slots[i + k];
				fcl_dataset_gather(ds, &r->ids[slot], 1,
						   perms ? perms[r->task[slot]] : NULL,
						   s->x + k * s->dim, s->y + k);
			}
			fcl_mlp_zero_grad(m);
			fcl_model_set_train(m, 1, s->seed, s->client, round, step++);
			fcl_mlp_forward(m, s->x, b);
			memset(s->dz, 0, b * s->C * sizeof(float));
			sum += fcl_strategy_ce_rows(s, m, s->y, 0, b, mask, 1.0f) * (double)b;
			fcl_mlp_backward_logits(m, s->dz, NULL, b, NULL, NULL);
			fcl_model_set_train(m, 0, 0, 0, 0, 0);
			if (!s->loop.head_bias)
				memset(m->grads + m->b_offset[L - 1], 0, s->C * sizeof(float));
			if ((rc = fcl_sgd_step(opt, m->params, m->grads, m->n_trained)) != 0)
				return rc;
		}
	}
	*loss = (float)(sum / (double)r->n);
	return 0;
}

static uint64_t gdumb_checksum(const struct fcl_strategy *s)
{
	const struct gdumb *g = s->priv;
	return fcl_hash64(g->count, s->C * sizeof(uint32_t));
}

/* The class counts are those of the buffer the loop restored: recount. */
static int gdumb_load(struct fcl_strategy *s, FILE *f)
{
	struct gdumb *g = s->priv;
	(void)f;
	memset(g->count, 0, s->C * sizeof *g->count);
	for (uint32_t i = 0; i < s->buf.n; i++)
		g->count[s->buf.label[i]]++;
	return 0;
}

static const struct fcl_strategy_ops ops = {.replay_draws = 1,
					    .init = gdumb_init,
					    .fini = gdumb_fini,
					    .checksum = gdumb_checksum,
					    .load = gdumb_load,
					    .no_stream_steps = 1,
					    .offer = gdumb_offer,
					    .round_end = gdumb_round_end};

const struct fcl_strategy_method fcl_strategy_gdumb = {
    .name = "gdumb",
    .summary = "GDumb: a class-balanced buffer, retrained from the initial model each round",
    .keys = keys,
    .params_size = sizeof(struct gdumb_params),
    .defaults = defaults,
    .takes_memory = 1,
    .ops = &ops,
};
