/* tests/test_norm.c - dropout, GroupNorm and BatchNorm (issue 11): each layer
 * against central finite differences (the worst relative error is printed),
 * training and evaluation modes (dropout between dense layers too), a whole
 * network with all three, and model.batchnorm's federated policies: fedavg
 * averages the running statistics like parameters, local (FedBN) keeps them
 * with each logical client across rounds and checkpoints, and FOT never
 * projects a norm's values; the same for the BatchNorms inside residual
 * blocks. */
#include "fcl/arch.h"
#include "fcl/data.h"
#include "fcl/export.h"
#include "fcl/model.h"
#include "fcl/norm.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/strategy.h"
#include "gradcheck.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- one layer ------------------------------------------------------------ */

enum { DROP, GN, BN };

struct norm_case {
	int kind;
	size_t B, C, hw, groups;
	float *x, *gamma, *beta, *y, *gy, *xhat, *rstd, *mask, *rm, *rv;
};

static double norm_loss(void *ctx)
{
	struct norm_case *c = ctx;
	size_t n = c->B * c->C * c->hw;
	if (c->kind == DROP)
		fcl_dropout_apply(c->y, c->x, c->mask, n);
	else if (c->kind == GN)
		fcl_groupnorm_forward(c->y, c->xhat, c->rstd, c->x, c->gamma, c->beta, c->B, c->C,
				      c->hw, c->groups);
	else
		fcl_batchnorm_forward(c->y, c->xhat, c->rstd, c->x, c->gamma, c->beta, c->rm, c->rv,
				      c->B, c->C, c->hw, 1);
	return probe(c->y, c->gy, n);
}

static const char *const kind_name[] = {"dropout", "groupnorm", "batchnorm"};

/* The layer's backward against central differences of x, gamma and beta (the
 * mask fixed for dropout); returns the worst relative error. */
static double check_norm(int kind, size_t B, size_t C, size_t hw, size_t groups)
{
	struct norm_case c = {.kind = kind, .B = B, .C = C, .hw = hw, .groups = groups};
	struct fcl_rng r;
	size_t n = B * C * hw;
	c.x = calloc(n, sizeof(float));
	c.y = calloc(n, sizeof(float));
	c.gy = calloc(n, sizeof(float));
	c.xhat = calloc(n, sizeof(float));
	c.mask = calloc(n, sizeof(float));
	c.rstd = calloc(B * C, sizeof(float));
	c.gamma = calloc(C, sizeof(float));
	c.beta = calloc(C, sizeof(float));
	c.rm = calloc(C, sizeof(float));
	c.rv = calloc(C, sizeof(float));
	float *dx = calloc(n, sizeof(float)), *dg = calloc(C, sizeof(float)),
	      *db = calloc(C, sizeof(float));
	fcl_rng_init(&r, 11, FCL_RNG_TEST, (uint32_t)kind, (uint32_t)(C * 100 + hw));
	fill(c.x, n, &r, 1);
	for (size_t k = 0; k < n; k++) /* away from zero mean: a shift the norms remove */
		c.x[k] += 0.5f;
	fill(c.gamma, C, &r, 0.5f);
	for (size_t k = 0; k < C; k++)
		c.gamma[k] += 1.0f;
	fill(c.beta, C, &r, 0.5f);
	fill(c.gy, n, &r, 1);
	fcl_dropout_mask(c.mask, n, 0.3f, &r);
	norm_loss(&c);
	if (kind == DROP)
		fcl_dropout_apply(dx, c.gy, c.mask, n);
	else if (kind == GN)
		fcl_groupnorm_backward(dx, dg, db, c.gy, c.xhat, c.rstd, c.gamma, B, C, hw, groups);
	else
		fcl_batchnorm_backward(dx, dg, db, c.gy, c.xhat, c.rstd, c.gamma, B, C, hw);
	double worst = fd_worst(c.x, dx, n, norm_loss, &c, 1e-2f);
	if (kind != DROP) {
		worst = fmax(worst, fd_worst(c.gamma, dg, C, norm_loss, &c, 1e-2f));
		worst = fmax(worst, fd_worst(c.beta, db, C, norm_loss, &c, 1e-2f));
	}
	free(c.x), free(c.y), free(c.gy), free(c.xhat), free(c.mask), free(c.rstd);
	free(c.gamma), free(c.beta), free(c.rm), free(c.rv), free(dx), free(dg), free(db);
	return worst;
}

static void test_gradients(void)
{
	double worst[3] = {0, 0, 0};
	static const size_t shapes[][4] = {/* B, C, hw, groups */
					   {3, 4, 9, 2},
					   {2, 6, 4, 3},
					   {4, 4, 1, 4},
					   {2, 3, 16, 1}};
	for (int kind = DROP; kind <= BN; kind++) {
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			const size_t *p = shapes[s];
			double w = check_norm(kind, p[0], p[1], p[2], p[3]);
			worst[kind] = fmax(worst[kind], w);
			CHECK(w < 1e-2,
			      "%s B %zu C %zu hw %zu%s: backward matches finite "
			      "differences (worst relative error %.2e)",
			      kind_name[kind], p[0], p[1], p[2], kind == GN ? " (groups)" : "", w);
		}
		NOTE("gradient check, %s: max relative error %.2e", kind_name[kind], worst[kind]);
	}
}

