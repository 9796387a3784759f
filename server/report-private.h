/* server/report-private.h - what report.c and summary.c share */
#ifndef FCL_SERVER_REPORT_PRIVATE_H
#define FCL_SERVER_REPORT_PRIVATE_H
#include <stdint.h>
#include <stdio.h>

#include "report.h"

struct fcl_metric_values;

/* s as a JSON string: quotes, backslashes and control characters escaped. */
void coord_report__json_str(FILE *f, const char *s);

/* Is client c in the per-client record (events.jsonl's traffic line, summary.md)?
 * Every client, or with more than FCL_SCHEDULE_CSV_MAX_CLIENTS registered only
 * those that sent updates. */
int coord_report__every_client(const struct coord_report *rep, uint32_t c);

/* Spare file descriptors kept for the results (fcl_fd_reserve). */
#define FD_RESERVE 4

/* Opens run_dir/name; NULL (and said in io_error) on failure. */
FILE *coord_report__open(struct coord_report *rep, const char *name, const char *mode);

/* The files of the results. */
enum coord_result { RESULT_METRICS, RESULT_SUMMARY, RESULT_SUMMARY_MD, N_RESULTS };
/* A results file to write: final, the one opened at the start for the run's
 * end; else a new temporary file (results so far, at checkpoints). NULL when
 * it cannot be had: said (final: in io_error, else as a warning only). */
FILE *coord_report__result(struct coord_report *rep, enum coord_result which, int final);
/* Puts what was written into f in place, by a rename: the file is replaced
 * whole or not at all. 0 or -errno (said as coord_report__result does). */
int coord_report__result_done(struct coord_report *rep, FILE *f, enum coord_result which,
			      int final);
/* A failed write of run_dir/name: logged, and the first one kept in io_error. */
void coord_report__io_error(struct coord_report *rep, const char *name, int rc);

/* report_files.c: the results files of the run's end, opened at its start. 0 or -errno. */
int coord_report__open_finals(struct coord_report *rep);
void coord_report__close_finals(struct coord_report *rep);
/* Space for the results, set aside in the run folder until the end (.reserved). 0 or -errno
 * (said in io_error); unreserve gives it back. */
int coord_report__reserve(struct coord_report *rep);
void coord_report__unreserve(struct coord_report *rep);

/* metrics.json, summary.txt and summary.md: `rows` complete task ends, metrics v
 * of the global record; unfinished: the run did not complete (or is not over),
 * for the reason given; final: the run's end (coord_report__result).
 * 0 or -errno (said). */
int coord_report__write_results(struct coord_report *rep, const struct coord_round *r,
				const struct coord_eval *e, uint32_t rows,
				const struct fcl_metric_values *v, int unfinished,
				const char *reason, int final);

#endif
