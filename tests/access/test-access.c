/* Integration: the three access models, checked from both sides: what a
 * client sees through 9P and what the host holds (stat, getxattr).
 *
 *   mapped-xattr  the guest's owner, mode and rdev live in user.virtfs.*
 *                 xattrs encoded as QEMU writes them (uid, gid, mode: 4
 *                 bytes little-endian; rdev: 8 bytes little-endian); host
 *                 files are the daemon's, 0600/0700, and never special;
 *   none          no per-user switching, refused chown/chmod are ignored;
 *                 with squash ids every request runs as, and every file is
 *                 created as, the squash user;
 *   passthrough   each request runs as the attaching user.
 *
 * Needs root: the daemon switches fsuid and the tests make device nodes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "np_users.h"

#define UID 1000 /* the guest user of most tests */
#define GID 1000
#define SQUASH 1234

/* Tlopen of path; the result of the open (the fid is clunked either way). */
static int guest_lopen(struct np_client *c, const char *path, uint32_t flags)
{
	uint32_t f = walk(c, path);
	int err = np_lopen(c, f, flags, NULL, NULL);
	np_clunk(c, f);
	return err;
}

static void guest_create_file(struct np_client *c, const char *dir, const char *name,
			      uint32_t mode, uint32_t gid)
{
	uint32_t f = walk(c, dir);
	int err = np_lcreate(c, f, name, NP_DOTL_RDWR, mode, gid, NULL, NULL);
	cr_assert_eq(err, 0, "lcreate %s/%s: %s", dir, name, strerror(-err));
	np_clunk(c, f);
}

static int guest_chown(struct np_client *c, const char *path, uint32_t uid, uint32_t gid)
{
	uint32_t f = walk(c, path);
	struct np_setattr sa = {.valid = NP_SETATTR_UID | NP_SETATTR_GID, .uid = uid, .gid = gid};
	int err = np_setattr(c, f, &sa);
	np_clunk(c, f);
	return err;
}

static int guest_chmod(struct np_client *c, const char *path, uint32_t mode)
{
	uint32_t f = walk(c, path);
	struct np_setattr sa = {.valid = NP_SETATTR_MODE, .mode = mode};
	int err = np_setattr(c, f, &sa);
	np_clunk(c, f);
	return err;
}

static struct stat host_lstat(const char *rel)
{
	struct stat st;
	cr_assert_eq(lstat(HOST(rel), &st), 0, "host lstat %s: %s", rel, strerror(errno));
	return st;
}

static void expect_host_owner(const char *rel, uid_t uid, gid_t gid)
{
	struct stat st = host_lstat(rel);
	cr_expect_eq(st.st_uid, uid, "%s: host owner %u, want %u", rel, st.st_uid, uid);
	cr_expect_eq(st.st_gid, gid, "%s: host group %u, want %u", rel, st.st_gid, gid);
}

static void host_write(const char *rel, const char *text, mode_t mode)
{
	cr_assert_eq(np_fixture_write(&fx, rel, text, strlen(text)), 0, "host write %s", rel);
	cr_assert_eq(chmod(HOST(rel), mode), 0);
}

/* user.virtfs.<key> of rel on the host: its size (or -errno), decoded as a
 * little-endian number of that many bytes. */
static ssize_t host_virtfs(const char *rel, const char *key, uint64_t *value)
{
	char name[64];
	uint8_t b[16];
	snprintf(name, sizeof(name), "user.virtfs.%s", key);
	ssize_t n = lgetxattr(HOST(rel), name, b, sizeof(b));
	if (n < 0)
		return -errno;
	*value = 0;
	for (ssize_t i = n; i-- > 0;)
		*value = *value << 8 | b[i];
	return n;
}

static void expect_virtfs(const char *rel, const char *key, ssize_t size, uint64_t want)
{
	uint64_t v = 0;
	ssize_t n = host_virtfs(rel, key, &v);
	cr_expect_eq(n, size, "%s: user.virtfs.%s is %zd bytes, want %zd (%s)", rel, key, n, size,
		     n < 0 ? strerror((int)-n) : "present");
	if (n == size)
		cr_expect_eq(v, want, "%s: user.virtfs.%s = %llu (%#llo), want %llu (%#llo)", rel,
			     key, (unsigned long long)v, (unsigned long long)v,
			     (unsigned long long)want, (unsigned long long)want);
}

static void expect_no_virtfs(const char *rel, const char *key)
{
	uint64_t v;
	ssize_t n = host_virtfs(rel, key, &v);
	cr_expect_eq(n, -ENODATA, "%s: user.virtfs.%s should not exist (got %zd bytes)", rel, key,
		     n);
}

/* Writes user.virtfs.<key> as QEMU does: `size` bytes, little-endian. */
static void host_set_virtfs(const char *rel, const char *key, uint64_t value, size_t size)
{
	char name[64];
	uint8_t b[8];
	snprintf(name, sizeof(name), "user.virtfs.%s", key);
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)(value >> (8 * i));
	cr_assert_eq(lsetxattr(HOST(rel), name, b, size, 0), 0, "setxattr %s on %s: %s", name, rel,
		     strerror(errno));
}

