/* common/src/estimate.c - run sizes from a scenario (fcl/estimate.h)
 *
 * Doubles throughout: the products overflow 64 bits for hostile scenarios
 * (hidden [65536, 65536] x a million rounds) and only their order matters.
 */
#include "fcl/estimate.h"
#include "fcl/model.h"
#include "fcl/rule.h"

#include <errno.h>
#include <stdio.h>

#define MiB (1024.0 * 1024.0)
/* Bytes of one line of the compiled schedule's rounds.csv, one per client and round. */
#define ROUND_LINE 24.0
/* Bytes of one round's line in events.jsonl. */
#define EVENT_LINE 256.0
/* A process before the run: code, libraries, ZeroMQ, and the part of
 * OpenBLAS's work buffer that large products touch (a resnet18-reduced run
 * measured 17 to 32 MiB above the model's own buffers). */
#define BASELINE (48.0 * MiB)

static uint64_t clamp(double v)
{
	return v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
}

/* The format's usual figures (fcl/estimate.h), or the synthetic data's. */
static struct fcl_estimate_data usual_data(const struct fcl_scenario *sc)
{
	const uint32_t declared = sc->data.classes;

	if (sc->data.kind == FCL_DATASET_SYNTHETIC)
		return (struct fcl_estimate_data){sc->data.synthetic_train, sc->data.synthetic_test,
						  sc->data.synthetic_classes,
						  {1, 1, sc->data.synthetic_dim}, 4};
	switch (sc->data.format) {
	case FCL_FORMAT_CIFAR10:
	case FCL_FORMAT_CIFAR100:
		return (struct fcl_estimate_data){50000, 10000, declared, {3, 32, 32}, 1};
	case FCL_FORMAT_NPY:
		return (struct fcl_estimate_data){50000, 10000, declared ? declared : 100,
						  {3, 32, 32}, 4};
	default:
		return (struct fcl_estimate_data){60000, 10000, declared ? declared : 10,
						  {1, 28, 28}, 1};
	}
}

struct fcl_estimate_data fcl_estimate_data_of(const struct fcl_dataset *train,
					      const struct fcl_dataset *test)
{
	return (struct fcl_estimate_data){train->n_file ? train->n_file : train->n,
					  test->n_file ? test->n_file : test->n, train->n_classes,
					  train->shape, train->xf ? 4 : 1};
}

/* The largest per-client state of any strategy group: the replay buffer's
 * records (sample id, task, label, DER++'s logits), the parameter-sized
 * vectors (EWC's anchor and Fisher, SCAFFOLD's c_i) and the extra models
 * (LwF's teacher, MVP's query backbone) it keeps. */
static double client_state(const struct fcl_scenario *sc, double params, double model,
			   uint32_t classes)
{
	const uint32_t rule_vectors = sc->aggregation.rule ? sc->aggregation.rule->client_vectors : 0;
	double worst = 0;

	for (uint32_t g = 0; g <= sc->n_strategy_groups; g++) {
		const struct fcl_strategy_config *cfg =
		    g < sc->n_strategy_groups ? &sc->strategy_groups[g].cfg : &sc->strategy;
		double st = (fcl_strategy_model_vectors(cfg) + rule_vectors) * params * 4 +
			    cfg->memory * (double)fcl_strategy_bytes_per_sample(cfg, classes) +
			    fcl_strategy_extra_models(cfg) * model;
		worst = st > worst ? st : worst;
	}
	return worst;
}

void fcl_estimate_scenario(const struct fcl_scenario *sc, const struct fcl_estimate_data *known,
			   struct fcl_estimate *e)
{
	struct fcl_estimate_data d = known ? *known : usual_data(sc);
	double n_train = d.n_train, n_test = d.n_test;
	const double dim = (double)d.shape.c * d.shape.h * d.shape.w;
	const double tasks = sc->tasks.count ? sc->tasks.count : 1;
	const double clients = sc->clients.count, per_round = sc->clients.per_round;
	const struct fcl_loop_config loop = fcl_scenario_loop(sc);
	size_t client_batch = fcl_loop_max_batch(&loop);
	double rounds, params = 0, floats = 0, server_model = 0, client_model = 0, data, sched;
	struct fcl_arch a;
	char err[320];

