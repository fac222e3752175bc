/* ninepd-loadgen: a pipelined 9P2000.L load generator (bench/loadgen.c).
 *
 * Three parts share this header:
 *   loadgen-engine.c     connections, the pipelined send/receive loop, the
 *                        latency histogram, the timed run;
 *   loadgen-workloads.c  the workloads (one small state machine each), the
 *                        export layout they expect, the direct-I/O limit;
 *   loadgen.c            the command line, repetitions, ratios, reports.
 *
 * A run opens `conns` connections to one server, gives each `depth` slots
 * and keeps every slot busy: a slot runs one operation at a time, and an
 * operation is a chain of one or more requests (walk then clunk, create then
 * write then clunk then unlink, ...).  A slot owns tag == its index, so a
 * connection has exactly `depth` requests in flight.  All functions return 0
 * (or a count) on success and a negative errno on failure.
 */
#ifndef NINEPD_BENCH_LOADGEN_H
#define NINEPD_BENCH_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "np_client.h"
#include "proto/9p.h"

/* What the workloads need in the export; `ninepd-loadgen prepare` makes it. */
#define LG_DATA_FILE "data"       /* LG_DATA_MIB MiB of bytes for the reads */
#define LG_DATA_MIB 256
#define LG_PATH3 "a/b/c"          /* a 4 KiB file three levels down */
#define LG_DIR10K "dir10k"        /* LG_DIR_ENTRIES empty files */
#define LG_DIR_ENTRIES 10000
#define LG_SCRATCH "scratch"      /* where writes and creates go */
#define LG_DIRS1K "dirs1k"        /* LG_DIRS1K_ENTRIES empty directories */
#define LG_DIRS1K_ENTRIES 1000
#define LG_WRITE_WRAP (64ull << 20) /* a write stream wraps at this offset */

#define LG_IOHDRSZ 24             /* Linux P9_IOHDRSZ: a read/write moves msize - 24 */
#define LG_DEFAULT_MSIZE ((1u << 20) + 4096)

/* --- latency histogram --------------------------------------------------- */

/* Log-linear buckets: 32 per power of two (about 3 % resolution), 1 ns to
 * about 18 minutes. */
#define LG_HIST_SUB 5
#define LG_HIST_BUCKETS ((40 - LG_HIST_SUB + 1) << LG_HIST_SUB)

struct lg_hist {
	uint64_t count;
	uint64_t b[LG_HIST_BUCKETS];
};

void lg_hist_add(struct lg_hist *h, uint64_t ns);
void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from);
/* The value (ns) at quantile q in [0, 1]; 0 for an empty histogram. */
double lg_hist_quantile(const struct lg_hist *h, double q);

uint64_t lg_now_ns(void);

/* CPU seconds (user + system, all threads) of process pid, or of this
 * process for pid 0; NAN when unknown.  /proc's resolution is a clock tick. */
double lg_cpu_seconds(int pid);

/* --- connections and slots ---------------------------------------------- */

struct lg_conn;

struct lg_slot {
	struct lg_conn *conn;
	uint16_t tag;        /* == index in conn->slots */
	bool busy;           /* an operation is running */
	int step;            /* the workload's position in the chain */
	int kind;            /* mixed workload: which operation */
	uint8_t sent;        /* type of the request in flight */
	bool may_fail;       /* its Rlerror goes to the workload, not the engine */
	int ustep;           /* unlink sub-chain position (0: not unlinking) */
	uint64_t t0;         /* when the operation started (ns) */
	uint32_t fid;        /* per-slot fid numbers (LG_SLOT_FIDS each) */
	uint64_t off;        /* offset of the operation (data, readdir) */
	uint32_t done;       /* bytes moved so far in this operation */
	uint32_t seq;        /* operations started on this slot */
	uint32_t dirfid;     /* readdir: the slot's open directory */
	uint64_t entries;    /* readdir: entries seen in this listing */
	char name[64];       /* create: the file's name */
};

#define LG_SLOT_FIDS 4
#define LG_ROOT_FID 1
#define LG_SLOT_FID_BASE 100000

struct lg_thread;

