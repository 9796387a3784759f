/* tests/test_aggregate.c - the aggregation rules on hand-made updates */
#include "fcl/model.h"
#include "fcl/override.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tiny MLP 3-2 (one layer: W (2, 3) then b (2)): 8 parameters. */
static struct fcl_mlp mlp;
enum { NP = 8 };

/* A rule from a scenario's aggregation section, e.g. make("fedadam", "server_lr: 0.1"):
 * the rule's keys go through the parser like a scenario file's. */
/* An aggregator of that rule on a scenario with those tasks (a flow mapping). */
static struct fcl_agg *make_tasks(const char *rule, const char *settings, const char *tasks)
{
	char text[512], err[256];
	struct fcl_scenario sc;
	struct fcl_agg *a = NULL;
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 10, per_round: 5}\n"
		 "tasks: %s\naggregation: {rule: %s%s%s}\n",
		 tasks, rule, settings ? ", " : "", settings ? settings : "");
	if (fcl_scenario_parse(&sc, text, strlen(text), "<test>", err, sizeof err) != 0) {
		NOTE("%s", err);
		return NULL;
	}
	if (fcl_agg_create(&sc, &mlp, NULL, &a) != 0)
		return NULL;
	return a;
}

static struct fcl_agg *make(const char *rule, const char *settings)
{
	return make_tasks(rule, settings, "{generator: single}");
}

static double max_diff(const float *a, const double *b, size_t n)
{
	double w = 0;
	for (size_t i = 0; i < n; i++)
		w = fmax(w, fabs(a[i] - b[i]));
	return w;
}

static float D[5][NP]; /* five updates: four honest near 1, one attacker */
static struct fcl_agg_update U[5];

static void setup_updates(void)
{
	for (int i = 0; i < 5; i++) {
		for (int k = 0; k < NP; k++)
			D[i][k] = i < 4 ? 1.0f + 0.1f * (float)i + 0.01f * (float)k : -50.0f;
		U[i] = (struct fcl_agg_update){.client_id = (uint32_t)i,
					       .n_samples = (uint64_t)(10 * (i + 1)),
					       .local_steps = (uint32_t)(i + 1),
					       .delta = D[i]};
	}
}

static const char *uniform = "weighting: uniform";

static void test_fedavg(void)
{
	float p[NP] = {0};
	double want[NP];
	struct fcl_agg *a = make("fedavg", NULL);
	REQUIRE(a != NULL, "fedavg created");
	/* weights 10, 20, 30, 40 over the four honest ones */
	for (int k = 0; k < NP; k++)
		want[k] = (10 * D[0][k] + 20 * D[1][k] + 30 * D[2][k] + 40 * D[3][k]) / 100.0;
	fcl_agg_step(a, U, 4, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "sample-weighted mean");
	fcl_agg_destroy(a);
	a = make("fedavg", uniform);
	memset(p, 0, sizeof p);
	for (int k = 0; k < NP; k++)
		want[k] = (D[0][k] + D[1][k] + D[2][k] + D[3][k]) / 4.0;
	fcl_agg_step(a, U, 4, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "uniform mean");
	fcl_agg_destroy(a);
	/* FedNova with equal step counts is FedAvg; with different ones it is tau_eff-rescaled */
	a = make("fednova", NULL);
	memset(p, 0, sizeof p);
	double tau_eff = (10 * 1 + 20 * 2 + 30 * 3 + 40 * 4) / 100.0;
	for (int k = 0; k < NP; k++)
		want[k] =
		    tau_eff *
		    (10 * D[0][k] / 1 + 20 * D[1][k] / 2 + 30 * D[2][k] / 3 + 40 * D[3][k] / 4) /
		    100.0;
	fcl_agg_step(a, U, 4, p);
	CHECK(max_diff(p, want, NP) < 1e-5, "fednova: tau_eff * sum p_i Delta_i / tau_i");
	fcl_agg_destroy(a);
}

