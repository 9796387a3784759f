/* server/main.c - fcl-server: the coordinator's command line, setup and teardown
 *
 * The coordinator is made of parts, each with its state, its _init/_fini and
 * one prefix; main owns them and the run's inputs, and hands each part what
 * it needs:
 *   net.c       coord_net_      ZeroMQ ROUTER in the libuv loop: receive, decode, send
 *   dispatch.c  coord_dispatch_ the event x phase -> action table: the only code
 *                               that both receives and sends
 *   round.c     coord_round_    the round's state: participants, slots (+ round_hosts.c:
 *                               peers, owners)
 *   sim.c       coord_sim_      simulated time (a devices section): jobs on a virtual
 *                               clock, deadlines, asynchronous aggregation (+ sim_plan.c)
 *   evaluate.c  coord_eval_     the evaluation schedule's work and the accuracy record
 *   report.c    coord_report_   the run folder, events.jsonl, traffic accounting
 *   report_files.c              (report) results written whole, space set aside
 *   summary.c                   (report) metrics.json, summary.txt, summary.md
 *   checkpoint.c coord_ckpt_    checkpoints: written after rounds, read back by
 *                               --resume and by rollbacks (dispatch_ckpt.c)
 */
#include "checkpoint.h"
#include "dispatch.h"
#include "evaluate.h"
#include "net.h"
#include "report.h"
#include "round.h"
#include "sim.h"

#include "fcl/blas_core.h"
#include "fcl/curve.h"
#include "fcl/cli.h"
#include "fcl/data.h"
#include "fcl/devices.h"
#include "fcl/estimate.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/override.h"
#include "fcl/rng.h"
#include "fcl/rule.h"
#include "fcl/runstatus.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/strategy.h"
#include "fcl/util.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct fcl_server {
	/* command line */
	const char *scenario_path;
	const char *run_dir;
	const char *bind_endpoint;
	int progress;            /* print machine-readable progress lines on stdout */
	double heartbeat_s;      /* a peer silent this long is gone (ZMTP heartbeats) */
	/* --count-clients (the scenario's client count) or --blas-core (the
	 * OpenBLAS kernel loaded): print it and exit, no run */
	enum { QUERY_NONE, QUERY_CLIENTS, QUERY_BLAS_CORE } query;
	long long seed_override; /* -1 = the scenario's */
	const char **sets;       /* --set KEY=VALUE edits of the scenario */
	size_t n_sets;
	int resume;           /* --resume: go on from the run folder's newest checkpoint */
	int stop_with_parent; /* --stop-with-parent: SIGHUP when the launcher dies */
	const char *key_path;   /* --curve-key: the server's secret key */
	const char *allow_path; /* --allow: the client keys let in */
	int insecure_plain;     /* --insecure-plain: plain TCP, nobody authenticated */
	struct fcl_curve_keypair key;
	struct fcl_allow allow;

	/* the run's inputs */
	struct fcl_scenario sc;
	char *scenario_text;
	size_t scenario_len;
	uint64_t scenario_hash;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_agg *agg;        /* the aggregation rule and its state */
	struct fcl_devices devices; /* with simulated time (a devices section) */
	double started;
	char scenario_abs[PATH_MAX]; /* the scenario file, absolute */
	char scenario_dir[PATH_MAX]; /* its folder: where its relative paths resolve */
	char resume_note[512];       /* --resume: why the run folder says it stopped */
	struct coord_ckpt_head head; /* --resume: the checkpoint's */

	/* the parts */
	struct coord_round round;
	struct coord_sim sim; /* with simulated time */
	struct coord_eval eval;
	struct coord_report report;
	struct coord_dispatch dispatch;
	struct coord_net net;
	struct coord_ckpt ckpt;
	int checkpoints; /* ckpt is set up */
	uv_loop_t *loop;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-server SCENARIO.yaml --run-dir DIR --curve-key FILE --allow FILE\n"
		   "                  [--bind ENDPOINT] [--seed N] [--set KEY=VALUE]... [--progress]\n"
		   "                  [--heartbeat S] [--stop-with-parent] [--verbose]\n"
		   "       fcl-server --resume --run-dir DIR --curve-key FILE --allow FILE ...\n"
		   "       fcl-server SCENARIO.yaml --count-clients | --blas-core\n"
		   "       fcl-server --help | --version\n");
}

