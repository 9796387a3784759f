/* server/sim_plan.c - who trains when, in simulated time (see sim.h)
 *
 * A job is planned at once and completely: its data round, its duration from
 * the client's device (samples / speed + bytes / bandwidth + latency), its
 * finish, and whether the device stays online until then (if not, the job is
 * lost when the device goes offline and is never sent). A sync round is then
 * planned as a whole: its end is when `per_round` of its jobs have finished,
 * or its deadline, whichever comes first; jobs finishing later are stragglers.
 */
#include "round.h"
#include "sim-private.h"

#include "fcl/devices.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t coord_sim__slot(const struct coord_sim *s, double t)
{
	double k = floor(t / s->slot_s);
	uint32_t j;

	if (!(k > 0))
		return 0;
	j = k >= s->n_rounds ? s->n_rounds : (uint32_t)k;
	/* the same boundaries as coord_sim__boundary, whatever the rounding */
	while (j > 0 && coord_sim__boundary(s, j - 1) > t)
		j--;
	while (j < s->n_rounds && coord_sim__boundary(s, j) <= t)
		j++;
	return j < s->n_rounds ? j : s->n_rounds - 1;
}

double coord_sim__boundary(const struct coord_sim *s, uint32_t j)
{
	return (double)(j + 1) * s->slot_s;
}

uint32_t coord_sim__data_round(const struct coord_sim *s)
{
	uint64_t r;

	if (s->time_tasks)
		return coord_sim__slot(s, s->now);
	r = s->async ? s->version : s->round;
	return r < s->n_rounds ? (uint32_t)r : s->n_rounds - 1;
}

/* Samples client c trains on in data round r (0: none). */
static uint64_t job_samples(const struct coord_sim *s, uint32_t c, uint32_t r)
{
	struct fcl_client_round cr;

	fcl_schedule_client_round(s->sched, c, r, &cr);
	return cr.task < 0 ? 0 : (uint64_t)(cr.n + cr.n_rec) * cr.epochs;
}

/* Can client c start a job now, on the data of round r? */
static int eligible(struct coord_sim *s, uint32_t c, uint32_t r, double *until)
{
	*until = HUGE_VAL;
	if (s->free_at[c] > s->now || !fcl_schedule_available(s->sched, s->sc->seed, c, r))
		return 0;
	return fcl_devices_online(s->dev, c, s->now, until) == 1;
}

/* Plans job j of client c from now on data round r: finish, or lost when the
 * device goes offline first (or the client's process is gone). */
static void plan_job(struct coord_sim *s, struct coord_job *j, uint32_t r)
{
	uint32_t c = j->client;
	double until;

	j->data_round = r;
	j->round = s->round;
	j->version = s->version;
	j->start = s->now;
	j->state = COORD_JOB_OUT;
	j->finish =
	    s->now + fcl_devices_duration(s->dev, c, job_samples(s, c, r), s->bytes, s->bytes);
	if (s->owner[c] == COORD_OWNER_GONE) {
		j->state = COORD_JOB_LOST;
		j->finish = s->now;
	} else if (fcl_devices_online(s->dev, c, s->now, &until) == 1 && j->finish > until) {
		j->state = COORD_JOB_LOST; /* offline before it could answer */
		j->finish = until;
	}
	s->free_at[c] = j->finish;
}

/* The rule's request for the jobs planned now (shared by all of them). */
static int request(struct coord_sim *s, uint32_t r, uint32_t round, int task_end, uint32_t n_slots,
		   uint32_t *answers)
{
	struct fcl_round_info info = {.round = round,
				      .task = fcl_schedule_task_of_round(s->sched, r),
				      .task_end = task_end,
				      .n_slots = n_slots,
				      .n_train = s->n_train};
	*answers = fcl_agg_answers(s->agg, &info);
	return fcl_agg_request(s->agg, &info, &s->request);
}

/* The planned jobs from index `first` go out in one dispatch when any is to be sent. */
static void dispatch_jobs(struct coord_sim *s, uint32_t first, uint32_t r, uint32_t answers,
			  int task_end)
{
	int any = 0;
	for (uint32_t i = first; i < s->n_jobs; i++) {
		struct coord_job *j = &s->jobs[i];
		if (j->state != COORD_JOB_OUT)
			continue;
		any = 1;
		j->answers_due = answers;
		j->task_end = task_end;
	}
	if (!any)
		return;
	s->pending = ++s->dispatches;
	s->pending_round = r;
	for (uint32_t i = first; i < s->n_jobs; i++)
		if (s->jobs[i].state == COORD_JOB_OUT)
			s->jobs[i].dispatch = s->pending;
}

