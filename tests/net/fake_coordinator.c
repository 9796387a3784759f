/* tests/net/fake_coordinator.c - a client refuses a coordinator without the expected key
 *
 * Issue 16: a fake coordinator that sends the 2-byte scenario "%\xa3" made
 * fcl-client spin forever. With --server-pub the client runs the CURVE
 * handshake against the key it was given: a fake ROUTER over plain ZMTP, or
 * a CURVE server with another key, must be refused before anything it
 * sends is read, and the client must exit non-zero saying why, without
 * waiting for its connect timeout (30 s here). Each fake answers whatever
 * reaches it with that welcome, and counts what reached it.
 */
#include "../tap.h"
#include "fcl/curve.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define GIVE_UP_S 20.0 /* a client still running by then hangs: killed, the check fails */

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = fopen(log, "w");
		if (f) {
			dup2(fileno(f), 1);
			dup2(fileno(f), 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Serves the fake until the client exits: answers every message with the
 * welcome. Returns the messages that reached it; *status, *seconds. */
static int serve(void *router, pid_t pid, int *status, double *seconds)
{
	double t0 = fcl_now();
	int got = 0;
	struct fcl_msg welcome = {.type = FCL_MSG_WELCOME,
				  .client_id = -1,
				  .protocol_version = FCL_PROTOCOL_VERSION,
				  .scenario_text = "%\xa3",
				  .scenario_name = "x",
				  .n_params = 10};
	uint8_t *buf = NULL;
	size_t len = 0;
	fcl_wire_encode(&welcome, &buf, &len);
	*status = -1;
	while (fcl_now() - t0 < GIVE_UP_S) {
		zmq_pollitem_t it = {.socket = router, .events = ZMQ_POLLIN};
		if (zmq_poll(&it, 1, 50) > 0) {
			uint8_t id[256], body[4096];
			int n = zmq_recv(router, id, sizeof id, 0);
			zmq_recv(router, body, sizeof body, 0);
			got++;
			if (n > 0 && buf) {
				zmq_send(router, id, (size_t)n, ZMQ_SNDMORE);
				zmq_send(router, buf, len, 0);
			}
		}
		if (waitpid(pid, status, WNOHANG) == pid)
			break;
	}
	*seconds = fcl_now() - t0;
	if (*status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, status, 0);
		*status = -1;
	}
	free(buf);
	return got;
}

static void run(void)
{
	char dir[] = "/tmp/fcl-fake-XXXXXX", prefix[256], key[300], pub[300], log[300], err[256];
	const char *client = getenv("FCL_CLIENT");
	struct fcl_curve_keypair expected, ours, fake;

	REQUIRE(client != NULL, "FCL_CLIENT set");
	REQUIRE(mkdtemp(dir) != NULL, "a temporary folder");
	snprintf(prefix, sizeof prefix, "%s/server", dir);
	REQUIRE(fcl_curve_keygen(prefix, &expected, err, sizeof err) == 0, "the expected key");
	snprintf(prefix, sizeof prefix, "%s/client", dir);
	REQUIRE(fcl_curve_keygen(prefix, &ours, err, sizeof err) == 0, "the client's key");
	REQUIRE(fcl_curve_keypair_new(&fake) == 0, "the fake's own key");
	snprintf(key, sizeof key, "%s/client.key", dir);
	snprintf(pub, sizeof pub, "%s/server.pub", dir);

	for (int curve = 0; curve < 2; curve++) {
		void *ctx = zmq_ctx_new(), *router = zmq_socket(ctx, ZMQ_ROUTER);
		char endpoint[256];
		size_t elen = sizeof endpoint;
		int zero = 0;
		const char *kind =
		    curve ? "a CURVE coordinator with another key" : "a plain ZMTP coordinator";
		zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
		/* no ZAP handler in this context: libzmq lets every client key in */
		if (curve)
			fcl_curve_set_server(router, &fake);
		REQUIRE(zmq_bind(router, "tcp://127.0.0.1:*") == 0, "%s listens", kind);
		zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &elen);
		snprintf(log, sizeof log, "%s/client-%d.log", dir, curve);
		char *argv[] = {
		    (char *)client, "--connect", endpoint,       "--ids", "0-3",
		    "--curve-key",  key,         "--server-pub", pub,     "--connect-timeout",
		    "30",           NULL};
		int status;
		double seconds;
		int got = serve(router, spawn(argv, log), &status, &seconds);
		char *text = NULL;
		fcl_read_file(log, &text, NULL);
		NOTE("%s: the client exited after %.2f s", kind, seconds);
		CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0,
		      "facing %s the client exits non-zero, not hanging (status %d)", kind, status);
		CHECK(text && strstr(text, "failed the CURVE handshake") &&
			  !strstr(text, "no welcome within"),
		      "... refused at the handshake, not at its connect timeout, saying so");
		CHECK(got == 0, "... and nothing of the client reached the fake (%d messages)",
		      got);
		free(text);
		zmq_close(router);
		zmq_ctx_term(ctx);
	}
	if (getenv("FCL_KEEP") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			NOTE("could not remove %s", dir);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	run();
	return tap_done();
}
