/* tools/fcl-sim.c - run a whole scenario on one machine
 *
 * Starts fcl-server, waits until it publishes its endpoint in the run folder,
 * then starts P fcl-client processes that share the logical clients between
 * them. Shows the server's progress lines, forwards Ctrl-C, makes sure every
 * child is gone at the end and prints the run summary.
 *
 *   fcl-sim SCENARIO.yaml [--procs P] [--run-dir DIR] [--seed N] [--quiet]
 *           [--server-arg ARG]... [--client-arg ARG]...
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "fcl/log.h"
#include "fcl/scenario.h"

#define ENDPOINT_POLL_MS 20
#define ENDPOINT_TIMEOUT_MS 30000
#define CLIENT_GRACE_MS 5000 /* clients may outlive the server by this much */
#define KILL_GRACE_MS 2000   /* between SIGTERM and SIGKILL */
#define PLAIN_PROGRESS_MS 2000
#define TAIL_LINES 20
#define SERVER_LINE_MAX 4096

/* A child process and what became of it. */
struct child {
	uv_process_t proc;
	int spawned; /* uv_spawn succeeded */
	int running; /* spawned and exit_cb not seen yet */
	int64_t exit_status;
	int term_signal;
	uint32_t first, last; /* clients only: logical ids, inclusive */
	char log_path[PATH_MAX];
};

/* The latest `progress` line of the server. */
struct progress {
	int valid;
	unsigned long round, rounds, task, tasks;
	char updates[32];
	double acc; /* NAN before the first evaluation */
	uint64_t bytes_up, bytes_down;
	double elapsed;
};

struct sim {
	/* command line */
	char *scenario_path;
	const char *run_dir_opt;
	unsigned long procs_opt; /* 0: one per core */
	int have_seed;
	uint64_t seed;
	int quiet;
	char **server_args, **client_args;
	size_t n_server_args, n_client_args;

	struct fcl_scenario sc;
	char run_dir[PATH_MAX - 64]; /* leaves room for the file names inside */
	char server_bin[PATH_MAX], client_bin[PATH_MAX];
	char **env;
	unsigned procs;

	uv_loop_t *loop;
	struct child server;
	struct child *clients; /* procs of them */
	uv_pipe_t server_out;  /* the server's stdout */
	int server_out_open;   /* until its close callback */
	char read_buf[16384];
	char line[SERVER_LINE_MAX];
	size_t line_len;
	int line_too_long;

	uv_timer_t endpoint_timer;
	uint64_t endpoint_deadline;
	char endpoint[256];

	uv_timer_t reap_timer; /* stage 0: grace for clients, 1: SIGKILL */
	int reap_stage;
	uv_signal_t sig_int, sig_term;
	int signals_seen;
	int setup_failed; /* we could not get the run going */
	int finished;     /* the loop's handles are closing */

	/* progress display */
	int tty;
	struct progress prog;
	int prog_shown;   /* tty: a progress line is on screen */
	int prog_pending; /* plain: prog has not been printed */
	int prog_printed; /* plain: at least one line printed */
	uint64_t prog_last_ms;
	unsigned long prog_last_round;
	int done_seen, done_ok;
	char done_reason[256];
};

static void maybe_finish(struct sim *sim);

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fcl-sim SCENARIO.yaml [--procs P] [--run-dir DIR] [--seed N] [--quiet]\n"
		"               [--server-arg ARG]... [--client-arg ARG]...\n");
}

static void help(void)
{
	usage(stdout);
	printf(
	    "\nRuns fcl-server and P fcl-client processes on this machine.\n\n"
	    "  --procs P         client processes (default: one per core, at most one per client)\n"
	    "  --run-dir DIR     run folder (default: runs/<scenario name>-<date>-<time>)\n"
	    "  --seed N          passed to the server, overrides the scenario's seed\n"
	    "  --quiet           no progress display\n"
	    "  --server-arg ARG  extra argument for fcl-server (repeatable)\n"
	    "  --client-arg ARG  extra argument for every fcl-client (repeatable)\n\n"
	    "FCL_SERVER and FCL_CLIENT override where the binaries are looked for.\n");
}

