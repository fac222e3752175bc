/* Integration: ninepd started as root with -u drops to that user once it
 * listens, keeping only what passthrough needs, and 9P keeps its
 * passthrough meaning: a request as uid 0 acts as root on the host, a
 * request as uid 1000 as uid 1000.  Checked from /proc/PID (ids, capability
 * sets, no_new_privs) and from the host's view of the export.
 *
 * Needs root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "np_users.h"
#include "privs-test.h"

#define UID 1000
#define GID 1000

/* Every daemon of this file drops to nobody, or is started by root. */
static void start_as_root(const char *opts, const char *const extra[])
{
	need_root_and_nobody();
	start(opts, extra);
}

static void start_dropped(void)
{
	start_as_root(NULL, (const char *const[]){"-u", "nobody", NULL});
}

static int guest_lopen(struct np_client *c, const char *path, uint32_t flags)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, 1, f, path, NULL);
	if (err)
		return err;
	err = np_lopen(c, f, flags, NULL, NULL);
	np_clunk(c, f);
	return err;
}

static void host_write(const char *rel, const char *text, mode_t mode)
{
	cr_assert_eq(np_fixture_write(&fx, rel, text, strlen(text)), 0, "host write %s", rel);
	cr_assert_eq(chmod(HOST(rel), mode), 0);
}

/* A directory everyone may create in, as /tmp. */
static void host_public_dir(const char *rel)
{
	cr_assert_eq(np_fixture_mkdir(&fx, rel, 0777), 0);
	cr_assert_eq(chmod(HOST(rel), 01777), 0);
}

static struct stat host_lstat(const char *rel)
{
	struct stat st;
	cr_assert_eq(lstat(HOST(rel), &st), 0, "host lstat %s: %s", rel, strerror(errno));
	return st;
}

/* --- /proc/PID/status ---------------------------------------------------- */

static const char *daemon_status(const char *key, char *buf)
{
	char file[64];
	snprintf(file, sizeof file, "/proc/%d/status", (int)fx.daemon.pid);
	return status_of(file, key, buf, 256);
}
#define DAEMON(key) daemon_status((key), (char[256]){0})

static unsigned long long parse_hex(const char *s)
{
	return strtoull(s, NULL, 16);
}

/* ========================================================================= */
/* -u nobody                                                                 */
/* ========================================================================= */

TestSuite(dropped, .init = start_dropped, .fini = finish, .timeout = 60);

Test(dropped, daemon_runs_as_the_user_with_no_groups_and_no_new_privs)
{
	cr_expect_str_eq(DAEMON("Uid"), FOUR(nobody_uid));
	cr_expect_str_eq(DAEMON("Gid"), FOUR(nobody_gid));
	cr_expect_str_eq(DAEMON("Groups"), "");
	cr_expect_str_eq(DAEMON("NoNewPrivs"), "1");
	char *log = np_daemon_log(&fx.daemon);
	cr_expect(log && strstr(log, "running as user nobody"), "log:\n%s", log ? log : "");
	free(log);
}

Test(dropped, daemon_keeps_only_the_file_and_switching_capabilities)
{
	cr_expect_str_eq(DAEMON("CapPrm"), HEX(FS_CAPS | SWITCH_CAPS));
	/* The main thread's fsuid is the user's: nothing but switching. */
	cr_expect_str_eq(DAEMON("CapEff"), HEX(SWITCH_CAPS));
	cr_expect_str_eq(DAEMON("CapInh"), HEX(0));
	cr_expect_str_eq(DAEMON("CapBnd"), HEX(0));
	cr_expect_str_eq(DAEMON("CapAmb"), HEX(0));
}

/* Every thread, workers included, holds at most the kept capabilities, and
 * a worker that served uid 0 holds the file ones only while it is uid 0. */
Test(dropped, no_thread_has_more_than_the_kept_capabilities)
{
	uint32_t f;
	cr_assert_eq(np_open(fx.c, 1, "", NP_DOTL_RDONLY, &f), 0, "uid 0 opens the root");
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)fx.daemon.pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s: %s", path, strerror(errno));
	int threads = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char file[384], buf[256];
		snprintf(file, sizeof file, "%s/%s/status", path, e->d_name);
		unsigned long long prm = parse_hex(status_of(file, "CapPrm", buf, sizeof buf));
		unsigned long long eff = parse_hex(status_of(file, "CapEff", buf, sizeof buf));
		cr_expect_eq(prm, FS_CAPS | SWITCH_CAPS, "thread %s: CapPrm %016llx", e->d_name,
			     prm);
		cr_expect(eff == SWITCH_CAPS || eff == (FS_CAPS | SWITCH_CAPS),
			  "thread %s: CapEff %016llx", e->d_name, eff);
		threads++;
	}
	closedir(d);
	cr_expect_gt(threads, 1, "the worker threads should exist by now");
}

