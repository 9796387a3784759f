/* client/main.c - fcl-client: a worker process hosting one or more logical clients
 *
 * It says hello with the ids it hosts, receives the scenario from the
 * coordinator (so it can never run another one), compiles it against its
 * local copy of the data, then for each round trains its assigned logical
 * clients in id order and sends one update per logical client.
 */
#include "fcl/data.h"
#include "fcl/fot.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
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
enum fault_kind {
	FAULT_NONE,
	FAULT_WRONG_SIZE,
	FAULT_NAN,
	FAULT_GARBAGE,
	FAULT_SCALE,     /* update *= factor (a Byzantine client, for robust rules) */
	FAULT_SIGN_FLIP, /* update = -update */
	FAULT_SKETCH_NAN, /* FOT: a NaN in every sketch */
};

/* What one logical client keeps for the whole run. */
struct logical_client {
	uint32_t id;
	uint32_t rounds_trained;
	uint64_t samples_seen;
	float *ci; /* (n_params) SCAFFOLD's control variate c_i, allocated at first use */
};

struct worker {
	const char *endpoint;
	uint32_t *ids;
	size_t n_ids;
	double connect_timeout_s, idle_timeout_s;
	enum fault_kind fault;
	uint32_t *fault_ids; /* NULL = every client */
	size_t n_fault_ids;
	float fault_scale;

	void *ctx, *sock;
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_sgd opt;
	struct fcl_train_scratch scratch;
	struct logical_client *clients; /* (n_ids) ascending by id */
	float *update;                  /* (n_params) */
	float *corr, *dc;               /* (n_params) SCAFFOLD: c - c_i, and c_i+ - c_i */
	/* FOT: one sketch per layer, sized at the first request */
	struct fcl_fot_sketch sk[FCL_MLP_MAX_LAYERS];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-client --connect ENDPOINT --ids RANGES [--connect-timeout S]\n"
		   "                  [--idle-timeout S] [--fault KIND[:CLIENT]] [--verbose]\n"
		   "  --ids    logical clients hosted here, e.g. 0-31 or 0-3,8\n"
		   "  --fault  for tests: wrong-size, nan, garbage, sign-flip, scale:F or sketch-nan,\n"
		   "           optionally for some clients only: e.g. sign-flip:0-1, scale:-4:3\n");
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
	else if (len == 9 && strncmp(spec, "sign-flip", len) == 0)
		w->fault = FAULT_SIGN_FLIP;
	else if (len == 10 && strncmp(spec, "sketch-nan", len) == 0)
		w->fault = FAULT_SKETCH_NAN;
	else if (len == 5 && strncmp(spec, "scale", len) == 0 && colon) {
		char *end;
		w->fault = FAULT_SCALE;
		w->fault_scale = strtof(colon + 1, &end);
		if (end == colon + 1 || (*end && *end != ':'))
			return -EINVAL;
		colon = *end ? end : NULL;
	} else
		return -EINVAL;
	if (colon && fcl_parse_ids(colon + 1, &w->fault_ids, &w->n_fault_ids) != 0)
		return -EINVAL;
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
	if ((rc = fcl_mlp_init(&w->model, L, sizes, batch)) != 0 ||
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
	if (!w->update || !w->clients)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_ids; i++)
		w->clients[i].id = w->ids[i];
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
	if (w->fault != kind)
		return 0;
	if (!w->fault_ids)
		return 1;
	for (size_t i = 0; i < w->n_fault_ids; i++)
		if (w->fault_ids[i] == id)
			return 1;
	return 0;
}

/* FOT: checks a sketch request against the model; 0 or -EPROTO. */
static int check_request(const struct worker *w, const struct fcl_msg *m)
{
	size_t total = 0;
	if (m->sk_layers != w->model.n_layers)
		return -EPROTO;
	for (size_t l = 0; l < m->sk_layers; l++) {
		if (m->sk_dims[l] != w->model.sizes[l] || m->sk_basis_cols[l] > m->sk_dims[l] ||
		    m->sk_cols[l] == 0 || m->sk_cols[l] > 64u * m->sk_dims[l])
			return -EPROTO;
		total += (size_t)m->sk_dims[l] * m->sk_basis_cols[l];
	}
	if (total != m->n_sk_bases)
		return -EPROTO;
	for (size_t i = 0; i < m->n_sk_bases; i++)
		if (!isfinite(m->sk_bases[i]))
			return -EPROTO;
	return 0;
}

