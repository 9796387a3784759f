/* tools/sim/args.c - fcl-sim's command line */
#include "sim.h"

#include "fcl/cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fcl-sim SCENARIO.yaml [--procs P] [--run-dir DIR [--force]] [--seed N] [--quiet]\n"
		"               [--insecure-plain] [--server-arg ARG]... [--client-arg ARG]...\n"
		"       fcl-sim --resume RUN_DIR [--procs P] [--quiet] [--server-arg ARG]...\n"
		"               [--client-arg ARG]...\n"
		"       fcl-sim --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf(
	    "\nRuns fcl-server and P fcl-client processes on this machine.\n\n"
	    "  --procs P         client processes (default: one per core, at most one per client)\n"
	    "  --run-dir DIR     run folder (default: runs/<scenario name>-<date>-<time>);\n"
	    "                    a folder that exists is refused\n"
	    "  --force           with --run-dir: replace the run in a folder that exists\n"
	    "  --seed N          passed to the server, overrides the scenario's seed\n"
	    "  --resume RUN_DIR  go on with the run in RUN_DIR from its newest checkpoint;\n"
	    "                    the results are those of an uninterrupted run, whatever P\n"
	    "  -q, --quiet       no progress display\n"
	    "  --insecure-plain  plain TCP, no keys: any process that reaches the server's\n"
	    "                    port can join (by default every launch makes CURVE keys in\n"
	    "                    RUN_DIR/keys and lets in only its own processes)\n"
	    "  --server-arg ARG  extra argument for fcl-server (repeatable)\n"
	    "  --client-arg ARG  extra argument for every fcl-client (repeatable)\n"
	    "  -h, --help, --version\n\n"
	    "FCL_SERVER and FCL_CLIENT override where the binaries are looked for.\n\n"
	    "Exit status: 0 the run completed; 1 the run failed or was interrupted\n"
	    "(Ctrl-C: the run folder says why); 2 bad command line or scenario.\n");
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
		fcl_cli_needs_value("fcl-sim", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/* The options that take a value, at argv[*i] (*i moves past the value).
 * Returns 0 when one matched, 1 when argv[*i] is none of them, -1 (after
 * saying so) when its value is missing or bad. */
static int value_option(struct sim *sim, int argc, char **argv, int *i)
{
	char *val = NULL;
	int m;

	if ((m = opt_value(argc, argv, i, "--procs", &val)) != 0) {
		uint64_t p;

		if (m < 0)
			return -1;
		if (fcl_cli_u64("fcl-sim", "--procs", val, 1, &p) != 0)
			return -1;
		if (p > UINT32_MAX) {
			fprintf(stderr, "fcl-sim: option '--procs' wants at most %u\n", UINT32_MAX);
			return -1;
		}
		sim->procs_opt = (unsigned long)p;
	} else if ((m = opt_value(argc, argv, i, "--run-dir", &val)) != 0) {
		if (m < 0)
			return -1;
		if (!*val) {
			fprintf(stderr, "fcl-sim: --run-dir needs a folder\n");
			return -1;
		}
		sim->run_dir_opt = val;
	} else if ((m = opt_value(argc, argv, i, "--seed", &val)) != 0) {
		if (m < 0)
			return -1;
		if (fcl_cli_u64("fcl-sim", "--seed", val, 0, &sim->seed) != 0)
			return -1;
		sim->have_seed = 1;
	} else if ((m = opt_value(argc, argv, i, "--resume", &val)) != 0) {
		if (m < 0)
			return -1;
		if (!*val) {
			fprintf(stderr, "fcl-sim: --resume needs a run folder\n");
			return -1;
		}
		sim->resume_dir = val;
	} else if ((m = opt_value(argc, argv, i, "--server-arg", &val)) != 0) {
		if (m < 0)
			return -1;
		sim->server_args[sim->n_server_args++] = val;
	} else if ((m = opt_value(argc, argv, i, "--client-arg", &val)) != 0) {
		if (m < 0)
			return -1;
		sim->client_args[sim->n_client_args++] = val;
	} else {
		return 1;
	}
	return 0;
}

/* Returns -1 to exit 0 (--help), 0 to go on, 2 on a usage error. */
int sim_parse_args(struct sim *sim, int argc, char **argv)
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
		char *arg = argv[i];
		int m;

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			if (sim->scenario_path) {
				fcl_cli_unexpected("fcl-sim", arg);
				return 2;
			}
			sim->scenario_path = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
		} else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			help();
			return -1;
		} else if (strcmp(arg, "--version") == 0) {
			fcl_cli_version("fcl-sim");
			return -1;
		} else if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
			sim->quiet = 1;
		} else if (strcmp(arg, "--insecure-plain") == 0) {
			sim->insecure_plain = 1;
		} else if (strcmp(arg, "--force") == 0) {
			sim->force = 1;
		} else if ((m = value_option(sim, argc, argv, &i)) < 0) {
			goto bad;
		} else if (m > 0) {
			fcl_cli_unknown_option("fcl-sim", arg);
			return 2;
		}
	}
	if (sim->resume_dir) {
		/* the run folder has them all */
		if (sim->scenario_path || sim->run_dir_opt || sim->have_seed) {
			fprintf(stderr, "fcl-sim: --resume takes no scenario, --run-dir or --seed "
					"(the run folder has them)\n");
			goto bad;
		}
		return 0;
	}
	if (!sim->scenario_path) {
		fprintf(stderr, "fcl-sim: no scenario given\n");
		goto bad;
	}
	if (sim->force && !sim->run_dir_opt) {
		fprintf(stderr, "fcl-sim: --force goes with --run-dir\n");
		goto bad;
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}
