/* libFuzzer target for the whole request path: framing, decoding,
 * dispatch, every operation against a real export, replies, disconnect and
 * shutdown.
 *
 * One in-process server (server_init with the process's config, four
 * exports of temporary directories: passthrough, mapped-xattr, read-only,
 * squash) lives across inputs, as a daemon lives across clients; building
 * and tearing down a server per input made the target three times slower.
 * Each input is one fresh client: a socketpair whose server end is adopted
 * with server_adopt_fds, as -l stdio does.  The harness drives the other end
 * from the server's libuv loop: it sends the frames the input describes (see
 * fuzz-server.h), reads every reply, then hangs up and runs the loop until
 * the server has forgotten the connection.
 *
 * Oracles, besides ASan/UBSan and LeakSanitizer: every reply decodes, is an
 * R-message no larger than the negotiated msize, Rlerror carries an errno;
 * after each input no connection, fid descriptor, lock wait, libuv handle
 * or file descriptor is left over (the server persists, so a leak would
 * otherwise go unseen until exit); and a canary directory next to the
 * exports is never changed.  Every FUZZ_RESET_EVERY inputs the server is
 * stopped and started again (state such as the user list must not drift
 * far from what one input can reproduce) and the export trees are rebuilt
 * in place; the canary and the export roots are checked then and at exit,
 * where everything is freed so that LeakSanitizer sees the whole server.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <uv.h>

#include "config/config.h"
#include "fuzz-server.h"
#include "np_client.h"
#include "proto/9p.h"
#include "server/log.h"
#include "server/server.h"

/* Inputs between two resets of the export trees and the server: often
 * enough that what one input created rarely matters for long, seldom
 * enough to stay fast (a reset takes about 5 ms, five inputs' time). */
#define FUZZ_RESET_EVERY 128
#define FUZZ_MAX_FRAMES 1024
/* A barrier ends as soon as the server has settled (server_settled); this
 * only bounds the wait should the harness ever miss that moment. */
#define FUZZ_BARRIER_MS 100
#define CANARY_TEXT "the fuzzer must never change this file\n"
#define NEXPORTS (sizeof(fuzz_exports) / sizeof(fuzz_exports[0]))

static char top[64];        /* /dev/shm or /tmp, ninepd-fuzz-XXXXXX */
static struct ninepd_config cfg;
static unsigned long runs;
static ino_t export_ino[NEXPORTS]; /* each export root, which must never be replaced */

/* The server every input talks to, and what it holds while no client is
 * connected: after each input the process must be back to this. */
static uv_loop_t loop;
static struct server srv;
static unsigned idle_handles; /* libuv handles of the idle server */
static unsigned idle_fds_but_pipes; /* its descriptors (count_fds_but_pipes) */

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
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
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

/* Empties an export root without replacing it: the server holds it open,
 * and a root the server no longer sees would hide every later bug. */
static void empty_root(const char *root)
{
	DIR *d = opendir(root);
	if (!d)
		die("an export root is gone");
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", root, e->d_name);
		np_rmtree(p);
	}
	closedir(d);
	/* Tsetattr and Txattrcreate on the root fid change the root itself
	 * (mapped-xattr keeps the guest's view of it in user.virtfs.*). */
	char names[4096];
	ssize_t n = llistxattr(root, names, sizeof(names));
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1)
		lremovexattr(root, names + off);
	if (chown(root, 0, 0) < 0)
		die("cannot chown an export root");
}

/* The exports are rebuilt where they are; nothing outside them, nor the
 * roots themselves, may have been changed. */
static void reset_exports(void)
{
	check_canary();
	for (size_t i = 0; i < NEXPORTS; i++) {
		char p[128];
		struct stat st;
		export_path(i, p, sizeof(p));
		if (export_ino[i] && (lstat(p, &st) < 0 || st.st_ino != export_ino[i]))
			die("an export root was removed or replaced");
		if (export_ino[i])
			empty_root(p);
		populate(p);
		if (!export_ino[i] && lstat(p, &st) == 0)
			export_ino[i] = st.st_ino;
	}
}

/* ---- the server's life ---- */

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	++*(unsigned *)arg;
}

