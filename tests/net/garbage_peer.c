/* tests/net/garbage_peer.c - a hostile peer next to real clients
 *
 * Starts a real fcl-server, connects a DEALER of its own that sends garbage,
 * a message with extra frames, an update from a peer that never said hello,
 * and a hello of another protocol version (whose hostname holds a newline
 * and a fake log line); then starts two real fcl-client
 * processes. The server must answer the bad hello with an error, count and
 * drop the rest, and still finish the run with the real clients.
 */
#include "../tap.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

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

static int send_msg(void *sock, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len;
	if (fcl_wire_encode(m, &buf, &len) != 0)
		return -1;
	int rc = zmq_send(sock, buf, len, 0);
	free(buf);
	return rc < 0 ? -1 : 0;
}

static void run(void)
{
	char dir[] = "/tmp/fcl-garbage-XXXXXX", path[256], logs[3][256], *endpoint = NULL;
	const char *server = getenv("FCL_SERVER"), *client = getenv("FCL_CLIENT");
	char scn[512];
	REQUIRE(server && client && getenv("FCL_TESTS"), "FCL_SERVER, FCL_CLIENT, FCL_TESTS set");
	REQUIRE(mkdtemp(dir) != NULL, "temporary run folder");
	snprintf(scn, sizeof scn, "%s/scenarios/bad-input.yaml", getenv("FCL_TESTS"));
	for (int i = 0; i < 3; i++)
		snprintf(logs[i], sizeof logs[i], "%s/%s.log", dir,
			 i ? (i == 1 ? "c0" : "c1") : "server");

	char *sargv[] = {(char *)server, scn, "--run-dir", dir, NULL};
	pid_t spid = spawn(sargv, logs[0]);
	snprintf(path, sizeof path, "%s/endpoint", dir);
	for (int i = 0; i < 300 && fcl_read_file(path, &endpoint, NULL) != 0; i++)
		usleep(50000);
	REQUIRE(endpoint != NULL, "the server wrote its endpoint");
	endpoint[strcspn(endpoint, "\n")] = '\0';

	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
	int timeout = 10000, zero = 0;
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
	REQUIRE(zmq_connect(sock, endpoint) == 0, "hostile peer connects to %s", endpoint);

	/* 1: bytes that are no message; 2: three frames; 3: update before hello */
	zmq_send(sock, "\x08\x96\x01 garbage \xff", 12, 0);
	zmq_send(sock, "a", 1, ZMQ_SNDMORE);
	zmq_send(sock, "b", 1, ZMQ_SNDMORE);
	zmq_send(sock, "c", 1, 0);
	float v[4] = {0};
	struct fcl_msg upd = {.type = FCL_MSG_CLIENT_UPDATE,
			      .client_id = 0,
			      .values = v,
			      .n_values = 4,
			      .n_samples = 1};
	send_msg(sock, &upd);
	/* 4: a hello from the future gets an error back, not a welcome; its
	 * hostname tries to forge a line of server.log */
	uint32_t ids[1] = {0};
	struct fcl_msg hello = {.type = FCL_MSG_HELLO,
				.client_id = -1,
				.protocol_version = 999,
				.hostname = "evil\n12:00:00.000 server info  [forged] line",
				.ids = ids,
				.n_ids = 1};
	send_msg(sock, &hello);
	zmq_msg_t reply;
	zmq_msg_init(&reply);
	int got = zmq_msg_recv(&reply, sock, 0);
	struct fcl_msg m = {0};
	int decoded =
	    got > 0 && fcl_wire_decode(zmq_msg_data(&reply), zmq_msg_size(&reply), &m) == 0;
	CHECK(decoded && m.type == FCL_MSG_ERROR && strstr(m.text, "protocol version"),
	      "a hello of another protocol version gets an error: %s", decoded ? m.text : "(none)");
	if (decoded)
		fcl_msg_free(&m);
	zmq_msg_close(&reply);

	char *c0[] = {(char *)client, "--connect", endpoint, "--ids", "0-1", NULL};
	char *c1[] = {(char *)client, "--connect", endpoint, "--ids", "2-3", NULL};
	pid_t p0 = spawn(c0, logs[1]), p1 = spawn(c1, logs[2]);
	int st = 0, s0 = 0, s1 = 0;
	waitpid(spid, &st, 0);
	waitpid(p0, &s0, 0);
	waitpid(p1, &s1, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server finished the run (status %d)", st);
	CHECK(WIFEXITED(s0) && WEXITSTATUS(s0) == 0 && WIFEXITED(s1) && WEXITSTATUS(s1) == 0,
	      "both real clients exited cleanly");

	char *metrics = NULL, *events = NULL, *slog = NULL;
	snprintf(path, sizeof path, "%s/metrics.json", dir);
	fcl_read_file(path, &metrics, NULL);
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	fcl_read_file(path, &events, NULL);
	fcl_read_file(logs[0], &slog, NULL);
	CHECK(metrics && strstr(metrics, "\"complete\": true"), "the metrics are complete");
	CHECK(events && strstr(events, "\"event\":\"done\"") &&
		  strstr(events, "\"bad_messages\":3,"),
	      "the three bad messages were counted");
	CHECK(slog && strstr(slog, "malformed message") && strstr(slog, "extra frames") &&
		  strstr(slog, "from an unknown peer") && strstr(slog, "refusing process"),
	      "the server log says what it dropped and why");
	CHECK(slog && strstr(slog, "on evil\\n12:00:00.000 server info  [forged] line") &&
		  !strstr(slog, "\n12:00:00.000 server info  [forged] line"),
	      "a hostname with a newline is quoted escaped and forges no line of the log");
	free(metrics);
	free(events);
	free(slog);
	free(endpoint);
	zmq_close(sock);
	zmq_ctx_term(ctx);
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
