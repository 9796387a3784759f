/* common/src/curve.c - CURVE keys, the allow file and the ZAP handler (fcl/curve.h) */
#include "fcl/curve.h"

#include "fcl/log.h"
#include "fcl/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "fcl"
#define DENIALS_LOGGED 10 /* then every 1000th: a flood must not fill the log */

int fcl_curve_available(void)
{
	return zmq_has("curve");
}

int fcl_curve_keypair_new(struct fcl_curve_keypair *kp)
{
	memset(kp, 0, sizeof *kp);
	return zmq_curve_keypair(kp->pub, kp->sec) == 0 ? 0 : -errno;
}

static int write_line(const char *path, const char *text, mode_t mode, char *err, size_t len)
{
	char line[FCL_CURVE_Z85 + 2];
	int n = snprintf(line, sizeof line, "%s\n", text);
	/* O_EXCL-free: a new run replaces its keys; the mode is set before any byte */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) != 0 || write(fd, line, (size_t)n) != n) {
		int rc = -errno;
		snprintf(err, len, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return close(fd) == 0 ? 0 : -errno;
}

int fcl_curve_keygen(const char *prefix, struct fcl_curve_keypair *kp, char *err, size_t len)
{
	char path[4096];
	int rc;

	if (!fcl_curve_available()) {
		snprintf(err, len, "this libzmq has no CURVE (built without libsodium)");
		return -ENOTSUP;
	}
	if ((rc = fcl_curve_keypair_new(kp)) != 0) {
		snprintf(err, len, "cannot make a key pair: %s", zmq_strerror(-rc));
		return rc;
	}
	if (snprintf(path, sizeof path, "%s.key", prefix) >= (int)sizeof path) {
		snprintf(err, len, "path too long: %s", prefix);
		return -ENAMETOOLONG;
	}
	if ((rc = write_line(path, kp->sec, 0600, err, len)) != 0)
		return rc;
	snprintf(path, sizeof path, "%s.pub", prefix);
	return write_line(path, kp->pub, 0644, err, len);
}

/* The first line that is not blank or a comment, trimmed, as a Z85 key.
 * ('#' is a Z85 digit, but the largest: a 32-byte key never starts with it,
 * as its first group of five would exceed 2^32.) */
static int read_key(const char *path, char out[FCL_CURVE_Z85 + 1], char *err, size_t len)
{
	char *text = NULL;
	int rc = fcl_read_file(path, &text, NULL);

	if (rc) {
		snprintf(err, len, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = -EINVAL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		while (isspace((unsigned char)*line))
			line++;
		if (!*line || *line == '#')
			continue;
		size_t n = strcspn(line, " \t\r");
		uint8_t bin[32];
		if (n == FCL_CURVE_Z85 && (line[n] = '\0', zmq_z85_decode(bin, line))) {
			memcpy(out, line, FCL_CURVE_Z85 + 1);
			rc = 0;
		}
		break;
	}
	if (rc)
		snprintf(err, len,
			 "%s: no key (want one line of 40 Z85 characters, as fcl-keygen "
			 "writes)",
			 path);
	free(text);
	return rc;
}

int fcl_curve_read_secret(const char *path, struct fcl_curve_keypair *kp, char *err, size_t len)
{
	struct stat st;
	int rc;

	memset(kp, 0, sizeof *kp);
	if ((rc = read_key(path, kp->sec, err, len)) != 0)
		return rc;
	if (zmq_curve_public(kp->pub, kp->sec) != 0) {
		snprintf(err, len, "%s: not a CURVE secret key: %s", path, zmq_strerror(errno));
		return -EINVAL;
	}
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		fcl_warn("%s: the secret key may be read by others (mode %03o); chmod 600 it", path,
			 (unsigned)(st.st_mode & 0777));
	return 0;
}

int fcl_curve_read_public(const char *path, char pub[FCL_CURVE_Z85 + 1], char *err, size_t len)
{
	return read_key(path, pub, err, len);
}

/* ---- the allow file ------------------------------------------------------- */

static int allow_line(struct fcl_allow *a, char *line, const char *path, unsigned no, char *err,
		      size_t len)
{
	uint8_t bin[32];
	char *key = line, *ids;
	size_t n = strcspn(key, " \t\r");

	ids = key + n;
	if (*ids)
		*ids++ = '\0';
	while (isspace((unsigned char)*ids))
		ids++;
	ids[strcspn(ids, " \t\r#")] = '\0';
	if (n != FCL_CURVE_Z85 || !zmq_z85_decode(bin, key)) {
		snprintf(err, len, "%s:%u: '%.60s' is no public key (40 Z85 characters)", path, no,
			 key);
		return -EINVAL;
	}
	struct fcl_allow_entry *e = realloc(a->e, (a->n + 1) * sizeof *e);
	if (!e)
		return -ENOMEM;
	a->e = e;
	e = &a->e[a->n];
	memset(e, 0, sizeof *e);
	memcpy(e->pub, key, FCL_CURVE_Z85 + 1);
	if (*ids && fcl_parse_ids(ids, &e->ids, &e->n_ids) != 0) {
		snprintf(err, len, "%s:%u: bad ids '%s' (want e.g. 0-4,7)", path, no, ids);
		return -EINVAL;
	}
	a->n++;
	return 0;
}

int fcl_allow_load(const char *path, struct fcl_allow *a, char *err, size_t len)
{
	char *text = NULL;
	unsigned no = 0;
	int rc = fcl_read_file(path, &text, NULL);

	memset(a, 0, sizeof *a);
	if (rc) {
		snprintf(err, len, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	for (char *line = text, *next; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		no++;
		while (isspace((unsigned char)*line))
			line++;
		if (*line && *line != '#')
			rc = allow_line(a, line, path, no, err, len);
	}
	free(text);
	if (!rc && a->n == 0) {
		snprintf(err, len, "%s: no keys (want lines of PUBKEY [IDS])", path);
		rc = -EINVAL;
	}
	if (rc == -ENOMEM)
		snprintf(err, len, "out of memory reading %s", path);
	if (rc)
		fcl_allow_fini(a);
	return rc;
}

void fcl_allow_fini(struct fcl_allow *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->e[i].ids);
	free(a->e);
	memset(a, 0, sizeof *a);
}

const struct fcl_allow_entry *fcl_allow_find(const struct fcl_allow *a, const char *pub)
{
	for (size_t i = 0; pub && i < a->n; i++)
		if (strcmp(a->e[i].pub, pub) == 0)
			return &a->e[i];
	return NULL;
}

int fcl_allow_permits(const struct fcl_allow_entry *e, uint32_t id)
{
	size_t lo = 0, hi = e->n_ids;

	if (!e->ids)
		return 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->ids[mid] == id)
			return 1;
		if (e->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- socket roles --------------------------------------------------------- */

int fcl_curve_set_server(void *sock, const struct fcl_curve_keypair *kp)
{
	int one = 1;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, FCL_CURVE_Z85) != 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0)
		return -errno;
	/* Without a handler on inproc://zeromq.zap.01 libzmq would let every
	 * CURVE client in: fcl_zap_start runs before the socket binds. */
	return 0;
}

int fcl_curve_set_client(void *sock, const struct fcl_curve_keypair *kp, const char *server_pub)
{
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, FCL_CURVE_Z85) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp->pub, FCL_CURVE_Z85) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec, FCL_CURVE_Z85) != 0)
		return -errno;
	return 0;
}

