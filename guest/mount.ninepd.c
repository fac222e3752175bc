/*
 * mount.ninepd: mount a 9P server reached through a vsock socket or a
 * virtio-serial port.
 *
 *   mount.ninepd vsock:CID:PORT MOUNTPOINT [-fnsv] [-o OPTIONS]
 *   mount.ninepd vsock:PORT MOUNTPOINT ...     (CID 2: the host)
 *   mount.ninepd PORT_NAME MOUNTPOINT ...      (a virtio-serial port)
 *
 * Installed as /sbin/mount.ninepd it is also what "mount -t ninepd SOURCE
 * MOUNTPOINT -o OPTIONS" runs: util-linux and busybox call it with these
 * arguments in this order (see docs/guest.md for what each passes).
 *
 * vsock: the kernel's 9p client takes the connected socket itself as
 * trans=fd (p9_fd_open only needs a file it can read and write), so
 * mount.ninepd connects, mounts, closes its descriptor and exits: the
 * mount holds the only reference, and no process stays behind.
 *
 * A virtio-serial port is given to the kernel as trans=fd too.  A kernel
 * whose virtio_console has read_iter and write_iter can use the port itself;
 * Linux 6.1 cannot, refuses the mount with EINVAL and logs "kernel write
 * not supported for file /vport0p1" before a single byte has gone out.  So
 * the port is tried first, and when the kernel refuses it the kernel gets
 * one end of a unix socketpair instead while a relay process copies bytes
 * between the other end and the port.  The relay holds no reference to the
 * kernel's end: it sees end-of-file once the file system is unmounted and
 * exits; it also exits when the host side of the port goes away.
 *
 * OPTIONS are those of mount(8) for 9p.  Generic flags (ro, nosuid, ...)
 * become mount flags, options meant for mount(8) itself (_netdev, nofail,
 * x-...) are dropped, connect_timeout=SECONDS is this program's own, and the
 * rest goes to the 9p driver after "trans=fd,rfdno=N,wfdno=N".
 *
 * Nothing waits for ever: the connection (vsock) or the host side of the
 * port must be there, and the server must answer each request of the mount,
 * within connect_timeout seconds (default 10; 0 waits for ever).  Every
 * failure is one line on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2 */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define PROG "mount.ninepd"
#define DEFAULT_TIMEOUT 10
/* The exit status of the relay (or, for vsock, of the watchdog) when the
 * server left a request of the mount unanswered for connect_timeout
 * seconds. */
#define SERVER_TIMED_OUT 3
/* The relay's buffer for each direction: the biggest message the Linux
 * client sends over trans=fd (msize 1 MiB). */
#define RELAY_CHUNK ((size_t)1 << 20)
/* virtio_console hands out one receive buffer, a page, per read(2). */
#define PORT_PAGE 4096

struct options {
	unsigned long flags; /* MS_* */
	char data[4096];     /* options for the 9p driver, each after a comma */
	unsigned timeout;    /* seconds, 0 for ever */
	bool fake;           /* -f: check everything, mount nothing */
	bool verbose;        /* -v: say how the connection was given to the kernel */
	bool has_version;    /* a version= option was given */
};

static int usage(void)
{
	fprintf(stderr, "usage: " PROG " vsock:CID:PORT|PORT_NAME MOUNTPOINT [-fnsv] [-o OPTIONS]\n");
	return 2;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a short sysfs attribute into buf without its newline; 0 or -errno. */
static int read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = n == -1 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Finds the device node of the port called name: the udev link first, then
 * the names in sysfs (a small guest has no udev).  On failure, names gets
 * the ports there are, for the error message.
 */
static int find_port(const char *name, char *dev, size_t len, char *names, size_t nlen)
{
	names[0] = '\0';
	snprintf(dev, len, "/dev/virtio-ports/%s", name);
	if (access(dev, F_OK) == 0)
		return 0;

	DIR *d = opendir("/sys/class/virtio-ports");
	if (d == NULL)
		return -ENOENT;
	struct dirent *e;
	int ret = -ENOENT;
	while (ret != 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], value[256];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		if (read_attr(path, value, sizeof(value)) != 0 || value[0] == '\0')
			continue;
		if (strcmp(value, name) == 0) {
			snprintf(dev, len, "/dev/%s", e->d_name);
			ret = 0;
		} else {
			size_t used = strlen(names);
			snprintf(names + used, nlen - used, "%s%s", used ? ", " : "", value);
		}
	}
	closedir(d);
	return ret;
}

