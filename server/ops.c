/* The 9P2000.L operations.  Each message has up to three parts:
 *   prep  (loop thread): look up fids, validate, take references; returns
 *         PREP_WORK to run `work` on a worker, PREP_REPLY to reply now
 *         (r->err / r->out set), PREP_OWNED when it completes r itself;
 *   work  (worker thread): the file-system calls; sets r->err or r->out;
 *   done  (loop thread, optional): installs new fids, then replies.
 * Generic checks (fid exists, kind, read-only export) happen in prep, so
 * the work functions only touch the file system.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "server/access.h"
#include "server/fsops.h"
#include "server/log.h"
#include "server/server.h"

enum { PREP_WORK = 0, PREP_REPLY = 1, PREP_OWNED = 2 };

struct op {
	int (*prep)(struct req *r);
	void (*work)(struct req *r);
	void (*done)(struct req *r);
};

#define MAX_USERS 65536
#define XATTR_MAX (64u << 10)

/* ---- helpers ---- */

/* prep's result for "checks passed (rc == 0): run the work". */
static int or_work(int rc) { return rc ? rc : PREP_WORK; }

static struct server *req_srv(struct req *r) { return r->conn->srv; }

/* Looks up fid `num` and takes a reference for the request. */
static int take_fid(struct req *r, uint32_t num, struct fid **slot, enum fid_kind kind)
{
	struct fid *f = fid_lookup(&r->conn->fids, num);
	if (!f)
		return -EBADF;
	if (f->kind != kind)
		return -EBADF;
	*slot = fid_ref(f);
	return 0;
}

static int take_dir(struct req *r, uint32_t num, struct fid **slot, bool modifies)
{
	int rc = take_fid(r, num, slot, FID_FILE);
	if (rc)
		return rc;
	if (!S_ISDIR((*slot)->mode))
		return -ENOTDIR;
	if (modifies && (*slot)->exp->conf->readonly)
		return -EROFS;
	return 0;
}

/* A fresh fid object standing for `num`, sharing `like`'s export and user. */
static struct fid *fid_like(uint32_t num, const struct fid *like)
{
	struct fid *f = fid_new(num);
	if (f && like) {
		f->exp = like->exp;
		f->user = like->user;
	}
	return f;
}

/* Every fid holds one or two descriptors.  The fids of all clients together
 * may hold at most RLIMIT_NOFILE - (RLIMIT_NOFILE / 8 + 32) of them (half
 * of a limit below 128): the rest stays for accepting connections, the
 * listeners and the workers' transient opens, so a client that takes every
 * fid it can gets EMFILE for new fids while new connections are still
 * accepted and answered, and other clients keep the fids they have. */
static size_t fid_fd_budget(struct server *srv)
{
	if (!srv->fid_fd_budget) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
		    rl.rlim_cur > SIZE_MAX)
			srv->fid_fd_budget = SIZE_MAX;
		else if (rl.rlim_cur < 128) /* only in tests: keep half */
			srv->fid_fd_budget = 1 + (size_t)rl.rlim_cur / 2;
		else
			srv->fid_fd_budget = (size_t)rl.rlim_cur - (size_t)rl.rlim_cur / 8 - 32;
	}
	return srv->fid_fd_budget;
}

/* Installs r->newfid in the table, replacing the fid of the same number if
 * `replace` (walk with newfid == fid, lcreate, xattrcreate): in-flight
 * requests keep their reference on the old object, so its fds stay valid
 * for them. */
static int install_newfid(struct req *r, bool replace)
{
	struct fid_table *t = &r->conn->fids;
	/* A request of a session that has ended (Tversion, disconnect) gets
	 * no reply, so its fid must not appear in the table either. */
	if (r->conn->closing || r->generation != r->conn->generation || r->flushed)
		return -ECANCELED;
	struct server *srv = req_srv(r);
	struct fid *old = replace ? fid_lookup(t, r->newfid->num) : NULL;
	size_t freed = old ? old->table_fds : 0;
	if (srv->fid_fds - freed + fid_fd_count(r->newfid) > fid_fd_budget(srv))
		return -EMFILE;
	if (old)
		fid_unref(fid_remove(t, old->num));
	if (t->count >= srv->cfg->max_fids)
		return -EMFILE;
	t->open_fds = &srv->fid_fds;
	int rc = fid_insert(t, fid_ref(r->newfid));
	if (rc)
		fid_unref(r->newfid);
	return rc;
}

static uint8_t qid_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return NP_QTDIR;
	if (S_ISLNK(mode))
		return NP_QTSYMLINK;
	return NP_QTFILE;
}

/* Every qid goes through the export's multidevs engine.  `fd`/`name`
 * locate the object for the log line of a first-time event. */
static int make_qid(struct export *e, const struct stat *st, int fd, const char *name,
		    struct np_qid *q)
{
	uint64_t path;
	enum remap_event ev = REMAP_EVENT_NONE;
	int rc = remap_qid_path(e->remap, st->st_dev, st->st_ino, st->st_mode & S_IFMT, &path, &ev);
	if (ev != REMAP_EVENT_NONE) {
		char proc[32], where[PATH_MAX];
		fs_proc_path(fd, proc);
		ssize_t n = readlink(proc, where, sizeof where - 1);
		where[n > 0 ? n : 0] = '\0';
		if (ev == REMAP_EVENT_FIRST_FORBIDDEN)
			log_error("export '%s': multidevs=forbid: access to device %u:%u refused "
				  "(EXDEV) at %s%s%s; further refusals are not logged",
				  e->conf->name, major(st->st_dev), minor(st->st_dev), where,
				  name ? "/" : "", name ? name : "");
		else
			log_warn("export '%s': multidevs=%s: second device %u:%u met at %s%s%s; "
				 "inode numbers may collide (use multidevs=remap)",
				 e->conf->name, multidevs_policy_name(remap_policy(e->remap)),
				 major(st->st_dev), minor(st->st_dev), where, name ? "/" : "",
				 name ? name : "");
	}
	if (rc)
		return rc;
	q->type = qid_type(st->st_mode);
	q->version = 0;
	q->path = path;
	return 0;
}

/* Run as whom the export's access model says (see access.h). */
static int enter_as(struct req *r, const struct fid *f, gid_t gid)
{
	(void)r;
	return access_enter_create(f, gid);
}

static int enter(struct req *r, const struct fid *f)
{
	(void)r;
	return access_enter(f);
}

/* Stat fd as the guest sees it; also records the host's file type. */
static int stat_fid_fd(struct export *e, int fd, struct stat *st, uint32_t *host_mode)
{
	struct stat host;
	int rc = fs_stat(fd, &host);
	if (rc)
		return rc;
	*host_mode = host.st_mode;
	if (!access_mapped(e)) {
		*st = host;
		return 0;
	}
	return access_stat(e, fd, st);
}

/* ---- users ---- */

static int user_fill_groups(struct user *u, const char *name)
{
	int n = 32;
	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(u->groups, (size_t)n * sizeof *g);
		if (!g)
			return -ENOMEM;
		u->groups = g;
		int got = n;
		if (getgrouplist(name, u->gid, g, &got) >= 0) {
			u->ngroups = got;
			return 0;
		}
		n = got > n ? got : n * 2;
	}
	return -E2BIG;
}

