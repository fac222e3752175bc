/* Integration: a hostile client must not reach outside the export, through
 * symlinks, "..", bad names or special files; very deep paths still work. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "np_client.h"

static struct np_fixture fx;
static char outside[256]; /* a directory next to the export, with "secret" in it */

static void outside_path(const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", outside, name);
}

/*
 * The export holds symlinks that lead out of it:
 *   etc -> /etc, pw -> /etc/passwd, out -> <outside>, sec -> <outside>/secret,
 *   rel -> ../<run dir>/outside, dangling -> <outside>/newfile (absent);
 * plus a/b/ and a plain file f.
 */
static void setup(void)
{
	int err = np_fixture_start(&fx, NULL, NULL);
	cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);
	snprintf(outside, sizeof(outside), "%s/outside", fx.run_dir);
	cr_assert_eq(mkdir(outside, 0755), 0);
	char p[512], rel[512], run[256];
	outside_path("secret", p, sizeof(p));
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("SECRET", f);
	fclose(f);
	chmod(p, 0644);
	snprintf(run, sizeof(run), "%s", fx.run_dir);
	snprintf(rel, sizeof(rel), "../%s/outside", basename(run));
	cr_assert_eq(np_fixture_symlink(&fx, "/etc", "etc"), 0);
	cr_assert_eq(np_fixture_symlink(&fx, "/etc/passwd", "pw"), 0);
	cr_assert_eq(np_fixture_symlink(&fx, outside, "out"), 0);
	cr_assert_eq(np_fixture_symlink(&fx, p, "sec"), 0);
	cr_assert_eq(np_fixture_symlink(&fx, rel, "rel"), 0);
	outside_path("newfile", p, sizeof(p));
	cr_assert_eq(np_fixture_symlink(&fx, p, "dangling"), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "a", 0755), 0);
	cr_assert_eq(np_fixture_mkdir(&fx, "a/b", 0755), 0);
	cr_assert_eq(np_fixture_write(&fx, "f", "inside", 6), 0);
}

static void teardown(void)
{
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
}

TestSuite(confinement, .init = setup, .fini = teardown, .timeout = 60);

static uint32_t walk_to(const char *path)
{
	uint32_t f = np_fid_new(fx.c);
	int err = np_walk_path(fx.c, fx.root, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

static bool outside_exists(const char *name)
{
	char p[512];
	struct stat st;
	outside_path(name, p, sizeof(p));
	return lstat(p, &st) == 0;
}

static void expect_secret_intact(void)
{
	char p[512], buf[16] = "";
	struct stat st;
	outside_path("secret", p, sizeof(p));
	cr_assert_eq(stat(p, &st), 0, "the outside file is gone");
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	cr_expect_eq(n, 6, "the outside file was changed (%zu bytes)", n);
	cr_expect_str_eq(buf, "SECRET");
	cr_expect_eq(st.st_mode & 07777, 0644, "outside file mode changed to %o", st.st_mode & 07777);
	cr_expect_eq(st.st_uid, 0);
	cr_expect_eq(getxattr(p, "user.evil", buf, sizeof(buf)), -1, "xattr set on the outside file");
}

/* A walk of the names must not get through: Rlerror, or a partial Rwalk. */
static void expect_walk_stops(int n, const char *const names[])
{
	uint32_t nf = np_fid_new(fx.c);
	uint16_t got = 0;
	int err = np_walk(fx.c, fx.root, nf, (uint16_t)n, names, &got, NULL);
	cr_expect(err < 0 || got < n, "walk %s/%s... got through (%u qids)", names[0], names[1], got);
	cr_expect_neq(err, -ETIMEDOUT);
	if (err == 0 && got == n)
		np_clunk(fx.c, nf);
	else
		cr_expect_lt(np_getattr(fx.c, nf, NP_GETATTR_BASIC, NULL), 0, "newfid exists");
}

Test(confinement, walk_through_a_symlink_to_etc_does_not_reach_the_host)
{
	const char *names[] = {"etc", "passwd"};
	expect_walk_stops(2, names);
	const char *names2[] = {"out", "secret"};
	expect_walk_stops(2, names2);
}

Test(confinement, walk_through_a_relative_escaping_symlink_does_not_reach_the_host)
{
	const char *names[] = {"rel", "secret"};
	expect_walk_stops(2, names);
	const char *names2[] = {"a", "..", "rel", "secret"};
	expect_walk_stops(4, names2);
}

Test(confinement, walk_to_a_symlink_itself_gives_a_symlink_qid)
{
	struct np_qid q;
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "etc", &q), 0);
	cr_expect_eq(q.type, NP_QTSYMLINK, "qid.type %#x", q.type);
	cr_assert_eq(np_walk_path(fx.c, fx.root, np_fid_new(fx.c), "dangling", &q), 0);
	cr_expect_eq(q.type, NP_QTSYMLINK, "qid.type %#x", q.type);
}

