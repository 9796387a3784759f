/* common/src/wire.c - the only code that touches the protobuf-c generated types */
#include "fcl/wire.h"

#include "fcl.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *fcl_msg_type_name(enum fcl_msg_type type)
{
	static const char *const names[] = {"none",   "hello",    "welcome", "round_start",
					    "client_update", "shutdown", "error", "sketch"};
	return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

int fcl_wire_encode(const struct fcl_msg *m, uint8_t **buf, size_t *len)
{
	Fcl__V1__Envelope env = FCL__V1__ENVELOPE__INIT;
	Fcl__V1__Hello hello = FCL__V1__HELLO__INIT;
	Fcl__V1__Welcome welcome = FCL__V1__WELCOME__INIT;
	Fcl__V1__RoundStart start = FCL__V1__ROUND_START__INIT;
	Fcl__V1__ClientUpdate update = FCL__V1__CLIENT_UPDATE__INIT;
	Fcl__V1__Shutdown shutdown = FCL__V1__SHUTDOWN__INIT;
	Fcl__V1__Error error = FCL__V1__ERROR__INIT;
	Fcl__V1__SketchRequest req = FCL__V1__SKETCH_REQUEST__INIT;
	Fcl__V1__Sketch sketch = FCL__V1__SKETCH__INIT;

	env.round = m->round;
	env.client_id = m->client_id;
	/* protobuf-c's structs are not const-correct; it never writes through these. */
	switch (m->type) {
	case FCL_MSG_HELLO:
		hello.protocol_version = m->protocol_version;
		hello.client_ids = (uint32_t *)m->ids;
		hello.n_client_ids = m->n_ids;
		hello.pid = m->pid;
		hello.hostname = (char *)(m->hostname ? m->hostname : "");
		env.body_case = FCL__V1__ENVELOPE__BODY_HELLO;
		env.hello = &hello;
		break;
	case FCL_MSG_WELCOME:
		welcome.protocol_version = m->protocol_version;
		welcome.scenario_text = (char *)(m->scenario_text ? m->scenario_text : "");
		welcome.scenario_name = (char *)(m->scenario_name ? m->scenario_name : "");
		welcome.scenario_hash = m->scenario_hash;
		welcome.seed = m->seed;
		welcome.n_params = m->n_params;
		env.body_case = FCL__V1__ENVELOPE__BODY_WELCOME;
		env.welcome = &welcome;
		break;
	case FCL_MSG_ROUND_START:
		start.task = m->task;
		start.params = (float *)m->values;
		start.n_params = m->n_values;
		start.client_ids = (uint32_t *)m->ids;
		start.n_client_ids = m->n_ids;
		start.control = (float *)m->control;
		start.n_control = m->n_control;
		if (m->sketch_requested) {
			req.dims = (uint32_t *)m->sk_dims;
			req.n_dims = m->sk_layers;
			req.basis_cols = (uint32_t *)m->sk_basis_cols;
			req.n_basis_cols = m->sk_layers;
			req.sketch_cols = (uint32_t *)m->sk_cols;
			req.n_sketch_cols = m->sk_layers;
			req.bases = (float *)m->sk_bases;
			req.n_bases = m->n_sk_bases;
			req.k_rule = m->k_rule;
			start.sketch = &req;
		}
		env.body_case = FCL__V1__ENVELOPE__BODY_ROUND_START;
		env.round_start = &start;
		break;
	case FCL_MSG_CLIENT_UPDATE:
		update.n_samples = m->n_samples;
		update.update = (float *)m->values;
		update.n_update = m->n_values;
		update.loss = m->loss;
		update.train_seconds = m->train_seconds;
		update.control_delta = (float *)m->control;
		update.n_control_delta = m->n_control;
		env.body_case = FCL__V1__ENVELOPE__BODY_CLIENT_UPDATE;
		env.client_update = &update;
		break;
	case FCL_MSG_SKETCH:
		sketch.layer = m->layer;
		sketch.rows = m->rows;
		sketch.cols = m->cols;
		sketch.y = (float *)m->values;
		sketch.n_y = m->n_values;
		sketch.ratio = m->ratio;
		sketch.n_samples = m->n_samples;
		env.body_case = FCL__V1__ENVELOPE__BODY_SKETCH;
		env.sketch = &sketch;
		break;
	case FCL_MSG_SHUTDOWN:
		shutdown.reason = (char *)(m->text ? m->text : "");
		env.body_case = FCL__V1__ENVELOPE__BODY_SHUTDOWN;
		env.shutdown = &shutdown;
		break;
	case FCL_MSG_ERROR:
		error.code = m->code;
		error.message = (char *)(m->text ? m->text : "");
		env.body_case = FCL__V1__ENVELOPE__BODY_ERROR;
		env.error = &error;
		break;
	default:
		return -EINVAL;
	}
	size_t n = fcl__v1__envelope__get_packed_size(&env);
	uint8_t *out = malloc(n ? n : 1);
	if (!out)
		return -ENOMEM;
	*len = fcl__v1__envelope__pack(&env, out);
	*buf = out;
	return 0;
}

int fcl_wire_decode(const void *buf, size_t len, struct fcl_msg *m)
{
	memset(m, 0, sizeof *m);
	Fcl__V1__Envelope *env = fcl__v1__envelope__unpack(NULL, len, buf);
	if (!env)
		return -EPROTO;
	m->round = env->round;
	m->client_id = env->client_id;
	switch (env->body_case) {
	case FCL__V1__ENVELOPE__BODY_HELLO:
		m->type = FCL_MSG_HELLO;
		m->protocol_version = env->hello->protocol_version;
		m->ids = env->hello->client_ids;
		m->n_ids = env->hello->n_client_ids;
		m->pid = env->hello->pid;
		m->hostname = env->hello->hostname;
		break;
	case FCL__V1__ENVELOPE__BODY_WELCOME:
		m->type = FCL_MSG_WELCOME;
		m->protocol_version = env->welcome->protocol_version;
		m->scenario_text = env->welcome->scenario_text;
		m->scenario_name = env->welcome->scenario_name;
		m->scenario_hash = env->welcome->scenario_hash;
		m->seed = env->welcome->seed;
		m->n_params = env->welcome->n_params;
		break;
	case FCL__V1__ENVELOPE__BODY_ROUND_START:
		m->type = FCL_MSG_ROUND_START;
		m->task = env->round_start->task;
		m->values = env->round_start->params;
		m->n_values = env->round_start->n_params;
		m->ids = env->round_start->client_ids;
		m->n_ids = env->round_start->n_client_ids;
		m->control = env->round_start->control;
		m->n_control = env->round_start->n_control;
		if (env->round_start->sketch) {
			const Fcl__V1__SketchRequest *r = env->round_start->sketch;
			/* the three per-layer lists must agree */
			if (r->n_dims != r->n_basis_cols || r->n_dims != r->n_sketch_cols) {
				fcl__v1__envelope__free_unpacked(env, NULL);
				memset(m, 0, sizeof *m);
				return -EPROTO;
			}
			m->sketch_requested = 1;
			m->sk_layers = r->n_dims;
			m->sk_dims = r->dims;
			m->sk_basis_cols = r->basis_cols;
			m->sk_cols = r->sketch_cols;
			m->sk_bases = r->bases;
			m->n_sk_bases = r->n_bases;
			m->k_rule = r->k_rule;
		}
		break;
	case FCL__V1__ENVELOPE__BODY_SKETCH:
		m->type = FCL_MSG_SKETCH;
		m->layer = env->sketch->layer;
		m->rows = env->sketch->rows;
		m->cols = env->sketch->cols;
		m->values = env->sketch->y;
		m->n_values = env->sketch->n_y;
		m->ratio = env->sketch->ratio;
		m->n_samples = env->sketch->n_samples;
		break;
	case FCL__V1__ENVELOPE__BODY_CLIENT_UPDATE:
		m->type = FCL_MSG_CLIENT_UPDATE;
		m->n_samples = env->client_update->n_samples;
		m->values = env->client_update->update;
		m->n_values = env->client_update->n_update;
		m->loss = env->client_update->loss;
		m->train_seconds = env->client_update->train_seconds;
		m->control = env->client_update->control_delta;
		m->n_control = env->client_update->n_control_delta;
		break;
	case FCL__V1__ENVELOPE__BODY_SHUTDOWN:
		m->type = FCL_MSG_SHUTDOWN;
		m->text = env->shutdown->reason;
		break;
	case FCL__V1__ENVELOPE__BODY_ERROR:
		m->type = FCL_MSG_ERROR;
		m->code = env->error->code;
		m->text = env->error->message;
		break;
	default:
		fcl__v1__envelope__free_unpacked(env, NULL);
		memset(m, 0, sizeof *m);
		return -EPROTO;
	}
	m->decoded_ = env;
	return 0;
}

void fcl_msg_free(struct fcl_msg *m)
{
	if (m->decoded_)
		fcl__v1__envelope__free_unpacked(m->decoded_, NULL);
	memset(m, 0, sizeof *m);
}
