/* Tests of the 9P2000.L wire codec (proto/9p.c).
 *
 * The golden vectors below are written by hand from the layout table in
 * /work/shared/reference/9p2000L-wire.md (and, for the Linux-only details,
 * include/net/9p/9p.h): size[4] type[1] tag[2] then the body, every integer
 * little-endian, strings as len[2] + bytes.  They are never produced by the
 * encoder.  Field values are chosen so that every byte differs, which makes
 * a swapped field or a wrong byte order visible.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/9p.h"

#define MSIZE 8192

/* Little-endian bytes of a constant, for writing golden frames readably. */
#define B16(x) (uint8_t)((x) & 0xff), (uint8_t)(((x) >> 8) & 0xff)
#define B32(x) B16((x) & 0xffff), B16(((x) >> 16) & 0xffff)
#define B64(x) B32((x) & 0xffffffffULL), B32(((x) >> 32) & 0xffffffffULL)
#define HDR(size, type, tag) B32(size), (type), B16(tag)
#define QIDB(type, version, path) (type), B32(version), B64(path)
#define STRB(len, ...) B16(len), __VA_ARGS__
#define STR0 B16(0)

/* Every message gets its own tag, so a tag mix-up between tests shows. */
#define TAG(type) (0xA000 | (type))

#define FID 0x11223344U
#define FID2 0x55667788U

/* Sample qids: a directory, a file and a symlink. */
#define QDIR_B QIDB(0x80, 0x01020304U, 0x0A0B0C0D0E0F1011ULL)
#define QDIR ((struct np_qid){ 0x80, 0x01020304U, 0x0A0B0C0D0E0F1011ULL })
#define QFILE_B QIDB(0x00, 0x21222324U, 0x2A2B2C2D2E2F3031ULL)
#define QFILE ((struct np_qid){ 0x00, 0x21222324U, 0x2A2B2C2D2E2F3031ULL })
#define QLINK_B QIDB(0x02, 0x41424344U, 0x4A4B4C4D4E4F5051ULL)
#define QLINK ((struct np_qid){ 0x02, 0x41424344U, 0x4A4B4C4D4E4F5051ULL })

/* ---- golden frames ---------------------------------------------------- */

/* Tversion and Tgetattr are spelled out byte by byte, without the macros
 * above, so that the macros themselves are checked against the wire. */
static const uint8_t g_tversion[] = {
	0x15, 0x00, 0x00, 0x00,             /* size 21 */
	0x64,                               /* type 100 */
	0xff, 0xff,                         /* tag NOTAG */
	0x00, 0x20, 0x00, 0x00,             /* msize 8192 */
	0x08, 0x00, '9', 'P', '2', '0', '0', '0', '.', 'L',
};
static const uint8_t g_tgetattr[] = {
	0x13, 0x00, 0x00, 0x00,             /* size 19 */
	0x18,                               /* type 24 */
	0x18, 0xa0,                         /* tag 0xA018 */
	0x44, 0x33, 0x22, 0x11,             /* fid */
	0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* request_mask BASIC */
};

static const uint8_t g_tlerror[] = { HDR(11, 6, TAG(6)), B32(0x0A0B0C0DU) };
static const uint8_t g_rlerror[] = { HDR(11, 7, TAG(7)), B32(2U) };
static const uint8_t g_tstatfs[] = { HDR(11, 8, TAG(8)), B32(FID) };
static const uint8_t g_rstatfs[] = {
	HDR(7 + 4 + 4 + 6 * 8 + 4, 9, TAG(9)),
	B32(0xEF53U), B32(0x1000U),
	B64(0x0102030405060708ULL), B64(0x1112131415161718ULL),
	B64(0x2122232425262728ULL), B64(0x3132333435363738ULL),
	B64(0x4142434445464748ULL), B64(0x5152535455565758ULL),
	B32(255U),
};
static const uint8_t g_tlopen[] = { HDR(15, 12, TAG(12)), B32(FID), B32(0x00028002U) };
static const uint8_t g_rlopen[] = { HDR(7 + 13 + 4, 13, TAG(13)), QFILE_B, B32(0x1FF4U) };
static const uint8_t g_tlcreate[] = {
	HDR(7 + 4 + 5 + 4 + 4 + 4, 14, TAG(14)),
	B32(FID), STRB(3, 'n', 'e', 'w'), B32(0x00000241U), B32(0100644U), B32(0x01020304U),
};
static const uint8_t g_rlcreate[] = { HDR(24, 15, TAG(15)), QFILE_B, B32(0U) };
static const uint8_t g_tsymlink[] = {
	HDR(7 + 4 + 4 + 6 + 4, 16, TAG(16)),
	B32(FID), STRB(2, 'l', 'n'), STRB(4, '/', 't', '/', 'x'), B32(0x0A0B0C0DU),
};
static const uint8_t g_rsymlink[] = { HDR(20, 17, TAG(17)), QLINK_B };
static const uint8_t g_tmknod[] = {
	HDR(7 + 4 + 5 + 16, 18, TAG(18)),
	B32(FID), STRB(3, 'd', 'e', 'v'), B32(0020620U), B32(8U), B32(0x01020304U), B32(6U),
};
static const uint8_t g_rmknod[] = { HDR(20, 19, TAG(19)), QFILE_B };
static const uint8_t g_trename[] = { HDR(7 + 8 + 3, 20, TAG(20)), B32(FID), B32(FID2), STRB(1, 'b') };
static const uint8_t g_rrename[] = { HDR(7, 21, TAG(21)) };
static const uint8_t g_treadlink[] = { HDR(11, 22, TAG(22)), B32(FID) };
static const uint8_t g_rreadlink[] = { HDR(7 + 6, 23, TAG(23)), STRB(4, '/', 'x', '/', 'y') };
static const uint8_t g_rgetattr[] = {
	HDR(7 + 8 + 13 + 12 + 15 * 8, 25, TAG(25)),
	B64(0x3FFFULL), QDIR_B, B32(040755U), B32(0x01020304U), B32(0x05060708U),
	B64(0x1011121314151617ULL), /* nlink */
	B64(0x2021222324252627ULL), /* rdev */
	B64(0x3031323334353637ULL), /* size */
	B64(0x4041424344454647ULL), /* blksize */
	B64(0x5051525354555657ULL), /* blocks */
	B64(0x6061626364656667ULL), B64(0x7071727374757677ULL), /* atime */
	B64(0x8081828384858687ULL), B64(0x9091929394959697ULL), /* mtime */
	B64(0xA0A1A2A3A4A5A6A7ULL), B64(0xB0B1B2B3B4B5B6B7ULL), /* ctime */
	B64(0xC0C1C2C3C4C5C6C7ULL), B64(0xD0D1D2D3D4D5D6D7ULL), /* btime */
	B64(0xE0E1E2E3E4E5E6E7ULL), /* gen */
	B64(0xF0F1F2F3F4F5F6F7ULL), /* data_version */
};
static const uint8_t g_tsetattr[] = {
	HDR(7 + 5 * 4 + 5 * 8, 26, TAG(26)),
	B32(FID), B32(0x1FFU), B32(0100600U), B32(0x01020304U), B32(0x05060708U),
	B64(0x1011121314151617ULL),
	B64(0x2021222324252627ULL), B64(0x3031323334353637ULL),
	B64(0x4041424344454647ULL), B64(0x5051525354555657ULL),
};
static const uint8_t g_rsetattr[] = { HDR(7, 27, TAG(27)) };
static const uint8_t g_txattrwalk[] = {
	HDR(7 + 8 + 8, 30, TAG(30)),
	B32(FID), B32(FID2), STRB(6, 'u', 's', 'e', 'r', '.', 'a'),
};
static const uint8_t g_rxattrwalk[] = { HDR(15, 31, TAG(31)), B64(0x0102030405060708ULL) };
static const uint8_t g_txattrcreate[] = {
	HDR(7 + 4 + 8 + 8 + 4, 32, TAG(32)),
	B32(FID), STRB(6, 'u', 's', 'e', 'r', '.', 'a'), B64(0x0102030405060708ULL), B32(1U),
};
static const uint8_t g_rxattrcreate[] = { HDR(7, 33, TAG(33)) };
static const uint8_t g_treaddir[] = {
	HDR(23, 40, TAG(40)), B32(FID), B64(0x0102030405060708ULL), B32(0x1FF4U),
};
/* Rreaddir payload: "." (a directory) and "ab" (a file). */
#define DIRENTS_B                                                                 \
	QDIR_B, B64(1ULL), 4, STRB(1, '.'),                                       \
	QFILE_B, B64(0x7FFFFFFFFFFFFFFFULL), 8, STRB(2, 'a', 'b')
