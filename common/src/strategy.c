/* common/src/strategy.c - strategy lifecycle, the online/offline loops, shared kernels */
#include "fcl/strategy.h"

#include "fcl/data.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fcl_strategy_config_defaults(struct fcl_strategy_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	fcl_strategy_config_choose(cfg, "finetune");
}

int fcl_strategy_config_choose(struct fcl_strategy_config *cfg, const char *name)
{
	const struct fcl_strategy_method *m = fcl_strategy_find(name);
	if (!m)
		return -ENOENT;
	cfg->method = m;
	memset(cfg->params, 0, sizeof cfg->params);
	if (m->defaults)
		m->defaults(cfg->params);
	return 0;
}

int fcl_strategy_config_set(struct fcl_strategy_config *cfg, const char *key, const char *value,
			    char *why, size_t len)
{
	return fcl_keys_set(cfg->method->keys, cfg->params, key, value, why, len);
}

const char *fcl_strategy_name(const struct fcl_strategy_config *cfg)
{
	return cfg->method ? cfg->method->name : "unknown";
}

int fcl_strategy_uses_replay(const struct fcl_strategy_config *cfg)
{
	return cfg->method->ops->replay_draws > 0 && cfg->memory > 0;
}

uint32_t fcl_strategy_model_vectors(const struct fcl_strategy_config *cfg)
{
	return (uint32_t)cfg->method->ops->model_vectors;
}

uint32_t fcl_strategy_extra_models(const struct fcl_strategy_config *cfg)
{
	return (uint32_t)cfg->method->ops->extra_models;
}

size_t fcl_strategy_bytes_per_sample(const struct fcl_strategy_config *cfg, uint32_t n_classes)
{
	return fcl_replay_bytes_per_sample(cfg->method->ops->replay_logits ? n_classes : 0);
}

size_t fcl_loop_max_batch(const struct fcl_loop_config *loop)
{
	size_t nb = loop->online ? loop->stream_batch : loop->batch_size;
	return nb + 2 * (size_t)loop->replay_batch;
}

int fcl_strategy_create(const struct fcl_strategy_config *cfg, const struct fcl_loop_config *loop,
			uint32_t n_layers, const uint32_t *sizes, uint64_t seed, uint32_t client,
			struct fcl_strategy **out)
{
	struct fcl_arch a;

	if (n_layers < 1 || n_layers > FCL_MLP_MAX_LAYERS || fcl_arch_mlp(&a, n_layers, sizes))
		return -EINVAL;
	return fcl_strategy_create_arch(cfg, loop, &a, seed, client, out);
}

int fcl_strategy_create_arch(const struct fcl_strategy_config *cfg,
			     const struct fcl_loop_config *loop, const struct fcl_arch *arch,
			     uint64_t seed, uint32_t client, struct fcl_strategy **out)
{
	const struct fcl_strategy_ops *ops = cfg->method ? cfg->method->ops : NULL;
	struct fcl_strategy *s;
	size_t mb = fcl_loop_max_batch(loop), C, rb = loop->replay_batch ? loop->replay_batch : 1;
	uint32_t n_layers = arch->n_dense;
	const uint32_t *sizes = arch->sizes;
	int rc;

	if (!ops || n_layers < 1 || n_layers > FCL_MLP_MAX_LAYERS ||
	    (loop->online ? loop->stream_batch == 0 || loop->online_iter == 0
			  : loop->batch_size == 0 || loop->epochs == 0))
		return -EINVAL;
	/* a body counts as a layer of features before the head (fcl/strategy.h) */
	if (n_layers - 1 + (arch->n_body > 0) < cfg->method->min_hidden)
		return -EINVAL;
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->loop = *loop;
	s->ops = ops;
	s->seed = seed;
	s->client = client;
	s->arch = *arch;
	s->n_layers = n_layers;
	memcpy(s->sizes, sizes, (n_layers + 1) * sizeof *sizes);
	s->dim = arch->dim_in;
	s->d = sizes[n_layers - 1];
	s->C = C = sizes[n_layers];
	s->max_batch = mb;
	s->exposed = calloc(C, 1);
	s->before = calloc(C, 1);
	s->task = -1;
	s->present = calloc(C, 1);
	s->all = malloc(C);
	if (s->all)
		memset(s->all, 1, C);
	s->x = fcl_alloc_floats(mb * s->dim);
	s->y = calloc(mb, sizeof *s->y);
	s->slots = calloc(rb, sizeof *s->slots);
	s->slots2 = calloc(rb, sizeof *s->slots2);
	s->z = fcl_alloc_floats(mb * C);
	s->dz = fcl_alloc_floats(mb * C);
	s->probs = fcl_alloc_floats(mb * C);
	s->zsave = fcl_alloc_floats(mb * C);
	s->ce = fcl_alloc_floats(mb);
	s->dh = fcl_alloc_floats(mb * s->d);
	s->zero_bias = fcl_alloc_floats(C);
	if (!s->exposed || !s->before || !s->present || !s->all || !s->x || !s->y || !s->slots ||
	    !s->slots2 || !s->z || !s->dz || !s->probs || !s->zsave || !s->ce || !s->dh ||
	    !s->zero_bias) {
		rc = -ENOMEM;
		goto err;
	}
	rc = fcl_replay_init(&s->buf, ops->replay_draws ? cfg->memory : 0,
			     ops->replay_logits ? (uint32_t)C : 0);
	if (rc)
		goto err;
	if (ops->init && (rc = ops->init(s)) != 0)
		goto err;
	if ((rc = fcl__strategy_bn_init(s)) != 0)
		goto err;
	*out = s;
	return 0;
err:
	fcl_strategy_destroy(s);
	return rc;
}

