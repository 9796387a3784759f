/* tests/test_state.c - what checkpoints keep of a logical client: every
 * strategy's state, saved after some rounds and loaded into a fresh one,
 * trains on bit for bit as the original does */
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/strategy.h"
#include "fcl/strategy_impl.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t sizes[] = {16, 12, 8, 4};
#define N_LAYERS 3

struct world {
	struct fcl_dataset ds;
	struct fcl_mlp m;
	struct fcl_sgd opt;
};

static int world_init(struct world *w, const struct fcl_loop_config *loop)
{
	struct fcl_rng r;
	if (fcl_dataset_synthetic(&w->ds, 600, 16, 4, 5, 0) ||
	    fcl_mlp_init(&w->m, N_LAYERS, sizes, fcl_loop_max_batch(loop)))
		return -1;
	fcl_rng_init(&r, 9, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&w->m, &r);
	fcl_sgd_init(&w->opt, 0.05f, 0.5f, 0.0f);
	return 0;
}

static void world_fini(struct world *w)
{
	fcl_sgd_fini(&w->opt);
	fcl_mlp_fini(&w->m);
	fcl_dataset_fini(&w->ds);
}

/* Round r: from the parameters in m, on samples of classes (r % 2) * 2 and +1
 * (task r / 2), 60 of them; the parameters after it land in m. */
static int round_of(struct fcl_strategy *s, struct world *w, uint32_t r)
{
	uint32_t idx[60];
	size_t n = 0;
	int c0 = (int)(r / 2 % 2) * 2;
	float loss;
	for (uint32_t i = (r * 37) % 100; i < w->ds.n && n < 60; i++)
		if (w->ds.y[i] == c0 || w->ds.y[i] == c0 + 1)
			idx[n++] = i;
	struct fcl_train_round tr = {
	    .ds = &w->ds, .task = r / 2, .idx = idx, .n = n, .epochs = 2, .round = r};
	fcl_sgd_reset(&w->opt);
	int rc = fcl_strategy_train(s, &w->m, &w->opt, &tr, &loss);
	if (!rc && r % 2 == 1)
		fcl_strategy_end_task(s, &w->m);
	return rc;
}

