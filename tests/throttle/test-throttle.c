/* Tests of server/throttle.c: leaky buckets driven in simulated time.
 *
 * A client here asks throttle_admit() for each request, and when it is told
 * to wait, moves the clock on by exactly that wait (or by the whole
 * milliseconds a uv_timer would sleep) and asks again.  The time at which
 * the last request was admitted is how long the transfer took.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "server/throttle.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define GiB (1024ull * 1024ull * 1024ull)
#define MS 1000000ull    /* ns */
#define SEC 1000000000ull /* ns */

static struct throttle t;

/* Init t with one limit (and its burst, 0 for the default) set. */
static void limit(enum throttle_limit l, uint64_t rate, uint64_t burst)
{
	struct throttle_conf c = {0};

	c.limit[l] = rate;
	c.burst[l] = burst;
	cr_assert_eq(throttle_init(&t, &c), 0);
	cr_assert(throttle_enabled(&t));
}

/*
 * Send n requests of `bytes` in direction dir, each as soon as it may run,
 * starting at *now; returns (and leaves in *now) the time the last one was
 * admitted.  With ms_timers, a wait sleeps whole milliseconds, rounded up,
 * as uv_timer_start() does.
 */
static uint64_t send_at(enum throttle_dir dir, uint64_t bytes, uint64_t n, uint64_t *now,
			bool ms_timers)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t wait, asks = 0;

		while ((wait = throttle_admit(&t, dir, bytes, *now))) {
			*now += ms_timers ? throttle_wait_ms(wait) * MS : wait;
			cr_assert_lt(++asks, 2, "request %llu: the wait given back was too short",
				     (unsigned long long)i);
		}
	}
	return *now;
}

static uint64_t send(enum throttle_dir dir, uint64_t bytes, uint64_t n)
{
	uint64_t now = 0;

	return send_at(dir, bytes, n, &now, false);
}

/* How many requests of `bytes` pass at the instant now without waiting. */
static uint64_t pass_at_once(enum throttle_dir dir, uint64_t bytes, uint64_t now)
{
	uint64_t n = 0;

	while (!throttle_admit(&t, dir, bytes, now))
		cr_assert_lt(++n, 1000000, "no limit at all");
	return n;
}

/*
 * Two clients at once, one reading and one writing, each sending its next
 * request as soon as the last was admitted; fills the time each one's last
 * was admitted.  Waiting requests are asked for oldest first, as
 * throttle_admit() asks of its caller: with both woken at one instant, the
 * one that has waited longer goes first.
 */
static void send_both(uint64_t read_bytes, uint64_t nread, uint64_t write_bytes,
		      uint64_t nwrite, uint64_t *read_done, uint64_t *write_done)
{
	uint64_t next[2] = {0, 0}, left[2] = {nread, nwrite}, since[2] = {0, 0}, issued = 0;
	const uint64_t bytes[2] = {read_bytes, write_bytes};

	*read_done = *write_done = 0;
	since[1] = ++issued;
	while (left[0] || left[1]) {
		int d = !left[0] || (left[1] && (next[1] < next[0] ||
						 (next[1] == next[0] && since[1] < since[0])));
		uint64_t wait = throttle_admit(&t, (enum throttle_dir)d, bytes[d], next[d]);

		if (wait) {
			next[d] += wait;
			continue;
		}
		left[d]--;
		since[d] = ++issued;
		*(d ? write_done : read_done) = next[d];
	}
}

static void expect_seconds_between(uint64_t ns, double lo, double hi)
{
	double s = (double)ns / SEC;

	cr_expect(s >= lo && s <= hi, "took %.3f s, not %.0f to %.0f s", s, lo, hi);
}

/* ---- no limit --------------------------------------------------------- */

Test(throttle, without_limits_everything_passes_at_once)
{
	struct throttle_conf none = {0};

	cr_assert_eq(throttle_init(&t, &none), 0);
	cr_expect_not(throttle_enabled(&t));
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(throttle_admit(&t, THROTTLE_READ, 16 * MiB, 0), 0);
		cr_assert_eq(throttle_admit(&t, THROTTLE_WRITE, 0, 0), 0);
	}
}

/* ---- bytes per second ------------------------------------------------- */

Test(throttle, reading_100_mib_at_10_mib_per_s_takes_9_to_11_s)
{
	limit(THROTTLE_BPS_TOTAL, 10 * MiB, 0);
	uint64_t took = send(THROTTLE_READ, 1 * MiB, 100);

	expect_seconds_between(took, 9, 11);
	/* Two pass at once (the empty bucket holds 1 MiB, a tenth of a
	 * second), then one every 100 ms: the 100th at 9.8 s. */
	cr_expect_eq(took, 9800 * MS);
}

