/* Integration: the identity model of issue 14, one test per finding, each
 * checked through 9P and on the host.
 *
 * Passthrough with the daemon started as root and no -u: a request as uid
 * 0 runs with fsuid 0 and the file-system capabilities (never
 * CAP_SYS_ADMIN); a request as any other uid runs as that uid with no
 * supplementary groups and only CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
 * since the guest kernel has already checked access with credentials 9P
 * cannot carry, while ownership rules stay the host kernel's.  Every
 * request runs as its own client, whatever the worker ran before.  The
 * daemon keeps only the capabilities that takes.  Under mapped-xattr the
 * guest's POSIX ACLs live in user.virtfs.system.posix_acl_* as QEMU keeps
 * them, and a write by a non-root client clears the recorded set-id bits.
 *
 * Needs root: the daemon switches fsuid, the tests chown files to other
 * users, read trusted.* xattrs and set POSIX ACLs on the host. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "np_users.h"

#define UID 1000
#define GID 1000
#define OTHER_GID 2000 /* a group the host does not list for UID */
#define ROUNDS 24

static struct stat host_stat(const char *rel)
{
	struct stat st;
	cr_assert_eq(lstat(HOST(rel), &st), 0, "host lstat %s: %s", rel, strerror(errno));
	return st;
}

/* A host file with content, mode and owner set explicitly. */
static void host_file(const char *rel, const char *data, mode_t mode, uid_t uid, gid_t gid)
{
	cr_assert_eq(np_fixture_write(&fx, rel, data, strlen(data)), 0, "host write %s", rel);
	cr_assert_eq(chown(HOST(rel), uid, gid), 0);
	cr_assert_eq(chmod(HOST(rel), mode), 0); /* after chown, which clears set-id bits */
}

static void host_dir(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	cr_assert_eq(np_fixture_mkdir(&fx, rel, 0700), 0, "host mkdir %s", rel);
	cr_assert_eq(chown(HOST(rel), uid, gid), 0);
	cr_assert_eq(chmod(HOST(rel), mode), 0);
}

/* The passthrough tests' home: "home", a 0755 directory of UID. */
static void make_home(void)
{
	host_dir("home", 0755, UID, GID);
}

static int setattr(struct np_client *c, const char *path, const struct np_setattr *sa)
{
	uint32_t f = walk(c, path);
	int err = np_setattr(c, f, sa);
	np_clunk(c, f);
	return err;
}

/* True when the host lists `gid` among the groups of uid (primary included). */
static bool host_lists_group(uid_t uid, gid_t gid)
{
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return true; /* too many to tell: assume the worst */
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* ========================================================================= */
/* Fids of two exports                                                        */
/* ========================================================================= */

static char two_dirs[3][128];
static struct np_daemon two;

/* Two writable exports in /tmp (one host file system) and a run directory. */
static void start_two_exports(char *addr, size_t cap)
{
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(np_tmpdir(two_dirs[i], sizeof(two_dirs[i]), "ninepd-identity"), 0);
		cr_assert_eq(chmod(two_dirs[i], 0755), 0);
	}
	char spec[2][200];
	snprintf(addr, cap, "unix:%s/s", two_dirs[2]);
	snprintf(spec[0], sizeof(spec[0]), "%s,name=a", two_dirs[0]);
	snprintf(spec[1], sizeof(spec[1]), "%s,name=b", two_dirs[1]);
	const char *argv[] = {"-l", addr, "-e", spec[0], "-e", spec[1], NULL};
	int err = np_daemon_start(&two, argv);
	cr_assert_eq(err, 0, "starting ninepd: %s", strerror(-err));
}

static void stop_two_exports(void)
{
	if (two.pid > 0) {
		bool alive = np_daemon_alive(&two);
		np_daemon_stop(&two);
		char *log = np_daemon_log(&two);
		cr_expect(alive, "ninepd died; log:\n%s", log);
		cr_expect(np_log_clean(log), "sanitizer report:\n%s", log);
		free(log);
	}
	np_daemon_cleanup(&two);
	for (int i = 0; i < 3; i++)
		if (two_dirs[i][0])
			np_rmtree(two_dirs[i]);
}

TestSuite(exports, .fini = stop_two_exports, .timeout = 60);

Test(exports, link_with_fids_of_two_exports_is_exdev)
{
	char addr[200];
	start_two_exports(addr, sizeof(addr));
	for (int i = 0; i < 2; i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/f", two_dirs[i]);
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fclose(f);
	}
	struct np_client *c;
	cr_assert_eq(np_session(&c, addr, NP_CLIENT_MSIZE, "a", 0, 1), 0);
	cr_assert_eq(np_attach(c, 2, NP_NOFID, "root", "b", 0, NULL), 0);
	uint32_t fa = np_fid_new(c), fb = np_fid_new(c);
	cr_assert_eq(np_walk_path(c, 1, fa, "f", NULL), 0);
	cr_assert_eq(np_walk_path(c, 2, fb, "f", NULL), 0);

	cr_expect_eq(np_link(c, 2, fa, "hl"), -EXDEV, "Tlink of a file of a into b");
	cr_expect_eq(np_link(c, 1, fb, "hl"), -EXDEV, "Tlink of a file of b into a");
	np_client_close(c);
	for (int i = 0; i < 2; i++) {
		char p[512];
		struct stat st;
		snprintf(p, sizeof(p), "%s/hl", two_dirs[i]);
		cr_expect_neq(lstat(p, &st), 0, "%s was made on the host", p);
		snprintf(p, sizeof(p), "%s/f", two_dirs[i]);
		cr_assert_eq(lstat(p, &st), 0);
		cr_expect_eq(st.st_nlink, 1, "%s has %lu links", p, (unsigned long)st.st_nlink);
	}
}

/* ========================================================================= */
/* Passthrough: a request runs as its own client                              */
/* ========================================================================= */

TestSuite(passthrough, .fini = finish, .timeout = 60);

/* One worker thread, so that every write of uid 1000 runs on the thread
 * that has just served root: a write that ran with the previous request's
 * credentials would keep the bits (root has CAP_FSETID). */
