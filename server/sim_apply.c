/* server/sim_apply.c - simulated time: aggregation steps (see sim.h)
 *
 * The rule sees each aggregation as a round of its own: the updates in
 * ascending client id as slots 0..n-1, accept_update for each (called here,
 * when the clock reaches them, not on arrival), combine, round_end. Staleness
 * d counts model versions (aggregations) since a job's start:
 *   sync     stale updates (kept stragglers) are scaled by s(d), the round's by 1
 *   FedBuff  x += lr * combine(s(d_i) * update_i)   over the K buffered updates
 *   FedAsync x += alpha * s(d) * (x_start + combine(update) - x)
 * The rule's task-end protocol (FOT's sketches): in a sync round, from the
 * participants that answer in time; asynchronously, from every job that
 * started in the task's last round, handed over once the last of them is done.
 */
#include "sim-private.h"

#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double coord_sim_staleness(const struct fcl_staleness *st, uint64_t d)
{
	switch (st->kind) {
	case FCL_STALENESS_POLYNOMIAL:
		return pow(1.0 + (double)d, -st->a);
	case FCL_STALENESS_HINGE:
		return (double)d <= st->b ? 1.0 : 1.0 / (st->a * ((double)d - st->b) + 1.0);
	case FCL_STALENESS_CONSTANT:
		break;
	}
	return 1.0;
}

/* ---- aggregation --------------------------------------------------------------------- */

/* The rule's round for an aggregation step. */
static struct fcl_round_info step_info(const struct coord_sim *s, uint32_t n, int task_end)
{
	uint32_t r = s->async ? coord_sim__data_round(s) : s->round_data;
	return (struct fcl_round_info){.round = (uint32_t)s->version,
				       .task = fcl_schedule_task_of_round(s->sched, r),
				       .task_end = task_end,
				       .n_slots = n,
				       .n_train = s->n_train,
				       .request_sends = s->request_sends};
}

/* The rule takes job j as slot i: its update's extras, then (hand_answers) its
 * rule messages. 0 when accepted, 1 refused, -ENOMEM. */
static int hand_to_rule(struct coord_sim *s, const struct fcl_round_info *info, uint32_t i,
			struct coord_job *j, int hand_answers)
{
	const char *why = NULL;
	int rc = fcl_agg_accept_update(s->agg, info, i, &j->extras->x, &why);

	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		fcl_warn("update from client %u (dispatch %llu) refused by %s: %s", j->client,
			 (unsigned long long)j->dispatch, fcl_agg_name(s->agg), why ? why : "?");
		return 1;
	}
	for (struct coord_kept *k = j->kept; hand_answers && k; k = k->next) {
		why = NULL;
		rc = fcl_agg_accept_answer(s->agg, info, i, &k->x, k->bytes, &why);
		if (rc == -ENOMEM)
			return rc;
		if (rc)
			fcl_warn("%s message from client %u refused: %s", fcl_agg_name(s->agg),
				 j->client, why ? why : "?");
	}
	return 0;
}

/* Applies the combination in a->delta to the model, as the mode says. */
static void apply(struct coord_sim *s, const struct coord_job *single)
{
	const struct fcl_agg *a = s->agg;
	float *x = s->model->params;
	size_t np = s->model->n_params;

	if (s->fedasync) {
		float alpha = (float)(s->sc->aggregation.async.alpha *
				      coord_sim_staleness(&s->sc->aggregation.staleness,
							  s->version - single->version));
		const float *x0 = single->base->params;
		for (size_t k = 0; k < np; k++)
			x[k] += alpha * (x0[k] + a->delta[k] - x[k]);
	} else if (s->async && s->sc->aggregation.async.lr != 1.0) {
		float lr = (float)s->sc->aggregation.async.lr;
		for (size_t k = 0; k < np; k++)
			x[k] += lr * a->delta[k];
	} else {
		for (size_t k = 0; k < np; k++) /* as fcl_agg_step */
			x[k] += a->delta[k];
	}
}

/* One aggregation over the jobs idx[0..n) (IN ones aggregate, in ascending
 * client id): the rule's round, the model's new version, the step's record. */
int coord_sim__aggregate(struct coord_sim *s, const uint32_t *idx, uint32_t n, int task_end)
{
	const struct coord_sim_key *key = coord_sim__order(s, idx, n, 1);
	struct coord_sim_step *st = &s->step;
	uint32_t B = s->sc->train.batch_size, m = 0, slots = 0;
	int rc;

	for (uint32_t k = 0; k < n; k++)
		slots += s->jobs[key[k].job].state == COORD_JOB_IN;
	struct fcl_round_info info = step_info(s, slots < s->slots ? slots : s->slots, task_end);
	for (uint32_t k = 0; k < n; k++) {
		struct coord_job *j = &s->jobs[key[k].job];
		uint64_t d = s->version - j->version;
		if (j->state != COORD_JOB_IN)
			continue;
		if (m == s->slots) { /* more stale updates than the rule has room for */
			st->n_too_stale++;
			continue;
		}
		double w =
		    s->fedasync ? 1.0 : coord_sim_staleness(&s->sc->aggregation.staleness, d);
		if (w != 1.0)
			for (size_t q = 0; q < s->model->n_params; q++)
				j->update[q] *= (float)w;
		if ((rc = hand_to_rule(s, &info, m, j, task_end && !j->late)) < 0)
			return rc;
		if (rc) {
			st->n_rejected++;
			continue;
		}
		s->agg_in[m] = (struct fcl_agg_update){
		    .client_id = j->client,
		    .slot = m,
		    .n_samples = j->samples,
		    .local_steps = (uint32_t)((j->samples + B - 1) / B) * s->sc->train.local_epochs,
		    .delta = j->update};
		st->clients[st->n] = j->client;
		st->train_s[st->n] = j->train_s;
		st->staleness[st->n++] = (uint32_t)d;
		st->loss_sum += j->loss;
		st->train_s_sum += j->train_s;
		m++;
	}
	rc = fcl_agg_combine(s->agg, s->agg_in, m);
	if (rc == 0 && m)
		apply(s, m == 1 ? &s->jobs[key[0].job] : NULL);
	else if (rc)
		fcl_error("step %llu: %s aggregation failed: %s", (unsigned long long)s->version,
			  fcl_agg_name(s->agg), strerror(-rc));
	if (rc == -ENOMEM)
		return rc;
	if ((rc = fcl_agg_round_end(s->agg, &info, s->agg_in, m)) != 0)
		fcl_error("step %llu: %s round end failed: %s", (unsigned long long)s->version,
			  fcl_agg_name(s->agg), strerror(-rc));
	return rc == -ENOMEM ? rc : 0;
}

