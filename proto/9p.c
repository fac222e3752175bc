/* 9P2000.L wire codec.
 *
 * Each message body is described once, in body(), by a walk over its fields
 * in wire order.  The same walk decodes (frame -> struct np_msg) and encodes
 * (struct np_msg -> frame), so the two directions cannot disagree about a
 * layout; the golden byte vectors in tests/proto check that the one layout
 * is the one the spec gives.
 *
 * The cursor is "sticky": once a field would run past the buffer, the cursor
 * is marked overflowed and every later field is a no-op, so a single check at
 * the end of the walk catches any overrun and no field is ever read from or
 * written to outside [buf, buf + cap).
 */
#include "proto/9p.h"

#include <limits.h>
#include <string.h>

struct cursor {
	uint8_t *buf; /* frame start; only written when `enc` */
	size_t cap;   /* bytes in the frame (decode) or the buffer (encode) */
	size_t pos;
	bool enc;
	bool overflow;
	bool invalid; /* encode: the message holds a value that has no wire form */
};

/* Reserve n bytes at the cursor; NULL (and sticky overflow) if they are not there. */
static inline uint8_t *take(struct cursor *c, size_t n)
{
	if (c->overflow || c->cap - c->pos < n) {
		c->overflow = true;
		return NULL;
	}
	uint8_t *p = c->buf + c->pos;
	c->pos += n;
	return p;
}

/* Integers are assembled byte by byte so that the codec is right on any host
 * byte order and never does an unaligned load; GCC and clang merge these
 * patterns into single moves on little-endian machines. */
static inline void u8(struct cursor *c, uint8_t *v)
{
	uint8_t *p = take(c, 1);
	if (p == NULL)
		return;
	if (c->enc)
		p[0] = *v;
	else
		*v = p[0];
}

static inline void u16(struct cursor *c, uint16_t *v)
{
	uint8_t *p = take(c, 2);
	if (p == NULL)
		return;
	if (c->enc) {
		p[0] = (uint8_t)*v;
		p[1] = (uint8_t)(*v >> 8);
	} else {
		*v = (uint16_t)(p[0] | p[1] << 8);
	}
}

static inline void u32(struct cursor *c, uint32_t *v)
{
	uint8_t *p = take(c, 4);
	if (p == NULL)
		return;
	if (c->enc) {
		p[0] = (uint8_t)*v;
		p[1] = (uint8_t)(*v >> 8);
		p[2] = (uint8_t)(*v >> 16);
		p[3] = (uint8_t)(*v >> 24);
	} else {
		*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	}
}

