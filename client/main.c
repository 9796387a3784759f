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
#include "fcl/zsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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
	int welcomed;

	void *ctx, *sock;
	void *monitor; /* PAIR socket with the DEALER's connection events */
	struct {
		unsigned retries;    /* connection attempts that failed (refused, unreachable) */
		unsigned connects;   /* TCP connections made */
		unsigned bad_peers;  /* connections whose ZMTP handshake failed */
		unsigned handshakes; /* ZMTP handshakes that succeeded */
		int up;              /* a connection is up now */
		int lost;            /* the connection went after the welcome: final */
	} conn;
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

static int send_msg(struct worker *w, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len;
	int rc = fcl_wire_encode(m, &buf, &len);
	if (rc)
		return rc;
	rc = zmq_send(w->sock, buf, len, 0) < 0 ? -errno : 0;
	free(buf);
	return rc;
}

#define MONITOR_ENDPOINT "inproc://fcl-client-monitor"

/* Follows the connection through the DEALER's monitor, so that a timeout can
 * say why: nobody listening, a peer that is no ZeroMQ endpoint, or a silent one. */
static int monitor_start(struct worker *w)
{
	int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
		     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
		     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
	return fcl_zsock_monitor_open(w->ctx, w->sock, MONITOR_ENDPOINT, events, &w->monitor);
}

static void monitor_drain(struct worker *w)
{
	for (;;) {
		uint16_t event = 0;
		uint32_t value;
		int rc = fcl_zsock_monitor_read(w->monitor, &event, &value);
		if (rc == 0)
			return;
		switch (rc > 0 ? event : 0) {
		case ZMQ_EVENT_CONNECT_RETRIED:
			w->conn.retries++;
			break;
		case ZMQ_EVENT_CONNECTED:
			w->conn.connects++;
			break;
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
			w->conn.handshakes++;
			w->conn.up = 1;
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			w->conn.bad_peers++;
			break;
		case ZMQ_EVENT_DISCONNECTED:
			/* After the welcome the server counts this process gone: it
			 * takes nobody back mid-run, so there is nothing to wait for. */
			if (w->conn.up && w->welcomed)
				w->conn.lost = 1;
			w->conn.up = 0;
			break;
		default:
			break;
		}
	}
}

/* Why nothing came within the connect timeout, in words. */
static void explain_no_welcome(const struct worker *w, double waited)
{
	if (w->conn.handshakes)
		fcl_error("connected to %s, but no welcome within %.0f s: is it an fcl-server "
			  "(and not one that already started its run)?",
			  w->opts.endpoint, waited);
	else if (w->conn.bad_peers || w->conn.connects)
		fcl_error("%s accepts TCP connections but does not speak ZeroMQ/ZMTP (%u failed "
			  "handshakes in %.0f s): wrong port?",
			  w->opts.endpoint,
			  w->conn.bad_peers ? w->conn.bad_peers : w->conn.connects, waited);
	else
		fcl_error("no coordinator at %s within %.0f s (%u connection attempts refused or "
			  "unreachable): is fcl-server running there, and the port open?",
			  w->opts.endpoint, waited, w->conn.retries + 1);
}

/* Waits up to timeout_s for one message. 0, -ETIMEDOUT, -ECONNRESET (the
 * coordinator's connection broke after the welcome, and nothing it sent is
 * left to read), -EPROTO or -errno. */