/* The host side of a mapped-xattr object: a private regular file (or dir). */
static void expect_private_host_file(const char *rel, bool dir)
{
	struct stat st = host_lstat(rel);
	if (dir)
		cr_expect(S_ISDIR(st.st_mode), "%s: host mode %o is not a directory", rel,
			  st.st_mode);
	else
		cr_expect(S_ISREG(st.st_mode), "%s: host mode %o is not a regular file", rel,
			  st.st_mode);
	cr_expect_eq(st.st_mode & 07777, dir ? 0700u : 0600u, "%s: host permissions %o", rel,
		     st.st_mode & 07777);
	cr_expect_eq(st.st_uid, geteuid(), "%s: host owner %u is not the daemon's", rel,
		     st.st_uid);
	cr_expect_eq(st.st_gid, getegid(), "%s: host group %u is not the daemon's", rel,
		     st.st_gid);
}

static void expect_guest_view(const struct np_attr *a, const char *what, uint32_t mode,
			      uint32_t uid, uint32_t gid)
{
	cr_expect_eq(a->mode, mode, "%s: guest mode %o, want %o", what, a->mode, mode);
	cr_expect_eq(a->uid, uid, "%s: guest uid %u, want %u", what, a->uid, uid);
	cr_expect_eq(a->gid, gid, "%s: guest gid %u, want %u", what, a->gid, gid);
}

/* Both sides of an object under mapped-xattr: the guest view through
 * Tgetattr, a private host file (or dir) and QEMU's uid/gid/mode xattrs.
 * Returns the guest's attributes. */
static struct np_attr expect_mapped(struct np_client *g, const char *rel, uint32_t mode,
				    uint32_t uid, uint32_t gid)
{
	struct np_attr a = guest_attr(g, rel);
	expect_guest_view(&a, rel, mode, uid, gid);
	expect_private_host_file(rel, S_ISDIR(mode));
	expect_virtfs(rel, "uid", 4, uid);
	expect_virtfs(rel, "gid", 4, gid);
	expect_virtfs(rel, "mode", 4, mode);
	return a;
}

/* ========================================================================= */
/* mapped-xattr: objects a guest creates                                      */
/* ========================================================================= */

static void start_mapped(void)
{
	start(",security_model=mapped-xattr", NULL);
}

TestSuite(mapped_xattr, .init = start_mapped, .fini = finish, .timeout = 60);

Test(mapped_xattr, lcreate_keeps_guest_owner_and_mode_in_xattrs_on_a_private_host_file)
{
	struct np_client *g = attach(UID);
	uint32_t f = walk(g, "");
	struct np_qid qid;
	cr_assert_eq(np_lcreate(g, f, "file", NP_DOTL_RDWR, 0640, GID, &qid, NULL), 0);
	cr_expect_eq(qid.type, NP_QTFILE);
	cr_expect_eq(np_write(g, f, 0, "hello", 5, NULL), 0);
	np_clunk(g, f);

	struct np_attr a = expect_mapped(g, "file", S_IFREG | 0640, UID, GID);
	cr_expect_eq(a.size, 5);
	expect_no_virtfs("file", "rdev");
	char buf[8];
	cr_expect_eq(np_fixture_read(&fx, "file", buf, sizeof(buf)), 5, "host content");
	cr_expect_eq(memcmp(buf, "hello", 5), 0);
}

Test(mapped_xattr, mkdir_keeps_guest_mode_in_xattrs_on_a_0700_host_dir)
{
	struct np_client *g = attach(UID);
	struct np_qid qid;
	cr_assert_eq(np_mkdir(g, 1, "dir", 0755, GID, &qid), 0);
	cr_expect_eq(qid.type, NP_QTDIR);
	expect_mapped(g, "dir", S_IFDIR | 0755, UID, GID);
	expect_no_virtfs("dir", "rdev");
	/* The guest can use it as a directory. */
	guest_create_file(g, "dir", "inner", 0644, GID);
	expect_private_host_file("dir/inner", false);
}

Test(mapped_xattr, mknod_char_device_is_a_regular_host_file_with_mode_and_rdev_xattrs)
{
	struct np_client *g = attach(UID);
	cr_assert_eq(np_mknod(g, 1, "null", S_IFCHR | 0644, 1, 3, GID, NULL), 0);
	struct np_attr a = expect_mapped(g, "null", S_IFCHR | 0644, UID, GID);
	cr_expect_eq(a.rdev, makedev(1, 3), "guest rdev %#llx", (unsigned long long)a.rdev);
	cr_expect_eq(host_lstat("null").st_rdev, 0);
	expect_virtfs("null", "rdev", 8, makedev(1, 3));
}

Test(mapped_xattr, mknod_fifo_is_a_regular_host_file_with_a_mode_xattr)
{
	struct np_client *g = attach(UID);
	cr_assert_eq(np_mknod(g, 1, "fifo", S_IFIFO | 0644, 0, 0, GID, NULL), 0);
	expect_mapped(g, "fifo", S_IFIFO | 0644, UID, GID);
	expect_no_virtfs("fifo", "rdev");
}

