/* common/src/scenario_check.c - checks that involve several keys, run after
 * the walk on the nodes it remembered, so errors still name file:line:col */
#include "scenario-private.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define KIND(k) (1u << (k))
#define CLASS_SPLIT_KINDS (KIND(FCL_TASKS_CLASS_INCREMENTAL) | KIND(FCL_TASKS_TASK_INCREMENTAL))
#define BLURRY_KINDS (KIND(FCL_TASKS_I_BLURRY) | KIND(FCL_TASKS_SI_BLURRY))

static uint32_t n_classes(const struct fcl_scenario *sc)
{
	return sc->data.kind == FCL_DATASET_SYNTHETIC ? sc->data.synthetic_classes
						      : sc->data.classes;
}

/* The key that names the data folder, for errors about its files. */
static struct fy_node *path_node(struct ctx *c)
{
	return c->key[S_PATH]      ? c->key[S_PATH]
	       : c->key[S_FORMAT]  ? c->key[S_FORMAT]
	       : c->key[S_DATASET] ? c->key[S_DATASET]
				   : c->val[S_DATA];
}

static int check_data(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	const char *dataset = fcl__scn_text(c->val[S_DATASET]);

	if (!c->key[S_DATASET] && !c->key[S_FORMAT])
		return fcl__scn_fail(c, c->val[S_DATA], NULL, "data.dataset",
				     "required key is missing (got none; or give data.format "
				     "and data.path)");
	if (!c->key[S_DATASET] && !c->key[S_PATH])
		return fcl__scn_fail(c, c->val[S_FORMAT], c->key[S_FORMAT], "data.path",
				     "expected a path with data.format (got none)");
	if (!c->key[S_MEAN] != !c->key[S_STD])
		return fcl__scn_fail(c, c->key[S_MEAN] ? c->key[S_MEAN] : c->key[S_STD], NULL,
				     c->key[S_MEAN] ? "data.std" : "data.mean",
				     "expected data.mean and data.std together (got only %s)",
				     c->key[S_MEAN] ? "data.mean" : "data.std");
	if (sc->data.mean.n != sc->data.std.n && sc->data.mean.n != 1 && sc->data.std.n != 1)
		return fcl__scn_fail(c, c->val[S_STD], c->key[S_STD], "data.std",
				     "expected as many values as data.mean (%u) or one (got %u)",
				     sc->data.mean.n, sc->data.std.n);
	if (c->key[S_SYNTHETIC] && sc->data.kind != FCL_DATASET_SYNTHETIC)
		return fcl__scn_fail(c, c->key[S_SYNTHETIC], NULL, "data.synthetic",
				     "expected only with dataset: synthetic (got dataset: %s)",
				     *dataset ? dataset : "none");
	if (sc->data.kind == FCL_DATASET_SYNTHETIC) {
		static const enum slot file_keys[] = {S_PATH, S_FORMAT, S_DATA_CLASSES, S_LABELS};
		static const char *const names[] = {"data.path", "data.format", "data.classes",
						    "data.labels"};
		for (size_t i = 0; i < 4; i++)
			if (c->key[file_keys[i]])
				return fcl__scn_fail(c, c->key[file_keys[i]], NULL, names[i],
						     "expected none with dataset: synthetic (it "
						     "reads no files; its sizes and classes are "
						     "data.synthetic's)");
		sc->data.path[0] = '\0';
		sc->data.classes = 0;
		return 0;
	}
	if (!c->key[S_PATH] && !strcmp(dataset, "mnist-idx"))
		return fcl__scn_fail(c, c->val[S_DATASET], c->key[S_DATASET], "data.path",
				     "expected a path with dataset: mnist-idx (got none)");
	if (c->key[S_DATASET] && sc->data.format != FCL_FORMAT_IDX)
		return fcl__scn_fail(c, c->val[S_FORMAT], c->key[S_FORMAT], "data.format",
				     "expected idx with dataset: %s, an IDX data set (got %s); "
				     "give data.format without data.dataset for other files",
				     dataset, fcl_data_format_name(sc->data.format));
	if (c->key[S_LABELS] && sc->data.format != FCL_FORMAT_CIFAR100)
		return fcl__scn_fail(c, c->key[S_LABELS], NULL, "data.labels",
				     "expected only with format: cifar100 (got format: %s)",
				     fcl_data_format_name(sc->data.format));
	return 0;
}

