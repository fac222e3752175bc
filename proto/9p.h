/* 9P2000.L wire codec: message table, decoded message struct, encode/decode.
 *
 * Everything here is pure: functions over caller-owned byte buffers, no I/O,
 * no allocation.  Decoded strings and data are views (pointer, length) into
 * the frame that was decoded; they live exactly as long as that frame buffer.
 *
 * All functions return 0 (or a byte count) on success and a negative
 * np_status code on failure; np_status_str() names the code for logs.
 */
#ifndef NINEPD_PROTO_9P_H
#define NINEPD_PROTO_9P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NP_VERSION_9P2000L "9P2000.L"
#define NP_NOTAG ((uint16_t)0xFFFF)
#define NP_NOFID ((uint32_t)0xFFFFFFFF)
#define NP_NONUNAME ((uint32_t)0xFFFFFFFF)
#define NP_MAXWELEM 16
#define NP_HDRSZ 7                /* size[4] type[1] tag[2] */
#define NP_QIDSZ 13               /* type[1] version[4] path[8] */
#define NP_IOHDRSZ 11             /* Rread/Rreaddir header: hdr + count[4] */
#define NP_MIN_MSIZE 4096         /* never negotiate below this */

/* qid.type bits */
#define NP_QTDIR 0x80
#define NP_QTAPPEND 0x40
#define NP_QTEXCL 0x20
#define NP_QTMOUNT 0x10
#define NP_QTAUTH 0x08
#define NP_QTTMP 0x04
#define NP_QTSYMLINK 0x02
#define NP_QTFILE 0x00

/* Tgetattr request_mask / Rgetattr valid bits (Linux include/net/9p/9p.h) */
#define NP_GETATTR_MODE 0x00000001ULL
#define NP_GETATTR_NLINK 0x00000002ULL
#define NP_GETATTR_UID 0x00000004ULL
#define NP_GETATTR_GID 0x00000008ULL
#define NP_GETATTR_RDEV 0x00000010ULL
#define NP_GETATTR_ATIME 0x00000020ULL
#define NP_GETATTR_MTIME 0x00000040ULL
#define NP_GETATTR_CTIME 0x00000080ULL
#define NP_GETATTR_INO 0x00000100ULL
#define NP_GETATTR_SIZE 0x00000200ULL
#define NP_GETATTR_BLOCKS 0x00000400ULL
#define NP_GETATTR_BTIME 0x00000800ULL
#define NP_GETATTR_GEN 0x00001000ULL
#define NP_GETATTR_DATA_VERSION 0x00002000ULL
#define NP_GETATTR_BASIC 0x000007ffULL
#define NP_GETATTR_ALL 0x00003fffULL

/* Tsetattr valid bits */
#define NP_SETATTR_MODE 0x00000001U
#define NP_SETATTR_UID 0x00000002U
#define NP_SETATTR_GID 0x00000004U
#define NP_SETATTR_SIZE 0x00000008U
#define NP_SETATTR_ATIME 0x00000010U
#define NP_SETATTR_MTIME 0x00000020U
#define NP_SETATTR_CTIME 0x00000040U
#define NP_SETATTR_ATIME_SET 0x00000080U
#define NP_SETATTR_MTIME_SET 0x00000100U

/* Tlopen/Tlcreate flags (P9_DOTL_*; same values as x86 Linux O_*) */
#define NP_DOTL_RDONLY 00000000
#define NP_DOTL_WRONLY 00000001
#define NP_DOTL_RDWR 00000002
#define NP_DOTL_NOACCESS 00000003
#define NP_DOTL_CREATE 00000100
#define NP_DOTL_EXCL 00000200
#define NP_DOTL_NOCTTY 00000400
#define NP_DOTL_TRUNC 00001000
#define NP_DOTL_APPEND 00002000
#define NP_DOTL_NONBLOCK 00004000
#define NP_DOTL_DSYNC 00010000
#define NP_DOTL_FASYNC 00020000
#define NP_DOTL_DIRECT 00040000
#define NP_DOTL_LARGEFILE 00100000
#define NP_DOTL_DIRECTORY 00200000
#define NP_DOTL_NOFOLLOW 00400000
#define NP_DOTL_NOATIME 01000000
#define NP_DOTL_CLOEXEC 02000000
#define NP_DOTL_SYNC 04000000