Test(mapped_xattr, symlink_is_a_regular_host_file_holding_the_target_and_readlink_returns_it)
{
	struct np_client *g = attach(UID);
	struct np_qid qid;
	cr_assert_eq(np_symlink(g, 1, "link", "/etc/passwd", GID, &qid), 0);
	cr_expect_eq(qid.type, NP_QTSYMLINK, "Rsymlink qid type %#x", qid.type);
	struct np_attr a = expect_mapped(g, "link", S_IFLNK | 0777, UID, GID);
	cr_expect_eq(a.qid.type, NP_QTSYMLINK, "getattr qid type %#x", a.qid.type);
	expect_no_virtfs("link", "rdev");
	char buf[64] = {0};
	cr_expect_eq(np_fixture_read(&fx, "link", buf, sizeof(buf) - 1), 11);
	cr_expect_str_eq(buf, "/etc/passwd", "host content of the symlink file");

	uint32_t f = walk(g, "link");
	char target[64];
	cr_expect_eq(np_readlink(g, f, target, sizeof(target)), 0);
	cr_expect_str_eq(target, "/etc/passwd");
}

Test(mapped_xattr, chmod_updates_the_mode_xattr_not_the_host_mode)
{
	struct np_client *g = attach(UID);
	guest_create_file(g, "", "file", 0640, GID);
	cr_assert_eq(np_mknod(g, 1, "null", S_IFCHR | 0644, 1, 3, GID, NULL), 0);
	cr_assert_eq(np_mkdir(g, 1, "dir", 0755, GID, NULL), 0);

	cr_expect_eq(guest_chmod(g, "file", 04604), 0);
	cr_expect_eq(guest_chmod(g, "null", 0600), 0);
	cr_expect_eq(guest_chmod(g, "dir", 01777), 0);

	struct np_attr a = guest_attr(g, "file");
	cr_expect_eq(a.mode, S_IFREG | 04604, "file: guest mode %o", a.mode);
	expect_virtfs("file", "mode", 4, S_IFREG | 04604);
	a = guest_attr(g, "null");
	cr_expect_eq(a.mode, S_IFCHR | 0600, "device: guest mode %o (the type must stay)", a.mode);
	expect_virtfs("null", "mode", 4, S_IFCHR | 0600);
	a = guest_attr(g, "dir");
	cr_expect_eq(a.mode, S_IFDIR | 01777, "dir: guest mode %o", a.mode);
	expect_virtfs("dir", "mode", 4, S_IFDIR | 01777);
	expect_private_host_file("file", false);
	expect_private_host_file("null", false);
	expect_private_host_file("dir", true);
}

Test(mapped_xattr, chown_updates_the_owner_xattrs_not_the_host_owner)
{
	struct np_client *g = attach(UID);
	guest_create_file(g, "", "file", 0640, GID);
	cr_assert_eq(np_symlink(g, 1, "link", "file", GID, NULL), 0);

	cr_expect_eq(guest_chown(g, "file", 2000, 3000), 0);
	struct np_attr a = guest_attr(g, "file");
	expect_guest_view(&a, "file after chown", S_IFREG | 0640, 2000, 3000);
	expect_virtfs("file", "uid", 4, 2000);
	expect_virtfs("file", "gid", 4, 3000);
	expect_private_host_file("file", false);

	/* (uid_t)-1 leaves the uid alone. */
	cr_expect_eq(guest_chown(g, "file", (uint32_t)-1, 4000), 0);
	expect_virtfs("file", "uid", 4, 2000);
	expect_virtfs("file", "gid", 4, 4000);

	/* lchown of a mapped symlink. */
	cr_expect_eq(guest_chown(g, "link", 2001, 3001), 0);
	a = guest_attr(g, "link");
	expect_guest_view(&a, "link after chown", S_IFLNK | 0777, 2001, 3001);
	expect_private_host_file("link", false);
}

Test(mapped_xattr, lopen_of_a_mapped_device_or_fifo_fails_with_enxio)
{
	struct np_client *g = attach(UID);
	cr_assert_eq(np_mknod(g, 1, "null", S_IFCHR | 0666, 1, 3, GID, NULL), 0);
	cr_assert_eq(np_mknod(g, 1, "blk", S_IFBLK | 0666, 8, 0, GID, NULL), 0);
	cr_assert_eq(np_mknod(g, 1, "fifo", S_IFIFO | 0666, 0, 0, GID, NULL), 0);
	const char *names[] = {"null", "blk", "fifo"};
	const uint32_t modes[] = {NP_DOTL_RDONLY, NP_DOTL_WRONLY, NP_DOTL_RDWR};
	for (size_t i = 0; i < 3; i++)
		for (size_t m = 0; m < 3; m++)
			cr_expect_eq(guest_lopen(g, names[i], modes[m]), -ENXIO,
				     "Tlopen %s flags %u", names[i], modes[m]);
	/* The fids were not left half-open: the files still stat. */
	struct np_attr a = guest_attr(g, "fifo");
	cr_expect_eq(a.mode, S_IFIFO | 0666);
}

