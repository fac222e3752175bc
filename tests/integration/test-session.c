/* Integration: session set-up (Tversion, Tauth, Tattach, Tflush) and the
 * daemon's life cycle (options, listeners, stdio, signals). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "np_suite.h"

NP_FIXTURE_SUITE(session, 30);

/* A raw connection to the fixture's daemon, not yet negotiated. */
static struct np_client *raw_client(void)
{
	struct np_client *c;
	int err = np_client_connect(&c, fx.addr);
	cr_assert_eq(err, 0, "connect: %s", strerror(-err));
	return c;
}

Test(session, version_answers_9P2000L_with_the_asked_msize)
{
	struct np_client *c = raw_client();
	uint32_t msize;
	char version[32];
	cr_assert_eq(np_version(c, 8192, "9P2000.L", &msize, version, sizeof(version)), 0);
	cr_expect_str_eq(version, "9P2000.L");
	cr_expect_eq(msize, 8192, "Rversion msize %u for Tversion msize 8192", msize);
	np_client_close(c);
}

Test(session, version_answers_unknown_for_other_dialects)
{
	const char *dialects[] = {"9P2000", "9P2000.u", "9P1", "", "9P2000.X"};
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
		struct np_client *c = raw_client();
		char version[32] = "";
		int err = np_version(c, 8192, dialects[i], NULL, version, sizeof(version));
		cr_expect_eq(err, 0, "Tversion \"%s\": %s (want Rversion \"unknown\")", dialects[i],
			     strerror(-err));
		cr_expect_str_eq(version, "unknown", "Tversion \"%s\" answered \"%s\"", dialects[i],
				 version);
		np_client_close(c);
	}
}

Test(session, version_clips_msize_to_the_server_maximum)
{
	struct np_client *c = raw_client();
	uint32_t msize;
	char version[32];
	cr_assert_eq(np_version(c, 0x7fffffff, "9P2000.L", &msize, version, sizeof(version)), 0);
	cr_assert_str_eq(version, "9P2000.L");
	cr_assert(msize >= NP_MIN_MSIZE && msize < 0x7fffffff, "msize %u not clipped", msize);
	cr_assert_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0);

	/* The negotiated msize is really honoured in both directions. */
	uint32_t fid = np_fid_new(c), got;
	cr_assert_eq(np_walk_path(c, 1, fid, "", NULL), 0);
	cr_assert_eq(np_lcreate(c, fid, "big", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	uint32_t count = msize - 23; /* Twrite header is 23 bytes */
	uint8_t *data = calloc(1, count);
	cr_assert_not_null(data);
	int err = np_write(c, fid, 0, data, count, &got);
	cr_expect_eq(err, 0, "Twrite filling msize %u: %s", msize, strerror(-err));
	cr_expect(got > 0 && got <= count);
	err = np_read(c, fid, 0, count, data, &got);
	cr_expect_eq(err, 0, "Tread: %s", strerror(-err));
	cr_expect_lt(c->last_frame_size, msize, "Rread of %u bytes for msize %u",
		     c->last_frame_size, msize);
	free(data);
	np_client_close(c);
}

Test(session, version_refuses_or_raises_msize_below_4096)
{
	uint32_t asked[] = {0, 7, 1024, 4095};
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		struct np_client *c = raw_client();
		uint32_t msize = 0;
		char version[32] = "";
		int err = np_version(c, asked[i], "9P2000.L", &msize, version, sizeof(version));
		if (err == 0 && strcmp(version, "9P2000.L") == 0)
			cr_expect_geq(msize, NP_MIN_MSIZE, "Tversion msize %u accepted as %u", asked[i],
				      msize);
		else
			cr_expect(err < 0 && err != -ETIMEDOUT, "Tversion msize %u: %s, version \"%s\"",
				  asked[i], strerror(-err), version);
		np_client_close(c);
	}
	struct np_client *c = raw_client();
	uint32_t msize = 0;
	cr_expect_eq(np_version(c, 4096, "9P2000.L", &msize, NULL, 0), 0);
	cr_expect_eq(msize, 4096, "Tversion msize 4096 answered %u", msize);
	np_client_close(c);
}