/* ---- modes ------------------------------------------------------------------ */

static void test_modes(void)
{
	enum { B = 4, C = 2, HW = 3 };
	float x[B * C * HW], y[B * C * HW], xh[B * C * HW], rstd[C], rm[C] = {0, 0}, rv[C] = {1, 1};
	float g[C] = {1, 1}, b[C] = {0, 0};
	struct fcl_rng r;
	fcl_rng_init(&r, 3, FCL_RNG_TEST, 0, 0);
	fill(x, B * C * HW, &r, 2);
	for (size_t k = 0; k < B * C * HW; k++)
		x[k] += 3.0f;
	/* the batch statistics of channel 0 */
	double s = 0, ss = 0;
	for (size_t i = 0; i < B; i++)
		for (size_t k = 0; k < HW; k++)
			s += x[i * C * HW + k];
	double mean = s / (B * HW);
	for (size_t i = 0; i < B; i++)
		for (size_t k = 0; k < HW; k++)
			ss += pow(x[i * C * HW + k] - mean, 2);
	fcl_batchnorm_forward(y, xh, rstd, x, g, b, rm, rv, B, C, HW, 1);
	CHECK(fabs(rm[0] - 0.1 * mean) < 1e-5 &&
		  fabs(rv[0] - (0.9 + 0.1 * ss / (B * HW - 1))) < 1e-5,
	      "batchnorm in training moves the running statistics by momentum 0.1 towards the "
	      "batch mean and unbiased variance (%.4f %.4f)",
	      rm[0], rv[0]);
	double ym = 0;
	for (size_t i = 0; i < B; i++)
		for (size_t k = 0; k < HW; k++)
			ym += y[i * C * HW + k];
	CHECK(fabs(ym) < 1e-4, "... and normalises with the batch statistics (mean %.2e)", ym);
	float rm1 = rm[0], rv1 = rv[0];
	fcl_batchnorm_forward(y, xh, rstd, x, g, b, rm, rv, B, C, HW, 0);
	CHECK(rm[0] == rm1 && rv[0] == rv1 &&
		  fabsf(y[0] - (x[0] - rm1) / sqrtf(rv1 + FCL_NORM_EPS)) < 1e-5f,
	      "in evaluation it normalises with the running statistics and leaves them alone");

	/* dropout: eval is the identity; training masks come from (seed, client, round, step) */
	struct fcl_arch a;
	struct fcl_mlp m;
	char err[256];
	struct fcl_layer_spec l[] = {{.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
				     {.kind = FCL_LAYER_FLATTEN},
				     {.kind = FCL_LAYER_DENSE, .bias = 1}};
	REQUIRE(fcl_arch_compile(&a, l, 3, (struct fcl_input_shape){2, 4, 4}, 3, NULL, err,
				 sizeof err) == 0 &&
		    fcl_model_init(&m, &a, 8) == 0,
		"a dropout model: %s", err);
	float in[8 * 32], o1[8 * 32], o2[8 * 32];
	fill(in, 8 * 32, &r, 1);
	fcl_model_body_forward(&m, in, 8);
	CHECK(memcmp(m.acts[0], in, sizeof in) == 0, "dropout in evaluation mode is the identity");
	fcl_model_set_train(&m, 1, 5, 2, 7, 3);
	fcl_model_body_forward(&m, in, 8);
	memcpy(o1, m.acts[0], sizeof o1);
	size_t zeros = 0, scaled = 0;
	for (size_t k = 0; k < 8 * 32; k++) {
		zeros += o1[k] == 0.0f;
		scaled += o1[k] == in[k] * 2.0f;
	}
	CHECK(zeros + scaled == 8 * 32 && zeros > 80 && zeros < 176,
	      "inverted dropout at 0.5: %zu of 256 zeroed, the rest doubled", zeros);
	fcl_model_set_train(&m, 1, 5, 2, 7, 3);
	fcl_model_body_forward(&m, in, 8);
	CHECK(memcmp(o1, m.acts[0], sizeof o1) == 0, "the same (seed, client, round, step) draws "
						     "the same mask");
	fcl_model_set_train(&m, 1, 5, 2, 7, 4);
	fcl_model_body_forward(&m, in, 8);
	memcpy(o2, m.acts[0], sizeof o2);
	CHECK(memcmp(o1, o2, sizeof o1) != 0, "the next step draws another");
	fcl_model_set_train(&m, 0, 0, 0, 0, 0);
	fcl_mlp_fini(&m);
}

/* ---- dropout between dense layers ------------------------------------------ */

/* The logits of m on x (B rows) after setting its mode. */
static void logits(struct fcl_mlp *m, int train, uint64_t step, const float *x, size_t B,
		   float *out)
{
	fcl_model_set_train(m, train, 5, 2, 7, step);
	memcpy(out, fcl_mlp_forward(m, x, B), B * m->sizes[m->n_layers] * sizeof(float));
}

/* Same (seed, client, round, step): the same masks; evaluation mode: the
 * model without its dropout layers, to the bit. */
static void test_dense_modes(void)
{
	enum { B = 8, IN = 10, C = 3 };
	struct fcl_layer_spec l[] = {{.kind = FCL_LAYER_DENSE, .units = 32, .bias = 1},
				     {.kind = FCL_LAYER_RELU},
				     {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
				     {.kind = FCL_LAYER_DENSE, .units = 16, .bias = 1},
				     {.kind = FCL_LAYER_DROPOUT, .rate = 0.5f},
				     {.kind = FCL_LAYER_RELU},
				     {.kind = FCL_LAYER_DENSE, .bias = 1}};
	struct fcl_layer_spec plain[] = {l[0], l[1], l[3], l[5], l[6]};
	struct fcl_arch a, ap;
	struct fcl_mlp m, mp;
	struct fcl_rng r;
	char err[256] = "";
	REQUIRE(fcl_arch_compile(&a, l, 7, (struct fcl_input_shape){1, 1, IN}, C, NULL, err,
				 sizeof err) == 0 &&
		    fcl_arch_compile(&ap, plain, 5, (struct fcl_input_shape){1, 1, IN}, C, NULL,
				     err, sizeof err) == 0 &&
		    fcl_model_init(&m, &a, B) == 0 && fcl_model_init(&mp, &ap, B) == 0,
		"an MLP with dropout after each hidden layer, and without: %s", err);
	CHECK(a.n_params == ap.n_params, "dropout adds no parameters (%zu)", a.n_params);
	fcl_rng_init(&r, 8, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &r);
	memcpy(mp.params, m.params, m.n_params * sizeof(float));
	float x[B * IN], e1[B * C], e2[B * C], t1[B * C], t2[B * C], t3[B * C];
	fill(x, B * IN, &r, 1);
	logits(&m, 0, 0, x, B, e1);
	logits(&mp, 0, 0, x, B, e2);
	CHECK(memcmp(e1, e2, sizeof e1) == 0,
	      "evaluation mode ignores dropout: the logits of the model without it, to the bit");
	logits(&m, 1, 3, x, B, t1);
	logits(&m, 1, 3, x, B, t2);
	logits(&m, 1, 4, x, B, t3);
	CHECK(memcmp(t1, t2, sizeof t1) == 0 && memcmp(t1, e1, sizeof t1) != 0,
	      "training: the same (seed, client, round, step) draws the same masks, and they "
	      "drop");
	CHECK(memcmp(t1, t3, sizeof t1) != 0, "the next step draws others");
	logits(&mp, 1, 3, x, B, t3);
	CHECK(memcmp(t3, e2, sizeof t3) == 0,
	      "a model without dropout gives its evaluation logits in training mode too");
	fcl_mlp_fini(&m);
	fcl_mlp_fini(&mp);
}

/* ---- compile -------------------------------------------------------------- */

static void test_compile(void)
{
	struct fcl_arch a;
	char err[256];
	struct fcl_layer_spec l[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 6, .kernel = 3, .stride = 1},
	    {.kind = FCL_LAYER_GROUPNORM, .groups = 4},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .bias = 1}};
	CHECK(fcl_arch_compile(&a, l, 4, (struct fcl_input_shape){1, 5, 5}, 3, NULL, err,
			       sizeof err) == -EINVAL &&
		  strstr(err, "groups 4 must divide its 6 channels"),
	      "groupnorm whose groups do not divide the channels is refused: %s", err);
	l[1].groups = 3;
	l[1].kind = FCL_LAYER_BATCHNORM;
	struct fcl_layer_spec l2[] = {
	    l[0], l[1], {.kind = FCL_LAYER_FLATTEN}, {.kind = FCL_LAYER_BATCHNORM}, l[3]};
	REQUIRE(fcl_arch_compile(&a, l2, 5, (struct fcl_input_shape){1, 5, 5}, 3, NULL, err,
				 sizeof err) == 0,
		"conv, batchnorm, flatten, batchnorm (flat features), dense: %s", err);
	size_t conv = 6 * 9 /* no bias */, dense = 54 * 3 + 3;
	CHECK(a.n_trained == conv + 12 + 108 + dense && a.n_params == a.n_trained + 12 + 108,
	      "gamma and beta are trained parameters (%zu); the running statistics (%zu) sit after "
	      "them",
	      a.n_trained, a.n_params - a.n_trained);
	CHECK(a.layers[1].s_off == a.n_trained && a.layers[3].s_off == a.n_trained + 12 &&
		  a.layers[3].w_off == conv + 12 && a.layers[4].w_off == conv + 12 + 108,
	      "layout: conv, bn gamma/beta, bn gamma/beta, dense, then each bn's statistics");
	struct fcl_layer_spec l3[] = {{.kind = FCL_LAYER_DENSE, .units = 4, .bias = 1},
				      {.kind = FCL_LAYER_RELU},
				      {.kind = FCL_LAYER_DROPOUT, .rate = 0.2f},
				      {.kind = FCL_LAYER_DENSE, .bias = 1}};
	err[0] = '\0';
	CHECK(fcl_arch_compile(&a, l3, 4, (struct fcl_input_shape){1, 1, 8}, 3, NULL, err,
			       sizeof err) == 0 &&
		  a.dense_drop[0] == 0.2f && a.n_params == 8 * 4 + 4 + 4 * 3 + 3,
	      "dropout between two dense layers compiles, without parameters: %s", err);
	l3[1].kind = FCL_LAYER_DROPOUT;
	l3[2].kind = FCL_LAYER_DROPOUT;
	CHECK(fcl_arch_compile(&a, l3, 4, (struct fcl_input_shape){1, 1, 8}, 3, NULL, err,
			       sizeof err) == -EINVAL &&
		  strstr(err, "at most one of each"),
	      "two dropouts after one dense layer are refused: %s", err);
	struct fcl_layer_spec l4[] = {{.kind = FCL_LAYER_DROPOUT, .rate = 1.0f},
				      {.kind = FCL_LAYER_DENSE, .bias = 1}};
	CHECK(fcl_arch_compile(&a, l4, 2, (struct fcl_input_shape){1, 1, 8}, 3, NULL, err,
			       sizeof err) == -EINVAL &&
		  strstr(err, "rate"),
	      "dropout rate 1 is refused: %s", err);
}

