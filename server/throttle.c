/* Leaky buckets for one export's I/O limits; the model is in throttle.h. */
#include "server/throttle.h"

#include <errno.h>
#include <string.h>

#define NANO 1000000000ull /* nano-units per unit, and nanoseconds per second */

/*
 * The arithmetic stays in 64 bits.  A level is at most a bucket's size
 * (<= CONFIG_THROTTLE_BURST_MAX units, 2^32 x 10^9 < 4.3e18 nano-units) when
 * a request is admitted, plus that request: there is room for one of about
 * 1.4e10 units, beyond any 9p count (32 bits); a larger one saturates.
 * Draining never multiplies past the level (drain()).
 */

/* The buckets a request in direction dir counts in, by unit. */
static const enum throttle_limit bytes_buckets[2][2] = {
	[THROTTLE_READ] = {THROTTLE_BPS_TOTAL, THROTTLE_BPS_READ},
	[THROTTLE_WRITE] = {THROTTLE_BPS_TOTAL, THROTTLE_BPS_WRITE},
};
static const enum throttle_limit ops_buckets[2][2] = {
	[THROTTLE_READ] = {THROTTLE_OPS_TOTAL, THROTTLE_OPS_READ},
	[THROTTLE_WRITE] = {THROTTLE_OPS_TOTAL, THROTTLE_OPS_WRITE},
};

static bool conf_valid(const struct throttle_conf *c)
{
	for (int total = THROTTLE_BPS_TOTAL; total <= THROTTLE_OPS_TOTAL; total += 3)
		if (c->limit[total] && (c->limit[total + 1] || c->limit[total + 2]))
			return false;
	for (int l = 0; l < THROTTLE_LIMITS; l++)
		if (c->limit[l] > CONFIG_THROTTLE_LIMIT_MAX ||
		    c->burst[l] > CONFIG_THROTTLE_BURST_MAX || (c->burst[l] && !c->limit[l]))
			return false;
	return true;
}

int throttle_init(struct throttle *t, const struct throttle_conf *c)
{
	memset(t, 0, sizeof(*t));
	if (!conf_valid(c))
		return -EINVAL;
	for (int l = 0; l < THROTTLE_LIMITS; l++) {
		struct throttle_bucket *b = &t->bucket[l];

		b->rate = c->limit[l];
		if (c->burst[l])
			b->size = c->burst[l] * NANO;
		else if (b->rate <= CONFIG_THROTTLE_BURST_MAX * 10)
			b->size = b->rate * (NANO / 10); /* a tenth of a second */
		else
			b->size = CONFIG_THROTTLE_BURST_MAX * NANO;
	}
	return 0;
}

bool throttle_enabled(const struct throttle *t)
{
	for (int l = 0; l < THROTTLE_LIMITS; l++)
		if (t->bucket[l].rate)
			return true;
	return false;
}

/* Let every bucket drain for dt_ns. */
static void drain(struct throttle *t, uint64_t dt_ns)
{
	for (int l = 0; l < THROTTLE_LIMITS; l++) {
		struct throttle_bucket *b = &t->bucket[l];

		/* rate x dt_ns can overflow only when it exceeds the level. */
		if (!b->rate || dt_ns > b->level / b->rate)
			b->level = 0;
		else
			b->level -= b->rate * dt_ns;
	}
}

/* Bring the buckets to now_ns; time that does not move forward is no time. */
static void advance(struct throttle *t, uint64_t now_ns)
{
	if (!t->started) {
		t->started = true;
		t->last_ns = now_ns;
		return;
	}
	if (now_ns <= t->last_ns)
		return;
	drain(t, now_ns - t->last_ns);
	t->last_ns = now_ns;
}

/* Nanoseconds until b is down to its size, rounded up; 0 if it is. */
static uint64_t bucket_wait(const struct throttle_bucket *b)
{
	uint64_t excess;

	if (!b->rate || b->level <= b->size)
		return 0;
	excess = b->level - b->size;
	return excess / b->rate + (excess % b->rate != 0);
}

static void charge(struct throttle_bucket *b, uint64_t units)
{
	if (!b->rate)
		return;
	if (units > (UINT64_MAX - b->level) / NANO)
		b->level = UINT64_MAX;
	else
		b->level += units * NANO;
}

uint64_t throttle_admit(struct throttle *t, enum throttle_dir dir, uint64_t bytes,
			uint64_t now_ns)
{
	uint64_t wait = 0;

	advance(t, now_ns);
	for (int i = 0; i < 2; i++) {
		uint64_t w = bucket_wait(&t->bucket[bytes_buckets[dir][i]]);

		if (w > wait)
			wait = w;
		w = bucket_wait(&t->bucket[ops_buckets[dir][i]]);
		if (w > wait)
			wait = w;
	}
	if (wait)
		return wait;
	for (int i = 0; i < 2; i++) {
		charge(&t->bucket[bytes_buckets[dir][i]], bytes);
		charge(&t->bucket[ops_buckets[dir][i]], 1);
	}
	return 0;
}

void throttle_refund(struct throttle *t, enum throttle_dir dir, uint64_t bytes)
{
	for (int i = 0; i < 2; i++) {
		struct throttle_bucket *b = &t->bucket[bytes_buckets[dir][i]];

		if (bytes > b->level / NANO)
			b->level = 0;
		else
			b->level -= bytes * NANO;
	}
}
