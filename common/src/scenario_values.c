/* common/src/scenario_values.c - value handlers: scalars, lists, client
 * ranges, timeline segments and groups (see scenario-private.h) */
#include "scenario-private.h"
#include "schema-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_integer(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path, uint64_t *out)
{
	char what[64], g[GOT_MAX];
	const char *s = NULL;
	int rc;

	snprintf(what, sizeof(what), "an integer in %llu..%llu", (unsigned long long)f->lo,
		 (unsigned long long)f->hi);
	rc = fcl__scn_want_scalar(c, key, val, path, what, true, &s);
	if (rc)
		return rc;
	if (!fcl__parse_u64(s, out) || *out < f->lo || *out > f->hi)
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	return 0;
}

/* Stores v in the field's destination as width bytes (uint32_t or uint64_t). */
static int store_integer(struct ctx *c, const struct field *f, struct fy_node *key,
			 struct fy_node *val, const char *path, size_t width)
{
	uint64_t v;
	int rc = get_integer(c, f, key, val, path, &v);
	uint32_t v32 = (uint32_t)v;

	if (!rc)
		memcpy(fcl__scn_dest(c, f), width == sizeof v32 ? (void *)&v32 : (void *)&v, width);
	return rc;
}

int fcl__scn_get_u32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path)
{
	return store_integer(c, f, key, val, path, sizeof(uint32_t));
}

int fcl__scn_get_u64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path)
{
	return store_integer(c, f, key, val, path, sizeof(uint64_t));
}

/* A number in the field's range, stored as width bytes (float or double). */
static int store_number(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path, size_t width)
{
	char what[64], g[GOT_MAX];
	const char *s = NULL;
	double v;
	int rc;

	fcl__number_what(what, sizeof(what), f->flo, f->flo_open, f->fhi, f->fhi_open);
	rc = fcl__scn_want_scalar(c, key, val, path, what, true, &s);
	if (rc)
		return rc;
	if (!fcl__parse_number(s, &v) ||
	    !fcl__in_range(v, f->flo, f->flo_open, f->fhi, f->fhi_open))
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	float v32 = (float)v;
	memcpy(fcl__scn_dest(c, f), width == sizeof v32 ? (void *)&v32 : (void *)&v, width);
	return 0;
}

int fcl__scn_get_f32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path)
{
	return store_number(c, f, key, val, path, sizeof(float));
}

int fcl__scn_get_f64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path)
{
	return store_number(c, f, key, val, path, sizeof(double));
}

int fcl__scn_get_channel_values(struct ctx *c, const struct field *f, struct fy_node *key,
				struct fy_node *val, const char *path)
{
	struct fcl_channel_values *out = fcl__scn_dest(c, f);
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i = 0;

	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1 ||
	    fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_CHANNELS)
		return fcl__scn_fail(c, val, key, path,
				     "expected a list of 1..%d numbers, one per channel or one for "
				     "all (got %s)",
				     FCL_SCENARIO_MAX_CHANNELS, fcl__scn_got(val, g, sizeof(g)));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		struct field one = *f;
		one.off = f->off + offsetof(struct fcl_channel_values, v) + i * sizeof(float);
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, i);
		int rc = store_number(c, &one, key, item, ipath, sizeof(float));
		if (rc)
			return rc;
		i++;
	}
	out->n = i;
	return 0;
}

int fcl__scn_get_bool(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	const char *s = NULL;
	int v, rc = fcl__scn_want_scalar(c, key, val, path, "true or false", true, &s);

	if (rc)
		return rc;
	if (!strcmp(s, "true"))
		v = 1;
	else if (!strcmp(s, "false"))
		v = 0;
	else
		return fcl__scn_fail(c, val, key, path, "expected true or false (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	memcpy(fcl__scn_dest(c, f), &v, sizeof(v));
	return 0;
}

int fcl__scn_get_choice(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	char what[160], g[GOT_MAX];
	const struct fcl_key_choice *ch;
	const char *s = NULL;
	int rc;

	fcl__choice_what(f->choices, what, sizeof(what));
	rc = fcl__scn_want_scalar(c, key, val, path, what, false, &s);
	if (rc)
		return rc;
	for (ch = f->choices; ch->name; ch++) {
		if (!strcmp(s, ch->name)) {
			memcpy(fcl__scn_dest(c, f), &ch->value, sizeof(ch->value));
			return 0;
		}
	}
	return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
			     fcl__scn_got(val, g, sizeof(g)));
}

