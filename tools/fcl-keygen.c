/* tools/fcl-keygen.c - fcl-keygen PREFIX: a CURVE key pair for fcl-server or fcl-client
 *
 * Writes PREFIX.key (the secret key, mode 0600) and PREFIX.pub (the public
 * key), each one line of Z85 text. The server's .pub goes to its clients
 * (--server-pub); each client's .pub goes into the server's allow file.
 */
#include "fcl/curve.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct fcl_curve_keypair kp;
	char err[512];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf(
		    "usage: fcl-keygen PREFIX\n"
		    "  writes PREFIX.key (secret, mode 0600) and PREFIX.pub (public), Z85 text;\n"
		    "  see docs/security.md\n");
		return 0;
	}
	if (argc != 2 || !argv[1][0] || argv[1][0] == '-') {
		fprintf(stderr, "usage: fcl-keygen PREFIX\n");
		return 2;
	}
	if (fcl_curve_keygen(argv[1], &kp, err, sizeof err) != 0) {
		fprintf(stderr, "fcl-keygen: %s\n", err);
		return 1;
	}
	printf("%s\n", kp.pub);
	return 0;
}
