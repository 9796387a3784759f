/* server/sketch.c - FOT's task-end protocol on the coordinator
 *
 * In the last round of a task the round start carries a sketch request with
 * the current bases U_l. Each participant answers its update with one Sketch
 * per layer, Y_i = (A_i - U U^T A_i) G_i, its residual ratio r_i and n_i.
 * Sketches are validated like updates, kept per participant slot, and after
 * the round's aggregation (still projected with the old bases) summed in
 * client-id order: Y = sum Y_i, r = sum n_i r_i / sum n_i, then each layer's
 * basis grows (fcl_agg_fot_expand). fot.csv in the run folder records, per
 * task and layer, the basis size, the ratio and the bytes the sketches cost.
 */
#include "server.h"

#include "fcl/aggregate.h"
#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sketch_store {
	uint32_t n_layers;
	float **y;          /* (per_round * n_layers) each (d_l, c_l) or NULL */
	double *ratio;      /* (per_round * n_layers) */
	uint64_t *n;        /* (per_round * n_layers) */
	uint32_t *answered; /* (per_round) layers answered (valid or not) */
	/* the request of the current round */
	uint32_t dims[FCL_MLP_MAX_LAYERS], kcols[FCL_MLP_MAX_LAYERS], ccols[FCL_MLP_MAX_LAYERS];
	float *bases;
	size_t n_bases;
	/* traffic of the current task end */
	uint64_t bytes_up, bytes_down;
	FILE *csv;
};

int sketch_setup(struct fcl_server *s)
{
	if (!fcl_agg_wants_sketch(s->agg))
		return 0;
	uint32_t K = s->sched.per_round, L = s->model.n_layers;
	struct sketch_store *k = calloc(1, sizeof *k);
	if (!k)
		return -ENOMEM;
	s->sk = k;
	k->n_layers = L;
	k->y = calloc((size_t)K * L, sizeof *k->y);
	k->ratio = calloc((size_t)K * L, sizeof *k->ratio);
	k->n = calloc((size_t)K * L, sizeof *k->n);
	k->answered = calloc(K, sizeof *k->answered);
	if (!k->y || !k->ratio || !k->n || !k->answered)
		return -ENOMEM;
	char path[4096];
	snprintf(path, sizeof path, "%s/fot.csv", s->run_dir);
	if (!(k->csv = fopen(path, "w"))) {
		fcl_error("cannot open %s: %s", path, strerror(errno));
		return -EIO;
	}
	fprintf(k->csv, "task,layer,d,sketch_cols,threshold,ratio,added,basis,sketches,"
			"sketch_bytes_up,request_bytes_down\n");
	return 0;
}

static void forget(struct sketch_store *k, uint32_t K)
{
	for (size_t i = 0; i < (size_t)K * k->n_layers; i++) {
		free(k->y[i]);
		k->y[i] = NULL;
	}
	memset(k->answered, 0, K * sizeof *k->answered);
}

void sketch_teardown(struct fcl_server *s)
{
	struct sketch_store *k = s->sk;
	if (!k)
		return;
	if (k->y)
		forget(k, s->sched.per_round);
	if (k->csv)
		fclose(k->csv);
	free(k->y);
	free(k->ratio);
	free(k->n);
	free(k->answered);
	free(k->bases);
	free(k);
	s->sk = NULL;
}

int sketch_round(const struct fcl_server *s)
{
	return s->sk && fcl_schedule_is_task_end(&s->sched, s->round);
}

void sketch_fill_request(struct fcl_server *s, struct fcl_msg *m)
{
	struct sketch_store *k = s->sk;
	size_t total = 0;

	if (!sketch_round(s))
		return;
	if (!k->bases) { /* first request: size the bases buffer once (at most d x d each) */
		for (uint32_t l = 0; l < k->n_layers; l++)
			total += (size_t)s->model.sizes[l] * s->model.sizes[l];
		k->bases = malloc((total ? total : 1) * sizeof *k->bases);
		FCL_ASSERT(k->bases != NULL);
	}
	k->n_bases = 0;
	for (uint32_t l = 0; l < k->n_layers; l++) {
		size_t d, kc;
		const float *U = fcl_agg_fot_basis(s->agg, l, &d, &kc);
		k->dims[l] = (uint32_t)d;
		k->kcols[l] = (uint32_t)kc;
		k->ccols[l] = (uint32_t)fcl_agg_fot_columns(s->agg, l);
		if (kc)
			memcpy(k->bases + k->n_bases, U, d * kc * sizeof *U);
		k->n_bases += d * kc;
	}
	m->sketch_requested = 1;
	m->sk_layers = k->n_layers;
	m->sk_dims = k->dims;
	m->sk_basis_cols = k->kcols;
	m->sk_cols = k->ccols;
	m->sk_bases = k->bases;
	m->n_sk_bases = k->n_bases;
	m->k_rule = (uint32_t)s->sc.aggregation.k_rule;
	/* the bases' share of the round start, for the task-end cost */
	k->bytes_down += (uint64_t)k->n_bases * sizeof(float);
}

