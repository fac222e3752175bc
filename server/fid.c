/* Fids (fid.h): the per-connection table, a chained hash keyed by fid
 * number grown at a load factor of 1, and the pool of the descriptors fids
 * hold.  Loop thread only, but fid_reopen (a worker, on a fid its request
 * holds). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/backend.h"
#include "server/fid.h"

void fid_table_init(struct fid_table *t, struct fid_pool *pool)
{
	t->buckets = NULL;
	t->nbuckets = 0;
	t->count = 0;
	t->pool = pool;
}

/* ---- the pool's idle list ---- */

static void lru_unlink(struct fid_pool *p, struct fid *f)
{
	if (!f->in_lru)
		return;
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		p->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		p->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
	f->in_lru = false;
}

/* A fid whose only descriptor is an O_PATH one it could do without. */
static bool reclaimable(const struct fid *f)
{
	return f->kind == FID_FILE && !f->keeps_fd && f->fd < 0 && f->pathfd >= 0;
}

/* Makes f the most recently used, if it can give its descriptor back. */
static void lru_touch(struct fid_pool *p, struct fid *f)
{
	lru_unlink(p, f);
	if (!p->cap || !p->can_reopen || !reclaimable(f))
		return;
	f->lru_prev = p->lru_tail;
	if (p->lru_tail)
		p->lru_tail->lru_next = f;
	else
		p->lru_head = f;
	p->lru_tail = f;
	f->in_lru = true;
}

unsigned fid_fd_count(const struct fid *f)
{
	return (f->pathfd >= 0) + (f->fd >= 0);
}

static uint32_t fid_hash(uint32_t num, uint32_t nbuckets)
{
	return (num * 2654435761u) & (nbuckets - 1);
}

struct fid *fid_lookup(struct fid_table *t, uint32_t num)
{
	if (!t->nbuckets)
		return NULL;
	for (struct fid *f = t->buckets[fid_hash(num, t->nbuckets)]; f; f = f->hnext)
		if (f->num == num)
			return f;
	return NULL;
}

