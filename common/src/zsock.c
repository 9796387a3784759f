/* common/src/zsock.c - ZeroMQ socket helpers shared by the coordinator and the clients */
#include "fcl/zsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

void fcl_zsock_heartbeat(void *sock, double seconds)
{
	int timeout = (int)(seconds * 1000), ivl = timeout / 5;
	ivl = ivl > 2000 ? 2000 : ivl < 100 ? 100 : ivl;
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
}

int fcl_zsock_monitor_open(void *ctx, void *sock, const char *endpoint, int events, void **monitor)
{
	int zero = 0;
	void *m;

	*monitor = NULL;
	if (zmq_socket_monitor(sock, endpoint, events) != 0)
		return -errno;
	if (!(m = zmq_socket(ctx, ZMQ_PAIR)))
		return -errno;
	zmq_setsockopt(m, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_connect(m, endpoint) != 0) {
		int rc = -errno;
		zmq_close(m);
		return rc;
	}
	*monitor = m;
	return 0;
}

void fcl_zsock_monitor_close(void *sock, void *monitor)
{
	if (!monitor)
		return;
	zmq_socket_monitor(sock, NULL, 0);
	zmq_close(monitor);
}

/* Frame 1 is (uint16 event, uint32 value), frame 2 the endpoint. */
int fcl_zsock_monitor_read(void *monitor, uint16_t *event, uint32_t *value)
{
	zmq_msg_t f;
	int more = 0, ok = 0;
	size_t more_len = sizeof more;

	zmq_msg_init(&f);
	if (zmq_msg_recv(&f, monitor, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&f);
		return 0;
	}
	if (zmq_msg_size(&f) >= 6) {
		const uint8_t *d = zmq_msg_data(&f);
		memcpy(event, d, sizeof *event);
		memcpy(value, d + 2, sizeof *value);
		ok = 1;
	}
	zmq_msg_close(&f);
	zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zmq_msg_init(&f);
		zmq_msg_recv(&f, monitor, 0);
		zmq_msg_close(&f);
		zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &more_len);
	}
	return ok ? 1 : -1;
}

int fcl_cli_seconds(const char *prog, const char *option, const char *arg, double min, double *out)
{
	char *end;
	double v = strtod(arg, &end);
	if (end == arg || *end || !(v >= min)) {
		fprintf(stderr, "%s: option '%s' wants seconds >= %g (got '%s')\n", prog, option, min,
			arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
