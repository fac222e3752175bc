/* Micro-benchmark of the 9P2000.L codec: messages per second for the
 * request/reply pairs that dominate a mounted file system (walk, getattr,
 * 4 KiB read and write, readdir), each measured as "decode the request,
 * encode the reply", which is the codec's share of serving one request.
 *
 * Usage: bench-codec [SECONDS_PER_CASE]   (default 0.5)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/9p.h"

#define MSIZE (512 * 1024)
#define IO 4096

static uint8_t req[IO + 64];     /* the encoded request of the case */
static int req_len;
static uint8_t reply[MSIZE];     /* where replies are encoded */
static uint8_t filedata[IO];     /* "file contents" for Rread */
static volatile uint64_t sink;   /* keeps results observable */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-codec: %s: %s\n", what, np_status_str(rc));
	exit(1);
}

static void encode_request(const struct np_msg *m)
{
	req_len = np_encode(m, req, sizeof(req));
	if (req_len < 0)
		die(np_type_name(m->type), req_len);
}

/* Decoded into one static message, as a server decodes into its request. */
static struct np_msg decoded;

static const struct np_msg *decode_request(void)
{
	int rc = np_decode(req, (size_t)req_len, MSIZE, &decoded);
	if (rc < 0)
		die("decode", rc);
	return &decoded;
}

static void encode_reply(const struct np_msg *r)
{
	int n = np_encode(r, reply, sizeof(reply));
	if (n < 0)
		die(np_type_name(r->type), n);
	sink += (uint64_t)n;
}

/* The reply is filled in a static message, field by field, as a server
 * fills the reply member of its request object; zeroing a whole np_msg per
 * reply would be the biggest cost in this loop and is not the codec's. */
static struct np_msg reply_struct;

static struct np_msg *reply_msg(uint8_t type, uint16_t tag)
{
	reply_struct.type = type;
	reply_struct.tag = tag;
	return &reply_struct;
}

/* One request served: decode it and encode its reply. */
static void walk_once(void)
{
	const struct np_msg *m = decode_request();
	struct np_msg *r = reply_msg(NP_RWALK, m->tag);
	r->u.rwalk.nwqid = m->u.twalk.nwname;
	for (uint16_t i = 0; i < m->u.twalk.nwname; i++)
		r->u.rwalk.wqids[i] = (struct np_qid){ NP_QTDIR, 0, 1000u + m->u.twalk.wnames[i].len };
	encode_reply(r);
}

static void getattr_once(void)
{
	const struct np_msg *m = decode_request();
	struct np_msg *r = reply_msg(NP_RGETATTR, m->tag);
	r->u.rgetattr.valid = m->u.tgetattr.request_mask;
	r->u.rgetattr.qid = (struct np_qid){ NP_QTFILE, 1, m->u.tgetattr.fid };
	r->u.rgetattr.mode = 0100644;
	r->u.rgetattr.size = 12345;
	r->u.rgetattr.mtime_sec = 1700000000;
	encode_reply(r);
}

/* The copying path: data comes from somewhere else and is copied in. */
static void read_copy_once(void)
{
	const struct np_msg *m = decode_request();
	struct np_msg *r = reply_msg(NP_RREAD, m->tag);
	r->u.rread.count = m->u.tread.count;
	r->u.rread.data = filedata;
	encode_reply(r);
}

/* The server's path: pread() went straight into reply + NP_IOHDRSZ. */
static void read_inplace_once(void)
{
	const struct np_msg *m = decode_request();
	struct np_msg *r = reply_msg(NP_RREAD, m->tag);
	r->u.rread.count = m->u.tread.count;
	r->u.rread.data = reply + NP_IOHDRSZ;
	encode_reply(r);
}

static void write_once(void)
{
	const struct np_msg *m = decode_request();
	sink += m->u.twrite.data[m->u.twrite.count - 1];
	struct np_msg *r = reply_msg(NP_RWRITE, m->tag);
	r->u.rwrite.count = m->u.twrite.count;
	encode_reply(r);
}

/* Treaddir of 8 KiB: pack entries in place behind the header until one no
 * longer fits, then encode the Rreaddir around them without a copy. */
static const char *const names[] = {
	"Makefile", "README.md", "src", "include", "a.out", "x", "main.c", "libninepd.so.0.1.0",
};

