/* The load generator's workloads, the export layout they run on, and the
 * physical limit of the data workloads and of create (the same system
 * calls made directly on the host).  Each workload is a chain of requests
 * per operation; see struct lg_workload in loadgen.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define FILE_FID 10    /* per connection: a file (walked or open) */
#define DIR_FID 11     /* per connection: LG_SCRATCH */
#define MIB (1u << 20)
#define KIB4 4096u

/* What every write sends: the content does not matter, the size does. */
static uint8_t wdata[MIB];

/* --- request builders ---------------------------------------------------- */

static void t_walk(struct np_msg *t, uint32_t fid, uint32_t newfid, uint16_t n,
		   const char *const *names)
{
	t->type = NP_TWALK;
	t->u.twalk.fid = fid;
	t->u.twalk.newfid = newfid;
	t->u.twalk.nwname = n;
	for (uint16_t i = 0; i < n; i++)
		t->u.twalk.wnames[i] = np_str_c(names[i]);
}

static const char *const path3[] = {"a", "b", "c"};

static void t_walk3(struct np_msg *t, uint32_t newfid)
{
	t_walk(t, LG_ROOT_FID, newfid, 3, path3);
}

static void t_clunk(struct np_msg *t, uint32_t fid)
{
	t->type = NP_TCLUNK;
	t->u.tclunk.fid = fid;
}

static void t_getattr(struct np_msg *t, uint32_t fid)
{
	t->type = NP_TGETATTR;
	t->u.tgetattr.fid = fid;
	t->u.tgetattr.request_mask = NP_GETATTR_ALL; /* what Linux asks for stat(2) */
}

static void t_read(struct np_msg *t, uint32_t fid, uint64_t off, uint32_t count)
{
	t->type = NP_TREAD;
	t->u.tread.fid = fid;
	t->u.tread.offset = off;
	t->u.tread.count = count;
}

static void t_write(struct np_msg *t, uint32_t fid, uint64_t off, uint32_t count)
{
	t->type = NP_TWRITE;
	t->u.twrite.fid = fid;
	t->u.twrite.offset = off;
	t->u.twrite.count = count;
	t->u.twrite.data = wdata;
}

static void t_lcreate(struct np_msg *t, uint32_t fid, const char *name, uint32_t flags)
{
	t->type = NP_TLCREATE;
	t->u.tlcreate.fid = fid;
	t->u.tlcreate.name = np_str_c(name);
	t->u.tlcreate.flags = flags;
	t->u.tlcreate.mode = 0644;
	t->u.tlcreate.gid = 0;
}

/*
 * Removing s->name from the connection's directory, as Linux does it:
 * Tunlinkat, and where the server lacks it (diod 1.0.24 answers
 * EOPNOTSUPP) a walk to the name and Tremove.  The fallback is remembered
 * per connection, so such a server pays its two requests but not a failed
 * Tunlinkat every time.  unlink_start() sends the first request; while
 * s->ustep is set the workload hands replies to unlink_next().
 */
static void t_walk1(struct np_msg *t, uint32_t fid, uint32_t newfid, const char *name)
{
	t->type = NP_TWALK;
	t->u.twalk.fid = fid;
	t->u.twalk.newfid = newfid;
	t->u.twalk.nwname = 1;
	t->u.twalk.wnames[0] = np_str_c(name);
}

static void unlink_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t, uint32_t flags)
{
	if (c->no_unlinkat) {
		s->ustep = 2;
		t_walk1(t, c->dirfid, s->fid + 2, s->name);
		return;
	}
	s->ustep = 1;
	t->type = NP_TUNLINKAT;
	t->u.tunlinkat.dirfid = c->dirfid;
	t->u.tunlinkat.name = np_str_c(s->name);
	t->u.tunlinkat.flags = flags;
}