Test(mapped_xattr, xattrwalk_of_a_virtfs_name_fails_with_enodata)
{
	struct np_client *g = attach(UID);
	guest_create_file(g, "", "file", 0640, GID);
	uint32_t f = walk(g, "file");
	const char *names[] = {"user.virtfs.uid", "user.virtfs.gid", "user.virtfs.mode"};
	for (size_t i = 0; i < 3; i++) {
		uint64_t size = 99;
		cr_expect_eq(np_xattrwalk(g, f, np_fid_new(g), names[i], &size), -ENODATA,
			     "Txattrwalk %s", names[i]);
	}
	cr_expect_eq(np_xattr_get(g, f, "user.virtfs.mode", NULL, 0), -ENODATA);
	/* The attributes are there; the guest just cannot see them. */
	expect_virtfs("file", "uid", 4, UID);
}

Test(mapped_xattr, xattrcreate_of_a_virtfs_name_fails_with_eacces)
{
	struct np_client *g = attach(UID);
	guest_create_file(g, "", "file", 0640, GID);
	uint32_t f = walk(g, "file");
	uint32_t clone = walk(g, "file");
	cr_expect_eq(np_xattrcreate(g, clone, "user.virtfs.uid", 4, 0), -EACCES);
	uint32_t zero = 0;
	cr_expect_eq(np_xattr_set(g, f, "user.virtfs.uid", &zero, 4, 0), -EACCES);
	cr_expect_eq(np_xattr_set(g, f, "user.virtfs.rdev", "\1\0\0\0\0\0\0\0", 8, XATTR_CREATE),
		     -EACCES);
	cr_expect_eq(np_xattr_set(g, f, "user.virtfs.mode", NULL, 0, XATTR_REPLACE), -EACCES,
		     "removing the mode attribute");
	expect_virtfs("file", "uid", 4, UID);
	expect_virtfs("file", "mode", 4, S_IFREG | 0640);
	expect_no_virtfs("file", "rdev");
}

Test(mapped_xattr, xattr_list_hides_virtfs_names_and_shows_user_xattrs)
{
	struct np_client *g = attach(UID);
	guest_create_file(g, "", "file", 0640, GID);
	uint32_t f = walk(g, "file");
	cr_assert_eq(np_xattr_set(g, f, "user.foo", "bar", 3, 0), 0);
	char buf[256];
	cr_expect_eq(np_xattr_get(g, f, "user.foo", buf, sizeof(buf)), 3);
	cr_expect_eq(memcmp(buf, "bar", 3), 0);

	char host[512];
	ssize_t hn = llistxattr(HOST("file"), host, sizeof(host));
	cr_assert_gt(hn, 0);
	cr_assert(memmem(host, (size_t)hn, "user.virtfs.uid", 16), "the host has the attributes");

	int n = np_xattr_get(g, f, "", buf, sizeof(buf));
	cr_assert_gt(n, 0, "xattr list: %s", strerror(-n));
	bool foo = false;
	for (int pos = 0; pos < n; pos += (int)strlen(buf + pos) + 1) {
		cr_expect_neq(strncmp(buf + pos, "user.virtfs.", 12), 0, "listed: %s", buf + pos);
		foo |= !strcmp(buf + pos, "user.foo");
	}
	cr_expect(foo, "user.foo is not in the list");
	cr_expect_eq(buf[n - 1], '\0', "the list ends with a NUL");
}

/* QEMU reports DT_UNKNOWN for mapped exports so that the guest stats; a
 * host DT_REG for a guest symlink would mislead find -type l and ls. */
struct dirent_types {
	const char *names[4];
	uint8_t types[4];
};

static int note_type(void *arg, const struct np_dirent *d)
{
	struct dirent_types *t = arg;
	for (size_t i = 0; i < 4; i++)
		if (strlen(t->names[i]) == d->name.len && !memcmp(t->names[i], d->name.s, d->name.len))
			t->types[i] = d->type;
	return 0;
}

Test(mapped_xattr, readdir_type_of_special_files_is_the_guest_type_or_unknown)
{
	struct np_client *g = attach(UID);
	cr_assert_eq(np_symlink(g, 1, "link", "x", GID, NULL), 0);
	cr_assert_eq(np_mknod(g, 1, "null", S_IFCHR | 0644, 1, 3, GID, NULL), 0);
	cr_assert_eq(np_mknod(g, 1, "fifo", S_IFIFO | 0644, 0, 0, GID, NULL), 0);
	cr_assert_eq(np_mknod(g, 1, "sock", S_IFSOCK | 0644, 0, 0, GID, NULL), 0);
	struct dirent_types t = {{"link", "null", "fifo", "sock"}, {0xff, 0xff, 0xff, 0xff}};
	const uint8_t want[4] = {DT_LNK, DT_CHR, DT_FIFO, DT_SOCK};
	uint32_t d = walk(g, "");
	cr_assert_eq(np_lopen(g, d, NP_DOTL_RDONLY, NULL, NULL), 0);
	cr_assert_eq(np_readdir_all(g, d, 4096, note_type, &t), 0);
	for (size_t i = 0; i < 4; i++)
		cr_expect(t.types[i] == want[i] || t.types[i] == DT_UNKNOWN,
			  "readdir type of %s is %u (want %u or DT_UNKNOWN)", t.names[i], t.types[i],
			  want[i]);
}