void fcl_strategy_destroy(struct fcl_strategy *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->fini)
		s->ops->fini(s);
	fcl_replay_fini(&s->buf);
	free(s->exposed);
	free(s->before);
	free(s->present);
	free(s->all);
	free(s->x);
	free(s->y);
	free(s->slots);
	free(s->slots2);
	free(s->order);
	free(s->z);
	free(s->dz);
	free(s->probs);
	free(s->zsave);
	free(s->ce);
	free(s->dh);
	free(s->zero_bias);
	fcl__strategy_bn_fini(s);
	free(s);
}

uint64_t fcl_strategy_checksum(const struct fcl_strategy *s)
{
	uint64_t h = fcl_replay_checksum(&s->buf);
	h = fcl_mix64(h ^ fcl_hash64(s->exposed, s->C)) ^ s->seen;
	if (s->ops->checksum)
		h = fcl_mix64(h) ^ s->ops->checksum(s);
	if (s->bn_n)
		h = fcl_mix64(h) ^ fcl__strategy_bn_checksum(s);
	return h;
}

#define STATE_MAGIC 0x53434c46u /* "FLCS" */

int fcl_strategy_save(const struct fcl_strategy *s, FILE *f)
{
	char name[32] = {0};
	uint32_t head[3] = {STATE_MAGIC, s->C, s->n_exposed};
	snprintf(name, sizeof name, "%s", fcl_strategy_name(&s->cfg));
	int rc = fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, name, sizeof name);
	rc = rc ? rc : fcl_fput(f, &s->task, sizeof s->task);
	rc = rc ? rc : fcl_fput(f, &s->seen, sizeof s->seen);
	rc = rc ? rc : fcl_fput(f, s->exposed, s->C);
	rc = rc ? rc : fcl_fput(f, s->before, s->C);
	rc = rc ? rc : fcl_replay_save(&s->buf, f);
	rc = rc || !s->ops->save ? rc : s->ops->save(s, f);
	return rc ? rc : fcl__strategy_bn_save(s, f); /* nothing without local batchnorm */
}

int fcl_strategy_load(struct fcl_strategy *s, FILE *f)
{
	char name[32];
	uint32_t head[3], n = 0;
	int rc = fcl_fget(f, head, sizeof head);
	rc = rc ? rc : fcl_fget(f, name, sizeof name);
	if (rc)
		return rc;
	name[sizeof name - 1] = '\0';
	if (head[0] != STATE_MAGIC || head[1] != s->C || strcmp(name, fcl_strategy_name(&s->cfg)))
		return -EINVAL;
	rc = fcl_fget(f, &s->task, sizeof s->task);
	rc = rc ? rc : fcl_fget(f, &s->seen, sizeof s->seen);
	rc = rc ? rc : fcl_fget(f, s->exposed, s->C);
	rc = rc ? rc : fcl_fget(f, s->before, s->C);
	rc = rc ? rc : fcl_replay_load(&s->buf, f);
	if (rc)
		return rc;
	for (uint32_t c = 0; c < s->C; c++)
		n += s->exposed[c] != 0;
	for (uint32_t i = 0; i < s->buf.n; i++)
		if (s->buf.label[i] < 0 || (uint32_t)s->buf.label[i] >= s->C)
			return -EINVAL;
	if (n != head[2])
		return -EINVAL;
	s->n_exposed = n;
	rc = s->ops->load ? s->ops->load(s, f) : 0;
	return rc ? rc : fcl__strategy_bn_load(s, f);
}

