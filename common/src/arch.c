/* common/src/arch.c - layer lists: presets, shapes, parameter offsets */
#include "fcl/arch.h"

#include "fcl/residual.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static const char *const kind_names[] = {
    [FCL_LAYER_DENSE] = "dense",
    [FCL_LAYER_CONV2D] = "conv2d",
    [FCL_LAYER_MAXPOOL] = "maxpool",
    [FCL_LAYER_AVGPOOL] = "avgpool",
    [FCL_LAYER_GAP] = "gap",
    [FCL_LAYER_FLATTEN] = "flatten",
    [FCL_LAYER_RELU] = "relu",
    [FCL_LAYER_DROPOUT] = "dropout",
    [FCL_LAYER_GROUPNORM] = "groupnorm",
    [FCL_LAYER_BATCHNORM] = "batchnorm",
    [FCL_LAYER_RESIDUAL] = "residual",
};
static const char *const preset_names[] = {
    [FCL_PRESET_NONE] = "layers",
    [FCL_PRESET_MLP] = "mlp",
    [FCL_PRESET_CNN] = "cnn",
    [FCL_PRESET_ALEXNET_FOT] = "alexnet-fot",
    [FCL_PRESET_RESNET18_REDUCED] = "resnet18-reduced",
    [FCL_PRESET_RESNET18_REDUCED_BN] = "resnet18-reduced-bn",
};

const char *fcl_layer_kind_name(enum fcl_layer_kind k)
{
	return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

const char *fcl_model_preset_name(enum fcl_model_preset p)
{
	return (unsigned)p < sizeof preset_names / sizeof *preset_names ? preset_names[p] : "?";
}

int fcl_layer_kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (!strcmp(name, kind_names[i]))
			return (int)i;
	return -1;
}

int fcl_model_preset_parse(const char *name)
{
	for (size_t i = 1; i < sizeof preset_names / sizeof *preset_names; i++)
		if (!strcmp(name, preset_names[i]))
			return (int)i;
	return -1;
}

static struct fcl_layer_spec L_dense(uint32_t units, int bias)
{
	return (struct fcl_layer_spec){.kind = FCL_LAYER_DENSE, .units = units, .bias = bias};
}

static struct fcl_layer_spec L_conv(uint32_t ch, uint32_t k, uint32_t pad, int bias)
{
	return (struct fcl_layer_spec){
	    .kind = FCL_LAYER_CONV2D, .units = ch, .kernel = k, .stride = 1, .padding = pad, .bias = bias};
}

static struct fcl_layer_spec L_simple(enum fcl_layer_kind k)
{
	return (struct fcl_layer_spec){.kind = k};
}

static struct fcl_layer_spec L_dropout(float rate)
{
	return (struct fcl_layer_spec){.kind = FCL_LAYER_DROPOUT, .rate = rate};
}

static struct fcl_layer_spec L_res(uint32_t ch, uint32_t stride, int bn)
{
	return (struct fcl_layer_spec){.kind = FCL_LAYER_RESIDUAL,
				       .units = ch,
				       .kernel = 3,
				       .stride = stride,
				       .padding = 1,
				       .bn = bn};
}

static struct fcl_layer_spec L_maxpool(uint32_t k)
{
	return (struct fcl_layer_spec){.kind = FCL_LAYER_MAXPOOL, .kernel = k, .stride = k};
}