/*
 * Waits until something is connected to the host side of the port: until
 * then virtio_console reports POLLHUP.  QEMU connects its chardev when it
 * starts (or, with reconnect=N, whenever the server comes back).
 */
static bool wait_host(int port, unsigned timeout)
{
	long long deadline = now_ms() + (long long)timeout * 1000;

	for (;;) {
		struct pollfd p = { .fd = port, .events = POLLOUT };
		if (poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP))
			return true;
		if (timeout && now_ms() >= deadline)
			return false;
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	}
}

/* ---- options ---- */

struct flag_name {
	const char *name;
	unsigned long set, clear;
};

static const struct flag_name flag_names[] = {
	{ "ro", MS_RDONLY, 0 },         { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },     { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },       { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },     { "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },  { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },   { "noatime", MS_NOATIME, 0 },
	{ "nodiratime", MS_NODIRATIME, 0 }, { "relatime", MS_RELATIME, 0 },
	{ "strictatime", MS_STRICTATIME, 0 }, { "defaults", 0, 0 },
};

/* Options for mount(8) itself, which util-linux passes on to helpers. */
static const char *const mount8_only[] = {
	"_netdev", "nofail", "auto", "noauto", "user", "nouser", "users", "owner", "group",
};

static bool is_mount8_only(const char *o)
{
	if (strncmp(o, "x-", 2) == 0 || strncmp(o, "comment=", 8) == 0)
		return true;
	for (size_t i = 0; i < sizeof(mount8_only) / sizeof(mount8_only[0]); i++)
		if (strcmp(o, mount8_only[i]) == 0)
			return true;
	return false;
}

static bool is_flag(const char *o, unsigned long *flags)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (strcmp(o, flag_names[i].name) == 0) {
			*flags = (*flags | flag_names[i].set) & ~flag_names[i].clear;
			return true;
		}
	}
	return false;
}

/* Sorts one -o list into o; false (after one line on stderr) if it is bad. */
static bool parse_options(char *list, struct options *o)
{
	for (char *save = NULL, *opt = strtok_r(list, ",", &save); opt != NULL;
	     opt = strtok_r(NULL, ",", &save)) {
		if (is_flag(opt, &o->flags) || is_mount8_only(opt))
			continue;
		if (strncmp(opt, "connect_timeout=", 16) == 0) {
			char *end;
			unsigned long t = strtoul(opt + 16, &end, 10);
			if (end == opt + 16 || *end != '\0' || t > 86400) {
				fprintf(stderr, PROG ": %s: want whole seconds, 0 to 86400\n", opt);
				return false;
			}
			o->timeout = (unsigned)t;
			continue;
		}
		if (strncmp(opt, "version=", 8) == 0)
			o->has_version = true;
		if (strncmp(opt, "trans=", 6) == 0 || strncmp(opt, "rfdno=", 6) == 0 ||
		    strncmp(opt, "wfdno=", 6) == 0) {
			fprintf(stderr, PROG ": %s: " PROG " sets the transport itself\n", opt);
			return false;
		}
		size_t used = strlen(o->data);
		if (used + 1 + strlen(opt) >= sizeof(o->data)) {
			fprintf(stderr, PROG ": options too long\n");
			return false;
		}
		snprintf(o->data + used, sizeof(o->data) - used, ",%s", opt);
	}
	return true;
}

