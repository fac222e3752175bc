/* Integration: the request contract as a table.
 *
 * One row per 9P2000.L request.  For each of five rules the row says what
 * the request must do under that rule, as probes (the object it acts on,
 * an argument, the reply wanted), or why the rule does not apply to it
 * (N/A and the reason).  A test per rule starts ninepd the way the rule
 * needs and, for every probe, builds a fresh tree on the host, sends the
 * request over a new connection with raw 9P frames and checks both sides:
 * the reply, and the host.  A refused request, or one that changes nothing
 * by nature, must leave every export exactly as it was (modes, owners,
 * sizes, contents, mtimes, xattrs); a modifying request that succeeds must
 * leave the effect the rule says (owner and group, host mode, mapped
 * xattrs).
 *
 *   readonly  -e A,name=a -e B,name=b,readonly; requests on b as uid 0:
 *             modifying ones get EROFS, the rest succeed;
 *   cross     -e A,name=a -e B,name=b,readonly -e C,name=c; requests whose
 *             fids come from two exports get EXDEV, whether or not one of
 *             them is read-only;
 *   non-root  -e A; uid 1000 on root-owned objects: what the host kernel
 *             refuses on ownership (chmod, chown, explicit times, device
 *             nodes, trusted.* and security.*) stays refused with EPERM;
 *             what only permission bits would refuse succeeds, since the
 *             guest kernel already decided with the caller's full
 *             credentials; new objects belong to 1000 and the gid asked;
 *   squash    -e A,squash_uid=1234,squash_gid=1234; attached as uid 0:
 *             the host checks everything as 1234 with no capability; new
 *             objects belong to 1234:1234;
 *   mapped    -e A,security_model=mapped-xattr; uid 1000: host objects
 *             stay the daemon's with 0600/0700 host modes; the guest's
 *             owner and mode live in user.virtfs.* only.
 *
 * The table is checked against the codec's message list (NP_MESSAGES in
 * proto/9p.h), and each runner asserts how many requests it exercised, so
 * that neither a new message nor an emptied table passes unnoticed.
 *
 * Needs root: the daemon switches fsuid per request, the host tree holds
 * files of root, 1000 and 1234, and the checks read every xattr. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "np_client.h"
#include "proto/9p.h"

#define NEW "new" /* the name every creating request makes */

/* ========================================================================= */
/* The rules                                                                  */
/* ========================================================================= */

enum rule { READONLY, CROSS, NON_ROOT, SQUASH, MAPPED, NRULES };

#define NEXPORTS 3

struct rule_conf {
	const char *name;
	const char *exports[NEXPORTS]; /* options after each export's path; NULL: none */
	int under_test;                /* the export single-export requests use */
	uint32_t uid;                  /* n_uname of the client */
	uint32_t gid;                  /* the gid creating requests ask for */
	uid_t own_uid;                 /* owner of the tree's "own" and "own/mine" */
	gid_t own_gid;
	uid_t new_uid;                 /* host owner of what the client creates */
	gid_t new_gid;
	bool mapped;
	unsigned min_requests;         /* the runner must exercise at least these */
};

static const struct rule_conf rules[NRULES] = {
	[READONLY] = {.name = "readonly", .exports = {",name=a", ",name=b,readonly"},
		      .under_test = 1, .min_requests = 27},
	[CROSS] = {.name = "cross", .exports = {",name=a", ",name=b,readonly", ",name=c"},
		   .min_requests = 3},
	[NON_ROOT] = {.name = "non-root", .exports = {",name=a"}, .uid = 1000, .gid = 2000,
		      .own_uid = 1000, .own_gid = 1000, .new_uid = 1000, .new_gid = 2000,
		      .min_requests = 25},
	[SQUASH] = {.name = "squash", .exports = {",name=a,squash_uid=1234,squash_gid=1234"},
		    .own_uid = 1234, .own_gid = 1234, .new_uid = 1234, .new_gid = 1234,
		    .min_requests = 25},
	[MAPPED] = {.name = "mapped", .exports = {",name=a,security_model=mapped-xattr"},
		    .uid = 1000, .gid = 1000, .mapped = true, .min_requests = 25},
};

/* ========================================================================= */
/* The table                                                                  */
/* ========================================================================= */

/* One request under one rule: `on` is the object (a path in the export;
 * "" is its root), `to` a second path or an xattr name, `arg` a flag word
 * whose meaning the row's driver gives, `want` the reply: 0 or -errno. */
struct probe {
	const char *on;
	const char *to;
	uint32_t arg;
	int want;
};

#define MAX_PROBES 5

struct cell {
	bool na;
	const char *what; /* what the rule makes the request do; N/A: why it does not apply */
	struct probe probes[MAX_PROBES];
};

struct run;
struct row {
	uint8_t type;
	bool modifies; /* a success changes the host (else it must not) */
	int (*drive)(struct run *x, const struct probe *p);
	struct cell rule[NRULES];
};

#define NA(why) {.na = true, .what = (why)}
#define DO(desc, ...) {.what = (desc), .probes = {__VA_ARGS__}}
#define P(on_, arg_, want_) {.on = (on_), .arg = (arg_), .want = (want_)}
#define P2(on_, to_, arg_, want_) {.on = (on_), .to = (to_), .arg = (arg_), .want = (want_)}

/* Cross-export probes: the first fid from export `from`, the second from
 * `to`.  The marker bit is above every mode and open flag an arg holds. */
#define XP_MARK 0x80000000u
#define XP(from, to) (XP_MARK | (unsigned)(from) << 4 | (unsigned)(to))
enum { EA = 0, EB = 1, EC = 2 };

/* Tsetattr probes. */
enum { SA_CHMOD = 1, SA_CHOWN_UID, SA_CHOWN_GID, SA_SIZE, SA_MTIME, SA_TIMES_NOW };

#define NO_FID_NA NA("names no fid, so no export and no identity to check")
#define ONE_FID_NA NA("names a single fid (or makes a new one in that fid's export)")

/*
 * The host tree of every export, made afresh for every probe:
 *   f        root 0600 "contents", user.k=v
 *   g        root 0644 "public", user.k=v
 *   d/       root 0755      d/inner  root 0600 "inner"
 *   p/       root 0700      p/x      root 0600 "x"
 *   e/       root 0755, empty
 *   l        symlink -> f
 *   own/     the rule's own_uid 0755   own/mine  own_uid 0644 "mine"
 *            (mapped: root 0700/0600 on the host with QEMU's xattrs
 *            recording uid 1000, gid 1000 and the guest modes)
 */
static int drive_version(struct run *x, const struct probe *p);
static int drive_attach(struct run *x, const struct probe *p);
static int drive_flush(struct run *x, const struct probe *p);
static int drive_walk(struct run *x, const struct probe *p);
static int drive_lopen(struct run *x, const struct probe *p);
static int drive_lcreate(struct run *x, const struct probe *p);
static int drive_read(struct run *x, const struct probe *p);
static int drive_write(struct run *x, const struct probe *p);
static int drive_clunk(struct run *x, const struct probe *p);
static int drive_remove(struct run *x, const struct probe *p);
static int drive_statfs(struct run *x, const struct probe *p);
static int drive_getattr(struct run *x, const struct probe *p);
static int drive_setattr(struct run *x, const struct probe *p);
static int drive_readlink(struct run *x, const struct probe *p);
static int drive_symlink(struct run *x, const struct probe *p);
static int drive_mknod(struct run *x, const struct probe *p);
static int drive_mkdir(struct run *x, const struct probe *p);
static int drive_link(struct run *x, const struct probe *p);
static int drive_rename(struct run *x, const struct probe *p);
static int drive_renameat(struct run *x, const struct probe *p);
static int drive_unlinkat(struct run *x, const struct probe *p);
static int drive_xattrwalk(struct run *x, const struct probe *p);
static int drive_xattrcreate(struct run *x, const struct probe *p);
static int drive_readdir(struct run *x, const struct probe *p);
static int drive_fsync(struct run *x, const struct probe *p);
static int drive_lock(struct run *x, const struct probe *p);
static int drive_getlock(struct run *x, const struct probe *p);

