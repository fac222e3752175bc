/* A small synchronous 9P2000.L client for tests and benchmarks; see
 * np_client.h for the contract. */
#include "np_client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define NP_CLIENT_MAX_BUF (64u << 20) /* largest msize the client will honour */
#define NP_CLIENT_FIRST_FID 1000

/* --- buffers and transport ----------------------------------------------- */

static int grow(uint8_t **buf, size_t *cap, size_t want)
{
	if (want <= *cap)
		return 0;
	if (want > NP_CLIENT_MAX_BUF + 64)
		return -EMSGSIZE;
	uint8_t *p = realloc(*buf, want);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = want;
	return 0;
}

/* The client's buffers hold a frame of msize bytes plus slack. */
static int size_buffers(struct np_client *c, uint32_t msize)
{
	int err = grow(&c->rbuf, &c->rcap, (size_t)msize + 64);
	if (err == 0)
		err = grow(&c->sbuf, &c->scap, (size_t)msize + 64);
	return err;
}

int np_client_from_fd(struct np_client **out, int fd)
{
	*out = NULL;
	struct np_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->msize = NP_CLIENT_MSIZE;
	c->timeout_ms = NP_CLIENT_TIMEOUT_MS;
	c->next_fid = NP_CLIENT_FIRST_FID;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    size_buffers(c, NP_CLIENT_MSIZE) < 0) {
		int err = errno ? -errno : -ENOMEM;
		free(c->rbuf);
		free(c->sbuf);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int connect_tcp(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	/* "[::1]:564" */
	char *h = host;
	if (h[0] == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(h, colon + 1, &hints, &res) != 0)
		return -EHOSTUNREACH;
	int err = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			/* Requests are small and latency-bound: no Nagle. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return fd;
		}
		err = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return err;
}

/* "CID:PORT", both decimal; vsock's own connect timeout (2 s) applies. */
static int connect_vsock(const char *cidport)
{
	unsigned cid, port;
	int used = 0;
	if (sscanf(cidport, "%u:%u%n", &cid, &port, &used) != 2 || cidport[used] != '\0')
		return -EINVAL;
	struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Returns a connected fd or -errno. */
static int connect_addr(const char *addr)
{
	if (strncmp(addr, "unix:", 5) == 0)
		return connect_unix(addr + 5);
	if (strncmp(addr, "tcp:", 4) == 0)
		return connect_tcp(addr + 4);
	if (strncmp(addr, "vsock:", 6) == 0)
		return connect_vsock(addr + 6);
	return -EINVAL;
}

int np_client_connect(struct np_client **out, const char *addr)
{
	*out = NULL;
	int fd = connect_addr(addr);
	if (fd < 0)
		return fd;
	int err = np_client_from_fd(out, fd);
	if (err < 0)
		close(fd);
	return err;
}

void np_client_close(struct np_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->rbuf);
	free(c->sbuf);
	free(c);
}

uint32_t np_fid_new(struct np_client *c)
{
	return c->next_fid++;
}

uint16_t np_tag_new(struct np_client *c)
{
	if (c->next_tag == NP_NOTAG)
		c->next_tag = 0;
	return c->next_tag++;
}

static int wait_fd(struct np_client *c, short events)
{
	struct pollfd p = {.fd = c->fd, .events = events};
	int n;
	do
		n = poll(&p, 1, c->timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int np_send_raw(struct np_client *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int err = wait_fd(c, POLLOUT);
				if (err < 0)
					return err;
				continue;
			}
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Encode into the send buffer, growing it for frames beyond msize. */
static int encode(const struct np_msg *m, uint8_t *at, size_t cap)
{
	int n = np_encode(m, at, cap);
	return n == NP_E_NO_SPACE ? -ENOSPC : n < 0 ? -EINVAL : n;
}

int np_send(struct np_client *c, const struct np_msg *m)
{
	for (;;) {
		int n = encode(m, c->sbuf, c->scap);
		if (n >= 0)
			return np_send_raw(c, c->sbuf, (size_t)n);
		if (n != -ENOSPC)
			return n;
		int err = grow(&c->sbuf, &c->scap, c->scap * 2);
		if (err < 0)
			return err;
	}
}

/* Move a partial frame to the front to make room for reading. */
static void compact(struct np_client *c)
{
	if (c->rstart == 0)
		return;
	memmove(c->rbuf, c->rbuf + c->rstart, c->rlen - c->rstart);
	c->rlen -= c->rstart;
	c->rstart = 0;
}

/* Decode a complete buffered frame: 1 when *m was filled, 0 when more bytes
 * are needed, -EPROTO on a frame that cannot be decoded.  Releases the frame
 * handed out before. */
static int take_frame(struct np_client *c, struct np_msg *m)
{
	c->rstart += c->rconsumed;
	c->rconsumed = 0;
	size_t avail = c->rlen - c->rstart;
	const uint8_t *p = c->rbuf + c->rstart;
	if (avail < 4)
		return 0;
	uint32_t size = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			(uint32_t)p[3] << 24;
	if (size < NP_HDRSZ || size > c->rcap)
		return -EPROTO;
	if (avail < size)
		return 0;
	c->last_frame_size = size;
	c->rconsumed = size;
	return np_decode(p, size, (uint32_t)c->rcap, m) < 0 ? -EPROTO : 1;
}

/* Read what is available (after waiting up to the timeout when block). */
static int read_some(struct np_client *c, bool block)
{
	compact(c);
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n > 0) {
			c->rlen += (size_t)n;
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -errno;
		if (!block)
			return 0;
		int err = wait_fd(c, POLLIN);
		if (err < 0)
			return err;
	}
}

int np_recv(struct np_client *c, struct np_msg *m)
{
	for (;;) {
		int r = take_frame(c, m);
		if (r != 0)
			return r < 0 ? r : 0;
		r = read_some(c, true);
		if (r < 0)
			return r;
	}
}

static int reply_status(const struct np_msg *t, const struct np_msg *r)
{
	if (r->type == NP_RLERROR)
		return r->u.rlerror.ecode ? -(int)r->u.rlerror.ecode : -EPROTO;
	return r->type == t->type + 1 ? 0 : -EPROTO;
}

int np_rpc(struct np_client *c, struct np_msg *t, struct np_msg *r)
{
	t->tag = t->type == NP_TVERSION ? NP_NOTAG : np_tag_new(c);
	int err = np_send(c, t);
	if (err == 0)
		err = np_recv(c, r);
	if (err < 0)
		return err;
	if (r->tag != t->tag)
		return -EPROTO;
	return reply_status(t, r);
}

int np_pipeline(struct np_client *c, struct np_msg *reqs, size_t n, size_t window,
		np_reply_fn fn, void *arg)
{
	if (window == 0 || window > 0xFFFF)
		window = 0xFFFF;
	/* Tags 0..window-1; owner[tag] is the request index using it. */
	size_t *owner = malloc(window * sizeof(*owner));
	uint16_t *free_tags = malloc(window * sizeof(*free_tags));
	if (!owner || !free_tags) {
		free(owner);
		free(free_tags);
		return -ENOMEM;
	}
	size_t nfree = 0;
	for (size_t t = window; t-- > 0;)
		free_tags[nfree++] = (uint16_t)t;
	for (size_t t = 0; t < window; t++)
		owner[t] = SIZE_MAX;

	size_t sent = 0, done = 0, out_off = 0, out_len = 0;
	int err = 0;
	while (done < n && err == 0) {
		/* Refill the send buffer with as many requests as fit. */
		if (out_off == out_len) {
			out_off = out_len = 0;
			while (sent < n && nfree > 0) {
				reqs[sent].tag = free_tags[nfree - 1];
				int len = encode(&reqs[sent], c->sbuf + out_len,
						 c->scap - out_len);
				if (len == -ENOSPC && out_len > 0)
					break;
				if (len < 0) {
					err = len;
					break;
				}
				owner[reqs[sent].tag] = sent;
				nfree--;
				out_len += (size_t)len;
				sent++;
			}
			if (err < 0)
				break;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (out_off < out_len)
			p.events |= POLLOUT;
		int pn = poll(&p, 1, c->timeout_ms);
		if (pn < 0 && errno == EINTR)
			continue;
		if (pn <= 0) {
			err = pn == 0 ? -ETIMEDOUT : -errno;
			break;
		}
		if (p.revents & POLLOUT) {
			ssize_t w = send(c->fd, c->sbuf + out_off, out_len - out_off, MSG_NOSIGNAL);
			if (w > 0)
				out_off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				err = -ECONNRESET;
		}
		if (err == 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			err = read_some(c, false);
			struct np_msg m;
			int r;
			while (err == 0 && (r = take_frame(c, &m)) != 0) {
				if (r < 0 || m.tag >= window || owner[m.tag] == SIZE_MAX) {
					err = -EPROTO;
					break;
				}
				size_t idx = owner[m.tag];
				owner[m.tag] = SIZE_MAX;
				free_tags[nfree++] = m.tag;
				done++;
				err = fn(arg, idx, &m);
			}
		}
	}
	free(owner);
	free(free_tags);
	return err;
}

/* --- one call per operation ---------------------------------------------- */

static void copy_str(char *dst, size_t cap, struct np_str s)
{
	if (!dst || cap == 0)
		return;
	size_t n = s.len < cap - 1 ? s.len : cap - 1;
	memcpy(dst, s.s, n);
	dst[n] = '\0';
}

int np_version(struct np_client *c, uint32_t msize, const char *version,
	       uint32_t *msize_out, char *version_out, size_t version_cap)
{
	struct np_msg t = {.type = NP_TVERSION}, r;
	t.u.tversion.msize = msize;
	t.u.tversion.version = np_str_c(version);
	int err = np_rpc(c, &t, &r);
	if (err < 0)
		return err;
	uint32_t got = r.u.rversion.msize;
	bool dotl = r.u.rversion.version.len == strlen(NP_VERSION_9P2000L) &&
		    memcmp(r.u.rversion.version.s, NP_VERSION_9P2000L, r.u.rversion.version.len) == 0;
	copy_str(version_out, version_cap, r.u.rversion.version);
	if (msize_out)
		*msize_out = got;
	if (dotl) {
		err = size_buffers(c, got);
		if (err < 0)
			return err;
		c->msize = got;
	}
	return 0;
}

int np_auth(struct np_client *c, uint32_t afid, const char *uname, const char *aname,
	    uint32_t n_uname, struct np_qid *aqid)
{
	struct np_msg t = {.type = NP_TAUTH}, r;
	t.u.tauth.afid = afid;
	t.u.tauth.uname = np_str_c(uname);
	t.u.tauth.aname = np_str_c(aname);
	t.u.tauth.n_uname = n_uname;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && aqid)
		*aqid = r.u.rauth.qid;
	return err;
}

int np_attach(struct np_client *c, uint32_t fid, uint32_t afid, const char *uname,
	      const char *aname, uint32_t n_uname, struct np_qid *qid)
{
	struct np_msg t = {.type = NP_TATTACH}, r;
	t.u.tattach.fid = fid;
	t.u.tattach.afid = afid;
	t.u.tattach.uname = np_str_c(uname);
	t.u.tattach.aname = np_str_c(aname);
	t.u.tattach.n_uname = n_uname;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rattach.qid;
	return err;
}

int np_walk(struct np_client *c, uint32_t fid, uint32_t newfid, uint16_t nwname,
	    const char *const names[], uint16_t *nwqid, struct np_qid *qids)
{
	if (nwname > NP_MAXWELEM)
		return -EINVAL;
	struct np_msg t = {.type = NP_TWALK}, r;
	t.u.twalk.fid = fid;
	t.u.twalk.newfid = newfid;
	t.u.twalk.nwname = nwname;
	for (uint16_t i = 0; i < nwname; i++)
		t.u.twalk.wnames[i] = np_str_c(names[i]);
	int err = np_rpc(c, &t, &r);
	if (err < 0)
		return err;
	if (r.u.rwalk.nwqid > nwname)
		return -EPROTO;
	if (nwqid)
		*nwqid = r.u.rwalk.nwqid;
	if (qids)
		memcpy(qids, r.u.rwalk.wqids, r.u.rwalk.nwqid * sizeof(*qids));
	return 0;
}

int np_walk_path(struct np_client *c, uint32_t fid, uint32_t newfid, const char *path,
		 struct np_qid *qid)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	const char *names[NP_MAXWELEM];
	struct np_qid qids[NP_MAXWELEM];
	uint16_t n = 0, got = 0;
	uint32_t from = fid;
	bool first = true;
	int err = 0;
	char *save = NULL;
	char *name = strtok_r(copy, "/", &save);
	for (;;) {
		if (name)
			names[n++] = name;
		name = name ? strtok_r(NULL, "/", &save) : NULL;
		if (n < NP_MAXWELEM && name)
			continue;
		/* A chunk of up to 16 names is ready (or the path is exhausted). */
		if (n == 0 && !first)
			break;
		err = np_walk(c, from, newfid, n, names, &got, qids);
		if (err == 0 && got < n)
			err = -ENOENT;
		if (err < 0) {
			if (!first)
				np_clunk(c, newfid);
			break;
		}
		if (qid && n > 0)
			*qid = qids[n - 1];
		first = false;
		from = newfid;
		n = 0;
		if (!name)
			break;
	}
	if (err == 0 && qid && path[strspn(path, "/")] == '\0') {
		/* A pure clone reports the qid of what was cloned. */
		struct np_attr a;
		err = np_getattr(c, newfid, NP_GETATTR_BASIC, &a);
		if (err == 0)
			*qid = a.qid;
		else
			np_clunk(c, newfid);
	}
	free(copy);
	return err;
}

int np_lopen(struct np_client *c, uint32_t fid, uint32_t flags, struct np_qid *qid,
	     uint32_t *iounit)
{
	struct np_msg t = {.type = NP_TLOPEN}, r;
	t.u.tlopen.fid = fid;
	t.u.tlopen.flags = flags;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rlopen.qid;
	if (err == 0 && iounit)
		*iounit = r.u.rlopen.iounit;
	return err;
}

int np_lcreate(struct np_client *c, uint32_t fid, const char *name, uint32_t flags,
	       uint32_t mode, uint32_t gid, struct np_qid *qid, uint32_t *iounit)
{
	struct np_msg t = {.type = NP_TLCREATE}, r;
	t.u.tlcreate.fid = fid;
	t.u.tlcreate.name = np_str_c(name);
	t.u.tlcreate.flags = flags;
	t.u.tlcreate.mode = mode;
	t.u.tlcreate.gid = gid;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rlcreate.qid;
	if (err == 0 && iounit)
		*iounit = r.u.rlcreate.iounit;
	return err;
}

/* Shared by Tread and Treaddir: both reply count[4] data. */
static int read_like(struct np_client *c, uint8_t type, uint32_t fid, uint64_t offset,
		     uint32_t count, void *buf, uint32_t *got)
{
	struct np_msg t = {.type = type}, r;
	t.u.tread.fid = fid;
	t.u.tread.offset = offset;
	t.u.tread.count = count;
	int err = np_rpc(c, &t, &r);
	if (err < 0)
		return err;
	if (r.u.rread.count > count)
		return -EPROTO;
	if (buf)
		memcpy(buf, r.u.rread.data, r.u.rread.count);
	if (got)
		*got = r.u.rread.count;
	return 0;
}

int np_read(struct np_client *c, uint32_t fid, uint64_t offset, uint32_t count,
	    void *buf, uint32_t *got)
{
	return read_like(c, NP_TREAD, fid, offset, count, buf, got);
}

int np_write(struct np_client *c, uint32_t fid, uint64_t offset, const void *data,
	     uint32_t count, uint32_t *written)
{
	struct np_msg t = {.type = NP_TWRITE}, r;
	t.u.twrite.fid = fid;
	t.u.twrite.offset = offset;
	t.u.twrite.count = count;
	t.u.twrite.data = data;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && written)
		*written = r.u.rwrite.count;
	return err;
}

/* Requests whose only argument is a fid and whose reply is empty. */
static int fid_op(struct np_client *c, uint8_t type, uint32_t fid)
{
	struct np_msg t = {.type = type}, r;
	t.u.tclunk.fid = fid;
	return np_rpc(c, &t, &r);
}

int np_clunk(struct np_client *c, uint32_t fid)
{
	return fid_op(c, NP_TCLUNK, fid);
}

int np_remove(struct np_client *c, uint32_t fid)
{
	return fid_op(c, NP_TREMOVE, fid);
}

int np_statfs(struct np_client *c, uint32_t fid, struct np_statfs *st)
{
	struct np_msg t = {.type = NP_TSTATFS}, r;
	t.u.tstatfs.fid = fid;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && st)
		*st = r.u.rstatfs;
	return err;
}