struct lg_conn {
	/* set up by the engine */
	int index;                /* 0..conns-1 across the run */
	struct np_client *cl;     /* the synchronous client for set-up */
	int fd;                   /* == cl->fd, non-blocking */
	uint32_t msize;           /* negotiated */
	uint32_t iosize;          /* largest read/write payload: msize - 24 */
	struct lg_slot *slots;
	unsigned nslots;
	struct lg_thread *th;
	uint32_t run_id;          /* lg_params.run_id */
	uint64_t rng;
	/* workload state, set in the workload's setup */
	uint32_t filefid;         /* an open or walked file */
	uint32_t dirfid;          /* a walked directory */
	uint64_t cursor;          /* sequential workloads: the next offset */
	uint64_t span;            /* data workloads: offsets stay below this */
	char wname[64];           /* seqwrite: the file written */
	bool no_unlinkat;         /* the server answered Tunlinkat with EOPNOTSUPP */
	/* private: the pipelined transport */
	uint8_t *out;
	size_t outlen, outoff, outcap;
	uint8_t *in;
	size_t inlen, incap;
	unsigned inflight;
	bool want_out;            /* EPOLLOUT registered */
	bool dead;
};

/* --- workloads ----------------------------------------------------------- */

struct lg_params;
struct lg_result;

enum { LG_MORE = 1, LG_DONE = 0 };

struct lg_workload {
	const char *name;
	const char *what;         /* one line for --list and the report */
	bool is_data;             /* reports MiB/s */
	bool is_meta;             /* counts toward the metadata target */
	uint32_t op_bytes;        /* data moved per operation (data workloads) */
	/* Synchronous, before the timed part: fids the operations share. */
	int (*setup)(struct lg_conn *c);
	/* First request of an operation on slot s (t->tag is set by the engine). */
	void (*start)(struct lg_conn *c, struct lg_slot *s, struct np_msg *t);
	/* The reply to the slot's last request: fill *t and return LG_MORE,
	 * LG_DONE when the operation is complete, or -errno. */
	int (*next)(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r, struct np_msg *t);
	/* Synchronous, after the last operation: clunk, unlink. */
	void (*teardown)(struct lg_conn *c);
	/* The same system calls straight on the host file system, conns x
	 * depth threads each doing one operation at a time; NULL where there
	 * is no such equivalent. */
	int (*direct)(const char *export_dir, const struct lg_params *p, struct lg_result *res);
};

extern const struct lg_workload *const lg_workloads[];
const struct lg_workload *lg_workload_find(const char *name);

/* Make the layout above in dir (idempotent; the data file is kept if it
 * has the right size). */
int lg_prepare(const char *dir);

/* The copying transport's limit as a server of its own (loadgen-copyserver.c):
 * serves DIR's data file on unix:PATH until killed.  Exit status. */
int lg_copyserver(const char *addr, const char *dir, bool use_splice);

/* --- a run --------------------------------------------------------------- */

struct lg_target {
	char name[32];            /* "ninepd", "diod" */
	char addr[256];           /* unix:PATH or tcp:HOST:PORT */
	char aname[256];          /* attach name ("" for the first export) */
	int pid;                  /* the daemon's pid (CPU time, VmRSS), or 0 */
};

struct lg_params {
	const struct lg_workload *w;
	unsigned conns, depth;
	unsigned threads;         /* client threads (each polls its connections) */
	uint32_t msize;           /* asked for in Tversion */
	double seconds;           /* measured time */
	double warmup;            /* untimed time before it */
	uint64_t max_ops;         /* stop after this many operations (0: no bound) */
	uint32_t run_id;          /* makes file names unique across runs */
	const atomic_bool *until; /* if set: the measured time also ends once it is true */
};

struct lg_result {
	uint64_t ops;             /* completed in the measured window */
	double seconds;
	uint64_t bytes;
	struct lg_hist hist;
	uint32_t msize;           /* as negotiated */
	double server_cpu;        /* CPU seconds the server (target pid) used in the
				   * measured window; NAN without a pid */
	double client_cpu;        /* CPU seconds this process used in it */
	int err;                  /* 0, or why the run failed */
	char errmsg[256];
};

/*
 * One timed run of p->w against t: opens the connections and runs the
 * workload's set-up, keeps every slot busy for warmup + seconds (or until
 * max_ops operations), lets the operations in flight finish, tears down.
 * Returns 0 or -errno; res->errmsg says what failed.  Operations completed
 * during the warm-up are not counted.
 */
int lg_run(const struct lg_target *t, const struct lg_params *p, struct lg_result *res);

/* One session on t: connect, Tversion(msize), Tattach of LG_ROOT_FID as
 * root.  Used by the engine and the scale test. */
int lg_connect(const struct lg_target *t, uint32_t msize, struct np_client **out);

/* The workloads' random numbers: xorshift64*, one state per connection. */
static inline uint64_t lg_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

#endif
