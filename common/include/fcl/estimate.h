/* common/include/fcl/estimate.h - what a run will take, from its scenario alone
 *
 * Before anything is allocated or written, every process (fcl-scenario check,
 * the server, each client on the scenario it receives) estimates the run's
 * size and refuses it past run.limits, so a scenario cannot make a process
 * eat all memory or fill the disk before round 0. The estimates are upper
 * bounds of the big items (data, schedule, parameters and their copies,
 * replay buffers, the compiled schedule's CSV files); they assume one client
 * process hosting every logical client, the worst layout. Sizes of IDX data
 * are the Fashion-MNIST ones (60,000 + 10,000 samples of 784 pixels) unless
 * limited, since the files are not read here.
 */
#ifndef FCL_ESTIMATE_H
#define FCL_ESTIMATE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/scenario.h"

struct fcl_estimate {
	uint64_t rounds;       /* rounds of the schedule, at least tasks x rounds_per_task */
	uint64_t params;       /* model parameters */
	uint64_t data_bytes;   /* training and test samples in memory */
	uint64_t server_bytes; /* peak memory of the server */
	uint64_t client_bytes; /* peak memory of one client process hosting every client */
	uint64_t disk_bytes;   /* run folder: schedule CSV files, events, evaluations */
};

void fcl_estimate_scenario(const struct fcl_scenario *sc, struct fcl_estimate *e);

/* 0 when e is within sc->run.limits; else -EFBIG with the key, the estimate
 * and the limit in err. */
int fcl_estimate_check(const struct fcl_scenario *sc, const struct fcl_estimate *e, char *err,
		       size_t errlen);

#endif
