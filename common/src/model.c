/* common/src/model.c - a network's forward/backward on one flat buffer, and SGD */
#include "fcl/model.h"

#include "fcl/layers.h"
#include "fcl/log.h"
#include "fcl/residual.h"
#include "fcl/norm.h"
#include "fcl/rng.h"
#include "fcl/util.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fcl_dense_forward(float *y, const float *x, const float *w, const float *b, size_t batch,
		       size_t n_in, size_t n_out)
{
	for (size_t i = 0; i < batch; i++)
		memcpy(y + i * n_out, b, n_out * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)n_out, (int)n_in,
		    1.0f, x, (int)n_in, w, (int)n_in, 1.0f, y, (int)n_out);
}

void fcl_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			const float *w, size_t batch, size_t n_in, size_t n_out)
{
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)n_in,
			    (int)n_out, 1.0f, dy, (int)n_out, w, (int)n_in, 0.0f, dx, (int)n_in);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)batch,
		    1.0f, dy, (int)n_out, x, (int)n_in, 1.0f, dw, (int)n_in);
	if (db)
		for (size_t i = 0; i < batch; i++)
			for (size_t j = 0; j < n_out; j++)
				db[j] += dy[i * n_out + j];
}

void fcl_relu_forward(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void fcl_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
	/* dy read whatever y says: a load the compiler need not guard, so the
	 * select vectorises */
	for (size_t i = 0; i < n; i++) {
		float d = dy[i];
		dx[i] = y[i] > 0.0f ? d : 0.0f;
	}
}

float fcl_softmax_xent_forward(float *probs, const float *logits, const int32_t *y, size_t batch,
			       size_t classes)
{
	double loss = 0.0;
	for (size_t i = 0; i < batch; i++) {
		const float *z = logits + i * classes;
		float *p = probs + i * classes;
		float zmax = z[0];
		for (size_t c = 1; c < classes; c++)
			zmax = z[c] > zmax ? z[c] : zmax;
		double sum = 0.0;
		for (size_t c = 0; c < classes; c++) {
			p[c] = expf(z[c] - zmax);
			sum += p[c];
		}
		for (size_t c = 0; c < classes; c++)
			p[c] = (float)(p[c] / sum);
		loss += log(sum) - (double)(z[y[i]] - zmax);
	}
	return (float)(loss / (double)batch);
}

void fcl_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *y, size_t batch,
			       size_t classes)
{
	float inv = 1.0f / (float)batch;
	for (size_t i = 0; i < batch; i++) {
		for (size_t c = 0; c < classes; c++)
			dlogits[i * classes + c] = probs[i * classes + c] * inv;
		dlogits[i * classes + (size_t)y[i]] -= inv;
	}
}

static size_t shape_floats(struct fcl_input_shape s)
{
	return (size_t)s.c * s.h * s.w;
}

/* Patches kept from the forward for the backward, at most this many floats per
 * model (64 MiB); past it the backward builds them again. */
#define KEEP_MAX_FLOATS ((size_t)16 << 20)

/* Whether a conv reads its input as its patches (1x1, stride 1, no padding). */
static int conv_direct(const struct fcl_layer *L)
{
	return L->s.kernel == 1 && L->s.stride == 1 && L->s.padding == 0;
}

/* The floats of every conv's patches over max_batch samples (kept from the
 * forward for the backward when at most KEEP_MAX_FLOATS). */
static size_t layer_kept_floats(const struct fcl_layer *L, size_t max_batch)
{
	struct fcl_conv_geom g = fcl_layer_geom(L);
	return L->s.kind == FCL_LAYER_CONV2D && !conv_direct(L) ? max_batch * fcl_conv_col_floats(&g)
								 : 0;
}

static size_t kept_floats(const struct fcl_arch *a, size_t max_batch)
{
	size_t total = 0;
	for (uint32_t i = 0; i < a->n_body; i++)
		total += layer_kept_floats(&a->layers[i], max_batch);
	return total;
}

/* Keeps every conv's patches when they all fit in KEEP_MAX_FLOATS. */
static int alloc_kept(struct fcl_mlp *m, size_t max_batch)
{
	if (kept_floats(&m->arch, max_batch) > KEEP_MAX_FLOATS)
		return 0;
	for (uint32_t i = 0; i < m->arch.n_body; i++) {
		size_t n = layer_kept_floats(&m->arch.layers[i], max_batch);
		if (n && !(m->kept[i] = fcl_alloc_floats(n)))
			return -1;
	}
	return 0;
}

