/* Integration: file operations (lcreate, lopen, read, write, remove, statfs,
 * getattr, setattr, fsync, rename, renameat, link) and passthrough users. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "np_suite.h"

NP_FIXTURE_SUITE(files, 30);

static struct stat host_stat(const char *rel)
{
	char path[4096];
	struct stat st;
	int r = lstat(np_fixture_path(&fx, rel, path, sizeof(path)), &st);
	cr_assert_eq(r, 0, "lstat %s: %s", path, strerror(errno));
	return st;
}

static bool host_exists(const char *rel)
{
	char path[4096];
	struct stat st;
	return lstat(np_fixture_path(&fx, rel, path, sizeof(path)), &st) == 0;
}

/* A new fid walked from the root; the walk must succeed. */
static uint32_t walk_to(struct np_client *c, uint32_t root, const char *path)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, root, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

static uint32_t open_path(struct np_client *c, uint32_t root, const char *path, uint32_t flags)
{
	uint32_t f;
	int err = np_open(c, root, path, flags, &f);
	cr_assert_eq(err, 0, "open \"%s\" flags %#o: %s", path, flags, strerror(-err));
	return f;
}

/* A fresh file created through 9P: returns its open fid. */
static uint32_t create(const char *name, uint32_t flags, uint32_t mode)
{
	uint32_t f = walk_to(fx.c, fx.root, "");
	int err = np_lcreate(fx.c, f, name, flags, mode, 0, NULL, NULL);
	cr_assert_eq(err, 0, "Tlcreate \"%s\": %s", name, strerror(-err));
	return f;
}

Test(files, lcreate_creates_an_open_file_with_the_given_mode)
{
	uint32_t f = walk_to(fx.c, fx.root, "");
	struct np_qid q;
	uint32_t iounit, n;
	cr_assert_eq(np_lcreate(fx.c, f, "new", NP_DOTL_RDWR, 0640, 0, &q, &iounit), 0);
	cr_expect_eq(q.type, NP_QTFILE);
	struct stat st = host_stat("new");
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	/* The fid now is the open file. */
	cr_expect_eq(np_write(fx.c, f, 0, "abc", 3, &n), 0);
	cr_expect_eq(n, 3);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.qid.path, q.path);
	cr_expect_eq(a.size, 3);
}

Test(files, lcreate_with_excl_on_an_existing_name_fails_with_eexist)
{
	cr_assert_eq(np_fixture_write(&fx, "exists", "keep", 4), 0);
	uint32_t f = walk_to(fx.c, fx.root, "");
	int err = np_lcreate(fx.c, f, "exists", NP_DOTL_RDWR | NP_DOTL_EXCL, 0644, 0, NULL, NULL);
	cr_expect_eq(err, -EEXIST, "Tlcreate O_EXCL of an existing file: %s", strerror(-err));
	char buf[8];
	cr_expect_eq(np_fixture_read(&fx, "exists", buf, sizeof(buf)), 4);
}

Test(files, lcreate_gives_the_new_file_the_requested_gid)
{
	uint32_t f = walk_to(fx.c, fx.root, "");
	cr_assert_eq(np_lcreate(fx.c, f, "grp", NP_DOTL_RDWR, 0644, 1234, NULL, NULL), 0);
	cr_expect_eq(host_stat("grp").st_gid, 1234, "gid %u", host_stat("grp").st_gid);
}

Test(files, lcreate_on_a_file_fid_fails_with_enotdir)
{
	cr_assert_eq(np_fixture_write(&fx, "plain", "", 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "plain");
	cr_expect_eq(np_lcreate(fx.c, f, "x", NP_DOTL_RDWR, 0644, 0, NULL, NULL), -ENOTDIR);
}

Test(files, lopen_of_an_open_fid_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = open_path(fx.c, fx.root, "f", NP_DOTL_RDONLY);
	int err = np_lopen(fx.c, f, NP_DOTL_RDONLY, NULL, NULL);
	cr_expect_lt(err, 0, "second Tlopen on one fid succeeded");
	cr_expect_neq(err, -ETIMEDOUT);
}

Test(files, lopen_reports_the_qid_and_an_iounit_that_fits_msize)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	struct np_qid walked, opened;
	uint32_t f = np_fid_new(fx.c), iounit;
	cr_assert_eq(np_walk_path(fx.c, fx.root, f, "f", &walked), 0);
	cr_assert_eq(np_lopen(fx.c, f, NP_DOTL_RDONLY, &opened, &iounit), 0);
	cr_expect_eq(opened.path, walked.path);
	cr_expect(iounit <= np_max_io(fx.c->msize), "iounit %u for msize %u", iounit, fx.c->msize);
}

