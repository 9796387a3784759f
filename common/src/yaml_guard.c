/* common/src/yaml_guard.c - the screens around libfyaml (see yaml-guard.h) */
#include "yaml-guard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 5))) static int refuse(struct fcl_yaml_refusal *r, int line,
							   int col, const char *fmt, ...)
{
	va_list ap;

	r->line = line;
	r->col = col;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The width of the UTF-8 sequence at p (1..4), or 0 when it is not valid
 * UTF-8 (bad lead or continuation byte, truncated, overlong, surrogate,
 * beyond U+10FFFF). *cp is the code point. */
static size_t utf8_char(const unsigned char *p, size_t left, uint32_t *cp)
{
	static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t w, i;
	uint32_t c = p[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		w = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		w = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		w = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (w > left)
		return 0;
	for (i = 1; i < w; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min[w] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return w;
}

/* Characters YAML calls non-printable, and the Unicode line separators
 * libfyaml's 1.1 mode would count as line breaks. */
static bool is_control(uint32_t c)
{
	if (c == '\t' || c == '\n' || c == '\r')
		return false;
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
	       c == 0xfffe || c == 0xffff;
}

int fcl__yaml_screen_text(const char *text, size_t len, struct fcl_yaml_refusal *r)
{
	const unsigned char *p = (const unsigned char *)text;
	int line = 1, col = 1;
	size_t i = 0, w;
	uint32_t c;

	if (len > FCL_YAML_MAX_BYTES) {
		return refuse(r, 1, 1, "expected at most %u bytes (got %zu)", FCL_YAML_MAX_BYTES,
			      len);
	}
	while (i < len) {
		if (!(w = utf8_char(p + i, len - i, &c)))
			return refuse(r, line, col, "expected UTF-8 text (got the byte 0x%02X)", p[i]);
		if (c == '\t')
			return refuse(r, line, col,
				      "expected spaces, not a tab (a tab after '? key:' crashes "
				      "libfyaml 0.7)");
		if (is_control(c) && !(c == 0xfeff && i == 0))
			return refuse(r, line, col,
				      "expected printable text (got the control character U+%04X)", c);
		if (c == 0xfeff && i != 0)
			return refuse(r, line, col, "expected a byte order mark only first (got U+%04X)", c);
		if (c == '%' && col == 1)
			return refuse(r, line, col,
				      "expected no YAML directive: scenarios do not use them (got '%c')",
				      '%');
		i += w;
		if (c == '\n' || (c == '\r' && (i >= len || p[i] != '\n'))) {
			line++;
			col = 1;
		} else if (c != '\r' && c != 0xfeff) {
			col++;
		}
	}
	return 0;
}

/* ---- the tree ------------------------------------------------------------- */

struct walk {
	struct fy_document *fyd;
	const char *text;
	size_t len;
	size_t nodes;		/* counted so far, aliases expanded */
	unsigned aliases;
	struct fcl_yaml_refusal *r;
};

static void token_pos(struct fy_token *t, int *line, int *col)
{
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;

	if (m) {
		*line = m->line + 1;
		*col = m->column + 1;
	}
}

/* A single-quoted scalar's raw bytes (quotes stripped) hold a '' escape. */
static bool has_quote_escape(const struct walk *w, struct fy_token *t)
{
	const struct fy_mark *s = t ? fy_token_start_mark(t) : NULL;
	const struct fy_mark *e = t ? fy_token_end_mark(t) : NULL;
	size_t a, b;

	if (!s || !e || s->input_pos > e->input_pos || e->input_pos > w->len)
		return false;
	a = s->input_pos;
	b = e->input_pos;
	if (a < b && w->text[a] == '\'')
		a++;
	if (b > a && w->text[b - 1] == '\'')
		b--;
	for (; a + 1 < b; a++)
		if (w->text[a] == '\'' && w->text[a + 1] == '\'')
			return true;
	return false;
}

static int walk_node(struct walk *w, struct fy_node *n, int depth, int line, int col,
		     bool in_alias);

/* An alias counts as the nodes of what it names, walked again: the count
 * stops at FCL_YAML_MAX_NODES, so an alias bomb costs that much and no more. */
static int walk_alias(struct walk *w, struct fy_node *n, int depth, int line, int col)
{
	size_t len = 0;
	const char *name = fy_node_get_scalar(n, &len);
	struct fy_anchor *a = name ? fy_document_lookup_anchor(w->fyd, name, len) : NULL;
	struct fy_node *target = a ? fy_anchor_node(a) : NULL;

	w->aliases++;
	if (!target)
		return refuse(w->r, line, col, "expected an alias of an anchor defined before it "
					       "(got *%.*s)",
			      (int)(len > 40 ? 40 : len), name ? name : "");
	return walk_node(w, target, depth + 1, line, col, true);
}

/* (line, col) is where the nearest enclosing scalar seen so far starts. */
static int walk_node(struct walk *w, struct fy_node *n, int depth, int line, int col,
		     bool in_alias)
{
	struct fy_node_pair *p;
	struct fy_node *item;
	void *it = NULL;
	int rc;

	if (!n)
		return 0;
	if (fy_node_is_scalar(n) && !in_alias) {
		token_pos(fy_node_get_scalar_token(n), &line, &col);
		if (fy_node_is_alias(n) && col > 1)
			col--; /* the token starts past the '*' */
	}
	if ((unsigned)depth > FCL_YAML_MAX_DEPTH)
		return refuse(w->r, line, col, "expected at most %u levels of nesting (got more)",
			      FCL_YAML_MAX_DEPTH);
	if (++w->nodes > FCL_YAML_MAX_NODES)
		return refuse(w->r, line, col,
			      "expected at most %u nodes with aliases expanded (got more)",
			      FCL_YAML_MAX_NODES);
	if (fy_node_is_alias(n))
		return walk_alias(w, n, depth, line, col);
	if (fy_node_is_scalar(n)) {
		if (!in_alias && fy_node_get_style(n) == FYNS_SINGLE_QUOTED &&
		    has_quote_escape(w, fy_node_get_scalar_token(n)))
			return refuse(w->r, line, col > 1 ? col - 1 : col,
				      "expected no '' escape in a single-quoted string: use double "
				      "quotes");
		return 0;
	}
	if (fy_node_is_sequence(n)) {
		while ((item = fy_node_sequence_iterate(n, &it)))
			if ((rc = walk_node(w, item, depth + 1, line, col, in_alias)) != 0)
				return rc;
		return 0;
	}
	while ((p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(p);
		int kl = line, kc = col;

		if (k && fy_node_is_scalar(k) && !in_alias)
			token_pos(fy_node_get_scalar_token(k), &kl, &kc);
		if ((rc = walk_node(w, k, depth + 1, line, col, in_alias)) != 0 ||
		    (rc = walk_node(w, fy_node_pair_value(p), depth + 1, kl, kc, in_alias)) != 0)
			return rc;
	}
	return 0;
}

int fcl__yaml_screen_tree(struct fy_document *fyd, const char *text, size_t len,
			  struct fcl_yaml_refusal *r)
{
	struct walk w = {.fyd = fyd, .text = text, .len = len, .r = r};
	int rc = walk_node(&w, fy_document_root(fyd), 0, 1, 1, false);

	if (!rc && w.aliases && fy_document_resolve(fyd) != 0)
		return refuse(r, 1, 1, "expected aliases that resolve (got one that does not)");
	return rc;
}