Test(passthrough, write_by_uid_1000_clears_setuid_even_after_root_requests)
{
	const char *const extra[] = {"--threads", "1", NULL};
	start(NULL, extra);
	make_home();
	/* Its own file, and root's file that everyone may write. */
	const struct {
		const char *rel;
		mode_t mode;
		uid_t uid;
	} files[] = {{"home/mine", 06755, UID}, {"roots", 06777, 0}};
	struct np_client *root = attach(0), *user = attach(UID);
	uint32_t fids[2];
	for (size_t i = 0; i < 2; i++) {
		host_file(files[i].rel, "0123456789", files[i].mode, files[i].uid, files[i].uid);
		int err = np_open(user, 1, files[i].rel, NP_DOTL_WRONLY, &fids[i]);
		cr_assert_eq(err, 0, "uid 1000 opening %s: %s", files[i].rel, strerror(-err));
	}
	unsigned kept[2] = {0, 0}, wrong[2] = {0, 0};
	mode_t first[2] = {0, 0};
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < 2; i++) {
			/* Root sets the bits again: a request as uid 0 on the worker. */
			struct np_setattr sa = {.valid = NP_SETATTR_MODE, .mode = files[i].mode};
			cr_assert_eq(setattr(root, files[i].rel, &sa), 0);
			mode_t m = host_stat(files[i].rel).st_mode & 07777;
			cr_assert_eq(m, files[i].mode, "round %d: root's chmod left %s %o", round,
				     files[i].rel, m);

			cr_assert_eq(np_write(user, fids[i], (uint64_t)round % 8, "x", 1, NULL), 0);
			m = host_stat(files[i].rel).st_mode & 07777;
			if (m != (files[i].mode & 0777) && wrong[i]++ == 0)
				first[i] = m;
			kept[i] += (m & 06000) != 0;
		}
	}
	for (size_t i = 0; i < 2; i++)
		cr_expect_eq(wrong[i], 0,
			     "%s: %u of %d writes by uid 1000 left a mode other than %o (%u kept "
			     "set-id bits; the first left %o)",
			     files[i].rel, wrong[i], ROUNDS, files[i].mode & 0777, kept[i],
			     first[i]);
}

Test(passthrough, write_by_root_keeps_setuid)
{
	start(NULL, NULL);
	host_file("suid", "data", 06755, UID, GID);
	struct np_client *root = attach(0);
	uint32_t f;
	cr_assert_eq(np_open(root, 1, "suid", NP_DOTL_WRONLY, &f), 0);
	cr_assert_eq(np_write(root, f, 0, "x", 1, NULL), 0);
	cr_expect_eq(host_stat("suid").st_mode & 07777, 06755u, "CAP_FSETID keeps them");
}

/* ========================================================================= */
/* Passthrough: what uid 1000 may do that the guest kernel allowed            */
/* ========================================================================= */

Test(passthrough, lopen_rdonly_of_a_dir_with_r_but_not_x_succeeds)
{
	start(NULL, NULL);
	make_home();
	host_dir("home/dir", 0600, UID, GID);
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "home/dir");
	int err = np_lopen(user, d, NP_DOTL_RDONLY, NULL, NULL);
	cr_expect_eq(err, 0, "Tlopen O_RDONLY of its 0600 directory: %s", strerror(-err));
	if (err == 0) {
		uint8_t buf[512];
		uint32_t got = 0;
		cr_expect_eq(np_readdir(user, d, 0, sizeof(buf), buf, &got), 0);
		cr_expect_gt(got, 0, "Treaddir listed nothing (not even \".\")");
	}
}

Test(passthrough, setattr_size_on_fid_opened_after_create_with_mode_0_truncates)
{
	start(NULL, NULL);
	make_home();
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "home");
	int err = np_lcreate(user, f, "file", NP_DOTL_RDWR, 0, GID, NULL, NULL);
	cr_assert_eq(err, 0, "Tlcreate mode 0: %s", strerror(-err));
	cr_expect_eq(np_write(user, f, 0, "abc", 3, NULL), 0, "the open fid writes");
	struct np_setattr sa = {.valid = NP_SETATTR_SIZE, .size = 100};
	err = np_setattr(user, f, &sa);
	cr_expect_eq(err, 0, "Tsetattr size=100 on the open fid: %s", strerror(-err));
	struct stat st = host_stat("home/file");
	cr_expect_eq(st.st_size, err == 0 ? 100 : 3, "host size %lld", (long long)st.st_size);
	cr_expect_eq(st.st_mode, S_IFREG | 0, "host mode %o", st.st_mode);
	cr_expect_eq(st.st_uid, UID);
}

Test(passthrough, chown_to_a_group_the_host_does_not_list_for_the_user_succeeds)
{
	start(NULL, NULL);
	cr_assert(!host_lists_group(UID, OTHER_GID), "the host lists gid %d for uid %d",
		  OTHER_GID, UID);
	make_home();
	host_file("home/mine", "data", 0644, UID, GID);
	struct np_client *user = attach(UID);
	struct np_setattr sa = {.valid = NP_SETATTR_GID, .gid = OTHER_GID};
	int err = setattr(user, "home/mine", &sa);
	cr_expect_eq(err, 0, "Tsetattr GID=%d of its own file: %s", OTHER_GID, strerror(-err));
	struct stat st = host_stat("home/mine");
	cr_expect_eq(st.st_gid, OTHER_GID, "host group %u", st.st_gid);
	cr_expect_eq(st.st_uid, UID, "host owner %u", st.st_uid);
}

