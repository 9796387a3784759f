/* common/include/fcl/replay.h - a per-client replay buffer of sample ids
 *
 * The buffer holds ids into the client's data set (uint32), the task each
 * sample came from (for its pixel permutation), its label, and optionally a
 * vector of stored logits per slot (DER++), never pixel copies. Insertion is
 * reservoir sampling (Vitter's algorithm R): after n offers each offered item
 * is in the buffer with probability K/n.
 */
#ifndef FCL_REPLAY_H
#define FCL_REPLAY_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fcl_rng;

struct fcl_replay {
	uint32_t cap;       /* K, in samples */
	uint32_t n;         /* filled slots */
	uint64_t seen;      /* items offered so far */
	uint32_t logit_dim; /* floats stored per slot (0 = none) */
	uint32_t *ids;      /* (cap) sample ids */
	uint16_t *task;     /* (cap) task of each sample */
	int32_t *label;     /* (cap) */
	float *logits;      /* (cap, logit_dim) or NULL */
	uint32_t *scratch;  /* (cap) for draws without replacement */
};

/* cap may be 0 (an always-empty buffer). Returns 0 or -ENOMEM. */
int fcl_replay_init(struct fcl_replay *r, uint32_t cap, uint32_t logit_dim);
void fcl_replay_fini(struct fcl_replay *r);
/* Offers one item: returns the slot it was written to, or -1 if dropped.
 * logits (logit_dim) may be NULL when logit_dim is 0. */
int64_t fcl_replay_offer(struct fcl_replay *r, struct fcl_rng *rng, uint32_t id, uint16_t task,
			 int32_t label, const float *logits);
/* Draws min(k, n) distinct slots uniformly into slots; returns how many. */
uint32_t fcl_replay_draw(struct fcl_replay *r, struct fcl_rng *rng, uint32_t k, uint32_t *slots);
/* Bytes the buffer's contents take at capacity (ids, task, label, logits). */
size_t fcl_replay_bytes_per_sample(uint32_t logit_dim);
/* The buffer's contents (filled slots and counts), for checkpoints. load
 * needs a buffer of the same capacity and logit size: 0, -EIO or -EINVAL. */
int fcl_replay_save(const struct fcl_replay *r, FILE *f);
int fcl_replay_load(struct fcl_replay *r, FILE *f);
/* Hash of (n, seen, ids, labels, logits of the filled slots). */
uint64_t fcl_replay_checksum(const struct fcl_replay *r);

#endif
