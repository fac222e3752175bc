/* uid and gid maps of an export: translate_uid= / translate_gid=, spelled
 * as virtiofsd spells --translate-uid, and libvirt's <idmap>.
 *
 * One map holds the rules of one kind of id (uids or gids).  Each rule is
 * one of
 *   map:GUEST:HOST:COUNT          GUEST.. <-> HOST.., both directions
 *   guest:GUEST:HOST:COUNT        GUEST.. -> HOST.. (guest ids to host only)
 *   host:HOST:GUEST:COUNT         HOST.. -> GUEST.. (host ids to guest only)
 *   squash-guest:GUEST:HOST:COUNT every guest id GUEST.. -> the one host id HOST
 *   squash-host:HOST:GUEST:COUNT  every host id HOST.. -> the one guest id GUEST
 *   forbid-guest:GUEST:COUNT      guest ids GUEST.. are refused (EPERM)
 * where X.. stands for the COUNT ids from X on.  No two rules of one
 * direction may cover the same id, so the order of the rules never
 * matters; a range may not reach 4294967295, the kernel's "no id".
 *
 * Where ninepd differs from virtiofsd, on purpose: once a map has a rule,
 * it is the whole map (a user namespace's rule).  A guest id no rule
 * covers is refused like a forbidden one, and a host id no rule covers
 * shows as the overflow id 65534; virtiofsd passes both through
 * unchanged, so a guest root no rule names would act as host root.  An
 * empty map translates nothing.
 *
 * Pure: no I/O, no globals.  A map is read by many threads once built.
 */
#ifndef NINEPD_CONFIG_IDMAP_H
#define NINEPD_CONFIG_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IDMAP_OVERFLOW_ID 65534u /* what a host id no rule covers shows as */
#define IDMAP_ID_MAX 4294967294u /* the largest id a rule may name */

enum idmap_kind {
	IDMAP_MAP = 0,
	IDMAP_GUEST,
	IDMAP_HOST,
	IDMAP_SQUASH_GUEST,
	IDMAP_SQUASH_HOST,
	IDMAP_FORBID_GUEST,
};

struct idmap_rule {
	enum idmap_kind kind;
	uint32_t from;  /* first id of the source side (guest, or host for
			 * host/squash-host) */
	uint32_t to;    /* first id of the target side, or the one id of a
			 * squash; 0 for forbid-guest */
	uint32_t count; /* ids in the source range, >= 1 */
	int line;       /* where it was written (0: the command line or XML) */
};

/* Owns its rules; idmap_free() releases them. */
struct idmap {
	struct idmap_rule *rules;
	size_t n;
};

/*
 * Parse text (one rule, or several separated by blanks) and append its
 * rules, remembering line for each.  Returns 0, -ENOMEM, or -EINVAL with
 * "problem (accepted: ...)" in msg; on -EINVAL nothing is appended.  A rule
 * whose guest (or host) ids overlap an earlier rule's of the same
 * direction is refused, naming both.
 */
int idmap_add(struct idmap *m, const char *text, int line, char *msg, size_t msglen);
/* The same from numbers (libvirt's <idmap>); 0, -ENOMEM or -EINVAL. */
int idmap_add_rule(struct idmap *m, const struct idmap_rule *r, char *msg, size_t msglen);

void idmap_free(struct idmap *m); /* leaves m empty */
int idmap_copy(struct idmap *dst, const struct idmap *src); /* 0 or -ENOMEM (dst empty) */
bool idmap_equal(const struct idmap *a, const struct idmap *b); /* same rules, same order */

static inline bool idmap_active(const struct idmap *m)
{
	return m->n > 0;
}

/* A guest id to the host's: 0 and *host, or -EPERM (forbidden, or no
 * rule covers it).  An empty map gives the id itself. */
int idmap_to_host(const struct idmap *m, uint32_t guest, uint32_t *host);
/* A host id to the guest's; IDMAP_OVERFLOW_ID when no rule covers it.  An
 * empty map gives the id itself. */
uint32_t idmap_to_guest(const struct idmap *m, uint32_t host);

/* True when a rule gives host id host a guest id (or the map is empty). */
bool idmap_host_mapped(const struct idmap *m, uint32_t host);

/* One "KEY = RULE" line per rule, each followed by a comment saying in
 * words what it does, for `ninepd -n`. */
void idmap_print(const struct idmap *m, const char *key, FILE *out);
/* The rule as written: "map:1000:101000:1".  buf of 64 bytes suffices. */
void idmap_rule_text(const struct idmap_rule *r, char *buf, size_t cap);

#endif
