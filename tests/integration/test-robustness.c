/* Integration: malformed frames and misbehaving clients.  Each bad input
 * must get an Rlerror or a closed connection, and a well-behaved client that
 * is connected the whole time (fx.c) must keep being served. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "np_client.h"

static struct np_fixture fx;

static void setup(void)
{
	int err = np_fixture_start(&fx, NULL, NULL);
	cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);
	cr_assert_eq(np_fixture_write(&fx, "file", "0123456789", 10), 0);
}

static void teardown(void)
{
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
}

TestSuite(robustness, .init = setup, .fini = teardown, .timeout = 60);

/* --- building frames by hand --------------------------------------------------- */

struct frame {
	uint8_t b[4096];
	size_t n;
};

static void put(struct frame *f, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		f->b[f->n++] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct frame *f, const char *s)
{
	size_t len = strlen(s);
	put(f, len, 2);
	memcpy(f->b + f->n, s, len);
	f->n += len;
}

/* Header with a size to be filled in by end(). */
static void begin(struct frame *f, uint8_t type, uint16_t tag)
{
	f->n = 0;
	put(f, 0, 4);
	put(f, type, 1);
	put(f, tag, 2);
}

static void end(struct frame *f)
{
	for (int i = 0; i < 4; i++)
		f->b[i] = (uint8_t)(f->n >> (8 * i));
}

/* Overwrite the size field with a lie. */
static void set_size(struct frame *f, uint32_t size)
{
	for (int i = 0; i < 4; i++)
		f->b[i] = (uint8_t)(size >> (8 * i));
}

/* Twrite(fid, offset 0, count) followed by `present` bytes of data. */
static void twrite_frame(struct frame *f, uint32_t fid, uint32_t count, size_t present)
{
	begin(f, NP_TWRITE, 1);
	put(f, fid, 4);
	put(f, 0, 8);
	put(f, count, 4);
	memset(f->b + f->n, 'X', present);
	f->n += present;
	end(f);
}

/* --- the checks ----------------------------------------------------------------- */

/* A negotiated, attached (fid 1) connection with msize 8192. */
static struct np_client *bad_client(void)
{
	struct np_client *c;
	int err = np_session(&c, fx.addr, 8192, "", 0, 1);
	cr_assert_eq(err, 0, "session: %s", strerror(-err));
	c->timeout_ms = 5000;
	return c;
}

/* The connection answers Rlerror or is closed; returns true if still open. */
static bool expect_rlerror_or_close(struct np_client *c, const char *what)
{
	struct np_msg r;
	int err = np_recv(c, &r);
	if (err == -ECONNRESET)
		return false;
	cr_expect_eq(err, 0, "%s: neither Rlerror nor a closed connection: %s", what,
		     strerror(-err));
	if (err == 0)
		cr_expect_eq(r.type, NP_RLERROR, "%s: answered %s", what, np_type_name(r.type));
	return err == 0;
}

/* The daemon is alive and serves the old and new clients. */
static void expect_server_fine(void)
{
	cr_assert(np_daemon_alive(&fx.daemon), "ninepd died");
	struct np_attr a;
	int err = np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, &a);
	cr_expect_eq(err, 0, "the connected client is no longer served: %s", strerror(-err));
	struct np_client *c;
	err = np_fixture_client(&fx, 0, &c, 1);
	cr_expect_eq(err, 0, "a new client is not served: %s", strerror(-err));
	if (err == 0)
		cr_expect_eq(np_walk_path(c, 1, 2, "file", NULL), 0);
	np_client_close(c);
}

static void send_bad(const struct frame *f, const char *what)
{
	struct np_client *c = bad_client();
	cr_assert_eq(np_send_raw(c, f->b, f->n), 0);
	expect_rlerror_or_close(c, what);
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, frame_size_below_the_header_is_rejected)
{
	uint32_t sizes[] = {0, 1, 4, 6};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct frame f;
		begin(&f, NP_TGETATTR, 1);
		put(&f, 1, 4);
		put(&f, NP_GETATTR_BASIC, 8);
		set_size(&f, sizes[i]);
		char what[64];
		snprintf(what, sizeof(what), "size field %u", sizes[i]);
		send_bad(&f, what);
	}
}