static void test_robust(void)
{
	float p[NP] = {0};
	double want[NP];
	struct fcl_agg *a = make("median", NULL);
	fcl_agg_step(a, U, 5, p);
	for (int k = 0; k < NP; k++)
		want[k] = D[1][k]; /* sorted: -50, d0, d1, d2, d3 -> d1 */
	CHECK(max_diff(p, want, NP) < 1e-7, "median ignores the attacker");
	fcl_agg_destroy(a);

	a = make("trimmed-mean", NULL); /* trim .2 of 5: one at each end */
	memset(p, 0, sizeof p);
	for (int k = 0; k < NP; k++)
		want[k] = (D[0][k] + D[1][k] + D[2][k]) / 3.0;
	fcl_agg_step(a, U, 5, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "trimmed mean drops the extremes");
	fcl_agg_destroy(a);

	a = make("krum", NULL); /* f = 2: score = nearest 1 */
	memset(p, 0, sizeof p);
	fcl_agg_step(a, U, 5, p);
	/* d0..d3 are 0.1 apart in every coordinate: every honest one scores about 8 * .01;
	 * Krum returns one of them unchanged */
	int picked = -1;
	for (int i = 0; i < 5; i++)
		if (memcmp(p, D[i], sizeof p) == 0)
			picked = i;
	CHECK(picked >= 0 && picked < 4, "krum picks an honest update (client %d)", picked);
	fcl_agg_destroy(a);
}

static void test_multikrum(void)
{
	float p[NP] = {0};
	struct fcl_agg *a = make("krum", "krum_select: 3, byzantine: 1");
	fcl_agg_step(a, U, 5, p);
	int honest = 1;
	for (int k = 0; k < NP; k++)
		honest &= p[k] > 0.9f && p[k] < 1.5f;
	CHECK(honest, "multi-krum (m 3) averages honest updates only");
	fcl_agg_destroy(a);
}

static const char *adam = "server_lr: 0.1, weighting: uniform";

static void test_fedopt(void)
{
	float p[NP] = {0};
	double want[NP];
	struct fcl_agg *a = make("fedadam", adam);
	fcl_agg_step(a, U, 1, p); /* g = d0: m = .1 g, v = .01 g^2 -> .1 * .1 g / (.1 |g| + 1e-3) */
	for (int k = 0; k < NP; k++) {
		double g = D[0][k];
		want[k] = 0.1 * 0.1 * g / (0.1 * fabs(g) + 1e-3);
	}
	CHECK(max_diff(p, want, NP) < 1e-5, "fedadam first step");
	/* state round trip: a copy continues exactly like the original */
	FILE *f = tmpfile();
	REQUIRE(f && fcl_agg_save(a, f) == 0, "fedadam state saved");
	rewind(f);
	struct fcl_agg *b = make("fedadam", adam);
	REQUIRE(fcl_agg_load(b, f) == 0, "fedadam state loaded");
	float q[NP];
	memcpy(q, p, sizeof p);
	fcl_agg_step(a, U + 1, 1, p);
	fcl_agg_step(b, U + 1, 1, q);
	CHECK(memcmp(p, q, sizeof p) == 0, "restored state gives the same next step");
	rewind(f);
	struct fcl_agg *c = make("fedyogi", adam);
	CHECK(fcl_agg_load(c, f) == -22, "another rule's state is refused");
	fclose(f);
	fcl_agg_destroy(a);
	fcl_agg_destroy(b);
	fcl_agg_destroy(c);

	/* fedavgm with beta1 0 and server lr 1 is fedavg */
	struct fcl_agg *m = make("fedavgm", "beta1: 0"), *avg = make("fedavg", NULL);
	float x[NP] = {0}, y[NP] = {0};
	fcl_agg_step(m, U, 4, x);
	fcl_agg_step(avg, U, 4, y);
	CHECK(memcmp(x, y, sizeof x) == 0, "fedavgm with beta 0 equals fedavg");
	fcl_agg_destroy(m);
	fcl_agg_destroy(avg);
}