Test(confinement, lopen_of_a_symlink_does_not_open_its_target)
{
	/* Only our own outside file is opened for writing: a server that
	 * follows the link must not get to truncate /etc/passwd. */
	const char *links[] = {"pw", "sec"};
	uint32_t flags[] = {NP_DOTL_RDONLY, NP_DOTL_RDWR, NP_DOTL_WRONLY | NP_DOTL_TRUNC};
	int nflags[] = {1, 3};
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < nflags[i]; k++) {
			uint32_t f = walk_to(links[i]);
			int err = np_lopen(fx.c, f, flags[k], NULL, NULL);
			if (err == 0) {
				char buf[64] = "";
				uint32_t got = 0;
				if (np_read(fx.c, f, 0, sizeof(buf) - 1, buf, &got) == 0)
					cr_expect(got == 0 || (strncmp(buf, "root:", 5) != 0 &&
							       strncmp(buf, "SECRET", 6) != 0),
						  "lopen \"%s\" opened the target: %s", links[i], buf);
			}
			cr_expect_neq(err, -ETIMEDOUT);
			np_clunk(fx.c, f);
		}
	}
	expect_secret_intact();
}

Test(confinement, lopen_of_a_directory_symlink_does_not_list_the_target)
{
	const char *links[] = {"out", "etc", "rel"};
	for (int i = 0; i < 3; i++) {
		uint32_t f = walk_to(links[i]);
		int err = np_lopen(fx.c, f, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, NULL, NULL);
		if (err == 0) {
			static uint8_t buf[8192];
			uint32_t got = 0, pos = 0;
			struct np_dirent d;
			if (np_readdir(fx.c, f, 0, sizeof(buf), buf, &got) == 0)
				while (np_dirent_next(buf, got, &pos, &d) == 1)
					cr_expect(!(d.name.len == 6 && memcmp(d.name.s, "secret", 6) == 0) &&
						  !(d.name.len == 6 && memcmp(d.name.s, "passwd", 6) == 0),
						  "readdir of \"%s\" lists the target's %.*s", links[i],
						  d.name.len, d.name.s);
		}
	}
}

Test(confinement, getattr_of_a_symlink_describes_the_link)
{
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("pw"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISLNK(a.mode), "mode %o", a.mode);
	cr_expect_eq(a.size, strlen("/etc/passwd"));
	char buf[256];
	cr_assert_eq(np_readlink(fx.c, walk_to("pw"), buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "/etc/passwd");
}

Test(confinement, setattr_on_a_symlink_does_not_touch_the_target)
{
	uint32_t f = walk_to("sec");
	struct np_setattr sa = {.valid = NP_SETATTR_MODE, .mode = 0600};
	np_setattr(fx.c, f, &sa);
	sa = (struct np_setattr){.valid = NP_SETATTR_SIZE, .size = 0};
	np_setattr(fx.c, f, &sa);
	sa = (struct np_setattr){.valid = NP_SETATTR_UID | NP_SETATTR_GID, .uid = 1234, .gid = 1234};
	np_setattr(fx.c, f, &sa);
	char p[512];
	struct stat before, after;
	outside_path("secret", p, sizeof(p));
	cr_assert_eq(stat(p, &before), 0);
	sa = (struct np_setattr){.valid = NP_SETATTR_MTIME | NP_SETATTR_MTIME_SET, .mtime_sec = 1000};
	np_setattr(fx.c, f, &sa);
	cr_assert_eq(stat(p, &after), 0);
	cr_expect_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec, "the target's mtime changed");
	expect_secret_intact();
}

