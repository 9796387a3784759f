/* common/src/scenario_model.c - the model section: model.preset, model.layers,
 * model.hidden (the mlp preset's sizes). Shapes depend on the data and are
 * checked when the layers are compiled against it (fcl_arch_compile), with the
 * positions kept here. */
#include "scenario-private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define OFF(m) offsetof(struct fcl_scenario, m)
#define UNSET UINT32_MAX

static const struct fcl_key_choice layer_types[] = {
    {"dense", FCL_LAYER_DENSE},     {"conv2d", FCL_LAYER_CONV2D}, {"maxpool", FCL_LAYER_MAXPOOL},
    {"avgpool", FCL_LAYER_AVGPOOL}, {"gap", FCL_LAYER_GAP},       {"flatten", FCL_LAYER_FLATTEN},
    {"relu", FCL_LAYER_RELU},
    {"dropout", FCL_LAYER_DROPOUT},
    {"groupnorm", FCL_LAYER_GROUPNORM},
    {"batchnorm", FCL_LAYER_BATCHNORM},
    {"residual", FCL_LAYER_RESIDUAL},
    {NULL, 0},
};

/* A residual block's norm: BatchNorm after each of its convolutions, or none. */
static const struct fcl_key_choice block_norms[] = {
    {"none", 0},
    {"batchnorm", 1},
    {NULL, 0},
};

static const struct field layer_fields[] = {
    {.key = "type", .fn = fcl__scn_get_choice, .off = OFF(model.lcur.type), .choices = layer_types,
     .required = true},
    {.key = "units", .fn = fcl__scn_get_u32, .off = OFF(model.lcur.units), .lo = 1, .hi = 65536},
    {.key = "channels",
     .fn = fcl__scn_get_u32,
     .off = OFF(model.lcur.channels),
     .lo = 1,
     .hi = 65536},
    {.key = "kernel", .fn = fcl__scn_get_u32, .off = OFF(model.lcur.kernel), .lo = 1, .hi = 64},
    {.key = "stride", .fn = fcl__scn_get_u32, .off = OFF(model.lcur.stride), .lo = 1, .hi = 64},
    {.key = "padding", .fn = fcl__scn_get_u32, .off = OFF(model.lcur.padding), .lo = 0, .hi = 64},
    {.key = "bias", .fn = fcl__scn_get_bool, .off = OFF(model.lcur.bias)},
    {.key = "rate",
     .fn = fcl__scn_get_f32,
     .off = OFF(model.lcur.rate),
     .flo = 0,
     .fhi = 1,
     .fhi_open = true},
    {.key = "groups", .fn = fcl__scn_get_u32, .off = OFF(model.lcur.groups), .lo = 1, .hi = 65536},
    {.key = "norm", .fn = fcl__scn_get_choice, .off = OFF(model.lcur.norm), .choices = block_norms},
    {0},
};

int fcl__scn_get_preset(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	static const char what[] = "mlp, cnn, alexnet-fot, resnet18-reduced or resnet18-reduced-bn";
	char g[GOT_MAX];
	const char *s = NULL;
	int rc = fcl__scn_want_scalar(c, key, val, path, what, true, &s), p;

	(void)f;
	if (rc)
		return rc;
	if ((p = fcl_model_preset_parse(s)) < 0)
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	c->sc->model.preset = (enum fcl_model_preset)p;
	return 0;
}

/* A key given to a layer type that does not take it. */
static int stray(struct ctx *c, struct fy_node *item, const char *ipath, const char *type,
		 const char *k, const char *takes)
{
	char kpath[KEYPATH_MAX];
	struct fy_node *v = fy_node_mapping_lookup_by_string(item, k, -1);

	fcl__scn_join_path(kpath, sizeof kpath, ipath, k);
	return fcl__scn_fail(c, v, item, kpath, "%s takes %s (got %s)", type, takes, k);
}

