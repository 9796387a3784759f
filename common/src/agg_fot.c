/* common/src/agg_fot.c - Federated Orthogonal Training (Bakman et al., ICLR 2024)
 *
 * Server, every round: FedAvg, then every protected layer's update is
 * projected off the old tasks' input subspace,
 *   Delta_l <- Delta_l - (Delta_l U_l) U_l^T,
 * for every conv layer's weight as the matrix (C_out, C_in*kh*kw) (its inputs
 * are the im2col patches) and every dense layer's weight matrix (the MLP case
 * of the authors' code, the output layer included unless protect_output is false or the heads are
 * per task (model.heads: per-task: a head is never projected, nor sketched);
 * biases are never projected). With one output head in a class-incremental or blurry stream,
 * projecting the output layer keeps the rows of classes not seen yet from
 * growing along the old inputs: the rule says so (caveat) and docs/aggregation.md
 * gives the measured trade-off.
 *
 * Task ends (the last round of a task on the global clock): the round start
 * carries the current bases U_l; after its update each participant answers
 * with one sketch per layer, Y_i = (A_i - U U^T A_i) G_i of its layer inputs
 * A_i over its own task data (from its just-trained model), its residual
 * ratio r_i and sample count n_i. After the round's aggregation (still
 * projected with the old bases) the sketches of the accepted updates are
 * summed, Y = sum Y_i, r = sum n_i r_i / sum n_i, and each layer's basis
 * grows (fcl_fot_expand). fot.csv in the run folder records, per task and
 * layer, the basis size, the ratio, the bytes the protocol cost and the
 * layer's kind.
 *
 * The sum is exact, in fixed point (fcl/fixsum.h, 2^-32, as the updates'):
 * a participant's answer is one vector, per layer Y_i then n_i r_i, n_i (both
 * as floats) and 1, added whole or not at all, so any grouping of the
 * participants gives the same bits. With partial sums (fcl_rule_partial_sums)
 * a client process adds its participants' answers itself (keep_answer: the
 * checks the server makes of one sketch) and sends one sum per task end
 * (send_answer_sum), after its partial sum of updates; otherwise (simulated
 * time, local-model evaluation) each sketch travels, is kept per slot, and
 * the server adds the accepted updates' ones at the round's end. A sum of a
 * process holds only participants whose updates it let into its partial sum;
 * the coordinator refuses it whole if any of them was rejected after all.
 *
 * Protected layers are numbered convs first (body order), then the dense
 * layers, so an MLP's numbering, streams and messages are those of the dense
 * layers alone. A conv layer's sketch runs over every patch of every sample
 * (A_i has n_i * H_out * W_out columns), one sample's patch matrix at a time.
 * The linear algebra is in fot.c (fcl/fot.h); the client half (sketches, and
 * a process's sum of them) in agg_fot_client.c.
 */
#include "fcl/data.h"
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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct fcl_key_choice k_rules[] = {
    {"norm", FCL_K_RULE_NORM}, {"energy", FCL_K_RULE_ENERGY}, {NULL, 0}};

#define P_ struct fot_params
static const struct fcl_key keys[] = {
    FCL_KEY_CHOICE("weighting", P_, weighted, fcl_agg_weightings,
		   "weight each update by its samples, or uniformly"),
    FCL_KEY_F64("threshold", P_, threshold, 0, FCL_OPEN, 1, FCL_OPEN,
		"energy threshold epsilon of the first task"),
    FCL_KEY_F64("threshold_increment", P_, threshold_increment, 0, 0, 1, FCL_OPEN,
		"added to the threshold at every task end"),
    FCL_KEY_CHOICE("k_rule", P_, k_rule, k_rules,
		   "new directions: norm ratio (authors' code) or energy (GPM)"),
    FCL_KEY_F64("sketch_columns", P_, sketch_columns, 0, FCL_OPEN, 64, 0,
		"sketch width c_l as a multiple of the layer input size d_l"),
    FCL_KEY_BOOL("protect_output", P_, protect_output,
		 "project the output layer's update too (false: only the hidden layers)"),
    FCL_KEY_F64("conv_sketch_columns", P_, conv_sketch_columns, 0, FCL_OPEN, 64, 0,
		"a conv layer's sketch width as a multiple of its C_in*kh*kw"),
    FCL_KEY_U32("conv_sketch_max", P_, conv_sketch_max, 0, 1u << 20,
		"at most this many sketch columns per conv layer (0: no cap)"),
    {0},
};
#undef P_

