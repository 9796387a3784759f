/* tools/compare_runs.c - fcl-compare's runs: fcl-sim on each derived
 * scenario, one after the other, with a progress line across the sweep.
 *
 * fcl-sim runs in a process group of its own, so Ctrl-C reaches fcl-compare
 * only: it passes the signal on once, fcl-sim stops its run cleanly, and the
 * sweep stops there. `--resume` then runs what is missing. The progress of
 * the current run is read from fcl-sim's log (its plain "round R/N ..." lines).
 */
#include "compare.h"

#include "fcl/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 200
#define PLAIN_EVERY_S 10.0 /* progress lines when stderr is not a terminal */

static volatile sig_atomic_t stop_signal;

static void on_stop(int signum)
{
	stop_signal = signum;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(char *buf, size_t len, double s)
{
	if (!(s >= 0) || s > 1e9)
		snprintf(buf, len, "?");
	else if (s < 60)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%ldm%02lds", lround(s) / 60, lround(s) % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", lround(s) / 3600, lround(s) / 60 % 60);
}

/* The last "round R/N" fcl-sim wrote in its log; 0 when there is none yet. */
static int last_round(const char *log, unsigned long *round, unsigned long *rounds)
{
	char buf[4096];
	int fd = open(log, O_RDONLY);
	if (fd < 0)
		return 0;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, from);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	int found = 0;
	for (char *p = buf; (p = strstr(p, "round ")) != NULL; p++) {
		unsigned long r, t;
		if ((p == buf || p[-1] == '\n') && sscanf(p, "round %lu/%lu", &r, &t) == 2)
			*round = r, *rounds = t, found = 1;
	}
	return found;
}

/* The sweep as it stands. */
struct sweep {
	size_t index, total; /* the current run, counted from 1, of the runs to do */
	double done_wall;    /* wall seconds of the runs finished in this sweep */
	size_t done;
	int tty;
	double last_plain;
};

static void show_progress(struct sweep *s, const struct result *r, double t0)
{
	unsigned long round = 0, rounds = 0;
	char run_eta[48], sweep_eta[48], line[320];
	double elapsed = now() - t0, left = NAN;

	if (last_round(r->log, &round, &rounds) && round > 0 && rounds >= round)
		left = elapsed / (double)round * (double)(rounds - round);
	/* the runs still to come take what the finished ones took on average,
	 * or, before any finished, what this one will */
	double per_run = s->done ? s->done_wall / (double)s->done : elapsed + left;
	double sweep_left = left + per_run * (double)(s->total - s->index);
	format_duration(run_eta, sizeof run_eta, left);
	format_duration(sweep_eta, sizeof sweep_eta, sweep_left);
	if (rounds)
		snprintf(line, sizeof line,
			 "run %zu/%zu %s seed %" PRIu64 ": round %lu/%lu, ETA %s; sweep ETA %s",
			 s->index, s->total, r->rule, r->seed, round, rounds, run_eta, sweep_eta);
	else
		snprintf(line, sizeof line, "run %zu/%zu %s seed %" PRIu64 ": starting", s->index,
			 s->total, r->rule, r->seed);
	if (s->tty) {
		fprintf(stderr, "\r%.*s\033[K", 150, line);
	} else if (now() - s->last_plain >= PLAIN_EVERY_S) {
		fprintf(stderr, "fcl-compare: %s\n", line);
		s->last_plain = now();
	}
}

/* fcl-sim on r's derived scenario, its output into r's log; its exit status
 * (-1: it did not exit normally). */
