/* The allow-list (seccomp.h): every system call the daemon makes once it
 * is set up (listeners bound, exports open, sandbox entered, privileges
 * dropped), in groups, each with the reason it is there.
 *
 * Derived from the calls the daemon made under strace -f while the
 * integration, faults, reload, access and multidevs suites ran against it
 * (and from reading the code paths they do not reach: SIGHUP with a
 * changed export, vsock listeners, exit), then checked by running every
 * suite with --seccomp kill: a call missing here kills the daemon with
 * SIGSYS, and the test that made it fails.  With --seccomp log the same
 * call fails with EPERM and is named in the log, which is how to find
 * what a new code path needs.
 *
 * Not here on purpose: execve and execveat (the daemon runs nothing),
 * fork and any clone that is not a thread, ptrace, mount, umount2,
 * pivot_root, chroot, setns, unshare of anything but CLONE_FS, setuid and
 * friends (requests switch with setfsuid/setfsgid only), kexec, bpf,
 * perf_event_open, keyctl, add_key, init_module and their kind, io_uring,
 * userfaultfd, process_vm_*, and sockets of any family but unix, inet,
 * inet6 and vsock (no netlink, no packet sockets).
 *
 * Sanitizers: an ASan/LSan build (meson -Db_sanitize) also allows what
 * their runtimes need at exit (LeakSanitizer stops the threads from a
 * tracer process: clone without CLONE_THREAD, ptrace, wait4); execve stays
 * refused, so their reports come unsymbolized (module+offset) from inside
 * the sandbox.  Valgrind runs the daemon with --seccomp none
 * (scripts/valgrind.sh says so): its core makes calls of its own.
 */
#include "server/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "server/log.h"

/* Allowed with any arguments. */
static const char *const allowed[] = {
	/* Memory and threads: malloc, pthreads (glibc's pthread_create tries
	 * clone3 first; see the rules below), thread exit, futex waits. */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "futex_waitv",
	"set_robust_list", "get_robust_list", "rseq", "set_tid_address", "exit", "exit_group",
	"sched_yield", "sched_getaffinity", "getrandom", "membarrier",
	/* Signals: libuv's signal handling (SIGHUP, SIGTERM, SIGINT, SIGUSR1),
	 * the log mode's SIGSYS handler, raise() and abort(). */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "rt_sigtimedwait",
	/* Time: log lines, timers, throttling, blocking locks' retries (the
	 * vDSO answers most; these are its fallbacks). */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	/* The event loop: epoll, its wake-ups (eventfd, pipes), timers. */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
	"pipe2", "poll", "ppoll", "select", "pselect6",
	/* Connections: accepting, reading and writing frames, the vsock peer's
	 * CID, shutting down; new listeners on SIGHUP without a sandbox. */
	"accept4", "accept", "read", "write", "readv", "writev", "recvfrom", "recvmsg", "sendto",
	"sendmsg", "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername", "bind",
	"listen", "connect",
	/* Descriptors. */
	"close", "close_range", "dup", "dup2", "dup3", "fcntl", "lseek", "prlimit64", "getrlimit",
	/* The request path (server/backend.c): opening beneath a fid
	 * (openat2, RESOLVE_BENEATH), reopening from file handles, reading
	 * and writing, directories, metadata, links, renames, xattrs, locks,
	 * syncs, statfs, and /proc/self/fd/N for the calls that take paths;
	 * a lone large read goes file -> pipe -> socket (splice). */
	"openat", "openat2", "open", "name_to_handle_at", "open_by_handle_at", "pread64",
	"pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "getdents64", "newfstatat", "fstat",
	"stat", "lstat", "statx", "fstatfs", "statfs", "readlink", "readlinkat", "access",
	"faccessat", "faccessat2", "mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat",
	"link", "linkat", "unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown", "utimensat",
	"futimesat", "utimes", "truncate", "ftruncate", "fallocate", "fsync", "fdatasync",
	"sync_file_range", "flock", "copy_file_range", "sendfile", "splice", "getxattr", "lgetxattr",
	"fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr",
	"flistxattr", "removexattr", "lremovexattr", "fremovexattr", "getcwd", "umask",
	/* Credentials per request (server/creds.c): fsuid, fsgid, no
	 * supplementary groups (the raw setgroups call), effective
	 * capabilities; and reading the daemon's own ids. */
	"setfsuid", "setfsgid", "setgroups", "capget", "capset", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "getpid", "gettid", "getppid",
	/* glibc asks the kernel's version (uname) and the memory size
	 * (sysinfo) on some paths. */
	"uname", "sysinfo",
};

static size_t nrules; /* rules added by the last build() */

/* One rule; counted. */
static int rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned nargs,
		const struct scmp_arg_cmp *args)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, nargs, args);
	nrules += !rc;
	return rc;
}

/* Threads only: pthread_create's clone carries CLONE_THREAD; a new
 * process (fork, vfork, posix_spawn) does not. */
static int allow_threads(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	int rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &thread);
	/* clone3's flags sit in memory a filter cannot read: ENOSYS makes
	 * glibc fall back to clone, which the rule above checks. */
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	return rc;
}

/* Sockets of the families listeners use (new ones on SIGHUP without a
 * sandbox; getaddrinfo and nscd's unix socket for user names): unix,
 * inet, inet6, vsock.  No netlink, no packet, no others. */
static int allow_sockets(scmp_filter_ctx ctx)
{
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6, AF_VSOCK};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		struct scmp_arg_cmp family = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0);
		int rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &family);
		if (rc)
			return rc;
	}
	return 0;
}