/* w_i in the sum of updates: samples or 1 (fcl/rule.h) */
static double sum_weight(const void *params, uint64_t n_samples, uint32_t local_steps)
{
	(void)local_steps;
	return ((const struct fot_params *)params)->weighted ? (double)n_samples : 1.0;
}

static void defaults(void *params)
{
	*(struct fot_params *)params = (struct fot_params){.weighted = 1,
							   .threshold = 0.96,
							   .threshold_increment = 0.0,
							   .k_rule = FCL_K_RULE_NORM,
							   .sketch_columns = 1.0,
							   .protect_output = 1,
							   .conv_sketch_columns = 1.0,
							   .conv_sketch_max = 0};
}

static size_t columns(double share, size_t d)
{
	double c = ceil(share * (double)d);
	return c < 1 ? 1 : (size_t)c;
}

size_t fcl__fot_width(const struct fot_params *p, int conv, size_t d)
{
	if (!conv)
		return columns(p->sketch_columns, d);
	size_t c = columns(p->conv_sketch_columns, d);
	return p->conv_sketch_max && c > p->conv_sketch_max ? p->conv_sketch_max : c;
}

/* Protected layer i: the convs, then the dense layers; per-task heads are
 * not among them (never projected, so neither sketched nor given a basis). */
static uint32_t n_prot(const struct fcl_agg *a)
{
	return a->n_convs + a->n_layers - (a->sc.model.heads == 1 ? 1 : 0);
}

static const struct fcl_agg_layer *prot(const struct fcl_agg *a, uint32_t i)
{
	return i < a->n_convs ? &a->convs[i] : &a->layers[i - a->n_convs];
}

static size_t prot_width(const struct fcl_agg *a, uint32_t i)
{
	return fcl__fot_width(a->params, i < a->n_convs, prot(a, i)->n_in);
}

/* ---- one answer and sums of answers (agg_fot-private.h) -------------------- */

void fcl__fot_layout(struct fot_layout *lo, uint32_t np, const size_t *d, const size_t *c)
{
	size_t at = 0;
	for (uint32_t l = 0; l < np; l++) {
		lo->seg[l] = at;
		lo->dc[l] = d[l] * c[l];
		at += lo->dc[l] + 3;
	}
	lo->seg[np] = at;
}

uint32_t fcl__fot_check_sketch(const struct fcl_extras *x, uint32_t np, const size_t *d,
			       const size_t *c, uint64_t n_train, const char **why)
{
	uint64_t layer = x->n_ints >= 2 ? x->ints[0] : UINT64_MAX;
	*why = NULL;
	if (x->n_tensors != 1 || x->n_ints != 2 || x->n_reals != 1)
		*why = "not a sketch";
	else if (layer >= np)
		*why = "layer out of range";
	else if (x->t[0].rows != d[layer] || x->t[0].cols != c[layer])
		*why = "wrong shape";
	else if (!fcl_extras_finite(x))
		return *why = "non-finite values", FCL_REJECT_FINITE;
	else if (!(x->reals[0] >= 0.0 && x->reals[0] <= 1.0 + 1e-6))
		*why = "ratio outside [0, 1]";
	else if (x->ints[1] == 0 || x->ints[1] > n_train)
		*why = "implausible sample count";
	return *why ? FCL_REJECT_RULE : FCL_REJECT_NONE;
}