Test(confinement, xattr_on_a_symlink_does_not_reach_the_target)
{
	uint32_t f = walk_to("sec");
	np_xattr_set(fx.c, f, "user.evil", "x", 1, 0);
	char buf[16];
	char p[512];
	outside_path("secret", p, sizeof(p));
	cr_assert_eq(setxattr(p, "user.visible", "v", 1, 0), 0);
	int n = np_xattr_get(fx.c, f, "user.visible", buf, sizeof(buf));
	cr_expect_lt(n, 0, "xattr of the symlink's target read through the link");
	removexattr(p, "user.visible");
	expect_secret_intact();
}

Test(confinement, operations_in_a_directory_symlink_do_not_reach_the_target)
{
	uint32_t out = walk_to("out");
	uint32_t clone = walk_to("out");
	cr_expect_lt(np_lcreate(fx.c, clone, "evil", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0,
		     "Tlcreate in a symlink fid");
	cr_expect_lt(np_mkdir(fx.c, out, "evil-dir", 0755, 0, NULL), 0, "Tmkdir in a symlink fid");
	cr_expect_lt(np_symlink(fx.c, out, "evil-sym", "x", 0, NULL), 0, "Tsymlink in a symlink fid");
	cr_expect_lt(np_mknod(fx.c, out, "evil-fifo", S_IFIFO | 0644, 0, 0, 0, NULL), 0,
		     "Tmknod in a symlink fid");
	cr_expect_lt(np_link(fx.c, out, walk_to("f"), "evil-link"), 0, "Tlink into a symlink fid");
	cr_expect_lt(np_renameat(fx.c, fx.root, "f", out, "evil-moved"), 0,
		     "Trenameat into a symlink fid");
	cr_expect_lt(np_rename(fx.c, walk_to("f"), out, "evil-renamed"), 0,
		     "Trename into a symlink fid");
	cr_expect_lt(np_unlinkat(fx.c, out, "secret", 0), 0, "Tunlinkat in a symlink fid");
	cr_expect_lt(np_renameat(fx.c, out, "secret", fx.root, "stolen"), 0,
		     "Trenameat out of a symlink fid");
	const char *evil[] = {"evil", "evil-dir", "evil-sym", "evil-fifo", "evil-link",
			      "evil-moved", "evil-renamed"};
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++)
		cr_expect_not(outside_exists(evil[i]), "%s was created outside the export", evil[i]);
	expect_secret_intact();
	char buf[8];
	cr_expect_eq(np_fixture_read(&fx, "f", buf, sizeof(buf)), 6, "f moved away");
}

Test(confinement, lcreate_over_a_dangling_symlink_does_not_create_its_target)
{
	uint32_t d = walk_to("");
	int err = np_lcreate(fx.c, d, "dangling", NP_DOTL_RDWR, 0644, 0, NULL, NULL);
	cr_expect_lt(err, 0, "Tlcreate over a dangling symlink succeeded");
	cr_expect_not(outside_exists("newfile"), "the symlink's target was created outside");
	uint32_t d2 = walk_to("");
	np_lcreate(fx.c, d2, "sec", NP_DOTL_WRONLY | NP_DOTL_TRUNC, 0644, 0, NULL, NULL);
	expect_secret_intact();
}

Test(confinement, dotdot_chains_beyond_the_root_stay_at_the_root)
{
	struct np_attr root;
	cr_assert_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, &root), 0);
	const char *up[NP_MAXWELEM];
	for (int i = 0; i < NP_MAXWELEM; i++)
		up[i] = "..";
	struct np_qid q[NP_MAXWELEM];
	uint16_t n;
	uint32_t f = np_fid_new(fx.c);
	cr_assert_eq(np_walk(fx.c, fx.root, f, NP_MAXWELEM, up, &n, q), 0);
	cr_assert_eq(n, NP_MAXWELEM);
	for (int i = 0; i < NP_MAXWELEM; i++)
		cr_expect_eq(q[i].path, root.qid.path, "step %d left the root", i);
	/* Again and again from where it ended: still the root. */
	cr_assert_eq(np_walk(fx.c, f, f, NP_MAXWELEM, up, &n, q), 0);
	cr_expect_eq(q[NP_MAXWELEM - 1].path, root.qid.path);
	const char *down_up[] = {"a", "b", "..", "..", "..", "..", "..", "a"};
	cr_assert_eq(np_walk(fx.c, fx.root, np_fid_new(fx.c), 8, down_up, &n, q), 0);
	cr_assert_eq(n, 8);
	cr_expect_eq(q[5].path, root.qid.path);
	cr_expect_eq(q[7].path, q[0].path, "a/b/../../../../../a is not a");
}

