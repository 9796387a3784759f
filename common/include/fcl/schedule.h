/* common/include/fcl/schedule.h - a scenario compiled against its data
 *
 * Compiling is a pure function of (scenario, data): server and clients
 * compile the same scenario text and get the same tasks, shards and
 * participants, so only parameters need to travel on the wire.
 */
#ifndef FCL_SCHEDULE_H
#define FCL_SCHEDULE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/data.h"

struct fcl_scenario;

/* What a class is to a blurry task. */
enum fcl_class_role { FCL_CLASS_NONE = 0, FCL_CLASS_DISJOINT, FCL_CLASS_BLURRY };

struct fcl_task {
	uint32_t n_classes;
	uint32_t classes[256];  /* the task's (test) classes, ascending */
	uint8_t has_class[256]; /* has_class[c] = 1 when class c belongs to the task */
	uint8_t role[256];      /* blurry generators: enum fcl_class_role of each class */
	uint32_t *perm;         /* (dim) pixel permutation, or NULL for the identity */
	uint32_t *test_idx;     /* test samples of the task */
	uint32_t n_test;
	uint32_t *train_idx; /* (n_train) the task's training samples, in stream order */
	uint32_t n_train;
	uint32_t blurry_in; /* blurry: samples moved through the blurry pool into it */
};

/* One entry of a client's timeline: task `task` in rounds [start, end). */
struct fcl_entry {
	uint32_t task, start, end;
};

/* What one logical client does over the run. */
struct fcl_client_plan {
	uint32_t n_entries;
	struct fcl_entry *entries; /* (n_entries) ascending, non-overlapping */
	uint32_t join, leave;      /* present in rounds [join, leave); leave 0 = to the end */
	double participation;      /* chance of being available in a round with data */
	/* Recurrence (power law): round r's samples from old tasks are
	 * rec_idx[rec_off[r] .. rec_off[r+1]), of tasks rec_task[...]. NULL when off. */
	uint32_t *rec_off; /* (n_rounds + 1) */
	uint32_t *rec_idx, *rec_task;
};

struct fcl_schedule {
	uint32_t n_tasks, n_rounds, n_clients, per_round, rounds_per_task;
	uint32_t dim, n_classes;
	struct fcl_input_shape shape; /* a sample's (C, H, W), C * H * W = dim (fcl/data.h) */
	int in_phase;                 /* every client meets every task in the same rounds */
	int online;                   /* single pass over a stream, else local_epochs per round */
	int task_incremental; /* the task id is known at test: logits masked to its classes */
	uint32_t samples_per_round, local_epochs, join, leave;
	double participation;
	struct fcl_task *tasks; /* (n_tasks) */
	/* Training samples of client c in task t, in stream order (read them with
	 * fcl_schedule_client_task): task_samples[task_off[k] .. task_off[k + 1]) for
	 * k = c * n_tasks + t; one array for all, no allocation per client. */
	uint32_t *task_off; /* (n_clients * n_tasks + 1) */
	uint32_t *task_samples;
	/* Each client's plan (read them with fcl_schedule_plan): (n_clients) when
	 * clients differ (groups, segments, shuffled orders, offsets, jitter,
	 * recurrence), else NULL and every client has shared_plan. */
	struct fcl_client_plan *plans;
	struct fcl_client_plan shared_plan;
	uint32_t n_global;      /* in phase: the task sequence of the global clock */
	uint32_t *global_order; /* (n_global) */
};

/* What logical client c trains on in round r (see fcl_schedule_client_round). */
struct fcl_client_round {
	int32_t task;        /* -1: not present, or no data this round */
	uint32_t entry;      /* index into the client's plan (when task >= 0) */
	const uint32_t *idx; /* (n) samples of `task`, borrowed */
	uint32_t n;
	const uint32_t *rec_idx;  /* (n_rec) recurrence samples of old tasks, borrowed */
	const uint32_t *rec_task; /* (n_rec) their tasks */
	uint32_t n_rec;
	uint32_t epochs; /* passes over idx + rec_idx: local_epochs, or 1 online */
};

/* Loads the scenario's train and test sets (IDX files or synthetic), applying
 * data.train_limit/test_limit. err gets a readable reason on failure. */
int fcl_schedule_load_data(const struct fcl_scenario *sc, struct fcl_dataset *train,
			   struct fcl_dataset *test, char *err, size_t errlen);