/* ---- a whole network ---------------------------------------------------------- */

/* conv, batchnorm, groupnorm, dropout, flatten, batchnorm, dense: no kinks. */
static const struct fcl_layer_spec net[] = {
    {.kind = FCL_LAYER_CONV2D, .units = 4, .kernel = 3, .stride = 1, .padding = 1},
    {.kind = FCL_LAYER_BATCHNORM},
    {.kind = FCL_LAYER_GROUPNORM, .groups = 2},
    {.kind = FCL_LAYER_DROPOUT, .rate = 0.25f},
    {.kind = FCL_LAYER_AVGPOOL, .kernel = 2, .stride = 2},
    {.kind = FCL_LAYER_FLATTEN},
    {.kind = FCL_LAYER_BATCHNORM},
    {.kind = FCL_LAYER_DENSE, .bias = 1},
};
#define NET_LAYERS (sizeof net / sizeof *net)

struct net_case {
	struct fcl_mlp *m;
	const float *x;
	const int32_t *y;
	size_t B;
};

static double net_loss(void *ctx)
{
	struct net_case *c = ctx;
	fcl_model_set_train(c->m, 1, 1, 2, 3, 4); /* the same masks every time */
	fcl_mlp_forward(c->m, c->x, c->B);
	return fcl_mlp_loss(c->m, c->y, c->B);
}

