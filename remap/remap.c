/* The multidevs policy engine.  See remap.h for the encoding and
 * docs/remap.md for why it cannot produce a collision. */
#include "remap/remap.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define REGION_PREFIX (UINT64_C(2) << 62)
#define REGION_EXACT (UINT64_C(3) << 62)
#define IDENTITY_END (UINT64_C(1) << 63) /* root inodes below this keep their number */
#define SUFFIX_MASK ((UINT64_C(1) << REMAP_SUFFIX_BITS) - 1)
#define PREFIX_END (UINT64_C(1) << (64 - REMAP_SUFFIX_BITS))
#define TABLE_MIN_SLOTS 16

_Static_assert(REMAP_PREFIX_CODES <= (UINT64_C(1) << (62 - REMAP_SUFFIX_BITS)),
	       "prefix codes must fit between the region bits and the suffix");
_Static_assert(REMAP_EXACT_IDS < (UINT64_C(1) << 62), "exact ids must fit below the region bits");

/*
 * An insert-only open-addressing table from a 128-bit key to a value.
 * Readers take no lock: a slot is published by a release store of its value
 * after its key is written and never changes after that, so a reader that
 * acquires a non-zero value also sees the key that goes with it.  Only the
 * engine lock's holder inserts.  Growing publishes a bigger copy and retires
 * the old table until remap_free(), because a reader may still be probing
 * it; retired tables add up to less than the live one.
 */
struct slot {
	uint64_t k1, k2;
	_Atomic uint64_t val; /* value + 1; 0 marks an empty slot */
};

struct table {
	struct table *retired_next;
	size_t mask;  /* slots - 1; slots is a power of two */
	size_t count; /* written under the engine lock only */
	struct slot slots[];
};

struct remap {
	/* Set up by remap_new() and read by every lookup without a lock. */
	enum multidevs_policy policy;
	uint64_t root_dev;
	struct remap_limits limits;
	_Atomic(struct table *) prefixes; /* (dev, ino >> 42) -> code + 1 */
	_Atomic(struct table *) exact;    /* (dev, ino) -> id + 1 */
	_Atomic(struct table *) devices;  /* (dev, 0) -> codes the device holds + 1 */
	/* Each turns true once and stays true. */
	atomic_bool root_seen;
	atomic_bool event_reported;
	atomic_bool exact_used;

	/* Changed by lookups that miss; kept off the read-mostly cache line. */
	alignas(64) pthread_mutex_t lock;
	uint64_t foreign_devices;
	size_t table_bytes; /* live and retired tables */
	struct table *retired;
	atomic_uint_fast64_t forbidden;
};

int multidevs_policy_parse(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum multidevs_policy policy;
	} names[] = {
		{"default", MULTIDEVS_DEFAULT},
		{"remap", MULTIDEVS_REMAP},
		{"forbid", MULTIDEVS_FORBID},
		{"warn", MULTIDEVS_WARN},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
			return (int)names[i].policy;
	return -1;
}

const char *multidevs_policy_name(enum multidevs_policy p)
{
	switch (p) {
	case MULTIDEVS_DEFAULT:
		return "default";
	case MULTIDEVS_REMAP:
		return "remap";
	case MULTIDEVS_FORBID:
		return "forbid";
	case MULTIDEVS_WARN:
		return "warn";
	}
	return "unknown";
}

static uint64_t key_hash(uint64_t k1, uint64_t k2)
{
	const uint64_t key[2] = {k1, k2};

	return XXH3_64bits(key, sizeof(key));
}

static size_t table_size(size_t nslots)
{
	return sizeof(struct table) + nslots * sizeof(struct slot);
}

static struct table *table_alloc(size_t nslots)
{
	struct table *t = calloc(1, table_size(nslots));

	if (t)
		t->mask = nslots - 1;
	return t;
}

/* Value + 1 stored for (k1, k2), or 0 if absent.  Terminates because a
 * table is never more than three quarters full. */
