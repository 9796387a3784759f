/* tests/test_metrics.c - every metric against hand-computed accuracy records
 *
 * Three records: a square task-end matrix, a continual-evaluation record (an
 * evaluation every round, with a stability gap), and a non-square record whose
 * tasks end out of order (a client whose tasks arrive out of phase).
 * Each variant is checked by name; the arithmetic is in the comments.
 */
#include "fcl/metrics.h"
#include "tap.h"

#include <math.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void square(void)
{
	/* R[i][j]: accuracy on task j after task i. */
	const double R[9] = {
	    0.90, 0.10, 0.05, /* after task 0 */
	    0.60, 0.80, 0.10, /* after task 1 */
	    0.50, 0.70, 0.95, /* after task 2 */
	};
	/* final: (0.5 + 0.7 + 0.95) / 3 */
	CHECK(NEAR(fcl_metric_final_avg_acc(R, 3), 2.15 / 3), "square: final average accuracy");
	/* AIA: (0.9 + (0.6+0.8)/2 + 2.15/3) / 3 */
	CHECK(NEAR(fcl_metric_avg_incremental_acc(R, 3), (0.9 + 0.7 + 2.15 / 3) / 3),
	      "square: average incremental accuracy");
	/* max-based: task 0 max(0.9, 0.6) - 0.5 = 0.4; task 1 max(0.1, 0.8) - 0.7 = 0.1 */
	CHECK(NEAR(fcl_metric_forgetting_max(R, 3), 0.25), "square: forgetting_max = 0.25");
	/* first-value: (0.9 - 0.5 + 0.8 - 0.7) / 2 = 0.25 here too; a case where they differ: */
	const double S[9] = {0.70, 0.0, 0.0, 0.90, 0.80, 0.0, 0.60, 0.85, 0.9};
	/* max: task0 max(0.7, 0.9) - 0.6 = 0.3; task1 max(0, 0.8) - 0.85 = -0.05 -> mean 0.125 */
	CHECK(NEAR(fcl_metric_forgetting_max(S, 3), 0.125),
	      "square: forgetting_max uses the best row");
	/* first: task0 0.7 - 0.6 = 0.1; task1 0.8 - 0.85 = -0.05 -> 0.025 */
	CHECK(NEAR(fcl_metric_forgetting_first(S, 3), 0.025),
	      "square: forgetting_first uses the diagonal");
	CHECK(NEAR(fcl_metric_bwt(S, 3), -0.025), "square: bwt is minus forgetting_first");
	const double one[1] = {0.8};
	CHECK(fcl_metric_forgetting_max(one, 1) == 0.0 && fcl_metric_bwt(one, 1) == 0.0 &&
		  NEAR(fcl_metric_final_avg_acc(one, 1), 0.8),
	      "square: one task: no forgetting, accuracy is the entry");

	/* The same matrix S as a record (row i = end of task i) gives the same numbers,
	 * plus what needs more than the matrix. */
	const int64_t round[3] = {9, 19, 29}, end_row[3] = {0, 1, 2};
	const double b[3] = {0.10, 0.20, 0.05};
	struct fcl_acc_record r = {
	    .n_rows = 3, .n_tasks = 3, .round = round, .acc = S, .end_row = end_row, .init_acc = b};
	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r), fcl_metric_final_avg_acc(S, 3)),
	      "record = square: final_avg_acc");
	CHECK(NEAR(fcl_metric_aia(&r), fcl_metric_avg_incremental_acc(S, 3)),
	      "record = square: avg_incremental_acc");
	CHECK(NEAR(fcl_metric_forgetting_max_rec(&r), 0.125), "record = square: forgetting_max");
	CHECK(NEAR(fcl_metric_forgetting_first_rec(&r), 0.025),
	      "record = square: forgetting_first");
	CHECK(NEAR(fcl_metric_bwt_rec(&r), -0.025), "record = square: bwt");
	/* Continuum, all pairs i > j: (R10 - R00) + (R20 - R00) + (R21 - R11)
	 * = (0.9 - 0.7) + (0.6 - 0.7) + (0.85 - 0.8) = 0.15, over 3 pairs */
	CHECK(NEAR(fcl_metric_bwt_continuum(&r), 0.05), "bwt_continuum averages all pairs");
	/* GEM FWT: (R01 - b1 + R12 - b2) / 2 = (0 - 0.2 + 0 - 0.05) / 2 */
	CHECK(NEAR(fcl_metric_fwt(&r), -0.125), "fwt against the random-init baseline");
	r.init_acc = NULL;
	CHECK(isnan(fcl_metric_fwt(&r)), "fwt is undefined (NAN) without a baseline");
	CHECK(isnan(fcl_metric_a_auc(&r)) && isnan(fcl_metric_f_last(&r)),
	      "seen-set and per-class metrics are NAN without those records");
	const int64_t one_end[1] = {0};
	struct fcl_acc_record r1 = {
	    .n_rows = 1, .n_tasks = 1, .round = round, .acc = one, .end_row = one_end};
	CHECK(isnan(fcl_metric_forgetting_max_rec(&r1)) && isnan(fcl_metric_min_acc(&r1)) &&
		  NEAR(fcl_metric_wc_acc(&r1), 0.8),
	      "record with one task: forgetting and min-ACC undefined, WC-ACC is the accuracy");
}

