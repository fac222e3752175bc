/* The server: exports, listeners (unix, tcp, stdio, systemd sockets),
 * signals, graceful shutdown and the lock-wait timer.  Loop thread only. */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "remap/state.h"
#include "server/access.h"
#include "server/fsops.h"
#include "server/log.h"
#include "server/server.h"

#define DRAIN_TIMEOUT_MS 5000
#define LOCK_RETRY_MS 10
#define LOCK_RETRY_MAX_MS 200

void ops_retry_lock(struct req *r);

/* ---- exports ---- */

static int export_open(struct export *e, const struct export_conf *conf)
{
	e->conf = conf;
	e->rootfd = open(conf->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (e->rootfd < 0) {
		log_error("export '%s': cannot open %s: %s", conf->name, conf->path, strerror(errno));
		return -errno;
	}
	e->realpath = realpath(conf->path, NULL);
	if (!e->realpath)
		return -errno;
	struct stat st;
	if (fs_stat(e->rootfd, &st))
		return -errno;
	e->root_dev = st.st_dev;
	e->root_ino = st.st_ino;
	if (conf->remap_state) {
		/* Restored tables give the guest the same qid paths as before
		 * the restart; a file that does not fit is refused, never
		 * partly reused. */
		char err[256] = "";
		int rc = remap_state_load(conf->remap_state, st.st_dev, &e->remap, err, sizeof err);
		if (rc == 0) {
			log_info("export '%s': remap state restored from %s", conf->name,
				 conf->remap_state);
		} else if (rc != -ENOENT) {
			log_error("export '%s': remap_state %s refused: %s (remove the file to start "
				  "with fresh qid paths)",
				  conf->name, conf->remap_state, err[0] ? err : strerror(-rc));
			return rc;
		}
	}
	if (!e->remap)
		e->remap = remap_new(conf->multidevs, st.st_dev);
	if (!e->remap)
		return -ENOMEM;
	access_init(e);
	log_info("export '%s': %s (device %u:%u, multidevs=%s, security_model=%s%s)", conf->name,
		 e->realpath, major(st.st_dev), minor(st.st_dev),
		 multidevs_policy_name(conf->multidevs), security_model_name(conf->security_model),
		 conf->readonly ? ", read-only" : "");
	return 0;
}

static void export_free(struct export *e)
{
	if (!e)
		return;
	if (e->rootfd >= 0)
		close(e->rootfd);
	free(e->realpath);
	remap_free(e->remap);
	free(e);
}

static int export_new(const struct export_conf *conf, struct export **out)
{
	struct export *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->rootfd = -1;
	int rc = export_open(e, conf);
	if (rc) {
		export_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* Writes each export's remap_state file (at exit and on SIGUSR1). */
static void server_save_remap_state(struct server *srv)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		struct export *e = srv->exports[i];
		if (!e->remap || !e->conf->remap_state)
			continue;
		char err[256] = "";
		int rc = remap_state_save(e->remap, e->conf->remap_state, err, sizeof err);
		if (rc)
			log_error("export '%s': cannot save remap state to %s: %s", e->conf->name,
				  e->conf->remap_state, err[0] ? err : strerror(-rc));
		else
			log_info("export '%s': remap state saved to %s", e->conf->name,
				 e->conf->remap_state);
	}
}

void server_log_stats(struct server *srv)
{
	server_save_remap_state(srv);
	for (size_t i = 0; i < srv->nexports; i++) {
		struct export *e = srv->exports[i];
		if (!e->remap)
			continue;
		struct remap_stats s;
		remap_get_stats(e->remap, &s);
		log_info("export '%s': multidevs=%s: %llu devices seen, %llu prefixes, "
			 "%llu exact-map entries, %llu forbidden accesses",
			 e->conf->name, multidevs_policy_name(remap_policy(e->remap)),
			 (unsigned long long)s.devices, (unsigned long long)s.prefixes,
			 (unsigned long long)s.exact_entries, (unsigned long long)s.forbidden);
	}
	log_info("%u connections open", srv->nconns);
}

/* ---- lock waits ---- */

static void lock_timer_cb(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	struct req **pp = &srv->lock_waiters;
	while (*pp) {
		struct req *r = *pp;
		if (r->lock_retry_at <= now) {
			*pp = r->qnext;
			r->qnext = NULL;
			ops_retry_lock(r);
		} else {
			pp = &r->qnext;
		}
	}
	if (!srv->lock_waiters)
		uv_timer_stop(t);
}

void server_lock_wait(struct req *r)
{
	struct server *srv = r->conn->srv;
	r->state = REQ_LOCKWAIT;
	r->lock_wait_ms = r->lock_wait_ms ? r->lock_wait_ms * 2 : LOCK_RETRY_MS;
	if (r->lock_wait_ms > LOCK_RETRY_MAX_MS)
		r->lock_wait_ms = LOCK_RETRY_MAX_MS;
	r->lock_retry_at = uv_now(srv->loop) + r->lock_wait_ms;
	r->qnext = srv->lock_waiters;
	srv->lock_waiters = r;
	if (!uv_is_active((uv_handle_t *)&srv->lock_timer))
		uv_timer_start(&srv->lock_timer, lock_timer_cb, LOCK_RETRY_MS, LOCK_RETRY_MS);
}

void server_lock_unwait(struct req *r)
{
	struct server *srv = r->conn->srv;
	for (struct req **pp = &srv->lock_waiters; *pp; pp = &(*pp)->qnext) {
		if (*pp == r) {
			*pp = r->qnext;
			r->qnext = NULL;
			break;
		}
	}
}

/* ---- accepting ---- */

static int conn_wrap_fd(struct server *srv, struct conn *c, int fd, bool is_out)
{
	uv_stream_t *s;
	int rc;
	int type = 0;
	socklen_t len = sizeof type;
	int domain = 0;
	socklen_t dlen = sizeof domain;
	bool sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	if (sock)
		getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen);
	if (sock && (domain == AF_INET || domain == AF_INET6)) {
		uv_tcp_t *t = is_out ? &c->out_h.tcp : &c->in_h.tcp;
		rc = uv_tcp_init(srv->loop, t);
		if (!rc)
			rc = uv_tcp_open(t, fd);
		if (!rc)
			uv_tcp_nodelay(t, 1);
		s = (uv_stream_t *)t;
	} else {
		uv_pipe_t *p = is_out ? &c->out_h.pipe : &c->in_h.pipe;
		rc = uv_pipe_init(srv->loop, p, 0);
		if (!rc)
			rc = uv_pipe_open(p, fd);
		s = (uv_stream_t *)p;
	}
	if (is_out)
		c->out = s;
	else
		c->in = s;
	return rc;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct server *srv = l->srv;
	if (status < 0) {
		log_warn("accept on %s: %s", l->addr, uv_strerror(status));
		return;
	}
	struct conn *c = conn_new(srv);
	if (!c)
		return;
	int rc;
	if (l->is_tcp) {
		rc = uv_tcp_init(srv->loop, &c->in_h.tcp);
		if (!rc)
			uv_tcp_nodelay(&c->in_h.tcp, 1);
	} else {
		rc = uv_pipe_init(srv->loop, &c->in_h.pipe, 0);
	}
	c->in = c->out = (uv_stream_t *)&c->in_h;
	c->in->data = c;
	if (rc == 0)
		rc = uv_accept(server, c->in);
	if (rc == 0 && srv->nconns > srv->cfg->max_conns) {
		log_warn("%s: refusing connection: %u connections open (max_connections)", l->addr,
			 srv->nconns - 1);
		rc = UV_EBUSY;
	}
	if (rc == 0)
		rc = conn_start(c);
	if (rc) {
		conn_close(c);
		return;
	}
	log_debug("client %llu: connected on %s", (unsigned long long)c->id, l->addr);
}

