/* Integration: the multidevs policies against real devices.
 *
 * Each test makes its own mount namespace (Criterion runs every test in a
 * forked process, and the daemon forked from it inherits the namespace, so
 * nothing leaks to the host), exports a plain directory under /tmp and
 * mounts two fresh tmpfs instances on `sub` and `sub2` inside it.  Fresh
 * tmpfs instances number their inodes alike (root 1, then 2, 3, ...), so the
 * same inode numbers live on two devices; setup checks that on the host
 * before any test relies on it.
 *
 * The tests need root (unshare and mount); without it they fail loudly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "np_client.h"

_Static_assert(EXDEV == 18, "a refused device is reported as errno 18 on the wire");

#define EXPORT_NAME "mdx"
#define READDIR_COUNT 8192
#define TOUCH_ROUNDS 5
/* One timeout for every suite: with different ones in one binary,
 * Criterion 2.4's runner leaks a 48-byte timer entry that LeakSanitizer
 * reports after the last test. */
#define TEST_TIMEOUT 60

/* What setup puts into the export, in creation order. */
struct object {
	const char *path;    /* relative to the export; "" is its root */
	const char *content; /* NULL for a directory */
};

static const struct object objects[] = {
	{"", NULL},
	{"top", "top, on the export's own device\n"},
	{"rootdir", NULL},
	{"rootdir/inner", "inner, on the export's own device\n"},
	{"sub", NULL}, /* a tmpfs mount point */
	{"sub/a", "a, on the first tmpfs\n"},
	{"sub/d", NULL},
	{"sub/d/b", "b, on the first tmpfs\n"},
	{"sub2", NULL}, /* a tmpfs mount point */
	{"sub2/a", "a, on the second tmpfs\n"},
	{"sub2/d", NULL},
	{"sub2/d/b", "b, on the second tmpfs\n"},
};
#define NOBJECTS (sizeof(objects) / sizeof(objects[0]))

static const char *const directories[] = {"", "rootdir", "sub", "sub/d", "sub2", "sub2/d"};
#define NDIRECTORIES (sizeof(directories) / sizeof(directories[0]))

static const char *const mount_points[] = {"sub", "sub2"};
#define NMOUNTS (sizeof(mount_points) / sizeof(mount_points[0]))

/* Names create_every_kind() makes, in this order. */
static const char *const created_names[] = {"newdir", "newlink", "newfifo", "newfile"};
#define NCREATED (sizeof(created_names) / sizeof(created_names[0]))

static struct {
	char export_dir[128];
	char run_dir[128];
	char addr[200];
	char state_path[200];
	bool mounted[NMOUNTS];
	bool running;
	struct np_daemon daemon;
	struct np_client *c;
	uint32_t root;
	struct np_qid root_qid;
} md;

/* ---- the host side ------------------------------------------------------ */

static const char *join(const char *dir, const char *name, char *buf, size_t cap)
{
	if (dir[0] && name[0])
		snprintf(buf, cap, "%s/%s", dir, name);
	else
		snprintf(buf, cap, "%s", dir[0] ? dir : name);
	return buf;
}

static const char *host_path(const char *rel, char *buf, size_t cap)
{
	return join(md.export_dir, rel, buf, cap);
}

static struct stat host_stat(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	cr_assert_eq(lstat(host_path(rel, p, sizeof(p)), &st), 0, "lstat %s: %s", p,
		     strerror(errno));
	return st;
}

static void host_write(const char *rel, const char *content)
{
	char p[PATH_MAX];
	int fd = open(host_path(rel, p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "create %s: %s", p, strerror(errno));
	size_t len = strlen(content);
	cr_assert_eq(write(fd, content, len), (ssize_t)len, "write %s: %s", p, strerror(errno));
	close(fd);
}

static bool is_mount_point(const char *rel)
{
	for (size_t i = 0; i < NMOUNTS; i++)
		if (strcmp(rel, mount_points[i]) == 0)
			return true;
	return false;
}

static void host_mkdir(const char *rel)
{
	char p[PATH_MAX];
	cr_assert_eq(mkdir(host_path(rel, p, sizeof(p)), 0755), 0, "mkdir %s: %s", p,
		     strerror(errno));
	if (!is_mount_point(rel))
		return;
	size_t i = 0;
	while (strcmp(rel, mount_points[i]) != 0)
		i++;
	cr_assert_eq(mount("ninepd-multidevs", p, "tmpfs", 0, "mode=0755,size=4m"), 0,
		     "mount tmpfs on %s: %s", p, strerror(errno));
	md.mounted[i] = true;
}

/* A private mount namespace for this test process and the daemons it
 * forks: the tmpfs mounts are seen by both and vanish with them. */
static void enter_private_mount_namespace(void)
{
	cr_assert_eq(geteuid(), 0,
		     "the multidevs tests mount tmpfs instances and must run as root "
		     "(euid is %u)", (unsigned)geteuid());
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0,
		     "making / private in the new namespace: %s", strerror(errno));
}

/* The precondition every test builds on: the two tmpfs instances are
 * devices of their own whose inode numbers collide, object for object. */
static void assert_tmpfs_inode_numbers_collide(void)
{
	static const char *const rel[] = {"", "a", "d", "d/b"};
	dev_t root = host_stat("").st_dev;
	struct stat m1 = host_stat("sub"), m2 = host_stat("sub2");
	cr_assert_neq(m1.st_dev, root, "precondition: sub is not a device of its own");
	cr_assert_neq(m2.st_dev, root, "precondition: sub2 is not a device of its own");
	cr_assert_neq(m1.st_dev, m2.st_dev, "precondition: sub and sub2 share a device");
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char p1[64], p2[64];
		struct stat s1 = host_stat(join("sub", rel[i], p1, sizeof(p1)));
		struct stat s2 = host_stat(join("sub2", rel[i], p2, sizeof(p2)));
		cr_assert_eq(s1.st_dev, m1.st_dev, "precondition: %s is on sub's device", p1);
		cr_assert_eq(s2.st_dev, m2.st_dev, "precondition: %s is on sub2's device", p2);
		cr_assert_eq(s1.st_ino, s2.st_ino,
			     "precondition: %s and %s should share an inode number (%llu, %llu)", p1,
			     p2, (unsigned long long)s1.st_ino, (unsigned long long)s2.st_ino);
	}
	cr_assert_eq(host_stat("top").st_dev, root, "precondition: top is on the root device");
	cr_assert_eq(host_stat("rootdir/inner").st_dev, root,
		     "precondition: rootdir/inner is on the root device");
}

