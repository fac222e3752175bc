/* ninepd's configuration: one plain struct, filled from a config file
 * (config/ini.c), a libvirt domain XML (config/libvirt.c) and the command
 * line (config/config.c), then checked by config_validate() (config/validate.c).
 * No globals: the daemon owns one struct ninepd_config.
 *
 * Ownership: every string in these structs is heap-allocated and owned by
 * the struct; config_free() releases all of it.  Functions that take a
 * const char * copy it.
 *
 * Errors: every message names where the setting came from ("FILE:LINE:" or
 * "command line:"), the section or export, the key and the accepted values.
 */
#ifndef NINEPD_CONFIG_CONFIG_H
#define NINEPD_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config/idmap.h"
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

/* The keys of an [export NAME] section, to index export_conf.key_line. */
enum export_key {
	EXPORT_KEY_PATH = 0,
	EXPORT_KEY_MULTIDEVS,
	EXPORT_KEY_SECURITY_MODEL,
	EXPORT_KEY_READONLY,
	EXPORT_KEY_SQUASH_UID,
	EXPORT_KEY_SQUASH_GID,
	EXPORT_KEY_REMAP_STATE,
	EXPORT_KEY_TRANSLATE_UID, /* may repeat: each adds rules */
	EXPORT_KEY_TRANSLATE_GID, /* may repeat: each adds rules */
	EXPORT_KEY_XATTRMAP,
	/* The rates, in enum throttle_limit's order, then the bursts in the
	 * same order: key - EXPORT_KEY_BPS_LIMIT (or _BPS_BURST) is the limit. */
	EXPORT_KEY_BPS_LIMIT,
	EXPORT_KEY_BPS_READ_LIMIT,
	EXPORT_KEY_BPS_WRITE_LIMIT,
	EXPORT_KEY_IOPS_LIMIT,
	EXPORT_KEY_IOPS_READ_LIMIT,
	EXPORT_KEY_IOPS_WRITE_LIMIT,
	EXPORT_KEY_BPS_BURST,
	EXPORT_KEY_BPS_READ_BURST,
	EXPORT_KEY_BPS_WRITE_BURST,
	EXPORT_KEY_IOPS_BURST,
	EXPORT_KEY_IOPS_READ_BURST,
	EXPORT_KEY_IOPS_WRITE_BURST,
	EXPORT_KEY_COUNT
};

/*
 * An export's I/O limits, as QEMU's -fsdev throttling.* options: a rate in
 * bytes and one in operations per second, each for reads and writes
 * together (TOTAL) or for each direction apart, never both for one unit.
 * server/throttle.h enforces them; ninepd.conf(5) says what counts.
 */
enum throttle_limit {
	THROTTLE_BPS_TOTAL = 0, /* bps_limit */
	THROTTLE_BPS_READ,      /* bps_read_limit */
	THROTTLE_BPS_WRITE,     /* bps_write_limit */
	THROTTLE_OPS_TOTAL,     /* iops_limit */
	THROTTLE_OPS_READ,      /* iops_read_limit */
	THROTTLE_OPS_WRITE,     /* iops_write_limit */
	THROTTLE_LIMITS
};

#define CONFIG_THROTTLE_LIMIT_MAX (1ull << 40) /* per second: 1 TiB, or 2^40 ops */
#define CONFIG_THROTTLE_BURST_MAX (1ull << 32) /* bytes or ops */

/* Plain numbers only, so that two can be compared with memcmp(). */
struct throttle_conf {
	uint64_t limit[THROTTLE_LIMITS]; /* bytes or ops per second; 0: none */
	uint64_t burst[THROTTLE_LIMITS]; /* the bucket's size in bytes or ops;
					  * 0: a tenth of a second at limit */
};

struct export_conf {
	char *name; /* the aname / mount tag; defaults to the path as written */
	char *path; /* absolute once config_load() has resolved it */
	enum multidevs_policy multidevs;
	enum security_model security_model;
	bool readonly;
	int64_t squash_uid, squash_gid; /* -1: not set */
	char *remap_state;              /* NULL: not persisted */
	struct idmap uid_map, gid_map;  /* translate_uid, translate_gid; empty:
					 * ids cross unchanged */
	char *xattrmap;                 /* xattr name rules (config/xattrmap.h),
					 * as written; NULL: names cross unchanged */
	struct throttle_conf throttle;  /* all 0: not throttled */
	struct config_origin origin;    /* the section, <filesystem> or -e */
	int key_line[EXPORT_KEY_COUNT]; /* line of each key; 0: origin.line */
};

