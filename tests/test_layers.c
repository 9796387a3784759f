/* tests/test_layers.c - the spatial layers and the presets against central
 * finite differences; layer lists compiled against shapes */
#include "fcl/arch.h"
#include "fcl/layers.h"
#include "fcl/model.h"
#include "fcl/residual.h"
#include "fcl/rng.h"
#include "gradcheck.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* ---- one layer ------------------------------------------------------------ */

struct conv_case {
	struct fcl_conv_geom g;
	size_t B;
	float *x, *w, *b, *y, *gy, *col;
};

static double conv_loss(void *ctx)
{
	struct conv_case *c = ctx;
	fcl_conv2d_forward(c->y, c->x, c->w, c->b, c->col, c->B, &c->g);
	return probe(c->y, c->gy, c->B * c->g.co * c->g.ho * c->g.wo);
}

static void test_conv(uint32_t ci, uint32_t hw, uint32_t co, uint32_t k, uint32_t stride,
		      uint32_t pad, int bias)
{
	struct conv_case c = {.B = 2};
	struct fcl_rng r;
	c.g = (struct fcl_conv_geom){.ci = ci, .h = hw, .w = hw, .co = co, .k = k, .stride = stride,
				     .pad = pad};
	c.g.ho = c.g.wo = (hw + 2 * pad - k) / stride + 1;
	size_t nx = c.B * ci * hw * hw, nw = (size_t)co * ci * k * k,
	       ny = c.B * co * c.g.ho * c.g.wo;
	c.x = calloc(nx, sizeof(float));
	c.w = calloc(nw, sizeof(float));
	c.b = bias ? calloc(co, sizeof(float)) : NULL;
	c.y = calloc(ny, sizeof(float));
	c.gy = calloc(ny, sizeof(float));
	c.col = calloc(fcl_conv_col_floats(&c.g), sizeof(float));
	float *dx = calloc(nx, sizeof(float)), *dw = calloc(nw, sizeof(float)),
	      *db = calloc(co, sizeof(float));
	fcl_rng_init(&r, 7, FCL_RNG_TEST, ci * 100 + k, stride * 10 + pad);
	fill(c.x, nx, &r, 1);
	fill(c.w, nw, &r, 0.5f);
	if (bias)
		fill(c.b, co, &r, 1);
	fill(c.gy, ny, &r, 1);
	fcl_conv2d_backward(dx, dw, bias ? db : NULL, c.gy, c.x, c.w, c.col, c.B, &c.g);
	double worst = fd_worst(c.x, dx, nx, conv_loss, &c, 1e-2f);
	worst = fmax(worst, fd_worst(c.w, dw, nw, conv_loss, &c, 1e-2f));
	if (bias)
		worst = fmax(worst, fd_worst(c.b, db, co, conv_loss, &c, 1e-2f));
	CHECK(worst < 1e-2,
	      "conv2d %u->%u k%u s%u p%u%s on %ux%u: dx, dW%s match finite differences (%.2e)", ci,
	      co, k, stride, pad, bias ? "" : " no bias", hw, hw, bias ? ", db" : "", worst);
	free(c.x), free(c.w), free(c.b), free(c.y), free(c.gy), free(c.col);
	free(dx), free(dw), free(db);
}

/* im2col's rows are (c_in, kh, kw): a convolution equals W . patches column by column. */
static void test_im2col_order(void)
{
	struct fcl_conv_geom g = {.ci = 2, .h = 3, .w = 3, .co = 1, .ho = 2, .wo = 2, .k = 2,
				  .stride = 1, .pad = 0};
	float x[18], col[8 * 4];
	for (int i = 0; i < 18; i++)
		x[i] = (float)i;
	fcl_im2col(col, x, &g);
	/* row (c=1, ky=1, kx=0), column (oy=0, ox=1): x[1][1][1] = 9 + 4 */
	CHECK(col[(1 * 4 + 1 * 2 + 0) * 4 + 1] == 13.0f && col[0] == 0.0f && col[3] == 4.0f,
	      "im2col rows are (c_in, kh, kw), columns (oh, ow)");
}

struct pool_case {
	struct fcl_conv_geom g;
	size_t planes;
	int kind; /* 0 max, 1 avg, 2 gap */
	float *x, *y, *gy;
	int32_t *arg;
};