/* FOT through its protocol hooks: at a task end the request carries the
 * bases, each participant's sketch is accepted, the round end grows them,
 * and later rounds project the update off them. */
static void test_fot_rule(void)
{
	float p[NP] = {0};
	struct fcl_agg *a = make("fot", uniform);
	struct fcl_round_info mid = {.round = 0, .task_end = 0, .n_slots = 4, .n_train = 1000};
	struct fcl_round_info end = mid;
	struct fcl_extras req, ans = {.n_tensors = 1, .n_ints = 2, .n_reals = 1};
	const char *why = NULL;
	REQUIRE(a != NULL, "fot created");
	end.task_end = 1;
	end.request_sends = 1;
	CHECK(fcl_agg_answers(a, &mid) == 0 && fcl_agg_answers(a, &end) == 1,
	      "one sketch per layer, at task ends only");
	REQUIRE(fcl_agg_request(a, &mid, &req) == 0 && req.n_tensors == 0,
		"no request outside task ends");
	REQUIRE(fcl_agg_request(a, &end, &req) == 0 && req.n_tensors == 1 && req.t[0].rows == 3 &&
		    req.t[0].cols == 0 && req.n_ints == 2 && req.ints[1] == 3,
		"the task end asks for sketches of width c = d = 3 with an empty basis");
	/* a sketch whose column space is e1: one direction */
	float narrow[3] = {5, 0, 0};
	ans.t[0] = (struct fcl_tensor){.v = narrow, .rows = 3, .cols = 1};
	ans.ints[0] = 0;
	ans.ints[1] = 10;
	ans.reals[0] = 1.0;
	CHECK(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == -EPROTO && why &&
		  !strcmp(why, "wrong shape"),
	      "a sketch of the wrong width is refused (%s)", why ? why : "");
	float Y[9] = {5, 1, 0, 0, 0, 0, 0, 0, 0};
	ans.t[0] = (struct fcl_tensor){.v = Y, .rows = 3, .cols = 3};
	ans.ints[1] = 1001;
	CHECK(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == -EPROTO,
	      "more samples than the data set holds are refused");
	ans.ints[1] = 10;
	REQUIRE(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == 0, "a good sketch is kept");
	CHECK(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == -EPROTO,
	      "a second sketch of the layer is refused");
	struct fcl_agg_update u0 = U[0];
	u0.slot = 0;
	REQUIRE(fcl_agg_round_end(a, &end, &u0, 1) == 0, "task end grows the basis");
	REQUIRE(fcl_agg_request(a, &end, &req) == 0 && req.t[0].cols == 1 &&
		    fabsf(fabsf(req.t[0].v[0]) - 1.0f) < 1e-6,
		"the next request carries the basis e1");
	float e1 = req.t[0].v[0];
	fcl_agg_step(a, U, 4, p);
	/* W (2, 3) at 0: column 0 (input 0) projected out; biases (6, 7) untouched */
	CHECK(fabsf(p[0]) < 1e-6 && fabsf(p[3]) < 1e-6, "updates along e1 removed");
	CHECK(p[1] > 0.9f && p[6] > 0.9f && p[7] > 0.9f, "other inputs and biases kept");
	/* state round trip */
	FILE *f = tmpfile();
	REQUIRE(f && fcl_agg_save(a, f) == 0, "fot state saved");
	rewind(f);
	struct fcl_agg *b = make("fot", uniform);
	REQUIRE(fcl_agg_load(b, f) == 0, "fot state loaded");
	REQUIRE(fcl_agg_request(b, &end, &req) == 0 && req.t[0].cols == 1 && req.t[0].v[0] == e1,
		"bases travel in the state");
	/* protect_output: false: the same basis, but the output layer (here the only
	 * one) is not projected: the update along e1 stays (the plain mean: 1.15 at 0, 1.18 at 3) */
	rewind(f);
	struct fcl_agg *o = make("fot", "weighting: uniform, protect_output: false");
	REQUIRE(o && fcl_agg_load(o, f) == 0, "fot state loaded with protect_output: false");
	float q[NP] = {0};
	fcl_agg_step(o, U, 4, q);
	CHECK(fabsf(q[0] - 1.15f) < 1e-5 && fabsf(q[3] - 1.18f) < 1e-5,
	      "protect_output: false leaves the output layer's update unprojected (%g)", q[0]);
	fcl_agg_destroy(o);
	/* per-task heads (a task-incremental scenario): the output layer is a
	 * head per task, never projected, even with protect_output left true */
	rewind(f);
	struct fcl_agg *h = make_tasks("fot", "weighting: uniform",
				       "{generator: task-incremental, count: 2, classes_per_task: 2}");
	REQUIRE(h && fcl_agg_load(h, f) == 0, "fot state loaded with per-task heads");
	float r[NP] = {0};
	fcl_agg_step(h, U, 4, r);
	CHECK(fabsf(r[0] - 1.15f) < 1e-5 && fabsf(r[3] - 1.18f) < 1e-5,
	      "per-task heads leave the output layer's update unprojected (%g)", r[0]);
	fcl_agg_destroy(h);
	fclose(f);
	fcl_agg_destroy(b);
	fcl_agg_destroy(a);
}