Test(passthrough, open_through_a_guest_side_group_permission_succeeds)
{
	start(NULL, NULL);
	cr_assert(!host_lists_group(UID, OTHER_GID), "the host lists gid %d for uid %d",
		  OTHER_GID, UID);
	host_file("shared", "data", 0660, 0, OTHER_GID);
	struct np_client *user = attach(UID);
	uint32_t f;
	int err = np_open(user, 1, "shared", NP_DOTL_RDWR, &f);
	cr_assert_eq(err, 0, "Tlopen O_RDWR of root:%d 0660: %s", OTHER_GID, strerror(-err));
	char buf[8] = {0};
	uint32_t got = 0;
	cr_expect_eq(np_read(user, f, 0, 4, buf, &got), 0);
	cr_expect_str_eq(buf, "data");
	cr_expect_eq(np_write(user, f, 0, "DA", 2, NULL), 0);
	char host[8] = {0};
	cr_expect_eq(np_fixture_read(&fx, "shared", host, 4), 4);
	cr_expect_str_eq(host, "DAta");
}

Test(passthrough, files_created_by_uid_1000_belong_to_it_and_the_gid_it_asks)
{
	start(NULL, NULL);
	make_home();
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "home");
	cr_assert_eq(np_lcreate(user, f, "file", NP_DOTL_RDWR, 0640, OTHER_GID, NULL, NULL), 0);
	cr_assert_eq(np_mkdir(user, walk(user, "home"), "dir", 0750, OTHER_GID, NULL), 0);
	const char *names[] = {"home/file", "home/dir"};
	for (size_t i = 0; i < 2; i++) {
		struct stat st = host_stat(names[i]);
		cr_expect_eq(st.st_uid, UID, "%s: host owner %u", names[i], st.st_uid);
		cr_expect_eq(st.st_gid, OTHER_GID, "%s: host group %u", names[i], st.st_gid);
	}
}

/* ========================================================================= */
/* Passthrough: what stays refused                                            */
/* ========================================================================= */

Test(passthrough, chown_of_the_uid_by_uid_1000_stays_eperm)
{
	start(NULL, NULL);
	make_home();
	host_file("home/mine", "data", 0644, UID, GID);
	struct np_client *user = attach(UID);
	const uint32_t uids[] = {0, 2000};
	for (size_t i = 0; i < 2; i++) {
		struct np_setattr sa = {.valid = NP_SETATTR_UID, .uid = uids[i]};
		cr_expect_eq(setattr(user, "home/mine", &sa), -EPERM, "chown to uid %u", uids[i]);
	}
	struct stat st = host_stat("home/mine");
	cr_expect_eq(st.st_uid, UID);
	cr_expect_eq(st.st_gid, GID);
}

