/* Exports: opening them, their identity rules and their qids (export.h). */
#include "server/export.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "remap/state.h"
#include "server/log.h"

#define NOBODY 65534

static int add_mount(struct export *e, int mount_id, int fd);

/* The root's O_PATH descriptor, its identity, and a descriptor on its
 * mount for reopening fids from file handles, opened while the daemon may
 * still open anything (before -u). */
static int open_root(struct export *e)
{
	const struct export_conf *conf = e->conf;
	e->rootfd = open(conf->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (e->rootfd < 0) {
		log_error("export '%s': cannot open %s: %s", conf->name, conf->path, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (fstat(e->rootfd, &st))
		return -errno;
	e->root_dev = st.st_dev;
	e->root_ino = st.st_ino;
	int mount_id, mfd = open(conf->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct file_handle probe = {.handle_bytes = 0};
	if (mfd >= 0 &&
	    (name_to_handle_at(mfd, "", &probe, &mount_id, AT_EMPTY_PATH) == 0 ||
	     errno == EOVERFLOW))
		add_mount(e, mount_id, mfd);
	else if (mfd >= 0)
		close(mfd);
	return 0;
}

static int export_open(struct export *e, const struct export_conf *conf)
{
	e->conf = conf;
	int rc = open_root(e);
	if (rc)
		return rc;
	e->realpath = realpath(conf->path, NULL);
	if (!e->realpath)
		return -errno;
	struct stat st = {.st_dev = e->root_dev};
	if (conf->remap_state) {
		/* Restored tables give the guest the same qid paths as before
		 * the restart; a file that does not fit is refused, never
		 * partly reused. */
		char err[256] = "";
		int rc = remap_state_load(conf->remap_state, st.st_dev, &e->remap, err, sizeof err);
		if (rc == 0) {
			log_info("export '%s': remap state restored from %s", conf->name,
				 conf->remap_state);
		} else if (rc != -ENOENT) {
			log_error("export '%s': remap_state %s refused: %s (remove the file to start "
				  "with fresh qid paths)",
				  conf->name, conf->remap_state, err[0] ? err : strerror(-rc));
			return rc;
		}
	}
	if (!e->remap)
		e->remap = remap_new(conf->multidevs, st.st_dev);
	if (!e->remap)
		return -ENOMEM;
	if (conf->xattrmap) {
		char msg[512];
		int rc = xattrmap_parse(conf->xattrmap, &e->xattrmap, msg, sizeof msg);
		if (rc) {
			log_error("export '%s': xattrmap refused: %s", conf->name,
				  rc == -ENOMEM ? "out of memory" : msg);
			return rc;
		}
		e->xattrmap_trusted = xattrmap_may_rename_into(e->xattrmap, "trusted.");
	}
	if (throttle_init(&e->throttle, &conf->throttle)) {
		log_error("export '%s': throttling limits refused", conf->name);
		return -EINVAL;
	}
	if (conf->squash_uid >= 0 || conf->squash_gid >= 0) {
		e->has_squash = true;
		e->squash_uid = conf->squash_uid >= 0 ? (uid_t)conf->squash_uid : NOBODY;
		e->squash_gid = conf->squash_gid >= 0 ? (gid_t)conf->squash_gid : NOBODY;
	}
	log_info("export '%s': %s (device %u:%u, multidevs=%s, security_model=%s%s)", conf->name,
		 e->realpath, major(st.st_dev), minor(st.st_dev),
		 multidevs_policy_name(conf->multidevs), security_model_name(conf->security_model),
		 conf->readonly ? ", read-only" : "");
	return 0;
}

void export_free(struct export *e)
{
	if (!e)
		return;
	if (e->rootfd >= 0)
		close(e->rootfd);
	free(e->realpath);
	remap_free(e->remap);
	xattrmap_free(e->xattrmap);
	cfg_snapshot_unref(e->snap);
	for (size_t i = 0; i < e->nmounts; i++)
		close(e->mounts[i].fd);
	free(e->mounts);
	pthread_mutex_destroy(&e->mounts_lock);
	free(e);
}

int export_new(struct cfg_snapshot *snap, const struct export_conf *conf, struct export **out)
{
	struct export *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->rootfd = -1;
	e->snap = cfg_snapshot_ref(snap);
	pthread_mutex_init(&e->mounts_lock, NULL);
	int rc = export_open(e, conf);
	if (rc) {
		export_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static int add_mount(struct export *e, int mount_id, int fd)
{
	pthread_mutex_lock(&e->mounts_lock);
	struct export_mount *m = realloc(e->mounts, (e->nmounts + 1) * sizeof *m);
	if (m) {
		e->mounts = m;
		m[e->nmounts++] = (struct export_mount){mount_id, fd};
	}
	pthread_mutex_unlock(&e->mounts_lock);
	if (!m)
		close(fd);
	return m ? 0 : -ENOMEM;
}

int export_mount_fd_from(struct export *e, int mount_id, int fd)
{
	if (export_mount_fd(e, mount_id) >= 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	/* Never a device, FIFO or socket: opening those can act. */
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return -EOPNOTSUPP;
	char proc[32];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	int mfd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
				   (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	return mfd < 0 ? -errno : add_mount(e, mount_id, mfd);
}

int export_mount_fd(struct export *e, int mount_id)
{
	int fd = -1;
	pthread_mutex_lock(&e->mounts_lock);
	for (size_t i = 0; i < e->nmounts && fd < 0; i++)
		if (e->mounts[i].mount_id == mount_id)
			fd = e->mounts[i].fd;
	pthread_mutex_unlock(&e->mounts_lock);
	return fd;
}

int export_reopen(struct export *e)
{
	dev_t dev = e->root_dev;
	ino_t ino = e->root_ino;
	close(e->rootfd);
	for (size_t i = 0; i < e->nmounts; i++)
		close(e->mounts[i].fd);
	e->nmounts = 0;
	int rc = open_root(e);
	if (rc)
		return rc;
	if (e->root_dev != dev || e->root_ino != ino) {
		log_error("export '%s': %s is another directory than before", e->conf->name,
			  e->conf->path);
		return -ESTALE;
	}
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool export_conf_same(const struct export_conf *a, const struct export_conf *b)
{
	return str_eq(a->name, b->name) && str_eq(a->path, b->path) &&
	       a->multidevs == b->multidevs && a->security_model == b->security_model &&
	       a->readonly == b->readonly && a->squash_uid == b->squash_uid &&
	       a->squash_gid == b->squash_gid && str_eq(a->remap_state, b->remap_state) &&
	       idmap_equal(&a->uid_map, &b->uid_map) && idmap_equal(&a->gid_map, &b->gid_map) &&
	       str_eq(a->xattrmap, b->xattrmap) &&
	       !memcmp(&a->throttle, &b->throttle, sizeof a->throttle);
}

void export_save_state(struct export *e)
{
	if (!e->remap || !e->conf->remap_state)
		return;
	char err[256] = "";
	int rc = remap_state_save(e->remap, e->conf->remap_state, err, sizeof err);
	if (rc)
		log_error("export '%s': cannot save remap state to %s: %s", e->conf->name,
			  e->conf->remap_state, err[0] ? err : strerror(-rc));
	else
		log_info("export '%s': remap state saved to %s", e->conf->name,
			 e->conf->remap_state);
}

void export_log_stats(struct export *e)
{
	if (!e->remap)
		return;
	struct remap_stats s;
	remap_get_stats(e->remap, &s);
	log_info("export '%s': multidevs=%s: %llu devices seen, %llu prefixes, "
		 "%llu exact-map entries, %llu forbidden accesses",
		 e->conf->name, multidevs_policy_name(remap_policy(e->remap)),
		 (unsigned long long)s.devices, (unsigned long long)s.prefixes,
		 (unsigned long long)s.exact_entries, (unsigned long long)s.forbidden);
}

bool export_mapped(const struct export *e)
{
	return e->conf->security_model == SECMODEL_MAPPED_XATTR;
}

bool export_is_root(const struct export *e, const struct stat *st)
{
	return st->st_dev == e->root_dev && st->st_ino == e->root_ino;
}

int export_uid_to_host(const struct export *e, uint32_t guest, uid_t *host)
{
	uint32_t id;
	int rc = idmap_to_host(&e->conf->uid_map, guest, &id);
	*host = (uid_t)id;
	return rc;
}

int export_gid_to_host(const struct export *e, uint32_t guest, gid_t *host)
{
	uint32_t id;
	int rc = idmap_to_host(&e->conf->gid_map, guest, &id);
	*host = (gid_t)id;
	return rc;
}

uint32_t export_uid_to_guest(const struct export *e, uid_t host)
{
	return idmap_to_guest(&e->conf->uid_map, host);
}

uint32_t export_gid_to_guest(const struct export *e, gid_t host)
{
	return idmap_to_guest(&e->conf->gid_map, host);
}

bool export_maps_ids(const struct export *e)
{
	return idmap_active(&e->conf->uid_map) || idmap_active(&e->conf->gid_map);
}

bool export_owner_mapped(const struct export *e, uid_t uid, gid_t gid)
{
	return idmap_host_mapped(&e->conf->uid_map, uid) && idmap_host_mapped(&e->conf->gid_map, gid);
}

int export_identity(const struct export *e, const struct user *u, gid_t gid, bool gid_given,
		    struct cred *cred, struct owner *owner)
{
	enum security_model m = e->conf->security_model;
	uid_t uid;
	/* A refused uid is refused under every model: a map is a wall.  The
	 * user's own gid (used when the request names none) only decides
	 * which set-group-ID bits a write clears: one the map refuses
	 * becomes the overflow group, which owns nothing. */
	int rc = export_uid_to_host(e, u->uid, &uid);
	if (rc)
		return rc;
	if (!gid_given && export_gid_to_host(e, u->gid, &gid))
		gid = IDMAP_OVERFLOW_ID;
	*owner = (struct owner){uid, gid, u->uid == 0};
	if (e->has_squash)
		*owner = (struct owner){e->squash_uid, e->squash_gid, false};
	if (m == SECMODEL_MAPPED_XATTR || (m == SECMODEL_NONE && !e->has_squash)) {
		cred->caps = CRED_CAPS_DAEMON;
		cred->uid = (uid_t)-1; /* creds_enter_daemon fills them */
		cred->gid = (gid_t)-1;
	} else if (e->has_squash) {
		cred->uid = e->squash_uid;
		cred->gid = e->squash_gid;
		cred->caps = CRED_CAPS_NONE;
	} else {
		cred->uid = uid;
		cred->gid = gid;
		cred->caps = u->uid != 0 ? CRED_CAPS_CLIENT
			     : uid == 0  ? CRED_CAPS_ROOT
					 : CRED_CAPS_MAPPED_ROOT;
	}
	return 0;
}

static uint8_t qid_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return NP_QTDIR;
	if (S_ISLNK(mode))
		return NP_QTSYMLINK;
	return NP_QTFILE;
}

int export_qid(struct export *e, const struct stat *st, int fd, const char *name,
	       struct np_qid *q)
{
	uint64_t path;
	enum remap_event ev = REMAP_EVENT_NONE;
	int rc = remap_qid_path(e->remap, st->st_dev, st->st_ino, st->st_mode & S_IFMT, &path, &ev);
	if (ev != REMAP_EVENT_NONE) {
		/* Both may hold what a guest named: escaped. */
		char proc[32], path[PATH_MAX], where[1024], shown[1024];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(proc, path, sizeof path);
		log_escape(where, sizeof where, path, n > 0 ? (size_t)n : 0);
		if (name)
			name = log_escape(shown, sizeof shown, name, strlen(name));
		if (ev == REMAP_EVENT_FIRST_FORBIDDEN)
			log_error("export '%s': multidevs=forbid: access to device %u:%u refused "
				  "(EXDEV) at %s%s%s; further refusals are not logged",
				  e->conf->name, major(st->st_dev), minor(st->st_dev), where,
				  name ? "/" : "", name ? name : "");
		else
			log_warn("export '%s': multidevs=%s: second device %u:%u met at %s%s%s; "
				 "inode numbers may collide (use multidevs=remap)",
				 e->conf->name, multidevs_policy_name(remap_policy(e->remap)),
				 major(st->st_dev), minor(st->st_dev), where, name ? "/" : "",
				 name ? name : "");
	}
	if (rc)
		return rc;
	q->type = qid_type(st->st_mode);
	q->version = 0;
	q->path = path;
	return 0;
}
