#include "server/fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_name(const struct np_str *s, char buf[FS_NAME_BUF], bool allow_dotdot)
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

static atomic_bool no_openat2;

int fs_open_child(int dirfd, const char *name)
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
		atomic_store(&no_openat2, true);
	}
	int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs_stat(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

int fs_stat_child(int dirfd, const char *name, struct stat *st)
{
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

void fs_proc_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

int fs_open_flags(uint32_t dotl)
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

int fs_reopen(int pathfd, mode_t mode, mode_t host_mode, int host_flags)
{
	int fd;
	/* Both views must agree: under mapped-xattr a guest "regular file"
	 * could be a host device node carrying a forged mode xattr. */
	if ((mode & S_IFMT) != (host_mode & S_IFMT) && !(S_ISREG(host_mode) && !S_ISDIR(mode)))
		return -ENXIO;
	if (S_ISDIR(mode)) {
		if ((host_flags & O_ACCMODE) != O_RDONLY || (host_flags & O_TRUNC))
			return -EISDIR;
		fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (S_ISREG(mode)) {
		if (host_flags & O_DIRECTORY)
			return -ENOTDIR;
		char proc[32];
		fs_proc_path(pathfd, proc);
		/* O_NOATIME is refused for non-owners; drop it rather than fail. */
		fd = open(proc, (host_flags & ~O_NOATIME) | O_CLOEXEC);
	} else if (S_ISLNK(mode)) {
		return -ELOOP;
	} else {
		return -ENXIO;
	}
	return fd < 0 ? -errno : fd;
}

int fs_parent(const struct export *e, int fd, int *parentfd, char name[FS_NAME_BUF])
{
	char proc[32], path[PATH_MAX];
	fs_proc_path(fd, proc);
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
	int rc = fs_stat(fd, &want);
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
		int next = fs_open_child(dir, name);
		close(dir);
		if (next < 0)
			return next;
		dir = next;
		p = slash + 1;
	}
	struct stat got;
	rc = fs_stat_child(dir, name, &got);
	if (rc == 0 && (got.st_dev != want.st_dev || got.st_ino != want.st_ino))
		rc = -ENOENT; /* renamed under us: refuse rather than act on another file */
	if (rc) {
		close(dir);
		return rc;
	}
	*parentfd = dir;
	return 0;
}

static _Thread_local const struct user *cur_user;
static _Thread_local gid_t cur_gid;
static _Thread_local bool cur_valid;
/* Bumped by creds_set_root_mode (a new server): the per-thread cache,
 * keyed by struct user pointers, must not survive the users it points to. */
static atomic_uint creds_epoch;
static _Thread_local unsigned cur_epoch;
static bool daemon_is_root;
static gid_t daemon_groups[256];
static int daemon_ngroups;
void creds_set_root_mode(bool is_root)
{
	atomic_fetch_add(&creds_epoch, 1);
	daemon_is_root = is_root;
	int n = getgroups(256, daemon_groups);
	daemon_ngroups = n > 0 ? n : 0;
}

static const struct user daemon_self; /* a marker: the daemon's identity */

int creds_enter_daemon(void)
{
	if (!daemon_is_root)
		return 0;
	if (cur_epoch != atomic_load(&creds_epoch)) {
		cur_valid = false;
		cur_user = NULL;
		cur_epoch = atomic_load(&creds_epoch);
	}
	if (cur_valid && cur_user == &daemon_self)
		return 0;
	cur_valid = false;
	if (syscall(SYS_setgroups, (size_t)daemon_ngroups, daemon_groups) != 0)
		return -EPERM;
	cur_user = &daemon_self;
	setfsgid(getegid());
	setfsuid(geteuid());
	cur_gid = getegid();
	cur_valid = true;
	return 0;
}

int creds_enter(const struct user *u, gid_t gid)
{
	if (!daemon_is_root || !u)
		return 0;
	if (cur_epoch != atomic_load(&creds_epoch)) {
		cur_valid = false;
		cur_user = NULL;
		cur_epoch = atomic_load(&creds_epoch);
	}
	if (cur_valid && cur_user == u && cur_gid == gid)
		return 0;
	cur_valid = false;
	if (!cur_user || cur_user != u) {
		if (syscall(SYS_setgroups, (size_t)u->ngroups, u->groups) != 0)
			return -EPERM;
	}
	cur_user = u;
	setfsgid(gid);
	setfsuid(u->uid);
	/* setfs*id report failure only by returning the old value: check. */
	if ((gid_t)setfsgid((gid_t)-1) != gid || (uid_t)setfsuid((uid_t)-1) != u->uid)
		return -EPERM;
	cur_gid = gid;
	cur_valid = true;
	return 0;
}