/* ---- the ZAP handler ------------------------------------------------------ */

struct fcl_zap {
	void *sock;
	pthread_t thread;
	const struct fcl_allow *allow;
	atomic_ullong denied;
};

enum { ZAP_VERSION, ZAP_ID, ZAP_DOMAIN_F, ZAP_ADDRESS, ZAP_ROUTING, ZAP_MECH, ZAP_CRED, ZAP_N };

/* Receives one request (its frames); 0, 1 to skip a malformed one, -1 when the
 * context is shut down. */
static int zap_recv(void *sock, zmq_msg_t f[ZAP_N], int *n)
{
	int more = 1;
	size_t ml = sizeof more;

	*n = 0;
	while (more) {
		zmq_msg_t part;
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, sock, 0) < 0) {
			zmq_msg_close(&part);
			return errno == ETERM ? -1 : 1;
		}
		if (*n < ZAP_N)
			f[(*n)++] = part;
		else
			zmq_msg_close(&part);
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml);
	}
	return 0;
}

static int frame_is(zmq_msg_t *f, const char *s)
{
	return zmq_msg_size(f) == strlen(s) && memcmp(zmq_msg_data(f), s, strlen(s)) == 0;
}

/* The allowed key's Z85 (user id), or "" with a reason. */
static const char *zap_decide(struct fcl_zap *z, zmq_msg_t *f, int n, char user[41],
			      const char **why)
{
	user[0] = '\0';
	*why = "no CURVE credentials";
	if (n < ZAP_N || !frame_is(&f[ZAP_VERSION], "1.0") || !frame_is(&f[ZAP_MECH], "CURVE") ||
	    zmq_msg_size(&f[ZAP_CRED]) != 32)
		return user;
	zmq_z85_encode(user, zmq_msg_data(&f[ZAP_CRED]), 32);
	if (!fcl_allow_find(z->allow, user)) {
		*why = "key not in the allow file";
		return NULL; /* user holds the key, for the log */
	}
	return user;
}

