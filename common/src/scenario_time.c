/* common/src/scenario_time.c - the keys of simulated time: the devices section,
 * aggregation's mode keys, and their checks (docs/scenarios.md, "devices")
 *
 *   devices:
 *     speed: {dist: lognormal, median: 50, sigma: 1}  # samples per simulated second
 *     up: 1e6                                         # bytes per second; a number is fixed
 *     latency: 0.05                                   # seconds per message
 *     availability: {kind: on-off, on: 600, off: 300}
 *     groups: [{clients: 0-9, speed: 10}]
 *   aggregation: {rule: fedavg, mode: async, async: {method: fedbuff, buffer: 10}}
 *
 * A device quantity is a number or a distribution mapping; the distribution is
 * walked with c->params pointing at its struct fcl_dist, and checked against the
 * quantity's range (the field's flo/fhi) right after, where its nodes are known.
 */
#include "scenario-private.h"
#include "schema-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DOFF(m) offsetof(struct fcl_dist, m)
#define AOFF(m) offsetof(struct fcl_availability, m)
#define OFF(m) offsetof(struct fcl_scenario, m)

/* ---- distributions --------------------------------------------------------- */

static const struct fcl_key_choice dist_kinds[] = {{"fixed", FCL_DIST_FIXED},
						   {"uniform", FCL_DIST_UNIFORM},
						   {"lognormal", FCL_DIST_LOGNORMAL},
						   {"table", FCL_DIST_TABLE},
						   {NULL, 0}};

static int get_values(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path);

#define NUMBER(k, m)                                                                               \
	{                                                                                          \
		.key = (k), .fn = fcl__scn_get_f64, .off = DOFF(m), .in_params = true, .flo = 0,   \
		.fhi = HUGE_VAL                                                                    \
	}
static const struct field dist_fields[] = {
    {.key = "dist",
     .fn = fcl__scn_get_choice,
     .off = DOFF(kind),
     .in_params = true,
     .choices = dist_kinds,
     .required = true},
    NUMBER("value", value),
    NUMBER("lo", lo),
    NUMBER("hi", hi),
    NUMBER("median", median),
    {.key = "sigma",
     .fn = fcl__scn_get_f64,
     .off = DOFF(sigma),
     .in_params = true,
     .flo = 0,
     .fhi = 10},
    {.key = "values", .fn = get_values, .in_params = true},
    {0},
};
#undef NUMBER

/* The keys of a distribution besides dist, and the kind each belongs to. */
static const struct {
	const char *key;
	enum fcl_dist_kind kind;
} dist_keys[] = {
    {"value", FCL_DIST_FIXED},      {"lo", FCL_DIST_UNIFORM},      {"hi", FCL_DIST_UNIFORM},
    {"median", FCL_DIST_LOGNORMAL}, {"sigma", FCL_DIST_LOGNORMAL}, {"values", FCL_DIST_TABLE},
};

/* values: [v0, v1, ...], numbers (their range is checked with the quantity's). */
static int get_values(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	struct fcl_dist *d = c->params;
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	const char *s;
	int rc;

	(void)f;
	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1 ||
	    fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_DIST_VALUES)
		return fcl__scn_fail(c, key, NULL, path,
				     "expected a list of 1..%d numbers (got %s)",
				     FCL_SCENARIO_MAX_DIST_VALUES,
				     fy_node_is_sequence(val) ? "a list of another length"
							      : fcl__scn_got(val, g, sizeof(g)));
	d->n_values = 0;
	while ((item = fy_node_sequence_iterate(val, &it))) {
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, d->n_values);
		if ((rc = fcl__scn_want_scalar(c, key, item, ipath, "a number", true, &s)) != 0)
			return rc;
		if (!fcl__parse_number(s, &d->values[d->n_values]))
			return fcl__scn_fail(c, item, key, ipath, "expected a number (got %s)",
					     fcl__scn_got(item, g, sizeof(g)));
		d->n_values++;
	}
	return 0;
}

