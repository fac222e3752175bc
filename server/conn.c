/* Client connections and the request lifecycle (conn.h): framing,
 * Tversion and Tflush, batched replies, backpressure, blocking-lock waits
 * and waits for an export's bps/iops limits.  Loop thread only, except
 * req_reply_from_worker(), which a worker calls on its own request.
 *
 * A request's life: read_cb copies a whole frame into a request, decodes
 * it and registers its tag; Tversion and Tflush are served here, every
 * other request goes through dispatch_prep() (the contract) and is
 * answered at once or queued for the workers (dispatch_work()), then
 * dispatch_done() on the loop; req_complete() takes the encoded reply,
 * removes the tag and appends the reply to the send queue, followed by the
 * Rflush of any Tflush that waited for it; the check handle writes every
 * queued reply of the loop iteration in one writev; the write callback
 * recycles the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/dispatch.h"
#include "server/log.h"
#include "server/trace.h"

/* Backpressure: stop reading from a client past either limit, so a client
 * that does not read its replies cannot make the daemon buffer without
 * bound.  The byte limit counts every live request's frame and the reply
 * buffer a read will need (a request is charged when it is taken, and
 * uncharged when its reply has been written), so at most about
 * CONN_MAX_CHARGED + msize bytes are held per connection.  Reading resumes
 * once replies drain. */
#define CONN_MAX_INFLIGHT 256
#define CONN_MAX_CHARGED (16u << 20)
#define CONN_RBUF_INITIAL (64u << 10)
#define CONN_MAX_FREE_REQS 64
#define REQ_KEEP_INBUF (64u << 10)
#define WRITE_BATCH 128
#define LARGE_FRAME (128u << 10)

/* Idle large reply buffers kept for the next requests (bufpool.h): the
 * replies of 64 reads of 1 MiB, four connections at depth 16; all are
 * given back after a second or two in which no large reply was made. */
#define HUB_MAX_IDLE_BUFS (64u << 20)
#define HUB_BUFS_TICK_MS 1000

/* A worker sending a spliced read's reply waits at most this long at a
 * time for the client to make room, then leaves the rest to the loop. */
#define DIRECT_WAIT_MS 20

#define LOCK_RETRY_MS 10
#define LOCK_RETRY_MAX_MS 200

static void conn_process(struct conn *c);
static void conn_maybe_end(struct conn *c);
static void conn_end_of_input(struct conn *c);
static void conn_unref(struct conn *c);
static void handle_req(struct conn *c, struct req *r, uint32_t size);
static void req_complete(struct req *r);
static void hub_check_idle(struct conn_hub *h);

struct write_ctx {
	uv_write_t w;
	struct conn *conn;
	size_t bytes;
	struct req *reqs;
};

static uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->hub->dirty;
	c->hub->dirty = c;
}

/* ---- requests ---- */


static struct req *req_alloc(struct conn *c, uint32_t insize)
{
	struct req *r = c->free_reqs;
	if (r) {
		c->free_reqs = r->qnext;
		c->nfree--;
	} else {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
		r->outsmall = malloc(REQ_SMALL_OUT);
		if (!r->outsmall) {
			free(r);
			return NULL;
		}
	}
	if (r->incap < insize) {
		uint32_t cap = insize < 8192 ? 8192 : insize;
		uint8_t *b = realloc(r->inbuf, cap);
		if (!b) {
			r->qnext = c->free_reqs;
			c->free_reqs = r;
			c->nfree++;
			return NULL;
		}
		r->inbuf = b;
		r->incap = cap;
	}
	r->conn = c;
	r->snap = cfg_snapshot_ref(c->hub->snap);
	r->open_fd = -1;
	r->splice_fd[0] = r->splice_fd[1] = -1;
	r->outbuf = r->outsmall;
	r->outcap = REQ_SMALL_OUT;
	c->refs++;
	return r;
}

/* Drops everything a finished request holds and recycles it. */
static void req_release(struct req *r)
{
	struct conn *c = r->conn;
	c->charged -= r->charge;
	fid_unref(r->fid);
	fid_unref(r->fid2);
	fid_unref(r->newfid);
	if (r->open_fd >= 0)
		close(r->open_fd);
	cfg_snapshot_unref(r->snap);
	req_out_release(r);
	uint8_t *inbuf = r->inbuf, *outsmall = r->outsmall;
	uint32_t incap = r->incap;
	if (incap > REQ_KEEP_INBUF) {
		free(inbuf);
		inbuf = NULL;
		incap = 0;
	}
	memset(r, 0, sizeof *r);
	r->inbuf = inbuf;
	r->incap = incap;
	r->outsmall = outsmall;
	if (c->nfree < CONN_MAX_FREE_REQS) {
		r->qnext = c->free_reqs;
		c->free_reqs = r;
		c->nfree++;
	} else {
		free(r->inbuf);
		free(r->outsmall);
		free(r);
	}
	conn_unref(c);
}

static struct req **tag_slot(struct conn *c, uint16_t tag)
{
	struct req **pp = &c->tags[tag % CONN_TAG_BUCKETS];
	while (*pp && (*pp)->in.tag != tag)
		pp = &(*pp)->tnext;
	return pp;
}

static void tag_remove(struct conn *c, struct req *r)
{
	struct req **pp = tag_slot(c, r->in.tag);
	if (*pp == r) {
		*pp = r->tnext;
		r->tnext = NULL;
	}
}

/* ---- blocking locks ---- */

static void req_queue_work(struct req *r);

