/* The load generator's engine: sessions, the pipelined send/receive loop
 * (client threads, each polling its share of the connections with epoll),
 * the latency histogram and one timed run.  See loadgen.h. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define LG_IN_INITIAL (64u << 10)
#define LG_OUT_INITIAL (16u << 10)

/* --- histogram ----------------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
	if (v < (1u << LG_HIST_SUB))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned i = ((msb - LG_HIST_SUB + 1) << LG_HIST_SUB) +
		     (unsigned)((v >> (msb - LG_HIST_SUB)) & ((1u << LG_HIST_SUB) - 1));
	return i < LG_HIST_BUCKETS ? i : LG_HIST_BUCKETS - 1;
}

/* The middle of bucket i, the inverse of hist_index(). */
static double hist_value(unsigned i)
{
	if (i < (1u << LG_HIST_SUB))
		return i;
	unsigned msb = (i >> LG_HIST_SUB) + LG_HIST_SUB - 1;
	uint64_t sub = i & ((1u << LG_HIST_SUB) - 1);
	uint64_t lo = (1ull << msb) + (sub << (msb - LG_HIST_SUB));
	return (double)lo + (double)(1ull << (msb - LG_HIST_SUB)) / 2.0;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
}

void lg_hist_merge(struct lg_hist *into, const struct lg_hist *from)
{
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
}

double lg_hist_quantile(const struct lg_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return hist_value(LG_HIST_BUCKETS - 1);
}

uint64_t lg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double lg_cpu_seconds(int pid)
{
	if (pid == 0) {
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru))
			return NAN;
		return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	}
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "(comm)": state is the 3rd, utime the 14th, stime the 15th. */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --- sessions ------------------------------------------------------------ */

int lg_connect(const struct lg_target *t, uint32_t msize, struct np_client **out)
{
	int rc = np_session(out, t->addr, msize, t->aname, 0, LG_ROOT_FID);
	if (rc == 0)
		(*out)->timeout_ms = 30000;
	return rc;
}

/* --- the run's shared state and the client threads ------------------------ */

enum { PHASE_WARMUP = 0, PHASE_MEASURE, PHASE_STOP };

struct lg_shared {
	const struct lg_params *p;
	atomic_int phase;
	atomic_uint_least64_t started; /* operations started (for max_ops) */
	atomic_int failed;             /* a thread hit an error */
};

struct lg_thread {
	pthread_t tid;
	struct lg_shared *sh;
	struct lg_conn **conns;
	unsigned nconns;
	int epfd;
	unsigned inflight;             /* busy slots over all its connections */
	uint64_t ops, bytes;
	uint64_t last_done;            /* time of the last completion (ns) */
	struct lg_hist hist;
	int err;
	char errmsg[256];
};

/* Fails the run: keeps the thread's first error ("<what>: <strerror>") and
 * tells every thread to stop starting operations. */
__attribute__((format(printf, 3, 4)))
static void thread_fail(struct lg_thread *th, int err, const char *fmt, ...)
{
	if (!th->err) {
		th->err = err ? err : -EPROTO;
		char what[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof what, fmt, ap);
		va_end(ap);
		snprintf(th->errmsg, sizeof th->errmsg, "%s: %s", what, strerror(-th->err));
	}
	atomic_store(&th->sh->failed, 1);
	atomic_store(&th->sh->phase, PHASE_STOP);
}

/* Appends request *t to the connection's send buffer. */
static int conn_queue(struct lg_conn *c, struct lg_slot *s, struct np_msg *t)
{
	t->tag = s->tag;
	s->sent = t->type;
	s->may_fail = t->type == NP_TUNLINKAT;
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	for (;;) {
		int n = np_encode(t, c->out + c->outlen, c->outcap - c->outlen);
		if (n >= 0) {
			c->outlen += (size_t)n;
			return 0;
		}
		if (n != NP_E_NO_SPACE)
			return -EINVAL;
		if (c->outoff > 0) {
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
			continue;
		}
		size_t cap = c->outcap * 2;
		uint8_t *b = realloc(c->out, cap);
		if (!b)
			return -ENOMEM;
		c->out = b;
		c->outcap = cap;
	}
}

