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
 *
 * FedBN (model.batchnorm: local with evaluation.local_models): no client uses
 * the global model's batchnorm values, so besides the global model as it is
 * (its shared layers under batchnorm values nobody trains) each evaluation
 * scores the global model with each client's own values, the latest it sent:
 * the model that client would use now. Their mean, min and max are the fedbn
 * record; their rows are fedbn-<client> in eval.csv.
 */
#include "evaluate.h"
#include "round.h"

#include "fcl/data.h"
#include "fcl/export.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int coord_eval_init(struct coord_eval *e, const struct coord_eval_config *cfg)
{
	const struct fcl_schedule *sched = cfg->sched;
	uint32_t T = sched->n_tasks, C = sched->n_classes, N = sched->n_clients;
	int rc;

	memset(e, 0, sizeof *e);
	e->c = *cfg;
	e->T = T;
	e->C = C;
	e->last_acc = NAN;
	e->sim_time = NAN;
	if ((rc = fcl_eval_scratch_init(&e->scratch, 256, sched->dim)) != 0)
		return rc;
	e->cap = 16; /* grows by doubling */
	e->round = malloc(e->cap * sizeof *e->round);
	e->acc = malloc(e->cap * T * sizeof *e->acc);
	e->seen = malloc(e->cap * sizeof *e->seen);
	e->class_acc = malloc(e->cap * C * sizeof *e->class_acc);
	e->end_row = malloc(T * sizeof *e->end_row);
	e->init_acc = calloc(T, sizeof *e->init_acc);
	e->no_test = calloc(T, sizeof *e->no_test);
	e->acc_matrix = calloc((size_t)T * T, sizeof *e->acc_matrix);
	e->correct = malloc((size_t)T * C * sizeof *e->correct);
	e->count = malloc((size_t)T * C * sizeof *e->count);
	if (cfg->local_models) {
		e->local_params = malloc(cfg->model->n_params * sizeof *e->local_params);
		e->local = calloc(N, sizeof *e->local);
	}
	if (cfg->bn_values) { /* fcl_strategy_bn_sent: only with local_models */
		e->bn_own = calloc(N, sizeof *e->bn_own);
		e->fedbn = malloc(e->cap * FEDBN_N * sizeof *e->fedbn);
	}
	if (!e->round || !e->acc || !e->seen || !e->class_acc || !e->end_row || !e->init_acc ||
	    !e->no_test || !e->acc_matrix || !e->correct || !e->count ||
	    (cfg->local_models && (!e->local_params || !e->local)) ||
	    (cfg->bn_values && (!e->local_params || !e->bn_own || !e->fedbn)))
		goto err_record;
	for (uint32_t t = 0; t < T; t++) {
		e->end_row[t] = -1;
		e->no_test[t] = sched->tasks[t].n_test == 0;
		e->n_no_test += e->no_test[t];
	}
	return 0;

err_record:
	coord_eval_fini(e);
	return -ENOMEM;
}

void coord_eval_fini(struct coord_eval *e)
{
	free(e->round);
	free(e->acc);
	free(e->seen);
	free(e->class_acc);
	free(e->end_row);
	free(e->init_acc);
	free(e->no_test);
	free(e->acc_matrix);
	free(e->correct);
	free(e->count);
	free(e->local_params);
	for (uint32_t c = 0; e->local && c < e->c.sched->n_clients; c++) {
		free(e->local[c].round);
		free(e->local[c].acc);
		free(e->local[c].seen);
		free(e->local[c].end_row);
	}
	free(e->local);
	for (uint32_t c = 0; e->bn_own && c < e->c.sched->n_clients; c++)
		free(e->bn_own[c]);
	free(e->bn_own);
	free(e->fedbn);
	fcl_eval_scratch_fini(&e->scratch);
	memset(e, 0, sizeof *e);
}