static int run_sim(const struct compare *c, const struct result *r, struct sweep *s)
{
	const char *argv[16 + 2 * 64];
	size_t n = 0;
	argv[n++] = c->sim;
	argv[n++] = r->yaml;
	argv[n++] = "--run-dir";
	argv[n++] = r->dir;
	argv[n++] = "--force"; /* the sweep owns its run folders; fcl-sim refuses one that exists */
	if (c->procs) {
		argv[n++] = "--procs";
		argv[n++] = c->procs;
	}
	for (size_t i = 0; i < c->n_client_args; i++) {
		argv[n++] = "--client-arg";
		argv[n++] = c->client_args[i];
	}
	argv[n] = NULL;

	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		setpgid(0, 0);                  /* Ctrl-C is ours to pass on */
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* and it ends when we do */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(c->sim, (char *const *)argv);
		_exit(127);
	}
	int st, passed_on = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -1;
		if (stop_signal && !passed_on) {
			kill(pid, stop_signal);
			passed_on = 1;
		}
		show_progress(s, r, t0);
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (s->tty)
		fprintf(stderr, "\r\033[K");
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int compare_remove_tree(const char *path)
{
	if (access(path, F_OK) != 0)
		return 0;
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One run: a fresh folder, fcl-sim, its results; the stamp that lets
 * --resume keep it once it is complete. */
static void run_one(struct compare *c, struct result *r, struct sweep *s)
{
	char stamp[96];

	unlink(r->done);
	if (compare_remove_tree(r->dir) != 0)
		fprintf(stderr, "fcl-compare: cannot clear %s: %s\n", r->dir, strerror(errno));
	double t0 = now();
	int rc = run_sim(c, r, s);
	r->wall = now() - t0;
	r->ok = rc == 0 && compare_read_run(r->dir, r->rounds_per_task, c->target, r) == 0;
	if (r->ok) {
		int len = snprintf(stamp, sizeof stamp, "hash=%016" PRIx64 " wall=%.3f\n", r->hash,
				   r->wall);
		if (fcl_write_file_atomic(r->done, stamp, (size_t)len) != 0)
			fprintf(stderr, "fcl-compare: cannot write %s\n", r->done);
		s->done_wall += r->wall;
		s->done++;
	}
	if (r->ok)
		fprintf(stderr, "fcl-compare: run %zu/%zu %s seed %" PRIu64 ": %.2f%% in %.1f s\n",
			s->index, s->total, r->rule, r->seed, 100 * r->acc, r->wall);
	else
		fprintf(stderr,
			"fcl-compare: run %zu/%zu %s seed %" PRIu64 ": %s (%.1f s), see %s\n",
			s->index, s->total, r->rule, r->seed, stop_signal ? "interrupted" : "failed",
			r->wall, r->log);
}

int compare_run_all(struct compare *c, int *failed)
{
	struct sweep s = {.tty = isatty(STDERR_FILENO), .last_plain = -1e9};
	size_t n = c->n_rules * c->n_seeds;
	struct sigaction sa = {.sa_handler = on_stop};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (size_t i = 0; i < n; i++)
		s.total += !c->res[i].skipped;
	for (size_t i = 0; i < n && !stop_signal; i++) {
		struct result *r = &c->res[i];
		if (r->skipped)
			continue;
		s.index++;
		run_one(c, r, &s);
		*failed += !r->ok;
	}
	if (!stop_signal)
		return 0;
	fprintf(stderr,
		"fcl-compare: %s: stopped after %zu of %zu runs; the same command with --resume "
		"runs the rest\n",
		stop_signal == SIGINT ? "interrupted" : "terminated", s.done, s.total);
	return 1;
}

int compare_plot(const struct compare *c)
{
	char report[PATH_MAX + 16], out[PATH_MAX];
	const char *argv[8];
	int st = 0;

	snprintf(report, sizeof report, "%s", c->sim);
	snprintf(strrchr(report, '/') + 1, 16, "fcl-report");
	snprintf(out, sizeof out, "%s/plots", c->out);
	argv[0] = report;
	argv[1] = "-o";
	argv[2] = out;
	argv[3] = c->out;
	argv[4] = NULL;
	fprintf(stderr, "fcl-compare: plotting into %s\n", out);
	pid_t pid = fork();
	if (pid == 0) {
		execv(report, (char *const *)argv);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