Test(session, version_again_clunks_every_fid)
{
	struct np_client *c = fx.c;
	uint32_t fid = np_fid_new(c);
	cr_assert_eq(np_walk_path(c, fx.root, fid, "", NULL), 0);
	cr_assert_eq(np_version(c, NP_CLIENT_MSIZE, "9P2000.L", NULL, NULL, 0), 0);
	cr_expect_neq(np_getattr(c, fx.root, NP_GETATTR_BASIC, NULL), 0, "root fid survived Tversion");
	cr_expect_neq(np_getattr(c, fid, NP_GETATTR_BASIC, NULL), 0, "fid survived Tversion");
	/* The session is usable again: fid numbers are free for reuse. */
	cr_expect_eq(np_attach(c, fx.root, NP_NOFID, "root", "", 0, NULL), 0);
	cr_expect_eq(np_getattr(c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(session, version_again_renegotiates_msize)
{
	struct np_client *c = fx.c;
	uint8_t *big = calloc(1, 100000);
	cr_assert_not_null(big);
	cr_assert_eq(np_fixture_write(&fx, "big", big, 100000), 0);
	cr_assert_eq(np_version(c, 8192, "9P2000.L", NULL, NULL, 0), 0);
	cr_assert_eq(c->msize, 8192);
	cr_assert_eq(np_attach(c, fx.root, NP_NOFID, "root", "", 0, NULL), 0);
	uint32_t f;
	cr_assert_eq(np_open(c, fx.root, "big", NP_DOTL_RDONLY, &f), 0);
	uint32_t got;
	cr_assert_eq(np_read(c, f, 0, 60000, big, &got), 0);
	cr_expect_lt(c->last_frame_size, 8192, "Rread of %u bytes after msize became 8192",
		     c->last_frame_size);
	cr_expect_gt(got, 0);
	free(big);
}

Test(session, attach_gives_a_directory_qid_equal_to_a_clone)
{
	struct np_client *c = raw_client();
	struct np_qid q, clone;
	cr_assert_eq(np_version(c, 8192, "9P2000.L", NULL, NULL, 0), 0);
	cr_assert_eq(np_attach(c, 7, NP_NOFID, "root", "", 0, &q), 0);
	cr_expect_eq(q.type, NP_QTDIR);
	cr_assert_eq(np_walk_path(c, 7, 8, "", &clone), 0);
	cr_expect_eq(clone.path, q.path);
	cr_expect_eq(clone.type, q.type);
	np_client_close(c);
}

Test(session, attach_with_a_fid_in_use_fails)
{
	int err = np_attach(fx.c, fx.root, NP_NOFID, "root", "", 0, NULL);
	cr_expect_lt(err, 0, "second Tattach on fid %u succeeded", fx.root);
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0, "the fid in use was lost");
}

Test(session, auth_fails_while_no_auth_is_configured)
{
	struct np_qid q;
	int err = np_auth(fx.c, 50, "root", "", 0, &q);
	cr_expect_lt(err, 0, "Tauth answered Rauth");
	cr_expect_neq(err, -ETIMEDOUT);
	cr_expect_neq(err, -ECONNRESET);
	cr_expect_neq(err, -EPROTO);
	/* The connection is still fine. */
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(session, flush_of_an_idle_tag_gets_rflush)
{
	int err = np_flush(fx.c, 4321);
	cr_expect_eq(err, 0, "Tflush of an unused tag: %s", strerror(-err));
}

Test(session, trace_option_off_by_default_keeps_the_log_quiet)
{
	/* Without --trace no message names are logged per request. */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
	char *log = np_daemon_log(&fx.daemon);
	cr_expect_null(strstr(log, "Tgetattr"), "log without --trace:\n%s", log);
	free(log);
}

/* --- daemons with their own options ---------------------------------------- */

static struct np_daemon dm;
static char dirs[3][128];

static void own_setup(void)
{
	memset(&dm, 0, sizeof(dm));
	dm.stdio_fd = -1;
	for (int i = 0; i < 3; i++) {
		int err = np_tmpdir(dirs[i], sizeof(dirs[i]), "ninepd-itest");
		cr_assert_eq(err, 0);
		chmod(dirs[i], 0755);
	}
}

static void own_teardown(void)
{
	if (dm.pid > 0) {
		bool alive = np_daemon_alive(&dm);
		np_daemon_stop(&dm);
		char *log = np_daemon_log(&dm);
		cr_expect(alive, "ninepd died; log:\n%s", log);
		cr_expect(np_log_clean(log), "sanitizer report:\n%s", log);
		free(log);
	}
	np_daemon_cleanup(&dm);
	for (int i = 0; i < 3; i++)
		np_rmtree(dirs[i]);
}

TestSuite(daemon, .init = own_setup, .fini = own_teardown, .timeout = 30);

static void make_file(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
}

/* Starts dm with two exports: dirs[0] named "alpha", dirs[1] named "beta". */
static void start_two_exports(char *addr, size_t cap)
{
	char spec0[200], spec1[200];
	snprintf(addr, cap, "unix:%s/s", dirs[2]);
	snprintf(spec0, sizeof(spec0), "%s,name=alpha", dirs[0]);
	snprintf(spec1, sizeof(spec1), "%s,name=beta", dirs[1]);
	make_file(dirs[0], "only-in-alpha");
	make_file(dirs[1], "only-in-beta");
	const char *argv[] = {"-l", addr, "-e", spec0, "-e", spec1, NULL};
	int err = np_daemon_start(&dm, argv);
	cr_assert_eq(err, 0, "starting ninepd: %s", strerror(-err));
}

/* Attach with aname and report whether `name` can be walked to. */
static int attach_and_walk(const char *addr, const char *aname, const char *name)
{
	struct np_client *c;
	int err = np_client_connect(&c, addr);
	cr_assert_eq(err, 0);
	cr_assert_eq(np_version(c, 8192, "9P2000.L", NULL, NULL, 0), 0);
	err = np_attach(c, 1, NP_NOFID, "root", aname, 0, NULL);
	if (err == 0)
		err = np_walk_path(c, 1, 2, name, NULL);
	np_client_close(c);
	return err;
}

Test(daemon, attach_with_empty_aname_selects_the_first_export)
{
	char addr[200];
	start_two_exports(addr, sizeof(addr));
	cr_expect_eq(attach_and_walk(addr, "", "only-in-alpha"), 0);
	cr_expect_eq(attach_and_walk(addr, "", "only-in-beta"), -ENOENT);
}

Test(daemon, attach_by_export_name_selects_that_export)
{
	char addr[200];
	start_two_exports(addr, sizeof(addr));
	cr_expect_eq(attach_and_walk(addr, "beta", "only-in-beta"), 0);
	cr_expect_eq(attach_and_walk(addr, "alpha", "only-in-alpha"), 0);
	cr_expect_eq(attach_and_walk(addr, "beta", "only-in-alpha"), -ENOENT);
}

Test(daemon, attach_by_export_path_selects_that_export)
{
	char addr[200];
	start_two_exports(addr, sizeof(addr));
	cr_expect_eq(attach_and_walk(addr, dirs[1], "only-in-beta"), 0);
	cr_expect_eq(attach_and_walk(addr, dirs[0], "only-in-alpha"), 0);
}

Test(daemon, attach_to_an_unknown_aname_fails)
{
	char addr[200], parent[300], run[300];
	start_two_exports(addr, sizeof(addr));
	snprintf(parent, sizeof(parent), "%s/..", dirs[0]);
	snprintf(run, sizeof(run), "%s", dirs[2]);
	const char *bad[] = {"gamma", "/", "/etc", "/tmp", parent, run, "alpha/.."};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = attach_and_walk(addr, bad[i], "");
		cr_expect_lt(err, 0, "Tattach aname \"%s\" succeeded", bad[i]);
		cr_expect_neq(err, -ETIMEDOUT, "aname \"%s\"", bad[i]);
	}
}

Test(daemon, client_strings_reach_the_log_escaped_never_as_new_lines)
{
	/* An aname (and, with --trace, every name) a client sends may hold a
	 * newline and a terminal escape: logged raw they would forge a log
	 * line or rewrite the administrator's terminal. */
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], "--trace", NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	const char *forged = "x\nninepd: FORGED LINE\x1b[2J";
	cr_expect_lt(attach_and_walk(addr, forged, ""), 0);
	np_daemon_stop(&dm);
	char *log = np_daemon_log(&dm);
	cr_expect_null(strstr(log, "\nninepd: FORGED"), "a forged line reached the log:\n%s", log);
	cr_expect_null(strchr(log, 0x1b), "an escape character reached the log:\n%s", log);
	cr_expect_not_null(strstr(log, "x\\x0aninepd: FORGED LINE\\x1b[2J"),
			   "the aname is not shown escaped:\n%s", log);
	free(log);
}

Test(daemon, exits_0_on_sigterm)
{
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, 8192, "", 0, 1), 0);
	cr_assert_eq(np_getattr(c, 1, NP_GETATTR_BASIC, NULL), 0);
	int status = np_daemon_stop(&dm);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "exit status %d after SIGTERM; log:\n%s", status, log);
	cr_expect(np_log_clean(log), "%s", log);
	free(log);
	np_client_close(c);
}

