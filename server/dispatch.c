/* The request contract table and the wrapper that enforces it
 * (dispatch.h).  Every rule a request must obey before it touches the file
 * system lives in its row here, and only here. */
#include "server/dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/backend.h"
#include "server/conn.h"
#include "server/ops.h"

/* What a fid the request names must be.  Failing it is EBADF unless said. */
enum need {
	NEED_NONE = 0,
	NEED_ANY,        /* any fid, xattr fids included */
	NEED_FILE,       /* a file-system object */
	NEED_WALK_FROM,  /* a file; a directory when the walk has names (ENOTDIR) */
	NEED_DIR,        /* a directory (ENOTDIR) */
	NEED_NOT_DIR,    /* not a directory (EPERM: hard links to directories) */
	NEED_SYMLINK,    /* a symlink as the guest sees it (EINVAL) */
	NEED_OPEN,       /* an open file */
	NEED_OPEN_DIR,   /* an open directory */
	NEED_READABLE,   /* open for reading, or an xattr value to read */
	NEED_WRITABLE,   /* open for writing, or an xattr value being written */
	NEED_CLOSED,     /* a file not opened yet, nor being opened (EBUSY) */
	NEED_CLOSED_DIR, /* the same, and a directory (ENOTDIR) */
};

enum newfid_rule {
	NEWFID_NONE = 0,
	NEWFID_UNUSED,         /* the number must be free (EEXIST) */
	NEWFID_UNUSED_OR_SAME, /* free, or the request's own fid (it is replaced) */
	NEWFID_REPLACES,       /* a new object for the request's fid number */
};

enum modifies {
	MOD_NEVER = 0,
	MOD_ALWAYS,
	MOD_IF_OPEN_FOR_WRITE, /* Tlopen asking for write access or O_TRUNC */
	MOD_IF_FILE,           /* Twrite to a file (not to an xattr value) */
};

enum identity {
	AS_NOBODY = 0, /* touches no file system */
	AS_CLIENT,     /* the user who attached the request's first fid */
	AS_ATTACHER,   /* Tattach: the user the message names */
};

enum gid_source {
	GID_USER = 0, /* the user's own */
	GID_FIELD,    /* the gid the message names (creations) */
	GID_SETATTR,  /* the new group of a chown; for a chmod the file's group,
		       * so that a set-group-ID bit the guest allowed stays */
};

enum after {
	AFTER_NOTHING = 0,
	AFTER_INSTALL, /* newfid goes into the fid table */
	AFTER_OPENED,  /* the opened descriptor goes into the fid */
	AFTER_LOCK,    /* a blocking lock that found the range taken waits */
};

struct fid_arg {
	uint16_t off;  /* offsetof(struct np_msg, the fid number) */
	uint8_t need;
	bool clunks;   /* the fid leaves the table whatever the outcome */
};

struct contract {
	const char *name;
	bool session; /* Tversion, Tflush: served by conn.c */
	struct fid_arg fid[2];
	uint16_t newfid_off;
	uint8_t newfid;
	uint8_t modifies;
	uint8_t identity;
	uint8_t gid;
	uint16_t gid_off;
	uint8_t after;
	bool reply_ids;     /* the reply carries host ids (Rgetattr): they are
			     * given back in the guest's ids */
	uint8_t throttle;   /* THROTTLE_READ + 1 or THROTTLE_WRITE + 1: counts
			     * against the export's limits (0: never throttled) */
	int (*loop)(struct req *r); /* NULL: OP_WORK */
	int (*work)(struct req *r); /* NULL: nothing on a worker */
};

#define AT(member) offsetof(struct np_msg, u.member)
#define FID(member, kind) {AT(member), kind, false}
#define CLUNKS(member, kind) {AT(member), kind, true}

/* One row per request, in wire-number order.  fid[0] is the fid whose
 * user the request runs as; every fid of a row must belong to one export
 * (EXDEV), checked before anything else about them. */
