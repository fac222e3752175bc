/* libFuzzer target for the whole request path: framing, decoding,
 * dispatch, every operation against a real export, replies, disconnect and
 * shutdown.
 *
 * Per input, an in-process server (server_init with the process's config,
 * four exports of temporary directories: passthrough, mapped-xattr,
 * read-only, squash) serves one end of a socketpair adopted with
 * exit_on_hangup, as -l stdio does.  The harness drives the other end from
 * the same libuv loop: it sends the frames the input describes (see
 * fuzz-server.h), reads every reply, then hangs up and runs the loop until
 * the server has stopped; server_free and uv_loop_close must then leave
 * nothing behind.
 *
 * Oracles, besides ASan/UBSan and LeakSanitizer: every reply decodes, is an
 * R-message no larger than the negotiated msize, Rlerror carries an errno;
 * uv_loop_close finds no handle left open; and a canary directory next to
 * the exports is never changed (checked at every reset of the exports,
 * every FUZZ_RESET_EVERY inputs, and at exit).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <uv.h>

#include "config/config.h"
#include "fuzz-server.h"
#include "np_client.h"
#include "proto/9p.h"
#include "server/log.h"
#include "server/server.h"

/* Inputs between two resets of the export trees: often enough that what
 * one input created rarely matters for long, seldom enough to stay fast. */
#define FUZZ_RESET_EVERY 64
#define FUZZ_MAX_FRAMES 1024
/* How long a barrier waits for answers (a blocking Tlock may never get
 * one while the connection is open). */
#define FUZZ_BARRIER_MS 100
#define CANARY_TEXT "the fuzzer must never change this file\n"

static char top[64];        /* /tmp/ninepd-fuzz-XXXXXX */
static struct ninepd_config cfg;
static unsigned long runs;

static void die(const char *what)
{
	fprintf(stderr, "fuzz-server: %s\n", what);
	abort();
}

/* ---- the export trees ---- */

static void put_file(const char *dir, const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("cannot write the export tree");
}

/* A few of each kind of object; symlinks that point inside, up and out.
 * Most of it is writable by anyone, so that inputs attached as a plain
 * user (or squashed to one) get past permission checks too. */
static void populate(const char *dir)
{
	char p[256];
	if (mkdir(dir, 0777) < 0)
		die("mkdir export");
	chmod(dir, 0777);
	put_file(dir, "file", "0123456789abcdefghijklmnopqrstuvwxyz\n");
	put_file(dir, "empty", "");
	snprintf(p, sizeof(p), "%s/file", dir);
	chmod(p, 0666);
	snprintf(p, sizeof(p), "%s/dir", dir);
	mkdir(p, 0777);
	chmod(p, 0777);
	snprintf(p, sizeof(p), "%s/dir/sub", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/dir", dir);
	put_file(p, "nested", "nested file\n");
	snprintf(p, sizeof(p), "%s/link", dir);
	symlink("file", p);
	snprintf(p, sizeof(p), "%s/up", dir);
	symlink("../canary", p);
	snprintf(p, sizeof(p), "%s/abs", dir);
	symlink("/etc", p);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	mkfifo(p, 0644);
	snprintf(p, sizeof(p), "%s/file", dir);
	setxattr(p, "user.test", "value", 5, 0);
}

static void export_path(size_t i, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", top, fuzz_exports[i].name);
}

/* The canary next to the exports holds exactly one unchanged file. */
static void check_canary(void)
{
	char p[128], buf[128];
	snprintf(p, sizeof(p), "%s/canary", top);
	DIR *d = opendir(p);
	if (!d)
		die("the canary directory is gone: something escaped the export");
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "keep"))
			die("a file appeared in the canary directory: something escaped the export");
	closedir(d);
	snprintf(p, sizeof(p), "%s/canary/keep", top);
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
	if (f)
		fclose(f);
	struct stat st;
	if (n != strlen(CANARY_TEXT) || memcmp(buf, CANARY_TEXT, n) || stat(p, &st) ||
	    (st.st_mode & 07777) != 0644 || st.st_uid != 0)
		die("the canary file changed: something escaped the export");
}

