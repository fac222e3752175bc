/* Faults: clients that vanish mid-request or mid-frame, hold thousands of
 * fids or never read their replies; running out of fds, fids, connections
 * and disk space; SIGTERM under load; the host renaming and deleting what
 * clients hold, and racing a symlink against confinement; and the two
 * transports that are not a listening socket (-l stdio, socket activation).
 *
 * Each test injects one fault into a real ninepd and then checks that a
 * second, well-behaved client is still served.  Resource checks look at the
 * daemon from outside: its open fds in /proc/PID/fd, its memory in
 * /proc/PID/status.
 *
 * The tests need root (a tmpfs mount in a private mount namespace, files
 * outside the export that the daemon must never reach).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "faults.h"
#include "np_client.h"

_Static_assert(EMFILE == 24 && ENFILE == 23 && ENOSPC == 28,
	       "the errno values 9P2000.L puts on the wire (Linux numbering)");

#define PROBE "probe file, read by every well-behaved client\n"

static struct np_fixture fx;
static bool fx_on;
/* Daemons and directories a test made outside the fixture; teardown
 * cleans them up even when an assertion ended the test early. */
static struct np_daemon extra_daemon;
static char extra_dirs[3][PATH_MAX];

static void teardown(void)
{
	if (fx_on) {
		char why[4096];
		cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
		fx_on = false;
	}
	if (extra_daemon.pid > 0)
		np_daemon_stop(&extra_daemon);
	np_daemon_cleanup(&extra_daemon);
	for (size_t i = 0; i < sizeof(extra_dirs) / sizeof(extra_dirs[0]); i++) {
		if (extra_dirs[i][0]) {
			umount2(extra_dirs[i], MNT_DETACH); /* the ENOSPC tmpfs, if any */
			np_rmtree(extra_dirs[i]);
		}
		extra_dirs[i][0] = '\0';
	}
}

/* One timeout for the whole suite: Criterion 2.4 leaks a timer entry per
 * distinct timeout, which LeakSanitizer would report. */
TestSuite(faults, .fini = teardown, .timeout = 240);

/* --- helpers ------------------------------------------------------------------ */

/* The fixture (one daemon, fx.c attached on fx.root) plus a probe file. */
static void start(const char *const extra[])
{
	int err = np_fixture_start(&fx, NULL, extra);
	cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);
	fx_on = true;
	cr_assert_eq(np_fixture_write(&fx, "probe", PROBE, strlen(PROBE)), 0);
}

/* A directory of our own under /tmp, removed by teardown. */
static const char *extra_dir(const char *prefix)
{
	for (size_t i = 0; i < sizeof(extra_dirs) / sizeof(extra_dirs[0]); i++) {
		if (extra_dirs[i][0])
			continue;
		cr_assert_eq(np_tmpdir(extra_dirs[i], sizeof(extra_dirs[i]), prefix), 0);
		chmod(extra_dirs[i], 0755);
		return extra_dirs[i];
	}
	cr_assert_fail("more than %zu extra directories",
		       sizeof(extra_dirs) / sizeof(extra_dirs[0]));
	return NULL;
}

/* A client that connects now gets a session and reads the probe file. */
static void expect_new_client_served(const char *addr, const char *after)
{
	struct np_client *c;
	int err = np_session(&c, addr, NP_CLIENT_MSIZE, "", 0, 1);
	cr_assert_eq(err, 0, "after %s: a new client gets no session: %s", after,
		     strerror(-err));
	uint32_t fid, got = 0;
	char buf[128];
	err = np_open(c, 1, "probe", NP_DOTL_RDONLY, &fid);
	if (err == 0)
		err = np_read(c, fid, 0, sizeof(buf), buf, &got);
	cr_expect_eq(err, 0, "after %s: a new client cannot read a file: %s", after,
		     strerror(-err));
	cr_expect(got == strlen(PROBE) && memcmp(buf, PROBE, got) == 0,
		  "after %s: a new client read %u wrong bytes", after, got);
	np_client_close(c);
}

/* The daemon is up, the fixture's client (connected all along) and a new
 * client are both served. */
static void expect_served(const char *after)
{
	cr_assert(np_daemon_alive(&fx.daemon), "ninepd died after %s", after);
	int err = np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL);
	cr_expect_eq(err, 0, "after %s: the client connected all along is not served: %s", after,
		     strerror(-err));
	expect_new_client_served(fx.addr, after);
}

/* fx.c takes a write lock on a new file "lockfile", so that another
 * client's blocking Tlock on it waits in the daemon; returns fx.c's fid. */
static uint32_t hold_lockfile(void)
{
	uint32_t fid;
	uint8_t status;
	cr_assert_eq(np_fixture_write(&fx, "lockfile", "", 0), 0);
	cr_assert_eq(np_open(fx.c, fx.root, "lockfile", NP_DOTL_RDWR, &fid), 0);
	cr_assert_eq(np_lock(fx.c, fid, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 1, "fx", &status), 0);
	cr_assert_eq(status, NP_LOCK_SUCCESS);
	return fid;
}

/* Opens "lockfile" on c (attached on fid 1) and sends a blocking write
 * lock on it with `tag`, without waiting for the answer. */
static void send_blocking_lock(struct np_client *c, uint16_t tag)
{
	uint32_t fid;
	cr_assert_eq(np_open(c, 1, "lockfile", NP_DOTL_RDWR, &fid), 0);
	cr_assert_eq(np_send_blocking_lock(c, fid, tag, 2), 0);
}

/* d's log holds no sanitizer report. */
static void expect_log_clean(const struct np_daemon *d)
{
	char *log = np_daemon_log(d);
	cr_expect(np_log_clean(log), "sanitizer report:\n%s", log);
	free(log);
}

/* The fixture's daemon has exited: its log must be clean. */
static void expect_fixture_log_clean(void)
{
	expect_log_clean(&fx.daemon);
	np_fixture_stop(&fx, NULL);
	fx_on = false;
}

/* The daemon's fd count once it stops changing (two equal looks). */
static int settled_fd_count(pid_t pid)
{
	int last = proc_fd_count(pid);
	for (int i = 0; i < 50; i++) {
		fault_sleep_ms(50);
		int n = proc_fd_count(pid);
		if (n == last)
			break;
		last = n;
	}
	cr_assert_gt(last, 0, "cannot count the fds of pid %d", (int)pid);
	return last;
}

/* After a client vanished, the daemon's fds come back to the baseline. */
static bool expect_fds_back(pid_t pid, int baseline, const char *after)
{
	int n = proc_wait_fd_count(pid, baseline, 10000);
	cr_expect_eq(n, baseline, "after %s: ninepd has %d fds open, %d before (a leak of %d)",
		     after, n, baseline, n - baseline);
	return n == baseline;
}

/* A Twalk of fid to newfid over one name ("" clones). */
static struct np_msg walk_msg(uint32_t fid, uint32_t newfid, const char *name)
{
	struct np_msg m = {.type = NP_TWALK};
	m.u.twalk.fid = fid;
	m.u.twalk.newfid = newfid;
	m.u.twalk.nwname = name[0] ? 1 : 0;
	m.u.twalk.wnames[0] = np_str_c(name);
	return m;
}

/* np_pipeline callback: every reply must be the request's R-message. */
struct replies {
	const struct np_msg *reqs;
	size_t bad;
	char first[160];
};

static int check_reply(void *arg, size_t i, const struct np_msg *r)
{
	struct replies *t = arg;
	if (r->type != t->reqs[i].type + 1 && t->bad++ == 0)
		snprintf(t->first, sizeof(t->first), "request %zu (%s) got %s, ecode %u", i,
			 np_type_name(t->reqs[i].type), np_type_name(r->type),
			 r->type == NP_RLERROR ? r->u.rlerror.ecode : 0);
	return 0;
}

static void pipeline_ok(struct np_client *c, const struct np_msg *reqs, size_t n)
{
	struct replies t = {.reqs = reqs};
	int err = np_pipeline(c, (struct np_msg *)reqs, n, 64, check_reply, &t);
	cr_assert_eq(err, 0, "pipeline of %zu requests: %s", n, strerror(-err));
	cr_assert_eq(t.bad, 0, "%zu of %zu requests failed; first: %s", t.bad, n, t.first);
}

/* --- clients that vanish ------------------------------------------------------ */

Test(faults, disconnect_with_requests_in_flight_releases_every_fd)
{
	start(NULL);
	static uint8_t big[4 << 20];
	fault_pattern(big, sizeof(big), 1);
	cr_assert_eq(np_fixture_write(&fx, "big", big, sizeof(big)), 0);
	/* fx.c holds a write lock, so the vanishing client's blocking Tlock
	 * is one of its requests in flight (waiting on the daemon's timer). */
	uint32_t held = hold_lockfile();
	pid_t pid = fx.daemon.pid;
	int base = settled_fd_count(pid);

	for (int round = 0; round < 3; round++) {
		struct np_client *c;
		cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
		enum { OPEN = 32, READS = 200 };
		uint32_t fids[OPEN];
		for (int i = 0; i < OPEN; i++)
			cr_assert_eq(np_open(c, 1, "big", NP_DOTL_RDONLY, &fids[i]), 0);
		send_blocking_lock(c, 1);
		for (uint16_t t = 0; t < READS; t++) {
			struct np_msg r = {.type = NP_TREAD, .tag = (uint16_t)(100 + t)};
			r.u.tread.fid = fids[t % OPEN];
			r.u.tread.offset = (uint64_t)t * 16384;
			r.u.tread.count = 60000;
			cr_assert_eq(np_send(c, &r), 0);
		}
		int during = proc_fd_count(pid);
		cr_expect_geq(during, base + 2 * OPEN, "the open fids hold fds: %d, base %d", during,
			      base);
		np_client_close(c);
		expect_fds_back(pid, base, "a client vanished with requests in flight");
		expect_served("a client vanished with requests in flight");
	}
	uint8_t status;
	cr_expect_eq(np_lock(fx.c, held, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 1, "fx", &status), 0);
}

