/* Writes the seed corpus for fuzz-decode: one valid frame per file, covering
 * every message in NP_MESSAGES plus the shapes that stress the decoder
 * (16-element walks, empty strings, large Rread/Twrite, packed Rreaddir).
 *
 * The frames are generated rather than committed so that the corpus follows
 * the codec; they are seeds, not test oracles (tests/proto has those).
 *
 * Usage: make-corpus DIR   (DIR must exist)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/9p.h"

static const char *dir;
static unsigned count;
static uint8_t frame[65536];
static uint8_t payload[8192];

static void emit(const struct np_msg *m)
{
	int n = np_encode(m, frame, sizeof(frame));
	if (n < 0) {
		fprintf(stderr, "make-corpus: encode %s: %s\n", np_type_name(m->type),
			np_status_str(n));
		exit(1);
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%02u-%s", dir, count++, np_type_name(m->type));
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(frame, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
		fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static struct np_qid qid(uint8_t type, uint64_t path)
{
	return (struct np_qid){ .type = type, .version = (uint32_t)path * 3, .path = path };
}

/* Fill the fields every message may use with plausible values; the body
 * member that matters is then set per message. */
static struct np_msg msg(uint8_t type)
{
	struct np_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.tag = (uint16_t)(type * 13);
	return m;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31 + 7);

	/* One frame of every type, all-zero body except for strings and data. */
	static const uint8_t types[] = {
#define NUM(name, NAME, num) num,
		NP_MESSAGES(NUM)
#undef NUM
	};
	for (size_t i = 0; i < sizeof(types); i++)
		emit(&(struct np_msg){ .type = types[i], .tag = (uint16_t)i });

	struct np_msg m = msg(NP_TVERSION);
	m.tag = NP_NOTAG;
	m.u.tversion.msize = 512 * 1024;
	m.u.tversion.version = np_str_c(NP_VERSION_9P2000L);
	emit(&m);
	m.type = NP_RVERSION;
	m.u.rversion.version = np_str_c("unknown");
	emit(&m);

	m = msg(NP_TATTACH);
	m.u.tattach.fid = 0;
	m.u.tattach.afid = NP_NOFID;
	m.u.tattach.uname = np_str_c("root");
	m.u.tattach.aname = np_str_c("/srv/export");
	m.u.tattach.n_uname = 0;
	emit(&m);

	m = msg(NP_TWALK);
	m.u.twalk.fid = 1;
	m.u.twalk.newfid = 2;
	m.u.twalk.nwname = NP_MAXWELEM;
	for (int i = 0; i < NP_MAXWELEM; i++)
		m.u.twalk.wnames[i] = np_str_c(i % 3 == 0 ? ".." : i % 3 == 1 ? "" : "dir");
	emit(&m);

	m = msg(NP_RWALK);
	m.u.rwalk.nwqid = NP_MAXWELEM;
	for (int i = 0; i < NP_MAXWELEM; i++)
		m.u.rwalk.wqids[i] = qid(i % 2 ? NP_QTDIR : NP_QTSYMLINK, (uint64_t)i << 40);
	emit(&m);

	m = msg(NP_TLCREATE);
	m.u.tlcreate.fid = 3;
	m.u.tlcreate.name = np_str_c("file.txt");
	m.u.tlcreate.flags = NP_DOTL_CREATE | NP_DOTL_RDWR;
	m.u.tlcreate.mode = 0644;
	emit(&m);

	m = msg(NP_TSYMLINK);
	m.u.tsymlink.name = np_str_c("link");
	m.u.tsymlink.target = np_str_c("../target/of/link");
	emit(&m);

	m = msg(NP_TRENAMEAT);
	m.u.trenameat.oldname = np_str_c("old");
	m.u.trenameat.newname = np_str_c("new");
	emit(&m);

	m = msg(NP_TXATTRWALK);
	m.u.txattrwalk.name = np_str_c("security.selinux");
	emit(&m);

	m = msg(NP_TLOCK);
	m.u.tlock.type = NP_LOCK_TYPE_WRLCK;
	m.u.tlock.length = UINT64_MAX;
	m.u.tlock.client_id = np_str_c("client-host");
	emit(&m);

	m = msg(NP_RGETLOCK);
	m.u.rgetlock.type = NP_LOCK_TYPE_RDLCK;
	m.u.rgetlock.client_id = np_str_c("other-host");
	emit(&m);

	m = msg(NP_RGETATTR);
	m.u.rgetattr.valid = NP_GETATTR_ALL;
	m.u.rgetattr.qid = qid(NP_QTFILE, 42);
	m.u.rgetattr.mode = 0100644;
	m.u.rgetattr.size = 1ULL << 33;
	emit(&m);

	m = msg(NP_TREAD);
	m.u.tread.count = 4096;
	emit(&m);

	m = msg(NP_RREAD);
	m.u.rread.count = 4096;
	m.u.rread.data = payload;
	emit(&m);

	m = msg(NP_TWRITE);
	m.u.twrite.offset = 1ULL << 32;
	m.u.twrite.count = 100;
	m.u.twrite.data = payload;
	emit(&m);

	m = msg(NP_RLERROR);
	m.u.rlerror.ecode = 2;
	emit(&m);

	/* Packed readdir payloads of a few sizes. */
	for (unsigned entries = 1; entries <= 40; entries *= 4) {
		struct np_dirpack p;
		np_dirpack_init(&p, payload, sizeof(payload));
		char name[32];
		for (unsigned i = 0; i < entries; i++) {
			int len = snprintf(name, sizeof(name), "entry-%u", i);
			struct np_dirent d = {
				.qid = qid(i % 2 ? NP_QTDIR : NP_QTFILE, 1000 + i),
				.offset = i + 1,
				.type = i % 2 ? 4 : 8,
				.name = { name, (uint16_t)len },
			};
			if (!np_dirpack_add(&p, &d)) {
				fprintf(stderr, "make-corpus: readdir payload full\n");
				return 1;
			}
		}
		m = msg(NP_RREADDIR);
		m.u.rreaddir.count = p.len;
		m.u.rreaddir.data = payload;
		emit(&m);
	}

	printf("make-corpus: wrote %u frames to %s\n", count, dir);
	return 0;
}