static const uint8_t g_dirents[] = { DIRENTS_B };
static const uint8_t g_rreaddir[] = { HDR(7 + 4 + 25 + 26, 41, TAG(41)), B32(51U), DIRENTS_B };
static const uint8_t g_tfsync[] = { HDR(15, 50, TAG(50)), B32(FID), B32(1U) };
static const uint8_t g_rfsync[] = { HDR(7, 51, TAG(51)) };
static const uint8_t g_tlock[] = {
	HDR(7 + 4 + 1 + 4 + 8 + 8 + 4 + 4, 52, TAG(52)),
	B32(FID), NP_LOCK_TYPE_WRLCK, B32(NP_LOCK_FLAGS_BLOCK),
	B64(0x0102030405060708ULL), B64(0x1112131415161718ULL), B32(0x21222324U),
	STRB(2, 'c', 'l'),
};
static const uint8_t g_rlock[] = { HDR(8, 53, TAG(53)), NP_LOCK_BLOCKED };
static const uint8_t g_tgetlock[] = {
	HDR(7 + 4 + 1 + 8 + 8 + 4 + 4, 54, TAG(54)),
	B32(FID), NP_LOCK_TYPE_RDLCK,
	B64(0x0102030405060708ULL), B64(0x1112131415161718ULL), B32(0x21222324U),
	STRB(2, 'c', 'l'),
};
static const uint8_t g_rgetlock[] = {
	HDR(7 + 1 + 8 + 8 + 4 + 5, 55, TAG(55)),
	NP_LOCK_TYPE_UNLCK,
	B64(0x3132333435363738ULL), B64(0x4142434445464748ULL), B32(0x51525354U),
	STRB(3, 'c', 'l', '2'),
};
static const uint8_t g_tlink[] = { HDR(7 + 8 + 4, 70, TAG(70)), B32(FID), B32(FID2), STRB(2, 'h', 'l') };
static const uint8_t g_rlink[] = { HDR(7, 71, TAG(71)) };
static const uint8_t g_tmkdir[] = {
	HDR(7 + 4 + 3 + 8, 72, TAG(72)), B32(FID), STRB(1, 'd'), B32(040755U), B32(0x01020304U),
};
static const uint8_t g_rmkdir[] = { HDR(20, 73, TAG(73)), QDIR_B };
static const uint8_t g_trenameat[] = {
	HDR(7 + 4 + 3 + 4 + 4, 74, TAG(74)),
	B32(FID), STRB(1, 'a'), B32(FID2), STRB(2, 'b', 'c'),
};
static const uint8_t g_rrenameat[] = { HDR(7, 75, TAG(75)) };
static const uint8_t g_tunlinkat[] = {
	HDR(7 + 4 + 3 + 4, 76, TAG(76)), B32(FID), STRB(1, 'f'), B32(NP_AT_REMOVEDIR),
};
static const uint8_t g_runlinkat[] = { HDR(7, 77, TAG(77)) };
static const uint8_t g_rversion[] = {
	HDR(7 + 4 + 10, 101, NP_NOTAG), B32(0x10000U),
	STRB(8, '9', 'P', '2', '0', '0', '0', '.', 'L'),
};
static const uint8_t g_tauth[] = {
	HDR(7 + 4 + 3 + 2 + 4, 102, TAG(102)), B32(FID), STRB(1, 'u'), STR0, B32(NP_NONUNAME),
};
static const uint8_t g_rauth[] = { HDR(20, 103, TAG(103)), QIDB(NP_QTAUTH, 0U, 0x99ULL) };
static const uint8_t g_tattach[] = {
	HDR(7 + 8 + 6 + 6 + 4, 104, TAG(104)),
	B32(FID), B32(NP_NOFID), STRB(4, 'r', 'o', 'o', 't'), STRB(4, '/', 's', 'r', 'v'), B32(0U),
};
static const uint8_t g_rattach[] = { HDR(20, 105, TAG(105)), QDIR_B };
static const uint8_t g_tflush[] = { HDR(9, 108, TAG(108)), B16(0x0102U) };
static const uint8_t g_rflush[] = { HDR(7, 109, TAG(109)) };
static const uint8_t g_twalk[] = {
	HDR(7 + 4 + 4 + 2 + 3 + 5, 110, TAG(110)),
	B32(FID), B32(FID2), B16(2U), STRB(1, 'a'), STRB(3, 'b', 'c', 'd'),
};
static const uint8_t g_rwalk[] = { HDR(7 + 2 + 26, 111, TAG(111)), B16(2U), QDIR_B, QLINK_B };
static const uint8_t g_tread[] = {
	HDR(23, 116, TAG(116)), B32(FID), B64(0x0102030405060708ULL), B32(0x1000U),
};
static const uint8_t g_rread[] = { HDR(7 + 4 + 5, 117, TAG(117)), B32(5U), 'h', 'e', 'l', 'l', 'o' };
static const uint8_t g_twrite[] = {
	HDR(7 + 4 + 8 + 4 + 3, 118, TAG(118)),
	B32(FID), B64(0x0102030405060708ULL), B32(3U), 'a', 'b', 'c',
};
static const uint8_t g_rwrite[] = { HDR(11, 119, TAG(119)), B32(0x01020304U) };
static const uint8_t g_tclunk[] = { HDR(11, 120, TAG(120)), B32(FID) };
static const uint8_t g_rclunk[] = { HDR(7, 121, TAG(121)) };
static const uint8_t g_tremove[] = { HDR(11, 122, TAG(122)), B32(FID2) };
static const uint8_t g_rremove[] = { HDR(7, 123, TAG(123)) };

struct golden {
	const uint8_t *bytes;
	size_t len;
};
#define G(name) { g_##name, sizeof(g_##name) }

static const struct golden goldens[] = {
	G(tlerror), G(rlerror), G(tstatfs), G(rstatfs), G(tlopen), G(rlopen),
	G(tlcreate), G(rlcreate), G(tsymlink), G(rsymlink), G(tmknod), G(rmknod),
	G(trename), G(rrename), G(treadlink), G(rreadlink), G(tgetattr), G(rgetattr),
	G(tsetattr), G(rsetattr), G(txattrwalk), G(rxattrwalk), G(txattrcreate),
	G(rxattrcreate), G(treaddir), G(rreaddir), G(tfsync), G(rfsync), G(tlock),
	G(rlock), G(tgetlock), G(rgetlock), G(tlink), G(rlink), G(tmkdir), G(rmkdir),
	G(trenameat), G(rrenameat), G(tunlinkat), G(runlinkat), G(tversion),
	G(rversion), G(tauth), G(rauth), G(tattach), G(rattach), G(tflush), G(rflush),
	G(twalk), G(rwalk), G(tread), G(rread), G(twrite), G(rwrite), G(tclunk),
	G(rclunk), G(tremove), G(rremove),
};
#define NGOLDEN (sizeof(goldens) / sizeof(goldens[0]))

/* ---- helpers ---------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A heap copy of exactly `len` bytes, so that ASan sees any read past the frame. */
static uint8_t *exact_copy(const uint8_t *bytes, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	cr_assert_not_null(p);
	memcpy(p, bytes, len);
	return p;
}

static int decode_exact(const uint8_t *bytes, size_t len, struct np_msg *m)
{
	uint8_t *p = exact_copy(bytes, len);
	int rc = np_decode(p, len, MSIZE, m);
	free(p);
	return rc;
}

/* Decode a golden frame that must be valid; the views point into `bytes`. */
static struct np_msg decode_golden(const uint8_t *bytes, size_t len)
{
	struct np_msg m;
	cr_assert_eq(le32(bytes), len, "golden vector's size field disagrees with its length");
	int rc = np_decode(bytes, len, MSIZE, &m);
	cr_assert_eq(rc, 0, "decode type %u: %s", bytes[4], np_status_str(rc));
	cr_assert_eq(m.type, bytes[4]);
	cr_assert_eq(m.tag, bytes[5] | bytes[6] << 8);
	return m;
}

/*
 * Encode *m and require exactly the golden bytes; also require that one byte
 * less of room gives NP_E_NO_SPACE without writing past that room.
 */
