/* server/net.h - the ROUTER socket inside the libuv loop
 *
 * Receives, decodes and hands every message to the dispatcher (dispatch.h);
 * sends what it gives back through the outbox this part implements. It owns
 * the sockets, the loop's handles (polls, the deadline timer, SIGINT/SIGTERM)
 * and each peer's route: its ZeroMQ routing id and the connection it is on.
 */
#ifndef FCL_SERVER_NET_H
#define FCL_SERVER_NET_H
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dispatch.h"
#include "fcl/curve.h"

/* How to reach one peer; index = the dispatcher's peer index. */
struct coord_route {
	uint8_t identity[256]; /* ZeroMQ routing id */
	size_t identity_len;
	/* departure detection: the TCP connection its hello came on */
	int conn_known; /* conn_fd is valid */
	int conn_fd;    /* libzmq's fd for the connection (ZMQ_SRCFD) */
	char addr[64];  /* the peer's IP address as libzmq saw it, or "" */
};

struct coord_net_config {
	const char *bind_endpoint;
	double heartbeat_s;    /* a peer silent this long is gone (ZMTP heartbeats) */
	int64_t max_msg_bytes; /* larger messages are refused by libzmq */
	const char *run_dir;   /* the endpoint actually bound goes to run_dir/endpoint */
	/* CURVE: the server's key pair and the client keys let in (both borrowed);
	 * NULL for plain TCP (--insecure-plain) */
	const struct fcl_curve_keypair *key;
	const struct fcl_allow *allow;
};

struct coord_net {
	uv_loop_t *loop;                 /* borrowed */
	struct coord_dispatch *dispatch; /* borrowed: gets every message and event */
	void *zmq_ctx, *router;
	void *monitor; /* PAIR socket reading the ROUTER's disconnect events */
	uv_poll_t poll, monitor_poll;
	uv_timer_t deadline; /* join timeout, then round deadline */
	uv_signal_t sigint, sigterm, sighup;
	int running; /* handles active: from init until the outbox's stop */
	struct coord_route *routes;
	uint32_t n_routes, cap_routes;
	const struct fcl_allow *allow; /* CURVE: the allow file (borrowed), else NULL */
	struct fcl_zap *zap;           /* CURVE: the ZAP handler thread */
};

/* Binds, writes the endpoint file, starts watching the socket, its
 * disconnects and the signals; nothing is armed yet (coord_dispatch_start).
 * 0 or negative errno (then nothing needs closing). */
int coord_net_init(struct coord_net *n, uv_loop_t *loop, const struct coord_net_config *cfg,
		   struct coord_dispatch *d);
/* Closes the sockets, giving queued messages time to leave. */
void coord_net_fini(struct coord_net *n);
/* The outbox that sends through n (n borrowed). */
struct coord_outbox coord_net_outbox(struct coord_net *n);

#endif