Test(robustness, frame_size_above_msize_is_rejected)
{
	uint32_t sizes[] = {8193, 1 << 20, 0xffffffff};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct frame f;
		twrite_frame(&f, 1, 100, 100);
		set_size(&f, sizes[i]);
		char what[64];
		snprintf(what, sizeof(what), "size field %u with msize 8192", sizes[i]);
		send_bad(&f, what);
	}
}

Test(robustness, unknown_message_types_are_rejected)
{
	uint8_t types[] = {0, 1, 6, 10, 28, 99, 106, 112, 124, 200, 255};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct frame f;
		begin(&f, types[i], 1);
		put(&f, 1, 4);
		end(&f);
		char what[64];
		snprintf(what, sizeof(what), "type %u", types[i]);
		send_bad(&f, what);
	}
}

Test(robustness, reply_message_types_from_a_client_are_rejected)
{
	struct frame f;
	begin(&f, NP_RVERSION, 1);
	put(&f, 8192, 4);
	put_str(&f, "9P2000.L");
	end(&f);
	send_bad(&f, "Rversion");
	begin(&f, NP_RLERROR, 1);
	put(&f, 2, 4);
	end(&f);
	send_bad(&f, "Rlerror");
	begin(&f, NP_RREAD, 1);
	put(&f, 3, 4);
	put(&f, 0x616263, 3);
	end(&f);
	send_bad(&f, "Rread");
	begin(&f, NP_RCLUNK, 1);
	end(&f);
	send_bad(&f, "Rclunk");
}

Test(robustness, string_running_past_the_frame_is_rejected)
{
	struct frame f;
	begin(&f, NP_TWALK, 1);
	put(&f, 1, 4);
	put(&f, 2, 4);
	put(&f, 1, 2);
	put(&f, 200, 2); /* a 200-byte name ... */
	memcpy(f.b + f.n, "file", 4); /* ... of which 4 bytes are there */
	f.n += 4;
	end(&f);
	send_bad(&f, "Twalk name past the frame");

	begin(&f, NP_TLCREATE, 1);
	put(&f, 1, 4);
	put(&f, 0xffff, 2);
	put(&f, 0, 4);
	end(&f);
	send_bad(&f, "Tlcreate name length 65535");
}

Test(robustness, walk_of_17_names_is_rejected)
{
	struct frame f;
	begin(&f, NP_TWALK, 1);
	put(&f, 1, 4);
	put(&f, 2, 4);
	put(&f, 17, 2);
	for (int i = 0; i < 17; i++)
		put_str(&f, "..");
	end(&f);
	struct np_client *c = bad_client();
	cr_assert_eq(np_send_raw(c, f.b, f.n), 0);
	if (expect_rlerror_or_close(c, "Twalk nwname 17"))
		cr_expect_lt(np_getattr(c, 2, NP_GETATTR_BASIC, NULL), 0, "newfid was created");
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, trailing_garbage_is_rejected)
{
	struct frame f;
	begin(&f, NP_TCLUNK, 1);
	put(&f, 1, 4);
	put(&f, 0x7a7978, 3);
	end(&f);
	struct np_client *c = bad_client();
	cr_assert_eq(np_send_raw(c, f.b, f.n), 0);
	if (expect_rlerror_or_close(c, "Tclunk with 3 trailing bytes"))
		cr_expect_eq(np_getattr(c, 1, NP_GETATTR_BASIC, NULL), 0,
			     "a rejected Tclunk clunked the fid");
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, request_missing_its_fields_is_rejected)
{
	struct frame f;
	begin(&f, NP_TGETATTR, 1);
	put(&f, 1, 4); /* request_mask[8] missing */
	end(&f);
	send_bad(&f, "Tgetattr without request_mask");
	begin(&f, NP_TREAD, 1);
	end(&f);
	send_bad(&f, "Tread with an empty body");
}