static void readdir_once(void)
{
	const struct np_msg *m = decode_request();
	struct np_dirpack p;
	np_dirpack_init(&p, reply + NP_IOHDRSZ, m->u.treaddir.count);
	for (uint32_t i = 0;; i++) {
		struct np_dirent d = {
			.qid = { NP_QTFILE, 0, 5000u + i },
			.offset = i + 1,
			.type = 8,
			.name = np_str_c(names[i % 8]),
		};
		if (!np_dirpack_add(&p, &d))
			break;
	}
	struct np_msg *r = reply_msg(NP_RREADDIR, m->tag);
	r->u.rreaddir.count = p.len;
	r->u.rreaddir.data = reply + NP_IOHDRSZ;
	encode_reply(r);
}

struct bench_case {
	const char *name;
	void (*setup)(void);
	void (*once)(void);
	bool in_mix; /* false: a comparison line, not a path the server takes */
};

static void setup_walk(void)
{
	struct np_msg m = { .type = NP_TWALK, .tag = 1 };
	m.u.twalk.fid = 1;
	m.u.twalk.newfid = 2;
	m.u.twalk.nwname = 3;
	m.u.twalk.wnames[0] = np_str_c("usr");
	m.u.twalk.wnames[1] = np_str_c("share");
	m.u.twalk.wnames[2] = np_str_c("doc");
	encode_request(&m);
}

static void setup_getattr(void)
{
	struct np_msg m = { .type = NP_TGETATTR, .tag = 1 };
	m.u.tgetattr.fid = 7;
	m.u.tgetattr.request_mask = NP_GETATTR_BASIC;
	encode_request(&m);
}

static void setup_read(void)
{
	struct np_msg m = { .type = NP_TREAD, .tag = 1 };
	m.u.tread.fid = 7;
	m.u.tread.offset = 1 << 20;
	m.u.tread.count = IO;
	encode_request(&m);
}

static void setup_write(void)
{
	struct np_msg m = { .type = NP_TWRITE, .tag = 1 };
	m.u.twrite.fid = 7;
	m.u.twrite.count = IO;
	m.u.twrite.data = filedata;
	encode_request(&m);
}

static void setup_readdir(void)
{
	struct np_msg m = { .type = NP_TREADDIR, .tag = 1 };
	m.u.treaddir.fid = 7;
	m.u.treaddir.count = 8192;
	encode_request(&m);
}

static const struct bench_case cases[] = {
	{ "Twalk(3 names) -> Rwalk", setup_walk, walk_once, true },
	{ "Tgetattr -> Rgetattr", setup_getattr, getattr_once, true },
	{ "Tread 4KiB -> Rread, in place", setup_read, read_inplace_once, true },
	{ "Tread 4KiB -> Rread, copied", setup_read, read_copy_once, false },
	{ "Twrite 4KiB -> Rwrite", setup_write, write_once, true },
	{ "Treaddir 8KiB -> Rreaddir packed", setup_readdir, readdir_once, true },
};

/* Run `once` in batches until `seconds` have passed; returns calls/s. */
static double measure(void (*once)(void), double seconds)
{
	uint64_t calls = 0;
	double start = now(), elapsed;
	do {
		for (int i = 0; i < 1000; i++)
			once();
		calls += 1000;
		elapsed = now() - start;
	} while (elapsed < seconds);
	return (double)calls / elapsed;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.5;
	if (seconds <= 0) {
		fprintf(stderr, "usage: bench-codec [SECONDS_PER_CASE]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(filedata); i++)
		filedata[i] = (uint8_t)i;

	/* The mix: the server's paths weighted equally, reported as the
	 * harmonic mean, i.e. the rate of a stream of one of each in turn. */
	double inverse_sum = 0;
	size_t n = sizeof(cases) / sizeof(cases[0]), in_mix = 0;
	printf("%-36s %14s %10s\n", "decode request, encode reply", "pairs/s", "ns/pair");
	for (size_t i = 0; i < n; i++) {
		cases[i].setup();
		cases[i].once(); /* warm up and fail early on an error */
		double rate = measure(cases[i].once, seconds);
		if (cases[i].in_mix) {
			inverse_sum += 1 / rate;
			in_mix++;
		}
		printf("%-36s %14.0f %10.1f\n", cases[i].name, rate, 1e9 / rate);
	}
	printf("%-36s %14.0f %10.1f\n", "mix (one of each but 'copied')",
	       (double)in_mix / inverse_sum, 1e9 * inverse_sum / (double)in_mix);
	return sink == 0; /* nothing encoded would be a broken benchmark */
}