static int slot_index(const struct fcl_server *s, int64_t client)
{
	for (uint32_t i = 0; i < s->n_participants; i++)
		if ((int64_t)s->participants[i] == client)
			return (int)i;
	return -1;
}

void sketch_on_msg(struct fcl_server *s, uint32_t peer, const struct fcl_msg *m, size_t bytes)
{
	struct sketch_store *k = s->sk;
	int i;

	if (!k || s->phase != PHASE_TRAINING || m->round != s->round || !sketch_round(s)) {
		server_drop(s, "sketch for round %u, not expected now (round %u)", m->round,
			    s->round);
		return;
	}
	if ((i = slot_index(s, m->client_id)) < 0 || s->owner[m->client_id] != (int32_t)peer) {
		server_drop(s, "sketch from client %lld, not a participant hosted by that process",
			    (long long)m->client_id);
		return;
	}
	uint32_t L = k->n_layers;
	size_t at = (size_t)i * L + m->layer;
	const char *bad = NULL;
	if (m->layer >= L)
		bad = "layer out of range";
	else if (k->y[at] || k->answered[i] >= L)
		bad = "second sketch for this layer";
	else if (m->rows != k->dims[m->layer] || m->cols != k->ccols[m->layer] ||
		 m->n_values != (size_t)m->rows * m->cols)
		bad = "wrong shape";
	else if (!(m->ratio >= 0.0 && m->ratio <= 1.0 + 1e-6))
		bad = "ratio outside [0, 1]";
	else if (m->n_samples == 0 || m->n_samples > s->train.n)
		bad = "implausible sample count";
	else
		for (size_t q = 0; q < m->n_values && !bad; q++)
			if (!isfinite(m->values[q]))
				bad = "non-finite values";
	if (m->layer < L && k->answered[i] < L)
		k->answered[i]++;
	if (bad) {
		server_drop(s, "sketch of layer %u from client %lld rejected: %s", m->layer,
			    (long long)m->client_id, bad);
	} else {
		k->y[at] = malloc(m->n_values * sizeof(float));
		if (k->y[at]) {
			memcpy(k->y[at], m->values, m->n_values * sizeof(float));
			k->ratio[at] = m->ratio;
			k->n[at] = m->n_samples;
		}
		k->bytes_up += bytes;
	}
	round_on_complete(s); /* ends the round when every expected answer is in */
}

int sketch_complete(const struct fcl_server *s)
{
	if (!sketch_round(s))
		return 1;
	for (uint32_t i = 0; i < s->n_participants; i++)
		if (s->slot[i] == SLOT_ACCEPTED && s->sk->answered[i] < s->sk->n_layers)
			return 0;
	return 1;
}

void sketch_task_end(struct fcl_server *s)
{
	struct sketch_store *k = s->sk;
	uint32_t task = fcl_schedule_task_of_round(&s->sched, s->round);
	char detail[256];
	size_t len = 0;
	double eps = fcl_agg_fot_threshold(s->agg);

	len += (size_t)snprintf(detail, sizeof detail, "task %u basis", task);
	for (uint32_t l = 0; l < k->n_layers; l++) {
		size_t d = k->dims[l], c = k->ccols[l], added = 0, kb = 0;
		double rsum = 0.0, nsum = 0.0;
		uint32_t used = 0;
		float *Y = calloc(d * c, sizeof *Y); /* (d, c) */
		FCL_ASSERT(Y != NULL);
		/* client-id order: slots are ascending */
		for (uint32_t i = 0; i < s->n_participants; i++) {
			size_t at = (size_t)i * k->n_layers + l;
			if (s->slot[i] != SLOT_ACCEPTED || !k->y[at])
				continue;
			for (size_t q = 0; q < d * c; q++)
				Y[q] += k->y[at][q];
			rsum += (double)k->n[at] * k->ratio[at];
			nsum += (double)k->n[at];
			used++;
		}
		double r = nsum > 0 ? rsum / nsum : 1.0;
		if (used) {
			int rc = fcl_agg_fot_expand(s->agg, l, Y, r, &added);
			if (rc)
				fcl_error("FOT: basis expansion of layer %u failed: %s", l,
					  strerror(-rc));
		}
		fcl_agg_fot_basis(s->agg, l, &d, &kb);
		free(Y);
		fprintf(k->csv, "%u,%u,%zu,%zu,%.6f,%.6f,%zu,%zu,%u,%llu,%llu\n", task, l, d, c,
			eps, r, added, kb, used, (unsigned long long)k->bytes_up,
			(unsigned long long)k->bytes_down);
		len += (size_t)snprintf(detail + len, sizeof detail - len, " %zu", kb);
	}
	fflush(k->csv);
	snprintf(detail + len, sizeof detail - len, "; sketches %llu B up, bases %llu B down",
		 (unsigned long long)k->bytes_up, (unsigned long long)k->bytes_down);
	fcl_info("FOT %s", detail);
	report_event(s, "fot_basis", detail);
	fcl_agg_fot_next_task(s->agg);
	forget(k, s->sched.per_round);
	k->bytes_up = k->bytes_down = 0;
}
