/* common/src/scenario_schema.c - the scenario's sections and keys, and their defaults
 *
 * One table per mapping; each entry names its key, the handler for its value
 * type (scenario_values.c), where the value goes and its range. The keys of
 * aggregation rules and client strategies are declared by each method in its
 * own file (fcl/schema.h), not here. docs/scenarios.md describes every key.
 */
#include "scenario-private.h"

#include "fcl/rule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(enum fcl_dataset_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_partition_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_task_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_order_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_recurrence_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_client_loss) == sizeof(int), "enums are stored as int");

#define OFF(m) offsetof(struct fcl_scenario, m)
#define U32(k, m, l, h, req, s)                                                                    \
	{                                                                                          \
		.key = (k), .fn = fcl__scn_get_u32, .off = OFF(m), .lo = (l), .hi = (h),           \
		.required = (req), .slot = (s)                                                     \
	}
#define NUM(fn_, k, m, l, lopen, h, hopen)                                                         \
	{                                                                                          \
		.key = (k), .fn = (fn_), .off = OFF(m), .flo = (l), .flo_open = (lopen),           \
		.fhi = (h), .fhi_open = (hopen)                                                    \
	}
#define CHOICE(k, m, tab, req, s)                                                                  \
	{                                                                                          \
		.key = (k), .fn = fcl__scn_get_choice, .off = OFF(m), .choices = (tab),            \
		.required = (req), .slot = (s)                                                     \
	}
#define SECTION(k, tab, req, s)                                                                    \
	{                                                                                          \
		.key = (k), .fn = fcl__scn_get_section, .sub = (tab), .required = (req),           \
		.slot = (s)                                                                        \
	}

