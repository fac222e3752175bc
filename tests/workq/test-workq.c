/* Tests of server/workq.c, the worker threads: every item runs once and is
 * done once on the loop thread, blocking items spread over the workers,
 * cancellation, shutdown, what the workers inherit (no threads before the
 * first item, every signal blocked), and how groups share the workers
 * (round-robin, FIFO within a group, no group on every worker). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "server/workq.h"

struct item {
	struct workq_item it; /* first: the callbacks cast back */
	int id;               /* non-zero: work appends it to order[] */
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
/* The ids of the items that ran, in the order they started. */
static int order[4096];
static atomic_int norder;
/* The groups of the queue under test (new_queue); finish frees those
 * still live. */
static struct workq_group groups[4];
static bool group_live[4];

static void work(struct workq_item *wi)
{
	struct item *x = (struct item *)wi;
	atomic_fetch_add(&x->ran, 1);
	if (x->id)
		order[atomic_fetch_add(&norder, 1)] = x->id;
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
	atomic_store(&norder, 0);
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

static void gate_hold(struct workq *q, struct workq_group *grp, struct gate *g)
{
	gate_init(g);
	workq_submit(q, grp, &g->item.it);
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

/* A queue of nthreads workers with ngroups groups, groups[0] first. */
static struct workq *new_queue(unsigned nthreads, unsigned ngroups)
{
	struct workq *q;
	cr_assert_eq(workq_new(&loop, nthreads, work, done, &q), 0);
	for (unsigned i = 0; i < ngroups; i++) {
		workq_group_init(q, &groups[i]);
		group_live[i] = true;
	}
	return q;
}

static void free_group(struct workq *q, unsigned i)
{
	workq_group_free(q, &groups[i]);
	group_live[i] = false;
}

static void free_groups(struct workq *q)
{
	for (unsigned i = 0; i < 4; i++)
		if (group_live[i])
			free_group(q, i);
}

/* Runs the loop until the queue has no pending item, then shuts it down
 * and runs the loop to its end. */
static void finish(struct workq *q)
{
	while (workq_pending(q))
		uv_run(&loop, UV_RUN_ONCE);
	free_groups(q);
	workq_shutdown(q);
	uv_run(&loop, UV_RUN_DEFAULT);
	workq_free(q);
}

TestSuite(workq, .init = setup, .fini = teardown, .timeout = 30);

Test(workq, every_item_runs_once_and_is_done_once_on_the_loop_thread)
{
	enum { N = 20000 };
	struct workq *q = new_queue(4, 1);
	struct item *items = calloc(N, sizeof *items);
	/* Submitted in bursts with loop iterations between them, as requests
	 * arrive from sockets. */
	for (int i = 0; i < N; i++) {
		workq_submit(q, &groups[0], &items[i].it);
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
 * (creates, fsyncs) must not queue behind one busy thread, and a group
 * alone may use every worker.  A failure is a hang, ended by the suite's
 * timeout. */
Test(workq, items_that_block_run_on_all_workers_at_once)
{
	struct workq *q = new_queue(4, 1);
	/* Start the workers and let them fall asleep, so that the burst
	 * below has to wake them rather than find them searching. */
	struct item first = {0};
	workq_submit(q, &groups[0], &first.it);
	while (workq_pending(q))
		uv_run(&loop, UV_RUN_ONCE);
	usleep(100 * 1000);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 4);
	struct item items[4] = {0};
	for (int i = 0; i < 4; i++) {
		items[i].barrier = &barrier;
		workq_submit(q, &groups[0], &items[i].it);
	}
	finish(q);
	cr_assert_eq(done_total, 5);
	pthread_barrier_destroy(&barrier);
}

Test(workq, a_cancelled_queued_item_never_runs_and_is_done_with_ecanceled)
{
	struct workq *q = new_queue(1, 1);
	struct gate busy;
	struct item waiting[3] = {0};
	gate_hold(q, &groups[0], &busy);
	for (int i = 0; i < 3; i++)
		workq_submit(q, &groups[0], &waiting[i].it);
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
	struct workq *q = new_queue(1, 1);
	struct gate busy;
	struct item a = {0}, b = {0}, c = {0};
	gate_hold(q, &groups[0], &busy);
	workq_submit(q, &groups[0], &a.it);
	workq_submit(q, &groups[0], &b.it);
	cr_assert_eq(workq_cancel(q, &b.it), 0); /* the tail */
	workq_submit(q, &groups[0], &c.it);                  /* appended after the new tail */
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
	struct workq *q = new_queue(2, 1);
	struct gate x;
	gate_hold(q, &groups[0], &x);
	cr_assert_eq(workq_cancel(q, &x.item.it), -EBUSY);
	gate_open(&x);
	finish(q);
	cr_assert_eq(x.item.status, 0);
	cr_assert_eq(x.item.done_calls, 1);
	gate_destroy(&x);
}

/* workq_shutdown while an item runs and many wait in three groups: the
 * loop keeps running until every one is done, then ends on its own. */
Test(workq, shutdown_with_items_queued_in_several_groups_finishes_them_before_the_loop_ends)
{
	enum { N = 600 };
	struct workq *q = new_queue(1, 3);
	struct gate busy;
	struct item *items = calloc(N, sizeof *items);
	/* The one worker held: every item is still queued at the shutdown. */
	gate_hold(q, &groups[0], &busy);
	for (int i = 0; i < N; i++)
		workq_submit(q, &groups[i % 3], &items[i].it);
	workq_shutdown(q);
	gate_open(&busy);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(workq_pending(q), 0);
	cr_assert_eq(done_total, N + 1);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(atomic_load(&items[i].ran), 1, "item %d", i);
		cr_assert_eq(items[i].done_calls, 1, "item %d", i);
	}
	free_groups(q);
	workq_free(q);
	free(items);
	gate_destroy(&busy);
}

/* privs_drop() changes credentials and capabilities of one thread only:
 * the process must still have one thread when it runs, after the queue
 * exists. */
Test(workq, no_worker_thread_exists_before_the_first_item)
{
	unsigned before = threads_of_process();
	struct workq *q = new_queue(4, 1);
	cr_assert_eq(threads_of_process(), before);
	struct item x = {0};
	workq_submit(q, &groups[0], &x.it);
	cr_assert_eq(threads_of_process(), before + 4);
	finish(q);
	cr_assert_eq(threads_of_process(), before, "workers left after workq_free");
}

/* Signals belong to the loop (uv_signal); a worker's blocking call must
 * not be cut short by one. */
Test(workq, workers_run_with_every_signal_blocked)
{
	struct workq *q = new_queue(2, 1);
	struct item x = {0};
	workq_submit(q, &groups[0], &x.it);
	finish(q);
	cr_assert(x.signals_blocked);
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	cr_assert_not(sigismember(&now, SIGTERM), "the loop thread's mask was changed");
}

Test(workq, a_queue_that_never_ran_an_item_shuts_down_and_frees)
{
	struct workq *q = new_queue(4, 1);
	free_groups(q);
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
	struct workq *q = new_queue(1, 1);
	struct gate busy;
	struct item *items = calloc(N, sizeof *items);
	gate_hold(q, &groups[0], &busy);
	for (int i = 0; i < N; i++)
		workq_submit(q, &groups[0], &items[i].it);
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
	struct workq *q = new_queue(1, 1);
	struct gate first, taken;
	struct item head = {0}, last = {0};
	gate_hold(q, &groups[0], &first);
	gate_init(&taken);
	workq_submit(q, &groups[0], &taken.item.it);
	workq_submit(q, &groups[0], &head.it);
	workq_submit(q, &groups[0], &last.it);
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

/* ---- groups: how clients share the workers ---- */

static void expect_order(const int *want, int n)
{
	char got[512] = "", exp[512] = "";
	int len = atomic_load(&norder);
	for (int i = 0, o = 0; i < len && o < (int)sizeof got - 8; i++)
		o += snprintf(got + o, sizeof got - (size_t)o, " %d", order[i]);
	for (int i = 0, o = 0; i < n && o < (int)sizeof exp - 8; i++)
		o += snprintf(exp + o, sizeof exp - (size_t)o, " %d", want[i]);
	cr_assert_eq(len, n, "ran:%s; expected:%s", got, exp);
	for (int i = 0; i < n; i++)
		cr_assert_eq(order[i], want[i], "ran:%s; expected:%s", got, exp);
}

/* Submits n items in order, each to the group its id names: ids are
 * (group + 1) * 10 + position in the group. */
static void submit_by_id(struct workq *q, struct item *it, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		workq_submit(q, &groups[it[i].id / 10 - 1], &it[i].it);
}

/* One worker; three groups with 3, 2 and 1 items queued behind a held
 * item: the worker takes one item of each group in turn. */
Test(workq, groups_with_items_queued_take_turns_one_item_each)
{
	struct workq *q = new_queue(1, 4);
	struct gate busy;
	gate_hold(q, &groups[3], &busy);
	struct item it[] = {{.id = 11}, {.id = 12}, {.id = 13}, {.id = 21}, {.id = 22}, {.id = 31}};
	submit_by_id(q, it, 6);
	gate_open(&busy);
	finish(q);
	expect_order((int[]){11, 21, 31, 12, 22, 13}, 6);
	gate_destroy(&busy);
}

/* The case the groups exist for: a client's one request, sent behind
 * another client's backlog of 200, runs after one more item of that
 * backlog (the backlog's turn), not after all of it. */
Test(workq, an_item_behind_another_groups_backlog_waits_one_turn_not_the_backlog)
{
	enum { N = 200 };
	struct workq *q = new_queue(1, 2);
	struct gate busy;
	gate_hold(q, &groups[0], &busy);
	struct item *backlog = calloc(N, sizeof *backlog);
	for (int i = 0; i < N; i++) {
		backlog[i].id = 1000 + i;
		workq_submit(q, &groups[0], &backlog[i].it);
	}
	struct item lone = {.id = 1};
	workq_submit(q, &groups[1], &lone.it);
	gate_open(&busy);
	finish(q);
	cr_assert_eq(order[0], 1000);
	cr_assert_eq(order[1], 1, "the lone item ran %d-th", order[1]);
	free(backlog);
	gate_destroy(&busy);
}

/* Items of one group start in the order they were submitted, however the
 * submissions of two groups interleave. */
Test(workq, items_of_a_group_start_in_submission_order)
{
	enum { N = 300 };
	struct workq *q = new_queue(1, 2);
	struct gate busy;
	gate_hold(q, &groups[0], &busy);
	struct item *items = calloc(N, sizeof *items);
	int seq[2] = {0, 0};
	for (int i = 0; i < N; i++) {
		int g = (i * 7) % 3 == 0; /* one in three to group 1, unevenly spaced */
		items[i].id = g * 1000 + ++seq[g];
		workq_submit(q, &groups[g], &items[i].it);
	}
	gate_open(&busy);
	finish(q);
	cr_assert_eq(atomic_load(&norder), N);
	int last[2] = {0, 0};
	for (int i = 0; i < N; i++) {
		int g = order[i] / 1000, n = order[i] % 1000;
		cr_assert_eq(n, last[g] + 1, "group %d: item %d ran after item %d", g, n, last[g]);
		last[g] = n;
	}
	free(items);
	gate_destroy(&busy);
}

/* Cancelling queued items of groups: the middle of one, the head of
 * another, and the only item of a third, which leaves the ring with it.
 * The rest still run, in turn. */
Test(workq, cancelling_queued_items_of_groups_keeps_the_others_taking_turns)
{
	struct workq *q = new_queue(1, 4);
	struct gate busy;
	gate_hold(q, &groups[3], &busy);
	struct item it[] = {{.id = 11}, {.id = 12}, {.id = 13}, {.id = 21}, {.id = 22}, {.id = 31}};
	submit_by_id(q, it, 6);
	cr_assert_eq(workq_cancel(q, &it[1].it), 0); /* 12 */
	cr_assert_eq(workq_cancel(q, &it[3].it), 0); /* 21 */
	cr_assert_eq(workq_cancel(q, &it[5].it), 0); /* 31 */
	gate_open(&busy);
	finish(q);
	expect_order((int[]){11, 22, 13}, 3);
	for (unsigned i = 1; i < 6; i += 2) {
		cr_assert_eq(it[i].status, -ECANCELED, "item %d", it[i].id);
		cr_assert_eq(it[i].done_calls, 1, "item %d", it[i].id);
	}
	gate_destroy(&busy);
}

/* A group whose queue empties (by a cancel, or by running) leaves the
 * ring; refilled, it joins again at the back and gets its turns. */
Test(workq, a_group_emptied_and_refilled_rejoins_the_ring_at_the_back)
{
	struct workq *q = new_queue(1, 4);
	struct gate busy, again;
	gate_hold(q, &groups[3], &busy);
	struct item a1 = {.id = 11}, a2 = {.id = 12}, a3 = {.id = 13};
	struct item b1 = {.id = 21}, b2 = {.id = 22}, b3 = {.id = 23}, b4 = {.id = 24};
	workq_submit(q, &groups[0], &a1.it);
	workq_submit(q, &groups[1], &b1.it);
	workq_submit(q, &groups[1], &b2.it);
	workq_submit(q, &groups[1], &b3.it);
	cr_assert_eq(workq_cancel(q, &a1.it), 0);  /* group 0 empty: out of the ring */
	workq_submit(q, &groups[0], &a2.it); /* back in, behind group 1 */
	gate_open(&busy);
	while (workq_pending(q))
		uv_run(&loop, UV_RUN_ONCE);
	expect_order((int[]){21, 12, 22, 23}, 4);
	/* Every group emptied by running: the ring is empty, and fills again
	 * in the order groups submit. */
	gate_hold(q, &groups[3], &again);
	workq_submit(q, &groups[1], &b4.it);
	workq_submit(q, &groups[0], &a3.it);
	gate_open(&again);
	finish(q);
	expect_order((int[]){21, 12, 22, 23, 24, 13}, 6);
	gate_destroy(&busy);
	gate_destroy(&again);
}

static void wait_done(const struct item *x)
{
	while (x->done_calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
}

/* True if sem is posted within ms milliseconds. */
static bool posted_within(sem_t *sem, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	int rc;
	while ((rc = sem_timedwait(sem, &ts)) < 0 && errno == EINTR)
		;
	return rc == 0;
}

/* Round-robin only helps when a worker comes free; items that block long
 * (an fsync, a read from a slow disk) could hold every worker.  So while
 * another group exists, a group runs on all workers but one: the fourth
 * stays free for the other group's item.  Once the other group is gone,
 * the first may use all four again. */
Test(workq, a_group_never_holds_every_worker_while_another_group_exists)
{
	enum { N = 6 };
	struct workq *q = new_queue(4, 2);
	sem_t started, release;
	sem_init(&started, 0, 0);
	sem_init(&release, 0, 0);
	struct item slow[N];
	for (int i = 0; i < N; i++) {
		slow[i] = (struct item){.started = &started, .release = &release};
		workq_submit(q, &groups[0], &slow[i].it);
	}
	for (int i = 0; i < 3; i++)
		cr_assert(posted_within(&started, 5000), "only %d of group 0's items started", i);
	cr_assert_not(posted_within(&started, 200), "group 0 holds all four workers");
	struct item other = {0};
	workq_submit(q, &groups[1], &other.it);
	wait_done(&other); /* a failure is a hang, ended by the suite's timeout */
	cr_assert_eq(other.status, 0);
	free_group(q, 1);
	cr_assert(posted_within(&started, 5000), "group 0 alone did not get the fourth worker");
	for (int i = 0; i < N; i++)
		sem_post(&release);
	finish(q);
	for (int i = 0; i < N; i++)
		cr_assert_eq(atomic_load(&slow[i].ran), 1);
	sem_destroy(&started);
	sem_destroy(&release);
}
