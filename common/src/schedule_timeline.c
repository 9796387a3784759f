/* common/src/schedule_timeline.c - when each client meets which task, and the queries
 *
 * A client's plan: explicit segments, or its task order laid on the clock
 * (offset, jitter, groups), plus power-law recurrence of old tasks. The
 * queries read what a client trains on in a round and who participates.
 */
#include "schedule-private.h"

#include "fcl/log.h"
#include "fcl/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- plans ----------------------------------------------------------------- */

/* The group client c belongs to, or NULL. */
static const struct fcl_client_group *group_of(const struct fcl_scenario *sc, uint32_t c)
{
	for (uint32_t g = 0; g < sc->timeline.n_groups; g++)
		if (sc->timeline.groups[g].lo <= c && c <= sc->timeline.groups[g].hi)
			return &sc->timeline.groups[g];
	return NULL;
}

/* How a client's tasks are laid on the clock. */
struct clock {
	enum fcl_order_kind order;
	const uint32_t *list; /* explicit order */
	uint32_t n_list;
	uint32_t max_offset; /* the client starts 0..max_offset rounds late */
};

/* The timeline's settings for client c; its group (if any) overrides order,
 * offset, join, leave and participation. */
static void client_settings(struct fcl_client_plan *p, struct clock *k,
			    const struct fcl_scenario *sc, uint32_t c)
{
	const struct fcl_client_group *grp = group_of(sc, c);

	k->order = sc->timeline.order;
	k->list = sc->timeline.order_list;
	k->n_list = sc->timeline.n_order;
	k->max_offset = sc->timeline.offset;
	p->join = sc->timeline.join;
	p->leave = sc->timeline.leave;
	p->participation = sc->timeline.participation;
	if (!grp)
		return;
	if (grp->order != FCL_ORDER_INHERIT) {
		k->order = grp->order;
		k->list = grp->order_list;
		k->n_list = grp->n_order;
	}
	k->max_offset = grp->offset != UINT32_MAX ? grp->offset : k->max_offset;
	p->join = grp->join != UINT32_MAX ? grp->join : p->join;
	p->leave = grp->leave != UINT32_MAX ? grp->leave : p->leave;
	p->participation = grp->participation >= 0.0 ? grp->participation : p->participation;
}

/* The n explicit segments of client c, sorted by start. */
static int plan_segments(struct fcl_client_plan *p, const struct fcl_scenario *sc, uint32_t c,
			 uint32_t n)
{
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
		for (uint32_t j = i; j > 0 && p->entries[j].start < p->entries[j - 1].start; j--) {
			struct fcl_entry t = p->entries[j];
			p->entries[j] = p->entries[j - 1];
			p->entries[j - 1] = t;
		}
	return 0;
}

/* The client's task order (catalogue, explicit, or seeded per client) laid
 * on the clock: rounds_per_task each, after a seeded arrival offset, each
 * later task up to jitter rounds late. */
static int plan_clock(struct fcl_client_plan *p, const struct fcl_schedule *s,
		      const struct fcl_scenario *sc, uint32_t c, const struct clock *k)
{
	const uint32_t rpt = s->rounds_per_task;
	uint32_t n = k->order == FCL_ORDER_EXPLICIT ? k->n_list : s->n_tasks;

	p->entries = malloc(n * sizeof *p->entries);
	if (!p->entries)
		return -ENOMEM;
	p->n_entries = n;
	for (uint32_t i = 0; i < n; i++)
		p->entries[i].task = k->order == FCL_ORDER_EXPLICIT ? k->list[i] : i;
	if (k->order == FCL_ORDER_SHUFFLED) {
		struct fcl_rng rng;
		fcl_rng_init(&rng, sc->seed, FCL_RNG_TASK_ORDER, c, FCL_RNG_NO_ROUND);
		for (uint32_t i = n; i > 1; i--) { /* Fisher-Yates over the entries */
			uint32_t j = (uint32_t)fcl_rng_below(&rng, i);
			uint32_t t = p->entries[i - 1].task;
			p->entries[i - 1].task = p->entries[j].task;
			p->entries[j].task = t;
		}
	}
	struct fcl_rng rng;
	uint32_t offset = 0;
	fcl_rng_init(&rng, sc->seed, FCL_RNG_ARRIVAL, c, FCL_RNG_NO_ROUND);
	if (k->max_offset)
		offset = (uint32_t)fcl_rng_below(&rng, (uint64_t)k->max_offset + 1);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t jit = 0;
		if (i > 0 && sc->timeline.jitter)
			jit = (uint32_t)fcl_rng_below(&rng, (uint64_t)sc->timeline.jitter + 1);
		p->entries[i].start = offset + i * rpt + jit;
		if (i > 0)
			p->entries[i - 1].end = p->entries[i].start;
	}
	p->entries[n - 1].end = offset + n * rpt;
	return 0;
}

