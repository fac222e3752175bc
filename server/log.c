#include "server/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

static void log_line(const char *tag, const char *fmt, va_list ap)
{
	/* Build the whole line first so concurrent threads never interleave. */
	char line[2048];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld ninepd %s: ", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tag);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

#define LOG_FN(fn, lvl, tag)                                                   \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		if (current_level < lvl)                                       \
			return;                                                \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_line(tag, fmt, ap);                                        \
		va_end(ap);                                                    \
	}
LOG_FN(log_error, LOG_LEVEL_ERROR, "error")
LOG_FN(log_warn, LOG_LEVEL_WARN, "warning")
LOG_FN(log_info, LOG_LEVEL_INFO, "info")
LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug")

void log_trace(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("trace", fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

/* Write byte c as it appears in a log line; returns its length (1 or 4). */
static size_t escape_byte(unsigned char c, char out[4])
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\\') {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

const char *log_escape(char *buf, size_t cap, const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t room = cap ? cap - 1 : 0; /* characters, the NUL aside */
	size_t n = 0, mark = 0;          /* mark: the last cut that leaves room for "..." */

	if (!cap)
		return buf;
	for (size_t i = 0; i < len; i++) {
		char unit[4];
		size_t w = escape_byte(p[i], unit);

		if (n + w > room) {
			n = mark;
			for (int dots = 0; dots < 3 && n < room; dots++)
				buf[n++] = '.';
			break;
		}
		memcpy(buf + n, unit, w);
		n += w;
		if (n + 3 <= room)
			mark = n;
	}
	buf[n] = '\0';
	return buf;
}

int log_reason(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}