/* Tlcreate without O_EXCL on a name that exists opens it; under
 * mapped-xattr that must not rewrite who owns it or what it is. */
Test(mapped_xattr, lcreate_of_an_existing_name_keeps_its_owner_mode_and_type)
{
	struct np_client *owner = attach(UID);
	struct np_client *other = attach(2000);
	guest_create_file(owner, "", "mine", 0600, GID);
	cr_assert_eq(np_mknod(owner, 1, "null", S_IFCHR | 0600, 1, 3, GID, NULL), 0);

	uint32_t f = walk(other, "");
	int err = np_lcreate(other, f, "mine", NP_DOTL_RDWR, 0666, 2000, NULL, NULL);
	cr_log_info("Tlcreate of an existing file without O_EXCL: %d", err);
	np_clunk(other, f);
	expect_virtfs("mine", "uid", 4, UID);
	expect_virtfs("mine", "gid", 4, GID);
	expect_virtfs("mine", "mode", 4, S_IFREG | 0600);

	f = walk(other, "");
	cr_expect_neq(np_lcreate(other, f, "null", NP_DOTL_RDWR, 0666, 2000, NULL, NULL), 0,
		      "Tlcreate opened an existing device as a file");
	np_clunk(other, f);
	expect_virtfs("null", "uid", 4, UID);
	expect_virtfs("null", "mode", 4, S_IFCHR | 0600);
	expect_virtfs("null", "rdev", 8, makedev(1, 3));
}

/* ========================================================================= */
/* mapped-xattr: an export QEMU wrote                                         */
/* ========================================================================= */

TestSuite(qemu_export, .init = start_mapped, .fini = finish, .timeout = 60);

Test(qemu_export, file_with_symlink_mode_xattr_is_a_symlink_to_its_content)
{
	host_write("sym", "target", 0600);
	host_set_virtfs("sym", "uid", UID, 4);
	host_set_virtfs("sym", "gid", GID, 4);
	host_set_virtfs("sym", "mode", S_IFLNK | 0777, 4);
	struct np_client *g = attach(UID);
	struct np_qid qid;
	uint32_t f = np_fid_new(g);
	cr_assert_eq(np_walk_path(g, 1, f, "sym", &qid), 0);
	cr_expect_eq(qid.type, NP_QTSYMLINK, "walk qid type %#x", qid.type);
	struct np_attr a = guest_attr(g, "sym");
	expect_guest_view(&a, "sym", S_IFLNK | 0777, UID, GID);
	char target[64];
	cr_expect_eq(np_readlink(g, f, target, sizeof(target)), 0);
	cr_expect_str_eq(target, "target");
	cr_expect_neq(guest_lopen(g, "sym", NP_DOTL_RDONLY), 0, "Tlopen of a symlink");
}

Test(qemu_export, file_with_block_device_xattrs_is_a_block_device)
{
	host_write("blk", "", 0600);
	host_set_virtfs("blk", "uid", 0, 4);
	host_set_virtfs("blk", "gid", 6, 4);
	host_set_virtfs("blk", "mode", S_IFBLK | 0660, 4);
	host_set_virtfs("blk", "rdev", makedev(8, 1), 8);
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "blk");
	expect_guest_view(&a, "blk", S_IFBLK | 0660, 0, 6);
	cr_expect_eq(a.rdev, makedev(8, 1), "guest rdev %#llx", (unsigned long long)a.rdev);
	cr_expect_eq(guest_lopen(g, "blk", NP_DOTL_RDWR), -ENXIO);
}

Test(qemu_export, files_with_char_fifo_and_socket_modes_have_those_types)
{
	host_write("tty", "", 0600);
	host_set_virtfs("tty", "mode", S_IFCHR | 0620, 4);
	host_set_virtfs("tty", "rdev", makedev(4, 1), 8);
	/* QEMU records rdev 0 for a FIFO made with mknod. */
	host_write("fifo", "", 0600);
	host_set_virtfs("fifo", "mode", S_IFIFO | 0640, 4);
	host_set_virtfs("fifo", "rdev", 0, 8);
	host_write("sock", "", 0600);
	host_set_virtfs("sock", "mode", S_IFSOCK | 0755, 4);
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "tty");
	cr_expect_eq(a.mode, S_IFCHR | 0620, "tty: mode %o", a.mode);
	cr_expect_eq(a.rdev, makedev(4, 1));
	a = guest_attr(g, "fifo");
	cr_expect_eq(a.mode, S_IFIFO | 0640, "fifo: mode %o", a.mode);
	a = guest_attr(g, "sock");
	cr_expect_eq(a.mode, S_IFSOCK | 0755, "sock: mode %o", a.mode);
	/* Without uid/gid attributes the host's owner shows through. */
	cr_expect_eq(a.uid, geteuid());
	cr_expect_eq(guest_lopen(g, "tty", NP_DOTL_RDONLY), -ENXIO);
	cr_expect_eq(guest_lopen(g, "fifo", NP_DOTL_RDONLY), -ENXIO);
	cr_expect_eq(guest_lopen(g, "sock", NP_DOTL_RDONLY), -ENXIO);
}