int fcl__scn_get_name(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	static const char what[] = "a name of 1..63 characters from A-Z a-z 0-9 . _ -";
	char g[GOT_MAX];
	const char *s = NULL;
	size_t n;
	int rc = fcl__scn_want_scalar(c, key, val, path, what, false, &s);

	(void)f;
	if (rc)
		return rc;
	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
	if (!n || s[n] || n >= sizeof(c->sc->name))
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	memcpy(c->sc->name, s, n + 1);
	return 0;
}

int fcl__scn_get_path(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	static const char what[] = "a folder path shorter than 512 bytes";
	char *out = c->sc->data.path, g[GOT_MAX];
	const char *s = NULL;
	int n, rc = fcl__scn_want_scalar(c, key, val, path, what, false, &s);

	(void)f;
	if (rc)
		return rc;
	if (s[0] != '/' && c->base_dir)
		n = snprintf(out, FCL_SCENARIO_PATH_MAX, "%s/%s", c->base_dir, s);
	else
		n = snprintf(out, FCL_SCENARIO_PATH_MAX, "%s", s);
	if (!s[0] || n < 0 || n >= FCL_SCENARIO_PATH_MAX)
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	return 0;
}

/* An integer item of a list, with its own key path "path[i]". */
int fcl__scn_get_item(struct ctx *c, struct fy_node *key, struct fy_node *item, const char *path,
		      uint32_t i, uint64_t lo, uint64_t hi, uint32_t *out)
{
	const struct field f = {.lo = lo, .hi = hi};
	char ipath[KEYPATH_MAX];
	uint64_t v;
	int rc;

	snprintf(ipath, sizeof(ipath), "%s[%u]", path, i);
	rc = get_integer(c, &f, key, item, ipath, &v);
	*out = (uint32_t)v;
	return rc;
}

int fcl__scn_get_hidden(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	(void)f;
	if (!fy_node_is_sequence(val))
		return fcl__scn_fail(c, key, NULL, path,
				     "expected a list of 0..%d layer sizes (got %s)",
				     FCL_SCENARIO_MAX_HIDDEN, fcl__scn_got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_HIDDEN)
		return fcl__scn_fail(c, key, NULL, path,
				     "expected a list of 0..%d layer sizes (got %d)",
				     FCL_SCENARIO_MAX_HIDDEN, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = fcl__scn_get_item(c, key, item, path, n, 1, 65536, &c->sc->model.hidden[n]);
		if (rc)
			return rc;
		n++;
	}
	c->sc->model.n_hidden = n;
	return 0;
}

