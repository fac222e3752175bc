/* The worker threads that run requests' blocking calls, and the way their
 * results come back to the libuv loop.
 *
 * The loop thread submits items; a worker runs work(item) and queues the
 * item for the loop, which calls done(item, status) from a uv_async
 * callback.  It replaces uv_queue_work, whose cost on small requests was
 * the synchronisation, not the work (docs/benchmarks.md): libuv signals a
 * condition variable per item and wakes one idle thread per item, and
 * every thread of the pool and the loop meet on one mutex.  Here:
 *   - a submission wakes a worker only when no worker is awake looking for
 *     work, so a burst of requests read from one socket read costs one
 *     wake-up; a worker that takes an item and sees more queued wakes one
 *     more (at most one is ever being woken), so items that block in the
 *     file system still spread over the threads;
 *   - each worker sleeps on its own condition variable, so a wake-up wakes
 *     exactly the thread chosen;
 *   - a worker hands a finished item over and takes the next one in the
 *     same critical section, and the loop is woken (uv_async_send) only
 *     when its list of finished items was empty.
 * Items run in submission order; done() runs in the order items finish.
 */
#ifndef NINEPD_SERVER_WORKQ_H
#define NINEPD_SERVER_WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

struct workq_item {
	/* private */
	struct workq_item *next, *prev; /* prev: in the run queue only (O(1) cancel) */
	int state;
	int status;
};

struct workq;
/* Worker thread: the blocking part of an item. */
typedef void (*workq_work_fn)(struct workq_item *it);
/* Loop thread: the item has run (status 0) or was cancelled before it
 * started (status -ECANCELED). */
typedef void (*workq_done_fn)(struct workq_item *it, int status);

/* A queue with up to nthreads workers on loop.  The threads start at the
 * first submission, not here: privs_drop() needs a single-threaded
 * process.  0 or -errno. */
int workq_new(uv_loop_t *loop, unsigned nthreads, workq_work_fn work, workq_done_fn done,
	      struct workq **out);
/* Loop thread.  The item belongs to the queue until done() is called. */
void workq_submit(struct workq *q, struct workq_item *it);
/* Loop thread: 0 if the item had not started (done() gets -ECANCELED on a
 * later loop iteration), -EBUSY if it is running or finished. */
int workq_cancel(struct workq *q, struct workq_item *it);
/* Loop thread: calls done() now for every item that has finished, as the
 * loop would on its next iteration. */
void workq_run_done(struct workq *q);
/* Loop thread: items submitted and not yet given to done(). */
unsigned workq_pending(const struct workq *q);
/* Loop thread: once every item is done, stop the workers and close the
 * loop handle (uv_run can then return).  No submissions after this. */
void workq_shutdown(struct workq *q);
/* After the loop has run the close: joins any worker left, frees q.
 * NULL is a no-op. */
void workq_free(struct workq *q);

#endif
