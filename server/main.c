/* ninepd: a 9P2000.L file server.  main() loads the configuration, opens
 * the exports, listens, and runs the libuv loop until SIGTERM/SIGINT (or,
 * with -l stdio, until the one client hangs up). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "config/config.h"
#include "server/log.h"
#include "server/server.h"

#define DEFAULT_THREADS 8

/* Every fid holds an fd: allow as many as the hard limit permits. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	/* A client that hangs up must never kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	/* Modes from the client are final; the daemon's umask must not alter them. */
	umask(0);

	struct ninepd_config cfg;
	int rc = config_load(&cfg, argc, argv, stdout, stderr);
	if (rc != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 1;
	}
	log_set_level(cfg.log_level);
	raise_nofile();

	/* libuv reads its pool size once, at the first queued work. */
	char threads[16];
	snprintf(threads, sizeof threads, "%u", cfg.threads ? cfg.threads : DEFAULT_THREADS);
	setenv("UV_THREADPOOL_SIZE", threads, 1);

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
	log_info("ninepd %s ready (%zu export%s, msize up to %u, %s worker threads)",
		 NINEPD_VERSION, cfg.nexports, cfg.nexports == 1 ? "" : "s", cfg.max_msize, threads);
	uv_run(loop, UV_RUN_DEFAULT);
	server_log_stats(&srv);
	log_info("exiting");
	server_free(&srv);
	uv_loop_close(loop);
	config_free(&cfg);
	return 0;
}
