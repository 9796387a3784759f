/* tests/test_scenario.c - the strict YAML scenario parser
 *
 * Usage: test_scenario BAD_DIR
 * Besides fixed cases, every BAD_DIR/NAME.yaml is a malformed scenario whose
 * first two lines say what the error must hold:
 *   # expect: <substring of the message>
 *   # at: LINE:COL
 * and the message must start with "<file>:LINE:COL: ".
 */
#include "fcl/override.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schema.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_BAD_CASES 22
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static const char good_yaml[] = "# a scenario using every key\n"
				"name: quickstart\n"
				"seed: 42\n"
				"data:\n"
				"  dataset: synthetic\n"
				"  train_limit: 100\n"
				"  test_limit: 50\n"
				"  synthetic: {train: 300, test: 100, dim: 16, classes: 6}\n"
				"model:\n"
				"  hidden: [64, 32, 16]\n"
				"clients:\n"
				"  count: 8\n"
				"  partition: iid\n"
				"  per_round: 4\n"
				"tasks:\n"
				"  generator: class-incremental\n"
				"  count: 3\n"
				"  classes_per_task: 2\n"
				"  class_order: [5, 4, 3, 2, 1, 0]\n"
				"  rounds_per_task: 7\n"
				"train:\n"
				"  local_epochs: 2\n"
				"  batch_size: 64\n"
				"  lr: 0.1\n"
				"  momentum: 0.9\n"
				"  weight_decay: 1e-4\n"
				"aggregation:\n"
				"  rule: fedavg\n"
				"  weighting: uniform\n"
				"evaluation:\n"
				"  every_rounds: 3\n"
				"  per_class: false\n"
				"  local_models: true\n"
				"run:\n"
				"  round_timeout: 30.5\n"
				"  quorum: 0.75\n"
				"  join_timeout: 10\n";

static int near(float a, float b, float eps)
{
	return a - b < eps && b - a < eps;
}

static int parse_str(struct fcl_scenario *sc, const char *text, char *err, size_t errlen)
{
	return fcl_scenario_parse(sc, text, strlen(text), "<inline>", err, errlen);
}

static void test_good(void)
{
	struct fcl_scenario sc;
	char err[512];
	int rc = parse_str(&sc, good_yaml, err, sizeof(err));

	REQUIRE(rc == 0, "good scenario parses (%s)", rc ? err : "ok");
	CHECK(!strcmp(sc.name, "quickstart"), "name");
	CHECK(sc.seed == 42, "seed");
	CHECK(sc.data.kind == FCL_DATASET_SYNTHETIC, "data.dataset");
	CHECK(sc.data.path[0] == '\0', "no path for synthetic data");
	CHECK(sc.data.train_limit == 100 && sc.data.test_limit == 50, "data limits");
	CHECK(sc.data.synthetic_train == 300 && sc.data.synthetic_test == 100 &&
		  sc.data.synthetic_dim == 16 && sc.data.synthetic_classes == 6,
	      "data.synthetic");
	CHECK(sc.model.n_hidden == 3 && sc.model.hidden[0] == 64 && sc.model.hidden[1] == 32 &&
		  sc.model.hidden[2] == 16,
	      "model.hidden");
	CHECK(sc.clients.count == 8 && sc.clients.per_round == 4 &&
		  sc.clients.partition == FCL_PARTITION_IID,
	      "clients");
	CHECK(sc.tasks.kind == FCL_TASKS_CLASS_INCREMENTAL && sc.tasks.count == 3 &&
		  sc.tasks.classes_per_task == 2 && sc.tasks.rounds_per_task == 7,
	      "tasks");
	CHECK(sc.tasks.n_class_order == 6 && sc.tasks.class_order[0] == 5 &&
		  sc.tasks.class_order[5] == 0,
	      "tasks.class_order");
	CHECK(sc.train.local_epochs == 2 && sc.train.batch_size == 64, "train integers");
	CHECK(near(sc.train.lr, 0.1f, 1e-7f) && near(sc.train.momentum, 0.9f, 1e-7f) &&
		  near(sc.train.weight_decay, 1e-4f, 1e-10f),
	      "train numbers");
	CHECK(sc.aggregation.rule == fcl_rule_find("fedavg") &&
		  fcl_keys_get(sc.aggregation.rule->keys, sc.aggregation.params, "weighting") == 0,
	      "aggregation");
	CHECK(sc.eval.every_rounds == 3, "evaluation.every_rounds");
	CHECK(sc.eval.per_class == 0 && sc.eval.local_models == 1,
	      "evaluation.per_class and local_models");
	CHECK(sc.run.round_timeout_s == 30.5 && sc.run.quorum == 0.75 &&
		  sc.run.join_timeout_s == 10.0,
	      "run");
}

