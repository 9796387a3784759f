/* tests/test_generators.c - partitions, task generators and time, property by property
 *
 * Si-Blurry: disjoint classes in exactly one task, the blurry share is M,
 * a pass never repeats a sample, classes per task vary with the seed.
 * Dirichlet: the clients' label mixes average to the global one, and a
 * smaller alpha skews more. Power law: revisits of old tasks fall with the
 * lag with the configured exponent. Timeline: order, offset, jitter,
 * segments, join/leave, participation, online slices.
 */
#include "fcl/eval.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void base(struct fcl_scenario *sc, uint32_t train, uint32_t classes, uint32_t clients)
{
	fcl_scenario_defaults(sc);
	sc->seed = 1;
	sc->data.kind = FCL_DATASET_SYNTHETIC;
	sc->data.synthetic_train = train;
	sc->data.synthetic_test = 200;
	sc->data.synthetic_dim = 4;
	sc->data.synthetic_classes = classes;
	sc->clients.count = clients;
	sc->clients.per_round = clients;
	sc->tasks.rounds_per_task = 4;
}

struct fixture {
	struct fcl_dataset train, test;
	struct fcl_schedule s;
};

static int build(struct fixture *f, const struct fcl_scenario *sc)
{
	char err[256];
	if (fcl_schedule_load_data(sc, &f->train, &f->test, err, sizeof err) != 0)
		return -1;
	if (fcl_schedule_compile(&f->s, sc, &f->train, &f->test) != 0) {
		fcl_dataset_fini(&f->train);
		fcl_dataset_fini(&f->test);
		return -1;
	}
	return 0;
}

static void teardown(struct fixture *f)
{
	fcl_schedule_fini(&f->s);
	fcl_dataset_fini(&f->train);
	fcl_dataset_fini(&f->test);
}

/* ---- Si-Blurry -------------------------------------------------------------- */

static void si_blurry_scenario(struct fcl_scenario *sc, uint64_t seed)
{
	base(sc, 20000, 100, 8); /* CIFAR-100-like: 100 classes */
	sc->seed = seed;
	sc->tasks.kind = FCL_TASKS_SI_BLURRY;
	sc->tasks.count = 5;
	sc->tasks.disjoint_pct = 50;
	sc->tasks.blurry_pct = 10;
	sc->timeline.online = 1;
}

