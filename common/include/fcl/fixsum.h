/* common/include/fcl/fixsum.h - exact sums of weighted float vectors in fixed point
 *
 * Floating-point addition is not associative: summing the same updates in
 * another grouping (per process, then across processes) changes the bits.
 * Integer addition is. A fixsum holds, per element, a signed 64-bit integer
 * in units of 2^-frac_bits; each addend w * x[i] is computed in double
 * (one rounding, IEEE), scaled by 2^frac_bits (exact) and rounded to the
 * nearest integer, ties to even. Any grouping of the same addends then gives
 * the same integers, and fcl_fixsum_to_float the same floats.
 *
 * Range: a sum is made for at most max_addends addends; headroom =
 * ceil(log2(max_addends)) bits are kept free for them, so one addend may
 * have |w x| < 2^(63 - headroom - frac_bits) (fcl_fixsum_limit) and no sum
 * of max_addends such addends can overflow. An addend at or beyond the limit
 * (or not finite) is refused with -ERANGE and leaves the sum unchanged; a
 * sum of sums that would pass max_addends or overflow is refused with
 * -EOVERFLOW. Nothing wraps.
 *
 * Rounding error: each addend is off by at most 2^-(frac_bits+1) from
 * w * x[i] computed in double, so a sum of m addends is within
 * m 2^-(frac_bits+1) of the exact sum of those doubles.
 *
 * No knowledge of rules or messages: the integers are what a later secure
 * aggregation would mask modulo 2^64.
 */
#ifndef FCL_FIXSUM_H
#define FCL_FIXSUM_H
#include <stddef.h>
#include <stdint.h>

/* The scale fcl uses for updates: 2^-32 (about 2.3e-10). */
#define FCL_FIXSUM_FRAC_BITS 32u

struct fcl_fixsum {
	int64_t *v; /* (n) owned */
	size_t n;
	unsigned frac_bits;
	unsigned headroom;    /* ceil(log2(max_addends)) */
	uint64_t max_addends; /* what the range is made for */
	uint64_t addends;     /* added so far (a sum of sums counts theirs) */
	double limit;         /* |w x| must stay below this */
	double unit, ulp;     /* 2^frac_bits and 2^-frac_bits: scaling by them is exact */
};

/* A zero sum of n elements. frac_bits + headroom must leave at least one
 * integer bit (frac_bits + headroom <= 62). 0, -EINVAL or -ENOMEM. */
int fcl_fixsum_init(struct fcl_fixsum *s, size_t n, unsigned frac_bits, uint64_t max_addends);
void fcl_fixsum_fini(struct fcl_fixsum *s);
void fcl_fixsum_zero(struct fcl_fixsum *s);
/* The bound one addend's |w x[i]| must stay below. */
double fcl_fixsum_limit(const struct fcl_fixsum *s);

/* Does every w * x[i] (i < n = s->n) fit? 1 or 0 (also for a non-finite value). */
int fcl_fixsum_fits(const struct fcl_fixsum *s, const float *x, double w);
/* s += w * x, element by element (x has s->n values). 0; -ERANGE when an
 * addend does not fit, -EOVERFLOW when s already holds max_addends addends:
 * then s is unchanged. */
int fcl_fixsum_add_scaled(struct fcl_fixsum *s, const float *x, double w);
/* s += another sum's integers v (s->n of them, `addends` addends, same scale).
 * 0 or -EOVERFLOW (past max_addends or out of int64): then s is unchanged. */
int fcl_fixsum_add_raw(struct fcl_fixsum *s, const int64_t *v, uint64_t addends);
int fcl_fixsum_add(struct fcl_fixsum *s, const struct fcl_fixsum *t); /* same; -EINVAL on shape */

/* Element i as a double: v[i] 2^-frac_bits (rounded to double when |v[i]| > 2^53). */
double fcl_fixsum_get(const struct fcl_fixsum *s, size_t i);
/* out[i] = (float)(fcl_fixsum_get(s, i) * scale): deterministic. */
void fcl_fixsum_to_float(const struct fcl_fixsum *s, double scale, float *out);
void fcl_fixsum_to_double(const struct fcl_fixsum *s, double scale, double *out);

#endif
