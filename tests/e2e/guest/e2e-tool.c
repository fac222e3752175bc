/*
 * e2e-tool: the few system calls the guest's busybox cannot make.
 *
 * Built static by tests/e2e/build-guest.sh and run inside the QEMU guest.
 * Every subcommand prints its result on stdout and exits 0, or prints
 * "error: <strerror>" on stdout and exits 1, so that a guest script can
 * compare the output of a failure as well as of a success.
 *
 *   xattr set FILE NAME VALUE | get FILE NAME | list FILE | remove FILE NAME
 *   lock FILE r|w|u try|wait [HOLD_MS [READY]]   fcntl (POSIX) record lock
 *   flock FILE sh|ex try|wait [HOLD_MS [READY]]  BSD flock
 *   getlk FILE r|w                               F_GETLK: "unlocked" or the holder
 *   readsum FILE | mmapsum FILE                  FNV-1a 64 of the contents
 *   mmapwrite FILE OFFSET TEXT                   store TEXT through a shared map
 *   rename OLD NEW                               rename(2), which mv does not expose
 *
 * Credentials (the identity scenario).  These report a failure as
 * "error: CALL: ENAME (strerror)", so a check can say which call failed and
 * with which errno:
 *
 *   as UID GID GROUPS -- PROG ARG...             setgroups (GROUPS: g1,g2,... or "-"
 *                                                for none), setresgid, setresuid, execv
 *   open PATH FLAGS MODE [OP...]                 open(2) with FLAGS rdonly|wronly|rdwr plus
 *                                                ,creat ,excl ,trunc ,append ,directory and
 *                                                MODE in octal, then on the descriptor each OP:
 *                                                read (to the end), write:TEXT, getdents,
 *                                                ftruncate:SIZE, ready:FILE (create
 *                                                FILE), await:FILE (wait up to 20 s for FILE
 *                                                to exist); prints "ok" and what each OP
 *                                                gave ("ok read=5 wrote=3")
 *   stat PATH                                    "MODE UID:GID SIZE", MODE in octal with the
 *                                                set-id and sticky bits ("6777 1000:1000 1")
 *   chown PATH UID GID                           chown(2), -1 leaves one alone
 *   chmod PATH MODE | truncate PATH SIZE         chmod(2) (MODE octal), truncate(2) by path
 *
 * vsock (the vsock-loopback scenario):
 *
 *   vsock-silent PORT READY                      listen on vsock port PORT of every CID,
 *                                                create READY, accept every connection and
 *                                                never answer (a server that hangs)
 *   vsock-activate PORT -- PROG ARG...           a listening vsock socket on PORT as fd 3,
 *                                                LISTEN_FDS=1 and LISTEN_PID, then execv:
 *                                                systemd's socket activation
 *
 * For the lock commands, HOLD_MS keeps the lock that long before exiting and
 * READY names a file created once the lock is held, which tells a second
 * process when to try.  "locked waited_ms=N" says how long the lock took.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np, struct dirent64 */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static int fail(void)
{
	printf("error: %s\n", strerror(errno));
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: e2e-tool xattr|lock|flock|getlk|readsum|mmapsum|mmapwrite|rename|"
			"as|open|stat|chown|chmod|truncate|vsock-silent|vsock-activate ...\n");
	return 2;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int cmd_xattr(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[0], "set") == 0) {
		if (setxattr(argv[1], argv[2], argv[3], strlen(argv[3]), 0) == -1)
			return fail();
		printf("ok\n");
		return 0;
	}
	if (argc == 3 && strcmp(argv[0], "get") == 0) {
		char value[4096];
		ssize_t n = getxattr(argv[1], argv[2], value, sizeof(value));

		if (n == -1)
			return fail();
		printf("%.*s\n", (int)n, value);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "list") == 0) {
		char names[65536];
		ssize_t n = listxattr(argv[1], names, sizeof(names));

		if (n == -1)
			return fail();
		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
			printf("%s\n", names + i);
		return 0;
	}
	if (argc == 3 && strcmp(argv[0], "remove") == 0) {
		if (removexattr(argv[1], argv[2]) == -1)
			return fail();
		printf("ok\n");
		return 0;
	}
	return usage();
}