static void test_si_blurry(void)
{
	struct fcl_scenario sc;
	struct fixture f;
	uint32_t ncls[5][5];

	for (uint64_t seed = 1; seed <= 5; seed++) {
		si_blurry_scenario(&sc, seed);
		REQUIRE(build(&f, &sc) == 0, "si-blurry seed %llu compiles",
			(unsigned long long)seed);
		const struct fcl_schedule *s = &f.s;
		const uint32_t T = s->n_tasks, C = s->n_classes;

		/* 1. a disjoint class is in exactly one task; a class has one role */
		int disjoint_once = 1, n_disjoint = 0;
		uint8_t *in_task = calloc((size_t)T * C, 1);
		for (uint32_t t = 0; t < T; t++)
			for (uint32_t i = 0; i < s->tasks[t].n_train; i++)
				in_task[t * C + f.train.y[s->tasks[t].train_idx[i]]] = 1;
		for (uint32_t c = 0; c < C; c++) {
			uint32_t home = 0, homes = 0, tasks = 0;
			for (uint32_t t = 0; t < T; t++) {
				if (s->tasks[t].role[c] == FCL_CLASS_DISJOINT) {
					home = t;
					homes++;
				}
				tasks += in_task[t * C + c];
			}
			if (!homes)
				continue;
			n_disjoint++;
			disjoint_once &= homes == 1 && tasks == 1 && in_task[home * C + c];
		}
		CHECK(disjoint_once && n_disjoint == 50,
		      "seed %llu: each of the %d disjoint classes is in exactly one task",
		      (unsigned long long)seed, n_disjoint);

		/* 2. the blurry share: K = floor(nb * M / 100) samples go through the pool */
		uint64_t nb = 0, moved = 0, outside = 0;
		for (uint32_t t = 0; t < T; t++) {
			moved += s->tasks[t].blurry_in;
			for (uint32_t i = 0; i < s->tasks[t].n_train; i++) {
				uint32_t c = f.train.y[s->tasks[t].train_idx[i]];
				int blurry = 0;
				for (uint32_t u = 0; u < T; u++)
					blurry |= s->tasks[u].role[c] == FCL_CLASS_BLURRY;
				nb += blurry;
				outside += blurry && s->tasks[t].role[c] != FCL_CLASS_BLURRY;
			}
		}
		uint64_t K = nb * sc.tasks.blurry_pct / 100;
		CHECK(moved == K,
		      "seed %llu: %llu of %llu blurry samples moved = floor(M%% = %u%%) "
		      "(%.2f%%); %.2f%% landed outside their class's task",
		      (unsigned long long)seed, (unsigned long long)moved, (unsigned long long)nb,
		      sc.tasks.blurry_pct, 100.0 * moved / nb, 100.0 * outside / nb);

		/* 3. one pass: no training sample twice over every client's stream */
		uint8_t *seen = calloc(f.train.n, 1);
		int once = 1;
		uint64_t total = 0, in_tasks = 0;
		for (uint32_t c = 0; c < s->n_clients; c++)
			for (uint32_t r = 0; r < s->n_rounds; r++) {
				struct fcl_client_round cr;
				fcl_schedule_client_round(s, c, r, &cr);
				for (uint32_t i = 0; cr.task >= 0 && i < cr.n; i++) {
					once &= !seen[cr.idx[i]];
					seen[cr.idx[i]] = 1;
					total++;
				}
				once &= cr.task < 0 || cr.epochs == 1;
			}
		for (uint32_t t = 0; t < T; t++)
			in_tasks += s->tasks[t].n_train;
		CHECK(once && total == in_tasks,
		      "seed %llu: one pass, single epoch: %llu stream samples, none twice, all "
		      "%llu task samples met",
		      (unsigned long long)seed, (unsigned long long)total,
		      (unsigned long long)in_tasks);
		for (uint32_t t = 0; t < T; t++)
			ncls[seed - 1][t] = s->tasks[t].n_classes;
		NOTE("seed %llu: classes per task %u %u %u %u %u", (unsigned long long)seed,
		     ncls[seed - 1][0], ncls[seed - 1][1], ncls[seed - 1][2], ncls[seed - 1][3],
		     ncls[seed - 1][4]);
		free(seen);
		free(in_task);
		teardown(&f);
	}
	/* 4. the number of classes per task varies with the seed */
	int varies = 0;
	for (int k = 1; k < 5; k++)
		varies |= memcmp(ncls[0], ncls[k], sizeof ncls[0]) != 0;
	CHECK(varies, "the number of classes per task changes with the seed");

	/* i-Blurry: the same with even cuts */
	si_blurry_scenario(&sc, 1);
	sc.tasks.kind = FCL_TASKS_I_BLURRY;
	REQUIRE(build(&f, &sc) == 0, "i-blurry compiles");
	int even = 1;
	for (uint32_t t = 0; t < f.s.n_tasks; t++) {
		uint32_t d = 0, b = 0;
		for (uint32_t c = 0; c < f.s.n_classes; c++) {
			d += f.s.tasks[t].role[c] == FCL_CLASS_DISJOINT;
			b += f.s.tasks[t].role[c] == FCL_CLASS_BLURRY;
		}
		even &= d == 10 && b == 10;
	}
	CHECK(even, "i-blurry: every task has 10 disjoint and 10 blurry classes");
	teardown(&f);
}

/* ---- partitions ------------------------------------------------------------- */

/* Each client's label mix; returns the mean total-variation distance to the global mix
 * and the largest gap between the clients' mean mix and the global one. */
static double label_skew(const struct fixture *f, double *mean_gap)
{
	const struct fcl_schedule *s = &f->s;
	uint32_t K = s->n_classes, N = s->n_clients;
	double global[256] = {0}, mean[256] = {0}, tv = 0.0;

	for (uint32_t i = 0; i < f->train.n; i++)
		global[f->train.y[i]] += 1.0 / f->train.n;
	for (uint32_t c = 0; c < N; c++) {
		uint32_t m; /* single task: all the client's data */
		const uint32_t *idx = fcl_schedule_client_task(s, c, 0, &m);
		double mix[256] = {0}, d = 0.0;
		for (uint32_t i = 0; i < m; i++)
			mix[f->train.y[idx[i]]] += 1.0 / m;
		for (uint32_t j = 0; j < K; j++) {
			mean[j] += mix[j] / N;
			d += fabs(mix[j] - global[j]) / 2.0;
		}
		tv += d / N;
	}
	*mean_gap = 0.0;
	for (uint32_t j = 0; j < K; j++)
		*mean_gap = fmax(*mean_gap, fabs(mean[j] - global[j]));
	return tv;
}