static void test_override(void)
{
	const char *text = "name: x\ndata: {dataset: synthetic}\nclients: {count: 4}\n"
			   "tasks: {generator: single}\naggregation:\n  rule: fedavg\n";
	const char *sets[] = {"aggregation.rule=fot", "aggregation.threshold=0.9", "train.lr=0.5"};
	char *out = NULL, err[256];
	size_t len;
	struct fcl_scenario sc;
	REQUIRE(fcl_scenario_override(text, strlen(text), sets, 3, &out, &len, err, sizeof err) ==
		    0,
		"override applied");
	REQUIRE(fcl_scenario_parse(&sc, out, len, "<override>", err, sizeof err) == 0,
		"the edited text parses: %s", err);
	struct fcl_agg *a = NULL;
	struct fcl_extras req;
	struct fcl_round_info end = {.task_end = 1, .n_slots = 1};
	CHECK(sc.aggregation.rule == fcl_rule_find("fot"), "rule replaced");
	CHECK(fcl_agg_create(&sc, &mlp, NULL, &a) == 0 && fcl_agg_request(a, &end, &req) == 0 &&
		  req.n_ints == 2 && req.ints[1] == 3,
	      "the fot rule runs with the edited scenario");
	fcl_agg_destroy(a);
	CHECK(fabsf(sc.train.lr - 0.5f) < 1e-7, "a missing section is created");
	free(out);
	const char *bad[] = {"aggregation"};
	CHECK(fcl_scenario_override(text, strlen(text), bad, 1, &out, &len, err, sizeof err) == -22,
	      "KEY without =VALUE is refused");
}