static void lock_timer_cb(uv_timer_t *t)
{
	struct conn_hub *h = t->data;
	uint64_t now = uv_now(h->loop);
	struct req **pp = &h->lock_waiters;
	while (*pp) {
		struct req *r = *pp;
		if (r->lock_retry_at <= now) {
			*pp = r->qnext;
			r->qnext = NULL;
			req_queue_work(r); /* try the lock again */
		} else {
			pp = &r->qnext;
		}
	}
	if (!h->lock_waiters)
		uv_timer_stop(t);
}

/* A blocking Tlock found the range taken: try again later, backing off
 * from 10 to 200 ms, on the loop (no worker is held while it waits). */
static void lock_wait(struct req *r)
{
	struct conn_hub *h = r->conn->hub;
	r->state = REQ_LOCKWAIT;
	r->lock_wait_ms = r->lock_wait_ms ? r->lock_wait_ms * 2 : LOCK_RETRY_MS;
	if (r->lock_wait_ms > LOCK_RETRY_MAX_MS)
		r->lock_wait_ms = LOCK_RETRY_MAX_MS;
	r->lock_retry_at = uv_now(h->loop) + r->lock_wait_ms;
	r->qnext = h->lock_waiters;
	h->lock_waiters = r;
	if (!uv_is_active((uv_handle_t *)&h->lock_timer))
		uv_timer_start(&h->lock_timer, lock_timer_cb, LOCK_RETRY_MS, LOCK_RETRY_MS);
}

static void lock_unwait(struct req *r)
{
	for (struct req **pp = &r->conn->hub->lock_waiters; *pp; pp = &(*pp)->qnext) {
		if (*pp == r) {
			*pp = r->qnext;
			r->qnext = NULL;
			break;
		}
	}
}

/* Ends a blocking Tlock's wait: answered BLOCKED (the client may retry),
 * or with no answer at all. */
static void end_lock_wait(struct req *r, bool answer)
{
	lock_unwait(r);
	if (answer)
		r->out.u.rlock.status = NP_LOCK_BLOCKED;
	else
		r->flushed = true;
	req_complete(r);
}

/* ---- throttled requests (export.h: bps/iops limits) ---- */

/* Takes r out of its export's queue of requests waiting for the limits. */
static void throttle_unwait(struct req *r)
{
	struct export *e = r->fid->exp;
	struct req *prev = NULL;
	for (struct req *q = e->throttle_head; q; prev = q, q = q->qnext) {
		if (q != r)
			continue;
		if (prev)
			prev->qnext = r->qnext;
		else
			e->throttle_head = r->qnext;
		if (e->throttle_tail == r)
			e->throttle_tail = prev;
		r->qnext = NULL;
		return;
	}
}

static void throttle_timer_cb(uv_timer_t *t);

/* Runs what the limits admit now, oldest first per export, and sets the
 * timer for the earliest export that must wait; with `all`, runs everything
 * (shutdown: nobody waits for the limits any more). */
static void throttle_run(struct conn_hub *h, bool all)
{
	uint64_t now = uv_hrtime(), soonest = 0;
	for (size_t i = 0; i < h->nexports; i++) {
		struct export *e = h->exports[i];
		while (e->throttle_head) {
			struct req *r = e->throttle_head;
			int dir;
			uint64_t bytes, wait = 0;
			if (!all && dispatch_throttled(r, &dir, &bytes))
				wait = throttle_admit(&e->throttle, dir, bytes, now);
			if (wait) {
				soonest = !soonest || wait < soonest ? wait : soonest;
				break;
			}
			e->throttle_head = r->qnext;
			if (!e->throttle_head)
				e->throttle_tail = NULL;
			r->qnext = NULL;
			req_queue_work(r);
		}
	}
	if (soonest)
		uv_timer_start(&h->throttle_timer, throttle_timer_cb, throttle_wait_ms(soonest), 0);
}

static void throttle_timer_cb(uv_timer_t *t)
{
	throttle_run(t->data, false);
}

/* A request that has passed its checks runs now, or waits for its
 * export's limits behind the ones that wait already (on the loop's timer:
 * no worker is held). */
static void req_start_work(struct req *r)
{
	int dir;
	uint64_t bytes, wait = 1000000; /* behind others: the timer is set */
	if (!dispatch_throttled(r, &dir, &bytes)) {
		req_queue_work(r);
		return;
	}
	struct export *e = r->fid->exp;
	if (!e->throttle_head &&
	    (wait = throttle_admit(&e->throttle, dir, bytes, uv_hrtime())) == 0) {
		req_queue_work(r);
		return;
	}
	r->state = REQ_THROTTLED;
	r->qnext = NULL;
	if (e->throttle_tail)
		e->throttle_tail->qnext = r;
	else
		e->throttle_head = r;
	e->throttle_tail = r;
	struct conn_hub *h = r->conn->hub;
	if (!uv_is_active((uv_handle_t *)&h->throttle_timer))
		uv_timer_start(&h->throttle_timer, throttle_timer_cb, throttle_wait_ms(wait), 0);
}

/* Stops a request that has not started running: queued work is cancelled
 * (req_done_cb completes it), a lock wait or a wait for the limits ends
 * now; either way it gets no reply.  A running request is left to finish. */
static void req_cancel(struct req *r)
{
	switch (r->state) {
	case REQ_QUEUED:
		if (workq_cancel(r->conn->hub->workq, &r->work) == 0)
			r->flushed = true;
		break;
	case REQ_LOCKWAIT:
		end_lock_wait(r, false);
		break;
	case REQ_THROTTLED:
		throttle_unwait(r);
		r->flushed = true;
		req_complete(r);
		break;
	default:
		break;
	}
}

/* Tversion: every other request of the old session loses its tag (the
 * client may reuse it at once) and its reply; queued work is cancelled and
 * lock waits end. */
