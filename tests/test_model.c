/* tests/test_model.c - every backward pass against central finite differences */
#include "fcl/arch.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "gradcheck.h"
#include "tap.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_dense(void)
{
	enum { B = 3, NI = 5, NO = 4 };
	struct fcl_rng r;
	float x[B * NI], w[NO * NI], b[NO], y[B * NO], g[B * NO];
	float dx[B * NI], dw[NO * NI] = {0}, db[NO] = {0};
	double worst = 0;
	const float h = 1e-2f;

	fcl_rng_init(&r, 1, FCL_RNG_TEST, 0, 0);
	fill(x, B * NI, &r, 1);
	fill(w, NO * NI, &r, 1);
	fill(b, NO, &r, 1);
	fill(g, B * NO, &r, 1);
	fcl_dense_backward(dx, dw, db, g, x, w, B, NI, NO);
	float *params[3] = {x, w, b};
	float *grads[3] = {dx, dw, db};
	size_t sizes[3] = {B * NI, NO * NI, NO};
	for (int p = 0; p < 3; p++)
		for (size_t i = 0; i < sizes[p]; i++) {
			float keep = params[p][i];
			params[p][i] = keep + h;
			fcl_dense_forward(y, x, w, b, B, NI, NO);
			double up = probe(y, g, B * NO);
			params[p][i] = keep - h;
			fcl_dense_forward(y, x, w, b, B, NI, NO);
			double down = probe(y, g, B * NO);
			params[p][i] = keep;
			worst = fmax(worst, rel_err((up - down) / (2 * h), grads[p][i]));
		}
	CHECK(worst < 1e-3, "dense backward (dx, dW, db) matches finite differences (%.2e)", worst);

	/* Accumulation: a second backward adds the same again. */
	float dw2[NO * NI];
	memcpy(dw2, dw, sizeof dw);
	fcl_dense_backward(NULL, dw, db, g, x, w, B, NI, NO);
	int doubled = 1;
	for (size_t i = 0; i < NO * NI; i++)
		doubled &= fabsf(dw[i] - 2 * dw2[i]) < 1e-5f;
	CHECK(doubled, "dense backward accumulates into dW");
}

static void test_relu(void)
{
	enum { N = 50 };
	struct fcl_rng r;
	float x[N], y[N], g[N], dx[N];
	double worst = 0;
	const float h = 1e-3f;

	fcl_rng_init(&r, 2, FCL_RNG_TEST, 0, 0);
	fill(x, N, &r, 1);
	fill(g, N, &r, 1);
	fcl_relu_forward(y, x, N);
	fcl_relu_backward(dx, g, y, N);
	for (size_t i = 0; i < N; i++) {
		if (fabsf(x[i]) < 2 * h)
			continue; /* the kink has no derivative */
		float keep = x[i];
		x[i] = keep + h;
		fcl_relu_forward(y, x, N);
		double up = probe(y, g, N);
		x[i] = keep - h;
		fcl_relu_forward(y, x, N);
		double down = probe(y, g, N);
		x[i] = keep;
		worst = fmax(worst, rel_err((up - down) / (2 * h), dx[i]));
	}
	CHECK(worst < 1e-3, "ReLU backward matches finite differences (%.2e)", worst);
}

static void test_softmax_xent(void)
{
	enum { B = 4, C = 6 };
	struct fcl_rng r;
	float z[B * C], p[B * C], dz[B * C];
	int32_t y[B] = {0, 5, 2, 2};
	double worst = 0;
	const float h = 1e-2f;

	fcl_rng_init(&r, 3, FCL_RNG_TEST, 0, 0);
	fill(z, B * C, &r, 2);
	float loss = fcl_softmax_xent_forward(p, z, y, B, C);
	fcl_softmax_xent_backward(dz, p, y, B, C);
	for (size_t i = 0; i < B * C; i++) {
		float keep = z[i];
		z[i] = keep + h;
		double up = fcl_softmax_xent_forward(p, z, y, B, C);
		z[i] = keep - h;
		double down = fcl_softmax_xent_forward(p, z, y, B, C);
		z[i] = keep;
		worst = fmax(worst, rel_err((up - down) / (2 * h), dz[i]));
	}
	CHECK(worst < 5e-3, "softmax cross-entropy backward matches finite differences (%.2e)",
	      worst);
	CHECK(loss > 0 && isfinite(loss), "cross-entropy is positive and finite (%.4f)", loss);

	/* Large logits must not overflow. */
	float big[C] = {1000, -1000, 500, 0, 0, 0}, pb[C];
	int32_t yb = 0;
	float lb = fcl_softmax_xent_forward(pb, big, &yb, 1, C);
	CHECK(isfinite(lb) && lb < 1e-3, "softmax is stable for large logits (%.3g)", lb);
}

/* The whole MLP: backward of the mean loss against finite differences of the loss. */
static void test_mlp(void)
{
	const uint32_t sizes[] = {7, 6, 5, 4};
	enum { B = 3 };
	struct fcl_mlp m;
	struct fcl_rng r;
	float x[B * 7];
	int32_t y[B] = {1, 3, 0};
	double worst = 0;
	const float h = 1e-3f; /* small enough not to cross a ReLU kink at this seed */

	REQUIRE(fcl_mlp_init(&m, 3, sizes, B) == 0, "MLP 7-6-5-4 initialises");
	CHECK(m.n_params == 7 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4, "parameter count is %zu",
	      m.n_params);
	fcl_rng_init(&r, 4, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &r);
	fill(x, B * 7, &r, 1);
	fcl_mlp_zero_grad(&m);
	fcl_mlp_forward(&m, x, B);
	fcl_mlp_loss(&m, y, B);
	fcl_mlp_backward(&m, y, B);
	for (size_t i = 0; i < m.n_params; i++) {
		float keep = m.params[i];
		m.params[i] = keep + h;
		fcl_mlp_forward(&m, x, B);
		double up = fcl_mlp_loss(&m, y, B);
		m.params[i] = keep - h;
		fcl_mlp_forward(&m, x, B);
		double down = fcl_mlp_loss(&m, y, B);
		m.params[i] = keep;
		worst = fmax(worst, rel_err((up - down) / (2 * h), m.grads[i]));
	}
	CHECK(worst < 2e-2,
	      "MLP backward matches finite differences for all %zu parameters "
	      "(%.2e)",
	      m.n_params, worst);
	fcl_mlp_fini(&m);
}