/* The item just walked into model.lcur, checked and filed as layer i. */
static int keep_layer(struct ctx *c, struct fy_node *item, const char *ipath, uint32_t i)
{
	struct fcl_scenario *sc = c->sc;
	struct fcl_layer_item *u = &sc->model.lcur;
	struct fcl_layer_spec *l = &sc->model.layers[i];
	const char *type = fcl_layer_kind_name((enum fcl_layer_kind)u->type);
	int line = 0, col = 0;
	static const struct {
		const char *key;
		size_t off;
		unsigned kinds; /* the layer types that take it */
	} keys[] = {
	    {"units", offsetof(struct fcl_layer_item, units), 1u << FCL_LAYER_DENSE},
	    {"channels", offsetof(struct fcl_layer_item, channels),
	     1u << FCL_LAYER_CONV2D | 1u << FCL_LAYER_RESIDUAL},
	    {"kernel", offsetof(struct fcl_layer_item, kernel),
	     1u << FCL_LAYER_CONV2D | 1u << FCL_LAYER_MAXPOOL | 1u << FCL_LAYER_AVGPOOL},
	    {"stride", offsetof(struct fcl_layer_item, stride),
	     1u << FCL_LAYER_CONV2D | 1u << FCL_LAYER_MAXPOOL | 1u << FCL_LAYER_AVGPOOL |
		 1u << FCL_LAYER_RESIDUAL},
	    {"padding", offsetof(struct fcl_layer_item, padding), 1u << FCL_LAYER_CONV2D},
	    {"groups", offsetof(struct fcl_layer_item, groups), 1u << FCL_LAYER_GROUPNORM},
	};
	static const char *const takes[] = {
	    [FCL_LAYER_DENSE] = "units (left out on the last layer, the head) and bias",
	    [FCL_LAYER_CONV2D] = "channels, kernel, stride, padding and bias",
	    [FCL_LAYER_MAXPOOL] = "kernel and stride",
	    [FCL_LAYER_AVGPOOL] = "kernel and stride",
	    [FCL_LAYER_GAP] = "no other key",
	    [FCL_LAYER_FLATTEN] = "no other key",
	    [FCL_LAYER_RELU] = "no other key",
	    [FCL_LAYER_RESIDUAL] =
		"channels, stride and norm (3x3 convolutions, padding 1, no bias)",
	    [FCL_LAYER_DROPOUT] = "rate",
	    [FCL_LAYER_GROUPNORM] = "groups",
	    [FCL_LAYER_BATCHNORM] = "no other key",
	};

	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
		uint32_t v;
		memcpy(&v, (const char *)u + keys[k].off, sizeof v);
		if (v != UNSET && !(keys[k].kinds & 1u << u->type))
			return stray(c, item, ipath, type, keys[k].key, takes[u->type]);
	}
	if (u->bias >= 0 && u->type != FCL_LAYER_DENSE && u->type != FCL_LAYER_CONV2D)
		return stray(c, item, ipath, type, "bias", takes[u->type]);
	if (u->norm >= 0 && u->type != FCL_LAYER_RESIDUAL)
		return stray(c, item, ipath, type, "norm", takes[u->type]);
	if (u->rate >= 0.0f && u->type != FCL_LAYER_DROPOUT)
		return stray(c, item, ipath, type, "rate", takes[u->type]);
	if (u->type == FCL_LAYER_DROPOUT && u->rate < 0.0f)
		return fcl__scn_fail(c, item, NULL, ipath, "dropout needs rate (0 <= rate < 1)");
	if (u->type == FCL_LAYER_GROUPNORM && u->groups == UNSET)
		return fcl__scn_fail(c, item, NULL, ipath, "groupnorm needs groups");
	if (u->type == FCL_LAYER_CONV2D && (u->channels == UNSET || u->kernel == UNSET))
		return fcl__scn_fail(c, item, NULL, ipath, "conv2d needs channels and kernel");
	if (u->type == FCL_LAYER_RESIDUAL && u->channels == UNSET)
		return fcl__scn_fail(c, item, NULL, ipath, "residual needs channels");
	int res = u->type == FCL_LAYER_RESIDUAL;
	if ((u->type == FCL_LAYER_MAXPOOL || u->type == FCL_LAYER_AVGPOOL) && u->kernel == UNSET)
		return fcl__scn_fail(c, item, NULL, ipath, "%s needs kernel", type);
	fcl__scn_node_pos(item, &line, &col);
	*l = (struct fcl_layer_spec){
	    .kind = (enum fcl_layer_kind)u->type,
	    .units = u->type == FCL_LAYER_CONV2D || res ? u->channels
			: u->units == UNSET		   ? 0
							   : u->units,
	    .kernel = res ? 3 : u->kernel == UNSET ? 0 : u->kernel,
	    .stride = u->stride != UNSET			? u->stride
		      : u->type == FCL_LAYER_CONV2D || res ? 1
							   : u->kernel,
	    .padding = res ? 1 : u->padding == UNSET ? 0 : u->padding,
	    .bias = !res && u->bias != 0, /* a block has none (a given bias is refused above) */
	    .line = line > 0 ? (uint32_t)line : 0,
	    .col = col > 0 ? (uint32_t)col : 0,
	    .rate = u->rate < 0.0f ? 0.0f : u->rate,
	    .groups = u->groups == UNSET ? 0 : u->groups,
	    .bn = u->norm == 1};
	return 0;
}