static void conn_abort_requests(struct conn *c, struct req *keep)
{
	for (unsigned i = 0; i < CONN_TAG_BUCKETS; i++) {
		struct req *r = c->tags[i];
		c->tags[i] = NULL;
		while (r) {
			struct req *next = r->tnext;
			r->tnext = NULL;
			if (r == keep) {
				r->tnext = c->tags[i];
				c->tags[i] = r;
			} else {
				r->flushed = true;
				req_cancel(r);
			}
			r = next;
		}
	}
}

static struct req *conn_find_tag(struct conn *c, uint16_t tag)
{
	return *tag_slot(c, tag);
}

static void sendq_push(struct conn *c, struct req *r)
{
	r->qnext = NULL;
	pthread_mutex_lock(&c->wlock);
	if (c->sendq_tail)
		c->sendq_tail->qnext = r;
	else
		c->sendq_head = r;
	c->sendq_tail = r;
	c->sendq_len++;
	pthread_mutex_unlock(&c->wlock);
	mark_dirty(c);
}

/* The rest of a reply a worker began to send goes out before anything
 * else, and then the connection may send again. */
static void sendq_push_rest(struct conn *c, struct req *r)
{
	memmove(r->outbuf, r->outbuf + r->direct_sent, r->outlen - r->direct_sent);
	r->outlen -= r->direct_sent;
	r->direct_sent = 0;
	pthread_mutex_lock(&c->wlock);
	r->qnext = c->sendq_head;
	c->sendq_head = r;
	if (!c->sendq_tail)
		c->sendq_tail = r;
	c->sendq_len++;
	c->direct_partial = false;
	pthread_mutex_unlock(&c->wlock);
	mark_dirty(c);
}

static void encode_reply(struct req *r)
{
	if (r->outlen)
		return; /* the worker encoded in place (Rread, Rreaddir) */
	struct np_msg *m = &r->out;
	m->tag = r->in.tag;
	if (r->err) {
		m->type = NP_RLERROR;
		m->u.rlerror.ecode = (uint32_t)-r->err;
	} else {
		m->type = (uint8_t)(r->in.type + 1);
	}
	int n = np_encode(m, r->outbuf, r->outcap);
	if (n < 0) {
		/* A reply that cannot be encoded is a server bug; the client still
		 * gets an answer for its tag. */
		log_error("client %llu: cannot encode %s: %s", (unsigned long long)r->conn->id,
			  np_type_name(m->type), np_status_str(n));
		m->type = NP_RLERROR;
		m->u.rlerror.ecode = EIO;
		n = np_encode(m, r->outbuf, r->outcap);
	}
	r->outlen = (uint32_t)n;
}

static void req_complete(struct req *r)
{
	struct conn *c = r->conn;
	c->refs++; /* r may be the last request holding c */
	tag_remove(c, r);
	/* Workers read it (req_reply_from_worker); only this thread writes. */
	__atomic_store_n(&c->inflight, c->inflight - 1, __ATOMIC_RELAXED);
	r->state = REQ_DONE;
	struct req *flushers = r->flushers;
	r->flushers = NULL;
	bool drop = r->flushed || c->closing || r->generation != c->generation;
	if (r->direct) {
		/* A worker sent it (req_reply_from_worker), all or its start. */
		if (!r->direct_sent)
			__atomic_sub_fetch(&c->answered, 1, __ATOMIC_RELAXED);
		if (r->direct_sent && !c->closing) {
			sendq_push_rest(c, r);
		} else {
			if (r->direct_sent) {
				pthread_mutex_lock(&c->wlock);
				c->direct_partial = false;
				pthread_mutex_unlock(&c->wlock);
			}
			req_release(r);
			if (c->sendq_head) /* replies queued while it was being sent */
				mark_dirty(c);
		}
	} else if (drop) {
		req_release(r);
	} else {
		encode_reply(r);
		if (r->snap->cfg->trace) {
			struct np_msg m;
			if (np_decode(r->outbuf, r->outlen, UINT32_MAX, &m) == 0)
				trace_msg(c->id, &m, true);
		}
		sendq_push(c, r);
	}
	/* Each Rflush goes out after the reply it waited for (if any). */
	while (flushers) {
		struct req *f = flushers;
		flushers = f->flushers;
		f->flushers = NULL;
		req_complete(f);
	}
	if (!c->closing && !c->reading)
		conn_process(c);
	struct conn_hub *h = c->hub;
	conn_unref(c);
	hub_check_idle(h);
}

/* ---- worker threads ---- */

bool conn_alone_in_flight(const struct req *r)
{
	const struct conn *c = r->conn;
	return __atomic_load_n(&c->inflight, __ATOMIC_RELAXED) -
		       __atomic_load_n(&c->answered, __ATOMIC_RELAXED) <=
	       1;
}

static struct req *work_req(struct workq_item *it)
{
	return (struct req *)((char *)it - offsetof(struct req, work));
}

/* Worker: the payload of a spliced read (r->piped bytes in its pipe) into
 * outbuf + at, where a pread would have put it: the reply is
 * sent from outbuf after all.  False if the pipe gave less (it cannot). */
static bool piped_to_outbuf(struct req *r, uint32_t at)
{
	int in = r->splice_fd[0];
	uint32_t done = 0;
	while (done < r->piped) {
		ssize_t n = read(in, r->outbuf + at + done, r->piped - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint32_t)n;
	}
	bool whole = done == r->piped;
	r->piped = 0;
	return whole;
}

/* Worker, under wlock, the reply's writer (r->direct): sends the header
 * from outbuf and the payload from the pipe straight into the socket
 * (splice: no copy through user space), sleeping in poll() without the
 * lock while the client makes room (direct_partial keeps every other
 * writer away).  A client that makes no room for DIRECT_WAIT_MS, or a
 * failure, leaves the rest to the loop: what is still in the pipe goes to
 * outbuf, direct_sent says how much went out. */
