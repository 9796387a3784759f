/* client/worker.c - what one fcl-client process hosts, and its rounds
 *
 * The welcome carries the scenario (so the process can never run another
 * one); the worker compiles it against its local copy of the data, then for
 * each round start trains its assigned logical clients in id order and sends
 * one update per logical client, followed by the rule's extra messages; or,
 * for rules that need only the weighted sum of the updates
 * (fcl_rule_partial_sums), checks each update as the coordinator would, adds
 * the good ones to one fixed-point partial sum (fcl/fixsum.h: the bits do not
 * depend on which process sums what) and sends that, with a record per
 * participant, once its participants are done. Rules whose extra messages
 * add up too (fcl_rule_sums_answers: FOT's sketches) get each message of a
 * participant whose update is in the partial sum (keep_answer) and send their
 * own sum of them after it (send_answer_sum). The logical clients' states
 * for checkpoints are worker_state.c's (worker-private.h).
 */
#include "worker-private.h"

#include "fcl/data.h"
#include "fcl/fixsum.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int worker_create(struct client_opts *o, struct conn *c, struct worker **out)
{
	struct worker *w = calloc(1, sizeof *w);

	if (!w)
		return -ENOMEM;
	w->opts = o;
	w->conn = c;
	w->restore_client = -1;
	*out = w;
	return 0;
}

/* Frees what make_clients made. */
static void drop_clients(struct worker *w)
{
	for (size_t i = 0; i < w->n_clients; i++) {
		fcl_strategy_destroy(w->clients[i].strategy);
		fcl_rule_client_free(&w->rule, w->clients[i].rule_state);
	}
	free(w->clients);
	w->n_clients = w->cap_clients = 0;
	free(w->perms);
	free(w->update);
	fcl_fixsum_fini(&w->psum);
	free((void *)w->precords.ids);
	free((void *)w->precords.rec_samples);
	free((void *)w->precords.rec_loss);
	free((void *)w->precords.rec_train_s);
	free((void *)w->precords.rec_rejected);
	memset(&w->precords, 0, sizeof w->precords);
	w->clients = NULL;
	w->perms = NULL;
	w->update = NULL;
}

void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	free(w->restore_buf);
	drop_clients(w);
	fcl_rule_worker_fini(&w->rule);
	fcl_sgd_fini(&w->opt);
	fcl_mlp_fini(&w->model);
	fcl_schedule_fini(&w->sched);
	fcl_dataset_fini(&w->train);
	fcl_dataset_fini(&w->test);
	free(w);
}

/* ---- the welcome ---------------------------------------------------------- */

/* Parses the welcome's scenario and compiles it against the local data.
 * On failure nothing is left to fini. */
static int compile_scenario(struct worker *w, const struct fcl_msg *m)
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
	/* relative paths resolve against the coordinator's scenario folder, as there */
	if ((rc = fcl_scenario_parse_at(&w->sc, m->scenario_text, len, "<coordinator>",
					m->scenario_dir && m->scenario_dir[0] ? m->scenario_dir
									      : NULL,
					err, sizeof err)) != 0) {
		fcl_error("scenario from the coordinator: %s", err);
		return rc;
	}
	w->sc.seed = m->seed;
	if ((rc = fcl_schedule_load_data(&w->sc, &w->train, &w->test, err, sizeof err)) != 0) {
		fcl_error("%s", err);
		return rc;
	}
	if ((rc = fcl_schedule_compile(&w->sched, &w->sc, &w->train, &w->test)) != 0)
		goto err_data;
	return 0;
err_data:
	fcl_dataset_fini(&w->train);
	fcl_dataset_fini(&w->test);
	return rc;
}

/* The model's architecture into w->arch: its layers on the data's samples. */
static int make_arch(struct worker *w)
{
	char err[320];
	int rc = fcl_scenario_arch(&w->sc, w->sched.shape, w->sched.n_classes, &w->arch, err,
				   sizeof err);
	if (rc)
		fcl_error("%s", err);
	return rc;
}

/* The training loop's settings, the model (of the coordinator's size) and
 * the optimiser. On failure nothing is left to fini. */
static int make_model(struct worker *w, uint32_t n_params)
{
	uint32_t batch = w->sc.train.batch_size;
	int rc;

	w->loop = fcl_scenario_loop(&w->sc);
	size_t max_batch = fcl_loop_max_batch(&w->loop);
	if ((rc = fcl_model_init(&w->model, &w->arch, max_batch > batch ? max_batch : batch)) != 0)
		return rc;
	if (w->model.n_params != n_params) {
		fcl_error("model has %zu parameters here but %u at the coordinator",
			  w->model.n_params, n_params);
		fcl_mlp_fini(&w->model);
		return -EPROTO;
	}
	fcl_sgd_init(&w->opt, w->sc.train.lr, w->sc.train.momentum, w->sc.train.weight_decay);
	return 0;
}

