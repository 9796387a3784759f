/* tests/test_curve.c - key files and allow files (fcl/curve.h) */
#include "fcl/curve.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/fcl-curve-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

static void keys(void)
{
	struct fcl_curve_keypair kp, back;
	char path[256], err[512] = "", pub[FCL_CURVE_Z85 + 1];
	struct stat st;

	REQUIRE(fcl_curve_available(), "libzmq has CURVE");
	snprintf(path, sizeof path, "%s/k", dir);
	REQUIRE(fcl_curve_keygen(path, &kp, err, sizeof err) == 0, "a key pair %s", err);
	snprintf(path, sizeof path, "%s/k.key", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the secret key is mode 0600");
	CHECK(fcl_curve_read_secret(path, &back, err, sizeof err) == 0 &&
		  strcmp(back.pub, kp.pub) == 0 && strcmp(back.sec, kp.sec) == 0,
	      "read back, it gives the same public key");
	snprintf(path, sizeof path, "%s/k.pub", dir);
	CHECK(fcl_curve_read_public(path, pub, err, sizeof err) == 0 && strcmp(pub, kp.pub) == 0,
	      "the public key file holds the public key");
	char text[128];
	snprintf(text, sizeof text, "# a comment\n\n  %s  \n", kp.pub);
	CHECK(fcl_curve_read_public(write_file("c.pub", text), pub, err, sizeof err) == 0 &&
		  strcmp(pub, kp.pub) == 0,
	      "comments, blank lines and blanks around the key are skipped");
	CHECK(fcl_curve_read_public(write_file("bad.pub", "tooshort\n"), pub, err, sizeof err) !=
		      0 &&
		  strstr(err, "bad.pub: no key"),
	      "a file without a key is refused: %s", err);
}

static void allow(void)
{
	struct fcl_curve_keypair a, b, c;
	struct fcl_allow al;
	char text[512], err[512] = "";

	REQUIRE(fcl_curve_keypair_new(&a) == 0 && fcl_curve_keypair_new(&b) == 0 &&
		    fcl_curve_keypair_new(&c) == 0,
		"three key pairs");
	snprintf(text, sizeof text, "# clients\n\n%s\n  %s 0-4,7   # site b\n", a.pub, b.pub);
	REQUIRE(fcl_allow_load(write_file("allow", text), &al, err, sizeof err) == 0,
		"an allow file loads %s", err);
	const struct fcl_allow_entry *ea = fcl_allow_find(&al, a.pub),
				     *eb = fcl_allow_find(&al, b.pub);
	CHECK(al.n == 2 && ea && eb && !fcl_allow_find(&al, c.pub), "two keys, not the third");
	CHECK(ea && fcl_allow_permits(ea, 0) && fcl_allow_permits(ea, 123456),
	      "a key alone may host any id");
	CHECK(eb && eb->n_ids == 6 && fcl_allow_permits(eb, 0) && fcl_allow_permits(eb, 4) &&
		  fcl_allow_permits(eb, 7) && !fcl_allow_permits(eb, 5) &&
		  !fcl_allow_permits(eb, 8),
	      "a key with ids 0-4,7 may host just those");
	fcl_allow_fini(&al);

	snprintf(text, sizeof text, "%s\nnot-a-key 0-3\n", a.pub);
	CHECK(fcl_allow_load(write_file("allow2", text), &al, err, sizeof err) != 0 &&
		  strstr(err, "allow2:2:"),
	      "a bad line is refused with file:line: %s", err);
	snprintf(text, sizeof text, "%s 4-2\n", a.pub);
	CHECK(fcl_allow_load(write_file("allow3", text), &al, err, sizeof err) != 0 &&
		  strstr(err, "allow3:1: bad ids"),
	      "bad ids are refused: %s", err);
	CHECK(fcl_allow_load(write_file("allow4", "# nothing\n"), &al, err, sizeof err) != 0 &&
		  strstr(err, "no keys"),
	      "an allow file without keys is refused: %s", err);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	keys();
	allow();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		NOTE("could not remove %s", dir);
	return tap_done();
}
