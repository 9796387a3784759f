/* common/include/fcl/zsock.h - what fcl-server and fcl-client share of ZeroMQ
 *
 * Built into the fcl_zsock library (fcl_zsock_dep), apart from the common
 * library, so that code without sockets does not link libzmq.
 */
#ifndef FCL_ZSOCK_H
#define FCL_ZSOCK_H
#include <stdint.h>

/* ZMTP heartbeats: a peer silent for `seconds` is disconnected; pings every
 * fifth of that, between 0.1 and 2 s. */
void fcl_zsock_heartbeat(void *sock, double seconds);

/* Starts a monitor of sock's events (a ZMQ_EVENT_* mask) at the inproc
 * endpoint and stores the connected PAIR socket in *monitor (linger 0).
 * 0 or -errno. */
int fcl_zsock_monitor_open(void *ctx, void *sock, const char *endpoint, int events, void **monitor);
/* Stops sock's monitor and closes the PAIR socket (NULL-safe). */
void fcl_zsock_monitor_close(void *sock, void *monitor);
/* Reads one monitor event without waiting: 1 and the event and its value
 * (a file descriptor for connection events), 0 when none is queued, -1
 * for a malformed one (drained). */
int fcl_zsock_monitor_read(void *monitor, uint16_t *event, uint32_t *value);

/* Parses a --heartbeat-style value: seconds >= min. 0 or -EINVAL, saying so
 * on stderr as "PROG: option 'OPTION' wants seconds >= MIN (got 'ARG')"
 * (the wording of fcl/cli.h). */
int fcl_cli_seconds(const char *prog, const char *option, const char *arg, double min, double *out);

#endif