/* A client holding the lock on "f" and a second one waiting for it. */
static void start_waiting_lock(const char *addr, struct np_client **holder,
			       struct np_client **waiter)
{
	make_file(dirs[0], "f");
	uint32_t fh, fw;
	cr_assert_eq(np_session(holder, addr, 8192, "", 0, 1), 0);
	cr_assert_eq(np_session(waiter, addr, 8192, "", 0, 1), 0);
	cr_assert_eq(np_open(*holder, 1, "f", NP_DOTL_RDWR, &fh), 0);
	cr_assert_eq(np_open(*waiter, 1, "f", NP_DOTL_RDWR, &fw), 0);
	uint8_t st;
	cr_assert_eq(np_lock(*holder, fh, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 1, "h", &st), 0);
	cr_assert_eq(st, NP_LOCK_SUCCESS);
	struct np_msg m = {.type = NP_TLOCK, .tag = 77}, r;
	m.u.tlock.fid = fw;
	m.u.tlock.type = NP_LOCK_TYPE_WRLCK;
	m.u.tlock.flags = NP_LOCK_FLAGS_BLOCK;
	m.u.tlock.client_id = np_str_c("w");
	cr_assert_eq(np_send(*waiter, &m), 0);
	(*waiter)->timeout_ms = 200;
	cr_assert_eq(np_recv(*waiter, &r), -ETIMEDOUT, "the blocking lock did not wait");
}