Test(passthrough, chown_chmod_and_explicit_times_of_a_root_file_by_uid_1000_stay_eperm)
{
	start(NULL, NULL);
	host_file("rootfile", "data", 0666, 0, 0);
	struct stat before = host_stat("rootfile");
	struct np_client *user = attach(UID);
	const struct {
		const char *what;
		struct np_setattr sa;
	} cases[] = {
		{"chmod", {.valid = NP_SETATTR_MODE, .mode = 0600}},
		{"chown of the group", {.valid = NP_SETATTR_GID, .gid = GID}},
		{"explicit mtime", {.valid = NP_SETATTR_MTIME | NP_SETATTR_MTIME_SET,
				    .mtime_sec = 1000000}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(setattr(user, "rootfile", &cases[i].sa), -EPERM, "%s", cases[i].what);
	struct stat after = host_stat("rootfile");
	cr_expect_eq(after.st_mode, before.st_mode);
	cr_expect_eq(after.st_gid, 0);
	cr_expect_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
}

Test(passthrough, mknod_of_a_device_by_uid_1000_stays_eperm)
{
	start(NULL, NULL);
	make_home();
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "home");
	cr_expect_eq(np_mknod(user, d, "null", S_IFCHR | 0666, 1, 3, GID, NULL), -EPERM);
	cr_expect_eq(np_mknod(user, d, "sda", S_IFBLK | 0666, 8, 0, GID, NULL), -EPERM);
	struct stat st;
	cr_expect_neq(lstat(HOST("home/null"), &st), 0);
	cr_expect_neq(lstat(HOST("home/sda"), &st), 0);
}

/* ========================================================================= */
/* No CAP_SYS_ADMIN: trusted.* and security.*                                 */
/* ========================================================================= */

Test(passthrough, no_client_can_set_trusted_or_security_xattrs)
{
	start(NULL, NULL);
	make_home();
	host_file("home/mine", "data", 0644, UID, GID);
	const uint32_t uids[] = {0, UID};
	const char *names[] = {"trusted.t", "security.t"};
	for (size_t u = 0; u < 2; u++) {
		struct np_client *c = attach(uids[u]);
		uint32_t f = walk(c, "home/mine");
		for (size_t n = 0; n < 2; n++)
			cr_expect_eq(np_xattr_set(c, f, names[n], "v", 1, 0), -EPERM,
				     "uid %u set %s", uids[u], names[n]);
	}
	for (size_t n = 0; n < 2; n++) {
		char v[8];
		cr_expect_eq(lgetxattr(HOST("home/mine"), names[n], v, sizeof(v)), -1,
			     "%s was set on the host", names[n]);
	}
}

static bool list_has(const char *list, int len, const char *name)
{
	for (int pos = 0; pos < len; pos += (int)strlen(list + pos) + 1)
		if (!strcmp(list + pos, name))
			return true;
	return false;
}

static bool list_has_prefix(const char *list, int len, const char *prefix)
{
	for (int pos = 0; pos < len; pos += (int)strlen(list + pos) + 1)
		if (!strncmp(list + pos, prefix, strlen(prefix)))
			return true;
	return false;
}

Test(passthrough, no_client_can_read_or_list_trusted_xattrs)
{
	start(NULL, NULL);
	make_home();
	host_file("home/mine", "data", 0644, UID, GID);
	cr_assert_eq(lsetxattr(HOST("home/mine"), "trusted.t", "secret", 6, 0), 0);
	cr_assert_eq(lsetxattr(HOST("home/mine"), "user.u", "open", 4, 0), 0);
	const uint32_t uids[] = {0, UID};
	for (size_t u = 0; u < 2; u++) {
		struct np_client *c = attach(uids[u]);
		uint32_t f = walk(c, "home/mine");
		char buf[256];
		cr_expect_eq(np_xattr_get(c, f, "trusted.t", buf, sizeof(buf)), -ENODATA,
			     "uid %u read trusted.t", uids[u]);
		int n = np_xattr_get(c, f, "", buf, sizeof(buf));
		cr_assert_geq(n, 0, "uid %u listing: %s", uids[u], strerror(-n));
		cr_expect(list_has(buf, n, "user.u"), "uid %u: user.u not listed", uids[u]);
		cr_expect(!list_has_prefix(buf, n, "trusted."), "uid %u: trusted.t listed",
			  uids[u]);
	}
}

/* ========================================================================= */
/* The daemon's own capabilities                                              */
/* ========================================================================= */

/* The hex mask after "Cap<name>:" in /proc/PID/status. */
static unsigned long long proc_caps(pid_t pid, const char *name)
{
	char path[64], line[256], key[32];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	snprintf(key, sizeof(key), "Cap%s:", name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	unsigned long long v = ~0ULL;
	bool found = false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			found = sscanf(line + strlen(key), "%llx", &v) == 1;
	fclose(f);
	cr_assert(found, "no %s in %s", key, path);
	return v;
}

Test(passthrough, daemon_without_u_keeps_only_the_file_capabilities)
{
	start(NULL, NULL);
	/* CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, FOWNER 3, FSETID 4,
	 * SETGID 6, SETUID 7, MKNOD 27. */
	const unsigned long long want = 1ULL << 0 | 1ULL << 1 | 1ULL << 2 | 1ULL << 3 |
					1ULL << 4 | 1ULL << 6 | 1ULL << 7 | 1ULL << 27;
	/* A request first: the daemon has surely finished starting. */
	cr_assert_eq(np_statfs(fx.c, fx.root, NULL), 0);
	unsigned long long prm = proc_caps(fx.daemon.pid, "Prm");
	unsigned long long bnd = proc_caps(fx.daemon.pid, "Bnd");
	cr_expect_eq(prm, want, "CapPrm %016llx, want %016llx (extra %016llx)", prm, want,
		     prm & ~want);
	cr_expect_eq(bnd, want, "CapBnd %016llx, want %016llx (extra %016llx)", bnd, want,
		     bnd & ~want);
}

/* ========================================================================= */
/* Squash: the squash user, with no capability                                */
/* ========================================================================= */

Test(passthrough, squashed_root_cannot_read_a_root_only_file_and_creates_as_the_squash_user)
{
	start(",squash_uid=1234,squash_gid=1234", NULL);
	host_file("secret", "s", 0600, 0, 0);
	host_dir("sq", 0755, 1234, 1234);
	struct np_client *root = attach(0);
	uint32_t f;
	cr_expect_eq(np_open(root, 1, "secret", NP_DOTL_RDONLY, &f), -EACCES);
	uint32_t d = walk(root, "sq");
	cr_assert_eq(np_lcreate(root, d, "file", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	struct stat st = host_stat("sq/file");
	cr_expect_eq(st.st_uid, 1234);
	cr_expect_eq(st.st_gid, 1234);
}

/* ========================================================================= */
/* mapped-xattr                                                               */
/* ========================================================================= */

#define ACL_VERSION 2
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP 0x08
#define ACL_MASK 0x10
#define ACL_OTHER 0x20
#define ACL_UNDEFINED_ID 0xffffffffu

struct ace {
	uint16_t tag, perm;
	uint32_t id;
};

/* The xattr form of a POSIX ACL: a little-endian version, then tag, perm,
 * id per entry (entries in the kernel's order). */
static size_t acl_blob(uint8_t *buf, const struct ace *e, size_t n)
{
	size_t len = 0;
	for (int i = 0; i < 4; i++)
		buf[len++] = (uint8_t)(ACL_VERSION >> (8 * i));
	for (size_t k = 0; k < n; k++) {
		buf[len++] = (uint8_t)e[k].tag;
		buf[len++] = (uint8_t)(e[k].tag >> 8);
		buf[len++] = (uint8_t)e[k].perm;
		buf[len++] = (uint8_t)(e[k].perm >> 8);
		for (int i = 0; i < 4; i++)
			buf[len++] = (uint8_t)(e[k].id >> (8 * i));
	}
	return len;
}

/* user::rw- group::r-- other::r--: the kernel folds an ACL like this into
 * the file mode and stores no xattr at all. */
static size_t minimal_acl(uint8_t *buf)
{
	const struct ace e[] = {{ACL_USER_OBJ, 6, ACL_UNDEFINED_ID},
				{ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID},
				{ACL_OTHER, 4, ACL_UNDEFINED_ID}};
	return acl_blob(buf, e, 3);
}

/* user::rw- user:2000:r-- group::r-- mask::r-- other::r--: stored. */
static size_t extended_acl(uint8_t *buf)
{
	const struct ace e[] = {{ACL_USER_OBJ, 6, ACL_UNDEFINED_ID},
				{ACL_USER, 4, 2000},
				{ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID},
				{ACL_MASK, 4, ACL_UNDEFINED_ID},
				{ACL_OTHER, 4, ACL_UNDEFINED_ID}};
	return acl_blob(buf, e, 5);
}

static void put_virtfs(const char *rel, const char *key, uint32_t v)
{
	char name[64];
	uint8_t b[4];
	snprintf(name, sizeof(name), "user.virtfs.%s", key);
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	cr_assert_eq(lsetxattr(HOST(rel), name, b, 4, 0), 0, "%s on %s: %s", name, rel,
		     strerror(errno));
}

static uint32_t virtfs_mode(const char *rel)
{
	uint8_t b[4];
	cr_assert_eq(lgetxattr(HOST(rel), "user.virtfs.mode", b, 4), 4, "%s: user.virtfs.mode",
		     rel);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A host object as a QEMU guest's uid 1000 leaves it: private to the
 * daemon on the host, owner and guest mode in xattrs. */
static void qemu_file(const char *rel, uint32_t guest_mode)
{
	if (S_ISDIR(guest_mode))
		host_dir(rel, 0700, 0, 0);
	else
		host_file(rel, "0123456789", 0600, 0, 0);
	put_virtfs(rel, "uid", UID);
	put_virtfs(rel, "gid", GID);
	put_virtfs(rel, "mode", guest_mode);
}

/* The guest's acl_name of rel is stored exactly as user.virtfs.<acl_name>,
 * no real ACL exists and the host mode is still `host_mode`. */
static void expect_acl_mapped(const char *rel, const char *acl_name, const uint8_t *blob,
			      size_t len, mode_t host_mode)
{
	char host_name[64];
	uint8_t got[128];
	snprintf(host_name, sizeof(host_name), "user.virtfs.%s", acl_name);
	ssize_t n = lgetxattr(HOST(rel), host_name, got, sizeof(got));
	cr_expect_eq(n, (ssize_t)len, "%s: %s is %zd bytes (%s), want %zu", rel, host_name, n,
		     n < 0 ? strerror(errno) : "present", len);
	if (n == (ssize_t)len)
		cr_expect_eq(memcmp(got, blob, len), 0, "%s: %s differs from what the guest set",
			     rel, host_name);
	n = lgetxattr(HOST(rel), acl_name, got, sizeof(got));
	cr_expect_eq(n, -1, "%s: the host has a real %s (%zd bytes)", rel, acl_name, n);
	cr_expect_eq(errno, ENODATA);
	struct stat st = host_stat(rel);
	cr_expect_eq(st.st_mode & 07777, host_mode, "%s: host mode %o, want %o", rel,
		     st.st_mode & 07777, host_mode);
}

TestSuite(mapped, .fini = finish, .timeout = 60);

Test(mapped, mapped_acl_is_stored_as_user_virtfs_and_never_as_a_host_acl)
{
	start(",security_model=mapped-xattr", NULL);
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "");
	cr_assert_eq(np_lcreate(user, d, "file", NP_DOTL_RDWR, 0644, GID, NULL, NULL), 0);
	cr_assert_eq(np_mkdir(user, 1, "dir", 0755, GID, NULL), 0);
	uint32_t f = walk(user, "file"), dir = walk(user, "dir");

	uint8_t blob[128], back[128];
	const struct {
		const char *what;
		size_t (*make)(uint8_t *);
	} acls[] = {{"minimal", minimal_acl}, {"extended", extended_acl}};
	for (size_t i = 0; i < 2; i++) {
		size_t len = acls[i].make(blob);
		int err = np_xattr_set(user, f, "system.posix_acl_access", blob, len, 0);
		cr_expect_eq(err, 0, "setting a %s access ACL: %s", acls[i].what, strerror(-err));
		expect_acl_mapped("file", "system.posix_acl_access", blob, len, 0600);
		int n = np_xattr_get(user, f, "system.posix_acl_access", back, sizeof(back));
		cr_expect_eq(n, (int)len, "reading the %s ACL back: %d", acls[i].what, n);
		if (n == (int)len)
			cr_expect_eq(memcmp(back, blob, len), 0, "the %s ACL read back differs",
				     acls[i].what);
	}
	size_t len = extended_acl(blob);
	int err = np_xattr_set(user, dir, "system.posix_acl_default", blob, len, 0);
	cr_expect_eq(err, 0, "setting a default ACL: %s", strerror(-err));
	expect_acl_mapped("dir", "system.posix_acl_default", blob, len, 0700);
}

/* The two ACLs of a file system: a file's access ACL, a directory's default. */
static const struct {
	const char *rel, *name;
} acl_cases[] = {{"file", "system.posix_acl_access"}, {"dir", "system.posix_acl_default"}};

/* QEMU-style "file" and "dir", each with the extended ACL stored under
 * host_prefix + its guest name; the ACL's bytes go to blob, its length is
 * returned. */
static size_t qemu_files_with_acls(const char *host_prefix, uint8_t *blob)
{
	size_t len = extended_acl(blob);
	qemu_file("file", S_IFREG | 0644);
	qemu_file("dir", S_IFDIR | 0755);
	for (size_t i = 0; i < 2; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s%s", host_prefix, acl_cases[i].name);
		cr_assert_eq(lsetxattr(HOST(acl_cases[i].rel), name, blob, len, 0), 0,
			     "%s on %s: %s", name, acl_cases[i].rel, strerror(errno));
	}
	return len;
}

/* The guest's list of xattr names of fid f (NUL-separated); its length. */
static int guest_list(struct np_client *c, uint32_t f, const char *rel, char *list, size_t cap)
{
	int n = np_xattr_get(c, f, "", list, cap);
	cr_assert_geq(n, 0, "%s: listing: %s", rel, strerror(-n));
	return n;
}

Test(mapped, mapped_acl_written_by_qemu_is_seen_by_the_guest)
{
	start(",security_model=mapped-xattr", NULL);
	uint8_t blob[128], got[128];
	size_t len = qemu_files_with_acls("user.virtfs.", blob);
	struct np_client *user = attach(UID);
	for (size_t i = 0; i < 2; i++) {
		const char *rel = acl_cases[i].rel, *name = acl_cases[i].name;
		uint32_t f = walk(user, rel);
		int n = np_xattr_get(user, f, name, got, sizeof(got));
		cr_expect_eq(n, (int)len, "%s: Txattrwalk %s: %s", rel, name,
			     n < 0 ? strerror(-n) : "wrong size");
		if (n == (int)len)
			cr_expect_eq(memcmp(got, blob, len), 0, "%s: %s differs", rel, name);
		char list[512];
		n = guest_list(user, f, rel, list, sizeof(list));
		cr_expect(list_has(list, n, name), "%s: %s is not listed", rel, name);
		cr_expect(!list_has_prefix(list, n, "user.virtfs."), "%s: user.virtfs.* listed",
			  rel);
	}
}

Test(mapped, mapped_host_acl_is_not_shown_to_the_guest)
{
	start(",security_model=mapped-xattr", NULL);
	uint8_t blob[128], got[128];
	qemu_files_with_acls("", blob);
	struct np_client *user = attach(UID);
	for (size_t i = 0; i < 2; i++) {
		const char *rel = acl_cases[i].rel, *name = acl_cases[i].name;
		uint32_t f = walk(user, rel);
		cr_expect_eq(np_xattr_get(user, f, name, got, sizeof(got)), -ENODATA,
			     "%s: the host's %s is shown", rel, name);
		char list[512];
		int n = guest_list(user, f, rel, list, sizeof(list));
		cr_expect(!list_has_prefix(list, n, "system.posix_acl"),
			  "%s: the host's ACL is listed", rel);
	}
}

Test(mapped, mapped_virtfs_names_stay_hidden_and_unsettable)
{
	start(",security_model=mapped-xattr", NULL);
	qemu_file("file", S_IFREG | 0644);
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "file");
	char buf[64];
	cr_expect_eq(np_xattr_get(user, f, "user.virtfs.mode", buf, sizeof(buf)), -ENODATA);
	const char *names[] = {"user.virtfs.mode", "user.virtfs.other",
			       "user.virtfs.system.posix_acl_access"};
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(np_xattr_set(user, f, names[i], "\0\0\0\0", 4, 0), -EACCES,
			     "setting %s", names[i]);
	cr_expect_eq(virtfs_mode("file"), S_IFREG | 0644);
	cr_expect_eq(lgetxattr(HOST("file"), "user.virtfs.other", buf, sizeof(buf)), -1);
}

/* A write through 9P as uid `writer` to a QEMU-style file of uid 1000 with
 * recorded mode `guest_mode`; returns the recorded mode afterwards. */
static uint32_t mapped_write_as(uint32_t writer, uint32_t guest_mode)
{
	start(",security_model=mapped-xattr", NULL);
	qemu_file("file", guest_mode);
	struct np_client *c = attach(writer);
	uint32_t f;
	int err = np_open(c, 1, "file", NP_DOTL_WRONLY, &f);
	cr_assert_eq(err, 0, "uid %u opening: %s", writer, strerror(-err));
	cr_assert_eq(np_write(c, f, 0, "x", 1, NULL), 0);
	struct stat st = host_stat("file");
	cr_expect_eq(st.st_mode, S_IFREG | 0600, "host mode %o", st.st_mode);
	return virtfs_mode("file");
}

Test(mapped, mapped_write_by_non_root_clears_stored_setuid)
{
	uint32_t m = mapped_write_as(UID, S_IFREG | 06755);
	cr_expect_eq(m, S_IFREG | 0755, "user.virtfs.mode %o after uid 1000 wrote, want %o", m,
		     S_IFREG | 0755);
}

Test(mapped, mapped_write_by_root_keeps_stored_setuid)
{
	uint32_t m = mapped_write_as(0, S_IFREG | 06755);
	cr_expect_eq(m, S_IFREG | 06755, "user.virtfs.mode %o after root wrote", m);
}

/* ========================================================================= */
/* Id maps (translate_uid, translate_gid): guest 0 is host 100000, guest     */
/* 1000..1009 host 101000..101009; guest 3000..3009 are forbidden; every     */
/* other id is refused one way and shown as 65534 the other.                 */
/* ========================================================================= */

#define MAPS                                                                                  \
	",translate_uid=map:0:100000:1 map:1000:101000:10 forbid-guest:3000:10"              \
	",translate_gid=map:0:100000:1 map:1000:101000:10"
#define HOST_ROOT 100000
#define HOST_UID 101000

TestSuite(idmap, .fini = finish, .timeout = 60);

Test(idmap, uid_1000_creates_files_of_host_101000_and_sees_them_as_1000)
{
	start(MAPS, NULL);
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "");
	cr_assert_eq(np_lcreate(user, d, "file", NP_DOTL_RDWR, 0644, GID, NULL, NULL), 0);
	cr_assert_eq(np_mkdir(user, 1, "dir", 0755, GID + 1, NULL), 0);
	cr_assert_eq(np_symlink(user, 1, "link", "file", GID, NULL), 0);
	const struct {
		const char *rel;
		gid_t guest_gid;
	} made[] = {{"file", GID}, {"dir", GID + 1}, {"link", GID}};
	for (size_t i = 0; i < 3; i++) {
		struct stat st = host_stat(made[i].rel);
		cr_expect_eq(st.st_uid, HOST_UID, "%s: host uid %u", made[i].rel, st.st_uid);
		cr_expect_eq(st.st_gid, HOST_UID + made[i].guest_gid - GID, "%s: host gid %u",
			     made[i].rel, st.st_gid);
		struct np_attr a = guest_attr(user, made[i].rel);
		cr_expect_eq(a.uid, UID, "%s: the guest sees uid %u", made[i].rel, a.uid);
		cr_expect_eq(a.gid, made[i].guest_gid, "%s: the guest sees gid %u", made[i].rel,
			     a.gid);
	}
}

Test(idmap, chown_inside_the_range_works_and_outside_it_is_eperm)
{
	start(MAPS, NULL);
	host_file("f", "x", 0644, HOST_UID, HOST_UID);
	struct np_client *root = attach(0);
	struct np_setattr in = {.valid = NP_SETATTR_UID | NP_SETATTR_GID, .uid = 1005, .gid = 1007};
	cr_expect_eq(setattr(root, "f", &in), 0, "guest root chowning to mapped ids");
	struct stat st = host_stat("f");
	cr_expect_eq(st.st_uid, HOST_UID + 5);
	cr_expect_eq(st.st_gid, HOST_UID + 7);
	struct np_setattr out = {.valid = NP_SETATTR_UID, .uid = 5000};
	cr_expect_eq(setattr(root, "f", &out), -EPERM, "chown to unmapped uid 5000");
	struct np_setattr outg = {.valid = NP_SETATTR_GID, .gid = 1010};
	cr_expect_eq(setattr(root, "f", &outg), -EPERM, "chgrp to unmapped gid 1010");
	st = host_stat("f");
	cr_expect_eq(st.st_uid, HOST_UID + 5, "a refused chown changed the owner");
	cr_expect_eq(st.st_gid, HOST_UID + 7);
}

Test(idmap, forbidden_and_unmapped_guest_ids_are_refused)
{
	start(MAPS, NULL);
	const uint32_t refused[] = {3000, 3009, 2500, 65534, 1};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		struct np_client *c;
		int err = np_fixture_client(&fx, refused[i], &c, 1);
		cr_expect_eq(err, -EPERM, "attach as guest uid %u: %s", refused[i], strerror(-err));
		if (!err)
			np_client_close(c);
	}
	/* A mapped user naming an unmapped group for a new file. */
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "");
	cr_expect_eq(np_lcreate(user, d, "f", NP_DOTL_RDWR, 0644, 3000, NULL, NULL), -EPERM);
	cr_expect_eq(np_mkdir(user, 1, "d", 0755, 42, NULL), -EPERM);
	struct stat st;
	cr_expect_neq(lstat(HOST("f"), &st), 0, "the refused file exists on the host");
	cr_expect_neq(lstat(HOST("d"), &st), 0, "the refused directory exists on the host");
}