int np_symlink(struct np_client *c, uint32_t dfid, const char *name, const char *target,
	       uint32_t gid, struct np_qid *qid)
{
	struct np_msg t = {.type = NP_TSYMLINK}, r;
	t.u.tsymlink.dfid = dfid;
	t.u.tsymlink.name = np_str_c(name);
	t.u.tsymlink.target = np_str_c(target);
	t.u.tsymlink.gid = gid;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rsymlink.qid;
	return err;
}

int np_mknod(struct np_client *c, uint32_t dfid, const char *name, uint32_t mode,
	     uint32_t major, uint32_t minor, uint32_t gid, struct np_qid *qid)
{
	struct np_msg t = {.type = NP_TMKNOD}, r;
	t.u.tmknod.dfid = dfid;
	t.u.tmknod.name = np_str_c(name);
	t.u.tmknod.mode = mode;
	t.u.tmknod.major = major;
	t.u.tmknod.minor = minor;
	t.u.tmknod.gid = gid;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rmknod.qid;
	return err;
}

int np_rename(struct np_client *c, uint32_t fid, uint32_t dfid, const char *name)
{
	struct np_msg t = {.type = NP_TRENAME}, r;
	t.u.trename.fid = fid;
	t.u.trename.dfid = dfid;
	t.u.trename.name = np_str_c(name);
	return np_rpc(c, &t, &r);
}

