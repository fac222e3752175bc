/* Tests of server/workq.c, the worker threads: every item runs once and is
 * done once on the loop thread, blocking items spread over the workers,
 * cancellation, shutdown, and what the workers inherit (no threads before
 * the first item, every signal blocked). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "server/workq.h"

struct item {
	struct workq_item it; /* first: the callbacks cast back */
	atomic_int ran;
	int done_calls;
	int status;
	sem_t *started;  /* posted when work begins, if set */
	sem_t *release;  /* work waits for it, if set */
	pthread_barrier_t *barrier;
	bool signals_blocked;
};

static uv_loop_t loop;
static pthread_t loop_thread;
static int done_total, done_off_loop;

static void work(struct workq_item *wi)
{
	struct item *x = (struct item *)wi;
	atomic_fetch_add(&x->ran, 1);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	x->signals_blocked = sigismember(&now, SIGTERM) && sigismember(&now, SIGHUP) &&
			     sigismember(&now, SIGINT);
	if (x->started)
		sem_post(x->started);
	if (x->release)
		sem_wait(x->release);
	if (x->barrier)
		pthread_barrier_wait(x->barrier);
}

static void done(struct workq_item *wi, int status)
{
	struct item *x = (struct item *)wi;
	if (!pthread_equal(pthread_self(), loop_thread))
		done_off_loop++;
	x->done_calls++;
	x->status = status;
	done_total++;
}

static void setup(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	loop_thread = pthread_self();
	done_total = done_off_loop = 0;
}

static void teardown(void)
{
	cr_assert_eq(uv_loop_close(&loop), 0, "a handle of the queue outlived workq_shutdown");
}

static unsigned threads_of_process(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	cr_assert(f);
	char line[256];
	unsigned n = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* An item that holds its worker: gate_init prepares it, gate_started
 * waits until a worker runs it, gate_hold does both around a submission,
 * and gate_open lets it finish. */
struct gate {
	sem_t started, release;
	struct item item;
};

static void gate_init(struct gate *g)
{
	sem_init(&g->started, 0, 0);
	sem_init(&g->release, 0, 0);
	g->item = (struct item){.started = &g->started, .release = &g->release};
}

static void gate_started(struct gate *g)
{
	sem_wait(&g->started);
}

static void gate_hold(struct workq *q, struct gate *g)
{
	gate_init(g);
	workq_submit(q, &g->item.it);
	gate_started(g);
}

static void gate_open(struct gate *g)
{
	sem_post(&g->release);
}

static void gate_destroy(struct gate *g)
{
	sem_destroy(&g->started);
	sem_destroy(&g->release);
}

/* Runs the loop until the queue has no pending item, then shuts it down
 * and runs the loop to its end. */
static void finish(struct workq *q)
{
	while (workq_pending(q))
		uv_run(&loop, UV_RUN_ONCE);
	workq_shutdown(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	workq_free(q);
}

TestSuite(workq, .init = setup, .fini = teardown, .timeout = 30);

Test(workq, every_item_runs_once_and_is_done_once_on_the_loop_thread)
{
	enum { N = 20000 };
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 4, work, done, &q), 0);
	struct item *items = calloc(N, sizeof *items);
	/* Submitted in bursts with loop iterations between them, as requests
	 * arrive from sockets. */
	for (int i = 0; i < N; i++) {
		workq_submit(q, &items[i].it);
		if (i % 64 == 63)
			uv_run(&loop, UV_RUN_NOWAIT);
	}
	finish(q);
	cr_assert_eq(done_total, N);
	cr_assert_eq(done_off_loop, 0, "done() ran on a worker thread");
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&items[i].ran), 1, "item %d ran %d times", i, items[i].ran);
		cr_assert_eq(items[i].done_calls, 1);
		cr_assert_eq(items[i].status, 0);
	}
	free(items);
}

/* Four items that can only finish together (a barrier of four) finish
 * only if four workers run them at once: a burst of blocking requests
 * (creates, fsyncs) must not queue behind one busy thread.  A failure is
 * a hang, ended by the suite's timeout. */
Test(workq, items_that_block_run_on_all_workers_at_once)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 4, work, done, &q), 0);
	/* Start the workers and let them fall asleep, so that the burst
	 * below has to wake them rather than find them searching. */
	struct item first = {0};
	workq_submit(q, &first.it);
	while (workq_pending(q))
		uv_run(&loop, UV_RUN_ONCE);
	usleep(100 * 1000);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 4);
	struct item items[4] = {0};
	for (int i = 0; i < 4; i++) {
		items[i].barrier = &barrier;
		workq_submit(q, &items[i].it);
	}
	finish(q);
	cr_assert_eq(done_total, 5);
	pthread_barrier_destroy(&barrier);
}

Test(workq, a_cancelled_queued_item_never_runs_and_is_done_with_ecanceled)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 1, work, done, &q), 0);
	struct gate busy;
	struct item waiting[3] = {0};
	gate_hold(q, &busy);
	for (int i = 0; i < 3; i++)
		workq_submit(q, &waiting[i].it);
	/* The middle one: the queue must stay linked around it. */
	cr_assert_eq(workq_cancel(q, &waiting[1].it), 0);
	cr_assert_eq(workq_cancel(q, &waiting[1].it), -EBUSY, "cancelled twice");
	gate_open(&busy);
	finish(q);
	cr_assert_eq(atomic_load(&waiting[1].ran), 0);
	cr_assert_eq(waiting[1].done_calls, 1);
	cr_assert_eq(waiting[1].status, -ECANCELED);
	cr_assert_eq(atomic_load(&waiting[0].ran), 1);
	cr_assert_eq(atomic_load(&waiting[2].ran), 1);
	cr_assert_eq(waiting[2].status, 0);
	cr_assert_eq(done_total, 4);
	gate_destroy(&busy);
}

