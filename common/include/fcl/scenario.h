/* common/include/fcl/scenario.h - what a run is, as parsed from a YAML scenario
 *
 * Parsing is strict: an unknown key, a value of the wrong type or out of
 * range is an error naming file:line:col and the key. See docs/scenarios.md.
 */
#ifndef FCL_SCENARIO_H
#define FCL_SCENARIO_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/data.h"
#include "fcl/arch.h"
#include "fcl/strategy.h"

#define FCL_SCENARIO_MAX_HIDDEN 6
#define FCL_SCENARIO_MAX_CLASSES 256
#define FCL_SCENARIO_PATH_MAX 512
#define FCL_SCENARIO_MAX_ORDER 1024         /* entries of an explicit timeline.order */
#define FCL_SCENARIO_MAX_SEGMENTS 256       /* entries of timeline.segments */
#define FCL_SCENARIO_MAX_GROUPS 64          /* entries of timeline.groups */
#define FCL_SCENARIO_MAX_GROUP_ORDER 64     /* an explicit order inside a group */
#define FCL_SCENARIO_MAX_STRATEGY_GROUPS 16 /* entries of strategy.groups */
#define FCL_SCENARIO_MAX_DIST_VALUES 64     /* entries of a table distribution */
#define FCL_SCENARIO_MAX_DEVICE_GROUPS 16   /* entries of devices.groups */

#define FCL_SCENARIO_MAX_CHANNELS 16

/* One number per input channel (or one for all). */
struct fcl_channel_values {
	uint32_t n;
	float v[FCL_SCENARIO_MAX_CHANNELS];
};

enum fcl_dataset_kind {
	FCL_DATASET_IDX, /* files in data.path, in data.format (IDX: Fashion-MNIST, MNIST ...) */
	FCL_DATASET_SYNTHETIC, /* Gaussian clusters, for tests */
};

enum fcl_partition_kind {
	FCL_PARTITION_IID,
	FCL_PARTITION_DIRICHLET, /* per-client label mix q_c ~ Dir(alpha * global mix) */
	FCL_PARTITION_SHARDS,    /* sort by label, cut into count*k shards, k per client */
	FCL_PARTITION_QUANTITY,  /* IID labels, client sizes ~ Dir(alpha) */
};

enum fcl_task_kind {
	FCL_TASKS_SINGLE,            /* one task with every class */
	FCL_TASKS_CLASS_INCREMENTAL, /* disjoint class sets, single head */
	FCL_TASKS_PERMUTED,          /* all classes, a fixed pixel permutation per task */
	FCL_TASKS_TASK_INCREMENTAL,  /* class-incremental, task id known at test (masked logits) */
	FCL_TASKS_I_BLURRY,          /* N% disjoint classes, M% blurry samples, even cuts */
	FCL_TASKS_SI_BLURRY,         /* the same with stochastic cuts (Si-Blurry) */
	FCL_TASKS_SCOLE,             /* many small tasks drawn from a class pool */
};

enum fcl_order_kind {
	FCL_ORDER_CATALOGUE, /* tasks 0, 1, 2 ... */
	FCL_ORDER_SHUFFLED,  /* a seeded permutation per client */
	FCL_ORDER_EXPLICIT,  /* an explicit list of task ids */
	FCL_ORDER_INHERIT,   /* a group without its own order: timeline.order */
};

enum fcl_recurrence_kind {
	FCL_RECURRENCE_NONE,
	FCL_RECURRENCE_POWER_LAW, /* old task i weighted (lag_i + offset)^-exponent */
};

/* One explicit segment: clients lo..hi train on `task` in rounds [start, end). */
struct fcl_segment {
	uint32_t lo, hi, task, start, end;
};

/* Clients lo..hi with their own timeline settings; UINT32_MAX (participation
 * < 0, order FCL_ORDER_INHERIT) = as the timeline says. */
