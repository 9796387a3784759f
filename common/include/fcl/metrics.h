/* common/include/fcl/metrics.h - continual-learning metrics from one accuracy record
 *
 * Every metric is a named function of one record: the evaluations of one model
 * at a sequence of times (rows), on every task's test set (columns), plus the row
 * at which each task's training ended. The record may be non-square: rows are
 * evaluation times (every k rounds, task ends), and tasks may end in any order
 * (clients whose tasks arrive out of phase). Formulas, variants and the papers
 * and code they come from are in docs/metrics.md; names there and here match.
 *
 * A metric that is undefined for the record (no previous task, no baseline)
 * returns NAN; writers print it as JSON null. Tasks without test samples
 * (no_test) are left out of every average.
 */
#ifndef FCL_METRICS_H
#define FCL_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* One model's evaluations. All arrays are borrowed. */
struct fcl_acc_record {
	size_t n_rows;           /* evaluation times, in time order */
	size_t n_tasks;          /* T */
	size_t n_classes;        /* columns of class_acc; 0 = no per-class record */
	const int64_t *round;    /* (n_rows) round just completed at each evaluation */
	const double *acc;       /* (n_rows, n_tasks) accuracy on each task's test set */
	const double *seen;      /* (n_rows) accuracy on the test samples of every task seen
				  * so far (Si-Blurry's "seen classes" set), or NULL */
	const double *class_acc; /* (n_rows, n_classes) per class over seen tasks, NAN where a
				  * class has no test sample yet; or NULL */
	const int64_t *end_row;  /* (n_tasks) row of the evaluation at the end of task j's
				  * training; -1 while task j has not ended */
	const double *init_acc;  /* (n_tasks) b_j: the initial (random) model on task j, or NULL */
	const uint8_t *no_test;  /* (n_tasks) nonzero: task j has no test samples, so its
				  * accuracy means nothing and every metric leaves it out
				  * (as if it never ended); NULL: every task has some */
};

/* ---- task-end metrics (R[i, j] = acc at the end of the i-th task to end, on task j) ---- */

/* A: mean over learned tasks j of acc[last, j]. GEM's ACC. */
double fcl_metric_final_avg_acc_rec(const struct fcl_acc_record *r);
/* Average incremental accuracy (task mean): mean over task ends e of the mean over
 * tasks learned by e of acc[e, j]. FACIL's avg_acc averaged over steps. */
double fcl_metric_aia(const struct fcl_acc_record *r);
/* Chaudhry: mean over previous tasks j of max over earlier task-end rows l of
 * acc[l, j], minus acc[last, j]. */
double fcl_metric_forgetting_max_rec(const struct fcl_acc_record *r);
/* Avalanche / FOT code: mean over previous tasks j of acc[end_row[j], j] - acc[last, j]. */
double fcl_metric_forgetting_first_rec(const struct fcl_acc_record *r);
/* GEM: mean over previous tasks j of acc[last, j] - acc[end_row[j], j]. */
double fcl_metric_bwt_rec(const struct fcl_acc_record *r);
/* Continuum: mean over all pairs of task ends e > e' of acc[e, j'] - acc[e', j'],
 * where j' is the task ending at e'. */
double fcl_metric_bwt_continuum(const struct fcl_acc_record *r);
/* GEM: mean over tasks j after the first to end of acc[end of the task before j, j] - b_j.
 * NAN without init_acc. */
double fcl_metric_fwt(const struct fcl_acc_record *r);

/* ---- seen-set metrics (i-Blurry / Si-Blurry); NAN without seen ---- */

/* Mean of seen[] over every evaluation row. */
double fcl_metric_a_auc(const struct fcl_acc_record *r);
/* seen[] at the last row. */
double fcl_metric_a_last(const struct fcl_acc_record *r);
/* Mean of seen[] over task-end rows. */
double fcl_metric_a_avg(const struct fcl_acc_record *r);
/* Per class: max over earlier task-end rows minus the last row, averaged over
 * classes whose max is above 0. NAN without class_acc. */
double fcl_metric_f_last(const struct fcl_acc_record *r);

/* ---- continual-evaluation metrics (De Lange et al., stability gap) ---- */

/* Mean over previous tasks i of the minimum of acc[n, i] over rows n after end_row[i]. */
double fcl_metric_min_acc(const struct fcl_acc_record *r);
/* (1/k) acc[last, current] + (1 - 1/k) min-ACC, with k tasks learned by the last row. */
double fcl_metric_wc_acc(const struct fcl_acc_record *r);
/* WF(w): per previous task, the largest drop acc[m] - acc[n] (m < n, n - m < w) among
 * rows from end_row[i] on, at least 0; averaged over those tasks. */
double fcl_metric_wf(const struct fcl_acc_record *r, size_t w);

/* The stability gap at task switches. A switch is the end of one task followed by
 * the training of the next to end; for every task i learned before the switch,
 * depth = acc[switch row, i] - min over the next task's rows of acc[n, i], and
 * recovery = rounds from that minimum until acc first reaches the pre-switch value
 * again within the next task (a pair with no drop has nothing to recover from and
 * is not counted in n_recovered). */
struct fcl_stability_gap {
	size_t n_pairs;         /* (switch, old task) pairs */
	size_t n_recovered;     /* pairs that dropped and came back */
	double depth;           /* mean depth over pairs; NAN when none */
	double depth_newest;    /* mean over switches of the depth of the task that just
				 * ended (the classic stability-gap curve); NAN when none */
	double recovery_rounds; /* mean over recovered pairs; NAN when none recovered */
};
/* Over every switch; per_switch_depth (n_tasks entries, may be NULL) gets the mean
 * depth at the m-th switch (m = 0 .. task ends - 2), NAN beyond. */
void fcl_metric_stability_gap(const struct fcl_acc_record *r, struct fcl_stability_gap *out,
			      double *per_switch_depth);

/* ---- every metric of a record, as metrics.json and summary.md list them ---- */

/* The values the table below names, computed together by fcl_metric_all. */
struct fcl_metric_values {
	double final_avg_acc, aia, forgetting_max, forgetting_first, bwt, bwt_continuum, fwt;
	double a_auc, a_last, a_avg, f_last, min_acc, wc_acc, wf_10;
	struct fcl_stability_gap gap;
	double *gap_per_switch; /* (n_tasks) the caller's; see fcl_metric_stability_gap */
};

/* One named metric of struct fcl_metric_values. */
struct fcl_metric_info {
	const char *key;   /* its metrics.json key */
	const char *label; /* for people: what it is and whose definition */
	const char *unit;  /* "%" for accuracies, "points" for differences */
	size_t offset;     /* of its double in struct fcl_metric_values */
};

/* The scalar metrics in metrics.json order; ends with an entry whose key is NULL.
 * (The stability gap's fields are written by name.) */
extern const struct fcl_metric_info fcl_metric_table[];

/* Every metric of r into v; v->gap_per_switch must be set (or NULL). */
void fcl_metric_all(const struct fcl_acc_record *r, struct fcl_metric_values *v);
/* The value m names in v. */
double fcl_metric_value(const struct fcl_metric_values *v, const struct fcl_metric_info *m);

/* ---- the same on a square (T, T) task-end matrix: acc[i * T + j] ---- */

double fcl_metric_final_avg_acc(const double *acc, size_t T);
double fcl_metric_avg_incremental_acc(const double *acc, size_t T);
double fcl_metric_forgetting_max(const double *acc, size_t T);
double fcl_metric_forgetting_first(const double *acc, size_t T);
double fcl_metric_bwt(const double *acc, size_t T);

#endif