/* Floats of a norm's 1/std (0 for other layers; a residual block's BatchNorms
 * keep C each). */
static size_t norm_std_floats(const struct fcl_layer *L, size_t max_batch)
{
	return L->s.kind == FCL_LAYER_GROUPNORM	  ? max_batch * L->s.groups
	       : L->s.kind == FCL_LAYER_BATCHNORM ? L->in.c
	       : L->s.kind == FCL_LAYER_RESIDUAL  ? L->n_stats / 2
						  : 0;
}

/* The xhat buffers (B, out) a norm keeps: one, or one per BatchNorm of a block. */
static size_t norm_xhats(const struct fcl_layer *L)
{
	return L->s.kind == FCL_LAYER_RESIDUAL ? L->n_stats / 2 / L->out.c : 1;
}

/* The buffers of dropout (its mask) and the norms (xhat, 1/std) of body layer i. */
static int norm_buffers(struct fcl_mlp *m, uint32_t i, size_t max_batch)
{
	const struct fcl_layer *L = &m->arch.layers[i];
	size_t nstd = norm_std_floats(L, max_batch), naux = norm_xhats(L);

	if (L->s.kind != FCL_LAYER_DROPOUT && !nstd)
		return 0;
	m->baux[i] = fcl_alloc_floats(naux * max_batch * shape_floats(L->out));
	if (nstd && m->baux[i])
		m->bstd[i] = fcl_alloc_floats(nstd);
	return m->baux[i] && (!nstd || m->bstd[i]) ? 0 : -ENOMEM;
}

/* The shared scratch of a model: the widest activation (two gradient
 * buffers), the largest patch matrix, the largest residual output. */
struct scratch_sizes {
	size_t widest, col, rtmp;
};

static struct scratch_sizes scratch_sizes(const struct fcl_arch *arch)
{
	struct scratch_sizes z = {.widest = 0, .col = 1, .rtmp = 0};

	for (uint32_t l = 0; l <= arch->n_dense; l++)
		z.widest = arch->sizes[l] > z.widest ? arch->sizes[l] : z.widest;
	for (uint32_t i = 0; i < arch->n_body; i++) {
		const struct fcl_layer *L = &arch->layers[i];
		size_t in = shape_floats(L->in), out = shape_floats(L->out), c = 0;
		z.widest = in > z.widest ? in : z.widest;
		z.widest = out > z.widest ? out : z.widest;
		if (L->s.kind == FCL_LAYER_CONV2D) {
			struct fcl_conv_geom g = fcl_layer_geom(L);
			c = fcl_conv_col_floats(&g);
		} else if (L->s.kind == FCL_LAYER_RESIDUAL) {
			struct fcl_residual_geom g;
			fcl_residual_geom(&g, L);
			c = fcl_residual_col_floats(&g);
			out *= L->n_stats ? 2 : 1; /* fcl_residual_bufs' tmp */
			z.rtmp = out > z.rtmp ? out : z.rtmp;
		}
		z.col = c > z.col ? c : z.col;
	}
	return z;
}

/* fcl_alloc_floats's size: rounded up to 64 bytes */
static size_t float_bytes(size_t n)
{
	return ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
}