int fcl__scn_get_layers(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	(void)f;
	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1)
		return fcl__scn_fail(c, fcl__scn_is_null(val) ? val : key, key, path,
				     "expected a list of layers {type: ...} (got %s)",
				     fy_node_is_sequence(val) ? "an empty list"
							      : fcl__scn_got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_ARCH_MAX_LAYERS)
		return fcl__scn_fail(c, key, NULL, path, "expected at most %d layers (got %d)",
				     FCL_ARCH_MAX_LAYERS, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
		if (!fy_node_is_mapping(item))
			return fcl__scn_fail(c, item, key, ipath,
					     "expected a layer {type: dense|conv2d|maxpool|avgpool|"
					     "gap|flatten|relu|dropout|groupnorm|batchnorm|residual, ...} "
					     "(got %s)",
					     fcl__scn_got(item, g, sizeof(g)));
		struct fcl_layer_item *u = &c->sc->model.lcur;
		*u = (struct fcl_layer_item){.type = -1,
					     .units = UNSET,
					     .channels = UNSET,
					     .kernel = UNSET,
					     .stride = UNSET,
					     .padding = UNSET,
					     .bias = -1,
					     .rate = -1.0f,
					     .groups = UNSET,
					     .norm = -1};
		if ((rc = fcl__scn_walk_map(c, layer_fields, item, ipath, item)) != 0)
			return rc;
		if ((rc = keep_layer(c, item, ipath, n)) != 0)
			return rc;
		n++;
	}
	c->sc->model.n_layers = n;
	c->sc->model.preset = FCL_PRESET_NONE;
	return 0;
}

