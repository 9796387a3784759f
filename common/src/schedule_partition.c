/* common/src/schedule_partition.c - which client holds which training sample
 *
 * iid, dirichlet (Hsu et al. 2019), shards (McMahan et al.) and
 * quantity-skew; see docs/scenarios.md. Each draws from its own stream
 * seeded by (seed, FCL_RNG_PARTITION, round 1, 2, 3 or none).
 */
#include "schedule-private.h"

#include "fcl/log.h"
#include "fcl/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gamma(a, 1) by Marsaglia and Tsang; a < 1 through Gamma(a + 1) * U^(1/a). */
static double gamma_draw(struct fcl_rng *rng, double a)
{
	if (a < 1.0) {
		double g = gamma_draw(rng, a + 1.0);
		return g * pow(fcl__schedule_uniform01(rng), 1.0 / a);
	}
	double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = (double)fcl_rng_normal(rng), v = 1.0 + c * x;
		if (v <= 0.0)
			continue;
		v = v * v * v;
		double u = fcl__schedule_uniform01(rng);
		if (u > 0.0 && log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

/* q ~ Dirichlet(alpha[0..k)); falls back to a random vertex when every draw underflows. */
static void dirichlet_draw(struct fcl_rng *rng, const double *alpha, uint32_t k, double *q)
{
	double sum = 0.0;

	for (uint32_t i = 0; i < k; i++)
		sum += q[i] = alpha[i] > 0.0 ? gamma_draw(rng, alpha[i]) : 0.0;
	if (sum > 0.0 && isfinite(sum)) {
		for (uint32_t i = 0; i < k; i++)
			q[i] /= sum;
		return;
	}
	uint32_t pick = (uint32_t)fcl_rng_below(rng, k);
	for (uint32_t i = 0; i < k; i++)
		q[i] = i == pick ? 1.0 : 0.0;
}

/* Cuts the shuffled ids into clients of the given cumulative bounds. */
static void owner_from_bounds(const uint32_t *ids, const uint64_t *bound, uint32_t n_clients,
			      uint32_t *owner)
{
	for (uint32_t c = 0; c < n_clients; c++)
		for (uint64_t i = bound[c]; i < bound[c + 1]; i++)
			owner[ids[i]] = c;
}

/* ---- dirichlet ------------------------------------------------------------- */

/* by_class: the sample ids grouped by class, class k in start[k] ..
 * start[k+1]; prior[k] = alpha * K * (share of class k). */
static void group_by_class(const struct fcl_scenario *sc, const struct fcl_dataset *train,
			   uint32_t K, uint32_t *by_class, uint32_t *start, double *prior)
{
	uint32_t n = train->n, next[256];

	for (uint32_t i = 0; i < n; i++)
		start[train->y[i] + 1]++;
	for (uint32_t k = 0; k < K; k++) {
		prior[k] = (double)start[k + 1] * K / (n ? n : 1) * sc->clients.alpha;
		start[k + 1] += start[k];
	}
	memcpy(next, start, K * sizeof next[0]);
	for (uint32_t i = 0; i < n; i++)
		by_class[next[train->y[i]]++] = i;
}

/* A class for one draw from the mix qc, renormalised over the classes with
 * samples left (next[k] < start[k + 1]); at least one has some. */
static uint32_t pick_class(struct fcl_rng *rng, const double *qc, uint32_t K, const uint32_t *next,
			   const uint32_t *start)
{
	double total = 0.0, u, acc = 0.0;
	uint32_t k, last = K;

	for (k = 0; k < K; k++)
		if (next[k] < start[k + 1]) {
			total += qc[k];
			last = k;
		}
	FCL_ASSERT(last < K);
	u = fcl__schedule_uniform01(rng) * total;
	for (k = 0; k < K; k++) {
		if (next[k] >= start[k + 1])
			continue;
		acc += qc[k];
		if (u < acc)
			break;
	}
	if (k == K || total <= 0.0) /* rounding, or a mix without the classes left */
		k = total <= 0.0 ? (uint32_t)fcl_rng_below(rng, K) : last;
	while (next[k] >= start[k + 1]) /* only when total == 0 */
		k = (k + 1) % K;
	return k;
}

/* Hsu et al. 2019: client c draws a label mix q_c ~ Dir(alpha * K * p), p the
 * global label mix, then the clients take turns drawing one sample each of a
 * class from their mix (renormalised over classes with samples left). */
static int partition_dirichlet(const struct fcl_scenario *sc, const struct fcl_dataset *train,
			       uint32_t N, uint32_t K, uint32_t *owner)
{
	uint32_t n = train->n, *by_class = NULL, start[257] = {0}, next[256];
	double *q = NULL, prior[256];
	uint64_t *size = NULL, *got = NULL;
	struct fcl_rng rng;
	int rc = -ENOMEM;

	by_class = malloc((size_t)(n ? n : 1) * sizeof *by_class);
	q = malloc((size_t)N * K * sizeof *q);
	size = calloc(N, sizeof *size);
	got = calloc(N, sizeof *got);
	if (!by_class || !q || !size || !got)
		goto out;
	group_by_class(sc, train, K, by_class, start, prior);
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, 1);
	for (uint32_t k = 0; k < K; k++) /* each class's samples in a seeded order */
		fcl_rng_shuffle_u32(&rng, by_class + start[k], start[k + 1] - start[k]);
	for (uint32_t c = 0; c < N; c++) {
		dirichlet_draw(&rng, prior, K, q + (size_t)c * K);
		size[c] = (uint64_t)n * (c + 1) / N - (uint64_t)n * c / N;
	}
	memcpy(next, start, K * sizeof next[0]);
	for (uint32_t assigned = 0; assigned < n;) {
		for (uint32_t c = 0; c < N && assigned < n; c++) {
			if (got[c] >= size[c])
				continue;
			uint32_t k = pick_class(&rng, q + (size_t)c * K, K, next, start);
			owner[by_class[next[k]++]] = c;
			got[c]++;
			assigned++;
		}
	}
	rc = 0;
out:
	free(by_class);
	free(q);
	free(size);
	free(got);
	return rc;
}

/* ---- shards, iid, quantity-skew -------------------------------------------- */

/* McMahan et al.: sort by label, cut into N * k shards, k random shards per client. */
static int partition_shards(const struct fcl_scenario *sc, const struct fcl_dataset *train,
			    uint32_t N, uint32_t *owner)
{
	uint32_t n = train->n, k = sc->clients.shards_per_client, start[257] = {0}, next[256];
	uint64_t n_shards = (uint64_t)N * k;
	uint32_t *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
	uint32_t *shard = malloc((size_t)n_shards * sizeof *shard);
	struct fcl_rng rng;

	if (!sorted || !shard) {
		free(sorted);
		free(shard);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		start[train->y[i] + 1]++;
	for (uint32_t c = 0; c < train->n_classes; c++)
		start[c + 1] += start[c];
	memcpy(next, start, sizeof next);
	for (uint32_t i = 0; i < n; i++) /* stable: by label, then id */
		sorted[next[train->y[i]]++] = i;
	for (uint32_t i = 0; i < n_shards; i++)
		shard[i] = i;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, 2);
	fcl_rng_shuffle_u32(&rng, shard, n_shards);
	for (uint64_t j = 0; j < n_shards; j++) {
		uint32_t c = (uint32_t)(j / k), sh = shard[j];
		uint64_t lo = (uint64_t)n * sh / n_shards, hi = (uint64_t)n * (sh + 1) / n_shards;
		for (uint64_t i = lo; i < hi; i++)
			owner[sorted[i]] = c;
	}
	free(sorted);
	free(shard);
	return 0;
}

/* Quantity skew: client sizes ~ n * Dir(alpha, ..., alpha), as cumulative
 * bounds (bound[N] = n). */
static int quantity_bounds(const struct fcl_scenario *sc, uint32_t n, uint32_t N, uint64_t *bound)
{
	double *q = calloc(N, sizeof *q), *alpha = calloc(N, sizeof *q);
	double acc = 0.0;
	struct fcl_rng rng;

	if (!q || !alpha) {
		free(q);
		free(alpha);
		return -ENOMEM;
	}
	for (uint32_t c = 0; c < N; c++)
		alpha[c] = sc->clients.alpha;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, 3);
	dirichlet_draw(&rng, alpha, N, q);
	for (uint32_t c = 0; c < N; c++) {
		bound[c] = (uint64_t)llround(acc * n);
		acc += q[c];
	}
	bound[N] = n;
	for (uint32_t c = 1; c <= N; c++)
		if (bound[c] < bound[c - 1])
			bound[c] = bound[c - 1];
	free(q);
	free(alpha);
	return 0;
}

