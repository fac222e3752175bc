/* The daemon's core objects: server, export, connection, request, fid.
 *
 * Threading: one libuv loop thread owns every struct here; worker threads
 * only run a request's work function, which touches the request, the fids
 * the request holds references on (their fds, and fid->lock for state shared
 * between concurrent requests on one fid) and the export's remap engine.
 * Reference counts and tables are changed on the loop thread only.
 */
#ifndef NINEPD_SERVER_SERVER_H
#define NINEPD_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <uv.h>

#include "config/config.h"
#include "proto/9p.h"
#include "remap/remap.h"
#include "server/workq.h"

/* Who a request runs as (passthrough): an attached user. */
struct user {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;
	struct user *next; /* server's user list */
};

struct export {
	const struct export_conf *conf;
	char *realpath;      /* canonical host path of the root */
	int rootfd;          /* O_PATH directory fd */
	dev_t root_dev;
	ino_t root_ino;
	struct remap *remap; /* the multidevs policy engine */
	struct user squash; /* squash_uid/squash_gid */
	bool has_squash;
	struct export *retired_next; /* removed by a reload, freed at exit */
};

enum fid_kind {
	FID_FILE = 0,    /* a file system object (pathfd valid) */
	FID_XATTR_READ,  /* result of Txattrwalk: a value or name list to read */
	FID_XATTR_WRITE, /* after Txattrcreate: a value to write, set at clunk */
};

struct fid {
	uint32_t num;
	int refs;            /* loop thread only */
	enum fid_kind kind;
	struct export *exp;
	struct user *user;
	int pathfd;          /* O_PATH (or a dup of the open fd) */
	int fd;              /* open fd after Tlopen/Tlcreate, else -1 */
	int open_flags;
	uint32_t mode;       /* the object's mode as the guest sees it */
	uint32_t host_mode;  /* its mode on the host (differs under mapped-xattr) */
	struct np_qid qid;
	bool opening;        /* a Tlopen/Tlcreate is in flight */
	pthread_mutex_t lock; /* dirpos and xattr buffer */
	int64_t dirpos;      /* offset the dir fd is at, -1 unknown */
	/* xattr fids */
	char *xname;
	uint8_t *xbuf;
	uint64_t xsize;      /* declared size (write) or value size (read) */
	uint64_t xfill;      /* bytes written so far */
	uint32_t xflags;
	uint8_t table_fds;   /* descriptors counted in fid_table.open_fds */
	atomic_size_t *xattr_account; /* the connection's xattr_bytes, once charged */
	size_t xattr_charged;         /* bytes of xbuf counted there */
	struct fid *hnext;   /* hash chain */
};

struct fid_table {
	struct fid **buckets;
	uint32_t nbuckets;
	uint32_t count;
	size_t *open_fds;    /* the server's fid_fds: descriptors the fids hold */
};

struct server;
struct conn;

enum req_state {
	REQ_NEW = 0,
	REQ_QUEUED,    /* submitted to the worker queue */
	REQ_LOCKWAIT,  /* waiting to retry a blocking Tlock */
	REQ_DONE,      /* reply encoded, queued for sending */
};

struct req {
	struct conn *conn;
	struct workq_item work;
	enum req_state state;
	uint32_t generation; /* the session (Tversion) it belongs to */
	bool flushed;        /* a Tflush cancelled it: no reply is sent */
	struct np_msg in;
	uint8_t *inbuf;
	uint32_t incap;
	uint8_t *outbuf;     /* outsmall, or a heap buffer for large replies */
	uint8_t *outsmall;   /* REQ_SMALL_OUT bytes, kept with the request */
	uint32_t outcap;
	uint32_t outlen;
	struct np_msg out;
	int err;             /* 0 or -errno; nonzero -> Rlerror */
	struct fid *fid;     /* references held while the request runs */
	struct fid *fid2;
	struct fid *newfid;  /* created by walk/xattrwalk, installed when done */
	uint64_t lock_retry_at; /* uv_now() time of the next Tlock try */
	uint32_t lock_wait_ms;
	uint32_t charge;     /* bytes counted against the connection's limit */
	struct req *flushers; /* Tflush requests waiting for this one */
	atomic_bool direct;   /* a worker sent the reply (req_reply_from_worker) */
	uint32_t direct_sent; /* ... but only these first bytes: the loop sends the rest */
	struct req *tnext;   /* tag hash chain */
	struct req *qnext;   /* send queue / free list / lock-wait list */
};

#define CONN_TAG_BUCKETS 64
/* xattr values a connection's fids may hold at once: Txattrcreate
 * allocates what it announces (up to 64 KiB) and Txattrwalk keeps the
 * value until Tclunk, so without a bound a client could pin 64 KiB per
 * fid, gigabytes with max_fids.  8 MiB is 128 largest values in flight;
 * Linux holds one per getxattr/setxattr call for its duration. */
#define CONN_XATTR_MAX ((size_t)8 << 20)
#define REQ_SMALL_OUT 8192