int fcl_schedule_compile(struct fcl_schedule *s, const struct fcl_scenario *sc,
			 const struct fcl_dataset *train, const struct fcl_dataset *test);
void fcl_schedule_fini(struct fcl_schedule *s);

/* The task of the global clock in a round: the task every client trains
 * when clients are in phase; otherwise position round / rounds_per_task of
 * the catalogue (used to label evaluations). */
uint32_t fcl_schedule_task_of_round(const struct fcl_schedule *s, uint32_t round);
/* Is this round the last of its task on the global clock? */
int fcl_schedule_is_task_end(const struct fcl_schedule *s, uint32_t round);

/* Client c's training samples of task t, in stream order (borrowed), and
 * their number in *n. */
static inline const uint32_t *fcl_schedule_client_task(const struct fcl_schedule *s, uint32_t c,
						       uint32_t t, uint32_t *n)
{
	size_t k = (size_t)c * s->n_tasks + t;
	*n = s->task_off[k + 1] - s->task_off[k];
	return s->task_samples + s->task_off[k];
}

/* Client c's plan (borrowed). */
static inline const struct fcl_client_plan *fcl_schedule_plan(const struct fcl_schedule *s,
							      uint32_t c)
{
	return s->plans ? &s->plans[c] : &s->shared_plan;
}

/* What client c trains on in round r: task -1 when it has not joined, has
 * left, is between segments or has no stream samples left; otherwise the
 * task's samples for this round (offline: the client's whole task data, for
 * local_epochs; online: the round's slice of its stream, once) and any
 * recurrence samples. A pure function of the compiled schedule. */
void fcl_schedule_client_round(const struct fcl_schedule *s, uint32_t client, uint32_t round,
			       struct fcl_client_round *out);
/* Has client c data in round r and did its participation draw, seeded by
 * (seed, client, round), come up? */
int fcl_schedule_available(const struct fcl_schedule *s, uint64_t seed, uint32_t client,
			   uint32_t round);
/* The round's participants, ascending, into out (room for per_round):
 * per_round of the available clients drawn from (seed, round), or all of
 * them when fewer are available. Returns how many. */
uint32_t fcl_schedule_participants(const struct fcl_schedule *s, uint64_t seed, uint32_t round,
				   uint32_t *out);

/* A 64-bit digest of everything compiled (tasks, samples, timelines,
 * recurrence): equal on the server and every client when they compiled the
 * same scenario against the same data. Logged by both. */
uint64_t fcl_schedule_digest(const struct fcl_schedule *s);

/* Tasks this seed leaves without training or test samples (si-blurry draws how
 * many classes each task gets, possibly none; a partition can leave a task's
 * classes with too few samples): one line naming them into out ("" when none),
 * and how many such tasks. A task without test samples is left out of every
 * metric (docs/metrics.md); one without training samples trains nothing. */
uint32_t fcl_schedule_empty_tasks(const struct fcl_schedule *s, char *out, size_t len);

/* Writes the compiled schedule into dir (which must exist) as tasks.csv,
 * blurry.csv (blurry generators), clients.csv, timeline.csv, rounds.csv and,
 * when samples is set, samples.csv; see docs/scenarios.md. 0 or -EIO/-ENOMEM. */
/* Writes the classes c < n with flag[c] == want, space-separated (for CSV and show). */
void fcl_schedule_print_classes(FILE *f, const uint8_t *flag, uint32_t n, uint8_t want);
int fcl_schedule_write_csv(const struct fcl_schedule *s, const struct fcl_scenario *sc,
			   const struct fcl_dataset *train, const char *dir, int samples);
/* Only tasks.csv (and blurry.csv): what a run folder keeps of the schedule when
 * it has more than FCL_SCHEDULE_CSV_MAX_CLIENTS clients, whose per-client files
 * (clients x rounds rows) fcl-scenario compile still writes on request. */
#define FCL_SCHEDULE_CSV_MAX_CLIENTS 10000u
int fcl_schedule_write_tasks_csv(const struct fcl_schedule *s, const struct fcl_scenario *sc,
				 const struct fcl_dataset *train, const char *dir);
/* Label histogram hist (n_classes) of the samples client c holds, each once;
 * mark is (train->n) zeros, left zeroed. Returns the number of samples. */
uint64_t fcl_schedule_client_labels(const struct fcl_schedule *s, const struct fcl_dataset *train,
				    uint32_t client, uint8_t *mark, uint64_t *hist);

#endif
