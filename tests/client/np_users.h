/* The scaffolding of the suites about users (identity, access, privs):
 * each test starts its own ninepd with the options it needs (np_fixture)
 * and attaches clients to it as several uids: start(), attach(), walk(),
 * HOST() and finish() (the suite's .fini).  np_suite.h is the simpler
 * suite whose daemon the suite starts.  Header-only with static state, so
 * that each test program has a fixture of its own. */
#ifndef NINEPD_TESTS_NP_USERS_H
#define NINEPD_TESTS_NP_USERS_H

#include <criterion/criterion.h>
#include <string.h>

#include "np_client.h"

static struct np_fixture fx;
static struct np_client *suite_clients[8]; /* closed by finish() */
static size_t suite_nclients;

/* ninepd -e DIR[opts] plus extra (NULL-terminated, may be NULL), and a
 * client attached as root on fx.c. */
static inline void start(const char *opts, const char *const extra[])
{
	suite_nclients = 0;
	int err = np_fixture_start(&fx, opts, extra);
	cr_assert_eq(err, 0, "starting ninepd -e DIR%s: %s (%s)", opts ? opts : "",
		     strerror(-err), fx.error);
}

/* The daemon must still run, stop cleanly and leave a clean log; a test
 * that ran a daemon of its own (no fixture) has nothing to finish. */
static inline void finish(void)
{
	for (size_t i = 0; i < suite_nclients; i++)
		np_client_close(suite_clients[i]);
	suite_nclients = 0;
	if (!fx.export_dir[0])
		return;
	char why[4096];
	cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);
}

/* A client attached as n_uname on its own connection (root fid 1), closed
 * by finish(). */
static inline struct np_client *attach(uint32_t n_uname)
{
	struct np_client *c;
	cr_assert_lt(suite_nclients, sizeof(suite_clients) / sizeof(suite_clients[0]));
	int err = np_fixture_client(&fx, n_uname, &c, 1);
	cr_assert_eq(err, 0, "attach as uid %u: %s", n_uname, strerror(-err));
	return suite_clients[suite_nclients++] = c;
}

/* A path in the export; the buffer lives until the end of the full
 * expression. */
#define HOST(rel) np_fixture_path(&fx, (rel), (char[4096]){0}, 4096)

/* A new fid walked from root fid 1 to path, which must exist. */
static inline uint32_t walk(struct np_client *c, const char *path)
{
	uint32_t f = np_fid_new(c);
	int err = np_walk_path(c, 1, f, path, NULL);
	cr_assert_eq(err, 0, "walk to \"%s\": %s", path, strerror(-err));
	return f;
}

/* Every attribute of path as the guest sees it (a walk, Tgetattr, Tclunk). */
static inline struct np_attr guest_attr(struct np_client *c, const char *path)
{
	uint32_t f = walk(c, path);
	struct np_attr a;
	int err = np_getattr(c, f, NP_GETATTR_ALL, &a);
	cr_assert_eq(err, 0, "getattr \"%s\": %s", path, strerror(-err));
	np_clunk(c, f);
	return a;
}

#endif