static void assert_encodes(const struct np_msg *m, const uint8_t *golden, size_t len)
{
	uint8_t buf[512];
	cr_assert_lt(len, sizeof(buf));
	memset(buf, 0xAA, sizeof(buf));
	int n = np_encode(m, buf, sizeof(buf));
	cr_assert_eq(n, (int)len, "encode type %u gave %d (%s), want %zu", m->type, n,
		     n < 0 ? np_status_str(n) : "size", len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(buf[i], golden[i], "type %u: byte %zu is %#x, want %#x", m->type, i,
			     buf[i], golden[i]);

	memset(buf, 0xAA, sizeof(buf));
	cr_assert_eq(np_encode(m, buf, len - 1), NP_E_NO_SPACE);
	cr_assert_eq(buf[len - 1], 0xAA, "encoder wrote past its capacity");
}

static void assert_str_eq(struct np_str got, struct np_str want, const char *field)
{
	cr_assert_eq(got.len, want.len, "%s: length %u, want %u", field, got.len, want.len);
	cr_assert(got.len == 0 || memcmp(got.s, want.s, got.len) == 0, "%s: bytes differ", field);
}

static void assert_qid_eq(struct np_qid got, struct np_qid want, const char *field)
{
	cr_assert_eq(got.type, want.type, "%s.type", field);
	cr_assert_eq(got.version, want.version, "%s.version", field);
	cr_assert_eq(got.path, want.path, "%s.path", field);
}

/* Field checks between the decoded message `d` and the expected `e`. */
#define EQ(f) cr_assert_eq(d.u.f, e.u.f, "field " #f)
#define EQSTR(f) assert_str_eq(d.u.f, e.u.f, #f)
#define EQQID(f) assert_qid_eq(d.u.f, e.u.f, #f)
#define MSG(t) { .type = (t), .tag = TAG(t) }
#define DECODE(name) decode_golden(g_##name, sizeof(g_##name))
#define ENCODES(name) assert_encodes(&e, g_##name, sizeof(g_##name))

/* ---- golden vectors, one test per message ----------------------------- */

Test(golden, tlerror_carries_ecode)
{
	struct np_msg e = MSG(NP_TLERROR);
	e.u.tlerror.ecode = 0x0A0B0C0DU;
	struct np_msg d = DECODE(tlerror);
	EQ(tlerror.ecode);
	ENCODES(tlerror);
}

Test(golden, rlerror_carries_errno)
{
	struct np_msg e = MSG(NP_RLERROR);
	e.u.rlerror.ecode = 2;
	struct np_msg d = DECODE(rlerror);
	EQ(rlerror.ecode);
	ENCODES(rlerror);
}

Test(golden, tstatfs_carries_fid)
{
	struct np_msg e = MSG(NP_TSTATFS);
	e.u.tstatfs.fid = FID;
	struct np_msg d = DECODE(tstatfs);
	EQ(tstatfs.fid);
	ENCODES(tstatfs);
}

Test(golden, rstatfs_fields_in_spec_order)
{
	struct np_msg e = MSG(NP_RSTATFS);
	e.u.rstatfs = (struct np_statfs){
		.type = 0xEF53U, .bsize = 0x1000U,
		.blocks = 0x0102030405060708ULL, .bfree = 0x1112131415161718ULL,
		.bavail = 0x2122232425262728ULL, .files = 0x3132333435363738ULL,
		.ffree = 0x4142434445464748ULL, .fsid = 0x5152535455565758ULL,
		.namelen = 255,
	};
	struct np_msg d = DECODE(rstatfs);
	EQ(rstatfs.type);
	EQ(rstatfs.bsize);
	EQ(rstatfs.blocks);
	EQ(rstatfs.bfree);
	EQ(rstatfs.bavail);
	EQ(rstatfs.files);
	EQ(rstatfs.ffree);
	EQ(rstatfs.fsid);
	EQ(rstatfs.namelen);
	ENCODES(rstatfs);
}

Test(golden, tlopen_fid_flags)
{
	struct np_msg e = MSG(NP_TLOPEN);
	e.u.tlopen.fid = FID;
	e.u.tlopen.flags = 0x00028002U;
	struct np_msg d = DECODE(tlopen);
	EQ(tlopen.fid);
	EQ(tlopen.flags);
	ENCODES(tlopen);
}

Test(golden, rlopen_qid_iounit)
{
	struct np_msg e = MSG(NP_RLOPEN);
	e.u.rlopen.qid = QFILE;
	e.u.rlopen.iounit = 0x1FF4U;
	struct np_msg d = DECODE(rlopen);
	EQQID(rlopen.qid);
	EQ(rlopen.iounit);
	ENCODES(rlopen);
}

Test(golden, tlcreate_fid_name_flags_mode_gid)
{
	struct np_msg e = MSG(NP_TLCREATE);
	e.u.tlcreate.fid = FID;
	e.u.tlcreate.name = np_str_c("new");
	e.u.tlcreate.flags = 0x241U;
	e.u.tlcreate.mode = 0100644U;
	e.u.tlcreate.gid = 0x01020304U;
	struct np_msg d = DECODE(tlcreate);
	EQ(tlcreate.fid);
	EQSTR(tlcreate.name);
	EQ(tlcreate.flags);
	EQ(tlcreate.mode);
	EQ(tlcreate.gid);
	ENCODES(tlcreate);
}

Test(golden, rlcreate_qid_iounit)
{
	struct np_msg e = MSG(NP_RLCREATE);
	e.u.rlcreate.qid = QFILE;
	e.u.rlcreate.iounit = 0;
	struct np_msg d = DECODE(rlcreate);
	EQQID(rlcreate.qid);
	EQ(rlcreate.iounit);
	ENCODES(rlcreate);
}

Test(golden, tsymlink_dfid_name_target_gid)
{
	struct np_msg e = MSG(NP_TSYMLINK);
	e.u.tsymlink.dfid = FID;
	e.u.tsymlink.name = np_str_c("ln");
	e.u.tsymlink.target = np_str_c("/t/x");
	e.u.tsymlink.gid = 0x0A0B0C0DU;
	struct np_msg d = DECODE(tsymlink);
	EQ(tsymlink.dfid);
	EQSTR(tsymlink.name);
	EQSTR(tsymlink.target);
	EQ(tsymlink.gid);
	ENCODES(tsymlink);
}

Test(golden, rsymlink_qid)
{
	struct np_msg e = MSG(NP_RSYMLINK);
	e.u.rsymlink.qid = QLINK;
	struct np_msg d = DECODE(rsymlink);
	EQQID(rsymlink.qid);
	ENCODES(rsymlink);
}

Test(golden, tmknod_dfid_name_mode_major_minor_gid)
{
	struct np_msg e = MSG(NP_TMKNOD);
	e.u.tmknod.dfid = FID;
	e.u.tmknod.name = np_str_c("dev");
	e.u.tmknod.mode = 0020620U;
	e.u.tmknod.major = 8;
	e.u.tmknod.minor = 0x01020304U;
	e.u.tmknod.gid = 6;
	struct np_msg d = DECODE(tmknod);
	EQ(tmknod.dfid);
	EQSTR(tmknod.name);
	EQ(tmknod.mode);
	EQ(tmknod.major);
	EQ(tmknod.minor);
	EQ(tmknod.gid);
	ENCODES(tmknod);
}

Test(golden, rmknod_qid)
{
	struct np_msg e = MSG(NP_RMKNOD);
	e.u.rmknod.qid = QFILE;
	struct np_msg d = DECODE(rmknod);
	EQQID(rmknod.qid);
	ENCODES(rmknod);
}

Test(golden, trename_fid_dfid_name)
{
	struct np_msg e = MSG(NP_TRENAME);
	e.u.trename.fid = FID;
	e.u.trename.dfid = FID2;
	e.u.trename.name = np_str_c("b");
	struct np_msg d = DECODE(trename);
	EQ(trename.fid);
	EQ(trename.dfid);
	EQSTR(trename.name);
	ENCODES(trename);
}

Test(golden, treadlink_fid)
{
	struct np_msg e = MSG(NP_TREADLINK);
	e.u.treadlink.fid = FID;
	struct np_msg d = DECODE(treadlink);
	EQ(treadlink.fid);
	ENCODES(treadlink);
}

Test(golden, rreadlink_target)
{
	struct np_msg e = MSG(NP_RREADLINK);
	e.u.rreadlink.target = np_str_c("/x/y");
	struct np_msg d = DECODE(rreadlink);
	EQSTR(rreadlink.target);
	ENCODES(rreadlink);
}

Test(golden, tgetattr_fid_request_mask)
{
	struct np_msg e = MSG(NP_TGETATTR);
	e.u.tgetattr.fid = FID;
	e.u.tgetattr.request_mask = NP_GETATTR_BASIC;
	struct np_msg d = DECODE(tgetattr);
	EQ(tgetattr.fid);
	EQ(tgetattr.request_mask);
	ENCODES(tgetattr);
}

Test(golden, rgetattr_fields_in_spec_order)
{
	struct np_msg e = MSG(NP_RGETATTR);
	e.u.rgetattr = (struct np_attr){
		.valid = NP_GETATTR_ALL, .qid = QDIR,
		.mode = 040755U, .uid = 0x01020304U, .gid = 0x05060708U,
		.nlink = 0x1011121314151617ULL, .rdev = 0x2021222324252627ULL,
		.size = 0x3031323334353637ULL, .blksize = 0x4041424344454647ULL,
		.blocks = 0x5051525354555657ULL,
		.atime_sec = 0x6061626364656667ULL, .atime_nsec = 0x7071727374757677ULL,
		.mtime_sec = 0x8081828384858687ULL, .mtime_nsec = 0x9091929394959697ULL,
		.ctime_sec = 0xA0A1A2A3A4A5A6A7ULL, .ctime_nsec = 0xB0B1B2B3B4B5B6B7ULL,
		.btime_sec = 0xC0C1C2C3C4C5C6C7ULL, .btime_nsec = 0xD0D1D2D3D4D5D6D7ULL,
		.gen = 0xE0E1E2E3E4E5E6E7ULL, .data_version = 0xF0F1F2F3F4F5F6F7ULL,
	};
	struct np_msg d = DECODE(rgetattr);
	EQ(rgetattr.valid);
	EQQID(rgetattr.qid);
	EQ(rgetattr.mode);
	EQ(rgetattr.uid);
	EQ(rgetattr.gid);
	EQ(rgetattr.nlink);
	EQ(rgetattr.rdev);
	EQ(rgetattr.size);
	EQ(rgetattr.blksize);
	EQ(rgetattr.blocks);
	EQ(rgetattr.atime_sec);
	EQ(rgetattr.atime_nsec);
	EQ(rgetattr.mtime_sec);
	EQ(rgetattr.mtime_nsec);
	EQ(rgetattr.ctime_sec);
	EQ(rgetattr.ctime_nsec);
	EQ(rgetattr.btime_sec);
	EQ(rgetattr.btime_nsec);
	EQ(rgetattr.gen);
	EQ(rgetattr.data_version);
	ENCODES(rgetattr);
}

Test(golden, tsetattr_fields_in_spec_order)
{
	struct np_msg e = MSG(NP_TSETATTR);
	e.u.tsetattr.fid = FID;
	e.u.tsetattr.valid = 0x1FFU;
	e.u.tsetattr.mode = 0100600U;
	e.u.tsetattr.uid = 0x01020304U;
	e.u.tsetattr.gid = 0x05060708U;
	e.u.tsetattr.size = 0x1011121314151617ULL;
	e.u.tsetattr.atime_sec = 0x2021222324252627ULL;
	e.u.tsetattr.atime_nsec = 0x3031323334353637ULL;
	e.u.tsetattr.mtime_sec = 0x4041424344454647ULL;
	e.u.tsetattr.mtime_nsec = 0x5051525354555657ULL;
	struct np_msg d = DECODE(tsetattr);
	EQ(tsetattr.fid);
	EQ(tsetattr.valid);
	EQ(tsetattr.mode);
	EQ(tsetattr.uid);
	EQ(tsetattr.gid);
	EQ(tsetattr.size);
	EQ(tsetattr.atime_sec);
	EQ(tsetattr.atime_nsec);
	EQ(tsetattr.mtime_sec);
	EQ(tsetattr.mtime_nsec);
	ENCODES(tsetattr);
}

Test(golden, txattrwalk_fid_newfid_name)
{
	struct np_msg e = MSG(NP_TXATTRWALK);
	e.u.txattrwalk.fid = FID;
	e.u.txattrwalk.newfid = FID2;
	e.u.txattrwalk.name = np_str_c("user.a");
	struct np_msg d = DECODE(txattrwalk);
	EQ(txattrwalk.fid);
	EQ(txattrwalk.newfid);
	EQSTR(txattrwalk.name);
	ENCODES(txattrwalk);
}

Test(golden, rxattrwalk_size)
{
	struct np_msg e = MSG(NP_RXATTRWALK);
	e.u.rxattrwalk.size = 0x0102030405060708ULL;
	struct np_msg d = DECODE(rxattrwalk);
	EQ(rxattrwalk.size);
	ENCODES(rxattrwalk);
}

Test(golden, txattrcreate_fid_name_size_flags)
{
	struct np_msg e = MSG(NP_TXATTRCREATE);
	e.u.txattrcreate.fid = FID;
	e.u.txattrcreate.name = np_str_c("user.a");
	e.u.txattrcreate.attr_size = 0x0102030405060708ULL;
	e.u.txattrcreate.flags = 1;
	struct np_msg d = DECODE(txattrcreate);
	EQ(txattrcreate.fid);
	EQSTR(txattrcreate.name);
	EQ(txattrcreate.attr_size);
	EQ(txattrcreate.flags);
	ENCODES(txattrcreate);
}

Test(golden, treaddir_fid_offset_count)
{
	struct np_msg e = MSG(NP_TREADDIR);
	e.u.treaddir.fid = FID;
	e.u.treaddir.offset = 0x0102030405060708ULL;
	e.u.treaddir.count = 0x1FF4U;
	struct np_msg d = DECODE(treaddir);
	EQ(treaddir.fid);
	EQ(treaddir.offset);
	EQ(treaddir.count);
	ENCODES(treaddir);
}

Test(golden, rreaddir_count_then_packed_entries)
{
	struct np_msg e = MSG(NP_RREADDIR);
	e.u.rreaddir.count = sizeof(g_dirents);
	e.u.rreaddir.data = g_dirents;
	struct np_msg d = DECODE(rreaddir);
	EQ(rreaddir.count);
	cr_assert_eq(d.u.rreaddir.data, g_rreaddir + NP_IOHDRSZ, "data is a view into the frame");
	cr_assert_arr_eq(d.u.rreaddir.data, g_dirents, sizeof(g_dirents));
	ENCODES(rreaddir);
}

Test(golden, tfsync_fid_datasync)
{
	struct np_msg e = MSG(NP_TFSYNC);
	e.u.tfsync.fid = FID;
	e.u.tfsync.datasync = 1;
	struct np_msg d = DECODE(tfsync);
	EQ(tfsync.fid);
	EQ(tfsync.datasync);
	ENCODES(tfsync);
}

Test(golden, tlock_fields_in_spec_order)
{
	struct np_msg e = MSG(NP_TLOCK);
	e.u.tlock.fid = FID;
	e.u.tlock.type = NP_LOCK_TYPE_WRLCK;
	e.u.tlock.flags = NP_LOCK_FLAGS_BLOCK;
	e.u.tlock.start = 0x0102030405060708ULL;
	e.u.tlock.length = 0x1112131415161718ULL;
	e.u.tlock.proc_id = 0x21222324U;
	e.u.tlock.client_id = np_str_c("cl");
	struct np_msg d = DECODE(tlock);
	EQ(tlock.fid);
	EQ(tlock.type);
	EQ(tlock.flags);
	EQ(tlock.start);
	EQ(tlock.length);
	EQ(tlock.proc_id);
	EQSTR(tlock.client_id);
	ENCODES(tlock);
}

Test(golden, rlock_status)
{
	struct np_msg e = MSG(NP_RLOCK);
	e.u.rlock.status = NP_LOCK_BLOCKED;
	struct np_msg d = DECODE(rlock);
	EQ(rlock.status);
	ENCODES(rlock);
}

Test(golden, tgetlock_fields_in_spec_order)
{
	struct np_msg e = MSG(NP_TGETLOCK);
	e.u.tgetlock.fid = FID;
	e.u.tgetlock.type = NP_LOCK_TYPE_RDLCK;
	e.u.tgetlock.start = 0x0102030405060708ULL;
	e.u.tgetlock.length = 0x1112131415161718ULL;
	e.u.tgetlock.proc_id = 0x21222324U;
	e.u.tgetlock.client_id = np_str_c("cl");
	struct np_msg d = DECODE(tgetlock);
	EQ(tgetlock.fid);
	EQ(tgetlock.type);
	EQ(tgetlock.start);
	EQ(tgetlock.length);
	EQ(tgetlock.proc_id);
	EQSTR(tgetlock.client_id);
	ENCODES(tgetlock);
}

Test(golden, rgetlock_has_no_fid)
{
	struct np_msg e = MSG(NP_RGETLOCK);
	e.u.rgetlock.fid = 0xDEADBEEFU; /* must not reach the wire */
	e.u.rgetlock.type = NP_LOCK_TYPE_UNLCK;
	e.u.rgetlock.start = 0x3132333435363738ULL;
	e.u.rgetlock.length = 0x4142434445464748ULL;
	e.u.rgetlock.proc_id = 0x51525354U;
	e.u.rgetlock.client_id = np_str_c("cl2");
	struct np_msg d = DECODE(rgetlock);
	EQ(rgetlock.type);
	EQ(rgetlock.start);
	EQ(rgetlock.length);
	EQ(rgetlock.proc_id);
	EQSTR(rgetlock.client_id);
	ENCODES(rgetlock);
}

Test(golden, tlink_dfid_fid_name)
{
	struct np_msg e = MSG(NP_TLINK);
	e.u.tlink.dfid = FID;
	e.u.tlink.fid = FID2;
	e.u.tlink.name = np_str_c("hl");
	struct np_msg d = DECODE(tlink);
	EQ(tlink.dfid);
	EQ(tlink.fid);
	EQSTR(tlink.name);
	ENCODES(tlink);
}

Test(golden, tmkdir_dfid_name_mode_gid)
{
	struct np_msg e = MSG(NP_TMKDIR);
	e.u.tmkdir.dfid = FID;
	e.u.tmkdir.name = np_str_c("d");
	e.u.tmkdir.mode = 040755U;
	e.u.tmkdir.gid = 0x01020304U;
	struct np_msg d = DECODE(tmkdir);
	EQ(tmkdir.dfid);
	EQSTR(tmkdir.name);
	EQ(tmkdir.mode);
	EQ(tmkdir.gid);
	ENCODES(tmkdir);
}

Test(golden, rmkdir_qid)
{
	struct np_msg e = MSG(NP_RMKDIR);
	e.u.rmkdir.qid = QDIR;
	struct np_msg d = DECODE(rmkdir);
	EQQID(rmkdir.qid);
	ENCODES(rmkdir);
}

Test(golden, trenameat_olddir_oldname_newdir_newname)
{
	struct np_msg e = MSG(NP_TRENAMEAT);
	e.u.trenameat.olddirfid = FID;
	e.u.trenameat.oldname = np_str_c("a");
	e.u.trenameat.newdirfid = FID2;
	e.u.trenameat.newname = np_str_c("bc");
	struct np_msg d = DECODE(trenameat);
	EQ(trenameat.olddirfid);
	EQSTR(trenameat.oldname);
	EQ(trenameat.newdirfid);
	EQSTR(trenameat.newname);
	ENCODES(trenameat);
}

Test(golden, tunlinkat_dirfid_name_flags)
{
	struct np_msg e = MSG(NP_TUNLINKAT);
	e.u.tunlinkat.dirfid = FID;
	e.u.tunlinkat.name = np_str_c("f");
	e.u.tunlinkat.flags = NP_AT_REMOVEDIR;
	struct np_msg d = DECODE(tunlinkat);
	EQ(tunlinkat.dirfid);
	EQSTR(tunlinkat.name);
	EQ(tunlinkat.flags);
	ENCODES(tunlinkat);
}

Test(golden, tversion_notag_msize_version)
{
	struct np_msg e = { .type = NP_TVERSION, .tag = NP_NOTAG };
	e.u.tversion.msize = 8192;
	e.u.tversion.version = np_str_c(NP_VERSION_9P2000L);
	struct np_msg d = DECODE(tversion);
	cr_assert_eq(d.tag, NP_NOTAG);
	EQ(tversion.msize);
	EQSTR(tversion.version);
	ENCODES(tversion);
}

Test(golden, rversion_msize_version)
{
	struct np_msg e = { .type = NP_RVERSION, .tag = NP_NOTAG };
	e.u.rversion.msize = 0x10000U;
	e.u.rversion.version = np_str_c(NP_VERSION_9P2000L);
	struct np_msg d = DECODE(rversion);
	EQ(rversion.msize);
	EQSTR(rversion.version);
	ENCODES(rversion);
}

Test(golden, tauth_afid_uname_empty_aname_n_uname)
{
	struct np_msg e = MSG(NP_TAUTH);
	e.u.tauth.afid = FID;
	e.u.tauth.uname = np_str_c("u");
	e.u.tauth.aname = np_str_c("");
	e.u.tauth.n_uname = NP_NONUNAME;
	struct np_msg d = DECODE(tauth);
	EQ(tauth.afid);
	EQSTR(tauth.uname);
	EQSTR(tauth.aname);
	EQ(tauth.n_uname);
	ENCODES(tauth);
}

Test(golden, rauth_aqid)
{
	struct np_msg e = MSG(NP_RAUTH);
	e.u.rauth.qid = (struct np_qid){ NP_QTAUTH, 0, 0x99 };
	struct np_msg d = DECODE(rauth);
	EQQID(rauth.qid);
	ENCODES(rauth);
}

Test(golden, tattach_fid_afid_uname_aname_n_uname)
{
	struct np_msg e = MSG(NP_TATTACH);
	e.u.tattach.fid = FID;
	e.u.tattach.afid = NP_NOFID;
	e.u.tattach.uname = np_str_c("root");
	e.u.tattach.aname = np_str_c("/srv");
	e.u.tattach.n_uname = 0;
	struct np_msg d = DECODE(tattach);
	EQ(tattach.fid);
	EQ(tattach.afid);
	EQSTR(tattach.uname);
	EQSTR(tattach.aname);
	EQ(tattach.n_uname);
	ENCODES(tattach);
}

Test(golden, rattach_qid)
{
	struct np_msg e = MSG(NP_RATTACH);
	e.u.rattach.qid = QDIR;
	struct np_msg d = DECODE(rattach);
	EQQID(rattach.qid);
	ENCODES(rattach);
}

Test(golden, tflush_oldtag)
{
	struct np_msg e = MSG(NP_TFLUSH);
	e.u.tflush.oldtag = 0x0102;
	struct np_msg d = DECODE(tflush);
	EQ(tflush.oldtag);
	ENCODES(tflush);
}

Test(golden, twalk_fid_newfid_names)
{
	struct np_msg e = MSG(NP_TWALK);
	e.u.twalk.fid = FID;
	e.u.twalk.newfid = FID2;
	e.u.twalk.nwname = 2;
	e.u.twalk.wnames[0] = np_str_c("a");
	e.u.twalk.wnames[1] = np_str_c("bcd");
	struct np_msg d = DECODE(twalk);
	EQ(twalk.fid);
	EQ(twalk.newfid);
	EQ(twalk.nwname);
	EQSTR(twalk.wnames[0]);
	EQSTR(twalk.wnames[1]);
	ENCODES(twalk);
}

Test(golden, rwalk_nwqid_qids)
{
	struct np_msg e = MSG(NP_RWALK);
	e.u.rwalk.nwqid = 2;
	e.u.rwalk.wqids[0] = QDIR;
	e.u.rwalk.wqids[1] = QLINK;
	struct np_msg d = DECODE(rwalk);
	EQ(rwalk.nwqid);
	EQQID(rwalk.wqids[0]);
	EQQID(rwalk.wqids[1]);
	ENCODES(rwalk);
}

Test(golden, tread_fid_offset_count)
{
	struct np_msg e = MSG(NP_TREAD);
	e.u.tread.fid = FID;
	e.u.tread.offset = 0x0102030405060708ULL;
	e.u.tread.count = 0x1000;
	struct np_msg d = DECODE(tread);
	EQ(tread.fid);
	EQ(tread.offset);
	EQ(tread.count);
	ENCODES(tread);
}

Test(golden, rread_count_data)
{
	struct np_msg e = MSG(NP_RREAD);
	e.u.rread.count = 5;
	e.u.rread.data = (const uint8_t *)"hello";
	struct np_msg d = DECODE(rread);
	EQ(rread.count);
	cr_assert_eq(d.u.rread.data, g_rread + NP_IOHDRSZ, "data is a view into the frame");
	cr_assert_arr_eq(d.u.rread.data, "hello", 5);
	ENCODES(rread);
}

Test(golden, twrite_fid_offset_count_data)
{
	struct np_msg e = MSG(NP_TWRITE);
	e.u.twrite.fid = FID;
	e.u.twrite.offset = 0x0102030405060708ULL;
	e.u.twrite.count = 3;
	e.u.twrite.data = (const uint8_t *)"abc";
	struct np_msg d = DECODE(twrite);
	EQ(twrite.fid);
	EQ(twrite.offset);
	EQ(twrite.count);
	cr_assert_eq(d.u.twrite.data, g_twrite + 23, "data is a view into the frame");
	cr_assert_arr_eq(d.u.twrite.data, "abc", 3);
	ENCODES(twrite);
}

Test(golden, rwrite_count)
{
	struct np_msg e = MSG(NP_RWRITE);
	e.u.rwrite.count = 0x01020304U;
	struct np_msg d = DECODE(rwrite);
	EQ(rwrite.count);
	ENCODES(rwrite);
}

Test(golden, tclunk_fid)
{
	struct np_msg e = MSG(NP_TCLUNK);
	e.u.tclunk.fid = FID;
	struct np_msg d = DECODE(tclunk);
	EQ(tclunk.fid);
	ENCODES(tclunk);
}

Test(golden, tremove_fid)
{
	struct np_msg e = MSG(NP_TREMOVE);
	e.u.tremove.fid = FID2;
	struct np_msg d = DECODE(tremove);
	EQ(tremove.fid);
	ENCODES(tremove);
}

/* Replies with no body: decode to type and tag, encode to the bare header. */
static const struct golden empty_replies[] = {
	G(rrename), G(rsetattr), G(rxattrcreate), G(rfsync), G(rlink),
	G(rrenameat), G(runlinkat), G(rflush), G(rclunk), G(rremove),
};

#define NEMPTY (sizeof(empty_replies) / sizeof(empty_replies[0]))

/* Criterion runs each parameter in a fresh process, so the parameter is an
 * index into the table rather than a pointer into this one's memory. */
static size_t empty_reply_index[NEMPTY];

ParameterizedTestParameters(golden, empty_reply_is_the_bare_header)
{
	for (size_t i = 0; i < NEMPTY; i++)
		empty_reply_index[i] = i;
	return cr_make_param_array(size_t, empty_reply_index, NEMPTY, NULL);
}

ParameterizedTest(size_t *i, golden, empty_reply_is_the_bare_header)
{
	const struct golden *g = &empty_replies[*i];
	cr_assert_eq(g->len, NP_HDRSZ);
	struct np_msg d = decode_golden(g->bytes, g->len);
	struct np_msg e = MSG(g->bytes[4]);
	cr_assert_eq(d.tag, e.tag);
	assert_encodes(&e, g->bytes, g->len);
}

/* ---- properties over every golden vector ------------------------------ */

Test(golden, table_has_a_vector_for_every_message_type)
{
	static const uint8_t types[] = {
#define NP_NUM(name, NAME, num) num,
		NP_MESSAGES(NP_NUM)
#undef NP_NUM
	};
	cr_assert_eq(NGOLDEN, sizeof(types));
	for (size_t t = 0; t < sizeof(types); t++) {
		size_t found = 0;
		for (size_t i = 0; i < NGOLDEN; i++)
			found += goldens[i].bytes[4] == types[t];
		cr_assert_eq(found, 1, "%s has %zu golden vectors", np_type_name(types[t]), found);
	}
}

Test(roundtrip, decode_then_encode_reproduces_every_golden_vector)
{
	for (size_t i = 0; i < NGOLDEN; i++) {
		struct np_msg m = decode_golden(goldens[i].bytes, goldens[i].len);
		uint8_t buf[512];
		int n = np_encode(&m, buf, sizeof(buf));
		cr_assert_eq(n, (int)goldens[i].len, "%s", np_type_name(m.type));
		cr_assert_arr_eq(buf, goldens[i].bytes, goldens[i].len, "%s", np_type_name(m.type));
	}
}

Test(malformed, every_truncated_golden_vector_overruns)
{
	/* Cut each frame short and fix its size field to match, so the size
	 * check passes and the body walk itself must notice the missing bytes. */
	for (size_t i = 0; i < NGOLDEN; i++) {
		for (size_t len = NP_HDRSZ; len < goldens[i].len; len++) {
			uint8_t *p = exact_copy(goldens[i].bytes, len);
			p[0] = (uint8_t)len;
			p[1] = p[2] = p[3] = 0;
			struct np_msg m;
			int rc = np_decode(p, len, MSIZE, &m);
			free(p);
			cr_assert_eq(rc, NP_E_OVERRUN, "%s cut to %zu bytes gave %s",
				     np_type_name(goldens[i].bytes[4]), len, np_status_str(rc));
		}
	}
}

Test(malformed, every_golden_vector_with_an_extra_byte_is_trailing)
{
	for (size_t i = 0; i < NGOLDEN; i++) {
		size_t len = goldens[i].len + 1;
		uint8_t *p = malloc(len);
		cr_assert_not_null(p);
		memcpy(p, goldens[i].bytes, goldens[i].len);
		p[len - 1] = 0x5A;
		p[0] = (uint8_t)len;
		struct np_msg m;
		int rc = np_decode(p, len, MSIZE, &m);
		free(p);
		cr_assert_eq(rc, NP_E_TRAILING, "%s + 1 byte gave %s",
			     np_type_name(goldens[i].bytes[4]), np_status_str(rc));
	}
}

Test(roundtrip, every_single_byte_mutation_decodes_cleanly_or_reencodes_identically)
{
	/* Whatever a corrupted frame decodes to, encoding it again must give the
	 * same bytes: the codec neither loses nor invents a field.  Run under
	 * ASan, this also shows no mutation reads outside the frame. */
	static const uint8_t values[] = { 0x00, 0x01, 0x07, 0x10, 0x11, 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < NGOLDEN; i++) {
		const struct golden *g = &goldens[i];
		for (size_t at = 0; at < g->len; at++) {
			for (size_t v = 0; v < sizeof(values); v++) {
				uint8_t *p = exact_copy(g->bytes, g->len);
				p[at] = values[v];
				struct np_msg m;
				if (np_decode(p, g->len, MSIZE, &m) == 0) {
					uint8_t out[512];
					int n = np_encode(&m, out, sizeof(out));
					cr_assert_eq(n, (int)g->len);
					cr_assert_arr_eq(out, p, g->len);
				}
				free(p);
			}
		}
	}
}

/* ---- malformed frames ------------------------------------------------- */

Test(malformed, size_below_header_is_frame_size_error)
{
	static const uint8_t f[] = { HDR(6, NP_TCLUNK, 1) };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, 6, &m), NP_E_FRAME_SIZE);
	cr_assert_eq(np_frame_size(f, sizeof(f), MSIZE), NP_E_FRAME_SIZE);
	static const uint8_t zero[] = { B32(0U) };
	cr_assert_eq(np_frame_size(zero, sizeof(zero), MSIZE), NP_E_FRAME_SIZE);
}

