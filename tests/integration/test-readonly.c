/* Integration: a read-only export refuses every modifying request with
 * EROFS and still serves every reading one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "np_client.h"

static struct np_fixture fx;
static char *before; /* the host tree at the start */

static char *tree(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	const char *names[] = {"f", "d", "d/inner", "l", "empty"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[4096];
		struct stat st;
		if (lstat(np_fixture_path(&fx, names[i], p, sizeof(p)), &st) == 0)
			fprintf(out, "%s %o %u:%u %lld %ld.%09ld %lu\n", names[i], st.st_mode,
				st.st_uid, st.st_gid, (long long)st.st_size, (long)st.st_mtim.tv_sec,
				st.st_mtim.tv_nsec, (unsigned long)st.st_nlink);
		else
			fprintf(out, "%s missing\n", names[i]);
	}
	char p[4096], v[64];
	ssize_t n = getxattr(np_fixture_path(&fx, "f", p, sizeof(p)), "user.k", v, sizeof(v));
	fprintf(out, "xattr %zd %.*s\n", n, n > 0 ? (int)n : 0, v);
	fclose(out);
	return text;
}

static void setup(void)
{
	int err = np_fixture_start(&fx, ",readonly", NULL);
	cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);
	cr_assert_eq(np_fixture_write(&fx, "f", "contents", 8), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "d", 0755), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "empty", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "d/inner", "", 0), 0);
	cr_assert_eq(np_fixture_symlink(&fx, "f", "l"), 0);
	char p[4096];
	cr_assert_eq(setxattr(np_fixture_path(&fx, "f", p, sizeof(p)), "user.k", "v", 1, 0), 0);
	before = tree();
}

static void teardown(void)
{
	char *after = tree();
	cr_expect_str_eq(after, before, "the read-only export changed");
	free(after);
	free(before);
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
}

TestSuite(readonly, .init = setup, .fini = teardown, .timeout = 30);

static uint32_t walk_to(const char *path)
{
	uint32_t f = np_fid_new(fx.c);
	int err = np_walk_path(fx.c, fx.root, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

Test(readonly, lcreate_fails_with_erofs)
{
	cr_expect_eq(np_lcreate(fx.c, walk_to(""), "new", NP_DOTL_RDWR, 0644, 0, NULL, NULL), -EROFS);
	cr_expect_eq(np_lcreate(fx.c, walk_to(""), "f", NP_DOTL_RDWR, 0644, 0, NULL, NULL), -EROFS,
		     "Tlcreate of an existing name");
}

Test(readonly, mkdir_fails_with_erofs)
{
	cr_expect_eq(np_mkdir(fx.c, fx.root, "new", 0755, 0, NULL), -EROFS);
}

Test(readonly, symlink_fails_with_erofs)
{
	cr_expect_eq(np_symlink(fx.c, fx.root, "new", "f", 0, NULL), -EROFS);
}

Test(readonly, mknod_fails_with_erofs)
{
	cr_expect_eq(np_mknod(fx.c, fx.root, "new", S_IFIFO | 0644, 0, 0, 0, NULL), -EROFS);
}

Test(readonly, link_fails_with_erofs)
{
	cr_expect_eq(np_link(fx.c, fx.root, walk_to("f"), "new"), -EROFS);
}

Test(readonly, rename_fails_with_erofs)
{
	cr_expect_eq(np_rename(fx.c, walk_to("f"), walk_to("d"), "moved"), -EROFS);
}

Test(readonly, renameat_fails_with_erofs)
{
	cr_expect_eq(np_renameat(fx.c, fx.root, "f", fx.root, "moved"), -EROFS);
}

Test(readonly, unlinkat_fails_with_erofs)
{
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "f", 0), -EROFS);
	cr_expect_eq(np_unlinkat(fx.c, fx.root, "empty", NP_AT_REMOVEDIR), -EROFS);
}

Test(readonly, remove_fails_with_erofs_and_clunks_the_fid)
{
	uint32_t f = walk_to("f");
	cr_expect_eq(np_remove(fx.c, f), -EROFS);
	cr_expect_lt(np_clunk(fx.c, f), 0, "the fid survived Tremove");
}

Test(readonly, setattr_fails_with_erofs)
{
	uint32_t f = walk_to("f");
	struct np_setattr sa = {.valid = NP_SETATTR_MODE, .mode = 0600};
	cr_expect_eq(np_setattr(fx.c, f, &sa), -EROFS, "mode");
	sa = (struct np_setattr){.valid = NP_SETATTR_SIZE, .size = 0};
	cr_expect_eq(np_setattr(fx.c, f, &sa), -EROFS, "size");
	sa = (struct np_setattr){.valid = NP_SETATTR_UID | NP_SETATTR_GID, .uid = 5, .gid = 5};
	cr_expect_eq(np_setattr(fx.c, f, &sa), -EROFS, "owner");
	sa = (struct np_setattr){.valid = NP_SETATTR_MTIME | NP_SETATTR_MTIME_SET, .mtime_sec = 1};
	cr_expect_eq(np_setattr(fx.c, f, &sa), -EROFS, "mtime");
	sa = (struct np_setattr){.valid = NP_SETATTR_ATIME | NP_SETATTR_MTIME};
	cr_expect_eq(np_setattr(fx.c, f, &sa), -EROFS, "times now");
}

Test(readonly, lopen_for_writing_fails_with_erofs)
{
	uint32_t flags[] = {NP_DOTL_WRONLY, NP_DOTL_RDWR, NP_DOTL_RDONLY | NP_DOTL_TRUNC,
			    NP_DOTL_WRONLY | NP_DOTL_APPEND};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		cr_expect_eq(np_lopen(fx.c, walk_to("f"), flags[i], NULL, NULL), -EROFS,
			     "Tlopen flags %#o", flags[i]);
}

Test(readonly, xattr_set_and_remove_fail_with_erofs)
{
	cr_expect_eq(np_xattr_set(fx.c, walk_to("f"), "user.new", "x", 1, 0), -EROFS);
	cr_expect_eq(np_xattr_set(fx.c, walk_to("f"), "user.k", NULL, 0, XATTR_REPLACE), -EROFS);
}

Test(readonly, reading_requests_still_work)
{
	uint32_t f;
	cr_assert_eq(np_open(fx.c, fx.root, "f", NP_DOTL_RDONLY, &f), 0);
	char buf[64];
	uint32_t got;
	cr_expect_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 8);
	cr_expect_eq(np_fsync(fx.c, f, 0), 0, "Tfsync of a file opened for reading");
	uint32_t d;
	cr_assert_eq(np_open(fx.c, fx.root, "d", NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &d), 0);
	cr_expect_eq(np_readdir(fx.c, d, 0, sizeof(buf), buf, &got), 0);
	cr_expect_gt(got, 0);
	cr_expect_eq(np_getattr(fx.c, walk_to("f"), NP_GETATTR_ALL, NULL), 0);
	cr_expect_eq(np_readlink(fx.c, walk_to("l"), buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "f");
	cr_expect_eq(np_xattr_get(fx.c, walk_to("f"), "user.k", buf, sizeof(buf)), 1);
	cr_expect_eq(np_statfs(fx.c, fx.root, NULL), 0);
	struct np_getlock gl = {.type = NP_LOCK_TYPE_RDLCK};
	cr_expect_eq(np_getlock(fx.c, f, &gl), 0);
	cr_expect_eq(np_clunk(fx.c, f), 0);
}