	/* the files are read whole before the limits cut them */
	data = (n_train + n_test) * (dim * d.value_bytes + 1);
	if (sc->data.train_limit && sc->data.train_limit < n_train)
		n_train = sc->data.train_limit;
	if (sc->data.test_limit && sc->data.test_limit < n_test)
		n_test = sc->data.test_limit;
	if (client_batch < sc->train.batch_size)
		client_batch = sc->train.batch_size;
	/* a list that does not fit the assumed shape is refused when the data
	 * is loaded; until then only the rest is counted */
	if (fcl_scenario_arch(sc, d.shape, d.classes ? d.classes : 1, &a, err, sizeof err) == 0) {
		params = (double)a.n_trained;
		floats = (double)a.n_params;
		e->macs = a.macs;
		server_model = (double)fcl_model_bytes(&a, 256);
		client_model = (double)fcl_model_bytes(&a, client_batch);
	} else {
		e->macs = 0;
	}
	/* later starts (timeline offset, jitter) only add rounds */
	rounds = tasks * sc->tasks.rounds_per_task + sc->timeline.offset +
		 tasks * sc->timeline.jitter;
	/* per client and round an offset into its replay records; task entries;
	 * each task's sample indices, twice (the task's and its clients' lists:
	 * every permuted task holds every sample); a pixel permutation per
	 * permuted task; each task's own record */
	const int permuted = sc->tasks.kind == FCL_TASKS_PERMUTED;
	sched = clients * (rounds + 1) * 4 + clients * tasks * 16 +
		(permuted ? tasks : 1) * (n_train + n_test) * 4 * 2 + (permuted ? tasks * dim * 4 : 0) +
		tasks * 256;
	e->rounds = clamp(rounds);
	e->params = clamp(params);
	e->data_bytes = clamp(data);
	/* the model's messages: one encoded and one received (4 bytes a value),
	 * a fixed-point sum (8) */
	const double messages = floats * (4 * 2 + 8);
	/* the global model (with the evaluation's activations at batch 256) and
	 * its gathered batch, its previous copy, the rule's state (two vectors,
	 * as SCAFFOLD and FedOpt keep) and one update slot per participant */
	e->server_bytes = clamp(BASELINE + data + sched + server_model + 256 * dim * 4 +
				floats * 4 * (3 + per_round) + messages);
	/* the model at the training batch, the global copy and the update, then
	 * each hosted client's state */
	e->client_bytes =
	    clamp(BASELINE + data + sched + client_model + floats * 4 * 2 + messages +
		  clients * client_state(sc, floats, client_model, d.classes));
	e->disk_bytes = clamp(rounds * clients * ROUND_LINE + rounds * EVENT_LINE +
			      clients * tasks * ROUND_LINE);
}

int fcl_estimate_check(const struct fcl_scenario *sc, const struct fcl_estimate *e, char *err,
		       size_t errlen)
{
	const uint64_t mem = e->server_bytes > e->client_bytes ? e->server_bytes : e->client_bytes;

	if (e->rounds > sc->run.limits.rounds) {
		snprintf(err, errlen,
			 "expected at most %llu rounds (got %llu: tasks x rounds_per_task); raise "
			 "run.limits.rounds to allow it",
			 (unsigned long long)sc->run.limits.rounds, (unsigned long long)e->rounds);
		return -EFBIG;
	}
	if (mem / MiB > (double)sc->run.limits.memory_mb) {
		snprintf(err, errlen,
			 "expected an estimated peak memory of at most %llu MiB per process (got "
			 "%.0f MiB for the %s: %llu parameters, %.0f MiB of data); raise "
			 "run.limits.memory_mb to allow it",
			 (unsigned long long)sc->run.limits.memory_mb, mem / MiB,
			 mem == e->server_bytes ? "server" : "client process hosting every client",
			 (unsigned long long)e->params, e->data_bytes / MiB);
		return -EFBIG;
	}
	if (e->disk_bytes / MiB > (double)sc->run.limits.disk_mb) {
		snprintf(err, errlen,
			 "expected an estimated run folder of at most %llu MiB (got %.0f MiB, mostly "
			 "the schedule's rounds.csv: %llu rounds x %u clients); raise "
			 "run.limits.disk_mb to allow it",
			 (unsigned long long)sc->run.limits.disk_mb, e->disk_bytes / MiB,
			 (unsigned long long)e->rounds, sc->clients.count);
		return -EFBIG;
	}
	return 0;
}
