/* common/src/strategy_mvp.c - MVP (Moon et al., ICCV 2023) adapted to an MLP
 *
 * Official code: KHU-AGI/Si-Blurry methods/mvp.py, models/mvp.py (c4024ce);
 * see /work/shared/reference/online_cl.md 1c and 3. The adaptation:
 *  - query q = R x, a fixed random Gaussian projection R (query_dim, dim) of
 *    the input, drawn from (seed, MVP_QUERY) and shared by every client, so
 *    key matching cannot drift as the backbone learns; or (query: backbone)
 *    q = h(x), the features of a copy of the MLP taken at the start of each
 *    round until the client has seen `warmup` stream samples, then frozen;
 *  - a key pool K (P, query_dim) with selection counts; p* = argmin_p
 *    (1 - cos(q, k_p)) (cnt_p + 1) (the mass factor only with the
 *    contrastive key loss); counts grow in training only;
 *  - prompts are learned additive offsets on hidden pre-activations: a
 *    shared g-offset on the first hidden layer and the selected e-offset
 *    (one per key) on the last hidden layer;
 *  - per-key class-wise logit masks Mk (P, C), gain 2 sigmoid(Mk_p*), init -1;
 *  - logits z = (W f / c + b) * gain + mu, mu = -inf on unexposed classes,
 *    with AFS c = 1 - cos(w_y, f) + margin (detached, training only);
 *  - the gradient-similarity focal weight (1 - alpha) + alpha s^gamma with
 *    s = 1 - cos(dCE_i/dw_y, dCE_mean/dw_y) in closed form, per sample or, as
 *    the official code does, as one scalar on the batch loss;
 *  - the contrastive key loss (per-sample masses) or the L2P pull term.
 * Keys, masks and offsets are this client's own state (SGD, the run's lr);
 * they are not sent to the server, which evaluates the shared MLP alone.
 * With memory > 0 replayed samples join the batch (MVP + ER).
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

enum mvp_focal { FCL_MVP_FOCAL_SAMPLE, FCL_MVP_FOCAL_BATCH, FCL_MVP_FOCAL_OFF };
enum mvp_query {
	FCL_MVP_QUERY_PROJECTION, /* q = R x, a fixed random projection */
	FCL_MVP_QUERY_BACKBONE,   /* q = h(x) of a frozen copy of the MLP after a warm-up */
};

/* strategy: {name: mvp, mvp: {...}} */
struct mvp_params {
	struct {
		uint32_t pool;      /* keys / e-prompts P */
		int query;          /* enum mvp_query */
		uint32_t query_dim; /* random-projection query size */
		uint32_t warmup;    /* backbone query: stream samples before the copy is frozen */
		float alpha, gamma, margin;
		int focal;       /* enum mvp_focal */
		int afs;         /* adaptive feature scaling in training */
		int contrastive; /* contrastive key loss (else the L2P pull term) */
		int mask;        /* learned class-wise logit masks */
	} mvp;
};

static const struct fcl_key_choice queries[] = {
    {"projection", FCL_MVP_QUERY_PROJECTION}, {"backbone", FCL_MVP_QUERY_BACKBONE}, {NULL, 0}};
static const struct fcl_key_choice focal_modes[] = {{"sample", FCL_MVP_FOCAL_SAMPLE},
						    {"batch", FCL_MVP_FOCAL_BATCH},
						    {"off", FCL_MVP_FOCAL_OFF},
						    {NULL, 0}};
