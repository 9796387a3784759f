/* tests/round_world.h - a coordinator without sockets (round_world.c)
 *
 * The parts of fcl-server set up on a scenario text, driven as net.c would
 * (hellos with a fresh peer index, other messages with the sender's); a
 * recording outbox keeps what the machine sends, arms and stops. (No CHECK in
 * round_world.c: tap.h counts per file, so the test files make every check.)
 */
#ifndef FCL_TESTS_ROUND_WORLD_H
#define FCL_TESTS_ROUND_WORLD_H
#include "dispatch.h"
#include "evaluate.h"
#include "report.h"
#include "round.h"
#include "sim.h"

#include "fcl/data.h"
#include "fcl/devices.h"
#include "fcl/log.h"
#include "fcl/model.h"
#include "fcl/rule.h"
#include "fcl/scenario.h"
#include "fcl/schedule.h"
#include "fcl/wire.h"
#include "tap.h"

#include <stddef.h>
#include <stdint.h>

/* One message the machine sent, copied (what it points to is borrowed). */
struct sent {
	uint32_t peer;
	enum fcl_msg_type type;
	uint32_t round;
	uint32_t ids[8];
	size_t n_ids, n_values;
	uint32_t n_params;
	uint64_t scenario_hash;
	char text[160];
	/* the round start's request: tensor shapes and ints */
	uint32_t n_tensors, n_ints, rows[8], cols[8];
	uint64_t ints[16];
	uint64_t dispatch; /* simulated time: the round start's number */
};

struct recorder {
	struct sent sent[256];
	size_t n;
	double armed; /* the last deadline armed, -1: none */
	int n_armed, stopped;
	int fail_round_start_to; /* a peer whose round starts cannot be sent, -1: none */
};

struct world {
	char dir[64];
	char text[2048];
	struct fcl_scenario sc;
	struct fcl_dataset train, test;
	struct fcl_schedule sched;
	struct fcl_mlp model;
	struct fcl_agg *agg;
	struct coord_round round;
	struct fcl_devices devices; /* simulated time (a devices section) */
	struct coord_sim sim;
	struct coord_eval eval;
	struct coord_report report;
	struct coord_dispatch d;
	struct recorder out;
	uint64_t initial_checksum;
};

enum update_kind { GOOD, WRONG_SIZE, NON_FINITE, NO_SAMPLES };

/* The log: every line since forget_log is kept for logged(). */
void log_sink(enum fcl_log_level level, const char *line, void *user);
void forget_log(void);
int logged(const char *s); /* some line logged since forget_log contains s */

/* A run in a fresh folder under /tmp on the test scenario with this rule, or on
 * a scenario text of its own; NULL (after a NOTE) when it cannot be set up. */
struct world *world_new(const char *rule);
struct world *world_new_text(const char *text);
void world_free(struct world *w); /* NULL-safe; keeps the folder with FCL_KEEP set */

void deliver(struct world *w, int from, const struct fcl_msg *m);
/* A hello from a new process hosting first .. first + n - 1: its peer index
 * if the run took it, else -1. */
int hello(struct world *w, uint32_t first, uint32_t n, uint32_t version);
/* An update of client from peer `from` for round (and dispatch 0). */
void update(struct world *w, int from, uint32_t client, uint32_t round, enum update_kind k);
/* Messages of a type sent since `since`, to peer (or any peer, -1). */
size_t count_sent(const struct world *w, size_t since, enum fcl_msg_type type, int peer);
const struct sent *find_sent(const struct world *w, size_t since, enum fcl_msg_type type, int peer);
int file_has(const struct world *w, const char *name, const char *s);
int join_both(struct world *w);             /* peers 0 (clients 0-1) and 1 (2-3) join */
void all_good(struct world *w, uint32_t r); /* every client of 0-3 sends a good update */

#endif