/* The update buffer and the task permutations (the logical clients come
 * when they first train: worker__get_client). On failure nothing is left to free. */
static int make_clients(struct worker *w)
{
	w->update = malloc(w->model.n_params * sizeof(float));
	w->perms = calloc(w->sched.n_tasks, sizeof *w->perms);
	if (!w->update || !w->perms) {
		drop_clients(w);
		return -ENOMEM;
	}
	for (uint32_t t = 0; t < w->sched.n_tasks; t++)
		w->perms[t] = w->sched.tasks[t].perm;
	if ((w->partial = fcl_rule_partial_sums(&w->sc)) != 0) {
		size_t n = w->opts->n_ids;
		w->sum_answers = fcl_rule_sums_answers(w->sc.aggregation.rule);
		/* the coordinator's range: room for clients.per_round updates */
		int rc = fcl_fixsum_init(&w->psum, w->model.n_params, FCL_FIXSUM_FRAC_BITS,
					 w->sc.clients.per_round);
		if (rc) {
			drop_clients(w);
			return rc;
		}
		w->precords.ids = malloc(n * sizeof(uint32_t));
		w->precords.rec_samples = malloc(n * sizeof(uint64_t));
		w->precords.rec_loss = malloc(n * sizeof(float));
		w->precords.rec_train_s = malloc(n * sizeof(double));
		w->precords.rec_rejected = malloc(n * sizeof(uint32_t));
		if (!w->precords.ids || !w->precords.rec_samples || !w->precords.rec_loss ||
		    !w->precords.rec_train_s || !w->precords.rec_rejected) {
			drop_clients(w);
			return -ENOMEM;
		}
	}
	return 0;
}

int worker_on_welcome(struct worker *w, const struct fcl_msg *m)
{
	int rc;

	if ((rc = compile_scenario(w, m)) != 0)
		return rc;
	if ((rc = make_arch(w)) != 0 || (rc = make_model(w, m->n_params)) != 0)
		goto err_schedule;
	if ((rc = fcl_rule_worker_init(&w->rule, &w->sc, &w->sched, &w->train, &w->model)) != 0) {
		fcl_error("cannot set up rule %s: %s", w->sc.aggregation.rule->name, strerror(-rc));
		goto err_rule;
	}
	if ((rc = make_clients(w)) != 0)
		goto err_rule;
	/* from now on nothing larger than the scenario's largest valid message */
	w->conn->max_bytes = fcl_rule_max_message_bytes(&w->sc, w->model.n_layers, w->model.sizes, w->model.n_params,
							w->sched.n_clients, &w->model.arch);
	fcl_info("scenario %s (hash %016llx, seed %llu) compiled: hosting %zu logical clients, "
		 "schedule digest %016llx",
		 w->sc.name, (unsigned long long)m->scenario_hash, (unsigned long long)m->seed,
		 w->opts->n_ids, (unsigned long long)fcl_schedule_digest(&w->sched));
	return 0;
err_rule:
	/* also after a failed init: a rule may leave part of its state there */
	fcl_rule_worker_fini(&w->rule);
	memset(&w->rule, 0, sizeof w->rule);
	fcl_sgd_fini(&w->opt);
	fcl_mlp_fini(&w->model);
err_schedule:
	fcl_schedule_fini(&w->sched);
	fcl_dataset_fini(&w->train);
	fcl_dataset_fini(&w->test);
	return rc;
}

/* ---- the round ------------------------------------------------------------ */

/* Sends m with the encoding and sending time not yet reported, and counts
 * its own for the next message. */
static int send_timed(struct worker *w, struct fcl_msg *m)
{
	double t0 = fcl_now();
	m->send_seconds = w->send_s;
	int rc = conn_send(w->conn, m);
	w->sent_at = fcl_now();
	w->send_s = rc ? m->send_seconds : w->sent_at - t0;
	return rc;
}

/* Sends a participant's extra message for the rule (fcl_answer_fn); the time
 * since the last message went is what computing it took (FOT: a sketch). */
static int send_rule_message(void *sink, uint32_t client, const struct fcl_extras *x)
{
	struct worker *w = sink;
	struct fcl_msg m = {.type = FCL_MSG_RULE,
			    .round = w->round,
			    .client_id = client,
			    .extras = *x,
			    .dispatch = w->dispatch,
			    .rule_seconds = fcl_now() - w->sent_at};
	int rc = faults_on_rule_message(&w->opts->faults, client, &m.extras);

	return rc ? rc : send_timed(w, &m);
}

