/* Writes the seed corpus for fuzz-server: one input per file, each a short
 * session in the format of fuzz-server.h that works on the tree the harness
 * exports (file, empty, dir/, dir/sub/, dir/nested, link -> file,
 * up -> ../canary, abs -> /etc, fifo), so the fuzzer starts from requests
 * that reach the file system instead of dying at fid lookup.
 *
 * Usage: make-server-corpus DIR   (DIR must exist)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-server.h"
#include "proto/9p.h"

static const char *dir;
static unsigned count;

struct seed {
	uint8_t buf[65536];
	size_t len;
	uint16_t tag;
};

static void add(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->buf)) {
		fprintf(stderr, "make-server-corpus: seed too large\n");
		exit(1);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void begin(struct seed *s, uint8_t mode)
{
	s->len = 0;
	s->tag = 1;
	add(s, &mode, 1);
}

/* One chunk for m (a fresh tag unless it is Tversion); padding nibble pad. */
static void chunk(struct seed *s, struct np_msg m, unsigned pad)
{
	uint8_t frame[8192];
	if (m.type != NP_TVERSION)
		m.tag = s->tag++;
	int n = np_encode(&m, frame, sizeof(frame));
	if (n < 0 || n - 4 > 0x0fff) {
		fprintf(stderr, "make-server-corpus: cannot encode %s\n", np_type_name(m.type));
		exit(1);
	}
	unsigned hdr = (unsigned)(n - 4) | pad << 12;
	uint8_t h[2] = {(uint8_t)hdr, (uint8_t)(hdr >> 8)};
	add(s, h, 2);
	add(s, frame + 4, (size_t)n - 4);
}

static void msg(struct seed *s, struct np_msg m)
{
	chunk(s, m, 0);
}

/* A whole frame, size field included (FUZZ_MODE_RAW). */
static void raw(struct seed *s, struct np_msg m)
{
	uint8_t frame[8192];
	if (m.type != NP_TVERSION)
		m.tag = s->tag++;
	int n = np_encode(&m, frame, sizeof(frame));
	if (n < 0)
		exit(1);
	add(s, frame, (size_t)n);
}

/* Wait for every answer before going on. */
static void barrier(struct seed *s)
{
	uint8_t h[2] = {FUZZ_BARRIER & 0xff, FUZZ_BARRIER >> 8};
	add(s, h, 2);
}

