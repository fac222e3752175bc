/* Persistence of a remap engine's tables, so that qid paths survive a
 * restart of ninepd.  Unlike remap.c this file does I/O.
 *
 * The state file is reached without following a symbolic link, neither
 * the file nor any directory on its path (each component is opened with
 * O_NOFOLLOW), and only a regular file is read: whoever can write near it
 * must not be able to send the daemon, which may be root, elsewhere.  The
 * configuration also keeps it out of every export (config_validate()).
 *
 * The file keys on the st_dev numbers the engine was fed.  Those are not
 * stable across reboots or remounts for every file system (tmpfs, overlayfs
 * and btrfs subvolumes get anonymous device numbers at mount time); see
 * docs/remap.md for what that means and for the format.
 */
#ifndef NINEPD_REMAP_STATE_H
#define NINEPD_REMAP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "remap/remap.h"

/*
 * Write r's tables to path atomically: a temporary file is created in
 * path's directory (opened as described above), written, fsync()ed and
 * renamed over path within that directory, and the directory is fsync()ed,
 * so path holds either the old state or the complete new one.  Lookups may
 * continue meanwhile; the file holds the tables as they were when the save
 * began.  0, or -errno with a reason in err (may be NULL); -EINVAL if r is
 * not a remap engine; -ELOOP if a directory on the path is a symbolic link.
 */
int remap_state_save(struct remap *r, const char *path, char *err, size_t errlen);

/*
 * Build a remap engine from a file written by remap_state_save() for the
 * export whose root is on root_dev.  The file is refused, never partly
 * used, with a reason in err (may be NULL):
 *   -ENOENT   no file (a first start), or no directory
 *   -ELOOP    the file or a directory on its path is a symbolic link
 *   -EBADMSG  not a regular file (a FIFO, device, socket or directory: it
 *             is never opened, or opened O_NONBLOCK, so it cannot block),
 *             not a state file, another format version, truncated, padded,
 *             checksum mismatch, or content remap could not have produced
 *   -ESTALE   written for another root device (e.g. after a reboot)
 *   other -errno from open/read, or -ENOMEM.
 * On success *out is the engine, owned by the caller.
 */
int remap_state_load(const char *path, uint64_t root_dev, struct remap **out, char *err,
		     size_t errlen);

/*
 * Whether path would be refused by remap_state_load() or _save() for where
 * it is, without reading it, for the configuration check: its directory
 * exists and is reached without a symbolic link, and path, if it exists,
 * is a regular file.  0, or one of those functions' -errno with a reason
 * in err (may be NULL).
 */
int remap_state_check_path(const char *path, char *err, size_t errlen);

#endif
