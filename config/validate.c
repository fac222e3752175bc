/* config_validate(): everything that can be checked before the daemon
 * starts; config_print(): the effective configuration as a config file. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "config/internal.h"
#include "config/xattrmap.h"

static int check_xattrmap(const struct export_conf *e, FILE *err);
#include "remap/state.h"

/* "FILE:LINE: [export NAME] KEY: ", or "command line: -e NAME: KEY: ". */
static void export_error_key(FILE *err, const struct export_conf *e, const char *key, int line)
{
	const char *name = e->name ? e->name : "";

	config_where(err, &e->origin, line);
	if (e->origin.file)
		fprintf(err, "[export %s] %s: ", name, key);
	else
		fprintf(err, "-e %s: %s: ", name, key);
}

static void export_error_prefix(FILE *err, const struct export_conf *e, enum export_key key)
{
	export_error_key(err, e, config_export_keys[key], e->key_line[key]);
}

static int check_directory(const struct export_conf *e, FILE *err)
{
	const char *problem = NULL;
	struct stat st;

	if (!e->path || !*e->path) {
		export_error_prefix(err, e, EXPORT_KEY_PATH);
		fputs("missing (accepted: an existing directory)\n", err);
		return 1;
	}
	if (e->path[0] != '/')
		problem = "is not absolute";
	else if (stat(e->path, &st) < 0)
		problem = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		problem = "is not a directory";
	if (!problem)
		return 0;
	export_error_prefix(err, e, EXPORT_KEY_PATH);
	fprintf(err, "'%s': %s (accepted: an existing directory, as an absolute path)\n", e->path,
		problem);
	return 1;
}

/* Whether the canonical path child is parent or lies below it. */
static bool path_within(const char *child, const char *parent)
{
	size_t n = strlen(parent);

	if (n == 1) /* "/" */
		return true;
	return !strncmp(child, parent, n) && (child[n] == '\0' || child[n] == '/');
}

/*
 * A state file inside an export could be written by its clients (with
 * passthrough, as any uid): they would choose the next start's qid paths,
 * or put a link or a FIFO there.  Its directory, free of links (checked
 * before), is compared with every export's real path.
 */
static int check_state_outside_exports(const struct ninepd_config *cfg,
				       const struct export_conf *e, FILE *err)
{
	const char *path = e->remap_state, *slash = strrchr(path, '/');
	char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	char *real = dir ? realpath(dir, NULL) : NULL;
	int bad = 0;

	for (size_t i = 0; real && i < cfg->nexports && !bad; i++) {
		const struct export_conf *x = &cfg->exports[i];
		char *xreal = x->path ? realpath(x->path, NULL) : NULL;

		if (xreal && path_within(real, xreal)) {
			export_error_prefix(err, e, EXPORT_KEY_REMAP_STATE);
			fprintf(err, "'%s' is inside export '%s' (%s) (accepted: " ACCEPTED_STATE ")\n",
				path, x->name ? x->name : "", xreal);
			bad = 1;
		}
		free(xreal);
	}
	free(real);
	free(dir);
	return bad;
}

/* The state file's directory must exist and be reached without links;
 * the file itself may not exist yet (remap_state_check_path()). */
static int check_remap_state(const struct ninepd_config *cfg, const struct export_conf *e,
			     FILE *err)
{
	char msg[PATH_MAX + 128];

	if (!e->remap_state)
		return 0;
	if (e->multidevs != MULTIDEVS_REMAP) {
		export_error_prefix(err, e, EXPORT_KEY_REMAP_STATE);
		fprintf(err, "only used with multidevs = remap (this export has multidevs = %s)\n",
			multidevs_policy_name(e->multidevs));
		return 1;
	}
	if (e->remap_state[0] != '/') {
		export_error_prefix(err, e, EXPORT_KEY_REMAP_STATE);
		fprintf(err, "'%s' is not absolute (accepted: an absolute path)\n", e->remap_state);
		return 1;
	}
	if (remap_state_check_path(e->remap_state, msg, sizeof(msg)) < 0) {
		export_error_prefix(err, e, EXPORT_KEY_REMAP_STATE);
		fprintf(err, "%s (accepted: " ACCEPTED_STATE ")\n", msg);
		return 1;
	}
	return check_state_outside_exports(cfg, e, err);
}