size_t fcl_model_bytes(const struct fcl_arch *arch, size_t max_batch)
{
	struct scratch_sizes z = scratch_sizes(arch);
	size_t b = 2 * float_bytes(arch->n_params) + 2 * float_bytes(max_batch * z.widest) +
		   float_bytes(max_batch * arch->sizes[arch->n_dense]);

	for (uint32_t l = 1; l <= arch->n_dense; l++) {
		size_t act = float_bytes(max_batch * arch->sizes[l]);
		/* a hidden layer's dropout mask, as wide as its activation */
		b += l < arch->n_dense && arch->dense_drop[l - 1] > 0.0f ? 2 * act : act;
	}
	for (uint32_t i = 0; i < arch->n_body; i++) {
		const struct fcl_layer *L = &arch->layers[i];
		size_t out = max_batch * shape_floats(L->out), nstd = norm_std_floats(L, max_batch);
		if (L->s.kind == FCL_LAYER_FLATTEN)
			continue;
		b += float_bytes(out);
		if (L->s.kind == FCL_LAYER_MAXPOOL)
			b += out * sizeof(int32_t);
		if (L->s.kind == FCL_LAYER_RESIDUAL)
			b += float_bytes(out);
		if (L->s.kind == FCL_LAYER_DROPOUT || nstd)
			b += float_bytes(norm_xhats(L) * out) + (nstd ? float_bytes(nstd) : 0);
	}
	if (z.rtmp)
		b += float_bytes(max_batch * z.rtmp);
	if (arch->n_body) {
		size_t kept = kept_floats(arch, max_batch);
		b += float_bytes(z.col);
		if (kept <= KEEP_MAX_FLOATS)
			for (uint32_t i = 0; i < arch->n_body; i++) {
				size_t n = layer_kept_floats(&arch->layers[i], max_batch);
				b += n ? float_bytes(n) : 0;
			}
	}
	return b;
}

void fcl_model_set_train(struct fcl_mlp *m, int on, uint64_t seed, uint32_t client, uint32_t round,
			 uint64_t step)
{
	m->train = on;
	if (on)
		fcl_rng_init(&m->drop, fcl_mix64(seed ^ fcl_mix64(step)), FCL_RNG_DROPOUT, client,
			     round);
}

int fcl_model_init(struct fcl_mlp *m, const struct fcl_arch *arch, size_t max_batch)
{
	uint32_t n_layers = arch->n_dense;
	const uint32_t *sizes = arch->sizes;

	memset(m, 0, sizeof *m);
	if (n_layers < 1 || n_layers > FCL_MLP_MAX_LAYERS || max_batch == 0)
		return -EINVAL;
	m->arch = *arch;
	m->n_layers = n_layers;
	for (uint32_t l = 0; l <= n_layers; l++) {
		if (sizes[l] == 0)
			return -EINVAL;
		m->sizes[l] = sizes[l];
	}
	for (uint32_t i = arch->n_body, l = 0; i < arch->n_layers; i++) {
		const struct fcl_layer *L = &arch->layers[i];
		if (L->s.kind == FCL_LAYER_DENSE) {
			m->w_offset[l] = L->w_off;
			m->b_offset[l] = L->b_off;
			m->dense_layer[l] = i;
			l++;
		}
	}
	struct scratch_sizes z = scratch_sizes(arch);
	size_t widest = z.widest, col = z.col, rtmp = z.rtmp;
	m->n_params = arch->n_params;
	m->n_trained = arch->n_trained;
	m->max_batch = max_batch;
	m->params = fcl_alloc_floats(m->n_params);
	m->grads = fcl_alloc_floats(m->n_params);
	m->dacts[0] = fcl_alloc_floats(max_batch * widest);
	m->dacts[1] = fcl_alloc_floats(max_batch * widest);
	m->probs = fcl_alloc_floats(max_batch * sizes[n_layers]);
	int ok = m->params && m->grads && m->dacts[0] && m->dacts[1] && m->probs;
	for (uint32_t l = 1; l <= n_layers && ok; l++) {
		m->acts[l] = fcl_alloc_floats(max_batch * sizes[l]);
		ok = m->acts[l] != NULL;
		if (ok && l < n_layers && arch->dense_drop[l - 1] > 0.0f) {
			m->dmask[l - 1] = fcl_alloc_floats(max_batch * sizes[l]);
			ok = m->dmask[l - 1] != NULL;
		}
	}
	for (uint32_t i = 0; i < arch->n_body && ok; i++) {
		const struct fcl_layer *L = &arch->layers[i];
		if (L->s.kind == FCL_LAYER_FLATTEN)
			continue; /* aliases its input, set by each forward */
		m->bout[i] = fcl_alloc_floats(max_batch * shape_floats(L->out));
		ok = m->bout[i] != NULL;
		if (ok && L->s.kind == FCL_LAYER_MAXPOOL) {
			m->barg[i] = malloc(max_batch * shape_floats(L->out) * sizeof(int32_t));
			ok = m->barg[i] != NULL;
		}
		if (ok && L->s.kind == FCL_LAYER_RESIDUAL) {
			m->rmid[i] = fcl_alloc_floats(max_batch * shape_floats(L->out));
			ok = m->rmid[i] != NULL;
		}
		if (ok)
			ok = norm_buffers(m, i, max_batch) == 0;
	}
	if (ok && rtmp) {
		m->rtmp = fcl_alloc_floats(max_batch * rtmp);
		ok = m->rtmp != NULL;
	}
	if (ok && arch->n_body) {
		m->col = fcl_alloc_floats(col);
		ok = m->col != NULL && alloc_kept(m, max_batch) == 0;
	}
	if (!ok) {
		fcl_mlp_fini(m);
		return -ENOMEM;
	}
	return 0;
}

