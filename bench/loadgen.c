/* ninepd-loadgen: a native, pipelined 9P2000.L load generator.
 *
 * It runs the same workloads against several servers in one invocation,
 * alternating between them in every repetition (and flipping the order
 * each time, so neither always runs on a warmer machine), then prints the
 * median per workload and server and the ratio of the first two servers
 * with its minimum, median and maximum over the repetitions.  With
 * --direct it also runs the data workloads (and create, readdir10k) as plain system
 * calls in threads on the exported directory: the physical limit.  With
 * pid= on a target it also reports the server's CPU time per operation,
 * which other processes on the machine disturb less than ops/s.
 *
 *   ninepd-loadgen prepare DIR
 *   ninepd-loadgen run -t ninepd=unix:/run/n.sock -t diod=unix:/run/d.sock,aname=DIR \
 *       [--direct DIR] [-r 3] [-d 2] [--csv F] [--md F] WORKLOAD[:c=N,q=N,msize=N]...
 *   ninepd-loadgen scale -t NAME=ADDR,pid=PID... [--conns-scale 1000] [--fids 100000]
 *   ninepd-loadgen fair -t NAME=ADDR... [-r 5] [-d 2] LOAD[:c=N,q=N] PROBE[:q=N]
 *   ninepd-loadgen copyserver unix:PATH DIR [splice]
 *   ninepd-loadgen list
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define MAX_TARGETS 8
#define MAX_SPECS 64
#define MAX_REPS 64
#define DIRECT (-1) /* target index of the direct-I/O limit */

struct spec {
	const struct lg_workload *w;
	unsigned conns, depth;
	uint32_t msize;
	char label[64];
};

struct opts {
	struct lg_target targets[MAX_TARGETS];
	unsigned ntargets;
	struct spec specs[MAX_SPECS];
	unsigned nspecs;
	unsigned reps;
	double seconds, warmup;
	uint64_t max_ops;
	unsigned conns, depth, threads;
	uint32_t msize;
	const char *direct;
	const char *csv, *md, *summary;
	unsigned scale_conns, scale_fids;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ninepd-loadgen prepare DIR\n"
		"       ninepd-loadgen run [options] -t NAME=ADDR[,aname=A][,pid=P]... WORKLOAD[:c=N,q=N,msize=N]...\n"
		"       ninepd-loadgen scale [options] -t NAME=ADDR[,aname=A],pid=P...\n"
		"       ninepd-loadgen fair [options] -t NAME=ADDR... LOAD[:c=N,q=N] PROBE[:q=N]\n"
		"                       PROBE's latency alone and while other connections run LOAD\n"
		"       ninepd-loadgen copyserver unix:PATH DIR [splice]\n"
		"                       the copying transport's limit: serves DIR/data to the read\n"
		"                       workloads with pread + write (or splice) and nothing else\n"
		"       ninepd-loadgen list\n"
		"options:\n"
		"  -t, --target SPEC    a server: NAME=unix:PATH or NAME=tcp:HOST:PORT, then\n"
		"                       ,aname=EXPORT (diod wants the path) and ,pid=PID (memory)\n"
		"  -r, --reps N         repetitions (default 3)\n"
		"  -d, --seconds S      measured seconds per run (default 2)\n"
		"  -W, --warmup S       untimed seconds before each run (default 0.3)\n"
		"  -n, --ops N          run N operations instead of a duration\n"
		"  -c, --conns N        connections, unless the workload says c= (default 1)\n"
		"  -q, --depth N        requests in flight per connection, unless q= (default 1)\n"
		"  -j, --threads N      client threads polling the connections (default 2)\n"
		"  -m, --msize N        msize asked for (default %u; servers may answer less)\n"
		"  -D, --direct DIR     also run the data workloads, create and readdir10k as system calls on DIR\n"
		"      --csv FILE       append one line per workload, server and repetition\n"
		"      --md FILE        write the summary tables as Markdown\n"
		"      --summary FILE   write the summary (medians, ratios) as CSV\n"
		"      --conns-scale N  scale: idle connections to open (default 1000)\n"
		"      --fids N         scale: fids to walk on one connection (default 100000)\n",
		LG_DEFAULT_MSIZE);
}

static int parse_target(struct lg_target *t, const char *arg)
{
	memset(t, 0, sizeof *t);
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof t->name)
		return -1;
	memcpy(t->name, arg, (size_t)(eq - arg));
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", eq + 1);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "aname=", 6))
			snprintf(t->aname, sizeof t->aname, "%s", tok + 6);
		else if (!strncmp(tok, "pid=", 4))
			t->pid = atoi(tok + 4);
		else if (!t->addr[0])
			snprintf(t->addr, sizeof t->addr, "%s", tok);
		else
			return -1;
	}
	return t->addr[0] ? 0 : -1;
}

static int parse_spec(struct spec *s, const char *arg, const struct opts *o)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", arg);
	char *colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	s->w = lg_workload_find(buf);
	if (!s->w)
		return -1;
	s->conns = o->conns;
	s->depth = o->depth;
	s->msize = o->msize;
	bool own_msize = false;
	char *save = NULL;
	for (char *tok = colon ? strtok_r(colon + 1, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(tok + 2, NULL, 0);
		if (!strncmp(tok, "c=", 2))
			s->conns = (unsigned)v;
		else if (!strncmp(tok, "q=", 2))
			s->depth = (unsigned)v;
		else if (!strncmp(tok, "msize=", 6))
			s->msize = (uint32_t)strtoul(tok + 6, NULL, 0), own_msize = true;
		else
			return -1;
	}
	if (s->conns < 1 || s->depth < 1 || s->depth > 0xFFFF || s->msize < NP_MIN_MSIZE)
		return -1;
	int n = snprintf(s->label, sizeof s->label, "%s c=%u q=%u", s->w->name, s->conns,
			 s->depth);
	if (own_msize)
		snprintf(s->label + n, sizeof s->label - (size_t)n, " msize=%uk", s->msize >> 10);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --- statistics ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorts a copy); NAN when n == 0. */