struct fcl_client_group {
	uint32_t lo, hi;
	enum fcl_order_kind order;
	uint32_t n_order;
	uint32_t order_list[FCL_SCENARIO_MAX_GROUP_ORDER];
	uint32_t offset, join, leave;
	double participation;
};

/* How a device quantity is given: one value, or drawn per client from the seed. */
enum fcl_dist_kind {
	FCL_DIST_INHERIT = -1, /* a device group that does not set it: the section's */
	FCL_DIST_FIXED,        /* value */
	FCL_DIST_UNIFORM,      /* uniform in [lo, hi) */
	FCL_DIST_LOGNORMAL,    /* median * exp(sigma * N(0, 1)) */
	FCL_DIST_TABLE,        /* client c gets values[c mod n_values] */
};

struct fcl_dist {
	enum fcl_dist_kind kind;
	double value, lo, hi, median, sigma;
	uint32_t n_values;
	double values[FCL_SCENARIO_MAX_DIST_VALUES];
};

enum fcl_avail_kind {
	FCL_AVAIL_INHERIT = -1, /* a device group that does not set it */
	FCL_AVAIL_ALWAYS,
	FCL_AVAIL_ON_OFF, /* alternating online/offline spells, exponential, seeded per client */
	FCL_AVAIL_TRACE,  /* online intervals per client from a CSV file */
};

struct fcl_availability {
	enum fcl_avail_kind kind;
	double on_s, off_s;                /* on-off: mean online and offline spells, seconds */
	char trace[FCL_SCENARIO_PATH_MAX]; /* trace: client,start,end lines */
	double period;                     /* trace: it repeats every period seconds; 0: once */
};

/* A device: how fast it computes and communicates, and when it is online. */
struct fcl_device_profile {
	struct fcl_dist speed;    /* samples per simulated second */
	struct fcl_dist up, down; /* bytes per simulated second */
	struct fcl_dist latency;  /* seconds each message takes on top of its bytes */
	struct fcl_availability avail;
};

/* Clients lo..hi with their own device profile (unset parts inherit). */
struct fcl_device_group {
	uint32_t lo, hi;
	struct fcl_device_profile p;
};

/* How rounds meet simulated time (aggregation.mode). */
enum fcl_agg_mode { FCL_AGG_SYNC, FCL_AGG_ASYNC };
enum fcl_async_method { FCL_ASYNC_FEDBUFF, FCL_ASYNC_FEDASYNC };
enum fcl_staleness_kind { FCL_STALENESS_CONSTANT, FCL_STALENESS_POLYNOMIAL, FCL_STALENESS_HINGE };

/* An update's weight by its staleness d (server versions since its start):
 * constant 1, polynomial (1 + d)^-a, hinge 1 for d <= b else 1 / (a (d - b) + 1). */
struct fcl_staleness {
	enum fcl_staleness_kind kind;
	double a, b;
	uint32_t max; /* updates staler than this are dropped; 0: none */
};

struct fcl_rule; /* fcl/rule.h */

/* One item of model.layers as written; UINT32_MAX (bias: -1) when not given. */
struct fcl_layer_item {
	int type;
	uint32_t units, channels, kernel, stride, padding;
	int bias;
	float rate;      /* dropout; < 0 when not given */
	uint32_t groups; /* groupnorm */
	int norm;        /* residual: 1 batchnorm, 0 none; < 0 when not given */
};

struct fcl_scenario {
	char name[64];
	uint64_t seed;

	struct {
		enum fcl_dataset_kind kind;
		char path[FCL_SCENARIO_PATH_MAX]; /* folder holding the files */
		enum fcl_data_format format;      /* how the files in path are laid out */
		/* labels are 0..classes-1: declared (data.classes), the format's (10 for
		 * IDX and cifar10, 100 or 20 for cifar100) or, for npy, detected at load
		 * time from y_train.npy; 0 for synthetic data (synthetic_classes) */
		uint32_t classes;
		int coarse; /* cifar100: the 20 coarse labels (data.labels: coarse) */
		/* per-channel normalisation (x - mean[c]) / std[c] of the gathered
		 * pixels (bytes already in [0, 1]); n = 0: none, 1: every channel */
		struct fcl_channel_values mean, std;
		int augment; /* 1: random crops (padding 4) and flips of training samples */
		/* synthetic only */
		uint32_t synthetic_train, synthetic_test, synthetic_dim, synthetic_classes;
		/* 0 = all; otherwise use the first N samples (after a seeded shuffle) */
		uint32_t train_limit, test_limit;
	} data;