static int unlink_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		       struct np_msg *t)
{
	switch (s->ustep) {
	case 1: /* Tunlinkat answered */
		if (r->type != NP_RLERROR)
			return LG_DONE;
		if (r->u.rlerror.ecode != EOPNOTSUPP)
			return -(int)r->u.rlerror.ecode;
		c->no_unlinkat = true;
		s->ustep = 2;
		t_walk1(t, c->dirfid, s->fid + 2, s->name);
		return LG_MORE;
	case 2: /* the walk to the name */
		if (r->u.rwalk.nwqid != 1)
			return -ENOENT;
		s->ustep = 3;
		t->type = NP_TREMOVE;
		t->u.tremove.fid = s->fid + 2;
		return LG_MORE;
	default:
		return LG_DONE;
	}
}

/* A name no earlier run, connection or slot used. */
static void slot_name(struct lg_conn *c, struct lg_slot *s, const char *prefix)
{
	snprintf(s->name, sizeof s->name, "%s%u-%d-%u-%u", prefix, c->run_id, c->index, s->tag,
		 s->seq);
}

/* --- set-up helpers ------------------------------------------------------ */

static int setup_walk(struct lg_conn *c, uint32_t fid, const char *path)
{
	return np_walk_path(c->cl, LG_ROOT_FID, fid, path, NULL);
}

/* FILE_FID: the data file, open for reading; span = its size. */
static int setup_data(struct lg_conn *c)
{
	int rc = setup_walk(c, FILE_FID, LG_DATA_FILE);
	struct np_attr a;
	if (!rc)
		rc = np_getattr(c->cl, FILE_FID, NP_GETATTR_SIZE, &a);
	if (!rc)
		rc = np_lopen(c->cl, FILE_FID, NP_DOTL_RDONLY, NULL, NULL);
	if (!rc && a.size < MIB)
		rc = -ENODATA; /* not prepared: run `ninepd-loadgen prepare` */
	c->filefid = FILE_FID;
	c->span = a.size & ~(uint64_t)(MIB - 1);
	c->cursor = (uint64_t)c->index * 16 * MIB % (c->span ? c->span : 1);
	return rc;
}

static int setup_scratch(struct lg_conn *c)
{
	c->dirfid = DIR_FID;
	return setup_walk(c, DIR_FID, LG_SCRATCH);
}

static int setup_path3(struct lg_conn *c)
{
	c->filefid = FILE_FID;
	return setup_walk(c, FILE_FID, LG_PATH3);
}

static void teardown_clunk(struct lg_conn *c)
{
	np_clunk(c->cl, FILE_FID);
	np_clunk(c->cl, DIR_FID);
}

/* --- getattr: Tgetattr on one fid ---------------------------------------- */

static void getattr_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	(void)s;
	t_getattr(t, c->filefid);
}

static int next_done(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		     struct np_msg *t)
{
	(void)c, (void)s, (void)r, (void)t;
	return LG_DONE;
}

static int getattr_direct(const char *dir, const struct lg_params *p, struct lg_result *res);

static const struct lg_workload w_getattr = {
	.name = "getattr",
	.what = "Tgetattr (all fields) on one walked fid of a 3-level path",
	.is_meta = true,
	.setup = setup_path3,
	.start = getattr_start,
	.next = next_done,
	.teardown = teardown_clunk,
	.direct = getattr_direct,
};

/* --- walk3: Twalk a/b/c to a new fid, Tclunk it -------------------------- */

static void walk3_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	(void)c;
	t_walk3(t, s->fid);
}

static int walk3_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		      struct np_msg *t)
{
	(void)c;
	if (s->step++ == 0) {
		if (r->u.rwalk.nwqid != 3)
			return -ENOENT;
		t_clunk(t, s->fid);
		return LG_MORE;
	}
	return LG_DONE;
}

static const struct lg_workload w_walk3 = {
	.name = "walk3",
	.what = "Twalk of a 3-level path (a/b/c) to a new fid, then Tclunk",
	.is_meta = true,
	.start = walk3_start,
	.next = walk3_next,
};

/* --- data: reads and writes in chunks of at most msize - 24 --------------- */

