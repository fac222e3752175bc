/* Tests of remap/: the multidevs policies, the remap encoding's injectivity
 * and stability on synthetic inodes, and the state file. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "remap/remap.h"
#include "remap/state.h"

#define ROOT_DEV UINT64_C(0x803)
#define TOP_BIT (UINT64_C(1) << 63)
#define REGION_MASK (UINT64_C(3) << 62)
#define REGION_PREFIX (UINT64_C(2) << 62)
#define REGION_EXACT (UINT64_C(3) << 62)

/* A bijection on 64 bits (the splitmix64 finaliser): distinct counters give
 * distinct, high-entropy inodes, so inputs never repeat by accident. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Map one inode, failing the test on any error. */
static uint64_t qid(struct remap *r, uint64_t dev, uint64_t ino)
{
	uint64_t path = 0;
	int rc = remap_qid_path(r, dev, ino, S_IFREG, &path, NULL);

	if (rc != 0)
		cr_assert_fail("dev %#" PRIx64 " ino %#" PRIx64 ": %s", dev, ino, strerror(-rc));
	return path;
}

static struct remap *new_engine(enum multidevs_policy policy)
{
	struct remap *r = remap_new(policy, ROOT_DEV);

	cr_assert_not_null(r);
	return r;
}

/* Inputs and the qid paths they got, for checking injectivity and
 * stability over millions of lookups. */
struct run {
	size_t n, cap;
	uint64_t *dev, *ino, *path;
};

static void run_add(struct run *run, struct remap *r, uint64_t dev, uint64_t ino)
{
	if (run->n == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 1 << 16;
		run->dev = realloc(run->dev, run->cap * sizeof(uint64_t));
		run->ino = realloc(run->ino, run->cap * sizeof(uint64_t));
		run->path = realloc(run->path, run->cap * sizeof(uint64_t));
		cr_assert(run->dev && run->ino && run->path);
	}
	run->dev[run->n] = dev;
	run->ino[run->n] = ino;
	run->path[run->n] = qid(r, dev, ino);
	run->n++;
}

static void run_free(struct run *run)
{
	free(run->dev);
	free(run->ino);
	free(run->path);
}

static void radix_sort(uint64_t *v, size_t n)
{
	uint64_t *tmp = malloc(n * sizeof(*tmp));

	cr_assert(n == 0 || tmp);
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[257] = {0};

		for (size_t i = 0; i < n; i++)
			count[((v[i] >> shift) & 0xff) + 1]++;
		for (size_t b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[(v[i] >> shift) & 0xff]++] = v[i];
		memcpy(v, tmp, n * sizeof(*v));
	}
	free(tmp);
}

/* The inputs of a run are distinct by construction, so distinct outputs
 * are exactly what injectivity means. */
static void assert_injective(const struct run *run)
{
	uint64_t *sorted = malloc(run->n * sizeof(*sorted));

	cr_assert(run->n == 0 || sorted);
	memcpy(sorted, run->path, run->n * sizeof(*sorted));
	radix_sort(sorted, run->n);
	for (size_t i = 1; i < run->n; i++)
		if (sorted[i] == sorted[i - 1])
			cr_assert_fail("qid path %#" PRIx64 " handed out twice among %zu inodes",
				       sorted[i], run->n);
	free(sorted);
}

/* Asking again, after everything else was inserted, gives the same answer. */
static void assert_stable(const struct run *run, struct remap *r)
{
	for (size_t i = 0; i < run->n; i++)
		if (qid(r, run->dev[i], run->ino[i]) != run->path[i])
			cr_assert_fail("dev %#" PRIx64 " ino %#" PRIx64 " moved from %#" PRIx64,
				       run->dev[i], run->ino[i], run->path[i]);
}

static void assert_injective_and_stable(const struct run *run, struct remap *r)
{
	assert_injective(run);
	assert_stable(run, r);
}

/* ---- policies ------------------------------------------------------- */

Test(policy, parse_accepts_the_four_names_and_nothing_else)
{
	cr_assert_eq(multidevs_policy_parse("default", 7), MULTIDEVS_DEFAULT);
	cr_assert_eq(multidevs_policy_parse("remap", 5), MULTIDEVS_REMAP);
	cr_assert_eq(multidevs_policy_parse("forbid", 6), MULTIDEVS_FORBID);
	cr_assert_eq(multidevs_policy_parse("warn", 4), MULTIDEVS_WARN);
	cr_assert_eq(multidevs_policy_parse("remapping", 5), MULTIDEVS_REMAP, "a view, not a C string");
	cr_assert_eq(multidevs_policy_parse("Remap", 5), -1);
	cr_assert_eq(multidevs_policy_parse("rema", 4), -1);
	cr_assert_eq(multidevs_policy_parse("remap ", 6), -1);
	cr_assert_eq(multidevs_policy_parse("", 0), -1);
}

Test(policy, names_parse_back_to_their_policy)
{
	for (int p = MULTIDEVS_DEFAULT; p <= MULTIDEVS_WARN; p++) {
		const char *name = multidevs_policy_name((enum multidevs_policy)p);

		cr_assert_eq(multidevs_policy_parse(name, strlen(name)), p, "%s", name);
	}
}