#define CONFIG_DEFAULT_MSIZE (1024u * 1024u)
#define CONFIG_MIN_MSIZE 4096u
#define CONFIG_MAX_MSIZE (16u * 1024u * 1024u)
#define CONFIG_MAX_THREADS 256u
#define CONFIG_MIN_FIDS 16u
#define CONFIG_DEFAULT_MAX_FIDS 65536u
#define CONFIG_DEFAULT_MAX_CONNS 4096u
#define CONFIG_MIN_RLIMIT_NOFILE 64u /* listeners, loop, workers, a few fids */
#define CONFIG_DEFAULT_LOG_LEVEL LOG_LEVEL_INFO
#define CONFIG_DEFAULT_FILE "/etc/ninepd.conf"
#define CONFIG_UNIX_PATH_MAX 108 /* sizeof(sun_path), NUL included */

/*
 * A listen address, parsed once by config/ so that the server, the reload
 * and --print-vm-args never take the text apart again.
 */
enum listen_kind {
	LISTEN_UNIX = 1, /* unix:PATH */
	LISTEN_TCP,      /* tcp:HOST:PORT, tcp:[IPV6]:PORT, tcp::PORT (any address) */
	LISTEN_STDIO,    /* stdio: one client on stdin/stdout */
	LISTEN_VSOCK,    /* vsock:PORT, vsock:CID:PORT, then ,allow=CIDS */
};

#define LISTEN_HOST_MAX 255 /* bytes of a tcp host, brackets removed */
#define LISTEN_CID_ANY 0xffffffffu /* VMADDR_CID_ANY: every CID of this machine */
#define LISTEN_VSOCK_PORT_MAX 0xfffffffeu /* 0xffffffff is VMADDR_PORT_ANY */

/* Peer CIDs first..last, both included. */
struct cid_range {
	uint32_t first, last;
};

/* Every string is owned by the struct; listen_addr_free() releases them. */
struct listen_addr {
	enum listen_kind kind;
	char *text;    /* as written ("tcp:[::1]:564"): for logs, and to match
			* the listeners of two configurations on SIGHUP */
	char *path;    /* LISTEN_UNIX: the socket path, 1..107 bytes; else NULL */
	char *host;    /* LISTEN_TCP: a name or address, brackets removed; "" for
			* any address; else NULL */
	unsigned port; /* LISTEN_TCP: 1..65535; LISTEN_VSOCK: 1..LISTEN_VSOCK_PORT_MAX;
			* else 0 */
	uint32_t cid;  /* LISTEN_VSOCK: the local CID to bind, LISTEN_CID_ANY when
			* not given; else 0 */
	struct cid_range *allow; /* LISTEN_VSOCK: the peers that may connect, owned;
				  * NULL (nallow 0): every peer */
	size_t nallow;
};

/*
 * Parse "unix:PATH", "tcp:HOST:PORT" (HOST a name, an IPv4 address, an
 * IPv6 address in brackets, or empty for any address; PORT decimal,
 * 1..65535), "vsock:[CID:]PORT[,allow=CIDS]" (CID a number, or "any" or
 * "-1" for every local CID, the default; PORT decimal,
 * 1..LISTEN_VSOCK_PORT_MAX; CIDS peer CIDs and ranges joined by '+', as in
 * "3+4+10-19"; allow may be given more than once) or "stdio" into *out,
 * which the caller releases with listen_addr_free().  Returns 0, or
 * -EINVAL with "problem (accepted: ...)" in msg, or -ENOMEM; *out is then
 * empty.
 */
int listen_addr_parse(struct listen_addr *out, const char *text, char *msg, size_t msglen);
void listen_addr_free(struct listen_addr *a); /* leaves a empty */

/* True when a listener with allow list allow[0..n) accepts a peer of CID
 * cid; an empty list accepts every peer. */
bool listen_cid_allowed(const struct cid_range *allow, size_t n, uint32_t cid);

/* True when a and b would bind the same socket: two vsock addresses of
 * one port whose CIDs are equal or either is any; other kinds when their
 * texts are equal (a tcp host stays a name until the daemon resolves it). */
bool listen_addr_same_socket(const struct listen_addr *a, const struct listen_addr *b);