static void test_dirichlet(void)
{
	static const double alphas[] = {100.0, 1.0, 0.1};
	double skew[3];
	struct fcl_scenario sc;
	struct fixture f;

	for (int a = 0; a < 3; a++) {
		double gap;
		base(&sc, 20000, 10, 50);
		sc.clients.partition = FCL_PARTITION_DIRICHLET;
		sc.clients.alpha = alphas[a];
		REQUIRE(build(&f, &sc) == 0, "dirichlet alpha %g compiles", alphas[a]);
		skew[a] = label_skew(&f, &gap);
		CHECK(gap < 0.01,
		      "alpha %g: the clients' mean label mix matches the global one (max gap %.4f)",
		      alphas[a], gap);
		NOTE("alpha %g: mean total-variation distance to the global label mix %.3f",
		     alphas[a], skew[a]);
		teardown(&f);
	}
	CHECK(skew[0] < skew[1] && skew[1] < skew[2],
	      "a smaller alpha gives a larger skew: %.3f (100) < %.3f (1) < %.3f (0.1)", skew[0],
	      skew[1], skew[2]);

	/* label shards: k shards of a label-sorted list, so few classes per client */
	base(&sc, 20000, 10, 50);
	sc.clients.partition = FCL_PARTITION_SHARDS;
	sc.clients.shards_per_client = 2;
	REQUIRE(build(&f, &sc) == 0, "shards compile");
	int few = 1;
	uint64_t total = 0;
	for (uint32_t c = 0; c < f.s.n_clients; c++) {
		uint8_t has[10] = {0};
		uint32_t n = 0, m;
		const uint32_t *idx = fcl_schedule_client_task(&f.s, c, 0, &m);
		for (uint32_t i = 0; i < m; i++)
			has[f.train.y[idx[i]]] = 1;
		for (int j = 0; j < 10; j++)
			n += has[j];
		few &= n <= 4;
		total += m;
	}
	double gap, tv = label_skew(&f, &gap);
	CHECK(few && total == f.train.n, "shards: each client holds at most 2 x 2 classes");
	NOTE("shards (2 per client): mean total-variation distance %.3f", tv);
	teardown(&f);

	/* quantity skew: sizes differ, labels stay IID */
	base(&sc, 20000, 10, 20);
	sc.clients.partition = FCL_PARTITION_QUANTITY;
	sc.clients.alpha = 0.5;
	REQUIRE(build(&f, &sc) == 0, "quantity skew compiles");
	uint32_t lo = UINT32_MAX, hi = 0;
	total = 0;
	for (uint32_t c = 0; c < f.s.n_clients; c++) {
		uint32_t n;
		(void)fcl_schedule_client_task(&f.s, c, 0, &n);
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
		total += n;
	}
	CHECK(total == f.train.n && hi > 4 * (lo + 1),
	      "quantity skew: sizes from %u to %u, %llu in all", lo, hi, (unsigned long long)total);
	teardown(&f);
}

/* ---- power-law recurrence --------------------------------------------------- */

