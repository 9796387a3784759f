/* tests/net/garbage_peer.c - hostile peers next to real clients
 *
 * 1. Outsiders (issue 16). A run started by fcl-sim with its defaults (CURVE
 *    keys made per launch), whose client processes start late (a wrapper
 *    sleeps first), is attacked the way the issue reproduced its takeover:
 *    before the real clients, a peer says hello for ids 0-1 and sends
 *    updates of 1e30 with n_samples 60000, once over plain TCP and once
 *    with CURVE and a key of its own (the server's public key is no secret).
 *    Neither may receive anything, the coordinator must not even see their
 *    messages (no bad message, no refused hello), and the run must end with
 *    the parameter checksum of a clean run.
 * 2. An insider: a peer with an allowed key bound to id 0 sends garbage, a
 *    message with extra frames, an update before its hello, a hello of
 *    another protocol version (whose hostname forges a log line), a hello
 *    naming id 2 four times and one for ids outside its binding, all
 *    refused; then it joins for id 0, says a second hello (dropped) and
 *    leaves, which frees id 0. Two real fcl-client processes then run. The
 *    server answers the hellos with errors, counts and drops the rest, and
 *    finishes the run.
 */
#include "../tap.h"
#include "fcl/blas_core.h"
#include "fcl/curve.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static pid_t spawn(char *const argv[], const char *log, const char *client_env)
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = fopen(log, "w");
		if (f) {
			dup2(fileno(f), 1);
			dup2(fileno(f), 2);
		}
		if (client_env)
			setenv("FCL_CLIENT", client_env, 1);
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
	int rc = zmq_send(sock, buf, len, ZMQ_DONTWAIT);
	free(buf);
	return rc < 0 ? -1 : 0;
}

/* The file's text, waiting up to 15 s for it to appear; NULL if it does not. */
static char *wait_file(const char *path)
{
	char *text = NULL;
	for (int i = 0; i < 300 && fcl_read_file(path, &text, NULL) != 0; i++)
		usleep(50000);
	return text;
}

static char *file_in(const char *dir, const char *name)
{
	char path[512], *text = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fcl_read_file(path, &text, NULL);
	return text;
}

/* metrics.json's params_checksum into out ("" if none). */
static void checksum_of(const char *dir, char out[32])
{
	char *m = file_in(dir, "metrics.json"), *p;
	out[0] = '\0';
	if (m && (p = strstr(m, "\"params_checksum\": \"")) != NULL)
		sscanf(p + 20, "%31[0-9a-f]", out);
	free(m);
}

/* The takeover of issue 16: hello for 0-1, then updates of 1e30 and garbage.
 * With server_pub, over CURVE with a key of our own. Returns how many
 * messages came back within 1.5 s (a welcome would be the scenario). */
static int takeover(const char *endpoint, const char *server_pub)
{
	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
	int timeout = 1500, zero = 0, got = 0;
	struct fcl_curve_keypair own;
	static float huge[1000];

	for (size_t i = 0; i < sizeof huge / sizeof *huge; i++)
		huge[i] = 1e30f;
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
	if (server_pub &&
	    (fcl_curve_keypair_new(&own) != 0 || fcl_curve_set_client(sock, &own, server_pub) != 0))
		got = -1;
	zmq_connect(sock, endpoint);
	uint32_t ids[2] = {0, 1};
	struct fcl_msg hello = {.type = FCL_MSG_HELLO,
				.client_id = -1,
				.protocol_version = FCL_PROTOCOL_VERSION,
				.blas_core = fcl_blas_core(),
				.blas_version = fcl_blas_version(),
				.hostname = "impostor",
				.pid = 1,
				.ids = ids,
				.n_ids = 2};
	send_msg(sock, &hello);
	for (uint32_t r = 0; r < 4; r++)
		for (int64_t c = 0; c < 2; c++) {
			struct fcl_msg upd = {.type = FCL_MSG_CLIENT_UPDATE,
					      .round = r,
					      .client_id = c,
					      .values = huge,
					      .n_values = sizeof huge / sizeof *huge,
					      .n_samples = 60000};
			send_msg(sock, &upd);
		}
	zmq_send(sock, "\x08\x96\x01 garbage \xff", 12, ZMQ_DONTWAIT);
	char buf[256];
	while (got >= 0 && zmq_recv(sock, buf, sizeof buf, 0) >= 0)
		got++;
	zmq_close(sock);
	zmq_ctx_term(ctx);
	return got;
}