/* ------------------------------------------------------------------------------------------ */
/* command line */

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would quietly accept "-1" and leading blanks */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Matches "--name VALUE" and "--name=VALUE". Returns 1 and sets *val on a
 * match, 0 if argv[*i] is another option, -1 (after saying so) if the value
 * is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, char **val)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "fcl-sim: %s needs a value\n", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/* Returns -1 to exit 0 (--help), 0 to go on, 2 on a usage error. */
static int parse_args(struct sim *sim, int argc, char **argv)
{
	int only_positional = 0;

	/* argc bounds how many extra arguments there can be */
	sim->server_args = calloc((size_t)argc, sizeof *sim->server_args);
	sim->client_args = calloc((size_t)argc, sizeof *sim->client_args);
	if (!sim->server_args || !sim->client_args) {
		fprintf(stderr, "fcl-sim: out of memory\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *val = NULL;
		int m;

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			if (sim->scenario_path) {
				fprintf(stderr, "fcl-sim: unexpected argument '%s'\n", arg);
				goto bad;
			}
			sim->scenario_path = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
		} else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			help();
			return -1;
		} else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
			sim->quiet = 1;
		} else if ((m = opt_value(argc, argv, &i, "--procs", &val)) != 0) {
			uint64_t p;

			if (m < 0)
				goto bad;
			if (parse_u64(val, &p) || p == 0 || p > UINT32_MAX) {
				fprintf(stderr, "fcl-sim: --procs needs a positive number\n");
				goto bad;
			}
			sim->procs_opt = (unsigned long)p;
		} else if ((m = opt_value(argc, argv, &i, "--run-dir", &val)) != 0) {
			if (m < 0)
				goto bad;
			if (!*val) {
				fprintf(stderr, "fcl-sim: --run-dir needs a folder\n");
				goto bad;
			}
			sim->run_dir_opt = val;
		} else if ((m = opt_value(argc, argv, &i, "--seed", &val)) != 0) {
			if (m < 0)
				goto bad;
			if (parse_u64(val, &sim->seed)) {
				fprintf(stderr, "fcl-sim: --seed needs a non-negative number\n");
				goto bad;
			}
			sim->have_seed = 1;
		} else if ((m = opt_value(argc, argv, &i, "--server-arg", &val)) != 0) {
			if (m < 0)
				goto bad;
			sim->server_args[sim->n_server_args++] = val;
		} else if ((m = opt_value(argc, argv, &i, "--client-arg", &val)) != 0) {
			if (m < 0)
				goto bad;
			sim->client_args[sim->n_client_args++] = val;
		} else {
			fprintf(stderr, "fcl-sim: unknown option '%s'\n", arg);
			goto bad;
		}
	}
	if (!sim->scenario_path) {
		fprintf(stderr, "fcl-sim: no scenario given\n");
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}

/* ------------------------------------------------------------------------------------------ */
/* setup: run folder, binaries, environment */

/* Creates every missing parent folder of path (like mkdir -p of its dirname). */
static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* A fresh run folder: an existing one could hold a stale endpoint file, so
 * a taken name gets -2, -3 ... appended instead of being reused. */
static int make_run_dir(struct sim *sim)
{
	char base[PATH_MAX];
	int rc;

	if (sim->run_dir_opt) {
		size_t n;

		if (snprintf(base, sizeof base, "%s", sim->run_dir_opt) >= (int)sizeof base)
			goto too_long;
		n = strlen(base);
		while (n > 1 && base[n - 1] == '/')
			base[--n] = '\0';
	} else {
		char name[sizeof sim->sc.name], stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		/* the name ends up in a path: keep it to one harmless component */
		snprintf(name, sizeof name, "%s", sim->sc.name[0] ? sim->sc.name : "run");
		for (char *c = name; *c; c++)
			if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') &&
			    !(*c >= '0' && *c <= '9') && *c != '-' && *c != '_' && *c != '.')
				*c = '_';
		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		if (snprintf(base, sizeof base, "runs/%s-%s", name, stamp) >= (int)sizeof base)
			goto too_long;
	}
	rc = mkdir_parents(base);
	if (rc) {
		fcl_error("cannot create the parents of %s: %s", base, strerror(-rc));
		return -1;
	}
	for (int n = 1; n < 1000; n++) {
		int len = n == 1 ? snprintf(sim->run_dir, sizeof sim->run_dir, "%s", base)
				 : snprintf(sim->run_dir, sizeof sim->run_dir, "%s-%d", base, n);

		if (len >= (int)sizeof sim->run_dir)
			goto too_long;
		if (mkdir(sim->run_dir, 0777) == 0)
			return 0;
		if (errno != EEXIST) {
			fcl_error("cannot create %s: %s", sim->run_dir, strerror(errno));
			return -1;
		}
	}
	fcl_error("cannot find a free name for the run folder %s", base);
	return -1;