int np_renameat(struct np_client *c, uint32_t olddirfid, const char *oldname,
		uint32_t newdirfid, const char *newname)
{
	struct np_msg t = {.type = NP_TRENAMEAT}, r;
	t.u.trenameat.olddirfid = olddirfid;
	t.u.trenameat.oldname = np_str_c(oldname);
	t.u.trenameat.newdirfid = newdirfid;
	t.u.trenameat.newname = np_str_c(newname);
	return np_rpc(c, &t, &r);
}

int np_readlink(struct np_client *c, uint32_t fid, char *buf, size_t cap)
{
	struct np_msg t = {.type = NP_TREADLINK}, r;
	t.u.treadlink.fid = fid;
	int err = np_rpc(c, &t, &r);
	if (err < 0)
		return err;
	if (r.u.rreadlink.target.len >= cap)
		return -ENAMETOOLONG;
	copy_str(buf, cap, r.u.rreadlink.target);
	return 0;
}

int np_getattr(struct np_client *c, uint32_t fid, uint64_t mask, struct np_attr *attr)
{
	struct np_msg t = {.type = NP_TGETATTR}, r;
	t.u.tgetattr.fid = fid;
	t.u.tgetattr.request_mask = mask;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && attr)
		*attr = r.u.rgetattr;
	return err;
}

