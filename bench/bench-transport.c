/* What moving 1 MiB file reads to a client over a unix socket can cost at
 * best, measured on this machine, to set ninepd's seqread1m figure against:
 *
 *   pread           the file into a buffer: the direct limit of bench.sh;
 *   pread+write     into a buffer, written to a socketpair that a second
 *                   thread reads (the copies ninepd's read path makes:
 *                   page cache -> buffer -> socket -> client);
 *   splice          the file into a pipe and the pipe into the socket
 *                   (pages are passed by reference; the reader's copy is
 *                   the only one), read by a second thread.
 *
 * Each mode reads a 256 MiB file (FILE, or a temporary one it writes and
 * pre-reads into the page cache) round and round in 1 MiB pieces for
 * SECONDS (default 1) and prints MiB/s and the CPU time per MiB of both
 * threads together.  No 9P, no server: only system calls. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define FILE_MIB 256u

static double now_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-transport: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct sink {
	int fd;
	unsigned long long bytes;
};

/* The client: reads whatever arrives, as the kernel's 9p client would. */
static void *sink_main(void *arg)
{
	struct sink *s = arg;
	char *buf = malloc(MIB);
	if (!buf)
		die("malloc");
	for (;;) {
		ssize_t n = read(s->fd, buf, MIB);
		if (n <= 0)
			break;
		s->bytes += (unsigned long long)n;
	}
	free(buf);
	return NULL;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0)
			die("write to the socket");
		p += n;
		len -= (size_t)n;
	}
}

/* One 1 MiB piece at off by the mode's system calls; bytes moved. */
static size_t move_piece(const char *mode, int file, int sock, int pipefd[2], char *buf, off_t off)
{
	if (!strcmp(mode, "pread")) {
		if (pread(file, buf, MIB, off) != (ssize_t)MIB)
			die("pread");
	} else if (!strcmp(mode, "pread+write")) {
		if (pread(file, buf, MIB, off) != (ssize_t)MIB)
			die("pread");
		write_all(sock, buf, MIB);
	} else {
		loff_t o = off;
		size_t in = 0, out = 0;
		while (in < MIB) {
			ssize_t n = splice(file, &o, pipefd[1], NULL, MIB - in, SPLICE_F_MOVE);
			if (n <= 0)
				die("splice from the file");
			in += (size_t)n;
		}
		while (out < MIB) {
			ssize_t n = splice(pipefd[0], NULL, sock, NULL, MIB - out, SPLICE_F_MOVE);
			if (n <= 0)
				die("splice to the socket");
			out += (size_t)n;
		}
	}
	return MIB;
}

static void run(const char *mode, int file, double seconds)
{
	int sv[2] = {-1, -1}, pipefd[2] = {-1, -1};
	pthread_t sink_thread;
	struct sink sink = {0};
	bool socket_mode = strcmp(mode, "pread") != 0;
	if (socket_mode) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			die("socketpair");
		sink.fd = sv[1];
		if (pthread_create(&sink_thread, NULL, sink_main, &sink))
			die("pthread_create");
	}
	if (!strcmp(mode, "splice")) {
		if (pipe2(pipefd, O_CLOEXEC))
			die("pipe");
		if (fcntl(pipefd[1], F_SETPIPE_SZ, MIB) < 0)
			die("F_SETPIPE_SZ 1 MiB");
	}
	char *buf = malloc(MIB);
	if (!buf)
		die("malloc");
	memset(buf, 0, MIB);
	unsigned long long moved = 0;
	unsigned piece = 0;
	double cpu0 = now_s(CLOCK_PROCESS_CPUTIME_ID), t0 = now_s(CLOCK_MONOTONIC), t1;
	do {
		for (int i = 0; i < 16; i++, piece = (piece + 1) % FILE_MIB)
			moved += move_piece(mode, file, sv[0], pipefd, buf, (off_t)piece * MIB);
		t1 = now_s(CLOCK_MONOTONIC);
	} while (t1 - t0 < seconds);
	if (socket_mode) {
		shutdown(sv[0], SHUT_WR);
		pthread_join(sink_thread, NULL);
		t1 = now_s(CLOCK_MONOTONIC);
		if (sink.bytes != moved) {
			fprintf(stderr, "bench-transport: %s: %llu bytes sent, %llu received\n", mode,
				moved, sink.bytes);
			exit(1);
		}
	}
	double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	double mib = (double)moved / MIB;
	printf("%-12s %9.0f MiB/s %8.1f CPU us/MiB\n", mode, mib / (t1 - t0), cpu / mib * 1e6);
	free(buf);
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	}
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : NULL;
	double seconds = argc > 2 ? atof(argv[2]) : 1.0;
	char tmp[] = "/var/tmp/ninepd-bench-transport-XXXXXX";
	int file;
	if (path) {
		file = open(path, O_RDONLY | O_CLOEXEC);
		if (file < 0)
			die(path);
		off_t size = lseek(file, 0, SEEK_END);
		if (size < (off_t)FILE_MIB * MIB) {
			fprintf(stderr, "bench-transport: %s: needs %u MiB\n", path, FILE_MIB);
			return 1;
		}
	} else {
		file = mkstemp(tmp);
		if (file < 0)
			die("mkstemp");
		unlink(tmp);
		char *buf = malloc(MIB);
		if (!buf)
			die("malloc");
		for (unsigned i = 0; i < FILE_MIB; i++) {
			memset(buf, (int)i, MIB);
			write_all(file, buf, MIB);
		}
		free(buf);
	}
	/* Once through, so every mode reads from the page cache. */
	char *warm = malloc(MIB);
	for (unsigned i = 0; warm && i < FILE_MIB; i++)
		if (pread(file, warm, MIB, (off_t)i * MIB) != (ssize_t)MIB)
			die("pread");
	free(warm);
	printf("# 1 MiB pieces of a %u MiB file in the page cache, %.1f s per mode\n", FILE_MIB,
	       seconds);
	const char *modes[] = {"pread", "pread+write", "splice"};
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
		run(modes[m], file, seconds);
	close(file);
	return 0;
}
