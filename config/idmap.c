/* uid and gid maps of an export (idmap.h). */
#include "config/idmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"

#define ACCEPTED_RULES                                                                         \
	"map:GUEST:HOST:COUNT, guest:GUEST:HOST:COUNT, host:HOST:GUEST:COUNT, "               \
	"squash-guest:GUEST:HOST:COUNT, squash-host:HOST:GUEST:COUNT, forbid-guest:GUEST:COUNT"

static const char *const kind_names[] = {
	[IDMAP_MAP] = "map",
	[IDMAP_GUEST] = "guest",
	[IDMAP_HOST] = "host",
	[IDMAP_SQUASH_GUEST] = "squash-guest",
	[IDMAP_SQUASH_HOST] = "squash-host",
	[IDMAP_FORBID_GUEST] = "forbid-guest",
};

/* The ids a rule translates from guest to host, if it does. */
static bool guest_side(const struct idmap_rule *r, uint32_t *first, uint32_t *count)
{
	if (r->kind == IDMAP_HOST || r->kind == IDMAP_SQUASH_HOST)
		return false;
	*first = r->from;
	*count = r->count;
	return true;
}

/* The host ids a rule translates to guest ids, if it does. */
static bool host_side(const struct idmap_rule *r, uint32_t *first, uint32_t *count)
{
	switch (r->kind) {
	case IDMAP_MAP:
		*first = r->to;
		*count = r->count;
		return true;
	case IDMAP_HOST:
	case IDMAP_SQUASH_HOST:
		*first = r->from;
		*count = r->count;
		return true;
	default:
		return false;
	}
}

static bool in_range(uint32_t id, uint32_t first, uint32_t count)
{
	return id >= first && id - first < count;
}

static bool overlap(uint32_t a, uint32_t na, uint32_t b, uint32_t nb)
{
	return a < b + nb && b < a + na; /* ends are at most 2^32 - 1: no wrap */
}

void idmap_rule_text(const struct idmap_rule *r, char *buf, size_t cap)
{
	if (r->kind == IDMAP_FORBID_GUEST)
		snprintf(buf, cap, "%s:%" PRIu32 ":%" PRIu32, kind_names[r->kind], r->from, r->count);
	else
		snprintf(buf, cap, "%s:%" PRIu32 ":%" PRIu32 ":%" PRIu32, kind_names[r->kind],
			 r->from, r->to, r->count);
}

/* Checks a rule's own numbers and that it shares no id of either
 * direction with a rule already in m. */
static int check_rule(const struct idmap *m, const struct idmap_rule *r, char *msg, size_t msglen)
{
	char text[64], other[64];
	bool squash = r->kind == IDMAP_SQUASH_GUEST || r->kind == IDMAP_SQUASH_HOST;

	idmap_rule_text(r, text, sizeof text);
	if (r->count == 0 || r->from > IDMAP_ID_MAX || r->count - 1 > IDMAP_ID_MAX - r->from) {
		snprintf(msg, msglen,
			 "'%s': the range must hold 1 or more ids, all below 4294967295 (accepted: "
			 "FIRST + COUNT <= 4294967295)",
			 text);
		return -EINVAL;
	}
	if (r->kind != IDMAP_FORBID_GUEST &&
	    (r->to > IDMAP_ID_MAX || (!squash && r->count - 1 > IDMAP_ID_MAX - r->to))) {
		snprintf(msg, msglen,
			 "'%s': the target ids must lie below 4294967295 (accepted: TARGET%s <= "
			 "4294967294)",
			 text, squash ? "" : " + COUNT - 1");
		return -EINVAL;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct idmap_rule *o = &m->rules[i];
		uint32_t a, na, b, nb;
		const char *side = NULL;

		if (guest_side(r, &a, &na) && guest_side(o, &b, &nb) && overlap(a, na, b, nb))
			side = "guest";
		else if (host_side(r, &a, &na) && host_side(o, &b, &nb) && overlap(a, na, b, nb))
			side = "host";
		if (!side)
			continue;
		char where[24] = "";
		idmap_rule_text(o, other, sizeof other);
		if (o->line)
			snprintf(where, sizeof where, " (line %d)", o->line);
		snprintf(msg, msglen,
			 "'%s' overlaps '%s'%s in %s ids (accepted: rules whose %s ids are "
			 "disjoint)",
			 text, other, where, side, side);
		return -EINVAL;
	}
	return 0;
}

int idmap_add_rule(struct idmap *m, const struct idmap_rule *r, char *msg, size_t msglen)
{
	int rc = check_rule(m, r, msg, msglen);
	if (rc)
		return rc;
	struct idmap_rule *rules = realloc(m->rules, (m->n + 1) * sizeof *rules);
	if (!rules)
		return -ENOMEM;
	m->rules = rules;
	rules[m->n++] = *r;
	return 0;
}

/* One rule of len bytes at s. */
static int parse_rule(const char *s, size_t len, int line, struct idmap_rule *r, char *msg,
		      size_t msglen)
{
	const char *field[5] = {0};
	size_t flen[5] = {0}, n = 0;

	for (const char *p = s, *end = s + len; n < 5;) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		field[n] = p;
		flen[n++] = (size_t)((colon ? colon : end) - p);
		if (!colon)
			break;
		p = colon + 1;
	}
	*r = (struct idmap_rule){.line = line};
	int kind = -1;
	for (size_t k = 0; k < sizeof kind_names / sizeof *kind_names; k++)
		if (flen[0] == strlen(kind_names[k]) && !memcmp(field[0], kind_names[k], flen[0]))
			kind = (int)k;
	if (kind < 0) {
		snprintf(msg, msglen, "unknown rule '%.*s' (accepted: %s)", (int)len, s,
			 ACCEPTED_RULES);
		return -EINVAL;
	}
	r->kind = (enum idmap_kind)kind;
	size_t want = r->kind == IDMAP_FORBID_GUEST ? 3 : 4;
	bool ok = n == want && config_parse_u32(field[1], flen[1], UINT32_MAX, &r->from) &&
		  config_parse_u32(field[n - 1], flen[n - 1], UINT32_MAX, &r->count) &&
		  (want == 3 || config_parse_u32(field[2], flen[2], UINT32_MAX, &r->to));
	if (!ok) {
		snprintf(msg, msglen, "malformed rule '%.*s' (accepted: %s, each a decimal number)",
			 (int)len, s, ACCEPTED_RULES);
		return -EINVAL;
	}
	return 0;
}

