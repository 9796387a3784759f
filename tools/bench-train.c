/* tools/bench-train.c - local-training throughput against the machine's sgemm peak
 *
 * Training samples per second and the share of the single-threaded
 * cblas_sgemm peak (a large square product) those steps reach, for the MLP
 * 784-400-400-400-10 (the FOT paper's PMNIST model) and the cnn preset at
 * batch 10 and 64, and alexnet-fot on 32x32x3 input at batch 16 (FOT's) and
 * 64, or the rows named on the command line (mlp:10 cnn:64). The peak is
 * measured in slices just before and after each row, and every row twice (all
 * rows, then all again), in the thread's CPU time, because the machine is
 * shared: a share is only meaningful against a peak measured under the same
 * load.
 * Run with OPENBLAS_NUM_THREADS=1 (meson benchmark does).
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
#include <time.h>

#define FCL_BENCH_MAX_RUNS 10
#define FCL_BENCH_MAX_ROWS 16

/* The peak's operands, made once: a 1024^3 product, about 2 GFLOP. */
struct peak {
	int n;
	float *a, *b, *c;
};

static int peak_init(struct peak *p, int n)
{
	struct fcl_rng rng;
	p->n = n;
	p->a = aligned_alloc(64, (size_t)n * n * sizeof(float));
	p->b = aligned_alloc(64, (size_t)n * n * sizeof(float));
	p->c = aligned_alloc(64, (size_t)n * n * sizeof(float));
	if (!p->a || !p->b || !p->c)
		return -1;
	fcl_rng_init(&rng, 1, FCL_RNG_TEST, 0, 0);
	for (size_t i = 0; i < (size_t)n * n; i++) {
		p->a[i] = fcl_rng_uniform(&rng);
		p->b[i] = fcl_rng_uniform(&rng);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, p->a, n, p->b, n, 0,
		    p->c, n);
	return 0;
}

static void peak_fini(struct peak *p)
{
	free(p->a);
	free(p->b);
	free(p->c);
}

/* Seconds of this thread's CPU time: on a shared machine the scheduler gives
 * the cores to others for a varying share of the wall time, and the peak and
 * the rows are compared per second of the CPU they actually had. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GFLOP/s of the square product over at least min_seconds: one slice of the peak. */
static double peak_slice(const struct peak *p, double min_seconds, double (*now)(void))
{
	int n = p->n, reps = 0;
	double t0 = now(), dt;
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, p->a, n, p->b,
			    n, 0, p->c, n);
		reps++;
		dt = now() - t0;
	} while (dt < min_seconds);
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

/* One row of the table: a model at a batch size. */
struct row {
	const char *name;
	const struct fcl_arch *arch;
	uint32_t batch;
	double share[FCL_BENCH_MAX_RUNS];
};

/* One measurement of a row: the model's steps for `seconds`, between two
 * slices of the peak of half that each, so that a change of the machine's load
 * hits the peak as much as the row. Prints the row; 0, or 1 out of memory. */
static int bench(struct row *w, uint32_t run, const struct peak *pk, double seconds)
{
	const struct fcl_arch *a = w->arch;
	struct fcl_dataset ds;
	uint32_t n = 1280, batch = w->batch;
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
	if (!idx)
		return 1;
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
	double before = peak_slice(pk, seconds / 2, cpu_now);
	uint64_t samples = 0;
	double t0 = cpu_now(), dt;
	do {
		fcl_strategy_train(s, &m, &opt, &r, &loss);
		r.round++;
		samples += n;
		dt = cpu_now() - t0;
	} while (dt < seconds);
	double after = peak_slice(pk, seconds / 2, cpu_now);
	double peak = (before + after) / 2;
	double sps = (double)samples / dt;
	double gf = sps * flops_per_sample(a) / 1e9;
	w->share[run] = 100.0 * gf / peak;
	printf("%-12s %5u %3u %10.0f %8.2f %8.3f %8.2f %7.1f%%\n", w->name, batch, run + 1, sps,
	       gf, flops_per_sample(a) / 1e6, peak, w->share[run]);
	fflush(stdout);
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
	printf("usage: fcl-bench-train [--runs N] [--seconds S] [MODEL:BATCH ...]\n"
	       "       fcl-bench-train --peak | --help | --version\n\n"
	       "Local-training throughput against the single-threaded cblas_sgemm peak (a\n"
	       "1024^3 product), on synthetic data. Each row (a model at a batch size) trains\n"
	       "for S seconds (default 3) between two slices of the peak of S/2 each, and its\n"
	       "share is of the mean of those two slices, so that load on a shared machine hits\n"
	       "both alike. Seconds are the thread's CPU time, not wall time. The rows are run\n"
	       "in turn, N times (default 2, at most %d): run 1 of every row, then run 2, ...\n"
	       "Models: mlp (784-400-400-400-10, FOT's PMNIST MLP), cnn (1x28x28),\n"
	       "alexnet-fot (3x32x32, 100 classes). Default rows: mlp:10 mlp:64 cnn:10 cnn:64\n"
	       "alexnet-fot:16 alexnet-fot:64. --peak prints the peak's GFLOP/s only. Run it\n"
	       "with OPENBLAS_NUM_THREADS=1 (`meson test --benchmark train` does).\n\n"
	       "Exit status: 0 measured; 1 out of memory; 2 bad command line.\n",
	       FCL_BENCH_MAX_RUNS);
}

