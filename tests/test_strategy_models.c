/* tests/test_strategy_models.c - every client strategy on the layered presets
 *
 * Each strategy trains two short tasks (the online loop, and for cnn the
 * offline one too) on a cnn and on a resnet18-reduced model, without and with
 * BatchNorm (resnet18-reduced-bn, training mode in the loop), and on an
 * alexnet-fot model (dropout in the body and between dense layers): the
 * losses and parameters stay finite, the convolutions in the body learn (the strategies'
 * gradients reach them through the head's input features), the bias-free
 * head stays bias-free, and MVP's prompts, which sit on the penultimate
 * features when no hidden dense layer follows the body, are learned. */
#include "fcl/arch.h"
#include "fcl/data.h"
#include "fcl/model.h"
#include "fcl/rng.h"
#include "fcl/strategy.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kinds[] = {"finetune", "er", "er-ace", "der++", "lwf",
				    "ewc",      "uer", "mvp",   "gdumb"};

struct world {
	struct fcl_dataset ds;
	struct fcl_arch arch;
	struct fcl_mlp m;
	struct fcl_sgd opt;
	float *init; /* the initial parameters */
};

static int world_init(struct world *w, enum fcl_model_preset p, struct fcl_input_shape in,
		      const struct fcl_loop_config *loop)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	struct fcl_rng r;
	char err[256];
	int n = fcl_preset_layers(p, NULL, 0, l, FCL_ARCH_MAX_LAYERS);

	memset(w, 0, sizeof *w);
	if (n < 0 || fcl_arch_compile(&w->arch, l, (uint32_t)n, in, 4, NULL, err, sizeof err) ||
	    fcl_model_init(&w->m, &w->arch, fcl_loop_max_batch(loop)))
		return -1;
	if (fcl_dataset_synthetic(&w->ds, 200, in.c * in.h * in.w, 4, 5, 0))
		return -1;
	fcl_rng_init(&r, 9, FCL_RNG_TEST, 0, 0);
	fcl_mlp_init_params(&w->m, &r);
	/* a bias-free head, as UER needs: every strategy gets the same model */
	memset(w->m.params + w->m.b_offset[w->m.n_layers - 1], 0, 4 * sizeof(float));
	w->init = malloc(w->m.n_params * sizeof(float));
	if (!w->init)
		return -1;
	memcpy(w->init, w->m.params, w->m.n_params * sizeof(float));
	fcl_sgd_init(&w->opt, 0.01f, 0.0f, 0.0f);
	return 0;
}

static void world_fini(struct world *w)
{
	free(w->init);
	fcl_sgd_fini(&w->opt);
	fcl_mlp_fini(&w->m);
	fcl_dataset_fini(&w->ds);
}

/* Up to n samples of classes c0 and c1, in data order. */
static size_t pick(const struct world *w, uint32_t *out, size_t n, int c0, int c1)
{
	size_t k = 0;
	for (uint32_t i = 0; i < w->ds.n && k < n; i++)
		if (w->ds.y[i] == c0 || w->ds.y[i] == c1)
			out[k++] = i;
	return k;
}

static int train(struct fcl_strategy *s, struct world *w, uint32_t task, const uint32_t *idx,
		 size_t n, uint32_t round, uint32_t epochs, float *loss)
{
	struct fcl_train_round r = {
	    .ds = &w->ds, .task = task, .idx = idx, .n = n, .epochs = epochs, .round = round};
	return fcl_strategy_train(s, &w->m, &w->opt, &r, loss);
}

/* MVP's shared and per-key offsets: the last floats of its saved state (a
 * projection query saves no network after them). Any of them non-zero? */
static int mvp_offsets_learned(struct fcl_strategy *s, size_t d, uint32_t pool)
{
	FILE *f = tmpfile();
	size_t n = d + (size_t)pool * d, got = 0;
	float *v = malloc(n * sizeof *v);
	int any = 0;
	if (f && v && fcl_strategy_save(s, f) == 0 &&
	    fseek(f, -(long)(n * sizeof *v), SEEK_END) == 0)
		got = fread(v, sizeof *v, n, f);
	for (size_t k = 0; k < got; k++)
		any |= v[k] != 0.0f && isfinite(v[k]);
	if (f)
		fclose(f);
	free(v);
	return got == n && any;
}