/* Sends n pipelined Twalks cloning fid 1 to newfids first.. (tags 1..n)
 * without reading a reply. */
static void send_clone_walks(struct np_client *c, uint32_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct np_msg m = walk_msg(1, first + i, "");
		m.tag = (uint16_t)(1 + i);
		cr_assert_eq(np_send(c, &m), 0);
	}
}

/* Found by fuzz-server (a Twalk, then a frame with a bad size): a walk or
 * attach that completes after its connection closed must not install its
 * fid in the dead connection's table, where nothing ever closes its fd. */
Test(faults, disconnect_with_walks_in_flight_releases_every_fd)
{
	start(NULL);
	pid_t pid = fx.daemon.pid;
	int base = settled_fd_count(pid);
	for (int round = 0; round < 6; round++) {
		struct np_client *c;
		cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
		send_clone_walks(c, 100, 300);
		for (uint32_t i = 0; i < 20; i++) {
			struct np_msg m = {.type = NP_TATTACH, .tag = (uint16_t)(1000 + i)};
			m.u.tattach.fid = 50 + i;
			m.u.tattach.afid = NP_NOFID;
			m.u.tattach.uname = np_str_c("root");
			m.u.tattach.aname = np_str_c("");
			cr_assert_eq(np_send(c, &m), 0);
		}
		if (round % 2) {
			/* A frame size the daemon refuses: it closes the connection
			 * at once, with the walks still queued. */
			static const uint8_t bad[7] = {0xff, 0xff, 0xff, 0x7f, NP_TCLUNK, 0, 0};
			cr_assert_eq(np_send_raw(c, bad, sizeof(bad)), 0);
			fault_sleep_ms(20);
		}
		np_client_close(c);
		if (!expect_fds_back(pid, base, round % 2 ? "a bad frame closed a connection with "
							    "walks and attaches in flight"
							  : "a client vanished with walks and "
							    "attaches in flight"))
			break;
	}
	expect_served("clients vanished with walks in flight");
}

/* Tversion ends the session: a walk of the old one that completes later
 * must not leave its newfid in the new session. */
Test(faults, version_with_walks_in_flight_leaves_no_stale_fid)
{
	start(NULL);
	pid_t pid = fx.daemon.pid;
	int base = settled_fd_count(pid);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
	for (int round = 0; round < 5; round++) {
		enum { N = 300 };
		send_clone_walks(c, 100, N);
		struct np_msg v = {.type = NP_TVERSION, .tag = NP_NOTAG}, r;
		v.u.tversion.msize = 65536;
		v.u.tversion.version = np_str_c("9P2000.L");
		cr_assert_eq(np_send(c, &v), 0);
		do
			cr_assert_eq(np_recv(c, &r), 0, "waiting for Rversion");
		while (r.tag != NP_NOTAG);
		cr_assert_eq(r.type, NP_RVERSION);
		cr_assert_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0,
			     "attach in the new session");
		unsigned stale = 0;
		for (uint32_t i = 0; i < N; i++) {
			int err = np_walk(c, 1, 100 + i, 0, NULL, NULL, NULL);
			cr_assert(err == 0 || err == -EEXIST, "walk to fid %u: %s", 100 + i,
				  strerror(-err));
			stale += err == -EEXIST;
		}
		cr_expect_eq(stale, 0, "round %d: %u fids of the old session exist in the new one",
			     round, stale);
		for (uint32_t i = 0; i < N; i++)
			np_clunk(c, 100 + i);
	}
	np_client_close(c);
	expect_fds_back(pid, base, "sessions reset with walks in flight");
	expect_served("sessions reset with walks in flight");
}

/* np_pipeline callback: getattrs succeed, clunks of unknown fids fail. */
static int check_getattr_or_ebadf(void *arg, size_t i, const struct np_msg *r)
{
	struct replies *t = arg;
	bool ok = t->reqs[i].type == NP_TGETATTR
			  ? r->type == NP_RGETATTR
			  : r->type == NP_RLERROR && r->u.rlerror.ecode == EBADF;
	if (!ok && t->bad++ == 0)
		snprintf(t->first, sizeof(t->first), "request %zu (%s) got %s, ecode %u", i,
			 np_type_name(t->reqs[i].type), np_type_name(r->type),
			 r->type == NP_RLERROR ? r->u.rlerror.ecode : 0);
	return 0;
}

/* More requests than the daemon keeps in flight (it stops reading at
 * 256), followed by requests it answers at once: once reading resumes,
 * each of those is handled once, not again and again from a nested call. */
Test(faults, pipelining_past_the_in_flight_limit_then_instant_errors_is_answered)
{
	start(NULL);
	enum { WORK = 300, INSTANT = 20 };
	static struct np_msg reqs[WORK + INSTANT];
	for (size_t i = 0; i < WORK + INSTANT; i++) {
		if (i < WORK) {
			reqs[i] = (struct np_msg){.type = NP_TGETATTR};
			reqs[i].u.tgetattr.fid = fx.root;
			reqs[i].u.tgetattr.request_mask = NP_GETATTR_BASIC;
		} else {
			reqs[i] = (struct np_msg){.type = NP_TCLUNK};
			reqs[i].u.tclunk.fid = 777777; /* no such fid: EBADF at once */
		}
	}
	struct replies t = {.reqs = reqs};
	int err = np_pipeline(fx.c, reqs, WORK + INSTANT, WORK + INSTANT, check_getattr_or_ebadf,
			      &t);
	cr_expect_eq(err, 0, "%d getattrs and %d clunks sent at once: %s", WORK, INSTANT,
		     strerror(-err));
	cr_expect_eq(t.bad, 0, "%zu wrong replies; first: %s", t.bad, t.first);
	expect_served("more requests than the in-flight limit");
}

/* The header of a Twrite of `count` bytes to fid at offset 0, then data. */
static size_t twrite_frame(uint8_t *buf, uint32_t fid, uint32_t count)
{
	struct np_msg m = {.type = NP_TWRITE, .tag = 7};
	m.u.twrite.fid = fid;
	m.u.twrite.count = count;
	m.u.twrite.data = buf + 23;
	memset(buf + 23, 'X', count);
	int n = np_encode(&m, buf, 23 + (size_t)count);
	cr_assert_eq(n, 23 + (int)count);
	return (size_t)n;
}

