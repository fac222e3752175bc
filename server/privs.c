/* privs_drop(): from root to an ordinary user that keeps the file
 * capabilities passthrough needs; privs_restrict(): the same capabilities
 * for a daemon that stays root (no -u).
 *
 * Why these capabilities and no others.  Every request runs with
 * credentials of its own (creds.c: fsuid, fsgid and an effective set
 * chosen per request), and switching takes CAP_SETUID and CAP_SETGID.  A
 * request as uid 0 needs the file-system capabilities root has (CHOWN,
 * DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, MKNOD), and another
 * client DAC_OVERRIDE and DAC_READ_SEARCH (its guest decided access); so
 * those stay permitted, and each worker raises into its effective set the
 * ones of the request it runs.
 *
 * Left out on purpose:
 *   CAP_SYS_ADMIN  would give trusted.* and security.* xattrs to guest
 *                  root, and is half of root besides; kept permitted (never
 *                  effective) only when an export's xattrmap stores guest
 *                  names under trusted.*, for the backend to raise around
 *                  exactly those xattr calls;
 *   CAP_SETFCAP    would let requests write security.capability, that is
 *                  plant file capabilities for the host to honour;
 *   CAP_SETPCAP    only needed here, to empty the bounding set;
 *   the rest       listeners are bound and exports open before the drop.
 *
 * Supplementary groups: none.  Requests set their own group list; the
 * daemon's own identity (the mapped-xattr and none models, the remap state
 * files) should be exactly the configured user and its primary group, not
 * whatever groups an administrator added that account to later.
 *
 * Dumpable: setresuid() leaves the process non-dumpable and it stays so.
 * That does not hurt /proc/self/fd: the kernel always lets a thread group
 * into its own /proc/PID/fd and follow its own fd links (proc_fd_permission,
 * ptrace_may_access for the same thread group), which be_reopen() and
 * the backend's find_parent() rely on, and tests/privs checks.  Staying non-dumpable keeps
 * other processes of the same user out of /proc/PID and avoids core files
 * full of exported data, so PR_SET_DUMPABLE is left alone.
 */
#include "server/privs.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config/config.h"
#include "server/creds.h"
#include "server/log.h"

static const struct {
	unsigned cap;
	bool effective; /* always; the others only while fsuid is 0 */
} kept[] = {
	{CAP_CHOWN, false},           /* chown and create-as-gid for uid 0 */
	{CAP_DAC_OVERRIDE, false},    /* uid 0 opens what root may open */
	{CAP_DAC_READ_SEARCH, false}, /* uid 0 reads and searches any directory */
	{CAP_FOWNER, false},          /* uid 0 chmods, utimes others' files */
	{CAP_FSETID, false},          /* uid 0 keeps set-id bits on write */
	{CAP_MKNOD, false},           /* Tmknod of device nodes by uid 0 */
	{CAP_SETUID, true},           /* setfsuid per request */
	{CAP_SETGID, true},           /* setfsgid, setgroups per request */
};

#define NKEPT (sizeof kept / sizeof kept[0])


/* -1 if cap is not kept, else its index in kept[]. */
static int kept_index(unsigned cap)
{
	for (size_t i = 0; i < NKEPT; i++)
		if (kept[i].cap == cap)
			return (int)i;
	return -1;
}

/* CAP_SYS_ADMIN is kept (permitted, never effective but for the one
 * system call) only when an export's xattrmap stores guest names under
 * trusted.*: the backend raises it around those xattr calls alone. */
static bool keeps(unsigned cap, bool trusted_xattrs)
{
	return kept_index(cap) >= 0 || (trusted_xattrs && cap == CAP_SYS_ADMIN);
}

static int keep_sys_admin(bool trusted_xattrs, int sets, char *err, size_t errlen)
{
	if (trusted_xattrs && capng_update(CAPNG_ADD, sets, CAP_SYS_ADMIN))
		return log_reason(err, errlen, -EINVAL, "capng_update(sys_admin) failed");
	return 0;
}

static const char *cap_name(unsigned cap)
{
	const char *n = capng_capability_to_name(cap);
	return n ? n : "unknown";
}