Test(qemu_export, regular_file_and_dir_xattrs_give_owner_and_mode)
{
	host_write("file", "data", 0600);
	host_set_virtfs("file", "uid", UID, 4);
	host_set_virtfs("file", "gid", 100, 4);
	host_set_virtfs("file", "mode", S_IFREG | 0644, 4);
	cr_assert_eq(np_fixture_mkdir(&fx, "dir", 0700), 0);
	host_set_virtfs("dir", "uid", UID, 4);
	host_set_virtfs("dir", "gid", 100, 4);
	host_set_virtfs("dir", "mode", S_IFDIR | 0750, 4);
	host_write("dir/inner", "", 0600);
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "file");
	expect_guest_view(&a, "file", S_IFREG | 0644, UID, 100);
	cr_expect_eq(a.size, 4);
	uint32_t f = walk(g, "file");
	cr_assert_eq(np_lopen(g, f, NP_DOTL_RDONLY, NULL, NULL), 0);
	char buf[8];
	uint32_t got = 0;
	cr_expect_eq(np_read(g, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 4);
	cr_expect_eq(memcmp(buf, "data", 4), 0);
	a = guest_attr(g, "dir");
	expect_guest_view(&a, "dir", S_IFDIR | 0750, UID, 100);
	a = guest_attr(g, "dir/inner");
	cr_expect_eq(a.mode, S_IFREG | 0600);
}

Test(qemu_export, file_without_xattrs_shows_the_host_owner_and_mode)
{
	host_write("plain", "x", 0644);
	cr_assert_eq(chown(HOST("plain"), 55, 66), 0);
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "plain");
	expect_guest_view(&a, "plain", S_IFREG | 0644, 55, 66);
	cr_expect_eq(guest_lopen(g, "plain", NP_DOTL_RDONLY), 0);
}

Test(qemu_export, dir_with_a_non_directory_mode_xattr_stays_a_directory)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "dir", 0700), 0);
	host_set_virtfs("dir", "mode", S_IFREG | 0644, 4);
	host_write("file", "", 0600);
	host_set_virtfs("file", "mode", S_IFDIR | 0755, 4);
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "dir");
	cr_expect(S_ISDIR(a.mode), "dir: guest mode %o", a.mode);
	cr_expect_eq(a.qid.type, NP_QTDIR);
	a = guest_attr(g, "file");
	cr_expect(!S_ISDIR(a.mode), "a host file shown as a directory: mode %o", a.mode);
	guest_create_file(g, "dir", "inner", 0644, GID);
}

/* ========================================================================= */
/* mapped-xattr: device nodes and FIFOs that are real on the host             */
/* ========================================================================= */

TestSuite(forged_host_file, .init = start_mapped, .fini = finish, .timeout = 60);

/* Linux refuses user.* xattrs on special files, so the forgery may not
 * stick; either way Tlopen must not open the node. */
static void try_forge_regular_mode(const char *rel)
{
	uint8_t b[4];
	uint32_t m = S_IFREG | 0666;
	for (size_t i = 0; i < 4; i++)
		b[i] = (uint8_t)(m >> (8 * i));
	int rc = lsetxattr(HOST(rel), "user.virtfs.mode", b, 4, 0);
	cr_log_info("user.virtfs.mode=S_IFREG on host %s: %s", rel, rc ? strerror(errno) : "set");
}

Test(forged_host_file, char_device_on_the_host_is_never_opened)
{
	cr_assert_eq(mknod(HOST("dev"), S_IFCHR | 0666, makedev(1, 3)), 0, "mknod: %s",
		     strerror(errno));
	try_forge_regular_mode("dev");
	struct np_client *g = attach(UID);
	struct np_attr a = guest_attr(g, "dev");
	cr_expect(S_ISCHR(a.mode) || S_ISREG(a.mode), "guest mode %o", a.mode);
	const uint32_t modes[] = {NP_DOTL_RDONLY, NP_DOTL_WRONLY, NP_DOTL_RDWR};
	for (size_t m = 0; m < 3; m++)
		cr_expect_eq(guest_lopen(g, "dev", modes[m]), -ENXIO, "Tlopen flags %u", modes[m]);
	cr_expect_eq(guest_lopen(fx.c, "dev", NP_DOTL_RDWR), -ENXIO, "Tlopen as root");
}

/* Opening a FIFO for reading blocks until a writer comes, and a writer
 * that opens with O_NONBLOCK gets ENXIO unless a reader has it open: both
 * show whether the daemon opened the host FIFO. */
