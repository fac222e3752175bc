/* Integration: extended attributes (Txattrwalk, Txattrcreate) and POSIX
 * byte-range locks (Tlock, Tgetlock), including contention and Tflush. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "np_client.h"

static struct np_fixture fx;

static void setup(void)
{
	int err = np_fixture_start(&fx, NULL, NULL);
	cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);
	cr_assert_eq(np_fixture_write(&fx, "f", "0123456789", 10), 0);
}

static void teardown(void)
{
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
}

TestSuite(xattr, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(lock, .init = setup, .fini = teardown, .timeout = 30);

static uint32_t walk_to(struct np_client *c, uint32_t root, const char *path)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, root, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

static const char *host_path(const char *rel)
{
	static char path[4096];
	return np_fixture_path(&fx, rel, path, sizeof(path));
}

/* --- xattrs ------------------------------------------------------------------ */

Test(xattr, set_then_get_returns_the_value)
{
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_assert_eq(np_xattr_set(fx.c, f, "user.color", "blue", 4, 0), 0);
	char buf[64];
	cr_expect_eq(np_xattr_get(fx.c, f, "user.color", buf, sizeof(buf)), 4);
	cr_expect_eq(memcmp(buf, "blue", 4), 0);
	ssize_t n = getxattr(host_path("f"), "user.color", buf, sizeof(buf));
	cr_expect_eq(n, 4, "host getxattr: %zd", n);
	cr_expect_eq(memcmp(buf, "blue", 4), 0);
}

