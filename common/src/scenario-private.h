/* common/src/scenario-private.h - what the scenario parser's files share
 *
 *   scenario_yaml.c    the document: positions, errors, the mapping walker
 *   scenario_method.c  method sections: aggregation (rule) and strategy, whose keys
 *                      the chosen method declares (fcl/schema.h)
 *   scenario_values.c  value handlers: scalars, lists, client ranges, segments, groups
 *   scenario_schema.c  the key tables of the sections, and the defaults
 *   scenario_check.c   checks that involve several keys, after the walk
 *   scenario_time.c    simulated time: the devices section, aggregation.mode and its keys
 *   scenario.c         the public API
 *
 * The document is walked with one table per mapping: each known key names a
 * small handler for its value type and where the value goes. Checks across
 * keys run after the walk, using the nodes the walk remembered (slots) so
 * that errors still point at file:line:col.
 */
#ifndef FCL_SCENARIO_PRIVATE_H
#define FCL_SCENARIO_PRIVATE_H
#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fcl/scenario.h"
#include "fcl/schema.h"

#define DEFAULT_FASHION_PATH "/usr/share/datasets/fashion-mnist"
#define IDX_CLASSES 10u
#define KEYPATH_MAX 160
#define GOT_MAX 64

/* Keys whose nodes the checks after the walk need. */
enum slot {
	S_NONE,
	S_DATASET,
	S_PATH,
	S_SYNTHETIC,
	S_DATA,
	S_FORMAT,
	S_DATA_CLASSES,
	S_LABELS,
	S_MEAN,
	S_AUGMENT,
	S_STD,
	S_PER_ROUND,
	S_TASKS,
	S_GENERATOR,
	S_TASK_COUNT,
	S_CLASSES_PER_TASK,
	S_CLASS_ORDER,
	S_IDENTITY_FIRST,
	S_PARTITION,
	S_ALPHA,
	S_SHARDS,
	S_DISJOINT,
	S_BLURRY,
	S_CLASS_POOL,
	S_ROUNDS_PER_TASK,
	S_ORDER,
	S_JITTER,
	S_LEAVE,
	S_STREAM,
	S_SAMPLES_PER_ROUND,
	S_SEGMENTS,
	S_RECURRENCE,
	S_STRATEGY,
	S_GROUPS,
	S_TRAIN_MODE,
	S_DEVICES,
	S_SECONDS_PER_TASK,
	S_MODE,
	S_DEADLINE,
	S_STRAGGLERS,
	S_OVER_SELECTION,
	S_ASYNC,
	S_STALENESS,
	S_LOCAL_MODELS,
	S_CHECKPOINT,
	S_CLIENT_LOSS,
	S_HIDDEN,
	S_PRESET,
	S_LAYERS,
	S_HEADS,
	S_BATCHNORM,
	S_COUNT_
};

struct ctx {
	struct fcl_scenario *sc;
	const char *file;
	const char *base_dir; /* relative data paths resolve here; NULL keeps them */
	char *err;
	size_t errlen;
	int root_line, root_col; /* where the root node starts (1-based) */
	size_t root_off;         /* ... and its byte offset (the text length when blank) */
	struct fy_node *key[S_COUNT_], *val[S_COUNT_];
	struct fy_node *seg_node[FCL_SCENARIO_MAX_SEGMENTS];      /* timeline.segments items */
	struct fy_node *grp_node[FCL_SCENARIO_MAX_GROUPS];        /* timeline.groups items */
	struct fy_node *dev_node[FCL_SCENARIO_MAX_DEVICE_GROUPS]; /* devices.groups items */
	uint32_t group_first, group_last; /* strategy.groups[i].clients being parsed */
	void *params; /* where a method's keys go (its params struct) while walking them */
	const char *method;      /* the method of the section being walked ("fedavg") ... */
	const char *selector;    /* ... and its selector key ("rule", "name") */
	struct fy_node *top_map; /* strategy: the top-level mapping, for its groups' methods */
};

struct field;
typedef int (*value_fn)(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);

struct field {
	const char *key;
	value_fn fn;
	size_t off;                           /* where the value goes in struct fcl_scenario ... */
	bool in_params;                       /* ... or in c->params (a method's key) */
	uint64_t lo, hi;                      /* integers: inclusive range */
	double flo, fhi;                      /* numbers: range ... */
	bool flo_open, fhi_open;              /* ... with open ends */
	const struct fcl_key_choice *choices; /* enumerations, NULL-terminated */
	const struct field *sub;              /* nested mapping */
	const struct fcl_key *keys;           /* a method's nested section */
	bool required;
	enum slot slot;
};

/* ---- scenario_yaml.c ------------------------------------------------------ */

/* Reports at node `at`, else at `alt` (when `at` has no position), else at
 * the root: "file:line:col: path: what". Returns -EINVAL. */
