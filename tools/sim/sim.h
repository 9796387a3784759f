/* tools/sim/sim.h - what the files of fcl-sim share
 *
 * args.c reads the command line, children.c starts, watches and stops the
 * server and client processes, progress.c turns the server's stdout into
 * the progress display, main.c makes the run folder and reports the end.
 */
#ifndef FCL_SIM_H
#define FCL_SIM_H
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <uv.h>

#include "fcl/log.h"
#include "fcl/scenario.h"

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
	int closing;           /* exited, its handle not closed yet */
	int replace;           /* clients only: the server awaits a replacement (rollback) */
	unsigned replacements; /* clients only: started again so far */
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
	const char *resume_dir;  /* --resume: the run folder to go on with */
	unsigned long procs_opt; /* 0: one per core */
	int have_seed;
	uint64_t seed;
	int quiet;
	int insecure_plain; /* --insecure-plain: no keys, plain TCP */
	int force; /* --force: an existing --run-dir's run is replaced */
	char **server_args, **client_args;
	size_t n_server_args, n_client_args;

	struct fcl_scenario sc;
	char run_dir[PATH_MAX - 64]; /* leaves room for the file names inside */
	char server_bin[PATH_MAX], client_bin[PATH_MAX];
	char keys_dir[PATH_MAX - 32]; /* DIR/keys: this launch's CURVE keys (keys.c) */
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
	int joined;           /* the server said every client process is in */
	int client_failed;    /* 1 + the client process that exited before joining */
	char done_reason[256];
	int endpoint_late_said;    /* the server's slow start was mentioned */
	unsigned long rounds_done; /* from the progress lines */
};

/* args.c: fills the command line part of sim. Returns -1 to exit 0
 * (--help), 0 to go on, 2 on a usage error (after saying so). */
int sim_parse_args(struct sim *sim, int argc, char **argv);

/* children.c */
/* $ENV_NAME, else NAME next to fcl-sim, else ../SUBDIR/NAME; -1 after saying so. */
int sim_find_binary(char *out, size_t outlen, const char *env_name, const char *name,
		    const char *subdir);
/* Our environment with OPENBLAS_NUM_THREADS=1, or NULL. */
char **sim_make_env(void);
/* Sets up the loop and starts the server (the clients follow by themselves). */
void sim_launch(struct sim *sim);
/* Closes the loop's handles once every child is reaped and the pipe closed. */
void sim_maybe_finish(struct sim *sim);
/* The server lost the client process hosting ids first..last and awaits a
 * replacement (run.on_client_loss: rollback): start one once it is reaped. */
void sim_replace_client(struct sim *sim, uint32_t first, uint32_t last);
/* --resume: the run folder's logical clients, from fcl-server. 0, or -1
 * after saying why. */
int sim_resume_clients(struct sim *sim, uint32_t *n);

/* Splits the logical clients over the client processes (first, last). */
void sim_assign_clients(struct sim *sim);

/* keys.c */
/* The launch's CURVE keys in DIR/keys: the server's, one pair per client
 * process, the allow file binding each to its ids (after
 * sim_assign_clients). Nothing with --insecure-plain. 0 or -1 (said). */
int sim_make_keys(struct sim *sim);
/* main.c: the last `lines` lines of a log, on out. */
void sim_print_tail(const char *path, int lines, FILE *out);

/* progress.c */
/* fcl's log lines, kept clear of the progress line. */
void sim_log_sink(enum fcl_log_level level, const char *line, void *user);
/* Ends the progress display before the summary. */
void sim_end_progress(struct sim *sim);
/* Starts reading the server's stdout (sim->server_out). */
void sim_read_server_out(struct sim *sim);
void sim_close_server_out(struct sim *sim);

#endif