Test(warn, warn_and_default_pass_raw_inodes_through_on_every_device)
{
	const enum multidevs_policy policies[] = {MULTIDEVS_WARN, MULTIDEVS_DEFAULT};

	for (size_t p = 0; p < 2; p++) {
		struct remap *r = new_engine(policies[p]);
		struct remap_stats st;

		cr_assert_eq(remap_policy(r), policies[p]);
		for (uint64_t dev = ROOT_DEV; dev < ROOT_DEV + 10; dev++)
			for (uint64_t ino = 0; ino < 64; ino++)
				cr_assert_eq(qid(r, dev, mix64(ino)), mix64(ino));
		cr_assert_eq(qid(r, 7, UINT64_MAX), UINT64_MAX);
		remap_get_stats(r, &st);
		cr_assert_eq(st.devices, 11);
		cr_assert_eq(st.prefixes + st.exact_entries + st.forbidden, 0);
		remap_free(r);
	}
}

Test(warn, first_foreign_device_is_reported_once_and_the_root_never)
{
	const enum multidevs_policy policies[] = {MULTIDEVS_WARN, MULTIDEVS_DEFAULT};

	for (size_t p = 0; p < 2; p++) {
		struct remap *r = new_engine(policies[p]);
		enum remap_event ev = REMAP_EVENT_FIRST_FORBIDDEN;
		uint64_t path;
		int events = 0;

		for (uint64_t ino = 1; ino < 1000; ino++) {
			cr_assert_eq(remap_qid_path(r, ROOT_DEV, ino, S_IFDIR, &path, &ev), 0);
			cr_assert_eq(ev, REMAP_EVENT_NONE);
		}
		for (uint64_t dev = 1; dev < 50; dev++) {
			cr_assert_eq(remap_qid_path(r, dev, 2, S_IFREG, &path, &ev), 0);
			cr_assert(ev == REMAP_EVENT_NONE || ev == REMAP_EVENT_FIRST_FOREIGN_DEVICE);
			events += ev == REMAP_EVENT_FIRST_FOREIGN_DEVICE;
			cr_assert_eq(dev == 1, ev == REMAP_EVENT_FIRST_FOREIGN_DEVICE,
				     "the event belongs to the first foreign lookup");
		}
		cr_assert_eq(events, 1);
		remap_free(r);
	}
}

Test(forbid, root_inodes_pass_and_other_devices_get_exdev)
{
	struct remap *r = new_engine(MULTIDEVS_FORBID);
	struct remap_stats st;
	uint64_t path = 42;

	cr_assert_eq(qid(r, ROOT_DEV, 5), 5);
	cr_assert_eq(qid(r, ROOT_DEV, UINT64_MAX), UINT64_MAX, "forbid keeps every root inode raw");
	for (int i = 0; i < 10; i++)
		cr_assert_eq(remap_qid_path(r, ROOT_DEV + 1 + (i % 3), 5, S_IFDIR, &path, NULL),
			     -EXDEV);
	cr_assert_eq(path, 42, "a refused lookup leaves qid_path alone");
	remap_get_stats(r, &st);
	cr_assert_eq(st.forbidden, 10);
	cr_assert_eq(st.devices, 4);
	cr_assert_eq(st.prefixes + st.exact_entries, 0);
	remap_free(r);
}

Test(forbid, first_refusal_is_reported_once)
{
	struct remap *r = new_engine(MULTIDEVS_FORBID);
	enum remap_event ev;
	uint64_t path;
	int events = 0;

	cr_assert_eq(remap_qid_path(r, ROOT_DEV, 3, S_IFREG, &path, &ev), 0);
	cr_assert_eq(ev, REMAP_EVENT_NONE);
	for (uint64_t dev = 1; dev < 100; dev++) {
		cr_assert_eq(remap_qid_path(r, dev, 3, S_IFREG, &path, &ev), -EXDEV);
		events += ev == REMAP_EVENT_FIRST_FORBIDDEN;
		cr_assert(ev == REMAP_EVENT_NONE || dev == 1);
	}
	cr_assert_eq(events, 1);
	remap_free(r);
}

#define RACERS 8

struct race {
	struct remap *r;
	atomic_int waiting;
	atomic_int events;
	atomic_int errors;
};

static void *race_foreign_lookup(void *arg)
{
	struct race *race = arg;
	enum remap_event ev = REMAP_EVENT_NONE;
	uint64_t path;
	int rc;

	/* Spin rather than sleep on a barrier: sleepers wake one by one,
	 * spinners leave together. */
	atomic_fetch_sub(&race->waiting, 1);
	while (atomic_load(&race->waiting) > 0)
		sched_yield();
	for (uint64_t ino = 0; ino < 4; ino++) {
		rc = remap_qid_path(race->r, ROOT_DEV + 1, ino, S_IFREG, &path, &ev);
		if (rc != 0 && rc != -EXDEV)
			atomic_fetch_add(&race->errors, 1);
		if (ev != REMAP_EVENT_NONE)
			atomic_fetch_add(&race->events, 1);
	}
	return NULL;
}

/* RACERS threads hit the first foreign device at the same instant, many
 * times over; each engine must report exactly one event. */