static bool file_exists(const char *dir, const char *name, const char *suffix)
{
	char p[FCL_SCENARIO_PATH_MAX + 64];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/%s%s", dir, name, suffix);

	return n > 0 && (size_t)n < sizeof(p) && !stat(p, &st) && S_ISREG(st.st_mode);
}

/* The files each format needs, and the sub-folder of its official archive. */
static const char *const idx_files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
					"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", NULL};
static const char *const cifar10_files[] = {"data_batch_1.bin",
					    "data_batch_2.bin",
					    "data_batch_3.bin",
					    "data_batch_4.bin",
					    "data_batch_5.bin",
					    "test_batch.bin",
					    NULL};
static const char *const cifar100_files[] = {"train.bin", "test.bin", NULL};
static const char *const npy_files[] = {"X_train.npy", "y_train.npy", "X_test.npy", "y_test.npy",
					NULL};

static int check_files(struct ctx *c)
{
	static const char *const *const files[] = {
	    [FCL_FORMAT_IDX] = idx_files,
	    [FCL_FORMAT_CIFAR10] = cifar10_files,
	    [FCL_FORMAT_CIFAR100] = cifar100_files,
	    [FCL_FORMAT_NPY] = npy_files,
	};
	static const char *const subdir[] = {[FCL_FORMAT_CIFAR10] = "/cifar-10-batches-bin",
					     [FCL_FORMAT_CIFAR100] = "/cifar-100-binary",
					     [FCL_FORMAT_NPY] = NULL};
	enum fcl_data_format f = c->sc->data.format;
	const char *dir = c->sc->data.path;
	char sub[FCL_SCENARIO_PATH_MAX + 32];

	if (c->sc->data.kind == FCL_DATASET_SYNTHETIC)
		return 0;
	snprintf(sub, sizeof sub, "%s%s", dir, subdir[f] ? subdir[f] : "");
	for (const char *const *name = files[f]; *name; name++) {
		if (file_exists(dir, *name, "") ||
		    (f == FCL_FORMAT_IDX && file_exists(dir, *name, ".gz")) ||
		    (subdir[f] && file_exists(sub, *name, "")))
			continue;
		return fcl__scn_fail(c, path_node(c), NULL, "data.path",
				     "expected a folder holding %s%s and the other %s files "
				     "(got %s, where it is missing)",
				     *name, f == FCL_FORMAT_IDX ? "[.gz]" : "",
				     f == FCL_FORMAT_IDX ? "IDX" : fcl_data_format_name(f), dir);
	}
	return 0;
}

/* The class count the checks of tasks use: declared, the format's, or (npy)
 * detected from the training labels, which needs the files now. */
static int resolve_classes(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	struct fcl_data_source src = {sc->data.format, sc->data.path, 0, sc->data.coarse};
	char err[640];
	int rc;

	if (sc->data.kind == FCL_DATASET_SYNTHETIC || c->key[S_DATA_CLASSES])
		return 0;
	if (sc->data.format != FCL_FORMAT_NPY) {
		sc->data.classes = sc->data.format == FCL_FORMAT_CIFAR100
				       ? (sc->data.coarse ? 20 : 100)
				       : IDX_CLASSES;
		return 0;
	}
	if ((rc = check_files(c)) != 0)
		return rc;
	if (fcl_dataset_detect_classes(&src, &sc->data.classes, err, sizeof err))
		return fcl__scn_fail(c, path_node(c), NULL, "data.path", "%s", err);
	return 0;
}