/* FOT: sketches the input activations of every layer over the client's task
 * data, from its just-trained model (no dropout: the MLP is in evaluation form),
 * and sends one Sketch per layer. G_i comes from the client's own stream. */
static int sketch_one(struct worker *w, struct logical_client *lc, uint32_t round,
		      uint32_t task, const struct fcl_msg *req)
{
	size_t k = (size_t)lc->id * w->sched.n_tasks + task;
	const uint32_t *idx = w->sched.client_task_idx[k];
	uint32_t n = w->sched.client_task_n[k], L = w->model.n_layers, B = w->sc.train.batch_size;
	struct fcl_rng rng[FCL_MLP_MAX_LAYERS];
	const float *U[FCL_MLP_MAX_LAYERS];
	size_t off = 0;
	int rc;

	for (uint32_t l = 0; l < L; l++) {
		struct fcl_fot_sketch *sk = &w->sk[l];
		if (sk->Y && sk->c != req->sk_cols[l])
			fcl_fot_sketch_fini(sk);
		if (!sk->Y && (rc = fcl_fot_sketch_init(sk, req->sk_dims[l], req->sk_cols[l], B,
							 req->sk_dims[l])) != 0)
			return rc;
		fcl_fot_sketch_reset(sk);
		fcl_rng_init(&rng[l], w->sc.seed, FCL_RNG_SKETCH, lc->id,
			     task * FCL_MLP_MAX_LAYERS + l);
		U[l] = req->sk_basis_cols[l] ? req->sk_bases + off : NULL;
		off += (size_t)req->sk_dims[l] * req->sk_basis_cols[l];
	}
	for (uint32_t i = 0; i < n; i += B) {
		size_t b = n - i < B ? n - i : B;
		fcl_dataset_gather(&w->train, idx + i, b, w->sched.tasks[task].perm, w->scratch.x,
				   w->scratch.y);
		fcl_mlp_forward(&w->model, w->scratch.x, b);
		for (uint32_t l = 0; l < L; l++)
			fcl_fot_sketch_add(&w->sk[l], w->model.acts[l], b, U[l],
					   req->sk_basis_cols[l], &rng[l]);
	}
	for (uint32_t l = 0; l < L; l++) {
		if (faulty(w, lc->id, FAULT_SKETCH_NAN))
			w->sk[l].Y[0] = NAN;
		struct fcl_msg m = {.type = FCL_MSG_SKETCH,
				    .round = round,
				    .client_id = lc->id,
				    .layer = l,
				    .rows = (uint32_t)w->sk[l].d,
				    .cols = (uint32_t)w->sk[l].c,
				    .values = w->sk[l].Y,
				    .n_values = w->sk[l].d * w->sk[l].c,
				    .ratio = fcl_fot_sketch_ratio(&w->sk[l], (enum fcl_k_rule)req->k_rule),
				    .n_samples = w->sk[l].n};
		if ((rc = send_msg(w, &m)) != 0)
			return rc;
	}
	return 0;
}

