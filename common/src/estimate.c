/* common/src/estimate.c - run sizes from a scenario (fcl/estimate.h)
 *
 * Doubles throughout: the products overflow 64 bits for hostile scenarios
 * (hidden [65536, 65536] x a million rounds) and only their order matters.
 */
#include "fcl/estimate.h"

#include <errno.h>
#include <stdio.h>

#define MiB (1024.0 * 1024.0)
/* Bytes of one line of the compiled schedule's rounds.csv, one per client and round. */
#define ROUND_LINE 24.0
/* Bytes of one round's line in events.jsonl. */
#define EVENT_LINE 256.0
/* A process before the run: code, libraries, ZeroMQ and OpenBLAS buffers. */
#define BASELINE (16.0 * MiB)

static uint64_t clamp(double v)
{
	return v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
}

void fcl_estimate_scenario(const struct fcl_scenario *sc, struct fcl_estimate *e)
{
	const int synthetic = sc->data.kind == FCL_DATASET_SYNTHETIC;
	double n_train = synthetic ? sc->data.synthetic_train : 60000;
	double n_test = synthetic ? sc->data.synthetic_test : 10000;
	const double dim = synthetic ? sc->data.synthetic_dim : 784;
	const double classes = synthetic ? sc->data.synthetic_classes : 10;
	const double tasks = sc->tasks.count ? sc->tasks.count : 1;
	const double clients = sc->clients.count, per_round = sc->clients.per_round;
	double rounds, params = 0, in = dim, data, sched, state = 0, memory = 0;

	if (sc->data.train_limit && sc->data.train_limit < n_train)
		n_train = sc->data.train_limit;
	if (sc->data.test_limit && sc->data.test_limit < n_test)
		n_test = sc->data.test_limit;
	/* later starts (timeline offset, jitter) only add rounds */
	rounds = tasks * sc->tasks.rounds_per_task + sc->timeline.offset +
		 tasks * sc->timeline.jitter;
	double widths = classes; /* activations per sample */
	for (uint32_t l = 0; l < sc->model.n_hidden; l++) {
		params += (in + 1) * sc->model.hidden[l];
		in = sc->model.hidden[l];
		widths += sc->model.hidden[l];
	}
	params += (in + 1) * classes;
	/* an evaluation forwards the whole test set: activations and their gradients' room */
	const double eval = n_test * widths * 4 * 2;
	data = (n_train + n_test) * (dim + 1);
	/* per client and round an offset into its replay records; task entries;
	 * each task's sample indices, twice (the task's and its clients' lists:
	 * every permuted task holds every sample); a pixel permutation per
	 * permuted task; each task's own record */
	const int permuted = sc->tasks.kind == FCL_TASKS_PERMUTED;
	sched = clients * (rounds + 1) * 4 + clients * tasks * 16 +
		(permuted ? tasks : 1) * (n_train + n_test) * 4 * 2 + (permuted ? tasks * dim * 4 : 0) +
		tasks * 256;
	/* a client's strategy may keep two model-sized vectors (EWC: anchor and
	 * Fisher) and its replay buffer (samples, their indices and labels) */
	for (uint32_t g = 0; g <= sc->n_strategy_groups; g++) {
		const struct fcl_strategy_config *cfg =
		    g < sc->n_strategy_groups ? &sc->strategy_groups[g].cfg : &sc->strategy;
		if (cfg->memory > memory)
			memory = cfg->memory;
	}
	state = 2 * params * 4 + memory * (dim + 8);
	e->rounds = clamp(rounds);
	e->params = clamp(params);
	e->data_bytes = clamp(data);
	/* the global model, its previous copy, the rule's state (two vectors, as
	 * SCAFFOLD and FedOpt keep) and one update slot per participant */
	e->server_bytes = clamp(BASELINE + data + sched + eval + params * 4 * (4 + per_round));
	/* the model, its gradients, the global copy and the update, then each
	 * hosted client's state */
	e->client_bytes = clamp(BASELINE + data + sched + eval + params * 4 * 4 + clients * state);
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
