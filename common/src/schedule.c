/* common/src/schedule.c - compile a scenario into tasks, client shards and rounds */
#include "fcl/schedule.h"

#include "fcl/log.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Picks "<dir>/<base>" or "<dir>/<base>.gz", whichever exists. */
static void idx_path(char *out, size_t len, const char *dir, const char *base)
{
	snprintf(out, len, "%s/%s.gz", dir, base);
	if (access(out, R_OK) != 0)
		snprintf(out, len, "%s/%s", dir, base);
}

/* Keeps a seeded random subset of `limit` samples, in their original order. */
static int limit_dataset(struct fcl_dataset *ds, uint32_t limit, uint64_t seed, uint32_t split)
{
	if (limit == 0 || limit >= ds->n)
		return 0;
	uint32_t *ids = malloc((size_t)ds->n * sizeof *ids);
	uint8_t *keep = calloc(ds->n, 1);
	if (!ids || !keep) {
		free(ids);
		free(keep);
		return -ENOMEM;
	}
	struct fcl_rng rng;
	fcl_rng_init(&rng, seed, FCL_RNG_EVAL_SUBSET, split, FCL_RNG_NO_ROUND);
	for (uint32_t i = 0; i < ds->n; i++)
		ids[i] = i;
	fcl_rng_shuffle_u32(&rng, ids, ds->n);
	for (uint32_t i = 0; i < limit; i++)
		keep[ids[i]] = 1;
	uint32_t w = 0;
	for (uint32_t i = 0; i < ds->n; i++) {
		if (!keep[i])
			continue;
		memmove(ds->x + (size_t)w * ds->dim, ds->x + (size_t)i * ds->dim, ds->dim);
		ds->y[w++] = ds->y[i];
	}
	ds->n = limit;
	free(ids);
	free(keep);
	return 0;
}

int fcl_schedule_load_data(const struct fcl_scenario *sc, struct fcl_dataset *train,
			   struct fcl_dataset *test, char *err, size_t errlen)
{
	int rc;

	memset(train, 0, sizeof *train);
	memset(test, 0, sizeof *test);
	if (sc->data.kind == FCL_DATASET_SYNTHETIC) {
		rc = fcl_dataset_synthetic(train, sc->data.synthetic_train, sc->data.synthetic_dim,
					   sc->data.synthetic_classes, sc->seed, 0);
		if (!rc)
			rc = fcl_dataset_synthetic(test, sc->data.synthetic_test,
						   sc->data.synthetic_dim,
						   sc->data.synthetic_classes, sc->seed, 1);
		if (rc)
			snprintf(err, errlen, "synthetic data: %s", strerror(-rc));
	} else {
		char img[FCL_SCENARIO_PATH_MAX + 64], lab[FCL_SCENARIO_PATH_MAX + 64];
		idx_path(img, sizeof img, sc->data.path, "train-images-idx3-ubyte");
		idx_path(lab, sizeof lab, sc->data.path, "train-labels-idx1-ubyte");
		rc = fcl_dataset_load_idx(train, img, lab, err, errlen);
		if (!rc) {
			idx_path(img, sizeof img, sc->data.path, "t10k-images-idx3-ubyte");
			idx_path(lab, sizeof lab, sc->data.path, "t10k-labels-idx1-ubyte");
			rc = fcl_dataset_load_idx(test, img, lab, err, errlen);
		}
		/* Both splits share the label space, even if a split lacks the top class. */
		if (!rc && train->n_classes != test->n_classes)
			train->n_classes = test->n_classes =
			    train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
	}
	if (!rc)
		rc = limit_dataset(train, sc->data.train_limit, sc->seed, 0);
	if (!rc)
		rc = limit_dataset(test, sc->data.test_limit, sc->seed, 1);
	if (rc) {
		fcl_dataset_fini(train);
		fcl_dataset_fini(test);
	}
	return rc;
}

/* ---- tasks ---------------------------------------------------------------- */

static void set_classes(struct fcl_task *task, uint32_t n_classes)
{
	task->n_classes = 0;
	for (uint32_t c = 0; c < n_classes; c++)
		if (task->has_class[c])
			task->classes[task->n_classes++] = c;
}