static struct listener *listener_new(struct server *srv, const char *addr)
{
	struct listener *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->srv = srv;
	l->addr = strdup(addr);
	l->h.pipe.data = l;
	l->next = srv->listeners;
	srv->listeners = l;
	return l;
}

static int listen_unix(struct server *srv, const char *addr, const char *path)
{
	struct stat st;
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("listen %s: %s exists and is not a socket", addr, path);
			return -EEXIST;
		}
		unlink(path);
	}
	struct listener *l = listener_new(srv, addr);
	if (!l)
		return -ENOMEM;
	int rc = uv_pipe_init(srv->loop, &l->h.pipe, 0);
	/* The daemon runs with umask 0 (client modes are final); the socket
	 * must not be connectable by everyone: anyone who connects may attach
	 * as any uid.  Owner and group only (srw-rw----). */
	mode_t old_umask = umask(0117);
	if (!rc)
		rc = uv_pipe_bind(&l->h.pipe, path);
	umask(old_umask);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&l->h.pipe, 128, on_connection);
	if (rc) {
		log_error("listen %s: %s", addr, uv_strerror(rc));
		return rc;
	}
	l->h.pipe.data = l;
	l->unix_path = strdup(path);
	log_info("listening on %s", addr);
	return 0;
}

static int listen_tcp(struct server *srv, const char *addr, const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	if (!colon || (size_t)(colon - hostport) >= sizeof host) {
		log_error("listen %s: expected tcp:HOST:PORT", addr);
		return -EINVAL;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	/* [::1]:564 style */
	char *h = host;
	size_t hl = strlen(h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	int gai = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
	if (gai) {
		log_error("listen %s: %s", addr, gai_strerror(gai));
		return -EINVAL;
	}
	struct listener *l = listener_new(srv, addr);
	if (!l) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	l->is_tcp = true;
	int rc = uv_tcp_init(srv->loop, &l->h.tcp);
	if (!rc)
		rc = uv_tcp_bind(&l->h.tcp, ai->ai_addr, 0);
	freeaddrinfo(ai);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&l->h.tcp, 128, on_connection);
	if (rc) {
		log_error("listen %s: %s", addr, uv_strerror(rc));
		return rc;
	}
	l->h.tcp.data = l;
	log_info("listening on %s", addr);
	return 0;
}

int server_adopt_fds(struct server *srv, int in, int out, bool exit_on_hangup)
{
	struct conn *c = conn_new(srv);
	if (!c)
		return -ENOMEM;
	c->stdio = exit_on_hangup;
	int rc = conn_wrap_fd(srv, c, in, false);
	if (!rc && in == out) {
		c->out = c->in;
	} else if (!rc) {
		c->separate_out = true;
		rc = conn_wrap_fd(srv, c, out, true);
	}
	if (!rc)
		rc = conn_start(c);
	if (rc) {
		conn_close(c);
		return rc;
	}
	return 0;
}

/* stdin/stdout: one client (inetd, a VMM, trans=fd).  A socket on fd 0
 * serves both directions; otherwise fd 0 reads and fd 1 writes. */
static int serve_stdio(struct server *srv)
{
	int type;
	socklen_t len = sizeof type;
	bool sock = getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	int in = fcntl(0, F_DUPFD_CLOEXEC, 3);
	int out = sock ? in : fcntl(1, F_DUPFD_CLOEXEC, 3);
	/* The daemon's own stdin/stdout must not be the client's channel. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	int rc = in < 0 || out < 0 ? -EBADF : server_adopt_fds(srv, in, out, true);
	if (rc) {
		log_error("stdio: %s", strerror(-rc));
		return rc;
	}
	log_info("serving one client on stdin/stdout");
	return 0;
}

/* systemd socket activation: LISTEN_PID/LISTEN_FDS, fds from 3 on. */
static int listen_systemd(struct server *srv, int *count)
{
	*count = 0;
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || strtol(pid, NULL, 10) != getpid())
		return 0;
	long n = strtol(fds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (long i = 0; i < n && i < 64; i++) {
		int fd = 3 + (int)i;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		int domain = 0;
		socklen_t len = sizeof domain;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len)) {
			log_error("systemd fd %d is not a socket", fd);
			return -ENOTSOCK;
		}
		char addr[32];
		snprintf(addr, sizeof addr, "systemd:fd%d", fd);
		struct listener *l = listener_new(srv, addr);
		if (!l)
			return -ENOMEM;
		int rc;
		if (domain == AF_UNIX) {
			rc = uv_pipe_init(srv->loop, &l->h.pipe, 0);
			if (!rc)
				rc = uv_pipe_open(&l->h.pipe, fd);
		} else {
			l->is_tcp = true;
			rc = uv_tcp_init(srv->loop, &l->h.tcp);
			if (!rc)
				rc = uv_tcp_open(&l->h.tcp, fd);
		}
		l->h.pipe.data = l;
		if (!rc)
			rc = uv_listen((uv_stream_t *)&l->h, 128, on_connection);
		if (rc) {
			log_error("%s: %s", addr, uv_strerror(rc));
			return rc;
		}
		log_info("listening on %s (socket activation)", addr);
		(*count)++;
	}
	return 0;
}