/* Names are the guest's mount tags and must survive "[export NAME]". */
static int check_name(const struct export_conf *e, FILE *err)
{
	const unsigned char *p = (const unsigned char *)e->name;

	const char *problem = NULL;

	if (!p || !*p)
		problem = "empty";
	for (; !problem && *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ']')
			problem = "contains ']' or a control character";
	if (!problem && (e->name[0] == ' ' || p[-1] == ' '))
		problem = "begins or ends with a space";
	if (!problem)
		return 0;
	export_error_key(err, e, "name", 0);
	fprintf(err, "%s (accepted: printable characters other than ']', no surrounding spaces)\n",
		problem);
	return 1;
}

static int check_enums(const struct export_conf *e, FILE *err)
{
	int bad = 0;

	if ((unsigned)e->multidevs > MULTIDEVS_WARN) {
		export_error_prefix(err, e, EXPORT_KEY_MULTIDEVS);
		fprintf(err, "unknown value %d (accepted: " ACCEPTED_MULTIDEVS ")\n",
			(int)e->multidevs);
		bad++;
	}
	if (!security_model_name(e->security_model)) {
		export_error_prefix(err, e, EXPORT_KEY_SECURITY_MODEL);
		fprintf(err, "unknown value %d (accepted: " ACCEPTED_SECMODEL ")\n",
			(int)e->security_model);
		bad++;
	}
	return bad;
}

static int check_squash(const struct export_conf *e, enum export_key key, int64_t id, FILE *err)
{
	char msg[128];

	if (id == -1 || (id >= 0 && id <= (int64_t)SQUASH_ID_MAX))
		return 0;
	export_error_prefix(err, e, key);
	if (id < 0)
		fprintf(err, "%lld out of range (accepted: 0..%llu, or -1 for not set)\n",
			(long long)id, (unsigned long long)SQUASH_ID_MAX);
	else {
		config_range_message((uint64_t)id, 0, SQUASH_ID_MAX, msg, sizeof(msg));
		fprintf(err, "%s\n", msg);
	}
	return 1;
}

static const char *throttle_key(int limit)
{
	return config_export_keys[EXPORT_KEY_BPS_LIMIT + limit];
}

/*
 * QEMU's rules (throttle_is_valid() in util/throttle.c): a total limit and a
 * read or write limit of one unit cannot be used together, and a burst needs
 * its limit.  QEMU's burst (bps-total-max) is a rate and may not be below
 * the limit; ours is the bucket's size, which may.
 */
static int check_throttle(const struct export_conf *e, FILE *err)
{
	const struct throttle_conf *t = &e->throttle;
	int bad = 0;

	/* Each unit's limits come in a row: TOTAL, READ, WRITE. */
	for (int total = THROTTLE_BPS_TOTAL; total <= THROTTLE_OPS_TOTAL; total += 3) {
		for (int dir = total + 1; dir <= total + 2; dir++) {
			if (!t->limit[total] || !t->limit[dir])
				continue;
			export_error_prefix(err, e, (enum export_key)(EXPORT_KEY_BPS_LIMIT + dir));
			fprintf(err, "cannot be used together with %s (accepted: %s for reads and "
				     "writes together, or %s and %s apart)\n",
				throttle_key(total), throttle_key(total), throttle_key(total + 1),
				throttle_key(total + 2));
			bad++;
		}
	}
	for (int l = 0; l < THROTTLE_LIMITS; l++) {
		if (!t->burst[l] || t->limit[l])
			continue;
		export_error_prefix(err, e, (enum export_key)(EXPORT_KEY_BPS_BURST + l));
		fprintf(err, "set without %s (accepted: the burst of a limit that is set)\n",
			throttle_key(l));
		bad++;
	}
	return bad;
}