/* Least-squares slope of log(rate) on log(lag + offset) for lags 1..max_lag. */
static double fitted_slope(int from_intro, double exponent, double offset, double *rsq)
{
	struct fcl_scenario sc;
	struct fixture f;
	enum { T = 300, MAXLAG = 40 };
	static double cnt[T + 1], opp[T + 1];
	uint32_t last[T], intro[T];

	base(&sc, 4000, 10, 1);
	sc.tasks.kind = FCL_TASKS_SCOLE;
	sc.tasks.count = T;
	sc.tasks.classes_per_task = 2;
	sc.tasks.rounds_per_task = 1;
	sc.recurrence.kind = FCL_RECURRENCE_POWER_LAW;
	sc.recurrence.exponent = exponent;
	sc.recurrence.offset = offset;
	sc.recurrence.budget = 0.5;
	sc.recurrence.lag_from_introduction = from_intro;
	if (build(&f, &sc) != 0)
		return NAN;
	memset(cnt, 0, sizeof cnt);
	memset(opp, 0, sizeof opp);
	for (uint32_t t = 0; t < T; t++)
		last[t] = intro[t] = UINT32_MAX;
	/* replay the stream, with the lag each old task had when the round's draws were made */
	for (uint32_t r = 0; r < f.s.n_rounds; r++) {
		struct fcl_client_round cr;
		fcl_schedule_client_round(&f.s, 0, r, &cr);
		if (cr.task < 0)
			continue;
		if (intro[cr.task] == UINT32_MAX)
			intro[cr.task] = r;
		last[cr.task] = r;
		for (uint32_t t = 0; t < T; t++) {
			uint32_t ref = from_intro ? intro[t] : last[t];
			if ((int32_t)t != cr.task && ref < r && r - ref <= T)
				opp[r - ref] += 1;
		}
		for (uint32_t i = 0; i < cr.n_rec; i++) {
			uint32_t t = cr.rec_task[i], ref = from_intro ? intro[t] : last[t];
			cnt[r - ref] += 1;
		}
		for (uint32_t i = 0; i < cr.n_rec; i++)
			last[cr.rec_task[i]] = r;
	}
	teardown(&f);
	double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
	int n = 0;
	for (int lag = 1; lag <= MAXLAG; lag++) {
		if (cnt[lag] < 5 || opp[lag] < 1)
			continue;
		double x = log(lag + offset), y = log(cnt[lag] / opp[lag]);
		sx += x;
		sy += y;
		sxx += x * x;
		sxy += x * y;
		syy += y * y;
		n++;
	}
	double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	double r = (n * sxy - sx * sy) / sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
	*rsq = r * r;
	return slope;
}

static void test_power_law(void)
{
	static const struct {
		int from_intro;
		double exponent, offset;
	} cases[] = {{1, 1.5, 1.0}, {1, 2.5, 1.0}, {0, 1.5, 1.0}, {0, 2.0, 2.0}};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		double rsq, slope = fitted_slope(cases[i].from_intro, cases[i].exponent,
						 cases[i].offset, &rsq);
		CHECK(fabs(slope + cases[i].exponent) <= 0.2,
		      "power law, lag from %s, exponent %g, offset %g: fitted slope %.3f "
		      "(want %.1f +- 0.2, r^2 %.3f)",
		      cases[i].from_intro ? "introduction" : "last seen", cases[i].exponent,
		      cases[i].offset, slope, -cases[i].exponent, rsq);
	}
	/* Known limit: the budget is shared out per round (weights normalised over the
	 * old tasks present), and with exponent <= 1 that normaliser keeps growing
	 * as tasks accumulate, which steepens the measured slope. Shown, not checked. */
	for (int intro = 1; intro >= 0; intro--) {
		double rsq, slope = fitted_slope(intro, 1.0, 1.0, &rsq);
		NOTE("exponent 1, lag from %s: fitted slope %.3f (r^2 %.3f)",
		     intro ? "introduction" : "last seen", slope, rsq);
	}
}

/* ---- time ------------------------------------------------------------------- */

