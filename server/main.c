/* ninepd: a 9P2000.L file server.  main() loads the configuration, opens
 * the exports, listens, and runs the libuv loop until SIGTERM/SIGINT (or,
 * with -l stdio, until the one client hangs up). */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "config/config.h"
#include "server/log.h"
#include "server/creds.h"
#include "server/privs.h"
#include "server/seccomp.h"
#include "server/server.h"

/* --print-vm-args NAME [--vm KIND]: what a VMM and its guest need to reach
 * export NAME of this configuration. */
struct vm_args {
	const char *name; /* NULL: not asked */
	const char *vm;   /* --vm KIND, NULL for qemu-serial */
};

/* Takes the value of option opt ("--opt VALUE" or "--opt=VALUE") out of
 * argv; NULL if it is not there. */
static const char *take_option(int *argc, char **argv, const char *opt)
{
	size_t len = strlen(opt);
	for (int i = 1; i < *argc; i++) {
		const char *value = NULL;
		int used = 0;
		if (!strcmp(argv[i], opt) && i + 1 < *argc) {
			value = argv[i + 1];
			used = 2;
		} else if (!strncmp(argv[i], opt, len) && argv[i][len] == '=') {
			value = argv[i] + len + 1;
			used = 1;
		}
		if (value) {
			memmove(argv + i, argv + i + used, (size_t)(*argc - i - used + 1) * sizeof *argv);
			*argc -= used;
			return value;
		}
	}
	return NULL;
}

/* Both are taken out of argv before the configuration is parsed. */
static struct vm_args take_print_vm_args(int *argc, char **argv)
{
	struct vm_args v = {.name = take_option(argc, argv, "--print-vm-args")};
	v.vm = take_option(argc, argv, "--vm");
	return v;
}

/* The first listen address of kind, or NULL. */
static const struct listen_addr *first_listen(const struct ninepd_config *cfg,
					      enum listen_kind kind)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen_addrs[i].kind == kind)
			return &cfg->listen_addrs[i];
	return NULL;
}

/* The guest's mount line, for a virtio-serial port or "vsock:2:PORT"
 * (then the guest needs the vsock modules). */
static void print_guest_mount(const struct ninepd_config *cfg, const struct export_conf *e,
			      const char *source, bool vsock)
{
	printf("# in the guest (%smount.ninepd from guest/, installed as /sbin/mount.ninepd):\n",
	       vsock ? "modules vsock and vmw_vsock_virtio_transport; " : "");
	printf("mount.ninepd %s /mnt -o aname=%s,msize=%u,cache=none\n", source, e->name,
	       cfg->max_msize < 1048576 ? cfg->max_msize : 1048576);
}

static int print_qemu_serial(const struct ninepd_config *cfg, const struct export_conf *e)
{
	const struct listen_addr *listen = first_listen(cfg, LISTEN_UNIX);
	if (!listen)
		listen = first_listen(cfg, LISTEN_TCP);
	if (!listen) {
		fprintf(stderr, "ninepd: --print-vm-args: give a unix: or tcp: listen address\n");
		return 1;
	}
	/* A virtio-serial port name: the export name with anything but
	 * [A-Za-z0-9._-] replaced, as QEMU ids and port names need. */
	char port[64];
	size_t n = 0;
	for (const char *p = e->name; *p && n < sizeof port - 1; p++)
		port[n++] = (isalnum((unsigned char)*p) || strchr("._-", *p)) ? *p : '_';
	port[n] = '\0';
	if (n == 0 || port[0] == '_')
		snprintf(port, sizeof port, "ninepd%zu", (size_t)(e - cfg->exports));
	printf("# QEMU options: a virtio-serial port connected to ninepd\n");
	printf("-device virtio-serial-pci,id=ninepd-serial \\\n");
	/* reconnect=1: QEMU connects once, at start; without it, QEMU refuses
	 * to start while ninepd is down and never reaches a restarted ninepd
	 * (docs/guest.md).  nodelay=on: Nagle plus delayed ACK would hold
	 * every message over 32 KiB for ~40 ms on TCP. */
	if (listen->kind == LISTEN_UNIX) {
		printf("-chardev socket,id=%s,path=%s,reconnect=1 \\\n", port, listen->path);
	} else {
		/* QEMU's host= takes an IPv6 address without brackets. */
		printf("-chardev socket,id=%s,host=%s,port=%u,nodelay=on,reconnect=1 \\\n", port,
		       listen->host[0] ? listen->host : "localhost", listen->port);
	}
	printf("-device virtserialport,chardev=%s,name=%s\n", port, port);
	print_guest_mount(cfg, e, port, false);
	return 0;
}

