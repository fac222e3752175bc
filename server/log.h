/* Logging to stderr, one line per call, printf-checked (after OpenBSD's
 * log.h).  Safe from any thread: each line is a single fprintf. */
#ifndef NINEPD_SERVER_LOG_H
#define NINEPD_SERVER_LOG_H

#include <stdarg.h>

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

#endif