static void test_timeline(void)
{
	struct fcl_scenario sc;
	struct fixture f;

	/* offset and jitter: clients out of phase, boundaries in bounds and ordered */
	base(&sc, 2000, 10, 12);
	sc.tasks.kind = FCL_TASKS_CLASS_INCREMENTAL;
	sc.tasks.count = 5;
	sc.tasks.classes_per_task = 2;
	sc.tasks.rounds_per_task = 6;
	sc.timeline.offset = 10;
	sc.timeline.jitter = 2;
	sc.timeline.order = FCL_ORDER_SHUFFLED;
	REQUIRE(build(&f, &sc) == 0, "out-of-phase timeline compiles");
	int ok = 1, starts_differ = 0, orders_differ = 0;
	for (uint32_t c = 0; c < f.s.n_clients; c++) {
		const struct fcl_client_plan *p = fcl_schedule_plan(&f.s, c);
		uint8_t hit[5] = {0};
		ok &= p->n_entries == 5 && p->entries[0].start <= 10;
		for (uint32_t e = 0; e < p->n_entries; e++) {
			uint32_t nominal = p->entries[0].start + e * 6;
			ok &= p->entries[e].start >= nominal && p->entries[e].start <= nominal + 2;
			ok &= p->entries[e].end > p->entries[e].start;
			ok &= e == 0 || p->entries[e].start == p->entries[e - 1].end;
			ok &= !hit[p->entries[e].task];
			hit[p->entries[e].task] = 1;
		}
		starts_differ |=
		    p->entries[0].start != fcl_schedule_plan(&f.s, 0)->entries[0].start;
		orders_differ |= p->entries[0].task != fcl_schedule_plan(&f.s, 0)->entries[0].task;
	}
	CHECK(ok, "offset <= 10, jitter <= 2, boundaries ordered, each task once per client");
	CHECK(starts_differ && orders_differ && !f.s.in_phase,
	      "clients start at different rounds, in different task orders");
	teardown(&f);

	/* explicit segments, join/leave and participation */
	base(&sc, 2000, 10, 6);
	sc.tasks.kind = FCL_TASKS_CLASS_INCREMENTAL;
	sc.tasks.count = 2;
	sc.tasks.classes_per_task = 5;
	sc.tasks.rounds_per_task = 5;
	sc.clients.per_round = 3;
	sc.timeline.join = 2;
	sc.timeline.leave = 9;
	sc.timeline.participation = 0.5;
	sc.timeline.n_segments = 2;
	sc.timeline.segments[0] = (struct fcl_segment){0, 1, 1, 0, 3};
	sc.timeline.segments[1] = (struct fcl_segment){0, 0, 0, 6, 8};
	REQUIRE(build(&f, &sc) == 0, "segments compile");
	struct fcl_client_round cr;
	fcl_schedule_client_round(&f.s, 0, 2, &cr);
	int seg = cr.task == 1;
	fcl_schedule_client_round(&f.s, 0, 4, &cr);
	seg &= cr.task == -1;
	fcl_schedule_client_round(&f.s, 0, 7, &cr);
	seg &= cr.task == 0;
	fcl_schedule_client_round(&f.s, 1, 7, &cr);
	seg &= cr.task == -1;
	fcl_schedule_client_round(&f.s, 2, 7, &cr);
	seg &= cr.task == 1;
	CHECK(seg, "clients 0-1 follow their segments (gaps are idle); client 2 the catalogue");
	fcl_schedule_client_round(&f.s, 3, 1, &cr);
	int jl = cr.task == -1;
	fcl_schedule_client_round(&f.s, 3, 2, &cr);
	jl &= cr.task == 0;
	CHECK(jl && f.s.n_rounds == 9, "nobody trains before join = 2; the run ends at leave = 9");
	uint32_t avail = 0, present = 0, part[6], bad = 0;
	for (uint32_t r = 0; r < 9; r++) {
		uint32_t n = fcl_schedule_participants(&f.s, sc.seed, r, part);
		bad += n > 3;
		for (uint32_t i = 0; i < n; i++)
			bad += !fcl_schedule_available(&f.s, sc.seed, part[i], r) ||
			       (i && part[i] <= part[i - 1]);
	}
	for (uint32_t r = 0; r < 9; r++)
		for (uint32_t c = 0; c < 6; c++) {
			fcl_schedule_client_round(&f.s, c, r, &cr);
			present += cr.task >= 0;
			avail += fcl_schedule_available(&f.s, sc.seed, c, r);
		}
	CHECK(bad == 0, "participants: at most per_round, available, ascending");
	CHECK(avail > present / 5 && avail < present * 4 / 5,
	      "participation 0.5: %u of %u present client-rounds available", avail, present);
	teardown(&f);

	/* online with samples_per_round: consecutive slices, then nothing */
	base(&sc, 2000, 10, 2);
	sc.tasks.kind = FCL_TASKS_CLASS_INCREMENTAL;
	sc.tasks.count = 2;
	sc.tasks.classes_per_task = 5;
	sc.tasks.rounds_per_task = 20;
	sc.timeline.online = 1;
	sc.timeline.samples_per_round = 64;
	REQUIRE(build(&f, &sc) == 0, "online stream compiles");
	uint32_t n0, got = 0, rounds_with_data = 0;
	const uint32_t *idx0 = fcl_schedule_client_task(&f.s, 0, 0, &n0);
	int contiguous = 1;
	for (uint32_t r = 0; r < 20; r++) {
		fcl_schedule_client_round(&f.s, 0, r, &cr);
		if (cr.task < 0)
			continue;
		contiguous &= cr.idx == idx0 + got && cr.n <= 64;
		got += cr.n;
		rounds_with_data++;
	}
	CHECK(contiguous && got == n0 && rounds_with_data == (n0 + 63) / 64,
	      "64 stream samples per round: %u samples in %u rounds, then the client idles", got,
	      rounds_with_data);
	teardown(&f);
}

