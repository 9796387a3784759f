/* tests/test_strategy.c - continual-learning strategies: finite differences of
 * every loss term, reservoir uniformity, the online loop, per-client state */
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/replay.h"
#include "fcl/rng.h"
#include "fcl/schema.h"
#include "fcl/strategy.h"
#include "fcl/strategy_impl.h"
#include "gradcheck.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Central differences of f over v (n) against the analytic gradient g. */
/* The online loop most tests use: stream and replay batches of 10, head bias on,
 * unexposed classes masked; iters SGD steps per stream batch. */
/* The method's place in the registry (the seed offset the checks were written with). */
static uint64_t registry_index(const char *kind)
{
	for (size_t i = 0; fcl_strategy_at(i); i++)
		if (!strcmp(fcl_strategy_at(i)->name, kind))
			return i;
	return 99;
}

/* Sets a method's key when it has one (other methods ignore it). */
static void set(struct fcl_strategy_config *cfg, const char *key, const char *value)
{
	char why[128];
	int rc = fcl_strategy_config_set(cfg, key, value, why, sizeof why);
	if (rc && rc != -ENOENT)
		NOTE("%s: %s", key, why);
}

static struct fcl_loop_config online_loop(uint32_t iters)
{
	return (struct fcl_loop_config){.online = 1,
					.stream_batch = 10,
					.online_iter = iters,
					.replay_batch = 10,
					.head_bias = 1,
					.mask_unexposed = 1};
}

/* ---- kernels ------------------------------------------------------------- */

enum { KB = 4, KD = 5, KC = 6, KP = 3, KQ = 4 };

struct kctx {
	float h[KB * KD], W[KC * KD], b[KC], g[KB * KC], inv_c[KB], z[KB * KC], probe[KB * KC];
	float zt[KB * KC], target[KB * KC], w[KB];
	float keys[KP * KQ], q[KB * KQ], mass[KB];
	uint32_t sel[KB];
	int32_t y[KB];
	uint8_t mask[KC];
	float scale;
	int contrastive;
	size_t row, col; /* for per-sample GSF checks */
};

static double f_uer(void *p)
{
	struct kctx *c = p;
	fcl_uer_cos_forward(c->z, c->h, c->W, KB, KD, KC, c->scale);
	return probe(c->z, c->probe, KB * KC);
}

static double f_mvp_logits(void *p)
{
	struct kctx *c = p;
	fcl_mvp_logits(c->z, c->h, c->W, c->b, c->g, c->inv_c, KB, KD, KC);
	return probe(c->z, c->probe, KB * KC);
}

static double f_weighted_xent(void *p)
{
	struct kctx *c = p;
	float ce[KB];
	fcl_cl_xent(c->z, c->y, KB, KC, c->mask, NULL, ce);
	double l = 0;
	for (size_t i = 0; i < KB; i++)
		l += c->w[i] * ce[i];
	return l / KB;
}

/* CE of sample row (or the mean when row == KB) of the MVP logits. */
static double f_mvp_ce(void *p)
{
	struct kctx *c = p;
	float ce[KB];
	fcl_mvp_logits(c->z, c->h, c->W, c->b, c->g, c->inv_c, KB, KD, KC);
	double mean = fcl_cl_xent(c->z, c->y, KB, KC, c->mask, NULL, ce);
	return c->row < KB ? ce[c->row] : mean;
}

static double f_key(void *p)
{
	struct kctx *c = p;
	return fcl_mvp_key_loss(NULL, c->keys, c->q, c->sel, c->mass, KB, KP, KQ, c->contrastive);
}

static double f_derpp(void *p)
{
	struct kctx *c = p;
	return fcl_derpp_mse(NULL, c->z, c->target, KB, KC, 0.3f);
}

static double f_lwf(void *p)
{
	struct kctx *c = p;
	return fcl_lwf_kd(NULL, c->z, c->zt, KB, KC, c->mask, 2.0f, 0.7f);
}

