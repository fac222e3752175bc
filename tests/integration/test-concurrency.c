/* Integration: pipelined requests, Tflush of requests in flight, and several
 * clients working on one export at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "np_suite.h"

NP_FIXTURE_SUITE(concurrency, 60);

/* Replies per request index, and whether each had the expected type. */
struct tally {
	struct np_msg *reqs;
	unsigned *seen;
	unsigned errors;
	char first_error[128];
};

static int count_reply(void *arg, size_t i, const struct np_msg *r)
{
	struct tally *t = arg;
	t->seen[i]++;
	if (r->type != t->reqs[i].type + 1) {
		if (t->errors++ == 0)
			snprintf(t->first_error, sizeof(t->first_error),
				 "request %zu (%s) got %s ecode %u", i,
				 np_type_name(t->reqs[i].type), np_type_name(r->type),
				 r->type == NP_RLERROR ? r->u.rlerror.ecode : 0);
	}
	return 0;
}

static void run_pipeline(struct np_client *c, struct np_msg *reqs, size_t n, size_t window)
{
	struct tally t = {.reqs = reqs, .seen = calloc(n, sizeof(unsigned))};
	cr_assert_not_null(t.seen);
	int err = np_pipeline(c, reqs, n, window, count_reply, &t);
	cr_assert_eq(err, 0, "pipeline of %zu requests: %s", n, strerror(-err));
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(t.seen[i], 1, "request %zu answered %u times", i, t.seen[i]);
	cr_expect_eq(t.errors, 0, "%u unexpected replies; first: %s", t.errors, t.first_error);
	free(t.seen);
}

/* A mix of requests that do not depend on each other. */
static struct np_msg *mixed_requests(size_t n, uint32_t file_fid, uint32_t first_newfid)
{
	struct np_msg *reqs = calloc(n, sizeof(*reqs));
	cr_assert_not_null(reqs);
	for (size_t i = 0; i < n; i++) {
		struct np_msg *m = &reqs[i];
		switch (i % 4) {
		case 0:
			m->type = NP_TGETATTR;
			m->u.tgetattr.fid = fx.root;
			m->u.tgetattr.request_mask = NP_GETATTR_ALL;
			break;
		case 1:
			m->type = NP_TREAD;
			m->u.tread.fid = file_fid;
			m->u.tread.offset = i;
			m->u.tread.count = 1000;
			break;
		case 2:
			m->type = NP_TWALK;
			m->u.twalk.fid = fx.root;
			m->u.twalk.newfid = first_newfid + (uint32_t)i;
			m->u.twalk.nwname = 1;
			m->u.twalk.wnames[0] = np_str_c("file");
			break;
		default:
			m->type = NP_TSTATFS;
			m->u.tstatfs.fid = fx.root;
		}
	}
	return reqs;
}

Test(concurrency, pipelining_200_tags_gets_every_reply_once)
{
	char data[4096];
	memset(data, 'p', sizeof(data));
	cr_assert_eq(np_fixture_write(&fx, "file", data, sizeof(data)), 0);
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "file", NP_DOTL_RDONLY, &f), 0);
	struct np_msg *reqs = mixed_requests(200, f, 100000);
	run_pipeline(fx.c, reqs, 200, 200);
	/* Every walk created its fid. */
	for (uint32_t i = 2; i < 200; i += 4)
		cr_expect_eq(np_clunk(fx.c, 100000 + i), 0, "fid of walk %u", i);
	free(reqs);
}

Test(concurrency, pipelining_5000_requests_through_a_window_of_64)
{
	cr_assert_eq(np_fixture_write(&fx, "file", "abc", 3), 0);
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "file", NP_DOTL_RDONLY, &f), 0);
	struct np_msg *reqs = mixed_requests(5000, f, 200000);
	run_pipeline(fx.c, reqs, 5000, 64);
	free(reqs);
}