#define P_ struct mvp_params
static const struct fcl_key mvp_keys[] = {
    FCL_KEY_U32("pool", P_, mvp.pool, 1, 1024, "keys and e-prompts P"),
    FCL_KEY_CHOICE("query", P_, mvp.query, queries, "what keys are matched against"),
    FCL_KEY_U32("query_dim", P_, mvp.query_dim, 1, 4096, "size of the projection query"),
    FCL_KEY_U32("warmup", P_, mvp.warmup, 0, UINT32_MAX,
		"backbone query: stream samples before the copy is frozen"),
    FCL_KEY_F32("alpha", P_, mvp.alpha, 0, 0, 1, 0, "focal weight share alpha"),
    FCL_KEY_F32("gamma", P_, mvp.gamma, 0, 0, HUGE_VAL, 0, "focal exponent gamma"),
    FCL_KEY_F32("margin", P_, mvp.margin, 0, FCL_OPEN, HUGE_VAL, 0, "AFS margin"),
    FCL_KEY_CHOICE("focal", P_, mvp.focal, focal_modes, "gradient-similarity focal weighting"),
    FCL_KEY_BOOL("afs", P_, mvp.afs, "adaptive feature scaling in training"),
    FCL_KEY_BOOL("contrastive", P_, mvp.contrastive,
		 "contrastive key loss (false: the L2P pull term)"),
    FCL_KEY_BOOL("mask", P_, mvp.mask, "learned class-wise logit masks"),
    {0},
};
#undef P_
static const struct fcl_key keys[] = {
    FCL_KEY_SECTION("mvp", mvp_keys, "MVP's own settings"),
    {0},
};

static void defaults(void *params)
{
	struct mvp_params *p = params;
	p->mvp.pool = 10;
	p->mvp.query = FCL_MVP_QUERY_PROJECTION;
	p->mvp.query_dim = 64;
	p->mvp.warmup = 1000;
	p->mvp.alpha = 0.5f;
	p->mvp.gamma = 2.0f;
	p->mvp.margin = 0.5f;
	p->mvp.focal = FCL_MVP_FOCAL_SAMPLE;
	p->mvp.afs = 1;
	p->mvp.contrastive = 1;
	p->mvp.mask = 1;
}

struct mvp {
	uint32_t P, dq, n_g, n_e; /* pool, query size, g- and e-offset widths */
	float *R;                 /* (dq, dim) frozen query projection (projection query) */
	struct fcl_mlp qnet;      /* backbone query: the copy of the MLP */
	int frozen;               /* backbone query: the copy no longer follows the model */
	float *zero_q;            /* (dq) */
	float *keys, *dkeys;      /* (P, dq) */
	uint32_t *cnt;            /* (P) selections so far */
	float *masks, *dmasks;    /* (P, C) */
	float *g_off, *dg_off;    /* (n_g) */
	float *e_off, *de_off;    /* (P, n_e) */
	/* A body feeding the head directly (no hidden dense layer, as
	 * resnet18-reduced): both offsets go on the head's input features,
	 * held in feat (rows, d) in place of the body's output. */
	int on_features;
	float *feat;
	/* scratch (max_batch rows) */
	float *q;                        /* (rows, dq) */
	uint32_t *sel;                   /* (rows) */
	float *mass, *inv_c, *score, *w; /* (rows) */
	float *gain, *dgain;             /* (rows, C) */
};

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0.0;
	for (size_t k = 0; k < n; k++)
		s += (double)a[k] * b[k];
	return s;
}

static double cosine(const float *a, const float *b, size_t n)
{
	double na = sqrt(dot(a, a, n)), nb = sqrt(dot(b, b, n));
	return na > 0 && nb > 0 ? dot(a, b, n) / (na * nb) : 0.0;
}

/* ga += coef * d cos(a, b) / da */
static void cosine_grad(float *ga, const float *a, const float *b, size_t n, double coef)
{
	double na = sqrt(dot(a, a, n)), nb = sqrt(dot(b, b, n));
	if (na <= 0 || nb <= 0)
		return;
	double c = dot(a, b, n) / (na * nb);
	for (size_t k = 0; k < n; k++)
		ga[k] += (float)(coef * (b[k] / (na * nb) - c * a[k] / (na * na)));
}

