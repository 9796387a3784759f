/* common/include/fcl/log.h - leveled logging with a settable sink */
#ifndef FCL_LOG_H
#define FCL_LOG_H

enum fcl_log_level { FCL_LOG_DEBUG = 0, FCL_LOG_INFO, FCL_LOG_WARN, FCL_LOG_ERROR };

/* A sink receives one formatted line (no trailing newline). */
typedef void (*fcl_log_sink_fn)(enum fcl_log_level level, const char *line, void *user);

/* Replaces the sink (NULL restores the default: stderr). */
void fcl_log_set(fcl_log_sink_fn sink, void *user);
void fcl_log_set_level(enum fcl_log_level level);
/* A short tag printed before every line, e.g. "server" or "client 0-3". */
void fcl_log_set_tag(const char *tag);
int fcl_log_enabled(enum fcl_log_level level);

void fcl_log_at(enum fcl_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks the level before formatting anything. */
#define fcl_log(level, ...)                                                                        \
	do {                                                                                       \
		if (fcl_log_enabled(level))                                                        \
			fcl_log_at(level, __FILE__, __LINE__, __VA_ARGS__);                        \
	} while (0)
#define fcl_debug(...) fcl_log(FCL_LOG_DEBUG, __VA_ARGS__)
#define fcl_info(...) fcl_log(FCL_LOG_INFO, __VA_ARGS__)
#define fcl_warn(...) fcl_log(FCL_LOG_WARN, __VA_ARGS__)
#define fcl_error(...) fcl_log(FCL_LOG_ERROR, __VA_ARGS__)

/* Misuse (a bug, not bad input): print and abort. */
#define FCL_ASSERT(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fcl_abort(__FILE__, __LINE__, #cond);                                      \
	} while (0)
_Noreturn void fcl_abort(const char *file, int line, const char *what);

#endif
