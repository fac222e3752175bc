/* The daemon's new root (sandbox.h).
 *
 * How the root is built, and why in this order:
 *   1. unshare() the mount, ipc, uts (and network) namespaces, and make
 *      every mount private, so nothing mounted below propagates back to
 *      the host.
 *   2. Every path to bind is opened (O_PATH) while the host's tree is still
 *      there, so step 3 cannot hide one (exports often live under /tmp);
 *      in the new namespace, since a bind from another one's mount fails.
 *   3. A tmpfs over /tmp becomes the new root: pivot_root needs a mount
 *      point.  /tmp is the daemon's own from step 2 on (bubblewrap does the
 *      same); the host never sees this mount.
 *   4. The skeleton (each bind's parent directories, an empty directory or
 *      file for each target, /proc) is made first, in the tmpfs only; then
 *      the binds, parents before children, each from /proc/self/fd/N of
 *      its descriptor, so a bind nested in another lands on the host
 *      directory the outer one shows, never creating anything in it.
 *   5. Every bind is nosuid, nodev, noexec (the daemon opens no device and
 *      executes nothing), read-only where asked; the skeleton itself is
 *      read-only.
 *   6. pivot_root(".", ".") and a lazy unmount of the old root that now
 *      lies on top (the pivot_root(2) idiom), or chroot(".").
 */
#include "server/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/log.h"

#define BASE "/tmp" /* where the new root is mounted before it becomes "/" */

/* mount(2)'s source and type for binds, remounts and propagation changes,
 * which the kernel ignores: a string rather than NULL, as valgrind's
 * checker of mount's arguments wants. */
#define NONE "none"


enum sandbox_mode sandbox_mode_effective(enum sandbox_mode m)
{
	if (m != SANDBOX_DEFAULT)
		return m;
	return geteuid() == 0 ? SANDBOX_NAMESPACE : SANDBOX_NONE;
}

/* mkdir -p of every directory above path (BASE-prefixed), in the tmpfs. */
static int make_parents(const char *target)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", target) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *p = buf + strlen(BASE) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* The empty directory or file a bind goes on. */
static int make_target(const char *target, bool file)
{
	int rc = make_parents(target);
	if (rc)
		return rc;
	if (!file)
		return mkdir(target, 0755) && errno != EEXIST ? -errno : 0;
	int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EISDIR ? 0 : -errno;
	close(fd);
	return 0;
}

static int cmp_bind(const void *a, const void *b)
{
	return strcmp(((const struct sandbox_bind *)a)->path, ((const struct sandbox_bind *)b)->path);
}

/* nosuid, nodev, noexec (and read-only) on the bind at target and, for a
 * directory, every mount below it. */
static int seal_bind(const char *target, bool readonly)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
			    (readonly ? MOUNT_ATTR_RDONLY : 0),
	};
	if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 5.12: the top mount only, which is what read-only
	 * configuration files need. */
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	return readonly && mount(NONE, target, NONE, flags | MS_RDONLY, NULL) ? -errno : 0;
}

