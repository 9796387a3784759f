/* server/sim.c - simulated time: the job table and the clock (see sim.h)
 *
 * The files of the part: sim.c (setup, jobs, the clock's steps), sim_plan.c
 * (who trains when), sim_io.c (round starts out, updates and rule messages in),
 * sim_apply.c (aggregation steps and the rule's rounds).
 *
 * The clock's order of events: a boundary of the schedule's rounds (tasks in
 * simulated time) comes after every job that finishes at or before it; jobs
 * come in (finish, client id) order; a sync round's end takes every job due by
 * then at once. The clock never passes a job whose update has not arrived.
 */
#include "round.h"
#include "sim-private.h"

#include "fcl/devices.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t coord_sim_slots(const struct fcl_scenario *sc)
{
	uint32_t per = sc->clients.per_round, N = sc->clients.count, sel;

	if (sc->aggregation.mode == FCL_AGG_ASYNC) {
		uint32_t k = sc->aggregation.async.method == FCL_ASYNC_FEDBUFF
				 ? sc->aggregation.async.buffer
				 : 1;
		uint32_t c = fcl_scenario_concurrency(sc);
		return k > c ? k : c;
	}
	sel = per + (uint32_t)ceil(per * sc->aggregation.over_selection - 1e-9);
	sel = sel < N ? sel : N;
	/* kept stragglers join later rounds: room for as many again */
	if (sc->aggregation.keep_stragglers)
		sel = 2 * sel < N ? 2 * sel : N;
	return sel;
}

/* ---- setup ------------------------------------------------------------------------ */

int coord_sim_init(struct coord_sim *s, const struct fcl_scenario *sc,
		   const struct fcl_schedule *sched, struct fcl_devices *dev, struct fcl_mlp *model,
		   struct fcl_agg *agg, const int32_t *owner, uint64_t n_train)
{
	uint32_t N = sched->n_clients, per = sched->per_round;

	memset(s, 0, sizeof *s);
	s->sc = sc;
	s->sched = sched;
	s->dev = dev;
	s->model = model;
	s->agg = agg;
	s->owner = owner;
	s->n_train = n_train;
	s->async = sc->aggregation.mode == FCL_AGG_ASYNC;
	s->fedasync = s->async && sc->aggregation.async.method == FCL_ASYNC_FEDASYNC;
	s->time_tasks = sc->tasks.seconds_per_task > 0;
	s->n_rounds = sched->n_rounds;
	s->slot_s = sc->tasks.seconds_per_task / sched->rounds_per_task;
	s->horizon = s->time_tasks ? coord_sim__boundary(s, s->n_rounds - 1) : HUGE_VAL;
	s->need = per;
	s->n_select = per + (uint32_t)ceil(per * sc->aggregation.over_selection - 1e-9);
	s->n_select = s->n_select < N ? s->n_select : N;
	s->concurrency = fcl_scenario_concurrency(sc);
	s->buffer = s->fedasync ? 1 : sc->aggregation.async.buffer;
	s->slots = coord_sim_slots(sc);
	s->bytes = (uint64_t)model->n_params * sizeof(float);
	s->wake = HUGE_VAL;
	s->te_round = UINT32_MAX;
	s->free_at = calloc(N, sizeof *s->free_at);
	s->ids = malloc(N * sizeof *s->ids);
	s->agg_in = calloc(s->slots, sizeof *s->agg_in);
	s->step.clients = malloc(N * sizeof *s->step.clients);
	s->step.staleness = malloc(N * sizeof *s->step.staleness);
	s->step.train_s = malloc(N * sizeof *s->step.train_s);
	s->step.selected = malloc(N * sizeof *s->step.selected);
	s->step.late = malloc(N * sizeof *s->step.late);
	if (!s->free_at || !s->ids || !s->agg_in || !s->step.clients || !s->step.staleness ||
	    !s->step.train_s || !s->step.selected || !s->step.late) {
		coord_sim_fini(s);
		return -ENOMEM;
	}
	return 0;
}

/* Frees job i's buffers and drops it from the table (the last one moves into i). */
void coord_sim__retire(struct coord_sim *s, uint32_t i)
{
	struct coord_job *j = &s->jobs[i];
	free(j->update);
	coord_sim__free_kept(j->extras);
	coord_sim__free_kept(j->kept);
	if (j->base && --j->base->refs == 0) {
		struct coord_version **p = &s->versions;
		while (*p != j->base)
			p = &(*p)->next;
		*p = j->base->next;
		free(j->base);
	}
	s->jobs[i] = s->jobs[--s->n_jobs];
}

void coord_sim_fini(struct coord_sim *s)
{
	while (s->jobs && s->n_jobs)
		coord_sim__retire(s, s->n_jobs - 1);
	while (s->versions) {
		struct coord_version *v = s->versions;
		s->versions = v->next;
		free(v);
	}
	free(s->jobs);
	free(s->keys);
	free(s->free_at);
	free(s->ids);
	free(s->agg_in);
	free(s->step.clients);
	free(s->step.staleness);
	free(s->step.train_s);
	free(s->step.selected);
	free(s->step.late);
	memset(s, 0, sizeof *s);
}

