/* common/src/schedule_tasks.c - the task generators: class sets, permutations, streams
 *
 * class-incremental, task-incremental, single, permuted and SCoLe give each
 * task a class set and stream its classes' samples in a seeded order;
 * i-Blurry and Si-Blurry follow Si-Blurry's OnlineSampler. See
 * docs/scenarios.md.
 */
#include "schedule-private.h"

#include "fcl/scenario.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void set_classes(struct fcl_task *task, uint32_t n_classes)
{
	task->n_classes = 0;
	for (uint32_t c = 0; c < n_classes; c++)
		if (task->has_class[c])
			task->classes[task->n_classes++] = c;
}

/* SCoLe: each task draws classes_per_task classes of the pool (every class
 * when there is no pool) from its own seeded stream. */
static void scole_classes(struct fcl_schedule *s, const struct fcl_scenario *sc,
			  const uint32_t *order)
{
	uint32_t pool[256], n_pool = sc->tasks.n_class_pool ? sc->tasks.n_class_pool : s->n_classes;

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
}

/* class-incremental, task-incremental, single, permuted and scole. */
static void task_classes(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	uint32_t order[256];
	enum fcl_task_kind kind = sc->tasks.kind;

	for (uint32_t c = 0; c < s->n_classes; c++)
		order[c] = c;
	if (kind == FCL_TASKS_SCOLE) {
		scole_classes(s, sc, order);
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

/* ---- i-Blurry and Si-Blurry ------------------------------------------------ */

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
	qsort(cuts + 1, T - 1, sizeof *cuts, fcl__schedule_cmp_u32);
}

/* The sampler's state between its steps. */
struct blurry {
	uint32_t T, C, D, B; /* tasks, classes, disjoint classes, blurry classes */
	int stochastic;      /* Si-Blurry: random cuts */
	int32_t home[256];   /* task of each class, -1 unused */
	uint32_t **DI, **BI; /* (T) each task's disjoint and blurry samples */
	uint32_t *nd, *nbi;  /* (T) how many of each */
	uint64_t nb;         /* blurry samples in all */
};

/* randperm(C), then the first D classes cut into T disjoint sets and the
 * next B into T blurry ones. */
static void blurry_classes(struct fcl_schedule *s, struct blurry *b, struct fcl_rng *rng)
{
	const uint32_t T = b->T, C = b->C, D = b->D, B = b->B;
	uint32_t order[256], cd[257], cb[257];

	for (uint32_t c = 0; c < C; c++)
		order[c] = c;
	fcl_rng_shuffle_u32(rng, order, C); /* randperm(C) */
	memset(cd, 0, sizeof cd);
	memset(cb, 0, sizeof cb);
	if (D > 0)
		cut_points(rng, b->stochastic, D, T, cd);
	if (B > 0)
		cut_points(rng, b->stochastic, B, T, cb);
	for (uint32_t c = 0; c < C; c++)
		b->home[c] = -1;
	for (uint32_t t = 0; t < T; t++) {
		struct fcl_task *task = &s->tasks[t];
		for (uint32_t k = cd[t]; D > 0 && k < cd[t + 1]; k++) {
			b->home[order[k]] = (int32_t)t;
			task->role[order[k]] = FCL_CLASS_DISJOINT;
			task->has_class[order[k]] = 1;
		}
		for (uint32_t k = cb[t]; B > 0 && k < cb[t + 1]; k++) {
			b->home[order[D + k]] = (int32_t)t;
			task->role[order[D + k]] = FCL_CLASS_BLURRY;
			task->has_class[order[D + k]] = 1;
		}
		set_classes(task, C);
	}
}

/* Room for every sample (S of them) in each task's lists. */
static int blurry_alloc(struct blurry *b, uint32_t S)
{
	b->DI = calloc(b->T, sizeof *b->DI);
	b->BI = calloc(b->T, sizeof *b->BI);
	b->nd = calloc(b->T, sizeof *b->nd);
	b->nbi = calloc(b->T, sizeof *b->nbi);
	if (!b->DI || !b->BI || !b->nd || !b->nbi)
		return -ENOMEM;
	for (uint32_t t = 0; t < b->T; t++) {
		b->DI[t] = malloc((size_t)(S ? S : 1) * sizeof **b->DI);
		b->BI[t] = malloc((size_t)(S ? S : 1) * sizeof **b->BI);
		if (!b->DI[t] || !b->BI[t])
			return -ENOMEM;
	}
	return 0;
}

/* Each sample of a used class goes to its class's task, in dataset order. */
static void blurry_samples(const struct fcl_schedule *s, struct blurry *b,
			   const struct fcl_dataset *train)
{
	for (uint32_t i = 0; i < train->n; i++) { /* dataset order matters */
		uint32_t c = train->y[i];
		int32_t h = b->home[c];
		if (h < 0)
			continue;
		if (s->tasks[h].role[c] == FCL_CLASS_DISJOINT) {
			b->DI[h][b->nd[h]++] = i;
		} else {
			b->BI[h][b->nbi[h]++] = i;
			b->nb++;
		}
	}
}

/* K = blurry_pct% of the blurry samples: each task gives the head of its
 * blurry list (its share of K, cut like the classes) to a pool, the pool is
 * shuffled and dealt back in the same shares. */
static int blurry_pool(struct fcl_schedule *s, const struct fcl_scenario *sc, struct blurry *b,
		       struct fcl_rng *rng)
{
	const uint32_t T = b->T;
	uint32_t K = (uint32_t)(b->nb * sc->tasks.blurry_pct / 100);
	uint32_t ck[257], kk[257], n_pool = 0, head = 0, *pool;

	memset(kk, 0, sizeof kk);
	if (K == 0)
		return 0;
	cut_points(rng, b->stochastic, K, T, ck);
	pool = malloc((size_t)K * sizeof *pool);
	if (!pool)
		return -ENOMEM;
	for (uint32_t t = 0; t < T; t++) {
		uint32_t take;
		kk[t] = ck[t + 1] - ck[t];
		take = kk[t] < b->nbi[t] ? kk[t] : b->nbi[t]; /* slices clip */
		memcpy(pool + n_pool, b->BI[t], take * sizeof *pool);
		n_pool += take;
		memmove(b->BI[t], b->BI[t] + take, (b->nbi[t] - take) * sizeof **b->BI);
		b->nbi[t] -= take;
	}
	fcl_rng_shuffle_u32(rng, pool, n_pool); /* pool[randperm(len(pool))] */
	for (uint32_t t = 0; t < T; t++) {
		uint32_t give = kk[t] < n_pool - head ? kk[t] : n_pool - head;
		memcpy(b->BI[t] + b->nbi[t], pool + head, give * sizeof *pool);
		b->nbi[t] += give;
		head += give;
		s->tasks[t].blurry_in = give;
	}
	free(pool);
	return 0;
}

/* A task's stream: its disjoint then its blurry samples, shuffled. */
static int blurry_streams(struct fcl_schedule *s, const struct blurry *b, struct fcl_rng *rng)
{
	for (uint32_t t = 0; t < b->T; t++) {
		struct fcl_task *task = &s->tasks[t];
		task->n_train = b->nd[t] + b->nbi[t];
		task->train_idx =
		    malloc((size_t)(task->n_train ? task->n_train : 1) * sizeof *task->train_idx);
		if (!task->train_idx)
			return -ENOMEM;
		memcpy(task->train_idx, b->DI[t], b->nd[t] * sizeof *b->DI[t]);
		memcpy(task->train_idx + b->nd[t], b->BI[t], b->nbi[t] * sizeof *b->BI[t]);
		fcl_rng_shuffle_u32(rng, task->train_idx, task->n_train);
	}
	return 0;
}

static void blurry_free(struct blurry *b)
{
	for (uint32_t t = 0; t < b->T; t++) {
		free(b->DI ? b->DI[t] : NULL);
		free(b->BI ? b->BI[t] : NULL);
	}
	free(b->DI);
	free(b->BI);
	free(b->nd);
	free(b->nbi);
}

/* i-Blurry and Si-Blurry, following Si-Blurry's OnlineSampler (see
 * docs/scenarios.md): the same steps in the same order of random calls,
 * drawn from our own seeded stream. i-Blurry uses even cuts instead. */
static int blurry_tasks(struct fcl_schedule *s, const struct fcl_scenario *sc,
			const struct fcl_dataset *train)
{
	struct blurry b = {.T = s->n_tasks, .C = s->n_classes};
	struct fcl_rng rng;
	int rc;

	if (b.T > 256)
		return -EINVAL;
	b.stochastic = sc->tasks.kind == FCL_TASKS_SI_BLURRY;
	b.D = ((b.C * sc->tasks.disjoint_pct) / 100) / b.T * b.T;
	b.B = (b.C - b.D) / b.T * b.T;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_BLURRY, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	blurry_classes(s, &b, &rng);
	rc = blurry_alloc(&b, train->n);
	if (!rc) {
		blurry_samples(s, &b, train);
		rc = blurry_pool(s, sc, &b, &rng);
	}
	if (!rc)
		rc = blurry_streams(s, &b, &rng);
	blurry_free(&b);
	return rc;
}

/* ---- all tasks ------------------------------------------------------------- */

int fcl__schedule_make_tasks(struct fcl_schedule *s, const struct fcl_scenario *sc,
			     const struct fcl_dataset *train, const struct fcl_dataset *test)
{
	/* the identity list of sample ids, first of train, then of test */
	uint32_t *all = malloc((size_t)(test->n > train->n ? test->n : train->n) * sizeof *all + 1);
	int rc;

	if (!all)
		return -ENOMEM;
	for (uint32_t i = 0; i < train->n; i++)
		all[i] = i;
	if (sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY) {
		rc = blurry_tasks(s, sc, train);
	} else {
		task_classes(s, sc);
		rc = task_streams(s, sc, train, all);
	}
	if (rc || (rc = task_permutations(s, sc)) != 0)
		goto out;
	rc = -ENOMEM;
	for (uint32_t i = 0; i < test->n; i++)
		all[i] = i;
	for (uint32_t t = 0; t < s->n_tasks; t++) {
		s->tasks[t].test_idx =
		    select_task_samples(&s->tasks[t], test, all, test->n, &s->tasks[t].n_test);
		if (!s->tasks[t].test_idx)
			goto out;
	}
	rc = 0;
out:
	free(all);
	return rc;
}
