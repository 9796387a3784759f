/* tests/test_runstatus.c - what a run folder and a log say when things go
 * wrong: log lines escape what they quote, a folder left by a crash is
 * marked unfinished with the reason, a complete one is left alone */
#include "fcl/log.h"
#include "fcl/runstatus.h"
#include "fcl/util.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char last[8192];

static void sink(enum fcl_log_level level, const char *line, void *user)
{
	(void)level;
	(void)user;
	snprintf(last, sizeof last, "%s", line);
}

static void test_log_escapes(void)
{
	fcl_log_set(sink, NULL);
	fcl_info("process 7 on %s hosts 2 logical clients", "evil\nforged line\tx\\y\x01");
	CHECK(strcmp(last,
		     "process 7 on evil\\nforged line\\tx\\\\y\\x01 hosts 2 logical clients") == 0,
	      "a quoted newline, tab, backslash, control byte are escaped: one line (%s)", last);
	fcl_info("plain text: 100%% sure, UTF-8 \xc3\xa9 kept");
	CHECK(strcmp(last, "plain text: 100% sure, UTF-8 \xc3\xa9 kept") == 0,
	      "printable text and UTF-8 pass unchanged");
	fcl_log_set(NULL, NULL);
}

static char dir[64];

static int put(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return fcl_write_file_atomic(path, text, strlen(text));
}

static char *get(const char *name)
{
	char path[128], *text = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return fcl_read_file(path, &text, NULL) == 0 ? text : NULL;
}

static void test_mark(void)
{
	char reason[256];
	REQUIRE(mkdtemp(strcpy(dir, "/tmp/fcl-test-status-XXXXXX")), "a run folder");

	/* what the coordinator writes while the run goes on */
	put("metrics.json", "{\n  \"scenario\": \"s\",\n  \"complete\": false,\n"
			    "  \"reason\": \"the run is going on\",\n  \"rounds\": 7\n}\n");
	put("summary.txt", "scenario s: 7 rounds\nrun did not finish (7 of 20 rounds, 1 of 4 "
			   "tasks): the run is going on\nmatrix\n");
	CHECK(fcl_run_mark_unfinished(dir, "killed by signal 9 \"hard\"") == 0, "marked");
	char *m = get("metrics.json"), *t = get("summary.txt");
	CHECK(m &&
		  strcmp(
		      m,
		      "{\n  \"scenario\": \"s\",\n  \"complete\": false,\n"
		      "  \"reason\": \"killed by signal 9 \\\"hard\\\"\",\n  \"rounds\": 7\n}\n") ==
		      0,
	      "metrics.json: the reason line replaced (JSON-escaped), the rest kept");
	CHECK(t && strcmp(t, "scenario s: 7 rounds\nrun did not finish (7 of 20 rounds, 1 of 4 "
			     "tasks): killed by signal 9 \"hard\"\nmatrix\n") == 0,
	      "summary.txt: the reason after the counts replaced, the rest kept");
	CHECK(fcl_run_reason(dir, reason, sizeof reason) == 0 &&
		  strcmp(reason, "killed by signal 9 \\\"hard\\\"") == 0,
	      "the reason reads back (%s)", reason);
	free(m);
	free(t);

	/* a complete run is never marked */
	put("metrics.json", "{\n  \"complete\": true,\n  \"rounds\": 20\n}\n");
	CHECK(fcl_run_mark_unfinished(dir, "late news") == 1 && fcl_run_is_complete(dir) &&
		  fcl_run_reason(dir, reason, sizeof reason) != 0,
	      "a complete run is left alone");

	/* a coordinator that died before writing anything */
	char path[128];
	snprintf(path, sizeof path, "%s/metrics.json", dir);
	remove(path);
	snprintf(path, sizeof path, "%s/summary.txt", dir);
	remove(path);
	CHECK(fcl_run_mark_unfinished(dir, "could not start") == 0, "marked without files");
	m = get("metrics.json");
	t = get("summary.txt");
	CHECK(m && t &&
		  strcmp(m, "{\n  \"complete\": false,\n  \"reason\": \"could not start\"\n}\n") ==
		      0 &&
		  strcmp(t, "run did not finish: could not start\n") == 0 &&
		  !fcl_run_is_complete(dir),
	      "minimal metrics.json and summary.txt say it");
	free(m);
	free(t);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		NOTE("could not remove %s", dir);
}

int main(void)
{
	test_log_escapes();
	test_mark();
	return tap_done();
}
