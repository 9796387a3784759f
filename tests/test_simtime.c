/* tests/test_simtime.c - simulated time's arithmetic against hand-computed values:
 * device profiles and durations (fcl/devices.h), availability spells (traces,
 * on-off), and the staleness weights (server/sim.h)
 */
#include "sim.h"

#include "fcl/devices.h"
#include "fcl/scenario.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char head[] = "data: {dataset: synthetic}\n"
			   "clients: {count: 8, per_round: 2}\n"
			   "tasks: {generator: single}\n";

/* Parses head + devices text and compiles it; 0 on success. */
static int compile(struct fcl_scenario *sc, struct fcl_devices *d, const char *devices)
{
	char text[2048], err[512];
	snprintf(text, sizeof text, "%s%s", head, devices);
	if (fcl_scenario_parse(sc, text, strlen(text), "<test>", err, sizeof err) != 0) {
		NOTE("%s", err);
		return -1;
	}
	if (fcl_devices_compile(d, sc, err, sizeof err) != 0) {
		NOTE("%s", err);
		return -1;
	}
	return 0;
}

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(b));
}

static void durations(void)
{
	struct fcl_scenario sc;
	struct fcl_devices d;

	REQUIRE(compile(&sc, &d,
			"devices:\n"
			"  speed: 50\n"
			"  up: 1000\n"
			"  down: 2000\n"
			"  latency: 0.1\n"
			"  groups: [{clients: 6-7, speed: {dist: table, values: [10, 40]}}]\n") ==
		    0,
		"a fixed profile with a group compiles");
	/* 100 samples, 400 bytes each way: 0.1 + 400/2000 + 100/50 + 0.1 + 400/1000 = 2.8 */
	CHECK(near(fcl_devices_duration(&d, 0, 100, 400, 400), 2.8),
	      "client 0: 100 samples at 50/s, 400 B down at 2000 B/s and up at 1000 B/s, "
	      "latency 0.1 each way: 2.8 s (got %.15g)",
	      fcl_devices_duration(&d, 0, 100, 400, 400));
	/* the table gives client c values[c mod 2]: client 6 -> 10, client 7 -> 40 */
	CHECK(d.dev[6].speed == 10.0 && d.dev[7].speed == 40.0 && d.dev[5].speed == 50.0,
	      "a group's table: clients 6, 7 at 10 and 40 samples/s, the others at 50");
	CHECK(near(fcl_devices_duration(&d, 7, 100, 0, 0), 0.2 + 2.5),
	      "client 7: 100 samples at 40/s plus 2 latencies: 2.7 s");
	CHECK(d.dev[6].latency == 0.1 && d.dev[6].up == 1000.0,
	      "the group inherits what it does not set");
	fcl_devices_fini(&d);

	REQUIRE(compile(&sc, &d, "devices: {speed: 7}\n") == 0, "speed only");
	CHECK(near(fcl_devices_duration(&d, 3, 70, 1u << 30, 1u << 30), 10.0),
	      "unset bandwidths and latency cost nothing: 70 samples at 7/s = 10 s");
	fcl_devices_fini(&d);
}

static void distributions(void)
{
	struct fcl_scenario sc;
	struct fcl_devices d, again;
	double lo = HUGE_VAL, hi = 0, logsum = 0;
	int below = 0;

	REQUIRE(compile(&sc, &d,
			"devices:\n  speed: {dist: lognormal, median: 100, sigma: 1}\n"
			"  up: {dist: uniform, lo: 10, hi: 20}\n") == 0,
		"lognormal and uniform compile");
	REQUIRE(compile(&sc, &again,
			"devices:\n  speed: {dist: lognormal, median: 100, sigma: 1}\n"
			"  up: {dist: uniform, lo: 10, hi: 20}\n") == 0,
		"... twice");
	int same = 1;
	for (uint32_t c = 0; c < 8; c++) {
		same &= d.dev[c].speed == again.dev[c].speed && d.dev[c].up == again.dev[c].up;
		lo = fmin(lo, d.dev[c].up);
		hi = fmax(hi, d.dev[c].up);
	}
	CHECK(same, "the same seed gives the same devices");
	CHECK(lo >= 10 && hi < 20 && hi > lo, "uniform bandwidths lie in [10, 20): %.3f..%.3f", lo,
	      hi);
	fcl_devices_fini(&again);
	fcl_devices_fini(&d);

	/* many clients: the lognormal's median and log-spread */
	char text[512];
	snprintf(text, sizeof text,
		 "data: {dataset: synthetic}\nclients: {count: 4000, per_round: 2}\n"
		 "tasks: {generator: single}\n"
		 "devices: {speed: {dist: lognormal, median: 100, sigma: 1}}\n");
	char err[256];
	REQUIRE(fcl_scenario_parse(&sc, text, strlen(text), "<test>", err, sizeof err) == 0 &&
		    fcl_devices_compile(&d, &sc, err, sizeof err) == 0,
		"4000 lognormal devices");
	double sq = 0;
	for (uint32_t c = 0; c < 4000; c++) {
		below += d.dev[c].speed < 100.0;
		logsum += log(d.dev[c].speed / 100.0);
		sq += log(d.dev[c].speed / 100.0) * log(d.dev[c].speed / 100.0);
	}
	double mean = logsum / 4000, sd = sqrt(sq / 4000 - mean * mean);
	CHECK(below > 1850 && below < 2150, "half of them are below the median 100 (%d of 4000)",
	      below);
	CHECK(fabs(sd - 1.0) < 0.05, "log(speed / median) has standard deviation sigma = 1 (%.3f)",
	      sd);
	fcl_devices_fini(&d);
}