too_long:
	fcl_error("run folder path too long");
	return -1;
}

/* $ENV_NAME, else NAME next to this executable, else ../SUBDIR/NAME (the
 * meson build tree keeps tools/, server/ and client/ side by side). */
static int find_binary(char *out, size_t outlen, const char *env_name, const char *name,
		       const char *subdir)
{
	const char *env = getenv(env_name);
	char exe[PATH_MAX], beside[PATH_MAX], build[PATH_MAX];
	size_t len = sizeof exe;
	char *slash;

	if (env && *env) {
		if (access(env, X_OK) != 0) {
			fcl_error("%s=%s: not an executable: %s", env_name, env, strerror(errno));
			return -1;
		}
		if (snprintf(out, outlen, "%s", env) >= (int)outlen)
			goto too_long;
		return 0;
	}
	if (uv_exepath(exe, &len) != 0 || !(slash = strrchr(exe, '/'))) {
		fcl_error("cannot find where fcl-sim is installed; set %s", env_name);
		return -1;
	}
	*slash = '\0';
	if (snprintf(beside, sizeof beside, "%s/%s", exe, name) >= (int)sizeof beside ||
	    snprintf(build, sizeof build, "%s/../%s/%s", exe, subdir, name) >= (int)sizeof build)
		goto too_long;
	if (access(beside, X_OK) == 0 || access(build, X_OK) == 0) {
		if (snprintf(out, outlen, "%s", access(beside, X_OK) == 0 ? beside : build) >=
		    (int)outlen)
			goto too_long;
		return 0;
	}
	fcl_error("cannot find %s: tried %s and %s (set %s to its path)", name, beside, build,
		  env_name);
	return -1;
too_long:
	fcl_error("path to %s too long", name);
	return -1;
}

/* Our environment with OPENBLAS_NUM_THREADS=1: P clients on P cores must not
 * each start a thread per core. */
static char **make_env(void)
{
	static char blas_threads[] = "OPENBLAS_NUM_THREADS=1";
	static const char key[] = "OPENBLAS_NUM_THREADS=";
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], key, sizeof key - 1) != 0)
			env[k++] = environ[i];
	env[k++] = blas_threads;
	env[k] = NULL;
	return env;
}

/* O_CLOEXEC keeps each log out of the other children; libuv dup2()s it onto
 * the child's stdout/stderr, which clears the flag there. */
static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);

	if (fd < 0)
		fcl_error("cannot open %s: %s", path, strerror(errno));
	return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* progress display */

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
	if (p->round > 0 && p->rounds >= p->round)
		format_duration(eta, sizeof eta,
				p->elapsed / (double)p->round * (double)(p->rounds - p->round));
	else
		snprintf(eta, sizeof eta, "?");
	/* the server counts tasks from 0, people from 1 */
	snprintf(buf, len,
		 "round %lu/%lu  task %lu/%lu  updates %s  acc %s  up %s down %s  "
		 "elapsed %.1fs  ETA %s",
		 p->round, p->rounds, p->task + 1, p->tasks, p->updates, acc, up, down, p->elapsed,
		 eta);
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
 * every PLAIN_PROGRESS_MS; end_progress() adds the last one. */
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