#define CONTRACTS(X)                                                                       \
	X(TSTATFS, .name = "statfs", .fid = {FID(tstatfs.fid, NEED_FILE)},                   \
	  .identity = AS_CLIENT, .work = op_statfs)                                         \
	X(TLOPEN, .name = "lopen", .fid = {FID(tlopen.fid, NEED_CLOSED)},                    \
	  .modifies = MOD_IF_OPEN_FOR_WRITE, .identity = AS_CLIENT, .work = op_lopen,        \
	  .after = AFTER_OPENED)                                                             \
	X(TLCREATE, .name = "lcreate", .fid = {FID(tlcreate.fid, NEED_CLOSED_DIR)},          \
	  .newfid = NEWFID_REPLACES, .modifies = MOD_ALWAYS, .identity = AS_CLIENT,          \
	  .gid = GID_FIELD, .gid_off = AT(tlcreate.gid), .work = op_lcreate,                 \
	  .after = AFTER_INSTALL)                                                            \
	X(TSYMLINK, .name = "symlink", .fid = {FID(tsymlink.dfid, NEED_DIR)},                \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .gid = GID_FIELD,                   \
	  .gid_off = AT(tsymlink.gid), .work = op_symlink)                                   \
	X(TMKNOD, .name = "mknod", .fid = {FID(tmknod.dfid, NEED_DIR)},                      \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .gid = GID_FIELD,                   \
	  .gid_off = AT(tmknod.gid), .work = op_mknod)                                       \
	X(TRENAME, .name = "rename",                                                         \
	  .fid = {FID(trename.fid, NEED_FILE), FID(trename.dfid, NEED_DIR)},                 \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .work = op_rename)                  \
	X(TREADLINK, .name = "readlink", .fid = {FID(treadlink.fid, NEED_SYMLINK)},          \
	  .identity = AS_CLIENT, .work = op_readlink)                                        \
	X(TGETATTR, .name = "getattr", .fid = {FID(tgetattr.fid, NEED_FILE)},                \
	  .identity = AS_CLIENT, .reply_ids = true, .work = op_getattr)                      \
	X(TSETATTR, .name = "setattr", .fid = {FID(tsetattr.fid, NEED_FILE)},                \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .gid = GID_SETATTR,                 \
	  .work = op_setattr)                                                                \
	X(TXATTRWALK, .name = "xattrwalk", .fid = {FID(txattrwalk.fid, NEED_FILE)},          \
	  .newfid_off = AT(txattrwalk.newfid), .newfid = NEWFID_UNUSED_OR_SAME,              \
	  .identity = AS_CLIENT, .loop = op_loop_xattrwalk, .work = op_xattrwalk,            \
	  .after = AFTER_INSTALL)                                                            \
	X(TXATTRCREATE, .name = "xattrcreate", .fid = {FID(txattrcreate.fid, NEED_FILE)},    \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .loop = op_loop_xattrcreate,        \
	  .after = AFTER_INSTALL)                                                            \
	X(TREADDIR, .name = "readdir", .fid = {FID(treaddir.fid, NEED_OPEN_DIR)},            \
	  .identity = AS_CLIENT, .loop = op_loop_io, .work = op_readdir)                     \
	X(TFSYNC, .name = "fsync", .fid = {FID(tfsync.fid, NEED_OPEN)},                      \
	  .identity = AS_CLIENT, .work = op_fsync)                                           \
	X(TLOCK, .name = "lock", .fid = {FID(tlock.fid, NEED_OPEN)}, .identity = AS_CLIENT,  \
	  .work = op_lock, .after = AFTER_LOCK)                                              \
	X(TGETLOCK, .name = "getlock", .fid = {FID(tgetlock.fid, NEED_OPEN)},                \
	  .identity = AS_CLIENT, .work = op_getlock)                                         \
	X(TLINK, .name = "link",                                                             \
	  .fid = {FID(tlink.dfid, NEED_DIR), FID(tlink.fid, NEED_NOT_DIR)},                  \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .work = op_link)                    \
	X(TMKDIR, .name = "mkdir", .fid = {FID(tmkdir.dfid, NEED_DIR)},                      \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .gid = GID_FIELD,                   \
	  .gid_off = AT(tmkdir.gid), .work = op_mkdir)                                       \
	X(TRENAMEAT, .name = "renameat",                                                     \
	  .fid = {FID(trenameat.olddirfid, NEED_DIR), FID(trenameat.newdirfid, NEED_DIR)},   \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .work = op_renameat)                \
	X(TUNLINKAT, .name = "unlinkat", .fid = {FID(tunlinkat.dirfid, NEED_DIR)},           \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .work = op_unlinkat)                \
	X(TVERSION, .name = "version", .session = true)                                      \
	X(TAUTH, .name = "auth", .loop = op_loop_auth)                                       \
	X(TATTACH, .name = "attach", .newfid_off = AT(tattach.fid), .newfid = NEWFID_UNUSED, \
	  .identity = AS_ATTACHER, .loop = op_loop_attach, .work = op_attach,                \
	  .after = AFTER_INSTALL)                                                            \
	X(TFLUSH, .name = "flush", .session = true)                                          \
	X(TWALK, .name = "walk", .fid = {FID(twalk.fid, NEED_WALK_FROM)},                    \
	  .newfid_off = AT(twalk.newfid), .newfid = NEWFID_UNUSED_OR_SAME,                   \
	  .identity = AS_CLIENT, .work = op_walk, .after = AFTER_INSTALL)                    \
	X(TREAD, .name = "read", .fid = {FID(tread.fid, NEED_READABLE)},                     \
	  .identity = AS_CLIENT, .throttle = THROTTLE_READ + 1, .loop = op_loop_io,          \
	  .work = op_read)                                                                   \
	X(TWRITE, .name = "write", .fid = {FID(twrite.fid, NEED_WRITABLE)},                  \
	  .modifies = MOD_IF_FILE, .identity = AS_CLIENT, .throttle = THROTTLE_WRITE + 1,    \
	  .work = op_write)                                                                  \
	X(TCLUNK, .name = "clunk", .fid = {CLUNKS(tclunk.fid, NEED_ANY)},                    \
	  .identity = AS_CLIENT, .loop = op_loop_clunk, .work = op_clunk)                    \
	X(TREMOVE, .name = "remove", .fid = {CLUNKS(tremove.fid, NEED_FILE)},                \
	  .modifies = MOD_ALWAYS, .identity = AS_CLIENT, .work = op_remove)