/* class-incremental, task-incremental, single, permuted and scole. */
static void task_classes(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	uint32_t order[256];
	enum fcl_task_kind kind = sc->tasks.kind;

	for (uint32_t c = 0; c < s->n_classes; c++)
		order[c] = c;
	if (kind == FCL_TASKS_SCOLE) {
		uint32_t pool[256],
		    n_pool = sc->tasks.n_class_pool ? sc->tasks.n_class_pool : s->n_classes;
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			struct fcl_rng rng;
			if (sc->tasks.n_class_pool)
				memcpy(pool, sc->tasks.class_pool, n_pool * sizeof pool[0]);
			else
				memcpy(pool, order, n_pool * sizeof pool[0]);
			fcl_rng_init(&rng, sc->seed, FCL_RNG_SCOLE, FCL_RNG_NO_CLIENT, t);
			/* partial Fisher-Yates: the first classes_per_task of a shuffle */
			for (uint32_t k = 0; k < sc->tasks.classes_per_task; k++) {
				uint32_t j = k + (uint32_t)fcl_rng_below(&rng, n_pool - k);
				uint32_t tmp = pool[k];
				pool[k] = pool[j];
				pool[j] = tmp;
				s->tasks[t].has_class[pool[k]] = 1;
			}
			set_classes(&s->tasks[t], s->n_classes);
		}
		return;
	}
	if (kind != FCL_TASKS_CLASS_INCREMENTAL && kind != FCL_TASKS_TASK_INCREMENTAL) {
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			memset(s->tasks[t].has_class, 1, s->n_classes);
			set_classes(&s->tasks[t], s->n_classes);
		}
		return;
	}
	if (sc->tasks.n_class_order) {
		memcpy(order, sc->tasks.class_order, sc->tasks.n_class_order * sizeof order[0]);
	} else {
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_CLASS_ORDER, FCL_RNG_NO_CLIENT,
			     FCL_RNG_NO_ROUND);
		fcl_rng_shuffle_u32(&rng, order, s->n_classes);
	}
	uint32_t per = sc->tasks.classes_per_task;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		for (uint32_t k = 0; k < per; k++)
			s->tasks[t].has_class[order[t * per + k]] = 1;
		set_classes(&s->tasks[t], s->n_classes);
	}
}

static int task_permutations(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	if (sc->tasks.kind != FCL_TASKS_PERMUTED)
		return 0;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		if (t == 0 && sc->tasks.identity_first)
			continue;
		uint32_t *perm = malloc((size_t)s->dim * sizeof *perm);
		if (!perm)
			return -ENOMEM;
		for (uint32_t k = 0; k < s->dim; k++)
			perm[k] = k;
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_PERMUTATION, FCL_RNG_NO_CLIENT, t);
		fcl_rng_shuffle_u32(&rng, perm, s->dim);
		s->tasks[t].perm = perm;
	}
	return 0;
}

/* Collects the samples of `ids` (n) whose label is in the task, keeping order. */
static uint32_t *select_task_samples(const struct fcl_task *task, const struct fcl_dataset *ds,
				     const uint32_t *ids, uint32_t n, uint32_t *count)
{
	uint32_t *out = malloc((size_t)(n ? n : 1) * sizeof *out);
	*count = 0;
	if (!out)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if (task->has_class[ds->y[ids[i]]])
			out[(*count)++] = ids[i];
	return out;
}