Test(files, write_then_read_back)
{
	size_t len = 200 * 1024;
	uint8_t *data = malloc(len), *back = malloc(len);
	cr_assert(data && back);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 31 + (i >> 9));
	uint32_t f = create("data", NP_DOTL_RDWR, 0644);
	uint32_t chunk = fx.c->msize - 24;
	for (size_t off = 0; off < len;) {
		uint32_t n = len - off < chunk ? (uint32_t)(len - off) : chunk, got;
		cr_assert_eq(np_write(fx.c, f, off, data + off, n, &got), 0);
		cr_assert(got > 0 && got <= n);
		off += got;
	}
	/* Read back through a second, read-only fid. */
	uint32_t r = open_path(fx.c, fx.root, "data", NP_DOTL_RDONLY);
	size_t off = 0;
	for (;;) {
		uint32_t got;
		cr_assert_eq(np_read(fx.c, r, off, chunk, back + off, &got), 0);
		if (got == 0)
			break;
		off += got;
		cr_assert_leq(off, len);
	}
	cr_expect_eq(off, len);
	cr_expect_eq(memcmp(data, back, len), 0, "data read back differs");
	cr_expect_eq(host_stat("data").st_size, (off_t)len);
	uint8_t *host = malloc(len);
	cr_expect_eq(np_fixture_read(&fx, "data", host, len), (ssize_t)len);
	cr_expect_eq(memcmp(data, host, len), 0, "data on the host differs");
	free(data);
	free(back);
	free(host);
}

Test(files, read_past_the_end_returns_zero_bytes)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = open_path(fx.c, fx.root, "f", NP_DOTL_RDONLY), got = 99;
	char buf[16];
	cr_expect_eq(np_read(fx.c, f, 4, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 0);
	cr_expect_eq(np_read(fx.c, f, 1000000, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 0);
	cr_expect_eq(np_read(fx.c, f, 2, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 2);
	cr_expect_eq(memcmp(buf, "ta", 2), 0);
}

Test(files, lopen_with_trunc_truncates)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	open_path(fx.c, fx.root, "f", NP_DOTL_WRONLY | NP_DOTL_TRUNC);
	cr_expect_eq(host_stat("f").st_size, 0);
}

Test(files, read_on_a_write_only_fid_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = open_path(fx.c, fx.root, "f", NP_DOTL_WRONLY);
	char buf[4];
	int err = np_read(fx.c, f, 0, 4, buf, NULL);
	cr_expect_lt(err, 0, "Tread on a write-only fid succeeded");
	cr_expect_neq(err, -ETIMEDOUT);
}

Test(files, write_on_a_read_only_fid_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = open_path(fx.c, fx.root, "f", NP_DOTL_RDONLY);
	int err = np_write(fx.c, f, 0, "XXXX", 4, NULL);
	cr_expect_lt(err, 0, "Twrite on a read-only fid succeeded");
	char buf[4];
	cr_expect_eq(np_fixture_read(&fx, "f", buf, 4), 4);
	cr_expect_eq(memcmp(buf, "data", 4), 0);
}

Test(files, io_on_an_unopened_fid_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	char buf[4];
	cr_expect_lt(np_read(fx.c, f, 0, 4, buf, NULL), 0, "Tread on an unopened fid");
	cr_expect_lt(np_write(fx.c, f, 0, "XX", 2, NULL), 0, "Twrite on an unopened fid");
}

Test(files, read_reply_stays_below_msize)
{
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, 8192, "", 0, 1), 0);
	cr_assert_eq(c->msize, 8192);
	uint8_t *big = calloc(1, 40000);
	cr_assert_eq(np_fixture_write(&fx, "big", big, 40000), 0);
	uint32_t f = open_path(c, 1, "big", NP_DOTL_RDONLY), got;
	static uint8_t buf[1 << 20];
	uint32_t counts[] = {8192, 8181, 8180, 65536, 0xffffffff};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int err = np_read(c, f, 0, counts[i], buf, &got);
		cr_expect_eq(err, 0, "Tread count %u: %s", counts[i], strerror(-err));
		cr_expect_lt(c->last_frame_size, 8192, "Tread count %u: Rread of %u bytes, msize 8192",
			     counts[i], c->last_frame_size);
		cr_expect_gt(got, 0, "Tread count %u returned nothing", counts[i]);
	}
	free(big);
	np_client_close(c);
}

