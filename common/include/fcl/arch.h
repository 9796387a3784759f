/* common/include/fcl/arch.h - a model as a list of layers, and its shapes
 *
 * A scenario's model.layers (or model.preset, or model.hidden) is a list of
 * layer specs. Compiled against the data's input shape and class count it
 * becomes an architecture: every layer's input and output shape and where its
 * parameters sit in the model's one flat buffer.
 *
 * The list has two parts. The body is everything before the first dense
 * layer: convolutions, pooling, ReLU, flatten on (C, H, W) maps. The head
 * stack is the dense layers from the first one on, ReLU (and maybe dropout)
 * between them; its last dense layer gives the logits (its outputs are the
 * data's classes) and its input is the penultimate features that strategies
 * work on (UER's cosine head, MVP's masks; in training, after the dropout
 * before the head, as the head sees them). The body's output is flat (flatten or global average
 * pooling before the first dense layer), so the MLP code and everything built
 * on it (strategies, FOT's dense layers) sees the head stack unchanged; an MLP
 * is an empty body.
 *
 * Parameter layout: body layers in list order (conv: W (C_out, C_in*kh*kw)
 * row-major, the im2col order FOT reshapes by, then b (C_out) when it has a
 * bias; groupnorm and batchnorm: gamma (C), then beta (C)), then the dense
 * layers as in fcl/model.h: W (n_out, n_in), b (n_out). Then, after everything
 * trained, the statistics: each batchnorm's running mean (C) and running
 * variance (C), in list order (a residual block with BatchNorm: those of its
 * two or three, fcl/residual.h). They travel with the parameters (updates,
 * checkpoints, checksums) but have no gradient and SGD never steps them
 * (fcl_sgd_step over n_trained); a model without batchnorm has none, so its
 * layout is as before. The norms go in the body (before the first dense
 * layer); on flat features (after flatten) batchnorm is BatchNorm1d. Dropout
 * goes anywhere in the body and between two dense layers (before or after the
 * ReLU: the same function); it has no parameters, so it leaves the layout
 * alone.
 */
#ifndef FCL_ARCH_H
#define FCL_ARCH_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/data.h"
#include "fcl/layers.h"

#define FCL_ARCH_MAX_LAYERS 48
#define FCL_ARCH_MAX_DENSE 8 /* = FCL_MLP_MAX_LAYERS */

enum fcl_layer_kind {
	FCL_LAYER_DENSE,
	FCL_LAYER_CONV2D,
	FCL_LAYER_MAXPOOL,
	FCL_LAYER_AVGPOOL,
	FCL_LAYER_GAP, /* global average pool: (C, H, W) -> (C) */
	FCL_LAYER_FLATTEN,
	FCL_LAYER_RELU,
	FCL_LAYER_RESIDUAL, /* fcl/residual.h: two 3x3 convs and a shortcut, ReLU after the sum */
	FCL_LAYER_DROPOUT,   /* inverted dropout, training only */
	FCL_LAYER_GROUPNORM, /* gamma, beta per channel */
	FCL_LAYER_BATCHNORM, /* gamma, beta per channel; running mean and variance */
};

enum fcl_model_preset {
	FCL_PRESET_NONE, /* model.layers given */
	FCL_PRESET_MLP,  /* model.hidden (default 256, 128) */
	FCL_PRESET_CNN,
	FCL_PRESET_ALEXNET_FOT,
	FCL_PRESET_RESNET18_REDUCED,
	FCL_PRESET_RESNET18_REDUCED_BN, /* GEM's: BatchNorm after the stem and in every block */
};

/* One layer as the scenario writes it. */
struct fcl_layer_spec {
	enum fcl_layer_kind kind;
	uint32_t units;   /* dense: outputs (0 on the last dense layer: the classes); conv,
			   * residual: channels */
	uint32_t kernel;  /* conv, pools */
	uint32_t stride;  /* conv, residual (default 1), pools (default kernel) */
	uint32_t padding; /* conv: zeros on every side */
	int bias;         /* dense, conv */
	uint32_t line, col; /* where it was written (0 for presets and model.hidden) */
	float rate;         /* dropout: the probability of zeroing a value, [0, 1) */
	uint32_t groups;    /* groupnorm: groups (divides the channels) */
	int bn;             /* residual: BatchNorm after each convolution (norm: batchnorm) */
};

