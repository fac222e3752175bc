/* A small synchronous 9P2000.L client for tests and benchmarks.
 *
 * One struct np_client is one connection.  Every function returns 0 (or a
 * count) on success and a negative errno on failure; for the one-call
 * operation helpers a server Rlerror comes back as -ecode, so a test can
 * compare against -ENOENT directly.  Transport trouble is -ETIMEDOUT (no
 * reply within the client's timeout), -ECONNRESET (the server closed the
 * connection) or -EPROTO (a reply that does not decode, has the wrong tag or
 * the wrong type).
 *
 * Decoded replies are views into the client's receive buffer: a struct
 * np_msg filled by np_recv()/np_rpc() stays valid until the next receive on
 * the same client.  Helpers that return strings or data copy them out.
 *
 * The second half of the header is test support: a spawner for the ninepd
 * binary, temporary directories and a fixture that combines the two.
 */
#ifndef NINEPD_TESTS_NP_CLIENT_H
#define NINEPD_TESTS_NP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/9p.h"

#define NP_CLIENT_MSIZE 65536        /* what np_session() asks for */
#define NP_CLIENT_TIMEOUT_MS 10000   /* default wait for any reply */

struct np_client {
	/* public, read-only */
	int fd;
	uint32_t msize;           /* negotiated (NP_CLIENT_MSIZE before Tversion) */
	uint32_t last_frame_size; /* size field of the last frame received */
	/* public, read-write */
	int timeout_ms;           /* per send/receive wait; default above */
	/* private */
	uint8_t *sbuf, *rbuf;
	size_t scap, rcap;
	size_t rstart, rlen;      /* unconsumed bytes are rbuf[rstart..rlen) */
	size_t rconsumed;         /* size of the frame handed out last, at rstart */
	uint16_t next_tag;
	uint32_t next_fid;
};

/* --- connections --------------------------------------------------------- */

/* Connect to "unix:PATH", "tcp:HOST:PORT" or "vsock:CID:PORT". */
int np_client_connect(struct np_client **out, const char *addr);

/* Wrap an already connected stream fd; the client owns it from now on. */
int np_client_from_fd(struct np_client **out, int fd);

/* Close the connection and free the client; NULL is a no-op. */
void np_client_close(struct np_client *c);

/* A fid number not handed out before on this client.  Counts up from 1000;
 * fids below that are left to callers (fixtures attach on fid 1). */
uint32_t np_fid_new(struct np_client *c);

/* A tag not handed out recently (skips NOTAG). */
uint16_t np_tag_new(struct np_client *c);

/* --- frames -------------------------------------------------------------- */

/* Encode *m (tag as given) and send it. */
int np_send(struct np_client *c, const struct np_msg *m);

/* Send raw bytes as they are (for malformed input). */
int np_send_raw(struct np_client *c, const void *buf, size_t len);

/* Receive one frame and decode it into *m (views valid until the next
 * receive).  Returns 0, -ETIMEDOUT, -ECONNRESET, or -EPROTO. */
int np_recv(struct np_client *c, struct np_msg *m);

/*
 * Send request *t with a fresh tag (NOTAG for Tversion) and wait for its
 * reply in *r.  Returns 0 when the reply is t->type + 1, -ecode for
 * Rlerror, a transport error otherwise.
 */
int np_rpc(struct np_client *c, struct np_msg *t, struct np_msg *r);

/*
 * Pipelining: send n requests, keeping up to `window` of them in flight
 * (tags 0..window-1 are assigned here and written into reqs[i].tag;
 * window <= 65535), and call fn for each reply in
 * the order replies arrive.  `index` is the request's position in reqs.
 * Sending and receiving interleave so neither side's socket buffer can
 * deadlock the exchange.  Returns 0 once every reply arrived, fn's first
 * non-zero return, or a transport error.
 */
