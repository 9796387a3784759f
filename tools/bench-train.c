/* tools/bench-train.c - local-training throughput against the machine's sgemm peak
 *
 * Prints, for the MLP 784-400-400-400-10 (the FOT paper's PMNIST model):
 * single-threaded cblas_sgemm GFLOP/s on a large square product (the peak),
 * then training samples per second at batch 10 and 64 and the share of the
 * peak those steps reach. Run with OPENBLAS_NUM_THREADS=1 (meson benchmark does).
 * `fcl-bench-train --peak` prints the peak's GFLOP/s only (tools/bench-protocol).
 */
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/strategy.h"
#include "fcl/util.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sgemm_gflops(int n, double min_seconds)
{
	float *a = aligned_alloc(64, (size_t)n * n * sizeof(float));
	float *b = aligned_alloc(64, (size_t)n * n * sizeof(float));
	float *c = aligned_alloc(64, (size_t)n * n * sizeof(float));
	struct fcl_rng rng;
	fcl_rng_init(&rng, 1, FCL_RNG_TEST, 0, 0);
	for (size_t i = 0; i < (size_t)n * n; i++) {
		a[i] = fcl_rng_uniform(&rng);
		b[i] = fcl_rng_uniform(&rng);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
	int reps = 0;
	double t0 = fcl_now(), dt;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c,
			    n);
		reps++;
		dt = fcl_now() - t0;
	} while (dt < min_seconds);
	free(a);
	free(b);
	free(c);
	return 2.0 * n * (double)n * n * reps / dt / 1e9;
}

/* FLOPs of one training sample: forward, weight gradient, and input gradient
 * for every layer but the first (its input needs none). */
static double flops_per_sample(const struct fcl_mlp *m)
{
	double f = 0.0;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		double mac = (double)m->sizes[l] * m->sizes[l + 1];
		f += 2.0 * mac * (l > 0 ? 3.0 : 2.0);
	}
	return f;
}

int main(int argc, char **argv)
{
	const uint32_t sizes[] = {784, 400, 400, 400, 10};
	const uint32_t batches[] = {10, 64};
	struct fcl_dataset ds;
	uint32_t n = 12800;

	if (argc > 1 && strcmp(argv[1], "--peak") == 0) {
		printf("%.3f\n", sgemm_gflops(1024, 2.0));
		return 0;
	}

	if (fcl_dataset_synthetic(&ds, n, 784, 10, 7, 0) != 0)
		return 1;
	uint32_t *idx = malloc(n * sizeof *idx);
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;

	double peak = sgemm_gflops(1024, 2.0);
	printf("cblas_sgemm 1024x1024x1024, 1 thread: %.2f GFLOP/s (peak reference)\n", peak);
	printf("MLP 784-400-400-400-10, SGD, single-threaded\n");
	printf("%6s %14s %12s %14s %10s\n", "batch", "samples/s", "GFLOP/s", "MFLOP/sample",
	       "of peak");
	for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		struct fcl_mlp m;
		struct fcl_sgd opt;
		struct fcl_strategy *s;
		struct fcl_strategy_config cfg;
		struct fcl_rng rng;
		float loss;
		/* plain minibatch SGD: fine-tuning through the one training loop */
		struct fcl_loop_config loop = {
		    .epochs = 1, .batch_size = batches[b], .head_bias = 1};
		fcl_strategy_config_defaults(&cfg);
		fcl_mlp_init(&m, 4, sizes, batches[b]);
		fcl_rng_init(&rng, 1, FCL_RNG_MODEL_INIT, 0, 0);
		fcl_mlp_init_params(&m, &rng);
		fcl_sgd_init(&opt, 0.01f, 0.0f, 1e-5f);
		if (fcl_strategy_create(&cfg, &loop, 4, sizes, 1, 0, &s) != 0)
			return 1;
		struct fcl_train_round warm = {.ds = &ds, .idx = idx, .n = 1280, .epochs = 1};
		struct fcl_train_round r = {.ds = &ds, .idx = idx, .n = n, .epochs = 1};
		fcl_strategy_train(s, &m, &opt, &warm, &loss);
		uint64_t samples = 0;
		double t0 = fcl_now(), dt;
		do {
			fcl_strategy_train(s, &m, &opt, &r, &loss);
			r.round++;
			samples += n;
			dt = fcl_now() - t0;
		} while (dt < 3.0);
		double sps = (double)samples / dt;
		double gf = sps * flops_per_sample(&m) / 1e9;
		printf("%6u %14.0f %12.2f %14.3f %9.1f%%\n", batches[b], sps, gf,
		       flops_per_sample(&m) / 1e6, 100.0 * gf / peak);
		fcl_strategy_destroy(s);
		fcl_sgd_fini(&opt);
		fcl_mlp_fini(&m);
	}
	free(idx);
	fcl_dataset_fini(&ds);
	return 0;
}
