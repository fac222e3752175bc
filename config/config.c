/* The configuration struct, the -e grammar, the command line, the merge of
 * the command line over the files, and config_load(), which runs them all. */
#include "config/config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/internal.h"

const char *const config_server_keys[SERVER_KEY_COUNT] = {
	[SERVER_KEY_LISTEN] = "listen",
	[SERVER_KEY_MAX_MSIZE] = "max_msize",
	[SERVER_KEY_THREADS] = "threads",
	[SERVER_KEY_LOG_LEVEL] = "log_level",
	[SERVER_KEY_MAX_CONNS] = "max_connections",
	[SERVER_KEY_MAX_FIDS] = "max_fids",
	[SERVER_KEY_USER] = "user",
	[SERVER_KEY_MAX_OPEN_FDS] = "max_open_fds",
	[SERVER_KEY_RLIMIT_NOFILE] = "rlimit_nofile",
	[SERVER_KEY_SANDBOX] = "sandbox",
	[SERVER_KEY_SECCOMP] = "seccomp",
};

const struct config_number config_server_numbers[SERVER_KEY_COUNT] = {
	[SERVER_KEY_MAX_MSIZE] = {"--msize", CONFIG_MIN_MSIZE, CONFIG_MAX_MSIZE, .zero_unset = false},
	[SERVER_KEY_THREADS] = {"--threads", 1, CONFIG_MAX_THREADS, .zero_unset = true},
	[SERVER_KEY_MAX_CONNS] = {NULL, 1, UINT_MAX, .zero_unset = false},
	[SERVER_KEY_MAX_FIDS] = {NULL, CONFIG_MIN_FIDS, UINT_MAX, .zero_unset = false},
	/* 0 is a value here, spelled out: "derive the cap from the limit". */
	[SERVER_KEY_MAX_OPEN_FDS] = {"--max-open-fds", 0, UINT_MAX, .zero_unset = false},
	[SERVER_KEY_RLIMIT_NOFILE] = {"--rlimit-nofile", CONFIG_MIN_RLIMIT_NOFILE, UINT_MAX,
				      .zero_unset = true},
};

void config_set_number(struct ninepd_config *cfg, enum server_key key, uint64_t v)
{
	switch (key) {
	case SERVER_KEY_MAX_MSIZE:
		cfg->max_msize = (uint32_t)v;
		break;
	case SERVER_KEY_THREADS:
		cfg->threads = (unsigned)v;
		break;
	case SERVER_KEY_MAX_CONNS:
		cfg->max_conns = (unsigned)v;
		break;
	case SERVER_KEY_MAX_FIDS:
		cfg->max_fids = (unsigned)v;
		break;
	case SERVER_KEY_MAX_OPEN_FDS:
		cfg->max_open_fds = (unsigned)v;
		break;
	case SERVER_KEY_RLIMIT_NOFILE:
		cfg->rlimit_nofile = (unsigned)v;
		break;
	default: /* not a number */
		break;
	}
}

const char *const config_export_keys[EXPORT_KEY_COUNT] = {
	[EXPORT_KEY_PATH] = "path",
	[EXPORT_KEY_MULTIDEVS] = "multidevs",
	[EXPORT_KEY_SECURITY_MODEL] = "security_model",
	[EXPORT_KEY_READONLY] = "readonly",
	[EXPORT_KEY_SQUASH_UID] = "squash_uid",
	[EXPORT_KEY_SQUASH_GID] = "squash_gid",
	[EXPORT_KEY_REMAP_STATE] = "remap_state",
	[EXPORT_KEY_TRANSLATE_UID] = "translate_uid",
	[EXPORT_KEY_TRANSLATE_GID] = "translate_gid",
	[EXPORT_KEY_XATTRMAP] = "xattrmap",
	[EXPORT_KEY_BPS_LIMIT] = "bps_limit",
	[EXPORT_KEY_BPS_READ_LIMIT] = "bps_read_limit",
	[EXPORT_KEY_BPS_WRITE_LIMIT] = "bps_write_limit",
	[EXPORT_KEY_IOPS_LIMIT] = "iops_limit",
	[EXPORT_KEY_IOPS_READ_LIMIT] = "iops_read_limit",
	[EXPORT_KEY_IOPS_WRITE_LIMIT] = "iops_write_limit",
	[EXPORT_KEY_BPS_BURST] = "bps_burst",
	[EXPORT_KEY_BPS_READ_BURST] = "bps_read_burst",
	[EXPORT_KEY_BPS_WRITE_BURST] = "bps_write_burst",
	[EXPORT_KEY_IOPS_BURST] = "iops_burst",
	[EXPORT_KEY_IOPS_READ_BURST] = "iops_read_burst",
	[EXPORT_KEY_IOPS_WRITE_BURST] = "iops_write_burst",
};