/* Class-based generators: a task's stream is its classes' samples in a seeded order. */
static int task_streams(struct fcl_schedule *s, const struct fcl_scenario *sc,
			const struct fcl_dataset *train, const uint32_t *all)
{
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		struct fcl_task *task = &s->tasks[t];
		struct fcl_rng rng;

		task->train_idx = select_task_samples(task, train, all, train->n, &task->n_train);
		if (!task->train_idx)
			return -ENOMEM;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_STREAM_ORDER, FCL_RNG_NO_CLIENT, t);
		fcl_rng_shuffle_u32(&rng, task->train_idx, task->n_train);
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* cuts[0..T]: 0, T-1 cut points in 0..total-1 (random and sorted, as
 * Si-Blurry's randint with its exclusive bound) or even, then total. */
static void cut_points(struct fcl_rng *rng, int stochastic, uint32_t total, uint32_t T,
		       uint32_t *cuts)
{
	cuts[0] = 0;
	cuts[T] = total;
	for (uint32_t t = 1; t < T; t++)
		cuts[t] = stochastic ? (uint32_t)fcl_rng_below(rng, total)
				     : (uint32_t)((uint64_t)total * t / T);
	qsort(cuts + 1, T - 1, sizeof *cuts, cmp_u32);
}

/* i-Blurry and Si-Blurry, following Si-Blurry's OnlineSampler (see
 * docs/scenarios.md): the same steps in the same order of random calls,
 * drawn from our own seeded stream. i-Blurry uses even cuts instead. */
static int blurry_tasks(struct fcl_schedule *s, const struct fcl_scenario *sc,
			const struct fcl_dataset *train)
{
	const uint32_t T = s->n_tasks, C = s->n_classes, S = train->n;
	const int stochastic = sc->tasks.kind == FCL_TASKS_SI_BLURRY;
	uint32_t D = ((C * sc->tasks.disjoint_pct) / 100) / T * T;
	uint32_t B = (C - D) / T * T;
	uint32_t order[256], cd[257], cb[257], kk[257];
	int32_t home[256]; /* task of each class, -1 unused */
	uint32_t **DI = NULL, **BI = NULL, *nd = NULL, *nbi = NULL, *pool = NULL;
	uint64_t nb = 0;
	struct fcl_rng rng;
	int rc = -ENOMEM;

	if (T > 256)
		return -EINVAL;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_BLURRY, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	for (uint32_t c = 0; c < C; c++)
		order[c] = c;
	fcl_rng_shuffle_u32(&rng, order, C); /* randperm(C) */
	memset(cd, 0, sizeof cd);
	memset(cb, 0, sizeof cb);
	if (D > 0)
		cut_points(&rng, stochastic, D, T, cd);
	if (B > 0)
		cut_points(&rng, stochastic, B, T, cb);
	for (uint32_t c = 0; c < C; c++)
		home[c] = -1;
	for (uint32_t t = 0; t < T; t++) {
		struct fcl_task *task = &s->tasks[t];
		for (uint32_t k = cd[t]; D > 0 && k < cd[t + 1]; k++) {
			home[order[k]] = (int32_t)t;
			task->role[order[k]] = FCL_CLASS_DISJOINT;
			task->has_class[order[k]] = 1;
		}
		for (uint32_t k = cb[t]; B > 0 && k < cb[t + 1]; k++) {
			home[order[D + k]] = (int32_t)t;
			task->role[order[D + k]] = FCL_CLASS_BLURRY;
			task->has_class[order[D + k]] = 1;
		}
		set_classes(task, C);
	}
	DI = calloc(T, sizeof *DI);
	BI = calloc(T, sizeof *BI);
	nd = calloc(T, sizeof *nd);
	nbi = calloc(T, sizeof *nbi);
	if (!DI || !BI || !nd || !nbi)
		goto out;
	for (uint32_t t = 0; t < T; t++) {
		DI[t] = malloc((size_t)(S ? S : 1) * sizeof **DI);
		BI[t] = malloc((size_t)(S ? S : 1) * sizeof **BI);
		if (!DI[t] || !BI[t])
			goto out;
	}
	for (uint32_t i = 0; i < S; i++) { /* dataset order matters */
		uint32_t c = train->y[i];
		if (home[c] < 0)
			continue;
		if (s->tasks[home[c]].role[c] == FCL_CLASS_DISJOINT) {
			DI[home[c]][nd[home[c]]++] = i;
		} else {
			BI[home[c]][nbi[home[c]]++] = i;
			nb++;
		}
	}
	uint32_t K = (uint32_t)(nb * sc->tasks.blurry_pct / 100);
	memset(kk, 0, sizeof kk);
	if (K > 0) {
		uint32_t ck[257], n_pool = 0, head = 0;
		cut_points(&rng, stochastic, K, T, ck);
		pool = malloc((size_t)K * sizeof *pool);
		if (!pool)
			goto out;
		for (uint32_t t = 0; t < T; t++) {
			uint32_t take;
			kk[t] = ck[t + 1] - ck[t];
			take = kk[t] < nbi[t] ? kk[t] : nbi[t]; /* slices clip */
			memcpy(pool + n_pool, BI[t], take * sizeof *pool);
			n_pool += take;
			memmove(BI[t], BI[t] + take, (nbi[t] - take) * sizeof **BI);
			nbi[t] -= take;
		}
		fcl_rng_shuffle_u32(&rng, pool, n_pool); /* pool[randperm(len(pool))] */
		for (uint32_t t = 0; t < T; t++) {
			uint32_t give = kk[t] < n_pool - head ? kk[t] : n_pool - head;
			memcpy(BI[t] + nbi[t], pool + head, give * sizeof *pool);
			nbi[t] += give;
			head += give;
			s->tasks[t].blurry_in = give;
		}
	}
	for (uint32_t t = 0; t < T; t++) {
		struct fcl_task *task = &s->tasks[t];
		task->n_train = nd[t] + nbi[t];
		task->train_idx =
		    malloc((size_t)(task->n_train ? task->n_train : 1) * sizeof *task->train_idx);
		if (!task->train_idx)
			goto out;
		memcpy(task->train_idx, DI[t], nd[t] * sizeof *DI[t]);
		memcpy(task->train_idx + nd[t], BI[t], nbi[t] * sizeof *BI[t]);
		fcl_rng_shuffle_u32(&rng, task->train_idx, task->n_train);
	}
	rc = 0;
out:
	for (uint32_t t = 0; t < T; t++) {
		free(DI ? DI[t] : NULL);
		free(BI ? BI[t] : NULL);
	}
	free(DI);
	free(BI);
	free(nd);
	free(nbi);
	free(pool);
	return rc;
}

/* ---- partitions ------------------------------------------------------------ */

static double uniform01(struct fcl_rng *rng)
{
	return (double)(fcl_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Gamma(a, 1) by Marsaglia and Tsang; a < 1 through Gamma(a + 1) * U^(1/a). */
static double gamma_draw(struct fcl_rng *rng, double a)
{
	if (a < 1.0) {
		double g = gamma_draw(rng, a + 1.0);
		return g * pow(uniform01(rng), 1.0 / a);
	}
	double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = (double)fcl_rng_normal(rng), v = 1.0 + c * x;
		if (v <= 0.0)
			continue;
		v = v * v * v;
		double u = uniform01(rng);
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
	for (uint32_t i = 0; i < n; i++)
		start[train->y[i] + 1]++;
	for (uint32_t k = 0; k < K; k++) {
		prior[k] = (double)start[k + 1] * K / (n ? n : 1) * sc->clients.alpha;
		start[k + 1] += start[k];
	}
	memcpy(next, start, K * sizeof next[0]);
	for (uint32_t i = 0; i < n; i++)
		by_class[next[train->y[i]]++] = i;
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
			const double *qc = q + (size_t)c * K;
			double total = 0.0, u, acc = 0.0;
			uint32_t k, last = K;

			if (got[c] >= size[c])
				continue;
			for (k = 0; k < K; k++)
				if (next[k] < start[k + 1]) {
					total += qc[k];
					last = k;
				}
			FCL_ASSERT(last < K);
			u = uniform01(&rng) * total;
			for (k = 0; k < K; k++) {
				if (next[k] >= start[k + 1])
					continue;
				acc += qc[k];
				if (u < acc)
					break;
			}
			if (k == K ||
			    total <= 0.0) /* rounding, or a mix without the classes left */
				k = total <= 0.0 ? (uint32_t)fcl_rng_below(&rng, K) : last;
			while (next[k] >= start[k + 1]) /* only when total == 0 */
				k = (k + 1) % K;
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

/* owner[i]: the client holding training sample i. */
static int partition(const struct fcl_scenario *sc, const struct fcl_dataset *train, uint32_t N,
		     uint32_t *owner)
{
	uint32_t n = train->n;
	uint32_t *ids;
	uint64_t *bound;
	struct fcl_rng rng;

	if (sc->clients.partition == FCL_PARTITION_DIRICHLET)
		return partition_dirichlet(sc, train, N, train->n_classes, owner);
	if (sc->clients.partition == FCL_PARTITION_SHARDS)
		return partition_shards(sc, train, N, owner);
	ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
	bound = malloc(((size_t)N + 1) * sizeof *bound);
	if (!ids || !bound) {
		free(ids);
		free(bound);
		return -ENOMEM;
	}
	/* IID: one seeded shuffle, cut into contiguous pieces. */
	for (uint32_t i = 0; i < n; i++)
		ids[i] = i;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_PARTITION, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_rng_shuffle_u32(&rng, ids, n);
	for (uint32_t c = 0; c <= N; c++)
		bound[c] = (uint64_t)n * c / N;
	if (sc->clients.partition == FCL_PARTITION_QUANTITY) {
		/* client sizes ~ n * Dir(alpha, ..., alpha) */
		double *q = calloc(N, sizeof *q), *alpha = calloc(N, sizeof *q);
		double acc = 0.0;
		if (!q || !alpha) {
			free(q);
			free(alpha);
			free(ids);
			free(bound);
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
	}
	owner_from_bounds(ids, bound, N, owner);
	free(ids);
	free(bound);
	return 0;
}

/* ---- time ------------------------------------------------------------------ */

/* The group client c belongs to, or NULL. */
static const struct fcl_client_group *group_of(const struct fcl_scenario *sc, uint32_t c)
{
	for (uint32_t g = 0; g < sc->timeline.n_groups; g++)
		if (sc->timeline.groups[g].lo <= c && c <= sc->timeline.groups[g].hi)
			return &sc->timeline.groups[g];
	return NULL;
}

/* The client's timeline: explicit segments, or its task order laid on the
 * clock; its group (if any) overrides order, offset, join, leave and
 * participation. */
static int plan_client(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c)
{
	struct fcl_client_plan *p = &s->plans[c];
	const struct fcl_client_group *grp = group_of(sc, c);
	const uint32_t rpt = s->rounds_per_task;
	enum fcl_order_kind order = sc->timeline.order;
	const uint32_t *list = sc->timeline.order_list;
	uint32_t n_list = sc->timeline.n_order, max_offset = sc->timeline.offset, n = 0;

	p->join = sc->timeline.join;
	p->leave = sc->timeline.leave;
	p->participation = sc->timeline.participation;
	if (grp) {
		if (grp->order != FCL_ORDER_INHERIT) {
			order = grp->order;
			list = grp->order_list;
			n_list = grp->n_order;
		}
		max_offset = grp->offset != UINT32_MAX ? grp->offset : max_offset;
		p->join = grp->join != UINT32_MAX ? grp->join : p->join;
		p->leave = grp->leave != UINT32_MAX ? grp->leave : p->leave;
		p->participation =
		    grp->participation >= 0.0 ? grp->participation : p->participation;
	}
	for (uint32_t g = 0; g < sc->timeline.n_segments; g++)
		n += sc->timeline.segments[g].lo <= c && c <= sc->timeline.segments[g].hi;
	if (n) {
		p->entries = malloc(n * sizeof *p->entries);
		if (!p->entries)
			return -ENOMEM;
		for (uint32_t g = 0; g < sc->timeline.n_segments; g++) {
			const struct fcl_segment *seg = &sc->timeline.segments[g];
			if (seg->lo <= c && c <= seg->hi)
				p->entries[p->n_entries++] =
				    (struct fcl_entry){seg->task, seg->start, seg->end};
		}
		/* insertion sort by start (they do not overlap) */
		for (uint32_t i = 1; i < n; i++)
			for (uint32_t j = i; j > 0 && p->entries[j].start < p->entries[j - 1].start;
			     j--) {
				struct fcl_entry t = p->entries[j];
				p->entries[j] = p->entries[j - 1];
				p->entries[j - 1] = t;
			}
		return 0;
	}
	n = order == FCL_ORDER_EXPLICIT ? n_list : s->n_tasks;
	p->entries = malloc(n * sizeof *p->entries);
	if (!p->entries)
		return -ENOMEM;
	p->n_entries = n;
	for (uint32_t k = 0; k < n; k++)
		p->entries[k].task = order == FCL_ORDER_EXPLICIT ? list[k] : k;
	if (order == FCL_ORDER_SHUFFLED) {
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_TASK_ORDER, c, FCL_RNG_NO_ROUND);
		for (uint32_t k = n; k > 1; k--) { /* Fisher-Yates over the entries */
			uint32_t j = (uint32_t)fcl_rng_below(&rng, k);
			uint32_t t = p->entries[k - 1].task;
			p->entries[k - 1].task = p->entries[j].task;
			p->entries[j].task = t;
		}
	}
	struct fcl_rng rng;
	uint32_t offset = 0;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_ARRIVAL, c, FCL_RNG_NO_ROUND);
	if (max_offset)
		offset = (uint32_t)fcl_rng_below(&rng, (uint64_t)max_offset + 1);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t jit = 0;
		if (k > 0 && sc->timeline.jitter)
			jit = (uint32_t)fcl_rng_below(&rng, (uint64_t)sc->timeline.jitter + 1);
		p->entries[k].start = offset + k * rpt + jit;
		if (k > 0)
			p->entries[k - 1].end = p->entries[k].start;
	}
	p->entries[n - 1].end = offset + n * rpt;
	return 0;
}

/* Which entry of the plan covers round r, or -1. */
static int32_t entry_of(const struct fcl_client_plan *p, uint32_t r)
{
	uint32_t lo = 0, hi = p->n_entries;
	while (lo < hi) { /* first entry with end > r */
		uint32_t mid = (lo + hi) / 2;
		if (p->entries[mid].end <= r)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n_entries && p->entries[lo].start <= r ? (int32_t)lo : -1;
}

/* The round's own samples (no recurrence): a slice of idx in *lo..*hi. */
static void round_slice(const struct fcl_schedule *s, const struct fcl_entry *e, uint32_t n,
			uint32_t r, uint32_t *lo, uint32_t *hi)
{
	uint32_t j = r - e->start, R = e->end - e->start;

	if (!s->online) {
		*lo = 0;
		*hi = n;
	} else if (s->samples_per_round) {
		uint64_t a = (uint64_t)j * s->samples_per_round;
		*lo = a < n ? (uint32_t)a : n;
		*hi = a + s->samples_per_round < n ? (uint32_t)(a + s->samples_per_round) : n;
	} else {
		*lo = (uint32_t)((uint64_t)n * j / R);
		*hi = (uint32_t)((uint64_t)n * (j + 1) / R);
	}
}

/* Power-law recurrence: each round, round(budget * n) extra samples from the
 * client's old tasks, task i drawn with weight (lag_i + offset)^-exponent. */
static int plan_recurrence(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c)
{
	struct fcl_client_plan *p = &s->plans[c];
	const uint32_t T = s->n_tasks;
	uint32_t *intro = NULL, *last = NULL, *cand = NULL, cap = 0, used = 0;
	double *w = NULL;
	int rc = -ENOMEM;

	p->rec_off = calloc((size_t)s->n_rounds + 1, sizeof *p->rec_off);
	intro = malloc(T * sizeof *intro);
	last = malloc(T * sizeof *last);
	cand = malloc(T * sizeof *cand);
	w = malloc(T * sizeof *w);
	if (!p->rec_off || !intro || !last || !cand || !w)
		goto out;
	for (uint32_t t = 0; t < T; t++)
		intro[t] = last[t] = UINT32_MAX;
	for (uint32_t r = 0; r < s->n_rounds; r++) {
		int32_t e = entry_of(p, r);
		uint32_t lo = 0, hi = 0, n_cand = 0, want;
		double total = 0.0;

		p->rec_off[r] = used;
		if (e < 0)
			continue;
		uint32_t task = p->entries[e].task;
		uint32_t n = s->client_task_n[(size_t)c * T + task];
		round_slice(s, &p->entries[e], n, r, &lo, &hi);
		if (intro[task] == UINT32_MAX)
			intro[task] = r;
		if (hi > lo)
			last[task] = r;
		for (uint32_t t = 0; t < T; t++) {
			uint32_t ref = sc->recurrence.lag_from_introduction ? intro[t] : last[t];
			if (t == task || ref == UINT32_MAX || ref >= r ||
			    !s->client_task_n[(size_t)c * T + t])
				continue;
			w[n_cand] = pow((double)(r - ref) + sc->recurrence.offset,
					-sc->recurrence.exponent);
			total += w[n_cand];
			cand[n_cand++] = t;
		}
		want = (uint32_t)llround(sc->recurrence.budget * (double)(hi - lo));
		if (!n_cand || !want || total <= 0.0)
			continue;
		if (used + want > cap) {
			uint32_t ncap = (used + want) * 2 + 64;
			uint32_t *a = realloc(p->rec_idx, ncap * sizeof *a);
			if (!a)
				goto out;
			p->rec_idx = a;
			a = realloc(p->rec_task, ncap * sizeof *a);
			if (!a)
				goto out;
			p->rec_task = a;
			cap = ncap;
		}
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_RECURRENCE, c, r);
		for (uint32_t k = 0; k < want; k++) {
			double u = uniform01(&rng) * total, acc = 0.0;
			uint32_t i = 0;
			for (; i + 1 < n_cand; i++) {
				acc += w[i];
				if (u < acc)
					break;
			}
			uint32_t t = cand[i];
			size_t ct = (size_t)c * T + t;
			p->rec_task[used] = t;
			p->rec_idx[used++] =
			    s->client_task_idx[ct][fcl_rng_below(&rng, s->client_task_n[ct])];
			last[t] = r;
		}
	}
	p->rec_off[s->n_rounds] = used;
	rc = 0;
out:
	free(intro);
	free(last);
	free(cand);
	free(w);
	return rc;
}

/* ---- compile --------------------------------------------------------------- */

int fcl_schedule_compile(struct fcl_schedule *s, const struct fcl_scenario *sc,
			 const struct fcl_dataset *train, const struct fcl_dataset *test)
{
	uint32_t *all = NULL, *owner = NULL;
	int rc = -ENOMEM;

	memset(s, 0, sizeof *s);
	if (train->dim != test->dim || train->n_classes > 256 || sc->tasks.count == 0)
		return -EINVAL;
	s->n_tasks = sc->tasks.count;
	s->rounds_per_task = sc->tasks.rounds_per_task;
	s->n_clients = sc->clients.count;
	s->per_round = sc->clients.per_round;
	s->dim = train->dim;
	s->n_classes = train->n_classes;
	s->in_phase = fcl_scenario_in_phase(sc);
	s->online = sc->timeline.online;
	s->task_incremental = sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL;
	s->samples_per_round = sc->timeline.samples_per_round;
	s->local_epochs = sc->train.local_epochs;
	s->join = sc->timeline.join;
	s->leave = sc->timeline.leave;
	s->participation = sc->timeline.participation;
	if (sc->clients.partition == FCL_PARTITION_SHARDS &&
	    (uint64_t)s->n_clients * sc->clients.shards_per_client > train->n)
		return -EINVAL;
	s->tasks = calloc(s->n_tasks, sizeof *s->tasks);
	s->client_task_idx = calloc((size_t)s->n_clients * s->n_tasks, sizeof(uint32_t *));
	s->client_task_n = calloc((size_t)s->n_clients * s->n_tasks, sizeof(uint32_t));
	s->plans = calloc(s->n_clients, sizeof *s->plans);
	all = malloc((size_t)(test->n > train->n ? test->n : train->n) * sizeof *all + 1);
	owner = malloc((size_t)train->n * sizeof *owner + 1);
	if (!s->tasks || !s->client_task_idx || !s->client_task_n || !s->plans || !all || !owner)
		goto err;

	/* tasks: classes, permutations, training streams */
	for (uint32_t i = 0; i < train->n; i++)
		all[i] = i;
	if (sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY) {
		rc = blurry_tasks(s, sc, train);
	} else {
		task_classes(s, sc);
		rc = task_streams(s, sc, train, all);
	}
	if (rc || (rc = task_permutations(s, sc)) != 0)
		goto err;
	rc = -ENOMEM;
	for (uint32_t i = 0; i < test->n; i++)
		all[i] = i;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		s->tasks[t].test_idx =
		    select_task_samples(&s->tasks[t], test, all, test->n, &s->tasks[t].n_test);
		if (!s->tasks[t].test_idx)
			goto err;
	}

	/* clients: who holds which sample; each client's part of each task's stream */
	if ((rc = partition(sc, train, s->n_clients, owner)) != 0)
		goto err;
	rc = -ENOMEM;
	uint32_t *count = calloc(s->n_clients, sizeof *count);
	if (!count)
		goto err;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		const struct fcl_task *task = &s->tasks[t];
		memset(count, 0, s->n_clients * sizeof *count);
		for (uint32_t i = 0; i < task->n_train; i++)
			count[owner[task->train_idx[i]]]++;
		for (uint32_t c = 0; c < s->n_clients; c++) {
			size_t k = (size_t)c * s->n_tasks + t;
			s->client_task_idx[k] =
			    malloc((size_t)(count[c] ? count[c] : 1) * sizeof(uint32_t));
			if (!s->client_task_idx[k]) {
				free(count);
				goto err;
			}
		}
		for (uint32_t i = 0; i < task->n_train; i++) {
			uint32_t c = owner[task->train_idx[i]];
			size_t k = (size_t)c * s->n_tasks + t;
			s->client_task_idx[k][s->client_task_n[k]++] = task->train_idx[i];
		}
	}
	free(count);

	/* time */
	for (uint32_t c = 0; c < s->n_clients; c++) {
		if ((rc = plan_client(s, sc, c)) != 0)
			goto err;
		const struct fcl_client_plan *p = &s->plans[c];
		if (p->n_entries && p->entries[p->n_entries - 1].end > s->n_rounds)
			s->n_rounds = p->entries[p->n_entries - 1].end;
	}
	if (s->leave && s->leave < s->n_rounds)
		s->n_rounds = s->leave;
	if (s->n_rounds == 0)
		s->n_rounds = 1;
	s->n_global = sc->timeline.order == FCL_ORDER_EXPLICIT ? sc->timeline.n_order : s->n_tasks;
	s->global_order = malloc(s->n_global * sizeof *s->global_order);
	rc = -ENOMEM;
	if (!s->global_order)
		goto err;
	for (uint32_t k = 0; k < s->n_global; k++)
		s->global_order[k] =
		    sc->timeline.order == FCL_ORDER_EXPLICIT ? sc->timeline.order_list[k] : k;
	if (sc->recurrence.kind == FCL_RECURRENCE_POWER_LAW)
		for (uint32_t c = 0; c < s->n_clients; c++)
			if ((rc = plan_recurrence(s, sc, c)) != 0)
				goto err;
	free(all);
	free(owner);
	return 0;
err:
	free(all);
	free(owner);
	fcl_schedule_fini(s);
	return rc;
}