static uint32_t chunk(const struct lg_conn *c, uint32_t total, uint32_t done)
{
	uint32_t left = total - done;
	return left < c->iosize ? left : c->iosize;
}

static void randread_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	s->off = lg_rand(&c->rng) % (c->span / KIB4) * KIB4;
	t_read(t, c->filefid, s->off, KIB4);
}

/* Next chunk of a read or write of `total` bytes at s->off. */
static int io_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		   struct np_msg *t, uint32_t total)
{
	uint32_t want = chunk(c, total, s->done);
	uint32_t got = r->type == NP_RREAD ? r->u.rread.count : r->u.rwrite.count;
	if (got != want)
		return -EIO; /* short: the file is smaller than prepared */
	s->done += got;
	if (s->done == total)
		return LG_DONE;
	if (r->type == NP_RREAD)
		t_read(t, c->filefid, s->off + s->done, chunk(c, total, s->done));
	else
		t_write(t, c->filefid, s->off + s->done, chunk(c, total, s->done));
	return LG_MORE;
}

static int randread_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
			 struct np_msg *t)
{
	return io_next(c, s, r, t, KIB4);
}

static void seq_take(struct lg_conn *c, struct lg_slot *s)
{
	s->off = c->cursor;
	c->cursor += MIB;
	if (c->cursor >= c->span)
		c->cursor = 0;
}

static void seqread_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	seq_take(c, s);
	t_read(t, c->filefid, s->off, chunk(c, MIB, 0));
}

static int seq_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		    struct np_msg *t)
{
	return io_next(c, s, r, t, MIB);
}

/* FILE_FID: a new file in LG_SCRATCH open for writing (removed at teardown). */
static int seqwrite_setup(struct lg_conn *c)
{
	int rc = setup_scratch(c);
	if (!rc)
		rc = np_walk_path(c->cl, DIR_FID, FILE_FID, "", NULL);
	snprintf(c->wname, sizeof c->wname, "w%u-%d", c->run_id, c->index);
	if (!rc)
		rc = np_lcreate(c->cl, FILE_FID, c->wname, NP_DOTL_WRONLY | NP_DOTL_CREATE | NP_DOTL_TRUNC,
				0644, 0, NULL, NULL);
	c->filefid = FILE_FID;
	c->span = LG_WRITE_WRAP;
	return rc;
}

static void seqwrite_teardown(struct lg_conn *c)
{
	np_clunk(c->cl, FILE_FID);
	if (np_unlinkat(c->cl, DIR_FID, c->wname, 0) == -EOPNOTSUPP &&
	    np_walk_path(c->cl, DIR_FID, FILE_FID, c->wname, NULL) == 0)
		np_remove(c->cl, FILE_FID);
	np_clunk(c->cl, DIR_FID);
}

static void seqwrite_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	seq_take(c, s);
	t_write(t, c->filefid, s->off, chunk(c, MIB, 0));
}

/* The limit: conns x depth threads doing the same system calls. */
enum direct_mode {
	DIRECT_RANDREAD,      /* pread 4 KiB at random offsets */
	DIRECT_SEQREAD,       /* pread 1 MiB sequentially */
	DIRECT_SEQWRITE,      /* pwrite 1 MiB sequentially */
	DIRECT_CREATE,        /* openat(O_CREAT|O_EXCL), pwrite 4 KiB, close, unlinkat */
	DIRECT_READDIR,       /* lseek to 0, getdents64 of 1 MiB until the end */
	DIRECT_GETATTR,       /* fstatat(AT_EMPTY_PATH) of an O_PATH descriptor, as ninepd */
};

struct direct_arg {
	int fd;               /* the file, or for DIRECT_CREATE the directory */
	enum direct_mode mode;
	uint64_t span;
	uint64_t seed;
	atomic_int *phase;    /* 0 warm-up, 1 measure, 2 stop */
	struct lg_hist hist;
	uint64_t ops, bytes;
	int err;
};