Test(faults, disconnect_mid_frame_releases_every_fd_and_executes_nothing)
{
	start(NULL);
	cr_assert_eq(np_fixture_write(&fx, "file", "0123456789", 10), 0);
	pid_t pid = fx.daemon.pid;
	int base = settled_fd_count(pid);
	static uint8_t frame[(1 << 20) + 64];
	/* Cut points: inside the size field, inside the header, half of a
	 * small Twrite, half of a large one (read straight into its request),
	 * and all but the last byte of each. */
	struct {
		uint32_t count;
		size_t cut; /* bytes sent; 0: all but the last */
	} cases[] = {{1000, 2}, {1000, 5}, {1000, 500}, {1000, 0},
		     {900000, 400000}, {900000, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct np_client *c;
		cr_assert_eq(np_session(&c, fx.addr, 1 << 20, "", 0, 1), 0);
		uint32_t fids[8];
		for (int k = 0; k < 8; k++)
			cr_assert_eq(np_open(c, 1, "file", NP_DOTL_RDWR, &fids[k]), 0);
		size_t n = twrite_frame(frame, fids[0], cases[i].count);
		size_t cut = cases[i].cut ? cases[i].cut : n - 1;
		cr_assert_eq(np_send_raw(c, frame, cut), 0);
		fault_sleep_ms(50);
		np_client_close(c);
		char what[96];
		snprintf(what, sizeof(what), "a client vanished after %zu of %zu bytes of a Twrite",
			 cut, n);
		expect_fds_back(pid, base, what);
		char buf[16];
		cr_expect_eq(np_fixture_read(&fx, "file", buf, sizeof(buf)), 10);
		cr_expect_eq(memcmp(buf, "0123456789", 10), 0, "%s: the file changed", what);
		expect_served(what);
	}
}

Test(faults, disconnect_with_thousands_of_fids_releases_every_fd)
{
	start(NULL);
	cr_assert_eq(np_fixture_write(&fx, "file", "0123456789", 10), 0);
	pid_t pid = fx.daemon.pid;
	int base = settled_fd_count(pid);
	/* 4000 walked fids (an O_PATH fd each) of which 1000 are open (one
	 * more fd each), scaled down if the daemon's fd limit is lower. */
	long limit = proc_nofile_limit(pid);
	cr_assert_gt(limit, 0);
	size_t walks = 4000, opens = 1000;
	if ((long)(walks + opens) > limit - base - 64) {
		walks = (size_t)(limit - base - 64) * 4 / 5;
		opens = walks / 4;
		cr_log_warn("ninepd may open %ld fds: %zu walks, %zu opens", limit, walks, opens);
	}
	cr_assert_geq(walks, 1000, "ninepd's fd limit (%ld) is too low for this test", limit);

	for (int round = 0; round < 2; round++) {
		struct np_client *c;
		cr_assert_eq(np_session(&c, fx.addr, 65536, "", 0, 1), 0);
		struct np_msg *reqs = calloc(walks, sizeof(*reqs));
		cr_assert_not_null(reqs);
		for (size_t i = 0; i < walks; i++)
			reqs[i] = walk_msg(1, 10 + (uint32_t)i, i % 3 ? "file" : "");
		pipeline_ok(c, reqs, walks);
		size_t n = 0;
		for (size_t i = 0; i < walks && n < opens; i++) {
			if (i % 3 == 0)
				continue; /* a clone of the root: leave it unopened */
			reqs[n] = (struct np_msg){.type = NP_TLOPEN};
			reqs[n].u.tlopen.fid = 10 + (uint32_t)i;
			reqs[n].u.tlopen.flags = NP_DOTL_RDONLY;
			n++;
		}
		pipeline_ok(c, reqs, n);
		free(reqs);
		int during = proc_fd_count(pid);
		cr_expect_geq(during, base + (int)(walks + n), "%zu fids, %zu open: %d fds, base %d",
			      walks, n, during, base);
		np_client_close(c);
		expect_fds_back(pid, base, "a client with thousands of fids vanished");
		expect_served("a client with thousands of fids vanished");
	}
}

/* --- a client that never reads ------------------------------------------------ */

/* Sends without blocking for more than `patience_ms` at a time; returns 0,
 * -EAGAIN when the daemon stopped taking bytes, or -errno. */
static int send_patient(int fd, const uint8_t *buf, size_t len, int patience_ms)
{
	long deadline = fault_now_ms() + patience_ms;
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			deadline = fault_now_ms() + patience_ms;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (fault_now_ms() >= deadline)
			return -EAGAIN;
		fault_sleep_ms(2);
	}
	return 0;
}

Test(faults, client_that_never_reads_its_replies_keeps_memory_bounded)
{
	start(NULL);
	/* A sparse 64 MiB file: reads of it cost the daemon only their buffers. */
	char p[PATH_MAX];
	int fd = open(np_fixture_path(&fx, "big", p, sizeof(p)), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 64 << 20), 0);
	close(fd);
	pid_t pid = fx.daemon.pid;
	int base_fds = settled_fd_count(pid);
	long base_rss = proc_status_kib(pid, "VmRSS");
	cr_assert_gt(base_rss, 0);

	/* The largest msize the daemon offers (1 MiB by default): every Tread
	 * asks for a whole message of data.  1024 of them are 1 GiB. */
	struct np_client *hog;
	cr_assert_eq(np_session(&hog, fx.addr, 1 << 20, "", 0, 1), 0);
	uint32_t f;
	cr_assert_eq(np_open(hog, 1, "big", NP_DOTL_RDONLY, &f), 0);
	uint32_t count = np_max_io(hog->msize);
	/* Sent in bursts of 256 pipelined requests, as a client that queues
	 * many reads at once does. */
	enum { REQUESTS = 1024, BURST = 256 };
	uint64_t asked = 0;
	int sent = 0, err = 0;
	long peak_rss = base_rss;
	while (sent < REQUESTS && err == 0) {
		uint8_t frames[BURST * 32];
		size_t len = 0;
		for (int i = 0; i < BURST; i++) {
			struct np_msg m = {.type = NP_TREAD, .tag = (uint16_t)(sent + i)};
			m.u.tread.fid = f;
			m.u.tread.offset = (uint64_t)((sent + i) % 64) << 20;
			m.u.tread.count = count;
			int n = np_encode(&m, frames + len, sizeof(frames) - len);
			cr_assert_gt(n, 0);
			len += (size_t)n;
		}
		err = send_patient(hog->fd, frames, len, 2000);
		if (err == 0) {
			sent += BURST;
			asked += (uint64_t)BURST * count;
		}
		long rss = proc_status_kib(pid, "VmRSS");
		peak_rss = rss > peak_rss ? rss : peak_rss;
		int e = np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL);
		cr_assert_eq(e, 0, "after %d unread requests, the other client: %s", sent,
			     strerror(-e));
	}
	cr_assert(err == 0 || err == -EAGAIN, "sending: %s", strerror(-err));
	fault_sleep_ms(500); /* let the daemon finish what it took */
	long rss = proc_status_kib(pid, "VmRSS"), hwm = proc_status_kib(pid, "VmHWM");
	peak_rss = rss > peak_rss ? rss : peak_rss;
	peak_rss = hwm > peak_rss ? hwm : peak_rss;
	cr_log_info("never-reading client: %d requests for %llu MiB sent%s; ninepd VmRSS %ld -> "
		    "%ld KiB, peak %ld KiB",
		    sent, (unsigned long long)(asked >> 20),
		    err ? " before the daemon stopped reading" : "", base_rss, rss, peak_rss);
	cr_expect_lt(peak_rss - base_rss, 100 * 1024,
		     "a client that never reads made ninepd grow by %ld MiB (%llu MiB of reads "
		     "asked for)",
		     (peak_rss - base_rss) / 1024, (unsigned long long)(asked >> 20));
	/* While the hog is connected and stuffed, others are served. */
	expect_served("a client stopped reading its replies");
	np_client_close(hog);
	expect_fds_back(pid, base_fds, "the never-reading client hung up");
	expect_served("the never-reading client hung up");
}

/* --- running out: fds, fids, connections, disk space ------------------------------ */

/* A daemon whose RLIMIT_NOFILE (hard and soft) is limit, serving a fresh
 * export holding the probe file; the export's path in exp. */
static pid_t spawn_limited(int limit, char *exp, size_t explen, char *addr, size_t addrlen)
{
	char *dir = (char *)extra_dir("ninepd-emfile");
	char p[PATH_MAX + 8];
	snprintf(exp, explen, "%s/export", dir);
	snprintf(addr, addrlen, "unix:%s/s", dir);
	cr_assert_eq(mkdir(exp, 0755), 0);
	snprintf(p, sizeof(p), "%s/probe", exp);
	FILE *pf = fopen(p, "w");
	cr_assert_not_null(pf);
	fputs(PROBE, pf);
	fclose(pf);
	/* The daemon raises its soft limit to the hard one: lower the hard one. */
	const char *argv[] = {"-l", addr, "-e", exp, NULL};
	struct fault_spawn o = FAULT_SPAWN_DEFAULTS;
	o.nofile = limit;
	o.wait_addr = addr;
	int err = fault_spawn(&extra_daemon, argv, &o);
	cr_assert_eq(err, 0, "starting ninepd with %d fds: %s", limit, strerror(-err));
	cr_assert_eq(proc_nofile_limit(extra_daemon.pid), limit);
	return extra_daemon.pid;
}

/* Issue 15: fids need not hold a descriptor each.  With 64 descriptors, one
 * client holds 2,000 fids (walks to 200 files), and stats, opens and reads
 * each: idle fids give their descriptors back (keeping a file handle) and
 * get them again when used, the daemon never holds more descriptors than
 * its limit allows, and every read returns its own file's content. */
Test(faults, two_thousand_fids_on_64_descriptors_stat_open_and_read_their_own_files)
{
	enum { LIMIT = 64, FILES = 200, FIDS = 2000 };
	char exp[PATH_MAX], addr[PATH_MAX + 16];
	pid_t pid = spawn_limited(LIMIT, exp, sizeof(exp), addr, sizeof(addr));
	for (int i = 0; i < FILES; i++) {
		char p[PATH_MAX + 32], body[32];
		snprintf(p, sizeof(p), "%s/f%03d", exp, i);
		int len = snprintf(body, sizeof(body), "file %03d", i);
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fwrite(body, 1, (size_t)len, f);
		fclose(f);
	}
	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, NP_CLIENT_MSIZE, "", 0, 1), 0);
	int most = 0;
	for (uint32_t n = 0; n < FIDS; n++) {
		char name[16];
		snprintf(name, sizeof(name), "f%03u", n % FILES);
		int err = np_walk_path(c, 1, 100 + n, name, NULL);
		cr_assert_eq(err, 0, "walk %u with %d descriptors: %s", n, LIMIT, strerror(-err));
		if (n % 100 == 0) {
			int now = proc_fd_count(pid);
			most = now > most ? now : most;
		}
	}
	for (uint32_t n = 0; n < FIDS; n++) {
		struct np_attr a;
		int err = np_getattr(c, 100 + n, NP_GETATTR_BASIC, &a);
		cr_assert_eq(err, 0, "getattr of fid %u: %s", n, strerror(-err));
		cr_assert_eq(a.size, 8, "fid %u: size %llu", n, (unsigned long long)a.size);
		/* Open a clone, read it, clunk it: the fid itself stays. */
		uint32_t clone = 100000 + n;
		cr_assert_eq(np_walk(c, 100 + n, clone, 0, NULL, NULL, NULL), 0);
		err = np_lopen(c, clone, NP_DOTL_RDONLY, NULL, NULL);
		cr_assert_eq(err, 0, "lopen of a clone of fid %u: %s", n, strerror(-err));
		char buf[32], want[32];
		uint32_t got = 0;
		cr_assert_eq(np_read(c, clone, 0, sizeof(buf), buf, &got), 0);
		snprintf(want, sizeof(want), "file %03u", n % FILES);
		cr_assert(got == 8 && !memcmp(buf, want, 8), "fid %u read '%.*s', want '%s'", n,
			  (int)got, buf, want);
		cr_assert_eq(np_clunk(c, clone), 0);
		if (n % 100 == 0) {
			int now = proc_fd_count(pid);
			most = now > most ? now : most;
		}
	}
	cr_log_info("2,000 fids on %d descriptors: at most %d descriptors open", LIMIT, most);
	cr_expect_leq(most, LIMIT, "the daemon held %d descriptors, its limit is %d", most, LIMIT);
	np_client_close(c);
	cr_expect_eq(np_daemon_stop(&extra_daemon), 0, "ninepd's exit status");
	expect_log_clean(&extra_daemon);
}

