/*
 * Per-export I/O throttling: the leaky buckets of QEMU's -fsdev throttling.*
 * (util/throttle.c), for a loop that must never block.
 *
 * Pure: no libuv, no system calls, no clock.  The loop owner passes the time
 * as a monotonic nanosecond count (uv_hrtime()) and arms its own timer with
 * the wait it is given back.  One struct throttle per export, used from the
 * loop thread only.
 *
 * The model.  Each limit that is set (enum throttle_limit: bytes or ops, for
 * reads and writes together or for one direction) is a bucket with a level,
 * which every admitted request raises by its cost and which drains at the
 * limit's rate.  The bucket's size is the burst (by default a tenth of a
 * second at the rate, as in QEMU).  A request may run when every bucket it
 * counts in is at or below its size; it is then charged in full, even if
 * that takes a bucket far above its size: the debt only delays the requests
 * after it.  So:
 *   - a request larger than the burst is never starved: it waits until the
 *     buckets have drained to their size, then runs, and the next request
 *     waits for the whole of it to drain;
 *   - over any long run, no more than rate x time + burst + one request
 *     passes;
 *   - an idle bucket drains to empty and no further: after any idle period
 *     at most one burst (plus the request that crosses it) passes at once.
 *
 * What counts, as QEMU's 9p counts it (hw/9pfs/cofile.c throttles
 * v9fs_co_preadv() and v9fs_co_pwritev() only): the caller charges each
 * Tread as THROTTLE_READ and each Twrite as THROTTLE_WRITE, with the count
 * the client asked for; one request is one op.  Other requests (walks,
 * getattr, readdir, fsync...) are not throttled, so a limited export's
 * metadata stays as fast as an unlimited one's.  A short read may give back
 * what it did not transfer (throttle_refund()).
 */
#ifndef NINEPD_SERVER_THROTTLE_H
#define NINEPD_SERVER_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

enum throttle_dir { THROTTLE_READ = 0, THROTTLE_WRITE };

/* Private: one limit.  Levels are in nano-units (a billionth of a byte or
 * an op), so that a rate in units per second drains exactly `rate` of them
 * per nanosecond and every wait is exact. */
struct throttle_bucket {
	uint64_t rate;  /* units per second; 0: this limit is not set */
	uint64_t size;  /* nano-units */
	uint64_t level; /* nano-units */
};

struct throttle {
	/* Private: read through the functions below. */
	struct throttle_bucket bucket[THROTTLE_LIMITS];
	uint64_t last_ns; /* the latest time seen */
	bool started;     /* last_ns is set */
};

/*
 * Set *t up from an export's limits (validated by config_validate()), with
 * every bucket empty.  Returns 0, or -EINVAL (and *t unthrottled) if c has
 * a total and a per-direction limit of one unit, a burst without its limit,
 * or a value above CONFIG_THROTTLE_LIMIT_MAX / CONFIG_THROTTLE_BURST_MAX.
 */
int throttle_init(struct throttle *t, const struct throttle_conf *c);

/* Whether any limit is set; if not, throttle_admit() always returns 0. */
bool throttle_enabled(const struct throttle *t);

/*
 * Ask to run a request of `bytes` (its count; 0 charges one op and no
 * bytes) in direction dir at time now_ns.  Returns 0 if it may run now: it
 * has been charged.  Otherwise returns how many nanoseconds to wait before
 * asking again, and charges nothing; asking again after that long, with no
 * other request charged in between, returns 0.  Never blocks.
 *
 * Time that does not move or goes back drains nothing; the latest time
 * seen stays the reference, so nothing is drained twice.
 *
 * Fairness is the caller's: with requests waiting, ask for the oldest first
 * and hold the newer ones behind it (else a stream of small requests passes
 * a large one forever), and when both directions wait on a shared total
 * limit, serve the older head first (else the direction asked first each
 * time the bucket drains takes it all).
 */
uint64_t throttle_admit(struct throttle *t, enum throttle_dir dir, uint64_t bytes,
			uint64_t now_ns);

/*
 * Give back bytes charged by throttle_admit() but not transferred (a read
 * that ended at end of file).  The op stays charged.  A bucket never goes
 * below empty.
 */
void throttle_refund(struct throttle *t, enum throttle_dir dir, uint64_t bytes);

/* A wait in whole milliseconds, rounded up, for uv_timer_start(). */
static inline uint64_t throttle_wait_ms(uint64_t wait_ns)
{
	return wait_ns / 1000000 + (wait_ns % 1000000 != 0);
}

#endif
