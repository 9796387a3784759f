/* server/report-private.h - what report.c and summary.c share */
#ifndef FCL_SERVER_REPORT_PRIVATE_H
#define FCL_SERVER_REPORT_PRIVATE_H
#include <stdint.h>
#include <stdio.h>

#include "report.h"

struct fcl_metric_values;

/* s as a JSON string: quotes, backslashes and control characters escaped. */
void coord_report__json_str(FILE *f, const char *s);

/* Spare file descriptors kept for the results (fcl_fd_reserve). */
#define FD_RESERVE 4

/* Opens run_dir/name; NULL (and said in io_error) on failure. */
FILE *coord_report__open(struct coord_report *rep, const char *name, const char *mode);
/* Closes f, opened as run_dir/name.tmp, and renames it to run_dir/name, so
 * that the file is replaced whole or not at all. 0 or -errno (said). */
int coord_report__commit(struct coord_report *rep, FILE *f, const char *name);
/* A failed write of run_dir/name: logged, and the first one kept in io_error. */
void coord_report__io_error(struct coord_report *rep, const char *name, int rc);

/* metrics.json, summary.txt and summary.md: `rows` complete task ends, metrics v
 * of the global record; unfinished: the run did not complete (or is not over),
 * for the reason given. 0 or -errno (said in io_error). */
int coord_report__write_results(struct coord_report *rep, const struct coord_round *r,
				const struct coord_eval *e, uint32_t rows,
				const struct fcl_metric_values *v, int unfinished,
				const char *reason);

#endif
