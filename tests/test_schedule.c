/* tests/test_schedule.c - compiled tasks, shards and participants */
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void synthetic_scenario(struct fcl_scenario *sc, enum fcl_task_kind kind)
{
	fcl_scenario_defaults(sc);
	sc->seed = 3;
	sc->data.kind = FCL_DATASET_SYNTHETIC;
	sc->data.synthetic_train = 1000;
	sc->data.synthetic_test = 300;
	sc->data.synthetic_dim = 16;
	sc->data.synthetic_classes = 10;
	sc->clients.count = 7;
	sc->clients.per_round = 3;
	sc->tasks.kind = kind;
	sc->tasks.count = kind == FCL_TASKS_SINGLE ? 1 : 5;
	sc->tasks.classes_per_task = 2;
	sc->tasks.rounds_per_task = 4;
}

static void test_class_incremental(void)
{
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule s;
	char err[256];

	synthetic_scenario(&sc, FCL_TASKS_CLASS_INCREMENTAL);
	REQUIRE(fcl_schedule_load_data(&sc, &train, &test, err, sizeof err) == 0, "data: %s", err);
	REQUIRE(fcl_schedule_compile(&s, &sc, &train, &test) == 0, "compiles");
	int owner[10], ok = 1;
	memset(owner, -1, sizeof owner);
	for (uint32_t t = 0; t < s.n_tasks; t++) {
		ok &= s.tasks[t].n_classes == 2;
		for (uint32_t k = 0; k < s.tasks[t].n_classes; k++) {
			uint32_t c = s.tasks[t].classes[k];
			ok &= owner[c] < 0;
			owner[c] = (int)t;
		}
	}
	CHECK(ok, "five tasks of two disjoint classes");

	/* Every training sample belongs to exactly one client and one task. */
	uint8_t *seen = calloc(train.n, 1);
	int in_task = 1, once = 1;
	size_t total = 0;
	for (uint32_t c = 0; c < s.n_clients; c++)
		for (uint32_t t = 0; t < s.n_tasks; t++) {
			uint32_t m;
			const uint32_t *idx = fcl_schedule_client_task(&s, c, t, &m);
			for (uint32_t i = 0; i < m; i++) {
				uint32_t id = idx[i];
				in_task &= s.tasks[t].has_class[train.y[id]];
				once &= !seen[id];
				seen[id] = 1;
				total++;
			}
		}
	CHECK(in_task, "a client's task data holds only the task's classes");
	CHECK(once && total == train.n, "shards partition the training set (%zu of %u)", total,
	      train.n);
	size_t test_total = 0;
	for (uint32_t t = 0; t < s.n_tasks; t++)
		test_total += s.tasks[t].n_test;
	CHECK(test_total == test.n, "task test sets partition the test set");
	free(seen);

	uint32_t p1[3], p2[3], p3[3];
	fcl_schedule_participants(&s, sc.seed, 5, p1);
	fcl_schedule_participants(&s, sc.seed, 5, p2);
	CHECK(memcmp(p1, p2, sizeof p1) == 0, "participants are a function of (seed, round)");
	CHECK(p1[0] < p1[1] && p1[1] < p1[2] && p1[2] < 7, "participants ascend: %u %u %u", p1[0],
	      p1[1], p1[2]);
	int differs = 0;
	for (uint32_t r = 0; r < 20 && !differs; r++) {
		fcl_schedule_participants(&s, sc.seed, r, p3);
		differs = memcmp(p1, p3, sizeof p1) != 0;
	}
	CHECK(differs, "participants change across rounds");
	CHECK(fcl_schedule_task_of_round(&s, 3) == 0 && fcl_schedule_task_of_round(&s, 4) == 1 &&
		  fcl_schedule_is_task_end(&s, 3) && !fcl_schedule_is_task_end(&s, 4),
	      "four rounds per task");
	fcl_schedule_fini(&s);
	fcl_dataset_fini(&train);
	fcl_dataset_fini(&test);
}

