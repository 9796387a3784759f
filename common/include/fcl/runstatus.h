/* common/include/fcl/runstatus.h - whether a run folder's run finished, and why not
 *
 * The coordinator says it in metrics.json ("complete": false and a "reason"
 * line right after it) and summary.txt (a line "run did not finish (...):
 * reason"), from the start of the run on, so that a folder left by a crash
 * never looks complete. What only someone outside can know (the coordinator
 * was killed with SIGKILL, fcl-sim was) is written into those same lines by
 * whoever saw it: fcl-sim, through this module.
 */
#ifndef FCL_RUNSTATUS_H
#define FCL_RUNSTATUS_H
#include <stddef.h>

/* Replaces the reason in run_dir's metrics.json and summary.txt (each
 * replaced whole, by a rename), keeping the rest: the partial results the
 * coordinator wrote at its last checkpoint. Writes minimal files where there
 * are none, and leaves a complete run alone (returns 1 then). 0, 1 or -errno. */
int fcl_run_mark_unfinished(const char *run_dir, const char *reason);
/* Whether run_dir's metrics.json says its run is complete. */
int fcl_run_is_complete(const char *run_dir);
/* The reason metrics.json gives for an unfinished run, into buf; 0, or
 * -ENOENT when it has none (a complete run, or no metrics.json). */
int fcl_run_reason(const char *run_dir, char *buf, size_t len);

#endif
