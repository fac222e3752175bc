/* Tests of server/bufpool.c, the large reply buffers: a buffer given back
 * is handed out again (the point: its pages stay mapped), the smallest
 * that fits is chosen, the idle bytes stay under the cap, and a pool
 * nobody used for a tick gives everything back. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/bufpool.h"

#define MIB (1u << 20)

Test(bufpool, a_buffer_given_back_is_handed_out_again)
{
	struct bufpool p;
	bufpool_init(&p, 8 * MIB);
	size_t cap;
	char *a = bufpool_get(&p, MIB + 11, &cap);
	cr_assert_not_null(a);
	cr_assert_geq(cap, MIB + 11);
	memset(a, 1, MIB + 11); /* all of it is writable */
	bufpool_put(&p, a, cap);
	size_t cap2;
	char *b = bufpool_get(&p, MIB + 11, &cap2);
	cr_assert_eq(b, a);
	cr_assert_eq(cap2, cap);
	bufpool_put(&p, b, cap2);
	bufpool_free(&p);
}

Test(bufpool, the_smallest_buffer_that_fits_is_chosen)
{
	struct bufpool p;
	bufpool_init(&p, 64 * MIB);
	size_t cs, cl;
	void *small = bufpool_get(&p, 64 * 1024, &cs);
	void *large = bufpool_get(&p, 2 * MIB, &cl);
	bufpool_put(&p, large, cl);
	bufpool_put(&p, small, cs);
	size_t c;
	cr_assert_eq(bufpool_get(&p, 1000, &c), small);
	cr_assert_eq(c, cs);
	void *again = bufpool_get(&p, 1000, &c); /* the only one left that fits */
	cr_assert_eq(again, large);
	bufpool_put(&p, small, cs);
	bufpool_put(&p, large, cl);
	void *fresh = bufpool_get(&p, 4 * MIB, &c); /* nothing idle fits */
	cr_assert(fresh != small && fresh != large);
	cr_assert_geq(c, 4 * MIB);
	bufpool_put(&p, fresh, c);
	bufpool_free(&p);
}

Test(bufpool, idle_buffers_stay_under_the_cap)
{
	struct bufpool p;
	bufpool_init(&p, 2 * MIB);
	void *b[4];
	size_t cap[4];
	for (int i = 0; i < 4; i++)
		b[i] = bufpool_get(&p, MIB, &cap[i]);
	for (int i = 0; i < 4; i++)
		bufpool_put(&p, b[i], cap[i]);
	cr_assert_leq(p.idle_bytes, 2 * MIB);
	cr_assert_eq(p.nidle, 2);
	bufpool_free(&p);
}

Test(bufpool, a_tick_without_use_gives_everything_back)
{
	struct bufpool p;
	bufpool_init(&p, 8 * MIB);
	size_t cap;
	void *a = bufpool_get(&p, MIB, &cap);
	bufpool_put(&p, a, cap);
	cr_assert_eq(bufpool_tick(&p), 0, "used since the last tick: kept");
	cr_assert_eq(p.nidle, 1);
	cr_assert_eq(bufpool_tick(&p), cap, "unused for a tick: given back");
	cr_assert_eq(p.nidle, 0);
	cr_assert_eq(p.idle_bytes, 0);
	bufpool_free(&p);
}
