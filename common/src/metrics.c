/* common/src/metrics.c - continual-learning metrics from an accuracy matrix */
#include "fcl/metrics.h"

#define R(i, j) acc[(i) * T + (j)]

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