int fcl__scn_check_model(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (c->key[S_LAYERS] && c->key[S_PRESET])
		return fcl__scn_fail(c, c->key[S_LAYERS], NULL, "model.layers",
				     "expected either model.preset or model.layers (got both)");
	if (c->key[S_HIDDEN] && sc->model.preset != FCL_PRESET_MLP)
		return fcl__scn_fail(c, c->key[S_HIDDEN], NULL, "model.hidden",
				     "expected model.hidden only with the mlp preset (got %s)",
				     c->key[S_LAYERS] ? "model.layers"
						      : fcl_model_preset_name(sc->model.preset));
	/* One head per task is the task-incremental generator's: the task id is known
	 * at train and test, and logits are masked to the task's classes. */
	int ti = sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL;
	if (sc->model.heads == 1 && !ti)
		return fcl__scn_fail(c, c->val[S_HEADS], c->key[S_HEADS], "model.heads",
				     "expected per-task heads only with tasks.generator: "
				     "task-incremental (the task id known at train and test)");
	if (sc->model.heads == 0 && ti)
		return fcl__scn_fail(c, c->val[S_HEADS], c->key[S_HEADS], "model.heads",
				     "expected per-task with tasks.generator: task-incremental (one "
				     "shared head over its tasks is not supported yet)");
	sc->model.heads = ti;
	if (c->key[S_BATCHNORM] && !fcl_scenario_has_batchnorm(sc))
		return fcl__scn_fail(c, c->val[S_BATCHNORM], c->key[S_BATCHNORM], "model.batchnorm",
				     "expected model.batchnorm only with batchnorm layers in "
				     "model.layers or residual blocks with norm: batchnorm (the "
				     "model has none)");
	/* the order of the layers (dense stack last, a head) is checked here already;
	 * shapes need the data */
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	struct fcl_arch a;
	char err[256];
	int n = fcl_scenario_layers(sc, l);
	if (n < 0)
		return fcl__scn_fail(c, c->key[S_HIDDEN], NULL, "model", "too many layers");
	/* a large input, so that only the order of the layers can fail */
	if (fcl_arch_compile(&a, l, (uint32_t)n, (struct fcl_input_shape){1, 64, 64}, 2,
			     sc->model.file, err, sizeof err) != 0 &&
	    !strstr(err, "larger than")) {
		const char *msg = strstr(err, "]: ");
		char ipath[KEYPATH_MAX], *shape = strstr(err, " (it gets");
		if (shape) /* of the stand-in input, not the data's */
			*shape = '\0';
		if (!msg || !c->val[S_LAYERS])
			return fcl__scn_fail(c, c->key[S_PRESET], NULL, "model", "%s", err);
		snprintf(ipath, sizeof ipath, "model.layers[%u]", a.bad);
		return fcl__scn_fail(c, fy_node_sequence_get_by_index(c->val[S_LAYERS], (int)a.bad),
				     c->key[S_LAYERS], ipath, "%s", msg + 3);
	}
	return 0;
}

int fcl_scenario_layers(const struct fcl_scenario *sc, struct fcl_layer_spec *out)
{
	if (sc->model.preset == FCL_PRESET_NONE) {
		memcpy(out, sc->model.layers, sc->model.n_layers * sizeof *out);
		return (int)sc->model.n_layers;
	}
	return fcl_preset_layers(sc->model.preset, sc->model.hidden, sc->model.n_hidden, out,
				 FCL_ARCH_MAX_LAYERS);
}

int fcl_scenario_has_batchnorm(const struct fcl_scenario *sc)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	int n = fcl_scenario_layers(sc, l);

	for (int i = 0; i < n; i++)
		if (l[i].kind == FCL_LAYER_BATCHNORM ||
		    (l[i].kind == FCL_LAYER_RESIDUAL && l[i].bn))
			return 1;
	return 0;
}

uint32_t fcl_scenario_hidden_dense(const struct fcl_scenario *sc)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	int n = fcl_scenario_layers(sc, l);
	uint32_t dense = 0;

	for (int i = 0; i < n; i++)
		dense += l[i].kind == FCL_LAYER_DENSE;
	return dense ? dense - 1 : 0;
}

uint32_t fcl_scenario_feature_layers(const struct fcl_scenario *sc)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	int n = fcl_scenario_layers(sc, l);

	return fcl_scenario_hidden_dense(sc) + (n > 0 && l[0].kind != FCL_LAYER_DENSE);
}

int fcl_scenario_arch(const struct fcl_scenario *sc, struct fcl_input_shape input,
		      uint32_t classes, struct fcl_arch *a, char *err, size_t errlen)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	int n = fcl_scenario_layers(sc, l);

	if (n < 0) {
		snprintf(err, errlen, "model: too many layers");
		return -EINVAL;
	}
	return fcl_arch_compile(a, l, (uint32_t)n, input, classes, sc->model.file, err, errlen);
}