/* v against the quantity's range (the field's), at node n; kpath names it. */
static int dist_value(struct ctx *c, const struct field *f, struct fy_node *n, struct fy_node *alt,
		      const char *kpath, double v)
{
	char what[64];

	if (fcl__in_range(v, f->flo, f->flo_open, f->fhi, f->fhi_open))
		return 0;
	fcl__number_what(what, sizeof(what), f->flo, f->flo_open, f->fhi, f->fhi_open);
	return fcl__scn_fail(c, n, alt, kpath, "expected %s (got %g)", what, v);
}

/* After the walk of a distribution mapping: its kind's keys, and nothing else;
 * every value it can give within the quantity's range. */
static int check_dist(struct ctx *c, const struct field *f, struct fy_node *map, const char *path,
		      const struct fcl_dist *d)
{
	const double num[] = {d->value, d->lo, d->hi, d->median};
	char kpath[KEYPATH_MAX];
	int rc;

	for (size_t i = 0; i < sizeof dist_keys / sizeof *dist_keys; i++) {
		struct fy_node *n = fy_node_mapping_lookup_by_string(map, dist_keys[i].key, -1);
		fcl__scn_join_path(kpath, sizeof(kpath), path, dist_keys[i].key);
		if (n && dist_keys[i].kind != d->kind)
			return fcl__scn_fail(
			    c, n, map, kpath, "expected only with dist: %s (got dist: %s)",
			    dist_kinds[dist_keys[i].kind].name, dist_kinds[d->kind].name);
		if (!n && dist_keys[i].kind == d->kind)
			return fcl__scn_fail(c, map, NULL, kpath,
					     "required with dist: %s (got none)",
					     dist_kinds[d->kind].name);
		if (n && i < 4 && (rc = dist_value(c, f, n, map, kpath, num[i])) != 0)
			return rc;
	}
	if (d->kind == FCL_DIST_UNIFORM && !(d->lo < d->hi)) {
		fcl__scn_join_path(kpath, sizeof(kpath), path, "hi");
		return fcl__scn_fail(c, fy_node_mapping_lookup_by_string(map, "hi", -1), map, kpath,
				     "expected more than lo = %g (got %g)", d->lo, d->hi);
	}
	struct fy_node *list = fy_node_mapping_lookup_by_string(map, "values", -1);
	for (uint32_t i = 0; d->kind == FCL_DIST_TABLE && i < d->n_values; i++) {
		snprintf(kpath, sizeof kpath, "%s.values[%u]", path, i);
		if ((rc = dist_value(c, f, fy_node_sequence_get_by_index(list, (int)i), list, kpath,
				     d->values[i])) != 0)
			return rc;
	}
	return 0;
}

/* A device quantity: a number (fixed), or {dist: ..., ...}. The field's range
 * (flo, fhi) is the quantity's: every value the distribution can give obeys it. */