/* Counts correct predictions of params per (task, class) into e->correct/count. */
static void count_correct(struct coord_eval *e, const float *params)
{
	const struct fcl_schedule *sched = e->c.sched;
	struct fcl_mlp *model = e->c.model;
	struct fcl_eval_scratch *t = &e->scratch;
	float *saved = model->params;
	uint32_t C = e->C, classes = model->sizes[model->n_layers];

	model->params = (float *)params; /* forward only reads them */
	memset(e->correct, 0, (size_t)e->T * C * sizeof *e->correct);
	memset(e->count, 0, (size_t)e->T * C * sizeof *e->count);
	for (uint32_t k = 0; k < e->T; k++) {
		const struct fcl_task *task = &sched->tasks[k];
		uint64_t *correct = e->correct + (size_t)k * C, *count = e->count + (size_t)k * C;
		for (size_t i = 0; i < task->n_test; i += t->batch) {
			size_t b = task->n_test - i < t->batch ? task->n_test - i : t->batch;
			fcl_dataset_gather(e->c.test, task->test_idx + i, b, task->perm, t->x,
					   t->y);
			const float *logits = fcl_mlp_forward(model, t->x, b);
			/* task-incremental: the task id is known, logits masked to its classes */
			const uint8_t *mask = sched->task_incremental ? task->has_class : NULL;
			for (size_t n = 0; n < b; n++) {
				const float *z = logits + n * classes;
				uint32_t best = UINT32_MAX, y = (uint32_t)t->y[n];
				for (uint32_t c = 0; c < classes; c++)
					if ((!mask || mask[c]) &&
					    (best == UINT32_MAX || z[c] > z[best]))
						best = c;
				if (y < C) {
					count[y]++;
					correct[y] += best == y;
				}
			}
		}
	}
	model->params = saved;
}

/* From the counts: per-task accuracy (T), and over tasks 0..cur the pooled seen
 * accuracy and per-class accuracy (C, NAN where a class has no sample). */
static void accuracies(const struct coord_eval *e, uint32_t cur, double *acc, double *seen,
		       double *class_acc)
{
	uint64_t seen_ok = 0, seen_n = 0;

	for (uint32_t k = 0; k < e->T; k++) {
		uint64_t ok = 0, n = 0;
		for (uint32_t c = 0; c < e->C; c++) {
			ok += e->correct[(size_t)k * e->C + c];
			n += e->count[(size_t)k * e->C + c];
		}
		acc[k] = n ? (double)ok / (double)n : 0.0;
		if (k <= cur) {
			seen_ok += ok;
			seen_n += n;
		}
	}
	*seen = seen_n ? (double)seen_ok / (double)seen_n : 0.0;
	for (uint32_t c = 0; class_acc && c < e->C; c++) {
		uint64_t ok = 0, n = 0;
		for (uint32_t k = 0; k <= cur && k < e->T; k++) {
			ok += e->correct[(size_t)k * e->C + c];
			n += e->count[(size_t)k * e->C + c];
		}
		class_acc[c] = n ? (double)ok / (double)n : NAN;
	}
}

/* A failed write of one of the csv files: said once, in the log and in c.io_error. */
static int write_failed(const struct coord_eval *e, const char *name, int rc)
{
	fcl_error("cannot write %s: %s", name, strerror(-rc));
	if (e->c.io_error && !e->c.io_error[0])
		snprintf(e->c.io_error, 256, "%scannot write %s (%s)",
			 rc == -ENOSPC || rc == -EDQUOT ? "disk full: " : "", name, strerror(-rc));
	return rc;
}

/* eval.csv rows of one evaluation, and its eval_class.csv rows when there is
 * such a file and class_acc is given. 0 or -errno (the file keeps whole lines). */
static int write_rows(const struct coord_eval *e, int64_t round, const char *model,
		      const double *acc, const double *seen, const double *class_acc)
{
	FILE *csv = e->c.csv, *class_csv = e->c.class_csv;
	long at = ftell(csv);
	int rc;
	char when[32] = ""; /* with simulated time, its column */

	if (!isnan(e->sim_time))
		snprintf(when, sizeof when, ",%.6f", e->sim_time);
	for (uint32_t t = 0; t < e->T; t++)
		fprintf(csv, "%lld,%s,%u,%.6f%s\n", (long long)round, model, t, acc[t], when);
	if (seen)
		fprintf(csv, "%lld,%s,seen,%.6f%s\n", (long long)round, model, *seen, when);
	if ((rc = fcl_flush_lines(csv, at)) != 0)
		return write_failed(e, "eval.csv", rc);
	if (class_acc && class_csv) {
		at = ftell(class_csv);
		for (uint32_t c = 0; c < e->C; c++)
			if (!isnan(class_acc[c]))
				fprintf(class_csv, "%lld,%s,%u,%.6f\n", (long long)round, model, c,
					class_acc[c]);
		if ((rc = fcl_flush_lines(class_csv, at)) != 0)
			return write_failed(e, "eval_class.csv", rc);
	}
	return 0;
}

