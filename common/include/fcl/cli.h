/* common/include/fcl/cli.h - what every fcl program says the same way on its
 * command line: --version, an unknown option, a missing or bad value, and
 * the exit status (0 success, 1 the work failed, 2 bad command line or input).
 */
#ifndef FCL_CLI_H
#define FCL_CLI_H
#include <stdint.h>

/* The exit statuses every fcl program uses. */
enum { FCL_EXIT_OK = 0, FCL_EXIT_FAILED = 1, FCL_EXIT_USAGE = 2 };

/* "0.1.0" (meson.project_version) and "v0.1.0-3-gabcdef0" or a commit hash
 * (git describe when built from a checkout, else the version). */
extern const char fcl_version[];
extern const char fcl_git_describe[];

/* Prints "PROG VERSION (git DESCRIBE)" on stdout. */
void fcl_cli_version(const char *prog);

/* Says "PROG: unknown option 'ARG' (see PROG --help)" on stderr. */
void fcl_cli_unknown_option(const char *prog, const char *arg);
/* Says "PROG: option 'OPT' needs a value" on stderr. */
void fcl_cli_needs_value(const char *prog, const char *opt);
/* Says "PROG: unexpected argument 'ARG' (see PROG --help)" on stderr. */
void fcl_cli_unexpected(const char *prog, const char *arg);

/* A whole number >= min for option opt: 0, or -1 after saying
 * "PROG: option 'OPT' wants an integer >= MIN (got 'ARG')". */
int fcl_cli_u64(const char *prog, const char *opt, const char *arg, uint64_t min, uint64_t *out);
/* A number >= min: 0, or -1 after saying "... wants a number >= MIN (got 'ARG')". */
int fcl_cli_double(const char *prog, const char *opt, const char *arg, double min, double *out);

/* After getopt_long returned '?' or ':' (the option string must start with
 * ':' and opterr be 0): says which option was unknown or lacked its value,
 * in the words above. */
void fcl_cli_getopt_error(const char *prog, int c, char *const argv[]);

#endif
