/* Attached users and per-thread credentials (creds.h has the model).
 *
 * Everything here is per thread: setfsuid, setfsgid, the raw setgroups
 * system call and capset all change only the calling thread's credentials
 * (glibc's wrappers would change every thread's).  Each worker remembers
 * what it holds and makes only the calls that change something, so a
 * worker serving one client in a row pays nothing per request. */
#include "server/creds.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto/9p.h"

#define MAX_USERS 65536
#define NOBODY 65534

/* ---- users ---- */

void users_init(struct users *u)
{
	pthread_mutex_init(&u->lock, NULL);
	u->list = NULL;
	u->count = 0;
}

void users_free(struct users *u)
{
	while (u->list) {
		struct user *x = u->list;
		u->list = x->next;
		free(x);
	}
	pthread_mutex_destroy(&u->lock);
}

static struct user *users_find_locked(struct users *u, uid_t uid)
{
	for (struct user *x = u->list; x; x = x->next)
		if (x->uid == uid)
			return x;
	return NULL;
}

int users_get(struct users *u, uint32_t n_uname, const char *uname, struct user **out)
{
	char buf[4096];
	struct passwd pw, *pwp = NULL;
	uid_t uid;
	if (n_uname != NP_NONUNAME) {
		uid = n_uname;
	} else {
		getpwnam_r(uname, &pw, buf, sizeof buf, &pwp);
		if (pwp)
			uid = pwp->pw_uid;
		else if (!strcmp(uname, "nobody"))
			uid = NOBODY;
		else
			return -EPERM;
	}
	pthread_mutex_lock(&u->lock);
	struct user *found = users_find_locked(u, uid);
	size_t count = u->count;
	pthread_mutex_unlock(&u->lock);
	if (found) {
		*out = found;
		return 0;
	}
	if (count >= MAX_USERS)
		return -EUSERS;
	struct user *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->uid = uid;
	/* The primary gid names the group of what the requests without a gid
	 * of their own do; it grants nothing (no request holds groups). */
	if (!pwp || pwp->pw_uid != uid)
		getpwuid_r(uid, &pw, buf, sizeof buf, &pwp);
	x->gid = pwp ? pwp->pw_gid : NOBODY;
	pthread_mutex_lock(&u->lock);
	found = users_find_locked(u, uid);
	if (!found) {
		x->next = u->list;
		u->list = x;
		u->count++;
	}
	pthread_mutex_unlock(&u->lock);
	if (found) { /* another worker won the race */
		free(x);
		x = found;
	}
	*out = x;
	return 0;
}

/* ---- capabilities ---- */

#define CAP_BIT(c) (1ull << (c))
#define CAPS_SWITCH (CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID))
#define CAPS_CLIENT (CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_DAC_READ_SEARCH))
#define CAPS_ROOT                                                                               \
	(CAPS_CLIENT | CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_FSETID) |          \
	 CAP_BIT(CAP_MKNOD))

static bool switching;
static uint64_t permitted; /* the process's, read once by creds_init */
static uid_t daemon_uid;
static gid_t daemon_gid;

static int caps_get(uint64_t *eff, uint64_t *perm)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	return 0;
}

/* The calling thread's effective set becomes eff (a subset of permitted);
 * permitted and inheritable stay. */
static int caps_set_effective(uint64_t eff)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static uint64_t caps_of(enum cred_caps c)
{
	switch (c) {
	case CRED_CAPS_ROOT: return CAPS_ROOT;
	case CRED_CAPS_MAPPED_ROOT: return CAPS_ROOT & ~CAP_BIT(CAP_MKNOD);
	case CRED_CAPS_CLIENT: return CAPS_CLIENT;
	case CRED_CAPS_DAEMON: return daemon_uid == 0 ? CAPS_ROOT : 0;
	case CRED_CAPS_REOPEN: return CAP_BIT(CAP_DAC_READ_SEARCH);
	default: return 0;
	}
}

void creds_init(void)
{
	uint64_t eff;
	daemon_uid = geteuid();
	daemon_gid = getegid();
	switching = caps_get(&eff, &permitted) == 0 &&
		    (permitted & CAPS_SWITCH) == CAPS_SWITCH;
}

bool creds_switching(void)
{
	return switching;
}

/* ---- per thread ---- */

static _Thread_local bool thread_ready;
static _Thread_local bool thread_valid; /* the fields below describe the thread */
static _Thread_local uid_t thread_uid;
static _Thread_local gid_t thread_gid;
static _Thread_local uint64_t thread_caps;

static int raw_setgroups(size_t n, const gid_t *groups)
{
	/* setgroups32 where the plain call takes 16-bit gids (i386, arm). */
#ifdef SYS_setgroups32
	return (int)syscall(SYS_setgroups32, n, groups);
#else
	return (int)syscall(SYS_setgroups, n, groups);
#endif
}

/* Once per thread: a file-system context of its own, so that its umask
 * (0: the modes clients ask for are final) is not the loop thread's (which
 * makes sockets and state files), and no supplementary groups. */
static int thread_setup(void)
{
	if (thread_ready)
		return 0;
	if (unshare(CLONE_FS))
		return -errno;
	umask(0);
	if (switching && raw_setgroups(0, NULL))
		return -EPERM;
	thread_ready = true;
	return 0;
}

int creds_enter(const struct cred *c)
{
	int rc = thread_setup();
	if (rc || !switching)
		return rc;
	uint64_t caps = (caps_of(c->caps) | CAPS_SWITCH) & permitted;
	if (thread_valid && thread_uid == c->uid && thread_gid == c->gid && thread_caps == caps)
		return 0;
	bool thread_known = thread_valid;
	thread_valid = false;
	if (!thread_known || thread_gid != c->gid)
		setfsgid(c->gid);
	if (!thread_known || thread_uid != c->uid)
		setfsuid(c->uid);
	/* setfs*id report failure only by returning the old value. */
	if ((gid_t)setfsgid((gid_t)-1) != c->gid || (uid_t)setfsuid((uid_t)-1) != c->uid)
		return -EPERM;
	/* After setfsuid: the kernel raises or lowers the file-system
	 * capabilities with the fsuid; the set here is the one that counts. */
	if ((!thread_known || thread_caps != caps || thread_uid != c->uid) &&
	    caps_set_effective(caps))
		return -EPERM;
	thread_uid = c->uid;
	thread_gid = c->gid;
	thread_caps = caps;
	thread_valid = true;
	return 0;
}

int creds_raise_sys_admin(void)
{
	if (!(permitted & CAP_BIT(CAP_SYS_ADMIN)) || !thread_valid)
		return -EPERM;
	return caps_set_effective(thread_caps | CAP_BIT(CAP_SYS_ADMIN)) ? -EPERM : 0;
}

void creds_lower_sys_admin(void)
{
	/* Failing here would leave the thread more than it should hold:
	 * forget the thread's state so the next creds_enter sets it whole. */
	if (caps_set_effective(thread_caps))
		thread_valid = false;
}

int creds_enter_reopen(void)
{
	struct cred self = {.uid = daemon_uid, .gid = daemon_gid, .caps = CRED_CAPS_REOPEN};
	return creds_enter(&self);
}

bool creds_can_reopen(void)
{
	uint64_t eff = 0, perm = 0;
	return caps_get(&eff, &perm) == 0 && (perm & CAP_BIT(CAP_DAC_READ_SEARCH));
}

int creds_enter_daemon(void)
{
	struct cred self = {.uid = daemon_uid, .gid = daemon_gid, .caps = CRED_CAPS_DAEMON};
	return creds_enter(&self);
}