/* IID: one seeded shuffle, cut into contiguous pieces (even, or of
 * quantity-skewed sizes). */
static int partition_iid(const struct fcl_scenario *sc, const struct fcl_dataset *train, uint32_t N,
			 uint32_t *owner)
{
	uint32_t n = train->n;
	uint32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
	uint64_t *bound = malloc(((size_t)N + 1) * sizeof *bound);
	struct fcl_rng rng;
	int rc = 0;

	if (!ids || !bound) {
		free(ids);
		free(bound);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		ids[i] = i;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_rng_shuffle_u32(&rng, ids, n);
	for (uint32_t c = 0; c <= N; c++)
		bound[c] = (uint64_t)n * c / N;
	if (sc->clients.partition == FCL_PARTITION_QUANTITY)
		rc = quantity_bounds(sc, n, N, bound);
	if (!rc)
		owner_from_bounds(ids, bound, N, owner);
	free(ids);
	free(bound);
	return rc;
}

int fcl__schedule_partition(const struct fcl_scenario *sc, const struct fcl_dataset *train,
			    uint32_t N, uint32_t *owner)
{
	if (sc->clients.partition == FCL_PARTITION_DIRICHLET)
		return partition_dirichlet(sc, train, N, train->n_classes, owner);
	if (sc->clients.partition == FCL_PARTITION_SHARDS)
		return partition_shards(sc, train, N, owner);
	return partition_iid(sc, train, N, owner);
}
