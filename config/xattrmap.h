/*
 * xattrmap: an export's rules for renaming extended attributes between the
 * guest and the host, in virtiofsd's -o xattrmap= / --xattrmap syntax.
 * A pure module: it parses a string and maps names; no I/O but
 * xattrmap_print(), no globals, no system calls.
 *
 * Syntax.  A rule set is one or more rules, with optional whitespace
 * before, between and after them.  A rule's first character is its
 * separator, which closes every field of that rule; each rule may pick its
 * own (any printable ASCII character but space):
 *
 *	:type:scope:key:prepend:	type: prefix, ok, bad, unsupported
 *					scope: client, server, all
 *	:map:key:prepend:		only as the last rule; see below
 *
 * Rules may follow each other without whitespace when the next one starts
 * with the same separator (":ok:all:::" twice is two rules), as virtiofsd
 * allows.  A field may hold any character but the separator and a line
 * break.
 *
 * Matching.  The rules are tried in order and the first that matches
 * decides.  A name from the guest (getxattr, setxattr, removexattr) is
 * matched against the key of each rule whose scope is client or all: the
 * rule matches when the name starts with key.  A name from the host
 * (listxattr) is matched against the prepend of each rule whose scope is
 * server or all, in the same way.  An empty field matches every name.
 *
 *	type		guest name (to_host)		host name (to_guest)
 *	prefix		prepend + the whole name	the name without prepend
 *			(key is kept, not replaced)
 *	ok		unchanged			unchanged
 *	bad		-EPERM				hidden from the list
 *	unsupported	-ENOTSUP			hidden from the list
 *
 * map.  ":map:KEY:PREPEND:" stands for these rules, exactly as virtiofsd
 * (src/passthrough/xattrmap.rs, Rule::expand_map_type) expands it:
 *
 *	:prefix:all:KEY:PREPEND:	guest KEY... is stored as PREPEND KEY...
 *	:bad:all:PREPEND:KEY:		the guest may not name PREPEND... itself;
 *					the host's own KEY... is hidden
 *	:ok:all:::			everything else passes unchanged
 *
 * and, when KEY is empty, ":prefix:all::PREPEND:" then ":bad:all:::" (every
 * name is prefixed; host names without PREPEND are hidden).  QEMU's C
 * virtiofsd wrote the middle rule as a server-only and a client-only bad
 * rule; that is the same mapping.
 *
 * A name that no rule matches is refused: -EPERM from the guest's side,
 * hidden from the host's side.  That is what QEMU's C virtiofsd did
 * (xattr_map_client() returned -EPERM, xattr_map_server() -ENODATA, which
 * drops the name).  Today's Rust virtiofsd panics on such a name
 * ("unterminated mapping"), as its documentation requires a rule set to end
 * in a catch-all; a guest must not be able to stop the daemon, so ninepd
 * refuses the one name instead.  Neither virtiofsd refuses such a set at
 * parse time, and neither does ninepd: end a set with ":ok:all:::" or
 * ":bad:all:::" to say what you mean.
 *
 * Other differences from virtiofsd, all in what is accepted as text: a
 * separator must be printable ASCII (the Rust version takes any character
 * and mangles non-ASCII ones); a field may not span lines; the type and
 * scope must be spelled exactly (the C version took "prefixes" as
 * "prefix" followed by junk).  Whitespace after a map rule is allowed, as
 * in the Rust version.
 *
 * Callers: getxattr may want to answer a refused name with ENODATA rather
 * than EPERM, as QEMU's C virtiofsd did; that choice belongs to the backend.
 */
#ifndef NINEPD_CONFIG_XATTRMAP_H
#define NINEPD_CONFIG_XATTRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Opaque and immutable after xattrmap_parse(): worker threads may share one
 * read-only without locks.  Owned by whoever parsed it; xattrmap_free(). */
struct xattrmap;

/*
 * Parse text into a new rule set in *out (which the caller then owns).
 * Returns 0; -EINVAL with a one-line message in msg naming the rule (its
 * 1-based number as written, a map rule counting once, and its text) and
 * the accepted values; or -ENOMEM.  *out is
 * left alone on failure.  msg may be NULL when msglen is 0.
 */
int xattrmap_parse(const char *text, struct xattrmap **out, char *msg, size_t msglen);

/* Release m and everything in it; NULL is a no-op. */
void xattrmap_free(struct xattrmap *m);

/*
 * A name from the guest (getxattr, setxattr, removexattr) to the host's:
 * 0 with the host name in buf (NUL-terminated, cap bytes at most),
 * -EPERM (a bad rule, or no rule matched), -ENOTSUP (an unsupported rule),
 * or -ERANGE (the mapped name does not fit in cap).  buf must not overlap
 * guest.  Size buf as strlen(guest) + xattrmap_max_growth(m) + 1.
 */
int xattrmap_to_host(const struct xattrmap *m, const char *guest, char *buf, size_t cap);

/*
 * A name from the host's listxattr to the guest's: 1 with the guest name in
 * buf (NUL-terminated), 0 when the guest must not see it (a bad or
 * unsupported rule, or no rule matched), or -ERANGE.  The guest name is
 * never longer than the host name, and buf may be host itself or start
 * before it in the same array, so that a listxattr buffer can be rewritten
 * in place.
 */
int xattrmap_to_guest(const struct xattrmap *m, const char *host, char *buf, size_t cap);

/*
 * Print the rules as understood, map expanded, one a line: indent, then
 * ":type:scope:key:prepend:".  The separator is ':' unless a field holds
 * one; then the first of "/|,;#!%=+@~" that neither field holds, or failing
 * those the separator the rule was written with.
 */
void xattrmap_print(const struct xattrmap *m, FILE *out, const char *indent);

/* The most bytes xattrmap_to_host() may add to a name (the longest prepend
 * of a prefix rule that applies to guest names); 0 if it never adds any. */
size_t xattrmap_max_growth(const struct xattrmap *m);

/* True when a prefix rule may give a guest's name a new name in the
 * namespace ns ("trusted."): the daemon then keeps what writing there
 * takes.  NULL m: false. */
bool xattrmap_may_rename_into(const struct xattrmap *m, const char *ns);

#endif
