/* common/include/fcl/aggregate.h - server aggregation rules
 *
 * A rule turns the accepted updates of one round (local - global, given in
 * ascending client id, never arrival order) into the change of the global
 * parameters. Each rule is one file, common/src/agg_<name>.c, exporting a
 * `struct fcl_agg_ops`; aggregate.c picks it from the scenario's
 * aggregation.rule and owns what every rule shares. A rule's state (server
 * optimiser moments, FOT bases ...) is saved and restored with
 * fcl_agg_save/fcl_agg_load, for checkpoints.
 */
#ifndef FCL_AGGREGATE_H
#define FCL_AGGREGATE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/scenario.h"

struct fcl_mlp;

/* One accepted update. */
struct fcl_agg_update {
	uint32_t client_id;
	uint64_t n_samples;         /* training samples behind it */
	uint32_t local_steps;       /* SGD steps taken (FedNova) */
	const float *delta;         /* (n_params) local - global, borrowed */
	const float *control_delta; /* (n_params) SCAFFOLD: c_i+ - c_i, else NULL */
};

struct fcl_agg;

struct fcl_agg_ops {
	const char *name;
	int (*init)(struct fcl_agg *a);  /* allocates a->state; may be NULL */
	void (*fini)(struct fcl_agg *a); /* may be NULL */
	/* Writes the change of the global parameters into a->delta (n_params);
	 * the caller adds it. u: n >= 1 updates, ascending client id. */
	int (*combine)(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n);
	int (*save)(const struct fcl_agg *a, FILE *f); /* may be NULL: stateless */
	int (*load)(struct fcl_agg *a, FILE *f);
};

/* Geometry of one dense layer, for rules that treat weights as matrices. */
struct fcl_agg_layer {
	size_t w_offset; /* W (n_out, n_in) row-major at params + w_offset */
	size_t n_in, n_out;
};

struct fcl_agg {
	const struct fcl_agg_ops *ops;
	enum fcl_rule_kind rule;
	struct fcl_scenario sc; /* a copy; rules read sc.aggregation and sc.train */
	size_t n_params;
	uint32_t n_layers;
	struct fcl_agg_layer layers[8];
	double *acc;    /* (n_params) scratch accumulator */
	float *delta;   /* (n_params) the round's change, valid after fcl_agg_step */
	uint64_t steps; /* rounds aggregated so far */
	void *state;    /* the rule's own */
};

/* Stores an owned rule for the scenario's aggregation section in *out (free with
 * fcl_agg_destroy); m gives the parameter layout. 0, -EINVAL or -ENOMEM. */
int fcl_agg_create(const struct fcl_scenario *sc, const struct fcl_mlp *m, struct fcl_agg **out);
void fcl_agg_destroy(struct fcl_agg *a); /* NULL-safe */
/* params (n_params) += the rule's combination of u (n updates, ascending client id).
 * n == 0 leaves params alone. */
int fcl_agg_step(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, float *params);
const char *fcl_agg_rule_name(enum fcl_rule_kind rule);

/* State for checkpoints: a self-describing binary blob (rule id, steps, the rule's buffers). */
int fcl_agg_save(const struct fcl_agg *a, FILE *f);
int fcl_agg_load(struct fcl_agg *a, FILE *f); /* -EINVAL when the blob is for another rule */

/* Shared helper for rules: a->acc = sum_i w_i delta_i / sum_i w_i, summed in
 * the given order into doubles; weights by samples when weighted, else 1. */
void fcl_agg_mean(struct fcl_agg *a, const struct fcl_agg_update *u, size_t n, int weighted);

/* SCAFFOLD: the server's control variate c (n_params) to send, or NULL for other rules. */
const float *fcl_agg_control(const struct fcl_agg *a);

/* ---- FOT: what the server's task-end protocol needs ---------------------- */

/* Is this rule FOT (it wants sketches at task ends)? */
int fcl_agg_wants_sketch(const struct fcl_agg *a);
/* Layer l's basis U (d, k), borrowed (NULL when k == 0), and the sketch width c_l. */
const float *fcl_agg_fot_basis(const struct fcl_agg *a, uint32_t l, size_t *d, size_t *k);
size_t fcl_agg_fot_columns(const struct fcl_agg *a, uint32_t l);
double fcl_agg_fot_threshold(const struct fcl_agg *a);
/* Grows layer l's basis from the summed sketch Y (d, c_l) (overwritten) and the
 * clients' combined residual ratio r, with the current threshold. */
int fcl_agg_fot_expand(struct fcl_agg *a, uint32_t l, float *Y, double r, size_t *added);
/* After every layer was expanded: the threshold of the next task. */
void fcl_agg_fot_next_task(struct fcl_agg *a);

#endif