/* Workers unshare their file-system attributes (umask 0 of their own);
 * nothing else may be unshared.  Signals go to the daemon itself only
 * (raise, abort): never to another process. */
static int allow_own(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp fs = SCMP_A0(SCMP_CMP_EQ, CLONE_FS, 0);
	struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
	int rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unshare), 1, &fs);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self);
	if (!rc)
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self);
	/* ioctl: non-blocking and close-on-exec flags (libuv), isatty
	 * (stdio); nothing that reaches a device. */
	static const unsigned long ioctls[] = {FIONBIO, FIOCLEX, FIONCLEX, TCGETS};
	for (size_t i = 0; !rc && i < sizeof ioctls / sizeof ioctls[0]; i++) {
		struct scmp_arg_cmp req = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)ioctls[i], 0);
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &req);
	}
	return rc;
}

#ifdef NINEPD_SANITIZED
/* ASan, UBSan, LSan: LeakSanitizer's exit-time check runs a tracer
 * process that stops every thread (clone without CLONE_THREAD, ptrace,
 * wait4, prctl) and lists them with the old getdents; reports read
 * /proc/self/maps.  The tracer blocks every signal, so a refused call
 * kills it silently and the daemon spins at exit waiting for it. */
static const char *const sanitizer_allowed[] = {
	"clone", "ptrace", "wait4", "waitid", "prctl", "getdents", "sched_getparam",
	"sched_setaffinity", "getpgid", "tkill", "kill", "tgkill", "ioctl",
};
#endif

/* ---- log mode: refuse with EPERM, and say which call ---- */

#define NAMES_MAX 512
static const char *names[NAMES_MAX]; /* resolved before the filter is on */

static size_t put(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, unsigned long v, int width)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) || n < width);
	while (n && at < cap)
		buf[at++] = digits[--n];
	return at;
}

/* Async-signal-safe: formats by hand, writes once (one line, as log.c's). */
static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	int saved = errno;
	int nr = si->si_syscall;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned long s = (unsigned long)ts.tv_sec % 86400;
	char line[256];
	size_t n = 0, cap = sizeof line - 1;
	n = put_num(line, n, cap, s / 3600, 2);
	n = put(line, n, cap, ":");
	n = put_num(line, n, cap, s / 60 % 60, 2);
	n = put(line, n, cap, ":");
	n = put_num(line, n, cap, s % 60, 2);
	n = put(line, n, cap, ".");
	n = put_num(line, n, cap, (unsigned long)ts.tv_nsec / 1000000, 3);
	n = put(line, n, cap, " ninepd error: seccomp: system call ");
	n = put(line, n, cap, nr >= 0 && nr < NAMES_MAX && names[nr] ? names[nr] : "?");
	n = put(line, n, cap, " (");
	n = put_num(line, n, cap, (unsigned long)nr, 1);
	n = put(line, n, cap, ") refused with EPERM: not on the allow-list (server/seccomp.c)");
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	ucontext_t *uc = ucv;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#endif
	errno = saved;
}

static int install_log_handler(char *err, size_t errlen)
{
#if !defined(__x86_64__) && !defined(__aarch64__)
	snprintf(err, errlen, "--seccomp log is not implemented on this architecture");
	return -ENOTSUP;
#endif
	for (int nr = 0; nr < NAMES_MAX; nr++)
		if (!names[nr])
			names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL)) {
		snprintf(err, errlen, "sigaction(SIGSYS): %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- the filter ---- */

static int build(scmp_filter_ctx ctx)
{
	int rc = 0;
	nrules = 0;
	for (size_t i = 0; !rc && i < sizeof allowed / sizeof allowed[0]; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr != __NR_SCMP_ERROR) /* else not a call of this architecture */
			rc = rule(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
	}
#ifdef NINEPD_SANITIZED
	for (size_t i = 0; !rc && i < sizeof sanitizer_allowed / sizeof sanitizer_allowed[0]; i++) {
		int nr = seccomp_syscall_resolve_name(sanitizer_allowed[i]);
		if (nr != __NR_SCMP_ERROR)
			rc = rule(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
	}
#endif
	if (!rc)
		rc = allow_threads(ctx);
	if (!rc)
		rc = allow_sockets(ctx);
	if (!rc)
		rc = allow_own(ctx);
	return rc;
}

int syscall_filter_install(enum seccomp_mode mode, char *err, size_t errlen)
{
	if (mode == SECCOMP_FILTER_NONE)
		return 0;
	int rc;
	if (mode == SECCOMP_FILTER_LOG && (rc = install_log_handler(err, errlen)))
		return rc;
	scmp_filter_ctx ctx =
		seccomp_init(mode == SECCOMP_FILTER_LOG ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	rc = build(ctx);
	if (rc)
		snprintf(err, errlen, "building the allow-list: %s", strerror(-rc));
	/* A binary tree of the call numbers rather than a list: about eight
	 * comparisons per call instead of up to one per rule (libseccomp 2.5). */
	if (!rc)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* Every thread, libuv's and any other, not only this one. */
	if (!rc && (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)))
		snprintf(err, errlen, "seccomp TSYNC: %s", strerror(-rc));
	if (!rc && (rc = seccomp_load(ctx)))
		snprintf(err, errlen, "loading the seccomp filter: %s", strerror(-rc));
	seccomp_release(ctx);
	if (!rc)
		log_info("seccomp: %zu rules allow the daemon's system calls; any other %s", nrules,
			 mode == SECCOMP_FILTER_LOG ? "fails with EPERM and is logged"
						    : "kills it (SIGSYS)");
	return rc;
}