uint32_t fcl_strategy_buffer_fill(const struct fcl_strategy *s)
{
	return s->buf.n;
}

uint64_t fcl_strategy_seen(const struct fcl_strategy *s)
{
	return s->seen;
}

uint32_t fcl_strategy_n_exposed(const struct fcl_strategy *s)
{
	return s->n_exposed;
}

/* ---- the loops ----------------------------------------------------------- */

static size_t gather_replay(struct fcl_strategy *s, const struct fcl_dataset *ds,
			    const uint32_t *const *perms, const uint32_t *slots, size_t k,
			    size_t row, struct fcl_rng *aug)
{
	for (size_t i = 0; i < k; i++) {
		uint32_t slot = slots[i];
		const uint32_t *perm = perms ? perms[s->buf.task[slot]] : NULL;
		fcl_dataset_gather(ds, &s->buf.ids[slot], 1, perm, s->x + (row + i) * s->dim,
				   s->y + row + i);
	}
	fcl_dataset_augment(ds, s->x + row * s->dim, k, aug); /* data.augment only */
	return k;
}

/* One round's loop state: its draws, and the loss being averaged. */
struct round_loop {
	const struct fcl_train_round *r;
	struct fcl_rng rep, res, shuf; /* replay draws, reservoir offers, offline shuffles */
	struct fcl_rng aug;            /* data.augment's crops and flips */
	const uint32_t *perm;          /* the round's task's pixel permutation */
	const uint8_t *exposed;        /* the classes the loss may use */
	int draws;                     /* replay draws per step */
	uint32_t passes, iters;
	uint64_t steps; /* SGD steps so far this round: seeds dropout's masks */
	double sum;    /* loss times samples, over the stream (online) or the last epoch */
	size_t weight; /* samples in sum */
};

/* Marks the classes of a stream batch present, and exposed from now on. */
static void expose(struct fcl_strategy *s, const struct fcl_dataset *ds, const uint32_t *ids,
		   size_t b)
{
	memset(s->present, 0, s->C);
	for (size_t k = 0; k < b; k++) {
		uint8_t c = ds->y[ids[k]];
		FCL_ASSERT(c < s->C);
		s->present[c] = 1;
		if (!s->exposed[c]) {
			s->exposed[c] = 1;
			s->n_exposed++;
		}
	}
}

/* One SGD step on a stream batch (ids, b) plus fresh replay draws. */
static int step(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
		struct round_loop *lp, const uint32_t *ids, size_t b, uint32_t it, uint32_t pass)
{
	const struct fcl_loop_config *L = &s->loop;
	const struct fcl_dataset *ds = lp->r->ds;
	struct fcl_strategy_batch bt = {.x = s->x,
					.y = s->y,
					.n_new = b,
					.rep = s->slots,
					.rep2 = s->slots2,
					.exposed = lp->exposed,
					.present = s->present,
					.last_iter = it + 1 == lp->iters,
					.task_mask = lp->r->task_mask};

