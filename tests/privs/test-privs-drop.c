/* privs_drop() (server/privs.c) and creds.c's per-request credentials
 * after it, without the daemon.
 *
 * A drop cannot be undone and needs a process with one thread, which a
 * Criterion worker is not: each test forks a child that drops and checks,
 * and reports what it found on a pipe.
 *
 * What the kernel is trusted to do, and checked here: a thread whose fsuid
 * becomes 0 gets the permitted file-system capabilities into its effective
 * set, and loses them when the fsuid leaves 0 (cap_task_fix_setuid).
 *
 * Needs root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "server/backend.h"
#include "server/creds.h"
#include "server/log.h"
#include "server/privs.h"

#include "privs-test.h"

static char dir[128]; /* a 0755 directory owned by root */

static void setup(void)
{
	need_root_and_nobody();
	log_set_level(LOG_LEVEL_WARN); /* not privs_drop()'s "running as" line */
	snprintf(dir, sizeof dir, "/tmp/ninepd-privs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0755), 0);
}

static void teardown(void)
{
	if (!dir[0])
		return;
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(privs_drop, .init = setup, .fini = teardown, .timeout = 30);

/* ---- the child and its report ------------------------------------------- */

static FILE *report; /* the child's end of the pipe */

/* In the child: note a failed check and return 1 from the calling check. */
#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(report, "%s:%d: ", __FILE__, __LINE__);          \
			fprintf(report, __VA_ARGS__);                            \
			fputc('\n', report);                                     \
			return 1;                                                \
		}                                                                \
	} while (0)

/* Runs fn in a forked, single-threaded child and asserts that it returned
 * 0; the child's report is the failure message. */