static void outsiders(const char *dir, const char *sim, const char *client, const char *scn)
{
	char clean[300], attacked[300], wrapper[300], path[400], log[400];
	char sum_clean[32], sum_attacked[32];
	int st = 0;

	snprintf(clean, sizeof clean, "%s/clean", dir);
	snprintf(attacked, sizeof attacked, "%s/attacked", dir);
	snprintf(log, sizeof log, "%s/clean.out", dir);
	char *a1[] = {(char *)sim, (char *)scn, "--quiet", "--procs",
		      "2",         "--run-dir", clean,     NULL};
	waitpid(spawn(a1, log, NULL), &st, 0);
	REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a clean fcl-sim run (status %d)", st);
	checksum_of(clean, sum_clean);

	/* the real client processes start 2 s after the server listens */
	snprintf(wrapper, sizeof wrapper, "%s/slow-client.sh", dir);
	FILE *f = fopen(wrapper, "w");
	REQUIRE(f != NULL, "a wrapper for slow clients");
	fprintf(f, "#!/bin/sh\nsleep 2\nexec '%s' \"$@\"\n", client);
	fclose(f);
	chmod(wrapper, 0755);
	snprintf(log, sizeof log, "%s/attacked.out", dir);
	char *a2[] = {(char *)sim, (char *)scn, "--quiet", "--procs",
		      "2",         "--run-dir", attacked,  NULL};
	pid_t pid = spawn(a2, log, wrapper);
	snprintf(path, sizeof path, "%s/endpoint", attacked);
	char *endpoint = wait_file(path);
	REQUIRE(endpoint != NULL, "the attacked run's server listens");
	endpoint[strcspn(endpoint, "\n")] = '\0';
	char *pub = file_in(attacked, "keys/server.pub");
	REQUIRE(pub != NULL, "fcl-sim made the run's keys by itself");
	pub[strcspn(pub, "\n")] = '\0';

	int plain = takeover(endpoint, NULL), curve = takeover(endpoint, pub);
	CHECK(plain == 0, "an impostor over plain TCP gets nothing back (%d messages)", plain);
	CHECK(curve == 0, "an impostor with a CURVE key of its own gets nothing back (%d messages)",
	      curve);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the attacked run completes (status %d)", st);
	checksum_of(attacked, sum_attacked);
	CHECK(sum_clean[0] && strcmp(sum_clean, sum_attacked) == 0,
	      "with the clean run's parameter checksum (%s vs %s)", sum_clean, sum_attacked);
	char *events = file_in(attacked, "events.jsonl"), *slog = file_in(attacked, "server.log");
	CHECK(events && strstr(events, "\"event\":\"done\"") &&
		  strstr(events, "\"bad_messages\":0,\"refused_hellos\":0,") &&
		  !strstr(events, "impostor"),
	      "nothing of theirs reached the coordinator's dispatcher");
	CHECK(slog && strstr(slog, "refused") && strstr(slog, "key not in the allow file"),
	      "the server log says it refused a key");
	free(events);
	free(slog);
	free(pub);
	free(endpoint);

	/* the control: with --insecure-plain the same impostor gets in */
	char plain_dir[300];
	snprintf(plain_dir, sizeof plain_dir, "%s/plain", dir);
	snprintf(log, sizeof log, "%s/plain.out", dir);
	char *a3[] = {(char *)sim, (char *)scn, "--quiet",          "--procs", "2",
		      "--run-dir", plain_dir,   "--insecure-plain", NULL};
	pid = spawn(a3, log, wrapper);
	snprintf(path, sizeof path, "%s/endpoint", plain_dir);
	endpoint = wait_file(path);
	REQUIRE(endpoint != NULL, "the plain run's server listens");
	endpoint[strcspn(endpoint, "\n")] = '\0';
	plain = takeover(endpoint, NULL);
	CHECK(plain > 0,
	      "the control: with --insecure-plain the impostor is welcomed (%d messages)", plain);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	free(endpoint);
	slog = file_in(plain_dir, "server.log");
	CHECK(slog && strstr(slog, "--insecure-plain: plain TCP, no authentication"),
	      "and its server log warns that it runs without authentication");
	free(slog);
}

