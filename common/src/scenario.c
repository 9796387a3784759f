/* common/src/scenario.c - strict YAML scenario parser (libfyaml document tree)
 *
 * The document is walked with one table per mapping: each known key names a
 * small handler for its value type and where the value goes. Checks that
 * involve several keys (per_round <= count, class_order against the number
 * of classes, the data files ...) run after the walk, using the nodes the
 * walk remembered so that errors still point at file:line:col.
 */
#include "fcl/scenario.h"
#include "fcl/util.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_FASHION_PATH "/usr/share/datasets/fashion-mnist"
#define IDX_CLASSES 10u
#define KEYPATH_MAX 160
#define GOT_MAX 64

_Static_assert(sizeof(enum fcl_dataset_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_partition_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_task_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_rule_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_order_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_recurrence_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_strategy_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_mvp_focal) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum fcl_mvp_query) == sizeof(int), "enums are stored as int");

/* Keys whose nodes the checks after the walk need. */
enum slot {
	S_NONE,
	S_DATASET,
	S_PATH,
	S_SYNTHETIC,
	S_PER_ROUND,
	S_TASKS,
	S_GENERATOR,
	S_TASK_COUNT,
	S_CLASSES_PER_TASK,
	S_CLASS_ORDER,
	S_IDENTITY_FIRST,
	S_PARTITION,
	S_ALPHA,
	S_SHARDS,
	S_DISJOINT,
	S_BLURRY,
	S_CLASS_POOL,
	S_ROUNDS_PER_TASK,
	S_ORDER,
	S_JITTER,
	S_LEAVE,
	S_STREAM,
	S_SAMPLES_PER_ROUND,
	S_SEGMENTS,
	S_RECURRENCE,
	S_STRATEGY,
	S_GROUPS,
	S_TRAIN_MODE,
	S_COUNT_
};

struct ctx {
	struct fcl_scenario *sc;
	const char *file;
	const char *base_dir; /* relative data paths resolve here; NULL keeps them */
	char *err;
	size_t errlen;
	int root_line, root_col; /* where the root node starts (1-based) */
	size_t root_off;         /* ... and its byte offset (the text length when blank) */
	struct fy_node *key[S_COUNT_], *val[S_COUNT_];
	struct fy_node *seg_node[FCL_SCENARIO_MAX_SEGMENTS]; /* timeline.segments items */
	struct fy_node *grp_node[FCL_SCENARIO_MAX_GROUPS];   /* timeline.groups items */
	uint32_t group_first, group_last; /* strategy.groups[i].clients being parsed */
};

struct field;
typedef int (*value_fn)(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path);

struct choice {
	const char *name;
	int value;
};

struct field {
	const char *key;
	value_fn fn;
	size_t off;                   /* where the value goes in struct fcl_scenario */
	uint64_t lo, hi;              /* integers: inclusive range */
	double flo, fhi;              /* numbers: range ... */
	bool flo_open, fhi_open;      /* ... with open ends */
	const struct choice *choices; /* enumerations, NULL-terminated */
	const struct field *sub;      /* nested mapping */
	bool required;
	enum slot slot;
};

/* ---- error reporting ---------------------------------------------------- */

/* The 1-based position of a node: a scalar's own token, else the first scalar inside. */
static int node_pos(struct fy_node *n, int *line, int *col)
{
	struct fy_token *t;
	const struct fy_mark *m;
	struct fy_node_pair *p;
	void *it = NULL;

	if (!n)
		return -1;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		t = fy_node_get_scalar_token(n);
		m = t ? fy_token_start_mark(t) : NULL;
		if (!m)
			return -1;
		*line = m->line + 1;
		*col = m->column + 1;
		/* a quoted scalar's token starts past its opening quote */
		if (*col > 1 && (fy_node_get_style(n) == FYNS_SINGLE_QUOTED ||
				 fy_node_get_style(n) == FYNS_DOUBLE_QUOTED))
			(*col)--;
		return 0;
	case FYNT_SEQUENCE:
		return node_pos(fy_node_sequence_iterate(n, &it), line, col);
	case FYNT_MAPPING:
		p = fy_node_mapping_iterate(n, &it);
		return p ? node_pos(fy_node_pair_key(p), line, col) : -1;
	}
	return -1;
}

