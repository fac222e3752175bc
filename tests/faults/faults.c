/* Support for the fault tests; see faults.h. */
#include "faults.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

long fault_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void fault_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void child_setup(const struct fault_spawn *o, int logfd, pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int devnull = open("/dev/null", O_RDONLY);
	dup2(o->in_fd >= 0 ? o->in_fd : devnull, 0);
	dup2(o->out_fd >= 0 ? o->out_fd : logfd, 1);
	dup2(logfd, 2);
	int keep = 3;
	if (o->listen_fd >= 0) {
		if (o->listen_fd != 3)
			dup2(o->listen_fd, 3);
		fcntl(3, F_SETFD, 0);
		keep = 4;
		/* LISTEN_PID names the process that is meant to take the fds:
		 * this one, which keeps its pid across exec. */
		char pid[32];
		snprintf(pid, sizeof(pid), "%ld", (long)(o->listen_pid ? o->listen_pid : getpid()));
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
	}
	closefrom(keep);
	if (o->nofile > 0) {
		struct rlimit rl = {.rlim_cur = o->nofile, .rlim_max = o->nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			dprintf(2, "fault_spawn: setrlimit: %s\n", strerror(errno));
			_exit(127);
		}
	}
}

int fault_spawn(struct np_daemon *d, const char *const argv[], const struct fault_spawn *o)
{
	const char *bin = getenv("NINEPD");
	memset(d, 0, sizeof(*d));
	d->stdio_fd = -1;
	if (!bin)
		return -ENOENT;
	if (o->wait_addr)
		snprintf(d->addr, sizeof(d->addr), "%s", o->wait_addr);
	snprintf(d->log_path, sizeof(d->log_path), "/tmp/ninepd-log-XXXXXX");
	int logfd = mkstemp(d->log_path);
	if (logfd < 0)
		return -errno;
	size_t argc = 0;
	while (argv[argc])
		argc++;
	const char **full = calloc(argc + 2, sizeof(*full));
	if (!full) {
		close(logfd);
		return -ENOMEM;
	}
	full[0] = bin;
	memcpy(full + 1, argv, argc * sizeof(*full));

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		child_setup(o, logfd, parent);
		execv(bin, (char *const *)full);
		dprintf(2, "fault_spawn: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	int err = pid < 0 ? -errno : 0;
	free(full);
	close(logfd);
	if (err < 0)
		return err;
	d->pid = pid;
	if (!o->wait_addr)
		return 0;

	long deadline = fault_now_ms() + 10000;
	while (fault_now_ms() < deadline) {
		struct np_client *c;
		if (np_client_connect(&c, o->wait_addr) == 0) {
			np_client_close(c);
			return 0;
		}
		if (!np_daemon_alive(d)) {
			d->pid = 0;
			return -ECHILD;
		}
		fault_sleep_ms(10);
	}
	np_daemon_stop(d);
	return -ETIMEDOUT;
}

int proc_fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

long proc_status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t klen = strlen(key);
	long kib = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kib = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

int proc_wait_fd_count(pid_t pid, int target, int timeout_ms)
{
	long deadline = fault_now_ms() + timeout_ms;
	int n;
	while ((n = proc_fd_count(pid)) > target && fault_now_ms() < deadline)
		fault_sleep_ms(20);
	return n;
}

long proc_nofile_limit(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	long soft = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Max open files", 14) == 0) {
			soft = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return soft;
}

void fault_pattern(void *buf, size_t len, uint64_t seed)
{
	/* splitmix64: cheap, and no two seeds give the same bytes. */
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		for (size_t k = 0; k < 8 && i + k < len; k++)
			p[i + k] = (uint8_t)(z >> (8 * k));
	}
}

/* Move len bytes with poll (10 s per wait); write if out, else read. */
static int pipe_io(int fd, uint8_t *buf, size_t len, bool out)
{
	while (len > 0) {
		struct pollfd p = {.fd = fd, .events = out ? POLLOUT : POLLIN};
		int pn = poll(&p, 1, 10000);
		if (pn < 0 && errno == EINTR)
			continue;
		if (pn <= 0)
			return pn == 0 ? -ETIMEDOUT : -errno;
		ssize_t n = out ? write(fd, buf, len) : read(fd, buf, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		if (n == 0)
			return -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int pipe_send(int wfd, const struct np_msg *t, uint8_t *buf, size_t cap)
{
	int n = np_encode(t, buf, cap);
	if (n < 0)
		return -EINVAL;
	return pipe_io(wfd, buf, (size_t)n, true);
}

int pipe_recv(int rfd, uint8_t *buf, size_t cap, struct np_msg *r)
{
	int err = pipe_io(rfd, buf, 4, false);
	if (err < 0)
		return err;
	uint32_t size = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
			(uint32_t)buf[3] << 24;
	if (size < NP_HDRSZ || size > cap)
		return -EPROTO;
	err = pipe_io(rfd, buf + 4, size - 4, false);
	if (err < 0)
		return err;
	return np_decode(buf, size, (uint32_t)cap, r) < 0 ? -EPROTO : 0;
}

int pipe_rpc(int wfd, int rfd, const struct np_msg *t, uint8_t *buf, size_t cap,
	     struct np_msg *r)
{
	int err = pipe_send(wfd, t, buf, cap);
	if (err == 0)
		err = pipe_recv(rfd, buf, cap, r);
	if (err < 0)
		return err;
	if (r->tag != t->tag)
		return -EPROTO;
	if (r->type == NP_RLERROR)
		return r->u.rlerror.ecode ? -(int)r->u.rlerror.ecode : -EPROTO;
	return r->type == t->type + 1 ? 0 : -EPROTO;
}
