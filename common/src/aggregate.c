/* common/src/aggregate.c - the rule runtime: what every rule shares, and the
 * calls through which the coordinator and the client process reach a rule */
#include "fcl/rule.h"
#include "fcl/wire.h"

#include "agg-private.h"

#include "fcl/strategy.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct fcl_key_choice fcl_agg_weightings[] = {{"samples", 1}, {"uniform", 0}, {NULL, 0}};

int fcl_extras_finite(const struct fcl_extras *x)
{
	for (uint32_t t = 0; t < x->n_tensors; t++) {
		size_t n = (size_t)x->t[t].rows * x->t[t].cols;
		for (size_t i = 0; i < n; i++)
			if (!isfinite(x->t[t].v[i]))
				return 0;
	}
	for (uint32_t i = 0; i < x->n_reals; i++)
		if (!isfinite(x->reals[i]))
			return 0;
	return 1;
}

size_t fcl_extras_bytes(const struct fcl_extras *x)
{
	size_t b = x->n_ints * sizeof(uint64_t) + x->n_reals * sizeof(double);
	for (uint32_t t = 0; t < x->n_tensors; t++)
		b += (size_t)x->t[t].rows * x->t[t].cols * sizeof(float);
	return b;
}

/* Protobuf's framing around the values: a few tags and lengths per tensor
 * and field, varints of up to 10 bytes where fcl_extras_bytes counts 8. */
#define ENCODING_SLACK ((uint64_t)64 << 10)

uint64_t fcl_rule_max_message_bytes(const struct fcl_scenario *sc, uint32_t n_layers,
				    const uint32_t *sizes, size_t n_params, uint32_t n_clients,
				    const struct fcl_arch *arch)
{
	const struct fcl_rule *rule = sc->aggregation.rule;
	uint64_t extras = rule && rule->max_extras_bytes
			      ? rule->max_extras_bytes(sc->aggregation.params, n_layers, sizes,
						       n_params, arch)
			      : 0;
	/* FedBN's per-client evaluation: an update carries the client's batchnorm values */
	uint64_t bn = arch ? (uint64_t)fcl_strategy_bn_sent(sc, arch) * sizeof(float) : 0;
	/* round start or update: parameters, extras, ids (varints of <= 5 bytes) */
	uint64_t params = (uint64_t)n_params * sizeof(float) + extras + bn +
			  (uint64_t)n_clients * 5 + FCL_EXTRAS_MAX * (uint64_t)32;
	uint64_t piece = FCL_STATE_PIECE_BYTES; /* checkpoints: one piece of a state */
	return (params > piece ? params : piece) + ENCODING_SLACK;
}

/* ---- server side ---------------------------------------------------------- */

const char *fcl_agg_name(const struct fcl_agg *a)
{
	return a->rule->name;
}

int fcl_agg_create(const struct fcl_scenario *sc, const struct fcl_mlp *m,
		   const struct fcl_agg_env *env, struct fcl_agg **out)
{
	const struct fcl_rule *rule = sc->aggregation.rule;
	if (!rule || !rule->combine || m->n_layers > FCL_MLP_MAX_LAYERS)
		return -EINVAL;
	struct fcl_agg *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->rule = rule;
	a->sc = *sc;
	a->params = a->sc.aggregation.params;
	if (env)
		a->env = *env;
	a->n_params = m->n_params;
	a->n_layers = m->n_layers;
	for (uint32_t l = 0; l < m->n_layers; l++) {
		a->layers[l].w_offset = m->w_offset[l];
		a->layers[l].n_in = m->sizes[l];
		a->layers[l].n_out = m->sizes[l + 1];
	}
	for (uint32_t i = 0; i < m->arch.n_body; i++) {
		const struct fcl_layer *L = &m->arch.layers[i];
		if (L->s.kind != FCL_LAYER_CONV2D)
			continue;
		a->convs[a->n_convs++] = (struct fcl_agg_layer){
		    .w_offset = L->w_off,
		    .n_in = (size_t)L->in.c * L->s.kernel * L->s.kernel,
		    .n_out = L->out.c};
	}
	a->acc = calloc(a->n_params, sizeof *a->acc);
	a->delta = calloc(a->n_params, sizeof *a->delta);
	int rc = (!a->acc || !a->delta) ? -ENOMEM : 0;
	/* room for a round's updates (simulated time: the coordinator's copy says its slots) */
	if (!rc)
		rc = fcl_fixsum_init(&a->sum, a->n_params, FCL_FIXSUM_FRAC_BITS,
				     sc->clients.per_round ? sc->clients.per_round : 1);
	if (!rc && rule->init)
		rc = rule->init(a);
	if (rc) {
		fcl_agg_destroy(a);
		return rc;
	}
	*out = a;
	return 0;
}

