/* common/src/model_alloc.c - a model's buffers (their sizes, allocation,
 * release) and its parameters' initialisation */
#include "fcl/model.h"

#include "fcl/data.h"
#include "fcl/layers.h"
#include "fcl/norm.h"
#include "fcl/residual.h"
#include "fcl/rng.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
	m->baux[i] = fcl_alloc_floats(naux * max_batch * fcl_shape_floats(L->out));
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
		size_t in = fcl_shape_floats(L->in), out = fcl_shape_floats(L->out), c = 0;
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
		size_t out = max_batch * fcl_shape_floats(L->out), nstd = norm_std_floats(L, max_batch);
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
		m->bout[i] = fcl_alloc_floats(max_batch * fcl_shape_floats(L->out));
		ok = m->bout[i] != NULL;
		if (ok && L->s.kind == FCL_LAYER_MAXPOOL) {
			m->barg[i] = malloc(max_batch * fcl_shape_floats(L->out) * sizeof(int32_t));
			ok = m->barg[i] != NULL;
		}
		if (ok && L->s.kind == FCL_LAYER_RESIDUAL) {
			m->rmid[i] = fcl_alloc_floats(max_batch * fcl_shape_floats(L->out));
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
