/* tests/test_sgemm_small.c - the small-batch dense products (sgemm_small.c)
 * give cblas_sgemm's bits on the shapes they take, or decline
 *
 * Under the kernel they copy (OpenBLAS 0.3.21 Haswell; meson runs this test
 * with OPENBLAS_CORETYPE=Haswell) on a CPU with AVX-512 they must be used at batches 1-3 and 8-11
 * and match bit for bit; under any other kernel, or past those batches, they must decline.
 */
#include "../common/src/sgemm-small.h"
#include "fcl/rng.h"
#include "tap.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static float *rnd(size_t n, struct fcl_rng *r)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; p && i < n; i++) {
		float u = fcl_rng_uniform(r);
		/* some exact zeros and negative zeros, as ReLU's gradients have */
		p[i] = u < 0.1f ? 0.0f : u < 0.15f ? -0.0f : 2.0f * fcl_rng_uniform(r) - 1.0f;
	}
	return p;
}

/* One shape: the forward (beta 1, over a bias) and the input gradient (beta 0). */
static void check(size_t B, size_t n_in, size_t n_out, int expect_used, struct fcl_rng *r)
{
	float *x = rnd(B * n_in, r), *w = rnd(n_out * n_in, r), *y0 = rnd(B * n_out, r);
	float *y1 = malloc(B * n_out * sizeof *y1), *dx0 = malloc(B * n_in * sizeof *dx0);
	float *dx1 = malloc(B * n_in * sizeof *dx1);
	REQUIRE(x && w && y0 && y1 && dx0 && dx1, "allocation");
	memcpy(y1, y0, B * n_out * sizeof *y1);
	int used = fcl__sgemm_small_forward(y1, x, w, B, n_in, n_out) == 0;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)n_out, (int)n_in, 1.0f, x,
		    (int)n_in, w, (int)n_in, 1.0f, y0, (int)n_out);
	CHECK(used == expect_used && (!used || memcmp(y0, y1, B * n_out * sizeof *y1) == 0),
	      "forward batch %zu, %zu -> %zu: %s, same bits", B, n_in, n_out,
	      used ? "used" : "declined");
	/* dy is y0 (n_out wide), dx (B, n_in) */
	memset(dx1, 0x7f, B * n_in * sizeof *dx1);
	used = fcl__sgemm_small_dx(dx1, y0, w, B, n_in, n_out) == 0;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)n_in, (int)n_out, 1.0f,
		    y0, (int)n_out, w, (int)n_in, 0.0f, dx0, (int)n_in);
	CHECK(used == expect_used && (!used || memcmp(dx0, dx1, B * n_in * sizeof *dx1) == 0),
	      "input gradient batch %zu, %zu <- %zu: %s, same bits", B, n_in, n_out,
	      used ? "used" : "declined");
	free(x), free(w), free(y0), free(y1), free(dx0), free(dx1);
}

int main(void)
{
	/* the dense layers of mlp (784-400-400-400-10), a flattened conv, and
	 * sizes around OpenBLAS's blocks (320 and 640 k, rows; 8-row tiles) */
	static const size_t shapes[][2] = {
	    {784, 400}, {400, 400}, {400, 10},  {10, 400},  {3136, 128}, {128, 62}, {7, 5},
	    {33, 17},   {320, 321}, {321, 320}, {639, 641}, {641, 1290}, {1, 9},    {16, 3}};
	static const size_t batches[] = {1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 16, 32, 64};
	const char *core = openblas_get_corename();
	const char *conf = openblas_get_config();
	int haswell = core && strcasecmp(core, "haswell") == 0 && conf &&
		      strstr(conf, "OpenBLAS 0.3.21 ") && __builtin_cpu_supports("avx512f");
	struct fcl_rng r;

	fcl_rng_init(&r, 3, FCL_RNG_TEST, 0, 0);
	NOTE("OpenBLAS core %s", core ? core : "?");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
			size_t B = batches[b];
			int in_range = B <= 3 || (B >= 8 && B <= 11);
			check(B, shapes[s][0], shapes[s][1], haswell && in_range, &r);
		}
	return tap_done();
}
