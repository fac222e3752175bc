/* Integration: directories and special files (mkdir, unlinkat, readdir,
 * symlink, readlink, mknod). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "np_suite.h"

NP_FIXTURE_SUITE(dirs, 60);

static bool host_lstat(const char *rel, struct stat *st)
{
	char path[4096];
	return lstat(np_fixture_path(&fx, rel, path, sizeof(path)), st) == 0;
}

static uint32_t walk_to(const char *path)
{
	uint32_t f = np_fid_new(fx.c);
	int err = np_walk_path(fx.c, fx.root, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

static uint32_t open_dir(struct np_client *c, uint32_t root, const char *path)
{
	uint32_t f;
	int err = np_open(c, root, path, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &f);
	cr_assert_eq(err, 0, "open directory \"%s\": %s", path, strerror(-err));
	return f;
}

/* Every entry a readdir returned, in order. */
struct listing {
	size_t n, cap;
	struct {
		char name[256];
		uint64_t offset;
		uint8_t type;
		struct np_qid qid;
	} *e;
};

static int collect(void *arg, const struct np_dirent *d)
{
	struct listing *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		cr_assert_not_null(l->e);
	}
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%.*s", d->name.len, d->name.s);
	l->e[l->n].offset = d->offset;
	l->e[l->n].type = d->type;
	l->e[l->n].qid = d->qid;
	l->n++;
	return 0;
}

static ssize_t find(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static size_t count_name(const struct listing *l, const char *name)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += strcmp(l->e[i].name, name) == 0;
	return k;
}

Test(dirs, mkdir_creates_a_directory_with_the_given_mode)
{
	struct np_qid q;
	cr_assert_eq(np_mkdir(fx.c, fx.root, "d", 0750, 0, &q), 0);
	cr_expect_eq(q.type, NP_QTDIR);
	struct stat st;
	cr_assert(host_lstat("d", &st));
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0750, "mode %o", st.st_mode & 07777);
	struct np_qid walked;
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "d", &walked), 0);
	cr_expect_eq(walked.path, q.path, "Rmkdir qid differs from the walked qid");
}

Test(dirs, mkdir_of_an_existing_name_fails_with_eexist)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_expect_eq(np_mkdir(fx.c, fx.root, "d", 0755, 0, NULL), -EEXIST);
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_mkdir(fx.c, fx.root, "f", 0755, 0, NULL), -EEXIST);
}

Test(dirs, mkdir_in_a_file_fails_with_enotdir)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_mkdir(fx.c, walk_to("f"), "d", 0755, 0, NULL), -ENOTDIR);
}

Test(dirs, unlinkat_removes_a_file)
{
	struct stat st;
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "f", 0), 0);
	cr_expect_not(host_lstat("f", &st));
}

Test(dirs, unlinkat_with_removedir_removes_a_directory)
{
	struct stat st;
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "d", NP_AT_REMOVEDIR), 0);
	cr_expect_not(host_lstat("d", &st));
}

Test(dirs, unlinkat_of_a_directory_without_removedir_fails_with_eisdir)
{
	struct stat st;
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "d", 0), -EISDIR);
	cr_expect(host_lstat("d", &st));
}

Test(dirs, unlinkat_with_removedir_on_a_file_fails_with_enotdir)
{
	struct stat st;
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "f", NP_AT_REMOVEDIR), -ENOTDIR);
	cr_expect(host_lstat("f", &st));
}

Test(dirs, unlinkat_of_a_nonempty_directory_fails_with_enotempty)
{
	struct stat st;
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/f", "", 0), 0);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "d", NP_AT_REMOVEDIR), -ENOTEMPTY);
	cr_expect(host_lstat("d/f", &st));
}

Test(dirs, unlinkat_of_a_missing_name_fails_with_enoent)
{
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "missing", 0), -ENOENT);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "missing", NP_AT_REMOVEDIR), -ENOENT);
}

Test(dirs, unlinkat_in_a_subdirectory_fid)
{
	struct stat st;
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/f", "", 0), 0);
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_unlinkat(fx.c, walk_to("d"), "f", 0), 0);
	cr_expect_not(host_lstat("d/f", &st));
	cr_expect(host_lstat("f", &st), "unlinkat removed the name in the wrong directory");
}

Test(dirs, lopen_of_a_directory_for_writing_fails_with_eisdir)
{
	uint32_t d = walk_to("");
	cr_expect_eq(np_lopen(fx.c, d, NP_DOTL_WRONLY, NULL, NULL), -EISDIR);
}