Test(robustness, write_count_past_the_frame_is_rejected)
{
	struct np_client *c = bad_client();
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "file", NP_DOTL_RDWR, &fid), 0);
	struct frame f;
	twrite_frame(&f, fid, 1000, 10);
	cr_assert_eq(np_send_raw(c, f.b, f.n), 0);
	expect_rlerror_or_close(c, "Twrite count 1000 with 10 bytes");
	np_client_close(c);
	char buf[16];
	cr_expect_eq(np_fixture_read(&fx, "file", buf, sizeof(buf)), 10);
	cr_expect_eq(memcmp(buf, "0123456789", 10), 0, "the file was written");
	expect_server_fine();
}

Test(robustness, frame_cut_short_then_disconnect)
{
	struct np_client *c = bad_client();
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "file", NP_DOTL_RDWR, &fid), 0);
	struct frame f;
	twrite_frame(&f, fid, 1000, 1000);
	cr_assert_eq(np_send_raw(c, f.b, f.n / 2), 0);
	usleep(50000);
	np_client_close(c);
	usleep(100000);
	expect_server_fine();
	char buf[16];
	cr_expect_eq(np_fixture_read(&fx, "file", buf, sizeof(buf)), 10);
	cr_expect_eq(memcmp(buf, "0123456789", 10), 0, "half a Twrite was executed");
}

/* A connection that has not negotiated anything yet. */
static struct np_client *fresh_client(void)
{
	struct np_client *c;
	cr_assert_eq(np_client_connect(&c, fx.addr), 0);
	c->timeout_ms = 5000;
	return c;
}

Test(robustness, garbage_as_the_first_bytes_is_rejected)
{
	struct np_client *c = fresh_client();
	uint8_t junk[64];
	memset(junk, 0xab, sizeof(junk));
	cr_assert_eq(np_send_raw(c, junk, sizeof(junk)), 0);
	expect_rlerror_or_close(c, "64 bytes of 0xab");
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, request_before_tversion_is_rejected)
{
	struct np_client *c = fresh_client();
	struct frame f;
	begin(&f, NP_TATTACH, 1);
	put(&f, 1, 4);
	put(&f, NP_NOFID, 4);
	put_str(&f, "root");
	put_str(&f, "");
	put(&f, 0, 4);
	end(&f);
	cr_assert_eq(np_send_raw(c, f.b, f.n), 0);
	expect_rlerror_or_close(c, "Tattach before Tversion");
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, version_string_past_the_frame_is_rejected)
{
	struct np_client *c = fresh_client();
	struct frame f;
	begin(&f, NP_TVERSION, NP_NOTAG);
	put(&f, 8192, 4);
	put(&f, 50, 2);
	memcpy(f.b + f.n, "9P2000.L", 8);
	f.n += 8;
	end(&f);
	cr_assert_eq(np_send_raw(c, f.b, f.n), 0);
	expect_rlerror_or_close(c, "Tversion string past the frame");
	np_client_close(c);
	expect_server_fine();
}

/* Checks that each pipelined walk succeeded. */
static int expect_rwalk(void *arg, size_t i, const struct np_msg *r)
{
	(void)arg;
	(void)i;
	cr_expect_eq(r->type, NP_RWALK, "walk %zu: %s", i, np_type_name(r->type));
	return 0;
}

