/* common/include/fcl/curve.h - CURVE keys, the allow file and the ZAP handler
 *
 * Part of the fcl_zsock library (links libzmq). The coordinator is a CURVE
 * server: clients must know its public key (so a fake coordinator fails the
 * handshake) and the coordinator lets in only the client keys of its allow
 * file, checked by a ZAP handler (RFC 27) on a thread of its own. Keys are
 * Z85 text, 40 characters. docs/security.md says what this protects.
 */
#ifndef FCL_CURVE_H
#define FCL_CURVE_H
#include <stddef.h>
#include <stdint.h>

#define FCL_CURVE_Z85 40 /* characters of a key in Z85 */

struct fcl_curve_keypair {
	char pub[FCL_CURVE_Z85 + 1];
	char sec[FCL_CURVE_Z85 + 1];
};

/* libzmq was built with CURVE (libsodium). */
int fcl_curve_available(void);

/* A new key pair: PREFIX.key (the secret key, mode 0600) and PREFIX.pub
 * (the public key), each one line of Z85. 0 or negative errno with err. */
int fcl_curve_keygen(const char *prefix, struct fcl_curve_keypair *kp, char *err, size_t len);
/* Writes a new pair in memory only. 0 or negative errno. */
int fcl_curve_keypair_new(struct fcl_curve_keypair *kp);
/* Reads a secret key file (its first non-comment line) and derives the
 * public key. Warns when others may read the file. 0 or -errno with err. */
int fcl_curve_read_secret(const char *path, struct fcl_curve_keypair *kp, char *err, size_t len);
/* Reads a public key file. 0 or -errno with err. */
int fcl_curve_read_public(const char *path, char pub[FCL_CURVE_Z85 + 1], char *err, size_t len);

/* One line of the allow file: `PUBKEY [IDS]`, IDS as in --ids (0-4,7);
 * without IDS the key may host any logical client. */
struct fcl_allow_entry {
	char pub[FCL_CURVE_Z85 + 1];
	uint32_t *ids; /* sorted, no duplicates; NULL = any id */
	size_t n_ids;
};

struct fcl_allow {
	struct fcl_allow_entry *e;
	size_t n;
};

/* Reads an allow file: one entry a line, blank lines and '#' comments
 * skipped. Errors name path:line. 0 or negative errno with err. */
int fcl_allow_load(const char *path, struct fcl_allow *a, char *err, size_t len);
void fcl_allow_fini(struct fcl_allow *a);
/* The entry of a Z85 public key, or NULL. */
const struct fcl_allow_entry *fcl_allow_find(const struct fcl_allow *a, const char *pub);
/* The entry lets its key host logical client id. */
int fcl_allow_permits(const struct fcl_allow_entry *e, uint32_t id);

/* Socket roles. The server's ZAP domain is "fcl". 0 or -errno. */
int fcl_curve_set_server(void *sock, const struct fcl_curve_keypair *kp);
int fcl_curve_set_client(void *sock, const struct fcl_curve_keypair *kp, const char *server_pub);

/* The ZAP handler: a thread answering libzmq's authentication requests on
 * inproc://zeromq.zap.01 of ctx, allowing exactly the keys in allow
 * (borrowed, read-only while it runs). The User-Id of an allowed
 * connection is its key in Z85 (zmq_msg_gets(msg, "User-Id")). */
struct fcl_zap;
/* Binds and starts; must run before the server binds. 0 or -errno. */
int fcl_zap_start(void *ctx, const struct fcl_allow *allow, struct fcl_zap **out);
/* Connections refused so far (keys not allowed, or no CURVE). */
uint64_t fcl_zap_denied(const struct fcl_zap *z);
/* Stops the thread: call after closing the other sockets and before
 * zmq_ctx_term; it shuts the context down (zmq_ctx_shutdown). NULL-safe. */
void fcl_zap_stop(struct fcl_zap *z, void *ctx);

#endif
