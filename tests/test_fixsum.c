/* tests/test_fixsum.c - fixed-point sums: any grouping gives the same bits, the
 * range is enforced (never wrapped), the rounding error stays within its bound */
#include "fcl/fixsum.h"
#include "fcl/rng.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 257, M = 40 }; /* elements, addends */

static float x[M][N];
static double w[M];

static void make_addends(uint64_t seed)
{
	struct fcl_rng rng;
	fcl_rng_init(&rng, seed, 0, 0, 0);
	for (int j = 0; j < M; j++) {
		/* weights like sample counts, and fractional ones (FedNova's n / tau) */
		w[j] = j % 3 ? (double)(1 + fcl_rng_below(&rng, 900)) : 1.0 / (1 + j);
		for (int i = 0; i < N; i++) /* magnitudes from 1e-8 to 10 */
			x[j][i] = (float)(fcl_rng_normal(&rng) *
					  pow(10.0, -8.0 + 9.0 * fcl_rng_uniform(&rng)));
	}
}

/* The sum of the addends in order perm, grouped into `groups` partial sums of random sizes. */
static int grouped(const int *perm, int groups, struct fcl_rng *rng, struct fcl_fixsum *out)
{
	struct fcl_fixsum part;
	int rc = fcl_fixsum_init(out, N, FCL_FIXSUM_FRAC_BITS, M);
	rc = rc ? rc : fcl_fixsum_init(&part, N, FCL_FIXSUM_FRAC_BITS, M);
	for (int j = 0, g = 0; !rc && j < M; g++) {
		int take = g == groups - 1 ? M - j : (int)fcl_rng_below(rng, (uint32_t)(M - j) + 1);
		fcl_fixsum_zero(&part);
		for (int k = 0; k < take && !rc; k++, j++)
			rc = fcl_fixsum_add_scaled(&part, x[perm[j]], w[perm[j]]);
		rc = rc ? rc : fcl_fixsum_add(out, &part);
	}
	fcl_fixsum_fini(&part);
	return rc;
}

static void test_groupings(void)
{
	struct fcl_rng rng;
	struct fcl_fixsum ref, s;
	int perm[M], same = 1, ok = 1, fsame = 1, float_differs = 0;
	float a[N], b[N];

	make_addends(1);
	fcl_rng_init(&rng, 2, 0, 0, 0);
	for (int j = 0; j < M; j++)
		perm[j] = j;
	REQUIRE(grouped(perm, 1, &rng, &ref) == 0, "one group: the reference sum");
	fcl_fixsum_to_float(&ref, 1.0 / 7, a);
	for (int trial = 0; trial < 200; trial++) {
		for (int j = M - 1; j > 0; j--) { /* shuffle the order too */
			int k = (int)fcl_rng_below(&rng, (uint32_t)j + 1), t = perm[j];
			perm[j] = perm[k];
			perm[k] = t;
		}
		ok &= grouped(perm, 1 + (int)fcl_rng_below(&rng, 8), &rng, &s) == 0;
		same &= memcmp(s.v, ref.v, sizeof(int64_t) * N) == 0 && s.addends == M;
		fcl_fixsum_to_float(&s, 1.0 / 7, b);
		fsame &= memcmp(a, b, sizeof a) == 0;
		fcl_fixsum_fini(&s);
		/* the same sums in float, for contrast */
		float f1 = 0, f2 = 0;
		for (int j = 0; j < M; j++) {
			f1 += (float)w[j] * x[j][0];
			f2 += (float)w[perm[j]] * x[perm[j]][0];
		}
		float_differs |= f1 != f2;
	}
	CHECK(ok, "200 random orders and groupings (1-8 partial sums) all add up");
	CHECK(same, "every grouping gives bit-identical integers");
	CHECK(fsame, "and bit-identical floats back");
	NOTE("float sums in those orders %s",
	     float_differs ? "differ (as expected)" : "happened to agree");
	fcl_fixsum_fini(&ref);
}

static void test_error_bound(void)
{
	struct fcl_fixsum s;
	double worst = 0, bound = M * ldexp(1.0, -(int)FCL_FIXSUM_FRAC_BITS - 1);
	make_addends(3);
	REQUIRE(fcl_fixsum_init(&s, N, FCL_FIXSUM_FRAC_BITS, M) == 0, "init");
	for (int j = 0; j < M; j++)
		fcl_fixsum_add_scaled(&s, x[j], w[j]);
	for (int i = 0; i < N; i++) {
		long double ref = 0; /* the exact sum of the double products, near enough */
		for (int j = 0; j < M; j++)
			ref += (long double)(w[j] * (double)x[j][i]);
		double err = fabs(
		    (double)((long double)s.v[i] * ldexpl(1.0L, -(int)FCL_FIXSUM_FRAC_BITS) - ref));
		worst = err > worst ? err : worst;
	}
	CHECK(worst <= bound, "rounding error %.3g within m 2^-(k+1) = %.3g", worst, bound);
	CHECK(worst > 0, "and it is a real rounding (not zero): %.3g", worst);
	fcl_fixsum_fini(&s);
}