typedef int (*np_reply_fn)(void *arg, size_t index, const struct np_msg *reply);
int np_pipeline(struct np_client *c, struct np_msg *reqs, size_t n, size_t window,
		np_reply_fn fn, void *arg);

/* --- one call per operation ---------------------------------------------- */

/* Negotiates; on a "9P2000.L" answer c->msize becomes the reply's msize.
 * version_out (may be NULL) receives the answered version string. */
int np_version(struct np_client *c, uint32_t msize, const char *version,
	       uint32_t *msize_out, char *version_out, size_t version_cap);
int np_auth(struct np_client *c, uint32_t afid, const char *uname, const char *aname,
	    uint32_t n_uname, struct np_qid *aqid);
int np_attach(struct np_client *c, uint32_t fid, uint32_t afid, const char *uname,
	      const char *aname, uint32_t n_uname, struct np_qid *qid);

/* Walk names[0..nwname).  Returns 0 on an Rwalk, even a partial one: compare
 * *nwqid with nwname.  nwqid and qids may be NULL. */
int np_walk(struct np_client *c, uint32_t fid, uint32_t newfid, uint16_t nwname,
	    const char *const names[], uint16_t *nwqid, struct np_qid *qids);
/* Walk a '/'-separated relative path ("" clones) in chunks of 16; the walk
 * counts as failed (-ENOENT) unless every name was walked, in which case
 * newfid exists.  qid (may be NULL) gets the last qid. */
int np_walk_path(struct np_client *c, uint32_t fid, uint32_t newfid, const char *path,
		 struct np_qid *qid);

int np_lopen(struct np_client *c, uint32_t fid, uint32_t flags, struct np_qid *qid,
	     uint32_t *iounit);
int np_lcreate(struct np_client *c, uint32_t fid, const char *name, uint32_t flags,
	       uint32_t mode, uint32_t gid, struct np_qid *qid, uint32_t *iounit);
/* Copies up to count bytes into buf; *got (may be NULL) is the reply count. */
int np_read(struct np_client *c, uint32_t fid, uint64_t offset, uint32_t count,
	    void *buf, uint32_t *got);
int np_write(struct np_client *c, uint32_t fid, uint64_t offset, const void *data,
	     uint32_t count, uint32_t *written);
int np_clunk(struct np_client *c, uint32_t fid);
int np_remove(struct np_client *c, uint32_t fid);
int np_statfs(struct np_client *c, uint32_t fid, struct np_statfs *st);
int np_symlink(struct np_client *c, uint32_t dfid, const char *name, const char *target,
	       uint32_t gid, struct np_qid *qid);
int np_mknod(struct np_client *c, uint32_t dfid, const char *name, uint32_t mode,
	     uint32_t major, uint32_t minor, uint32_t gid, struct np_qid *qid);
int np_rename(struct np_client *c, uint32_t fid, uint32_t dfid, const char *name);
int np_renameat(struct np_client *c, uint32_t olddirfid, const char *oldname,
		uint32_t newdirfid, const char *newname);
/* Copies the target NUL-terminated; -ENAMETOOLONG if cap is too small. */
int np_readlink(struct np_client *c, uint32_t fid, char *buf, size_t cap);
int np_getattr(struct np_client *c, uint32_t fid, uint64_t mask, struct np_attr *attr);

struct np_setattr {
	uint32_t valid, mode, uid, gid;
	uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
};
int np_setattr(struct np_client *c, uint32_t fid, const struct np_setattr *sa);

int np_xattrwalk(struct np_client *c, uint32_t fid, uint32_t newfid, const char *name,
		 uint64_t *size);
int np_xattrcreate(struct np_client *c, uint32_t fid, const char *name, uint64_t size,
		   uint32_t flags);
/* Txattrwalk on a fresh fid, read the whole value (name "" lists names,
 * each NUL-terminated), clunk.  Returns the value size; -ERANGE if it does
 * not fit cap (buf may be NULL with cap 0 to ask for the size). */