int fcl_mlp_init(struct fcl_mlp *m, uint32_t n_layers, const uint32_t *sizes, size_t max_batch)
{
	struct fcl_arch a;

	memset(m, 0, sizeof *m);
	if (n_layers < 1 || n_layers > FCL_MLP_MAX_LAYERS || max_batch == 0)
		return -EINVAL;
	for (uint32_t l = 0; l <= n_layers; l++)
		if (sizes[l] == 0)
			return -EINVAL;
	if (fcl_arch_mlp(&a, n_layers, sizes) != 0)
		return -EINVAL;
	return fcl_model_init(m, &a, max_batch);
}

void fcl_mlp_fini(struct fcl_mlp *m)
{
	free(m->params);
	free(m->grads);
	free(m->dacts[0]);
	free(m->dacts[1]);
	free(m->probs);
	for (uint32_t l = 1; l <= FCL_MLP_MAX_LAYERS; l++)
		free(m->acts[l]);
	for (uint32_t l = 0; l < FCL_MLP_MAX_LAYERS; l++)
		free(m->dmask[l]);
	for (uint32_t i = 0; i < m->arch.n_body; i++) {
		if (m->arch.layers[i].s.kind != FCL_LAYER_FLATTEN)
			free(m->bout[i]);
		free(m->barg[i]);
		free(m->kept[i]);
		free(m->rmid[i]);
		free(m->baux[i]);
		free(m->bstd[i]);
	}
	free(m->rtmp);
	free(m->col);
	memset(m, 0, sizeof *m);
}

static void uniform(float *v, size_t n, float bound, struct fcl_rng *rng)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (2.0f * fcl_rng_uniform(rng) - 1.0f) * bound;
}

/* A residual block's convolutions, W1, W2, Ws in the buffer's order, each as
 * nn.Conv2d's default, then its norms. */
static void residual_init(float *params, const struct fcl_layer *L, struct fcl_rng *rng)
{
	struct fcl_residual_geom g;
	size_t ci = L->in.c, co = L->out.c;

	fcl_residual_geom(&g, L);
	uniform(params + g.w1, co * ci * 9, 1.0f / sqrtf((float)(ci * 9)), rng);
	uniform(params + g.w2, co * co * 9, 1.0f / sqrtf((float)(co * 9)), rng);
	if (g.sc.k)
		uniform(params + g.ws, co * ci, 1.0f / sqrtf((float)ci), rng);
	for (uint32_t k = 0; k < g.n_bn; k++)
		fcl_norm_reset(params + g.bn_at + 2 * co * k, params + g.st_at + 2 * co * k, co);
}

void fcl_mlp_init_params(struct fcl_mlp *m, struct fcl_rng *rng)
{
	for (uint32_t i = 0; i < m->arch.n_layers; i++) {
		const struct fcl_layer *L = &m->arch.layers[i];
		size_t fan_in, n_out;
		if (L->s.kind == FCL_LAYER_RESIDUAL) {
			residual_init(m->params, L, rng);
			continue;
		}
		if (L->s.kind == FCL_LAYER_CONV2D) {
			fan_in = (size_t)L->in.c * L->s.kernel * L->s.kernel;
			n_out = L->out.c;
		} else if (L->s.kind == FCL_LAYER_DENSE) {
			fan_in = L->in.c;
			n_out = L->out.c;
		} else if (L->n_params &&
			   (L->s.kind == FCL_LAYER_GROUPNORM || L->s.kind == FCL_LAYER_BATCHNORM)) {
			fcl_norm_reset(m->params + L->w_off,
				       L->n_stats ? m->params + L->s_off : NULL, L->in.c);
			continue;
		} else {
			continue;
		}
		float bound = 1.0f / sqrtf((float)fan_in);
		uniform(m->params + L->w_off, fan_in * n_out, bound, rng);
		if (L->s.bias)
			uniform(m->params + L->b_off, n_out, bound, rng);
		else if (L->s.kind == FCL_LAYER_DENSE) /* its slot is held at 0 */
			memset(m->params + L->b_off, 0, n_out * sizeof(float));
	}
}