#define ROW(type, ...) [NP_##type] = {__VA_ARGS__},
static const struct contract contracts[256] = {CONTRACTS(ROW)};

/* Every row is a request, no request appears twice (-Woverride-init makes
 * a second row for one type an error), and every request of the codec's
 * message list has a row: a request added to the codec without a contract
 * does not build. */
#define IS_REQUEST(num) ((num) % 2 == 0 && (num) != NP_TLERROR)
#define COUNT_ROW(type, ...) +1
#define COUNT_REQUEST(name, NAME, num) +IS_REQUEST(num)
#define CHECK_ROW(type, ...) _Static_assert(IS_REQUEST(NP_##type), #type " is not a request");
CONTRACTS(CHECK_ROW)
_Static_assert(0 CONTRACTS(COUNT_ROW) == 0 NP_MESSAGES(COUNT_REQUEST),
	       "a 9P2000.L request has no row in the contract table");

bool dispatch_throttled(const struct req *r, int *dir, uint64_t *bytes)
{
	const struct contract *k = &contracts[r->in.type];
	if (!k->throttle || r->fid->kind != FID_FILE || !throttle_enabled(&r->fid->exp->throttle))
		return false;
	*dir = k->throttle - 1;
	/* Tread and Twrite: what the client asked to move. */
	*bytes = r->in.type == NP_TREAD ? r->in.u.tread.count : r->in.u.twrite.count;
	return true;
}

const char *dispatch_contract_name(uint8_t type)
{
	return contracts[type].name;
}

static uint32_t msg_u32(const struct req *r, uint16_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)&r->in + off, sizeof v);
	return v;
}

static void msg_set_u32(struct req *r, uint16_t off, uint32_t v)
{
	memcpy((char *)&r->in + off, &v, sizeof v);
}

/* 0, or the errno for a fid that is not what the row needs. */
static int check_need(const struct fid *f, enum need need, const struct req *r)
{
	bool file = f->kind == FID_FILE, open = file && f->fd >= 0;
	bool dir = file && S_ISDIR(f->mode);
	int acc = f->open_flags & O_ACCMODE;
	switch (need) {
	case NEED_ANY: return 0;
	case NEED_FILE: return file ? 0 : -EBADF;
	case NEED_WALK_FROM:
		if (!file)
			return -EBADF;
		return r->in.u.twalk.nwname > 0 && !dir ? -ENOTDIR : 0;
	case NEED_DIR: return !file ? -EBADF : dir ? 0 : -ENOTDIR;
	case NEED_NOT_DIR: return !file ? -EBADF : dir ? -EPERM : 0;
	case NEED_SYMLINK: return !file ? -EBADF : S_ISLNK(f->mode) ? 0 : -EINVAL;
	case NEED_OPEN: return open ? 0 : -EBADF;
	case NEED_OPEN_DIR: return open && dir ? 0 : -EBADF;
	case NEED_READABLE:
		return f->kind == FID_XATTR_READ || (open && acc != O_WRONLY) ? 0 : -EBADF;
	case NEED_WRITABLE:
		return f->kind == FID_XATTR_WRITE || (open && acc != O_RDONLY) ? 0 : -EBADF;
	case NEED_CLOSED:
	case NEED_CLOSED_DIR:
		if (!file)
			return -EBADF;
		if (need == NEED_CLOSED_DIR && !dir)
			return -ENOTDIR;
		return f->fd >= 0 || f->opening ? -EBUSY : 0;
	default: return 0;
	}
}