static void emit(const struct seed *s, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%02u-%s", dir, count++, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "make-server-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- message builders ---- */

static struct np_msg walk(uint32_t fid, uint32_t newfid, const char *path)
{
	static char names[NP_MAXWELEM][64];
	struct np_msg m = {.type = NP_TWALK};
	m.u.twalk.fid = fid;
	m.u.twalk.newfid = newfid;
	const char *p = path;
	while (*p && m.u.twalk.nwname < NP_MAXWELEM) {
		size_t len = strcspn(p, "/");
		char *n = names[m.u.twalk.nwname];
		snprintf(n, sizeof(names[0]), "%.*s", (int)len, p);
		m.u.twalk.wnames[m.u.twalk.nwname++] = np_str_c(n);
		p += len + (p[len] == '/');
	}
	return m;
}

static struct np_msg lopen(uint32_t fid, uint32_t flags)
{
	struct np_msg m = {.type = NP_TLOPEN};
	m.u.tlopen.fid = fid;
	m.u.tlopen.flags = flags;
	return m;
}

static struct np_msg io(uint8_t type, uint32_t fid, uint64_t offset, uint32_t count,
			const char *data)
{
	struct np_msg m = {.type = type};
	if (type == NP_TWRITE) {
		m.u.twrite.fid = fid;
		m.u.twrite.offset = offset;
		m.u.twrite.count = count;
		m.u.twrite.data = (const uint8_t *)data;
	} else {
		m.u.tread.fid = fid;
		m.u.tread.offset = offset;
		m.u.tread.count = count;
	}
	return m;
}

static struct np_msg fidmsg(uint8_t type, uint32_t fid)
{
	struct np_msg m = {.type = type};
	m.u.tclunk.fid = fid; /* every fid-only message starts with fid[4] */
	return m;
}

static struct np_msg getattr(uint32_t fid)
{
	struct np_msg m = {.type = NP_TGETATTR};
	m.u.tgetattr.fid = fid;
	m.u.tgetattr.request_mask = NP_GETATTR_BASIC;
	return m;
}

static struct np_msg lcreate(uint32_t fid, const char *name, uint32_t flags, uint32_t mode)
{
	struct np_msg m = {.type = NP_TLCREATE};
	m.u.tlcreate.fid = fid;
	m.u.tlcreate.name = np_str_c(name);
	m.u.tlcreate.flags = flags;
	m.u.tlcreate.mode = mode;
	return m;
}

static struct np_msg mkdir_msg(uint32_t dfid, const char *name)
{
	struct np_msg m = {.type = NP_TMKDIR};
	m.u.tmkdir.dfid = dfid;
	m.u.tmkdir.name = np_str_c(name);
	m.u.tmkdir.mode = 0755;
	return m;
}

static struct np_msg lock(uint32_t fid, uint8_t type, uint32_t flags)
{
	struct np_msg m = {.type = NP_TLOCK};
	m.u.tlock.fid = fid;
	m.u.tlock.type = type;
	m.u.tlock.flags = flags;
	m.u.tlock.length = 10;
	m.u.tlock.proc_id = 42;
	m.u.tlock.client_id = np_str_c("seed");
	return m;
}

static struct np_msg version(uint32_t msize)
{
	struct np_msg m = {.type = NP_TVERSION, .tag = NP_NOTAG};
	m.u.tversion.msize = msize;
	m.u.tversion.version = np_str_c(NP_VERSION_9P2000L);
	return m;
}

static struct np_msg attach(uint32_t fid, const char *aname, uint32_t n_uname)
{
	struct np_msg m = {.type = NP_TATTACH};
	m.u.tattach.fid = fid;
	m.u.tattach.afid = NP_NOFID;
	m.u.tattach.uname = np_str_c("root");
	m.u.tattach.aname = np_str_c(aname);
	m.u.tattach.n_uname = n_uname;
	return m;
}

/* ---- the seeds ---- */

/* Open, read, write, attributes, locks, clunk: file I/O end to end. */
static void seed_file_io(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 1, "file"));
	barrier(s);
	msg(s, lopen(1, NP_DOTL_RDWR));
	barrier(s);
	msg(s, io(NP_TREAD, 1, 0, 100, NULL));
	msg(s, io(NP_TWRITE, 1, 5, 5, "hello"));
	msg(s, getattr(1));
	struct np_msg m = {.type = NP_TSETATTR};
	m.u.tsetattr.fid = 1;
	m.u.tsetattr.valid = NP_SETATTR_SIZE | NP_SETATTR_MODE | NP_SETATTR_MTIME;
	m.u.tsetattr.size = 20;
	m.u.tsetattr.mode = 0600;
	msg(s, m);
	m = (struct np_msg){.type = NP_TFSYNC};
	m.u.tfsync.fid = 1;
	msg(s, m);
	barrier(s);
	msg(s, lock(1, NP_LOCK_TYPE_WRLCK, 0));
	m = (struct np_msg){.type = NP_TGETLOCK};
	m.u.tgetlock.fid = 1;
	m.u.tgetlock.type = NP_LOCK_TYPE_RDLCK;
	m.u.tgetlock.length = 10;
	m.u.tgetlock.client_id = np_str_c("other");
	msg(s, m);
	msg(s, lock(1, NP_LOCK_TYPE_UNLCK, 0));
	msg(s, fidmsg(NP_TCLUNK, 1));
}