/* ---- the kernel's reasons ---- */

/*
 * Reads the kernel log records written since kmsg was last read into why
 * ("; " between them): those that mention 9p, and the one that says the
 * kernel cannot write to the port (its node is called base, e.g. "/vport0p1").
 */
static void kernel_says(int kmsg, const char *base, char *why, size_t len)
{
	char rec[1024];
	ssize_t n;

	why[0] = '\0';
	if (kmsg == -1)
		return;
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) != 0) {
		if (n == -1) {
			if (errno == EPIPE) /* records were overwritten: go on */
				continue;
			break;
		}
		rec[n] = '\0';
		/* A record is "prio,seq,usec,flags;text\n" then key=value lines. */
		char *text = strchr(rec, ';');
		if (text == NULL)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		if (strstr(text, "9p") || strstr(text, "9P") ||
		    (base[0] && strstr(text, "not supported for file") && strstr(text, base))) {
			size_t used = strlen(why);
			snprintf(why + used, len - used, "%s%s", used ? "; " : "", text);
		}
	}
}

static void mount_failed(const char *name, const char *target, int err, const char *why)
{
	fprintf(stderr, PROG ": mount %s on %s: %s%s%s%s\n", name, target, strerror(err),
		why[0] ? " (kernel: " : "", why, why[0] ? ")" : "");
}

/* ---- the port itself ---- */

/*
 * Mounts with the port itself as trans=fd: 0 mounted, 1 refused with EINVAL
 * (why says what the kernel logged), -1 failed otherwise (and said so).
 *
 * Linux 6.1 refuses the port in its first write, before a byte has gone
 * out, and logs "kernel write not supported" (rate-limited, so not always).
 * Other EINVALs (a bad option) are also taken as a refusal: the relay then
 * fails the same way and reports it.  Either way the server sees nothing or
 * a complete exchange, and the relay's Tversion starts a new session.
 */
static int mount_direct(int port, const char *base, const char *name, const char *target,
			const struct options *o, int kmsg, char *why, size_t len)
{
	char data[sizeof(o->data) + 64];

	snprintf(data, sizeof(data), "trans=fd,rfdno=%d,wfdno=%d%s", port, port, o->data);
	if (mount(name, target, "9p", o->flags, data) == 0)
		return 0;
	int err = errno;
	kernel_says(kmsg, base, why, len);
	if (err == EINVAL)
		return 1;
	mount_failed(name, target, err, why);
	return -1;
}

/* ---- the relay ---- */

/* One side of the relay: bytes read from one descriptor and not yet all
 * written to the other. */
struct pending {
	char *buf;
	size_t len, off;
};

/* Writes what is pending until done or the descriptor would block; false if
 * the other side is gone. */
static bool flush(int fd, struct pending *p)
{
	while (p->off < p->len) {
		ssize_t n = write(fd, p->buf + p->off, p->len - p->off);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR;
		p->off += (size_t)n;
	}
	p->len = p->off = 0;
	return true;
}

/* Stores what a nonblocking read returned; false at end-of-file or error. */
static bool got(struct pending *p, ssize_t n)
{
	if (n == -1)
		return errno == EAGAIN || errno == EINTR;
	p->len = (size_t)n;
	p->off = 0;
	return n > 0;
}

/*
 * Copies bytes both ways between the port and the socket until either side
 * ends; returns the process's exit status.  Both are nonblocking.  From the
 * host, virtio_console gives at most one page, one receive buffer, per
 * read(2), so a readv(2) of a page per iovec takes every page waiting (it
 * stops at the first empty one) for a single write(2) to the socket: 1.5
 * times the sequential read throughput of a read(2) per page.  To the host,
 * write(2) takes up to 32 KiB per call, which QEMU passes on as one write
 * to the server's socket.  splice(2) through a pipe was tried instead and
 * was slower (sequential writes by 14 %, 4 KiB writes by 30 %): QEMU writes
 * each page of a spliced buffer to the socket on its own.  docs/guest.md
 * has the measurements.
 *
 * While ctl is open (the parent is inside mount(2)) a request that the
 * server leaves unanswered for timeout seconds ends the relay, which makes
 * the kernel's mount fail instead of waiting for ever.
 */