static void *direct_thread(void *arg)
{
	struct direct_arg *a = arg;
	uint8_t *buf = aligned_alloc(4096, MIB);
	if (!buf) {
		a->err = -ENOMEM;
		return NULL;
	}
	memset(buf, 0x5a, MIB);
	uint64_t off = a->seed % (a->span / MIB) * MIB;
	uint64_t rng = a->seed | 1, seq = 0;
	int ph;
	while ((ph = atomic_load_explicit(a->phase, memory_order_relaxed)) != 2) {
		uint64_t t0 = lg_now_ns();
		ssize_t n;
		size_t want;
		if (a->mode == DIRECT_RANDREAD) {
			want = KIB4;
			n = pread(a->fd, buf, want, (off_t)(lg_rand(&rng) % (a->span / KIB4) * KIB4));
		} else if (a->mode == DIRECT_GETATTR) {
			struct stat st;
			want = 0;
			n = fstatat(a->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		} else if (a->mode == DIRECT_READDIR) {
			/* The kernel's part of a listing: what any server pays. */
			n = lseek(a->fd, 0, SEEK_SET);
			want = 0;
			while (n == 0 && (n = syscall(SYS_getdents64, a->fd, buf, MIB)) > 0)
				n = 0;
		} else if (a->mode == DIRECT_CREATE) {
			char name[64];
			snprintf(name, sizeof name, "x%llx-%llu", (unsigned long long)a->seed,
				 (unsigned long long)seq++);
			want = KIB4;
			int fd = openat(a->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			n = fd < 0 ? -1 : pwrite(fd, buf, want, 0);
			if (fd >= 0) {
				close(fd);
				if (unlinkat(a->fd, name, 0))
					n = -1;
			}
		} else {
			want = MIB;
			n = a->mode == DIRECT_SEQREAD ? pread(a->fd, buf, want, (off_t)off)
						      : pwrite(a->fd, buf, want, (off_t)off);
			off = off + MIB >= a->span ? 0 : off + MIB;
		}
		if (n != (ssize_t)want) {
			a->err = n < 0 ? -errno : -EIO;
			break;
		}
		if (ph == 1) {
			lg_hist_add(&a->hist, lg_now_ns() - t0);
			a->ops++;
			a->bytes += want;
		}
	}
	free(buf);
	return NULL;
}

static int direct_run(const char *dir, const struct lg_params *p, struct lg_result *res,
		      enum direct_mode mode)
{
	memset(res, 0, sizeof *res);
	unsigned n = p->conns * p->depth;
	struct direct_arg *args = calloc(n, sizeof *args);
	pthread_t *tids = calloc(n, sizeof *tids);
	if (!args || !tids) {
		free(args);
		free(tids);
		return -ENOMEM;
	}
	atomic_int phase = 0;
	char path[4096];
	int rc = 0;
	unsigned started = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct direct_arg *a = &args[i];
		if (mode == DIRECT_READDIR) {
			snprintf(path, sizeof path, "%s/%s", dir, LG_DIR10K);
			a->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			a->span = MIB;
		} else if (mode == DIRECT_GETATTR) {
			snprintf(path, sizeof path, "%s/%s", dir, LG_PATH3);
			a->fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			a->span = MIB;
		} else if (mode == DIRECT_CREATE) {
			snprintf(path, sizeof path, "%s/%s", dir, LG_SCRATCH);
			a->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			a->span = MIB;
		} else if (mode == DIRECT_SEQWRITE) {
			snprintf(path, sizeof path, "%s/%s/direct%u-%u", dir, LG_SCRATCH, p->run_id, i);
			a->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			unlink(path); /* the fd keeps it until the run ends */
			a->span = LG_WRITE_WRAP;
		} else {
			snprintf(path, sizeof path, "%s/%s", dir, LG_DATA_FILE);
			a->fd = open(path, O_RDONLY | O_CLOEXEC);
			struct stat st;
			a->span = a->fd >= 0 && fstat(a->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
			a->span &= ~(uint64_t)(MIB - 1);
		}
		if (a->fd < 0 || a->span == 0) {
			rc = a->fd < 0 ? -errno : -ENODATA;
			snprintf(res->errmsg, sizeof res->errmsg, "direct: %.100s: %s", path,
				 strerror(-rc));
			break;
		}
		a->mode = mode;
		a->seed = 0x9E3779B97F4A7C15ULL * (i + 1) ^ p->run_id;
		a->phase = &phase;
		if (pthread_create(&tids[i], NULL, direct_thread, a)) {
			rc = -EAGAIN;
			break;
		}
		started++;
	}
	struct timespec ws = {.tv_sec = (time_t)p->warmup,
			      .tv_nsec = (long)((p->warmup - (double)(time_t)p->warmup) * 1e9)};
	struct timespec ms = {.tv_sec = (time_t)p->seconds,
			      .tv_nsec = (long)((p->seconds - (double)(time_t)p->seconds) * 1e9)};
	uint64_t t0 = 0, t1 = 0;
	res->server_cpu = res->client_cpu = NAN;
	if (rc == 0) {
		nanosleep(&ws, NULL);
		double cpu0 = lg_cpu_seconds(0);
		t0 = lg_now_ns();
		atomic_store(&phase, 1);
		nanosleep(&ms, NULL);
		t1 = lg_now_ns();
		res->client_cpu = lg_cpu_seconds(0) - cpu0;
	}
	atomic_store(&phase, 2);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; i < n; i++) {
		res->ops += args[i].ops;
		res->bytes += args[i].bytes;
		lg_hist_merge(&res->hist, &args[i].hist);
		if (args[i].err && rc == 0) {
			rc = args[i].err;
			snprintf(res->errmsg, sizeof res->errmsg, "direct: I/O: %s", strerror(-rc));
		}
		if (args[i].fd > 0)
			close(args[i].fd);
	}
	res->seconds = (double)(t1 - t0) / 1e9;
	res->err = rc;
	free(args);
	free(tids);
	return rc;
}

static int randread_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_RANDREAD);
}