/* ---- small helpers shared by config/ ---- */

int config_origin_set(struct config_origin *o, const char *file, int line)
{
	char *copy = NULL;

	if (file && !(copy = strdup(file)))
		return -ENOMEM;
	free(o->file);
	o->file = copy;
	o->line = line;
	return 0;
}

void config_origin_free(struct config_origin *o)
{
	free(o->file);
	o->file = NULL;
	o->line = 0;
}

void config_print_origin(FILE *f, const struct config_origin *o, int line)
{
	if (!line)
		line = o->line;
	if (!o->file)
		fputs("command line", f);
	else if (line)
		fprintf(f, "%s:%d", o->file, line);
	else
		fputs(o->file, f);
}

void config_where(FILE *f, const struct config_origin *o, int line)
{
	config_print_origin(f, o, line);
	fputs(": ", f);
}

void config_error(FILE *f, const struct config_origin *o, int line, const char *fmt, ...)
{
	va_list ap;

	config_where(f, o, line);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

void config_range_message(uint64_t value, uint64_t min, uint64_t max, char *msg, size_t msglen)
{
	snprintf(msg, msglen, "%llu out of range (accepted: %llu..%llu)", (unsigned long long)value,
		 (unsigned long long)min, (unsigned long long)max);
}

int config_parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *msg,
			size_t msglen)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			break;
		v = v * 10 + digit;
	}
	if (p == s || *p) {
		snprintf(msg, msglen, "'%s' is not a number (accepted: %llu..%llu)", s,
			 (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	if (v < min || v > max) {
		config_range_message(v, min, max, msg, msglen);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

void config_key_list(char *buf, size_t len, const char *const *names, int from, int n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = from; i < n && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i > from ? ", " : "", names[i]);

		used += w > 0 ? (size_t)w : 0;
	}
}

int config_parse_bool(const char *s)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]))
			return 1;
		if (!strcmp(s, no[i]))
			return 0;
	}
	return -1;
}

/* ---- names of the enums ---- */

int security_model_parse(const char *name)
{
	if (!strcmp(name, "passthrough"))
		return SECMODEL_PASSTHROUGH;
	if (!strcmp(name, "mapped-xattr") || !strcmp(name, "mapped"))
		return SECMODEL_MAPPED_XATTR;
	if (!strcmp(name, "none") || !strcmp(name, "squash"))
		return SECMODEL_NONE;
	return -1;
}

const char *security_model_name(enum security_model m)
{
	switch (m) {
	case SECMODEL_PASSTHROUGH:
		return "passthrough";
	case SECMODEL_MAPPED_XATTR:
		return "mapped-xattr";
	case SECMODEL_NONE:
		return "none";
	}
	return NULL;
}

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *name)
{
	for (int i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++)
		if (!strcmp(name, log_level_names[i]))
			return i;
	return -1;
}

static const char *const sandbox_names[] = {
	[SANDBOX_NAMESPACE] = "namespace",
	[SANDBOX_CHROOT] = "chroot",
	[SANDBOX_NONE] = "none",
};

static const char *const seccomp_names[] = {
	[SECCOMP_FILTER_KILL] = "kill",
	[SECCOMP_FILTER_LOG] = "log",
	[SECCOMP_FILTER_NONE] = "none",
};

int sandbox_mode_parse(const char *name)
{
	for (int i = SANDBOX_NAMESPACE; i <= SANDBOX_NONE; i++)
		if (!strcmp(name, sandbox_names[i]))
			return i;
	return -1;
}

const char *sandbox_mode_name(enum sandbox_mode m)
{
	return m >= SANDBOX_NAMESPACE && m <= SANDBOX_NONE ? sandbox_names[m] : NULL;
}

int seccomp_mode_parse(const char *name)
{
	for (int i = SECCOMP_FILTER_KILL; i <= SECCOMP_FILTER_NONE; i++)
		if (!strcmp(name, seccomp_names[i]))
			return i;
	return -1;
}

const char *seccomp_mode_name(enum seccomp_mode m)
{
	return m <= SECCOMP_FILTER_NONE ? seccomp_names[m] : NULL;
}

const char *log_level_name(enum log_level l)
{
	return l <= LOG_LEVEL_DEBUG ? log_level_names[l] : NULL;
}

/* ---- the struct ---- */

void config_init(struct ninepd_config *cfg)
{
	*cfg = (struct ninepd_config){
		.max_msize = CONFIG_DEFAULT_MSIZE,
		.log_level = CONFIG_DEFAULT_LOG_LEVEL,
		.max_conns = CONFIG_DEFAULT_MAX_CONNS,
		.max_fids = CONFIG_DEFAULT_MAX_FIDS,
	};
}

