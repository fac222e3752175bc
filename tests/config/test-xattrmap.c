/* Tests of config/xattrmap: virtiofsd's xattr-mapping rules, parsed and
 * applied to names both ways.
 *
 * The expected behaviour is virtiofsd's (src/passthrough/xattrmap.rs and
 * QEMU's docs/tools/virtiofsd.rst); where ninepd differs on purpose,
 * config/xattrmap.h says so and a test here pins the difference.  Every
 * parse error is compared as a whole line, so a message that loses the
 * rule's number, its text or the accepted values fails here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/xattrmap.h"

#define ACCEPTED_RULE                                                                             \
	"(accepted: :type:scope:key:prepend: or :map:key:prepend:, with any one printable "        \
	"character as the separator in place of ':')"

/* ---- helpers ---------------------------------------------------------- */

static struct xattrmap *parse_ok(const char *text)
{
	struct xattrmap *m = NULL;
	char msg[256] = "";
	int rc = xattrmap_parse(text, &m, msg, sizeof(msg));

	cr_assert_eq(rc, 0, "parsing '%s': %d, %s", text, rc, msg);
	cr_assert_not_null(m);
	return m;
}

/* Parsing text fails with -EINVAL and exactly the message expected; *out
 * is left alone. */
static void expect_parse_error(const char *text, const char *expected)
{
	struct xattrmap *m = (struct xattrmap *)&m; /* a sentinel */
	char msg[512] = "";

	cr_expect_eq(xattrmap_parse(text, &m, msg, sizeof(msg)), -EINVAL, "parsing '%s'", text);
	cr_expect_eq(m, (struct xattrmap *)&m, "*out changed on failure");
	cr_expect_str_eq(msg, expected, "parsing '%s':\n got: %s\nwant: %s", text, msg, expected);
}

/* The guest's name as the host sees it, or "EPERM" / "ENOTSUP" / "ERANGE". */
static const char *host_name(const struct xattrmap *m, const char *guest)
{
	static char buf[512];
	int rc = xattrmap_to_host(m, guest, buf, sizeof(buf));

	switch (rc) {
	case 0:
		return buf;
	case -EPERM:
		return "EPERM";
	case -ENOTSUP:
		return "ENOTSUP";
	default:
		cr_assert_fail("xattrmap_to_host('%s'): unexpected %d", guest, rc);
		return NULL;
	}
}

/* The host's name as the guest sees it in a list, or "(hidden)". */
static const char *guest_name(const struct xattrmap *m, const char *host)
{
	static char buf[512];
	int rc = xattrmap_to_guest(m, host, buf, sizeof(buf));

	cr_assert(rc == 0 || rc == 1, "xattrmap_to_guest('%s'): unexpected %d", host, rc);
	return rc ? buf : "(hidden)";
}

/* What xattrmap_print() writes, in a string the caller frees. */
static char *printed(const struct xattrmap *m, const char *indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	xattrmap_print(m, f, indent);
	fclose(f);
	return buf;
}

static void expect_printed(const char *text, const char *expected)
{
	struct xattrmap *m = parse_ok(text);
	char *out = printed(m, "");

	cr_expect_str_eq(out, expected, "printing '%s'", text);
	free(out);
	xattrmap_free(m);
}

/*
 * A listxattr buffer (names, each ended by a NUL) rewritten in place for
 * the guest, as a backend would: mapped names kept, hidden ones dropped.
 * Returns the new length.
 */
static size_t filter_list(const struct xattrmap *m, char *list, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = strlen(list + in) + 1;
		int rc = xattrmap_to_guest(m, list + in, list + out, len - out);

		cr_assert(rc == 0 || rc == 1, "xattrmap_to_guest('%s'): %d", list + in, rc);
		if (rc)
			out += strlen(list + out) + 1;
		in += n;
	}
	return out;
}

/* ---- each type in each scope ------------------------------------------ */

/*
 * One rule ":TYPE:SCOPE:k.:p.:" followed by two rules that catch whatever
 * it leaves, each with a result no type produces: a guest name it does not
 * take becomes "Z." + name, a host name "p.xy" it does not take becomes
 * "y".  So every cell below shows which rule decided.
 */
