/* client/main.c - fcl-client: a worker process hosting one or more logical clients
 *
 * It says hello with the ids it hosts, receives the scenario from the
 * coordinator (so it can never run another one), compiles it against its
 * local copy of the data, then for each round trains its assigned logical
 * clients in id order and sends one update per logical client.
 */
#include "fcl/data.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/train.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* Faults a client can inject, for tests of the coordinator's defences. */
enum fault_kind { FAULT_NONE, FAULT_WRONG_SIZE, FAULT_NAN, FAULT_GARBAGE };

/* What one logical client keeps for the whole run. */
struct logical_client {
	uint32_t id;
	uint32_t rounds_trained;
	uint64_t samples_seen;
	struct fcl_strategy *strategy; /* replay buffer, exposed classes, ... for the whole run */
};

struct worker {
	const char *endpoint;
	uint32_t *ids;
	size_t n_ids;
	double connect_timeout_s, idle_timeout_s;
	enum fault_kind fault;
	int64_t fault_client; /* -1 = every client */

	void *ctx, *sock;
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_sgd opt;
	struct fcl_train_scratch scratch;
	struct logical_client *clients; /* (n_ids) ascending by id */
	struct fcl_loop_config loop;
	const uint32_t **perms;         /* (n_tasks) pixel permutation of each task, or NULL */
	float *update;                  /* (n_params) */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-client --connect ENDPOINT --ids RANGES [--connect-timeout S]\n"
		   "                  [--idle-timeout S] [--fault KIND[:CLIENT]] [--verbose]\n"
		   "  --ids    logical clients hosted here, e.g. 0-31 or 0-3,8\n"
		   "  --fault  for tests: wrong-size, nan or garbage (optionally for one client)\n");
}

static int parse_fault(struct worker *w, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (len == 10 && strncmp(spec, "wrong-size", len) == 0)
		w->fault = FAULT_WRONG_SIZE;
	else if (len == 3 && strncmp(spec, "nan", len) == 0)
		w->fault = FAULT_NAN;
	else if (len == 7 && strncmp(spec, "garbage", len) == 0)
		w->fault = FAULT_GARBAGE;
	else
		return -EINVAL;
	w->fault_client = colon ? strtoll(colon + 1, NULL, 10) : -1;
	return 0;
}