int fcl_preset_layers(enum fcl_model_preset p, const uint32_t *hidden, uint32_t n_hidden,
		      struct fcl_layer_spec *out, uint32_t max)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	uint32_t n = 0;

	switch (p) {
	case FCL_PRESET_MLP:
		if (n_hidden + 1 > FCL_ARCH_MAX_DENSE)
			return -EINVAL;
		for (uint32_t h = 0; h < n_hidden; h++) {
			l[n++] = L_dense(hidden[h], 1);
			l[n++] = L_simple(FCL_LAYER_RELU);
		}
		l[n++] = L_dense(0, 1);
		break;
	case FCL_PRESET_CNN:
		/* two 5x5 convolutions with 2x2 max-pooling, as FedAvg's CNN at a
		 * quarter of its width (16, 32 channels, 128 hidden units) */
		l[n++] = L_conv(16, 5, 2, 1);
		l[n++] = L_simple(FCL_LAYER_RELU);
		l[n++] = L_maxpool(2);
		l[n++] = L_conv(32, 5, 2, 1);
		l[n++] = L_simple(FCL_LAYER_RELU);
		l[n++] = L_maxpool(2);
		l[n++] = L_simple(FCL_LAYER_FLATTEN);
		l[n++] = L_dense(128, 1);
		l[n++] = L_simple(FCL_LAYER_RELU);
		l[n++] = L_dense(0, 1);
		break;
	case FCL_PRESET_ALEXNET_FOT:
		/* FOT's (and GPM's) Split CIFAR-100 network, model/alexnet.py:
		 * three conv blocks, each conv, relu, 2x2 max-pool, dropout 0.2;
		 * two fc 2048, each relu, dropout 0.5; the head */
		for (uint32_t b = 0; b < 3; b++) {
			static const uint32_t ch[] = {64, 128, 256}, k[] = {4, 3, 2};
			l[n++] = L_conv(ch[b], k[b], 0, 0);
			l[n++] = L_simple(FCL_LAYER_RELU);
			l[n++] = L_maxpool(2);
			l[n++] = L_dropout(0.2f);
		}
		l[n++] = L_simple(FCL_LAYER_FLATTEN);
		for (uint32_t h = 0; h < 2; h++) {
			l[n++] = L_dense(2048, 0);
			l[n++] = L_simple(FCL_LAYER_RELU);
			l[n++] = L_dropout(0.5f);
		}
		l[n++] = L_dense(0, 1);
		break;
	case FCL_PRESET_RESNET18_REDUCED:
	case FCL_PRESET_RESNET18_REDUCED_BN: {
		/* GEM's / FOT's reduced ResNet-18 (nf = 20): no biases, a 3x3 stem,
		 * four stages of two blocks (20, 40, 80, 160 channels, stride 2 from
		 * the second stage), 2x2 average pooling of the 4x4 maps to 640
		 * features; the head keeps its bias (model.head_bias: false holds it
		 * at 0, as FOT's). resnet18-reduced is FOT's 5-Datasets variant, no
		 * BatchNorm; -bn is GEM's, BatchNorm after the stem and in the blocks */
		int bn = p == FCL_PRESET_RESNET18_REDUCED_BN;
		l[n++] = L_conv(20, 3, 1, 0);
		if (bn)
			l[n++] = L_simple(FCL_LAYER_BATCHNORM);
		l[n++] = L_simple(FCL_LAYER_RELU);
		for (uint32_t st = 0; st < 4; st++) {
			l[n++] = L_res(20u << st, st ? 2 : 1, bn);
			l[n++] = L_res(20u << st, 1, bn);
		}
		l[n++] = (struct fcl_layer_spec){.kind = FCL_LAYER_AVGPOOL, .kernel = 2, .stride = 2};
		l[n++] = L_simple(FCL_LAYER_FLATTEN);
		l[n++] = L_dense(0, 1);
		break;
	}
	default:
		return -EINVAL;
	}
	if (n > max)
		return -EINVAL;
	memcpy(out, l, n * sizeof *l);
	return (int)n;
}

static int rate_ok(const struct fcl_layer_spec *s)
{
	return s->rate >= 0.0f && s->rate < 1.0f;
}

static int fail(struct fcl_arch *a, char *err, size_t errlen, const char *file,
		const struct fcl_layer_spec *s, uint32_t i, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (s)
		a->bad = i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s && s->line)
		snprintf(err, errlen, "%s:%u:%u: model.layers[%u]: %s", file ? file : "scenario",
			 s->line, s->col, i, msg);
	else if (s)
		snprintf(err, errlen, "model layer %u (%s): %s", i, fcl_layer_kind_name(s->kind),
			 msg);
	else
		snprintf(err, errlen, "model: %s", msg);
	return -EINVAL;
}

static int is_flat(struct fcl_input_shape s)
{
	return s.h == 1 && s.w == 1;
}

static uint32_t pooled(uint32_t n, uint32_t k, uint32_t stride)
{
	return (n - k) / stride + 1;
}