Test(concurrency, pipelined_writes_to_one_fid_all_land)
{
	uint32_t f = np_fid_new(fx.c);
	cr_assert_eq(np_walk_path(fx.c, fx.root, f, "", NULL), 0);
	cr_assert_eq(np_lcreate(fx.c, f, "file", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	enum { N = 256, BLOCK = 1000 };
	static uint8_t blocks[N][BLOCK];
	struct np_msg reqs[N];
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < N; i++) {
		memset(blocks[i], 'A' + i % 26, BLOCK);
		blocks[i][0] = (uint8_t)i;
		reqs[i].type = NP_TWRITE;
		reqs[i].u.twrite.fid = f;
		reqs[i].u.twrite.offset = (uint64_t)i * BLOCK;
		reqs[i].u.twrite.count = BLOCK;
		reqs[i].u.twrite.data = blocks[i];
	}
	run_pipeline(fx.c, reqs, N, N);
	static uint8_t host[N * BLOCK + 1];
	cr_assert_eq(np_fixture_read(&fx, "file", host, sizeof(host)), N * BLOCK);
	for (int i = 0; i < N; i++)
		cr_expect_eq(memcmp(host + i * BLOCK, blocks[i], BLOCK), 0, "block %d differs", i);
}

/* Counts Rreaddir replies that differ from the expected one. */
struct readdir_check {
	const uint8_t *want;
	uint32_t want_len;
	int differ;
};

static int check_readdir(void *arg, size_t i, const struct np_msg *r)
{
	struct readdir_check *ctx = arg;
	(void)i;
	if (r->type != NP_RREADDIR || r->u.rreaddir.count != ctx->want_len ||
	    memcmp(r->u.rreaddir.data, ctx->want, ctx->want_len) != 0)
		ctx->differ++;
	return 0;
}

Test(concurrency, pipelined_readdirs_at_offset_0_on_one_fid_agree)
{
	char name[64];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "entry-%03d", i);
		cr_assert_eq(np_fixture_write(&fx, name, "", 0), 0);
	}
	uint32_t d;
	cr_assert_eq(np_open(fx.c, fx.root, "", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &d), 0);
	/* First the answer alone. */
	static uint8_t want[2048];
	uint32_t want_len;
	cr_assert_eq(np_readdir(fx.c, d, 0, sizeof(want), want, &want_len), 0);
	cr_assert_gt(want_len, 0);
	enum { N = 50 };
	struct np_msg reqs[N];
	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < N; i++) {
		reqs[i].type = NP_TREADDIR;
		reqs[i].u.treaddir.fid = d;
		reqs[i].u.treaddir.offset = 0;
		reqs[i].u.treaddir.count = sizeof(want);
	}
	struct readdir_check ctx = {want, want_len, 0};
	int err = np_pipeline(fx.c, reqs, N, N, check_readdir, &ctx);
	cr_assert_eq(err, 0, "%s", strerror(-err));
	cr_expect_eq(ctx.differ, 0, "%d of %d readdirs at offset 0 differ", ctx.differ, N);
}