static unsigned loop_handles(void)
{
	unsigned n = 0;
	uv_walk(&loop, count_handle, &n);
	return n;
}

/* How many descriptors the process holds (plus a constant: ".", ".." and
 * the directory's own descriptor).  It runs twice per input, so it reads a
 * directory kept open: two system calls instead of five. */
static int fd_dir = -1; /* count_fds' own descriptor of /proc/self/fd */

static unsigned count_fds(void)
{
	int dir = fd_dir;
	static uint64_t buf[8192]; /* 64 KiB: a thousand entries at a time */
	if (dir < 0 && (dir = fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die("cannot open /proc/self/fd");
	unsigned n = 0;
	lseek(dir, 0, SEEK_SET);
	for (;;) {
		long got = syscall(SYS_getdents64, dir, buf, sizeof(buf));
		if (got < 0)
			die("cannot list /proc/self/fd");
		const char *p = (const char *)buf;
		for (long off = 0; off < got; n++) {
			unsigned short reclen;
			memcpy(&reclen, p + off + 16, sizeof(reclen)); /* d_reclen */
			off += reclen;
		}
		/* A short answer was all there is: spare the call that returns 0. */
		if (got == 0 || (size_t)got < sizeof(buf) - 512)
			return n;
	}
}

/* The slow, exact count: descriptors that are not anonymous pipes, nor
 * the counters' own.  ninepd never makes a pipe, while the sanitizers'
 * runtime starts its symbolizer on two pipes whenever it first needs to
 * print a stack, at any moment, from any thread. */
static unsigned count_fds_but_pipes(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die("cannot open /proc/self/fd");
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		char link[64] = "", p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		if (readlink(p, link, sizeof(link) - 1) < 0)
			continue; /* closed meanwhile */
		if (fd != dirfd(d) && fd != fd_dir && strncmp(link, "pipe:", 5) != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Prints each descriptor with what it refers to. */
static void show_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char link[256] = "", p[300];
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		if (e->d_name[0] != '.' && readlink(p, link, sizeof(link) - 1) >= 0)
			fprintf(stderr, "  fd %s -> %s\n", e->d_name, link);
	}
	if (d)
		closedir(d);
}

static void server_start(void)
{
	if (server_init(&srv, &loop, &cfg))
		die("server_init");
	idle_handles = loop_handles();
	idle_fds_but_pipes = count_fds_but_pipes();
}

/* Stops the server as SIGTERM would and frees it; the loop stays. */
static void server_end(void)
{
	server_stop(&srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (srv.hub.conns || loop_handles() != 0) {
		uv_print_all_handles(&loop, stderr);
		die("handles left open after the server stopped");
	}
	server_free(&srv);
}

/* After an input, with its client gone: the server must hold exactly what
 * it held before (leaks would otherwise pile up unseen across inputs).
 * Descriptors are counted around each input, not against one baseline:
 * libFuzzer itself opens some between inputs (its symbolizer's pipes);
 * when the counts differ, the exact count without pipes decides. */
static void check_server_idle(unsigned idle_fds)
{
	if (srv.hub.nconns != 0)
		die("a connection outlived its client");
	if (srv.hub.fid_pool.open_fds != 0)
		die("fids of a closed connection still hold descriptors");
	if (srv.hub.lock_waiters || srv.hub.dirty)
		die("a request of a closed connection is still queued");
	if (loop_handles() != idle_handles) {
		uv_print_all_handles(&loop, stderr);
		die("a libuv handle outlived its connection");
	}
	unsigned fds = count_fds();
	/* The quick count differs: decide on the exact one. */
	if (fds != idle_fds && count_fds_but_pipes() != idle_fds_but_pipes) {
		fprintf(stderr,
			"fuzz-server: %u descriptors open after the input, %u before "
			"(%u, not %u, without pipes):\n",
			fds, idle_fds, count_fds_but_pipes(), idle_fds_but_pipes);
		show_fds();
		die("a descriptor outlived its connection");
	}
}

static void cleanup(void)
{
	server_end();
	if (uv_loop_close(&loop) != 0)
		die("uv_loop_close: the loop is still busy");
	check_canary();
	np_rmtree(top);
	config_free(&cfg);
}

/* The exports live on tmpfs when it takes user xattrs (mapped-xattr needs
 * them): every input creates and removes files, and on ext4 the inode
 * allocator and the journal took a third of the time. */
static void make_top(void)
{
	snprintf(top, sizeof(top), "/dev/shm/ninepd-fuzz-XXXXXX");
	if (mkdtemp(top)) {
		if (setxattr(top, "user.ninepd-fuzz", "1", 1, 0) == 0) {
			removexattr(top, "user.ninepd-fuzz");
			return;
		}
		rmdir(top);
	}
	snprintf(top, sizeof(top), "/tmp/ninepd-fuzz-XXXXXX");
	if (!mkdtemp(top))
		die("mkdtemp");
}

static void setup_once(void)
{
	/* FUZZ_SERVER_TRACE=1 prints every message, to see what an input does. */
	bool trace = getenv("FUZZ_SERVER_TRACE") != NULL;
	log_set_level(trace ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	make_top();
	chmod(top, 0755);
	char p[128];
	snprintf(p, sizeof(p), "%s/canary", top);
	mkdir(p, 0755);
	put_file(p, "keep", CANARY_TEXT);
	snprintf(p, sizeof(p), "%s/canary/keep", top);
	chmod(p, 0644);
	reset_exports();

	config_init(&cfg);
	for (size_t i = 0; i < NEXPORTS; i++) {
		char spec[512], err[256];
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
	/* Two workers, so that the requests of an input still run
	 * concurrently; four cost 20% of the executions in lock handoffs. */
	cfg.threads = 2;
	if (config_validate(&cfg, stderr) != 0)
		die("the configuration does not validate");
	if (uv_loop_init(&loop))
		die("uv_loop_init");
	/* libuv opens a reserve descriptor (for EMFILE) at a loop's first
	 * stream: open it now, or the first client would seem to leak it. */
	uv_pipe_t first;
	uv_pipe_init(&loop, &first, 0);
	uv_close((uv_handle_t *)&first, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	server_start();
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
	const struct stream *s;
	size_t sent;
	size_t next_barrier;   /* index into s->barriers */
	bool waiting;          /* at a barrier */
	bool shut;             /* SHUT_WR done */
	unsigned piece;        /* bytes per send, 0: as many as fit */
	unsigned pieces_left;  /* sends cut to piece bytes before sending whole */
	int events;            /* what the poll handle waits for */
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

/* Reads and checks what the server sent.  A read that does not fill the
 * buffer took everything there was: no second recv just to see EAGAIN
 * (system calls are most of what an input costs). */
static void client_read(struct client *c)
{
	for (;;) {
		if (c->rlen == sizeof(c->rbuf))
			die("a reply larger than the receive buffer");
		size_t room = sizeof(c->rbuf) - c->rlen;
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, MSG_DONTWAIT);
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
		if ((size_t)n < room)
			break;
	}
}

static uint32_t lock_waiters(const struct conn *conn)
{
	uint32_t n = 0;
	for (const struct req *r = srv.hub.lock_waiters; r; r = r->qnext)
		n += r->conn == conn;
	return n;
}

/* Whether the server has done all it can with what the client sent: every
 * reply written, no request left but blocking Tlocks (which wait for a
 * lock this very connection holds, so never end while it stays open), and
 * no byte left unread unless reading stopped behind those lock waits.  A
 * frame cut short stays in the server's buffer, waiting for bytes that do
 * not come before the barrier ends. */
static bool server_settled(const struct client *c)
{
	const struct conn *conn = srv.hub.conns;
	if (!conn)
		return true;
	if (conn->sendq_head || conn->write_bytes != 0 || conn->inflight != lock_waiters(conn))
		return false;
	/* Unread bytes in the socket are charged to the sender (SIOCOUTQ). */
	int unread = 0;
	ioctl(c->fd, SIOCOUTQ, &unread);
	return unread == 0 || !conn->reading;
}

static void on_barrier_timeout(uv_timer_t *t);

/* Where the current segment of the stream ends (the next barrier). */
static size_t segment_end(const struct client *c)
{
	return c->next_barrier < c->s->nbarriers ? c->s->barriers[c->next_barrier] : c->s->len;
}

/* Sends the current segment as far as the socket takes it, then waits at
 * the barrier or hangs up.  True if it must be called again once the
 * socket is writable: it was full, or the stream is being cut into
 * pieces, one per loop iteration. */
static bool client_write(struct client *c)
{
	size_t end;
next_segment:
	end = segment_end(c);
	while (c->sent < end) {
		size_t n = end - c->sent;
		bool cut = c->piece && c->pieces_left;
		if (cut && n > c->piece)
			n = c->piece;
		ssize_t w = send(c->fd, c->s->buf + c->sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return true;
		if (w < 0) { /* the server closed the connection: stop sending */
			c->sent = end = c->s->len;
			c->next_barrier = c->s->nbarriers;
			break;
		}
		c->sent += (size_t)w;
		if (cut) {
			c->pieces_left--;
			if (c->sent < end)
				return true;
		}
	}
	if (c->sent == end && c->next_barrier < c->s->nbarriers) {
		/* Nothing outstanding (a barrier right after another): go on at
		 * once, as no event would come to end the wait. */
		if (server_settled(c)) {
			c->next_barrier++;
			goto next_segment;
		}
		c->waiting = true;
		uv_timer_start(&c->timer, on_barrier_timeout, FUZZ_BARRIER_MS, 0);
	} else if (c->sent == c->s->len && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	return false;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Each uv_poll_start costs epoll_ctl calls, even for the same events:
 * only call it when they change. */
static void client_poll(struct client *c, int events)
{
	if (events == c->events)
		return;
	c->events = events;
	uv_poll_start(&c->poll, events, on_poll);
}

/* Writes what it can; polls for writability only while that is needed,
 * not at every loop iteration. */
static void client_send(struct client *c)
{
	bool more = client_write(c);
	client_poll(c, UV_READABLE | (more ? UV_WRITABLE : 0));
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
		client_send(c);
}

static void end_barrier(struct client *c)
{
	c->waiting = false;
	c->next_barrier++;
	uv_timer_stop(&c->timer);
	client_send(c);
}

/* After each loop iteration: a barrier ends once the server has settled. */
static void on_check(uv_check_t *h)
{
	struct client *c = h->data;
	if (c->waiting && !uv_is_closing((uv_handle_t *)&c->poll) && server_settled(c))
		end_barrier(c);
}

static void on_barrier_timeout(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->waiting && !uv_is_closing((uv_handle_t *)&c->poll))
		end_barrier(c);
}

/* Connects a fresh client to the server and runs the loop until both the
 * client and the server's side of the connection are gone. */
static void run_client(const struct stream *s, uint8_t mode)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	if (server_adopt_fds(&srv, sv[0], sv[0], false))
		die("server_adopt_fds");

	static struct client c;
	c.fd = sv[1];
	c.s = s;
	c.sent = 0;
	c.next_barrier = 0;
	c.waiting = false;
	c.shut = false;
	c.piece = fuzz_pieces[FUZZ_MODE_PIECES(mode)];
	c.pieces_left = FUZZ_MAX_PIECES;
	c.msize = cfg.max_msize;
	c.rlen = 0;
	c.handles = 3;
	uv_poll_init(&loop, &c.poll, c.fd);
	uv_check_init(&loop, &c.check);
	uv_timer_init(&loop, &c.timer);
	c.poll.data = c.check.data = c.timer.data = &c;
	uv_check_start(&c.check, on_check);
	c.events = 0;
	client_send(&c);

	/* The server's own handles keep the loop alive: run it one iteration
	 * at a time until this client is done with. */
	while (c.handles != 0 || srv.hub.nconns != 0)
		uv_run(&loop, UV_RUN_ONCE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!top[0])
		setup_once();
	if (size < 1)
		return 0;
	if (++runs % FUZZ_RESET_EVERY == 0) {
		server_end();
		reset_exports();
		server_start();
	}

	static struct stream s;
	s.len = 0;
	s.nbarriers = 0;
	build_stream(&s, data, size);
	unsigned fds = count_fds();
	run_client(&s, data[0]);
	check_server_idle(fds);
	return 0;
}
