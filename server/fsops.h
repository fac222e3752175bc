/* The confined file-system backend.  Every operation is relative to an
 * O_PATH directory fd and one validated name component; no client-supplied
 * path string ever reaches a path-based syscall, and no symlink on the host
 * is ever followed.  Functions return 0 (or a count) or -errno.  Worker
 * threads only. */
#ifndef NINEPD_SERVER_FSOPS_H
#define NINEPD_SERVER_FSOPS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "proto/9p.h"
#include "server/server.h"

#define FS_NAME_BUF (NAME_MAX + 1)

/* Copies a client name into buf as a C string.  Refuses (-EINVAL) empty
 * names, ".", "..", and names containing '/' or NUL; -ENAMETOOLONG past
 * NAME_MAX.  allow_dotdot admits ".." (walk elements only). */
int fs_name(const struct np_str *s, char buf[FS_NAME_BUF], bool allow_dotdot);

/* O_PATH fd of the child `name` of dirfd, never following a symlink (a
 * symlink yields an fd on the link itself). */
int fs_open_child(int dirfd, const char *name);

/* lstat of what fd refers to. */
int fs_stat(int fd, struct stat *st);
int fs_stat_child(int dirfd, const char *name, struct stat *st);

/* "/proc/self/fd/N": the kernel resolves it to exactly fd's inode. */
void fs_proc_path(int fd, char buf[32]);

/* Opens the object behind an O_PATH fd for I/O.  Directories open
 * read-only; symlinks fail with ELOOP; device nodes, FIFOs and sockets are
 * never opened on the host (ENXIO). */
int fs_reopen(int pathfd, mode_t mode, mode_t host_mode, int host_flags);

/* Translates Tlopen/Tlcreate flags to host open(2) flags, dropping those
 * the server must decide itself (O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW,
 * O_CLOEXEC, O_DIRECT, FASYNC). */
int fs_open_flags(uint32_t dotl);

/* Finds the parent directory and name of what fd refers to, confined to
 * the export: the kernel's name for fd is walked again component by
 * component from the export root with O_NOFOLLOW, and the result must be
 * the same inode.  Used by the path-free requests that need a parent
 * (Tremove, Trename, times on symlinks).  -EBUSY for the export root. */
int fs_parent(const struct export *e, int fd, int *parentfd, char name[FS_NAME_BUF]);

/* Switches this worker thread's fsuid/fsgid/groups to u (gid overrides
 * u's primary gid for creations) when the daemon runs as root; a no-op
 * otherwise.  Per thread: setfsuid and the raw setgroups syscall do not
 * touch other threads. */
int creds_enter(const struct user *u, gid_t gid);
/* Back to the daemon's own identity (mapped-xattr, none). */
int creds_enter_daemon(void);
void creds_set_root_mode(bool is_root);

#endif