struct fcl_layer {
	struct fcl_layer_spec s;
	struct fcl_input_shape in, out;
	size_t w_off, b_off, n_params; /* b_off valid when s.bias */
	uint64_t macs;                 /* multiply-adds per sample, forward */
	/* batchnorm: running mean (C) then running variance (C) at s_off, in the
	 * statistics at the buffer's tail (not in n_params: they are not trained) */
	size_t s_off, n_stats;
};

/* The geometry of a conv or pool layer, as fcl/layers.h's kernels take it. */
static inline struct fcl_conv_geom fcl_layer_geom(const struct fcl_layer *L)
{
	return (struct fcl_conv_geom){.ci = L->in.c,
				      .h = L->in.h,
				      .w = L->in.w,
				      .co = L->out.c,
				      .ho = L->out.h,
				      .wo = L->out.w,
				      .k = L->s.kernel,
				      .stride = L->s.stride,
				      .pad = L->s.padding};
}

struct fcl_arch {
	struct fcl_input_shape input;
	uint32_t dim_in; /* c * h * w */
	uint32_t n_layers, n_body; /* layers[0..n_body) are the body */
	struct fcl_layer layers[FCL_ARCH_MAX_LAYERS];
	/* the dense stack, as fcl_mlp_init takes it */
	uint32_t n_dense;
	uint32_t sizes[FCL_ARCH_MAX_DENSE + 1];
	int dense_bias[FCL_ARCH_MAX_DENSE];
	float dense_drop[FCL_ARCH_MAX_DENSE]; /* the dropout rate after hidden dense layer l (0: none) */
	size_t n_params;  /* the flat buffer: trained parameters, then statistics */
	size_t n_trained; /* [0, n_trained) is trained; [n_trained, n_params) the statistics */
	uint64_t macs;
	uint32_t bad; /* the layer fcl_arch_compile failed on, or UINT32_MAX */
};

const char *fcl_layer_kind_name(enum fcl_layer_kind k);
const char *fcl_model_preset_name(enum fcl_model_preset p);
/* -1 when the name is unknown */
int fcl_layer_kind_parse(const char *name);
int fcl_model_preset_parse(const char *name);

/* The layer list of a preset; mlp uses hidden[0..n_hidden). Returns the count
 * (at most max) or -EINVAL. */
int fcl_preset_layers(enum fcl_model_preset p, const uint32_t *hidden, uint32_t n_hidden,
		      struct fcl_layer_spec *out, uint32_t max);

/* Shapes, offsets and counts of a layer list on input of that shape with
 * that many classes. On a bad list returns -EINVAL with err naming the layer
 * (model.layers[i], and file:line:col when the spec has one). */
int fcl_arch_compile(struct fcl_arch *a, const struct fcl_layer_spec *layers, uint32_t n,
		     struct fcl_input_shape input, uint32_t classes, const char *file, char *err,
		     size_t errlen);
/* An MLP: sizes[0] inputs (shape 1 x 1 x sizes[0]), n_dense layers, biases. */
int fcl_arch_mlp(struct fcl_arch *a, uint32_t n_dense, const uint32_t *sizes);
/* A layer's batchnorm values (a batchnorm layer, or a residual block with
 * BatchNorm): its gammas and betas are [*off, *off + *len), contiguous, and
 * its running statistics [s_off, s_off + n_stats) (as many). 0: it has none. */
int fcl_layer_bn_params(const struct fcl_layer *L, size_t *off, size_t *len);
/* One line per layer: its output shape, parameters and multiply-adds. */
void fcl_arch_print(FILE *f, const struct fcl_arch *a);

/* Every batchnorm value of the flat buffer: per layer with any
 * (fcl_layer_bn_params) its gammas and betas, then its running means and
 * variances.
 * fcl_arch_bn_values counts them; fcl_arch_bn_move copies them from params
 * into packed (gather 1) or back (gather 0), layer by layer in that order
 * (model.batchnorm: local, a client's own values: fcl/strategy.h). */
size_t fcl_arch_bn_values(const struct fcl_arch *a);
void fcl_arch_bn_move(const struct fcl_arch *a, float *params, float *packed, int gather);

#endif