static void test_network(void)
{
	struct fcl_arch a;
	struct fcl_mlp m;
	struct fcl_rng r;
	char err[256];
	enum { B = 6 };
	REQUIRE(fcl_arch_compile(&a, net, NET_LAYERS, (struct fcl_input_shape){2, 4, 4}, 3, NULL,
				 err, sizeof err) == 0 &&
		    fcl_model_init(&m, &a, B) == 0,
		"the norm network compiles: %s", err);
	float x[B * 32];
	int32_t y[B];
	fcl_rng_init(&r, 21, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &r);
	/* gamma and beta away from 1 and 0, so that their gradients matter */
	for (uint32_t i = 0; i < a.n_body; i++) {
		enum fcl_layer_kind k = a.layers[i].s.kind;
		if (k != FCL_LAYER_GROUPNORM && k != FCL_LAYER_BATCHNORM)
			continue;
		for (size_t j = 0; j < a.layers[i].n_params; j++)
			m.params[a.layers[i].w_off + j] += 0.3f * fcl_rng_normal(&r);
	}
	fill(x, B * 32, &r, 1);
	for (size_t i = 0; i < B; i++)
		y[i] = (int32_t)(i % 3);
	struct net_case c = {&m, x, y, B};
	fcl_mlp_zero_grad(&m);
	net_loss(&c);
	fcl_mlp_backward(&m, y, B);
	float *g = malloc(m.n_params * sizeof(float));
	memcpy(g, m.grads, m.n_params * sizeof(float));
	double worst = fd_worst(m.params, g, m.n_trained, net_loss, &c, 3e-3f);
	CHECK(worst < 1e-2,
	      "conv-batchnorm-groupnorm-dropout-pool-batchnorm-dense: every trained "
	      "parameter's gradient matches finite differences (worst %.2e)",
	      worst);
	NOTE("gradient check, whole network with all three: max relative error %.2e", worst);
	int zero = 1;
	for (size_t k = m.n_trained; k < m.n_params; k++)
		zero &= g[k] == 0.0f;
	CHECK(zero, "the running statistics get no gradient");
	free(g);
	fcl_mlp_fini(&m);
}