static void make_layout(void)
{
	memset(&md, 0, sizeof(md));
	enter_private_mount_namespace();
	cr_assert_eq(np_tmpdir(md.export_dir, sizeof(md.export_dir), "ninepd-mdev-export"), 0);
	cr_assert_eq(chmod(md.export_dir, 0755), 0);
	cr_assert_eq(np_tmpdir(md.run_dir, sizeof(md.run_dir), "ninepd-mdev-run"), 0);
	snprintf(md.addr, sizeof(md.addr), "unix:%s/s", md.run_dir);
	snprintf(md.state_path, sizeof(md.state_path), "%s/state", md.run_dir);
	for (size_t i = 1; i < NOBJECTS; i++) {
		if (objects[i].content)
			host_write(objects[i].path, objects[i].content);
		else
			host_mkdir(objects[i].path);
	}
	assert_tmpfs_inode_numbers_collide();
}

/* ---- the daemon ----------------------------------------------------------- */

static const char *log_tail(const char *log)
{
	size_t len = strlen(log);
	return len > 3000 ? log + len - 3000 : log;
}

static struct np_client *connect_attached(uint32_t rootfid, struct np_qid *qid)
{
	struct np_client *c;
	int err = np_client_connect(&c, md.addr);
	cr_assert_eq(err, 0, "connect %s: %s", md.addr, strerror(-err));
	err = np_version(c, NP_CLIENT_MSIZE, NP_VERSION_9P2000L, NULL, NULL, 0);
	cr_assert_eq(err, 0, "Tversion: %s", strerror(-err));
	err = np_attach(c, rootfid, NP_NOFID, "root", EXPORT_NAME, 0, qid);
	cr_assert_eq(err, 0, "Tattach '" EXPORT_NAME "': %s", strerror(-err));
	return c;
}

/* Start ninepd on the export with opts appended to its spec (",multidevs=x")
 * and attach md.c to it. */
static void start_daemon(const char *opts)
{
	char spec[600];
	snprintf(spec, sizeof(spec), "%s,name=" EXPORT_NAME "%s", md.export_dir, opts);
	const char *argv[] = {"-l", md.addr, "-e", spec, NULL};
	int err = np_daemon_start(&md.daemon, argv);
	if (err < 0) {
		char *log = np_daemon_log(&md.daemon);
		cr_assert_fail("starting ninepd -e %s: %s; its log:\n%s", spec, strerror(-err),
			       log_tail(log));
	}
	md.running = true;
	md.root = 1;
	md.c = connect_attached(md.root, &md.root_qid);
}

/* Stop the daemon, which must still be alive, exit 0 on SIGTERM and leave no
 * sanitizer report.  Returns its log (caller frees). */
static char *stop_daemon(void)
{
	np_client_close(md.c);
	md.c = NULL;
	bool alive = np_daemon_alive(&md.daemon);
	int status = np_daemon_stop(&md.daemon);
	md.running = false;
	char *log = np_daemon_log(&md.daemon);
	np_daemon_cleanup(&md.daemon);
	cr_expect(alive, "ninepd died during the test; its log:\n%s", log_tail(log));
	cr_expect_eq(status, 0, "ninepd exited with %d after SIGTERM; its log:\n%s", status,
		     log_tail(log));
	cr_expect(np_log_clean(log), "sanitizer report in ninepd's log:\n%s", log_tail(log));
	return log;
}

static void teardown(void)
{
	if (md.running)
		free(stop_daemon());
	for (size_t i = 0; i < NMOUNTS; i++) {
		char p[PATH_MAX];
		if (md.mounted[i])
			cr_expect_eq(umount2(host_path(mount_points[i], p, sizeof(p)), MNT_DETACH), 0,
				     "umount %s: %s", p, strerror(errno));
		md.mounted[i] = false;
	}
	if (md.export_dir[0])
		np_rmtree(md.export_dir);
	if (md.run_dir[0])
		np_rmtree(md.run_dir);
}

static char *daemon_log(void)
{
	return np_daemon_log(&md.daemon);
}

/* Lines of log holding both a and b (b may be NULL). */
static size_t count_lines(const char *log, const char *a, const char *b)
{
	size_t n = 0;
	for (const char *line = log; *line;) {
		const char *end = strchrnul(line, '\n');
		char *copy = strndup(line, (size_t)(end - line));
		cr_assert_not_null(copy);
		n += strstr(copy, a) && (!b || strstr(copy, b));
		free(copy);
		line = *end ? end + 1 : end;
	}
	return n;
}

/* The last line of log holding both a and b, or NULL (caller frees). */
static char *last_line(const char *log, const char *a, const char *b)
{
	char *found = NULL;
	for (const char *line = log; *line;) {
		const char *end = strchrnul(line, '\n');
		char *copy = strndup(line, (size_t)(end - line));
		cr_assert_not_null(copy);
		if (strstr(copy, a) && (!b || strstr(copy, b))) {
			free(found);
			found = copy;
		} else {
			free(copy);
		}
		line = *end ? end + 1 : end;
	}
	return found;
}

/* "MAJ:MIN" of a host device, as the daemon prints it. */
static const char *dev_name(dev_t dev, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u:%u", major(dev), minor(dev));
	return buf;
}

struct counters {
	unsigned long long devices, prefixes, exact, forbidden;
};

