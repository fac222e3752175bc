/* The config file: INI syntax read with libinih.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO, so the handler is
 * not told line numbers.  We feed inih through our own line reader
 * instead: it counts lines, tracks the current section itself (inih
 * truncates section names to 50 bytes), reports malformed lines, and
 * strips leading blanks so that an indented key is read as a key and not,
 * as inih would, as a continuation of the previous value.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/internal.h"

enum section { SECTION_NONE, SECTION_SERVER, SECTION_EXPORT, SECTION_BAD };

struct ini_state {
	struct ninepd_config *cfg;
	FILE *in, *err;
	struct config_origin where; /* file, and the line being parsed */
	char *buf;                  /* getline()'s buffer */
	size_t bufsize;
	int errors;
	bool enomem;
	enum section section;
	struct export_conf export; /* the [export NAME] being read */
	bool have_export;
	int server_line[SERVER_KEY_COUNT]; /* where each key was set; 0: not yet */
};

static void ini_error(struct ini_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ini_error(struct ini_state *st, const char *fmt, ...)
{
	va_list ap;

	config_where(st->err, &st->where, 0);
	va_start(ap, fmt);
	vfprintf(st->err, fmt, ap);
	va_end(ap);
	fputc('\n', st->err);
	st->errors++;
}

/* The export section ended (new section or end of file): keep it. */
static void finish_export(struct ini_state *st)
{
	if (!st->have_export)
		return;
	st->have_export = false;
	if (st->export.path) {
		if (config_add_export(st->cfg, &st->export) < 0)
			st->enomem = true;
	} else if (!st->export.key_line[EXPORT_KEY_PATH]) {
		/* (A path that was given but refused is reported already.) */
		config_error(st->err, &st->export.origin, 0,
			     "[export %s]: missing path (accepted: path = DIRECTORY)",
			     st->export.name);
		st->errors++;
	}
	export_conf_free(&st->export);
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* True when the comma-separated piece at p is an option of the address
 * before it (",allow=3"): it has '=' before any ':', which no address has. */
static bool is_listen_option(const char *p)
{
	size_t len = strcspn(p, ",");
	const char *eq = memchr(p, '=', len);

	return eq && !memchr(p, ':', (size_t)(eq - p));
}

/*
 * One address of a listen value "ADDR[,OPT=V]..., ADDR...": the address at
 * a with its options, blanks around each piece removed, written over a in
 * place (the result is never longer), and *next set to the address after
 * it or NULL.
 */
static char *next_listen_address(char *a, char **next)
{
	char *out = a, *piece = a;

	for (;;) {
		char *comma = strchr(piece, ',');
		char *t;

		if (comma)
			*comma = '\0';
		t = trim(piece);
		if (piece != a)
			*out++ = ',';
		memmove(out, t, strlen(t));
		out += strlen(t);
		if (!comma || !is_listen_option(comma + 1)) {
			*out = '\0';
			*next = comma ? comma + 1 : NULL;
			return a;
		}
		piece = comma + 1;
	}
}

/* "[...]": switch sections.  line is trimmed and starts with '['. */
static void start_section(struct ini_state *st, char *line)
{
	char *close = strchr(line, ']');
	char *name, *rest;

	finish_export(st);
	st->section = SECTION_BAD;
	if (!close) {
		ini_error(st, "malformed section header '%s' (accepted: [server], [export NAME])",
			  line);
		return;
	}
	*close = '\0';
	rest = trim(close + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		ini_error(st, "unexpected text after '[%s]' (accepted: a comment)", line + 1);
		return;
	}
	name = trim(line + 1);
	if (!strcmp(name, "server")) {
		st->section = SECTION_SERVER;
	} else if (!strncmp(name, "export", 6) && (!name[6] || isspace((unsigned char)name[6]))) {
		char *ename = trim(name + 6);

		if (!*ename) {
			ini_error(st, "[export]: missing export name (accepted: [export NAME])");
			return;
		}
		export_conf_init(&st->export);
		if (!(st->export.name = strdup(ename)) ||
		    config_origin_set(&st->export.origin, st->where.file, st->where.line) < 0) {
			st->enomem = true;
			export_conf_free(&st->export);
			return;
		}
		st->have_export = true;
		st->section = SECTION_EXPORT;
	} else {
		ini_error(st, "unknown section [%s] (accepted: [server], [export NAME])", name);
	}
}

/* An fgets() for inih: one whole line per call, checked as described above. */
static char *read_line(char *str, int num, void *stream)
{
	struct ini_state *st = stream;
	ssize_t len = getline(&st->buf, &st->bufsize, st->in);
	char *line;

	if (len < 0)
		return NULL;
	st->where.line++;
	line = st->buf;
	if (st->where.line == 1 && !strncmp(line, "\xEF\xBB\xBF", 3))
		line += 3;
	line = trim(line);
	str[0] = '\0';

	if (!*line || *line == ';' || *line == '#')
		return str;
	if (strlen(line) >= (size_t)num) {
		ini_error(st, "line too long (accepted: at most %d bytes)", num - 1);
		return str;
	}
	if (*line == '[') {
		start_section(st, line);
		return str;
	}
	if (!strpbrk(line, "=:")) {
		ini_error(st, "expected 'key = value', '[server]' or '[export NAME]', got '%s'",
			  line);
		return str;
	}
	memcpy(str, line, strlen(line) + 1);
	return str;
}

static void server_key(struct ini_state *st, const char *name, char *value)
{
	struct ninepd_config *cfg = st->cfg;
	const struct config_number *num;
	char msg[256];
	uint64_t v;
	int k, level, rc;

	for (k = 0; k < SERVER_KEY_COUNT; k++)
		if (!strcmp(name, config_server_keys[k]))
			break;
	if (k == SERVER_KEY_COUNT) {
		char keys[256];

		config_key_list(keys, sizeof(keys), config_server_keys, 0, SERVER_KEY_COUNT);
		ini_error(st, "[server] unknown key '%s' (accepted: %s)", name, keys);
		return;
	}
	if (k == SERVER_KEY_LISTEN) {
		/* Repeatable, and each value may list several addresses. */
		for (char *next, *a = value; a; a = next) {
			a = next_listen_address(a, &next);
			if (!*a)
				ini_error(st, "[server] listen: empty address (accepted: "
					      ACCEPTED_LISTEN ", separated by commas)");
			else if ((rc = config_add_listen_at(cfg, a, &st->where, msg,
							    sizeof(msg))) == -EINVAL)
				ini_error(st, "[server] listen: '%s': %s", a, msg);
			else if (rc < 0)
				st->enomem = true;
		}
		return;
	}
	if (st->server_line[k]) {
		ini_error(st, "[server] %s: already set at line %d (accepted: one value)", name,
			  st->server_line[k]);
		return;
	}
	st->server_line[k] = st->where.line;

	num = &config_server_numbers[k];
	if (k == SERVER_KEY_USER) {
		/* Whether the user exists is config_validate()'s question, as
		 * whether an export path exists is. */
		char *copy;

		if (!*value) {
			ini_error(st, "[server] user: empty value (accepted: " ACCEPTED_USER ")");
			return;
		}
		if (!(copy = strdup(value))) {
			st->enomem = true;
			return;
		}
		free(cfg->user);
		cfg->user = copy;
	} else if (k == SERVER_KEY_LOG_LEVEL) {
		if ((level = log_level_parse(value)) < 0) {
			ini_error(st,
				  "[server] log_level: unknown value '%s' (accepted: " ACCEPTED_LOG_LEVEL
				  ")",
				  value);
			return;
		}
		cfg->log_level = (enum log_level)level;
	} else if (k == SERVER_KEY_SANDBOX || k == SERVER_KEY_SECCOMP) {
		bool sb = k == SERVER_KEY_SANDBOX;
		int m = sb ? sandbox_mode_parse(value) : seccomp_mode_parse(value);
		if (m < 0) {
			ini_error(st, "[server] %s: unknown value '%s' (accepted: %s)", name, value,
				  sb ? ACCEPTED_SANDBOX : ACCEPTED_SECCOMP);
			return;
		}
		if (sb)
			cfg->sandbox = (enum sandbox_mode)m;
		else
			cfg->seccomp = (enum seccomp_mode)m;
	} else if (config_parse_number(value, num->min, num->max, &v, msg, sizeof(msg)) < 0) {
		ini_error(st, "[server] %s: %s", name, msg);
		return;
	} else {
		config_set_number(cfg, (enum server_key)k, v);
	}
	cfg->set |= 1u << k;
	if (config_origin_set(&cfg->origin[k], st->where.file, st->where.line) < 0)
		st->enomem = true;
}

static void export_key(struct ini_state *st, const char *name, const char *value)
{
	struct export_conf *e = &st->export;
	int k = export_key_lookup(name);
	char msg[256];
	int rc;

	if (k < 0) {
		char keys[512];

		config_key_list(keys, sizeof(keys), config_export_keys, 0, EXPORT_KEY_COUNT);
		ini_error(st, "[export %s] unknown key '%s' (accepted: %s)", e->name, name, keys);
		return;
	}
	if (e->key_line[k] && !export_key_repeats((enum export_key)k)) {
		ini_error(st, "[export %s] %s: already set at line %d (accepted: one value)",
			  e->name, name, e->key_line[k]);
		return;
	}
	e->key_line[k] = st->where.line;
	rc = export_set_key(e, (enum export_key)k, value, msg, sizeof(msg));
	if (rc == -ENOMEM)
		st->enomem = true;
	else if (rc < 0)
		ini_error(st, "[export %s] %s", e->name, msg);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	char *copy = strdup(value);

	(void)section; /* tracked by read_line(), which sees every header */
	if (!copy) {
		st->enomem = true;
		return 1;
	}
	switch (st->section) {
	case SECTION_NONE:
		ini_error(st, "key '%s' outside a section (accepted: [server], [export NAME])",
			  name);
		break;
	case SECTION_SERVER:
		server_key(st, name, copy);
		break;
	case SECTION_EXPORT:
		export_key(st, name, copy);
		break;
	case SECTION_BAD: /* its header was reported */
		break;
	}
	free(copy);
	/* Always "success": our own messages are better than inih's line. */
	return 1;
}

int config_parse_file(struct ninepd_config *cfg, const char *path, FILE *err)
{
	struct ini_state st = {.cfg = cfg, .err = err, .section = SECTION_NONE};
	int rc;

	st.in = fopen(path, "r");
	if (!st.in) {
		rc = -errno;
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return rc;
	}
	if (config_origin_set(&st.where, path, 0) < 0) {
		fclose(st.in);
		return -ENOMEM;
	}
	rc = ini_parse_stream(read_line, &st, on_key, &st);
	finish_export(&st);
	if (rc > 0) {
		/* A line inih refused that read_line() let through. */
		config_error(err, &st.where, rc, "syntax error (accepted: key = value)");
		st.errors++;
	}
	if (ferror(st.in)) {
		config_error(err, &st.where, 0, "read error");
		st.errors++;
	}
	if (st.enomem)
		fprintf(err, "%s: out of memory\n", path);
	fclose(st.in);
	free(st.buf);
	config_origin_free(&st.where);
	if (st.enomem)
		return -ENOMEM;
	return st.errors ? -EINVAL : 0;
}