static void in_child(int (*fn)(void))
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(p[0]);
		report = fdopen(p[1], "w");
		int rc = report ? fn() : 2;
		if (report)
			fflush(report);
		_exit(rc);
	}
	close(p[1]);
	char text[4096] = "";
	size_t len = 0;
	ssize_t n;
	while (len < sizeof text - 1 && (n = read(p[0], text + len, sizeof text - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	close(p[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died (status %#x); it reported:\n%s", status,
		  text);
	cr_expect_eq(WEXITSTATUS(status), 0, "%s", text);
}

#define SELF(key) status_of("/proc/self/status", (key), (char[256]){0}, 256)
/* This thread's line (a thread's credentials are its own). */
#define THREAD(key) status_of("/proc/thread-self/status", (key), (char[256]){0}, 256)

/* dir/name as root, mode, owned by uid:gid, holding "text". */
static void host_file(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, "text", 4), 4);
	cr_assert_eq(fchown(fd, uid, gid), 0);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* O_PATH fd of dir/name, as the daemon holds one for a fid. */
static int path_fd(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

static int drop_to_nobody(void)
{
	char err[256] = "";
	int rc = privs_drop("nobody", false, err, sizeof err);
	CHECK(rc == 0, "privs_drop(\"nobody\") = %d: %s", rc, err);
	creds_init(); /* as main() does after the drop */
	return 0;
}

/* ---- what the drop leaves --------------------------------------------- */

static int child_without_user(void)
{
	char before[256];
	snprintf(before, sizeof before, "%s", SELF("CapEff"));
	char err[256] = "";
	CHECK(privs_drop(NULL, false, err, sizeof err) == 0, "privs_drop(NULL): %s", err);
	CHECK(!strcmp(SELF("Uid"), FOUR(0)), "Uid: %s", SELF("Uid"));
	CHECK(!strcmp(SELF("CapEff"), before), "CapEff %s, was %s", SELF("CapEff"), before);
	CHECK(!strcmp(SELF("NoNewPrivs"), "0"), "NoNewPrivs: %s", SELF("NoNewPrivs"));
	return 0;
}

Test(privs_drop, without_a_user_nothing_changes)
{
	in_child(child_without_user);
}

static int child_ids_and_sets(void)
{
	if (drop_to_nobody())
		return 1;
	CHECK(!strcmp(SELF("Uid"), FOUR(nobody_uid)), "Uid: %s", SELF("Uid"));
	CHECK(!strcmp(SELF("Gid"), FOUR(nobody_gid)), "Gid: %s", SELF("Gid"));
	CHECK(!strcmp(SELF("Groups"), ""), "Groups: %s", SELF("Groups"));
	CHECK(!strcmp(SELF("CapPrm"), HEX(FS_CAPS | SWITCH_CAPS)), "CapPrm %s, want %s",
	      SELF("CapPrm"), HEX(FS_CAPS | SWITCH_CAPS));
	CHECK(!strcmp(SELF("CapEff"), HEX(SWITCH_CAPS)), "CapEff %s, want %s", SELF("CapEff"),
	      HEX(SWITCH_CAPS));
	CHECK(!strcmp(SELF("CapInh"), HEX(0)), "CapInh: %s", SELF("CapInh"));
	CHECK(!strcmp(SELF("CapBnd"), HEX(0)), "CapBnd: %s", SELF("CapBnd"));
	CHECK(!strcmp(SELF("CapAmb"), HEX(0)), "CapAmb: %s", SELF("CapAmb"));
	CHECK(!strcmp(SELF("NoNewPrivs"), "1"), "NoNewPrivs: %s", SELF("NoNewPrivs"));
	return 0;
}

Test(privs_drop, to_nobody_sets_every_id_no_groups_and_only_the_kept_capabilities)
{
	in_child(child_ids_and_sets);
}

static uid_t unnamed;

static int child_numeric_uid(void)
{
	char text[16], err[256] = "";
	snprintf(text, sizeof text, "%u", (unsigned)unnamed);
	CHECK(privs_drop(text, false, err, sizeof err) == 0, "privs_drop(\"%s\"): %s", text, err);
	CHECK(!strcmp(SELF("Uid"), FOUR(unnamed)), "Uid: %s", SELF("Uid"));
	CHECK(!strcmp(SELF("Gid"), FOUR(unnamed)), "Gid: %s", SELF("Gid"));
	return 0;
}

Test(privs_drop, to_a_uid_without_passwd_entry_takes_the_same_number_as_gid)
{
	for (unnamed = 4242; getpwuid(unnamed); unnamed++)
		;
	in_child(child_numeric_uid);
}

/* ---- per-request credentials after the drop ----------------------------- */

/* The credentials export_identity() gives a passthrough client as uid 0 and as
 * uid 1000, and a squashed export's. */
static const struct cred root_user = {.uid = 0, .gid = 0, .caps = CRED_CAPS_ROOT};
static const struct cred user_1000 = {.uid = 1000, .gid = 1000, .caps = CRED_CAPS_CLIENT};
static const struct cred squashed_1000 = {.uid = 1000, .gid = 1000, .caps = CRED_CAPS_NONE};
#define CLIENT_CAPS (BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH))

/* Tlopen's path: reopen an O_PATH fd through /proc/self/fd as c (NULL:
 * the daemon itself). */
static int open_as(const struct cred *c, int pathfd)
{
	int rc = c ? creds_enter(c) : creds_enter_daemon();
	if (rc)
		return rc;
	int fd = be_reopen(pathfd, S_IFREG | 0600, S_IFREG | 0600, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? fd : 0;
}

/* What a worker thread started after the drop sees. */
static int requests(void)
{
	int secret = path_fd("secret"), mine = path_fd("mine");
	CHECK(secret >= 0 && mine >= 0, "O_PATH open: %s", strerror(errno));
	int rc = open_as(&root_user, secret);
	CHECK(rc == 0, "uid 0 cannot read a root-only file: %s", strerror(-rc));
	CHECK(!strcmp(THREAD("CapEff"), HEX(FS_CAPS | SWITCH_CAPS)),
	      "as uid 0 CapEff is %s, want %s", THREAD("CapEff"), HEX(FS_CAPS | SWITCH_CAPS));
	/* A client's access was decided by its guest: dac_override only. */
	rc = open_as(&user_1000, secret);
	CHECK(rc == 0, "uid 1000 (client) opening a root-only 0600 file: %d, want 0", rc);
	CHECK(!strcmp(THREAD("CapEff"), HEX(CLIENT_CAPS | SWITCH_CAPS)),
	      "as uid 1000 CapEff is %s, want %s", THREAD("CapEff"),
	      HEX(CLIENT_CAPS | SWITCH_CAPS));
	/* A squashed export's user is checked by the host as any process. */
	rc = open_as(&squashed_1000, secret);
	CHECK(rc == -EACCES, "squashed uid 1000 opening a root-only 0600 file: %d, want -EACCES",
	      rc);
	CHECK(!strcmp(THREAD("CapEff"), HEX(SWITCH_CAPS)), "squashed CapEff is %s, want %s",
	      THREAD("CapEff"), HEX(SWITCH_CAPS));
	rc = open_as(&squashed_1000, mine);
	CHECK(rc == 0, "squashed uid 1000 cannot read its own 0600 file: %s", strerror(-rc));
	rc = open_as(&root_user, secret);
	CHECK(rc == 0, "uid 0 again, after uid 1000: %s", strerror(-rc));
	rc = open_as(NULL, secret);
	CHECK(rc == -EACCES, "the daemon's own identity (nobody) opening a root-only file: %d",
	      rc);
	CHECK(!strcmp(THREAD("CapEff"), HEX(SWITCH_CAPS)), "as the daemon CapEff is %s",
	      THREAD("CapEff"));
	close(secret);
	close(mine);
	return 0;
}

static void *requests_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)requests();
}

static int child_requests(void)
{
	if (drop_to_nobody())
		return 1;
	pthread_t t;
	void *failed;
	CHECK(pthread_create(&t, NULL, requests_thread, NULL) == 0, "pthread_create");
	CHECK(pthread_join(t, &failed) == 0, "pthread_join");
	return failed ? 1 : 0;
}

Test(privs_drop, requests_as_uid_0_get_root_file_access_clients_dac_only_squashed_none)
{
	host_file("secret", 0600, 0, 0);
	host_file("mine", 0600, 1000, 1000);
	in_child(child_requests);
}

static int child_chown_mknod(void)
{
	if (drop_to_nobody())
		return 1;
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0, "open %s: %s", dir, strerror(errno));
	CHECK(creds_enter(&user_1000) == 0, "creds_enter(1000)");
	CHECK(fchownat(dfd, "secret", 1000, 1000, AT_SYMLINK_NOFOLLOW) == -1 && errno == EPERM,
	      "uid 1000 gave itself a root file: %s", strerror(errno));
	/* pub is 01777: only the missing capability can refuse. */
	CHECK(mknodat(dfd, "pub/null", S_IFCHR | 0666, makedev(1, 3)) == -1 && errno == EPERM,
	      "uid 1000 making a device node: %s, want EPERM", strerror(errno));
	CHECK(creds_enter(&root_user) == 0, "creds_enter(0)");
	CHECK(fchownat(dfd, "secret", 1234, 1234, AT_SYMLINK_NOFOLLOW) == 0,
	      "uid 0 chown (CAP_CHOWN): %s", strerror(errno));
	CHECK(mknodat(dfd, "null", S_IFCHR | 0666, makedev(1, 3)) == 0,
	      "uid 0 mknod (CAP_MKNOD): %s", strerror(errno));
	close(dfd);
	return 0;
}

Test(privs_drop, uid_0_keeps_chown_and_mknod_and_uid_1000_does_not_get_them)
{
	host_file("secret", 0600, 0, 0);
	char pub[256];
	snprintf(pub, sizeof pub, "%s/pub", dir);
	cr_assert_eq(mkdir(pub, 0700), 0);
	cr_assert_eq(chmod(pub, 01777), 0);
	in_child(child_chown_mknod);
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/secret", dir);
	cr_assert_eq(lstat(path, &st), 0);
	cr_expect_eq(st.st_uid, 1234);
	snprintf(path, sizeof path, "%s/null", dir);
	cr_assert_eq(lstat(path, &st), 0);
	cr_expect(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
}

static int child_privileged_xattrs(void)
{
	if (drop_to_nobody())
		return 1;
	int fd = path_fd("secret");
	CHECK(fd >= 0, "O_PATH open: %s", strerror(errno));
	char proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	CHECK(creds_enter(&root_user) == 0, "creds_enter(0)");
	CHECK(setxattr(proc, "trusted.ninepd", "1", 1, 0) == -1 && errno == EPERM,
	      "uid 0 set a trusted.* xattr (CAP_SYS_ADMIN should be gone): %s", strerror(errno));
	/* A valid VFS_CAP_REVISION_2 value granting cap_setuid. */
	uint32_t caps[5] = {0x02000001, 1u << CAP_SETUID, 0, 0, 0};
	CHECK(setxattr(proc, "security.capability", caps, sizeof caps, 0) == -1 && errno == EPERM,
	      "uid 0 planted a file capability (CAP_SETFCAP should be gone): %s",
	      strerror(errno));
	CHECK(setxattr(proc, "user.ninepd", "1", 1, 0) == 0, "uid 0 user.* xattr: %s",
	      strerror(errno));
	close(fd);
	return 0;
}

Test(privs_drop, trusted_and_file_capability_xattrs_are_refused_even_to_uid_0)
{
	host_file("secret", 0600, 0, 0);
	in_child(child_privileged_xattrs);
}

static int child_proc_fd(void)
{
	int fd = path_fd("secret");
	CHECK(fd >= 0, "O_PATH open: %s", strerror(errno));
	if (drop_to_nobody())
		return 1;
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0,
	      "expected the kernel to leave the process non-dumpable after setresuid");
	/* The most restricted identity a request can have. */
	CHECK(creds_enter(&squashed_1000) == 0, "creds_enter(1000)");
	char proc[32], target[256], want[256];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, target, sizeof target - 1);
	CHECK(n > 0, "readlink %s as a non-dumpable process with fsuid 1000: %s", proc,
	      strerror(errno));
	target[n] = '\0';
	snprintf(want, sizeof want, "%s/secret", dir);
	CHECK(!strcmp(target, want), "%s -> %s, want %s", proc, target, want);
	struct stat st;
	CHECK(stat(proc, &st) == 0 && st.st_uid == 0, "stat through %s: %s", proc,
	      strerror(errno));
	return 0;
}

Test(privs_drop, proc_self_fd_links_work_though_the_process_is_not_dumpable)
{
	host_file("secret", 0600, 0, 0);
	in_child(child_proc_fd);
}

/* ---- refusals: each before anything changed ----------------------------- */

/* privs_drop(user) must fail with want and a message containing what. */
static int expect_refusal(const char *user, int want, const char *what)
{
	char err[256] = "";
	int rc = privs_drop(user, false, err, sizeof err);
	CHECK(rc == want, "privs_drop(\"%s\") = %d (%s), want %d", user, rc, err, want);
	CHECK(strstr(err, what), "message '%s' does not mention '%s'", err, what);
	return 0;
}

static int child_not_root(void)
{
	CHECK(setresgid(1000, 1000, 1000) == 0 && setresuid(1000, 1000, 1000) == 0,
	      "becoming uid 1000: %s", strerror(errno));
	return expect_refusal("nobody", -EPERM, "needs ninepd to start as root");
}

Test(privs_drop, refuses_unless_started_as_root)
{
	in_child(child_not_root);
}

static int unknown_and_root(void)
{
	if (expect_refusal("no-such-user-ninepd", -ENOENT, "no user 'no-such-user-ninepd'") ||
	    expect_refusal("root", -EINVAL, "uid 0") || expect_refusal("0", -EINVAL, "uid 0"))
		return 1;
	CHECK(!strcmp(SELF("Uid"), FOUR(0)), "Uid: %s", SELF("Uid"));
	return 0;
}

Test(privs_drop, refuses_an_unknown_user_and_root)
{
	in_child(unknown_and_root);
}

static int pipefd[2];

static void *blocked(void *arg)
{
	(void)arg;
	char c;
	ssize_t n = read(pipefd[0], &c, 1);
	(void)n;
	return NULL;
}

static int child_second_thread(void)
{
	CHECK(pipe(pipefd) == 0, "pipe");
	pthread_t t;
	CHECK(pthread_create(&t, NULL, blocked, NULL) == 0, "pthread_create");
	int bad = expect_refusal("nobody", -EBUSY, "2 threads");
	CHECK(write(pipefd[1], "x", 1) == 1, "write");
	pthread_join(t, NULL);
	if (bad)
		return 1;
	CHECK(!strcmp(SELF("Uid"), FOUR(0)), "Uid: %s", SELF("Uid"));
	return 0;
}

Test(privs_drop, refuses_once_a_second_thread_exists)
{
	in_child(child_second_thread);
}

static int child_withheld_mknod(void)
{
	/* What a unit's CapabilityBoundingSet= without CAP_MKNOD leaves. */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	CHECK(syscall(SYS_capget, &h, d) == 0, "capget: %s", strerror(errno));
	CHECK(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0) == 0, "PR_CAPBSET_DROP: %s",
	      strerror(errno));
	d[0].permitted &= ~(1u << CAP_MKNOD);
	d[0].effective &= ~(1u << CAP_MKNOD);
	CHECK(syscall(SYS_capset, &h, d) == 0, "capset: %s", strerror(errno));
	if (expect_refusal("nobody", -EPERM, "capability mknod is not permitted"))
		return 1;
	CHECK(!strcmp(SELF("Uid"), FOUR(0)), "Uid: %s", SELF("Uid"));
	return 0;
}