void fcl_agg_destroy(struct fcl_agg *a)
{
	if (!a)
		return;
	if (a->rule->fini)
		a->rule->fini(a);
	free(a->acc);
	free(a->delta);
	fcl_fixsum_fini(&a->sum);
	free(a);
}

int fcl_rule_sums_only(const struct fcl_rule *rule)
{
	return rule->sum_weight && !rule->accept_update;
}

double fcl_rule_weight(const struct fcl_rule *rule, const void *params, uint64_t n_samples,
		       uint32_t local_steps)
{
	return rule->sum_weight ? rule->sum_weight(params, n_samples, local_steps)
				: (double)n_samples;
}

uint32_t fcl_agg_local_steps(const struct fcl_scenario *sc, uint64_t n_samples)
{
	uint32_t B = sc->train.batch_size;
	return (uint32_t)((n_samples + B - 1) / B) * sc->train.local_epochs;
}

int fcl_rule_sums_answers(const struct fcl_rule *rule)
{
	return rule->keep_answer && rule->send_answer_sum && rule->accept_answer_sum;
}

int fcl_rule_partial_sums(const struct fcl_scenario *sc)
{
	return fcl_rule_sums_only(sc->aggregation.rule) && !fcl_scenario_timed(sc) &&
	       !sc->eval.local_models;
}

int fcl_agg_add_update(struct fcl_agg *a, const float *delta, uint64_t n_samples)
{
	if (!a->rule->sum_weight)
		return 0;
	double w =
	    fcl_rule_weight(a->rule, a->params, n_samples, fcl_agg_local_steps(&a->sc, n_samples));
	int rc = fcl_fixsum_add_scaled(&a->sum, delta, w);
	if (!rc)
		a->sum_ready = 1;
	return rc;
}

void fcl_agg_sum_reset(struct fcl_agg *a)
{
	fcl_fixsum_zero(&a->sum);
	a->sum_ready = 0;
}

int fcl_agg_add_partial(struct fcl_agg *a, const int64_t *v, uint64_t addends)
{
	int rc = fcl_fixsum_add_raw(&a->sum, v, addends);
	if (!rc)
		a->sum_ready = 1;
	return rc;
}

/* a->sum from the updates with weights w(i), unless it arrived as partial sums. */
static int build_sum(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted,
		     int by_rule)
{
	if (a->sum_ready)
		return 0;
	fcl_fixsum_zero(&a->sum);
	for (size_t i = 0; i < n; i++) {
		double w =
		    by_rule ? fcl_rule_weight(a->rule, a->params, u[i].n_samples, u[i].local_steps)
		    : weighted ? (double)u[i].n_samples
			       : 1.0;
		int rc = fcl_fixsum_add_scaled(&a->sum, u[i].delta, w);
		if (rc)
			return rc;
	}
	return 0;
}

int fcl_agg_sum(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	return build_sum(a, u, n, 1, 1);
}