int server_listen(struct server *srv)
{
	int activated;
	int rc = listen_systemd(srv, &activated);
	if (rc)
		return rc;
	for (size_t i = 0; i < srv->cfg->nlisten; i++) {
		const char *a = srv->cfg->listen[i];
		if (!strncmp(a, "unix:", 5))
			rc = listen_unix(srv, a, a + 5);
		else if (!strncmp(a, "tcp:", 4))
			rc = listen_tcp(srv, a, a + 4);
		else if (!strcmp(a, "stdio"))
			rc = serve_stdio(srv);
		else {
			log_error("listen %s: expected unix:PATH, tcp:HOST:PORT or stdio", a);
			rc = -EINVAL;
		}
		if (rc)
			return rc;
	}
	if (!activated && srv->cfg->nlisten == 0) {
		log_error("nothing to listen on: give -l unix:PATH, -l tcp:HOST:PORT or -l stdio");
		return -EINVAL;
	}
	return 0;
}

/* ---- signals and shutdown ---- */

static void close_listener_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	free(l->addr);
	free(l->unix_path);
	free(l);
}

static void noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static uint32_t server_inflight(const struct server *srv)
{
	uint32_t n = 0;
	for (const struct conn *c = srv->conns; c; c = c->next)
		n += c->inflight;
	return n;
}

