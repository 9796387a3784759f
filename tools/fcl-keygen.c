/* tools/fcl-keygen.c - fcl-keygen PREFIX: a CURVE key pair for fcl-server or fcl-client
 *
 * Writes PREFIX.key (the secret key, mode 0600) and PREFIX.pub (the public
 * key), each one line of Z85 text. The server's .pub goes to its clients
 * (--server-pub); each client's .pub goes into the server's allow file.
 */
#include "fcl/curve.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct fcl_curve_keypair kp;
	char err[512];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf(
		    "usage: fcl-keygen PREFIX\n"
		    "  writes PREFIX.key (secret, mode 0600) and PREFIX.pub (public), Z85 text,\n"
		    "  and prints the public key; existing files are not replaced;\n"
		    "  see docs/security.md\n");
		return 0;
	}
	if (argc != 2 || !argv[1][0] || argv[1][0] == '-') {
		fprintf(stderr, "usage: fcl-keygen PREFIX\n");
		return 2;
	}
	/* a key in use is never replaced by accident: its clients would be locked out */
	char path[4096];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s.%s", argv[1], i ? "pub" : "key");
		if (access(path, F_OK) == 0) {
			fprintf(stderr,
				"fcl-keygen: %s exists; remove it first to make a new pair\n",
				path);
			return 1;
		}
	}
	if (fcl_curve_keygen(argv[1], &kp, err, sizeof err) != 0) {
		fprintf(stderr, "fcl-keygen: %s\n", err);
		return 1;
	}
	printf("%s\n", kp.pub);
	return 0;
}
