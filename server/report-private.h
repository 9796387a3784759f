/* server/report-private.h - what report.c and summary.c share */
#ifndef FCL_SERVER_REPORT_PRIVATE_H
#define FCL_SERVER_REPORT_PRIVATE_H
#include <stdint.h>
#include <stdio.h>

#include "report.h"

struct fcl_metric_values;

/* Opens run_dir/name; NULL (and logged) on failure. */
FILE *coord_report__open(const struct coord_report *rep, const char *name, const char *mode);

/* metrics.json, summary.txt and summary.md: `rows` complete task ends, metrics v
 * of the global record. 0 or -EIO. */
int coord_report__write_results(const struct coord_report *rep, const struct coord_round *r,
				const struct coord_eval *e, uint32_t rows,
				const struct fcl_metric_values *v, const char *reason);

#endif