static void free_listen(struct ninepd_config *cfg)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		listen_addr_free(&cfg->listen_addrs[i]);
		config_origin_free(&cfg->listen_origin[i]);
	}
	free(cfg->listen_addrs);
	free(cfg->listen);
	free(cfg->listen_origin);
	cfg->listen_addrs = NULL;
	cfg->listen = NULL;
	cfg->listen_origin = NULL;
	cfg->nlisten = 0;
}

void config_free(struct ninepd_config *cfg)
{
	free_listen(cfg);
	for (size_t i = 0; i < cfg->nexports; i++)
		export_conf_free(&cfg->exports[i]);
	free(cfg->exports);
	for (int k = 0; k < SERVER_KEY_COUNT; k++)
		config_origin_free(&cfg->origin[k]);
	free(cfg->config_file);
	free(cfg->libvirt_xml);
	free(cfg->user);
	config_init(cfg);
}

void export_conf_init(struct export_conf *e)
{
	*e = (struct export_conf){
		.multidevs = MULTIDEVS_DEFAULT,
		.security_model = SECMODEL_PASSTHROUGH,
		.squash_uid = -1,
		.squash_gid = -1,
	};
}

void export_conf_free(struct export_conf *e)
{
	free(e->name);
	free(e->path);
	free(e->remap_state);
	idmap_free(&e->uid_map);
	idmap_free(&e->gid_map);
	free(e->xattrmap);
	config_origin_free(&e->origin);
	export_conf_init(e);
}

int config_add_listen_at(struct ninepd_config *cfg, const char *addr,
			 const struct config_origin *origin, char *msg, size_t msglen)
{
	size_t n = cfg->nlisten + 1;
	struct listen_addr a, *addrs;
	struct config_origin *lo;
	char **listen;
	int rc = listen_addr_parse(&a, addr, msg, msglen);

	if (rc < 0)
		return rc;
	if ((addrs = realloc(cfg->listen_addrs, n * sizeof(*addrs))))
		cfg->listen_addrs = addrs;
	if ((listen = realloc(cfg->listen, n * sizeof(*listen))))
		cfg->listen = listen;
	if ((lo = realloc(cfg->listen_origin, n * sizeof(*lo))))
		cfg->listen_origin = lo;
	if (!addrs || !listen || !lo) {
		listen_addr_free(&a);
		return -ENOMEM;
	}
	lo[n - 1] = (struct config_origin){0};
	if (origin && config_origin_set(&lo[n - 1], origin->file, origin->line) < 0) {
		listen_addr_free(&a);
		return -ENOMEM;
	}
	addrs[n - 1] = a;
	listen[n - 1] = a.text;
	cfg->nlisten = n;
	return 0;
}

int config_add_listen(struct ninepd_config *cfg, const char *addr)
{
	char msg[160];

	return config_add_listen_at(cfg, addr, NULL, msg, sizeof(msg));
}

static int strdup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

/* Deep copy; dst need not be initialised.  0 or -ENOMEM (dst then empty). */
static int export_conf_copy(struct export_conf *dst, const struct export_conf *src)
{
	*dst = *src;
	dst->origin.file = NULL;
	dst->uid_map = dst->gid_map = (struct idmap){0};
	if (strdup_opt(&dst->name, src->name) < 0 || strdup_opt(&dst->path, src->path) < 0 ||
	    strdup_opt(&dst->remap_state, src->remap_state) < 0 ||
	    strdup_opt(&dst->xattrmap, src->xattrmap) < 0 ||
	    idmap_copy(&dst->uid_map, &src->uid_map) < 0 ||
	    idmap_copy(&dst->gid_map, &src->gid_map) < 0 ||
	    strdup_opt(&dst->origin.file, src->origin.file) < 0) {
		export_conf_free(dst);
		return -ENOMEM;
	}
	return 0;
}

int config_add_export(struct ninepd_config *cfg, const struct export_conf *e)
{
	struct export_conf *exports = realloc(cfg->exports, (cfg->nexports + 1) * sizeof(*exports));

	if (!exports)
		return -ENOMEM;
	cfg->exports = exports;
	if (export_conf_copy(&exports[cfg->nexports], e) < 0)
		return -ENOMEM;
	cfg->nexports++;
	return 0;
}

/* ---- one export key, shared by -e SPEC and [export NAME] ---- */

bool export_key_repeats(enum export_key key)
{
	return key == EXPORT_KEY_TRANSLATE_UID || key == EXPORT_KEY_TRANSLATE_GID;
}