int fcl__scn_fail(struct ctx *c, struct fy_node *at, struct fy_node *alt, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int fcl__scn_fail_pos(struct ctx *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
bool fcl__scn_is_null(struct fy_node *n);
/* The 1-based line and column of a node (0, or -1 when it has none). */
int fcl__scn_node_pos(struct fy_node *n, int *line, int *col);
/* Describes a node for the "(got ...)" part of a message. */
const char *fcl__scn_got(struct fy_node *n, char *buf, size_t size);
/* A scalar's text, or "" for anything else. */
const char *fcl__scn_text(struct fy_node *n);
void fcl__scn_join_path(char *out, size_t size, const char *parent, const char *key);
/* The NUL-terminated text of a scalar value; reports anything else. */
int fcl__scn_want_scalar(struct ctx *c, struct fy_node *key, struct fy_node *val, const char *path,
			 const char *what, bool plain, const char **out);
void *fcl__scn_dest(struct ctx *c, const struct field *f);
/* Walks one mapping against its table; owner is its key (NULL for the root). */
int fcl__scn_walk_map(struct ctx *c, const struct field *tab, struct fy_node *map, const char *path,
		      struct fy_node *owner);
/* A key the method section's table does not hold (method sections): another
 * method's block or key. Returns 0 or -EINVAL (reported), or 1 when name is
 * nothing of the kind (then it is an unknown key). */
typedef int (*fcl__scn_foreign_fn)(struct ctx *c, struct fy_node *key, struct fy_node *val,
				   const char *path, const char *name);
/* walk_map where a key the table does not hold goes to foreign(). */
int fcl__scn_walk_map_ex(struct ctx *c, const struct field *tab, struct fy_node *map,
			 const char *path, struct fy_node *owner, fcl__scn_foreign_fn foreign);
int fcl__scn_get_section(struct ctx *c, const struct field *f, struct fy_node *key,
			 struct fy_node *val, const char *path);

/* ---- scenario_values.c ---------------------------------------------------- */

int fcl__scn_get_u32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path);
int fcl__scn_get_u64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path);
int fcl__scn_get_f32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path);
/* A list of 1..FCL_SCENARIO_MAX_CHANNELS numbers in the field's range into a
 * struct fcl_channel_values. */
int fcl__scn_get_channel_values(struct ctx *c, const struct field *f, struct fy_node *key,
				struct fy_node *val, const char *path);
int fcl__scn_get_f64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path);
int fcl__scn_get_bool(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path);
int fcl__scn_get_choice(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);
int fcl__scn_get_name(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path);
int fcl__scn_get_path(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path);
int fcl__scn_get_hidden(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);
int fcl__scn_get_class_order(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path);
int fcl__scn_get_class_pool(struct ctx *c, const struct field *f, struct fy_node *key,
			    struct fy_node *val, const char *path);
int fcl__scn_get_order(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path);
int fcl__scn_get_group_order(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path);
int fcl__scn_get_client_range(struct ctx *c, const struct field *f, struct fy_node *key,
			      struct fy_node *val, const char *path);
int fcl__scn_get_segments(struct ctx *c, const struct field *f, struct fy_node *key,
			  struct fy_node *val, const char *path);
int fcl__scn_get_groups(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);
int fcl__scn_get_group_clients(struct ctx *c, const struct field *f, struct fy_node *key,
			       struct fy_node *val, const char *path);
/* A list of mappings, each walked against f->sub into a "current item" that
 * keep() then files; begin() resets the current item before each. */
struct map_list {
	const char *what;      /* the list, for messages: "{clients, task, start, end}" */
	const char *item_what; /* one item, for messages */
	const char *plural;    /* "segments" */
	uint32_t max;
	void (*begin)(struct ctx *c);
	void (*keep)(struct ctx *c, uint32_t i, struct fy_node *item);
};
int fcl__scn_walk_list(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path, const struct map_list *l,
		       uint32_t *n);
/* An integer item of a list, with its own key path "path[i]". */
int fcl__scn_get_item(struct ctx *c, struct fy_node *key, struct fy_node *item, const char *path,
		      uint32_t i, uint64_t lo, uint64_t hi, uint32_t *out);

/* ---- scenario_model.c ----------------------------------------------------- */

/* model.preset: a name; model.layers: a list of {type, ...}. */
int fcl__scn_get_preset(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);
int fcl__scn_get_layers(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);
/* model.hidden, model.preset and model.layers together; after the walk. */
int fcl__scn_check_model(struct ctx *c);

/* ---- scenario_method.c ---------------------------------------------------- */

/* aggregation: {rule: NAME, ...the rule's keys} */
int fcl__scn_get_rule_section(struct ctx *c, const struct field *f, struct fy_node *key,
			      struct fy_node *val, const char *path);
/* strategy: {name: NAME, memory, wa, groups, ...the strategy's keys} */
int fcl__scn_get_strategy_section(struct ctx *c, const struct field *f, struct fy_node *key,
				  struct fy_node *val, const char *path);
/* strategy.groups, after the walk: each group inherits the top-level settings;
 * checks every strategy against the scenario. */
int fcl__scn_strategy_groups(struct ctx *c);
/* Checks key k's value into a scratch copy of its method's params. */
int fcl__scn_walk_foreign(struct ctx *c, const struct fcl_key *k, struct fy_node *key,
			  struct fy_node *val, const char *path);
/* Sets the rule with its defaults. */
void fcl__scn_choose_rule(struct fcl_scenario *sc, const struct fcl_rule *rule);

/* ---- scenario_time.c ------------------------------------------------------ */

/* devices: {speed, up, down, latency, availability, groups} */
int fcl__scn_get_devices(struct ctx *c, const struct field *f, struct fy_node *key,
			 struct fy_node *val, const char *path);
/* aggregation's own keys of simulated time, after rule */
extern const struct field fcl__scn_time_aggregation_fields[];
#define FCL__SCN_TIME_AGGREGATION_KEYS 6
void fcl__scn_time_defaults(struct fcl_scenario *sc);
/* The checks of simulated time across sections, after the walk. */
int fcl__scn_check_time(struct ctx *c);

/* ---- scenario_yaml.c: the document ---------------------------------------- */

int fcl__scn_parse_text(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
			const char *base_dir, char *err, size_t errlen);

/* ---- scenario_schema.c and scenario_check.c -------------------------------- */

extern const struct field fcl__scn_top_fields[];
/* Every check across keys, after the walk. */
int fcl__scn_check(struct ctx *c);

#endif