/* Threads of this process, or -errno. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* What capng_change_id() was doing when it returned -step. */
static const char *change_id_step(int rc)
{
	switch (rc) {
	case -2: return "prctl(PR_SET_KEEPCAPS, 1)";
	case -3: return "capset of the transitional set";
	case -4: return "setresgid";
	case -5: return "setgroups";
	case -6: return "setresuid";
	case -7: return "prctl(PR_SET_KEEPCAPS, 0)";
	case -8: return "emptying the bounding set";
	case -9: return "capset of the final set";
	default: return "capng_change_id";
	}
}

/* 0 when the process may change its capabilities for good: a single
 * thread (capset() changes only the calling thread: a thread started
 * before would keep root's capabilities), and every capability kept (and
 * CAP_SETPCAP, to empty the bounding set) permitted, so that one a
 * service manager withheld is named rather than reported as capset's
 * EPERM. */
static int may_change_caps(bool trusted_xattrs, char *err, size_t errlen)
{
	int threads = thread_count();
	if (threads < 0)
		return log_reason(err, errlen, threads, "cannot count threads: %s", strerror(-threads));
	if (threads != 1)
		return log_reason(err, errlen, -EBUSY,
			    "%d threads already run (capabilities must change before the first)",
			    threads);
	if (capng_get_caps_process())
		return log_reason(err, errlen, -errno, "capget: %s", strerror(errno));
	for (size_t i = 0; i <= NKEPT + 1; i++) {
		unsigned cap = i < NKEPT ? kept[i].cap : i == NKEPT ? CAP_SETPCAP : CAP_SYS_ADMIN;
		if (cap == CAP_SYS_ADMIN && !trusted_xattrs)
			continue;
		if (!capng_have_capability(CAPNG_PERMITTED, cap))
			return log_reason(err, errlen, -EPERM,
				    "capability %s is not permitted to ninepd (is it missing from "
				    "a CapabilityBoundingSet=?)",
				    cap_name(cap));
	}
	return 0;
}

/* Reads back everything privs_drop() set: trust, but verify. */
static int privs_check(uid_t uid, gid_t gid, bool trusted_xattrs, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) || getresgid(&rg, &eg, &sg))
		return log_reason(err, errlen, -errno, "getresuid: %s", strerror(errno));
	uid_t fsu = (uid_t)setfsuid((uid_t)-1); /* -1 is invalid: only reports */
	gid_t fsg = (gid_t)setfsgid((gid_t)-1);
	if (ru != uid || eu != uid || su != uid || fsu != uid)
		return log_reason(err, errlen, -EPERM, "uids are %u/%u/%u/%u, not %u", ru, eu, su, fsu,
			    uid);
	if (rg != gid || eg != gid || sg != gid || fsg != gid)
		return log_reason(err, errlen, -EPERM, "gids are %u/%u/%u/%u, not %u", rg, eg, sg, fsg,
			    gid);
	int ngroups = getgroups(0, NULL);
	if (ngroups != 0)
		return log_reason(err, errlen, -EPERM, "%d supplementary groups left", ngroups);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return log_reason(err, errlen, -EPERM, "no_new_privs is not set");
	if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0)
		return log_reason(err, errlen, -EPERM, "keep-capabilities is still set");
	if (capng_get_caps_process())
		return log_reason(err, errlen, -errno, "capget: %s", strerror(errno));
	/* PR_CAPBSET_READ answers EINVAL past the kernel's last capability. */
	unsigned cap;
	for (cap = 0;; cap++) {
		int bound = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (bound < 0)
			break;
		int k = kept_index(cap);
		bool want_p = keeps(cap, trusted_xattrs), want_e = k >= 0 && kept[k].effective;
		if (bound || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0)
			return log_reason(err, errlen, -EPERM, "capability %s is still in the %s set",
				    cap_name(cap), bound ? "bounding" : "ambient");
		if (capng_have_capability(CAPNG_PERMITTED, cap) != want_p ||
		    capng_have_capability(CAPNG_EFFECTIVE, cap) != want_e ||
		    capng_have_capability(CAPNG_INHERITABLE, cap))
			return log_reason(err, errlen, -EPERM,
				    "capability %s is not as intended (permitted %d, effective "
				    "%d, inheritable %d)",
				    cap_name(cap), capng_have_capability(CAPNG_PERMITTED, cap),
				    capng_have_capability(CAPNG_EFFECTIVE, cap),
				    capng_have_capability(CAPNG_INHERITABLE, cap));
	}
	if (cap == 0 || errno != EINVAL)
		return log_reason(err, errlen, -errno, "prctl(PR_CAPBSET_READ, %u): %s", cap,
			    strerror(errno));
	return 0;
}