/* ---- the keys, parsed ----------------------------------------------------------- */

static const char every_new_key[] =
    "name: all-new-keys\n"
    "data: {dataset: synthetic, synthetic: {train: 600, classes: 6}}\n"
    "clients:\n"
    "  count: 6\n"
    "  partition: dirichlet\n"
    "  alpha: 0.25\n"
    "  per_round: 4\n"
    "tasks:\n"
    "  generator: scole\n"
    "  count: 40\n"
    "  classes_per_task: 3\n"
    "  class_pool: [5, 4, 3, 2]\n"
    "  rounds_per_task: 3\n"
    "timeline:\n"
    "  order: [3, 1, 2]\n"
    "  offset: 4\n"
    "  jitter: 2\n"
    "  join: 1\n"
    "  leave: 10\n"
    "  participation: 0.75\n"
    "  stream: online\n"
    "  samples_per_round: 17\n"
    "  segments:\n"
    "    - {clients: 0-1, task: 7, start: 0, end: 5}\n"
    "    - {clients: 1, task: 8, start: 5, end: 9}\n"
    "  groups:\n"
    "    - {clients: 2-3, order: [1, 0], offset: 0, join: 2, leave: 8}\n"
    "    - {clients: 4, order: shuffled, participation: 0.5}\n"
    "recurrence:\n"
    "  kind: power-law\n"
    "  exponent: 2.5\n"
    "  offset: 0.5\n"
    "  lag_from: introduced\n"
    "  budget: 0.3\n";

static void test_parse(void)
{
	struct fcl_scenario sc;
	char err[512];
	struct fixture f;

	REQUIRE(fcl_scenario_parse(&sc, every_new_key, sizeof every_new_key - 1, "new.yaml", err,
				   sizeof err) == 0,
		"every new key parses: %s", err);
	CHECK(sc.clients.partition == FCL_PARTITION_DIRICHLET && sc.clients.alpha == 0.25,
	      "clients: dirichlet, alpha 0.25");
	CHECK(sc.tasks.kind == FCL_TASKS_SCOLE && sc.tasks.n_class_pool == 4 &&
		  sc.tasks.class_pool[0] == 5 && sc.tasks.classes_per_task == 3,
	      "tasks: scole over a pool of 4, 3 classes each");
	CHECK(sc.timeline.order == FCL_ORDER_EXPLICIT && sc.timeline.n_order == 3 &&
		  sc.timeline.order_list[0] == 3 && sc.timeline.offset == 4 &&
		  sc.timeline.jitter == 2 && sc.timeline.join == 1 && sc.timeline.leave == 10 &&
		  sc.timeline.participation == 0.75 && sc.timeline.online &&
		  sc.timeline.samples_per_round == 17,
	      "timeline: order, offset, jitter, join, leave, participation, stream");
	CHECK(sc.timeline.n_segments == 2 && sc.timeline.segments[0].lo == 0 &&
		  sc.timeline.segments[0].hi == 1 && sc.timeline.segments[1].lo == 1 &&
		  sc.timeline.segments[1].task == 8 && sc.timeline.segments[1].end == 9,
	      "timeline: two segments");
	CHECK(sc.recurrence.kind == FCL_RECURRENCE_POWER_LAW && sc.recurrence.exponent == 2.5 &&
		  sc.recurrence.offset == 0.5 && sc.recurrence.lag_from_introduction &&
		  sc.recurrence.budget == 0.3,
	      "recurrence: power law, 2.5, 0.5, introduced, 0.3");
	CHECK(sc.timeline.n_groups == 2 && sc.timeline.groups[0].lo == 2 &&
		  sc.timeline.groups[0].hi == 3 && sc.timeline.groups[0].n_order == 2 &&
		  sc.timeline.groups[0].order == FCL_ORDER_EXPLICIT &&
		  sc.timeline.groups[0].offset == 0 && sc.timeline.groups[0].join == 2 &&
		  sc.timeline.groups[0].leave == 8 && sc.timeline.groups[0].participation < 0 &&
		  sc.timeline.groups[1].order == FCL_ORDER_SHUFFLED &&
		  sc.timeline.groups[1].offset == UINT32_MAX &&
		  sc.timeline.groups[1].participation == 0.5,
	      "timeline: two groups, unset keys left to the timeline");
	CHECK(!fcl_scenario_in_phase(&sc), "offset, jitter and segments put clients out of phase");
	REQUIRE(build(&f, &sc) == 0, "and it compiles");
	CHECK(f.s.n_rounds == 10 && fcl_schedule_plan(&f.s, 0)->n_entries == 1 &&
		  fcl_schedule_plan(&f.s, 1)->n_entries == 2 &&
		  fcl_schedule_plan(&f.s, 5)->n_entries == 3,
	      "segment clients follow their segments, the others the order; leave ends the run");
	const struct fcl_client_plan *g0 = fcl_schedule_plan(&f.s, 2),
				     *g1 = fcl_schedule_plan(&f.s, 4);
	CHECK(g0->n_entries == 2 && g0->entries[0].task == 1 && g0->entries[0].start == 0 &&
		  g0->entries[1].task == 0 && g0->join == 2 && g0->leave == 8 &&
		  g0->participation == 0.75 && g1->n_entries == 40 && g1->participation == 0.5 &&
		  g1->join == 1 && g1->leave == 10,
	      "groups: own order, offset, join, leave; the rest from the timeline");
	teardown(&f);
}