Test(files, remove_deletes_the_file_and_clunks_the_fid)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_expect_eq(np_remove(fx.c, f), 0);
	cr_expect_not(host_exists("f"));
	cr_expect_lt(np_clunk(fx.c, f), 0, "the fid survived Tremove");
}

Test(files, remove_deletes_an_empty_directory)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	uint32_t f = walk_to(fx.c, fx.root, "d");
	cr_expect_eq(np_remove(fx.c, f), 0);
	cr_expect_not(host_exists("d"));
}

Test(files, remove_clunks_the_fid_even_when_it_fails)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/f", "", 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "d");
	cr_expect_eq(np_remove(fx.c, f), -ENOTEMPTY);
	cr_expect(host_exists("d/f"));
	cr_expect_lt(np_getattr(fx.c, f, NP_GETATTR_BASIC, NULL), 0, "fid alive after failed Tremove");
	cr_expect_lt(np_clunk(fx.c, f), 0, "fid could be clunked after failed Tremove");
}

Test(files, statfs_matches_the_host)
{
	struct np_statfs s;
	struct statfs h;
	cr_assert_eq(np_statfs(fx.c, fx.root, &s), 0);
	cr_assert_eq(statfs(fx.export_dir, &h), 0);
	cr_expect_eq(s.type, (uint32_t)h.f_type, "type %#x, host %#lx", s.type, (long)h.f_type);
	cr_expect_eq(s.bsize, (uint32_t)h.f_bsize);
	cr_expect_eq(s.blocks, (uint64_t)h.f_blocks);
	cr_expect_eq(s.files, (uint64_t)h.f_files);
	cr_expect_eq(s.namelen, (uint32_t)h.f_namelen);
	cr_expect_leq(s.bavail, s.bfree);
	cr_expect_leq(s.bfree, s.blocks);
}

Test(files, getattr_matches_the_host)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "twelve bytes", 12), 0);
	char path[4096];
	struct timespec ts[2] = {{1000000000, 111111111}, {1200000000, 222222222}};
	cr_assert_eq(utimensat(AT_FDCWD, np_fixture_path(&fx, "f", path, sizeof(path)), ts, 0), 0);
	cr_assert_eq(chown(path, 4321, 8765), 0);
	struct stat st = host_stat("f");
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_ALL, &a), 0);
	cr_expect_eq(a.valid & NP_GETATTR_BASIC, NP_GETATTR_BASIC, "valid %#llx",
		     (unsigned long long)a.valid);
	cr_expect_eq(a.qid.type, NP_QTFILE);
	cr_expect_eq(a.mode, st.st_mode, "mode %o, host %o", a.mode, st.st_mode);
	cr_expect_eq(a.uid, 4321);
	cr_expect_eq(a.gid, 8765);
	cr_expect_eq(a.nlink, 1);
	cr_expect_eq(a.size, 12);
	cr_expect_eq(a.blocks, (uint64_t)st.st_blocks);
	cr_expect_eq(a.atime_sec, 1000000000);
	cr_expect_eq(a.atime_nsec, 111111111);
	cr_expect_eq(a.mtime_sec, 1200000000);
	cr_expect_eq(a.mtime_nsec, 222222222, "mtime_nsec %llu", (unsigned long long)a.mtime_nsec);
	cr_expect_eq(a.ctime_sec, (uint64_t)st.st_ctim.tv_sec);
	cr_expect_eq(a.ctime_nsec, (uint64_t)st.st_ctim.tv_nsec);
}