void fcl_schedule_fini(struct fcl_schedule *s)
{
	if (s->tasks)
		for (uint32_t t = 0; t < s->n_tasks; t++) {
			free(s->tasks[t].perm);
			free(s->tasks[t].test_idx);
			free(s->tasks[t].train_idx);
		}
	if (s->client_task_idx)
		for (size_t k = 0; k < (size_t)s->n_clients * s->n_tasks; k++)
			free(s->client_task_idx[k]);
	if (s->plans)
		for (uint32_t c = 0; c < s->n_clients; c++) {
			free(s->plans[c].entries);
			free(s->plans[c].rec_off);
			free(s->plans[c].rec_idx);
			free(s->plans[c].rec_task);
		}
	free(s->plans);
	free(s->global_order);
	free(s->tasks);
	free(s->client_task_idx);
	free(s->client_task_n);
	memset(s, 0, sizeof *s);
}

/* ---- queries --------------------------------------------------------------- */

uint32_t fcl_schedule_task_of_round(const struct fcl_schedule *s, uint32_t round)
{
	uint32_t k = round / s->rounds_per_task;
	if (!s->global_order || !s->n_global) /* not compiled by fcl_schedule_compile */
		return k < s->n_tasks ? k : s->n_tasks - 1;
	return s->global_order[k < s->n_global ? k : s->n_global - 1];
}