static void race_for_first_event(enum multidevs_policy policy)
{
	for (int round = 0; round < 1000; round++) {
		struct race race = {.r = new_engine(policy)};
		pthread_t threads[RACERS];

		atomic_init(&race.waiting, RACERS);
		atomic_init(&race.events, 0);
		atomic_init(&race.errors, 0);
		for (int t = 0; t < RACERS; t++)
			cr_assert_eq(pthread_create(&threads[t], NULL, race_foreign_lookup, &race), 0);
		for (int t = 0; t < RACERS; t++)
			pthread_join(threads[t], NULL);
		cr_assert_eq(atomic_load(&race.errors), 0);
		cr_assert_eq(atomic_load(&race.events), 1, "round %d: %d events", round,
			     atomic_load(&race.events));
		remap_free(race.r);
	}
}

Test(warn, racing_threads_on_the_first_foreign_device_get_one_event)
{
	race_for_first_event(MULTIDEVS_WARN);
}

Test(forbid, racing_threads_on_the_first_refusal_get_one_event)
{
	race_for_first_event(MULTIDEVS_FORBID);
}

/* ---- remap encoding ------------------------------------------------- */

Test(remap, root_inodes_below_2_63_keep_their_numbers_and_need_no_table)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	const uint64_t inos[] = {0, 1, 2, 12345, UINT32_MAX, UINT64_C(1) << 42, TOP_BIT - 1};
	struct remap_stats st;

	for (size_t i = 0; i < sizeof(inos) / sizeof(inos[0]); i++)
		cr_assert_eq(qid(r, ROOT_DEV, inos[i]), inos[i]);
	remap_get_stats(r, &st);
	cr_assert_eq(st.devices, 1);
	cr_assert_eq(st.prefixes + st.exact_entries, 0);
	remap_free(r);
}

Test(remap, every_other_inode_gets_the_top_bit)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);

	cr_assert(qid(r, ROOT_DEV, TOP_BIT) & TOP_BIT);
	cr_assert(qid(r, ROOT_DEV, UINT64_MAX) & TOP_BIT);
	for (uint64_t i = 0; i < 1000; i++) {
		cr_assert(qid(r, 1 + i % 7, i) & TOP_BIT);
		cr_assert(qid(r, 1 + i % 7, mix64(i)) & TOP_BIT);
	}
	remap_free(r);
}

Test(remap, file_type_does_not_change_the_qid_path)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint64_t a, b;

	cr_assert_eq(remap_qid_path(r, 9, 77, S_IFDIR, &a, NULL), 0);
	cr_assert_eq(remap_qid_path(r, 9, 77, S_IFREG, &b, NULL), 0);
	cr_assert_eq(a, b);
	remap_free(r);
}

Test(remap, small_inodes_on_thousands_of_devices_never_collide)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	struct run run = {0};
	struct remap_stats st;

	/* Every device numbers its files from 1, like tmpfs: the raw numbers
	 * collide everywhere, and the root device's identity region is in the
	 * mix too. */
	for (uint64_t dev = 0; dev < 5000; dev++)
		for (uint64_t ino = 1; ino <= 800; ino++)
			run_add(&run, r, dev == 0 ? ROOT_DEV : ROOT_DEV + dev, ino);
	assert_injective_and_stable(&run, r);
	remap_get_stats(r, &st);
	cr_assert_eq(st.devices, 5000);
	cr_assert_eq(st.prefixes, 4999, "one prefix code per foreign device");
	cr_assert_eq(st.exact_entries, 0);
	run_free(&run);
	remap_free(r);
}

Test(remap, inodes_differing_only_in_their_top_bits_never_collide)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	const uint64_t devs[] = {ROOT_DEV, ROOT_DEV | TOP_BIT, 1, 2};
	const uint64_t low48 = (UINT64_C(1) << 48) - 1;
	const uint64_t bases[] = {0, 1, (UINT64_C(1) << REMAP_SUFFIX_BITS) - 1, mix64(7) & low48};
	struct run run = {0};

	/* The 16 top bits take every value over a fixed low part: the bits a
	 * left shift would drop.  Devices also differ only in their top bit. */
	for (size_t d = 0; d < 4; d++)
		for (size_t b = 0; b < 4; b++)
			for (uint64_t k = 0; k < 65536; k++)
				run_add(&run, r, devs[d], bases[b] | k << 48);
	/* And the single-bit neighbours of each low part that are not
	 * themselves a base, under one fixed top. */
	for (size_t d = 0; d < 4; d++)
		for (size_t b = 0; b < 4; b++)
			for (unsigned bit = 0; bit < 48; bit++) {
				uint64_t ino = bases[b] ^ UINT64_C(1) << bit;
				bool is_base = false;

				for (size_t o = 0; o < 4; o++)
					is_base |= ino == bases[o];
				if (!is_base)
					run_add(&run, r, devs[d], ino | UINT64_C(0x5a5a) << 48);
			}
	assert_injective_and_stable(&run, r);
	run_free(&run);
	remap_free(r);
}

Test(remap, high_entropy_64bit_inodes_never_collide)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	struct run run = {0};
	struct remap_stats st;

	/* NFS file ids and FUSE inodes can use all 64 bits; most prefixes are
	 * then unique per inode, so devices run past their quota of codes. */
	for (uint64_t i = 0; i < 2000000; i++)
		run_add(&run, r, i % 64 == 0 ? ROOT_DEV : 0x100 + i % 64, mix64(i));
	assert_injective_and_stable(&run, r);
	remap_get_stats(r, &st);
	cr_assert_eq(st.prefixes, 64 * REMAP_DEVICE_PREFIXES, "every device filled its quota");
	cr_assert_gt(st.exact_entries, 0);
	run_free(&run);
	remap_free(r);
}