/* ---- federated policies ---------------------------------------------------------- */

static const struct fcl_layer_spec bnnet[] = {
    {.kind = FCL_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1, .padding = 1, .bias = 1},
    {.kind = FCL_LAYER_BATCHNORM},
    {.kind = FCL_LAYER_RELU},
    {.kind = FCL_LAYER_FLATTEN},
    {.kind = FCL_LAYER_BATCHNORM},
    {.kind = FCL_LAYER_DENSE, .units = 8, .bias = 1},
    {.kind = FCL_LAYER_RELU},
    {.kind = FCL_LAYER_DENSE, .bias = 1},
};
#define BNNET_LAYERS (sizeof bnnet / sizeof *bnnet)

struct fed {
	struct fcl_dataset ds;
	struct fcl_arch a;
	struct fcl_mlp m;
	struct fcl_sgd opt;
	struct fcl_loop_config loop;
	struct fcl_strategy_config cfg;
	float *global;
};

static int fed_init_list(struct fed *f, int local, const struct fcl_layer_spec *l, uint32_t n);

static int fed_init(struct fed *f, int local)
{
	return fed_init_list(f, local, bnnet, BNNET_LAYERS);
}

/* A federation of the list l on 1x4x4 synthetic samples of 4 classes. */
static int fed_init_list(struct fed *f, int local, const struct fcl_layer_spec *l, uint32_t n)
{
	char err[256];
	struct fcl_rng r;
	memset(f, 0, sizeof *f);
	f->loop = (struct fcl_loop_config){
	    .epochs = 1, .batch_size = 10, .head_bias = 1, .bn_local = local};
	fcl_strategy_config_defaults(&f->cfg);
	if (fcl_dataset_synthetic(&f->ds, 400, 16, 4, 5, 0) ||
	    fcl_arch_compile(&f->a, l, n, (struct fcl_input_shape){1, 4, 4}, 4, NULL, err,
			     sizeof err) ||
	    fcl_model_init(&f->m, &f->a, fcl_loop_max_batch(&f->loop)))
		return -1;
	fcl_rng_init(&r, 9, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&f->m, &r);
	fcl_sgd_init(&f->opt, 0.1f, 0.0f, 0.0f);
	f->global = malloc(f->m.n_params * sizeof(float));
	if (!f->global)
		return -1;
	memcpy(f->global, f->m.params, f->m.n_params * sizeof(float));
	return 0;
}

static void fed_fini(struct fed *f)
{
	free(f->global);
	fcl_sgd_fini(&f->opt);
	fcl_mlp_fini(&f->m);
	fcl_dataset_fini(&f->ds);
}

/* Client k's round from the global model: 60 samples of classes 2k, 2k + 1
 * (shifted inputs for client 1, so that the two see different statistics);
 * its parameters after it land in out. */
static int client_round(struct fed *f, struct fcl_strategy *s, uint32_t k, uint32_t round,
			float *out)
{
	uint32_t idx[60];
	size_t n = 0;
	float loss;
	for (uint32_t i = 0; i < f->ds.n && n < 60; i++)
		if (f->ds.y[i] / 2 == k)
			idx[n++] = i;
	struct fcl_train_round tr = {
	    .ds = &f->ds, .task = 0, .idx = idx, .n = n, .epochs = 1, .round = round};
	memcpy(f->m.params, f->global, f->m.n_params * sizeof(float));
	int rc = fcl_strategy_train(s, &f->m, &f->opt, &tr, &loss);
	memcpy(out, f->m.params, f->m.n_params * sizeof(float));
	return rc;
}

/* One FedAvg round of clients 0 and 1 (60 samples each): global moves. */
static int fed_round(struct fed *f, struct fcl_strategy **s, uint32_t round, float *after[2])
{
	char text[256], err[256];
	struct fcl_scenario sc;
	struct fcl_agg *agg = NULL;
	struct fcl_agg_update u[2];
	size_t np = f->m.n_params;
	float *d = malloc(2 * np * sizeof(float));
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 2, per_round: 2}\n"
		 "tasks: {generator: single}\naggregation: {rule: fedavg}\n");
	int rc = !d || fcl_scenario_parse(&sc, text, strlen(text), "<test>", err, sizeof err) ||
		 fcl_agg_create(&sc, &f->m, NULL, &agg);
	for (uint32_t k = 0; k < 2 && !rc; k++) {
		rc = client_round(f, s[k], k, round, after[k]);
		for (size_t i = 0; i < np; i++)
			d[k * np + i] = after[k][i] - f->global[i];
		u[k] = (struct fcl_agg_update){.client_id = k,
					       .slot = k,
					       .n_samples = 60,
					       .local_steps = 6,
					       .delta = d + k * np};
	}
	rc = rc ? rc : fcl_agg_step(agg, u, 2, f->global);
	fcl_agg_destroy(agg);
	free(d);
	return rc;
}

