/* tests/round_world.c - a coordinator without sockets, for the tests that drive
 * its state machine (test_round.c, test_round_sim.c, test_fedbn.c): a recording
 * outbox, a log sink, the run's parts set up as fcl-server's main does, and what
 * a fake net delivers (see round_world.h) */
#include "round_world.h"

#include "fcl/blas_core.h"
#include "fcl/log.h"
#include "fcl/rng.h"
#include "fcl/strategy.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the recording outbox ------------------------------------------------ */

static int rec_send(void *ud, uint32_t p, const struct fcl_msg *m, size_t *bytes)
{
	struct recorder *r = ud;
	uint8_t *buf;
	size_t len;

	if (m->type == FCL_MSG_ROUND_START && (int)p == r->fail_round_start_to)
		return -EHOSTUNREACH;
	if (r->n == sizeof r->sent / sizeof *r->sent || fcl_wire_encode(m, &buf, &len) != 0)
		return -ENOBUFS;
	free(buf);
	struct sent *s = &r->sent[r->n++];
	memset(s, 0, sizeof *s);
	s->peer = p;
	s->type = m->type;
	s->round = m->round;
	s->n_ids = m->n_ids;
	for (size_t i = 0; i < m->n_ids && i < 8; i++)
		s->ids[i] = m->ids[i];
	s->n_values = m->n_values;
	s->n_params = m->n_params;
	s->scenario_hash = m->scenario_hash;
	snprintf(s->text, sizeof s->text, "%s", m->text ? m->text : "");
	s->n_tensors = m->extras.n_tensors;
	s->n_ints = m->extras.n_ints;
	s->dispatch = m->dispatch;
	for (uint32_t t = 0; t < m->extras.n_tensors && t < 8; t++) {
		s->rows[t] = m->extras.t[t].rows;
		s->cols[t] = m->extras.t[t].cols;
	}
	for (uint32_t i = 0; i < m->extras.n_ints && i < 16; i++)
		s->ints[i] = m->extras.ints[i];
	*bytes = len;
	return 0;
}

static void rec_arm(void *ud, double seconds)
{
	struct recorder *r = ud;
	r->armed = seconds;
	r->n_armed++;
}

static void rec_stop(void *ud)
{
	struct recorder *r = ud;
	r->stopped++;
}

/* ---- the log ------------------------------------------------------------- */

static char log_lines[64][512];
static size_t n_log_lines;

void log_sink(enum fcl_log_level level, const char *line, void *user)
{
	(void)level;
	(void)user;
	snprintf(log_lines[n_log_lines % 64], sizeof log_lines[0], "%s", line);
	n_log_lines++;
}

void forget_log(void)
{
	n_log_lines = 0;
}

/* Some line logged since forget_log contains s. */
int logged(const char *s)
{
	for (size_t i = 0; i < n_log_lines && i < 64; i++)
		if (strstr(log_lines[i], s))
			return 1;
	return 0;
}

/* ---- a run without sockets ----------------------------------------------- */

/* The test scenario of world_new (test_round.c describes it). */
static const char scenario_fmt[] =
    "name: round-test\n"
    "seed: 3\n"
    "data: {dataset: synthetic, synthetic: {train: 200, test: 50, dim: 8, classes: 4}}\n"
    "model: {hidden: [4]}\n"
    "clients: {count: 4, per_round: 4}\n"
    "tasks: {generator: class-incremental, count: 2, classes_per_task: 2, rounds_per_task: 2}\n"
    "train: {batch_size: 10}\n"
    "aggregation: {rule: %s}\n"
    "evaluation: {every_rounds: 1, local_models: true}\n"
    "run: {round_timeout: 60, join_timeout: 30, quorum: 0.5}\n";

/* The inputs as fcl-server's main sets them up (w->text holds the scenario),
 * then the parts. */