Test(files, getattr_of_a_directory_reports_a_directory)
{
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.qid.type, NP_QTDIR);
	cr_expect(S_ISDIR(a.mode));
}

Test(files, setattr_mode_changes_the_permissions)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_setattr sa = {.valid = NP_SETATTR_MODE, .mode = 0604};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_mode & 07777, 0604);
	sa.mode = 04755;
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_mode & 07777, 04755);
	cr_expect(S_ISREG(host_stat("f").st_mode));
}

Test(files, setattr_uid_and_gid_change_the_owner)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_setattr sa = {.valid = NP_SETATTR_UID, .uid = 1111};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_uid, 1111);
	cr_expect_eq(host_stat("f").st_gid, 0, "setting the uid changed the gid");
	sa = (struct np_setattr){.valid = NP_SETATTR_GID, .gid = 2222};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_gid, 2222);
	cr_expect_eq(host_stat("f").st_uid, 1111);
}

Test(files, setattr_size_truncates_and_extends)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "0123456789", 10), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_setattr sa = {.valid = NP_SETATTR_SIZE, .size = 4};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_size, 4);
	sa.size = 100000;
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	cr_expect_eq(host_stat("f").st_size, 100000);
	char buf[6];
	cr_expect_eq(np_fixture_read(&fx, "f", buf, 6), 6);
	cr_expect_eq(memcmp(buf, "0123\0\0", 6), 0);
}

Test(files, setattr_times_set_keeps_nanoseconds)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_setattr sa = {
		.valid = NP_SETATTR_ATIME | NP_SETATTR_ATIME_SET | NP_SETATTR_MTIME |
			 NP_SETATTR_MTIME_SET,
		.atime_sec = 1500000000, .atime_nsec = 123456789,
		.mtime_sec = 1600000000, .mtime_nsec = 987654321,
	};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	struct stat st = host_stat("f");
	cr_expect_eq(st.st_atim.tv_sec, 1500000000);
	cr_expect_eq(st.st_atim.tv_nsec, 123456789);
	cr_expect_eq(st.st_mtim.tv_sec, 1600000000);
	cr_expect_eq(st.st_mtim.tv_nsec, 987654321);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.mtime_nsec, 987654321);
	cr_expect_eq(a.atime_nsec, 123456789);
}