Test(idmap, host_files_of_unmapped_ids_show_as_65534)
{
	start(MAPS, NULL);
	host_file("roots", "x", 0644, 0, 0);
	host_file("other", "x", 0644, 4242, 101005);
	struct np_client *user = attach(UID);
	struct np_attr a = guest_attr(user, "roots");
	cr_expect_eq(a.uid, 65534);
	cr_expect_eq(a.gid, 65534);
	a = guest_attr(user, "other");
	cr_expect_eq(a.uid, 65534);
	cr_expect_eq(a.gid, 1005, "a mapped group still shows");
}

Test(idmap, guest_root_has_no_root_powers_over_host_files_it_sees_as_65534)
{
	start(MAPS, NULL);
	host_file("roots", "x", 0755, 0, 0);
	host_file("mapped", "x", 0755, HOST_UID, HOST_UID);
	struct np_client *root = attach(0);
	struct np_setattr suid = {.valid = NP_SETATTR_MODE, .mode = 04755};
	cr_expect_eq(setattr(root, "roots", &suid), -EPERM, "set-uid on host root's file");
	cr_expect_eq(host_stat("roots").st_mode & 07777, 0755);
	struct np_setattr give = {.valid = NP_SETATTR_UID, .uid = 1000};
	cr_expect_eq(setattr(root, "roots", &give), -EPERM, "taking host root's file");
	cr_expect_eq(host_stat("roots").st_uid, 0);
	/* Over a file of a mapped owner it is root. */
	cr_expect_eq(setattr(root, "mapped", &suid), 0);
	cr_expect_eq(host_stat("mapped").st_mode & 07777, 04755);
	/* And it never makes device nodes. */
	cr_expect_eq(np_mknod(root, 1, "null", S_IFCHR | 0666, 1, 3, 0, NULL), -EPERM);
}

