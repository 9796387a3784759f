/* server/cost.c - the cost breakdown of rounds (cost.h) */
#include "cost.h"

#include "fcl/wire.h"

#include <string.h>

static const char *const names[N_COST_KINDS] = {
    [COST_TRAIN] = "train",     [COST_RULE] = "rule",         [COST_CLIENT_SEND] = "client_send",
    [COST_RECEIVE] = "receive", [COST_VALIDATE] = "validate", [COST_AGGREGATE] = "aggregate",
    [COST_PROJECT] = "project", [COST_EVALUATE] = "evaluate", [COST_SEND] = "send",
};

static const char *const words[N_COST_KINDS] = {
    [COST_TRAIN] = "client: local training",
    [COST_RULE] = "client: the rule's messages (FOT sketches)",
    [COST_CLIENT_SEND] = "client: encode and send",
    [COST_RECEIVE] = "coordinator: receive and decode",
    [COST_VALIDATE] = "coordinator: validation",
    [COST_AGGREGATE] = "coordinator: aggregation",
    [COST_PROJECT] = "coordinator: projection and round end (FOT)",
    [COST_EVALUATE] = "coordinator: evaluation",
    [COST_SEND] = "coordinator: encode and send round starts",
};

static int is_client(enum coord_cost_kind k)
{
	return k <= COST_CLIENT_SEND;
}

void coord_cost_add(struct coord_cost *c, enum coord_cost_kind k, double seconds)
{
	/* a clock that went backwards, or a client's nonsense, counts as nothing */
	if (seconds > 0 && seconds < 1e9)
		c->round[k] += seconds;
}

void coord_cost_message(struct coord_cost *c, const struct fcl_msg *m)
{
	if (m->type == FCL_MSG_CLIENT_UPDATE) {
		coord_cost_add(c, COST_TRAIN, m->train_seconds);
		c->round_samples += m->n_samples;
	} else if (m->type == FCL_MSG_PARTIAL) {
		/* a process's sum: its participants' records say what they trained;
		 * the partial carries no send time of its own */
		for (size_t i = 0; i < m->n_ids; i++) {
			coord_cost_add(c, COST_TRAIN, m->rec_train_s[i]);
			c->round_samples += m->rec_samples[i];
		}
		return;
	} else if (m->type == FCL_MSG_RULE) {
		coord_cost_add(c, COST_RULE, m->rule_seconds);
	} else {
		return;
	}
	coord_cost_add(c, COST_CLIENT_SEND, m->send_seconds);
}

void coord_cost_round_end(struct coord_cost *c, FILE *f, double wall_seconds, uint32_t n_procs)
{
	double server = 0, client = 0;

	fprintf(f, ",\"samples\":%llu,\"cost\":{", (unsigned long long)c->round_samples);
	for (int k = 0; k < N_COST_KINDS; k++) {
		fprintf(f, "%s\"%s\":%.6f", k ? "," : "", names[k], c->round[k]);
		*(is_client(k) ? &client : &server) += c->round[k];
		c->run[k] += c->round[k];
	}
	double server_idle = wall_seconds - server, client_idle = wall_seconds * n_procs - client;
	fprintf(f, ",\"server_idle\":%.4f,\"client_idle\":%.4f,\"procs\":%u}",
		server_idle > 0 ? server_idle : 0.0, client_idle > 0 ? client_idle : 0.0, n_procs);
	c->run_samples += c->round_samples;
	c->run_wall += wall_seconds;
	c->run_server_idle += server_idle > 0 ? server_idle : 0.0;
	c->run_client_idle += client_idle > 0 ? client_idle : 0.0;
	c->max_procs = n_procs > c->max_procs ? n_procs : c->max_procs;
	c->rounds++;
	memset(c->round, 0, sizeof c->round);
	c->round_samples = 0;
}

void coord_cost_md(const struct coord_cost *c, FILE *f)
{
	double busy = 0, overhead = 0;

	for (int k = 0; k < N_COST_KINDS; k++) {
		busy += c->run[k];
		if (k != COST_TRAIN && k != COST_RULE)
			overhead += c->run[k];
	}
	double all = busy + c->run_server_idle + c->run_client_idle;
	fprintf(f,
		"\n## Where the time went\n\n"
		"Wall-clock seconds summed over %u rounds (%.1f s of rounds; up to %u client "
		"processes, each with the coordinator's). Clients report their parts in their "
		"messages; idle is a process's round time outside its parts: waiting for "
		"others, for the network, or for the CPU on a loaded machine. These figures "
		"depend on the machine and the process layout and are never part of the "
		"results.\n\n| part | seconds | share of process time | share of busy time |\n"
		"|---|---:|---:|---:|\n",
		c->rounds, c->run_wall, c->max_procs);
	for (int k = 0; k < N_COST_KINDS; k++)
		fprintf(f, "| %s | %.3f | %.2f %% | %.2f %% |\n", words[k], c->run[k],
			all > 0 ? 100 * c->run[k] / all : 0.0,
			busy > 0 ? 100 * c->run[k] / busy : 0.0);
	fprintf(f, "| coordinator: idle | %.3f | %.2f %% | |\n", c->run_server_idle,
		all > 0 ? 100 * c->run_server_idle / all : 0.0);
	fprintf(f, "| client processes: idle | %.3f | %.2f %% | |\n", c->run_client_idle,
		all > 0 ? 100 * c->run_client_idle / all : 0.0);
	fprintf(f,
		"\nCoordinator + transport (every part but training and the rule's messages): "
		"%.3f s, %.2f %% of the busy time. %llu samples trained, %.0f samples per "
		"second of round wall time.\n",
		overhead, busy > 0 ? 100 * overhead / busy : 0.0,
		(unsigned long long)c->run_samples,
		c->run_wall > 0 ? (double)c->run_samples / c->run_wall : 0.0);
}