static int check_clients(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	enum fcl_partition_kind p = sc->clients.partition;
	const char *pname = fcl__scn_text(c->val[S_PARTITION]);

	if (c->key[S_ALPHA] && p != FCL_PARTITION_DIRICHLET && p != FCL_PARTITION_QUANTITY)
		return fcl__scn_fail(
		    c, c->key[S_ALPHA], NULL, "clients.alpha",
		    "expected only with partition: dirichlet or quantity-skew (got "
		    "partition: %s)",
		    *pname ? pname : "iid");
	if (c->key[S_SHARDS] && p != FCL_PARTITION_SHARDS)
		return fcl__scn_fail(c, c->key[S_SHARDS], NULL, "clients.shards_per_client",
				     "expected only with partition: shards (got partition: %s)",
				     *pname ? pname : "iid");

	if (!c->key[S_PER_ROUND])
		sc->clients.per_round = sc->clients.count;
	else if (sc->clients.per_round > sc->clients.count)
		return fcl__scn_fail(c, c->val[S_PER_ROUND], c->key[S_PER_ROUND],
				     "clients.per_round",
				     "expected at most clients.count = %u (got %u)",
				     sc->clients.count, sc->clients.per_round);
	return 0;
}

/* Keys that only some generators take are errors with the others. */
static int only_with(struct ctx *c, enum slot s, const char *key, unsigned kinds)
{
	char path[KEYPATH_MAX], names[160] = "";
	size_t o = 0;
	unsigned k;

	if (!c->key[s] || (kinds & KIND(c->sc->tasks.kind)))
		return 0;
	for (k = 0; k < 32 && o < sizeof(names); k++)
		if (kinds & KIND(k))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? " or " : "",
					      fcl_task_kind_name((enum fcl_task_kind)k));
	snprintf(path, sizeof(path), "tasks.%s", key);
	return fcl__scn_fail(c, c->key[s], NULL, path,
			     "expected only with generator: %s (got generator: %s)", names,
			     fcl__scn_text(c->val[S_GENERATOR]));
}

static int check_task_count(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->tasks.kind == FCL_TASKS_SINGLE) {
		if (c->key[S_TASK_COUNT] && sc->tasks.count != 1)
			return fcl__scn_fail(
			    c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT], "tasks.count",
			    "expected 1 with generator: single (got %u)", sc->tasks.count);
		sc->tasks.count = 1;
		return 0;
	}
	if (!c->key[S_TASK_COUNT])
		return fcl__scn_fail(c, c->key[S_TASKS], NULL, "tasks.count",
				     "expected a task count with generator: %s (got none)",
				     fcl__scn_text(c->val[S_GENERATOR]));
	return 0;
}

/* Each explicit id is a class, appears once, and the list has count * classes_per_task ids. */
static int check_class_order(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	uint32_t i, want = sc->tasks.count * sc->tasks.classes_per_task;
	bool used[FCL_SCENARIO_MAX_CLASSES] = {false};
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;

	if (!c->key[S_CLASS_ORDER] || !fy_node_is_sequence(c->val[S_CLASS_ORDER]))
		return 0;
	for (i = 0; (item = fy_node_sequence_iterate(c->val[S_CLASS_ORDER], &it)); i++) {
		uint32_t id = sc->tasks.class_order[i];

		snprintf(ipath, sizeof(ipath), "tasks.class_order[%u]", i);
		if (id >= classes)
			return fcl__scn_fail(c, item, c->key[S_CLASS_ORDER], ipath,
					     "expected a class id in 0..%u (got %u)", classes - 1,
					     id);
		if (used[id])
			return fcl__scn_fail(c, item, c->key[S_CLASS_ORDER], ipath,
					     "expected each class once (got %u again)", id);
		used[id] = true;
	}
	if (sc->tasks.n_class_order != want)
		return fcl__scn_fail(c, c->key[S_CLASS_ORDER], NULL, "tasks.class_order",
				     "expected count * classes_per_task = %u class ids (got %u)",
				     want, sc->tasks.n_class_order);
	return 0;
}

static int check_class_split(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	uint64_t want;

	if (!c->key[S_CLASSES_PER_TASK]) {
		sc->tasks.classes_per_task = classes / sc->tasks.count;
		if (!sc->tasks.classes_per_task)
			return fcl__scn_fail(c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT],
					     "tasks.count",
					     "expected at most %u tasks for %u classes (got %u)",
					     classes, classes, sc->tasks.count);
		return 0;
	}
	want = (uint64_t)sc->tasks.classes_per_task * sc->tasks.count;
	if (want > classes)
		return fcl__scn_fail(
		    c, c->val[S_CLASSES_PER_TASK], c->key[S_CLASSES_PER_TASK],
		    "tasks.classes_per_task",
		    "expected classes_per_task * count <= %u classes (got %u * %u = %llu)", classes,
		    sc->tasks.classes_per_task, sc->tasks.count, (unsigned long long)want);
	return 0;
}