static uint64_t table_find(struct table *t, uint64_t k1, uint64_t k2, uint64_t hash)
{
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];
		uint64_t v = atomic_load_explicit(&s->val, memory_order_acquire);

		if (v == 0)
			return 0;
		if (s->k1 == k1 && s->k2 == k2)
			return v;
	}
}

/* The slot holding (k1, k2), or the empty slot where it would go. */
static struct slot *table_slot(struct table *t, uint64_t k1, uint64_t k2, uint64_t hash)
{
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];

		if (atomic_load_explicit(&s->val, memory_order_relaxed) == 0 ||
		    (s->k1 == k1 && s->k2 == k2))
			return s;
	}
}

/* Fill an empty slot and publish it to lock-free readers. */
static void slot_publish(struct slot *s, uint64_t k1, uint64_t k2, uint64_t val)
{
	s->k1 = k1;
	s->k2 = k2;
	atomic_store_explicit(&s->val, val, memory_order_release);
}

/* Under the lock: make sure *tp can take one more key without passing
 * three quarters full, publishing a copy twice the size if it cannot. */
static int table_reserve(struct remap *r, _Atomic(struct table *) *tp)
{
	struct table *t = atomic_load_explicit(tp, memory_order_relaxed);
	size_t nslots = t->mask + 1;
	struct table *n;

	if ((t->count + 1) * 4 <= nslots * 3)
		return 0;
	n = table_alloc(nslots * 2);
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < nslots; i++) {
		struct slot *s = &t->slots[i];
		uint64_t v = atomic_load_explicit(&s->val, memory_order_relaxed);

		if (v != 0)
			slot_publish(table_slot(n, s->k1, s->k2, key_hash(s->k1, s->k2)), s->k1,
				     s->k2, v);
	}
	n->count = t->count;
	t->retired_next = r->retired;
	r->retired = t;
	r->table_bytes += table_size(nslots * 2);
	atomic_store_explicit(tp, n, memory_order_release);
	return 0;
}

/* Under the lock: insert a key known to be absent; returns its slot. */
static struct slot *table_insert(struct remap *r, _Atomic(struct table *) *tp, uint64_t k1,
				 uint64_t k2, uint64_t hash, uint64_t val)
{
	struct table *t;
	struct slot *s;

	if (table_reserve(r, tp) < 0)
		return NULL;
	t = atomic_load_explicit(tp, memory_order_relaxed);
	s = table_slot(t, k1, k2, hash);
	slot_publish(s, k1, k2, val);
	t->count++;
	return s;
}

/* True for exactly one caller, however many threads race on flag. */
static bool first_time(atomic_bool *flag)
{
	return !atomic_load_explicit(flag, memory_order_relaxed) &&
	       !atomic_exchange_explicit(flag, true, memory_order_acq_rel);
}

void remap_default_limits(struct remap_limits *out)
{
	out->prefix_codes = REMAP_PREFIX_CODES;
	out->device_prefixes = REMAP_DEVICE_PREFIXES;
	out->exact_ids = REMAP_EXACT_IDS;
}