/* SCAFFOLD's server: x += server_lr mean(Delta y); c += |S|/N mean(Delta c). */
static void test_scaffold(void)
{
	float p[NP] = {0}, dc[2][NP];
	struct fcl_round_info r = {.n_slots = 2, .n_train = 1000};
	struct fcl_extras req, x = {.n_tensors = 1};
	const char *why = NULL;
	struct fcl_agg *a = make("scaffold", uniform); /* clients.count = 10 */
	REQUIRE(a && fcl_agg_request(a, &r, &req) == 0 && req.n_tensors == 1 &&
		    req.t[0].cols == NP && req.t[0].v[0] == 0.0f,
		"the round start carries c, zero at first");
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < NP; k++)
			dc[i][k] = (float)(i + 1);
		x.t[0] = (struct fcl_tensor){.v = dc[i], .rows = 1, .cols = NP};
		REQUIRE(fcl_agg_accept_update(a, &r, (uint32_t)i, &x, &why) == 0,
			"Delta c of slot %d kept", i);
	}
	struct fcl_agg_update v[2] = {U[0], U[1]};
	v[1].slot = 1;
	fcl_agg_step(a, v, 2, p);
	CHECK(fabsf(p[0] - 0.5f * (D[0][0] + D[1][0])) < 1e-6, "x moves by the mean update");
	REQUIRE(fcl_agg_request(a, &r, &req) == 0, "request after the round");
	CHECK(fabsf(req.t[0].v[3] - 0.3f) < 1e-6, "c += (2/10) * mean(1, 2) = 0.3");
	x.n_tensors = 0;
	CHECK(fcl_agg_accept_update(a, &r, 0, &x, &why) == -EPROTO,
	      "an update without Delta c is refused (%s)", why ? why : "");
	fcl_agg_destroy(a);
}

/* The client halves: FedProx adds mu (w - w_global) and SCAFFOLD c - c_i to
 * every gradient through the optimiser's hook; SCAFFOLD's c_i moves by Delta c. */
static void test_client_hooks(void)
{
	char text[256], err[256];
	struct fcl_scenario sc;
	struct fcl_rule_worker w;
	struct fcl_sgd opt;
	float p[NP], g[NP] = {0}, global[NP] = {0}, update[NP];
	void *state = NULL;
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 4}\ntasks: {generator: single}\n"
		 "train: {lr: 0.5}\naggregation: {rule: fedprox, mu: 0.1}\n");
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<t>", err, sizeof err) == 0, "%s",
		err);
	REQUIRE(fcl_rule_worker_init(&w, &sc, NULL, NULL, &mlp) == 0, "fedprox worker");
	for (int k = 0; k < NP; k++)
		p[k] = (float)(k + 1);
	fcl_sgd_init(&opt, 0.5f, 0.0f, 0.0f);
	struct fcl_extras none = {0};
	struct fcl_local_round lr = {
	    .request = &none, .global = global, .opt = &opt, .state = &state};
	REQUIRE(fcl_rule_before_train(&w, &lr) == 0 && opt.grad_hook, "fedprox sets a hook");
	fcl_sgd_step(&opt, p, g, NP); /* p -= .5 * .1 * p */
	CHECK(fabsf(p[0] - 0.95f) < 1e-6 && fabsf(p[2] - 2.85f) < 1e-6,
	      "proximal term pulls toward the global model");
	fcl_rule_worker_fini(&w);
	fcl_sgd_fini(&opt);

	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 4}\ntasks: {generator: single}\n"
		 "train: {lr: 0.5}\naggregation: {rule: scaffold}\n");
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<t>", err, sizeof err) == 0, "%s",
		err);
	REQUIRE(fcl_rule_worker_init(&w, &sc, NULL, NULL, &mlp) == 0, "scaffold worker");
	float c[NP];
	for (int k = 0; k < NP; k++) {
		c[k] = 0.25f;
		p[k] = 0.0f;
		g[k] = 0.0f;
	}
	struct fcl_extras req = {.n_tensors = 1}, out;
	req.t[0] = (struct fcl_tensor){.v = c, .rows = 1, .cols = NP};
	const char *why = NULL;
	CHECK(fcl_rule_check_request(&w, &none, &why) == -EPROTO,
	      "a round start without c is refused");
	REQUIRE(fcl_rule_check_request(&w, &req, &why) == 0, "c of the model's size accepted");
	fcl_sgd_init(&opt, 0.5f, 0.0f, 0.0f);
	lr.request = &req;
	REQUIRE(fcl_rule_before_train(&w, &lr) == 0 && state, "c_i created at first use");
	fcl_sgd_step(&opt, p, g, NP); /* g = c - c_i = .25: p = -.125 */
	CHECK(fabsf(p[0] + 0.125f) < 1e-7, "gradients corrected by c - c_i");
	for (int k = 0; k < NP; k++)
		update[k] = p[k];
	lr.local_steps = 1; /* c_i+ = c_i - c + (x - y)/(K lr) = -.25 + .125/.5 = 0 */
	REQUIRE(fcl_rule_after_train(&w, &lr, update, &out) == 0 && out.n_tensors == 1, "Delta c");
	CHECK(fabsf(out.t[0].v[0] + 0.0f) < 1e-7 && fabsf(((float *)state)[0]) < 1e-7,
	      "Delta c_i = c_i+ - c_i = 0 for one step at the corrected gradient");
	((float *)state)[1] = 3.5f;
	char *buf = NULL;
	size_t len = 0;
	void *copy = NULL, *none_state = NULL;
	FILE *f = open_memstream(&buf, &len);
	REQUIRE(f && fcl_rule_client_save(&w, state, f) == 0 &&
		    fcl_rule_client_save(&w, NULL, f) == 0 && fclose(f) == 0,
		"c_i saved, and a client that never trained");
	f = fmemopen(buf, len, "rb");
	CHECK(f && fcl_rule_client_load(&w, &copy, f) == 0 && copy &&
		  memcmp(copy, state, NP * sizeof(float)) == 0 &&
		  fcl_rule_client_load(&w, &none_state, f) == 0 && !none_state,
	      "c_i loaded bit for bit (%zu bytes); the untrained client stays without one", len);
	if (f)
		fclose(f);
	free(buf);
	fcl_rule_client_free(&w, copy);
	fcl_rule_client_free(&w, state);
	fcl_rule_worker_fini(&w);
	fcl_sgd_fini(&opt);
}

