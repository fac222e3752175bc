/* An export: one host directory served under one name, with its options
 * (read-only, squash ids, security model) and its multidevs engine.
 *
 * The loop thread opens and frees exports (startup, SIGHUP); workers read
 * them while a request that reached one through a fid runs (a fid holds no
 * reference: an export a reload removes is retired, not freed, until
 * exit).  Its configuration never changes: a reload that changes an
 * export's options makes a new export. */
#ifndef NINEPD_SERVER_EXPORT_H
#define NINEPD_SERVER_EXPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config/config.h"
#include "config/xattrmap.h"
#include "proto/9p.h"
#include "remap/remap.h"
#include "server/creds.h"
#include "server/snapshot.h"
#include "server/throttle.h"

struct export {
	const struct export_conf *conf; /* lives in snap */
	struct cfg_snapshot *snap;
	char *realpath;      /* canonical host path of the root */
	int rootfd;          /* O_PATH directory fd */
	dev_t root_dev;
	ino_t root_ino;
	struct remap *remap; /* the multidevs policy engine */
	struct xattrmap *xattrmap; /* conf->xattrmap parsed; NULL: names cross
				    * unchanged */
	bool xattrmap_trusted;     /* it may rename into trusted.*: lists are
				    * read with cap_sys_admin (backend.c) */
	bool has_squash;
	uid_t squash_uid;    /* squash_uid/squash_gid, 65534 when one is unset */
	gid_t squash_gid;
	struct export *retired_next; /* removed by a reload, freed at exit */
	/* bps/iops limits (loop thread): Treads and Twrites that must wait
	 * queue here, oldest first, in conn.c, on the hub's throttle timer. */
	struct throttle throttle;
	struct req *throttle_head, *throttle_tail;
	/* A descriptor (not O_PATH) on each mount of the export that fids'
	 * handles were made on (open_by_handle_at needs one), the root's
	 * opened with the export; under mounts_lock. */
	pthread_mutex_t mounts_lock;
	struct export_mount {
		int mount_id;
		int fd;
	} *mounts;
	size_t nmounts;
};

/* Opens conf's directory and its multidevs state; 0 or -errno (logged).
 * conf lies in snap, of which the export takes a reference. */
int export_new(struct cfg_snapshot *snap, const struct export_conf *conf, struct export **out);
void export_free(struct export *e); /* NULL is a no-op */
/* Opens the root (and its mount's descriptor) again by its path, which
 * must still be the same directory: after the sandbox is entered, so that
 * no descriptor requests use lies outside it.  0 or -errno (logged). */
int export_reopen(struct export *e);
/* True when a reload may keep an export of a for a configuration b. */
bool export_conf_same(const struct export_conf *a, const struct export_conf *b);
/* Writes the remap_state file, if the export has one (logged). */
void export_save_state(struct export *e);
void export_log_stats(struct export *e);

bool export_mapped(const struct export *e); /* security_model=mapped-xattr */
bool export_is_root(const struct export *e, const struct stat *st);

/* The export's id maps (translate_uid, translate_gid; config/idmap.h):
 * a guest id to the host's (0, or -EPERM when the map refuses it) and a
 * host id to the guest's (65534 when the map has none for it).  Without a
 * map, an id crosses unchanged. */
int export_uid_to_host(const struct export *e, uint32_t guest, uid_t *host);
int export_gid_to_host(const struct export *e, uint32_t guest, gid_t *host);
uint32_t export_uid_to_guest(const struct export *e, uid_t host);
uint32_t export_gid_to_guest(const struct export *e, gid_t host);
/* True when the export has a uid or a gid map. */
bool export_maps_ids(const struct export *e);
/* True when the maps give a file of this host owner and group guest ids
 * (always, without maps). */
bool export_owner_mapped(const struct export *e, uid_t uid, gid_t gid);

/* The identity a request of user u runs as on the host, and the owner of
 * what it creates, when it names host gid (creations, chown, already
 * translated; gid_given false: u's own gid):
 *   passthrough  u's uid (mapped) and that gid, root or client capabilities;
 *   squash ids   the squash user, no capabilities (any model but mapped);
 *   mapped, none the daemon.
 * -EPERM when the maps refuse u's uid. */
int export_identity(const struct export *e, const struct user *u, gid_t gid, bool gid_given,
		    struct cred *cred, struct owner *owner);

/* Loop thread: makes sure the export has a descriptor on mount mount_id,
 * opening one from fd (an O_PATH descriptor of a directory or regular file
 * on that mount: open_by_handle_at refuses O_PATH descriptors) the first
 * time; 0, or -errno when it has none (a special file, or no descriptor
 * left). */
int export_mount_fd_from(struct export *e, int mount_id, int fd);
/* Any thread: a descriptor on mount mount_id, or -1. */
int export_mount_fd(struct export *e, int mount_id);

/* The qid of a file as the export's multidevs policy gives it; a
 * first-time event (second device, refused device) is logged, naming the
 * place by fd (and name below it).  0 or -EXDEV (forbid). */
int export_qid(struct export *e, const struct stat *st, int fd, const char *name,
	       struct np_qid *q);

#endif