int np_xattr_get(struct np_client *c, uint32_t fid, const char *name, void *buf, size_t cap);
/* What Linux sends for setxattr(2): clone fid, Txattrcreate on the clone,
 * Twrite the value, Tclunk (which commits; its error is returned).
 * removexattr(2) is the same with size 0 and flags XATTR_REPLACE. */
int np_xattr_set(struct np_client *c, uint32_t fid, const char *name, const void *value,
		 size_t size, uint32_t flags);

/* One Treaddir; copies the packed entries into buf (cap >= count). */
int np_readdir(struct np_client *c, uint32_t fid, uint64_t offset, uint32_t count,
	       void *buf, uint32_t *got);
/* Read a whole (opened) directory with Treaddir of `count` bytes, resuming
 * at the last entry's offset, calling fn for every entry until an empty
 * reply.  fn returns non-zero to stop (that value is returned). */
typedef int (*np_dirent_fn)(void *arg, const struct np_dirent *d);
int np_readdir_all(struct np_client *c, uint32_t fid, uint32_t count, np_dirent_fn fn,
		   void *arg);

int np_fsync(struct np_client *c, uint32_t fid, uint32_t datasync);
int np_lock(struct np_client *c, uint32_t fid, uint8_t type, uint32_t flags, uint64_t start,
	    uint64_t length, uint32_t proc_id, const char *client_id, uint8_t *status);
/* Sends a blocking write lock of the whole file (client id "waiter") with
 * `tag` and returns without waiting for the answer: 0 or a send error. */
int np_send_blocking_lock(struct np_client *c, uint32_t fid, uint16_t tag, uint32_t proc_id);

struct np_getlock {
	uint8_t type;
	uint64_t start, length;
	uint32_t proc_id;
	char client_id[256];
};
/* In: the lock asked about; out: the conflicting lock or type UNLCK. */
int np_getlock(struct np_client *c, uint32_t fid, struct np_getlock *gl);
int np_link(struct np_client *c, uint32_t dfid, uint32_t fid, const char *name);
int np_mkdir(struct np_client *c, uint32_t dfid, const char *name, uint32_t mode,
	     uint32_t gid, struct np_qid *qid);
int np_unlinkat(struct np_client *c, uint32_t dirfid, const char *name, uint32_t flags);
/* Sends Tflush(oldtag) and waits for Rflush, discarding other replies
 * (such as the flushed request's).  Returns 0 or an error. */
int np_flush(struct np_client *c, uint16_t oldtag);

/* Walk path from dirfid to a new fid and Tlopen it with flags; *fid gets
 * the new fid (clunked again on failure). */
int np_open(struct np_client *c, uint32_t dirfid, const char *path, uint32_t flags,
	    uint32_t *fid);

/* Connect, Tversion(msize, "9P2000.L") and Tattach(rootfid, uname, aname,
 * n_uname).  *out is NULL on failure. */
int np_session(struct np_client **out, const char *addr, uint32_t msize, const char *aname,
	       uint32_t n_uname, uint32_t rootfid);

/* --- the daemon under test ----------------------------------------------- */

struct np_daemon {
	pid_t pid;
	int stdio_fd;            /* our end when argv listens on "stdio", else -1 */
	char addr[256];          /* first -l/--listen address in argv, or "" */
	char log_path[256];      /* the daemon's stderr (and stdout) */
	/* private */
	int status;              /* wait status once reaped */
	bool reaped;
};

/*
 * Fork and exec the ninepd binary named by $NINEPD with argv (argv[0] is
 * the first argument, not the program; NULL-terminated).  Its stderr goes to
 * a temporary file.  With a unix: or tcp: listener, waits (up to 10 s) until
 * the first one accepts connections; with "stdio" a socketpair end is left
 * in d->stdio_fd.  If the daemon exits while starting, returns -ECHILD and
 * d->pid is 0 (the log stays for np_daemon_log()).  The daemon is killed if
 * the calling process dies.
 */
