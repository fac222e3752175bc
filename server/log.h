/* Logging to stderr, one line per call, printf-checked (after OpenBSD's
 * log.h).  Safe from any thread: each line is a single fprintf. */
#ifndef NINEPD_SERVER_LOG_H
#define NINEPD_SERVER_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "config/config.h"

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

#define NP_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_error(const char *fmt, ...) NP_PRINTF(1, 2);
void log_warn(const char *fmt, ...) NP_PRINTF(1, 2);
void log_info(const char *fmt, ...) NP_PRINTF(1, 2);
void log_debug(const char *fmt, ...) NP_PRINTF(1, 2);
/* Trace lines are printed whatever the level (--trace turns them on). */
void log_trace(const char *fmt, ...) NP_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) NP_PRINTF(1, 2);

/*
 * A client's bytes s[0..len) (a name, a path: not NUL-terminated, and any
 * byte may occur) as one line of printable text, for a log line: printable
 * ASCII stays as it is, a backslash and every other byte become \xNN, so
 * no client can start a new log line or forge one.  Written to buf (cap
 * bytes, NUL included; nothing is written when cap is 0); when it does not
 * fit (4 * len + 1 bytes always do) it ends in "..." and is never cut inside
 * an escape.  Returns buf, to be used in place:
 *	log_warn("walk '%s'", log_escape(b, sizeof b, name.s, name.len));
 */
const char *log_escape(char *buf, size_t cap, const void *s, size_t len);

/* Formats a one-line reason into err (errlen bytes) and returns rc: the
 * set-up steps (privileges, sandbox) fail with it, and their caller logs
 * the reason once. */
int log_reason(char *err, size_t errlen, int rc, const char *fmt, ...) NP_PRINTF(4, 5);

#endif
