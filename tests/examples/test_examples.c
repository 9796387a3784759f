/* tests/examples/test_examples.c - the methods of docs/extending.md, registered at run
 * time and driven through the same paths as the built-in ones: the scenario
 * parser reads their keys, the rule's combine gives the hand-computed step,
 * the strategy's gradient matches finite differences and it trains. */
#include "../gradcheck.h"
#include "../tap.h"
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/strategy.h"
#include "fcl/strategy_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct fcl_rule fcl_rule_fedavg_slr;
extern const struct fcl_strategy_method fcl_strategy_er_weighted;

static int parse(struct fcl_scenario *sc, const char *section, char *err, size_t len)
{
	char text[512];
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic, synthetic: {train: 400, test: 100, dim: 8, "
		 "classes: 4}}\nclients: {count: 4, per_round: 2}\ntasks: {generator: single}\n%s",
		 section);
	return fcl_scenario_parse(sc, text, strlen(text), "<example>", err, len);
}

static void test_rule(void)
{
	const uint32_t sizes[2] = {3, 2};
	struct fcl_mlp mlp;
	struct fcl_scenario sc;
	struct fcl_agg *slr = NULL, *avg = NULL;
	char err[512];
	float d0[8], d1[8], p[8] = {0}, q[8] = {0};

	REQUIRE(fcl_mlp_init(&mlp, 1, sizes, 1) == 0 && mlp.n_params == 8, "a 3-2 layer");
	for (int k = 0; k < 8; k++) {
		d0[k] = (float)k;
		d1[k] = 1.0f;
	}
	struct fcl_agg_update u[2] = {{.client_id = 0, .n_samples = 30, .delta = d0},
				      {.client_id = 1, .slot = 1, .n_samples = 10, .delta = d1}};
	REQUIRE(parse(&sc, "aggregation: {rule: fedavg-slr, server_lr: 0.5}\n", err, sizeof err) ==
		    0,
		"the rule's keys parse: %s", err);
	REQUIRE(fcl_agg_create(&sc, &mlp, NULL, &slr) == 0, "fedavg-slr created");
	fcl_agg_step(slr, u, 2, p);
	int ok = 1;
	for (int k = 0; k < 8; k++) /* 0.5 * (30 d0 + 10 d1) / 40 */
		ok &= fabsf(p[k] - 0.5f * (0.75f * (float)k + 0.25f)) < 1e-6f;
	CHECK(ok, "x += 0.5 * the sample-weighted mean update");
	fcl_agg_destroy(slr);

	CHECK(parse(&sc, "aggregation: {rule: fedavg-slr, server_rl: 0.5}\n", err, sizeof err) ==
		      -EINVAL &&
		  strstr(err, "aggregation.server_rl: unknown key") && strstr(err, "server_lr"),
	      "a misspelt key is refused, naming the rule's keys: %s", err);
	CHECK(parse(&sc, "aggregation: {rule: fedavg-slr, server_lr: 0}\n", err, sizeof err) ==
		      -EINVAL &&
		  strstr(err, "expected a number > 0"),
	      "the declared range is enforced: %s", err);

	/* server_lr 1 is FedAvg, bit for bit */
	REQUIRE(parse(&sc, "aggregation: {rule: fedavg-slr}\n", err, sizeof err) == 0, "%s", err);
	REQUIRE(fcl_agg_create(&sc, &mlp, NULL, &slr) == 0, "with its default");
	REQUIRE(parse(&sc, "aggregation: {rule: fedavg}\n", err, sizeof err) == 0, "%s", err);
	REQUIRE(fcl_agg_create(&sc, &mlp, NULL, &avg) == 0, "fedavg");
	memset(p, 0, sizeof p);
	fcl_agg_step(slr, u, 2, p);
	fcl_agg_step(avg, u, 2, q);
	CHECK(memcmp(p, q, sizeof p) == 0, "server_lr 1 gives FedAvg's bits");
	fcl_agg_destroy(slr);
	fcl_agg_destroy(avg);
	fcl_mlp_fini(&mlp);
}

struct sctx {
	struct fcl_strategy *s;
	struct fcl_mlp *m;
	struct fcl_strategy_batch *b;
};

