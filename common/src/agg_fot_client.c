/* common/src/agg_fot_client.c - FOT's client half (fcl/rule.h): sketches, and with
 * partial sums the process's exact sum of them
 *
 * At a task end each participant sketches every protected layer's inputs over
 * its task data from its just-trained model, Y_i = (A_i - U U^T A_i) G_i
 * (fcl/fot.h), and answers with one message per layer. With partial sums
 * (fcl_rule_partial_sums) the process keeps them instead (keep_answer): it
 * checks each as the server checks one and adds a participant's answer whole
 * (agg_fot-private.h: its layout) to one fixed-point sum, sent once its
 * partial sum of updates has gone (send_answer_sum). The rule and its server
 * half are in agg_fot.c.
 */
#include "fcl/data.h"
#include "fcl/fixsum.h"
#include "fcl/fot.h"
#include "fcl/layers.h"
#include "fcl/log.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include "agg_fot-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fot_worker {
	struct fcl_fot_sketch sk[P_MAX]; /* one per protected layer, sized at the first request */
	uint32_t n_convs;
	uint32_t conv_at[FCL_ARCH_MAX_LAYERS]; /* the body index of each conv */
	size_t batch;
	float *x;   /* (batch, dim) gathered inputs */
	int32_t *y; /* (batch) */
	float *col; /* one sample's patches, the largest conv's (d, H_out * W_out) */
	/* partial sums (keep_answer): the process's sum of its participants' answers */
	uint32_t np;               /* protected layers */
	size_t d[P_MAX], c[P_MAX]; /* their inputs and sketch widths */
	struct fot_layout lo;
	struct fcl_fixsum sum; /* allocated at the first kept answer */
	float *stage;          /* (lo length) the current participant's answer */
	int64_t cur;           /* its client id, -1: none */
	uint32_t have;         /* its layers staged */
	uint32_t bad;          /* enum fcl_reject: why it stays out */
	const char *bad_why;
	uint64_t cur_n;           /* its sample count (every layer's) */
	uint8_t staged[P_MAX];    /* which layers */
	uint32_t *ids, *rejected; /* records of the participants that answered */
	size_t n_rec, cap_rec;
};

/* Protected layer l's input size d_l on the client (convs first). */
static size_t worker_d(const struct fcl_rule_worker *w, uint32_t l)
{
	const struct fot_worker *f = w->state;
	if (l < f->n_convs) {
		const struct fcl_layer *L = &w->model->arch.layers[f->conv_at[l]];
		return (size_t)L->in.c * L->s.kernel * L->s.kernel;
	}
	return w->model->sizes[l - f->n_convs];
}

int fcl__fot_worker_init(struct fcl_rule_worker *w)
{
	const struct fcl_arch *ar = &w->model->arch;
	struct fot_worker *f = calloc(1, sizeof *f);
	size_t col = 1;
	if (!f)
		return -ENOMEM;
	w->state = f;
	for (uint32_t i = 0; i < ar->n_body; i++) {
		if (ar->layers[i].s.kind != FCL_LAYER_CONV2D)
			continue;
		struct fcl_conv_geom g = fcl_layer_geom(&ar->layers[i]);
		size_t sz = fcl_conv_col_floats(&g);
		col = sz > col ? sz : col;
		f->conv_at[f->n_convs++] = i;
	}
	f->cur = -1;
	f->np = f->n_convs + w->model->n_layers - (w->sc->model.heads == 1 ? 1 : 0);
	if (f->np > P_MAX)
		return -EINVAL;
	for (uint32_t l = 0; l < f->np; l++) {
		f->d[l] = worker_d(w, l);
		f->c[l] = fcl__fot_width((const struct fot_params *)w->sc->aggregation.params,
					 l < f->n_convs, f->d[l]);
	}
	fcl__fot_layout(&f->lo, f->np, f->d, f->c);
	f->batch = w->sc->train.batch_size;
	f->x = fcl_alloc_floats(f->batch * w->model->arch.dim_in);
	f->y = malloc(f->batch * sizeof *f->y);
	f->col = f->n_convs ? fcl_alloc_floats(col) : NULL;
	return f->x && f->y && (f->col || !f->n_convs) ? 0 : -ENOMEM;
}

void fcl__fot_worker_fini(struct fcl_rule_worker *w)
{
	struct fot_worker *f = w->state;
	if (!f)
		return;
	for (uint32_t l = 0; l < P_MAX; l++)
		fcl_fot_sketch_fini(&f->sk[l]);
	free(f->x);
	free(f->y);
	free(f->col);
	fcl_fixsum_fini(&f->sum);
	free(f->stage);
	free(f->ids);
	free(f->rejected);
	free(f);
}