int remap_new_limited(enum multidevs_policy policy, uint64_t root_dev,
		      const struct remap_limits *limits, struct remap **out)
{
	struct remap *r;

	*out = NULL;
	if (limits->prefix_codes > REMAP_PREFIX_CODES ||
	    limits->device_prefixes > limits->prefix_codes || limits->exact_ids > REMAP_EXACT_IDS ||
	    (unsigned)policy > MULTIDEVS_WARN)
		return -EINVAL;
	r = aligned_alloc(alignof(struct remap), sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->policy = policy;
	r->root_dev = root_dev;
	r->limits = *limits;
	atomic_init(&r->prefixes, table_alloc(TABLE_MIN_SLOTS));
	atomic_init(&r->exact, table_alloc(TABLE_MIN_SLOTS));
	atomic_init(&r->devices, table_alloc(TABLE_MIN_SLOTS));
	atomic_init(&r->root_seen, false);
	atomic_init(&r->event_reported, false);
	atomic_init(&r->exact_used, false);
	atomic_init(&r->forbidden, 0);
	r->table_bytes = 3 * table_size(TABLE_MIN_SLOTS);
	if (!atomic_load(&r->prefixes) || !atomic_load(&r->exact) || !atomic_load(&r->devices) ||
	    pthread_mutex_init(&r->lock, NULL) != 0) {
		free(atomic_load(&r->prefixes));
		free(atomic_load(&r->exact));
		free(atomic_load(&r->devices));
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

struct remap *remap_new(enum multidevs_policy policy, uint64_t root_dev)
{
	struct remap_limits limits;
	struct remap *r;

	remap_default_limits(&limits);
	return remap_new_limited(policy, root_dev, &limits, &r) == 0 ? r : NULL;
}

void remap_free(struct remap *r)
{
	struct table *t, *next;

	if (!r)
		return;
	for (t = r->retired; t; t = next) {
		next = t->retired_next;
		free(t);
	}
	free(atomic_load(&r->prefixes));
	free(atomic_load(&r->exact));
	free(atomic_load(&r->devices));
	pthread_mutex_destroy(&r->lock);
	free(r);
}

enum multidevs_policy remap_policy(const struct remap *r)
{
	return r->policy;
}

/* Under the lock: the device table slot of dev, created on first sight. */
static struct slot *device_slot(struct remap *r, uint64_t dev)
{
	uint64_t hash = key_hash(dev, 0);
	struct table *t = atomic_load_explicit(&r->devices, memory_order_relaxed);
	struct slot *s = table_slot(t, dev, 0, hash);

	if (atomic_load_explicit(&s->val, memory_order_relaxed) != 0)
		return s;
	s = table_insert(r, &r->devices, dev, 0, hash, 1);
	if (s && dev != r->root_dev)
		r->foreign_devices++;
	return s;
}

/* Count a device other than the root's under warn and forbid.  Only the
 * stats depend on it, so running out of memory here is not an error. */
static void note_foreign_device(struct remap *r, uint64_t dev)
{
	struct table *t = atomic_load_explicit(&r->devices, memory_order_acquire);

	if (table_find(t, dev, 0, key_hash(dev, 0)) != 0)
		return;
	pthread_mutex_lock(&r->lock);
	(void)device_slot(r, dev);
	pthread_mutex_unlock(&r->lock);
}

static uint64_t prefix_qid(uint64_t code, uint64_t ino)
{
	return REGION_PREFIX | code << REMAP_SUFFIX_BITS | (ino & SUFFIX_MASK);
}

/*
 * Under the lock: the qid path of a (dev, ino) that the lock-free path did
 * not find.  Another thread may have added it meanwhile, so look again
 * before handing out anything.  A key is refused a prefix code only when
 * its device holds its quota or every code is taken; neither can undo
 * itself, so an inode sent to the exact map never has a code later.
 */
static int remap_insert(struct remap *r, uint64_t dev, uint64_t ino, uint64_t prefix_hash,
			uint64_t *qid_path)
{
	uint64_t prefix = ino >> REMAP_SUFFIX_BITS;
	uint64_t exact_hash = key_hash(dev, ino);
	struct table *p = atomic_load_explicit(&r->prefixes, memory_order_relaxed);
	struct table *x = atomic_load_explicit(&r->exact, memory_order_relaxed);
	uint64_t v, held;
	struct slot *dslot;

	v = table_find(p, dev, prefix, prefix_hash);
	if (v != 0) {
		*qid_path = prefix_qid(v - 1, ino);
		return 0;
	}
	v = table_find(x, dev, ino, exact_hash);
	if (v != 0) {
		*qid_path = REGION_EXACT | (v - 1);
		return 0;
	}
	dslot = device_slot(r, dev);
	if (!dslot)
		return -ENOMEM;
	held = atomic_load_explicit(&dslot->val, memory_order_relaxed) - 1;
	if (p->count < r->limits.prefix_codes && held < r->limits.device_prefixes) {
		uint64_t code = p->count;

		if (!table_insert(r, &r->prefixes, dev, prefix, prefix_hash, code + 1))
			return -ENOMEM;
		atomic_store_explicit(&dslot->val, held + 2, memory_order_release);
		*qid_path = prefix_qid(code, ino);
		return 0;
	}
	if (x->count >= r->limits.exact_ids)
		return -ENFILE;
	v = x->count;
	if (!table_insert(r, &r->exact, dev, ino, exact_hash, v + 1))
		return -ENOMEM;
	atomic_store_explicit(&r->exact_used, true, memory_order_release);
	*qid_path = REGION_EXACT | v;
	return 0;
}

static int remap_lookup(struct remap *r, uint64_t dev, uint64_t ino, uint64_t *qid_path)
{
	uint64_t prefix = ino >> REMAP_SUFFIX_BITS;
	uint64_t prefix_hash = key_hash(dev, prefix);
	struct table *t = atomic_load_explicit(&r->prefixes, memory_order_acquire);
	uint64_t v = table_find(t, dev, prefix, prefix_hash);
	int rc;

	if (v != 0) {
		*qid_path = prefix_qid(v - 1, ino);
		return 0;
	}
	/* Most engines never use the exact map; skip hashing for it then. */
	if (atomic_load_explicit(&r->exact_used, memory_order_acquire)) {
		t = atomic_load_explicit(&r->exact, memory_order_acquire);
		v = table_find(t, dev, ino, key_hash(dev, ino));
		if (v != 0) {
			*qid_path = REGION_EXACT | (v - 1);
			return 0;
		}
	}
	pthread_mutex_lock(&r->lock);
	rc = remap_insert(r, dev, ino, prefix_hash, qid_path);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int remap_qid_path(struct remap *r, uint64_t dev, uint64_t ino, uint32_t file_type,
		   uint64_t *qid_path, enum remap_event *event)
{
	enum remap_event ev = REMAP_EVENT_NONE;
	int rc = 0;

	/* An inode keeps its type for life, so the type adds nothing to
	 * (dev, ino) and stays out of the encoding. */
	(void)file_type;
	if (dev == r->root_dev) {
		if (!atomic_load_explicit(&r->root_seen, memory_order_relaxed))
			atomic_store_explicit(&r->root_seen, true, memory_order_relaxed);
		if (r->policy != MULTIDEVS_REMAP || ino < IDENTITY_END)
			*qid_path = ino;
		else
			rc = remap_lookup(r, dev, ino, qid_path);
	} else if (r->policy == MULTIDEVS_REMAP) {
		rc = remap_lookup(r, dev, ino, qid_path);
	} else if (r->policy == MULTIDEVS_FORBID) {
		atomic_fetch_add_explicit(&r->forbidden, 1, memory_order_relaxed);
		if (first_time(&r->event_reported))
			ev = REMAP_EVENT_FIRST_FORBIDDEN;
		note_foreign_device(r, dev);
		rc = -EXDEV;
	} else {
		if (first_time(&r->event_reported))
			ev = REMAP_EVENT_FIRST_FOREIGN_DEVICE;
		note_foreign_device(r, dev);
		*qid_path = ino;
	}
	if (event)
		*event = ev;
	return rc;
}

void remap_get_stats(struct remap *r, struct remap_stats *out)
{
	pthread_mutex_lock(&r->lock);
	out->devices = r->foreign_devices + atomic_load(&r->root_seen);
	out->prefixes = atomic_load_explicit(&r->prefixes, memory_order_relaxed)->count;
	out->exact_entries = atomic_load_explicit(&r->exact, memory_order_relaxed)->count;
	pthread_mutex_unlock(&r->lock);
	out->forbidden = atomic_load_explicit(&r->forbidden, memory_order_relaxed);
}

size_t remap_memory_bytes(struct remap *r)
{
	size_t bytes;

	pthread_mutex_lock(&r->lock);
	bytes = sizeof(*r) + r->table_bytes;
	pthread_mutex_unlock(&r->lock);
	return bytes;
}

/* Copy a table's keys into an array indexed by their dense value. */
static int table_keys(struct table *t, struct remap_key **out)
{
	struct remap_key *keys = calloc(t->count ? t->count : 1, sizeof(*keys));

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		struct slot *s = &t->slots[i];
		uint64_t v = atomic_load_explicit(&s->val, memory_order_relaxed);

		if (v != 0)
			keys[v - 1] = (struct remap_key){.dev = s->k1, .bits = s->k2};
	}
	*out = keys;
	return 0;
}

int remap_snapshot(struct remap *r, struct remap_snapshot *out)
{
	struct table *p, *x;
	int rc;

	memset(out, 0, sizeof(*out));
	if (r->policy != MULTIDEVS_REMAP)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	p = atomic_load_explicit(&r->prefixes, memory_order_relaxed);
	x = atomic_load_explicit(&r->exact, memory_order_relaxed);
	out->root_dev = r->root_dev;
	out->limits = r->limits;
	out->nprefixes = p->count;
	out->nexact = x->count;
	rc = table_keys(p, &out->prefixes);
	if (rc == 0)
		rc = table_keys(x, &out->exact);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		remap_snapshot_release(out);
	return rc;
}

void remap_snapshot_release(struct remap_snapshot *s)
{
	if (!s)
		return;
	free(s->prefixes);
	free(s->exact);
	memset(s, 0, sizeof(*s));
}

/*
 * Replay every key through the ordinary lookup, prefix codes in code order
 * and then exact ids in id order, and insist that each lands on its recorded
 * qid path.  An engine could only have produced the snapshot if that holds
 * (codes and ids are dense and handed out in order, and a key refused a
 * code stays refused), so anything else is corrupt or forged.
 */
int remap_from_snapshot(const struct remap_snapshot *s, struct remap **out, char *err,
			size_t errlen)
{
	struct remap *r;
	int rc;

	*out = NULL;
	rc = remap_new_limited(MULTIDEVS_REMAP, s->root_dev, &s->limits, &r);
	if (rc == -EINVAL) {
		if (err)
			snprintf(err, errlen,
				 "limits out of range: %" PRIu32 " prefix codes, %" PRIu32
				 " per device, %" PRIu64 " exact ids",
				 s->limits.prefix_codes, s->limits.device_prefixes,
				 s->limits.exact_ids);
		return -EBADMSG;
	}
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < s->nprefixes + s->nexact; i++) {
		bool is_prefix = i < s->nprefixes;
		size_t index = is_prefix ? i : i - s->nprefixes;
		const struct remap_key *k = is_prefix ? &s->prefixes[index] : &s->exact[index];
		uint64_t ino = is_prefix ? k->bits << REMAP_SUFFIX_BITS : k->bits;
		uint64_t want = is_prefix ? prefix_qid(index, ino) : REGION_EXACT | index;
		uint64_t got = 0;

		if (is_prefix && k->bits >= PREFIX_END) {
			if (err)
				snprintf(err, errlen, "prefix %zu: %#" PRIx64 " is wider than %d bits",
					 index, k->bits, 64 - REMAP_SUFFIX_BITS);
			rc = -EBADMSG;
			break;
		}
		rc = remap_qid_path(r, k->dev, ino, 0, &got, NULL);
		if (rc == -ENOMEM)
			break;
		if (rc < 0 || got != want) {
			if (err)
				snprintf(err, errlen,
					 "%s %zu (dev %#" PRIx64 ", %s %#" PRIx64
					 ") replays to qid path %#" PRIx64 " instead of %#" PRIx64
					 ": duplicate, over its limits, or not an entry remap would make",
					 is_prefix ? "prefix" : "exact entry", index, k->dev,
					 is_prefix ? "prefix" : "inode", k->bits, rc < 0 ? 0 : got, want);
			rc = -EBADMSG;
			break;
		}
	}
	if (rc < 0) {
		remap_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
