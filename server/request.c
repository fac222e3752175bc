/* Requests (request.h). */
#include "server/request.h"

#include <errno.h>

#include "server/conn.h"

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