/* Tlock */
#define NP_LOCK_TYPE_RDLCK 0
#define NP_LOCK_TYPE_WRLCK 1
#define NP_LOCK_TYPE_UNLCK 2
#define NP_LOCK_FLAGS_BLOCK 1
#define NP_LOCK_FLAGS_RECLAIM 2
#define NP_LOCK_SUCCESS 0
#define NP_LOCK_BLOCKED 1
#define NP_LOCK_ERROR 2
#define NP_LOCK_GRACE 3

/* Tunlinkat flags */
#define NP_AT_REMOVEDIR 0x200

/*
 * The message table.  X(name, NAME, number): `name` is the body member of
 * struct np_msg, NAME the enum suffix, number the wire type.  Every 9P2000.L
 * message the Linux v9fs client sends, and every reply.  Users define X to
 * generate the enum, names for tracing and the server's dispatch array.
 */
#define NP_MESSAGES(X)                                                          \
	X(tlerror, TLERROR, 6)                                                  \
	X(rlerror, RLERROR, 7)                                                  \
	X(tstatfs, TSTATFS, 8)                                                  \
	X(rstatfs, RSTATFS, 9)                                                  \
	X(tlopen, TLOPEN, 12)                                                   \
	X(rlopen, RLOPEN, 13)                                                   \
	X(tlcreate, TLCREATE, 14)                                               \
	X(rlcreate, RLCREATE, 15)                                               \
	X(tsymlink, TSYMLINK, 16)                                               \
	X(rsymlink, RSYMLINK, 17)                                               \
	X(tmknod, TMKNOD, 18)                                                   \
	X(rmknod, RMKNOD, 19)                                                   \
	X(trename, TRENAME, 20)                                                 \
	X(rrename, RRENAME, 21)                                                 \
	X(treadlink, TREADLINK, 22)                                             \
	X(rreadlink, RREADLINK, 23)                                             \
	X(tgetattr, TGETATTR, 24)                                               \
	X(rgetattr, RGETATTR, 25)                                               \
	X(tsetattr, TSETATTR, 26)                                               \
	X(rsetattr, RSETATTR, 27)                                               \
	X(txattrwalk, TXATTRWALK, 30)                                           \
	X(rxattrwalk, RXATTRWALK, 31)                                           \
	X(txattrcreate, TXATTRCREATE, 32)                                       \
	X(rxattrcreate, RXATTRCREATE, 33)                                       \
	X(treaddir, TREADDIR, 40)                                               \
	X(rreaddir, RREADDIR, 41)                                               \
	X(tfsync, TFSYNC, 50)                                                   \
	X(rfsync, RFSYNC, 51)                                                   \
	X(tlock, TLOCK, 52)                                                     \
	X(rlock, RLOCK, 53)                                                     \
	X(tgetlock, TGETLOCK, 54)                                               \
	X(rgetlock, RGETLOCK, 55)                                               \
	X(tlink, TLINK, 70)                                                     \
	X(rlink, RLINK, 71)                                                     \
	X(tmkdir, TMKDIR, 72)                                                   \
	X(rmkdir, RMKDIR, 73)                                                   \
	X(trenameat, TRENAMEAT, 74)                                             \
	X(rrenameat, RRENAMEAT, 75)                                             \
	X(tunlinkat, TUNLINKAT, 76)                                             \
	X(runlinkat, RUNLINKAT, 77)                                             \
	X(tversion, TVERSION, 100)                                              \
	X(rversion, RVERSION, 101)                                              \
	X(tauth, TAUTH, 102)                                                    \
	X(rauth, RAUTH, 103)                                                    \
	X(tattach, TATTACH, 104)                                                \
	X(rattach, RATTACH, 105)                                                \
	X(tflush, TFLUSH, 108)                                                  \
	X(rflush, RFLUSH, 109)                                                  \
	X(twalk, TWALK, 110)                                                    \
	X(rwalk, RWALK, 111)                                                    \
	X(tread, TREAD, 116)                                                    \
	X(rread, RREAD, 117)                                                    \
	X(twrite, TWRITE, 118)                                                  \
	X(rwrite, RWRITE, 119)                                                  \
	X(tclunk, TCLUNK, 120)                                                  \
	X(rclunk, RCLUNK, 121)                                                  \
	X(tremove, TREMOVE, 122)                                                \
	X(rremove, RREMOVE, 123)