/* Two tasks, an evaluation every round; task 0 ends at row 1, task 1 at row 5.
 *   round   0     1     2     3     4     5
 *   task0  0.50  0.80  0.60  0.30  0.85  0.70
 *   task1  0.00  0.00  0.40  0.60  0.70  0.90
 *   seen   0.50  0.80  0.30  0.45  0.775 0.80
 */
static void continual(void)
{
	const double acc[12] = {0.50, 0.00, 0.80, 0.00, 0.60, 0.40,
				0.30, 0.60, 0.85, 0.70, 0.70, 0.90};
	const double seen[6] = {0.50, 0.80, 0.30, 0.45, 0.775, 0.80};
	const double N = NAN;
	/* four classes; 0-1 belong to task 0, 2-3 to task 1 (unseen until row 2) */
	const double cls[24] = {0.6, 0.4, N,   N,   0.9, 0.7, N,   N,   0.7, 0.5, 0.3,  0.5,
				0.4, 0.2, 0.6, 0.6, 0.9, 0.8, 0.6, 0.8, 0.6, 0.8, 0.95, 0.85};
	const int64_t round[6] = {0, 1, 2, 3, 4, 5}, end_row[2] = {1, 5};
	const double b[2] = {0.10, 0.05};
	struct fcl_acc_record r = {.n_rows = 6,
				   .n_tasks = 2,
				   .n_classes = 4,
				   .round = round,
				   .acc = acc,
				   .seen = seen,
				   .class_acc = cls,
				   .end_row = end_row,
				   .init_acc = b};
	struct fcl_stability_gap g;
	double per_switch[2];

	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r), 0.8), "continual: final_avg_acc (0.7+0.9)/2");
	CHECK(NEAR(fcl_metric_aia(&r), 0.8), "continual: avg_incremental_acc uses task ends only");
	CHECK(NEAR(fcl_metric_forgetting_max_rec(&r), 0.1),
	      "continual: forgetting_max ignores rows between task ends (0.8 - 0.7)");
	CHECK(NEAR(fcl_metric_forgetting_first_rec(&r), 0.1), "continual: forgetting_first");
	CHECK(NEAR(fcl_metric_bwt_rec(&r), -0.1), "continual: bwt");
	CHECK(NEAR(fcl_metric_bwt_continuum(&r), -0.1), "continual: bwt_continuum");
	CHECK(NEAR(fcl_metric_fwt(&r), -0.05), "continual: fwt = acc(row 1, task 1) - b1");
	/* A_auc: mean of every seen value; A_last: the last; A_avg: rows 1 and 5 */
	CHECK(NEAR(fcl_metric_a_auc(&r), 3.625 / 6), "a_auc = mean seen accuracy over all rows");
	CHECK(NEAR(fcl_metric_a_last(&r), 0.8), "a_last = seen accuracy at the last row");
	CHECK(NEAR(fcl_metric_a_avg(&r), 0.8), "a_avg = mean seen accuracy at task ends");
	/* F_last over task-end rows before the last (row 1): class 0 0.9 - 0.6 = 0.3,
	 * class 1 0.7 - 0.8 = -0.1; classes 2-3 have no earlier value: (0.3 - 0.1) / 2 */
	CHECK(NEAR(fcl_metric_f_last(&r), 0.1), "f_last: per-class best minus final");
	/* min-ACC: task 0 after its end: min(0.6, 0.3, 0.85, 0.7) = 0.3 */
	CHECK(NEAR(fcl_metric_min_acc(&r), 0.3), "min_acc = 0.3");
	/* WC-ACC: k = 2: 0.9 / 2 + (1 - 1/2) 0.3 = 0.6 */
	CHECK(NEAR(fcl_metric_wc_acc(&r), 0.6), "wc_acc = 0.6");
	/* WF(w) on task 0 from row 1: 0.8 0.6 0.3 0.85 0.7
	 * w=2 (adjacent): max(0.2, 0.3, 0.15) = 0.3; w=3: 0.8 - 0.3 = 0.5 */
	CHECK(NEAR(fcl_metric_wf(&r, 2), 0.3), "wf_2 = 0.3 (adjacent drops only)");
	CHECK(NEAR(fcl_metric_wf(&r, 3), 0.5), "wf_3 = 0.5 (a two-step drop)");
	CHECK(NEAR(fcl_metric_wf(&r, 10), 0.5), "wf_10 = 0.5");
	/* Stability gap at the switch after row 1: task 0 falls from 0.8 to 0.3 (round 3)
	 * and is back at 0.85 >= 0.8 in round 4: depth 0.5, recovery 1 round. */
	fcl_metric_stability_gap(&r, &g, per_switch);
	CHECK(g.n_pairs == 1 && NEAR(g.depth, 0.5), "stability_gap_depth = 0.5");
	CHECK(g.n_recovered == 1 && NEAR(g.recovery_rounds, 1.0),
	      "stability_gap_recovery_rounds = 1");
	CHECK(NEAR(per_switch[0], 0.5) && isnan(per_switch[1]), "stability gap per switch");
	CHECK(NEAR(g.depth_newest, 0.5), "stability_gap_depth_newest_task = 0.5");
}