void fcl_mvp_logits(float *z, const float *f, const float *W, const float *b, const float *g,
		    const float *inv_c, size_t B, size_t d, size_t C)
{
	for (size_t i = 0; i < B; i++)
		for (size_t c = 0; c < C; c++) {
			double a = dot(W + c * d, f + i * d, d) * inv_c[i] + (b ? b[c] : 0.0f);
			z[i * C + c] = (float)(a * g[i * C + c]);
		}
}

void fcl_mvp_logits_backward(float *df, float *dW, float *db, float *dg, const float *dz,
			     const float *f, const float *W, const float *b, const float *g,
			     const float *inv_c, size_t B, size_t d, size_t C)
{
	for (size_t i = 0; i < B; i++)
		for (size_t c = 0; c < C; c++) {
			float e = dz[i * C + c];
			if (e == 0.0f)
				continue;
			const float *wc = W + c * d, *fi = f + i * d;
			if (dg)
				dg[i * C + c] +=
				    (float)(e * (dot(wc, fi, d) * inv_c[i] + (b ? b[c] : 0.0f)));
			float t = e * g[i * C + c];
			if (db)
				db[c] += t;
			float ti = t * inv_c[i];
			for (size_t k = 0; k < d; k++) {
				if (dW)
					dW[c * d + k] += ti * fi[k];
				if (df)
					df[i * d + k] += ti * wc[k];
			}
		}
}

void fcl_mvp_afs(float *inv_c, const float *f, const float *W, const int32_t *y, size_t B, size_t d,
		 float margin)
{
	for (size_t i = 0; i < B; i++)
		inv_c[i] =
		    (float)(1.0 / (1.0 - cosine(W + (size_t)y[i] * d, f + i * d, d) + margin));
}

void fcl_mvp_gsf(float *score, float *gi, float *gbar, const float *probs, const float *f,
		 const float *g, const float *inv_c, const int32_t *y, size_t B, size_t d, size_t C)
{
	double *mean = calloc(C * d, sizeof *mean); /* (C, d) dCE_mean / dW */
	double *own = malloc(d * sizeof *own);
	if (!mean || !own) {
		for (size_t i = 0; i < B; i++)
			score[i] = 1.0f;
		free(mean);
		free(own);
		return;
	}
	for (size_t j = 0; j < B; j++)
		for (size_t c = 0; c < C; c++) {
			double e = (probs[j * C + c] - ((int32_t)c == y[j])) * g[j * C + c] *
				   inv_c[j] / (double)B;
			if (e != 0.0)
				for (size_t k = 0; k < d; k++)
					mean[c * d + k] += e * f[j * d + k];
		}
	for (size_t i = 0; i < B; i++) {
		size_t yi = (size_t)y[i];
		double e = (probs[i * C + yi] - 1.0) * g[i * C + yi] * inv_c[i];
		double ab = 0, aa = 0, bb = 0;
		for (size_t k = 0; k < d; k++) {
			own[k] = e * f[i * d + k];
			double mk = mean[yi * d + k];
			ab += own[k] * mk;
			aa += own[k] * own[k];
			bb += mk * mk;
			if (gi)
				gi[i * d + k] = (float)own[k];
			if (gbar)
				gbar[i * d + k] = (float)mk;
		}
		score[i] = aa > 0 && bb > 0 ? (float)(1.0 - ab / sqrt(aa * bb)) : 1.0f;
	}
	free(mean);
	free(own);
}

