/* SIGHUP reloads the configuration file without dropping the clients of
 * exports that did not change; clients of a removed export are
 * disconnected; a broken file is refused and the running setup stays. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/client/np_client.h"

static char dir[128], conf[256], sock[256], addr[300], exp_a[256], exp_b[256];
static struct np_daemon d;

static void write_conf(const char *body)
{
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "[server]\nlisten = %s\n%s", addr, body);
	fclose(f);
}

static void setup(void)
{
	cr_assert_eq(np_tmpdir(dir, sizeof dir, "ninepd-reload"), 0);
	snprintf(conf, sizeof conf, "%s/ninepd.conf", dir);
	snprintf(sock, sizeof sock, "%s/s", dir);
	snprintf(addr, sizeof addr, "unix:%s", sock);
	snprintf(exp_a, sizeof exp_a, "%s/a", dir);
	snprintf(exp_b, sizeof exp_b, "%s/b", dir);
	cr_assert_eq(mkdir(exp_a, 0755), 0);
	cr_assert_eq(mkdir(exp_b, 0755), 0);
}

static void teardown(void)
{
	if (d.pid)
		np_daemon_stop(&d);
	np_daemon_cleanup(&d);
	np_rmtree(dir);
}

static void start(void)
{
	const char *argv[] = {"-c", conf, NULL};
	int rc = np_daemon_start(&d, argv);
	char *log = np_daemon_log(&d);
	cr_assert_eq(rc, 0, "daemon did not start: %s", log ? log : "");
	free(log);
	/* With -c the spawner cannot see the listen address: wait for it. */
	for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
		usleep(25 * 1000);
	struct np_client *probe = NULL;
	for (int i = 0; i < 200 && np_client_connect(&probe, addr) != 0; i++)
		usleep(25 * 1000);
	cr_assert_not_null(probe, "the daemon never listened on %s", addr);
	np_client_close(probe);
}

/* Sends SIGHUP and waits until the log shows the reload's outcome. */
static void hup_and_wait(const char *marker, int occurrence)
{
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	for (int i = 0; i < 100; i++) {
		char *log = np_daemon_log(&d);
		int n = 0;
		for (const char *p = log; p && (p = strstr(p, marker)); p++)
			n++;
		free(log);
		if (n >= occurrence)
			return;
		usleep(50 * 1000);
	}
	cr_assert_fail("no '%s' in the log after SIGHUP", marker);
}

TestSuite(reload, .init = setup, .fini = teardown, .timeout = 60);

/* Without a sandbox: a sandboxed daemon cannot reach a new export path
 * (sandbox_refuses_a_new_export_path_and_keeps_running below). */
Test(reload, adding_an_export_keeps_existing_clients_and_serves_the_new_one)
{
	char body[1024];
	snprintf(body, sizeof body, "sandbox = none\n[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "sandbox = none\n[export a]\npath = %s\n[export b]\npath = %s\n",
		 exp_a, exp_b);
	write_conf(body);
	hup_and_wait("configuration reloaded", 1);

	/* The client of the unchanged export was not dropped. */
	cr_assert_eq(np_getattr(ca, 1, NP_GETATTR_BASIC, NULL), 0);
	struct np_client *cb;
	cr_assert_eq(np_session(&cb, addr, 65536, "b", 0, 1), 0, "the new export is served");
	np_client_close(cb);
	np_client_close(ca);
}

Test(reload, removing_an_export_disconnects_its_clients_only)
{
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n[export b]\npath = %s\n", exp_a, exp_b);
	write_conf(body);
	start();
	struct np_client *ca, *cb;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);
	cr_assert_eq(np_session(&cb, addr, 65536, "b", 0, 1), 0);

	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	hup_and_wait("configuration reloaded", 1);

	cr_assert_eq(np_getattr(ca, 1, NP_GETATTR_BASIC, NULL), 0);
	int rc = np_getattr(cb, 1, NP_GETATTR_BASIC, NULL);
	cr_assert(rc == -ECONNRESET || rc == -EPIPE, "client of the removed export: %s",
		  strerror(-rc));
	struct np_client *again;
	cr_assert_neq(np_session(&again, addr, 65536, "b", 0, 1), 0, "b is gone");
	np_client_close(cb);
	np_client_close(ca);
}