/* Shapes and parameters of one body layer; a->n_params grows. */
static int body_layer(struct fcl_arch *a, struct fcl_layer *L, uint32_t i, const char *file,
		      char *err, size_t errlen)
{
	const struct fcl_layer_spec *s = &L->s;
	struct fcl_input_shape in = L->in, out = in;

	switch (s->kind) {
	case FCL_LAYER_CONV2D: {
		if (s->units == 0 || s->kernel == 0 || s->stride == 0)
			return fail(a, err, errlen, file, s, i, "conv2d needs channels and kernel >= 1");
		uint32_t hp = in.h + 2 * s->padding, wp = in.w + 2 * s->padding;
		if (s->kernel > hp || s->kernel > wp)
			return fail(a, err, errlen, file, s, i,
				    "kernel %u is larger than its %ux%u input (padding %u)",
				    s->kernel, in.h, in.w, s->padding);
		out = (struct fcl_input_shape){s->units, pooled(hp, s->kernel, s->stride),
					       pooled(wp, s->kernel, s->stride)};
		size_t k = (size_t)in.c * s->kernel * s->kernel;
		L->w_off = a->n_params;
		L->n_params = (size_t)s->units * k;
		L->b_off = L->w_off + L->n_params;
		if (s->bias)
			L->n_params += s->units;
		L->macs = (uint64_t)out.c * out.h * out.w * k;
		break;
	}
	case FCL_LAYER_RESIDUAL: {
		if (s->units == 0 || s->stride == 0 || s->kernel != 3 || s->padding != 1 || s->bias)
			return fail(a, err, errlen, file, s, i,
				    "residual needs channels >= 1 and stride >= 1 (3x3 "
				    "convolutions, padding 1, no bias)");
		out = (struct fcl_input_shape){s->units, (in.h - 1) / s->stride + 1,
					       (in.w - 1) / s->stride + 1};
		uint32_t nbn = fcl_residual_norms(in.c, s->units, s->stride, s->bn);
		L->w_off = a->n_params;
		L->n_params = fcl_residual_params(in.c, s->units, s->stride, s->bn);
		L->n_stats = 2 * (size_t)s->units * nbn;
		/* and, as a batchnorm layer's, the scalings of its norms */
		L->macs = (uint64_t)out.c * out.h * out.w *
			  ((uint64_t)in.c * 9 + (uint64_t)out.c * 9 +
			   (fcl_residual_has_projection(in.c, s->units, s->stride) ? in.c : 0) +
			   2 * (uint64_t)nbn);
		break;
	}
	case FCL_LAYER_MAXPOOL:
	case FCL_LAYER_AVGPOOL:
		if (s->kernel == 0 || s->stride == 0)
			return fail(a, err, errlen, file, s, i, "pooling needs kernel >= 1");
		if (s->kernel > in.h || s->kernel > in.w)
			return fail(a, err, errlen, file, s, i, "kernel %u is larger than its %ux%u input",
				    s->kernel, in.h, in.w);
		out = (struct fcl_input_shape){in.c, pooled(in.h, s->kernel, s->stride),
					       pooled(in.w, s->kernel, s->stride)};
		break;
	case FCL_LAYER_GAP:
		out = (struct fcl_input_shape){in.c, 1, 1};
		break;
	case FCL_LAYER_FLATTEN:
		out = (struct fcl_input_shape){in.c * in.h * in.w, 1, 1};
		break;
	case FCL_LAYER_RELU:
		break;
	case FCL_LAYER_DROPOUT:
		if (!rate_ok(s))
			return fail(a, err, errlen, file, s, i, "dropout needs 0 <= rate < 1");
		break;
	case FCL_LAYER_GROUPNORM:
		if (s->groups == 0 || in.c % s->groups)
			return fail(a, err, errlen, file, s, i,
				    "groupnorm: groups %u must divide its %u channels", s->groups,
				    in.c);
		__attribute__((fallthrough)); /* gamma and beta per channel, as batchnorm */
	case FCL_LAYER_BATCHNORM:
		L->w_off = a->n_params;
		L->b_off = L->w_off + in.c;
		L->n_params = 2 * (size_t)in.c;
		L->n_stats = s->kind == FCL_LAYER_BATCHNORM ? 2 * (size_t)in.c : 0;
		L->macs = 2 * (uint64_t)in.c * in.h * in.w; /* not multiply-adds: the scalings */
		break;
	default:
		return fail(a, err, errlen, file, s, i, "not a body layer");
	}
	L->out = out;
	a->n_params += L->n_params;
	return 0;
}