static void conn_watch_out(struct lg_thread *th, struct lg_conn *c, bool on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(th->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = on;
}

/* Sends as much of the send buffer as the socket takes. */
static int conn_flush(struct lg_thread *th, struct lg_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_watch_out(th, c, true);
			return 0;
		}
		return n < 0 ? -errno : -ECONNRESET;
	}
	c->outoff = c->outlen = 0;
	conn_watch_out(th, c, false);
	return 0;
}

/* Starts the next operation on slot s unless the run is stopping. */
static int slot_start(struct lg_thread *th, struct lg_conn *c, struct lg_slot *s)
{
	const struct lg_params *p = th->sh->p;
	bool go = atomic_load_explicit(&th->sh->phase, memory_order_relaxed) != PHASE_STOP;
	if (go && p->max_ops)
		go = atomic_fetch_add(&th->sh->started, 1) < p->max_ops;
	if (!go) {
		if (s->busy) {
			s->busy = false;
			th->inflight--;
		}
		return 0;
	}
	if (!s->busy) {
		s->busy = true;
		th->inflight++;
	}
	s->step = 0;
	s->ustep = 0;
	s->done = 0;
	s->seq++;
	s->t0 = lg_now_ns();
	struct np_msg t;
	memset(&t, 0, sizeof t);
	p->w->start(c, s, &t);
	return conn_queue(c, s, &t);
}

/* One reply: advance its slot's chain, finish or fail the operation. */
static int conn_reply(struct lg_thread *th, struct lg_conn *c, const struct np_msg *r)
{
	const struct lg_params *p = th->sh->p;
	if (r->tag >= c->nslots || !c->slots[r->tag].busy) {
		thread_fail(th, -EPROTO, "%s: %s with a tag (%u) not in flight", p->w->name,
			    np_type_name(r->type), r->tag);
		return -EPROTO;
	}
	struct lg_slot *s = &c->slots[r->tag];
	uint8_t want = (uint8_t)(s->sent + 1);
	int rc;
	if (r->type == NP_RLERROR && !s->may_fail) {
		rc = -(int)r->u.rlerror.ecode;
		thread_fail(th, rc ? rc : -EPROTO, "%s: %s answered Rlerror", p->w->name,
			    np_type_name(s->sent));
		s->busy = false;
		th->inflight--;
		return 0;
	}
	if (r->type != want && r->type != NP_RLERROR) {
		const char *got = np_type_name(r->type);
		thread_fail(th, -EPROTO, "%s: %s answered by %s", p->w->name,
			    np_type_name(s->sent), got ? got : "?");
		s->busy = false;
		th->inflight--;
		return 0;
	}
	struct np_msg t;
	memset(&t, 0, sizeof t);
	rc = p->w->next(c, s, r, &t);
	if (rc == LG_MORE)
		return conn_queue(c, s, &t);
	if (rc < 0) {
		thread_fail(th, rc, "%s: unexpected reply to %s", p->w->name,
			    np_type_name(s->sent));
		s->busy = false;
		th->inflight--;
		return 0;
	}
	uint64_t now = lg_now_ns();
	if (atomic_load_explicit(&th->sh->phase, memory_order_relaxed) == PHASE_MEASURE ||
	    (p->max_ops && atomic_load_explicit(&th->sh->phase, memory_order_relaxed) != PHASE_WARMUP)) {
		th->ops++;
		th->bytes += s->done;
		lg_hist_add(&th->hist, now - s->t0);
		th->last_done = now;
	}
	return slot_start(th, c, s);
}