int fcl_agg_mean(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted)
{
	double total = 0.0;
	int rc;

	for (size_t i = 0; i < n; i++)
		total += weighted ? (double)u[i].n_samples : 1.0;
	if (total <= 0.0) {
		memset(a->acc, 0, a->n_params * sizeof *a->acc);
		return 0;
	}
	if ((rc = build_sum(a, u, n, weighted, 0)) != 0)
		return rc;
	fcl_fixsum_to_double(&a->sum, 1.0 / total, a->acc);
	return 0;
}

int fcl_agg_mean_delta(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted)
{
	int rc = fcl_agg_mean(a, u, n, weighted);
	for (size_t k = 0; !rc && k < a->n_params; k++)
		a->delta[k] = (float)a->acc[k];
	return rc;
}

int fcl_agg_combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	if (n == 0) {
		a->sum_ready = 0;
		return 0;
	}
	int rc = a->rule->combine(a, u, n);
	a->sum_ready = 0; /* the next round's sum starts afresh */
	if (!rc)
		a->steps++;
	return rc;
}

int fcl_agg_step(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, float *params)
{
	if (n == 0)
		return 0;
	int rc = fcl_agg_combine(a, u, n);
	if (rc)
		return rc;
	for (size_t k = 0; k < a->n_params; k++)
		params[k] += a->delta[k];
	return 0;
}

int fcl_agg_request(struct fcl_agg *a, const struct fcl_round_info *r, struct fcl_extras *out)
{
	memset(out, 0, sizeof *out);
	return a->rule->request ? a->rule->request(a, r, out) : 0;
}

uint32_t fcl_agg_answers(const struct fcl_agg *a, const struct fcl_round_info *r)
{
	return a->rule->answers ? a->rule->answers(a, r) : 0;
}

int fcl_agg_accept_update(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			  const struct fcl_extras *x, const char **why)
{
	return a->rule->accept_update ? a->rule->accept_update(a, r, slot, x, why) : 0;
}

int fcl_agg_accept_answer(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			  const struct fcl_extras *x, size_t bytes, const char **why)
{
	if (!a->rule->accept_answer) {
		*why = "the rule expects no such message";
		return -EPROTO;
	}
	return a->rule->accept_answer(a, r, slot, x, bytes, why);
}

int fcl_agg_accept_answer_sum(struct fcl_agg *a, const struct fcl_round_info *r, const int64_t *v,
			      size_t n, uint32_t addends, size_t bytes, const char **why)
{
	if (!a->rule->accept_answer_sum) {
		*why = "the rule expects no sum of messages";
		return -EPROTO;
	}
	return a->rule->accept_answer_sum(a, r, v, n, addends, bytes, why);
}

int fcl_agg_round_end(struct fcl_agg *a, const struct fcl_round_info *r,
		      const struct fcl_agg_update *u, size_t n)
{
	return a->rule->round_end ? a->rule->round_end(a, r, u, n) : 0;
}

#define STATE_MAGIC 0x41474c43u /* "CLGA" */

int fcl_agg_save(const struct fcl_agg *a, FILE *f)
{
	char name[32] = {0};
	uint32_t magic = STATE_MAGIC;
	snprintf(name, sizeof name, "%s", a->rule->name);
	if (fwrite(&magic, sizeof magic, 1, f) != 1 || fwrite(name, sizeof name, 1, f) != 1 ||
	    fwrite(&a->steps, sizeof a->steps, 1, f) != 1)
		return -EIO;
	return a->rule->save ? a->rule->save(a, f) : 0;
}

int fcl_agg_load(struct fcl_agg *a, FILE *f)
{
	char name[32];
	uint32_t magic;
	uint64_t steps;
	if (fread(&magic, sizeof magic, 1, f) != 1 || fread(name, sizeof name, 1, f) != 1 ||
	    fread(&steps, sizeof steps, 1, f) != 1)
		return -EIO;
	name[sizeof name - 1] = '\0';
	if (magic != STATE_MAGIC || strcmp(name, a->rule->name) != 0)
		return -EINVAL;
	int rc = a->rule->load ? a->rule->load(a, f) : 0;
	if (!rc)
		a->steps = steps;
	return rc;
}

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return (a > b) - (a < b);
}

