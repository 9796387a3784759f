/* common/src/metrics.c - continual-learning metrics from one accuracy record
 *
 * See fcl/metrics.h and docs/metrics.md. Undefined metrics are NAN.
 */
#include "fcl/metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#define A(n, j) (r->acc[(size_t)(n)*r->n_tasks + (size_t)(j)])

/* Task ends in time order: the distinct rows at which some task ended, and for
 * each of them the (highest-numbered) task that ended there. */
struct ends {
	size_t n;
	int64_t *row; /* (n) ascending */
	size_t *task; /* (n) */
};

static int ends_init(struct ends *e, const struct fcl_acc_record *r)
{
	e->n = 0;
	e->row = malloc((r->n_tasks + 1) * sizeof *e->row);
	e->task = malloc((r->n_tasks + 1) * sizeof *e->task);
	if (!e->row || !e->task) {
		free(e->row);
		free(e->task);
		return -1;
	}
	/* insertion sort by (row, task): T is small */
	for (size_t j = 0; j < r->n_tasks; j++) {
		int64_t row = r->no_test && r->no_test[j] ? -1 : r->end_row[j];
		if (row < 0 || (size_t)row >= r->n_rows)
			continue;
		size_t k = e->n;
		while (k > 0 && e->row[k - 1] > row)
			k--;
		if (k > 0 && e->row[k - 1] == row) {
			if (j > e->task[k - 1])
				e->task[k - 1] = j;
			continue;
		}
		for (size_t m = e->n; m > k; m--) {
			e->row[m] = e->row[m - 1];
			e->task[m] = e->task[m - 1];
		}
		e->row[k] = row;
		e->task[k] = j;
		e->n++;
	}
	return 0;
}

static void ends_fini(struct ends *e)
{
	free(e->row);
	free(e->task);
}

/* The row at which task j ended, -1 while it has not, and -1 for a task with no
 * test samples: its accuracy means nothing, so it is left out of every average
 * (docs/metrics.md, "Tasks without test samples"). */
static int64_t end_of(const struct fcl_acc_record *r, size_t j)
{
	return r->no_test && r->no_test[j] ? -1 : r->end_row[j];
}

static int64_t last_row(const struct fcl_acc_record *r)
{
	return (int64_t)r->n_rows - 1;
}

/* Task j has been learned by row n. */
static int learned_by(const struct fcl_acc_record *r, size_t j, int64_t n)
{
	return end_of(r, j) >= 0 && end_of(r, j) <= n;
}

/* Task j ended strictly before the last row: it can have been forgotten. */
static int previous(const struct fcl_acc_record *r, size_t j)
{
	return end_of(r, j) >= 0 && end_of(r, j) < last_row(r);
}

double fcl_metric_final_avg_acc_rec(const struct fcl_acc_record *r)
{
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	for (size_t j = 0; last >= 0 && j < r->n_tasks; j++)
		if (learned_by(r, j, last)) {
			sum += A(last, j);
			k++;
		}
	return k ? sum / (double)k : NAN;
}

double fcl_metric_aia(const struct fcl_acc_record *r)
{
	struct ends e;
	double outer = 0.0;

	if (ends_init(&e, r) != 0)
		return NAN;
	for (size_t m = 0; m < e.n; m++) {
		double row = 0.0;
		size_t k = 0;
		for (size_t j = 0; j < r->n_tasks; j++)
			if (learned_by(r, j, e.row[m])) {
				row += A(e.row[m], j);
				k++;
			}
		outer += row / (double)k;
	}
	double v = e.n ? outer / (double)e.n : NAN;
	ends_fini(&e);
	return v;
}

double fcl_metric_forgetting_max_rec(const struct fcl_acc_record *r)
{
	struct ends e;
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	if (ends_init(&e, r) != 0)
		return NAN;
	for (size_t j = 0; j < r->n_tasks; j++) {
		if (!previous(r, j))
			continue;
		double best = -INFINITY;
		for (size_t m = 0; m < e.n && e.row[m] < last; m++)
			best = fmax(best, A(e.row[m], j));
		sum += best - A(last, j);
		k++;
	}
	ends_fini(&e);
	return k ? sum / (double)k : NAN;
}