Test(remap, overlayfs_xino_inodes_stay_in_the_prefix_region)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	struct run run = {0};
	struct remap_stats st;

	/* overlayfs with xino keeps the layer number in the top bits over a
	 * 32-bit inode: a handful of prefixes, no exact entries needed. */
	for (uint64_t layer = 0; layer < 4; layer++)
		for (uint64_t ino = 1; ino <= 100000; ino++)
			run_add(&run, r, 0x2d, layer << 62 | (mix64(ino) & UINT32_MAX));
	assert_injective(&run);
	remap_get_stats(r, &st);
	cr_assert_eq(st.prefixes, 4);
	cr_assert_eq(st.exact_entries, 0);
	for (size_t i = 0; i < run.n; i++)
		cr_assert_eq(run.path[i] & REGION_MASK, REGION_PREFIX);
	run_free(&run);
	remap_free(r);
}

Test(remap, exhausted_prefix_space_falls_back_to_the_exact_map_and_stays_injective)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	const uint64_t devices = REMAP_PREFIX_CODES / REMAP_DEVICE_PREFIXES;
	struct run run = {0};
	struct remap_stats st;

	/* Use up every one of the 2^20 codes on purpose ... */
	for (uint64_t dev = 0; dev < devices; dev++)
		for (uint64_t p = 0; p < REMAP_DEVICE_PREFIXES; p++)
			run_add(&run, r, 0x1000 + dev, p << REMAP_SUFFIX_BITS | dev);
	remap_get_stats(r, &st);
	cr_assert_eq(st.prefixes, REMAP_PREFIX_CODES);
	cr_assert_eq(st.exact_entries, 0);
	/* ... then new devices and new prefixes must go to the exact map, and
	 * known prefixes keep encoding new inodes under them. */
	for (uint64_t i = 0; i < 300000; i++) {
		size_t before = run.n;

		run_add(&run, r, 0x9000 + i % 1000, i);
		cr_assert_eq(run.path[before] & REGION_MASK, REGION_EXACT);
	}
	for (uint64_t i = 0; i < 300000; i++)
		run_add(&run, r, 0x1000 + i % devices, mix64(i) | UINT64_C(1) << 63);
	for (uint64_t i = 0; i < 100000; i++) {
		size_t before = run.n;

		run_add(&run, r, 0x1000 + i % devices, (i % 17) << REMAP_SUFFIX_BITS | (devices + i));
		cr_assert_eq(run.path[before] & REGION_MASK, REGION_PREFIX);
	}
	assert_injective_and_stable(&run, r);
	remap_get_stats(r, &st);
	cr_assert_eq(st.prefixes, REMAP_PREFIX_CODES);
	cr_assert_eq(st.exact_entries, 600000);
	run_free(&run);
	remap_free(r);
}

Test(remap, a_device_over_its_quota_does_not_starve_other_devices)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	struct remap_stats st;

	for (uint64_t i = 0; i < 3 * REMAP_DEVICE_PREFIXES; i++)
		qid(r, 0x50, i << REMAP_SUFFIX_BITS);
	remap_get_stats(r, &st);
	cr_assert_eq(st.prefixes, REMAP_DEVICE_PREFIXES);
	cr_assert_eq(st.exact_entries, 2 * REMAP_DEVICE_PREFIXES);
	cr_assert_eq(qid(r, 0x51, 1) & REGION_MASK, REGION_PREFIX);
	cr_assert_eq(qid(r, 0x50, (UINT64_C(3) * REMAP_DEVICE_PREFIXES) << REMAP_SUFFIX_BITS) & REGION_MASK,
		     REGION_EXACT);
	remap_free(r);
}

Test(remap, enfile_comes_only_when_codes_and_exact_ids_are_all_used)
{
	const struct remap_limits lim = {.prefix_codes = 4, .device_prefixes = 3, .exact_ids = 3};
	struct remap *r;
	uint64_t seen[7], path;

	cr_assert_eq(remap_new_limited(MULTIDEVS_REMAP, ROOT_DEV, &lim, &r), 0);
	/* Device 1 holds its quota of 3 codes, device 2 takes the last one. */
	for (uint64_t p = 0; p < 3; p++)
		seen[p] = qid(r, 1, p << REMAP_SUFFIX_BITS);
	seen[3] = qid(r, 2, 0);
	/* Three exact ids remain. */
	seen[4] = qid(r, 1, UINT64_C(3) << REMAP_SUFFIX_BITS);
	seen[5] = qid(r, 3, 0);
	seen[6] = qid(r, 2, UINT64_MAX);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(seen[i] & REGION_MASK, i < 4 ? REGION_PREFIX : REGION_EXACT);
	cr_assert_eq(remap_qid_path(r, 4, 0, S_IFREG, &path, NULL), -ENFILE);
	cr_assert_eq(remap_qid_path(r, 1, UINT64_C(9) << REMAP_SUFFIX_BITS, S_IFREG, &path, NULL),
		     -ENFILE);
	/* Known inodes, new inodes under a known prefix and the root's
	 * identity region all still work. */
	cr_assert_eq(qid(r, 1, 0), seen[0]);
	cr_assert_eq(qid(r, 3, 0), seen[5]);
	cr_assert_eq(qid(r, 1, (UINT64_C(2) << REMAP_SUFFIX_BITS) | 99), seen[2] | 99);
	cr_assert_eq(qid(r, ROOT_DEV, 12), 12);
	remap_free(r);
}