/* Send SIGUSR1 and parse the counters line it makes the daemon log. */
static struct counters sigusr1_counters(const char *policy)
{
	char *log = daemon_log();
	size_t before = count_lines(log, "devices seen", NULL);
	free(log);
	cr_assert_eq(kill(md.daemon.pid, SIGUSR1), 0, "kill SIGUSR1: %s", strerror(errno));
	char key[64];
	snprintf(key, sizeof(key), "multidevs=%s: ", policy);
	for (int i = 0; i < 1000; i++) {
		log = daemon_log();
		if (count_lines(log, "devices seen", NULL) > before) {
			char *line = last_line(log, "devices seen", NULL);
			struct counters k;
			const char *at = strstr(line, key);
			cr_assert_not_null(at, "counters line without \"%s\": %s", key, line);
			cr_assert_not_null(strstr(line, "export '" EXPORT_NAME "'"),
					   "counters line does not name the export: %s", line);
			int got = sscanf(at + strlen(key),
					 "%llu devices seen, %llu prefixes, %llu exact-map entries, "
					 "%llu forbidden accesses",
					 &k.devices, &k.prefixes, &k.exact, &k.forbidden);
			cr_assert_eq(got, 4, "counters line does not parse: %s", line);
			free(line);
			free(log);
			return k;
		}
		free(log);
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	cr_assert_fail("no \"devices seen\" line within 10 s of SIGUSR1");
	return (struct counters){0};
}

static void expect_counters(struct counters got, struct counters want, const char *when)
{
	cr_expect_eq(got.devices, want.devices, "%s: %llu devices seen, expected %llu", when,
		     got.devices, want.devices);
	cr_expect_eq(got.prefixes, want.prefixes, "%s: %llu prefixes, expected %llu", when,
		     got.prefixes, want.prefixes);
	cr_expect_eq(got.exact, want.exact, "%s: %llu exact-map entries, expected %llu", when,
		     got.exact, want.exact);
	cr_expect_eq(got.forbidden, want.forbidden, "%s: %llu forbidden accesses, expected %llu",
		     when, got.forbidden, want.forbidden);
}

/* A multidevs event line must name the export, the device met first (sub's
 * tmpfs, which every test touches first) and where it was met. */
static void expect_event_line_names_export_device_and_path(const char *line)
{
	char dev[32], where[PATH_MAX + 8], real[PATH_MAX];
	cr_assert_not_null(realpath(md.export_dir, real));
	snprintf(where, sizeof(where), "%s/sub", real);
	cr_expect_not_null(strstr(line, "export '" EXPORT_NAME "'"), "no export name: %s", line);
	cr_expect_not_null(strstr(line, dev_name(host_stat("sub").st_dev, dev, sizeof(dev))),
			   "no device %s: %s", dev, line);
	cr_expect_not_null(strstr(line, where), "no path %s: %s", where, line);
}

/* ---- the client side ------------------------------------------------------ */

static uint32_t walk_fid(struct np_client *c, uint32_t root, const char *path, struct np_qid *q)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, root, f, path, q);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

/* The qid a Twalk from the root returns for path; the attach qid for "". */
static struct np_qid walk_qid_on(struct np_client *c, uint32_t root, const struct np_qid *root_qid,
				 const char *path)
{
	if (!path[0])
		return *root_qid;
	struct np_qid q;
	uint32_t f = walk_fid(c, root, path, &q);
	cr_assert_eq(np_clunk(c, f), 0);
	return q;
}

static struct np_qid walk_qid(const char *path)
{
	return walk_qid_on(md.c, md.root, &md.root_qid, path);
}

/* Like walk_qid(), one Twalk per name, each replacing the walked fid. */
static struct np_qid walk_qid_one_name_at_a_time(const char *path)
{
	struct np_qid q = md.root_qid;
	uint32_t f = np_fid_new(md.c);
	cr_assert_eq(np_walk(md.c, md.root, f, 0, NULL, NULL, NULL), 0);
	char copy[256], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", path);
	for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		const char *names[1] = {name};
		uint16_t n = 0;
		int err = np_walk(md.c, f, f, 1, names, &n, &q);
		cr_assert(err == 0 && n == 1, "walk \"%s\" in \"%s\": %s (%u qids)", name, path,
			  strerror(-err), n);
	}
	cr_assert_eq(np_clunk(md.c, f), 0);
	return q;
}

static struct np_qid getattr_qid(const char *path)
{
	uint32_t f = walk_fid(md.c, md.root, path, NULL);
	struct np_attr a;
	int err = np_getattr(md.c, f, NP_GETATTR_BASIC, &a);
	cr_assert_eq(err, 0, "getattr \"%s\": %s", path, strerror(-err));
	cr_assert_eq(np_clunk(md.c, f), 0);
	return a.qid;
}

static void expect_content(const char *path, const char *want)
{
	uint32_t f;
	int err = np_open(md.c, md.root, path, NP_DOTL_RDONLY, &f);
	cr_assert_eq(err, 0, "open \"%s\": %s", path, strerror(-err));
	char buf[256];
	uint32_t got = 0;
	err = np_read(md.c, f, 0, sizeof(buf) - 1, buf, &got);
	cr_assert(err >= 0, "read \"%s\": %s", path, strerror(-err));
	buf[got] = '\0';
	cr_expect_str_eq(buf, want, "\"%s\" reads \"%s\", expected \"%s\"", path, buf, want);
	cr_assert_eq(np_clunk(md.c, f), 0);
}

/* Every entry one readdir of a directory returned. */
struct listing {
	size_t n;
	struct {
		char name[256];
		struct np_qid qid;
	} e[64];
};

static int collect(void *arg, const struct np_dirent *d)
{
	struct listing *l = arg;
	cr_assert_lt(l->n, sizeof(l->e) / sizeof(l->e[0]), "more entries than the test made");
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%.*s", d->name.len, d->name.s);
	l->e[l->n].qid = d->qid;
	l->n++;
	return 0;
}