static double pool_loss(void *ctx)
{
	struct pool_case *p = ctx;
	size_t out = p->kind == 2 ? p->planes : p->planes * p->g.ho * p->g.wo;
	if (p->kind == 0)
		fcl_maxpool_forward(p->y, p->arg, p->x, p->planes, &p->g);
	else if (p->kind == 1)
		fcl_avgpool_forward(p->y, p->x, p->planes, &p->g);
	else
		fcl_gap_forward(p->y, p->x, p->planes, (size_t)p->g.h * p->g.w);
	return probe(p->y, p->gy, out);
}

static void test_pool(int kind, uint32_t k, uint32_t stride)
{
	static const char *const names[] = {"maxpool", "avgpool", "global average pool"};
	struct pool_case p = {.planes = 6, .kind = kind};
	struct fcl_rng r;
	p.g = (struct fcl_conv_geom){.ci = 1, .h = 7, .w = 7, .co = 1, .k = k, .stride = stride};
	p.g.ho = p.g.wo = kind == 2 ? 1 : (7 - k) / stride + 1;
	size_t nx = p.planes * 49, ny = p.planes * p.g.ho * p.g.wo;
	p.x = calloc(nx, sizeof(float));
	p.y = calloc(ny, sizeof(float));
	p.gy = calloc(ny, sizeof(float));
	p.arg = calloc(ny, sizeof(int32_t));
	float *dx = calloc(nx, sizeof(float));
	fcl_rng_init(&r, 9, FCL_RNG_TEST, (uint32_t)kind, k);
	fill(p.x, nx, &r, 1);
	fill(p.gy, ny, &r, 1);
	pool_loss(&p);
	if (kind == 0)
		fcl_maxpool_backward(dx, p.gy, p.arg, p.planes, &p.g);
	else if (kind == 1)
		fcl_avgpool_backward(dx, p.gy, p.planes, &p.g);
	else
		fcl_gap_backward(dx, p.gy, p.planes, 49);
	/* h well below the gaps between random normals: no argmax changes */
	double worst = fd_worst(p.x, dx, nx, pool_loss, &p, 1e-3f);
	CHECK(worst < 1e-2, "%s k%u s%u backward matches finite differences (%.2e)", names[kind], k,
	      stride, worst);
	free(p.x), free(p.y), free(p.gy), free(p.arg), free(dx);
}

/* ---- the residual block ----------------------------------------------------- */

struct res_case {
	struct fcl_residual_geom g;
	struct fcl_residual_bufs b;
	size_t B, n_out;
	float *x, *w, *out, *gy;
};

/* The probe loss of the block, and whether each ReLU input is positive
 * (the pattern) written to pat (2 * n_out). */
static double res_loss(struct res_case *c, unsigned char *pat)
{
	fcl_residual_forward(c->out, c->x, c->w, &c->b, c->B, &c->g, 1);
	for (size_t k = 0; k < c->n_out; k++) {
		pat[k] = c->b.mid[k] > 0.0f;
		pat[c->n_out + k] = c->out[k] > 0.0f;
	}
	return probe(c->out, c->gy, c->n_out);
}

/* Central differences of v (n) against g; those that flip a ReLU are skipped.
 * A smaller step with BatchNorm: every value moves its channel's statistics,
 * so more ReLUs are within a step's reach (a smaller one still drowns the
 * difference in the float32 forward's rounding). */
static double res_fd(struct res_case *c, float *v, const float *g, size_t n, unsigned char *rest,
		     unsigned char *pat, uint32_t *checked, uint32_t *skipped)
{
	const float h = c->g.n_bn ? 7e-3f : 1e-2f;
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		float keep = v[i];
		v[i] = keep + h;
		double up = res_loss(c, pat);
		int same = !memcmp(pat, rest, 2 * c->n_out);
		v[i] = keep - h;
		double down = res_loss(c, pat);
		same &= !memcmp(pat, rest, 2 * c->n_out);
		v[i] = keep;
		if (!same) {
			(*skipped)++;
			continue;
		}
		(*checked)++;
		worst = fmax(worst, rel_err((up - down) / (2 * h), g[i]));
	}
	return worst;
}

/* The block's gradients against finite differences; with bn, in training
 * mode (batch statistics), the BatchNorms' gammas and betas too. */
