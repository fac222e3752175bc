/* The pool of large reply buffers (bufpool.h).  A small array of idle
 * buffers under one mutex: a get scans at most BUFPOOL_SLOTS entries for
 * the smallest that fits, which costs nothing next to the megabyte the
 * buffer then carries.  Buffers are mapped directly (not malloc'd) so that
 * glibc's trimming never sees them and page-sized rounding is exact. */
#include "server/bufpool.h"

#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (size + page - 1) / page * page;
}

void bufpool_init(struct bufpool *p, size_t max_idle_bytes)
{
	pthread_mutex_init(&p->lock, NULL);
	p->nidle = 0;
	p->idle_bytes = 0;
	p->max_idle_bytes = max_idle_bytes;
	p->used = false;
}

void bufpool_free(struct bufpool *p)
{
	p->used = false;
	bufpool_tick(p);
	pthread_mutex_destroy(&p->lock);
}

void *bufpool_get(struct bufpool *p, size_t size, size_t *cap)
{
	pthread_mutex_lock(&p->lock);
	p->used = true;
	/* The smallest that fits; among equals the one given back last,
	 * whose pages are the likeliest to be in the cache still. */
	unsigned best = p->nidle;
	for (unsigned i = p->nidle; i-- > 0;)
		if (p->idle[i].cap >= size && (best == p->nidle || p->idle[i].cap < p->idle[best].cap))
			best = i;
	if (best < p->nidle) {
		void *base = p->idle[best].base;
		*cap = p->idle[best].cap;
		p->idle_bytes -= *cap;
		p->nidle--;
		for (unsigned i = best; i < p->nidle; i++)
			p->idle[i] = p->idle[i + 1];
		pthread_mutex_unlock(&p->lock);
		return base;
	}
	pthread_mutex_unlock(&p->lock);
	size_t want = page_round(size);
	void *base = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	*cap = want;
	return base;
}

void bufpool_put(struct bufpool *p, void *base, size_t cap)
{
	if (!base)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->nidle < BUFPOOL_SLOTS && p->idle_bytes + cap <= p->max_idle_bytes) {
		p->idle[p->nidle].base = base;
		p->idle[p->nidle].cap = cap;
		p->nidle++;
		p->idle_bytes += cap;
		base = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (base)
		munmap(base, cap);
}

size_t bufpool_tick(struct bufpool *p)
{
	size_t freed = 0;
	pthread_mutex_lock(&p->lock);
	if (p->used) {
		p->used = false;
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	while (p->nidle) {
		p->nidle--;
		munmap(p->idle[p->nidle].base, p->idle[p->nidle].cap);
		freed += p->idle[p->nidle].cap;
	}
	p->idle_bytes = 0;
	pthread_mutex_unlock(&p->lock);
	return freed;
}
