/* tools/sim/main.c - fcl-sim: run a whole scenario on one machine
 *
 * Starts fcl-server, waits until it publishes its endpoint in the run folder,
 * then starts P fcl-client processes that share the logical clients between
 * them. Shows the server's progress lines, forwards Ctrl-C, makes sure every
 * child is gone at the end and prints the run summary.
 *
 *   fcl-sim SCENARIO.yaml [--procs P] [--run-dir DIR] [--seed N] [--quiet]
 *           [--server-arg ARG]... [--client-arg ARG]...
 *   fcl-sim --resume RUN_DIR [--procs P] ...
 *
 * A server that dies without its last word (SIGKILL) leaves a run folder
 * that says so (fcl/runstatus.h); with run.on_client_loss: rollback, a
 * client process that dies is started again and the server rolls back.
 */
#include "sim.h"

#include "fcl/runstatus.h"
#include "fcl/util.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAIL_LINES 20

/* ------------------------------------------------------------------------------------------ */
/* the run folder */

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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

/* --force: the files a run leaves in dir (its top-level files, and the
 * schedule/, checkpoints/ and report/ folders), so that nothing of the old
 * run (an endpoint, a checkpoint, a log, its keys, an exported model) is taken
 * for the new one's. A folder
 * that holds anything else is not a run folder: refused. 0 or -1 (said). */
static int clear_run_dir(const char *dir)
{
	static const char *const subdirs[] = {"schedule", "checkpoints", "report", "keys", "model"};
	char path[PATH_MAX];
	struct dirent *d;
	struct stat st;
	DIR *f = opendir(dir);
	int rc = 0;

	if (!f) {
		fcl_error("cannot open %s: %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (d = readdir(f)) != NULL) {
		int known = 0;
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, d->d_name);
		if (lstat(path, &st) != 0)
			continue;
		for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++)
			known |= S_ISDIR(st.st_mode) && !strcmp(d->d_name, subdirs[i]);
		if (!known && !S_ISREG(st.st_mode)) {
			fcl_error("%s is not a run folder (it holds %s): not replacing it", dir,
				  d->d_name);
			rc = -1;
		}
	}
	rewinddir(f);
	while (rc == 0 && (d = readdir(f)) != NULL) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, d->d_name);
		if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
			fcl_error("cannot remove %s: %s", path, strerror(errno));
			rc = -1;
		}
	}
	closedir(f);
	return rc;
}

/* --run-dir DIR: a folder that exists holds another run (and could hold a
 * stale endpoint file): refused, or with --force emptied of that run's files. */
