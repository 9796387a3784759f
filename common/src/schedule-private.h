/* common/src/schedule-private.h - what the schedule files share
 *
 * fcl_schedule_compile (schedule.c) runs three steps in this order: the
 * tasks (schedule_tasks.c), the partition of the training samples among the
 * clients (schedule_partition.c) and the timeline (schedule_timeline.c).
 * Every random choice comes from a stream seeded by (seed, purpose, client,
 * round), so the results depend on the order of the draws inside each
 * stream, not on which file makes them.
 */
#ifndef FCL_SCHEDULE_PRIVATE_H
#define FCL_SCHEDULE_PRIVATE_H
#include "fcl/rng.h"
#include "fcl/schedule.h"

#include <stdint.h>

struct fcl_scenario;

/* A double in [0, 1) from the top 53 bits of one draw. */
static inline double fcl__schedule_uniform01(struct fcl_rng *rng)
{
	return (double)(fcl_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* qsort order of uint32_t, ascending. */
static inline int fcl__schedule_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The tasks (s->tasks, allocated): their classes, training streams, pixel
 * permutations and test samples. 0, -EINVAL or -ENOMEM. */
int fcl__schedule_make_tasks(struct fcl_schedule *s, const struct fcl_scenario *sc,
			     const struct fcl_dataset *train, const struct fcl_dataset *test);

/* owner[i]: the client (of N) holding training sample i. 0 or -ENOMEM. */
int fcl__schedule_partition(const struct fcl_scenario *sc, const struct fcl_dataset *train,
			    uint32_t N, uint32_t *owner);

/* Every client's plan (s->plans, allocated) and recurrence, the number of
 * rounds and the global clock's task order. Needs the client streams. 0 or
 * -ENOMEM. */
int fcl__schedule_plan_timeline(struct fcl_schedule *s, const struct fcl_scenario *sc);

#endif
