/* tests/test_metrics.c - metrics against hand-computed values */
#include "fcl/metrics.h"
#include "tap.h"

#include <math.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

int main(void)
{
	/* R[i][j]: accuracy on task j after task i. */
	const double R[9] = {
		0.90, 0.10, 0.05, /* after task 0 */
		0.60, 0.80, 0.10, /* after task 1 */
		0.50, 0.70, 0.95, /* after task 2 */
	};
	/* final: (0.5 + 0.7 + 0.95) / 3 */
	CHECK(NEAR(fcl_metric_final_avg_acc(R, 3), 2.15 / 3), "final average accuracy");
	/* AIA: (0.9 + (0.6+0.8)/2 + 2.15/3) / 3 */
	CHECK(NEAR(fcl_metric_avg_incremental_acc(R, 3), (0.9 + 0.7 + 2.15 / 3) / 3),
	      "average incremental accuracy");
	/* max-based: task 0 max(0.9, 0.6) - 0.5 = 0.4; task 1 max(0.1, 0.8) - 0.7 = 0.1 */
	CHECK(NEAR(fcl_metric_forgetting_max(R, 3), 0.25), "forgetting (max) = 0.25");
	/* first-value: (0.9 - 0.5 + 0.8 - 0.7) / 2 = 0.25 here too; a case where they differ: */
	const double S[9] = {0.70, 0.0, 0.0, 0.90, 0.80, 0.0, 0.60, 0.85, 0.9};
	/* max: task0 max(0.7, 0.9) - 0.6 = 0.3; task1 max(0, 0.8) - 0.85 = -0.05 -> mean 0.125 */
	CHECK(NEAR(fcl_metric_forgetting_max(S, 3), 0.125), "forgetting (max) uses the best row");
	/* first: task0 0.7 - 0.6 = 0.1; task1 0.8 - 0.85 = -0.05 -> 0.025 */
	CHECK(NEAR(fcl_metric_forgetting_first(S, 3), 0.025),
	      "forgetting (first) uses the diagonal");
	CHECK(NEAR(fcl_metric_bwt(S, 3), -0.025), "BWT is minus first-value forgetting");
	const double one[1] = {0.8};
	CHECK(fcl_metric_forgetting_max(one, 1) == 0.0 && fcl_metric_bwt(one, 1) == 0.0 &&
		      NEAR(fcl_metric_final_avg_acc(one, 1), 0.8),
	      "one task: no forgetting, accuracy is the entry");
	return tap_done();
}
