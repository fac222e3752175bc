/* The worker queue (see workq.h for why it is not uv_queue_work).
 *
 * Everything shared between threads is under q->lock: the queue of items
 * waiting to run, the list of finished items, the stack of sleeping
 * workers and the count of awake workers looking for work.  The loop
 * thread alone touches `pending` and the uv_async handle's life. */
#include "server/workq.h"

#include <errno.h>
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
	struct workq_item *head, *tail;           /* waiting to run */
	struct workq_item *done_head, *done_tail; /* finished, for the loop */
	struct worker *idle;                      /* sleeping workers */
	unsigned searching; /* awake workers not running an item (woken ones count) */
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

/* Under q->lock: takes it out of the run queue, wherever it is (the
 * head, for a worker; anywhere, for a cancel: O(1) either way, as a
 * closing connection cancels each of its queued items). */
static void unlink_queued(struct workq *q, struct workq_item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		q->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		q->tail = it->prev;
	it->prev = NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workq *q = w->q;
	bool notify = false;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct workq_item *it = q->head;
		if (!it && notify) {
			/* The loop hears of finished items before this thread
			 * sleeps, never while it holds the lock. */
			pthread_mutex_unlock(&q->lock);
			uv_async_send(&q->async);
			notify = false;
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (!it) {
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
		unlink_queued(q, it);
		it->state = ITEM_RUNNING;
		q->searching--;
		/* More waiting and nobody else looking: this item may block
		 * (creates, fsync), so let one more thread start on the rest. */
		struct worker *other = q->head && q->searching == 0 ? wake_one(q) : NULL;
		pthread_mutex_unlock(&q->lock);
		signal_worker(other);
		if (notify) {
			uv_async_send(&q->async);
			notify = false;
		}
		q->work(it);
		pthread_mutex_lock(&q->lock);
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
 * blocking call in a worker must not end early with EINTR. */
static void start_workers(struct workq *q)
{
	sigset_t all, old;
	sigfillset(&all);
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

void workq_submit(struct workq *q, struct workq_item *it)
{
	if (!q->started)
		start_workers(q);
	q->pending++;
	it->next = NULL;
	it->state = ITEM_QUEUED;
	pthread_mutex_lock(&q->lock);
	it->prev = q->tail;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	struct worker *w = q->searching == 0 ? wake_one(q) : NULL;
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