static void kinit(struct kctx *c, uint64_t seed)
{
	struct fcl_rng r;
	memset(c, 0, sizeof *c);
	fcl_rng_init(&r, seed, FCL_RNG_TEST, 0, 0);
	fill(c->h, KB * KD, &r, 1);
	for (size_t k = 0; k < KB * KD; k++)
		c->h[k] = fabsf(c->h[k]); /* features after a ReLU */
	fill(c->W, KC * KD, &r, 1);
	fill(c->b, KC, &r, 0.5f);
	for (size_t k = 0; k < KB * KC; k++)
		c->g[k] = 2.0f / (1.0f + expf(-fcl_rng_normal(&r)));
	for (size_t i = 0; i < KB; i++)
		c->inv_c[i] = 0.5f + fcl_rng_uniform(&r);
	fill(c->probe, KB * KC, &r, 1);
	fill(c->z, KB * KC, &r, 2);
	fill(c->zt, KB * KC, &r, 2);
	fill(c->target, KB * KC, &r, 2);
	fill(c->keys, KP * KQ, &r, 1);
	fill(c->q, KB * KQ, &r, 1);
	for (size_t i = 0; i < KB; i++) {
		c->w[i] = 0.5f + fcl_rng_uniform(&r);
		c->y[i] = (int32_t)(i % 4);
		c->sel[i] = (uint32_t)(i % KP);
		c->mass[i] = 1.0f + (float)i;
	}
	for (size_t k = 0; k < KC; k++)
		c->mask[k] = k != 4; /* class 4 not exposed */
	c->scale = 1.0f / 0.09f;
}

static void test_uer_cos(void)
{
	struct kctx c;
	float dh[KB * KD] = {0}, dW[KC * KD] = {0};
	kinit(&c, 1);
	fcl_uer_cos_backward(dh, dW, c.probe, c.h, c.W, KB, KD, KC, c.scale);
	double e1 = fd_worst(c.h, dh, KB * KD, f_uer, &c, 1e-3f);
	double e2 = fd_worst(c.W, dW, KC * KD, f_uer, &c, 1e-3f);
	CHECK(e1 < 1e-2 && e2 < 1e-2,
	      "UER cosine logits: dh and dW match finite differences "
	      "(%.2e, %.2e)",
	      e1, e2);
	/* The gradient of a cosine logit w.r.t. w_c is orthogonal to w_c. */
	double worst = 0;
	for (size_t cc = 0; cc < KC; cc++) {
		double dp = 0, nw = 0, ng = 0;
		for (size_t k = 0; k < KD; k++) {
			dp += (double)dW[cc * KD + k] * c.W[cc * KD + k];
			nw += (double)c.W[cc * KD + k] * c.W[cc * KD + k];
			ng += (double)dW[cc * KD + k] * dW[cc * KD + k];
		}
		worst = fmax(worst, fabs(dp) / sqrt(nw * ng + 1e-30));
	}
	CHECK(worst < 1e-4, "UER: dL/dw_c is orthogonal to w_c (|cos| %.1e)", worst);
}

static void test_mvp_logits(void)
{
	struct kctx c;
	float df[KB * KD] = {0}, dW[KC * KD] = {0}, db[KC] = {0}, dg[KB * KC] = {0};
	kinit(&c, 2);
	fcl_mvp_logits_backward(df, dW, db, dg, c.probe, c.h, c.W, c.b, c.g, c.inv_c, KB, KD, KC);
	double e[4] = {fd_worst(c.h, df, KB * KD, f_mvp_logits, &c, 1e-3f),
		       fd_worst(c.W, dW, KC * KD, f_mvp_logits, &c, 1e-3f),
		       fd_worst(c.b, db, KC, f_mvp_logits, &c, 1e-3f),
		       fd_worst(c.g, dg, KB * KC, f_mvp_logits, &c, 1e-3f)};
	CHECK(e[0] < 1e-2 && e[1] < 1e-2 && e[2] < 1e-2 && e[3] < 1e-2,
	      "MVP masked, feature-scaled logits: df dW db dgain match finite differences "
	      "(%.1e %.1e %.1e %.1e)",
	      e[0], e[1], e[2], e[3]);
	/* AFS: c = 1 - cos(w_y, f) + margin, so inv_c in [1/(2+m), 1/m]. */
	float inv[KB];
	fcl_mvp_afs(inv, c.h, c.W, c.y, KB, KD, 0.5f);
	int ok = 1;
	for (size_t i = 0; i < KB; i++)
		ok &= inv[i] >= 1.0f / 2.5f - 1e-6f && inv[i] <= 2.0f + 1e-6f;
	CHECK(ok, "AFS factors lie in [1/(2+margin), 1/margin]");
}

