/* client/conn.c - the DEALER socket to the coordinator
 *
 * Connects with backoff until the caller's connect timeout, keeps ZMTP
 * heartbeats, and follows the connection through the socket's monitor, so
 * that a timeout can say why and a connection lost after the welcome ends
 * the wait at once.
 */
#include "client.h"

#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/wire.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MONITOR_ENDPOINT "inproc://fcl-client-monitor"

/* Follows the connection through the DEALER's monitor, so that a timeout can
 * say why: nobody listening, a peer that is no ZeroMQ endpoint, or a silent one. */
static int monitor_start(struct conn *c)
{
	int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
		     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
		     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
	return fcl_zsock_monitor_open(c->ctx, c->sock, MONITOR_ENDPOINT, events, &c->monitor);
}

static void set_options(void *sock, double heartbeat_s)
{
	int zero = 0;
	/* The coordinator's messages are checked against c->max_bytes before
	 * they are decoded (conn_recv): the welcome's bound, then the scenario's
	 * largest message. libzmq's own cap is set per connection, before the
	 * scenario is known; with CURVE only the coordinator of --server-pub can
	 * send anything at all (docs/security.md). */
	int64_t max_bytes = -1;
	/* Reconnect with exponential backoff, 100 ms doubling up to 2 s, until
	 * --connect-timeout says enough. */
	int ivl = 100, ivl_max = 2000;

	zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof zero);
	zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof zero);
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
	zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	/* ZMTP heartbeats: a coordinator whose node vanished is noticed too. */
	fcl_zsock_heartbeat(sock, heartbeat_s);
}

int conn_init(struct conn *c, const char *endpoint, double heartbeat_s,
	      const struct client_opts *o)
{
	int rc;

	memset(c, 0, sizeof *c);
	c->endpoint = endpoint;
	c->max_bytes = FCL_WIRE_WELCOME_MAX_BYTES;
	c->curve = !o->insecure_plain;
	c->ctx = zmq_ctx_new();
	if (!c->ctx) {
		rc = -errno;
		fprintf(stderr, "fcl-client: cannot start ZeroMQ: %s\n", zmq_strerror(errno));
		goto err;
	}
	c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
	if (!c->sock) {
		rc = -errno;
		fprintf(stderr, "fcl-client: cannot make a socket: %s\n", zmq_strerror(errno));
		goto err_ctx;
	}
	set_options(c->sock, heartbeat_s);
	if (c->curve && (rc = fcl_curve_set_client(c->sock, &o->key, o->server_pub)) != 0) {
		fprintf(stderr, "fcl-client: cannot set up CURVE: %s\n", zmq_strerror(-rc));
		goto err_sock_only;
	}
	if (monitor_start(c) != 0)
		fcl_warn("no connection monitor (%s): errors will say less", zmq_strerror(errno));
	if (zmq_connect(c->sock, endpoint) != 0) {
		rc = -errno;
		fprintf(stderr, "fcl-client: cannot connect to %s: %s\n", endpoint,
			zmq_strerror(errno));
		goto err_sock;
	}
	return 0;
err_sock:
	fcl_zsock_monitor_close(c->sock, c->monitor);
err_sock_only:
	zmq_close(c->sock);
err_ctx:
	zmq_ctx_term(c->ctx);
err:
	memset(c, 0, sizeof *c);
	return rc;
}

void conn_fini(struct conn *c, int flush)
{
	/* Let the last updates leave before the socket closes. */
	int linger = flush ? 5000 : 0;

	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
	fcl_zsock_monitor_close(c->sock, c->monitor);
	zmq_close(c->sock);
	zmq_ctx_term(c->ctx);
	memset(c, 0, sizeof *c);
}

int conn_send(struct conn *c, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len;
	int rc = fcl_wire_encode(m, &buf, &len);
	if (rc)
		return rc;
	rc = conn_send_bytes(c, buf, len);
	free(buf);
	return rc;
}

int conn_send_bytes(struct conn *c, const void *buf, size_t len)
{
	return zmq_send(c->sock, buf, len, 0) < 0 ? -errno : 0;
}