Test(robustness, disconnect_with_many_fids_open_and_requests_in_flight)
{
	static uint8_t big[1 << 20];
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	for (int round = 0; round < 3; round++) {
		struct np_client *c;
		cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
		enum { FIDS = 300, OPEN = 100 };
		struct np_msg *reqs = calloc(FIDS, sizeof(*reqs));
		for (int i = 0; i < FIDS; i++) {
			reqs[i].type = NP_TWALK;
			reqs[i].u.twalk.fid = 1;
			reqs[i].u.twalk.newfid = 10 + (uint32_t)i;
			reqs[i].u.twalk.nwname = 1;
			reqs[i].u.twalk.wnames[0] = np_str_c(i % 2 ? "big" : "file");
		}
		cr_assert_eq(np_pipeline(c, reqs, FIDS, FIDS, expect_rwalk, NULL), 0);
		for (int i = 0; i < OPEN; i++)
			cr_assert_eq(np_lopen(c, 10 + (uint32_t)i, NP_DOTL_RDWR, NULL, NULL), 0);
		/* A xattr fid mid-write and a directory open for reading too. */
		cr_assert_eq(np_walk(c, 1, 5, 0, NULL, NULL, NULL), 0);
		cr_assert_eq(np_xattrcreate(c, 5, "user.pending", 100, 0), 0);
		cr_assert_eq(np_walk(c, 1, 6, 0, NULL, NULL, NULL), 0);
		cr_assert_eq(np_lopen(c, 6, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, NULL, NULL), 0);
		/* Requests in flight: big reads nobody will collect. */
		for (uint16_t t = 0; t < 200; t++) {
			struct np_msg m = {.type = NP_TREAD, .tag = t};
			m.u.tread.fid = 11 + 2 * (t % (OPEN / 2));
			m.u.tread.offset = (uint64_t)t * 4096;
			m.u.tread.count = 60000;
			cr_assert_eq(np_send(c, &m), 0);
		}
		np_client_close(c);
		free(reqs);
		expect_server_fine();
	}
	/* The pending xattr was never committed. */
	char p[4096], v[8];
	cr_expect_lt(getxattr(np_fixture_path(&fx, "", p, sizeof(p)), "user.pending", v, sizeof(v)), 0);
}

Test(robustness, client_that_never_reads_replies_does_not_stop_others)
{
	static uint8_t big[1 << 20];
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	struct np_client *hog;
	cr_assert_eq(np_session(&hog, fx.addr, 8192, "", 0, 1), 0);
	uint32_t f;
	cr_assert_eq(np_open(hog, 1, "big", NP_DOTL_RDONLY, &f), 0);
	hog->timeout_ms = 1000;
	int sent = 0, err = 0;
	/* At most ~160 MB of replies if the server never pushes back. */
	for (; sent < 20000 && err == 0; sent++) {
		struct np_msg m = {.type = NP_TREAD, .tag = (uint16_t)(sent % 60000)};
		m.u.tread.fid = f;
		m.u.tread.offset = (uint64_t)(sent % 128) * 8192;
		m.u.tread.count = 8000;
		err = np_send(hog, &m);
		if (sent % 2000 == 0) {
			int e = np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL);
			cr_assert_eq(e, 0, "after %d unread requests, the other client: %s", sent,
				     strerror(-e));
		}
	}
	cr_log_info("the hog sent %d requests before %s", sent,
		    err == -ETIMEDOUT ? "the server stopped reading" : "the loop ended");
	/* While the hog is still connected and stuffed, others are served. */
	expect_server_fine();
	np_client_close(hog);
	expect_server_fine();
}

Test(robustness, version_with_requests_in_flight_resets_cleanly)
{
	static uint8_t big[1 << 20];
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
	uint32_t f;
	cr_assert_eq(np_open(c, 1, "big", NP_DOTL_RDONLY, &f), 0);
	for (uint16_t t = 0; t < 50; t++) {
		struct np_msg m = {.type = NP_TREAD, .tag = t};
		m.u.tread.fid = f;
		m.u.tread.offset = (uint64_t)t * 16384;
		m.u.tread.count = 60000;
		cr_assert_eq(np_send(c, &m), 0);
	}
	struct np_msg v = {.type = NP_TVERSION, .tag = NP_NOTAG}, r;
	v.u.tversion.msize = 65536;
	v.u.tversion.version = np_str_c("9P2000.L");
	cr_assert_eq(np_send(c, &v), 0);
	for (;;) {
		int err = np_recv(c, &r);
		cr_assert_eq(err, 0, "waiting for Rversion: %s", strerror(-err));
		if (r.tag == NP_NOTAG)
			break;
		cr_expect_eq(r.type, NP_RREAD);
	}
	cr_expect_eq(r.type, NP_RVERSION);
	/* Nothing from before the Tversion may follow its reply. */
	cr_expect_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0);
	cr_expect_eq(np_getattr(c, 1, NP_GETATTR_BASIC, NULL), 0);
	np_client_close(c);
	expect_server_fine();
}