Test(files, setattr_mtime_alone_leaves_atime)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	char path[4096];
	struct timespec ts[2] = {{1000000000, 5}, {1000000000, 5}};
	cr_assert_eq(utimensat(AT_FDCWD, np_fixture_path(&fx, "f", path, sizeof(path)), ts, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_setattr sa = {.valid = NP_SETATTR_MTIME | NP_SETATTR_MTIME_SET,
				.mtime_sec = 1300000000, .mtime_nsec = 7};
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	struct stat st = host_stat("f");
	cr_expect_eq(st.st_atim.tv_sec, 1000000000);
	cr_expect_eq(st.st_atim.tv_nsec, 5);
	cr_expect_eq(st.st_mtim.tv_sec, 1300000000);
	cr_expect_eq(st.st_mtim.tv_nsec, 7);
}

Test(files, setattr_times_without_set_use_the_current_time)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	char path[4096];
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
	cr_assert_eq(utimensat(AT_FDCWD, np_fixture_path(&fx, "f", path, sizeof(path)), old, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	/* Values that must be ignored without the _SET bits. */
	struct np_setattr sa = {.valid = NP_SETATTR_ATIME | NP_SETATTR_MTIME,
				.atime_sec = 5, .mtime_sec = 5};
	time_t before = time(NULL);
	cr_assert_eq(np_setattr(fx.c, f, &sa), 0);
	time_t after = time(NULL);
	struct stat st = host_stat("f");
	cr_expect(st.st_mtim.tv_sec >= before - 1 && st.st_mtim.tv_sec <= after + 1,
		  "mtime %ld, now %ld", (long)st.st_mtim.tv_sec, (long)before);
	cr_expect(st.st_atim.tv_sec >= before - 1 && st.st_atim.tv_sec <= after + 1,
		  "atime %ld, now %ld", (long)st.st_atim.tv_sec, (long)before);
}

Test(files, subsecond_timestamps_are_reported)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	char path[4096];
	struct timespec ts[2] = {{1234567890, 1}, {1234567890, 999999999}};
	cr_assert_eq(utimensat(AT_FDCWD, np_fixture_path(&fx, "f", path, sizeof(path)), ts, 0), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.atime_nsec, 1);
	cr_expect_eq(a.mtime_nsec, 999999999);
}

Test(files, fsync_and_datasync_succeed_on_an_open_file)
{
	uint32_t f = create("f", NP_DOTL_RDWR, 0644);
	cr_assert_eq(np_write(fx.c, f, 0, "abc", 3, NULL), 0);
	cr_expect_eq(np_fsync(fx.c, f, 0), 0);
	cr_expect_eq(np_fsync(fx.c, f, 1), 0);
	uint32_t d = open_path(fx.c, fx.root, "", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY);
	cr_expect_eq(np_fsync(fx.c, d, 0), 0, "fsync of an open directory");
}

Test(files, rename_moves_the_file_and_the_fid_follows)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "dir", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "old", "content", 7), 0);
	uint32_t f = walk_to(fx.c, fx.root, "old");
	uint32_t d = walk_to(fx.c, fx.root, "dir");
	struct np_qid before;
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "old", &before), 0);
	cr_assert_eq(np_rename(fx.c, f, d, "new"), 0);
	cr_expect_not(host_exists("old"));
	cr_expect(host_exists("dir/new"));
	/* The fid follows the file to its new name. */
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.qid.path, before.path);
	cr_expect_eq(a.size, 7);
	cr_assert_eq(np_lopen(fx.c, f, NP_DOTL_RDONLY, NULL, NULL), 0, "Tlopen after Trename");
	char buf[8];
	uint32_t got;
	cr_expect_eq(np_read(fx.c, f, 0, 8, buf, &got), 0);
	cr_expect_eq(got, 7);
}

Test(files, renameat_moves_a_file_between_directories)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "src", 0755), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "dst", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "src/f", "x", 1), 0);
	struct stat before = host_stat("src/f");
	uint32_t s = walk_to(fx.c, fx.root, "src"), d = walk_to(fx.c, fx.root, "dst");
	cr_assert_eq(np_renameat(fx.c, s, "f", d, "g"), 0);
	cr_expect_not(host_exists("src/f"));
	cr_expect_eq(host_stat("dst/g").st_ino, before.st_ino);
}

Test(files, renameat_replaces_an_existing_target)
{
	cr_assert_eq(np_fixture_write(&fx, "a", "new", 3), 0);
	cr_assert_eq(np_fixture_write(&fx, "b", "old!", 4), 0);
	cr_assert_eq(np_renameat(fx.c, fx.root, "a", fx.root, "b"), 0);
	cr_expect_not(host_exists("a"));
	char buf[8];
	cr_expect_eq(np_fixture_read(&fx, "b", buf, sizeof(buf)), 3);
}

Test(files, renameat_of_a_missing_name_fails_with_enoent)
{
	cr_expect_eq(np_renameat(fx.c, fx.root, "missing", fx.root, "x"), -ENOENT);
	cr_expect_not(host_exists("x"));
}

Test(files, link_creates_a_hard_link)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "x", 1), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	cr_assert_eq(np_link(fx.c, fx.root, f, "hard"), 0);
	cr_expect_eq(host_stat("hard").st_ino, host_stat("f").st_ino);
	cr_expect_eq(host_stat("f").st_nlink, 2);
	struct np_qid q1, q2;
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "f", &q1), 0);
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "hard", &q2), 0);
	cr_expect_eq(q1.path, q2.path, "two names of one inode have different qids");
}