static void end_progress(struct sim *sim)
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
static void log_sink(enum fcl_log_level level, const char *line, void *user)
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
}

static void on_server_out_closed(uv_handle_t *handle)
{
	struct sim *sim = handle->data;

	sim->server_out_open = 0;
	maybe_finish(sim);
}

static void close_server_out(struct sim *sim)
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
		close_server_out(sim);
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

/* ------------------------------------------------------------------------------------------ */
/* children */

static int clients_running(const struct sim *sim)
{
	for (unsigned k = 0; k < sim->procs; k++)
		if (sim->clients[k].running)
			return 1;
	return 0;
}

static void kill_child(struct child *c, int signum)
{
	if (c->running)
		uv_process_kill(&c->proc, signum);
}

static void kill_clients(struct sim *sim, int signum)
{
	for (unsigned k = 0; k < sim->procs; k++)
		kill_child(&sim->clients[k], signum);
}

static void kill_all(struct sim *sim, int signum)
{
	kill_child(&sim->server, signum);
	kill_clients(sim, signum);
}

static void on_reap_timer(uv_timer_t *timer)
{
	struct sim *sim = timer->data;

	/* the pipe should have hit EOF by now; maybe a grandchild holds it */
	if (!sim->server.running)
		close_server_out(sim);
	if (sim->reap_stage == 0) {
		if (!clients_running(sim))
			return;
		fcl_warn("clients still running %d s after the server exited; stopping them",
			 CLIENT_GRACE_MS / 1000);
		kill_clients(sim, SIGTERM);
		sim->reap_stage = 1;
		uv_timer_start(timer, on_reap_timer, KILL_GRACE_MS, 0);
	} else {
		kill_all(sim, SIGKILL);
	}
}

/* Something went wrong before the run got going: stop everyone. */
static void stop_all(struct sim *sim)
{
	sim->setup_failed = 1;
	kill_all(sim, SIGTERM);
	if (!uv_is_active((uv_handle_t *)&sim->reap_timer)) {
		sim->reap_stage = 1;
		uv_timer_start(&sim->reap_timer, on_reap_timer, KILL_GRACE_MS, 0);
	}
}

static void on_server_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct sim *sim = proc->data;

	sim->server.running = 0;
	sim->server.exit_status = exit_status;
	sim->server.term_signal = term_signal;
	uv_close((uv_handle_t *)proc, NULL);
	if (uv_is_active((uv_handle_t *)&sim->endpoint_timer)) {
		uv_timer_stop(&sim->endpoint_timer);
		fcl_error("the server exited before it published its endpoint");
		sim->setup_failed = 1;
	}
	/* clients normally leave when the server says so; give them a moment */
	if (!uv_is_active((uv_handle_t *)&sim->reap_timer)) {
		sim->reap_stage = 0;
		uv_timer_start(&sim->reap_timer, on_reap_timer, CLIENT_GRACE_MS, 0);
	}
	maybe_finish(sim);
}

static void on_client_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct sim *sim = proc->data;
	struct child *c = (struct child *)proc; /* proc is its first member */

	c->running = 0;
	c->exit_status = exit_status;
	c->term_signal = term_signal;
	uv_close((uv_handle_t *)proc, NULL);
	maybe_finish(sim);
}

/* Children get a session of their own (UV_PROCESS_DETACHED) so that Ctrl-C
 * on the terminal reaches them once, through us, not twice. */
static int spawn_child(struct sim *sim, struct child *c, char **args, uv_stdio_container_t *stdio,
		       uv_exit_cb exit_cb)
{
	uv_process_options_t opts = {
	    .exit_cb = exit_cb,
	    .file = args[0],
	    .args = args,
	    .env = sim->env,
	    .flags = UV_PROCESS_DETACHED,
	    .stdio_count = 3,
	    .stdio = stdio,
	};
	int rc;

	c->proc.data = sim;
	rc = uv_spawn(sim->loop, &c->proc, &opts);
	if (rc) {
		fcl_error("cannot start %s: %s", args[0], uv_strerror(rc));
		/* a failed uv_spawn still leaves an initialised handle */
		uv_close((uv_handle_t *)&c->proc, NULL);
		return -1;
	}
	c->spawned = c->running = 1;
	return 0;
}