static int parse_args(struct worker *w, int argc, char **argv)
{
	static const struct option opts[] = {{"connect", required_argument, 0, 'c'},
					     {"ids", required_argument, 0, 'i'},
					     {"connect-timeout", required_argument, 0, 't'},
					     {"idle-timeout", required_argument, 0, 'T'},
					     {"fault", required_argument, 0, 'f'},
					     {"verbose", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	w->connect_timeout_s = 60;
	w->idle_timeout_s = 3600;
	w->fault_client = -1;
	while ((c = getopt_long(argc, argv, "c:i:t:T:f:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			w->endpoint = optarg;
			break;
		case 'i':
			if (fcl_parse_ids(optarg, &w->ids, &w->n_ids) != 0) {
				fprintf(stderr, "fcl-client: bad --ids '%s' (want e.g. 0-31,40)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 't':
			w->connect_timeout_s = atof(optarg);
			break;
		case 'T':
			w->idle_timeout_s = atof(optarg);
			break;
		case 'f':
			if (parse_fault(w, optarg) != 0) {
				fprintf(stderr, "fcl-client: unknown --fault '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'v':
			fcl_log_set_level(FCL_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!w->endpoint || !w->ids || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

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

/* Waits up to timeout_s for one message. 0, -ETIMEDOUT, -EPROTO or -errno. */
static int recv_msg(struct worker *w, double timeout_s, struct fcl_msg *m)
{
	zmq_pollitem_t item = {.socket = w->sock, .events = ZMQ_POLLIN};
	zmq_msg_t body;
	int n = zmq_poll(&item, 1, (long)(timeout_s * 1000));
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
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
	if ((rc = fcl_mlp_init(&w->model, L, sizes, max_batch > batch ? max_batch : batch)) != 0 ||
	    (rc = fcl_train_scratch_init(&w->scratch, batch, w->sched.dim)) != 0)
		return rc;
	if (w->model.n_params != m->n_params) {
		fcl_error("model has %zu parameters here but %u at the coordinator",
			  w->model.n_params, m->n_params);
		return -EPROTO;
	}
	fcl_sgd_init(&w->opt, w->sc.train.lr, w->sc.train.momentum, w->sc.train.weight_decay);
	w->update = malloc(w->model.n_params * sizeof(float));
	w->clients = calloc(w->n_ids, sizeof *w->clients);
	w->perms = calloc(w->sched.n_tasks, sizeof *w->perms);
	if (!w->update || !w->clients || !w->perms)
		return -ENOMEM;
	for (uint32_t t = 0; t < w->sched.n_tasks; t++)
		w->perms[t] = w->sched.tasks[t].perm;
	for (size_t i = 0; i < w->n_ids; i++) {
		w->clients[i].id = w->ids[i];
		const struct fcl_strategy_config *st = fcl_scenario_strategy_of(&w->sc, w->ids[i]);
		rc = fcl_strategy_create(st, &w->loop, L, sizes, w->sc.seed, w->ids[i],
					 &w->clients[i].strategy);
		if (rc) {
			fcl_error("cannot create strategy %s for client %u: %s",
				  fcl_strategy_kind_name(st->kind), w->ids[i], strerror(-rc));
			return rc;
		}
	}
	fcl_info("scenario %s (hash %016llx, seed %llu) compiled: hosting %zu logical clients",
		 w->sc.name, (unsigned long long)m->scenario_hash, (unsigned long long)m->seed,
		 w->n_ids);
	return 0;
}

static struct logical_client *find_client(struct worker *w, uint32_t id)
{
	for (size_t i = 0; i < w->n_ids; i++)
		if (w->clients[i].id == id)
			return &w->clients[i];
	return NULL;
}

static int faulty(const struct worker *w, uint32_t id, enum fault_kind kind)
{
	return w->fault == kind && (w->fault_client < 0 || w->fault_client == (int64_t)id);
}

/* Trains one logical client from the global parameters and sends its update. */
static int train_one(struct worker *w, struct logical_client *lc, uint32_t round, uint32_t task,
		     const float *global)
{
	size_t n_params = w->model.n_params;
	size_t k = (size_t)lc->id * w->sched.n_tasks + task;
	const uint32_t *idx = w->sched.client_task_idx[k];
	uint32_t n = w->sched.client_task_n[k];
	if (w->loop.online) {
		/* Until the schedule gives per-round streams (issue 3): the j-th of a
		 * task's rounds_per_task rounds streams the j-th slice of its samples,
		 * so a task's data is seen once over its rounds. */
		uint32_t R = w->sched.rounds_per_task, j = round % R;
		uint32_t lo = (uint32_t)((uint64_t)n * j / R), hi = (uint32_t)((uint64_t)n * (j + 1) / R);
		idx += lo;
		n = hi - lo;
	}
	float loss = 0.0f;
	double t0 = fcl_now();

	memcpy(w->model.params, global, n_params * sizeof(float));
	fcl_sgd_reset(&w->opt);
	int rc = fcl_strategy_train(lc->strategy, &w->model, &w->opt, &w->train, w->perms, task,
				    idx, n, round, &loss);
	if (rc)
		return rc;
	if (fcl_schedule_is_task_end(&w->sched, round))
		fcl_strategy_end_task(lc->strategy, &w->model);
	for (size_t i = 0; i < n_params; i++)
		w->update[i] = w->model.params[i] - global[i];
	lc->rounds_trained++;
	lc->samples_seen += (uint64_t)n * (w->loop.online ? 1 : w->sc.train.local_epochs);

	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = lc->id,
			    .n_samples = n,
			    .values = w->update,
			    .n_values = n_params,
			    .loss = loss,
			    .train_seconds = fcl_now() - t0};
	if (faulty(w, lc->id, FAULT_WRONG_SIZE))
		m.n_values = n_params - 1;
	if (faulty(w, lc->id, FAULT_NAN))
		w->update[0] = NAN;
	fcl_debug("client %u round %u task %u: %u samples, loss %.4f, %.3f s, buffer %u "
		  "state %016llx",
		  lc->id, round, task, n, loss, m.train_seconds,
		  fcl_strategy_buffer_fill(lc->strategy),
		  (unsigned long long)fcl_strategy_checksum(lc->strategy));
	return send_msg(w, &m);
}

static int on_round_start(struct worker *w, const struct fcl_msg *m)
{
	if (m->n_values != w->model.n_params || m->task >= w->sched.n_tasks) {
		fcl_warn("round start with %zu parameters for task %u dropped", m->n_values,
			 m->task);
		return 0;
	}
	if (w->fault == FAULT_GARBAGE) {
		static const char junk[] = "\xff\xfe this is not a protobuf message \x01\x02";
		zmq_send(w->sock, junk, sizeof junk, 0);
	}
	for (size_t i = 0; i < m->n_ids; i++) {
		struct logical_client *lc = find_client(w, m->ids[i]);
		if (!lc) {
			fcl_warn("round %u assigns client %u, which is not hosted here", m->round,
				 m->ids[i]);
			continue;
		}
		int rc = train_one(w, lc, m->round, m->task, m->values);
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
				.ids = w->ids,
				.n_ids = w->n_ids,
				.pid = (uint32_t)getpid(),
				.hostname = host};
	int rc = send_msg(w, &hello);
	if (rc)
		return rc;
	int welcomed = 0;
	for (;;) {
		struct fcl_msg m;
		rc = recv_msg(w, welcomed ? w->idle_timeout_s : w->connect_timeout_s, &m);
		if (rc == -EPROTO)
			continue;
		if (rc == -ETIMEDOUT) {
			fcl_error(welcomed ? "no word from the coordinator at %s for %.0f s"
					   : "no coordinator answered at %s within %.0f s",
				  w->endpoint,
				  welcomed ? w->idle_timeout_s : w->connect_timeout_s);
			return rc;
		}
		if (rc)
			return rc;
		switch (m.type) {
		case FCL_MSG_WELCOME:
			rc = welcomed ? 0 : on_welcome(w, &m);
			welcomed = 1;
			break;
		case FCL_MSG_ROUND_START:
			rc = welcomed ? on_round_start(w, &m) : 0;
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
	if (parse_args(&w, argc, argv) != 0)
		return 2;
	snprintf(tag, sizeof tag, "client %u-%u", w.ids[0], w.ids[w.n_ids - 1]);
	fcl_log_set_tag(tag);
	w.ctx = zmq_ctx_new();
	w.sock = zmq_socket(w.ctx, ZMQ_DEALER);
	zmq_setsockopt(w.sock, ZMQ_SNDHWM, &zero, sizeof zero);
	zmq_setsockopt(w.sock, ZMQ_RCVHWM, &zero, sizeof zero);
	zmq_setsockopt(w.sock, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
	if (zmq_connect(w.sock, w.endpoint) != 0) {
		fprintf(stderr, "fcl-client: cannot connect to %s: %s\n", w.endpoint,
			zmq_strerror(errno));
		return 2;
	}
	rc = run(&w);
	/* Let the last updates leave before the socket closes. */
	int linger = 5000;
	zmq_setsockopt(w.sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_close(w.sock);
	zmq_ctx_term(w.ctx);
	free(w.ids);
	free(w.update);
	for (size_t i = 0; w.clients && i < w.n_ids; i++)
		fcl_strategy_destroy(w.clients[i].strategy);
	free(w.clients);
	free(w.perms);
	fcl_sgd_fini(&w.opt);
	fcl_train_scratch_fini(&w.scratch);
	fcl_mlp_fini(&w.model);
	fcl_schedule_fini(&w.sched);
	fcl_dataset_fini(&w.train);
	fcl_dataset_fini(&w.test);
	return rc ? 1 : 0;
}