Test(confinement, walking_dotdot_then_a_sibling_of_the_export_fails)
{
	char run[256], exp[256];
	snprintf(run, sizeof(run), "%s", fx.run_dir);
	snprintf(exp, sizeof(exp), "%s", fx.export_dir);
	const char *names[] = {"..", basename(run), "outside", "secret"};
	expect_walk_stops(4, names);
	/* The export's own name, seen from its parent, is not inside it. */
	const char *names2[] = {"..", basename(exp), "f"};
	expect_walk_stops(3, names2);
	const char *names3[] = {"..", "..", "etc", "passwd"};
	expect_walk_stops(4, names3);
}

/* --- bad names ----------------------------------------------------------------- */

/* A name given with its length, so that it can hold a NUL. */
struct badname {
	const char *s;
	uint16_t len;
};

static char escape[64];

static void init_bad_names(struct badname *b, size_t *n)
{
	snprintf(escape, sizeof(escape), "../np-escape-%d", (int)getpid());
	struct badname list[] = {
		{"", 0}, {".", 1}, {"..", 2}, {"a/b", 3}, {"a\0b", 3},
		{"/tmp", 4}, {escape, (uint16_t)strlen(escape)}, {"f\0", 2},
	};
	memcpy(b, list, sizeof(list));
	*n = sizeof(list) / sizeof(list[0]);
}

/* Recursive listing of the export (names, types, sizes) and the escape
 * target in the export's parent; compared before and after. */
static void snapshot_dir(int dfd, const char *prefix, FILE *out)
{
	int fd = dup(dfd);
	DIR *d = fdopendir(fd);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		fprintf(out, "%s/%s %o %lld\n", prefix, e->d_name, st.st_mode, (long long)st.st_size);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			char p[1024];
			snprintf(p, sizeof(p), "%s/%s", prefix, e->d_name);
			if (sub >= 0) {
				snapshot_dir(sub, p, out);
				close(sub);
			}
		}
	}
	closedir(d);
}