Test(idmap, mapped_xattr_stores_host_ids_and_shows_guest_ids)
{
	start(",security_model=mapped-xattr" MAPS, NULL);
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "");
	cr_assert_eq(np_lcreate(user, d, "file", NP_DOTL_RDWR, 0640, GID + 2, NULL, NULL), 0);
	uint8_t b[4];
	cr_assert_eq(lgetxattr(HOST("file"), "user.virtfs.uid", b, 4), 4);
	uint32_t uid = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	cr_expect_eq(uid, HOST_UID, "stored owner %u", uid);
	cr_assert_eq(lgetxattr(HOST("file"), "user.virtfs.gid", b, 4), 4);
	uint32_t gid = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
	cr_expect_eq(gid, HOST_UID + 2, "stored group %u", gid);
	struct np_attr a = guest_attr(user, "file");
	cr_expect_eq(a.uid, UID);
	cr_expect_eq(a.gid, GID + 2);
	/* A stored owner outside the map (a file QEMU wrote for guest 1000
	 * without a map) shows as 65534. */
	qemu_file("qemu", S_IFREG | 0644);
	a = guest_attr(user, "qemu");
	cr_expect_eq(a.uid, 65534);
}

Test(idmap, acl_entries_cross_the_map_both_ways)
{
	start(MAPS, NULL);
	host_file("f", "x", 0644, HOST_UID, HOST_UID);
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "f");
	const struct ace e[] = {{ACL_USER_OBJ, 6, ACL_UNDEFINED_ID},
				{ACL_USER, 4, 1003},
				{ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID},
				{ACL_GROUP, 4, 1004},
				{ACL_MASK, 4, ACL_UNDEFINED_ID},
				{ACL_OTHER, 4, ACL_UNDEFINED_ID}};
	uint8_t blob[128], host[128], back[128];
	size_t len = acl_blob(blob, e, 6);
	int err = np_xattr_set(user, f, "system.posix_acl_access", blob, len, 0);
	cr_assert_eq(err, 0, "setting an ACL naming mapped ids: %s", strerror(-err));
	ssize_t n = lgetxattr(HOST("f"), "system.posix_acl_access", host, sizeof host);
	cr_assert_eq(n, (ssize_t)len, "host ACL: %zd", n);
	uint32_t id;
	memcpy(&id, host + 4 + 8 + 4, 4);
	cr_expect_eq(le32toh(id), HOST_UID + 3, "host ACL names user %u", le32toh(id));
	memcpy(&id, host + 4 + 24 + 4, 4);
	cr_expect_eq(le32toh(id), HOST_UID + 4, "host ACL names group %u", le32toh(id));
	int got = np_xattr_get(user, f, "system.posix_acl_access", back, sizeof back);
	cr_assert_eq(got, (int)len);
	cr_expect_eq(memcmp(back, blob, len), 0, "the guest reads back other ids than it set");

	const struct ace bad[] = {{ACL_USER_OBJ, 6, ACL_UNDEFINED_ID},
				  {ACL_USER, 4, 5000},
				  {ACL_GROUP_OBJ, 4, ACL_UNDEFINED_ID},
				  {ACL_MASK, 4, ACL_UNDEFINED_ID},
				  {ACL_OTHER, 4, ACL_UNDEFINED_ID}};
	len = acl_blob(blob, bad, 5);
	cr_expect_eq(np_xattr_set(user, f, "system.posix_acl_access", blob, len, 0), -EPERM,
		     "an ACL naming unmapped uid 5000");
}