static int get_dist(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		    const char *path)
{
	struct fcl_dist *d = fcl__scn_dest(c, f), tmp;
	char g[GOT_MAX];
	void *saved = c->params;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	if (fy_node_is_scalar(val) && !fcl__scn_is_null(val)) {
		struct field num = *f;
		num.in_params = true;
		num.off = DOFF(value);
		c->params = &tmp;
		rc = fcl__scn_get_f64(c, &num, key, val, path);
		c->params = saved;
		tmp.kind = FCL_DIST_FIXED;
	} else if (fy_node_is_mapping(val)) {
		c->params = &tmp;
		rc = fcl__scn_walk_map(c, dist_fields, val, path, key);
		c->params = saved;
		rc = rc ? rc : check_dist(c, f, val, path, &tmp);
	} else {
		return fcl__scn_fail(c, key, NULL, path,
				     "expected a number or a mapping {dist, ...} (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	}
	if (!rc)
		*d = tmp;
	return rc;
}

/* ---- availability ---------------------------------------------------------- */

static const struct fcl_key_choice avail_kinds[] = {{"always", FCL_AVAIL_ALWAYS},
						    {"on-off", FCL_AVAIL_ON_OFF},
						    {"trace", FCL_AVAIL_TRACE},
						    {NULL, 0}};

/* file: a trace's path, relative to the scenario's folder. */
static int get_trace_path(struct ctx *c, const struct field *f, struct fy_node *key,
			  struct fy_node *val, const char *path)
{
	static const char what[] = "a file path shorter than 512 bytes";
	struct fcl_availability *a = c->params;
	char g[GOT_MAX];
	const char *s = NULL;
	int n, rc = fcl__scn_want_scalar(c, key, val, path, what, false, &s);

	(void)f;
	if (rc)
		return rc;
	if (s[0] != '/' && c->base_dir)
		n = snprintf(a->trace, sizeof a->trace, "%s/%s", c->base_dir, s);
	else
		n = snprintf(a->trace, sizeof a->trace, "%s", s);
	if (!s[0] || n < 0 || (size_t)n >= sizeof a->trace)
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	return 0;
}

static const struct field avail_fields[] = {
    {.key = "kind",
     .fn = fcl__scn_get_choice,
     .off = AOFF(kind),
     .in_params = true,
     .choices = avail_kinds,
     .required = true},
    {.key = "on",
     .fn = fcl__scn_get_f64,
     .off = AOFF(on_s),
     .in_params = true,
     .flo = 0,
     .flo_open = true,
     .fhi = 1e12},
    {.key = "off",
     .fn = fcl__scn_get_f64,
     .off = AOFF(off_s),
     .in_params = true,
     .flo = 0,
     .flo_open = true,
     .fhi = 1e12},
    {.key = "file", .fn = get_trace_path, .in_params = true},
    {.key = "period",
     .fn = fcl__scn_get_f64,
     .off = AOFF(period),
     .in_params = true,
     .flo = 0,
     .flo_open = true,
     .fhi = 1e12},
    {0},
};

/* availability: {kind: always} | {kind: on-off, on, off} | {kind: trace, file[, period]} */
static int get_availability(struct ctx *c, const struct field *f, struct fy_node *key,
			    struct fy_node *val, const char *path)
{
	static const char *const keys[] = {[FCL_AVAIL_ALWAYS] = " ",
					   [FCL_AVAIL_ON_OFF] = " on off ",
					   [FCL_AVAIL_TRACE] = " file "};
	static const char *const optional[] = {"on", "off", "file", "period"};
	struct fcl_availability *a = fcl__scn_dest(c, f), tmp;
	char g[GOT_MAX], kpath[KEYPATH_MAX], pat[16];
	void *saved = c->params;

	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping {kind, ...} (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	memset(&tmp, 0, sizeof tmp);
	c->params = &tmp;
	int rc = fcl__scn_walk_map(c, avail_fields, val, path, key);
	c->params = saved;
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof optional / sizeof *optional; i++) {
		struct fy_node *n = fy_node_mapping_lookup_by_string(val, optional[i], -1);
		int wanted, allowed;
		snprintf(pat, sizeof pat, " %s ", optional[i]);
		wanted = strstr(keys[tmp.kind], pat) != NULL;
		allowed = wanted || (tmp.kind == FCL_AVAIL_TRACE && !strcmp(optional[i], "period"));
		fcl__scn_join_path(kpath, sizeof(kpath), path, optional[i]);
		if (n && !allowed)
			return fcl__scn_fail(
			    c, n, val, kpath, "expected only with kind: %s (got kind: %s)",
			    strcmp(optional[i], "file") && strcmp(optional[i], "period") ? "on-off"
											 : "trace",
			    avail_kinds[tmp.kind].name);
		if (!n && wanted)
			return fcl__scn_fail(c, val, NULL, kpath,
					     "required with kind: %s (got none)",
					     avail_kinds[tmp.kind].name);
	}
	*a = tmp;
	return 0;
}

/* ---- the devices section ----------------------------------------------------- */

/* Ranges of the quantities: speeds and bandwidths positive, latency not negative. */
#define QUANTITY(k, m, open)                                                                       \
	{                                                                                          \
		.key = (k), .fn = get_dist, .off = OFF(m), .flo = 0, .flo_open = (open),           \
		.fhi = HUGE_VAL                                                                    \
	}
#define PROFILE_FIELDS(p)                                                                          \
	QUANTITY("speed", p.speed, true), QUANTITY("up", p.up, true),                              \
	    QUANTITY("down", p.down, true), QUANTITY("latency", p.latency, false),                 \
	{                                                                                          \
		.key = "availability", .fn = get_availability, .off = OFF(p.avail)                 \
	}

static const struct field device_group_fields[] = {
    {.key = "clients",
     .fn = fcl__scn_get_client_range,
     .off = OFF(devices.gcur.lo),
     .required = true},
    PROFILE_FIELDS(devices.gcur.p),
    {0},
};

static void group_begin(struct ctx *c)
{
	struct fcl_device_group *g = &c->sc->devices.gcur;
	memset(g, 0, sizeof *g);
	g->p.speed.kind = g->p.up.kind = g->p.down.kind = g->p.latency.kind = FCL_DIST_INHERIT;
	g->p.avail.kind = FCL_AVAIL_INHERIT;
}

static void group_keep(struct ctx *c, uint32_t i, struct fy_node *item)
{
	c->sc->devices.groups[i] = c->sc->devices.gcur;
	c->dev_node[i] = item;
}

/* groups: a list of {clients, speed, up, down, latency, availability}. */
static int get_device_groups(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path)
{
	static const struct map_list l = {"{clients, speed, up, down, latency, availability}",
					  "{clients, ...}",
					  "device groups",
					  FCL_SCENARIO_MAX_DEVICE_GROUPS,
					  group_begin,
					  group_keep};
	return fcl__scn_walk_list(c, f, key, val, path, &l, &c->sc->devices.n_groups);
}

static const struct field devices_fields[] = {
    PROFILE_FIELDS(devices.base),
    {.key = "groups", .fn = get_device_groups, .sub = device_group_fields},
    {0},
};

int fcl__scn_get_devices(struct ctx *c, const struct field *f, struct fy_node *key,
			 struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	int rc;

	(void)f;
	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	if ((rc = fcl__scn_walk_map(c, devices_fields, val, path, key)) != 0)
		return rc;
	if (!fy_node_mapping_lookup_by_string(val, "speed", -1))
		return fcl__scn_fail(c, key, NULL, "devices.speed",
				     "required key is missing (got none)");
	c->sc->devices.on = 1;
	return 0;
}

/* ---- aggregation's keys ----------------------------------------------------- */

static const struct fcl_key_choice modes[] = {
    {"sync", FCL_AGG_SYNC}, {"async", FCL_AGG_ASYNC}, {NULL, 0}};
static const struct fcl_key_choice straggler_fates[] = {{"drop", 0}, {"keep", 1}, {NULL, 0}};
static const struct fcl_key_choice async_methods[] = {
    {"fedbuff", FCL_ASYNC_FEDBUFF}, {"fedasync", FCL_ASYNC_FEDASYNC}, {NULL, 0}};
static const struct fcl_key_choice staleness_kinds[] = {{"constant", FCL_STALENESS_CONSTANT},
							{"polynomial", FCL_STALENESS_POLYNOMIAL},
							{"hinge", FCL_STALENESS_HINGE},
							{NULL, 0}};

#define NUM(k, m, l, lopen, h)                                                                     \
	{                                                                                          \
		.key = (k), .fn = fcl__scn_get_f64, .off = OFF(m), .flo = (l),                     \
		.flo_open = (lopen), .fhi = (h)                                                    \
	}
static const struct field async_fields[] = {
    {.key = "method",
     .fn = fcl__scn_get_choice,
     .off = OFF(aggregation.async.method),
     .choices = async_methods},
    {.key = "buffer",
     .fn = fcl__scn_get_u32,
     .off = OFF(aggregation.async.buffer),
     .lo = 1,
     .hi = 100000},
    {.key = "concurrency",
     .fn = fcl__scn_get_u32,
     .off = OFF(aggregation.async.concurrency),
     .lo = 1,
     .hi = 100000},
    NUM("lr", aggregation.async.lr, 0, true, 1e6),
    NUM("alpha", aggregation.async.alpha, 0, true, 1),
    {0},
};
static const struct field staleness_fields[] = {
    {.key = "kind",
     .fn = fcl__scn_get_choice,
     .off = OFF(aggregation.staleness.kind),
     .choices = staleness_kinds},
    NUM("a", aggregation.staleness.a, 0, false, 1e6),
    NUM("b", aggregation.staleness.b, 0, false, 1e9),
    {.key = "max",
     .fn = fcl__scn_get_u32,
     .off = OFF(aggregation.staleness.max),
     .lo = 0,
     .hi = UINT32_MAX},
    {0},
};

const struct field fcl__scn_time_aggregation_fields[FCL__SCN_TIME_AGGREGATION_KEYS] = {
    {.key = "mode",
     .fn = fcl__scn_get_choice,
     .off = OFF(aggregation.mode),
     .choices = modes,
     .slot = S_MODE},
    {.key = "deadline",
     .fn = fcl__scn_get_f64,
     .off = OFF(aggregation.deadline),
     .flo = 0,
     .flo_open = true,
     .fhi = 1e12,
     .slot = S_DEADLINE},
    {.key = "stragglers",
     .fn = fcl__scn_get_choice,
     .off = OFF(aggregation.keep_stragglers),
     .choices = straggler_fates,
     .slot = S_STRAGGLERS},
    {.key = "over_selection",
     .fn = fcl__scn_get_f64,
     .off = OFF(aggregation.over_selection),
     .flo = 0,
     .flo_open = true,
     .fhi = 10,
     .slot = S_OVER_SELECTION},
    {.key = "async", .fn = fcl__scn_get_section, .sub = async_fields, .slot = S_ASYNC},
    {.key = "staleness", .fn = fcl__scn_get_section, .sub = staleness_fields, .slot = S_STALENESS},
};
#undef NUM

void fcl__scn_time_defaults(struct fcl_scenario *sc)
{
	struct fcl_device_profile *p = &sc->devices.base;

	p->speed = (struct fcl_dist){.kind = FCL_DIST_FIXED, .value = 1.0};
	p->up = p->down = (struct fcl_dist){.kind = FCL_DIST_FIXED, .value = HUGE_VAL};
	p->latency = (struct fcl_dist){.kind = FCL_DIST_FIXED, .value = 0.0};
	p->avail.kind = FCL_AVAIL_ALWAYS;
	sc->aggregation.mode = FCL_AGG_SYNC;
	sc->aggregation.async.method = FCL_ASYNC_FEDBUFF;
	sc->aggregation.async.buffer = 10;
	sc->aggregation.async.lr = 1.0;
	sc->aggregation.async.alpha = 0.6;
	sc->aggregation.staleness =
	    (struct fcl_staleness){.kind = FCL_STALENESS_POLYNOMIAL, .a = 0.5, .b = 4.0};
}

/* ---- checks ------------------------------------------------------------------ */

/* A key of simulated time given without a devices section. */
static int need_devices(struct ctx *c)
{
	static const struct {
		enum slot slot;
		const char *path;
	} keys[] = {
	    {S_MODE, "aggregation.mode"},
	    {S_DEADLINE, "aggregation.deadline"},
	    {S_STRAGGLERS, "aggregation.stragglers"},
	    {S_OVER_SELECTION, "aggregation.over_selection"},
	    {S_ASYNC, "aggregation.async"},
	    {S_STALENESS, "aggregation.staleness"},
	    {S_SECONDS_PER_TASK, "tasks.seconds_per_task"},
	};
	for (size_t i = 0; !c->sc->devices.on && i < sizeof keys / sizeof *keys; i++)
		if (c->key[keys[i].slot])
			return fcl__scn_fail(c, c->key[keys[i].slot], NULL, keys[i].path,
					     "expected a devices section with it: simulated time "
					     "needs device profiles (got none)");
	return 0;
}

/* Keys that belong to the other mode. */
static int mode_keys(struct ctx *c)
{
	static const struct {
		enum slot slot;
		const char *path;
		enum fcl_agg_mode mode;
	} keys[] = {
	    {S_DEADLINE, "aggregation.deadline", FCL_AGG_SYNC},
	    {S_STRAGGLERS, "aggregation.stragglers", FCL_AGG_SYNC},
	    {S_OVER_SELECTION, "aggregation.over_selection", FCL_AGG_SYNC},
	    {S_ASYNC, "aggregation.async", FCL_AGG_ASYNC},
	};
	const struct fcl_scenario *sc = c->sc;

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (c->key[keys[i].slot] && sc->aggregation.mode != keys[i].mode)
			return fcl__scn_fail(c, c->key[keys[i].slot], NULL, keys[i].path,
					     "expected only with mode: %s (got mode: %s)",
					     modes[keys[i].mode].name,
					     modes[sc->aggregation.mode].name);
	if (c->key[S_STRAGGLERS] && sc->aggregation.deadline <= 0 &&
	    sc->aggregation.over_selection <= 0)
		return fcl__scn_fail(c, c->key[S_STRAGGLERS], NULL, "aggregation.stragglers",
				     "expected a deadline or over_selection with it (got neither)");
	if (c->key[S_STALENESS] && sc->aggregation.mode == FCL_AGG_SYNC &&
	    !sc->aggregation.keep_stragglers)
		return fcl__scn_fail(c, c->key[S_STALENESS], NULL, "aggregation.staleness",
				     "expected mode: async or stragglers: keep with it (got no "
				     "stale updates)");
	return 0;
}

static int check_groups(struct ctx *c)
{
	const struct fcl_scenario *sc = c->sc;
	char path[KEYPATH_MAX];

	for (uint32_t i = 0; i < sc->devices.n_groups; i++) {
		const struct fcl_device_group *g = &sc->devices.groups[i];
		if (g->hi < sc->clients.count)
			continue;
		snprintf(path, sizeof path, "devices.groups[%u].clients", i);
		return fcl__scn_fail(
		    c, fy_node_mapping_lookup_by_string(c->dev_node[i], "clients", -1),
		    c->dev_node[i], path,
		    "expected client ids below clients.count = %u (got %u-%u)", sc->clients.count,
		    g->lo, g->hi);
	}
	return 0;
}

int fcl__scn_check_time(struct ctx *c)
{
	const struct fcl_scenario *sc = c->sc;
	int rc;

	if ((rc = need_devices(c)) != 0 || (rc = mode_keys(c)) != 0 || (rc = check_groups(c)) != 0)
		return rc;
	if (sc->aggregation.mode == FCL_AGG_ASYNC &&
	    fcl_scenario_concurrency(sc) > sc->clients.count)
		return fcl__scn_fail(c, c->key[S_ASYNC] ? c->key[S_ASYNC] : c->key[S_MODE], NULL,
				     "aggregation.async.concurrency",
				     "expected at most clients.count = %u clients training at once "
				     "(got %u)",
				     sc->clients.count, fcl_scenario_concurrency(sc));
	if (sc->devices.on && sc->eval.local_models)
		return fcl__scn_fail(
		    c, c->key[S_LOCAL_MODELS], NULL, "evaluation.local_models",
		    "expected false with a devices section: updates are applied in "
		    "simulated time, not per round (got true)");
	return 0;
}