/* Outside task ends the request is empty; at them it must match the model. */
int fcl__fot_check_request(struct fcl_rule_worker *w, const struct fcl_extras *req,
			   const char **why)
{
	const struct fot_worker *f = w->state;
	uint32_t np = f->np;
	*why = "malformed sketch request";
	if (req->n_tensors == 0 && req->n_ints == 0)
		return 0;
	if (req->n_tensors != np || req->n_ints != np + 1 || req->ints[0] > FCL_K_RULE_ENERGY)
		return -EPROTO;
	for (uint32_t l = 0; l < np; l++) {
		const struct fcl_tensor *U = &req->t[l];
		uint64_t c = req->ints[1 + l];
		if (U->rows != worker_d(w, l) || U->cols > U->rows || c == 0 ||
		    c > 64u * (uint64_t)U->rows)
			return -EPROTO;
	}
	return fcl_extras_finite(req) ? 0 : -EPROTO;
}

/* Adds a batch's patches of every conv layer to its sketch, one sample's
 * patch matrix at a time (never all of a client's patches at once). The
 * inputs are those the batch's forward left: x for the first layer, the
 * previous body layer's output otherwise. */
static void sketch_convs(struct fcl_rule_worker *w, const struct fcl_extras *req, size_t b,
			 struct fcl_rng *rng)
{
	struct fot_worker *f = w->state;
	struct fcl_mlp *m = w->model;

	for (uint32_t c = 0; c < f->n_convs; c++) {
		uint32_t i = f->conv_at[c];
		const struct fcl_layer *L = &m->arch.layers[i];
		struct fcl_conv_geom g = fcl_layer_geom(L);
		const float *in = i == 0 ? f->x : m->bout[i - 1];
		size_t in_floats = (size_t)L->in.c * L->in.h * L->in.w, P = (size_t)g.ho * g.wo;
		for (size_t s = 0; s < b; s++) {
			fcl_im2col(f->col, in + s * in_floats, &g);
			fcl_fot_sketch_add_cols(&f->sk[c], f->col, P,
						req->t[c].cols ? req->t[c].v : NULL, req->t[c].cols,
						&rng[c]);
		}
	}
}

/* Prepares protected layer l's sketch and stream for this request. */
static int sketch_setup(struct fcl_rule_worker *w, const struct fcl_extras *req, uint32_t l,
			uint32_t client, uint32_t task, struct fcl_rng *rng)
{
	struct fot_worker *f = w->state;
	struct fcl_fot_sketch *sk = &f->sk[l];
	size_t d = req->t[l].rows, c = req->ints[1 + l], rows = f->batch;
	uint32_t stream = task * L_MAX + (l - f->n_convs);
	int rc;

	if (l < f->n_convs) {
		const struct fcl_layer *L = &w->model->arch.layers[f->conv_at[l]];
		rows = (size_t)L->out.h * L->out.w; /* one sample's patches */
		stream = CONV_STREAM + task * FCL_ARCH_MAX_LAYERS + l;
	}
	if (sk->Y && sk->c != c)
		fcl_fot_sketch_fini(sk);
	if (!sk->Y && (rc = fcl_fot_sketch_init(sk, d, c, rows, d)) != 0)
		return rc;
	fcl_fot_sketch_reset(sk);
	fcl_rng_init(rng, w->sc->seed, FCL_RNG_SKETCH, client, stream);
	return 0;
}

/* Sketches the input activations of every protected layer over the client's
 * task data, from its just-trained model in evaluation mode (no dropout;
 * batchnorm with its running statistics), and sends one answer per layer. G_i comes from the
 * client's own streams. */
int fcl__fot_send_answers(struct fcl_rule_worker *w, struct fcl_local_round *lr, fcl_answer_fn send,
			  void *sink)
{
	struct fot_worker *f = w->state;
	const struct fcl_extras *req = lr->request;
	const struct fcl_schedule *sc = w->sched;
	struct fcl_mlp *m = w->model;
	uint32_t C = f->n_convs, B = (uint32_t)f->batch;
	uint32_t L = m->n_layers - (w->sc->model.heads == 1 ? 1 : 0); /* heads: not sketched */
	struct fcl_rng rng[P_MAX];
	int rc;

	/* the client's own task this round (clients may be out of phase with the clock) */
	if (req->n_tensors == 0 || lr->task < 0)
		return 0; /* no data this round: its update is refused and no sketch awaited */
	uint32_t task = (uint32_t)lr->task;
	uint32_t n;
	const uint32_t *idx = fcl_schedule_client_task(sc, lr->client, task, &n);

	for (uint32_t l = 0; l < C + L; l++)
		if ((rc = sketch_setup(w, req, l, lr->client, task, &rng[l])) != 0)
			return rc;
	fcl_model_set_train(m, 0, 0, 0, 0, 0); /* already, after the loop; stated here */
	for (uint32_t i = 0; i < n; i += B) {
		size_t b = n - i < B ? n - i : B;
		fcl_dataset_gather(w->train, idx + i, b, sc->tasks[task].perm, f->x, f->y);
		fcl_mlp_forward(m, f->x, b);
		sketch_convs(w, req, b, rng);
		for (uint32_t l = 0; l < L; l++)
			fcl_fot_sketch_add(&f->sk[C + l], m->acts[l], b,
					   req->t[C + l].cols ? req->t[C + l].v : NULL,
					   req->t[C + l].cols, &rng[C + l]);
	}
	for (uint32_t l = 0; l < C + L; l++) {
		struct fcl_fot_sketch *sk = &f->sk[l];
		struct fcl_extras x = {.n_tensors = 1, .n_ints = 2, .n_reals = 1};
		x.t[0] = (struct fcl_tensor){
		    .v = sk->Y, .rows = (uint32_t)sk->d, .cols = (uint32_t)sk->c};
		x.ints[0] = l;
		x.ints[1] = n; /* samples, not patches: r = sum n_i r_i / sum n_i */
		x.reals[0] = fcl_fot_sketch_ratio(sk, (enum fcl_k_rule)req->ints[0]);
		if ((rc = send(sink, lr->client, &x)) != 0)
			return rc;
	}
	return 0;
}