static void test_residual(uint32_t ci, uint32_t hw, uint32_t co, uint32_t stride, int bn)
{
	struct fcl_layer L = {.s = {.kind = FCL_LAYER_RESIDUAL, .units = co, .kernel = 3,
				    .stride = stride, .padding = 1, .bn = bn}};
	struct res_case c = {.B = 2};
	struct fcl_rng r;
	uint32_t ho = (hw - 1) / stride + 1, checked = 0, skipped = 0;
	uint32_t nbn = fcl_residual_norms(ci, co, stride, bn);

	L.in = (struct fcl_input_shape){ci, hw, hw};
	L.out = (struct fcl_input_shape){co, ho, ho};
	size_t nx = c.B * ci * hw * hw, nw = fcl_residual_params(ci, co, stride, bn);
	L.s_off = nw; /* the running statistics after the trained values, as in a model */
	fcl_residual_geom(&c.g, &L);
	size_t ncol = fcl_residual_col_floats(&c.g);
	c.n_out = c.B * co * ho * ho;
	c.x = calloc(nx, sizeof(float));
	c.w = calloc(nw + 2 * co * nbn, sizeof(float));
	c.out = calloc(c.n_out, sizeof(float));
	c.gy = calloc(c.n_out, sizeof(float));
	c.b = (struct fcl_residual_bufs){.mid = calloc(c.n_out, sizeof(float)),
					 .tmp = calloc(2 * c.n_out, sizeof(float)),
					 .col = calloc(ncol, sizeof(float)),
					 .xhat = calloc(3 * c.n_out, sizeof(float)),
					 .rstd = calloc(3 * co, sizeof(float))};
	float *dx = calloc(nx, sizeof(float)), *dw = calloc(nw, sizeof(float)),
	      *d = calloc(c.n_out, sizeof(float));
	unsigned char *rest = calloc(2 * c.n_out, 1), *pat = calloc(2 * c.n_out, 1);
	fcl_rng_init(&r, 13, FCL_RNG_TEST, ci * 100 + co, stride + 10 * (uint32_t)bn);
	fill(c.x, nx, &r, 1);
	fill(c.w, nw, &r, 0.3f);
	for (uint32_t k = 0; k < nbn; k++) /* gammas about 1, running variances 1 */
		for (uint32_t j = 0; j < co; j++) {
			c.w[c.g.bn_at + 2 * co * k + j] += 1.0f;
			c.w[c.g.st_at + 2 * co * k + co + j] = 1.0f;
		}
	fill(c.gy, c.n_out, &r, 1);
	res_loss(&c, rest);
	memcpy(d, c.gy, c.n_out * sizeof(float));
	memset(dx, 0xff, nx * sizeof(float)); /* NaN: backward must set every element */
	fcl_residual_backward(dx, dw, d, c.x, c.out, c.w, &c.b, c.B, &c.g);
	double worst = res_fd(&c, c.x, dx, nx, rest, pat, &checked, &skipped);
	worst = fmax(worst, res_fd(&c, c.w, dw, nw, rest, pat, &checked, &skipped));
	int proj = fcl_residual_has_projection(ci, co, stride);
	CHECK(worst < 1e-2 && checked > 4 * skipped,
	      "residual %u->%u s%u%s on %ux%u (%s shortcut, %zu parameters): dx, dW match finite "
	      "differences on %u values (%u across a ReLU kink skipped), max relative error %.2e",
	      ci, co, stride, bn ? " with BatchNorm" : "", hw, hw, proj ? "1x1" : "identity", nw,
	      checked, skipped, worst);
	free(c.x), free(c.w), free(c.out), free(c.gy), free(c.b.mid), free(c.b.tmp), free(c.b.col);
	free(c.b.xhat), free(c.b.rstd), free(dx), free(dw), free(d), free(rest), free(pat);
}

/* ---- whole models ---------------------------------------------------------- */

/* The loss of a model's last batch, and a hash of where its kinks are (ReLU
 * signs, max-pool choices): a finite difference across a kink says nothing
 * about the gradient, so such parameters are skipped and counted. */
