/* The backend (backend.h): host system calls, confined, and the guest's
 * view under mapped-xattr. */
#include "server/backend.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "server/log.h"

#define VIRTFS "user.virtfs."
#define X_UID VIRTFS "uid"
#define X_GID VIRTFS "gid"
#define X_MODE VIRTFS "mode"
#define X_RDEV VIRTFS "rdev"
#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

static void proc_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static void child_path(int dirfd, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d/%s", dirfd, name);
}

/* ---- names ---- */

int be_name(const struct np_str *s, char buf[BE_NAME_BUF], bool allow_dotdot)
{
	if (s->len == 0)
		return -EINVAL;
	if (s->len > NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(s->s, '/', s->len) || memchr(s->s, '\0', s->len))
		return -EINVAL;
	memcpy(buf, s->s, s->len);
	buf[s->len] = '\0';
	if (!strcmp(buf, "."))
		return -EINVAL;
	if (!strcmp(buf, "..") && !allow_dotdot)
		return -EINVAL;
	return 0;
}

int be_xattr_name(const struct np_str *s, char buf[BE_NAME_BUF])
{
	if (s->len > NAME_MAX)
		return -ERANGE;
	if (memchr(s->s, '\0', s->len))
		return -EINVAL;
	memcpy(buf, s->s, s->len);
	buf[s->len] = '\0';
	return 0;
}

/* ---- looking up ---- */

static atomic_bool no_openat2;