void fcl__fot_stage(float *stage, const struct fot_layout *lo, uint32_t l,
		    const struct fcl_extras *x)
{
	float *at = stage + lo->seg[l];
	memcpy(at, x->t[0].v, lo->dc[l] * sizeof(float));
	at[lo->dc[l]] = (float)((double)x->ints[1] * x->reals[0]); /* n r */
	at[lo->dc[l] + 1] = (float)x->ints[1];                     /* n, exact below 2^24 */
	at[lo->dc[l] + 2] = 1.0f;
}

/* ---- server ---------------------------------------------------------------- */

struct fot_state {
	double eps;      /* threshold of the current task */
	float *U[P_MAX]; /* (d_l, k_l) per protected layer */
	size_t k[P_MAX];
	float *tmp; /* (max n_out, max d) projection scratch */
	/* this task end's sketches, by participant slot */
	uint32_t n_slots;
	uint32_t n_prot; /* protected layers */
	float **y;       /* (n_slots * n_prot) each (d_l, c_l) or NULL */
	double *ratio;   /* (n_slots * n_prot) */
	uint64_t *n;     /* (n_slots * n_prot) */
	uint64_t bytes_up;
	float *bases; /* the request: U_l concatenated */
	FILE *csv;
	/* this task end's sum of answers (fot_layout), room for n_slots of them */
	struct fot_layout lo;
	struct fcl_fixsum sum;
	float *stage; /* (lo length) one slot's answer, for sketches kept per slot */
};

static int init(struct fcl_agg *a)
{
	const struct fot_params *p = a->params;
	struct fot_state *st = calloc(1, sizeof *st);
	size_t most = 1, total = 1;
	if (!st)
		return -ENOMEM;
	a->state = st;
	st->n_prot = n_prot(a);
	if (st->n_prot > P_MAX || st->n_prot + 1 > FCL_EXTRAS_MAX)
		return -EINVAL;
	size_t d[P_MAX], c[P_MAX];
	for (uint32_t l = 0; l < st->n_prot; l++) {
		const struct fcl_agg_layer *L = prot(a, l);
		size_t sz = L->n_out * L->n_in;
		most = sz > most ? sz : most;
		total += L->n_in * L->n_in; /* a basis is at most d x d */
		d[l] = L->n_in;
		c[l] = prot_width(a, l);
	}
	fcl__fot_layout(&st->lo, st->n_prot, d, c);
	st->eps = p->threshold;
	st->n_slots = a->sc.clients.per_round;
	size_t cells = (size_t)st->n_slots * st->n_prot + 1;
	st->tmp = malloc(most * sizeof *st->tmp);
	st->bases = malloc(total * sizeof *st->bases);
	st->y = calloc(cells, sizeof *st->y);
	st->ratio = calloc(cells, sizeof *st->ratio);
	st->n = calloc(cells, sizeof *st->n);
	if (!st->tmp || !st->bases || !st->y || !st->ratio || !st->n)
		return -ENOMEM;
	int rc = fcl_fixsum_init(&st->sum, st->lo.seg[st->n_prot], FCL_FIXSUM_FRAC_BITS,
				 st->n_slots ? st->n_slots : 1);
	if (rc)
		return rc;
	if (a->env.run_dir) {
		char path[4096];
		snprintf(path, sizeof path, "%s/fot.csv", a->env.run_dir);
		if (!(st->csv = fcl_fopen(path, a->env.resume ? "a" : "w"))) {
			fcl_error("cannot open %s: %s", path, strerror(errno));
			return -EIO;
		}
		if (!a->env.resume)
			fprintf(st->csv, "task,layer,d,sketch_cols,threshold,ratio,added,basis,"
					 "sketches,sketch_bytes_up,request_bytes_down,kind\n");
	}
	return 0;
}

