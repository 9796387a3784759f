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
#include "net.h"

#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/wire.h"
#include "fcl/zsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MONITOR_ENDPOINT "inproc://fcl-server-monitor"

static int find_route(const struct coord_net *n, const uint8_t *id, size_t len)
{
	for (uint32_t p = 0; p < n->n_routes; p++)
		if (n->routes[p].identity_len == len && memcmp(n->routes[p].identity, id, len) == 0)
			return (int)p;
	return -1;
}

/* A route for a new peer, at index n->n_routes - 1. 0 or -ENOMEM. */
static int add_route(struct coord_net *n, const uint8_t *id, size_t len)
{
	if (n->n_routes == n->cap_routes) {
		uint32_t cap = n->cap_routes ? 2 * n->cap_routes : 8;
		struct coord_route *r = realloc(n->routes, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		n->routes = r;
		n->cap_routes = cap;
	}
	struct coord_route *r = &n->routes[n->n_routes++];
	memset(r, 0, sizeof *r);
	memcpy(r->identity, id, len);
	r->identity_len = len;
	return 0;
}

static void free_buffer(void *data, void *hint)
{
	(void)hint;
	free(data);
}

static int net_send(void *ud, uint32_t p, const struct fcl_msg *m, size_t *bytes)
{
	struct coord_net *n = ud;
	const struct coord_route *route = &n->routes[p];
	uint8_t *buf;
	size_t len;
	zmq_msg_t body;
	int rc = fcl_wire_encode(m, &buf, &len);

	if (rc)
		return rc;
	if (zmq_send(n->router, route->identity, route->identity_len, ZMQ_SNDMORE) < 0) {
		rc = -errno;
		free(buf);
		fcl_warn("send to peer %u failed: %s", p, zmq_strerror(-rc));
		return rc;
	}
	/* Zero copy: ZeroMQ frees the buffer once it is on the wire. */
	zmq_msg_init_data(&body, buf, len, free_buffer, NULL);
	if (zmq_msg_send(&body, n->router, 0) < 0) {
		rc = -errno;
		zmq_msg_close(&body);
		fcl_warn("send to peer %u failed: %s", p, zmq_strerror(-rc));
		return rc;
	}
	*bytes = len;
	return 0;
}

/* After a hello the run took: which connection the peer is on, for departures. */
static void remember_connection(struct coord_net *n, const uint8_t *id, size_t len, zmq_msg_t *body,
				const struct fcl_msg *hello)
{
	int p = find_route(n, id, len);
	if (p < 0 || n->routes[p].conn_known)
		return;
	struct coord_route *route = &n->routes[p];
	const char *addr = zmq_msg_gets(body, "Peer-Address");
	int fd = zmq_msg_get(body, ZMQ_SRCFD);
	snprintf(route->addr, sizeof route->addr, "%s", addr ? addr : "");
	if (fd >= 0) {
		route->conn_fd = fd;
		route->conn_known = 1;
	}
	fcl_info("process %u on %.63s connected from %s (fd %d)", hello->pid,
		 hello->hostname ? hello->hostname : "?", route->addr[0] ? route->addr : "?", fd);
}

/* A hello comes with a route of its own, kept if the dispatcher takes the peer.
 * With CURVE the ZAP handler let the connection in and named its key
 * (User-Id); the allow file's line for that key may bind it to some ids. */
static void on_hello(struct coord_net *n, const uint8_t *id, size_t len, zmq_msg_t *body,
		     const struct fcl_msg *m)
{
	const struct fcl_allow_entry *key = NULL;

	if (find_route(n, id, len) >= 0) {
		/* one connection, one process: its ids were settled by its first hello */
		coord_dispatch_drop(n->dispatch, "second hello from a process that joined");
		return;
	}
	if (n->allow && !(key = fcl_allow_find(n->allow, zmq_msg_gets(body, "User-Id")))) {
		/* cannot happen: the ZAP handler let in only allowed keys */
		coord_dispatch_drop(n->dispatch, "hello from a connection without an allowed key");
		return;
	}
	if (add_route(n, id, len) != 0) {
		fcl_error("no memory for a new peer");
		coord_dispatch_stop(n->dispatch, 1, "out of memory");
		return;
	}
	coord_dispatch_hello(n->dispatch, (int)n->n_routes - 1, m, zmq_msg_size(body),
			     key ? key->ids : NULL, key ? key->n_ids : 0);
	n->n_routes = coord_dispatch_peers(n->dispatch);
	remember_connection(n, id, len, body, m);
}

/* Reads the frames after the identity: 0 with the body, or 1 when what came is no
 * message (counted and dropped). */
static int receive_body(struct coord_net *n, zmq_msg_t *body)
{
	int more, extra = 0;
	size_t more_len = sizeof more;

	zmq_getsockopt(n->router, ZMQ_RCVMORE, &more, &more_len);
	if (!more) {
		coord_dispatch_drop(n->dispatch, "message with no body");
		return 1;
	}
	zmq_msg_init(body);
	if (zmq_msg_recv(body, n->router, 0) < 0) {
		zmq_msg_close(body);
		return 1;
	}
	/* Swallow any extra frames: a well-formed peer sends exactly one body. */
	zmq_getsockopt(n->router, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zmq_msg_t junk;
		zmq_msg_init(&junk);
		zmq_msg_recv(&junk, n->router, 0);
		zmq_msg_close(&junk);
		extra++;
		zmq_getsockopt(n->router, ZMQ_RCVMORE, &more, &more_len);
	}
	if (extra) {
		coord_dispatch_drop(n->dispatch, "message with %d extra frames", extra);
		zmq_msg_close(body);
		return 1;
	}
	return 0;
}

/* Receives one [identity, body] message; 1 when one was handled, 0 when none waits. */
static int receive_one(struct coord_net *n)
{
	uint8_t identity[256];
	zmq_msg_t body;
	struct fcl_msg m;

	double t0 = fcl_now();
	int id_len = zmq_recv(n->router, identity, sizeof identity, ZMQ_DONTWAIT);
	if (id_len < 0)
		return 0;
	if (id_len > (int)sizeof identity) {
		/* zmq_recv truncates; an identity this long is not one we gave out. */
		id_len = (int)sizeof identity;
	}
	if (receive_body(n, &body) != 0)
		return 1;
	size_t len = zmq_msg_size(&body);
	int peer = find_route(n, identity, (size_t)id_len);
	int bad = fcl_wire_decode(zmq_msg_data(&body), len, &m) != 0;
	coord_dispatch_cost(n->dispatch, COST_RECEIVE, fcl_now() - t0);
	if (bad) {
		coord_dispatch_drop(n->dispatch, "malformed message of %zu bytes from %s", len,
				    peer >= 0 ? "a known peer" : "an unknown peer");
	} else {
		if (m.type == FCL_MSG_HELLO)
			on_hello(n, identity, (size_t)id_len, &body, &m);
		else
			coord_dispatch_message(n->dispatch, peer, &m, len);
		fcl_msg_free(&m);
	}
	zmq_msg_close(&body);
	return 1;
}

static void drain(struct coord_net *n)
{
	for (;;) {
		int events = 0;
		size_t len = sizeof events;
		if (!n->running)
			return;
		if (zmq_getsockopt(n->router, ZMQ_EVENTS, &events, &len) != 0)
			return;
		if (!(events & ZMQ_POLLIN))
			return;
		receive_one(n);
	}
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data);
}