/* The [server] settings, to index ninepd_config.origin and .set. */
enum server_key {
	SERVER_KEY_LISTEN = 0,
	SERVER_KEY_MAX_MSIZE,
	SERVER_KEY_THREADS,
	SERVER_KEY_LOG_LEVEL,
	SERVER_KEY_MAX_CONNS,
	SERVER_KEY_MAX_FIDS,
	SERVER_KEY_USER,
	SERVER_KEY_MAX_OPEN_FDS,
	SERVER_KEY_RLIMIT_NOFILE,
	SERVER_KEY_SANDBOX,
	SERVER_KEY_SECCOMP,
	SERVER_KEY_COUNT
};

/* --sandbox / [server] sandbox (server/sandbox.c): where the daemon
 * confines itself once its listeners are bound and its exports open. */
enum sandbox_mode {
	SANDBOX_DEFAULT = 0, /* not set: namespace when started as root, else none */
	SANDBOX_NAMESPACE,   /* new mount, ipc, uts (and net) namespaces, pivot_root */
	SANDBOX_CHROOT,      /* the same new root, entered with chroot() */
	SANDBOX_NONE,
};

/* --seccomp / [server] seccomp (server/seccomp.c): what a system call
 * outside the allow-list gets. */
enum seccomp_mode {
	SECCOMP_FILTER_KILL = 0, /* the default: the process dies of SIGSYS */
	SECCOMP_FILTER_LOG,      /* EPERM, and one log line naming the call */
	SECCOMP_FILTER_NONE,     /* no filter */
};

struct ninepd_config {
	/* Public: what the daemon reads. */
	struct listen_addr *listen_addrs; /* nlisten entries, every one parsed */
	char **listen; /* listen_addrs[i].text, borrowed: for the server code
			* that still reads the text */
	size_t nlisten; /* may be 0 */
	struct export_conf *exports;
	size_t nexports;
	uint32_t max_msize;
	unsigned threads; /* worker threads; 0 = default */
	enum log_level log_level;
	unsigned max_conns;
	unsigned max_fids; /* per connection */
	char *user;        /* -u / [server] user: drop root to it; NULL: keep */
	unsigned max_open_fds;  /* descriptors the fids of all clients may hold
				 * open before idle ones are given back; 0:
				 * derived from RLIMIT_NOFILE at start */
	unsigned rlimit_nofile; /* soft RLIMIT_NOFILE to set at start; 0: raise
				 * the soft limit to the hard one */
	bool trace;
	bool check_only;   /* -n */
	char *config_file; /* the file read (-c, or the default); NULL if none */
	char *libvirt_xml; /* --libvirt-xml FILE; NULL if none */
	enum sandbox_mode sandbox;
	enum seccomp_mode seccomp;

	/* Private to config/: where each setting came from. */
	struct config_origin *listen_origin;  /* parallel to listen[] */
	struct config_origin origin[SERVER_KEY_COUNT];
	unsigned set;     /* bit (1u << SERVER_KEY_x): given explicitly */
	unsigned verbose; /* -v count; raises log_level by as many steps */
};

void config_init(struct ninepd_config *cfg);
void config_free(struct ninepd_config *cfg); /* leaves cfg initialised */

/*
 * The entry point for main(): parse the command line, read the config file
 * (-c FILE, else CONFIG_DEFAULT_FILE if it exists) and --libvirt-xml, apply
 * the command line over them (an -e export replaces a file export of the
 * same name; -l replaces the file's listen list; --msize, --threads,
 * --max-open-fds, --rlimit-nofile, -u and -v override), make export paths
 * absolute (a file's relative paths are taken from the file's directory,
 * the command line's from the working directory) and validate.  cfg is
 * initialised here.
 *
 * Returns 0: run the daemon with *cfg.
 *         1: exit 0 (--help or --version printed to out; or -n and the
 *            configuration is valid: it was printed to out and
 *            "configuration OK" to err).
 *        -1: exit 1 (errors were printed to err).
 * In every case the caller calls config_free(cfg) afterwards.
 */
int config_load(struct ninepd_config *cfg, int argc, char **argv, FILE *out, FILE *err);
/* config_load() with another default file (NULL: none), for tests. */
int config_load_with_default(struct ninepd_config *cfg, int argc, char **argv,
			     const char *default_file, FILE *out, FILE *err);

/*
 * The command line alone:
 *   ninepd [-l ADDR]... [-e SPEC]... [-c FILE] [--libvirt-xml FILE] [-u USER] [-n]
 *          [-v]... [--trace] [--msize N] [--threads N] [--max-open-fds N]
 *          [--rlimit-nofile N] [--version] [--help]
 * Fills cfg (initialised by the caller) without reading any file.
 * Returns 0 to continue, 1 when the program should exit 0 (--help or
 * --version printed to out), -1 on a usage error (message printed to err).
 */
