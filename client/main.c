/* client/main.c - fcl-client: a worker process hosting one or more logical clients
 *
 * It says hello with the ids it hosts, receives the scenario from the
 * coordinator (so it can never run another one), compiles it against its
 * local copy of the data, then for each round trains its assigned logical
 * clients in id order and sends one update per logical client.
 */
#include "client.h"

#include "fcl/data.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/rule.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one logical client keeps for the whole run. */
struct logical_client {
	uint32_t id;
	uint32_t rounds_trained;
	uint64_t samples_seen;
	void *rule_state; /* the rule's state for this client (fcl/rule.h), NULL until used */
	struct fcl_strategy *strategy; /* replay buffer, exposed classes, ... for the whole run */
};

struct worker {
	struct client_opts opts;
	struct conn conn;
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_sgd opt;
	struct fcl_rule_worker rule;
	struct logical_client *clients; /* (n_ids) ascending by id */
	struct fcl_loop_config loop;
	uint32_t round;                 /* of the round start being worked on */
	const uint32_t **perms;         /* (n_tasks) pixel permutation of each task, or NULL */
	float *update;                  /* (n_params) */
};

/* Compiles the scenario the coordinator sent, against the local data. */
static int on_welcome(struct worker *w, const struct fcl_msg *m)
{
	char err[1024];
	size_t len = strlen(m->scenario_text);
	int rc;

	if (m->protocol_version != FCL_PROTOCOL_VERSION) {
		fcl_error("coordinator speaks protocol %u, this client %u", m->protocol_version,
			  FCL_PROTOCOL_VERSION);
		return -EPROTO;
	}
	if (fcl_hash64(m->scenario_text, len) != m->scenario_hash) {
		fcl_error("scenario text does not match its hash: refusing to run it");
		return -EPROTO;
	}
	if ((rc = fcl_scenario_parse(&w->sc, m->scenario_text, len, "<coordinator>", err,
				     sizeof err)) != 0) {
		fcl_error("scenario from the coordinator: %s", err);
		return rc;
	}
	w->sc.seed = m->seed;
	if ((rc = fcl_schedule_load_data(&w->sc, &w->train, &w->test, err, sizeof err)) != 0) {
		fcl_error("%s", err);
		return rc;
	}
	if ((rc = fcl_schedule_compile(&w->sched, &w->sc, &w->train, &w->test)) != 0)
		return rc;
	uint32_t sizes[FCL_MLP_MAX_LAYERS + 1], L = 0;
	sizes[L++] = w->sched.dim;
	for (uint32_t h = 0; h < w->sc.model.n_hidden; h++)
		sizes[L++] = w->sc.model.hidden[h];
	sizes[L] = w->sched.n_classes;
	uint32_t batch = w->sc.train.batch_size;
	w->loop = (struct fcl_loop_config){.online = w->sc.train.online,
					   .epochs = w->sc.train.local_epochs,
					   .batch_size = batch,
					   .stream_batch = w->sc.train.stream_batch,
					   .online_iter = w->sc.train.online_iter,
					   .replay_batch = w->sc.train.replay_batch,
					   .head_bias = w->sc.model.head_bias,
					   .mask_unexposed = w->sc.train.mask_unexposed};
	size_t max_batch = fcl_loop_max_batch(&w->loop);
	if ((rc = fcl_mlp_init(&w->model, L, sizes, max_batch > batch ? max_batch : batch)) != 0)
		return rc;
	if (w->model.n_params != m->n_params) {
		fcl_error("model has %zu parameters here but %u at the coordinator",
			  w->model.n_params, m->n_params);
		return -EPROTO;
	}
	fcl_sgd_init(&w->opt, w->sc.train.lr, w->sc.train.momentum, w->sc.train.weight_decay);
	if ((rc = fcl_rule_worker_init(&w->rule, &w->sc, &w->sched, &w->train, &w->model)) != 0) {
		fcl_error("cannot set up rule %s: %s", w->sc.aggregation.rule->name, strerror(-rc));
		return rc;
	}
	w->update = malloc(w->model.n_params * sizeof(float));
	w->clients = calloc(w->opts.n_ids, sizeof *w->clients);
	w->perms = calloc(w->sched.n_tasks, sizeof *w->perms);
	if (!w->update || !w->clients || !w->perms)
		return -ENOMEM;
	for (uint32_t t = 0; t < w->sched.n_tasks; t++)
		w->perms[t] = w->sched.tasks[t].perm;
	for (size_t i = 0; i < w->opts.n_ids; i++) {
		w->clients[i].id = w->opts.ids[i];
		const struct fcl_strategy_config *st =
			fcl_scenario_strategy_of(&w->sc, w->opts.ids[i]);
		rc = fcl_strategy_create(st, &w->loop, L, sizes, w->sc.seed, w->opts.ids[i],
					 &w->clients[i].strategy);
		if (rc) {
			fcl_error("cannot create strategy %s for client %u: %s",
				  fcl_strategy_name(st), w->opts.ids[i], strerror(-rc));
			return rc;
		}
	}
	fcl_info("scenario %s (hash %016llx, seed %llu) compiled: hosting %zu logical clients, "
		 "schedule digest %016llx",
		 w->sc.name, (unsigned long long)m->scenario_hash, (unsigned long long)m->seed,
		 w->opts.n_ids, (unsigned long long)fcl_schedule_digest(&w->sched));
	return 0;
}

