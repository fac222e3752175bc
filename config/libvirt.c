/* --libvirt-xml: export the 9p shares of a libvirt domain.
 *
 * Each <filesystem type='mount'> under <devices> becomes an export named
 * after its <target dir='...'/> (the guest's mount tag).  Attribute values
 * are checked the way libvirt's domain parser checks them, and refused
 * with libvirt's wording ("unknown multidevs 'x'").
 */
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/internal.h"

struct xml_state {
	struct ninepd_config *cfg;
	FILE *err;
	struct config_origin where; /* the file; .line of the node at hand */
	int errors;
	char parse_error[256]; /* libxml2's first message, for malformed XML */
	int parse_error_line;
};

static void xml_error(struct xml_state *st, const xmlNode *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xml_error(struct xml_state *st, const xmlNode *node, const char *fmt, ...)
{
	va_list ap;

	config_where(st->err, &st->where, (int)xmlGetLineNo(node));
	va_start(ap, fmt);
	vfprintf(st->err, fmt, ap);
	va_end(ap);
	fputc('\n', st->err);
	st->errors++;
}

/* libxml2's structured error channel; keeps the first error only, since
 * the later ones usually follow from it. */
static void on_parse_error(void *user, xmlErrorPtr error)
{
	xmlParserCtxtPtr ctxt = user;
	struct xml_state *st = ctxt->_private;
	size_t len;

	if (st->parse_error[0] || !error || error->level < XML_ERR_ERROR)
		return;
	snprintf(st->parse_error, sizeof(st->parse_error), "%s",
		 error->message ? error->message : "unknown error");
	len = strlen(st->parse_error);
	while (len && (st->parse_error[len - 1] == '\n' || st->parse_error[len - 1] == ' '))
		st->parse_error[--len] = '\0';
	st->parse_error_line = error->line;
}

static bool is_element(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static const xmlNode *first_child(const xmlNode *parent, const char *name)
{
	for (const xmlNode *n = parent->children; n; n = n->next)
		if (is_element(n, name))
			return n;
	return NULL;
}

/* An attribute's value, to be released with xmlFree(); NULL if absent. */
static char *prop(const xmlNode *n, const char *name)
{
	return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* accessmode='...' -> security model; -1 if libvirt would refuse it. */
static int accessmode_parse(const char *s)
{
	if (!strcmp(s, "default") || !strcmp(s, "passthrough"))
		return SECMODEL_PASSTHROUGH;
	if (!strcmp(s, "mapped"))
		return SECMODEL_MAPPED_XATTR;
	if (!strcmp(s, "squash"))
		return SECMODEL_NONE;
	return -1;
}

/* A decimal attribute of an <idmap> entry; false after reporting it. */
static bool idmap_number(struct xml_state *st, const xmlNode *n, const char *name, uint32_t *out)
{
	char *v = prop(n, name);
	uint64_t num;
	char msg[160];
	bool ok = v && config_parse_number(v, 0, UINT32_MAX, &num, msg, sizeof msg) == 0;

	if (!ok && v) /* msg already says what is accepted */
		xml_error(st, n, "<%s %s='%s'>: %s", (const char *)n->name, name, v, msg);
	else if (!ok)
		xml_error(st, n, "<%s>: %s missing (accepted: %s='N', a decimal number)",
			  (const char *)n->name, name, name);
	else
		*out = (uint32_t)num;
	xmlFree(v);
	return ok;
}

/* <idmap><uid start='GUEST' target='HOST' count='N'/>...<gid .../></idmap>:
 * libvirt's id map of a filesystem, each entry a translate_uid/gid map
 * rule.  False after reporting a bad entry. */
static bool read_idmap(struct xml_state *st, const xmlNode *idmap, struct export_conf *e)
{
	bool ok = true;

	for (const xmlNode *n = idmap->children; n; n = n->next) {
		bool uid = is_element(n, "uid");
		struct idmap_rule r = {.kind = IDMAP_MAP, .line = (int)xmlGetLineNo(n)};
		char msg[256];

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!uid && !is_element(n, "gid")) {
			xml_error(st, n, "unknown element <%s> in <idmap> (accepted: <uid>, <gid>)",
				  (const char *)n->name);
			ok = false;
			continue;
		}
		if (!idmap_number(st, n, "start", &r.from) || !idmap_number(st, n, "target", &r.to) ||
		    !idmap_number(st, n, "count", &r.count)) {
			ok = false;
			continue;
		}
		int rc = idmap_add_rule(uid ? &e->uid_map : &e->gid_map, &r, msg, sizeof msg);
		if (rc == -EINVAL) {
			xml_error(st, n, "<idmap> <%s>: %s", uid ? "uid" : "gid", msg);
			ok = false;
		} else if (rc) {
			xml_error(st, n, "out of memory");
			ok = false;
		}
		e->key_line[uid ? EXPORT_KEY_TRANSLATE_UID : EXPORT_KEY_TRANSLATE_GID] = r.line;
	}
	return ok;
}

/* Fill e from one <filesystem type='mount'>; false after reporting why not. */
static bool read_filesystem(struct xml_state *st, const xmlNode *fs, struct export_conf *e)
{
	char *accessmode = prop(fs, "accessmode"), *multidevs = prop(fs, "multidevs");
	const xmlNode *source = first_child(fs, "source");
	const xmlNode *target = first_child(fs, "target");
	const xmlNode *readonly = first_child(fs, "readonly");
	const xmlNode *idmap = first_child(fs, "idmap");
	char *dir;
	int v, errors = st->errors;

	if (accessmode) {
		if ((v = accessmode_parse(accessmode)) < 0)
			xml_error(st, fs,
				  "unknown accessmode '%s' (accepted: default, passthrough, mapped, "
				  "squash)",
				  accessmode);
		else
			e->security_model = (enum security_model)v;
	}
	if (multidevs) {
		if ((v = multidevs_policy_parse(multidevs, strlen(multidevs))) < 0)
			xml_error(st, fs,
				  "unknown multidevs '%s' (accepted: default, remap, forbid, warn)",
				  multidevs);
		else
			e->multidevs = (enum multidevs_policy)v;
	}
	xmlFree(accessmode);
	xmlFree(multidevs);

	if (!source || !(dir = prop(source, "dir"))) {
		xml_error(st, source ? source : fs,
			  "missing source dir in <filesystem type='mount'> (accepted: "
			  "<source dir='/path'/>)");
	} else {
		e->path = strdup(dir);
		e->key_line[EXPORT_KEY_PATH] = (int)xmlGetLineNo(source);
		xmlFree(dir);
	}
	if (!target || !(dir = prop(target, "dir"))) {
		xml_error(st, target ? target : fs,
			  "missing target dir in <filesystem type='mount'> (accepted: "
			  "<target dir='mount_tag'/>)");
	} else {
		e->name = strdup(dir);
		xmlFree(dir);
	}
	if (readonly) {
		e->readonly = true;
		e->key_line[EXPORT_KEY_READONLY] = (int)xmlGetLineNo(readonly);
	}
	if (idmap)
		read_idmap(st, idmap, e);
	return st->errors == errors;
}

/* One <filesystem>: import it, or say why it is skipped. */
static int import_filesystem(struct xml_state *st, const xmlNode *fs)
{
	char *type = prop(fs, "type");
	const xmlNode *driver = first_child(fs, "driver");
	char *driver_type = driver ? prop(driver, "type") : NULL;
	struct export_conf e;
	int rc = 0;

	/* libvirt's default filesystem type is 'mount'. */
	if (type && strcmp(type, "mount")) {
		config_where(st->err, &st->where, (int)xmlGetLineNo(fs));
		fprintf(st->err, "note: skipping <filesystem type='%s'>: only type='mount' is a 9p "
				 "share\n",
			type);
	} else if (driver_type && !strcmp(driver_type, "virtiofs")) {
		config_where(st->err, &st->where, (int)xmlGetLineNo(fs));
		fputs("note: skipping <filesystem> with <driver type='virtiofs'/>: virtiofs is not "
		      "9p\n",
		      st->err);
	} else {
		export_conf_init(&e);
		if (config_origin_set(&e.origin, st->where.file, (int)xmlGetLineNo(fs)) < 0)
			rc = -ENOMEM;
		else if (read_filesystem(st, fs, &e)) {
			if (!e.path || !e.name || config_add_export(st->cfg, &e) < 0)
				rc = -ENOMEM;
		}
		export_conf_free(&e);
	}
	xmlFree(type);
	xmlFree(driver_type);
	return rc;
}

static int import_domain(struct xml_state *st, const xmlNode *root)
{
	int rc = 0;

	if (!is_element(root, "domain")) {
		xml_error(st, root, "root element is <%s> (accepted: a libvirt <domain>)",
			  (const char *)root->name);
		return 0;
	}
	for (const xmlNode *devices = root->children; devices && !rc; devices = devices->next) {
		if (!is_element(devices, "devices"))
			continue;
		for (const xmlNode *n = devices->children; n && !rc; n = n->next)
			if (is_element(n, "filesystem"))
				rc = import_filesystem(st, n);
	}
	return rc;
}

int config_parse_libvirt_xml(struct ninepd_config *cfg, const char *path, FILE *err)
{
	const int options = XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING;
	struct xml_state st = {.cfg = cfg, .err = err};
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return rc;
	}
	if (config_origin_set(&st.where, path, 0) < 0 || !(ctxt = xmlNewParserCtxt())) {
		rc = -ENOMEM;
		goto out;
	}
	/* Route errors to on_parse_error() instead of libxml2's stderr
	 * printer; userData stays the context, as the tree builder needs. */
	ctxt->_private = &st;
	ctxt->sax->serror = on_parse_error;
	doc = xmlCtxtReadFd(ctxt, fd, path, NULL, options);
	if (!doc || !ctxt->wellFormed || !xmlDocGetRootElement(doc)) {
		config_where(err, &st.where, st.parse_error_line);
		fprintf(err, "malformed XML: %s\n",
			st.parse_error[0] ? st.parse_error : "no root element");
		rc = -EINVAL;
		goto out;
	}
	rc = import_domain(&st, xmlDocGetRootElement(doc));
	if (!rc && st.errors)
		rc = -EINVAL;
out:
	if (rc == -ENOMEM)
		fprintf(err, "%s: out of memory\n", path);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	close(fd);
	config_origin_free(&st.where);
	return rc;
}
