/* Requests (request.h). */
#include "server/request.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/dispatch.h"

/* Each worker's pipe for spliced reads, made at its first one; -1: none
 * could be made, reads are copied.  A read of n bytes at an offset that
 * is not page-aligned takes n / page + 1 pages of the pipe, hence the page
 * of room (2 MiB for 1 MiB reads: root may, others get 1 MiB, and 1 MiB
 * reads are then copied). */
static __thread int splice_pipe[2] = {-2, -2};
static __thread uint32_t splice_room;

static int req_splice_pipe(void)
{
	if (splice_pipe[0] != -2)
		return splice_pipe[1];
	if (pipe2(splice_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		splice_pipe[0] = splice_pipe[1] = -1;
		return -1;
	}
	int size = fcntl(splice_pipe[1], F_SETPIPE_SZ, 2 << 20);
	if (size < 0)
		size = fcntl(splice_pipe[1], F_SETPIPE_SZ, 1 << 20);
	if (size < 0)
		size = fcntl(splice_pipe[1], F_GETPIPE_SZ);
	long page = sysconf(_SC_PAGESIZE);
	splice_room = size > page ? (uint32_t)(size - page) : 0;
	return splice_pipe[1];
}

int req_splice_out(void)
{
	return splice_pipe[0];
}

void req_splice_reset(void)
{
	for (int i = 0; i < 2; i++)
		if (splice_pipe[i] >= 0)
			close(splice_pipe[i]);
	splice_pipe[0] = splice_pipe[1] = -2;
}

ssize_t req_read_splice(struct req *r, int fd, uint64_t off, uint32_t count)
{
	struct conn *c = r->conn;
	if (count < REQ_SPLICE_MIN || c->out_fd < 0 || r->snap->cfg->trace || off > INT64_MAX ||
	    !conn_alone_in_flight(r) || req_splice_pipe() < 0 ||
	    splice_room < REQ_SPLICE_MIN)
		return -EAGAIN;
	uint32_t want = count < splice_room ? count : splice_room;
	loff_t o = (loff_t)off;
	uint32_t got = 0;
	bool eof = false;
	while (got < want) {
		ssize_t n = splice(fd, &o, splice_pipe[1], NULL, want - got, 0);
		if (n == 0) {
			eof = true;
			break;
		}
		if (n < 0) {
			if (got)
				break; /* a short read, as pread's */
			/* Nothing moved: EINVAL (a file system without splice)
			 * and the like are read by pread instead. */
			return errno == EINTR || errno == EINVAL || errno == EAGAIN ? -EAGAIN
										     : -errno;
		}
		got += (uint32_t)n;
	}
	r->piped = got;
	if (got < count && got == want && !eof) {
		/* More than the pipe holds: the rest is read into outbuf behind
		 * the part in the pipe, and sent from there. */
		ssize_t n = pread(fd, r->outbuf + NP_IOHDRSZ + got, count - got, (off_t)off + got);
		if (n > 0)
			got += (uint32_t)n;
	}
	return got;
}

/* Large buffers come from the hub's pool (bufpool.h: why not malloc). */
int req_out_reserve(struct req *r, uint32_t size)
{
	if (size <= r->outcap)
		return 0;
	struct bufpool *pool = &r->conn->hub->bufs;
	size_t cap;
	uint8_t *b = bufpool_get(pool, size, &cap);
	if (!b)
		return -ENOMEM;
	req_out_release(r);
	r->outbuf = b;
	r->outcap = (uint32_t)cap; /* at most msize rounded to a page */
	return 0;
}

void req_out_release(struct req *r)
{
	if (r->outbuf != r->outsmall)
		bufpool_put(&r->conn->hub->bufs, r->outbuf, r->outcap);
	r->outbuf = r->outsmall;
	r->outcap = REQ_SMALL_OUT;
}