/* A connection closed: the peer whose hello came on it is gone. */
static void on_disconnect(struct coord_net *n, int fd)
{
	/* Whatever the peer sent before it went counts: take it in first. */
	drain(n);
	for (uint32_t p = 0; p < n->n_routes; p++)
		if (n->routes[p].conn_known && n->routes[p].conn_fd == fd) {
			n->routes[p].conn_known = 0; /* the fd number may be reused */
			coord_dispatch_peer_gone(n->dispatch, p, n->routes[p].addr,
						 "connection closed or heartbeat lost");
			break;
		}
	drain(n);
}

static void on_monitor(uv_poll_t *h, int status, int events)
{
	struct coord_net *n = h->data;
	(void)status;
	(void)events;
	for (;;) {
		int ev = 0;
		size_t len = sizeof ev;
		uint16_t event;
		uint32_t value;
		if (!n->monitor || zmq_getsockopt(n->monitor, ZMQ_EVENTS, &ev, &len) != 0 ||
		    !(ev & ZMQ_POLLIN))
			return;
		if (fcl_zsock_monitor_read(n->monitor, &event, &value) <= 0)
			continue;
		fcl_debug("socket event %u value %u", event, value);
		if (event == ZMQ_EVENT_DISCONNECTED)
			on_disconnect(n, (int)value);
	}
}