double fcl_mvp_key_loss(float *dkeys, const float *keys, const float *q, const uint32_t *sel,
			const float *mass, size_t B, size_t P, size_t dq, int contrastive)
{
	if (B == 0)
		return 0.0;
	if (!contrastive) {
		double l = 0.0;
		for (size_t i = 0; i < B; i++) {
			const float *k = keys + (size_t)sel[i] * dq;
			l += 1.0 - cosine(q + i * dq, k, dq);
			if (dkeys)
				cosine_grad(dkeys + (size_t)sel[i] * dq, k, q + i * dq, dq,
					    -1.0 / (double)B);
		}
		return l / (double)B;
	}
	double A = 0.0, Bq = 0.0;
	for (size_t i = 0; i < B; i++) {
		const float *kp = keys + (size_t)sel[i] * dq;
		for (size_t j = 0; j < P; j++)
			A += exp((1.0 - cosine(kp, keys + j * dq, dq)) / mass[i]);
		Bq += exp((1.0 - cosine(q + i * dq, kp, dq)) / mass[i]);
	}
	A /= (double)(B * P);
	Bq /= (double)B;
	double r = A / (A + Bq);
	double loss = -log(r + 1e-6);
	if (!dkeys)
		return loss;
	double dr = -1.0 / (r + 1e-6);
	double dA = dr * Bq / ((A + Bq) * (A + Bq)), dB = dr * -A / ((A + Bq) * (A + Bq));
	for (size_t i = 0; i < B; i++) {
		size_t p = sel[i];
		const float *kp = keys + p * dq;
		for (size_t j = 0; j < P; j++) {
			if (j == p)
				continue;
			const float *kj = keys + j * dq;
			double e = exp((1.0 - cosine(kp, kj, dq)) / mass[i]) / mass[i];
			/* dD/dcos = -1, both keys get gradient */
			double coef = -dA * e / (double)(B * P);
			cosine_grad(dkeys + p * dq, kp, kj, dq, coef);
			cosine_grad(dkeys + j * dq, kj, kp, dq, coef);
		}
		double e = exp((1.0 - cosine(q + i * dq, kp, dq)) / mass[i]) / mass[i];
		cosine_grad(dkeys + p * dq, kp, q + i * dq, dq, -dB * e / (double)B);
	}
	return loss;
}

/* ---- the strategy -------------------------------------------------------- */