static int relay(int port, int sock, int ctl, unsigned timeout)
{
	static char from_host[RELAY_CHUNK], to_host[RELAY_CHUNK];
	static struct iovec pages[RELAY_CHUNK / PORT_PAGE];
	struct pending in = { .buf = from_host }, out = { .buf = to_host };
	bool awaiting = false; /* the kernel sent more than the server answered */
	long long since = 0;

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		pages[i] = (struct iovec){ .iov_base = from_host + i * PORT_PAGE, .iov_len = PORT_PAGE };
	/* The kernel leaves the port nonblocking when it refuses it; the
	 * readv needs that anyway, or it would wait for a page to come. */
	fcntl(port, F_SETFL, fcntl(port, F_GETFL) | O_NONBLOCK);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = port, .events = (in.len ? 0 : POLLIN) | (out.len ? POLLOUT : 0) },
			{ .fd = sock, .events = (out.len ? 0 : POLLIN) | (in.len ? POLLOUT : 0) },
			{ .fd = ctl, .events = POLLIN },
		};
		int wait = -1;
		if (ctl != -1 && timeout && awaiting) {
			long long left = since + (long long)timeout * 1000 - now_ms();
			if (left <= 0)
				return SERVER_TIMED_OUT;
			wait = left > INT_MAX ? INT_MAX : (int)left;
		}
		if (poll(p, 3, wait) == -1 && errno != EINTR)
			return 1;
		if (p[2].revents) { /* the parent is out of mount(2) */
			close(ctl);
			ctl = -1;
		}
		if (in.len == 0 && p[0].revents) {
			if (!got(&in, readv(port, pages, (int)(sizeof(pages) / sizeof(pages[0])))))
				return 0;
			if (in.len)
				awaiting = false;
		}
		if (in.len && !flush(sock, &in))
			return 0;
		if (out.len == 0 && p[1].revents) {
			if (!got(&out, read(sock, to_host, sizeof(to_host))))
				return 0;
			if (out.len && !awaiting) {
				awaiting = true;
				since = now_ms();
			}
		}
		if (out.len && !flush(port, &out))
			return 0;
	}
}

/* Mounts through a socketpair and a relay process: 0 or 1 (after saying why). */
static int mount_relayed(int port, const char *name, const char *target, const struct options *o,
			 int kmsg)
{
	int sv[2], ctl[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe2(ctl, O_CLOEXEC) == -1) {
		fprintf(stderr, PROG ": socketpair: %s\n", strerror(errno));
		return 1;
	}
	pid_t child = fork();
	if (child == -1) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		/* No reference to the kernel's end, or the relay would never see
		 * end-of-file after the unmount. */
		close(sv[0]);
		close(ctl[1]);
		if (kmsg != -1)
			close(kmsg);
		/* Nor the caller's output: a caller reading it to end-of-file,
		 * like a shell's $(...), would wait as long as the mount lasts. */
		int null = open("/dev/null", O_RDWR);
		if (null != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		setsid();
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		_exit(relay(port, sv[1], ctl[0], o->timeout));
	}
	close(port);
	close(sv[1]);
	close(ctl[0]);

	char data[sizeof(o->data) + 64];
	snprintf(data, sizeof(data), "trans=fd,rfdno=%d,wfdno=%d%s", sv[0], sv[0], o->data);
	int rc = mount(name, target, "9p", o->flags, data);
	int err = errno;
	close(ctl[1]);
	if (rc == 0) {
		if (o->verbose)
			fprintf(stderr, PROG ": mounted %s on %s through a relay (pid %d)\n", name,
				target, (int)child);
		return 0;
	}

	int status = 0;
	char why[1024];
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SERVER_TIMED_OUT) {
		fprintf(stderr, PROG ": mount %s on %s: no answer from the server within %u s\n", name,
			target, o->timeout);
		return 1;
	}
	kernel_says(kmsg, "", why, sizeof(why));
	mount_failed(name, target, err, why);
	return 1;
}

