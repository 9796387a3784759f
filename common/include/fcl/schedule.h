/* common/include/fcl/schedule.h - a scenario compiled against its data
 *
 * Compiling is a pure function of (scenario, data): server and clients
 * compile the same scenario text and get the same tasks, shards and
 * participants, so only parameters need to travel on the wire.
 */
#ifndef FCL_SCHEDULE_H
#define FCL_SCHEDULE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/data.h"

struct fcl_scenario;

struct fcl_task {
	uint32_t n_classes;
	uint32_t classes[256];     /* the task's classes, ascending */
	uint8_t has_class[256];    /* has_class[c] = 1 when class c belongs to the task */
	uint32_t *perm;            /* (dim) pixel permutation, or NULL for the identity */
	uint32_t *test_idx;        /* test samples of the task */
	uint32_t n_test;
};

struct fcl_schedule {
	uint32_t n_tasks, n_rounds, n_clients, per_round, rounds_per_task;
	uint32_t dim, n_classes;
	struct fcl_task *tasks;    /* (n_tasks) */
	/* Training samples of client c in task t: idx[c * n_tasks + t], n[c * n_tasks + t]. */
	uint32_t **client_task_idx;
	uint32_t *client_task_n;
};

/* Loads the scenario's train and test sets (IDX files or synthetic), applying
 * data.train_limit/test_limit. err gets a readable reason on failure. */
int fcl_schedule_load_data(const struct fcl_scenario *sc, struct fcl_dataset *train,
			   struct fcl_dataset *test, char *err, size_t errlen);

int fcl_schedule_compile(struct fcl_schedule *s, const struct fcl_scenario *sc,
			 const struct fcl_dataset *train, const struct fcl_dataset *test);
void fcl_schedule_fini(struct fcl_schedule *s);

uint32_t fcl_schedule_task_of_round(const struct fcl_schedule *s, uint32_t round);
/* Is this round the last of its task? */
int fcl_schedule_is_task_end(const struct fcl_schedule *s, uint32_t round);
/* The round's participants, ascending, into out (per_round entries). */
void fcl_schedule_participants(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
			       uint32_t *out);

#endif
