/* libFuzzer target for the 9P2000.L decoder (proto/9p.c).
 *
 * Every input is tried two ways: as it is (so the framing checks see wild
 * size fields) and with its size field rewritten to the input length (so
 * that every input reaches the per-message body walk).  Whatever decodes
 * must encode back to the very same bytes, must be refused with
 * NP_E_NO_SPACE by a buffer one byte short, and an Rreaddir payload must
 * parse into entries that np_dirpack packs back into the same bytes.  Any
 * broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/9p.h"

/* Larger than any input libFuzzer is given here (-max_len defaults to 4096
 * and the corpus frames are small), so msize never hides a body bug. */
#define FUZZ_MSIZE (1U << 20)

static void fail(const char *what, const struct np_msg *m)
{
	fprintf(stderr, "fuzz-decode: %s (type %u %s)\n", what, m->type,
		np_type_name(m->type) ? np_type_name(m->type) : "?");
	abort();
}

/* Entries of a decoded Rreaddir payload pack back into the same bytes. */
static void check_dirents(const struct np_msg *m)
{
	const uint8_t *data = m->u.rreaddir.data;
	uint32_t len = m->u.rreaddir.count;
	uint8_t *repack = malloc(len ? len : 1);
	if (repack == NULL)
		abort();
	struct np_dirpack p;
	np_dirpack_init(&p, repack, len);
	uint32_t pos = 0;
	struct np_dirent d;
	int rc;
	while ((rc = np_dirent_next(data, len, &pos, &d)) == 1) {
		if (!np_dirpack_add(&p, &d))
			fail("a parsed entry does not repack into the space it came from", m);
		if (p.len != pos)
			fail("repacked length differs from parsed length", m);
	}
	if (rc != 0 && rc != NP_E_OVERRUN)
		fail("np_dirent_next returned an unexpected status", m);
	if (rc == 0 && pos != len)
		fail("np_dirent_next ended before the payload did", m);
	if (memcmp(repack, data, p.len) != 0)
		fail("repacked entries differ from the payload", m);
	free(repack);
}

static void check_frame(const uint8_t *frame, size_t len, uint32_t msize)
{
	struct np_msg m;
	int rc = np_decode(frame, len, msize, &m);
	if (rc > 0 || np_status_str(rc) == NULL)
		fail("np_decode returned a status outside enum np_status", &m);
	if (rc < 0)
		return;
	if (!np_type_name(m.type))
		fail("decoded a type that is not in the table", &m);
	if (np_frame_size(frame, len, msize) != (int)len)
		fail("np_frame_size disagrees with a frame np_decode accepted", &m);

	uint8_t *out = malloc(len);
	if (out == NULL)
		abort();
	int n = np_encode(&m, out, len);
	if (n != (int)len)
		fail("re-encode changed the frame length", &m);
	if (memcmp(out, frame, len) != 0)
		fail("re-encode changed the frame bytes", &m);
	if (np_encode(&m, out, len - 1) != NP_E_NO_SPACE)
		fail("encode into one byte less than needed did not report NP_E_NO_SPACE", &m);
	free(out);

	if (m.type == NP_RREADDIR)
		check_dirents(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_frame(data, size, FUZZ_MSIZE);
	check_frame(data, size, NP_MIN_MSIZE);

	if (size < NP_HDRSZ || size > FUZZ_MSIZE)
		return 0;
	/* A private, exactly sized copy so that ASan flags any read past it. */
	uint8_t *frame = malloc(size);
	if (frame == NULL)
		abort();
	memcpy(frame, data, size);
	frame[0] = (uint8_t)size;
	frame[1] = (uint8_t)(size >> 8);
	frame[2] = (uint8_t)(size >> 16);
	frame[3] = (uint8_t)(size >> 24);
	check_frame(frame, size, FUZZ_MSIZE);
	free(frame);
	return 0;
}