static void forget_sketches(struct fcl_agg *a)
{
	struct fot_state *st = a->state;
	for (size_t i = 0; i < (size_t)st->n_slots * st->n_prot; i++) {
		free(st->y[i]);
		st->y[i] = NULL;
	}
	st->bytes_up = 0;
	if (st->sum.v)
		fcl_fixsum_zero(&st->sum);
}

static void fini(struct fcl_agg *a)
{
	struct fot_state *st = a->state;
	if (!st)
		return;
	if (st->y)
		forget_sketches(a);
	for (uint32_t l = 0; l < P_MAX; l++)
		free(st->U[l]);
	if (st->csv)
		fclose(st->csv);
	free(st->y);
	free(st->ratio);
	free(st->n);
	free(st->bases);
	free(st->tmp);
	free(st->stage);
	fcl_fixsum_fini(&st->sum);
	free(st);
	a->state = NULL;
}

static int combine(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	const struct fot_params *p = a->params;
	struct fot_state *st = a->state;
	int rc = fcl_agg_mean_delta(a, u, n, p->weighted);
	if (rc)
		return rc;
	double t0 = fcl_now();
	/* The output layer learns freely (its basis still grows) with
	 * protect_output false; per-task heads (each task's rows its own head,
	 * which the paper never projects) are not protected layers at all. */
	int free_output = !p->protect_output && a->sc.model.heads != 1;
	for (uint32_t l = 0; l < st->n_prot - (free_output ? 1 : 0); l++) {
		const struct fcl_agg_layer *L = prot(a, l);
		fcl_fot_project(a->delta + L->w_offset, L->n_out, L->n_in, st->U[l], st->k[l],
				st->tmp);
	}
	a->project_seconds += fcl_now() - t0;
	return 0;
}

/* At task ends: U_l (d_l, k_l) per layer as tensors; ints: k rule, then c_l per layer. */
static int request(struct fcl_agg *a, const struct fcl_round_info *r, struct fcl_extras *out)
{
	const struct fot_params *p = a->params;
	struct fot_state *st = a->state;
	size_t at = 0;

	if (!r->task_end)
		return 0;
	out->ints[out->n_ints++] = (uint64_t)p->k_rule;
	for (uint32_t l = 0; l < st->n_prot; l++) {
		size_t d = prot(a, l)->n_in, k = st->k[l];
		if (k)
			memcpy(st->bases + at, st->U[l], d * k * sizeof(float));
		out->t[out->n_tensors++] = (struct fcl_tensor){
		    .v = st->bases + at, .rows = (uint32_t)d, .cols = (uint32_t)k};
		out->ints[out->n_ints++] = prot_width(a, l);
		at += d * k;
	}
	return 0;
}

static uint32_t answers(const struct fcl_agg *a, const struct fcl_round_info *r)
{
	return r->task_end ? n_prot(a) : 0;
}

/* An answer: tensor Y (d_l, c_l); ints: layer, n_samples; reals: ratio. */
static int accept_answer(struct fcl_agg *a, const struct fcl_round_info *r, uint32_t slot,
			 const struct fcl_extras *x, size_t bytes, const char **why)
{
	struct fot_state *st = a->state;
	size_t d[P_MAX], c[P_MAX];

	for (uint32_t l = 0; l < st->n_prot; l++) {
		d[l] = prot(a, l)->n_in;
		c[l] = prot_width(a, l);
	}
	if (slot >= st->n_slots)
		return *why = "not a sketch", -EPROTO;
	if (fcl__fot_check_sketch(x, st->n_prot, d, c, r->n_train, why) != FCL_REJECT_NONE)
		return -EPROTO;
	uint64_t layer = x->ints[0];
	if (st->y[slot * st->n_prot + layer])
		return *why = "second sketch for this layer", -EPROTO;
	size_t at = slot * st->n_prot + layer, cnt = (size_t)x->t[0].rows * x->t[0].cols;
	if (!(st->y[at] = malloc(cnt * sizeof(float))))
		return -ENOMEM;
	memcpy(st->y[at], x->t[0].v, cnt * sizeof(float));
	st->ratio[at] = x->reals[0];
	st->n[at] = x->ints[1];
	st->bytes_up += bytes;
	return 0;
}