int np_setattr(struct np_client *c, uint32_t fid, const struct np_setattr *sa)
{
	struct np_msg t = {.type = NP_TSETATTR}, r;
	t.u.tsetattr.fid = fid;
	t.u.tsetattr.valid = sa->valid;
	t.u.tsetattr.mode = sa->mode;
	t.u.tsetattr.uid = sa->uid;
	t.u.tsetattr.gid = sa->gid;
	t.u.tsetattr.size = sa->size;
	t.u.tsetattr.atime_sec = sa->atime_sec;
	t.u.tsetattr.atime_nsec = sa->atime_nsec;
	t.u.tsetattr.mtime_sec = sa->mtime_sec;
	t.u.tsetattr.mtime_nsec = sa->mtime_nsec;
	return np_rpc(c, &t, &r);
}

int np_xattrwalk(struct np_client *c, uint32_t fid, uint32_t newfid, const char *name,
		 uint64_t *size)
{
	struct np_msg t = {.type = NP_TXATTRWALK}, r;
	t.u.txattrwalk.fid = fid;
	t.u.txattrwalk.newfid = newfid;
	t.u.txattrwalk.name = np_str_c(name);
	int err = np_rpc(c, &t, &r);
	if (err == 0 && size)
		*size = r.u.rxattrwalk.size;
	return err;
}

