/* xattrmap_parse(): virtiofsd's xattr-mapping rules into a table;
 * xattrmap_to_host(), xattrmap_to_guest(): the table applied to one name.
 * config/xattrmap.h says what the rules mean and where they differ from
 * virtiofsd's. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/xattrmap.h"

#define ACCEPTED_RULE                                                                             \
	":type:scope:key:prepend: or :map:key:prepend:, with any one printable character as "      \
	"the separator in place of ':'"
#define ACCEPTED_TYPE "prefix, ok, bad, unsupported, map"
#define ACCEPTED_SCOPE "client, server, all"

/* Text quoted in messages (a rule, a field) is cut to this many bytes, so
 * that the accepted values after it still fit on the line. */
#define QUOTE_MAX 60

enum rule_type { RULE_PREFIX, RULE_OK, RULE_BAD, RULE_UNSUPPORTED, RULE_MAP };

/* Bits: which names a rule is matched against. */
enum { SCOPE_CLIENT = 1, SCOPE_SERVER = 2, SCOPE_ALL = 3 };

static const char *const type_names[] = {
	[RULE_PREFIX] = "prefix",
	[RULE_OK] = "ok",
	[RULE_BAD] = "bad",
	[RULE_UNSUPPORTED] = "unsupported",
	[RULE_MAP] = "map",
};

static const char *const scope_names[] = {
	[SCOPE_CLIENT] = "client",
	[SCOPE_SERVER] = "server",
	[SCOPE_ALL] = "all",
};

struct rule {
	enum rule_type type; /* never RULE_MAP: map is expanded at parse */
	unsigned scope;
	char sep; /* the separator it was written with, for xattrmap_print() */
	char *key, *prepend;
	size_t keylen, prependlen;
};

struct xattrmap {
	size_t n;
	struct rule *rules;
};

/* A field of the text: a view, not a copy. */
struct span {
	const char *p;
	size_t len;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_line_end(char c)
{
	return c == '\0' || c == '\n' || c == '\r';
}

static bool span_is(struct span s, const char *word)
{
	return strlen(word) == s.len && !memcmp(s.p, word, s.len);
}

/*
 * The field at *p up to the separator: true with *f set and *p just past
 * the separator; false if the line or text ends first (*f is then what was
 * there, *p where it stopped).
 */
static bool cut_field(const char **p, char sep, struct span *f)
{
	const char *s = *p;

	while (*s != sep && !is_line_end(*s))
		s++;
	f->p = *p;
	f->len = (size_t)(s - *p);
	if (*s != sep) {
		*p = s;
		return false;
	}
	*p = s + 1;
	return true;
}

/* Where a rule starting at start ends if it has nfields closed fields, or
 * where its line ends if it has fewer: the extent to quote in a message. */
static const char *rule_extent(const char *start, int nfields)
{
	const char *p = start + 1;
	struct span f;

	for (int i = 0; i < nfields && cut_field(&p, *start, &f); i++)
		;
	return p;
}

/* Write text[0..len) into buf as one printable line, cut at QUOTE_MAX. */
static void quote(char *buf, size_t cap, const char *text, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)text[i];

