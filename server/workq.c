/* The worker queue (see workq.h for why it is not uv_queue_work, and for
 * how it shares the workers among groups).
 *
 * Everything shared between threads is under q->lock: the groups' queues
 * and the ring of groups with items queued, the list of finished items,
 * the stack of sleeping workers and the count of awake workers looking for
 * work.  The loop thread alone touches `pending` and the uv_async handle's
 * life.
 *
 * A worker looks for work only in the ring: a group is in it exactly while
 * it has items queued, and is taken from in turn (it goes to the back
 * after each item).  A group already running `limit` items is passed over
 * and keeps its place.  Since the limit is all workers but one, at most
 * two groups can be at it at once (the running items of all groups are
 * at most the workers), so finding the next group is O(1). */
#include "server/workq.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

enum { ITEM_QUEUED = 1, ITEM_RUNNING, ITEM_DONE };

struct worker {
	struct workq *q;
	pthread_t thread;
	pthread_cond_t wake;
	bool woken;               /* under q->lock: chosen by wake_one() */
	struct worker *next_idle; /* q->idle stack */
};

struct workq {
	pthread_mutex_t lock;
	struct workq_group *ring_head, *ring_tail; /* groups with items queued */
	struct workq_item *done_head, *done_tail;  /* finished, for the loop */
	struct worker *idle;                      /* sleeping workers */
	unsigned searching; /* awake workers not running an item (woken ones count) */
	unsigned ngroups;   /* groups initialised and not yet freed */
	unsigned limit;     /* items one group may run at once */
	bool stop;
	/* loop thread only */
	uv_async_t async;
	workq_work_fn work;
	workq_done_fn done;
	struct worker *workers;
	unsigned nthreads, started;
	unsigned pending;
	bool shutting_down;
};

/* Under q->lock: chooses a sleeping worker to wake, if any; the caller
 * signals it after unlocking.  It counts as searching from now on, so
 * nobody else wakes a second one for the same work. */
static struct worker *wake_one(struct workq *q)
{
	struct worker *w = q->idle;
	if (!w)
		return NULL;
	q->idle = w->next_idle;
	w->woken = true;
	q->searching++;
	return w;
}

static void signal_worker(struct worker *w)
{
	if (w)
		pthread_cond_signal(&w->wake);
}

/* Under q->lock: true if the loop must be woken for it. */
static bool push_done(struct workq *q, struct workq_item *it, int status)
{
	it->state = ITEM_DONE;
	it->status = status;
	it->next = NULL;
	bool was_empty = !q->done_head;
	if (q->done_tail)
		q->done_tail->next = it;
	else
		q->done_head = it;
	q->done_tail = it;
	return was_empty;
}

/* Under q->lock: all workers but one per group once a second group exists
 * (with a single worker there is nothing to keep free). */
static void update_limit(struct workq *q)
{
	q->limit = q->ngroups > 1 && q->started > 1 ? q->started - 1 : UINT_MAX;
}

static void ring_append(struct workq *q, struct workq_group *g)
{
	g->rnext = NULL;
	g->rprev = q->ring_tail;
	if (q->ring_tail)
		q->ring_tail->rnext = g;
	else
		q->ring_head = g;
	q->ring_tail = g;
}

static void ring_remove(struct workq *q, struct workq_group *g)
{
	if (g->rprev)
		g->rprev->rnext = g->rnext;
	else
		q->ring_head = g->rnext;
	if (g->rnext)
		g->rnext->rprev = g->rprev;
	else
		q->ring_tail = g->rprev;
	g->rnext = g->rprev = NULL;
}

/* Under q->lock: the group whose turn it is, or NULL if no item may start. */
static struct workq_group *next_group(const struct workq *q)
{
	struct workq_group *g = q->ring_head;
	while (g && g->running >= q->limit)
		g = g->rnext;
	return g;
}