static double f_step(void *p)
{
	struct sctx *c = p;
	fcl_mlp_zero_grad(c->m);
	return c->s->ops->step(c->s, c->m, c->b);
}

static void test_strategy(void)
{
	const uint32_t sizes[3] = {8, 6, 4};
	struct fcl_loop_config loop = {
	    .online = 1, .stream_batch = 3, .online_iter = 1, .replay_batch = 3, .head_bias = 1};
	struct fcl_scenario sc;
	struct fcl_strategy *s;
	struct fcl_mlp m;
	struct fcl_rng r;
	char err[512];

	REQUIRE(parse(&sc, "strategy: {name: er-weighted, memory: 20, weight: 0.25}\n", err,
		      sizeof err) == 0,
		"the strategy's keys parse: %s", err);
	REQUIRE(fcl_strategy_create(&sc.strategy, &loop, 2, sizes, 3, 0, &s) == 0, "created");
	REQUIRE(fcl_mlp_init(&m, 2, sizes, fcl_loop_max_batch(&loop)) == 0, "model");
	fcl_rng_init(&r, 5, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&m, &r);

	/* gradient of one step: 3 stream rows and 3 replayed rows */
	float x[6 * 8];
	int32_t y[6] = {0, 1, 2, 1, 3, 0};
	uint8_t exposed[4] = {1, 1, 1, 1}, present[4] = {1, 1, 1, 0};
	fill(x, 6 * 8, &r, 1);
	struct fcl_strategy_batch b = {.x = x,
				       .y = y,
				       .n_new = 3,
				       .n_rep = 3,
				       .exposed = exposed,
				       .present = present,
				       .last_iter = 1};
	struct sctx c = {s, &m, &b};
	double l = f_step(&c);
	double ce_rep = fcl_cl_xent(m.acts[2] + 3 * 4, y + 3, 3, 4, exposed, NULL, NULL);
	float *g = malloc(m.n_params * sizeof *g);
	REQUIRE(g, "gradient copy");
	memcpy(g, m.grads, m.n_params * sizeof *g);
	double e = fd_worst(m.params, g, m.n_params, f_step, &c, 1e-3f);
	CHECK(e < 3e-2, "the step's gradient matches finite differences of its loss (%.2e)", e);
	b.n_rep = 0;
	double stream_only = f_step(&c);
	CHECK(fabs(l - (stream_only + 0.25 * ce_rep)) < 1e-6,
	      "the loss is CE(stream) + 0.25 CE(replay): %.6f = %.6f + 0.25 * %.6f", l, stream_only,
	      ce_rep);
	free(g);

	/* training through the loop: the loss falls and the buffer fills */
	struct fcl_dataset ds;
	struct fcl_sgd opt;
	uint32_t idx[400];
	float first = 0, last = 0;
	REQUIRE(fcl_dataset_synthetic(&ds, 400, 8, 4, 7, 0) == 0, "synthetic data");
	for (uint32_t i = 0; i < 400; i++)
		idx[i] = i;
	fcl_sgd_init(&opt, 0.05f, 0.0f, 0.0f);
	for (uint32_t round = 0; round < 4; round++) {
		struct fcl_train_round tr = {
		    .ds = &ds, .idx = idx + 100 * round, .n = 100, .epochs = 1, .round = round};
		float loss;
		REQUIRE(fcl_strategy_train(s, &m, &opt, &tr, &loss) == 0, "round %u", round);
		if (round == 0)
			first = loss;
		last = loss;
	}
	CHECK(last < first, "the training loss falls over four rounds (%.3f -> %.3f)", first, last);
	CHECK(fcl_strategy_buffer_fill(s) == 20,
	      "the reservoir holds strategy.memory = 20 samples");
	fcl_sgd_fini(&opt);
	fcl_dataset_fini(&ds);
	fcl_mlp_fini(&m);
	fcl_strategy_destroy(s);
}

int main(void)
{
	CHECK(fcl_rule_register(&fcl_rule_fedavg_slr) == 0, "fedavg-slr registered");
	CHECK(fcl_strategy_register(&fcl_strategy_er_weighted) == 0, "er-weighted registered");
	CHECK(fcl_rule_register(&fcl_rule_fedavg_slr) == -EEXIST, "a name is registered once");
	test_rule();
	test_strategy();
	return tap_done();
}
