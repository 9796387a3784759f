/* tools/sim/keys.c - the run's CURVE keys, made anew by every fcl-sim launch
 *
 * DIR/keys/ (mode 0700) holds the server's pair, one pair per client
 * process, and the server's allow file, whose line for each client key names
 * the ids that process hosts: a process can claim no other logical client,
 * and nothing without one of these keys gets past the handshake. The keys of
 * a launch are for that launch only (a resumed run gets new ones).
 */
#include "sim.h"

#include "fcl/curve.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int sim_make_keys(struct sim *sim)
{
	struct fcl_curve_keypair kp;
	char path[PATH_MAX], err[PATH_MAX + 512];
	FILE *allow;

	if (sim->insecure_plain) {
		fcl_warn("--insecure-plain: plain TCP, nobody authenticated: any process that "
			 "reaches the server's port can join the run (docs/security.md)");
		return 0;
	}
	if (!fcl_curve_available()) {
		fcl_error("this libzmq has no CURVE (built without libsodium): fcl-sim "
			  "--insecure-plain runs without authentication");
		return -1;
	}
	snprintf(sim->keys_dir, sizeof sim->keys_dir, "%s/keys", sim->run_dir);
	if ((mkdir(sim->keys_dir, 0700) != 0 && errno != EEXIST) || chmod(sim->keys_dir, 0700)) {
		fcl_error("cannot make %s: %s", sim->keys_dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof path, "%s/server", sim->keys_dir);
	if (fcl_curve_keygen(path, &kp, err, sizeof err) != 0)
		goto fail;
	snprintf(path, sizeof path, "%s/allow", sim->keys_dir);
	if (!(allow = fopen(path, "w"))) {
		snprintf(err, sizeof err, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	fprintf(allow, "# the client keys of this launch, each with the ids its process hosts\n");
	for (unsigned k = 0; k < sim->procs; k++) {
		snprintf(path, sizeof path, "%s/client-%u", sim->keys_dir, k);
		if (fcl_curve_keygen(path, &kp, err, sizeof err) != 0) {
			fclose(allow);
			goto fail;
		}
		fprintf(allow, "%s %" PRIu32 "-%" PRIu32 "\n", kp.pub, sim->clients[k].first,
			sim->clients[k].last);
	}
	if (fclose(allow) != 0) {
		snprintf(err, sizeof err, "cannot write %s/allow", sim->keys_dir);
		goto fail;
	}
	return 0;
fail:
	fcl_error("%s", err);
	return -1;
}