int coord_sim__new_job(struct coord_sim *s, uint32_t c)
{
	if (s->n_jobs == s->cap_jobs) {
		uint32_t cap = s->cap_jobs ? 2 * s->cap_jobs : 32;
		struct coord_job *jobs = realloc(s->jobs, cap * sizeof *jobs);
		if (!jobs)
			return -1;
		s->jobs = jobs;
		struct coord_sim_key *keys = realloc(s->keys, cap * sizeof *keys);
		if (!keys)
			return -1;
		s->keys = keys;
		s->cap_jobs = cap;
	}
	struct coord_job *j = &s->jobs[s->n_jobs];
	memset(j, 0, sizeof *j);
	j->client = c;
	return (int)s->n_jobs++;
}

int coord_sim__ready(const struct coord_job *j)
{
	return j->state == COORD_JOB_LOST ||
	       (j->state != COORD_JOB_OUT && j->answers >= j->answers_due);
}

static int cmp_key(const void *x, const void *y)
{
	const struct coord_sim_key *a = x, *b = y;
	if (a->finish != b->finish)
		return a->finish < b->finish ? -1 : 1;
	if (a->client != b->client)
		return a->client < b->client ? -1 : 1;
	return (a->dispatch > b->dispatch) - (a->dispatch < b->dispatch);
}

struct coord_sim_key *coord_sim__order(struct coord_sim *s, const uint32_t *idx, uint32_t n,
				       int by_client)
{
	for (uint32_t k = 0; k < n; k++) {
		const struct coord_job *j = &s->jobs[idx[k]];
		s->keys[k] = (struct coord_sim_key){.finish = by_client ? 0 : j->finish,
						    .client = j->client,
						    .job = idx[k],
						    .dispatch = j->dispatch};
	}
	qsort(s->keys, n, sizeof *s->keys, cmp_key);
	return s->keys;
}

/* ---- the clock: sync ------------------------------------------------------------- */

/* The jobs the round's end takes: its own but the kept stragglers, and older
 * stragglers that finish by then. 1 when all of them are in, else 0. */
static int round_due(struct coord_sim *s, uint32_t *n)
{
	*n = 0;
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		const struct coord_job *j = &s->jobs[i];
		int mine = j->round == s->round && !(j->late && j->state != COORD_JOB_LOST);
		if (!mine && !(j->round < s->round && j->finish <= s->round_end))
			continue;
		if (!coord_sim__ready(j))
			return 0;
		s->ids[(*n)++] = i;
	}
	return 1;
}

static int sync_step(struct coord_sim *s, enum coord_sim_what *what)
{
	uint32_t n;
	int rc;

	if (!round_due(s, &n)) {
		*what = COORD_SIM_WAIT;
		return 0;
	}
	coord_sim__step_begin(s);
	s->now = s->round_end;
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		struct coord_job *j = &s->jobs[i];
		if (j->round != s->round)
			continue;
		s->step.selected[s->step.n_selected++] = j->client;
		if (j->late)
			s->step.late[s->step.n_late++] = j->client;
	}
	for (uint32_t k = 0; k < n; k++) {
		s->jobs[s->ids[k]].done = 1;
		coord_sim__count_unused(s, &s->jobs[s->ids[k]]);
	}
	if ((rc = coord_sim__aggregate(s, s->ids, n, s->round_task_end)) != 0)
		return rc;
	coord_sim__step_end(s, s->round, s->round_data, s->round_start);
	s->round++;
	s->round_open = 0;
	if (!s->time_tasks && s->round == s->n_rounds)
		s->ended = 1;
	*what = COORD_SIM_STEP;
	return 0;
}

/* ---- the clock: async ------------------------------------------------------------ */

/* The job the clock takes next, or -1. */
static int head(const struct coord_sim *s)
{
	int best = -1;
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		const struct coord_job *j = &s->jobs[i], *b = best >= 0 ? &s->jobs[best] : NULL;
		if (j->done)
			continue;
		if (!b || j->finish < b->finish ||
		    (j->finish == b->finish && j->client < b->client))
			best = (int)i;
	}
	return best;
}

/* The clock takes job h: into the buffer (or mixed in), or dropped; 1 when an
 * aggregation step came of it. */
static int take(struct coord_sim *s, uint32_t h)
{
	struct coord_job *j = &s->jobs[h];
	uint32_t max = s->sc->aggregation.staleness.max;
	int rc;

	j->done = 1;
	if (j->state != COORD_JOB_IN) {
		coord_sim__count_unused(s, j);
		return 0;
	}
	if (max && s->version - j->version > max) {
		s->step.n_too_stale++;
		return 0;
	}
	j->buffered = 1;
	if (++s->n_buffered < s->buffer)
		return 0;
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->n_jobs; i++)
		if (s->jobs[i].buffered) {
			s->jobs[i].buffered = 0;
			s->ids[n++] = i;
		}
	s->n_buffered = 0;
	if ((rc = coord_sim__aggregate(s, s->ids, n, 0)) != 0)
		return rc;
	return 1;
}

