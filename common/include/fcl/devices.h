/* common/include/fcl/devices.h - device profiles compiled for every logical client
 *
 * A scenario's devices section (docs/scenarios.md) says how fast each client
 * computes (samples per simulated second), sends and receives (bytes per
 * second), how long each message waits on top of its bytes (latency), and when
 * the client is online. Compiling draws each client's values from the scenario
 * seed (streams FCL_RNG_DEVICE and FCL_RNG_DEVICE_ONOFF) and loads availability
 * traces, so every program that compiles the same scenario gets the same
 * devices. Nothing here reads a clock: times are simulated seconds.
 */
#ifndef FCL_DEVICES_H
#define FCL_DEVICES_H
#include <stddef.h>
#include <stdint.h>

#include "fcl/rng.h"

struct fcl_scenario;

struct fcl_device {
	double speed;    /* samples per simulated second, > 0 */
	double up, down; /* bytes per simulated second, > 0 (HUGE_VAL: instant) */
	double latency;  /* seconds per message, >= 0 */
};

/* One client's online spells [on[i], off[i]), ascending and disjoint. */
struct fcl_online {
	int kind;         /* enum fcl_avail_kind */
	double *on, *off; /* (n) */
	uint32_t n, cap;
	double period; /* trace: the spells repeat every period seconds; 0: once */
	/* on-off: spells are drawn as far as a query needs, from the client's stream,
	 * so that the answers never depend on the order of the queries */
	double mean_on, mean_off, drawn; /* drawn: spells are known up to here */
	int next_on;                     /* the spell that starts at `drawn` is online */
	struct fcl_rng rng;
};

struct fcl_devices {
	uint32_t n_clients;
	struct fcl_device *dev;    /* (n_clients) */
	struct fcl_online *online; /* (n_clients) */
};

/* Compiles sc's devices section for its clients.count clients. 0, -ENOMEM, or
 * -EINVAL/-EIO with "file:line: what" for a bad trace in err. Nothing needs
 * freeing after a failure. */
int fcl_devices_compile(struct fcl_devices *d, const struct fcl_scenario *sc, char *err,
			size_t errlen);
void fcl_devices_fini(struct fcl_devices *d);

/* Simulated seconds client c needs for one job: receive bytes_down, train on
 * `samples` sample passes, send bytes_up; each message also waits its latency. */
double fcl_devices_duration(const struct fcl_devices *d, uint32_t c, uint64_t samples,
			    uint64_t bytes_down, uint64_t bytes_up);

/* Writes the devices as CSV (client,speed,up,down,latency,availability) to
 * path. 0 or -EIO. */
int fcl_devices_write_csv(const struct fcl_devices *d, const char *path);
/* Speeds' smallest, median and largest value. */
void fcl_devices_speed_range(const struct fcl_devices *d, double *lo, double *median, double *hi);

/* Is client c online at simulated time t >= 0? *until is when that spell ends
 * (online) or the next one begins (offline); HUGE_VAL when never. Extends an
 * on-off client's drawn spells as needed (hence not const). 1 or 0; -ENOMEM
 * when the spells cannot grow (then *until is t). */
int fcl_devices_online(struct fcl_devices *d, uint32_t c, double t, double *until);

#endif