Test(throttle, reading_100_mib_in_4_kib_requests_on_millisecond_timers_takes_9_to_11_s)
{
	uint64_t now = 0;

	limit(THROTTLE_BPS_READ, 10 * MiB, 0);
	expect_seconds_between(send_at(THROTTLE_READ, 4 * KiB, 100 * MiB / (4 * KiB), &now, true),
			       9, 11);
}

Test(throttle, writing_100_mib_in_msize_requests_takes_9_to_11_s)
{
	limit(THROTTLE_BPS_WRITE, 10 * MiB, 0);
	expect_seconds_between(send(THROTTLE_WRITE, 128 * KiB, 800), 9, 11);
}

Test(throttle, the_default_burst_is_a_tenth_of_a_second)
{
	limit(THROTTLE_BPS_TOTAL, 10 * MiB, 0);
	/* 1 MiB of room: 16 requests of 64 KiB fill it, a 17th still finds
	 * the level at the size and passes. */
	cr_expect_eq(pass_at_once(THROTTLE_READ, 64 * KiB, 0), 17);
}

Test(throttle, a_configured_burst_passes_at_once_then_the_rate_holds)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 4 * MiB);
	cr_expect_eq(pass_at_once(THROTTLE_WRITE, 64 * KiB, 0), 65);
	/* The bucket is 64 KiB over its size: 1/16 s at 1 MiB/s. */
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 64 * KiB, 0), SEC / 16);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 64 * KiB, SEC / 16), 0);
	/* Then 1 MiB per second: 16 more of 64 KiB in the next second. */
	uint64_t now = SEC / 16;
	cr_expect_eq(send_at(THROTTLE_WRITE, 64 * KiB, 16, &now, false), SEC / 16 + SEC);
}

Test(throttle, a_read_limit_leaves_writes_alone)
{
	limit(THROTTLE_BPS_READ, 1 * MiB, 0);
	cr_expect_eq(send(THROTTLE_WRITE, 1 * MiB, 1000), 0, "writes waited");
	expect_seconds_between(send(THROTTLE_READ, 1 * MiB, 11), 9, 11);
}

Test(throttle, a_write_limit_leaves_reads_alone)
{
	limit(THROTTLE_BPS_WRITE, 1 * MiB, 0);
	cr_expect_eq(pass_at_once(THROTTLE_WRITE, 1 * MiB, 0), 1);
	cr_expect_eq(send(THROTTLE_READ, 1 * MiB, 1000), 0, "reads waited");
}

Test(throttle, read_and_write_limits_are_separate_buckets)
{
	struct throttle_conf c = {0};
	uint64_t read_done, write_done;

	c.limit[THROTTLE_BPS_READ] = 1 * MiB;
	c.limit[THROTTLE_BPS_WRITE] = 2 * MiB;
	cr_assert_eq(throttle_init(&t, &c), 0);
	/* 10 MiB read and 20 MiB written at once: each at its own rate. */
	send_both(64 * KiB, 160, 64 * KiB, 320, &read_done, &write_done);
	expect_seconds_between(read_done, 9, 11);
	expect_seconds_between(write_done, 9, 11);
}

Test(throttle, a_total_limit_is_shared_by_reads_and_writes)
{
	uint64_t read_done, write_done;

	limit(THROTTLE_BPS_TOTAL, 10 * MiB, 0);
	/* 50 MiB each way: 100 MiB through one 10 MiB/s bucket. */
	send_both(1 * MiB, 50, 1 * MiB, 50, &read_done, &write_done);
	expect_seconds_between(read_done > write_done ? read_done : write_done, 9, 11);
	/* Interleaved, neither finishes much before the other. */
	expect_seconds_between(read_done < write_done ? read_done : write_done, 9, 11);
}

/* ---- operations per second -------------------------------------------- */

Test(throttle, an_iops_limit_counts_requests_whatever_their_size)
{
	limit(THROTTLE_OPS_TOTAL, 100, 0);
	expect_seconds_between(send(THROTTLE_READ, 0, 1000), 9, 11);
	limit(THROTTLE_OPS_TOTAL, 100, 0);
	expect_seconds_between(send(THROTTLE_WRITE, 16 * MiB, 1000), 9, 11);
}

Test(throttle, a_low_iops_limit_still_lets_one_request_through_at_a_time)
{
	/* The default bucket is a tenth of an op: one at once, then one a
	 * second. */
	limit(THROTTLE_OPS_TOTAL, 1, 0);
	cr_expect_eq(pass_at_once(THROTTLE_READ, 0, 0), 1);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 0, 0), 900 * MS);
	cr_expect_eq(send(THROTTLE_READ, 0, 10), 9900 * MS);
}