/* The guest's CID for a vsock listener (NULL: none): the one its allow
 * list names, if it names exactly one; else 3, the lowest a guest may
 * have. */
static uint32_t guest_cid(const struct listen_addr *listen)
{
	if (listen && listen->nallow == 1 && listen->allow[0].first == listen->allow[0].last)
		return listen->allow[0].first;
	return 3;
}

static int print_qemu_vsock(const struct ninepd_config *cfg, const struct export_conf *e)
{
	const struct listen_addr *listen = first_listen(cfg, LISTEN_VSOCK);
	if (!listen) {
		fprintf(stderr, "ninepd: --print-vm-args --vm qemu-vsock: give a vsock:PORT listen "
				"address\n");
		return 1;
	}
	if (listen->cid != LISTEN_CID_ANY && listen->cid != 2) {
		fprintf(stderr, "ninepd: --print-vm-args --vm qemu-vsock: %s is bound to CID %u, "
				"but a guest reaches the host at CID 2: listen on vsock:%u or "
				"vsock:2:%u\n",
			listen->text, listen->cid, listen->port, listen->port);
		return 1;
	}
	uint32_t cid = guest_cid(listen);
	printf("# QEMU options: a vhost-vsock device (the host needs the vhost_vsock module and "
	       "/dev/vhost-vsock);\n");
	printf("# guest-cid: unique among the host's guests, 3 or more%s\n",
	       listen->nallow ? ", and in the listener's allow list" : "");
	printf("-device vhost-vsock-pci,guest-cid=%u\n", cid);
	char source[32];
	snprintf(source, sizeof source, "vsock:2:%u", listen->port);
	print_guest_mount(cfg, e, source, true);
	return 0;
}

/*
 * Firecracker and Cloud Hypervisor ("hybrid vsock") connect a guest's
 * connection to host port P to the unix socket "<uds_path>_P", sending
 * nothing of their own first: the listener is a unix socket named so.
 * Splits its path into uds_path (base, baselen) and the port; false if
 * the path does not end in "_PORT".
 */
static bool split_hybrid(const struct listen_addr *listen, size_t *baselen, unsigned long *port)
{
	const char *us = strrchr(listen->path, '_');
	if (!us || us == listen->path || !us[1] || strspn(us + 1, "0123456789") != strlen(us + 1))
		return false;
	errno = 0;
	*port = strtoul(us + 1, NULL, 10);
	*baselen = (size_t)(us - listen->path);
	return errno == 0 && *port >= 1 && *port <= LISTEN_VSOCK_PORT_MAX;
}

static int print_hybrid_vsock(const struct ninepd_config *cfg, const struct export_conf *e,
			      bool firecracker)
{
	const char *vm = firecracker ? "firecracker" : "cloud-hypervisor";
	const struct listen_addr *listen = NULL;
	size_t baselen = 0;
	unsigned long port = 0;
	for (size_t i = 0; i < cfg->nlisten && !listen; i++)
		if (cfg->listen_addrs[i].kind == LISTEN_UNIX &&
		    split_hybrid(&cfg->listen_addrs[i], &baselen, &port))
			listen = &cfg->listen_addrs[i];
	if (!listen) {
		fprintf(stderr, "ninepd: --print-vm-args --vm %s: the VMM connects a guest's vsock "
				"port P to the unix socket <uds_path>_P: listen on "
				"unix:<uds_path>_<PORT>, as in unix:/run/ninepd/vm1.vsock_5640\n",
			vm);
		return 1;
	}
	/* The socket is one VM's: no allow list names its CID. */
	uint32_t cid = guest_cid(NULL);
	if (firecracker) {
		printf("# Firecracker: the vsock device (PUT /vsock, or \"vsock\" in --config-file); "
		       "guest_cid 3 or more,\n");
		printf("# uds_path: %s without \"_%lu\", where Firecracker creates its own "
		       "socket\n",
		       listen->path, port);
		/* A path with '"' or '\' would need JSON escapes. */
		printf("{\"guest_cid\": %u, \"uds_path\": \"", cid);
		for (size_t i = 0; i < baselen; i++) {
			char ch = listen->path[i];
			if (ch == '"' || ch == '\\')
				putchar('\\');
			putchar(ch);
		}
		printf("\"}\n");
	} else {
		printf("# Cloud Hypervisor option: the vsock device; cid 3 or more, socket: %s "
		       "without \"_%lu\",\n",
		       listen->path, port);
		printf("# where Cloud Hypervisor creates its own socket\n");
		printf("--vsock cid=%u,socket=%.*s\n", cid, (int)baselen, listen->path);
	}
	char source[32];
	snprintf(source, sizeof source, "vsock:2:%lu", port);
	print_guest_mount(cfg, e, source, true);
	return 0;
}