static inline void u64(struct cursor *c, uint64_t *v)
{
	uint8_t *p = take(c, 8);
	if (p == NULL)
		return;
	if (c->enc) {
		p[0] = (uint8_t)*v;
		p[1] = (uint8_t)(*v >> 8);
		p[2] = (uint8_t)(*v >> 16);
		p[3] = (uint8_t)(*v >> 24);
		p[4] = (uint8_t)(*v >> 32);
		p[5] = (uint8_t)(*v >> 40);
		p[6] = (uint8_t)(*v >> 48);
		p[7] = (uint8_t)(*v >> 56);
	} else {
		*v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
		     (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		     (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
	}
}

/* `n` bytes of opaque data: decoding makes *data a view into the frame;
 * encoding copies unless the bytes already sit where they belong (the
 * server's zero-copy Rread). */
static inline void bytes(struct cursor *c, const uint8_t **data, size_t n)
{
	if (c->enc && n > 0 && *data == NULL)
		c->invalid = true;
	uint8_t *p = take(c, n);
	if (p == NULL)
		return;
	if (!c->enc) {
		*data = p;
		return;
	}
	if (n == 0 || *data == p || *data == NULL)
		return;
	/* memmove: the caller may hand us data that overlaps the output. */
	memmove(p, *data, n);
}

static inline void str(struct cursor *c, struct np_str *s)
{
	u16(c, &s->len);
	const uint8_t *p = (const uint8_t *)s->s;
	bytes(c, &p, s->len);
	if (!c->enc && !c->overflow)
		s->s = (const char *)p;
}

static inline void qid(struct cursor *c, struct np_qid *q)
{
	u8(c, &q->type);
	u32(c, &q->version);
	u64(c, &q->path);
}

static inline void attr(struct cursor *c, struct np_attr *a)
{
	u64(c, &a->valid);
	qid(c, &a->qid);
	u32(c, &a->mode);
	u32(c, &a->uid);
	u32(c, &a->gid);
	u64(c, &a->nlink);
	u64(c, &a->rdev);
	u64(c, &a->size);
	u64(c, &a->blksize);
	u64(c, &a->blocks);
	u64(c, &a->atime_sec);
	u64(c, &a->atime_nsec);
	u64(c, &a->mtime_sec);
	u64(c, &a->mtime_nsec);
	u64(c, &a->ctime_sec);
	u64(c, &a->ctime_nsec);
	u64(c, &a->btime_sec);
	u64(c, &a->btime_nsec);
	u64(c, &a->gen);
	u64(c, &a->data_version);
}

static inline void statfs(struct cursor *c, struct np_statfs *s)
{
	u32(c, &s->type);
	u32(c, &s->bsize);
	u64(c, &s->blocks);
	u64(c, &s->bfree);
	u64(c, &s->bavail);
	u64(c, &s->files);
	u64(c, &s->ffree);
	u64(c, &s->fsid);
	u32(c, &s->namelen);
}

static inline void dirent(struct cursor *c, struct np_dirent *d)
{
	qid(c, &d->qid);
	u64(c, &d->offset);
	u8(c, &d->type);
	str(c, &d->name);
}

/*
 * Walk the body of message `m->type` in wire order (see the reference table in
 * /work/shared/reference/9p2000L-wire.md).  Returns 0, or NP_E_TOO_MANY for a
 * walk longer than NP_MAXWELEM; overruns are left in the cursor.
 */
static int body(struct cursor *c, struct np_msg *m)
{
	switch ((enum np_type)m->type) {
	case NP_TLERROR:
	case NP_RLERROR:
		u32(c, &m->u.rlerror.ecode);
		break;
	case NP_TSTATFS:
		u32(c, &m->u.tstatfs.fid);
		break;
	case NP_RSTATFS:
		statfs(c, &m->u.rstatfs);
		break;
	case NP_TLOPEN:
		u32(c, &m->u.tlopen.fid);
		u32(c, &m->u.tlopen.flags);
		break;
	case NP_RLOPEN:
	case NP_RLCREATE:
		qid(c, &m->u.rlopen.qid);
		u32(c, &m->u.rlopen.iounit);
		break;
	case NP_TLCREATE:
		u32(c, &m->u.tlcreate.fid);
		str(c, &m->u.tlcreate.name);
		u32(c, &m->u.tlcreate.flags);
		u32(c, &m->u.tlcreate.mode);
		u32(c, &m->u.tlcreate.gid);
		break;
	case NP_TSYMLINK:
		u32(c, &m->u.tsymlink.dfid);
		str(c, &m->u.tsymlink.name);
		str(c, &m->u.tsymlink.target);
		u32(c, &m->u.tsymlink.gid);
		break;
	case NP_RSYMLINK:
	case NP_RMKNOD:
	case NP_RMKDIR:
	case NP_RATTACH:
	case NP_RAUTH:
		qid(c, &m->u.rsymlink.qid);
		break;
	case NP_TMKNOD:
		u32(c, &m->u.tmknod.dfid);
		str(c, &m->u.tmknod.name);
		u32(c, &m->u.tmknod.mode);
		u32(c, &m->u.tmknod.major);
		u32(c, &m->u.tmknod.minor);
		u32(c, &m->u.tmknod.gid);
		break;
	case NP_TRENAME:
		u32(c, &m->u.trename.fid);
		u32(c, &m->u.trename.dfid);
		str(c, &m->u.trename.name);
		break;
	case NP_TREADLINK:
		u32(c, &m->u.treadlink.fid);
		break;
	case NP_RREADLINK:
		str(c, &m->u.rreadlink.target);
		break;
	case NP_TGETATTR:
		u32(c, &m->u.tgetattr.fid);
		u64(c, &m->u.tgetattr.request_mask);
		break;
	case NP_RGETATTR:
		attr(c, &m->u.rgetattr);
		break;
	case NP_TSETATTR:
		u32(c, &m->u.tsetattr.fid);
		u32(c, &m->u.tsetattr.valid);
		u32(c, &m->u.tsetattr.mode);
		u32(c, &m->u.tsetattr.uid);
		u32(c, &m->u.tsetattr.gid);
		u64(c, &m->u.tsetattr.size);
		u64(c, &m->u.tsetattr.atime_sec);
		u64(c, &m->u.tsetattr.atime_nsec);
		u64(c, &m->u.tsetattr.mtime_sec);
		u64(c, &m->u.tsetattr.mtime_nsec);
		break;
	case NP_TXATTRWALK:
		u32(c, &m->u.txattrwalk.fid);
		u32(c, &m->u.txattrwalk.newfid);
		str(c, &m->u.txattrwalk.name);
		break;
	case NP_RXATTRWALK:
		u64(c, &m->u.rxattrwalk.size);
		break;
	case NP_TXATTRCREATE:
		u32(c, &m->u.txattrcreate.fid);
		str(c, &m->u.txattrcreate.name);
		u64(c, &m->u.txattrcreate.attr_size);
		u32(c, &m->u.txattrcreate.flags);
		break;
	case NP_TREADDIR:
	case NP_TREAD:
		u32(c, &m->u.tread.fid);
		u64(c, &m->u.tread.offset);
		u32(c, &m->u.tread.count);
		break;
	case NP_RREADDIR:
	case NP_RREAD:
		u32(c, &m->u.rread.count);
		bytes(c, &m->u.rread.data, m->u.rread.count);
		break;
	case NP_TFSYNC:
		u32(c, &m->u.tfsync.fid);
		u32(c, &m->u.tfsync.datasync);
		break;
	case NP_TLOCK:
		u32(c, &m->u.tlock.fid);
		u8(c, &m->u.tlock.type);
		u32(c, &m->u.tlock.flags);
		u64(c, &m->u.tlock.start);
		u64(c, &m->u.tlock.length);
		u32(c, &m->u.tlock.proc_id);
		str(c, &m->u.tlock.client_id);
		break;
	case NP_RLOCK:
		u8(c, &m->u.rlock.status);
		break;
	case NP_TGETLOCK:
		u32(c, &m->u.tgetlock.fid);
		/* fall through - Tgetlock continues with Rgetlock's layout */
	case NP_RGETLOCK:
		u8(c, &m->u.tgetlock.type);
		u64(c, &m->u.tgetlock.start);
		u64(c, &m->u.tgetlock.length);
		u32(c, &m->u.tgetlock.proc_id);
		str(c, &m->u.tgetlock.client_id);
		break;
	case NP_TLINK:
		u32(c, &m->u.tlink.dfid);
		u32(c, &m->u.tlink.fid);
		str(c, &m->u.tlink.name);
		break;
	case NP_TMKDIR:
		u32(c, &m->u.tmkdir.dfid);
		str(c, &m->u.tmkdir.name);
		u32(c, &m->u.tmkdir.mode);
		u32(c, &m->u.tmkdir.gid);
		break;
	case NP_TRENAMEAT:
		u32(c, &m->u.trenameat.olddirfid);
		str(c, &m->u.trenameat.oldname);
		u32(c, &m->u.trenameat.newdirfid);
		str(c, &m->u.trenameat.newname);
		break;
	case NP_TUNLINKAT:
		u32(c, &m->u.tunlinkat.dirfid);
		str(c, &m->u.tunlinkat.name);
		u32(c, &m->u.tunlinkat.flags);
		break;
	case NP_TVERSION:
	case NP_RVERSION:
		u32(c, &m->u.tversion.msize);
		str(c, &m->u.tversion.version);
		break;
	case NP_TAUTH:
		u32(c, &m->u.tauth.afid);
		str(c, &m->u.tauth.uname);
		str(c, &m->u.tauth.aname);
		u32(c, &m->u.tauth.n_uname);
		break;
	case NP_TATTACH:
		u32(c, &m->u.tattach.fid);
		u32(c, &m->u.tattach.afid);
		str(c, &m->u.tattach.uname);
		str(c, &m->u.tattach.aname);
		u32(c, &m->u.tattach.n_uname);
		break;
	case NP_TFLUSH:
		u16(c, &m->u.tflush.oldtag);
		break;
	case NP_TWALK:
		u32(c, &m->u.twalk.fid);
		u32(c, &m->u.twalk.newfid);
		u16(c, &m->u.twalk.nwname);
		if (c->overflow)
			break;
		if (m->u.twalk.nwname > NP_MAXWELEM)
			return NP_E_TOO_MANY;
		for (uint16_t i = 0; i < m->u.twalk.nwname; i++)
			str(c, &m->u.twalk.wnames[i]);
		break;
	case NP_RWALK:
		u16(c, &m->u.rwalk.nwqid);
		if (c->overflow)
			break;
		if (m->u.rwalk.nwqid > NP_MAXWELEM)
			return NP_E_TOO_MANY;
		for (uint16_t i = 0; i < m->u.rwalk.nwqid; i++)
			qid(c, &m->u.rwalk.wqids[i]);
		break;
	case NP_TWRITE:
		u32(c, &m->u.twrite.fid);
		u64(c, &m->u.twrite.offset);
		u32(c, &m->u.twrite.count);
		bytes(c, &m->u.twrite.data, m->u.twrite.count);
		break;
	case NP_RWRITE:
		u32(c, &m->u.rwrite.count);
		break;
	case NP_TCLUNK:
	case NP_TREMOVE:
		u32(c, &m->u.tclunk.fid);
		break;
	case NP_RRENAME:
	case NP_RSETATTR:
	case NP_RXATTRCREATE:
	case NP_RFSYNC:
	case NP_RLINK:
	case NP_RRENAMEAT:
	case NP_RUNLINKAT:
	case NP_RFLUSH:
	case NP_RCLUNK:
	case NP_RREMOVE:
		break;
	}
	return 0;
}

/* Which wire numbers are messages, generated from the one table. */
static const bool known_type[256] = {
#define NP_KNOWN(name, NAME, num) [num] = true,
	NP_MESSAGES(NP_KNOWN)
#undef NP_KNOWN
};

/* "Tversion" from the table's `tversion`: the stringified member name with
 * its first letter overridden, so the names cannot drift from the table.  The
 * override is deliberate; the warning against overriding is silenced here only. */
struct type_name {
	char s[16];
};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct type_name type_names[256] = {
#define NP_NAME(name, NAME, num) [num] = { .s = #name, .s[0] = (num) % 2 ? 'R' : 'T' },
	NP_MESSAGES(NP_NAME)
#undef NP_NAME
};
#pragma GCC diagnostic pop

const char *np_type_name(uint8_t type)
{
	return known_type[type] ? type_names[type].s : NULL;
}

bool np_is_request(uint8_t type)
{
	return known_type[type] && type % 2 == 0;
}

const char *np_status_str(int status)
{
	switch (status) {
	case NP_OK: return "ok";
	case NP_E_SHORT: return "incomplete frame";
	case NP_E_FRAME_SIZE: return "frame size out of range";
	case NP_E_UNKNOWN_TYPE: return "unknown message type";
	case NP_E_OVERRUN: return "field runs past the end of the frame";
	case NP_E_TRAILING: return "trailing bytes after the last field";
	case NP_E_TOO_MANY: return "more than 16 walk elements";
	case NP_E_NO_SPACE: return "message does not fit the buffer";
	case NP_E_INVALID: return "value cannot be encoded";
	default: return "unknown status";
	}
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int np_frame_size(const uint8_t *buf, size_t len, uint32_t msize)
{
	if (len < 4)
		return NP_E_SHORT;
	uint32_t size = get_le32(buf);
	if (size < NP_HDRSZ || size > msize || size > INT_MAX)
		return NP_E_FRAME_SIZE;
	return (int)size;
}

/*
 * A size field that disagrees with `len` is reported as NP_E_SHORT when the
 * frame claims more bytes than it was given and NP_E_TRAILING when it claims
 * fewer: both mean the caller framed the stream wrongly, and the two codes
 * say which way.
 */
int np_decode(const uint8_t *buf, size_t len, uint32_t msize, struct np_msg *m)
{
	int size = np_frame_size(buf, len, msize);
	if (size < 0)
		return size;
	if ((size_t)size > len)
		return NP_E_SHORT;
	if ((size_t)size < len)
		return NP_E_TRAILING;

	/* No memset of *m: zeroing 280 bytes cost more than decoding a typical
	 * message.  Members outside the decoded message (wnames past nwname,
	 * Rgetlock's fid) keep whatever the caller had there. */
	m->type = buf[4];
	m->tag = (uint16_t)(buf[5] | buf[6] << 8);
	if (!known_type[m->type])
		return NP_E_UNKNOWN_TYPE;

	/* The cursor never writes when decoding; the cast only lets one walk
	 * serve both directions. */
	struct cursor c = { .buf = (uint8_t *)buf, .cap = len, .pos = NP_HDRSZ };
	int rc = body(&c, m);
	if (rc < 0)
		return rc;
	if (c.overflow)
		return NP_E_OVERRUN;
	if (c.pos != len)
		return NP_E_TRAILING;
	return 0;
}

int np_encode(const struct np_msg *m, uint8_t *buf, size_t cap)
{
	if (!known_type[m->type])
		return NP_E_UNKNOWN_TYPE;

	/* The walk only reads *m when encoding; see body(). */
	struct np_msg *mm = (struct np_msg *)m;
	struct cursor c = { .buf = buf, .cap = cap, .enc = true };
	uint32_t size = 0;
	u32(&c, &size); /* patched below once the size is known */
	u8(&c, &mm->type);
	u16(&c, &mm->tag);
	int rc = body(&c, mm);
	if (rc < 0)
		return rc;
	if (c.invalid)
		return NP_E_INVALID;
	if (c.overflow)
		return NP_E_NO_SPACE;
	if (c.pos > INT_MAX)
		return NP_E_INVALID;

	size = (uint32_t)c.pos;
	c.pos = 0;
	u32(&c, &size);
	return (int)size;
}

void np_dirpack_init(struct np_dirpack *p, uint8_t *buf, uint32_t cap)
{
	p->buf = buf;
	p->cap = cap;
	p->len = 0;
}

bool np_dirpack_add(struct np_dirpack *p, const struct np_dirent *d)
{
	if (p->len > p->cap || p->cap - p->len < np_dirent_size(d->name.len))
		return false;
	if (d->name.len > 0 && d->name.s == NULL)
		return false;
	struct cursor c = { .buf = p->buf + p->len, .cap = p->cap - p->len, .enc = true };
	struct np_dirent copy = *d;
	dirent(&c, &copy);
	p->len += (uint32_t)c.pos;
	return true;
}

int np_dirent_next(const uint8_t *data, uint32_t len, uint32_t *pos, struct np_dirent *d)
{
	if (*pos == len)
		return 0;
	if (*pos > len)
		return NP_E_OVERRUN;
	struct cursor c = { .buf = (uint8_t *)data + *pos, .cap = len - *pos };
	dirent(&c, d);
	if (c.overflow)
		return NP_E_OVERRUN;
	*pos += (uint32_t)c.pos;
	return 1;
}

/*
 * A string longer than a 9P string can hold becomes { NULL, 65535 }, which
 * np_encode refuses with NP_E_INVALID rather than sending a truncated name.
 * NULL is the empty string.
 */
struct np_str np_str_c(const char *s)
{
	if (s == NULL)
		return (struct np_str){ .s = "", .len = 0 };
	size_t n = strlen(s);
	if (n > UINT16_MAX)
		return (struct np_str){ .s = NULL, .len = UINT16_MAX };
	return (struct np_str){ .s = s, .len = (uint16_t)n };
}