/* Dropout or a norm, body layer i, in training or evaluation mode. */
static void norm_forward(struct fcl_mlp *m, uint32_t i, float *out, const float *in, size_t B)
{
	const struct fcl_layer *L = &m->arch.layers[i];
	size_t C = L->in.c, hw = (size_t)L->in.h * L->in.w, n = B * C * hw;
	float *p = m->params;

	switch (L->s.kind) {
	case FCL_LAYER_DROPOUT:
		if (m->train && L->s.rate > 0.0f) {
			fcl_dropout_mask(m->baux[i], n, L->s.rate, &m->drop);
			fcl_dropout_apply(out, in, m->baux[i], n);
		} else { /* evaluation: the identity (inverted dropout scales in training) */
			memcpy(out, in, n * sizeof(float));
			for (size_t k = 0; k < n; k++)
				m->baux[i][k] = 1.0f;
		}
		break;
	case FCL_LAYER_GROUPNORM:
		fcl_groupnorm_forward(out, m->baux[i], m->bstd[i], in, p + L->w_off, p + L->b_off,
				      B, C, hw, L->s.groups);
		break;
	case FCL_LAYER_BATCHNORM:
		fcl_batchnorm_forward(out, m->baux[i], m->bstd[i], in, p + L->w_off, p + L->b_off,
				      p + L->s_off, p + L->s_off + C, B, C, hw, m->train);
		break;
	default:
		FCL_ASSERT(0);
	}
}

/* Backward of dropout or a norm, body layer i: d (B, out) in place. */
static void norm_backward(struct fcl_mlp *m, uint32_t i, float *d, size_t B)
{
	const struct fcl_layer *L = &m->arch.layers[i];
	size_t C = L->in.c, hw = (size_t)L->in.h * L->in.w;
	float *p = m->params, *g = m->grads;

	if (L->s.kind == FCL_LAYER_DROPOUT)
		fcl_dropout_apply(d, d, m->baux[i], B * C * hw);
	else if (L->s.kind == FCL_LAYER_GROUPNORM)
		fcl_groupnorm_backward(d, g + L->w_off, g + L->b_off, d, m->baux[i], m->bstd[i],
				       p + L->w_off, B, C, hw, L->s.groups);
	else
		/* the training-mode gradient: backward follows a training forward */
		fcl_batchnorm_backward(d, g + L->w_off, g + L->b_off, d, m->baux[i], m->bstd[i],
				       p + L->w_off, B, C, hw);
}

/* Residual block i's forward or backward (fcl/residual.h) on the model's buffers. */
static void residual(struct fcl_mlp *m, uint32_t i, float *dx, float *d, const float *in, size_t B)
{
	const struct fcl_residual_bufs b = {.mid = m->rmid[i],
					    .tmp = m->rtmp,
					    .col = m->col,
					    .xhat = m->baux[i],
					    .rstd = m->bstd[i]};
	struct fcl_residual_geom g;

	fcl_residual_geom(&g, &m->arch.layers[i]);
	if (d)
		fcl_residual_backward(dx, m->grads, d, in, m->bout[i], m->params, &b, B, &g);
	else
		fcl_residual_forward(m->bout[i], in, m->params, &b, B, &g, m->train);
}

