/* Large reply buffers kept mapped from one request to the next.
 *
 * A 1 MiB Rread needs a 1 MiB buffer.  Taken from malloc, it came from the
 * worker's arena and went back to it from the loop thread; with several
 * such reads in flight the freed tops of the arenas passed glibc's trim
 * threshold, free() gave them back with madvise(MADV_DONTNEED) (6–11 MiB
 * at a time, about once per ten reads at depth 16), and the next reads
 * faulted every page in again (zeroed and charged to the memory cgroup)
 * while the madvise shot down the other threads' TLBs: the server's CPU
 * per read grew with the depth (docs/benchmarks.md, issue 19).  The pool
 * maps each buffer once and hands it out again; buffers nobody has asked
 * for since the last bufpool_tick() are given back to the kernel, so an
 * idle daemon does not keep a burst's memory.
 *
 * Thread-safe: workers take buffers (req_out_reserve), the loop thread
 * gives them back (req_release) and ticks. */
#ifndef NINEPD_SERVER_BUFPOOL_H
#define NINEPD_SERVER_BUFPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define BUFPOOL_SLOTS 128

struct bufpool {
	/* private: under lock */
	pthread_mutex_t lock;
	struct {
		void *base;
		size_t cap;
	} idle[BUFPOOL_SLOTS];
	unsigned nidle;
	size_t idle_bytes;
	size_t max_idle_bytes; /* past it, a buffer given back is unmapped */
	bool used;             /* a buffer was taken since the last tick */
};

/* An empty pool that keeps at most max_idle_bytes of idle buffers. */
void bufpool_init(struct bufpool *p, size_t max_idle_bytes);
/* Unmaps every idle buffer; none may be out. */
void bufpool_free(struct bufpool *p);
/* A buffer of at least size bytes (*cap says how many), or NULL. */
void *bufpool_get(struct bufpool *p, size_t size, size_t *cap);
/* Gives back a buffer bufpool_get returned, with its cap.  NULL is a no-op. */
void bufpool_put(struct bufpool *p, void *base, size_t cap);
/* Called now and then (every second): if no buffer was taken since the
 * last call, the idle ones are unmapped.  Returns the bytes unmapped. */
size_t bufpool_tick(struct bufpool *p);

#endif