Test(malformed, size_above_msize_is_frame_size_error)
{
	size_t len = MSIZE + 1;
	uint8_t *p = calloc(1, len);
	cr_assert_not_null(p);
	const uint8_t hdr[] = { HDR(MSIZE + 1, NP_TWRITE, 1) };
	memcpy(p, hdr, sizeof(hdr));
	struct np_msg m;
	cr_assert_eq(np_decode(p, len, MSIZE, &m), NP_E_FRAME_SIZE);
	free(p);
}

Test(malformed, size_equal_to_msize_is_accepted)
{
	/* A Twrite that fills msize exactly is legal: only replies must stay below. */
	uint8_t *p = calloc(1, MSIZE);
	cr_assert_not_null(p);
	const uint8_t hdr[] = { HDR(MSIZE, NP_TWRITE, 1), B32(FID), B64(0ULL), B32(MSIZE - 23U) };
	memcpy(p, hdr, sizeof(hdr));
	struct np_msg m;
	cr_assert_eq(np_decode(p, MSIZE, MSIZE, &m), 0);
	cr_assert_eq(m.u.twrite.count, MSIZE - 23);
	free(p);
}

Test(framing, frame_size_rejects_a_huge_size_from_the_first_four_bytes)
{
	static const uint8_t f[] = { B32(0xFFFFFFFFU) };
	cr_assert_eq(np_frame_size(f, sizeof(f), MSIZE), NP_E_FRAME_SIZE);
}

