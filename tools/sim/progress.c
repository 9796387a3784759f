/* tools/sim/progress.c - the server's progress lines, parsed and drawn
 *
 * fcl-server --progress writes "progress key=value ..." and "done ..." lines
 * on its stdout, a pipe to us; a terminal gets one line rewritten in place,
 * anything else a line per round at most every PLAIN_PROGRESS_MS.
 */
#include "sim.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PLAIN_PROGRESS_MS 2000

/* ------------------------------------------------------------------------------------------ */
/* the display */

static void format_bytes(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1000 && u < 3) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void format_duration(char *buf, size_t len, double s)
{
	long t;

	if (!(s >= 0) || s > 1e9) {
		snprintf(buf, len, "?");
		return;
	}
	t = lround(s);
	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
}

static void format_progress(const struct progress *p, char *buf, size_t len)
{
	char acc[16], up[16], down[16], eta[24];

	if (isnan(p->acc))
		snprintf(acc, sizeof acc, "-");
	else
		snprintf(acc, sizeof acc, "%.2f%%", p->acc * 100);
	format_bytes(up, sizeof up, p->bytes_up);
	format_bytes(down, sizeof down, p->bytes_down);
	if (p->rounds > p->round)
		format_duration(eta, sizeof eta,
				p->elapsed / (double)(p->round + 1) *
				    (double)(p->rounds - p->round - 1));
	else
		snprintf(eta, sizeof eta, "?");
	/* rounds and tasks count from 0, as in eval.csv, events.jsonl and server.log */
	snprintf(buf, len,
		 "round %lu (0-%lu)  task %lu (0-%lu)  updates %s  acc %s  up %s down %s  "
		 "elapsed %.1fs  ETA %s",
		 p->round, p->rounds ? p->rounds - 1 : 0, p->task, p->tasks ? p->tasks - 1 : 0,
		 p->updates, acc, up, down, p->elapsed, eta);
}

/* Rewrites the progress line in place, cut to the terminal width since a
 * wrapped line cannot be rewritten with \r. */
static void draw_tty_progress(struct sim *sim)
{
	char line[256];
	struct winsize ws;

	format_progress(&sim->prog, line, sizeof line);
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
	    ws.ws_col - 1u < sizeof line)
		line[ws.ws_col - 1] = '\0';
	printf("\r%s\033[K", line);
	fflush(stdout);
	sim->prog_shown = 1;
}

static void print_plain_progress(struct sim *sim)
{
	char line[256];

	format_progress(&sim->prog, line, sizeof line);
	printf("%s\n", line);
	fflush(stdout);
	sim->prog_pending = 0;
	sim->prog_printed = 1;
	sim->prog_last_ms = uv_now(sim->loop);
	sim->prog_last_round = sim->prog.round;
}

/* Plain output (a log file, a pipe) gets one line per round, at most one
 * every PLAIN_PROGRESS_MS; sim_end_progress() adds the last one. */
static void print_progress(struct sim *sim)
{
	if (sim->quiet || !sim->prog.valid)
		return;
	if (sim->tty) {
		draw_tty_progress(sim);
		return;
	}
	sim->prog_pending = 1;
	if (!sim->prog_printed || (sim->prog.round != sim->prog_last_round &&
				   uv_now(sim->loop) - sim->prog_last_ms >= PLAIN_PROGRESS_MS))
		print_plain_progress(sim);
}

void sim_end_progress(struct sim *sim)
{
	if (sim->prog_shown) {
		printf("\n");
		sim->prog_shown = 0;
	} else if (sim->prog_pending && !sim->quiet) {
		print_plain_progress(sim);
	}
	fflush(stdout);
}

/* Messages must not land in the middle of the progress line: clear it,
 * print, and draw it again below. */
void sim_log_sink(enum fcl_log_level level, const char *line, void *user)
{
	struct sim *sim = user;

	(void)level;
	if (sim->prog_shown) {
		printf("\r\033[K");
		fflush(stdout);
	}
	fprintf(stderr, "%s\n", line);
	if (sim->prog_shown)
		draw_tty_progress(sim);
}

/* ------------------------------------------------------------------------------------------ */
/* the server's stdout */

static int starts_with_word(const char *line, const char *word)
{
	size_t n = strlen(word);

	return strncmp(line, word, n) == 0 && (line[n] == ' ' || line[n] == '\t' || !line[n]);
}

static unsigned long to_ulong(const char *s)
{
	return strtoul(s, NULL, 10);
}

/* "progress round=3 rounds=25 ... acc=0.8123 ... elapsed=2.51"; unknown keys
 * are skipped so the server can add some. */