Test(daemon, exits_promptly_on_sigterm_while_a_lock_waits)
{
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	struct np_client *holder, *waiter;
	start_waiting_lock(addr, &holder, &waiter);
	cr_assert_eq(kill(dm.pid, SIGTERM), 0);
	int status = np_daemon_wait(&dm, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "5 s after SIGTERM with a waiting Tlock: %s (%d); log:\n%s",
		     status == -ETIMEDOUT ? "still running" : "exit status", status, log);
	free(log);
	np_client_close(holder);
	np_client_close(waiter);
}

Test(daemon, exits_promptly_on_sigterm_while_a_client_does_not_read)
{
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	static uint8_t big[1 << 20];
	char path[300];
	snprintf(path, sizeof(path), "%s/big", dirs[0]);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite(big, 1, sizeof(big), f);
	fclose(f);
	struct np_client *hog;
	cr_assert_eq(np_session(&hog, addr, 65536, "", 0, 1), 0);
	uint32_t fid;
	cr_assert_eq(np_open(hog, 1, "big", NP_DOTL_RDONLY, &fid), 0);
	hog->timeout_ms = 500;
	/* Until the server stops reading: its replies fill both socket buffers. */
	for (int i = 0; i < 5000; i++) {
		struct np_msg m = {.type = NP_TREAD, .tag = (uint16_t)i};
		m.u.tread.fid = fid;
		m.u.tread.count = 60000;
		if (np_send(hog, &m) < 0)
			break;
	}
	cr_assert_eq(kill(dm.pid, SIGTERM), 0);
	int status = np_daemon_wait(&dm, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "5 s after SIGTERM with a stuffed client: %s (%d); log:\n%s",
		     status == -ETIMEDOUT ? "still running" : "exit status", status, log);
	free(log);
	np_client_close(hog);
}

