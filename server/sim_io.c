/* server/sim_io.c - simulated time: what goes out to the clients and what comes
 * back (see sim.h): round starts for the planned jobs, updates and rule messages
 * kept in their job until the clock reaches it, departures */
#include "round.h"
#include "sim-private.h"

#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/schedule.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct coord_kept *keep(const struct fcl_extras *x, size_t bytes)
{
	size_t n = 0, at = 0;
	for (uint32_t t = 0; t < x->n_tensors; t++)
		n += (size_t)x->t[t].rows * x->t[t].cols;
	struct coord_kept *k = malloc(sizeof *k + n * sizeof(float));
	if (!k)
		return NULL;
	k->next = NULL;
	k->x = *x;
	k->bytes = bytes;
	for (uint32_t t = 0; t < x->n_tensors; t++) {
		size_t cnt = (size_t)x->t[t].rows * x->t[t].cols;
		if (cnt)
			memcpy(k->values + at, x->t[t].v, cnt * sizeof(float));
		k->x.t[t].v = k->values + at;
		at += cnt;
	}
	return k;
}

void coord_sim__free_kept(struct coord_kept *k)
{
	while (k) {
		struct coord_kept *next = k->next;
		free(k);
		k = next;
	}
}

/* ---- sending --------------------------------------------------------------------- */

size_t coord_sim_start_msg(struct coord_sim *s, uint32_t p, struct fcl_msg *m)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->n_jobs; i++) {
		const struct coord_job *j = &s->jobs[i];
		if (j->dispatch == s->pending && !j->sent && j->state == COORD_JOB_OUT &&
		    s->owner[j->client] == (int32_t)p)
			s->ids[n++] = j->client;
	}
	for (uint32_t i = 1; i < n; i++) /* ascending, as the worker trains them */
		for (uint32_t k = i; k > 0 && s->ids[k - 1] > s->ids[k]; k--) {
			uint32_t t = s->ids[k];
			s->ids[k] = s->ids[k - 1];
			s->ids[k - 1] = t;
		}
	*m = (struct fcl_msg){.type = FCL_MSG_ROUND_START,
			      .round = s->pending_round,
			      .client_id = -1,
			      .task = fcl_schedule_task_of_round(s->sched, s->pending_round),
			      .values = s->model->params,
			      .n_values = s->model->n_params,
			      .ids = s->ids,
			      .n_ids = n,
			      .extras = s->request,
			      .dispatch = s->pending};
	return n;
}

void coord_sim_sent(struct coord_sim *s, uint32_t p, int sent)
{
	if (sent && (s->request.n_tensors || s->request.n_ints || s->request.n_reals))
		s->request_sends++;
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		struct coord_job *j = &s->jobs[i];
		if (j->dispatch != s->pending || j->sent || j->state != COORD_JOB_OUT ||
		    s->owner[j->client] != (int32_t)p)
			continue;
		j->sent = sent;
		if (!sent)
			j->state = COORD_JOB_LOST;
	}
}

/* After the dispatcher sent the planned jobs: any it could not send are lost. */
void coord_sim__sending_done(struct coord_sim *s)
{
	for (uint32_t i = 0; i < s->n_jobs; i++) {
		struct coord_job *j = &s->jobs[i];
		if (j->dispatch == s->pending && !j->sent && j->state == COORD_JOB_OUT)
			j->state = COORD_JOB_LOST;
	}
	s->pending = 0;
	s->send_asked = 0;
}

/* ---- what arrives ------------------------------------------------------------------ */

static int find_job(const struct coord_sim *s, int64_t client, uint64_t dispatch)
{
	for (uint32_t i = 0; i < s->n_jobs; i++)
		if ((int64_t)s->jobs[i].client == client && s->jobs[i].dispatch == dispatch &&
		    s->jobs[i].sent)
			return (int)i;
	return -1;
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

int coord_sim_take_update(struct coord_sim *s, uint32_t p, const struct fcl_msg *m, int *bad,
			  char *why, size_t len)
{
	int i = find_job(s, m->client_id, m->dispatch);
	const char *no = NULL;

	*bad = 0;
	if (i < 0)
		snprintf(why, len, "update from client %lld for dispatch %llu, which no job awaits",
			 (long long)m->client_id, (unsigned long long)m->dispatch);
	else if (s->owner[m->client_id] != (int32_t)p)
		snprintf(why, len, "update for client %lld from a process that does not host it",
			 (long long)m->client_id);
	else if (s->jobs[i].state != COORD_JOB_OUT)
		snprintf(why, len, "second update from client %lld for dispatch %llu",
			 (long long)m->client_id, (unsigned long long)m->dispatch);
	if (i < 0 || why[0])
		return 1;
	struct coord_job *j = &s->jobs[i];
	if (m->n_values != s->model->n_params)
		no = "wrong number of parameters";
	else if (m->n_samples == 0 || m->n_samples > s->n_train)
		no = "implausible sample count";
	else if (!all_finite(m->values, m->n_values) || !fcl_extras_finite(&m->extras))
		no = "non-finite values";
	if (no) {
		snprintf(why, len,
			 "update from client %lld for dispatch %llu rejected: %s (%zu values, "
			 "%llu samples)",
			 (long long)m->client_id, (unsigned long long)m->dispatch, no, m->n_values,
			 (unsigned long long)m->n_samples);
		j->state = COORD_JOB_REJECTED;
		*bad = 1;
		return 0;
	}
	if (!(j->update = malloc(m->n_values * sizeof(float))) ||
	    !(j->extras = keep(&m->extras, 0)))
		return -ENOMEM;
	memcpy(j->update, m->values, m->n_values * sizeof(float));
	j->samples = m->n_samples;
	j->loss = m->loss;
	j->train_s = m->train_seconds;
	j->state = COORD_JOB_IN;
	return 0;
}

int coord_sim_take_answer(struct coord_sim *s, uint32_t p, const struct fcl_msg *m, size_t bytes,
			  int *bad, char *why, size_t len)
{
	int i = find_job(s, m->client_id, m->dispatch);
	const char *name = fcl_agg_name(s->agg);

	*bad = 0;
	if (i < 0 || s->owner[m->client_id] != (int32_t)p || s->jobs[i].answers_due == 0) {
		snprintf(why, len, "%s message from client %lld for dispatch %llu, not expected",
			 name, (long long)m->client_id, (unsigned long long)m->dispatch);
		return 1;
	}
	struct coord_job *j = &s->jobs[i];
	if (j->answers >= j->answers_due) {
		snprintf(why, len, "%s message from client %lld: more than the %u expected", name,
			 (long long)m->client_id, j->answers_due);
		return 1;
	}
	j->answers++; /* valid or not, it counts as answered */
	if (!fcl_extras_finite(&m->extras)) {
		snprintf(why, len, "%s message from client %lld rejected: non-finite values", name,
			 (long long)m->client_id);
		*bad = 1;
		return 0;
	}
	if (j->state != COORD_JOB_IN)
		return 0;
	struct coord_kept *k = keep(&m->extras, bytes), **tail = &j->kept;
	if (!k)
		return -ENOMEM;
	while (*tail) /* in the order they came */
		tail = &(*tail)->next;
	*tail = k;
	return 0;
}

void coord_sim_clients_gone(struct coord_sim *s, const uint32_t *ids, uint32_t n)
{
	for (uint32_t i = 0; i < s->n_jobs; i++)
		for (uint32_t k = 0; k < n; k++)
			if (s->jobs[i].client == ids[k] && s->jobs[i].state == COORD_JOB_OUT)
				s->jobs[i].state = COORD_JOB_LOST;
}
