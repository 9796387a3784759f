/* server/evaluate.c - the evaluation schedule's work and the run's accuracy record
 *
 * One forward pass over each task's test samples counts the correct predictions
 * per (task, class); everything else is sums of those counts:
 *   acc[t]       = correct on task t / test samples of task t
 *   seen         = the same pooled over tasks 0 .. current (for class-incremental
 *                  tasks: the test samples of every class seen so far, Si-Blurry's set)
 *   class_acc[c] = the same restricted to class c, over tasks 0 .. current
 * The argmax and batching are those of fcl_evaluate (fcl_evaluate_masked with the
 * task's classes for task-incremental scenarios), so acc[t] is the number it
 * would give.
 */
#include "evaluate.h"
#include "server.h"

#include "fcl/log.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int eval_init(struct fcl_server *s)
{
	struct run_record *r = calloc(1, sizeof *r);
	uint32_t T = s->sched.n_tasks, C = s->sched.n_classes, N = s->sched.n_clients;

	if (!r)
		return -ENOMEM;
	s->rec = r;
	r->T = T;
	r->C = C;
	r->cap = 16; /* grows by doubling */
	r->round = malloc(r->cap * sizeof *r->round);
	r->acc = malloc(r->cap * T * sizeof *r->acc);
	r->seen = malloc(r->cap * sizeof *r->seen);
	r->class_acc = malloc(r->cap * C * sizeof *r->class_acc);
	r->end_row = malloc(T * sizeof *r->end_row);
	r->init_acc = calloc(T, sizeof *r->init_acc);
	r->correct = malloc((size_t)T * C * sizeof *r->correct);
	r->count = malloc((size_t)T * C * sizeof *r->count);
	r->task_bytes_up = calloc(T, sizeof *r->task_bytes_up);
	r->task_bytes_down = calloc(T, sizeof *r->task_bytes_down);
	r->task_seconds = calloc(T, sizeof *r->task_seconds);
	r->client_bytes_up = calloc(N, sizeof *r->client_bytes_up);
	r->client_bytes_down = calloc(N, sizeof *r->client_bytes_down);
	r->client_updates = calloc(N, sizeof *r->client_updates);
	r->client_train_s = calloc(N, sizeof *r->client_train_s);
	if (s->sc.eval.local_models) {
		r->local_params = malloc(s->model.n_params * sizeof *r->local_params);
		r->local = calloc(N, sizeof *r->local);
	}
	if (!r->round || !r->acc || !r->seen || !r->class_acc || !r->end_row || !r->init_acc ||
	    !r->correct || !r->count || !r->task_bytes_up || !r->task_bytes_down ||
	    !r->task_seconds || !r->client_bytes_up || !r->client_bytes_down || !r->client_updates || !r->client_train_s ||
	    (s->sc.eval.local_models && (!r->local_params || !r->local)))
		return -ENOMEM;
	for (uint32_t t = 0; t < T; t++)
		r->end_row[t] = -1;
	return 0;
}

void eval_fini(struct fcl_server *s)
{
	struct run_record *r = s->rec;

	if (!r)
		return;
	free(r->round);
	free(r->acc);
	free(r->seen);
	free(r->class_acc);
	free(r->end_row);
	free(r->init_acc);
	free(r->correct);
	free(r->count);
	free(r->local_params);
	for (uint32_t c = 0; r->local && c < s->sched.n_clients; c++) {
		free(r->local[c].round);
		free(r->local[c].acc);
		free(r->local[c].seen);
		free(r->local[c].end_row);
	}
	free(r->local);
	free(r->task_bytes_up);
	free(r->task_bytes_down);
	free(r->task_seconds);
	free(r->client_bytes_up);
	free(r->client_bytes_down);
	free(r->client_updates);
	free(r->client_train_s);
	free(r);
	s->rec = NULL;
}

/* Counts correct predictions of params per (task, class) into r->correct/count. */
static void count_correct(struct fcl_server *s, const float *params)
{
	struct run_record *r = s->rec;
	struct fcl_eval_scratch *t = &s->eval_scratch;
	float *saved = s->model.params;
	uint32_t C = r->C, classes = s->model.sizes[s->model.n_layers];

	s->model.params = (float *)params; /* forward only reads them */
	memset(r->correct, 0, (size_t)r->T * C * sizeof *r->correct);
	memset(r->count, 0, (size_t)r->T * C * sizeof *r->count);
	for (uint32_t k = 0; k < r->T; k++) {
		const struct fcl_task *task = &s->sched.tasks[k];
		uint64_t *correct = r->correct + (size_t)k * C, *count = r->count + (size_t)k * C;
		for (size_t i = 0; i < task->n_test; i += t->batch) {
			size_t b = task->n_test - i < t->batch ? task->n_test - i : t->batch;
			fcl_dataset_gather(&s->test, task->test_idx + i, b, task->perm, t->x, t->y);
			const float *logits = fcl_mlp_forward(&s->model, t->x, b);
			/* task-incremental: the task id is known, logits masked to its classes */
			const uint8_t *mask = s->sched.task_incremental ? task->has_class : NULL;
			for (size_t n = 0; n < b; n++) {
				const float *z = logits + n * classes;
				uint32_t best = UINT32_MAX, y = (uint32_t)t->y[n];
				for (uint32_t c = 0; c < classes; c++)
					if ((!mask || mask[c]) && (best == UINT32_MAX || z[c] > z[best]))
						best = c;
				if (y < C) {
					count[y]++;
					correct[y] += best == y;
				}
			}
		}
	}
	s->model.params = saved;
}