/* Finds or creates the user for an attach; worker thread. */
static int user_get(struct server *srv, uint32_t n_uname, const char *uname, struct user **out)
{
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	uid_t uid;
	if (n_uname != NP_NONUNAME) {
		uid = n_uname;
	} else {
		getpwnam_r(uname, &pw, buf, sizeof buf, &pwp);
		if (pwp)
			uid = pwp->pw_uid;
		else if (!strcmp(uname, "nobody"))
			uid = 65534;
		else
			return -EPERM;
	}
	pthread_mutex_lock(&srv->users_lock);
	size_t count = 0;
	for (struct user *u = srv->users; u; u = u->next, count++) {
		if (u->uid == uid) {
			pthread_mutex_unlock(&srv->users_lock);
			*out = u;
			return 0;
		}
	}
	pthread_mutex_unlock(&srv->users_lock);
	if (count >= MAX_USERS)
		return -EUSERS;

	struct user *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	u->uid = uid;
	if (!pwp || pwp->pw_uid != uid)
		getpwuid_r(uid, &pw, buf, sizeof buf, &pwp);
	if (pwp) {
		u->gid = pwp->pw_gid;
		if (user_fill_groups(u, pwp->pw_name)) {
			u->ngroups = 0;
		}
	} else {
		/* A numeric user unknown to the host is still served: its uid,
		 * the "nogroup" gid, no supplementary groups. */
		u->gid = 65534;
	}
	pthread_mutex_lock(&srv->users_lock);
	for (struct user *x = srv->users; x; x = x->next) {
		if (x->uid == uid) { /* another worker won the race */
			pthread_mutex_unlock(&srv->users_lock);
			free(u->groups);
			free(u);
			*out = x;
			return 0;
		}
	}
	u->next = srv->users;
	srv->users = u;
	pthread_mutex_unlock(&srv->users_lock);
	*out = u;
	return 0;
}

/* ---- Tversion, Tauth, Tattach, Tflush ---- */

static int prep_version(struct req *r)
{
	struct conn *c = r->conn;
	uint32_t max = req_srv(r)->cfg->max_msize;
	uint32_t msize = r->in.u.tversion.msize < max ? r->in.u.tversion.msize : max;
	if (msize < NP_MIN_MSIZE) {
		log_warn("client %llu: Tversion msize %u below the minimum %u",
			 (unsigned long long)c->id, r->in.u.tversion.msize, NP_MIN_MSIZE);
		return -EINVAL;
	}
	/* A new session: every fid goes, replies of older requests are
	 * dropped (their generation no longer matches). */
	conn_abort_requests(c, r);
	fid_table_free(&c->fids);
	pthread_mutex_lock(&c->wlock); /* workers compare it before sending */
	c->generation++;
	pthread_mutex_unlock(&c->wlock);
	r->generation = c->generation;
	c->versioned = true;
	c->msize = msize;
	const struct np_str *v = &r->in.u.tversion.version;
	bool ours = v->len == strlen(NP_VERSION_9P2000L) &&
		    !memcmp(v->s, NP_VERSION_9P2000L, v->len);
	r->out.u.rversion.msize = msize;
	r->out.u.rversion.version = np_str_c(ours ? NP_VERSION_9P2000L : "unknown");
	if (!ours)
		c->versioned = false;
	return PREP_REPLY;
}

static int prep_auth(struct req *r)
{
	(void)r;
	return -EOPNOTSUPP; /* no auth scheme configured: attach with afid NOFID */
}

static struct export *find_export(struct server *srv, const struct np_str *aname)
{
	if (aname->len == 0)
		return srv->exports[0];
	for (size_t i = 0; i < srv->nexports; i++) {
		struct export *e = srv->exports[i];
		const char *cands[] = {e->conf->name, e->conf->path, e->realpath};
		for (size_t k = 0; k < 3; k++)
			if (cands[k] && strlen(cands[k]) == aname->len &&
			    !memcmp(cands[k], aname->s, aname->len))
				return e;
	}
	return NULL;
}

static int prep_attach(struct req *r)
{
	struct conn *c = r->conn;
	if (r->in.u.tattach.afid != NP_NOFID)
		return -EINVAL;
	if (fid_lookup(&c->fids, r->in.u.tattach.fid))
		return -EEXIST;
	struct export *e = find_export(req_srv(r), &r->in.u.tattach.aname);
	if (!e) {
		log_warn("client %llu: attach to unknown export '%.*s'", (unsigned long long)c->id,
			 (int)r->in.u.tattach.aname.len, r->in.u.tattach.aname.s);
		return -ENOENT;
	}
	r->newfid = fid_new(r->in.u.tattach.fid);
	if (!r->newfid)
		return -ENOMEM;
	r->newfid->exp = e;
	return PREP_WORK;
}

static void work_attach(struct req *r)
{
	struct fid *f = r->newfid;
	char uname[256];
	const struct np_str *un = &r->in.u.tattach.uname;
	snprintf(uname, sizeof uname, "%.*s", (int)un->len, un->s);
	int rc = user_get(req_srv(r), r->in.u.tattach.n_uname, uname, &f->user);
	if (rc) {
		r->err = rc;
		return;
	}
	f->pathfd = fcntl(f->exp->rootfd, F_DUPFD_CLOEXEC, 0);
	if (f->pathfd < 0) {
		r->err = -errno;
		return;
	}
	struct stat st;
	rc = stat_fid_fd(f->exp, f->pathfd, &st, &f->host_mode);
	if (!rc)
		rc = make_qid(f->exp, &st, f->pathfd, NULL, &f->qid);
	f->mode = st.st_mode;
	r->err = rc;
	r->out.u.rattach.qid = f->qid;
}

static void done_attach(struct req *r)
{
	if (!r->err) {
		r->err = install_newfid(r, false);
		if (!r->err)
			log_debug("client %llu: attached fid %u to '%s' as uid %u",
				  (unsigned long long)r->conn->id, r->newfid->num,
				  r->newfid->exp->conf->name, (unsigned)r->newfid->user->uid);
	}
	req_complete(r);
}

static int prep_flush(struct req *r)
{
	conn_flush(r, r->in.u.tflush.oldtag);
	return PREP_OWNED;
}

/* ---- Twalk ---- */

static int prep_walk(struct req *r)
{
	int rc = take_fid(r, r->in.u.twalk.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	uint32_t newnum = r->in.u.twalk.newfid;
	if (newnum != r->fid->num && fid_lookup(&r->conn->fids, newnum))
		return -EEXIST;
	if (r->in.u.twalk.nwname > 0 && !S_ISDIR(r->fid->mode))
		return -ENOTDIR;
	r->newfid = fid_like(newnum, r->fid);
	return r->newfid ? PREP_WORK : -ENOMEM;
}

static bool is_export_root(const struct export *e, const struct stat *st)
{
	return st->st_dev == e->root_dev && st->st_ino == e->root_ino;
}

/* True when directory fd still lies below the export root.  A client
 * cannot move a directory out of the export, but the host can; a fid left
 * inside such a directory must not climb with ".." into the host's tree.
 * Costs one ".." step per level, and only ".." walks pay it. */
static bool dir_inside_export(const struct export *e, int fd)
{
	int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	bool inside = false;
	struct stat st, up;
	for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
		if (fs_stat(cur, &st))
			break;
		if (is_export_root(e, &st)) {
			inside = true;
			break;
		}
		int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || fs_stat(next, &up) || (up.st_dev == st.st_dev && up.st_ino == st.st_ino)) {
			if (next >= 0)
				close(next);
			break; /* reached "/" without meeting the export root */
		}
		close(cur);
		cur = next;
	}
	if (cur >= 0)
		close(cur);
	return inside;
}

/* Each element is one openat2 of one name below the current directory and
 * one fstat for its qid.  The walk starts on the fid's own O_PATH fd
 * (borrowed, never closed here) and the fid's recorded mode: a file's type
 * never changes, so neither a dup nor a stat of the start is needed, except
 * a stat for ".." (is the start the export root?). */