struct model_case {
	struct fcl_mlp *m;
	const float *x;
	const int32_t *y;
	size_t B;
	uint64_t kinks;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

static double model_loss(struct model_case *c)
{
	struct fcl_mlp *m = c->m;
	uint64_t h = 0xcbf29ce484222325ull;
	/* training mode, the same dropout masks at every evaluation */
	fcl_model_set_train(m, 1, 1, 2, 3, 4);
	fcl_mlp_forward(m, c->x, c->B);
	for (uint32_t i = 0; i < m->arch.n_body; i++) {
		const struct fcl_layer *L = &m->arch.layers[i];
		size_t n = c->B * L->out.c * L->out.h * L->out.w;
		for (size_t k = 0; k < n; k++) {
			if (L->s.kind == FCL_LAYER_RELU)
				h = mix(h, m->bout[i][k] > 0.0f);
			else if (L->s.kind == FCL_LAYER_MAXPOOL)
				h = mix(h, (uint64_t)m->barg[i][k]);
			else if (L->s.kind == FCL_LAYER_RESIDUAL)
				h = mix(h, (m->bout[i][k] > 0.0f) * 2u + (m->rmid[i][k] > 0.0f));
		}
	}
	for (uint32_t l = 1; l < m->n_layers; l++)
		for (size_t k = 0; k < c->B * m->sizes[l]; k++)
			h = mix(h, m->acts[l][k] > 0.0f);
	c->kinks = h;
	return fcl_mlp_loss(m, c->y, c->B);
}

/* Backward of the mean loss against central differences of the loss, on up to
 * `per` parameters drawn from every layer's weights and biases; *skipped
 * counts those whose difference crossed a kink. */
static double check_model(struct fcl_mlp *m, size_t B, uint32_t per, uint64_t seed,
			  uint32_t *checked, uint32_t *skipped)
{
	struct fcl_rng r;
	float *x = calloc(B * m->arch.dim_in, sizeof(float));
	int32_t *y = calloc(B, sizeof *y);
	struct model_case c = {m, x, y, B, 0};
	const float h = 1e-3f;
	double worst = 0;

	*checked = *skipped = 0;
	fcl_rng_init(&r, seed, FCL_RNG_TEST, 1, 2);
	fcl_mlp_init_params(m, &r);
	fill(x, B * m->arch.dim_in, &r, 1);
	for (size_t i = 0; i < B; i++)
		y[i] = (int32_t)(fcl_rng_next(&r) % m->sizes[m->n_layers]);
	fcl_mlp_zero_grad(m);
	model_loss(&c);
	uint64_t at_rest = c.kinks;
	fcl_mlp_backward(m, y, B);
	for (uint32_t i = 0; i < m->arch.n_layers; i++) {
		const struct fcl_layer *L = &m->arch.layers[i];
		/* a dense layer without bias: its slot is held at 0, not a parameter */
		size_t np = L->s.bias || L->s.kind != FCL_LAYER_DENSE ? L->n_params
								      : L->n_params - L->out.c;
		for (uint32_t k = 0; k < per && k < np; k++) {
			size_t at = L->w_off + (per >= np ? k : fcl_rng_next(&r) % np);
			float keep = m->params[at];
			m->params[at] = keep + h;
			double up = model_loss(&c);
			uint64_t k_up = c.kinks;
			m->params[at] = keep - h;
			double down = model_loss(&c);
			m->params[at] = keep;
			if (k_up != at_rest || c.kinks != at_rest) {
				(*skipped)++;
				continue;
			}
			(*checked)++;
			double e = rel_err((up - down) / (2 * h), m->grads[at]);
			if (e > 1e-2)
				printf("# layer %u parameter %zu: difference %g, gradient %g\n", i, at,
				       (up - down) / (2 * h), m->grads[at]);
			worst = fmax(worst, e);
		}
	}
	free(x);
	free(y);
	return worst;
}

/* Every parameter of m (a batch of 3) against finite differences: most must
 * be checked rather than skipped at a kink, all within 1e-2. */
static void check_every_parameter(struct fcl_mlp *m, uint64_t seed)
{
	uint32_t checked, skipped;
	double worst = check_model(m, 3, 1000, seed, &checked, &skipped);
	CHECK(worst < 1e-2 && checked >= skipped,
	      "every parameter of it matches finite differences: %u checked, %u across a kink "
	      "skipped, max relative error %.2e",
	      checked, skipped, worst);
}

/* train: in training mode (BatchNorm on the batch statistics, the mode its
 * backward is the gradient of). */
static void test_preset(enum fcl_model_preset p, struct fcl_input_shape in, uint32_t classes,
			size_t B, uint32_t per, int train)
{
	const uint32_t hidden[2] = {12, 8};
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	struct fcl_arch a;
	struct fcl_mlp m;
	char err[256];
	int n = fcl_preset_layers(p, hidden, 2, l, FCL_ARCH_MAX_LAYERS);

	REQUIRE(n > 0 && fcl_arch_compile(&a, l, (uint32_t)n, in, classes, NULL, err, sizeof err) == 0,
		"preset %s compiles on %ux%ux%u (%s)", fcl_model_preset_name(p), in.c, in.h, in.w,
		n > 0 ? err : "no layers");
	REQUIRE(fcl_model_init(&m, &a, B) == 0, "its model initialises");
	fcl_model_set_train(&m, train, 1, 2, 3, 4);
	uint32_t checked, skipped;
	double worst = check_model(&m, B, per, 11, &checked, &skipped);
	/* in training mode a parameter moves its BatchNorms' statistics, so every
	 * activation after it: some ReLU among thousands flips for most steps */
	CHECK(worst < 1e-2 && checked >= (train ? skipped / 3 : skipped),
	      "preset %s (%zu parameters): backward matches finite differences on %u parameters "
	      "(%u across a kink skipped), max relative error %.2e",
	      fcl_model_preset_name(p), m.n_params, checked, skipped, worst);
	fcl_mlp_fini(&m);
}

/* A list with every body layer type, stride 2 and a 1x1 convolution. */
static void test_all_layers(void)
{
	struct fcl_layer_spec l[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 4, .kernel = 3, .stride = 1, .padding = 1, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_AVGPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_CONV2D, .units = 5, .kernel = 3, .stride = 2, .padding = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_CONV2D, .units = 6, .kernel = 1, .stride = 1, .bias = 1},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 1},
	    {.kind = FCL_LAYER_GAP},
	    {.kind = FCL_LAYER_DENSE, .units = 7, .bias = 0},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	uint32_t n = sizeof l / sizeof *l;
	struct fcl_arch a;
	struct fcl_mlp m;
	char err[256];