struct conn {
	struct server *srv;
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
	int handles_open;
	int refs;            /* requests alive + 1 while open */
	uint32_t msize;
	bool versioned;
	uint32_t generation;
	uint8_t *rbuf;
	uint32_t rlen, rcap;
	struct req *partial; /* a large frame being read into its own buffer */
	uint32_t partial_len, partial_size;
	struct fid_table fids;
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
	size_t charged;      /* memory live requests hold or will need (conn.c) */
	atomic_size_t xattr_bytes; /* xattr values held by fids (fid_charge_xattr) */
	struct conn *dirty_next;
	bool dirty;
	struct req *free_reqs;
	uint32_t nfree;
	struct conn *prev, *next;
};

struct listener {
	struct server *srv;
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} h;
	bool is_tcp;
	char *unix_path; /* removed at exit */
	char *addr;
	struct listener *next;
};

struct server {
	uv_loop_t *loop;
	struct ninepd_config *cfg;
	struct export **exports;
	size_t nexports;
	struct export *retired;    /* exports a SIGHUP reload removed */
	struct ninepd_config **old_cfgs; /* heap configurations reloads replaced */
	bool cfg_owned;            /* cfg came from a reload (heap, ours to free) */
	size_t nold_cfgs;
	int argc;                  /* the command line, for SIGHUP reloads */
	char **argv;
	struct listener *listeners;
	struct conn *conns;
	uint32_t nconns;
	uint64_t next_conn_id;
	struct conn *dirty; /* connections with replies to send */
	uv_check_t flush_check;
	uv_timer_t lock_timer;
	struct req *lock_waiters;
	struct workq *workq;       /* the worker threads (workq.h) */
	unsigned nthreads;
	uv_signal_t sig_term, sig_int, sig_usr1, sig_hup;
	uv_timer_t drain_timer;
	bool stopping;
	bool finished;
	bool is_root;
	pthread_mutex_t users_lock;
	struct user *users;
	int exit_code;
	size_t fid_fds;       /* descriptors held by the fids of every client */
	size_t fid_fd_budget; /* their limit, from RLIMIT_NOFILE (ops.c), 0 unset */
};

/* server.c */
int server_init(struct server *srv, uv_loop_t *loop, struct ninepd_config *cfg);
int server_listen(struct server *srv);
/* Serves one client already connected on fds in/out (equal for a socket);
 * the server stops when it hangs up if exit_on_hangup.  The server owns the
 * fds from now on.  Used for -l stdio and by the request-path fuzzer. */
int server_adopt_fds(struct server *srv, int in, int out, bool exit_on_hangup);
void server_stop(struct server *srv);
void server_free(struct server *srv);
void server_log_stats(struct server *srv);

/* conn.c */
struct conn *conn_new(struct server *srv);
int conn_start(struct conn *c);
void conn_close(struct conn *c);
void req_complete(struct req *r);   /* loop thread: reply is ready */
void req_queue_work(struct req *r); /* loop thread: run ops work fn */
void req_work_cb(struct workq_item *it);           /* the server's workq callbacks */
void req_done_cb(struct workq_item *it, int status);
bool ops_reply_is_final(const struct req *r); /* no done step on the loop thread */
void conn_unref(struct conn *c);
struct req *conn_find_tag(struct conn *c, uint16_t tag);
void conn_flush(struct req *flush, uint16_t oldtag);
void conn_abort_requests(struct conn *c, struct req *keep);
void server_flush_replies(uv_check_t *h); /* the loop's check callback */
/* Make r->outbuf hold at least size bytes; 0 or -ENOMEM.  Worker-safe. */
int req_out_reserve(struct req *r, uint32_t size);
void server_lock_wait(struct req *r); /* loop thread: retry a Tlock later */
void server_lock_unwait(struct req *r);
void server_maybe_finish(struct server *srv);

/* fid.c */
void fid_table_init(struct fid_table *t);
void fid_table_free(struct fid_table *t);
struct fid *fid_lookup(struct fid_table *t, uint32_t num);
int fid_insert(struct fid_table *t, struct fid *f);
/* The descriptors f holds (its O_PATH fd, its open fd). */
unsigned fid_fd_count(const struct fid *f);
/* After f, if it is in t, gained or lost a descriptor: count it. */
void fid_table_recount(struct fid_table *t, struct fid *f);
struct fid *fid_remove(struct fid_table *t, uint32_t num);
struct fid *fid_new(uint32_t num);
/* Counts n bytes of xattr value buffer against *account (a connection's
 * xattr_bytes) instead of what f held before; -ENOMEM past CONN_XATTR_MAX.
 * Any thread; fid_unref gives the bytes back. */
int fid_charge_xattr(struct fid *f, atomic_size_t *account, size_t n);
struct fid *fid_ref(struct fid *f);
void fid_unref(struct fid *f); /* closes fds and frees at zero */

/* ops.c */
void ops_dispatch(struct req *r);      /* loop thread */
void ops_work(struct req *r);          /* worker thread */
void ops_done(struct req *r);          /* loop thread, after work */
void ops_trace(const struct conn *c, const struct np_msg *m, bool reply);

#endif