	struct {
		uint32_t n_hidden;
		uint32_t hidden[FCL_SCENARIO_MAX_HIDDEN];
		int head_bias; /* 0: the head has no bias (kept at 0), for UER */
		/* model.preset (default mlp, which model.hidden shapes) or model.layers */
		enum fcl_model_preset preset;
		int heads; /* model.heads: 0 single, 1 per-task, -1 unset (follows the generator) */
		uint32_t n_layers; /* model.layers (preset FCL_PRESET_NONE) */
		struct fcl_layer_spec layers[FCL_ARCH_MAX_LAYERS];
		char file[128]; /* the scenario's file name, for errors in the layers' shapes */
		struct fcl_layer_item lcur; /* the item of model.layers being parsed */
		/* model.batchnorm: 0 fedavg (gamma, beta and running statistics
		 * aggregated like every parameter), 1 local (FedBN: each logical
		 * client keeps its own; fcl/strategy.h) */
		int batchnorm;
	} model;

	struct {
		uint32_t count; /* logical clients */
		enum fcl_partition_kind partition;
		uint32_t per_round; /* participants sampled each round (<= count) */
		double alpha;       /* dirichlet, quantity-skew: concentration */
		uint32_t shards_per_client;
	} clients;

	struct {
		enum fcl_task_kind kind;
		uint32_t count;            /* tasks */
		uint32_t classes_per_task; /* class-incremental */
		uint32_t n_class_order;    /* 0 = seeded order */
		uint32_t class_order[FCL_SCENARIO_MAX_CLASSES];
		uint32_t rounds_per_task;
		int identity_first;    /* permuted: task 0 keeps the original pixels */
		uint32_t disjoint_pct; /* blurry: N, share of classes that are disjoint */
		uint32_t blurry_pct;   /* blurry: M, share of blurry samples moved */
		uint32_t n_class_pool; /* scole: 0 = every class */
		uint32_t class_pool[FCL_SCENARIO_MAX_CLASSES];
		/* > 0: task k runs in simulated time [k, k + 1) * seconds_per_task, its rounds
		 * are equal slices of it (needs devices); 0: tasks last rounds_per_task rounds */
		double seconds_per_task;
	} tasks;

	struct {
		enum fcl_order_kind order;
		uint32_t n_order; /* explicit order: task ids, repeats allowed */
		uint32_t order_list[FCL_SCENARIO_MAX_ORDER];
		uint32_t offset;      /* each client starts 0..offset rounds late (seeded) */
		uint32_t jitter;      /* each later task starts 0..jitter rounds late (seeded) */
		uint32_t join, leave; /* clients exist in [join, leave); leave 0 = to the end */
		double participation; /* chance a present client is available in a round */
		int online;           /* single pass over the stream instead of epochs */
		uint32_t samples_per_round; /* online: 0 = spread each task over its rounds */
		uint32_t n_segments;
		struct fcl_segment segments[FCL_SCENARIO_MAX_SEGMENTS];
		struct fcl_segment cur; /* parser scratch */
		uint32_t n_groups;
		struct fcl_client_group groups[FCL_SCENARIO_MAX_GROUPS];
		struct fcl_client_group gcur; /* parser scratch */
	} timeline;

	struct {
		enum fcl_recurrence_kind kind;
		double exponent, offset, budget;
		int lag_from_introduction; /* 0: lag counts from the last round the task was seen */
	} recurrence;

