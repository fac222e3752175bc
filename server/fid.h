/* Fids: what a client's fid number stands for, and the per-connection
 * table of them.
 *
 * A fid object is reference counted: the table holds one reference, and
 * every request that uses the fid holds one while it runs, so a Tclunk or
 * a replacement (walk with newfid == fid, Tlcreate, Txattrcreate) never
 * closes a descriptor under a request still using it.  References and
 * the table change on the loop thread only; a worker touches a fid's
 * descriptors, and fid->lock for the state concurrent requests share.
 *
 * Descriptors (issue 15): a fid that is not open need not hold one.  The
 * fids of all connections share a pool (struct fid_pool) that counts the
 * descriptors they hold and keeps the idle ones (no request holds the
 * fid) in least-recently-used order; past the pool's cap the loop gives
 * back the oldest idle O_PATH descriptors, keeping a file handle instead
 * (name_to_handle_at), and the next request on such a fid reopens it
 * (open_by_handle_at, dispatch.c) before it runs.  A fid whose file
 * system has no handles keeps its descriptor; open fids (Tlopen) keep
 * theirs, since their open file description carries offsets and locks. */
#ifndef NINEPD_SERVER_FID_H
#define NINEPD_SERVER_FID_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/9p.h"
#include "server/creds.h"
#include "server/export.h"

enum fid_kind {
	FID_FILE = 0,    /* a file system object (pathfd valid) */
	FID_XATTR_READ,  /* result of Txattrwalk: a value or name list to read */
	FID_XATTR_WRITE, /* after Txattrcreate: a value to write, set at clunk */
};

/* xattr values a connection's fids may hold at once: Txattrcreate
 * allocates what it announces (up to 64 KiB) and Txattrwalk keeps the
 * value until Tclunk, so without a bound a client could pin 64 KiB per
 * fid, gigabytes with max_fids.  8 MiB is 128 largest values in flight;
 * Linux holds one per getxattr/setxattr call for its duration. */
#define CONN_XATTR_MAX ((size_t)8 << 20)

/* What an xattr fid holds besides a file fid's: kept apart, so that the
 * many file fids do not pay for it (bytes per fid, issue 15). */
struct fid_xattr {
	char *name;
	uint8_t *buf;
	uint64_t size;      /* declared size (write) or value size (read) */
	uint64_t fill;      /* bytes written so far */
	uint32_t flags;
	atomic_size_t *account; /* the connection's xattr_bytes, once charged */
	size_t charged;         /* bytes of buf counted there */
};

struct fid {
	uint32_t num;
	int refs;            /* loop thread only */
	enum fid_kind kind;
	struct export *exp;
	struct user *user;   /* who attached */
	/* O_PATH (or a dup of the open fd); -1 while given back to the pool,
	 * when handle holds the way back.  Atomic: the loop counts what a
	 * worker may be reopening. */
	atomic_int pathfd;
	int fd;              /* open fd after Tlopen/Tlcreate, else -1 */
	int open_flags;
	uint32_t mode;       /* the object's mode as the guest sees it */
	uint32_t host_mode;  /* its mode on the host (differs under mapped-xattr) */
	struct np_qid qid;
	bool opening;        /* a Tlopen/Tlcreate is in flight */
	pthread_mutex_t lock; /* dirpos and xattr buffer */
	int64_t dirpos;      /* offset the dir fd is at, -1 unknown */
	struct fid_xattr *xa; /* xattr fids only (fid_make_xattr) */
	uint8_t table_fds;   /* descriptors counted in the pool */
	bool keeps_fd;       /* its pathfd is never given back (no handle) */
	struct file_handle *handle; /* how to reopen pathfd (fid_pool_reclaim) */
	int mount_id;
	struct fid *lru_prev, *lru_next; /* the pool's idle list, while in it */
	bool in_lru;
	struct fid *hnext;   /* hash chain */
};

/* The descriptors the fids of every connection hold.  Loop thread only. */
struct fid_pool {
	size_t open_fds;   /* held by fids in tables */
	size_t cap;        /* give idle ones back past this (0: never) */
	size_t reclaimed;  /* descriptors given back so far (statistics) */
	bool can_reopen;   /* the process may open_by_handle_at */
	struct fid *lru_head, *lru_tail; /* idle reclaimable fids, oldest first */
};

struct fid_table {
	struct fid **buckets;
	uint32_t nbuckets;
	uint32_t count;
	struct fid_pool *pool; /* set before the first insert */
};

void fid_table_init(struct fid_table *t, struct fid_pool *pool);
void fid_table_free(struct fid_table *t);
struct fid *fid_lookup(struct fid_table *t, uint32_t num);
int fid_insert(struct fid_table *t, struct fid *f);
/* The descriptors f holds (its O_PATH fd, its open fd). */
unsigned fid_fd_count(const struct fid *f);
/* After a request on f (if f is in t): count the descriptors it holds now
 * and make it the most recently used. */
void fid_table_recount(struct fid_table *t, struct fid *f);
/* Loop thread: gives back idle fids' O_PATH descriptors, oldest first,
 * until the pool holds at most `target`; the count given back. */
size_t fid_pool_reclaim(struct fid_pool *p, size_t target);
/* Worker: reopens f's O_PATH descriptor from its handle if it was given
 * back; 0 or -errno.  The caller holds a reference (so the loop does not
 * give it back meanwhile). */
int fid_reopen(struct fid *f);
struct fid *fid_remove(struct fid_table *t, uint32_t num);
/* True when some fid of t belongs to e. */
bool fid_table_uses(const struct fid_table *t, const struct export *e);
struct fid *fid_new(uint32_t num);
/* A fresh fid standing for num, with like's export and user. */
struct fid *fid_like(uint32_t num, const struct fid *like);
/* Makes f an xattr fid of kind (FID_XATTR_READ or _WRITE); 0 or -ENOMEM. */
int fid_make_xattr(struct fid *f, enum fid_kind kind);
/* Counts n bytes of xattr value buffer against *account (a connection's
 * xattr_bytes) instead of what f held before; -ENOMEM past CONN_XATTR_MAX.
 * Any thread; fid_unref gives the bytes back. */
int fid_charge_xattr(struct fid *f, atomic_size_t *account, size_t n);
struct fid *fid_ref(struct fid *f);
void fid_unref(struct fid *f); /* closes fds and frees at zero */

#endif