/* A client process's sum of its participants' answers (keep_answer), each
 * with an accepted update: into the task end's sum, whole or not at all. */
static int accept_answer_sum(struct fcl_agg *a, const struct fcl_round_info *r, const int64_t *v,
			     size_t n, uint32_t addends, size_t bytes, const char **why)
{
	struct fot_state *st = a->state;

	(void)r;
	*why = NULL;
	if (n != st->sum.n)
		*why = "a sum of sketches of the wrong length";
	else if (fcl_fixsum_add_raw(&st->sum, v, addends) != 0)
		*why = "its process's sum of sketches overflows the fixed-point range";
	if (*why)
		return -EPROTO;
	st->bytes_up += bytes;
	return 0;
}

/* The sketches kept per slot (no partial sums) of the accepted updates into
 * the task end's sum: an update's accepted layers (a layer refused by
 * accept_answer adds zeros, its count 0, as it was left out before the sums
 * were exact). */
static int add_slots(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n)
{
	struct fot_state *st = a->state;
	for (size_t i = 0; i < n; i++) {
		uint32_t have = 0;
		float **y = st->y + (size_t)u[i].slot * st->n_prot;
		for (uint32_t l = 0; u[i].slot < st->n_slots && l < st->n_prot; l++)
			have += y[l] != NULL;
		if (have == 0)
			continue;
		if (!st->stage && !(st->stage = malloc(st->sum.n * sizeof *st->stage)))
			return -ENOMEM;
		memset(st->stage, 0, st->sum.n * sizeof *st->stage);
		for (uint32_t l = 0; l < st->n_prot; l++) {
			size_t at = (size_t)u[i].slot * st->n_prot + l;
			if (!y[l])
				continue;
			struct fcl_extras x = {.n_tensors = 1, .n_ints = 2, .n_reals = 1};
			x.t[0].v = y[l];
			x.ints[1] = st->n[at];
			x.reals[0] = st->ratio[at];
			fcl__fot_stage(st->stage, &st->lo, l, &x);
		}
		if (fcl_fixsum_add_scaled(&st->sum, st->stage, 1.0) != 0)
			fcl_warn("FOT: client %u's sketches left out: %s", u[i].client_id,
				 fcl_reject_name(FCL_REJECT_RANGE));
	}
	return 0;
}

/* Layer l's summed sketches (the task end's sum) grow its basis. */
static void grow_layer(struct fcl_agg *a, uint32_t l, uint32_t task, uint64_t bytes_down,
		       char *detail, size_t *len, size_t size)
{
	const struct fot_params *p = a->params;
	struct fot_state *st = a->state;
	size_t d = prot(a, l)->n_in, c = prot_width(a, l), added = 0, at = st->lo.seg[l];
	uint32_t used = (uint32_t)llround(fcl_fixsum_get(&st->sum, at + d * c + 2));
	float *Y = malloc(d * c * sizeof *Y); /* (d, c) */

	for (size_t q = 0; q < d * c && Y; q++)
		Y[q] = (float)fcl_fixsum_get(&st->sum, at + q);
	double rsum = fcl_fixsum_get(&st->sum, at + d * c);
	double nsum = fcl_fixsum_get(&st->sum, at + d * c + 1);
	double r = nsum > 0 ? rsum / nsum : 1.0;
	int rc = Y ? 0 : -ENOMEM;
	if (!rc && used)
		rc = fcl_fot_expand(&st->U[l], d, &st->k[l], Y, c, r, st->eps, p->k_rule, &added);
	if (rc)
		fcl_error("FOT: basis expansion of layer %u failed: %s", l, strerror(-rc));
	free(Y);
	if (st->csv)
		fprintf(st->csv, "%u,%u,%zu,%zu,%.6f,%.6f,%zu,%zu,%u,%llu,%llu,%s\n", task, l, d, c,
			st->eps, r, added, st->k[l], used, (unsigned long long)st->bytes_up,
			(unsigned long long)bytes_down, l < a->n_convs ? "conv" : "dense");
	*len += (size_t)snprintf(detail + *len, size - *len, " %zu", st->k[l]);
}