static void test_focal(void)
{
	struct kctx c;
	float probs[KB * KC], dz[KB * KC] = {0};
	kinit(&c, 3);
	fcl_cl_xent(c.z, c.y, KB, KC, c.mask, probs, NULL);
	fcl_cl_xent_grad(dz, probs, c.y, KB, KC, c.mask, c.w, 1.0f);
	double e = fd_worst(c.z, dz, KB * KC, f_weighted_xent, &c, 1e-3f);
	CHECK(e < 5e-3,
	      "focal-weighted masked CE mean_i w_i CE_i: dz matches finite differences "
	      "(%.2e)",
	      e);
	int masked_zero = 1;
	for (size_t i = 0; i < KB; i++)
		masked_zero &= dz[i * KC + 4] == 0.0f && probs[i * KC + 4] == 0.0f;
	CHECK(masked_zero, "an unexposed class gets probability 0 and no gradient");

	/* GSF closed forms: g_i = dCE_i/dw_{y_i}, gbar_i = dCE_mean/dw_{y_i}. */
	float score[KB], gi[KB * KD], gbar[KB * KD];
	fcl_mvp_logits(c.z, c.h, c.W, c.b, c.g, c.inv_c, KB, KD, KC);
	fcl_cl_xent(c.z, c.y, KB, KC, c.mask, probs, NULL);
	fcl_mvp_gsf(score, gi, gbar, probs, c.h, c.g, c.inv_c, c.y, KB, KD, KC);
	double worst = 0;
	for (size_t i = 0; i < KB; i++) {
		float *wy = c.W + (size_t)c.y[i] * KD;
		c.row = i;
		worst = fmax(worst, fd_worst(wy, gi + i * KD, KD, f_mvp_ce, &c, 1e-3f));
		c.row = KB;
		worst = fmax(worst, fd_worst(wy, gbar + i * KD, KD, f_mvp_ce, &c, 1e-3f));
	}
	CHECK(worst < 1e-2,
	      "GSF closed-form per-sample and mean head gradients match finite "
	      "differences (%.2e)",
	      worst);
	int in_range = 1;
	for (size_t i = 0; i < KB; i++)
		in_range &= score[i] >= 0.0f && score[i] <= 2.0f;
	CHECK(in_range, "GSF scores 1 - cos lie in [0, 2] (%.3f %.3f %.3f %.3f)", score[0],
	      score[1], score[2], score[3]);
}

static void test_key_loss(void)
{
	struct kctx c;
	for (int contrastive = 0; contrastive <= 1; contrastive++) {
		float dk[KP * KQ] = {0};
		kinit(&c, 4);
		c.contrastive = contrastive;
		double l =
		    fcl_mvp_key_loss(dk, c.keys, c.q, c.sel, c.mass, KB, KP, KQ, contrastive);
		double e = fd_worst(c.keys, dk, KP * KQ, f_key, &c, 1e-3f);
		CHECK(e < 1e-2 && isfinite(l),
		      "%s key loss (%.4f): dkeys match finite differences "
		      "(%.2e)",
		      contrastive ? "contrastive" : "L2P pull", l, e);
	}
}

static void test_derpp_lwf(void)
{
	struct kctx c;
	float dz[KB * KC] = {0}, dz2[KB * KC] = {0};
	kinit(&c, 5);
	fcl_derpp_mse(dz, c.z, c.target, KB, KC, 0.3f);
	double e1 = fd_worst(c.z, dz, KB * KC, f_derpp, &c, 1e-3f);
	CHECK(e1 < 5e-3, "DER++ logit MSE: dz matches finite differences (%.2e)", e1);
	double kd = fcl_lwf_kd(dz2, c.z, c.zt, KB, KC, c.mask, 2.0f, 0.7f);
	double e2 = fd_worst(c.z, dz2, KB * KC, f_lwf, &c, 1e-3f);
	CHECK(e2 < 5e-3 && kd > 0, "LwF distillation (%.4f): dz matches finite differences (%.2e)",
	      kd, e2);
	CHECK(fcl_lwf_kd(NULL, c.zt, c.zt, KB, KC, c.mask, 2.0f, 0.7f) < 1e-9,
	      "LwF distillation is 0 when student = teacher");
}

/* ---- whole steps: the returned loss against finite differences ------------ */

enum { SD = 8, SC = 5, SN = 3 };
static const uint32_t step_sizes[] = {SD, 7, 6, SC};

