/* server/main.c - fcl-server: the coordinator's command line, setup and teardown */
#include "server.h"

#include "fcl/rule.h"
#include "fcl/log.h"
#include "fcl/override.h"
#include "fcl/rng.h"
#include "fcl/util.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: fcl-server SCENARIO.yaml --run-dir DIR [--bind ENDPOINT] [--seed N]\n"
		   "                  [--set KEY=VALUE]... [--progress] [--heartbeat S]\n"
		   "                  [--verbose]\n"
		   "       fcl-server SCENARIO.yaml --count-clients\n"
		   "  --bind      ZeroMQ endpoint to listen on (default tcp://127.0.0.1:*);\n"
		   "              the endpoint actually bound is written to DIR/endpoint\n"
		   "  --seed      override the scenario's seed\n"
		   "  --set       edit the scenario, e.g. --set aggregation.rule=median; the edited\n"
		   "              text is what the run folder keeps and the clients run\n"
		   "  --progress  print one machine-readable progress line per round on stdout\n"
		   "  --heartbeat a client process silent for S seconds is gone (default 15)\n"
		   "  --count-clients  check the scenario, print its number of logical clients\n"
		   "              and exit (for launch scripts that split them over processes)\n");
}

static int parse_args(struct fcl_server *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"run-dir", required_argument, 0, 'r'}, {"bind", required_argument, 0, 'b'},
	    {"seed", required_argument, 0, 's'},    {"progress", no_argument, 0, 'p'},
	    {"verbose", no_argument, 0, 'v'},       {"help", no_argument, 0, 'h'},
	    {"count-clients", no_argument, 0, 'C'}, {"heartbeat", required_argument, 0, 'H'},
	    {"set", required_argument, 0, 'S'},     {0, 0, 0, 0}};
	int c;
	s->seed_override = -1;
	s->heartbeat_s = 15;
	s->bind_endpoint = "tcp://127.0.0.1:*";
	while ((c = getopt_long(argc, argv, "r:b:s:S:pH:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			s->run_dir = optarg;
			break;
		case 'b':
			s->bind_endpoint = optarg;
			break;
		case 's': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "fcl-server: --seed wants an unsigned integer\n");
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
			s->count_clients = 1;
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
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc - 1 || (!s->run_dir && !s->count_clients)) {
		usage(stderr);
		return -EINVAL;
	}
	s->scenario_path = argv[optind];
	return 0;
}

/* A rule's line for events.jsonl. */
static void agg_event(void *ud, const char *name, const char *detail)
{
	report_event(ud, name, detail);
}