static void reply_splice_from_worker(struct conn *c, struct req *r)
{
	int in = r->splice_fd[0];
	uint32_t sent = 0, total = r->outlen, pipe_end = NP_IOHDRSZ + r->piped;
	bool waited = false;
	for (;;) {
		ssize_t n;
		if (sent < NP_IOHDRSZ)
			n = write(c->out_fd, r->outbuf + sent, NP_IOHDRSZ - sent);
		else if (sent < pipe_end)
			n = splice(in, NULL, c->out_fd, NULL, pipe_end - sent,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		else
			n = write(c->out_fd, r->outbuf + sent, total - sent);
		if (n > 0) {
			sent += (uint32_t)n;
			if (sent == total)
				break;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break; /* the loop's write fails the same way and closes */
		if (errno == EINTR)
			continue;
		if (sent == 0 && !waited)
			break; /* the socket is full: all of it to the loop */
		c->direct_partial = true;
		r->direct_sent = sent; /* not out whole (handle_req) */
		pthread_mutex_unlock(&c->wlock);
		struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};
		int rc = poll(&p, 1, DIRECT_WAIT_MS);
		pthread_mutex_lock(&c->wlock);
		waited = true;
		if (rc <= 0 || c->closing) /* closing: the descriptor may be reused */
			break;
	}
	uint32_t from = sent > NP_IOHDRSZ ? sent : NP_IOHDRSZ;
	r->piped = from < pipe_end ? pipe_end - from : 0;
	if (!piped_to_outbuf(r, from) && sent) {
		/* Half a reply is out and the rest is lost: the stream cannot
		 * go on, and the loop closes the connection when it sees it. */
		shutdown(c->out_fd, SHUT_RDWR);
		sent = total;
	}
	if (sent == 0) {
		atomic_store_explicit(&r->direct, false, memory_order_relaxed);
		c->direct_partial = false;
	} else if (sent < total) {
		r->direct_sent = sent;
		c->direct_partial = true;
	} else {
		r->direct_sent = 0;
		c->direct_partial = false;
		__atomic_add_fetch(&c->answered, 1, __ATOMIC_RELAXED);
	}
}

/* Worker thread, right after the work: when the reply is final already
 * (no done step on the loop), it is the connection's only request in
 * flight and nothing else is being sent, the worker writes it itself, so
 * that a lone request does not wait for the loop thread to wake up before
 * its reply leaves.  The loop still gets the request back for its
 * bookkeeping (tag, flushers, release); a short write leaves the rest to
 * it, in front of everything else.  Only under
 * wlock, which the loop holds wherever it changes what is checked here,
 * and never after conn_close (the descriptor may be reused).  A spliced
 * read's payload (r->piped) leaves this function in outbuf unless this
 * worker sent it. */
static void req_reply_from_worker(struct req *r)
{
	struct conn *c = r->conn;
	/* Alone in flight only: with others, the loop's one writev for many
	 * replies costs less than a write per reply (measured: getattr q16
	 * 0.73x, randread4k q16 0.45x when every worker wrote its own).  A
	 * spliced read counts answered requests out (conn_alone_in_flight):
	 * measured, msize 64k reads at q=1 1.10x; small replies are not
	 * (getattr and randread4k q=1 0.98x and 0.99x, 10 % more CPU). */
	if (c->out_fd < 0 || r->snap->cfg->trace || !dispatch_reply_is_final(r) ||
	    (r->piped ? !conn_alone_in_flight(r)
		      : __atomic_load_n(&c->inflight, __ATOMIC_RELAXED) != 1)) {
		if (r->piped && !piped_to_outbuf(r, NP_IOHDRSZ))
			r->err = -EIO;
		req_splice_close(r);
		return;
	}
	pthread_mutex_lock(&c->wlock);
	if (!c->closing && r->generation == c->generation && !c->sendq_head &&
	    c->write_bytes == 0 && !c->direct_partial) {
		if (r->err)
			r->outlen = 0; /* as req_done_cb: Rlerror replaces an in-place reply */
		encode_reply(r);
		/* Marked before the write: the client may reuse the tag as soon
		 * as the reply reaches it, and the loop must then wait for this
		 * request rather than call it a tag reused in flight. */
		atomic_store_explicit(&r->direct, true, memory_order_release);
		if (r->piped && !r->err) {
			reply_splice_from_worker(c, r);
		} else {
			ssize_t n = write(c->out_fd, r->outbuf, r->outlen);
			if (n <= 0)
				atomic_store_explicit(&r->direct, false, memory_order_relaxed);
			else if ((uint32_t)n < r->outlen) {
				r->direct_sent = (uint32_t)n;
				c->direct_partial = true;
			} else {
				__atomic_add_fetch(&c->answered, 1, __ATOMIC_RELAXED);
			}
		}
	}
	pthread_mutex_unlock(&c->wlock);
	if (r->piped && !piped_to_outbuf(r, NP_IOHDRSZ))
		r->err = -EIO;
	req_splice_close(r);
}

static void req_work_cb(struct workq_item *it)
{
	struct req *r = work_req(it);
	dispatch_work(r);
	req_reply_from_worker(r);
}

static void req_done_cb(struct workq_item *it, int status)
{
	struct req *r = work_req(it);
	r->conn->hub->working--;
	if (status == -ECANCELED) {
		r->flushed = true;
		r->err = -ECANCELED; /* dispatch_done undoes what prep began */
	}
	if (r->err && !r->direct)
		r->outlen = 0; /* an in-place reply is replaced by Rlerror */
	int dir;
	uint64_t asked;
	if (r->in.type == NP_TREAD && !r->err && dispatch_throttled(r, &dir, &asked) &&
	    r->out.u.rread.count < asked) /* a short read pays for what it moved */
		throttle_refund(&r->fid->exp->throttle, dir, asked - r->out.u.rread.count);
	if (dispatch_done(r) == DISPATCH_WAIT)
		lock_wait(r);
	else
		req_complete(r);
}

static void req_queue_work(struct req *r)
{
	r->state = REQ_QUEUED;
	r->conn->hub->working++;
	workq_submit(r->conn->hub->workq, &r->conn->group, &r->work);
}

/* Tflush: answer after oldtag's reply, or cancel oldtag if it has not
 * started (queued for a worker, or waiting to retry a lock). */
static void conn_flush(struct req *f, uint16_t oldtag)
{
	struct conn *c = f->conn;
	struct req *t = conn_find_tag(c, oldtag);
	if (!t || t == f) {
		req_complete(f);
		return;
	}
	f->flushers = t->flushers;
	t->flushers = f;
	req_cancel(t);
}

/* Tversion: a new session.  Every fid goes, replies of older requests are
 * dropped (their generation no longer matches); a dialect other than
 * 9P2000.L is answered "unknown" and leaves the connection unversioned. */
static void session_version(struct req *r)
{
	struct conn *c = r->conn;
	uint32_t max = r->snap->cfg->max_msize;
	uint32_t msize = r->in.u.tversion.msize < max ? r->in.u.tversion.msize : max;
	if (msize < NP_MIN_MSIZE) {
		log_warn("client %llu: Tversion msize %u below the minimum %u",
			 (unsigned long long)c->id, r->in.u.tversion.msize, NP_MIN_MSIZE);
		r->err = -EINVAL;
		req_complete(r);
		return;
	}
	conn_abort_requests(c, r);
	fid_table_free(&c->fids);
	pthread_mutex_lock(&c->wlock); /* workers compare it before sending */
	c->generation++;
	pthread_mutex_unlock(&c->wlock);
	r->generation = c->generation;
	c->msize = msize;
	const struct np_str *v = &r->in.u.tversion.version;
	bool ours = v->len == strlen(NP_VERSION_9P2000L) &&
		    !memcmp(v->s, NP_VERSION_9P2000L, v->len);
	c->versioned = ours;
	r->out.u.rversion.msize = msize;
	r->out.u.rversion.version = np_str_c(ours ? NP_VERSION_9P2000L : "unknown");
	req_complete(r);
}

/* A decoded request: the session's own (Tversion, Tflush) here, every
 * other through the contract (dispatch.h). */
static void request_start(struct req *r)
{
	if (r->in.type == NP_TVERSION) {
		session_version(r);
		return;
	}
	if (!r->conn->versioned) {
		r->err = -EPROTO; /* Tversion must come first */
		req_complete(r);
		return;
	}
	if (r->in.type == NP_TFLUSH) {
		conn_flush(r, r->in.u.tflush.oldtag);
		return;
	}
	if (dispatch_prep(r) == DISPATCH_WORK)
		req_start_work(r);
	else
		req_complete(r);
}

/* ---- writing ---- */

static void write_done(struct write_ctx *ctx, int status)
{
	struct conn *c = ctx->conn;
	pthread_mutex_lock(&c->wlock);
	c->write_bytes -= ctx->bytes;
	pthread_mutex_unlock(&c->wlock);
	struct req *r = ctx->reqs;
	while (r) {
		struct req *next = r->qnext;
		req_release(r);
		r = next;
	}
	if (status < 0 && status != UV_ECANCELED && !c->closing) {
		log_info("client %llu: write failed: %s", (unsigned long long)c->id,
			 uv_strerror(status));
		conn_close(c);
	}
	if (!c->closing && !c->reading)
		conn_process(c);
}

static void write_cb(uv_write_t *w, int status)
{
	struct write_ctx *ctx = w->data;
	struct conn *c = ctx->conn;
	write_done(ctx, status);
	free(ctx);
	conn_unref(c);
}

/* Writes one batch of queued replies: one writev when the socket takes it
 * all (the common case), a uv_write for any remainder.  False if nothing
 * may be sent now (a worker's reply is half sent). */
static bool conn_send_batch(struct conn *c)
{
	uv_buf_t bufs[WRITE_BATCH];
	unsigned n = 0;
	size_t total = 0;
	pthread_mutex_lock(&c->wlock);
	if (c->direct_partial) {
		pthread_mutex_unlock(&c->wlock);
		return false;
	}
	struct write_ctx local = {.conn = c, .reqs = c->sendq_head};
	struct req *last = NULL;
	for (struct req *r = c->sendq_head; r && n < WRITE_BATCH; r = r->qnext) {
		bufs[n++] = uv_buf_init((char *)r->outbuf, r->outlen);
		total += r->outlen;
		last = r;
	}
	c->sendq_head = last->qnext;
	if (!c->sendq_head)
		c->sendq_tail = NULL;
	c->sendq_len -= n;
	last->qnext = NULL;
	local.bytes = total;
	c->write_bytes += total;
	/* Under wlock: a worker must not write between the two. */
	int wrote = uv_try_write(c->out, bufs, n);
	pthread_mutex_unlock(&c->wlock);
	if (wrote == (int)total || (wrote < 0 && wrote != UV_EAGAIN && wrote != UV_ENOSYS)) {
		write_done(&local, wrote < 0 ? wrote : 0);
		return true;
	}
	/* The socket is full: hand the rest to libuv, which keeps the
	 * buffers (owned by the requests) until write_cb. */
	struct write_ctx *ctx = malloc(sizeof *ctx);
	if (!ctx) {
		write_done(&local, UV_ENOMEM);
		return true;
	}
	*ctx = local;
	unsigned first = 0;
	size_t skip = wrote > 0 ? (size_t)wrote : 0;
	while (skip && skip >= bufs[first].len)
		skip -= bufs[first++].len;
	bufs[first].base += skip;
	bufs[first].len -= skip;
	ctx->w.data = ctx;
	c->refs++;
	int rc = uv_write(&ctx->w, c->out, bufs + first, n - first, write_cb);
	if (rc) {
		write_done(ctx, rc);
		free(ctx);
		conn_unref(c);
	}
	return true;
}

void conn_hub_flush(struct conn_hub *h)
{
	while (h->dirty) {
		struct conn *c = h->dirty;
		h->dirty = c->dirty_next;
		c->dirty = false;
		c->refs++;
		while (c->sendq_head && !c->closing && conn_send_batch(c))
			;
		conn_unref(c);
	}
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	if (c->partial) {
		*buf = uv_buf_init((char *)c->partial->inbuf + c->partial_len,
				   c->partial_size - c->partial_len);
		return;
	}
	if (c->rcap == c->rlen) {
		/* conn_process grows rbuf to the pending frame's size, so a full
		 * buffer here means a frame larger than the buffer is arriving. */
		uint32_t cap = c->rcap ? c->rcap * 2 : CONN_RBUF_INITIAL;
		uint8_t *b = realloc(c->rbuf, cap);
		if (!b) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->rbuf = b;
		c->rcap = cap;
	}
	*buf = uv_buf_init((char *)c->rbuf + c->rlen, c->rcap - c->rlen);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct conn *c = s->data;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_info("client %llu: read failed: %s", (unsigned long long)c->id,
				 uv_strerror((int)nread));
		else
			log_debug("client %llu: disconnected", (unsigned long long)c->id);
		if (nread == UV_EOF)
			conn_end_of_input(c);
		else
			conn_close(c);
		return;
	}
	if (c->partial) {
		c->partial_len += (uint32_t)nread;
		if (c->partial_len < c->partial_size)
			return;
		struct req *r = c->partial;
		c->partial = NULL;
		c->refs++;
		handle_req(c, r, c->partial_size);
		if (!c->closing)
			conn_process(c);
		conn_unref(c);
		return;
	}
	c->rlen += (uint32_t)nread;
	conn_process(c);
}