int fcl_schedule_is_task_end(const struct fcl_schedule *s, uint32_t round)
{
	return (round + 1) % s->rounds_per_task == 0;
}

void fcl_schedule_client_round(const struct fcl_schedule *s, uint32_t client, uint32_t round,
			       struct fcl_client_round *out)
{
	const struct fcl_client_plan *p;
	int32_t e;
	uint32_t lo = 0, hi = 0;

	memset(out, 0, sizeof *out);
	out->task = -1;
	if (client >= s->n_clients || round >= s->n_rounds)
		return;
	p = &s->plans[client];
	if (round < p->join || (p->leave && round >= p->leave))
		return;
	if ((e = entry_of(p, round)) < 0)
		return;
	uint32_t task = p->entries[e].task;
	size_t k = (size_t)client * s->n_tasks + task;
	round_slice(s, &p->entries[e], s->client_task_n[k], round, &lo, &hi);
	if (p->rec_off) {
		out->n_rec = p->rec_off[round + 1] - p->rec_off[round];
		out->rec_idx = p->rec_idx ? p->rec_idx + p->rec_off[round] : NULL;
		out->rec_task = p->rec_task ? p->rec_task + p->rec_off[round] : NULL;
	}
	if (hi == lo && out->n_rec == 0)
		return;
	out->task = (int32_t)task;
	out->entry = (uint32_t)e;
	out->idx = s->client_task_idx[k] + lo;
	out->n = hi - lo;
	out->epochs = s->online ? 1 : s->local_epochs;
}