static void list_dir(const char *path, struct listing *l)
{
	uint32_t f;
	int err = np_open(md.c, md.root, path, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &f);
	cr_assert_eq(err, 0, "open directory \"%s\": %s", path, strerror(-err));
	memset(l, 0, sizeof(*l));
	err = np_readdir_all(md.c, f, READDIR_COUNT, collect, l);
	cr_assert_eq(err, 0, "readdir \"%s\": %s", path, strerror(-err));
	cr_assert_eq(np_clunk(md.c, f), 0);
}

static const struct np_qid *listed(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->e[i].name, name) == 0)
			return &l->e[i].qid;
	return NULL;
}

/* Every entry of every test directory, "." and ".." included, must carry
 * the qid a walk to it returns.  Returns the number of entries compared. */
static size_t expect_readdir_qids_equal_walk_qids(void)
{
	size_t compared = 0;
	for (size_t i = 0; i < NDIRECTORIES; i++) {
		const char *dir = directories[i];
		struct listing l;
		list_dir(dir, &l);
		for (size_t k = 0; k < l.n; k++) {
			char p[256];
			const char *name = l.e[k].name;
			join(dir, strcmp(name, ".") == 0 ? "" : name, p, sizeof(p));
			struct np_qid w = walk_qid(p);
			cr_expect_eq(l.e[k].qid.path, w.path,
				     "readdir of \"%s\": entry \"%s\" has qid.path %#llx, a walk to "
				     "\"%s\" %#llx",
				     dir, name, (unsigned long long)l.e[k].qid.path, p,
				     (unsigned long long)w.path);
			cr_expect_eq(l.e[k].qid.type, w.type,
				     "readdir of \"%s\": entry \"%s\" has qid.type %u, a walk %u", dir,
				     name, l.e[k].qid.type, w.type);
			compared++;
		}
	}
	return compared;
}

/* Under remap, qid paths follow host identity exactly: equal for the same
 * (st_dev, st_ino), different otherwise. */
static void expect_qid_paths_follow_host_identity(const struct np_qid *q, const char *const *paths,
						  size_t n, const char *how)
{
	struct stat st[64];
	cr_assert_leq(n, sizeof(st) / sizeof(st[0]));
	for (size_t i = 0; i < n; i++)
		st[i] = host_stat(paths[i]);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			bool same = st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino;
			if (same)
				cr_expect_eq(q[i].path, q[j].path, "%s: \"%s\" and \"%s\" are one file "
					     "but have qid paths %#llx and %#llx", how, paths[i],
					     paths[j], (unsigned long long)q[i].path,
					     (unsigned long long)q[j].path);
			else
				cr_expect_neq(q[i].path, q[j].path, "%s: \"%s\" and \"%s\" are "
					      "different files but share qid path %#llx", how,
					      paths[i], paths[j], (unsigned long long)q[i].path);
		}
	}
}

static const char *const *object_paths(void)
{
	static const char *paths[NOBJECTS];
	for (size_t i = 0; i < NOBJECTS; i++)
		paths[i] = objects[i].path;
	return paths;
}

/* The qids the creating requests returned for one new object of each kind
 * in dir, in created_names order, and the one Tlopen returned for the file. */
struct created {
	struct np_qid made[NCREATED];
	struct np_qid opened;
};

static struct created create_every_kind(const char *dir)
{
	struct created k;
	uint32_t d = walk_fid(md.c, md.root, dir, NULL);
	int err = np_mkdir(md.c, d, "newdir", 0755, 0, &k.made[0]);
	cr_assert_eq(err, 0, "mkdir in \"%s\": %s", dir, strerror(-err));
	err = np_symlink(md.c, d, "newlink", "a", 0, &k.made[1]);
	cr_assert_eq(err, 0, "symlink in \"%s\": %s", dir, strerror(-err));
	err = np_mknod(md.c, d, "newfifo", S_IFIFO | 0644, 0, 0, 0, &k.made[2]);
	cr_assert_eq(err, 0, "mknod in \"%s\": %s", dir, strerror(-err));
	/* Tlcreate turns d into the new open file. */
	err = np_lcreate(md.c, d, "newfile", NP_DOTL_RDWR, 0644, 0, &k.made[3], NULL);
	cr_assert_eq(err, 0, "lcreate in \"%s\": %s", dir, strerror(-err));
	cr_assert_eq(np_clunk(md.c, d), 0);

	char p[256];
	uint32_t f = walk_fid(md.c, md.root, join(dir, "newfile", p, sizeof(p)), NULL);
	err = np_lopen(md.c, f, NP_DOTL_RDONLY, &k.opened, NULL);
	cr_assert_eq(err, 0, "lopen \"%s\": %s", p, strerror(-err));
	cr_assert_eq(np_clunk(md.c, f), 0);
	return k;
}

/* The objects create_every_kind() made in sub and in sub2 collide by inode
 * number, as the ones setup made do. */
static void assert_created_inode_numbers_collide(void)
{
	for (size_t i = 0; i < NCREATED; i++) {
		char p1[64], p2[64];
		struct stat s1 = host_stat(join("sub", created_names[i], p1, sizeof(p1)));
		struct stat s2 = host_stat(join("sub2", created_names[i], p2, sizeof(p2)));
		cr_assert_eq(s1.st_ino, s2.st_ino,
			     "precondition: %s and %s should share an inode number (%llu, %llu)", p1,
			     p2, (unsigned long long)s1.st_ino, (unsigned long long)s2.st_ino);
	}
}

static const uint8_t created_types[NCREATED] = {NP_QTDIR, NP_QTSYMLINK, NP_QTFILE, NP_QTFILE};

/* Walks, getattrs, lists and reads everything on every device, rounds times. */
static void touch_everything(int rounds)
{
	for (int r = 0; r < rounds; r++) {
		struct listing l;
		for (size_t i = 0; i < NOBJECTS; i++) {
			(void)walk_qid(objects[i].path);
			if (objects[i].path[0])
				(void)getattr_qid(objects[i].path);
			if (objects[i].content)
				expect_content(objects[i].path, objects[i].content);
		}
		for (size_t i = 0; i < NDIRECTORIES; i++)
			list_dir(directories[i], &l);
	}
}