static void test_defaults(void)
{
	static const char minimal[] = "data: {dataset: synthetic}\n"
				      "clients: {count: 3}\n"
				      "tasks: {generator: single}\n";
	struct fcl_scenario d, sc;
	char err[512];
	int rc;

	fcl_scenario_defaults(&d);
	CHECK(!strcmp(d.name, "scenario") && d.seed == 1, "defaults: name and seed");
	CHECK(d.data.kind == FCL_DATASET_IDX && !strcmp(d.data.path, FASHION_DIR),
	      "defaults: Fashion-MNIST in %s", FASHION_DIR);
	CHECK(d.data.synthetic_train == 2000 && d.data.synthetic_test == 500 &&
		  d.data.synthetic_dim == 32 && d.data.synthetic_classes == 10,
	      "defaults: synthetic sizes");
	CHECK(d.model.n_hidden == 2 && d.model.hidden[0] == 256 && d.model.hidden[1] == 128,
	      "defaults: hidden [256, 128]");
	CHECK(d.train.local_epochs == 1 && d.train.batch_size == 32 && d.train.lr == 0.05f &&
		  d.train.momentum == 0.0f && d.train.weight_decay == 0.0f,
	      "defaults: train");
	CHECK(d.aggregation.rule == fcl_rule_find("fedavg") &&
		  fcl_keys_get(d.aggregation.rule->keys, d.aggregation.params, "weighting") == 1 &&
		  d.eval.every_rounds == 0,
	      "defaults: fedavg by samples");
	CHECK(d.run.round_timeout_s == 120 && d.run.quorum == 1.0 && d.run.join_timeout_s == 60,
	      "defaults: run");
	CHECK(d.eval.per_class == 1 && d.eval.local_models == 0,
	      "defaults: per-class accuracy on, local models off");
	CHECK(d.tasks.rounds_per_task == 5 && d.tasks.identity_first == 1, "defaults: tasks");

	rc = parse_str(&sc, minimal, err, sizeof(err));
	REQUIRE(rc == 0, "minimal scenario parses (%s)", rc ? err : "ok");
	CHECK(sc.clients.count == 3 && sc.clients.per_round == 3, "per_round defaults to count");
	CHECK(sc.tasks.kind == FCL_TASKS_SINGLE && sc.tasks.count == 1 &&
		  sc.tasks.classes_per_task == 10 && sc.tasks.n_class_order == 0,
	      "single: one task with all 10 classes");
	CHECK(sc.model.n_hidden == d.model.n_hidden && sc.train.lr == d.train.lr &&
		  sc.run.quorum == d.run.quorum && sc.seed == d.seed && !strcmp(sc.name, d.name),
	      "unset keys keep their defaults");
}