static int world_inputs(struct world *w)
{
	char err[512];
	uint32_t sizes[3];
	struct fcl_rng rng;

	if (fcl_scenario_parse(&w->sc, w->text, strlen(w->text), "<test>", err, sizeof err) != 0 ||
	    fcl_schedule_load_data(&w->sc, &w->train, &w->test, err, sizeof err) != 0) {
		NOTE("%s", err);
		return -EINVAL;
	}
	if (fcl_schedule_compile(&w->sched, &w->sc, &w->train, &w->test) != 0)
		return -EINVAL;
	if (fcl_scenario_timed(&w->sc) &&
	    fcl_devices_compile(&w->devices, &w->sc, err, sizeof err) != 0) {
		NOTE("%s", err);
		return -EINVAL;
	}
	sizes[0] = w->sched.dim;
	sizes[1] = 4;
	sizes[2] = w->sched.n_classes;
	if (w->sc.model.n_layers) { /* model.layers (test_fedbn.c), as main.c builds them */
		struct fcl_arch arch;
		if (fcl_scenario_arch(&w->sc, w->sched.shape, w->sched.n_classes, &arch, err,
				      sizeof err) != 0) {
			NOTE("%s", err);
			return -EINVAL;
		}
		if (fcl_model_init(&w->model, &arch, 256) != 0)
			return -ENOMEM;
	} else if (fcl_mlp_init(&w->model, 2, sizes, 256) != 0) {
		return -ENOMEM;
	}
	fcl_rng_init(&rng, w->sc.seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(&w->model, &rng);
	w->initial_checksum = fcl_hash64(w->model.params, w->model.n_params * sizeof(float));
	struct fcl_agg_env env = {
	    .run_dir = w->dir, .event = coord_dispatch_rule_event, .ud = &w->d};
	struct fcl_scenario rsc = w->sc; /* the rule's slots, as main.c gives them */
	if (fcl_scenario_timed(&w->sc))
		rsc.clients.per_round = coord_sim_slots(&w->sc);
	return fcl_agg_create(&rsc, &w->model, &env, &w->agg);
}

static int world_parts(struct world *w)
{
	struct coord_report_config rep = {.run_dir = w->dir,
					  .sc = &w->sc,
					  .sched = &w->sched,
					  .train = &w->train,
					  .model = &w->model,
					  .scenario_text = w->text,
					  .scenario_len = strlen(w->text),
					  .scenario_hash = fcl_hash64(w->text, strlen(w->text)),
					  .started = fcl_now()};
	int rc = coord_round_init(&w->round, &w->sc, &w->sched, &w->model, w->agg, w->train.n);
	if (rc || (rc = coord_report_init(&w->report, &rep)) != 0)
		return rc;
	if (fcl_scenario_timed(&w->sc) &&
	    (rc = coord_sim_init(&w->sim, &w->sc, &w->sched, &w->devices, &w->model, w->agg,
				 w->round.owner, w->train.n)) != 0)
		return rc;
	struct coord_eval_config ev = {.sched = &w->sched,
				       .model = &w->model,
				       .test = &w->test,
				       .csv = w->report.eval_csv,
				       .class_csv = w->report.eval_class_csv,
				       .local_models = w->sc.eval.local_models,
				       .every_rounds = w->sc.eval.every_rounds,
				       .bn_values = fcl_strategy_bn_sent(&w->sc, &w->model.arch)};
	/* the initial model is evaluated when the run begins (all joined) */
	if ((rc = coord_eval_init(&w->eval, &ev)) != 0)
		return rc;
	w->eval.sim_time = w->report.sim_time;
	struct coord_dispatch_config dc = {
	    .round = &w->round,
	    .sim = fcl_scenario_timed(&w->sc) ? &w->sim : NULL,
	    .eval = &w->eval,
	    .report = &w->report,
	    .out = {.send = rec_send, .arm = rec_arm, .stop = rec_stop, .ud = &w->out},
	    .sc = &w->sc,
	    .sched = &w->sched,
	    .scenario_text = w->text,
	    .scenario_hash = rep.scenario_hash,
	    .n_params = (uint32_t)w->model.n_params};
	coord_dispatch_init(&w->d, &dc);
	coord_dispatch_start(&w->d);
	return 0;
}

struct world *world_new(const char *rule)
{
	char text[1024];
	snprintf(text, sizeof text, scenario_fmt, rule);
	return world_new_text(text);
}

struct world *world_new_text(const char *text)
{
	struct world *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	snprintf(w->dir, sizeof w->dir, "/tmp/fcl-test-round-XXXXXX");
	snprintf(w->text, sizeof w->text, "%s", text);
	w->out.armed = -1;
	w->out.fail_round_start_to = -1;
	if (!mkdtemp(w->dir) || world_inputs(w) != 0 || world_parts(w) != 0) {
		NOTE("cannot set up a run in %s", w->dir);
		free(w);
		return NULL;
	}
	forget_log();
	return w;
}

void world_free(struct world *w)
{
	char cmd[128];

	if (!w)
		return;
	coord_eval_fini(&w->eval);
	coord_report_fini(&w->report);
	coord_sim_fini(&w->sim);
	coord_round_fini(&w->round);
	fcl_agg_destroy(w->agg);
	fcl_devices_fini(&w->devices);
	fcl_mlp_fini(&w->model);
	fcl_schedule_fini(&w->sched);
	fcl_dataset_fini(&w->train);
	fcl_dataset_fini(&w->test);
	if (!getenv("FCL_KEEP")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
		if (system(cmd) != 0)
			NOTE("could not remove %s", w->dir);
	}
	free(w);
}

/* ---- what the fake net delivers ------------------------------------------ */

void deliver(struct world *w, int from, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len = 0;
	if (fcl_wire_encode(m, &buf, &len) == 0)
		free(buf);
	coord_dispatch_message(&w->d, from, m, len);
}

/* A hello from a new process hosting first .. first + n - 1: its peer index
 * if the run took it, else -1 (net forgets the route again). */
int hello(struct world *w, uint32_t first, uint32_t n, uint32_t version)
{
	uint32_t ids[8];
	int p = (int)coord_dispatch_peers(&w->d);
	for (uint32_t i = 0; i < n; i++)
		ids[i] = first + i;
	struct fcl_msg m = {.type = FCL_MSG_HELLO,
			    .client_id = -1,
			    .protocol_version = version,
			    .blas_core = fcl_blas_core(),
			    .blas_version = fcl_blas_version(),
			    .pid = 1000 + first,
			    .hostname = "testhost",
			    .ids = ids,
			    .n_ids = n};
	deliver(w, p, &m);
	return coord_dispatch_peers(&w->d) > (uint32_t)p ? p : -1;
}

void update(struct world *w, int from, uint32_t client, uint32_t round, enum update_kind k)
{
	size_t n = w->model.n_params;
	float *v = calloc(n + 1, sizeof *v);
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = 0.001f * (float)((i + client) % 7);
	if (k == NON_FINITE)
		v[n / 2] = NAN;
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = client,
			    .values = v,
			    .n_values = k == WRONG_SIZE ? n + 1 : n,
			    .n_samples = k == NO_SAMPLES ? 0 : 25,
			    .loss = 1.0f,
			    .train_seconds = 0.01};
	deliver(w, from, &m);
	free(v);
}