double fcl_metric_forgetting_first_rec(const struct fcl_acc_record *r)
{
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	for (size_t j = 0; j < r->n_tasks; j++)
		if (previous(r, j)) {
			sum += A(r->end_row[j], j) - A(last, j);
			k++;
		}
	return k ? sum / (double)k : NAN;
}

double fcl_metric_bwt_rec(const struct fcl_acc_record *r)
{
	return -fcl_metric_forgetting_first_rec(r);
}

double fcl_metric_bwt_continuum(const struct fcl_acc_record *r)
{
	struct ends e;
	double sum = 0.0;
	size_t k = 0;

	if (ends_init(&e, r) != 0)
		return NAN;
	for (size_t a = 1; a < e.n; a++)
		for (size_t b = 0; b < a; b++) {
			sum += A(e.row[a], e.task[b]) - A(e.row[b], e.task[b]);
			k++;
		}
	ends_fini(&e);
	return k ? sum / (double)k : NAN;
}

double fcl_metric_fwt(const struct fcl_acc_record *r)
{
	struct ends e;
	double sum = 0.0;
	size_t k = 0;

	if (!r->init_acc || ends_init(&e, r) != 0)
		return NAN;
	for (size_t m = 1; m < e.n; m++) {
		size_t j = e.task[m];
		sum += A(e.row[m - 1], j) - r->init_acc[j];
		k++;
	}
	ends_fini(&e);
	return k ? sum / (double)k : NAN;
}

double fcl_metric_a_auc(const struct fcl_acc_record *r)
{
	double sum = 0.0;

	if (!r->seen || r->n_rows == 0)
		return NAN;
	for (size_t n = 0; n < r->n_rows; n++)
		sum += r->seen[n];
	return sum / (double)r->n_rows;
}

double fcl_metric_a_last(const struct fcl_acc_record *r)
{
	return r->seen && r->n_rows ? r->seen[r->n_rows - 1] : NAN;
}

double fcl_metric_a_avg(const struct fcl_acc_record *r)
{
	struct ends e;
	double sum = 0.0;

	if (!r->seen || ends_init(&e, r) != 0)
		return NAN;
	for (size_t m = 0; m < e.n; m++)
		sum += r->seen[e.row[m]];
	double v = e.n ? sum / (double)e.n : NAN;
	ends_fini(&e);
	return v;
}

double fcl_metric_f_last(const struct fcl_acc_record *r)
{
	struct ends e;
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	if (!r->class_acc || r->n_classes == 0 || last < 0 || ends_init(&e, r) != 0)
		return NAN;
	for (size_t c = 0; c < r->n_classes; c++) {
		double best = -INFINITY, fin = r->class_acc[(size_t)last * r->n_classes + c];
		for (size_t m = 0; m < e.n && e.row[m] < last; m++) {
			double v = r->class_acc[(size_t)e.row[m] * r->n_classes + c];
			if (!isnan(v))
				best = fmax(best, v);
		}
		if (best > 0.0 && !isnan(fin)) {
			sum += best - fin;
			k++;
		}
	}
	ends_fini(&e);
	return k ? sum / (double)k : NAN;
}

double fcl_metric_min_acc(const struct fcl_acc_record *r)
{
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	for (size_t i = 0; i < r->n_tasks; i++) {
		if (!previous(r, i))
			continue;
		double lo = INFINITY;
		for (int64_t n = r->end_row[i] + 1; n <= last; n++)
			lo = fmin(lo, A(n, i));
		sum += lo;
		k++;
	}
	return k ? sum / (double)k : NAN;
}

