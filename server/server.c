/* The server (server.h): start, reload, stop.  Loop thread only. */
#include "server/server.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---- the sandbox ---- */

/* The directory of a remap_state file (malloc'd), or NULL. */
static char *state_dir(const char *file)
{
	char *copy = strdup(file);
	char *dir = copy ? strdup(dirname(copy)) : NULL;
	free(copy);
	return dir;
}

/* Appends path to binds unless it is there already. */
static void add_bind(struct sandbox_bind *binds, size_t *n, const char *path, bool file,
		     bool readonly)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(binds[i].path, path))
			return;
	binds[(*n)++] = (struct sandbox_bind){.path = path, .file = file, .readonly = readonly};
}

int server_enter_sandbox(struct server *srv)
{
	const struct ninepd_config *cfg = server_config(srv);
	enum sandbox_mode mode = sandbox_mode_effective(cfg->sandbox);
	if (mode == SANDBOX_NONE) {
		log_info("no sandbox (--sandbox none%s): the daemon sees the host's whole tree",
			 cfg->sandbox ? "" : ", the default when not started as root");
		return 0;
	}
	/* Exports, state directories, two files per config source, passwd
	 * and group. */
	size_t cap = 2 * cfg->nexports + 4, n = 0;
	struct sandbox_bind *binds = calloc(cap, sizeof *binds);
	char **dirs = calloc(cfg->nexports + 1, sizeof *dirs);
	int rc = binds && dirs ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < srv->nexports; i++) {
		const struct export_conf *c = srv->exports[i]->conf;
		add_bind(binds, &n, c->path, false, false);
		if (c->remap_state && !(dirs[i] = state_dir(c->remap_state)))
			rc = -ENOMEM;
		else if (c->remap_state)
			add_bind(binds, &n, dirs[i], false, false);
	}
	/* SIGHUP reads them again: a file bind shows the file it was
	 * started with (see docs/ninepd.8 on editors that rename). */
	if (cfg->config_file)
		add_bind(binds, &n, cfg->config_file, true, true);
	if (cfg->libvirt_xml)
		add_bind(binds, &n, cfg->libvirt_xml, true, true);
	/* A reload checks that -u's user exists. */
	if (cfg->user && access("/etc/passwd", F_OK) == 0)
		add_bind(binds, &n, "/etc/passwd", true, true);
	if (cfg->user && access("/etc/group", F_OK) == 0)
		add_bind(binds, &n, "/etc/group", true, true);
	bool tcp = false;
	for (struct listener *l = srv->listeners; l; l = l->next)
		tcp |= l->is_tcp;
	char err[512] = "";
	if (!rc)
		rc = sandbox_enter(mode, binds, n, !tcp, cfg->sandbox == SANDBOX_DEFAULT,
				   &srv->sandbox, err, sizeof err);
	else
		snprintf(err, sizeof err, "out of memory");
	for (size_t i = 0; dirs && i < cfg->nexports; i++)
		free(dirs[i]);
	free(dirs);
	free(binds);
	if (rc) {
		log_error("cannot enter the sandbox (--sandbox %s): %s", sandbox_mode_name(mode), err);
		return rc;
	}
	srv->sandboxed = true;
	for (size_t i = 0; i < srv->nexports; i++)
		if ((rc = export_reopen(srv->exports[i])))
			return rc;
	log_info("sandbox: %s%s: a new root holding only %zu bound paths (exports, state "
		 "directories, configuration files) and a /proc of processes; new mount, ipc, "
		 "uts%s namespaces",
		 srv->sandbox.mode == SANDBOX_NAMESPACE ? "pivot_root" : "chroot",
		 srv->sandbox.mode != mode ? " (the root is an initramfs: it cannot be pivoted)" : "",
		 srv->sandbox.npaths,
		 srv->sandbox.own_net ? ", network" : " (not network: a TCP listener)");
	return 0;
}

/* A reload asks what the sandbox cannot give without a restart: an export
 * path or a remap_state directory it was not built with, or a new
 * listener (its socket file or port is outside).  Logged; true to refuse. */
static bool reload_outside_sandbox(struct server *srv, const struct ninepd_config *ncfg)
{
	bool refused = false;
	for (size_t i = 0; i < ncfg->nexports; i++) {
		const struct export_conf *c = &ncfg->exports[i];
		if (!sandbox_has(&srv->sandbox, c->path)) {
			log_error("SIGHUP: export '%s': %s is not an export path the daemon started "
				  "with; the sandbox holds only those: a new export path needs a "
				  "restart",
				  c->name, c->path);
			refused = true;
		}
		char *dir = c->remap_state ? state_dir(c->remap_state) : NULL;
		if (dir && !sandbox_has(&srv->sandbox, dir)) {
			log_error("SIGHUP: export '%s': remap_state %s lies in a directory the "
				  "sandbox was not built with: a new state directory needs a restart",
				  c->name, c->remap_state);
			refused = true;
		}
		free(dir);
	}
	for (size_t i = 0; i < ncfg->nlisten; i++) {
		const struct listen_addr *a = &ncfg->listen_addrs[i];
		if (a->kind != LISTEN_STDIO && !listen_has(srv->listeners, a->text)) {
			log_error("SIGHUP: listen %s: a new listener needs a restart under the "
				  "sandbox (removing one does not)",
				  a->text);
			refused = true;
		}
	}
	return refused;
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
	const struct ninepd_config *run = server_config(srv);
	struct stat st;
	if (srv->sandboxed && run->config_file && stat(run->config_file, &st) == 0 &&
	    st.st_nlink == 0)
		log_warn("SIGHUP: %s was replaced on the host (renamed over, as some editors "
			 "save); the sandbox still shows the file the daemon started with: "
			 "write the file in place, or restart", run->config_file);
	if (rc == 0 && srv->sandboxed && reload_outside_sandbox(srv, ncfg)) {
		log_error("SIGHUP: the new configuration needs a restart (--sandbox %s); keeping "
			  "the running one", sandbox_mode_name(srv->sandbox.mode));
		config_free(ncfg);
		free(ncfg);
		return;
	}
	if (rc != 0 || ncfg->nexports == 0) {
		if (srv->sandboxed) {
			char held[1024] = "";
			size_t used = 0;
			for (size_t i = 0; i < srv->sandbox.npaths && used < sizeof held; i++) {
				int w = snprintf(held + used, sizeof held - used, "%s%s", i ? ", " : "",
						 srv->sandbox.paths[i]);
				used += w > 0 ? (size_t)w : 0;
			}
			log_error("SIGHUP: inside the sandbox only the paths the daemon started with "
				  "exist (%s): a new export path or state directory needs a restart",
				  held);
		}
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
	if (ncfg->sandbox != old->sandbox || ncfg->seccomp != old->seccomp)
		log_warn("SIGHUP: sandbox and seccomp take effect at the next start; the daemon "
			 "confined itself once");
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
	sandbox_free(&srv->sandbox);
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
