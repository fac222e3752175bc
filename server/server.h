/* The server: its exports, listeners and connections, signals (SIGHUP
 * reload, SIGUSR1 statistics, SIGTERM/SIGINT drain), and the order things
 * start and stop in.  Loop thread only.
 *
 * Layers, each calling only the ones below it (no file calls back up):
 *   main.c -> server.c -> listen.c -> conn.c -> dispatch.c -> ops.c
 *     -> backend.c; beside them request.c, export.c, fid.c, creds.c,
 *     snapshot.c, privs.c, workq.c, trace.c, log.c (no calls upward).  conn.c tells the server about its two
 *     events (idle, stdio hang-up) through the hooks in struct conn_hub. */
#ifndef NINEPD_SERVER_SERVER_H
#define NINEPD_SERVER_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "config/config.h"
#include "server/conn.h"
#include "server/export.h"
#include "server/listen.h"
#include "server/sandbox.h"

struct server {
	uv_loop_t *loop;
	struct conn_hub hub;       /* connections, requests, workers, users */
	struct export **exports;   /* the hub's view of them (hub.exports) */
	size_t nexports;
	struct export *retired;    /* exports a SIGHUP reload removed */
	int argc;                  /* the command line, for SIGHUP reloads */
	char **argv;
	struct listener *listeners;
	unsigned nthreads;
	uv_signal_t sig_term, sig_int, sig_usr1, sig_hup;
	uv_timer_t drain_timer;
	struct sandbox sandbox;    /* what the sandbox holds; empty: none */
	bool sandboxed;
	bool stopping;
	bool finished;
	int exit_code;
};

/* cfg stays the caller's (main's); reloads replace it by their own. */
int server_init(struct server *srv, uv_loop_t *loop, struct ninepd_config *cfg);
int server_listen(struct server *srv);
/* Serves one client already connected on fds in/out (equal for a socket);
 * the server stops when it hangs up if exit_on_hangup.  The server owns the
 * fds from now on.  Used by the request-path fuzzer. */
int server_adopt_fds(struct server *srv, int in, int out, bool exit_on_hangup);
/* Once listening: enters the sandbox the configuration asks for (none,
 * namespace, chroot: sandbox.h) and reopens the exports inside it.  0, or
 * -errno (logged; the caller must exit). */
int server_enter_sandbox(struct server *srv);
void server_stop(struct server *srv);
void server_free(struct server *srv);
void server_log_stats(struct server *srv);
/* The configuration running now. */
const struct ninepd_config *server_config(const struct server *srv);

#endif