Test(faults, fd_exhaustion_by_open_fids_gives_emfile_still_accepts_clients_and_recovers)
{
	/* Open fids keep their descriptors (their open file carries offsets
	 * and locks): those can run out, and then EMFILE is the answer. */
	enum { LIMIT = 64 };
	char exp[PATH_MAX], addr[PATH_MAX + 16];
	spawn_limited(LIMIT, exp, sizeof(exp), addr, sizeof(addr));
	struct np_client *other, *c;
	cr_assert_eq(np_session(&other, addr, NP_CLIENT_MSIZE, "", 0, 1), 0);
	cr_assert_eq(np_session(&c, addr, NP_CLIENT_MSIZE, "", 0, 1), 0);
	/* Open clones of the root (two descriptors each) until none is left. */
	uint32_t n = 0;
	int err = 0;
	for (; n < 2 * LIMIT; n++) {
		err = np_walk(c, 1, 100 + n, 0, NULL, NULL, NULL);
		if (!err)
			err = np_lopen(c, 100 + n, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, NULL, NULL);
		if (err)
			break;
	}
	cr_assert(err == -EMFILE || err == -ENFILE,
		  "open fid %u with %d fds allowed: expected Rlerror EMFILE or ENFILE, got %s", n,
		  LIMIT, strerror(-err));
	cr_assert_gt(n, 0);
	cr_assert_lt(n, LIMIT);
	np_clunk(c, 100 + n); /* the one that could not be opened */
	/* Every kind of request that needs an fd fails the same clear way. */
	err = np_walk_path(c, 1, 99, "probe", NULL);
	cr_expect(err == -EMFILE || err == -ENFILE, "walk to a name: %s", strerror(-err));
	err = np_walk(c, 1, 97, 0, NULL, NULL, NULL);
	if (!err) /* a descriptor may be left for the clone, not for its open */
		err = np_lopen(c, 97, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, NULL, NULL);
	cr_expect(err == -EMFILE || err == -ENFILE, "lopen: %s", strerror(-err));
	/* A new fid that needs no open file takes the descriptor of an idle
	 * one (the root fids here), which gets it back when it is used. */
	err = np_attach(c, 98, NP_NOFID, "root", "", 0, NULL);
	cr_expect_eq(err, 0, "attach while open fids hold every descriptor: %s", strerror(-err));
	/* Requests that need no new fd still work, on both connections. */
	cr_expect_eq(np_getattr(c, 100, NP_GETATTR_BASIC, NULL), 0);
	cr_expect_eq(np_getattr(other, 1, NP_GETATTR_BASIC, NULL), 0,
		     "a client that needs no fd is not served while fds are exhausted");
	cr_assert(np_daemon_alive(&extra_daemon), "ninepd died when it ran out of fds");
	/* The fids' budget leaves descriptors for new connections: one is
	 * accepted and answered, and attaches as the others did. */
	struct np_client *late = NULL;
	err = np_client_connect(&late, addr);
	cr_assert_eq(err, 0, "connect while fids are exhausted: %s", strerror(-err));
	uint32_t msize = 0;
	err = np_version(late, NP_CLIENT_MSIZE, "9P2000.L", &msize, NULL, 0);
	cr_expect_eq(err, 0, "Tversion while fids are exhausted: %s", strerror(-err));
	err = np_attach(late, 1, NP_NOFID, "root", "", 0, NULL);
	cr_expect_eq(err, 0, "Tattach while open fids hold every descriptor: %s", strerror(-err));
	np_client_close(late);

	/* Clunk a few: walks and opens work again. */
	for (uint32_t i = 0; i < 8; i++)
		cr_assert_eq(np_clunk(c, 100 + i), 0);
	uint32_t fid;
	err = np_open(c, 1, "probe", NP_DOTL_RDONLY, &fid);
	cr_expect_eq(err, 0, "after clunking 8 fids, walk and lopen: %s", strerror(-err));
	char buf[128];
	uint32_t got = 0;
	cr_expect_eq(np_read(c, fid, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == strlen(PROBE) && memcmp(buf, PROBE, got) == 0);
	np_client_close(c);
	/* With fds free again a new client gets a session and reads. */
	fault_sleep_ms(100);
	expect_new_client_served(addr, "fd exhaustion");
	cr_expect_eq(np_getattr(other, 1, NP_GETATTR_BASIC, NULL), 0);
	np_client_close(other);
	cr_expect_eq(np_daemon_stop(&extra_daemon), 0, "ninepd's exit status");
	expect_log_clean(&extra_daemon);
}

/* Writes a config file with the given [server] lines; returns its path. */
static const char *server_config(const char *lines)
{
	static char path[PATH_MAX];
	const char *dir = extra_dir("ninepd-conf");
	snprintf(path, sizeof(path), "%s/ninepd.conf", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[server]\n%s", lines);
	cr_assert_eq(fclose(f), 0);
	return path;
}

Test(faults, max_fids_per_connection_gives_emfile_beyond_it)
{
	const char *conf = server_config("max_fids = 16\n");
	const char *extra[] = {"-c", conf, NULL};
	start(extra);
	/* fx.c's root fid is one of its 16. */
	uint32_t n = 0;
	int err = 0;
	for (; n < 32; n++) {
		err = np_walk(fx.c, fx.root, 100 + n, 0, NULL, NULL, NULL);
		if (err)
			break;
	}
	cr_expect_eq(n, 15, "fids beyond the root before the limit: %u", n);
	cr_expect_eq(err, -EMFILE, "fid 17 of max_fids = 16: expected EMFILE, got %s",
		     strerror(-err));
	cr_expect_eq(np_getattr(fx.c, 100 + n, NP_GETATTR_BASIC, NULL), -EBADF,
		     "the refused fid exists");
	/* Other fid-making requests are refused alike; replacing a fid is not
	 * a new one. */
	cr_expect_eq(np_attach(fx.c, 90, NP_NOFID, "root", "", 0, NULL), -EMFILE);
	cr_expect_eq(np_xattrwalk(fx.c, fx.root, 91, "", NULL), -EMFILE);
	cr_expect_eq(np_walk_path(fx.c, 100, 100, "probe", NULL), 0,
		     "walking a fid onto itself at the limit");
	cr_expect_eq(np_lcreate(fx.c, 101, "new", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0,
		     "lcreate (which replaces its fid) at the limit");
	/* The limit is per connection. */
	struct np_client *c;
	cr_assert_eq(np_fixture_client(&fx, 0, &c, 1), 0);
	for (uint32_t i = 0; i < 15; i++)
		cr_expect_eq(np_walk(c, 1, 100 + i, 0, NULL, NULL, NULL), 0,
			     "another connection's fid %u", i + 2);
	np_client_close(c);
	/* And freed by a clunk. */
	cr_assert_eq(np_clunk(fx.c, 102), 0);
	cr_expect_eq(np_walk(fx.c, fx.root, 200, 0, NULL, NULL, NULL), 0);
	expect_served("max_fids was reached");
}

/* A client of the fixture's daemon, trying for a second while a closed
 * connection may still count; NULL if none was accepted. */
static struct np_client *client_within_a_second(void)
{
	struct np_client *c = NULL;
	for (int i = 0; i < 50 && !c; i++)
		if (np_fixture_client(&fx, 0, &c, 1) != 0)
			fault_sleep_ms(20);
	return c;
}

Test(faults, max_connections_refuses_the_extra_connection)
{
	const char *conf = server_config("max_connections = 2\n");
	const char *extra[] = {"-c", conf, NULL};
	start(extra);
	/* fx.c is the first; the start-up probe may still be closing. */
	struct np_client *second = client_within_a_second();
	cr_assert_not_null(second, "a second connection (of max_connections = 2)");
	for (int i = 0; i < 3; i++) {
		struct np_client *third;
		cr_assert_eq(np_client_connect(&third, fx.addr), 0);
		third->timeout_ms = 5000;
		int err = np_version(third, 8192, "9P2000.L", NULL, NULL, 0);
		cr_expect_eq(err, -ECONNRESET, "connection 3 of 2: expected it closed, got %s",
			     err ? strerror(-err) : "a session");
		np_client_close(third);
	}
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
	cr_expect_eq(np_getattr(second, 1, NP_GETATTR_BASIC, NULL), 0);
	cr_expect_eq(np_walk_path(second, 1, 2, "probe", NULL), 0);
	/* A freed slot is usable again. */
	np_client_close(second);
	struct np_client *again = client_within_a_second();
	cr_expect_not_null(again, "no connection accepted after one of two closed");
	np_client_close(again);
	fault_sleep_ms(100);
	expect_served("max_connections was reached");
}

Test(faults, enospc_on_write_keeps_the_bytes_written_before)
{
	cr_assert_eq(geteuid(), 0, "this test mounts a tmpfs and must run as root");
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0,
		     "making / private in the new namespace: %s", strerror(errno));
	const char *exp = extra_dir("ninepd-enospc");
	const char *run = extra_dir("ninepd-run");
	cr_assert_eq(mount("ninepd-enospc", exp, "tmpfs", 0, "mode=0755,size=1m"), 0,
		     "mount tmpfs: %s", strerror(errno));
	char addr[PATH_MAX + 16];
	snprintf(addr, sizeof(addr), "unix:%s/s", run);
	const char *argv[] = {"-l", addr, "-e", exp, NULL};
	int err = np_daemon_start(&extra_daemon, argv);
	cr_assert_eq(err, 0, "starting ninepd: %s", strerror(-err));

	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, 65536, "", 0, 1), 0);
	uint32_t f = np_fid_new(c);
	cr_assert_eq(np_walk(c, 1, f, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(np_lcreate(c, f, "fill", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	enum { CHUNK = 60000, MAX = 2 << 20 };
	static uint8_t data[MAX + CHUNK];
	fault_pattern(data, sizeof(data), 28);
	uint64_t off = 0;
	for (;;) {
		uint32_t n = 0;
		err = np_write(c, f, off, data + off, CHUNK, &n);
		if (err)
			break;
		cr_assert_gt(n, 0, "Rwrite of 0 bytes at %llu", (unsigned long long)off);
		off += n;
		cr_assert_lt(off, (uint64_t)MAX, "wrote %llu bytes to a 1 MiB tmpfs",
			     (unsigned long long)off);
	}
	cr_expect_eq(err, -ENOSPC, "writing past a full tmpfs: expected Rlerror ENOSPC, got %s",
		     strerror(-err));
	cr_assert_gt(off, 512 * 1024, "only %llu bytes fit", (unsigned long long)off);
	/* Everything acknowledged is there, through 9P and on the host. */
	static uint8_t back[MAX];
	uint64_t pos = 0;
	while (pos < off) {
		uint32_t got = 0;
		cr_assert_eq(np_read(c, f, pos, CHUNK, back + pos, &got), 0);
		if (got == 0)
			break;
		pos += got;
	}
	cr_expect_eq(pos, off, "read back %llu of %llu bytes", (unsigned long long)pos,
		     (unsigned long long)off);
	cr_expect_eq(memcmp(back, data, (size_t)off), 0, "the bytes read back differ");
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/fill", exp);
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, off, "size on the host %lld, acknowledged %llu",
		     (long long)st.st_size, (unsigned long long)off);
	/* Space freed again: writes work. */
	cr_assert_eq(np_setattr(c, f, &(struct np_setattr){.valid = NP_SETATTR_SIZE}), 0);
	uint32_t n = 0;
	cr_expect_eq(np_write(c, f, 0, data, CHUNK, &n), 0);
	cr_expect_eq(n, CHUNK);
	np_client_close(c);
	cr_assert(np_daemon_alive(&extra_daemon));
	expect_log_clean(&extra_daemon);
	cr_expect_eq(np_daemon_stop(&extra_daemon), 0);
}

/* --- SIGTERM under load ------------------------------------------------------------ */

enum { WRITERS = 4, WCHUNK = 32768, WWINDOW = 16, WMAX = 2048 };

struct writer {
	const char *addr;
	unsigned index;
	atomic_int *started;
	uint32_t acked[WMAX]; /* Rwrite count per write, 0: no Rwrite */
	unsigned sent, nacked;
	int end;              /* how the connection ended */
	char error[160];      /* an unexpected reply, if any */
};

static uint64_t write_seed(unsigned writer, unsigned seq)
{
	return (uint64_t)writer << 32 | seq;
}

/* One client writing its own file as fast as it can, WWINDOW writes in
 * flight, until the daemon closes the connection. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct np_client *c;
	static _Thread_local uint8_t data[WCHUNK];
	w->end = np_session(&c, w->addr, 65536, "", 0, 1);
	if (w->end)
		return NULL;
	c->timeout_ms = 8000;
	char name[32];
	snprintf(name, sizeof(name), "w%u", w->index);
	w->end = np_walk(c, 1, 2, 0, NULL, NULL, NULL);
	if (!w->end)
		w->end = np_lcreate(c, 2, name, NP_DOTL_WRONLY, 0644, 0, NULL, NULL);
	if (w->end) {
		np_client_close(c);
		return NULL;
	}
	atomic_fetch_add(w->started, 1);
	unsigned inflight = 0;
	for (;;) {
		int err = 0;
		while (inflight < WWINDOW && w->sent < WMAX && err == 0) {
			unsigned seq = w->sent;
			fault_pattern(data, WCHUNK, write_seed(w->index, seq));
			struct np_msg m = {.type = NP_TWRITE, .tag = (uint16_t)seq};
			m.u.twrite.fid = 2;
			m.u.twrite.offset = (uint64_t)seq * WCHUNK;
			m.u.twrite.count = WCHUNK;
			m.u.twrite.data = data;
			err = np_send(c, &m);
			if (err == 0) {
				w->sent++;
				inflight++;
			}
		}
		/* After a failed send, replies already on their way are read. */
		struct np_msg r;
		int rerr = np_recv(c, &r);
		if (rerr) {
			w->end = rerr;
			break;
		}
		inflight--;
		if (r.tag >= WMAX || r.type != NP_RWRITE) {
			if (!w->error[0])
				snprintf(w->error, sizeof(w->error), "tag %u: %s ecode %u", r.tag,
					 np_type_name(r.type),
					 r.type == NP_RLERROR ? r.u.rlerror.ecode : 0);
			continue;
		}
		w->acked[r.tag] = r.u.rwrite.count;
		w->nacked++;
	}
	np_client_close(c);
	return NULL;
}

Test(faults, sigterm_during_heavy_writes_keeps_every_acknowledged_write)
{
	start(NULL);
	static struct writer w[WRITERS];
	pthread_t t[WRITERS];
	atomic_int started = 0;
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.addr = fx.addr, .index = i, .started = &started};
		cr_assert_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	long t0 = fault_now_ms();
	while (atomic_load(&started) < WRITERS && fault_now_ms() - t0 < 10000)
		fault_sleep_ms(5);
	fault_sleep_ms(300); /* writes at full speed, many in flight */
	unsigned acked_before = 0;
	for (unsigned i = 0; i < WRITERS; i++)
		acked_before += w[i].nacked;
	cr_assert_eq(kill(fx.daemon.pid, SIGTERM), 0);
	long t_term = fault_now_ms();
	int status = np_daemon_wait(&fx.daemon, 10000);
	long took = fault_now_ms() - t_term;
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	cr_expect_eq(status, 0, "ninepd's exit status after SIGTERM: %d", status);
	cr_expect_lt(took, 5000, "ninepd took %ld ms to exit after SIGTERM", took);
	cr_assert_gt(acked_before, 0, "no write was acknowledged before SIGTERM");

	/* Every write that got an Rwrite is on disk. */
	static uint8_t want[WCHUNK], got[WCHUNK];
	unsigned checked = 0, sent = 0;
	for (unsigned i = 0; i < WRITERS; i++) {
		cr_expect_eq(w[i].error[0], '\0', "writer %u: unexpected reply %s", i, w[i].error);
		cr_expect_geq(w[i].nacked, 1, "writer %u: nothing acknowledged (%s)", i,
			      strerror(-w[i].end));
		char rel[16], p[PATH_MAX];
		snprintf(rel, sizeof(rel), "w%u", i);
		int fd = open(np_fixture_path(&fx, rel, p, sizeof(p)), O_RDONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
		for (unsigned seq = 0; seq < WMAX; seq++) {
			uint32_t n = w[i].acked[seq];
			if (n == 0)
				continue;
			cr_expect_eq(n, WCHUNK, "writer %u write %u: Rwrite count %u", i, seq, n);
			fault_pattern(want, WCHUNK, write_seed(i, seq));
			ssize_t r = pread(fd, got, n, (off_t)seq * WCHUNK);
			cr_expect(r == (ssize_t)n && memcmp(want, got, n) == 0,
				  "writer %u write %u (offset %u) was acknowledged but is not on disk",
				  i, seq, seq * WCHUNK);
			checked++;
		}
		close(fd);
		sent += w[i].sent;
	}
	cr_log_info("SIGTERM after %u acknowledged writes; %u of %u writes acknowledged in all, "
		    "ninepd exited in %ld ms",
		    acked_before, checked, sent, took);
	expect_fixture_log_clean();
}

Test(faults, sigterm_answers_a_waiting_lock_before_closing)
{
	start(NULL);
	hold_lockfile();
	struct np_client *c;
	cr_assert_eq(np_fixture_client(&fx, 0, &c, 1), 0);
	send_blocking_lock(c, 9);
	fault_sleep_ms(200); /* the lock is busy: the request waits in the daemon */
	cr_assert_eq(kill(fx.daemon.pid, SIGTERM), 0);
	/* The daemon ends the wait ("finishing in-flight requests, then
	 * exiting"): the client gets an answer for its tag, not just EOF. */
	struct np_msg r;
	c->timeout_ms = 5000;
	int err = np_recv(c, &r);
	cr_expect_eq(err, 0, "the waiting Tlock got no reply before the daemon closed: %s",
		     strerror(-err));
	if (err == 0) {
		cr_expect_eq(r.tag, 9);
		cr_expect(r.type == NP_RLOCK || r.type == NP_RLERROR, "answered %s",
			  np_type_name(r.type));
	}
	np_client_close(c);
	cr_expect_eq(np_daemon_wait(&fx.daemon, 10000), 0, "ninepd's exit status");
	expect_fixture_log_clean();
}

/* --- the host changes what clients hold ---------------------------------------- */

Test(faults, host_rename_of_an_open_file_keeps_its_fids_working)
{
	start(NULL);
	cr_assert_eq(np_fixture_write(&fx, "a", "original", 8), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	uint32_t open_fid, walked = np_fid_new(fx.c);
	cr_assert_eq(np_open(fx.c, fx.root, "a", NP_DOTL_RDWR, &open_fid), 0);
	cr_assert_eq(np_walk_path(fx.c, fx.root, walked, "a", NULL), 0);
	char from[PATH_MAX], to[PATH_MAX];
	cr_assert_eq(rename(np_fixture_path(&fx, "a", from, sizeof(from)),
			    np_fixture_path(&fx, "sub/b", to, sizeof(to))),
		     0);
	char buf[32];
	uint32_t got = 0, n = 0;
	cr_expect_eq(np_read(fx.c, open_fid, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == 8 && memcmp(buf, "original", 8) == 0, "read %u bytes after the rename",
		  got);
	cr_expect_eq(np_write(fx.c, open_fid, 8, "+more", 5, &n), 0);
	cr_expect_eq(np_fixture_read(&fx, "sub/b", buf, sizeof(buf)), 13,
		     "the write did not reach the renamed file");
	struct np_attr a;
	cr_expect_eq(np_getattr(fx.c, walked, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.size, 13);
	cr_expect_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "a", NULL), -ENOENT,
		     "the old name still walks");
	cr_expect_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "sub/b", NULL), 0);
	expect_served("a held file was renamed on the host");
}

