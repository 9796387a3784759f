/* common/src/model.c - a network's forward/backward on one flat buffer (its
 * buffers: model_alloc.c; SGD: sgd.c) */
#include "fcl/model.h"

#include "fcl/data.h"
#include "fcl/layers.h"
#include "fcl/log.h"
#include "fcl/residual.h"
#include "fcl/norm.h"
#include "fcl/rng.h"
#include "fcl/util.h"
#include "sgemm-small.h"

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
	if (fcl__sgemm_small_forward(y, x, w, batch, n_in, n_out) == 0)
		return; /* the same bits without packing w (sgemm_small.c) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)n_out, (int)n_in,
		    1.0f, x, (int)n_in, w, (int)n_in, 1.0f, y, (int)n_out);
}

void fcl_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
			const float *w, size_t batch, size_t n_in, size_t n_out)
{
	if (dx && fcl__sgemm_small_dx(dx, dy, w, batch, n_in, n_out) != 0)
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

void fcl_model_set_train(struct fcl_mlp *m, int on, uint64_t seed, uint32_t client, uint32_t round,
			 uint64_t step)
{
	m->train = on;
	if (on)
		fcl_rng_init(&m->drop, fcl_mix64(seed ^ fcl_mix64(step)), FCL_RNG_DROPOUT, client,
			     round);
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
			fcl_relu_forward(out, in, batch * fcl_shape_floats(L->out));
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
			fcl_relu_backward(d, d, m->bout[i], B * fcl_shape_floats(L->out));
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