static int round_end(struct fcl_agg *a, const struct fcl_round_info *r,
		     const struct fcl_agg_update *u, size_t n)
{
	const struct fot_params *p = a->params;
	struct fot_state *st = a->state;
	char detail[1024];
	size_t len = 0;

	if (!r->task_end)
		return 0;
	double t0 = fcl_now();
	uint64_t down = 0;
	for (uint32_t l = 0; l < st->n_prot; l++)
		down += (uint64_t)prot(a, l)->n_in * st->k[l] * sizeof(float);
	down *= r->request_sends;
	len += (size_t)snprintf(detail, sizeof detail, "task %u basis", r->task);
	int rc = add_slots(a, u, n);
	if (rc)
		return rc;
	for (uint32_t l = 0; l < st->n_prot; l++)
		grow_layer(a, l, r->task, down, detail, &len, sizeof detail);
	if (st->csv)
		fflush(st->csv);
	snprintf(detail + len, sizeof detail - len, "; sketches %llu B up, bases %llu B down",
		 (unsigned long long)st->bytes_up, (unsigned long long)down);
	fcl_info("FOT %s", detail);
	if (a->env.event)
		a->env.event(a->env.ud, "fot_basis", detail);
	st->eps += p->threshold_increment;
	if (st->eps > 1.0)
		st->eps = 1.0;
	forget_sketches(a);
	a->project_seconds += fcl_now() - t0;
	return 0;
}

/* eps, each layer's basis, and how long fot.csv is (load cuts it back). */
static int save(const struct fcl_agg *a, FILE *f)
{
	const struct fot_state *st = a->state;
	int64_t csv_len = st->csv && fflush(st->csv) == 0 ? ftell(st->csv) : -1;
	if (fwrite(&st->eps, sizeof st->eps, 1, f) != 1 ||
	    fwrite(&csv_len, sizeof csv_len, 1, f) != 1)
		return -EIO;
	for (uint32_t l = 0; l < st->n_prot; l++) {
		uint64_t k = st->k[l];
		size_t cnt = prot(a, l)->n_in * st->k[l];
		if (fwrite(&k, sizeof k, 1, f) != 1 ||
		    (cnt && fwrite(st->U[l], sizeof(float), cnt, f) != cnt))
			return -EIO;
	}
	return 0;
}

static int load(struct fcl_agg *a, FILE *f)
{
	struct fot_state *st = a->state;
	double eps;
	int64_t csv_len;
	if (fread(&eps, sizeof eps, 1, f) != 1 || !(eps > 0 && eps < 2) ||
	    fread(&csv_len, sizeof csv_len, 1, f) != 1)
		return -EIO;
	if (st->csv && csv_len >= 0 && fflush(st->csv) == 0 &&
	    (ftruncate(fileno(st->csv), csv_len) != 0 || fseek(st->csv, csv_len, SEEK_SET) != 0))
		return -EIO;
	for (uint32_t l = 0; l < st->n_prot; l++) {
		uint64_t k;
		size_t d = prot(a, l)->n_in;
		if (fread(&k, sizeof k, 1, f) != 1 || k > d)
			return -EIO;
		float *U = k ? malloc(d * k * sizeof *U) : NULL;
		if (k && !U)
			return -ENOMEM;
		if (k && fread(U, sizeof *U, d * k, f) != d * k) {
			free(U);
			return -EIO;
		}
		free(st->U[l]);
		st->U[l] = U;
		st->k[l] = k;
	}
	st->eps = eps;
	forget_sketches(a); /* a rollback: the abandoned round's sketches go */
	return 0;
}