	struct {
		uint32_t local_epochs;
		uint32_t batch_size;
		float lr, momentum, weight_decay;
		int online;            /* train.mode: offline (0) or online (1) */
		uint32_t stream_batch; /* online: stream samples per batch */
		uint32_t replay_batch; /* replayed samples per step */
		uint32_t online_iter;  /* online: SGD steps per stream batch */
		int mask_unexposed;    /* mask unexposed classes' logits; default: online */
	} train;

	struct fcl_strategy_config
	    strategy; /* every client's strategy, unless a group says otherwise */
	uint32_t n_strategy_groups;
	struct {
		uint32_t first, last; /* client ids, inclusive */
		struct fcl_strategy_config cfg;
	} strategy_groups[FCL_SCENARIO_MAX_STRATEGY_GROUPS]; /* the last group holding a client wins
							      */

	struct {
		const struct fcl_rule *rule; /* aggregation.rule, from the registry */
		/* the rule's own settings (its params struct, keys it declares) */
		_Alignas(16) unsigned char params[FCL_METHOD_PARAMS_MAX];
		/* simulated time (needs devices) */
		enum fcl_agg_mode mode;
		double deadline;       /* sync: a round's simulated deadline, seconds; 0: none */
		int keep_stragglers;   /* sync: an update past the deadline joins a later round */
		double over_selection; /* sync: select ceil((1 + x) per_round), keep the first */
		struct {
			enum fcl_async_method method;
			uint32_t buffer;      /* FedBuff: aggregate every K arrivals */
			uint32_t concurrency; /* clients training at once; 0: clients.per_round */
			double lr;            /* FedBuff: server learning rate eta_g */
			double alpha;         /* FedAsync: mixing weight */
		} async;
		struct fcl_staleness staleness; /* async, and stale updates of sync rounds */
	} aggregation;

	struct {
		uint32_t every_rounds; /* 0 = only at task ends */
		int per_class;         /* write per-class accuracy (eval_class.csv); default 1 */
		int local_models;      /* also evaluate each participant's local model; default 0 */
	} eval;

	/* Device profiles: with this section the run keeps a simulated clock
	 * (docs/scenarios.md, devices). */
	struct {
		int on;
		struct fcl_device_profile base; /* every client, unless a group says otherwise */
		uint32_t n_groups;
		struct fcl_device_group groups[FCL_SCENARIO_MAX_DEVICE_GROUPS]; /* the last wins */
		struct fcl_device_group gcur;                                   /* parser scratch */
	} devices;

	struct {
		double round_timeout_s; /* a round ends at this deadline if the quorum is met */
		double quorum;          /* share of a round's participants needed, (0, 1] */
		double join_timeout_s; /* how long the server waits for every client to say hello */
		/* when the coordinator writes a checkpoint (any that applies) */
		struct {
			uint32_t every_rounds; /* 0: not by round count */
			int task_ends;         /* after every task's last round; default 1 */
			double every_minutes;  /* 0: not by wall time; default 10 */
		} checkpoint;
		int on_client_loss; /* enum fcl_client_loss */
		/* what the run may take (fcl/estimate.h); refused above, before anything runs */
		struct {
			uint64_t memory_mb; /* estimated peak memory of one process */
			uint64_t disk_mb;   /* estimated run folder: schedule and reports */
			uint64_t rounds;    /* rounds of the schedule */
		} limits;
		int export_models;  /* enum fcl_export_kind: which global models go to model/ */
	} run;
};

/* run.export: the global models written as .npy files (fcl/export.h). */
enum fcl_export_kind {
	FCL_EXPORT_FINAL,     /* model/final/ at the end of a complete run (default) */
	FCL_EXPORT_TASK_ENDS, /* and model/task-<k>/ after the last round of every task */
	FCL_EXPORT_NONE,
};

/* run.on_client_loss: what a lost client process does to the run. */
enum fcl_client_loss {
	FCL_LOSS_QUORUM,   /* its logical clients leave; rounds go on if the quorum is met */
	FCL_LOSS_ROLLBACK, /* a replacement takes its ids and the run goes back to the last
			    * checkpoint, so that the results do not change */
};
/* Whether the scenario asks for any checkpoint at all (never in simulated time). */
int fcl_scenario_checkpoints(const struct fcl_scenario *sc);

