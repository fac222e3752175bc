/* The 9P2000.L handlers (ops.h): 9P semantics over the backend. */
#include "server/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "server/backend.h"
#include "server/conn.h"
#include "server/log.h"
#ifdef NINEPD_TEST_HOOKS
#include "server/testhook.h"
#endif

static void qid_or_zero(struct np_qid *q)
{
	memset(q, 0, sizeof *q);
}

/* Stat fd as the guest sees it and give its qid. */
static int stat_qid(struct export *e, int fd, const char *name, struct stat *st,
		    uint32_t *host_mode, struct np_qid *q)
{
	int rc = be_stat(e, fd, st, host_mode);
	return rc ? rc : export_qid(e, st, fd, name, q);
}

/* ---- Tauth, Tattach ---- */

int op_loop_auth(struct req *r)
{
	r->err = -EOPNOTSUPP; /* no auth scheme: attach with afid NOFID */
	return OP_REPLY;
}

static struct export *find_export(struct conn_hub *h, const struct np_str *aname)
{
	if (aname->len == 0)
		return h->nexports ? h->exports[0] : NULL;
	for (size_t i = 0; i < h->nexports; i++) {
		struct export *e = h->exports[i];
		const char *cands[] = {e->conf->name, e->conf->path, e->realpath};
		for (size_t k = 0; k < 3; k++)
			if (cands[k] && strlen(cands[k]) == aname->len &&
			    !memcmp(cands[k], aname->s, aname->len))
				return e;
	}
	return NULL;
}

int op_loop_attach(struct req *r)
{
	if (r->in.u.tattach.afid != NP_NOFID) {
		r->err = -EINVAL;
		return OP_REPLY;
	}
	const struct np_str *an = &r->in.u.tattach.aname;
	struct export *e = find_export(r->conn->hub, an);
	if (!e) {
		char shown[256];
		log_warn("client %llu: attach to unknown export '%s'", (unsigned long long)r->conn->id,
			 log_escape(shown, sizeof shown, an->s, an->len));
		r->err = -ENOENT;
		return OP_REPLY;
	}
	r->newfid->exp = e;
	return OP_WORK;
}

int op_attach(struct req *r)
{
	struct fid *f = r->newfid;
	f->pathfd = be_dup(f->exp->rootfd);
	if (f->pathfd < 0)
		return f->pathfd;
	struct stat st;
	int rc = stat_qid(f->exp, f->pathfd, NULL, &st, &f->host_mode, &f->qid);
	f->mode = st.st_mode;
	r->out.u.rattach.qid = f->qid;
	return rc;
}

/* ---- Twalk ---- */

/* Each element is one openat2 of one name below the current directory and
 * one fstat for its qid.  The walk starts on the fid's own O_PATH fd
 * (borrowed, never closed here) and the fid's recorded mode: a file's type
 * never changes, so neither a dup nor a stat of the start is needed. */
int op_walk(struct req *r)
{
	struct fid *from = r->fid, *to = r->newfid;
	struct export *e = from->exp;
	uint16_t n = r->in.u.twalk.nwname, i;
	int cur = from->pathfd, rc = 0;
	if (n == 0) {
		/* A clone: the new fid gets its own descriptor. */
		cur = be_dup(from->pathfd);
		if (cur < 0)
			return cur;
	}
	uint32_t mode = from->mode, host_mode = from->host_mode;
	for (i = 0; i < n; i++) {
		char name[BE_NAME_BUF];
		rc = be_name(&r->in.u.twalk.wnames[i], name, true);
		if (rc)
			break;
		if (!S_ISDIR(mode)) {
			rc = -ENOTDIR;
			break;
		}
		int next = strcmp(name, "..") ? be_open_child(cur, name) : be_open_parent(e, cur);
		if (next < 0) {
			rc = next;
			break;
		}
		struct stat st;
		rc = stat_qid(e, next, name, &st, &host_mode, &r->out.u.rwalk.wqids[i]);
		if (cur != from->pathfd)
			be_close(cur);
		cur = next;
		if (rc)
			break;
		mode = st.st_mode;
	}
	r->out.u.rwalk.nwqid = i;
	if (i < n) {
		if (cur != from->pathfd)
			be_close(cur);
		/* The first element failing is an error; a later one is a
		 * partial Rwalk, and newfid is not created. */
		fid_unref(r->newfid);
		r->newfid = NULL;
		return i == 0 ? (rc ? rc : -ENOENT) : 0;
	}
	to->pathfd = cur;
	to->mode = mode;
	to->host_mode = host_mode;
	to->qid = n ? r->out.u.rwalk.wqids[n - 1] : from->qid;
	return 0;
}