/* ========================================================================= */
/* xattrmap                                                                   */
/* ========================================================================= */

TestSuite(xattrmap, .fini = finish, .timeout = 60);

#define SELINUX "security.selinux"
#define LABEL "system_u:object_r:guest_t:s0"

/* The guest's names of fid f, as one string "a,b,". */
static void guest_names(struct np_client *c, uint32_t f, char *out, size_t cap)
{
	char list[1024];
	int n = np_xattr_get(c, f, "", list, sizeof list);
	cr_assert_geq(n, 0, "listing: %s", strerror(-n));
	out[0] = '\0';
	for (int pos = 0; pos < n; pos += (int)strlen(list + pos) + 1) {
		strncat(out, list + pos, cap - strlen(out) - 2);
		strcat(out, ",");
	}
}

Test(xattrmap, guest_selinux_label_lives_in_trusted_ninepd_and_the_host_label_stays_hidden)
{
	start(",xattrmap=:map:" SELINUX ":trusted.ninepd.:", NULL);
	host_file("f", "x", 0644, UID, GID);
	/* The host's own label, where the host kernel lets root set one. */
	bool host_label = lsetxattr(HOST("f"), SELINUX, "host_t", 7, 0) == 0;
	cr_assert_eq(lsetxattr(HOST("f"), "trusted.host", "h", 1, 0), 0);
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "f");
	cr_assert_eq(np_xattr_set(user, f, SELINUX, LABEL, sizeof LABEL, 0), 0,
		     "a guest user setting its label");
	char got[128];
	ssize_t n = lgetxattr(HOST("f"), "trusted.ninepd." SELINUX, got, sizeof got);
	cr_expect_eq(n, (ssize_t)sizeof LABEL, "the label on the host: %zd", n);
	if (host_label) {
		n = lgetxattr(HOST("f"), SELINUX, got, sizeof got);
		cr_expect_eq(n, 7, "the host's label was touched");
		cr_expect_str_eq(got, "host_t");
	}
	int g = np_xattr_get(user, f, SELINUX, got, sizeof got);
	cr_expect_eq(g, (int)sizeof LABEL);
	cr_expect_str_eq(got, LABEL);
	char names[512];
	guest_names(user, f, names, sizeof names);
	cr_expect_str_eq(names, SELINUX ",", "the guest lists %s", names);
	/* Names the map does not rename stay the host's: trusted.* itself
	 * and the map's own prefix are refused. */
	cr_expect_eq(np_xattr_set(user, f, "trusted.evil", "x", 1, 0), -EPERM);
	cr_expect_eq(np_xattr_set(user, f, "trusted.ninepd.x", "x", 1, 0), -EPERM);
	/* Reading one is the kernel's answer without CAP_SYS_ADMIN: none. */
	cr_expect_eq(np_xattr_get(user, f, "trusted.host", got, sizeof got), -ENODATA);
}