static int fid_table_grow(struct fid_table *t)
{
	uint32_t n = t->nbuckets ? t->nbuckets * 2 : 16;
	struct fid **b = calloc(n, sizeof *b);
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct fid *f = t->buckets[i];
		while (f) {
			struct fid *next = f->hnext;
			uint32_t h = fid_hash(f->num, n);
			f->hnext = b[h];
			b[h] = f;
			f = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

/* Takes over the caller's reference.  -EEXIST if the number is in use. */
int fid_insert(struct fid_table *t, struct fid *f)
{
	if (fid_lookup(t, f->num))
		return -EEXIST;
	if (t->count >= t->nbuckets) {
		int rc = fid_table_grow(t);
		if (rc)
			return rc;
	}
	uint32_t h = fid_hash(f->num, t->nbuckets);
	f->hnext = t->buckets[h];
	t->buckets[h] = f;
	t->count++;
	f->table_fds = (uint8_t)fid_fd_count(f);
	t->pool->open_fds += f->table_fds;
	lru_touch(t->pool, f);
	return 0;
}

void fid_table_recount(struct fid_table *t, struct fid *f)
{
	if (!f || fid_lookup(t, f->num) != f)
		return;
	unsigned now = fid_fd_count(f);
	t->pool->open_fds = t->pool->open_fds - f->table_fds + now;
	f->table_fds = (uint8_t)now;
	lru_touch(t->pool, f);
}

size_t fid_pool_reclaim(struct fid_pool *p, size_t target)
{
	size_t given = 0;
	for (struct fid *f = p->lru_head, *next; f && p->open_fds > target; f = next) {
		next = f->lru_next;
		if (f->refs > 1)
			continue; /* a request holds it: it stays, and moves up when done */
		if (!f->handle && be_name_handle(f->pathfd, &f->handle, &f->mount_id) != 0) {
			f->keeps_fd = true; /* no handles on its file system */
			lru_unlink(p, f);
			continue;
		}
		int rc = export_mount_fd_from(f->exp, f->mount_id, f->pathfd);
		if (rc == -EOPNOTSUPP) {
			/* A special file on a mount the export has no descriptor on
			 * yet: it keeps its own, rather than be looked at again. */
			f->keeps_fd = true;
			lru_unlink(p, f);
			continue;
		}
		if (rc)
			continue; /* out of descriptors now: a later round may do it */
		lru_unlink(p, f);
		close(f->pathfd);
		f->pathfd = -1;
		f->table_fds--;
		p->open_fds--;
		p->reclaimed++;
		given++;
	}
	return given;
}

int fid_reopen(struct fid *f)
{
	if (f->pathfd >= 0 || !f->handle)
		return 0;
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	if (f->pathfd < 0) {
		/* open_by_handle_at takes cap_dac_read_search, which not every
		 * request's credentials hold: the daemon reopens, then the
		 * request runs as itself (dispatch_work). */
		rc = creds_enter_reopen();
		int fd = rc ? rc : be_open_handle(export_mount_fd(f->exp, f->mount_id), f->handle);
		if (fd >= 0)
			f->pathfd = fd;
		else
			rc = fd;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Unlinks and returns the table's reference (NULL if absent). */
struct fid *fid_remove(struct fid_table *t, uint32_t num)
{
	if (!t->nbuckets)
		return NULL;
	struct fid **pp = &t->buckets[fid_hash(num, t->nbuckets)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct fid *f = *pp;
		if (f->num == num) {
			*pp = f->hnext;
			f->hnext = NULL;
			t->count--;
			t->pool->open_fds -= f->table_fds;
			lru_unlink(t->pool, f);
			return f;
		}
	}
	return NULL;
}

/* Drops the table's reference on every fid (Tversion, disconnect). */
void fid_table_free(struct fid_table *t)
{
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct fid *f = t->buckets[i];
		while (f) {
			struct fid *next = f->hnext;
			f->hnext = NULL;
			t->pool->open_fds -= f->table_fds;
			lru_unlink(t->pool, f);
			fid_unref(f);
			f = next;
		}
	}
	free(t->buckets);
	fid_table_init(t, t->pool);
}

struct fid *fid_new(uint32_t num)
{
	struct fid *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->num = num;
	f->refs = 1;
	f->pathfd = -1;
	f->fd = -1;
	f->dirpos = -1;
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

struct fid *fid_like(uint32_t num, const struct fid *like)
{
	struct fid *f = fid_new(num);
	if (f && like) {
		f->exp = like->exp;
		f->user = like->user;
	}
	return f;
}

bool fid_table_uses(const struct fid_table *t, const struct export *e)
{
	for (uint32_t i = 0; i < t->nbuckets; i++)
		for (const struct fid *f = t->buckets[i]; f; f = f->hnext)
			if (f->exp == e)
				return true;
	return false;
}

struct fid *fid_ref(struct fid *f)
{
	if (f)
		f->refs++;
	return f;
}

void fid_unref(struct fid *f)
{
	if (!f || --f->refs > 0)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->pathfd >= 0)
		close(f->pathfd);
	pthread_mutex_destroy(&f->lock);
	if (f->xa) {
		if (f->xa->account)
			atomic_fetch_sub(f->xa->account, f->xa->charged);
		free(f->xa->name);
		free(f->xa->buf);
		free(f->xa);
	}
	free(f->handle);
	free(f);
}

int fid_make_xattr(struct fid *f, enum fid_kind kind)
{
	f->xa = calloc(1, sizeof *f->xa);
	if (!f->xa)
		return -ENOMEM;
	f->kind = kind;
	return 0;
}

int fid_charge_xattr(struct fid *f, atomic_size_t *account, size_t n)
{
	struct fid_xattr *x = f->xa;
	if (x->account) {
		atomic_fetch_sub(x->account, x->charged);
		x->charged = 0;
	}
	x->account = account;
	size_t before = atomic_fetch_add(account, n);
	if (before + n > CONN_XATTR_MAX) {
		atomic_fetch_sub(account, n);
		return -ENOMEM;
	}
	x->charged = n;
	return 0;
}