/* Directory listing and every way of making, moving and removing names. */
static void seed_dirs(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 2, "dir"));
	msg(s, walk(0, 3, ""));
	msg(s, walk(0, 4, "dir"));
	msg(s, walk(0, 5, "file"));
	barrier(s);
	msg(s, lopen(2, NP_DOTL_RDONLY | NP_DOTL_DIRECTORY));
	barrier(s);
	struct np_msg m = {.type = NP_TREADDIR};
	m.u.treaddir.fid = 2;
	m.u.treaddir.count = 4096;
	msg(s, m);
	m.u.treaddir.offset = 2;
	m.u.treaddir.count = 64;
	msg(s, m);
	msg(s, mkdir_msg(0, "newdir"));
	msg(s, lcreate(3, "newfile", NP_DOTL_RDWR, 0644));
	barrier(s);
	msg(s, io(NP_TWRITE, 3, 0, 3, "abc"));
	m = (struct np_msg){.type = NP_TSYMLINK};
	m.u.tsymlink.dfid = 4;
	m.u.tsymlink.name = np_str_c("sl");
	m.u.tsymlink.target = np_str_c("../file");
	msg(s, m);
	m = (struct np_msg){.type = NP_TMKNOD};
	m.u.tmknod.dfid = 4;
	m.u.tmknod.name = np_str_c("node");
	m.u.tmknod.mode = S_IFIFO | 0644;
	msg(s, m);
	m = (struct np_msg){.type = NP_TLINK};
	m.u.tlink.dfid = 4;
	m.u.tlink.fid = 5;
	m.u.tlink.name = np_str_c("hard");
	msg(s, m);
	barrier(s);
	m = (struct np_msg){.type = NP_TRENAME};
	m.u.trename.fid = 5;
	m.u.trename.dfid = 4;
	m.u.trename.name = np_str_c("moved");
	msg(s, m);
	m = (struct np_msg){.type = NP_TRENAMEAT};
	m.u.trenameat.olddirfid = 0;
	m.u.trenameat.oldname = np_str_c("empty");
	m.u.trenameat.newdirfid = 4;
	m.u.trenameat.newname = np_str_c("empty2");
	msg(s, m);
	barrier(s);
	m = (struct np_msg){.type = NP_TUNLINKAT};
	m.u.tunlinkat.dirfid = 0;
	m.u.tunlinkat.name = np_str_c("newdir");
	m.u.tunlinkat.flags = NP_AT_REMOVEDIR;
	msg(s, m);
	msg(s, fidmsg(NP_TREMOVE, 5));
}

/* Listing, reading and writing extended attributes. */
static void seed_xattrs(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 1, "file"));
	msg(s, walk(0, 7, "file"));
	barrier(s);
	struct np_msg m = {.type = NP_TXATTRWALK};
	m.u.txattrwalk.fid = 1;
	m.u.txattrwalk.newfid = 5;
	m.u.txattrwalk.name = np_str_c("");
	msg(s, m);
	m.u.txattrwalk.newfid = 6;
	m.u.txattrwalk.name = np_str_c("user.test");
	msg(s, m);
	barrier(s);
	msg(s, io(NP_TREAD, 5, 0, 256, NULL));
	msg(s, io(NP_TREAD, 6, 0, 256, NULL));
	msg(s, fidmsg(NP_TCLUNK, 5));
	msg(s, fidmsg(NP_TCLUNK, 6));
	m = (struct np_msg){.type = NP_TXATTRCREATE};
	m.u.txattrcreate.fid = 7;
	m.u.txattrcreate.name = np_str_c("user.new");
	m.u.txattrcreate.attr_size = 5;
	msg(s, m);
	barrier(s);
	msg(s, io(NP_TWRITE, 7, 0, 5, "abcde"));
	msg(s, fidmsg(NP_TCLUNK, 7));
}