int fcl_schedule_available(const struct fcl_schedule *s, uint64_t seed, uint32_t client,
			   uint32_t round)
{
	struct fcl_client_round cr;
	struct fcl_rng rng;

	fcl_schedule_client_round(s, client, round, &cr);
	if (cr.task < 0)
		return 0;
	if (s->plans[client].participation >= 1.0)
		return 1;
	fcl_rng_init(&rng, seed, FCL_RNG_AVAILABILITY, client, round);
	return (double)(fcl_rng_next(&rng) >> 11) * 0x1.0p-53 < s->plans[client].participation;
}

uint32_t fcl_schedule_participants(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
				   uint32_t *out)
{
	uint32_t n = 0;
	uint32_t *ids = malloc((size_t)s->n_clients * sizeof *ids);
	FCL_ASSERT(ids != NULL);
	for (uint32_t c = 0; c < s->n_clients; c++)
		if (fcl_schedule_available(s, seed, c, round))
			ids[n++] = c;
	if (n <= s->per_round) {
		memcpy(out, ids, n * sizeof *ids);
		free(ids);
		return n;
	}
	/* Partial Fisher-Yates: the first per_round slots of a seeded shuffle of
	 * the available clients, then sorted, so aggregation runs in client-id order. */
	struct fcl_rng rng;
	fcl_rng_init(&rng, seed, FCL_RNG_PARTICIPANTS, FCL_RNG_NO_CLIENT, round);
	for (uint32_t i = 0; i < s->per_round; i++) {
		uint32_t j = i + (uint32_t)fcl_rng_below(&rng, n - i);
		uint32_t t = ids[i];
		ids[i] = ids[j];
		ids[j] = t;
	}
	qsort(ids, s->per_round, sizeof *ids, cmp_u32);
	memcpy(out, ids, s->per_round * sizeof *ids);
	free(ids);
	return s->per_round;
}