Test(xattrmap, each_type_in_each_scope_acts_on_its_side_only)
{
	static const struct {
		const char *type, *scope;
		const char *guest_kx; /* the guest's "k.x" on the host */
		const char *host_pxy; /* the host's "p.xy" in the guest's list */
	} cells[] = {
		{ "prefix", "client", "p.k.x", "y" },
		{ "prefix", "server", "Z.k.x", "xy" },
		{ "prefix", "all", "p.k.x", "xy" },
		{ "ok", "client", "k.x", "y" },
		{ "ok", "server", "Z.k.x", "p.xy" },
		{ "ok", "all", "k.x", "p.xy" },
		{ "bad", "client", "EPERM", "y" },
		{ "bad", "server", "Z.k.x", "(hidden)" },
		{ "bad", "all", "EPERM", "(hidden)" },
		{ "unsupported", "client", "ENOTSUP", "y" },
		{ "unsupported", "server", "Z.k.x", "(hidden)" },
		{ "unsupported", "all", "ENOTSUP", "(hidden)" },
	};

	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		char text[128];
		struct xattrmap *m;

		snprintf(text, sizeof(text), ":%s:%s:k.:p.: :prefix:all::Z.: :prefix:server::p.x:",
			 cells[i].type, cells[i].scope);
		m = parse_ok(text);
		cr_expect_str_eq(host_name(m, "k.x"), cells[i].guest_kx, "%s: guest k.x", text);
		cr_expect_str_eq(guest_name(m, "p.xy"), cells[i].host_pxy, "%s: host p.xy", text);
		/* The key and prepend match as prefixes only. */
		cr_expect_str_eq(host_name(m, "xk.x"), "Z.xk.x", "%s: guest xk.x", text);
		cr_expect_str_eq(guest_name(m, "xp.xy"), "(hidden)", "%s: host xp.xy", text);
		xattrmap_free(m);
	}
}

Test(xattrmap, prefix_prepends_to_the_whole_guest_name_and_keeps_the_key)
{
	struct xattrmap *m = parse_ok(":prefix:all:trusted.:user.virtiofs.: :ok:all:::");

	/* virtiofsd prepends; it does not replace key with prepend. */
	cr_expect_str_eq(host_name(m, "trusted.overlay.opaque"),
			 "user.virtiofs.trusted.overlay.opaque");
	cr_expect_str_eq(guest_name(m, "user.virtiofs.trusted.overlay.opaque"),
			 "trusted.overlay.opaque");
	/* The server side strips prepend whatever follows it. */
	cr_expect_str_eq(guest_name(m, "user.virtiofs.anything"), "anything");
	xattrmap_free(m);
}

/* ---- order, no match -------------------------------------------------- */

Test(xattrmap, first_matching_rule_wins)
{
	struct xattrmap *m = parse_ok(":bad:client:user.secret:: :ok:all:::");
	struct xattrmap *r = parse_ok(":ok:all::: :bad:client:user.secret::");

	cr_expect_str_eq(host_name(m, "user.secret.key"), "EPERM");
	cr_expect_str_eq(host_name(m, "user.public"), "user.public");
	cr_expect_str_eq(host_name(r, "user.secret.key"), "user.secret.key");
	xattrmap_free(m);
	xattrmap_free(r);

	m = parse_ok(":prefix:server::user.a.: :bad:server::user.:  :ok:all:::");
	cr_expect_str_eq(guest_name(m, "user.a.b"), "b");
	cr_expect_str_eq(guest_name(m, "user.b"), "(hidden)");
	cr_expect_str_eq(guest_name(m, "trusted.b"), "trusted.b");
	xattrmap_free(m);
}

/* QEMU's C virtiofsd: -EPERM and a dropped name; the Rust one panics,
 * which a guest must not be able to make ninepd do. */