/* With partial sums, for rules whose messages add up (fcl_answer_fn): the
 * message goes to the rule's own sum instead of the wire, faults first (a
 * spoilt sketch must be kept out by the process's checks). */
static int keep_rule_message(void *sink, uint32_t client, const struct fcl_extras *x)
{
	struct worker *w = sink;
	struct fcl_extras copy = *x;
	int rc = faults_on_rule_message(&w->opts->faults, client, &copy);

	w->rule_s += fcl_now() - w->sent_at;
	rc = rc ? rc : fcl_rule_keep_answer(&w->rule, client, &copy);
	w->sent_at = fcl_now();
	return rc;
}

/* The rule's sum of the round's kept messages (fcl_answer_sum_fn), after the
 * partial sum of updates: one message for every participant of the process. */
static int send_answer_sum(void *sink, const struct fcl_answer_sum *s)
{
	struct worker *w = sink;
	struct fcl_msg m = {.type = FCL_MSG_RULE,
			    .round = w->round,
			    .client_id = -1,
			    .dispatch = w->dispatch,
			    .rule_seconds = w->rule_s,
			    .sum = s->sum,
			    .n_sum = s->n_sum,
			    .frac_bits = s->frac_bits,
			    .addends = s->addends,
			    .ids = s->ids,
			    .n_ids = s->n_ids,
			    .rec_rejected = s->rejected};
	w->rule_s = 0;
	return send_timed(w, &m);
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

/* Trains lc on the round's n samples idx (n > 0, cr->task >= 0); `draws`
 * seeds the shuffles and replay draws. */
static int train_samples(struct worker *w, struct logical_client *lc,
			 const struct fcl_client_round *cr, const uint32_t *idx, uint32_t n,
			 uint32_t draws, float *loss)
{
	uint8_t mask[256];

	if (w->sched.task_incremental)
		task_mask(w, cr, mask);
	struct fcl_train_round tr = {.ds = &w->train,
				     .perms = w->perms,
				     .task = (uint32_t)cr->task,
				     .idx = idx,
				     .n = n,
				     .epochs = cr->epochs,
				     .round = draws,
				     .task_mask = w->sched.task_incremental ? mask : NULL};
	return fcl_strategy_train(lc->strategy, &w->model, &w->opt, &tr, loss);
}

static int all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/* Update m into the round's partial sum, after the coordinator's own checks
 * of a single update (enum fcl_reject); its record either way. Returns the
 * reason it stays out (FCL_REJECT_NONE: in the sum). A client's second update
 * in one round has no record and no reason of the wire's: it returns
 * FCL_REJECT_N, which only says "not in the sum" to the caller. */
static uint32_t partial_add(struct worker *w, const struct fcl_msg *m)
{
	struct fcl_msg *p = &w->precords;
	uint32_t bad = FCL_REJECT_NONE;
	size_t k = p->n_ids;

	if (k >= w->opts->n_ids) { /* a round start naming a client twice */
		fcl_warn("round %u: client %lld trained twice; its second update is not sent",
			 m->round, (long long)m->client_id);
		return FCL_REJECT_N;
	}
	if (m->n_values != w->model.n_params)
		bad = FCL_REJECT_SIZE;
	else if (m->n_samples == 0 || m->n_samples > w->train.n)
		bad = FCL_REJECT_SAMPLES;
	else if (!all_finite(m->values, m->n_values) || !fcl_extras_finite(&m->extras))
		bad = FCL_REJECT_FINITE;
	else {
		double wt = fcl_rule_weight(w->rule.rule, w->sc.aggregation.params, m->n_samples,
					    fcl_agg_local_steps(&w->sc, m->n_samples));
		if (fcl_fixsum_add_scaled(&w->psum, m->values, wt) != 0)
			bad = FCL_REJECT_RANGE;
	}
	if (bad)
		fcl_warn("round %u: client %lld's update stays out of the partial sum: %s",
			 m->round, (long long)m->client_id, fcl_reject_name(bad));
	((uint32_t *)p->ids)[k] = (uint32_t)m->client_id;
	((uint64_t *)p->rec_samples)[k] = m->n_samples;
	((float *)p->rec_loss)[k] = m->loss;
	((double *)p->rec_train_s)[k] = m->train_seconds;
	((uint32_t *)p->rec_rejected)[k] = bad;
	p->n_ids++;
	return bad;
}

/* The round's partial sum and records, once its participants are done. */
static int partial_send(struct worker *w)
{
	struct fcl_msg m = w->precords;
	m.type = FCL_MSG_PARTIAL;
	m.round = w->round;
	m.client_id = -1;
	m.dispatch = w->dispatch;
	m.frac_bits = w->psum.frac_bits;
	m.addends = (uint32_t)w->psum.addends;
	m.sum = w->psum.v;
	m.n_sum = w->psum.addends ? w->psum.n : 0;
	return conn_send(w->conn, &m);
}

/* After training on n samples: the update (local - global) with the rule's
 * extras, sent with the rule's extra messages. */
static int send_update(struct worker *w, struct logical_client *lc, struct fcl_local_round *lr,
		       const struct fcl_client_round *cr, uint32_t n, float loss, double t0)
{
	size_t n_params = w->model.n_params;
	struct fcl_extras extras;
	int rc;

	for (size_t i = 0; i < n_params; i++)
		w->update[i] = w->model.params[i] - lr->global[i];
	lc->rounds_trained++;
	uint32_t B = w->sc.train.batch_size;
	lr->n_samples = n;
	lr->local_steps = (uint32_t)((n + B - 1) / B) * cr->epochs;
	if ((rc = fcl_rule_after_train(&w->rule, lr, w->update, &extras)) != 0)
		return rc;
	lc->samples_seen += (uint64_t)n * cr->epochs;

	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = lr->round,
			    .client_id = lc->id,
			    .n_samples = n,
			    .values = w->update,
			    .n_values = n_params,
			    .loss = loss,
			    .train_seconds = fcl_now() - t0,
			    .extras = extras,
			    .dispatch = w->dispatch};
	if (fcl_strategy_bn_sent(&w->sc, &w->model.arch)) /* FedBN's per-client evaluation */
		m.bn = fcl_strategy_bn_state(lc->strategy, &m.n_bn);
	faults_on_update(&w->opts->faults, lc->id, &m, w->update);
	fcl_debug("client %u round %u task %d: %u samples, loss %.4f, %.3f s, buffer %u "
		  "state %016llx",
		  lc->id, lr->round, cr->task, n, loss, m.train_seconds,
		  fcl_strategy_buffer_fill(lc->strategy),
		  (unsigned long long)fcl_strategy_checksum(lc->strategy));
	if (w->partial) {
		/* an update its process keeps out is rejected: no message of its is awaited */
		if (partial_add(w, &m) != FCL_REJECT_NONE)
			return 0;
		w->sent_at = fcl_now(); /* the rule's messages are timed from the update */
	} else if ((rc = send_timed(w, &m)) != 0) {
		return rc;
	}
	return fcl_rule_send_answers(&w->rule, lr,
				     w->sum_answers ? keep_rule_message : send_rule_message, w);
}

