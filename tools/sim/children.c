/* tools/sim/children.c - the server and client processes: start, watch, stop
 *
 * The server starts first; once it has published its endpoint in the run
 * folder the clients follow. Ctrl-C is passed on, clients that outlive the
 * server are stopped, and the event loop ends when every child is reaped.
 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENDPOINT_POLL_MS 20
#define ENDPOINT_NOTE_MS 30000 /* a server this slow to listen gets a word, not a kill */
#define MAX_REPLACEMENTS 5     /* per client process: a crash that repeats is no accident */
#define CLIENT_GRACE_MS 5000   /* clients may outlive the server by this much */
#define KILL_GRACE_MS 2000     /* between SIGTERM and SIGKILL */

/* ------------------------------------------------------------------------------------------ */
/* setup: binaries, environment, logs */

/* $ENV_NAME, else NAME next to this executable, else ../SUBDIR/NAME (the
 * meson build tree keeps tools/, server/ and client/ side by side). */
int sim_find_binary(char *out, size_t outlen, const char *env_name, const char *name,
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
char **sim_make_env(void)
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
/* the processes */

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
		sim_close_server_out(sim);
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
	sim_maybe_finish(sim);
}

static int spawn_client(struct sim *sim, unsigned k);

/* A replacement for client process k, if the server awaits one and the run
 * is not ending; 1 when one started. */
static int replace_client(struct sim *sim, unsigned k)
{
	struct child *c = &sim->clients[k];

	if (!c->replace || c->running || c->closing || !sim->server.running || sim->signals_seen ||
	    sim->done_seen)
		return 0;
	c->replace = 0;
	if (++c->replacements > MAX_REPLACEMENTS) {
		fcl_error("client process %u (ids %" PRIu32 "-%" PRIu32 ") was lost %u times: not "
			  "starting it again",
			  k, c->first, c->last, c->replacements);
		return 0;
	}
	fcl_warn("client process %u (ids %" PRIu32 "-%" PRIu32 ") is gone; starting a "
		 "replacement (the run rolls back to its last checkpoint)",
		 k, c->first, c->last);
	return spawn_client(sim, k) == 0;
}

static void on_client_closed(uv_handle_t *handle)
{
	struct sim *sim = handle->data;
	struct child *c = (struct child *)handle;

	c->closing = 0;
	/* the handle is free again: a replacement may use it */
	for (unsigned k = 0; k < sim->procs; k++)
		if (&sim->clients[k] == c && replace_client(sim, k))
			return;
	sim_maybe_finish(sim);
}

/* A client process that exits before the run began (a data folder it cannot
 * read, a scenario it refuses) would leave the server waiting for its join
 * timeout: stop the run now, with the client's own words. */
static void client_gone_early(struct sim *sim, struct child *c)
{
	char how[96];

	if (sim->joined || sim->client_failed || sim->signals_seen || sim->setup_failed)
		return;
	for (unsigned k = 0; k < sim->procs; k++)
		if (&sim->clients[k] == c)
			sim->client_failed = (int)k + 1;
	if (c->term_signal)
		snprintf(how, sizeof how, "was killed by signal %d", c->term_signal);
	else
		snprintf(how, sizeof how, "exited with status %" PRId64, c->exit_status);
	sim_end_progress(sim);
	fcl_error("client process %d (ids %" PRIu32 "-%" PRIu32 ") %s before the run began; "
		  "stopping the run. Its log:",
		  sim->client_failed - 1, c->first, c->last, how);
	sim_print_tail(c->log_path, 10, stderr);
	stop_all(sim);
}

static void on_client_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct child *c = (struct child *)proc; /* proc is its first member */
	struct sim *sim = proc->data;

	c->running = 0;
	c->closing = 1;
	c->exit_status = exit_status;
	c->term_signal = term_signal;
	uv_close((uv_handle_t *)proc, on_client_closed);
	client_gone_early(sim, c);
}

void sim_replace_client(struct sim *sim, uint32_t first, uint32_t last)
{
	for (unsigned k = 0; k < sim->procs; k++)
		if (sim->clients[k].first == first && sim->clients[k].last == last) {
			sim->clients[k].replace = 1;
			/* already reaped: now; else when it is */
			if (sim->clients[k].spawned)
				replace_client(sim, k);
			return;
		}
	fcl_warn("the server lost ids %" PRIu32 "-%" PRIu32 ", which no process of ours hosts",
		 first, last);
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
	c->exit_status = 0;
	c->term_signal = 0;
	return 0;
}

/* fcl-server SCENARIO --run-dir DIR --bind tcp://127.0.0.1:* --progress [--seed N] ARGS...
 * (or --resume --run-dir DIR ...), with --stop-with-parent: killed with
 * SIGKILL, we cannot stop it, so it stops itself when we die.
 * stdout: a pipe to us (progress lines), stderr: DIR/server.log */