struct sctx {
	struct fcl_strategy *s;
	struct fcl_mlp *m;
	struct fcl_strategy_batch *b;
};

static double f_step(void *p)
{
	struct sctx *c = p;
	fcl_mlp_zero_grad(c->m);
	return c->s->ops->step(c->s, c->m, c->b);
}

static void check_step(const char *kind, int mvp_plain)
{
	struct fcl_strategy_config cfg;
	struct fcl_loop_config loop = {
	    .online = 1, .stream_batch = SN, .online_iter = 1, .replay_batch = SN, .head_bias = 1};
	struct fcl_strategy *s = NULL;
	struct fcl_mlp m;
	struct fcl_rng r;
	float x[3 * SN * SD];
	int32_t y[3 * SN] = {0, 1, 1, 2, 0, 1, 3, 2, 0};
	uint32_t rep[SN] = {0, 2, 1}, rep2[SN] = {3, 1, 0};
	uint8_t exposed[SC] = {1, 1, 1, 1, 0}, present[SC] = {1, 1, 0, 0, 0};

	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, kind);
	cfg.memory = 8;
	set(&cfg, "lambda", "0.7");
	set(&cfg, "scale", "4");
	if (mvp_plain) {
		set(&cfg, "mvp.afs",
		    "false"); /* AFS and GSF are detached: the FD sees them as constants */
		set(&cfg, "mvp.focal", "off");
		set(&cfg, "mvp.contrastive",
		    "false"); /* selection then does not depend on the counts */
		set(&cfg, "mvp.pool", "3");
		set(&cfg, "mvp.query_dim", "4");
	}
	REQUIRE(fcl_strategy_create(&cfg, &loop, 3, step_sizes, 7, 0, &s) == 0, "%s created", kind);
	REQUIRE(fcl_mlp_init(&m, 3, step_sizes, fcl_loop_max_batch(&loop)) == 0, "model");
	fcl_rng_init(&r, 40 + registry_index(kind), FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &r);
	fill(x, 3 * SN * SD, &r, 1);
	struct fcl_rng rr;
	fcl_rng_init(&rr, 1, FCL_RNG_TEST, 1, 0);
	float zl[SC];
	for (uint32_t k = 0; k < 4; k++) {
		fill(zl, SC, &r, 1);
		fcl_replay_offer(&s->buf, &rr, k, 0, (int32_t)k % 4, zl);
	}
	if (s->ops->round_begin) {
		memcpy(s->exposed, exposed, SC);
		s->n_exposed = 4;
		s->ops->round_begin(s, &m);
		/* perturb the student so that the LwF teacher differs */
		for (size_t k = 0; k < m.n_params; k++)
			m.params[k] += 0.05f * fcl_rng_normal(&r);
	}
	struct fcl_strategy_batch b = {.x = x,
				       .y = y,
				       .n_new = SN,
				       .n_rep = s->ops->replay_draws >= 1 ? SN : 0,
				       .n_rep2 = s->ops->replay_draws >= 2 ? SN : 0,
				       .rep = rep,
				       .rep2 = rep2,
				       .exposed = exposed,
				       .present = present,
				       .last_iter = 1};
	struct sctx c = {s, &m, &b};
	f_step(&c);
	float *g = malloc(m.n_params * sizeof *g);
	REQUIRE(g, "grad copy");
	memcpy(g, m.grads, m.n_params * sizeof *g);
	double e = fd_worst(m.params, g, m.n_params, f_step, &c, 1e-3f);
	CHECK(e < 3e-2,
	      "%s%s: a whole step's MLP gradient matches finite differences of its "
	      "loss (%.2e)",
	      kind, mvp_plain ? " (AFS/GSF off, pull key loss)" : "", e);
	int head_rows_still = 1;
	if (strcmp(kind, "lwf") && strcmp(kind, "der++"))
		for (size_t k = 0; k < 6; k++) /* class 4 is unexposed: its head row gets nothing */
			head_rows_still &= g[m.w_offset[2] + 4 * 6 + k] == 0.0f;
	CHECK(head_rows_still, "%s: the unexposed class's head row gets no gradient", kind);
	free(g);
	fcl_mlp_fini(&m);
	fcl_strategy_destroy(s);
}

static void test_steps(void)
{
	check_step("finetune", 0);
	check_step("er", 0);
	check_step("er-ace", 0);
	check_step("der++", 0);
	check_step("lwf", 0);
	check_step("uer", 0);
	check_step("mvp", 1);
}

