/* common/include/fcl/estimate.h - what a run will take, from its scenario alone
 *
 * Before anything is allocated or written, every process (fcl-scenario check,
 * the server, each client on the scenario it receives) estimates the run's
 * size and refuses it past run.limits, so a scenario cannot make a process
 * eat all memory or fill the disk before round 0. The estimates are upper
 * bounds of the big items (data, schedule, parameters and their copies,
 * replay buffers, the compiled schedule's CSV files); they assume one client
 * process hosting every logical client, the worst layout. The model is the
 * scenario's own (preset or layer list), compiled on the data's sample shape:
 * its parameters and the buffers fcl_model_init allocates at the batch each
 * process uses (the server evaluates in batches of 256). Without the data's
 * figures (the files are not read when a scenario is parsed) each format's
 * usual ones stand in: IDX as
 * Fashion-MNIST (60,000 + 10,000 of 1x28x28), CIFAR as CIFAR (50,000 +
 * 10,000 of 3x32x32), npy as CIFAR in float32. The files are read whole
 * before data.train_limit / test_limit cut them, so the data's memory is
 * the files'; the schedule's counts are the limited ones.
 */
#ifndef FCL_ESTIMATE_H
#define FCL_ESTIMATE_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/scenario.h"

/* What the data holds, when its files have been read. */
struct fcl_estimate_data {
	uint32_t n_train, n_test; /* samples in the files (before data.*_limit) */
	uint32_t classes;
	struct fcl_input_shape shape;
	uint32_t value_bytes; /* per stored pixel: 1 (bytes) or 4 (float32 .npy) */
};

struct fcl_estimate {
	uint64_t rounds;       /* rounds of the schedule, at least tasks x rounds_per_task */
	uint64_t params;       /* trained model parameters (batchnorm statistics not counted) */
	uint64_t macs;         /* multiply-adds of one sample's forward pass */
	uint64_t data_bytes;   /* training and test samples in memory */
	uint64_t server_bytes; /* peak memory of the server */
	uint64_t client_bytes; /* peak memory of one client process hosting every client */
	uint64_t disk_bytes;   /* run folder: schedule CSV files, events, evaluations */
};

/* The figures of loaded data (the files' sizes, before data.*_limit). */
struct fcl_estimate_data fcl_estimate_data_of(const struct fcl_dataset *train,
					      const struct fcl_dataset *test);
/* data: the loaded data's figures, or NULL for the format's usual ones. */
void fcl_estimate_scenario(const struct fcl_scenario *sc, const struct fcl_estimate_data *data,
			   struct fcl_estimate *e);

/* 0 when e is within sc->run.limits; else -EFBIG with the key, the estimate
 * and the limit in err. */
int fcl_estimate_check(const struct fcl_scenario *sc, const struct fcl_estimate *e, char *err,
		       size_t errlen);

#endif