	REQUIRE(fcl_arch_compile(&a, l, n, (struct fcl_input_shape){2, 9, 9}, 3, NULL, err,
				 sizeof err) == 0,
		"a list of every layer type compiles (%s)", err);
	CHECK(a.layers[2].out.h == 4 && a.layers[3].out.h == 2 && a.layers[6].out.h == 1 &&
		  a.layers[7].out.c == 6 && a.sizes[0] == 6,
	      "shapes: 9x9 avg-pooled to 4x4, stride 2 to 2x2, max-pooled to 1x1, 6 features "
	      "(got %u, %u, %u)",
	      a.layers[3].out.h,
	      a.layers[6].out.h, a.sizes[0]);
	CHECK(a.n_params == 2 * 9 * 4 + 4 + 4 * 9 * 5 + 5 * 6 + 6 + 6 * 7 + 7 + 7 * 3 + 3,
	      "parameter count %zu (the dense layer without bias keeps a slot held at 0)",
	      a.n_params);
	REQUIRE(fcl_model_init(&m, &a, 3) == 0, "the model initialises");
	check_every_parameter(&m, 5);
	int zero = 1;
	for (uint32_t k = 0; k < 7; k++)
		zero &= m.params[a.layers[8].b_off + k] == 0.0f && m.grads[a.layers[8].b_off + k] == 0;
	CHECK(zero, "a dense layer without bias keeps its slot and its gradient at 0");
	fcl_mlp_fini(&m);
}

/* Dropout between dense layers, after the ReLU and before it (the same
 * function), over a body with its own dropout: the masks fixed across the
 * perturbed evaluations (model_loss). */