static bool conn_can_accept(const struct conn *c)
{
	return c->inflight < CONN_MAX_INFLIGHT && c->charged < CONN_MAX_CHARGED &&
	       !c->hub->stopping;
}

static void conn_set_reading(struct conn *c, bool on)
{
	if (c->closing || c->reading == on || (on && c->eof))
		return;
	if (on) {
		if (uv_read_start(c->in, alloc_cb, read_cb) == 0)
			c->reading = true;
	} else {
		uv_read_stop(c->in);
		c->reading = false;
	}
}

static void reply_protocol_error(struct req *r, int err)
{
	r->err = err;
	req_complete(r);
}

/* Registers and dispatches a request whose frame is complete in r->inbuf. */
static void handle_req(struct conn *c, struct req *r, uint32_t size)
{
	uint16_t tag = get_le16(r->inbuf + 5);
	uint8_t type = r->inbuf[4];
	struct req *old = conn_find_tag(c, tag);
	if (old && atomic_load_explicit(&old->direct, memory_order_acquire)) {
		/* A worker has written its reply, and the client reused the tag
		 * at once (Linux does) before the loop heard back: the tag is the
		 * client's again.  The old request leaves the tag table now and
		 * is finished when the worker hands it back (req_complete's
		 * tag_remove then finds the new one, not it).  Its reply must be
		 * out whole: its worker sets direct_sent under wlock while the
		 * reply is only partly written (the client cannot have read it:
		 * a tag reused in flight).  Nothing waits, nothing spins. */
		pthread_mutex_lock(&c->wlock);
		bool out = atomic_load_explicit(&old->direct, memory_order_relaxed) &&
			   old->direct_sent == 0;
		pthread_mutex_unlock(&c->wlock);
		if (out)
			tag_remove(c, old);
	}
	if (conn_find_tag(c, tag)) {
		log_warn("client %llu: tag %u reused while in flight; closing",
			 (unsigned long long)c->id, tag);
		req_release(r);
		conn_close(c);
		return;
	}
	r->generation = c->generation;
	r->in.tag = tag;
	r->in.type = type;
	struct req **slot = tag_slot(c, tag);
	*slot = r;
	__atomic_store_n(&c->inflight, c->inflight + 1, __ATOMIC_RELAXED);

	int rc = np_decode(r->inbuf, size, c->msize, &r->in);
	r->charge = size;
	if (rc == 0 && (type == NP_TREAD || type == NP_TREADDIR)) {
		uint32_t max = np_max_io(c->msize);
		r->charge += r->in.u.tread.count < max ? r->in.u.tread.count : max;
	}
	c->charged += r->charge;
	if (rc < 0) {
		const char *name = np_type_name(type);
		log_warn("client %llu: malformed %s (type %u, tag %u): %s",
			 (unsigned long long)c->id, name ? name : "message", type, tag,
			 np_status_str(rc));
		r->in.tag = tag;
		r->in.type = type;
		reply_protocol_error(r, -EPROTO);
		return;
	}
	if (!np_is_request(type)) {
		log_warn("client %llu: %s is not a request (tag %u)", (unsigned long long)c->id,
			 np_type_name(type), tag);
		reply_protocol_error(r, -EPROTO);
		return;
	}
	if (r->snap->cfg->trace)
		trace_msg(c->id, &r->in, false);
	request_start(r);
}