static int take_run_dir(struct sim *sim, const char *base)
{
	struct stat st;
	int rc = mkdir_parents(base);

	if (rc) {
		fcl_error("cannot create the parents of %s: %s", base, strerror(-rc));
		return -1;
	}
	if (snprintf(sim->run_dir, sizeof sim->run_dir, "%s", base) >= (int)sizeof sim->run_dir) {
		fcl_error("run folder path too long");
		return -1;
	}
	if (mkdir(sim->run_dir, 0777) == 0)
		return 0;
	if (errno != EEXIST || stat(sim->run_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fcl_error("cannot create %s: %s", sim->run_dir, strerror(errno));
		return -1;
	}
	if (!sim->force) {
		fcl_error("the run folder %s exists: give another --run-dir, or --force to "
			  "replace the run it holds",
			  sim->run_dir);
		return -2;
	}
	return clear_run_dir(sim->run_dir);
}

/* A fresh run folder. Without --run-dir, a taken name gets -2, -3 ...
 * appended instead of being reused. */
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
		return take_run_dir(sim, base);
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
void sim_print_tail(const char *path, int lines, FILE *out)
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

/* The server died without its last word (SIGKILL, a crash): the run folder
 * would only say it was going on. Now it says what happened. */
static void mark_run_dir(struct sim *sim)
{
	char how[96], why[512], ckpt[PATH_MAX];
	struct stat st;

	if (!sim->server.spawned || (sim->done_seen && sim->server.term_signal == 0))
		return;
	/* a server that exited by itself said why, if it could: keep its word */
	if (sim->server.term_signal == 0 && fcl_run_reason(sim->run_dir, why, sizeof why) == 0 &&
	    strncmp(why, "the run is going on", 19) != 0)
		return;
	describe_exit(&sim->server, how, sizeof how);
	snprintf(ckpt, sizeof ckpt, "%s/checkpoints", sim->run_dir);
	snprintf(why, sizeof why, "the coordinator (fcl-server, pid %d) %s after %lu rounds%s; %s",
		 sim->server.proc.pid, how, sim->rounds_done,
		 sim->server.term_signal == SIGKILL ? " (SIGKILL: killed by hand, or by the "
						      "kernel out of memory)"
						    : "",
		 stat(ckpt, &st) == 0 ? "fcl-sim --resume goes on from its newest checkpoint"
				      : "it left no checkpoint to resume from");
	if (fcl_run_mark_unfinished(sim->run_dir, why) < 0)
		fcl_warn("cannot mark %s as unfinished", sim->run_dir);
}

/* Prints the outcome; returns the exit code. */
static int report(struct sim *sim)
{
	char path[PATH_MAX], how[96];
	int server_failed = !sim->server.spawned || child_failed(&sim->server);

	if (sim->client_failed) { /* said when it happened, with the client's log */
		fcl_error("the run did not start: client process %d failed (%s)",
			  sim->client_failed - 1, sim->clients[sim->client_failed - 1].log_path);
		return 1;
	}
	if (server_failed)
		mark_run_dir(sim);
	sim_end_progress(sim);
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
			sim_print_tail(sim->server.log_path, TAIL_LINES, stderr);
			for (unsigned k = 0; k < sim->procs; k++)
				if (child_failed(&sim->clients[k]))
					sim_print_tail(sim->clients[k].log_path, TAIL_LINES, stderr);
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

/* --resume: the run folder as it is, its clients counted by fcl-server. */
static int resume_dir(struct sim *sim)
{
	char path[PATH_MAX];
	size_t n;
	uint32_t count;

	if (snprintf(sim->run_dir, sizeof sim->run_dir, "%s", sim->resume_dir) >=
	    (int)sizeof sim->run_dir) {
		fcl_error("run folder path too long");
		return -1;
	}
	n = strlen(sim->run_dir);
	while (n > 1 && sim->run_dir[n - 1] == '/')
		sim->run_dir[--n] = '\0';
	if (fcl_run_is_complete(sim->run_dir)) {
		fcl_error("the run in %s is complete: nothing to resume", sim->run_dir);
		return -1;
	}
	if (sim_resume_clients(sim, &count) != 0)
		return -1;
	sim->sc.clients.count = count;
	snprintf(sim->sc.name, sizeof sim->sc.name, "%s",
		 strrchr(sim->run_dir, '/') ? strrchr(sim->run_dir, '/') + 1 : sim->run_dir);
	/* the endpoint of the run that stopped must not be taken for the new one's */
	snprintf(path, sizeof path, "%s/endpoint", sim->run_dir);
	if (unlink(path) != 0 && errno != ENOENT) {
		fcl_error("cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int run(struct sim *sim)
{
	if (sim->resume_dir) {
		if (sim_find_binary(sim->server_bin, sizeof sim->server_bin, "FCL_SERVER",
				    "fcl-server", "server") ||
		    resume_dir(sim))
			return 2;
	}
	if (sim->sc.clients.count == 0) {
		fcl_error("%s: the scenario has no clients", sim->scenario_path);
		return 2;
	}
	sim->procs = sim->procs_opt ? (unsigned)sim->procs_opt : uv_available_parallelism();
	if (sim->procs > sim->sc.clients.count)
		sim->procs = sim->sc.clients.count;
	if (sim->procs < 1)
		sim->procs = 1;
	if (sim_find_binary(sim->server_bin, sizeof sim->server_bin, "FCL_SERVER", "fcl-server",
			    "server") ||
	    sim_find_binary(sim->client_bin, sizeof sim->client_bin, "FCL_CLIENT", "fcl-client",
			    "client"))
		return 1;
	sim->clients = calloc(sim->procs, sizeof *sim->clients);
	sim->env = sim_make_env();
	if (!sim->clients || !sim->env) {
		fcl_error("out of memory");
		return 1;
	}
	int made = sim->resume_dir ? 0 : make_run_dir(sim);
	if (made)
		return made == -2 ? 2 : 1;
	sim_assign_clients(sim);
	if (sim_make_keys(sim) != 0)
		return 1;
	if (!sim->quiet)
		printf("%s: %u clients in %u processes, run folder %s%s\n", sim->sc.name,
		       sim->sc.clients.count, sim->procs, sim->run_dir,
		       sim->resume_dir ? " (resumed)" : "");
	fflush(stdout);

	sim_launch(sim);
	uv_run(sim->loop, UV_RUN_DEFAULT);
	uv_loop_close(sim->loop);
	return report(sim);
}

int main(int argc, char **argv)
{
	static struct sim sim; /* large; static keeps it off the stack */
	char err[512];
	int rc;

	rc = sim_parse_args(&sim, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	fcl_log_set_tag("fcl-sim");
	fcl_log_set(sim_log_sink, &sim);
	/* a closed stdout (fcl-sim | head) must not kill us and orphan the
	 * children; libuv resets signal dispositions in them */
	signal(SIGPIPE, SIG_IGN);
	sim.tty = uv_guess_handle(STDOUT_FILENO) == UV_TTY;

	/* out of file descriptors, thousands of children's pipes would fail */
	fcl_raise_fd_limit(NULL);
	if (!sim.resume_dir &&
	    fcl_scenario_load(&sim.sc, sim.scenario_path, NULL, NULL, err, sizeof err) != 0) {
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