static void server_finish(struct server *srv)
{
	/* Everything in flight is done (or the drain timed out): close all. */
	/* Replies produced by the last completions (e.g. ended lock waits) go
	 * out before the connections close. */
	server_flush_replies(&srv->flush_check);
	/* conn_close frees nothing before the handles' close callbacks run on
	 * a later iteration, so walking the list here is safe. */
	for (struct conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	workq_shutdown(srv->workq);
	uv_close((uv_handle_t *)&srv->flush_check, noop_close_cb);
	uv_close((uv_handle_t *)&srv->lock_timer, noop_close_cb);
	uv_close((uv_handle_t *)&srv->drain_timer, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_term, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_int, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_usr1, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_hup, noop_close_cb);
}

void server_maybe_finish(struct server *srv)
{
	if (!srv->stopping || srv->finished)
		return;
	if (server_inflight(srv) == 0) {
		srv->finished = true;
		server_finish(srv);
	}
}

static void drain_timeout_cb(uv_timer_t *t)
{
	struct server *srv = t->data;
	log_warn("shutdown: %u requests still in flight after %d ms; closing connections",
		 server_inflight(srv), DRAIN_TIMEOUT_MS);
	if (!srv->finished) {
		srv->finished = true;
		server_finish(srv);
	}
}

void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	for (struct listener *l = srv->listeners; l; l = l->next) {
		if (l->unix_path)
			unlink(l->unix_path);
		uv_close((uv_handle_t *)&l->h, close_listener_cb);
	}
	srv->listeners = NULL;
	/* Waiting lock requests would never finish: end them now. */
	while (srv->lock_waiters) {
		struct req *r = srv->lock_waiters;
		srv->lock_waiters = r->qnext;
		r->qnext = NULL;
		r->out.u.rlock.status = NP_LOCK_BLOCKED;
		req_complete(r);
	}
	uv_timer_start(&srv->drain_timer, drain_timeout_cb, DRAIN_TIMEOUT_MS, 0);
	server_maybe_finish(srv);
}

/* ---- SIGHUP: reload ---- */

/* Worker threads: twice the CPUs (at least 4): enough to overlap blocking
 * calls (creates, fsyncs), few enough that small requests do not pay for
 * waking idle threads (bench: getattr at depth 16 ran 1.25x faster with 4
 * threads than with 8 on 2 CPUs; see docs/benchmarks.md). */
