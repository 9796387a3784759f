/* common/include/fcl/scenario.h - what a run is, as parsed from a YAML scenario
 *
 * Parsing is strict: an unknown key, a value of the wrong type or out of
 * range is an error naming file:line:col and the key. See docs/scenarios.md.
 */
#ifndef FCL_SCENARIO_H
#define FCL_SCENARIO_H
#include <stddef.h>
#include <stdint.h>

#define FCL_SCENARIO_MAX_HIDDEN 6
#define FCL_SCENARIO_MAX_CLASSES 256
#define FCL_SCENARIO_PATH_MAX 512

enum fcl_dataset_kind {
	FCL_DATASET_IDX,       /* MNIST-format files in data.path (Fashion-MNIST, MNIST, KMNIST ...) */
	FCL_DATASET_SYNTHETIC, /* Gaussian clusters, for tests */
};

enum fcl_partition_kind {
	FCL_PARTITION_IID,
};

enum fcl_task_kind {
	FCL_TASKS_SINGLE,            /* one task with every class */
	FCL_TASKS_CLASS_INCREMENTAL, /* disjoint class sets, single head */
	FCL_TASKS_PERMUTED,          /* all classes, a fixed pixel permutation per task */
};

/* Server aggregation rules; each lives in common/src/agg_<name>.c (see fcl/aggregate.h). */
enum fcl_rule_kind {
	FCL_RULE_FEDAVG,
	FCL_RULE_FOT,          /* FedAvg + orthogonal projection on old tasks' input subspaces */
	FCL_RULE_FEDPROX,      /* FedAvg on the server; clients add (mu/2)|w - w_global|^2 */
	FCL_RULE_FEDAVGM,      /* server momentum */
	FCL_RULE_FEDADAM,      /* server Adam on the averaged update */
	FCL_RULE_FEDYOGI,      /* server Yogi */
	FCL_RULE_FEDNOVA,      /* normalised averaging by local step counts */
	FCL_RULE_MEDIAN,       /* coordinate-wise median */
	FCL_RULE_TRIMMED_MEAN, /* coordinate-wise trimmed mean */
	FCL_RULE_KRUM,         /* Krum / Multi-Krum */
	FCL_RULE_SCAFFOLD,     /* control variates on server and clients */
};

enum fcl_k_rule {
	FCL_K_RULE_NORM,   /* FOT authors' code: r = |R|/|A|, at least one new direction */
	FCL_K_RULE_ENERGY, /* GPM: r = |R|^2/|A|^2, no direction when none is needed */
};

struct fcl_scenario {
	char name[64];
	uint64_t seed;

	struct {
		enum fcl_dataset_kind kind;
		char path[FCL_SCENARIO_PATH_MAX]; /* folder holding the four IDX files */
		/* synthetic only */
		uint32_t synthetic_train, synthetic_test, synthetic_dim, synthetic_classes;
		/* 0 = all; otherwise use the first N samples (after a seeded shuffle) */
		uint32_t train_limit, test_limit;
	} data;

	struct {
		uint32_t n_hidden;
		uint32_t hidden[FCL_SCENARIO_MAX_HIDDEN];
	} model;

	struct {
		uint32_t count;     /* logical clients */
		enum fcl_partition_kind partition;
		uint32_t per_round; /* participants sampled each round (<= count) */
	} clients;

	struct {
		enum fcl_task_kind kind;
		uint32_t count;            /* tasks */
		uint32_t classes_per_task; /* class-incremental */
		uint32_t n_class_order;    /* 0 = seeded order */
		uint32_t class_order[FCL_SCENARIO_MAX_CLASSES];
		uint32_t rounds_per_task;
		int identity_first;        /* permuted: task 0 keeps the original pixels */
	} tasks;

	struct {
		uint32_t local_epochs;
		uint32_t batch_size;
		float lr, momentum, weight_decay;
	} train;

	struct {
		enum fcl_rule_kind rule;
		int weighted; /* FedAvg: weight by samples (1) or uniformly (0) */
		/* fot */
		double threshold;           /* epsilon_0 of the first task, (0, 1) */
		double threshold_increment; /* added per task */
		enum fcl_k_rule k_rule;
		double sketch_columns;      /* sketch width c_l as a multiple of d_l */
		/* fedprox */
		float mu;
		/* fedavgm, fedadam, fedyogi */
		float server_lr, beta1, beta2, tau;
		/* trimmed-mean: share cut at each end; krum: assumed faulty clients, selected */
		double trim;
		uint32_t byzantine, krum_select;
	} aggregation;

	struct {
		uint32_t every_rounds; /* 0 = only at task ends */
	} eval;

	struct {
		double round_timeout_s; /* a round ends at this deadline if the quorum is met */
		double quorum;          /* share of a round's participants needed, (0, 1] */
		double join_timeout_s;  /* how long the server waits for every client to say hello */
	} run;
};

/* Fills *sc with defaults (documented in docs/scenarios.md). */
void fcl_scenario_defaults(struct fcl_scenario *sc);

/* Parses YAML text; filename is used in messages only. On error returns
 * -EINVAL and writes "file:line:col: key: what was expected" into err. */
int fcl_scenario_parse(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
		       char *err, size_t errlen);

/* Reads and parses a file; on success *text_out (if not NULL) is the owned
 * file text (free with free()), *len_out its length. */
int fcl_scenario_load(struct fcl_scenario *sc, const char *path, char **text_out, size_t *len_out,
		      char *err, size_t errlen);

const char *fcl_task_kind_name(enum fcl_task_kind kind);

#endif
