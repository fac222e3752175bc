/* Listeners and adopted connections (listen.h). */
#include "server/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

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

/* Refused vsock peers are logged once per CID, in a list this long at most:
 * a CID is the host's to give, so a peer cannot make up new ones, but a
 * host may run many guests. */
#define REFUSED_CIDS_LOGGED 1024

/*
 * A vsock peer of l: its CID in *cid (VMADDR_CID_ANY when the kernel does
 * not say), and whether l's allow list lets it in.  A refused CID is
 * logged the first time only.
 */
static bool vsock_peer_allowed(struct listener *l, uv_stream_t *s, uint32_t *cid)
{
	struct sockaddr_vm peer = {0};
	socklen_t len = sizeof peer;
	uv_os_fd_t fd;

	*cid = VMADDR_CID_ANY;
	if (uv_fileno((uv_handle_t *)s, &fd) == 0 &&
	    getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && peer.svm_family == AF_VSOCK)
		*cid = peer.svm_cid;
	if (listen_cid_allowed(l->allow, l->nallow, *cid))
		return true;
	for (size_t i = 0; i < l->nrefused; i++)
		if (l->refused[i] == *cid)
			return false;
	if (l->nrefused == REFUSED_CIDS_LOGGED)
		return false;
	uint32_t *grown = realloc(l->refused, (l->nrefused + 1) * sizeof *grown);
	if (grown) {
		l->refused = grown;
		l->refused[l->nrefused++] = *cid;
	}
	log_warn("%s: refusing peer CID %u: not in the allow list (logged once per CID%s)", l->addr,
		 *cid, l->nrefused == REFUSED_CIDS_LOGGED ? "; no more CIDs will be logged" : "");
	return false;
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
	uint32_t cid = 0;
	if (rc == 0 && l->is_vsock && !vsock_peer_allowed(l, c->in, &cid))
		rc = UV_EACCES;
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
	if (l->is_vsock)
		log_debug("client %llu: connected on %s from CID %u", (unsigned long long)c->id,
			  l->addr, cid);
	else
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

/* This machine's vsock CID (VMADDR_CID_ANY when no transport is loaded:
 * then nothing can reach a vsock listener); VMADDR_CID_ANY as well when
 * /dev/vsock cannot be opened. */
static uint32_t vsock_local_cid(void)
{
	unsigned int cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
			cid = VMADDR_CID_ANY;
		close(fd);
	}
	return cid;
}

/* "3, 10-19" for the log line of a listener's allow list. */
static void format_allow(const struct cid_range *allow, size_t n, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		int w = allow[i].first == allow[i].last
				? snprintf(buf + used, len - used, "%s%u", i ? ", " : "", allow[i].first)
				: snprintf(buf + used, len - used, "%s%u-%u", i ? ", " : "",
					   allow[i].first, allow[i].last);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* Logs that l listens on vsock (CID cid, port port), with this machine's
 * CID and who may connect; warns when no transport can bring a peer. */
static void log_vsock_listening(const struct listener *l, const char *how, uint32_t cid,
				uint32_t port)
{
	char allow[256] = "every peer CID";
	char local[32] = "no vsock transport loaded";
	uint32_t me = vsock_local_cid();
	if (l->nallow) {
		memcpy(allow, "peer CIDs ", 11);
		format_allow(l->allow, l->nallow, allow + 10, sizeof allow - 10);
	}
	if (me != VMADDR_CID_ANY)
		snprintf(local, sizeof local, "this machine is CID %u", me);
	if (cid == VMADDR_CID_ANY)
		log_info("listening on %s (%svsock port %u of every local CID; %s; %s)", l->addr, how,
			 port, local, allow);
	else
		log_info("listening on %s (%svsock CID %u port %u; %s; %s)", l->addr, how, cid, port,
			 local, allow);
	if (me == VMADDR_CID_ANY)
		log_warn("%s: no vsock transport is loaded, so no peer can connect until one is "
			 "(vhost_vsock on a host, vmw_vsock_virtio_transport in a guest, "
			 "vsock_loopback for CID 1)",
			 l->addr);
}

/* Why a vsock socket could not be made or bound, in words that say what
 * to do; "" when strerror says it all. */
static const char *vsock_hint(int err, const struct listen_addr *a)
{
	switch (err) {
	case EAFNOSUPPORT:
		return " (this kernel has no vsock: load the vsock module)";
	case EADDRNOTAVAIL:
		return a->cid == VMADDR_CID_LOCAL
			       ? " (CID 1 needs the vsock_loopback module)"
			       : " (the CID is not one of this machine's: give vsock:PORT for every "
				 "local CID)";
	case EACCES:
		return " (vsock ports below 1024 need CAP_NET_BIND_SERVICE)";
	case EADDRINUSE:
		return " (another socket is bound to this vsock port)";
	default:
		return "";
	}
}

/* vsock:[CID:]PORT: libuv has no vsock handle, but a pipe handle takes any
 * stream socket; its listen and accept are listen(2) and accept4(2), which
 * AF_VSOCK answers as AF_UNIX does (the e2e scenario vsock-loopback mounts
 * through one). */
static int listen_vsock(struct listener **list, struct conn_hub *hub, const struct listen_addr *a)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		log_error("listen %s: %s%s", a->text, strerror(err), vsock_hint(err, a));
		return -err;
	}
	struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = a->cid, .svm_port = a->port};
	if (bind(fd, (struct sockaddr *)&svm, sizeof svm) < 0) {
		int err = errno;
		close(fd);
		log_error("listen %s: %s%s", a->text, strerror(err), vsock_hint(err, a));
		return -err;
	}
	/* The listener outlives the configuration (a reload replaces it): it
	 * keeps a copy of the allow list. */
	struct cid_range *allow = NULL;
	if (a->nallow && !(allow = malloc(a->nallow * sizeof *allow))) {
		close(fd);
		return -ENOMEM;
	}
	if (allow)
		memcpy(allow, a->allow, a->nallow * sizeof *allow);
	struct listener *l = listener_new(list, hub, a->text);
	if (!l) {
		free(allow);
		close(fd);
		return -ENOMEM;
	}
	l->is_vsock = true;
	l->allow = allow;
	l->nallow = a->nallow;
	int rc = uv_pipe_init(hub->loop, &l->h.pipe, 0);
	if (rc || (rc = uv_pipe_open(&l->h.pipe, fd)))
		close(fd);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&l->h.pipe, 128, on_connection);
	if (rc) {
		log_error("listen %s: %s", a->text, uv_strerror(rc));
		return rc;
	}
	l->h.pipe.data = l;
	log_vsock_listening(l, "", a->cid, a->port);
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
		/* A vsock socket goes into a pipe handle, as listen_vsock's do. */
		l->is_vsock = domain == AF_VSOCK;
		if (domain == AF_UNIX || domain == AF_VSOCK) {
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
		struct sockaddr_vm svm = {0};
		socklen_t slen = sizeof svm;
		if (l->is_vsock && getsockname(fd, (struct sockaddr *)&svm, &slen) == 0)
			log_vsock_listening(l, "socket activation: ", svm.svm_cid, svm.svm_port);
		else
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
	case LISTEN_VSOCK: return listen_vsock(list, hub, a);
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
	free(l->allow);
	free(l->refused);
	free(l);
}

void listen_close(struct listener *l)
{
	if (l->unix_path)
		unlink(l->unix_path);
	uv_close((uv_handle_t *)&l->h, close_listener_cb);
}