static void insider(const char *dir, const char *server, const char *client, const char *scn,
		    const char *keygen)
{
	char path[400], logs[3][400], run[300], *endpoint = NULL, cmd[1400];
	struct fcl_curve_keypair ours;
	char err[256] = "", spub[FCL_CURVE_Z85 + 1];

	/* the server's and the real clients' keys, and the insider's bound to id 0 */
	snprintf(cmd, sizeof cmd, "'%s' '%s/server' >/dev/null && '%s' '%s/client' >/dev/null",
		 keygen, dir, keygen, dir);
	REQUIRE(system(cmd) == 0, "fcl-keygen makes the keys");
	snprintf(path, sizeof path, "%s/insider", dir);
	REQUIRE(fcl_curve_keygen(path, &ours, err, sizeof err) == 0, "an insider key %s", err);
	snprintf(path, sizeof path, "%s/server.pub", dir);
	REQUIRE(fcl_curve_read_public(path, spub, err, sizeof err) == 0, "the server's public key");
	snprintf(cmd, sizeof cmd,
		 "(cat '%s/client.pub'; echo \"$(cat '%s/insider.pub') 0\") > '%s/allow'", dir, dir,
		 dir);
	REQUIRE(system(cmd) == 0, "the allow file");

	snprintf(run, sizeof run, "%s/insider-run", dir);
	for (int i = 0; i < 3; i++)
		snprintf(logs[i], sizeof logs[i], "%s/%s.log", dir,
			 i ? (i == 1 ? "c0" : "c1") : "server");
	char key[400], allow[400], ckey[400], cpub[400];
	snprintf(key, sizeof key, "%s/server.key", dir);
	snprintf(allow, sizeof allow, "%s/allow", dir);
	snprintf(ckey, sizeof ckey, "%s/client.key", dir);
	snprintf(cpub, sizeof cpub, "%s/server.pub", dir);
	char *sargv[] = {(char *)server, (char *)scn, "--run-dir", run, "--curve-key", key,
			 "--allow",      allow,       NULL};
	pid_t spid = spawn(sargv, logs[0], NULL);
	snprintf(path, sizeof path, "%s/endpoint", run);
	endpoint = wait_file(path);
	REQUIRE(endpoint != NULL, "the server wrote its endpoint");
	endpoint[strcspn(endpoint, "\n")] = '\0';

	void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
	int timeout = 10000, zero = 0;
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
	REQUIRE(fcl_curve_set_client(sock, &ours, spub) == 0, "the insider's key is set");
	REQUIRE(zmq_connect(sock, endpoint) == 0, "the insider connects to %s", endpoint);

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
	 * hostname tries to forge a line of server.log. 5: id 2 four times.
	 * 6: ids outside the key's binding (id 0). */
	uint32_t ids[1] = {0}, dup[4] = {2, 2, 2, 2}, other[2] = {2, 3};
	struct fcl_msg hellos[3] = {
	    {.type = FCL_MSG_HELLO,
	     .client_id = -1,
	     .protocol_version = 999,
	     .blas_core = fcl_blas_core(),
	     .blas_version = fcl_blas_version(),
	     .hostname = "evil\n12:00:00.000 server info  [forged] line",
	     .ids = ids,
	     .n_ids = 1},
	    {.type = FCL_MSG_HELLO,
	     .client_id = -1,
	     .protocol_version = FCL_PROTOCOL_VERSION,
	     .blas_core = fcl_blas_core(),
	     .blas_version = fcl_blas_version(),
	     .hostname = "dup",
	     .ids = dup,
	     .n_ids = 4},
	    {.type = FCL_MSG_HELLO,
	     .client_id = -1,
	     .protocol_version = FCL_PROTOCOL_VERSION,
	     .blas_core = fcl_blas_core(),
	     .blas_version = fcl_blas_version(),
	     .hostname = "unbound",
	     .ids = other,
	     .n_ids = 2},
	};
	const char *want[3] = {"protocol version", "client id 2 named twice",
			       "not among the ids its key may host"};
	const char *what[3] = {"a hello of another protocol version",
			       "a hello naming id 2 four times",
			       "a hello for ids outside its key's binding"};
	for (int i = 0; i < 3; i++) {
		send_msg(sock, &hellos[i]);
		zmq_msg_t reply;
		zmq_msg_init(&reply);
		int got = zmq_msg_recv(&reply, sock, 0);
		struct fcl_msg m = {0};
		int decoded =
		    got > 0 && fcl_wire_decode(zmq_msg_data(&reply), zmq_msg_size(&reply), &m) == 0;
		CHECK(decoded && m.type == FCL_MSG_ERROR && strstr(m.text, want[i]),
		      "%s gets an error: %s", what[i], decoded ? m.text : "(none)");
		if (decoded)
			fcl_msg_free(&m);
		zmq_msg_close(&reply);
	}
	/* 7: a hello for its own id 0 is taken (a welcome); 8: a second hello on
	 * the same connection, for id 1, is dropped; then it leaves, and id 0 is
	 * free again for the real client */
	hellos[1].ids = ids;
	hellos[1].n_ids = 1;
	send_msg(sock, &hellos[1]);
	zmq_msg_t reply;
	zmq_msg_init(&reply);
	struct fcl_msg m = {0};
	int got = zmq_msg_recv(&reply, sock, 0);
	int welcomed = got > 0 &&
		       fcl_wire_decode(zmq_msg_data(&reply), zmq_msg_size(&reply), &m) == 0 &&
		       m.type == FCL_MSG_WELCOME;
	if (got > 0 && m.type != FCL_MSG_NONE)
		fcl_msg_free(&m);
	zmq_msg_close(&reply);
	CHECK(welcomed, "a hello for the id its key is bound to is welcomed");
	uint32_t one[1] = {1};
	hellos[1].ids = one;
	send_msg(sock, &hellos[1]);
	usleep(200000);
	zmq_close(sock);
	sock = NULL;
	char *slog = NULL;
	for (int i = 0; i < 200; i++) {
		free(slog);
		slog = NULL;
		fcl_read_file(logs[0], &slog, NULL);
		if (slog && strstr(slog, "left before the first round"))
			break;
		usleep(50000);
	}
	CHECK(slog && strstr(slog, "second hello from a process that joined"),
	      "a second hello on its connection is dropped");
	CHECK(slog && strstr(slog, "left before the first round") &&
		  strstr(slog, "logical clients 0 may join again"),
	      "when it leaves, its id is free again");
	free(slog);

	char *c0[] = {(char *)client, "--connect", endpoint,       "--ids", "0-1",
		      "--curve-key",  ckey,        "--server-pub", cpub,    NULL};
	char *c1[] = {(char *)client, "--connect", endpoint,       "--ids", "2-3",
		      "--curve-key",  ckey,        "--server-pub", cpub,    NULL};
	pid_t p0 = spawn(c0, logs[1], NULL), p1 = spawn(c1, logs[2], NULL);
	int st = 0, s0 = 0, s1 = 0;
	waitpid(spid, &st, 0);
	waitpid(p0, &s0, 0);
	waitpid(p1, &s1, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server finished the run (status %d)", st);
	CHECK(WIFEXITED(s0) && WEXITSTATUS(s0) == 0 && WIFEXITED(s1) && WEXITSTATUS(s1) == 0,
	      "both real clients exited cleanly");

	char *metrics = file_in(run, "metrics.json"), *events = file_in(run, "events.jsonl");
	slog = NULL;
	fcl_read_file(logs[0], &slog, NULL);
	CHECK(metrics && strstr(metrics, "\"complete\": true"), "the metrics are complete");
	CHECK(events && strstr(events, "\"event\":\"done\"") &&
		  strstr(events, "\"bad_messages\":4,\"refused_hellos\":3,"),
	      "the four bad messages and the three refused hellos were counted");
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
	zmq_ctx_term(ctx);
}

static void run(void)
{
	char dir[] = "/tmp/fcl-garbage-XXXXXX", scn[512];
	const char *server = getenv("FCL_SERVER"), *client = getenv("FCL_CLIENT");
	const char *sim = getenv("FCL_SIM"), *keygen = getenv("FCL_KEYGEN");

	REQUIRE(server && client && sim && keygen && getenv("FCL_TESTS"),
		"FCL_SERVER, FCL_CLIENT, FCL_SIM, FCL_KEYGEN, FCL_TESTS set");
	REQUIRE(mkdtemp(dir) != NULL, "temporary run folder");
	snprintf(scn, sizeof scn, "%s/scenarios/bad-input.yaml", getenv("FCL_TESTS"));
	outsiders(dir, sim, client, scn);
	insider(dir, server, client, scn, keygen);
	if (getenv("FCL_KEEP") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			NOTE("could not remove %s", dir);
	} else {
		NOTE("kept %s", dir);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	run();
	return tap_done();
}