Test(dropped, files_created_by_uid_1000_are_owned_by_it)
{
	host_public_dir("pub");
	struct np_client *c = attach(UID);
	uint32_t dir = walk(c, "pub");
	cr_assert_eq(np_lcreate(c, dir, "file", NP_DOTL_RDWR, 0640, GID, NULL, NULL), 0);
	cr_expect_eq(np_write(c, dir, 0, "hello", 5, NULL), 0);
	cr_assert_eq(np_mkdir(c, walk(c, "pub"), "sub", 0750, GID, NULL), 0);
	struct stat st = host_lstat("pub/file");
	cr_expect_eq(st.st_uid, UID, "host owner %u", st.st_uid);
	cr_expect_eq(st.st_gid, GID, "host group %u", st.st_gid);
	cr_expect_eq(st.st_mode, S_IFREG | 0640);
	st = host_lstat("pub/sub");
	cr_expect_eq(st.st_uid, UID);
	cr_expect_eq(st.st_mode, S_IFDIR | 0750);
}

Test(dropped, files_created_by_uid_0_are_owned_by_root_not_by_the_daemon_user)
{
	uint32_t dir = walk(fx.c, "");
	cr_assert_eq(np_lcreate(fx.c, dir, "rootfile", NP_DOTL_RDWR, 0600, 0, NULL, NULL), 0);
	struct stat st = host_lstat("rootfile");
	cr_expect_eq(st.st_uid, 0, "host owner %u", st.st_uid);
	cr_expect_eq(st.st_gid, 0, "host group %u", st.st_gid);
}

Test(dropped, root_only_file_is_read_by_uid_0_and_by_uid_1000_whose_guest_decided)
{
	host_write("secret", "s3cret", 0600);
	uint32_t f;
	cr_assert_eq(np_open(fx.c, 1, "secret", NP_DOTL_RDONLY, &f), 0,
		     "uid 0 needs CAP_DAC_OVERRIDE raised for this");
	char buf[16];
	uint32_t got = 0;
	cr_expect_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 6);
	cr_expect_eq(memcmp(buf, "s3cret", 6), 0);

	/* uid 1000's access is its guest's decision (dac_override and
	 * dac_read_search, nothing else): it reads, and cannot chown. */
	struct np_client *c = attach(UID);
	cr_expect_eq(guest_lopen(c, "secret", NP_DOTL_RDONLY), 0);
	cr_expect_eq(guest_lopen(c, "secret", NP_DOTL_WRONLY), 0);
	uint32_t sf = walk(c, "secret");
	struct np_setattr own = {.valid = NP_SETATTR_UID, .uid = UID};
	cr_expect_eq(np_setattr(c, sf, &own), -EPERM);
	/* And uid 0 again on the same daemon: the capabilities come back. */
	cr_expect_eq(guest_lopen(fx.c, "secret", NP_DOTL_RDWR), 0);
}

Test(dropped, root_only_directory_is_searched_by_uid_0_and_by_uid_1000)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "private", 0700), 0);
	host_write("private/f", "x", 0644);
	uint32_t f = np_fid_new(fx.c);
	cr_expect_eq(np_walk_path(fx.c, 1, f, "private/f", NULL), 0,
		     "uid 0 needs CAP_DAC_READ_SEARCH raised for this");
	/* A walk fails at its first element with the error; later ones
	 * would make a partial Rwalk. */
	struct np_client *c = attach(UID);
	uint32_t priv = walk(c, "private");
	cr_expect_eq(np_walk_path(c, priv, np_fid_new(c), "f", NULL), 0);
}