/* Symlinks, "..", long walks, readlink, statfs. */
static void seed_walks(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 1, "link"));
	msg(s, walk(0, 2, "up"));
	msg(s, walk(0, 3, "abs/passwd"));
	msg(s, walk(0, 4, "../../../../../../../../../../../../../../../.."));
	msg(s, walk(0, 5, "dir/sub/../nested"));
	msg(s, walk(0, 6, "fifo"));
	barrier(s);
	msg(s, fidmsg(NP_TREADLINK, 1));
	msg(s, fidmsg(NP_TREADLINK, 2));
	msg(s, fidmsg(NP_TSTATFS, 0));
	msg(s, lopen(6, NP_DOTL_RDONLY | NP_DOTL_NONBLOCK));
	msg(s, lopen(5, NP_DOTL_RDONLY));
	msg(s, getattr(4));
}

/* Requests in flight, flushed, and a new session over them. */
static void seed_flush_version(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 1, "file"));
	barrier(s);
	msg(s, lopen(1, NP_DOTL_RDONLY));
	barrier(s);
	uint16_t first = s->tag;
	for (int i = 0; i < 8; i++)
		msg(s, io(NP_TREAD, 1, (uint64_t)i, 16, NULL));
	struct np_msg m = {.type = NP_TFLUSH};
	m.u.tflush.oldtag = first;
	msg(s, m);
	m.u.tflush.oldtag = (uint16_t)(first + 7);
	msg(s, m);
	msg(s, version(8192));
	barrier(s);
	msg(s, attach(9, "pass", 0));
	barrier(s);
	msg(s, getattr(9));
}

/* A second blocking lock on the same file: it waits until the hang-up. */
static void seed_lock_wait(struct seed *s, uint8_t mode)
{
	begin(s, mode);
	msg(s, walk(0, 1, "file"));
	msg(s, walk(0, 2, "file"));
	barrier(s);
	msg(s, lopen(1, NP_DOTL_RDWR));
	msg(s, lopen(2, NP_DOTL_RDWR));
	barrier(s);
	msg(s, lock(1, NP_LOCK_TYPE_WRLCK, 0));
	barrier(s);
	msg(s, lock(2, NP_LOCK_TYPE_WRLCK, NP_LOCK_FLAGS_BLOCK));
	msg(s, getattr(0));
}

/* A session of its own with msize 1 MiB and a 512 KiB Twrite made of
 * padding: a frame large enough to be read into its own buffer. */
static void seed_large_write(struct seed *s)
{
	begin(s, FUZZ_MODE_NO_SESSION);
	msg(s, version(1 << 20));
	barrier(s);
	msg(s, attach(0, "", 0));
	barrier(s);
	msg(s, walk(0, 1, "file"));
	barrier(s);
	msg(s, lopen(1, NP_DOTL_WRONLY));
	barrier(s);
	struct np_msg m = io(NP_TWRITE, 1, 0, FUZZ_PAD_BYTES(15), NULL);
	/* Encode the header alone: count says 512 KiB, the data is padding. */
	uint8_t frame[32];
	m.tag = s->tag++;
	m.u.twrite.count = 0;
	int n = np_encode(&m, frame, sizeof(frame));
	uint32_t count = FUZZ_PAD_BYTES(15);
	for (int i = 0; i < 4; i++)
		frame[n - 4 + i] = (uint8_t)(count >> (8 * i));
	unsigned hdr = (unsigned)(n - 4) | 15u << 12;
	uint8_t h[2] = {(uint8_t)hdr, (uint8_t)(hdr >> 8)};
	add(s, h, 2);
	add(s, frame + 4, (size_t)n - 4);
	msg(s, getattr(1));
}

/* Inputs that once failed, replayed by every run (libFuzzer runs the seed
 * corpus first).  Each has a Criterion test in tests/faults too. */

/* Leaked a fid, its fd and the fid table (LeakSanitizer): a raw Twalk of
 * dir/nested, then a frame whose size field (0x64726573) is refused, so the
 * connection closed while the walk ran, and done_walk installed the new fid
 * in the closed connection's table.  faults:
 * disconnect_with_walks_in_flight_releases_every_fd. */