static double median(const double *v, unsigned n)
{
	if (n == 0)
		return NAN;
	double s[MAX_REPS];
	memcpy(s, v, n * sizeof *v);
	qsort(s, n, sizeof *s, cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double vmin(const double *v, unsigned n)
{
	double m = INFINITY;
	for (unsigned i = 0; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return n ? m : NAN;
}

static double vmax(const double *v, unsigned n)
{
	double m = -INFINITY;
	for (unsigned i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return n ? m : NAN;
}

/* Per spec and target (the last column is the direct limit): one value per
 * repetition, NAN for a failed run. */
struct cell {
	double ops[MAX_REPS], mib[MAX_REPS], p50[MAX_REPS], p99[MAX_REPS];
	double srv_us[MAX_REPS], cli_us[MAX_REPS]; /* CPU µs per operation */
	unsigned n;
	uint32_t msize;
	char err[256];
};

static struct cell *cell_at(struct cell *cells, const struct opts *o, unsigned spec, int target)
{
	unsigned t = target == DIRECT ? o->ntargets : (unsigned)target;
	return &cells[spec * (o->ntargets + 1) + t];
}

static const char *target_name(const struct opts *o, int t)
{
	return t == DIRECT ? "direct" : o->targets[t].name;
}

/* Paired ratio per repetition: cell a over cell b. */
static unsigned ratios(const struct cell *a, const struct cell *b, double *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < a->n && i < b->n; i++)
		if (!isnan(a->ops[i]) && !isnan(b->ops[i]) && b->ops[i] > 0)
			out[n++] = a->ops[i] / b->ops[i];
	return n;
}

/* The successful repetitions of a cell: the medians count only those. */
struct good {
	unsigned n;
	double ops[MAX_REPS], mib[MAX_REPS], p50[MAX_REPS], p99[MAX_REPS];
	double srv_us[MAX_REPS], cli_us[MAX_REPS];
};

static void good(const struct cell *c, struct good *g)
{
	g->n = 0;
	for (unsigned i = 0; i < c->n; i++) {
		if (isnan(c->ops[i]))
			continue;
		unsigned k = g->n++;
		g->ops[k] = c->ops[i], g->mib[k] = c->mib[i];
		g->p50[k] = c->p50[i], g->p99[k] = c->p99[i];
		g->srv_us[k] = c->srv_us[i], g->cli_us[k] = c->cli_us[i];
	}
}

/* --- run ----------------------------------------------------------------- */

/* CPU µs per operation: the server's (for the direct limit, the pread
 * threads') and the client's. */
static void cpu_per_op(const struct lg_result *res, bool direct, double *srv, double *cli)
{
	double ops = res->ops ? (double)res->ops : NAN;
	*srv = (direct ? res->client_cpu : res->server_cpu) * 1e6 / ops;
	*cli = direct ? NAN : res->client_cpu * 1e6 / ops;
}

static void record(struct cell *cell, bool direct, const struct lg_result *res)
{
	unsigned i = cell->n++;
	if (res->err || res->seconds <= 0 || res->ops == 0) {
		cell->ops[i] = cell->mib[i] = cell->p50[i] = cell->p99[i] = NAN;
		cell->srv_us[i] = cell->cli_us[i] = NAN;
		snprintf(cell->err, sizeof cell->err, "%s", res->errmsg[0] ? res->errmsg : "no operation completed");
		return;
	}
	cpu_per_op(res, direct, &cell->srv_us[i], &cell->cli_us[i]);
	cell->ops[i] = (double)res->ops / res->seconds;
	cell->mib[i] = (double)res->bytes / res->seconds / (1 << 20);
	cell->p50[i] = lg_hist_quantile(&res->hist, 0.50) / 1e3;
	cell->p99[i] = lg_hist_quantile(&res->hist, 0.99) / 1e3;
	cell->msize = res->msize;
}

static void csv_line(FILE *f, const struct spec *s, const char *target, unsigned rep,
		     const struct lg_result *res)
{
	if (!f)
		return;
	double secs = res->seconds > 0 ? res->seconds : 1, srv, cli;
	cpu_per_op(res, !strcmp(target, "direct"), &srv, &cli);
	fprintf(f, "%s,\"%s\",%u,%u,%s,%u,%u,%llu,%.3f,%.1f,%.2f,%.1f,%.1f,%.2f,%.2f,%s\n",
		s->w->name, s->label, s->conns, s->depth, target, rep, res->msize,
		(unsigned long long)res->ops, res->seconds, (double)res->ops / secs,
		(double)res->bytes / secs / (1 << 20), lg_hist_quantile(&res->hist, 0.5) / 1e3,
		lg_hist_quantile(&res->hist, 0.99) / 1e3, srv, cli, res->err ? "error" : "ok");
	fflush(f);
}

static const char *msize_str(char buf[16], const struct cell *c, int target)
{
	if (target == DIRECT || !c->msize)
		return "-";
	snprintf(buf, 16, "%u", c->msize);
	return buf;
}

/* Median CPU µs per operation of a (per repetition, paired) over b's. */
static double cpu_ratio(const struct cell *a, const struct cell *b)
{
	double r[MAX_REPS];
	unsigned n = 0;
	for (unsigned i = 0; i < a->n && i < b->n; i++)
		if (!isnan(a->srv_us[i]) && !isnan(b->srv_us[i]) && a->srv_us[i] > 0)
			r[n++] = b->srv_us[i] / a->srv_us[i];
	return median(r, n);
}

/* The summary, row by row: one per workload and server (the direct limit
 * included), one per compared pair; the printers only format them. */
struct result_row {
	const struct spec *sp;
	int target;
	const struct cell *c;
	struct good g;
};

struct ratio_row {
	const struct spec *sp;
	int a, b;
	unsigned n;                /* paired repetitions */
	double min, med, max;      /* of ops/s a over b */
	double cpu;                /* b's CPU per operation over a's */
};

struct summary_fns {
	void (*result)(FILE *f, const struct opts *o, const struct result_row *r);
	void (*ratio)(FILE *f, const struct opts *o, const struct ratio_row *r);
};

/* Calls fns->result for every measured cell, then (if ratio_after is set,
 * after all of them; else after each workload) fns->ratio for every pair:
 * the first two servers, and every server against the direct limit. */
static void summarize(FILE *f, const struct opts *o, struct cell *cells,
		      const struct summary_fns *fns, void (*between)(FILE *f), bool ratio_after)
{
	for (int pass = 0; pass < (ratio_after ? 2 : 1); pass++) {
		for (unsigned s = 0; s < o->nspecs; s++) {
			const struct spec *sp = &o->specs[s];
			bool has_direct = o->direct && sp->w->direct;
			if (pass == 0) {
				for (int t = 0; t <= (int)o->ntargets; t++) {
					int ti = t == (int)o->ntargets ? DIRECT : t;
					if (ti == DIRECT && !has_direct)
						continue;
					struct result_row r = {.sp = sp, .target = ti};
					r.c = cell_at(cells, o, s, ti);
					good(r.c, &r.g);
					fns->result(f, o, &r);
				}
			}
			if (ratio_after && pass == 0)
				continue;
			int pairs[MAX_TARGETS + 1][2];
			unsigned np = 0;
			if (o->ntargets >= 2)
				pairs[np][0] = 0, pairs[np][1] = 1, np++;
			for (unsigned t = 0; has_direct && t < o->ntargets; t++)
				pairs[np][0] = (int)t, pairs[np][1] = DIRECT, np++;
			for (unsigned k = 0; k < np; k++) {
				const struct cell *a = cell_at(cells, o, s, pairs[k][0]);
				const struct cell *b = cell_at(cells, o, s, pairs[k][1]);
				double v[MAX_REPS];
				struct ratio_row r = {.sp = sp, .a = pairs[k][0], .b = pairs[k][1]};
				r.n = ratios(a, b, v);
				r.min = vmin(v, r.n), r.med = median(v, r.n), r.max = vmax(v, r.n);
				r.cpu = cpu_ratio(a, b);
				fns->ratio(f, o, &r);
			}
		}
		if (pass == 0 && ratio_after && between)
			between(f);
	}
}

static void text_result(FILE *f, const struct opts *o, const struct result_row *r, bool md)
{
	unsigned n = r->g.n;
	char msize[16], mibs[16] = "-";
	if (r->sp->w->is_data && n)
		snprintf(mibs, sizeof mibs, "%.1f", median(r->g.mib, n));
	const char *fmt = md ? "| %s | %s | %s | %.0f | %s | %.1f | %.1f | %.1f | %.1f | %u/%u%s%s |\n"
			     : "%-36s  %-8s  %8s  %10.0f  %9s  %9.1f  %9.1f  %9.1f  %9.1f  %u/%u%s%s\n";
	fprintf(f, fmt, r->sp->label, target_name(o, r->target), msize_str(msize, r->c, r->target),
		median(r->g.ops, n), mibs, median(r->g.p50, n), median(r->g.p99, n),
		median(r->g.srv_us, n), median(r->g.cli_us, n), n, r->c->n,
		n < r->c->n ? (md ? " — " : "  ") : "", n < r->c->n ? r->c->err : "");
}

static void text_ratio(FILE *f, const struct opts *o, const struct ratio_row *r, bool md)
{
	char name[64];
	snprintf(name, sizeof name, "%s/%s", target_name(o, r->a), target_name(o, r->b));
	fprintf(f, md ? "| %s | %s | %.2f | %.2f | %.2f | %.2f |\n"
		      : "%-36s  %-16s  %6.2f  %6.2f  %6.2f  %6.2f\n",
		r->sp->label, name, r->min, r->med, r->max, r->cpu);
}

static void plain_result(FILE *f, const struct opts *o, const struct result_row *r)
{
	text_result(f, o, r, false);
}

static void plain_ratio(FILE *f, const struct opts *o, const struct ratio_row *r)
{
	text_ratio(f, o, r, false);
}

static void md_result(FILE *f, const struct opts *o, const struct result_row *r)
{
	text_result(f, o, r, true);
}

static void md_ratio(FILE *f, const struct opts *o, const struct ratio_row *r)
{
	text_ratio(f, o, r, true);
}

static void plain_ratio_head(FILE *f)
{
	fprintf(f, "\n%-36s  %-16s  %6s  %6s  %6s  %s\n", "workload", "ratio a/b", "min", "median",
		"max", "CPU us/op b/a");
}

static void md_ratio_head(FILE *f)
{
	fprintf(f, "\n| workload | ratio a/b | min | median | max | CPU µs/op, b÷a |\n"
		   "|---|---|---:|---:|---:|---:|\n");
}

static void print_summary(FILE *f, bool md, const struct opts *o, struct cell *cells)
{
	if (md)
		fprintf(f, "| workload | server | msize | ops/s | MiB/s | p50 µs | p99 µs | "
			   "server CPU µs/op | client CPU µs/op | reps |\n"
			   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	else
		fprintf(f, "%-36s  %-8s  %8s  %10s  %9s  %9s  %9s  %9s  %9s  %s\n", "workload",
			"server", "msize", "ops/s", "MiB/s", "p50 us", "p99 us", "srv us/op",
			"cli us/op", "reps");
	static const struct summary_fns plain = {plain_result, plain_ratio};
	static const struct summary_fns mdfns = {md_result, md_ratio};
	bool pairs = o->ntargets >= 2 || o->direct;
	summarize(f, o, cells, md ? &mdfns : &plain,
		  !pairs ? NULL : md ? md_ratio_head : plain_ratio_head, true);
}

static const char *workload_class(const struct lg_workload *w)
{
	return w->is_meta ? "meta" : w->is_data ? "data" : "";
}

static void csv_result(FILE *f, const struct opts *o, const struct result_row *r)
{
	const struct good *g = &r->g;
	unsigned n = g->n;
	fprintf(f, "result,%s,%s,\"%s\",%u,%u,%s,,%u,%.1f,%.2f,%.1f,%.1f,%.2f,%.2f,%.1f,%.1f,%.1f,,%u\n",
		r->sp->w->name, workload_class(r->sp->w), r->sp->label, r->sp->conns, r->sp->depth,
		target_name(o, r->target), r->c->msize, median(g->ops, n), median(g->mib, n),
		median(g->p50, n), median(g->p99, n), median(g->srv_us, n), median(g->cli_us, n),
		vmin(g->ops, n), median(g->ops, n), vmax(g->ops, n), n);
}

static void csv_ratio(FILE *f, const struct opts *o, const struct ratio_row *r)
{
	fprintf(f, "ratio,%s,%s,\"%s\",%u,%u,%s,%s,,,,,,,,%.3f,%.3f,%.3f,%.3f,%u\n",
		r->sp->w->name, workload_class(r->sp->w), r->sp->label, r->sp->conns, r->sp->depth, target_name(o, r->a),
		target_name(o, r->b), r->min, r->med, r->max, r->cpu, r->n);
}

/* The summary as CSV: a line per workload and server (medians), a line
 * per compared pair. */
static void write_summary_csv(FILE *f, const struct opts *o, struct cell *cells)
{
	fprintf(f, "kind,workload,class,label,conns,depth,a,b,msize,ops_per_s,mib_per_s,p50_us,p99_us,"
		   "server_cpu_us_per_op,client_cpu_us_per_op,min,median,max,cpu_ratio,reps\n");
	static const struct summary_fns fns = {csv_result, csv_ratio};
	summarize(f, o, cells, &fns, NULL, false);
}

static int cmd_run(struct opts *o)
{
	if (o->nspecs == 0 || (o->ntargets == 0 && !o->direct)) {
		fprintf(stderr, "ninepd-loadgen: run needs at least one target and one workload\n");
		return 2;
	}
	size_t ncells = (size_t)o->nspecs * (o->ntargets + 1);
	struct cell *cells = calloc(ncells, sizeof *cells);
	if (!cells)
		return 1;
	FILE *csv = NULL;
	if (o->csv) {
		csv = !strcmp(o->csv, "-") ? stdout : fopen(o->csv, "a");
		if (!csv) {
			perror(o->csv);
			return 1;
		}
		if (csv != stdout && ftell(csv) == 0)
			fprintf(csv, "workload,label,conns,depth,target,rep,msize,ops,seconds,ops_per_s,"
				     "mib_per_s,p50_us,p99_us,server_cpu_us_per_op,client_cpu_us_per_op,status\n");
	}
	uint32_t run_id = (uint32_t)getpid() << 8;
	struct lg_result *res = malloc(sizeof *res);
	if (!res)
		return 1;
	for (unsigned rep = 0; rep < o->reps; rep++) {
		for (unsigned s = 0; s < o->nspecs; s++) {
			const struct spec *sp = &o->specs[s];
			struct lg_params p = {
				.w = sp->w,
				.conns = sp->conns,
				.depth = sp->depth,
				.threads = o->threads,
				.msize = sp->msize,
				.seconds = o->seconds,
				.warmup = o->warmup,
				.max_ops = o->max_ops,
			};
			/* Alternate the servers; flip the order every repetition. */
			for (unsigned k = 0; k < o->ntargets + 1; k++) {
				int t = k == o->ntargets ? DIRECT
					: (int)(rep % 2 ? o->ntargets - 1 - k : k);
				if (t == DIRECT && (!o->direct || !sp->w->direct))
					continue;
				p.run_id = ++run_id;
				if (t == DIRECT)
					sp->w->direct(o->direct, &p, res);
				else
					lg_run(&o->targets[t], &p, res);
				record(cell_at(cells, o, s, t), t == DIRECT, res);
				csv_line(csv, sp, target_name(o, t), rep, res);
				if (res->err)
					fprintf(stderr, "[%u/%u] %-36s %-8s FAILED: %s\n", rep + 1, o->reps,
						sp->label, target_name(o, t), res->errmsg);
				else
					fprintf(stderr,
						"[%u/%u] %-36s %-8s %10.0f ops/s %9.1f MiB/s  p50 %8.1f us  p99 %8.1f us\n",
						rep + 1, o->reps, sp->label, target_name(o, t),
						(double)res->ops / res->seconds,
						(double)res->bytes / res->seconds / (1 << 20),
						lg_hist_quantile(&res->hist, 0.5) / 1e3,
						lg_hist_quantile(&res->hist, 0.99) / 1e3);
			}
		}
	}
	free(res);
	if (csv && csv != stdout)
		fclose(csv);
	printf("\n");
	print_summary(stdout, false, o, cells);
	int rc = 0;
	if (o->md) {
		FILE *f = fopen(o->md, "w");
		if (f) {
			print_summary(f, true, o, cells);
			fclose(f);
		} else {
			perror(o->md);
			rc = 1;
		}
	}
	if (o->summary) {
		FILE *f = fopen(o->summary, "w");
		if (f) {
			write_summary_csv(f, o, cells);
			fclose(f);
		} else {
			perror(o->summary);
			rc = 1;
		}
	}
	/* A failed run is an error of the whole invocation. */
	for (size_t i = 0; i < ncells; i++)
		for (unsigned k = 0; k < cells[i].n; k++)
			if (isnan(cells[i].ops[k]))
				rc = 1;
	free(cells);
	return rc;
}

/* --- scale: memory per connection and per fid, latency under many
 * connections ------------------------------------------------------------ */

/* VmRSS (KiB) and the thread count of a process; -1 when unknown. */
static long proc_status(int pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Descriptors a process holds now; -1 when unknown. */
static int proc_fds(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void settle(void)
{
	struct timespec ts = {.tv_nsec = 300 * 1000000L};
	nanosleep(&ts, NULL);
}

/* Counts the replies that succeeded; the first error is kept (a server
 * may run out of file descriptors long before 100,000 fids). */
struct walk_count {
	unsigned ok, failed;
	int first_err;
};

static int walk_reply(void *arg, size_t index, const struct np_msg *r)
{
	struct walk_count *w = arg;
	(void)index;
	if (r->type != NP_RLERROR) {
		w->ok++;
		return 0;
	}
	w->failed++;
	if (!w->first_err)
		w->first_err = r->type == NP_RLERROR ? -(int)r->u.rlerror.ecode : -EPROTO;
	return 0;
}

static void latency_line(FILE *md, const char *target, const char *what, const struct lg_result *r)
{
	double ops = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
	double p50 = lg_hist_quantile(&r->hist, 0.5) / 1e3, p99 = lg_hist_quantile(&r->hist, 0.99) / 1e3;
	if (r->err) {
		printf("%-8s  getattr latency, %-34s FAILED: %s\n", target, what, r->errmsg);
		if (md)
			fprintf(md, "| %s | getattr, %s | failed: %s | | |\n", target, what, r->errmsg);
		return;
	}
	printf("%-8s  getattr latency, %-34s %9.0f ops/s  p50 %8.1f us  p99 %8.1f us\n", target,
	       what, ops, p50, p99);
	if (md)
		fprintf(md, "| %s | getattr, %s | %.0f | %.1f | %.1f |\n", target, what, ops, p50, p99);
}

static int scale_one(const struct opts *o, const struct lg_target *t, FILE *md_mem, FILE *md_lat)
{
	const unsigned nc = o->scale_conns, nf = o->scale_fids;
	const uint32_t msize = 65536 + LG_IOHDRSZ;
	struct lg_result *res = malloc(sizeof *res);
	struct np_client **cl = calloc(nc, sizeof *cl);
	struct np_msg *reqs = calloc(nf, sizeof *reqs);
	if (!res || !cl || !reqs)
		return -ENOMEM;
	uint64_t t0 = lg_now_ns();
	struct lg_params p = {
		.w = lg_workload_find("getattr"),
		.conns = 1,
		.depth = 1,
		.threads = o->threads,
		.msize = msize,
		.seconds = o->seconds,
		.warmup = o->warmup,
		.run_id = (uint32_t)getpid() << 8 | 0xF0,
	};
	lg_run(t, &p, res);
	latency_line(md_lat, t->name, "1 connection, q=1", res);

	/* Idle connections: memory per connection, and whether they slow
	 * down the one that works. */
	long rss0 = proc_status(t->pid, "VmRSS"), thr0 = proc_status(t->pid, "Threads");
	int rc = 0;
	unsigned opened = 0;
	for (; opened < nc; opened++) {
		rc = lg_connect(t, msize, &cl[opened]);
		if (rc) {
			fprintf(stderr, "%s: connection %u: %s\n", t->name, opened, strerror(-rc));
			break;
		}
	}
	settle();
	long rss1 = proc_status(t->pid, "VmRSS"), thr1 = proc_status(t->pid, "Threads");
	/* 100 fids on each of those connections (walks of "data"), then gone
	 * again: bytes per fid when fids are spread over many clients. */
	enum { PER_CONN = 100 };
	struct np_msg spread[PER_CONN];
	struct walk_count sc = {0};
	for (unsigned i = 0; i < PER_CONN; i++) {
		memset(&spread[i], 0, sizeof spread[i]);
		spread[i].type = NP_TWALK;
		spread[i].u.twalk.fid = LG_ROOT_FID;
		spread[i].u.twalk.newfid = 500000 + i;
		spread[i].u.twalk.nwname = 1;
		spread[i].u.twalk.wnames[0] = np_str_c("data");
	}
	/* One at a time: a pipeline would leave each connection a cache of
	 * request buffers (up to 64 of 16 KiB), which is not what a fid costs. */
	for (unsigned k = 1; k < opened; k++)
		np_pipeline(cl[k], spread, PER_CONN, 1, walk_reply, &sc);
	settle();
	long rss_spread = proc_status(t->pid, "VmRSS");
	int fds_spread = proc_fds(t->pid);
	for (unsigned i = 0; i < PER_CONN; i++) {
		memset(&spread[i], 0, sizeof spread[i]);
		spread[i].type = NP_TCLUNK;
		spread[i].u.tclunk.fid = 500000 + i;
	}
	struct walk_count cc = {0};
	for (unsigned k = 1; k < opened; k++)
		np_pipeline(cl[k], spread, PER_CONN, 1, walk_reply, &cc);
	if (opened > 1)
		printf("%-8s  %u connections x %u fids: %u walks ok, %u failed; %.0f B/fid, %d "
		       "descriptors held\n",
		       t->name, opened - 1, PER_CONN, sc.ok, sc.failed,
		       sc.ok ? (double)(rss_spread - rss1) * 1024 / sc.ok : NAN, fds_spread);
	settle();
	long rss1b = proc_status(t->pid, "VmRSS"); /* the baseline of the fids below */
	char what[64];
	snprintf(what, sizeof what, "1 connection + %u idle, q=1", opened);
	lg_run(t, &p, res);
	latency_line(md_lat, t->name, what, res);

	/* Fids, all on the first connection: walks of the regular file "data". */
	static const char *const a[] = {"data"};
	unsigned nfid = opened ? nf : 0;
	for (unsigned i = 0; i < nfid; i++) {
		reqs[i].type = NP_TWALK;
		reqs[i].u.twalk.fid = LG_ROOT_FID;
		reqs[i].u.twalk.newfid = 1000000 + i;
		reqs[i].u.twalk.nwname = 1;
		reqs[i].u.twalk.wnames[0] = np_str_c(a[0]);
	}
	struct walk_count wc = {0};
	uint64_t tw = lg_now_ns();
	int frc = nfid ? np_pipeline(cl[0], reqs, nfid, 64, walk_reply, &wc) : 0;
	tw = lg_now_ns() - tw;
	if (frc)
		fprintf(stderr, "%s: walking %u fids: %s\n", t->name, nfid, strerror(-frc));
	if (wc.failed)
		fprintf(stderr, "%s: %u of %u walks failed, the first with: %s\n", t->name,
			wc.failed, nfid, strerror(-wc.first_err));
	settle();
	long rss2 = proc_status(t->pid, "VmRSS");
	int fds2 = proc_fds(t->pid);

	/* The fids' files, each one: getattr of every fid (on a server that
	 * gave idle descriptors back, most are reopened from a handle), against
	 * as many getattrs of one fid; then open, read and clunk each fid. */
	if (wc.ok == nfid && nfid) {
		for (unsigned i = 0; i < nfid; i++) {
			memset(&reqs[i], 0, sizeof reqs[i]);
			reqs[i].type = NP_TGETATTR;
			reqs[i].u.tgetattr.fid = 1000000 + i;
			reqs[i].u.tgetattr.request_mask = NP_GETATTR_BASIC;
		}
		struct walk_count gc = {0};
		uint64_t tg = lg_now_ns();
		np_pipeline(cl[0], reqs, nfid, 64, walk_reply, &gc);
		tg = lg_now_ns() - tg;
		for (unsigned i = 0; i < nfid; i++)
			reqs[i].u.tgetattr.fid = LG_ROOT_FID;
		struct walk_count oc = {0};
		uint64_t to = lg_now_ns();
		np_pipeline(cl[0], reqs, nfid, 64, walk_reply, &oc);
		to = lg_now_ns() - to;
		int most = proc_fds(t->pid);
		unsigned read_ok = 0, read_failed = 0;
		int read_err = 0;
		uint64_t tr = lg_now_ns();
		for (unsigned i = 0; i < nfid; i++) {
			uint32_t fid = 1000000 + i, got = 0;
			char buf[512];
			int e = np_lopen(cl[0], fid, NP_DOTL_RDONLY, NULL, NULL);
			if (!e)
				e = np_read(cl[0], fid, 0, sizeof buf, buf, &got);
			np_clunk(cl[0], fid);
			if (e) {
				read_failed++;
				read_err = read_err ? read_err : e;
			} else {
				read_ok++;
			}
			if (i % 1000 == 0) {
				int now = proc_fds(t->pid);
				most = now > most ? now : most;
			}
		}
		tr = lg_now_ns() - tr;
		printf("%-8s  %u fids: %d descriptors held after the walks, at most %d while "
		       "using them; getattr of each fid %.2f us/op (%u failed), of one fid %.2f "
		       "us/op; open+read+clunk of each: %u ok, %u failed%s%s (%.1f s)\n",
		       t->name, nfid, fds2, most, (double)tg / 1e3 / nfid, gc.failed,
		       (double)to / 1e3 / nfid, read_ok, read_failed, read_err ? ": " : "",
		       read_err ? strerror(-read_err) : "", (double)tr / 1e9);
	}

	uint64_t tc = lg_now_ns();
	for (unsigned i = 0; i < opened; i++)
		np_client_close(cl[i]);
	settle();
	tc = lg_now_ns() - tc;
	long rss3 = proc_status(t->pid, "VmRSS");

	/* Every connection active, one request each. */
	p.conns = nc;
	lg_run(t, &p, res);
	snprintf(what, sizeof what, "%u connections, q=1 each", nc);
	latency_line(md_lat, t->name, what, res);

	double per_conn = opened ? (double)(rss1 - rss0) * 1024 / opened : NAN;
	double per_fid = wc.ok && !frc ? (double)(rss2 - rss1b) * 1024 / wc.ok : NAN;
	char fidnote[96] = "";
	if (wc.failed)
		snprintf(fidnote, sizeof fidnote, "; %u more refused: %s", wc.failed,
			 strerror(-wc.first_err));
	printf("%-8s  VmRSS %ld KiB idle, %ld KiB with %u connections (%.0f B/conn, threads %ld -> %ld), "
	       "%ld KiB with %u fids more (%.0f B/fid%s), %ld KiB after closing\n"
	       "          (%.1f s in all: %.1f s walking the fids, %.1f s closing)\n",
	       t->name, rss0, rss1, opened, per_conn, thr0, thr1, rss2, wc.ok, per_fid, fidnote,
	       rss3, (double)(lg_now_ns() - t0) / 1e9, (double)tw / 1e9, (double)tc / 1e9);
	if (md_mem)
		fprintf(md_mem, "| %s | %ld | %ld (%u conns) | %.0f | %ld → %ld | %ld (%u fids%s) | %.0f | %ld |\n",
			t->name, rss0, rss1, opened, per_conn, thr0, thr1, rss2, wc.ok, fidnote,
			per_fid, rss3);
	free(res);
	free(cl);
	free(reqs);
	return rc ? rc : frc ? frc : wc.first_err;
}

static int cmd_scale(struct opts *o)
{
	if (o->ntargets == 0) {
		fprintf(stderr, "ninepd-loadgen: scale needs targets with pid=\n");
		return 2;
	}
	FILE *md = o->md ? fopen(o->md, "w") : NULL;
	char *mem = NULL, *lat = NULL;
	size_t meml = 0, latl = 0;
	FILE *md_mem = md ? open_memstream(&mem, &meml) : NULL;
	FILE *md_lat = md ? open_memstream(&lat, &latl) : NULL;
	int rc = 0;
	for (unsigned i = 0; i < o->ntargets; i++)
		if (scale_one(o, &o->targets[i], md_mem, md_lat))
			rc = 1;
	if (md) {
		fclose(md_mem);
		fclose(md_lat);
		fprintf(md, "| server | VmRSS idle KiB | VmRSS KiB, connections open | bytes/conn | "
			    "threads | VmRSS KiB, fids walked | bytes/fid | VmRSS KiB after close |\n"
			    "|---|---:|---:|---:|---:|---:|---:|---:|\n%s\n"
			    "| server | load | ops/s | p50 µs | p99 µs |\n|---|---|---:|---:|---:|\n%s",
			mem, lat);
		fclose(md);
		free(mem);
		free(lat);
	}
	return rc;
}

/* --- fair: one client's latency while another loads the server ---------- */

/* The load runs in a thread of its own, from before the probe starts
 * until it has ended. */
struct fair_load {
	const struct lg_target *t;
	struct lg_params p;
	struct lg_result res;
};

static void *fair_load_main(void *arg)
{
	struct fair_load *l = arg;
	lg_run(l->t, &l->p, &l->res);
	return NULL;
}

/* Per target, one value per repetition (NAN: that run failed). */
struct fair_cell {
	double p50[MAX_REPS], p99[MAX_REPS];   /* the probe alone, µs */
	double lp50[MAX_REPS], lp99[MAX_REPS]; /* the probe under the load, µs */
	double load_ops[MAX_REPS];             /* the load's operations/s meanwhile */
	unsigned n;
	char err[256];
};

static void fair_once(const struct opts *o, const struct lg_target *t, const struct spec *load,
		      const struct spec *probe, uint32_t run_id, struct fair_cell *c)
{
	unsigned i = c->n++;
	c->p50[i] = c->p99[i] = c->lp50[i] = c->lp99[i] = c->load_ops[i] = NAN;
	struct lg_params pp = {
		.w = probe->w,
		.conns = probe->conns,
		.depth = probe->depth,
		.threads = 1,
		.msize = probe->msize,
		.seconds = o->seconds,
		.warmup = o->warmup,
		.run_id = run_id,
	};
	struct lg_result *res = malloc(sizeof *res);
	struct fair_load *l = calloc(1, sizeof *l);
	atomic_bool probe_done = false;
	if (!res || !l)
		goto out;
	if (lg_run(t, &pp, res)) {
		snprintf(c->err, sizeof c->err, "probe alone: %.200s", res->errmsg);
		goto out;
	}
	c->p50[i] = lg_hist_quantile(&res->hist, 0.5) / 1e3;
	c->p99[i] = lg_hist_quantile(&res->hist, 0.99) / 1e3;
	l->t = t;
	l->p = (struct lg_params){
		.w = load->w,
		.conns = load->conns,
		.depth = load->depth,
		.threads = o->threads,
		.msize = load->msize,
		.seconds = 10 * (o->warmup + o->seconds) + 10, /* a bound: the probe ends it */
		.warmup = o->warmup,
		.run_id = run_id + 1,
		.until = &probe_done,
	};
	pthread_t th;
	if (pthread_create(&th, NULL, fair_load_main, l))
		goto out;
	/* The load's connections are set up and its warm-up over before the
	 * probe connects. */
	struct timespec ts = {.tv_nsec = 500 * 1000000L};
	nanosleep(&ts, NULL);
	pp.run_id = run_id + 2;
	int rc = lg_run(t, &pp, res);
	atomic_store(&probe_done, true);
	pthread_join(th, NULL);
	if (rc || l->res.err) {
		snprintf(c->err, sizeof c->err, "%s: %.200s", rc ? "probe under load" : "load",
			 rc ? res->errmsg : l->res.errmsg);
		goto out;
	}
	c->lp50[i] = lg_hist_quantile(&res->hist, 0.5) / 1e3;
	c->lp99[i] = lg_hist_quantile(&res->hist, 0.99) / 1e3;
	c->load_ops[i] = l->res.seconds > 0 ? (double)l->res.ops / l->res.seconds : NAN;
out:
	free(res);
	free(l);
}

/* Per repetition: a over b, where both are numbers. */
static unsigned fair_ratios(const double *a, const double *b, unsigned n, double *out)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (!isnan(a[i]) && !isnan(b[i]) && b[i] > 0)
			out[k++] = a[i] / b[i];
	return k;
}

static double fair_median(const double *v, unsigned n)
{
	double g[MAX_REPS];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		if (!isnan(v[i]))
			g[k++] = v[i];
	return median(g, k);
}

static int cmd_fair(struct opts *o)
{
	if (o->ntargets == 0 || o->nspecs != 2) {
		fprintf(stderr, "ninepd-loadgen: fair needs targets, one LOAD and one PROBE workload\n");
		return 2;
	}
	const struct spec *load = &o->specs[0], *probe = &o->specs[1];
	struct fair_cell *cells = calloc(o->ntargets, sizeof *cells);
	if (!cells)
		return 1;
	uint32_t run_id = (uint32_t)getpid() << 8;
	for (unsigned rep = 0; rep < o->reps; rep++) {
		/* Alternate the servers; flip the order every repetition. */
		for (unsigned k = 0; k < o->ntargets; k++) {
			unsigned t = rep % 2 ? o->ntargets - 1 - k : k;
			struct fair_cell *c = &cells[t];
			fair_once(o, &o->targets[t], load, probe, run_id += 4, c);
			unsigned i = c->n - 1;
			if (isnan(c->lp99[i]))
				fprintf(stderr, "[%u/%u] %-8s FAILED: %s\n", rep + 1, o->reps,
					o->targets[t].name, c->err);
			else
				fprintf(stderr,
					"[%u/%u] %-8s alone p50 %8.1f p99 %8.1f us, under load p50 %8.1f "
					"p99 %8.1f us, load %.0f ops/s\n",
					rep + 1, o->reps, o->targets[t].name, c->p50[i], c->p99[i],
					c->lp50[i], c->lp99[i], c->load_ops[i]);
		}
	}
	FILE *md = o->md ? fopen(o->md, "w") : NULL;
	printf("\n%s while %s runs (medians of %u repetitions)\n", probe->label, load->label, o->reps);
	printf("%-8s  %10s  %10s  %10s  %10s  %24s  %10s\n", "server", "alone p50", "alone p99",
	       "load p50", "load p99", "p99 load/alone min-med-max", "load op/s");
	if (md)
		fprintf(md, "%s while %s runs (medians of %u repetitions)\n\n"
			    "| server | alone p50 µs | alone p99 µs | under load p50 µs | under load p99 µs | "
			    "p99 under load ÷ alone (min, median, max) | load ops/s |\n"
			    "|---|---:|---:|---:|---:|---:|---:|\n",
			probe->label, load->label, o->reps);
	int rc = 0;
	for (unsigned t = 0; t < o->ntargets; t++) {
		const struct fair_cell *c = &cells[t];
		double r[MAX_REPS];
		unsigned n = fair_ratios(c->lp99, c->p99, c->n, r);
		if (n < c->n)
			rc = 1;
		printf("%-8s  %10.1f  %10.1f  %10.1f  %10.1f  %7.2f %7.2f %8.2f  %10.0f\n",
		       o->targets[t].name, fair_median(c->p50, c->n), fair_median(c->p99, c->n),
		       fair_median(c->lp50, c->n), fair_median(c->lp99, c->n), vmin(r, n),
		       median(r, n), vmax(r, n), fair_median(c->load_ops, c->n));
		if (md)
			fprintf(md, "| %s | %.1f | %.1f | %.1f | %.1f | %.2f (%.2f, %.2f) | %.0f |\n",
				o->targets[t].name, fair_median(c->p50, c->n),
				fair_median(c->p99, c->n), fair_median(c->lp50, c->n),
				fair_median(c->lp99, c->n), median(r, n), vmin(r, n), vmax(r, n),
				fair_median(c->load_ops, c->n));
	}
	if (o->ntargets >= 2) {
		double r[MAX_REPS];
		unsigned n = fair_ratios(cells[0].lp99, cells[1].lp99, cells[0].n, r);
		printf("p99 under load, %s/%s: median %.2f (min %.2f, max %.2f)\n", o->targets[0].name,
		       o->targets[1].name, median(r, n), vmin(r, n), vmax(r, n));
		if (md)
			fprintf(md, "\np99 under load, %s ÷ %s: median %.2f (min %.2f, max %.2f)\n",
				o->targets[0].name, o->targets[1].name, median(r, n), vmin(r, n),
				vmax(r, n));
	}
	if (md)
		fclose(md);
	free(cells);
	return rc;
}

int main(int argc, char **argv)
{
	static struct opts o = {
		.reps = 3,
		.seconds = 2,
		.warmup = 0.3,
		.conns = 1,
		.depth = 1,
		.threads = 2,
		.msize = LG_DEFAULT_MSIZE,
		.scale_conns = 1000,
		.scale_fids = 100000,
	};
	enum { OPT_CSV = 256, OPT_MD, OPT_SUMMARY, OPT_SCONNS, OPT_FIDS };
	static const struct option lopts[] = {
		{"target", required_argument, NULL, 't'},
		{"reps", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'W'},
		{"ops", required_argument, NULL, 'n'},
		{"conns", required_argument, NULL, 'c'},
		{"depth", required_argument, NULL, 'q'},
		{"threads", required_argument, NULL, 'j'},
		{"msize", required_argument, NULL, 'm'},
		{"direct", required_argument, NULL, 'D'},
		{"csv", required_argument, NULL, OPT_CSV},
		{"md", required_argument, NULL, OPT_MD},
		{"summary", required_argument, NULL, OPT_SUMMARY},
		{"conns-scale", required_argument, NULL, OPT_SCONNS},
		{"fids", required_argument, NULL, OPT_FIDS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	argv++, argc--;
	int ch;
	while ((ch = getopt_long(argc, argv, "t:r:d:W:n:c:q:j:m:D:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (o.ntargets == MAX_TARGETS || parse_target(&o.targets[o.ntargets++], optarg)) {
				fprintf(stderr, "ninepd-loadgen: bad target '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			o.reps = (unsigned)atoi(optarg);
			if (o.reps < 1 || o.reps > MAX_REPS)
				o.reps = 3;
			break;
		case 'd': o.seconds = atof(optarg); break;
		case 'W': o.warmup = atof(optarg); break;
		case 'n': o.max_ops = strtoull(optarg, NULL, 0); break;
		case 'c': o.conns = (unsigned)atoi(optarg); break;
		case 'q': o.depth = (unsigned)atoi(optarg); break;
		case 'j': o.threads = (unsigned)atoi(optarg); break;
		case 'm': o.msize = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'D': o.direct = optarg; break;
		case OPT_CSV: o.csv = optarg; break;
		case OPT_MD: o.md = optarg; break;
		case OPT_SUMMARY: o.summary = optarg; break;
		case OPT_SCONNS: o.scale_conns = (unsigned)atoi(optarg); break;
		case OPT_FIDS: o.scale_fids = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	raise_nofile();
	if (!strcmp(cmd, "list")) {
		for (size_t i = 0; lg_workloads[i]; i++)
			printf("%-12s %s\n", lg_workloads[i]->name, lg_workloads[i]->what);
		return 0;
	}
	if (!strcmp(cmd, "prepare")) {
		if (optind >= argc) {
			usage(stderr);
			return 2;
		}
		int rc = lg_prepare(argv[optind]);
		if (rc)
			fprintf(stderr, "ninepd-loadgen: prepare %s: %s\n", argv[optind], strerror(-rc));
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "scale"))
		return cmd_scale(&o);
	if (!strcmp(cmd, "copyserver")) {
		if (optind + 2 > argc) {
			usage(stderr);
			return 2;
		}
		bool use_splice = optind + 2 < argc && !strcmp(argv[optind + 2], "splice");
		return lg_copyserver(argv[optind], argv[optind + 1], use_splice);
	}
	if (strcmp(cmd, "run") && strcmp(cmd, "fair")) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		if (o.nspecs == MAX_SPECS || parse_spec(&o.specs[o.nspecs++], argv[i], &o)) {
			fprintf(stderr, "ninepd-loadgen: bad workload '%s' (see `ninepd-loadgen list`)\n",
				argv[i]);
			return 2;
		}
	}
	return !strcmp(cmd, "fair") ? cmd_fair(&o) : cmd_run(&o);
}
