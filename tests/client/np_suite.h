/* The Criterion suite most integration tests share: every test gets its own
 * daemon on a fresh, empty export (the fixture `fx`), and fails if that
 * daemon crashed or logged a sanitizer report.  Include after criterion.h. */
#ifndef NINEPD_TESTS_NP_SUITE_H
#define NINEPD_TESTS_NP_SUITE_H

#include "np_client.h"

#define NP_FIXTURE_SUITE(suite, timeout_s)                                            \
	static struct np_fixture fx;                                                   \
	static void np_suite_setup(void)                                               \
	{                                                                              \
		int err = np_fixture_start(&fx, NULL, NULL);                           \
		cr_assert_eq(err, 0, "starting ninepd: %s", fx.error);                 \
	}                                                                              \
	static void np_suite_teardown(void)                                            \
	{                                                                              \
		char why[4096];                                                        \
		cr_expect_eq(np_fixture_finish(&fx, why, sizeof(why)), 0, "%s", why);  \
	}                                                                              \
	TestSuite(suite, .init = np_suite_setup, .fini = np_suite_teardown,            \
		  .timeout = timeout_s)

#endif