/* task-incremental evaluation: the argmax runs over the task's classes only */
static void test_masked_eval(void)
{
	struct fcl_mlp m;
	struct fcl_eval_scratch t;
	uint32_t sizes[2] = {4, 3}, idx[2] = {2, 5};
	uint8_t x[6 * 4] = {0}, y[6] = {0, 1, 2, 0, 1, 2}, mask[3] = {0, 0, 1};
	struct fcl_dataset ds = {.n = 6, .dim = 4, .n_classes = 3, .x = x, .y = y};

	REQUIRE(fcl_mlp_init(&m, 1, sizes, 8) == 0, "a linear model");
	REQUIRE(fcl_eval_scratch_init(&t, 8, 4) == 0, "scratch");
	memset(m.params, 0, m.n_params * sizeof(float)); /* equal logits: the first class wins */
	double plain = fcl_evaluate(&m, &t, &ds, idx, 2, NULL);
	double masked = fcl_evaluate_masked(&m, &t, &ds, idx, 2, NULL, mask);
	CHECK(plain == 0.0 && masked == 1.0,
	      "class-2 samples: %.0f%% over all classes, %.0f%% with the task's mask", 100 * plain,
	      100 * masked);

	/* masked training (fine-tuning with a task mask): with one class allowed
	 * the loss and the gradient are zero */
	struct fcl_sgd opt;
	struct fcl_rng rng;
	struct fcl_strategy_config cfg;
	struct fcl_strategy *st;
	struct fcl_loop_config loop = {.epochs = 3, .batch_size = 8, .head_bias = 1};
	float loss = -1.0f, before;
	fcl_strategy_config_defaults(&cfg);
	REQUIRE(fcl_strategy_create(&cfg, &loop, 1, sizes, 1, 0, &st) == 0, "fine-tuning");
	fcl_sgd_init(&opt, 0.5f, 0.0f, 0.0f);
	fcl_rng_init(&rng, 1, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &rng);
	before = m.params[0];
	x[2 * 4] = 200;
	struct fcl_train_round r = {.ds = &ds, .idx = idx, .n = 2, .epochs = 3, .task_mask = mask};
	REQUIRE(fcl_strategy_train(st, &m, &opt, &r, &loss) == 0, "masked training runs");
	CHECK(loss == 0.0f && m.params[0] == before,
	      "masked training over the task's one class: loss %g, parameters unchanged", loss);
	fcl_strategy_destroy(st);
	fcl_sgd_fini(&opt);
	fcl_eval_scratch_fini(&t);
	fcl_mlp_fini(&m);
}

int main(void)
{
	test_masked_eval();
	test_parse();
	test_si_blurry();
	test_dirichlet();
	test_power_law();
	test_timeline();
	return tap_done();
}