/* scole: pool ids are classes, each once; classes_per_task fits in the pool. */
static int check_scole(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	bool used[FCL_SCENARIO_MAX_CLASSES] = {false};
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i, pool;

	if (c->key[S_CLASS_POOL]) {
		for (i = 0; (item = fy_node_sequence_iterate(c->val[S_CLASS_POOL], &it)); i++) {
			uint32_t id = sc->tasks.class_pool[i];

			snprintf(ipath, sizeof(ipath), "tasks.class_pool[%u]", i);
			if (id >= classes)
				return fcl__scn_fail(c, item, c->key[S_CLASS_POOL], ipath,
						     "expected a class id in 0..%u (got %u)",
						     classes - 1, id);
			if (used[id])
				return fcl__scn_fail(c, item, c->key[S_CLASS_POOL], ipath,
						     "expected each class once (got %u again)", id);
			used[id] = true;
		}
	}
	pool = sc->tasks.n_class_pool ? sc->tasks.n_class_pool : classes;
	if (!c->key[S_CLASSES_PER_TASK])
		sc->tasks.classes_per_task = pool < 2 ? pool : 2;
	if (sc->tasks.classes_per_task > pool)
		return fcl__scn_fail(c, c->val[S_CLASSES_PER_TASK], c->key[S_CLASSES_PER_TASK],
				     "tasks.classes_per_task",
				     "expected at most the %u classes of the pool (got %u)", pool,
				     sc->tasks.classes_per_task);
	return 0;
}

static int check_blurry(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->tasks.count > classes)
		return fcl__scn_fail(c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT], "tasks.count",
				     "expected at most %u tasks for %u classes (got %u)", classes,
				     classes, sc->tasks.count);
	sc->tasks.classes_per_task = 0; /* varies per task */
	return 0;
}

static int check_tasks(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	uint32_t classes = n_classes(sc);
	int rc;

	if (sc->data.augment && sc->tasks.kind == FCL_TASKS_PERMUTED)
		return fcl__scn_fail(c, c->val[S_AUGMENT], c->key[S_AUGMENT], "data.augment",
				     "expected none with permuted tasks (crops and flips of "
				     "permuted pixels mean nothing)");

	rc = only_with(c, S_CLASSES_PER_TASK, "classes_per_task",
		       CLASS_SPLIT_KINDS | KIND(FCL_TASKS_SCOLE));
	rc = rc ? rc : only_with(c, S_CLASS_ORDER, "class_order", CLASS_SPLIT_KINDS);
	rc = rc ? rc : only_with(c, S_IDENTITY_FIRST, "identity_first", KIND(FCL_TASKS_PERMUTED));
	rc = rc ? rc : only_with(c, S_DISJOINT, "disjoint_pct", BLURRY_KINDS);
	rc = rc ? rc : only_with(c, S_BLURRY, "blurry_pct", BLURRY_KINDS);
	rc = rc ? rc : only_with(c, S_CLASS_POOL, "class_pool", KIND(FCL_TASKS_SCOLE));
	rc = rc ? rc : check_task_count(c);
	if (rc)
		return rc;
	if (sc->tasks.kind == FCL_TASKS_SCOLE)
		return check_scole(c, classes);
	if (sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY)
		return check_blurry(c, classes);
	if (!(KIND(sc->tasks.kind) & CLASS_SPLIT_KINDS)) {
		sc->tasks.classes_per_task = classes; /* every task sees every class */
		sc->tasks.n_class_order = 0;
		return 0;
	}
	rc = check_class_split(c, classes);
	return rc ? rc : check_class_order(c, classes);
}

static bool segments_overlap(const struct fcl_segment *a, const struct fcl_segment *b)
{
	return a->lo <= b->hi && b->lo <= a->hi && a->start < b->end && b->start < a->end;
}

