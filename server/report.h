/* server/report.h - the run folder and the run's accounting
 *
 * events.jsonl  one JSON object per line: run start, join, every round, run end
 * eval.csv      long format: round,model,task,accuracy (task "seen": the tasks seen
 *               so far, pooled; round -1: the initial model), and sim_time with
 *               simulated time; opened here, its rows are written by the evaluations
 *               (evaluate.h)
 * eval_class.csv long format: round,model,class,accuracy (classes of seen tasks)
 * metrics.json  the accuracy matrix and every metric derived from the record: a
 *               function of the scenario and seed only (traffic and times, which
 *               depend on the process layout and the machine, are in events.jsonl
 *               and summary.md)
 * summary.txt   the headline numbers for people, printed by fcl-sim at the end
 * summary.md    everything, as markdown tables
 * (the last three: summary.c)
 */
#ifndef FCL_SERVER_REPORT_H
#define FCL_SERVER_REPORT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cost.h"

struct coord_eval;
struct coord_round;
struct coord_sim;
struct fcl_dataset;
struct fcl_mlp;
struct fcl_scenario;
struct fcl_schedule;

/* What the run folder is about; all borrowed, and must outlive the report. */
struct coord_report_config {
	const char *run_dir;
	const struct fcl_scenario *sc;
	const struct fcl_schedule *sched;
	const struct fcl_dataset *train; /* for the compiled schedule's CSV files */
	const struct fcl_mlp *model;     /* the global model: its size, its final checksum */
	const char *scenario_text;       /* written to scenario.yaml */
	size_t scenario_len;
	uint64_t scenario_hash;
	int progress;   /* print machine-readable progress lines on stdout */
	double started; /* fcl_now() at the start of the run */
	int resume;     /* the run folder exists: append to its files (after coord_report_load) */
	uint64_t estimated_bytes; /* the server's peak memory by run.limits' estimate */
};

struct coord_report {
	struct coord_report_config c;
	FILE *events;
	FILE *eval_csv, *eval_class_csv; /* lent to the evaluations; class: NULL without
					  * evaluation.per_class */

	/* traffic totals */
	uint64_t bytes_up, bytes_down;
	uint64_t round_bytes_up, round_bytes_down;
	uint64_t bad_messages; /* malformed, unexpected or invalid, all dropped */
	uint64_t refused_hellos; /* hellos refused: bad, taken or unbound ids, late */

	/* traffic and time per task and client: events.jsonl and summary.md only */
	uint64_t *task_bytes_up, *task_bytes_down; /* (T) */
	double *task_seconds;                      /* (T) wall time of the task's rounds */
	uint64_t *client_bytes_up;                 /* (n_clients) update messages */
	double *client_bytes_down;                 /* (n_clients) share of its process's
						    * round messages (see report.c) */
	uint32_t *client_updates;                  /* (n_clients) accepted */
	double *client_train_s;                    /* (n_clients) reported compute seconds */
	double server_s_sum, server_s_max;         /* per round, after the last update */
	uint32_t n_rounds_done;
	struct coord_cost cost; /* where the rounds' time goes (cost.h), filled by the parts */

	double *gap_per_switch; /* (T) scratch of the metrics at the end */
	double sim_time;        /* simulated time, for events.jsonl's lines; NAN: none */

	/* what went wrong writing the run folder, "" while nothing did: the
	 * first failed write ("disk full: cannot write events.jsonl (...)") */
	char io_error[256];
	char reserve_path[4096]; /* space kept for the results, given back at the end */
	int reserved;
	/* metrics.json, summary.txt, summary.md of the run's end, opened at the
	 * start (as hidden temporary files, renamed into place at the end): a
	 * coordinator out of file descriptors still writes them */
	FILE *final[3];
};

/* Writes scenario.yaml and the compiled schedule, opens the files, writes the
 * start lines, and sets space and file descriptors aside for the results.
 * With c.resume, opens the files of the run folder for appending instead.
 * 0, -ENOSPC, -EIO or -ENOMEM (then nothing needs closing, and io_error or
 * the log says why). */
int coord_report_init(struct coord_report *rep, const struct coord_report_config *cfg);
void coord_report_fini(struct coord_report *rep);

/* A line of events.jsonl with the totals so far; detail may be NULL. */
/* With --progress: one line for the launcher on stdout ("joined": every
 * logical client has a process and the run begins). */
void coord_report_say(const struct coord_report *rep, const char *line);
void coord_report_event(struct coord_report *rep, const struct coord_round *r, const char *event,
			const char *detail);
/* A message dropped for the reason why: counted and logged. */
void coord_report_dropped(struct coord_report *rep, const char *why);
/* A message of `bytes` received (decoded) or sent. */
void coord_report_up(struct coord_report *rep, size_t bytes);
void coord_report_down(struct coord_report *rep, size_t bytes);
/* An update message of `bytes` from a participant (counted per client). */
void coord_report_update(struct coord_report *rep, uint32_t client, size_t bytes);
/* A round starts: its traffic counts from 0. */
void coord_report_round_start(struct coord_report *rep);
/* The round r has just ended: its events.jsonl line, its accounting, the progress line. */
void coord_report_round(struct coord_report *rep, const struct coord_round *r,
			const struct coord_eval *e, double round_seconds, double server_seconds);
/* Simulated time: the aggregation step s->step has just been made (its line in
 * events.jsonl, its accounting, the progress line); wall_seconds since the last. */
void coord_report_sim_step(struct coord_report *rep, const struct coord_sim *s,
			   const struct coord_eval *e, double wall_seconds, double server_seconds);
/* Tasks in simulated time: schedule round `round`, the last of `task`, has ended
 * (a "task_end" line; the "round" lines count aggregation steps then). */
void coord_report_task_end(struct coord_report *rep, uint32_t round, uint32_t task);
/* Simulated time: a round start of `bytes` went to these n clients' jobs. */
void coord_report_down_to(struct coord_report *rep, const uint32_t *ids, size_t n, size_t bytes);
/* An "absent" line: logical clients that never joined, left out of the run. */
void coord_report_absent(struct coord_report *rep, const struct coord_round *r, const uint32_t *ids,
			 uint32_t n_ids);
/* One "gone" (or "left", before the first round) line naming peer p, the
 * address it connected from ("" if unknown) and its ids. */
void coord_report_gone(struct coord_report *rep, const struct coord_round *r, const char *event,
		       uint32_t p, const char *addr, const uint32_t *ids, uint32_t n_ids,
		       const char *why);
/* The end of the run (exit_code 0: complete; else reason says why not): the
 * accounting line, the last event, the summaries and metrics.json, whose
 * "complete" is true only when the run completed and every output was
 * written (else its "reason" says why not). 0 or -EIO (io_error says why). */
int coord_report_close(struct coord_report *rep, const struct coord_round *r,
		       const struct coord_eval *e, int exit_code, const char *reason);
/* The run is ending: the space and file descriptors set aside for its
 * last outputs are given back (coord_report_close does it too). */
void coord_report_release(struct coord_report *rep);
/* metrics.json, summary.txt and summary.md of a run that is not over: the
 * results so far, "complete": false and why (see fcl/runstatus.h). */
int coord_report_unfinished(struct coord_report *rep, const struct coord_round *r,
			    const struct coord_eval *e, const char *reason);

/* For checkpoints: the accounting and the length of every file the run
 * appends to. load cuts the files back to those lengths and appends from
 * there. 0, -EIO, -EINVAL or -errno. */
int coord_report_save(struct coord_report *rep, FILE *f);
int coord_report_load(struct coord_report *rep, FILE *f);

#endif