static void test_dense_dropout(void)
{
	struct fcl_layer_spec l[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.2f},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .units = 16, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
	    {.kind = FCL_LAYER_DENSE, .units = 12, .bias = 0},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.3f},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	struct fcl_arch a;
	struct fcl_mlp m;
	char err[256] = "";

	REQUIRE(fcl_arch_compile(&a, l, sizeof l / sizeof *l, (struct fcl_input_shape){2, 5, 5}, 4,
				 NULL, err, sizeof err) == 0,
		"dropout after a dense layer's relu and before another's compiles (%s)", err);
	CHECK(a.n_dense == 3 && a.dense_drop[0] == 0.5f && a.dense_drop[1] == 0.3f &&
		  a.dense_drop[2] == 0.0f && a.layers[6].n_params == 0 &&
		  a.layers[6].out.c == 16 && a.layers[8].out.c == 12,
	      "each hidden dense layer gets its rate; dropout has no parameters, its shape is "
	      "its input's");
	REQUIRE(fcl_model_init(&m, &a, 3) == 0, "the model initialises");
	check_every_parameter(&m, 9);
	size_t dropped = 0, reached = 0;
	for (uint32_t l = 0; l < 2; l++)
		for (size_t k = 0; k < 3 * a.sizes[l + 1]; k++)
			dropped += m.dmask[l][k] == 0.0f;
	for (uint32_t i = 0; i < 2; i++) /* the conv, the first dense layer: behind both masks */
		for (size_t k = 0; k < a.layers[i ? 4 : 0].n_params; k++)
			reached += m.grads[a.layers[i ? 4 : 0].w_off + k] != 0.0f;
	CHECK(m.dmasked[0] && m.dmasked[1] && dropped > 0 && dropped < 84 && reached > 100,
	      "... with both dense masks on (%zu of 84 values dropped) and gradients through "
	      "them (%zu nonzero in the conv and the first dense layer)",
	      dropped, reached);
	fcl_mlp_fini(&m);
}