static void test_range(void)
{
	struct fcl_fixsum s, t;
	float v[4] = {1, -2, 3, 0.5f};
	REQUIRE(fcl_fixsum_init(&s, 4, 32, 64) == 0, "init for 64 addends");
	CHECK(s.headroom == 6 && fcl_fixsum_limit(&s) == ldexp(1.0, 25),
	      "64 addends keep 6 bits: one addend below 2^25 (%g)", fcl_fixsum_limit(&s));
	CHECK(fcl_fixsum_add_scaled(&s, v, 1000.0) == 0, "1000 x fits");
	int64_t before[4];
	memcpy(before, s.v, sizeof before);
	float big[4] = {1, 2, 3, 0x1p25f};
	CHECK(fcl_fixsum_add_scaled(&s, big, 1.0) == -ERANGE, "an element at 2^25 is refused");
	CHECK(memcmp(before, s.v, sizeof before) == 0 && s.addends == 1,
	      "and the sum is left as it was (elements before it undone)");
	CHECK(!fcl_fixsum_fits(&s, big, 1.0) && fcl_fixsum_fits(&s, v, 1000.0),
	      "fits says the same");
	float nan[4] = {1, NAN, 0, 0}, inf[4] = {INFINITY, 0, 0, 0};
	CHECK(fcl_fixsum_add_scaled(&s, nan, 1.0) == -ERANGE &&
		  fcl_fixsum_add_scaled(&s, inf, 1.0) == -ERANGE,
	      "NaN and infinity are refused");
	float edge[4] = {0x1.fffffep24f, -0x1.fffffep24f, 0x1.fffffep24f, 0x1.fffffep24f};
	int rc = 0;
	for (int j = 1; j < 64 && !rc; j++)
		rc = fcl_fixsum_add_scaled(&s, edge, 1.0);
	CHECK(rc == 0, "64 addends just below the limit add up without overflow");
	CHECK(fcl_fixsum_add_scaled(&s, v, 1.0) == -EOVERFLOW, "a 65th addend is refused");
	REQUIRE(fcl_fixsum_init(&t, 4, 32, 64) == 0, "second sum");
	CHECK(fcl_fixsum_add_scaled(&t, v, 1.0) == 0 && fcl_fixsum_add(&s, &t) == -EOVERFLOW,
	      "a sum of sums past max_addends is refused");
	int64_t huge[4] = {INT64_MAX, 0, 0, 0};
	fcl_fixsum_zero(&t);
	CHECK(fcl_fixsum_add_raw(&t, huge, 1) == 0, "a raw partial at INT64_MAX is taken");
	huge[0] = 1;
	huge[1] = 5;
	CHECK(fcl_fixsum_add_raw(&t, huge, 1) == -EOVERFLOW && t.v[0] == INT64_MAX && t.v[1] == 0,
	      "adding 1 to it is refused, not wrapped, and nothing changed");
	struct fcl_fixsum bad;
	CHECK(fcl_fixsum_init(&bad, 4, 60, 64) == -EINVAL, "60 fraction bits + 6 headroom refused");
	fcl_fixsum_fini(&s);
	fcl_fixsum_fini(&t);
}

static void test_rounding(void)
{
	struct fcl_fixsum s;
	/* 2^-33 is half a unit at 32 fraction bits: ties to even */
	float v[3] = {0x1p-33f, 0x1.8p-32f, -0x1p-33f};
	REQUIRE(fcl_fixsum_init(&s, 3, 32, 4) == 0, "init");
	fcl_fixsum_add_scaled(&s, v, 1.0);
	CHECK(s.v[0] == 0 && s.v[1] == 2 && s.v[2] == 0,
	      "ties go to even: 0.5 -> 0, 1.5 -> 2, -0.5 -> 0");
	float out[3];
	fcl_fixsum_to_float(&s, 0.5, out);
	CHECK(out[1] == 0x1p-32f, "back to float with a scale: 2 units x 0.5 = 2^-32");
	fcl_fixsum_fini(&s);
}

int main(void)
{
	test_groupings();
	test_error_bound();
	test_range();
	test_rounding();
	return tap_done();
}