static char *snapshot(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int fd = open(fx.export_dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	/* Sort order does not matter: readdir order is stable without changes. */
	snapshot_dir(fd, "", out);
	close(fd);
	char p[512];
	snprintf(p, sizeof(p), "/tmp/np-escape-%d", (int)getpid());
	struct stat st;
	if (lstat(p, &st) == 0) {
		fprintf(out, "ESCAPED %s\n", p);
		unlink(p);
		rmdir(p);
	}
	fclose(out);
	return text;
}

static void expect_unchanged(const char *before, const char *op, const struct badname *b)
{
	char *after = snapshot();
	cr_expect_str_eq(after, before, "%s with name \"%.*s\" (len %u) changed the tree", op,
			 b->len, b->s, b->len);
	free(after);
}

static int rpc(struct np_msg *t)
{
	struct np_msg r;
	return np_rpc(fx.c, t, &r);
}

static struct np_str str_of(const struct badname *b)
{
	return (struct np_str){.s = b->s, .len = b->len};
}

Test(confinement, bad_names_are_refused_by_lcreate_mkdir_symlink_and_mknod)
{
	struct badname bad[16];
	size_t n;
	init_bad_names(bad, &n);
	char *before = snapshot();
	for (size_t i = 0; i < n; i++) {
		struct np_msg t = {.type = NP_TLCREATE};
		t.u.tlcreate.fid = walk_to("a");
		t.u.tlcreate.name = str_of(&bad[i]);
		t.u.tlcreate.flags = NP_DOTL_RDWR | NP_DOTL_EXCL;
		t.u.tlcreate.mode = 0644;
		int err = rpc(&t);
		cr_expect_lt(err, 0, "Tlcreate \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Tlcreate", &bad[i]);

		t = (struct np_msg){.type = NP_TMKDIR};
		t.u.tmkdir.dfid = walk_to("a");
		t.u.tmkdir.name = str_of(&bad[i]);
		t.u.tmkdir.mode = 0755;
		cr_expect_lt(rpc(&t), 0, "Tmkdir \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Tmkdir", &bad[i]);

		t = (struct np_msg){.type = NP_TSYMLINK};
		t.u.tsymlink.dfid = walk_to("a");
		t.u.tsymlink.name = str_of(&bad[i]);
		t.u.tsymlink.target = np_str_c("target");
		cr_expect_lt(rpc(&t), 0, "Tsymlink \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Tsymlink", &bad[i]);

		t = (struct np_msg){.type = NP_TMKNOD};
		t.u.tmknod.dfid = walk_to("a");
		t.u.tmknod.name = str_of(&bad[i]);
		t.u.tmknod.mode = S_IFIFO | 0644;
		cr_expect_lt(rpc(&t), 0, "Tmknod \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Tmknod", &bad[i]);
	}
	free(before);
}

Test(confinement, bad_names_are_refused_by_link_rename_renameat_and_unlinkat)
{
	struct badname bad[16];
	size_t n;
	init_bad_names(bad, &n);
	cr_assert_eq(np_fixture_write(&fx, "a/b/victim", "v", 1), 0);
	char *before = snapshot();
	for (size_t i = 0; i < n; i++) {
		struct np_msg t = {.type = NP_TLINK};
		t.u.tlink.dfid = walk_to("a");
		t.u.tlink.fid = walk_to("f");
		t.u.tlink.name = str_of(&bad[i]);
		cr_expect_lt(rpc(&t), 0, "Tlink \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Tlink", &bad[i]);

		t = (struct np_msg){.type = NP_TRENAME};
		t.u.trename.fid = walk_to("f");
		t.u.trename.dfid = walk_to("a");
		t.u.trename.name = str_of(&bad[i]);
		cr_expect_lt(rpc(&t), 0, "Trename to \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Trename", &bad[i]);

		t = (struct np_msg){.type = NP_TRENAMEAT};
		t.u.trenameat.olddirfid = fx.root;
		t.u.trenameat.oldname = np_str_c("f");
		t.u.trenameat.newdirfid = walk_to("a");
		t.u.trenameat.newname = str_of(&bad[i]);
		cr_expect_lt(rpc(&t), 0, "Trenameat to \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Trenameat (new name)", &bad[i]);

		t = (struct np_msg){.type = NP_TRENAMEAT};
		t.u.trenameat.olddirfid = walk_to("a");
		t.u.trenameat.oldname = str_of(&bad[i]);
		t.u.trenameat.newdirfid = fx.root;
		t.u.trenameat.newname = np_str_c("moved");
		cr_expect_lt(rpc(&t), 0, "Trenameat from \"%.*s\" succeeded", bad[i].len, bad[i].s);
		expect_unchanged(before, "Trenameat (old name)", &bad[i]);

		uint32_t flags[] = {0, NP_AT_REMOVEDIR};
		for (int k = 0; k < 2; k++) {
			t = (struct np_msg){.type = NP_TUNLINKAT};
			t.u.tunlinkat.dirfid = walk_to("a");
			t.u.tunlinkat.name = str_of(&bad[i]);
			t.u.tunlinkat.flags = flags[k];
			cr_expect_lt(rpc(&t), 0, "Tunlinkat \"%.*s\" flags %#x succeeded", bad[i].len,
				     bad[i].s, flags[k]);
			expect_unchanged(before, "Tunlinkat", &bad[i]);
		}
	}
	/* "b/victim" from a is a real file reached only through a '/'. */
	struct np_msg t = {.type = NP_TUNLINKAT};
	t.u.tunlinkat.dirfid = walk_to("a");
	t.u.tunlinkat.name = np_str_c("b/victim");
	cr_expect_lt(rpc(&t), 0, "Tunlinkat \"b/victim\" succeeded");
	expect_unchanged(before, "Tunlinkat", &(struct badname){"b/victim", 8});
	free(before);
}

Test(confinement, bad_names_are_refused_by_walk)
{
	cr_assert_eq(np_fixture_write(&fx, "a/b/victim", "v", 1), 0);
	struct badname bad[] = {{"", 0}, {"a/b", 3}, {"a\0b", 3}, {"/etc", 4}, {"b/victim", 8},
				{"a\0", 2}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct np_msg t = {.type = NP_TWALK}, r;
		uint32_t from = i == 4 ? walk_to("a") : fx.root;
		t.u.twalk.fid = from;
		t.u.twalk.newfid = np_fid_new(fx.c);
		t.u.twalk.nwname = 1;
		t.u.twalk.wnames[0] = str_of(&bad[i]);
		int err = np_rpc(fx.c, &t, &r);
		cr_expect(err < 0 || r.u.rwalk.nwqid == 0, "Twalk \"%.*s\" succeeded", bad[i].len,
			  bad[i].s);
		cr_expect_neq(err, -ETIMEDOUT);
	}
}

/* --- special files ------------------------------------------------------------- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Every lopen of the special file fails with ENXIO, promptly. */
static void expect_cannot_open(const char *name)
{
	uint32_t flags[] = {NP_DOTL_RDONLY, NP_DOTL_WRONLY, NP_DOTL_RDWR};
	fx.c->timeout_ms = 3000;
	for (int k = 0; k < 3; k++) {
		uint32_t f = walk_to(name);
		long t0 = now_ms();
		int err = np_lopen(fx.c, f, flags[k], NULL, NULL);
		long took = now_ms() - t0;
		cr_expect_eq(err, -ENXIO, "lopen \"%s\" flags %#o: %s", name, flags[k],
			     strerror(-err));
		cr_expect_lt(took, 2000, "lopen \"%s\" took %ld ms", name, took);
		if (err == -ETIMEDOUT)
			cr_assert_fail("the server blocked opening \"%s\"", name);
		np_clunk(fx.c, f);
	}
}

Test(confinement, device_node_can_be_stat_ed_but_not_opened)
{
	cr_assert_eq(np_mknod(fx.c, fx.root, "null", S_IFCHR | 0666, 1, 3, 0, NULL), 0);
	cr_assert_eq(np_mknod(fx.c, fx.root, "loop", S_IFBLK | 0660, 7, 0, 0, NULL), 0);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("null"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISCHR(a.mode));
	cr_assert_eq(np_getattr(fx.c, walk_to("loop"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISBLK(a.mode));
	expect_cannot_open("null");
	expect_cannot_open("loop");
}

Test(confinement, fifo_can_be_stat_ed_but_lopen_fails_without_blocking)
{
	char p[4096];
	cr_assert_eq(mkfifo(np_fixture_path(&fx, "fifo", p, sizeof(p)), 0666), 0);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("fifo"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISFIFO(a.mode));
	expect_cannot_open("fifo");
	/* The connection still answers. */
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(confinement, unix_socket_file_can_be_stat_ed_but_not_opened)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	np_fixture_path(&fx, "sock", sun.sun_path, sizeof(sun.sun_path));
	cr_assert_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(s, 1), 0);
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, walk_to("sock"), NP_GETATTR_BASIC, &a), 0);
	cr_expect(S_ISSOCK(a.mode));
	expect_cannot_open("sock");
	close(s);
}