/* Under q->lock: takes it out of its group's queue, wherever it is (the
 * head, for a worker; anywhere, for a cancel: O(1) either way, as a
 * closing connection cancels each of its queued items), and the group out
 * of the ring if that was its last. */
static void unlink_queued(struct workq *q, struct workq_item *it)
{
	struct workq_group *g = it->group;
	if (it->prev)
		it->prev->next = it->next;
	else
		g->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		g->tail = it->prev;
	it->prev = NULL;
	if (!g->head)
		ring_remove(q, g);
}

/* Under q->lock, for a worker: the head of g's queue; g goes to the back
 * of the ring if it has more. */
static struct workq_item *take(struct workq *q, struct workq_group *g)
{
	struct workq_item *it = g->head;
	unlink_queued(q, it);
	it->state = ITEM_RUNNING;
	g->running++;
	if (g->head && g != q->ring_tail) {
		ring_remove(q, g);
		ring_append(q, g);
	}
	return it;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workq *q = w->q;
	bool notify = false;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct workq_group *g = next_group(q);
		if (!g && notify) {
			/* The loop hears of finished items before this thread
			 * sleeps, never while it holds the lock. */
			pthread_mutex_unlock(&q->lock);
			uv_async_send(&q->async);
			notify = false;
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (!g) {
			if (q->stop)
				break;
			q->searching--;
			w->woken = false;
			w->next_idle = q->idle;
			q->idle = w;
			while (!w->woken)
				pthread_cond_wait(&w->wake, &q->lock);
			continue; /* wake_one() counted this thread as searching */
		}
		struct workq_item *it = take(q, g);
		q->searching--;
		/* More waiting and nobody else looking: this item may block
		 * (creates, fsync), so let one more thread start on the rest. */
		struct worker *other = next_group(q) && q->searching == 0 ? wake_one(q) : NULL;
		pthread_mutex_unlock(&q->lock);
		signal_worker(other);
		if (notify) {
			uv_async_send(&q->async);
			notify = false;
		}
		q->work(it);
		pthread_mutex_lock(&q->lock);
		g->running--; /* while it is not done: g may be freed after done() */
		notify = push_done(q, it, 0);
		q->searching++;
	}
	q->searching--;
	pthread_mutex_unlock(&q->lock);
	if (notify)
		uv_async_send(&q->async);
	return NULL;
}

/* Workers block every signal: signals are the loop's (uv_signal), and a
 * blocking call in a worker must not end early with EINTR.  All but
 * SIGSYS: --seccomp log's handler must run on the thread whose call was
 * refused (a blocked SIGSYS would kill the process). */
static void start_workers(struct workq *q)
{
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < q->nthreads; i++) {
		struct worker *w = &q->workers[i];
		w->q = q;
		pthread_cond_init(&w->wake, NULL);
		pthread_mutex_lock(&q->lock);
		q->searching++; /* a new thread looks at the queue first */
		pthread_mutex_unlock(&q->lock);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			pthread_mutex_lock(&q->lock);
			q->searching--;
			pthread_mutex_unlock(&q->lock);
			pthread_cond_destroy(&w->wake);
			break;
		}
		q->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_mutex_lock(&q->lock);
	update_limit(q);
	pthread_mutex_unlock(&q->lock);
}

static void stop_workers(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	struct worker *sleeping = q->idle;
	q->idle = NULL;
	for (struct worker *w = sleeping; w; w = w->next_idle) {
		w->woken = true;
		q->searching++;
	}
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->started; i++)
		pthread_cond_signal(&q->workers[i].wake);
	for (unsigned i = 0; i < q->started; i++) {
		pthread_join(q->workers[i].thread, NULL);
		pthread_cond_destroy(&q->workers[i].wake);
	}
	q->started = 0;
}

static void close_cb(uv_handle_t *h)
{
	(void)h; /* q outlives the loop run; workq_free frees it */
}

