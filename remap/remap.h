/* The multidevs policy engine: (st_dev, st_ino, file type) -> qid.path.
 *
 * One engine per export.  Pure: no syscalls, no logging; the caller logs
 * the events the engine reports, so "logged once" is decided here, under
 * the engine's own lock, exactly once per export.  Thread-safe: worker
 * threads call remap_qid_path() concurrently.
 */
#ifndef NINEPD_REMAP_REMAP_H
#define NINEPD_REMAP_REMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum multidevs_policy {
	MULTIDEVS_DEFAULT = 0, /* same as warn */
	MULTIDEVS_REMAP,
	MULTIDEVS_FORBID,
	MULTIDEVS_WARN,
};

/* "remap" -> MULTIDEVS_REMAP ...; returns -1 for an unknown name. */
int multidevs_policy_parse(const char *name, size_t len);
const char *multidevs_policy_name(enum multidevs_policy p);

/* What a lookup met for the first time; the caller logs it. */
enum remap_event {
	REMAP_EVENT_NONE = 0,
	REMAP_EVENT_FIRST_FOREIGN_DEVICE, /* warn/default: first device != root's */
	REMAP_EVENT_FIRST_FORBIDDEN,      /* forbid: first refused access */
};

struct remap_stats {
	uint64_t devices;       /* distinct st_dev values seen */
	uint64_t prefixes;      /* (dev, inode prefix) codes handed out */
	uint64_t exact_entries; /* entries in the exact fallback map */
	uint64_t forbidden;     /* accesses refused under forbid */
};

struct remap;

/* root_dev: st_dev of the export root.  NULL on allocation failure. */
struct remap *remap_new(enum multidevs_policy policy, uint64_t root_dev);
void remap_free(struct remap *r); /* NULL is a no-op */

/*
 * Map one inode.  file_type is the S_IFMT bits of st_mode.  On success
 * returns 0 and sets *qid_path; under forbid returns -EXDEV for any device
 * other than the root's; -ENFILE if every id space is exhausted.  *event (may
 * be NULL) reports a first-time event for the caller to log.
 */
int remap_qid_path(struct remap *r, uint64_t dev, uint64_t ino, uint32_t file_type,
		   uint64_t *qid_path, enum remap_event *event);

enum multidevs_policy remap_policy(const struct remap *r);
void remap_get_stats(struct remap *r, struct remap_stats *out);

/*
 * Encoding geometry under remap (docs/remap.md has the proof that no two
 * (dev, ino) pairs share a qid path).  The top two bits of qid.path name
 * the region:
 *   0x  root device, ino < 2^63:  qid.path = ino
 *   10  prefix code:              2^63 | code << 42 | (ino & (2^42 - 1))
 *   11  exact id:                 3 << 62 | id
 * where code is handed out once per (dev, ino >> 42) and id once per
 * (dev, ino).  The exact ids stop two short of 2^62 so that the Linux client,
 * which shows qid.path + 2 as st_ino, never wraps to 0 or 1.
 */
#define REMAP_SUFFIX_BITS 42
#define REMAP_PREFIX_CODES (UINT32_C(1) << 20)
#define REMAP_DEVICE_PREFIXES (UINT32_C(1) << 12)
#define REMAP_EXACT_IDS ((UINT64_C(1) << 62) - 2)

/* Under remap, remap_qid_path() can also return -ENOMEM: a table had to
 * grow and could not.  Nothing was recorded; a later call may succeed. */

/*
 * How much of each id space an engine may hand out.  A device that holds
 * device_prefixes codes, or any device once prefix_codes are all taken,
 * gets exact ids for its new inode prefixes; -ENFILE comes only when
 * exact_ids are used up too.  Smaller limits bound memory (and let tests
 * reach exhaustion quickly); they never weaken the encoding.
 */
struct remap_limits {
	uint32_t prefix_codes;    /* <= REMAP_PREFIX_CODES */
	uint32_t device_prefixes; /* per device; <= prefix_codes */
	uint64_t exact_ids;       /* <= REMAP_EXACT_IDS */
};

/* The largest limits the encoding allows; remap_new() uses these. */
void remap_default_limits(struct remap_limits *out);

/* Like remap_new() with explicit limits: 0, -EINVAL (limits out of range)
 * or -ENOMEM. */
int remap_new_limited(enum multidevs_policy policy, uint64_t root_dev,
		      const struct remap_limits *limits, struct remap **out);

/* Bytes the engine holds right now, retired hash tables included. */
size_t remap_memory_bytes(struct remap *r);

/*
 * A point-in-time copy of a remap engine's tables, for remap/state.c.
 * Codes and ids are dense and never reused, so they are the array index:
 * prefixes[c] is the key that owns code c, exact[i] the inode with id i.
 */
struct remap_key {
	uint64_t dev;
	uint64_t bits; /* inode prefix (ino >> REMAP_SUFFIX_BITS) or whole inode */
};

struct remap_snapshot {
	uint64_t root_dev;
	struct remap_limits limits;
	size_t nprefixes;
	struct remap_key *prefixes; /* owned by the snapshot */
	size_t nexact;
	struct remap_key *exact; /* owned by the snapshot */
};

/* Copy r's tables into *out.  0, -EINVAL (policy is not remap) or -ENOMEM. */
int remap_snapshot(struct remap *r, struct remap_snapshot *out);
void remap_snapshot_release(struct remap_snapshot *s); /* NULL is a no-op */

/*
 * Rebuild a remap engine that gives every key in s the qid path it had.
 * Refuses (-EBADMSG, reason in err) any snapshot the engine could not have
 * produced: limits out of range, duplicate keys, a device over its quota,
 * a root-device inode that belongs in the identity region, or an exact entry
 * whose prefix could still get a code.  -ENOMEM on allocation failure.
 */
int remap_from_snapshot(const struct remap_snapshot *s, struct remap **out,
			char *err, size_t errlen);

#endif
