/* Who a request runs as: the attached users and the per-thread credentials.
 *
 * The identity model (docs/security.md has the why of every part):
 *   - whoever connects may attach as any uid; inside its export the guest
 *     kernel has already checked the caller's full credentials, groups 9P
 *     cannot carry included, so a request never re-decides access with the
 *     host's group database;
 *   - the host kernel's ownership semantics stay: a request's fsuid is its
 *     client's uid (owners, quotas, set-id clearing follow it) and its
 *     fsgid the gid the guest named (new files, chown);
 *   - every request that touches the file system enters its own
 *     credentials first (dispatch.c does it for every row of the contract
 *     table); none runs with the previous request's.
 *
 * A credential is an fsuid, an fsgid and one of four capability sets:
 *   CRED_CAPS_ROOT    a client as uid 0: the file-system capabilities the
 *                     kernel gives root (chown, dac_override,
 *                     dac_read_search, fowner, fsetid, mknod);
 *   CRED_CAPS_MAPPED_ROOT  a guest root that an export's uid map makes
 *                     another host user, over a file whose owner and group
 *                     the maps cover (a user namespace's rule): root's set
 *                     without mknod, so no device node reaches the host;
 *                     over any other file it holds CRED_CAPS_CLIENT;
 *   CRED_CAPS_CLIENT  any other client: dac_override and dac_read_search
 *                     only (the guest decided access), so ownership checks
 *                     and set-id clearing are the host kernel's;
 *   CRED_CAPS_NONE    a squashed export: the host's permission checks apply
 *                     to the squash user as to any process of it;
 *   CRED_CAPS_DAEMON  the daemon's own identity (mapped-xattr, none).
 * Supplementary groups are always empty.  cap_setuid and cap_setgid stay
 * effective (they switch identities; no file-system check consults them).
 * cap_sys_admin is never held: trusted.* and security.* xattrs are the
 * host's, for every client.
 */
#ifndef NINEPD_SERVER_CREDS_H
#define NINEPD_SERVER_CREDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cred_caps {
	CRED_CAPS_NONE = 0,
	CRED_CAPS_CLIENT,
	CRED_CAPS_ROOT,
	CRED_CAPS_DAEMON,
	CRED_CAPS_REOPEN,  /* cap_dac_read_search: open_by_handle_at */
	CRED_CAPS_MAPPED_ROOT,
};

struct cred {
	uid_t uid;
	gid_t gid;
	enum cred_caps caps;
};

/* Who what a request creates belongs to on the host (the export's maps and
 * squash applied), and whether the guest asked as root (mapped-xattr
 * clears set-id bits on writes by anyone else, as the kernel would). */
struct owner {
	uid_t uid;
	gid_t gid;
	bool guest_root;
};

/* An attached user: the uid the client named and the gid its requests use
 * when the message names none (the host's passwd entry, or 65534). */
struct user {
	uid_t uid;
	gid_t gid;
	struct user *next;
};

/* The users attached to one server; shared by the workers. */
struct users {
	pthread_mutex_t lock;
	struct user *list;
	size_t count;
};

void users_init(struct users *u);
void users_free(struct users *u);
/* The user for Tattach's n_uname, or (n_uname == NP_NONUNAME) its uname,
 * a NUL-terminated copy.  -EPERM for an unknown name, -EUSERS past 65536
 * users.  May read the passwd database: worker threads only. */
int users_get(struct users *u, uint32_t n_uname, const char *uname, struct user **out);

/* Called once the process has the identity it keeps (after privs_drop or
 * privs_restrict), before any worker thread: switching is on when the
 * process may switch (cap_setuid and cap_setgid permitted); otherwise
 * every request runs as the daemon and creds_enter is a no-op. */
void creds_init(void);
bool creds_switching(void);
/* Makes the calling thread run as c: setgroups(0), setfsgid, setfsuid and
 * the effective capability set, each only when it differs from what the
 * thread has.  0 or -EPERM. */
int creds_enter(const struct cred *c);
/* CAP_SYS_ADMIN in the calling thread's effective set for one xattr call
 * on a trusted.* name an export's xattrmap gave a guest's name (backend.c),
 * on top of the request's credentials: 0, or -EPERM when the daemon does
 * not keep it permitted (privs.h).  creds_lower_sys_admin() takes it
 * away again; nothing else may run between the two. */
int creds_raise_sys_admin(void);
void creds_lower_sys_admin(void);
/* The daemon's own identity. */
int creds_enter_daemon(void);
/* The daemon's identity with cap_dac_read_search only: reopening a fid's
 * descriptor from its file handle (fid_reopen). */
int creds_enter_reopen(void);
/* True when the process may reopen file handles (cap_dac_read_search
 * permitted). */
bool creds_can_reopen(void);

#endif