/* Fails the test if log holds a warning or error line, or any multidevs
 * event line. */
static void expect_no_multidevs_complaint(const char *log)
{
	cr_expect_eq(count_lines(log, " warning: ", NULL), 0, "warning lines in the log:\n%s",
		     log_tail(log));
	cr_expect_eq(count_lines(log, " error: ", NULL), 0, "error lines in the log:\n%s",
		     log_tail(log));
	cr_expect_eq(count_lines(log, "second device", NULL), 0, "log:\n%s", log_tail(log));
	cr_expect_eq(count_lines(log, "EXDEV", NULL), 0, "log:\n%s", log_tail(log));
}

/* ==== multidevs=remap ====================================================== */

static void setup_remap(void)
{
	make_layout();
	start_daemon(",multidevs=remap");
}

TestSuite(remap, .init = setup_remap, .fini = teardown, .timeout = TEST_TIMEOUT);

Test(remap, every_file_across_devices_has_a_distinct_qid_path_by_walk_getattr_and_readdir)
{
	struct np_qid walked[NOBJECTS], got[NOBJECTS], listed_q[NOBJECTS];
	for (size_t i = 0; i < NOBJECTS; i++) {
		walked[i] = walk_qid(objects[i].path);
		got[i] = i == 0 ? walked[0] : getattr_qid(objects[i].path);
		cr_expect_eq(got[i].path, walked[i].path,
			     "\"%s\": getattr qid.path %#llx, walk %#llx", objects[i].path,
			     (unsigned long long)got[i].path, (unsigned long long)walked[i].path);
	}
	/* Each object as an entry of its parent's listing; the root as "." */
	for (size_t i = 0; i < NOBJECTS; i++) {
		char parent[256];
		snprintf(parent, sizeof(parent), "%s", objects[i].path);
		char *slash = strrchr(parent, '/');
		const char *name = i == 0 ? "." : slash ? slash + 1 : objects[i].path;
		if (slash)
			*slash = '\0';
		else
			parent[0] = '\0';
		struct listing l;
		list_dir(parent, &l);
		const struct np_qid *q = listed(&l, name);
		cr_assert_not_null(q, "\"%s\" is not listed in \"%s\"", name, parent);
		listed_q[i] = *q;
	}
	expect_qid_paths_follow_host_identity(walked, object_paths(), NOBJECTS, "walk");
	expect_qid_paths_follow_host_identity(got, object_paths(), NOBJECTS, "getattr");
	expect_qid_paths_follow_host_identity(listed_q, object_paths(), NOBJECTS, "readdir");
}

Test(remap, the_same_file_keeps_its_qid_path_across_walks_and_connections)
{
	struct np_qid second_root;
	struct np_client *c2 = connect_attached(7, &second_root);
	cr_expect_eq(second_root.path, md.root_qid.path, "attach qid differs between connections");
	for (size_t i = 0; i < NOBJECTS; i++) {
		const char *p = objects[i].path;
		struct np_qid first = walk_qid(p), again = walk_qid(p);
		struct np_qid stepwise = walk_qid_one_name_at_a_time(p);
		struct np_qid other = walk_qid_on(c2, 7, &second_root, p);
		cr_expect_eq(again.path, first.path, "\"%s\": %#llx then %#llx", p,
			     (unsigned long long)first.path, (unsigned long long)again.path);
		cr_expect_eq(stepwise.path, first.path, "\"%s\" one name at a time: %#llx, at once %#llx",
			     p, (unsigned long long)stepwise.path, (unsigned long long)first.path);
		cr_expect_eq(other.path, first.path, "\"%s\" on a second connection: %#llx, first %#llx",
			     p, (unsigned long long)other.path, (unsigned long long)first.path);
	}
	np_client_close(c2);
}

Test(remap, readdir_entry_qids_equal_walk_qids_including_mount_points_and_their_contents)
{
	size_t compared = expect_readdir_qids_equal_walk_qids();
	/* 6 directories with "." and "..", plus top, rootdir, sub, sub2, inner,
	 * a and d twice, b twice. */
	cr_expect_eq(compared, 6 * 2 + 4 + 1 + 2 * 2 + 2, "compared %zu entries", compared);
	struct listing l;
	list_dir("", &l);
	cr_assert_not_null(listed(&l, "sub"));
	cr_assert_not_null(listed(&l, "sub2"));
	cr_expect_neq(listed(&l, "sub")->path, listed(&l, "sub2")->path,
		      "the two tmpfs roots (both inode 1) share a qid path in the listing");
}

Test(remap, qids_from_mkdir_symlink_mknod_lcreate_and_lopen_match_walk_and_differ_across_devices)
{
	struct created k1 = create_every_kind("sub"), k2 = create_every_kind("sub2");
	assert_created_inode_numbers_collide();
	const char *paths[2 * NCREATED];
	struct np_qid made[2 * NCREATED];
	char names[2 * NCREATED][64];
	for (size_t i = 0; i < NCREATED; i++) {
		for (int side = 0; side < 2; side++) {
			const struct created *k = side ? &k2 : &k1;
			size_t at = side * NCREATED + i;
			paths[at] = join(side ? "sub2" : "sub", created_names[i], names[at], 64);
			made[at] = k->made[i];
			struct np_qid w = walk_qid(paths[at]), g = getattr_qid(paths[at]);
			cr_expect_eq(k->made[i].path, w.path, "\"%s\": created with %#llx, walk %#llx",
				     paths[at], (unsigned long long)k->made[i].path,
				     (unsigned long long)w.path);
			cr_expect_eq(g.path, w.path, "\"%s\": getattr %#llx, walk %#llx", paths[at],
				     (unsigned long long)g.path, (unsigned long long)w.path);
			cr_expect_eq(k->made[i].type, created_types[i], "\"%s\": qid.type %u",
				     paths[at], k->made[i].type);
		}
	}
	cr_expect_eq(k1.opened.path, k1.made[3].path, "lopen qid differs from lcreate qid in sub");
	cr_expect_eq(k2.opened.path, k2.made[3].path, "lopen qid differs from lcreate qid in sub2");
	expect_qid_paths_follow_host_identity(made, paths, 2 * NCREATED, "created");
	/* New objects must not meet the old ones either. */
	const char *all_paths[NOBJECTS + 2 * NCREATED];
	struct np_qid all[NOBJECTS + 2 * NCREATED];
	for (size_t i = 0; i < NOBJECTS; i++) {
		all_paths[i] = objects[i].path;
		all[i] = walk_qid(objects[i].path);
	}
	for (size_t i = 0; i < 2 * NCREATED; i++) {
		all_paths[NOBJECTS + i] = paths[i];
		all[NOBJECTS + i] = made[i];
	}
	expect_qid_paths_follow_host_identity(all, all_paths, NOBJECTS + 2 * NCREATED, "all");
}