static void test_generators(void)
{
	static const char ci[] = "data: {dataset: synthetic}\n"
				 "clients: {count: 2}\n"
				 "tasks: {generator: class-incremental, count: 3}\n"
				 "model: {hidden: []}\n";
	static const char perm[] =
	    "data: {dataset: synthetic, synthetic: {classes: 4}}\n"
	    "clients: {count: 2}\n"
	    "tasks: {generator: permuted, count: 4, identity_first: false}\n";
	static const char unknown[] = "defaults: {count: 2}\n";
	static const char anchors[] = "data: {dataset: synthetic}\n"
				      "clients: {count: 2}\n"
				      "tasks: {generator: single}\n"
				      "train: {local_epochs: &e 3}\n"
				      "evaluation: {every_rounds: *e}\n";
	struct fcl_scenario sc;
	char err[512];
	int rc;

	rc = parse_str(&sc, ci, err, sizeof(err));
	REQUIRE(rc == 0, "class-incremental with seeded order parses (%s)", rc ? err : "ok");
	CHECK(sc.tasks.classes_per_task == 3 && sc.tasks.n_class_order == 0,
	      "classes_per_task defaults to 10 / 3 = 3, order seeded");
	CHECK(sc.model.n_hidden == 0, "hidden: [] is a linear model");

	rc = parse_str(&sc, perm, err, sizeof(err));
	REQUIRE(rc == 0, "permuted parses (%s)", rc ? err : "ok");
	CHECK(sc.tasks.kind == FCL_TASKS_PERMUTED && sc.tasks.count == 4 &&
		  sc.tasks.identity_first == 0 && sc.tasks.classes_per_task == 4,
	      "permuted: 4 tasks, every task has all 4 classes");

	rc = parse_str(&sc, unknown, err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "<inline>:1:1: defaults: unknown key"),
	      "unknown key named: %s", err);
	rc = parse_str(&sc, anchors, err, sizeof(err));
	CHECK(rc == 0 && sc.eval.every_rounds == 3 && sc.train.local_epochs == 3,
	      "anchors and aliases resolve (%s)", rc ? err : "ok");

	CHECK(!strcmp(fcl_task_kind_name(FCL_TASKS_SINGLE), "single") &&
		  !strcmp(fcl_task_kind_name(FCL_TASKS_CLASS_INCREMENTAL), "class-incremental") &&
		  !strcmp(fcl_task_kind_name(FCL_TASKS_PERMUTED), "permuted"),
	      "fcl_task_kind_name");
}

static void test_errors_inline(void)
{
	static const char bad[] = "data: {dataset: synthetic}\n"
				  "clients:\n"
				  "  count: 2\n"
				  "  per_round: lots\n"
				  "tasks: {generator: single}\n";
	static const char want[] = "<inline>:4:14: clients.per_round: expected an integer";
	struct fcl_scenario sc, before;
	char err[512], tiny[24];
	int rc;

	memset(&sc, 0xa5, sizeof(sc));
	before = sc;
	rc = parse_str(&sc, bad, err, sizeof(err));
	CHECK(rc == -EINVAL, "string for an integer is rejected");
	CHECK(!strncmp(err, want, strlen(want)), "message names <inline>:4:14 and the key: %s",
	      err);
	CHECK(strstr(err, "(got lots)") != NULL, "message says what it got");
	CHECK(!memcmp(&sc, &before, sizeof(sc)), "scenario untouched on error");

	rc = parse_str(&sc, bad, tiny, sizeof(tiny));
	CHECK(rc == -EINVAL && strlen(tiny) == sizeof(tiny) - 1, "message truncated safely: %s",
	      tiny);
	CHECK(parse_str(&sc, bad, NULL, 0) == -EINVAL, "no error buffer is fine");
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static const char *const idx_names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz",
					"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"};