static void reset_exports(void)
{
	check_canary();
	for (size_t i = 0; i < sizeof(fuzz_exports) / sizeof(fuzz_exports[0]); i++) {
		char p[128];
		export_path(i, p, sizeof(p));
		np_rmtree(p);
		populate(p);
	}
}

static void cleanup(void)
{
	check_canary();
	np_rmtree(top);
	config_free(&cfg);
}

static void setup_once(void)
{
	/* libuv sizes its pool at the first work item; two cores here. */
	setenv("UV_THREADPOOL_SIZE", "4", 1);
	/* FUZZ_SERVER_TRACE=1 prints every message, to see what an input does. */
	bool trace = getenv("FUZZ_SERVER_TRACE") != NULL;
	log_set_level(trace ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	snprintf(top, sizeof(top), "/tmp/ninepd-fuzz-XXXXXX");
	if (!mkdtemp(top))
		die("mkdtemp");
	chmod(top, 0755);
	char p[128];
	snprintf(p, sizeof(p), "%s/canary", top);
	mkdir(p, 0755);
	put_file(p, "keep", CANARY_TEXT);
	snprintf(p, sizeof(p), "%s/canary/keep", top);
	chmod(p, 0644);
	reset_exports();

	config_init(&cfg);
	for (size_t i = 0; i < sizeof(fuzz_exports) / sizeof(fuzz_exports[0]); i++) {
		char spec[256], err[256];
		export_path(i, p, sizeof(p));
		snprintf(spec, sizeof(spec), "%s,name=%s%s", p, fuzz_exports[i].name,
			 fuzz_exports[i].options);
		struct export_conf e;
		if (config_parse_export_spec(spec, &e, err, sizeof(err)) < 0 ||
		    config_add_export(&cfg, &e) < 0) {
			fprintf(stderr, "fuzz-server: export %s: %s\n", spec, err);
			abort();
		}
		export_conf_free(&e);
	}
	cfg.trace = trace;
	if (config_validate(&cfg, stderr) != 0)
		die("the configuration does not validate");
	atexit(cleanup);
}

/* ---- the input, as a byte stream with barriers ---- */

struct stream {
	uint8_t *buf;
	size_t len, cap;
	size_t barriers[FUZZ_MAX_FRAMES + 2]; /* offsets where the harness waits */
	size_t nbarriers;
};

static void put(struct stream *s, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->buf = realloc(s->buf, cap);
		if (!s->buf)
			die("out of memory");
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_msg(struct stream *s, const struct np_msg *m)
{
	uint8_t frame[512];
	int n = np_encode(m, frame, sizeof(frame));
	if (n < 0)
		die("cannot encode the session prefix");
	put(s, frame, (size_t)n);
}

static void barrier(struct stream *s)
{
	if (s->nbarriers < sizeof(s->barriers) / sizeof(s->barriers[0]))
		s->barriers[s->nbarriers++] = s->len;
}

static void build_stream(struct stream *s, const uint8_t *data, size_t size)
{
	uint8_t mode = data[0];
	data++, size--;
	if (!(mode & FUZZ_MODE_NO_SESSION)) {
		struct np_msg m = {.type = NP_TVERSION, .tag = NP_NOTAG};
		m.u.tversion.msize = mode & FUZZ_MODE_SMALL_MSIZE ? 8192 : 65536;
		m.u.tversion.version = np_str_c(NP_VERSION_9P2000L);
		put_msg(s, &m);
		m = (struct np_msg){.type = NP_TATTACH, .tag = 0xfffe};
		m.u.tattach.fid = 0;
		m.u.tattach.afid = NP_NOFID;
		m.u.tattach.uname = np_str_c(mode & FUZZ_MODE_USER ? "nobody" : "root");
		m.u.tattach.aname = np_str_c(fuzz_exports[FUZZ_MODE_EXPORT(mode)].name);
		m.u.tattach.n_uname = mode & FUZZ_MODE_USER ? FUZZ_USER_UID : 0;
		put_msg(s, &m);
		barrier(s);
	}
	if (mode & FUZZ_MODE_RAW) {
		put(s, data, size);
		barrier(s);
		return;
	}
	static uint8_t pad[FUZZ_PAD_BYTES(15)];
	if (pad[0] != FUZZ_PAD_BYTE)
		memset(pad, FUZZ_PAD_BYTE, sizeof(pad));
	for (unsigned frames = 0; size >= 2 && frames < FUZZ_MAX_FRAMES; frames++) {
		unsigned hdr = data[0] | (unsigned)data[1] << 8;
		data += 2, size -= 2;
		if (hdr == FUZZ_BARRIER) {
			barrier(s);
			continue;
		}
		size_t n = FUZZ_CHUNK_LEN(hdr);
		if (n > size)
			n = size;
		size_t padding = FUZZ_PAD_BYTES(hdr >> 12);
		uint8_t head[7] = {0};
		size_t body = n > 3 ? n - 3 : 0;
		uint32_t total = (uint32_t)(7 + body + padding);
		for (int i = 0; i < 4; i++)
			head[i] = (uint8_t)(total >> (8 * i));
		memcpy(head + 4, data, n < 3 ? n : 3);
		put(s, head, 7);
		put(s, data + 3 * (n >= 3), body);
		put(s, pad, padding);
		data += n, size -= n;
	}
	if (size != 1)
		barrier(s); /* wait for the answers, then hang up */
}

/* ---- the client side, on the server's loop ---- */

struct client {
	int fd;
	uv_poll_t poll;
	uv_check_t check;
	uv_timer_t timer;      /* ends a barrier that waits too long */
	struct server *srv;
	struct stream *s;
	size_t sent;
	size_t next_barrier;   /* index into s->barriers */
	bool waiting;          /* at a barrier */
	bool shut;             /* SHUT_WR done */
	unsigned piece;        /* bytes per send, 0: as many as fit */
	uint32_t msize;        /* replies may not exceed it */
	uint8_t rbuf[(1u << 20) + 64];
	size_t rlen;
	unsigned handles;
};

/* A reply the server sent must be a well-formed R-message within msize. */
static void check_reply(struct client *c, const uint8_t *frame, uint32_t size)
{
	struct np_msg m;
	if (size > c->msize) {
		fprintf(stderr, "fuzz-server: reply of %u bytes, msize %u\n", size, c->msize);
		abort();
	}
	int rc = np_decode(frame, size, c->msize, &m);
	if (rc < 0) {
		fprintf(stderr, "fuzz-server: reply type %u does not decode: %s\n", frame[4],
			np_status_str(rc));
		abort();
	}
	if (np_is_request(m.type))
		die("the server sent a T-message");
	if (m.type == NP_RLERROR && (m.u.rlerror.ecode == 0 || m.u.rlerror.ecode > 4095))
		die("Rlerror without an errno");
	if (m.type == NP_RVERSION && m.u.rversion.msize >= NP_MIN_MSIZE)
		c->msize = m.u.rversion.msize;
}

static void on_close(uv_handle_t *h)
{
	struct client *c = h->data;
	if (--c->handles == 0)
		close(c->fd);
}

static void client_finish(struct client *c)
{
	if (uv_is_closing((uv_handle_t *)&c->poll))
		return;
	uv_close((uv_handle_t *)&c->poll, on_close);
	uv_close((uv_handle_t *)&c->check, on_close);
	uv_close((uv_handle_t *)&c->timer, on_close);
}

static void client_read(struct client *c)
{
	for (;;) {
		if (c->rlen == sizeof(c->rbuf))
			die("a reply larger than the receive buffer");
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) { /* the server hung up */
			client_finish(c);
			return;
		}
		c->rlen += (size_t)n;
		size_t off = 0;
		while (c->rlen - off >= 4) {
			const uint8_t *p = c->rbuf + off;
			uint32_t size = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
			if (size < NP_HDRSZ || size > c->msize) {
				fprintf(stderr, "fuzz-server: reply size field %u, msize %u\n", size,
					c->msize);
				abort();
			}
			if (c->rlen - off < size)
				break;
			check_reply(c, p, size);
			off += size;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void on_barrier_timeout(uv_timer_t *t);

/* Where the current segment of the stream ends (the next barrier). */
static size_t segment_end(const struct client *c)
{
	return c->next_barrier < c->s->nbarriers ? c->s->barriers[c->next_barrier] : c->s->len;
}

static void client_write(struct client *c)
{
	size_t end = segment_end(c);
	while (c->sent < end) {
		size_t n = end - c->sent;
		if (c->piece && n > c->piece)
			n = c->piece;
		ssize_t w = send(c->fd, c->s->buf + c->sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) { /* the server closed the connection: stop sending */
			c->sent = end = c->s->len;
			c->next_barrier = c->s->nbarriers;
			break;
		}
		c->sent += (size_t)w;
		if (c->piece)
			return; /* one piece per loop iteration */
	}
	if (c->sent == end && c->next_barrier < c->s->nbarriers) {
		c->waiting = true;
		uv_timer_start(&c->timer, on_barrier_timeout, FUZZ_BARRIER_MS, 0);
	} else if (c->sent == c->s->len && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct client *c = h->data;
	if (status < 0) {
		client_finish(c);
		return;
	}
	if (events & UV_READABLE)
		client_read(c);
	if (!uv_is_closing((uv_handle_t *)&c->poll) && (events & UV_WRITABLE))
		client_write(c);
	if (!uv_is_closing((uv_handle_t *)&c->poll))
		uv_poll_start(&c->poll,
			      UV_READABLE | (!c->shut && !c->waiting ? UV_WRITABLE : 0), on_poll);
}

static void end_barrier(struct client *c)
{
	c->waiting = false;
	c->next_barrier++;
	uv_timer_stop(&c->timer);
	uv_poll_start(&c->poll, UV_READABLE | UV_WRITABLE, on_poll);
}

/* After each loop iteration (after the server flushed its replies): a
 * barrier ends once the server has read and answered everything sent. */
static void on_check(uv_check_t *h)
{
	struct client *c = h->data;
	if (!c->waiting || uv_is_closing((uv_handle_t *)&c->poll))
		return;
	/* Unread bytes in the socket are charged to the sender (SIOCOUTQ). */
	int unread = 0;
	ioctl(c->fd, SIOCOUTQ, &unread);
	const struct conn *conn = c->srv->conns;
	if (!conn || (unread == 0 && conn->rlen == 0 && !conn->partial && conn->inflight == 0 &&
		      !conn->sendq_head && conn->write_bytes == 0))
		end_barrier(c);
}

static void on_barrier_timeout(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->waiting && !uv_is_closing((uv_handle_t *)&c->poll))
		end_barrier(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!top[0])
		setup_once();
	if (size < 1)
		return 0;
	if (++runs % FUZZ_RESET_EVERY == 0)
		reset_exports();

	static struct stream s;
	s.len = 0;
	s.nbarriers = 0;
	build_stream(&s, data, size);

	uv_loop_t loop;
	if (uv_loop_init(&loop))
		die("uv_loop_init");
	struct server srv;
	if (server_init(&srv, &loop, &cfg))
		die("server_init");
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	if (server_adopt_fds(&srv, sv[0], sv[0], true))
		die("server_adopt_fds");

	static struct client c;
	c.fd = sv[1];
	c.srv = &srv;
	c.s = &s;
	c.sent = 0;
	c.next_barrier = 0;
	c.waiting = false;
	c.shut = false;
	c.piece = fuzz_pieces[FUZZ_MODE_PIECES(data[0])];
	c.msize = cfg.max_msize;
	c.rlen = 0;
	c.handles = 3;
	uv_poll_init(&loop, &c.poll, c.fd);
	uv_check_init(&loop, &c.check);
	uv_timer_init(&loop, &c.timer);
	c.poll.data = c.check.data = c.timer.data = &c;
	uv_check_start(&c.check, on_check);
	uv_poll_start(&c.poll, UV_READABLE | UV_WRITABLE, on_poll);

	uv_run(&loop, UV_RUN_DEFAULT);
	if (c.handles != 0)
		die("the loop ended before the client's handles closed");
	if (srv.conns)
		die("the loop ended with a connection still open");
	server_free(&srv);
	if (uv_loop_close(&loop) != 0) {
		uv_print_all_handles(&loop, stderr);
		die("uv_loop_close: handles left open after the server stopped");
	}
	return 0;
}