/* From the counts: per-task accuracy (T), and over tasks 0..cur the pooled seen
 * accuracy and per-class accuracy (C, NAN where a class has no sample). */
static void accuracies(const struct run_record *r, uint32_t cur, double *acc, double *seen,
		       double *class_acc)
{
	uint64_t seen_ok = 0, seen_n = 0;

	for (uint32_t k = 0; k < r->T; k++) {
		uint64_t ok = 0, n = 0;
		for (uint32_t c = 0; c < r->C; c++) {
			ok += r->correct[(size_t)k * r->C + c];
			n += r->count[(size_t)k * r->C + c];
		}
		acc[k] = n ? (double)ok / (double)n : 0.0;
		if (k <= cur) {
			seen_ok += ok;
			seen_n += n;
		}
	}
	*seen = seen_n ? (double)seen_ok / (double)seen_n : 0.0;
	for (uint32_t c = 0; class_acc && c < r->C; c++) {
		uint64_t ok = 0, n = 0;
		for (uint32_t k = 0; k <= cur && k < r->T; k++) {
			ok += r->correct[(size_t)k * r->C + c];
			n += r->count[(size_t)k * r->C + c];
		}
		class_acc[c] = n ? (double)ok / (double)n : NAN;
	}
}

static void write_rows(struct fcl_server *s, int64_t round, const char *model, const double *acc,
		       const double *seen, const double *class_acc)
{
	for (uint32_t t = 0; t < s->rec->T; t++)
		fprintf(s->eval_csv, "%lld,%s,%u,%.6f\n", (long long)round, model, t, acc[t]);
	if (seen)
		fprintf(s->eval_csv, "%lld,%s,seen,%.6f\n", (long long)round, model, *seen);
	fflush(s->eval_csv);
	if (class_acc && s->eval_class_csv) {
		for (uint32_t c = 0; c < s->rec->C; c++)
			if (!isnan(class_acc[c]))
				fprintf(s->eval_class_csv, "%lld,%s,%u,%.6f\n", (long long)round,
					model, c, class_acc[c]);
		fflush(s->eval_class_csv);
	}
}

void eval_initial(struct fcl_server *s)
{
	struct run_record *r = s->rec;
	double t0 = fcl_now(), seen;

	count_correct(s, s->model.params);
	accuracies(r, 0, r->init_acc, &seen, NULL);
	r->has_init = 1;
	write_rows(s, -1, "global", r->init_acc, NULL, NULL);
	r->eval_seconds += fcl_now() - t0;
}

/* realloc that keeps the old block on failure and says so in *failed, so a
 * record's arrays can all be grown and the failure checked once. */
static void *resized(void *p, size_t bytes, int *failed)
{
	void *q = realloc(p, bytes);
	if (!q) {
		*failed = 1;
		return p;
	}
	return q;
}

static int grow(struct run_record *r)
{
	int failed = 0;

	if (r->n_rows < r->cap)
		return 0;
	size_t cap = r->cap * 2;
	r->round = resized(r->round, cap * sizeof *r->round, &failed);
	r->acc = resized(r->acc, cap * r->T * sizeof *r->acc, &failed);
	r->seen = resized(r->seen, cap * sizeof *r->seen, &failed);
	r->class_acc = resized(r->class_acc, cap * r->C * sizeof *r->class_acc, &failed);
	if (failed)
		return -ENOMEM;
	r->cap = cap;
	return 0;
}