static int mvp_init(struct fcl_strategy *s)
{
	struct mvp *p = calloc(1, sizeof *p);
	struct fcl_rng rng;
	size_t mb = s->max_batch, C = s->C;

	if (!p)
		return -ENOMEM;
	s->priv = p;
	p->P = FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.pool;
	p->dq = FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query == FCL_MVP_QUERY_BACKBONE
		    ? s->d
		    : FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query_dim;
	p->on_features = s->n_layers == 1;
	p->n_g = p->on_features ? s->d : s->sizes[1];
	p->n_e = s->sizes[s->n_layers - 1];
	if (p->on_features && !(p->feat = fcl_alloc_floats(mb * s->d)))
		return -ENOMEM;
	if (FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query == FCL_MVP_QUERY_BACKBONE) {
		int rc = fcl_model_init(&p->qnet, &s->arch, mb);
		if (rc)
			return rc;
		p->R = fcl_alloc_floats(1);
	} else {
		p->R = fcl_alloc_floats((size_t)p->dq * s->dim);
	}
	p->zero_q = fcl_alloc_floats(p->dq);
	p->keys = fcl_alloc_floats((size_t)p->P * p->dq);
	p->dkeys = fcl_alloc_floats((size_t)p->P * p->dq);
	p->cnt = calloc(p->P, sizeof *p->cnt);
	p->masks = fcl_alloc_floats((size_t)p->P * C);
	p->dmasks = fcl_alloc_floats((size_t)p->P * C);
	p->g_off = fcl_alloc_floats(p->n_g);
	p->dg_off = fcl_alloc_floats(p->n_g);
	p->e_off = fcl_alloc_floats((size_t)p->P * p->n_e);
	p->de_off = fcl_alloc_floats((size_t)p->P * p->n_e);
	p->q = fcl_alloc_floats(mb * p->dq);
	p->sel = calloc(mb, sizeof *p->sel);
	p->mass = fcl_alloc_floats(mb);
	p->inv_c = fcl_alloc_floats(mb);
	p->score = fcl_alloc_floats(mb);
	p->w = fcl_alloc_floats(mb);
	p->gain = fcl_alloc_floats(mb * C);
	p->dgain = fcl_alloc_floats(mb * C);
	if (!p->R || !p->zero_q || !p->keys || !p->dkeys || !p->cnt || !p->masks || !p->dmasks ||
	    !p->g_off || !p->dg_off || !p->e_off || !p->de_off || !p->q || !p->sel || !p->mass ||
	    !p->inv_c || !p->score || !p->w || !p->gain || !p->dgain)
		return -ENOMEM;
	fcl_rng_init(&rng, s->seed, FCL_RNG_MVP_QUERY, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	float sd = 1.0f / sqrtf((float)s->dim);
	if (FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query == FCL_MVP_QUERY_PROJECTION)
		for (size_t k = 0; k < (size_t)p->dq * s->dim; k++)
			p->R[k] = sd * fcl_rng_normal(&rng);
	fcl_rng_init(&rng, s->seed, FCL_RNG_MVP_INIT, s->client, FCL_RNG_NO_ROUND);
	for (size_t k = 0; k < (size_t)p->P * p->dq; k++)
		p->keys[k] = fcl_rng_normal(&rng);
	for (size_t k = 0; k < (size_t)p->P * C; k++)
		p->masks[k] = -1.0f;
	return 0;
}

static void mvp_fini(struct fcl_strategy *s)
{
	struct mvp *p = s->priv;
	if (!p)
		return;
	float *bufs[] = {p->R,     p->zero_q, p->keys,  p->dkeys,  p->masks, p->dmasks,
			 p->g_off, p->dg_off, p->e_off, p->de_off, p->q,     p->mass,
			 p->inv_c, p->score,  p->w,     p->gain,   p->dgain, p->feat};
	for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
		free(bufs[k]);
	fcl_mlp_fini(&p->qnet);
	free(p->cnt);
	free(p->sel);
	free(p);
}

static int mvp_round_begin(struct fcl_strategy *s, struct fcl_mlp *m)
{
	struct mvp *p = s->priv;
	if (FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query != FCL_MVP_QUERY_BACKBONE ||
	    p->frozen)
		return 0;
	memcpy(p->qnet.params, m->params, m->n_params * sizeof(float));
	p->frozen = s->seen >= FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.warmup;
	return 0;
}

static float sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

static void offset_hook(void *ctx, uint32_t layer, const float *dpre, size_t B)
{
	struct fcl_strategy *s = ctx;
	struct mvp *p = s->priv;
	if (layer == 0)
		for (size_t i = 0; i < B; i++)
			for (size_t k = 0; k < p->n_g; k++)
				p->dg_off[k] += dpre[i * p->n_g + k];
	if (layer == s->n_layers - 2)
		for (size_t i = 0; i < B; i++)
			for (size_t k = 0; k < p->n_e; k++)
				p->de_off[(size_t)p->sel[i] * p->n_e + k] += dpre[i * p->n_e + k];
}

/* Forward with the g-offset on dense layer 0 and the selected e-offset on dense
 * layer L-2 (after the body, if the model has one); without hidden dense
 * layers, both on the body's output features. */
static void prompted_forward(struct fcl_strategy *s, struct fcl_mlp *m, const float *x, size_t B)
{
	struct mvp *p = s->priv;
	fcl_model_body_forward(m, x, B);
	if (p->on_features) {
		size_t d = s->d;
		for (size_t i = 0; i < B; i++)
			for (size_t k = 0; k < d; k++)
				p->feat[i * d + k] = m->acts[0][i * d + k] + p->g_off[k] +
						     p->e_off[(size_t)p->sel[i] * d + k];
		/* the head reads them; the body's backward reads its own buffers */
		m->acts[0] = p->feat;
		fcl_dense_forward(m->acts[1], p->feat, m->params + m->w_offset[0],
				  m->params + m->b_offset[0], B, d, s->C);
		return;
	}
	for (uint32_t l = 0; l < m->n_layers; l++) {
		size_t n_in = m->sizes[l], n_out = m->sizes[l + 1];
		float *y = m->acts[l + 1];
		fcl_dense_forward(y, m->acts[l], m->params + m->w_offset[l],
				  m->params + m->b_offset[l], B, n_in, n_out);
		if (l == 0)
			for (size_t i = 0; i < B; i++)
				for (size_t k = 0; k < n_out; k++)
					y[i * n_out + k] += p->g_off[k];
		if (l + 2 == m->n_layers)
			for (size_t i = 0; i < B; i++)
				for (size_t k = 0; k < n_out; k++)
					y[i * n_out + k] += p->e_off[(size_t)p->sel[i] * n_out + k];
		if (l + 1 < m->n_layers)
			fcl_model_hidden_act(m, l, B); /* ReLU, and its dropout */
	}
}

static void compute_query(struct fcl_strategy *s, const float *x, size_t rows, float *q)
{
	struct mvp *p = s->priv;
	if (FCL_STRATEGY_PARAMS(s, struct mvp_params)->mvp.query == FCL_MVP_QUERY_BACKBONE) {
		fcl_mlp_forward(&p->qnet, x, rows);
		memcpy(q, p->qnet.acts[s->n_layers - 1], rows * p->dq * sizeof(float));
	} else {
		fcl_dense_forward(q, x, p->R, p->zero_q, rows, s->dim, p->dq);
	}
}

void fcl_mvp_query(struct fcl_strategy *s, const float *x, size_t B, float *q, uint32_t *dq)
{
	struct mvp *p = s->priv;
	compute_query(s, x, B, q);
	*dq = p->dq;
}

/* The key of each row: argmin_p (1 - cos(q, k_p)), times (cnt_p + 1) with the
 * contrastive key loss; mass is that key's cnt + 1. */
static void select_keys(struct fcl_strategy *s, const float *x, size_t rows)
{
	struct mvp *p = s->priv;
	const struct mvp_params *cfg = FCL_STRATEGY_PARAMS(s, struct mvp_params);
	size_t dq = p->dq;

	compute_query(s, x, rows, p->q);
	for (size_t i = 0; i < rows; i++) {
		double best = INFINITY;
		for (uint32_t k = 0; k < p->P; k++) {
			double dist = 1.0 - cosine(p->q + i * dq, p->keys + (size_t)k * dq, dq);
			if (cfg->mvp.contrastive)
				dist *= (double)p->cnt[k] + 1.0;
			if (dist < best) {
				best = dist;
				p->sel[i] = k;
			}
		}
		p->mass[i] = (float)p->cnt[p->sel[i]] + 1.0f;
	}
}

/* CE of the logits in s->z, weighted by (1 - alpha) + alpha s^gamma per sample
 * or, as the official code, by its batch mean; gradient into s->dz. */
static double focal_ce(struct fcl_strategy *s, const struct fcl_strategy_batch *b, const float *f,
		       size_t rows)
{
	struct mvp *p = s->priv;
	const struct mvp_params *cfg = FCL_STRATEGY_PARAMS(s, struct mvp_params);
	size_t C = s->C, d = s->d;
	double loss = fcl_cl_xent(s->z, b->y, rows, C, b->exposed, s->probs, s->ce);

	memset(s->dz, 0, rows * C * sizeof(float));
	if (cfg->mvp.focal == FCL_MVP_FOCAL_OFF) {
		fcl_cl_xent_grad(s->dz, s->probs, b->y, rows, C, b->exposed, NULL, 1.0f);
		return loss;
	}
	double wbar = 0.0, wl = 0.0;
	fcl_mvp_gsf(p->score, NULL, NULL, s->probs, f, p->gain, p->inv_c, b->y, rows, d, C);
	for (size_t i = 0; i < rows; i++) {
		p->w[i] = (1.0f - cfg->mvp.alpha) +
			  cfg->mvp.alpha * powf(fmaxf(p->score[i], 0.0f), cfg->mvp.gamma);
		wbar += p->w[i];
		wl += (double)p->w[i] * s->ce[i];
	}
	wbar /= (double)rows;
	if (cfg->mvp.focal == FCL_MVP_FOCAL_SAMPLE) {
		fcl_cl_xent_grad(s->dz, s->probs, b->y, rows, C, b->exposed, p->w, 1.0f);
		return wl / (double)rows;
	}
	fcl_cl_xent_grad(s->dz, s->probs, b->y, rows, C, b->exposed, NULL, (float)wbar);
	return loss * wbar;
}

static double mvp_step(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b)
{
	struct mvp *p = s->priv;
	const struct mvp_params *cfg = FCL_STRATEGY_PARAMS(s, struct mvp_params);
	uint32_t L = m->n_layers;
	size_t rows = b->n_new + b->n_rep, C = s->C, d = s->d;
	const float *W = m->params + m->w_offset[L - 1], *bias = m->params + m->b_offset[L - 1];
	double loss;

	/* 1. frozen query and key selection */
	select_keys(s, b->x, rows);
	/* 2. prompted features, mask gains, AFS, logits */
	prompted_forward(s, m, b->x, rows);
	const float *f = m->acts[L - 1];
	for (size_t i = 0; i < rows; i++)
		for (size_t c = 0; c < C; c++)
			p->gain[i * C + c] =
			    cfg->mvp.mask ? 2.0f * sigmoid(p->masks[(size_t)p->sel[i] * C + c])
					  : 1.0f;
	if (cfg->mvp.afs)
		fcl_mvp_afs(p->inv_c, f, W, b->y, rows, d, cfg->mvp.margin);
	else
		for (size_t i = 0; i < rows; i++)
			p->inv_c[i] = 1.0f;
	fcl_mvp_logits(s->z, f, W, bias, p->gain, p->inv_c, rows, d, C);
	/* 3. CE with the gradient-similarity focal weight */
	loss = focal_ce(s, b, f, rows);
	/* 4. back through the masked logits, the head and the prompted body */
	memset(s->dh, 0, rows * d * sizeof(float));
	memset(p->dgain, 0, rows * C * sizeof(float));
	fcl_mvp_logits_backward(s->dh, m->grads + m->w_offset[L - 1], m->grads + m->b_offset[L - 1],
				cfg->mvp.mask ? p->dgain : NULL, s->dz, f, W, bias, p->gain,
				p->inv_c, rows, d, C);
	if (cfg->mvp.mask)
		for (size_t i = 0; i < rows; i++)
			for (size_t c = 0; c < C; c++) {
				size_t k = (size_t)p->sel[i] * C + c;
				float sg = sigmoid(p->masks[k]);
				p->dmasks[k] += p->dgain[i * C + c] * 2.0f * sg * (1.0f - sg);
			}
	if (p->on_features) /* the features' gradient is both offsets' */
		for (size_t i = 0; i < rows; i++)
			for (size_t k = 0; k < d; k++) {
				p->dg_off[k] += s->dh[i * d + k];
				p->de_off[(size_t)p->sel[i] * d + k] += s->dh[i * d + k];
			}
	fcl_mlp_backward_logits(m, NULL, s->dh, rows, p->on_features ? NULL : offset_hook, s);
	/* 5. key loss; counts grow in training only */
	loss += fcl_mvp_key_loss(p->dkeys, p->keys, p->q, p->sel, p->mass, rows, p->P, p->dq,
				 cfg->mvp.contrastive);
	for (size_t i = 0; i < rows; i++)
		p->cnt[p->sel[i]]++;
	return loss;
}

static void sgd_own(float *v, float *g, size_t n, float lr)
{
	for (size_t k = 0; k < n; k++) {
		v[k] -= lr * g[k];
		g[k] = 0.0f;
	}
}

static void mvp_after_step(struct fcl_strategy *s, struct fcl_mlp *m, const struct fcl_sgd *opt)
{
	struct mvp *p = s->priv;
	(void)m;
	sgd_own(p->keys, p->dkeys, (size_t)p->P * p->dq, opt->lr);
	sgd_own(p->masks, p->dmasks, (size_t)p->P * s->C, opt->lr);
	sgd_own(p->g_off, p->dg_off, p->n_g, opt->lr);
	sgd_own(p->e_off, p->de_off, (size_t)p->P * p->n_e, opt->lr);
}

static uint64_t mvp_checksum(const struct fcl_strategy *s)
{
	const struct mvp *p = s->priv;
	uint64_t h = fcl_hash64(p->keys, (size_t)p->P * p->dq * sizeof(float));
	h = fcl_mix64(h) ^ fcl_hash64(p->masks, (size_t)p->P * s->C * sizeof(float));
	h = fcl_mix64(h) ^ fcl_hash64(p->e_off, (size_t)p->P * p->n_e * sizeof(float));
	h = fcl_mix64(h) ^ (uint64_t)p->frozen;
	return fcl_mix64(h) ^ fcl_hash64(p->cnt, p->P * sizeof(uint32_t));
}

/* Keys, their counts, masks, prompts, and the backbone query's copy of the
 * MLP (frozen after the warm-up; before, it is copied again each round). The
 * projection R and the gradient buffers are not state: R is drawn from the
 * seed, the gradients are zero between steps. */
static int mvp_save(const struct fcl_strategy *s, FILE *f)
{
	const struct mvp *p = s->priv;
	uint32_t head[5] = {p->P, p->dq, p->n_g, p->n_e, (uint32_t)p->frozen};
	int rc = fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, p->keys, (size_t)p->P * p->dq * sizeof(float));
	rc = rc ? rc : fcl_fput(f, p->cnt, p->P * sizeof *p->cnt);
	rc = rc ? rc : fcl_fput(f, p->masks, (size_t)p->P * s->C * sizeof(float));
	rc = rc ? rc : fcl_fput(f, p->g_off, p->n_g * sizeof(float));
	rc = rc ? rc : fcl_fput(f, p->e_off, (size_t)p->P * p->n_e * sizeof(float));
	return rc ? rc : fcl_fput(f, p->qnet.params, p->qnet.n_params * sizeof(float));
}

