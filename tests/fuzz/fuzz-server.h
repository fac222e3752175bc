/* The input format of fuzz-server, shared by the target and its seed
 * corpus generator (make-server-corpus).
 *
 * Byte 0 is the mode (FUZZ_MODE_*).  The rest is either sent verbatim
 * (FUZZ_MODE_RAW) or read as chunks, each becoming one frame:
 *
 *   hdr[2, little-endian]  payload[hdr & 0x0fff]   (type[1] tag[2] body...)
 *
 * The frame is size[4] payload padding: size is always right, so the
 * fuzzer's mutations reach the message bodies instead of dying in framing;
 * a payload shorter than type+tag is zero-filled; the padding is
 * FUZZ_PAD_BYTES(hdr >> 12) bytes of FUZZ_PAD_BYTE (0, or 32 bytes to
 * 512 KiB), so a small input can make a large Twrite or an oversized frame.
 * A chunk with hdr 0 is a barrier: the harness waits until every request
 * sent so far is answered before sending more, as a real client waits for
 * Rwalk before using the new fid (blocking Tlocks excepted: they wait for a
 * lock the same connection holds).  After the last chunk the harness waits
 * for the answers too and then hangs up, unless one byte (less than a chunk
 * header) is left over: then it hangs up at once, with requests in flight.
 * A raw stream is always followed by waiting.
 *
 * Unless FUZZ_MODE_NO_SESSION, the harness first sends Tversion (msize
 * 65536, or 8192 with FUZZ_MODE_SMALL_MSIZE) and Tattach of fid 0 to export
 * FUZZ_MODE_EXPORT(mode) as root (or as uid 1000 with FUZZ_MODE_USER), and
 * waits for both replies.
 */
#ifndef NINEPD_TESTS_FUZZ_SERVER_H
#define NINEPD_TESTS_FUZZ_SERVER_H

#define FUZZ_MODE_NO_SESSION 0x01
#define FUZZ_MODE_EXPORT(mode) (((mode) >> 1) & 3) /* index into fuzz_exports */
#define FUZZ_MODE_SMALL_MSIZE 0x08
#define FUZZ_MODE_USER 0x10
#define FUZZ_MODE_RAW 0x20
#define FUZZ_MODE_PIECES(mode) ((mode) >> 6) /* index into fuzz_pieces */

#define FUZZ_CHUNK_LEN(hdr) ((hdr) & 0x0fffu)
#define FUZZ_PAD_BYTES(nibble) ((nibble) ? 16u << (nibble) : 0u)
#define FUZZ_PAD_BYTE 'P'
#define FUZZ_BARRIER 0x0000u

#define FUZZ_USER_UID 1000u

/* The exports every fuzz-server process serves: name and spec options. */
struct fuzz_export {
	const char *name;
	const char *options;
};
static const struct fuzz_export fuzz_exports[4] = {
	{"pass", ""},
	{"mapped", ",security_model=mapped-xattr,multidevs=remap"},
	{"ro", ",readonly"},
	/* squash ids, and the id and xattr maps (root and uid 1000 map) */
	{"squash", ",security_model=none,squash_uid=1000,squash_gid=1000"
		   ",translate_uid=map:0:0:1 map:1000:101000:1000 forbid-guest:2000:10"
		   ",translate_gid=map:0:0:1 map:1000:101000:1000"
		   ",xattrmap=:prefix:all:security.:user.fuzz.: :bad:all:trusted.:: :ok:all:::"},
};

/* How many bytes the harness writes at a time: all, or small pieces so
 * frames arrive split across reads.  Only the first FUZZ_MAX_PIECES sends
 * are cut, the rest of the stream is sent whole: each piece costs a loop
 * iteration (a 512 KiB Twrite in 61-byte pieces took 8,600), and three
 * inputs in four are cut. */
static const unsigned fuzz_pieces[4] = {0, 1, 7, 61};
#define FUZZ_MAX_PIECES 16

#endif