static const char *const default_rows[] = {"mlp:10", "mlp:64",	       "cnn:10",
					   "cnn:64", "alexnet-fot:16", "alexnet-fot:64"};

/* MODEL:BATCH into a row; 0, or -1 when it names no model or no batch. */
static int parse_row(const char *arg, struct row *w, const struct fcl_arch *archs)
{
	static const char *const names[] = {"mlp", "cnn", "alexnet-fot"};
	const char *colon = strchr(arg, ':');
	char *end;
	if (!colon)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (strlen(names[i]) != (size_t)(colon - arg) ||
		    strncmp(arg, names[i], (size_t)(colon - arg)))
			continue;
		unsigned long b = strtoul(colon + 1, &end, 10);
		if (*end || end == colon + 1 || b == 0 || b > 4096)
			return -1;
		*w = (struct row){.name = names[i], .arch = &archs[i], .batch = (uint32_t)b};
		return 0;
	}
	return -1;
}

/* A positive number option's value into *v; 0, or -1 when it is not one in (0, max]. */
static int parse_num(const char *s, double max, double *v)
{
	char *end;
	*v = strtod(s, &end);
	return *end || end == s || !(*v > 0) || *v > max ? -1 : 0;
}

/* Options and rows into *runs, *seconds and rows (*n_rows). -1 to go on, else
 * the exit status (--help, --version, --peak, or 2 for a bad command line). */
static int parse_args(int argc, char **argv, const struct fcl_arch *archs, struct row *rows,
		      uint32_t *n_rows, uint32_t *runs, double *seconds)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		double v;
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			help();
			return 0;
		} else if (!strcmp(o, "--version")) {
			fcl_cli_version("fcl-bench-train");
			return 0;
		} else if (!strcmp(o, "--peak")) { /* wall-clock seconds: tools/bench-protocol compares wall times */
			struct peak pk;
			if (peak_init(&pk, 1024))
				return 1;
			printf("%.3f\n", peak_slice(&pk, 2.0, fcl_now));
			peak_fini(&pk);
			return 0;
		} else if (!strcmp(o, "--runs") || !strcmp(o, "--seconds")) {
			int is_runs = o[2] == 'r';
			if (i + 1 >= argc ||
			    parse_num(argv[i + 1], is_runs ? FCL_BENCH_MAX_RUNS : 600, &v) ||
			    (is_runs && v != (uint32_t)v)) {
				fprintf(stderr, "fcl-bench-train: %s needs a number in (0, %d]\n", o,
					is_runs ? FCL_BENCH_MAX_RUNS : 600);
				return 2;
			}
			if (is_runs)
				*runs = (uint32_t)v;
			else
				*seconds = v;
			i++;
		} else if (o[0] == '-') {
			fcl_cli_unknown_option("fcl-bench-train", o);
			return 2;
		} else if (*n_rows >= FCL_BENCH_MAX_ROWS || parse_row(o, &rows[*n_rows], archs)) {
			fprintf(stderr,
				"fcl-bench-train: '%s' is not MODEL:BATCH with MODEL mlp, cnn or "
				"alexnet-fot (at most %d rows)\n",
				o, FCL_BENCH_MAX_ROWS);
			return 2;
		} else {
			(*n_rows)++;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	const uint32_t sizes[] = {784, 400, 400, 400, 10};
	struct fcl_arch archs[3];
	struct row rows[FCL_BENCH_MAX_ROWS];
	uint32_t n_rows = 0, runs = 2;
	double seconds = 3.0;
	struct peak pk;

	if (fcl_arch_mlp(&archs[0], 4, sizes) ||
	    preset(&archs[1], FCL_PRESET_CNN, (struct fcl_input_shape){1, 28, 28}, 10) ||
	    preset(&archs[2], FCL_PRESET_ALEXNET_FOT, (struct fcl_input_shape){3, 32, 32}, 100))
		return 1;
	int prc = parse_args(argc, argv, archs, rows, &n_rows, &runs, &seconds);
	if (prc >= 0)
		return prc;
	if (n_rows == 0) /* no rows given: the default ones */
		for (; n_rows < sizeof default_rows / sizeof *default_rows; n_rows++)
			parse_row(default_rows[n_rows], &rows[n_rows], archs);
	if (peak_init(&pk, 1024))
		return 1;
	printf("SGD, single-threaded; mlp = 784-400-400-400-10 (FOT's PMNIST MLP), cnn on 1x28x28, "
	       "alexnet-fot on 3x32x32 with 100 classes;\npeak = cblas_sgemm 1024^3, 1 thread, "
	       "the mean of a slice just before and one just after the row\n");
	printf("%-12s %5s %3s %10s %8s %8s %8s %8s\n", "model", "batch", "run", "samples/s",
	       "GFLOP/s", "MFLOP/smp", "peak", "of peak");
	int rc = 0;
	for (uint32_t run = 0; run < runs; run++)
		for (uint32_t i = 0; i < n_rows; i++)
			rc |= bench(&rows[i], run, &pk, seconds);
	printf("\nshare of the peak, run by run:\n");
	for (uint32_t i = 0; i < n_rows; i++) {
		printf("%-12s %5u ", rows[i].name, rows[i].batch);
		for (uint32_t run = 0; run < runs; run++)
			printf(" %6.1f%%", rows[i].share[run]);
		printf("\n");
	}
	peak_fini(&pk);
	return rc;
}