		if (o >= QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

/* Parsing state shared by the helpers below. */
struct parser {
	struct xattrmap *m;
	size_t cap;     /* rules allocated */
	int index;      /* 1-based number of the rule being parsed */
	const char *start, *end; /* its text, for messages */
	char *msg;
	size_t msglen;
};

/* "PROBLEM in rule N 'TEXT' (accepted: ACCEPTED)" into msg; -EINVAL. */
static int rule_error(struct parser *ps, const char *problem, const char *accepted)
{
	char text[QUOTE_MAX + 8];

	quote(text, sizeof(text), ps->start, (size_t)(ps->end - ps->start));
	if (ps->msglen)
		snprintf(ps->msg, ps->msglen, "%s in rule %d '%s' (accepted: %s)", problem, ps->index,
			 text, accepted);
	return -EINVAL;
}

/* Append one rule, copying its fields; 0 or -ENOMEM. */
static int add_rule(struct parser *ps, enum rule_type type, unsigned scope, struct span key,
		    struct span prepend)
{
	struct xattrmap *m = ps->m;
	struct rule *r;

	if (m->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 8;
		struct rule *grown = realloc(m->rules, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		m->rules = grown;
		ps->cap = cap;
	}
	r = &m->rules[m->n];
	*r = (struct rule){ .type = type, .scope = scope, .sep = *ps->start };
	r->key = strndup(key.p, key.len);
	r->prepend = strndup(prepend.p, prepend.len);
	if (!r->key || !r->prepend) {
		free(r->key);
		free(r->prepend);
		return -ENOMEM;
	}
	r->keylen = key.len;
	r->prependlen = prepend.len;
	m->n++;
	return 0;
}

/* The rules a map rule stands for, in virtiofsd's order (see xattrmap.h). */
static int expand_map(struct parser *ps, struct span key, struct span prepend)
{
	static const struct span none = { "", 0 };
	int err;

	if ((err = add_rule(ps, RULE_PREFIX, SCOPE_ALL, key, prepend)))
		return err;
	if (!key.len)
		return add_rule(ps, RULE_BAD, SCOPE_ALL, none, none);
	if ((err = add_rule(ps, RULE_BAD, SCOPE_ALL, prepend, key)))
		return err;
	return add_rule(ps, RULE_OK, SCOPE_ALL, none, none);
}

/*
 * The rule at *p (its separator): checked and added to ps->m, *p moved past
 * it, *is_map set if it was a map rule.  0, -EINVAL with the message
 * written, or -ENOMEM.
 */
static int parse_rule(struct parser *ps, const char **p, bool *is_map)
{
	static const char *const rule_fields[] = { "type", "scope", "key", "prepend" };
	static const char *const map_fields[] = { "type", "key", "prepend" };
	const char *const *names = rule_fields;
	char sep = **p;
	struct span f[4];
	int nfields = 4, type = -1;
	unsigned scope = 0;
	char field[QUOTE_MAX + 8], problem[QUOTE_MAX + 64];

	ps->start = *p;
	ps->end = rule_extent(*p, 4);
	if (sep < '!' || sep > '~') {
		ps->end = *p + 1;
		return rule_error(ps, "a separator that is not a printable ASCII character",
				  ACCEPTED_RULE);
	}
	(*p)++;
	for (int i = 0; i < nfields; i++) {
		if (!cut_field(p, sep, &f[i])) {
			ps->end = *p;
			if (f[i].len)
				snprintf(problem, sizeof(problem),
					 "%s field not closed by the separator '%c'", names[i], sep);
			else
				snprintf(problem, sizeof(problem), "missing %s field", names[i]);
			return rule_error(ps, problem, ACCEPTED_RULE);
		}
		if (i)
			continue;
		for (int t = 0; t <= RULE_MAP; t++)
			if (span_is(f[0], type_names[t]))
				type = t;
		if (type < 0) {
			quote(field, sizeof(field), f[0].p, f[0].len);
			snprintf(problem, sizeof(problem), "unknown type '%s'", field);
			return rule_error(ps, problem, ACCEPTED_TYPE);
		}
		if (type == RULE_MAP) {
			names = map_fields;
			nfields = 3;
			ps->end = rule_extent(ps->start, 3);
		}
	}
	ps->end = *p;
	*is_map = type == RULE_MAP;
	if (*is_map)
		return expand_map(ps, f[1], f[2]);
	for (unsigned s = SCOPE_CLIENT; s <= SCOPE_ALL; s++)
		if (span_is(f[1], scope_names[s]))
			scope = s;
	if (!scope) {
		quote(field, sizeof(field), f[1].p, f[1].len);
		snprintf(problem, sizeof(problem), "unknown scope '%s'", field);
		return rule_error(ps, problem, ACCEPTED_SCOPE);
	}
	return add_rule(ps, (enum rule_type)type, scope, f[2], f[3]);
}

int xattrmap_parse(const char *text, struct xattrmap **out, char *msg, size_t msglen)
{
	struct parser ps = { .msg = msg, .msglen = msglen };
	const char *p = text, *prev_start = NULL, *prev_end = NULL;
	bool is_map = false;
	int err = -ENOMEM;

	if (!(ps.m = calloc(1, sizeof(*ps.m))))
		goto fail;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		ps.index++;
		if (is_map) {
			ps.start = p;
			ps.end = rule_extent(p, 4);
			err = rule_error(&ps, "a rule after map",
					 "map only as the last rule: it ends in a catch-all rule, "
					 "so no rule after it could match");
		} else {
			err = parse_rule(&ps, &p, &is_map);
		}
		if (err == -EINVAL && prev_end == ps.start && *prev_start != *ps.start) {
			/* ":ok:all:a:b:c:" reads as rule 1 and a rule 2 whose
			 * separator is 'c'; the user almost surely meant one rule
			 * with a field too many, so say that. */
			ps.index--;
			ps.start = prev_start;
			for (ps.end = prev_end; *ps.end && !is_space(*ps.end); ps.end++)
				;
			err = rule_error(&ps, "too many fields", ACCEPTED_RULE);
		}
		if (err)
			goto fail;
		prev_start = ps.start;
		prev_end = ps.end;
	}
	if (!ps.index) {
		if (msglen)
			snprintf(msg, msglen, "no rules (accepted: one or more rules, each %s)",
				 ACCEPTED_RULE);
		err = -EINVAL;
		goto fail;
	}
	*out = ps.m;
	return 0;

fail:
	xattrmap_free(ps.m);
	if (err == -ENOMEM && msglen)
		snprintf(msg, msglen, "out of memory");
	return err;
}

void xattrmap_free(struct xattrmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->rules[i].key);
		free(m->rules[i].prepend);
	}
	free(m->rules);
	free(m);
}