/* Fills *sc with defaults (documented in docs/scenarios.md). */
void fcl_scenario_defaults(struct fcl_scenario *sc);

/* Parses YAML text; filename is used in messages only. On error returns
 * -EINVAL and writes "file:line:col: key: what was expected" into err. */
int fcl_scenario_parse(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
		       char *err, size_t errlen);

/* The same with relative paths (data.path, device traces) resolved against
 * base_dir (NULL: left as given). fcl-client parses the welcome's text with the
 * coordinator's scenario folder, so that paths mean the same everywhere. */
int fcl_scenario_parse_at(struct fcl_scenario *sc, const char *text, size_t len,
			  const char *filename, const char *base_dir, char *err, size_t errlen);

/* The absolute folder of a scenario file into out (where its relative paths
 * resolve). 0, or -ENAMETOOLONG / -ENOMEM. */
int fcl_scenario_dir(const char *path, char *out, size_t len);

/* Reads and parses a file; on success *text_out (if not NULL) is the owned
 * file text (free with free()), *len_out its length. */
int fcl_scenario_load(struct fcl_scenario *sc, const char *path, char **text_out, size_t *len_out,
		      char *err, size_t errlen);

const char *fcl_task_kind_name(enum fcl_task_kind kind);
const char *fcl_partition_kind_name(enum fcl_partition_kind kind);
/* Do all clients meet the same task in the same round (a global task clock)? */
int fcl_scenario_in_phase(const struct fcl_scenario *sc);

/* Does the run keep simulated time (a devices section)? */
int fcl_scenario_timed(const struct fcl_scenario *sc);
/* Are a training job's random draws (shuffles, replay) seeded by its dispatch
 * number rather than its round? Yes when a client may train more than once per
 * round: asynchronous runs, and tasks in simulated time. */
int fcl_scenario_draws_per_job(const struct fcl_scenario *sc);
/* Clients training at once in an asynchronous run. */
uint32_t fcl_scenario_concurrency(const struct fcl_scenario *sc);

/* What the scenario's methods say it does poorly (struct fcl_rule's caveat):
 * a sentence into buf and 1, or 0 when nothing. */
int fcl_scenario_caveat(const struct fcl_scenario *sc, char *buf, size_t len);
/* The model's layer list (model.layers, or its preset expanded; out has room
 * for FCL_ARCH_MAX_LAYERS): the count, or -EINVAL. */
int fcl_scenario_layers(const struct fcl_scenario *sc, struct fcl_layer_spec *out);
/* Does the model have a batchnorm layer (model.batchnorm applies)? */
int fcl_scenario_has_batchnorm(const struct fcl_scenario *sc);
/* Dense layers before the head (what model.hidden counted). */
uint32_t fcl_scenario_hidden_dense(const struct fcl_scenario *sc);
/* Layers that make the head's input features: the hidden dense layers, plus
 * one for a body (convolutions, residual blocks) before the first dense layer. */
uint32_t fcl_scenario_feature_layers(const struct fcl_scenario *sc);
/* The model compiled against the data's sample shape and classes; a bad shape
 * gives -EINVAL and "file:line:col: model.layers[i]: why" in err. */
int fcl_scenario_arch(const struct fcl_scenario *sc, struct fcl_input_shape input,
		      uint32_t classes, struct fcl_arch *a, char *err, size_t errlen);

/* How a client turns a round's samples into steps (train.*, model.head_bias,
 * model.batchnorm). */
struct fcl_loop_config fcl_scenario_loop(const struct fcl_scenario *sc);

/* The strategy of one logical client: its group's, or strategy's. Borrowed. */
const struct fcl_strategy_config *fcl_scenario_strategy_of(const struct fcl_scenario *sc,
							   uint32_t client);

#endif
