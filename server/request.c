/* Requests (request.h). */
#include "server/request.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/dispatch.h"

/* The pipe of one spliced read, made for it and closed once its reply is
 * out (req_splice_close): a pipe kept per worker would outlive every
 * client (and a few system calls are nothing next to a copied megabyte).
 * A read of n bytes at an offset that is not page-aligned takes
 * n / page + 1 pages of the pipe, hence the page of room: 2 MiB for 1 MiB
 * reads where the daemon may (CAP_SYS_RESOURCE), else 1 MiB, and the
 * last page of a 1 MiB read is then pread behind the spliced part.  The
 * first pipe finds out which size works. */
static _Atomic int splice_pipe_size; /* 0: not known yet, -1: no splicing */

static uint32_t splice_open(struct req *r)
{
	if (splice_pipe_size < 0 || pipe2(r->splice_fd, O_CLOEXEC | O_NONBLOCK) != 0)
		return 0;
	int size = splice_pipe_size;
	if (size > 0) {
		size = fcntl(r->splice_fd[1], F_SETPIPE_SZ, size);
	} else {
		size = fcntl(r->splice_fd[1], F_SETPIPE_SZ, 2 << 20);
		if (size < 0)
			size = fcntl(r->splice_fd[1], F_SETPIPE_SZ, 1 << 20);
		splice_pipe_size = size > 0 ? size : -1;
	}
	long page = sysconf(_SC_PAGESIZE);
	if (size <= page + (long)REQ_SPLICE_MIN) {
		req_splice_close(r);
		return 0;
	}
	return (uint32_t)(size - page);
}

void req_splice_close(struct req *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->splice_fd[i] >= 0)
			close(r->splice_fd[i]);
		r->splice_fd[i] = -1;
	}
	r->piped = 0;
}

ssize_t req_read_splice(struct req *r, int fd, uint64_t off, uint32_t count)
{
	struct conn *c = r->conn;
	uint32_t room;
	if (count < REQ_SPLICE_MIN || c->out_fd < 0 || r->snap->cfg->trace || off > INT64_MAX ||
	    !conn_alone_in_flight(r) || (room = splice_open(r)) == 0)
		return -EAGAIN;
	uint32_t want = count < room ? count : room;
	loff_t o = (loff_t)off;
	uint32_t got = 0;
	bool eof = false;
	while (got < want) {
		ssize_t n = splice(fd, &o, r->splice_fd[1], NULL, want - got, 0);
		if (n == 0) {
			eof = true;
			break;
		}
		if (n < 0) {
			if (got)
				break; /* a short read, as pread's */
			/* Nothing moved: EINVAL (a file system without splice)
			 * and the like are read by pread instead. */
			int err = errno;
			req_splice_close(r);
			return err == EINTR || err == EINVAL || err == EAGAIN ? -EAGAIN : -err;
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