static void test_load(const char *tmp)
{
	static const char synth[] = "name: synth-file\n"
				    "data: {dataset: synthetic}\n"
				    "clients: {count: 4, per_round: 2}\n"
				    "tasks: {generator: permuted, count: 2}\n";
	static const char idx[] = "data:\n"
				  "  dataset: mnist-idx\n"
				  "  path: idx\n"
				  "clients: {count: 1}\n"
				  "tasks: {generator: single}\n";
	char path[512], want[512], err[512], *text = NULL;
	struct fcl_scenario sc;
	size_t len = 0, i;
	int rc;

	snprintf(path, sizeof(path), "%s/synth.yaml", tmp);
	REQUIRE(write_file(path, synth) == 0, "write %s", path);
	rc = fcl_scenario_load(&sc, path, &text, &len, err, sizeof(err));
	REQUIRE(rc == 0, "synthetic scenario loads from a file (%s)", rc ? err : "ok");
	CHECK(text && len == strlen(synth) && !memcmp(text, synth, len), "file text is returned");
	CHECK(!strcmp(sc.name, "synth-file") && sc.tasks.count == 2 && sc.clients.per_round == 2,
	      "file fields");
	free(text);

	snprintf(path, sizeof(path), "%s/idx", tmp);
	REQUIRE(mkdir(path, 0700) == 0, "mkdir %s", path);
	for (i = 0; i < sizeof(idx_names) / sizeof(idx_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/idx/%s", tmp, idx_names[i]);
		REQUIRE(write_file(path, "") == 0, "write %s", path);
	}
	snprintf(path, sizeof(path), "%s/idx.yaml", tmp);
	REQUIRE(write_file(path, idx) == 0, "write %s", path);
	rc = fcl_scenario_load(&sc, path, NULL, NULL, err, sizeof(err));
	REQUIRE(rc == 0, "mnist-idx with a relative path loads (%s)", rc ? err : "ok");
	snprintf(want, sizeof(want), "%s/idx", tmp);
	CHECK(!strcmp(sc.data.path, want), "relative path resolves against the file's folder: %s",
	      sc.data.path);
	CHECK(sc.data.kind == FCL_DATASET_IDX, "mnist-idx is an IDX data set");

	rc = fcl_scenario_parse(&sc, idx, strlen(idx), "inline.yaml", err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "inline.yaml:3:3: data.path: expected a folder"),
	      "parsed text keeps relative paths as they are: %s", err);

	snprintf(path, sizeof(path), "%s/missing.yaml", tmp);
	rc = fcl_scenario_load(&sc, path, NULL, NULL, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, "missing.yaml:1:1:"), "missing file: %s", err);
}

static void cleanup(const char *tmp)
{
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(idx_names) / sizeof(idx_names[0]); i++) {
		snprintf(path, sizeof(path), "%s/idx/%s", tmp, idx_names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/idx", tmp);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/idx.yaml", tmp);
	unlink(path);
	snprintf(path, sizeof(path), "%s/synth.yaml", tmp);
	unlink(path);
	rmdir(tmp);
}

static void test_fashion(void)
{
	static const char fashion[] = "data:\n"
				      "  dataset: fashion-mnist\n"
				      "clients: {count: 8, per_round: 4}\n"
				      "tasks:\n"
				      "  generator: class-incremental\n"
				      "  count: 5\n"
				      "  classes_per_task: 2\n"
				      "  class_order: seeded\n"
				      "  rounds_per_task: 5\n";
	struct fcl_scenario sc;
	struct stat st;
	char err[512];
	int rc;

	if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) &&
	    stat(FASHION_DIR "/train-images-idx3-ubyte", &st)) {
		NOTE("skip: %s is not installed", FASHION_DIR);
		return;
	}
	rc = parse_str(&sc, fashion, err, sizeof(err));
	REQUIRE(rc == 0, "fashion-mnist with the default path parses (%s)", rc ? err : "ok");
	CHECK(!strcmp(sc.data.path, FASHION_DIR) && sc.tasks.classes_per_task == 2 &&
		  sc.tasks.count == 5 && sc.tasks.n_class_order == 0,
	      "fashion-mnist class-incremental fields");
}

/* ---- the folder of malformed scenarios ---------------------------------- */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65536);
	n = buf ? fread(buf, 1, 65535, f) : 0;
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* "# expect: X\n# at: L:C\n" */
static int read_header(const char *text, char *expect, size_t size, int *line, int *col)
{
	const char *e = strchr(text, '\n');
	size_t n;

	if (strncmp(text, "# expect: ", 10) || !e)
		return -1;
	n = (size_t)(e - text) - 10;
	if (n == 0 || n >= size)
		return -1;
	memcpy(expect, text + 10, n);
	expect[n] = '\0';
	return sscanf(e + 1, "# at: %d:%d", line, col) == 2 ? 0 : -1;
}