/* "seeded" or a list of class ids; ids are checked against the classes after the walk. */
int fcl__scn_get_class_order(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path)
{
	static const char what[] = "seeded or a list of class ids";
	char g[GOT_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	(void)f;
	if (fy_node_is_scalar(val) && !fcl__scn_is_null(val)) {
		const char *s = fy_node_get_scalar0(val);

		if (s && !strcmp(s, "seeded")) {
			c->sc->tasks.n_class_order = 0;
			return 0;
		}
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	}
	if (!fy_node_is_sequence(val))
		return fcl__scn_fail(c, fcl__scn_is_null(val) ? val : key, key, path,
				     "expected %s (got %s)", what, fcl__scn_got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_CLASSES)
		return fcl__scn_fail(c, key, NULL, path, "expected at most %d class ids (got %d)",
				     FCL_SCENARIO_MAX_CLASSES, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = fcl__scn_get_item(c, key, item, path, n, 0, FCL_SCENARIO_MAX_CLASSES - 1,
				       &c->sc->tasks.class_order[n]);
		if (rc)
			return rc;
		n++;
	}
	c->sc->tasks.n_class_order = n;
	return 0;
}

/* A list of at most `max` integers in lo..hi into out[], its length into *n. */
static int get_u32_list(struct ctx *c, struct fy_node *key, struct fy_node *val, const char *path,
			const char *what, uint32_t max, uint64_t lo, uint64_t hi, uint32_t *out,
			uint32_t *n)
{
	char g[GOT_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i = 0;
	int rc;

	if (!fy_node_is_sequence(val))
		return fcl__scn_fail(c, fcl__scn_is_null(val) ? val : key, key, path,
				     "expected %s (got %s)", what, fcl__scn_got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > (int)max || fy_node_sequence_item_count(val) < 1)
		return fcl__scn_fail(c, key, NULL, path, "expected 1..%u entries (got %d)", max,
				     fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = fcl__scn_get_item(c, key, item, path, i, lo, hi, &out[i]);
		if (rc)
			return rc;
		i++;
	}
	*n = i;
	return 0;
}

/* scole: the class pool, checked against the classes after the walk. */
int fcl__scn_get_class_pool(struct ctx *c, const struct field *f, struct fy_node *key,
			    struct fy_node *val, const char *path)
{
	(void)f;
	return get_u32_list(c, key, val, path, "a list of class ids", FCL_SCENARIO_MAX_CLASSES, 0,
			    FCL_SCENARIO_MAX_CLASSES - 1, c->sc->tasks.class_pool,
			    &c->sc->tasks.n_class_pool);
}

/* catalogue, shuffled, or a list of at most max task ids. */
static int parse_order(struct ctx *c, struct fy_node *key, struct fy_node *val, const char *path,
		       enum fcl_order_kind *kind, uint32_t *list, uint32_t max, uint32_t *n)
{
	static const char what[] = "catalogue, shuffled or a list of task ids";
	char g[GOT_MAX];

	if (fy_node_is_scalar(val) && !fcl__scn_is_null(val)) {
		const char *s = fy_node_get_scalar0(val);

		if (s && !strcmp(s, "catalogue")) {
			*kind = FCL_ORDER_CATALOGUE;
			return 0;
		}
		if (s && !strcmp(s, "shuffled")) {
			*kind = FCL_ORDER_SHUFFLED;
			return 0;
		}
		return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	}
	*kind = FCL_ORDER_EXPLICIT;
	return get_u32_list(c, key, val, path, what, max, 0, 99999, list, n);
}

int fcl__scn_get_order(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path)
{
	struct fcl_scenario *sc = c->sc;

	(void)f;
	return parse_order(c, key, val, path, &sc->timeline.order, sc->timeline.order_list,
			   FCL_SCENARIO_MAX_ORDER, &sc->timeline.n_order);
}

int fcl__scn_get_group_order(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path)
{
	struct fcl_client_group *g = &c->sc->timeline.gcur;

	(void)f;
	return parse_order(c, key, val, path, &g->order, g->order_list,
			   FCL_SCENARIO_MAX_GROUP_ORDER, &g->n_order);
}

/* One syntax of client ranges wherever a key takes one (strategy.groups,
 * timeline.groups, devices.groups): a client id (7), an inclusive range of ids
 * ("0-31"), or the list [first, last]. Into *lo_out, *hi_out. */
static int client_range(struct ctx *c, struct fy_node *key, struct fy_node *val,
			const char *path, uint32_t *lo_out, uint32_t *hi_out)
{
	static const char what[] = "a client id, a range such as 0-31, or [first, last]";
	char g[GOT_MAX], buf[48];
	const char *s = NULL, *dash;
	uint64_t lo, hi;
	int rc;

	if (fy_node_is_sequence(val)) {
		if (fy_node_sequence_item_count(val) != 2)
			return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
					     fcl__scn_got(val, g, sizeof(g)));
		rc = fcl__scn_get_item(c, key, fy_node_sequence_get_by_index(val, 0), path, 0, 0,
				       99999, lo_out);
		return rc ? rc
			  : fcl__scn_get_item(c, key, fy_node_sequence_get_by_index(val, 1), path,
					      1, *lo_out, 99999, hi_out);
	}
	if ((rc = fcl__scn_want_scalar(c, key, val, path, what, false, &s)) != 0)
		return rc;
	dash = strchr(s, '-');
	if (!dash) {
		if (!fcl__parse_u64(s, &lo) || lo > 99999)
			return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
					     fcl__scn_got(val, g, sizeof(g)));
		hi = lo;
	} else {
		size_t n = (size_t)(dash - s);

		if (n == 0 || n >= sizeof(buf))
			return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
					     fcl__scn_got(val, g, sizeof(g)));
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (!fcl__parse_u64(buf, &lo) || !fcl__parse_u64(dash + 1, &hi) || lo > 99999 ||
		    hi > 99999)
			return fcl__scn_fail(c, val, key, path, "expected %s (got %s)", what,
					     fcl__scn_got(val, g, sizeof(g)));
		if (hi < lo)
			return fcl__scn_fail(c, val, key, path,
					     "expected a non-empty client range, low-high (got %s)",
					     fcl__scn_got(val, g, sizeof(g)));
	}
	*lo_out = (uint32_t)lo;
	*hi_out = (uint32_t)hi;
	return 0;
}

