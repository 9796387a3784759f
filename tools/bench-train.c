/* tools/bench-train.c - local-training throughput against the machine's sgemm peak
 *
 * Prints single-threaded cblas_sgemm GFLOP/s on a large square product (the
 * peak), then training samples per second and the share of the peak those
 * steps reach for the MLP 784-400-400-400-10 (the FOT paper's PMNIST model)
 * and the cnn preset at batch 10 and 64, and alexnet-fot on 32x32x3 input at
 * batch 16 (FOT's) and 64. Run with OPENBLAS_NUM_THREADS=1 (meson benchmark does).
 * `fcl-bench-train --peak` prints the peak's GFLOP/s only (tools/bench-protocol).
 */
#include "fcl/cli.h"
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
 * for every layer with weights but the first (its input needs none). */
static double flops_per_sample(const struct fcl_arch *a)
{
	double f = 0.0;
	int first = 1;
	for (uint32_t i = 0; i < a->n_layers; i++) {
		if (!a->layers[i].macs)
			continue;
		f += 2.0 * (double)a->layers[i].macs * (first ? 2.0 : 3.0);
		first = 0;
	}
	return f;
}

/* Samples per second of one model at one batch size over synthetic data of its shape. */
static int bench(const char *name, const struct fcl_arch *a, uint32_t batch, double peak,
		 double seconds)
{
	struct fcl_dataset ds;
	uint32_t n = 1280;
	struct fcl_mlp m;
	struct fcl_sgd opt;
	struct fcl_strategy *s;
	struct fcl_strategy_config cfg;
	struct fcl_rng rng;
	float loss;

	if (fcl_dataset_synthetic(&ds, n, a->dim_in, a->sizes[a->n_dense], 7, 0) != 0)
		return 1;
	ds.shape = a->input;
	uint32_t *idx = malloc(n * sizeof *idx);
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	/* plain minibatch SGD: fine-tuning through the one training loop */
	struct fcl_loop_config loop = {.epochs = 1, .batch_size = batch, .head_bias = 1};
	fcl_strategy_config_defaults(&cfg);
	if (fcl_model_init(&m, a, batch) != 0)
		return 1;
	fcl_rng_init(&rng, 1, FCL_RNG_MODEL_INIT, 0, 0);
	fcl_mlp_init_params(&m, &rng);
	fcl_sgd_init(&opt, 0.01f, 0.0f, 1e-5f);
	if (fcl_strategy_create_arch(&cfg, &loop, a, 1, 0, &s) != 0)
		return 1;
	struct fcl_train_round warm = {.ds = &ds, .idx = idx, .n = n / 4, .epochs = 1};
	struct fcl_train_round r = {.ds = &ds, .idx = idx, .n = n, .epochs = 1};
	fcl_strategy_train(s, &m, &opt, &warm, &loss);
	uint64_t samples = 0;
	double t0 = fcl_now(), dt;
	do {
		fcl_strategy_train(s, &m, &opt, &r, &loss);
		r.round++;
		samples += n;
		dt = fcl_now() - t0;
	} while (dt < seconds);
	double sps = (double)samples / dt;
	double gf = sps * flops_per_sample(a) / 1e9;
	printf("%-14s %6u %12.0f %10.2f %14.3f %9.1f%%\n", name, batch, sps, gf,
	       flops_per_sample(a) / 1e6, 100.0 * gf / peak);
	fcl_strategy_destroy(s);
	fcl_sgd_fini(&opt);
	fcl_mlp_fini(&m);
	free(idx);
	fcl_dataset_fini(&ds);
	return 0;
}

static int preset(struct fcl_arch *a, enum fcl_model_preset p, struct fcl_input_shape in,
		  uint32_t classes)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	char err[256];
	int n = fcl_preset_layers(p, NULL, 0, l, FCL_ARCH_MAX_LAYERS);
	if (n < 0 || fcl_arch_compile(a, l, (uint32_t)n, in, classes, NULL, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

static void help(void)
{
	printf("usage: fcl-bench-train [--peak | --help | --version]\n\n"
	       "Measures single-threaded cblas_sgemm GFLOP/s (the peak) and local-training\n"
	       "throughput against it on synthetic data, for about 20 seconds: the MLP\n"
	       "784-400-400-400-10 and the cnn preset at batch 10 and 64, alexnet-fot on\n"
	       "3x32x32 at batch 16 and 64. --peak prints the peak's GFLOP/s only. Run it with\n"
	       "OPENBLAS_NUM_THREADS=1 (`meson test --benchmark train` does).\n\n"
	       "Exit status: 0 measured; 1 out of memory; 2 bad command line.\n");
}

/* Only --help and --version: anything else is refused rather than ignored
 * (the benchmark takes no options). -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help();
		return 0;
	}
	if (!strcmp(argv[1], "--peak")) {
		printf("%.3f\n", sgemm_gflops(1024, 2.0));
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		fcl_cli_version("fcl-bench-train");
		return 0;
	}
	if (argv[1][0] == '-')
		fcl_cli_unknown_option("fcl-bench-train", argv[1]);
	else
		fcl_cli_unexpected("fcl-bench-train", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	const uint32_t sizes[] = {784, 400, 400, 400, 10};
	struct fcl_arch mlp, cnn, alex;
	int prc = parse_args(argc, argv);

	if (prc >= 0)
		return prc;

	if (fcl_arch_mlp(&mlp, 4, sizes) ||
	    preset(&cnn, FCL_PRESET_CNN, (struct fcl_input_shape){1, 28, 28}, 10) ||
	    preset(&alex, FCL_PRESET_ALEXNET_FOT, (struct fcl_input_shape){3, 32, 32}, 100))
		return 1;
	double peak = sgemm_gflops(1024, 2.0);
	printf("cblas_sgemm 1024x1024x1024, 1 thread: %.2f GFLOP/s (peak reference)\n", peak);
	printf("SGD, single-threaded; mlp = 784-400-400-400-10 (FOT's PMNIST MLP), cnn on 1x28x28, "
	       "alexnet-fot on 3x32x32 with 100 classes\n");
	printf("%-14s %6s %12s %10s %14s %10s\n", "model", "batch", "samples/s", "GFLOP/s",
	       "MFLOP/sample", "of peak");
	int rc = bench("mlp", &mlp, 10, peak, 3.0);
	rc |= bench("mlp", &mlp, 64, peak, 3.0);
	rc |= bench("cnn", &cnn, 10, peak, 3.0);
	rc |= bench("cnn", &cnn, 64, peak, 3.0);
	rc |= bench("alexnet-fot", &alex, 16, peak, 3.0);
	rc |= bench("alexnet-fot", &alex, 64, peak, 3.0);
	return rc;
}