static int vfail_pos(struct ctx *c, int line, int col, const char *path, const char *fmt,
		     va_list ap)
{
	int n;

	if (!c->err || !c->errlen)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%d:%d: %s: ", c->file, line, col, path);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

static int fail_pos(struct ctx *c, int line, int col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_pos(struct ctx *c, int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_pos(c, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reports at node `at`, else at `alt` (when `at` has no position), else at the root. */
static int fail(struct ctx *c, struct fy_node *at, struct fy_node *alt, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(struct ctx *c, struct fy_node *at, struct fy_node *alt, const char *path,
		const char *fmt, ...)
{
	int line = c->root_line, col = c->root_col, rc;
	va_list ap;

	if (node_pos(at, &line, &col) < 0)
		node_pos(alt, &line, &col);
	va_start(ap, fmt);
	rc = vfail_pos(c, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

static bool is_null(struct fy_node *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	const char *s = NULL;
	size_t len, i;

	if (!n)
		return true;
	if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN)
		return false;
	s = fy_node_get_scalar(n, &len);
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (s && len == strlen(nulls[i]) && !memcmp(s, nulls[i], len))
			return true;
	return false;
}

/* Describes what a node is, for the "(got ...)" part of a message. */
static const char *got(struct fy_node *n, char *buf, size_t size)
{
	const char *s, *quote = "";
	size_t len, i, o = 0;

	if (is_null(n))
		return "nothing";
	if (fy_node_is_mapping(n))
		return "a mapping";
	if (fy_node_is_sequence(n))
		return "a sequence";
	s = fy_node_get_scalar(n, &len);
	if (!s)
		return "a scalar";
	if (fy_node_get_style(n) != FYNS_PLAIN)
		quote = "\"";
	o = (size_t)snprintf(buf, size, "%s", quote);
	for (i = 0; i < len && o + 8 < size; i++)
		buf[o++] = (s[i] == '\n' || s[i] == '\t' || s[i] == '\0') ? ' ' : s[i];
	buf[o] = '\0';
	snprintf(buf + o, size - o, "%s%s", i < len ? "..." : "", quote);
	return buf;
}

static void join_path(char *out, size_t size, const char *parent, const char *key)
{
	int n = snprintf(out, size, "%s%s%s", parent, *parent ? "." : "", key);

	if (n < 0)
		out[0] = '\0';
}

/* ---- scalar values ------------------------------------------------------ */

/* The NUL-terminated text of a scalar value; reports anything else. */
static int want_scalar(struct ctx *c, struct fy_node *key, struct fy_node *val, const char *path,
		       const char *what, bool plain, const char **out)
{
	char g[GOT_MAX];
	size_t len;

	*out = NULL;
	if (val && !fy_node_is_scalar(val))
		return fail(c, key, NULL, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	if (is_null(val))
		return fail(c, val, key, path, "expected %s (got nothing)", what);
	if (plain && fy_node_get_style(val) != FYNS_PLAIN)
		return fail(c, val, key, path, "expected %s (got the quoted string %s)", what,
			    got(val, g, sizeof(g)));
	if (!fy_node_get_scalar(val, &len) || !(*out = fy_node_get_scalar0(val)))
		return fail(c, val, key, path, "expected %s (got an unreadable scalar)", what);
	if (strlen(*out) != len)
		return fail(c, val, key, path, "expected %s (got a string holding a NUL byte)",
			    what);
	return 0;
}

/* Decimal digits only: no sign, no fraction, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static int get_integer(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path, uint64_t *out)
{
	char what[64], g[GOT_MAX];
	const char *s = NULL;
	int rc;

	snprintf(what, sizeof(what), "an integer in %llu..%llu", (unsigned long long)f->lo,
		 (unsigned long long)f->hi);
	rc = want_scalar(c, key, val, path, what, true, &s);
	if (rc)
		return rc;
	if (!parse_u64(s, out) || *out < f->lo || *out > f->hi)
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	return 0;
}

static void *dest(struct ctx *c, const struct field *f)
{
	return (char *)c->sc + f->off;
}

static int get_u32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		   const char *path)
{
	uint64_t v;
	uint32_t v32;
	int rc = get_integer(c, f, key, val, path, &v);

	if (rc)
		return rc;
	v32 = (uint32_t)v;
	memcpy(dest(c, f), &v32, sizeof(v32));
	return 0;
}

static int get_u64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		   const char *path)
{
	uint64_t v;
	int rc = get_integer(c, f, key, val, path, &v);

	if (rc)
		return rc;
	memcpy(dest(c, f), &v, sizeof(v));
	return 0;
}

static void number_what(const struct field *f, char *buf, size_t size)
{
	if (isinf(f->fhi))
		snprintf(buf, size, "a number %s %g", f->flo_open ? ">" : ">=", f->flo);
	else
		snprintf(buf, size, "a number in %c%g, %g%c", f->flo_open ? '(' : '[', f->flo,
			 f->fhi, f->fhi_open ? ')' : ']');
}

static bool in_range(const struct field *f, double v)
{
	if (v < f->flo || (f->flo_open && v == f->flo))
		return false;
	return v < f->fhi || (!f->fhi_open && v == f->fhi);
}

static int get_number(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path, double *out)
{
	char what[64], g[GOT_MAX];
	const char *s = NULL;
	char *end;
	int rc;

	number_what(f, what, sizeof(what));
	rc = want_scalar(c, key, val, path, what, true, &s);
	if (rc)
		return rc;
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end || !isfinite(*out) || !in_range(f, *out))
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	return 0;
}

static int get_f32(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		   const char *path)
{
	double v;
	float v32;
	int rc = get_number(c, f, key, val, path, &v);

	if (rc)
		return rc;
	v32 = (float)v;
	memcpy(dest(c, f), &v32, sizeof(v32));
	return 0;
}

static int get_f64(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		   const char *path)
{
	double v;
	int rc = get_number(c, f, key, val, path, &v);

	if (rc)
		return rc;
	memcpy(dest(c, f), &v, sizeof(v));
	return 0;
}

static int get_bool(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		    const char *path)
{
	char g[GOT_MAX];
	const char *s = NULL;
	int v, rc = want_scalar(c, key, val, path, "true or false", true, &s);

	if (rc)
		return rc;
	if (!strcmp(s, "true"))
		v = 1;
	else if (!strcmp(s, "false"))
		v = 0;
	else
		return fail(c, val, key, path, "expected true or false (got %s)",
			    got(val, g, sizeof(g)));
	memcpy(dest(c, f), &v, sizeof(v));
	return 0;
}

static void choice_what(const struct choice *ch, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	for (; ch->name && o < size; ch++) {
		n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "one of: ", ch->name);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static int get_choice(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	char what[160], g[GOT_MAX];
	const struct choice *ch;
	const char *s = NULL;
	int rc;

	choice_what(f->choices, what, sizeof(what));
	rc = want_scalar(c, key, val, path, what, false, &s);
	if (rc)
		return rc;
	for (ch = f->choices; ch->name; ch++) {
		if (!strcmp(s, ch->name)) {
			memcpy(dest(c, f), &ch->value, sizeof(ch->value));
			return 0;
		}
	}
	return fail(c, val, key, path, "expected %s (got %s)", what, got(val, g, sizeof(g)));
}

static int get_name(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		    const char *path)
{
	static const char what[] = "a name of 1..63 characters from A-Z a-z 0-9 . _ -";
	char g[GOT_MAX];
	const char *s = NULL;
	size_t n;
	int rc = want_scalar(c, key, val, path, what, false, &s);

	(void)f;
	if (rc)
		return rc;
	n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
	if (!n || s[n] || n >= sizeof(c->sc->name))
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	memcpy(c->sc->name, s, n + 1);
	return 0;
}

static int get_path(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		    const char *path)
{
	static const char what[] = "a folder path shorter than 512 bytes";
	char *out = c->sc->data.path, g[GOT_MAX];
	const char *s = NULL;
	int n, rc = want_scalar(c, key, val, path, what, false, &s);

	(void)f;
	if (rc)
		return rc;
	if (s[0] != '/' && c->base_dir)
		n = snprintf(out, FCL_SCENARIO_PATH_MAX, "%s/%s", c->base_dir, s);
	else
		n = snprintf(out, FCL_SCENARIO_PATH_MAX, "%s", s);
	if (!s[0] || n < 0 || n >= FCL_SCENARIO_PATH_MAX)
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	return 0;
}

/* An integer item of a list, with its own key path "path[i]". */
static int get_item(struct ctx *c, struct fy_node *key, struct fy_node *item, const char *path,
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

static int get_hidden(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	(void)f;
	if (!fy_node_is_sequence(val))
		return fail(c, key, NULL, path, "expected a list of 0..%d layer sizes (got %s)",
			    FCL_SCENARIO_MAX_HIDDEN, got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_HIDDEN)
		return fail(c, key, NULL, path, "expected a list of 0..%d layer sizes (got %d)",
			    FCL_SCENARIO_MAX_HIDDEN, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = get_item(c, key, item, path, n, 1, 65536, &c->sc->model.hidden[n]);
		if (rc)
			return rc;
		n++;
	}
	c->sc->model.n_hidden = n;
	return 0;
}

/* "seeded" or a list of class ids; ids are checked against the classes after the walk. */
static int get_class_order(struct ctx *c, const struct field *f, struct fy_node *key,
			   struct fy_node *val, const char *path)
{
	static const char what[] = "seeded or a list of class ids";
	char g[GOT_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	(void)f;
	if (fy_node_is_scalar(val) && !is_null(val)) {
		const char *s = fy_node_get_scalar0(val);

		if (s && !strcmp(s, "seeded")) {
			c->sc->tasks.n_class_order = 0;
			return 0;
		}
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	}
	if (!fy_node_is_sequence(val))
		return fail(c, is_null(val) ? val : key, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_CLASSES)
		return fail(c, key, NULL, path, "expected at most %d class ids (got %d)",
			    FCL_SCENARIO_MAX_CLASSES, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = get_item(c, key, item, path, n, 0, FCL_SCENARIO_MAX_CLASSES - 1,
			      &c->sc->tasks.class_order[n]);
		if (rc)
			return rc;
		n++;
	}
	c->sc->tasks.n_class_order = n;
	return 0;
}

/* ---- mappings ----------------------------------------------------------- */

static int walk_map(struct ctx *c, const struct field *tab, struct fy_node *map, const char *path,
		    struct fy_node *owner);

static int get_section(struct ctx *c, const struct field *f, struct fy_node *key,
		       struct fy_node *val, const char *path)
{
	char g[GOT_MAX];

	if (!fy_node_is_mapping(val))
		return fail(c, key, NULL, path, "expected a mapping (got %s)",
			    got(val, g, sizeof(g)));
	return walk_map(c, f->sub, val, path, key);
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
		return fail(c, is_null(val) ? val : key, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > (int)max || fy_node_sequence_item_count(val) < 1)
		return fail(c, key, NULL, path, "expected 1..%u entries (got %d)", max,
			    fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		rc = get_item(c, key, item, path, i, lo, hi, &out[i]);
		if (rc)
			return rc;
		i++;
	}
	*n = i;
	return 0;
}

/* scole: the class pool, checked against the classes after the walk. */
static int get_class_pool(struct ctx *c, const struct field *f, struct fy_node *key,
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

	if (fy_node_is_scalar(val) && !is_null(val)) {
		const char *s = fy_node_get_scalar0(val);

		if (s && !strcmp(s, "catalogue")) {
			*kind = FCL_ORDER_CATALOGUE;
			return 0;
		}
		if (s && !strcmp(s, "shuffled")) {
			*kind = FCL_ORDER_SHUFFLED;
			return 0;
		}
		return fail(c, val, key, path, "expected %s (got %s)", what,
			    got(val, g, sizeof(g)));
	}
	*kind = FCL_ORDER_EXPLICIT;
	return get_u32_list(c, key, val, path, what, max, 0, 99999, list, n);
}

static int get_order(struct ctx *c, const struct field *f, struct fy_node *key, struct fy_node *val,
		     const char *path)
{
	struct fcl_scenario *sc = c->sc;

	(void)f;
	return parse_order(c, key, val, path, &sc->timeline.order, sc->timeline.order_list,
			   FCL_SCENARIO_MAX_ORDER, &sc->timeline.n_order);
}

static int get_group_order(struct ctx *c, const struct field *f, struct fy_node *key,
			   struct fy_node *val, const char *path)
{
	struct fcl_client_group *g = &c->sc->timeline.gcur;

	(void)f;
	return parse_order(c, key, val, path, &g->order, g->order_list,
			   FCL_SCENARIO_MAX_GROUP_ORDER, &g->n_order);
}

/* A client id (7) or an inclusive range of ids ("0-31"). */
static int get_client_range(struct ctx *c, const struct field *f, struct fy_node *key,
			    struct fy_node *val, const char *path)
{
	static const char what[] = "a client id or a range such as 0-31";
	char g[GOT_MAX], buf[48];
	const char *s = NULL, *dash;
	uint64_t lo, hi;
	int rc = want_scalar(c, key, val, path, what, false, &s);

	if (rc)
		return rc;
	dash = strchr(s, '-');
	if (!dash) {
		if (!parse_u64(s, &lo) || lo > 99999)
			return fail(c, val, key, path, "expected %s (got %s)", what,
				    got(val, g, sizeof(g)));
		hi = lo;
	} else {
		size_t n = (size_t)(dash - s);

		if (n == 0 || n >= sizeof(buf))
			return fail(c, val, key, path, "expected %s (got %s)", what,
				    got(val, g, sizeof(g)));
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (!parse_u64(buf, &lo) || !parse_u64(dash + 1, &hi) || lo > 99999 || hi > 99999)
			return fail(c, val, key, path, "expected %s (got %s)", what,
				    got(val, g, sizeof(g)));
		if (hi < lo)
			return fail(c, val, key, path,
				    "expected a non-empty client range, low-high (got %s)",
				    got(val, g, sizeof(g)));
	}
	uint32_t range[2] = {(uint32_t)lo, (uint32_t)hi}; /* lo, hi: consecutive fields */
	memcpy(dest(c, f), range, sizeof(range));
	return 0;
}

/* A list of {clients, task, start, end}; checked against the rest after the walk. */
static int get_segments(struct ctx *c, const struct field *f, struct fy_node *key,
			struct fy_node *val, const char *path)
{
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1)
		return fail(c, is_null(val) ? val : key, key, path,
			    "expected a list of {clients, task, start, end} (got %s)",
			    fy_node_is_sequence(val) ? "an empty list" : got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_SEGMENTS)
		return fail(c, key, NULL, path, "expected at most %d segments (got %d)",
			    FCL_SCENARIO_MAX_SEGMENTS, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
		if (!fy_node_is_mapping(item))
			return fail(c, item, key, ipath,
				    "expected a mapping {clients, task, start, end} (got %s)",
				    got(item, g, sizeof(g)));
		memset(&c->sc->timeline.cur, 0, sizeof(c->sc->timeline.cur));
		rc = walk_map(c, f->sub, item, ipath, item);
		if (rc)
			return rc;
		c->sc->timeline.segments[n] = c->sc->timeline.cur;
		c->seg_node[n++] = item;
	}
	c->sc->timeline.n_segments = n;
	return 0;
}

/* A list of {clients, order, offset, join, leave, participation}. */
static int get_groups(struct ctx *c, const struct field *f, struct fy_node *key,
		      struct fy_node *val, const char *path)
{
	char g[GOT_MAX], ipath[KEYPATH_MAX];
	struct fcl_client_group *cur = &c->sc->timeline.gcur;
	struct fy_node *item;
	void *it = NULL;
	uint32_t n = 0;
	int rc;

	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) < 1)
		return fail(c, is_null(val) ? val : key, key, path,
			    "expected a list of {clients, order, offset, join, leave, "
			    "participation} (got %s)",
			    fy_node_is_sequence(val) ? "an empty list" : got(val, g, sizeof(g)));
	if (fy_node_sequence_item_count(val) > FCL_SCENARIO_MAX_GROUPS)
		return fail(c, key, NULL, path, "expected at most %d groups (got %d)",
			    FCL_SCENARIO_MAX_GROUPS, fy_node_sequence_item_count(val));
	while ((item = fy_node_sequence_iterate(val, &it))) {
		snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
		if (!fy_node_is_mapping(item))
			return fail(c, item, key, ipath,
				    "expected a mapping {clients, ...} (got %s)",
				    got(item, g, sizeof(g)));
		memset(cur, 0, sizeof(*cur));
		cur->order = FCL_ORDER_INHERIT;
		cur->offset = cur->join = cur->leave = UINT32_MAX;
		cur->participation = -1.0;
		rc = walk_map(c, f->sub, item, ipath, item);
		if (rc)
			return rc;
		c->sc->timeline.groups[n] = *cur;
		c->grp_node[n++] = item;
	}
	c->sc->timeline.n_groups = n;
	return 0;
}

static void key_list(const struct field *tab, char *buf, size_t size)
{
	size_t o = 0;
	int n;

	buf[0] = '\0';
	for (; tab->key && o < size; tab++) {
		n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", tab->key);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static int find_key(const struct field *tab, const char *name)
{
	int i;

	for (i = 0; tab[i].key; i++)
		if (!strcmp(tab[i].key, name))
			return i;
	return -1;
}

static int walk_pair(struct ctx *c, const struct field *tab, struct fy_node_pair *p,
		     const char *path, uint64_t *seen)
{
	struct fy_node *key = fy_node_pair_key(p), *val = fy_node_pair_value(p);
	char kpath[KEYPATH_MAX], keys[256], g[GOT_MAX];
	const char *name = NULL;
	const struct field *f;
	int i;

	if (!fy_node_is_scalar(key) || is_null(key) || !(name = fy_node_get_scalar0(key))) {
		key_list(tab, keys, sizeof(keys));
		return fail(c, key, val, *path ? path : "(top level)",
			    "expected a key, one of: %s (got %s)", keys, got(key, g, sizeof(g)));
	}
	join_path(kpath, sizeof(kpath), path, name);
	i = find_key(tab, name);
	if (i < 0) {
		key_list(tab, keys, sizeof(keys));
		return fail(c, key, NULL, kpath, "unknown key, expected one of: %s (got %s)", keys,
			    name);
	}
	if (*seen & (1ull << i))
		return fail(c, key, NULL, kpath, "expected each key once (got a duplicate)");
	*seen |= 1ull << i;
	f = &tab[i];
	if (f->slot) {
		c->key[f->slot] = key;
		c->val[f->slot] = val;
	}
	return f->fn(c, f, key, val, kpath);
}

/* Walks one mapping against its table; owner is its key (NULL for the root). */
static int walk_map(struct ctx *c, const struct field *tab, struct fy_node *map, const char *path,
		    struct fy_node *owner)
{
	struct fy_node_pair *p;
	char kpath[KEYPATH_MAX];
	uint64_t seen = 0;
	void *it = NULL;
	int i, rc;

	while ((p = fy_node_mapping_iterate(map, &it))) {
		rc = walk_pair(c, tab, p, path, &seen);
		if (rc)
			return rc;
	}
	for (i = 0; tab[i].key; i++) {
		if (tab[i].required && !(seen & (1ull << i))) {
			join_path(kpath, sizeof(kpath), path, tab[i].key);
			return fail(c, owner, NULL, kpath, "required key is missing (got none)");
		}
	}
	return 0;
}

/* strategy.groups: a list of mappings, walked after the strategy section
 * (check_strategy) so that every group inherits the complete strategy. */
static int get_strategy_groups(struct ctx *c, const struct field *f, struct fy_node *key,
			       struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	int n;

	(void)f;
	n = fy_node_is_sequence(val) ? fy_node_sequence_item_count(val) : -1;
	if (n < 1 || n > FCL_SCENARIO_MAX_STRATEGY_GROUPS)
		return fail(c, key, NULL, path, "expected a list of 1..%d groups (got %s)",
			    FCL_SCENARIO_MAX_STRATEGY_GROUPS, got(val, g, sizeof(g)));
	return 0;
}

/* clients: [first, last], inclusive; checked against clients.count later. */
static int get_group_clients(struct ctx *c, const struct field *f, struct fy_node *key,
			     struct fy_node *val, const char *path)
{
	char g[GOT_MAX];
	int rc;

	(void)f;
	if (!fy_node_is_sequence(val) || fy_node_sequence_item_count(val) != 2)
		return fail(c, key, NULL, path,
			    "expected [first, last], a range of client ids (got %s)",
			    got(val, g, sizeof(g)));
	rc = get_item(c, key, fy_node_sequence_get_by_index(val, 0), path, 0, 0, 99999,
		      &c->group_first);
	rc = rc ? rc
		: get_item(c, key, fy_node_sequence_get_by_index(val, 1), path, 1, c->group_first,
			   99999, &c->group_last);
	return rc;
}

/* ---- the schema --------------------------------------------------------- */

#define OFF(m) offsetof(struct fcl_scenario, m)
#define U32(k, m, l, h, req, s)                                                                    \
	{                                                                                          \
		.key = (k), .fn = get_u32, .off = OFF(m), .lo = (l), .hi = (h), .required = (req), \
		.slot = (s)                                                                        \
	}
#define NUM(fn_, k, m, l, lopen, h, hopen)                                                         \
	{                                                                                          \
		.key = (k), .fn = (fn_), .off = OFF(m), .flo = (l), .flo_open = (lopen),           \
		.fhi = (h), .fhi_open = (hopen)                                                    \
	}
#define CHOICE(k, m, tab, req, s)                                                                  \
	{                                                                                          \
		.key = (k), .fn = get_choice, .off = OFF(m), .choices = (tab), .required = (req),  \
		.slot = (s)                                                                        \
	}
#define SECTION(k, tab, req, s)                                                                    \
	{                                                                                          \
		.key = (k), .fn = get_section, .sub = (tab), .required = (req), .slot = (s)        \
	}

static const struct choice datasets[] = {
    {"fashion-mnist", FCL_DATASET_IDX},
    {"mnist-idx", FCL_DATASET_IDX},
    {"synthetic", FCL_DATASET_SYNTHETIC},
    {NULL, 0},
};
static const struct choice partitions[] = {
    {"iid", FCL_PARTITION_IID},
    {"dirichlet", FCL_PARTITION_DIRICHLET},
    {"shards", FCL_PARTITION_SHARDS},
    {"quantity-skew", FCL_PARTITION_QUANTITY},
    {NULL, 0},
};
static const struct choice generators[] = {
    {"single", FCL_TASKS_SINGLE},
    {"class-incremental", FCL_TASKS_CLASS_INCREMENTAL},
    {"permuted", FCL_TASKS_PERMUTED},
    {"domain-incremental", FCL_TASKS_PERMUTED},
    {"task-incremental", FCL_TASKS_TASK_INCREMENTAL},
    {"i-blurry", FCL_TASKS_I_BLURRY},
    {"si-blurry", FCL_TASKS_SI_BLURRY},
    {"scole", FCL_TASKS_SCOLE},
    {NULL, 0},
};
static const struct choice streams[] = {{"offline", 0}, {"online", 1}, {NULL, 0}};
static const struct choice recurrence_kinds[] = {
    {"none", FCL_RECURRENCE_NONE},
    {"power-law", FCL_RECURRENCE_POWER_LAW},
    {NULL, 0},
};
static const struct choice lag_origins[] = {{"last-seen", 0}, {"introduced", 1}, {NULL, 0}};
static const struct choice rules[] = {
    {"fedavg", FCL_RULE_FEDAVG},   {"fot", FCL_RULE_FOT},
    {"fedprox", FCL_RULE_FEDPROX}, {"fedavgm", FCL_RULE_FEDAVGM},
    {"fedadam", FCL_RULE_FEDADAM}, {"fedyogi", FCL_RULE_FEDYOGI},
    {"fednova", FCL_RULE_FEDNOVA}, {"median", FCL_RULE_MEDIAN},
    {"trimmed-mean", FCL_RULE_TRIMMED_MEAN}, {"krum", FCL_RULE_KRUM},
    {"scaffold", FCL_RULE_SCAFFOLD},
    {NULL, 0},
};
static const struct choice k_rules[] = {
    {"norm", FCL_K_RULE_NORM}, {"energy", FCL_K_RULE_ENERGY}, {NULL, 0}};
_Static_assert(sizeof(enum fcl_k_rule) == sizeof(int), "enums are stored as int");
static const struct choice weightings[] = {{"samples", 1}, {"uniform", 0}, {NULL, 0}};
static const struct choice train_modes[] = {{"offline", 0}, {"online", 1}, {NULL, 0}};
static const struct choice strategy_names[] = {
    {"finetune", FCL_STRATEGY_FINETUNE}, {"er", FCL_STRATEGY_ER},   {"er-ace", FCL_STRATEGY_ER_ACE},
    {"der++", FCL_STRATEGY_DERPP},       {"lwf", FCL_STRATEGY_LWF}, {"ewc", FCL_STRATEGY_EWC},
    {"uer", FCL_STRATEGY_UER},           {"mvp", FCL_STRATEGY_MVP}, {"gdumb", FCL_STRATEGY_GDUMB},
    {NULL, 0},
};
static const struct choice mvp_queries[] = {{"projection", FCL_MVP_QUERY_PROJECTION},
					    {"backbone", FCL_MVP_QUERY_BACKBONE},
					    {NULL, 0}};
static const struct choice focal_modes[] = {{"sample", FCL_MVP_FOCAL_SAMPLE},
					    {"batch", FCL_MVP_FOCAL_BATCH},
					    {"off", FCL_MVP_FOCAL_OFF},
					    {NULL, 0}};

static const struct field synthetic_fields[] = {
    U32("train", data.synthetic_train, 1, 10000000, false, S_NONE),
    U32("test", data.synthetic_test, 1, 10000000, false, S_NONE),
    U32("dim", data.synthetic_dim, 1, 1048576, false, S_NONE),
    U32("classes", data.synthetic_classes, 2, FCL_SCENARIO_MAX_CLASSES, false, S_NONE),
    {0},
};
static const struct field data_fields[] = {
    CHOICE("dataset", data.kind, datasets, true, S_DATASET),
    {.key = "path", .fn = get_path, .slot = S_PATH},
    U32("train_limit", data.train_limit, 0, UINT32_MAX, false, S_NONE),
    U32("test_limit", data.test_limit, 0, UINT32_MAX, false, S_NONE),
    SECTION("synthetic", synthetic_fields, false, S_SYNTHETIC),
    {0},
};
static const struct field model_fields[] = {
    {.key = "hidden", .fn = get_hidden},
    {.key = "head_bias", .fn = get_bool, .off = OFF(model.head_bias)},
    {0},
};
static const struct field clients_fields[] = {
    U32("count", clients.count, 1, 100000, true, S_NONE),
    CHOICE("partition", clients.partition, partitions, false, S_PARTITION),
    U32("per_round", clients.per_round, 1, 100000, false, S_PER_ROUND),
    {.key = "alpha",
     .fn = get_f64,
     .off = OFF(clients.alpha),
     .flo = 0,
     .flo_open = true,
     .fhi = 1e6,
     .slot = S_ALPHA},
    U32("shards_per_client", clients.shards_per_client, 1, 100000, false, S_SHARDS),
    {0},
};
static const struct field tasks_fields[] = {
    CHOICE("generator", tasks.kind, generators, true, S_GENERATOR),
    U32("count", tasks.count, 1, 100000, false, S_TASK_COUNT),
    U32("classes_per_task", tasks.classes_per_task, 1, FCL_SCENARIO_MAX_CLASSES, false,
	S_CLASSES_PER_TASK),
    {.key = "class_order", .fn = get_class_order, .slot = S_CLASS_ORDER},
    U32("rounds_per_task", tasks.rounds_per_task, 1, 1000000, false, S_ROUNDS_PER_TASK),
    {.key = "identity_first",
     .fn = get_bool,
     .off = OFF(tasks.identity_first),
     .slot = S_IDENTITY_FIRST},
    U32("disjoint_pct", tasks.disjoint_pct, 0, 100, false, S_DISJOINT),
    U32("blurry_pct", tasks.blurry_pct, 0, 100, false, S_BLURRY),
    {.key = "class_pool", .fn = get_class_pool, .slot = S_CLASS_POOL},
    {0},
};
static const struct field segment_fields[] = {
    {.key = "clients", .fn = get_client_range, .off = OFF(timeline.cur.lo), .required = true},
    U32("task", timeline.cur.task, 0, 99999, true, S_NONE),
    U32("start", timeline.cur.start, 0, 100000000, true, S_NONE),
    U32("end", timeline.cur.end, 1, 100000000, true, S_NONE),
    {0},
};
static const struct field group_fields[] = {
    {.key = "clients", .fn = get_client_range, .off = OFF(timeline.gcur.lo), .required = true},
    {.key = "order", .fn = get_group_order},
    U32("offset", timeline.gcur.offset, 0, 1000000, false, S_NONE),
    U32("join", timeline.gcur.join, 0, 100000000, false, S_NONE),
    U32("leave", timeline.gcur.leave, 1, 100000000, false, S_NONE),
    NUM(get_f64, "participation", timeline.gcur.participation, 0, true, 1, false),
    {0},
};
static const struct field timeline_fields[] = {
    {.key = "order", .fn = get_order, .slot = S_ORDER},
    U32("offset", timeline.offset, 0, 1000000, false, S_NONE),
    U32("jitter", timeline.jitter, 0, 1000000, false, S_JITTER),
    U32("join", timeline.join, 0, 100000000, false, S_NONE),
    U32("leave", timeline.leave, 1, 100000000, false, S_LEAVE),
    NUM(get_f64, "participation", timeline.participation, 0, true, 1, false),
    CHOICE("stream", timeline.online, streams, false, S_STREAM),
    U32("samples_per_round", timeline.samples_per_round, 1, 10000000, false, S_SAMPLES_PER_ROUND),
    {.key = "segments", .fn = get_segments, .sub = segment_fields, .slot = S_SEGMENTS},
    {.key = "groups", .fn = get_groups, .sub = group_fields},
    {0},
};
static const struct field recurrence_fields[] = {
    CHOICE("kind", recurrence.kind, recurrence_kinds, true, S_NONE),
    NUM(get_f64, "exponent", recurrence.exponent, 0, true, 100, false),
    NUM(get_f64, "offset", recurrence.offset, 0, false, 1e6, false),
    CHOICE("lag_from", recurrence.lag_from_introduction, lag_origins, false, S_NONE),
    NUM(get_f64, "budget", recurrence.budget, 0, true, 1, false),
    {0},
};
static const struct field train_fields[] = {
    U32("local_epochs", train.local_epochs, 1, 10000, false, S_NONE),
    U32("batch_size", train.batch_size, 1, 4096, false, S_NONE),
    NUM(get_f32, "lr", train.lr, 0, true, HUGE_VAL, false),
    NUM(get_f32, "momentum", train.momentum, 0, false, 1, true),
    NUM(get_f32, "weight_decay", train.weight_decay, 0, false, HUGE_VAL, false),
    CHOICE("mode", train.online, train_modes, false, S_TRAIN_MODE),
    U32("stream_batch", train.stream_batch, 1, 4096, false, S_NONE),
    U32("replay_batch", train.replay_batch, 0, 4096, false, S_NONE),
    U32("online_iter", train.online_iter, 1, 1000, false, S_NONE),
    {.key = "mask_unexposed", .fn = get_bool, .off = OFF(train.mask_unexposed)},
    {0},
};
static const struct field mvp_fields[] = {
    U32("pool", strategy.mvp.pool, 1, 1024, false, S_NONE),
    CHOICE("query", strategy.mvp.query, mvp_queries, false, S_NONE),
    U32("query_dim", strategy.mvp.query_dim, 1, 4096, false, S_NONE),
    U32("warmup", strategy.mvp.warmup, 0, UINT32_MAX, false, S_NONE),
    NUM(get_f32, "alpha", strategy.mvp.alpha, 0, false, 1, false),
    NUM(get_f32, "gamma", strategy.mvp.gamma, 0, false, HUGE_VAL, false),
    NUM(get_f32, "margin", strategy.mvp.margin, 0, true, HUGE_VAL, false),
    CHOICE("focal", strategy.mvp.focal, focal_modes, false, S_NONE),
    {.key = "afs", .fn = get_bool, .off = OFF(strategy.mvp.afs)},
    {.key = "contrastive", .fn = get_bool, .off = OFF(strategy.mvp.contrastive)},
    {.key = "mask", .fn = get_bool, .off = OFF(strategy.mvp.mask)},
    {0},
};
#define STRATEGY_FIELDS                                                                            \
    CHOICE("name", strategy.kind, strategy_names, true, S_NONE), \
    U32("memory", strategy.memory, 0, 10000000, false, S_NONE), \
    NUM(get_f32, "alpha", strategy.alpha, 0, false, HUGE_VAL, false), \
    NUM(get_f32, "beta", strategy.beta, 0, false, HUGE_VAL, false), \
    NUM(get_f32, "lambda", strategy.lambda, 0, false, HUGE_VAL, false), \
    NUM(get_f32, "temperature", strategy.temperature, 0, true, HUGE_VAL, false), \
    NUM(get_f32, "decay", strategy.decay, 0, false, 1, true), \
    NUM(get_f32, "scale", strategy.scale, 0, true, HUGE_VAL, false), \
    {.key = "wa", .fn = get_bool, .off = OFF(strategy.wa)}, \
    U32("epochs", strategy.epochs, 1, 100000, false, S_NONE), \
    SECTION("mvp", mvp_fields, false, S_NONE)
static const struct field strategy_fields[] = {
    STRATEGY_FIELDS,
    {.key = "groups", .fn = get_strategy_groups, .slot = S_GROUPS},
    {0},
};
static const struct field strategy_group_fields[] = {
    {.key = "clients", .fn = get_group_clients, .required = true},
    STRATEGY_FIELDS,
    {0},
};
static const struct field aggregation_fields[] = {
    CHOICE("rule", aggregation.rule, rules, false, S_NONE),
    CHOICE("weighting", aggregation.weighted, weightings, false, S_NONE),
    NUM(get_f64, "threshold", aggregation.threshold, 0, true, 1, true),
    NUM(get_f64, "threshold_increment", aggregation.threshold_increment, 0, false, 1, true),
    CHOICE("k_rule", aggregation.k_rule, k_rules, false, S_NONE),
    NUM(get_f64, "sketch_columns", aggregation.sketch_columns, 0, true, 64, false),
    NUM(get_f32, "mu", aggregation.mu, 0, false, HUGE_VAL, false),
    NUM(get_f32, "server_lr", aggregation.server_lr, 0, true, HUGE_VAL, false),
    NUM(get_f32, "beta1", aggregation.beta1, 0, false, 1, true),
    NUM(get_f32, "beta2", aggregation.beta2, 0, false, 1, true),
    NUM(get_f32, "tau", aggregation.tau, 0, true, HUGE_VAL, false),
    NUM(get_f64, "trim", aggregation.trim, 0, false, 0.5, true),
    U32("byzantine", aggregation.byzantine, 0, 100000, false, S_NONE),
    U32("krum_select", aggregation.krum_select, 1, 100000, false, S_NONE),
    {0},
};
static const struct field evaluation_fields[] = {
    U32("every_rounds", eval.every_rounds, 0, UINT32_MAX, false, S_NONE),
    {.key = "per_class", .fn = get_bool, .off = OFF(eval.per_class)},
    {.key = "local_models", .fn = get_bool, .off = OFF(eval.local_models)},
    {0},
};
static const struct field run_fields[] = {
    NUM(get_f64, "round_timeout", run.round_timeout_s, 0, true, HUGE_VAL, false),
    NUM(get_f64, "quorum", run.quorum, 0, true, 1, false),
    NUM(get_f64, "join_timeout", run.join_timeout_s, 0, true, HUGE_VAL, false),
    {0},
};
static const struct field top_fields[] = {
    {.key = "name", .fn = get_name},
    {.key = "seed", .fn = get_u64, .off = OFF(seed), .lo = 0, .hi = UINT64_MAX},
    SECTION("data", data_fields, true, S_NONE),
    SECTION("model", model_fields, false, S_NONE),
    SECTION("clients", clients_fields, true, S_NONE),
    SECTION("tasks", tasks_fields, true, S_TASKS),
    SECTION("train", train_fields, false, S_NONE),
    SECTION("strategy", strategy_fields, false, S_STRATEGY),
    SECTION("aggregation", aggregation_fields, false, S_NONE),
    SECTION("evaluation", evaluation_fields, false, S_NONE),
    SECTION("run", run_fields, false, S_NONE),
    SECTION("timeline", timeline_fields, false, S_NONE),
    SECTION("recurrence", recurrence_fields, false, S_RECURRENCE),
    {0},
};

/* ---- checks across keys ------------------------------------------------- */

static const char *scalar_text(struct fy_node *n)
{
	const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;

	return s ? s : "";
}

static uint32_t n_classes(const struct fcl_scenario *sc)
{
	return sc->data.kind == FCL_DATASET_SYNTHETIC ? sc->data.synthetic_classes : IDX_CLASSES;
}

static int check_data(struct ctx *c)
{
	const char *dataset = scalar_text(c->val[S_DATASET]);

	if (c->key[S_SYNTHETIC] && c->sc->data.kind != FCL_DATASET_SYNTHETIC)
		return fail(c, c->key[S_SYNTHETIC], NULL, "data.synthetic",
			    "expected only with dataset: synthetic (got dataset: %s)", dataset);
	if (c->key[S_PATH] && c->sc->data.kind == FCL_DATASET_SYNTHETIC)
		return fail(c, c->key[S_PATH], NULL, "data.path",
			    "expected no path with dataset: synthetic (got a path)");
	if (!c->key[S_PATH] && !strcmp(dataset, "mnist-idx"))
		return fail(c, c->val[S_DATASET], c->key[S_DATASET], "data.path",
			    "expected a path with dataset: mnist-idx (got none)");
	if (c->sc->data.kind == FCL_DATASET_SYNTHETIC)
		c->sc->data.path[0] = '\0';
	return 0;
}

static bool file_exists(const char *dir, const char *name, const char *suffix)
{
	char p[FCL_SCENARIO_PATH_MAX + 64];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/%s%s", dir, name, suffix);

	return n > 0 && (size_t)n < sizeof(p) && !stat(p, &st) && S_ISREG(st.st_mode);
}

static int check_files(struct ctx *c)
{
	static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
					    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
	const char *dir = c->sc->data.path;
	size_t i;

	if (c->sc->data.kind != FCL_DATASET_IDX)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (file_exists(dir, names[i], "") || file_exists(dir, names[i], ".gz"))
			continue;
		return fail(c, c->key[S_PATH] ? c->key[S_PATH] : c->key[S_DATASET], NULL,
			    "data.path",
			    "expected a folder holding %s[.gz] and the other IDX files (got %s, "
			    "where it is missing)",
			    names[i], dir);
	}
	return 0;
}

static int check_clients(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	enum fcl_partition_kind p = sc->clients.partition;
	const char *pname = scalar_text(c->val[S_PARTITION]);

	if (c->key[S_ALPHA] && p != FCL_PARTITION_DIRICHLET && p != FCL_PARTITION_QUANTITY)
		return fail(c, c->key[S_ALPHA], NULL, "clients.alpha",
			    "expected only with partition: dirichlet or quantity-skew (got "
			    "partition: %s)",
			    *pname ? pname : "iid");
	if (c->key[S_SHARDS] && p != FCL_PARTITION_SHARDS)
		return fail(c, c->key[S_SHARDS], NULL, "clients.shards_per_client",
			    "expected only with partition: shards (got partition: %s)",
			    *pname ? pname : "iid");

	if (!c->key[S_PER_ROUND])
		sc->clients.per_round = sc->clients.count;
	else if (sc->clients.per_round > sc->clients.count)
		return fail(c, c->val[S_PER_ROUND], c->key[S_PER_ROUND], "clients.per_round",
			    "expected at most clients.count = %u (got %u)", sc->clients.count,
			    sc->clients.per_round);
	return 0;
}

#define KIND(k) (1u << (k))
#define CLASS_SPLIT_KINDS (KIND(FCL_TASKS_CLASS_INCREMENTAL) | KIND(FCL_TASKS_TASK_INCREMENTAL))
#define BLURRY_KINDS (KIND(FCL_TASKS_I_BLURRY) | KIND(FCL_TASKS_SI_BLURRY))

/* Keys that only some generators take are errors with the others. */
static int only_with(struct ctx *c, enum slot s, const char *key, unsigned kinds)
{
	char path[KEYPATH_MAX], names[160] = "";
	size_t o = 0;
	unsigned k;

	if (!c->key[s] || (kinds & KIND(c->sc->tasks.kind)))
		return 0;
	for (k = 0; k < 32 && o < sizeof(names); k++)
		if (kinds & KIND(k))
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? " or " : "",
					      fcl_task_kind_name((enum fcl_task_kind)k));
	snprintf(path, sizeof(path), "tasks.%s", key);
	return fail(c, c->key[s], NULL, path,
		    "expected only with generator: %s (got generator: %s)", names,
		    scalar_text(c->val[S_GENERATOR]));
}

static int check_task_count(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->tasks.kind == FCL_TASKS_SINGLE) {
		if (c->key[S_TASK_COUNT] && sc->tasks.count != 1)
			return fail(c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT], "tasks.count",
				    "expected 1 with generator: single (got %u)", sc->tasks.count);
		sc->tasks.count = 1;
		return 0;
	}
	if (!c->key[S_TASK_COUNT])
		return fail(c, c->key[S_TASKS], NULL, "tasks.count",
			    "expected a task count with generator: %s (got none)",
			    scalar_text(c->val[S_GENERATOR]));
	return 0;
}

/* Each explicit id is a class, appears once, and the list has count * classes_per_task ids. */
static int check_class_order(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	uint32_t i, want = sc->tasks.count * sc->tasks.classes_per_task;
	bool used[FCL_SCENARIO_MAX_CLASSES] = {false};
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;

	if (!c->key[S_CLASS_ORDER] || !fy_node_is_sequence(c->val[S_CLASS_ORDER]))
		return 0;
	for (i = 0; (item = fy_node_sequence_iterate(c->val[S_CLASS_ORDER], &it)); i++) {
		uint32_t id = sc->tasks.class_order[i];

		snprintf(ipath, sizeof(ipath), "tasks.class_order[%u]", i);
		if (id >= classes)
			return fail(c, item, c->key[S_CLASS_ORDER], ipath,
				    "expected a class id in 0..%u (got %u)", classes - 1, id);
		if (used[id])
			return fail(c, item, c->key[S_CLASS_ORDER], ipath,
				    "expected each class once (got %u again)", id);
		used[id] = true;
	}
	if (sc->tasks.n_class_order != want)
		return fail(c, c->key[S_CLASS_ORDER], NULL, "tasks.class_order",
			    "expected count * classes_per_task = %u class ids (got %u)", want,
			    sc->tasks.n_class_order);
	return 0;
}

static int check_class_split(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	uint64_t want;

	if (!c->key[S_CLASSES_PER_TASK]) {
		sc->tasks.classes_per_task = classes / sc->tasks.count;
		if (!sc->tasks.classes_per_task)
			return fail(c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT], "tasks.count",
				    "expected at most %u tasks for %u classes (got %u)", classes,
				    classes, sc->tasks.count);
		return 0;
	}
	want = (uint64_t)sc->tasks.classes_per_task * sc->tasks.count;
	if (want > classes)
		return fail(c, c->val[S_CLASSES_PER_TASK], c->key[S_CLASSES_PER_TASK],
			    "tasks.classes_per_task",
			    "expected classes_per_task * count <= %u classes (got %u * %u = %llu)",
			    classes, sc->tasks.classes_per_task, sc->tasks.count,
			    (unsigned long long)want);
	return 0;
}

/* scole: pool ids are classes, each once; classes_per_task fits in the pool. */
static int check_scole(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;
	bool used[FCL_SCENARIO_MAX_CLASSES] = {false};
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i, pool;

	if (c->key[S_CLASS_POOL]) {
		for (i = 0; (item = fy_node_sequence_iterate(c->val[S_CLASS_POOL], &it)); i++) {
			uint32_t id = sc->tasks.class_pool[i];

			snprintf(ipath, sizeof(ipath), "tasks.class_pool[%u]", i);
			if (id >= classes)
				return fail(c, item, c->key[S_CLASS_POOL], ipath,
					    "expected a class id in 0..%u (got %u)", classes - 1,
					    id);
			if (used[id])
				return fail(c, item, c->key[S_CLASS_POOL], ipath,
					    "expected each class once (got %u again)", id);
			used[id] = true;
		}
	}
	pool = sc->tasks.n_class_pool ? sc->tasks.n_class_pool : classes;
	if (!c->key[S_CLASSES_PER_TASK])
		sc->tasks.classes_per_task = pool < 2 ? pool : 2;
	if (sc->tasks.classes_per_task > pool)
		return fail(c, c->val[S_CLASSES_PER_TASK], c->key[S_CLASSES_PER_TASK],
			    "tasks.classes_per_task",
			    "expected at most the %u classes of the pool (got %u)", pool,
			    sc->tasks.classes_per_task);
	return 0;
}

static int check_blurry(struct ctx *c, uint32_t classes)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->tasks.count > classes)
		return fail(c, c->val[S_TASK_COUNT], c->key[S_TASK_COUNT], "tasks.count",
			    "expected at most %u tasks for %u classes (got %u)", classes, classes,
			    sc->tasks.count);
	sc->tasks.classes_per_task = 0; /* varies per task */
	return 0;
}

static int check_strategy(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	struct fcl_strategy_config top = sc->strategy;
	struct fy_node *item;
	char path[KEYPATH_MAX];
	void *it = NULL;
	uint32_t i = 0;
	int rc;

	if (sc->train.mask_unexposed < 0)
		sc->train.mask_unexposed = sc->train.online;
	/* The loop iterates the samples the timeline hands out: an online loop
	 * over offline data would replay the whole task every round. */
	if (sc->train.online && !sc->timeline.online)
		return fail(c, c->val[S_TRAIN_MODE], c->key[S_TRAIN_MODE], "train.mode",
			    "expected timeline.stream: online with train.mode: online (got an "
			    "offline timeline)");
	if (sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL && top.kind != FCL_STRATEGY_FINETUNE)
		return fail(c, c->val[S_STRATEGY], c->key[S_STRATEGY], "strategy.name",
			    "expected finetune with tasks.generator task-incremental (other "
			    "strategies do not mask logits by task yet)");
	if (top.kind == FCL_STRATEGY_MVP && sc->model.n_hidden < 1)
		return fail(c, c->val[S_STRATEGY], c->key[S_STRATEGY], "strategy.name",
			    "expected model.hidden to have at least one layer for mvp (got none)");
	if (!c->val[S_GROUPS])
		return 0;
	while ((item = fy_node_sequence_iterate(c->val[S_GROUPS], &it))) {
		char g[GOT_MAX];
		snprintf(path, sizeof path, "strategy.groups[%u]", i);
		if (!fy_node_is_mapping(item))
			return fail(c, item, c->key[S_GROUPS], path, "expected a mapping (got %s)",
				    got(item, g, sizeof(g)));
		sc->strategy = top; /* a group inherits what it does not set */
		rc = walk_map(c, strategy_group_fields, item, path, item);
		if (!rc && c->group_last >= sc->clients.count)
			rc = fail(c, item, NULL, path,
				  "expected clients within 0..%u (got [%u, %u])",
				  sc->clients.count - 1, c->group_first, c->group_last);
		if (!rc && sc->tasks.kind == FCL_TASKS_TASK_INCREMENTAL &&
		    sc->strategy.kind != FCL_STRATEGY_FINETUNE)
			rc = fail(c, item, NULL, path,
				  "expected finetune with tasks.generator task-incremental");
		if (!rc && sc->strategy.kind == FCL_STRATEGY_MVP && sc->model.n_hidden < 1)
			rc = fail(c, item, NULL, path,
				  "expected model.hidden to have at least one layer for mvp (got "
				  "none)");
		if (rc) {
			sc->strategy = top;
			return rc;
		}
		sc->strategy_groups[i].first = c->group_first;
		sc->strategy_groups[i].last = c->group_last;
		sc->strategy_groups[i].cfg = sc->strategy;
		i++;
	}
	sc->strategy = top;
	sc->n_strategy_groups = i;
	return 0;
}

static int check_tasks(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	uint32_t classes = n_classes(sc);
	int rc;

	rc = only_with(c, S_CLASSES_PER_TASK, "classes_per_task",
		       CLASS_SPLIT_KINDS | KIND(FCL_TASKS_SCOLE));
	rc = rc ? rc : only_with(c, S_CLASS_ORDER, "class_order", CLASS_SPLIT_KINDS);
	rc = rc ? rc : only_with(c, S_IDENTITY_FIRST, "identity_first", KIND(FCL_TASKS_PERMUTED));
	rc = rc ? rc : only_with(c, S_DISJOINT, "disjoint_pct", BLURRY_KINDS);
	rc = rc ? rc : only_with(c, S_BLURRY, "blurry_pct", BLURRY_KINDS);
	rc = rc ? rc : only_with(c, S_CLASS_POOL, "class_pool", KIND(FCL_TASKS_SCOLE));
	rc = rc ? rc : check_task_count(c);
	if (rc)
		return rc;
	if (sc->tasks.kind == FCL_TASKS_SCOLE)
		return check_scole(c, classes);
	if (sc->tasks.kind == FCL_TASKS_I_BLURRY || sc->tasks.kind == FCL_TASKS_SI_BLURRY)
		return check_blurry(c, classes);
	if (!(KIND(sc->tasks.kind) & CLASS_SPLIT_KINDS)) {
		sc->tasks.classes_per_task = classes; /* every task sees every class */
		sc->tasks.n_class_order = 0;
		return 0;
	}
	rc = check_class_split(c, classes);
	return rc ? rc : check_class_order(c, classes);
}

static bool segments_overlap(const struct fcl_segment *a, const struct fcl_segment *b)
{
	return a->lo <= b->hi && b->lo <= a->hi && a->start < b->end && b->start < a->end;
}

static int check_segments(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char path[KEYPATH_MAX];
	uint32_t i, j;

	for (i = 0; i < sc->timeline.n_segments; i++) {
		const struct fcl_segment *g = &sc->timeline.segments[i];
		struct fy_node *n = c->seg_node[i];

		snprintf(path, sizeof(path), "timeline.segments[%u].clients", i);
		if (g->hi >= sc->clients.count)
			return fail(c, fy_node_mapping_lookup_by_string(n, "clients", -1), n, path,
				    "expected client ids below clients.count = %u (got %u-%u)",
				    sc->clients.count, g->lo, g->hi);
		snprintf(path, sizeof(path), "timeline.segments[%u].task", i);
		if (g->task >= sc->tasks.count)
			return fail(c, fy_node_mapping_lookup_by_string(n, "task", -1), n, path,
				    "expected a task id below tasks.count = %u (got %u)",
				    sc->tasks.count, g->task);
		snprintf(path, sizeof(path), "timeline.segments[%u].end", i);
		if (g->end <= g->start)
			return fail(c, fy_node_mapping_lookup_by_string(n, "end", -1), n, path,
				    "expected end > start = %u (got %u)", g->start, g->end);
		for (j = 0; j < i; j++) {
			const struct fcl_segment *h = &sc->timeline.segments[j];

			if (!segments_overlap(g, h))
				continue;
			snprintf(path, sizeof(path), "timeline.segments[%u]", i);
			return fail(
			    c, n, NULL, path,
			    "expected segments of one client not to overlap (got rounds "
			    "%u..%u, overlapping segments[%u], rounds %u..%u, for client %u)",
			    g->start, g->end - 1, j, h->start, h->end - 1,
			    g->lo > h->lo ? g->lo : h->lo);
		}
	}
	return 0;
}

static int check_groups(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char path[KEYPATH_MAX];
	uint32_t i, j;

	for (i = 0; i < sc->timeline.n_groups; i++) {
		const struct fcl_client_group *g = &sc->timeline.groups[i];
		struct fy_node *n = c->grp_node[i], *order;
		uint32_t join = g->join != UINT32_MAX ? g->join : sc->timeline.join;
		uint32_t leave = g->leave != UINT32_MAX ? g->leave : sc->timeline.leave;

		snprintf(path, sizeof(path), "timeline.groups[%u].clients", i);
		if (g->hi >= sc->clients.count)
			return fail(c, fy_node_mapping_lookup_by_string(n, "clients", -1), n, path,
				    "expected client ids below clients.count = %u (got %u-%u)",
				    sc->clients.count, g->lo, g->hi);
		for (j = 0; j < i; j++) {
			const struct fcl_client_group *h = &sc->timeline.groups[j];
			if (g->lo <= h->hi && h->lo <= g->hi)
				return fail(c, fy_node_mapping_lookup_by_string(n, "clients", -1),
					    n, path,
					    "expected each client in at most one group (got %u-%u, "
					    "overlapping groups[%u], %u-%u)",
					    g->lo, g->hi, j, h->lo, h->hi);
		}
		order = fy_node_mapping_lookup_by_string(n, "order", -1);
		for (j = 0; g->order == FCL_ORDER_EXPLICIT && j < g->n_order; j++) {
			if (g->order_list[j] < sc->tasks.count)
				continue;
			snprintf(path, sizeof(path), "timeline.groups[%u].order[%u]", i, j);
			return fail(c, fy_node_sequence_get_by_index(order, (int)j), order, path,
				    "expected a task id below tasks.count = %u (got %u)",
				    sc->tasks.count, g->order_list[j]);
		}
		if (leave && leave <= join) {
			snprintf(path, sizeof(path), "timeline.groups[%u].leave", i);
			return fail(c, fy_node_mapping_lookup_by_string(n, "leave", -1), n, path,
				    "expected a round after join = %u (got %u)", join, leave);
		}
	}
	return 0;
}

static int check_timeline(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	char ipath[KEYPATH_MAX];
	struct fy_node *item;
	void *it = NULL;
	uint32_t i;
	int rc;

	if (c->key[S_JITTER] && sc->timeline.jitter >= sc->tasks.rounds_per_task)
		return fail(c, c->val[S_JITTER], c->key[S_JITTER], "timeline.jitter",
			    "expected less than tasks.rounds_per_task = %u (got %u)",
			    sc->tasks.rounds_per_task, sc->timeline.jitter);
	if (c->key[S_LEAVE] && sc->timeline.leave <= sc->timeline.join)
		return fail(c, c->val[S_LEAVE], c->key[S_LEAVE], "timeline.leave",
			    "expected a round after timeline.join = %u (got %u)", sc->timeline.join,
			    sc->timeline.leave);
	if (c->key[S_SAMPLES_PER_ROUND] && !sc->timeline.online)
		return fail(c, c->key[S_SAMPLES_PER_ROUND], NULL, "timeline.samples_per_round",
			    "expected only with stream: online (got stream: offline)");
	if (sc->timeline.order == FCL_ORDER_EXPLICIT) {
		for (i = 0; (item = fy_node_sequence_iterate(c->val[S_ORDER], &it)); i++) {
			snprintf(ipath, sizeof(ipath), "timeline.order[%u]", i);
			if (sc->timeline.order_list[i] >= sc->tasks.count)
				return fail(c, item, c->key[S_ORDER], ipath,
					    "expected a task id below tasks.count = %u (got %u)",
					    sc->tasks.count, sc->timeline.order_list[i]);
		}
	}
	rc = check_segments(c);
	return rc ? rc : check_groups(c);
}

static int check_recurrence(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;

	if (sc->recurrence.kind != FCL_RECURRENCE_NONE && sc->tasks.kind == FCL_TASKS_PERMUTED)
		return fail(c, c->key[S_RECURRENCE], NULL, "recurrence.kind",
			    "expected a generator that splits classes, not permuted (got "
			    "generator: %s)",
			    scalar_text(c->val[S_GENERATOR]));
	return 0;
}

/* ---- documents ---------------------------------------------------------- */

/* Where the root node starts: past blanks, comments, directives and "---". */
static void find_root_pos(struct ctx *c, const char *text, size_t len)
{
	int line = 1, col = 1;
	size_t i = 0;

	while (i < len) {
		char ch = text[i];

		if (ch == '#' || (ch == '%' && col == 1)) {
			while (i < len && text[i] != '\n')
				i++;
		} else if (col == 1 && len - i >= 3 && !memcmp(text + i, "---", 3) &&
			   (len - i == 3 || strchr(" \t\r\n", text[i + 3]))) {
			i += 3;
			col += 3;
		} else if (ch == '\n') {
			i++;
			line++;
			col = 1;
		} else if (ch == ' ' || ch == '\t' || ch == '\r') {
			i++;
			col++;
		} else {
			break;
		}
	}
	c->root_line = line;
	c->root_col = col;
	c->root_off = i;
}

static void quiet_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

/* The first collected error, if any. */
static struct fy_diag_error *first_error(struct fy_diag *diag)
{
	struct fy_diag_error *e;
	void *it = NULL;

	while ((e = fy_diag_errors_iterate(diag, &it)))
		if (e->type >= FYET_ERROR)
			return e;
	return NULL;
}

static int syntax_error(struct ctx *c, struct fy_diag *diag)
{
	struct fy_diag_error *e = first_error(diag);

	/* fy_diag_error positions are already 1-based */
	if (e)
		return fail_pos(c, e->line, e->column, "yaml", "expected valid YAML (got %s)",
				e->msg ? e->msg : "an error");
	return fail_pos(c, c->root_line, c->root_col, "yaml",
			"expected valid YAML (got a document the parser rejected)");
}

static int walk_document(struct ctx *c, struct fy_document *fyd)
{
	struct fy_node *root = fy_document_root(fyd);
	char g[GOT_MAX];
	int rc;

	if (!fy_node_is_mapping(root))
		return fail_pos(c, c->root_line, c->root_col, "(top level)",
				"expected a mapping of sections (got %s)",
				root ? got(root, g, sizeof(g)) : "an empty document");
	rc = walk_map(c, top_fields, root, "", NULL);
	rc = rc ? rc : check_data(c);
	rc = rc ? rc : check_clients(c);
	rc = rc ? rc : check_tasks(c);
	rc = rc ? rc : check_timeline(c);
	rc = rc ? rc : check_recurrence(c);
	rc = rc ? rc : check_strategy(c);
	return rc ? rc : check_files(c);
}

/* A scenario is exactly one document: anything after it is an error. */
static int no_more_documents(struct ctx *c, struct fy_parser *fyp, struct fy_diag *diag)
{
	struct fy_document *extra = fy_parse_load_document(fyp);
	const struct fy_mark *m;
	int line = c->root_line, col = c->root_col;

	if (!extra)
		return first_error(diag) ? syntax_error(c, diag) : 0;
	m = fy_document_state_start_mark(fy_document_get_document_state(extra));
	if (m) {
		line = m->line + 1;
		col = m->column + 1;
	}
	fy_parse_document_destroy(fyp, extra);
	return fail_pos(c, line, col, "(top level)",
			"expected a single YAML document (got a second one)");
}

static int parse_stream(struct ctx *c, struct fy_parser *fyp, struct fy_diag *diag,
			const char *text, size_t len)
{
	struct fy_document *fyd;
	int rc;

	if (fy_parser_set_string(fyp, text, len))
		return fail_pos(c, 1, 1, "yaml", "expected readable text (got a parser failure)");
	fyd = fy_parse_load_document(fyp);
	if (!fyd) {
		if (c->root_off >= len && !first_error(diag))
			return fail_pos(c, 1, 1, "(top level)",
					"expected a mapping of sections (got an empty document)");
		return syntax_error(c, diag);
	}
	rc = no_more_documents(c, fyp, diag);
	rc = rc ? rc : walk_document(c, fyd);
	fy_parse_document_destroy(fyp, fyd);
	return rc;
}

static int parse_text(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
		      const char *base_dir, char *err, size_t errlen)
{
	struct ctx c = {.sc = sc,
			.file = filename ? filename : "<scenario>",
			.base_dir = base_dir,
			.err = err,
			.errlen = errlen};
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_parser *fyp;
	struct fy_diag *diag;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	find_root_pos(&c, text, len);
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = quiet_output;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (!diag)
		return -ENOMEM;
	fy_diag_set_collect_errors(diag, true);
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT;
	pcfg.diag = diag;
	fyp = fy_parser_create(&pcfg);
	if (fyp) {
		rc = parse_stream(&c, fyp, diag, text, len);
		fy_parser_destroy(fyp);
	} else {
		rc = -ENOMEM;
	}
	fy_diag_destroy(diag);
	return rc;
}

/* ---- public API --------------------------------------------------------- */

void fcl_scenario_defaults(struct fcl_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "scenario");
	sc->seed = 1;
	sc->data.kind = FCL_DATASET_IDX;
	snprintf(sc->data.path, sizeof(sc->data.path), "%s", DEFAULT_FASHION_PATH);
	sc->data.synthetic_train = 2000;
	sc->data.synthetic_test = 500;
	sc->data.synthetic_dim = 32;
	sc->data.synthetic_classes = 10;
	sc->model.n_hidden = 2;
	sc->model.hidden[0] = 256;
	sc->model.hidden[1] = 128;
	sc->clients.count = 1;
	sc->clients.partition = FCL_PARTITION_IID;
	sc->clients.per_round = 1;
	sc->tasks.kind = FCL_TASKS_SINGLE;
	sc->tasks.count = 1;
	sc->tasks.classes_per_task = IDX_CLASSES;
	sc->tasks.rounds_per_task = 5;
	sc->tasks.identity_first = 1;
	sc->train.local_epochs = 1;
	sc->train.batch_size = 32;
	sc->train.lr = 0.05f;
	sc->train.stream_batch = 10;
	sc->train.replay_batch = 10;
	sc->train.online_iter = 1;
	sc->train.mask_unexposed = -1; /* unset: follows train.mode */
	sc->model.head_bias = 1;
	fcl_strategy_config_defaults(&sc->strategy);
	sc->aggregation.rule = FCL_RULE_FEDAVG;
	sc->aggregation.weighted = 1;
	sc->aggregation.threshold = 0.96;
	sc->aggregation.threshold_increment = 0.0;
	sc->aggregation.k_rule = FCL_K_RULE_NORM;
	sc->aggregation.sketch_columns = 1.0;
	sc->aggregation.mu = 0.01f;
	sc->aggregation.server_lr = 1.0f;
	sc->aggregation.beta1 = 0.9f;
	sc->aggregation.beta2 = 0.99f;
	sc->aggregation.tau = 1e-3f;
	sc->aggregation.trim = 0.2;
	sc->aggregation.byzantine = 2;
	sc->aggregation.krum_select = 1;
	sc->eval.per_class = 1;
	sc->run.round_timeout_s = 120;
	sc->run.quorum = 1.0;
	sc->run.join_timeout_s = 60;
	sc->clients.alpha = 0.5;
	sc->clients.shards_per_client = 2;
	sc->tasks.disjoint_pct = 50;
	sc->tasks.blurry_pct = 10;
	sc->timeline.participation = 1.0;
	sc->recurrence.exponent = 1.5;
	sc->recurrence.offset = 1.0;
	sc->recurrence.budget = 0.2;
}