/* ---- sync ---------------------------------------------------------------------- */

/* The selection: n_select of the n candidates (ascending), by the same partial
 * Fisher-Yates draw as fcl_schedule_participants, so that without limits on
 * time the participants are those of a run without devices. */
static uint32_t select_clients(struct coord_sim *s, uint32_t *cand, uint32_t n)
{
	struct fcl_rng rng;
	uint32_t k = n < s->n_select ? n : s->n_select;

	if (n <= s->n_select)
		return n;
	fcl_rng_init(&rng, s->sc->seed, FCL_RNG_PARTICIPANTS, FCL_RNG_NO_CLIENT, s->round);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t j = i + (uint32_t)fcl_rng_below(&rng, n - i);
		uint32_t t = cand[i];
		cand[i] = cand[j];
		cand[j] = t;
	}
	for (uint32_t i = 1; i < k; i++) /* ascending again (insertion sort: k is small) */
		for (uint32_t j = i; j > 0 && cand[j - 1] > cand[j]; j--) {
			uint32_t t = cand[j];
			cand[j] = cand[j - 1];
			cand[j - 1] = t;
		}
	return k;
}

/* When something can change for a round nobody could take part in: a device
 * coming online, a busy client free again, the next round of the schedule. */
static double next_change(struct coord_sim *s)
{
	double t = HUGE_VAL, until;

	for (uint32_t c = 0; c < s->sched->n_clients; c++) {
		if (s->owner[c] == COORD_OWNER_GONE)
			continue;
		if (s->free_at[c] > s->now)
			t = fmin(t, s->free_at[c]);
		else if (fcl_devices_online(s->dev, c, s->now, &until) == 0)
			t = fmin(t, until);
	}
	if (s->time_tasks)
		t = fmin(t, coord_sim__boundary(s, coord_sim__slot(s, s->now)));
	return t;
}

/* The round's end from its planned jobs [first, n_jobs): the finish of the
 * per_round-th to finish, or the deadline if sooner; then who is late. */
static double round_end(struct coord_sim *s, uint32_t first)
{
	uint32_t n = 0, need, done = 0;
	double end = s->now, keep;

	for (uint32_t i = first; i < s->n_jobs; i++) {
		end = fmax(end, s->jobs[i].finish); /* when every fate is known */
		if (s->jobs[i].state == COORD_JOB_OUT)
			s->ids[n++] = i;
	}
	const struct coord_sim_key *key = coord_sim__order(s, s->ids, n, 0);
	need = s->need < s->n_jobs - first ? s->need : s->n_jobs - first;
	keep = n >= need && need > 0 ? key[need - 1].finish : end;
	if (s->sc->aggregation.deadline > 0)
		keep = fmin(keep, s->now + s->sc->aggregation.deadline);
	for (uint32_t k = 0; k < n; k++) {
		struct coord_job *j = &s->jobs[key[k].job];
		if (done < need && j->finish <= keep) {
			done++;
			continue;
		}
		j->late = 1;
		if (!s->sc->aggregation.keep_stragglers) { /* cancelled at the round's end */
			j->state = COORD_JOB_LOST;
			s->free_at[j->client] = keep;
		}
	}
	return keep;
}

/* Is the round [now, end) on data round r the last of its task? Tasks in
 * simulated time: when it ends in another task, or at the run's end. */
static int round_ends_task(const struct coord_sim *s, uint32_t r, double end)
{
	if (!s->time_tasks)
		return fcl_schedule_is_task_end(s->sched, r);
	return end >= s->horizon || fcl_schedule_task_of_round(s->sched, coord_sim__slot(s, end)) !=
					fcl_schedule_task_of_round(s->sched, r);
}

