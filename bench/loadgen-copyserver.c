/* The transport's own limit, measured in the same run as the servers
 * (`ninepd-loadgen copyserver`): a 9P server that does nothing but answer
 * the read workloads with the fewest system calls a copying server can
 * make.  One thread per connection, a blocking socket; a Tread is one
 * pread into the reply buffer and one write of the whole reply (the kernel
 * blocks until the client has read enough), so a read costs exactly
 * pread + socket write + the client's read, with the real client, framing
 * and msize of the servers it is set against.  With `splice` the payload
 * goes file -> pipe -> socket instead (the header by write): the zero-copy
 * path a server could take.
 *
 * It knows the data file only: every walk reaches it, Tgetattr gives its
 * size, Tlopen opens nothing (the file is opened once per connection).
 * Anything else is answered ENOSYS. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "loadgen.h"

#define COPY_MAX_MSIZE (16u << 20)

struct copy_conn {
	int sock;
	int file;
	bool splice;
	struct stat st;
};

/* All of len bytes read into p (writing false) or written from it; 0 or -1. */
static int io_all(int fd, uint8_t *p, size_t len, bool writing)
{
	while (len) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	return io_all(fd, (uint8_t *)p, len, true);
}

static int read_full(int fd, uint8_t *p, size_t len)
{
	return io_all(fd, p, len, false);
}

/* count bytes of the file at off into the socket by splice; 0 or -1. */
static int splice_out(struct copy_conn *c, int pipefd[2], uint64_t off, uint32_t count)
{
	loff_t o = (loff_t)off;
	while (count) {
		ssize_t in = splice(c->file, &o, pipefd[1], NULL, count, SPLICE_F_MOVE);
		if (in <= 0)
			return -1;
		for (ssize_t left = in; left > 0;) {
			ssize_t out = splice(pipefd[0], NULL, c->sock, NULL, (size_t)left, SPLICE_F_MOVE);
			if (out <= 0)
				return -1;
			left -= out;
		}
		count -= (uint32_t)in;
	}
	return 0;
}

static void *copy_conn_main(void *arg)
{
	struct copy_conn *c = arg;
	uint32_t msize = 8192;
	uint8_t *in = malloc(COPY_MAX_MSIZE), *out = malloc(COPY_MAX_MSIZE);
	int pipefd[2] = {-1, -1};
	if (c->splice && (pipe2(pipefd, O_CLOEXEC) || fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20) < 0))
		goto done;
	while (in && out) {
		if (read_full(c->sock, in, 4))
			break;
		uint32_t size = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
				(uint32_t)in[3] << 24;
		if (size < 7 || size > COPY_MAX_MSIZE || read_full(c->sock, in + 4, size - 4))
			break;
		struct np_msg t, r;
		if (np_decode(in, size, COPY_MAX_MSIZE, &t))
			break;
		memset(&r, 0, sizeof r);
		r.tag = t.tag;
		r.type = (uint8_t)(t.type + 1);
		switch (t.type) {
		case NP_TVERSION:
			msize = t.u.tversion.msize < COPY_MAX_MSIZE ? t.u.tversion.msize : COPY_MAX_MSIZE;
			r.u.rversion.msize = msize;
			r.u.rversion.version = np_str_c(NP_VERSION_9P2000L);
			break;
		case NP_TATTACH:
			r.u.rattach.qid = (struct np_qid){.type = NP_QTDIR, .path = 1};
			break;
		case NP_TWALK:
			r.u.rwalk.nwqid = t.u.twalk.nwname;
			for (unsigned i = 0; i < t.u.twalk.nwname; i++)
				r.u.rwalk.wqids[i] = (struct np_qid){.type = NP_QTFILE, .path = 2};
			break;
		case NP_TGETATTR:
			r.u.rgetattr.valid = t.u.tgetattr.request_mask;
			r.u.rgetattr.qid = (struct np_qid){.type = NP_QTFILE, .path = 2};
			r.u.rgetattr.mode = c->st.st_mode;
			r.u.rgetattr.size = (uint64_t)c->st.st_size;
			r.u.rgetattr.nlink = 1;
			break;
		case NP_TLOPEN:
			r.u.rlopen.qid = (struct np_qid){.type = NP_QTFILE, .path = 2};
			break;
		case NP_TCLUNK:
			break;
		case NP_TREAD: {
			uint32_t count = t.u.tread.count;
			if (count > np_max_io(msize))
				count = np_max_io(msize);
			if (c->splice) {
				if (t.u.tread.offset + count > (uint64_t)c->st.st_size)
					count = t.u.tread.offset >= (uint64_t)c->st.st_size
							? 0
							: (uint32_t)((uint64_t)c->st.st_size - t.u.tread.offset);
				r.u.rread.count = count;
				r.u.rread.data = out + NP_IOHDRSZ;
				/* The header only: np_encode writes size and count for
				 * the payload that follows it by splice. */
				if (np_encode(&r, out, NP_IOHDRSZ + count) < 0 ||
				    write_all(c->sock, out, NP_IOHDRSZ) ||
				    splice_out(c, pipefd, t.u.tread.offset, count))
					goto done;
				continue;
			}
			ssize_t n = pread(c->file, out + NP_IOHDRSZ, count, (off_t)t.u.tread.offset);
			if (n < 0) {
				r.type = NP_RLERROR;
				r.u.rlerror.ecode = (uint32_t)errno;
				break;
			}
			r.u.rread.count = (uint32_t)n;
			r.u.rread.data = out + NP_IOHDRSZ; /* in place: np_encode writes the header */
			break;
		}
		default:
			r.type = NP_RLERROR;
			r.u.rlerror.ecode = ENOSYS;
			break;
		}
		int n = np_encode(&r, out, COPY_MAX_MSIZE);
		if (n < 0 || write_all(c->sock, out, (size_t)n))
			break;
	}
done:
	free(in);
	free(out);
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	close(c->sock);
	close(c->file);
	free(c);
	return NULL;
}

int lg_copyserver(const char *addr, const char *dir, bool use_splice)
{
	if (strncmp(addr, "unix:", 5) != 0) {
		fprintf(stderr, "ninepd-loadgen copyserver: unix:PATH only\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, LG_DATA_FILE);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(addr + 5) >= sizeof sa.sun_path)
		return 2;
	strcpy(sa.sun_path, addr + 5);
	unlink(sa.sun_path);
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 64)) {
		fprintf(stderr, "ninepd-loadgen copyserver: %s: %s\n", addr, strerror(errno));
		return 1;
	}
	for (;;) {
		int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 1;
		}
		struct copy_conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(s);
			continue;
		}
		c->sock = s;
		c->splice = use_splice;
		c->file = open(path, O_RDONLY | O_CLOEXEC);
		pthread_t th;
		if (c->file < 0 || fstat(c->file, &c->st) ||
		    pthread_create(&th, NULL, copy_conn_main, c)) {
			fprintf(stderr, "ninepd-loadgen copyserver: %s: %s\n", path, strerror(errno));
			if (c->file >= 0)
				close(c->file);
			close(s);
			free(c);
			continue;
		}
		pthread_detach(th);
	}
}