Test(remap, limits_beyond_the_encoding_are_rejected)
{
	struct remap_limits lim;
	struct remap *r = (struct remap *)&lim; /* not NULL: failure must clear it */

	remap_default_limits(&lim);
	lim.prefix_codes++;
	cr_assert_eq(remap_new_limited(MULTIDEVS_REMAP, 0, &lim, &r), -EINVAL);
	cr_assert_null(r);
	remap_default_limits(&lim);
	lim.exact_ids++;
	cr_assert_eq(remap_new_limited(MULTIDEVS_REMAP, 0, &lim, &r), -EINVAL);
	remap_default_limits(&lim);
	lim.prefix_codes = 10;
	lim.device_prefixes = 11;
	cr_assert_eq(remap_new_limited(MULTIDEVS_REMAP, 0, &lim, &r), -EINVAL);
	lim.device_prefixes = 10;
	cr_assert_eq(remap_new_limited(MULTIDEVS_REMAP, 0, &lim, &r), 0);
	remap_free(r);
}

Test(remap, an_inode_keeps_its_qid_path_while_the_tables_grow)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	const uint64_t first_prefix = qid(r, 0x77, 5);
	const uint64_t first_exact = qid(r, 0x77, mix64(1) | TOP_BIT);
	size_t before = remap_memory_bytes(r);

	for (uint64_t i = 0; i < 500000; i++) {
		qid(r, 0x100 + i % 3000, i);
		qid(r, 0x77, mix64(i + 2));
	}
	cr_assert_gt(remap_memory_bytes(r), before, "the tables did grow");
	cr_assert_eq(qid(r, 0x77, 5), first_prefix);
	cr_assert_eq(qid(r, 0x77, mix64(1) | TOP_BIT), first_exact);
	remap_free(r);
}

#define WORKERS 4
#define SHARED_INPUTS 200000

struct shared_run {
	struct remap *r;
	pthread_barrier_t start;
	uint64_t paths[WORKERS][SHARED_INPUTS];
	atomic_int errors;
};

struct worker {
	struct shared_run *shared;
	unsigned index;
};

static void shared_input(size_t i, uint64_t *dev, uint64_t *ino)
{
	*dev = 0x200 + i % 200;
	*ino = i % 3 == 0 ? mix64(i) : i;
}

/* Each worker walks the inputs in its own order, so every thread meets
 * keys first that others are inserting at the same time. */
static void *shared_worker(void *arg)
{
	struct worker *w = arg;
	const size_t stride = (size_t[]){1, 7919, 104729, 15485863}[w->index];

	pthread_barrier_wait(&w->shared->start);
	for (size_t k = 0; k < SHARED_INPUTS; k++) {
		size_t i = (k * stride) % SHARED_INPUTS;
		uint64_t dev, ino;

		shared_input(i, &dev, &ino);
		if (remap_qid_path(w->shared->r, dev, ino, S_IFREG, &w->shared->paths[w->index][i],
				   NULL) != 0)
			atomic_fetch_add(&w->shared->errors, 1);
	}
	return NULL;
}

Test(remap, concurrent_lookups_agree_and_stay_injective)
{
	struct shared_run *shared = calloc(1, sizeof(*shared));
	struct worker workers[WORKERS];
	pthread_t threads[WORKERS];
	struct run run = {0};

	cr_assert_not_null(shared);
	shared->r = new_engine(MULTIDEVS_REMAP);
	atomic_init(&shared->errors, 0);
	pthread_barrier_init(&shared->start, NULL, WORKERS);
	for (unsigned t = 0; t < WORKERS; t++) {
		workers[t] = (struct worker){.shared = shared, .index = t};
		cr_assert_eq(pthread_create(&threads[t], NULL, shared_worker, &workers[t]), 0);
	}
	for (unsigned t = 0; t < WORKERS; t++)
		pthread_join(threads[t], NULL);
	cr_assert_eq(atomic_load(&shared->errors), 0);
	for (size_t i = 0; i < SHARED_INPUTS; i++)
		for (unsigned t = 1; t < WORKERS; t++)
			if (shared->paths[t][i] != shared->paths[0][i])
				cr_assert_fail("input %zu: thread %u got %#" PRIx64 ", thread 0 %#" PRIx64,
					       i, t, shared->paths[t][i], shared->paths[0][i]);
	for (size_t i = 0; i < SHARED_INPUTS; i++) {
		uint64_t dev, ino;

		shared_input(i, &dev, &ino);
		run_add(&run, shared->r, dev, ino);
		cr_assert_eq(run.path[i], shared->paths[0][i]);
	}
	assert_injective(&run);
	run_free(&run);
	pthread_barrier_destroy(&shared->start);
	remap_free(shared->r);
	free(shared);
}

/* ---- state file ----------------------------------------------------- */

static char state_dir[64];
static char state_path[96];