int coord_sim__open_round(struct coord_sim *s)
{
	uint32_t r = coord_sim__data_round(s), n = 0, first = s->n_jobs, answers;
	double until;
	int rc;

	for (uint32_t c = 0; c < s->sched->n_clients; c++)
		if (eligible(s, c, r, &until) ||
		    (s->owner[c] == COORD_OWNER_GONE && s->free_at[c] <= s->now &&
		     fcl_schedule_available(s->sched, s->sc->seed, c, r)))
			s->ids[n++] = c;
	n = select_clients(s, s->ids, n);
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = coord_sim__new_job(s, s->ids[i])) < 0)
			return -ENOMEM;
		plan_job(s, &s->jobs[rc], r);
	}
	s->round_open = 1;
	s->request_sends = 0;
	s->round_start = s->now;
	s->round_data = r;
	if (n == 0) {
		double t = next_change(s);
		s->round_end = t < HUGE_VAL ? t : s->time_tasks ? s->horizon : s->now;
	} else {
		s->round_end = round_end(s, first);
	}
	s->round_task_end = round_ends_task(s, r, s->round_end);
	if (n == 0)
		return 0;
	if ((rc = request(s, r, s->round, s->round_task_end, n, &answers)) != 0)
		return rc;
	dispatch_jobs(s, first, r, answers, s->round_task_end);
	return 0;
}

/* ---- async ---------------------------------------------------------------------- */

/* Jobs not yet taken by the clock. */
static uint32_t in_flight(const struct coord_sim *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->n_jobs; i++)
		n += !s->jobs[i].done;
	return n;
}

/* The idle clients that can start now on round r, ascending; and in *wake the
 * soonest an offline one with data comes online. */
static uint32_t candidates(struct coord_sim *s, uint32_t r, double *wake)
{
	uint32_t n = 0;
	double until;

	*wake = HUGE_VAL;
	for (uint32_t c = 0; c < s->sched->n_clients; c++) {
		if (s->owner[c] == COORD_OWNER_GONE || s->free_at[c] > s->now ||
		    !fcl_schedule_available(s->sched, s->sc->seed, c, r))
			continue;
		if (fcl_devices_online(s->dev, c, s->now, &until) == 1)
			s->ids[n++] = c;
		else
			*wake = fmin(*wake, until);
	}
	return n;
}

/* FedAsync: the version the planned jobs start from, kept while they need it. */
static struct coord_version *current_version(struct coord_sim *s)
{
	size_t np = s->model->n_params;
	for (struct coord_version *v = s->versions; v; v = v->next)
		if (v->v == s->version)
			return v;
	struct coord_version *v = malloc(sizeof *v + np * sizeof(float));
	if (!v)
		return NULL;
	v->v = s->version;
	v->refs = 0;
	memcpy(v->params, s->model->params, np * sizeof(float));
	v->next = s->versions;
	s->versions = v;
	return v;
}

int coord_sim__refill(struct coord_sim *s)
{
	uint32_t r = coord_sim__data_round(s), first = s->n_jobs, out = in_flight(s), n, answers;
	int te, rc;

	s->wake = HUGE_VAL;
	n = candidates(s, r, &s->wake);
	while (out < s->concurrency && n > 0) {
		struct fcl_rng rng;
		fcl_rng_init(&rng, s->sc->seed, FCL_RNG_DISPATCH, FCL_RNG_NO_CLIENT,
			     (uint32_t)s->planned);
		uint32_t k = (uint32_t)fcl_rng_below(&rng, n), c = s->ids[k];
		memmove(s->ids + k, s->ids + k + 1, (n - k - 1) * sizeof *s->ids);
		n--;
		s->planned++;
		if ((rc = coord_sim__new_job(s, c)) < 0)
			return -ENOMEM;
		plan_job(s, &s->jobs[rc], r);
		if (s->fedasync && !(s->jobs[rc].base = current_version(s)))
			return -ENOMEM;
		if (s->jobs[rc].base)
			s->jobs[rc].base->refs++;
		out++;
	}
	if (out < s->concurrency && s->time_tasks) /* data may come with the next round */
		s->wake = fmin(s->wake, coord_sim__boundary(s, coord_sim__slot(s, s->now)));
	if (s->n_jobs == first)
		return 0;
	/* FOT-like rules: the jobs of a task's last round carry its request, as many
	 * as the rule has slots for at the task end (sim.c collects their answers) */
	te = fcl_schedule_is_task_end(s->sched, r);
	if (te && s->te_round != r) {
		coord_sim__collect(s, 1);
		s->te_round = r;
	}
	te = te && s->n_te + (s->n_jobs - first) <= s->slots;
	if ((rc = request(s, r, (uint32_t)s->version, te, s->n_jobs - first, &answers)) != 0)
		return rc;
	dispatch_jobs(s, first, r, answers, te);
	if (te)
		s->n_te += s->n_jobs - first;
	return 0;
}