Test(xattr, value_set_on_the_host_is_read_through_9p)
{
	cr_assert_eq(setxattr(host_path("f"), "user.host", "value!", 6, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	char buf[64];
	uint64_t size;
	uint32_t x = np_fid_new(fx.c);
	cr_assert_eq(np_xattrwalk(fx.c, f, x, "user.host", &size), 0);
	cr_expect_eq(size, 6);
	cr_assert_eq(np_clunk(fx.c, x), 0);
	cr_expect_eq(np_xattr_get(fx.c, f, "user.host", buf, sizeof(buf)), 6);
	cr_expect_eq(memcmp(buf, "value!", 6), 0);
}

Test(xattr, list_with_an_empty_name_returns_every_name)
{
	cr_assert_eq(setxattr(host_path("f"), "user.a", "1", 1, 0), 0);
	cr_assert_eq(setxattr(host_path("f"), "user.bb", "22", 2, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	char buf[1024], host[1024];
	int n = np_xattr_get(fx.c, f, "", buf, sizeof(buf));
	ssize_t hn = listxattr(host_path("f"), host, sizeof(host));
	cr_assert_gt(n, 0, "xattr list: %s", strerror(-n));
	cr_expect_eq(n, hn, "list of %d bytes, host %zd", n, hn);
	bool a = false, bb = false;
	for (int i = 0; i < n; i += (int)strlen(buf + i) + 1) {
		a |= strcmp(buf + i, "user.a") == 0;
		bb |= strcmp(buf + i, "user.bb") == 0;
	}
	cr_expect(a && bb, "names listed: user.a %d user.bb %d", a, bb);
	cr_expect_eq(buf[n - 1], '\0', "the list is not NUL-terminated");
}

Test(xattr, get_of_a_missing_name_fails_with_enodata)
{
	uint32_t f = walk_to(fx.c, fx.root, "f");
	char buf[16];
	cr_expect_eq(np_xattr_get(fx.c, f, "user.missing", buf, sizeof(buf)), -ENODATA);
}

Test(xattr, remove_is_xattrcreate_of_size_0_with_replace_then_clunk)
{
	cr_assert_eq(setxattr(host_path("f"), "user.gone", "x", 1, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	/* What Linux sends for removexattr(2). */
	cr_expect_eq(np_xattr_set(fx.c, f, "user.gone", NULL, 0, XATTR_REPLACE), 0);
	char buf[4];
	cr_expect_eq(getxattr(host_path("f"), "user.gone", buf, sizeof(buf)), -1);
	cr_expect_eq(errno, ENODATA);
	cr_expect_eq(np_xattr_get(fx.c, f, "user.gone", buf, sizeof(buf)), -ENODATA);
}

Test(xattr, create_flag_on_an_existing_name_fails_with_eexist)
{
	cr_assert_eq(setxattr(host_path("f"), "user.there", "old", 3, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_expect_eq(np_xattr_set(fx.c, f, "user.there", "new", 3, XATTR_CREATE), -EEXIST);
	char buf[8];
	cr_expect_eq(getxattr(host_path("f"), "user.there", buf, sizeof(buf)), 3);
	cr_expect_eq(memcmp(buf, "old", 3), 0);
}

Test(xattr, replace_flag_on_a_missing_name_fails_with_enodata)
{
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_expect_eq(np_xattr_set(fx.c, f, "user.none", "v", 1, XATTR_REPLACE), -ENODATA);
	char buf[8];
	cr_expect_eq(getxattr(host_path("f"), "user.none", buf, sizeof(buf)), -1);
}

Test(xattr, value_that_nearly_fills_msize_round_trips)
{
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 4096, "", 0, 1), 0);
	char value[4000], back[4000];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (char)('a' + i % 26);
	uint32_t f = walk_to(c, 1, "f");
	cr_assert_eq(np_xattr_set(c, f, "user.big", value, sizeof(value), 0), 0);
	cr_expect_eq(np_xattr_get(c, f, "user.big", back, sizeof(back)), (int)sizeof(value));
	cr_expect_eq(memcmp(value, back, sizeof(value)), 0);
	np_client_close(c);
}

Test(xattr, set_on_a_directory)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	uint32_t d = walk_to(fx.c, fx.root, "d");
	cr_assert_eq(np_xattr_set(fx.c, d, "user.dir", "yes", 3, 0), 0);
	char buf[8];
	cr_expect_eq(getxattr(host_path("d"), "user.dir", buf, sizeof(buf)), 3);
}

Test(xattr, xattrwalk_fid_reads_the_value_at_offsets)
{
	cr_assert_eq(setxattr(host_path("f"), "user.v", "abcdefgh", 8, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f"), x = np_fid_new(fx.c), got;
	uint64_t size;
	cr_assert_eq(np_xattrwalk(fx.c, f, x, "user.v", &size), 0);
	cr_assert_eq(size, 8);
	char buf[8];
	cr_expect_eq(np_read(fx.c, x, 5, 8, buf, &got), 0);
	cr_expect_eq(got, 3);
	cr_expect_eq(memcmp(buf, "fgh", 3), 0);
	cr_expect_eq(np_read(fx.c, x, 8, 8, buf, &got), 0);
	cr_expect_eq(got, 0);
	cr_expect_eq(np_clunk(fx.c, x), 0);
}

/* --- locks ------------------------------------------------------------------- */

/* A second client with file "f" open read-write; *fid gets the fid. */
static struct np_client *client_with_f(uint32_t *fid)
{
	struct np_client *c;
	cr_assert_eq(np_fixture_client(&fx, 0, &c, 1), 0);
	cr_assert_eq(np_open(c, 1, "f", NP_DOTL_RDWR, fid), 0);
	return c;
}

static uint8_t lock(struct np_client *c, uint32_t fid, uint8_t type, uint32_t flags,
		    uint64_t start, uint64_t len, uint32_t pid)
{
	uint8_t status = 0xff;
	int err = np_lock(c, fid, type, flags, start, len, pid, "client", &status);
	cr_assert_eq(err, 0, "Tlock type %u: %s", type, strerror(-err));
	return status;
}

Test(lock, lock_and_unlock_an_open_file)
{
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "f", NP_DOTL_RDWR, &f), 0);
	cr_expect_eq(lock(fx.c, f, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 1), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(fx.c, f, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 1), NP_LOCK_SUCCESS);
}

Test(lock, getlock_reports_unlck_on_a_free_file)
{
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "f", NP_DOTL_RDWR, &f), 0);
	struct np_getlock gl = {.type = NP_LOCK_TYPE_WRLCK, .start = 0, .length = 0, .proc_id = 1};
	strcpy(gl.client_id, "me");
	cr_assert_eq(np_getlock(fx.c, f, &gl), 0);
	cr_expect_eq(gl.type, NP_LOCK_TYPE_UNLCK, "type %u", gl.type);
}

Test(lock, second_client_write_lock_gets_blocked_status)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 200), NP_LOCK_BLOCKED);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_RDLCK, 0, 5, 1, 200), NP_LOCK_BLOCKED);
	struct np_getlock gl = {.type = NP_LOCK_TYPE_WRLCK, .proc_id = 200};
	strcpy(gl.client_id, "b");
	cr_assert_eq(np_getlock(b, fb, &gl), 0);
	cr_expect_neq(gl.type, NP_LOCK_TYPE_UNLCK, "Tgetlock does not see the other client's lock");
	/* Once released, it is free. */
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 200), NP_LOCK_SUCCESS);
	np_client_close(a);
	np_client_close(b);
}