/* The first rule of scope whose field (key or prepend) begins name, or NULL. */
static const struct rule *find_rule(const struct xattrmap *m, unsigned scope, const char *name)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct rule *r = &m->rules[i];
		const char *field = scope == SCOPE_CLIENT ? r->key : r->prepend;
		size_t len = scope == SCOPE_CLIENT ? r->keylen : r->prependlen;

		if ((r->scope & scope) && !strncmp(name, field, len))
			return r;
	}
	return NULL;
}

/* a (alen bytes) then the string b into buf; 0, or -ERANGE if that and a
 * NUL do not fit in cap.  b may lie in buf at or after buf + alen, so that
 * xattrmap_to_guest() can strip a prefix in place. */
static int join(char *buf, size_t cap, const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen + blen >= cap)
		return -ERANGE;
	memcpy(buf, a, alen);
	memmove(buf + alen, b, blen + 1);
	return 0;
}

int xattrmap_to_host(const struct xattrmap *m, const char *guest, char *buf, size_t cap)
{
	const struct rule *r = find_rule(m, SCOPE_CLIENT, guest);

	if (!r || r->type == RULE_BAD)
		return -EPERM;
	if (r->type == RULE_UNSUPPORTED)
		return -ENOTSUP;
	if (r->type == RULE_OK)
		return join(buf, cap, "", 0, guest);
	return join(buf, cap, r->prepend, r->prependlen, guest);
}

int xattrmap_to_guest(const struct xattrmap *m, const char *host, char *buf, size_t cap)
{
	const struct rule *r = find_rule(m, SCOPE_SERVER, host);
	int err;

	if (!r || r->type == RULE_BAD || r->type == RULE_UNSUPPORTED)
		return 0;
	err = join(buf, cap, "", 0, r->type == RULE_PREFIX ? host + r->prependlen : host);
	return err ? err : 1;
}

/* A separator that neither field of r holds: ':' when it can be. */
static char print_separator(const struct rule *r)
{
	static const char choices[] = ":/|,;#!%=+@~";

	for (const char *c = choices; *c; c++)
		if (!strchr(r->key, *c) && !strchr(r->prepend, *c))
			return *c;
	return r->sep;
}

void xattrmap_print(const struct xattrmap *m, FILE *out, const char *indent)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct rule *r = &m->rules[i];
		char s = print_separator(r);

		fprintf(out, "%s%c%s%c%s%c%s%c%s%c\n", indent ? indent : "", s, type_names[r->type],
			s, scope_names[r->scope], s, r->key, s, r->prepend, s);
	}
}

size_t xattrmap_max_growth(const struct xattrmap *m)
{
	size_t most = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct rule *r = &m->rules[i];

		if (r->type == RULE_PREFIX && (r->scope & SCOPE_CLIENT) && r->prependlen > most)
			most = r->prependlen;
	}
	return most;
}

bool xattrmap_may_rename_into(const struct xattrmap *m, const char *ns)
{
	size_t nslen = strlen(ns);

	for (size_t i = 0; m && i < m->n; i++) {
		const struct rule *r = &m->rules[i];

		if (r->type != RULE_PREFIX || !(r->scope & SCOPE_CLIENT) || !r->prependlen)
			continue;
		/* The new name is prepend + the guest's name: in ns when
		 * prepend starts with ns, or may be when ns starts with it. */
		if (!strncmp(r->prepend, ns, r->prependlen < nslen ? r->prependlen : nslen))
			return true;
	}
	return false;
}