Test(framing, frame_size_needs_four_bytes)
{
	static const uint8_t f[] = { HDR(11, NP_TCLUNK, 1), B32(FID) };
	for (size_t len = 0; len < 4; len++)
		cr_assert_eq(np_frame_size(f, len, MSIZE), NP_E_SHORT);
	cr_assert_eq(np_frame_size(f, 4, MSIZE), 11);
	cr_assert_eq(np_frame_size(f, sizeof(f), MSIZE), 11);
}

Test(malformed, size_larger_than_len_is_short)
{
	static const uint8_t f[] = { HDR(12, NP_TCLUNK, 1), B32(FID) };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_SHORT);
	cr_assert_eq(decode_exact(f, 3, &m), NP_E_SHORT);
}

Test(malformed, size_smaller_than_len_is_trailing)
{
	static const uint8_t f[] = { HDR(10, NP_TCLUNK, 1), B32(FID) };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_TRAILING);
}

Test(malformed, string_running_past_the_frame_overruns)
{
	/* uname claims 200 bytes; only 4 follow. */
	static const uint8_t f[] = {
		HDR(7 + 8 + 2 + 4, NP_TATTACH, 1), B32(FID), B32(NP_NOFID), B16(200U), 'r', 'o', 'o', 't',
	};
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

Test(malformed, string_length_of_65535_overruns_without_wrapping)
{
	static const uint8_t f[] = { HDR(7 + 2 + 1, NP_RREADLINK, 1), B16(0xFFFFU), 'x' };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

/* A Twalk (or Rwalk) frame with n elements, all present on the wire. */
static size_t walk_frame(uint8_t *buf, uint8_t type, uint16_t n)
{
	size_t pos = NP_HDRSZ;
	if (type == NP_TWALK) {
		const uint8_t fids[] = { B32(FID), B32(FID2) };
		memcpy(buf + pos, fids, sizeof(fids));
		pos += sizeof(fids);
	}
	buf[pos++] = (uint8_t)n;
	buf[pos++] = (uint8_t)(n >> 8);
	for (uint16_t i = 0; i < n; i++) {
		if (type == NP_TWALK) {
			const uint8_t name[] = { STRB(1, 'x') };
			memcpy(buf + pos, name, sizeof(name));
			pos += sizeof(name);
		} else {
			const uint8_t q[] = { QFILE_B };
			memcpy(buf + pos, q, sizeof(q));
			pos += sizeof(q);
		}
	}
	const uint8_t hdr[] = { HDR(0U, 0, 1) };
	memcpy(buf, hdr, sizeof(hdr));
	buf[0] = (uint8_t)pos;
	buf[1] = (uint8_t)(pos >> 8);
	buf[4] = type;
	return pos;
}

Test(malformed, twalk_with_17_names_is_too_many)
{
	uint8_t buf[512];
	size_t len = walk_frame(buf, NP_TWALK, 17);
	struct np_msg m;
	cr_assert_eq(decode_exact(buf, len, &m), NP_E_TOO_MANY);
}

Test(malformed, twalk_with_16_names_is_accepted)
{
	uint8_t buf[512];
	size_t len = walk_frame(buf, NP_TWALK, 16);
	struct np_msg m;
	cr_assert_eq(np_decode(buf, len, MSIZE, &m), 0);
	cr_assert_eq(m.u.twalk.nwname, 16);
	cr_assert_eq(m.u.twalk.wnames[15].len, 1);
	cr_assert_eq(m.u.twalk.wnames[15].s, (const char *)buf + len - 1);
}

Test(malformed, twalk_nwname_65535_is_too_many_not_a_long_loop)
{
	static const uint8_t f[] = { HDR(17, NP_TWALK, 1), B32(FID), B32(FID2), B16(0xFFFFU) };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_TOO_MANY);
}

Test(malformed, rwalk_with_17_qids_is_too_many)
{
	uint8_t buf[512];
	size_t len = walk_frame(buf, NP_RWALK, 17);
	struct np_msg m;
	cr_assert_eq(decode_exact(buf, len, &m), NP_E_TOO_MANY);
}

Test(malformed, rwalk_with_16_qids_is_accepted)
{
	uint8_t buf[512];
	size_t len = walk_frame(buf, NP_RWALK, 16);
	struct np_msg m;
	cr_assert_eq(np_decode(buf, len, MSIZE, &m), 0);
	cr_assert_eq(m.u.rwalk.nwqid, 16);
	assert_qid_eq(m.u.rwalk.wqids[15], QFILE, "wqids[15]");
}

Test(malformed, twrite_count_past_the_frame_overruns)
{
	static const uint8_t f[] = {
		HDR(7 + 16 + 3, NP_TWRITE, 1), B32(FID), B64(0ULL), B32(4U), 'a', 'b', 'c',
	};
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

Test(malformed, twrite_count_of_4g_overruns_without_wrapping)
{
	static const uint8_t f[] = {
		HDR(7 + 16 + 3, NP_TWRITE, 1), B32(FID), B64(0ULL), B32(0xFFFFFFFFU), 'a', 'b', 'c',
	};
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

Test(malformed, twrite_count_short_of_the_frame_is_trailing)
{
	static const uint8_t f[] = {
		HDR(7 + 16 + 3, NP_TWRITE, 1), B32(FID), B64(0ULL), B32(2U), 'a', 'b', 'c',
	};
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_TRAILING);
}

Test(malformed, rread_count_past_the_frame_overruns)
{
	static const uint8_t f[] = { HDR(7 + 4 + 2, NP_RREAD, 1), B32(3U), 'h', 'i' };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

Test(malformed, rreaddir_count_past_the_frame_overruns)
{
	static const uint8_t f[] = { HDR(7 + 4 + 2, NP_RREADDIR, 1), B32(0x80000000U), 0, 0 };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_OVERRUN);
}

Test(malformed, tread_count_beyond_the_frame_is_just_a_number)
{
	/* Tread carries no data: its count is what the client wants back, and
	 * clipping it to msize is the server's business, not the codec's. */
	static const uint8_t f[] = { HDR(23, NP_TREAD, 1), B32(FID), B64(0ULL), B32(0xFFFFFFFFU) };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), 0);
	cr_assert_eq(m.u.tread.count, 0xFFFFFFFFU);
}