Test(dropped, uid_0_chowns_and_makes_devices_and_uid_1000_cannot)
{
	host_public_dir("pub");
	host_write("pub/theirs", "x", 0644);
	struct np_client *c = attach(UID);
	uint32_t f = walk(c, "pub/theirs");
	struct np_setattr sa = {.valid = NP_SETATTR_UID | NP_SETATTR_GID, .uid = UID, .gid = GID};
	cr_expect_eq(np_setattr(c, f, &sa), -EPERM, "uid 1000 took a root file");
	cr_expect_eq(np_mknod(c, walk(c, "pub"), "null", S_IFCHR | 0666, 1, 3, GID, NULL), -EPERM);

	f = walk(fx.c, "pub/theirs");
	sa.uid = 1234;
	sa.gid = 1234;
	cr_expect_eq(np_setattr(fx.c, f, &sa), 0, "uid 0 needs CAP_CHOWN raised for this");
	struct stat st = host_lstat("pub/theirs");
	cr_expect_eq(st.st_uid, 1234);
	cr_expect_eq(st.st_gid, 1234);
	cr_expect_eq(np_mknod(fx.c, walk(fx.c, "pub"), "null", S_IFCHR | 0666, 1, 3, 0, NULL), 0,
		     "uid 0 needs CAP_MKNOD raised for this");
	st = host_lstat("pub/null");
	cr_expect(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	/* A device node made through 9P is still never opened by the daemon. */
	cr_expect_eq(guest_lopen(fx.c, "pub/null", NP_DOTL_RDWR), -ENXIO);
}

Test(dropped, remove_and_rename_still_find_parents_through_proc_self_fd)
{
	host_public_dir("pub");
	struct np_client *c = attach(UID);
	uint32_t dir = walk(c, "pub");
	cr_assert_eq(np_lcreate(c, dir, "a", NP_DOTL_RDWR, 0600, GID, NULL, NULL), 0);
	cr_assert_eq(np_lcreate(c, walk(c, "pub"), "b", NP_DOTL_RDWR, 0600, GID, NULL, NULL), 0);
	/* Trename and Tremove need fs_parent(), a readlink of /proc/self/fd/N. */
	cr_expect_eq(np_rename(c, walk(c, "pub/a"), walk(c, "pub"), "c"), 0);
	cr_expect_eq(np_remove(c, walk(c, "pub/b")), 0);
	struct stat st;
	cr_expect_eq(lstat(HOST("pub/a"), &st), -1);
	cr_expect_eq(lstat(HOST("pub/b"), &st), -1);
	cr_expect_eq(host_lstat("pub/c").st_uid, UID);
}

Test(dropped, trusted_and_file_capability_xattrs_are_refused_even_to_uid_0)
{
	host_write("file", "x", 0644);
	uint32_t f = walk(fx.c, "file");
	cr_expect_eq(np_xattr_set(fx.c, f, "trusted.ninepd", "1", 1, 0), -EPERM,
		     "CAP_SYS_ADMIN was not dropped");
	uint32_t caps[5] = {0x02000001, 1u << CAP_SETUID, 0, 0, 0};
	cr_expect_eq(np_xattr_set(fx.c, f, "security.capability", caps, sizeof caps, 0), -EPERM,
		     "CAP_SETFCAP was not dropped");
	cr_expect_eq(np_xattr_set(fx.c, f, "user.ninepd", "1", 1, 0), 0);
}

/* The daemon is non-dumpable: another process of the same user cannot
 * look at its fds, and it still reopens through its own /proc/self/fd (the
 * tests above). */
Test(dropped, another_process_of_the_user_cannot_look_into_the_daemon)
{
	char fddir[64];
	snprintf(fddir, sizeof fddir, "/proc/%d/fd", (int)fx.daemon.pid);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(nobody_gid, nobody_gid, nobody_gid) ||
		    setresuid(nobody_uid, nobody_uid, nobody_uid))
			_exit(2);
		DIR *d = opendir(fddir);
		_exit(!d && errno == EACCES ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "a uid %u process could open %s (status %#x)", nobody_uid, fddir, status);
}

/* ========================================================================= */
/* mapped-xattr: the daemon's own identity is now the user                    */
/* ========================================================================= */

static void start_mapped_dropped(void)
{
	/* Start the daemon with supplementary group 0, as a root shell may
	 * have: the user it becomes must not keep it. */
	need_root_and_nobody();
	cr_assert_eq(setgroups(1, (gid_t[]){0}), 0, "setgroups: %s", strerror(errno));
	start_as_root(",security_model=mapped-xattr", (const char *const[]){"-u", "nobody", NULL});
	/* The export belongs to the service user, as it must under mapped. */
	cr_assert_eq(chown(fx.export_dir, nobody_uid, nobody_gid), 0);
}

TestSuite(mapped_dropped, .init = start_mapped_dropped, .fini = finish, .timeout = 60);

Test(mapped_dropped, files_belong_to_the_daemon_user_whatever_the_guest_uid)
{
	struct np_client *c = attach(UID);
	uint32_t dir = walk(c, "");
	cr_assert_eq(np_lcreate(c, dir, "file", NP_DOTL_RDWR, 0644, GID, NULL, NULL), 0);
	struct stat st = host_lstat("file");
	cr_expect_eq(st.st_uid, nobody_uid, "host owner %u", st.st_uid);
	cr_expect_eq(st.st_gid, nobody_gid, "host group %u", st.st_gid);
	struct np_attr a;
	uint32_t f = walk(c, "file");
	cr_assert_eq(np_getattr(c, f, NP_GETATTR_ALL, &a), 0);
	cr_expect_eq(a.uid, UID, "the guest still sees its own uid");
}

Test(mapped_dropped, root_owned_files_are_out_of_reach)
{
	/* 0640 root:root: readable through group 0, which the daemon had as
	 * root and must not keep as its own identity's group list. */
	host_write("secret", "s3cret", 0640);
	cr_expect_eq(guest_lopen(fx.c, "secret", NP_DOTL_RDONLY), -EACCES,
		     "under mapped-xattr the daemon acts as itself, now nobody");
}