/* The batchnorm values (layers and blocks): gamma/beta (trained) and statistics (not). */
static int bn_coord(const struct fcl_arch *a, size_t k, int *stat)
{
	for (uint32_t i = 0; i < a->n_body; i++) {
		const struct fcl_layer *L = &a->layers[i];
		size_t off, len;
		if (!fcl_layer_bn_params(L, &off, &len))
			continue;
		if (k >= off && k < off + len) {
			*stat = 0;
			return 1;
		}
		if (k >= L->s_off && k < L->s_off + L->n_stats) {
			*stat = 1;
			return 1;
		}
	}
	return 0;
}

static void test_policies(void)
{
	struct fed fa, fl;
	struct fcl_strategy *sa[2] = {NULL, NULL}, *sl[2] = {NULL, NULL};
	REQUIRE(fed_init(&fa, 0) == 0 && fed_init(&fl, 1) == 0, "two federations");
	size_t np = fa.m.n_params;
	float *buf = malloc(4 * np * sizeof(float)), *init = malloc(np * sizeof(float));
	float *pa[2] = {buf, buf + np}, *pl[2] = {buf + 2 * np, buf + 3 * np};
	REQUIRE(buf && init, "memory");
	memcpy(init, fa.global, np * sizeof(float));
	for (uint32_t k = 0; k < 2; k++)
		REQUIRE(fcl_strategy_create_arch(&fa.cfg, &fa.loop, &fa.a, 5, k, &sa[k]) == 0 &&
			    fcl_strategy_create_arch(&fl.cfg, &fl.loop, &fl.a, 5, k, &sl[k]) == 0,
			"client %u's strategies", k);
	REQUIRE(fed_round(&fa, sa, 0, pa) == 0 && fed_round(&fl, sl, 0, pl) == 0,
		"a round under each policy");

	/* fedavg: gamma, beta and the statistics are averaged like every parameter */
	double worst = 0;
	int differ = 0, stat;
	for (size_t k = 0; k < np; k++)
		if (bn_coord(&fa.a, k, &stat) && stat) {
			worst =
			    fmax(worst, fabs(fa.global[k] - 0.5 * ((double)pa[0][k] + pa[1][k])));
			differ |= pa[0][k] != pa[1][k];
		}
	CHECK(differ && worst < 1e-5,
	      "fedavg: the global running statistics are the weighted mean of the clients' "
	      "(which differ; worst %.2e)",
	      worst);
	/* local: the global model keeps its own, each client its own */
	int kept = 1, moved = 0;
	for (size_t k = 0; k < np; k++) {
		if (bn_coord(&fl.a, k, &stat))
			kept &= fl.global[k] == init[k];
		else
			moved |= fl.global[k] != init[k];
	}
	CHECK(kept && moved, "local: the global model's gamma, beta and statistics are its own "
			     "(unchanged), while the rest of it moved");
	size_t n0, n1;
	const float *b0 = fcl_strategy_bn_state(sl[0], &n0),
		    *b1 = fcl_strategy_bn_state(sl[1], &n1);
	CHECK(b0 && b1 && n0 == n1 && n0 == 2 * (6 + 96) && memcmp(b0, b1, n0 * sizeof *b0) != 0,
	      "local: each client keeps its own batchnorm values (%zu floats)", n0);
	CHECK(memcmp(fa.global, fl.global, np * sizeof(float)) != 0,
	      "the two policies give different global models");

	/* a second round at learning rate 0: client 0 starts from its own values */
	float *keep = malloc(n0 * sizeof(float)), *tmp = malloc(np * sizeof(float));
	memcpy(keep, b0, n0 * sizeof(float));
	fl.opt.lr = 0.0f;
	REQUIRE(client_round(&fl, sl[0], 0, 1, tmp) == 0, "client 0 trains again");
	b0 = fcl_strategy_bn_state(sl[0], &n0);
	CHECK(memcmp(keep, b0, 2 * 3 * sizeof(float)) == 0 && memcmp(keep, b0, n0 * 4) != 0,
	      "local: the next round trains with the client's own gamma and beta (kept at lr 0) "
	      "and moves its own statistics on");
	free(keep), free(tmp);
	for (uint32_t k = 0; k < 2; k++) {
		fcl_strategy_destroy(sa[k]);
		fcl_strategy_destroy(sl[k]);
	}
	free(buf), free(init);
	fed_fini(&fa);
	fed_fini(&fl);
}