static int seqread_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_SEQREAD);
}

static int seqwrite_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_SEQWRITE);
}

static int getattr_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_GETATTR);
}

static int create_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_CREATE);
}

static const struct lg_workload w_randread = {
	.name = "randread4k",
	.what = "Tread of 4 KiB at random 4 KiB-aligned offsets of the data file (page cache)",
	.is_data = true,
	.op_bytes = KIB4,
	.setup = setup_data,
	.start = randread_start,
	.next = randread_next,
	.teardown = teardown_clunk,
	.direct = randread_direct,
};

static const struct lg_workload w_seqread = {
	.name = "seqread1m",
	.what = "1 MiB sequential reads of the data file, in Treads of at most msize - 24",
	.is_data = true,
	.op_bytes = MIB,
	.setup = setup_data,
	.start = seqread_start,
	.next = seq_next,
	.teardown = teardown_clunk,
	.direct = seqread_direct,
};

static const struct lg_workload w_seqwrite = {
	.name = "seqwrite1m",
	.what = "1 MiB sequential writes to a new file (wrapping at 64 MiB), Twrites of at most msize - 24",
	.is_data = true,
	.op_bytes = MIB,
	.setup = seqwrite_setup,
	.start = seqwrite_start,
	.next = seq_next,
	.teardown = seqwrite_teardown,
	.direct = seqwrite_direct,
};

/* --- readdir10k: list a 10,000-entry directory with Treaddir ------------- */