static void state_setup(void)
{
	strcpy(state_dir, "/tmp/ninepd-test-remap-XXXXXX");
	cr_assert_not_null(mkdtemp(state_dir));
	snprintf(state_path, sizeof(state_path), "%s/remap.state", state_dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void state_teardown(void)
{
	nftw(state_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(state, .init = state_setup, .fini = state_teardown);

/* An engine with prefix codes on many devices, exact entries from a device
 * past its quota, and root inodes in both halves. */
static struct remap *mixed_engine(struct run *run)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);

	for (uint64_t i = 0; i < 20000; i++) {
		run_add(run, r, 0x300 + i % 50, i);
		run_add(run, r, 0x400, mix64(i));
		run_add(run, r, ROOT_DEV, i % 2 ? i : mix64(i) | TOP_BIT);
	}
	return r;
}

static size_t read_whole(const char *path, uint8_t **out)
{
	FILE *f = fopen(path, "rb");
	long size;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	*out = malloc((size_t)size + 1);
	cr_assert_eq(fread(*out, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	return (size_t)size;
}

static void write_whole(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* Make a doctored file pass the checksum, so that a later check is the
 * one that must refuse it. */
static void reseal(uint8_t *buf, size_t len)
{
	uint64_t sum = XXH64(buf, len - 8, 0);

	for (int i = 0; i < 8; i++)
		buf[len - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Load must fail with want, name the problem, and hand out no engine. */
static void assert_refused(int want, const char *reason)
{
	struct remap *r = (struct remap *)state_path; /* not NULL: failure must clear it */
	char err[512] = "";
	int rc = remap_state_load(state_path, ROOT_DEV, &r, err, sizeof(err));

	cr_assert_eq(rc, want, "rc %d (%s), want %d", rc, err, want);
	cr_assert_null(r);
	cr_assert(strstr(err, reason), "error \"%s\" does not mention \"%s\"", err, reason);
}

Test(state, save_then_load_gives_identical_qid_paths_and_continues_identically)
{
	struct run run = {0};
	struct remap *a = mixed_engine(&run), *b;
	struct remap_stats sa, sb;
	char err[256];

	cr_assert_eq(remap_state_save(a, state_path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(remap_state_load(state_path, ROOT_DEV, &b, err, sizeof(err)), 0, "%s", err);
	remap_get_stats(a, &sa);
	remap_get_stats(b, &sb);
	cr_assert_gt(sa.exact_entries, 0);
	cr_assert_eq(sb.prefixes, sa.prefixes);
	cr_assert_eq(sb.exact_entries, sa.exact_entries);
	assert_stable(&run, b);
	/* New keys after the restart get what they would have got without it. */
	for (uint64_t i = 0; i < 20000; i++) {
		cr_assert_eq(qid(b, 0x500 + i % 30, i), qid(a, 0x500 + i % 30, i));
		cr_assert_eq(qid(b, 0x400, mix64(i + 1000000)), qid(a, 0x400, mix64(i + 1000000)));
	}
	run_free(&run);
	remap_free(a);
	remap_free(b);
}

Test(state, save_replaces_the_old_file_and_leaves_no_temporary)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP), *back;
	struct dirent *e;
	DIR *d;
	int files = 0;

	qid(r, 1, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	qid(r, 2, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	d = opendir(state_dir);
	while ((e = readdir(d)))
		files += e->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(files, 1);
	cr_assert_eq(remap_state_load(state_path, ROOT_DEV, &back, NULL, 0), 0);
	cr_assert_eq(qid(back, 2, 1), qid(r, 2, 1), "the second save is the one kept");
	remap_free(back);
	remap_free(r);
}

Test(state, save_refuses_engines_other_than_remap)
{
	struct remap *r = new_engine(MULTIDEVS_WARN);
	char err[256] = "";

	cr_assert_eq(remap_state_save(r, state_path, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "multidevs=remap"), "%s", err);
	cr_assert_eq(access(state_path, F_OK), -1);
	remap_free(r);
}

Test(state, a_missing_file_is_enoent)
{
	assert_refused(-ENOENT, "no state file");
}

Test(state, every_truncation_is_refused)
{
	struct run run = {0};
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint8_t *buf;
	size_t len;

	for (uint64_t i = 0; i < 5; i++) {
		run_add(&run, r, 0x10 + i, i);
		run_add(&run, r, 0x20, mix64(i) | TOP_BIT);
	}
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	for (size_t cut = 0; cut < len; cut++) {
		write_whole(state_path, buf, cut);
		assert_refused(-EBADMSG, cut < 64 ? "at least 64" : "truncated");
	}
	free(buf);
	run_free(&run);
	remap_free(r);
}

/* What load says about a bit flipped at offset at: magic, version, counts
 * and encoding are judged before the checksum, so they speak first. */
static const char *flip_reason(size_t at)
{
	if (at < 8)
		return "bad magic";
	if (at < 12)
		return "version";
	if (at < 16)
		return "suffix bits";
	if (at >= 40 && at < 56)
		return "truncated or padded";
	return "checksum mismatch";
}

Test(state, every_flipped_byte_is_refused)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP), *back;
	uint8_t *buf;
	size_t len;

	for (uint64_t i = 0; i < 5; i++) {
		qid(r, 0x10 + i, i);
		qid(r, 0x20, mix64(i) | TOP_BIT);
	}
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	for (size_t at = 0; at < len; at++) {
		/* One flipped bit per byte, the bit position cycling. */
		buf[at] ^= (uint8_t)(1u << at % 8);
		write_whole(state_path, buf, len);
		assert_refused(-EBADMSG, flip_reason(at));
		buf[at] ^= (uint8_t)(1u << at % 8);
	}
	write_whole(state_path, buf, len);
	cr_assert_eq(remap_state_load(state_path, ROOT_DEV, &back, NULL, 0), 0,
		     "the undamaged file still loads");
	free(buf);
	remap_free(back);
	remap_free(r);
}

Test(state, foreign_files_are_refused)
{
	char text[200];

	memset(text, 'x', sizeof(text));
	write_whole(state_path, (const uint8_t *)text, sizeof(text));
	assert_refused(-EBADMSG, "bad magic");
	write_whole(state_path, (const uint8_t *)"", 0);
	assert_refused(-EBADMSG, "at least 64");
	cr_assert_eq(unlink(state_path), 0);
	cr_assert_eq(mkdir(state_path, 0700), 0);
	assert_refused(-EBADMSG, "not a regular file");
	cr_assert_eq(rmdir(state_path), 0);
}

Test(state, another_format_version_is_refused)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint8_t *buf;
	size_t len;

	qid(r, 1, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	buf[8] = 2;
	reseal(buf, len);
	write_whole(state_path, buf, len);
	assert_refused(-EBADMSG, "version 2");
	buf[8] = 1;
	buf[12] = 40; /* suffix bits of another encoding */
	reseal(buf, len);
	write_whole(state_path, buf, len);
	assert_refused(-EBADMSG, "suffix bits");
	free(buf);
	remap_free(r);
}

Test(state, a_file_for_another_root_device_is_stale)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP), *back = NULL;
	char err[256] = "";

	qid(r, 1, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	cr_assert_eq(remap_state_load(state_path, ROOT_DEV + 1, &back, err, sizeof(err)), -ESTALE);
	cr_assert_null(back);
	cr_assert(strstr(err, "root device"), "%s", err);
	remap_free(r);
}

Test(state, a_padded_file_is_refused)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint8_t *buf;
	size_t len;

	qid(r, 1, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	buf = realloc(buf, len + 16);
	memmove(buf + len + 8, buf + len - 8, 8);
	memset(buf + len - 8, 0, 16);
	reseal(buf, len + 16);
	write_whole(state_path, buf, len + 16);
	assert_refused(-EBADMSG, "truncated or padded");
	free(buf);
	remap_free(r);
}

/* Header offsets and sizes of the version 1 format (docs/remap.md). */
#define OFF_NPREFIXES 40
#define OFF_ENTRIES 56

/* Save a small engine, let edit() doctor the entries, reseal the checksum
 * and expect the content check to refuse it. */
static void assert_content_refused(void (*edit)(uint8_t *entries), const char *reason)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint8_t *buf;
	size_t len;

	/* Two prefix codes: (device 1, prefix 0) and (device 2, prefix 0). */
	qid(r, 1, 1);
	qid(r, 2, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	cr_assert_eq(len, OFF_ENTRIES + 2 * 16 + 8);
	edit(buf + OFF_ENTRIES);
	reseal(buf, len);
	write_whole(state_path, buf, len);
	assert_refused(-EBADMSG, reason);
	free(buf);
	remap_free(r);
}

static void duplicate_key(uint8_t *e)
{
	memcpy(e + 16, e, 16);
}

static void root_identity_prefix(uint8_t *e)
{
	put64(e, ROOT_DEV); /* root inodes below 2^63 never take a code */
}

static void overwide_prefix(uint8_t *e)
{
	put64(e + 8, UINT64_C(1) << (64 - REMAP_SUFFIX_BITS));
}

Test(state, content_remap_could_not_produce_is_refused_despite_a_valid_checksum)
{
	assert_content_refused(duplicate_key, "replays to");
	assert_content_refused(root_identity_prefix, "replays to");
	assert_content_refused(overwide_prefix, "wider than");
}

Test(state, an_exact_entry_whose_prefix_could_still_get_a_code_is_refused)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);
	uint8_t *buf;
	size_t len;

	/* One prefix code and no exact entries; turn the prefix entry into an
	 * exact entry.  Its device is under quota, so remap would have given
	 * it a code: a forged file. */
	qid(r, 1, 1);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	len = read_whole(state_path, &buf);
	put64(buf + OFF_NPREFIXES, 0);
	put64(buf + OFF_NPREFIXES + 8, 1);
	reseal(buf, len);
	write_whole(state_path, buf, len);
	assert_refused(-EBADMSG, "exact entry 0");
	free(buf);
	remap_free(r);
}

/* ---- where the state file may be ------------------------------------ */

/* state_dir/name, in a static buffer per call site. */
static const char *in_state_dir(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", state_dir, name);

	cr_assert(n > 0 && (size_t)n < len);
	return buf;
}

/* Load path, expecting want, a reason naming what, and no engine. */
static void assert_load_refused(const char *path, int want, const char *what)
{
	struct remap *r = (struct remap *)state_path;
	char err[512] = "";

	cr_assert_eq(remap_state_load(path, ROOT_DEV, &r, err, sizeof(err)), want, "%s", err);
	cr_assert_null(r);
	cr_assert(strstr(err, what), "error \"%s\" does not mention \"%s\"", err, what);
}

/* An engine worth saving. */
static struct remap *small_engine(void)
{
	struct remap *r = new_engine(MULTIDEVS_REMAP);

	qid(r, 1, 1);
	return r;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

Test(state, a_symlinked_state_file_is_not_followed_by_load)
{
	struct remap *r = small_engine();
	char target[128];

	/* A valid state file behind the link: only the link is refused. */
	in_state_dir(target, sizeof(target), "elsewhere");
	cr_assert_eq(remap_state_save(r, target, NULL, 0), 0);
	cr_assert_eq(symlink(target, state_path), 0);
	assert_load_refused(state_path, -ELOOP, "symbolic link");
	cr_expect_eq(remap_state_check_path(state_path, NULL, 0), -ELOOP);
	remap_free(r);
}

Test(state, save_replaces_a_symlinked_state_file_and_leaves_its_target_alone)
{
	struct remap *r = small_engine();
	char target[128];
	struct stat st;

	in_state_dir(target, sizeof(target), "target");
	write_whole(target, (const uint8_t *)"keep", 4);
	cr_assert_eq(symlink(target, state_path), 0);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	cr_assert_eq(lstat(state_path, &st), 0);
	cr_expect(S_ISREG(st.st_mode), "the link itself is replaced");
	cr_assert_eq(stat(target, &st), 0);
	cr_expect_eq(st.st_size, 4, "the link's target is untouched");
	remap_free(r);
}

Test(state, a_symlinked_directory_on_the_path_is_refused_by_load_save_and_check)
{
	struct remap *r = small_engine();
	char real[128], link[128], path[160];
	char err[512] = "";

	in_state_dir(real, sizeof(real), "real");
	in_state_dir(link, sizeof(link), "link");
	cr_assert_eq(mkdir(real, 0700), 0);
	cr_assert_eq(symlink("real", link), 0);
	snprintf(path, sizeof(path), "%s/remap.state", link);

	cr_expect_eq(remap_state_save(r, path, err, sizeof(err)), -ELOOP, "%s", err);
	cr_expect(strstr(err, "link' is a symbolic link"), "%s", err);
	cr_expect_eq(count_entries(real), 0, "nothing was written through the link");

	/* A good file in the real directory is still not reached. */
	snprintf(path, sizeof(path), "%s/remap.state", real);
	cr_assert_eq(remap_state_save(r, path, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/remap.state", link);
	assert_load_refused(path, -ELOOP, "link' is a symbolic link");
	cr_expect_eq(remap_state_check_path(path, NULL, 0), -ELOOP);
	remap_free(r);
}

Test(state, a_fifo_is_refused_without_blocking, .timeout = 10)
{
	struct remap *r = small_engine();

	cr_assert_eq(mkfifo(state_path, 0600), 0);
	assert_load_refused(state_path, -EBADMSG, "not a regular file but a FIFO");
	cr_expect_eq(remap_state_check_path(state_path, NULL, 0), -EBADMSG);
	/* Saving replaces it, by rename, without opening it. */
	cr_expect_eq(remap_state_save(r, state_path, NULL, 0), 0);
	remap_free(r);
}

Test(state, a_socket_is_refused)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", state_path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_load_refused(state_path, -EBADMSG, "not a regular file but a socket");
	close(fd);
}

Test(state, a_file_on_the_path_where_a_directory_should_be_is_refused)
{
	struct remap *r = small_engine();
	char file[128], path[160];

	in_state_dir(file, sizeof(file), "plain");
	write_whole(file, (const uint8_t *)"x", 1);
	snprintf(path, sizeof(path), "%s/remap.state", file);
	assert_load_refused(path, -ENOTDIR, "plain' is not a directory");
	cr_expect_eq(remap_state_save(r, path, NULL, 0), -ENOTDIR);
	remap_free(r);
}

Test(state, a_missing_directory_is_enoent_for_load_and_check)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/missing/remap.state", state_dir);
	assert_load_refused(path, -ENOENT, "missing' does not exist");
	cr_expect_eq(remap_state_check_path(path, NULL, 0), -ENOENT);
}

Test(state, a_path_that_names_a_directory_is_refused)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/", state_dir);
	cr_expect_eq(remap_state_check_path(path, NULL, 0), -EISDIR);
	snprintf(path, sizeof(path), "%s/..", state_dir);
	cr_expect_eq(remap_state_check_path(path, NULL, 0), -EISDIR);
}

Test(state, check_accepts_a_missing_or_regular_file_in_a_real_directory)
{
	struct remap *r = small_engine();
	char path[160], err[512] = "";

	cr_expect_eq(remap_state_check_path(state_path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(remap_state_save(r, state_path, NULL, 0), 0);
	remap_free(r);
	cr_expect_eq(remap_state_check_path(state_path, err, sizeof(err)), 0, "%s", err);
	/* "." and "//" are no links. */
	snprintf(path, sizeof(path), "%s/.//remap.state", state_dir);
	cr_expect_eq(remap_state_check_path(path, err, sizeof(err)), 0, "%s", err);
}

Test(state, save_leaves_no_temporary_behind_when_it_fails)
{
	struct remap *r = small_engine();

	/* A directory where the file should be: the rename fails. */
	cr_assert_eq(mkdir(state_path, 0700), 0);
	cr_expect_lt(remap_state_save(r, state_path, NULL, 0), 0);
	cr_expect_eq(count_entries(state_dir), 1, "only the directory is left");
	remap_free(r);
}