static void work_walk(struct req *r)
{
	struct fid *from = r->fid;
	struct export *e = from->exp;
	uint16_t n = r->in.u.twalk.nwname, i;
	int rc = enter(r, from);
	int cur = from->pathfd;
	if (!rc && n == 0) {
		/* A clone: the new fid gets its own descriptor. */
		cur = fcntl(from->pathfd, F_DUPFD_CLOEXEC, 0);
		if (cur < 0)
			rc = -errno;
	}
	if (rc) {
		r->err = rc;
		fid_unref(r->newfid);
		r->newfid = NULL;
		return;
	}
	struct stat st;
	bool have_st = false; /* st describes cur */
	uint32_t mode = from->mode, host_mode = from->host_mode;
	for (i = 0; i < n && !rc; i++) {
		char name[FS_NAME_BUF];
		rc = fs_name(&r->in.u.twalk.wnames[i], name, true);
		if (rc)
			break;
		if (!S_ISDIR(mode)) {
			rc = -ENOTDIR;
			break;
		}
		int next;
		if (!strcmp(name, "..")) {
			if (!have_st && (rc = stat_fid_fd(e, cur, &st, &host_mode)) != 0)
				break;
			/* ".." of the export root is the root itself. */
			if (is_export_root(e, &st))
				next = fcntl(cur, F_DUPFD_CLOEXEC, 0);
			else
				next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (next < 0) {
				next = -errno;
			} else if (!dir_inside_export(e, next)) {
				close(next);
				next = -ENOENT;
			}
		} else {
			next = fs_open_child(cur, name);
		}
		if (next < 0) {
			rc = next;
			break;
		}
		struct stat nst;
		rc = stat_fid_fd(e, next, &nst, &host_mode);
		if (!rc)
			rc = make_qid(e, &nst, cur, name, &r->out.u.rwalk.wqids[i]);
		if (cur != from->pathfd)
			close(cur);
		cur = next;
		if (rc)
			break;
		st = nst;
		have_st = true;
		mode = nst.st_mode;
	}
	r->out.u.rwalk.nwqid = i;
	if (i < n) {
		if (cur != from->pathfd)
			close(cur);
		/* The first element failing is an error; a later one is a
		 * partial Rwalk, and newfid is not created. */
		if (i == 0)
			r->err = rc ? rc : -ENOENT;
		fid_unref(r->newfid);
		r->newfid = NULL;
		return;
	}
	r->newfid->pathfd = cur;
	r->newfid->mode = mode;
	r->newfid->host_mode = host_mode;
	r->newfid->qid = n ? r->out.u.rwalk.wqids[n - 1] : from->qid;
}

static void done_walk(struct req *r)
{
	if (!r->err && r->newfid)
		r->err = install_newfid(r, r->newfid->num == r->fid->num);
	req_complete(r);
}

/* ---- Tlopen, Tlcreate ---- */

static bool wants_write(int host_flags)
{
	return (host_flags & O_ACCMODE) != O_RDONLY || (host_flags & O_TRUNC);
}

