#include "server/access.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "server/fsops.h"

#define X_UID MAPPED_PREFIX "uid"
#define X_GID MAPPED_PREFIX "gid"
#define X_MODE MAPPED_PREFIX "mode"
#define X_RDEV MAPPED_PREFIX "rdev"

void access_init(struct export *e)
{
	const struct export_conf *c = e->conf;
	if (c->squash_uid < 0 && c->squash_gid < 0)
		return;
	e->squash.uid = c->squash_uid >= 0 ? (uid_t)c->squash_uid : 65534;
	e->squash.gid = c->squash_gid >= 0 ? (gid_t)c->squash_gid : 65534;
	e->squash.ngroups = 0;
	e->has_squash = true;
}

bool access_mapped(const struct export *e)
{
	return e->conf->security_model == SECMODEL_MAPPED_XATTR;
}

const struct user *access_user(const struct fid *f)
{
	switch (f->exp->conf->security_model) {
	case SECMODEL_PASSTHROUGH:
		return f->exp->has_squash ? &f->exp->squash : f->user;
	case SECMODEL_NONE:
		return f->exp->has_squash ? &f->exp->squash : NULL;
	default:
		return NULL; /* mapped: the guest kernel checks permissions */
	}
}

uid_t access_owner_uid(const struct fid *f)
{
	return f->exp->has_squash ? f->exp->squash.uid : f->user->uid;
}

gid_t access_create_gid(const struct fid *f, gid_t requested)
{
	return f->exp->has_squash ? f->exp->squash.gid : requested;
}

int access_enter(const struct fid *f)
{
	const struct user *u = access_user(f);
	return u ? creds_enter(u, u->gid) : creds_enter_daemon();
}

int access_enter_create(const struct fid *f, gid_t requested)
{
	const struct user *u = access_user(f);
	return u ? creds_enter(u, access_create_gid(f, requested)) : creds_enter_daemon();
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

int access_stat(const struct export *e, int fd, struct stat *st)
{
	int rc = fs_stat(fd, st);
	if (rc || !access_mapped(e) || S_ISLNK(st->st_mode))
		return rc;
	char proc[32];
	fs_proc_path(fd, proc);
	mapped_overlay(proc, true, st);
	return 0;
}

static void child_path(int dirfd, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d/%s", dirfd, name);
}

int access_stat_child(const struct export *e, int dirfd, const char *name, struct stat *st)
{
	int rc = fs_stat_child(dirfd, name, st);
	if (rc || !access_mapped(e) || S_ISLNK(st->st_mode))
		return rc;
	char path[64 + FS_NAME_BUF];
	child_path(dirfd, name, path, sizeof path);
	mapped_overlay(path, false, st);
	return 0;
}

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

int access_record_create(const struct export *e, int dirfd, const char *name, mode_t mode,
			 uid_t uid, gid_t gid, dev_t rdev)
{
	if (!access_mapped(e))
		return 0;
	char path[64 + FS_NAME_BUF];
	child_path(dirfd, name, path, sizeof path);
	bool special = S_ISCHR(mode) || S_ISBLK(mode);
	return mapped_set(path, false, uid, gid, mode, special ? (int64_t)rdev : -1);
}

static bool model_none(const struct fid *f)
{
	return f->exp->conf->security_model == SECMODEL_NONE;
}

int access_chmod(const struct fid *f, mode_t mode)
{
	char proc[32];
	fs_proc_path(f->pathfd, proc);
	if (access_mapped(f->exp)) {
		if (S_ISLNK(f->mode) && !S_ISREG(f->host_mode))
			return -EOPNOTSUPP;
		return mapped_set(proc, true, -1, -1, (f->mode & S_IFMT) | (mode & 07777), -1);
	}
	if (S_ISLNK(f->mode))
		return -EOPNOTSUPP;
	if (chmod(proc, mode & 07777))
		return model_none(f) ? 0 : -errno;
	return 0;
}

int access_chown(const struct fid *f, uid_t uid, gid_t gid)
{
	if (access_mapped(f->exp)) {
		char proc[32];
		fs_proc_path(f->pathfd, proc);
		if (S_ISLNK(f->host_mode))
			return -EOPNOTSUPP;
		return mapped_set(proc, true, uid == (uid_t)-1 ? -1 : (int64_t)uid,
				  gid == (gid_t)-1 ? -1 : (int64_t)gid, -1, -1);
	}
	if (fchownat(f->pathfd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return model_none(f) ? 0 : -errno;
	return 0;
}

ssize_t access_readlink(const struct fid *f, char *buf, size_t len)
{
	if (S_ISLNK(f->host_mode)) {
		ssize_t n = readlinkat(f->pathfd, "", buf, len);
		return n < 0 ? -errno : n;
	}
	/* Mapped symlink: the target is the regular file's content. */
	char proc[32];
	fs_proc_path(f->pathfd, proc);
	int fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, len, 0);
	int err = errno;
	close(fd);
	return n < 0 ? -err : n;
}

bool access_xattr_hidden(const struct export *e, const char *name)
{
	return access_mapped(e) && !strncmp(name, MAPPED_PREFIX, strlen(MAPPED_PREFIX));
}

size_t access_filter_xattr_list(const struct export *e, char *list, size_t len)
{
	if (!access_mapped(e))
		return len;
	size_t out = 0;
	for (size_t pos = 0; pos < len;) {
		size_t n = strnlen(list + pos, len - pos) + 1;
		if (!access_xattr_hidden(e, list + pos)) {
			memmove(list + out, list + pos, n);
			out += n;
		}
		pos += n;
	}
	return out;
}
