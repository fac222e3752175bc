/* Helpers shared by the files of config/; not part of the daemon's API. */
#ifndef NINEPD_CONFIG_INTERNAL_H
#define NINEPD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

#define ACCEPTED_MULTIDEVS "remap, forbid, warn, default"
#define ACCEPTED_SECMODEL "passthrough, mapped-xattr, none"
#define ACCEPTED_LOG_LEVEL "error, warn, info, debug"
#define ACCEPTED_SANDBOX "namespace, chroot, none"
#define ACCEPTED_SECCOMP "kill, log, none"
#define ACCEPTED_BOOL "yes, no, true, false, on, off, 1, 0"
#define ACCEPTED_LISTEN "unix:PATH, tcp:HOST:PORT, vsock:[CID:]PORT[,allow=CIDS], stdio"
#define ACCEPTED_STATE                                                                            \
	"a regular file or none yet, in an existing directory outside every export, "              \
	"with no symbolic link on the path"
#define ACCEPTED_USER "a user name, or a numeric uid from 1 to 4294967294"
#define SQUASH_ID_MAX 4294967294u /* (uid_t)-1 means "no change" to chown */

/* A numeric [server] setting: its command-line option, its range. */
struct config_number {
	const char *option; /* "--msize", or NULL */
	uint64_t min, max;
	bool zero_unset;    /* 0 in the struct means "not set" (threads,
			     * rlimit_nofile): refused only when given */
};

/* Indexed by enum server_key; .max is 0 for non-numeric settings. */
extern const struct config_number config_server_numbers[SERVER_KEY_COUNT];
/* The [server] keys' names, indexed by enum server_key. */
extern const char *const config_server_keys[SERVER_KEY_COUNT];
/* The [export NAME] keys' names, indexed by enum export_key. */
extern const char *const config_export_keys[EXPORT_KEY_COUNT];

/* Store a numeric [server] setting, already checked against its range. */
void config_set_number(struct ninepd_config *cfg, enum server_key key, uint64_t v);

/*
 * Parse a decimal number within [min, max].  Returns 0, or -EINVAL with
 * "'VALUE' is not a number (accepted: MIN..MAX)" or "VALUE out of range
 * (accepted: MIN..MAX)" in msg.
 */
int config_parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *msg,
			size_t msglen);
/* The out-of-range message alone, for config_validate(). */
void config_range_message(uint64_t value, uint64_t min, uint64_t max, char *msg, size_t msglen);

/* yes/no/true/false/on/off/1/0 -> 1 or 0; -1 if unknown. */
int config_parse_bool(const char *s);

/*
 * Set one export key from its text value (the spec's and the file's shared
 * grammar).  Returns 0, or -EINVAL with "KEY: problem (accepted: ...)" in
 * msg, or -ENOMEM.
 */
int export_set_key(struct export_conf *e, enum export_key key, const char *value, char *msg,
		   size_t msglen);
/* "a, b, c": names[from..n-1] joined, for "(accepted: ...)" messages. */
void config_key_list(char *buf, size_t len, const char *const *names, int from, int n);

/* A decimal number of len bytes at s, at most max, digits only; false if
 * it is anything else (empty, a sign, a blank, too big). */
bool config_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out);

/* The export key called name, or -1. */
int export_key_lookup(const char *name);
/* True for keys that may be given more than once (each adds rules). */
bool export_key_repeats(enum export_key key);

/* Record where a setting came from; 0 or -ENOMEM.  file may be NULL. */
int config_origin_set(struct config_origin *o, const char *file, int line);
void config_origin_free(struct config_origin *o);

/* Print "FILE:LINE", "FILE" or "command line" (line 0: o->line). */
void config_print_origin(FILE *f, const struct config_origin *o, int line);
/* The same followed by ": ", to begin an error message. */
void config_where(FILE *f, const struct config_origin *o, int line);

/* Error helpers: print the prefix, then the printf-style message and "\n". */
void config_error(FILE *f, const struct config_origin *o, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), nonnull(1, 2, 4)));

#endif