Test(concurrency, flush_of_an_in_flight_request_is_answered_after_its_reply)
{
	static uint8_t big[1 << 20];
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "big", NP_DOTL_RDONLY, &f), 0);
	enum { N = 100 };
	for (uint16_t t = 0; t < N; t++) {
		struct np_msg m = {.type = NP_TREAD, .tag = t};
		m.u.tread.fid = f;
		m.u.tread.offset = (uint64_t)t * 8192;
		m.u.tread.count = np_max_io(fx.c->msize);
		cr_assert_eq(np_send(fx.c, &m), 0);
	}
	struct np_msg fl = {.type = NP_TFLUSH, .tag = N};
	fl.u.tflush.oldtag = N - 1;
	cr_assert_eq(np_send(fx.c, &fl), 0);

	unsigned seen[N + 1] = {0};
	bool flushed = false;
	/* Until Rflush plus the replies of every other read. */
	for (;;) {
		unsigned others = 0;
		for (int t = 0; t < N - 1; t++)
			others += seen[t] > 0;
		if (flushed && others == N - 1)
			break;
		struct np_msg r;
		int err = np_recv(fx.c, &r);
		cr_assert_eq(err, 0, "waiting for replies: %s", strerror(-err));
		cr_assert_leq(r.tag, N, "reply with unknown tag %u", r.tag);
		seen[r.tag]++;
		if (r.tag == N) {
			cr_expect_eq(r.type, NP_RFLUSH);
			flushed = true;
		} else if (r.tag == N - 1) {
			cr_expect_not(flushed, "the flushed request was answered after Rflush");
		} else {
			cr_expect_eq(r.type, NP_RREAD, "tag %u: %s", r.tag, np_type_name(r.type));
		}
	}
	/* Nothing more may arrive: the flushed tag at most once, before Rflush. */
	struct np_msg r;
	fx.c->timeout_ms = 300;
	int err = np_recv(fx.c, &r);
	cr_expect_eq(err, -ETIMEDOUT, "an extra reply arrived: tag %u %s", r.tag,
		     err == 0 ? np_type_name(r.type) : "");
	for (int t = 0; t <= N; t++)
		cr_expect_leq(seen[t], 1, "tag %d answered %u times", t, seen[t]);
	fx.c->timeout_ms = NP_CLIENT_TIMEOUT_MS;
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(concurrency, two_clients_see_each_others_writes)
{
	struct np_client *b;
	cr_assert_eq(np_fixture_client(&fx, 0, &b, 1), 0);
	uint32_t fa = np_fid_new(fx.c), fb;
	cr_assert_eq(np_walk_path(fx.c, fx.root, fa, "", NULL), 0);
	cr_assert_eq(np_lcreate(fx.c, fa, "shared", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	cr_assert_eq(np_write(fx.c, fa, 0, "from-a", 6, NULL), 0);
	cr_assert_eq(np_open(b, 1, "shared", NP_DOTL_RDWR, &fb), 0);
	char buf[32];
	uint32_t got;
	cr_assert_eq(np_read(b, fb, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 6);
	cr_expect_eq(memcmp(buf, "from-a", 6), 0);
	cr_assert_eq(np_write(b, fb, 6, "+from-b", 7, NULL), 0);
	cr_assert_eq(np_read(fx.c, fa, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 13);
	cr_expect_eq(memcmp(buf, "from-a+from-b", 13), 0);
	/* Names made by one client are visible to the other at once. */
	cr_assert_eq(np_mkdir(b, 1, "made-by-b", 0755, 0, NULL), 0);
	cr_expect_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "made-by-b", NULL), 0);
	np_client_close(b);
}

Test(concurrency, twenty_clients_with_requests_in_flight_all_get_answers)
{
	enum { CLIENTS = 20, PER = 100 };
	struct np_client *c[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		cr_assert_eq(np_fixture_client(&fx, 0, &c[i], 1), 0, "client %d", i);
	/* Everything is sent before anything is read. */
	for (int i = 0; i < CLIENTS; i++) {
		for (uint16_t t = 0; t < PER; t++) {
			struct np_msg m = {.type = NP_TGETATTR, .tag = t};
			m.u.tgetattr.fid = 1;
			m.u.tgetattr.request_mask = NP_GETATTR_BASIC;
			cr_assert_eq(np_send(c[i], &m), 0);
		}
	}
	for (int i = 0; i < CLIENTS; i++) {
		bool seen[PER] = {false};
		for (int k = 0; k < PER; k++) {
			struct np_msg r;
			int err = np_recv(c[i], &r);
			cr_assert_eq(err, 0, "client %d reply %d: %s", i, k, strerror(-err));
			cr_assert_lt(r.tag, PER);
			cr_expect_not(seen[r.tag], "client %d: tag %u twice", i, r.tag);
			seen[r.tag] = true;
			cr_expect_eq(r.type, NP_RGETATTR);
		}
		np_client_close(c[i]);
	}
}

Test(concurrency, two_clients_creating_in_one_directory_both_succeed)
{
	struct np_client *b;
	cr_assert_eq(np_fixture_client(&fx, 0, &b, 1), 0);
	enum { N = 100 };
	struct np_msg ra[N], rb[N];
	char names_a[N][16], names_b[N][16];
	memset(ra, 0, sizeof(ra));
	memset(rb, 0, sizeof(rb));
	for (int i = 0; i < N; i++) {
		snprintf(names_a[i], 16, "a-%d", i);
		snprintf(names_b[i], 16, "b-%d", i);
		ra[i].type = rb[i].type = NP_TMKDIR;
		ra[i].u.tmkdir.dfid = fx.root;
		rb[i].u.tmkdir.dfid = 1;
		ra[i].u.tmkdir.name = np_str_c(names_a[i]);
		rb[i].u.tmkdir.name = np_str_c(names_b[i]);
		ra[i].u.tmkdir.mode = rb[i].u.tmkdir.mode = 0755;
	}
	/* Interleave: both clients' requests are in the server at once. */
	for (int i = 0; i < N; i++) {
		ra[i].tag = rb[i].tag = (uint16_t)i;
		cr_assert_eq(np_send(fx.c, &ra[i]), 0);
		cr_assert_eq(np_send(b, &rb[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		struct np_msg r;
		cr_assert_eq(np_recv(fx.c, &r), 0);
		cr_expect_eq(r.type, NP_RMKDIR, "a: %s", np_type_name(r.type));
		cr_assert_eq(np_recv(b, &r), 0);
		cr_expect_eq(r.type, NP_RMKDIR, "b: %s", np_type_name(r.type));
	}
	for (int i = 0; i < N; i++) {
		char p[4096];
		struct stat st;
		cr_expect_eq(stat(np_fixture_path(&fx, names_a[i], p, sizeof(p)), &st), 0);
		cr_expect_eq(stat(np_fixture_path(&fx, names_b[i], p, sizeof(p)), &st), 0);
	}
	np_client_close(b);
}

/* --- blocking locks and other clients ----------------------------------------- */

static struct np_client *client_with_file(uint32_t *fid)
{
	struct np_client *c;
	cr_assert_eq(np_fixture_client(&fx, 0, &c, 1), 0);
	int err = np_open(c, 1, "locked", NP_DOTL_RDWR, fid);
	cr_assert_eq(err, 0, "open: %s", strerror(-err));
	return c;
}

static uint8_t try_lock(struct np_client *c, uint32_t fid, uint8_t type)
{
	uint8_t status = 0xff;
	int err = np_lock(c, fid, type, 0, 0, 0, 1, "t", &status);
	cr_assert_eq(err, 0, "Tlock: %s", strerror(-err));
	return status;
}

/* Sends a blocking write lock with `tag` and checks that it is waiting. */
static void start_waiting_lock(struct np_client *c, uint32_t fid, uint16_t tag)
{
	struct np_msg r;
	cr_assert_eq(np_send_blocking_lock(c, fid, tag, 7), 0);
	c->timeout_ms = 100;
	int err = np_recv(c, &r);
	c->timeout_ms = 5000;
	cr_assert_eq(err, -ETIMEDOUT, "the blocking lock did not wait (reply %s)",
		     err == 0 ? np_type_name(r.type) : strerror(-err));
}

/* Two clients on "locked": the holder has the write lock, the waiter's
 * blocking Tlock (with `tag`) is waiting for it. */
struct contention {
	struct np_client *holder, *waiter;
	uint32_t fh, fw;
};

static struct contention contend(uint16_t tag)
{
	struct contention k;
	cr_assert_eq(np_fixture_write(&fx, "locked", "", 0), 0);
	k.holder = client_with_file(&k.fh);
	k.waiter = client_with_file(&k.fw);
	cr_assert_eq(try_lock(k.holder, k.fh, NP_LOCK_TYPE_WRLCK), NP_LOCK_SUCCESS);
	start_waiting_lock(k.waiter, k.fw, tag);
	return k;
}

/* Once the holder unlocks, nobody else may hold the lock. */
static void expect_free_after_unlock(struct contention *k, const char *why)
{
	cr_assert_eq(try_lock(k->holder, k->fh, NP_LOCK_TYPE_UNLCK), NP_LOCK_SUCCESS);
	usleep(200000);
	uint32_t fo;
	struct np_client *other = client_with_file(&fo);
	cr_expect_eq(try_lock(other, fo, NP_LOCK_TYPE_WRLCK), NP_LOCK_SUCCESS, "%s", why);
	np_client_close(other);
}

Test(concurrency, flush_affects_only_its_own_connection)
{
	struct contention k = contend(500);
	/* Another connection flushes the same tag number: its own, idle one. */
	uint32_t fo;
	struct np_client *other = client_with_file(&fo);
	cr_expect_eq(np_flush(other, 500), 0);
	np_client_close(other);
	cr_assert_eq(try_lock(k.holder, k.fh, NP_LOCK_TYPE_UNLCK), NP_LOCK_SUCCESS);
	struct np_msg r;
	int err = np_recv(k.waiter, &r);
	cr_assert_eq(err, 0, "the waiting lock was lost: %s", strerror(-err));
	cr_expect_eq(r.tag, 500);
	cr_assert_eq(r.type, NP_RLOCK, "%s", np_type_name(r.type));
	cr_expect_eq(r.u.rlock.status, NP_LOCK_SUCCESS);
	np_client_close(k.holder);
	np_client_close(k.waiter);
}

Test(concurrency, many_waiting_locks_do_not_starve_other_clients)
{
	cr_assert_eq(np_fixture_write(&fx, "locked", "", 0), 0);
	enum { WAITERS = 24 };
	uint32_t fh, fw[WAITERS];
	struct np_client *holder = client_with_file(&fh), *w[WAITERS];
	cr_assert_eq(try_lock(holder, fh, NP_LOCK_TYPE_WRLCK), NP_LOCK_SUCCESS);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = client_with_file(&fw[i]);
		start_waiting_lock(w[i], fw[i], 1);
	}
	/* Reads, writes and directory work still get done meanwhile. */
	for (int i = 0; i < 20; i++) {
		char name[32];
		snprintf(name, sizeof(name), "busy-%d", i);
		int err = np_mkdir(fx.c, fx.root, name, 0755, 0, NULL);
		cr_assert_eq(err, 0, "Tmkdir %d while %d locks wait: %s", i, WAITERS, strerror(-err));
		err = np_fsync(holder, fh, 0);
		cr_assert_eq(err, 0, "Tfsync while locks wait: %s", strerror(-err));
	}
	/* Handing the lock round: each waiter gets it in turn. */
	cr_assert_eq(try_lock(holder, fh, NP_LOCK_TYPE_UNLCK), NP_LOCK_SUCCESS);
	int remaining = WAITERS, spins = 0;
	while (remaining > 0) {
		int got = -1;
		for (int i = 0; i < WAITERS && got < 0; i++) {
			if (!w[i])
				continue;
			struct np_msg r;
			w[i]->timeout_ms = 0;
			int err = np_recv(w[i], &r);
			w[i]->timeout_ms = 5000;
			if (err == 0) {
				cr_assert_eq(r.type, NP_RLOCK);
				cr_assert_eq(r.u.rlock.status, NP_LOCK_SUCCESS);
				got = i;
			}
		}
		if (got < 0) {
			cr_assert_lt(++spins, 500, "the lock is not handed on (%d waiting)", remaining);
			usleep(10000);
			continue;
		}
		cr_assert_eq(try_lock(w[got], fw[got], NP_LOCK_TYPE_UNLCK), NP_LOCK_SUCCESS);
		np_client_close(w[got]);
		w[got] = NULL;
		remaining--;
	}
	np_client_close(holder);
}

Test(concurrency, disconnect_cancels_a_waiting_lock)
{
	struct contention k = contend(9);
	np_client_close(k.waiter);
	usleep(100000);
	expect_free_after_unlock(&k, "the gone client's waiting Tlock took the lock");
	np_client_close(k.holder);
}

/* --- requests racing on one fid ------------------------------------------------ */

/* Accepts any reply: only completeness and the server's health matter. */
static int any_reply(void *arg, size_t i, const struct np_msg *r)
{
	unsigned *n = arg;
	(void)i;
	(void)r;
	(*n)++;
	return 0;
}

Test(concurrency, clunk_with_reads_in_flight_on_the_fid)
{
	static uint8_t big[1 << 20];
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t f;
		cr_assert_eq(np_open(fx.c, fx.root, "big", NP_DOTL_RDONLY, &f), 0);
		enum { N = 30 };
		struct np_msg reqs[N + 2];
		memset(reqs, 0, sizeof(reqs));
		for (int i = 0; i < N; i++) {
			reqs[i].type = NP_TREAD;
			reqs[i].u.tread.fid = f;
			reqs[i].u.tread.offset = (uint64_t)i * 30000;
			reqs[i].u.tread.count = 30000;
		}
		reqs[N].type = NP_TCLUNK;
		reqs[N].u.tclunk.fid = f;
		reqs[N + 1].type = NP_TCLUNK;
		reqs[N + 1].u.tclunk.fid = f;
		unsigned n = 0;
		cr_assert_eq(np_pipeline(fx.c, reqs, N + 2, N + 2, any_reply, &n), 0);
		cr_assert_eq(n, N + 2);
		cr_expect_lt(np_getattr(fx.c, f, NP_GETATTR_BASIC, NULL), 0, "fid alive after Tclunk");
	}
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(concurrency, requests_racing_on_one_fid_all_complete)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "sub/f", "data", 4), 0);
	for (int round = 0; round < 20; round++) {
		uint32_t d = np_fid_new(fx.c), nf = np_fid_new(fx.c);
		cr_assert_eq(np_walk_path(fx.c, fx.root, d, "", NULL), 0);
		enum { N = 40 };
		struct np_msg reqs[N];
		memset(reqs, 0, sizeof(reqs));
		for (int i = 0; i < N; i++) {
			struct np_msg *m = &reqs[i];
			switch (i % 8) {
			case 3: /* moves d into sub, or fails once it is there */
				m->type = NP_TWALK;
				m->u.twalk.fid = d;
				m->u.twalk.newfid = d;
				m->u.twalk.nwname = 1;
				m->u.twalk.wnames[0] = np_str_c("sub");
				break;
			case 5:
				m->type = NP_TWALK;
				m->u.twalk.fid = d;
				m->u.twalk.newfid = nf;
				break;
			case 6:
				m->type = NP_TCLUNK;
				m->u.tclunk.fid = nf;
				break;
			case 7:
				m->type = NP_TREADDIR;
				m->u.treaddir.fid = d;
				m->u.treaddir.count = 1000;
				break;
			default:
				m->type = NP_TGETATTR;
				m->u.tgetattr.fid = d;
				m->u.tgetattr.request_mask = NP_GETATTR_ALL;
			}
		}
		reqs[N - 1].type = NP_TCLUNK;
		reqs[N - 1].u.tclunk.fid = d;
		unsigned n = 0;
		cr_assert_eq(np_pipeline(fx.c, reqs, N, N, any_reply, &n), 0);
		cr_assert_eq(n, N);
		np_clunk(fx.c, nf);
		np_clunk(fx.c, d);
	}
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(concurrency, version_cancels_a_waiting_lock)
{
	struct contention k = contend(3);
	struct np_msg v = {.type = NP_TVERSION, .tag = NP_NOTAG}, r;
	v.u.tversion.msize = 8192;
	v.u.tversion.version = np_str_c("9P2000.L");
	cr_assert_eq(np_send(k.waiter, &v), 0);
	k.waiter->timeout_ms = 3000;
	for (;;) {
		int err = np_recv(k.waiter, &r);
		cr_assert_eq(err, 0, "no Rversion while a Tlock waits: %s", strerror(-err));
		if (r.tag == NP_NOTAG)
			break;
		cr_expect_eq(r.tag, 3, "reply with tag %u", r.tag);
		if (r.type == NP_RLOCK)
			cr_expect_neq(r.u.rlock.status, NP_LOCK_SUCCESS);
	}
	cr_expect_eq(r.type, NP_RVERSION);
	expect_free_after_unlock(&k, "the lock went to the reset session");
	np_client_close(k.holder);
	np_client_close(k.waiter);
}

/* One request at a time, always with the same tag, as Linux reuses a tag
 * the moment its reply arrives.  A lone request's reply is written by the
 * worker that ran it, before the loop thread has freed the tag: the next
 * request with that tag must wait for the bookkeeping, not be taken for a
 * tag reused in flight (which closes the connection).  Reads, writes and
 * getattrs, both with and without in-place replies, and an Rlerror. */
Test(concurrency, a_tag_reused_the_moment_its_reply_arrives_is_never_refused)
{
	uint32_t fid;
	cr_assert_eq(np_fixture_write(&fx, "reuse", "0123456789", 10), 0);
	cr_assert_eq(np_open(fx.c, fx.root, "reuse", NP_DOTL_RDWR, &fid), 0);
	for (int i = 0; i < 20000; i++) {
		struct np_msg m = {.tag = 7}, r;
		switch (i % 4) {
		case 0:
			m.type = NP_TGETATTR;
			m.u.tgetattr.fid = fid;
			m.u.tgetattr.request_mask = NP_GETATTR_BASIC;
			break;
		case 1:
			m.type = NP_TREAD;
			m.u.tread.fid = fid;
			m.u.tread.count = 10;
			break;
		case 2:
			m.type = NP_TWRITE;
			m.u.twrite.fid = fid;
			m.u.twrite.count = 1;
			m.u.twrite.offset = (uint64_t)(i / 4 % 10);
			m.u.twrite.data = (const uint8_t *)"x";
			break;
		default:
			m.type = NP_TGETATTR; /* an unknown fid: Rlerror */
			m.u.tgetattr.fid = 999999;
			m.u.tgetattr.request_mask = NP_GETATTR_BASIC;
		}
		int err = np_send(fx.c, &m);
		if (!err)
			err = np_recv(fx.c, &r);
		cr_assert_eq(err, 0, "request %d: %s", i, strerror(-err));
		cr_assert_eq(r.tag, 7);
		uint8_t want = i % 4 == 3 ? NP_RLERROR : (uint8_t)(m.type + 1);
		cr_assert_eq(r.type, want, "request %d: reply type %u", i, r.type);
	}
	cr_assert_eq(np_clunk(fx.c, fid), 0);
}

/* A lone 1 MiB read: its worker writes the reply, the socket takes only
 * part of it while the client is not reading, and the loop thread sends
 * the rest before anything else (here a getattr sent meanwhile).  The
 * reply arrives whole and in order. */
Test(concurrency, a_lone_reply_too_big_for_the_socket_arrives_whole_and_first)
{
	enum { SIZE = 1 << 20 };
	static uint8_t data[SIZE];
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	cr_assert_eq(np_fixture_write(&fx, "big", data, SIZE), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, SIZE + 4096, "", 0, 1), 0);
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "big", NP_DOTL_RDONLY, &fid), 0);
	struct np_msg t = {.type = NP_TREAD, .tag = 1}, r;
	t.u.tread.fid = fid;
	t.u.tread.count = c->msize - 24; /* as Linux asks, at the daemon's 1 MiB */
	cr_assert_eq(np_send(c, &t), 0);
	usleep(200 * 1000); /* not reading: the socket fills */
	struct np_msg g = {.type = NP_TGETATTR, .tag = 2};
	g.u.tgetattr.fid = fid;
	g.u.tgetattr.request_mask = NP_GETATTR_BASIC;
	cr_assert_eq(np_send(c, &g), 0);
	cr_assert_eq(np_recv(c, &r), 0);
	cr_assert_eq(r.tag, 1, "the getattr overtook the read");
	cr_assert_eq(r.type, NP_RREAD);
	cr_assert_eq(r.u.rread.count, t.u.tread.count);
	cr_assert_eq(memcmp(r.u.rread.data, data, r.u.rread.count), 0, "the read's data is damaged");
	cr_assert_eq(np_recv(c, &r), 0);
	cr_assert_eq(r.tag, 2);
	cr_assert_eq(r.type, NP_RGETATTR);
	np_client_close(c);
}