int fcl_arch_compile(struct fcl_arch *a, const struct fcl_layer_spec *layers, uint32_t n,
		     struct fcl_input_shape input, uint32_t classes, const char *file, char *err,
		     size_t errlen)
{
	uint32_t i = 0;

	memset(a, 0, sizeof *a);
	a->bad = UINT32_MAX;
	if (n == 0 || n > FCL_ARCH_MAX_LAYERS)
		return fail(a, err, errlen, file, NULL, 0, "expected 1..%d layers (got %u)",
			    FCL_ARCH_MAX_LAYERS, n);
	if (input.c == 0 || input.h == 0 || input.w == 0 || classes == 0)
		return fail(a, err, errlen, file, NULL, 0, "empty input or no classes");
	a->input = input;
	a->dim_in = input.c * input.h * input.w;
	a->n_layers = n;
	struct fcl_input_shape cur = input;
	/* the body: up to the first dense layer */
	for (; i < n && layers[i].kind != FCL_LAYER_DENSE; i++) {
		struct fcl_layer *L = &a->layers[i];
		L->s = layers[i];
		L->in = cur;
		int rc = body_layer(a, L, i, file, err, errlen);
		if (rc)
			return rc;
		a->macs += L->macs;
		cur = L->out;
	}
	a->n_body = i;
	if (i == n)
		return fail(a, err, errlen, file, &layers[n - 1], n - 1,
			    "the last layer must be dense (the head, one output per class)");
	if (i == 0) /* an MLP reads the samples flat, as they are in memory */
		cur = (struct fcl_input_shape){a->dim_in, 1, 1};
	if (!is_flat(cur))
		return fail(a, err, errlen, file, &layers[i], i,
			    "dense needs a flat input: add flatten or gap before it (it gets %ux%ux%u)",
			    cur.c, cur.h, cur.w);
	/* the dense stack: dense (relu dense)*, a hidden layer's dropout before or
	 * after its relu (the same function: inverted dropout scales by a positive
	 * factor, which ReLU commutes with) */
	a->sizes[0] = cur.c;
	int relu = 0, drop = 0; /* since the last dense layer */
	for (; i < n; i++) {
		const struct fcl_layer_spec *s = &layers[i];
		struct fcl_layer *L = &a->layers[i];
		int last = i + 1 == n;
		L->s = *s;
		L->in = cur;
		L->out = cur;
		if (s->kind == FCL_LAYER_RELU || s->kind == FCL_LAYER_DROPOUT) {
			int *seen = s->kind == FCL_LAYER_RELU ? &relu : &drop;
			if (*seen || last)
				return fail(a, err, errlen, file, s, i,
					    "after the first dense layer, relu and dropout come only "
					    "between two dense layers, at most one of each");
			if (s->kind == FCL_LAYER_DROPOUT && !rate_ok(s))
				return fail(a, err, errlen, file, s, i, "dropout needs 0 <= rate < 1");
			if (s->kind == FCL_LAYER_DROPOUT)
				a->dense_drop[a->n_dense - 1] = s->rate;
			*seen = 1;
			continue;
		}
		if (s->kind != FCL_LAYER_DENSE)
			return fail(a, err, errlen, file, s, i,
				    "%s after the first dense layer: only dense, relu and dropout may "
				    "follow it",
				    fcl_layer_kind_name(s->kind));
		if (i > a->n_body && !relu)
			return fail(a, err, errlen, file, s, i, "two dense layers need relu between them");
		relu = drop = 0;
		if (last && s->units)
			return fail(a, err, errlen, file, s, i,
				    "the last dense layer is the head: its outputs are the data's "
				    "classes, leave units out");
		if (!last && !s->units)
			return fail(a, err, errlen, file, s, i, "dense needs units (only the head may "
							     "leave them out)");
		if (last && !s->bias)
			return fail(a, err, errlen, file, s, i,
				    "the head keeps its bias here: use model.head_bias: false to "
				    "keep it at 0");
		if (a->n_dense == FCL_ARCH_MAX_DENSE)
			return fail(a, err, errlen, file, s, i, "more than %d dense layers",
				    FCL_ARCH_MAX_DENSE);
		uint32_t nout = last ? classes : s->units;
		L->out = (struct fcl_input_shape){nout, 1, 1};
		L->w_off = a->n_params;
		L->n_params = (size_t)cur.c * nout;
		L->b_off = L->w_off + L->n_params;
		L->n_params += nout; /* the buffer keeps a bias slot, held at 0 without bias */
		L->macs = (uint64_t)cur.c * nout;
		a->macs += L->macs;
		a->n_params += L->n_params;
		a->dense_bias[a->n_dense] = s->bias;
		a->sizes[++a->n_dense] = nout;
		cur = L->out;
	}
	/* batchnorm's running statistics after everything trained */
	a->n_trained = a->n_params;
	for (i = 0; i < a->n_body; i++) {
		a->layers[i].s_off = a->n_params;
		a->n_params += a->layers[i].n_stats;
	}
	return 0;
}