/* --- deep paths ------------------------------------------------------------------ */

#define DEEP_LEVELS 20

Test(confinement, paths_deeper_than_path_max_work)
{
	char name[256];
	memset(name, 'd', 255);
	name[255] = '\0';
	/* Build it through 9P, one level at a time. */
	uint32_t cur = walk_to("");
	const char *one[] = {name};
	for (int i = 0; i < DEEP_LEVELS; i++) {
		int err = np_mkdir(fx.c, cur, name, 0755, 0, NULL);
		cr_assert_eq(err, 0, "Tmkdir at depth %d: %s", i, strerror(-err));
		uint16_t n;
		cr_assert_eq(np_walk(fx.c, cur, cur, 1, one, &n, NULL), 0);
		cr_assert_eq(n, 1, "walk to depth %d", i + 1);
	}
	cr_assert_gt(DEEP_LEVELS * 256, 4096);
	cr_assert_eq(np_lcreate(fx.c, cur, "file", NP_DOTL_RDWR, 0644, 0, NULL, NULL), 0);
	cr_assert_eq(np_write(fx.c, cur, 0, "deep", 4, NULL), 0);

	/* Walk down again from the root, 16 names per Twalk. */
	size_t len = DEEP_LEVELS * 256 + 8;
	char *path = malloc(len);
	cr_assert_not_null(path);
	path[0] = '\0';
	for (int i = 0; i < DEEP_LEVELS; i++) {
		strcat(path, name);
		strcat(path, "/");
	}
	strcat(path, "file");
	uint32_t f = np_fid_new(fx.c);
	int err = np_walk_path(fx.c, fx.root, f, path, NULL);
	cr_assert_eq(err, 0, "walk of %zu bytes: %s", strlen(path), strerror(-err));
	struct np_attr a;
	cr_assert_eq(np_getattr(fx.c, f, NP_GETATTR_BASIC, &a), 0);
	cr_expect_eq(a.size, 4);
	cr_assert_eq(np_lopen(fx.c, f, NP_DOTL_RDONLY, NULL, NULL), 0);
	char buf[8];
	uint32_t got;
	cr_assert_eq(np_read(fx.c, f, 0, sizeof(buf), buf, &got), 0);
	cr_expect_eq(got, 4);
	cr_expect_eq(memcmp(buf, "deep", 4), 0);

	/* The file is really there, that deep, on the host. */
	int dfd = open(fx.export_dir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < DEEP_LEVELS && dfd >= 0; i++) {
		int next = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		close(dfd);
		dfd = next;
	}
	cr_assert_geq(dfd, 0, "the host tree is not %d levels deep", DEEP_LEVELS);
	struct stat st;
	cr_expect_eq(fstatat(dfd, "file", &st, 0), 0);
	cr_expect_eq(st.st_size, 4);
	close(dfd);

	/* Operations that name things work at that depth too. */
	path[strlen(path) - strlen("/file")] = '\0';
	uint32_t dir = np_fid_new(fx.c);
	cr_assert_eq(np_walk_path(fx.c, fx.root, dir, path, NULL), 0);
	cr_expect_eq(np_renameat(fx.c, dir, "file", dir, "renamed"), 0);
	cr_expect_eq(np_symlink(fx.c, dir, "sym", "renamed", 0, NULL), 0);
	cr_expect_eq(np_unlinkat(fx.c, dir, "renamed", 0), 0);
	cr_expect_eq(np_unlinkat(fx.c, dir, "sym", 0), 0);
	cr_expect_eq(np_statfs(fx.c, dir, NULL), 0);
	free(path);
}