static void zap_reply(void *sock, zmq_msg_t *id, int ok, const char *text, const char *user)
{
	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(sock, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE);
	zmq_send(sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

static void *zap_main(void *arg)
{
	struct fcl_zap *z = arg;

	for (;;) {
		zmq_msg_t f[ZAP_N];
		char user[FCL_CURVE_Z85 + 1], addr[64] = "?";
		const char *why;
		int n, rc = zap_recv(z->sock, f, &n);
		if (rc < 0)
			break;
		if (rc > 0 || n < 2) {
			for (int i = 0; i < n; i++)
				zmq_msg_close(&f[i]);
			continue;
		}
		const char *ok = zap_decide(z, f, n, user, &why);
		if (!ok || !ok[0]) {
			unsigned long long k = atomic_fetch_add(&z->denied, 1) + 1;
			if (n > ZAP_ADDRESS)
				snprintf(addr, sizeof addr, "%.*s",
					 (int)zmq_msg_size(&f[ZAP_ADDRESS]),
					 (const char *)zmq_msg_data(&f[ZAP_ADDRESS]));
			if (k <= DENIALS_LOGGED || k % 1000 == 0)
				fcl_warn("connection from %s refused (%llu so far): %s%s%s", addr,
					 k, why, user[0] ? " " : "", user);
		}
		zap_reply(z->sock, &f[ZAP_ID], ok && ok[0], ok && ok[0] ? "OK" : why,
			  ok && ok[0] ? user : "");
		for (int i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
	zmq_close(z->sock);
	return NULL;
}

int fcl_zap_start(void *ctx, const struct fcl_allow *allow, struct fcl_zap **out)
{
	struct fcl_zap *z = calloc(1, sizeof *z);
	int zero = 0, rc;

	*out = NULL;
	if (!z)
		return -ENOMEM;
	z->allow = allow;
	if (!(z->sock = zmq_socket(ctx, ZMQ_REP))) {
		rc = -errno;
		free(z);
		return rc;
	}
	zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof zero);
	if (zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
		rc = -errno;
		zmq_close(z->sock);
		free(z);
		return rc;
	}
	if ((rc = pthread_create(&z->thread, NULL, zap_main, z)) != 0) {
		zmq_close(z->sock);
		free(z);
		return -rc;
	}
	*out = z;
	return 0;
}

uint64_t fcl_zap_denied(const struct fcl_zap *z)
{
	return z ? atomic_load(&((struct fcl_zap *)z)->denied) : 0;
}

void fcl_zap_stop(struct fcl_zap *z, void *ctx)
{
	if (!z)
		return;
	zmq_ctx_shutdown(ctx);
	pthread_join(z->thread, NULL);
	free(z);
}
