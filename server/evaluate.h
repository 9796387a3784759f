/* server/evaluate.h - the evaluation schedule's work and the run's accuracy record
 *
 * The server evaluates the initial model once (b_j, for FWT), the global model
 * every evaluation.every_rounds and at every task end (and at the end of a run
 * that stopped early), and, with evaluation.local_models, each participant's
 * local model (global + its update) before aggregation. With model.batchnorm:
 * local (FedBN) the local models carry their client's own batchnorm values, and
 * every evaluation of the global model also evaluates it once per client with
 * that client's latest batchnorm values: FedBN's per-client accuracy (the
 * fedbn record; docs/metrics.md, "FedBN"). One pass over a task's
 * test samples gives that task's accuracy, its per-class accuracy and its share
 * of the "seen so far" test set.
 */
#ifndef FCL_SERVER_EVALUATE_H
#define FCL_SERVER_EVALUATE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/eval.h"
#include "fcl/metrics.h"

struct coord_round;
struct fcl_dataset;
struct fcl_mlp;
struct fcl_schedule;

/* What the evaluations read and where their rows go; all borrowed. */
struct coord_eval_config {
	const struct fcl_schedule *sched;
	struct fcl_mlp *model; /* the global model (its params are swapped for a local one
				* during that one's evaluation) */
	const struct fcl_dataset *test;
	FILE *csv;             /* eval.csv */
	FILE *class_csv;       /* eval_class.csv, or NULL: no per-class rows */
	char *io_error;        /* (256) where a failed write of the csv files is said */
	int local_models;      /* evaluation.local_models */
	uint32_t every_rounds; /* evaluation.every_rounds (the local models' schedule) */
	const char *run_dir;   /* exported models go to run_dir/model/ */
	const char *name;      /* the scenario's, for the exports' manifests */
	int export_models;     /* run.export (enum fcl_export_kind) */
	size_t bn_values;      /* batchnorm values per update (fcl_strategy_bn_sent), 0: no FedBN */
};

/* FedBN's per-client accuracies at one evaluation of the global model. */
enum { FEDBN_CLIENTS, FEDBN_MEAN, FEDBN_MIN, FEDBN_MAX, FEDBN_N };

/* One client's local-model evaluations: its own, sparser time x task record. */
struct coord_eval_local {
	size_t n_rows, cap;
	int64_t *round;   /* (cap) */
	double *acc;      /* (cap, T) */
	double *seen;     /* (cap) */
	int64_t *end_row; /* (T) its last evaluation during each task, -1: none */
};

/* The global model's evaluations (what metrics.json is computed from). */
struct coord_eval {
	struct coord_eval_config c;
	uint32_t T, C; /* tasks, classes */
	size_t n_rows, cap;
	int64_t *round;    /* (cap) */
	double *acc;       /* (cap, T) */
	double *seen;      /* (cap) accuracy on the tasks seen so far, pooled */
	double *class_acc; /* (cap, C) per class over the tasks seen so far; NAN: none */
	int64_t *end_row;  /* (T) row at the end of task t, -1 before */
	double *init_acc;  /* (T) the initial model, b_t */
	uint8_t *no_test;  /* (T) 1: task t has no test samples, left out of the metrics */
	uint32_t n_no_test;
	int has_init;
	double *acc_matrix; /* (T, T) the global model at task ends */
	double last_acc;    /* mean accuracy over seen tasks at the last evaluation; NAN before */
	double seconds;     /* spent evaluating */
	double sim_time;    /* simulated time of the next rows (eval.csv's sim_time); NAN: none */
	char export_error[256]; /* the first failed model export, "" while none failed */

	struct fcl_eval_scratch scratch;
	uint64_t *correct, *count;      /* (T, C) scratch of one evaluation */
	float *local_params;            /* (n_params) scratch: global + one update */
	struct coord_eval_local *local; /* (n_clients) with local_models, else NULL */
	/* with c.bn_values: the latest batchnorm values of each client (NULL until
	 * its first accepted update) and, per row, FedBN's clients and accuracies
	 * (the mean over seen tasks of each; NAN without clients) */
	float **bn_own; /* (n_clients)(bn_values) */
	double *fedbn;  /* (cap, FEDBN_N) */
};

/* 0, or -ENOMEM (then nothing needs freeing); cfg is copied. */
int coord_eval_init(struct coord_eval *e, const struct coord_eval_config *cfg);
void coord_eval_fini(struct coord_eval *e);
/* Evaluates the initial model (round -1 in eval.csv). 0 or -errno of a
 * failed write (then c.io_error says which). */
int coord_eval_initial(struct coord_eval *e);
/* Evaluates the global model after `round` (once); task_end fills the
 * task-end matrix row; with FedBN also the global model with each client's
 * batchnorm values. 0, -ENOMEM, or -errno of a failed write. */
int coord_eval_global(struct coord_eval *e, uint32_t round, int task_end);
/* Writes the global model to run_dir/model/task-<task>/ (task >= 0) or
 * model/final/ (task -1) as .npy files (fcl/export.h). A failure (disk full,
 * out of file descriptors) is logged and kept in export_error, and does not
 * stop the run: the model files are an extra, like a checkpoint. 0 or -errno. */
int coord_eval_export(struct coord_eval *e, int64_t round, int64_t task);
/* With local_models, on the global model's schedule: every accepted
 * participant's local model (with FedBN, its own batchnorm values in it).
 * Call before aggregation, every round: it also keeps the accepted
 * participants' batchnorm values. 0, -ENOMEM or -errno. */
int coord_eval_local_models(struct coord_eval *e, const struct coord_round *r);
/* For checkpoints: the whole record (global and local models). load
 * replaces it; 0, -EIO, -EINVAL (another geometry) or -ENOMEM. */
int coord_eval_save(const struct coord_eval *e, FILE *f);
int coord_eval_load(struct coord_eval *e, FILE *f);
/* The record as metrics.h reads it (borrowed). */
void coord_eval_record(const struct coord_eval *e, struct fcl_acc_record *out);
/* Client c's local-model record (borrowed); 0 rows without local evaluations. */
void coord_eval_local_record(const struct coord_eval *e, uint32_t c, struct fcl_acc_record *out);

#endif
