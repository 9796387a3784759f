/* common/src/replay.c - reservoir replay buffer of sample ids */
#include "fcl/replay.h"

#include "fcl/rng.h"
#include "fcl/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fcl_replay_init(struct fcl_replay *r, uint32_t cap, uint32_t logit_dim)
{
	memset(r, 0, sizeof *r);
	r->cap = cap;
	r->logit_dim = logit_dim;
	if (cap == 0)
		return 0;
	r->ids = calloc(cap, sizeof *r->ids);
	r->task = calloc(cap, sizeof *r->task);
	r->label = calloc(cap, sizeof *r->label);
	r->scratch = calloc(cap, sizeof *r->scratch);
	if (logit_dim)
		r->logits = calloc((size_t)cap * logit_dim, sizeof *r->logits);
	if (!r->ids || !r->task || !r->label || !r->scratch || (logit_dim && !r->logits)) {
		fcl_replay_fini(r);
		return -ENOMEM;
	}
	return 0;
}

void fcl_replay_fini(struct fcl_replay *r)
{
	free(r->ids);
	free(r->task);
	free(r->label);
	free(r->logits);
	free(r->scratch);
	memset(r, 0, sizeof *r);
}

int64_t fcl_replay_offer(struct fcl_replay *r, struct fcl_rng *rng, uint32_t id, uint16_t task,
			 int32_t label, const float *logits)
{
	int64_t slot = -1;

	r->seen++;
	if (r->cap == 0)
		return -1;
	if (r->n < r->cap) {
		slot = r->n++;
	} else {
		uint64_t j = fcl_rng_below(rng, r->seen);
		if (j < r->cap)
			slot = (int64_t)j;
	}
	if (slot >= 0) {
		r->ids[slot] = id;
		r->task[slot] = task;
		r->label[slot] = label;
		if (r->logit_dim)
			memcpy(r->logits + (size_t)slot * r->logit_dim, logits,
			       r->logit_dim * sizeof(float));
	}
	return slot;
}

uint32_t fcl_replay_draw(struct fcl_replay *r, struct fcl_rng *rng, uint32_t k, uint32_t *slots)
{
	if (k > r->n)
		k = r->n;
	for (uint32_t i = 0; i < r->n; i++)
		r->scratch[i] = i;
	/* Partial Fisher-Yates: the first k entries are a uniform k-subset. */
	for (uint32_t i = 0; i < k; i++) {
		uint32_t j = i + (uint32_t)fcl_rng_below(rng, r->n - i);
		uint32_t t = r->scratch[i];
		r->scratch[i] = r->scratch[j];
		r->scratch[j] = t;
		slots[i] = r->scratch[i];
	}
	return k;
}

size_t fcl_replay_bytes_per_sample(uint32_t logit_dim)
{
	return sizeof(uint32_t) + sizeof(uint16_t) + sizeof(int32_t) + logit_dim * sizeof(float);
}

uint64_t fcl_replay_checksum(const struct fcl_replay *r)
{
	uint64_t h = fcl_mix64(r->n ^ (r->seen << 32));
	if (r->n == 0)
		return h;
	h ^= fcl_hash64(r->ids, r->n * sizeof *r->ids);
	h = fcl_mix64(h) ^ fcl_hash64(r->label, r->n * sizeof *r->label);
	if (r->logit_dim)
		h = fcl_mix64(h) ^
		    fcl_hash64(r->logits, (size_t)r->n * r->logit_dim * sizeof(float));
	return h;
}

int fcl_replay_save(const struct fcl_replay *r, FILE *f)
{
	uint32_t head[3] = {r->cap, r->n, r->logit_dim};
	int rc = fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, &r->seen, sizeof r->seen);
	rc = rc ? rc : fcl_fput(f, r->ids, r->n * sizeof *r->ids);
	rc = rc ? rc : fcl_fput(f, r->task, r->n * sizeof *r->task);
	rc = rc ? rc : fcl_fput(f, r->label, r->n * sizeof *r->label);
	return rc ? rc : fcl_fput(f, r->logits, (size_t)r->n * r->logit_dim * sizeof *r->logits);
}

int fcl_replay_load(struct fcl_replay *r, FILE *f)
{
	uint32_t head[3];
	uint64_t seen;
	int rc = fcl_fget(f, head, sizeof head);
	rc = rc ? rc : fcl_fget(f, &seen, sizeof seen);
	if (rc)
		return rc;
	if (head[0] != r->cap || head[1] > r->cap || head[2] != r->logit_dim || seen < head[1])
		return -EINVAL;
	r->n = head[1];
	r->seen = seen;
	rc = fcl_fget(f, r->ids, r->n * sizeof *r->ids);
	rc = rc ? rc : fcl_fget(f, r->task, r->n * sizeof *r->task);
	rc = rc ? rc : fcl_fget(f, r->label, r->n * sizeof *r->label);
	return rc ? rc : fcl_fget(f, r->logits, (size_t)r->n * r->logit_dim * sizeof *r->logits);
}