static bool modifies(const struct req *r, const struct contract *k)
{
	switch (k->modifies) {
	case MOD_ALWAYS: return true;
	case MOD_IF_OPEN_FOR_WRITE: {
		int flags = be_open_flags(r->in.u.tlopen.flags);
		return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	}
	case MOD_IF_FILE: return r->fid->kind == FID_FILE;
	default: return false;
	}
}

/* Room for `more` descriptors under the budget, giving back idle fids'
 * descriptors (oldest first, a sixteenth of the cap at a time) when the
 * pool is past its cap; false when even that leaves no room (then the
 * fids that need one get EMFILE, and other clients keep theirs). */
static bool fds_room(struct conn_hub *h, size_t more)
{
	struct fid_pool *p = &h->fid_pool;
	if (p->open_fds + more > p->cap && p->cap)
		fid_pool_reclaim(p, p->cap - p->cap / 16 > more ? p->cap - p->cap / 16 - more : 0);
	return p->open_fds + more <= h->fid_fd_budget;
}

/* Installs r->newfid in the table, replacing the fid of the same number
 * (walk with newfid == fid, lcreate, xattrcreate): in-flight requests keep
 * their reference on the old object, so its fds stay valid for them. */
static int install_newfid(struct req *r)
{
	struct conn *c = r->conn;
	struct fid_table *t = &c->fids;
	/* A request of a session that has ended (Tversion, disconnect) gets
	 * no reply, so its fid must not appear in the table either. */
	if (c->closing || r->generation != c->generation || r->flushed)
		return -ECANCELED;
	struct conn_hub *h = c->hub;
	struct fid *old = fid_lookup(t, r->newfid->num);
	if (old && (!r->fid || old->num != r->fid->num))
		return -EEXIST; /* taken meanwhile by another request */
	size_t freed = old ? old->table_fds : 0, more = fid_fd_count(r->newfid);
	if (!fds_room(h, more > freed ? more - freed : 0))
		return -EMFILE;
	if (old)
		fid_unref(fid_remove(t, old->num));
	if (t->count >= r->snap->cfg->max_fids)
		return -EMFILE;
	int rc = fid_insert(t, fid_ref(r->newfid));
	if (rc)
		fid_unref(r->newfid);
	return rc;
}

/* Tlopen's descriptor joins the fid (the same object: other requests may
 * be using its O_PATH descriptor). */
static int install_open_fd(struct req *r)
{
	struct fid *f = r->fid;
	if (!fds_room(r->conn->hub, 1))
		return -EMFILE;
	f->fd = r->open_fd;
	f->open_flags = be_open_flags(r->in.u.tlopen.flags);
	f->dirpos = 0;
	r->open_fd = -1;
	fid_table_recount(&r->conn->fids, f);
	return 0;
}

/* The steps after a request's handlers, on the loop thread. */
static int finish(struct req *r, const struct contract *k)
{
	/* Its fids may have reopened a descriptor (dispatch_work), and are
	 * the most recently used now. */
	fid_table_recount(&r->conn->fids, r->fid);
	fid_table_recount(&r->conn->fids, r->fid2);
	if (k->fid[0].need == NEED_CLOSED || k->fid[0].need == NEED_CLOSED_DIR)
		r->fid->opening = false;
	if (r->err)
		return DISPATCH_REPLY;
	switch (k->after) {
	case AFTER_INSTALL:
		if (r->newfid) /* a partial Rwalk creates none */
			r->err = install_newfid(r);
		break;
	case AFTER_OPENED:
		r->err = install_open_fd(r);
		break;
	case AFTER_LOCK: {
		/* A blocking lock that is busy waits on the loop, holding no
		 * worker; Tflush or a disconnect cancels the wait, and a
		 * shutdown or the client's end of input answers it (BLOCKED:
		 * the client retries): nobody could Tflush it any more. */
		struct conn *c = r->conn;
		if (r->out.u.rlock.status == NP_LOCK_BLOCKED &&
		    (r->in.u.tlock.flags & NP_LOCK_FLAGS_BLOCK) && !c->closing && !c->eof &&
		    !r->flushed && !c->hub->stopping)
			return DISPATCH_WAIT;
		break;
	}
	default: break;
	}
	return DISPATCH_REPLY;
}