Test(remap, files_on_each_device_keep_their_own_content)
{
	for (size_t i = 0; i < NOBJECTS; i++)
		if (objects[i].content)
			expect_content(objects[i].path, objects[i].content);
}

Test(remap, logs_no_multidevs_warning_or_error_after_touching_every_device)
{
	touch_everything(TOUCH_ROUNDS);
	(void)create_every_kind("sub");
	(void)create_every_kind("sub2");
	char *log = stop_daemon();
	expect_no_multidevs_complaint(log);
	free(log);
}

Test(remap, sigusr1_reports_one_device_after_attach_and_three_after_both_tmpfs)
{
	expect_counters(sigusr1_counters("remap"), (struct counters){.devices = 1}, "after attach");
	touch_everything(1);
	/* Small tmpfs inode numbers share the prefix 0: one code per device. */
	expect_counters(sigusr1_counters("remap"), (struct counters){.devices = 3, .prefixes = 2},
			"after touching root and both tmpfs");
}

/* ==== multidevs=forbid ===================================================== */

static void setup_forbid(void)
{
	make_layout();
	start_daemon(",multidevs=forbid");
}

TestSuite(forbid, .init = setup_forbid, .fini = teardown, .timeout = TEST_TIMEOUT);

/* A walk that must fail outright; newfid must not exist afterwards. */
static void expect_walk_refused(uint16_t n, const char *const names[], int want)
{
	uint32_t f = np_fid_new(md.c);
	uint16_t nwqid = 99;
	int err = np_walk(md.c, md.root, f, n, names, &nwqid, NULL);
	cr_expect_eq(err, want, "walk \"%s\"...: got %d (%s), expected %d", names[0], err,
		     strerror(-err), want);
	cr_expect_eq(np_clunk(md.c, f), -EBADF, "the refused walk's newfid exists");
}

Test(forbid, walk_onto_a_mount_point_as_first_element_fails_with_exdev)
{
	static const char *const sub[] = {"sub"}, *const sub2[] = {"sub2"};
	static const char *const deeper[] = {"sub", "a"};
	expect_walk_refused(1, sub, -EXDEV);
	expect_walk_refused(1, sub2, -EXDEV);
	expect_walk_refused(2, deeper, -EXDEV);
}

Test(forbid, walk_crossing_a_mount_point_as_later_element_returns_a_partial_rwalk)
{
	static const char *const names[] = {"rootdir", "..", "sub", "a"};
	struct np_qid qids[NP_MAXWELEM];
	uint16_t nwqid = 0;
	uint32_t f = np_fid_new(md.c);
	int err = np_walk(md.c, md.root, f, 4, names, &nwqid, qids);
	cr_assert_eq(err, 0, "a partial walk is an Rwalk, got %s", strerror(-err));
	cr_expect_eq(nwqid, 2, "Rwalk holds %u qids, expected 2 (rootdir, ..)", nwqid);
	cr_expect_eq(qids[0].path, (uint64_t)host_stat("rootdir").st_ino);
	cr_expect_eq(qids[1].path, md.root_qid.path, "\"..\" from rootdir is not the root");
	cr_expect_eq(np_clunk(md.c, f), -EBADF, "a partial walk created newfid");
}

Test(forbid, attach_walk_getattr_read_and_create_keep_working_on_the_root_device)
{
	static const char *const sub[] = {"sub"};
	expect_walk_refused(1, sub, -EXDEV);
	cr_expect_eq(md.root_qid.path, (uint64_t)host_stat("").st_ino, "attach qid");
	for (size_t i = 0; i < 4; i++) {
		const char *p = objects[i].path;
		uint64_t ino = host_stat(p).st_ino;
		cr_expect_eq(walk_qid(p).path, ino, "walk \"%s\"", p);
		if (p[0])
			cr_expect_eq(getattr_qid(p).path, ino, "getattr \"%s\"", p);
		if (objects[i].content)
			expect_content(p, objects[i].content);
	}
	struct created k = create_every_kind("rootdir");
	for (size_t i = 0; i < NCREATED; i++) {
		char p[64];
		join("rootdir", created_names[i], p, sizeof(p));
		cr_expect_eq(k.made[i].path, (uint64_t)host_stat(p).st_ino, "created \"%s\"", p);
	}
	cr_expect_eq(k.opened.path, k.made[3].path, "lopen qid differs from lcreate qid");
}