Test(robustness, many_connections_opened_and_dropped)
{
	enum { N = 200 };
	struct np_client *c[N];
	for (int i = 0; i < N; i++) {
		int err = np_client_connect(&c[i], fx.addr);
		cr_assert_eq(err, 0, "connection %d: %s", i, strerror(-err));
		if (i % 2) {
			/* Half of them start a session first. */
			cr_assert_eq(np_version(c[i], 8192, "9P2000.L", NULL, NULL, 0), 0);
		}
	}
	for (int i = 0; i < N; i++)
		np_client_close(c[i]);
	expect_server_fine();
}

Test(robustness, readdir_at_bogus_offsets_does_not_crash)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/x", "", 0), 0);
	uint32_t d;
	cr_assert_eq(np_open(fx.c, fx.root, "d", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &d), 0);
	uint64_t offsets[] = {UINT64_MAX, (uint64_t)INT64_MAX, 1ULL << 62, 12345, 3, 0x8000000000000000ULL};
	static uint8_t buf[4096];
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		uint32_t got;
		int err = np_readdir(fx.c, d, offsets[i], sizeof(buf), buf, &got);
		cr_expect(err == 0 || (err < 0 && err != -ETIMEDOUT && err != -ECONNRESET &&
				       err != -EPROTO),
			  "Treaddir at offset %#llx: %s", (unsigned long long)offsets[i],
			  strerror(-err));
	}
	/* And from the start it is all still there. */
	uint32_t got, pos = 0;
	cr_assert_eq(np_readdir(fx.c, d, 0, sizeof(buf), buf, &got), 0);
	struct np_dirent e;
	bool found = false;
	while (np_dirent_next(buf, got, &pos, &e) == 1)
		found |= e.name.len == 1 && e.name.s[0] == 'x';
	cr_expect(found, "x is missing after bogus offsets");
	expect_server_fine();
}

/* --- half-close: the client shuts its sending side ----------------------- */

/* Reads replies until the server closes; each must be an Rwrite of count
 * bytes or, if rgetattr, one Rgetattr.  Returns how many came. */
static int replies_until_close(struct np_client *c, uint32_t count, int *getattrs, int *others)
{
	int writes = 0;
	for (;;) {
		struct np_msg r;
		int err = np_recv(c, &r);
		if (err == -ECONNRESET)
			return writes;
		cr_assert_eq(err, 0, "waiting for replies: %s", strerror(-err));
		if (r.type == NP_RWRITE && r.u.rwrite.count == count)
			writes++;
		else if (r.type == NP_RGETATTR)
			++*getattrs;
		else
			++*others;
	}
}

/* More writes than the server takes in flight at once (256), so some are
 * still unread in its buffer at end of input: each is executed, answered,
 * and on disk. */
Test(robustness, requests_sent_before_a_half_close_are_all_executed_and_answered)
{
	enum { N = 400, LEN = 1000 };
	cr_assert_eq(np_fixture_write(&fx, "halfclose", "", 0), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
	c->timeout_ms = 5000;
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "halfclose", NP_DOTL_WRONLY, &fid), 0);
	static uint8_t data[LEN];
	for (uint16_t t = 0; t < N; t++) {
		memset(data, 'a' + t % 26, sizeof(data));
		struct np_msg m = {.type = NP_TWRITE, .tag = t};
		m.u.twrite.fid = fid;
		m.u.twrite.offset = (uint64_t)t * LEN;
		m.u.twrite.count = LEN;
		m.u.twrite.data = data;
		cr_assert_eq(np_send(c, &m), 0);
	}
	struct np_msg g = {.type = NP_TGETATTR, .tag = N};
	g.u.tgetattr.fid = fid;
	g.u.tgetattr.request_mask = NP_GETATTR_BASIC;
	cr_assert_eq(np_send(c, &g), 0);
	cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
	int getattrs = 0, others = 0;
	cr_expect_eq(replies_until_close(c, LEN, &getattrs, &others), N);
	cr_expect_eq(getattrs, 1);
	cr_expect_eq(others, 0);
	np_client_close(c);
	static uint8_t back[N * LEN + 1];
	cr_assert_eq(np_fixture_read(&fx, "halfclose", back, sizeof(back)), N * LEN);
	for (int t = 0; t < N; t++)
		cr_assert_eq(back[t * LEN + LEN - 1], 'a' + t % 26, "write %d is missing", t);
	expect_server_fine();
}