/* local: a client's batchnorm values survive a checkpoint (save, load into a
 * fresh strategy) and it trains on bit for bit as the original does. */
static void test_state(void)
{
	struct fed f;
	struct fcl_strategy *a = NULL, *b = NULL;
	REQUIRE(fed_init(&f, 1) == 0, "a federation");
	size_t np = f.m.n_params, len = 0, n_a, n_b;
	float *pa = malloc(np * sizeof(float)), *pb = malloc(np * sizeof(float));
	char *buf = NULL;
	REQUIRE(fcl_strategy_create_arch(&f.cfg, &f.loop, &f.a, 5, 1, &a) == 0 &&
		    fcl_strategy_create_arch(&f.cfg, &f.loop, &f.a, 5, 1, &b) == 0,
		"two strategies");
	REQUIRE(client_round(&f, a, 1, 0, pa) == 0 && client_round(&f, a, 1, 1, pa) == 0,
		"two rounds");
	FILE *w = open_memstream(&buf, &len);
	int rc = fcl_strategy_save(a, w);
	fclose(w);
	FILE *r = fmemopen(buf, len, "rb");
	rc = rc ? rc : fcl_strategy_load(b, r);
	fclose(r);
	const float *sa = fcl_strategy_bn_state(a, &n_a), *sb = fcl_strategy_bn_state(b, &n_b);
	CHECK(!rc && sb && n_a == n_b && memcmp(sa, sb, n_a * sizeof *sa) == 0 &&
		  fcl_strategy_checksum(a) == fcl_strategy_checksum(b),
	      "local: the client's batchnorm values are saved and loaded (%zu bytes of state)",
	      len);
	REQUIRE(client_round(&f, a, 1, 2, pa) == 0 && client_round(&f, b, 1, 2, pb) == 0,
		"both train round 2");
	sa = fcl_strategy_bn_state(a, &n_a);
	sb = fcl_strategy_bn_state(b, &n_b);
	CHECK(memcmp(pa, pb, np * sizeof(float)) == 0 && memcmp(sa, sb, n_a * sizeof *sa) == 0,
	      "... and the loaded one trains on bit for bit as the original");
	struct fcl_strategy *c = NULL;
	char *cut = NULL;
	size_t clen = 0;
	REQUIRE(fcl_strategy_create_arch(&f.cfg, &f.loop, &f.a, 5, 1, &c) == 0, "a third");
	r = fmemopen(buf, len - 4, "rb");
	CHECK(fcl_strategy_load(c, r) != 0, "a state cut short in its batchnorm values is refused");
	fclose(r);
	(void)cut, (void)clen;
	fcl_strategy_destroy(c);
	free(buf), free(pa), free(pb);
	fcl_strategy_destroy(a);
	fcl_strategy_destroy(b);
	fed_fini(&f);
}

/* FOT projects dense weight matrices only: none of them covers a norm's
 * gamma, beta or running statistics, nor a convolution. */
static void test_fot_never_projects_norms(void)
{
	struct fed f;
	char text[256], err[256];
	struct fcl_scenario sc;
	struct fcl_agg *agg = NULL;
	REQUIRE(fed_init(&f, 0) == 0, "a model");
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 2, per_round: 2}\n"
		 "tasks: {generator: single}\naggregation: {rule: fot}\n");
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<test>", err, sizeof err) == 0 &&
		    fcl_agg_create(&sc, &f.m, NULL, &agg) == 0,
		"an FOT aggregator on a batchnorm network: %s", err);
	int clear = agg->n_layers == 2, stat;
	for (uint32_t l = 0; l < agg->n_layers; l++) {
		size_t lo = agg->layers[l].w_offset,
		       hi = lo + agg->layers[l].n_in * agg->layers[l].n_out;
		for (size_t k = lo; k < hi; k++)
			clear &= !bn_coord(&f.a, k, &stat) && k >= f.a.layers[0].n_params;
	}
	CHECK(clear,
	      "FOT's projected matrices are the %u dense weights: no norm parameter or "
	      "statistic, no convolution",
	      agg->n_layers);
	fcl_agg_destroy(agg);
	fed_fini(&f);
}

/* ---- BatchNorm inside residual blocks ---------------------------------------- */

/* A stem, a projecting block and an identity block, both with BatchNorm. */
static const struct fcl_layer_spec resnet[] = {
    {.kind = FCL_LAYER_CONV2D, .units = 3, .kernel = 3, .stride = 1, .padding = 1},
    {.kind = FCL_LAYER_RESIDUAL, .units = 4, .kernel = 3, .stride = 2, .padding = 1, .bn = 1},
    {.kind = FCL_LAYER_RESIDUAL, .units = 4, .kernel = 3, .stride = 1, .padding = 1, .bn = 1},
    {.kind = FCL_LAYER_GAP},
    {.kind = FCL_LAYER_DENSE, .bias = 1},
};
#define RESNET_LAYERS (sizeof resnet / sizeof *resnet)

