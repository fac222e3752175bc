/* The daemon's own confinement: a new root that holds only what it needs.
 *
 * Once the listeners are bound and the exports open (and before privileges
 * are dropped, before any worker thread exists), sandbox_enter() moves the
 * daemon into new mount, ipc and uts namespaces (and a new network
 * namespace when no TCP listener needs the host's), builds an empty root
 * on a tmpfs, binds into it, each at its own host path, only:
 *   - the exports (recursively: file systems mounted inside them come too),
 *   - the directories of the remap_state files (written at SIGUSR1 and
 *     exit),
 *   - the configuration files (read-only; SIGHUP reads them again), and,
 *     with -u, /etc/passwd and /etc/group (read-only; a reload looks the
 *     user up),
 * mounts a /proc that shows processes only (subset=pid), for
 * /proc/self/fd, and enters the new root with pivot_root (namespace) or
 * chroot (chroot).  docs/security.md says what that stops and what not.
 *
 * No pid namespace: the process that calls unshare(CLONE_NEWPID) stays in
 * its own, and moving needs a fork, which would change the pid that
 * systemd, the tests and administrators signal and watch.  The daemon
 * never creates a process (the seccomp filter refuses it); hidepid=invisible
 * on its /proc hides the processes it could not trace anyway.
 */
#ifndef NINEPD_SERVER_SANDBOX_H
#define NINEPD_SERVER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* One path the new root holds, at the same path as on the host. */
struct sandbox_bind {
	const char *path; /* absolute host path, as the configuration names it */
	bool file;        /* a regular file, not a directory */
	bool readonly;
};

/* What a sandbox was built with, for the reload's questions. */
struct sandbox {
	enum sandbox_mode mode; /* NAMESPACE or CHROOT */
	char **paths;           /* every bound path, copied */
	size_t npaths;
	bool own_net;           /* a network namespace of its own */
};

/* The mode a configuration asks for: SANDBOX_DEFAULT is namespace as root,
 * none otherwise. */
enum sandbox_mode sandbox_mode_effective(enum sandbox_mode m);

/*
 * Enters the sandbox (mode SANDBOX_NAMESPACE or SANDBOX_CHROOT) holding
 * binds[0..n); own_net: a network namespace of its own too;
 * chroot_fallback: when the root cannot be pivoted away from (an
 * initramfs), chroot instead (out->mode says which).  The process
 * must be single-threaded and root.  Descriptors opened before keep
 * pointing outside: the caller reopens the ones requests use
 * (export_reopen()).  Returns 0 with *out filled (sandbox_free()), or
 * -errno with a one-line reason in err; the process may be half-way in and
 * must exit then.
 */
int sandbox_enter(enum sandbox_mode mode, const struct sandbox_bind *binds, size_t n,
		  bool own_net, bool chroot_fallback, struct sandbox *out, char *err,
		  size_t errlen);

/* True when path (as a configuration names it) was bound into sb. */
bool sandbox_has(const struct sandbox *sb, const char *path);

void sandbox_free(struct sandbox *sb); /* NULL or empty: a no-op */

#endif