/* Reads replies until the server closes: counts Rgetattr and Rlock with
 * status BLOCKED; anything else fails the test. */
static void lock_replies_until_close(struct np_client *c, int *getattrs, int *blocked)
{
	for (;;) {
		struct np_msg r;
		int err = np_recv(c, &r);
		if (err == -ECONNRESET)
			return;
		cr_assert_eq(err, 0, "waiting for replies: %s", strerror(-err));
		if (r.type == NP_RGETATTR)
			++*getattrs;
		else if (r.type == NP_RLOCK && r.u.rlock.status == NP_LOCK_BLOCKED)
			++*blocked;
		else
			cr_assert_fail("unexpected reply type %u", r.type);
	}
}

/* A blocking Tlock that waits for a lock can never be flushed once its
 * client stopped sending: it is answered BLOCKED, as at shutdown, the rest
 * is answered and the connection closes.  Twice: the wait already started
 * at end of input, and a wait that starts after it (the lock request still
 * on its way through a worker when the client half-closes; found by the
 * request-path fuzzer as a connection that never closed). */
Test(robustness, half_close_answers_a_blocked_lock_wait_and_closes_the_connection)
{
	cr_assert_eq(np_fixture_write(&fx, "locked", "x", 1), 0);
	uint32_t holder_fid, fid;
	cr_assert_eq(np_open(fx.c, fx.root, "locked", NP_DOTL_RDWR, &holder_fid), 0);
	uint8_t status = 0xff;
	cr_assert_eq(np_lock(fx.c, holder_fid, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 1, "holder", &status), 0);
	cr_assert_eq(status, NP_LOCK_SUCCESS);

	for (int late = 0; late < 2; late++) {
		struct np_client *c = bad_client();
		cr_assert_eq(np_open(c, 1, "locked", NP_DOTL_RDWR, &fid), 0);
		cr_assert_eq(np_send_blocking_lock(c, fid, 7, 2), 0);
		struct np_msg g = {.type = NP_TGETATTR, .tag = 8};
		g.u.tgetattr.fid = fid;
		g.u.tgetattr.request_mask = NP_GETATTR_BASIC;
		cr_assert_eq(np_send(c, &g), 0);
		if (!late)
			usleep(100000); /* the lock is waiting now */
		cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
		int getattrs = 0, blocked = 0;
		lock_replies_until_close(c, &getattrs, &blocked);
		cr_expect_eq(getattrs, 1, "the request after the lock was not answered");
		cr_expect_eq(blocked, 1, "the lock wait was not answered BLOCKED");
		np_client_close(c);
	}

	/* No waiter got the lock: the holder still has it and can give it up. */
	status = 0xff;
	cr_assert_eq(np_lock(fx.c, holder_fid, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 1, "holder", &status), 0);
	cr_assert_eq(status, NP_LOCK_SUCCESS);
	cr_assert_eq(np_clunk(fx.c, holder_fid), 0);
	expect_server_fine();
}

/* A client that stops mid-frame and half-closes: the partial frame is
 * dropped, the connection closes, nothing of it is executed. */
Test(robustness, half_close_in_the_middle_of_a_frame_closes_without_executing_it)
{
	cr_assert_eq(np_fixture_write(&fx, "cut", "0123456789", 10), 0);
	struct np_client *c = bad_client();
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "cut", NP_DOTL_RDWR, &fid), 0);
	struct frame f;
	twrite_frame(&f, fid, 1000, 1000);
	cr_assert_eq(np_send_raw(c, f.b, f.n - 1), 0);
	cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
	int getattrs = 0, others = 0;
	cr_expect_eq(replies_until_close(c, 1000, &getattrs, &others), 0);
	cr_expect_eq(others, 0);
	np_client_close(c);
	char buf[16];
	cr_expect_eq(np_fixture_read(&fx, "cut", buf, sizeof(buf)), 10);
	cr_expect_eq(memcmp(buf, "0123456789", 10), 0, "a partial Twrite was executed");
	expect_server_fine();
}