/* ---- reservoir sampling is uniform ---------------------------------------- */

/* Upper tail of chi-square with k degrees of freedom (Wilson-Hilferty). */
static double chi2_sf(double x, double k)
{
	double z = (pow(x / k, 1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / sqrt(2.0 / (9.0 * k));
	return 0.5 * erfc(z / sqrt(2.0));
}

/* Keeps-per-item counts over trials; broken = 1 always replaces (a sliding window). */
static double reservoir_p(uint32_t K, uint32_t n, uint32_t trials, int broken)
{
	struct fcl_replay r;
	uint32_t *count = calloc(n, sizeof *count);
	double p = K / (double)n, e = trials * p, chi2 = 0;
	for (uint32_t t = 0; t < trials; t++) {
		struct fcl_rng rng;
		fcl_rng_init(&rng, 2026, FCL_RNG_TEST, t, 0);
		fcl_replay_init(&r, K, 0);
		for (uint32_t i = 0; i < n; i++) {
			if (broken && r.n == K) {
				r.ids[fcl_rng_below(&rng, K)] = i;
				continue;
			}
			fcl_replay_offer(&r, &rng, i, 0, 0, NULL);
		}
		for (uint32_t k = 0; k < r.n; k++)
			count[r.ids[k]]++;
		fcl_replay_fini(&r);
	}
	/* each count is Binomial(trials, K/n): normalise by its variance */
	for (uint32_t i = 0; i < n; i++)
		chi2 += (count[i] - e) * (count[i] - e) / (e * (1.0 - p));
	free(count);
	return chi2_sf(chi2, n - 1);
}

static void test_reservoir(void)
{
	double p = reservoir_p(20, 1000, 4000, 0);
	NOTE("reservoir K=20, n=1000, 4000 seeded trials: chi-square p-value %.4f", p);
	CHECK(p > 1e-3, "reservoir keeps every item with probability K/n (chi-square p = %.4f)", p);
	double pb = reservoir_p(20, 1000, 4000, 1);
	CHECK(pb < 1e-6, "the same test rejects an always-replace buffer (p = %.2e)", pb);

	struct fcl_replay r;
	struct fcl_rng rng;
	uint32_t slots[40];
	fcl_replay_init(&r, 30, 0);
	fcl_rng_init(&rng, 1, FCL_RNG_TEST, 0, 0);
	for (uint32_t i = 0; i < 25; i++)
		fcl_replay_offer(&r, &rng, i, 0, 0, NULL);
	uint32_t k = fcl_replay_draw(&r, &rng, 10, slots);
	int distinct = k == 10;
	for (uint32_t a = 0; a < k; a++)
		for (uint32_t b = a + 1; b < k; b++)
			distinct &= slots[a] != slots[b] && slots[a] < 25;
	CHECK(distinct, "replay draws are distinct filled slots");
	CHECK(fcl_replay_draw(&r, &rng, 40, slots) == 25, "a draw is capped by the fill");
	fcl_replay_fini(&r);
}

/* ---- the online loop and per-client state across rounds ------------------- */

struct world {
	struct fcl_dataset ds;
	struct fcl_mlp m;
	struct fcl_sgd opt;
	uint32_t idx[600];
};

static const uint32_t loop_sizes[] = {16, 12, 4};

static int world_init(struct world *w, const struct fcl_loop_config *loop)
{
	if (fcl_dataset_synthetic(&w->ds, 600, 16, 4, 5, 0))
		return -1;
	if (fcl_mlp_init(&w->m, 2, loop_sizes, fcl_loop_max_batch(loop)))
		return -1;
	struct fcl_rng r;
	fcl_rng_init(&r, 9, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&w->m, &r);
	fcl_sgd_init(&w->opt, 0.05f, 0.0f, 0.0f);
	for (uint32_t i = 0; i < 600; i++)
		w->idx[i] = i;
	return 0;
}

/* One round of local training with the loop's own epochs. */
static int train(struct fcl_strategy *s, struct world *w, uint32_t task, const uint32_t *idx,
		 size_t n, uint32_t round, float *loss)
{
	struct fcl_train_round r = {.ds = &w->ds,
				    .task = task,
				    .idx = idx,
				    .n = n,
				    .epochs = s->loop.epochs,
				    .round = round};
	return fcl_strategy_train(s, &w->m, &w->opt, &r, loss);
}

static void world_fini(struct world *w)
{
	fcl_sgd_fini(&w->opt);
	fcl_mlp_fini(&w->m);
	fcl_dataset_fini(&w->ds);
}

/* Samples of the given classes, in data order, at most n. */
static size_t pick(const struct world *w, uint32_t *out, size_t n, int c0, int c1, size_t skip)
{
	size_t k = 0;
	for (uint32_t i = 0; i < w->ds.n && k < n; i++)
		if (w->ds.y[i] == c0 || w->ds.y[i] == c1) {
			if (skip) {
				skip--;
				continue;
			}
			out[k++] = i;
		}
	return k;
}

static void test_online_loop(void)
{
	struct fcl_loop_config loop = online_loop(3);
	struct fcl_strategy_config cfg;
	struct fcl_strategy *s;
	struct world w;
	uint32_t ids[100];
	float loss;

	REQUIRE(world_init(&w, &loop) == 0, "synthetic world");
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, "er");
	cfg.memory = 40;
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &s) == 0, "ER created");
	size_t n = pick(&w, ids, 100, 0, 1, 0);
	float *head = malloc(12 * sizeof *head);
	memcpy(head, w.m.params + w.m.w_offset[1] + 2 * 12, 12 * sizeof *head);
	int rc = train(s, &w, 0, ids, n, 0, &loss);
	CHECK(rc == 0 && isfinite(loss), "online ER trains on %zu samples (loss %.4f)", n, loss);
	CHECK(fcl_strategy_seen(s) == n && fcl_strategy_buffer_fill(s) == 40,
	      "seen counts stream samples only (%llu), buffer full (%u)",
	      (unsigned long long)fcl_strategy_seen(s), fcl_strategy_buffer_fill(s));
	CHECK(fcl_strategy_n_exposed(s) == 2, "two classes exposed");
	CHECK(memcmp(head, w.m.params + w.m.w_offset[1] + 2 * 12, 12 * sizeof *head) == 0,
	      "the head row of a class not yet exposed did not move");
	free(head);
	fcl_strategy_destroy(s);
	world_fini(&w);
}