int export_key_lookup(const char *name)
{
	for (int k = 0; k < EXPORT_KEY_COUNT; k++)
		if (!strcmp(name, config_export_keys[k]))
			return k;
	return -1;
}

static int set_string(char **dst, const char *key, const char *value, const char *accepted,
		      char *msg, size_t msglen)
{
	char *copy;

	if (!*value) {
		snprintf(msg, msglen, "%s: empty value (accepted: %s)", key, accepted);
		return -EINVAL;
	}
	if (!(copy = strdup(value)))
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

/* config_parse_number() with "KEY: " before its message. */
static int key_number(const char *key, const char *value, uint64_t min, uint64_t max,
		      uint64_t *out, char *msg, size_t msglen)
{
	int n = snprintf(msg, msglen, "%s: ", key);
	size_t used = n > 0 && (size_t)n < msglen ? (size_t)n : 0;

	return config_parse_number(value, min, max, out, msg + used, msglen - used);
}

int export_set_key(struct export_conf *e, enum export_key key, const char *value, char *msg,
		   size_t msglen)
{
	const char *name = config_export_keys[key];
	const char *accepted = NULL;
	uint64_t n;
	int v;

	/* A limit of 0 would mean "none" to QEMU and "nothing passes" to a
	 * reader: leaving the key out says "none" without doubt. */
	if (key >= EXPORT_KEY_BPS_LIMIT && key < EXPORT_KEY_BPS_BURST) {
		if (key_number(name, value, 1, CONFIG_THROTTLE_LIMIT_MAX, &n, msg, msglen) < 0)
			return -EINVAL;
		e->throttle.limit[key - EXPORT_KEY_BPS_LIMIT] = n;
		return 0;
	}
	if (key >= EXPORT_KEY_BPS_BURST && key < EXPORT_KEY_COUNT) {
		if (key_number(name, value, 1, CONFIG_THROTTLE_BURST_MAX, &n, msg, msglen) < 0)
			return -EINVAL;
		e->throttle.burst[key - EXPORT_KEY_BPS_BURST] = n;
		return 0;
	}
	switch (key) {
	case EXPORT_KEY_PATH:
		return set_string(&e->path, name, value, "a directory", msg, msglen);
	case EXPORT_KEY_REMAP_STATE:
		return set_string(&e->remap_state, name, value, "a file name", msg, msglen);
	case EXPORT_KEY_XATTRMAP:
		return set_string(&e->xattrmap, name, value, "xattr mapping rules", msg, msglen);
	case EXPORT_KEY_TRANSLATE_UID:
	case EXPORT_KEY_TRANSLATE_GID: {
		int n = snprintf(msg, msglen, "%s: ", name);
		size_t used = n > 0 && (size_t)n < msglen ? (size_t)n : 0;
		return idmap_add(key == EXPORT_KEY_TRANSLATE_UID ? &e->uid_map : &e->gid_map, value,
				 e->key_line[key], msg + used, msglen - used);
	}
	case EXPORT_KEY_MULTIDEVS:
		if ((v = multidevs_policy_parse(value, strlen(value))) >= 0) {
			e->multidevs = (enum multidevs_policy)v;
			return 0;
		}
		accepted = ACCEPTED_MULTIDEVS;
		break;
	case EXPORT_KEY_SECURITY_MODEL:
		if ((v = security_model_parse(value)) >= 0) {
			e->security_model = (enum security_model)v;
			return 0;
		}
		accepted = ACCEPTED_SECMODEL;
		break;
	case EXPORT_KEY_READONLY:
		if ((v = config_parse_bool(value)) >= 0) {
			e->readonly = v;
			return 0;
		}
		accepted = ACCEPTED_BOOL;
		break;
	case EXPORT_KEY_SQUASH_UID:
	case EXPORT_KEY_SQUASH_GID:
		if (key_number(name, value, 0, SQUASH_ID_MAX, &n, msg, msglen) < 0)
			return -EINVAL;
		*(key == EXPORT_KEY_SQUASH_UID ? &e->squash_uid : &e->squash_gid) = (int64_t)n;
		return 0;
	default: /* the throttle numbers, above */
		break;
	}
	snprintf(msg, msglen, "%s: unknown value '%s' (accepted: %s)", name, value,
		 accepted ? accepted : "nothing");
	return -EINVAL;
}

/* ---- -e SPEC ---- */

/*
 * Copy the next comma-separated field of *sp into buf, turning ",," into
 * ","; advance *sp past the separator.  Returns false at the end.
 */
static bool next_field(const char **sp, char *buf)
{
	const char *s = *sp;
	size_t n = 0;

	if (!s)
		return false;
	for (;; s++) {
		if (*s == ',' && s[1] == ',') {
			buf[n++] = ',';
			s++;
		} else if (*s == ',' || !*s) {
			break;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n] = '\0';
	*sp = *s ? s + 1 : NULL;
	return true;
}

int config_parse_export_spec(const char *spec, struct export_conf *out, char *err, size_t errlen)
{
	char *field = malloc(strlen(spec) + 1);
	const char *s = spec;
	unsigned seen = 0;
	bool named = false;
	int rc = -1;

	export_conf_init(out);
	if (!field) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	next_field(&s, field);
	if (export_set_key(out, EXPORT_KEY_PATH, field, err, errlen) < 0)
		goto fail;
	while (next_field(&s, field)) {
		char *eq = strchr(field, '=');
		const char *value = eq ? eq + 1 : NULL;
		int key;

		if (eq)
			*eq = '\0';
		if (!strcmp(field, "name")) {
			if (named) {
				snprintf(err, errlen, "name: given twice");
				goto fail;
			}
			named = true;
			if (set_string(&out->name, "name", value ? value : "", "a name", err,
				       errlen) < 0)
				goto fail;
			continue;
		}
		key = export_key_lookup(field);
		if (key < 0 || key == EXPORT_KEY_PATH) {
			char keys[512];

			/* The path comes first, without a key; "name" is an option. */
			config_key_list(keys, sizeof(keys), config_export_keys, EXPORT_KEY_PATH + 1,
					EXPORT_KEY_COUNT);
			snprintf(err, errlen, "unknown option '%s' (accepted: name, %s)", field, keys);
			goto fail;
		}
		if ((seen & (1u << key)) && !export_key_repeats((enum export_key)key)) {
			snprintf(err, errlen, "%s: given twice", field);
			goto fail;
		}
		seen |= 1u << key;
		if (!value && key == EXPORT_KEY_READONLY)
			value = "yes";
		if (!value) {
			snprintf(err, errlen, "%s: missing value (write %s=VALUE)", field, field);
			goto fail;
		}
		if (export_set_key(out, (enum export_key)key, value, err, errlen) < 0)
			goto fail;
	}
	if (!out->name && !(out->name = strdup(out->path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = 0;
fail:
	free(field);
	if (rc < 0)
		export_conf_free(out);
	return rc;
}

/* ---- the command line ---- */

enum {
	OPT_LIBVIRT_XML = 256,
	OPT_TRACE,
	OPT_MSIZE,
	OPT_THREADS,
	OPT_MAX_OPEN_FDS,
	OPT_RLIMIT_NOFILE,
	OPT_VERSION,
	OPT_SANDBOX,
	OPT_SECCOMP,
};

static const struct option long_options[] = {
	{"listen", required_argument, NULL, 'l'},
	{"export", required_argument, NULL, 'e'},
	{"config", required_argument, NULL, 'c'},
	{"libvirt-xml", required_argument, NULL, OPT_LIBVIRT_XML},
	{"user", required_argument, NULL, 'u'},
	{"check-config", no_argument, NULL, 'n'},
	{"verbose", no_argument, NULL, 'v'},
	{"trace", no_argument, NULL, OPT_TRACE},
	{"msize", required_argument, NULL, OPT_MSIZE},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"max-open-fds", required_argument, NULL, OPT_MAX_OPEN_FDS},
	{"rlimit-nofile", required_argument, NULL, OPT_RLIMIT_NOFILE},
	{"version", no_argument, NULL, OPT_VERSION},
	{"sandbox", required_argument, NULL, OPT_SANDBOX},
	{"seccomp", required_argument, NULL, OPT_SECCOMP},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void print_usage(FILE *f)
{
	fputs("usage: ninepd [-l ADDR]... [-e SPEC]... [-c FILE] [--libvirt-xml FILE] [-u USER]\n"
	      "              [-n] [-v] [--trace] [--msize N] [--threads N] [--max-open-fds N]\n"
	      "              [--rlimit-nofile N] [--sandbox MODE] [--seccomp MODE]\n"
	      "              [--version] [--help]\n"
	      "  -l, --listen ADDR      unix:PATH | tcp:HOST:PORT | vsock:[CID:]PORT[,allow=CIDS]\n"
	      "                         | stdio (repeatable)\n"
	      "  -e, --export SPEC      PATH[,name=NAME][,multidevs=remap|forbid|warn|default]\n"
	      "                         [,readonly][,security_model=passthrough|mapped-xattr|none]\n"
	      "                         [,squash_uid=N][,squash_gid=N][,remap_state=FILE]\n"
	      "                         [,bps_limit=N][,bps_read_limit=N][,bps_write_limit=N]\n"
	      "                         [,iops_limit=N][,iops_read_limit=N][,iops_write_limit=N]\n"
	      "                         [,bps_burst=N]... (a burst for each limit)\n"
	      "  -c, --config FILE      config file (default " CONFIG_DEFAULT_FILE
	      " if it exists)\n"
	      "      --libvirt-xml FILE export the <filesystem> shares of a libvirt domain\n"
	      "  -u, --user USER        once listening, switch from root to USER (a name\n"
	      "                         or uid), keeping only the file capabilities\n"
	      "  -n, --check-config     check the configuration, print it and exit\n"
	      "  -v, --verbose          more log detail (repeatable)\n"
	      "      --trace            log every T/R message\n"
	      "      --msize N          largest message size (4096..16777216)\n"
	      "      --threads N        worker threads (1..256)\n"
	      "      --max-open-fds N   descriptors all fids may hold open at once\n"
	      "                         (0: derived from RLIMIT_NOFILE)\n"
	      "      --rlimit-nofile N  soft RLIMIT_NOFILE to set (default: the hard limit)\n"
	      "      --sandbox MODE     namespace | chroot | none: confine the daemon once\n"
	      "                         listening (default: namespace when started as root)\n"
	      "      --seccomp MODE     kill | log | none: a system call off the allow-list\n"
	      "                         kills the daemon, or fails with EPERM and is logged\n"
	      "                         (default kill)\n"
	      "      --print-vm-args NAME [--vm qemu-serial|qemu-vsock|firecracker|cloud-hypervisor]\n"
	      "                         print the VMM's options and the guest mount line\n"
	      "                         for export NAME, and exit (default qemu-serial)\n"
	      "      --version          print the version and exit\n"
	      "  -h, --help             print this help and exit\n",
	      f);
}

static int usage_error(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(FILE *err, const char *fmt, ...)
{
	va_list ap;

	fputs("ninepd: ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ninepd --help' for more information.\n", err);
	return -1;
}

/* Store --msize, --threads, ... into cfg; -1 after a usage error. */
static int cmdline_number(struct ninepd_config *cfg, enum server_key key, const char *arg,
			  FILE *err)
{
	const struct config_number *num = &config_server_numbers[key];
	char msg[160];
	uint64_t v;

	if (config_parse_number(arg, num->min, num->max, &v, msg, sizeof(msg)) < 0)
		return usage_error(err, "%s: %s", num->option, msg);
	config_set_number(cfg, key, v);
	cfg->set |= 1u << key;
	config_origin_free(&cfg->origin[key]);
	return 0;
}

/* Set a string option that may be given once; -1 after a usage error. */
static int cmdline_once(char **dst, const char *option, const char *arg, FILE *err)
{
	if (*dst)
		return usage_error(err, "%s given more than once", option);
	if (!(*dst = strdup(arg)))
		return usage_error(err, "out of memory");
	return 0;
}

static const char short_options[] = ":l:e:c:u:nvh";

/*
 * getopt_long() returned '?'.  glibc sets optopt to the unknown short
 * option, to 0 for an unknown long option, and to the option's value for
 * a long option given an argument it does not take; in the long cases the
 * culprit is argv[optind - 1].
 */
static int unknown_option(FILE *err, char **argv)
{
	const char *arg = argv[optind - 1];
	const char *eq = strchr(arg, '=');

	if (optopt > 0 && optopt < 256 && (optopt == ':' || !strchr(short_options, optopt)))
		return usage_error(err, "unknown option '-%c'", optopt);
	if (optopt && eq)
		return usage_error(err, "option '%.*s' takes no argument", (int)(eq - arg), arg);
	return usage_error(err, "unknown option '%s'", arg);
}

int config_parse_cmdline(struct ninepd_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
	int c;

	/* getopt keeps its position in globals; 0 makes glibc start afresh,
	 * so the parser can run more than once in a process (tests). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		struct export_conf e;
		char msg[512];
		int rc = 0;

		switch (c) {
		case 'l':
			rc = config_add_listen_at(cfg, optarg, NULL, msg, sizeof(msg));
			if (rc == -EINVAL) {
				/* A bad address is a bad setting, reported as the
				 * file's listen is, not as a usage error. */
				config_error(err, &(struct config_origin){0}, 0, "-l '%s': %s",
					     optarg, msg);
				return -1;
			}
			if (rc < 0)
				return usage_error(err, "out of memory");
			break;
		case 'e':
			if (config_parse_export_spec(optarg, &e, msg, sizeof(msg)) < 0)
				return usage_error(err, "-e '%s': %s", optarg, msg);
			rc = config_add_export(cfg, &e);
			export_conf_free(&e);
			if (rc < 0)
				return usage_error(err, "out of memory");
			break;
		case 'c':
			if (cmdline_once(&cfg->config_file, "-c", optarg, err) < 0)
				return -1;
			break;
		case OPT_LIBVIRT_XML:
			if (cmdline_once(&cfg->libvirt_xml, "--libvirt-xml", optarg, err) < 0)
				return -1;
			break;
		case 'u':
			if (!*optarg)
				return usage_error(err, "-u: empty value (accepted: " ACCEPTED_USER
							")");
			if (cmdline_once(&cfg->user, "-u", optarg, err) < 0)
				return -1;
			cfg->set |= 1u << SERVER_KEY_USER;
			config_origin_free(&cfg->origin[SERVER_KEY_USER]);
			break;
		case 'n':
			cfg->check_only = true;
			break;
		case 'v':
			cfg->verbose++;
			if (cfg->log_level < LOG_LEVEL_DEBUG)
				cfg->log_level++;
			break;
		case OPT_TRACE:
			cfg->trace = true;
			break;
		case OPT_MSIZE:
			if (cmdline_number(cfg, SERVER_KEY_MAX_MSIZE, optarg, err) < 0)
				return -1;
			break;
		case OPT_THREADS:
			if (cmdline_number(cfg, SERVER_KEY_THREADS, optarg, err) < 0)
				return -1;
			break;
		case OPT_MAX_OPEN_FDS:
			if (cmdline_number(cfg, SERVER_KEY_MAX_OPEN_FDS, optarg, err) < 0)
				return -1;
			break;
		case OPT_RLIMIT_NOFILE:
			if (cmdline_number(cfg, SERVER_KEY_RLIMIT_NOFILE, optarg, err) < 0)
				return -1;
			break;
		case OPT_SANDBOX:
		case OPT_SECCOMP: {
			bool sb = c == OPT_SANDBOX;
			int m = sb ? sandbox_mode_parse(optarg) : seccomp_mode_parse(optarg);
			if (m < 0)
				return usage_error(err, "--%s: unknown value '%s' (accepted: %s)",
						   sb ? "sandbox" : "seccomp", optarg,
						   sb ? ACCEPTED_SANDBOX : ACCEPTED_SECCOMP);
			if (sb)
				cfg->sandbox = (enum sandbox_mode)m;
			else
				cfg->seccomp = (enum seccomp_mode)m;
			cfg->set |= 1u << (sb ? SERVER_KEY_SANDBOX : SERVER_KEY_SECCOMP);
			break;
		}
		case OPT_VERSION:
			fputs("ninepd " NINEPD_VERSION "\n", out);
			return 1;
		case 'h':
			print_usage(out);
			return 1;
		case ':':
			return usage_error(err, "option '%s' needs an argument", argv[optind - 1]);
		default:
			return unknown_option(err, argv);
		}
	}
	if (optind < argc)
		return usage_error(err, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* ---- merging the command line over the files ---- */

int config_merge(struct ninepd_config *cfg, const struct ninepd_config *cmd)
{
	/* Only the files' exports can be replaced: two -e with one name are
	 * a mistake that config_validate() reports. */
	size_t nfile = cfg->nexports;
	char msg[160];

	if (cmd->nlisten) {
		free_listen(cfg);
		for (size_t i = 0; i < cmd->nlisten; i++)
			if (config_add_listen_at(cfg, cmd->listen_addrs[i].text,
						 &cmd->listen_origin[i], msg, sizeof(msg)) < 0)
				return -ENOMEM; /* cmd's addresses parsed once already */
	}
	for (size_t i = 0; i < cmd->nexports; i++) {
		const struct export_conf *e = &cmd->exports[i];
		struct export_conf *old = NULL;

		for (size_t j = 0; j < nfile && !old; j++)
			if (!strcmp(cfg->exports[j].name, e->name))
				old = &cfg->exports[j];
		if (!old) {
			if (config_add_export(cfg, e) < 0)
				return -ENOMEM;
			continue;
		}
		export_conf_free(old);
		if (export_conf_copy(old, e) < 0)
			return -ENOMEM;
	}
	if (cmd->set & (1u << SERVER_KEY_MAX_MSIZE))
		cfg->max_msize = cmd->max_msize;
	if (cmd->set & (1u << SERVER_KEY_THREADS))
		cfg->threads = cmd->threads;
	if (cmd->set & (1u << SERVER_KEY_MAX_OPEN_FDS))
		cfg->max_open_fds = cmd->max_open_fds;
	if (cmd->set & (1u << SERVER_KEY_RLIMIT_NOFILE))
		cfg->rlimit_nofile = cmd->rlimit_nofile;
	if (cmd->set & (1u << SERVER_KEY_SANDBOX))
		cfg->sandbox = cmd->sandbox;
	if (cmd->set & (1u << SERVER_KEY_SECCOMP))
		cfg->seccomp = cmd->seccomp;
	if (cmd->user) {
		free(cfg->user);
		if (!(cfg->user = strdup(cmd->user)))
			return -ENOMEM;
	}
	for (int k = 0; k < SERVER_KEY_COUNT; k++)
		if (cmd->set & (1u << k))
			config_origin_free(&cfg->origin[k]);
	cfg->set |= cmd->set;
	cfg->verbose = cmd->verbose;
	for (unsigned v = 0; v < cmd->verbose && cfg->log_level < LOG_LEVEL_DEBUG; v++)
		cfg->log_level++;
	cfg->trace = cfg->trace || cmd->trace;
	cfg->check_only = cmd->check_only;
	return 0;
}

/* ---- relative paths ---- */

/* base/rel, or rel itself when it is absolute; NULL on ENOMEM. */
static char *join_path(const char *base, const char *rel)
{
	size_t n = strlen(base);
	char *p;

	if (rel[0] == '/')
		return strdup(rel);
	if (asprintf(&p, "%s%s%s", base, n && base[n - 1] == '/' ? "" : "/", rel) < 0)
		return NULL;
	return p;
}

/* Make *p absolute against the directory of origin_file, or cwd. */
static int absolutize(char **p, const char *origin_file, const char *cwd)
{
	const char *slash = origin_file ? strrchr(origin_file, '/') : NULL;
	char *dir = NULL, *base = NULL, *abs = NULL;

	if (!*p || (*p)[0] == '/')
		return 0;
	if (!slash)
		abs = join_path(cwd, *p);
	else if ((dir = strndup(origin_file, (size_t)(slash - origin_file) + 1)) &&
		 (base = join_path(cwd, dir)))
		abs = join_path(base, *p);
	free(dir);
	free(base);
	if (!abs)
		return -ENOMEM;
	free(*p);
	*p = abs;
	return 0;
}

int config_resolve_paths(struct ninepd_config *cfg, FILE *err)
{
	char *cwd = getcwd(NULL, 0);
	int rc = 0;

	if (!cwd) {
		rc = -errno;
		fprintf(err, "ninepd: cannot resolve relative paths: getcwd: %s\n", strerror(errno));
		return rc;
	}
	for (size_t i = 0; i < cfg->nexports && !rc; i++) {
		struct export_conf *e = &cfg->exports[i];

		rc = absolutize(&e->path, e->origin.file, cwd);
		if (!rc)
			rc = absolutize(&e->remap_state, e->origin.file, cwd);
	}
	free(cwd);
	if (rc)
		fprintf(err, "ninepd: out of memory\n");
	return rc;
}

/* ---- everything, for main() ---- */

int config_load_with_default(struct ninepd_config *cfg, int argc, char **argv,
			     const char *default_file, FILE *out, FILE *err)
{
	struct ninepd_config cmd;
	bool failed = false, oom = false;
	const char *file;
	int rc;

	config_init(cfg);
	config_init(&cmd);
	rc = config_parse_cmdline(&cmd, argc, argv, out, err);
	if (rc)
		goto done;

	file = cmd.config_file;
	if (!file && default_file && access(default_file, F_OK) == 0)
		file = default_file;
	if (file) {
		failed |= config_parse_file(cfg, file, err) < 0;
		oom |= strdup_opt(&cfg->config_file, file) < 0;
	}
	if (cmd.libvirt_xml) {
		failed |= config_parse_libvirt_xml(cfg, cmd.libvirt_xml, err) < 0;
		oom |= strdup_opt(&cfg->libvirt_xml, cmd.libvirt_xml) < 0;
	}
	if (!failed && !oom)
		oom = config_merge(cfg, &cmd) < 0;
	if (oom) {
		fputs("ninepd: out of memory\n", err);
		failed = true;
	}
	/* Errors in a file would cascade into validation ("no export"),
	 * so stop at the parse errors. */
	if (failed || config_resolve_paths(cfg, err) < 0 || config_validate(cfg, err) > 0) {
		rc = -1;
		goto done;
	}
	if (cfg->check_only) {
		config_print(cfg, out);
		fputs("configuration OK\n", err);
		rc = 1;
	}
done:
	config_free(&cmd);
	return rc;
}

int config_load(struct ninepd_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
	return config_load_with_default(cfg, argc, argv, CONFIG_DEFAULT_FILE, out, err);
}