Test(dirs, readdir_lists_every_entry_with_its_type)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "file", "", 0), 0);
	cr_assert_eq(np_fixture_symlink(&fx, "file", "link"), 0);
	uint32_t d = open_dir(fx.c, fx.root, "");
	struct listing l = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 4096, collect, &l), 0);
	const char *names[] = {"sub", "file", "link"};
	const uint8_t dtypes[] = {DT_DIR, DT_REG, DT_LNK};
	const uint8_t qtypes[] = {NP_QTDIR, NP_QTFILE, NP_QTSYMLINK};
	for (int i = 0; i < 3; i++) {
		ssize_t k = find(&l, names[i]);
		cr_assert_geq(k, 0, "\"%s\" not listed", names[i]);
		cr_expect_eq(count_name(&l, names[i]), 1, "\"%s\" listed twice", names[i]);
		cr_expect_eq(l.e[k].type, dtypes[i], "%s: d_type %u", names[i], l.e[k].type);
		cr_expect_eq(l.e[k].qid.type, qtypes[i], "%s: qid.type %#x", names[i], l.e[k].qid.type);
	}
	for (size_t i = 0; i < l.n; i++) {
		const char *n = l.e[i].name;
		cr_expect(count_name(&l, n) == 1, "\"%s\" listed %zu times", n, count_name(&l, n));
		cr_expect(strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "sub") == 0 ||
			  strcmp(n, "file") == 0 || strcmp(n, "link") == 0, "unexpected \"%s\"", n);
	}
	free(l.e);
}

Test(dirs, readdir_qids_agree_with_walk_qids)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "file", "", 0), 0);
	uint32_t d = open_dir(fx.c, fx.root, "");
	struct listing l = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 4096, collect, &l), 0);
	const char *names[] = {"sub", "file"};
	for (int i = 0; i < 2; i++) {
		struct np_qid walked;
		cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), names[i], &walked), 0);
		ssize_t k = find(&l, names[i]);
		cr_assert_geq(k, 0);
		cr_expect_eq(l.e[k].qid.path, walked.path, "%s: readdir qid.path %#llx, walk %#llx",
			     names[i], (unsigned long long)l.e[k].qid.path,
			     (unsigned long long)walked.path);
	}
	free(l.e);
}

static void make_entries(int n)
{
	char name[64];
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "big/entry-%04d-with-a-longer-name", i);
		cr_assert_eq(np_fixture_write(&fx, name, "", 0), 0);
	}
}

static void expect_each_entry_once(const struct listing *l, int n)
{
	char name[64];
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "entry-%04d-with-a-longer-name", i);
		size_t k = count_name(l, name);
		cr_expect_eq(k, 1, "\"%s\" listed %zu times", name, k);
	}
	size_t others = 0;
	for (size_t i = 0; i < l->n; i++)
		others += strncmp(l->e[i].name, "entry-", 6) != 0;
	cr_expect_leq(others, 2, "%zu entries besides the files (. and .. at most)", others);
	cr_expect_leq(count_name(l, "."), 1);
	cr_expect_leq(count_name(l, ".."), 1);
}

Test(dirs, readdir_of_500_entries_in_small_counts_returns_each_name_once)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "big", 0755), 0);
	make_entries(500);
	uint32_t d = open_dir(fx.c, fx.root, "big");
	/* About two entries per reply. */
	struct listing l = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 120, collect, &l), 0);
	expect_each_entry_once(&l, 500);
	free(l.e);
}

Test(dirs, readdir_resumes_exactly_after_a_saved_offset)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "big", 0755), 0);
	make_entries(100);
	uint32_t d = open_dir(fx.c, fx.root, "big");
	struct listing all = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 8192, collect, &all), 0);
	expect_each_entry_once(&all, 100);
	/* Going back to any returned cookie continues with the next entry. */
	static uint8_t buf[8192];
	size_t picks[] = {0, 1, 37, all.n / 2, all.n - 2};
	for (size_t i = 0; i < sizeof(picks) / sizeof(picks[0]); i++) {
		size_t k = picks[i];
		uint32_t got, pos = 0;
		cr_assert_eq(np_readdir(fx.c, d, all.e[k].offset, sizeof(buf), buf, &got), 0);
		struct np_dirent e;
		cr_assert_eq(np_dirent_next(buf, got, &pos, &e), 1, "nothing after entry %zu", k);
		char name[256];
		snprintf(name, sizeof(name), "%.*s", e.name.len, e.name.s);
		cr_expect_str_eq(name, all.e[k + 1].name, "resuming after entry %zu (%s)", k,
				 all.e[k].name);
	}
	/* After the last cookie there is nothing. */
	uint32_t got = 99;
	cr_expect_eq(np_readdir(fx.c, d, all.e[all.n - 1].offset, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 0);
	/* Offset 0 starts again from the beginning. */
	struct listing again = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 8192, collect, &again), 0);
	cr_expect_eq(again.n, all.n);
	free(all.e);
	free(again.e);
}