/* s's saved state as bytes (owned), or NULL. */
static char *saved(const struct fcl_strategy *s, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	int rc = fcl_strategy_save(s, f);
	if (fclose(f) != 0 || rc) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int load(struct fcl_strategy *s, const char *buf, size_t len)
{
	FILE *f = fmemopen((void *)buf, len, "rb");
	if (!f)
		return -errno;
	int rc = fcl_strategy_load(s, f);
	fclose(f);
	return rc;
}

/* Trains `a` three rounds, saves it, loads the bytes into a fresh `b`, then
 * both train round 3 from the same parameters. */
static void roundtrip(const char *name, const char *what, struct fcl_strategy_config *cfg,
		      const struct fcl_loop_config *loop)
{
	struct world w;
	struct fcl_strategy *a = NULL, *b = NULL;
	size_t n_a = 0, n_b = 0, n_again = 0;
	char *buf = NULL, *after_a = NULL, *after_b = NULL;

	REQUIRE(world_init(&w, loop) == 0, "world");
	REQUIRE(fcl_strategy_create(cfg, loop, N_LAYERS, sizes, 5, 2, &a) == 0 &&
		    fcl_strategy_create(cfg, loop, N_LAYERS, sizes, 5, 2, &b) == 0,
		"%s: strategies created", name);
	int rc = 0;
	for (uint32_t r = 0; r < 3 && !rc; r++)
		rc = round_of(a, &w, r);
	buf = saved(a, &n_a);
	CHECK(!rc && buf && load(b, buf, n_a) == 0, "%s %s: state of %zu bytes saved and loaded",
	      name, what, n_a);
	char *again = saved(b, &n_again);
	CHECK(again && n_again == n_a && memcmp(again, buf, n_a) == 0,
	      "%s %s: the loaded state saves to the same bytes", name, what);
	size_t np = w.m.n_params * sizeof(float);
	float *start = malloc(np), *pa = malloc(np);
	if (start && pa) {
		memcpy(start, w.m.params, np);
		rc = round_of(a, &w, 3);
		memcpy(pa, w.m.params, np);
		memcpy(w.m.params, start, np);
		rc = rc ? rc : round_of(b, &w, 3);
		after_a = saved(a, &n_a);
		after_b = saved(b, &n_b);
		CHECK(!rc && memcmp(pa, w.m.params, np) == 0 && after_a && after_b && n_a == n_b &&
			  memcmp(after_a, after_b, n_a) == 0 &&
			  fcl_strategy_checksum(a) == fcl_strategy_checksum(b),
		      "%s %s: the next round gives bit-identical parameters and state", name, what);
	}
	free(start);
	free(pa);
	free(buf);
	free(again);
	free(after_a);
	free(after_b);
	fcl_strategy_destroy(a);
	fcl_strategy_destroy(b);
	world_fini(&w);
}

/* Every strategy of the registry, offline and online, with a replay buffer
 * and weight aligning: what its save op leaves out would show here. */
static void test_every_strategy(void)
{
	for (size_t i = 0; fcl_strategy_at(i); i++)
		for (int online = 0; online <= 1; online++) {
			struct fcl_loop_config loop = {.online = online,
						       .epochs = 2,
						       .batch_size = 16,
						       .stream_batch = 10,
						       .online_iter = 2,
						       .replay_batch = 8,
						       .head_bias = 1,
						       .mask_unexposed = online};
			struct fcl_strategy_config cfg;
			fcl_strategy_config_defaults(&cfg);
			fcl_strategy_config_choose(&cfg, fcl_strategy_at(i)->name);
			cfg.memory = 30;
			cfg.wa = 1;
			roundtrip(fcl_strategy_at(i)->name, online ? "online" : "offline", &cfg,
				  &loop);
		}
}

/* MVP's backbone query: a copy of the MLP, frozen after the warm-up. */
static void test_mvp_backbone(void)
{
	struct fcl_loop_config loop = {
	    .online = 1, .stream_batch = 10, .online_iter = 1, .replay_batch = 8, .head_bias = 1};
	struct fcl_strategy_config cfg;
	char why[128];
	fcl_strategy_config_defaults(&cfg);
	fcl_strategy_config_choose(&cfg, "mvp");
	cfg.memory = 20;
	REQUIRE(fcl_strategy_config_set(&cfg, "mvp.query", "backbone", why, sizeof why) == 0 &&
		    fcl_strategy_config_set(&cfg, "mvp.warmup", "100", why, sizeof why) == 0,
		"mvp settings %s", why);
	roundtrip("mvp", "backbone query", &cfg, &loop);
}

/* A state is refused by another method and by another geometry, and a
 * truncated one is an error, not a half-loaded client. */
static void test_refusals(void)
{
	struct fcl_loop_config loop = {.online = 1, .stream_batch = 10, .online_iter = 1};
	struct fcl_strategy_config er, ewc;
	struct fcl_strategy *a, *b, *c, *d;
	struct world w;
	size_t n;
	const uint32_t other[] = {16, 12, 8, 5};

	REQUIRE(world_init(&w, &loop) == 0, "world");
	fcl_strategy_config_defaults(&er);
	fcl_strategy_config_choose(&er, "er");
	er.memory = 10;
	fcl_strategy_config_defaults(&ewc);
	fcl_strategy_config_choose(&ewc, "ewc");
	REQUIRE(fcl_strategy_create(&er, &loop, N_LAYERS, sizes, 5, 0, &a) == 0 &&
		    fcl_strategy_create(&ewc, &loop, N_LAYERS, sizes, 5, 0, &b) == 0 &&
		    fcl_strategy_create(&er, &loop, N_LAYERS, other, 5, 0, &c) == 0 &&
		    fcl_strategy_create(&er, &loop, N_LAYERS, sizes, 5, 0, &d) == 0,
		"strategies");
	round_of(a, &w, 0);
	char *buf = saved(a, &n);
	CHECK(buf && load(b, buf, n) == -EINVAL, "EWC refuses ER's state");
	CHECK(buf && load(c, buf, n) == -EINVAL, "a state for 4 classes is refused with 5");
	CHECK(buf && load(d, buf, n / 2) == -EIO, "a truncated state is an I/O error");
	free(buf);
	fcl_strategy_destroy(a);
	fcl_strategy_destroy(b);
	fcl_strategy_destroy(c);
	fcl_strategy_destroy(d);
	world_fini(&w);
}

int main(void)
{
	test_every_strategy();
	test_mvp_backbone();
	test_refusals();
	return tap_done();
}
