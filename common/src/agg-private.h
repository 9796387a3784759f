/* common/src/agg-private.h - helpers shared by the aggregation rules */
#ifndef FCL_AGG_PRIVATE_H
#define FCL_AGG_PRIVATE_H
#include <stddef.h>

/* Ascending sort of a short array (insertion sort; qsort past 32). */
void fcl__sort_floats(float *v, size_t n);

#endif
