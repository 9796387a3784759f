/* common/src/yaml-guard.h - what reaches libfyaml, and what it hands back
 *
 * libfyaml 0.7 (Debian 12) hangs on a directive line holding invalid UTF-8,
 * expands alias bombs without bound when it resolves a document, checks
 * duplicate keys in quadratic time, leaks on '' escapes in single-quoted
 * scalars and frees an indentation twice after a tab following "? key:". So the scenario parser and the --set editor screen the text
 * before libfyaml sees it and the tree after it is built (aliases counted as
 * what they expand to, within a budget) before they resolve aliases, and
 * never ask libfyaml to look for duplicate keys (the key walker does, in
 * linear time).
 */
#ifndef FCL_YAML_GUARD_H
#define FCL_YAML_GUARD_H
#include <libfyaml.h>
#include <stddef.h>

/* The largest scenario text accepted: shipped scenarios are a few KB. */
#define FCL_YAML_MAX_BYTES (1u << 20)

/* Deeper nesting than any scenario has; it also bounds the tree walk's stack. */
#define FCL_YAML_MAX_DEPTH 32u

/* Nodes of a document with its aliases expanded: shipped scenarios have a
 * few hundred; this many cost a few MB. */
#define FCL_YAML_MAX_NODES 100000u

/* libfyaml's flags for every scenario document: no alias resolution, no
 * quadratic duplicate-key check. */
#define FCL_YAML_PARSE_FLAGS (FYPCF_QUIET | FYPCF_ALLOW_DUPLICATE_KEYS)

/* Where and why a text or tree was refused. */
struct fcl_yaml_refusal {
	int line, col; /* 1-based */
	char why[160];
};

/* Refuses text over FCL_YAML_MAX_BYTES, bytes that are not UTF-8, tabs,
 * control characters other than line breaks, and directives ('%' at the start
 * of a line). 0, or -EINVAL with *r filled. */
int fcl__yaml_screen_text(const char *text, size_t len, struct fcl_yaml_refusal *r);

/* Refuses nesting deeper than FCL_YAML_MAX_DEPTH, more than FCL_YAML_MAX_NODES
 * nodes with aliases expanded, aliases of unknown anchors and single-quoted
 * scalars with '' escapes (text is what the document was built from, for the
 * scalars' raw bytes); then resolves the aliases. 0, or -EINVAL with *r filled. */
int fcl__yaml_screen_tree(struct fy_document *fyd, const char *text, size_t len,
			  struct fcl_yaml_refusal *r);

#endif
