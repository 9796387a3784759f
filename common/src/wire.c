/* common/src/wire.c - the only code that touches the protobuf-c generated types */
#include "fcl/wire.h"

#include "fcl.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *fcl_msg_type_name(enum fcl_msg_type type)
{
	static const char *const names[] = {
	    "none", "hello", "welcome", "round_start", "client_update", "shutdown", "error",
	    "rule", "save",  "state",   "restore",     "restored",      "partial"};
	return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

const char *fcl_reject_name(uint32_t why)
{
	static const char *const names[] = {"accepted",
					    "wrong number of parameters",
					    "implausible sample count",
					    "non-finite values",
					    "beyond the fixed-point range of the sum",
					    "refused by the rule"};
	return why < FCL_REJECT_N ? names[why] : "unknown reason";
}

/* The partial's view of m (borrowed). */
static void encode_partial(const struct fcl_msg *m, Fcl__V1__PartialUpdate *p)
{
	p->sum = (int64_t *)m->sum;
	p->n_sum = m->n_sum;
	p->frac_bits = m->frac_bits;
	p->addends = m->addends;
	p->dispatch = m->dispatch;
	p->client_ids = (uint32_t *)m->ids;
	p->n_samples = (uint64_t *)m->rec_samples;
	p->loss = (float *)m->rec_loss;
	p->train_seconds = (double *)m->rec_train_s;
	p->rejected = (uint32_t *)m->rec_rejected;
	p->n_client_ids = p->n_n_samples = p->n_loss = p->n_train_seconds = p->n_rejected =
	    m->n_ids;
}

/* 1 when every record array has one entry per client. */
static int decode_partial(const Fcl__V1__PartialUpdate *p, struct fcl_msg *m)
{
	size_t n = p->n_client_ids;
	m->sum = p->sum;
	m->n_sum = p->n_sum;
	m->frac_bits = p->frac_bits;
	m->addends = p->addends;
	m->dispatch = p->dispatch;
	m->ids = p->client_ids;
	m->n_ids = n;
	m->rec_samples = p->n_samples;
	m->rec_loss = p->loss;
	m->rec_train_s = p->train_seconds;
	m->rec_rejected = p->rejected;
	return p->n_n_samples == n && p->n_loss == n && p->n_train_seconds == n &&
	       p->n_rejected == n;
}

/* Points the protobuf view at x's arrays; NULL when x is empty. */
static Fcl__V1__Extras *encode_extras(const struct fcl_extras *x, Fcl__V1__Extras *e,
				      Fcl__V1__Tensor *t, Fcl__V1__Tensor **tp)
{
	if (!x->n_tensors && !x->n_ints && !x->n_reals)
		return NULL;
	for (uint32_t i = 0; i < x->n_tensors; i++) {
		fcl__v1__tensor__init(&t[i]);
		t[i].rows = x->t[i].rows;
		t[i].cols = x->t[i].cols;
		t[i].values = (float *)x->t[i].v;
		t[i].n_values = (size_t)x->t[i].rows * x->t[i].cols;
		tp[i] = &t[i];
	}
	e->tensors = tp;
	e->n_tensors = x->n_tensors;
	e->ints = (uint64_t *)x->ints;
	e->n_ints = x->n_ints;
	e->reals = (double *)x->reals;
	e->n_reals = x->n_reals;
	return e;
}

/* 1 when the decoded extras fit and every tensor holds rows x cols values. */
static int decode_extras(const Fcl__V1__Extras *e, struct fcl_extras *x)
{
	memset(x, 0, sizeof *x);
	if (!e)
		return 1;
	if (e->n_tensors > FCL_EXTRAS_MAX || e->n_ints > FCL_EXTRAS_MAX ||
	    e->n_reals > FCL_EXTRAS_MAX)
		return 0;
	for (size_t i = 0; i < e->n_tensors; i++) {
		const Fcl__V1__Tensor *t = e->tensors[i];
		if ((uint64_t)t->rows * t->cols != t->n_values)
			return 0;
		x->t[i] = (struct fcl_tensor){.v = t->values, .rows = t->rows, .cols = t->cols};
	}
	x->n_tensors = (uint32_t)e->n_tensors;
	x->n_ints = (uint32_t)e->n_ints;
	x->n_reals = (uint32_t)e->n_reals;
	if (e->n_ints) /* memcpy from NULL is undefined even for 0 bytes */
		memcpy(x->ints, e->ints, e->n_ints * sizeof *x->ints);
	if (e->n_reals)
		memcpy(x->reals, e->reals, e->n_reals * sizeof *x->reals);
	return 1;
}

/* A state piece's view of m (borrowed). */
static Fcl__V1__StatePiece *encode_piece(const struct fcl_msg *m, Fcl__V1__StatePiece *p)
{
	p->offset = m->offset;
	p->total = m->total;
	p->data.data = (uint8_t *)m->data;
	p->data.len = m->n_data;
	return p;
}

/* 1 when the piece fits inside its state. */
static int decode_piece(const Fcl__V1__StatePiece *p, struct fcl_msg *m)
{
	m->offset = p->offset;
	m->total = p->total;
	m->data = p->data.data;
	m->n_data = p->data.len;
	return m->offset <= m->total && m->n_data <= m->total - m->offset &&
	       m->n_data <= FCL_STATE_PIECE_BYTES;
}

/* One case per message type (111 lines): the whole mapping reads best in one place. */
int fcl_wire_encode(const struct fcl_msg *m, uint8_t **buf, size_t *len)
{
	Fcl__V1__Envelope env = FCL__V1__ENVELOPE__INIT;
	Fcl__V1__Hello hello = FCL__V1__HELLO__INIT;
	Fcl__V1__Welcome welcome = FCL__V1__WELCOME__INIT;
	Fcl__V1__RoundStart start = FCL__V1__ROUND_START__INIT;
	Fcl__V1__ClientUpdate update = FCL__V1__CLIENT_UPDATE__INIT;
	Fcl__V1__Shutdown shutdown = FCL__V1__SHUTDOWN__INIT;
	Fcl__V1__Error error = FCL__V1__ERROR__INIT;
	Fcl__V1__RuleMessage rule = FCL__V1__RULE_MESSAGE__INIT;
	Fcl__V1__Extras extras = FCL__V1__EXTRAS__INIT;
	Fcl__V1__SaveState save = FCL__V1__SAVE_STATE__INIT;
	Fcl__V1__StatePiece piece = FCL__V1__STATE_PIECE__INIT;
	Fcl__V1__Restored restored = FCL__V1__RESTORED__INIT;
	Fcl__V1__PartialUpdate partial = FCL__V1__PARTIAL_UPDATE__INIT;
	Fcl__V1__Tensor tensors[FCL_EXTRAS_MAX], *tptr[FCL_EXTRAS_MAX];
	if (m->extras.n_tensors > FCL_EXTRAS_MAX || m->extras.n_ints > FCL_EXTRAS_MAX ||
	    m->extras.n_reals > FCL_EXTRAS_MAX)
		return -EINVAL;
	Fcl__V1__Extras *x = encode_extras(&m->extras, &extras, tensors, tptr);

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
		hello.blas_core = (char *)(m->blas_core ? m->blas_core : "");
		hello.blas_version = (char *)(m->blas_version ? m->blas_version : "");
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
		welcome.scenario_dir = (char *)(m->scenario_dir ? m->scenario_dir : "");
		env.body_case = FCL__V1__ENVELOPE__BODY_WELCOME;
		env.welcome = &welcome;
		break;
	case FCL_MSG_ROUND_START:
		start.task = m->task;
		start.params = (float *)m->values;
		start.n_params = m->n_values;
		start.client_ids = (uint32_t *)m->ids;
		start.n_client_ids = m->n_ids;
		start.rule = x;
		start.dispatch = m->dispatch;
		env.body_case = FCL__V1__ENVELOPE__BODY_ROUND_START;
		env.round_start = &start;
		break;
	case FCL_MSG_CLIENT_UPDATE:
		update.n_samples = m->n_samples;
		update.update = (float *)m->values;
		update.n_update = m->n_values;
		update.loss = m->loss;
		update.bn = (float *)m->bn;
		update.n_bn = m->n_bn;
		update.train_seconds = m->train_seconds;
		update.send_seconds = m->send_seconds;
		update.rule = x;
		update.dispatch = m->dispatch;
		env.body_case = FCL__V1__ENVELOPE__BODY_CLIENT_UPDATE;
		env.client_update = &update;
		break;
	case FCL_MSG_RULE:
		rule.rule = x;
		rule.dispatch = m->dispatch;
		rule.rule_seconds = m->rule_seconds;
		rule.send_seconds = m->send_seconds;
		rule.sum = (int64_t *)m->sum;
		rule.n_sum = m->n_sum;
		rule.frac_bits = m->frac_bits;
		rule.addends = m->addends;
		rule.client_ids = (uint32_t *)m->ids;
		rule.rejected = (uint32_t *)m->rec_rejected;
		rule.n_client_ids = rule.n_rejected = m->rec_rejected ? m->n_ids : 0;
		env.body_case = FCL__V1__ENVELOPE__BODY_RULE_MESSAGE;
		env.rule_message = &rule;
		break;
	case FCL_MSG_SAVE:
		env.body_case = FCL__V1__ENVELOPE__BODY_SAVE_STATE;
		env.save_state = &save;
		break;
	case FCL_MSG_STATE:
		env.body_case = FCL__V1__ENVELOPE__BODY_STATE;
		env.state = encode_piece(m, &piece);
		break;
	case FCL_MSG_RESTORE:
		env.body_case = FCL__V1__ENVELOPE__BODY_RESTORE;
		env.restore = encode_piece(m, &piece);
		break;
	case FCL_MSG_RESTORED:
		env.body_case = FCL__V1__ENVELOPE__BODY_RESTORED;
		env.restored = &restored;
		break;
	case FCL_MSG_PARTIAL:
		encode_partial(m, &partial);
		env.body_case = FCL__V1__ENVELOPE__BODY_PARTIAL;
		env.partial = &partial;
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

/* The mapping back, one case per message type (88 lines), as fcl_wire_encode. */
int fcl_wire_decode(const void *buf, size_t len, struct fcl_msg *m)
{
	memset(m, 0, sizeof *m);
	Fcl__V1__Envelope *env = fcl__v1__envelope__unpack(NULL, len, buf);
	if (!env)
		return -EPROTO;
	int ok = 1;
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
		m->blas_core = env->hello->blas_core;
		m->blas_version = env->hello->blas_version;
		break;
	case FCL__V1__ENVELOPE__BODY_WELCOME:
		m->type = FCL_MSG_WELCOME;
		m->protocol_version = env->welcome->protocol_version;
		m->scenario_text = env->welcome->scenario_text;
		m->scenario_name = env->welcome->scenario_name;
		m->scenario_hash = env->welcome->scenario_hash;
		m->seed = env->welcome->seed;
		m->n_params = env->welcome->n_params;
		m->scenario_dir = env->welcome->scenario_dir;
		break;
	case FCL__V1__ENVELOPE__BODY_ROUND_START:
		m->type = FCL_MSG_ROUND_START;
		m->task = env->round_start->task;
		m->values = env->round_start->params;
		m->n_values = env->round_start->n_params;
		m->ids = env->round_start->client_ids;
		m->n_ids = env->round_start->n_client_ids;
		m->dispatch = env->round_start->dispatch;
		ok = decode_extras(env->round_start->rule, &m->extras);
		break;
	case FCL__V1__ENVELOPE__BODY_RULE_MESSAGE:
		m->type = FCL_MSG_RULE;
		m->dispatch = env->rule_message->dispatch;
		m->rule_seconds = env->rule_message->rule_seconds;
		m->send_seconds = env->rule_message->send_seconds;
		m->sum = env->rule_message->sum;
		m->n_sum = env->rule_message->n_sum;
		m->frac_bits = env->rule_message->frac_bits;
		m->addends = env->rule_message->addends;
		m->ids = env->rule_message->client_ids;
		m->n_ids = env->rule_message->n_client_ids;
		m->rec_rejected = env->rule_message->rejected;
		ok = decode_extras(env->rule_message->rule, &m->extras) &&
		     env->rule_message->n_rejected == m->n_ids;
		break;
	case FCL__V1__ENVELOPE__BODY_CLIENT_UPDATE:
		m->type = FCL_MSG_CLIENT_UPDATE;
		m->n_samples = env->client_update->n_samples;
		m->values = env->client_update->update;
		m->n_values = env->client_update->n_update;
		m->loss = env->client_update->loss;
		m->bn = env->client_update->bn;
		m->n_bn = env->client_update->n_bn;
		m->train_seconds = env->client_update->train_seconds;
		m->send_seconds = env->client_update->send_seconds;
		m->dispatch = env->client_update->dispatch;
		ok = decode_extras(env->client_update->rule, &m->extras);
		break;
	case FCL__V1__ENVELOPE__BODY_SAVE_STATE:
		m->type = FCL_MSG_SAVE;
		break;
	case FCL__V1__ENVELOPE__BODY_STATE:
		m->type = FCL_MSG_STATE;
		ok = decode_piece(env->state, m);
		break;
	case FCL__V1__ENVELOPE__BODY_RESTORE:
		m->type = FCL_MSG_RESTORE;
		ok = decode_piece(env->restore, m);
		break;
	case FCL__V1__ENVELOPE__BODY_RESTORED:
		m->type = FCL_MSG_RESTORED;
		break;
	case FCL__V1__ENVELOPE__BODY_PARTIAL:
		m->type = FCL_MSG_PARTIAL;
		ok = decode_partial(env->partial, m);
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
		ok = 0;
		break;
	}
	if (!ok) {
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