/* Every slot lists through its own open fid (slot fid + 1). */
static int open_dir_per_slot(struct lg_conn *c, const char *path)
{
	for (unsigned k = 0; k < c->nslots; k++) {
		struct lg_slot *s = &c->slots[k];
		s->dirfid = s->fid + 1;
		int rc = setup_walk(c, s->dirfid, path);
		if (!rc)
			rc = np_lopen(c->cl, s->dirfid, NP_DOTL_RDONLY, NULL, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

static int readdir_setup(struct lg_conn *c)
{
	return open_dir_per_slot(c, LG_DIR10K);
}

static int readdir_direct(const char *dir, const struct lg_params *p, struct lg_result *res)
{
	return direct_run(dir, p, res, DIRECT_READDIR);
}

static void readdir_teardown(struct lg_conn *c)
{
	for (unsigned k = 0; k < c->nslots; k++)
		np_clunk(c->cl, c->slots[k].dirfid);
}

static void t_readdir(const struct lg_conn *c, struct np_msg *t, const struct lg_slot *s)
{
	t->type = NP_TREADDIR;
	t->u.treaddir.fid = s->dirfid;
	t->u.treaddir.offset = s->off;
	t->u.treaddir.count = c->iosize; /* Linux: msize - P9_READDIRHDRSZ (24) */
}

static void readdir_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	s->off = 0;
	s->entries = 0;
	t_readdir(c, t, s);
}

static int readdir_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
			struct np_msg *t)
{
	uint32_t pos = 0;
	struct np_dirent d;
	int rc;
	while ((rc = np_dirent_next(r->u.rreaddir.data, r->u.rreaddir.count, &pos, &d)) == 1) {
		s->entries++;
		s->off = d.offset;
	}
	if (rc < 0)
		return -EPROTO;
	if (r->u.rreaddir.count == 0) {
		/* "." and ".." come on top of the files. */
		return s->entries >= LG_DIR_ENTRIES ? LG_DONE : -ENOENT;
	}
	t_readdir(c, t, s);
	return LG_MORE;
}

static const struct lg_workload w_readdir = {
	.name = "readdir10k",
	.what = "list a 10,000-entry directory from offset 0 to the end (Treaddir of msize - 24)",
	.is_meta = true,
	.setup = readdir_setup,
	.start = readdir_start,
	.next = readdir_next,
	.teardown = readdir_teardown,
	.direct = readdir_direct,
};

/* --- create: clone dir fid, Tlcreate, Twrite 4 KiB, Tclunk, Tunlinkat ---- */

static void create_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	slot_name(c, s, "c");
	t_walk(t, c->dirfid, s->fid, 0, NULL);
}

static int create_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		       struct np_msg *t)
{
	switch (s->step++) {
	case 0:
		t_lcreate(t, s->fid, s->name, NP_DOTL_WRONLY | NP_DOTL_CREATE | NP_DOTL_EXCL);
		return LG_MORE;
	case 1:
		t_write(t, s->fid, 0, KIB4);
		return LG_MORE;
	case 2:
		if (r->u.rwrite.count != KIB4)
			return -EIO;
		t_clunk(t, s->fid);
		return LG_MORE;
	case 3:
		unlink_start(c, s, t, 0);
		return LG_MORE;
	default:
		return unlink_next(c, s, r, t);
	}
}

static const struct lg_workload w_create = {
	.name = "create",
	.what = "Twalk (clone dir) + Tlcreate + Twrite 4 KiB + Tclunk + Tunlinkat of a new file",
	.is_meta = true,
	.setup = setup_scratch,
	.start = create_start,
	.next = create_next,
	.teardown = teardown_clunk,
	.direct = create_direct,
};

/* --- mixed: a metadata mix like a build or a package manager's ----------- */

enum {
	MIX_STAT,    /* 40 %: walk a/b/c, getattr, clunk (stat(2) of a path) */
	MIX_GETATTR, /* 20 %: getattr of an already walked fid (fstat) */
	MIX_STATFS,  /* 10 % */
	MIX_SETATTR, /* 10 %: set mtime to the server's time (touch) */
	MIX_CREATE,  /* 10 %: clone dir, lcreate, clunk, unlinkat */
	MIX_MKDIR,   /* 10 %: mkdir, rmdir */
};