/* Starts a step's record. */
void coord_sim__step_begin(struct coord_sim *s)
{
	struct coord_sim_step *st = &s->step;
	st->n = st->n_rejected = st->n_lost = st->n_too_stale = 0;
	st->n_selected = st->n_late = 0;
	st->loss_sum = st->train_s_sum = 0.0;
}

/* Async: jobs taken since the last step count in the next one. */
void coord_sim__step_begin_once(struct coord_sim *s)
{
	if (s->step_done)
		coord_sim__step_begin(s);
	s->step_done = 0;
}

/* A job the clock has taken without an update to use: counted in the step. */
void coord_sim__count_unused(struct coord_sim *s, const struct coord_job *j)
{
	if (j->state == COORD_JOB_REJECTED)
		s->step.n_rejected++;
	else if (j->state == COORD_JOB_LOST && !j->late) /* late ones are listed as such */
		s->step.n_lost++;
}

/* The step is made: version, record, and the jobs it used retired (those that
 * carried an async task-end request wait for the rule's task end). */
void coord_sim__step_end(struct coord_sim *s, uint32_t round, uint32_t data_round, double start)
{
	struct coord_sim_step *st = &s->step;

	st->round = round;
	st->data_round = data_round;
	st->task = fcl_schedule_task_of_round(s->sched, data_round);
	st->task_end = fcl_schedule_is_task_end(s->sched, data_round);
	st->start = start;
	st->time = s->now;
	s->version++;
	s->steps++;
	st->version = s->version;
	s->step_done = 1;
	for (uint32_t i = s->n_jobs; i-- > 0;) {
		struct coord_job *j = &s->jobs[i];
		if (j->done && !j->buffered && !(s->async && j->task_end))
			coord_sim__retire(s, i);
	}
}

int coord_sim__collect(struct coord_sim *s, int force)
{
	uint32_t n = 0;

	if (!force && coord_sim__data_round(s) == s->te_round)
		return 0; /* the task's last round may still start jobs */
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		const struct coord_job *j = &s->jobs[i];
		if (!j->task_end)
			continue;
		if (!j->done && !force)
			return 0; /* the task's last round still trains */
		if (j->done)
			s->ids[n++] = i;
	}
	if (s->n_te == 0 && n == 0)
		return 0;
	/* the jobs of the task's last round that answered, in client-id order */
	const struct coord_sim_key *key = coord_sim__order(s, s->ids, n, 1);
	struct fcl_round_info info = step_info(s, 0, 1);
	uint32_t m = 0, B = s->sc->train.batch_size;
	int rc = 0;
	info.task = fcl_schedule_task_of_round(s->sched, s->te_round);
	info.request_sends = s->request_sends;
	for (uint32_t k = 0; k < n && m < s->slots && rc >= 0; k++) {
		struct coord_job *j = &s->jobs[key[k].job];
		if (j->state != COORD_JOB_IN || j->answers < j->answers_due)
			continue;
		for (struct coord_kept *q = j->kept; q && rc >= 0; q = q->next) {
			const char *why = NULL;
			rc = fcl_agg_accept_answer(s->agg, &info, m, &q->x, q->bytes, &why);
			if (rc > 0 || (rc < 0 && rc != -ENOMEM))
				fcl_warn("%s message from client %u refused: %s",
					 fcl_agg_name(s->agg), j->client, why ? why : "?");
		}
		s->agg_in[m] = (struct fcl_agg_update){
		    .client_id = j->client,
		    .slot = m,
		    .n_samples = j->samples,
		    .local_steps = (uint32_t)((j->samples + B - 1) / B) * s->sc->train.local_epochs,
		    .delta = j->update};
		m++;
	}
	if (rc == -ENOMEM)
		return rc;
	info.n_slots = m;
	if ((rc = fcl_agg_round_end(s->agg, &info, s->agg_in, m)) != 0)
		fcl_error("task end of round %u: %s failed: %s", s->te_round, fcl_agg_name(s->agg),
			  strerror(-rc));
	for (uint32_t i = s->n_jobs; i-- > 0;) {
		struct coord_job *j = &s->jobs[i];
		if (j->task_end && j->done)
			coord_sim__retire(s, i);
		else
			j->task_end = 0; /* still training: its answers come too late */
	}
	s->n_te = 0;
	s->request_sends = 0;
	return rc == -ENOMEM ? rc : 0;
}