/* Every strategy runs the online loop and the offline loop without harm. */
static void test_all_run(void)
{
	static const char *const kinds[] = {"finetune", "er",  "er-ace", "der++", "lwf",
					    "ewc",      "uer", "mvp",    "gdumb"};
	for (int online = 0; online <= 1; online++)
		for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
			struct fcl_loop_config loop = {.online = online,
						       .epochs = 2,
						       .batch_size = 16,
						       .stream_batch = 10,
						       .online_iter = 2,
						       .replay_batch = 8,
						       .head_bias = 0,
						       .mask_unexposed = 1};
			struct fcl_strategy_config cfg;
			struct fcl_strategy *s;
			struct world w;
			uint32_t a[80], b[80];
			float l1, l2;
			if (world_init(&w, &loop))
				continue;
			memset(w.m.params + w.m.b_offset[1], 0, 4 * sizeof(float));
			fcl_strategy_config_defaults(&cfg);
			fcl_strategy_config_choose(&cfg, kinds[k]);
			cfg.memory = 30;
			int rc = fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 1, &s);
			size_t na = pick(&w, a, 80, 0, 1, 0), nb = pick(&w, b, 80, 2, 3, 0);
			rc = rc ? rc : train(s, &w, 0, a, na, 0, &l1);
			rc = rc ? rc : train(s, &w, 1, b, nb, 1, &l2);
			int finite = 1;
			for (size_t i = 0; i < w.m.n_params; i++)
				finite &= isfinite(w.m.params[i]);
			int nobias = 1;
			for (size_t i = 0; i < 4; i++)
				nobias &= w.m.params[w.m.b_offset[1] + i] == 0.0f;
			CHECK(rc == 0 && finite && isfinite(l1) && isfinite(l2) && nobias,
			      "%s %s: two tasks train, parameters finite, head bias stays 0 "
			      "(losses %.3f %.3f)",
			      kinds[k], online ? "online" : "offline", l1, l2);
			fcl_strategy_destroy(s);
			world_fini(&w);
		}
}