void eval_global(struct fcl_server *s, uint32_t round, int task_end)
{
	struct run_record *r = s->rec;
	uint32_t T = r->T, task = fcl_schedule_task_of_round(&s->sched, round);
	double t0 = fcl_now();

	if (r->n_rows && r->round[r->n_rows - 1] == (int64_t)round)
		return; /* already evaluated after this round */
	if (grow(r) != 0) {
		fcl_error("out of memory for the accuracy record; evaluation skipped");
		return;
	}
	size_t n = r->n_rows++;
	double *acc = r->acc + n * T, *class_acc = r->class_acc + n * r->C;
	count_correct(s, s->model.params);
	accuracies(r, task, acc, &r->seen[n], class_acc);
	r->round[n] = round;
	if (task_end) {
		r->end_row[task] = (int64_t)n;
		memcpy(s->acc_matrix + (size_t)task * T, acc, T * sizeof *acc);
	}
	/* the progress line's accuracy: the mean over seen tasks */
	double sum = 0.0;
	for (uint32_t t = 0; t <= task; t++)
		sum += acc[t];
	s->last_acc = sum / (double)(task + 1);
	write_rows(s, round, "global", acc, &r->seen[n], s->sc.eval.per_class ? class_acc : NULL);
	fcl_info("round %u%s: accuracy on seen tasks %.2f%% (pooled %.2f%%)", round,
		 task_end ? " (task end)" : "", 100.0 * s->last_acc, 100.0 * r->seen[n]);
	r->eval_seconds += fcl_now() - t0;
}

/* Appends one evaluation to client c's local record; its row becomes the client's
 * end row of `task` (the last one during the task wins). */
static int local_append(struct run_record *r, uint32_t c, int64_t round, uint32_t task,
			const double *acc, double seen)
{
	struct local_record *l = &r->local[c];

	if (!l->end_row) {
		if (!(l->end_row = malloc(r->T * sizeof *l->end_row)))
			return -ENOMEM;
		for (uint32_t t = 0; t < r->T; t++)
			l->end_row[t] = -1;
	}
	if (l->n_rows == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		int failed = 0;
		l->round = resized(l->round, cap * sizeof *l->round, &failed);
		l->acc = resized(l->acc, cap * r->T * sizeof *l->acc, &failed);
		l->seen = resized(l->seen, cap * sizeof *l->seen, &failed);
		if (failed)
			return -ENOMEM;
		l->cap = cap;
	}
	l->round[l->n_rows] = round;
	memcpy(l->acc + l->n_rows * r->T, acc, r->T * sizeof *acc);
	l->seen[l->n_rows] = seen;
	l->end_row[task] = (int64_t)l->n_rows;
	l->n_rows++;
	return 0;
}

void eval_local_models(struct fcl_server *s)
{
	struct run_record *r = s->rec;
	uint32_t every = s->sc.eval.every_rounds, task;
	double t0 = fcl_now(), seen;
	double acc[FCL_SCENARIO_MAX_CLASSES * 4];
	char name[32];

	if (!s->sc.eval.local_models || !r->local_params || r->T > sizeof acc / sizeof *acc)
		return;
	if (!fcl_schedule_is_task_end(&s->sched, s->round) &&
	    !(every && (s->round + 1) % every == 0))
		return;
	task = fcl_schedule_task_of_round(&s->sched, s->round);
	for (uint32_t i = 0; i < s->n_participants; i++) {
		if (s->slot[i] != SLOT_ACCEPTED)
			continue;
		for (size_t k = 0; k < s->model.n_params; k++)
			r->local_params[k] = s->model.params[k] + s->updates[i][k];
		count_correct(s, r->local_params);
		accuracies(r, task, acc, &seen, NULL);
		snprintf(name, sizeof name, "client-%u", s->participants[i]);
		write_rows(s, s->round, name, acc, &seen, NULL);
		if (local_append(r, s->participants[i], s->round, task, acc, seen) != 0)
			fcl_warn("out of memory for client %u's local record", s->participants[i]);
	}
	r->eval_seconds += fcl_now() - t0;
}

void eval_record(const struct fcl_server *s, struct fcl_acc_record *out)
{
	const struct run_record *r = s->rec;

	memset(out, 0, sizeof *out);
	out->n_rows = r->n_rows;
	out->n_tasks = r->T;
	out->n_classes = r->C;
	out->round = r->round;
	out->acc = r->acc;
	out->seen = r->seen;
	out->class_acc = r->class_acc;
	out->end_row = r->end_row;
	out->init_acc = r->has_init ? r->init_acc : NULL;
}

void eval_local_record(const struct fcl_server *s, uint32_t c, struct fcl_acc_record *out)
{
	const struct run_record *r = s->rec;

	memset(out, 0, sizeof *out);
	out->n_tasks = r->T;
	if (!r->local || c >= s->sched.n_clients || !r->local[c].end_row)
		return;
	out->n_rows = r->local[c].n_rows;
	out->round = r->local[c].round;
	out->acc = r->local[c].acc;
	out->seen = r->local[c].seen;
	out->end_row = r->local[c].end_row;
	out->init_acc = r->has_init ? r->init_acc : NULL;
}