Test(forged_host_file, fifo_on_the_host_is_never_opened)
{
	cr_assert_eq(mkfifo(HOST("fifo"), 0666), 0, "mkfifo: %s", strerror(errno));
	try_forge_regular_mode("fifo");
	struct np_client *g = attach(UID);
	g->timeout_ms = 3000;
	cr_expect_eq(guest_lopen(g, "fifo", NP_DOTL_RDONLY), -ENXIO);
	cr_expect_eq(guest_lopen(g, "fifo", NP_DOTL_RDONLY | NP_DOTL_NONBLOCK), -ENXIO);
	int fd = open(HOST("fifo"), O_WRONLY | O_NONBLOCK);
	cr_expect_eq(fd, -1, "a reader holds the host FIFO open");
	cr_expect_eq(errno, ENXIO);
	if (fd >= 0)
		close(fd);
}

/* ========================================================================= */
/* none with squash ids                                                       */
/* ========================================================================= */

static void start_squash(void)
{
	start(",security_model=none,squash_uid=1234,squash_gid=1234", NULL);
	/* The export root belongs to the squash user, who creates everything. */
	cr_assert_eq(chown(fx.export_dir, SQUASH, SQUASH), 0);
}

TestSuite(none_squash, .init = start_squash, .fini = finish, .timeout = 60);

Test(none_squash, files_created_by_any_client_are_owned_by_the_squash_ids)
{
	const uint32_t users[] = {UID, 0};
	for (size_t i = 0; i < 2; i++) {
		struct np_client *c = attach(users[i]);
		char file[32], dir[32], link[32], fifo[32];
		snprintf(file, sizeof(file), "file%u", users[i]);
		snprintf(dir, sizeof(dir), "dir%u", users[i]);
		snprintf(link, sizeof(link), "link%u", users[i]);
		snprintf(fifo, sizeof(fifo), "fifo%u", users[i]);
		guest_create_file(c, "", file, 0644, users[i]);
		cr_assert_eq(np_mkdir(c, 1, dir, 0755, users[i], NULL), 0);
		cr_assert_eq(np_symlink(c, 1, link, file, users[i], NULL), 0);
		cr_assert_eq(np_mknod(c, 1, fifo, S_IFIFO | 0644, 0, 0, users[i], NULL), 0);
		expect_host_owner(file, SQUASH, SQUASH);
		expect_host_owner(dir, SQUASH, SQUASH);
		expect_host_owner(link, SQUASH, SQUASH);
		expect_host_owner(fifo, SQUASH, SQUASH);
		struct np_attr a = guest_attr(c, file);
		expect_guest_view(&a, file, S_IFREG | 0644, SQUASH, SQUASH);
		cr_expect(S_ISFIFO(host_lstat(fifo).st_mode), "none keeps real FIFOs");
	}
}

Test(none_squash, requests_run_as_the_squash_user)
{
	host_write("secret", "s", 0600);
	struct np_client *root = attach(0);
	cr_expect_eq(guest_lopen(root, "secret", NP_DOTL_RDONLY), -EACCES,
		     "a squashed root read a root-only file");
}

Test(none_squash, chown_refused_by_the_host_is_reported_as_success)
{
	struct np_client *c = attach(UID);
	guest_create_file(c, "", "file", 0644, UID);
	host_write("rootfile", "", 0644);
	cr_expect_eq(guest_chown(c, "file", 0, 0), 0);
	expect_host_owner("file", SQUASH, SQUASH);
	cr_expect_eq(guest_chown(c, "rootfile", SQUASH, SQUASH), 0);
	expect_host_owner("rootfile", 0, 0);
}

Test(none_squash, chmod_refused_by_the_host_is_reported_as_success)
{
	struct np_client *c = attach(UID);
	host_write("rootfile", "", 0644);
	cr_expect_eq(guest_chmod(c, "rootfile", 0600), 0);
	cr_expect_eq(host_lstat("rootfile").st_mode & 07777, 0644u);
}

/* ========================================================================= */
/* none without squash ids                                                    */
/* ========================================================================= */

static void start_none(void)
{
	start(",security_model=none", NULL);
}

TestSuite(none, .init = start_none, .fini = finish, .timeout = 60);

Test(none, files_are_created_as_the_daemon_whatever_the_attaching_user)
{
	struct np_client *c = attach(UID);
	guest_create_file(c, "", "file", 0640, GID);
	cr_assert_eq(np_mkdir(c, 1, "dir", 0750, GID, NULL), 0);
	cr_assert_eq(np_symlink(c, 1, "link", "file", GID, NULL), 0);
	cr_assert_eq(np_mknod(c, 1, "fifo", S_IFIFO | 0640, 0, 0, GID, NULL), 0);
	const char *names[] = {"file", "dir", "link", "fifo"};
	for (size_t i = 0; i < 4; i++)
		expect_host_owner(names[i], geteuid(), getegid());
	cr_expect_eq(host_lstat("file").st_mode & 07777, 0640u);
	cr_expect_eq(host_lstat("dir").st_mode & 07777, 0750u);
}

static int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int flags = 0, rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (rc == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	int err = rc ? -errno : 0;
	close(fd);
	return err;
}