static int prep_lopen(struct req *r)
{
	int rc = take_fid(r, r->in.u.tlopen.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	if (r->fid->fd >= 0 || r->fid->opening)
		return -EBUSY;
	if (r->fid->exp->conf->readonly && wants_write(fs_open_flags(r->in.u.tlopen.flags)))
		return -EROFS;
	r->fid->opening = true;
	return PREP_WORK;
}

static void work_lopen(struct req *r)
{
	struct fid *f = r->fid;
	int rc = enter(r, f);
	if (rc) {
		r->err = rc;
		return;
	}
	int flags = fs_open_flags(r->in.u.tlopen.flags);
	int fd = fs_reopen(f->pathfd, f->mode, f->host_mode, flags);
	if (fd < 0) {
		r->err = fd;
		return;
	}
	r->out.u.rlopen.qid = f->qid;
	r->out.u.rlopen.iounit = 0; /* the client then uses msize - 24 */
	/* Handed to done_lopen through the request; installed on the loop. */
	r->newfid = fid_like(f->num, f);
	if (!r->newfid) {
		close(fd);
		r->err = -ENOMEM;
		return;
	}
	r->newfid->fd = fd;
	r->newfid->open_flags = flags;
}

static void done_lopen(struct req *r)
{
	struct fid *f = r->fid;
	struct server *srv = req_srv(r);
	f->opening = false;
	/* The open fd counts against the fids' descriptor budget; refused,
	 * it is closed with r->newfid. */
	if (!r->err && srv->fid_fds + 1 > fid_fd_budget(srv))
		r->err = -EMFILE;
	if (!r->err) {
		/* Opening changes only the fd: keep the same object, whose
		 * pathfd other requests may be using. */
		f->fd = r->newfid->fd;
		f->open_flags = r->newfid->open_flags;
		f->dirpos = 0;
		r->newfid->fd = -1;
		fid_table_recount(&r->conn->fids, f);
	}
	req_complete(r);
}

static int prep_lcreate(struct req *r)
{
	int rc = take_dir(r, r->in.u.tlcreate.fid, &r->fid, true);
	if (rc)
		return rc;
	if (r->fid->fd >= 0 || r->fid->opening)
		return -EBUSY;
	r->newfid = fid_like(r->fid->num, r->fid);
	return r->newfid ? PREP_WORK : -ENOMEM;
}

/* Tlcreate of a name that exists: open it as Tlopen would (never a
 * special file, never through a symlink). */
static int open_existing(struct export *e, int dirfd, const char *name, int flags)
{
	int pfd = fs_open_child(dirfd, name);
	if (pfd < 0)
		return pfd;
	struct stat st;
	uint32_t host_mode;
	int rc = stat_fid_fd(e, pfd, &st, &host_mode);
	int fd = rc ? rc : fs_reopen(pfd, st.st_mode, host_mode, flags);
	close(pfd);
	return fd;
}

static void work_lcreate(struct req *r)
{
	struct fid *dir = r->fid, *f = r->newfid;
	struct export *e = dir->exp;
	char name[FS_NAME_BUF];
	int rc = fs_name(&r->in.u.tlcreate.name, name, false);
	if (!rc)
		rc = enter_as(r, dir, r->in.u.tlcreate.gid);
	if (rc) {
		r->err = rc;
		return;
	}
	int flags = fs_open_flags(r->in.u.tlcreate.flags) & ~O_DIRECTORY;
	if (r->in.u.tlcreate.flags & NP_DOTL_EXCL)
		flags |= O_EXCL;
	mode_t mode = r->in.u.tlcreate.mode & 07777;
	/* Always create exclusively: O_CREAT on an existing name would open a
	 * host FIFO or device, and under mapped-xattr would rewrite another
	 * user's ownership.  An existing name (when the client did not ask for
	 * O_EXCL) is opened like Tlopen opens it. */
	int fd = openat(dir->pathfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			access_mapped(e) ? 0600 : mode);
	bool created = fd >= 0;
	if (fd < 0 && errno == EEXIST && !(r->in.u.tlcreate.flags & NP_DOTL_EXCL))
		fd = open_existing(e, dir->pathfd, name, flags & ~O_EXCL);
	else if (fd < 0)
		fd = -errno;
	if (fd < 0) {
		r->err = fd;
		return;
	}
	if (created)
		rc = access_record_create(e, dir->pathfd, name, S_IFREG | mode, access_owner_uid(dir),
					  access_create_gid(dir, r->in.u.tlcreate.gid), 0);
	struct stat st;
	if (!rc)
		rc = stat_fid_fd(e, fd, &st, &f->host_mode);
	if (!rc)
		rc = make_qid(e, &st, dir->pathfd, name, &f->qid);
	f->pathfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (!rc && f->pathfd < 0)
		rc = -errno;
	f->fd = fd;
	f->open_flags = flags;
	f->mode = st.st_mode;
	r->err = rc;
	r->out.u.rlcreate.qid = f->qid;
	r->out.u.rlcreate.iounit = 0;
}

static void done_replace(struct req *r)
{
	if (!r->err)
		r->err = install_newfid(r, true);
	req_complete(r);
}

/* ---- Tread, Twrite ---- */

static int prep_read(struct req *r)
{
	struct fid *f = fid_lookup(&r->conn->fids, r->in.u.tread.fid);
	if (!f)
		return -EBADF;
	r->fid = fid_ref(f);
	if (f->kind == FID_FILE && (f->fd < 0 || (f->open_flags & O_ACCMODE) == O_WRONLY))
		return -EBADF;
	if (f->kind == FID_XATTR_WRITE)
		return -EBADF;
	uint32_t max = np_max_io(r->conn->msize);
	if (r->in.u.tread.count > max)
		r->in.u.tread.count = max;
	return PREP_WORK;
}

/* Encodes an Rread/Rreaddir whose payload is already at outbuf + 11. */
static void encode_io_reply(struct req *r, uint8_t type, uint32_t count)
{
	r->out.type = type;
	r->out.tag = r->in.tag;
	r->out.u.rread.count = count;
	r->out.u.rread.data = r->outbuf + NP_IOHDRSZ;
	int n = np_encode(&r->out, r->outbuf, r->outcap);
	if (n < 0)
		r->err = -EIO;
	else
		r->outlen = (uint32_t)n;
}

static void work_read(struct req *r)
{
	struct fid *f = r->fid;
	uint32_t count = r->in.u.tread.count;
	uint64_t off = r->in.u.tread.offset;
	if (req_out_reserve(r, NP_IOHDRSZ + count)) {
		r->err = -ENOMEM;
		return;
	}
	uint8_t *dst = r->outbuf + NP_IOHDRSZ;
	ssize_t n;
	if (f->kind == FID_XATTR_READ) {
		pthread_mutex_lock(&f->lock);
		n = 0;
		if (off < f->xsize) {
			n = (ssize_t)(f->xsize - off < count ? f->xsize - off : count);
			memcpy(dst, f->xbuf + off, (size_t)n);
		}
		pthread_mutex_unlock(&f->lock);
	} else {
		if (off > INT64_MAX) {
			r->err = -EINVAL;
			return;
		}
		n = pread(f->fd, dst, count, (off_t)off);
		if (n < 0) {
			r->err = -errno;
			return;
		}
	}
	encode_io_reply(r, NP_RREAD, (uint32_t)n);
}

static int prep_write(struct req *r)
{
	struct fid *f = fid_lookup(&r->conn->fids, r->in.u.twrite.fid);
	if (!f)
		return -EBADF;
	r->fid = fid_ref(f);
	if (f->kind == FID_XATTR_READ)
		return -EBADF;
	if (f->kind == FID_FILE) {
		if (f->fd < 0 || (f->open_flags & O_ACCMODE) == O_RDONLY)
			return -EBADF;
		if (f->exp->conf->readonly)
			return -EROFS;
	}
	return PREP_WORK;
}

static void work_write(struct req *r)
{
	struct fid *f = r->fid;
	uint64_t off = r->in.u.twrite.offset;
	uint32_t count = r->in.u.twrite.count;
	if (f->kind == FID_XATTR_WRITE) {
		pthread_mutex_lock(&f->lock);
		if (off > f->xsize || count > f->xsize - off) {
			r->err = -ENOSPC; /* more than Txattrcreate announced */
		} else {
			memcpy(f->xbuf + off, r->in.u.twrite.data, count);
			if (off + count > f->xfill)
				f->xfill = off + count;
			r->out.u.rwrite.count = count;
		}
		pthread_mutex_unlock(&f->lock);
		return;
	}
	if (off > INT64_MAX) {
		r->err = -EINVAL;
		return;
	}
	ssize_t n = pwrite(f->fd, r->in.u.twrite.data, count, (off_t)off);
	if (n < 0)
		r->err = -errno;
	else
		r->out.u.rwrite.count = (uint32_t)n;
}

/* ---- Tclunk, Tremove ---- */

static int prep_clunk(struct req *r)
{
	r->fid = fid_remove(&r->conn->fids, r->in.u.tclunk.fid);
	if (!r->fid)
		return -EBADF;
	/* Only a pending xattr value needs the file system at clunk; other
	 * fids just drop their reference (fds close with the last one). */
	return r->fid->kind == FID_XATTR_WRITE ? PREP_WORK : PREP_REPLY;
}

static void work_clunk(struct req *r)
{
	struct fid *f = r->fid;
	if (f->xfill != f->xsize) {
		r->err = -EINVAL; /* fewer bytes written than announced */
		return;
	}
	int rc = enter(r, f);
	if (rc) {
		r->err = rc;
		return;
	}
	char proc[32];
	fs_proc_path(f->pathfd, proc);
	if (f->xsize == 0 && (f->xflags & XATTR_REPLACE))
		rc = removexattr(proc, f->xname);
	else
		rc = setxattr(proc, f->xname, f->xbuf, f->xsize, (int)f->xflags);
	r->err = rc ? -errno : 0;
}

static int prep_remove(struct req *r)
{
	/* The fid is clunked whether or not the remove succeeds. */
	r->fid = fid_remove(&r->conn->fids, r->in.u.tremove.fid);
	if (!r->fid)
		return -EBADF;
	if (r->fid->kind != FID_FILE)
		return -EINVAL;
	if (r->fid->exp->conf->readonly)
		return -EROFS;
	return PREP_WORK;
}

static void work_remove(struct req *r)
{
	struct fid *f = r->fid;
	int rc = enter(r, f);
	int parent = -1;
	char name[FS_NAME_BUF];
	if (!rc)
		rc = fs_parent(f->exp, f->pathfd, &parent, name);
	if (!rc) {
		if (unlinkat(parent, name, S_ISDIR(f->mode) ? AT_REMOVEDIR : 0))
			rc = -errno;
		close(parent);
	}
	r->err = rc;
}

/* ---- Tstatfs, Tgetattr, Tsetattr ---- */

static int prep_fid_file(struct req *r)
{
	/* tstatfs, tgetattr, treadlink, tsetattr all start with fid[4]. */
	return or_work(take_fid(r, r->in.u.tstatfs.fid, &r->fid, FID_FILE));
}

static void work_statfs(struct req *r)
{
	struct statfs s;
	if (fstatfs(r->fid->pathfd, &s)) {
		r->err = -errno;
		return;
	}
	struct np_statfs *o = &r->out.u.rstatfs;
	o->type = (uint32_t)s.f_type;
	o->bsize = (uint32_t)s.f_bsize;
	o->blocks = s.f_blocks;
	o->bfree = s.f_bfree;
	o->bavail = s.f_bavail;
	o->files = s.f_files;
	o->ffree = s.f_ffree;
	o->fsid = (uint64_t)(uint32_t)s.f_fsid.__val[0] | (uint64_t)(uint32_t)s.f_fsid.__val[1] << 32;
	o->namelen = (uint32_t)s.f_namelen;
}

static void work_getattr(struct req *r)
{
	struct fid *f = r->fid;
	struct stat st;
	int rc = access_stat(f->exp, f->pathfd, &st);
	struct np_attr *a = &r->out.u.rgetattr;
	if (!rc)
		rc = make_qid(f->exp, &st, f->pathfd, NULL, &a->qid);
	if (rc) {
		r->err = rc;
		return;
	}
	a->valid = NP_GETATTR_BASIC;
	a->mode = st.st_mode;
	a->uid = st.st_uid;
	a->gid = st.st_gid;
	a->nlink = st.st_nlink;
	a->rdev = st.st_rdev;
	a->size = (uint64_t)st.st_size;
	a->blksize = (uint64_t)st.st_blksize;
	a->blocks = (uint64_t)st.st_blocks;
	a->atime_sec = (uint64_t)st.st_atim.tv_sec;
	a->atime_nsec = (uint64_t)st.st_atim.tv_nsec;
	a->mtime_sec = (uint64_t)st.st_mtim.tv_sec;
	a->mtime_nsec = (uint64_t)st.st_mtim.tv_nsec;
	a->ctime_sec = (uint64_t)st.st_ctim.tv_sec;
	a->ctime_nsec = (uint64_t)st.st_ctim.tv_nsec;
}

static int prep_setattr(struct req *r)
{
	int rc = take_fid(r, r->in.u.tsetattr.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	return r->fid->exp->conf->readonly ? -EROFS : PREP_WORK;
}

static void work_setattr(struct req *r)
{
	struct fid *f = r->fid;
	uint32_t v = r->in.u.tsetattr.valid;
	char proc[32];
	fs_proc_path(f->pathfd, proc);
	int rc = enter(r, f);
	if (!rc && (v & NP_SETATTR_MODE))
		rc = access_chmod(f, r->in.u.tsetattr.mode);
	if (!rc && (v & (NP_SETATTR_UID | NP_SETATTR_GID))) {
		uid_t uid = (v & NP_SETATTR_UID) ? r->in.u.tsetattr.uid : (uid_t)-1;
		gid_t gid = (v & NP_SETATTR_GID) ? r->in.u.tsetattr.gid : (gid_t)-1;
		rc = access_chown(f, uid, gid);
	}
	if (!rc && (v & NP_SETATTR_SIZE)) {
		if (S_ISDIR(f->mode))
			rc = -EISDIR;
		else if (!S_ISREG(f->mode) || !S_ISREG(f->host_mode))
			rc = -EINVAL;
		else if (r->in.u.tsetattr.size > INT64_MAX)
			rc = -EFBIG;
		else if (truncate(proc, (off_t)r->in.u.tsetattr.size))
			rc = -errno;
	}
	if (!rc && (v & (NP_SETATTR_ATIME | NP_SETATTR_MTIME))) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
		if (v & NP_SETATTR_ATIME) {
			if (v & NP_SETATTR_ATIME_SET) {
				ts[0].tv_sec = (time_t)r->in.u.tsetattr.atime_sec;
				ts[0].tv_nsec = (long)r->in.u.tsetattr.atime_nsec;
			} else {
				ts[0].tv_nsec = UTIME_NOW;
			}
		}
		if (v & NP_SETATTR_MTIME) {
			if (v & NP_SETATTR_MTIME_SET) {
				ts[1].tv_sec = (time_t)r->in.u.tsetattr.mtime_sec;
				ts[1].tv_nsec = (long)r->in.u.tsetattr.mtime_nsec;
			} else {
				ts[1].tv_nsec = UTIME_NOW;
			}
		}
		if (S_ISLNK(f->host_mode)) {
			/* The /proc link would resolve to the symlink but utimensat
			 * cannot take AT_SYMLINK_NOFOLLOW through it: use the
			 * parent found inside the export. */
			int parent;
			char name[FS_NAME_BUF];
			rc = fs_parent(f->exp, f->pathfd, &parent, name);
			if (!rc) {
				if (utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW))
					rc = -errno;
				close(parent);
			}
		} else if (utimensat(AT_FDCWD, proc, ts, 0)) {
			rc = -errno;
		}
	}
	r->err = rc;
}