int coord_eval_initial(struct coord_eval *e)
{
	double t0 = fcl_now(), seen;

	count_correct(e, e->c.model->params);
	accuracies(e, 0, e->init_acc, &seen, NULL);
	e->has_init = 1;
	int rc = write_rows(e, -1, "global", e->init_acc, NULL, NULL);
	e->seconds += fcl_now() - t0;
	return rc;
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

/* Room for `rows` rows of the global record. */
static int grow(struct coord_eval *e, size_t rows)
{
	int failed = 0;

	if (rows <= e->cap)
		return 0;
	size_t cap = e->cap * 2 > rows ? e->cap * 2 : rows;
	e->round = resized(e->round, cap * sizeof *e->round, &failed);
	e->acc = resized(e->acc, cap * e->T * sizeof *e->acc, &failed);
	e->seen = resized(e->seen, cap * sizeof *e->seen, &failed);
	e->class_acc = resized(e->class_acc, cap * e->C * sizeof *e->class_acc, &failed);
	if (e->fedbn)
		e->fedbn = resized(e->fedbn, cap * FEDBN_N * sizeof *e->fedbn, &failed);
	if (failed)
		return -ENOMEM;
	e->cap = cap;
	return 0;
}

/* The mean accuracy over the seen tasks (0 .. task) that have test samples,
 * NAN without any: the progress line's, and each client's under FedBN. */
static double seen_mean(const struct coord_eval *e, uint32_t task, const double *acc)
{
	double sum = 0.0;
	uint32_t k = 0;

	for (uint32_t t = 0; t <= task && t < e->T; t++)
		if (!e->no_test[t]) {
			sum += acc[t];
			k++;
		}
	return k ? sum / (double)k : NAN;
}

/* FedBN: the global model with each client's latest batchnorm values, in
 * client-id order, into eval.csv (fedbn-<client>) and fedbn row `row`. */
static int eval_fedbn(struct coord_eval *e, size_t row, uint32_t round, uint32_t task)
{
	const struct fcl_mlp *model = e->c.model;
	double *f = e->fedbn + row * FEDBN_N, acc[FCL_SCENARIO_MAX_CLASSES * 4], seen, sum = 0.0;
	uint32_t k = 0;
	char name[32];
	int rc = 0;

	f[FEDBN_CLIENTS] = 0;
	f[FEDBN_MEAN] = f[FEDBN_MIN] = f[FEDBN_MAX] = NAN;
	if (e->T > sizeof acc / sizeof *acc)
		return 0;
	for (uint32_t c = 0; c < e->c.sched->n_clients && !rc; c++) {
		if (!e->bn_own[c])
			continue;
		memcpy(e->local_params, model->params, model->n_params * sizeof(float));
		fcl_arch_bn_move(&model->arch, e->local_params, e->bn_own[c], 0);
		count_correct(e, e->local_params);
		accuracies(e, task, acc, &seen, NULL);
		snprintf(name, sizeof name, "fedbn-%u", c);
		rc = write_rows(e, round, name, acc, &seen, NULL);
		double a = seen_mean(e, task, acc);
		if (isnan(a))
			continue;
		sum += a;
		f[FEDBN_MIN] = k && f[FEDBN_MIN] <= a ? f[FEDBN_MIN] : a;
		f[FEDBN_MAX] = k && f[FEDBN_MAX] >= a ? f[FEDBN_MAX] : a;
		k++;
	}
	f[FEDBN_CLIENTS] = k;
	if (k) {
		f[FEDBN_MEAN] = sum / k;
		fcl_info("round %u: FedBN, the global model with each client's own batchnorm "
			 "values: mean %.2f%% over %u clients (min %.2f%%, max %.2f%%)",
			 round, 100.0 * f[FEDBN_MEAN], k, 100.0 * f[FEDBN_MIN],
			 100.0 * f[FEDBN_MAX]);
	}
	return rc;
}

int coord_eval_global(struct coord_eval *e, uint32_t round, int task_end)
{
	uint32_t T = e->T, task = fcl_schedule_task_of_round(e->c.sched, round);
	double t0 = fcl_now();

	if (e->n_rows && e->round[e->n_rows - 1] == (int64_t)round)
		return 0; /* already evaluated after this round */
	if (grow(e, e->n_rows + 1) != 0) {
		fcl_error("out of memory for the accuracy record");
		return -ENOMEM;
	}
	size_t n = e->n_rows++;
	double *acc = e->acc + n * T, *class_acc = e->class_acc + n * e->C;
	count_correct(e, e->c.model->params);
	accuracies(e, task, acc, &e->seen[n], class_acc);
	e->round[n] = round;
	if (task_end) {
		e->end_row[task] = (int64_t)n;
		memcpy(e->acc_matrix + (size_t)task * T, acc, T * sizeof *acc);
	}
	e->last_acc = seen_mean(e, task, acc);
	int rc = write_rows(e, round, "global", acc, &e->seen[n], class_acc);
	if (e->fedbn) {
		int rc2 = eval_fedbn(e, n, round, task);
		rc = rc ? rc : rc2;
	}
	if (!rc && task_end && e->c.export_models == FCL_EXPORT_TASK_ENDS)
		coord_eval_export(e, round, task); /* a failure is logged, kept and reported */
	fcl_info("round %u%s: accuracy on seen tasks %.2f%% (pooled %.2f%%)", round,
		 task_end ? " (task end)" : "", 100.0 * e->last_acc, 100.0 * e->seen[n]);
	e->seconds += fcl_now() - t0;
	return rc;
}

int coord_eval_export(struct coord_eval *e, int64_t round, int64_t task)
{
	struct fcl_export_info info = {.scenario = e->c.name,
				       .round = round,
				       .task = task,
				       .input = e->c.test->shape,
				       .classes = e->C};
	char dir[4096], err[256];
	int rc;

	if (!e->c.run_dir || e->c.export_models == FCL_EXPORT_NONE)
		return 0;
	if (task >= 0)
		snprintf(dir, sizeof dir, "%s/model/task-%lld", e->c.run_dir, (long long)task);
	else
		snprintf(dir, sizeof dir, "%s/model/final", e->c.run_dir);
	if ((rc = fcl_export_model(dir, e->c.model, &info, err, sizeof err)) != 0) {
		fcl_error("model export: %s", err);
		if (!e->export_error[0])
			snprintf(e->export_error, sizeof e->export_error, "%s", err);
	}
	return rc;
}

/* Appends one evaluation to client c's local record; its row becomes the client's
 * end row of `task` (the last one during the task wins). */
static int local_append(struct coord_eval *e, uint32_t c, int64_t round, uint32_t task,
			const double *acc, double seen)
{
	struct coord_eval_local *l = &e->local[c];

	if (!l->end_row) {
		if (!(l->end_row = malloc(e->T * sizeof *l->end_row)))
			return -ENOMEM;
		for (uint32_t t = 0; t < e->T; t++)
			l->end_row[t] = -1;
	}
	if (l->n_rows == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		int failed = 0;
		l->round = resized(l->round, cap * sizeof *l->round, &failed);
		l->acc = resized(l->acc, cap * e->T * sizeof *l->acc, &failed);
		l->seen = resized(l->seen, cap * sizeof *l->seen, &failed);
		if (failed)
			return -ENOMEM;
		l->cap = cap;
	}
	l->round[l->n_rows] = round;
	memcpy(l->acc + l->n_rows * e->T, acc, e->T * sizeof *acc);
	l->seen[l->n_rows] = seen;
	l->end_row[task] = (int64_t)l->n_rows;
	l->n_rows++;
	return 0;
}

/* FedBN: the accepted participants' batchnorm values replace their last ones. */
static int keep_bn(struct coord_eval *e, const struct coord_round *r)
{
	if (!e->bn_own || r->bn_n != e->c.bn_values)
		return 0;
	for (uint32_t i = 0; i < r->n_participants; i++) {
		uint32_t c = r->participants[i];
		if (r->slot[i] != COORD_SLOT_ACCEPTED)
			continue;
		if (!e->bn_own[c] && !(e->bn_own[c] = malloc(r->bn_n * sizeof(float)))) {
			fcl_error("out of memory for client %u's batchnorm values", c);
			return -ENOMEM;
		}
		memcpy(e->bn_own[c], r->slot_bn[i], r->bn_n * sizeof(float));
	}
	return 0;
}

int coord_eval_local_models(struct coord_eval *e, const struct coord_round *r)
{
	const struct fcl_mlp *model = e->c.model;
	uint32_t every = e->c.every_rounds, task;
	double t0 = fcl_now(), seen;
	double acc[FCL_SCENARIO_MAX_CLASSES * 4];
	char name[32];
	int rc = 0;

	if ((rc = keep_bn(e, r)) != 0)
		return rc;
	if (!e->c.local_models || !e->local_params || e->T > sizeof acc / sizeof *acc)
		return 0;
	if (!fcl_schedule_is_task_end(e->c.sched, r->round) &&
	    !(every && (r->round + 1) % every == 0))
		return 0;
	task = fcl_schedule_task_of_round(e->c.sched, r->round);
	for (uint32_t i = 0; i < r->n_participants && !rc; i++) {
		if (r->slot[i] != COORD_SLOT_ACCEPTED)
			continue;
		for (size_t k = 0; k < model->n_params; k++)
			e->local_params[k] = model->params[k] + r->updates[i][k];
		if (e->bn_own) /* FedBN: the client's own batchnorm values, not the global's */
			fcl_arch_bn_move(&model->arch, e->local_params, r->slot_bn[i], 0);
		count_correct(e, e->local_params);
		accuracies(e, task, acc, &seen, NULL);
		snprintf(name, sizeof name, "client-%u", r->participants[i]);
		if ((rc = write_rows(e, r->round, name, acc, &seen, NULL)) != 0)
			break;
		if ((rc = local_append(e, r->participants[i], r->round, task, acc, seen)) != 0)
			fcl_error("out of memory for client %u's local record", r->participants[i]);
	}
	e->seconds += fcl_now() - t0;
	return rc;
}

void coord_eval_record(const struct coord_eval *e, struct fcl_acc_record *out)
{
	memset(out, 0, sizeof *out);
	out->n_rows = e->n_rows;
	out->n_tasks = e->T;
	out->n_classes = e->C;
	out->round = e->round;
	out->acc = e->acc;
	out->seen = e->seen;
	out->class_acc = e->class_acc;
	out->end_row = e->end_row;
	out->init_acc = e->has_init ? e->init_acc : NULL;
	out->no_test = e->n_no_test ? e->no_test : NULL;
}

void coord_eval_local_record(const struct coord_eval *e, uint32_t c, struct fcl_acc_record *out)
{
	memset(out, 0, sizeof *out);
	out->n_tasks = e->T;
	if (!e->local || c >= e->c.sched->n_clients || !e->local[c].end_row)
		return;
	out->n_rows = e->local[c].n_rows;
	out->round = e->local[c].round;
	out->acc = e->local[c].acc;
	out->seen = e->local[c].seen;
	out->end_row = e->local[c].end_row;
	out->init_acc = e->has_init ? e->init_acc : NULL;
	out->no_test = e->n_no_test ? e->no_test : NULL;
}

/* ---- checkpoints --------------------------------------------------------- */

#define PUT(f, p, n) (rc = rc ? rc : fcl_fput((f), (p), (n) * sizeof *(p)))
#define GET(f, p, n) (rc = rc ? rc : fcl_fget((f), (p), (n) * sizeof *(p)))

/* One client's local record: rows, then its arrays and end rows. */
static int save_local(const struct coord_eval *e, const struct coord_eval_local *l, FILE *f)
{
	uint64_t n = l->n_rows, has = l->end_row != NULL;
	int rc = 0;
	PUT(f, &n, 1);
	PUT(f, &has, 1);
	PUT(f, l->round, n);
	PUT(f, l->acc, n * e->T);
	PUT(f, l->seen, n);
	if (has)
		PUT(f, l->end_row, e->T);
	return rc;
}

static int load_local(struct coord_eval *e, struct coord_eval_local *l, FILE *f)
{
	uint64_t n, has;
	int rc = 0, failed = 0;
	GET(f, &n, 1);
	GET(f, &has, 1);
	if (rc || n > ((uint64_t)1 << 32) || has > 1 || (n && !has))
		return rc ? rc : -EINVAL;
	size_t cap = n > l->cap ? n : l->cap;
	l->round = resized(l->round, cap * sizeof *l->round, &failed);
	l->acc = resized(l->acc, cap * e->T * sizeof *l->acc, &failed);
	l->seen = resized(l->seen, cap * sizeof *l->seen, &failed);
	if (has && !l->end_row)
		l->end_row = resized(NULL, e->T * sizeof *l->end_row, &failed);
	if (failed)
		return -ENOMEM;
	l->cap = cap;
	l->n_rows = n;
	GET(f, l->round, n);
	GET(f, l->acc, n * e->T);
	GET(f, l->seen, n);
	if (has)
		GET(f, l->end_row, e->T);
	else if (l->end_row)
		for (uint32_t t = 0; t < e->T; t++)
			l->end_row[t] = -1;
	return rc;
}

/* FedBN: the fedbn rows, then each client's batchnorm values (a flag, the values). */
static int save_fedbn(const struct coord_eval *e, FILE *f)
{
	int rc = 0;
	PUT(f, e->fedbn, e->n_rows * FEDBN_N);
	for (uint32_t c = 0; c < e->c.sched->n_clients && !rc; c++) {
		uint8_t has = e->bn_own[c] != NULL;
		PUT(f, &has, 1);
		if (has)
			PUT(f, e->bn_own[c], e->c.bn_values);
	}
	return rc;
}

static int load_fedbn(struct coord_eval *e, FILE *f)
{
	int rc = 0;
	GET(f, e->fedbn, e->n_rows * FEDBN_N);
	for (uint32_t c = 0; c < e->c.sched->n_clients && !rc; c++) {
		uint8_t has = 0;
		GET(f, &has, 1);
		if (rc || has > 1)
			return rc ? rc : -EINVAL;
		if (!has) {
			free(e->bn_own[c]);
			e->bn_own[c] = NULL;
			continue;
		}
		if (!e->bn_own[c] && !(e->bn_own[c] = malloc(e->c.bn_values * sizeof(float))))
			return -ENOMEM;
		GET(f, e->bn_own[c], e->c.bn_values);
	}
	return rc;
}

int coord_eval_save(const struct coord_eval *e, FILE *f)
{
	uint32_t N = e->c.sched->n_clients,
		 head[4] = {e->T, e->C, (uint32_t)e->has_init, e->local ? N : 0};
	uint64_t n = e->n_rows;
	int rc = 0;
	PUT(f, head, 4);
	PUT(f, &n, 1);
	PUT(f, e->init_acc, e->T);
	PUT(f, e->round, n);
	PUT(f, e->acc, n * e->T);
	PUT(f, e->seen, n);
	PUT(f, e->class_acc, n * e->C);
	PUT(f, e->end_row, e->T);
	PUT(f, e->acc_matrix, (size_t)e->T * e->T);
	PUT(f, &e->last_acc, 1);
	PUT(f, &e->seconds, 1);
	for (uint32_t c = 0; e->local && c < N && !rc; c++)
		rc = save_local(e, &e->local[c], f);
	if (!rc && e->bn_own) /* only then: other checkpoints keep their layout */
		rc = save_fedbn(e, f);
	return rc;
}

int coord_eval_load(struct coord_eval *e, FILE *f)
{
	uint32_t N = e->c.sched->n_clients, head[4];
	uint64_t n;
	int rc = 0;
	GET(f, head, 4);
	GET(f, &n, 1);
	if (rc)
		return rc;
	if (head[0] != e->T || head[1] != e->C || head[2] > 1 || head[3] != (e->local ? N : 0) ||
	    n > ((uint64_t)1 << 32))
		return -EINVAL;
	if (grow(e, n) != 0)
		return -ENOMEM;
	e->n_rows = n;
	e->has_init = (int)head[2];
	GET(f, e->init_acc, e->T);
	GET(f, e->round, n);
	GET(f, e->acc, n * e->T);
	GET(f, e->seen, n);
	GET(f, e->class_acc, n * e->C);
	GET(f, e->end_row, e->T);
	GET(f, e->acc_matrix, (size_t)e->T * e->T);
	GET(f, &e->last_acc, 1);
	GET(f, &e->seconds, 1);
	for (uint32_t c = 0; e->local && c < N && !rc; c++)
		rc = load_local(e, &e->local[c], f);
	if (!rc && e->bn_own)
		rc = load_fedbn(e, f);
	return rc;
}