/* ========================================================================= */
/* without -u, and refusals                                                   */
/* ========================================================================= */

static void start_root(void)
{
	start_as_root(NULL, NULL);
}

TestSuite(not_dropped, .init = start_root, .fini = finish, .timeout = 60);

Test(not_dropped, without_u_the_daemon_stays_root_with_only_the_file_capabilities)
{
	cr_expect_str_eq(DAEMON("Uid"), FOUR(0));
	cr_expect_str_eq(DAEMON("CapPrm"), HEX(FS_CAPS | SWITCH_CAPS));
	cr_expect_str_eq(DAEMON("CapBnd"), HEX(FS_CAPS | SWITCH_CAPS));
	cr_expect_str_eq(DAEMON("CapInh"), HEX(0));
	cr_expect_str_eq(DAEMON("CapAmb"), HEX(0));
	cr_expect_str_eq(DAEMON("NoNewPrivs"), "1");
}

TestSuite(refused, .init = need_root_and_nobody, .timeout = 60);

/* Copies the file src to dst with mode 0755. */
static void copy_executable(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(in, 0, "%s: %s", src, strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	cr_assert_geq(out, 0, "%s: %s", dst, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n, "%s: %s", dst, strerror(errno));
	cr_assert_eq(n, 0, "%s: %s", src, strerror(errno));
	close(in);
	cr_assert_eq(fchmod(out, 0755), 0);
	cr_assert_eq(close(out), 0);
}

/* Runs ninepd with args to completion (as uid run_uid unless 0); returns
 * its exit status and its stderr in log (caller frees).  Another user runs
 * a copy in a directory of its own under /tmp: the build directory may lie
 * where only root can enter (a checkout in /root or below mktemp -d). */
static int run_ninepd(uid_t run_uid, const char *const args[], char **log)
{
	const char *bin = getenv("NINEPD");
	cr_assert(bin, "NINEPD is not set");
	char bin_dir[64] = "", copy[96];
	if (run_uid) {
		cr_assert_eq(np_tmpdir(bin_dir, sizeof bin_dir, "ninepd-privs-bin"), 0);
		cr_assert_eq(chmod(bin_dir, 0755), 0);
		snprintf(copy, sizeof copy, "%s/ninepd", bin_dir);
		copy_executable(bin, copy);
		bin = copy;
	}
	const char *argv[16] = {"ninepd"};
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(i, 14);
		argv[i + 1] = args[i];
	}
	char path[] = "/tmp/ninepd-privs-log-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fd, 2);
		dup2(fd, 1);
		if (run_uid && (setgroups(0, NULL) || setresgid(run_uid, run_uid, run_uid) ||
				setresuid(run_uid, run_uid, run_uid))) {
			dprintf(2, "test: becoming uid %u: %s\n", (unsigned)run_uid, strerror(errno));
			_exit(99);
		}
		execv(bin, (char *const *)argv);
		dprintf(2, "test: exec %s as uid %u: %s\n", bin, (unsigned)run_uid, strerror(errno));
		_exit(98);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	if (bin_dir[0])
		np_rmtree(bin_dir);
	off_t len = lseek(fd, 0, SEEK_END);
	*log = calloc(1, (size_t)len + 1);
	cr_assert_eq(pread(fd, *log, (size_t)len, 0), len);
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(refused, unknown_user_stops_the_daemon_before_it_listens)
{
	char dir[64], addr[128];
	cr_assert_eq(np_tmpdir(dir, sizeof dir, "ninepd-privs"), 0);
	snprintf(addr, sizeof addr, "unix:%s/s", dir);
	char *log;
	int status = run_ninepd(0, (const char *const[]){"-l", addr, "-e", dir, "-u",
							 "no-such-user-ninepd", NULL},
				&log);
	cr_expect_eq(status, 1, "log:\n%s", log);
	cr_expect(strstr(log, "command line: -u: no user 'no-such-user-ninepd'"), "log:\n%s", log);
	struct stat st;
	cr_expect_eq(lstat(addr + 5, &st), -1, "the socket was created");
	free(log);
	np_rmtree(dir);
}

Test(refused, u_without_root_exits_1_and_says_why)
{
	char dir[64], addr[128];
	cr_assert_eq(np_tmpdir(dir, sizeof dir, "ninepd-privs"), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	snprintf(addr, sizeof addr, "unix:%s/s", dir);
	char *log;
	int status = run_ninepd(UID, (const char *const[]){"-l", addr, "-e", dir, "-u", "nobody",
							   NULL},
				&log);
	cr_expect_eq(status, 1, "log:\n%s", log);
	cr_expect(strstr(log, "needs ninepd to start as root"), "log:\n%s", log);
	free(log);
	np_rmtree(dir);
}
