/* server/sandbox.c and server/seccomp.c on their own, without the daemon:
 * each case runs in a forked child (the sandbox changes the process's root
 * for good, a filter cannot be removed) and reports by its exit status. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/sandbox.h"
#include "server/seccomp.h"

/* Runs fn in a child; its exit status (0..255), or 128 + its signal. */
static int in_child(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn(arg));
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
}

static char dir[128], outer[256], inner[256], file[256], state[256];

static void setup(void)
{
	strcpy(dir, "/tmp/ninepd-sandbox-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(outer, sizeof outer, "%s/outer", dir);
	snprintf(inner, sizeof inner, "%s/outer/inner", dir);
	snprintf(file, sizeof file, "%s/conf", dir);
	snprintf(state, sizeof state, "%s/state", dir);
	cr_assert_eq(mkdir(outer, 0755), 0);
	cr_assert_eq(mkdir(inner, 0755), 0);
	cr_assert_eq(mkdir(state, 0755), 0);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "x", 1), 1);
	close(fd);
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(sandbox, .init = setup, .fini = teardown, .timeout = 30);

/* Exit codes name the first check that failed. */
static int enter_and_look(void *arg)
{
	enum sandbox_mode mode = *(enum sandbox_mode *)arg;
	struct sandbox_bind binds[] = {
		{.path = inner},  /* given before its parent: sorted inside */
		{.path = outer},
		{.path = state},
		{.path = file, .file = true, .readonly = true},
	};
	struct sandbox sb;
	char err[512];
	if (sandbox_enter(mode, binds, 4, true, false, &sb, err, sizeof err)) {
		fprintf(stderr, "sandbox_enter: %s\n", err);
		return 10;
	}
	struct stat st;
	if (open("/etc/shadow", O_RDONLY) >= 0 || errno != ENOENT)
		return 11;
	if (stat("/usr", &st) == 0)
		return 12;
	if (stat(inner, &st) || !S_ISDIR(st.st_mode))
		return 13;
	char made[300];
	snprintf(made, sizeof made, "%s/made", state);
	int fd = open(made, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return 14; /* a state directory is writable */
	close(fd);
	if (open(file, O_WRONLY) >= 0 || errno != EROFS)
		return 15; /* the config file is read-only */
	if (stat("/proc/self/fd/0", &st) && errno == ENOENT)
		return 16; /* /proc/self/fd is there */
	if (stat("/proc/sys", &st) == 0)
		return 17; /* subset=pid: no /proc/sys */
	if (!sandbox_has(&sb, outer) || sandbox_has(&sb, "/etc"))
		return 18;
	if (mkdir("/newdir", 0755) == 0 || errno != EROFS)
		return 19; /* the skeleton is read-only */
	sandbox_free(&sb);
	return 0;
}

Test(sandbox, namespace_holds_the_binds_and_nothing_else)
{
	need_root();
	enum sandbox_mode mode = SANDBOX_NAMESPACE;
	cr_expect_eq(in_child(enter_and_look, &mode), 0);
	char made[300];
	snprintf(made, sizeof made, "%s/made", state);
	cr_expect_eq(access(made, F_OK), 0, "what was written inside is on the host");
}

Test(sandbox, chroot_holds_the_binds_and_nothing_else)
{
	need_root();
	enum sandbox_mode mode = SANDBOX_CHROOT;
	cr_expect_eq(in_child(enter_and_look, &mode), 0);
}

static int bind_root(void *arg)
{
	(void)arg;
	struct sandbox_bind binds[] = {{.path = "/"}};
	struct sandbox sb;
	char err[512];
	int rc = sandbox_enter(SANDBOX_NAMESPACE, binds, 1, true, false, &sb, err, sizeof err);
	return rc == -EINVAL && strstr(err, "only an absolute path below /") ? 0 : 1;
}

Test(sandbox, refuses_to_bind_the_whole_root)
{
	need_root();
	cr_expect_eq(in_child(bind_root, NULL), 0);
}

static int filtered(void *arg)
{
	enum seccomp_mode mode = *(enum seccomp_mode *)arg;
	char err[256];
	if (syscall_filter_install(mode, err, sizeof err))
		return 10;
	if (getpid() <= 0)
		return 11;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 12; /* a unix socket is allowed */
	close(fd);
	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); /* kill mode dies here */
	if (fd >= 0 || errno != EPERM)
		return 13;
#ifndef __SANITIZE_ADDRESS__ /* LeakSanitizer's tracer needs any clone (seccomp.c) */
	if (fork() >= 0 || errno != EPERM) /* glibc's fork is clone without CLONE_THREAD */
		return 14;
#endif
	return 0;
}

Test(seccomp, kill_mode_kills_on_a_netlink_socket)
{
	enum seccomp_mode mode = SECCOMP_FILTER_KILL;
	cr_expect_eq(in_child(filtered, &mode), 128 + SIGSYS);
}

Test(seccomp, log_mode_refuses_with_eperm_and_lives)
{
	enum seccomp_mode mode = SECCOMP_FILTER_LOG;
	cr_expect_eq(in_child(filtered, &mode), 0);
}

static int threads_and_unshare(void *arg)
{
	(void)arg;
	char err[256];
	if (syscall_filter_install(SECCOMP_FILTER_KILL, err, sizeof err))
		return 10;
	if (unshare(CLONE_FS))
		return 11; /* what the workers do */
	return 0;
}

Test(seccomp, kill_mode_allows_unshare_of_the_fs_attributes)
{
	cr_expect_eq(in_child(threads_and_unshare, NULL), 0);
}
