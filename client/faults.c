/* client/faults.c - fault injection (--fault), for tests of the coordinator's defences
 *
 * Test-only behaviour, kept in one place: a client that sends updates of the
 * wrong size, with NaNs, scaled or sign-flipped (a Byzantine client), rule
 * messages with a NaN, bytes that are no message at all, a client whose
 * training takes longer in wall time (slow: results must not change), or a
 * process that runs out of memory (oom).
 */
#include "client.h"

#include "fcl/extras.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int faults_parse(struct faults *f, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	uint32_t *ids;
	size_t n_ids;

	if (len == 10 && strncmp(spec, "wrong-size", len) == 0)
		f->kind = FAULT_WRONG_SIZE;
	else if (len == 3 && strncmp(spec, "nan", len) == 0)
		f->kind = FAULT_NAN;
	else if (len == 7 && strncmp(spec, "garbage", len) == 0)
		f->kind = FAULT_GARBAGE;
	else if (len == 9 && strncmp(spec, "sign-flip", len) == 0)
		f->kind = FAULT_SIGN_FLIP;
	else if (len == 8 && strncmp(spec, "rule-nan", len) == 0)
		f->kind = FAULT_RULE_NAN;
	else if (len == 3 && strncmp(spec, "oom", len) == 0)
		f->kind = FAULT_OOM;
	else if (len == 7 && strncmp(spec, "bn-size", len) == 0)
		f->kind = FAULT_BN_SIZE;
	else if (((len == 5 && strncmp(spec, "scale", len) == 0) ||
		  (len == 4 && strncmp(spec, "slow", len) == 0)) &&
		 colon) {
		char *end;
		f->kind = len == 5 ? FAULT_SCALE : FAULT_SLOW;
		f->scale = strtof(colon + 1, &end);
		if (end == colon + 1 || (*end && *end != ':') || !isfinite(f->scale) ||
		    (f->kind == FAULT_SLOW && !(f->scale >= 0 && f->scale <= 3600)))
			return -EINVAL;
		colon = *end ? end : NULL;
	} else
		return -EINVAL;
	if (!colon)
		return 0;
	if (fcl_parse_ids(colon + 1, &ids, &n_ids) != 0)
		return -EINVAL;
	free(f->ids); /* a later --fault's clients replace an earlier one's */
	f->ids = ids;
	f->n_ids = n_ids;
	return 0;
}

void faults_fini(struct faults *f)
{
	free(f->ids);
	free(f->nan_copy);
	memset(f, 0, sizeof *f);
}

/* Does client id inject a fault of this kind? */
static int faulty(const struct faults *f, uint32_t id, enum fault_kind kind)
{
	if (f->kind != kind)
		return 0;
	if (!f->ids)
		return 1;
	for (size_t i = 0; i < f->n_ids; i++)
		if (f->ids[i] == id)
			return 1;
	return 0;
}

size_t faults_garbage(const struct faults *f, const void **bytes)
{
	static const char junk[] = "\xff\xfe this is not a protobuf message \x01\x02";

	if (f->kind != FAULT_GARBAGE)
		return 0;
	*bytes = junk;
	return sizeof junk;
}

void faults_before_train(const struct faults *f, uint32_t client)
{
	if (faulty(f, client, FAULT_SLOW))
		usleep((useconds_t)(f->scale * 1e6f));
}

void faults_on_update(const struct faults *f, uint32_t client, struct fcl_msg *m, float *update)
{
	size_t n = m->n_values;

	if (faulty(f, client, FAULT_WRONG_SIZE))
		m->n_values = n - 1;
	if (faulty(f, client, FAULT_BN_SIZE) && m->n_bn)
		m->n_bn--;
	if (faulty(f, client, FAULT_NAN))
		update[0] = NAN;
	if (faulty(f, client, FAULT_SCALE) || faulty(f, client, FAULT_SIGN_FLIP)) {
		float factor = f->kind == FAULT_SCALE ? f->scale : -1.0f;
		for (size_t i = 0; i < n; i++)
			update[i] *= factor;
	}
}

int faults_oom(const struct faults *f, uint32_t client)
{
	return faulty(f, client, FAULT_OOM);
}

int faults_on_rule_message(struct faults *f, uint32_t client, struct fcl_extras *x)
{
	size_t n = x->n_tensors ? (size_t)x->t[0].rows * x->t[0].cols : 0;

	if (!faulty(f, client, FAULT_RULE_NAN) || n == 0)
		return 0;
	/* The tensor is borrowed from the rule: spoil a copy. */
	float *copy = realloc(f->nan_copy, n * sizeof *copy);
	if (!copy)
		return -ENOMEM;
	f->nan_copy = copy;
	memcpy(copy, x->t[0].v, n * sizeof *copy);
	copy[0] = NAN;
	x->t[0].v = copy;
	return 0;
}