static void traces(void)
{
	char path[] = "/tmp/fcl-test-trace-XXXXXX", text[512];
	struct fcl_scenario sc;
	struct fcl_devices d;
	double until;
	int fd = mkstemp(path);

	REQUIRE(fd >= 0, "a trace file");
	FILE *f = fdopen(fd, "w");
	fprintf(f, "client,start,end\n# client 1 is online twice\n1,20,30\n1,0,10\n2,5,40\n");
	fclose(f);
	snprintf(text, sizeof text,
		 "devices:\n  speed: 1\n"
		 "  availability: {kind: trace, file: %s}\n"
		 "  groups: [{clients: 2, availability: {kind: trace, file: %s, period: 40}}]\n",
		 path, path);
	REQUIRE(compile(&sc, &d, text) == 0, "a trace, and the same trace repeating every 40 s");
	CHECK(fcl_devices_online(&d, 1, 5, &until) == 1 && until == 10,
	      "client 1 at t=5: online until 10");
	CHECK(fcl_devices_online(&d, 1, 10, &until) == 0 && until == 20,
	      "at t=10: offline until 20 (spells are [start, end))");
	CHECK(fcl_devices_online(&d, 1, 35, &until) == 0 && until == HUGE_VAL,
	      "at t=35: offline for good");
	CHECK(fcl_devices_online(&d, 0, 1e9, &until) == 1 && until == HUGE_VAL,
	      "client 0, not in the trace: always online");
	CHECK(fcl_devices_online(&d, 2, 45, &until) == 1 && until == 80,
	      "client 2 repeats [5, 40) every 40 s: at t=45 online until 80");
	CHECK(fcl_devices_online(&d, 2, 81, &until) == 0 && until == 85,
	      "... at t=81 offline until 85");
	fcl_devices_fini(&d);

	f = fopen(path, "w");
	fprintf(f, "1,0,10\n9,0,10\n");
	fclose(f);
	snprintf(text, sizeof text, "devices: {speed: 1, availability: {kind: trace, file: %s}}\n",
		 path);
	char full[1024], err[512];
	snprintf(full, sizeof full, "%s%s", head, text);
	REQUIRE(fcl_scenario_parse(&sc, full, strlen(full), "<test>", err, sizeof err) == 0,
		"parses");
	CHECK(fcl_devices_compile(&d, &sc, err, sizeof err) == -EINVAL && strstr(err, ":2: ") &&
		  strstr(err, "client below 8"),
	      "a trace naming client 9 of 8 is refused with its line: %s", err);
	unlink(path);
}

static void on_off(void)
{
	struct fcl_scenario sc;
	struct fcl_devices a, b;
	double until, t, online = 0;
	const double horizon = 200000;

	const char *dev = "devices: {speed: 1, availability: {kind: on-off, on: 60, off: 20}}\n";
	REQUIRE(compile(&sc, &a, dev) == 0 && compile(&sc, &b, dev) == 0, "on-off compiles");
	/* b is asked backwards: the answers do not depend on the order of the queries */
	int same = 1;
	for (int k = 1000; k >= 0; k--)
		(void)fcl_devices_online(&b, 3, k * 7.3, &until);
	for (int k = 0; k <= 1000; k++) {
		double ua, ub;
		same &= fcl_devices_online(&a, 3, k * 7.3, &ua) ==
			    fcl_devices_online(&b, 3, k * 7.3, &ub) &&
			ua == ub;
	}
	CHECK(same, "queries in any order give the same spells");
	/* the share of time online is on / (on + off) = 0.75 */
	for (t = 0; t < horizon; t = until) {
		int on = fcl_devices_online(&a, 5, t, &until);
		if (until > horizon)
			until = horizon;
		if (on)
			online += until - t;
	}
	CHECK(fabs(online / horizon - 0.75) < 0.03, "online %.3f of the time (expected 0.75)",
	      online / horizon);
	fcl_devices_fini(&a);
	fcl_devices_fini(&b);
}

static void staleness(void)
{
	struct fcl_staleness c = {.kind = FCL_STALENESS_CONSTANT};
	struct fcl_staleness p = {.kind = FCL_STALENESS_POLYNOMIAL, .a = 0.5};
	struct fcl_staleness h = {.kind = FCL_STALENESS_HINGE, .a = 10, .b = 4};

	CHECK(coord_sim_staleness(&c, 0) == 1.0 && coord_sim_staleness(&c, 99) == 1.0,
	      "constant: 1 at any staleness");
	CHECK(coord_sim_staleness(&p, 0) == 1.0 && near(coord_sim_staleness(&p, 3), 0.5) &&
		  near(coord_sim_staleness(&p, 1), 1.0 / sqrt(2.0)),
	      "polynomial a=0.5 (FedBuff's 1/sqrt(1+d)): 1, 1/sqrt 2, 1/2 at d = 0, 1, 3");
	CHECK(coord_sim_staleness(&h, 4) == 1.0 && near(coord_sim_staleness(&h, 5), 1.0 / 11.0) &&
		  near(coord_sim_staleness(&h, 6), 1.0 / 21.0),
	      "hinge a=10 b=4: 1 up to d = 4, then 1/11, 1/21");
}

int main(void)
{
	durations();
	distributions();
	traces();
	on_off();
	staleness();
	return tap_done();
}
