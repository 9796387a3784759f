/* common/src/strategy_uer.c - UER (Lin et al., ACM MM 2023), reconstructed
 *
 * With a bias-free head W (C, d) on the features h, the dot-product logit is
 * w_c.h = |w_c||h| cos(theta_c). Stream samples are trained through the angle
 * only, with scaled cosine logits s cos(theta_c); replayed samples through the
 * full dot product w_c.h, so the class norms are learned from the roughly
 * balanced buffer. Prediction is argmax W h (the server's plain forward; set
 * model.head_bias: false so that the bias stays 0 and the decomposition is
 * exact; with a head bias the bias is ignored here and kept at its value).
 * No UER code is public; this follows the paper's abstract (see
 * /work/shared/reference/online_cl.md 1b).
 */
#include "fcl/model.h"
#include "fcl/schema.h"
#include "fcl/strategy_impl.h"

#include <math.h>
#include <string.h>

#define UER_EPS 1e-6f

struct uer_params {
	float scale;
};

static const struct fcl_key keys[] = {
    FCL_KEY_F32("scale", struct uer_params, scale, 0, FCL_OPEN, HUGE_VAL, 0,
		"cosine-logit scale s of the stream rows"),
    {0},
};

static void defaults(void *params)
{
	*(struct uer_params *)params = (struct uer_params){.scale = 1.0f / 0.09f};
}

static float norm(const float *v, size_t n)
{
	double s = 0.0;
	for (size_t k = 0; k < n; k++)
		s += (double)v[k] * v[k];
	return (float)sqrt(s);
}

void fcl_uer_cos_forward(float *z, const float *h, const float *W, size_t B, size_t d, size_t C,
			 float s)
{
	for (size_t i = 0; i < B; i++) {
		float nh = norm(h + i * d, d) + UER_EPS;
		for (size_t c = 0; c < C; c++) {
			float nw = norm(W + c * d, d) + UER_EPS;
			double a = 0.0;
			for (size_t k = 0; k < d; k++)
				a += (double)h[i * d + k] * W[c * d + k];
			z[i * C + c] = (float)(s * a / ((double)nh * nw));
		}
	}
}

void fcl_uer_cos_backward(float *dh, float *dW, const float *dz, const float *h, const float *W,
			  size_t B, size_t d, size_t C, float s)
{
	for (size_t i = 0; i < B; i++) {
		const float *hi = h + i * d;
		float rh = norm(hi, d), nh = rh + UER_EPS;
		for (size_t c = 0; c < C; c++) {
			const float *wc = W + c * d;
			float g = dz[i * C + c];
			if (g == 0.0f)
				continue;
			float rw = norm(wc, d), nw = rw + UER_EPS;
			double a = 0.0;
			for (size_t k = 0; k < d; k++)
				a += (double)hi[k] * wc[k];
			double base = s * g / ((double)nh * nw);
			double th = rh > 0 ? base * a / ((double)rh * nh) : 0.0;
			double tw = rw > 0 ? base * a / ((double)rw * nw) : 0.0;
			for (size_t k = 0; k < d; k++) {
				if (dh)
					dh[i * d + k] += (float)(base * wc[k] - th * hi[k]);
				if (dW)
					dW[c * d + k] += (float)(base * hi[k] - tw * wc[k]);
			}
		}
	}
}

static double uer_step(struct fcl_strategy *s, struct fcl_mlp *m,
		       const struct fcl_strategy_batch *b)
{
	uint32_t L = m->n_layers;
	size_t nn = b->n_new, nr = b->n_rep, rows = nn + nr, d = s->d, C = s->C;
	const float *W = m->params + m->w_offset[L - 1];
	float *dW = m->grads + m->w_offset[L - 1];
	double l;

	fcl_mlp_forward(m, b->x, rows);
	const float *h = m->acts[L - 1];
	memset(s->dz, 0, rows * C * sizeof(float));
	memset(s->dh, 0, rows * d * sizeof(float));
	/* stream rows: angle only */
	fcl_uer_cos_forward(s->z, h, W, nn, d, C, FCL_STRATEGY_PARAMS(s, struct uer_params)->scale);
	l = fcl_cl_xent(s->z, b->y, nn, C, b->exposed, s->probs, NULL);
	fcl_cl_xent_grad(s->dz, s->probs, b->y, nn, C, b->exposed, NULL, 1.0f);
	fcl_uer_cos_backward(s->dh, dW, s->dz, h, W, nn, d, C,
			     FCL_STRATEGY_PARAMS(s, struct uer_params)->scale);
	/* replay rows: dot product, no bias */
	if (nr) {
		float *zr = s->z + nn * C, *dzr = s->dz + nn * C;
		fcl_dense_forward(zr, h + nn * d, W, s->zero_bias, nr, d, C);
		l += fcl_cl_xent(zr, b->y + nn, nr, C, b->exposed, s->probs + nn * C, NULL);
		fcl_cl_xent_grad(dzr, s->probs + nn * C, b->y + nn, nr, C, b->exposed, NULL, 1.0f);
		memset(s->zsave, 0, C * sizeof(float)); /* bias gradient, dropped */
		fcl_dense_backward(s->dh + nn * d, dW, s->zsave, dzr, h + nn * d, W, nr, d, C);
	}
	fcl_mlp_backward_logits(m, NULL, s->dh, rows, NULL, NULL);
	return l;
}

static const struct fcl_strategy_ops ops = {.replay_draws = 1, .step = uer_step};

const struct fcl_strategy_method fcl_strategy_uer = {
    .name = "uer",
    .summary = "UER: stream rows through the angle (cosine logits), replay through the dot product",
    .keys = keys,
    .params_size = sizeof(struct uer_params),
    .defaults = defaults,
    .takes_memory = 1,
    .min_hidden = 0,
    .bias_free_head = 1, /* logits = s cos(w_c, h): a head bias breaks the decomposition */
    .ops = &ops,
};