static struct logical_client *find_client(struct worker *w, uint32_t id)
{
	for (size_t i = 0; i < w->opts.n_ids; i++)
		if (w->clients[i].id == id)
			return &w->clients[i];
	return NULL;
}

/* Sends a participant's extra message for the rule (fcl_answer_fn). */
static int send_rule_message(void *sink, uint32_t client, const struct fcl_extras *x)
{
	struct worker *w = sink;
	struct fcl_msg m = {.type = FCL_MSG_RULE,
			    .round = w->round,
			    .client_id = client,
			    .extras = *x};
	int rc = faults_on_rule_message(&w->opts.faults, client, &m.extras);

	return rc ? rc : conn_send(&w->conn, &m);
}

/* The classes a task-incremental round trains on: its task's, and with
 * recurrence the old tasks' too. */
static void task_mask(const struct worker *w, const struct fcl_client_round *cr, uint8_t *mask)
{
	memcpy(mask, w->sched.tasks[cr->task].has_class, 256);
	for (uint32_t i = 0; i < cr->n_rec; i++)
		for (uint32_t c = 0; c < w->sched.n_classes; c++)
			mask[c] |= w->sched.tasks[cr->rec_task[i]].has_class[c];
}

/* Trains one logical client from the global parameters and sends its update. */
static int train_one(struct worker *w, struct logical_client *lc, uint32_t round,
		     const float *global, const struct fcl_extras *request)
{
	size_t n_params = w->model.n_params;
	struct fcl_client_round cr;
	float loss = 0.0f;
	double t0 = fcl_now();
	int rc = 0;

	/* The round's slice of this client's stream, from the compiled scenario. */
	fcl_schedule_client_round(&w->sched, lc->id, round, &cr);
	uint32_t n = cr.n + cr.n_rec;
	const uint32_t *idx = cr.idx;
	uint32_t *mixed = NULL;
	if (cr.n_rec) { /* recurrence: old tasks' samples join the round's own */
		mixed = malloc((size_t)n * sizeof *mixed);
		if (!mixed)
			return -ENOMEM;
		memcpy(mixed, cr.idx, cr.n * sizeof *mixed);
		memcpy(mixed + cr.n, cr.rec_idx, cr.n_rec * sizeof *mixed);
		idx = mixed;
	}
	memcpy(w->model.params, global, n_params * sizeof(float));
	fcl_sgd_reset(&w->opt);
	w->opt.grad_hook = NULL;
	struct fcl_local_round lr = {.client = lc->id,
				     .round = round,
				     .task = cr.task,
				     .request = request,
				     .global = global,
				     .opt = &w->opt,
				     .state = &lc->rule_state};
	if ((rc = fcl_rule_before_train(&w->rule, &lr)) != 0) {
		free(mixed);
		return rc;
	}
	if (cr.task < 0 || n == 0) {
		/* Not ours to train this round (the coordinator samples only clients
		 * with data): answer at once with no samples, which it rejects. */
		fcl_warn("round %u: client %u has no data this round", round, lc->id);
		n = 0;
	} else {
		uint8_t mask[256];
		if (w->sched.task_incremental)
			task_mask(w, &cr, mask);
		struct fcl_train_round tr = {.ds = &w->train,
					     .perms = w->perms,
					     .task = (uint32_t)cr.task,
					     .idx = idx,
					     .n = n,
					     .epochs = cr.epochs,
					     .round = round,
					     .task_mask = w->sched.task_incremental ? mask : NULL};
		rc = fcl_strategy_train(lc->strategy, &w->model, &w->opt, &tr, &loss);
	}
	free(mixed);
	if (rc)
		return rc;
	/* Weight aligning at the task's end, on the global clock. */
	if (n && fcl_schedule_is_task_end(&w->sched, round))
		fcl_strategy_end_task(lc->strategy, &w->model);
	for (size_t i = 0; i < n_params; i++)
		w->update[i] = w->model.params[i] - global[i];
	lc->rounds_trained++;
	uint32_t B = w->sc.train.batch_size;
	lr.n_samples = n;
	lr.local_steps = (uint32_t)((n + B - 1) / B) * cr.epochs;
	struct fcl_extras extras;
	if ((rc = fcl_rule_after_train(&w->rule, &lr, w->update, &extras)) != 0)
		return rc;
	lc->samples_seen += (uint64_t)n * cr.epochs;

	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = lc->id,
			    .n_samples = n,
			    .values = w->update,
			    .n_values = n_params,
			    .loss = loss,
			    .train_seconds = fcl_now() - t0,
			    .extras = extras};
	faults_on_update(&w->opts.faults, lc->id, &m, w->update);
	fcl_debug("client %u round %u task %d: %u samples, loss %.4f, %.3f s, buffer %u "
		  "state %016llx",
		  lc->id, round, cr.task, n, loss, m.train_seconds,
		  fcl_strategy_buffer_fill(lc->strategy),
		  (unsigned long long)fcl_strategy_checksum(lc->strategy));
	if ((rc = conn_send(&w->conn, &m)) != 0)
		return rc;
	return fcl_rule_send_answers(&w->rule, &lr, send_rule_message, w);
}

