/* common/src/fixsum.c - exact sums of weighted float vectors in fixed point (fcl/fixsum.h) */
#include "fcl/fixsum.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int fcl_fixsum_init(struct fcl_fixsum *s, size_t n, unsigned frac_bits, uint64_t max_addends)
{
	unsigned head = 0;

	memset(s, 0, sizeof *s);
	if (max_addends == 0)
		return -EINVAL;
	while (head < 64 && ((uint64_t)1 << head) < max_addends)
		head++;
	if (frac_bits + head > 62)
		return -EINVAL;
	if (!(s->v = calloc(n ? n : 1, sizeof *s->v)))
		return -ENOMEM;
	s->n = n;
	s->frac_bits = frac_bits;
	s->headroom = head;
	s->max_addends = max_addends;
	s->limit = ldexp(1.0, 63 - (int)head - (int)frac_bits);
	s->unit = ldexp(1.0, (int)frac_bits);
	s->ulp = ldexp(1.0, -(int)frac_bits);
	return 0;
}

void fcl_fixsum_fini(struct fcl_fixsum *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

void fcl_fixsum_zero(struct fcl_fixsum *s)
{
	memset(s->v, 0, s->n * sizeof *s->v);
	s->addends = 0;
}

double fcl_fixsum_limit(const struct fcl_fixsum *s)
{
	return s->limit;
}

/* One addend in units of 2^-frac_bits; 0 when it does not fit (fabs(NaN) < limit is false).
 * y * unit is ldexp(y, frac_bits) exactly (a power of two, |y * unit| < 2^63), and
 * llrint rounds ties to even in the default rounding mode, as nearbyint did: the same
 * integers at a fraction of the cost (the quick start's clients spent 2.5 % in scalbn). */
static inline int quantise(const struct fcl_fixsum *s, float x, double w, int64_t *q)
{
	double y = w * (double)x;
	if (!(fabs(y) < s->limit))
		return 0;
	*q = (int64_t)llrint(y * s->unit);
	return 1;
}

int fcl_fixsum_fits(const struct fcl_fixsum *s, const float *x, double w)
{
	int64_t q;
	for (size_t i = 0; i < s->n; i++)
		if (!quantise(s, x[i], w, &q))
			return 0;
	return 1;
}

int fcl_fixsum_add_scaled(struct fcl_fixsum *s, const float *x, double w)
{
	if (s->addends >= s->max_addends)
		return -EOVERFLOW;
	for (size_t i = 0; i < s->n; i++) {
		int64_t q;
		if (!quantise(s, x[i], w, &q)) {
			while (i-- > 0) /* undo: exact in integers */
				if (quantise(s, x[i], w, &q))
					s->v[i] -= q;
			return -ERANGE;
		}
		/* cannot overflow: headroom bits are free for max_addends addends */
		s->v[i] += q;
	}
	s->addends++;
	return 0;
}

int fcl_fixsum_add_raw(struct fcl_fixsum *s, const int64_t *v, uint64_t addends)
{
	if (addends > s->max_addends - s->addends)
		return -EOVERFLOW;
	for (size_t i = 0; i < s->n; i++) {
		int64_t r;
		if (__builtin_add_overflow(s->v[i], v[i], &r)) {
			while (i-- > 0)
				s->v[i] -= v[i];
			return -EOVERFLOW;
		}
		s->v[i] = r;
	}
	s->addends += addends;
	return 0;
}

int fcl_fixsum_add(struct fcl_fixsum *s, const struct fcl_fixsum *t)
{
	if (t->n != s->n || t->frac_bits != s->frac_bits)
		return -EINVAL;
	return fcl_fixsum_add_raw(s, t->v, t->addends);
}

double fcl_fixsum_get(const struct fcl_fixsum *s, size_t i)
{
	return (double)s->v[i] * s->ulp; /* = ldexp(v, -frac_bits): v is 0 or >= 1 in size */
}

void fcl_fixsum_to_float(const struct fcl_fixsum *s, double scale, float *out)
{
	for (size_t i = 0; i < s->n; i++)
		out[i] = (float)(fcl_fixsum_get(s, i) * scale);
}

void fcl_fixsum_to_double(const struct fcl_fixsum *s, double scale, double *out)
{
	for (size_t i = 0; i < s->n; i++)
		out[i] = fcl_fixsum_get(s, i) * scale;
}