static const uint8_t regression_walk_then_bad_frame[] = {
	0x20, 0x1e, 0x00, 0x00, 0x00, 0x6e, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x64, 0x69, 0x72, 0x06, 0x00, 0x6e, 0x65, 0x73,
	0x74, 0x65, 0x64, 0x13, 0x00, 0x00, 0x00, 0x18, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x0c, 0x03,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x74,
	0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x65,
	0x74, 0x63, 0x2f, 0x75, 0x73, 0x65, 0x72, 0x64, 0x62, 0x00, 0x00, 0x40, 0x00, 0x00,
	0x00, 0xff, 0x00, 0x00, 0x00, 0x6e, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
	0x00, 0x00, 0x01, 0x00, 0x04, 0x00, 0x66, 0x69, 0x6c, 0x65,
};

/* Overflowed the stack: more requests than the daemon keeps in flight
 * (256), then one answered at once; when reading resumed, req_complete
 * called conn_process again from inside conn_process, which handled the
 * same frame again, and again.  faults:
 * pipelining_past_the_in_flight_limit_then_instant_errors_is_answered. */
static void seed_past_the_in_flight_limit(struct seed *s)
{
	begin(s, 0);
	for (int i = 0; i < 300; i++)
		msg(s, fidmsg(NP_TSTATFS, 0));
	for (int i = 0; i < 4; i++)
		msg(s, fidmsg(NP_TCLUNK, 4242));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-server-corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	static struct seed s;
	/* Each session against each export model and as a plain user. */
	static const struct {
		uint8_t mode;
		const char *name;
	} modes[] = {
		{0, "pass"},
		{1 << 1, "mapped"},
		{2 << 1, "ro"},
		{3 << 1, "squash"},
		{FUZZ_MODE_USER, "user"},
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char name[64];
		uint8_t mode = modes[i].mode;
		seed_file_io(&s, mode);
		snprintf(name, sizeof(name), "file-io-%s", modes[i].name);
		emit(&s, name);
		seed_dirs(&s, mode);
		snprintf(name, sizeof(name), "dirs-%s", modes[i].name);
		emit(&s, name);
		seed_xattrs(&s, mode);
		snprintf(name, sizeof(name), "xattrs-%s", modes[i].name);
		emit(&s, name);
		seed_walks(&s, mode);
		snprintf(name, sizeof(name), "walks-%s", modes[i].name);
		emit(&s, name);
	}
	seed_flush_version(&s, 0);
	emit(&s, "flush-version");
	seed_lock_wait(&s, 0);
	emit(&s, "lock-wait");
	seed_large_write(&s);
	emit(&s, "large-write");
	/* Frames split across reads. */
	for (unsigned p = 1; p < 4; p++) {
		char name[64];
		seed_file_io(&s, (uint8_t)(p << 6 | FUZZ_MODE_SMALL_MSIZE));
		snprintf(name, sizeof(name), "file-io-pieces-%u", fuzz_pieces[p]);
		emit(&s, name);
	}
	/* Raw mode: frames as they are, size fields included, and a frame
	 * whose size field claims more than is sent. */
	begin(&s, FUZZ_MODE_RAW);
	raw(&s, walk(0, 1, "dir/nested"));
	raw(&s, getattr(0));
	raw(&s, lopen(1, NP_DOTL_RDONLY));
	raw(&s, io(NP_TREAD, 1, 0, 64, NULL));
	size_t at = s.len;
	raw(&s, walk(0, 2, "file"));
	s.buf[at] = 0xff;
	emit(&s, "raw");
	seed_past_the_in_flight_limit(&s);
	emit(&s, "regression-past-the-in-flight-limit");
	s.len = 0;
	add(&s, regression_walk_then_bad_frame, sizeof(regression_walk_then_bad_frame));
	emit(&s, "regression-walk-then-bad-frame");
	printf("make-server-corpus: wrote %u inputs to %s\n", count, dir);
	return 0;
}