Test(workq, cancelling_the_last_queued_item_keeps_later_submissions_running)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 1, work, done, &q), 0);
	struct gate busy;
	struct item a = {0}, b = {0}, c = {0};
	gate_hold(q, &busy);
	workq_submit(q, &a.it);
	workq_submit(q, &b.it);
	cr_assert_eq(workq_cancel(q, &b.it), 0); /* the tail */
	workq_submit(q, &c.it);                  /* appended after the new tail */
	gate_open(&busy);
	finish(q);
	cr_assert_eq(atomic_load(&a.ran), 1);
	cr_assert_eq(atomic_load(&b.ran), 0);
	cr_assert_eq(atomic_load(&c.ran), 1);
	cr_assert_eq(b.status, -ECANCELED);
	gate_destroy(&busy);
}

Test(workq, a_running_item_cannot_be_cancelled)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 2, work, done, &q), 0);
	struct gate x;
	gate_hold(q, &x);
	cr_assert_eq(workq_cancel(q, &x.item.it), -EBUSY);
	gate_open(&x);
	finish(q);
	cr_assert_eq(x.item.status, 0);
	cr_assert_eq(x.item.done_calls, 1);
	gate_destroy(&x);
}

/* workq_shutdown while items are queued and running: the loop keeps
 * running until every one is done, then ends on its own. */
Test(workq, shutdown_with_items_in_flight_finishes_them_before_the_loop_ends)
{
	enum { N = 500 };
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 3, work, done, &q), 0);
	struct item *items = calloc(N, sizeof *items);
	for (int i = 0; i < N; i++)
		workq_submit(q, &items[i].it);
	workq_shutdown(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(workq_pending(q), 0);
	cr_assert_eq(done_total, N);
	workq_free(q);
	free(items);
}

/* privs_drop() changes credentials and capabilities of one thread only:
 * the process must still have one thread when it runs, after the queue
 * exists. */
Test(workq, no_worker_thread_exists_before_the_first_item)
{
	unsigned before = threads_of_process();
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 4, work, done, &q), 0);
	cr_assert_eq(threads_of_process(), before);
	struct item x = {0};
	workq_submit(q, &x.it);
	cr_assert_eq(threads_of_process(), before + 4);
	finish(q);
	cr_assert_eq(threads_of_process(), before, "workers left after workq_free");
}

/* Signals belong to the loop (uv_signal); a worker's blocking call must
 * not be cut short by one. */
Test(workq, workers_run_with_every_signal_blocked)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 2, work, done, &q), 0);
	struct item x = {0};
	workq_submit(q, &x.it);
	finish(q);
	cr_assert(x.signals_blocked);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	cr_assert_not(sigismember(&now, SIGTERM), "the loop thread's mask was changed");
}

Test(workq, a_queue_that_never_ran_an_item_shuts_down_and_frees)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 4, work, done, &q), 0);
	workq_shutdown(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	workq_free(q);
	workq_free(NULL);
}

/* Cancels half of a long queue in scrambled order (heads, tails, middles,
 * neighbours): the rest still runs, each once, and the queue ends. */
Test(workq, cancelling_half_of_a_long_queue_in_any_order_keeps_the_rest_running)
{
	enum { N = 1000 };
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 1, work, done, &q), 0);
	struct gate busy;
	struct item *items = calloc(N, sizeof *items);
	gate_hold(q, &busy);
	for (int i = 0; i < N; i++)
		workq_submit(q, &items[i].it);
	/* Steps of 7 from the tail: gcd(7, 1000) = 1, so no index twice. */
	bool cancelled[N] = {false};
	for (int k = 0, i = 999; k < N / 2; k++, i = (i + 7) % N) {
		cr_assert_eq(workq_cancel(q, &items[i].it), 0, "item %d", i);
		cancelled[i] = true;
	}
	gate_open(&busy);
	finish(q);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(items[i].done_calls, 1, "item %d", i);
		cr_assert_eq(atomic_load(&items[i].ran), cancelled[i] ? 0 : 1, "item %d", i);
		cr_assert_eq(items[i].status, cancelled[i] ? -ECANCELED : 0, "item %d", i);
	}
	free(items);
	gate_destroy(&busy);
}

/* The item a worker took last leaves the queue for good: cancelling the
 * new head right after must unlink the head, not the running item. */
Test(workq, cancelling_the_head_right_after_a_worker_took_its_predecessor)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, 1, work, done, &q), 0);
	struct gate first, taken;
	struct item head = {0}, last = {0};
	gate_hold(q, &first);
	gate_init(&taken);
	workq_submit(q, &taken.item.it);
	workq_submit(q, &head.it);
	workq_submit(q, &last.it);
	gate_open(&first);
	gate_started(&taken); /* taken is running: head is the queue's head */
	cr_assert_eq(workq_cancel(q, &head.it), 0);
	gate_open(&taken);
	finish(q);
	cr_assert_eq(atomic_load(&head.ran), 0);
	cr_assert_eq(head.status, -ECANCELED);
	cr_assert_eq(atomic_load(&last.ran), 1);
	cr_assert_eq(atomic_load(&taken.item.ran), 1);
	gate_destroy(&first);
	gate_destroy(&taken);
}
