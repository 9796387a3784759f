/* tests/test_schedule.c - compiled tasks, shards and participants */
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

int main(void)
{
	test_class_incremental();
	test_permuted();
	return tap_done();
}
