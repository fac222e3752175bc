/* The backend: every host system call a request makes, behind one
 * interface shaped like QEMU's FileOperations (an export, a descriptor, a
 * name -> 0, a count, or -errno).
 *
 * Confinement: every operation is relative to an O_PATH descriptor and at
 * most one validated name component; no client-supplied path string ever
 * reaches a path-based system call and no symlink on the host is ever
 * followed.  The only paths built here are the daemon's own
 * /proc/self/fd/N (and /proc/self/fd/N/NAME with a checked NAME), which
 * the kernel resolves to exactly that descriptor's object.
 *
 * Security models: the backend also keeps the guest's view under
 * mapped-xattr (owner, mode and rdev in user.virtfs.{uid,gid,mode,rdev},
 * POSIX ACLs in user.virtfs.system.posix_acl_*, all as QEMU stores them),
 * so the handlers above it never see a host xattr name or a host mode
 * the guest should not.  Guest xattr names cross at be_xattr_*.
 *
 * Worker threads only, with the request's credentials entered (creds.h);
 * nothing here decides who may do what: that is the contract table's and
 * the credentials'. */
#ifndef NINEPD_SERVER_BACKEND_H
#define NINEPD_SERVER_BACKEND_H

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include "proto/9p.h"
#include "server/export.h"

#define BE_NAME_BUF (NAME_MAX + 1)
#define BE_XATTR_MAX (64u << 10) /* largest xattr value a client may set */

/* ---- names ---- */

/* Copies a client name into buf as a C string.  Refuses (-EINVAL) empty
 * names, ".", "..", and names containing '/' or NUL; -ENAMETOOLONG past
 * NAME_MAX.  allow_dotdot admits ".." (walk elements only). */
int be_name(const struct np_str *s, char buf[BE_NAME_BUF], bool allow_dotdot);
/* An xattr name: no NUL inside, at most 255 bytes (-ERANGE), may be "". */
int be_xattr_name(const struct np_str *s, char buf[BE_NAME_BUF]);

/* ---- looking up ---- */

/* O_PATH descriptor of the child `name` of dirfd, never following a
 * symlink (a symlink yields a descriptor of the link itself). */
int be_open_child(int dirfd, const char *name);
/* O_PATH descriptor of "..", of the directory dirfd: the export root's
 * parent is the root itself, and a directory the host moved out of the
 * export does not lead out of it (-ENOENT).  A fixed number of system
 * calls whatever the depth (BE_MAX_DEPTH levels climbed at most where
 * openat2 is missing). */
#define BE_MAX_DEPTH 4096
int be_open_parent(const struct export *e, int dirfd);
int be_dup(int fd);
/* A file handle for what fd refers to (name_to_handle_at; malloc'd) and
 * the id of its mount; -EOPNOTSUPP where the file system has none. */
int be_name_handle(int fd, struct file_handle **handle, int *mount_id);
/* An O_PATH descriptor of the file behind handle, on the mount mount_fd
 * is on (open_by_handle_at: needs cap_dac_read_search).  It is exactly
 * that file, wherever it is now; -ESTALE once it is deleted. */
int be_open_handle(int mount_fd, struct file_handle *handle);
void be_close(int fd);
/* The guest's view of what fd refers to (mapped-xattr: the xattrs
 * override owner, mode and rdev); host_mode gets the host's mode. */
int be_stat(const struct export *e, int fd, struct stat *st, uint32_t *host_mode);
int be_stat_child(const struct export *e, int dirfd, const char *name, struct stat *st);
/* The host's own stat of fd. */
int be_stat_host(int fd, struct stat *st);

/* ---- opening and creating ---- */

/* Translates Tlopen/Tlcreate flags to host open(2) flags, dropping those
 * the server decides itself (O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW,
 * O_CLOEXEC, O_DIRECT, FASYNC). */