Test(reload, a_broken_configuration_is_refused_and_the_running_one_stays)
{
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	write_conf("[export a]\npath = /nonexistent/ninepd-reload\nbogus = 1\n");
	hup_and_wait("keeping the running one", 1);

	cr_assert_eq(np_getattr(ca, 1, NP_GETATTR_BASIC, NULL), 0);
	struct np_client *c2;
	cr_assert_eq(np_session(&c2, addr, 65536, "a", 0, 1), 0);
	char *log = np_daemon_log(&d);
	cr_expect_not_null(strstr(log, "bogus"), "the error names the bad key");
	free(log);
	np_client_close(c2);
	np_client_close(ca);
	cr_assert(np_daemon_alive(&d));
}

/* threads and user are set once per process: a reload that changes them
 * says they wait for the next start, and everything else still applies. */
Test(reload, changing_threads_or_user_is_reported_as_needing_a_restart)
{
	char body[1024];
	snprintf(body, sizeof body, "threads = 3\nsandbox = none\n[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "threads = 5\nuser = nobody\nsandbox = none\n[export a]\n"
		 "path = %s\n[export b]\npath = %s\n", exp_a, exp_b);
	write_conf(body);
	hup_and_wait("configuration reloaded", 1);
	char *log = np_daemon_log(&d);
	cr_expect_not_null(strstr(log, "threads = 5 takes effect at the next start; 3 worker"),
			   "log: %s", log);
	cr_expect_not_null(strstr(log, "user = nobody takes effect at the next start"), "log: %s",
			   log);
	free(log);
	cr_assert_eq(np_getattr(ca, 1, NP_GETATTR_BASIC, NULL), 0);
	struct np_client *cb;
	cr_assert_eq(np_session(&cb, addr, 65536, "b", 0, 1), 0, "the rest was applied");
	np_client_close(cb);
	np_client_close(ca);
}

/* A map is part of the export: a reload that changes it makes a new export
 * (getattr shows ids through the new map), and one with overlapping rules
 * is refused with the file, line and both rules, keeping the running map. */
Test(reload, a_new_id_map_applies_and_an_overlapping_one_is_refused_with_its_line)
{
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	cr_assert_eq(chown(exp_a, 101000, 101000), 0);
	start();

	snprintf(body, sizeof body,
		 "[export a]\npath = %s\ntranslate_uid = map:0:100000:1 map:1000:101000:1\n"
		 "translate_gid = map:0:100000:1 map:1000:101000:1\n",
		 exp_a);
	write_conf(body);
	hup_and_wait("configuration reloaded", 1);
	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, 65536, "a", 0, 1), 0);
	struct np_attr a;
	cr_assert_eq(np_getattr(c, 1, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.uid, 1000, "the export root seen through the new map: uid %u", a.uid);

	snprintf(body, sizeof body,
		 "[export a]\npath = %s\ntranslate_uid = map:0:100000:1 map:1000:101000:1\n"
		 "translate_uid = host:101000:5:1\n",
		 exp_a);
	write_conf(body);
	hup_and_wait("keeping the running one", 1);
	char *log = np_daemon_log(&d);
	char want[512];
	snprintf(want, sizeof want,
		 "%s:6: [export a] translate_uid: 'host:101000:5:1' overlaps 'map:1000:101000:1' "
		 "(line 5) in host ids",
		 conf);
	cr_expect_not_null(strstr(log, want), "no '%s' in the log:\n%s", want, log);
	free(log);
	cr_assert_eq(np_getattr(c, 1, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.uid, 1000, "the running map stays");
	np_client_close(c);
}

/* Under the sandbox (the default as root) the options of an existing
 * export and the log level change at a reload; the tree the daemon sees
 * does not. */
Test(reload, sandbox_applies_new_options_of_an_existing_export)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "log_level = debug\n[export a]\npath = %s\nreadonly = yes\n",
		 exp_a);
	write_conf(body);
	hup_and_wait("configuration reloaded", 1);
	struct np_client *c2;
	cr_assert_eq(np_session(&c2, addr, 65536, "a", 0, 1), 0);
	uint32_t fid = np_fid_new(c2);
	cr_assert_eq(np_walk(c2, 1, fid, 0, NULL, NULL, NULL), 0);
	int rc = np_lcreate(c2, fid, "f", 0 /* O_RDONLY */, 0644, 0, NULL, NULL);
	cr_assert_eq(rc, -EROFS, "the export became read-only: %s", strerror(-rc));
	np_client_close(c2);
	np_client_close(ca);
}