Test(malformed, trailing_garbage_after_the_last_field)
{
	static const uint8_t f[] = { HDR(12, NP_TCLUNK, 1), B32(FID), 0x00 };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_TRAILING);
}

Test(malformed, unknown_type_bytes_are_rejected)
{
	/* 0, 9P2000-only messages (Terror 106, Topen 112, Tcreate 114, Tstat 124,
	 * Twstat 126), the gaps in the .L table and the top of the range. */
	static const uint8_t bad[] = { 0, 1, 5, 10, 11, 28, 29, 34, 39, 42, 49, 56, 69, 78, 99,
				       106, 107, 112, 113, 114, 115, 124, 125, 126, 127, 200, 255 };
	for (size_t i = 0; i < sizeof(bad); i++) {
		uint8_t f[] = { HDR(11, bad[i], 1), B32(FID) };
		struct np_msg m;
		cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_UNKNOWN_TYPE, "type %u", bad[i]);
		cr_assert_null(np_type_name(bad[i]));
		cr_assert_not(np_is_request(bad[i]));
	}
}

Test(malformed, r_type_decodes_but_is_not_a_request)
{
	struct np_msg m;
	cr_assert_eq(decode_exact(g_rclunk, sizeof(g_rclunk), &m), 0);
	cr_assert_eq(m.type, NP_RCLUNK);
	cr_assert_not(np_is_request(m.type));
	cr_assert(np_is_request(NP_TCLUNK));
}