Test(faults, host_delete_of_an_open_file_keeps_its_fids_working)
{
	start(NULL);
	cr_assert_eq(np_fixture_write(&fx, "a", "original", 8), 0);
	uint32_t open_fid, walked = np_fid_new(fx.c);
	cr_assert_eq(np_open(fx.c, fx.root, "a", NP_DOTL_RDWR, &open_fid), 0);
	cr_assert_eq(np_walk_path(fx.c, fx.root, walked, "a", NULL), 0);
	char p[PATH_MAX];
	cr_assert_eq(unlink(np_fixture_path(&fx, "a", p, sizeof(p))), 0);
	/* A file named like the /proc link of the deleted one must not be
	 * taken for it. */
	cr_assert_eq(np_fixture_write(&fx, "a (deleted)", "decoy", 5), 0);
	char buf[32];
	uint32_t got = 0, n = 0;
	cr_expect_eq(np_read(fx.c, open_fid, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == 8 && memcmp(buf, "original", 8) == 0);
	cr_expect_eq(np_write(fx.c, open_fid, 0, "ORIG", 4, &n), 0);
	cr_expect_eq(np_read(fx.c, open_fid, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == 8 && memcmp(buf, "ORIGinal", 8) == 0);
	struct np_attr a;
	cr_expect_eq(np_getattr(fx.c, walked, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.nlink, 0);
	/* Operations that need the name fail cleanly and touch nothing else. */
	int err = np_remove(fx.c, walked);
	cr_expect_eq(err, -ENOENT, "Tremove of a deleted file: %s", strerror(-err));
	err = np_rename(fx.c, open_fid, fx.root, "renamed");
	cr_expect_eq(err, -ENOENT, "Trename of a deleted file: %s", strerror(-err));
	cr_expect_eq(np_fixture_read(&fx, "a (deleted)", buf, sizeof(buf)), 5,
		     "the decoy was changed");
	cr_expect_eq(np_fixture_read(&fx, "renamed", buf, sizeof(buf)), -ENOENT);
	expect_served("a held file was deleted on the host");
}

Test(faults, host_delete_of_a_directory_makes_walks_from_it_fail_cleanly)
{
	start(NULL);
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/x", "x", 1), 0);
	uint32_t d = np_fid_new(fx.c), dopen;
	cr_assert_eq(np_walk_path(fx.c, fx.root, d, "d", NULL), 0);
	cr_assert_eq(np_open(fx.c, fx.root, "d", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &dopen), 0);
	char p[PATH_MAX];
	cr_assert_eq(unlink(np_fixture_path(&fx, "d/x", p, sizeof(p))), 0);
	cr_assert_eq(rmdir(np_fixture_path(&fx, "d", p, sizeof(p))), 0);

	int err = np_walk_path(fx.c, d, np_fid_new(fx.c), "x", NULL);
	cr_expect_eq(err, -ENOENT, "walk from a deleted directory: %s", strerror(-err));
	struct np_attr a;
	cr_expect_eq(np_getattr(fx.c, d, NP_GETATTR_BASIC, &a), 0);
	uint32_t clone = np_fid_new(fx.c);
	cr_expect_eq(np_walk(fx.c, d, clone, 0, NULL, NULL, NULL), 0, "clone of a deleted dir");
	err = np_lcreate(fx.c, clone, "new", NP_DOTL_RDWR, 0644, 0, NULL, NULL);
	cr_expect_eq(err, -ENOENT, "lcreate in a deleted directory: %s", strerror(-err));
	err = np_mkdir(fx.c, d, "sub", 0755, 0, NULL);
	cr_expect_eq(err, -ENOENT, "mkdir in a deleted directory: %s", strerror(-err));
	static uint8_t buf[4096];
	uint32_t got = 1;
	err = np_readdir(fx.c, dopen, 0, sizeof(buf), buf, &got);
	cr_expect(err == 0 || err == -ENOENT, "readdir of a deleted directory: %s",
		  strerror(-err));
	/* Walking up from it must not crash; wherever it lands is inside. */
	uint32_t up = np_fid_new(fx.c);
	err = np_walk_path(fx.c, d, up, "..", NULL);
	if (err == 0)
		cr_expect_eq(np_walk_path(fx.c, up, np_fid_new(fx.c), "probe", NULL), 0);
	expect_served("a held directory was deleted on the host");
}

Test(faults, host_rename_of_a_directory_keeps_walks_from_it_working)
{
	start(NULL);
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/x", "x", 1), 0);
	uint32_t d = np_fid_new(fx.c);
	cr_assert_eq(np_walk_path(fx.c, fx.root, d, "d", NULL), 0);
	char from[PATH_MAX], to[PATH_MAX];
	cr_assert_eq(rename(np_fixture_path(&fx, "d", from, sizeof(from)),
			    np_fixture_path(&fx, "e", to, sizeof(to))),
		     0);
	uint32_t x;
	cr_expect_eq(np_open(fx.c, d, "x", NP_DOTL_RDONLY, &x), 0);
	cr_expect_eq(np_lcreate(fx.c, d, "y", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	char buf[4];
	cr_expect_eq(np_fixture_read(&fx, "e/y", buf, sizeof(buf)), 0, "y is not in e");
	expect_served("a held directory was renamed on the host");
}

/* A directory moved out of the export on the host: a client holding a fid
 * on it must not walk ".." from there into the host. */
Test(faults, host_move_of_a_directory_out_of_the_export_does_not_open_the_host)
{
	start(NULL);
	const char *outside = extra_dir("ninepd-outside");
	char marker[128], p[PATH_MAX + 16];
	snprintf(marker, sizeof(marker), "NINEPD-OUTSIDE-MARKER-%d-%ld", (int)getpid(), fault_now_ms());
	snprintf(p, sizeof(p), "%s/secret", outside);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(marker, f);
	fclose(f);
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	uint32_t d = np_fid_new(fx.c);
	cr_assert_eq(np_walk_path(fx.c, fx.root, d, "d", NULL), 0);
	char from[PATH_MAX];
	snprintf(p, sizeof(p), "%s/d", outside);
	cr_assert_eq(rename(np_fixture_path(&fx, "d", from, sizeof(from)), p), 0);

	const char *const up[] = {"..", "secret"};
	uint16_t nwqid = 0;
	uint32_t fid = np_fid_new(fx.c);
	int err = np_walk(fx.c, d, fid, 2, up, &nwqid, NULL);
	bool reached = err == 0 && nwqid == 2;
	char buf[256] = "";
	uint32_t got = 0;
	if (reached && np_lopen(fx.c, fid, NP_DOTL_RDONLY, NULL, NULL) == 0)
		np_read(fx.c, fid, 0, sizeof(buf) - 1, buf, &got);
	cr_expect(!reached, "walking ../secret from a directory moved out of the export reached "
			    "the host's %s/secret (read %u bytes: %.*s)",
		  outside, got, (int)got, buf);
	cr_expect(strstr(buf, marker) == NULL);
	expect_served("a held directory was moved out of the export");
}

/* --- a race on confinement ------------------------------------------------------- */

struct swapper {
	char a[PATH_MAX], b[PATH_MAX];
	atomic_bool stop;
	unsigned long swaps;
	int err;
};

/* Exchanges the directory and the symlink to "/" as fast as it can:
 * rename(2) cannot put a symlink over a directory, RENAME_EXCHANGE does,
 * atomically, so the name never disappears. */
static void *swap_main(void *arg)
{
	struct swapper *s = arg;
	while (!atomic_load(&s->stop)) {
		if (renameat2(AT_FDCWD, s->a, AT_FDCWD, s->b, RENAME_EXCHANGE) < 0) {
			s->err = errno;
			break;
		}
		s->swaps++;
	}
	return NULL;
}

/* Everything the client may legitimately see is the inside content. */
struct race {
	const char *host_passwd; /* the host's /etc/passwd */
	const char *marker;      /* only in a file outside the export */
	unsigned reads, escapes, lists, creates;
	char escaped[256];
};

static void check_content(struct race *r, const char *what, const char *buf, uint32_t got)
{
	r->reads++;
	bool is_passwd = got > 0 && strlen(r->host_passwd) >= got &&
			 memcmp(buf, r->host_passwd, got) == 0 && strncmp(buf, "inside", 6) != 0;
	bool is_marker = memmem(buf, got, r->marker, strlen(r->marker)) != NULL;
	if ((is_passwd || is_marker) && r->escapes++ == 0)
		snprintf(r->escaped, sizeof(r->escaped), "%s returned %.*s", what,
			 (int)(got < 60 ? got : 60), buf);
}

/* Walk path (names separated by '/') from the root in one Twalk, lopen,
 * read and check. */
static void race_read(struct race *r, struct np_client *c, const char *path)
{
	char copy[PATH_MAX];
	const char *names[NP_MAXWELEM];
	uint16_t n = 0;
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *save, *t = strtok_r(copy, "/", &save); t && n < NP_MAXWELEM;
	     t = strtok_r(NULL, "/", &save))
		names[n++] = t;
	uint32_t fid = np_fid_new(c);
	uint16_t nwqid;
	if (np_walk(c, 1, fid, n, names, &nwqid, NULL) != 0 || nwqid != n)
		return;
	char buf[4096];
	uint32_t got = 0;
	if (np_lopen(c, fid, NP_DOTL_RDONLY, NULL, NULL) == 0 &&
	    np_read(c, fid, 0, sizeof(buf), buf, &got) == 0)
		check_content(r, path, buf, got);
	np_clunk(c, fid);
}

/* The same path one Twalk per name. */
static void race_read_stepwise(struct race *r, struct np_client *c, const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s", path);
	uint32_t cur = 1, fids[NP_MAXWELEM];
	unsigned n = 0;
	for (char *save, *t = strtok_r(copy, "/", &save); t && n < NP_MAXWELEM;
	     t = strtok_r(NULL, "/", &save)) {
		uint32_t next = np_fid_new(c);
		if (np_walk_path(c, cur, next, t, NULL) != 0)
			goto out;
		fids[n++] = cur = next;
	}
	char buf[4096];
	uint32_t got = 0;
	if (np_lopen(c, cur, NP_DOTL_RDONLY, NULL, NULL) == 0 &&
	    np_read(c, cur, 0, sizeof(buf), buf, &got) == 0)
		check_content(r, path, buf, got);
out:
	while (n > 0)
		np_clunk(c, fids[--n]);
}

static int race_dirent(void *arg, const struct np_dirent *d)
{
	struct race *r = arg;
	static const char *const inside[] = {".", "..", "etc", "tmp"};
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		if (d->name.len == strlen(inside[i]) && !memcmp(d->name.s, inside[i], d->name.len))
			return 0;
	if (r->escapes++ == 0)
		snprintf(r->escaped, sizeof(r->escaped), "readdir of d listed %.*s",
			 (int)d->name.len, d->name.s);
	return 0;
}

Test(faults, symlink_swapped_in_while_walking_never_leaves_the_export)
{
	start(NULL);
	/* Outside: a marker file; inside, under d/, the same relative paths
	 * that d -> / would resolve to on the host. */
	const char *outside = extra_dir("ninepd-outside");
	char marker[128], p[PATH_MAX + 16], rel[PATH_MAX];
	snprintf(marker, sizeof(marker), "NINEPD-OUTSIDE-MARKER-%d-%ld", (int)getpid(), fault_now_ms());
	snprintf(p, sizeof(p), "%s/secret", outside);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(marker, f);
	fclose(f);
	static char passwd[65536];
	f = fopen("/etc/passwd", "r");
	cr_assert_not_null(f);
	passwd[fread(passwd, 1, sizeof(passwd) - 1, f)] = '\0';
	fclose(f);
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "d/etc", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/etc/passwd", "inside passwd\n", 14), 0);
	const char *outname = strrchr(outside, '/') + 1; /* outside is /tmp/NAME */
	cr_assert_eq(np_fixture_mkdir(&fx, "d/tmp", 0755), 0);
	snprintf(rel, sizeof(rel), "d/tmp/%s", outname);
	cr_assert_eq(np_fixture_mkdir(&fx, rel, 0755), 0);
	snprintf(rel, sizeof(rel), "d/tmp/%s/secret", outname);
	cr_assert_eq(np_fixture_write(&fx, rel, "inside secret\n", 14), 0);
	cr_assert_eq(np_fixture_symlink(&fx, "/", "d.swap"), 0);

	static struct swapper s;
	np_fixture_path(&fx, "d", s.a, sizeof(s.a));
	np_fixture_path(&fx, "d.swap", s.b, sizeof(s.b));
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, swap_main, &s), 0);

	struct race r = {.host_passwd = passwd, .marker = marker};
	char secret_path[PATH_MAX];
	snprintf(secret_path, sizeof(secret_path), "d/tmp/%s/secret", outname);
	char created_dir[PATH_MAX];
	snprintf(created_dir, sizeof(created_dir), "d/tmp/%s", outname);
	long end = fault_now_ms() + 3000;
	for (unsigned i = 0; fault_now_ms() < end; i++) {
		race_read(&r, fx.c, "d/etc/passwd");
		race_read(&r, fx.c, secret_path);
		race_read_stepwise(&r, fx.c, "d/etc/passwd");
		race_read_stepwise(&r, fx.c, secret_path);
		if (i % 4 == 0) {
			uint32_t dfid;
			if (np_open(fx.c, 1, "d", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &dfid) == 0) {
				r.lists++;
				np_readdir_all(fx.c, dfid, 8192, race_dirent, &r);
				np_clunk(fx.c, dfid);
			}
			uint32_t cfid = np_fid_new(fx.c);
			char name[32];
			snprintf(name, sizeof(name), "created-%u", i);
			if (np_walk_path(fx.c, 1, cfid, created_dir, NULL) == 0) {
				if (np_lcreate(fx.c, cfid, name, NP_DOTL_WRONLY, 0644, 0, NULL,
					       NULL) == 0)
					r.creates++;
				np_clunk(fx.c, cfid);
			}
		}
	}
	atomic_store(&s.stop, true);
	pthread_join(t, NULL);
	cr_assert_eq(s.err, 0, "renameat2(RENAME_EXCHANGE): %s", strerror(s.err));
	cr_log_info("confinement race: %lu swaps, %u reads checked, %u listings, %u creates",
		    s.swaps, r.reads, r.lists, r.creates);
	cr_expect_gt(s.swaps, 1000, "the race hardly ran: %lu swaps", s.swaps);
	cr_expect_gt(r.reads, 100, "hardly any read got through: %u", r.reads);
	cr_expect_eq(r.escapes, 0, "%u accesses left the export; first: %s", r.escapes,
		     r.escaped);
	/* Nothing was created outside. */
	DIR *dir = opendir(outside);
	cr_assert_not_null(dir);
	struct dirent *e;
	while ((e = readdir(dir)))
		cr_expect(e->d_name[0] == '.' || strcmp(e->d_name, "secret") == 0,
			  "%s/%s was created through the export", outside, e->d_name);
	closedir(dir);
	expect_served("the confinement race");
}

/* --- stdio and socket activation ---------------------------------------------------- */

/* A full session on a connected client: attach, walk, read the probe,
 * write a file, read it back. */
static void run_session(struct np_client *c, const char *what)
{
	cr_assert_eq(np_version(c, 65536, "9P2000.L", NULL, NULL, 0), 0, "%s: Tversion", what);
	cr_assert_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0, "%s: Tattach", what);
	uint32_t fid, got = 0, n = 0;
	char buf[128];
	cr_assert_eq(np_open(c, 1, "probe", NP_DOTL_RDONLY, &fid), 0, "%s: open", what);
	cr_assert_eq(np_read(c, fid, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == strlen(PROBE) && memcmp(buf, PROBE, got) == 0, "%s: read", what);
	uint32_t nf = np_fid_new(c);
	cr_assert_eq(np_walk(c, 1, nf, 0, NULL, NULL, NULL), 0);
	cr_assert_eq(np_lcreate(c, nf, "written", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	cr_assert_eq(np_write(c, nf, 0, "hello", 5, &n), 0);
	cr_assert_eq(np_read(c, nf, 0, sizeof(buf), buf, &got), 0);
	cr_expect(got == 5 && memcmp(buf, "hello", 5) == 0, "%s: read back", what);
	cr_assert_eq(np_clunk(c, nf), 0);
}

/* An export with the probe file, in a directory of its own. */
static void make_export(const char *dir, char *exp, size_t cap)
{
	snprintf(exp, cap, "%s/export", dir);
	cr_assert_eq(mkdir(exp, 0755), 0);
	char p[PATH_MAX + 8];
	snprintf(p, sizeof(p), "%s/probe", exp);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(PROBE, f);
	fclose(f);
}

Test(faults, stdio_on_a_socketpair_serves_one_client_and_exits_0_on_hangup)
{
	const char *dir = extra_dir("ninepd-stdio");
	char exp[PATH_MAX];
	make_export(dir, exp, sizeof(exp));
	const char *argv[] = {"-l", "stdio", "-e", exp, NULL};
	int err = np_daemon_start(&extra_daemon, argv);
	cr_assert_eq(err, 0, "starting ninepd -l stdio: %s", strerror(-err));
	cr_assert_geq(extra_daemon.stdio_fd, 0);
	struct np_client *c;
	cr_assert_eq(np_client_from_fd(&c, extra_daemon.stdio_fd), 0);
	extra_daemon.stdio_fd = -1; /* the client owns it now */
	run_session(c, "stdio socketpair");
	np_client_close(c);
	int status = np_daemon_wait(&extra_daemon, 5000);
	cr_expect_eq(status, 0, "ninepd -l stdio after the client hung up: %s",
		     status == -ETIMEDOUT ? "still running after 5 s" : "exit status");
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/written", exp);
	struct stat st;
	cr_expect(stat(p, &st) == 0 && st.st_size == 5);
	expect_log_clean(&extra_daemon);
}

Test(faults, stdio_on_a_pipe_pair_serves_one_client_and_exits_0_on_hangup)
{
	const char *dir = extra_dir("ninepd-stdio");
	char exp[PATH_MAX];
	make_export(dir, exp, sizeof(exp));
	int to_daemon[2], from_daemon[2];
	cr_assert_eq(pipe2(to_daemon, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(from_daemon, O_CLOEXEC), 0);
	const char *argv[] = {"-l", "stdio", "-e", exp, NULL};
	struct fault_spawn o = FAULT_SPAWN_DEFAULTS;
	o.in_fd = to_daemon[0];
	o.out_fd = from_daemon[1];
	int err = fault_spawn(&extra_daemon, argv, &o);
	cr_assert_eq(err, 0, "starting ninepd -l stdio on pipes: %s", strerror(-err));
	close(to_daemon[0]);
	close(from_daemon[1]);
	int w = to_daemon[1], rd = from_daemon[0];

	static uint8_t buf[65536 + 64];
	struct np_msg t = {.type = NP_TVERSION, .tag = NP_NOTAG}, r;
	t.u.tversion.msize = 65536;
	t.u.tversion.version = np_str_c("9P2000.L");
	cr_assert_eq(pipe_rpc(w, rd, &t, buf, sizeof(buf), &r), 0, "Tversion over pipes");
	t = (struct np_msg){.type = NP_TATTACH, .tag = 1};
	t.u.tattach.fid = 1;
	t.u.tattach.afid = NP_NOFID;
	t.u.tattach.uname = np_str_c("root");
	t.u.tattach.aname = np_str_c("");
	cr_assert_eq(pipe_rpc(w, rd, &t, buf, sizeof(buf), &r), 0, "Tattach over pipes");
	t = walk_msg(1, 2, "probe");
	t.tag = 2;
	cr_assert_eq(pipe_rpc(w, rd, &t, buf, sizeof(buf), &r), 0, "Twalk over pipes");
	t = (struct np_msg){.type = NP_TLOPEN, .tag = 3};
	t.u.tlopen.fid = 2;
	cr_assert_eq(pipe_rpc(w, rd, &t, buf, sizeof(buf), &r), 0, "Tlopen over pipes");
	t = (struct np_msg){.type = NP_TREAD, .tag = 4};
	t.u.tread.fid = 2;
	t.u.tread.count = 4096;
	cr_assert_eq(pipe_rpc(w, rd, &t, buf, sizeof(buf), &r), 0, "Tread over pipes");
	cr_expect(r.u.rread.count == strlen(PROBE) && !memcmp(r.u.rread.data, PROBE, strlen(PROBE)));
	/* Requests sent just before stdin ends are still answered on stdout
	 * (ninepd -l stdio < requests > replies must lose none of them). */
	enum { LAST = 64 };
	for (uint16_t tag = 10; tag < 10 + LAST; tag++) {
		t = (struct np_msg){.type = NP_TREAD, .tag = tag};
		t.u.tread.fid = 2;
		t.u.tread.count = 4096;
		cr_assert_eq(pipe_send(w, &t, buf, sizeof(buf)), 0);
	}
	/* Hang up: the daemon sees end of file on stdin, answers, and exits. */
	close(w);
	int answered = 0, err2;
	while ((err2 = pipe_recv(rd, buf, sizeof(buf), &r)) == 0)
		if (r.type == NP_RREAD && r.u.rread.count == strlen(PROBE))
			answered++;
	cr_expect_eq(err2, -ECONNRESET, "reading the last replies: %s", strerror(-err2));
	cr_expect_eq(answered, LAST, "requests sent before the hang-up were not answered");
	int status = np_daemon_wait(&extra_daemon, 5000);
	cr_expect_eq(status, 0, "ninepd -l stdio on pipes after the client hung up: %s",
		     status == -ETIMEDOUT ? "still running after 5 s" : "exit status");
	close(rd);
	expect_log_clean(&extra_daemon);
}

/* A listening unix socket at path, as systemd would pass it. */
static int listening_socket(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	cr_assert_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "bind %s: %s", path,
		     strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

Test(faults, socket_activation_serves_on_the_passed_socket)
{
	const char *dir = extra_dir("ninepd-systemd");
	char exp[PATH_MAX], path[PATH_MAX + 8], addr[PATH_MAX + 16];
	make_export(dir, exp, sizeof(exp));
	snprintf(path, sizeof(path), "%s/activated.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	int lfd = listening_socket(path);
	/* No -l: the socket on fd 3 is all it listens on. */
	const char *argv[] = {"-e", exp, NULL};
	struct fault_spawn o = FAULT_SPAWN_DEFAULTS;
	o.listen_fd = lfd;
	int err = fault_spawn(&extra_daemon, argv, &o);
	close(lfd);
	cr_assert_eq(err, 0, "starting ninepd with LISTEN_FDS=1: %s", strerror(-err));
	for (int i = 0; i < 2; i++) {
		struct np_client *c;
		cr_assert_eq(np_client_connect(&c, addr), 0);
		run_session(c, "socket activation");
		np_client_close(c);
	}
	cr_expect_eq(np_daemon_stop(&extra_daemon), 0, "exit status after SIGTERM");
	/* The socket belongs to the service manager: it is not removed. */
	struct stat st;
	cr_expect(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode),
		  "ninepd removed the socket it was given");
	expect_log_clean(&extra_daemon);
	char *log = np_daemon_log(&extra_daemon);
	cr_expect(strstr(log, "socket activation") != NULL, "the log does not say:\n%s", log);
	free(log);
}

Test(faults, socket_activation_for_another_pid_is_ignored)
{
	const char *dir = extra_dir("ninepd-systemd");
	char exp[PATH_MAX], path[PATH_MAX + 8];
	make_export(dir, exp, sizeof(exp));
	snprintf(path, sizeof(path), "%s/activated.sock", dir);
	int lfd = listening_socket(path);
	const char *argv[] = {"-e", exp, NULL};
	struct fault_spawn o = FAULT_SPAWN_DEFAULTS;
	o.listen_fd = lfd;
	o.listen_pid = getpid(); /* not the daemon's */
	int err = fault_spawn(&extra_daemon, argv, &o);
	close(lfd);
	cr_assert_eq(err, 0);
	int status = np_daemon_wait(&extra_daemon, 10000);
	cr_expect_eq(status, 1, "fds meant for another process were used (status %d)", status);
	char *log = np_daemon_log(&extra_daemon);
	cr_expect(strstr(log, "nothing to listen on") != NULL, "the log does not say why:\n%s",
		  log);
	free(log);
}