static void test_bad_case(const char *dir, const char *name)
{
	char path[1024], expect[256], prefix[1100], err[1024];
	struct fcl_scenario sc;
	int line = 0, col = 0, rc;
	char *text;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	text = read_text(path);
	REQUIRE(text, "%s: readable", name);
	rc = read_header(text, expect, sizeof(expect), &line, &col);
	free(text);
	REQUIRE(rc == 0, "%s: starts with '# expect: ...' and '# at: LINE:COL'", name);
	err[0] = '\0';
	rc = fcl_scenario_load(&sc, path, NULL, NULL, err, sizeof(err));
	CHECK(rc == -EINVAL, "%s: rejected (rc %d)", name, rc);
	snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", path, line, col);
	CHECK(!strncmp(err, prefix, strlen(prefix)), "%s: error at %d:%d", name, line, col);
	CHECK(strstr(err, expect) != NULL, "%s: error mentions '%s'", name, expect);
	NOTE("%s", err);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_dir(const char *dir)
{
	char **names = NULL, **nn;
	size_t n = 0, cap = 0, i, len;
	struct dirent *de;
	DIR *d = opendir(dir);

	REQUIRE(d, "open %s", dir);
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	CHECK(n >= MIN_BAD_CASES, "%zu malformed scenarios in %s (want >= %d)", n, dir,
	      MIN_BAD_CASES);
	for (i = 0; i < n; i++) {
		test_bad_case(dir, names[i]);
		free(names[i]);
	}
	free(names);
}

static void test_strategy_keys(void)
{
	static const char text[] = "data: {dataset: synthetic}\n"
				   "clients: {count: 3}\n"
				   "tasks: {generator: single}\n"
				   "model: {hidden: [16], head_bias: false}\n"
				   "timeline: {stream: online}\n"
				   "train: {mode: online, stream_batch: 12, replay_batch: 6, "
				   "online_iter: 3}\n"
				   "strategy:\n"
				   "  name: mvp\n"
				   "  memory: 200\n"
				   "  uer: {scale: 16}\n"
				   "  mvp: {pool: 7, query: backbone, warmup: 300, focal: batch,\n"
				   "        afs: false, query_dim: 32,\n"
				   "        contrastive: false, mask: true, margin: 0.25}\n";
	struct fcl_scenario d, sc;
	char err[512];
	int rc;

	fcl_scenario_defaults(&d);
	CHECK(d.strategy.method == fcl_strategy_find("finetune") && d.strategy.memory == 0 &&
		  !d.train.online && d.model.head_bias == 1 && d.train.online_iter == 1,
	      "defaults: offline fine-tuning, no memory, head bias");
	rc = parse_str(&sc, text, err, sizeof(err));
	REQUIRE(rc == 0, "strategy and online keys parse (%s)", rc ? err : "ok");
	CHECK(sc.train.online && sc.train.stream_batch == 12 && sc.train.replay_batch == 6 &&
		  sc.train.online_iter == 3 && !sc.model.head_bias && sc.train.mask_unexposed == 1,
	      "train: online, stream 12, replay 6, 3 iterations; bias-free head");
	const struct fcl_key *mk = sc.strategy.method->keys;
	const void *mp = sc.strategy.params;
	char focal[16], query[16];
	fcl_key_format(fcl_key_find(mk, "mvp.focal"), mp, focal, sizeof focal);
	fcl_key_format(fcl_key_find(mk, "mvp.query"), mp, query, sizeof query);
	CHECK(sc.strategy.method == fcl_strategy_find("mvp") && sc.strategy.memory == 200 &&
		  fcl_keys_get(mk, mp, "mvp.pool") == 7 &&
		  fcl_keys_get(mk, mp, "mvp.query_dim") == 32 && !strcmp(focal, "batch") &&
		  !strcmp(query, "backbone") && fcl_keys_get(mk, mp, "mvp.warmup") == 300 &&
		  fcl_keys_get(mk, mp, "mvp.afs") == 0 &&
		  fcl_keys_get(mk, mp, "mvp.contrastive") == 0 &&
		  fcl_keys_get(mk, mp, "mvp.mask") == 1 &&
		  fcl_keys_get(mk, mp, "mvp.margin") == 0.25 &&
		  fcl_keys_get(mk, mp, "mvp.gamma") == 2,
	      "strategy: mvp with its parameters, unset ones at their defaults");
	CHECK(isnan(fcl_keys_get(mk, mp, "scale")),
	      "a uer block (scale) is checked but not mvp's: it is not stored");

	static const char groups[] = "data: {dataset: synthetic}\n"
				     "model: {head_bias: false}\n"
				     "clients: {count: 10}\n"
				     "tasks: {generator: single}\n"
				     "strategy:\n"
				     "  groups:\n"
				     "    - {clients: [0, 4], name: uer, scale: 16}\n"
				     "    - clients: [3, 3]\n"
				     "      name: der++\n"
				     "  memory: 300\n"
				     "  name: er\n";
	rc = parse_str(&sc, groups, err, sizeof(err));
	REQUIRE(rc == 0, "strategy groups parse (%s)", rc ? err : "ok");
	CHECK(sc.train.mask_unexposed == 0, "offline training does not mask unexposed classes "
					    "unless asked");
	const struct fcl_strategy_config *g0 = fcl_scenario_strategy_of(&sc, 0),
					 *g3 = fcl_scenario_strategy_of(&sc, 3),
					 *g7 = fcl_scenario_strategy_of(&sc, 7);
	CHECK(sc.n_strategy_groups == 2 && g0->method == fcl_strategy_find("uer") &&
		  fcl_keys_get(g0->method->keys, g0->params, "scale") == 16 && g0->memory == 300 &&
		  g3->method == fcl_strategy_find("der++") && g3->memory == 300 &&
		  fcl_keys_get(g3->method->keys, g3->params, "alpha") == 0.3f &&
		  g7->method == fcl_strategy_find("er"),
	      "groups: clients 0-4 uer (inheriting memory 300), 3 der++ (last group wins), "
	      "others er");
}

/* n lines "key: 1\n" where key is k0, k1, ... (distinct) or seed (repeated). */
static char *many_keys(unsigned n, int distinct, size_t *len)
{
	char *text = malloc((size_t)n * 16 + 1);
	size_t o = 0;

	if (!text)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		char line[32];
		int k = distinct ? snprintf(line, sizeof line, "k%u: 1\n", i)
				 : snprintf(line, sizeof line, "seed: 1\n");
		memcpy(text + o, line, (size_t)k);
		o += (size_t)k;
	}
	*len = o;
	return text;
}