double fcl_metric_wc_acc(const struct fcl_acc_record *r)
{
	int64_t last = last_row(r), cur_row = -1;
	size_t k = 0, cur = 0;

	for (size_t j = 0; j < r->n_tasks; j++)
		if (learned_by(r, j, last)) {
			k++;
			if (r->end_row[j] >= cur_row) {
				cur_row = r->end_row[j];
				cur = j;
			}
		}
	if (k == 0)
		return NAN;
	if (k == 1)
		return A(last, cur);
	double min_acc = fcl_metric_min_acc(r);
	return A(last, cur) / (double)k + (1.0 - 1.0 / (double)k) * min_acc;
}

double fcl_metric_wf(const struct fcl_acc_record *r, size_t w)
{
	int64_t last = last_row(r);
	double sum = 0.0;
	size_t k = 0;

	if (w < 2)
		return NAN;
	for (size_t i = 0; i < r->n_tasks; i++) {
		if (!previous(r, i))
			continue;
		double worst = 0.0;
		for (int64_t n = r->end_row[i] + 1; n <= last; n++)
			for (int64_t m = n - 1; m >= r->end_row[i] && n - m < (int64_t)w; m--)
				worst = fmax(worst, A(m, i) - A(n, i));
		sum += worst;
		k++;
	}
	return k ? sum / (double)k : NAN;
}

void fcl_metric_stability_gap(const struct fcl_acc_record *r, struct fcl_stability_gap *out,
			      double *per_switch_depth)
{
	struct ends e;
	int64_t last = last_row(r);
	double depth_sum = 0.0, rec_sum = 0.0, newest_sum = 0.0;
	size_t n_switches = 0;

	out->n_pairs = out->n_recovered = 0;
	out->depth = out->recovery_rounds = out->depth_newest = NAN;
	for (size_t m = 0; per_switch_depth && m < r->n_tasks; m++)
		per_switch_depth[m] = NAN;
	if (ends_init(&e, r) != 0)
		return;
	/* Switch m: from the end row e.row[m] through the next end row, or through the
	 * last row when the run stopped inside a task. */
	for (size_t m = 0; m < e.n && e.row[m] < last; m++) {
		int64_t from = e.row[m], to = m + 1 < e.n ? e.row[m + 1] : last;
		double sw_sum = 0.0;
		size_t sw_n = 0;
		for (size_t i = 0; i < r->n_tasks; i++) {
			if (!learned_by(r, i, from))
				continue;
			double pre = A(from, i), lo = INFINITY;
			int64_t at = from + 1;
			for (int64_t n = from + 1; n <= to; n++)
				if (A(n, i) < lo) {
					lo = A(n, i);
					at = n;
				}
			sw_sum += pre - lo;
			sw_n++;
			if (i == e.task[m])
				newest_sum += pre - lo;
			for (int64_t n = at + 1; lo < pre && n <= to; n++)
				if (A(n, i) >= pre) {
					rec_sum += (double)(r->round[n] - r->round[at]);
					out->n_recovered++;
					break;
				}
		}
		depth_sum += sw_sum;
		out->n_pairs += sw_n;
		n_switches++;
		if (per_switch_depth && m < r->n_tasks && sw_n)
			per_switch_depth[m] = sw_sum / (double)sw_n;
	}
	if (out->n_pairs)
		out->depth = depth_sum / (double)out->n_pairs;
	if (n_switches)
		out->depth_newest = newest_sum / (double)n_switches;
	if (out->n_recovered)
		out->recovery_rounds = rec_sum / (double)out->n_recovered;
	ends_fini(&e);
}

/* ---- the table ---- */