static int on_round_start(struct worker *w, const struct fcl_msg *m)
{
	if (m->n_values != w->model.n_params || m->task >= w->sched.n_tasks) {
		fcl_warn("round start with %zu parameters for task %u dropped", m->n_values,
			 m->task);
		return 0;
	}
	const char *why = NULL;
	if (fcl_rule_check_request(&w->rule, &m->extras, &why) != 0) {
		fcl_warn("round start %u dropped: %s", m->round, why ? why : "malformed request");
		return 0;
	}
	w->round = m->round;
	if (w->opts.round_delay_s > 0)
		usleep((useconds_t)(w->opts.round_delay_s * 1e6));
	const void *junk;
	size_t junk_len = faults_garbage(&w->opts.faults, &junk);
	/* junk for the coordinator to count and drop; whether it arrived is the test's to see */
	if (junk_len)
		(void)conn_send_bytes(&w->conn, junk, junk_len);
	for (size_t i = 0; i < m->n_ids; i++) {
		struct logical_client *lc = find_client(w, m->ids[i]);
		if (!lc) {
			fcl_warn("round %u assigns client %u, which is not hosted here", m->round,
				 m->ids[i]);
			continue;
		}
		int rc = train_one(w, lc, m->round, m->values, &m->extras);
		if (rc)
			return rc;
	}
	return 0;
}

