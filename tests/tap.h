/* tests/tap.h - a tiny TAP producer for meson's `protocol: 'tap'`
 *
 * CHECK(cond, ...) records a result and goes on; REQUIRE(cond, ...) returns
 * from the calling function on failure (so nothing dereferences what failed).
 * Each test program ends with `return tap_done();`.
 */
#ifndef FCL_TESTS_TAP_H
#define FCL_TESTS_TAP_H
#include <stdarg.h>
#include <stdio.h>

static int tap_n_, tap_failed_;

static inline void tap_result_(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void tap_result_(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n_++;
	if (!ok)
		tap_failed_++;
	printf("%sok %d - ", ok ? "" : "not ", tap_n_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" (%s:%d)", file, line);
	printf("\n");
	fflush(stdout);
}

#define CHECK(cond, ...) tap_result_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE(cond, ...)                                                                         \
	do {                                                                                       \
		int req_ok_ = !!(cond);                                                            \
		tap_result_(req_ok_, __FILE__, __LINE__, __VA_ARGS__);                             \
		if (!req_ok_)                                                                      \
			return;                                                                    \
	} while (0)
/* A note that TAP consumers show but do not count. */
#define NOTE(...)                                                                                  \
	do {                                                                                       \
		printf("# ");                                                                      \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n_);
	return tap_failed_ ? 1 : 0;
}

#endif