Test(lock, read_locks_are_shared_and_disjoint_ranges_do_not_conflict)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_expect_eq(lock(a, fa, NP_LOCK_TYPE_RDLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_RDLCK, 0, 0, 0, 200), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(a, fa, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 200), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 10, 100), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 10, 10, 200), NP_LOCK_SUCCESS);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 9, 1, 200), NP_LOCK_BLOCKED);
	np_client_close(a);
	np_client_close(b);
}

Test(lock, locks_are_released_when_the_fid_is_clunked)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	cr_assert_eq(np_clunk(a, fa), 0);
	cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 200), NP_LOCK_SUCCESS);
	np_client_close(a);
	np_client_close(b);
}

Test(lock, locks_are_released_when_the_client_disconnects)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	np_client_close(a);
	/* The server notices the hangup asynchronously. */
	uint8_t st = NP_LOCK_BLOCKED;
	for (int i = 0; i < 200 && st != NP_LOCK_SUCCESS; i++) {
		st = lock(b, fb, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 200);
		if (st != NP_LOCK_SUCCESS)
			usleep(10000);
	}
	cr_expect_eq(st, NP_LOCK_SUCCESS, "the lock outlived its client");
	np_client_close(b);
}

static struct np_msg lock_msg(uint32_t fid, uint32_t flags, uint32_t pid)
{
	struct np_msg m = {.type = NP_TLOCK};
	m.u.tlock.fid = fid;
	m.u.tlock.type = NP_LOCK_TYPE_WRLCK;
	m.u.tlock.flags = flags;
	m.u.tlock.proc_id = pid;
	m.u.tlock.client_id = np_str_c("blocking");
	return m;
}

Test(lock, blocking_lock_waits_until_the_holder_unlocks)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	struct np_msg t = lock_msg(fb, NP_LOCK_FLAGS_BLOCK, 200), r;
	t.tag = 1;
	cr_assert_eq(np_send(b, &t), 0);
	b->timeout_ms = 300;
	int err = np_recv(b, &r);
	b->timeout_ms = 5000;
	if (err == 0) {
		/* The server answers at once; the client is expected to retry. */
		cr_assert_eq(r.tag, 1);
		cr_assert_eq(r.type, NP_RLOCK, "reply type %u", r.type);
		cr_expect_eq(r.u.rlock.status, NP_LOCK_BLOCKED, "status %u", r.u.rlock.status);
		cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
		cr_expect_eq(lock(b, fb, NP_LOCK_TYPE_WRLCK, NP_LOCK_FLAGS_BLOCK, 0, 0, 200),
			     NP_LOCK_SUCCESS);
	} else {
		cr_assert_eq(err, -ETIMEDOUT, "%s", strerror(-err));
		/* While it waits, the connection keeps serving other requests. */
		struct np_msg g = {.type = NP_TGETATTR, .tag = 2}, gr;
		g.u.tgetattr.fid = 1;
		g.u.tgetattr.request_mask = NP_GETATTR_BASIC;
		cr_assert_eq(np_send(b, &g), 0);
		cr_assert_eq(np_recv(b, &gr), 0, "a waiting lock stalls the connection");
		cr_expect_eq(gr.tag, 2);
		cr_expect_eq(gr.type, NP_RGETATTR);
		cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
		cr_assert_eq(np_recv(b, &r), 0, "the waiting lock was not granted after unlock");
		cr_expect_eq(r.tag, 1);
		cr_assert_eq(r.type, NP_RLOCK);
		cr_expect_eq(r.u.rlock.status, NP_LOCK_SUCCESS);
	}
	/* b holds it now. */
	cr_expect_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_BLOCKED);
	np_client_close(a);
	np_client_close(b);
}

