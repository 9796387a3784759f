/* common/include/fcl/rng.h - seeded random streams
 *
 * Every random draw in fcl comes from a stream derived from
 * (seed, purpose, client, round) with splitmix64, driving xoshiro256**.
 * Two processes that derive the same key draw the same numbers, which is
 * what makes a run independent of the process layout.
 */
#ifndef FCL_RNG_H
#define FCL_RNG_H
#include <stddef.h>
#include <stdint.h>

struct fcl_rng {
	uint64_t s[4];
};

/* What a stream is for; part of the derivation key so streams never collide. */
enum fcl_rng_purpose {
	FCL_RNG_MODEL_INIT = 1,
	FCL_RNG_PARTITION,
	FCL_RNG_CLASS_ORDER,
	FCL_RNG_PERMUTATION,
	FCL_RNG_PARTICIPANTS,
	FCL_RNG_LOCAL_SHUFFLE,
	FCL_RNG_SYNTHETIC_DATA,
	FCL_RNG_EVAL_SUBSET,
	FCL_RNG_TEST,         /* for tests only */
	FCL_RNG_STREAM_ORDER, /* a task's sample order */
	FCL_RNG_BLURRY,       /* i-Blurry / Si-Blurry class and sample cuts */
	FCL_RNG_SCOLE,        /* SCoLe: each task's classes */
	FCL_RNG_TASK_ORDER,   /* timeline.order: shuffled */
	FCL_RNG_ARRIVAL,      /* timeline offset and jitter */
	FCL_RNG_AVAILABILITY, /* timeline.participation */
	FCL_RNG_RECURRENCE,   /* power-law recurrence draws */
	FCL_RNG_REPLAY,       /* replay draws: (seed, client, round) */
	FCL_RNG_RESERVOIR,    /* reservoir replacement: (seed, client, round) */
	FCL_RNG_MVP_QUERY,    /* MVP's fixed random query projection, shared by all clients */
	FCL_RNG_MVP_INIT,     /* MVP keys of one client */
	FCL_RNG_SKETCH, /* FOT: a client's private G_i; round = task * FCL_MLP_MAX_LAYERS + layer */
	FCL_RNG_DEVICE, /* device profiles: (seed, client, quantity) */
	FCL_RNG_DEVICE_ONOFF, /* a device's on/off availability process: (seed, client) */
	FCL_RNG_DISPATCH,     /* asynchronous runs: which idle client trains next, (seed, job) */
	FCL_RNG_AUGMENT,      /* data.augment: crops and flips of training samples, (seed,
			       * client, round), drawn in the order samples are gathered */
	FCL_RNG_DROPOUT,      /* dropout masks: (seed mixed with the step, client, round) */
};

#define FCL_RNG_NO_CLIENT UINT32_MAX
#define FCL_RNG_NO_ROUND UINT32_MAX

/* Derives the stream for (seed, purpose, client, round). */
void fcl_rng_init(struct fcl_rng *rng, uint64_t seed, enum fcl_rng_purpose purpose, uint32_t client,
		  uint32_t round);
uint64_t fcl_rng_next(struct fcl_rng *rng);
/* Uniform in [0, n), without modulo bias. n > 0. */
uint64_t fcl_rng_below(struct fcl_rng *rng, uint64_t n);
/* Uniform float in [0, 1). */
float fcl_rng_uniform(struct fcl_rng *rng);
/* Standard normal (Box-Muller, no cached second value, so draws stay in lock-step). */
float fcl_rng_normal(struct fcl_rng *rng);
/* Fisher-Yates shuffle of an index array. */
void fcl_rng_shuffle_u32(struct fcl_rng *rng, uint32_t *a, size_t n);

/* splitmix64 finaliser, also used for hashing. */
uint64_t fcl_mix64(uint64_t x);
/* FNV-1a 64 over bytes, for scenario and parameter checksums. */
uint64_t fcl_hash64(const void *data, size_t len);

#endif