/* Three tasks that end out of order, as for a client whose tasks arrive out of
 * phase: task 1 ends at row 1, task 0 at row 3, task 2 at row 4.
 *   row     0     1     2     3     4
 *   task0  0.10  0.85  0.60  0.80  0.50
 *   task1  0.50  0.90  0.70  0.60  0.40
 *   task2  0.00  0.00  0.10  0.10  0.90
 */
static void out_of_phase(void)
{
	const double acc[15] = {0.10, 0.50, 0.00, 0.85, 0.90, 0.00, 0.60, 0.70,
				0.10, 0.80, 0.60, 0.10, 0.50, 0.40, 0.90};
	const int64_t round[5] = {0, 2, 4, 6, 8}, end_row[3] = {3, 1, 4};
	const double b[3] = {0.10, 0.20, 0.05};
	struct fcl_acc_record r = {.n_rows = 5,
				   .n_tasks = 3,
				   .round = round,
				   .acc = acc,
				   .end_row = end_row,
				   .init_acc = b};
	struct fcl_stability_gap g;
	double per_switch[3];

	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r), 0.6), "out of phase: final_avg_acc");
	/* ends: row 1 {task 1}: 0.9; row 3 {0, 1}: 0.7; row 4 {0, 1, 2}: 0.6 */
	CHECK(NEAR(fcl_metric_aia(&r), 2.2 / 3), "out of phase: avg_incremental_acc");
	/* first: task 0: 0.8 - 0.5; task 1: 0.9 - 0.4 -> 0.4 */
	CHECK(NEAR(fcl_metric_forgetting_first_rec(&r), 0.4), "out of phase: forgetting_first");
	/* max over end rows 1 and 3: task 0 max(0.85, 0.8) - 0.5 = 0.35; task 1 0.5 -> 0.425 */
	CHECK(NEAR(fcl_metric_forgetting_max_rec(&r), 0.425),
	      "out of phase: forgetting_max differs from forgetting_first");
	CHECK(NEAR(fcl_metric_bwt_rec(&r), -0.4), "out of phase: bwt");
	/* pairs in end order: (0.6 - 0.9) + (0.4 - 0.9) + (0.5 - 0.8) = -1.1 over 3 */
	CHECK(NEAR(fcl_metric_bwt_continuum(&r), -1.1 / 3), "out of phase: bwt_continuum");
	/* task 0 after task 1's end: 0.85 - 0.1; task 2 after task 0's end: 0.1 - 0.05 */
	CHECK(NEAR(fcl_metric_fwt(&r), 0.4), "out of phase: fwt follows the order tasks ended");
	/* task 0 after row 3: 0.5; task 1 after row 1: min(0.7, 0.6, 0.4) = 0.4 */
	CHECK(NEAR(fcl_metric_min_acc(&r), 0.45), "out of phase: min_acc");
	CHECK(NEAR(fcl_metric_wc_acc(&r), 0.9 / 3 + 2.0 / 3 * 0.45), "out of phase: wc_acc");
	/* switch 0 (rows 2-3): task 1 0.9 -> 0.6; switch 1 (row 4): task 0 0.8 -> 0.5,
	 * task 1 0.6 -> 0.4; nothing recovers */
	fcl_metric_stability_gap(&r, &g, per_switch);
	CHECK(g.n_pairs == 3 && NEAR(g.depth, 0.8 / 3), "out of phase: stability_gap_depth");
	CHECK(g.n_recovered == 0 && isnan(g.recovery_rounds),
	      "out of phase: no recovery, recovery rounds undefined");
	CHECK(NEAR(per_switch[0], 0.3) && NEAR(per_switch[1], 0.25) && isnan(per_switch[2]),
	      "out of phase: depth per switch");
	/* the task that just ended: task 1 at switch 0 (0.3), task 0 at switch 1 (0.3) */
	CHECK(NEAR(g.depth_newest, 0.3), "out of phase: stability_gap_depth_newest_task");
}