/* A request on a worker may open up to two descriptors for a while (a
 * walk's current and next directory, a new fid's): near the cap, idle fids
 * give theirs back before it starts, so that the kernel's limit is not hit
 * inside the request (it would fail with EMFILE). */
static void leave_room_for_work(struct conn_hub *h)
{
	struct fid_pool *p = &h->fid_pool;
	size_t transient = 2 * ((size_t)h->working + 1);
	if (p->cap && p->open_fds + transient > p->cap)
		fid_pool_reclaim(p, p->cap > transient + p->cap / 16
					    ? p->cap - transient - p->cap / 16
					    : 0);
}

int dispatch_prep(struct req *r)
{
	const struct contract *k = &contracts[r->in.type];
	struct fid **slot[2] = {&r->fid, &r->fid2};
	int rc = 0;
	if (!k->name || k->session) { /* conn.c serves the session's own */
		r->err = -ENOSYS;
		return DISPATCH_REPLY;
	}
	for (int i = 0; i < 2 && !rc && k->fid[i].need; i++) {
		uint32_t num = msg_u32(r, k->fid[i].off);
		struct fid *f = k->fid[i].clunks ? fid_remove(&r->conn->fids, num)
						 : fid_ref(fid_lookup(&r->conn->fids, num));
		*slot[i] = f;
		if (!f)
			rc = -EBADF;
	}
	if (!rc && r->fid2 && r->fid2->exp != r->fid->exp)
		rc = -EXDEV;
	for (int i = 0; i < 2 && !rc && k->fid[i].need; i++)
		rc = check_need(*slot[i], k->fid[i].need, r);
	if (!rc && modifies(r, k) && r->fid->exp->conf->readonly)
		rc = -EROFS;
	if (!rc && k->newfid) {
		uint32_t num = k->newfid == NEWFID_REPLACES ? r->fid->num : msg_u32(r, k->newfid_off);
		bool same = r->fid && num == r->fid->num;
		if (fid_lookup(&r->conn->fids, num) &&
		    (k->newfid == NEWFID_UNUSED || (k->newfid == NEWFID_UNUSED_OR_SAME && !same)))
			rc = -EEXIST;
		else if (!(r->newfid = fid_like(num, r->fid)))
			rc = -ENOMEM;
	}
	if (rc) {
		r->err = rc;
		return DISPATCH_REPLY;
	}
	if (k->fid[0].need == NEED_CLOSED || k->fid[0].need == NEED_CLOSED_DIR)
		r->fid->opening = true;
	if ((k->loop ? k->loop(r) : OP_WORK) == OP_WORK && k->work) {
		leave_room_for_work(r->conn->hub);
		return DISPATCH_WORK;
	}
	finish(r, k); /* the loop part answered: no waiting there */
	return DISPATCH_REPLY;
}

/* The gid a request's credentials carry (enum gid_source). */
static bool request_gid(struct req *r, const struct contract *k, const struct fid *f, gid_t *gid)
{
	if (k->gid == GID_FIELD) {
		*gid = msg_u32(r, k->gid_off);
		return true;
	}
	if (k->gid != GID_SETATTR)
		return false;
	uint32_t v = r->in.u.tsetattr.valid;
	if (v & NP_SETATTR_GID) {
		*gid = r->in.u.tsetattr.gid;
		return true;
	}
	struct stat st;
	if ((v & NP_SETATTR_MODE) && f->exp->conf->security_model == SECMODEL_PASSTHROUGH &&
	    be_stat_host(f->pathfd, &st) == 0) {
		*gid = st.st_gid;
		return true;
	}
	return false;
}

static int fid_reopen_if(struct fid *f)
{
	return f ? fid_reopen(f) : 0;
}