/* model.batchnorm: local finds the blocks' BatchNorms (3 and 2 of 4
 * channels: 40 gammas and betas, 40 statistics): the global model keeps its
 * own while the rest moves, each client its own. */
static void test_block_local(void)
{
	struct fed f;
	struct fcl_strategy *s[2] = {NULL, NULL};
	REQUIRE(fed_init_list(&f, 1, resnet, RESNET_LAYERS) == 0, "a residual federation");
	size_t np = f.m.n_params, n0, n1;
	float *buf = malloc(3 * np * sizeof(float)), *after[2] = {buf + np, buf + 2 * np};
	REQUIRE(buf, "memory");
	memcpy(buf, f.global, np * sizeof(float));
	for (uint32_t k = 0; k < 2; k++)
		REQUIRE(fcl_strategy_create_arch(&f.cfg, &f.loop, &f.a, 5, k, &s[k]) == 0,
			"client %u's strategy", k);
	REQUIRE(fed_round(&f, s, 0, after) == 0, "a round");
	int kept = 1, moved = 0, stat;
	size_t nbn = 0;
	for (size_t k = 0; k < np; k++) {
		if (bn_coord(&f.a, k, &stat)) {
			kept &= f.global[k] == buf[k];
			nbn++;
		} else {
			moved |= f.global[k] != buf[k];
		}
	}
	const float *b0 = fcl_strategy_bn_state(s[0], &n0), *b1 = fcl_strategy_bn_state(s[1], &n1);
	CHECK(kept && moved && nbn == 80 && b0 && b1 && n0 == 80 && n1 == 80 &&
		  memcmp(b0, b1, n0 * sizeof *b0) != 0,
	      "local: the blocks' %zu batchnorm values stay the global model's own, each client "
	      "keeps its own %zu, the convolutions moved",
	      nbn, n0);
	for (uint32_t k = 0; k < 2; k++)
		fcl_strategy_destroy(s[k]);
	free(buf);
	fed_fini(&f);
}

/* FOT projects the stem conv and the head, never a block: neither its
 * convolutions (averaged, as without BatchNorm) nor its norms' values. */
static void test_fot_block(void)
{
	struct fed f;
	char text[256], err[256];
	struct fcl_scenario sc;
	struct fcl_agg *agg = NULL;
	REQUIRE(fed_init_list(&f, 0, resnet, RESNET_LAYERS) == 0, "a residual model");
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 2, per_round: 2}\n"
		 "tasks: {generator: single}\naggregation: {rule: fot}\n");
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<test>", err, sizeof err) == 0 &&
		    fcl_agg_create(&sc, &f.m, NULL, &agg) == 0,
		"an FOT aggregator on it: %s", err);
	int clear = agg->n_convs == 1 && agg->convs[0].w_offset == f.a.layers[0].w_off &&
		    agg->n_layers == 1;
	const struct fcl_agg_layer *P[2] = {&agg->convs[0], &agg->layers[0]};
	for (int p = 0; p < 2 && clear; p++)
		for (size_t k = P[p]->w_offset; k < P[p]->w_offset + P[p]->n_in * P[p]->n_out; k++)
			for (uint32_t i = 1; i <= 2; i++) {
				const struct fcl_layer *L = &f.a.layers[i];
				clear &= !(k >= L->w_off && k < L->w_off + L->n_params) &&
					 !(k >= L->s_off && k < L->s_off + L->n_stats);
			}
	CHECK(clear, "FOT projects the stem conv and the head only: no value of a block");
	fcl_agg_destroy(agg);
	fed_fini(&f);
}

/* The export names every value of the buffer once: gamma and beta as
 * <kind><i>.weight/.bias, batchnorm's statistics as .running_mean/_var. */
static void test_export_names(void)
{
	struct fed f;
	struct fcl_tensor_info t[32];
	REQUIRE(fed_init(&f, 0) == 0, "a model");
	size_t n = fcl_model_tensors(&f.m, t, 32), at = 0;
	int tiled = n <= 32, named = 0;
	for (size_t i = 0; i < n && tiled; i++) {
		tiled &= t[i].offset == at;
		at += t[i].count;
		named += !strcmp(t[i].name, "batchnorm1.weight") ||
			 !strcmp(t[i].name, "batchnorm4.running_var");
	}
	CHECK(tiled && at == f.m.n_params && named == 2,
	      "the exported tensors (%zu) tile the buffer in order, statistics named as PyTorch's",
	      n);
	fed_fini(&f);
}

int main(void)
{
	test_gradients();
	test_modes();
	test_dense_modes();
	test_compile();
	test_network();
	test_policies();
	test_state();
	test_fot_never_projects_norms();
	test_export_names();
	test_block_local();
	test_fot_block();
	return tap_done();
}
