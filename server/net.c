/* server/net.c - the ROUTER socket inside the libuv loop
 *
 * ZMQ_FD is edge-triggered: after every wake-up (and after any send, which
 * can consume the edge) we drain while ZMQ_EVENTS reports ZMQ_POLLIN.
 * Every received message is validated before use; anything malformed is
 * logged, counted and dropped, and the loop goes on.
 *
 * Departures. A client process that dies (killed, scancel, node lost) must
 * not be waited for round after round. Two libzmq mechanisms, no protocol
 * change and no client code:
 *  - ZMTP heartbeats on the ROUTER (HEARTBEAT_IVL/TIMEOUT): libzmq's I/O
 *    thread pings every peer and the peer's I/O thread answers, so a client
 *    busy training for minutes still answers; a silent connection (node
 *    down, cable cut, process stopped) is closed after --heartbeat seconds
 *    (default 15; pings every fifth of that, at most every 2 s).
 *  - a socket monitor (ZMQ_EVENT_DISCONNECTED, value = the connection's fd)
 *    read by a second uv_poll_t. A killed process is seen at once: its
 *    kernel closes the TCP connection.
 * The fd is mapped to a peer through ZMQ_SRCFD of the hello it sent.
 * Application heartbeats would need a timer thread in every client (which
 * trains in its main thread) and a message type; libzmq already does it.
 */
#include "server.h"

#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/wire.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MONITOR_ENDPOINT "inproc://fcl-server-monitor"

void server_drop(struct fcl_server *s, const char *why, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, why);
	vsnprintf(msg, sizeof msg, why, ap);
	va_end(ap);
	s->bad_messages++;
	fcl_warn("dropped message (%llu so far): %s", (unsigned long long)s->bad_messages, msg);
}

static int find_peer(const struct fcl_server *s, const uint8_t *id, size_t len)
{
	for (uint32_t p = 0; p < s->n_peers; p++)
		if (s->peers[p].identity_len == len && memcmp(s->peers[p].identity, id, len) == 0)
			return (int)p;
	return -1;
}

static void free_buffer(void *data, void *hint)
{
	(void)hint;
	free(data);
}

int server_send(struct fcl_server *s, uint32_t p, const struct fcl_msg *m)
{
	uint8_t *buf;
	size_t len;
	zmq_msg_t body;
	int rc = fcl_wire_encode(m, &buf, &len);

	if (rc)
		return rc;
	if (zmq_send(s->router, s->peers[p].identity, s->peers[p].identity_len, ZMQ_SNDMORE) < 0) {
		rc = -errno;
		free(buf);
		fcl_warn("send to peer %u failed: %s", p, zmq_strerror(-rc));
		return rc;
	}
	/* Zero copy: ZeroMQ frees the buffer once it is on the wire. */
	zmq_msg_init_data(&body, buf, len, free_buffer, NULL);
	if (zmq_msg_send(&body, s->router, 0) < 0) {
		rc = -errno;
		zmq_msg_close(&body);
		fcl_warn("send to peer %u failed: %s", p, zmq_strerror(-rc));
		return rc;
	}
	s->bytes_down += len;
	s->round_bytes_down += len;
	return 0;
}

/* After a hello was accepted: which connection the peer is on, for departures. */
static void remember_connection(struct fcl_server *s, const uint8_t *id, size_t len,
				zmq_msg_t *body)
{
	int p = find_peer(s, id, len);
	if (p < 0 || s->peers[p].conn_known)
		return;
	struct peer *peer = &s->peers[p];
	const char *addr = zmq_msg_gets(body, "Peer-Address");
	int fd = zmq_msg_get(body, ZMQ_SRCFD);
	snprintf(peer->addr, sizeof peer->addr, "%s", addr ? addr : "");
	if (fd >= 0) {
		peer->conn_fd = fd;
		peer->conn_known = 1;
	}
	fcl_info("process %u on %s connected from %s (fd %d)", peer->pid, peer->hostname,
		 peer->addr[0] ? peer->addr : "?", fd);
}