Test(malformed, failed_decode_still_reports_type_and_tag)
{
	/* The server answers a bad request with Rlerror on the request's tag. */
	static const uint8_t f[] = { HDR(12, NP_TCLUNK, 0x0102), B32(FID), 0x00 };
	struct np_msg m;
	cr_assert_eq(decode_exact(f, sizeof(f), &m), NP_E_TRAILING);
	cr_assert_eq(m.type, NP_TCLUNK);
	cr_assert_eq(m.tag, 0x0102);
}

/* ---- encoder refusals ------------------------------------------------- */

Test(encode, walk_of_17_names_is_refused)
{
	struct np_msg m = MSG(NP_TWALK);
	m.u.twalk.nwname = 17;
	uint8_t buf[512];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_E_TOO_MANY);
	m = (struct np_msg)MSG(NP_RWALK);
	m.u.rwalk.nwqid = 17;
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_E_TOO_MANY);
}

Test(encode, unknown_type_is_refused)
{
	struct np_msg m = { .type = 112, .tag = 1 };
	uint8_t buf[64];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_E_UNKNOWN_TYPE);
}

Test(encode, string_longer_than_65535_is_refused_not_truncated)
{
	size_t n = 70000;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	memset(big, 'x', n);
	big[n] = '\0';
	struct np_msg m = MSG(NP_RREADLINK);
	m.u.rreadlink.target = np_str_c(big);
	uint8_t buf[128];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_E_INVALID);
	free(big);
}

Test(encode, null_data_with_a_count_is_refused)
{
	struct np_msg m = MSG(NP_RREAD);
	m.u.rread.count = 4;
	m.u.rread.data = NULL;
	uint8_t buf[64];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_E_INVALID);
}

Test(encode, buffer_smaller_than_a_header_is_no_space)
{
	struct np_msg m = MSG(NP_RCLUNK);
	uint8_t buf[8] = { 0 };
	for (size_t cap = 0; cap < NP_HDRSZ; cap++)
		cr_assert_eq(np_encode(&m, buf, cap), NP_E_NO_SPACE);
	cr_assert_eq(np_encode(&m, buf, NP_HDRSZ), NP_HDRSZ);
}

Test(encode, str_c_of_null_is_the_empty_string)
{
	struct np_str s = np_str_c(NULL);
	cr_assert_eq(s.len, 0);
	struct np_msg m = MSG(NP_RREADLINK);
	m.u.rreadlink.target = s;
	uint8_t buf[16];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_HDRSZ + 2);
}

/* ---- Rread zero copy -------------------------------------------------- */

Test(zerocopy, rread_data_already_in_place_is_never_written)
{
	/* Put the payload on a read-only page directly behind the 11-byte header,
	 * which sits at the end of a writable page: any store into the data
	 * area would fault, so a passing encode proves it only wrote the header. */
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	uint8_t *buf = map + page - NP_IOHDRSZ;
	memset(map + page, 'z', (size_t)page);
	cr_assert_eq(mprotect(map + page, (size_t)page, PROT_READ), 0);

	struct np_msg m = MSG(NP_RREAD);
	m.u.rread.count = (uint32_t)page;
	m.u.rread.data = buf + NP_IOHDRSZ;
	int n = np_encode(&m, buf, NP_IOHDRSZ + (size_t)page);
	cr_assert_eq(n, NP_IOHDRSZ + page);
	const uint8_t hdr[] = { HDR(0U, NP_RREAD, TAG(NP_RREAD)) };
	cr_assert_eq(le32(buf), (uint32_t)n);
	cr_assert_arr_eq(buf + 4, hdr + 4, 3);
	cr_assert_eq(le32(buf + NP_HDRSZ), (uint32_t)page);

	struct np_msg d;
	cr_assert_eq(np_decode(buf, (size_t)n, (uint32_t)n, &d), 0);
	cr_assert_eq(d.u.rread.data, buf + NP_IOHDRSZ);
	munmap(map, (size_t)page * 2);
}

Test(zerocopy, rreaddir_data_already_in_place_gets_a_header_around_it)
{
	uint8_t buf[128];
	memcpy(buf + NP_IOHDRSZ, g_dirents, sizeof(g_dirents));
	struct np_msg m = MSG(NP_RREADDIR);
	m.u.rreaddir.count = sizeof(g_dirents);
	m.u.rreaddir.data = buf + NP_IOHDRSZ;
	int n = np_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, (int)sizeof(g_rreaddir));
	cr_assert_arr_eq(buf, g_rreaddir, sizeof(g_rreaddir));
}

Test(zerocopy, rread_data_elsewhere_is_copied)
{
	uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	struct np_msg m = MSG(NP_RREAD);
	m.u.rread.count = sizeof(data);
	m.u.rread.data = data;
	uint8_t buf[400];
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_IOHDRSZ + 300);
	cr_assert_arr_eq(buf + NP_IOHDRSZ, data, sizeof(data));
}

/* ---- readdir packing -------------------------------------------------- */

static struct np_dirent sample_dirent(uint32_t i, uint16_t namelen, char *name)
{
	for (uint16_t k = 0; k < namelen; k++)
		name[k] = (char)('a' + (i + k) % 26);
	return (struct np_dirent){
		.qid = { NP_QTFILE, i, 0x1000 + i },
		.offset = i + 1,
		.type = 8,
		.name = { name, namelen },
	};
}

Test(dirpack, packs_the_golden_entries_byte_for_byte)
{
	uint8_t buf[64];
	struct np_dirpack p;
	np_dirpack_init(&p, buf, sizeof(buf));
	struct np_dirent dot = { QDIR, 1, 4, { ".", 1 } };
	struct np_dirent ab = { QFILE, 0x7FFFFFFFFFFFFFFFULL, 8, { "ab", 2 } };
	cr_assert(np_dirpack_add(&p, &dot));
	cr_assert(np_dirpack_add(&p, &ab));
	cr_assert_eq(p.len, sizeof(g_dirents));
	cr_assert_arr_eq(buf, g_dirents, sizeof(g_dirents));
}

Test(dirpack, never_exceeds_cap_and_never_writes_a_partial_entry)
{
	/* For every cap from 0 to 300 bytes: pack entries with varying name
	 * lengths until one is refused, then check nothing was written past
	 * p.len and that what was packed parses back entry for entry. */
	for (uint32_t cap = 0; cap <= 300; cap++) {
		uint8_t buf[320];
		memset(buf, 0xEE, sizeof(buf));
		struct np_dirpack p;
		np_dirpack_init(&p, buf, cap);
		char names[64][40];
		uint32_t added = 0;
		for (; added < 64; added++) {
			struct np_dirent d = sample_dirent(added, (uint16_t)(added * 7 % 40), names[added]);
			if (!np_dirpack_add(&p, &d))
				break;
		}
		cr_assert_leq(p.len, cap);
		for (size_t i = p.len; i < sizeof(buf); i++)
			cr_assert_eq(buf[i], 0xEE, "cap %u: byte %zu written past len %u", cap, i, p.len);
		/* The refused entry really did not fit. */
		cr_assert_gt(p.len + np_dirent_size((uint16_t)(added * 7 % 40)), cap);

		uint32_t pos = 0, parsed = 0;
		struct np_dirent d;
		int rc;
		while ((rc = np_dirent_next(buf, p.len, &pos, &d)) == 1) {
			cr_assert_eq(d.offset, parsed + 1);
			cr_assert_eq(d.name.len, parsed * 7 % 40);
			parsed++;
		}
		cr_assert_eq(rc, 0);
		cr_assert_eq(parsed, added);
		cr_assert_eq(pos, p.len);
	}
}

