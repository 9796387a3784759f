/* common/src/override.c - KEY=VALUE edits of a scenario's YAML text (libfyaml) */
#include "fcl/override.h"
#include "yaml-guard.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A document from text that passed the screens (yaml-guard.h); NULL with a
 * reason in err. what names the text in the reason. */
static void quiet_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	(void)user;
	(void)buf;
	(void)len;
}

/* libfyaml's messages would go to stderr; the caller reports its own. */
static struct fy_diag *quiet_diag(void)
{
	struct fy_diag_cfg dcfg;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = quiet_output;
	dcfg.colorize = false;
	return fy_diag_create(&dcfg);
}

static struct fy_document *build(const char *text, size_t len, const char *what, char *err,
				 size_t errlen)
{
	struct fy_parse_cfg cfg = {.flags = FCL_YAML_PARSE_FLAGS, .diag = quiet_diag()};
	struct fcl_yaml_refusal r;
	struct fy_document *fyd;

	if (fcl__yaml_screen_text(text, len, &r)) {
		snprintf(err, errlen, "%s:%d:%d: %s", what, r.line, r.col, r.why);
		if (cfg.diag)
			fy_diag_unref(cfg.diag);
		return NULL;
	}
	if (!cfg.diag) {
		snprintf(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	fyd = fy_document_build_from_string(&cfg, text, len);
	fy_diag_unref(cfg.diag); /* the document keeps its own reference */
	if (!fyd) {
		snprintf(err, errlen, "%s is not valid YAML", what);
		return NULL;
	}
	if (fcl__yaml_screen_tree(fyd, text, len, &r)) {
		snprintf(err, errlen, "%s:%d:%d: %s", what, r.line, r.col, r.why);
		fy_document_destroy(fyd);
		return NULL;
	}
	return fyd;
}

/* The value of an edit, a node of fyd; NULL with a reason in err. */
static struct fy_node *build_value(struct fy_document *fyd, const char *set, const char *value,
				   char *err, size_t errlen)
{
	char what[300];
	struct fy_document *v;
	struct fy_node *n = NULL;

	snprintf(what, sizeof what, "--set '%s': the value", set);
	if (!(v = build(value, strlen(value), what, err, errlen)))
		return NULL;
	if (fy_document_root(v))
		n = fy_node_copy(fyd, fy_document_root(v));
	if (!n)
		snprintf(err, errlen, "--set '%s': bad value", set);
	fy_document_destroy(v);
	return n;
}

static int apply(struct fy_document *fyd, const char *set, char *err, size_t errlen)
{
	const char *eq = strchr(set, '=');
	char key[256];
	if (!eq || eq == set || (size_t)(eq - set) >= sizeof key) {
		snprintf(err, errlen, "--set '%s': want KEY.PATH=VALUE", set);
		return -EINVAL;
	}
	memcpy(key, set, (size_t)(eq - set));
	key[eq - set] = '\0';
	/* Scenario keys are words; libfyaml parses a lookup key as YAML text
	 * (fy_node_mapping_lookup_pair_by_string), so nothing else may reach it. */
	for (const char *k = key; *k; k++) {
		if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-' && *k != '.') {
			snprintf(err, errlen,
				 "--set '%s': want KEY.PATH=VALUE, keys of letters, digits, _ and -",
				 set);
			return -EINVAL;
		}
	}
	struct fy_node *map = fy_document_root(fyd);
	char *save = NULL;
	char *part = strtok_r(key, ".", &save);
	while (part) {
		char *next = strtok_r(NULL, ".", &save);
		if (!map || !fy_node_is_mapping(map)) {
			snprintf(err, errlen, "--set '%s': '%s' is not inside a mapping", set,
				 part);
			return -EINVAL;
		}
		struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(map, part, FY_NT);
		struct fy_node *val;
		if (next)
			val = pair ? fy_node_pair_value(pair) : fy_node_create_mapping(fyd);
		else
			val = build_value(fyd, set, eq + 1, err, errlen);
		if (!val) {
			if (next)
				snprintf(err, errlen, "--set '%s': bad value", set);
			return -EINVAL;
		}
		if (!next && pair) {
			if (fy_node_pair_set_value(pair, val) != 0)
				return -ENOMEM;
		} else if (!pair) {
			struct fy_node *k = fy_node_create_scalar_copy(fyd, part, FY_NT);
			if (!k || fy_node_mapping_append(map, k, val) != 0)
				return -ENOMEM;
		}
		map = val;
		part = next;
	}
	return 0;
}

/* The edited document as text, refused past what the parser accepts: aliases
 * come out expanded, so a small alias-laden scenario can emit megabytes, and
 * emitting them only to have the parser refuse them cost seconds. */
static int emit_bounded(struct fy_document *fyd, char **out, size_t *out_len, char *err,
			size_t errlen)
{
	char *buf = malloc(FCL_YAML_MAX_BYTES + 1);
	int n;

	if (!buf)
		return -ENOMEM;
	n = fy_emit_document_to_buffer(fyd, FYECF_MODE_BLOCK | FYECF_WIDTH_INF, buf,
				       FCL_YAML_MAX_BYTES);
	if (n < 0) {
		free(buf);
		snprintf(err, errlen,
			 "scenario: expected at most %u bytes with --set edits applied and "
			 "aliases expanded (got more)",
			 FCL_YAML_MAX_BYTES);
		return -EINVAL;
	}
	buf[n] = '\0'; /* libfyaml 0.7 counts its own terminator in n; take the text's length */
	*out = buf;
	*out_len = strlen(buf);
	return 0;
}

int fcl_scenario_override(const char *text, size_t len, const char *const *sets, size_t n_sets,
			  char **out, size_t *out_len, char *err, size_t errlen)
{
	struct fy_document *fyd = build(text, len, "scenario", err, errlen);
	int rc = 0;
	if (!fyd)
		return -EINVAL;
	for (size_t i = 0; i < n_sets && !rc; i++)
		rc = apply(fyd, sets[i], err, errlen);
	if (!rc)
		rc = emit_bounded(fyd, out, out_len, err, errlen);
	fy_document_destroy(fyd);
	return rc;
}