Test(xattrmap, a_name_no_rule_matches_is_refused_and_hidden)
{
	struct xattrmap *m = parse_ok(":ok:client:user.:: :ok:server::user.:");

	cr_expect_str_eq(host_name(m, "user.a"), "user.a");
	cr_expect_str_eq(host_name(m, "security.selinux"), "EPERM");
	cr_expect_str_eq(guest_name(m, "user.a"), "user.a");
	cr_expect_str_eq(guest_name(m, "security.selinux"), "(hidden)");
	xattrmap_free(m);
}

/* ---- map -------------------------------------------------------------- */

Test(xattrmap, map_expands_as_virtiofsd_does)
{
	expect_printed(":map:security.selinux:trusted.ninepd.:",
		       ":prefix:all:security.selinux:trusted.ninepd.:\n"
		       ":bad:all:trusted.ninepd.:security.selinux:\n"
		       ":ok:all:::\n");
	/* An empty key prefixes every name and hides the host's others. */
	expect_printed(":map::user.virtiofs.:",
		       ":prefix:all::user.virtiofs.:\n"
		       ":bad:all:::\n");
	/* Rules before map stay first. */
	expect_printed("/ok/client/user.keep// /map/trusted./user.vm./",
		       ":ok:client:user.keep::\n"
		       ":prefix:all:trusted.:user.vm.:\n"
		       ":bad:all:user.vm.:trusted.:\n"
		       ":ok:all:::\n");
}

static const char *const selinux_round_trip_names[] = {
	"security.selinux", "security.selinuxx", "user.mime_type",
	"trusted.overlay.opaque", "system.posix_acl_access", "security.capability",
};

static void expect_round_trip(const struct xattrmap *m)
{
	for (size_t i = 0; i < sizeof(selinux_round_trip_names) / sizeof(char *); i++) {
		const char *name = selinux_round_trip_names[i];
		char host[256], guest[256];

		cr_assert_eq(xattrmap_to_host(m, name, host, sizeof(host)), 0, "%s", name);
		cr_assert_eq(xattrmap_to_guest(m, host, guest, sizeof(guest)), 1, "%s", host);
		cr_expect_str_eq(guest, name, "via the host's '%s'", host);
	}
}

/* The guest's security.selinux is stored on the host as stored and listed
 * back under its own name; the host's own label is hidden from the guest,
 * and the guest cannot reach the stored name directly. */
static void expect_selinux_kept_apart(const struct xattrmap *m, const char *stored)
{
	cr_expect_str_eq(host_name(m, "security.selinux"), stored);
	cr_expect_str_eq(guest_name(m, stored), "security.selinux");
	cr_expect_str_eq(guest_name(m, "security.selinux"), "(hidden)");
	cr_expect_str_eq(host_name(m, stored), "EPERM");
	expect_round_trip(m);
}

/* The use case: the guest's SELinux label is kept apart from the
 * host's own, which the guest never sees. */
Test(xattrmap, selinux_map_keeps_guest_and_host_labels_apart)
{
	static const char *const texts[] = {
		":map:security.selinux:trusted.ninepd.:",
		/* The same rules written out. */
		":prefix:all:security.selinux:trusted.ninepd.:\n"
		":bad:all:trusted.ninepd.:security.selinux:\n"
		":ok:all:::",
	};

	for (size_t i = 0; i < 2; i++) {
		struct xattrmap *m = parse_ok(texts[i]);

		expect_selinux_kept_apart(m, "trusted.ninepd.security.selinux");
		cr_expect_str_eq(host_name(m, "user.foo"), "user.foo");
		cr_expect_str_eq(guest_name(m, "user.foo"), "user.foo");
		xattrmap_free(m);
	}
}

/* An unprivileged daemon cannot write trusted.*: user.ninepd. instead. */
Test(xattrmap, user_namespace_map_suits_an_unprivileged_daemon)
{
	struct xattrmap *m = parse_ok(":map:security.selinux:user.ninepd.:");

	expect_selinux_kept_apart(m, "user.ninepd.security.selinux");
	xattrmap_free(m);

	/* Everything under user.ninepd.: the host's other names are hidden. */
	m = parse_ok(":map::user.ninepd.:");
	cr_expect_str_eq(host_name(m, "security.selinux"), "user.ninepd.security.selinux");
	cr_expect_str_eq(host_name(m, "user.a"), "user.ninepd.user.a");
	cr_expect_str_eq(guest_name(m, "user.a"), "(hidden)");
	cr_expect_str_eq(guest_name(m, "security.selinux"), "(hidden)");
	expect_round_trip(m);
	xattrmap_free(m);
}