int np_xattrcreate(struct np_client *c, uint32_t fid, const char *name, uint64_t size,
		   uint32_t flags)
{
	struct np_msg t = {.type = NP_TXATTRCREATE}, r;
	t.u.txattrcreate.fid = fid;
	t.u.txattrcreate.name = np_str_c(name);
	t.u.txattrcreate.attr_size = size;
	t.u.txattrcreate.flags = flags;
	return np_rpc(c, &t, &r);
}

int np_xattr_get(struct np_client *c, uint32_t fid, const char *name, void *buf, size_t cap)
{
	uint32_t xfid = np_fid_new(c);
	uint64_t size;
	int err = np_xattrwalk(c, fid, xfid, name, &size);
	if (err < 0)
		return err;
	if (size > INT32_MAX || (buf && size > cap)) {
		np_clunk(c, xfid);
		return -ERANGE;
	}
	uint64_t off = 0;
	while (buf && off < size) {
		uint32_t chunk = np_max_io(c->msize), got;
		if (chunk > size - off)
			chunk = (uint32_t)(size - off);
		err = np_read(c, xfid, off, chunk, (uint8_t *)buf + off, &got);
		if (err < 0)
			break;
		if (got == 0) {
			err = -EPROTO; /* the value is shorter than announced */
			break;
		}
		off += got;
	}
	int cerr = np_clunk(c, xfid);
	if (err == 0)
		err = cerr;
	return err < 0 ? err : (int)size;
}

int np_xattr_set(struct np_client *c, uint32_t fid, const char *name, const void *value,
		 size_t size, uint32_t flags)
{
	uint32_t xfid = np_fid_new(c);
	int err = np_walk(c, fid, xfid, 0, NULL, NULL, NULL);
	if (err < 0)
		return err;
	err = np_xattrcreate(c, xfid, name, size, flags);
	if (err < 0) {
		np_clunk(c, xfid);
		return err;
	}
	size_t off = 0;
	uint32_t room = c->msize - NP_HDRSZ - 4 - 8 - 4 - 1;
	while (off < size) {
		uint32_t chunk = size - off < room ? (uint32_t)(size - off) : room, got;
		err = np_write(c, xfid, off, (const uint8_t *)value + off, chunk, &got);
		if (err == 0 && got == 0)
			err = -EIO;
		if (err < 0) {
			np_clunk(c, xfid);
			return err;
		}
		off += got;
	}
	return np_clunk(c, xfid);
}

int np_readdir(struct np_client *c, uint32_t fid, uint64_t offset, uint32_t count,
	       void *buf, uint32_t *got)
{
	return read_like(c, NP_TREADDIR, fid, offset, count, buf, got);
}

int np_readdir_all(struct np_client *c, uint32_t fid, uint32_t count, np_dirent_fn fn,
		   void *arg)
{
	uint8_t *buf = malloc(count ? count : 1);
	if (!buf)
		return -ENOMEM;
	uint64_t offset = 0;
	int err = 0;
	for (;;) {
		uint32_t got, pos = 0;
		err = np_readdir(c, fid, offset, count, buf, &got);
		if (err < 0 || got == 0)
			break;
		struct np_dirent d;
		int r, entries = 0;
		while (err == 0 && (r = np_dirent_next(buf, got, &pos, &d)) == 1) {
			entries++;
			offset = d.offset;
			err = fn(arg, &d);
		}
		if (err == 0 && (r < 0 || entries == 0))
			err = -EPROTO; /* a non-empty reply that holds no entry */
		if (err != 0)
			break;
	}
	free(buf);
	return err;
}

int np_fsync(struct np_client *c, uint32_t fid, uint32_t datasync)
{
	struct np_msg t = {.type = NP_TFSYNC}, r;
	t.u.tfsync.fid = fid;
	t.u.tfsync.datasync = datasync;
	return np_rpc(c, &t, &r);
}

int np_send_blocking_lock(struct np_client *c, uint32_t fid, uint16_t tag, uint32_t proc_id)
{
	struct np_msg m = {.type = NP_TLOCK, .tag = tag};
	m.u.tlock.fid = fid;
	m.u.tlock.type = NP_LOCK_TYPE_WRLCK;
	m.u.tlock.flags = NP_LOCK_FLAGS_BLOCK;
	m.u.tlock.proc_id = proc_id;
	m.u.tlock.client_id = np_str_c("waiter");
	return np_send(c, &m);
}