Test(forbid, readdir_of_the_export_root_still_lists_the_mount_points)
{
	struct listing l;
	list_dir("", &l);
	static const char *const want[] = {".", "..", "top", "rootdir", "sub", "sub2"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_not_null(listed(&l, want[i]), "\"%s\" missing from the root listing",
				   want[i]);
	cr_expect_eq(l.n, 6, "%zu entries in the root listing", l.n);
	if (listed(&l, "sub"))
		cr_expect_eq(listed(&l, "sub")->type, NP_QTDIR);
}

Test(forbid, logs_exactly_one_exdev_line_naming_the_export_device_and_path)
{
	static const char *const sub[] = {"sub"}, *const sub2[] = {"sub2"};
	static const char *const later[] = {"rootdir", "..", "sub2"};
	expect_walk_refused(1, sub, -EXDEV); /* the first refusal: sub's device */
	for (int i = 0; i < TOUCH_ROUNDS; i++) {
		struct listing l;
		expect_walk_refused(1, sub, -EXDEV);
		expect_walk_refused(1, sub2, -EXDEV);
		uint16_t n = 0;
		cr_expect_eq(np_walk(md.c, md.root, np_fid_new(md.c), 3, later, &n, NULL), 0);
		cr_expect_eq(n, 2);
		list_dir("", &l);
	}
	char *log = daemon_log();
	size_t lines = count_lines(log, "multidevs=forbid", "EXDEV");
	cr_expect_eq(lines, 1, "%zu forbid lines after %d refusals; log:\n%s", lines,
		     1 + TOUCH_ROUNDS * 5, log_tail(log));
	char *line = last_line(log, "multidevs=forbid", "EXDEV");
	cr_assert_not_null(line);
	expect_event_line_names_export_device_and_path(line);
	cr_expect_eq(count_lines(log, "second device", NULL), 0, "log:\n%s", log_tail(log));
	free(line);
	free(log);
}

Test(forbid, sigusr1_counts_three_devices_and_every_refused_access)
{
	static const char *const sub[] = {"sub"}, *const sub2[] = {"sub2"};
	expect_walk_refused(1, sub, -EXDEV);
	expect_walk_refused(1, sub2, -EXDEV);
	expect_walk_refused(1, sub2, -EXDEV);
	expect_counters(sigusr1_counters("forbid"), (struct counters){.devices = 3, .forbidden = 3},
			"after three refused walks");
}

/* ==== multidevs=warn and multidevs=default ================================= */

/* Raw inode numbers everywhere: qid.path is the host's st_ino, so the
 * colliding tmpfs files share qid paths (the documented cost of warn). */
static void expect_raw_inode_numbers(void)
{
	for (size_t i = 0; i < NOBJECTS; i++) {
		const char *p = objects[i].path;
		uint64_t ino = host_stat(p).st_ino;
		cr_expect_eq(walk_qid(p).path, ino, "walk \"%s\": qid.path is not st_ino %llu", p,
			     (unsigned long long)ino);
		if (p[0])
			cr_expect_eq(getattr_qid(p).path, ino, "getattr \"%s\"", p);
	}
	cr_expect_eq(walk_qid("sub").path, walk_qid("sub2").path,
		     "the tmpfs roots should share qid path 1 under warn");
	cr_expect_eq(walk_qid("sub/a").path, walk_qid("sub2/a").path,
		     "sub/a and sub2/a should share a qid path under warn");
	cr_expect_eq(walk_qid("sub/d/b").path, walk_qid("sub2/d/b").path,
		     "sub/d/b and sub2/d/b should share a qid path under warn");
}

static void expect_created_qids_are_raw(void)
{
	struct created k1 = create_every_kind("sub"), k2 = create_every_kind("sub2");
	assert_created_inode_numbers_collide();
	for (size_t i = 0; i < NCREATED; i++) {
		char p1[64], p2[64];
		join("sub", created_names[i], p1, sizeof(p1));
		join("sub2", created_names[i], p2, sizeof(p2));
		cr_expect_eq(k1.made[i].path, (uint64_t)host_stat(p1).st_ino, "created \"%s\"", p1);
		cr_expect_eq(k2.made[i].path, (uint64_t)host_stat(p2).st_ino, "created \"%s\"", p2);
		cr_expect_eq(k1.made[i].path, k2.made[i].path, "%s and %s", p1, p2);
		cr_expect_eq(walk_qid(p1).path, k1.made[i].path, "walk \"%s\"", p1);
	}
	cr_expect_eq(k1.opened.path, k1.made[3].path, "lopen qid differs from lcreate qid");
}

/* Many accesses to both foreign devices, sub's first; then exactly one
 * "second device" line, naming the export, sub's device and its path. */
static void expect_one_second_device_line(const char *policy)
{
	(void)walk_qid("sub");
	touch_everything(TOUCH_ROUNDS);
	(void)create_every_kind("sub");
	(void)create_every_kind("sub2");
	char key[64];
	snprintf(key, sizeof(key), "multidevs=%s", policy);
	char *log = daemon_log();
	size_t lines = count_lines(log, key, "second device");
	cr_expect_eq(lines, 1, "%zu \"%s ... second device\" lines; log:\n%s", lines, key,
		     log_tail(log));
	char *line = last_line(log, key, "second device");
	cr_assert_not_null(line);
	expect_event_line_names_export_device_and_path(line);
	cr_expect_eq(count_lines(log, "EXDEV", NULL), 0, "log:\n%s", log_tail(log));
	cr_expect_eq(count_lines(log, " error: ", NULL), 0, "log:\n%s", log_tail(log));
	free(line);
	free(log);
}

static void expect_three_devices_counted(const char *policy)
{
	touch_everything(1);
	expect_counters(sigusr1_counters(policy), (struct counters){.devices = 3},
			"after touching root and both tmpfs");
}

static void setup_warn(void)
{
	make_layout();
	start_daemon(",multidevs=warn");
}

TestSuite(warn, .init = setup_warn, .fini = teardown, .timeout = TEST_TIMEOUT);

Test(warn, qid_paths_are_raw_inode_numbers_so_files_on_two_tmpfs_share_one)
{
	expect_raw_inode_numbers();
}

Test(warn, qids_from_mkdir_symlink_mknod_lcreate_and_lopen_are_raw_inode_numbers)
{
	expect_created_qids_are_raw();
}

Test(warn, readdir_entry_qids_equal_walk_qids_including_mount_points)
{
	size_t compared = expect_readdir_qids_equal_walk_qids();
	cr_expect_eq(compared, 6 * 2 + 4 + 1 + 2 * 2 + 2, "compared %zu entries", compared);
}

Test(warn, files_on_each_device_keep_their_own_content)
{
	for (size_t i = 0; i < NOBJECTS; i++)
		if (objects[i].content)
			expect_content(objects[i].path, objects[i].content);
}

Test(warn, logs_exactly_one_second_device_line_after_many_accesses_to_both_tmpfs)
{
	expect_one_second_device_line("warn");
}

Test(warn, sigusr1_reports_three_devices_seen)
{
	expect_three_devices_counted("warn");
}

static void setup_default(void)
{
	make_layout();
	start_daemon(",multidevs=default");
}

TestSuite(default_policy, .init = setup_default, .fini = teardown, .timeout = TEST_TIMEOUT);

Test(default_policy, qid_paths_are_raw_inode_numbers_so_files_on_two_tmpfs_share_one)
{
	expect_raw_inode_numbers();
}

Test(default_policy, qids_from_mkdir_symlink_mknod_lcreate_and_lopen_are_raw_inode_numbers)
{
	expect_created_qids_are_raw();
}

Test(default_policy, logs_exactly_one_second_device_line_after_many_accesses_to_both_tmpfs)
{
	expect_one_second_device_line("default");
}

Test(default_policy, sigusr1_reports_three_devices_seen)
{
	expect_three_devices_counted("default");
}

static void setup_unset(void)
{
	make_layout();
	start_daemon("");
}

TestSuite(no_multidevs_option, .init = setup_unset, .fini = teardown, .timeout = TEST_TIMEOUT);

Test(no_multidevs_option, behaves_as_default_raw_inodes_and_one_second_device_line)
{
	expect_raw_inode_numbers();
	expect_one_second_device_line("default");
}

/* ==== remap_state ========================================================== */

static void setup_layout_only(void)
{
	make_layout();
}

TestSuite(remap_state, .init = setup_layout_only, .fini = teardown, .timeout = TEST_TIMEOUT);

static const char *state_opts(char *buf, size_t cap)
{
	snprintf(buf, cap, ",multidevs=remap,remap_state=%s", md.state_path);
	return buf;
}

/* Walk every object, in the given direction, into q (indexed like objects). */
static void walk_all(struct np_qid q[NOBJECTS], bool backwards)
{
	for (size_t k = 0; k < NOBJECTS; k++) {
		size_t i = backwards ? NOBJECTS - 1 - k : k;
		q[i] = walk_qid(objects[i].path);
	}
}

Test(remap_state, restores_identical_qid_paths_after_a_restart)
{
	char opts[300];
	struct np_qid before[NOBJECTS], after[NOBJECTS], fresh[NOBJECTS];
	start_daemon(state_opts(opts, sizeof(opts)));
	walk_all(before, false);
	char *log = stop_daemon();
	cr_expect_not_null(strstr(log, "remap state saved to"), "log:\n%s", log_tail(log));
	free(log);
	struct stat st;
	cr_assert_eq(stat(md.state_path, &st), 0, "no state file %s after SIGTERM", md.state_path);

	/* Backwards, a fresh engine would give sub2 the code sub had. */
	start_daemon(state_opts(opts, sizeof(opts)));
	walk_all(after, true);
	log = stop_daemon();
	char want[300];
	snprintf(want, sizeof(want), "remap state restored from %s", md.state_path);
	cr_expect_not_null(strstr(log, want), "no \"%s\" in the log:\n%s", want, log_tail(log));
	free(log);
	for (size_t i = 0; i < NOBJECTS; i++)
		cr_expect_eq(after[i].path, before[i].path,
			     "\"%s\": %#llx before the restart, %#llx after", objects[i].path,
			     (unsigned long long)before[i].path, (unsigned long long)after[i].path);

	/* The comparison above can fail: without the state, the same walks
	 * hand out other paths. */
	start_daemon(",multidevs=remap");
	walk_all(fresh, true);
	free(stop_daemon());
	bool differs = false;
	for (size_t i = 0; i < NOBJECTS; i++)
		differs |= fresh[i].path != before[i].path;
	cr_expect(differs, "a fresh daemon walking backwards gave the same qid paths; "
			   "this test would not notice a lost state");
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, cap);
	close(fd);
	cr_assert(n > 0 && (size_t)n < cap, "read %s: %zd bytes", path, n);
	return (size_t)n;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

Test(remap_state, a_state_file_with_one_flipped_byte_makes_the_daemon_refuse_to_start)
{
	char opts[300], spec[600];
	start_daemon(state_opts(opts, sizeof(opts)));
	struct np_qid q[NOBJECTS];
	walk_all(q, false);
	free(stop_daemon());

	static uint8_t good[1 << 16], bad[1 << 16];
	size_t len = read_file(md.state_path, good, sizeof(good));
	snprintf(spec, sizeof(spec), "%s,name=" EXPORT_NAME "%s", md.export_dir, opts);
	const char *argv[] = {"-l", md.addr, "-e", spec, NULL};
	const size_t offsets[] = {0, len / 2, len - 1};
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		memcpy(bad, good, len);
		bad[offsets[i]] ^= 0x01;
		write_file(md.state_path, bad, len);
		struct np_daemon d;
		int status = np_daemon_run(&d, argv, 10000);
		char *log = np_daemon_log(&d);
		np_daemon_cleanup(&d);
		cr_expect(status > 0, "with byte %zu of %zu flipped ninepd exited with %d; log:\n%s",
			  offsets[i], len, status, log_tail(log));
		cr_expect_geq(count_lines(log, md.state_path, " error: "), 1,
			     "no error line naming %s (byte %zu flipped); log:\n%s", md.state_path,
			     offsets[i], log_tail(log));
		cr_expect(np_log_clean(log), "sanitizer report:\n%s", log_tail(log));
		free(log);
	}

	/* The refusals came from the flipped bytes: the intact file loads. */
	write_file(md.state_path, good, len);
	start_daemon(opts);
	struct np_qid again[NOBJECTS];
	walk_all(again, true);
	for (size_t i = 0; i < NOBJECTS; i++)
		cr_expect_eq(again[i].path, q[i].path, "\"%s\" after restoring the intact file",
			     objects[i].path);
}
