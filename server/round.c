/* server/round.c - the round's state and its changes (see round.h): a
 * round's start, what its participants send, its end, checkpoints; who hosts
 * whom (hellos, departures) is round_hosts.c's
 *
 * What happens when is decided by the dispatcher's table (dispatch.c):
 *
 *   JOINING  --hello covers every logical client-->  TRAINING (round 0 out)
 *   JOINING  --join timeout, quorum of clients in-->  TRAINING without the absent ones
 *   JOINING  --join timeout, fewer-->                DONE (failed: names who is missing)
 *   TRAINING --every participant answered-->         aggregate, evaluate, next round or DONE
 *   TRAINING --deadline, quorum met-->               aggregate what arrived, go on
 *   TRAINING --deadline, quorum missed-->            DONE (failed)
 *   any      --a process is gone (net.c)-->          its clients leave (coord_round_peer_gone)
 * With a devices section the rounds run in simulated time instead (sim.h):
 *   JOINING  --every client in, or the quorum-->     SIMULATING (the clock's jobs go out)
 *   SIMULATING --the clock's last step or boundary-->  DONE
 */
#include "round.h"

#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int coord_round_init(struct coord_round *r, const struct fcl_scenario *sc,
		     const struct fcl_schedule *sched, struct fcl_mlp *model, struct fcl_agg *agg,
		     uint64_t n_train)
{
	uint32_t K = sched->per_round, N = sched->n_clients;

	memset(r, 0, sizeof *r);
	r->sc = sc;
	r->sched = sched;
	r->model = model;
	r->agg = agg;
	r->n_train = n_train;
	r->phase = COORD_JOINING;
	r->owner = malloc(N * sizeof *r->owner);
	r->ids = malloc(N * sizeof *r->ids);
	r->participants = calloc(K, sizeof *r->participants);
	r->slot = calloc(K, sizeof *r->slot);
	r->updates = calloc(K, sizeof *r->updates);
	r->slot_samples = calloc(K, sizeof *r->slot_samples);
	r->slot_loss = calloc(K, sizeof *r->slot_loss);
	r->slot_train_s = calloc(K, sizeof *r->slot_train_s);
	r->slot_answers = calloc(K, sizeof *r->slot_answers);
	r->agg_in = calloc(K, sizeof *r->agg_in);
	if (!r->owner || !r->ids || !r->participants || !r->slot || !r->updates ||
	    !r->slot_samples || !r->slot_loss || !r->slot_train_s || !r->slot_answers || !r->agg_in)
		goto err_alloc;
	for (uint32_t i = 0; i < K; i++)
		if (!(r->updates[i] = malloc(model->n_params * sizeof(float))))
			goto err_alloc;
	if ((r->bn_n = fcl_strategy_bn_sent(sc, &model->arch)) != 0 &&
	    !(r->slot_bn = calloc(K, sizeof *r->slot_bn)))
		goto err_alloc;
	for (uint32_t i = 0; r->slot_bn && i < K; i++)
		if (!(r->slot_bn[i] = malloc(r->bn_n * sizeof(float))))
			goto err_alloc;
	for (uint32_t c = 0; c < N; c++)
		r->owner[c] = -1;
	return 0;

err_alloc:
	coord_round_fini(r);
	return -ENOMEM;
}

void coord_round_fini(struct coord_round *r)
{
	for (uint32_t i = 0; r->updates && i < r->sched->per_round; i++)
		free(r->updates[i]);
	free(r->updates);
	for (uint32_t i = 0; r->slot_bn && i < r->sched->per_round; i++)
		free(r->slot_bn[i]);
	free(r->slot_bn);
	free(r->owner);
	free(r->ids);
	free(r->participants);
	free(r->slot);
	free(r->slot_samples);
	free(r->slot_loss);
	free(r->slot_train_s);
	free(r->slot_answers);
	free(r->agg_in);
	free(r->peers);
	memset(r, 0, sizeof *r);
}

/* ---- a round's start ----------------------------------------------------- */