static void help(void)
{
	usage(stdout);
	printf("\nThe coordinator of a run: waits for the fcl-client processes, runs the rounds,\n"
	       "writes the run folder DIR.\n\n"
	       "  -r, --run-dir DIR  the run folder (created; results and checkpoints go there)\n"
	       "  --curve-key FILE  the server's secret key (fcl-keygen PREFIX writes\n"
	       "              PREFIX.key); clients need its PREFIX.pub (their --server-pub)\n"
	       "  --allow FILE  the client public keys let in, one a line: PUBKEY [IDS], where\n"
	       "              IDS (e.g. 0-4,7) are the only logical clients that key may host\n"
	       "  --insecure-plain  plain TCP instead: no encryption, no authentication;\n"
	       "              anyone who reaches the port can join (docs/security.md)\n"
	       "  -b, --bind ENDPOINT  ZeroMQ endpoint to listen on (default tcp://127.0.0.1:*);\n"
	       "              the endpoint actually bound is written to DIR/endpoint\n"
	       "  -s, --seed N  override the scenario's seed\n"
	       "  -S, --set KEY=VALUE  edit the scenario, e.g. --set aggregation.rule=median;\n"
	       "              the edited text is what the run folder keeps and the clients run\n"
	       "  --resume    go on with the run in DIR from its newest checkpoint (its\n"
	       "              scenario and seed are the checkpoint's); the results are\n"
	       "              those of an uninterrupted run, bit for bit\n"
	       "  -p, --progress  print one machine-readable progress line per round on stdout\n"
	       "  -H, --heartbeat S  a client process silent for S seconds is gone (default 15)\n"
	       "  --stop-with-parent  end the run (as SIGHUP does) when the process that\n"
	       "              started this one dies, e.g. fcl-sim killed with SIGKILL\n"
	       "  --count-clients  check the scenario, print its number of logical clients\n"
	       "              and exit (for launch scripts that split them over processes)\n"
	       "  --blas-core  print the OpenBLAS kernel this process loaded and exit: every\n"
	       "              process of a run must compute with the server's (launch\n"
	       "              scripts export it as OPENBLAS_CORETYPE)\n"
	       "  -v, --verbose  debug messages on stderr\n"
	       "  -h, --help, --version\n\n"
	       "Exit status: 0 the run completed; 1 the run failed or was stopped (a signal);\n"
	       "2 bad command line or scenario, or the run could not start.\n");
}