Test(files, link_of_a_directory_fails_with_eperm)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	uint32_t d = walk_to(fx.c, fx.root, "d");
	cr_expect_eq(np_link(fx.c, fx.root, d, "dlink"), -EPERM);
	cr_expect_not(host_exists("dlink"));
}

Test(files, open_fid_keeps_working_after_its_file_is_unlinked)
{
	uint32_t f = create("f", NP_DOTL_RDWR, 0644);
	cr_assert_eq(np_write(fx.c, f, 0, "before", 6, NULL), 0);
	cr_assert_eq(np_unlinkat(fx.c, fx.root, "f", 0), 0);
	cr_expect_not(host_exists("f"));
	uint32_t got;
	cr_expect_eq(np_write(fx.c, f, 6, "after", 5, &got), 0, "Twrite after unlink");
	char buf[16];
	cr_expect_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0, "Tread after unlink");
	cr_expect_eq(got, 11);
	cr_expect_eq(memcmp(buf, "beforeafter", 11), 0);
	struct np_attr a;
	cr_expect_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0, "Tgetattr after unlink");
	cr_expect_eq(np_fsync(fx.c, f, 0), 0);
	cr_expect_eq(np_clunk(fx.c, f), 0);
}

Test(files, open_fid_keeps_working_after_its_file_is_renamed)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	uint32_t f = create("f", NP_DOTL_RDWR, 0644);
	cr_assert_eq(np_write(fx.c, f, 0, "one", 3, NULL), 0);
	/* Renamed behind the server's back by another client. */
	struct np_client *other;
	cr_assert_eq(np_fixture_client(&fx, 0, &other, 1), 0);
	uint32_t sub = walk_to(other, 1, "sub");
	cr_assert_eq(np_renameat(other, 1, "f", sub, "g"), 0);
	np_client_close(other);
	uint32_t got;
	cr_expect_eq(np_write(fx.c, f, 3, "two", 3, &got), 0);
	char buf[8];
	cr_expect_eq(np_fixture_read(&fx, "sub/g", buf, sizeof(buf)), 6);
	cr_expect_eq(memcmp(buf, "onetwo", 6), 0);
	cr_expect_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 6);
}

/* --- passthrough users ------------------------------------------------------ */

Test(files, file_created_by_uid_1000_is_owned_by_it)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "pub", 0777), 0);
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t d = walk_to(u, 1, "pub");
	cr_assert_eq(np_lcreate(u, d, "mine", NP_DOTL_RDWR, 0644, 1000, NULL, NULL), 0);
	cr_expect_eq(host_stat("pub/mine").st_uid, 1000);
	uint32_t m = walk_to(u, 1, "pub");
	cr_assert_eq(np_mkdir(u, m, "mydir", 0755, 1000, NULL), 0);
	cr_expect_eq(host_stat("pub/mydir").st_uid, 1000);
	np_client_close(u);
}

/* The identity model (docs/security.md): a passthrough client's access was
 * decided by its guest kernel, with the groups 9P cannot carry; the host's
 * permission bits do not decide it again.  Ownership stays the host's. */
Test(files, uid_1000_access_is_its_guests_decision_not_the_host_mode_bits)
{
	cr_assert_eq(np_fixture_write(&fx, "secret", "s", 1), 0);
	char path[4096];
	cr_assert_eq(chmod(np_fixture_path(&fx, "secret", path, sizeof(path)), 0600), 0);
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t f = walk_to(u, 1, "secret");
	cr_expect_eq(np_lopen(u, f, NP_DOTL_RDONLY, NULL, NULL), 0);
	np_client_close(u);
}

Test(files, what_uid_1000_creates_in_a_root_owned_directory_is_owned_by_it)
{
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t d = walk_to(u, 1, "");
	cr_expect_eq(np_lcreate(u, d, "file", NP_DOTL_RDWR, 0644, 1000, NULL, NULL), 0);
	cr_expect_eq(np_mkdir(u, 1, "dir", 0755, 1000, NULL), 0);
	cr_expect_eq(np_symlink(u, 1, "link", "x", 1000, NULL), 0);
	cr_expect_eq(host_stat("file").st_uid, 1000);
	cr_expect_eq(host_stat("dir").st_uid, 1000);
	cr_expect_eq(host_stat("link").st_uid, 1000);
	np_client_close(u);
}