static void on_deadline(uv_timer_t *t)
{
	struct coord_net *n = t->data;
	coord_dispatch_deadline(n->dispatch);
	drain(n);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct coord_net *n = h->data;
	fcl_warn("signal %d: stopping the run", signum);
	coord_dispatch_stop(n->dispatch, 128 + signum,
			    signum == SIGINT   ? "interrupted (SIGINT)"
			    : signum == SIGHUP ? "hung up: the process that started the run went "
						 "away (SIGHUP)"
					       : "terminated (SIGTERM)");
}

/* ---- the outbox ---------------------------------------------------------- */

static void net_arm(void *ud, double seconds)
{
	struct coord_net *n = ud;
	uv_timer_start(&n->deadline, on_deadline, (uint64_t)(seconds * 1000.0), 0);
}

/* Stops and closes every handle: the loop ends once they are closed. */
static void net_stop(void *ud)
{
	struct coord_net *n = ud;

	if (!n->running)
		return;
	n->running = 0;
	uv_close((uv_handle_t *)&n->poll, NULL);
	uv_close((uv_handle_t *)&n->monitor_poll, NULL);
	uv_close((uv_handle_t *)&n->deadline, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	uv_close((uv_handle_t *)&n->sighup, NULL);
}

struct coord_outbox coord_net_outbox(struct coord_net *n)
{
	return (struct coord_outbox){.send = net_send, .arm = net_arm, .stop = net_stop, .ud = n};
}

/* ---- setup and teardown -------------------------------------------------- */

/* The ROUTER, bound; its endpoint in run_dir/endpoint. 0 or negative errno. */
static int open_router(struct coord_net *n, const struct coord_net_config *cfg)
{
	char endpoint[256], path[4096];
	size_t elen = sizeof endpoint;
	int zero = 0, one = 1;

	if (!(n->zmq_ctx = zmq_ctx_new()))
		return -errno;
	if (!(n->router = zmq_socket(n->zmq_ctx, ZMQ_ROUTER)))
		return -errno;
	/* Never drop a message silently: no high-water mark, and an unroutable
	 * peer is an error, not a discard. */
	zmq_setsockopt(n->router, ZMQ_SNDHWM, &zero, sizeof zero);
	zmq_setsockopt(n->router, ZMQ_RCVHWM, &zero, sizeof zero);
	zmq_setsockopt(n->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
	zmq_setsockopt(n->router, ZMQ_MAXMSGSIZE, &cfg->max_msg_bytes, sizeof cfg->max_msg_bytes);
	zmq_setsockopt(n->router, ZMQ_LINGER, &zero, sizeof zero);
	fcl_zsock_heartbeat(n->router, cfg->heartbeat_s);
	if (cfg->key) {
		/* the handler answers before the first connection can ask */
		int rc = fcl_zap_start(n->zmq_ctx, cfg->allow, &n->zap);
		if (rc || (rc = fcl_curve_set_server(n->router, cfg->key)) != 0) {
			fcl_error("cannot set up CURVE: %s", zmq_strerror(-rc));
			return rc;
		}
		n->allow = cfg->allow;
		fcl_info("CURVE: server key %s, %zu client keys allowed", cfg->key->pub,
			 cfg->allow->n);
	} else {
		fcl_warn("--insecure-plain: plain TCP, no authentication: anyone who reaches %s "
			 "can join the run and read the model (docs/security.md)",
			 cfg->bind_endpoint);
	}
	if (zmq_bind(n->router, cfg->bind_endpoint) != 0) {
		int rc = -errno;
		fcl_error("cannot bind %s: %s", cfg->bind_endpoint, zmq_strerror(errno));
		return rc;
	}
	zmq_getsockopt(n->router, ZMQ_LAST_ENDPOINT, endpoint, &elen);
	fcl_info("listening on %s (messages up to %lld bytes)", endpoint,
		 (long long)cfg->max_msg_bytes);
	snprintf(path, sizeof path, "%s/endpoint", cfg->run_dir);
	size_t len = strlen(endpoint);
	endpoint[len] = '\n';
	/* without it no launcher finds us: that is the run's end, said as it is */
	int rc = fcl_write_file_atomic(path, endpoint, len + 1);
	if (rc)
		fcl_error("cannot write %s: %s", path, strerror(-rc));
	return rc;
}

/* The loop's handles; they cannot fail once the sockets exist. */
static void start_handles(struct coord_net *n)
{
	int fd;
	size_t fd_len = sizeof fd;

	/* progress lines to a launcher that died must not kill us before SIGHUP
	 * has stopped the run: a broken pipe is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	zmq_getsockopt(n->router, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(n->loop, &n->poll, fd);
	n->poll.data = n;
	uv_poll_start(&n->poll, UV_READABLE, on_readable);
	zmq_getsockopt(n->monitor, ZMQ_FD, &fd, &fd_len);
	uv_poll_init(n->loop, &n->monitor_poll, fd);
	n->monitor_poll.data = n;
	uv_poll_start(&n->monitor_poll, UV_READABLE, on_monitor);
	uv_timer_init(n->loop, &n->deadline);
	n->deadline.data = n;
	uv_signal_init(n->loop, &n->sigint);
	uv_signal_init(n->loop, &n->sigterm);
	uv_signal_init(n->loop, &n->sighup);
	n->sigint.data = n->sigterm.data = n->sighup.data = n;
	uv_signal_start(&n->sigint, on_signal, SIGINT);
	uv_signal_start(&n->sigterm, on_signal, SIGTERM);
	uv_signal_start(&n->sighup, on_signal, SIGHUP);
	n->running = 1;
}

static void close_sockets(struct coord_net *n, int linger)
{
	fcl_zsock_monitor_close(n->router, n->monitor);
	n->monitor = NULL;
	if (n->router) {
		zmq_setsockopt(n->router, ZMQ_LINGER, &linger, sizeof linger);
		zmq_close(n->router);
		n->router = NULL;
	}
	if (n->zap) {
		uint64_t denied = fcl_zap_denied(n->zap);
		if (denied)
			fcl_warn("%llu connections were refused for their key",
				 (unsigned long long)denied);
	}
	fcl_zap_stop(n->zap, n->zmq_ctx);
	n->zap = NULL;
	if (n->zmq_ctx)
		zmq_ctx_term(n->zmq_ctx);
	n->zmq_ctx = NULL;
}

int coord_net_init(struct coord_net *n, uv_loop_t *loop, const struct coord_net_config *cfg,
		   struct coord_dispatch *d)
{
	int rc;

	memset(n, 0, sizeof *n);
	n->loop = loop;
	n->dispatch = d;
	if ((rc = open_router(n, cfg)) != 0)
		goto err_sockets;
	/* Watches the ROUTER's disconnects. */
	if ((rc = fcl_zsock_monitor_open(n->zmq_ctx, n->router, MONITOR_ENDPOINT,
					 ZMQ_EVENT_DISCONNECTED, &n->monitor)) != 0) {
		fcl_error("cannot monitor the socket for departures: %s", zmq_strerror(-rc));
		goto err_sockets;
	}
	start_handles(n);
	/* Edge-triggered: a pipe nobody tried to read never signals. Read until
	 * empty once, so that the first event wakes us. */
	on_monitor(&n->monitor_poll, 0, 0);
	return 0;

err_sockets:
	close_sockets(n, 0);
	return rc;
}

void coord_net_fini(struct coord_net *n)
{
	if (n->running) {
		/* The loop did not run to its end: close the handles now. */
		net_stop(n);
		uv_run(n->loop, UV_RUN_NOWAIT);
	}
	/* Give the shutdown messages time to leave before the socket goes. */
	close_sockets(n, 2000);
	free(n->routes);
	memset(n, 0, sizeof *n);
}