static const struct fcl_key_choice datasets[] = {
    {"fashion-mnist", FCL_DATASET_IDX},
    {"mnist-idx", FCL_DATASET_IDX},
    {"synthetic", FCL_DATASET_SYNTHETIC},
    {NULL, 0},
};
static const struct fcl_key_choice formats[] = {
    {"idx", FCL_FORMAT_IDX},
    {"cifar10", FCL_FORMAT_CIFAR10},
    {"cifar100", FCL_FORMAT_CIFAR100},
    {"npy", FCL_FORMAT_NPY},
    {NULL, 0},
};
static const struct fcl_key_choice augmentations[] = {{"none", 0}, {"crop-flip", 1}, {NULL, 0}};
static const struct fcl_key_choice label_kinds[] = {{"fine", 0}, {"coarse", 1}, {NULL, 0}};
static const struct fcl_key_choice partitions[] = {
    {"iid", FCL_PARTITION_IID},
    {"dirichlet", FCL_PARTITION_DIRICHLET},
    {"shards", FCL_PARTITION_SHARDS},
    {"quantity-skew", FCL_PARTITION_QUANTITY},
    {NULL, 0},
};
static const struct fcl_key_choice generators[] = {
    {"single", FCL_TASKS_SINGLE},
    {"class-incremental", FCL_TASKS_CLASS_INCREMENTAL},
    {"permuted", FCL_TASKS_PERMUTED},
    {"domain-incremental", FCL_TASKS_PERMUTED},
    {"task-incremental", FCL_TASKS_TASK_INCREMENTAL},
    {"i-blurry", FCL_TASKS_I_BLURRY},
    {"si-blurry", FCL_TASKS_SI_BLURRY},
    {"scole", FCL_TASKS_SCOLE},
    {NULL, 0},
};
static const struct fcl_key_choice head_kinds[] = {{"single", 0}, {"per-task", 1}, {NULL, 0}};
static const struct fcl_key_choice bn_policies[] = {{"fedavg", 0}, {"local", 1}, {NULL, 0}};
static const struct fcl_key_choice streams[] = {{"offline", 0}, {"online", 1}, {NULL, 0}};
static const struct fcl_key_choice recurrence_kinds[] = {
    {"none", FCL_RECURRENCE_NONE},
    {"power-law", FCL_RECURRENCE_POWER_LAW},
    {NULL, 0},
};
static const struct fcl_key_choice lag_origins[] = {{"last-seen", 0}, {"introduced", 1}, {NULL, 0}};
static const struct fcl_key_choice train_modes[] = {{"offline", 0}, {"online", 1}, {NULL, 0}};
static const struct fcl_key_choice client_losses[] = {
    {"quorum", FCL_LOSS_QUORUM},
    {"rollback", FCL_LOSS_ROLLBACK},
    {NULL, 0},
};
static const struct field synthetic_fields[] = {
    U32("train", data.synthetic_train, 1, 10000000, false, S_NONE),
    U32("test", data.synthetic_test, 1, 10000000, false, S_NONE),
    U32("dim", data.synthetic_dim, 1, 1048576, false, S_NONE),
    U32("classes", data.synthetic_classes, 2, FCL_SCENARIO_MAX_CLASSES, false, S_NONE),
    {0},
};
static const struct field data_fields[] = {
    CHOICE("dataset", data.kind, datasets, false, S_DATASET),
    CHOICE("format", data.format, formats, false, S_FORMAT),
    {.key = "path", .fn = fcl__scn_get_path, .slot = S_PATH},
    U32("classes", data.classes, 2, FCL_SCENARIO_MAX_CLASSES, false, S_DATA_CLASSES),
    CHOICE("labels", data.coarse, label_kinds, false, S_LABELS),
    {.key = "mean",
     .fn = fcl__scn_get_channel_values,
     .off = OFF(data.mean),
     .flo = -HUGE_VAL,
     .fhi = HUGE_VAL,
     .slot = S_MEAN},
    {.key = "std",
     .fn = fcl__scn_get_channel_values,
     .off = OFF(data.std),
     .flo = 0,
     .flo_open = true,
     .fhi = HUGE_VAL,
     .slot = S_STD},
    CHOICE("augment", data.augment, augmentations, false, S_AUGMENT),
    U32("train_limit", data.train_limit, 0, UINT32_MAX, false, S_NONE),
    U32("test_limit", data.test_limit, 0, UINT32_MAX, false, S_NONE),
    SECTION("synthetic", synthetic_fields, false, S_SYNTHETIC),
    {0},
};
static const struct field model_fields[] = {
    {.key = "hidden", .fn = fcl__scn_get_hidden, .slot = S_HIDDEN},
    {.key = "preset", .fn = fcl__scn_get_preset, .slot = S_PRESET},
    {.key = "layers", .fn = fcl__scn_get_layers, .slot = S_LAYERS},
    CHOICE("heads", model.heads, head_kinds, false, S_HEADS),
    {.key = "head_bias", .fn = fcl__scn_get_bool, .off = OFF(model.head_bias)},
    CHOICE("batchnorm", model.batchnorm, bn_policies, false, S_BATCHNORM),
    {0},
};
static const struct field clients_fields[] = {
    U32("count", clients.count, 1, 10000000, true, S_NONE),
    CHOICE("partition", clients.partition, partitions, false, S_PARTITION),
    U32("per_round", clients.per_round, 1, 100000, false, S_PER_ROUND),
    {.key = "alpha",
     .fn = fcl__scn_get_f64,
     .off = OFF(clients.alpha),
     .flo = 0,
     .flo_open = true,
     .fhi = 1e6,
     .slot = S_ALPHA},
    U32("shards_per_client", clients.shards_per_client, 1, 100000, false, S_SHARDS),
    {0},
};
static const struct field tasks_fields[] = {
    CHOICE("generator", tasks.kind, generators, true, S_GENERATOR),
    U32("count", tasks.count, 1, 100000, false, S_TASK_COUNT),
    U32("classes_per_task", tasks.classes_per_task, 1, FCL_SCENARIO_MAX_CLASSES, false,
	S_CLASSES_PER_TASK),
    {.key = "class_order", .fn = fcl__scn_get_class_order, .slot = S_CLASS_ORDER},
    U32("rounds_per_task", tasks.rounds_per_task, 1, 1000000, false, S_ROUNDS_PER_TASK),
    {.key = "identity_first",
     .fn = fcl__scn_get_bool,
     .off = OFF(tasks.identity_first),
     .slot = S_IDENTITY_FIRST},
    U32("disjoint_pct", tasks.disjoint_pct, 0, 100, false, S_DISJOINT),
    U32("blurry_pct", tasks.blurry_pct, 0, 100, false, S_BLURRY),
    {.key = "class_pool", .fn = fcl__scn_get_class_pool, .slot = S_CLASS_POOL},
    {.key = "seconds_per_task",
     .fn = fcl__scn_get_f64,
     .off = OFF(tasks.seconds_per_task),
     .flo = 0,
     .flo_open = true,
     .fhi = 1e12,
     .slot = S_SECONDS_PER_TASK},
    {0},
};
static const struct field segment_fields[] = {
    {.key = "clients",
     .fn = fcl__scn_get_client_range,
     .off = OFF(timeline.cur.lo),
     .required = true},
    U32("task", timeline.cur.task, 0, 99999, true, S_NONE),
    U32("start", timeline.cur.start, 0, 100000000, true, S_NONE),
    U32("end", timeline.cur.end, 1, 100000000, true, S_NONE),
    {0},
};
static const struct field group_fields[] = {
    {.key = "clients",
     .fn = fcl__scn_get_client_range,
     .off = OFF(timeline.gcur.lo),
     .required = true},
    {.key = "order", .fn = fcl__scn_get_group_order},
    U32("offset", timeline.gcur.offset, 0, 1000000, false, S_NONE),
    U32("join", timeline.gcur.join, 0, 100000000, false, S_NONE),
    U32("leave", timeline.gcur.leave, 1, 100000000, false, S_NONE),
    NUM(fcl__scn_get_f64, "participation", timeline.gcur.participation, 0, true, 1, false),
    {0},
};
static const struct field timeline_fields[] = {
    {.key = "order", .fn = fcl__scn_get_order, .slot = S_ORDER},
    U32("offset", timeline.offset, 0, 1000000, false, S_NONE),
    U32("jitter", timeline.jitter, 0, 1000000, false, S_JITTER),
    U32("join", timeline.join, 0, 100000000, false, S_NONE),
    U32("leave", timeline.leave, 1, 100000000, false, S_LEAVE),
    NUM(fcl__scn_get_f64, "participation", timeline.participation, 0, true, 1, false),
    CHOICE("stream", timeline.online, streams, false, S_STREAM),
    U32("samples_per_round", timeline.samples_per_round, 1, 10000000, false, S_SAMPLES_PER_ROUND),
    {.key = "segments", .fn = fcl__scn_get_segments, .sub = segment_fields, .slot = S_SEGMENTS},
    {.key = "groups", .fn = fcl__scn_get_groups, .sub = group_fields},
    {0},
};
static const struct field recurrence_fields[] = {
    CHOICE("kind", recurrence.kind, recurrence_kinds, true, S_NONE),
    NUM(fcl__scn_get_f64, "exponent", recurrence.exponent, 0, true, 100, false),
    NUM(fcl__scn_get_f64, "offset", recurrence.offset, 0, false, 1e6, false),
    CHOICE("lag_from", recurrence.lag_from_introduction, lag_origins, false, S_NONE),
    NUM(fcl__scn_get_f64, "budget", recurrence.budget, 0, true, 1, false),
    {0},
};
static const struct field train_fields[] = {
    U32("local_epochs", train.local_epochs, 1, 10000, false, S_NONE),
    U32("batch_size", train.batch_size, 1, 4096, false, S_NONE),
    NUM(fcl__scn_get_f32, "lr", train.lr, 0, true, HUGE_VAL, false),
    NUM(fcl__scn_get_f32, "momentum", train.momentum, 0, false, 1, true),
    NUM(fcl__scn_get_f32, "weight_decay", train.weight_decay, 0, false, HUGE_VAL, false),
    CHOICE("mode", train.online, train_modes, false, S_TRAIN_MODE),
    U32("stream_batch", train.stream_batch, 1, 4096, false, S_NONE),
    U32("replay_batch", train.replay_batch, 0, 4096, false, S_NONE),
    U32("online_iter", train.online_iter, 1, 1000, false, S_NONE),
    {.key = "mask_unexposed", .fn = fcl__scn_get_bool, .off = OFF(train.mask_unexposed)},
    {0},
};
static const struct field evaluation_fields[] = {
    U32("every_rounds", eval.every_rounds, 0, UINT32_MAX, false, S_NONE),
    {.key = "per_class", .fn = fcl__scn_get_bool, .off = OFF(eval.per_class)},
    {.key = "local_models",
     .fn = fcl__scn_get_bool,
     .off = OFF(eval.local_models),
     .slot = S_LOCAL_MODELS},
    {0},
};
static const struct field checkpoint_fields[] = {
    U32("every_rounds", run.checkpoint.every_rounds, 0, UINT32_MAX, false, S_NONE),
    {.key = "task_ends", .fn = fcl__scn_get_bool, .off = OFF(run.checkpoint.task_ends)},
    NUM(fcl__scn_get_f64, "every_minutes", run.checkpoint.every_minutes, 0, false, 1e6, false),
    {0},
};
static const struct field limits_fields[] = {
    {.key = "memory_mb", .fn = fcl__scn_get_u64, .off = OFF(run.limits.memory_mb), .lo = 1,
     .hi = UINT64_MAX / 2},
    {.key = "disk_mb", .fn = fcl__scn_get_u64, .off = OFF(run.limits.disk_mb), .lo = 1,
     .hi = UINT64_MAX / 2},
    {.key = "rounds", .fn = fcl__scn_get_u64, .off = OFF(run.limits.rounds), .lo = 1,
     .hi = UINT32_MAX - 1},
    {0},
};
static const struct fcl_key_choice export_kinds[] = {
    {"final", FCL_EXPORT_FINAL},
    {"task-ends", FCL_EXPORT_TASK_ENDS},
    {"none", FCL_EXPORT_NONE},
    {NULL, 0},
};
static const struct field run_fields[] = {
    NUM(fcl__scn_get_f64, "round_timeout", run.round_timeout_s, 0, true, HUGE_VAL, false),
    NUM(fcl__scn_get_f64, "quorum", run.quorum, 0, true, 1, false),
    NUM(fcl__scn_get_f64, "join_timeout", run.join_timeout_s, 0, true, HUGE_VAL, false),
    SECTION("checkpoint", checkpoint_fields, false, S_CHECKPOINT),
    CHOICE("on_client_loss", run.on_client_loss, client_losses, false, S_CLIENT_LOSS),
    SECTION("limits", limits_fields, false, S_NONE),
    CHOICE("export", run.export_models, export_kinds, false, S_NONE),
    {0},
};
const struct field fcl__scn_top_fields[] = {
    {.key = "name", .fn = fcl__scn_get_name},
    {.key = "seed", .fn = fcl__scn_get_u64, .off = OFF(seed), .lo = 0, .hi = UINT64_MAX},
    SECTION("data", data_fields, true, S_DATA),
    SECTION("model", model_fields, false, S_NONE),
    SECTION("clients", clients_fields, true, S_NONE),
    SECTION("tasks", tasks_fields, true, S_TASKS),
    SECTION("train", train_fields, false, S_NONE),
    {.key = "strategy", .fn = fcl__scn_get_strategy_section, .slot = S_STRATEGY},
    {.key = "aggregation", .fn = fcl__scn_get_rule_section},
    SECTION("evaluation", evaluation_fields, false, S_NONE),
    SECTION("run", run_fields, false, S_NONE),
    SECTION("timeline", timeline_fields, false, S_NONE),
    SECTION("recurrence", recurrence_fields, false, S_RECURRENCE),
    {.key = "devices", .fn = fcl__scn_get_devices, .slot = S_DEVICES},
    {0},
};