/* Holds the lock already taken on fd for hold_ms, announcing it through ready. */
static int hold(int fd, long waited, int argc, char **argv)
{
	long hold_ms = argc > 0 ? atol(argv[0]) : 0;

	printf("locked waited_ms=%ld\n", waited);
	fflush(stdout);
	if (argc > 1) {
		int rfd = open(argv[1], O_WRONLY | O_CREAT, 0644);

		if (rfd == -1)
			return fail();
		close(rfd);
	}
	sleep_ms(hold_ms);
	close(fd);
	return 0;
}

static int cmd_lock(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	int fd = open(argv[0], O_RDWR);
	if (fd == -1)
		return fail();

	struct flock fl = { .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	switch (argv[1][0]) {
	case 'r': fl.l_type = F_RDLCK; break;
	case 'w': fl.l_type = F_WRLCK; break;
	case 'u': fl.l_type = F_UNLCK; break;
	default: return usage();
	}
	int cmd = strcmp(argv[2], "wait") == 0 ? F_SETLKW : F_SETLK;
	long start = now_ms();
	if (fcntl(fd, cmd, &fl) == -1)
		return fail();
	return hold(fd, now_ms() - start, argc - 3, argv + 3);
}

static int cmd_flock(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	int fd = open(argv[0], O_RDWR);
	if (fd == -1)
		return fail();

	int op = strcmp(argv[1], "ex") == 0 ? LOCK_EX : LOCK_SH;
	if (strcmp(argv[2], "try") == 0)
		op |= LOCK_NB;
	long start = now_ms();
	if (flock(fd, op) == -1)
		return fail();
	return hold(fd, now_ms() - start, argc - 3, argv + 3);
}

static int cmd_getlk(int argc, char **argv)
{
	if (argc != 2)
		return usage();
	int fd = open(argv[0], O_RDWR);
	if (fd == -1)
		return fail();

	struct flock fl = {
		.l_type = argv[1][0] == 'r' ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};
	if (fcntl(fd, F_GETLK, &fl) == -1)
		return fail();
	if (fl.l_type == F_UNLCK)
		printf("unlocked\n");
	else
		printf("locked type=%s\n", fl.l_type == F_WRLCK ? "w" : "r");
	return 0;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

static int cmd_readsum(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	int fd = open(argv[0], O_RDONLY);
	if (fd == -1)
		return fail();

	static unsigned char buf[1 << 16];
	uint64_t h = FNV_OFFSET;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		h = fnv1a(h, buf, (size_t)n);
	if (n == -1)
		return fail();
	printf("%016llx\n", (unsigned long long)h);
	return 0;
}

static int cmd_mmapsum(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	int fd = open(argv[0], O_RDONLY);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1)
		return fail();

	uint64_t h = FNV_OFFSET;
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED)
			return fail();
		h = fnv1a(h, p, (size_t)st.st_size);
		munmap(p, (size_t)st.st_size);
	}
	printf("%016llx\n", (unsigned long long)h);
	return 0;
}

static int cmd_mmapwrite(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	int fd = open(argv[0], O_RDWR);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1)
		return fail();

	size_t off = (size_t)atol(argv[1]), len = strlen(argv[2]);
	if (off + len > (size_t)st.st_size) {
		errno = EINVAL;
		return fail();
	}
	char *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return fail();
	memcpy(p + off, argv[2], len);
	if (msync(p, (size_t)st.st_size, MS_SYNC) == -1)
		return fail();
	munmap(p, (size_t)st.st_size);
	printf("ok\n");
	return 0;
}

static int cmd_rename(int argc, char **argv)
{
	if (argc != 2)
		return usage();
	if (rename(argv[0], argv[1]) == -1)
		return fail();
	printf("ok\n");
	return 0;
}

