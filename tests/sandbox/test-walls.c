/* The walls the daemon puts around itself (issue 18), proved from inside a
 * request: ninepd-walls (server/testhook.h) answers a Txattrwalk of
 * "ninepd.test.walls.WHAT" by trying, on the worker serving it, to open
 * /etc/shadow, to execve /bin/true, or to open a netlink socket, and
 * replies with the errno it got (ENOTRECOVERABLE: the call succeeded). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/client/np_client.h"

static struct np_fixture fx;

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("the sandbox needs root");
}

/* A daemon with the given options (NULL-terminated). */
static void start(const char *const opts[])
{
	int err = np_fixture_start(&fx, NULL, opts);
	cr_assert_eq(err, 0, "starting ninepd-walls: %s", fx.error);
}

static void stop_clean(void)
{
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof why), 0, "%s", why);
}

/* The errno the hook's call got, as the reply says it. */
static int wall(const char *what)
{
	char name[64];
	snprintf(name, sizeof name, "ninepd.test.walls.%s", what);
	uint64_t size;
	return np_xattrwalk(fx.c, fx.root, np_fid_new(fx.c), name, &size);
}

static bool log_has(const char *what)
{
	char *log = np_daemon_log(&fx.daemon);
	bool has = log && strstr(log, what);
	free(log);
	return has;
}

/* The daemon dies of SIGSYS when the request makes the call. */
static void expect_killed_by(const char *what)
{
	int rc = wall(what);
	cr_expect_lt(rc, 0, "no reply expected, got %d", rc);
	int status = np_daemon_wait(&fx.daemon, 10000);
	char *log = np_daemon_log(&fx.daemon);
	cr_expect_eq(status, 128 + SIGSYS, "%s: exit status %d, not SIGSYS; log:\n%s", what,
		     status, log ? log : "");
	free(log);
	np_fixture_stop(&fx, NULL);
}

/* A request that is no wall still works: create a file in the export. */
static void expect_serving(void)
{
	uint32_t fid = np_fid_new(fx.c);
	cr_assert_eq(np_walk(fx.c, fx.root, fid, 0, NULL, NULL, NULL), 0);
	cr_expect_eq(np_lcreate(fx.c, fid, "made-inside", 0101 /* O_WRONLY|O_CREAT */, 0644, 0, NULL,
				NULL), 0);
	char path[256];
	struct stat st;
	cr_expect_eq(stat(np_fixture_path(&fx, "made-inside", path, sizeof path), &st), 0,
		     "the file is on the host");
}

Test(walls, namespace_and_kill_find_no_shadow_and_still_serve, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "namespace", "--seccomp", "kill", NULL});
	cr_expect_eq(wall("open"), -ENOENT, "open(/etc/shadow) inside the sandbox");
	expect_serving();
	cr_expect(log_has("sandbox: pivot_root: a new root"));
	stop_clean();
}

Test(walls, namespace_and_kill_socket_kills_with_sigsys, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "namespace", "--seccomp", "kill", NULL});
	expect_killed_by("socket");
}

Test(walls, namespace_and_kill_execve_kills_with_sigsys, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "namespace", "--seccomp", "kill", NULL});
	expect_killed_by("execve");
}

Test(walls, seccomp_log_refuses_with_eperm_and_names_the_call, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "namespace", "--seccomp", "log", NULL});
	cr_expect_eq(wall("open"), -ENOENT);
	cr_expect_eq(wall("socket"), -EPERM);
	cr_expect_eq(wall("execve"), -EPERM);
	cr_expect(log_has("seccomp: system call socket (41) refused with EPERM"), "socket logged");
	cr_expect(log_has("seccomp: system call execve (59) refused with EPERM"), "execve logged");
	expect_serving();
	stop_clean();
}

Test(walls, chroot_finds_no_shadow_and_kill_holds, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "chroot", "--seccomp", "kill", NULL});
	cr_expect(log_has("sandbox: chroot: a new root"));
	cr_expect_eq(wall("open"), -ENOENT);
	expect_serving();
	expect_killed_by("socket");
}

/* The control: without the walls the same requests reach the host, so the
 * hook is not what refuses them above. */
Test(walls, without_sandbox_and_seccomp_the_host_is_reached, .timeout = 60)
{
	need_root();
	start((const char *[]){"--sandbox", "none", "--seccomp", "none", NULL});
	cr_expect_eq(wall("open"), -ENOTRECOVERABLE, "/etc/shadow opened");
	cr_expect_eq(wall("socket"), -ENOTRECOVERABLE, "netlink socket opened");
	cr_expect(log_has("no sandbox (--sandbox none)"));
	stop_clean();
}

/* What runs as root by default: both walls, seen from outside too. */
Test(walls, defaults_as_root_are_namespace_and_kill, .timeout = 60)
{
	need_root();
	start(NULL);
	cr_expect(log_has("sandbox: pivot_root"));
	cr_expect(log_has("any other kills it (SIGSYS)"));
	char path[64], *line = NULL;
	size_t cap = 0;
	bool seccomp = false, nnp = false;
	snprintf(path, sizeof path, "/proc/%d/status", (int)fx.daemon.pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	while (getline(&line, &cap, f) > 0) {
		seccomp |= !strcmp(line, "Seccomp:\t2\n");
		nnp |= !strcmp(line, "NoNewPrivs:\t1\n");
	}
	free(line);
	fclose(f);
	cr_expect(seccomp, "Seccomp: 2 (filter) in %s", path);
	cr_expect(nnp, "NoNewPrivs: 1 in %s", path);
	char mine[64] = "", theirs[64] = "";
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)fx.daemon.pid);
	cr_assert_gt(readlink("/proc/self/ns/mnt", mine, sizeof mine - 1), 0);
	cr_assert_gt(readlink(path, theirs, sizeof theirs - 1), 0);
	cr_expect_str_neq(mine, theirs, "a mount namespace of its own");
	cr_expect_eq(wall("open"), -ENOENT);
	stop_clean();
}

/* -u comes after the sandbox: the unprivileged daemon serves inside it. */
Test(walls, sandbox_then_user_nobody, .timeout = 60)
{
	need_root();
	start((const char *[]){"-u", "nobody", NULL});
	cr_expect(log_has("sandbox: pivot_root"));
	cr_expect(log_has("running as user nobody"));
	cr_expect_eq(wall("open"), -ENOENT);
	expect_serving();
	expect_killed_by("execve");
}