static int recv_msg(struct worker *w, double timeout_s, struct fcl_msg *m)
{
	zmq_msg_t body;
	double deadline = fcl_now() + timeout_s;

	for (;;) {
		zmq_pollitem_t items[2] = {{.socket = w->sock, .events = ZMQ_POLLIN},
					   {.socket = w->monitor, .events = ZMQ_POLLIN}};
		double left = deadline - fcl_now();
		int n = zmq_poll(items, w->monitor ? 2 : 1, left > 0 ? (long)(left * 1000) + 1 : 0);
		if (n < 0)
			return -errno;
		if (w->monitor && (items[1].revents & ZMQ_POLLIN)) {
			monitor_drain(w);
			/* messages that came before the break are still delivered */
			if (w->conn.lost && !(items[0].revents & ZMQ_POLLIN) &&
			    zmq_poll(items, 1, 0) == 0)
				return -ECONNRESET;
		}
		if (items[0].revents & ZMQ_POLLIN)
			break;
		if (n == 0 && fcl_now() >= deadline)
			return -ETIMEDOUT;
	}
	zmq_msg_init(&body);
	if (zmq_msg_recv(&body, w->sock, 0) < 0) {
		zmq_msg_close(&body);
		return -errno;
	}
	int rc = fcl_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), m);
	if (rc)
		fcl_warn("malformed message of %zu bytes from the coordinator dropped",
			 zmq_msg_size(&body));
	zmq_msg_close(&body);
	return rc;
}

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

	return rc ? rc : send_msg(w, &m);
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
	if ((rc = send_msg(w, &m)) != 0)
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
		(void)zmq_send(w->sock, junk, junk_len, 0);
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
	int rc = send_msg(w, &hello);
	if (rc)
		return rc;
	for (;;) {
		struct fcl_msg m;
		double timeout = w->welcomed ? w->opts.idle_timeout_s : w->opts.connect_timeout_s;
		rc = recv_msg(w, timeout, &m);
		if (rc == -EPROTO)
			continue;
		if (rc == -ETIMEDOUT) {
			if (w->welcomed)
				fcl_error("no word from the coordinator at %s for %.0f s",
					  w->opts.endpoint, w->opts.idle_timeout_s);
			else
				explain_no_welcome(w, w->opts.connect_timeout_s);
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
			rc = w->welcomed ? 0 : on_welcome(w, &m);
			w->welcomed = 1;
			break;
		case FCL_MSG_ROUND_START:
			rc = w->welcomed ? on_round_start(w, &m) : 0;
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
	int zero = 0, rc;
	int64_t max_bytes = FCL_WIRE_MAX_BYTES;

	memset(&w, 0, sizeof w);
	if (cli_parse(&w.opts, argc, argv) != 0)
		return 2;
	if (w.opts.help) {
		cli_fini(&w.opts);
		return 0;
	}
	snprintf(tag, sizeof tag, "client %u-%u", w.opts.ids[0], w.opts.ids[w.opts.n_ids - 1]);
	fcl_log_set_tag(tag);
	w.ctx = zmq_ctx_new();
	w.sock = zmq_socket(w.ctx, ZMQ_DEALER);
	zmq_setsockopt(w.sock, ZMQ_SNDHWM, &zero, sizeof zero);
	zmq_setsockopt(w.sock, ZMQ_RCVHWM, &zero, sizeof zero);
	zmq_setsockopt(w.sock, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
	/* Reconnect with exponential backoff, 100 ms doubling up to 2 s, until
	 * --connect-timeout says enough. */
	int ivl = 100, ivl_max = 2000;
	zmq_setsockopt(w.sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(w.sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	/* ZMTP heartbeats: a coordinator whose node vanished is noticed too. */
	fcl_zsock_heartbeat(w.sock, w.opts.heartbeat_s);
	if (monitor_start(&w) != 0)
		fcl_warn("no connection monitor (%s): errors will say less", zmq_strerror(errno));
	if (zmq_connect(w.sock, w.opts.endpoint) != 0) {
		fprintf(stderr, "fcl-client: cannot connect to %s: %s\n", w.opts.endpoint,
			zmq_strerror(errno));
		return 2;
	}
	rc = run(&w);
	/* Let the last updates leave before the socket closes. */
	int linger = rc ? 0 : 5000;
	zmq_setsockopt(w.sock, ZMQ_LINGER, &linger, sizeof linger);
	fcl_zsock_monitor_close(w.sock, w.monitor);
	zmq_close(w.sock);
	zmq_ctx_term(w.ctx);
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
