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
static const struct choice partitions[] = {{"iid", FCL_PARTITION_IID}, {NULL, 0}};
static const struct choice generators[] = {
    {"single", FCL_TASKS_SINGLE},
    {"class-incremental", FCL_TASKS_CLASS_INCREMENTAL},
    {"permuted", FCL_TASKS_PERMUTED},
    {NULL, 0},
};
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
    {0},
};
static const struct field clients_fields[] = {
    U32("count", clients.count, 1, 100000, true, S_NONE),
    CHOICE("partition", clients.partition, partitions, false, S_NONE),
    U32("per_round", clients.per_round, 1, 100000, false, S_PER_ROUND),
    {0},
};
static const struct field tasks_fields[] = {
    CHOICE("generator", tasks.kind, generators, true, S_GENERATOR),
    U32("count", tasks.count, 1, 100000, false, S_TASK_COUNT),
    U32("classes_per_task", tasks.classes_per_task, 1, FCL_SCENARIO_MAX_CLASSES, false,
	S_CLASSES_PER_TASK),
    {.key = "class_order", .fn = get_class_order, .slot = S_CLASS_ORDER},
    U32("rounds_per_task", tasks.rounds_per_task, 1, 1000000, false, S_NONE),
    {.key = "identity_first",
     .fn = get_bool,
     .off = OFF(tasks.identity_first),
     .slot = S_IDENTITY_FIRST},
    {0},
};
static const struct field train_fields[] = {
    U32("local_epochs", train.local_epochs, 1, 10000, false, S_NONE),
    U32("batch_size", train.batch_size, 1, 4096, false, S_NONE),
    NUM(get_f32, "lr", train.lr, 0, true, HUGE_VAL, false),
    NUM(get_f32, "momentum", train.momentum, 0, false, 1, true),
    NUM(get_f32, "weight_decay", train.weight_decay, 0, false, HUGE_VAL, false),
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
    SECTION("aggregation", aggregation_fields, false, S_NONE),
    SECTION("evaluation", evaluation_fields, false, S_NONE),
    SECTION("run", run_fields, false, S_NONE),
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

	if (!c->key[S_PER_ROUND])
		sc->clients.per_round = sc->clients.count;
	else if (sc->clients.per_round > sc->clients.count)
		return fail(c, c->val[S_PER_ROUND], c->key[S_PER_ROUND], "clients.per_round",
			    "expected at most clients.count = %u (got %u)", sc->clients.count,
			    sc->clients.per_round);
	return 0;
}

/* Keys that only one generator takes are errors with the others. */
static int only_with(struct ctx *c, enum slot s, const char *key, enum fcl_task_kind kind)
{
	char path[KEYPATH_MAX];

	if (!c->key[s] || c->sc->tasks.kind == kind)
		return 0;
	snprintf(path, sizeof(path), "tasks.%s", key);
	return fail(c, c->key[s], NULL, path,
		    "expected only with generator: %s (got generator: %s)",
		    fcl_task_kind_name(kind), scalar_text(c->val[S_GENERATOR]));
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

static int check_tasks(struct ctx *c)
{
	struct fcl_scenario *sc = c->sc;
	uint32_t classes = n_classes(sc);
	int rc;

	rc = only_with(c, S_CLASSES_PER_TASK, "classes_per_task", FCL_TASKS_CLASS_INCREMENTAL);
	rc = rc ? rc : only_with(c, S_CLASS_ORDER, "class_order", FCL_TASKS_CLASS_INCREMENTAL);
	rc = rc ? rc : only_with(c, S_IDENTITY_FIRST, "identity_first", FCL_TASKS_PERMUTED);
	rc = rc ? rc : check_task_count(c);
	if (rc)
		return rc;
	if (sc->tasks.kind != FCL_TASKS_CLASS_INCREMENTAL) {
		sc->tasks.classes_per_task = classes; /* every task sees every class */
		sc->tasks.n_class_order = 0;
		return 0;
	}
	rc = check_class_split(c, classes);
	return rc ? rc : check_class_order(c, classes);
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
	sc->run.round_timeout_s = 120;
	sc->run.quorum = 1.0;
	sc->run.join_timeout_s = 60;
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

const char *fcl_task_kind_name(enum fcl_task_kind kind)
{
	switch (kind) {
	case FCL_TASKS_SINGLE:
		return "single";
	case FCL_TASKS_CLASS_INCREMENTAL:
		return "class-incremental";
	case FCL_TASKS_PERMUTED:
		return "permuted";
	}
	return "unknown";
}
