/* common/src/rng.c - splitmix64-seeded xoshiro256** streams */
#include "fcl/rng.h"

#include <math.h>

uint64_t fcl_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t fcl_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void fcl_rng_init(struct fcl_rng *rng, uint64_t seed, enum fcl_rng_purpose purpose, uint32_t client,
		  uint32_t round)
{
	/* Fold the key into one 64-bit state, then expand it with splitmix64. */
	uint64_t k = fcl_mix64(seed);
	k = fcl_mix64(k ^ (uint64_t)purpose);
	k = fcl_mix64(k ^ ((uint64_t)client << 32 | round));
	for (int i = 0; i < 4; i++) {
		k += 0x9e3779b97f4a7c15ULL;
		rng->s[i] = fcl_mix64(k);
	}
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t fcl_rng_next(struct fcl_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t fcl_rng_below(struct fcl_rng *rng, uint64_t n)
{
	/* Rejection keeps the draw exactly uniform. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = fcl_rng_next(rng);
	while (x >= limit);
	return x % n;
}

float fcl_rng_uniform(struct fcl_rng *rng)
{
	return (float)(fcl_rng_next(rng) >> 40) * 0x1.0p-24f;
}

float fcl_rng_normal(struct fcl_rng *rng)
{
	double u1 = ((fcl_rng_next(rng) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
	double u2 = (fcl_rng_next(rng) >> 11) * 0x1.0p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void fcl_rng_shuffle_u32(struct fcl_rng *rng, uint32_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)fcl_rng_below(rng, i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}