Test(daemon, help_prints_usage_and_exits_0)
{
	const char *argv[] = {"--help", NULL};
	int status = np_daemon_run(&dm, argv, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "ninepd --help exit %d", status);
	cr_expect_not_null(strstr(log, "--listen"), "usage:\n%s", log);
	cr_expect_not_null(strstr(log, "--export"), "usage:\n%s", log);
	free(log);
}

Test(daemon, version_option_prints_the_version_and_exits_0)
{
	const char *argv[] = {"--version", NULL};
	int status = np_daemon_run(&dm, argv, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "ninepd --version exit %d", status);
	cr_expect_not_null(strstr(log, NINEPD_VERSION), "output:\n%s", log);
	free(log);
}

/* ninepd argv must fail to start, saying so in a log that names `needle`. */
static void expect_startup_failure(const char *const argv[], const char *needle)
{
	int status = np_daemon_run(&dm, argv, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect(status > 0 && status < 128, "exit status %d; log:\n%s", status, log);
	cr_expect_not_null(strstr(log, needle), "the log does not mention \"%s\":\n%s", needle,
			   log);
	free(log);
}

Test(daemon, unknown_option_exits_nonzero)
{
	const char *argv[] = {"--no-such-option", NULL};
	expect_startup_failure(argv, "no-such-option");
}

Test(daemon, missing_export_directory_exits_nonzero)
{
	char addr[200], missing[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	snprintf(missing, sizeof(missing), "%s/does-not-exist", dirs[0]);
	const char *argv[] = {"-l", addr, "-e", missing, NULL};
	expect_startup_failure(argv, "does-not-exist");
}

Test(daemon, bad_multidevs_value_exits_nonzero)
{
	char addr[200], spec[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	snprintf(spec, sizeof(spec), "%s,multidevs=sometimes", dirs[0]);
	const char *argv[] = {"-l", addr, "-e", spec, NULL};
	expect_startup_failure(argv, "multidevs");
}

Test(daemon, msize_option_caps_the_negotiated_msize)
{
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], "--msize", "8192", NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	struct np_client *c;
	cr_assert_eq(np_client_connect(&c, addr), 0);
	uint32_t msize;
	cr_assert_eq(np_version(c, 65536, "9P2000.L", &msize, NULL, 0), 0);
	cr_expect_eq(msize, 8192, "Tversion 65536 with --msize 8192 answered %u", msize);
	cr_assert_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0);
	/* A frame beyond the server's msize is refused, not read. */
	uint8_t data[9000] = {0};
	uint32_t f = np_fid_new(c);
	cr_assert_eq(np_walk_path(c, 1, f, "", NULL), 0);
	cr_assert_eq(np_lcreate(c, f, "x", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	int err = np_write(c, f, 0, data, sizeof(data), NULL);
	cr_expect_lt(err, 0, "a 9023-byte Twrite was accepted with msize 8192");
	np_client_close(c);
}

Test(daemon, check_mode_says_configuration_ok_and_does_not_listen)
{
	char addr[200], sock[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	snprintf(sock, sizeof(sock), "%s/s", dirs[2]);
	const char *argv[] = {"-n", "-l", addr, "-e", dirs[0], NULL};
	int status = np_daemon_run(&dm, argv, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "ninepd -n exit %d; log:\n%s", status, log);
	cr_expect_not_null(strstr(log, "configuration OK"), "log:\n%s", log);
	cr_expect_neq(access(sock, F_OK), 0, "ninepd -n created the socket");
	free(log);
}

Test(daemon, stale_socket_file_is_replaced)
{
	char addr[200], sock[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	snprintf(sock, sizeof(sock), "%s/s", dirs[2]);
	/* A socket nobody listens on any more, as a crashed daemon leaves. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	cr_assert_lt(strlen(sock), sizeof(sun.sun_path));
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	const char *argv[] = {"-l", addr, "-e", dirs[0], NULL};
	int err = np_daemon_start(&dm, argv);
	cr_assert_eq(err, 0, "start with a stale socket: %s", strerror(-err));
	struct np_client *c;
	cr_expect_eq(np_session(&c, addr, 8192, "", 0, 1), 0);
	np_client_close(c);
}

Test(daemon, tcp_listener_serves)
{
	/* A port that was free a moment ago. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	char addr[64];
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%u", ntohs(sin.sin_port));
	const char *argv[] = {"-l", addr, "-e", dirs[0], NULL};
	int err = np_daemon_start(&dm, argv);
	cr_assert_eq(err, 0, "start on %s: %s", addr, strerror(-err));
	struct np_client *c;
	cr_expect_eq(np_session(&c, addr, 8192, "", 0, 1), 0);
	cr_expect_eq(np_getattr(c, 1, NP_GETATTR_BASIC, NULL), 0);
	np_client_close(c);
}

Test(daemon, every_listener_serves)
{
	char a1[200], a2[200];
	snprintf(a1, sizeof(a1), "unix:%s/one", dirs[2]);
	snprintf(a2, sizeof(a2), "unix:%s/two", dirs[2]);
	const char *argv[] = {"-l", a1, "-l", a2, "-e", dirs[0], NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	struct np_client *c1, *c2;
	cr_expect_eq(np_session(&c1, a1, 8192, "", 0, 1), 0);
	cr_expect_eq(np_session(&c2, a2, 8192, "", 0, 1), 0);
	np_client_close(c1);
	np_client_close(c2);
}

Test(daemon, stdio_serves_one_client_and_exits_on_hangup)
{
	const char *argv[] = {"-l", "stdio", "-e", dirs[0], NULL};
	make_file(dirs[0], "file");
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	cr_assert_geq(dm.stdio_fd, 0);
	struct np_client *c;
	cr_assert_eq(np_client_from_fd(&c, dup(dm.stdio_fd)), 0);
	close(dm.stdio_fd);
	dm.stdio_fd = -1;
	cr_assert_eq(np_version(c, 8192, "9P2000.L", NULL, NULL, 0), 0);
	cr_assert_eq(np_attach(c, 1, NP_NOFID, "root", "", 0, NULL), 0);
	cr_expect_eq(np_walk_path(c, 1, 2, "file", NULL), 0);
	np_client_close(c);
	int status = np_daemon_wait(&dm, 5000);
	char *log = np_daemon_log(&dm);
	cr_expect_eq(status, 0, "after hangup: %d; log:\n%s", status, log);
	cr_expect(np_log_clean(log), "%s", log);
	free(log);
}

Test(daemon, trace_logs_each_request_and_reply_by_name)
{
	char addr[200];
	snprintf(addr, sizeof(addr), "unix:%s/s", dirs[2]);
	const char *argv[] = {"-l", addr, "-e", dirs[0], "--trace", NULL};
	cr_assert_eq(np_daemon_start(&dm, argv), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, 8192, "", 0, 1), 0);
	cr_assert_eq(np_getattr(c, 1, NP_GETATTR_BASIC, NULL), 0);
	np_client_close(c);
	char *log = NULL;
	/* The trace line may be written just after the reply. */
	for (int i = 0; i < 100; i++) {
		free(log);
		log = np_daemon_log(&dm);
		if (strstr(log, "Rgetattr"))
			break;
		usleep(10000);
	}
	cr_expect_not_null(strstr(log, "Tversion"), "log:\n%s", log);
	cr_expect_not_null(strstr(log, "Tattach"), "log:\n%s", log);
	cr_expect_not_null(strstr(log, "Tgetattr"), "log:\n%s", log);
	cr_expect_not_null(strstr(log, "Rgetattr"), "log:\n%s", log);
	free(log);
}