int np_daemon_start(struct np_daemon *d, const char *const argv[]);

/* SIGTERM, wait up to 10 s (then SIGKILL).  Returns the exit status, 128 +
 * signal number if it died from a signal, or -errno.  Removes nothing. */
int np_daemon_stop(struct np_daemon *d);

/* Runs the daemon to completion with argv (for --help, -n, bad options):
 * returns the exit status as np_daemon_stop() does; the log is captured. */
int np_daemon_run(struct np_daemon *d, const char *const argv[], int timeout_ms);

/* Wait up to timeout_ms for the daemon to exit by itself: its exit status
 * as np_daemon_stop() returns it, or -ETIMEDOUT (the daemon keeps running). */
int np_daemon_wait(struct np_daemon *d, int timeout_ms);

/* True while the daemon process exists and has not exited. */
bool np_daemon_alive(struct np_daemon *d);

/* The daemon's stderr so far, NUL-terminated (malloc'd; caller frees). */
char *np_daemon_log(const struct np_daemon *d);

/* Remove the log file. */
void np_daemon_cleanup(struct np_daemon *d);

/* --- temporary directories ----------------------------------------------- */

/* mkdtemp("/tmp/<prefix>-XXXXXX") into out. */
int np_tmpdir(char *out, size_t cap, const char *prefix);
/* Remove a tree of any depth (fd-relative, never follows symlinks). */
int np_rmtree(const char *path);

/* --- a fixture: one export, one daemon, one attached client -------------- */

struct np_fixture {
	char export_dir[128];      /* exported, empty at start */
	char run_dir[128];         /* holds the socket */
	char addr[200];            /* "unix:<run_dir>/s" */
	struct np_daemon daemon;
	struct np_client *c;       /* attached as root, n_uname 0 */
	uint32_t root;             /* its root fid */
	char error[2048];          /* why np_fixture_start() failed: the log's tail */
};

/*
 * Make the directories, start ninepd with "-l addr -e export_dir[opts]"
 * plus extra (NULL-terminated, may be NULL), connect and attach.  opts is
 * appended to the export spec verbatim (e.g. ",readonly"), may be NULL.
 * On failure everything is cleaned up again and f->error tells why.
 */
int np_fixture_start(struct np_fixture *f, const char *opts, const char *const extra[]);
/* Close, stop the daemon and remove the directories.  Returns the daemon's
 * exit status like np_daemon_stop(); *log (if log is not NULL) receives the
 * daemon's stderr (caller frees). */
int np_fixture_stop(struct np_fixture *f, char **log);
/* True when a daemon log holds no sanitizer report. */
bool np_log_clean(const char *log);
/*
 * The usual end of a test: the daemon must still be running (it did not
 * crash), stop it, and its log must be clean.  Returns 0, or -1 with the
 * reason and the log's tail in why.  Cleans up like np_fixture_stop().
 */
int np_fixture_finish(struct np_fixture *f, char *why, size_t cap);
/* A path inside the export, for setting up files directly on the host. */
const char *np_fixture_path(const struct np_fixture *f, const char *rel, char *buf, size_t cap);
/* Set up or inspect the export from the host side (paths relative to it).
 * np_fixture_read returns the byte count read (at most cap). */
int np_fixture_mkdir(const struct np_fixture *f, const char *rel, unsigned mode);
int np_fixture_write(const struct np_fixture *f, const char *rel, const void *data, size_t len);
int np_fixture_symlink(const struct np_fixture *f, const char *target, const char *rel);
ssize_t np_fixture_read(const struct np_fixture *f, const char *rel, void *buf, size_t cap);
/* Another attached client on the fixture's daemon. */
int np_fixture_client(const struct np_fixture *f, uint32_t n_uname, struct np_client **out,
		      uint32_t rootfid);

#endif