int np_lock(struct np_client *c, uint32_t fid, uint8_t type, uint32_t flags, uint64_t start,
	    uint64_t length, uint32_t proc_id, const char *client_id, uint8_t *status)
{
	struct np_msg t = {.type = NP_TLOCK}, r;
	t.u.tlock.fid = fid;
	t.u.tlock.type = type;
	t.u.tlock.flags = flags;
	t.u.tlock.start = start;
	t.u.tlock.length = length;
	t.u.tlock.proc_id = proc_id;
	t.u.tlock.client_id = np_str_c(client_id);
	int err = np_rpc(c, &t, &r);
	if (err == 0 && status)
		*status = r.u.rlock.status;
	return err;
}

int np_getlock(struct np_client *c, uint32_t fid, struct np_getlock *gl)
{
	struct np_msg t = {.type = NP_TGETLOCK}, r;
	t.u.tgetlock.fid = fid;
	t.u.tgetlock.type = gl->type;
	t.u.tgetlock.start = gl->start;
	t.u.tgetlock.length = gl->length;
	t.u.tgetlock.proc_id = gl->proc_id;
	t.u.tgetlock.client_id = np_str_c(gl->client_id);
	int err = np_rpc(c, &t, &r);
	if (err < 0)
		return err;
	gl->type = r.u.rgetlock.type;
	gl->start = r.u.rgetlock.start;
	gl->length = r.u.rgetlock.length;
	gl->proc_id = r.u.rgetlock.proc_id;
	copy_str(gl->client_id, sizeof(gl->client_id), r.u.rgetlock.client_id);
	return 0;
}

int np_link(struct np_client *c, uint32_t dfid, uint32_t fid, const char *name)
{
	struct np_msg t = {.type = NP_TLINK}, r;
	t.u.tlink.dfid = dfid;
	t.u.tlink.fid = fid;
	t.u.tlink.name = np_str_c(name);
	return np_rpc(c, &t, &r);
}

int np_mkdir(struct np_client *c, uint32_t dfid, const char *name, uint32_t mode,
	     uint32_t gid, struct np_qid *qid)
{
	struct np_msg t = {.type = NP_TMKDIR}, r;
	t.u.tmkdir.dfid = dfid;
	t.u.tmkdir.name = np_str_c(name);
	t.u.tmkdir.mode = mode;
	t.u.tmkdir.gid = gid;
	int err = np_rpc(c, &t, &r);
	if (err == 0 && qid)
		*qid = r.u.rmkdir.qid;
	return err;
}

int np_unlinkat(struct np_client *c, uint32_t dirfid, const char *name, uint32_t flags)
{
	struct np_msg t = {.type = NP_TUNLINKAT}, r;
	t.u.tunlinkat.dirfid = dirfid;
	t.u.tunlinkat.name = np_str_c(name);
	t.u.tunlinkat.flags = flags;
	return np_rpc(c, &t, &r);
}

int np_flush(struct np_client *c, uint16_t oldtag)
{
	struct np_msg t = {.type = NP_TFLUSH, .tag = np_tag_new(c)}, r;
	t.u.tflush.oldtag = oldtag;
	int err = np_send(c, &t);
	while (err == 0) {
		err = np_recv(c, &r);
		if (err == 0 && r.tag == t.tag)
			return reply_status(&t, &r);
	}
	return err;
}

int np_open(struct np_client *c, uint32_t dirfid, const char *path, uint32_t flags,
	    uint32_t *fid)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, dirfid, f, path, NULL);
	if (err < 0)
		return err;
	err = np_lopen(c, f, flags, NULL, NULL);
	if (err < 0) {
		np_clunk(c, f);
		return err;
	}
	*fid = f;
	return 0;
}

int np_session(struct np_client **out, const char *addr, uint32_t msize, const char *aname,
	       uint32_t n_uname, uint32_t rootfid)
{
	struct np_client *c;
	char version[32];
	int err = np_client_connect(&c, addr);
	if (err < 0) {
		*out = NULL;
		return err;
	}
	err = np_version(c, msize, NP_VERSION_9P2000L, NULL, version, sizeof(version));
	if (err == 0 && strcmp(version, NP_VERSION_9P2000L) != 0)
		err = -EPROTO;
	if (err == 0)
		err = np_attach(c, rootfid, NP_NOFID, n_uname == 0 ? "root" : "nobody", aname,
				n_uname, NULL);
	if (err < 0) {
		np_client_close(c);
		c = NULL;
	}
	*out = c;
	return err;
}