Test(files, uid_1000_cannot_chown_or_chmod_root_files)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "", 0), 0);
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t f = walk_to(u, 1, "f");
	struct np_setattr sa = {.valid = NP_SETATTR_UID, .uid = 1000};
	cr_expect_eq(np_setattr(u, f, &sa), -EPERM);
	sa = (struct np_setattr){.valid = NP_SETATTR_MODE, .mode = 0777};
	cr_expect_eq(np_setattr(u, f, &sa), -EPERM);
	cr_expect_eq(host_stat("f").st_uid, 0);
	cr_expect_eq(host_stat("f").st_mode & 0777, 0644);
	np_client_close(u);
}

Test(files, uid_1000_cannot_remove_others_files_from_a_sticky_directory)
{
	/* The sticky bit is an ownership rule (owner of the file or of the
	 * directory, or CAP_FOWNER), which a client never overrides. */
	cr_assert_eq(np_fixture_mkdir(&fx, "tmp", 0777), 0);
	char path[4096];
	cr_assert_eq(chmod(np_fixture_path(&fx, "tmp", path, sizeof(path)), 01777), 0);
	cr_assert_eq(np_fixture_write(&fx, "tmp/roots", "", 0), 0);
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 1), 0);
	uint32_t tmp = walk_to(u, 1, "tmp");
	cr_expect_eq(np_unlinkat(u, tmp, "roots", 0), -EPERM);
	cr_expect(host_exists("tmp/roots"));
	uint32_t d = walk_to(u, 1, "tmp");
	cr_assert_eq(np_lcreate(u, d, "mine", NP_DOTL_RDWR, 0644, 1000, NULL, NULL), 0);
	cr_expect_eq(np_unlinkat(u, tmp, "mine", 0), 0);
	cr_expect_not(host_exists("tmp/mine"));
	np_client_close(u);
}

/* --- requests on fids of the wrong kind or state --------------------------- */

Test(files, lcreate_on_an_open_directory_fid_fails)
{
	uint32_t d = open_path(fx.c, fx.root, "", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY);
	int err = np_lcreate(fx.c, d, "x", NP_DOTL_RDWR, 0644, 0, NULL, NULL);
	cr_expect_lt(err, 0, "Tlcreate on an open fid succeeded");
	cr_expect_not(host_exists("x"));
}

Test(files, read_on_an_open_directory_fails_with_eisdir)
{
	uint32_t d = open_path(fx.c, fx.root, "", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY);
	char buf[64];
	cr_expect_eq(np_read(fx.c, d, 0, sizeof(buf), buf, NULL), -EISDIR);
}

Test(files, readdir_on_an_open_file_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = open_path(fx.c, fx.root, "f", NP_DOTL_RDONLY);
	char buf[256];
	/* getdents(2) says ENOTDIR; EBADF (not open as a directory) is fair too. */
	int err = np_readdir(fx.c, f, 0, sizeof(buf), buf, NULL);
	cr_expect(err == -ENOTDIR || err == -EBADF, "Treaddir on an open file: %s",
		  strerror(-err));
}