int be_open_child(int dirfd, const char *name)
{
	/* openat2 adds a kernel-enforced guarantee on top of the single
	 * component: nothing may resolve outside dirfd or through a link. */
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		struct open_how how = {
			.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return -errno;
		if (!atomic_exchange(&no_openat2, true))
			log_warn("openat2 is not available (ENOSYS): names are resolved one "
				 "component at a time with O_NOFOLLOW, and '..' checks its parent by "
				 "climbing to the export root (two system calls a level)");
	}
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int be_stat_host(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int stat_child_host(int dirfd, const char *name, struct stat *st)
{
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

int be_dup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return d < 0 ? -errno : d;
}

int be_name_handle(int fd, struct file_handle **handle, int *mount_id)
{
	struct file_handle probe = {.handle_bytes = 0};
	if (name_to_handle_at(fd, "", &probe, mount_id, AT_EMPTY_PATH) == 0 || errno != EOVERFLOW)
		return errno == EOVERFLOW ? -EIO : -errno;
	struct file_handle *h = malloc(sizeof *h + probe.handle_bytes);
	if (!h)
		return -ENOMEM;
	h->handle_bytes = probe.handle_bytes;
	if (name_to_handle_at(fd, "", h, mount_id, AT_EMPTY_PATH)) {
		int rc = -errno;
		free(h);
		return rc;
	}
	*handle = h;
	return 0;
}

int be_open_handle(int mount_fd, struct file_handle *handle)
{
	int fd = open_by_handle_at(mount_fd, handle, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void be_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* True when directory fd still lies below the export root.  A client
 * cannot move a directory out of the export, but the host can; a fid left
 * inside such a directory must not climb with ".." into the host's tree.
 *
 * A fixed number of system calls, whatever the depth: the kernel's name
 * for fd (its path in the daemon's mount namespace) must lie below the
 * export's, and that relative path, resolved from the export root with
 * openat2(RESOLVE_BENEATH, no symlinks), must lead to the same directory.
 * A directory has one name, so reaching it beneath the root proves it is
 * inside.  Without openat2, or for a path longer than PATH_MAX, the
 * directory climbs ".." to the root instead, at most BE_MAX_DEPTH
 * levels. */
static bool dir_inside_export_climbing(const struct export *e, int fd)
{
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	bool inside = false;
	struct stat st, up;
	for (int depth = 0; cur >= 0 && depth < BE_MAX_DEPTH; depth++) {
		if (be_stat_host(cur, &st))
			break;
		if (export_is_root(e, &st)) {
			inside = true;
			break;
		}
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || be_stat_host(next, &up) ||
		    (up.st_dev == st.st_dev && up.st_ino == st.st_ino)) {
			if (next >= 0)
				close(next);
			break; /* reached "/" without meeting the export root */
		}
		close(cur);
		cur = next;
	}
	if (cur >= 0)
		close(cur);
	return inside;
}

static bool dir_inside_export(const struct export *e, int fd)
{
	char proc[32], path[PATH_MAX];
	proc_path(fd, proc);
	ssize_t n = readlink(proc, path, sizeof path);
	if (n <= 0 || (size_t)n >= sizeof path || atomic_load(&no_openat2))
		return dir_inside_export_climbing(e, fd);
	path[n] = '\0';
	size_t rootlen = strlen(e->realpath);
	const char *rel;
	if (!strcmp(path, e->realpath))
		rel = ".";
	else if (!strcmp(e->realpath, "/"))
		rel = path + 1;
	else if (!strncmp(path, e->realpath, rootlen) && path[rootlen] == '/')
		rel = path + rootlen + 1;
	else
		return false; /* unlinked, or its name is outside the export */
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long found = syscall(SYS_openat2, e->rootfd, rel, &how, sizeof how);
	if (found < 0)
		return false;
	struct stat a, b;
	bool same = be_stat_host((int)found, &a) == 0 && be_stat_host(fd, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	close((int)found);
	return same;
}

int be_open_parent(const struct export *e, int dirfd)
{
	struct stat st;
	int rc = be_stat_host(dirfd, &st);
	if (rc)
		return rc;
	if (export_is_root(e, &st))
		return be_dup(dirfd);
	int next = openat(dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (next < 0)
		return -errno;
	if (!dir_inside_export(e, next)) {
		close(next);
		return -ENOENT;
	}
	return next;
}

/* Overlays the mapped xattrs of `path` (follow: a /proc fd link; nofollow:
 * a dir-relative child) onto st.  Missing xattrs leave the host values. */
static void mapped_overlay(const char *path, bool follow, struct stat *st)
{
	ssize_t (*get)(const char *, const char *, void *, size_t) = follow ? getxattr : lgetxattr;
	uint32_t v32;
	uint64_t v64;
	if (get(path, X_UID, &v32, sizeof v32) == sizeof v32)
		st->st_uid = le32toh(v32);
	if (get(path, X_GID, &v32, sizeof v32) == sizeof v32)
		st->st_gid = le32toh(v32);
	if (get(path, X_MODE, &v32, sizeof v32) == sizeof v32) {
		mode_t m = le32toh(v32);
		/* A directory stays a directory whatever the xattr says: the
		 * server walks it as one. */
		if (S_ISDIR(st->st_mode) == S_ISDIR(m))
			st->st_mode = m;
	}
	if (get(path, X_RDEV, &v64, sizeof v64) == sizeof v64)
		st->st_rdev = (dev_t)le64toh(v64);
}

int be_stat(const struct export *e, int fd, struct stat *st, uint32_t *host_mode)
{
	int rc = be_stat_host(fd, st);
	if (rc)
		return rc;
	if (host_mode)
		*host_mode = st->st_mode;
	if (!export_mapped(e) || S_ISLNK(st->st_mode))
		return 0;
	char proc[32];
	proc_path(fd, proc);
	mapped_overlay(proc, true, st);
	return 0;
}

int be_stat_child(const struct export *e, int dirfd, const char *name, struct stat *st)
{
	int rc = stat_child_host(dirfd, name, st);
	if (rc || !export_mapped(e) || S_ISLNK(st->st_mode))
		return rc;
	char path[64 + BE_NAME_BUF];
	child_path(dirfd, name, path, sizeof path);
	mapped_overlay(path, false, st);
	return 0;
}

/* ---- the guest's owner and mode under mapped-xattr ---- */

/* Sets the mapped xattrs given (-1: leave alone) on path. */
static int mapped_set(const char *path, bool follow, int64_t uid, int64_t gid, int64_t mode,
		      int64_t rdev)
{
	int (*set)(const char *, const char *, const void *, size_t, int) =
		follow ? setxattr : lsetxattr;
	uint32_t v32;
	uint64_t v64;
	if (uid >= 0 && (v32 = htole32((uint32_t)uid), set(path, X_UID, &v32, sizeof v32, 0)))
		return -errno;
	if (gid >= 0 && (v32 = htole32((uint32_t)gid), set(path, X_GID, &v32, sizeof v32, 0)))
		return -errno;
	if (mode >= 0 && (v32 = htole32((uint32_t)mode), set(path, X_MODE, &v32, sizeof v32, 0)))
		return -errno;
	if (rdev >= 0 && (v64 = htole64((uint64_t)rdev), set(path, X_RDEV, &v64, sizeof v64, 0)))
		return -errno;
	return 0;
}

/* After creating dirfd/name: record the guest's view (mapped-xattr); on
 * failure the new name is removed again. */
static int record_create(const struct export *e, int dirfd, const char *name, mode_t mode,
			 uid_t uid, gid_t gid, dev_t rdev)
{
	if (!export_mapped(e))
		return 0;
	char path[64 + BE_NAME_BUF];
	child_path(dirfd, name, path, sizeof path);
	bool special = S_ISCHR(mode) || S_ISBLK(mode);
	int rc = mapped_set(path, false, uid, gid, mode, special ? (int64_t)rdev : -1);
	if (rc)
		unlinkat(dirfd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
	return rc;
}

/* ---- opening and creating ---- */

int be_open_flags(uint32_t dotl)
{
	static const struct {
		uint32_t dotl;
		int host;
	} map[] = {
		{NP_DOTL_TRUNC, O_TRUNC},       {NP_DOTL_APPEND, O_APPEND},
		{NP_DOTL_NONBLOCK, O_NONBLOCK}, {NP_DOTL_DSYNC, O_DSYNC},
		{NP_DOTL_LARGEFILE, O_LARGEFILE}, {NP_DOTL_DIRECTORY, O_DIRECTORY},
		{NP_DOTL_NOATIME, O_NOATIME},   {NP_DOTL_SYNC, O_SYNC},
	};
	int flags;
	switch (dotl & 3) {
	case NP_DOTL_WRONLY: flags = O_WRONLY; break;
	case NP_DOTL_RDWR: flags = O_RDWR; break;
	default: flags = O_RDONLY; break;
	}
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if ((dotl & map[i].dotl) == map[i].dotl)
			flags |= map[i].host;
	return flags;
}

int be_reopen(int pathfd, uint32_t mode, uint32_t host_mode, int flags)
{
	/* Both views must agree: under mapped-xattr a guest "regular file"
	 * could be a host device node carrying a forged mode xattr. */
	if ((mode & S_IFMT) != (host_mode & S_IFMT) && !(S_ISREG(host_mode) && !S_ISDIR(mode)))
		return -ENXIO;
	char proc[32];
	proc_path(pathfd, proc);
	int fd;
	if (S_ISDIR(mode)) {
		if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
			return -EISDIR;
		/* Through the descriptor's own link: opening a directory for
		 * reading needs read permission only (openat(fd, ".") would
		 * look "." up, which needs search permission). */
		fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (S_ISREG(mode)) {
		if (flags & O_DIRECTORY)
			return -ENOTDIR;
		/* O_NOATIME is refused for non-owners; drop it rather than fail. */
		fd = open(proc, (flags & ~O_NOATIME) | O_CLOEXEC);
	} else if (S_ISLNK(mode)) {
		return -ELOOP;
	} else {
		return -ENXIO;
	}
	return fd < 0 ? -errno : fd;
}

int be_create(const struct export *e, int dirfd, const char *name, int flags, bool excl,
	      mode_t mode, uid_t uid, gid_t gid, bool *created)
{
	/* Always exclusive on the host: O_CREAT on an existing name would
	 * open a host FIFO or device, and under mapped-xattr would rewrite
	 * another user's ownership. */
	flags &= ~O_DIRECTORY;
	int fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			export_mapped(e) ? 0600 : mode & 07777);
	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST && !excl) {
		int pfd = be_open_child(dirfd, name);
		if (pfd < 0)
			return pfd;
		struct stat st;
		uint32_t host_mode;
		int rc = be_stat(e, pfd, &st, &host_mode);
		fd = rc ? rc : be_reopen(pfd, st.st_mode, host_mode, flags);
		close(pfd);
		return fd;
	}
	if (fd < 0)
		return -errno;
	int rc = record_create(e, dirfd, name, S_IFREG | (mode & 07777), uid, gid, 0);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int be_mkdir(const struct export *e, int dirfd, const char *name, mode_t mode, uid_t uid,
	     gid_t gid)
{
	if (mkdirat(dirfd, name, export_mapped(e) ? 0700 : mode & 07777))
		return -errno;
	return record_create(e, dirfd, name, S_IFDIR | (mode & 07777), uid, gid, 0);
}

int be_symlink(const struct export *e, int dirfd, const char *name, const char *target,
	       uid_t uid, gid_t gid)
{
	/* The target is stored, never resolved by the server. */
	if (!export_mapped(e))
		return symlinkat(target, dirfd, name) ? -errno : 0;
	/* mapped-xattr keeps a symlink as a regular file holding the target. */
	int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(target);
	ssize_t n = write(fd, target, len);
	int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	if (rc) {
		unlinkat(dirfd, name, 0);
		return rc;
	}
	return record_create(e, dirfd, name, S_IFLNK | 0777, uid, gid, 0);
}

int be_mknod(const struct export *e, int dirfd, const char *name, mode_t mode, dev_t rdev,
	     uid_t uid, gid_t gid)
{
	/* mapped-xattr: every special file is a plain file on the host, so
	 * the host never gets a device node from a guest. */
	bool mapped = export_mapped(e);
	if (mknodat(dirfd, name, mapped ? S_IFREG | 0600 : mode, mapped ? 0 : rdev))
		return -errno;
	return record_create(e, dirfd, name, mode, uid, gid, rdev);
}

int be_link(int fd, int dirfd, const char *name)
{
	/* linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
	 * /proc link names exactly the same inode without it. */
	char proc[32];
	proc_path(fd, proc);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) ? -errno : 0;
}

/* ---- names going away or moving ---- */

int be_unlinkat(int dirfd, const char *name, bool dir)
{
	return unlinkat(dirfd, name, dir ? AT_REMOVEDIR : 0) ? -errno : 0;
}

int be_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
	return renameat(olddirfd, oldname, newdirfd, newname) ? -errno : 0;
}

/* Finds the parent directory and name of what fd refers to, confined to
 * the export: the kernel's name for fd is walked again component by
 * component from the export root with O_NOFOLLOW, and the result must be
 * the same inode.  -EBUSY for the export root. */
static int find_parent(const struct export *e, int fd, int *parentfd, char name[BE_NAME_BUF])
{
	char proc[32], path[PATH_MAX];
	proc_path(fd, proc);
	ssize_t n = readlink(proc, path, sizeof path - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof path - 1)
		return -ENAMETOOLONG;
	path[n] = '\0';
	size_t rootlen = strlen(e->realpath);
	const char *rel;
	if (!strcmp(e->realpath, "/"))
		rel = path + 1;
	else if (!strncmp(path, e->realpath, rootlen) && path[rootlen] == '/')
		rel = path + rootlen + 1;
	else if (!strcmp(path, e->realpath))
		return -EBUSY;
	else
		return -ENOENT; /* unlinked, or moved out of the export on the host */
	if (*rel == '\0')
		return -EBUSY;

	struct stat want;
	int rc = be_stat_host(fd, &want);
	if (rc)
		return rc;
	int dir = fcntl(e->rootfd, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		return -errno;
	const char *p = rel;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len > NAME_MAX) {
			close(dir);
			return -ENOENT;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (!slash)
			break;
		int next = be_open_child(dir, name);
		close(dir);
		if (next < 0)
			return next;
		dir = next;
		p = slash + 1;
	}
	struct stat got;
	rc = stat_child_host(dir, name, &got);
	if (rc == 0 && (got.st_dev != want.st_dev || got.st_ino != want.st_ino))
		rc = -ENOENT; /* renamed under us: refuse rather than act on another file */
	if (rc) {
		close(dir);
		return rc;
	}
	*parentfd = dir;
	return 0;
}

int be_remove(const struct export *e, int fd, bool dir)
{
	int parent;
	char name[BE_NAME_BUF];
	int rc = find_parent(e, fd, &parent, name);
	if (rc)
		return rc;
	rc = be_unlinkat(parent, name, dir);
	close(parent);
	return rc;
}

int be_rename(const struct export *e, int fd, int newdirfd, const char *newname)
{
	int parent;
	char oldname[BE_NAME_BUF];
	int rc = find_parent(e, fd, &parent, oldname);
	if (rc)
		return rc;
	rc = be_renameat(parent, oldname, newdirfd, newname);
	close(parent);
	return rc;
}

/* ---- attributes ---- */

int be_statfs(int fd, struct statfs *s)
{
	return fstatfs(fd, s) ? -errno : 0;
}

ssize_t be_readlink(const struct export *e, int fd, uint32_t host_mode, char *buf, size_t len)
{
	(void)e;
	if (S_ISLNK(host_mode)) {
		ssize_t n = readlinkat(fd, "", buf, len);
		return n < 0 ? -errno : n;
	}
	/* Mapped symlink: the target is the regular file's content. */
	char proc[32];
	proc_path(fd, proc);
	int rfd = open(proc, O_RDONLY | O_CLOEXEC);
	if (rfd < 0)
		return -errno;
	ssize_t n = pread(rfd, buf, len, 0);
	int err = errno;
	close(rfd);
	return n < 0 ? -err : n;
}

static bool model_none(const struct export *e)
{
	return e->conf->security_model == SECMODEL_NONE;
}

int be_chmod(const struct export *e, int fd, uint32_t mode, uint32_t host_mode, mode_t perm)
{
	char proc[32];
	proc_path(fd, proc);
	if (export_mapped(e)) {
		if (S_ISLNK(mode) && !S_ISREG(host_mode))
			return -EOPNOTSUPP;
		return mapped_set(proc, true, -1, -1, (mode & S_IFMT) | (perm & 07777), -1);
	}
	if (S_ISLNK(mode))
		return -EOPNOTSUPP;
	if (chmod(proc, perm & 07777))
		return model_none(e) ? 0 : -errno;
	return 0;
}

int be_chown(const struct export *e, int fd, uint32_t host_mode, uid_t uid, gid_t gid)
{
	if (export_mapped(e)) {
		char proc[32];
		proc_path(fd, proc);
		if (S_ISLNK(host_mode))
			return -EOPNOTSUPP;
		return mapped_set(proc, true, uid == (uid_t)-1 ? -1 : (int64_t)uid,
				  gid == (gid_t)-1 ? -1 : (int64_t)gid, -1, -1);
	}
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return model_none(e) ? 0 : -errno;
	return 0;
}

int be_truncate(int pathfd, int openfd, uint64_t size)
{
	if (size > INT64_MAX)
		return -EFBIG;
	if (openfd >= 0)
		return ftruncate(openfd, (off_t)size) ? -errno : 0;
	char proc[32];
	proc_path(pathfd, proc);
	return truncate(proc, (off_t)size) ? -errno : 0;
}

int be_utimes(const struct export *e, int fd, uint32_t host_mode, const struct timespec ts[2])
{
	if (!S_ISLNK(host_mode)) {
		char proc[32];
		proc_path(fd, proc);
		return utimensat(AT_FDCWD, proc, ts, 0) ? -errno : 0;
	}
	/* The /proc link would resolve to the symlink but utimensat cannot
	 * take AT_SYMLINK_NOFOLLOW through it: use the parent found inside
	 * the export. */
	int parent;
	char name[BE_NAME_BUF];
	int rc = find_parent(e, fd, &parent, name);
	if (rc)
		return rc;
	rc = utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	close(parent);
	return rc;
}

/* ---- data ---- */

ssize_t be_read(int fd, void *buf, size_t count, uint64_t off)
{
	if (off > INT64_MAX)
		return -EINVAL;
	ssize_t n = pread(fd, buf, count, (off_t)off);
	return n < 0 ? -errno : n;
}

/* The kernel's rule for a write by a process without CAP_FSETID, applied
 * to the stored mode: set-user-ID goes, set-group-ID too when the group
 * may execute (without it the bit means mandatory locking). */
static void mapped_clear_setid(int fd)
{
	uint32_t v32;
	if (fgetxattr(fd, X_MODE, &v32, sizeof v32) != sizeof v32)
		return;
	uint32_t mode = le32toh(v32), kill = S_ISUID;
	if (mode & S_IXGRP)
		kill |= S_ISGID;
	if (!(mode & kill))
		return;
	v32 = htole32(mode & ~kill);
	fsetxattr(fd, X_MODE, &v32, sizeof v32, 0);
}

ssize_t be_write(const struct export *e, int fd, const void *buf, size_t count, uint64_t off,
		 bool guest_root)
{
	if (off > INT64_MAX)
		return -EINVAL;
	if (export_mapped(e) && !guest_root)
		mapped_clear_setid(fd);
	ssize_t n = pwrite(fd, buf, count, (off_t)off);
	return n < 0 ? -errno : n;
}

int be_fsync(int fd, bool datasync)
{
	return (datasync ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
}

ssize_t be_getdents(int fd, void *buf, size_t len)
{
	ssize_t n = getdents64(fd, buf, len);
	return n < 0 ? -errno : n;
}

int be_seekdir(int fd, int64_t off)
{
	return lseek(fd, off, SEEK_SET) < 0 ? -errno : 0;
}

int be_lock(int fd, bool set, struct flock *fl)
{
	return fcntl(fd, set ? F_OFD_SETLK : F_OFD_GETLK, fl) ? -errno : 0;
}

/* ---- xattrs ---- */

/* A guest's xattr name on its way to the host (host_xattr_name). */
struct xname {
	const char *host;
	bool privileged; /* the xattrmap renamed it into trusted.*: the call
			  * runs with CAP_SYS_ADMIN (creds.h) */
	char mapped[XATTR_NAME_MAX + 1];
	char acl[sizeof VIRTFS + XATTR_NAME_MAX];
};

static bool is_acl_name(const char *name)
{
	return !strcmp(name, ACL_ACCESS) || !strcmp(name, ACL_DEFAULT);
}

static bool is_trusted(const char *name)
{
	return !strncmp(name, "trusted.", 8);
}

/*
 * The host name of a guest xattr name, in two steps, each one rule set
 * (docs/security.md, "xattr names"):
 *   1. the export's xattrmap renames the guest's name or refuses it
 *      (-EPERM, -ENOTSUP; -ERANGE past XATTR_NAME_MAX);
 *   2. under mapped-xattr the guest's POSIX ACLs live in
 *      user.virtfs.system.posix_acl_* (QEMU's names), and user.virtfs.*
 *      itself is the daemon's own storage, which no guest name reaches
 *      (-ENODATA).
 * Only a name the map renamed into trusted.* runs privileged; a trusted.*
 * name the guest wrote itself stays the host's.
 */
static int host_xattr_name(const struct export *e, const char *name, struct xname *x)
{
	const char *n = name;
	x->privileged = false;
	if (e->xattrmap) {
		int rc = xattrmap_to_host(e->xattrmap, name, x->mapped, sizeof x->mapped);
		if (rc)
			return rc;
		n = x->mapped;
		x->privileged = is_trusted(n) && strcmp(n, name);
	}
	if (export_mapped(e)) {
		if (!strncmp(n, VIRTFS, strlen(VIRTFS)))
			return -ENODATA;
		if (is_acl_name(n)) {
			snprintf(x->acl, sizeof x->acl, VIRTFS "%s", n);
			n = x->acl;
		}
	}
	x->host = n;
	return 0;
}

/*
 * The guest's name for a host name from listxattr, written over it in
 * place (never longer); false when the guest does not see it.  The steps
 * of host_xattr_name() backwards: mapped-xattr's names first, then the
 * xattrmap.  privileged: the list was read with CAP_SYS_ADMIN, so it holds
 * every trusted.* name, of which the guest sees only those the map renamed.
 */
static bool guest_xattr_name(const struct export *e, char *name, bool privileged)
{
	const char *n = name;
	if (export_mapped(e)) {
		if (!strncmp(n, VIRTFS, strlen(VIRTFS))) {
			n += strlen(VIRTFS);
			if (!is_acl_name(n))
				return false;
		} else if (is_acl_name(n)) {
			/* The host's own ACLs are the daemon's permissions. */
			return false;
		}
	}
	if (privileged && is_trusted(n) && !e->xattrmap)
		return false;
	if (e->xattrmap) {
		bool was_trusted = is_trusted(n);
		if (xattrmap_to_guest(e->xattrmap, n, name, strlen(n) + 1) != 1)
			return false;
		if (privileged && was_trusted && is_trusted(name))
			return false; /* not renamed: the host's own */
		return true;
	}
	memmove(name, n, strlen(n) + 1);
	return true;
}

/* CAP_SYS_ADMIN around one xattr call on a name the map made trusted.*;
 * raise_if() fails with -EPERM when the daemon does not keep it. */
static int raise_if(bool privileged)
{
	return privileged ? creds_raise_sys_admin() : 0;
}

static void lower_if(bool privileged)
{
	if (privileged) {
		int saved = errno;
		creds_lower_sys_admin();
		errno = saved;
	}
}

/* POSIX ACL values (the kernel's posix_acl_xattr layout: a 4-byte version,
 * then 8-byte entries of tag, permissions and id) name users and groups:
 * under an export's id maps those ids cross like any other.  to_host: a
 * refused id is -EPERM; to the guest: an id the maps do not give back
 * shows as 65534. */
#define ACL_ENTRY_USER 0x02
#define ACL_ENTRY_GROUP 0x08
static int acl_ids(const struct export *e, const char *name, void *value, size_t size,
		   bool to_host)
{
	if (!export_maps_ids(e) || !is_acl_name(name))
		return 0;
	if (size < 4 || (size - 4) % 8)
		return to_host ? -EINVAL : 0; /* the kernel's own check, earlier */
	for (unsigned char *p = (unsigned char *)value + 4; p < (unsigned char *)value + size;
	     p += 8) {
		uint16_t tag;
		uint32_t id, out;
		memcpy(&tag, p, 2);
		memcpy(&id, p + 4, 4);
		tag = le16toh(tag);
		id = le32toh(id);
		if (tag != ACL_ENTRY_USER && tag != ACL_ENTRY_GROUP)
			continue;
		bool user = tag == ACL_ENTRY_USER;
		if (to_host) {
			int rc = user ? export_uid_to_host(e, id, &out) : export_gid_to_host(e, id, &out);
			if (rc)
				return rc;
		} else {
			out = user ? export_uid_to_guest(e, id) : export_gid_to_guest(e, id);
		}
		out = htole32(out);
		memcpy(p + 4, &out, 4);
	}
	return 0;
}

ssize_t be_xattr_get(const struct export *e, int fd, const char *name, void *buf, size_t size)
{
	struct xname x;
	int rc = host_xattr_name(e, name, &x);
	if (rc)
		return rc;
	char proc[32];
	proc_path(fd, proc);
	if (raise_if(x.privileged))
		return -EPERM;
	ssize_t n = getxattr(proc, x.host, buf, size);
	lower_if(x.privileged);
	if (n < 0)
		return -errno;
	if (buf)
		acl_ids(e, name, buf, (size_t)n, false);
	return n;
}

ssize_t be_xattr_list(const struct export *e, int fd, char *buf, size_t size)
{
	char proc[32];
	proc_path(fd, proc);
	/* Names the map put in trusted.* are listed only with CAP_SYS_ADMIN. */
	bool privileged = e->xattrmap_trusted;
	if (privileged && raise_if(privileged))
		privileged = false; /* not kept: the list holds no trusted.* */
	ssize_t n = listxattr(proc, buf, size);
	lower_if(privileged);
	if (n < 0)
		return -errno;
	if (!buf)
		return n; /* guest names are never longer than host names */
	size_t out = 0;
	for (size_t pos = 0; pos < (size_t)n;) {
		size_t len = strnlen(buf + pos, (size_t)n - pos) + 1;
		char *name = buf + pos;
		name[len - 1] = '\0';
		if (guest_xattr_name(e, name, privileged)) {
			size_t glen = strlen(name) + 1;
			memmove(buf + out, name, glen);
			out += glen;
		}
		pos += len;
	}
	return (ssize_t)out;
}

int be_xattr_settable(const struct export *e, const char *name)
{
	struct xname x;
	int rc = host_xattr_name(e, name, &x);
	return rc == -ENODATA ? -EACCES : rc;
}

int be_xattr_set(const struct export *e, int fd, const char *name, const void *value,
		 size_t size, int flags)
{
	struct xname x;
	int rc = host_xattr_name(e, name, &x);
	if (rc)
		return rc == -ENODATA ? -EACCES : rc;
	char proc[32];
	proc_path(fd, proc);
	if (raise_if(x.privileged))
		return -EPERM;
	if (size == 0 && (flags & XATTR_REPLACE)) {
		rc = removexattr(proc, x.host) ? -errno : 0;
		lower_if(x.privileged);
		return rc;
	}
	void *copy = NULL;
	if (export_maps_ids(e) && is_acl_name(name)) {
		if (!(copy = malloc(size ? size : 1))) {
			lower_if(x.privileged);
			return -ENOMEM;
		}
		memcpy(copy, value, size);
		rc = acl_ids(e, name, copy, size, true);
		value = copy;
	}
	if (!rc && setxattr(proc, x.host, value, size, flags))
		rc = -errno;
	lower_if(x.privileged);
	free(copy);
	return rc;
}