Test(privs_drop, refuses_when_a_kept_capability_was_withheld_naming_it)
{
	in_child(child_withheld_mknod);
}

/* ---- cap_sys_admin for an xattrmap into trusted.* ---------------------- */

/* An xattrmap into trusted.*: cap_sys_admin permitted, never effective,
 * and creds raise it for one call only. */
static int child_trusted_xattrs(void)
{
	char err[256] = "";
	CHECK(privs_drop("nobody", true, err, sizeof err) == 0, "privs_drop: %s", err);
	creds_init();
	uint64_t sys_admin = 1ull << CAP_SYS_ADMIN;
	CHECK(!strcmp(SELF("CapPrm"), HEX(FS_CAPS | SWITCH_CAPS | sys_admin)), "CapPrm %s",
	      SELF("CapPrm"));
	CHECK(!strcmp(SELF("CapEff"), HEX(SWITCH_CAPS)), "CapEff %s", SELF("CapEff"));
	struct cred user = {.uid = 1000, .gid = 1000, .caps = CRED_CAPS_CLIENT};
	CHECK(creds_enter(&user) == 0, "creds_enter");
	CHECK(creds_raise_sys_admin() == 0, "raising cap_sys_admin");
	CHECK(!strcmp(SELF("CapEff"), HEX(CLIENT_CAPS | SWITCH_CAPS | sys_admin)), "raised: %s",
	      SELF("CapEff"));
	creds_lower_sys_admin();
	CHECK(!strcmp(SELF("CapEff"), HEX(CLIENT_CAPS | SWITCH_CAPS)), "lowered: %s",
	      SELF("CapEff"));
	return 0;
}

Test(privs_drop, trusted_xattrs_keep_sys_admin_permitted_and_raised_only_per_call)
{
	in_child(child_trusted_xattrs);
}

static int child_no_trusted_xattrs(void)
{
	if (drop_to_nobody())
		return 1;
	struct cred user = {.uid = 1000, .gid = 1000, .caps = CRED_CAPS_CLIENT};
	CHECK(creds_enter(&user) == 0, "creds_enter");
	CHECK(creds_raise_sys_admin() == -EPERM, "cap_sys_admin raised without being kept");
	return 0;
}

Test(privs_drop, without_trusted_xattrs_sys_admin_cannot_be_raised)
{
	in_child(child_no_trusted_xattrs);
}