Test(xattrmap, prefix_rule_form_of_the_selinux_mapping)
{
	/* Prefix keeps the key, so prepend is "trusted.ninepd.", not
	 * "trusted.ninepd.security.", to store trusted.ninepd.security.*. */
	struct xattrmap *m = parse_ok(":prefix:all:security.:trusted.ninepd.:\n"
				      ":bad:all:trusted.ninepd.:security.:\n"
				      ":ok:all:::");

	expect_selinux_kept_apart(m, "trusted.ninepd.security.selinux");
	cr_expect_str_eq(guest_name(m, "security.ima"), "(hidden)");
	xattrmap_free(m);
}

/* ---- lists, buffers ---------------------------------------------------- */

Test(xattrmap, list_drops_hidden_names_and_strips_prefixes_in_place)
{
	struct xattrmap *m = parse_ok(":map:security.selinux:trusted.ninepd.:");
	char list[] = "security.selinux\0user.a\0trusted.ninepd.security.selinux\0"
		      "security.selinux.x\0trusted.b";
	static const char expected[] = "user.a\0security.selinux\0trusted.b";
	size_t len = filter_list(m, list, sizeof(list));

	cr_expect_eq(len, sizeof(expected));
	cr_expect_arr_eq(list, expected, sizeof(expected));
	xattrmap_free(m);
}

Test(xattrmap, names_that_outgrow_the_buffer_are_erange)
{
	struct xattrmap *m = parse_ok(":map::user.ninepd.:");
	const char *name = "trusted.x"; /* 9 bytes, "user.ninepd." 12 */
	size_t need = strlen(name) + xattrmap_max_growth(m) + 1;
	char buf[64];

	cr_expect_eq(xattrmap_max_growth(m), 12);
	cr_expect_eq(xattrmap_to_host(m, name, buf, need), 0);
	cr_expect_str_eq(buf, "user.ninepd.trusted.x");
	cr_expect_eq(xattrmap_to_host(m, name, buf, need - 1), -ERANGE);
	cr_expect_eq(xattrmap_to_host(m, name, buf, 0), -ERANGE);
	cr_expect_eq(xattrmap_to_guest(m, "user.ninepd.trusted.x", buf, 10), 1);
	cr_expect_str_eq(buf, "trusted.x");
	cr_expect_eq(xattrmap_to_guest(m, "user.ninepd.trusted.x", buf, 9), -ERANGE);
	xattrmap_free(m);

	/* ok rules need room too. */
	m = parse_ok(":ok:all:::");
	cr_expect_eq(xattrmap_max_growth(m), 0);
	cr_expect_eq(xattrmap_to_host(m, "user.abc", buf, 8), -ERANGE);
	cr_expect_eq(xattrmap_to_guest(m, "user.abc", buf, 8), -ERANGE);
	cr_expect_eq(xattrmap_to_guest(m, "user.abc", buf, 9), 1);
	xattrmap_free(m);
}

Test(xattrmap, max_growth_counts_only_prefixes_applied_to_guest_names)
{
	struct xattrmap *m = parse_ok(":prefix:server::a.very.long.server.prefix.:"
				      ":prefix:client:x:abc.: :prefix:all:y:abcdef.: :ok:all:::");

	cr_expect_eq(xattrmap_max_growth(m), 7);
	xattrmap_free(m);
}

/* ---- syntax ------------------------------------------------------------ */

Test(xattrmap, any_separator_per_rule)
{
	/* A field may hold ':' when the rule's separator is another one. */
	struct xattrmap *m = parse_ok("/prefix/client/user.a:b/user.vm./ |ok|all||| "
				      ",bad,client,user.x,,");

	cr_expect_str_eq(host_name(m, "user.a:b.c"), "user.vm.user.a:b.c");
	cr_expect_str_eq(host_name(m, "user.a"), "user.a");
	xattrmap_free(m);
	expect_printed("/prefix/client/user.a:b/user.vm./ xokxallxxx",
		       "/prefix/client/user.a:b/user.vm./\n"
		       ":ok:all:::\n");
}