static int check_exports(const struct ninepd_config *cfg, FILE *err)
{
	int bad = 0;

	if (!cfg->nexports) {
		fprintf(err, "ninepd: no export configured (accepted: -e PATH, an [export NAME] "
			     "section, or --libvirt-xml FILE)\n");
		return 1;
	}
	for (size_t i = 0; i < cfg->nexports; i++) {
		const struct export_conf *e = &cfg->exports[i];

		if (check_name(e, err)) {
			bad++;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct export_conf *first = &cfg->exports[j];

			if (first->name && !strcmp(first->name, e->name)) {
				export_error_key(err, e, "name", 0);
				fputs("already used by the export from ", err);
				config_print_origin(err, &first->origin, 0);
				fputs(" (accepted: a unique name)\n", err);
				bad++;
				break;
			}
		}
		bad += check_directory(e, err);
		bad += check_enums(e, err);
		bad += check_squash(e, EXPORT_KEY_SQUASH_UID, e->squash_uid, err);
		bad += check_squash(e, EXPORT_KEY_SQUASH_GID, e->squash_gid, err);
		bad += check_remap_state(cfg, e, err);
		bad += check_throttle(e, err);
		bad += check_xattrmap(e, err);
	}
	return bad;
}

/* How the listen setting is spelled where it came from. */
static const char *listen_key(const struct config_origin *o)
{
	return o->file ? "[server] listen: " : "-l ";
}

static int check_listen(const struct ninepd_config *cfg, FILE *err)
{
	int bad = 0;
	size_t stdio = 0;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct config_origin *o = &cfg->listen_origin[i];
		const struct listen_addr *a = &cfg->listen_addrs[i];
		const char *addr = a->text;

		if (a->kind == LISTEN_STDIO && stdio++) {
			config_error(err, o, 0,
				     "%sstdio given more than once (accepted: at most one stdio)",
				     listen_key(o));
			bad++;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct listen_addr *b = &cfg->listen_addrs[j];

			if (a->kind == LISTEN_STDIO || !listen_addr_same_socket(a, b))
				continue;
			if (!strcmp(b->text, addr))
				config_error(err, o, 0,
					     "%s'%s' given twice (accepted: distinct addresses)",
					     listen_key(o), addr);
			else
				config_error(err, o, 0,
					     "%s'%s' binds the port of '%s' (accepted: distinct "
					     "addresses; a vsock port once per CID, or once for "
					     "every CID)",
					     listen_key(o), addr, b->text);
			bad++;
			break;
		}
	}
	return bad;
}

/* "WHERE: --option: " or "WHERE: [server] key: ", as the setting was given. */
static void server_error_prefix(FILE *err, const struct ninepd_config *cfg, enum server_key k)
{
	const char *option = config_server_numbers[k].option;
	const struct config_origin *o = &cfg->origin[k];

	config_where(err, o, 0);
	if (!o->file && option)
		fprintf(err, "%s: ", option);
	else
		fprintf(err, "[server] %s: ", config_server_keys[k]);
}

/* A cap at or above the descriptor limit is never reached: the daemon
 * would meet EMFILE before it gives any descriptor back. */
static int check_open_fds(const struct ninepd_config *cfg, FILE *err)
{
	if (!cfg->max_open_fds || !cfg->rlimit_nofile || cfg->max_open_fds < cfg->rlimit_nofile)
		return 0;
	server_error_prefix(err, cfg, SERVER_KEY_MAX_OPEN_FDS);
	fprintf(err, "%u is not below rlimit_nofile = %u (accepted: 0, or fewer than "
		     "rlimit_nofile)\n",
		cfg->max_open_fds, cfg->rlimit_nofile);
	return 1;
}

static int check_server(const struct ninepd_config *cfg, FILE *err)
{
	const uint64_t values[SERVER_KEY_COUNT] = {
		[SERVER_KEY_MAX_MSIZE] = cfg->max_msize,
		[SERVER_KEY_THREADS] = cfg->threads,
		[SERVER_KEY_MAX_CONNS] = cfg->max_conns,
		[SERVER_KEY_MAX_FIDS] = cfg->max_fids,
		[SERVER_KEY_MAX_OPEN_FDS] = cfg->max_open_fds,
		[SERVER_KEY_RLIMIT_NOFILE] = cfg->rlimit_nofile,
	};
	int bad = check_open_fds(cfg, err);

	for (int k = 0; k < SERVER_KEY_COUNT; k++) {
		const struct config_number *num = &config_server_numbers[k];
		char msg[128];

		if (!num->max || (values[k] >= num->min && values[k] <= num->max))
			continue;
		if (num->zero_unset && !values[k] && !(cfg->set & (1u << k)))
			continue;
		config_range_message(values[k], num->min, num->max, msg, sizeof(msg));
		server_error_prefix(err, cfg, (enum server_key)k);
		fprintf(err, "%s\n", msg);
		bad++;
	}
	if (!log_level_name(cfg->log_level)) {
		config_error(err, &cfg->origin[SERVER_KEY_LOG_LEVEL], 0,
			     "[server] log_level: unknown value %d (accepted: " ACCEPTED_LOG_LEVEL
			     ")",
			     (int)cfg->log_level);
		bad++;
	}
	return bad;
}

