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
 * The linear algebra is in fot.c (fcl/fot.h).
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

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define L_MAX FCL_MLP_MAX_LAYERS
#define P_MAX (FCL_ARCH_MAX_LAYERS + FCL_MLP_MAX_LAYERS) /* protected layers, at most */
/* conv sketch streams: round = CONV_STREAM + task * FCL_ARCH_MAX_LAYERS + conv,
 * apart from the dense layers' task * L_MAX + layer */
#define CONV_STREAM (1u << 24)

struct fot_params {
	int weighted;
	double threshold;           /* epsilon_0 of the first task, (0, 1) */
	double threshold_increment; /* added per task */
	int k_rule;                 /* enum fcl_k_rule */
	double sketch_columns;      /* sketch width c_l as a multiple of d_l */
	int protect_output;         /* project the output layer's update too (the paper's MLP) */
	double conv_sketch_columns; /* a conv layer's sketch width as a multiple of d_l */
	uint32_t conv_sketch_max;   /* and at most this many columns (0: no cap) */
};

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

/* The sketch width c_l of a layer with d inputs. */
static size_t width(const struct fot_params *p, int conv, size_t d)
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
	return width(a->params, i < a->n_convs, prot(a, i)->n_in);
}

/* ---- server ---------------------------------------------------------------- */

/* The layout of one answer (and of every sum of answers): per protected
 * layer l, at seg[l], Y_l (d_l * c_l), then n r_l, n and 1 (the count of
 * sketches of that layer in a sum). */
struct fot_layout {
	size_t seg[P_MAX + 1]; /* seg[n_prot]: the length */
	size_t dc[P_MAX];      /* d_l * c_l */
};

static void make_layout(struct fot_layout *lo, uint32_t np, const size_t *d, const size_t *c)
{
	size_t at = 0;
	for (uint32_t l = 0; l < np; l++) {
		lo->seg[l] = at;
		lo->dc[l] = d[l] * c[l];
		at += lo->dc[l] + 3;
	}
	lo->seg[np] = at;
}

/* Checks one sketch message (tensor Y (d_l, c_l); ints: layer, n_samples;
 * reals: ratio) against the model's layers d and widths c: 0, or *why and the
 * reason's code (enum fcl_reject). */
static uint32_t check_sketch(const struct fcl_extras *x, uint32_t np, const size_t *d,
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

/* Layer l of sketch x into an answer vector at lo->seg[l]. */
static void stage_sketch(float *stage, const struct fot_layout *lo, uint32_t l,
			 const struct fcl_extras *x)
{
	float *at = stage + lo->seg[l];
	memcpy(at, x->t[0].v, lo->dc[l] * sizeof(float));
	at[lo->dc[l]] = (float)((double)x->ints[1] * x->reals[0]); /* n r */
	at[lo->dc[l] + 1] = (float)x->ints[1];                     /* n, exact below 2^24 */
	at[lo->dc[l] + 2] = 1.0f;
}

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
	make_layout(&st->lo, st->n_prot, d, c);
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
	if (check_sketch(x, st->n_prot, d, c, r->n_train, why) != FCL_REJECT_NONE)
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
			stage_sketch(st->stage, &st->lo, l, &x);
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

/* ---- client ---------------------------------------------------------------- */

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

static int worker_init(struct fcl_rule_worker *w)
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
		const struct fcl_layer *L = &ar->layers[f->conv_at[l < f->n_convs ? l : 0]];
		f->d[l] = l < f->n_convs ? (size_t)L->in.c * L->s.kernel * L->s.kernel
					 : w->model->sizes[l - f->n_convs];
		f->c[l] = width((const struct fot_params *)w->sc->aggregation.params,
				l < f->n_convs, f->d[l]);
	}
	make_layout(&f->lo, f->np, f->d, f->c);
	f->batch = w->sc->train.batch_size;
	f->x = fcl_alloc_floats(f->batch * w->model->arch.dim_in);
	f->y = malloc(f->batch * sizeof *f->y);
	f->col = f->n_convs ? fcl_alloc_floats(col) : NULL;
	return f->x && f->y && (f->col || !f->n_convs) ? 0 : -ENOMEM;
}

static void worker_fini(struct fcl_rule_worker *w)
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

/* Outside task ends the request is empty; at them it must match the model. */
static int check_request(struct fcl_rule_worker *w, const struct fcl_extras *req, const char **why)
{
	const struct fot_worker *f = w->state;
	uint32_t np = f->n_convs + w->model->n_layers - (w->sc->model.heads == 1 ? 1 : 0);
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
 * batchnorm with its running statistics), and sends one answer per layer. G_i comes from the client's own
 * streams. */
static int send_answers(struct fcl_rule_worker *w, struct fcl_local_round *lr, fcl_answer_fn send,
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
static int keep_answer(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x)
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
	uint32_t bad = check_sketch(x, f->np, f->d, f->c, w->train->n, &why);
	if (!bad && f->staged[x->ints[0]])
		bad = FCL_REJECT_RULE, why = "second sketch for this layer";
	else if (!bad && f->cur_n && x->ints[1] != f->cur_n)
		bad = FCL_REJECT_RULE, why = "sample counts differ between layers";
	if (bad) {
		f->bad = bad;
		f->bad_why = why;
		return 0;
	}
	stage_sketch(f->stage, &f->lo, (uint32_t)x->ints[0], x);
	f->staged[x->ints[0]] = 1;
	f->cur_n = x->ints[1];
	if (++f->have == f->np)
		return keep_finish(w);
	return 0;
}

/* The process's sum of its participants' answers and their records, once
 * per task end; then a fresh sum. */
static int send_answer_sum(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink)
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
		extras_layer(d, width(p, 1, d), &request, &answer);
		sum += (d * width(p, 1, d) + 3) * sizeof(int64_t);
	}
	for (uint32_t l = 0; l < n_layers; l++) {
		extras_layer(sizes[l], width(p, 0, sizes[l]), &request, &answer);
		sum += ((uint64_t)sizes[l] * width(p, 0, sizes[l]) + 3) * sizeof(int64_t);
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
    .worker_init = worker_init,
    .worker_fini = worker_fini,
    .check_request = check_request,
    .send_answers = send_answers,
    .keep_answer = keep_answer,
    .send_answer_sum = send_answer_sum,
    .max_extras_bytes = max_extras_bytes,
};