/* Reads what the socket has and handles every complete frame. */
static int conn_read(struct lg_thread *th, struct lg_conn *c)
{
	for (;;) {
		if (c->inlen == c->incap) {
			size_t cap = c->incap * 2;
			uint8_t *b = realloc(c->in, cap);
			if (!b)
				return -ENOMEM;
			c->in = b;
			c->incap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->inlen += (size_t)n;
		size_t pos = 0;
		while (c->inlen - pos >= 4) {
			const uint8_t *f = c->in + pos;
			uint32_t size = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 |
					(uint32_t)f[3] << 24;
			if (size < NP_HDRSZ || size > c->msize)
				return -EPROTO;
			if (c->inlen - pos < size) {
				if (size > c->incap) {
					/* Room for the whole frame, so the next
					 * recv can complete it. */
					uint8_t *b = realloc(c->in, size);
					if (!b)
						return -ENOMEM;
					c->in = b;
					c->incap = size;
					f = c->in + pos;
				}
				break;
			}
			struct np_msg m;
			if (np_decode(f, size, c->msize, &m) < 0)
				return -EPROTO;
			int rc = conn_reply(th, c, &m);
			if (rc < 0)
				return rc;
			pos += size;
		}
		if (pos) {
			memmove(c->in, c->in + pos, c->inlen - pos);
			c->inlen -= pos;
		}
		if (c->inlen < c->incap)
			return 0; /* drained what was there; epoll says when more comes */
	}
}

static void *thread_main(void *arg)
{
	struct lg_thread *th = arg;
	for (unsigned i = 0; i < th->nconns; i++) {
		struct lg_conn *c = th->conns[i];
		for (unsigned k = 0; k < c->nslots; k++) {
			int rc = slot_start(th, c, &c->slots[k]);
			if (rc < 0) {
				thread_fail(th, rc, "%s: queueing", th->sh->p->w->name);
				break;
			}
		}
		int rc = conn_flush(th, c);
		if (rc < 0)
			thread_fail(th, rc, "%s: send", th->sh->p->w->name);
	}
	struct epoll_event evs[64];
	while (th->inflight > 0) {
		int n = epoll_wait(th->epfd, evs, 64, 1000);
		if (n < 0 && errno != EINTR) {
			thread_fail(th, -errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct lg_conn *c = evs[i].data.ptr;
			if (c->dead)
				continue;
			int rc = 0;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				rc = conn_read(th, c);
			if (rc == 0)
				rc = conn_flush(th, c);
			if (rc < 0) {
				/* A connection that broke drops its slots: the run
				 * has failed, but the others still drain. */
				thread_fail(th, rc, "%s: connection %s", th->sh->p->w->name,
					    rc == -ECONNRESET ? "closed by the server" : "failed");
				c->dead = true;
				epoll_ctl(th->epfd, EPOLL_CTL_DEL, c->fd, NULL);
				for (unsigned k = 0; k < c->nslots; k++) {
					if (c->slots[k].busy) {
						c->slots[k].busy = false;
						th->inflight--;
					}
				}
			}
		}
	}
	return NULL;
}

/* --- one run ------------------------------------------------------------- */

static void conn_free(struct lg_conn *c)
{
	if (!c)
		return;
	np_client_close(c->cl);
	free(c->slots);
	free(c->in);
	free(c->out);
	free(c);
}

/* Connects, negotiates, attaches and runs the workload's set-up; on
 * failure says which of those failed in errmsg. */
static int conn_open(const struct lg_target *t, const struct lg_params *p, int index,
		     struct lg_conn **out, char *errmsg, size_t errcap)
{
	struct lg_conn *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	*out = c;
	c->index = index;
	c->run_id = p->run_id;
	c->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1) ^ p->run_id;
	c->nslots = p->depth;
	c->slots = calloc(p->depth, sizeof *c->slots);
	c->incap = LG_IN_INITIAL;
	c->in = malloc(c->incap);
	c->outcap = LG_OUT_INITIAL;
	c->out = malloc(c->outcap);
	if (!c->slots || !c->in || !c->out)
		return -ENOMEM;
	for (unsigned k = 0; k < p->depth; k++) {
		c->slots[k].conn = c;
		c->slots[k].tag = (uint16_t)k;
		c->slots[k].fid = LG_SLOT_FID_BASE + k * LG_SLOT_FIDS;
	}
	int rc = lg_connect(t, p->msize, &c->cl);
	if (rc) {
		snprintf(errmsg, errcap, "%s: connection %d to %.80s (version, attach '%.60s'): %s",
			 p->w->name, index, t->addr, t->aname, strerror(-rc));
		return rc;
	}
	c->fd = c->cl->fd;
	/* Requests are written in batches already: Nagle would only delay
	 * them (a unix socket refuses the option, which is fine). */
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->msize = c->cl->msize;
	c->iosize = c->msize - LG_IOHDRSZ;
	rc = p->w->setup ? p->w->setup(c) : 0;
	if (rc)
		snprintf(errmsg, errcap, "%s: set-up on connection %d: %s (is the export prepared?)",
			 p->w->name, index, strerror(-rc));
	return rc;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lg_run(const struct lg_target *t, const struct lg_params *p, struct lg_result *res)
{
	memset(res, 0, sizeof *res);
	res->server_cpu = res->client_cpu = NAN;
	struct lg_shared sh = {.p = p};
	unsigned nth = p->threads ? p->threads : 1;
	if (nth > p->conns)
		nth = p->conns;
	struct lg_conn **conns = calloc(p->conns, sizeof *conns);
	struct lg_thread *ths = calloc(nth, sizeof *ths);
	int rc = conns && ths ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < p->conns; i++) {
		rc = conn_open(t, p, (int)i, &conns[i], res->errmsg, sizeof res->errmsg);
	}
	if (rc == 0)
		res->msize = conns[0]->msize;

	for (unsigned i = 0; rc == 0 && i < nth; i++) {
		struct lg_thread *th = &ths[i];
		th->sh = &sh;
		th->conns = calloc(p->conns / nth + 1, sizeof *th->conns);
		th->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!th->conns || th->epfd < 0)
			rc = -ENOMEM;
	}
	for (unsigned i = 0; rc == 0 && i < p->conns; i++) {
		struct lg_thread *th = &ths[i % nth];
		struct lg_conn *c = conns[i];
		c->th = th;
		th->conns[th->nconns++] = c;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(th->epfd, EPOLL_CTL_ADD, c->fd, &ev))
			rc = -errno;
	}

	uint64_t t_measure = 0, t_stop = 0;
	unsigned started = 0;
	if (rc == 0) {
		if (p->max_ops)
			atomic_store(&sh.phase, PHASE_MEASURE);
		t_measure = lg_now_ns();
		for (; started < nth; started++) {
			if (pthread_create(&ths[started].tid, NULL, thread_main, &ths[started])) {
				rc = -EAGAIN;
				atomic_store(&sh.phase, PHASE_STOP);
				break;
			}
		}
		double srv0 = t->pid ? lg_cpu_seconds(t->pid) : NAN, cli0 = lg_cpu_seconds(0);
		if (!p->max_ops) {
			sleep_s(p->warmup);
			srv0 = t->pid ? lg_cpu_seconds(t->pid) : NAN;
			cli0 = lg_cpu_seconds(0);
			t_measure = lg_now_ns();
			atomic_store(&sh.phase, PHASE_MEASURE);
			/* Sleep in small steps so a failed run ends early. */
			double left = p->seconds;
			while (left > 0 && !atomic_load(&sh.failed) &&
			       !(p->until && atomic_load(p->until))) {
				sleep_s(left < 0.05 ? left : 0.05);
				left -= 0.05;
			}
			t_stop = lg_now_ns();
			atomic_store(&sh.phase, PHASE_STOP);
			res->server_cpu = (t->pid ? lg_cpu_seconds(t->pid) : NAN) - srv0;
			res->client_cpu = lg_cpu_seconds(0) - cli0;
		}
		for (unsigned i = 0; i < started; i++)
			pthread_join(ths[i].tid, NULL);
		if (p->max_ops) {
			res->server_cpu = (t->pid ? lg_cpu_seconds(t->pid) : NAN) - srv0;
			res->client_cpu = lg_cpu_seconds(0) - cli0;
		}
	}
	for (unsigned i = 0; i < nth && ths; i++) {
		struct lg_thread *th = &ths[i];
		res->ops += th->ops;
		res->bytes += th->bytes;
		lg_hist_merge(&res->hist, &th->hist);
		if (p->max_ops && th->last_done > t_stop)
			t_stop = th->last_done;
		if (th->err && rc == 0) {
			rc = th->err;
			snprintf(res->errmsg, sizeof res->errmsg, "%s", th->errmsg);
		}
	}
	res->seconds = t_stop > t_measure ? (double)(t_stop - t_measure) / 1e9 : 0;

	/* Set-up and teardown are synchronous; every reply has arrived, so
	 * the np_client buffers are in step again. */
	for (unsigned i = 0; conns && i < p->conns; i++) {
		if (conns[i] && conns[i]->cl && !conns[i]->dead && p->w->teardown && rc == 0)
			p->w->teardown(conns[i]);
		conn_free(conns[i]);
	}
	for (unsigned i = 0; ths && i < nth; i++) {
		free(ths[i].conns);
		if (ths[i].epfd > 0)
			close(ths[i].epfd);
	}
	free(ths);
	free(conns);
	res->err = rc;
	if (rc && !res->errmsg[0])
		snprintf(res->errmsg, sizeof res->errmsg, "%s", strerror(-rc));
	return rc;
}
