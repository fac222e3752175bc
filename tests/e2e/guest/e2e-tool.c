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
 * For the lock commands, HOLD_MS keeps the lock that long before exiting and
 * READY names a file created once the lock is held, which tells a second
 * process when to try.  "locked waited_ms=N" says how long the lock took.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int fail(void)
{
	printf("error: %s\n", strerror(errno));
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: e2e-tool xattr|lock|flock|getlk|readsum|mmapsum|mmapwrite|rename ...\n");
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
	};

	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 2, argv + 2);
	return usage();
}