static const struct row table[] = {
	{NP_TVERSION, false, drive_version, {
		[READONLY] = DO("succeeds: a session request, whatever the exports", P("", 0, 0)),
		[CROSS] = NO_FID_NA, [NON_ROOT] = NO_FID_NA, [SQUASH] = NO_FID_NA,
		[MAPPED] = NO_FID_NA}},
	{NP_TAUTH, false, NULL, {
		[READONLY] = NA("no auth scheme: Tauth is refused (EOPNOTSUPP) before an export "
				"or identity is involved"),
		[CROSS] = NA("names only the new afid"),
		[NON_ROOT] = NA("no auth scheme: no identity is involved"),
		[SQUASH] = NA("no auth scheme: no identity is involved"),
		[MAPPED] = NA("no auth scheme: no security model is involved")}},
	{NP_TATTACH, false, drive_attach, {
		[READONLY] = DO("uid 0 and uid 1000 attach to the read-only export",
				P("", 0, 0), P("", 1000, 0)),
		[CROSS] = NA("names one new fid, in the export it attaches"),
		[NON_ROOT] = DO("any uid may attach", P("", 1000, 0)),
		[SQUASH] = DO("uid 0 attaches to the squashed export", P("", 0, 0)),
		[MAPPED] = DO("uid 1000 attaches", P("", 1000, 0))}},
	{NP_TFLUSH, false, drive_flush, {
		[READONLY] = DO("Tflush of an idle tag is answered Rflush", P("", 0, 0)),
		[CROSS] = NO_FID_NA, [NON_ROOT] = NO_FID_NA, [SQUASH] = NO_FID_NA,
		[MAPPED] = NO_FID_NA}},
	{NP_TWALK, false, drive_walk, {
		[READONLY] = DO("walks", P("d/inner", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("walks through a root 0700 directory: only its mode refuses",
				P("p/x", 0, 0)),
		[SQUASH] = DO("1234 cannot search a root 0700 directory",
			      P("p/x", 0, -EACCES), P("d/inner", 0, 0)),
		[MAPPED] = DO("the host checks as the daemon", P("p/x", 0, 0))}},
	{NP_TLOPEN, false, drive_lopen, {
		[READONLY] = DO("a write access mode or O_TRUNC is EROFS; O_RDONLY opens",
				P("f", NP_DOTL_WRONLY, -EROFS), P("f", NP_DOTL_RDWR, -EROFS),
				P("f", NP_DOTL_RDONLY | NP_DOTL_TRUNC, -EROFS),
				P("f", NP_DOTL_RDONLY, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("opens a root 0600 file read-write: only its mode refuses",
				P("f", NP_DOTL_RDWR, 0)),
		[SQUASH] = DO("1234 cannot read a root 0600 file; a 0644 one opens",
			      P("f", NP_DOTL_RDONLY, -EACCES), P("g", NP_DOTL_RDONLY, 0)),
		[MAPPED] = DO("opens read-write", P("f", NP_DOTL_RDWR, 0))}},
	{NP_TLCREATE, true, drive_lcreate, {
		[READONLY] = DO("EROFS", P("", 0, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("creates in a root 0755 directory (only its mode refuses), "
				"owned 1000 and the gid asked (2000)", P("d", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root 0755 directory; in its own, the file "
			      "is 1234:1234 whatever gid was asked",
			      P("d", 0, -EACCES), P("own", 0, 0)),
		[MAPPED] = DO("a daemon-owned 0600 host file; owner and mode in user.virtfs.*",
			      P("", 0, 0))}},
	{NP_TREAD, false, drive_read, {
		[READONLY] = DO("reads", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("reads a root 0600 file: only its mode refuses", P("f", 0, 0)),
		[SQUASH] = DO("reads a 0644 file", P("g", 0, 0)),
		[MAPPED] = DO("reads", P("f", 0, 0))}},
	{NP_TWRITE, true, drive_write, {
		[READONLY] = DO("EBADF: the only open a read-only export allows is O_RDONLY, and "
				"a write to it is EBADF, as write(2) on such a descriptor",
				P("f", 0, -EBADF)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("writes a root 0600 file: only its mode refuses", P("f", 0, 0)),
		[SQUASH] = DO("writes a file of 1234", P("own/mine", 0, 0)),
		[MAPPED] = DO("writes; the host file stays root's 0600", P("f", 0, 0))}},
	{NP_TCLUNK, false, drive_clunk, {
		[READONLY] = DO("clunks", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("clunks", P("f", 0, 0)),
		[SQUASH] = DO("clunks", P("f", 0, 0)),
		[MAPPED] = DO("clunks", P("f", 0, 0))}},
	{NP_TREMOVE, true, drive_remove, {
		[READONLY] = DO("EROFS", P("d/inner", 0, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("removes from a root 0755 directory: only its mode refuses",
				P("d/inner", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root 0755 directory; its own it can",
			      P("d/inner", 0, -EACCES), P("own/mine", 0, 0)),
		[MAPPED] = DO("removes", P("d/inner", 0, 0))}},
	{NP_TSTATFS, false, drive_statfs, {
		[READONLY] = DO("succeeds", P("", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("succeeds", P("", 0, 0)),
		[SQUASH] = DO("succeeds", P("", 0, 0)),
		[MAPPED] = DO("succeeds", P("", 0, 0))}},
	{NP_TGETATTR, false, drive_getattr, {
		[READONLY] = DO("the host's attributes", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("the host's attributes", P("f", 0, 0)),
		[SQUASH] = DO("the host's attributes", P("f", 0, 0)),
		[MAPPED] = DO("owner and mode from user.virtfs.*, else the host's",
			      P("own/mine", 0, 0), P("f", 0, 0))}},
	{NP_TSETATTR, true, drive_setattr, {
		[READONLY] = DO("EROFS for mode, size, owner, explicit and current times",
				P("f", SA_CHMOD, -EROFS), P("f", SA_SIZE, -EROFS),
				P("f", SA_CHOWN_UID, -EROFS), P("f", SA_MTIME, -EROFS),
				P("f", SA_TIMES_NOW, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("EPERM on a root file: chmod, chown uid, chown gid, explicit "
				"mtime (the owner or CAP_FOWNER/CAP_CHOWN only)",
				P("g", SA_CHMOD, -EPERM), P("g", SA_CHOWN_UID, -EPERM),
				P("g", SA_CHOWN_GID, -EPERM), P("g", SA_MTIME, -EPERM)),
		[SQUASH] = DO("EPERM without capabilities: chmod and explicit mtime of a root "
			      "file, giving away its own file, chown to a group 1234 is not in",
			      P("g", SA_CHMOD, -EPERM), P("own/mine", SA_CHOWN_UID, -EPERM),
			      P("own/mine", SA_CHOWN_GID, -EPERM), P("g", SA_MTIME, -EPERM)),
		[MAPPED] = DO("chmod and chown change user.virtfs.* only, never the host's mode "
			      "or owner",
			      P("g", SA_CHMOD, 0), P("g", SA_CHOWN_UID, 0),
			      P("g", SA_CHOWN_GID, 0))}},
	{NP_TREADLINK, false, drive_readlink, {
		[READONLY] = DO("reads the target", P("l", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("reads the target", P("l", 0, 0)),
		[SQUASH] = DO("reads the target", P("l", 0, 0)),
		[MAPPED] = DO("reads the target of a host symlink", P("l", 0, 0))}},
	{NP_TSYMLINK, true, drive_symlink, {
		[READONLY] = DO("EROFS", P("", 0, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("creates in a root 0755 directory, owned 1000:2000", P("d", 0, 0)),
		[SQUASH] = DO("owned 1234:1234; refused in a root directory",
			      P("own", 0, 0), P("d", 0, -EACCES)),
		[MAPPED] = DO("a daemon-owned 0600 regular host file holding the target",
			      P("", 0, 0))}},
	{NP_TMKNOD, true, drive_mknod, {
		[READONLY] = DO("EROFS", P("", S_IFIFO | 0640, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("a device node is EPERM (CAP_MKNOD); a FIFO is owned 1000:2000",
				P("own", S_IFCHR | 0640, -EPERM), P("own", S_IFIFO | 0640, 0)),
		[SQUASH] = DO("a device node is EPERM; a FIFO is owned 1234:1234",
			      P("own", S_IFCHR | 0640, -EPERM), P("own", S_IFIFO | 0640, 0)),
		[MAPPED] = DO("a device node is a daemon-owned 0600 regular host file",
			      P("", S_IFCHR | 0640, 0))}},
	{NP_TMKDIR, true, drive_mkdir, {
		[READONLY] = DO("EROFS", P("", 0, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("owned 1000:2000, in its own and in a root 0755 directory",
				P("own", 0, 0), P("d", 0, 0)),
		[SQUASH] = DO("owned 1234:1234; refused in a root directory",
			      P("own", 0, 0), P("d", 0, -EACCES)),
		[MAPPED] = DO("a daemon-owned 0700 host directory", P("", 0, 0))}},
	{NP_TLINK, true, drive_link, {
		[READONLY] = DO("EROFS", P2("f", "", 0, -EROFS)),
		[CROSS] = DO("EXDEV: fid and dfid of two exports, either way round, also when "
			     "one of them is read-only",
			     P2("f", "", XP(EB, EA), -EXDEV), P2("f", "", XP(EA, EB), -EXDEV),
			     P2("f", "", XP(EC, EA), -EXDEV), P2("f", "", XP(EA, EC), -EXDEV)),
		[NON_ROOT] = DO("links a root 0600 file into a root 0755 directory: only modes "
				"refuse", P2("f", "d", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root directory; its own it can",
			      P2("own/mine", "d", 0, -EACCES), P2("own/mine", "own", 0, 0)),
		[MAPPED] = DO("links", P2("f", "d", 0, 0))}},
	{NP_TRENAME, true, drive_rename, {
		[READONLY] = DO("EROFS", P2("d/inner", "e", 0, -EROFS)),
		[CROSS] = DO("EXDEV: fid and dfid of two exports, either way round, also when "
			     "one of them is read-only",
			     P2("d/inner", "e", XP(EA, EB), -EXDEV),
			     P2("d/inner", "e", XP(EB, EA), -EXDEV),
			     P2("d/inner", "e", XP(EA, EC), -EXDEV),
			     P2("d/inner", "e", XP(EC, EA), -EXDEV)),
		[NON_ROOT] = DO("moves a root file between root 0755 directories",
				P2("d/inner", "e", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root directory",
			      P2("d/inner", "own", 0, -EACCES)),
		[MAPPED] = DO("moves", P2("d/inner", "e", 0, 0))}},
	{NP_TRENAMEAT, true, drive_renameat, {
		[READONLY] = DO("EROFS", P2("d/inner", "e", 0, -EROFS)),
		[CROSS] = DO("EXDEV: directory fids of two exports, either way round, also "
			     "when one of them is read-only",
			     P2("d/inner", "e", XP(EA, EB), -EXDEV),
			     P2("d/inner", "e", XP(EB, EA), -EXDEV),
			     P2("d/inner", "e", XP(EA, EC), -EXDEV),
			     P2("d/inner", "e", XP(EC, EA), -EXDEV)),
		[NON_ROOT] = DO("moves a root file between root 0755 directories",
				P2("d/inner", "e", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root directory",
			      P2("d/inner", "own", 0, -EACCES)),
		[MAPPED] = DO("moves", P2("d/inner", "e", 0, 0))}},
	{NP_TUNLINKAT, true, drive_unlinkat, {
		[READONLY] = DO("EROFS, file and directory",
				P("d/inner", 0, -EROFS), P("e", NP_AT_REMOVEDIR, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("unlinks from a root 0755 directory: only its mode refuses",
				P("d/inner", 0, 0)),
		[SQUASH] = DO("1234 cannot write a root directory; its own it can",
			      P("d/inner", 0, -EACCES), P("own/mine", 0, 0)),
		[MAPPED] = DO("unlinks files and directories",
			      P("d/inner", 0, 0), P("e", NP_AT_REMOVEDIR, 0))}},
	{NP_TXATTRWALK, false, drive_xattrwalk, {
		[READONLY] = DO("reads a user.* xattr", P2("f", "user.k", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("reads user.* of a root 0600 file: only its mode refuses",
				P2("f", "user.k", 0, 0)),
		[SQUASH] = DO("1234 cannot read user.* of a root 0600 file; of a 0644 one it can",
			      P2("f", "user.k", 0, -EACCES), P2("g", "user.k", 0, 0)),
		[MAPPED] = DO("user.* is read; user.virtfs.* does not exist for the guest",
			      P2("f", "user.k", 0, 0),
			      P2("own/mine", "user.virtfs.mode", 0, -ENODATA))}},
	{NP_TXATTRCREATE, true, drive_xattrcreate, {
		[READONLY] = DO("EROFS", P2("f", "user.n", 0, -EROFS)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("trusted.* and security.* are EPERM even on its own file; user.* "
				"is set", P2("own/mine", "trusted.n", 0, -EPERM),
				P2("own/mine", "security.n", 0, -EPERM),
				P2("own/mine", "user.n", 0, 0)),
		[SQUASH] = DO("1234 cannot write user.* of a root 0600 file (refused when the "
			      "Tclunk sets it); trusted.* is EPERM; its own file takes user.*",
			      P2("f", "user.n", 0, -EACCES), P2("own/mine", "trusted.n", 0, -EPERM),
			      P2("own/mine", "user.n", 0, 0)),
		[MAPPED] = DO("user.virtfs.* cannot be set (EACCES); user.* is set",
			      P2("own/mine", "user.virtfs.mode", 0, -EACCES),
			      P2("f", "user.n", 0, 0))}},
	{NP_TREADDIR, false, drive_readdir, {
		[READONLY] = DO("lists", P("d", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("lists a root 0700 directory: only its mode refuses", P("p", 0, 0)),
		[SQUASH] = DO("lists a 0755 directory; a root 0700 one does not open",
			      P("d", 0, 0), P("p", 0, -EACCES)),
		[MAPPED] = DO("lists", P("p", 0, 0))}},
	{NP_TFSYNC, false, drive_fsync, {
		[READONLY] = DO("syncs a file opened for reading", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("syncs", P("g", 0, 0)),
		[SQUASH] = DO("syncs", P("g", 0, 0)),
		[MAPPED] = DO("syncs", P("f", 0, 0))}},
	{NP_TLOCK, false, drive_lock, {
		[READONLY] = DO("takes a read lock", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("takes a read lock", P("g", 0, 0)),
		[SQUASH] = DO("takes a read lock", P("g", 0, 0)),
		[MAPPED] = DO("takes a read lock", P("f", 0, 0))}},
	{NP_TGETLOCK, false, drive_getlock, {
		[READONLY] = DO("reports no conflicting lock", P("f", 0, 0)),
		[CROSS] = ONE_FID_NA,
		[NON_ROOT] = DO("reports no conflicting lock", P("g", 0, 0)),
		[SQUASH] = DO("reports no conflicting lock", P("g", 0, 0)),
		[MAPPED] = DO("reports no conflicting lock", P("f", 0, 0))}},
};

#define NROWS (sizeof(table) / sizeof(table[0]))

/* The codec's T-numbers that are not requests a client sends. */
static const struct {
	uint8_t type;
	const char *why;
} not_requests[] = {
	{NP_TLERROR, "9P2000.L has Rlerror only; the number is listed to keep the table "
		     "uniform and the server answers it ENOSYS"},
};

/* ========================================================================= */
/* A run: one daemon for one rule                                             */
/* ========================================================================= */

struct run {
	const struct rule_conf *rule;
	int nexports;
	char dirs[NEXPORTS][128];
	char run_dir[128];
	char addr[200];
	struct np_daemon d;
	struct np_client *c;      /* this probe's connection */
	uint32_t root[NEXPORTS];  /* its root fid of each export (0: not attached) */
	const char *at;           /* the step that answered last */
};

static const char *errname(int err)
{
	static _Thread_local char buf[32];
	if (err == 0)
		return "success";
	const char *n = strerrorname_np(-err);
	snprintf(buf, sizeof(buf), "-%s", n ? n : "?");
	return buf;
}

/* Records the step about to run, runs it and returns its result if it failed. */
#define STEP(x, name, call)                                                            \
	do {                                                                           \
		(x)->at = (name);                                                      \
		int step_err_ = (call);                                                \
		if (step_err_ < 0)                                                     \
			return step_err_;                                              \
	} while (0)

static const char *host(const struct run *x, int exp, const char *rel, char buf[PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s%s%s", x->dirs[exp], *rel ? "/" : "", rel);
	return buf;
}
#define HOST(x, exp, rel) host((x), (exp), (rel), (char[PATH_MAX]){0})

static const char *join(char buf[PATH_MAX], const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s%s%s", dir, *dir ? "/" : "", name);
	return buf;
}
#define JOIN(dir, name) join((char[PATH_MAX]){0}, (dir), (name))

/* "d/inner" -> "d" and "inner". */
static void split(const char *rel, char dir[PATH_MAX], const char **name)
{
	const char *slash = strrchr(rel, '/');
	snprintf(dir, PATH_MAX, "%.*s", slash ? (int)(slash - rel) : 0, rel);
	*name = slash ? slash + 1 : rel;
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* user.virtfs.<key> of a host path as a 4-byte number; -errno if absent. */
static int host_virtfs(const char *path, const char *key, uint32_t *v)
{
	char name[64];
	uint8_t b[8];
	snprintf(name, sizeof(name), "user.virtfs.%s", key);
	ssize_t n = lgetxattr(path, name, b, sizeof(b));
	if (n < 0)
		return -errno;
	if (n != 4)
		return -EINVAL;
	*v = le32(b);
	return 0;
}

static void set_virtfs(const char *path, const char *key, uint32_t v)
{
	char name[64];
	uint8_t b[4];
	snprintf(name, sizeof(name), "user.virtfs.%s", key);
	put_le32(b, v);
	cr_assert_eq(lsetxattr(path, name, b, 4, 0), 0, "setxattr %s on %s: %s", name, path,
		     strerror(errno));
}

/* ---- the host tree ---------------------------------------------------- */

static void make_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

static void make_dir(const char *path, mode_t mode)
{
	cr_assert_eq(mkdir(path, mode), 0, "mkdir %s: %s", path, strerror(errno));
	cr_assert_eq(chmod(path, mode), 0);
}

static void empty_dir(const char *path)
{
	DIR *dir = opendir(path);
	cr_assert_not_null(dir, "opendir %s: %s", path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		cr_assert_eq(np_rmtree(p), 0, "removing %s", p);
	}
	closedir(dir);
}

static void build_tree(const struct run *x, int exp)
{
	const struct rule_conf *r = x->rule;
	empty_dir(x->dirs[exp]);
	make_file(HOST(x, exp, "f"), "contents", 0600);
	make_file(HOST(x, exp, "g"), "public", 0644);
	make_dir(HOST(x, exp, "d"), 0755);
	make_file(HOST(x, exp, "d/inner"), "inner", 0600);
	make_dir(HOST(x, exp, "p"), 0700);
	make_file(HOST(x, exp, "p/x"), "x", 0600);
	make_dir(HOST(x, exp, "e"), 0755);
	cr_assert_eq(symlink("f", HOST(x, exp, "l")), 0);
	cr_assert_eq(lsetxattr(HOST(x, exp, "f"), "user.k", "v", 1, 0), 0);
	cr_assert_eq(lsetxattr(HOST(x, exp, "g"), "user.k", "v", 1, 0), 0);
	if (r->mapped) {
		/* As a QEMU guest's uid 1000 would have left them. */
		make_dir(HOST(x, exp, "own"), 0700);
		make_file(HOST(x, exp, "own/mine"), "mine", 0600);
		set_virtfs(HOST(x, exp, "own"), "uid", 1000);
		set_virtfs(HOST(x, exp, "own"), "gid", 1000);
		set_virtfs(HOST(x, exp, "own"), "mode", S_IFDIR | 0755);
		set_virtfs(HOST(x, exp, "own/mine"), "uid", 1000);
		set_virtfs(HOST(x, exp, "own/mine"), "gid", 1000);
		set_virtfs(HOST(x, exp, "own/mine"), "mode", S_IFREG | 0644);
	} else {
		make_dir(HOST(x, exp, "own"), 0755);
		make_file(HOST(x, exp, "own/mine"), "mine", 0644);
		cr_assert_eq(chown(HOST(x, exp, "own"), r->own_uid, r->own_gid), 0);
		cr_assert_eq(chown(HOST(x, exp, "own/mine"), r->own_uid, r->own_gid), 0);
	}
}

/* ---- snapshots: everything a request could change --------------------- */

static int skip_dots(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void snap_xattrs(FILE *out, const char *path)
{
	char list[4096];
	ssize_t n = llistxattr(path, list, sizeof(list));
	if (n < 0) {
		fprintf(out, " xattrs:%s", strerror(errno));
		return;
	}
	/* Sort the names: the file system's order is no property of the tree. */
	const char *names[64];
	size_t count = 0;
	for (ssize_t pos = 0; pos < n && count < 64; pos += (ssize_t)strlen(list + pos) + 1)
		names[count++] = list + pos;
	qsort(names, count, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < count; i++) {
		uint8_t v[256];
		ssize_t len = lgetxattr(path, names[i], v, sizeof(v));
		fprintf(out, " %s=", names[i]);
		for (ssize_t k = 0; k < len; k++)
			fprintf(out, "%02x", v[k]);
	}
}

static void snap(FILE *out, const char *path, const char *rel)
{
	struct stat st;
	if (lstat(path, &st)) {
		fprintf(out, "%s: %s\n", rel, strerror(errno));
		return;
	}
	fprintf(out, "%s %o %u:%u size %lld mtime %lld.%09ld nlink %lu rdev %#llx", rel,
		st.st_mode, st.st_uid, st.st_gid, (long long)st.st_size,
		(long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (unsigned long)st.st_nlink,
		(unsigned long long)st.st_rdev);
	if (S_ISLNK(st.st_mode)) {
		char target[256];
		ssize_t n = readlink(path, target, sizeof(target));
		fprintf(out, " -> %.*s", n > 0 ? (int)n : 0, target);
	} else if (S_ISREG(st.st_mode)) {
		char data[256];
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, data, sizeof(data)) : -1;
		if (fd >= 0)
			close(fd);
		fprintf(out, " [%.*s]", n > 0 ? (int)n : 0, data);
	}
	snap_xattrs(out, path);
	fputc('\n', out);
	if (!S_ISDIR(st.st_mode))
		return;
	struct dirent **list;
	int n = scandir(path, &list, skip_dots, alphasort);
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX], r[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", path, list[i]->d_name);
		snprintf(r, sizeof(r), "%s/%s", rel, list[i]->d_name);
		snap(out, p, r);
		free(list[i]);
	}
	free(n >= 0 ? list : NULL);
}

/* Every export of the run (malloc'd). */
static char *snapshot(const struct run *x)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	for (int i = 0; i < x->nexports; i++) {
		char name[8];
		snprintf(name, sizeof(name), "%c:", 'a' + i);
		snap(out, x->dirs[i], name);
	}
	fclose(out);
	return text;
}

/* ---- the daemon and the connections ----------------------------------- */

static const char *export_name(int exp)
{
	static const char *names[] = {"a", "b", "c"};
	return names[exp];
}

static void start_run(struct run *x, enum rule id)
{
	memset(x, 0, sizeof(*x));
	x->d.stdio_fd = -1;
	x->rule = &rules[id];
	cr_assert_eq(np_tmpdir(x->run_dir, sizeof(x->run_dir), "ninepd-contract-run"), 0);
	snprintf(x->addr, sizeof(x->addr), "unix:%s/s", x->run_dir);
	const char *argv[4 + 2 * NEXPORTS] = {"-l", x->addr};
	char specs[NEXPORTS][256];
	size_t argc = 2;
	for (int i = 0; i < NEXPORTS && x->rule->exports[i]; i++) {
		/* All in /tmp: one host file system, so only the export
		 * boundary can refuse a link or rename between them. */
		cr_assert_eq(np_tmpdir(x->dirs[i], sizeof(x->dirs[i]), "ninepd-contract"), 0);
		cr_assert_eq(chmod(x->dirs[i], 0755), 0);
		snprintf(specs[i], sizeof(specs[i]), "%s%s", x->dirs[i], x->rule->exports[i]);
		argv[argc++] = "-e";
		argv[argc++] = specs[i];
		x->nexports++;
	}
	int err = np_daemon_start(&x->d, argv);
	char *log = err ? np_daemon_log(&x->d) : NULL;
	cr_assert_eq(err, 0, "starting ninepd: %s\n%s", strerror(-err), log ? log : "");
	free(log);
}

static void finish_run(struct run *x)
{
	bool alive = np_daemon_alive(&x->d);
	np_daemon_stop(&x->d);
	char *log = np_daemon_log(&x->d);
	cr_expect(alive, "ninepd died; log:\n%s", log ? log : "");
	cr_expect(log && np_log_clean(log), "sanitizer report:\n%s", log ? log : "");
	free(log);
	np_daemon_cleanup(&x->d);
	for (int i = 0; i < x->nexports; i++)
		np_rmtree(x->dirs[i]);
	np_rmtree(x->run_dir);
}

/* A connection that has negotiated the version, attached to nothing yet. */
static int connect_versioned(const struct run *x, struct np_client **out)
{
	int err = np_client_connect(out, x->addr);
	if (err == 0)
		err = np_version(*out, NP_CLIENT_MSIZE, NP_VERSION_9P2000L, NULL, NULL, 0);
	if (err < 0) {
		np_client_close(*out);
		*out = NULL;
	}
	return err;
}

/* The probe's connection: the rule's export(s) attached as the rule's uid. */
static void open_probe_connection(struct run *x)
{
	int err = connect_versioned(x, &x->c);
	cr_assert_eq(err, 0, "[%s] connecting: %s", x->rule->name, strerror(-err));
	memset(x->root, 0, sizeof(x->root));
	for (int i = 0; i < x->nexports; i++) {
		if (x->rule != &rules[CROSS] && i != x->rule->under_test)
			continue;
		x->root[i] = 1 + (uint32_t)i;
		err = np_attach(x->c, x->root[i], NP_NOFID, "", export_name(i), x->rule->uid, NULL);
		cr_assert_eq(err, 0, "[%s] attach to %s as uid %u: %s", x->rule->name,
			     export_name(i), x->rule->uid, strerror(-err));
	}
}

/* ---- what the rule says a created object looks like on the host ------- */

static void expect_created(const struct run *x, const char *rel, uint32_t guest_mode,
			   dev_t rdev)
{
	const struct rule_conf *r = x->rule;
	const char *path = HOST(x, r->under_test, rel);
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0, "[%s] %s was not created: %s", r->name, rel,
		     strerror(errno));
	if (!r->mapped) {
		cr_expect_eq(st.st_uid, r->new_uid, "[%s] %s: host owner %u, want %u", r->name, rel,
			     st.st_uid, r->new_uid);
		cr_expect_eq(st.st_gid, r->new_gid, "[%s] %s: host group %u, want %u", r->name,
			     rel, st.st_gid, r->new_gid);
		cr_expect_eq(st.st_mode, guest_mode, "[%s] %s: host mode %o, want %o", r->name,
			     rel, st.st_mode, guest_mode);
		return;
	}
	/* mapped-xattr: the daemon's object, private; the guest's view in xattrs. */
	mode_t want_host = S_ISDIR(guest_mode) ? S_IFDIR | 0700 : S_IFREG | 0600;
	cr_expect_eq(st.st_mode, want_host, "[%s] %s: host mode %o, want %o", r->name, rel,
		     st.st_mode, want_host);
	cr_expect_eq(st.st_uid, geteuid(), "[%s] %s: host owner %u is not the daemon's",
		     r->name, rel, st.st_uid);
	cr_expect_eq(st.st_gid, getegid(), "[%s] %s: host group %u is not the daemon's",
		     r->name, rel, st.st_gid);
	const struct {
		const char *key;
		uint32_t want;
	} keys[] = {{"uid", r->uid}, {"gid", r->gid}, {"mode", guest_mode}};
	for (size_t i = 0; i < 3; i++) {
		uint32_t v = 0;
		int err = host_virtfs(path, keys[i].key, &v);
		cr_expect_eq(err, 0, "[%s] %s: user.virtfs.%s: %s", r->name, rel, keys[i].key,
			     strerror(-err));
		cr_expect_eq(v, keys[i].want, "[%s] %s: user.virtfs.%s = %#o, want %#o", r->name,
			     rel, keys[i].key, v, keys[i].want);
	}
	if (S_ISCHR(guest_mode) || S_ISBLK(guest_mode)) {
		uint8_t b[8];
		ssize_t n = lgetxattr(path, "user.virtfs.rdev", b, sizeof(b));
		cr_expect_eq(n, 8, "[%s] %s: user.virtfs.rdev is %zd bytes", r->name, rel, n);
		uint64_t v = 0;
		for (ssize_t i = n; i-- > 0;)
			v = v << 8 | b[i];
		cr_expect_eq(v, (uint64_t)rdev, "[%s] %s: user.virtfs.rdev %#llx", r->name, rel,
			     (unsigned long long)v);
	}
}

static void expect_gone(const struct run *x, int exp, const char *rel)
{
	struct stat st;
	cr_expect_neq(lstat(HOST(x, exp, rel), &st), 0, "[%s] %s still exists on the host",
		      x->rule->name, rel);
}

/* ========================================================================= */
/* The drivers: one per request, the probe says on what                     */
/* ========================================================================= */

static int exp_first(const struct run *x, const struct probe *p)
{
	return (p->arg & XP_MARK) ? (int)(p->arg >> 4 & 0xf) : x->rule->under_test;
}

static int exp_second(const struct run *x, const struct probe *p)
{
	return (p->arg & XP_MARK) ? (int)(p->arg & 0xf) : x->rule->under_test;
}

static int walk(struct run *x, int exp, const char *rel, uint32_t *fid)
{
	*fid = np_fid_new(x->c);
	return np_walk_path(x->c, x->root[exp], *fid, rel, NULL);
}

static int open_fid(struct run *x, const char *rel, uint32_t flags, uint32_t *fid)
{
	int err = walk(x, x->rule->under_test, rel, fid);
	return err ? err : np_lopen(x->c, *fid, flags, NULL, NULL);
}

static int drive_version(struct run *x, const struct probe *p)
{
	(void)p;
	struct np_client *c;
	STEP(x, "connect", np_client_connect(&c, x->addr));
	uint32_t msize = 0;
	char version[32] = "";
	x->at = "Tversion";
	int err = np_version(c, NP_CLIENT_MSIZE, NP_VERSION_9P2000L, &msize, version,
			     sizeof(version));
	if (err == 0) {
		cr_expect_str_eq(version, NP_VERSION_9P2000L);
		cr_expect_geq(msize, NP_MIN_MSIZE);
	}
	np_client_close(c);
	return err;
}

static int drive_attach(struct run *x, const struct probe *p)
{
	struct np_client *c;
	STEP(x, "connect and Tversion", connect_versioned(x, &c));
	struct np_qid qid;
	x->at = "Tattach";
	int err = np_attach(c, 1, NP_NOFID, "", export_name(x->rule->under_test), p->arg, &qid);
	if (err == 0)
		cr_expect_eq(qid.type, NP_QTDIR);
	np_client_close(c);
	return err;
}

static int drive_flush(struct run *x, const struct probe *p)
{
	(void)p;
	x->at = "Tflush";
	return np_flush(x->c, 4242);
}

/* The last name is walked on its own: a walk whose first name fails is
 * Rlerror with the reason, a later name only shortens the Rwalk. */
static int drive_walk(struct run *x, const struct probe *p)
{
	char dir[PATH_MAX];
	const char *name;
	split(p->on, dir, &name);
	uint32_t d;
	STEP(x, "Twalk to the directory", walk(x, x->rule->under_test, dir, &d));
	struct np_qid qid;
	uint16_t nwqid = 0;
	x->at = "Twalk";
	int err = np_walk(x->c, d, np_fid_new(x->c), 1, &name, &nwqid, &qid);
	if (err == 0)
		cr_expect_eq(nwqid, 1);
	return err;
}

static int drive_lopen(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	x->at = "Tlopen";
	return np_lopen(x->c, f, p->arg, NULL, NULL);
}

static int drive_lcreate(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	x->at = "Tlcreate";
	int err = np_lcreate(x->c, f, NEW, NP_DOTL_RDWR, 0640, x->rule->gid, NULL, NULL);
	if (err == 0)
		expect_created(x, JOIN(p->on, NEW), S_IFREG | 0640, 0);
	return err;
}

static int drive_read(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk, Tlopen O_RDONLY", open_fid(x, p->on, NP_DOTL_RDONLY, &f));
	char buf[64] = {0}, want[64] = {0};
	uint32_t got = 0;
	x->at = "Tread";
	int err = np_read(x->c, f, 0, sizeof(buf), buf, &got);
	if (err == 0) {
		int fd = open(HOST(x, x->rule->under_test, p->on), O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, want, sizeof(want)) : -1;
		if (fd >= 0)
			close(fd);
		cr_expect_eq((ssize_t)got, n, "[%s] Tread of %s: %u bytes", x->rule->name, p->on,
			     got);
		cr_expect_eq(memcmp(buf, want, sizeof(buf)), 0, "[%s] Tread of %s: \"%s\"",
			     x->rule->name, p->on, buf);
	}
	return err;
}

static int drive_write(struct run *x, const struct probe *p)
{
	/* A read-only export lets a file be opened for reading only. */
	uint32_t flags = x->rule == &rules[READONLY] ? NP_DOTL_RDONLY : NP_DOTL_WRONLY;
	uint32_t f;
	STEP(x, "Twalk, Tlopen", open_fid(x, p->on, flags, &f));
	const char *path = HOST(x, x->rule->under_test, p->on);
	struct stat before, after;
	cr_assert_eq(lstat(path, &before), 0);
	uint32_t n = 0;
	x->at = "Twrite";
	int err = np_write(x->c, f, 0, "XY", 2, &n);
	if (err == 0) {
		char buf[4] = {0};
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		cr_expect_eq(fd >= 0 ? read(fd, buf, 2) : -1, 2);
		if (fd >= 0)
			close(fd);
		cr_expect_eq(n, 2);
		cr_expect_str_eq(buf, "XY", "[%s] the host file holds \"%s\"", x->rule->name, buf);
		cr_assert_eq(lstat(path, &after), 0);
		cr_expect_eq(after.st_mode, before.st_mode, "[%s] host mode %o became %o",
			     x->rule->name, before.st_mode, after.st_mode);
		cr_expect_eq(after.st_uid, before.st_uid);
		cr_expect_eq(after.st_gid, before.st_gid);
	}
	return err;
}

static int drive_clunk(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	x->at = "Tclunk";
	int err = np_clunk(x->c, f);
	if (err == 0)
		cr_expect_eq(np_clunk(x->c, f), -EBADF, "[%s] the fid outlived Tclunk",
			     x->rule->name);
	return err;
}

static int drive_remove(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	x->at = "Tremove";
	int err = np_remove(x->c, f);
	cr_expect_eq(np_clunk(x->c, f), -EBADF, "[%s] the fid outlived Tremove", x->rule->name);
	if (err == 0)
		expect_gone(x, x->rule->under_test, p->on);
	return err;
}

static int drive_statfs(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	struct np_statfs st;
	x->at = "Tstatfs";
	int err = np_statfs(x->c, f, &st);
	if (err == 0)
		cr_expect_gt(st.bsize, 0);
	return err;
}

/* The attributes the guest must see: the host's, with mapped-xattr's
 * recorded owner and mode over them. */
static void guest_view(const struct run *x, const char *rel, uint32_t *mode, uint32_t *uid,
		       uint32_t *gid)
{
	const char *path = HOST(x, x->rule->under_test, rel);
	struct stat st;
	cr_assert_eq(lstat(path, &st), 0);
	*mode = st.st_mode;
	*uid = st.st_uid;
	*gid = st.st_gid;
	if (x->rule->mapped) {
		host_virtfs(path, "mode", mode);
		host_virtfs(path, "uid", uid);
		host_virtfs(path, "gid", gid);
	}
}

static int drive_getattr(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	struct np_attr a;
	x->at = "Tgetattr";
	int err = np_getattr(x->c, f, NP_GETATTR_ALL, &a);
	if (err == 0) {
		uint32_t mode, uid, gid;
		guest_view(x, p->on, &mode, &uid, &gid);
		cr_expect_eq(a.mode, mode, "[%s] %s: mode %o, want %o", x->rule->name, p->on,
			     a.mode, mode);
		cr_expect_eq(a.uid, uid, "[%s] %s: uid %u, want %u", x->rule->name, p->on, a.uid,
			     uid);
		cr_expect_eq(a.gid, gid, "[%s] %s: gid %u, want %u", x->rule->name, p->on, a.gid,
			     gid);
	}
	return err;
}

static int drive_setattr(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	const char *path = HOST(x, x->rule->under_test, p->on);
	struct stat before, after;
	cr_assert_eq(lstat(path, &before), 0);
	struct np_setattr sa = {0};
	switch (p->arg) {
	case SA_CHMOD: sa = (struct np_setattr){.valid = NP_SETATTR_MODE, .mode = 0640}; break;
	case SA_CHOWN_UID: sa = (struct np_setattr){.valid = NP_SETATTR_UID, .uid = 2000}; break;
	case SA_CHOWN_GID: sa = (struct np_setattr){.valid = NP_SETATTR_GID, .gid = 2000}; break;
	case SA_SIZE: sa = (struct np_setattr){.valid = NP_SETATTR_SIZE, .size = 1}; break;
	case SA_MTIME:
		sa = (struct np_setattr){.valid = NP_SETATTR_MTIME | NP_SETATTR_MTIME_SET,
					 .mtime_sec = 1000000};
		break;
	case SA_TIMES_NOW:
		sa = (struct np_setattr){.valid = NP_SETATTR_ATIME | NP_SETATTR_MTIME};
		break;
	default: cr_assert_fail("setattr probe %u", p->arg);
	}
	x->at = "Tsetattr";
	int err = np_setattr(x->c, f, &sa);
	if (err != 0 || !x->rule->mapped)
		return err;
	/* mapped-xattr: the host object is untouched, the xattr changed. */
	cr_assert_eq(lstat(path, &after), 0);
	cr_expect_eq(after.st_mode, before.st_mode, "[%s] %s: host mode %o became %o",
		     x->rule->name, p->on, before.st_mode, after.st_mode);
	cr_expect_eq(after.st_uid, before.st_uid, "[%s] %s: host owner changed", x->rule->name,
		     p->on);
	cr_expect_eq(after.st_gid, before.st_gid, "[%s] %s: host group changed", x->rule->name,
		     p->on);
	const char *key = p->arg == SA_CHMOD ? "mode" : p->arg == SA_CHOWN_UID ? "uid" : "gid";
	uint32_t want = p->arg == SA_CHMOD ? (before.st_mode & S_IFMT) | 0640 : 2000, v = 0;
	int xerr = host_virtfs(path, key, &v);
	cr_expect_eq(xerr, 0, "[%s] %s: user.virtfs.%s: %s", x->rule->name, p->on, key,
		     strerror(-xerr));
	cr_expect_eq(v, want, "[%s] %s: user.virtfs.%s = %#o, want %#o", x->rule->name, p->on,
		     key, v, want);
	return err;
}

static int drive_readlink(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	char target[64] = "";
	x->at = "Treadlink";
	int err = np_readlink(x->c, f, target, sizeof(target));
	if (err == 0)
		cr_expect_str_eq(target, "f");
	return err;
}

static int drive_symlink(struct run *x, const struct probe *p)
{
	uint32_t d;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &d));
	x->at = "Tsymlink";
	int err = np_symlink(x->c, d, NEW, "f", x->rule->gid, NULL);
	if (err == 0) {
		const char *rel = JOIN(p->on, NEW);
		expect_created(x, rel, S_IFLNK | 0777, 0);
		char buf[16] = {0};
		const char *path = HOST(x, x->rule->under_test, rel);
		if (x->rule->mapped) {
			int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			cr_expect_eq(fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1, 1);
			if (fd >= 0)
				close(fd);
		} else {
			cr_expect_eq(readlink(path, buf, sizeof(buf) - 1), 1);
		}
		cr_expect_str_eq(buf, "f", "[%s] the host holds target \"%s\"", x->rule->name, buf);
	}
	return err;
}

static int drive_mknod(struct run *x, const struct probe *p)
{
	uint32_t d;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &d));
	bool dev = S_ISCHR(p->arg) || S_ISBLK(p->arg);
	x->at = "Tmknod";
	int err = np_mknod(x->c, d, NEW, p->arg, dev ? 1 : 0, dev ? 3 : 0, x->rule->gid, NULL);
	if (err == 0)
		expect_created(x, JOIN(p->on, NEW), p->arg, dev ? makedev(1, 3) : 0);
	return err;
}

static int drive_mkdir(struct run *x, const struct probe *p)
{
	uint32_t d;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &d));
	x->at = "Tmkdir";
	int err = np_mkdir(x->c, d, NEW, 0750, x->rule->gid, NULL);
	if (err == 0)
		expect_created(x, JOIN(p->on, NEW), S_IFDIR | 0750, 0);
	return err;
}

static int drive_link(struct run *x, const struct probe *p)
{
	int from = exp_first(x, p), to = exp_second(x, p);
	uint32_t f, d;
	STEP(x, "Twalk to the file", walk(x, from, p->on, &f));
	STEP(x, "Twalk to the directory", walk(x, to, p->to, &d));
	x->at = "Tlink";
	int err = np_link(x->c, d, f, "hl");
	if (err == 0) {
		struct stat a, b;
		cr_assert_eq(lstat(HOST(x, from, p->on), &a), 0);
		cr_assert_eq(lstat(HOST(x, to, JOIN(p->to, "hl")), &b), 0, "no link on the host");
		cr_expect_eq(a.st_ino, b.st_ino);
		cr_expect_eq(a.st_nlink, 2);
	}
	return err;
}

static int drive_rename(struct run *x, const struct probe *p)
{
	int from = exp_first(x, p), to = exp_second(x, p);
	uint32_t f, d;
	STEP(x, "Twalk to the file", walk(x, from, p->on, &f));
	STEP(x, "Twalk to the directory", walk(x, to, p->to, &d));
	x->at = "Trename";
	int err = np_rename(x->c, f, d, "moved");
	if (err == 0) {
		expect_gone(x, from, p->on);
		struct stat st;
		cr_expect_eq(lstat(HOST(x, to, JOIN(p->to, "moved")), &st), 0);
	}
	return err;
}

static int drive_renameat(struct run *x, const struct probe *p)
{
	int from = exp_first(x, p), to = exp_second(x, p);
	char dir[PATH_MAX];
	const char *name;
	split(p->on, dir, &name);
	uint32_t od, nd;
	STEP(x, "Twalk to the old directory", walk(x, from, dir, &od));
	STEP(x, "Twalk to the new directory", walk(x, to, p->to, &nd));
	x->at = "Trenameat";
	int err = np_renameat(x->c, od, name, nd, "moved");
	if (err == 0) {
		expect_gone(x, from, p->on);
		struct stat st;
		cr_expect_eq(lstat(HOST(x, to, JOIN(p->to, "moved")), &st), 0);
	}
	return err;
}

static int drive_unlinkat(struct run *x, const struct probe *p)
{
	char dir[PATH_MAX];
	const char *name;
	split(p->on, dir, &name);
	uint32_t d;
	STEP(x, "Twalk", walk(x, x->rule->under_test, dir, &d));
	x->at = "Tunlinkat";
	int err = np_unlinkat(x->c, d, name, p->arg);
	if (err == 0)
		expect_gone(x, x->rule->under_test, p->on);
	return err;
}

static int drive_xattrwalk(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	char buf[64] = {0}, want[64] = {0};
	x->at = "Txattrwalk (and Tread, Tclunk of the value)";
	int n = np_xattr_get(x->c, f, p->to, buf, sizeof(buf));
	if (n < 0)
		return n;
	ssize_t len = lgetxattr(HOST(x, x->rule->under_test, p->on), p->to, want, sizeof(want));
	cr_expect_eq(n, len, "[%s] %s of %s: %d bytes, the host has %zd", x->rule->name, p->to,
		     p->on, n, len);
	cr_expect_eq(memcmp(buf, want, sizeof(buf)), 0);
	return 0;
}

static int drive_xattrcreate(struct run *x, const struct probe *p)
{
	uint32_t f, clone;
	STEP(x, "Twalk", walk(x, x->rule->under_test, p->on, &f));
	STEP(x, "Twalk (clone)", walk(x, x->rule->under_test, p->on, &clone));
	STEP(x, "Txattrcreate", np_xattrcreate(x->c, clone, p->to, 1, 0));
	/* The value is set when the fid is clunked: the refusal may come there. */
	STEP(x, "Twrite of the value", np_write(x->c, clone, 0, "w", 1, NULL));
	STEP(x, "Tclunk that sets the value", np_clunk(x->c, clone));
	char v[8] = {0};
	ssize_t n = lgetxattr(HOST(x, x->rule->under_test, p->on), p->to, v, sizeof(v));
	cr_expect_eq(n, 1, "[%s] %s on %s: not set on the host (%s)", x->rule->name, p->to, p->on,
		     n < 0 ? strerror(errno) : "size");
	cr_expect_eq(v[0], 'w');
	return 0;
}

struct find_name {
	const char *name;
	bool found;
};

static int find_entry(void *arg, const struct np_dirent *d)
{
	struct find_name *fn = arg;
	if (d->name.len == strlen(fn->name) && !memcmp(d->name.s, fn->name, d->name.len))
		fn->found = true;
	return 0;
}

static int drive_readdir(struct run *x, const struct probe *p)
{
	uint32_t d;
	STEP(x, "Twalk, Tlopen", open_fid(x, p->on, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY, &d));
	/* Each directory of the tree holds one name. */
	struct dirent **list;
	int n = scandir(HOST(x, x->rule->under_test, p->on), &list, skip_dots, alphasort);
	cr_assert_eq(n, 1);
	struct find_name fn = {.name = list[0]->d_name};
	x->at = "Treaddir";
	int err = np_readdir_all(x->c, d, 4096, find_entry, &fn);
	if (err == 0)
		cr_expect(fn.found, "[%s] Treaddir of %s did not list %s", x->rule->name, p->on,
			  fn.name);
	free(list[0]);
	free(list);
	return err;
}

static int drive_fsync(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk, Tlopen O_RDONLY", open_fid(x, p->on, NP_DOTL_RDONLY, &f));
	x->at = "Tfsync";
	return np_fsync(x->c, f, 0);
}

static int drive_lock(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk, Tlopen O_RDONLY", open_fid(x, p->on, NP_DOTL_RDONLY, &f));
	uint8_t status = 99;
	x->at = "Tlock";
	int err = np_lock(x->c, f, NP_LOCK_TYPE_RDLCK, 0, 0, 0, 1, "contract", &status);
	if (err == 0) {
		cr_expect_eq(status, NP_LOCK_SUCCESS, "[%s] Tlock status %u", x->rule->name,
			     status);
		cr_expect_eq(np_lock(x->c, f, NP_LOCK_TYPE_UNLCK, 0, 0, 0, 1, "contract", NULL),
			     0);
	}
	return err;
}

static int drive_getlock(struct run *x, const struct probe *p)
{
	uint32_t f;
	STEP(x, "Twalk, Tlopen O_RDONLY", open_fid(x, p->on, NP_DOTL_RDONLY, &f));
	struct np_getlock gl = {.type = NP_LOCK_TYPE_WRLCK, .proc_id = 1};
	snprintf(gl.client_id, sizeof(gl.client_id), "contract");
	x->at = "Tgetlock";
	int err = np_getlock(x->c, f, &gl);
	if (err == 0)
		cr_expect_eq(gl.type, NP_LOCK_TYPE_UNLCK, "[%s] Tgetlock type %u", x->rule->name,
			     gl.type);
	return err;
}

/* ========================================================================= */
/* The runner                                                                 */
/* ========================================================================= */

static const char *row_name(const struct row *row)
{
	const char *n = np_type_name(row->type);
	return n ? n : "?";
}

static void describe_probe(const struct run *x, const struct probe *p, char *buf, size_t cap)
{
	bool cross = p->arg & XP_MARK;
	char first[16] = "", second[16] = "";
	if (cross) {
		snprintf(first, sizeof(first), " (export %s)", export_name(exp_first(x, p)));
		snprintf(second, sizeof(second), " (export %s)", export_name(exp_second(x, p)));
	}
	int n = snprintf(buf, cap, "on \"%s\"%s", p->on, first);
	if (p->to)
		n += snprintf(buf + n, cap - (size_t)n, " and \"%s\"%s", p->to, second);
	if (p->arg && !cross)
		snprintf(buf + n, cap - (size_t)n, ", arg %#o", p->arg);
}

static void run_probe(struct run *x, const struct row *row, const struct cell *cell,
		      const struct probe *p)
{
	for (int i = 0; i < x->nexports; i++)
		build_tree(x, i);
	open_probe_connection(x);
	char *before = snapshot(x);
	x->at = "?";
	int got = row->drive(x, p);
	np_client_close(x->c);
	x->c = NULL;
	char *after = snapshot(x);
	char what[256];
	describe_probe(x, p, what, sizeof(what));
	char want[32];
	snprintf(want, sizeof(want), "%s", errname(p->want));
	cr_expect_eq(got, p->want, "[%s] %s %s: %s at %s, want %s (%s)", x->rule->name,
		     row_name(row), what, errname(got), x->at, want, cell->what);
	/* Refused, or by nature changing nothing: every export as it was. */
	if (p->want != 0 || !row->modifies)
		cr_expect_str_eq(after, before,
				 "[%s] %s %s (answered %s) changed the host:\nbefore:\n%s\nafter:\n%s",
				 x->rule->name, row_name(row), what, errname(got), before, after);
	free(before);
	free(after);
}

static void run_rule(enum rule id)
{
	struct run x;
	start_run(&x, id);
	unsigned requests = 0, probes = 0, na = 0;
	for (size_t i = 0; i < NROWS; i++) {
		const struct row *row = &table[i];
		const struct cell *cell = &row->rule[id];
		cr_assert(cell->what && *cell->what, "[%s] %s: the row says nothing for this rule",
			  rules[id].name, row_name(row));
		if (cell->na) {
			na++;
			continue;
		}
		cr_assert_not_null(row->drive, "%s has probes but no driver", row_name(row));
		cr_assert_not_null(cell->probes[0].on, "[%s] %s applies but has no probe",
				   rules[id].name, row_name(row));
		requests++;
		for (size_t k = 0; k < MAX_PROBES && cell->probes[k].on; k++, probes++)
			run_probe(&x, row, cell, &cell->probes[k]);
	}
	finish_run(&x);
	cr_log_info("[%s] %u requests (%u probes) exercised, %u N/A", rules[id].name, requests,
		    probes, na);
	cr_assert_eq(requests + na, NROWS);
	cr_assert_geq(requests, rules[id].min_requests,
		      "[%s] only %u requests exercised, want at least %u", rules[id].name, requests,
		      rules[id].min_requests);
}

/* ========================================================================= */
/* The tests                                                                  */
/* ========================================================================= */

TestSuite(contract, .timeout = 60);

Test(contract, every_request_of_the_codec_has_exactly_one_row)
{
#define NP_T_NUMBER(name, NAME, num) num,
	static const uint8_t codec[] = {NP_MESSAGES(NP_T_NUMBER)};
#undef NP_T_NUMBER
	unsigned requests = 0;
	for (size_t i = 0; i < sizeof(codec); i++) {
		if (!np_is_request(codec[i]))
			continue;
		bool excluded = false;
		for (size_t k = 0; k < sizeof(not_requests) / sizeof(not_requests[0]); k++)
			excluded |= not_requests[k].type == codec[i];
		if (excluded)
			continue;
		requests++;
		unsigned rows = 0;
		for (size_t r = 0; r < NROWS; r++)
			rows += table[r].type == codec[i];
		cr_expect_eq(rows, 1, "%s (%u) has %u rows in the contract table",
			     np_type_name(codec[i]), codec[i], rows);
	}
	for (size_t r = 0; r < NROWS; r++)
		cr_expect(np_is_request(table[r].type), "row %zu: %u is no request of the codec", r,
			  table[r].type);
	cr_expect_eq(requests, 28, "the codec has %u requests; 9P2000.L has 28", requests);
	cr_expect_eq(NROWS, requests);
}

Test(contract, every_row_says_what_each_rule_does_or_why_it_does_not_apply)
{
	unsigned cells = 0;
	for (size_t r = 0; r < NROWS; r++) {
		for (int id = 0; id < NRULES; id++) {
			const struct cell *c = &table[r].rule[id];
			cr_expect(c->what && *c->what, "%s: nothing said for rule %s",
				  row_name(&table[r]), rules[id].name);
			if (c->na) {
				cr_expect_null(c->probes[0].on, "%s, rule %s: N/A with probes",
					       row_name(&table[r]), rules[id].name);
				continue;
			}
			cr_expect_not_null(c->probes[0].on, "%s, rule %s: no probe",
					   row_name(&table[r]), rules[id].name);
			cr_expect_not_null(table[r].drive, "%s: no driver", row_name(&table[r]));
			cells++;
		}
	}
	cr_expect_geq(cells, 100, "only %u request/rule pairs are exercised", cells);
}

Test(contract, readonly_export_refuses_modifying_requests_with_erofs)
{
	run_rule(READONLY);
}

Test(contract, fids_of_two_exports_are_exdev)
{
	run_rule(CROSS);
}

Test(contract, non_root_client_is_refused_only_what_ownership_refuses)
{
	run_rule(NON_ROOT);
}

Test(contract, squashed_export_checks_everything_as_the_squash_user)
{
	run_rule(SQUASH);
}

Test(contract, mapped_export_keeps_host_objects_private_to_the_daemon)
{
	run_rule(MAPPED);
}