/* Rules that keep per-client state can checkpoint it. */
static void test_client_state_hooks(void)
{
	for (size_t i = 0; fcl_rule_at(i); i++) {
		const struct fcl_rule *r = fcl_rule_at(i);
		if (r->client_state_free)
			CHECK(r->client_state_save && r->client_state_load,
			      "%s saves and loads the client state it keeps", r->name);
	}
}

/* Issue 16: the cap holds the largest valid message of each rule. */
static void test_message_caps(void)
{
	const uint32_t sizes[3] = {784, 1024, 10}, fot_sizes[3] = {784, 256, 10};
	size_t np = 784 * 1024 + 1024 + 1024 * 10 + 10, fot_np = 784 * 256 + 256 + 2570;
	char text[256], err[256];
	struct fcl_scenario sc;
	const char *rules[3] = {"fedavg", "scaffold", "fot, sketch_columns: 4"};
	uint64_t cap[3];

	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof text,
			 "data: {dataset: synthetic}\nclients: {count: 1000}\n"
			 "tasks: {generator: single}\naggregation: {rule: %s}\n",
			 rules[i]);
		REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<t>", err, sizeof err) == 0,
			"%s", err);
		cap[i] = i < 2 ? fcl_rule_max_message_bytes(&sc, 2, sizes, np, 1000, NULL)
			       : fcl_rule_max_message_bytes(&sc, 2, fot_sizes, fot_np, 1000, NULL);
	}
	CHECK(cap[0] >= np * 4 + 1000 * 5 && cap[0] < np * 4 + (1 << 20),
	      "fedavg: the parameters and every id, little more (%llu)",
	      (unsigned long long)cap[0]);
	CHECK(cap[1] >= 2 * np * 4 + 1000 * 5 && cap[1] < 2 * np * 4 + (1 << 20),
	      "scaffold: twice the parameters (%llu for %zu parameters)",
	      (unsigned long long)cap[1], np);
	/* a process's sum of sketches: every layer's, 8 bytes a value */
	uint64_t sums = 8ull * (784 * 3136 + 256 * 1024 + 10 * 40 + 3 * 3);
	CHECK(cap[2] >= sums && cap[2] < fot_np * 4 + sums + (1 << 20),
	      "fot at sketch_columns 4: a process's sum of every layer's sketches (%llu)",
	      (unsigned long long)cap[2]);
}