int sandbox_enter(enum sandbox_mode mode, const struct sandbox_bind *in, size_t n, bool own_net,
		  bool chroot_fallback, struct sandbox *out, char *err, size_t errlen)
{
	*out = (struct sandbox){.mode = mode, .own_net = own_net};
	if (mode != SANDBOX_NAMESPACE && mode != SANDBOX_CHROOT)
		return log_reason(err, errlen, -EINVAL, "not a sandbox mode");
	if (geteuid() != 0)
		return log_reason(err, errlen, -EPERM,
			    "--sandbox %s needs ninepd to start as root (it runs as uid %u); "
			    "give --sandbox none",
			    sandbox_mode_name(mode), (unsigned)geteuid());
	struct sandbox_bind *binds = calloc(n ? n : 1, sizeof *binds);
	out->paths = calloc(n ? n : 1, sizeof *out->paths);
	if (!binds || !out->paths) {
		free(binds);
		return log_reason(err, errlen, -ENOMEM, "out of memory");
	}
	memcpy(binds, in, n * sizeof *binds);
	qsort(binds, n, sizeof *binds, cmp_bind);
	int rc = 0;
	char target[PATH_MAX + sizeof BASE];
	int *opened = calloc(n ? n : 1, sizeof *opened);
	if (!opened) {
		free(binds);
		return log_reason(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		opened[i] = -1;

	mode_t umask_was = umask(022);

	/* 1. Namespaces of its own; nothing propagates back. */
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (own_net ? CLONE_NEWNET : 0);
	if (!rc && unshare(flags))
		rc = log_reason(err, errlen, -errno, "unshare(mount, ipc, uts%s namespaces): %s",
			  own_net ? ", network" : "", strerror(errno));
	if (!rc && mount(NONE, "/", NONE, MS_REC | MS_PRIVATE, NULL))
		rc = log_reason(err, errlen, -errno, "making every mount private: %s", strerror(errno));

	/* 2. Every source, opened while the host's tree is in place, in the
	 * new namespace: a bind from another namespace's mount is refused. */
	for (size_t i = 0; i < n && !rc; i++) {
		if (binds[i].path[0] != '/' || !strcmp(binds[i].path, "/")) {
			rc = log_reason(err, errlen, -EINVAL,
				  "%s: only an absolute path below / can be bound into the sandbox",
				  binds[i].path);
			break;
		}
		opened[i] = open(binds[i].path, O_PATH | O_CLOEXEC);
		if (opened[i] < 0)
			rc = log_reason(err, errlen, -errno, "%s: %s", binds[i].path, strerror(errno));
		if (!rc && !(out->paths[i] = strdup(binds[i].path)))
			rc = log_reason(err, errlen, -ENOMEM, "out of memory");
		out->npaths += !rc;
	}
	/* 3. The new root. */
	if (!rc && mount("ninepd-root", BASE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			 "mode=0755,size=1m,nr_inodes=4096"))
		rc = log_reason(err, errlen, -errno, "mounting a tmpfs on " BASE " for the new root: %s",
			  strerror(errno));

	/* 4. The skeleton, then the binds. */
	for (size_t i = 0; i < n && !rc; i++) {
		snprintf(target, sizeof target, BASE "%s", binds[i].path);
		if ((rc = make_target(target, binds[i].file)))
			rc = log_reason(err, errlen, rc, "making %s in the new root: %s", binds[i].path,
				  strerror(-rc));
	}
	if (!rc && mkdir(BASE "/proc", 0555) && errno != EEXIST)
		rc = log_reason(err, errlen, -errno, "making /proc in the new root: %s", strerror(errno));
	for (size_t i = 0; i < n && !rc; i++) {
		char src[32];
		snprintf(src, sizeof src, "/proc/self/fd/%d", opened[i]);
		snprintf(target, sizeof target, BASE "%s", binds[i].path);
		if (mount(src, target, NONE, MS_BIND | MS_REC, NULL))
			rc = log_reason(err, errlen, -errno, "binding %s into the new root: %s",
				  binds[i].path, strerror(errno));
		/* 5. */
		else if ((rc = seal_bind(target, binds[i].readonly)))
			rc = log_reason(err, errlen, rc, "making the bind of %s nosuid, nodev, noexec%s: %s",
				  binds[i].path, binds[i].readonly ? ", read-only" : "",
				  strerror(-rc));
	}
	/* Processes only (no /proc/sys, no /proc/kcore...), and of them only
	 * those the daemon could trace anyway: /proc/self/fd is what it uses. */
	if (!rc && mount("proc", BASE "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			 "subset=pid,hidepid=invisible"))
		rc = log_reason(err, errlen, -errno,
			  "mounting /proc (subset=pid, hidepid=invisible; Linux 5.8 or later) in the "
			  "new root: %s",
			  strerror(errno));
	if (!rc && mount(NONE, BASE, NONE, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV |
					      MS_NOEXEC, NULL))
		rc = log_reason(err, errlen, -errno, "making the new root read-only: %s", strerror(errno));

	/* 6. In. */
	if (!rc && chdir(BASE))
		rc = log_reason(err, errlen, -errno, "chdir " BASE ": %s", strerror(errno));
	if (!rc && mode == SANDBOX_NAMESPACE) {
		if (syscall(SYS_pivot_root, ".", ".") == 0) {
			if (umount2(".", MNT_DETACH))
				rc = log_reason(err, errlen, -errno, "detaching the old root: %s",
					  strerror(errno));
		} else if (errno == EINVAL && chroot_fallback) {
			/* An initramfs root (rootfs) cannot be pivoted away from. */
			out->mode = mode = SANDBOX_CHROOT;
		} else {
			rc = log_reason(err, errlen, -errno, "pivot_root: %s%s", strerror(errno),
				  errno == EINVAL ? " (a root on an initramfs cannot be pivoted away "
						    "from: give --sandbox chroot)"
						  : "");
		}
	}
	if (!rc && mode == SANDBOX_CHROOT && chroot("."))
		rc = log_reason(err, errlen, -errno, "chroot: %s", strerror(errno));
	if (!rc && chdir("/"))
		rc = log_reason(err, errlen, -errno, "chdir /: %s", strerror(errno));
	umask(umask_was);
	for (size_t i = 0; i < n; i++)
		if (opened[i] >= 0)
			close(opened[i]);
	free(opened);
	free(binds);
	if (rc)
		sandbox_free(out);
	return rc;
}

bool sandbox_has(const struct sandbox *sb, const char *path)
{
	for (size_t i = 0; sb && i < sb->npaths; i++)
		if (!strcmp(sb->paths[i], path))
			return true;
	return false;
}

void sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return;
	for (size_t i = 0; i < sb->npaths; i++)
		free(sb->paths[i]);
	free(sb->paths);
	sb->paths = NULL;
	sb->npaths = 0;
}