enum np_type {
#define NP_ENUM(name, NAME, num) NP_##NAME = num,
	NP_MESSAGES(NP_ENUM)
#undef NP_ENUM
};

/* Negative status codes returned by the codec. */
enum np_status {
	NP_OK = 0,
	NP_E_SHORT = -1,        /* fewer bytes than a complete frame */
	NP_E_FRAME_SIZE = -2,   /* size field < 7 or > msize */
	NP_E_UNKNOWN_TYPE = -3, /* type byte names no 9P2000.L message */
	NP_E_OVERRUN = -4,      /* a field (string, count, array) runs past the frame */
	NP_E_TRAILING = -5,     /* bytes left over after the last field */
	NP_E_TOO_MANY = -6,     /* nwname or nwqid > 16 */
	NP_E_NO_SPACE = -7,     /* encoding does not fit the output buffer */
	NP_E_INVALID = -8,      /* a value the encoder refuses (e.g. string > 65535) */
};

/* Name of a status code ("frame size out of range", ...). */
const char *np_status_str(int status);

/* "Tversion", "Rlerror", ...; NULL for a number that is no message. */
const char *np_type_name(uint8_t type);

/* True for the wire number of a T-message (even, in the table). */
bool np_is_request(uint8_t type);

/* A string view into a frame: not NUL-terminated. */
struct np_str {
	const char *s;
	uint16_t len;
};

struct np_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* Rgetattr body (also what the server fills). */
struct np_attr {
	uint64_t valid;
	struct np_qid qid;
	uint32_t mode, uid, gid;
	uint64_t nlink, rdev, size, blksize, blocks;
	uint64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec;
	uint64_t ctime_sec, ctime_nsec, btime_sec, btime_nsec;
	uint64_t gen, data_version;
};

struct np_statfs {
	uint32_t type, bsize;
	uint64_t blocks, bfree, bavail, files, ffree, fsid;
	uint32_t namelen;
};

/*
 * A decoded (or to-be-encoded) message.  The member of `u` in use is the one
 * named by `type` in NP_MESSAGES; messages with an empty body have a member
 * anyway so that the table stays uniform.
 */
struct np_msg {
	uint8_t type;
	uint16_t tag;
	union {
		struct { uint32_t ecode; } tlerror, rlerror;
		struct { uint32_t fid; } tstatfs;
		struct np_statfs rstatfs;
		struct { uint32_t fid, flags; } tlopen;
		struct { struct np_qid qid; uint32_t iounit; } rlopen, rlcreate;
		struct { uint32_t fid; struct np_str name; uint32_t flags, mode, gid; } tlcreate;
		struct { uint32_t dfid; struct np_str name, target; uint32_t gid; } tsymlink;
		struct { struct np_qid qid; } rsymlink, rmknod, rmkdir, rattach, rauth;
		struct { uint32_t dfid; struct np_str name; uint32_t mode, major, minor, gid; } tmknod;
		struct { uint32_t fid, dfid; struct np_str name; } trename;
		struct { uint32_t fid; } treadlink;
		struct { struct np_str target; } rreadlink;
		struct { uint32_t fid; uint64_t request_mask; } tgetattr;
		struct np_attr rgetattr;
		struct {
			uint32_t fid, valid, mode, uid, gid;
			uint64_t size, atime_sec, atime_nsec, mtime_sec, mtime_nsec;
		} tsetattr;
		struct { uint32_t fid, newfid; struct np_str name; } txattrwalk;
		struct { uint64_t size; } rxattrwalk;
		struct { uint32_t fid; struct np_str name; uint64_t attr_size; uint32_t flags; } txattrcreate;
		struct { uint32_t fid; uint64_t offset; uint32_t count; } treaddir, tread;
		/* Rreaddir/Rread: count bytes at data (packed dirents for Rreaddir). */
		struct { uint32_t count; const uint8_t *data; } rreaddir, rread;
		struct { uint32_t fid, datasync; } tfsync;
		struct {
			uint32_t fid;
			uint8_t type;
			uint32_t flags;
			uint64_t start, length;
			uint32_t proc_id;
			struct np_str client_id;
		} tlock;
		struct { uint8_t status; } rlock;
		struct {
			uint32_t fid;
			uint8_t type;
			uint64_t start, length;
			uint32_t proc_id;
			struct np_str client_id;
		} tgetlock, rgetlock; /* rgetlock ignores fid */
		struct { uint32_t dfid, fid; struct np_str name; } tlink;
		struct { uint32_t dfid; struct np_str name; uint32_t mode, gid; } tmkdir;
		struct { uint32_t olddirfid; struct np_str oldname; uint32_t newdirfid; struct np_str newname; } trenameat;
		struct { uint32_t dirfid; struct np_str name; uint32_t flags; } tunlinkat;
		struct { uint32_t msize; struct np_str version; } tversion, rversion;
		struct { uint32_t afid; struct np_str uname, aname; uint32_t n_uname; } tauth;
		struct { uint32_t fid, afid; struct np_str uname, aname; uint32_t n_uname; } tattach;
		struct { uint16_t oldtag; } tflush;
		struct { uint32_t fid, newfid; uint16_t nwname; struct np_str wnames[NP_MAXWELEM]; } twalk;
		struct { uint16_t nwqid; struct np_qid wqids[NP_MAXWELEM]; } rwalk;
		struct { uint32_t fid; uint64_t offset; uint32_t count; const uint8_t *data; } twrite;
		struct { uint32_t count; } rwrite;
		struct { uint32_t fid; } tclunk, tremove;
		/* Empty bodies: Rrename Rsetattr Rxattrcreate Rfsync Rlink Rrenameat
		 * Runlinkat Rflush Rclunk Rremove. */
		struct { uint8_t unused; } rrename, rsetattr, rxattrcreate, rfsync, rlink,
			rrenameat, runlinkat, rflush, rclunk, rremove;
	} u;
};

