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

Test(reload, adding_an_export_keeps_existing_clients_and_serves_the_new_one)
{
	char body[1024];
	snprintf(body, sizeof body, "[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "[export a]\npath = %s\n[export b]\npath = %s\n", exp_a, exp_b);
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
	snprintf(body, sizeof body, "threads = 3\n[export a]\npath = %s\n", exp_a);
	write_conf(body);
	start();
	struct np_client *ca;
	cr_assert_eq(np_session(&ca, addr, 65536, "a", 0, 1), 0);

	snprintf(body, sizeof body, "threads = 5\nuser = nobody\n[export a]\npath = %s\n"
		 "[export b]\npath = %s\n", exp_a, exp_b);
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