int fcl_scenario_parse(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
		       char *err, size_t errlen)
{
	struct fcl_scenario tmp;
	int rc;

	fcl_scenario_defaults(&tmp);
	rc = parse_text(&tmp, text, len, filename, NULL, err, errlen);
	if (!rc)
		*sc = tmp;
	return rc;
}

/* The folder of a file path, or NULL when it is the current one. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n;
	char *dir;

	if (!slash)
		return NULL;
	n = slash == path ? 1 : (size_t)(slash - path);
	dir = malloc(n + 1);
	if (dir) {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	return dir;
}

int fcl_scenario_load(struct fcl_scenario *sc, const char *path, char **text_out, size_t *len_out,
		      char *err, size_t errlen)
{
	struct fcl_scenario tmp;
	char *text = NULL, *dir;
	size_t len = 0;
	int rc = fcl_read_file(path, &text, &len);

	if (rc) {
		if (err && errlen)
			snprintf(err, errlen,
				 "%s:1:1: (file): expected a readable scenario file (got %s)", path,
				 strerror(-rc));
		return rc;
	}
	dir = dir_of(path);
	if (strchr(path, '/') && !dir) {
		free(text);
		return -ENOMEM;
	}
	fcl_scenario_defaults(&tmp);
	rc = parse_text(&tmp, text, len, path, dir, err, errlen);
	free(dir);
	if (!rc)
		*sc = tmp;
	if (!rc && text_out) {
		*text_out = text;
		if (len_out)
			*len_out = len;
	} else {
		free(text);
	}
	return rc;
}

const struct fcl_strategy_config *fcl_scenario_strategy_of(const struct fcl_scenario *sc,
							  uint32_t client)
{
	for (uint32_t i = sc->n_strategy_groups; i-- > 0;)
		if (client >= sc->strategy_groups[i].first && client <= sc->strategy_groups[i].last)
			return &sc->strategy_groups[i].cfg;
	return &sc->strategy;
}

const char *fcl_task_kind_name(enum fcl_task_kind kind)
{
	switch (kind) {
	case FCL_TASKS_SINGLE:
		return "single";
	case FCL_TASKS_CLASS_INCREMENTAL:
		return "class-incremental";
	case FCL_TASKS_PERMUTED:
		return "permuted";
	case FCL_TASKS_TASK_INCREMENTAL:
		return "task-incremental";
	case FCL_TASKS_I_BLURRY:
		return "i-blurry";
	case FCL_TASKS_SI_BLURRY:
		return "si-blurry";
	case FCL_TASKS_SCOLE:
		return "scole";
	}
	return "unknown";
}

const char *fcl_partition_kind_name(enum fcl_partition_kind kind)
{
	switch (kind) {
	case FCL_PARTITION_IID:
		return "iid";
	case FCL_PARTITION_DIRICHLET:
		return "dirichlet";
	case FCL_PARTITION_SHARDS:
		return "shards";
	case FCL_PARTITION_QUANTITY:
		return "quantity-skew";
	}
	return "unknown";
}

int fcl_scenario_in_phase(const struct fcl_scenario *sc)
{
	for (uint32_t i = 0; i < sc->timeline.n_groups; i++)
		if (sc->timeline.groups[i].order != FCL_ORDER_INHERIT ||
		    (sc->timeline.groups[i].offset != UINT32_MAX &&
		     sc->timeline.groups[i].offset != 0))
			return 0;
	return sc->timeline.order != FCL_ORDER_SHUFFLED && sc->timeline.offset == 0 &&
	       sc->timeline.jitter == 0 && sc->timeline.n_segments == 0;
}