	fcl_dataset_gather(ds, ids, b, lp->perm, s->x, s->y);
	fcl_dataset_augment(ds, s->x, b, &lp->aug); /* data.augment only */
	if (lp->draws >= 1) {
		bt.n_rep = fcl_replay_draw(&s->buf, &lp->rep, L->replay_batch, s->slots);
		gather_replay(s, ds, lp->r->perms, s->slots, bt.n_rep, b, &lp->aug);
	}
	if (lp->draws >= 2) {
		bt.n_rep2 = fcl_replay_draw(&s->buf, &lp->rep, L->replay_batch, s->slots2);
		gather_replay(s, ds, lp->r->perms, s->slots2, bt.n_rep2, b + bt.n_rep, &lp->aug);
	}
	/* each layer's update inside the backward: the same sums per parameter */
	int fuse = s->ops->one_backward && !opt->grad_hook && L->head_bias, rc = 0;
	if (!m->grads_clean) /* else the last step's SGD pass left zeros */
		fcl_mlp_zero_grad(m);
	m->grads_clean = 0;
	if (fuse) {
		if ((rc = fcl_sgd_ready(opt, m->n_params)) != 0)
			return rc;
		memset(m->updated, 0, sizeof m->updated);
		m->fused = opt;
	}
	fcl_model_set_train(m, 1, s->seed, s->client, lp->r->round, lp->steps++);
	double l = s->ops->step(s, m, &bt);
	fcl_model_set_train(m, 0, 0, 0, 0, 0);
	if (L->online || pass + 1 == lp->passes) {
		lp->sum += l * (double)b;
		lp->weight += b;
	}
	if (!L->head_bias)
		memset(m->grads + m->b_offset[m->n_layers - 1], 0, s->C * sizeof(float));
	if (fuse)
		fcl_mlp_fused_finish(m);
	else /* batchnorm's running statistics (the tail) are not stepped */
		rc = fcl_sgd_step_clear(opt, m->params, m->grads, m->n_trained);
	m->grads_clean = rc == 0;
	if (!rc && s->ops->after_step)
		s->ops->after_step(s, m, opt);
	return rc;
}

/* The buffer sees a stream batch after the steps on it (first pass only). */
static void offer(struct fcl_strategy *s, struct round_loop *lp, const uint32_t *ids, size_t b)
{
	const struct fcl_dataset *ds = lp->r->ds;
	uint16_t task = (uint16_t)lp->r->task;
	for (size_t k = 0; k < b; k++)
		if (s->ops->offer)
			s->ops->offer(s, &lp->res, ids[k], task, ds->y[ids[k]]);
		else
			fcl_replay_offer(&s->buf, &lp->res, ids[k], task, ds->y[ids[k]],
					 s->zsave + k * s->C);
	s->seen += b;
}

static int reserve_order(struct fcl_strategy *s, size_t n)
{
	if (n <= s->order_cap)
		return 0;
	uint32_t *p = realloc(s->order, n * sizeof *p);
	if (!p)
		return -ENOMEM;
	s->order = p;
	s->order_cap = n;
	return 0;
}

static int train_round(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
		       const struct fcl_train_round *r, float *loss)
{
	const struct fcl_loop_config *L = &s->loop;
	size_t n = r->n, bs = L->online ? L->stream_batch : L->batch_size;
	struct round_loop lp = {.r = r,
				.perm = r->perms ? r->perms[r->task] : NULL,
				/* a task-incremental round masks by its task's classes instead */
				.exposed = L->mask_unexposed && !r->task_mask ? s->exposed : s->all,
				.draws = s->buf.cap ? s->ops->replay_draws : 0,
				.passes = L->online ? 1 : r->epochs,
				.iters = s->ops->no_stream_steps ? 0
					 : L->online             ? L->online_iter
								 : 1};
	int rc;

	*loss = 0.0f;
	FCL_ASSERT(m->max_batch >= s->max_batch && m->n_layers == s->n_layers);
	if (n == 0)
		return 0;
	if ((rc = reserve_order(s, n)) != 0)
		return rc;
	fcl_rng_init(&lp.rep, s->seed, FCL_RNG_REPLAY, s->client, r->round);
	fcl_rng_init(&lp.res, s->seed, FCL_RNG_RESERVOIR, s->client, r->round);
	fcl_rng_init(&lp.shuf, s->seed, FCL_RNG_LOCAL_SHUFFLE, s->client, r->round);
	fcl_rng_init(&lp.aug, s->seed, FCL_RNG_AUGMENT, s->client, r->round);
	if ((int64_t)r->task != s->task) {
		memcpy(s->before, s->exposed, s->C);
		s->task = r->task;
	}
	if (s->ops->round_begin && (rc = s->ops->round_begin(s, m)) != 0)
		return rc;
	for (uint32_t pass = 0; pass < lp.passes; pass++) {
		memcpy(s->order, r->idx, n * sizeof *r->idx);
		if (!L->online)
			fcl_rng_shuffle_u32(&lp.shuf, s->order, n);
		for (size_t i = 0; i < n; i += bs) {
			size_t b = n - i < bs ? n - i : bs;
			const uint32_t *ids = s->order + i;
			expose(s, r->ds, ids, b);
			for (uint32_t it = 0; it < lp.iters; it++)
				if ((rc = step(s, m, opt, &lp, ids, b, it, pass)) != 0)
					return rc;
			if (pass == 0)
				offer(s, &lp, ids, b);
		}
	}
	*loss = (float)(lp.sum / (double)(lp.weight ? lp.weight : 1));
	if (s->ops->round_end)
		return s->ops->round_end(s, m, opt, r->ds, r->perms, r->round, loss);
	return 0;
}