/* ---- vsock ---- */

/* A decimal number of at most max, digits only, into *out; false if s is
 * anything else. */
static bool parse_u32(const char *s, size_t len, unsigned long max, unsigned *out)
{
	unsigned long v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

/* "vsock:CID:PORT" or "vsock:PORT" (CID 2, the host) after "vsock:";
 * false if it is neither. */
static bool parse_vsock(const char *spec, unsigned *cid, unsigned *port)
{
	const char *colon = strchr(spec, ':');

	*cid = VMADDR_CID_HOST;
	if (colon && !parse_u32(spec, (size_t)(colon - spec), 0xfffffffeUL, cid))
		return false;
	const char *p = colon ? colon + 1 : spec;
	return parse_u32(p, strlen(p), 0xfffffffeUL, port) && *port != 0;
}

/* What to do about a failed socket(2) or connect(2) to cid:port. */
static void vsock_failed(const char *spec, unsigned cid, unsigned port, int err, unsigned timeout)
{
	switch (err) {
	case EAFNOSUPPORT:
		fprintf(stderr, PROG ": %s: this kernel has no vsock (load the vsock module and "
				"its transport: vmw_vsock_virtio_transport, or vsock_loopback for "
				"CID 1)\n", spec);
		break;
	case ENODEV:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EADDRNOTAVAIL:
		fprintf(stderr, PROG ": %s: no vsock transport reaches CID %u (%s; load "
				"vmw_vsock_virtio_transport for the host, CID 2, or vsock_loopback "
				"for CID 1)\n", spec, cid, strerror(err));
		break;
	case ECONNREFUSED:
	case ECONNRESET:
		fprintf(stderr, PROG ": %s: nothing listens on vsock port %u of CID %u (%s; is "
				"ninepd running with -l vsock:%u, or with -l unix:<uds_path>_%u "
				"under Firecracker or Cloud Hypervisor?)\n", spec, port, cid,
			strerror(err), port, port);
		break;
	case ETIMEDOUT:
		if (cid == VMADDR_CID_LOCAL)
			/* Without vsock_loopback, CID 1 goes to the host's transport. */
			fprintf(stderr, PROG ": %s: no answer from CID 1 within %u s (CID 1 needs "
					"the vsock_loopback module)\n", spec, timeout);
		else
			fprintf(stderr, PROG ": %s: no answer from CID %u within %u s (is there a "
					"CID %u, and does it run ninepd?)\n", spec, cid, timeout, cid);
		break;
	default:
		fprintf(stderr, PROG ": %s: connect: %s\n", spec, strerror(err));
	}
}

/* Connects to cid:port within timeout seconds (0: for ever); the socket,
 * or -1 after one line on stderr.  vsock has a connect timeout of its own
 * (2 s by default), which is set to ours. */
static int vsock_connect(const char *spec, unsigned cid, unsigned port, unsigned timeout)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		vsock_failed(spec, cid, port, errno, timeout);
		return -1;
	}
	/* "For ever" is ten years: the kernel refuses a timeout it cannot
	 * count in jiffies. */
	struct timeval tv = { .tv_sec = timeout ? (time_t)timeout : 10L * 365 * 86400 };
	if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) == -1) {
		fprintf(stderr, PROG ": %s: setting the connect timeout: %s\n", spec, strerror(errno));
		close(fd);
		return -1;
	}
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&svm, sizeof(svm));
	while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		vsock_failed(spec, cid, port, errno, timeout);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The mount's watchdog: a child that shuts the socket down when the server
 * has not let mount(2) return within timeout seconds, which ends the
 * kernel's wait (it reads end-of-file) instead of leaving the mount hanging
 * on a server that accepted and never answers.  mount(2) waits killably,
 * so no signal to this process could end it.  The child ends once ctl
 * closes; returns its pid, or -1 (then nothing bounds the mount).
 */