/* The clock's next async event. 1 with *what (WAIT, STEP), 0 to go on, or an error. */
static int async_step(struct coord_sim *s, enum coord_sim_what *what)
{
	int h = head(s), rc;
	double t = h >= 0 ? s->jobs[h].finish : HUGE_VAL;

	if (t > s->wake) { /* an idle client may start before anything finishes */
		s->now = s->wake;
		return coord_sim__refill(s);
	}
	if (h < 0) {
		s->fail = "no client can train any more";
		s->ended = 1;
		return 0;
	}
	if (!coord_sim__ready(&s->jobs[h])) {
		*what = COORD_SIM_WAIT;
		return 1;
	}
	s->now = t;
	coord_sim__step_begin_once(s);
	if ((rc = take(s, (uint32_t)h)) < 0)
		return rc;
	if (rc == 1) {
		coord_sim__step_end(s, (uint32_t)s->version, coord_sim__data_round(s), s->now);
		if (!s->time_tasks && s->version >= s->n_rounds)
			s->ended = 1;
		*what = COORD_SIM_STEP;
	} else {
		/* taken with nothing to aggregate now: gone at once unless buffered */
		for (uint32_t i = s->n_jobs; i-- > 0;)
			if (s->jobs[i].done && !s->jobs[i].buffered && !s->jobs[i].task_end)
				coord_sim__retire(s, i);
	}
	if (s->n_te && (rc = coord_sim__collect(s, 0)) != 0)
		return rc;
	if (!s->ended && (rc = coord_sim__refill(s)) != 0)
		return rc;
	return rc == 0 && *what == COORD_SIM_STEP;
}

/* ---- the clock ----------------------------------------------------------------- */

/* Tasks in simulated time: the end of the next schedule round comes before t. */
static int boundary_before(const struct coord_sim *s, double t)
{
	return s->time_tasks && s->boundaries < s->n_rounds &&
	       coord_sim__boundary(s, s->boundaries) < t;
}

static void boundary(struct coord_sim *s)
{
	struct coord_sim_step *st = &s->step;
	uint32_t j = s->boundaries++;

	s->now = coord_sim__boundary(s, j);
	st->round = j;
	st->data_round = j;
	st->task = fcl_schedule_task_of_round(s->sched, j);
	st->task_end = fcl_schedule_is_task_end(s->sched, j);
	st->time = s->now;
	st->version = s->version;
	if (s->boundaries == s->n_rounds)
		s->ended = 1;
}

/* When the clock's next event is: the round's end (sync), the head job or a wake (async). */
static double next_event(struct coord_sim *s)
{
	if (!s->async)
		return s->round_open ? s->round_end : s->now;
	int h = head(s);
	return fmin(h >= 0 ? s->jobs[h].finish : HUGE_VAL, s->wake);
}

int coord_sim_next(struct coord_sim *s, enum coord_sim_what *what)
{
	int rc;

	for (;;) {
		if (s->pending) {
			if (!s->send_asked) {
				s->send_asked = 1;
				*what = COORD_SIM_SEND;
				return 0;
			}
			coord_sim__sending_done(s);
		}
		if (s->ended) {
			/* the last task's end: what its last round's jobs sketched so far */
			if (s->async && s->n_te && (rc = coord_sim__collect(s, 1)) != 0)
				return rc;
			*what = COORD_SIM_END;
			return 0;
		}
		if (!s->started) {
			s->started = 1;
			if (s->async && (rc = coord_sim__refill(s)) != 0)
				return rc;
			continue;
		}
		if (boundary_before(s, next_event(s)) ||
		    (s->time_tasks && !s->async && !s->round_open && s->now >= s->horizon)) {
			boundary(s);
			*what = COORD_SIM_BOUNDARY;
			return 0;
		}
		if (s->async) {
			*what = COORD_SIM_END; /* not a WAIT or a STEP unless async_step says so */
			if ((rc = async_step(s, what)) < 0)
				return rc;
			if (rc == 1)
				return 0;
			continue;
		}
		if (!s->round_open) {
			if ((rc = coord_sim__open_round(s)) != 0)
				return rc;
			continue;
		}
		return sync_step(s, what);
	}
}

uint32_t coord_sim_expire(struct coord_sim *s, const uint32_t **ids)
{
	uint32_t n = 0;
	double t = next_event(s);

	/* what the clock waits for: every job due by its next event */
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		struct coord_job *j = &s->jobs[i];
		int due = s->async ? !j->done && j->finish <= t
				   : (j->round == s->round && !j->late) ||
					 (j->round < s->round && j->finish <= t);
		if (!due || coord_sim__ready(j))
			continue;
		if (j->state == COORD_JOB_OUT)
			j->state = COORD_JOB_LOST;
		j->answers_due = j->answers;
		s->ids[n++] = j->client;
	}
	for (uint32_t i = 1; i < n; i++) /* ascending, for the log */
		for (uint32_t k = i; k > 0 && s->ids[k - 1] > s->ids[k]; k--) {
			uint32_t t = s->ids[k];
			s->ids[k] = s->ids[k - 1];
			s->ids[k - 1] = t;
		}
	*ids = s->ids;
	return n;
}