static int print_vm_args(const struct ninepd_config *cfg, const struct vm_args *v)
{
	const struct export_conf *e = NULL;
	for (size_t i = 0; i < cfg->nexports && !e; i++)
		if (!strcmp(cfg->exports[i].name, v->name) || !strcmp(cfg->exports[i].path, v->name))
			e = &cfg->exports[i];
	if (!e) {
		fprintf(stderr, "ninepd: --print-vm-args: no export named '%s'\n", v->name);
		return 1;
	}
	if (!v->vm || !strcmp(v->vm, "qemu-serial"))
		return print_qemu_serial(cfg, e);
	if (!strcmp(v->vm, "qemu-vsock"))
		return print_qemu_vsock(cfg, e);
	if (!strcmp(v->vm, "firecracker") || !strcmp(v->vm, "cloud-hypervisor"))
		return print_hybrid_vsock(cfg, e, !strcmp(v->vm, "firecracker"));
	fprintf(stderr, "ninepd: --vm '%s' (accepted: qemu-serial, qemu-vsock, firecracker, "
			"cloud-hypervisor)\n",
		v->vm);
	return 1;
}

/* Descriptors for fids and connections: rlimit_nofile, or as many as the
 * hard limit permits (as root the hard limit may be raised too).  Logged
 * when refused: the pool's cap and the fids' budget follow the limit that
 * took effect. */
static void set_nofile(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	struct rlimit to = rl;
	if (!want) {
		to.rlim_cur = rl.rlim_max;
	} else {
		to.rlim_cur = want;
		if (to.rlim_max != RLIM_INFINITY && to.rlim_max < want)
			to.rlim_max = want;
	}
	if ((to.rlim_cur != rl.rlim_cur || to.rlim_max != rl.rlim_max) && setrlimit(RLIMIT_NOFILE, &to))
		log_warn("rlimit_nofile %llu: %s; keeping %llu", (unsigned long long)to.rlim_cur,
			 strerror(errno), (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	/* A client that hangs up must never kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	/* The loop thread's own files (unix sockets, remap state) are the
	 * owner's and group's only; the workers, whose creations take the
	 * client's modes as given, set a umask of 0 of their own (creds.c). */
	umask(0117);

	struct vm_args vm = take_print_vm_args(&argc, argv);
	if (vm.vm && !vm.name) {
		fprintf(stderr, "ninepd: --vm goes with --print-vm-args NAME\n");
		return 1;
	}
	struct ninepd_config cfg;
	int rc = config_load(&cfg, argc, argv, stdout, stderr);
	if (rc != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 1;
	}
	if (vm.name) {
		rc = print_vm_args(&cfg, &vm);
		config_free(&cfg);
		return rc;
	}
	log_set_level(cfg.log_level);
	set_nofile(cfg.rlimit_nofile);

	uv_loop_t *loop = uv_default_loop();
	struct server srv;
	int init = server_init(&srv, loop, &cfg);
	srv.argc = argc;
	srv.argv = argv;
	if (init || server_listen(&srv)) {
		log_error("startup failed");
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	/* Root was for binding the listeners and opening the exports; from
	 * here on the daemon sees only its exports (the sandbox), keeps only
	 * the capabilities requests need, as the user configured or as root,
	 * and makes only the system calls on its allow-list.  In that order:
	 * the sandbox needs CAP_SYS_ADMIN, the filter forbids what both do. */
	if (server_enter_sandbox(&srv)) {
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	char err[256];
	bool trusted = config_needs_trusted_xattrs(&cfg);
	if (cfg.user ? privs_drop(cfg.user, trusted, err, sizeof err)
		     : privs_restrict(trusted, err, sizeof err)) {
		log_error(cfg.user ? "cannot switch to user %s: %s" : "cannot drop capabilities%s: %s",
			  cfg.user ? cfg.user : "", err);
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	creds_init();
	if (syscall_filter_install(cfg.seccomp, err, sizeof err)) {
		log_error("cannot install the system-call filter (--seccomp %s): %s",
			  seccomp_mode_name(cfg.seccomp), err);
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	log_info("ninepd %s ready (%zu export%s, msize up to %u, %u worker threads)",
		 NINEPD_VERSION, cfg.nexports, cfg.nexports == 1 ? "" : "s", cfg.max_msize,
		 srv.nthreads);
	uv_run(loop, UV_RUN_DEFAULT);
	server_log_stats(&srv);
	log_info("exiting");
	server_free(&srv);
	uv_loop_close(loop);
	config_free(&cfg);
	return 0;
}