/* The failure of the credential commands: which call, and its errno by name. */
static int fail_call(const char *call)
{
	int e = errno;
	const char *name = strerrorname_np(e);

	printf("error: %s: %s (%s)\n", call, name ? name : "?", strerror(e));
	return 1;
}

/* Parses a whole decimal or octal (base 8) number into *out; false if there is anything else. */
static bool parse_num(const char *s, int base, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, base);
	return errno == 0 && end != s && *end == '\0';
}

/* setgroups, then the gid, then the uid (the last drops the right to change
 * the others), and runs PROG: a user whose groups exist only in the guest. */
static int cmd_as(int argc, char **argv)
{
	long long uid, gid, g;
	gid_t groups[64];
	size_t ngroups = 0;

	if (argc < 5 || strcmp(argv[3], "--") != 0 || !parse_num(argv[0], 10, &uid) ||
	    !parse_num(argv[1], 10, &gid))
		return usage();
	if (strcmp(argv[2], "-") != 0) {
		char list[1024];

		snprintf(list, sizeof(list), "%s", argv[2]);
		for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (ngroups == sizeof(groups) / sizeof(groups[0]) || !parse_num(t, 10, &g))
				return usage();
			groups[ngroups++] = (gid_t)g;
		}
	}
	if (setgroups(ngroups, groups) == -1)
		return fail_call("setgroups");
	if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) == -1)
		return fail_call("setresgid");
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) == -1)
		return fail_call("setresuid");
	execv(argv[4], argv + 4);
	return fail_call("execv");
}

static int open_flags(const char *spec, int *flags)
{
	static const struct {
		const char *name;
		int flag;
	} names[] = {
		{ "rdonly", O_RDONLY }, { "wronly", O_WRONLY }, { "rdwr", O_RDWR },
		{ "creat", O_CREAT },   { "excl", O_EXCL },     { "trunc", O_TRUNC },
		{ "append", O_APPEND }, { "directory", O_DIRECTORY },
	};
	char list[256];

	*flags = 0;
	snprintf(list, sizeof(list), "%s", spec);
	for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i = 0;

		while (i < sizeof(names) / sizeof(names[0]) && strcmp(t, names[i].name) != 0)
			i++;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		*flags |= names[i].flag;
	}
	return 0;
}

/* Counts the entries of an open directory other than "." and "..". */
static long count_dents(int fd, long *count)
{
	static char buf[1 << 15];
	long n;

	*count = 0;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			const struct dirent64 *d = (const void *)(buf + off);

			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
				(*count)++;
			off += d->d_reclen;
		}
	}
	return n;
}

static int cmd_open(int argc, char **argv)
{
	int flags;
	long long mode;

	if (argc < 3 || open_flags(argv[1], &flags) == -1 || !parse_num(argv[2], 8, &mode))
		return usage();
	int fd = open(argv[0], flags, (mode_t)mode);
	if (fd == -1)
		return fail_call("open");

	char out[512] = "ok";
	size_t len = strlen(out);
	for (int i = 3; i < argc; i++) {
		const char *op = argv[i], *arg = strchr(op, ':');
		long long size;
		long count;

		if (strcmp(op, "read") == 0) {
			static char buf[1 << 16];
			ssize_t n;

			count = 0;
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				count += n;
			if (n == -1)
				return fail_call("read");
			len += snprintf(out + len, sizeof(out) - len, " read=%ld", count);
		} else if (strncmp(op, "write:", 6) == 0) {
			ssize_t n = write(fd, arg + 1, strlen(arg + 1));

			if (n == -1)
				return fail_call("write");
			len += snprintf(out + len, sizeof(out) - len, " wrote=%zd", n);
		} else if (strcmp(op, "getdents") == 0) {
			if (count_dents(fd, &count) == -1)
				return fail_call("getdents64");
			len += snprintf(out + len, sizeof(out) - len, " entries=%ld", count);
		} else if (strncmp(op, "ftruncate:", 10) == 0 && parse_num(arg + 1, 10, &size)) {
			if (ftruncate(fd, (off_t)size) == -1)
				return fail_call("ftruncate");
			len += snprintf(out + len, sizeof(out) - len, " truncated=%lld", size);
		} else if (strncmp(op, "ready:", 6) == 0) {
			int rfd = open(arg + 1, O_WRONLY | O_CREAT, 0644);

			if (rfd == -1)
				return fail_call("open of the ready file");
			close(rfd);
		} else if (strncmp(op, "await:", 6) == 0) {
			long start = now_ms();

			while (access(arg + 1, F_OK) == -1) {
				if (now_ms() - start > 20000) {
					errno = ETIMEDOUT;
					return fail_call("await");
				}
				sleep_ms(20);
			}
		} else {
			return usage();
		}
		if (len >= sizeof(out))
			len = sizeof(out) - 1;
	}
	if (close(fd) == -1)
		return fail_call("close");
	printf("%s\n", out);
	return 0;
}

