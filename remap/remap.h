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

#endif
