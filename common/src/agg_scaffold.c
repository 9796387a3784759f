/* common/src/agg_scaffold.c - SCAFFOLD (Karimireddy et al. 2020), option II.
 *
 * Server: the round start carries the control variate c; each update carries
 * Delta c_i = c_i+ - c_i; then
 *   x += server_lr * mean(Delta y)     (weighted as aggregation.weighting)
 *   c += (|S| / N) * mean(Delta c)     (uniform over the round's S of N clients)
 * Client: every local gradient is corrected by c - c_i (the optimiser's
 * gradient hook); after training c_i+ = c_i - c + (x - y_i) / (K lr), with K
 * the local steps; c_i is kept per logical client for the whole run.
 * Both sums are fixed-point sums (fcl/fixsum.h): their bits do not depend on
 * the order of the updates. */
#include "fcl/rule.h"
#include "fcl/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct scaffold_params {
	int weighted;
	float server_lr;
};

static const struct fcl_key keys[] = {
    FCL_KEY_CHOICE("weighting", struct scaffold_params, weighted, fcl_agg_weightings,
		   "weight each update by its samples, or uniformly"),
    FCL_KEY_F32("server_lr", struct scaffold_params, server_lr, 0, FCL_OPEN, HUGE_VAL, 0,
		"global step size eta_g"),
    {0},
};

/* w_i in the sum of updates: samples or 1 (fcl/rule.h) */
static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)local_steps;
	return ((const struct scaffold_params *)params)->weighted ? (double)n_samples : 1.0;
}

static void defaults(void *params)
{
	*(struct scaffold_params *)params =
	    (struct scaffold_params){.weighted = 1, .server_lr = 1.0f};
}

/* ---- server ---------------------------------------------------------------- */

struct scaffold_state {
	float *c;   /* (n_params) */
	float **dc; /* (n_slots)(n_params) this round's Delta c_i by participant slot */
	uint32_t n_slots;
	struct fcl_fixsum dc_sum; /* sum of the accepted Delta c_i */
};

static int init(struct fcl_agg *a)
{
	struct scaffold_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	a->state = st;
	st->n_slots = a->sc.clients.per_round;
	st->c = calloc(a->n_params, sizeof *st->c);
	st->dc = calloc(st->n_slots, sizeof *st->dc);
	if (!st->c || !st->dc)
		return -ENOMEM;
	int rc = fcl_fixsum_init(&st->dc_sum, a->n_params, FCL_FIXSUM_FRAC_BITS, st->n_slots);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < st->n_slots; i++)
		if (!(st->dc[i] = malloc(a->n_params * sizeof(float))))
			return -ENOMEM;
	return 0;
}

static void fini(struct fcl_agg *a)
{
	struct scaffold_state *st = a->state;
	if (!st)
		return;
	for (uint32_t i = 0; st->dc && i < st->n_slots; i++)
		free(st->dc[i]);
	free(st->dc);
	free(st->c);
	fcl_fixsum_fini(&st->dc_sum);
	free(st);
	a->state = NULL;
}

static int request(struct fcl_agg *a, const struct fcl_round_info *r, struct fcl_extras *out)
{
	const struct scaffold_state *st = a->state;
	(void)r;
	out->n_tensors = 1;
	out->t[0] = (struct fcl_tensor){.v = st->c, .rows = 1, .cols = (uint32_t)a->n_params};
	return 0;
}

static int accept_update(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			 const struct fcl_extras *x, const char **why)
{
	struct scaffold_state *st = a->state;
	(void)r;
	if (x->n_tensors != 1 || (size_t)x->t[0].rows * x->t[0].cols != a->n_params ||
	    slot >= st->n_slots) {
		*why = "missing or wrong-sized control variate";
		return -EPROTO;
	}
	if (!fcl_fixsum_fits(&st->dc_sum, x->t[0].v, 1.0)) {
		*why = "control variate beyond the fixed-point range";
		return -EPROTO;
	}
	memcpy(st->dc[slot], x->t[0].v, a->n_params * sizeof(float));
	return 0;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	struct scaffold_state *st = a->state;
	const struct scaffold_params *p = a->params;
	float eta = p->server_lr;
	for (size_t i = 0; i < n; i++)
		if (u[i].slot >= st->n_slots)
			return -EPROTO;
	int rc = fcl_agg_mean(a, u, n, p->weighted);
	if (rc)
		return rc;
	for (size_t k = 0; k < a->n_params; k++)
		a->delta[k] = eta * (float)a->acc[k];
	/* c += (|S| / N) mean(Delta c) = sum(Delta c) / N */
	double share = 1.0 / (double)a->sc.clients.count;
	fcl_fixsum_zero(&st->dc_sum);
	for (size_t i = 0; i < n && !rc; i++)
		rc = fcl_fixsum_add_scaled(&st->dc_sum, st->dc[u[i].slot], 1.0);
	for (size_t k = 0; !rc && k < a->n_params; k++)
		st->c[k] += (float)(fcl_fixsum_get(&st->dc_sum, k) * share);
	return rc;
}

static int save(const struct fcl_agg *a, FILE *f)
{
	const struct scaffold_state *st = a->state;
	return fwrite(st->c, sizeof(float), a->n_params, f) == a->n_params ? 0 : -EIO;
}