/* Receives one [identity, body] message; 1 when one was handled, 0 when none waits. */
static int receive_one(struct fcl_server *s)
{
	uint8_t identity[256];
	zmq_msg_t body;
	int more;
	size_t more_len = sizeof more;

	int id_len = zmq_recv(s->router, identity, sizeof identity, ZMQ_DONTWAIT);
	if (id_len < 0)
		return 0;
	if (id_len > (int)sizeof identity) {
		/* zmq_recv truncates; an identity this long is not one we gave out. */
		id_len = (int)sizeof identity;
	}
	zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
	if (!more) {
		server_drop(s, "message with no body");
		return 1;
	}
	zmq_msg_init(&body);
	if (zmq_msg_recv(&body, s->router, 0) < 0) {
		zmq_msg_close(&body);
		return 1;
	}
	/* Swallow any extra frames: a well-formed peer sends exactly one body. */
	int extra = 0;
	zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zmq_msg_t junk;
		zmq_msg_init(&junk);
		zmq_msg_recv(&junk, s->router, 0);
		zmq_msg_close(&junk);
		extra++;
		zmq_getsockopt(s->router, ZMQ_RCVMORE, &more, &more_len);
	}
	size_t len = zmq_msg_size(&body);
	struct fcl_msg m;
	int peer = find_peer(s, identity, (size_t)id_len);
	if (extra) {
		server_drop(s, "message with %d extra frames", extra);
	} else if (fcl_wire_decode(zmq_msg_data(&body), len, &m) != 0) {
		server_drop(s, "malformed message of %zu bytes from %s", len,
			    peer >= 0 ? "a known peer" : "an unknown peer");
	} else {
		s->bytes_up += len;
		s->round_bytes_up += len;
		if (m.type == FCL_MSG_HELLO) {
			round_on_hello(s, identity, (size_t)id_len, &m);
			remember_connection(s, identity, (size_t)id_len, &body);
		} else if (peer < 0)
			server_drop(s, "%s from an unknown peer", fcl_msg_type_name(m.type));
		else if (m.type == FCL_MSG_CLIENT_UPDATE)
			round_on_update(s, (uint32_t)peer, &m, len);
		else if (m.type == FCL_MSG_RULE)
			round_on_rule_message(s, (uint32_t)peer, &m, len);
		else if (m.type == FCL_MSG_ERROR)
			fcl_warn("peer %d reports error %d: %s", peer, m.code, m.text);
		else
			server_drop(s, "unexpected %s from peer %d", fcl_msg_type_name(m.type),
				    peer);
		fcl_msg_free(&m);
	}
	zmq_msg_close(&body);
	return 1;
}

static void drain(struct fcl_server *s)
{
	for (;;) {
		int events = 0;
		size_t len = sizeof events;
		if (s->phase == PHASE_DONE || !s->router)
			return;
		if (zmq_getsockopt(s->router, ZMQ_EVENTS, &events, &len) != 0)
			return;
		if (!(events & ZMQ_POLLIN))
			return;
		receive_one(s);
	}
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data);
}

static void on_monitor(uv_poll_t *h, int status, int events)
{
	struct fcl_server *s = h->data;
	(void)status;
	(void)events;
	for (;;) {
		int ev = 0, rc;
		size_t len = sizeof ev;
		uint16_t event;
		uint32_t value;
		if (!s->monitor || zmq_getsockopt(s->monitor, ZMQ_EVENTS, &ev, &len) != 0 ||
		    !(ev & ZMQ_POLLIN))
			return;
		if ((rc = fcl_zsock_monitor_read(s->monitor, &event, &value)) <= 0)
			continue;
		fcl_debug("socket event %u value %u", event, value);
		if (event != ZMQ_EVENT_DISCONNECTED)
			continue;
		/* Whatever the peer sent before it went counts: take it in first. */
		drain(s);
		for (uint32_t p = 0; p < s->n_peers; p++)
			if (s->peers[p].conn_known && !s->peers[p].gone &&
			    s->peers[p].conn_fd == (int)value) {
				s->peers[p].conn_known = 0; /* the fd number may be reused */
				round_on_peer_gone(s, p, "connection closed or heartbeat lost");
				break;
			}
		drain(s);
	}
}