static void monitor_drain(struct conn *c)
{
	for (;;) {
		uint16_t event = 0;
		uint32_t value;
		int rc = fcl_zsock_monitor_read(c->monitor, &event, &value);
		if (rc == 0)
			return;
		switch (rc > 0 ? event : 0) {
		case ZMQ_EVENT_CONNECT_RETRIED:
			c->retries++;
			break;
		case ZMQ_EVENT_CONNECTED:
			c->connects++;
			break;
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
			c->handshakes++;
			c->up = 1;
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
			c->bad_peers++;
			/* With CURVE a failed handshake is a peer without the
			 * coordinator's key, or one that refuses ours: final. */
			c->auth_failed += c->curve && !c->handshakes;
			break;
		case ZMQ_EVENT_DISCONNECTED:
			/* a CURVE server that cannot read our hello (another key)
			 * just hangs up before the handshake ends */
			c->auth_failed += c->curve && !c->up && !c->handshakes;
			/* After the welcome the server counts this process gone: it
			 * takes nobody back mid-run, so there is nothing to wait for. */
			if (c->up && c->welcomed)
				c->lost = 1;
			c->up = 0;
			break;
		default:
			break;
		}
	}
}

void conn_explain_no_welcome(const struct conn *c, double waited)
{
	if (c->auth_failed)
		fcl_error("%s failed the CURVE handshake: it is not the coordinator whose key is "
			  "in --server-pub (another run's, or an impostor), or that coordinator "
			  "does not allow our key (--allow); giving up",
			  c->endpoint);
	else if (c->handshakes)
		fcl_error("connected to %s, but no welcome within %.0f s: is it an fcl-server "
			  "(and not one that already started its run)?",
			  c->endpoint, waited);
	else if (c->bad_peers || c->connects)
		fcl_error("%s accepts TCP connections but the ZeroMQ/ZMTP handshake fails (%u "
			  "failed handshakes in %.0f s): wrong port, or a coordinator that wants "
			  "CURVE keys (--curve-key, --server-pub)?",
			  c->endpoint, c->bad_peers ? c->bad_peers : c->connects, waited);
	else
		fcl_error("no coordinator at %s within %.0f s (%u connection attempts refused or "
			  "unreachable): is fcl-server running there, and the port open?",
			  c->endpoint, waited, c->retries + 1);
}

/* Waits until a message can be read: 0, -ETIMEDOUT, -ECONNRESET or -errno. */
static int wait_readable(struct conn *c, double timeout_s)
{
	double deadline = fcl_now() + timeout_s;

	for (;;) {
		zmq_pollitem_t items[2] = {{.socket = c->sock, .events = ZMQ_POLLIN},
					   {.socket = c->monitor, .events = ZMQ_POLLIN}};
		double left = deadline - fcl_now();
		int n = zmq_poll(items, c->monitor ? 2 : 1, left > 0 ? (long)(left * 1000) + 1 : 0);
		if (n < 0)
			return -errno;
		if (c->monitor && (items[1].revents & ZMQ_POLLIN)) {
			monitor_drain(c);
			if (c->auth_failed)
				return -EACCES;
			/* messages that came before the break are still delivered */
			if (c->lost && !(items[0].revents & ZMQ_POLLIN) &&
			    zmq_poll(items, 1, 0) == 0)
				return -ECONNRESET;
		}
		if (items[0].revents & ZMQ_POLLIN)
			return 0;
		if (n == 0 && fcl_now() >= deadline)
			return -ETIMEDOUT;
	}
}

int conn_recv(struct conn *c, double timeout_s, struct fcl_msg *m)
{
	zmq_msg_t body;
	int rc = wait_readable(c, timeout_s);

	if (rc)
		return rc;
	zmq_msg_init(&body);
	if (zmq_msg_recv(&body, c->sock, 0) < 0) {
		rc = -errno;
		zmq_msg_close(&body);
		return rc;
	}
	if (zmq_msg_size(&body) > c->max_bytes) {
		c->oversized++;
		fcl_warn("message of %zu bytes from the coordinator dropped: the largest this "
			 "%s takes is %llu",
			 zmq_msg_size(&body), c->welcomed ? "scenario" : "welcome",
			 (unsigned long long)c->max_bytes);
		zmq_msg_close(&body);
		return -EPROTO;
	}
	rc = fcl_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), m);
	if (rc)
		fcl_warn("malformed message of %zu bytes from the coordinator dropped",
			 zmq_msg_size(&body));
	zmq_msg_close(&body);
	return rc;
}