/* getpw*_r() report "no such entry" as 0 with a NULL result, but NSS
 * modules are known to return these errors for it too (getpwnam(3)). */
static int not_found(int rc)
{
	return rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM ? 0 : rc;
}

int config_lookup_user(const char *user, uid_t *uid, gid_t *gid, char *msg, size_t msglen)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	uint64_t id;
	int rc;

	/* A name first, as chown(1) does: a user may be called "1000". */
	rc = not_found(getpwnam_r(user, &pw, buf, sizeof(buf), &found));
	if (!found && !rc && *user && strspn(user, "0123456789") == strlen(user)) {
		if (config_parse_number(user, 0, SQUASH_ID_MAX, &id, msg, msglen) < 0) {
			snprintf(msg, msglen, "uid %s out of range (accepted: " ACCEPTED_USER ")",
				 user);
			return -EINVAL;
		}
		rc = not_found(getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &found));
		if (!found && !rc) {
			/* A uid no entry names owns nothing: a fine identity for a
			 * daemon, with the group of the same number. */
			pw.pw_uid = (uid_t)id;
			pw.pw_gid = (gid_t)id;
			found = &pw;
		}
	}
	if (rc) {
		snprintf(msg, msglen, "cannot look up '%s': %s (accepted: " ACCEPTED_USER ")", user,
			 strerror(rc));
		return -rc;
	}
	if (!found) {
		snprintf(msg, msglen, "no user '%s' (accepted: " ACCEPTED_USER ")", user);
		return -ENOENT;
	}
	if (found->pw_uid == 0) {
		snprintf(msg, msglen, "'%s' is uid 0, which would drop nothing (accepted: a user "
				      "other than root)",
			 user);
		return -EINVAL;
	}
	*uid = found->pw_uid;
	*gid = found->pw_gid;
	return 0;
}

static int check_user(const struct ninepd_config *cfg, FILE *err)
{
	const struct config_origin *o = &cfg->origin[SERVER_KEY_USER];
	char msg[256];
	uid_t uid;
	gid_t gid;

	if (!cfg->user || config_lookup_user(cfg->user, &uid, &gid, msg, sizeof(msg)) == 0)
		return 0;
	config_error(err, o, 0, "%s%s", o->file ? "[server] user: " : "-u: ", msg);
	return 1;
}

int config_validate(const struct ninepd_config *cfg, FILE *err)
{
	return check_server(cfg, err) + check_user(cfg, err) + check_listen(cfg, err) +
	       check_exports(cfg, err);
}

/* Each limit that is set, followed by its burst. */
/* The rules as written, then as understood (map expanded), as comments. */
static void print_xattrmap(FILE *out, const char *text)
{
	struct xattrmap *m = NULL;

	if (!text)
		return;
	fprintf(out, "xattrmap = %s\n", text);
	if (xattrmap_parse(text, &m, NULL, 0) == 0) {
		fputs("#   rules, first match wins; a name no rule matches is refused:\n", out);
		xattrmap_print(m, out, "#   ");
	}
	xattrmap_free(m);
}

static int check_xattrmap(const struct export_conf *e, FILE *err)
{
	struct xattrmap *m = NULL;
	char msg[512];
	int rc;

	if (!e->xattrmap)
		return 0;
	rc = xattrmap_parse(e->xattrmap, &m, msg, sizeof(msg));
	xattrmap_free(m);
	if (rc == 0)
		return 0;
	export_error_prefix(err, e, EXPORT_KEY_XATTRMAP);
	fprintf(err, "%s\n", rc == -ENOMEM ? "out of memory" : msg);
	return 1;
}

