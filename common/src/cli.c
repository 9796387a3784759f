/* common/src/cli.c - the command-line wording every fcl program shares */
#include "fcl/cli.h"

#include "fcl_version.h" /* generated: FCL_VERSION, FCL_GIT_DESCRIBE */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char fcl_version[] = FCL_VERSION;
const char fcl_git_describe[] = FCL_GIT_DESCRIBE;

void fcl_cli_version(const char *prog)
{
	printf("%s %s (git %s)\n", prog, fcl_version, fcl_git_describe);
}

void fcl_cli_unknown_option(const char *prog, const char *arg)
{
	/* "--name=value" is named without its value */
	int n = arg[0] == '-' && arg[1] == '-' ? (int)strcspn(arg, "=") : (int)strlen(arg);
	fprintf(stderr, "%s: unknown option '%.*s' (see %s --help)\n", prog, n, arg, prog);
}

void fcl_cli_needs_value(const char *prog, const char *opt)
{
	fprintf(stderr, "%s: option '%s' needs a value\n", prog, opt);
}

void fcl_cli_unexpected(const char *prog, const char *arg)
{
	fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", prog, arg, prog);
}

int fcl_cli_u64(const char *prog, const char *opt, const char *arg, uint64_t min, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would quietly take "-1" and leading blanks */
	errno = 0;
	v = *arg >= '0' && *arg <= '9' ? strtoull(arg, &end, 10) : 0;
	if (*arg < '0' || *arg > '9' || errno || *end || v < min) {
		fprintf(stderr, "%s: option '%s' wants an integer >= %" PRIu64 " (got '%s')\n", prog,
			opt, min, arg);
		return -1;
	}
	*out = v;
	return 0;
}

int fcl_cli_double(const char *prog, const char *opt, const char *arg, double min, double *out)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end || !(v >= min)) {
		fprintf(stderr, "%s: option '%s' wants a number >= %g (got '%s')\n", prog, opt, min,
			arg);
		return -1;
	}
	*out = v;
	return 0;
}

void fcl_cli_getopt_error(const char *prog, int c, char *const argv[])
{
	/* getopt_long has moved optind past the option it complains about: a
	 * long one is named as written (without "=value"), a short one by optopt */
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char name[64];

	if (arg[0] == '-' && arg[1] == '-') {
		size_t n = strcspn(arg, "=");
		snprintf(name, sizeof name, "%.*s", (int)n, arg);
	} else {
		snprintf(name, sizeof name, "-%c", optopt ? optopt : '?');
	}
	if (c == ':')
		fcl_cli_needs_value(prog, name);
	else
		fcl_cli_unknown_option(prog, name);
}
