/* common/src/agg_fot-private.h - what FOT's two files share: agg_fot.c (the
 * rule, its settings and server half) and agg_fot_client.c (its client half) */
#ifndef FCL_AGG_FOT_PRIVATE_H
#define FCL_AGG_FOT_PRIVATE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/arch.h"
#include "fcl/extras.h"
#include "fcl/model.h"
#include "fcl/rule.h"

#define L_MAX FCL_MLP_MAX_LAYERS
#define P_MAX (FCL_ARCH_MAX_LAYERS + FCL_MLP_MAX_LAYERS) /* protected layers, at most */
/* conv sketch streams: round = CONV_STREAM + task * FCL_ARCH_MAX_LAYERS + conv,
 * apart from the dense layers' task * L_MAX + layer */
#define CONV_STREAM (1u << 24)

struct fot_params {
	int weighted;
	double threshold;           /* epsilon_0 of the first task, (0, 1) */
	double threshold_increment; /* added per task */
	int k_rule;                 /* enum fcl_k_rule */
	double sketch_columns;      /* sketch width c_l as a multiple of d_l */
	int protect_output;         /* project the output layer's update too (the paper's MLP) */
	double conv_sketch_columns; /* a conv layer's sketch width as a multiple of d_l */
	uint32_t conv_sketch_max;   /* and at most this many columns (0: no cap) */
};

/* The sketch width c_l of a layer with d inputs. */
size_t fcl__fot_width(const struct fot_params *p, int conv, size_t d);

/* The layout of one answer (and of every sum of answers): per protected
 * layer l, at seg[l], Y_l (d_l * c_l), then n r_l, n and 1 (the count of
 * sketches of that layer in a sum). */
struct fot_layout {
	size_t seg[P_MAX + 1]; /* seg[n_prot]: the length */
	size_t dc[P_MAX];      /* d_l * c_l */
};
void fcl__fot_layout(struct fot_layout *lo, uint32_t np, const size_t *d, const size_t *c);
/* Checks one sketch message (tensor Y (d_l, c_l); ints: layer, n_samples;
 * reals: ratio) against the model's layers d and widths c: 0, or *why and the
 * reason's code (enum fcl_reject). */
uint32_t fcl__fot_check_sketch(const struct fcl_extras *x, uint32_t np, const size_t *d,
			       const size_t *c, uint64_t n_train, const char **why);
/* Layer l of sketch x into an answer vector at lo->seg[l]. */
void fcl__fot_stage(float *stage, const struct fot_layout *lo, uint32_t l,
		    const struct fcl_extras *x);

/* The client half (agg_fot_client.c), as fcl/rule.h's hooks. */
int fcl__fot_worker_init(struct fcl_rule_worker *w);
void fcl__fot_worker_fini(struct fcl_rule_worker *w);
int fcl__fot_check_request(struct fcl_rule_worker *w, const struct fcl_extras *req,
			   const char **why);
int fcl__fot_send_answers(struct fcl_rule_worker *w, struct fcl_local_round *lr, fcl_answer_fn send,
			  void *sink);
int fcl__fot_keep_answer(struct fcl_rule_worker *w, uint32_t client, const struct fcl_extras *x);
int fcl__fot_send_answer_sum(struct fcl_rule_worker *w, fcl_answer_sum_fn send, void *sink);

#endif