int fcl_strategy_train(struct fcl_strategy *s, struct fcl_mlp *m, struct fcl_sgd *opt,
		       const struct fcl_train_round *r, float *loss)
{
	/* model.batchnorm: local: the client's own batchnorm values in, and out
	 * again after the whole round (round_end ops included) */
	fcl__strategy_bn_enter(s, m);
	int rc = train_round(s, m, opt, r, loss);
	fcl__strategy_bn_leave(s, m);
	return rc;
}

void fcl_strategy_end_task(struct fcl_strategy *s, struct fcl_mlp *m)
{
	uint32_t L = m->n_layers;
	size_t d = s->d;
	float *W = m->params + m->w_offset[L - 1];
	double sum_old = 0.0, sum_new = 0.0;
	uint32_t n_old = 0, n_new = 0;

	if (!s->cfg.wa)
		return;
	for (size_t c = 0; c < s->C; c++) {
		double nrm = 0.0;
		for (size_t k = 0; k < d; k++)
			nrm += (double)W[c * d + k] * W[c * d + k];
		nrm = sqrt(nrm);
		if (s->before[c]) {
			sum_old += nrm;
			n_old++;
		} else if (s->exposed[c]) {
			sum_new += nrm;
			n_new++;
		}
	}
	if (!n_old || !n_new || sum_new <= 0.0)
		return;
	float gamma = (float)((sum_old / n_old) / (sum_new / n_new));
	for (size_t c = 0; c < s->C; c++)
		if (!s->before[c] && s->exposed[c])
			for (size_t k = 0; k < d; k++)
				W[c * d + k] *= gamma;
	memcpy(s->before, s->exposed, s->C);
}

/* ---- shared kernels ------------------------------------------------------ */

static int allowed(const uint8_t *mask, size_t c, int32_t y)
{
	return !mask || mask[c] || (int32_t)c == y;
}

double fcl_cl_xent(const float *z, const int32_t *y, size_t B, size_t C, const uint8_t *mask,
		   float *probs, float *ce)
{
	double total = 0.0;
	for (size_t i = 0; i < B; i++) {
		const float *zi = z + i * C;
		float zmax = -INFINITY;
		for (size_t c = 0; c < C; c++)
			if (allowed(mask, c, y[i]) && zi[c] > zmax)
				zmax = zi[c];
		double sum = 0.0;
		for (size_t c = 0; c < C; c++)
			if (allowed(mask, c, y[i]))
				sum += exp((double)zi[c] - zmax);
		double li = log(sum) - ((double)zi[y[i]] - zmax);
		if (probs)
			for (size_t c = 0; c < C; c++)
				probs[i * C + c] = allowed(mask, c, y[i])
						       ? (float)(exp((double)zi[c] - zmax) / sum)
						       : 0.0f;
		if (ce)
			ce[i] = (float)li;
		total += li;
	}
	return B ? total / (double)B : 0.0;
}

void fcl_cl_xent_grad(float *dz, const float *probs, const int32_t *y, size_t B, size_t C,
		      const uint8_t *mask, const float *w, float scale)
{
	for (size_t i = 0; i < B; i++) {
		float f = scale * (w ? w[i] : 1.0f) / (float)B;
		for (size_t c = 0; c < C; c++)
			if (allowed(mask, c, y[i]))
				dz[i * C + c] += f * (probs[i * C + c] - ((int32_t)c == y[i]));
	}
}

double fcl_strategy_ce_rows(struct fcl_strategy *s, struct fcl_mlp *m, const int32_t *y, size_t r0,
			    size_t n, const uint8_t *mask, float weight)
{
	size_t C = s->C;
	if (n == 0)
		return 0.0;
	const float *z = m->acts[m->n_layers] + r0 * C;
	double l = fcl_cl_xent(z, y + r0, n, C, mask, s->probs + r0 * C, NULL);
	fcl_cl_xent_grad(s->dz + r0 * C, s->probs + r0 * C, y + r0, n, C, mask, NULL, weight);
	return weight * l;
}