/* The round as the rule's hooks see it. */
static struct fcl_round_info round_info(const struct coord_round *r)
{
	return (struct fcl_round_info){.round = r->round,
				       .task = fcl_schedule_task_of_round(r->sched, r->round),
				       .task_end = fcl_schedule_is_task_end(r->sched, r->round),
				       .n_slots = r->n_participants,
				       .n_train = r->n_train,
				       .request_sends = r->request_sends};
}

int coord_round_open(struct coord_round *r)
{
	r->phase = COORD_TRAINING;
	r->started = fcl_now();
	r->n_accepted = r->n_rejected = r->n_gone = 0;
	r->request_sends = 0;
	fcl_agg_sum_reset(r->agg);
	memset(&r->request, 0, sizeof r->request);
	/* Only clients with data this round, that joined, have not left and whose
	 * participation draw came up, can be sampled; there may be none. */
	r->n_participants =
	    fcl_schedule_participants(r->sched, r->sc->seed, r->round, r->participants);
	memset(r->slot, 0, r->n_participants * sizeof *r->slot);
	memset(r->slot_answers, 0, r->n_participants * sizeof *r->slot_answers);
	struct fcl_round_info info = round_info(r);
	r->answers_due = fcl_agg_answers(r->agg, &info);
	if (r->n_participants == 0)
		return 0;
	/* Sampling ignores departures (determinism); a gone participant is just missing. */
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->owner[r->participants[i]] == COORD_OWNER_GONE) {
			r->slot[i] = COORD_SLOT_GONE;
			r->n_gone++;
		}
	return fcl_agg_request(r->agg, &info, &r->request);
}

size_t coord_round_start_msg(struct coord_round *r, uint32_t p, struct fcl_msg *m)
{
	size_t n = 0;

	/* One message per process: the parameters once, plus its participants. */
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->owner[r->participants[i]] == (int32_t)p)
			r->ids[n++] = r->participants[i];
	*m = (struct fcl_msg){.type = FCL_MSG_ROUND_START,
			      .round = r->round,
			      .client_id = -1,
			      .task = fcl_schedule_task_of_round(r->sched, r->round),
			      .values = r->model->params,
			      .n_values = r->model->n_params,
			      .ids = r->ids,
			      .n_ids = n,
			      .extras = r->request};
	return n;
}

void coord_round_sent(struct coord_round *r, uint32_t p, int sent)
{
	if (sent) {
		r->request_sends += r->request.n_tensors || r->request.n_ints;
		return;
	}
	/* Its clients cannot answer; count them out now rather than at the deadline. */
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->owner[r->participants[i]] == (int32_t)p) {
			r->slot[i] = COORD_SLOT_REJECTED;
			r->n_rejected++;
		}
}

/* ---- what participants send ---------------------------------------------- */

