/* Access models (per export, security_model=):
 *   passthrough   real ownership and modes; each request runs with the
 *                 attaching user's fsuid/fsgid/groups (daemon as root);
 *   mapped-xattr  files are owned by the daemon; the guest's uid, gid, mode
 *                 and rdev live in user.virtfs.{uid,gid,mode,rdev} xattrs,
 *                 encoded as QEMU does (little-endian 32-bit, rdev 64-bit),
 *                 so an export QEMU used works unchanged; device nodes,
 *                 FIFOs, sockets and symlinks are regular files on the host;
 *   none/squash   no per-user switching; failing chown/chmod is ignored.
 * squash_uid/squash_gid (any model): every request runs as, and every new
 * file belongs to, that user (mapped-xattr: is recorded as owned by it).
 * Worker threads only (access_init: startup). */
#ifndef NINEPD_SERVER_ACCESS_H
#define NINEPD_SERVER_ACCESS_H

#include <stdbool.h>
#include <sys/stat.h>

#include "server/server.h"

#define MAPPED_PREFIX "user.virtfs."

void access_init(struct export *e);
bool access_mapped(const struct export *e);

/* The user a request on f runs as (NULL: the daemon itself), and the gid
 * new files get when the client asked for `requested`. */
const struct user *access_user(const struct fid *f);
gid_t access_create_gid(const struct fid *f, gid_t requested);
uid_t access_owner_uid(const struct fid *f); /* mapped: the recorded owner */
int access_enter(const struct fid *f);
int access_enter_create(const struct fid *f, gid_t requested);

/* lstat as the guest sees it (mapped: the xattrs override). */
int access_stat(const struct export *e, int fd, struct stat *st);
int access_stat_child(const struct export *e, int dirfd, const char *name, struct stat *st);

/* Mapped: record the guest's view of a newly created dirfd/name. */
int access_record_create(const struct export *e, int dirfd, const char *name, mode_t mode,
			 uid_t uid, gid_t gid, dev_t rdev);

/* Tsetattr's chmod and chown under the export's model. */
int access_chmod(const struct fid *f, mode_t mode);
int access_chown(const struct fid *f, uid_t uid, gid_t gid);

/* Mapped: readlink of a symlink stored as a regular file. */
ssize_t access_readlink(const struct fid *f, char *buf, size_t len);

/* Mapped: user.virtfs.* is neither visible nor settable by the guest. */
bool access_xattr_hidden(const struct export *e, const char *name);
/* Removes hidden names from a listxattr buffer; returns the new length. */
size_t access_filter_xattr_list(const struct export *e, char *list, size_t len);

#endif
