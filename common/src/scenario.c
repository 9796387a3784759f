/* common/src/scenario.c - the scenario's public API (fcl/scenario.h); the
 * parser's pieces are described in scenario-private.h */
#include "scenario-private.h"
#include "yaml-guard.h"

#include "fcl/rule.h"
#include "fcl/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fcl_scenario_parse_at(struct fcl_scenario *sc, const char *text, size_t len,
			  const char *filename, const char *base_dir, char *err, size_t errlen)
{
	struct fcl_scenario tmp;
	int rc;

	fcl_scenario_defaults(&tmp);
	rc = fcl__scn_parse_text(&tmp, text, len, filename, base_dir, err, errlen);
	if (!rc)
		*sc = tmp;
	return rc;
}

int fcl_scenario_parse(struct fcl_scenario *sc, const char *text, size_t len, const char *filename,
		       char *err, size_t errlen)
{
	return fcl_scenario_parse_at(sc, text, len, filename, NULL, err, errlen);
}

/* The absolute folder of a file path (owned), or NULL without memory. Relative
 * paths in the file resolve against it, so they mean the same in every process
 * whatever its working directory (the coordinator sends the data folder it
 * resolved in its welcome). A folder realpath() cannot resolve stays as given. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
	char *dir = malloc(n + 1), *abs;

	if (!dir)
		return NULL;
	if (slash)
		memcpy(dir, path, n);
	else
		dir[0] = '.';
	dir[n] = '\0';
	if ((abs = realpath(dir, NULL)) != NULL) {
		free(dir);
		return abs;
	}
	return dir;
}

int fcl_scenario_dir(const char *path, char *out, size_t len)
{
	char *dir = dir_of(path);
	int n;

	if (!dir)
		return -ENOMEM;
	n = snprintf(out, len, "%s", dir);
	free(dir);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int fcl_scenario_load(struct fcl_scenario *sc, const char *path, char **text_out, size_t *len_out,
		      char *err, size_t errlen)
{
	struct fcl_scenario tmp;
	char *text = NULL, *dir;
	size_t len = 0;
	int rc = fcl_read_file_max(path, FCL_YAML_MAX_BYTES, &text, &len);

	if (rc) {
		if (err && errlen && rc == -EFBIG)
			snprintf(err, errlen, "%s:1:1: (file): expected at most %u bytes (got more)",
				 path, FCL_YAML_MAX_BYTES);
		else if (err && errlen)
			snprintf(err, errlen,
				 "%s:1:1: (file): expected a readable scenario file (got %s)", path,
				 strerror(-rc));
		return rc;
	}
	dir = dir_of(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	fcl_scenario_defaults(&tmp);
	rc = fcl__scn_parse_text(&tmp, text, len, path, dir, err, errlen);
	free(dir);
	if (!rc)
		*sc = tmp;
	if (!rc && text_out) {
		*text_out = text;
		if (len_out)
			*len_out = len;
	} else {
		free(text);
	}
	return rc;
}

int fcl_scenario_caveat(const struct fcl_scenario *sc, char *buf, size_t len)
{
	const struct fcl_rule *r = sc->aggregation.rule;

	if (len)
		buf[0] = '\0';
	return r && r->caveat ? r->caveat(sc, sc->aggregation.params, buf, len) : 0;
}

const struct fcl_strategy_config *fcl_scenario_strategy_of(const struct fcl_scenario *sc,
							   uint32_t client)
{
	for (uint32_t i = sc->n_strategy_groups; i-- > 0;)
		if (client >= sc->strategy_groups[i].first && client <= sc->strategy_groups[i].last)
			return &sc->strategy_groups[i].cfg;
	return &sc->strategy;
}

struct fcl_loop_config fcl_scenario_loop(const struct fcl_scenario *sc)
{
	return (struct fcl_loop_config){.online = sc->train.online,
					.epochs = sc->train.local_epochs,
					.batch_size = sc->train.batch_size,
					.stream_batch = sc->train.stream_batch,
					.online_iter = sc->train.online_iter,
					.replay_batch = sc->train.replay_batch,
					.head_bias = sc->model.head_bias,
					.mask_unexposed = sc->train.mask_unexposed,
					.bn_local = sc->model.batchnorm};
}

const char *fcl_task_kind_name(enum fcl_task_kind kind)
{
	switch (kind) {
	case FCL_TASKS_SINGLE:
		return "single";
	case FCL_TASKS_CLASS_INCREMENTAL:
		return "class-incremental";
	case FCL_TASKS_PERMUTED:
		return "permuted";
	case FCL_TASKS_TASK_INCREMENTAL:
		return "task-incremental";
	case FCL_TASKS_I_BLURRY:
		return "i-blurry";
	case FCL_TASKS_SI_BLURRY:
		return "si-blurry";
	case FCL_TASKS_SCOLE:
		return "scole";
	}
	return "unknown";
}

const char *fcl_partition_kind_name(enum fcl_partition_kind kind)
{
	switch (kind) {
	case FCL_PARTITION_IID:
		return "iid";
	case FCL_PARTITION_DIRICHLET:
		return "dirichlet";
	case FCL_PARTITION_SHARDS:
		return "shards";
	case FCL_PARTITION_QUANTITY:
		return "quantity-skew";
	}
	return "unknown";
}

int fcl_scenario_in_phase(const struct fcl_scenario *sc)
{
	for (uint32_t i = 0; i < sc->timeline.n_groups; i++)
		if (sc->timeline.groups[i].order != FCL_ORDER_INHERIT ||
		    (sc->timeline.groups[i].offset != UINT32_MAX &&
		     sc->timeline.groups[i].offset != 0))
			return 0;
	return sc->timeline.order != FCL_ORDER_SHUFFLED && sc->timeline.offset == 0 &&
	       sc->timeline.jitter == 0 && sc->timeline.n_segments == 0;
}

int fcl_scenario_timed(const struct fcl_scenario *sc)
{
	return sc->devices.on;
}

int fcl_scenario_draws_per_job(const struct fcl_scenario *sc)
{
	return sc->devices.on &&
	       (sc->aggregation.mode == FCL_AGG_ASYNC || sc->tasks.seconds_per_task > 0);
}

uint32_t fcl_scenario_concurrency(const struct fcl_scenario *sc)
{
	uint32_t c = sc->aggregation.async.concurrency;
	return c ? c : sc->clients.per_round;
}

int fcl_scenario_checkpoints(const struct fcl_scenario *sc)
{
	/* Simulated time's clock, jobs in flight and buffers have no checkpoint (yet). */
	if (fcl_scenario_timed(sc))
		return 0;
	return sc->run.checkpoint.every_rounds > 0 || sc->run.checkpoint.task_ends ||
	       sc->run.checkpoint.every_minutes > 0;
}