/* The client's timeline: explicit segments, or its task order laid on the
 * clock; its group (if any) overrides order, offset, join, leave and
 * participation. */
static int plan_client(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c,
		       struct fcl_client_plan *p)
{
	struct clock k;
	uint32_t n = 0;

	client_settings(p, &k, sc, c);
	for (uint32_t g = 0; g < sc->timeline.n_segments; g++)
		n += sc->timeline.segments[g].lo <= c && c <= sc->timeline.segments[g].hi;
	if (n)
		return plan_segments(p, sc, c, n);
	return plan_clock(p, s, sc, c, &k);
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

/* ---- recurrence ------------------------------------------------------------ */

/* One client's recurrence planning, round after round. */
struct recurrence {
	uint32_t *intro, *last; /* (T) round a task came in / was last seen, UINT32_MAX: not yet */
	uint32_t *cand;         /* (T) old tasks that may come back this round */
	double *w;              /* (T) and their weights */
	uint32_t n_cand;
	double total;       /* sum of the weights */
	uint32_t cap, used; /* room and entries in the plan's rec_idx / rec_task */
};

/* The old tasks client c may meet again in round r (not `task`, seen before
 * r, with samples), each weighted (lag + offset)^-exponent. */
static void recurrence_candidates(const struct fcl_schedule *s, const struct fcl_scenario *sc,
				  uint32_t c, uint32_t r, uint32_t task, struct recurrence *rec)
{
	const uint32_t T = s->n_tasks;

	rec->n_cand = 0;
	rec->total = 0.0;
	for (uint32_t t = 0; t < T; t++) {
		uint32_t ref = sc->recurrence.lag_from_introduction ? rec->intro[t] : rec->last[t];
		if (t == task || ref == UINT32_MAX || ref >= r ||
		    s->task_off[(size_t)c * T + t + 1] == s->task_off[(size_t)c * T + t])
			continue;
		rec->w[rec->n_cand] =
		    pow((double)(r - ref) + sc->recurrence.offset, -sc->recurrence.exponent);
		rec->total += rec->w[rec->n_cand];
		rec->cand[rec->n_cand++] = t;
	}
}

/* Room for `want` more samples in the plan's recurrence lists. */
static int recurrence_reserve(struct fcl_client_plan *p, struct recurrence *rec, uint32_t want)
{
	if (rec->used + want <= rec->cap)
		return 0;
	uint32_t ncap = (rec->used + want) * 2 + 64;
	uint32_t *a = realloc(p->rec_idx, ncap * sizeof *a);
	if (!a)
		return -ENOMEM;
	p->rec_idx = a;
	a = realloc(p->rec_task, ncap * sizeof *a);
	if (!a)
		return -ENOMEM;
	p->rec_task = a;
	rec->cap = ncap;
	return 0;
}

/* `want` samples of client c in round r, from (seed, client, round): each
 * a task drawn by weight, then one of the client's samples of it. */
static void recurrence_draw(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c,
			    uint32_t r, struct recurrence *rec, uint32_t want)
{
	struct fcl_client_plan *p = &s->plans[c];
	struct fcl_rng rng;

	fcl_rng_init(&rng, sc->seed, FCL_RNG_RECURRENCE, c, r);
	for (uint32_t k = 0; k < want; k++) {
		double u = fcl__schedule_uniform01(&rng) * rec->total, acc = 0.0;
		uint32_t i = 0;
		for (; i + 1 < rec->n_cand; i++) {
			acc += rec->w[i];
			if (u < acc)
				break;
		}
		uint32_t t = rec->cand[i], n;
		const uint32_t *idx = fcl_schedule_client_task(s, c, t, &n);
		p->rec_task[rec->used] = t;
		p->rec_idx[rec->used++] = idx[fcl_rng_below(&rng, n)];
		rec->last[t] = r;
	}
}

/* Round r of client c: its own task counts as seen, then round(budget * n)
 * recurrence samples for the n samples of the round. */
static int recurrence_round(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c,
			    uint32_t r, struct recurrence *rec)
{
	struct fcl_client_plan *p = &s->plans[c];
	int32_t e = entry_of(p, r);
	uint32_t lo = 0, hi = 0, want;

	p->rec_off[r] = rec->used;
	if (e < 0)
		return 0;
	uint32_t task = p->entries[e].task, n;
	(void)fcl_schedule_client_task(s, c, task, &n);
	round_slice(s, &p->entries[e], n, r, &lo, &hi);
	if (rec->intro[task] == UINT32_MAX)
		rec->intro[task] = r;
	if (hi > lo)
		rec->last[task] = r;
	recurrence_candidates(s, sc, c, r, task, rec);
	want = (uint32_t)llround(sc->recurrence.budget * (double)(hi - lo));
	if (!rec->n_cand || !want || rec->total <= 0.0)
		return 0;
	if (recurrence_reserve(p, rec, want))
		return -ENOMEM;
	recurrence_draw(s, sc, c, r, rec, want);
	return 0;
}

/* Power-law recurrence: each round, round(budget * n) extra samples from the
 * client's old tasks, task i drawn with weight (lag_i + offset)^-exponent. */
static int plan_recurrence(struct fcl_schedule *s, const struct fcl_scenario *sc, uint32_t c)
{
	struct fcl_client_plan *p = &s->plans[c];
	const uint32_t T = s->n_tasks;
	struct recurrence rec = {0};
	int rc = -ENOMEM;

	p->rec_off = calloc((size_t)s->n_rounds + 1, sizeof *p->rec_off);
	rec.intro = malloc(T * sizeof *rec.intro);
	rec.last = malloc(T * sizeof *rec.last);
	rec.cand = malloc(T * sizeof *rec.cand);
	rec.w = malloc(T * sizeof *rec.w);
	if (!p->rec_off || !rec.intro || !rec.last || !rec.cand || !rec.w)
		goto out;
	for (uint32_t t = 0; t < T; t++)
		rec.intro[t] = rec.last[t] = UINT32_MAX;
	for (uint32_t r = 0; r < s->n_rounds; r++)
		if (recurrence_round(s, sc, c, r, &rec))
			goto out;
	p->rec_off[s->n_rounds] = rec.used;
	rc = 0;
out:
	free(rec.intro);
	free(rec.last);
	free(rec.cand);
	free(rec.w);
	return rc;
}

/* ---- the whole timeline ---------------------------------------------------- */

/* Do all clients have the same plan? Then one is kept for all (a million
 * registered clients take no plan each). */
static int plans_shared(const struct fcl_scenario *sc)
{
	return sc->timeline.n_groups == 0 && sc->timeline.n_segments == 0 &&
	       sc->timeline.order != FCL_ORDER_SHUFFLED && sc->timeline.offset == 0 &&
	       sc->timeline.jitter == 0 && sc->recurrence.kind != FCL_RECURRENCE_POWER_LAW;
}

int fcl__schedule_plan_timeline(struct fcl_schedule *s, const struct fcl_scenario *sc)
{
	int rc;

	if (!plans_shared(sc) && !(s->plans = calloc(s->n_clients, sizeof *s->plans)))
		return -ENOMEM;
	for (uint32_t c = 0; c < (s->plans ? s->n_clients : 1); c++) {
		struct fcl_client_plan *p = s->plans ? &s->plans[c] : &s->shared_plan;
		if ((rc = plan_client(s, sc, c, p)) != 0)
			return rc;
		if (p->n_entries && p->entries[p->n_entries - 1].end > s->n_rounds)
			s->n_rounds = p->entries[p->n_entries - 1].end;
	}
	if (s->leave && s->leave < s->n_rounds)
		s->n_rounds = s->leave;
	if (s->n_rounds == 0)
		s->n_rounds = 1;
	s->n_global = sc->timeline.order == FCL_ORDER_EXPLICIT ? sc->timeline.n_order : s->n_tasks;
	s->global_order = malloc(s->n_global * sizeof *s->global_order);
	if (!s->global_order)
		return -ENOMEM;
	for (uint32_t k = 0; k < s->n_global; k++)
		s->global_order[k] =
		    sc->timeline.order == FCL_ORDER_EXPLICIT ? sc->timeline.order_list[k] : k;
	if (sc->recurrence.kind == FCL_RECURRENCE_POWER_LAW)
		for (uint32_t c = 0; c < s->n_clients; c++)
			if ((rc = plan_recurrence(s, sc, c)) != 0)
				return rc;
	return 0;
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
	p = fcl_schedule_plan(s, client);
	if (round < p->join || (p->leave && round >= p->leave))
		return;
	if ((e = entry_of(p, round)) < 0)
		return;
	uint32_t task = p->entries[e].task, n;
	const uint32_t *idx = fcl_schedule_client_task(s, client, task, &n);
	round_slice(s, &p->entries[e], n, round, &lo, &hi);
	if (p->rec_off) {
		out->n_rec = p->rec_off[round + 1] - p->rec_off[round];
		out->rec_idx = p->rec_idx ? p->rec_idx + p->rec_off[round] : NULL;
		out->rec_task = p->rec_task ? p->rec_task + p->rec_off[round] : NULL;
	}
	if (hi == lo && out->n_rec == 0)
		return;
	out->task = (int32_t)task;
	out->entry = (uint32_t)e;
	out->idx = idx + lo;
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
	double participation = fcl_schedule_plan(s, client)->participation;
	if (participation >= 1.0)
		return 1;
	fcl_rng_init(&rng, seed, FCL_RNG_AVAILABILITY, client, round);
	return fcl__schedule_uniform01(&rng) < participation;
}

/* The value at position i of a partial Fisher-Yates over 0..n-1 whose swaps
 * so far are the n_map pairs (pos, val): a position never swapped holds itself. */
static uint32_t swapped(const uint32_t *pos, const uint32_t *val, uint32_t n_map, uint32_t i)
{
	for (uint32_t m = 0; m < n_map; m++)
		if (pos[m] == i)
			return val[m];
	return i;
}

static void set_swapped(uint32_t *pos, uint32_t *val, uint32_t *n_map, uint32_t i, uint32_t v)
{
	for (uint32_t m = 0; m < *n_map; m++)
		if (pos[m] == i) {
			val[m] = v;
			return;
		}
	pos[*n_map] = i;
	val[(*n_map)++] = v;
}

/* Partial Fisher-Yates: the first k slots of a seeded shuffle of 0..n-1 (the
 * ranks of the available clients), into rank (k), ascending. Only the swapped
 * positions are kept (at most 2k), so no table of n is made; the draws are
 * those of a shuffle of a whole array. 0 or -ENOMEM. */
static int draw_ranks(uint64_t seed, uint32_t round, uint32_t n, uint32_t k, uint32_t *rank)
{
	uint32_t *pos = malloc(4 * (size_t)k * sizeof *pos), *val = pos + 2 * (size_t)k, n_map = 0;
	struct fcl_rng rng;

	if (!pos)
		return -ENOMEM;
	fcl_rng_init(&rng, seed, FCL_RNG_PARTICIPANTS, FCL_RNG_NO_CLIENT, round);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t j = i + (uint32_t)fcl_rng_below(&rng, n - i);
		uint32_t a = swapped(pos, val, n_map, i), b = swapped(pos, val, n_map, j);
		set_swapped(pos, val, &n_map, i, b);
		set_swapped(pos, val, &n_map, j, a);
		rank[i] = b;
	}
	free(pos);
	qsort(rank, k, sizeof *rank, fcl__schedule_cmp_u32);
	return 0;
}

uint32_t fcl_schedule_participants(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
				   uint32_t *out)
{
	uint32_t n = 0, k = s->per_round;

	/* two passes over the clients, no table of them: how many are available,
	 * then the ids of the drawn ranks (the rank-th available client) */
	for (uint32_t c = 0; c < s->n_clients; c++)
		n += fcl_schedule_available(s, seed, c, round) != 0;
	if (n > k) {
		int rc = draw_ranks(seed, round, n, k, out);
		FCL_ASSERT(rc == 0); /* out of memory for 4 x per_round numbers */
	}
	uint32_t m = n > k ? k : n, j = 0, rank = 0;
	for (uint32_t c = 0; c < s->n_clients && j < m; c++) {
		if (!fcl_schedule_available(s, seed, c, round))
			continue;
		if (n <= k || out[j] == rank)
			out[j++] = c; /* out[j] (a rank) >= c's rank: written over safely */
		rank++;
	}
	return m;
}