/* A client's state survives the rounds it is not sampled in. */
static void test_persistence(const char *kind)
{
	struct fcl_loop_config loop = online_loop(2);
	struct fcl_strategy_config cfg;
	struct fcl_strategy *c0, *c1, *again;
	struct world w;
	uint32_t a[60], b[60];
	float loss;
	const uint32_t r = 3;

	REQUIRE(world_init(&w, &loop) == 0, "synthetic world");
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, kind);
	cfg.memory = 50;
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &c0) == 0 &&
		    fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 1, &c1) == 0 &&
		    fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &again) == 0,
		"two logical clients");
	size_t na = pick(&w, a, 60, 0, 1, 0);
	train(c0, &w, 0, a, na, r, &loss);
	uint64_t sum_r = fcl_strategy_checksum(c0);
	uint32_t fill_r = fcl_strategy_buffer_fill(c0);
	/* Rounds r+1 .. r+4: only client 1 is sampled; it shares the model and optimiser. */
	for (uint32_t k = 1; k <= 4; k++) {
		size_t nb = pick(&w, b, 60, (int)(k % 4), (int)((k + 1) % 4), 10 * k);
		train(c1, &w, 0, b, nb, r + k, &loss);
	}
	CHECK(fcl_strategy_checksum(c0) == sum_r && fcl_strategy_buffer_fill(c0) == fill_r,
	      "%s: client 0's buffer and state filled in round %u are intact at round %u "
	      "(%016llx, %u samples)",
	      kind, r, r + 5, (unsigned long long)sum_r, fill_r);
	size_t na2 = pick(&w, a, 60, 2, 3, 0);
	train(c0, &w, 1, a, na2, r + 5, &loss);
	CHECK(fcl_strategy_seen(c0) == na + na2 && fcl_strategy_n_exposed(c0) == 4,
	      "%s: round %u continues the same stream (seen %llu, 4 classes exposed)", kind, r + 5,
	      (unsigned long long)fcl_strategy_seen(c0));
	/* Determinism: the same client, rounds and model give the same state. */
	struct fcl_rng rr;
	fcl_rng_init(&rr, 9, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&w.m, &rr);
	float l_a, l_b;
	fcl_strategy_destroy(c0);
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &c0) == 0, "recreated");
	float *p0 = malloc(w.m.n_params * sizeof *p0);
	memcpy(p0, w.m.params, w.m.n_params * sizeof *p0);
	train(c0, &w, 0, a, na2, r, &l_a);
	float *p1 = malloc(w.m.n_params * sizeof *p1);
	memcpy(p1, w.m.params, w.m.n_params * sizeof *p1);
	memcpy(w.m.params, p0, w.m.n_params * sizeof *p0);
	train(again, &w, 0, a, na2, r, &l_b);
	CHECK(memcmp(p1, w.m.params, w.m.n_params * sizeof *p1) == 0 &&
		  fcl_strategy_checksum(c0) == fcl_strategy_checksum(again) && l_a == l_b,
	      "%s: same client, round and model give bit-identical parameters and state", kind);
	free(p0);
	free(p1);
	fcl_strategy_destroy(c0);
	fcl_strategy_destroy(c1);
	fcl_strategy_destroy(again);
	world_fini(&w);
}

/* MVP with a backbone query: the copy follows the model during the warm-up,
 * then stays frozen while the model keeps learning. */
static void test_mvp_backbone_query(void)
{
	struct fcl_loop_config loop = online_loop(1);
	struct fcl_strategy_config cfg;
	struct fcl_strategy *s;
	struct world w;
	uint32_t a[60];
	float loss;
	uint64_t sums[4];

	REQUIRE(world_init(&w, &loop) == 0, "synthetic world");
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, "mvp");
	cfg.memory = 20;
	set(&cfg, "mvp.query", "backbone");
	set(&cfg, "mvp.warmup", "50");
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &s) == 0,
		"mvp with a backbone query");
	size_t n = pick(&w, a, 60, 0, 1, 0);
	float x[16], q[4][12];
	int32_t y;
	uint32_t dq = 0;
	int rc = 0;
	fcl_dataset_gather(&w.ds, a, 1, NULL, x, &y);
	for (uint32_t r = 0; r < 4; r++) {
		/* round 0 starts with 0 samples seen (copy follows), round 1 with 60 >= 50 (frozen)
		 */
		rc |= train(s, &w, 0, a, n, r, &loss);
		fcl_mvp_query(s, x, 1, q[r], &dq);
		sums[r] = fcl_strategy_checksum(s);
	}
	CHECK(rc == 0 && isfinite(loss) && dq == 12,
	      "backbone query: keys live in the head-input space (%u), training runs (loss %.3f)",
	      dq, loss);
	CHECK(memcmp(q[0], q[1], sizeof q[0]) != 0,
	      "during the warm-up the query copy follows the model");
	CHECK(memcmp(q[1], q[2], sizeof q[0]) == 0 && memcmp(q[2], q[3], sizeof q[0]) == 0 &&
		  sums[2] != sums[3],
	      "after the warm-up the query is frozen while the client keeps learning");
	fcl_strategy_destroy(s);
	world_fini(&w);
}