static pid_t start_watchdog(int sock, int *ctl_out, unsigned timeout)
{
	int ctl[2];

	*ctl_out = -1;
	if (timeout == 0 || pipe2(ctl, O_CLOEXEC) == -1)
		return -1;
	pid_t child = fork();
	if (child == -1) {
		close(ctl[0]);
		close(ctl[1]);
		return -1;
	}
	if (child == 0) {
		close(ctl[1]);
		struct pollfd p = { .fd = ctl[0], .events = POLLIN };
		int n;
		do
			n = poll(&p, 1, (int)(timeout > INT_MAX / 1000 ? INT_MAX : timeout * 1000));
		while (n == -1 && errno == EINTR);
		if (n == 0) {
			shutdown(sock, SHUT_RDWR);
			_exit(SERVER_TIMED_OUT);
		}
		_exit(0);
	}
	close(ctl[0]);
	*ctl_out = ctl[1];
	return child;
}

/* The CID a server at cid sees this guest as: 1 over loopback, else this
 * guest's own (getsockname says VMADDR_CID_ANY for a socket bound by
 * connect, so /dev/vsock is asked). */
static unsigned peer_cid_seen_by(unsigned cid)
{
	unsigned me = VMADDR_CID_ANY;

	if (cid == VMADDR_CID_LOCAL)
		return cid;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &me) == -1)
			me = VMADDR_CID_ANY;
		close(fd);
	}
	return me;
}

/* Mounts the 9P server at vsock spec ("CID:PORT" or "PORT" after
 * "vsock:"); the process's exit status. */
static int mount_vsock(const char *source, const char *target, const struct options *o)
{
	unsigned cid, port;

	if (!parse_vsock(source + 6, &cid, &port)) {
		fprintf(stderr, PROG ": bad vsock address '%s' (accepted: vsock:CID:PORT or "
				"vsock:PORT for CID 2; CID 0 to 4294967294, PORT 1 to 4294967294)\n",
			source);
		return 1;
	}
	int sock = vsock_connect(source, cid, port, o->timeout);
	if (sock == -1)
		return 1;
	if (o->fake) {
		close(sock);
		return 0;
	}
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg != -1)
		lseek(kmsg, 0, SEEK_END);
	/* ninepd speaks 9P2000.L only: say so to kernels whose default is
	 * another dialect (6.1's is 9P2000.L). */
	char data[sizeof(o->data) + 80];
	snprintf(data, sizeof(data), "trans=fd,rfdno=%d,wfdno=%d%s%s", sock, sock,
		 o->has_version ? "" : ",version=9p2000.L", o->data);
	int ctl;
	pid_t watchdog = start_watchdog(sock, &ctl, o->timeout);
	int rc = mount(source, target, "9p", o->flags, data);
	int err = errno;
	bool timed_out = false;
	if (watchdog > 0) {
		int status = 0;
		close(ctl);
		waitpid(watchdog, &status, 0);
		timed_out = WIFEXITED(status) && WEXITSTATUS(status) == SERVER_TIMED_OUT;
	}
	/* A server that hung up before the mount was done: what ninepd does to
	 * a peer its allow list refuses.  The kernel's error for it depends on
	 * timing (EPIPE if it had not written yet, EFAULT if it read the end
	 * of the connection instead of Rversion), the socket's end does not. */
	char byte;
	bool hung_up = rc == -1 && recv(sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
	/* The kernel holds the socket now (or mount failed): either way this
	 * descriptor goes, and the umount will close the connection. */
	close(sock);
	if (timed_out) {
		/* Cut just as the last reply came: the mount exists, its
		 * connection does not. */
		if (rc == 0)
			umount2(target, MNT_DETACH);
		fprintf(stderr, PROG ": mount %s on %s: no answer from the server within %u s\n",
			source, target, o->timeout);
		return 1;
	}
	if (rc == 0) {
		if (o->verbose)
			fprintf(stderr, PROG ": mounted %s on %s, the vsock socket itself as "
					"trans=fd (no relay)\n", source, target);
		return 0;
	}
	if (hung_up) {
		unsigned me = peer_cid_seen_by(cid);
		fprintf(stderr, PROG ": mount %s on %s: the server closed the connection before "
				"answering: is CID %u in the listener's allow=?  ninepd logs "
				"\"refusing peer CID %u\"\n", source, target, me, me);
		return 1;
	}
	char why[1024];
	kernel_says(kmsg, "", why, sizeof(why));
	mount_failed(source, target, err, why);
	return 1;
}