/* ---- Tlopen, Tlcreate ---- */

int op_lopen(struct req *r)
{
	struct fid *f = r->fid;
	int fd = be_reopen(f->pathfd, f->mode, f->host_mode, be_open_flags(r->in.u.tlopen.flags));
	if (fd < 0)
		return fd;
	r->open_fd = fd;
	r->out.u.rlopen.qid = f->qid;
	r->out.u.rlopen.iounit = 0; /* the client then uses msize - 24 */
	return 0;
}

int op_lcreate(struct req *r)
{
	struct fid *dir = r->fid, *f = r->newfid;
	struct export *e = dir->exp;
	char name[BE_NAME_BUF];
	int rc = be_name(&r->in.u.tlcreate.name, name, false);
	if (rc)
		return rc;
	int flags = be_open_flags(r->in.u.tlcreate.flags);
	bool created;
	int fd = be_create(e, dir->pathfd, name, flags, r->in.u.tlcreate.flags & NP_DOTL_EXCL,
			   r->in.u.tlcreate.mode, r->owner.uid, r->owner.gid, &created);
	if (fd < 0)
		return fd;
	f->fd = fd;
	f->open_flags = flags & ~O_DIRECTORY;
	f->pathfd = be_dup(fd);
	if (f->pathfd < 0)
		return f->pathfd;
	struct stat st;
	rc = stat_qid(e, fd, name, &st, &f->host_mode, &f->qid);
	f->mode = st.st_mode;
	r->out.u.rlcreate.qid = f->qid;
	r->out.u.rlcreate.iounit = 0;
	return rc;
}

/* ---- Tread, Twrite, Treaddir ---- */

int op_loop_io(struct req *r)
{
	/* Tread and Treaddir have the same body; the reply must fit msize. */
	uint32_t max = np_max_io(r->conn->msize);
	if (r->in.u.tread.count > max)
		r->in.u.tread.count = max;
	return OP_WORK;
}

/* Encodes an Rread/Rreaddir whose payload is already at outbuf + 11. */
static int encode_io_reply(struct req *r, uint8_t type, uint32_t count)
{
	r->out.type = type;
	r->out.tag = r->in.tag;
	r->out.u.rread.count = count;
	r->out.u.rread.data = r->outbuf + NP_IOHDRSZ;
	int n = np_encode(&r->out, r->outbuf, r->outcap);
	if (n < 0)
		return -EIO;
	r->outlen = (uint32_t)n;
	return 0;
}

int op_read(struct req *r)
{
	struct fid *f = r->fid;
	uint32_t count = r->in.u.tread.count;
	uint64_t off = r->in.u.tread.offset;
	if (req_out_reserve(r, NP_IOHDRSZ + count))
		return -ENOMEM;
	uint8_t *dst = r->outbuf + NP_IOHDRSZ;
	ssize_t n;
	if (f->kind == FID_XATTR_READ) {
		pthread_mutex_lock(&f->lock);
		n = 0;
		if (off < f->xa->size) {
			n = (ssize_t)(f->xa->size - off < count ? f->xa->size - off : count);
			memcpy(dst, f->xa->buf + off, (size_t)n);
		}
		pthread_mutex_unlock(&f->lock);
	} else {
		n = req_read_splice(r, f->fd, off, count);
		if (n == -EAGAIN)
			n = be_read(f->fd, dst, count, off);
		if (n < 0)
			return (int)n;
	}
	return encode_io_reply(r, NP_RREAD, (uint32_t)n);
}