static int run(struct worker *w)
{
	char host[64] = "";
	gethostname(host, sizeof host - 1);
	struct fcl_msg hello = {.type = FCL_MSG_HELLO,
				.client_id = -1,
				.protocol_version = FCL_PROTOCOL_VERSION,
				.ids = w->opts.ids,
				.n_ids = w->opts.n_ids,
				.pid = (uint32_t)getpid(),
				.hostname = host};
	int rc = conn_send(&w->conn, &hello);
	if (rc)
		return rc;
	for (;;) {
		struct fcl_msg m;
		double timeout = w->opts.connect_timeout_s;
		if (w->conn.welcomed)
			timeout = w->opts.idle_timeout_s;
		rc = conn_recv(&w->conn, timeout, &m);
		if (rc == -EPROTO)
			continue;
		if (rc == -ETIMEDOUT) {
			if (w->conn.welcomed)
				fcl_error("no word from the coordinator at %s for %.0f s",
					  w->opts.endpoint, w->opts.idle_timeout_s);
			else
				conn_explain_no_welcome(&w->conn, w->opts.connect_timeout_s);
			return rc;
		}
		if (rc == -ECONNRESET) {
			fcl_error("lost the coordinator at %s (connection closed, or no heartbeat "
				  "for %.0f s): it counts this process as gone, giving up",
				  w->opts.endpoint, w->opts.heartbeat_s);
			return rc;
		}
		if (rc)
			return rc;
		switch (m.type) {
		case FCL_MSG_WELCOME:
			rc = w->conn.welcomed ? 0 : on_welcome(w, &m);
			w->conn.welcomed = 1;
			break;
		case FCL_MSG_ROUND_START:
			rc = w->conn.welcomed ? on_round_start(w, &m) : 0;
			break;
		case FCL_MSG_SHUTDOWN:
			fcl_info("coordinator ends the run: %s", m.text);
			fcl_msg_free(&m);
			return 0;
		case FCL_MSG_ERROR:
			fcl_error("coordinator refused us: %s", m.text);
			rc = -EPROTO;
			break;
		default:
			fcl_warn("unexpected %s from the coordinator dropped",
				 fcl_msg_type_name(m.type));
			break;
		}
		fcl_msg_free(&m);
		if (rc)
			return rc;
	}
}

int main(int argc, char **argv)
{
	struct worker w;
	char tag[48];
	int rc;

	memset(&w, 0, sizeof w);
	if (cli_parse(&w.opts, argc, argv) != 0)
		return 2;
	if (w.opts.help) {
		cli_fini(&w.opts);
		return 0;
	}
	snprintf(tag, sizeof tag, "client %u-%u", w.opts.ids[0], w.opts.ids[w.opts.n_ids - 1]);
	fcl_log_set_tag(tag);
	if (conn_init(&w.conn, w.opts.endpoint, w.opts.heartbeat_s) != 0) {
		cli_fini(&w.opts);
		return 2;
	}
	rc = run(&w);
	conn_fini(&w.conn, rc == 0);
	free(w.update);
	for (size_t i = 0; w.clients && i < w.opts.n_ids; i++) {
		fcl_strategy_destroy(w.clients[i].strategy);
		fcl_rule_client_free(&w.rule, w.clients[i].rule_state);
	}
	free(w.clients);
	free(w.perms);
	cli_fini(&w.opts);
	fcl_rule_worker_fini(&w.rule);
	fcl_sgd_fini(&w.opt);
	fcl_mlp_fini(&w.model);
	fcl_schedule_fini(&w.sched);
	fcl_dataset_fini(&w.train);
	fcl_dataset_fini(&w.test);
	return rc ? 1 : 0;
}
