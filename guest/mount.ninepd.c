/*
 * mount.ninepd: mount a 9P server reached through a virtio-serial port.
 *
 *   mount.ninepd PORT_NAME MOUNTPOINT [-o OPTIONS]
 *
 * Linux's trans=fd needs files with read_iter/write_iter, which the
 * virtio-console driver does not have, so the port cannot be given to the
 * kernel directly.  Instead the kernel gets one end of a unix socketpair and
 * a relay process copies bytes between the other end and the port.  The
 * relay holds no reference to the kernel's end, so it sees end-of-file when
 * the file system is unmounted and exits; it also exits when the host closes
 * the port.
 *
 * OPTIONS are those of mount(8) for 9p: the generic flags (ro, nosuid, ...)
 * become mount flags and the rest goes to the 9p driver, after
 * "trans=fd,rfdno=N,wfdno=N,".  On failure a single line names what went
 * wrong, followed by the kernel's own messages about it when it left any.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "mount.ninepd"
/* Larger than the biggest msize the Linux client offers over trans=fd (1 MiB). */
#define RELAY_BUF ((size_t)1 << 20)

static int usage(void)
{
	fprintf(stderr, "usage: " PROG " PORT_NAME MOUNTPOINT [-o OPTIONS]\n");
	return 2;
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
 * Finds the device node of the port called name, trying the udev link
 * first and then the names in sysfs (there is no udev in a small guest).
 */
static int find_port(const char *name, char *dev, size_t len)
{
	snprintf(dev, len, "/dev/virtio-ports/%s", name);
	if (access(dev, F_OK) == 0)
		return 0;

	DIR *d = opendir("/sys/class/virtio-ports");
	if (d == NULL)
		return -ENOENT;
	struct dirent *e;
	int ret = -ENOENT;
	while (ret != 0 && (e = readdir(d)) != NULL) {
		char path[512], value[256];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		if (read_attr(path, value, sizeof(value)) == 0 && strcmp(value, name) == 0) {
			snprintf(dev, len, "/dev/%s", e->d_name);
			ret = 0;
		}
	}
	closedir(d);
	return ret;
}

/* Writes all of buf; false if the peer is gone. */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Copies bytes both ways between the port and the socket until either side
 * reaches end-of-file or fails.  Writes block: the kernel's side of the
 * socket is drained by its own worker and the server drains the port, so a
 * blocked write always ends.
 */
static void relay(int port, int sock)
{
	char *buf = malloc(RELAY_BUF);
	if (buf == NULL)
		return;
	struct pollfd fds[2] = { { .fd = port, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i].revents == 0)
				continue;
			ssize_t n = read(fds[i].fd, buf, RELAY_BUF);
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0 || !write_all(fds[1 - i].fd, buf, (size_t)n))
				goto out;
		}
	}
out:
	free(buf);
}

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

/* Splits opts into mount flags and the 9p driver's options (appended to data). */
static void split_options(char *opts, unsigned long *flags, char *data, size_t len)
{
	for (char *save = NULL, *o = strtok_r(opts, ",", &save); o != NULL;
	     o = strtok_r(NULL, ",", &save)) {
		bool generic = false;

		for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
			if (strcmp(o, flag_names[i].name) == 0) {
				*flags = (*flags | flag_names[i].set) & ~flag_names[i].clear;
				generic = true;
			}
		}
		if (!generic) {
			size_t used = strlen(data);
			snprintf(data + used, len - used, ",%s", o);
		}
	}
}

/* Prints the kernel log records written since kmsg was opened at its end. */
static void print_kernel_reason(int kmsg)
{
	char rec[1024];
	ssize_t n;

	if (kmsg == -1)
		return;
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0) {
		rec[n] = '\0';
		/* A record is "prio,seq,usec,flags;text\n" followed by key=value lines. */
		char *text = strchr(rec, ';');
		if (text == NULL)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		fprintf(stderr, PROG ": kernel: %s\n", text);
	}
}

int main(int argc, char **argv)
{
	char *opts = NULL;
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			opts = argv[++i];
		else if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2] != '\0')
			opts = argv[i] + 2;
		else if (argv[i][0] == '-' || npos == 2)
			return usage();
		else
			pos[npos++] = argv[i];
	}
	if (npos != 2)
		return usage();
	const char *name = pos[0], *target = pos[1];

	char dev[512];
	if (find_port(name, dev, sizeof(dev)) != 0) {
		fprintf(stderr, PROG ": no virtio port named '%s'\n", name);
		return 1;
	}
	int port = open(dev, O_RDWR | O_CLOEXEC);
	if (port == -1) {
		fprintf(stderr, PROG ": open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		fprintf(stderr, PROG ": socketpair: %s\n", strerror(errno));
		return 1;
	}

	pid_t child = fork();
	if (child == -1) {
		fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		/* The relay must hold no reference to the kernel's end, or it
		 * would never see end-of-file after the unmount. */
		close(sv[0]);
		/* Nor may it keep the caller's output open: a caller reading it
		 * to end-of-file, like a shell's $(...), would wait forever. */
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
		relay(port, sv[1]);
		_exit(0);
	}
	close(port);
	close(sv[1]);

	unsigned long flags = 0;
	char data[4096];
	snprintf(data, sizeof(data), "trans=fd,rfdno=%d,wfdno=%d", sv[0], sv[0]);
	if (opts != NULL) {
		char *copy = strdup(opts);
		if (copy == NULL)
			return 1;
		split_options(copy, &flags, data, sizeof(data));
		free(copy);
	}

	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg != -1)
		lseek(kmsg, 0, SEEK_END);
	if (mount(name, target, "9p", flags, data) == -1) {
		int err = errno;

		fprintf(stderr, PROG ": mount %s on %s: %s\n", name, target, strerror(err));
		print_kernel_reason(kmsg);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 1;
	}
	return 0;
}