/* --- the export root itself --------------------------------------------------------- */

Test(confinement, remove_of_the_export_root_fails)
{
	/* An empty export, so that rmdir(2) itself would succeed. */
	cr_assert_eq(np_rmtree(fx.export_dir), 0);
	cr_assert_eq(mkdir(fx.export_dir, 0755), 0);
	struct np_client *c;
	/* The old root fid refers to the removed directory: attach anew. */
	cr_assert_eq(np_fixture_client(&fx, 0, &c, 1), 0);
	uint32_t r = np_fid_new(c);
	cr_assert_eq(np_walk(c, 1, r, 0, NULL, NULL, NULL), 0);
	cr_expect_lt(np_remove(c, r), 0, "Tremove of the export root succeeded");
	struct stat st;
	cr_expect_eq(stat(fx.export_dir, &st), 0, "the export directory is gone");
	np_client_close(c);
}

Test(confinement, rename_of_the_export_root_fails)
{
	char parent_entry[512], exp[256];
	snprintf(exp, sizeof(exp), "%s", fx.export_dir);
	cr_expect_lt(np_rename(fx.c, walk_to(""), walk_to("a"), "moved-root"), 0,
		     "Trename of the root into a subdirectory");
	cr_expect_lt(np_rename(fx.c, walk_to(""), walk_to(""), "renamed-root"), 0,
		     "Trename of the root");
	cr_expect_lt(np_renameat(fx.c, fx.root, "..", fx.root, "x"), 0);
	struct stat st;
	cr_expect_eq(stat(fx.export_dir, &st), 0, "the export directory moved");
	snprintf(parent_entry, sizeof(parent_entry), "%s/../renamed-root", exp);
	cr_expect_neq(stat(parent_entry, &st), 0, "the export was renamed in its parent");
	cr_expect_lt(np_link(fx.c, fx.root, walk_to(""), "rootlink"), 0);
}

