/* tests/test_fedbn.c - FedBN's per-client evaluation at the coordinator
 *
 * model.batchnorm: local with evaluation.local_models: each update carries its
 * client's own batchnorm values (ClientUpdate.bn). On a tiny synthetic run
 * (a batchnorm layer on the one-channel input, 4 clients in 2 processes, every round
 * evaluated) the clients send zero updates with batchnorm values of their
 * own, so the global model stays the initial one and every expected accuracy
 * can be recomputed here, independently of server/evaluate.c: the test writes
 * each client's values straight into a copy of the parameters at the layers'
 * offsets and scores it with fcl_evaluate. Then the local models, the fedbn
 * record (the latest values of each client), updates with batchnorm values of
 * the wrong length or none, values the scenario does not expect, and the
 * record through a checkpoint.
 */
#include "round_world.h"

#include "fcl/arch.h"
#include "fcl/eval.h"
#include "fcl/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char scenario[] =
    "name: fedbn-test\n"
    "seed: 4\n"
    "data: {dataset: synthetic, synthetic: {train: 200, test: 120, dim: 8, classes: 4}}\n"
    "model:\n"
    "  layers: [{type: batchnorm}, {type: flatten}, {type: dense, units: 6}, {type: relu}, {type: "
    "dense}]\n"
    "  batchnorm: local\n"
    "clients: {count: 4, per_round: 4}\n"
    "tasks: {generator: single, count: 1, rounds_per_task: 3}\n"
    "train: {batch_size: 10}\n"
    "aggregation: {rule: fedavg}\n"
    "evaluation: {every_rounds: 1, local_models: true}\n"
    "run: {round_timeout: 60, join_timeout: 30, quorum: 0.5}\n";

#define BN_MAX 256

/* Client c's batchnorm values of version v, packed (gamma, beta, running mean
 * and variance per layer) and written into params, a copy of the global ones,
 * at the layers' own offsets. Returns how many. */
static size_t own_values(const struct fcl_arch *a, uint32_t c, uint32_t v, float *packed,
			 float *params)
{
	size_t n = 0;

	for (uint32_t l = 0; l < a->n_body; l++) {
		const struct fcl_layer *L = &a->layers[l];
		if (L->s.kind != FCL_LAYER_BATCHNORM)
			continue;
		size_t C = L->n_params / 2;
		for (size_t k = 0; k < 4 * C && n < BN_MAX; k++, n++) {
			double x = sin(1.3 * c + 0.7 * k + 2.1 * v);
			/* gamma of +-3 (a sign flip too), beta and mean of +-2, variance in
			 * [0.1, 1.1]: enough to move an untrained model's predictions */
			float val = k < C       ? (float)(3.0 * x)
				    : k < 3 * C ? (float)(2.0 * x)
						: (float)(0.1 + x * x);
			packed[n] = val;
			params[k < 2 * C ? L->w_off + k : L->s_off + (k - 2 * C)] = val;
		}
	}
	return n;
}

/* The accuracy of params on task 0's test samples, by fcl_evaluate. */
static double score(struct world *w, float *params)
{
	struct fcl_eval_scratch t;
	const struct fcl_task *task = &w->sched.tasks[0];
	float *saved = w->model.params;
	double acc = NAN;

	if (fcl_eval_scratch_init(&t, 64, w->sched.dim) != 0)
		return acc;
	w->model.params = params;
	acc = fcl_evaluate(&w->model, &t, &w->test, task->test_idx, task->n_test, task->perm);
	w->model.params = saved;
	fcl_eval_scratch_fini(&t);
	return acc;
}