/* The parser denial-of-service inputs of issue 16 (the others are files in bad/):
 * libfyaml's duplicate-key check made 40,000 keys take minutes; the walker now
 * finds duplicates, and the first unknown key ends the walk. Hung inputs show as
 * this test's timeout. */
static void test_hostile(void)
{
	struct fcl_scenario sc;
	char err[512], *text, *out = NULL;
	size_t len, out_len;
	static const char *const raw[] = {"%\xa3", "\r%\xf8", "name: x\n%\xff"};

	for (size_t i = 0; i < sizeof raw / sizeof *raw; i++) {
		int rc = fcl_scenario_parse(&sc, raw[i], strlen(raw[i]), "<raw>", err, sizeof err);
		CHECK(rc == -EINVAL && strstr(err, "expected no YAML directive"),
		      "directive with invalid UTF-8 #%zu refused: %s", i, err);
		rc = fcl_scenario_override(raw[i], strlen(raw[i]), NULL, 0, &out, &out_len, err,
					   sizeof err);
		CHECK(rc == -EINVAL && strstr(err, "expected no YAML directive"),
		      "... and by the --set editor: %s", err);
	}
	text = many_keys(40000, 1, &len);
	REQUIRE(text, "40,000 keys");
	CHECK(fcl_scenario_parse(&sc, text, len, "<keys>", err, sizeof err) == -EINVAL &&
		  !strncmp(err, "<keys>:1:1: k0: unknown key", 27),
	      "40,000 unknown keys: the first is named: %.60s", err);
	const char *sets[] = {"k39999=2"};
	CHECK(fcl_scenario_override(text, len, sets, 1, &out, &out_len, err, sizeof err) == 0 &&
		  strstr(out, "k39999: 2\n"),
	      "the --set editor takes 40,000 keys");
	free(out);
	free(text);
	text = many_keys(40000, 0, &len);
	REQUIRE(text, "40,000 repeated keys");
	CHECK(fcl_scenario_parse(&sc, text, len, "<dup>", err, sizeof err) == -EINVAL &&
		  !strncmp(err, "<dup>:2:1: seed: expected each key once", 39),
	      "40,000 repeated keys: the second is named: %.60s", err);
	free(text);

	const char *rule_dup = "data: {dataset: synthetic}\nclients: {count: 2}\n"
			       "tasks: {generator: single}\n"
			       "aggregation: {rule: fedprox, mu: 0.1, mu: 0.2}\n";
	CHECK(fcl_scenario_parse(&sc, rule_dup, strlen(rule_dup), "<m>", err, sizeof err) ==
			  -EINVAL &&
		      strstr(err, "<m>:4:39: aggregation.mu: expected each key once"),
	      "a method's key given twice is refused: %s", err);
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, "
			   "*a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
	const char *bset[] = {"name=x"};
	CHECK(fcl_scenario_override(bomb, strlen(bomb), bset, 1, &out, &out_len, err, sizeof err) ==
			  -EINVAL &&
		      strstr(err, "expected at most 100000 nodes"),
	      "an alias bomb is refused by the --set editor: %s", err);
	const char *qset[] = {"name='a''''''''b'"};
	/* Under the node budget but megabytes once expanded: refused by size, not emitted
	 * in full (the fuzzer found this taking 15 s under ASan). */
	const char *wide = "a: &a [xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,\n"
			   "  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
	CHECK(fcl_scenario_override(wide, strlen(wide), bset, 1, &out, &out_len, err, sizeof err) ==
			  -EINVAL &&
		      strstr(err, "expected at most 1048576 bytes with --set edits applied"),
	      "an edited scenario too large once aliases expand is refused: %s", err);
	const char *plain = "name: x\n";
	CHECK(fcl_scenario_override(plain, strlen(plain), qset, 1, &out, &out_len, err, sizeof err) ==
			  -EINVAL &&
		      strstr(err, "the value:1:1: expected no '' escape"),
	      "a --set value goes through the screens too: %s", err);
}