/* Messages of a type sent since `since`, to peer (or any peer, -1). */
size_t count_sent(const struct world *w, size_t since, enum fcl_msg_type type, int peer)
{
	size_t n = 0;
	for (size_t i = since; i < w->out.n; i++)
		n += w->out.sent[i].type == type && (peer < 0 || (int)w->out.sent[i].peer == peer);
	return n;
}

const struct sent *find_sent(const struct world *w, size_t since, enum fcl_msg_type type, int peer)
{
	for (size_t i = since; i < w->out.n; i++)
		if (w->out.sent[i].type == type && (peer < 0 || (int)w->out.sent[i].peer == peer))
			return &w->out.sent[i];
	return NULL;
}

/* A file of the run folder contains s. */
int file_has(const struct world *w, const char *name, const char *s)
{
	char path[128], *text = NULL;
	snprintf(path, sizeof path, "%s/%s", w->dir, name);
	if (fcl_read_file(path, &text, NULL) != 0)
		return 0;
	int found = strstr(text, s) != NULL;
	free(text);
	return found;
}

/* Both processes say hello; round 0 goes out. */
int join_both(struct world *w)
{
	return hello(w, 0, 2, FCL_PROTOCOL_VERSION) == 0 &&
	       hello(w, 2, 2, FCL_PROTOCOL_VERSION) == 1;
}

/* Every participant of round r sends a good update. */
void all_good(struct world *w, uint32_t r)
{
	for (uint32_t c = 0; c < 4; c++)
		update(w, c < 2 ? 0 : 1, c, r, GOOD);
}
