/* server/checkpoint.h - checkpoints: the whole run at the end of a round
 *
 * RUN_DIR/checkpoints/rounds-NNNNNNNN/ (NNNNNNNN: rounds done, the round the
 * run goes on with) holds two files:
 *   server.bin   the scenario (text, seed, where its paths resolve) and the
 *                coordinator's parts, each saved by the part that owns it:
 *                the global model, the rule's state (fcl_agg_save), the round
 *                (next round, clients gone for good), the accuracy record,
 *                the run record (traffic, the lengths of the files the run
 *                appends to); then a hash of all of it
 *   clients.bin  every logical client's state (strategy and rule client
 *                state) as its process sent it, in arrival order; a hash
 * A checkpoint is written into rounds-NNNNNNNN.tmp/, both files fsynced,
 * then the folder is renamed into place and the folder above fsynced: a
 * folder without .tmp is complete. The previous one is removed after that.
 * Every random draw comes from (seed, purpose, client, round) streams, so
 * there is no generator position to keep: the round number is enough.
 *
 * The dispatcher decides when (coord_ckpt_due) and collects the clients'
 * states (coord_ckpt_take); a resume or a rollback reads the newest one back
 * into the parts (coord_ckpt_restore) and sends each process its clients'
 * states (coord_ckpt_state).
 */
#ifndef FCL_SERVER_CHECKPOINT_H
#define FCL_SERVER_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fcl/scenario.h"

struct coord_eval;
struct coord_report;
struct coord_round;
struct fcl_agg;
struct fcl_mlp;
struct fcl_msg;

/* The coordinator's parts a checkpoint holds; all borrowed. */
struct coord_ckpt_parts {
	struct fcl_mlp *model;
	struct fcl_agg *agg;
	struct coord_round *round;
	struct coord_eval *eval;
	struct coord_report *report;
};

struct coord_ckpt_config {
	const char *run_dir;
	const struct fcl_scenario *sc; /* run.checkpoint: when */
	const char *scenario_text;     /* the run's inputs, kept in server.bin */
	size_t scenario_len;
	uint64_t scenario_hash;
	const char *scenario_path; /* absolute: where its relative paths resolve */
	uint32_t n_clients;
	struct coord_ckpt_parts parts;
};

struct coord_ckpt {
	struct coord_ckpt_config c;
	char dir[4096];     /* RUN_DIR/checkpoints */
	int64_t newest;     /* rounds done at the newest complete checkpoint, -1: none */
	double newest_time; /* fcl_now() when it was written */
	uint64_t bytes;     /* its size */

	/* the one being written */
	int writing;
	uint32_t done;
	FILE *clients;         /* its clients.bin */
	uint64_t clients_hash; /* of what clients.bin holds so far */
	uint64_t n_records;
	uint8_t *complete;     /* (n_clients) a client's state is in */
	uint8_t **piece_buf;   /* (n_clients) a state being assembled, NULL: none */
	uint64_t *total, *got; /* (n_clients) its size and bytes received */

	/* the newest one, read back for a restore */
	FILE *states;
	uint64_t *offset; /* (n_clients) where a client's record starts, 0: none */
};

/* What a checkpoint's server.bin says about its run, read before the run's
 * inputs are set up (fcl-server --resume). */
struct coord_ckpt_head {
	uint32_t done; /* rounds done */
	uint64_t seed, scenario_hash;
	char *scenario_text; /* owned, NUL-terminated */
	size_t scenario_len;
	char scenario_path[FCL_SCENARIO_PATH_MAX];
	char data_path[FCL_SCENARIO_PATH_MAX];
};

/* The newest complete checkpoint in run_dir: its folder in dir, its head
 * in *h (free with coord_ckpt_head_fini), both files' hashes checked.
 * 0, -ENOENT (none), or -EIO/-EINVAL (why is logged). */
int coord_ckpt_read_head(const char *run_dir, char *dir, size_t len, struct coord_ckpt_head *h);
void coord_ckpt_head_fini(struct coord_ckpt_head *h);

/* Finds the newest complete checkpoint of run_dir and removes unfinished
 * ones. 0 or -ENOMEM. */
int coord_ckpt_init(struct coord_ckpt *c, const struct coord_ckpt_config *cfg);
void coord_ckpt_fini(struct coord_ckpt *c);
/* The run is complete: its checkpoints go (they take space, and there is
 * nothing left to resume). */
void coord_ckpt_remove_all(struct coord_ckpt *c);
/* Whether the scenario asks for a checkpoint after `done` rounds (task_end:
 * round done - 1 ended a task). */
int coord_ckpt_due(const struct coord_ckpt *c, uint32_t done, int task_end);

/* Starts the checkpoint after `done` rounds. 0 or -errno (logged). */
int coord_ckpt_begin(struct coord_ckpt *c, uint32_t done);
/* A piece of logical client `client`'s state (m: FCL_MSG_STATE). 0, or
 * -EPROTO with *why when it does not fit, or -errno of a failed write. */
int coord_ckpt_take(struct coord_ckpt *c, uint32_t client, const struct fcl_msg *m,
		    const char **why);
/* Whether every client of ids (n) has its state in. */
int coord_ckpt_has(const struct coord_ckpt *c, const uint32_t *ids, uint32_t n);
/* Writes server.bin from the parts and puts the checkpoint in place.
 * 0 or -errno (logged; the checkpoint is abandoned, the previous one kept). */
int coord_ckpt_commit(struct coord_ckpt *c);
/* Drops the checkpoint being written (the previous one stays). */
void coord_ckpt_abandon(struct coord_ckpt *c);

/* The newest checkpoint back into the parts (the files the run appends to
 * are cut back to it); then coord_ckpt_state gives each client's state.
 * 0, -ENOENT (none), -EIO or -EINVAL (logged). */
int coord_ckpt_restore(struct coord_ckpt *c);
/* Client `client`'s state in the newest checkpoint: *buf (owned) of *len
 * bytes, or *buf NULL when it has none (it starts afresh). 0 or -errno. */
int coord_ckpt_state(struct coord_ckpt *c, uint32_t client, uint8_t **buf, size_t *len);
/* Done with the states of a restore. */
void coord_ckpt_restored(struct coord_ckpt *c);

#endif