static int check_segments(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char path[KEYPATH_MAX];
	uint32_t i, j;

	for (i = 0; i < sc->timeline.n_segments; i++) {
		const struct fcl_segment *g = &sc->timeline.segments[i];
		struct fy_node *n = c->seg_node[i];

		snprintf(path, sizeof(path), "timeline.segments[%u].clients", i);
		if (g->hi >= sc->clients.count)
			return fcl__scn_fail(
			    c, fy_node_mapping_lookup_by_string(n, "clients", -1), n, path,
			    "expected client ids below clients.count = %u (got %u-%u)",
			    sc->clients.count, g->lo, g->hi);
		snprintf(path, sizeof(path), "timeline.segments[%u].task", i);
		if (g->task >= sc->tasks.count)
			return fcl__scn_fail(c, fy_node_mapping_lookup_by_string(n, "task", -1), n,
					     path,
					     "expected a task id below tasks.count = %u (got %u)",
					     sc->tasks.count, g->task);
		snprintf(path, sizeof(path), "timeline.segments[%u].end", i);
		if (g->end <= g->start)
			return fcl__scn_fail(c, fy_node_mapping_lookup_by_string(n, "end", -1), n,
					     path, "expected end > start = %u (got %u)", g->start,
					     g->end);
		for (j = 0; j < i; j++) {
			const struct fcl_segment *h = &sc->timeline.segments[j];

			if (!segments_overlap(g, h))
				continue;
			snprintf(path, sizeof(path), "timeline.segments[%u]", i);
			return fcl__scn_fail(
			    c, n, NULL, path,
			    "expected segments of one client not to overlap (got rounds "
			    "%u..%u, overlapping segments[%u], rounds %u..%u, for client %u)",
			    g->start, g->end - 1, j, h->start, h->end - 1,
			    g->lo > h->lo ? g->lo : h->lo);
		}
	}
	return 0;
}

static int check_groups(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char path[KEYPATH_MAX];
	uint32_t i, j;

	for (i = 0; i < sc->timeline.n_groups; i++) {
		const struct fcl_client_group *g = &sc->timeline.groups[i];
		struct fy_node *n = c->grp_node[i], *order;
		uint32_t join = g->join != UINT32_MAX ? g->join : sc->timeline.join;
		uint32_t leave = g->leave != UINT32_MAX ? g->leave : sc->timeline.leave;

		snprintf(path, sizeof(path), "timeline.groups[%u].clients", i);
		if (g->hi >= sc->clients.count)
			return fcl__scn_fail(
			    c, fy_node_mapping_lookup_by_string(n, "clients", -1), n, path,
			    "expected client ids below clients.count = %u (got %u-%u)",
			    sc->clients.count, g->lo, g->hi);
		for (j = 0; j < i; j++) {
			const struct fcl_client_group *h = &sc->timeline.groups[j];
			if (g->lo <= h->hi && h->lo <= g->hi)
				return fcl__scn_fail(
				    c, fy_node_mapping_lookup_by_string(n, "clients", -1), n, path,
				    "expected each client in at most one group (got %u-%u, "
				    "overlapping groups[%u], %u-%u)",
				    g->lo, g->hi, j, h->lo, h->hi);
		}
		order = fy_node_mapping_lookup_by_string(n, "order", -1);
		for (j = 0; g->order == FCL_ORDER_EXPLICIT && j < g->n_order; j++) {
			if (g->order_list[j] < sc->tasks.count)
				continue;
			snprintf(path, sizeof(path), "timeline.groups[%u].order[%u]", i, j);
			return fcl__scn_fail(c, fy_node_sequence_get_by_index(order, (int)j), order,
					     path,
					     "expected a task id below tasks.count = %u (got %u)",
					     sc->tasks.count, g->order_list[j]);
		}
		if (leave && leave <= join) {
			snprintf(path, sizeof(path), "timeline.groups[%u].leave", i);
			return fcl__scn_fail(c, fy_node_mapping_lookup_by_string(n, "leave", -1), n,
					     path, "expected a round after join = %u (got %u)",
					     join, leave);
		}
	}
	return 0;
}