Test(reload, sandbox_refuses_a_new_export_path_and_keeps_running)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "[export a]\npath = %s\n[export b]\npath = %s\n", exp_a, exp_b);
	write_conf(body);
	hup_and_wait("keeping the running one", 1);
	char *log = np_daemon_log(&d);
	/* The new path does not exist inside: the configuration's check says
	 * so, and the sandbox what to do. */
	cr_expect_not_null(strstr(log, "SIGHUP: inside the sandbox only the paths the daemon "
				       "started with exist"), "log: %s", log);
	cr_expect_not_null(strstr(log, "a new export path or state directory needs a restart"),
			   "log: %s", log);
	free(log);
	cr_assert_eq(np_getattr(ca, 1, NP_GETATTR_BASIC, NULL), 0, "the old client stays");
	struct np_client *cb;
	cr_assert_neq(np_session(&cb, addr, 65536, "b", 0, 1), 0, "b is not served");
	np_client_close(ca);
	cr_assert(np_daemon_alive(&d));
}

Test(reload, sandbox_refuses_a_new_listener)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	snprintf(body, sizeof body, "listen = unix:%s/s2\n[export a]\npath = %s\n", dir, exp_a);
	write_conf(body);
	hup_and_wait("keeping the running one", 1);
	char *log = np_daemon_log(&d);
	cr_expect_not_null(strstr(log, "a new listener needs a restart under the sandbox"),
			   "log: %s", log);
	free(log);
	char s2[300];
	snprintf(s2, sizeof s2, "%s/s2", dir);
	cr_expect_neq(access(s2, F_OK), 0, "no new socket");
	cr_assert(np_daemon_alive(&d));
}

/* A directory inside an export exists in the sandbox too, but exporting
 * it on its own is a new export path all the same: refused by name. */
Test(reload, sandbox_refuses_a_new_export_path_inside_an_old_one)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
	char body[1024], sub[300];
	snprintf(sub, sizeof sub, "%s/sub", exp_a);
	cr_assert_eq(mkdir(sub, 0755), 0);
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	snprintf(body, sizeof body, "[export a]\npath = %s\n[export sub]\npath = %s\n", exp_a, sub);
	write_conf(body);
	hup_and_wait("keeping the running one", 1);
	char *log = np_daemon_log(&d);
	char want[512];
	snprintf(want, sizeof want,
		 "export 'sub': %s is not an export path the daemon started with; the sandbox "
		 "holds only those: a new export path needs a restart", sub);
	cr_expect_not_null(strstr(log, want), "log: %s", log);
	free(log);
	struct np_client *c;
	cr_assert_neq(np_session(&c, addr, 65536, "sub", 0, 1), 0, "sub is not served");
	cr_assert(np_daemon_alive(&d));
}

/* The sandbox holds the configuration file as a file: one renamed over it
 * (as some editors save) is not seen, and the reload says so. */
Test(reload, sandbox_warns_when_the_file_was_renamed_over)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
	char body[1024], tmp[300];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	snprintf(tmp, sizeof tmp, "%s.new", conf);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fprintf(f, "[server]\nlisten = %s\nlog_level = debug\n[export a]\npath = %s\n", addr, exp_a);
	fclose(f);
	cr_assert_eq(rename(tmp, conf), 0);
	hup_and_wait("configuration reloaded", 1);
	char *log = np_daemon_log(&d);
	cr_expect_not_null(strstr(log, "was replaced on the host (renamed over"), "log: %s", log);
	free(log);
}