static void test_sgd(void)
{
	float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.5f};
	struct fcl_sgd opt;
	fcl_sgd_init(&opt, 0.1f, 0.9f, 0.01f);
	fcl_sgd_step(&opt, p, g, 2);
	/* v = g + wd p = 0.51; p = 1 - 0.1 * 0.51 */
	CHECK(fabsf(p[0] - 0.949f) < 1e-6f, "first SGD step with weight decay (%.6f)", p[0]);
	fcl_sgd_step(&opt, p, g, 2);
	/* v = 0.9 * 0.51 + 0.5 + 0.01 * 0.949 = 0.96849; p = 0.949 - 0.096849 */
	CHECK(fabsf(p[0] - 0.852151f) < 1e-5f, "second step uses momentum as torch (%.6f)", p[0]);
	fcl_sgd_fini(&opt);
}

#if defined(__SANITIZE_ADDRESS__)
#define FCL_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FCL_ASAN_BUILD 1
#endif
#endif
#ifndef FCL_ASAN_BUILD
#define FCL_ASAN_BUILD 0
#endif

/* Bytes the heap holds (small chunks and mmapped blocks). */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* fcl_model_bytes (what run.limits' estimate counts) against what
 * fcl_model_init really takes from the heap, for each preset and a list
 * with every buffer-owning layer kind, at a small and a large batch (the
 * large one past the cap on kept patches for alexnet-fot). Each allocation
 * may add a chunk header and round to a page, hence the slack per layer. */
static void test_model_bytes(void)
{
	static const struct {
		enum fcl_model_preset preset;
		struct fcl_input_shape in;
		uint32_t classes;
	} nets[] = {{FCL_PRESET_MLP, {1, 28, 28}, 10},
		    {FCL_PRESET_CNN, {1, 28, 28}, 10},
		    {FCL_PRESET_ALEXNET_FOT, {3, 32, 32}, 100},
		    {FCL_PRESET_RESNET18_REDUCED, {3, 32, 32}, 100},
		    {FCL_PRESET_RESNET18_REDUCED_BN, {3, 32, 32}, 100},
		    {FCL_PRESET_NONE, {3, 16, 16}, 10}};
	const struct fcl_layer_spec norms[] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 8, .kernel = 3, .stride = 1, .padding = 1},
	    {.kind = FCL_LAYER_BATCHNORM},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_MAXPOOL, .kernel = 2, .stride = 2},
	    {.kind = FCL_LAYER_RESIDUAL, .units = 16, .kernel = 3, .stride = 2, .padding = 1},
	    {.kind = FCL_LAYER_GROUPNORM, .groups = 4},
	    {.kind = FCL_LAYER_DROPOUT, .rate = 0.25f},
	    {.kind = FCL_LAYER_GAP},
	    {.kind = FCL_LAYER_DENSE, .units = 0, .bias = 1}};
	static const size_t batches[] = {10, 256};

	/* AddressSanitizer replaces malloc and mallinfo2 then reports nothing:
	 * the sanitizer build checks memory errors, the plain build these sizes. */
	if (FCL_ASAN_BUILD) {
		NOTE("skip: mallinfo2 reports no heap use under AddressSanitizer");
		return;
	}
	for (size_t k = 0; k < sizeof nets / sizeof *nets; k++)
		for (size_t b = 0; b < 2; b++) {
			struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
			struct fcl_arch a;
			struct fcl_mlp m;
			char err[256] = "";
			int n = nets[k].preset == FCL_PRESET_NONE
				    ? (int)(sizeof norms / sizeof *norms)
				    : fcl_preset_layers(nets[k].preset, NULL, 0, l,
							FCL_ARCH_MAX_LAYERS);
			if (nets[k].preset == FCL_PRESET_NONE)
				memcpy(l, norms, sizeof norms);
			REQUIRE(n > 0 && fcl_arch_compile(&a, l, (uint32_t)n, nets[k].in,
							  nets[k].classes, NULL, err,
							  sizeof err) == 0,
				"net %zu compiles (%s)", k, err);
			size_t want = fcl_model_bytes(&a, batches[b]), before = heap_in_use();
			REQUIRE(fcl_model_init(&m, &a, batches[b]) == 0, "net %zu initialises", k);
			size_t took = heap_in_use() - before;
			fcl_mlp_fini(&m);
			double slack = 4160.0 * (4 * a.n_layers + 8);
			CHECK(fabs((double)took - (double)want) <= slack,
			      "%s at batch %zu: estimate %zu bytes, fcl_model_init took %zu "
			      "(within %.0f)",
			      nets[k].preset == FCL_PRESET_NONE ? "a norm/residual list"
								: fcl_model_preset_name(nets[k].preset),
			      batches[b], want, took, slack);
		}
}

int main(void)
{
	test_model_bytes();
	test_dense();
	test_relu();
	test_softmax_xent();
	test_mlp();
	test_sgd();
	return tap_done();
}
