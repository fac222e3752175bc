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
#include "server/server.h"

/* --print-vm-args NAME: the QEMU options and the guest command that reach
 * export NAME of this configuration through a virtio-serial port.  Taken
 * out of argv before the configuration is parsed. */
static const char *take_print_vm_args(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++) {
		const char *name = NULL;
		int used = 0;
		if (!strcmp(argv[i], "--print-vm-args") && i + 1 < *argc) {
			name = argv[i + 1];
			used = 2;
		} else if (!strncmp(argv[i], "--print-vm-args=", 16)) {
			name = argv[i] + 16;
			used = 1;
		}
		if (name) {
			memmove(argv + i, argv + i + used, (size_t)(*argc - i - used + 1) * sizeof *argv);
			*argc -= used;
			return name;
		}
	}
	return NULL;
}

static int print_vm_args(const struct ninepd_config *cfg, const char *name)
{
	const struct export_conf *e = NULL;
	for (size_t i = 0; i < cfg->nexports && !e; i++)
		if (!strcmp(cfg->exports[i].name, name) || !strcmp(cfg->exports[i].path, name))
			e = &cfg->exports[i];
	if (!e) {
		fprintf(stderr, "ninepd: --print-vm-args: no export named '%s'\n", name);
		return 1;
	}
	const struct listen_addr *listen = NULL;
	for (size_t i = 0; i < cfg->nlisten && !listen; i++)
		if (cfg->listen_addrs[i].kind == LISTEN_UNIX || cfg->listen_addrs[i].kind == LISTEN_TCP)
			listen = &cfg->listen_addrs[i];
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
	printf("# in the guest (mount.ninepd from guest/, installed as /sbin/mount.ninepd):\n");
	printf("mount.ninepd %s /mnt -o aname=%s,msize=%u,cache=none\n", port, e->name,
	       cfg->max_msize < 1048576 ? cfg->max_msize : 1048576);
	return 0;
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

	const char *vm_export = take_print_vm_args(&argc, argv);
	struct ninepd_config cfg;
	int rc = config_load(&cfg, argc, argv, stdout, stderr);
	if (rc != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 1;
	}
	if (vm_export) {
		rc = print_vm_args(&cfg, vm_export);
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
	 * here on only the capabilities requests need are kept, as the user
	 * configured or as root. */
	char err[256];
	if (cfg.user ? privs_drop(cfg.user, err, sizeof err) : privs_restrict(err, sizeof err)) {
		log_error(cfg.user ? "cannot switch to user %s: %s" : "cannot drop capabilities%s: %s",
			  cfg.user ? cfg.user : "", err);
		server_free(&srv);
		config_free(&cfg);
		return 1;
	}
	creds_init();
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