/* fcl-server SCENARIO --run-dir DIR --bind tcp://127.0.0.1:* --progress [--seed N] ARGS...
 * stdout: a pipe to us (progress lines), stderr: DIR/server.log */
static int spawn_server(struct sim *sim)
{
	static char bind_any[] = "tcp://127.0.0.1:*";
	char **args = calloc(10 + sim->n_server_args, sizeof *args);
	char seed[24];
	uv_stdio_container_t stdio[3];
	size_t n = 0;
	int fd, rc;

	uv_pipe_init(sim->loop, &sim->server_out, 0);
	sim->server_out.data = sim;
	sim->server_out_open = 1;
	snprintf(sim->server.log_path, sizeof sim->server.log_path, "%s/server.log", sim->run_dir);
	fd = open_log(sim->server.log_path);
	if (!args || fd < 0) {
		free(args);
		if (fd >= 0)
			close(fd);
		close_server_out(sim);
		return -1;
	}
	args[n++] = sim->server_bin;
	args[n++] = sim->scenario_path;
	args[n++] = "--run-dir";
	args[n++] = sim->run_dir;
	args[n++] = "--bind";
	args[n++] = bind_any;
	args[n++] = "--progress";
	if (sim->have_seed) {
		snprintf(seed, sizeof seed, "%" PRIu64, sim->seed);
		args[n++] = "--seed";
		args[n++] = seed;
	}
	for (size_t i = 0; i < sim->n_server_args; i++)
		args[n++] = sim->server_args[i];
	args[n] = NULL;

	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&sim->server_out;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fd;
	rc = spawn_child(sim, &sim->server, args, stdio, on_server_exit);
	close(fd);
	free(args);
	if (rc) {
		close_server_out(sim);
		return -1;
	}
	uv_read_start((uv_stream_t *)&sim->server_out, on_server_alloc, on_server_read);
	return 0;
}

/* fcl-client --connect ENDPOINT --ids A-B ARGS..., P of them over contiguous
 * near-equal id ranges (the first ranges take the remainder).
 * stdout and stderr: DIR/client-<k>.log */
static void spawn_clients(struct sim *sim)
{
	uint32_t count = sim->sc.clients.count, base = count / sim->procs,
		 extra = count % sim->procs, next = 0;
	char **args = calloc(6 + sim->n_client_args, sizeof *args);

	if (!args) {
		fcl_error("out of memory");
		stop_all(sim);
		return;
	}
	for (unsigned k = 0; k < sim->procs; k++) {
		struct child *c = &sim->clients[k];
		uv_stdio_container_t stdio[3];
		char ids[32];
		size_t n = 0;
		int fd;

		c->first = next;
		c->last = next + base + (k < extra) - 1;
		next = c->last + 1;
		snprintf(ids, sizeof ids, "%" PRIu32 "-%" PRIu32, c->first, c->last);
		snprintf(c->log_path, sizeof c->log_path, "%s/client-%u.log", sim->run_dir, k);
		args[n++] = sim->client_bin;
		args[n++] = "--connect";
		args[n++] = sim->endpoint;
		args[n++] = "--ids";
		args[n++] = ids;
		for (size_t i = 0; i < sim->n_client_args; i++)
			args[n++] = sim->client_args[i];
		args[n] = NULL;

		fd = open_log(c->log_path);
		if (fd < 0) {
			stop_all(sim);
			break;
		}
		stdio[0].flags = UV_IGNORE;
		stdio[1].flags = UV_INHERIT_FD;
		stdio[1].data.fd = fd;
		stdio[2].flags = UV_INHERIT_FD;
		stdio[2].data.fd = fd;
		if (spawn_child(sim, c, args, stdio, on_client_exit)) {
			close(fd);
			stop_all(sim);
			break;
		}
		close(fd);
	}
	free(args);
}