Test(xattrmap, whitespace_between_rules_and_rules_side_by_side)
{
	/* virtiofsd's documented examples 1 and 2. */
	struct xattrmap *m = parse_ok(":prefix:all::user.virtiofs.::bad:all:::");

	cr_expect_str_eq(host_name(m, "trusted.a"), "user.virtiofs.trusted.a");
	cr_expect_str_eq(guest_name(m, "user.virtiofs.trusted.a"), "trusted.a");
	cr_expect_str_eq(guest_name(m, "trusted.a"), "(hidden)");
	xattrmap_free(m);

	m = parse_ok("  \t/prefix/all/trusted./user.virtiofs./\n"
		     "    /bad/server//trusted./\r\n"
		     "\t/bad/client/user.virtiofs.//\n"
		     "    /ok/all///\n\n");
	cr_expect_str_eq(host_name(m, "trusted.a"), "user.virtiofs.trusted.a");
	cr_expect_str_eq(guest_name(m, "user.virtiofs.trusted.a"), "trusted.a");
	cr_expect_str_eq(guest_name(m, "trusted.a"), "(hidden)");
	cr_expect_str_eq(host_name(m, "user.virtiofs.trusted.a"), "EPERM");
	cr_expect_str_eq(host_name(m, "user.a"), "user.a");
	cr_expect_str_eq(guest_name(m, "user.a"), "user.a");
	xattrmap_free(m);

	/* Whitespace after map is not a rule after it. */
	xattrmap_free(parse_ok("\n:map:a.:b.:\n\t "));
}

Test(xattrmap, print_is_canonical_and_indented)
{
	struct xattrmap *m = parse_ok("/unsupported/server//sec./ !bad!client!x:y!!");
	char *out = printed(m, "\t\t");

	cr_expect_str_eq(out, "\t\t:unsupported:server::sec.:\n"
			      "\t\t/bad/client/x:y//\n");
	free(out);
	xattrmap_free(m);
	xattrmap_free(NULL);
}

/* ---- parse errors ------------------------------------------------------ */

Test(xattrmap, empty_text_is_an_error)
{
	static const char no_rules[] =
		"no rules (accepted: one or more rules, each :type:scope:key:prepend: or "
		":map:key:prepend:, with any one printable character as the separator in place "
		"of ':')";

	expect_parse_error("", no_rules);
	expect_parse_error(" \n\t ", no_rules);
}

Test(xattrmap, unknown_type_names_rule_and_accepted_types)
{
	expect_parse_error(":ok:all::: :prefx:all:a:b:",
			   "unknown type 'prefx' in rule 2 ':prefx:all:a:b:' "
			   "(accepted: prefix, ok, bad, unsupported, map)");
	/* Exact spelling: QEMU's C parser took "prefixes" as "prefix". */
	expect_parse_error("/prefixes/all/a/b/",
			   "unknown type 'prefixes' in rule 1 '/prefixes/all/a/b/' "
			   "(accepted: prefix, ok, bad, unsupported, map)");
	expect_parse_error("::all:::", "unknown type '' in rule 1 '::all:::' "
				       "(accepted: prefix, ok, bad, unsupported, map)");
}

Test(xattrmap, unknown_scope_names_rule_and_accepted_scopes)
{
	expect_parse_error(":ok:all::: :ok:all::: :bad:everywhere:::",
			   "unknown scope 'everywhere' in rule 3 ':bad:everywhere:::' "
			   "(accepted: client, server, all)");
	expect_parse_error(":ok:ALL:::", "unknown scope 'ALL' in rule 1 ':ok:ALL:::' "
					 "(accepted: client, server, all)");
	/* A control character in a field is shown, not printed raw. */
	expect_parse_error(":ok:a\tl:::", "unknown scope 'a\\x09l' in rule 1 ':ok:a\\x09l:::' "
					   "(accepted: client, server, all)");
}