Test(confinement, names_longer_than_255_bytes_are_refused)
{
	/* The longest still fits the fixture's msize of 65536. */
	static char longname[60001];
	size_t lens[] = {256, 4096, 60000};
	char *before = snapshot();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(longname, 'n', lens[i]);
		longname[lens[i]] = '\0';
		cr_expect_eq(np_lcreate(fx.c, walk_to("a"), longname, NP_DOTL_RDWR, 0644, 0, NULL, NULL),
			     -ENAMETOOLONG, "Tlcreate name of %zu bytes", lens[i]);
		cr_expect_eq(np_mkdir(fx.c, fx.root, longname, 0755, 0, NULL), -ENAMETOOLONG,
			     "Tmkdir name of %zu bytes", lens[i]);
		cr_expect_eq(np_symlink(fx.c, fx.root, longname, "t", 0, NULL), -ENAMETOOLONG,
			     "Tsymlink name of %zu bytes", lens[i]);
		cr_expect_eq(np_renameat(fx.c, fx.root, "f", fx.root, longname), -ENAMETOOLONG,
			     "Trenameat to a name of %zu bytes", lens[i]);
		cr_expect_eq(np_unlinkat(fx.c, fx.root, longname, 0), -ENAMETOOLONG,
			     "Tunlinkat of a name of %zu bytes", lens[i]);
		const char *names[] = {longname};
		int err = np_walk(fx.c, fx.root, np_fid_new(fx.c), 1, names, NULL, NULL);
		cr_expect_eq(err, -ENAMETOOLONG, "Twalk to a name of %zu bytes: %s", lens[i],
			     strerror(-err));
	}
	/* A symlink target may be long, but not beyond PATH_MAX. */
	memset(longname, 't', 60000);
	longname[60000] = '\0';
	cr_expect_eq(np_symlink(fx.c, fx.root, "longtarget", longname, 0, NULL), -ENAMETOOLONG);
	expect_unchanged(before, "long names", &(struct badname){"(long)", 6});
	free(before);
	cr_expect_eq(np_getattr(fx.c, fx.root, NP_GETATTR_BASIC, NULL), 0);
}

Test(confinement, dotdot_from_a_directory_moved_out_by_the_host_does_not_climb_the_host_tree)
{
	uint32_t b = walk_to("a/b");
	/* The host (not the client) moves a/ out of the export. */
	char from[512], to[512];
	np_fixture_path(&fx, "a", from, sizeof(from));
	outside_path("a", to, sizeof(to));
	cr_assert_eq(rename(from, to), 0, "host rename: %s", strerror(errno));
	const char *up[] = {"..", ".."};
	uint32_t nf = np_fid_new(fx.c);
	uint16_t got = 0;
	int err = np_walk(fx.c, b, nf, 2, up, &got, NULL);
	cr_expect(err < 0 || got == 0, "'..' from the moved directory got %u steps out", got);
	/* Walking down from it stays possible: it is the same directory. */
	cr_expect_eq(np_getattr(fx.c, b, NP_GETATTR_BASIC, NULL), 0);
	expect_secret_intact();
}

Test(confinement, guest_users_cannot_set_file_capabilities_or_trusted_xattrs)
{
	struct np_client *u;
	cr_assert_eq(np_fixture_client(&fx, 1000, &u, 7), 0);
	char p[512];
	np_fixture_path(&fx, "f", p, sizeof(p));
	cr_assert_eq(chmod(p, 0666), 0);
	uint32_t f = np_fid_new(u);
	cr_assert_eq(np_walk_path(u, 7, f, "f", NULL), 0);
	/* A valid-looking v2 capability blob: cap_setuid=ep. */
	static const uint8_t cap[20] = {0x01, 0x00, 0x00, 0x02, 0x80};
	cr_expect_eq(np_xattr_set(u, f, "security.capability", cap, sizeof(cap), 0), -EPERM);
	cr_expect_eq(np_xattr_set(u, f, "trusted.evil", "x", 1, 0), -EPERM);
	cr_expect_eq(getxattr(p, "security.capability", NULL, 0), -1, "a capability was stored");
	cr_expect_eq(getxattr(p, "trusted.evil", NULL, 0), -1, "a trusted xattr was stored");
	/* Neither does uid 0 (no cap_sys_admin, whatever the uid), and a
	 * trusted.* xattr the host set is nobody's to read. */
	uint32_t rf = walk_to("f");
	cr_expect_eq(np_xattr_set(fx.c, rf, "trusted.mark", "y", 1, 0), -EPERM);
	cr_assert_eq(setxattr(p, "trusted.host", "h", 1, 0), 0);
	char buf[8];
	cr_expect_eq(np_xattr_get(fx.c, rf, "trusted.host", buf, sizeof(buf)), -ENODATA);
	cr_expect_eq(np_xattr_get(u, f, "trusted.host", buf, sizeof(buf)), -ENODATA);
	np_client_close(u);
}

Test(confinement, the_unix_socket_is_not_connectable_by_other_users)
{
	struct stat st;
	cr_assert_eq(stat(fx.addr + 5, &st), 0);
	cr_expect_eq(st.st_mode & 0007, 0, "socket mode %o lets anyone attach", st.st_mode & 0777);
}