static void handle_frame(struct conn *c, const uint8_t *frame, uint32_t size)
{
	struct req *r = req_alloc(c, size);
	if (!r) {
		log_error("client %llu: out of memory; closing", (unsigned long long)c->id);
		conn_close(c);
		return;
	}
	memcpy(r->inbuf, frame, size);
	handle_req(c, r, size);
}

/* Frames and dispatches every complete message in rbuf, as far as the
 * backpressure limits allow, then starts or stops reading accordingly. */
static void conn_process(struct conn *c)
{
	/* Requests answered at once complete inside handle_frame and call back
	 * here: the outer call owns rbuf and its offset, and its loop already
	 * re-checks the limits after every frame. */
	if (c->processing)
		return;
	c->processing = true;
	uint32_t off = 0;
	c->refs++;
	while (!c->closing && !c->partial && conn_can_accept(c)) {
		uint32_t avail = c->rlen - off;
		int size = np_frame_size(c->rbuf + off, avail, c->msize);
		if (size == NP_E_SHORT)
			break;
		if (size < 0) {
			log_warn("client %llu: bad frame size %u (msize %u); closing",
				 (unsigned long long)c->id,
				 avail >= 4 ? (unsigned)(c->rbuf[off] | c->rbuf[off + 1] << 8 |
							 c->rbuf[off + 2] << 16 |
							 (uint32_t)c->rbuf[off + 3] << 24)
					    : 0,
				 c->msize);
			conn_close(c);
			break;
		}
		if (avail < (uint32_t)size) {
			if ((uint32_t)size >= LARGE_FRAME) {
				/* A large frame (a big Twrite): the rest is read straight
				 * into its request's buffer, so the data is not copied
				 * again on its way to pwrite. */
				struct req *r = req_alloc(c, (uint32_t)size);
				if (!r) {
					conn_close(c);
					break;
				}
				memcpy(r->inbuf, c->rbuf + off, avail);
				c->partial = r;
				c->partial_len = avail;
				c->partial_size = (uint32_t)size;
				off += avail;
				break;
			}
			if ((uint32_t)size > c->rcap) {
				memmove(c->rbuf, c->rbuf + off, avail);
				c->rlen = avail;
				off = 0;
				uint8_t *b = realloc(c->rbuf, (size_t)size);
				if (!b) {
					conn_close(c);
					break;
				}
				c->rbuf = b;
				c->rcap = (uint32_t)size;
			}
			break;
		}
		handle_frame(c, c->rbuf + off, (uint32_t)size);
		off += (uint32_t)size;
	}
	if (off && !c->closing) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	conn_set_reading(c, !c->closing && conn_can_accept(c));
	c->processing = false;
	conn_maybe_end(c);
	conn_unref(c);
}