Test(throttle, an_iops_read_limit_leaves_writes_alone)
{
	limit(THROTTLE_OPS_READ, 10, 0);
	cr_expect_eq(send(THROTTLE_WRITE, 4 * KiB, 1000), 0);
	expect_seconds_between(send(THROTTLE_READ, 4 * KiB, 100), 9, 11);
}

Test(throttle, an_iops_burst_passes_at_once)
{
	limit(THROTTLE_OPS_WRITE, 10, 50);
	cr_expect_eq(pass_at_once(THROTTLE_WRITE, 0, 0), 51);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 0, 0), 100 * MS);
}

Test(throttle, bytes_and_ops_limits_both_hold)
{
	struct throttle_conf c = {0};

	c.limit[THROTTLE_BPS_TOTAL] = 10 * MiB;
	c.limit[THROTTLE_OPS_TOTAL] = 10;
	cr_assert_eq(throttle_init(&t, &c), 0);
	/* Small requests meet the iops limit, large ones the bytes limit. */
	expect_seconds_between(send(THROTTLE_READ, 1, 100), 9, 11);
	cr_assert_eq(throttle_init(&t, &c), 0);
	expect_seconds_between(send(THROTTLE_READ, 10 * MiB, 10), 8, 11);
}

/* ---- requests larger than the bucket ---------------------------------- */

Test(throttle, a_request_larger_than_the_burst_passes_and_the_next_waits_for_it)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 64 * KiB);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 16 * MiB, 0), 0, "starved");
	/* 16 MiB charged; the next waits until only 64 KiB is left. */
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 4 * KiB, 0), 16 * SEC - SEC / 16);
}

Test(throttle, requests_larger_than_the_burst_keep_the_average_rate)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 64 * KiB);
	/* 10 of 16 MiB: the second runs when the first has drained to 64 KiB,
	 * each later one 16 s after the one before. */
	cr_expect_eq(send(THROTTLE_READ, 16 * MiB, 10), 9 * 16 * SEC - SEC / 16);
}

Test(throttle, a_large_request_after_small_ones_passes_once_they_drained)
{
	uint64_t now = 0;

	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 64 * KiB);
	send_at(THROTTLE_READ, 4 * KiB, 100, &now, false);
	uint64_t wait = throttle_admit(&t, THROTTLE_READ, 16 * MiB, now);
	cr_expect_leq(wait, SEC / 256, "waited %llu ns for 4 KiB of debt",
		      (unsigned long long)wait);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 16 * MiB, now + wait), 0);
}

/* ---- time --------------------------------------------------------------- */

Test(throttle, a_long_idle_period_banks_no_more_than_the_burst)
{
	uint64_t now = 0;

	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 2 * MiB);
	send_at(THROTTLE_READ, 64 * KiB, 160, &now, false);
	now += 3600 * SEC;
	cr_expect_eq(pass_at_once(THROTTLE_READ, 64 * KiB, now), 33, "as after a fresh start");
	now += 365 * 24 * 3600 * SEC;
	cr_expect_eq(pass_at_once(THROTTLE_READ, 64 * KiB, now), 33, "after a year");
}

Test(throttle, time_standing_still_drains_nothing_and_asking_costs_nothing)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 1 * MiB);
	uint64_t now = 5 * SEC;

	cr_expect_eq(pass_at_once(THROTTLE_READ, 512 * KiB, now), 3);
	uint64_t wait = throttle_admit(&t, THROTTLE_READ, 512 * KiB, now);
	cr_expect_eq(wait, SEC / 2);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now), wait,
			     "a refused request was charged");
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now + wait - 1), 1);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now + wait), 0);
}

Test(throttle, time_going_back_drains_nothing_and_is_not_counted_twice)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 1 * MiB);
	uint64_t now = 10 * SEC;

	cr_expect_eq(pass_at_once(THROTTLE_READ, 512 * KiB, now), 3);
	uint64_t wait = throttle_admit(&t, THROTTLE_READ, 512 * KiB, now);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now - 5 * SEC), wait,
		     "going back drained or charged");
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, 0), wait);
	/* The clock comes back: only the time after 10 s counts. */
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now + wait - 1), 1);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, now + wait), 0);
}

Test(throttle, the_first_request_may_come_at_any_time)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 1 * MiB);
	cr_expect_eq(pass_at_once(THROTTLE_READ, 512 * KiB, UINT64_MAX - SEC), 3);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 512 * KiB, UINT64_MAX - SEC), SEC / 2);
}

/* ---- refunds ------------------------------------------------------------ */