static int cmd_stat(int argc, char **argv)
{
	struct stat st;

	if (argc != 1)
		return usage();
	if (stat(argv[0], &st) == -1)
		return fail_call("stat");
	printf("%o %u:%u %lld\n", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
	       (unsigned)st.st_gid, (long long)st.st_size);
	return 0;
}

static int cmd_chown(int argc, char **argv)
{
	long long uid, gid;

	if (argc != 3 || !parse_num(argv[1], 10, &uid) || !parse_num(argv[2], 10, &gid))
		return usage();
	if (chown(argv[0], (uid_t)uid, (gid_t)gid) == -1)
		return fail_call("chown");
	printf("ok\n");
	return 0;
}

static int cmd_chmod(int argc, char **argv)
{
	long long mode;

	if (argc != 2 || !parse_num(argv[1], 8, &mode))
		return usage();
	if (chmod(argv[0], (mode_t)mode) == -1)
		return fail_call("chmod");
	printf("ok\n");
	return 0;
}

static int cmd_truncate(int argc, char **argv)
{
	long long size;

	if (argc != 2 || !parse_num(argv[1], 10, &size))
		return usage();
	if (truncate(argv[0], (off_t)size) == -1)
		return fail_call("truncate");
	printf("ok\n");
	return 0;
}

/* A vsock socket listening on port of every local CID, or -1 (errno set). */
static int vsock_listener(const char *port_text)
{
	long long port;
	if (!parse_num(port_text, 10, &port) || port < 1 || port > 0xfffffffeLL) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				   .svm_port = (unsigned)port };
	if (fd == -1 || bind(fd, (struct sockaddr *)&svm, sizeof(svm)) == -1 || listen(fd, 16) == -1)
		return -1;
	return fd;
}

static int cmd_vsock_silent(int argc, char **argv)
{
	if (argc != 2)
		return usage();
	int fd = vsock_listener(argv[0]);
	if (fd == -1)
		return fail();
	int ready = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (ready == -1)
		return fail();
	close(ready);
	for (;;)
		if (accept(fd, NULL, NULL) == -1 && errno != EINTR)
			return fail(); /* every accepted socket stays open, unanswered */
}

static int cmd_vsock_activate(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "--") != 0)
		return usage();
	int fd = vsock_listener(argv[0]);
	if (fd == -1)
		return fail();
	if (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))
		return fail();
	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	execv(argv[2], argv + 2);
	return fail();
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{ "xattr", cmd_xattr },     { "lock", cmd_lock },
		{ "flock", cmd_flock },     { "getlk", cmd_getlk },
		{ "readsum", cmd_readsum }, { "mmapsum", cmd_mmapsum },
		{ "mmapwrite", cmd_mmapwrite }, { "rename", cmd_rename },
		{ "as", cmd_as },           { "open", cmd_open },
		{ "stat", cmd_stat },       { "chown", cmd_chown },
		{ "chmod", cmd_chmod },     { "truncate", cmd_truncate },
		{ "vsock-silent", cmd_vsock_silent }, { "vsock-activate", cmd_vsock_activate },
	};

	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 2, argv + 2);
	return usage();
}
