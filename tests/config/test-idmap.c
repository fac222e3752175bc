/* config/idmap: translate_uid= / translate_gid= rules, their translation
 * both ways, and the refusals the configuration gets for overlapping or
 * malformed rules. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/idmap.h"

static struct idmap m;
static char msg[256];

static void reset(void)
{
	idmap_free(&m);
	msg[0] = '\0';
}

TestSuite(idmap, .fini = reset);

static void add(const char *text)
{
	int rc = idmap_add(&m, text, 7, msg, sizeof msg);
	cr_assert_eq(rc, 0, "'%s': %s", text, msg);
}

static void refused(const char *text, const char *want)
{
	size_t before = m.n;
	cr_expect_eq(idmap_add(&m, text, 9, msg, sizeof msg), -EINVAL, "'%s' was accepted", text);
	cr_expect_str_eq(msg, want);
	cr_expect_eq(m.n, before, "a refused value adds no rule");
}

static uint32_t to_host(uint32_t guest)
{
	uint32_t host = 0xdeadbeef;
	cr_assert_eq(idmap_to_host(&m, guest, &host), 0, "guest %u refused", guest);
	return host;
}

static void guest_refused(uint32_t guest)
{
	uint32_t host;
	cr_expect_eq(idmap_to_host(&m, guest, &host), -EPERM, "guest %u was let through", guest);
}

Test(idmap, empty_map_passes_every_id_unchanged)
{
	cr_expect_not(idmap_active(&m));
	cr_expect_eq(to_host(0), 0);
	cr_expect_eq(to_host(4294967294u), 4294967294u);
	cr_expect_eq(idmap_to_guest(&m, 123), 123);
	cr_expect(idmap_host_mapped(&m, 5));
}

Test(idmap, map_range_translates_both_ways_and_nothing_else)
{
	add("map:1000:101000:65536");
	cr_expect_eq(to_host(1000), 101000);
	cr_expect_eq(to_host(66535), 166535);
	cr_expect_eq(idmap_to_guest(&m, 101000), 1000);
	cr_expect_eq(idmap_to_guest(&m, 166535), 66535);
	guest_refused(999);
	guest_refused(66536);
	guest_refused(0);
	cr_expect_eq(idmap_to_guest(&m, 0), IDMAP_OVERFLOW_ID, "host root is not the guest's");
	cr_expect_eq(idmap_to_guest(&m, 166536), IDMAP_OVERFLOW_ID);
	cr_expect_not(idmap_host_mapped(&m, 0));
	cr_expect(idmap_host_mapped(&m, 101000));
}

Test(idmap, one_way_rules_translate_one_direction_only)
{
	add("guest:0:100000:10");
	add("host:500:7:3");
	cr_expect_eq(to_host(3), 100003);
	cr_expect_eq(idmap_to_guest(&m, 100003), IDMAP_OVERFLOW_ID, "guest: is one way");
	cr_expect_eq(idmap_to_guest(&m, 502), 9);
	guest_refused(500);
}

Test(idmap, squash_rules_send_a_whole_range_to_one_id)
{
	add("squash-guest:0:1000:4294967295");
	add("squash-host:0:0:4294967295");
	cr_expect_eq(to_host(0), 1000);
	cr_expect_eq(to_host(4294967294u), 1000);
	cr_expect_eq(idmap_to_guest(&m, 1000), 0);
	cr_expect_eq(idmap_to_guest(&m, 4294967294u), 0);
}

Test(idmap, forbid_guest_refuses_its_range_beside_a_map)
{
	add("map:1000:1000:1 map:2000:2000:1");
	add("forbid-guest:0:1000");
	guest_refused(0);
	guest_refused(999);
	cr_expect_eq(to_host(1000), 1000);
	guest_refused(1001);
	cr_expect_eq(to_host(2000), 2000);
	cr_expect_eq(m.n, 3);
	cr_expect_eq(m.rules[0].line, 7);
}

Test(idmap, overlapping_guest_ids_are_refused_naming_both_rules)
{
	add("map:0:100000:1000");
	refused("forbid-guest:999:10",
		"'forbid-guest:999:10' overlaps 'map:0:100000:1000' (line 7) in guest ids "
		"(accepted: rules whose guest ids are disjoint)");
	refused("squash-guest:5:1:1",
		"'squash-guest:5:1:1' overlaps 'map:0:100000:1000' (line 7) in guest ids "
		"(accepted: rules whose guest ids are disjoint)");
}

Test(idmap, overlapping_host_ids_are_refused)
{
	add("map:0:100000:1000");
	refused("host:100999:5:1", "'host:100999:5:1' overlaps 'map:0:100000:1000' (line 7) in "
				   "host ids (accepted: rules whose host ids are disjoint)");
	/* A guest: rule has no host side: no overlap there. */
	add("guest:5000:100500:10");
}