/* Watches the ROUTER's disconnects; 0 or negative errno. */
static int monitor_start(struct fcl_server *s)
{
	int fd;
	size_t fd_len = sizeof fd;

	int rc = fcl_zsock_monitor_open(s->zmq_ctx, s->router, MONITOR_ENDPOINT,
					ZMQ_EVENT_DISCONNECTED, &s->monitor);
	if (rc)
		return rc;
	zmq_getsockopt(s->monitor, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(s->loop, &s->monitor_poll, fd);
	s->monitor_poll.data = s;
	uv_poll_start(&s->monitor_poll, UV_READABLE, on_monitor);
	/* Edge-triggered: a pipe nobody tried to read never signals. Read until
	 * empty once, so that the first event wakes us. */
	on_monitor(&s->monitor_poll, 0, 0);
	return 0;
}

static void on_deadline(uv_timer_t *t)
{
	struct fcl_server *s = t->data;
	round_on_deadline(s);
	drain(s);
}

void server_arm_deadline(struct fcl_server *s, double seconds)
{
	uv_timer_start(&s->deadline, on_deadline, (uint64_t)(seconds * 1000.0), 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct fcl_server *s = h->data;
	fcl_warn("signal %d: stopping the run", signum);
	round_finish_run(s, 128 + signum, signum == SIGINT ? "interrupted" : "terminated");
}

int server_net_start(struct fcl_server *s)
{
	char endpoint[256];
	size_t elen = sizeof endpoint;
	int zero = 0, one = 1;
	int64_t max_bytes = (int64_t)s->model.n_params * 4 + (4 << 20);
	int fd;
	size_t fd_len = sizeof fd;

	s->zmq_ctx = zmq_ctx_new();
	s->router = s->zmq_ctx ? zmq_socket(s->zmq_ctx, ZMQ_ROUTER) : NULL;
	if (!s->router)
		return -errno;
	/* Never drop a message silently: no high-water mark, and an unroutable
	 * peer is an error, not a discard. */
	zmq_setsockopt(s->router, ZMQ_SNDHWM, &zero, sizeof zero);
	zmq_setsockopt(s->router, ZMQ_RCVHWM, &zero, sizeof zero);
	zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &max_bytes, sizeof max_bytes);
	zmq_setsockopt(s->router, ZMQ_LINGER, &zero, sizeof zero);
	fcl_zsock_heartbeat(s->router, s->heartbeat_s);
	if (zmq_bind(s->router, s->bind_endpoint) != 0) {
		int rc = -errno;
		fcl_error("cannot bind %s: %s", s->bind_endpoint, zmq_strerror(errno));
		return rc;
	}
	zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, endpoint, &elen);
	fcl_info("listening on %s", endpoint);
	char path[4096];
	snprintf(path, sizeof path, "%s/endpoint", s->run_dir);
	size_t n = strlen(endpoint);
	endpoint[n] = '\n';
	if (fcl_write_file_atomic(path, endpoint, n + 1) != 0)
		fcl_warn("cannot write %s", path);

	zmq_getsockopt(s->router, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(s->loop, &s->poll, fd);
	s->poll.data = s;
	uv_poll_start(&s->poll, UV_READABLE, on_readable);
	int rc = monitor_start(s);
	if (rc) {
		fcl_error("cannot monitor the socket for departures: %s", zmq_strerror(-rc));
		return rc;
	}
	uv_timer_init(s->loop, &s->deadline);
	s->deadline.data = s;
	server_arm_deadline(s, s->sc.run.join_timeout_s);
	uv_signal_init(s->loop, &s->sigint);
	uv_signal_init(s->loop, &s->sigterm);
	s->sigint.data = s->sigterm.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	return 0;
}

void server_net_stop(struct fcl_server *s)
{
	if (!s->router)
		return;
	uv_poll_stop(&s->poll);
	if (s->monitor) {
		uv_poll_stop(&s->monitor_poll);
		uv_close((uv_handle_t *)&s->monitor_poll, NULL);
	}
	uv_timer_stop(&s->deadline);
	uv_signal_stop(&s->sigint);
	uv_signal_stop(&s->sigterm);
	uv_close((uv_handle_t *)&s->poll, NULL);
	uv_close((uv_handle_t *)&s->deadline, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
}