int op_write(struct req *r)
{
	struct fid *f = r->fid;
	uint64_t off = r->in.u.twrite.offset;
	uint32_t count = r->in.u.twrite.count;
	if (f->kind == FID_XATTR_WRITE) {
		int rc = 0;
		pthread_mutex_lock(&f->lock);
		if (off > f->xa->size || count > f->xa->size - off) {
			rc = -ENOSPC; /* more than Txattrcreate announced */
		} else {
			memcpy(f->xa->buf + off, r->in.u.twrite.data, count);
			if (off + count > f->xa->fill)
				f->xa->fill = off + count;
			r->out.u.rwrite.count = count;
		}
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	ssize_t n = be_write(f->exp, f->fd, r->in.u.twrite.data, count, off,
			     r->owner.guest_root);
	if (n < 0)
		return (int)n;
	r->out.u.rwrite.count = (uint32_t)n;
	return 0;
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
	bool mapped = export_mapped(e);
	if (!strcmp(d->d_name, "."))
		st = *dst, rc = 0;
	else if (!strcmp(d->d_name, "..") && export_is_root(e, dst))
		st = *dst, rc = 0;
	else if (d->d_type != DT_DIR && d->d_type != DT_UNKNOWN && !mapped) {
		st.st_dev = dst->st_dev;
		st.st_ino = d->d_ino;
		st.st_mode = DTTOIF(d->d_type);
		rc = 0;
	} else
		rc = be_stat_child(e, dir->fd, d->d_name, &st);
	if (!rc && mapped)
		*dtype = (uint8_t)IFTODT(st.st_mode); /* the guest's type, not the host's */
	if (!rc)
		rc = export_qid(e, &st, dir->fd, d->d_name, q);
	if (rc) {
		q->type = d->d_type == DT_DIR ? NP_QTDIR : d->d_type == DT_LNK ? NP_QTSYMLINK : NP_QTFILE;
		q->version = 0;
		q->path = d->d_ino;
	}
}

int op_readdir(struct req *r)
{
	struct fid *f = r->fid;
	uint32_t count = r->in.u.treaddir.count;
	if (req_out_reserve(r, NP_IOHDRSZ + count))
		return -ENOMEM;
	struct stat dst;
	int rc = be_stat_host(f->fd, &dst);
	if (rc)
		return rc;
	struct np_dirpack pack;
	np_dirpack_init(&pack, r->outbuf + NP_IOHDRSZ, count);
	char buf[32768] __attribute__((aligned(8)));

	pthread_mutex_lock(&f->lock);
	int64_t want = (int64_t)r->in.u.treaddir.offset;
	if (f->dirpos != want) {
		rc = be_seekdir(f->fd, want);
		if (rc)
			goto out;
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
		size_t room = pack.cap - pack.len, len = room / 7 * 6;
		if (len > sizeof buf)
			len = sizeof buf;
		if (len < 512) {
			if (pack.len)
				break; /* nearly full: send what we have */
			len = sizeof buf; /* a tiny count: read, then seek back */
		}
		ssize_t n = be_getdents(f->fd, buf, len);
		if (n < 0) {
			rc = (int)n;
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
		/* The kernel's position is past entries that did not fit: the
		 * next Treaddir seeks back to the last one sent. */
		if (full && be_seekdir(f->fd, f->dirpos))
			f->dirpos = -1;
	}
out:
	pthread_mutex_unlock(&f->lock);
	if (rc && pack.len == 0)
		return rc;
	return encode_io_reply(r, NP_RREADDIR, pack.len);
}

/* ---- Tclunk, Tremove ---- */

int op_loop_clunk(struct req *r)
{
	/* Only a pending xattr value needs the file system at clunk; other
	 * fids just drop their reference (fds close with the last one). */
	return r->fid->kind == FID_XATTR_WRITE ? OP_WORK : OP_REPLY;
}

int op_clunk(struct req *r)
{
	struct fid *f = r->fid;
	if (f->xa->fill != f->xa->size)
		return -EINVAL; /* fewer bytes written than announced */
	return be_xattr_set(f->exp, f->pathfd, f->xa->name, f->xa->buf, f->xa->size, (int)f->xa->flags);
}

int op_remove(struct req *r)
{
	return be_remove(r->fid->exp, r->fid->pathfd, S_ISDIR(r->fid->mode));
}

/* ---- Tstatfs, Tgetattr, Tsetattr, Treadlink ---- */

int op_statfs(struct req *r)
{
	struct statfs s;
	int rc = be_statfs(r->fid->pathfd, &s);
	if (rc)
		return rc;
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
	return 0;
}

int op_getattr(struct req *r)
{
	struct fid *f = r->fid;
	struct stat st;
	struct np_attr *a = &r->out.u.rgetattr;
	int rc = stat_qid(f->exp, f->pathfd, NULL, &st, NULL, &a->qid);
	if (rc)
		return rc;
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
	return 0;
}

static struct timespec setattr_time(uint32_t valid, uint32_t bit, uint32_t set_bit, uint64_t sec,
				    uint64_t nsec)
{
	if (!(valid & bit))
		return (struct timespec){.tv_nsec = UTIME_OMIT};
	if (!(valid & set_bit))
		return (struct timespec){.tv_nsec = UTIME_NOW};
	return (struct timespec){.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
}

int op_setattr(struct req *r)
{
	struct fid *f = r->fid;
	const __typeof__(r->in.u.tsetattr) *a = &r->in.u.tsetattr;
	uint32_t v = a->valid;
	int rc = 0;
	/* Owner first: the kernel clears set-id bits on chown, and a mode
	 * given in the same request is the one the guest wants to end with. */
	if (v & (NP_SETATTR_UID | NP_SETATTR_GID))
		rc = be_chown(f->exp, f->pathfd, f->host_mode,
			      (v & NP_SETATTR_UID) ? a->uid : (uid_t)-1,
			      (v & NP_SETATTR_GID) ? a->gid : (gid_t)-1);
	if (!rc && (v & NP_SETATTR_MODE))
		rc = be_chmod(f->exp, f->pathfd, f->mode, f->host_mode, a->mode);
	if (!rc && (v & NP_SETATTR_SIZE)) {
		if (S_ISDIR(f->mode))
			rc = -EISDIR;
		else if (!S_ISREG(f->mode) || !S_ISREG(f->host_mode))
			rc = -EINVAL;
		else /* an fid open for writing truncates its open file (ftruncate) */
			rc = be_truncate(f->pathfd,
					 f->fd >= 0 && (f->open_flags & O_ACCMODE) != O_RDONLY ? f->fd
											: -1,
					 a->size);
	}
	if (!rc && (v & (NP_SETATTR_ATIME | NP_SETATTR_MTIME))) {
		struct timespec ts[2] = {
			setattr_time(v, NP_SETATTR_ATIME, NP_SETATTR_ATIME_SET, a->atime_sec,
				     a->atime_nsec),
			setattr_time(v, NP_SETATTR_MTIME, NP_SETATTR_MTIME_SET, a->mtime_sec,
				     a->mtime_nsec),
		};
		rc = be_utimes(f->exp, f->pathfd, f->host_mode, ts);
	}
	return rc;
}

int op_readlink(struct req *r)
{
	char target[PATH_MAX];
	ssize_t n = be_readlink(r->fid->exp, r->fid->pathfd, r->fid->host_mode, target, sizeof target);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof target || n > UINT16_MAX)
		return -ENAMETOOLONG;
	r->out.type = NP_RREADLINK;
	r->out.tag = r->in.tag;
	r->out.u.rreadlink.target = (struct np_str){target, (uint16_t)n};
	int len = np_encode(&r->out, r->outbuf, r->outcap);
	if (len < 0)
		return -ENAMETOOLONG;
	r->outlen = (uint32_t)len;
	return 0;
}

/* ---- creating names: Tsymlink, Tmknod, Tmkdir, Tlink ---- */

/* The qid of what the request just created as dir/name. */
static int created_qid(struct req *r, const char *name, struct np_qid *q)
{
	struct stat st;
	int rc = be_stat_child(r->fid->exp, r->fid->pathfd, name, &st);
	if (rc)
		qid_or_zero(q);
	return rc ? rc : export_qid(r->fid->exp, &st, r->fid->pathfd, name, q);
}

int op_symlink(struct req *r)
{
	struct fid *dir = r->fid;
	char name[BE_NAME_BUF], target[PATH_MAX];
	const struct np_str *t = &r->in.u.tsymlink.target;
	int rc = be_name(&r->in.u.tsymlink.name, name, false);
	if (rc)
		return rc;
	if (t->len == 0)
		return -ENOENT;
	if (memchr(t->s, '\0', t->len))
		return -EINVAL;
	if (t->len >= sizeof target)
		return -ENAMETOOLONG;
	memcpy(target, t->s, t->len);
	target[t->len] = '\0';
	rc = be_symlink(dir->exp, dir->pathfd, name, target, r->owner.uid, r->owner.gid);
	return rc ? rc : created_qid(r, name, &r->out.u.rsymlink.qid);
}

int op_mknod(struct req *r)
{
	struct fid *dir = r->fid;
	char name[BE_NAME_BUF];
	int rc = be_name(&r->in.u.tmknod.name, name, false);
	if (rc)
		return rc;
	rc = be_mknod(dir->exp, dir->pathfd, name, r->in.u.tmknod.mode,
		      makedev(r->in.u.tmknod.major, r->in.u.tmknod.minor),
		      r->owner.uid, r->owner.gid);
	return rc ? rc : created_qid(r, name, &r->out.u.rmknod.qid);
}

int op_mkdir(struct req *r)
{
	struct fid *dir = r->fid;
	char name[BE_NAME_BUF];
	int rc = be_name(&r->in.u.tmkdir.name, name, false);
	if (rc)
		return rc;
	rc = be_mkdir(dir->exp, dir->pathfd, name, r->in.u.tmkdir.mode,
		      r->owner.uid, r->owner.gid);
	return rc ? rc : created_qid(r, name, &r->out.u.rmkdir.qid);
}

int op_link(struct req *r)
{
	char name[BE_NAME_BUF];
	int rc = be_name(&r->in.u.tlink.name, name, false);
	return rc ? rc : be_link(r->fid2->pathfd, r->fid->pathfd, name);
}

/* ---- Trename, Trenameat, Tunlinkat ---- */

int op_rename(struct req *r)
{
	char newname[BE_NAME_BUF];
	int rc = be_name(&r->in.u.trename.name, newname, false);
	return rc ? rc : be_rename(r->fid->exp, r->fid->pathfd, r->fid2->pathfd, newname);
}

int op_renameat(struct req *r)
{
	char oldname[BE_NAME_BUF], newname[BE_NAME_BUF];
	int rc = be_name(&r->in.u.trenameat.oldname, oldname, false);
	if (!rc)
		rc = be_name(&r->in.u.trenameat.newname, newname, false);
	return rc ? rc : be_renameat(r->fid->pathfd, oldname, r->fid2->pathfd, newname);
}

int op_unlinkat(struct req *r)
{
	char name[BE_NAME_BUF];
	int rc = be_name(&r->in.u.tunlinkat.name, name, false);
	return rc ? rc
		  : be_unlinkat(r->fid->pathfd, name, r->in.u.tunlinkat.flags & NP_AT_REMOVEDIR);
}

/* ---- xattrs ---- */

int op_loop_xattrwalk(struct req *r)
{
	if (fid_make_xattr(r->newfid, FID_XATTR_READ)) {
		r->err = -ENOMEM;
		return OP_REPLY;
	}
	return OP_WORK;
}

int op_xattrwalk(struct req *r)
{
	struct fid *f = r->fid, *x = r->newfid;
	char name[BE_NAME_BUF];
#ifdef NINEPD_TEST_HOOKS
	int hook = testhook_xattrwalk(&r->in.u.txattrwalk.name);
	if (hook <= 0)
		return hook;
#endif
	int rc = be_xattr_name(&r->in.u.txattrwalk.name, name);
	if (rc)
		return rc;
	/* The value may change size between the two calls: retry. */
	for (int tries = 0; tries < 3; tries++) {
		ssize_t n = name[0] ? be_xattr_get(f->exp, f->pathfd, name, NULL, 0)
				    : be_xattr_list(f->exp, f->pathfd, NULL, 0);
		if (n < 0)
			return (int)n;
		free(x->xa->buf);
		x->xa->buf = NULL;
		rc = fid_charge_xattr(x, &r->conn->xattr_bytes, n ? (size_t)n : 1);
		if (rc)
			return rc;
		x->xa->buf = malloc(n ? (size_t)n : 1);
		if (!x->xa->buf)
			return -ENOMEM;
		ssize_t got = name[0] ? be_xattr_get(f->exp, f->pathfd, name, x->xa->buf, (size_t)n)
				      : be_xattr_list(f->exp, f->pathfd, (char *)x->xa->buf, (size_t)n);
		if (got >= 0) {
			x->xa->size = (uint64_t)got;
			r->out.u.rxattrwalk.size = (uint64_t)got;
			return 0;
		}
		if (got != -ERANGE)
			return (int)got;
	}
	return -EAGAIN;
}

/* Txattrcreate turns the fid into the value being written; Tclunk sets it.
 * Nothing reaches the file system before then, so all of it is here. */
int op_loop_xattrcreate(struct req *r)
{
	const __typeof__(r->in.u.txattrcreate) *a = &r->in.u.txattrcreate;
	struct fid *f = r->fid;
	char name[BE_NAME_BUF];
	int rc = 0;
	if (a->attr_size > BE_XATTR_MAX)
		rc = -E2BIG;
	else if (a->flags & ~(uint32_t)(XATTR_CREATE | XATTR_REPLACE))
		rc = -EINVAL;
	else if ((rc = be_xattr_name(&a->name, name)) == 0 && !name[0])
		rc = -EINVAL;
	if (!rc)
		rc = be_xattr_settable(f->exp, name);
	struct fid *x = rc ? NULL : fid_like(f->num, f);
	if (!rc && (!x || fid_make_xattr(x, FID_XATTR_WRITE)))
		rc = -ENOMEM;
	if (rc && x) {
		fid_unref(x);
		x = NULL;
	}
	if (rc) {
		r->err = rc;
		return OP_REPLY;
	}
	r->newfid = x;
	size_t size = a->attr_size ? (size_t)a->attr_size : 1;
	x->mode = f->mode;
	x->host_mode = f->host_mode;
	if (f->pathfd >= 0) {
		x->pathfd = fcntl(f->pathfd, F_DUPFD_CLOEXEC, 0);
	} else if (f->handle) {
		/* Given back to the pool: the value's fid reopens it at Tclunk. */
		size_t hsize = sizeof *f->handle + f->handle->handle_bytes;
		x->handle = malloc(hsize);
		if (x->handle)
			memcpy(x->handle, f->handle, hsize);
		x->mount_id = f->mount_id;
		x->pathfd = x->handle ? -1 : -ENOMEM;
	}
	x->xa->name = strdup(name);
	x->xa->size = a->attr_size;
	x->xa->flags = a->flags;
	if (fid_charge_xattr(x, &r->conn->xattr_bytes, size) == 0)
		x->xa->buf = calloc(1, size);
	if ((x->pathfd < 0 && !x->handle) || !x->xa->name || !x->xa->buf)
		r->err = -ENOMEM;
	return OP_REPLY; /* dispatch_done installs it in place of the fid */
}

/* ---- Tfsync, Tlock, Tgetlock ---- */

int op_fsync(struct req *r)
{
	return be_fsync(r->fid->fd, r->in.u.tfsync.datasync);
}

/* Byte-range locks are open file description locks on the fid's own open
 * file, so two fids (two guest opens, two clients) contend as two
 * processes would on the host. */
int op_lock(struct req *r)
{
	const __typeof__(r->in.u.tlock) *a = &r->in.u.tlock;
	if (a->type > NP_LOCK_TYPE_UNLCK) {
		r->out.u.rlock.status = NP_LOCK_ERROR;
		return 0;
	}
	struct flock fl = {
		.l_type = (short)(a->type == NP_LOCK_TYPE_RDLCK   ? F_RDLCK
				  : a->type == NP_LOCK_TYPE_WRLCK ? F_WRLCK
								  : F_UNLCK),
		.l_whence = SEEK_SET,
		.l_start = (off_t)a->start,
		.l_len = (off_t)a->length,
	};
	int rc = be_lock(r->fid->fd, true, &fl);
	r->out.u.rlock.status = rc == 0				 ? NP_LOCK_SUCCESS
				: rc == -EAGAIN || rc == -EACCES ? NP_LOCK_BLOCKED
								 : NP_LOCK_ERROR;
	return 0;
}

int op_getlock(struct req *r)
{
	const __typeof__(r->in.u.tgetlock) *a = &r->in.u.tgetlock;
	struct flock fl = {
		.l_type = (short)(a->type == NP_LOCK_TYPE_RDLCK ? F_RDLCK : F_WRLCK),
		.l_whence = SEEK_SET,
		.l_start = (off_t)a->start,
		.l_len = (off_t)a->length,
	};
	int rc = be_lock(r->fid->fd, false, &fl);
	if (rc)
		return rc;
	r->out.u.rgetlock.type = fl.l_type == F_RDLCK   ? NP_LOCK_TYPE_RDLCK
				 : fl.l_type == F_WRLCK ? NP_LOCK_TYPE_WRLCK
							: NP_LOCK_TYPE_UNLCK;
	r->out.u.rgetlock.start = (uint64_t)fl.l_start;
	r->out.u.rgetlock.length = (uint64_t)fl.l_len;
	r->out.u.rgetlock.proc_id = fl.l_type == F_UNLCK ? a->proc_id : 0;
	r->out.u.rgetlock.client_id = a->client_id;
	return 0;
}