Test(idmap, a_value_with_one_bad_rule_adds_none)
{
	refused("map:0:0:10 map:5:5:1", "'map:5:5:1' overlaps 'map:0:0:10' (line 9) in guest ids "
					"(accepted: rules whose guest ids are disjoint)");
	cr_expect_eq(m.n, 0);
}

Test(idmap, ranges_may_not_reach_the_no_id_value)
{
	add("forbid-guest:2001:4294965294"); /* ends at 4294967294: fine */
	refused("map:1:1:4294967295",
		"'map:1:1:4294967295': the range must hold 1 or more ids, all below 4294967295 "
		"(accepted: FIRST + COUNT <= 4294967295)");
	refused("host:0:4294967290:10", "'host:0:4294967290:10': the target ids must lie below "
					"4294967295 (accepted: TARGET + COUNT - 1 <= 4294967294)");
	refused("squash-guest:0:4294967295:1",
		"'squash-guest:0:4294967295:1': the target ids must lie below 4294967295 "
		"(accepted: TARGET <= 4294967294)");
	refused("map:0:0:0", "'map:0:0:0': the range must hold 1 or more ids, all below "
			     "4294967295 (accepted: FIRST + COUNT <= 4294967295)");
}

#define ACCEPTED                                                                               \
	"(accepted: map:GUEST:HOST:COUNT, guest:GUEST:HOST:COUNT, host:HOST:GUEST:COUNT, "     \
	"squash-guest:GUEST:HOST:COUNT, squash-host:HOST:GUEST:COUNT, forbid-guest:GUEST:COUNT"

Test(idmap, malformed_rules_name_the_accepted_forms)
{
	refused("mapp:0:0:1", "unknown rule 'mapp:0:0:1' " ACCEPTED ")");
	refused("map:0:0", "malformed rule 'map:0:0' " ACCEPTED ", each a decimal number)");
	refused("forbid-guest:0:1:2",
		"malformed rule 'forbid-guest:0:1:2' " ACCEPTED ", each a decimal number)");
	refused("map:-1:0:1", "malformed rule 'map:-1:0:1' " ACCEPTED ", each a decimal number)");
	refused("map:0:0:99999999999",
		"malformed rule 'map:0:0:99999999999' " ACCEPTED ", each a decimal number)");
	refused("map:0:0:1:", "malformed rule 'map:0:0:1:' " ACCEPTED ", each a decimal number)");
	refused("  ", "empty value " ACCEPTED ")");
}

Test(idmap, rules_print_as_written_with_their_meaning)
{
	add("map:1000:101000:2 squash-host:0:65534:1 forbid-guest:0:1");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	idmap_print(&m, "translate_uid", f);
	fclose(f);
	cr_expect_str_eq(text, "translate_uid = map:1000:101000:2\n"
			       "#   guest 1000..1001 <-> host 101000..101001\n"
			       "translate_uid = squash-host:0:65534:1\n"
			       "#   host 0..0 -> guest 65534\n"
			       "translate_uid = forbid-guest:0:1\n"
			       "#   guest 0..0 refused (EPERM)\n"
			       "#   other guest ids refused (EPERM); other host ids shown as 65534\n");
	free(text);
}

Test(idmap, copies_are_equal_and_independent)
{
	add("map:0:100000:65536");
	struct idmap c;
	cr_assert_eq(idmap_copy(&c, &m), 0);
	cr_expect(idmap_equal(&c, &m));
	add("host:0:0:1");
	cr_expect_not(idmap_equal(&c, &m));
	idmap_free(&c);
}