int fcl__scn_get_client_range(struct ctx *c, const struct field *f, struct fy_node *key,
			      struct fy_node *val, const char *path)
{
	uint32_t range[2]; /* lo, hi: consecutive fields */
	int rc = client_range(c, key, val, path, &range[0], &range[1]);

	if (!rc)
		memcpy(fcl__scn_dest(c, f), range, sizeof(range));
	return rc;
}

int fcl__scn_walk_list(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path, const struct map_list *l, uint32_t *n)
{
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	int rc;

	*n = 0;
	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1)
		return fcl__scn_fail(c, fcl__scn_is_null(val) ? val : key, key, path,
				     "expected a list of %s (got %s)", l->what,
				     fy_node_is_sequence(val) ? "an empty list"
							      : fcl__scn_got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > (int)l->max)
		return fcl__scn_fail(c, key, NULL, path, "expected at most %u %s (got %d)", l->max,
				     l->plural, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, *n);
		if (!fy_node_is_mapping(item))
			return fcl__scn_fail(c, item, key, ipath, "expected a mapping %s (got %s)",
					     l->item_what, fcl__scn_got(item, g, sizeof(g)));
		l->begin(c);
		if ((rc = fcl__scn_walk_map(c, f->sub, item, ipath, item)) != 0)
			return rc;
		l->keep(c, (*n)++, item);
	}
	return 0;
}

static void segment_begin(struct ctx *c)
{
	memset(&c->sc->timeline.cur, 0, sizeof(c->sc->timeline.cur));
}

static void segment_keep(struct ctx *c, uint32_t i, struct fy_node *item)
{
	c->sc->timeline.segments[i] = c->sc->timeline.cur;
	c->seg_node[i] = item;
}

/* A list of {clients, task, start, end}; checked against the rest after the walk. */
int fcl__scn_get_segments(struct ctx *c, const struct field *f, struct fy_node *key,
			  struct fy_node *val, const char *path)
{
	static const struct map_list l = {"{clients, task, start, end}",
					  "{clients, task, start, end}",
					  "segments",
					  FCL_SCENARIO_MAX_SEGMENTS,
					  segment_begin,
					  segment_keep};
	return fcl__scn_walk_list(c, f, key, val, path, &l, &c->sc->timeline.n_segments);
}

static void group_begin(struct ctx *c)
{
	struct fcl_client_group *cur = &c->sc->timeline.gcur;
	memset(cur, 0, sizeof(*cur));
	cur->order = FCL_ORDER_INHERIT;
	cur->offset = cur->join = cur->leave = UINT32_MAX;
	cur->participation = -1.0;
}

static void group_keep(struct ctx *c, uint32_t i, struct fy_node *item)
{
	c->sc->timeline.groups[i] = c->sc->timeline.gcur;
	c->grp_node[i] = item;
}

/* A list of {clients, order, offset, join, leave, participation}. */
int fcl__scn_get_groups(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	static const struct map_list l = {"{clients, order, offset, join, leave, participation}",
					  "{clients, ...}",
					  "groups",
					  FCL_SCENARIO_MAX_GROUPS,
					  group_begin,
					  group_keep};
	return fcl__scn_walk_list(c, f, key, val, path, &l, &c->sc->timeline.n_groups);
}

/* clients: [first, last], inclusive; checked against clients.count later. */
int fcl__scn_get_group_clients(struct ctx *c, const struct field *f, struct fy_node *key,
			       struct fy_node *val, const char *path)
{
	(void)f;
	return client_range(c, key, val, path, &c->group_first, &c->group_last);
}