Test(throttle, a_short_read_gives_back_what_it_did_not_transfer)
{
	limit(THROTTLE_BPS_READ, 1 * MiB, 64 * KiB);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1 * MiB, 0), 0);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1 * MiB, 0), SEC - SEC / 16);
	throttle_refund(&t, THROTTLE_READ, 1 * MiB - 100);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1 * MiB, 0), 0, "100 bytes read");
}

Test(throttle, a_refund_never_leaves_more_than_an_empty_bucket)
{
	limit(THROTTLE_BPS_TOTAL, 1 * MiB, 256 * KiB);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 1 * MiB, 0), 0);
	throttle_refund(&t, THROTTLE_WRITE, 100 * MiB);
	cr_expect_eq(pass_at_once(THROTTLE_WRITE, 64 * KiB, 0), 5, "a refund banked credit");
}

Test(throttle, a_refund_keeps_the_op_charged)
{
	limit(THROTTLE_OPS_READ, 1, 1);
	cr_expect_eq(pass_at_once(THROTTLE_READ, 1 * MiB, 0), 2);
	throttle_refund(&t, THROTTLE_READ, 1 * MiB);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1 * MiB, 0), SEC);
}

/* ---- configuration and limits of the arithmetic ------------------------- */

Test(throttle, init_refuses_what_config_validate_refuses)
{
	struct throttle_conf c = {0};

	c.limit[THROTTLE_BPS_TOTAL] = 1;
	c.limit[THROTTLE_BPS_READ] = 1;
	cr_expect_eq(throttle_init(&t, &c), -EINVAL, "total and read bytes");
	cr_expect_not(throttle_enabled(&t), "half set up");
	c = (struct throttle_conf){0};
	c.limit[THROTTLE_OPS_TOTAL] = 1;
	c.limit[THROTTLE_OPS_WRITE] = 1;
	cr_expect_eq(throttle_init(&t, &c), -EINVAL, "total and write ops");
	c = (struct throttle_conf){0};
	c.limit[THROTTLE_OPS_READ] = 1;
	c.burst[THROTTLE_OPS_TOTAL] = 1;
	cr_expect_eq(throttle_init(&t, &c), -EINVAL, "a burst without its limit");
	c = (struct throttle_conf){0};
	c.limit[THROTTLE_BPS_WRITE] = CONFIG_THROTTLE_LIMIT_MAX + 1;
	cr_expect_eq(throttle_init(&t, &c), -EINVAL, "a limit too large");
	c = (struct throttle_conf){0};
	c.limit[THROTTLE_BPS_WRITE] = 1;
	c.burst[THROTTLE_BPS_WRITE] = CONFIG_THROTTLE_BURST_MAX + 1;
	cr_expect_eq(throttle_init(&t, &c), -EINVAL, "a burst too large");
}

Test(throttle, the_largest_limits_neither_overflow_nor_wrap)
{
	/* The default burst of 2^40 B/s would be 110 GB: it stops at 4 GiB. */
	limit(THROTTLE_BPS_TOTAL, CONFIG_THROTTLE_LIMIT_MAX, 0);
	cr_expect_eq(pass_at_once(THROTTLE_READ, 1 * GiB, 0), 5);
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1 * GiB, 0), SEC / 1024 + 1, "rounded up");
	limit(THROTTLE_BPS_TOTAL, CONFIG_THROTTLE_LIMIT_MAX, CONFIG_THROTTLE_BURST_MAX);
	cr_expect_eq(pass_at_once(THROTTLE_READ, UINT32_MAX, 0), 2, "the largest 9p count");
	cr_expect_eq(throttle_admit(&t, THROTTLE_READ, 1, UINT64_MAX), 0, "a drain overflowed");
}

Test(throttle, a_charge_beyond_64_bits_saturates_instead_of_wrapping)
{
	limit(THROTTLE_BPS_TOTAL, 1, 1);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, UINT64_MAX, 0), 0);
	uint64_t wait = throttle_admit(&t, THROTTLE_WRITE, 1, 0);
	cr_expect_gt(wait, 18 * SEC, "the debt wrapped around: %llu ns",
		     (unsigned long long)wait);
	cr_expect_eq(throttle_admit(&t, THROTTLE_WRITE, 1, wait), 0);
}

Test(throttle, wait_ms_rounds_up_to_whole_milliseconds)
{
	cr_expect_eq(throttle_wait_ms(0), 0);
	cr_expect_eq(throttle_wait_ms(1), 1);
	cr_expect_eq(throttle_wait_ms(MS), 1);
	cr_expect_eq(throttle_wait_ms(MS + 1), 2);
	cr_expect_eq(throttle_wait_ms(UINT64_MAX), UINT64_MAX / MS + 1);
}