void fcl__sort_floats(float *v, size_t n)
{
	if (n > 32) {
		qsort(v, n, sizeof *v, cmp_float);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		float x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* ---- client side ---------------------------------------------------------- */

int fcl_rule_worker_init(struct fcl_rule_worker *w, const struct fcl_scenario *sc,
			 const struct fcl_schedule *sched, const struct fcl_dataset *train,
			 struct fcl_mlp *model)
{
	memset(w, 0, sizeof *w);
	w->rule = sc->aggregation.rule;
	w->sc = sc;
	w->sched = sched;
	w->train = train;
	w->model = model;
	return w->rule->worker_init ? w->rule->worker_init(w) : 0;
}

void fcl_rule_worker_fini(struct fcl_rule_worker *w)
{
	if (w->rule && w->rule->worker_fini)
		w->rule->worker_fini(w);
	w->state = NULL;
}

int fcl_rule_check_request(struct fcl_rule_worker *w, const struct fcl_extras *req,
			   const char **why)
{
	if (!w->rule->check_request) {
		*why = "the rule sends no request";
		return req->n_tensors || req->n_ints || req->n_reals ? -EPROTO : 0;
	}
	return w->rule->check_request(w, req, why);
}

int fcl_rule_before_train(struct fcl_rule_worker *w, struct fcl_local_round *lr)
{
	return w->rule->before_train ? w->rule->before_train(w, lr) : 0;
}

int fcl_rule_after_train(struct fcl_rule_worker *w, struct fcl_local_round *lr, const float *update,
			 struct fcl_extras *out)
{
	memset(out, 0, sizeof *out);
	return w->rule->after_train ? w->rule->after_train(w, lr, update, out) : 0;
}

int fcl_rule_send_answers(struct fcl_rule_worker *w, struct fcl_local_round *lr, fcl_answer_fn send,
			  void *sink)
{
	return w->rule->send_answers ? w->rule->send_answers(w, lr, send, sink) : 0;
}

int fcl_rule_keep_answer(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x)
{
	return w->rule->keep_answer ? w->rule->keep_answer(w, client, x) : -EPROTO;
}

int fcl_rule_send_answer_sum(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink)
{
	return w->rule->send_answer_sum ? w->rule->send_answer_sum(w, send, sink) : 0;
}

void fcl_rule_client_free(const struct fcl_rule_worker *w, void *state)
{
	if (state && w->rule && w->rule->client_state_free)
		w->rule->client_state_free(state);
}

#define CLIENT_MAGIC 0x43434c46u /* "FLCC" */

int fcl_rule_client_save(const struct fcl_rule_worker *w, const void *state, FILE *f)
{
	char name[32] = {0};
	uint32_t magic = CLIENT_MAGIC;
	snprintf(name, sizeof name, "%s", w->rule->name);
	int rc = fcl_fput(f, &magic, sizeof magic);
	rc = rc ? rc : fcl_fput(f, name, sizeof name);
	if (rc || !w->rule->client_state_save)
		return rc;
	return w->rule->client_state_save(w, state, f);
}

int fcl_rule_client_load(struct fcl_rule_worker *w, void **state, FILE *f)
{
	char name[32];
	uint32_t magic;
	int rc = fcl_fget(f, &magic, sizeof magic);
	rc = rc ? rc : fcl_fget(f, name, sizeof name);
	if (rc)
		return rc;
	name[sizeof name - 1] = '\0';
	if (magic != CLIENT_MAGIC || strcmp(name, w->rule->name) != 0)
		return -EINVAL;
	if (!w->rule->client_state_load) {
		fcl_rule_client_free(w, *state);
		*state = NULL;
		return 0;
	}
	return w->rule->client_state_load(w, state, f);
}