static void parse_progress(struct sim *sim, char *rest)
{
	struct progress p = {.valid = 1, .acc = NAN, .updates = "-"};
	char *save = NULL;

	for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *val = strchr(tok, '=');

		if (!val)
			continue;
		*val++ = '\0';
		if (strcmp(tok, "round") == 0)
			p.round = to_ulong(val);
		else if (strcmp(tok, "rounds") == 0)
			p.rounds = to_ulong(val);
		else if (strcmp(tok, "task") == 0)
			p.task = to_ulong(val);
		else if (strcmp(tok, "tasks") == 0)
			p.tasks = to_ulong(val);
		else if (strcmp(tok, "updates") == 0)
			snprintf(p.updates, sizeof p.updates, "%s", val);
		else if (strcmp(tok, "acc") == 0)
			p.acc = strtod(val, NULL); /* "nan" parses as NAN */
		else if (strcmp(tok, "bytes_up") == 0)
			p.bytes_up = strtoull(val, NULL, 10);
		else if (strcmp(tok, "bytes_down") == 0)
			p.bytes_down = strtoull(val, NULL, 10);
		else if (strcmp(tok, "elapsed") == 0)
			p.elapsed = strtod(val, NULL);
	}
	sim->prog = p;
	sim->rounds_done = p.round + 1; /* the round just completed counts from 0 */
	print_progress(sim);
}

/* "done status=ok" or "done status=failed reason=free text to the end" */
static void parse_done(struct sim *sim, char *rest)
{
	char *reason = strstr(rest, " reason="), *save = NULL;

	if (reason) {
		snprintf(sim->done_reason, sizeof sim->done_reason, "%s", reason + 8);
		*reason = '\0';
	}
	sim->done_seen = 1;
	for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		if (strncmp(tok, "status=", 7) == 0)
			sim->done_ok = strcmp(tok + 7, "ok") == 0;
}

/* "lost first=2 last=3": the server awaits a replacement of that process. */
static void parse_lost(struct sim *sim, const char *rest)
{
	unsigned long first, last;
	if (sscanf(rest, " first=%lu last=%lu", &first, &last) == 2)
		sim_replace_client(sim, (uint32_t)first, (uint32_t)last);
}

/* Any other line is the server's business. */
static void on_server_line(struct sim *sim, char *line)
{
	size_t n = strlen(line);

	if (n && line[n - 1] == '\r')
		line[n - 1] = '\0';
	if (starts_with_word(line, "progress"))
		parse_progress(sim, line + strlen("progress"));
	else if (starts_with_word(line, "done"))
		parse_done(sim, line + strlen("done"));
	else if (starts_with_word(line, "joined"))
		sim->joined = 1;
	else if (starts_with_word(line, "lost"))
		parse_lost(sim, line + strlen("lost"));
	else if (starts_with_word(line, "warning")) /* for the person, even with --quiet */
		fcl_warn("warning: %s", line + strlen("warning") + strspn(line + strlen("warning"), " \t"));
}

static void on_server_out_closed(uv_handle_t *handle)
{
	struct sim *sim = handle->data;

	sim->server_out_open = 0;
	sim_maybe_finish(sim);
}

void sim_close_server_out(struct sim *sim)
{
	if (sim->server_out_open && !uv_is_closing((uv_handle_t *)&sim->server_out))
		uv_close((uv_handle_t *)&sim->server_out, on_server_out_closed);
}

static void on_server_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct sim *sim = handle->data;

	(void)suggested;
	buf->base = sim->read_buf;
	buf->len = sizeof sim->read_buf;
}

/* Splits the stream into lines; an overlong line is dropped whole. */
static void on_server_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct sim *sim = stream->data;

	if (nread < 0) {
		if (nread != UV_EOF)
			fcl_warn("reading the server's output: %s", uv_strerror((int)nread));
		if (sim->line_len && !sim->line_too_long) {
			sim->line[sim->line_len] = '\0';
			on_server_line(sim, sim->line);
		}
		sim->line_len = 0;
		sim_close_server_out(sim);
		return;
	}
	for (ssize_t i = 0; i < nread; i++) {
		char c = buf->base[i];

		if (c == '\n') {
			sim->line[sim->line_len] = '\0';
			if (!sim->line_too_long)
				on_server_line(sim, sim->line);
			sim->line_len = 0;
			sim->line_too_long = 0;
		} else if (sim->line_len + 1 < sizeof sim->line) {
			sim->line[sim->line_len++] = c;
		} else {
			sim->line_too_long = 1;
		}
	}
}

/* Lines from the server's stdout go to on_server_line. */
void sim_read_server_out(struct sim *sim)
{
	uv_read_start((uv_stream_t *)&sim->server_out, on_server_alloc, on_server_read);
}