Test(xattrmap, rule_not_closed_by_its_separator)
{
	expect_parse_error(":prefix:client:hi",
			   "key field not closed by the separator ':' in rule 1 "
			   "':prefix:client:hi' " ACCEPTED_RULE);
	expect_parse_error(":ok:all:::\n/ok/all//x",
			   "prepend field not closed by the separator '/' in rule 2 "
			   "'/ok/all//x' " ACCEPTED_RULE);
	/* A field ends at the end of its line. */
	expect_parse_error(":ok:all:a\n:b:",
			   "key field not closed by the separator ':' in rule 1 ':ok:all:a' "
			   ACCEPTED_RULE);
	expect_parse_error(":map", "type field not closed by the separator ':' in rule 1 "
				   "':map' " ACCEPTED_RULE);
}

Test(xattrmap, missing_fields)
{
	expect_parse_error(":ok:all:a:", "missing prepend field in rule 1 ':ok:all:a:' "
					 ACCEPTED_RULE);
	expect_parse_error(":bad:", "missing scope field in rule 1 ':bad:' " ACCEPTED_RULE);
	/* map has no scope: its second field is the key. */
	expect_parse_error(":map:", "missing key field in rule 1 ':map:' " ACCEPTED_RULE);
	expect_parse_error(":map:a.:\n", "missing prepend field in rule 1 ':map:a.:' "
					 ACCEPTED_RULE);
	expect_parse_error(":ok:all:::  :",
			   "missing type field in rule 2 ':' " ACCEPTED_RULE);
}

Test(xattrmap, too_many_fields)
{
	expect_parse_error(":ok:all:a:b:c: :ok:all:::",
			   "too many fields in rule 1 ':ok:all:a:b:c:' " ACCEPTED_RULE);
	expect_parse_error(":ok:all::: /map/a/b/extra/",
			   "too many fields in rule 2 '/map/a/b/extra/' " ACCEPTED_RULE);
}

Test(xattrmap, map_must_be_the_last_rule)
{
	static const char accepted[] =
		"(accepted: map only as the last rule: it ends in a catch-all rule, so no rule "
		"after it could match)";
	char expected[512];

	snprintf(expected, sizeof(expected), "a rule after map in rule 2 ':ok:all:::' %s",
		 accepted);
	expect_parse_error(":map:a.:b.: :ok:all:::", expected);
	snprintf(expected, sizeof(expected), "a rule after map in rule 3 ':map:c.:d.:' %s",
		 accepted);
	expect_parse_error(":ok:client:x:: :map:a.:b.::map:c.:d.:", expected);
}

Test(xattrmap, separator_must_be_printable_ascii)
{
	expect_parse_error("\x01ok\x01all\x01\x01\x01",
			   "a separator that is not a printable ASCII character in rule 1 "
			   "'\\x01' " ACCEPTED_RULE);
	expect_parse_error(":ok:all::: \xc2\xa7ok\xc2\xa7",
			   "a separator that is not a printable ASCII character in rule 2 "
			   "'\\xc2' " ACCEPTED_RULE);
}

Test(xattrmap, long_rule_text_is_cut_so_the_accepted_values_stay)
{
	char text[300], expected[512];

	memset(text, 'a', sizeof(text));
	memcpy(text, ":ok:nowhere:", 12);
	text[sizeof(text) - 3] = ':';
	text[sizeof(text) - 2] = ':';
	text[sizeof(text) - 1] = '\0';
	snprintf(expected, sizeof(expected),
		 "unknown scope 'nowhere' in rule 1 '%.60s...' (accepted: client, server, all)",
		 text);
	expect_parse_error(text, expected);
}

Test(xattrmap, a_short_message_buffer_or_none_is_fine)
{
	struct xattrmap *m = NULL;
	char msg[16];

	cr_expect_eq(xattrmap_parse(":nope:", &m, NULL, 0), -EINVAL);
	cr_expect_eq(xattrmap_parse(":nope:all:::", &m, msg, sizeof(msg)), -EINVAL);
	cr_expect_str_eq(msg, "unknown type 'n");
	cr_expect_null(m);
}
