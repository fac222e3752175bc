/* Listeners and adopted connections (listen.h). */
#include "server/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/log.h"

static int conn_wrap_fd(struct conn_hub *hub, struct conn *c, int fd, bool is_out)
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
		rc = uv_tcp_init(hub->loop, t);
		if (!rc)
			rc = uv_tcp_open(t, fd);
		if (!rc)
			uv_tcp_nodelay(t, 1);
		s = (uv_stream_t *)t;
	} else {
		uv_pipe_t *p = is_out ? &c->out_h.pipe : &c->in_h.pipe;
		rc = uv_pipe_init(hub->loop, p, 0);
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
	struct conn_hub *hub = l->hub;
	if (status < 0) {
		log_warn("accept on %s: %s", l->addr, uv_strerror(status));
		return;
	}
	struct conn *c = conn_new(hub);
	if (!c)
		return;
	int rc;
	if (l->is_tcp) {
		rc = uv_tcp_init(hub->loop, &c->in_h.tcp);
		if (!rc)
			uv_tcp_nodelay(&c->in_h.tcp, 1);
	} else {
		rc = uv_pipe_init(hub->loop, &c->in_h.pipe, 0);
	}
	c->in = c->out = (uv_stream_t *)&c->in_h;
	c->in->data = c;
	if (rc == 0)
		rc = uv_accept(server, c->in);
	if (rc == 0 && hub->nconns > hub->snap->cfg->max_conns) {
		log_warn("%s: refusing connection: %u connections open (max_connections)", l->addr,
			 hub->nconns - 1);
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

static struct listener *listener_new(struct listener **list, struct conn_hub *hub,
				     const char *addr)
{
	struct listener *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->hub = hub;
	l->addr = strdup(addr);
	l->h.pipe.data = l;
	l->next = *list;
	*list = l;
	return l;
}

static int listen_unix(struct listener **list, struct conn_hub *hub, const char *addr,
		       const char *path)
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
	struct listener *l = listener_new(list, hub, addr);
	if (!l)
		return -ENOMEM;
	int rc = uv_pipe_init(hub->loop, &l->h.pipe, 0);
	/* The socket must not be connectable by everyone: anyone who connects
	 * may attach as any uid.  The loop thread's umask (0117, set by
	 * main(); the workers have their own) makes it srw-rw----. */
	if (!rc)
		rc = uv_pipe_bind(&l->h.pipe, path);
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

static int listen_tcp(struct listener **list, struct conn_hub *hub, const char *addr,
		      const char *host, unsigned port)
{
	char service[16];
	snprintf(service, sizeof service, "%u", port);
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	int gai = getaddrinfo(*host ? host : NULL, service, &hints, &ai);
	if (gai) {
		log_error("listen %s: %s", addr, gai_strerror(gai));
		return -EINVAL;
	}
	struct listener *l = listener_new(list, hub, addr);
	if (!l) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	l->is_tcp = true;
	int rc = uv_tcp_init(hub->loop, &l->h.tcp);
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

int listen_adopt_fds(struct conn_hub *hub, int in, int out, bool exit_on_hangup)
{
	struct conn *c = conn_new(hub);
	if (!c)
		return -ENOMEM;
	c->stdio = exit_on_hangup;
	int rc = conn_wrap_fd(hub, c, in, false);
	if (!rc && in == out) {
		c->out = c->in;
	} else if (!rc) {
		c->separate_out = true;
		rc = conn_wrap_fd(hub, c, out, true);
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
static int serve_stdio(struct conn_hub *hub)
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
	int rc = in < 0 || out < 0 ? -EBADF : listen_adopt_fds(hub, in, out, true);
	if (rc) {
		log_error("stdio: %s", strerror(-rc));
		return rc;
	}
	log_info("serving one client on stdin/stdout");
	return 0;
}

/* systemd socket activation: LISTEN_PID/LISTEN_FDS, fds from 3 on. */
int listen_systemd(struct listener **list, struct conn_hub *hub, int *count)
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
		struct listener *l = listener_new(list, hub, addr);
		if (!l)
			return -ENOMEM;
		int rc;
		if (domain == AF_UNIX) {
			rc = uv_pipe_init(hub->loop, &l->h.pipe, 0);
			if (!rc)
				rc = uv_pipe_open(&l->h.pipe, fd);
		} else {
			l->is_tcp = true;
			rc = uv_tcp_init(hub->loop, &l->h.tcp);
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

int listen_on(struct listener **list, struct conn_hub *hub, const struct listen_addr *a)
{
	switch (a->kind) {
	case LISTEN_UNIX: return listen_unix(list, hub, a->text, a->path);
	case LISTEN_TCP: return listen_tcp(list, hub, a->text, a->host, a->port);
	case LISTEN_STDIO: return serve_stdio(hub);
	}
	log_error("listen %s: not a listen address", a->text);
	return -EINVAL;
}

bool listen_has(const struct listener *list, const char *addr)
{
	for (const struct listener *l = list; l; l = l->next)
		if (!strcmp(l->addr, addr))
			return true;
	return false;
}

static void close_listener_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	free(l->addr);
	free(l->unix_path);
	free(l);
}

void listen_close(struct listener *l)
{
	if (l->unix_path)
		unlink(l->unix_path);
	uv_close((uv_handle_t *)&l->h, close_listener_cb);
}