static int mvp_load(struct fcl_strategy *s, FILE *f)
{
	struct mvp *p = s->priv;
	uint32_t head[5];
	int rc = fcl_fget(f, head, sizeof head);
	if (rc)
		return rc;
	if (head[0] != p->P || head[1] != p->dq || head[2] != p->n_g || head[3] != p->n_e ||
	    head[4] > 1)
		return -EINVAL;
	p->frozen = (int)head[4];
	rc = fcl_fget(f, p->keys, (size_t)p->P * p->dq * sizeof(float));
	rc = rc ? rc : fcl_fget(f, p->cnt, p->P * sizeof *p->cnt);
	rc = rc ? rc : fcl_fget(f, p->masks, (size_t)p->P * s->C * sizeof(float));
	rc = rc ? rc : fcl_fget(f, p->g_off, p->n_g * sizeof(float));
	rc = rc ? rc : fcl_fget(f, p->e_off, (size_t)p->P * p->n_e * sizeof(float));
	return rc ? rc : fcl_fget(f, p->qnet.params, p->qnet.n_params * sizeof(float));
}

static const struct fcl_strategy_ops ops = {.replay_draws = 1,
					    .extra_models = 1,
					    .init = mvp_init,
					    .fini = mvp_fini,
					    .round_begin = mvp_round_begin,
					    .step = mvp_step,
					    .after_step = mvp_after_step,
					    .checksum = mvp_checksum,
					    .save = mvp_save,
					    .load = mvp_load};

const struct fcl_strategy_method fcl_strategy_mvp = {
    .name = "mvp",
    .summary = "MVP: key-selected prompts and class masks, focal and AFS-scaled logits",
    .keys = keys,
    .params_size = sizeof(struct mvp_params),
    .defaults = defaults,
    .takes_memory = 1,
    .min_hidden = 1,
    .ops = &ops,
};