/* --- the daemon under test ----------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The first listen address in argv ("-l A", "--listen A", "--listen=A"). */
static const char *listen_addr(const char *const argv[])
{
	for (size_t i = 0; argv[i]; i++) {
		if ((strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--listen") == 0) && argv[i + 1])
			return argv[i + 1];
		if (strncmp(argv[i], "--listen=", 9) == 0)
			return argv[i] + 9;
	}
	return NULL;
}

static int spawn(struct np_daemon *d, const char *const argv[])
{
	const char *bin = getenv("NINEPD");
	memset(d, 0, sizeof(*d));
	d->stdio_fd = -1;
	if (!bin)
		return -ENOENT;
	const char *addr = listen_addr(argv);
	if (addr)
		snprintf(d->addr, sizeof(d->addr), "%s", addr);

	snprintf(d->log_path, sizeof(d->log_path), "/tmp/ninepd-log-XXXXXX");
	int logfd = mkstemp(d->log_path);
	if (logfd < 0)
		return -errno;
	int sp[2] = {-1, -1};
	if (addr && strcmp(addr, "stdio") == 0 &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		int err = -errno;
		close(logfd);
		return err;
	}
	size_t argc = 0;
	while (argv[argc])
		argc++;
	const char **full = calloc(argc + 2, sizeof(*full));
	if (!full) {
		close(logfd);
		return -ENOMEM;
	}
	full[0] = bin;
	memcpy(full + 1, argv, argc * sizeof(*full));

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* The daemon must not outlive a test that crashed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int in = sp[1] >= 0 ? sp[1] : open("/dev/null", O_RDONLY);
		dup2(in, 0);
		dup2(sp[1] >= 0 ? sp[1] : logfd, 1);
		dup2(logfd, 2);
		closefrom(3);
		execv(bin, (char *const *)full);
		dprintf(2, "np_daemon: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	int err = pid < 0 ? -errno : 0;
	free(full);
	close(logfd);
	if (sp[1] >= 0)
		close(sp[1]);
	if (err < 0) {
		if (sp[0] >= 0)
			close(sp[0]);
		return err;
	}
	d->pid = pid;
	d->stdio_fd = sp[0];
	return 0;
}

/* Reap the daemon if it exited; true if it did (status in d). */
static bool reap(struct np_daemon *d, bool block)
{
	if (d->reaped)
		return true;
	if (d->pid <= 0)
		return false;
	int st;
	pid_t r;
	do
		r = waitpid(d->pid, &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r != d->pid)
		return false;
	d->status = st;
	d->reaped = true;
	return true;
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -EIO;
}

int np_daemon_start(struct np_daemon *d, const char *const argv[])
{
	int err = spawn(d, argv);
	if (err < 0 || d->stdio_fd >= 0 || d->addr[0] == '\0')
		return err;
	long deadline = now_ms() + 10000;
	while (now_ms() < deadline) {
		int fd = connect_addr(d->addr);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (reap(d, false)) {
			d->pid = 0;
			return -ECHILD;
		}
		sleep_ms(10);
	}
	np_daemon_stop(d);
	return -ETIMEDOUT;
}

int np_daemon_wait(struct np_daemon *d, int timeout_ms)
{
	if (d->pid <= 0)
		return -ECHILD;
	long deadline = now_ms() + timeout_ms;
	while (!reap(d, false)) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(5);
	}
	d->pid = 0;
	if (d->stdio_fd >= 0)
		close(d->stdio_fd);
	d->stdio_fd = -1;
	return exit_code(d->status);
}

int np_daemon_run(struct np_daemon *d, const char *const argv[], int timeout_ms)
{
	int err = spawn(d, argv);
	if (err < 0)
		return err;
	err = np_daemon_wait(d, timeout_ms);
	return err == -ETIMEDOUT ? np_daemon_stop(d) : err;
}

bool np_daemon_alive(struct np_daemon *d)
{
	return d->pid > 0 && !reap(d, false);
}

int np_daemon_stop(struct np_daemon *d)
{
	if (d->stdio_fd >= 0) {
		close(d->stdio_fd);
		d->stdio_fd = -1;
	}
	if (d->pid <= 0)
		return -ECHILD;
	if (!reap(d, false)) {
		kill(d->pid, SIGTERM);
		long deadline = now_ms() + 10000;
		while (!reap(d, false) && now_ms() < deadline)
			sleep_ms(5);
		if (!d->reaped) {
			kill(d->pid, SIGKILL);
			reap(d, true);
		}
	}
	d->pid = 0;
	return exit_code(d->status);
}

char *np_daemon_log(const struct np_daemon *d)
{
	FILE *f = fopen(d->log_path, "r");
	char *text = NULL;
	size_t len = 0;
	if (f) {
		FILE *mem = open_memstream(&text, &len);
		char chunk[4096];
		size_t n;
		while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, n, mem);
		if (mem)
			fclose(mem);
		fclose(f);
	}
	return text ? text : strdup("");
}

void np_daemon_cleanup(struct np_daemon *d)
{
	if (d->log_path[0])
		unlink(d->log_path);
	d->log_path[0] = '\0';
}

bool np_log_clean(const char *log)
{
	return !strstr(log, "Sanitizer") && !strstr(log, "runtime error:");
}

/* --- temporary directories ----------------------------------------------- */

int np_tmpdir(char *out, size_t cap, const char *prefix)
{
	if ((size_t)snprintf(out, cap, "/tmp/%s-XXXXXX", prefix) >= cap)
		return -ENAMETOOLONG;
	return mkdtemp(out) ? 0 : -errno;
}

static int rm_at(int at, const char *name)
{
	struct stat st;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(at, name, 0) < 0 ? -errno : 0;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	int err = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int r = rm_at(dirfd(dir), e->d_name);
		if (r < 0 && err == 0)
			err = r;
	}
	closedir(dir);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && err == 0)
		err = -errno;
	return err;
}