/* The server renames DIR/endpoint into place, so a file that exists is whole. */
static int read_endpoint(struct sim *sim)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/endpoint", sim->run_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, sim->endpoint, sizeof sim->endpoint - 1);
	close(fd);
	if (n <= 0)
		return -1;
	sim->endpoint[n] = '\0';
	sim->endpoint[strcspn(sim->endpoint, "\r\n")] = '\0';
	return sim->endpoint[0] ? 0 : -1;
}

static void on_endpoint_timer(uv_timer_t *timer)
{
	struct sim *sim = timer->data;

	if (read_endpoint(sim) == 0) {
		uv_timer_stop(timer);
		spawn_clients(sim);
	} else if (uv_now(sim->loop) >= sim->endpoint_deadline) {
		uv_timer_stop(timer);
		fcl_error("the server did not publish %s/endpoint within %d s", sim->run_dir,
			  ENDPOINT_TIMEOUT_MS / 1000);
		stop_all(sim);
	}
}

/* First SIGINT/SIGTERM: pass it on and let everyone shut down cleanly.
 * Another one: SIGKILL. */
static void on_signal(uv_signal_t *handle, int signum)
{
	struct sim *sim = handle->data;

	/* no clients for a server that is going away */
	uv_timer_stop(&sim->endpoint_timer);
	if (++sim->signals_seen == 1) {
		fcl_warn("%s: stopping the run (again to kill it)",
			 signum == SIGINT ? "interrupted" : "terminated");
		kill_all(sim, signum);
	} else {
		fcl_warn("killing all processes");
		kill_all(sim, SIGKILL);
	}
}

/* Once every child is reaped and the pipe is closed, close the rest so
 * uv_run() returns. */
static void maybe_finish(struct sim *sim)
{
	if (sim->finished || sim->server.running || sim->server_out_open || clients_running(sim))
		return;
	sim->finished = 1;
	uv_close((uv_handle_t *)&sim->endpoint_timer, NULL);
	uv_close((uv_handle_t *)&sim->reap_timer, NULL);
	uv_close((uv_handle_t *)&sim->sig_int, NULL);
	uv_close((uv_handle_t *)&sim->sig_term, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* the end */

static void print_file(const char *path, FILE *out)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (!f)
		return;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, out);
	fclose(f);
	fflush(out);
}

/* The last `lines` lines of a log, from at most its last 64 kB. */
static void print_tail(const char *path, int lines, FILE *out)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n, pos;
	long size;
	int seen = 0;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof buf ? size - (long)sizeof buf : 0, SEEK_SET);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	/* walk back over `lines` newlines, not counting the final one */
	pos = n && buf[n - 1] == '\n' ? n - 1 : n;
	while (pos > 0 && !(buf[pos - 1] == '\n' && ++seen == lines))
		pos--;
	fprintf(out, "==> %s (last %d lines) <==\n", path, lines);
	fwrite(buf + pos, 1, n - pos, out);
	if (n == 0)
		fprintf(out, "(empty)\n");
	else if (buf[n - 1] != '\n')
		fprintf(out, "\n");
	fflush(out);
}

static int child_failed(const struct child *c)
{
	return c->spawned && (c->exit_status != 0 || c->term_signal != 0);
}

static void describe_exit(const struct child *c, char *buf, size_t len)
{
	if (c->term_signal)
		snprintf(buf, len, "was killed by signal %d (%s)", c->term_signal,
			 strsignal(c->term_signal));
	else
		snprintf(buf, len, "exited with status %" PRId64, c->exit_status);
}