/* An update of zeros from client c (peer c / 2) carrying n_bn values of bn. */
static void zero_update(struct world *w, uint32_t c, uint32_t round, const float *bn, size_t n_bn)
{
	float *v = calloc(w->model.n_params, sizeof *v);
	if (!v)
		return;
	struct fcl_msg m = {.type = FCL_MSG_CLIENT_UPDATE,
			    .round = round,
			    .client_id = c,
			    .values = v,
			    .n_values = w->model.n_params,
			    .n_samples = 25,
			    .loss = 1.0f,
			    .train_seconds = 0.01,
			    .bn = bn,
			    .n_bn = n_bn};
	deliver(w, (int)(c / 2), &m);
	free(v);
}

struct expect {
	float bn[4][BN_MAX];
	double acc[4];
	size_t n;
};

/* Client c's values of version v and the accuracy they give the global model. */
static void expect_client(struct world *w, struct expect *x, uint32_t c, uint32_t v)
{
	float *p = malloc(w->model.n_params * sizeof *p);
	if (!p)
		return;
	memcpy(p, w->model.params, w->model.n_params * sizeof *p);
	x->n = own_values(&w->model.arch, c, v, x->bn[c], p);
	x->acc[c] = score(w, p);
	free(p);
}

static int same(double a, double b)
{
	return fabs(a - b) < 1e-12;
}

/* The fedbn row of round `round` holds the mean, min and max of acc over the
 * clients in `has`. */
static int fedbn_row_is(const struct world *w, size_t row, const double *acc, const int *has)
{
	const double *f = w->eval.fedbn + row * FEDBN_N;
	double sum = 0, lo = INFINITY, hi = -INFINITY;
	uint32_t k = 0;

	for (uint32_t c = 0; c < 4; c++)
		if (has[c]) {
			sum += acc[c];
			lo = fmin(lo, acc[c]);
			hi = fmax(hi, acc[c]);
			k++;
		}
	return f[FEDBN_CLIENTS] == k && same(f[FEDBN_MEAN], sum / k) && same(f[FEDBN_MIN], lo) &&
	       same(f[FEDBN_MAX], hi);
}