/* The current participant's answer into the process's sum, whole (every
 * layer there and good, within the fixed-point range) or not at all; its
 * record either way. */
static int keep_finish(struct fcl_rule_worker *w)
{
	struct fot_worker *f = w->state;
	if (f->cur < 0)
		return 0;
	if (f->n_rec == f->cap_rec) {
		size_t cap = f->cap_rec ? 2 * f->cap_rec : 16;
		uint32_t *ids = realloc(f->ids, cap * sizeof *ids);
		if (ids)
			f->ids = ids;
		uint32_t *rej = ids ? realloc(f->rejected, cap * sizeof *rej) : NULL;
		if (!rej)
			return -ENOMEM;
		f->rejected = rej;
		f->cap_rec = cap;
	}
	if (!f->bad && f->have < f->np) {
		f->bad = FCL_REJECT_RULE;
		f->bad_why = "sketches missing";
	}
	if (!f->bad && fcl_fixsum_add_scaled(&f->sum, f->stage, 1.0) != 0) {
		f->bad = FCL_REJECT_RANGE;
		f->bad_why = fcl_reject_name(FCL_REJECT_RANGE);
	}
	if (f->bad)
		fcl_warn("client %lld's sketches stay out of its process's sum: %s",
			 (long long)f->cur, f->bad_why);
	f->ids[f->n_rec] = (uint32_t)f->cur;
	f->rejected[f->n_rec++] = f->bad;
	f->cur = -1;
	return 0;
}

/* With partial sums: one sketch (one layer) of a participant whose update is
 * in its process's partial sum, checked as the server checks one. */
int fcl__fot_keep_answer(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x)
{
	struct fot_worker *f = w->state;
	const char *why;
	int rc;

	if (!f->stage) {
		int rc0 = fcl_fixsum_init(&f->sum, f->lo.seg[f->np], FCL_FIXSUM_FRAC_BITS,
					  w->sc->clients.per_round);
		if (rc0)
			return rc0;
		if (!(f->stage = malloc(f->sum.n * sizeof *f->stage)))
			return -ENOMEM;
	}
	if (f->cur != (int64_t)client) {
		if ((rc = keep_finish(w)) != 0)
			return rc;
		f->cur = client;
		f->have = 0;
		f->bad = FCL_REJECT_NONE;
		f->cur_n = 0;
		memset(f->staged, 0, sizeof f->staged);
	}
	if (f->bad)
		return 0;
	uint32_t bad = fcl__fot_check_sketch(x, f->np, f->d, f->c, w->train->n, &why);
	if (!bad && f->staged[x->ints[0]])
		bad = FCL_REJECT_RULE, why = "second sketch for this layer";
	else if (!bad && f->cur_n && x->ints[1] != f->cur_n)
		bad = FCL_REJECT_RULE, why = "sample counts differ between layers";
	if (bad) {
		f->bad = bad;
		f->bad_why = why;
		return 0;
	}
	fcl__fot_stage(f->stage, &f->lo, (uint32_t)x->ints[0], x);
	f->staged[x->ints[0]] = 1;
	f->cur_n = x->ints[1];
	if (++f->have == f->np)
		return keep_finish(w);
	return 0;
}

/* The process's sum of its participants' answers and their records, once
 * per task end; then a fresh sum. */
int fcl__fot_send_answer_sum(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink)
{
	struct fot_worker *f = w->state;
	int rc = keep_finish(w);
	if (rc || f->n_rec == 0)
		return rc;
	struct fcl_answer_sum s = {.sum = f->sum.v,
				   .n_sum = f->sum.addends ? f->sum.n : 0,
				   .frac_bits = f->sum.frac_bits,
				   .addends = (uint32_t)f->sum.addends,
				   .ids = f->ids,
				   .rejected = f->rejected,
				   .n_ids = f->n_rec};
	rc = send(sink, &s);
	fcl_fixsum_zero(&f->sum);
	f->n_rec = 0;
	return rc;
}