Test(files, unopened_fid_follows_its_file_through_a_rename_by_another_client)
{
	cr_assert_eq(np_fixture_mkdir(&fx, "sub", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	struct np_client *other;
	cr_assert_eq(np_fixture_client(&fx, 0, &other, 1), 0);
	cr_assert_eq(np_renameat(other, 1, "f", walk_to(other, 1, "sub"), "g"), 0);
	np_client_close(other);
	struct np_attr a;
	cr_expect_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.size, 4);
	cr_assert_eq(np_lopen(fx.c, f, NP_DOTL_RDWR, NULL, NULL), 0, "Tlopen after the rename");
	cr_expect_eq(np_write(fx.c, f, 4, "more", 4, NULL), 0);
	char buf[16];
	cr_expect_eq(np_fixture_read(&fx, "sub/g", buf, sizeof(buf)), 8);
}

Test(files, io_at_huge_offsets_fails_cleanly)
{
	uint32_t f = create("f", NP_DOTL_RDWR, 0644);
	char buf[16];
	uint32_t got = 99;
	int err = np_read(fx.c, f, UINT64_MAX - 5, sizeof(buf), buf, &got);
	cr_expect(err == -EINVAL || (err == 0 && got == 0), "Tread at 2^64-6: %s, %u bytes",
		  strerror(-err), got);
	err = np_write(fx.c, f, UINT64_MAX - 5, "x", 1, NULL);
	cr_expect(err == -EINVAL || err == -EFBIG, "Twrite at 2^64-6: %s", strerror(-err));
	err = np_write(fx.c, f, (uint64_t)INT64_MAX, "x", 1, NULL);
	cr_expect(err == -EINVAL || err == -EFBIG, "Twrite at 2^63-1: %s", strerror(-err));
	struct np_setattr sa = {.valid = NP_SETATTR_SIZE, .size = UINT64_MAX};
	err = np_setattr(fx.c, f, &sa);
	cr_expect(err == -EINVAL || err == -EFBIG, "Tsetattr size 2^64-1: %s", strerror(-err));
	cr_expect_eq(host_stat("f").st_size, 0);
}

Test(files, lock_on_an_unopened_fid_fails)
{
	cr_assert_eq(np_fixture_write(&fx, "f", "data", 4), 0);
	uint32_t f = walk_to(fx.c, fx.root, "f");
	uint8_t status = 0xff;
	int err = np_lock(fx.c, f, NP_LOCK_TYPE_WRLCK, 0, 0, 0, 1, "c", &status);
	cr_expect(err < 0 || status == NP_LOCK_ERROR, "Tlock on an unopened fid: %s, status %u",
		  strerror(-err), status);
}

/* Large reads (the daemon may splice them into the socket: 64 KiB and up,
 * the connection's only request) return the file's bytes at any offset,
 * including a page-unaligned one and one that ends past the end of file. */
Test(files, large_reads_at_any_offset_return_the_files_bytes)
{
	size_t len = 3 * 1024 * 1024 + 123;
	uint8_t *data = malloc(len), *back = malloc(1 << 20);
	cr_assert(data && back);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 12));
	cr_assert_eq(np_fixture_write(&fx, "large", data, len), 0);
	struct np_client *c;
	cr_assert_eq(np_session(&c, fx.addr, (1 << 20) + 4096, "", 0, 1), 0);
	cr_assert_geq(c->msize, 1 << 20);
	uint32_t f = open_path(c, 1, "large", NP_DOTL_RDONLY);
	struct {
		uint64_t off;
		uint32_t count;
	} reads[] = {
		{0, 1 << 20}, {1, 1 << 20}, {4095, 65536}, {12345, 300000},
		{len - 70000, 1 << 20}, {(1 << 20) * 2, 1 << 20}, {0, 65535}, {len, 1 << 20},
	};
	for (int rep = 0; rep < 3; rep++) { /* the same worker's pipe again and again */
		for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
			uint32_t got = 0;
			int err = np_read(c, f, reads[i].off, reads[i].count, back, &got);
			cr_assert_eq(err, 0, "Tread %llu+%u: %s", (unsigned long long)reads[i].off,
				     reads[i].count, strerror(-err));
			size_t count = reads[i].count < np_max_io(c->msize) ? reads[i].count
										    : np_max_io(c->msize);
			size_t want = reads[i].off >= len	     ? 0
				      : len - reads[i].off < count ? len - reads[i].off
								   : count;
			cr_assert_eq(got, want, "Tread %llu+%u", (unsigned long long)reads[i].off,
				     reads[i].count);
			cr_assert_eq(memcmp(back, data + reads[i].off, want), 0,
				     "Tread %llu+%u: bytes differ", (unsigned long long)reads[i].off,
				     reads[i].count);
		}
	}
	np_client_close(c);
	free(data);
	free(back);
}