/* After end of input: the connection closes once every request it sent has
 * been answered and every reply written (what is left in rbuf is then a
 * frame the client never finished). */
static void conn_maybe_end(struct conn *c)
{
	if (c->eof && !c->closing && !c->processing && c->inflight == 0 && !c->sendq_head &&
	    c->write_bytes == 0)
		conn_close(c);
}

/* The client shut its sending side (shutdown(SHUT_WR), or stdin of -l stdio
 * reached its end).  Every whole request it sent is still served and
 * answered, as a client that sends a batch and then half-closes expects; a
 * frame cut short is dropped, and a blocking lock that waits (or starts
 * waiting later: done_lock) is answered BLOCKED at once, as at shutdown,
 * since nobody is left to Tflush it. */
static void conn_end_of_input(struct conn *c)
{
	c->eof = true;
	conn_set_reading(c, false);
	if (c->partial) {
		req_release(c->partial);
		c->partial = NULL;
	}
	c->processing = true; /* no framing and no close while the tags change */
	for (unsigned i = 0; i < CONN_TAG_BUCKETS; i++) {
		for (struct req *r = c->tags[i]; r;) {
			struct req *next = r->tnext;
			if (r->state == REQ_LOCKWAIT)
				end_lock_wait(r, true);
			r = next;
		}
	}
	c->processing = false;
	conn_process(c);
}

/* ---- lifecycle ---- */

struct conn *conn_new(struct conn_hub *h)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->hub = h;
	c->id = ++h->next_conn_id;
	c->refs = 1;
	c->msize = h->snap->cfg->max_msize;
	c->out_fd = -1;
	pthread_mutex_init(&c->wlock, NULL);
	fid_table_init(&c->fids, &h->fid_pool);
	workq_group_init(h->workq, &c->group);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	return c;
}

int conn_start(struct conn *c)
{
	c->in->data = c;
	c->out->data = c;
	c->rbuf = malloc(CONN_RBUF_INITIAL);
	if (!c->rbuf)
		return -ENOMEM;
	c->rcap = CONN_RBUF_INITIAL;
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)c->out, &fd) == 0)
		c->out_fd = fd;
	conn_set_reading(c, true);
	return c->reading ? 0 : -EIO;
}