/* Loads the scenario and its data, compiles it, and sizes every buffer. */
static int setup(struct fcl_server *s)
{
	char err[1024];
	int rc = fcl_scenario_load(&s->sc, s->scenario_path, &s->scenario_text, &s->scenario_len,
				   err, sizeof err);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	if (s->n_sets) {
		char *text;
		size_t len;
		char path[FCL_SCENARIO_PATH_MAX];
		memcpy(path, s->sc.data.path, sizeof path); /* resolved against the file's folder */
		if ((rc = fcl_scenario_override(s->scenario_text, s->scenario_len, s->sets,
						s->n_sets, &text, &len, err, sizeof err)) != 0 ||
		    (rc = fcl_scenario_parse(&s->sc, text, len, s->scenario_path, err,
					     sizeof err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return rc;
		}
		int path_set = 0;
		for (size_t i = 0; i < s->n_sets; i++)
			path_set |= strncmp(s->sets[i], "data.path=", 10) == 0;
		if (!path_set)
			memcpy(s->sc.data.path, path, sizeof path);
		free(s->scenario_text);
		s->scenario_text = text;
		s->scenario_len = len;
	}
	if (s->seed_override >= 0)
		s->sc.seed = (uint64_t)s->seed_override;
	s->scenario_hash = fcl_hash64(s->scenario_text, s->scenario_len);
	if ((rc = fcl_schedule_load_data(&s->sc, &s->train, &s->test, err, sizeof err)) != 0) {
		fcl_error("%s", err);
		return rc;
	}
	if ((rc = fcl_schedule_compile(&s->sched, &s->sc, &s->train, &s->test)) != 0) {
		fcl_error("cannot compile the scenario: %s", strerror(-rc));
		return rc;
	}
	fcl_info("schedule digest %016llx (each client logs its own; they must match)",
		 (unsigned long long)fcl_schedule_digest(&s->sched));
	uint32_t sizes[FCL_MLP_MAX_LAYERS + 1], L = 0;
	sizes[L++] = s->sched.dim;
	for (uint32_t h = 0; h < s->sc.model.n_hidden; h++)
		sizes[L++] = s->sc.model.hidden[h];
	sizes[L] = s->sched.n_classes;
	if ((rc = fcl_mlp_init(&s->model, L, sizes, 256)) != 0 ||
	    (rc = fcl_eval_scratch_init(&s->eval_scratch, 256, s->sched.dim)) != 0)
		return rc;
	struct fcl_rng rng;
	fcl_rng_init(&rng, s->sc.seed, FCL_RNG_MODEL_INIT, FCL_RNG_NO_CLIENT, FCL_RNG_NO_ROUND);
	fcl_mlp_init_params(&s->model, &rng);
	if (!s->sc.model.head_bias) /* a bias-free head (UER): the clients keep it at 0 */
		memset(s->model.params + s->model.b_offset[L - 1], 0,
		       s->sched.n_classes * sizeof(float));

	uint32_t K = s->sched.per_round, N = s->sched.n_clients, T = s->sched.n_tasks;
	struct fcl_agg_env env = {.run_dir = s->run_dir, .event = agg_event, .ud = s};
	if ((rc = fcl_agg_create(&s->sc, &s->model, &env, &s->agg)) != 0) {
		fcl_error("cannot set up aggregation rule %s: %s", s->sc.aggregation.rule->name,
			  strerror(-rc));
		return rc;
	}
	s->agg_in = calloc(K, sizeof *s->agg_in);
	s->owner = malloc(N * sizeof *s->owner);
	s->participants = calloc(K, sizeof *s->participants);
	s->slot = calloc(K, sizeof *s->slot);
	s->updates = calloc(K, sizeof *s->updates);
	s->slot_samples = calloc(K, sizeof *s->slot_samples);
	s->slot_loss = calloc(K, sizeof *s->slot_loss);
	s->slot_train_s = calloc(K, sizeof *s->slot_train_s);
	s->slot_answers = calloc(K, sizeof *s->slot_answers);
	s->acc_matrix = calloc((size_t)T * T, sizeof *s->acc_matrix);
	if (!s->agg_in || !s->owner || !s->participants || !s->slot || !s->updates ||
	    !s->slot_samples || !s->slot_loss || !s->slot_train_s || !s->slot_answers ||
	    !s->acc_matrix)
		return -ENOMEM;
	for (uint32_t i = 0; i < K; i++)
		if (!(s->updates[i] = malloc(s->model.n_params * sizeof(float))))
			return -ENOMEM;
	for (uint32_t c = 0; c < N; c++)
		s->owner[c] = -1;
	s->last_acc = NAN;
	fcl_info("scenario %s: %u clients (%u per round), %u tasks x %u rounds, %zu parameters, "
		 "%u train / %u test samples",
		 s->sc.name, N, K, T, s->sched.rounds_per_task, s->model.n_params, s->train.n,
		 s->test.n);
	return 0;
}

/* --count-clients: the scenario's logical clients, for launch scripts. */
static int count_clients(struct fcl_server *s)
{
	char err[1024];
	if (fcl_scenario_load(&s->sc, s->scenario_path, NULL, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	printf("%u\n", s->sc.clients.count);
	return 0;
}

static void teardown(struct fcl_server *s)
{
	fcl_zsock_monitor_close(s->router, s->monitor);
	if (s->router) {
		/* Give the shutdown messages time to leave before the socket goes. */
		int linger = 2000;
		zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
		zmq_close(s->router);
	}
	if (s->zmq_ctx)
		zmq_ctx_term(s->zmq_ctx);
	if (s->events)
		fclose(s->events);
	if (s->eval_csv)
		fclose(s->eval_csv);
	report_free(s);
	for (uint32_t i = 0; s->updates && i < s->sched.per_round; i++)
		free(s->updates[i]);
	free(s->updates);
	free(s->slot_answers);
	fcl_agg_destroy(s->agg);
	free(s->agg_in);
	free(s->sets);
	free(s->owner);
	free(s->participants);
	free(s->slot);
	free(s->slot_samples);
	free(s->slot_loss);
	free(s->slot_train_s);
	free(s->acc_matrix);
	free(s->peers);
	free(s->scenario_text);
	fcl_eval_scratch_fini(&s->eval_scratch);
	fcl_mlp_fini(&s->model);
	fcl_schedule_fini(&s->sched);
	fcl_dataset_fini(&s->train);
	fcl_dataset_fini(&s->test);
}

int main(int argc, char **argv)
{
	struct fcl_server s;
	int rc;

	memset(&s, 0, sizeof s);
	fcl_log_set_tag("server");
	if (parse_args(&s, argc, argv) != 0)
		return 2;
	if (s.count_clients)
		return count_clients(&s);
	s.started = fcl_now();
	if ((rc = fcl_mkdir_p(s.run_dir)) != 0) {
		fprintf(stderr, "fcl-server: cannot create %s: %s\n", s.run_dir, strerror(-rc));
		return 2;
	}
	if (setup(&s) != 0 || report_open(&s) != 0) {
		teardown(&s);
		return 2;
	}
	s.loop = uv_default_loop();
	s.phase = PHASE_JOINING;
	if (server_net_start(&s) != 0) {
		teardown(&s);
		return 2;
	}
	report_event(&s, "listening", NULL);
	uv_run(s.loop, UV_RUN_DEFAULT);
	uv_loop_close(s.loop);
	rc = s.exit_code;
	fcl_info("run %s%s%s", rc ? "failed: " : "complete", rc ? s.fail_reason : "", "");
	teardown(&s);
	return rc;
}