/* Residual blocks in a list: identity and projection shortcuts, with other layers. */
static void test_residual_list(void)
{
	struct fcl_layer_spec l[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1, .padding = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 3, .kernel = 3, .stride = 1, .padding = 1},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 4, .kernel = 3, .stride = 2, .padding = 1},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 5, .kernel = 3, .stride = 1, .padding = 1},
	    {.kind = FCL_LAYER_AVGPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	struct fcl_arch a;
	struct fcl_mlp m;
	char err[256] = "";

	REQUIRE(fcl_arch_compile(&a, l, sizeof l / sizeof *l, (struct fcl_input_shape){2, 7, 7}, 3,
				 NULL, err, sizeof err) == 0,
		"a list with residual blocks compiles (%s)", err);
	CHECK(a.layers[3].out.h == 4 && a.layers[4].out.c == 5 && a.sizes[0] == 5 * 2 * 2 &&
		  a.layers[2].n_params == 2 * 3 * 3 * 9 && a.layers[3].n_params == 4 * 3 * 9 +
		  4 * 4 * 9 + 4 * 3 && a.layers[4].n_params == 5 * 4 * 9 + 5 * 5 * 9 + 5 * 4,
	      "residual shapes and weights: 7x7 to 4x4 at stride 2, a 1x1 shortcut when the "
	      "stride or the channels change (%zu, %zu, %zu)",
	      a.layers[2].n_params, a.layers[3].n_params, a.layers[4].n_params);
	REQUIRE(fcl_model_init(&m, &a, 3) == 0, "the model initialises");
	check_every_parameter(&m, 17);
	fcl_mlp_fini(&m);
	struct fcl_layer_spec bad[] = {
	    {.kind = FCL_LAYER_RESIDUAL, .units = 4, .kernel = 5, .stride = 1, .padding = 1,
	     .line = 3, .col = 5},
	    {.kind = FCL_LAYER_GAP},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	CHECK(fcl_arch_compile(&a, bad, 3, (struct fcl_input_shape){1, 8, 8}, 3, "s.yaml", err,
			       sizeof err) == -EINVAL &&
		  strstr(err, "s.yaml:3:5: model.layers[0]: residual needs"),
	      "a residual block with another kernel is refused: %s", err);
}

/* The mlp preset is the MLP of model.hidden: same offsets and same draws. */
static void test_mlp_same(void)
{
	const uint32_t sizes[] = {20, 12, 8, 5};
	struct fcl_mlp a, b;
	struct fcl_rng r1, r2;
	REQUIRE(fcl_mlp_init(&a, 3, sizes, 4) == 0, "MLP");
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	struct fcl_arch arch;
	char err[128];
	int n = fcl_preset_layers(FCL_PRESET_MLP, sizes + 1, 2, l, FCL_ARCH_MAX_LAYERS);
	REQUIRE(fcl_arch_compile(&arch, l, (uint32_t)n, (struct fcl_input_shape){1, 4, 5}, 5, NULL,
				 err, sizeof err) == 0 &&
		    fcl_model_init(&b, &arch, 4) == 0,
		"mlp preset on 1x4x5");
	fcl_rng_init(&r1, 3, FCL_RNG_TEST, 0, 0);
	fcl_rng_init(&r2, 3, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&a, &r1);
	fcl_mlp_init_params(&b, &r2);
	CHECK(a.n_params == b.n_params &&
		  !memcmp(a.params, b.params, a.n_params * sizeof(float)) &&
		  !memcmp(a.w_offset, b.w_offset, sizeof a.w_offset),
	      "the mlp preset has the MLP's layout and initial parameters");
	fcl_mlp_fini(&a);
	fcl_mlp_fini(&b);
}

static void expect_bad(const struct fcl_layer_spec *l, uint32_t n, struct fcl_input_shape in,
		       const char *want, const char *what)
{
	struct fcl_arch a;
	char err[256] = "";
	int rc = fcl_arch_compile(&a, l, n, in, 10, "s.yaml", err, sizeof err);
	CHECK(rc == -EINVAL && strstr(err, want), "%s: %s", what, err);
}

static void test_bad_lists(void)
{
	struct fcl_input_shape img = {1, 28, 28};
	struct fcl_layer_spec no_flat[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 4, .kernel = 3, .stride = 1, .line = 3, .col = 5},
	    {.kind = FCL_LAYER_DENSE, .bias = 1, .line = 4, .col = 5},
	};
	expect_bad(no_flat, 2, img, "s.yaml:4:5: model.layers[1]: dense needs a flat input",
		   "dense on a map without flatten");
	struct fcl_layer_spec big[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 4, .kernel = 30, .stride = 1, .line = 3, .col = 5},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(big, 3, img, "kernel 30 is larger than its 28x28 input", "a kernel too large");
	struct fcl_layer_spec headless[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	};
	expect_bad(headless, 2, img, "relu and dropout come only between", "relu after the head");
	struct fcl_layer_spec drop_last[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
	};
	expect_bad(drop_last, 2, img, "relu and dropout come only between", "dropout after the head");
	struct fcl_layer_spec two_drops[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(two_drops, 5, img, "at most one of each", "two dropouts on one hidden layer");
	struct fcl_layer_spec no_relu[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(no_relu, 3, img, "need relu between", "dropout without relu between dense layers");
	struct fcl_layer_spec rate[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 1.0f},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(rate, 4, img, "dropout needs 0 <= rate < 1", "dense dropout at rate 1");
	struct fcl_layer_spec units[] = {{.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1}};
	expect_bad(units, 1, img, "leave units out", "units on the head");
	struct fcl_layer_spec conv_after[] = {
	    {.kind = FCL_LAYER_DENSE, .units = 5, .bias = 1},
	    {.kind = FCL_LAYER_CONV2D, .units = 4, .kernel = 1, .stride = 1},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(conv_after, 3, img, "only dense, relu and dropout may follow",
		   "conv2d after the first dense layer");
	struct fcl_layer_spec pool[] = {
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .bias = 1},
	};
	expect_bad(pool, 7, img, "model layer 4 (maxpool): kernel 2 is larger than its 1x1 input",
		   "pooling down to nothing");
}

/* Counts of the presets on their data (docs/models.md quotes them). */
static void test_counts(void)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	struct fcl_arch a;
	char err[128];
	int n = fcl_preset_layers(FCL_PRESET_ALEXNET_FOT, NULL, 0, l, FCL_ARCH_MAX_LAYERS);
	REQUIRE(fcl_arch_compile(&a, l, (uint32_t)n, (struct fcl_input_shape){3, 32, 32}, 100, NULL,
				 err, sizeof err) == 0,
		"alexnet-fot on 3x32x32, 100 classes");
	/* FOT's 6,704,128 with a 100-way head: conv 207,872 + fc 6,291,456 + 2048*100, plus
	 * the 4096 held-at-0 bias slots of the two fc layers and the head's 100 biases */
	CHECK(a.n_params == 207872 + 6291456 + 204800 + 4096 + 100 && a.sizes[0] == 1024,
	      "alexnet-fot has FOT's parameters (%zu, 1024 features after the convs: %u)",
	      a.n_params, a.sizes[0]);
	n = fcl_preset_layers(FCL_PRESET_CNN, NULL, 0, l, FCL_ARCH_MAX_LAYERS);
	REQUIRE(fcl_arch_compile(&a, l, (uint32_t)n, (struct fcl_input_shape){1, 28, 28}, 10, NULL,
				 err, sizeof err) == 0,
		"cnn on 1x28x28");
	CHECK(a.n_params == 416 + 12832 + 200832 + 1290 && a.sizes[0] == 1568,
	      "cnn: %zu parameters, %u features", a.n_params, a.sizes[0]);
	n = fcl_preset_layers(FCL_PRESET_RESNET18_REDUCED, NULL, 0, l, FCL_ARCH_MAX_LAYERS);
	REQUIRE(fcl_arch_compile(&a, l, (uint32_t)n, (struct fcl_input_shape){3, 32, 32}, 100, NULL,
				 err, sizeof err) == 0,
		"resnet18-reduced on 3x32x32, 100 classes");
	/* FOT's 5-Datasets ResNet: 1,122,140 parameters with 5 heads of 640 x 10, so
	 * 1,090,140 in the convolutions; here one 100-way head with its bias. The
	 * reference's 54.6 M multiply-adds of the convolutions, plus the head's. */
	CHECK(a.n_params == 1090140 + 64000 + 100 && a.sizes[0] == 640 &&
		  a.macs == 54620160 + 64000,
	      "resnet18-reduced: %zu parameters, %u features, %llu multiply-adds", a.n_params,
	      a.sizes[0], (unsigned long long)a.macs);
	n = fcl_preset_layers(FCL_PRESET_RESNET18_REDUCED_BN, NULL, 0, l, FCL_ARCH_MAX_LAYERS);
	REQUIRE(fcl_arch_compile(&a, l, (uint32_t)n, (struct fcl_input_shape){3, 32, 32}, 100, NULL,
				 err, sizeof err) == 0,
		"resnet18-reduced-bn on 3x32x32, 100 classes");
	/* a gamma and a beta per channel of every BatchNorm: the stem's 20, two per
	 * identity block, three per projecting one (20, 40, 80, 160 channels):
	 * 40 + 2 * 80 + 240 + 160 + 480 + 320 + 960 + 640 = 3,000, and as many
	 * running statistics; their scalings 2 per value, 384,000 */
	CHECK(a.n_trained == 1154240 + 3000 && a.n_params == a.n_trained + 3000 &&
		  a.macs == 54620160 + 64000 + 384000,
	      "resnet18-reduced-bn: %zu trained parameters, %zu statistics, %llu multiply-adds",
	      a.n_trained, a.n_params - a.n_trained, (unsigned long long)a.macs);
}

int main(void)
{
	test_im2col_order();
	test_conv(2, 6, 3, 3, 1, 0, 1);
	test_conv(3, 7, 4, 3, 2, 1, 0);
	test_conv(2, 5, 3, 5, 1, 2, 1);
	test_conv(4, 5, 3, 1, 1, 0, 1);
	test_conv(4, 6, 3, 1, 2, 0, 0);
	test_pool(0, 2, 2);
	test_pool(0, 3, 2);
	test_pool(1, 2, 2);
	test_pool(1, 3, 1);
	test_pool(2, 0, 1);
	test_residual(3, 6, 3, 1, 0);
	test_residual(2, 5, 4, 1, 0);
	test_residual(3, 7, 3, 2, 0);
	test_residual(2, 6, 4, 2, 0);
	test_residual(3, 6, 3, 1, 1);
	test_residual(2, 5, 4, 1, 1);
	test_residual(3, 7, 3, 2, 1);
	test_all_layers();
	test_residual_list();
	test_dense_dropout();
	test_mlp_same();
	test_bad_lists();
	test_counts();
	test_preset(FCL_PRESET_MLP, (struct fcl_input_shape){1, 3, 5}, 4, 3, 1000, 0);
	test_preset(FCL_PRESET_CNN, (struct fcl_input_shape){1, 12, 12}, 3, 2, 60, 0);
	test_preset(FCL_PRESET_ALEXNET_FOT, (struct fcl_input_shape){3, 22, 22}, 3, 2, 25, 0);
	test_preset(FCL_PRESET_RESNET18_REDUCED, (struct fcl_input_shape){3, 12, 12}, 3, 2, 12, 0);
	test_preset(FCL_PRESET_RESNET18_REDUCED_BN, (struct fcl_input_shape){3, 12, 12}, 3, 8, 12,
		    1);
	return tap_done();
}