void fcl_model_body_forward(struct fcl_mlp *m, const float *x, size_t batch)
{
	const float *in = x;

	FCL_ASSERT(batch <= m->max_batch); /* callers size max_batch to their largest batch */
	m->x = x;
	for (uint32_t i = 0; i < m->arch.n_body; i++) {
		const struct fcl_layer *L = &m->arch.layers[i];
		struct fcl_conv_geom g = fcl_layer_geom(L);
		size_t planes = batch * L->in.c;
		float *out = m->bout[i];
		switch (L->s.kind) {
		case FCL_LAYER_CONV2D:
			fcl_conv2d_forward_keep(out, in, m->params + L->w_off,
						L->s.bias ? m->params + L->b_off : NULL, m->col,
						m->kept[i], batch, &g);
			break;
		case FCL_LAYER_RELU:
			fcl_relu_forward(out, in, batch * shape_floats(L->out));
			break;
		case FCL_LAYER_MAXPOOL:
			fcl_maxpool_forward(out, m->barg[i], in, planes, &g);
			break;
		case FCL_LAYER_AVGPOOL:
			fcl_avgpool_forward(out, in, planes, &g);
			break;
		case FCL_LAYER_GAP:
			fcl_gap_forward(out, in, planes, (size_t)L->in.h * L->in.w);
			break;
		case FCL_LAYER_FLATTEN:
			out = m->bout[i] = (float *)in;
			break;
		case FCL_LAYER_RESIDUAL:
			residual(m, i, NULL, NULL, in, batch);
			break;
		case FCL_LAYER_DROPOUT:
		case FCL_LAYER_GROUPNORM:
		case FCL_LAYER_BATCHNORM:
			norm_forward(m, i, out, in, batch);
			break;
		default:
			FCL_ASSERT(0);
		}
		in = out;
	}
	m->acts[0] = (float *)in;
}

void fcl_model_hidden_act(struct fcl_mlp *m, uint32_t l, size_t B)
{
	size_t n = B * m->sizes[l + 1];
	float *y = m->acts[l + 1];

	fcl_relu_forward(y, y, n);
	/* the masks follow the body's in the step's stream */
	m->dmasked[l] = m->train && m->dmask[l];
	if (m->dmasked[l]) {
		fcl_dropout_mask(m->dmask[l], n, m->arch.dense_drop[l], &m->drop);
		fcl_dropout_apply(y, y, m->dmask[l], n);
	}
}

const float *fcl_mlp_forward(struct fcl_mlp *m, const float *x, size_t batch)
{
	FCL_ASSERT(batch <= m->max_batch); /* callers size max_batch to their largest batch */
	fcl_model_body_forward(m, x, batch);
	for (uint32_t l = 0; l < m->n_layers; l++) {
		size_t n_in = m->sizes[l], n_out = m->sizes[l + 1];
		fcl_dense_forward(m->acts[l + 1], m->acts[l], m->params + m->w_offset[l],
				  m->params + m->b_offset[l], batch, n_in, n_out);
		if (l + 1 < m->n_layers)
			fcl_model_hidden_act(m, l, batch);
	}
	return m->acts[m->n_layers];
}

float fcl_mlp_loss(struct fcl_mlp *m, const int32_t *y, size_t batch)
{
	return fcl_softmax_xent_forward(m->probs, m->acts[m->n_layers], y, batch,
					m->sizes[m->n_layers]);
}

void fcl_mlp_backward(struct fcl_mlp *m, const int32_t *y, size_t batch)
{
	/* probs are not needed once the loss is known: the logits' gradient goes there */
	fcl_softmax_xent_backward(m->probs, m->probs, y, batch, m->sizes[m->n_layers]);
	fcl_mlp_backward_logits(m, m->probs, NULL, batch, NULL, NULL);
}

/* With m->fused: arch layer i's SGD update, its gradient complete and its
 * weights read by the backward for the last time. */
static void fused_update(struct fcl_mlp *m, uint32_t i)
{
	const struct fcl_layer *L = &m->arch.layers[i];
	if (!m->fused || !L->n_params)
		return;
	FCL_ASSERT(!m->updated[i]); /* one backward per step */
	fcl_sgd_update_range(m->fused, m->params, m->grads, L->w_off, L->n_params);
	m->updated[i] = 1;
}

/* The first body layer with parameters, or n_body when none has any. */
static uint32_t first_trained(const struct fcl_mlp *m)
{
	for (uint32_t i = 0; i < m->arch.n_body; i++)
		if (m->arch.layers[i].n_params)
			return i;
	return m->arch.n_body;
}

/* Back through the body from d (the gradient of acts[0]), other a free buffer
 * of the same size; down to the first layer with parameters. */