int np_rmtree(const char *path)
{
	return rm_at(AT_FDCWD, path);
}

/* --- fixture ------------------------------------------------------------- */

int np_fixture_start(struct np_fixture *f, const char *opts, const char *const extra[])
{
	memset(f, 0, sizeof(*f));
	f->daemon.stdio_fd = -1;
	int err = np_tmpdir(f->export_dir, sizeof(f->export_dir), "ninepd-export");
	if (err == 0)
		err = np_tmpdir(f->run_dir, sizeof(f->run_dir), "ninepd-run");
	if (err < 0) {
		snprintf(f->error, sizeof(f->error), "temporary directory: %s", strerror(-err));
		np_fixture_stop(f, NULL);
		return err;
	}
	/* An export is normally searchable by everyone; mkdtemp made it 0700. */
	chmod(f->export_dir, 0755);
	snprintf(f->addr, sizeof(f->addr), "unix:%s/s", f->run_dir);
	char spec[512];
	snprintf(spec, sizeof(spec), "%s%s", f->export_dir, opts ? opts : "");

	const char *argv[64] = {"-l", f->addr, "-e", spec};
	size_t argc = 4;
	for (size_t i = 0; extra && extra[i] && argc < 63; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	err = np_daemon_start(&f->daemon, argv);
	f->root = 1;
	if (err == 0)
		err = np_session(&f->c, f->addr, NP_CLIENT_MSIZE, "", 0, f->root);
	if (err < 0) {
		/* Test frameworks may skip the teardown when the setup fails. */
		char *log = NULL;
		np_fixture_stop(f, &log);
		size_t len = log ? strlen(log) : 0;
		snprintf(f->error, sizeof(f->error), "%s; daemon log ends:\n%s", strerror(-err),
			 len > 1500 ? log + len - 1500 : log ? log : "");
		free(log);
	}
	return err;
}

int np_fixture_stop(struct np_fixture *f, char **log)
{
	np_client_close(f->c);
	f->c = NULL;
	int status = np_daemon_stop(&f->daemon);
	if (log)
		*log = np_daemon_log(&f->daemon);
	np_daemon_cleanup(&f->daemon);
	if (f->export_dir[0])
		np_rmtree(f->export_dir);
	if (f->run_dir[0])
		np_rmtree(f->run_dir);
	f->export_dir[0] = f->run_dir[0] = '\0';
	return status;
}

int np_fixture_finish(struct np_fixture *f, char *why, size_t cap)
{
	bool alive = np_daemon_alive(&f->daemon);
	char *log = NULL;
	int status = np_fixture_stop(f, &log);
	bool clean = log && np_log_clean(log);
	int err = alive && clean ? 0 : -1;
	if (err < 0) {
		size_t len = log ? strlen(log) : 0;
		const char *tail = len > 3000 ? log + len - 3000 : log ? log : "";
		snprintf(why, cap, "%s (exit status %d); daemon log ends:\n%s",
			 !alive ? "ninepd died during the test" : "sanitizer report in the log",
			 status, tail);
	} else if (cap) {
		why[0] = '\0';
	}
	free(log);
	return err;
}

const char *np_fixture_path(const struct np_fixture *f, const char *rel, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", f->export_dir, rel);
	return buf;
}

int np_fixture_mkdir(const struct np_fixture *f, const char *rel, unsigned mode)
{
	char path[4096];
	np_fixture_path(f, rel, path, sizeof(path));
	if (mkdir(path, mode) < 0)
		return -errno;
	/* Exactly this mode, whatever the umask. */
	return chmod(path, mode) < 0 ? -errno : 0;
}

int np_fixture_write(const struct np_fixture *f, const char *rel, const void *data, size_t len)
{
	char path[4096];
	np_fixture_path(f, rel, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = len ? write(fd, data, len) : 0;
	int err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return err;
}

int np_fixture_symlink(const struct np_fixture *f, const char *target, const char *rel)
{
	char path[4096];
	np_fixture_path(f, rel, path, sizeof(path));
	return symlink(target, path) < 0 ? -errno : 0;
}

ssize_t np_fixture_read(const struct np_fixture *f, const char *rel, void *buf, size_t cap)
{
	char path[4096];
	np_fixture_path(f, rel, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	ssize_t n = 0;
	while (off < cap && (n = read(fd, (char *)buf + off, cap - off)) > 0)
		off += (size_t)n;
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err < 0 ? err : (ssize_t)off;
}

int np_fixture_client(const struct np_fixture *f, uint32_t n_uname, struct np_client **out,
		      uint32_t rootfid)
{
	return np_session(out, f->addr, NP_CLIENT_MSIZE, "", n_uname, rootfid);
}
