/* tools/bench-kernels.c - the MLP step's matrix products through OpenBLAS, BLIS and libxsmm
 *
 * Not built by meson (BLIS and libxsmm are optional Debian packages, and fcl
 * uses OpenBLAS): it measures whether a small-matrix kernel would be worth
 * switching to. The products of one SGD step of the MLP 784-400-400-400-10 at
 * a batch size (forward x W^T, input gradient dy W, weight gradient dW +=
 * dy^T x), row-major as fcl calls them; milliseconds of thread CPU time per
 * step, two runs alternated; and how many floats of the weight gradients
 * differ in their bits from OpenBLAS's. libxsmm 1.17 has no JIT kernel with a
 * transposed A, so its forward stays with OpenBLAS. Build and run
 * (apt-get install libxsmm-dev libblis-dev):
 *
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *     tools/bench-kernels.c -o /tmp/bench-kernels \
 *     -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas \
 *     /usr/lib/libxsmm.a /usr/lib/libxsmmnoblas.a \
 *     -L/usr/lib/x86_64-linux-gnu/blis-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp \
 *     -lblis -fopenmp -lm -lpthread -ldl
 *   OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell \
 *     /tmp/bench-kernels 10
 */
#include <cblas.h>
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "/usr/include/x86_64-linux-gnu/blis-openmp/blis.h"

enum { OPENBLAS, BLIS, XSMM, N_LIBS };
static const char *const lib_name[N_LIBS] = {"openblas", "blis", "libxsmm"};

#define NL 4
static const int sz[NL + 1] = {784, 400, 400, 400, 10};
static float *W[NL], *X[NL + 1], *DY[NL + 1], *DX[NL + 1], *DW[NL];
static int B;

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Row-major C (M, N) = beta C + op(A) op(Bm) through one library; -1 when it has no kernel. */
static int gemm(int lib, int ta, int tb, int M, int N, int K, const float *A, int lda,
		const float *Bm, int ldb, float beta, float *C, int ldc)
{
	float one = 1.0f;
	if (lib == OPENBLAS || (lib == XSMM && tb)) {
		cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
			    tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, Bm, ldb, beta, C,
			    ldc);
		return 0;
	}
	if (lib == BLIS) {
		bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
			  tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &one, (float *)A, lda, 1,
			  (float *)Bm, ldb, 1, &beta, C, ldc, 1);
		return 0;
	}
	/* column-major: C^T (N, M) = op(Bm)^T (N, K) op(A)^T (K, M) */
	int flags = ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
	libxsmm_blasint m = N, n = M, k = K, la = ldb, lb = lda, lc = ldc;
	libxsmm_smmfunction f =
		libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &one, &beta, &flags, NULL);
	if (!f)
		return -1;
	f(Bm, A, C);
	return 0;
}

/* One step's products: forward, then per layer from the top dx and dW. */
static int step(int lib)
{
	int rc = 0;
	for (int l = 0; l < NL; l++)
		rc |= gemm(lib, 0, 1, B, sz[l + 1], sz[l], X[l], sz[l], W[l], sz[l], 0.0f,
			   X[l + 1], sz[l + 1]);
	for (int l = NL - 1; l >= 0; l--) {
		if (l)
			rc |= gemm(lib, 0, 0, B, sz[l], sz[l + 1], DY[l + 1], sz[l + 1], W[l],
				   sz[l], 0.0f, DX[l], sz[l]);
		rc |= gemm(lib, 1, 0, sz[l + 1], sz[l], B, DY[l + 1], sz[l + 1], X[l], sz[l],
			   1.0f, DW[l], sz[l]);
	}
	return rc;
}

static float *random_floats(size_t n)
{
	float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
	for (size_t i = 0; p && i < n; i++)
		p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	return p;
}

/* The weight gradients of one step from zero, into out; 0, or -1 without a kernel. */
static int gradients(int lib, float *out)
{
	size_t o = 0;
	for (int l = 0; l < NL; l++)
		memset(DW[l], 0, (size_t)sz[l] * sz[l + 1] * sizeof(float));
	if (step(lib))
		return -1;
	for (int l = 0; l < NL; l++) {
		memcpy(out + o, DW[l], (size_t)sz[l] * sz[l + 1] * sizeof(float));
		o += (size_t)sz[l] * sz[l + 1];
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t total = 0;
	double flop = 0.0;
	float *grads[N_LIBS];
	int ok[N_LIBS];

	B = argc > 1 ? atoi(argv[1]) : 10;
	if (B < 1)
		return 2;
	libxsmm_init();
	srand(1);
	for (int l = 0; l <= NL; l++) {
		X[l] = random_floats((size_t)B * sz[l]);
		DY[l] = random_floats((size_t)B * sz[l]);
		DX[l] = random_floats((size_t)B * sz[l]);
	}
	for (int l = 0; l < NL; l++) {
		W[l] = random_floats((size_t)sz[l] * sz[l + 1]);
		DW[l] = random_floats((size_t)sz[l] * sz[l + 1]);
		total += (size_t)sz[l] * sz[l + 1];
		flop += 2.0 * B * sz[l] * sz[l + 1] * (l ? 3 : 2);
	}
	for (int lib = 0; lib < N_LIBS; lib++) {
		grads[lib] = malloc(total * sizeof(float));
		ok[lib] = grads[lib] && gradients(lib, grads[lib]) == 0;
		if (!ok[lib]) {
			printf("%s: no kernel for a product\n", lib_name[lib]);
			continue;
		}
		size_t diff = 0;
		for (size_t i = 0; i < total; i++)
			diff += memcmp(&grads[0][i], &grads[lib][i], sizeof(float)) != 0;
		if (lib)
			printf("%s: %zu of %zu weight-gradient floats differ in bits from openblas\n",
			       lib_name[lib], diff, total);
	}
	for (int run = 1; run <= 2; run++)
		for (int lib = 0; lib < N_LIBS; lib++) {
			if (!ok[lib])
				continue;
			int reps = 0;
			double t0 = cpu_now(), dt;
			do {
				step(lib);
				reps++;
				dt = cpu_now() - t0;
			} while (dt < 1.5);
			printf("run %d %-9s batch %d: %.3f ms of products per step, %.1f GFLOP/s\n",
			       run, lib_name[lib], B, dt / reps * 1e3, flop * reps / dt / 1e9);
		}
	return 0;
}