static void close_cb(uv_handle_t *h)
{
	conn_unref(h->data);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	pthread_mutex_lock(&c->wlock); /* no worker writes from here on */
	c->closing = true;
	pthread_mutex_unlock(&c->wlock);
	if (c->reading)
		uv_read_stop(c->in);
	c->reading = false;
	/* In-flight requests finish on their own and are dropped in
	 * req_complete; queued ones are cancelled, lock waits end now. */
	for (unsigned i = 0; i < CONN_TAG_BUCKETS; i++) {
		for (struct req *r = c->tags[i]; r;) {
			struct req *next = r->tnext;
			req_cancel(r);
			r = next;
		}
	}
	while (c->sendq_head) {
		struct req *r = c->sendq_head;
		c->sendq_head = r->qnext;
		req_release(r);
	}
	if (c->partial) {
		req_release(c->partial);
		c->partial = NULL;
	}
	c->sendq_tail = NULL;
	c->sendq_len = 0;
	fid_table_free(&c->fids);
	c->refs++;
	uv_close((uv_handle_t *)c->in, close_cb);
	if (c->separate_out) {
		c->refs++;
		uv_close((uv_handle_t *)c->out, close_cb);
	}
	conn_unref(c); /* the reference held while open */
}

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	struct conn_hub *h = c->hub;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	if (c->dirty) {
		struct conn **pp = &h->dirty;
		while (*pp != c)
			pp = &(*pp)->dirty_next;
		*pp = c->dirty_next;
	}
	while (c->free_reqs) {
		struct req *r = c->free_reqs;
		c->free_reqs = r->qnext;
		free(r->inbuf);
		free(r->outsmall);
		free(r);
	}
	free(c->rbuf);
	fid_table_free(&c->fids);
	workq_group_free(h->workq, &c->group);
	pthread_mutex_destroy(&c->wlock);
	bool stdio = c->stdio;
	log_debug("client %llu: closed", (unsigned long long)c->id);
	free(c);
	if (stdio && h->on_hangup)
		h->on_hangup(h);
	hub_check_idle(h);
}

/* ---- the hub ---- */

static void bufs_timer_cb(uv_timer_t *t)
{
	struct conn_hub *h = t->data;
	bufpool_tick(&h->bufs);
}

static void flush_check_cb(uv_check_t *check)
{
	conn_hub_flush(check->data); /* after each poll: send what the iteration made */
}

/* The fids of all clients together may hold at most RLIMIT_NOFILE -
 * (RLIMIT_NOFILE / 8 + 32) descriptors (half of a limit below 128): the
 * rest stays for accepting connections, the listeners and the workers'
 * transient opens, so a client that takes every fid it can still leaves
 * room for new connections to be accepted and answered. */
static size_t fid_fd_budget(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > SIZE_MAX)
		return SIZE_MAX;
	if (rl.rlim_cur < 128) /* only in tests: keep half */
		return 1 + (size_t)rl.rlim_cur / 2;
	return (size_t)rl.rlim_cur - (size_t)rl.rlim_cur / 8 - 32;
}

int conn_hub_init(struct conn_hub *h, uv_loop_t *loop, unsigned nthreads)
{
	h->loop = loop;
	h->fid_fd_budget = fid_fd_budget();
	unsigned want = h->snap->cfg->max_open_fds;
	h->fid_pool.cap = want && want < h->fid_fd_budget ? want : h->fid_fd_budget;
	h->fid_pool.can_reopen = creds_can_reopen();
	users_init(&h->users);
	bufpool_init(&h->bufs, HUB_MAX_IDLE_BUFS);
	int rc = workq_new(loop, nthreads, req_work_cb, req_done_cb, &h->workq);
	if (rc)
		return rc;
	uv_check_init(loop, &h->flush_check);
	h->flush_check.data = h;
	uv_check_start(&h->flush_check, flush_check_cb);
	uv_timer_init(loop, &h->lock_timer);
	h->lock_timer.data = h;
	uv_timer_init(loop, &h->throttle_timer);
	h->throttle_timer.data = h;
	uv_timer_init(loop, &h->bufs_timer);
	h->bufs_timer.data = h;
	uv_timer_start(&h->bufs_timer, bufs_timer_cb, HUB_BUFS_TICK_MS, HUB_BUFS_TICK_MS);
	uv_unref((uv_handle_t *)&h->bufs_timer); /* it keeps no loop running */
	return 0;
}

uint32_t conn_hub_inflight(const struct conn_hub *h)
{
	uint32_t n = 0;
	for (const struct conn *c = h->conns; c; c = c->next)
		n += c->inflight;
	return n;
}

static void hub_check_idle(struct conn_hub *h)
{
	if (h->stopping && conn_hub_inflight(h) == 0 && h->on_idle)
		h->on_idle(h);
}

void conn_hub_stop(struct conn_hub *h)
{
	if (h->stopping)
		return;
	h->stopping = true;
	throttle_run(h, true);
	/* Waiting lock requests would never finish: answer them now. */
	while (h->lock_waiters) {
		struct req *r = h->lock_waiters;
		h->lock_waiters = r->qnext;
		r->qnext = NULL;
		r->out.u.rlock.status = NP_LOCK_BLOCKED;
		req_complete(r);
	}
	hub_check_idle(h);
}

static void noop_close_cb(uv_handle_t *handle)
{
	(void)handle;
}

void conn_hub_close(struct conn_hub *h)
{
	/* Replies produced by the last completions (ended lock waits) go out
	 * before the connections close.  conn_close frees nothing before the
	 * handles' close callbacks run on a later iteration, so walking the
	 * list here is safe. */
	conn_hub_flush(h);
	for (struct conn *c = h->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	workq_shutdown(h->workq);
	uv_close((uv_handle_t *)&h->flush_check, noop_close_cb);
	uv_close((uv_handle_t *)&h->lock_timer, noop_close_cb);
	uv_close((uv_handle_t *)&h->throttle_timer, noop_close_cb);
	uv_close((uv_handle_t *)&h->bufs_timer, noop_close_cb);
}

void conn_hub_free(struct conn_hub *h)
{
	workq_free(h->workq);
	h->workq = NULL;
	bufpool_free(&h->bufs);
	users_free(&h->users);
	cfg_snapshot_unref(h->snap);
	h->snap = NULL;
}