/* Trains one logical client from the global parameters and sends its update. */
static int train_one(struct worker *w, struct logical_client *lc, uint32_t round, uint32_t task,
		     const float *global, const float *control)
{
	size_t n_params = w->model.n_params;
	size_t k = (size_t)lc->id * w->sched.n_tasks + task;
	const uint32_t *idx = w->sched.client_task_idx[k];
	uint32_t n = w->sched.client_task_n[k];
	struct fcl_rng rng;
	float loss = 0.0f;
	double t0 = fcl_now();

	memcpy(w->model.params, global, n_params * sizeof(float));
	fcl_sgd_reset(&w->opt);
	w->opt.grad_offset = NULL;
	if (control) { /* SCAFFOLD: correct every gradient by c - c_i */
		if (!lc->ci && !(lc->ci = calloc(n_params, sizeof(float))))
			return -ENOMEM;
		if ((!w->corr && !(w->corr = malloc(n_params * sizeof(float)))) ||
		    (!w->dc && !(w->dc = malloc(n_params * sizeof(float)))))
			return -ENOMEM;
		for (size_t i = 0; i < n_params; i++)
			w->corr[i] = control[i] - lc->ci[i];
		w->opt.grad_offset = w->corr;
	}
	if (w->sc.aggregation.rule == FCL_RULE_FEDPROX) {
		w->opt.prox_mu = w->sc.aggregation.mu; /* (mu/2)|w - w_global|^2 */
		w->opt.prox_anchor = global;
	}
	fcl_rng_init(&rng, w->sc.seed, FCL_RNG_LOCAL_SHUFFLE, lc->id, round);
	int rc = fcl_train_epochs(&w->model, &w->opt, &w->scratch, &w->train, idx, n,
				  w->sched.tasks[task].perm, w->sc.train.local_epochs, &rng, &loss);
	if (rc)
		return rc;
	for (size_t i = 0; i < n_params; i++)
		w->update[i] = w->model.params[i] - global[i];
	lc->rounds_trained++;
	if (control) { /* c_i+ = c_i - c + (x - y) / (K lr);  x - y = -update */
		uint32_t B = w->sc.train.batch_size;
		double K = (double)((n + B - 1) / B) * w->sc.train.local_epochs;
		double scale = K > 0 ? 1.0 / (K * (double)w->sc.train.lr) : 0.0;
		for (size_t i = 0; i < n_params; i++) {
			w->dc[i] = (float)(-(double)control[i] - scale * (double)w->update[i]);
			lc->ci[i] += w->dc[i];
		}
	}
	lc->samples_seen += (uint64_t)n * w->sc.train.local_epochs;

	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = lc->id,
			    .n_samples = n,
			    .values = w->update,
			    .n_values = n_params,
			    .loss = loss,
			    .train_seconds = fcl_now() - t0,
			    .control = control ? w->dc : NULL,
			    .n_control = control ? n_params : 0};
	if (faulty(w, lc->id, FAULT_WRONG_SIZE))
		m.n_values = n_params - 1;
	if (faulty(w, lc->id, FAULT_NAN))
		w->update[0] = NAN;
	if (faulty(w, lc->id, FAULT_SCALE) || faulty(w, lc->id, FAULT_SIGN_FLIP)) {
		float f = w->fault == FAULT_SCALE ? w->fault_scale : -1.0f;
		for (size_t i = 0; i < n_params; i++)
			w->update[i] *= f;
	}
	fcl_debug("client %u round %u task %u: %u samples, loss %.4f, %.3f s", lc->id, round, task,
		  n, loss, m.train_seconds);
	return send_msg(w, &m);
}

static int on_round_start(struct worker *w, const struct fcl_msg *m)
{
	if (m->n_values != w->model.n_params || m->task >= w->sched.n_tasks) {
		fcl_warn("round start with %zu parameters for task %u dropped", m->n_values,
			 m->task);
		return 0;
	}
	if (m->sketch_requested && check_request(w, m) != 0) {
		fcl_warn("round start %u with a malformed sketch request dropped", m->round);
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
		const float *control = m->n_control == w->model.n_params ? m->control : NULL;
		int rc = train_one(w, lc, m->round, m->task, m->values, control);
		if (!rc && m->sketch_requested)
			rc = sketch_one(w, lc, m->round, m->task, m);
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
		free(w.clients[i].ci);
	free(w.clients);
	free(w.corr);
	free(w.dc);
	free(w.fault_ids);
	for (uint32_t l = 0; l < FCL_MLP_MAX_LAYERS; l++)
		fcl_fot_sketch_fini(&w.sk[l]);
	fcl_sgd_fini(&w.opt);
	fcl_train_scratch_fini(&w.scratch);
	fcl_mlp_fini(&w.model);
	fcl_schedule_fini(&w.sched);
	fcl_dataset_fini(&w.train);
	fcl_dataset_fini(&w.test);
	return rc ? 1 : 0;
}