/* The round start at a task end carries every protected layer's basis U_l
 * (d_l x k_l, k_l <= d_l) and the sketch widths; an answer carries one layer's
 * sketch (d_l x c_l) with two ints and a real. Conv layers (arch's body) have
 * d_l = C_in*kh*kw. */
static void extras_layer(uint64_t d, uint64_t c, uint64_t *request, uint64_t *answer)
{
	uint64_t sketch = d * c * sizeof(float) + 2 * sizeof(uint64_t) + sizeof(double);
	*request += d * d * sizeof(float) + sizeof(uint64_t);
	if (sketch > *answer)
		*answer = sketch;
}

static uint64_t max_extras_bytes(const void *params, uint32_t n_layers, const uint32_t *sizes,
				 size_t n_params, const struct fcl_arch *arch)
{
	const struct fot_params *p = params;
	uint64_t request = sizeof(uint64_t), answer = 0, sum = 0;

	(void)n_params;
	for (uint32_t i = 0; arch && i < arch->n_body; i++) {
		const struct fcl_layer *L = &arch->layers[i];
		if (L->s.kind != FCL_LAYER_CONV2D)
			continue;
		uint64_t d = (uint64_t)L->in.c * L->s.kernel * L->s.kernel;
		extras_layer(d, fcl__fot_width(p, 1, d), &request, &answer);
		sum += (d * fcl__fot_width(p, 1, d) + 3) * sizeof(int64_t);
	}
	for (uint32_t l = 0; l < n_layers; l++) {
		extras_layer(sizes[l], fcl__fot_width(p, 0, sizes[l]), &request, &answer);
		sum += ((uint64_t)sizes[l] * fcl__fot_width(p, 0, sizes[l]) + 3) * sizeof(int64_t);
	}
	/* a process's sum of answers (partial sums): 8 bytes a value, every layer */
	if (sum > answer)
		answer = sum;
	return request > answer ? request : answer;
}

/* One shared output head in a stream where classes arrive: the projected
 * output layer cannot grow the rows of new classes (docs/aggregation.md). */
static int caveat(const struct fcl_scenario *sc, const void *params, char *buf, size_t len)
{
	const struct fot_params *p = params;
	enum fcl_task_kind k = sc->tasks.kind;

	if (!p->protect_output || (k != FCL_TASKS_CLASS_INCREMENTAL && k != FCL_TASKS_I_BLURRY &&
				   k != FCL_TASKS_SI_BLURRY))
		return 0;
	snprintf(buf, len,
		 "FOT projects the shared output layer too: in a %s stream with one output head "
		 "it learns almost nothing of the classes of later tasks; "
		 "aggregation.protect_output: false leaves the output layer unprojected (more "
		 "forgetting of old classes), docs/aggregation.md gives the trade-off",
		 fcl_task_kind_name(k));
	return 1;
}

const struct fcl_rule fcl_rule_fot = {
    .name = "fot",
    .summary = "FOT: FedAvg projected orthogonal to the old tasks' input subspaces",
    .keys = keys,
    .params_size = sizeof(struct fot_params),
    .defaults = defaults,
    .init = init,
    .fini = fini,
    .sum_weight = sum_weight,
    .combine = combine,
    .request = request,
    .answers = answers,
    .accept_answer = accept_answer,
    .accept_answer_sum = accept_answer_sum,
    .round_end = round_end,
    .save = save,
    .load = load,
    .caveat = caveat,
    .worker_init = fcl__fot_worker_init,
    .worker_fini = fcl__fot_worker_fini,
    .check_request = fcl__fot_check_request,
    .send_answers = fcl__fot_send_answers,
    .keep_answer = fcl__fot_keep_answer,
    .send_answer_sum = fcl__fot_send_answer_sum,
    .max_extras_bytes = max_extras_bytes,
};