static unsigned default_threads(void)
{
	unsigned n = 2 * uv_available_parallelism();
	return n < 4 ? 4 : n > 64 ? 64 : n;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool export_conf_same(const struct export_conf *a, const struct export_conf *b)
{
	return str_eq(a->name, b->name) && str_eq(a->path, b->path) &&
	       a->multidevs == b->multidevs && a->security_model == b->security_model &&
	       a->readonly == b->readonly && a->squash_uid == b->squash_uid &&
	       a->squash_gid == b->squash_gid && str_eq(a->remap_state, b->remap_state);
}

static bool conn_uses_export(const struct conn *c, const struct export *e)
{
	for (uint32_t i = 0; i < c->fids.nbuckets; i++)
		for (const struct fid *f = c->fids.buckets[i]; f; f = f->hnext)
			if (f->exp == e)
				return true;
	return false;
}

static bool listening_on(const struct server *srv, const char *addr)
{
	for (const struct listener *l = srv->listeners; l; l = l->next)
		if (!strcmp(l->addr, addr))
			return true;
	return false;
}

static void close_listener_cb(uv_handle_t *h);

/* Re-reads the configuration (same command line, same files).  Exports
 * whose settings did not change keep their state and their clients;
 * clients holding fids of a removed or changed export are disconnected;
 * listeners follow the new list.  A configuration with errors is refused
 * and the running one stays. */
static void server_reload(struct server *srv)
{
	struct ninepd_config *ncfg = calloc(1, sizeof *ncfg);
	if (!ncfg)
		return;
	optind = 0; /* config_load parses argv again with getopt */
	int rc = config_load(ncfg, srv->argc, srv->argv, stderr, stderr);
	if (rc != 0 || ncfg->nexports == 0) {
		log_error("SIGHUP: the new configuration is not valid; keeping the running one");
		config_free(ncfg);
		free(ncfg);
		return;
	}
	struct export **nexp = calloc(ncfg->nexports, sizeof *nexp);
	bool *kept = calloc(srv->nexports ? srv->nexports : 1, sizeof *kept);
	if (!nexp || !kept)
		goto fail;
	for (size_t i = 0; i < ncfg->nexports; i++) {
		const struct export_conf *nc = &ncfg->exports[i];
		for (size_t k = 0; k < srv->nexports && !nexp[i]; k++) {
			if (!kept[k] && export_conf_same(srv->exports[k]->conf, nc)) {
				nexp[i] = srv->exports[k];
				kept[k] = true;
			}
		}
		if (!nexp[i] && export_new(nc, &nexp[i])) {
			log_error("SIGHUP: export '%s' cannot be opened; keeping the running "
				  "configuration", nc->name);
			goto fail;
		}
	}
	/* Commit: nothing below can fail. */
	for (size_t k = 0; k < srv->nexports; k++) {
		struct export *e = srv->exports[k];
		if (kept[k])
			continue;
		log_info("SIGHUP: export '%s' removed or changed; disconnecting its clients",
			 e->conf->name);
		for (struct conn *c = srv->conns, *next; c; c = next) {
			next = c->next;
			if (!c->closing && conn_uses_export(c, e))
				conn_close(c);
		}
		e->retired_next = srv->retired;
		srv->retired = e;
	}
	for (size_t i = 0; i < ncfg->nexports; i++)
		nexp[i]->conf = &ncfg->exports[i];
	free(srv->exports);
	srv->exports = nexp;
	srv->nexports = ncfg->nexports;
	for (struct listener **pp = &srv->listeners; *pp;) {
		struct listener *l = *pp;
		bool wanted = false;
		for (size_t i = 0; i < ncfg->nlisten; i++)
			wanted |= !strcmp(ncfg->listen[i], l->addr);
		if (wanted || !strncmp(l->addr, "systemd:", 8)) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		log_info("SIGHUP: no longer listening on %s", l->addr);
		if (l->unix_path)
			unlink(l->unix_path);
		uv_close((uv_handle_t *)&l->h, close_listener_cb);
	}
	for (size_t i = 0; i < ncfg->nlisten; i++) {
		const char *a = ncfg->listen[i];
		if (listening_on(srv, a) || !strcmp(a, "stdio"))
			continue;
		if (!strncmp(a, "unix:", 5))
			listen_unix(srv, a, a + 5);
		else if (!strncmp(a, "tcp:", 4))
			listen_tcp(srv, a, a + 4);
	}
	/* The replaced configuration stays alive: requests in flight and
	 * retired exports may still point into it.  main() owns the first. */
	if (srv->cfg_owned) {
		struct ninepd_config **old =
			realloc(srv->old_cfgs, (srv->nold_cfgs + 1) * sizeof *old);
		if (old) {
			old[srv->nold_cfgs++] = srv->cfg;
			srv->old_cfgs = old;
		}
	}
	/* Set once per process: say so rather than seem to apply them. */
	unsigned threads = ncfg->threads ? ncfg->threads : default_threads();
	if (threads != srv->nthreads)
		log_warn("SIGHUP: threads = %u takes effect at the next start; %u worker "
			 "threads keep running", threads, srv->nthreads);
	if (!str_eq(ncfg->user, srv->cfg->user))
		log_warn("SIGHUP: user = %s takes effect at the next start; the daemon's "
			 "identity is set once", ncfg->user ? ncfg->user : "(none)");
	srv->cfg = ncfg;
	srv->cfg_owned = true;
	log_set_level(ncfg->log_level);
	free(kept);
	log_info("SIGHUP: configuration reloaded (%zu export%s)", srv->nexports,
		 srv->nexports == 1 ? "" : "s");
	return;
fail:
	for (size_t i = 0; nexp && i < ncfg->nexports; i++) {
		bool reused = false;
		for (size_t k = 0; k < srv->nexports; k++)
			reused |= nexp[i] == srv->exports[k];
		if (!reused)
			export_free(nexp[i]);
	}
	free(nexp);
	free(kept);
	config_free(ncfg);
	free(ncfg);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *srv = h->data;
	if (signum == SIGUSR1) {
		server_log_stats(srv);
		return;
	}
	if (signum == SIGHUP) {
		server_reload(srv);
		return;
	}
	log_info("signal %d: finishing in-flight requests, then exiting", signum);
	server_stop(srv);
}


int server_init(struct server *srv, uv_loop_t *loop, struct ninepd_config *cfg)
{
	memset(srv, 0, sizeof *srv);
	srv->loop = loop;
	srv->cfg = cfg;
	srv->is_root = geteuid() == 0;
	creds_set_root_mode(srv->is_root);
	pthread_mutex_init(&srv->users_lock, NULL);
	srv->exports = calloc(cfg->nexports ? cfg->nexports : 1, sizeof *srv->exports);
	if (!srv->exports)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nexports; i++) {
		int rc = export_new(&cfg->exports[i], &srv->exports[i]);
		if (rc)
			return rc;
		srv->nexports++;
	}
	srv->nthreads = cfg->threads ? cfg->threads : default_threads();
	int rc = workq_new(loop, srv->nthreads, req_work_cb, req_done_cb, &srv->workq);
	if (rc)
		return rc;
	uv_check_init(loop, &srv->flush_check);
	srv->flush_check.data = srv;
	uv_check_start(&srv->flush_check, server_flush_replies);
	uv_timer_init(loop, &srv->lock_timer);
	srv->lock_timer.data = srv;
	uv_timer_init(loop, &srv->drain_timer);
	srv->drain_timer.data = srv;
	uv_unref((uv_handle_t *)&srv->drain_timer);
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	uv_signal_init(loop, &srv->sig_usr1);
	uv_signal_init(loop, &srv->sig_hup);
	srv->sig_term.data = srv->sig_int.data = srv->sig_usr1.data = srv->sig_hup.data = srv;
	uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
	uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
	uv_signal_start(&srv->sig_int, on_signal, SIGINT);
	uv_signal_start(&srv->sig_usr1, on_signal, SIGUSR1);
	return 0;
}

void server_free(struct server *srv)
{
	workq_free(srv->workq);
	srv->workq = NULL;
	for (size_t i = 0; i < srv->nexports; i++)
		export_free(srv->exports[i]);
	free(srv->exports);
	while (srv->retired) {
		struct export *e = srv->retired;
		srv->retired = e->retired_next;
		export_free(e);
	}
	for (size_t i = 0; i < srv->nold_cfgs; i++) {
		config_free(srv->old_cfgs[i]);
		free(srv->old_cfgs[i]);
	}
	free(srv->old_cfgs);
	if (srv->cfg_owned) {
		config_free(srv->cfg);
		free(srv->cfg);
	}
	while (srv->users) {
		struct user *u = srv->users;
		srv->users = u->next;
		free(u->groups);
		free(u);
	}
	pthread_mutex_destroy(&srv->users_lock);
}
