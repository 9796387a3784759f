/* tests/test_rng.c - derived streams are reproducible, distinct and uniform */
#include "fcl/rng.h"
#include "tap.h"

#include <math.h>

static void test_reproducible(void)
{
	struct fcl_rng a, b;
	fcl_rng_init(&a, 42, FCL_RNG_LOCAL_SHUFFLE, 3, 7);
	fcl_rng_init(&b, 42, FCL_RNG_LOCAL_SHUFFLE, 3, 7);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		same &= fcl_rng_next(&a) == fcl_rng_next(&b);
	CHECK(same, "the same key gives the same stream");
}

static void test_distinct(void)
{
	struct fcl_rng base, other;
	const struct {
		uint64_t seed;
		enum fcl_rng_purpose p;
		uint32_t client, round;
	} keys[] = {{43, FCL_RNG_LOCAL_SHUFFLE, 3, 7},
		    {42, FCL_RNG_PARTITION, 3, 7},
		    {42, FCL_RNG_LOCAL_SHUFFLE, 4, 7},
		    {42, FCL_RNG_LOCAL_SHUFFLE, 3, 8},
		    {42, FCL_RNG_LOCAL_SHUFFLE, 7, 3}};
	fcl_rng_init(&base, 42, FCL_RNG_LOCAL_SHUFFLE, 3, 7);
	uint64_t first = fcl_rng_next(&base);
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		fcl_rng_init(&other, keys[k].seed, keys[k].p, keys[k].client, keys[k].round);
		CHECK(fcl_rng_next(&other) != first, "key variant %zu gives another stream", k);
	}
}

static void test_uniform(void)
{
	/* chi-square over 10 bins of fcl_rng_below(10): 9 degrees of freedom,
	 * 27.88 is the 0.001 critical value. */
	struct fcl_rng r;
	uint64_t bins[10] = {0};
	const int n = 100000;
	fcl_rng_init(&r, 1, FCL_RNG_TEST, 0, 0);
	for (int i = 0; i < n; i++)
		bins[fcl_rng_below(&r, 10)]++;
	double chi = 0.0;
	for (int b = 0; b < 10; b++)
		chi += pow((double)bins[b] - n / 10.0, 2) / (n / 10.0);
	CHECK(chi < 27.88, "fcl_rng_below(10) is uniform (chi2 = %.2f, 9 dof)", chi);

	double sum = 0, sq = 0;
	for (int i = 0; i < n; i++) {
		double x = fcl_rng_normal(&r);
		sum += x;
		sq += x * x;
	}
	double mean = sum / n, var = sq / n - mean * mean;
	CHECK(fabs(mean) < 0.02 && fabs(var - 1.0) < 0.03, "normal draws: mean %.4f var %.4f", mean,
	      var);
}

static void test_shuffle(void)
{
	struct fcl_rng r;
	uint32_t a[100], seen[100] = {0};
	for (uint32_t i = 0; i < 100; i++)
		a[i] = i;
	fcl_rng_init(&r, 5, FCL_RNG_TEST, 0, 0);
	fcl_rng_shuffle_u32(&r, a, 100);
	int perm = 1, moved = 0;
	for (uint32_t i = 0; i < 100; i++) {
		perm &= a[i] < 100 && !seen[a[i]];
		if (a[i] < 100)
			seen[a[i]] = 1;
		moved += a[i] != i;
	}
	CHECK(perm, "shuffle is a permutation");
	CHECK(moved > 80, "shuffle moves most items (%d of 100)", moved);
}

int main(void)
{
	test_reproducible();
	test_distinct();
	test_uniform();
	test_shuffle();
	return tap_done();
}