static void test_permuted(void)
{
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule s;
	char err[256];

	synthetic_scenario(&sc, FCL_TASKS_PERMUTED);
	REQUIRE(fcl_schedule_load_data(&sc, &train, &test, err, sizeof err) == 0, "data: %s", err);
	REQUIRE(fcl_schedule_compile(&s, &sc, &train, &test) == 0, "compiles");
	CHECK(s.tasks[0].perm == NULL, "task 0 keeps the original pixels");
	int valid = 1, distinct = 0;
	for (uint32_t t = 1; t < s.n_tasks; t++) {
		uint8_t hit[16] = {0};
		for (uint32_t k = 0; k < 16; k++) {
			valid &= s.tasks[t].perm[k] < 16 && !hit[s.tasks[t].perm[k]];
			hit[s.tasks[t].perm[k] % 16] = 1;
		}
		distinct += memcmp(s.tasks[t].perm, s.tasks[1].perm, 16 * sizeof(uint32_t)) != 0;
	}
	CHECK(valid, "each task's permutation is a permutation");
	CHECK(distinct == 3, "tasks 2-4 have permutations other than task 1's");
	CHECK(s.tasks[2].n_classes == 10 && s.tasks[2].n_test == test.n,
	      "every permuted task tests on all classes");
	fcl_schedule_fini(&s);
	fcl_dataset_fini(&train);
	fcl_dataset_fini(&test);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The draw as it was made with a table of every available client: a partial
 * Fisher-Yates over the table, the first per_round slots sorted. */
static uint32_t participants_dense(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
				   uint32_t *out)
{
	uint32_t n = 0, *ids = malloc(s->n_clients * sizeof *ids);
	struct fcl_rng rng;

	for (uint32_t c = 0; c < s->n_clients; c++)
		if (fcl_schedule_available(s, seed, c, round))
			ids[n++] = c;
	if (n > s->per_round) {
		fcl_rng_init(&rng, seed, FCL_RNG_PARTICIPANTS, FCL_RNG_NO_CLIENT, round);
		for (uint32_t i = 0; i < s->per_round; i++) {
			uint32_t j = i + (uint32_t)fcl_rng_below(&rng, n - i), t = ids[i];
			ids[i] = ids[j];
			ids[j] = t;
		}
		n = s->per_round;
		qsort(ids, n, sizeof *ids, cmp_u32);
	}
	memcpy(out, ids, n * sizeof *ids);
	free(ids);
	return n;
}

/* Participants are drawn without a table of all clients (a million may be
 * registered), with the draws of a whole-table shuffle; and clients whose
 * timelines agree share one plan. */
static void test_participants_sparse(void)
{
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule s;
	char err[256];
	uint32_t a[64], b[64];
	int same = 1, drawn = 0;

	synthetic_scenario(&sc, FCL_TASKS_CLASS_INCREMENTAL);
	sc.clients.count = 300;
	sc.clients.per_round = 40;
	sc.timeline.participation = 0.5;
	REQUIRE(fcl_schedule_load_data(&sc, &train, &test, err, sizeof err) == 0, "data: %s", err);
	REQUIRE(fcl_schedule_compile(&s, &sc, &train, &test) == 0, "300 clients compile");
	CHECK(s.plans == NULL && fcl_schedule_plan(&s, 299) == &s.shared_plan,
	      "clients with the same timeline share one plan");
	for (uint32_t r = 0; r < s.n_rounds; r++) {
		uint32_t n = fcl_schedule_participants(&s, sc.seed, r, a);
		uint32_t m = participants_dense(&s, sc.seed, r, b);
		same &= n == m && memcmp(a, b, n * sizeof *a) == 0;
		drawn += n == sc.clients.per_round;
	}
	CHECK(same, "every round's participants equal the whole-table draw's (%u rounds)",
	      s.n_rounds);
	CHECK(drawn > 0, "rounds with more available clients than places were drawn (%d)", drawn);
	fcl_schedule_fini(&s);
	sc.timeline.offset = 3; /* clients start at different rounds: a plan each */
	REQUIRE(fcl_schedule_compile(&s, &sc, &train, &test) == 0, "with offsets compiles");
	CHECK(s.plans != NULL, "clients with offsets have a plan each");
	fcl_schedule_fini(&s);
	fcl_dataset_fini(&train);
	fcl_dataset_fini(&test);
}

int main(void)
{
	test_class_incremental();
	test_permuted();
	test_participants_sparse();
	return tap_done();
}