/* FNV-1a 64, continued from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t fcl_schedule_digest(const struct fcl_schedule *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint32_t head[6] = {s->n_tasks,   s->n_rounds, s->n_clients,
			    s->per_round, s->dim,      s->n_classes};

	h = fnv(h, head, sizeof head);
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		const struct fcl_task *k = &s->tasks[t];
		h = fnv(h, k->has_class, sizeof k->has_class);
		h = fnv(h, k->role, sizeof k->role);
		h = fnv(h, k->train_idx, (size_t)k->n_train * sizeof *k->train_idx);
		h = fnv(h, k->test_idx, (size_t)k->n_test * sizeof *k->test_idx);
		if (k->perm)
			h = fnv(h, k->perm, (size_t)s->dim * sizeof *k->perm);
	}
	for (size_t k = 0; k < (size_t)s->n_clients * s->n_tasks; k++)
		h = fnv(h, s->client_task_idx[k], (size_t)s->client_task_n[k] * sizeof(uint32_t));
	for (uint32_t c = 0; c < s->n_clients; c++) {
		const struct fcl_client_plan *p = &s->plans[c];
		uint32_t pres[2] = {p->join, p->leave};
		h = fnv(h, p->entries, (size_t)p->n_entries * sizeof *p->entries);
		h = fnv(h, pres, sizeof pres);
		h = fnv(h, &p->participation, sizeof p->participation);
		if (p->rec_off) {
			h = fnv(h, p->rec_off, ((size_t)s->n_rounds + 1) * sizeof *p->rec_off);
			h = fnv(h, p->rec_idx, (size_t)p->rec_off[s->n_rounds] * sizeof(uint32_t));
			h = fnv(h, p->rec_task, (size_t)p->rec_off[s->n_rounds] * sizeof(uint32_t));
		}
	}
	return h;
}