/* WA: after a task, the new classes' head rows have the old rows' mean norm. */
static void test_wa(void)
{
	struct fcl_loop_config loop = online_loop(1);
	struct fcl_strategy_config cfg;
	struct fcl_strategy *s;
	struct world w;
	uint32_t a[60], b[60];
	float loss;
	double mean[2] = {0, 0};

	REQUIRE(world_init(&w, &loop) == 0, "synthetic world");
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, "er");
	cfg.memory = 20;
	cfg.wa = 1;
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &s) == 0, "ER + WA");
	size_t na = pick(&w, a, 60, 0, 1, 0), nb = pick(&w, b, 60, 2, 3, 0);
	train(s, &w, 0, a, na, 0, &loss);
	fcl_strategy_end_task(s, &w.m);
	train(s, &w, 1, b, nb, 1, &loss);
	fcl_strategy_end_task(s, &w.m);
	const float *W = w.m.params + w.m.w_offset[1];
	for (int c = 0; c < 4; c++) {
		double nrm = 0;
		for (int k = 0; k < 12; k++)
			nrm += (double)W[c * 12 + k] * W[c * 12 + k];
		mean[c / 2] += sqrt(nrm) / 2;
	}
	CHECK(fabs(mean[0] - mean[1]) < 1e-5 * mean[0],
	      "WA: new classes' mean head norm equals the old classes' (%.6f, %.6f)", mean[0],
	      mean[1]);
	fcl_strategy_destroy(s);
	world_fini(&w);
}

/* GDumb: an imbalanced stream leaves a class-balanced buffer, and the round's
 * model is retrained from the initial parameters on it. */
static void test_gdumb(void)
{
	struct fcl_loop_config loop = online_loop(1);
	loop.batch_size = 16;
	struct fcl_strategy_config cfg;
	struct fcl_strategy *s;
	struct world w;
	uint32_t ids[300], n = 0, count[4] = {0};
	float loss;

	REQUIRE(world_init(&w, &loop) == 0, "synthetic world");
	/* class 0 ten times as frequent as classes 1-3 */
	for (uint32_t i = 0; i < w.ds.n && n < 300; i++)
		if (w.ds.y[i] == 0 || i % 10 == 0)
			ids[n++] = i;
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, "gdumb");
	cfg.memory = 40;
	set(&cfg, "epochs", "3");
	REQUIRE(fcl_strategy_create(&cfg, &loop, 2, loop_sizes, 3, 0, &s) == 0, "GDumb");
	int rc = train(s, &w, 0, ids, n, 0, &loss);
	for (uint32_t k = 0; k < s->buf.n; k++)
		count[s->buf.label[k]]++;
	uint32_t lo = 1000, hi = 0;
	for (int c = 0; c < 4; c++) {
		lo = count[c] < lo ? count[c] : lo;
		hi = count[c] > hi ? count[c] : hi;
	}
	CHECK(rc == 0 && s->buf.n == 40 && hi - lo <= 1 && isfinite(loss) && loss > 0,
	      "GDumb: a 10:1 stream leaves a balanced buffer (%u %u %u %u), retraining runs "
	      "(loss %.3f)",
	      count[0], count[1], count[2], count[3], loss);
	fcl_strategy_destroy(s);
	world_fini(&w);
}

int main(void)
{
	test_uer_cos();
	test_mvp_logits();
	test_focal();
	test_key_loss();
	test_derpp_lwf();
	test_steps();
	test_reservoir();
	test_online_loop();
	test_all_run();
	test_persistence("er");
	test_persistence("der++");
	test_persistence("mvp");
	test_mvp_backbone_query();
	test_wa();
	test_gdumb();
	return tap_done();
}