int config_parse_cmdline(struct ninepd_config *cfg, int argc, char **argv, FILE *out, FILE *err);

/*
 * Read an INI config file into cfg: [server] settings replace cfg's,
 * listen entries and [export NAME] sections are appended.  Reports every
 * error to err.  Returns 0, -EINVAL if the file had errors, or -errno if
 * it could not be read.
 */
int config_parse_file(struct ninepd_config *cfg, const char *path, FILE *err);

/*
 * Append an export for every <filesystem type='mount'> under <devices> of
 * a libvirt domain XML; other filesystems are skipped with a note on err.
 * Returns 0, -EINVAL after reporting malformed XML or unknown values, or
 * -errno if the file could not be read.
 */
int config_parse_libvirt_xml(struct ninepd_config *cfg, const char *path, FILE *err);

/*
 * Apply command-line settings (cmd, from config_parse_cmdline()) over cfg
 * (from the files).  Returns 0 or -ENOMEM.
 */
int config_merge(struct ninepd_config *cfg, const struct ninepd_config *cmd);

/*
 * Make relative export paths absolute: against the directory of the file
 * they came from, or the working directory for the command line.
 * Returns 0 or -errno (message on err).
 */
int config_resolve_paths(struct ninepd_config *cfg, FILE *err);

/*
 * Check everything that can be checked before the daemon starts: export
 * paths exist and are directories, names are unique, enums are known,
 * numbers are in range, listen addresses are distinct (each was parsed
 * when it was added), at least one export.  Prints each error to err;
 * returns the number of errors.
 */
int config_validate(const struct ninepd_config *cfg, FILE *err);

/* True when an export's xattrmap may store guest names under trusted.*:
 * the daemon then keeps CAP_SYS_ADMIN permitted (server/privs.h). */
bool config_needs_trusted_xattrs(const struct ninepd_config *cfg);

/* Print the effective configuration in the config file's syntax. */
void config_print(const struct ninepd_config *cfg, FILE *out);

/*
 * Parse "PATH[,name=NAME][,multidevs=P][,readonly][,security_model=M]
 * [,squash_uid=N][,squash_gid=N][,remap_state=FILE][,bps_limit=N]..." (every
 * key of an [export NAME] section but path) into *out (which it
 * initialises; origin: the command line).  ",," stands for a comma in PATH
 * or a value.  Returns 0, or -1 with a one-line message in err naming the
 * bad key and the accepted values.
 */
int config_parse_export_spec(const char *spec, struct export_conf *out, char *err, size_t errlen);

void export_conf_init(struct export_conf *e);
void export_conf_free(struct export_conf *e); /* leaves e initialised */

/*
 * Parse addr with listen_addr_parse() and append it, with where it came
 * from (origin NULL: the command line).  Returns 0, -ENOMEM, or -EINVAL
 * with "problem (accepted: ...)" in msg; nothing is appended then.
 * config_add_listen() is the same from the command line, without the
 * message.
 */
int config_add_listen_at(struct ninepd_config *cfg, const char *addr,
			 const struct config_origin *origin, char *msg, size_t msglen);
int config_add_listen(struct ninepd_config *cfg, const char *addr);
/* Append a copy; 0 or -ENOMEM. */
int config_add_export(struct ninepd_config *cfg, const struct export_conf *e);

/* "passthrough"/"mapped-xattr"/"mapped"/"none"/"squash" -> model; -1 if unknown. */
int security_model_parse(const char *name);
const char *security_model_name(enum security_model m);

/*
 * The user of -u / [server] user: a name from the passwd database, else a
 * decimal uid, which need not have an entry (its gid is then the same
 * number).  root, by name or as uid 0, is refused: it would drop nothing.
 * Fills *uid and *gid (the entry's primary group) and returns 0, or returns
 * -ENOENT (no such user), -EINVAL (root, or a number out of range) or
 * another -errno (the lookup failed) with "problem (accepted: ...)" in msg.
 */
int config_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *msg, size_t msglen);

/* "namespace"/"chroot"/"none" -> mode, and "kill"/"log"/"none" -> mode;
 * -1 if unknown.  The names of SANDBOX_DEFAULT is NULL. */
int sandbox_mode_parse(const char *name);
const char *sandbox_mode_name(enum sandbox_mode m);
int seccomp_mode_parse(const char *name);
const char *seccomp_mode_name(enum seccomp_mode m);

/* "error"/"warn"/"info"/"debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level l);

#endif