static void run_all(enum fcl_model_preset p, struct fcl_input_shape in, int online,
		    size_t per_task)
{
	const char *name = fcl_model_preset_name(p);
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		struct fcl_loop_config loop = {.online = online,
					       .epochs = 1,
					       .batch_size = 10,
					       .stream_batch = 10,
					       .online_iter = 1,
					       .replay_batch = 6,
					       .head_bias = 0,
					       .mask_unexposed = 1};
		struct fcl_strategy_config cfg;
		struct fcl_strategy *s = NULL;
		struct world w;
		uint32_t a[64], b[64];
		float l1 = NAN, l2 = NAN;
		char why[128];

		REQUIRE(world_init(&w, p, in, &loop) == 0, "%s world on %ux%ux%u", name, in.c,
			in.h, in.w);
		fcl_strategy_config_defaults(&cfg);
		fcl_strategy_config_choose(&cfg, kinds[k]);
		cfg.memory = 20;
		if (!strcmp(kinds[k], "gdumb"))
			fcl_strategy_config_set(&cfg, "epochs", "1", why, sizeof why);
		int rc = fcl_strategy_create_arch(&cfg, &loop, &w.arch, 3, 1, &s);
		size_t na = pick(&w, a, per_task, 0, 1), nb = pick(&w, b, per_task, 2, 3);
		rc = rc ? rc : train(s, &w, 0, a, na, 0, 1, &l1);
		rc = rc ? rc : train(s, &w, 1, b, nb, 1, 1, &l2);
		int finite = 1;
		for (size_t i = 0; i < w.m.n_params; i++)
			finite &= isfinite(w.m.params[i]);
		/* the first convolution: the farthest from the head */
		const struct fcl_layer *c0 = &w.arch.layers[0];
		int body = memcmp(w.m.params + c0->w_off, w.init + c0->w_off,
				  c0->n_params * sizeof(float)) != 0;
		int nobias = 1;
		for (size_t i = 0; i < 4; i++)
			nobias &= w.m.params[w.m.b_offset[w.m.n_layers - 1] + i] == 0.0f;
		CHECK(rc == 0 && finite && isfinite(l1) && isfinite(l2) && body && nobias,
		      "%s %s %s: two tasks train (rc %d, losses %.3f %.3f), parameters finite, "
		      "the first convolution learns, the head bias stays 0",
		      kinds[k], name, online ? "online" : "offline", rc, l1, l2);
		if (rc == 0 && !strcmp(kinds[k], "mvp") && w.m.n_layers == 1)
			CHECK(mvp_offsets_learned(s, w.arch.sizes[0], 10),
			      "mvp on %s: its prompts on the %u penultimate features are learned",
			      name, w.arch.sizes[0]);
		fcl_strategy_destroy(s);
		world_fini(&w);
	}
}

int main(void)
{
	run_all(FCL_PRESET_CNN, (struct fcl_input_shape){1, 12, 12}, 1, 30);
	run_all(FCL_PRESET_CNN, (struct fcl_input_shape){1, 12, 12}, 0, 30);
	/* 12x12: 3x3 maps after the third stage, 2x2 after the fourth, 160 features */
	run_all(FCL_PRESET_RESNET18_REDUCED, (struct fcl_input_shape){3, 12, 12}, 1, 20);
	run_all(FCL_PRESET_RESNET18_REDUCED_BN, (struct fcl_input_shape){3, 12, 12}, 1, 20);
	/* dropout in the body and between the dense layers (MVP's prompted forward
	 * draws the dense masks too); 22x22: 256 features */
	run_all(FCL_PRESET_ALEXNET_FOT, (struct fcl_input_shape){3, 22, 22}, 1, 20);
	return tap_done();
}
