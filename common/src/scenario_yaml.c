/* common/src/scenario_yaml.c - the scenario document: positions, errors, the walker
 *
 * libfyaml builds the document tree with token marks, so every key and value
 * has a line:col for the "file:line:col: key: what was expected" messages
 * strict parsing needs. See scenario-private.h for the parser's files.
 */
#include "scenario-private.h"
#include "yaml-guard.h"

#include "fcl/estimate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int fcl__scn_fail_pos(struct ctx *c, int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_pos(c, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

int fcl__scn_node_pos(struct fy_node *n, int *line, int *col)
{
	return node_pos(n, line, col);
}

int fcl__scn_fail(struct ctx *c, struct fy_node *at, struct fy_node *alt, const char *path,
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

bool fcl__scn_is_null(struct fy_node *n)
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
const char *fcl__scn_got(struct fy_node *n, char *buf, size_t size)
{
	const char *s, *quote = "";
	size_t len, i, o = 0;

	if (fcl__scn_is_null(n))
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

const char *fcl__scn_text(struct fy_node *n)
{
	const char *s = n && fy_node_is_scalar(n) ? fy_node_get_scalar0(n) : NULL;

	return s ? s : "";
}

void fcl__scn_join_path(char *out, size_t size, const char *parent, const char *key)
{
	int n = snprintf(out, size, "%s%s%s", parent, *parent ? "." : "", key);

	if (n < 0)
		out[0] = '\0';
}

/* The NUL-terminated text of a scalar value; reports anything else. */
int fcl__scn_want_scalar(struct ctx *c, struct fy_node *key, struct fy_node *val, const char *path,
			 const char *what, bool plain, const char **out)
{
	char g[GOT_MAX];
	size_t len;

	*out = NULL;
	if (val && !fy_node_is_scalar(val))
		return fcl__scn_fail(c, key, NULL, path, "expected %s (got %s)", what,
				     fcl__scn_got(val, g, sizeof(g)));
	if (fcl__scn_is_null(val))
		return fcl__scn_fail(c, val, key, path, "expected %s (got nothing)", what);
	if (plain && fy_node_get_style(val) != FYNS_PLAIN)
		return fcl__scn_fail(c, val, key, path, "expected %s (got the quoted string %s)",
				     what, fcl__scn_got(val, g, sizeof(g)));
	if (!fy_node_get_scalar(val, &len) || !(*out = fy_node_get_scalar0(val)))
		return fcl__scn_fail(c, val, key, path, "expected %s (got an unreadable scalar)",
				     what);
	if (strlen(*out) != len)
		return fcl__scn_fail(c, val, key, path,
				     "expected %s (got a string holding a NUL byte)", what);
	return 0;
}

void *fcl__scn_dest(struct ctx *c, const struct field *f)
{
	return (char *)(f->in_params ? c->params : (void *)c->sc) + f->off;
}

/* ---- mappings ----------------------------------------------------------- */

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

/* The keys of one mapping seen so far: table keys as bits, keys other methods
 * declare (foreign) by identity. libfyaml does not look for duplicate keys
 * (its check is quadratic), so this is where a repeated key is found. */
struct seen_keys {
	uint64_t bits;
	const char *foreign[64]; /* names handed to foreign(), in the document */
	unsigned n_foreign;
};

static int seen_foreign(struct ctx *c, struct seen_keys *seen, const char *k,
			struct fy_node *key, const char *kpath)
{
	for (unsigned i = 0; i < seen->n_foreign; i++)
		if (strcmp(seen->foreign[i], k) == 0)
			return fcl__scn_fail(c, key, NULL, kpath,
					     "expected each key once (got a duplicate)");
	if (seen->n_foreign == sizeof seen->foreign / sizeof *seen->foreign)
		return fcl__scn_fail(c, key, NULL, kpath,
				     "expected at most %u keys of other methods (got more)",
				     seen->n_foreign);
	seen->foreign[seen->n_foreign++] = k;
	return 0;
}

static int walk_pair(struct ctx *c, const struct field *tab, struct fy_node_pair *p,
		     const char *path, struct seen_keys *seen, fcl__scn_foreign_fn foreign)
{
	struct fy_node *key = fy_node_pair_key(p), *val = fy_node_pair_value(p);
	char kpath[KEYPATH_MAX], keys[256], g[GOT_MAX];
	const char *name = NULL;
	const struct field *f;
	int i;

	if (!fy_node_is_scalar(key) || fcl__scn_is_null(key) ||
	    !(name = fy_node_get_scalar0(key))) {
		key_list(tab, keys, sizeof(keys));
		return fcl__scn_fail(c, key, val, *path ? path : "(top level)",
				     "expected a key, one of: %s (got %s)", keys,
				     fcl__scn_got(key, g, sizeof(g)));
	}
	fcl__scn_join_path(kpath, sizeof(kpath), path, name);
	i = find_key(tab, name);
	if (i < 0 && foreign) {
		int rc = seen_foreign(c, seen, name, key, kpath);
		if (rc == 0)
			rc = foreign(c, key, val, kpath, name);
		if (rc <= 0)
			return rc;
		seen->n_foreign--; /* not another method's: an unknown key, reported below */
	}
	if (i < 0) {
		key_list(tab, keys, sizeof(keys));
		return fcl__scn_fail(c, key, NULL, kpath,
				     "unknown key, expected one of: %s (got %s)", keys, name);
	}
	if (seen->bits & (1ull << i))
		return fcl__scn_fail(c, key, NULL, kpath,
				     "expected each key once (got a duplicate)");
	seen->bits |= 1ull << i;
	f = &tab[i];
	if (f->slot) {
		c->key[f->slot] = key;
		c->val[f->slot] = val;
	}
	return f->fn(c, f, key, val, kpath);
}

int fcl__scn_walk_map(struct ctx *c, const struct field *tab, struct fy_node *map, const char *path,
		      struct fy_node *owner)
{
	return fcl__scn_walk_map_ex(c, tab, map, path, owner, NULL);
}

int fcl__scn_walk_map_ex(struct ctx *c, const struct field *tab, struct fy_node *map,
			 const char *path, struct fy_node *owner, fcl__scn_foreign_fn foreign)
{
	struct fy_node_pair *p;
	char kpath[KEYPATH_MAX];
	struct seen_keys seen = {0};
	void *it = NULL;
	int i, rc;

	while ((p = fy_node_mapping_iterate(map, &it))) {
		rc = walk_pair(c, tab, p, path, &seen, foreign);
		if (rc)
			return rc;
	}
	for (i = 0; tab[i].key; i++) {
		if (tab[i].required && !(seen.bits & (1ull << i))) {
			fcl__scn_join_path(kpath, sizeof(kpath), path, tab[i].key);
			return fcl__scn_fail(c, owner, NULL, kpath,
					     "required key is missing (got none)");
		}
	}
	return 0;
}

int fcl__scn_get_section(struct ctx *c, const struct field *f, struct fy_node *key,
			 struct fy_node *val, const char *path)
{
	char g[GOT_MAX];

	if (!fy_node_is_mapping(val))
		return fcl__scn_fail(c, key, NULL, path, "expected a mapping (got %s)",
				     fcl__scn_got(val, g, sizeof(g)));
	return fcl__scn_walk_map(c, f->sub, val, path, key);
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
		return fcl__scn_fail_pos(c, e->line, e->column, "yaml",
					 "expected valid YAML (got %s)",
					 e->msg ? e->msg : "an error");
	return fcl__scn_fail_pos(c, c->root_line, c->root_col, "yaml",
				 "expected valid YAML (got a document the parser rejected)");
}

/* The run's estimated size within run.limits (fcl/estimate.h), before any
 * process allocates for it. */
static int check_limits(struct ctx *c)
{
	struct fcl_estimate e;
	char why[400];

	fcl_estimate_scenario(c->sc, NULL, &e);
	if (fcl_estimate_check(c->sc, &e, why, sizeof why))
		return fcl__scn_fail_pos(c, c->root_line, c->root_col, "run.limits", "%s", why);
	return 0;
}

static int walk_document(struct ctx *c, struct fy_document *fyd)
{
	struct fy_node *root = fy_document_root(fyd);
	char g[GOT_MAX];
	int rc;

	if (!fy_node_is_mapping(root))
		return fcl__scn_fail_pos(c, c->root_line, c->root_col, "(top level)",
					 "expected a mapping of sections (got %s)",
					 root ? fcl__scn_got(root, g, sizeof(g))
					      : "an empty document");
	rc = fcl__scn_walk_map(c, fcl__scn_top_fields, root, "", NULL);
	rc = rc ? rc : fcl__scn_check(c);
	return rc ? rc : check_limits(c);
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
	return fcl__scn_fail_pos(c, line, col, "(top level)",
				 "expected a single YAML document (got a second one)");
}

static int screen_tree(struct ctx *c, struct fy_document *fyd, const char *text, size_t len)
{
	struct fcl_yaml_refusal r;

	if (fcl__yaml_screen_tree(fyd, text, len, &r))
		return fcl__scn_fail_pos(c, r.line, r.col, "yaml", "%s", r.why);
	return 0;
}

static int parse_stream(struct ctx *c, struct fy_parser *fyp, struct fy_diag *diag,
			const char *text, size_t len)
{
	struct fy_document *fyd;
	int rc;

	if (fy_parser_set_string(fyp, text, len))
		return fcl__scn_fail_pos(c, 1, 1, "yaml",
					 "expected readable text (got a parser failure)");
	fyd = fy_parse_load_document(fyp);
	if (!fyd) {
		if (c->root_off >= len && !first_error(diag))
			return fcl__scn_fail_pos(
			    c, 1, 1, "(top level)",
			    "expected a mapping of sections (got an empty document)");
		return syntax_error(c, diag);
	}
	rc = screen_tree(c, fyd, text, len);
	rc = rc ? rc : no_more_documents(c, fyp, diag);
	rc = rc ? rc : walk_document(c, fyd);
	fy_parse_document_destroy(fyp, fyd);
	return rc;
}

int fcl__scn_parse_text(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
			const char *base_dir, char *err, size_t errlen)
{
	struct ctx c = {.sc = sc,
			.file = filename ? filename : "<scenario>",
			.base_dir = base_dir,
			.err = err,
			.errlen = errlen};
	struct fcl_yaml_refusal refusal;
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg pcfg;
	struct fy_parser *fyp;
	struct fy_diag *diag;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	/* libfyaml sees only text the screen let through (yaml-guard.h) */
	if (fcl__yaml_screen_text(text, len, &refusal))
		return fcl__scn_fail_pos(&c, refusal.line, refusal.col, "yaml", "%s", refusal.why);
	snprintf(sc->model.file, sizeof sc->model.file, "%s", c.file);
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
	pcfg.flags = FCL_YAML_PARSE_FLAGS;
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