/* One case per option (93 lines), then what goes together. */
static int parse_args(struct fcl_server *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"run-dir", required_argument, 0, 'r'},    {"bind", required_argument, 0, 'b'},
	    {"seed", required_argument, 0, 's'},       {"progress", no_argument, 0, 'p'},
	    {"verbose", no_argument, 0, 'v'},          {"help", no_argument, 0, 'h'},
	    {"count-clients", no_argument, 0, 'C'},    {"heartbeat", required_argument, 0, 'H'},
	    {"set", required_argument, 0, 'S'},        {"resume", no_argument, 0, 'R'},
	    {"stop-with-parent", no_argument, 0, 'P'}, {"curve-key", required_argument, 0, 'K'},
	    {"allow", required_argument, 0, 'A'},      {"insecure-plain", no_argument, 0, 'I'},
	    {"version", no_argument, 0, 'V'},          {"blas-core", no_argument, 0, 'O'},
	    {0, 0, 0, 0}};
	int c;
	s->seed_override = -1;
	s->heartbeat_s = 15;
	s->bind_endpoint = "tcp://127.0.0.1:*";
	opterr = 0; /* fcl_cli_getopt_error words it as every program does */
	while ((c = getopt_long(argc, argv, ":r:b:s:S:pH:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			s->run_dir = optarg;
			break;
		case 'b':
			s->bind_endpoint = optarg;
			break;
		case 's': {
			uint64_t v = 0;
			if (fcl_cli_u64("fcl-server", "--seed", optarg, 0, &v) != 0 || v > INT64_MAX) {
				if (v > INT64_MAX)
					fprintf(stderr, "fcl-server: --seed too large\n");
				return -EINVAL;
			}
			s->seed_override = (long long)v;
			break;
		}
		case 'S': {
			const char **v = realloc(s->sets, (s->n_sets + 1) * sizeof *v);
			if (!v)
				return -ENOMEM;
			s->sets = v;
			s->sets[s->n_sets++] = optarg;
			break;
		}
		case 'p':
			s->progress = 1;
			break;
		case 'C':
			s->query = QUERY_CLIENTS;
			break;
		case 'O':
			s->query = QUERY_BLAS_CORE;
			break;
		case 'R':
			s->resume = 1;
			break;
		case 'P':
			s->stop_with_parent = 1;
			break;
		case 'K':
			s->key_path = optarg;
			break;
		case 'A':
			s->allow_path = optarg;
			break;
		case 'I':
			s->insecure_plain = 1;
			break;
		case 'H':
			if (fcl_cli_seconds("fcl-server", "--heartbeat", optarg, 0.5,
					    &s->heartbeat_s) != 0)
				return -EINVAL;
			break;
		case 'v':
			fcl_log_set_level(FCL_LOG_DEBUG);
			break;
		case 'h':
			help();
			exit(0);
		case 'V':
			fcl_cli_version("fcl-server");
			exit(0);
		default:
			fcl_cli_getopt_error("fcl-server", c, argv);
			return -EINVAL;
		}
	}
	if (!s->query && s->insecure_plain == !!(s->key_path || s->allow_path)) {
		fprintf(stderr, "fcl-server: %s\n",
			s->insecure_plain ? "--insecure-plain goes without --curve-key and --allow"
					  : "--curve-key FILE and --allow FILE are needed (or "
					    "--insecure-plain for plain TCP; see docs/security.md)");
		return -EINVAL;
	}
	if (!s->insecure_plain && !s->query && (!s->key_path || !s->allow_path)) {
		fprintf(stderr, "fcl-server: --curve-key and --allow go together\n");
		return -EINVAL;
	}
	if (s->resume) {
		/* the scenario, its edits and the seed are the checkpoint's */
		if (optind != argc || !s->run_dir || s->n_sets || s->seed_override >= 0) {
			fprintf(stderr,
				"fcl-server: --resume takes --run-dir DIR, and no scenario, "
				"--set or --seed (the checkpoint has them)\n");
			return -EINVAL;
		}
		return 0;
	}
	if (optind < argc - 1) {
		fcl_cli_unexpected("fcl-server", argv[optind + 1]);
		return -EINVAL;
	}
	if (optind != argc - 1 || (!s->run_dir && !s->query)) {
		fprintf(stderr, "fcl-server: %s\n",
			optind == argc ? "no scenario given" : "--run-dir is missing");
		usage(stderr);
		return -EINVAL;
	}
	s->scenario_path = argv[optind];
	return 0;
}

/* ---- the run's inputs ---------------------------------------------------- */

/* The edited text with a first line that says what was edited: the run
 * folder's scenario.yaml is the scenario as run, and says how it came about. */
static int note_edits(struct fcl_server *s, const char *const *sets, size_t n, char **text,
		      size_t *len)
{
	size_t cap = 256 + strlen(s->scenario_path), at;
	for (size_t i = 0; i < n; i++)
		cap += strlen(sets[i]) + 8;
	char *out = malloc(cap + *len + 1);
	if (!out)
		return -ENOMEM;
	at = (size_t)snprintf(out, cap, "# The scenario as run: %s with", s->scenario_path);
	for (size_t i = 0; i < n; i++) /* the last is --seed's, if given */
		at += (size_t)(i + 1 == n && s->seed_override >= 0
				   ? snprintf(out + at, cap - at, "%s --seed %lld", i ? "," : "",
					      s->seed_override)
				   : snprintf(out + at, cap - at, "%s --set %s", i ? "," : "",
					      sets[i]));
	at += (size_t)snprintf(out + at, cap - at, " (fcl-server)\n");
	memcpy(out + at, *text, *len);
	out[at + *len] = '\0';
	free(*text);
	*text = out;
	*len += at;
	return 0;
}

