/* client/cli.c - fcl-client's command line */
#include "client.h"

#include "fcl/cli.h"
#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-client --connect ENDPOINT --ids RANGES --curve-key FILE --server-pub FILE\n"
		   "                  [--insecure-plain] [--connect-timeout S]\n"
		   "                  [--idle-timeout S] [--heartbeat S] [--fault KIND[:CLIENT]]\n"
		   "                  [--round-delay S] [--verbose]\n"
		   "       fcl-client --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf("\nOne client process: hosts logical clients, trains them when the coordinator\n"
	       "(fcl-server) says so. fcl-sim and tools/fcl-slurm start these.\n\n"
	       "  -c, --connect ENDPOINT  the coordinator's endpoint, e.g. tcp://node1:5555\n"
	       "  -i, --ids RANGES  logical clients hosted here, e.g. 0-31 or 0-3,8\n"
	       "  --curve-key FILE  this process's secret key (fcl-keygen PREFIX writes\n"
	       "                    PREFIX.key; PREFIX.pub goes into the server's --allow)\n"
	       "  --server-pub FILE  the coordinator's public key: any other peer is refused\n"
	       "                    before it can send anything\n"
	       "  --insecure-plain  plain TCP instead, trusting whoever answers (see\n"
	       "                    docs/security.md)\n"
	       "  -t, --connect-timeout S  give up after S seconds without a welcome\n"
	       "                    (default 60); meanwhile the connection is retried with backoff\n"
	       "  -T, --idle-timeout S  give up after S seconds without a message (default 3600)\n"
	       "  -H, --heartbeat S  the coordinator silent for S seconds is gone (default 15)\n"
	       "  -f, --fault KIND[:CLIENTS]  for tests: wrong-size, nan, garbage, sign-flip,\n"
	       "                    scale:F, rule-nan, oom, bn-size (one batchnorm value short)\n"
	       "                    or slow:S (sleep S s before training),\n"
	       "                    optionally for some clients only: e.g. sign-flip:0-1, scale:-4:3\n"
	       "  -D, --round-delay S  for tests: sleep S seconds before each round's training\n"
	       "  -v, --verbose     debug messages on stderr\n"
	       "  -h, --help, --version\n\n"
	       "Exit status: 0 the run ended normally; 1 the connection or the run failed;\n"
	       "2 bad command line.\n");
}

static int parse_ids(struct client_opts *o, const char *arg)
{
	uint32_t *ids;
	size_t n;

	if (fcl_parse_ids(arg, &ids, &n) != 0) {
		fprintf(stderr, "fcl-client: bad --ids '%s' (want e.g. 0-31,40)\n", arg);
		return -EINVAL;
	}
	free(o->ids); /* the last --ids counts */
	o->ids = ids;
	o->n_ids = n;
	return 0;
}

/* --curve-key and --server-pub, or --insecure-plain; 0 or -EINVAL after saying why. */
static int load_keys(struct client_opts *o)
{
	char err[1024];

	if (o->insecure_plain && (o->key_path || o->pub_path)) {
		fprintf(stderr, "fcl-client: --insecure-plain goes without --curve-key and "
				"--server-pub\n");
		return -EINVAL;
	}
	if (o->insecure_plain) {
		fcl_warn("--insecure-plain: plain TCP; whoever answers at %s is trusted as the "
			 "coordinator (docs/security.md)",
			 o->endpoint);
		return 0;
	}
	if (!o->key_path || !o->pub_path) {
		fprintf(stderr, "fcl-client: --curve-key FILE and --server-pub FILE are needed (or "
				"--insecure-plain for plain TCP; see docs/security.md)\n");
		return -EINVAL;
	}
	if (!fcl_curve_available()) {
		fprintf(stderr, "fcl-client: this libzmq has no CURVE (built without libsodium)\n");
		return -EINVAL;
	}
	if (fcl_curve_read_secret(o->key_path, &o->key, err, sizeof err) != 0 ||
	    fcl_curve_read_public(o->pub_path, o->server_pub, err, sizeof err) != 0) {
		fprintf(stderr, "fcl-client: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

static char **argv_of_parse; /* for the messages of parse_option */

/* One option of getopt_long; 0 or -EINVAL after saying why. */
static int parse_option(struct client_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'c':
		o->endpoint = arg;
		return 0;
	case 'i':
		return parse_ids(o, arg);
	case 't':
		return fcl_cli_double("fcl-client", "--connect-timeout", arg, 0,
				      &o->connect_timeout_s) ? -EINVAL : 0;
	case 'T':
		return fcl_cli_double("fcl-client", "--idle-timeout", arg, 0, &o->idle_timeout_s)
			   ? -EINVAL
			   : 0;
	case 'D':
		return fcl_cli_double("fcl-client", "--round-delay", arg, 0, &o->round_delay_s)
			   ? -EINVAL
			   : 0;
	case 'H':
		return fcl_cli_seconds("fcl-client", "--heartbeat", arg, 0.5, &o->heartbeat_s);
	case 'f':
		if (faults_parse(&o->faults, arg) != 0) {
			fprintf(stderr, "fcl-client: unknown --fault '%s'\n", arg);
			return -EINVAL;
		}
		return 0;
	case 'v':
		fcl_log_set_level(FCL_LOG_DEBUG);
		return 0;
	case 'K':
		o->key_path = arg;
		return 0;
	case 'S':
		o->pub_path = arg;
		return 0;
	case 'I':
		o->insecure_plain = 1;
		return 0;
	default:
		fcl_cli_getopt_error("fcl-client", c, argv_of_parse);
		return -EINVAL;
	}
}

int cli_parse(struct client_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {{"connect", required_argument, 0, 'c'},
					     {"ids", required_argument, 0, 'i'},
					     {"connect-timeout", required_argument, 0, 't'},
					     {"idle-timeout", required_argument, 0, 'T'},
					     {"fault", required_argument, 0, 'f'},
					     {"round-delay", required_argument, 0, 'D'},
					     {"heartbeat", required_argument, 0, 'H'},
					     {"verbose", no_argument, 0, 'v'},
					     {"curve-key", required_argument, 0, 'K'},
					     {"server-pub", required_argument, 0, 'S'},
					     {"insecure-plain", no_argument, 0, 'I'},
					     {"help", no_argument, 0, 'h'},
					     {"version", no_argument, 0, 'V'},
					     {0, 0, 0, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->connect_timeout_s = 60;
	o->idle_timeout_s = 3600;
	o->heartbeat_s = 15;
	argv_of_parse = argv;
	opterr = 0; /* fcl_cli_getopt_error words it as every program does */
	while ((c = getopt_long(argc, argv, ":c:i:t:T:f:D:H:vhK:S:I", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			/* the options after it are not looked at */
			if (c == 'h')
				help();
			else
				fcl_cli_version("fcl-client");
			o->help = 1;
			return 0;
		}
		if (parse_option(o, c, optarg) != 0)
			goto err;
	}
	if (optind != argc) {
		fcl_cli_unexpected("fcl-client", argv[optind]);
		goto err;
	}
	if (!o->endpoint || !o->ids) {
		fprintf(stderr, "fcl-client: %s is missing\n", !o->endpoint ? "--connect" : "--ids");
		usage(stderr);
		goto err;
	}
	if (load_keys(o) != 0)
		goto err;
	return 0;
err:
	cli_fini(o);
	return -EINVAL;
}

void cli_fini(struct client_opts *o)
{
	free(o->ids);
	faults_fini(&o->faults);
	memset(o, 0, sizeof *o);
}