/* Trains one logical client from the global parameters on its data of `round`
 * and sends its update; `draws` seeds its random draws. */
static int train_one(struct worker *w, struct logical_client *lc, uint32_t round, uint32_t draws,
		     const float *global, const struct fcl_extras *request)
{
	struct fcl_client_round cr;
	float loss = 0.0f;
	double t0 = fcl_now();
	uint32_t *mixed = NULL;
	int rc;

	if (faults_oom(&w->opts->faults, lc->id))
		return -ENOMEM;
	/* The round's slice of this client's stream, from the compiled scenario. */
	fcl_schedule_client_round(&w->sched, lc->id, round, &cr);
	uint32_t n = cr.n + cr.n_rec;
	const uint32_t *idx = cr.idx;
	if (cr.n_rec) { /* recurrence: old tasks' samples join the round's own */
		mixed = malloc((size_t)n * sizeof *mixed);
		if (!mixed)
			return -ENOMEM;
		memcpy(mixed, cr.idx, cr.n * sizeof *mixed);
		memcpy(mixed + cr.n, cr.rec_idx, cr.n_rec * sizeof *mixed);
		idx = mixed;
	}
	memcpy(w->model.params, global, w->model.n_params * sizeof(float));
	fcl_sgd_reset(&w->opt);
	w->opt.grad_hook = NULL;
	struct fcl_local_round lr = {.client = lc->id,
				     .round = round,
				     .task = cr.task,
				     .request = request,
				     .global = global,
				     .opt = &w->opt,
				     .state = &lc->rule_state};
	if ((rc = fcl_rule_before_train(&w->rule, &lr)) != 0)
		goto out;
	if (cr.task < 0 || n == 0) {
		/* Not ours to train this round (the coordinator samples only clients
		 * with data): answer at once with no samples, which it rejects. */
		fcl_warn("round %u: client %u has no data this round", round, lc->id);
		n = 0;
	} else {
		faults_before_train(&w->opts->faults, lc->id);
		rc = train_samples(w, lc, &cr, idx, n, draws, &loss);
	}
out:
	free(mixed);
	if (rc)
		return rc;
	/* Weight aligning at the task's end, on the global clock. */
	if (n && fcl_schedule_is_task_end(&w->sched, round))
		fcl_strategy_end_task(lc->strategy, &w->model);
	return send_update(w, lc, &lr, &cr, n, loss, t0);
}