static int spawn_server(struct sim *sim)
{
	static char bind_any[] = "tcp://127.0.0.1:*";
	char **args = calloc(16 + sim->n_server_args, sizeof *args);
	char seed[24], key[PATH_MAX + 32], allow[PATH_MAX + 32];
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
		sim_close_server_out(sim);
		return -1;
	}
	args[n++] = sim->server_bin;
	if (sim->resume_dir)
		args[n++] = "--resume";
	else
		args[n++] = sim->scenario_path;
	args[n++] = "--run-dir";
	args[n++] = sim->run_dir;
	args[n++] = "--bind";
	args[n++] = bind_any;
	args[n++] = "--progress";
	args[n++] = "--stop-with-parent";
	if (sim->insecure_plain) {
		args[n++] = "--insecure-plain";
	} else {
		snprintf(key, sizeof key, "--curve-key=%s/server.key", sim->keys_dir);
		snprintf(allow, sizeof allow, "--allow=%s/allow", sim->keys_dir);
		args[n++] = key;
		args[n++] = allow;
	}
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
		sim_close_server_out(sim);
		return -1;
	}
	sim_read_server_out(sim);
	return 0;
}

/* fcl-client --connect ENDPOINT --ids A-B ARGS... for client process k.
 * stdout and stderr: DIR/client-<k>.log (appended). 0 or -1 (said). */
static int spawn_client(struct sim *sim, unsigned k)
{
	struct child *c = &sim->clients[k];
	char **args = calloc(9 + sim->n_client_args, sizeof *args);
	uv_stdio_container_t stdio[3];
	char ids[32], key[PATH_MAX + 32], pub[PATH_MAX + 32];
	size_t n = 0;
	int fd, rc;

	if (!args) {
		fcl_error("out of memory");
		return -1;
	}
	snprintf(ids, sizeof ids, "%" PRIu32 "-%" PRIu32, c->first, c->last);
	args[n++] = sim->client_bin;
	args[n++] = "--connect";
	args[n++] = sim->endpoint;
	args[n++] = "--ids";
	args[n++] = ids;
	if (sim->insecure_plain) {
		args[n++] = "--insecure-plain";
	} else {
		snprintf(key, sizeof key, "--curve-key=%s/client-%u.key", sim->keys_dir, k);
		snprintf(pub, sizeof pub, "--server-pub=%s/server.pub", sim->keys_dir);
		args[n++] = key;
		args[n++] = pub;
	}
	for (size_t i = 0; i < sim->n_client_args; i++)
		args[n++] = sim->client_args[i];
	args[n] = NULL;
	fd = open_log(c->log_path);
	if (fd < 0) {
		free(args);
		return -1;
	}
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fd;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fd;
	rc = spawn_child(sim, c, args, stdio, on_client_exit);
	close(fd);
	free(args);
	return rc;
}

/* P client processes over contiguous near-equal id ranges (the first
 * ranges take the remainder). */
void sim_assign_clients(struct sim *sim)
{
	uint32_t count = sim->sc.clients.count, base = count / sim->procs,
		 extra = count % sim->procs, next = 0;

	for (unsigned k = 0; k < sim->procs; k++) {
		struct child *c = &sim->clients[k];
		c->first = next;
		c->last = next + base + (k < extra) - 1;
		next = c->last + 1;
	}
}

static void spawn_clients(struct sim *sim)
{
	for (unsigned k = 0; k < sim->procs; k++) {
		struct child *c = &sim->clients[k];
		snprintf(c->log_path, sizeof c->log_path, "%s/client-%u.log", sim->run_dir, k);
		if (spawn_client(sim, k) != 0) {
			stop_all(sim);
			break;
		}
	}
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
	} else if (uv_now(sim->loop) >= sim->endpoint_deadline && !sim->endpoint_late_said) {
		/* Loading a large data set takes a while; a server that fails exits
		 * and says why (on_server_exit), one that hangs gets Ctrl-C. */
		fcl_warn("the server has not published %s/endpoint after %d s (still loading?); "
			 "waiting",
			 sim->run_dir, ENDPOINT_NOTE_MS / 1000);
		sim->endpoint_late_said = 1;
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
void sim_maybe_finish(struct sim *sim)
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
/* the start */

/* The event loop with its timers and signal handlers, and the server;
 * on_endpoint_timer starts the clients once the server has published its
 * endpoint. uv_run() then runs until sim_maybe_finish closes everything. */
void sim_launch(struct sim *sim)
{
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
		sim->endpoint_deadline = uv_now(sim->loop) + ENDPOINT_NOTE_MS;
		uv_timer_start(&sim->endpoint_timer, on_endpoint_timer, ENDPOINT_POLL_MS,
			       ENDPOINT_POLL_MS);
	} else {
		sim->setup_failed = 1;
	}
	sim_maybe_finish(sim); /* nothing to wait for if the server did not start */
}

/* ------------------------------------------------------------------------------------------ */
/* resuming */

int sim_resume_clients(struct sim *sim, uint32_t *n)
{
	char *args[] = {sim->server_bin,      "--resume",        "--run-dir",
			(char *)sim->run_dir, "--count-clients", NULL};
	char out[64] = "";
	int fds[2], status;
	ssize_t got = 0;

	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(args[0], args);
		_exit(127);
	}
	close(fds[1]);
	if (pid > 0)
		got = read(fds[0], out, sizeof out - 1);
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || got <= 0) {
		fcl_error("cannot resume the run in %s (see above)", sim->run_dir);
		return -1;
	}
	*n = (uint32_t)strtoul(out, NULL, 10);
	return *n ? 0 : -1;
}