bool config_needs_trusted_xattrs(const struct ninepd_config *cfg)
{
	bool trusted = false;

	for (size_t i = 0; i < cfg->nexports && !trusted; i++) {
		struct xattrmap *m = NULL;

		if (cfg->exports[i].xattrmap &&
		    xattrmap_parse(cfg->exports[i].xattrmap, &m, NULL, 0) == 0)
			trusted = xattrmap_may_rename_into(m, "trusted.");
		xattrmap_free(m);
	}
	return trusted;
}

static void print_throttle(FILE *out, const struct throttle_conf *t)
{
	for (int l = 0; l < THROTTLE_LIMITS; l++) {
		const char *burst = config_export_keys[EXPORT_KEY_BPS_BURST + l];

		if (!t->limit[l])
			continue;
		fprintf(out, "%s = %llu\n", throttle_key(l), (unsigned long long)t->limit[l]);
		if (t->burst[l])
			fprintf(out, "%s = %llu\n", burst, (unsigned long long)t->burst[l]);
		else
			fprintf(out, "# %s: not set; a tenth of a second at %s\n", burst,
				throttle_key(l));
	}
}

void config_print(const struct ninepd_config *cfg, FILE *out)
{
	fputs("# ninepd effective configuration\n", out);
	if (cfg->config_file)
		fprintf(out, "# read from %s\n", cfg->config_file);
	if (cfg->libvirt_xml)
		fprintf(out, "# exports imported from %s\n", cfg->libvirt_xml);
	fputs("\n[server]\n", out);
	for (size_t i = 0; i < cfg->nlisten; i++)
		fprintf(out, "listen = %s\n", cfg->listen_addrs[i].text);
	if (!cfg->nlisten)
		fputs("# listen: not set; the daemon uses its default\n", out);
	fprintf(out, "max_msize = %u\n", (unsigned)cfg->max_msize);
	if (cfg->threads)
		fprintf(out, "threads = %u\n", cfg->threads);
	else
		fputs("# threads: not set; the daemon uses its default\n", out);
	fprintf(out, "log_level = %s\n", log_level_name(cfg->log_level));
	fprintf(out, "max_connections = %u\n", cfg->max_conns);
	fprintf(out, "max_fids = %u\n", cfg->max_fids);
	if (cfg->user)
		fprintf(out, "user = %s\n", cfg->user);
	else
		fputs("# user: not set; the daemon keeps the identity it starts with\n", out);
	if (cfg->max_open_fds)
		fprintf(out, "max_open_fds = %u\n", cfg->max_open_fds);
	else
		fputs("# max_open_fds: not set; derived from RLIMIT_NOFILE at start\n", out);
	if (cfg->rlimit_nofile)
		fprintf(out, "rlimit_nofile = %u\n", cfg->rlimit_nofile);
	else
		fputs("# rlimit_nofile: not set; the soft limit is raised to the hard one\n", out);
	if (cfg->sandbox)
		fprintf(out, "sandbox = %s\n", sandbox_mode_name(cfg->sandbox));
	else
		fputs("# sandbox: not set; namespace when started as root, else none\n", out);
	fprintf(out, "seccomp = %s\n", seccomp_mode_name(cfg->seccomp));
	if (cfg->trace)
		fputs("# --trace is on (command line only)\n", out);

	for (size_t i = 0; i < cfg->nexports; i++) {
		const struct export_conf *e = &cfg->exports[i];

		fprintf(out, "\n[export %s]\n", e->name);
		fprintf(out, "path = %s\n", e->path);
		fprintf(out, "multidevs = %s\n", multidevs_policy_name(e->multidevs));
		fprintf(out, "security_model = %s\n", security_model_name(e->security_model));
		fprintf(out, "readonly = %s\n", e->readonly ? "yes" : "no");
		if (e->squash_uid >= 0)
			fprintf(out, "squash_uid = %lld\n", (long long)e->squash_uid);
		if (e->squash_gid >= 0)
			fprintf(out, "squash_gid = %lld\n", (long long)e->squash_gid);
		if (e->remap_state)
			fprintf(out, "remap_state = %s\n", e->remap_state);
		idmap_print(&e->uid_map, "translate_uid", out);
		idmap_print(&e->gid_map, "translate_gid", out);
		print_xattrmap(out, e->xattrmap);
		print_throttle(out, &e->throttle);
	}
}
