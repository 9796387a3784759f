/* common/src/log.c - leveled logging with a settable sink */
#include "fcl/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static fcl_log_sink_fn log_sink;
static void *log_user;
static enum fcl_log_level log_min = FCL_LOG_INFO;
static char log_tag[48] = "fcl";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void fcl_log_set(fcl_log_sink_fn sink, void *user)
{
	log_sink = sink;
	log_user = user;
}

void fcl_log_set_level(enum fcl_log_level level)
{
	log_min = level;
}

void fcl_log_set_tag(const char *tag)
{
	snprintf(log_tag, sizeof log_tag, "%s", tag);
}

int fcl_log_enabled(enum fcl_log_level level)
{
	return level >= log_min;
}

/* Control characters in what a line quotes (a client's hostname, a peer's
 * error text) could forge lines: each becomes \n, \t, \r or \xHH, and a
 * backslash \\, so that every line of a log is one line we wrote. */
static void escape(char *out, size_t len, const char *in)
{
	size_t at = 0;
	for (const unsigned char *c = (const unsigned char *)in; *c && at + 5 < len; c++) {
		if (*c == '\n')
			at += (size_t)snprintf(out + at, len - at, "\\n");
		else if (*c == '\t')
			at += (size_t)snprintf(out + at, len - at, "\\t");
		else if (*c == '\r')
			at += (size_t)snprintf(out + at, len - at, "\\r");
		else if (*c == '\\')
			at += (size_t)snprintf(out + at, len - at, "\\\\");
		else if (*c < 0x20 || *c == 0x7f)
			at += (size_t)snprintf(out + at, len - at, "\\x%02x", *c);
		else
			out[at++] = (char)*c;
	}
	out[at] = '\0';
}

void fcl_log_at(enum fcl_log_level level, const char *file, int line, const char *fmt, ...)
{
	char raw[1024], msg[1024 * 4];
	va_list ap;
	const char *base = strrchr(file, '/');

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	escape(msg, sizeof msg, raw);
	if (log_sink) {
		log_sink(level, msg, log_user);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s %-5s [%s:%d] %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, log_tag, level_names[level],
		base ? base + 1 : file, line, msg);
}

void fcl_abort(const char *file, int line, const char *what)
{
	fprintf(stderr, "fcl: assertion failed at %s:%d: %s\n", file, line, what);
	abort();
}