static int slot_of(const struct coord_round *r, int64_t client)
{
	/* participants is ascending: binary search */
	uint32_t lo = 0, hi = r->n_participants;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if ((int64_t)r->participants[mid] < client)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_participants && (int64_t)r->participants[lo] == client ? (int)lo : -1;
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/* Whether update m is one slot i waits for; else why not, in why. */
static int update_due(const struct coord_round *r, uint32_t p, const struct fcl_msg *m, int *i,
		      char *why, size_t len)
{
	if (m->round != r->round)
		snprintf(why, len, "update for round %u while in round %u", m->round, r->round);
	else if ((*i = slot_of(r, m->client_id)) < 0)
		snprintf(why, len, "update from client %lld, not a participant of round %u",
			 (long long)m->client_id, r->round);
	else if (r->owner[m->client_id] != (int32_t)p)
		snprintf(why, len, "update for client %lld from a process that does not host it",
			 (long long)m->client_id);
	else if (r->slot[*i] != COORD_SLOT_WAITING)
		snprintf(why, len, "second update from client %lld in round %u",
			 (long long)m->client_id, r->round);
	else
		return 1;
	return 0;
}

int coord_round_take_update(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			    enum coord_take *took, char *why, size_t len)
{
	const char *bad = NULL;
	int i = -1, rc = 0;

	*took = COORD_TAKE_DROPPED;
	if (!update_due(r, p, m, &i, why, len))
		return 0;
	/* From here the client has answered: a bad update is rejected, not awaited. */
	struct fcl_round_info info = round_info(r);
	if (m->n_values != r->model->n_params)
		bad = "wrong number of parameters";
	else if (m->n_bn != r->bn_n)
		bad = "wrong number of batchnorm values";
	else if (m->n_samples == 0 || m->n_samples > r->n_train)
		bad = "implausible sample count";
	else if (!all_finite(m->values, m->n_values) || !all_finite(m->bn, m->n_bn) ||
		 !fcl_extras_finite(&m->extras))
		bad = "non-finite values";
	else if ((rc = fcl_agg_accept_update(r->agg, &info, (uint32_t)i, &m->extras, &bad)) ==
		 -ENOMEM)
		return rc;
	else if (rc != 0 && !bad)
		bad = "refused by the rule";
	/* last: once in the round's sum it stays there */
	else if (fcl_agg_add_update(r->agg, m->values, m->n_samples) != 0)
		bad = fcl_reject_name(FCL_REJECT_RANGE);
	if (bad) {
		snprintf(why, len,
			 "update from client %lld in round %u rejected: %s (%zu values, %llu "
			 "samples)",
			 (long long)m->client_id, r->round, bad, m->n_values,
			 (unsigned long long)m->n_samples);
		r->slot[i] = COORD_SLOT_REJECTED;
		r->n_rejected++;
		*took = COORD_TAKE_REJECTED;
		return 0;
	}
	memcpy(r->updates[i], m->values, m->n_values * sizeof(float));
	if (r->bn_n)
		memcpy(r->slot_bn[i], m->bn, r->bn_n * sizeof(float));
	r->slot_samples[i] = m->n_samples;
	r->slot_loss[i] = m->loss;
	r->slot_train_s[i] = m->train_seconds;
	r->slot[i] = COORD_SLOT_ACCEPTED;
	r->n_accepted++;
	*took = COORD_TAKE_ACCEPTED;
	return 0;
}

/* Whether partial m's records name distinct waiting participants hosted by p,
 * and its sum is what its records say; else why not. *bad_sum: the records
 * are fine but the sum is not (then they are rejected, not dropped). */
static int partial_due(const struct coord_round *r, uint32_t p, const struct fcl_msg *m,
		       int *bad_sum, char *why, size_t len)
{
	uint32_t in_sum = 0;
	*bad_sum = 0;
	if (m->round != r->round) {
		snprintf(why, len, "partial for round %u while in round %u", m->round, r->round);
		return 0;
	}
	if (m->n_ids == 0) {
		snprintf(why, len, "partial for round %u names no participant", r->round);
		return 0;
	}
	for (size_t k = 0; k < m->n_ids; k++) {
		struct fcl_msg one = {.round = m->round, .client_id = m->ids[k]};
		int i;
		if (k && m->ids[k] <= m->ids[k - 1]) {
			snprintf(why, len, "partial for round %u: client ids not ascending",
				 r->round);
			return 0;
		}
		if (!update_due(r, p, &one, &i, why, len))
			return 0;
		in_sum += m->rec_rejected[k] == FCL_REJECT_NONE;
	}
	*bad_sum = m->frac_bits != FCL_FIXSUM_FRAC_BITS || m->addends != in_sum ||
		   m->n_sum != (in_sum ? r->model->n_params : 0);
	if (*bad_sum)
		snprintf(why, len,
			 "partial for round %u rejected: its sum (%zu values, 2^-%u, %u updates) "
			 "does not match its %u accepted records",
			 r->round, m->n_sum, m->frac_bits, m->addends, in_sum);
	return 1;
}

/* Record k of partial m into its participant's slot: accepted, or rejected
 * for `bad` (its process's reason, enum fcl_reject) or `spoilt` (the sum it
 * is part of is unusable); each rejection's line appended to why. Returns 1
 * when accepted. */
static int take_record(struct coord_round *r, const struct fcl_msg *m, size_t k, const char *spoilt,
		       char *why, size_t len)
{
	int i = slot_of(r, m->ids[k]);
	uint32_t bad = m->rec_rejected[k];
	size_t at = strlen(why);

	if (bad || spoilt) {
		snprintf(why + at, len - at, "%supdate from client %u in round %u rejected%s: %s",
			 at ? "\n" : "", m->ids[k], r->round, bad ? " by its process" : "",
			 bad ? fcl_reject_name(bad) : spoilt);
		r->slot[i] = COORD_SLOT_REJECTED;
		r->n_rejected++;
		return 0;
	}
	r->slot_samples[i] = m->rec_samples[k];
	r->slot_loss[i] = m->rec_loss[k];
	r->slot_train_s[i] = m->rec_train_s[k];
	r->slot[i] = COORD_SLOT_ACCEPTED;
	r->n_accepted++;
	return 1;
}

int coord_round_take_partial(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			     enum coord_take *took, uint32_t *n_records, char *why, size_t len)
{
	const char *spoilt = NULL;
	int bad_sum, any = 0;

	*took = COORD_TAKE_DROPPED;
	*n_records = 0;
	why[0] = '\0';
	if (!partial_due(r, p, m, &bad_sum, why, len))
		return 0;
	if (bad_sum)
		spoilt = "its process's partial sum does not match its records";
	/* records in the sum need plausible sample counts, as single updates do */
	for (size_t k = 0; k < m->n_ids && !spoilt; k++)
		if (m->rec_rejected[k] == FCL_REJECT_NONE &&
		    (m->rec_samples[k] == 0 || m->rec_samples[k] > r->n_train))
			spoilt = "implausible sample count in its process's partial sum";
	/* out of int64, or more updates than the round has: refused, never wrapped */
	if (!spoilt && m->addends && fcl_agg_add_partial(r->agg, m->sum, m->addends) != 0)
		spoilt = "its process's partial sum overflows the fixed-point range";
	if (spoilt && !why[0])
		snprintf(why, len, "partial for round %u rejected: %s", r->round, spoilt);
	for (size_t k = 0; k < m->n_ids; k++)
		any |= take_record(r, m, k, spoilt, why, len);
	*n_records = (uint32_t)m->n_ids;
	*took = any ? COORD_TAKE_ACCEPTED : COORD_TAKE_REJECTED;
	return 0;
}

/* Whether the records of process p's sum of rule messages m name distinct
 * participants it hosts whose updates have arrived (the process sends the sum
 * after them) and who still owe their messages; else why not. */
static int answer_sum_due(const struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			  char *why, size_t len)
{
	const char *name = fcl_agg_name(r->agg);
	for (size_t k = 0; k < m->n_ids; k++) {
		int i = slot_of(r, m->ids[k]);
		if (k && m->ids[k] <= m->ids[k - 1])
			snprintf(why, len, "%s sum for round %u: client ids not ascending", name,
				 r->round);
		else if (i < 0 || r->owner[m->ids[k]] != (int32_t)p)
			snprintf(why, len,
				 "%s sum for round %u names client %u, not a participant hosted "
				 "by that process",
				 name, r->round, m->ids[k]);
		else if (r->slot[i] == COORD_SLOT_WAITING)
			snprintf(why, len, "%s sum for round %u names client %u before its update",
				 name, r->round, m->ids[k]);
		else if (r->slot_answers[i] >= r->answers_due)
			snprintf(why, len, "%s sum for round %u: client %u has answered already",
				 name, r->round, m->ids[k]);
		else
			continue;
		return 0;
	}
	if (m->n_ids == 0)
		snprintf(why, len, "%s sum for round %u names no participant", name, r->round);
	return m->n_ids > 0;
}

/* A client process's sum of its participants' rule messages (client_id -1;
 * fcl/rule.h keep_answer): it answers for every participant it names. The
 * participants its process kept out are named in why; the sum is the rule's
 * (accept_answer_sum) only if every participant in it has an accepted update:
 * a sum cannot be taken apart, so when one of them was rejected here (its
 * process's partial sum of updates was refused, which refuses all of them)
 * the whole sum stays out and each participant in it is named. */
static int take_answer_sum(struct coord_round *r, uint32_t p, const struct fcl_msg *m, size_t bytes,
			   enum coord_take *took, char *why, size_t len)
{
	const char *name = fcl_agg_name(r->agg), *spoilt = NULL;
	uint32_t in_sum = 0;
	size_t at;
	int rc;

	why[0] = '\0';
	if (!answer_sum_due(r, p, m, why, len))
		return 0;
	for (size_t k = 0; k < m->n_ids; k++) {
		int i = slot_of(r, m->ids[k]);
		r->slot_answers[i] = r->answers_due; /* answered, whatever follows */
		if (m->rec_rejected[k] != FCL_REJECT_NONE)
			continue;
		in_sum++;
		if (r->slot[i] != COORD_SLOT_ACCEPTED)
			spoilt = "a participant in it has a rejected update";
	}
	*took = COORD_TAKE_ACCEPTED;
	struct fcl_round_info info = round_info(r);
	if (!spoilt && (m->frac_bits != FCL_FIXSUM_FRAC_BITS || m->addends != in_sum ||
			(in_sum == 0) != (m->n_sum == 0)))
		spoilt = "its sum does not match its records";
	else if (!spoilt && in_sum &&
		 (rc = fcl_agg_accept_answer_sum(r->agg, &info, m->sum, m->n_sum, m->addends, bytes,
						 &spoilt)) != 0) {
		if (rc == -ENOMEM)
			return rc;
		if (!spoilt)
			spoilt = "refused by the rule";
	}
	for (size_t k = 0; k < m->n_ids; k++) {
		uint32_t bad = m->rec_rejected[k];
		if (!bad && !spoilt)
			continue;
		at = strlen(why);
		snprintf(why + at, len - at,
			 "%s%s message from client %u in round %u rejected%s: %s", at ? "\n" : "",
			 name, m->ids[k], r->round, bad ? " by its process" : "",
			 bad ? fcl_reject_name(bad) : spoilt);
		*took = COORD_TAKE_REJECTED;
	}
	return 0;
}

int coord_round_take_answer(struct coord_round *r, uint32_t p, const struct fcl_msg *m,
			    size_t bytes, enum coord_take *took, char *why, size_t len)
{
	const char *name = fcl_agg_name(r->agg), *bad = NULL;
	int i, rc;

	*took = COORD_TAKE_DROPPED;
	if (m->client_id < 0 && m->round == r->round && r->answers_due)
		return take_answer_sum(r, p, m, bytes, took, why, len);
	if (m->round != r->round || r->answers_due == 0) {
		snprintf(why, len, "%s message for round %u, not expected now (round %u)", name,
			 m->round, r->round);
		return 0;
	}
	if ((i = slot_of(r, m->client_id)) < 0 || r->owner[m->client_id] != (int32_t)p) {
		snprintf(why, len,
			 "%s message from client %lld, not a participant hosted by that "
			 "process",
			 name, (long long)m->client_id);
		return 0;
	}
	if (r->slot_answers[i] >= r->answers_due) {
		snprintf(why, len, "%s message from client %lld: more than the %u expected", name,
			 (long long)m->client_id, r->answers_due);
		return 0;
	}
	/* From here it counts as answered, valid or not: nothing more is awaited. */
	r->slot_answers[i]++;
	*took = COORD_TAKE_ACCEPTED;
	struct fcl_round_info info = round_info(r);
	if (!fcl_extras_finite(&m->extras))
		bad = "non-finite values";
	else if ((rc = fcl_agg_accept_answer(r->agg, &info, (uint32_t)i, &m->extras, bytes,
					     &bad)) == -ENOMEM)
		return rc;
	else if (rc != 0 && !bad)
		bad = "refused by the rule";
	if (bad) {
		snprintf(why, len, "%s message from client %lld rejected: %s", name,
			 (long long)m->client_id, bad);
		*took = COORD_TAKE_REJECTED;
	}
	return 0;
}

uint32_t coord_round_quorum(const struct coord_round *r)
{
	uint32_t need = (uint32_t)ceil(r->sc->run.quorum * r->n_participants);
	return need ? need : 1;
}

/* A round ends once no participant can still answer. Gone participants never
 * will, so a round with any of them needs the quorum, at once rather than at
 * the deadline. */
enum coord_status coord_round_status(const struct coord_round *r)
{
	if (r->phase != COORD_TRAINING ||
	    r->n_accepted + r->n_rejected + r->n_gone < r->n_participants)
		return COORD_ROUND_OPEN;
	/* every accepted participant has sent the rule messages the round asks for */
	for (uint32_t i = 0; i < r->n_participants; i++)
		if (r->slot[i] == COORD_SLOT_ACCEPTED && r->slot_answers[i] < r->answers_due)
			return COORD_ROUND_OPEN;
	if (r->n_gone && r->n_accepted < coord_round_quorum(r))
		return COORD_ROUND_SHORT;
	return COORD_ROUND_COMPLETE;
}

/* ---- a round's end ------------------------------------------------------- */

int coord_round_aggregate(struct coord_round *r)
{
	size_t n = 0;
	uint32_t B = r->sc->train.batch_size;

	for (uint32_t i = 0; i < r->n_participants; i++) {
		if (r->slot[i] != COORD_SLOT_ACCEPTED)
			continue;
		uint64_t ns = r->slot_samples[i];
		r->agg_in[n++] = (struct fcl_agg_update){
		    .client_id = r->participants[i],
		    .slot = i,
		    .n_samples = ns,
		    .local_steps = (uint32_t)((ns + B - 1) / B) * r->sc->train.local_epochs,
		    .delta = r->updates[i]};
	}
	int rc = fcl_agg_step(r->agg, r->agg_in, n, r->model->params);
	if (rc)
		fcl_error("round %u: %s aggregation failed: %s", r->round, fcl_agg_name(r->agg),
			  strerror(-rc));
	if (rc == -ENOMEM)
		return rc;
	struct fcl_round_info info = round_info(r);
	if ((rc = fcl_agg_round_end(r->agg, &info, r->agg_in, n)) != 0)
		fcl_error("round %u: %s round end failed: %s", r->round, fcl_agg_name(r->agg),
			  strerror(-rc));
	return rc == -ENOMEM ? rc : 0;
}

int coord_round_next(struct coord_round *r)
{
	r->round++;
	return r->round < r->sched->n_rounds;
}

void coord_round_finish(struct coord_round *r)
{
	r->phase = COORD_DONE;
}

void coord_round_simulate(struct coord_round *r)
{
	r->phase = COORD_SIMULATING;
	r->started = fcl_now();
}

/* ---- checkpoints --------------------------------------------------------- */

int coord_round_save(const struct coord_round *r, FILE *f)
{
	uint32_t N = r->sched->n_clients, head[2] = {r->round, N};
	uint8_t *gone = malloc(N ? N : 1);
	if (!gone)
		return -ENOMEM;
	for (uint32_t c = 0; c < N; c++)
		gone[c] = r->owner[c] == COORD_OWNER_GONE;
	int rc = fcl_fput(f, head, sizeof head);
	rc = rc ? rc : fcl_fput(f, gone, N);
	free(gone);
	return rc;
}

int coord_round_load(struct coord_round *r, FILE *f)
{
	uint32_t N = r->sched->n_clients, head[2];
	int rc = fcl_fget(f, head, sizeof head);
	if (rc)
		return rc;
	if (head[1] != N || head[0] > r->sched->n_rounds)
		return -EINVAL;
	uint8_t *gone = malloc(N ? N : 1);
	if (!gone)
		return -ENOMEM;
	if ((rc = fcl_fget(f, gone, N)) != 0) {
		free(gone);
		return rc;
	}
	r->round = head[0];
	r->n_clients_gone = 0;
	for (uint32_t c = 0; c < N; c++) {
		if (gone[c] && r->owner[c] >= 0)
			r->n_joined--; /* hosted now, but it was gone by then: it stays out */
		if (gone[c])
			r->owner[c] = COORD_OWNER_GONE;
		else if (r->owner[c] == COORD_OWNER_GONE)
			r->owner[c] = -1; /* not gone by then: it needs a host again */
		r->n_clients_gone += gone[c];
	}
	free(gone);
	return 0;
}