int fcl_arch_mlp(struct fcl_arch *a, uint32_t n_dense, const uint32_t *sizes)
{
	struct fcl_layer_spec l[FCL_ARCH_MAX_LAYERS];
	char err[128];
	int n;

	if (n_dense < 1 || n_dense > FCL_ARCH_MAX_DENSE)
		return -EINVAL;
	n = fcl_preset_layers(FCL_PRESET_MLP, sizes + 1, n_dense - 1, l, FCL_ARCH_MAX_LAYERS);
	if (n < 0)
		return n;
	return fcl_arch_compile(a, l, (uint32_t)n, (struct fcl_input_shape){sizes[0], 1, 1},
				sizes[n_dense], NULL, err, sizeof err);
}

int fcl_layer_bn_params(const struct fcl_layer *L, size_t *off, size_t *len)
{
	/* a gamma and a beta per running mean and variance, last in the layer's run */
	if (!L->n_stats)
		return 0;
	*len = L->n_stats;
	*off = L->w_off + L->n_params - L->n_stats;
	return 1;
}

size_t fcl_arch_bn_values(const struct fcl_arch *a)
{
	size_t n = 0, off, len;

	for (uint32_t i = 0; i < a->n_body; i++)
		if (fcl_layer_bn_params(&a->layers[i], &off, &len))
			n += len + a->layers[i].n_stats;
	return n;
}

void fcl_arch_bn_move(const struct fcl_arch *a, float *params, float *packed, int gather)
{
	size_t at = 0;

	for (uint32_t i = 0; i < a->n_body; i++) {
		const struct fcl_layer *L = &a->layers[i];
		size_t off[2] = {0, L->s_off}, len[2] = {0, L->n_stats};
		if (!fcl_layer_bn_params(L, &off[0], &len[0]))
			continue;
		for (int k = 0; k < 2; k++) {
			if (gather)
				memcpy(packed + at, params + off[k], len[k] * sizeof(float));
			else
				memcpy(params + off[k], packed + at, len[k] * sizeof(float));
			at += len[k];
		}
	}
}

void fcl_arch_print(FILE *f, const struct fcl_arch *a)
{
	fprintf(f, "model: input %ux%ux%u, %zu parameters, %.2f M multiply-adds per sample\n",
		a->input.c, a->input.h, a->input.w, a->n_trained, (double)a->macs / 1e6);
	if (a->n_params > a->n_trained)
		fprintf(f, "  and %zu batchnorm running statistics (not trained)\n",
			a->n_params - a->n_trained);
	for (uint32_t i = 0; i < a->n_layers; i++) {
		const struct fcl_layer *L = &a->layers[i];
		const struct fcl_layer_spec *s = &L->s;
		char what[64];
		switch (s->kind) {
		case FCL_LAYER_CONV2D:
			snprintf(what, sizeof what, "conv2d %u k%u s%u p%u%s", s->units, s->kernel,
				 s->stride, s->padding, s->bias ? "" : " no bias");
			break;
		case FCL_LAYER_MAXPOOL:
		case FCL_LAYER_AVGPOOL:
			snprintf(what, sizeof what, "%s k%u s%u", fcl_layer_kind_name(s->kind),
				 s->kernel, s->stride);
			break;
		case FCL_LAYER_RESIDUAL:
			snprintf(what, sizeof what, "residual %u s%u%s%s", s->units, s->stride,
				 fcl_residual_has_projection(L->in.c, s->units, s->stride)
				     ? " proj"
				     : "",
				 s->bn ? " bn" : "");
			break;
		case FCL_LAYER_DROPOUT:
			snprintf(what, sizeof what, "dropout %g", (double)s->rate);
			break;
		case FCL_LAYER_GROUPNORM:
			snprintf(what, sizeof what, "groupnorm %u groups", s->groups);
			break;
		case FCL_LAYER_BATCHNORM:
			snprintf(what, sizeof what, "batchnorm +%zu stats", L->n_stats);
			break;
		case FCL_LAYER_DENSE:
			snprintf(what, sizeof what, "dense %u%s%s", L->out.c,
				 i + 1 == a->n_layers ? " (head)" : "", s->bias ? "" : " no bias");
			break;
		default:
			snprintf(what, sizeof what, "%s", fcl_layer_kind_name(s->kind));
		}
		fprintf(f, "  %2u %-26s -> %4u x %3u x %3u  %9zu params  %8.3f M MACs\n", i, what,
			L->out.c, L->out.h, L->out.w, L->n_params, (double)L->macs / 1e6);
	}
}