Test(xattrmap, user_prefix_keeps_every_guest_name_under_user_ninepd)
{
	start(",xattrmap=:prefix:all::user.ninepd.: :bad:all:::", NULL);
	host_file("f", "x", 0644, UID, GID);
	cr_assert_eq(lsetxattr(HOST("f"), "user.host", "h", 1, 0), 0);
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "f");
	cr_assert_eq(np_xattr_set(user, f, "user.note", "n", 1, 0), 0);
	cr_assert_eq(np_xattr_set(user, f, SELINUX, LABEL, sizeof LABEL, 0), 0);
	char got[128];
	cr_expect_eq(lgetxattr(HOST("f"), "user.ninepd.user.note", got, sizeof got), 1);
	cr_expect_eq(lgetxattr(HOST("f"), "user.ninepd." SELINUX, got, sizeof got),
		     (ssize_t)sizeof LABEL);
	char names[512];
	guest_names(user, f, names, sizeof names);
	cr_expect(strstr(names, "user.note,") && strstr(names, SELINUX ","), "listed: %s", names);
	cr_expect_null(strstr(names, "user.host"), "the host's own name is listed: %s", names);
}

Test(xattrmap, mapped_xattr_storage_stays_out_of_reach_of_any_map)
{
	start(",security_model=mapped-xattr,xattrmap=:prefix:client:uid:user.virtfs.: :ok:all:::",
	      NULL);
	struct np_client *user = attach(UID);
	uint32_t d = walk(user, "");
	cr_assert_eq(np_lcreate(user, d, "file", NP_DOTL_RDWR, 0644, GID, NULL, NULL), 0);
	uint32_t f = walk(user, "file");
	/* "uid" would become user.virtfs.uid, the stored owner. */
	cr_expect_eq(np_xattr_set(user, f, "uid", "\0\0\0\0", 4, 0), -EACCES);
	uint8_t b[4];
	cr_assert_eq(lgetxattr(HOST("file"), "user.virtfs.uid", b, 4), 4);
	cr_expect_eq(b[0] | b[1] << 8, UID, "the stored owner changed");
}

Test(xattrmap, bad_and_unsupported_rules_refuse_with_their_errors)
{
	start(",xattrmap=:bad:client:user.secret.:: :unsupported:client:user.old.:: :ok:all:::",
	      NULL);
	host_file("f", "x", 0644, UID, GID);
	struct np_client *user = attach(UID);
	uint32_t f = walk(user, "f");
	cr_expect_eq(np_xattr_set(user, f, "user.secret.k", "x", 1, 0), -EPERM);
	cr_expect_eq(np_xattr_set(user, f, "user.old.k", "x", 1, 0), -EOPNOTSUPP);
	cr_expect_eq(np_xattr_set(user, f, "user.fine", "x", 1, 0), 0);
}