static void body_backward(struct fcl_mlp *m, float *d, float *other, size_t B)
{
	uint32_t stop = first_trained(m);

	for (uint32_t i = m->arch.n_body; i-- > stop;) {
		const struct fcl_layer *L = &m->arch.layers[i];
		struct fcl_conv_geom g = fcl_layer_geom(L);
		const float *in = i ? m->bout[i - 1] : m->x;
		size_t planes = B * L->in.c;
		int need_dx = i > stop;
		switch (L->s.kind) {
		case FCL_LAYER_CONV2D:
			fcl_conv2d_backward_ex(need_dx ? other : NULL, m->grads + L->w_off,
					       L->s.bias ? m->grads + L->b_off : NULL, d, in,
					       m->params + L->w_off, m->col, m->kept[i], B, &g);
			fused_update(m, i);
			break;
		case FCL_LAYER_RELU:
			fcl_relu_backward(d, d, m->bout[i], B * shape_floats(L->out));
			continue;
		case FCL_LAYER_MAXPOOL:
			fcl_maxpool_backward(other, d, m->barg[i], planes, &g);
			break;
		case FCL_LAYER_AVGPOOL:
			fcl_avgpool_backward(other, d, planes, &g);
			break;
		case FCL_LAYER_GAP:
			fcl_gap_backward(other, d, planes, (size_t)L->in.h * L->in.w);
			break;
		case FCL_LAYER_FLATTEN:
			continue;
		case FCL_LAYER_RESIDUAL:
			residual(m, i, need_dx ? other : NULL, d, in, B);
			break;
		case FCL_LAYER_DROPOUT:
		case FCL_LAYER_GROUPNORM:
		case FCL_LAYER_BATCHNORM:
			norm_backward(m, i, d, B);
			continue;
		default:
			FCL_ASSERT(0);
		}
		float *t = d;
		d = other;
		other = t;
	}
}

/* The bias gradient of dense layer l, NULL when it has none (its slot stays 0). */
static float *dense_db(struct fcl_mlp *m, uint32_t l)
{
	return m->arch.dense_bias[l] ? m->grads + m->b_offset[l] : NULL;
}

/* Dense layer l's backward from dy into dx (or NULL), adding to its gradients. */
static void dense_backward(struct fcl_mlp *m, uint32_t l, float *dx, const float *dy, size_t B)
{
	fcl_dense_backward(dx, m->grads + m->w_offset[l], dense_db(m, l), dy, m->acts[l],
			   m->params + m->w_offset[l], B, m->sizes[l], m->sizes[l + 1]);
	fused_update(m, m->dense_layer[l]);
}

void fcl_mlp_backward_logits(struct fcl_mlp *m, const float *dz, const float *dh_extra, size_t B,
			     fcl_mlp_preact_hook hook, void *ctx)
{
	uint32_t L = m->n_layers;
	size_t d = m->sizes[L - 1];
	float *dh = m->dacts[0], *dx = m->dacts[1];
	int body = first_trained(m) < m->arch.n_body; /* the body has parameters to train */

	m->grads_clean = 0;
	if (dz)
		dense_backward(m, L - 1, L > 1 || body ? dh : NULL, dz, B);
	else
		memset(dh, 0, B * d * sizeof(float));
	if (L == 1 && !body)
		return;
	if (dh_extra)
		for (size_t k = 0; k < B * d; k++)
			dh[k] += dh_extra[k];
	for (uint32_t l = L - 1; l >= 1; l--) {
		size_t n_out = m->sizes[l];
		/* acts[l] is the ReLU output of dense layer l - 1, times its mask: a
		 * dropped value is 0 there, and its gradient 0 already */
		if (m->dmasked[l - 1])
			fcl_dropout_apply(dh, dh, m->dmask[l - 1], B * n_out);
		fcl_relu_backward(dh, dh, m->acts[l], B * n_out);
		if (hook)
			hook(ctx, l - 1, dh, B);
		dense_backward(m, l - 1, l > 1 || body ? dx : NULL, dh, B);
		float *t = dh;
		dh = dx;
		dx = t;
	}
	if (body)
		body_backward(m, dh, dx, B);
}

void fcl_mlp_zero_grad(struct fcl_mlp *m)
{
	memset(m->grads, 0, m->n_params * sizeof(float));
}

void fcl_mlp_fused_finish(struct fcl_mlp *m)
{
	for (uint32_t i = 0; i < m->arch.n_layers; i++)
		if (!m->updated[i])
			fused_update(m, i);
	m->fused = NULL;
}

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
static void sgd_plain(const struct fcl_sgd *opt, float *restrict p, float *restrict g,
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