/* ---- Treadlink ---- */

static void work_readlink(struct req *r)
{
	char target[PATH_MAX];
	if (!S_ISLNK(r->fid->mode)) {
		r->err = -EINVAL;
		return;
	}
	ssize_t n = access_readlink(r->fid, target, sizeof target);
	if (n < 0) {
		r->err = (int)n;
		return;
	}
	if ((size_t)n >= sizeof target || n > UINT16_MAX) {
		r->err = -ENAMETOOLONG;
		return;
	}
	r->out.type = NP_RREADLINK;
	r->out.tag = r->in.tag;
	r->out.u.rreadlink.target = (struct np_str){target, (uint16_t)n};
	int len = np_encode(&r->out, r->outbuf, r->outcap);
	if (len < 0)
		r->err = -ENAMETOOLONG;
	else
		r->outlen = (uint32_t)len;
}

/* ---- creating names: Tsymlink, Tmknod, Tmkdir, Tlink ---- */

static int prep_dir_create(struct req *r)
{
	/* tsymlink, tmknod, tmkdir start with dfid[4]. */
	return or_work(take_dir(r, r->in.u.tmkdir.dfid, &r->fid, true));
}

/* After creating dirfd/name: record the guest's view (mapped-xattr; on
 * failure the new name is removed again), stat it, produce its qid. */