static void maybe_close(struct workq *q)
{
	if (!q->shutting_down || q->pending || uv_is_closing((uv_handle_t *)&q->async))
		return;
	/* Every item is done, so the workers are idle or about to be: the
	 * join is short, and afterwards no thread can touch the handle. */
	stop_workers(q);
	uv_close((uv_handle_t *)&q->async, close_cb);
}

static void run_done(struct workq *q)
{
	pthread_mutex_lock(&q->lock);
	struct workq_item *it = q->done_head;
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&q->lock);
	while (it) {
		struct workq_item *next = it->next;
		it->next = NULL;
		it->state = 0;
		q->pending--;
		q->done(it, it->status);
		it = next;
	}
}

static void async_cb(uv_async_t *h)
{
	struct workq *q = h->data;
	run_done(q);
	maybe_close(q);
}

void workq_run_done(struct workq *q)
{
	run_done(q);
}

int workq_new(uv_loop_t *loop, unsigned nthreads, workq_work_fn work, workq_done_fn done,
	      struct workq **out)
{
	struct workq *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	q->nthreads = nthreads ? nthreads : 1;
	q->workers = calloc(q->nthreads, sizeof *q->workers);
	if (!q->workers) {
		free(q);
		return -ENOMEM;
	}
	q->work = work;
	q->done = done;
	update_limit(q);
	pthread_mutex_init(&q->lock, NULL);
	int rc = uv_async_init(loop, &q->async, async_cb);
	if (rc) {
		pthread_mutex_destroy(&q->lock);
		free(q->workers);
		free(q);
		return rc;
	}
	q->async.data = q;
	*out = q;
	return 0;
}

void workq_group_init(struct workq *q, struct workq_group *g)
{
	*g = (struct workq_group){0};
	pthread_mutex_lock(&q->lock);
	q->ngroups++;
	update_limit(q);
	pthread_mutex_unlock(&q->lock);
}

void workq_group_free(struct workq *q, struct workq_group *g)
{
	(void)g;
	pthread_mutex_lock(&q->lock);
	q->ngroups--;
	update_limit(q);
	/* A group held at the old limit may start another item now. */
	struct worker *w = next_group(q) && q->searching == 0 ? wake_one(q) : NULL;
	pthread_mutex_unlock(&q->lock);
	signal_worker(w);
}

void workq_submit(struct workq *q, struct workq_group *g, struct workq_item *it)
{
	if (!q->started)
		start_workers(q);
	q->pending++;
	it->next = NULL;
	it->group = g;
	it->state = ITEM_QUEUED;
	pthread_mutex_lock(&q->lock);
	it->prev = g->tail;
	if (g->tail) {
		g->tail->next = it;
	} else {
		g->head = it;
		ring_append(q, g);
	}
	g->tail = it;
	/* Nobody to wake for a group at its limit: one of its running items
	 * will finish, and that worker takes the next. */
	struct worker *w = q->searching == 0 && g->running < q->limit ? wake_one(q) : NULL;
	pthread_mutex_unlock(&q->lock);
	signal_worker(w);
}

int workq_cancel(struct workq *q, struct workq_item *it)
{
	pthread_mutex_lock(&q->lock);
	if (it->state != ITEM_QUEUED) {
		pthread_mutex_unlock(&q->lock);
		return -EBUSY;
	}
	unlink_queued(q, it);
	bool notify = push_done(q, it, -ECANCELED);
	pthread_mutex_unlock(&q->lock);
	if (notify)
		uv_async_send(&q->async);
	return 0;
}

unsigned workq_pending(const struct workq *q)
{
	return q->pending;
}

void workq_shutdown(struct workq *q)
{
	q->shutting_down = true;
	maybe_close(q);
}

void workq_free(struct workq *q)
{
	if (!q)
		return;
	if (q->started)
		stop_workers(q);
	pthread_mutex_destroy(&q->lock);
	free(q->workers);
	free(q);
}
