/* common/src/runstatus.c - marking a run folder whose run did not finish
 *
 * The lines rewritten here are the ones server/summary.c writes: in
 * metrics.json `  "reason": "...",` right after `  "complete": false,`, in
 * summary.txt the line that starts with "run did not finish".
 */
#include "fcl/runstatus.h"

#include "fcl/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text, for the files rewritten. */
struct text {
	char *s;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (n > ((size_t)1 << 40))
		t->failed = 1;
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *p = realloc(t->s, cap);
		if (!p) {
			t->failed = 1;
			return;
		}
		t->s = p;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* s as a JSON string. */
static void json_str(struct text *t, const char *s)
{
	char esc[8];
	puts_(t, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			snprintf(esc, sizeof esc, "\\%c", *c);
			puts_(t, esc);
		} else if (*c < 0x20 || *c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *c);
			puts_(t, esc);
		} else {
			put(t, (const char *)c, 1);
		}
	}
	puts_(t, "\"");
}

#define NONE ((size_t)-1)

/* Where the line of text that starts with prefix begins, or NONE. */
static size_t find_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix), at = 0;
	while (text[at]) {
		if (strncmp(text + at, prefix, n) == 0)
			return at;
		const char *nl = strchr(text + at, '\n');
		if (!nl)
			break;
		at = (size_t)(nl - text) + 1;
	}
	return NONE;
}

/* Where the next line after the one at `at` begins. */
static size_t line_end(const char *text, size_t at)
{
	const char *e = strchr(text + at, '\n');
	return e ? (size_t)(e - text) + 1 : at + strlen(text + at);
}

static int write_text(const char *dir, const char *name, struct text *t)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int rc = t->failed ? -ENOMEM : fcl_write_file_atomic(path, t->s, t->len);
	free(t->s);
	return rc;
}

static int mark_metrics(const char *dir, const char *reason)
{
	char path[4200], *old = NULL;
	struct text t = {0};

	snprintf(path, sizeof path, "%s/metrics.json", dir);
	if (fcl_read_file(path, &old, NULL) != 0 || find_line(old, "  \"complete\": ") == NONE) {
		puts_(&t, "{\n  \"complete\": false,\n  \"reason\": ");
		json_str(&t, reason);
		puts_(&t, "\n}\n");
	} else if (find_line(old, "  \"complete\": true") != NONE) {
		free(old);
		return 1;
	} else {
		size_t at = find_line(old, "  \"reason\": "), end;
		if (at == NONE) /* right after "complete" */
			at = end = line_end(old, find_line(old, "  \"complete\": "));
		else
			end = line_end(old, at);
		put(&t, old, at);
		puts_(&t, "  \"reason\": ");
		json_str(&t, reason);
		/* the last key of the object has no comma */
		puts_(&t, old[end] == '}' ? "\n" : ",\n");
		puts_(&t, old + end);
	}
	free(old);
	return write_text(dir, "metrics.json", &t);
}

static int mark_summary(const char *dir, const char *reason)
{
	char path[4200], *old = NULL;
	struct text t = {0};

	snprintf(path, sizeof path, "%s/summary.txt", dir);
	if (fcl_read_file(path, &old, NULL) != 0) {
		puts_(&t, "run did not finish: ");
	} else {
		size_t at = find_line(old, "run did not finish"), end;
		if (at != NONE) { /* keep "run did not finish (R of N rounds, ...): " */
			end = line_end(old, at);
			const char *colon = strstr(old + at, "): ");
			size_t from =
			    colon && (size_t)(colon - old) < end ? (size_t)(colon - old) + 3 : NONE;
			put(&t, old, from != NONE ? from : at);
			if (from == NONE)
				puts_(&t, "run did not finish: ");
		} else { /* a second line, after the scenario's */
			at = end = line_end(old, 0);
			put(&t, old, at);
			puts_(&t, "run did not finish: ");
		}
		puts_(&t, reason);
		puts_(&t, "\n");
		puts_(&t, old + end);
		free(old);
		return write_text(dir, "summary.txt", &t);
	}
	puts_(&t, reason);
	puts_(&t, "\n");
	return write_text(dir, "summary.txt", &t);
}

int fcl_run_mark_unfinished(const char *run_dir, const char *reason)
{
	int rc = mark_metrics(run_dir, reason);
	if (rc)
		return rc;
	return mark_summary(run_dir, reason);
}

int fcl_run_reason(const char *run_dir, char *buf, size_t len)
{
	char path[4200], *text;
	size_t at;

	snprintf(path, sizeof path, "%s/metrics.json", run_dir);
	if (fcl_read_file(path, &text, NULL) != 0)
		return -ENOENT;
	if ((at = find_line(text, "  \"reason\": \"")) == NONE) {
		free(text);
		return -ENOENT;
	}
	/* the text between the quotes, escapes left as they are */
	const char *s = text + at + strlen("  \"reason\": \"");
	size_t n = 0;
	while (s[n] && s[n] != '\n' && !(s[n] == '"' && (n == 0 || s[n - 1] != '\\')))
		n++;
	snprintf(buf, len, "%.*s", (int)n, s);
	free(text);
	return 0;
}

int fcl_run_is_complete(const char *run_dir)
{
	char path[4200], *text;
	snprintf(path, sizeof path, "%s/metrics.json", run_dir);
	if (fcl_read_file(path, &text, NULL) != 0)
		return 0;
	int complete = find_line(text, "  \"complete\": true") != NONE;
	free(text);
	return complete;
}