static void reply_created(struct req *r, const char *name, mode_t mode, gid_t gid, dev_t rdev,
			  struct np_qid *q)
{
	struct fid *dir = r->fid;
	int rc = access_record_create(dir->exp, dir->pathfd, name, mode, access_owner_uid(dir),
				      access_create_gid(dir, gid), rdev);
	if (rc) {
		unlinkat(dir->pathfd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		r->err = rc;
		return;
	}
	struct stat st;
	rc = access_stat_child(dir->exp, dir->pathfd, name, &st);
	if (!rc)
		rc = make_qid(dir->exp, &st, dir->pathfd, name, q);
	r->err = rc;
}

/* mapped-xattr keeps a symlink as a regular file holding the target. */
static int mapped_symlink(int dirfd, const char *name, const char *target)
{
	int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(target);
	ssize_t n = write(fd, target, len);
	int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	if (rc)
		unlinkat(dirfd, name, 0);
	return rc;
}

static void work_symlink(struct req *r)
{
	char name[FS_NAME_BUF], target[PATH_MAX];
	const struct np_str *t = &r->in.u.tsymlink.target;
	int rc = fs_name(&r->in.u.tsymlink.name, name, false);
	if (!rc && (t->len == 0 || memchr(t->s, '\0', t->len)))
		rc = t->len == 0 ? -ENOENT : -EINVAL;
	if (!rc && t->len >= sizeof target)
		rc = -ENAMETOOLONG;
	if (!rc)
		rc = enter_as(r, r->fid, r->in.u.tsymlink.gid);
	if (rc) {
		r->err = rc;
		return;
	}
	memcpy(target, t->s, t->len);
	target[t->len] = '\0';
	/* The target is stored, never resolved by the server. */
	if (access_mapped(r->fid->exp))
		rc = mapped_symlink(r->fid->pathfd, name, target);
	else if (symlinkat(target, r->fid->pathfd, name))
		rc = -errno;
	if (rc) {
		r->err = rc;
		return;
	}
	reply_created(r, name, S_IFLNK | 0777, r->in.u.tsymlink.gid, 0, &r->out.u.rsymlink.qid);
}

static void work_mknod(struct req *r)
{
	char name[FS_NAME_BUF];
	int rc = fs_name(&r->in.u.tmknod.name, name, false);
	if (!rc)
		rc = enter_as(r, r->fid, r->in.u.tmknod.gid);
	if (rc) {
		r->err = rc;
		return;
	}
	mode_t mode = r->in.u.tmknod.mode;
	dev_t dev = makedev(r->in.u.tmknod.major, r->in.u.tmknod.minor);
	/* mapped-xattr: every special file is a plain file on the host, so
	 * the host never gets a device node from a guest. */
	bool mapped = access_mapped(r->fid->exp);
	if (mknodat(r->fid->pathfd, name, mapped ? S_IFREG | 0600 : mode, mapped ? 0 : dev)) {
		r->err = -errno;
		return;
	}
	reply_created(r, name, mode, r->in.u.tmknod.gid, dev, &r->out.u.rmknod.qid);
}

static void work_mkdir(struct req *r)
{
	char name[FS_NAME_BUF];
	int rc = fs_name(&r->in.u.tmkdir.name, name, false);
	if (!rc)
		rc = enter_as(r, r->fid, r->in.u.tmkdir.gid);
	if (rc) {
		r->err = rc;
		return;
	}
	mode_t mode = r->in.u.tmkdir.mode & 07777;
	if (mkdirat(r->fid->pathfd, name, access_mapped(r->fid->exp) ? 0700 : mode)) {
		r->err = -errno;
		return;
	}
	reply_created(r, name, S_IFDIR | mode, r->in.u.tmkdir.gid, 0, &r->out.u.rmkdir.qid);
}

static int prep_link(struct req *r)
{
	int rc = take_dir(r, r->in.u.tlink.dfid, &r->fid, true);
	if (!rc)
		rc = take_fid(r, r->in.u.tlink.fid, &r->fid2, FID_FILE);
	if (!rc && S_ISDIR(r->fid2->mode))
		rc = -EPERM;
	return or_work(rc);
}

static void work_link(struct req *r)
{
	char name[FS_NAME_BUF], proc[32];
	int rc = fs_name(&r->in.u.tlink.name, name, false);
	if (!rc)
		rc = enter(r, r->fid);
	if (rc) {
		r->err = rc;
		return;
	}
	/* linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
	 * /proc link names exactly the same inode without it. */
	fs_proc_path(r->fid2->pathfd, proc);
	if (linkat(AT_FDCWD, proc, r->fid->pathfd, name, AT_SYMLINK_FOLLOW))
		r->err = -errno;
}

/* ---- Trename, Trenameat, Tunlinkat ---- */

static int prep_rename(struct req *r)
{
	int rc = take_fid(r, r->in.u.trename.fid, &r->fid, FID_FILE);
	if (!rc)
		rc = take_dir(r, r->in.u.trename.dfid, &r->fid2, true);
	if (!rc && r->fid->exp != r->fid2->exp)
		rc = -EXDEV;
	return or_work(rc);
}

static void work_rename(struct req *r)
{
	char newname[FS_NAME_BUF], oldname[FS_NAME_BUF];
	int parent = -1;
	int rc = fs_name(&r->in.u.trename.name, newname, false);
	if (!rc)
		rc = enter(r, r->fid);
	if (!rc)
		rc = fs_parent(r->fid->exp, r->fid->pathfd, &parent, oldname);
	if (!rc) {
		if (renameat(parent, oldname, r->fid2->pathfd, newname))
			rc = -errno;
		close(parent);
	}
	r->err = rc;
}

static int prep_renameat(struct req *r)
{
	int rc = take_dir(r, r->in.u.trenameat.olddirfid, &r->fid, true);
	if (!rc)
		rc = take_dir(r, r->in.u.trenameat.newdirfid, &r->fid2, true);
	if (!rc && r->fid->exp != r->fid2->exp)
		rc = -EXDEV;
	return or_work(rc);
}

static void work_renameat(struct req *r)
{
	char oldname[FS_NAME_BUF], newname[FS_NAME_BUF];
	int rc = fs_name(&r->in.u.trenameat.oldname, oldname, false);
	if (!rc)
		rc = fs_name(&r->in.u.trenameat.newname, newname, false);
	if (!rc)
		rc = enter(r, r->fid);
	if (!rc && renameat(r->fid->pathfd, oldname, r->fid2->pathfd, newname))
		rc = -errno;
	r->err = rc;
}

static int prep_unlinkat(struct req *r)
{
	return or_work(take_dir(r, r->in.u.tunlinkat.dirfid, &r->fid, true));
}

static void work_unlinkat(struct req *r)
{
	char name[FS_NAME_BUF];
	int rc = fs_name(&r->in.u.tunlinkat.name, name, false);
	if (!rc)
		rc = enter(r, r->fid);
	int flags = (r->in.u.tunlinkat.flags & NP_AT_REMOVEDIR) ? AT_REMOVEDIR : 0;
	if (!rc && unlinkat(r->fid->pathfd, name, flags))
		rc = -errno;
	r->err = rc;
}

/* ---- xattrs ---- */

static int prep_xattrwalk(struct req *r)
{
	int rc = take_fid(r, r->in.u.txattrwalk.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	uint32_t newnum = r->in.u.txattrwalk.newfid;
	if (newnum != r->fid->num && fid_lookup(&r->conn->fids, newnum))
		return -EEXIST;
	r->newfid = fid_like(newnum, r->fid);
	if (!r->newfid)
		return -ENOMEM;
	r->newfid->kind = FID_XATTR_READ;
	return PREP_WORK;
}

/* The daemon's own capabilities (CAP_SYS_ADMIN, CAP_SETFCAP) stay
 * effective whatever fsuid a request runs with, so the kernel would let any
 * guest user read trusted.* and write security.* (file capabilities!) and
 * trusted.* xattrs.  Those namespaces are for uid 0 only. */
static bool xattr_privileged(const char *name)
{
	return !strncmp(name, "trusted.", 8) || !strncmp(name, "security.", 9);
}

static bool request_is_root(const struct fid *f)
{
	const struct user *u = access_user(f);
	return u ? u->uid == 0 : f->user && f->user->uid == 0;
}

static size_t filter_trusted(char *list, size_t len)
{
	size_t out = 0;
	for (size_t pos = 0; pos < len;) {
		size_t n = strnlen(list + pos, len - pos) + 1;
		if (strncmp(list + pos, "trusted.", 8)) {
			memmove(list + out, list + pos, n);
			out += n;
		}
		pos += n;
	}
	return out;
}

/* A C string copy of an xattr name: no NUL inside, at most 255 bytes. */
static int xattr_name(const struct np_str *s, char buf[FS_NAME_BUF])
{
	if (s->len > NAME_MAX)
		return -ERANGE;
	if (memchr(s->s, '\0', s->len))
		return -EINVAL;
	memcpy(buf, s->s, s->len);
	buf[s->len] = '\0';
	return 0;
}

static void work_xattrwalk(struct req *r)
{
	struct fid *f = r->fid, *x = r->newfid;
	char name[FS_NAME_BUF], proc[32];
	int rc = xattr_name(&r->in.u.txattrwalk.name, name);
	if (!rc && access_xattr_hidden(f->exp, name))
		rc = -ENODATA;
	if (!rc && !strncmp(name, "trusted.", 8) && !request_is_root(f))
		rc = -ENODATA;
	if (!rc)
		rc = enter(r, f);
	if (rc) {
		r->err = rc;
		return;
	}
	fs_proc_path(f->pathfd, proc);
	/* The value may change size between the two calls: retry. */
	for (int tries = 0; tries < 3; tries++) {
		ssize_t n = name[0] ? getxattr(proc, name, NULL, 0) : listxattr(proc, NULL, 0);
		if (n < 0) {
			r->err = -errno;
			return;
		}
		free(x->xbuf);
		x->xbuf = NULL;
		r->err = fid_charge_xattr(x, &r->conn->xattr_bytes, n ? (size_t)n : 1);
		if (r->err)
			return;
		x->xbuf = malloc(n ? (size_t)n : 1);
		if (!x->xbuf) {
			r->err = -ENOMEM;
			return;
		}
		ssize_t got = name[0] ? getxattr(proc, name, x->xbuf, (size_t)n)
				      : listxattr(proc, (char *)x->xbuf, (size_t)n);
		if (got >= 0) {
			if (!name[0])
				got = (ssize_t)access_filter_xattr_list(f->exp, (char *)x->xbuf,
									(size_t)got);
			if (!name[0] && !request_is_root(f))
				got = (ssize_t)filter_trusted((char *)x->xbuf, (size_t)got);
			x->xsize = (uint64_t)got;
			r->out.u.rxattrwalk.size = (uint64_t)got;
			return;
		}
		if (errno != ERANGE) {
			r->err = -errno;
			return;
		}
	}
	r->err = -EAGAIN;
}

static void done_xattrwalk(struct req *r)
{
	if (!r->err)
		r->err = install_newfid(r, r->newfid->num == r->fid->num);
	req_complete(r);
}

static int prep_xattrcreate(struct req *r)
{
	int rc = take_fid(r, r->in.u.txattrcreate.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	if (r->fid->exp->conf->readonly)
		return -EROFS;
	uint64_t size = r->in.u.txattrcreate.attr_size;
	if (size > XATTR_MAX)
		return -E2BIG;
	if (r->in.u.txattrcreate.flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	char name[FS_NAME_BUF];
	rc = xattr_name(&r->in.u.txattrcreate.name, name);
	if (rc)
		return rc;
	if (!name[0])
		return -EINVAL;
	if (access_xattr_hidden(r->fid->exp, name))
		return -EACCES;
	if (xattr_privileged(name) && !request_is_root(r->fid))
		return -EPERM;
	/* The fid turns into the value being written; Tclunk sets it. */
	struct fid *x = fid_like(r->fid->num, r->fid);
	if (!x)
		return -ENOMEM;
	r->newfid = x;
	x->kind = FID_XATTR_WRITE;
	x->mode = r->fid->mode;
	x->host_mode = r->fid->host_mode;
	x->pathfd = fcntl(r->fid->pathfd, F_DUPFD_CLOEXEC, 0);
	x->xname = strdup(name);
	if (fid_charge_xattr(x, &r->conn->xattr_bytes, size ? (size_t)size : 1) < 0)
		return -ENOMEM;
	x->xbuf = calloc(1, size ? (size_t)size : 1);
	x->xsize = size;
	x->xflags = r->in.u.txattrcreate.flags;
	if (x->pathfd < 0 || !x->xname || !x->xbuf)
		return -ENOMEM;
	rc = install_newfid(r, true);
	return rc ? rc : PREP_REPLY;
}

/* ---- Treaddir ---- */

static int prep_readdir(struct req *r)
{
	int rc = take_fid(r, r->in.u.treaddir.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	if (r->fid->fd < 0 || !S_ISDIR(r->fid->mode))
		return -EBADF;
	uint32_t max = np_max_io(r->conn->msize);
	if (r->in.u.treaddir.count > max)
		r->in.u.treaddir.count = max;
	return PREP_WORK;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The qid of one directory entry: the same one a walk to it returns, so
 * mount points are reported as the mounted root.  Directories (the places
 * file systems are mounted on) and entries of unknown type are stat-ed;
 * any other entry is on the directory's own device with inode d_ino, which
 * saves a stat per file (readdir of 10,000 files spent 77% of its time in
 * those stats).  The one case this misses is a single file bind-mounted
 * inside the export: its entry shows the covered inode (a walk to it still
 * gets the mounted file's qid).  mapped-xattr needs the stat for the
 * guest's file type.  ".." of the export root is the root; an entry that
 * vanished or that the policy refuses keeps its raw d_ino. */
static void dirent_qid(struct fid *dir, const struct stat *dst, const struct linux_dirent64 *d,
		       struct np_qid *q, uint8_t *dtype)
{
	struct export *e = dir->exp;
	struct stat st;
	int rc;
	if (!strcmp(d->d_name, "."))
		st = *dst, rc = 0;
	else if (!strcmp(d->d_name, "..") && is_export_root(e, dst))
		st = *dst, rc = 0;
	else if (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN && !access_mapped(e)) {
		st.st_dev = dst->st_dev;
		st.st_ino = d->d_ino;
		st.st_mode = DTTOIF(d->d_type);
		rc = 0;
	} else
		rc = access_stat_child(e, dir->fd, d->d_name, &st);
	if (!rc && access_mapped(e))
		*dtype = (uint8_t)IFTODT(st.st_mode); /* the guest's type, not the host's */
	if (!rc)
		rc = make_qid(e, &st, dir->fd, d->d_name, q);
	if (rc) {
		q->type = d->d_type == DT_DIR ? NP_QTDIR : d->d_type == DT_LNK ? NP_QTSYMLINK : NP_QTFILE;
		q->version = 0;
		q->path = d->d_ino;
	}
}

static void work_readdir(struct req *r)
{
	struct fid *f = r->fid;
	uint32_t count = r->in.u.treaddir.count;
	if (req_out_reserve(r, NP_IOHDRSZ + count)) {
		r->err = -ENOMEM;
		return;
	}
	int rc = enter(r, f);
	if (rc) {
		r->err = rc;
		return;
	}
	struct stat dst;
	rc = fs_stat(f->fd, &dst);
	if (rc) {
		r->err = rc;
		return;
	}
	struct np_dirpack pack;
	np_dirpack_init(&pack, r->outbuf + NP_IOHDRSZ, count);
	char buf[32768] __attribute__((aligned(8)));

	pthread_mutex_lock(&f->lock);
	int64_t want = (int64_t)r->in.u.treaddir.offset;
	if (f->dirpos != want) {
		if (lseek(f->fd, want, SEEK_SET) < 0) {
			rc = -errno;
			goto out;
		}
		f->dirpos = want;
	}
	bool full = false;
	while (!full) {
		/* A 9P entry is at most 7/6 of the kernel's record for it (24 +
		 * namelen bytes against 20 + namelen rounded up to 8, at least
		 * 24), so asking for 6/7 of the room left never reads an entry
		 * that does not fit.  Reading past the reply would cost a seek
		 * back, and on ext4 a seek throws away the hash-ordered tree of
		 * the directory's entries, which the next read builds again. */
		size_t room = pack.cap - pack.len, want = room / 7 * 6;
		if (want > sizeof buf)
			want = sizeof buf;
		if (want < 512) {
			if (pack.len)
				break; /* nearly full: send what we have */
			want = sizeof buf; /* a tiny count: read, then seek back */
		}
		ssize_t n = getdents64(f->fd, buf, want);
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t pos = 0; pos < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + pos);
			struct np_dirent ent = {
				.offset = (uint64_t)d->d_off,
				.type = d->d_type,
				.name = np_str_c(d->d_name),
			};
			if (np_dirent_size(ent.name.len) > pack.cap - pack.len) {
				full = true;
				break;
			}
			dirent_qid(f, &dst, d, &ent.qid, &ent.type);
			np_dirpack_add(&pack, &ent);
			f->dirpos = d->d_off;
			pos += d->d_reclen;
		}
		if (full) {
			/* The kernel's position is past entries that did not fit:
			 * the next Treaddir seeks back to the last one sent. */
			if (lseek(f->fd, f->dirpos, SEEK_SET) < 0)
				f->dirpos = -1;
		}
	}
out:
	pthread_mutex_unlock(&f->lock);
	if (rc && pack.len == 0) {
		r->err = rc;
		return;
	}
	encode_io_reply(r, NP_RREADDIR, pack.len);
}

/* ---- Tfsync, Tlock, Tgetlock ---- */

static int prep_open_fid(struct req *r)
{
	/* tfsync, tlock, tgetlock start with fid[4] and need an open file. */
	int rc = take_fid(r, r->in.u.tfsync.fid, &r->fid, FID_FILE);
	if (rc)
		return rc;
	return r->fid->fd < 0 ? -EBADF : PREP_WORK;
}

static void work_fsync(struct req *r)
{
	int fd = r->fid->fd;
	if (r->in.u.tfsync.datasync ? fdatasync(fd) : fsync(fd))
		r->err = -errno;
}

/* Byte-range locks are open file description locks on the fid's own open
 * file, so two fids (two guest opens, two clients) contend as two
 * processes would on the host. */
static void work_lock(struct req *r)
{
	struct flock fl = {
		.l_type = (short)(r->in.u.tlock.type == NP_LOCK_TYPE_RDLCK   ? F_RDLCK
				  : r->in.u.tlock.type == NP_LOCK_TYPE_WRLCK ? F_WRLCK
									     : F_UNLCK),
		.l_whence = SEEK_SET,
		.l_start = (off_t)r->in.u.tlock.start,
		.l_len = (off_t)r->in.u.tlock.length,
	};
	if (r->in.u.tlock.type > NP_LOCK_TYPE_UNLCK) {
		r->out.u.rlock.status = NP_LOCK_ERROR;
		return;
	}
	if (fcntl(r->fid->fd, F_OFD_SETLK, &fl) == 0) {
		r->out.u.rlock.status = NP_LOCK_SUCCESS;
	} else if (errno == EAGAIN || errno == EACCES) {
		r->out.u.rlock.status = NP_LOCK_BLOCKED;
	} else {
		r->out.u.rlock.status = NP_LOCK_ERROR;
	}
}

static void done_lock(struct req *r)
{
	/* A blocking lock that is busy waits here, on the loop, holding no
	 * worker thread; Tflush or a disconnect cancels the wait, and a
	 * shutdown or the client's end of input answers it (BLOCKED: the
	 * client retries elsewhere): nobody could Tflush it any more. */
	if (!r->err && r->out.u.rlock.status == NP_LOCK_BLOCKED &&
	    (r->in.u.tlock.flags & NP_LOCK_FLAGS_BLOCK) && !r->conn->closing && !r->conn->eof &&
	    !r->flushed && !req_srv(r)->stopping) {
		server_lock_wait(r);
		return;
	}
	req_complete(r);
}

static void work_getlock(struct req *r)
{
	struct flock fl = {
		.l_type = (short)(r->in.u.tgetlock.type == NP_LOCK_TYPE_RDLCK ? F_RDLCK : F_WRLCK),
		.l_whence = SEEK_SET,
		.l_start = (off_t)r->in.u.tgetlock.start,
		.l_len = (off_t)r->in.u.tgetlock.length,
	};
	if (fcntl(r->fid->fd, F_OFD_GETLK, &fl)) {
		r->err = -errno;
		return;
	}
	r->out.u.rgetlock.type = fl.l_type == F_RDLCK   ? NP_LOCK_TYPE_RDLCK
				 : fl.l_type == F_WRLCK ? NP_LOCK_TYPE_WRLCK
							: NP_LOCK_TYPE_UNLCK;
	r->out.u.rgetlock.start = (uint64_t)fl.l_start;
	r->out.u.rgetlock.length = (uint64_t)fl.l_len;
	r->out.u.rgetlock.proc_id = fl.l_type == F_UNLCK ? r->in.u.tgetlock.proc_id : 0;
	r->out.u.rgetlock.client_id = r->in.u.tgetlock.client_id;
}

/* ---- the dispatch table ---- */

static const struct op op_table[256] = {
	[NP_TVERSION] = {prep_version, NULL, NULL},
	[NP_TAUTH] = {prep_auth, NULL, NULL},
	[NP_TATTACH] = {prep_attach, work_attach, done_attach},
	[NP_TFLUSH] = {prep_flush, NULL, NULL},
	[NP_TWALK] = {prep_walk, work_walk, done_walk},
	[NP_TLOPEN] = {prep_lopen, work_lopen, done_lopen},
	[NP_TLCREATE] = {prep_lcreate, work_lcreate, done_replace},
	[NP_TREAD] = {prep_read, work_read, NULL},
	[NP_TWRITE] = {prep_write, work_write, NULL},
	[NP_TCLUNK] = {prep_clunk, work_clunk, NULL},
	[NP_TREMOVE] = {prep_remove, work_remove, NULL},
	[NP_TSTATFS] = {prep_fid_file, work_statfs, NULL},
	[NP_TGETATTR] = {prep_fid_file, work_getattr, NULL},
	[NP_TSETATTR] = {prep_setattr, work_setattr, NULL},
	[NP_TREADLINK] = {prep_fid_file, work_readlink, NULL},
	[NP_TSYMLINK] = {prep_dir_create, work_symlink, NULL},
	[NP_TMKNOD] = {prep_dir_create, work_mknod, NULL},
	[NP_TMKDIR] = {prep_dir_create, work_mkdir, NULL},
	[NP_TLINK] = {prep_link, work_link, NULL},
	[NP_TRENAME] = {prep_rename, work_rename, NULL},
	[NP_TRENAMEAT] = {prep_renameat, work_renameat, NULL},
	[NP_TUNLINKAT] = {prep_unlinkat, work_unlinkat, NULL},
	[NP_TXATTRWALK] = {prep_xattrwalk, work_xattrwalk, done_xattrwalk},
	[NP_TXATTRCREATE] = {prep_xattrcreate, NULL, NULL},
	[NP_TREADDIR] = {prep_readdir, work_readdir, NULL},
	[NP_TFSYNC] = {prep_open_fid, work_fsync, NULL},
	[NP_TLOCK] = {prep_open_fid, work_lock, done_lock},
	[NP_TGETLOCK] = {prep_open_fid, work_getlock, NULL},
};

void ops_dispatch(struct req *r)
{
	const struct op *op = &op_table[r->in.type];
	int rc;
	if (!op->prep && !op->work)
		rc = -ENOSYS;
	else if (!r->conn->versioned && r->in.type != NP_TVERSION)
		rc = -EPROTO; /* Tversion must come first */
	else
		rc = op->prep ? op->prep(r) : PREP_WORK;
	if (rc == PREP_OWNED)
		return;
	if (rc < 0) {
		r->err = rc;
		req_complete(r);
	} else if (rc == PREP_WORK && op->work) {
		req_queue_work(r);
	} else {
		req_complete(r);
	}
}

void ops_work(struct req *r)
{
	op_table[r->in.type].work(r);
}

bool ops_reply_is_final(const struct req *r)
{
	return op_table[r->in.type].done == NULL;
}

void ops_done(struct req *r)
{
	if (r->err && !r->direct)
		r->outlen = 0; /* an in-place reply is replaced by Rlerror */
	const struct op *op = &op_table[r->in.type];
	if (op->done)
		op->done(r);
	else
		req_complete(r);
}

/* Runs a Tlock again (the loop's lock timer calls this). */
void ops_retry_lock(struct req *r)
{
	req_queue_work(r);
}