/* Tasks without test samples (Si-Blurry can draw a task no class, or only blurry
 * training samples): their accuracy column is 0 but means nothing, so every metric
 * leaves them out, as if they had never ended. Four tasks, a row at each task end;
 * task 2 has no test samples.
 *   row (after)  0     1     2     3
 *   task0       0.80  0.60  0.60  0.50
 *   task1       0.00  0.90  0.90  0.70
 *   task2       0.00  0.00  0.00  0.00   (no test samples)
 *   task3       0.00  0.00  0.00  0.85
 *   seen        0.80  0.75  0.75  0.70
 */
static void empty_tasks(void)
{
	const double acc[16] = {0.80, 0.00, 0.00, 0.00, 0.60, 0.90, 0.00, 0.00,
				0.60, 0.90, 0.00, 0.00, 0.50, 0.70, 0.00, 0.85};
	const double seen[4] = {0.80, 0.75, 0.75, 0.70}, b[4] = {0.10, 0.10, 0.00, 0.10};
	const int64_t round[4] = {9, 19, 29, 39}, end_row[4] = {0, 1, 2, 3};
	const uint8_t no_test[4] = {0, 0, 1, 0};
	struct fcl_acc_record r = {.n_rows = 4,
				   .n_tasks = 4,
				   .round = round,
				   .acc = acc,
				   .seen = seen,
				   .end_row = end_row,
				   .init_acc = b,
				   .no_test = no_test};
	struct fcl_stability_gap g;

	/* (0.5 + 0.7 + 0.85) / 3 = 0.68333, not / 4 = 0.5125 */
	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r), 2.05 / 3),
	      "empty task: final_avg_acc averages the three tasks with test samples");
	/* task ends: rows 0, 1, 3 (row 2 is task 2's): 0.8, (0.6 + 0.9) / 2, 2.05 / 3 */
	CHECK(NEAR(fcl_metric_aia(&r), (0.8 + 0.75 + 2.05 / 3) / 3),
	      "empty task: avg_incremental_acc skips its column and its end");
	/* previous tasks 0 and 1: (0.8 - 0.5 + 0.9 - 0.7) / 2 */
	CHECK(NEAR(fcl_metric_forgetting_first_rec(&r), 0.25), "empty task: forgetting_first");
	CHECK(NEAR(fcl_metric_forgetting_max_rec(&r), 0.25), "empty task: forgetting_max");
	CHECK(NEAR(fcl_metric_bwt_rec(&r), -0.25), "empty task: bwt");
	/* pairs of ends (rows 0, 1, 3): (0.6 - 0.8) + (0.5 - 0.8) + (0.7 - 0.9) = -0.7 */
	CHECK(NEAR(fcl_metric_bwt_continuum(&r), -0.7 / 3), "empty task: bwt_continuum");
	/* task 1 at row 0: 0 - 0.1; task 3 at row 1 (the end before its own): 0 - 0.1 */
	CHECK(NEAR(fcl_metric_fwt(&r), -0.1), "empty task: fwt");
	/* task 0 after row 0: min(0.6, 0.6, 0.5); task 1 after row 1: min(0.9, 0.7) */
	CHECK(NEAR(fcl_metric_min_acc(&r), 0.6), "empty task: min_acc");
	CHECK(NEAR(fcl_metric_wc_acc(&r), 0.85 / 3 + 2.0 / 3 * 0.6),
	      "empty task: wc_acc counts three learned tasks");
	/* seen at the task ends that count: (0.8 + 0.75 + 0.7) / 3 */
	CHECK(NEAR(fcl_metric_a_avg(&r), 0.75), "empty task: a_avg over the other task ends");
	CHECK(NEAR(fcl_metric_a_auc(&r), 0.75), "empty task: a_auc is pooled, unchanged");
	/* switch at row 0: task 0 0.8 -> 0.6; at row 1 (to row 3): task 0 0.6 -> 0.5,
	 * task 1 0.9 -> 0.7 */
	fcl_metric_stability_gap(&r, &g, NULL);
	CHECK(g.n_pairs == 3 && NEAR(g.depth, 0.5 / 3), "empty task: stability gap");
	r.no_test = NULL;
	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r), 2.05 / 4),
	      "without no_test the column counts as 0 (what the flag fixes)");

	/* The first task empty (seeds 3 and 4 of scenarios/si-blurry-dirichlet-uer.yaml):
	 *   task0 0 0 0 (no test samples); task1 0 0.9 0.8; task2 0 0 0.7 */
	const double a3[9] = {0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.8, 0.7};
	const int64_t end3[3] = {0, 1, 2};
	const uint8_t no3[3] = {1, 0, 0};
	struct fcl_acc_record r3 = {
	    .n_rows = 3, .n_tasks = 3, .round = round, .acc = a3, .end_row = end3, .no_test = no3};
	CHECK(NEAR(fcl_metric_final_avg_acc_rec(&r3), 0.75), "first task empty: final_avg_acc");
	/* ends: rows 1 and 2: 0.9, (0.8 + 0.7) / 2 */
	CHECK(NEAR(fcl_metric_aia(&r3), 0.825), "first task empty: avg_incremental_acc");
	CHECK(NEAR(fcl_metric_forgetting_first_rec(&r3), 0.1),
	      "first task empty: forgetting_first over task 1 only");
	const uint8_t all[3] = {1, 1, 1};
	r3.no_test = all;
	CHECK(isnan(fcl_metric_final_avg_acc_rec(&r3)) && isnan(fcl_metric_aia(&r3)) &&
		  isnan(fcl_metric_wc_acc(&r3)),
	      "no task with test samples: the averages are undefined (NAN)");
}

int main(void)
{
	square();
	continual();
	out_of_phase();
	empty_tasks();
	return tap_done();
}