Test(dirs, readdir_reply_stays_below_msize)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "big", 0755), 0);
	make_entries(300);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 4096, "", 0, 1), 0);
	cr_assert_eq(c->msize, 4096);
	uint32_t d = open_dir(c, 1, "big");
	static uint8_t buf[1 << 20];
	uint32_t counts[] = {4096, 4085, 4084, 100000, 0xffffffff};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		uint32_t got;
		int err = np_readdir(c, d, 0, counts[i], buf, &got);
		cr_expect_eq(err, 0, "Treaddir count %u: %s", counts[i], strerror(-err));
		cr_expect_lt(c->last_frame_size, 4096, "Treaddir count %u: reply of %u bytes",
			     counts[i], c->last_frame_size);
		cr_expect_gt(got, 3000, "Treaddir count %u: only %u bytes", counts[i], got);
	}
	np_client_close(c);
}

Test(dirs, readdir_of_an_empty_directory_ends)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "empty", 0755), 0);
	uint32_t d = open_dir(fx.c, fx.root, "empty");
	struct listing l = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 4096, collect, &l), 0);
	cr_expect_leq(l.n, 2);
	for (size_t i = 0; i < l.n; i++)
		cr_expect(strcmp(l.e[i].name, ".") == 0 || strcmp(l.e[i].name, "..") == 0, "\"%s\"",
			  l.e[i].name);
	free(l.e);
}

Test(dirs, readdir_sees_entries_created_through_9p)
{
	uint32_t d = open_dir(fx.c, fx.root, "");
	cr_assert_eq(np_mkdir(fx.c, fx.root, "made", 0755, 0, NULL), 0);
	cr_assert_eq(np_symlink(fx.c, fx.root, "sym", "made", 0, NULL), 0);
	struct listing l = {0};
	cr_assert_eq(np_readdir_all(fx.c, d, 4096, collect, &l), 0);
	cr_expect_geq(find(&l, "made"), 0);
	cr_expect_geq(find(&l, "sym"), 0);
	free(l.e);
}

Test(dirs, symlink_creates_a_link_to_the_target)
{
	struct np_qid q;
	cr_assert_eq(np_symlink(fx.c, fx.root, "l", "some/target", 0, &q), 0);
	cr_expect_eq(q.type, NP_QTSYMLINK);
	char path[4096], target[256];
	ssize_t n = readlink(np_fixture_path(&fx, "l", path, sizeof(path)), target, sizeof(target));
	cr_assert_eq(n, 11);
	cr_expect_eq(memcmp(target, "some/target", 11), 0);
}

Test(dirs, symlink_of_an_existing_name_fails_with_eexist)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	cr_expect_eq(np_symlink(fx.c, fx.root, "f", "x", 0, NULL), -EEXIST);
}

Test(dirs, readlink_returns_the_target)
{
	char longer[1001];
	memset(longer, 'x', 1000);
	longer[1000] = '\0';
	cr_assert_eq(np_fixture_symlink(&fx, "../outside/../target", "l"), 0);
	cr_assert_eq(np_fixture_symlink(&fx, longer, "long"), 0);
	char buf[2048];
	cr_assert_eq(np_readlink(fx.c, walk_to("l"), buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "../outside/../target");
	cr_assert_eq(np_readlink(fx.c, walk_to("long"), buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, longer);
}

Test(dirs, readlink_of_a_regular_file_fails_with_einval)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	char buf[64];
	cr_expect_eq(np_readlink(fx.c, walk_to("f"), buf, sizeof(buf)), -EINVAL);
}

Test(dirs, mknod_creates_a_fifo)
{
	struct np_qid q;
	cr_assert_eq(np_mknod(fx.c, fx.root, "fifo", S_IFIFO | 0640, 0, 0, 0, &q), 0);
	struct stat st;
	cr_assert(host_lstat("fifo", &st));
	cr_expect(S_ISFIFO(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0640);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("fifo"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISFIFO(a.mode));
	cr_expect_eq(a.qid.path, q.path);
}

Test(dirs, mknod_creates_a_char_device_as_root)
{
	cr_assert_eq(np_mknod(fx.c, fx.root, "null", S_IFCHR | 0666, 1, 3, 0, NULL), 0);
	struct stat st;
	cr_assert(host_lstat("null", &st));
	cr_expect(S_ISCHR(st.st_mode));
	cr_expect_eq(major(st.st_rdev), 1);
	cr_expect_eq(minor(st.st_rdev), 3);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("null"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISCHR(a.mode));
	cr_expect_eq(a.rdev, (uint64_t)st.st_rdev, "rdev %#llx, host %#llx",
		     (unsigned long long)a.rdev, (unsigned long long)st.st_rdev);
}

Test(dirs, mknod_by_uid_1000_of_a_device_fails_with_eperm)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "pub", 0777), 0);
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t pub = np_fid_new(u);
	cr_assert_eq(np_walk_path(u, 1, pub, "pub", NULL), 0);
	cr_expect_eq(np_mknod(u, pub, "null", S_IFCHR | 0666, 1, 3, 1000, NULL), -EPERM);
	struct stat st;
	cr_expect_not(host_lstat("pub/null", &st));
	np_client_close(u);
}