static int check_timeline(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i;
	int rc;

	if (c->key[S_JITTER] && sc->timeline.jitter >= sc->tasks.rounds_per_task)
		return fcl__scn_fail(c, c->val[S_JITTER], c->key[S_JITTER], "timeline.jitter",
				     "expected less than tasks.rounds_per_task = %u (got %u)",
				     sc->tasks.rounds_per_task, sc->timeline.jitter);
	if (c->key[S_LEAVE] && sc->timeline.leave <= sc->timeline.join)
		return fcl__scn_fail(c, c->val[S_LEAVE], c->key[S_LEAVE], "timeline.leave",
				     "expected a round after timeline.join = %u (got %u)",
				     sc->timeline.join, sc->timeline.leave);
	if (c->key[S_SAMPLES_PER_ROUND] && !sc->timeline.online)
		return fcl__scn_fail(c, c->key[S_SAMPLES_PER_ROUND], NULL,
				     "timeline.samples_per_round",
				     "expected only with stream: online (got stream: offline)");
	if (sc->timeline.order == FCL_ORDER_EXPLICIT) {
		for (i = 0; (item = fy_node_sequence_iterate(c->val[S_ORDER], &it)); i++) {
			snprintf(ipath, sizeof(ipath), "timeline.order[%u]", i);
			if (sc->timeline.order_list[i] >= sc->tasks.count)
				return fcl__scn_fail(
				    c, item, c->key[S_ORDER], ipath,
				    "expected a task id below tasks.count = %u (got %u)",
				    sc->tasks.count, sc->timeline.order_list[i]);
		}
	}
	rc = check_segments(c);
	return rc ? rc : check_groups(c);
}

static int check_recurrence(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->recurrence.kind != FCL_RECURRENCE_NONE && sc->tasks.kind == FCL_TASKS_PERMUTED)
		return fcl__scn_fail(c, c->key[S_RECURRENCE], NULL, "recurrence.kind",
				     "expected a generator that splits classes, not permuted (got "
				     "generator: %s)",
				     fcl__scn_text(c->val[S_GENERATOR]));
	return 0;
}

static int check_strategy(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->train.mask_unexposed < 0)
		sc->train.mask_unexposed = sc->train.online;
	/* The loop iterates the samples the timeline hands out: an online loop
	 * over offline data would replay the whole task every round. */
	if (sc->train.online && !sc->timeline.online)
		return fcl__scn_fail(
		    c, c->val[S_TRAIN_MODE], c->key[S_TRAIN_MODE], "train.mode",
		    "expected timeline.stream: online with train.mode: online (got "
		    "an offline timeline)");
	return fcl__scn_strategy_groups(c);
}

/* A rollback goes back to a checkpoint: there must be some. */
static int check_run(struct ctx *c)
{
	if (c->sc->run.on_client_loss == FCL_LOSS_ROLLBACK && fcl_scenario_timed(c->sc))
		return fcl__scn_fail(c, c->val[S_CLIENT_LOSS], c->key[S_CLIENT_LOSS],
				     "run.on_client_loss",
				     "expected quorum with a devices section (simulated time "
				     "writes no checkpoints to roll back to)");
	if (c->sc->run.on_client_loss == FCL_LOSS_ROLLBACK && !fcl_scenario_checkpoints(c->sc))
		return fcl__scn_fail(c, c->val[S_CLIENT_LOSS], c->key[S_CLIENT_LOSS],
				     "run.on_client_loss",
				     "expected checkpoints with rollback (got run.checkpoint with "
				     "every_rounds: 0, task_ends: false, every_minutes: 0)");
	return 0;
}

int fcl__scn_check(struct ctx *c)
{
	int rc = check_data(c);
	rc = rc ? rc : check_clients(c);
	rc = rc ? rc : resolve_classes(c);
	rc = rc ? rc : fcl__scn_check_model(c);
	rc = rc ? rc : check_tasks(c);
	rc = rc ? rc : check_timeline(c);
	rc = rc ? rc : check_recurrence(c);
	rc = rc ? rc : check_strategy(c);
	rc = rc ? rc : fcl__scn_check_time(c);
	rc = rc ? rc : check_run(c);
	return rc ? rc : check_files(c);
}