const struct fcl_metric_info fcl_metric_table[] = {
#define M(k, key, l, u)                                                                            \
	{                                                                                          \
		key, l, u, offsetof(struct fcl_metric_values, k)                                   \
	}
    M(final_avg_acc, "final_avg_acc", "final average accuracy (A, GEM ACC)", "%"),
    M(aia, "avg_incremental_acc", "average incremental accuracy (task mean)", "%"),
    M(forgetting_max, "forgetting_max", "forgetting, max-based (Chaudhry)", "points"),
    M(forgetting_first, "forgetting_first", "forgetting, first value (Avalanche, FOT)", "points"),
    M(bwt, "bwt", "BWT (GEM)", "points"),
    M(bwt_continuum, "bwt_continuum", "BWT, all pairs (Continuum)", "points"),
    M(fwt, "fwt", "FWT against the random-init model (GEM)", "points"),
    M(a_auc, "a_auc", "A_auc: mean seen-set accuracy over evaluations", "%"),
    M(a_last, "a_last", "A_last: seen-set accuracy at the end", "%"),
    M(a_avg, "a_avg", "A_avg: mean seen-set accuracy at task ends", "%"),
    M(f_last, "f_last", "F_last: per-class best minus final", "points"),
    M(min_acc, "min_acc", "min-ACC", "%"),
    M(wc_acc, "wc_acc", "WC-ACC", "%"),
    M(wf_10, "wf_10", "WF(10)", "points"),
#undef M
    {NULL, NULL, NULL, 0},
};

void fcl_metric_all(const struct fcl_acc_record *r, struct fcl_metric_values *v)
{
	v->final_avg_acc = fcl_metric_final_avg_acc_rec(r);
	v->aia = fcl_metric_aia(r);
	v->forgetting_max = fcl_metric_forgetting_max_rec(r);
	v->forgetting_first = fcl_metric_forgetting_first_rec(r);
	v->bwt = fcl_metric_bwt_rec(r);
	v->bwt_continuum = fcl_metric_bwt_continuum(r);
	v->fwt = fcl_metric_fwt(r);
	v->a_auc = fcl_metric_a_auc(r);
	v->a_last = fcl_metric_a_last(r);
	v->a_avg = fcl_metric_a_avg(r);
	v->f_last = fcl_metric_f_last(r);
	v->min_acc = fcl_metric_min_acc(r);
	v->wc_acc = fcl_metric_wc_acc(r);
	v->wf_10 = fcl_metric_wf(r, 10);
	fcl_metric_stability_gap(r, &v->gap, v->gap_per_switch);
}

double fcl_metric_value(const struct fcl_metric_values *v, const struct fcl_metric_info *m)
{
	return *(const double *)((const char *)v + m->offset);
}

/* ---- square task-end matrix ---- */

#define R(i, j) acc[(i)*T + (j)]

double fcl_metric_final_avg_acc(const double *acc, size_t T)
{
	double sum = 0.0;
	for (size_t j = 0; j < T; j++)
		sum += R(T - 1, j);
	return T ? sum / (double)T : 0.0;
}

double fcl_metric_avg_incremental_acc(const double *acc, size_t T)
{
	double outer = 0.0;
	for (size_t i = 0; i < T; i++) {
		double row = 0.0;
		for (size_t j = 0; j <= i; j++)
			row += R(i, j);
		outer += row / (double)(i + 1);
	}
	return T ? outer / (double)T : 0.0;
}

double fcl_metric_forgetting_max(const double *acc, size_t T)
{
	double sum = 0.0;
	if (T < 2)
		return 0.0;
	for (size_t j = 0; j + 1 < T; j++) {
		double best = R(0, j);
		for (size_t l = 1; l + 1 < T; l++)
			best = R(l, j) > best ? R(l, j) : best;
		sum += best - R(T - 1, j);
	}
	return sum / (double)(T - 1);
}

double fcl_metric_forgetting_first(const double *acc, size_t T)
{
	double sum = 0.0;
	if (T < 2)
		return 0.0;
	for (size_t j = 0; j + 1 < T; j++)
		sum += R(j, j) - R(T - 1, j);
	return sum / (double)(T - 1);
}

double fcl_metric_bwt(const double *acc, size_t T)
{
	return -fcl_metric_forgetting_first(acc, T);
}
