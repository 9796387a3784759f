/* tests/test_aggregate.c - the aggregation rules on hand-made updates */
#include "fcl/aggregate.h"
#include "fcl/model.h"
#include "fcl/override.h"
#include "fcl/rng.h"
#include "fcl/scenario.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A tiny MLP 3-2 (one layer: W (2, 3) then b (2)): 8 parameters. */
static struct fcl_mlp mlp;
enum { NP = 8 };

static struct fcl_agg *make(enum fcl_rule_kind rule, void (*tweak)(struct fcl_scenario *))
{
	struct fcl_scenario sc;
	struct fcl_agg *a = NULL;
	fcl_scenario_defaults(&sc);
	sc.aggregation.rule = rule;
	if (tweak)
		tweak(&sc);
	if (fcl_agg_create(&sc, &mlp, &a) != 0)
		return NULL;
	return a;
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

static void uniform(struct fcl_scenario *sc)
{
	sc->aggregation.weighted = 0;
}

static void test_fedavg(void)
{
	float p[NP] = {0};
	double want[NP];
	struct fcl_agg *a = make(FCL_RULE_FEDAVG, NULL);
	REQUIRE(a != NULL, "fedavg created");
	/* weights 10, 20, 30, 40 over the four honest ones */
	for (int k = 0; k < NP; k++)
		want[k] = (10 * D[0][k] + 20 * D[1][k] + 30 * D[2][k] + 40 * D[3][k]) / 100.0;
	fcl_agg_step(a, U, 4, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "sample-weighted mean");
	fcl_agg_destroy(a);
	a = make(FCL_RULE_FEDAVG, uniform);
	memset(p, 0, sizeof p);
	for (int k = 0; k < NP; k++)
		want[k] = (D[0][k] + D[1][k] + D[2][k] + D[3][k]) / 4.0;
	fcl_agg_step(a, U, 4, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "uniform mean");
	fcl_agg_destroy(a);
	/* FedNova with equal step counts is FedAvg; with different ones it is tau_eff-rescaled */
	a = make(FCL_RULE_FEDNOVA, NULL);
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
	struct fcl_agg *a = make(FCL_RULE_MEDIAN, NULL);
	fcl_agg_step(a, U, 5, p);
	for (int k = 0; k < NP; k++)
		want[k] = D[1][k]; /* sorted: -50, d0, d1, d2, d3 -> d1 */
	CHECK(max_diff(p, want, NP) < 1e-7, "median ignores the attacker");
	fcl_agg_destroy(a);

	a = make(FCL_RULE_TRIMMED_MEAN, NULL); /* trim .2 of 5: one at each end */
	memset(p, 0, sizeof p);
	for (int k = 0; k < NP; k++)
		want[k] = (D[0][k] + D[1][k] + D[2][k]) / 3.0;
	fcl_agg_step(a, U, 5, p);
	CHECK(max_diff(p, want, NP) < 1e-6, "trimmed mean drops the extremes");
	fcl_agg_destroy(a);

	a = make(FCL_RULE_KRUM, NULL); /* f = 2: score = nearest 1 */
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

static void multikrum(struct fcl_scenario *sc)
{
	sc->aggregation.krum_select = 3;
	sc->aggregation.byzantine = 1;
}

static void test_multikrum(void)
{
	float p[NP] = {0};
	struct fcl_agg *a = make(FCL_RULE_KRUM, multikrum);
	fcl_agg_step(a, U, 5, p);
	int honest = 1;
	for (int k = 0; k < NP; k++)
		honest &= p[k] > 0.9f && p[k] < 1.5f;
	CHECK(honest, "multi-krum (m 3) averages honest updates only");
	fcl_agg_destroy(a);
}

static void adam(struct fcl_scenario *sc)
{
	sc->aggregation.server_lr = 0.1f;
	sc->aggregation.weighted = 0;
}

static void test_fedopt(void)
{
	float p[NP] = {0};
	double want[NP];
	struct fcl_agg *a = make(FCL_RULE_FEDADAM, adam);
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
	struct fcl_agg *b = make(FCL_RULE_FEDADAM, adam);
	REQUIRE(fcl_agg_load(b, f) == 0, "fedadam state loaded");
	float q[NP];
	memcpy(q, p, sizeof p);
	fcl_agg_step(a, U + 1, 1, p);
	fcl_agg_step(b, U + 1, 1, q);
	CHECK(memcmp(p, q, sizeof p) == 0, "restored state gives the same next step");
	rewind(f);
	struct fcl_agg *c = make(FCL_RULE_FEDYOGI, adam);
	CHECK(fcl_agg_load(c, f) == -22, "another rule's state is refused");
	fclose(f);
	fcl_agg_destroy(a);
	fcl_agg_destroy(b);
	fcl_agg_destroy(c);

	/* fedavgm with beta1 0 and server lr 1 is fedavg */
	struct fcl_agg *m = make(FCL_RULE_FEDAVGM, NULL), *avg = make(FCL_RULE_FEDAVG, NULL);
	m->sc.aggregation.beta1 = 0.0f;
	float x[NP] = {0}, y[NP] = {0};
	fcl_agg_step(m, U, 4, x);
	fcl_agg_step(avg, U, 4, y);
	CHECK(memcmp(x, y, sizeof x) == 0, "fedavgm with beta 0 equals fedavg");
	fcl_agg_destroy(m);
	fcl_agg_destroy(avg);
}

static void test_fot_rule(void)
{
	float p[NP] = {0}, Y[9];
	struct fcl_rng r;
	size_t added, d, k;
	struct fcl_agg *a = make(FCL_RULE_FOT, uniform);
	REQUIRE(a && fcl_agg_wants_sketch(a), "fot wants sketches");
	CHECK(fcl_agg_fot_basis(a, 0, &d, &k) == NULL && d == 3 && k == 0, "no basis at first");
	/* a sketch whose column space is e1: one direction */
	memset(Y, 0, sizeof Y);
	Y[0] = 5.0f;
	Y[1] = 1.0f;
	REQUIRE(fcl_agg_fot_expand(a, 0, Y, 1.0, &added) == 0 && added == 1, "basis grows by 1");
	const float *B = fcl_agg_fot_basis(a, 0, &d, &k);
	CHECK(k == 1 && fabsf(fabsf(B[0]) - 1.0f) < 1e-6, "the basis is e1");
	fcl_agg_step(a, U, 4, p);
	/* W (2, 3) at 0: column 0 (input 0) projected out; biases (6, 7) untouched */
	CHECK(fabsf(p[0]) < 1e-6 && fabsf(p[3]) < 1e-6, "updates along e1 removed");
	CHECK(p[1] > 0.9f && p[6] > 0.9f && p[7] > 0.9f, "other inputs and biases kept");
	/* state round trip */
	FILE *f = tmpfile();
	REQUIRE(f && fcl_agg_save(a, f) == 0, "fot state saved");
	rewind(f);
	struct fcl_agg *b = make(FCL_RULE_FOT, uniform);
	REQUIRE(fcl_agg_load(b, f) == 0, "fot state loaded");
	const float *B2 = fcl_agg_fot_basis(b, 0, &d, &k);
	CHECK(k == 1 && B2 && B2[0] == B[0], "bases travel in the state");
	fclose(f);
	fcl_agg_destroy(b);
	fcl_rng_init(&r, 1, FCL_RNG_TEST, 0, 0);
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
	CHECK(sc.aggregation.rule == FCL_RULE_FOT && fabs(sc.aggregation.threshold - 0.9) < 1e-12,
	      "rule and threshold replaced");
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
	struct fcl_agg_update v[2];
	struct fcl_agg *a = make(FCL_RULE_SCAFFOLD, uniform);
	REQUIRE(a && fcl_agg_control(a) != NULL, "scaffold has a control variate");
	a->sc.clients.count = 10;
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < NP; k++)
			dc[i][k] = (float)(i + 1);
		v[i] = U[i];
		v[i].control_delta = dc[i];
	}
	fcl_agg_step(a, v, 2, p);
	CHECK(fabsf(p[0] - 0.5f * (D[0][0] + D[1][0])) < 1e-6, "x moves by the mean update");
	CHECK(fabsf(fcl_agg_control(a)[3] - 0.3f) < 1e-6, "c += (2/10) * mean(1, 2) = 0.3");
	v[1].control_delta = NULL;
	CHECK(fcl_agg_step(a, v, 2, p) == -71, "an update without Delta c is refused");
	CHECK(fcl_agg_control(NULL) == NULL, "other rules have none");
	fcl_agg_destroy(a);
}

/* FedProx's client side: the proximal gradient mu (w - w_global) in the SGD step. */
static void test_prox(void)
{
	struct fcl_sgd opt;
	float p[3] = {1, 2, 3}, g[3] = {0, 0, 0};
	const float anchor[3] = {0, 0, 0};
	fcl_sgd_init(&opt, 0.5f, 0.0f, 0.0f);
	opt.prox_mu = 0.1f;
	opt.prox_anchor = anchor;
	fcl_sgd_step(&opt, p, g, 3); /* p -= .5 * .1 * p */
	CHECK(fabsf(p[0] - 0.95f) < 1e-6 && fabsf(p[2] - 2.85f) < 1e-6,
	      "proximal term pulls toward the global model");
	opt.prox_anchor = NULL;
	fcl_sgd_step(&opt, p, g, 3);
	CHECK(fabsf(p[0] - 0.95f) < 1e-6, "no anchor, no pull");
	fcl_sgd_fini(&opt);
}

int main(void)
{
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
	test_prox();
	test_scaffold();
	fcl_mlp_fini(&mlp);
	return tap_done();
}
