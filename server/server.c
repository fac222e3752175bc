/* The server (server.h): start, reload, stop.  Loop thread only. */
#include "server/server.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/creds.h"
#include "server/log.h"

#define DRAIN_TIMEOUT_MS 5000

const struct ninepd_config *server_config(const struct server *srv)
{
	return srv->hub.snap->cfg;
}

void server_log_stats(struct server *srv)
{
	for (size_t i = 0; i < srv->nexports; i++) {
		export_save_state(srv->exports[i]);
		export_log_stats(srv->exports[i]);
	}
	log_info("%u connections open", srv->hub.nconns);
}

int server_listen(struct server *srv)
{
	int activated;
	int rc = listen_systemd(&srv->listeners, &srv->hub, &activated);
	if (rc)
		return rc;
	const struct ninepd_config *cfg = server_config(srv);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		rc = listen_on(&srv->listeners, &srv->hub, &cfg->listen_addrs[i]);
		if (rc)
			return rc;
	}
	if (!activated && cfg->nlisten == 0) {
		log_error("nothing to listen on: give -l unix:PATH, -l tcp:HOST:PORT, -l vsock:PORT or -l stdio");
		return -EINVAL;
	}
	return 0;
}

int server_adopt_fds(struct server *srv, int in, int out, bool exit_on_hangup)
{
	return listen_adopt_fds(&srv->hub, in, out, exit_on_hangup);
}

/* ---- stopping ---- */

static void noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

/* Everything in flight is done (or the drain timed out): close all. */
static void server_finish(struct server *srv)
{
	if (srv->finished)
		return;
	srv->finished = true;
	conn_hub_close(&srv->hub);
	uv_close((uv_handle_t *)&srv->drain_timer, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_term, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_int, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_usr1, noop_close_cb);
	uv_close((uv_handle_t *)&srv->sig_hup, noop_close_cb);
}

static struct server *hub_server(struct conn_hub *h)
{
	return (struct server *)((char *)h - offsetof(struct server, hub));
}

static void on_hub_idle(struct conn_hub *h)
{
	server_finish(hub_server(h));
}

static void on_hub_hangup(struct conn_hub *h)
{
	server_stop(hub_server(h));
}

static void drain_timeout_cb(uv_timer_t *t)
{
	struct server *srv = t->data;
	log_warn("shutdown: %u requests still in flight after %d ms; closing connections",
		 conn_hub_inflight(&srv->hub), DRAIN_TIMEOUT_MS);
	server_finish(srv);
}

void server_stop(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	while (srv->listeners) {
		struct listener *l = srv->listeners;
		srv->listeners = l->next;
		listen_close(l);
	}
	uv_timer_start(&srv->drain_timer, drain_timeout_cb, DRAIN_TIMEOUT_MS, 0);
	conn_hub_stop(&srv->hub); /* on_hub_idle follows once nothing is in flight */
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

/* Re-reads the configuration (same command line, same files).  Exports
 * whose settings did not change keep their state and their clients;
 * clients holding fids of a removed or changed export are disconnected;
 * listeners follow the new list.  A configuration with errors is refused
 * and the running one stays.  Requests in flight keep the configuration
 * they started with (their snapshot). */
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
	struct cfg_snapshot *nsnap = cfg_snapshot_new(ncfg, true);
	if (!nsnap) {
		config_free(ncfg);
		free(ncfg);
		return;
	}
	const struct ninepd_config *old = server_config(srv);
	struct export **nexp = calloc(ncfg->nexports, sizeof *nexp);
	bool *kept = calloc(srv->nexports ? srv->nexports : 1, sizeof *kept);
	if (!nexp || !kept)
		goto fail;
	for (size_t i = 0; i < ncfg->nexports; i++) {
		const struct export_conf *nc = &ncfg->exports[i];
		for (size_t k = 0; k < srv->nexports && !nexp[i]; k++) {
			if (!kept[k] && export_conf_same(srv->exports[k]->conf, nc)) {
				nexp[i] = srv->exports[k]; /* keeps its own conf (the same settings) */
				kept[k] = true;
			}
		}
		if (!nexp[i] && export_new(nsnap, nc, &nexp[i])) {
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
		for (struct conn *c = srv->hub.conns, *next; c; c = next) {
			next = c->next;
			if (!c->closing && fid_table_uses(&c->fids, e))
				conn_close(c);
		}
		e->retired_next = srv->retired;
		srv->retired = e;
	}
	free(srv->exports);
	srv->exports = srv->hub.exports = nexp;
	srv->nexports = srv->hub.nexports = ncfg->nexports;
	for (struct listener **pp = &srv->listeners; *pp;) {
		struct listener *l = *pp;
		bool wanted = false;
		for (size_t i = 0; i < ncfg->nlisten; i++)
			wanted |= !strcmp(ncfg->listen_addrs[i].text, l->addr);
		if (wanted || !strncmp(l->addr, "systemd:", 8)) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		log_info("SIGHUP: no longer listening on %s", l->addr);
		listen_close(l);
	}
	for (size_t i = 0; i < ncfg->nlisten; i++) {
		const struct listen_addr *a = &ncfg->listen_addrs[i];
		if (a->kind != LISTEN_STDIO && !listen_has(srv->listeners, a->text))
			listen_on(&srv->listeners, &srv->hub, a);
	}
	/* Set once per process: say so rather than seem to apply them. */
	unsigned threads = ncfg->threads ? ncfg->threads : default_threads();
	if (threads != srv->nthreads)
		log_warn("SIGHUP: threads = %u takes effect at the next start; %u worker "
			 "threads keep running", threads, srv->nthreads);
	if (!str_eq(ncfg->user, old->user))
		log_warn("SIGHUP: user = %s takes effect at the next start; the daemon's "
			 "identity is set once", ncfg->user ? ncfg->user : "(none)");
	if (config_needs_trusted_xattrs(ncfg) && !config_needs_trusted_xattrs(old))
		log_warn("SIGHUP: an xattrmap now renames guest names into trusted.*, which "
			 "takes cap_sys_admin the daemon dropped at start: those names get EPERM "
			 "until the next start");
	cfg_snapshot_unref(srv->hub.snap);
	srv->hub.snap = nsnap;
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
	cfg_snapshot_unref(nsnap);
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
	creds_init(); /* again after a privilege drop: main() */
	srv->hub.snap = cfg_snapshot_new(cfg, false);
	srv->hub.on_idle = on_hub_idle;
	srv->hub.on_hangup = on_hub_hangup;
	srv->exports = calloc(cfg->nexports ? cfg->nexports : 1, sizeof *srv->exports);
	if (!srv->hub.snap || !srv->exports)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nexports; i++) {
		int rc = export_new(srv->hub.snap, &cfg->exports[i], &srv->exports[i]);
		if (rc)
			return rc;
		srv->nexports++;
	}
	srv->hub.exports = srv->exports;
	srv->hub.nexports = srv->nexports;
	srv->nthreads = cfg->threads ? cfg->threads : default_threads();
	int rc = conn_hub_init(&srv->hub, loop, srv->nthreads); /* after hub.snap */
	if (rc)
		return rc;
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
	conn_hub_free(&srv->hub);
	for (size_t i = 0; i < srv->nexports; i++)
		export_free(srv->exports[i]);
	free(srv->exports);
	while (srv->retired) {
		struct export *e = srv->retired;
		srv->retired = e->retired_next;
		export_free(e);
	}
}