/* Where id is, or would go, in the created clients (binary search). */
static size_t client_slot(const struct worker *w, uint32_t id)
{
	size_t lo = 0, hi = w->n_clients;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->clients[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int worker__hosts(const struct worker *w, uint32_t id)
{
	size_t lo = 0, hi = w->opts->n_ids;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->opts->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->opts->n_ids && w->opts->ids[lo] == id;
}

int worker__get_client(struct worker *w, uint32_t id, struct logical_client **out)
{
	size_t at = client_slot(w, id);
	struct fcl_strategy *st = NULL;
	int rc;

	if (at < w->n_clients && w->clients[at].id == id) {
		*out = &w->clients[at];
		return 0;
	}
	if (!worker__hosts(w, id))
		return -ENOENT;
	if (w->n_clients == w->cap_clients) {
		size_t cap = w->cap_clients ? 2 * w->cap_clients : 64;
		struct logical_client *c = realloc(w->clients, cap * sizeof *c);
		if (!c)
			return -ENOMEM;
		w->clients = c;
		w->cap_clients = cap;
	}
	const struct fcl_strategy_config *cfg = fcl_scenario_strategy_of(&w->sc, id);
	if ((rc = fcl_strategy_create_arch(cfg, &w->loop, &w->arch, w->sc.seed, id, &st)) != 0) {
		fcl_error("cannot create strategy %s for client %u: %s", fcl_strategy_name(cfg), id,
			  strerror(-rc));
		return rc;
	}
	memmove(&w->clients[at + 1], &w->clients[at], (w->n_clients - at) * sizeof *w->clients);
	w->clients[at] = (struct logical_client){.id = id, .strategy = st};
	w->n_clients++;
	*out = &w->clients[at];
	return 0;
}

void worker__reset_client(struct worker *w, uint32_t id)
{
	size_t at = client_slot(w, id);

	if (at == w->n_clients || w->clients[at].id != id)
		return;
	fcl_strategy_destroy(w->clients[at].strategy);
	fcl_rule_client_free(&w->rule, w->clients[at].rule_state);
	memmove(&w->clients[at], &w->clients[at + 1], (w->n_clients - at - 1) * sizeof *w->clients);
	w->n_clients--;
}

int worker_on_round_start(struct worker *w, const struct fcl_msg *m)
{
	const void *junk;
	size_t junk_len;

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
	w->dispatch = m->dispatch;
	/* A client may train more than once in a round when it is asynchronous or
	 * when tasks run in simulated time: then each job's draws are its own. */
	uint32_t draws =
	    m->dispatch && fcl_scenario_draws_per_job(&w->sc) ? (uint32_t)m->dispatch : m->round;
	if (w->opts->round_delay_s > 0)
		usleep((useconds_t)(w->opts->round_delay_s * 1e6));
	/* junk for the coordinator to count and drop; whether it arrived is the test's to see */
	if ((junk_len = faults_garbage(&w->opts->faults, &junk)) != 0)
		(void)conn_send_bytes(w->conn, junk, junk_len);
	if (w->partial) {
		fcl_fixsum_zero(&w->psum);
		w->precords.n_ids = 0;
	}
	for (size_t i = 0; i < m->n_ids; i++) {
		struct logical_client *lc;
		int rc = worker__get_client(w, m->ids[i], &lc);
		if (rc == -ENOENT) {
			fcl_warn("round %u assigns client %u, which is not hosted here", m->round,
				 m->ids[i]);
			continue;
		}
		if (rc == 0)
			rc = train_one(w, lc, m->round, draws, m->values, &m->extras);
		if (rc)
			return rc;
	}
	if (!w->partial || !w->precords.n_ids)
		return 0;
	int rc = partial_send(w);
	/* after the updates, so the coordinator knows whose are accepted */
	return rc || !w->sum_answers ? rc : fcl_rule_send_answer_sum(&w->rule, send_answer_sum, w);
}