Test(dirpack, entries_that_exactly_fill_cap_are_all_added)
{
	uint32_t cap = np_dirent_size(3) + np_dirent_size(0) + np_dirent_size(10);
	uint8_t buf[128];
	struct np_dirpack p;
	np_dirpack_init(&p, buf, cap);
	char n[3][16];
	struct np_dirent a = sample_dirent(0, 3, n[0]);
	struct np_dirent b = sample_dirent(1, 0, n[1]);
	struct np_dirent c = sample_dirent(2, 10, n[2]);
	struct np_dirent one_more = sample_dirent(3, 0, n[0]);
	cr_assert(np_dirpack_add(&p, &a));
	cr_assert(np_dirpack_add(&p, &b));
	cr_assert(np_dirpack_add(&p, &c));
	cr_assert_eq(p.len, cap);
	cr_assert_not(np_dirpack_add(&p, &one_more));
	cr_assert_eq(p.len, cap);
}

Test(dirpack, entry_size_is_qid_offset_type_and_string)
{
	cr_assert_eq(np_dirent_size(0), 13 + 8 + 1 + 2);
	cr_assert_eq(np_dirent_size(255), 24 + 255);
}

Test(dirent, next_reads_the_golden_entries)
{
	uint32_t pos = 0;
	struct np_dirent d;
	cr_assert_eq(np_dirent_next(g_dirents, sizeof(g_dirents), &pos, &d), 1);
	assert_qid_eq(d.qid, QDIR, "first qid");
	cr_assert_eq(d.offset, 1);
	cr_assert_eq(d.type, 4);
	assert_str_eq(d.name, (struct np_str){ ".", 1 }, "first name");
	cr_assert_eq(pos, 25);
	cr_assert_eq(np_dirent_next(g_dirents, sizeof(g_dirents), &pos, &d), 1);
	assert_qid_eq(d.qid, QFILE, "second qid");
	cr_assert_eq(d.offset, 0x7FFFFFFFFFFFFFFFULL);
	cr_assert_eq(d.type, 8);
	assert_str_eq(d.name, (struct np_str){ "ab", 2 }, "second name");
	cr_assert_eq(np_dirent_next(g_dirents, sizeof(g_dirents), &pos, &d), 0);
	cr_assert_eq(pos, sizeof(g_dirents));
}

Test(dirent, next_on_empty_data_is_the_end)
{
	uint32_t pos = 0;
	struct np_dirent d;
	cr_assert_eq(np_dirent_next(g_dirents, 0, &pos, &d), 0);
}

Test(dirent, entry_cut_short_overruns_and_keeps_the_cursor)
{
	for (uint32_t len = 1; len < 25; len++) {
		uint8_t *p = exact_copy(g_dirents, len);
		uint32_t pos = 0;
		struct np_dirent d;
		cr_assert_eq(np_dirent_next(p, len, &pos, &d), NP_E_OVERRUN, "len %u", len);
		cr_assert_eq(pos, 0);
		free(p);
	}
}

Test(dirent, cursor_past_the_end_overruns)
{
	uint32_t pos = sizeof(g_dirents) + 1;
	struct np_dirent d;
	cr_assert_eq(np_dirent_next(g_dirents, sizeof(g_dirents), &pos, &d), NP_E_OVERRUN);
}

/* ---- sizes, names, statuses ------------------------------------------- */

Test(max_io, reply_with_max_io_bytes_stays_strictly_below_msize)
{
	static const uint32_t msizes[] = { NP_MIN_MSIZE, 8192, 65536, 131072, 512 * 1024, 1U << 20 };
	for (size_t i = 0; i < sizeof(msizes) / sizeof(msizes[0]); i++) {
		uint32_t io = np_max_io(msizes[i]);
		cr_assert_eq(io, msizes[i] - NP_IOHDRSZ - 1);
		cr_assert_lt(NP_IOHDRSZ + io, msizes[i]);
	}
	cr_assert_eq(np_max_io(8192), 8180);
}

Test(max_io, tiny_msize_gives_no_room_instead_of_wrapping)
{
	cr_assert_eq(np_max_io(0), 0);
	cr_assert_eq(np_max_io(NP_IOHDRSZ), 0);
	cr_assert_eq(np_max_io(NP_IOHDRSZ + 1), 0);
	cr_assert_eq(np_max_io(NP_IOHDRSZ + 2), 1);
}

Test(max_io, encoded_rread_of_max_io_is_msize_minus_one)
{
	uint32_t msize = NP_MIN_MSIZE;
	uint8_t *buf = calloc(1, msize);
	cr_assert_not_null(buf);
	struct np_msg m = MSG(NP_RREAD);
	m.u.rread.count = np_max_io(msize);
	m.u.rread.data = buf + NP_IOHDRSZ;
	int n = np_encode(&m, buf, msize);
	cr_assert_eq(n, (int)msize - 1);
	struct np_msg d;
	cr_assert_eq(np_decode(buf, (size_t)n, msize, &d), 0);
	free(buf);
}

Test(names, type_names_follow_the_table)
{
	cr_assert_str_eq(np_type_name(NP_TVERSION), "Tversion");
	cr_assert_str_eq(np_type_name(NP_RLERROR), "Rlerror");
	cr_assert_str_eq(np_type_name(NP_TXATTRCREATE), "Txattrcreate");
	cr_assert_str_eq(np_type_name(NP_RREMOVE), "Rremove");
	cr_assert_null(np_type_name(0));
	cr_assert_null(np_type_name(NP_RREMOVE + 1));
}

Test(names, requests_are_exactly_the_even_table_entries)
{
	size_t requests = 0, replies = 0;
	for (unsigned t = 0; t < 256; t++) {
		const char *name = np_type_name((uint8_t)t);
		if (name == NULL) {
			cr_assert_not(np_is_request((uint8_t)t));
			continue;
		}
		cr_assert_eq(np_is_request((uint8_t)t), t % 2 == 0, "type %u", t);
		cr_assert_eq(name[0], t % 2 == 0 ? 'T' : 'R', "type %u", t);
		if (t % 2 == 0)
			requests++;
		else
			replies++;
	}
	cr_assert_eq(requests, 29);
	cr_assert_eq(replies, 29);
}

Test(names, every_status_has_its_own_description)
{
	static const int codes[] = { NP_OK, NP_E_SHORT, NP_E_FRAME_SIZE, NP_E_UNKNOWN_TYPE,
				     NP_E_OVERRUN, NP_E_TRAILING, NP_E_TOO_MANY, NP_E_NO_SPACE,
				     NP_E_INVALID };
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	const char *unknown = np_status_str(-1000);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_neq(np_status_str(codes[i]), unknown);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(np_status_str(codes[i]), np_status_str(codes[j]));
	}
}

/* ---- a few whole-message round trips ---------------------------------- */

Test(roundtrip, twalk_of_16_empty_and_long_names)
{
	static char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	struct np_msg m = MSG(NP_TWALK), d;
	m.u.twalk.fid = 1;
	m.u.twalk.newfid = 1;
	m.u.twalk.nwname = NP_MAXWELEM;
	for (int i = 0; i < NP_MAXWELEM; i++)
		m.u.twalk.wnames[i] = np_str_c(i % 2 ? "" : longname);
	uint8_t buf[NP_HDRSZ + 10 + NP_MAXWELEM * (2 + 300)];
	int n = np_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, NP_HDRSZ + 10 + 8 * 2 + 8 * (2 + 299));
	cr_assert_eq(np_decode(buf, (size_t)n, MSIZE, &d), 0);
	for (int i = 0; i < NP_MAXWELEM; i++)
		assert_str_eq(d.u.twalk.wnames[i], m.u.twalk.wnames[i], "wname");
}

Test(roundtrip, rwalk_of_zero_qids)
{
	struct np_msg m = MSG(NP_RWALK), d;
	m.u.rwalk.nwqid = 0;
	uint8_t buf[16];
	cr_assert_eq(np_encode(&m, buf, sizeof(buf)), NP_HDRSZ + 2);
	cr_assert_eq(np_decode(buf, NP_HDRSZ + 2, MSIZE, &d), 0);
	cr_assert_eq(d.u.rwalk.nwqid, 0);
}

Test(roundtrip, twrite_of_64k_keeps_its_data)
{
	uint32_t msize = 65536 + 64;
	uint8_t *data = malloc(65536), *buf = malloc(msize);
	cr_assert(data && buf);
	for (size_t i = 0; i < 65536; i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	struct np_msg m = MSG(NP_TWRITE), d;
	m.u.twrite.fid = FID;
	m.u.twrite.offset = 1ULL << 40;
	m.u.twrite.count = 65536;
	m.u.twrite.data = data;
	int n = np_encode(&m, buf, msize);
	cr_assert_eq(n, 23 + 65536);
	cr_assert_eq(np_decode(buf, (size_t)n, msize, &d), 0);
	cr_assert_eq(d.u.twrite.offset, 1ULL << 40);
	cr_assert_arr_eq(d.u.twrite.data, data, 65536);
	free(data);
	free(buf);
}