/* The ids a request names, turned into the export's host ids in place
 * (config/idmap.h), so that the handlers and the backend only ever see host
 * ids: the group of a creation, the new owner and group of a chown.
 * -EPERM for an id the maps refuse.  In place, so once per request: the
 * only request whose work runs again (Tlock, after a wait) names no id. */
static int ids_to_host(struct req *r, const struct contract *k, const struct export *e)
{
	gid_t gid;
	uid_t uid;
	int rc = 0;
	if (k->gid == GID_FIELD) {
		rc = export_gid_to_host(e, msg_u32(r, k->gid_off), &gid);
		if (!rc)
			msg_set_u32(r, k->gid_off, gid);
	} else if (k->gid == GID_SETATTR) {
		__typeof__(r->in.u.tsetattr) *a = &r->in.u.tsetattr;
		if (a->valid & NP_SETATTR_UID)
			rc = export_uid_to_host(e, a->uid, &uid);
		if (!rc && (a->valid & NP_SETATTR_UID))
			a->uid = uid;
		if (!rc && (a->valid & NP_SETATTR_GID))
			rc = export_gid_to_host(e, a->gid, &gid);
		if (!rc && (a->valid & NP_SETATTR_GID))
			a->gid = gid;
	}
	return rc;
}

/* The host ids of a reply, in the guest's ids (65534 for one the maps do
 * not give back). */
static void ids_to_guest(struct req *r, const struct export *e)
{
	struct np_attr *a = &r->out.u.rgetattr;
	a->uid = export_uid_to_guest(e, a->uid);
	a->gid = export_gid_to_guest(e, a->gid);
}

/* A guest root that the maps make another host user holds root's file
 * capabilities only over files whose owner and group the maps cover, as
 * root in a user namespace does: never over a host file it sees as 65534.
 * A request that changes nothing needs none of them (a client's
 * dac_override and dac_read_search read anything), so only a modifying
 * one pays for the fstat. */
static void confine_mapped_root(struct req *r, const struct contract *k, const struct fid *f)
{
	struct stat st;
	if (r->cred.caps != CRED_CAPS_MAPPED_ROOT)
		return;
	if (!f || !modifies(r, k) || be_stat_host(f->pathfd, &st) ||
	    !export_owner_mapped(f->exp, st.st_uid, st.st_gid))
		r->cred.caps = CRED_CAPS_CLIENT;
}

/* Enters the credentials the row says the request runs with. */
static int enter_identity(struct req *r, const struct contract *k)
{
	struct fid *f = k->identity == AS_ATTACHER ? r->newfid : r->fid;
	if (k->identity == AS_NOBODY)
		return 0;
	if (k->identity == AS_ATTACHER) {
		char uname[256];
		const struct np_str *un = &r->in.u.tattach.uname;
		snprintf(uname, sizeof uname, "%.*s", (int)un->len, un->s);
		int rc = users_get(&r->conn->hub->users, r->in.u.tattach.n_uname, uname, &f->user);
		if (rc)
			return rc;
	}
	int rc = ids_to_host(r, k, f->exp);
	if (rc)
		return rc;
	gid_t gid = 0;
	bool given = request_gid(r, k, f, &gid);
	rc = export_identity(f->exp, f->user, gid, given, &r->cred, &r->owner);
	if (rc)
		return rc;
	confine_mapped_root(r, k, k->identity == AS_ATTACHER ? NULL : f);
	return r->cred.caps == CRED_CAPS_DAEMON ? creds_enter_daemon() : creds_enter(&r->cred);
}

void dispatch_work(struct req *r)
{
	const struct contract *k = &contracts[r->in.type];
	/* Descriptors the pool gave back come back first (fid.h). */
	int rc = fid_reopen_if(r->fid);
	if (!rc)
		rc = fid_reopen_if(r->fid2);
	if (!rc)
		rc = enter_identity(r, k);
	r->err = rc ? rc : k->work(r);
	if (!r->err && k->reply_ids)
		ids_to_guest(r, r->fid->exp);
}

int dispatch_done(struct req *r)
{
	return finish(r, &contracts[r->in.type]);
}

bool dispatch_reply_is_final(const struct req *r)
{
	const struct contract *k = &contracts[r->in.type];
	return k->after == AFTER_NOTHING &&
	       k->fid[0].need != NEED_CLOSED && k->fid[0].need != NEED_CLOSED_DIR;
}
