/* server/evaluate.h - the evaluation schedule's work and the run's accuracy record
 *
 * The server evaluates the initial model once (b_j, for FWT), the global model
 * every evaluation.every_rounds and at every task end (and at the end of a run
 * that stopped early), and, with evaluation.local_models, each participant's
 * local model (global + its update) before aggregation. One pass over a task's
 * test samples gives that task's accuracy, its per-class accuracy and its share
 * of the "seen so far" test set.
 */
#ifndef FCL_SERVER_EVALUATE_H
#define FCL_SERVER_EVALUATE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/metrics.h"

struct fcl_server;

/* One client's local-model evaluations: its own, sparser time x task record. */
struct local_record {
	size_t n_rows, cap;
	int64_t *round;   /* (cap) */
	double *acc;      /* (cap, T) */
	double *seen;     /* (cap) */
	int64_t *end_row; /* (T) its last evaluation during each task, -1: none */
};

/* The global model's evaluations, and the run's accounting (not in metrics.json). */
struct run_record {
	uint32_t T, C; /* tasks, classes */
	size_t n_rows, cap;
	int64_t *round;    /* (cap) */
	double *acc;       /* (cap, T) */
	double *seen;      /* (cap) accuracy on the tasks seen so far, pooled */
	double *class_acc; /* (cap, C) per class over the tasks seen so far; NAN: none */
	int64_t *end_row;  /* (T) row at the end of task t, -1 before */
	double *init_acc;  /* (T) the initial model, b_t */
	int has_init;
	uint64_t *correct, *count; /* (T, C) scratch of one evaluation */
	float *local_params;       /* (n_params) scratch: global + one update */
	struct local_record *local; /* (n_clients) with evaluation.local_models, else NULL */
	double eval_seconds;       /* spent evaluating */

	/* traffic and time: events.jsonl and summary.md only */
	uint64_t *task_bytes_up, *task_bytes_down; /* (T) */
	double *task_seconds;                      /* (T) wall time of the task's rounds */
	uint64_t *client_bytes_up;                 /* (n_clients) update messages */
	double *client_bytes_down;                 /* (n_clients) share of its process's
						    * round messages (see report.c) */
	uint32_t *client_updates;                  /* (n_clients) accepted */
	double *client_train_s;                    /* (n_clients) reported compute seconds */
	double server_s_sum, server_s_max;         /* per round, after the last update */
	uint32_t n_rounds_done;
};

int eval_init(struct fcl_server *s);
void eval_fini(struct fcl_server *s);
/* Evaluates the initial model (round -1 in eval.csv). */
void eval_initial(struct fcl_server *s);
/* Evaluates the global model after `round`; task_end fills the task-end matrix row. */
void eval_global(struct fcl_server *s, uint32_t round, int task_end);
/* With evaluation.local_models, on the global model's schedule: every accepted
 * participant's local model. Call before aggregation. */
void eval_local_models(struct fcl_server *s);
/* The record as metrics.h reads it (borrowed). */
void eval_record(const struct fcl_server *s, struct fcl_acc_record *out);
/* Client c's local-model record (borrowed); 0 rows without local evaluations. */
void eval_local_record(const struct fcl_server *s, uint32_t c, struct fcl_acc_record *out);

#endif