/* FOT on a small CNN: conv 2 k2 (bias) on 1x3x3, relu, flatten, dense 4,
 * relu, dense head 3. Protected layers: the conv weight as (2, 1*2*2), then
 * the two dense weights; conv and dense biases are never projected. */
static void test_fot_conv(void)
{
	struct fcl_layer_spec l[6] = {
	    {.kind = FCL_LAYER_CONV2D, .units = 2, .kernel = 2, .stride = 1, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_FLATTEN},
	    {.kind = FCL_LAYER_DENSE, .units = 4, .bias = 1},
	    {.kind = FCL_LAYER_RELU},
	    {.kind = FCL_LAYER_DENSE, .units = 0, .bias = 1}};
	struct fcl_arch arch;
	struct fcl_mlp cnn;
	struct fcl_scenario sc;
	struct fcl_agg *a = NULL;
	char err[256];
	const char *text = "data: {dataset: synthetic}\nclients: {count: 10, per_round: 5}\n"
			   "tasks: {generator: single}\naggregation: {rule: fot, weighting: uniform, "
			   "conv_sketch_columns: 2, conv_sketch_max: 5}\n";

	REQUIRE(fcl_arch_compile(&arch, l, 6, (struct fcl_input_shape){1, 3, 3}, 3, NULL, err,
				 sizeof err) == 0 &&
		    fcl_model_init(&cnn, &arch, 4) == 0,
		"a small CNN");
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<t>", err, sizeof err) == 0,
		"fot's conv keys parse");
	REQUIRE(fcl_agg_create(&sc, &cnn, NULL, &a) == 0, "fot on the CNN");
	struct fcl_round_info end = {.task_end = 1, .n_slots = 4, .n_train = 1000,
				     .request_sends = 1};
	struct fcl_extras req, ans = {.n_tensors = 1, .n_ints = 2, .n_reals = 1};
	const char *why = NULL;
	CHECK(fcl_agg_answers(a, &end) == 3, "one sketch per protected layer: conv, dense, head");
	REQUIRE(fcl_agg_request(a, &end, &req) == 0 && req.n_tensors == 3 && req.n_ints == 4,
		"the request covers the conv layer too");
	CHECK(req.t[0].rows == 4 && req.ints[1] == 5 && req.t[1].rows == 8 && req.ints[2] == 8 &&
		  req.t[2].rows == 4 && req.ints[3] == 4,
	      "conv d = C_in*kh*kw = 4, width min(2 d, conv_sketch_max 5); dense widths d");
	/* a conv sketch spanning v = (1, 1, 0, 0) / sqrt 2 */
	float Y[4 * 5] = {0};
	Y[0] = Y[5] = 5.0f;
	ans.t[0] = (struct fcl_tensor){.v = Y, .rows = 4, .cols = 4};
	ans.ints[0] = 0;
	ans.ints[1] = 10;
	ans.reals[0] = 1.0;
	CHECK(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == -EPROTO,
	      "a conv sketch of the dense width is refused");
	ans.t[0].cols = 5;
	REQUIRE(fcl_agg_accept_answer(a, &end, 0, &ans, 100, &why) == 0, "a conv sketch is kept");
	struct fcl_agg_update up[4];
	float *d = malloc(4 * cnn.n_params * sizeof *d), *mean = calloc(cnn.n_params, sizeof *mean);
	float *p = calloc(cnn.n_params, sizeof *p);
	struct fcl_rng r;
	fcl_rng_init(&r, 4, FCL_RNG_TEST, 0, 0);
	for (size_t i = 0; i < 4 * cnn.n_params; i++)
		d[i] = fcl_rng_normal(&r);
	for (int i = 0; i < 4; i++) {
		up[i] = (struct fcl_agg_update){
		    .client_id = (uint32_t)i, .slot = (uint32_t)i, .n_samples = 10,
		    .local_steps = 1, .delta = d + i * cnn.n_params};
		for (size_t q = 0; q < cnn.n_params; q++)
			mean[q] += d[i * cnn.n_params + q] / 4;
	}
	REQUIRE(fcl_agg_round_end(a, &end, up, 1) == 0, "the task end grows the conv basis");
	REQUIRE(fcl_agg_request(a, &end, &req) == 0 && req.t[0].cols == 1 && req.t[1].cols == 0,
		"the conv layer has one direction, the dense layers none");
	fcl_agg_step(a, up, 4, p);
	const struct fcl_layer *cv = &cnn.arch.layers[0];
	double along = 0, kept = 0, rest = 0;
	for (int o = 0; o < 2; o++) {
		const float *w = p + cv->w_off + o * 4, *m = mean + cv->w_off + o * 4;
		along = fmax(along, fabs(w[0] + w[1]));
		kept = fmax(kept, fabs((w[0] - w[1]) - (m[0] - m[1])));
		kept = fmax(kept, fmax(fabs(w[2] - m[2]), fabs(w[3] - m[3])));
	}
	CHECK(along < 1e-5 && kept < 1e-5,
	      "the conv update is orthogonal to the basis (%.2g), the rest of it kept (%.2g)",
	      along, kept);
	for (size_t q = 0; q < cnn.n_params; q++)
		if (q < cv->w_off || q >= cv->w_off + 8)
			rest = fmax(rest, fabs(p[q] - mean[q]));
	CHECK(rest < 1e-5 && fabs(p[cv->b_off] - mean[cv->b_off]) < 1e-5,
	      "conv bias and every other tensor: the plain mean (%.2g)", rest);
	const struct fcl_rule *rule = sc.aggregation.rule;
	uint64_t with = rule->max_extras_bytes(sc.aggregation.params, cnn.n_layers, cnn.sizes,
					       cnn.n_params, &cnn.arch),
		 without = rule->max_extras_bytes(sc.aggregation.params, cnn.n_layers, cnn.sizes,
						  cnn.n_params, NULL);
	CHECK(with == without + (4 * 5 + 3) * sizeof(int64_t),
	      "the rule's extras bound counts the conv layer's part of a sum of sketches (%llu vs "
	      "%llu)",
	      (unsigned long long)with, (unsigned long long)without);
	free(d);
	free(mean);
	free(p);
	fcl_agg_destroy(a);
	/* per-task heads: the head is neither projected nor sketched */
	const char *til = "data: {dataset: synthetic}\nclients: {count: 10, per_round: 5}\n"
			  "tasks: {generator: task-incremental, count: 1, classes_per_task: 3}\n"
			  "aggregation: {rule: fot}\n";
	REQUIRE(fcl_scenario_parse(&sc, til, strlen(til), "<t>", err, sizeof err) == 0 &&
		    fcl_agg_create(&sc, &cnn, NULL, &a) == 0,
		"fot on the CNN with per-task heads");
	CHECK(fcl_agg_answers(a, &end) == 2 && fcl_agg_request(a, &end, &req) == 0 &&
		  req.n_tensors == 2 && req.t[0].rows == 4 && req.t[1].rows == 8,
	      "per-task heads: sketches of the conv and the hidden dense layer only");
	fcl_agg_destroy(a);
	fcl_mlp_fini(&cnn);
}

int main(void)
{
	test_fot_conv();
	const uint32_t sizes[2] = {3, 2};
	if (fcl_mlp_init(&mlp, 1, sizes, 4) != 0 || mlp.n_params != NP)
		return 1;
	setup_updates();
	test_fedavg();
	test_robust();
	test_multikrum();
	test_fedopt();
	test_fot_rule();
	test_override();
	test_client_hooks();
	test_client_state_hooks();
	test_scaffold();
	test_message_caps();
	fcl_mlp_fini(&mlp);
	return tap_done();
}