/* The scenario file with the --set edits and --seed (as seed=N) applied; its
 * text (what the run folder keeps and the clients run) is s->scenario_text,
 * owned, and its first line lists the edits. Relative paths, in the file or
 * given with --set, resolve against the file's folder (s->scenario_dir, which
 * the welcome carries so that clients resolve them the same way). */
static int load_scenario(struct fcl_server *s)
{
	char err[1024] = "", seed[48], *text;
	const char **sets = NULL;
	size_t len, n = s->n_sets;
	int rc = fcl_scenario_dir(s->scenario_path, s->scenario_dir, sizeof s->scenario_dir);

	if (rc) {
		fprintf(stderr, "%s: %s\n", s->scenario_path, strerror(-rc));
		return rc;
	}
	rc = fcl_scenario_load(&s->sc, s->scenario_path, &s->scenario_text, &s->scenario_len,
				   err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	if (s->n_sets || s->seed_override >= 0) {
		if (!(sets = calloc(n + 1, sizeof *sets))) {
			rc = -ENOMEM;
			snprintf(err, sizeof err, "out of memory");
			goto err_text;
		}
		memcpy(sets, s->sets, n * sizeof *sets);
		snprintf(seed, sizeof seed, "seed=%lld", s->seed_override);
		if (s->seed_override >= 0)
			sets[n++] = seed;
		if ((rc = fcl_scenario_override(s->scenario_text, s->scenario_len, sets, n, &text,
						&len, err, sizeof err)) != 0)
			goto err_text;
		if ((rc = note_edits(s, sets, n, &text, &len)) != 0 ||
		    (rc = fcl_scenario_parse_at(&s->sc, text, len, s->scenario_path,
						s->scenario_dir, err, sizeof err)) != 0) {
			free(text);
			goto err_text;
		}
		free(s->scenario_text);
		s->scenario_text = text;
		s->scenario_len = len;
		free(sets);
		sets = NULL;
	}
	if (s->seed_override >= 0)
		s->sc.seed = (uint64_t)s->seed_override;
	s->scenario_hash = fcl_hash64(s->scenario_text, s->scenario_len);
	return 0;

err_text:
	fprintf(stderr, "%s\n", err);
	free(sets);
	free(s->scenario_text);
	s->scenario_text = NULL;
	return rc;
}

/* --resume: the scenario of the run folder's newest checkpoint, parsed as
 * the first run parsed it (its relative paths resolve where they did). */
static int resume_scenario(struct fcl_server *s)
{
	char err[1024] = "cannot find the scenario's folder", dir[4200];
	int rc = coord_ckpt_read_head(s->run_dir, dir, sizeof dir, &s->head);

	if (rc == -ENOENT)
		fprintf(stderr,
			"fcl-server: %s/checkpoints holds no complete checkpoint to resume "
			"from\n",
			s->run_dir);
	if (rc)
		return rc;
	snprintf(s->scenario_abs, sizeof s->scenario_abs, "%s", s->head.scenario_path);
	s->scenario_path = s->scenario_abs;
	if ((rc = fcl_scenario_dir(s->scenario_path, s->scenario_dir, sizeof s->scenario_dir)) ||
	    (rc = fcl_scenario_parse_at(&s->sc, s->head.scenario_text, s->head.scenario_len,
					s->scenario_path, s->scenario_dir, err, sizeof err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	memcpy(s->sc.data.path, s->head.data_path, sizeof s->sc.data.path);
	s->sc.seed = s->head.seed;
	s->scenario_text = s->head.scenario_text; /* ours now */
	s->scenario_len = s->head.scenario_len;
	s->scenario_hash = s->head.scenario_hash;
	s->head.scenario_text = NULL;
	fcl_info("resuming the run in %s from its checkpoint after %u rounds (%s)", s->run_dir,
		 s->head.done, dir);
	if (fcl_run_reason(s->run_dir, s->resume_note, sizeof s->resume_note) == 0)
		fcl_info("the run folder said: %s", s->resume_note);
	return 0;
}

/* Something the person running the scenario must know: server.log, and with
 * --progress a "warning" line that fcl-sim shows. */
static void warn_run(const struct fcl_server *s, const char *what)
{
	fcl_warn("%s", what);
	if (s->progress) {
		printf("warning %s\n", what);
		fflush(stdout);
	}
}

/* The data sets and the compiled schedule. */
static int load_data(struct fcl_server *s)
{
	char err[1024];
	int rc;

	if ((rc = fcl_schedule_load_data(&s->sc, &s->train, &s->test, err, sizeof err)) != 0) {
		fcl_error("%s", err);
		return rc;
	}
	if ((rc = fcl_schedule_compile(&s->sched, &s->sc, &s->train, &s->test)) != 0) {
		fcl_error("cannot compile the scenario: %s", strerror(-rc));
		goto err_data;
	}
	fcl_info("schedule digest %016llx (each client logs its own; they must match)",
		 (unsigned long long)fcl_schedule_digest(&s->sched));
	if (fcl_scenario_caveat(&s->sc, err, sizeof err))
		warn_run(s, err);
	if (fcl_schedule_empty_tasks(&s->sched, err, sizeof err)) {
		char what[sizeof err + 32];
		snprintf(what, sizeof what, "with seed %llu, %s", (unsigned long long)s->sc.seed,
			 err);
		warn_run(s, what);
	}
	if (fcl_scenario_timed(&s->sc) &&
	    (rc = fcl_devices_compile(&s->devices, &s->sc, err, sizeof err)) != 0) {
		fcl_error("device profiles: %s", rc == -ENOMEM ? "out of memory" : err);
		fcl_schedule_fini(&s->sched);
		goto err_data;
	}
	return 0;

err_data:
	fcl_dataset_fini(&s->train);
	fcl_dataset_fini(&s->test);
	return rc;
}

/* The global model, initialised from the seed as every client does. */
static int init_model(struct fcl_server *s)
{
	struct fcl_arch arch;
	struct fcl_rng rng;
	char err[320];
	int rc;

	if ((rc = fcl_scenario_arch(&s->sc, s->sched.shape, s->sched.n_classes, &arch, err,
				    sizeof err)) != 0) {
		fcl_error("%s", err);
		return rc;
	}
	uint32_t L = arch.n_dense;
	if ((rc = fcl_model_init(&s->model, &arch, 256)) != 0)
		return rc;
	fcl_rng_init(&rng, s->sc.seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(&s->model, &rng);
	if (!s->sc.model.head_bias) /* a bias-free head (UER): the clients keep it at 0 */
		memset(s->model.params + s->model.b_offset[L - 1], 0,
		       s->sched.n_classes * sizeof(float));
	return 0;
}

static int create_rule(struct fcl_server *s)
{
	/* the rule's lines go to events.jsonl through the dispatcher, set up later */
	struct fcl_agg_env env = {.run_dir = s->run_dir,
				  .event = coord_dispatch_rule_event,
				  .ud = &s->dispatch,
				  .resume = s->resume};
	/* Rules size their per-update state by clients.per_round; in simulated time
	 * one aggregation can take more updates (stragglers, buffers): as many as
	 * coord_sim_slots says. */
	struct fcl_scenario *sc = &s->sc, *copy = NULL;
	if (fcl_scenario_timed(sc)) {
		if (!(copy = malloc(sizeof *copy)))
			return -ENOMEM;
		*copy = *sc;
		copy->clients.per_round = coord_sim_slots(sc);
		sc = copy;
	}
	int rc = fcl_agg_create(sc, &s->model, &env, &s->agg);
	free(copy);
	if (rc)
		fcl_error("cannot set up aggregation rule %s: %s", s->sc.aggregation.rule->name,
			  strerror(-rc));
	return rc;
}

/* Loads the scenario and its data, compiles it, and sets up the model and the rule. */
static int inputs_init(struct fcl_server *s)
{
	int rc;

	if ((rc = s->resume ? resume_scenario(s) : load_scenario(s)) != 0)
		return rc;
	if (!s->resume && !realpath(s->scenario_path, s->scenario_abs))
		snprintf(s->scenario_abs, sizeof s->scenario_abs, "%s", s->scenario_path);
	if ((rc = load_data(s)) != 0)
		goto err_scenario;
	if ((rc = init_model(s)) != 0)
		goto err_schedule;
	if ((rc = create_rule(s)) != 0)
		goto err_model;
	fcl_info("scenario %s: %u clients (%u per round), %u tasks x %u rounds, %zu parameters, "
		 "%u train / %u test samples",
		 s->sc.name, s->sched.n_clients, s->sched.per_round, s->sched.n_tasks,
		 s->sched.rounds_per_task, s->model.n_params, s->train.n, s->test.n);
	return 0;

err_model:
	fcl_mlp_fini(&s->model);
err_schedule:
	fcl_devices_fini(&s->devices);
	fcl_schedule_fini(&s->sched);
	fcl_dataset_fini(&s->train);
	fcl_dataset_fini(&s->test);
err_scenario:
	free(s->scenario_text);
	return rc;
}

static void inputs_fini(struct fcl_server *s)
{
	fcl_agg_destroy(s->agg);
	fcl_mlp_fini(&s->model);
	fcl_devices_fini(&s->devices);
	fcl_schedule_fini(&s->sched);
	fcl_dataset_fini(&s->train);
	fcl_dataset_fini(&s->test);
	free(s->scenario_text);
}

/* ---- the parts ----------------------------------------------------------- */

/* The run folder, then the evaluations that write into it. */
static int results_init(struct fcl_server *s)
{
	struct fcl_estimate est;
	const struct fcl_estimate_data data = fcl_estimate_data_of(&s->train, &s->test);
	fcl_estimate_scenario(&s->sc, &data, &est);
	struct coord_report_config rc_cfg = {.run_dir = s->run_dir,
					     .sc = &s->sc,
					     .sched = &s->sched,
					     .train = &s->train,
					     .model = &s->model,
					     .scenario_text = s->scenario_text,
					     .scenario_len = s->scenario_len,
					     .scenario_hash = s->scenario_hash,
					     .progress = s->progress,
					     .started = s->started,
					     .resume = s->resume,
					     .estimated_bytes = est.server_bytes};
	int rc = coord_report_init(&s->report, &rc_cfg);
	if (rc) {
		/* a run folder that cannot take its files says so, if anything can */
		if (!s->resume && s->report.io_error[0])
			fcl_run_mark_unfinished(s->run_dir, s->report.io_error);
		return rc;
	}
	if (fcl_scenario_timed(&s->sc)) { /* with the compiled schedule: each client's device */
		char path[4096];
		snprintf(path, sizeof path, "%s/schedule/devices.csv", s->run_dir);
		if (fcl_devices_write_csv(&s->devices, path) != 0)
			fcl_warn("cannot write %s", path);
	}
	struct coord_eval_config ev_cfg = {.sched = &s->sched,
					   .model = &s->model,
					   .test = &s->test,
					   .csv = s->report.eval_csv,
					   .class_csv = s->report.eval_class_csv,
					   .io_error = s->report.io_error,
					   .local_models = s->sc.eval.local_models,
					   .every_rounds = s->sc.eval.every_rounds,
					   .run_dir = s->run_dir,
					   .name = s->sc.name,
					   .export_models = s->sc.run.export_models,
					   .bn_values = fcl_strategy_bn_sent(&s->sc, &s->model.arch)};
	/* the initial model is evaluated when the run begins (dispatch.c) */
	if ((rc = coord_eval_init(&s->eval, &ev_cfg)) != 0)
		goto err_report;
	s->eval.sim_time = s->report.sim_time; /* 0 with simulated time, else none */
	return 0;

err_report:
	fcl_error("out of memory for the evaluation record");
	coord_report_fini(&s->report);
	return rc;
}

/* Checkpoints, when the scenario asks for them; resuming, the newest one
 * back into the parts. */
static int checkpoints_init(struct fcl_server *s)
{
	struct coord_ckpt_config cfg = {.run_dir = s->run_dir,
					.sc = &s->sc,
					.scenario_text = s->scenario_text,
					.scenario_len = s->scenario_len,
					.scenario_hash = s->scenario_hash,
					.scenario_path = s->scenario_abs,
					.n_clients = s->sched.n_clients,
					.parts = {.model = &s->model,
						  .agg = s->agg,
						  .round = &s->round,
						  .eval = &s->eval,
						  .report = &s->report}};
	int rc;

	if (!s->resume && !fcl_scenario_checkpoints(&s->sc))
		return 0;
	if ((rc = coord_ckpt_init(&s->ckpt, &cfg)) != 0) {
		fcl_error("out of memory for checkpoints");
		return rc;
	}
	s->checkpoints = 1;
	if (s->resume && (rc = coord_ckpt_restore(&s->ckpt)) != 0) {
		fcl_error("cannot resume from the checkpoint after %u rounds", s->head.done);
		coord_ckpt_fini(&s->ckpt);
		s->checkpoints = 0;
	}
	return rc;
}

/* Every part, each given what it needs; the dispatcher drives the others. */
/* The largest valid message of this rule and model: the rule's bound, or a
 * process's partial sum (8 bytes a parameter, and its clients' records). */
static int64_t max_message_bytes(const struct fcl_server *s)
{
	uint64_t rule = fcl_rule_max_message_bytes(&s->sc, s->model.n_layers, s->model.sizes,
						   s->model.n_params, s->sched.n_clients, &s->model.arch);
	uint64_t partial = (uint64_t)s->model.n_params * 8 +
			   (uint64_t)s->sc.clients.per_round * 64 + (4 << 20);
	if (fcl_rule_partial_sums(&s->sc) && partial > rule)
		rule = partial;
	return (int64_t)rule;
}

static int parts_init(struct fcl_server *s)
{
	int rc;

	if ((rc = coord_round_init(&s->round, &s->sc, &s->sched, &s->model, s->agg, s->train.n)) !=
	    0) {
		fcl_error("out of memory for the rounds' buffers");
		return rc;
	}
	if (fcl_scenario_timed(&s->sc) &&
	    (rc = coord_sim_init(&s->sim, &s->sc, &s->sched, &s->devices, &s->model, s->agg,
				 s->round.owner, s->train.n)) != 0) {
		fcl_error("out of memory for the simulated clock");
		goto err_round;
	}
	if ((rc = results_init(s)) != 0)
		goto err_sim;
	if ((rc = checkpoints_init(s)) != 0)
		goto err_results;
	struct coord_dispatch_config d_cfg = {.round = &s->round,
					      .sim = fcl_scenario_timed(&s->sc) ? &s->sim : NULL,
					      .eval = &s->eval,
					      .report = &s->report,
					      .out = coord_net_outbox(&s->net),
					      .sc = &s->sc,
					      .sched = &s->sched,
					      .scenario_text = s->scenario_text,
					      .scenario_dir = s->scenario_dir,
					      .scenario_hash = s->scenario_hash,
					      .n_params = (uint32_t)s->model.n_params,
					      .ckpt = s->checkpoints ? &s->ckpt : NULL,
					      .resume = s->resume,
					      .resume_note =
						  s->resume_note[0] ? s->resume_note : NULL};
	coord_dispatch_init(&s->dispatch, &d_cfg);
	struct coord_net_config n_cfg = {.bind_endpoint = s->bind_endpoint,
					 .heartbeat_s = s->heartbeat_s,
					 .key = s->insecure_plain ? NULL : &s->key,
					 .allow = s->insecure_plain ? NULL : &s->allow,
					 /* the largest valid message of this rule and model */
					 .max_msg_bytes = max_message_bytes(s),
					 .run_dir = s->run_dir};
	if ((rc = coord_net_init(&s->net, s->loop, &n_cfg, &s->dispatch)) != 0)
		goto err_ckpt;
	return 0;

err_ckpt:
	if (s->checkpoints)
		coord_ckpt_fini(&s->ckpt);
err_results:
	coord_eval_fini(&s->eval);
	coord_report_fini(&s->report);
err_sim:
	coord_sim_fini(&s->sim);
err_round:
	coord_round_fini(&s->round);
	return rc;
}

static void parts_fini(struct fcl_server *s)
{
	coord_net_fini(&s->net);
	if (s->checkpoints)
		coord_ckpt_fini(&s->ckpt);
	coord_eval_fini(&s->eval);
	coord_report_fini(&s->report);
	coord_sim_fini(&s->sim);
	coord_round_fini(&s->round);
}

/* --count-clients (the scenario's logical clients) or --blas-core, for launch
 * scripts (with --resume: of the checkpoint's scenario). */
static int answer_query(struct fcl_server *s)
{
	char err[1024];
	if (s->resume) {
		if (resume_scenario(s) != 0)
			return 2;
	} else if (fcl_scenario_load(&s->sc, s->scenario_path, NULL, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (s->query == QUERY_BLAS_CORE)
		printf("%s\n", fcl_blas_core());
	else
		printf("%u\n", s->sc.clients.count);
	free(s->scenario_text); /* resuming: the checkpoint's */
	s->scenario_text = NULL;
	return 0;
}

/* Out of file descriptors (thousands of connections) the run would lose its
 * results: the soft limit goes up to the hard one. */
static void raise_fd_limit(void)
{
	uint64_t now = 0;
	int rc = fcl_raise_fd_limit(&now);
	if (rc)
		fcl_warn("cannot raise the open-file limit: %s", strerror(-rc));
	else
		fcl_debug("open-file limit %llu", (unsigned long long)now);
}

/* --stop-with-parent: the kernel sends SIGHUP when the launcher dies (which
 * stops the run as a signal does); if it is gone already, now. */
static void stop_with_parent(void)
{
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGHUP) != 0)
		fcl_warn("cannot follow the launching process: %s", strerror(errno));
	else if (getppid() != parent)
		raise(SIGHUP);
}

/* --curve-key and --allow, read before anything else takes time. 0 or -errno. */
static int load_keys(struct fcl_server *s)
{
	char err[1024];
	int rc;

	if (s->insecure_plain)
		return 0;
	if (!fcl_curve_available()) {
		fprintf(stderr, "fcl-server: this libzmq has no CURVE (built without libsodium); "
				"--insecure-plain runs without authentication\n");
		return -ENOTSUP;
	}
	if ((rc = fcl_curve_read_secret(s->key_path, &s->key, err, sizeof err)) != 0 ||
	    (rc = fcl_allow_load(s->allow_path, &s->allow, err, sizeof err)) != 0)
		fprintf(stderr, "fcl-server: %s\n", err);
	return rc;
}

/* The run: its exit code, 2 when it could not start. */
static int run(struct fcl_server *s)
{
	int rc;

	s->started = fcl_now();
	raise_fd_limit();
	if ((rc = fcl_mkdir_p(s->run_dir)) != 0) {
		fprintf(stderr, "fcl-server: cannot create %s: %s\n", s->run_dir, strerror(-rc));
		return 2;
	}
	if (s->resume && fcl_run_is_complete(s->run_dir)) {
		fprintf(stderr, "fcl-server: the run in %s is complete: nothing to resume\n",
			s->run_dir);
		return 2;
	}
	s->loop = uv_default_loop();
	if (load_keys(s) != 0)
		return 2;
	if (inputs_init(s) != 0)
		return 2;
	if (parts_init(s) != 0) {
		inputs_fini(s);
		return 2;
	}
	if (s->stop_with_parent)
		stop_with_parent();
	coord_dispatch_start(&s->dispatch);
	uv_run(s->loop, UV_RUN_DEFAULT);
	rc = s->dispatch.exit_code;
	if (rc == 0 && s->checkpoints)
		coord_ckpt_remove_all(&s->ckpt);
	fcl_info("run %s%s", rc ? "failed: " : "complete",
		 rc ? (s->dispatch.fail_reason ? s->dispatch.fail_reason : "?") : "");
	parts_fini(s);
	inputs_fini(s);
	uv_loop_close(s->loop);
	return rc;
}

int main(int argc, char **argv)
{
	struct fcl_server s;
	int rc;

	fcl_malloc_keep_freed();
	memset(&s, 0, sizeof s);
	fcl_log_set_tag("server");
	if (parse_args(&s, argc, argv) != 0)
		rc = 2;
	else if (s.query)
		rc = answer_query(&s);
	else
		rc = run(&s);
	free(s.sets);
	fcl_allow_fini(&s.allow);
	coord_ckpt_head_fini(&s.head);
	return rc;
}