static int load(struct fcl_agg *a, FILE *f)
{
	struct scaffold_state *st = a->state;
	return fread(st->c, sizeof(float), a->n_params, f) == a->n_params ? 0 : -EIO;
}

/* ---- client ---------------------------------------------------------------- */

struct scaffold_worker {
	size_t n;
	float *corr; /* (n) c - c_i of the client being trained: the gradient hook's term */
	float *dc;   /* (n) c_i+ - c_i, sent with the update */
};

static void correct(void *ctx, const float *params, float *g, size_t n)
{
	const float *corr = ctx;
	(void)params;
	for (size_t i = 0; i < n; i++)
		g[i] += corr[i];
}

static int worker_init(struct fcl_rule_worker *w)
{
	struct scaffold_worker *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	w->state = s;
	s->n = w->model->n_params;
	s->corr = malloc(s->n * sizeof(float));
	s->dc = malloc(s->n * sizeof(float));
	return s->corr && s->dc ? 0 : -ENOMEM;
}

static void worker_fini(struct fcl_rule_worker *w)
{
	struct scaffold_worker *s = w->state;
	if (!s)
		return;
	free(s->corr);
	free(s->dc);
	free(s);
}

static int check_request(struct fcl_rule_worker *w, const struct fcl_extras *req, const char **why)
{
	const struct scaffold_worker *s = w->state;
	if (req->n_tensors != 1 || (size_t)req->t[0].rows * req->t[0].cols != s->n) {
		*why = "no control variate of the model's size";
		return -EPROTO;
	}
	return 0;
}

static int before_train(struct fcl_rule_worker *w, struct fcl_local_round *lr)
{
	struct scaffold_worker *s = w->state;
	const float *c = lr->request->t[0].v;
	float *ci = *lr->state;
	if (!ci && !(ci = *lr->state = calloc(s->n, sizeof(float))))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		s->corr[i] = c[i] - ci[i];
	lr->opt->grad_hook = correct;
	lr->opt->hook_ctx = s->corr;
	return 0;
}

static int after_train(struct fcl_rule_worker *w, struct fcl_local_round *lr, const float *update,
		       struct fcl_extras *out)
{
	struct scaffold_worker *s = w->state;
	const float *c = lr->request->t[0].v;
	float *ci = *lr->state;
	/* c_i+ = c_i - c + (x - y) / (K lr);  x - y = -update */
	double K = (double)lr->local_steps;
	double scale = K > 0 ? 1.0 / (K * (double)w->sc->train.lr) : 0.0;
	for (size_t i = 0; i < s->n; i++) {
		s->dc[i] = (float)(-(double)c[i] - scale * (double)update[i]);
		ci[i] += s->dc[i];
	}
	out->n_tensors = 1;
	out->t[0] = (struct fcl_tensor){.v = s->dc, .rows = 1, .cols = (uint32_t)s->n};
	return 0;
}

/* c_i (n floats), or n = 0 for a client that never trained. */
static int client_save(const struct fcl_rule_worker *w, const void *state, FILE *f)
{
	const struct scaffold_worker *s = w->state;
	uint64_t n = state ? s->n : 0;
	int rc = fcl_fput(f, &n, sizeof n);
	return rc || !n ? rc : fcl_fput(f, state, n * sizeof(float));
}

static int client_load(struct fcl_rule_worker *w, void **state, FILE *f)
{
	const struct scaffold_worker *s = w->state;
	float *ci = NULL;
	uint64_t n;
	int rc = fcl_fget(f, &n, sizeof n);
	if (rc)
		return rc;
	if (n && n != s->n)
		return -EINVAL;
	if (n && !(ci = malloc(n * sizeof *ci)))
		return -ENOMEM;
	if (n && (rc = fcl_fget(f, ci, n * sizeof *ci)) != 0) {
		free(ci);
		return rc;
	}
	free(*state);
	*state = ci;
	return 0;
}

/* The round start carries the server's control variate, an update its
 * Delta c_i: n_params floats each. */
static uint64_t max_extras_bytes(const void *params, uint32_t n_layers, const uint32_t *sizes,
				 size_t n_params, const struct fcl_arch *arch)
{
	(void)params;
	(void)arch;
	(void)n_layers;
	(void)sizes;
	return (uint64_t)n_params * sizeof(float);
}

const struct fcl_rule fcl_rule_scaffold = {
    .name = "scaffold",
    .summary = "SCAFFOLD: client drift corrected by server and client control variates",
    .keys = keys,
    .params_size = sizeof(struct scaffold_params),
    .defaults = defaults,
    .init = init,
    .fini = fini,
    .sum_weight = sum_weight,
    .client_vectors = 1,
    .combine = combine,
    .request = request,
    .accept_update = accept_update,
    .save = save,
    .load = load,
    .worker_init = worker_init,
    .worker_fini = worker_fini,
    .check_request = check_request,
    .before_train = before_train,
    .after_train = after_train,
    .client_state_free = free,
    .client_state_save = client_save,
    .client_state_load = client_load,
    .max_extras_bytes = max_extras_bytes,
};
