/* A request: the frame a client sent, its decoded message, the fids it
 * holds while it runs, and its reply.  conn.c creates, completes and
 * recycles requests on the loop thread; a worker runs the one it was given
 * (dispatch_work) and may grow its reply buffer. */
#ifndef NINEPD_SERVER_REQUEST_H
#define NINEPD_SERVER_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/9p.h"
#include "server/creds.h"
#include "server/fid.h"
#include "server/snapshot.h"
#include "server/workq.h"

#define REQ_SMALL_OUT 8192
#define REQ_SPLICE_MIN (64u << 10) /* smaller reads are copied (req_read_splice) */

struct conn;

enum req_state {
	REQ_NEW = 0,
	REQ_QUEUED,    /* submitted to the worker queue */
	REQ_LOCKWAIT,  /* waiting to retry a blocking Tlock */
	REQ_THROTTLED, /* waiting for its export's bps/iops limits */
	REQ_DONE,      /* reply encoded, queued for sending */
};

struct req {
	struct conn *conn;
	struct cfg_snapshot *snap; /* the configuration it runs under */
	struct workq_item work;
	enum req_state state;
	uint32_t generation; /* the session (Tversion) it belongs to */
	bool flushed;        /* a Tflush cancelled it: no reply is sent */
	struct np_msg in;
	uint8_t *inbuf;
	uint32_t incap;
	uint8_t *outbuf;     /* outsmall, or a pool buffer for large replies (bufpool.h) */
	uint8_t *outsmall;   /* REQ_SMALL_OUT bytes, kept with the request */
	uint32_t outcap;
	uint32_t outlen;
	struct np_msg out;
	int err;             /* 0 or -errno; nonzero -> Rlerror */
	struct fid *fid;     /* references held while the request runs */
	struct fid *fid2;
	struct fid *newfid;  /* created by walk/xattrwalk, installed when done */
	int open_fd;         /* Tlopen's new descriptor, installed when done */
	struct cred cred;    /* the credentials its work runs with */
	struct owner owner;  /* whose its creations are (dispatch.c fills both) */
	uint64_t lock_retry_at; /* uv_now() time of the next Tlock try */
	uint32_t lock_wait_ms;
	uint32_t charge;     /* bytes counted against the connection's limit */
	struct req *flushers; /* Tflush requests waiting for this one */
	atomic_bool direct;   /* a worker sent the reply (req_reply_from_worker) */
	uint32_t direct_sent; /* ... but only these first bytes: the loop sends the rest */
	uint32_t piped;      /* the Rread payload's first bytes, in splice_fd and not
			      * in outbuf (req_read_splice; req_reply_from_worker
			      * empties it) */
	int splice_fd[2];    /* the pipe of a spliced read, or -1 (worker only) */
	struct req *tnext;   /* tag hash chain */
	struct req *qnext;   /* send queue / free list / lock-wait list */
};

/* Make r->outbuf hold at least size bytes; 0 or -ENOMEM.  Worker-safe.
 * Its content is not kept. */
int req_out_reserve(struct req *r, uint32_t size);
/* Worker: reads count bytes of fd at off for an Rread without copying
 * them, into a pipe of its own (r->splice_fd), when the reply is likely to be written by
 * this worker (a large read, alone on its connection): the first r->piped
 * bytes of the payload are in the pipe, any more (past the pipe's room)
 * in outbuf, which must hold the whole reply already.  Bytes read, or
 * -EAGAIN when not done this way (the caller preads), or -errno. */
ssize_t req_read_splice(struct req *r, int fd, uint64_t off, uint32_t count);
/* Worker: closes the pipe of a spliced read (r->splice_fd; no-op without
 * one): its reply is out, or what it held is lost. */
void req_splice_close(struct req *r);
/* Gives a large outbuf back to the pool; outbuf is outsmall again. */
void req_out_release(struct req *r);

#endif