static int mix_kind(uint64_t r)
{
	unsigned p = (unsigned)(r % 100);
	return p < 40 ? MIX_STAT : p < 60 ? MIX_GETATTR : p < 70 ? MIX_STATFS
	       : p < 80 ? MIX_SETATTR : p < 90 ? MIX_CREATE : MIX_MKDIR;
}

static int mixed_setup(struct lg_conn *c)
{
	int rc = setup_path3(c);
	return rc ? rc : setup_scratch(c);
}

static void mixed_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	s->kind = mix_kind(lg_rand(&c->rng));
	switch (s->kind) {
	case MIX_STAT:
		t_walk3(t, s->fid);
		break;
	case MIX_GETATTR:
		t_getattr(t, c->filefid);
		break;
	case MIX_STATFS:
		t->type = NP_TSTATFS;
		t->u.tstatfs.fid = LG_ROOT_FID;
		break;
	case MIX_SETATTR:
		t->type = NP_TSETATTR;
		t->u.tsetattr.fid = c->filefid;
		t->u.tsetattr.valid = NP_SETATTR_MTIME;
		break;
	case MIX_CREATE:
		slot_name(c, s, "m");
		t_walk(t, c->dirfid, s->fid, 0, NULL);
		break;
	default:
		slot_name(c, s, "d");
		t->type = NP_TMKDIR;
		t->u.tmkdir.dfid = c->dirfid;
		t->u.tmkdir.name = np_str_c(s->name);
		t->u.tmkdir.mode = 0755;
		break;
	}
}

static int mixed_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		      struct np_msg *t)
{
	int step = s->step++;
	switch (s->kind) {
	case MIX_STAT:
		if (step == 0) {
			if (r->u.rwalk.nwqid != 3)
				return -ENOENT;
			t_getattr(t, s->fid);
			return LG_MORE;
		}
		if (step == 1) {
			t_clunk(t, s->fid);
			return LG_MORE;
		}
		return LG_DONE;
	case MIX_CREATE:
		if (step == 0) {
			t_lcreate(t, s->fid, s->name, NP_DOTL_RDWR | NP_DOTL_CREATE | NP_DOTL_EXCL);
			return LG_MORE;
		}
		if (step == 1) {
			t_clunk(t, s->fid);
			return LG_MORE;
		}
		if (step == 2) {
			unlink_start(c, s, t, 0);
			return LG_MORE;
		}
		return unlink_next(c, s, r, t);
	case MIX_MKDIR:
		if (step == 0) {
			unlink_start(c, s, t, NP_AT_REMOVEDIR);
			return LG_MORE;
		}
		return unlink_next(c, s, r, t);
	default:
		return LG_DONE;
	}
}

static const struct lg_workload w_mixed = {
	.name = "mixed",
	.what = "metadata mix: 40% stat of a/b/c (walk+getattr+clunk), 20% getattr, 10% statfs, "
		"10% setattr mtime, 10% create+clunk+unlink, 10% mkdir+rmdir",
	.is_meta = true,
	.setup = mixed_setup,
	.start = mixed_start,
	.next = mixed_next,
	.teardown = teardown_clunk,
};

/* --- expensive requests, the load of the fairness measurement ------------- */

/* lsdirs: one Treaddir from offset 0 of LG_DIRS1K, whose entries all fit
 * in one reply (about 30 KiB).  It costs getdents and a stat of every
 * subdirectory (a mount point changes an entry's qid): milliseconds of
 * CPU, a small request, the same every time.  Each slot lists through its
 * own open fid. */
static int lsdirs_setup(struct lg_conn *c)
{
	return open_dir_per_slot(c, LG_DIRS1K);
}

static void lsdirs_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	s->off = 0;
	t_readdir(c, t, s);
}

static int lsdirs_next(struct lg_conn *c, struct lg_slot *s, const struct np_msg *r,
		       struct np_msg *t)
{
	(void)c, (void)s, (void)t;
	return r->u.rreaddir.count > 0 ? LG_DONE : -ENOENT;
}