int main(int argc, char **argv)
{
	struct options o = { .timeout = DEFAULT_TIMEOUT };
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			if (npos == 2)
				return usage();
			pos[npos++] = a;
		} else if (a[1] == 'o' || a[1] == 't') {
			/* -o LIST / -oLIST; -t TYPE (util-linux, for type.subtype) */
			char *arg = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : NULL;
			if (arg == NULL)
				return usage();
			if (a[1] == 'o' && !parse_options(arg, &o))
				return 1;
		} else if (strspn(a + 1, "fnsv") == strlen(a + 1)) {
			/* -n (no mtab) and -s (sloppy) change nothing here. */
			o.fake |= strchr(a, 'f') != NULL;
			o.verbose |= strchr(a, 'v') != NULL;
		} else {
			return usage();
		}
	}
	if (npos != 2)
		return usage();
	const char *name = pos[0], *target = pos[1];
	if (strncmp(name, "vsock:", 6) == 0)
		return mount_vsock(name, target, &o);

	char dev[PATH_MAX], names[512];
	if (find_port(name, dev, sizeof(dev), names, sizeof(names)) != 0) {
		if (names[0])
			fprintf(stderr, PROG ": no virtio port named '%s' (there are: %s)\n", name, names);
		else
			fprintf(stderr, PROG ": no virtio port named '%s' (this guest has none)\n", name);
		return 1;
	}
	int port = open(dev, O_RDWR | O_CLOEXEC);
	if (port == -1) {
		if (errno == EBUSY)
			fprintf(stderr, PROG ": port '%s' (%s) is busy: mounted already, or open in "
				"another program\n", name, dev);
		else
			fprintf(stderr, PROG ": open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (!wait_host(port, o.timeout)) {
		fprintf(stderr, PROG ": port '%s': nothing connected on the host side within %u s "
			"(is the server running, and QEMU's -chardev connected to it?)\n", name, o.timeout);
		return 1;
	}
	if (o.fake)
		return 0;

	/* The node the kernel names when it refuses the port, e.g. "/vport0p1". */
	char real[PATH_MAX];
	const char *base = realpath(dev, real) ? strrchr(real, '/') : strrchr(dev, '/');

	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg != -1)
		lseek(kmsg, 0, SEEK_END);
	char why[1024];
	int rc = mount_direct(port, base, name, target, &o, kmsg, why, sizeof(why));
	if (rc == 0) {
		if (o.verbose)
			fprintf(stderr, PROG ": mounted %s on %s on the port itself\n", name, target);
		return 0;
	}
	if (rc < 0)
		return 1;
	if (o.verbose)
		fprintf(stderr, PROG ": the kernel refused %s as trans=fd (%s); relaying\n", dev,
			why[0] ? why : strerror(EINVAL));
	return mount_relayed(port, name, target, &o, kmsg);
}