Test(lock, flushed_blocking_lock_is_cancelled)
{
	uint32_t fa, fb;
	struct np_client *a = client_with_f(&fa), *b = client_with_f(&fb);
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	struct np_msg t = lock_msg(fb, NP_LOCK_FLAGS_BLOCK, 200), r;
	t.tag = 10;
	cr_assert_eq(np_send(b, &t), 0);
	usleep(200000);
	struct np_msg fl = {.type = NP_TFLUSH, .tag = 11};
	fl.u.tflush.oldtag = 10;
	cr_assert_eq(np_send(b, &fl), 0);
	b->timeout_ms = 5000;
	bool flushed = false, lock_replied = false;
	while (!flushed) {
		int err = np_recv(b, &r);
		cr_assert_eq(err, 0, "waiting for Rflush: %s", strerror(-err));
		if (r.tag == 10) {
			lock_replied = true;
			if (r.type == NP_RLOCK)
				cr_expect_neq(r.u.rlock.status, NP_LOCK_SUCCESS,
					      "a lock held elsewhere was granted");
		} else {
			cr_assert_eq(r.tag, 11, "reply with tag %u", r.tag);
			cr_expect_eq(r.type, NP_RFLUSH, "reply type %u", r.type);
			flushed = true;
		}
	}
	/* Nothing for the flushed tag may follow the Rflush. */
	b->timeout_ms = 300;
	cr_expect_eq(np_recv(b, &r), -ETIMEDOUT, "a reply (tag %u) after Rflush", r.tag);
	b->timeout_ms = 5000;
	/* The cancelled request must not take the lock once it is free. */
	cr_assert_eq(lock(a, fa, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS);
	usleep(200000);
	cr_expect_eq(lock(a, fa, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 100), NP_LOCK_SUCCESS,
		     "the flushed lock request was granted anyway (replied before flush: %d)",
		     lock_replied);
	cr_expect_eq(np_getattr(b, 1, NP_GETATTR_BASIC, NULL), 0);
	np_client_close(a);
	np_client_close(b);
}

Test(xattr, write_beyond_the_declared_size_is_refused)
{
	uint32_t f = walk_to(fx.c, fx.root, "f"), x = np_fid_new(fx.c);
	cr_assert_eq(np_walk(fx.c, f, x, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(np_xattrcreate(fx.c, x, "user.small", 4, 0), 0);
	int werr = np_write(fx.c, x, 0, "12345678", 8, NULL);
	int cerr = np_clunk(fx.c, x);
	cr_expect(werr < 0 || cerr < 0, "8 bytes written into a 4-byte xattr without an error");
	char buf[16];
	ssize_t n = getxattr(host_path("f"), "user.small", buf, sizeof(buf));
	cr_expect(n == -1 || n == 4, "host xattr has %zd bytes", n);
}

Test(xattr, absurd_declared_size_is_refused)
{
	uint64_t sizes[] = {65537, 1ULL << 40, UINT64_MAX};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t x = walk_to(fx.c, fx.root, "f");
		int err = np_xattrcreate(fx.c, x, "user.huge", sizes[i], 0);
		if (err == 0)
			err = np_clunk(fx.c, x);
		else
			np_clunk(fx.c, x);
		cr_expect_lt(err, 0, "xattr of %llu bytes accepted", (unsigned long long)sizes[i]);
		cr_expect_neq(err, -ETIMEDOUT);
		cr_expect_neq(err, -ECONNRESET, "the server dropped the connection");
	}
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(xattr, xattr_fids_refuse_file_requests)
{
	cr_assert_eq(setxattr(host_path("f"), "user.v", "abc", 3, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f"), rx = np_fid_new(fx.c);
	cr_assert_eq(np_xattrwalk(fx.c, f, rx, "user.v", NULL), 0);
	const char *names[] = {"x"};
	cr_expect_lt(np_walk(fx.c, rx, np_fid_new(fx.c), 1, names, NULL, NULL), 0, "Twalk");
	cr_expect_lt(np_lopen(fx.c, rx, NP_DOTL_RDONLY, NULL, NULL), 0, "Tlopen");
	cr_expect_lt(np_write(fx.c, rx, 0, "zz", 2, NULL), 0, "Twrite to a read xattr fid");
	uint32_t wx = walk_to(fx.c, fx.root, "f");
	cr_assert_eq(np_xattrcreate(fx.c, wx, "user.w", 3, 0), 0);
	char buf[8];
	cr_expect_lt(np_read(fx.c, wx, 0, sizeof(buf), buf, NULL), 0, "Tread from a write xattr fid");
	cr_expect_lt(np_readdir(fx.c, wx, 0, sizeof(buf), buf, NULL), 0, "Treaddir");
	cr_expect_eq(np_write(fx.c, wx, 0, "abc", 3, NULL), 0);
	cr_expect_eq(np_clunk(fx.c, wx), 0);
	cr_expect_eq(np_clunk(fx.c, rx), 0);
}

Test(xattr, names_longer_than_255_bytes_fail_with_erange)
{
	char name[300] = "user.";
	memset(name + 5, 'n', 260);
	name[265] = '\0';
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_expect_eq(np_xattr_get(fx.c, f, name, NULL, 0), -ERANGE);
	cr_expect_eq(np_xattr_set(fx.c, f, name, "v", 1, 0), -ERANGE);
}

Test(xattr, one_connection_cannot_pin_more_than_8_mib_of_xattr_values)
{
	/* 64 KiB announced per Txattrcreate: 128 fit in the 8 MiB budget. */
	enum { TRIES = 160, FIT = 128 };
	uint32_t fids[TRIES];
	int ok = 0, enomem = 0;
	for (int i = 0; i < TRIES; i++) {
		fids[i] = walk_to(fx.c, fx.root, "f");
		int err = np_xattrcreate(fx.c, fids[i], "user.big", 65536, 0);
		ok += err == 0;
		enomem += err == -ENOMEM;
	}
	cr_expect_eq(ok, FIT, "%d of %d 64 KiB xattr values accepted", ok, TRIES);
	cr_expect_eq(enomem, TRIES - FIT, "%d refused with ENOMEM", enomem);

	/* The budget is the connection's: another client is not affected. */
	struct np_client *other = NULL;
	cr_assert_eq(np_fixture_client(&fx, 0, &other, 1), 0);
	uint32_t ox = walk_to(other, 1, "f");
	cr_expect_eq(np_xattrcreate(other, ox, "user.other", 65536, 0), 0);
	np_client_close(other);

	/* Clunking gives the bytes back (the values themselves may not fit
	 * the file system: only the budget matters here). */
	for (int i = 0; i < TRIES; i++)
		np_clunk(fx.c, fids[i]);
	uint32_t again = walk_to(fx.c, fx.root, "f");
	cr_expect_eq(np_xattrcreate(fx.c, again, "user.again", 65536, 0), 0);
	np_clunk(fx.c, again);
}
