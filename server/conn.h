/* Client connections and the life of a request.
 *
 * conn.c owns everything here: framing, tags, Tversion and Tflush, the
 * reply encoder, the send queue, backpressure, blocking-lock waits, and the
 * hand-over of requests to the worker threads and back.  What a request
 * does is dispatch.c's (the contract table); conn.c only asks it to
 * prepare, run and finish a request.
 *
 * Threading: the loop thread owns every connection and request; a worker
 * touches only the request it runs (and, for a lone request, sends its
 * reply under conn->wlock: see req_reply_from_worker in conn.c).
 */
#ifndef NINEPD_SERVER_CONN_H
#define NINEPD_SERVER_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "proto/9p.h"
#include "server/bufpool.h"
#include "server/creds.h"
#include "server/export.h"
#include "server/fid.h"
#include "server/request.h"
#include "server/snapshot.h"
#include "server/workq.h"

/* What the connections of one server share.  Owned by conn.c; the server
 * embeds it and is told about two events through the hooks. */
struct conn_hub {
	uv_loop_t *loop;
	struct workq *workq;
	struct cfg_snapshot *snap;    /* the configuration new requests get */
	struct export **exports;      /* what Tattach can reach (loop thread) */
	size_t nexports;
	struct users users;
	struct conn *conns;
	uint32_t nconns;
	uint64_t next_conn_id;
	struct conn *dirty;           /* connections with replies to send */
	uv_check_t flush_check;
	uv_timer_t lock_timer;
	struct req *lock_waiters;
	uv_timer_t throttle_timer;    /* the next throttled request may ask again */
	bool stopping;
	/* The descriptors the fids of every client hold.  pool.cap: past it
	 * idle ones are given back; fid_fd_budget: past it, when nothing can
	 * be given back, new fids get EMFILE.  Both from RLIMIT_NOFILE at
	 * start (conn_hub_init): descriptors stay for accepting connections,
	 * the listeners and the workers' transient opens. */
	struct fid_pool fid_pool;
	size_t fid_fd_budget;
	unsigned working;     /* requests queued for or running on a worker */
	/* Stopping, and nothing is in flight any more. */
	void (*on_idle)(struct conn_hub *h);
	/* A connection that ends the daemon (stdio) has gone. */
	void (*on_hangup)(struct conn_hub *h);
	/* Last, so that the fields above keep the cache lines they had. */
	struct bufpool bufs;          /* large reply buffers (req_out_reserve) */
	uv_timer_t bufs_timer;        /* gives idle ones back (bufpool_tick) */
};

#define CONN_TAG_BUCKETS 64

struct conn {
	struct conn_hub *hub;
	uint64_t id;
	uv_stream_t *in;  /* read side */
	uv_stream_t *out; /* write side (== in unless stdio pipes) */
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} in_h, out_h;
	bool separate_out;
	bool closing;
	bool reading;
	bool eof;            /* the client shut its side: answer what it sent, then close */
	bool processing;     /* inside conn_process (it is not re-entrant) */
	bool stdio;          /* daemon exits when this client hangs up */
	int refs;            /* requests alive + 1 while open */
	uint32_t msize;
	bool versioned;
	uint32_t generation;
	uint8_t *rbuf;
	uint32_t rlen, rcap;
	struct req *partial; /* a large frame being read into its own buffer */
	uint32_t partial_len, partial_size;
	struct fid_table fids;
	struct workq_group group; /* its turn on the worker threads */
	struct req *tags[CONN_TAG_BUCKETS];
	uint32_t inflight;
	struct req *sendq_head, *sendq_tail;
	uint32_t sendq_len;
	size_t write_bytes;  /* bytes handed to uv_write, not yet written */
	/* Workers may send a reply themselves when nothing else is being sent
	 * (req_reply_from_worker); wlock orders that against the loop thread's
	 * writes: it guards sendq, write_bytes, closing, generation and
	 * direct_partial wherever a worker may read them. */
	pthread_mutex_t wlock;
	int out_fd;          /* the write side's descriptor, or -1 */
	bool direct_partial; /* a worker's reply is half sent: nothing else goes out */
	size_t charged;      /* memory live requests hold or will need */
	atomic_size_t xattr_bytes; /* xattr values held by fids (fid_charge_xattr) */
	struct conn *dirty_next;
	bool dirty;
	struct req *free_reqs;
	uint32_t nfree;
	struct conn *prev, *next;
	/* Of the requests in flight, those whose reply a worker has written
	 * whole and the loop has not taken back yet: the client has its
	 * answer, so to it they are no longer in flight
	 * (conn_alone_in_flight).  Last: the fields above keep their lines. */
	uint32_t answered;
};

/* Any thread: r is the only request of its connection the client still
 * waits for (the others, if any, are answered and only the loop's
 * bookkeeping is left).  A hint: it may change at once. */
bool conn_alone_in_flight(const struct req *r);

/* The hub's handles on loop, and its worker queue; 0 or -errno. */
int conn_hub_init(struct conn_hub *h, uv_loop_t *loop, unsigned nthreads);
/* No new requests; blocking-lock waits are answered (BLOCKED); on_idle
 * follows once nothing is in flight. */
void conn_hub_stop(struct conn_hub *h);
/* Closes every connection and the hub's handles (after on_idle, or when
 * draining took too long). */
void conn_hub_close(struct conn_hub *h);
/* After the loop has ended: frees what the hub holds. */
void conn_hub_free(struct conn_hub *h);
uint32_t conn_hub_inflight(const struct conn_hub *h);
/* Sends what the loop iteration produced (the check handle does it). */
void conn_hub_flush(struct conn_hub *h);

struct conn *conn_new(struct conn_hub *h);
/* Starts serving once c->in and c->out are set; 0 or -errno. */
int conn_start(struct conn *c);
void conn_close(struct conn *c);

#endif