Test(none, chown_refused_by_the_host_is_reported_as_success)
{
	struct np_client *c = attach(UID);
	host_write("stuck", "", 0644);
	/* Even root cannot chown an immutable file. */
	int err = set_immutable(HOST("stuck"), true);
	cr_assert_eq(err, 0, "chattr +i: %s", strerror(-err));
	cr_expect_eq(chown(HOST("stuck"), UID, GID), -1, "the host did not refuse the chown");
	cr_expect_eq(guest_chown(c, "stuck", UID, GID), 0);
	cr_expect_eq(guest_chmod(c, "stuck", 0600), 0);
	expect_host_owner("stuck", 0, 0);
	cr_expect_eq(host_lstat("stuck").st_mode & 07777, 0644u);
	cr_assert_eq(set_immutable(HOST("stuck"), false), 0);
}

Test(none, requests_are_not_switched_to_the_attaching_user)
{
	host_write("secret", "s", 0600);
	struct np_client *c = attach(UID);
	cr_expect_eq(guest_lopen(c, "secret", NP_DOTL_RDONLY), 0);
}

/* ========================================================================= */
/* passthrough (the default)                                                  */
/* ========================================================================= */

static void start_passthrough(void)
{
	start(NULL, NULL);
	cr_assert_eq(np_fixture_mkdir(&fx, "home", 0755), 0);
	cr_assert_eq(chown(HOST("home"), UID, GID), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "tmp", 0777), 0);
	cr_assert_eq(chmod(HOST("tmp"), 01777), 0);
}

TestSuite(passthrough, .init = start_passthrough, .fini = finish, .timeout = 60);

Test(passthrough, files_created_by_uid_1000_are_owned_by_it_with_the_requested_gid)
{
	struct np_client *c = attach(UID);
	guest_create_file(c, "home", "file", 0640, GID);
	uint32_t home = walk(c, "home");
	cr_assert_eq(np_mkdir(c, home, "dir", 0750, GID, NULL), 0);
	cr_assert_eq(np_symlink(c, home, "link", "file", GID, NULL), 0);
	cr_assert_eq(np_mknod(c, home, "fifo", S_IFIFO | 0640, 0, 0, GID, NULL), 0);
	const char *names[] = {"home/file", "home/dir", "home/link", "home/fifo"};
	for (size_t i = 0; i < 4; i++)
		expect_host_owner(names[i], UID, GID);
	cr_expect_eq(host_lstat("home/file").st_mode, S_IFREG | 0640);
	cr_expect_eq(host_lstat("home/dir").st_mode, S_IFDIR | 0750);
	cr_expect_eq(host_lstat("home/fifo").st_mode, S_IFIFO | 0640);
	struct np_attr a = guest_attr(c, "home/file");
	expect_guest_view(&a, "home/file", S_IFREG | 0640, UID, GID);
}

Test(passthrough, uid_without_a_passwd_entry_creates_files_as_itself)
{
	uid_t uid = 23456;
	while (getpwuid(uid))
		uid++;
	struct np_client *c = attach(uid);
	guest_create_file(c, "tmp", "file", 0600, uid);
	expect_host_owner("tmp/file", uid, uid);
}

Test(passthrough, root_only_file_is_opened_by_uid_1000_its_guest_decided_and_by_root)
{
	host_write("secret", "s3cret", 0600);
	struct np_client *c = attach(UID);
	cr_expect_eq(guest_lopen(c, "secret", NP_DOTL_RDONLY), 0);
	cr_expect_eq(guest_lopen(c, "secret", NP_DOTL_WRONLY), 0);
	uint32_t f;
	cr_assert_eq(np_open(fx.c, 1, "secret", NP_DOTL_RDONLY, &f), 0);
	char buf[16];
	uint32_t got = 0;
	cr_expect_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 6);
	cr_expect_eq(memcmp(buf, "s3cret", 6), 0);
}

Test(passthrough, uid_1000_creates_in_a_root_owned_directory_as_itself)
{
	struct np_client *c = attach(UID);
	uint32_t f = walk(c, "");
	cr_expect_eq(np_lcreate(c, f, "file", NP_DOTL_RDWR, 0644, GID, NULL, NULL), 0);
	cr_expect_eq(np_mkdir(c, 1, "dir", 0755, GID, NULL), 0);
	expect_host_owner("file", UID, GID);
	expect_host_owner("dir", UID, GID);
}

Test(passthrough, chown_to_root_by_uid_1000_fails_with_eperm)
{
	struct np_client *c = attach(UID);
	guest_create_file(c, "home", "file", 0644, GID);
	cr_expect_eq(guest_chown(c, "home/file", 0, 0), -EPERM);
	expect_host_owner("home/file", UID, GID);
}

Test(passthrough, lopen_of_a_host_device_node_fails_with_enxio)
{
	cr_assert_eq(mknod(HOST("null"), S_IFCHR | 0666, makedev(1, 3)), 0);
	cr_assert_eq(chmod(HOST("null"), 0666), 0);
	struct np_attr a = guest_attr(fx.c, "null");
	cr_expect_eq(a.mode, S_IFCHR | 0666);
	cr_expect_eq(a.rdev, makedev(1, 3));
	cr_expect_eq(guest_lopen(fx.c, "null", NP_DOTL_RDWR), -ENXIO);
}