/* One client-range syntax: 7, 0-4 and [0, 4] mean the same in every place. */
static void test_client_ranges(void)
{
	static const char *const forms[][2] = {{"[1, 3]", "[5, 5]"}, {"1-3", "5"}, {"1-3", "[5, 5]"}};
	char text[1024], err[512];
	struct fcl_scenario sc;

	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		snprintf(text, sizeof text,
			 "data: {dataset: synthetic}\n"
			 "model: {head_bias: false}\n"
			 "clients: {count: 8}\n"
			 "tasks: {generator: class-incremental, count: 2, classes_per_task: 2}\n"
			 "strategy: {name: er, memory: 10, groups: [{clients: %s, name: uer}]}\n"
			 "timeline: {groups: [{clients: %s, offset: 2}]}\n",
			 forms[i][0], forms[i][1]);
		int rc = parse_str(&sc, text, err, sizeof err);
		CHECK(rc == 0 && sc.n_strategy_groups == 1 && sc.strategy_groups[0].first == 1 &&
			  sc.strategy_groups[0].last == 3 && sc.timeline.groups[0].lo == 5 &&
			  sc.timeline.groups[0].hi == 5,
		      "client ranges %s and %s: strategy.groups 1..3, timeline.groups 5..5 (%s)",
		      forms[i][0], forms[i][1], rc ? err : "ok");
	}
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/fcl-scenario-XXXXXX";

	test_good();
	test_client_ranges();
	test_defaults();
	test_strategy_keys();
	test_generators();
	test_errors_inline();
	test_hostile();
	if (mkdtemp(tmp)) {
		test_load(tmp);
		cleanup(tmp);
	} else {
		CHECK(0, "mkdtemp");
	}
	test_fashion();
	if (argc > 1)
		test_bad_dir(argv[1]);
	else
		CHECK(0, "usage: test_scenario BAD_DIR");
	return tap_done();
}