/* Prints the outcome; returns the exit code. */
static int report(struct sim *sim)
{
	char path[PATH_MAX], how[96];
	int server_failed = !sim->server.spawned || child_failed(&sim->server);

	end_progress(sim);
	snprintf(path, sizeof path, "%s/summary.txt", sim->run_dir);
	print_file(path, stdout);
	printf("run folder: %s\n", sim->run_dir);
	fflush(stdout);

	for (unsigned k = 0; k < sim->procs; k++) {
		struct child *c = &sim->clients[k];

		if (!child_failed(c))
			continue;
		describe_exit(c, how, sizeof how);
		fcl_warn("client process %u (ids %" PRIu32 "-%" PRIu32 ") %s, see %s", k, c->first,
			 c->last, how, c->log_path);
	}
	if (sim->done_seen && !sim->done_ok)
		fcl_error("the server reported failure: %s",
			  sim->done_reason[0] ? sim->done_reason : "(no reason given)");
	if (server_failed) {
		if (sim->server.spawned) {
			print_tail(sim->server.log_path, TAIL_LINES, stderr);
			for (unsigned k = 0; k < sim->procs; k++)
				if (child_failed(&sim->clients[k]))
					print_tail(sim->clients[k].log_path, TAIL_LINES, stderr);
			describe_exit(&sim->server, how, sizeof how);
			fcl_error("the server %s", how);
		}
		return 1;
	}
	if (sim->setup_failed || sim->signals_seen || (sim->done_seen && !sim->done_ok)) {
		fcl_error("the run did not complete");
		return 1;
	}
	return 0;
}

static int run(struct sim *sim)
{
	if (sim->sc.clients.count == 0) {
		fcl_error("%s: the scenario has no clients", sim->scenario_path);
		return 2;
	}
	sim->procs = sim->procs_opt ? (unsigned)sim->procs_opt : uv_available_parallelism();
	if (sim->procs > sim->sc.clients.count)
		sim->procs = sim->sc.clients.count;
	if (sim->procs < 1)
		sim->procs = 1;
	if (find_binary(sim->server_bin, sizeof sim->server_bin, "FCL_SERVER", "fcl-server",
			"server") ||
	    find_binary(sim->client_bin, sizeof sim->client_bin, "FCL_CLIENT", "fcl-client",
			"client"))
		return 1;
	sim->clients = calloc(sim->procs, sizeof *sim->clients);
	sim->env = make_env();
	if (!sim->clients || !sim->env) {
		fcl_error("out of memory");
		return 1;
	}
	if (make_run_dir(sim))
		return 1;
	if (!sim->quiet)
		printf("%s: %u clients in %u processes, run folder %s\n", sim->sc.name,
		       sim->sc.clients.count, sim->procs, sim->run_dir);
	fflush(stdout);

	sim->loop = uv_default_loop();
	uv_timer_init(sim->loop, &sim->endpoint_timer);
	uv_timer_init(sim->loop, &sim->reap_timer);
	uv_signal_init(sim->loop, &sim->sig_int);
	uv_signal_init(sim->loop, &sim->sig_term);
	sim->endpoint_timer.data = sim->reap_timer.data = sim;
	sim->sig_int.data = sim->sig_term.data = sim;
	uv_signal_start(&sim->sig_int, on_signal, SIGINT);
	uv_signal_start(&sim->sig_term, on_signal, SIGTERM);

	if (spawn_server(sim) == 0) {
		sim->endpoint_deadline = uv_now(sim->loop) + ENDPOINT_TIMEOUT_MS;
		uv_timer_start(&sim->endpoint_timer, on_endpoint_timer, ENDPOINT_POLL_MS,
			       ENDPOINT_POLL_MS);
	} else {
		sim->setup_failed = 1;
	}
	maybe_finish(sim); /* nothing to wait for if the server did not start */
	uv_run(sim->loop, UV_RUN_DEFAULT);
	uv_loop_close(sim->loop);
	return report(sim);
}

int main(int argc, char **argv)
{
	static struct sim sim; /* large; static keeps it off the stack */
	char err[512];
	int rc;

	rc = parse_args(&sim, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	fcl_log_set_tag("fcl-sim");
	fcl_log_set(log_sink, &sim);
	/* a closed stdout (fcl-sim | head) must not kill us and orphan the
	 * children; libuv resets signal dispositions in them */
	signal(SIGPIPE, SIG_IGN);
	sim.tty = uv_guess_handle(STDOUT_FILENO) == UV_TTY;

	if (fcl_scenario_load(&sim.sc, sim.scenario_path, NULL, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	rc = run(&sim);
	free(sim.clients);
	free(sim.env);
	free(sim.server_args);
	free(sim.client_args);
	return rc;
}