int idmap_add(struct idmap *m, const char *text, int line, char *msg, size_t msglen)
{
	size_t before = m->n;
	int rc = 0;
	const char *blanks = " \t";

	for (const char *p = text + strspn(text, blanks); *p && !rc; p += strspn(p, blanks)) {
		size_t len = strcspn(p, blanks);
		struct idmap_rule r;
		rc = parse_rule(p, len, line, &r, msg, msglen);
		if (!rc)
			rc = idmap_add_rule(m, &r, msg, msglen);
		p += len;
	}
	if (!rc && m->n == before) {
		snprintf(msg, msglen, "empty value (accepted: %s)", ACCEPTED_RULES);
		rc = -EINVAL;
	}
	if (rc)
		m->n = before; /* all of text or nothing */
	return rc;
}

void idmap_free(struct idmap *m)
{
	free(m->rules);
	*m = (struct idmap){0};
}

int idmap_copy(struct idmap *dst, const struct idmap *src)
{
	*dst = (struct idmap){0};
	if (!src->n)
		return 0;
	dst->rules = malloc(src->n * sizeof *dst->rules);
	if (!dst->rules)
		return -ENOMEM;
	memcpy(dst->rules, src->rules, src->n * sizeof *dst->rules);
	dst->n = src->n;
	return 0;
}

bool idmap_equal(const struct idmap *a, const struct idmap *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct idmap_rule *x = &a->rules[i], *y = &b->rules[i];
		if (x->kind != y->kind || x->from != y->from || x->to != y->to ||
		    x->count != y->count)
			return false;
	}
	return true;
}

int idmap_to_host(const struct idmap *m, uint32_t guest, uint32_t *host)
{
	if (!m->n) {
		*host = guest;
		return 0;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct idmap_rule *r = &m->rules[i];
		uint32_t first, count;
		if (!guest_side(r, &first, &count) || !in_range(guest, first, count))
			continue;
		switch (r->kind) {
		case IDMAP_FORBID_GUEST:
			return -EPERM;
		case IDMAP_SQUASH_GUEST:
			*host = r->to;
			return 0;
		default:
			*host = r->to + (guest - first);
			return 0;
		}
	}
	return -EPERM;
}

bool idmap_host_mapped(const struct idmap *m, uint32_t host)
{
	for (size_t i = 0; i < m->n; i++) {
		uint32_t first, count;
		if (host_side(&m->rules[i], &first, &count) && in_range(host, first, count))
			return true;
	}
	return m->n == 0;
}

uint32_t idmap_to_guest(const struct idmap *m, uint32_t host)
{
	if (!m->n)
		return host;
	for (size_t i = 0; i < m->n; i++) {
		const struct idmap_rule *r = &m->rules[i];
		uint32_t first, count;
		if (!host_side(r, &first, &count) || !in_range(host, first, count))
			continue;
		if (r->kind == IDMAP_SQUASH_HOST)
			return r->to;
		if (r->kind == IDMAP_HOST)
			return r->to + (host - first);
		return r->from + (host - first); /* map: host side is to.. */
	}
	return IDMAP_OVERFLOW_ID;
}

void idmap_print(const struct idmap *m, const char *key, FILE *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct idmap_rule *r = &m->rules[i];
		uint32_t last = r->from + (r->count - 1), tlast = r->to + (r->count - 1);
		char text[64];

		idmap_rule_text(r, text, sizeof text);
		fprintf(out, "%s = %s\n", key, text);
		switch (r->kind) {
		case IDMAP_MAP:
			fprintf(out, "#   guest %" PRIu32 "..%" PRIu32 " <-> host %" PRIu32 "..%" PRIu32 "\n",
				r->from, last, r->to, tlast);
			break;
		case IDMAP_GUEST:
			fprintf(out, "#   guest %" PRIu32 "..%" PRIu32 " -> host %" PRIu32 "..%" PRIu32 "\n",
				r->from, last, r->to, tlast);
			break;
		case IDMAP_HOST:
			fprintf(out, "#   host %" PRIu32 "..%" PRIu32 " -> guest %" PRIu32 "..%" PRIu32 "\n",
				r->from, last, r->to, tlast);
			break;
		case IDMAP_SQUASH_GUEST:
			fprintf(out, "#   guest %" PRIu32 "..%" PRIu32 " -> host %" PRIu32 "\n", r->from,
				last, r->to);
			break;
		case IDMAP_SQUASH_HOST:
			fprintf(out, "#   host %" PRIu32 "..%" PRIu32 " -> guest %" PRIu32 "\n", r->from,
				last, r->to);
			break;
		case IDMAP_FORBID_GUEST:
			fprintf(out, "#   guest %" PRIu32 "..%" PRIu32 " refused (EPERM)\n", r->from,
				last);
			break;
		}
	}
	if (m->n)
		fprintf(out, "#   other guest ids refused (EPERM); other host ids shown as %u\n",
			IDMAP_OVERFLOW_ID);
}