static const struct lg_workload w_lsdirs = {
	.name = "lsdirs",
	.what = "one Treaddir from offset 0 of a directory of 1,000 subdirectories (a stat each)",
	.setup = lsdirs_setup,
	.start = lsdirs_start,
	.next = lsdirs_next,
	.teardown = readdir_teardown,
};

/* fsync: Tfsync of the data file.  Nothing is dirty, so what it costs is
 * the disk's cache flush: a request that waits rather than computes. */
static void fsync_start(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	(void)s;
	t->type = NP_TFSYNC;
	t->u.tfsync.fid = c->filefid;
}

static const struct lg_workload w_fsync = {
	.name = "fsync",
	.what = "Tfsync of the data file, open for reading (clean: the disk's cache flush)",
	.setup = setup_data,
	.start = fsync_start,
	.next = next_done,
	.teardown = teardown_clunk,
};

/* --- the table ----------------------------------------------------------- */

const struct lg_workload *const lg_workloads[] = {
	&w_getattr, &w_walk3, &w_randread, &w_seqread, &w_seqwrite,
	&w_readdir, &w_create, &w_mixed, &w_lsdirs, &w_fsync, NULL,
};

const struct lg_workload *lg_workload_find(const char *name)
{
	for (size_t i = 0; lg_workloads[i]; i++)
		if (!strcmp(lg_workloads[i]->name, name))
			return lg_workloads[i];
	return NULL;
}

/* --- the export layout --------------------------------------------------- */

/* mkdir -p. */
static int mkdir_p(const char *path)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int write_file(const char *path, uint64_t size)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	uint8_t *buf = malloc(MIB);
	int rc = buf ? 0 : -ENOMEM;
	uint64_t rng = 42;
	for (uint64_t off = 0; rc == 0 && off < size; off += MIB) {
		for (size_t i = 0; i < MIB; i += 8) {
			uint64_t v = lg_rand(&rng);
			memcpy(buf + i, &v, 8);
		}
		size_t n = size - off < MIB ? (size_t)(size - off) : MIB;
		if (write(fd, buf, n) != (ssize_t)n)
			rc = -EIO;
	}
	free(buf);
	close(fd);
	return rc;
}

/* Reads the file once so both servers and the direct limit start from the
 * page cache. */
static void warm_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	uint8_t *buf = malloc(MIB);
	while (buf && read(fd, buf, MIB) > 0)
		;
	free(buf);
	close(fd);
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int lg_prepare(const char *dir)
{
	char p[4096];
	int rc = mkdir_p(dir);
	const char *dirs[] = {"a", "a/b", LG_DIR10K, LG_SCRATCH};
	for (size_t i = 0; rc == 0 && i < sizeof dirs / sizeof *dirs; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
		rc = mkdir_p(p);
	}
	for (int i = 0; rc == 0 && i < LG_DIRS1K_ENTRIES; i++) {
		snprintf(p, sizeof p, "%s/%s/d%04d", dir, LG_DIRS1K, i);
		rc = mkdir_p(p);
	}
	if (rc)
		return rc;
	snprintf(p, sizeof p, "%s/%s", dir, LG_PATH3);
	if ((rc = write_file(p, KIB4)))
		return rc;
	snprintf(p, sizeof p, "%s/%s", dir, LG_DATA_FILE);
	if ((rc = write_file(p, (uint64_t)LG_DATA_MIB * MIB)))
		return rc;
	warm_file(p);
	snprintf(p, sizeof p, "%s/%s", dir, LG_DIR10K);
	if (count_entries(p) != LG_DIR_ENTRIES) {
		for (int i = 0; i < LG_DIR_ENTRIES; i++) {
			snprintf(p, sizeof p, "%s/%s/f%05d", dir, LG_DIR10K, i);
			int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			if (fd < 0)
				return -errno;
			close(fd);
		}
		snprintf(p, sizeof p, "%s/%s", dir, LG_DIR10K);
		if (count_entries(p) != LG_DIR_ENTRIES)
			return -EEXIST; /* something else lives in there */
	}
	return 0;
}