static void fedbn_run(struct world *w)
{
	static struct expect x;
	uint64_t initial = w->initial_checksum;
	int has[4] = {1, 1, 1, 0};

	for (uint32_t c = 0; c < 4; c++)
		expect_client(w, &x, c, 0);
	/* the synthetic input is one channel of 8: gamma, beta, mean, variance */
	REQUIRE(x.n == 4 && w->round.bn_n == x.n && w->eval.bn_own && w->eval.fedbn,
		"the coordinator expects the 4 batchnorm values per update (%zu)", w->round.bn_n);
	REQUIRE(join_both(w), "both processes join");
	double global = score(w, w->model.params);
	int differ = 0;
	for (uint32_t c = 0; c < 4; c++)
		differ += !same(x.acc[c], global);
	REQUIRE(differ >= 2,
		"the clients' own values change the global model's accuracy (%.3f; "
		"%.3f %.3f %.3f %.3f)",
		global, x.acc[0], x.acc[1], x.acc[2], x.acc[3]);

	/* round 0: client 3's values are one short */
	forget_log();
	for (uint32_t c = 0; c < 3; c++)
		zero_update(w, c, 0, x.bn[c], x.n);
	zero_update(w, 3, 0, x.bn[3], x.n - 1);
	CHECK(logged("client 3 in round 0 rejected: wrong number of batchnorm values"),
	      "an update with 3 batchnorm values is rejected, naming why");
	CHECK(w->round.round == 1 && file_has(w, "events.jsonl", "\"accepted\":3,\"rejected\":1"),
	      "... and the round closes with the other three");
	CHECK(fcl_hash64(w->model.params, w->model.n_params * sizeof(float)) == initial,
	      "zero updates leave the global model as it was");
	int local_ok = 1;
	for (uint32_t c = 0; c < 3; c++)
		local_ok &= w->eval.local[c].n_rows == 1 && same(w->eval.local[c].acc[0], x.acc[c]);
	CHECK(local_ok,
	      "each local model is scored with its client's own batchnorm values "
	      "(%.4f %.4f %.4f)",
	      w->eval.local[0].n_rows ? w->eval.local[0].acc[0] : NAN,
	      w->eval.local[1].n_rows ? w->eval.local[1].acc[0] : NAN,
	      w->eval.local[2].n_rows ? w->eval.local[2].acc[0] : NAN);
	CHECK(w->eval.local[3].n_rows == 0 && !w->eval.bn_own[3],
	      "the rejected client has no local model and no values kept");
	REQUIRE(w->eval.n_rows == 1 && same(w->eval.acc[0], global),
		"the global model is evaluated as it is (%.4f)", w->eval.acc[0]);
	CHECK(fedbn_row_is(w, 0, x.acc, has),
	      "fedbn after round 0: mean, min and max over clients 0-2 with their own values "
	      "(%.4f over %.0f)",
	      w->eval.fedbn[FEDBN_MEAN], w->eval.fedbn[FEDBN_CLIENTS]);
	CHECK(file_has(w, "eval.csv", "0,fedbn-2,0,"), "eval.csv has a fedbn-K row per client");

	/* round 1: client 0 sends new values (a version that scores otherwise, so
	 * stale values would show), client 3 none at all */
	double before = x.acc[0];
	for (uint32_t v = 1; v < 16 && same(x.acc[0], before); v++)
		expect_client(w, &x, 0, v);
	REQUIRE(!same(x.acc[0], before), "client 0's new values score %.4f, not %.4f", x.acc[0],
		before);
	forget_log();
	for (uint32_t c = 0; c < 3; c++)
		zero_update(w, c, 1, x.bn[c], x.n);
	zero_update(w, 3, 1, NULL, 0);
	CHECK(logged("client 3 in round 1 rejected: wrong number of batchnorm values"),
	      "an update without batchnorm values is rejected too");
	CHECK(w->round.round == 2 && w->eval.n_rows == 2 && fedbn_row_is(w, 1, x.acc, has),
	      "fedbn after round 1 uses client 0's latest values");

	/* the record through a checkpoint */
	struct coord_eval back;
	FILE *f = tmpfile();
	REQUIRE(f && coord_eval_save(&w->eval, f) == 0, "the evaluations are saved");
	REQUIRE(coord_eval_init(&back, &w->eval.c) == 0, "a fresh record");
	rewind(f);
	int rc = coord_eval_load(&back, f);
	fclose(f);
	CHECK(rc == 0 && back.n_rows == 2 &&
		  !memcmp(back.fedbn, w->eval.fedbn, 2 * FEDBN_N * sizeof *back.fedbn) &&
		  back.bn_own[0] && !memcmp(back.bn_own[0], x.bn[0], x.n * sizeof(float)) &&
		  !back.bn_own[3],
	      "a checkpoint keeps the fedbn rows and each client's latest values");
	coord_eval_fini(&back);
}

/* A scenario without FedBN takes no batchnorm values. */
static void unexpected_values(struct world *w)
{
	float bn[4] = {1, 1, 0, 0};

	REQUIRE(join_both(w), "both processes join (fedavg policy, no batchnorm layer)");
	forget_log();
	zero_update(w, 0, 0, bn, 4);
	CHECK(logged("client 0 in round 0 rejected: wrong number of batchnorm values"),
	      "an update with batchnorm values the scenario does not expect is rejected");
	CHECK(w->round.n_rejected == 1 && w->round.phase == COORD_TRAINING,
	      "... counted, and the round goes on");
}

int main(void)
{
	fcl_log_set(log_sink, NULL);
	struct world *w = world_new_text(scenario);
	CHECK(w != NULL, "a FedBN run is set up");
	if (w)
		fedbn_run(w);
	world_free(w);
	w = world_new("fedavg");
	CHECK(w != NULL, "a run without batchnorm is set up");
	if (w)
		unexpected_values(w);
	world_free(w);
	return tap_done();
}
