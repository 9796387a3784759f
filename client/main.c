/* client/main.c - fcl-client: a worker process hosting one or more logical clients
 *
 * It says hello with the ids it hosts, receives the scenario from the
 * coordinator (so it can never run another one), compiles it against its
 * local copy of the data, then for each round trains its assigned logical
 * clients in id order and sends one update per logical client.
 *
 * This file wires the modules of client.h together and runs the receive loop.
 */
#include "client.h"

#include "fcl/blas_core.h"
#include "fcl/log.h"
#include "fcl/util.h"
#include "fcl/wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int say_hello(const struct client_opts *o, struct conn *c)
{
	char host[64] = "";

	gethostname(host, sizeof host - 1);
	struct fcl_msg hello = {.type = FCL_MSG_HELLO,
				.client_id = -1,
				.protocol_version = FCL_PROTOCOL_VERSION,
				.ids = o->ids,
				.n_ids = o->n_ids,
				.pid = (uint32_t)getpid(),
				.hostname = host,
				.blas_core = fcl_blas_core(),
				.blas_version = fcl_blas_version()};
	return conn_send(c, &hello);
}

/* Logs why the wait for the coordinator ended, for conn_recv's rc. */
static void explain_wait(const struct client_opts *o, const struct conn *c, int rc)
{
	if (rc == -EACCES)
		conn_explain_no_welcome(c, 0);
	else if (rc == -ETIMEDOUT && c->welcomed)
		fcl_error("no word from the coordinator at %s for %.0f s", o->endpoint,
			  o->idle_timeout_s);
	else if (rc == -ETIMEDOUT)
		conn_explain_no_welcome(c, o->connect_timeout_s);
	else if (rc == -ECONNRESET)
		fcl_error("lost the coordinator at %s (connection closed, or no heartbeat "
			  "for %g s): it counts this process as gone, giving up",
			  o->endpoint, o->heartbeat_s);
}

/* Acts on one message from the coordinator: 0 to go on, 1 when the run is
 * over, or a negative errno. */
static int dispatch(struct conn *c, struct worker *w, const struct fcl_msg *m)
{
	int rc = 0;

	switch (m->type) {
	case FCL_MSG_WELCOME:
		rc = c->welcomed ? 0 : worker_on_welcome(w, m);
		c->welcomed = 1;
		break;
	case FCL_MSG_ROUND_START:
		rc = c->welcomed ? worker_on_round_start(w, m) : 0;
		break;
	case FCL_MSG_SAVE:
		rc = c->welcomed ? worker_on_save(w, m) : 0;
		break;
	case FCL_MSG_RESTORE:
		rc = c->welcomed ? worker_on_restore(w, m) : 0;
		break;
	case FCL_MSG_SHUTDOWN:
		fcl_info("coordinator ends the run: %s", m->text);
		rc = 1;
		break;
	case FCL_MSG_ERROR:
		fcl_error("coordinator refused us: %s", m->text);
		rc = -EPROTO;
		break;
	default:
		fcl_warn("unexpected %s from the coordinator dropped", fcl_msg_type_name(m->type));
		break;
	}
	return rc;
}

/* A process that cannot go on tells the coordinator why before it leaves,
 * so that the coordinator's log and events.jsonl say it. */
static void say_why(struct conn *c, int rc)
{
	const char *why = rc == -ENOMEM   ? "out of memory"
			  : rc == -EPROTO ? "a message from the coordinator did not fit"
					  : strerror(-rc);
	struct fcl_msg err = {.type = FCL_MSG_ERROR, .client_id = -1, .code = rc, .text = why};
	conn_send(c, &err);
}

/* Messages read ahead and not acted on yet, oldest first. */
struct inbox {
	struct fcl_msg m[32];
	size_t n;
};

/* Before training a round start: whatever else has come already. When the
 * coordinator has ended the run (with simulated time it may have jobs out that
 * it no longer needs), the work queued before its shutdown is skipped: *m
 * becomes the shutdown. */
static void read_ahead(struct conn *c, struct inbox *in, struct fcl_msg *m)
{
	struct fcl_msg x;
	int rc;

	while (in->n < sizeof in->m / sizeof *in->m && (rc = conn_recv(c, 0, &x)) != -ETIMEDOUT) {
		if (rc == 0)
			in->m[in->n++] = x;
		else if (rc != -EPROTO)
			break; /* the next blocking receive says what went wrong */
	}
	for (size_t i = 0; i < in->n; i++) {
		if (in->m[i].type != FCL_MSG_SHUTDOWN)
			continue;
		fcl_msg_free(m);
		*m = in->m[i];
		for (size_t k = 0; k < i; k++)
			fcl_msg_free(&in->m[k]);
		memmove(in->m, in->m + i + 1, (in->n - i - 1) * sizeof *in->m);
		in->n -= i + 1;
		return;
	}
}

static int run(const struct client_opts *o, struct conn *c, struct worker *w)
{
	struct inbox in = {.n = 0};
	int rc = say_hello(o, c);

	while (rc == 0) {
		struct fcl_msg m;
		if (in.n) {
			m = in.m[0];
			memmove(in.m, in.m + 1, --in.n * sizeof *in.m);
		} else if ((rc =
				conn_recv(c, c->welcomed ? o->idle_timeout_s : o->connect_timeout_s,
					  &m)) != 0) {
			if (rc == -EPROTO) { /* malformed, dropped */
				rc = 0;
				continue;
			}
			explain_wait(o, c, rc);
			break;
		}
		if (m.type == FCL_MSG_ROUND_START)
			read_ahead(c, &in, &m);
		rc = dispatch(c, w, &m);
		fcl_msg_free(&m);
		if (rc < 0 && c->welcomed && !c->lost)
			say_why(c, rc);
	}
	while (in.n)
		fcl_msg_free(&in.m[--in.n]);
	return rc > 0 ? 0 : rc;
}

int main(int argc, char **argv)
{
	struct client_opts opts;
	struct conn conn;
	struct worker *w = NULL;
	char tag[48];
	int rc;

	fcl_malloc_keep_freed();
	if (cli_parse(&opts, argc, argv) != 0)
		return 2;
	fcl_raise_fd_limit(NULL);
	if (opts.help)
		goto done_opts;
	snprintf(tag, sizeof tag, "client %u-%u", opts.ids[0], opts.ids[opts.n_ids - 1]);
	fcl_log_set_tag(tag);
	if (conn_init(&conn, opts.endpoint, opts.heartbeat_s, &opts) != 0)
		goto err_opts;
	rc = worker_create(&opts, &conn, &w);
	if (rc == 0)
		rc = run(&opts, &conn, w);
	if (rc == -ENOMEM)
		fcl_error("out of memory, giving up");
	conn_fini(&conn, rc == 0);
	worker_destroy(w);
	cli_fini(&opts);
	return rc ? 1 : 0;
done_opts:
	cli_fini(&opts);
	return 0;
err_opts:
	cli_fini(&opts);
	return 2;
}
