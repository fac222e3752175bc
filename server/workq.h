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
 *
 * Fairness: every item belongs to a group (a client connection), and one
 * group's backlog must not delay the others.  Each group queues its own
 * items, and a free worker takes the head of the next group in a ring of
 * the groups with items queued: round-robin, one item per turn, so an item
 * of a group waits for at most one turn of every other group, not for
 * their whole backlogs.  Round-robin counts items, not their cost: what a
 * request costs (a getattr or an fsync of a large dirty file) is not known
 * before it runs.  Turns alone do not help a group that finds every worker
 * busy with another group's slow items, so while more than one group
 * exists, no group runs on more than all workers but one: a client alone
 * in a burst of another's fsyncs still finds a worker free.  (Against two
 * such bursts it waits for a worker to come free, then for one turn of
 * each.)
 *
 * Items of one group start in submission order (several may run at once on
 * different workers); done() runs in the order items finish.
 */
#ifndef NINEPD_SERVER_WORKQ_H
#define NINEPD_SERVER_WORKQ_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

struct workq_group;

struct workq_item {
	/* private */
	struct workq_item *next, *prev; /* prev: in its group's queue only (O(1) cancel) */
	struct workq_group *group;
	int state;
	int status;
};

/* The items of one client, served in turn with the other groups'.  Owned
 * by its user (embedded in a connection); workq_group_init before the
 * first submission, workq_group_free once none of its items is pending. */
struct workq_group {
	/* private: under the queue's lock */
	struct workq_item *head, *tail;    /* queued, in submission order */
	struct workq_group *rnext, *rprev; /* the ring, while head != NULL */
	unsigned running;                  /* items of the group on a worker */
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
/* Loop thread: g becomes one of the groups q serves in turn. */
void workq_group_init(struct workq *q, struct workq_group *g);
/* Loop thread: g leaves q; no item of g may be pending (its done() has run
 * for every item submitted). */
void workq_group_free(struct workq *q, struct workq_group *g);
/* Loop thread: queues it behind g's other items.  The item belongs to the
 * queue until done() is called. */
void workq_submit(struct workq *q, struct workq_group *g, struct workq_item *it);
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