void fcl_scenario_defaults(struct fcl_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "scenario");
	sc->seed = 1;
	sc->data.kind = FCL_DATASET_IDX;
	snprintf(sc->data.path, sizeof(sc->data.path), "%s", DEFAULT_FASHION_PATH);
	sc->data.synthetic_train = 2000;
	sc->data.synthetic_test = 500;
	sc->data.synthetic_dim = 32;
	sc->data.synthetic_classes = 10;
	sc->data.classes = IDX_CLASSES;
	sc->model.n_hidden = 2;
	sc->model.hidden[0] = 256;
	sc->model.hidden[1] = 128;
	sc->clients.count = 1;
	sc->clients.partition = FCL_PARTITION_IID;
	sc->clients.per_round = 1;
	sc->tasks.kind = FCL_TASKS_SINGLE;
	sc->tasks.count = 1;
	sc->tasks.classes_per_task = IDX_CLASSES;
	sc->tasks.rounds_per_task = 5;
	sc->tasks.identity_first = 1;
	sc->train.local_epochs = 1;
	sc->train.batch_size = 32;
	sc->train.lr = 0.05f;
	sc->train.stream_batch = 10;
	sc->train.replay_batch = 10;
	sc->train.online_iter = 1;
	sc->train.mask_unexposed = -1; /* unset: follows train.mode */
	sc->model.head_bias = 1;
	sc->model.preset = FCL_PRESET_MLP;
	sc->model.heads = -1;
	fcl_strategy_config_defaults(&sc->strategy);
	fcl__scn_choose_rule(sc, fcl_rule_find("fedavg"));
	sc->eval.per_class = 1;
	sc->run.round_timeout_s = 120;
	sc->run.quorum = 1.0;
	sc->run.limits.memory_mb = 8192;
	sc->run.limits.disk_mb = 1024;
	sc->run.limits.rounds = 10000000;
	sc->run.join_timeout_s = 60;
	sc->run.checkpoint.task_ends = 1;
	sc->run.checkpoint.every_minutes = 10;
	sc->run.on_client_loss = FCL_LOSS_QUORUM;
	sc->clients.alpha = 0.5;
	sc->clients.shards_per_client = 2;
	sc->tasks.disjoint_pct = 50;
	sc->tasks.blurry_pct = 10;
	sc->timeline.participation = 1.0;
	sc->recurrence.exponent = 1.5;
	sc->recurrence.offset = 1.0;
	sc->recurrence.budget = 0.2;
	fcl__scn_time_defaults(sc);
}
