/* common/src/cli.c - the command-line wording every fcl program shares */
#include "fcl/cli.h"

#include "fcl_version.h" /* generated: FCL_VERSION, FCL_GIT_DESCRIBE */

#include <getopt.h>
#include <stdio.h>

const char fcl_version[] = FCL_VERSION;
const char fcl_git_describe[] = FCL_GIT_DESCRIBE;

void fcl_cli_version(const char *prog)
{
	printf("%s %s (git %s)\n", prog, fcl_version, fcl_git_describe);
}

void fcl_cli_unknown_option(const char *prog, const char *arg)
{
	fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", prog, arg, prog);
}

void fcl_cli_needs_value(const char *prog, const char *opt)
{
	fprintf(stderr, "%s: option '%s' needs a value\n", prog, opt);
}

void fcl_cli_unexpected(const char *prog, const char *arg)
{
	fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", prog, arg, prog);
}

void fcl_cli_getopt_error(const char *prog, int c, char *const argv[])
{
	/* getopt_long has moved optind past the option it complains about; a
	 * short option is reported through optopt */
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char shortopt[3] = {'-', (char)optopt, '\0'};

	if (optopt && (arg[0] != '-' || arg[1] == '-' || arg[1] != optopt))
		arg = shortopt;
	if (c == ':')
		fcl_cli_needs_value(prog, arg);
	else
		fcl_cli_unknown_option(prog, arg);
}