/*
 * Framing: look at the first bytes of a stream.  Returns the frame size
 * (>= 7) when `len` >= 4 and the size field is within [7, msize];
 * NP_E_SHORT when fewer than 4 bytes are there; NP_E_FRAME_SIZE otherwise.
 */
int np_frame_size(const uint8_t *buf, size_t len, uint32_t msize);

/*
 * Decode one complete frame of exactly `len` bytes (its size field must
 * equal len and lie in [7, msize]).  Fills *m; string/data views point into
 * buf.  Any T- or R-message of the table is accepted; the caller decides
 * which direction it expects.
 */
int np_decode(const uint8_t *buf, size_t len, uint32_t msize, struct np_msg *m);

/*
 * Encode *m into buf (capacity cap).  Returns the frame size or a negative
 * status.  For Rread/Rreaddir, if u.rread.data == buf + NP_IOHDRSZ the data
 * is already in place (the server reads straight into the reply) and is not
 * copied.
 */
int np_encode(const struct np_msg *m, uint8_t *buf, size_t cap);

/* Largest Rread/Rreaddir payload that keeps the reply strictly below msize. */
static inline uint32_t np_max_io(uint32_t msize)
{
	return msize > NP_IOHDRSZ ? msize - NP_IOHDRSZ - 1 : 0;
}

/* One Treaddir entry: qid offset[8] type[1] name[s]. */
struct np_dirent {
	struct np_qid qid;
	uint64_t offset;
	uint8_t type;
	struct np_str name;
};

/*
 * Packs readdir entries into a caller buffer, never splitting an entry and
 * never exceeding cap bytes.  Usage: np_dirpack_init(&p, buf, cap); then
 * np_dirpack_add() until it returns false (that entry did not fit and was not
 * written); p.len is the packed byte count.
 */
struct np_dirpack {
	uint8_t *buf;
	uint32_t cap;
	uint32_t len;
};
void np_dirpack_init(struct np_dirpack *p, uint8_t *buf, uint32_t cap);
bool np_dirpack_add(struct np_dirpack *p, const struct np_dirent *d);

/* Size one entry takes on the wire. */
static inline uint32_t np_dirent_size(uint16_t namelen)
{
	return NP_QIDSZ + 8 + 1 + 2 + namelen;
}

/*
 * Client side: read the next entry from packed Rreaddir data.  *pos is the
 * cursor (start at 0).  Returns 1 with *d filled, 0 at the end, or
 * NP_E_OVERRUN when an entry runs past `len`.
 */
int np_dirent_next(const uint8_t *data, uint32_t len, uint32_t *pos, struct np_dirent *d);

/* Convenience for building messages: a view of a C string. */
struct np_str np_str_c(const char *s);

#endif