int privs_drop(const char *user, bool trusted_xattrs, char *err, size_t errlen)
{
	if (!user)
		return 0;
	if (geteuid() != 0)
		return log_reason(err, errlen, -EPERM, "switching to user %s needs ninepd to start as root "
						 "(it runs as uid %u)",
			    user, (unsigned)geteuid());
	uid_t uid;
	gid_t gid;
	char msg[256];
	int rc = config_lookup_user(user, &uid, &gid, msg, sizeof msg);
	if (rc)
		return log_reason(err, errlen, rc, "%s", msg);
	rc = may_change_caps(trusted_xattrs, err, errlen);
	if (rc)
		return rc;

	capng_clear(CAPNG_SELECT_BOTH);
	rc = keep_sys_admin(trusted_xattrs, CAPNG_PERMITTED, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < NKEPT; i++)
		if (capng_update(CAPNG_ADD, kept[i].effective ? CAPNG_PERMITTED | CAPNG_EFFECTIVE
							      : CAPNG_PERMITTED,
				 kept[i].cap))
			return log_reason(err, errlen, -EINVAL, "capng_update(%s) failed",
				    cap_name(kept[i].cap));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return log_reason(err, errlen, -errno, "clearing ambient capabilities: %s",
			    strerror(errno));
	/* It sets the gids, drops the groups, sets the uids keeping the
	 * capabilities prepared above, and empties the bounding set. */
	errno = 0;
	rc = capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (rc)
		return log_reason(err, errlen, errno ? -errno : -EPERM, "%s failed: %s",
			    change_id_step(rc), errno ? strerror(errno) : "unknown error");
	/* ninepd never executes anything; if it is made to, a set-id or
	 * file-capability program must not give back what was dropped. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return log_reason(err, errlen, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	rc = privs_check(uid, gid, trusted_xattrs, err, errlen);
	if (rc)
		return rc;
	log_info("running as user %s (uid %u, gid %u, no supplementary groups); capabilities "
		 "kept: setuid, setgid, and for requests as uid 0 chown, dac_override, "
		 "dac_read_search, fowner, fsetid, mknod%s",
		 user, (unsigned)uid, (unsigned)gid,
		 trusted_xattrs ? "; sys_admin for an xattrmap's trusted.* names only" : "");
	return 0;
}

int privs_restrict(bool trusted_xattrs, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	int rc = may_change_caps(trusted_xattrs, err, errlen);
	if (rc)
		return rc;
	capng_clear(CAPNG_SELECT_BOTH);
	rc = keep_sys_admin(trusted_xattrs, CAPNG_PERMITTED | CAPNG_BOUNDING_SET, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < NKEPT; i++)
		if (capng_update(CAPNG_ADD, CAPNG_PERMITTED | CAPNG_EFFECTIVE | CAPNG_BOUNDING_SET,
				 kept[i].cap))
			return log_reason(err, errlen, -EINVAL, "capng_update(%s) failed",
				    cap_name(kept[i].cap));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return log_reason(err, errlen, -errno, "clearing ambient capabilities: %s",
			    strerror(errno));
	/* The bounding set is emptied first (while CAP_SETPCAP is still
	 * effective), then the permitted and effective sets are set. */
	if (capng_apply(CAPNG_SELECT_BOTH))
		return log_reason(err, errlen, -EPERM, "capng_apply: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return log_reason(err, errlen, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	/* Read back. */
	if (capng_get_caps_process())
		return log_reason(err, errlen, -errno, "capget: %s", strerror(errno));
	for (unsigned cap = 0;; cap++) {
		int bound = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (bound < 0)
			break;
		bool want = keeps(cap, trusted_xattrs);
		if (bound != want || capng_have_capability(CAPNG_PERMITTED, cap) != want ||
		    capng_have_capability(CAPNG_INHERITABLE, cap))
			return log_reason(err, errlen, -EPERM,
				    "capability %s is not as intended (bounding %d, permitted %d)",
				    cap_name(cap), bound, capng_have_capability(CAPNG_PERMITTED, cap));
	}
	log_info("running as root with the capabilities passthrough needs only: setuid, setgid, "
		 "chown, dac_override, dac_read_search, fowner, fsetid, mknod%s",
		 trusted_xattrs ? "; sys_admin for an xattrmap's trusted.* names only" : "");
	return 0;
}