int be_open_flags(uint32_t dotl);
/* Opens the object behind an O_PATH descriptor for I/O.  Directories open
 * read-only, needing only read permission (never search); symlinks fail
 * with ELOOP; device nodes, FIFOs and sockets are never opened on the host
 * (ENXIO), and under mapped-xattr the guest's and the host's file types
 * must agree. */
int be_reopen(int pathfd, uint32_t mode, uint32_t host_mode, int flags);
/* Creates dirfd/name as a regular file and opens it with flags (always
 * O_EXCL on the host: an existing name is opened like be_reopen opens it,
 * unless excl).  Records the guest's owner (mapped-xattr).  *created tells
 * which happened. */
int be_create(const struct export *e, int dirfd, const char *name, int flags, bool excl,
	      mode_t mode, uid_t uid, gid_t gid, bool *created);
int be_mkdir(const struct export *e, int dirfd, const char *name, mode_t mode, uid_t uid,
	     gid_t gid);
int be_symlink(const struct export *e, int dirfd, const char *name, const char *target,
	       uid_t uid, gid_t gid);
int be_mknod(const struct export *e, int dirfd, const char *name, mode_t mode, dev_t rdev,
	     uid_t uid, gid_t gid);
/* A new name dirfd/name for the (non-directory) file fd. */
int be_link(int fd, int dirfd, const char *name);

/* ---- names going away or moving ---- */

int be_unlinkat(int dirfd, const char *name, bool dir);
int be_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname);
/* The path-free requests (Tremove, Trename): fd's own name, found again
 * inside the export (the same inode or -ENOENT; -EBUSY for the root). */
int be_remove(const struct export *e, int fd, bool dir);
int be_rename(const struct export *e, int fd, int newdirfd, const char *newname);

/* ---- attributes ---- */

int be_statfs(int fd, struct statfs *s);
ssize_t be_readlink(const struct export *e, int fd, uint32_t host_mode, char *buf, size_t len);
/* mode: the guest's file type and the new permission bits. */
int be_chmod(const struct export *e, int fd, uint32_t mode, uint32_t host_mode, mode_t perm);
int be_chown(const struct export *e, int fd, uint32_t host_mode, uid_t uid, gid_t gid);
/* Truncates the open file openfd when there is one (the file as opened,
 * whatever its mode now), else the file behind pathfd. */
int be_truncate(int pathfd, int openfd, uint64_t size);
int be_utimes(const struct export *e, int fd, uint32_t host_mode, const struct timespec ts[2]);

/* ---- data ---- */

ssize_t be_read(int fd, void *buf, size_t count, uint64_t off);
/* Writes; under mapped-xattr a writer that is not the guest's root clears
 * the stored set-user-ID bit, and set-group-ID when group-exec is set, as
 * the kernel does for a host file. */
ssize_t be_write(const struct export *e, int fd, const void *buf, size_t count, uint64_t off,
		 bool guest_root);
int be_fsync(int fd, bool datasync);
/* One getdents64 into buf; 0 at the end. */
ssize_t be_getdents(int fd, void *buf, size_t len);
int be_seekdir(int fd, int64_t off);
/* Open file description locks: F_OFD_SETLK (set) or F_OFD_GETLK. */
int be_lock(int fd, bool set, struct flock *fl);

/* ---- xattrs, with the guest's names ---- */

/* Value of name (NULL buf: its size). */
ssize_t be_xattr_get(const struct export *e, int fd, const char *name, void *buf, size_t size);
/* The guest's list of names (NULL buf: an upper bound of its size). */
ssize_t be_xattr_list(const struct export *e, int fd, char *buf, size_t size);
/* Sets name (size 0 and XATTR_REPLACE: removes it). */
int be_xattr_set(const struct export *e, int fd, const char *name, const void *value,
		 size_t size, int flags);
/* -EACCES for a name the guest may not set at all (mapped-xattr's own). */
int be_xattr_settable(const struct export *e, const char *name);

#endif
