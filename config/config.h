/* ninepd's configuration: one plain struct, filled from the command line
 * (and, with config/ini.c and config/libvirt.c, from files), then validated.
 * No globals: the daemon owns one struct ninepd_config.
 *
 * Ownership: every string in these structs is heap-allocated and owned by
 * the struct; config_free() releases all of it.
 */
#ifndef NINEPD_CONFIG_CONFIG_H
#define NINEPD_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remap/remap.h"

enum security_model {
	SECMODEL_PASSTHROUGH = 0,
	SECMODEL_MAPPED_XATTR, /* libvirt "mapped" */
	SECMODEL_NONE,         /* libvirt "squash"; also spelled "none" */
};

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Where a setting came from, for error messages ("FILE:LINE"). */
struct config_origin {
	char *file; /* NULL for the command line */
	int line;   /* 0 when not known */
};

struct export_conf {
	char *name; /* the aname / mount tag; defaults to the path */
	char *path;
	enum multidevs_policy multidevs;
	enum security_model security_model;
	bool readonly;
	int64_t squash_uid, squash_gid; /* -1: not set */
	char *remap_state;              /* NULL: not persisted */
	struct config_origin origin;
};

#define CONFIG_DEFAULT_MSIZE (1024u * 1024u)
#define CONFIG_MAX_MSIZE (16u * 1024u * 1024u)
#define CONFIG_DEFAULT_MAX_FIDS 65536u
#define CONFIG_DEFAULT_MAX_CONNS 4096u

struct ninepd_config {
	char **listen; /* "unix:PATH", "tcp:HOST:PORT", "stdio" */
	size_t nlisten;
	struct export_conf *exports;
	size_t nexports;
	uint32_t max_msize;
	unsigned threads; /* worker threads; 0 = default */
	enum log_level log_level;
	unsigned max_conns;
	unsigned max_fids; /* per connection */
	bool trace;
	bool check_only; /* -n */
	char *config_file;
};

void config_init(struct ninepd_config *cfg);
void config_free(struct ninepd_config *cfg);

/*
 * Parse "PATH[,name=NAME][,multidevs=P][,readonly][,security_model=M]..."
 * into *out (which it initialises).  Returns 0, or -1 with a one-line
 * message in err naming the bad key and the accepted values.
 */
int config_parse_export_spec(const char *spec, struct export_conf *out, char *err, size_t errlen);

void export_conf_free(struct export_conf *e);

/* Append copies; return 0 or -1 (ENOMEM). */
int config_add_listen(struct ninepd_config *cfg, const char *addr);
int config_add_export(struct ninepd_config *cfg, const struct export_conf *e);

/* "passthrough"/"mapped-xattr"/"mapped"/"none"/"squash" -> model; -1 if unknown. */
int security_model_parse(const char *name);
const char *security_model_name(enum security_model m);

#endif
