/* Dropping root once the daemon is set up.
 *
 * ninepd starts as root to bind its listeners and open its exports, then
 * becomes an ordinary user that keeps, of all root's powers, only what
 * per-request fsuid switching needs (see docs/security.md for the why of
 * each capability).  The drop happens once, before any worker thread
 * exists, and cannot be undone.
 */
#ifndef NINEPD_SERVER_PRIVS_H
#define NINEPD_SERVER_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * With user NULL, does nothing and returns 0.  Otherwise the process must
 * run as root with a single thread.  privs_drop() then:
 *   - sets the real, effective, saved and fs uid and gid to those of user
 *     (a name or numeric uid, see config_lookup_user()), with no
 *     supplementary groups;
 *   - keeps CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
 *     CAP_FSETID, CAP_MKNOD, CAP_SETUID and CAP_SETGID in the permitted
 *     set, of which only CAP_SETUID and CAP_SETGID are effective: the
 *     kernel raises the others into a thread's effective set while its
 *     fsuid is 0 and lowers them again when it is not;
 *   - empties the inheritable, ambient and bounding sets and sets
 *     no_new_privs;
 *   - reads all of it back, and turns per-request fsuid switching on
 *     (creds_set_root_mode), which geteuid() != 0 would otherwise turn off.
 * Returns 0, or -errno with a one-line reason in err.  After a failure the
 * process may be half-changed: the caller must exit.
 *
 * trusted_xattrs: also keep CAP_SYS_ADMIN permitted (not effective), for
 * an xattrmap that stores guest names under trusted.* (backend.c raises it
 * around those xattr calls only).
 */
int privs_drop(const char *user, bool trusted_xattrs, char *err, size_t errlen);

/*
 * Without -u: when the process runs as root with a single thread, keeps
 * uid 0 but only the capabilities privs_drop() keeps, in the permitted and
 * the bounding set (effective: all of them, as for any thread whose fsuid
 * is 0; creds.c sets each request's own); clears the inheritable and
 * ambient sets and sets no_new_privs, and reads it back.  Not root: does
 * nothing.  0, or -errno with a reason in err (the caller must exit).
 */
int privs_restrict(bool trusted_xattrs, char *err, size_t errlen);

#endif
