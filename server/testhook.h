/* A test-only hook, built into tests/sandbox's ninepd-walls and never into
 * ninepd (NINEPD_TEST_HOOKS): a request that tries what the sandbox and the
 * seccomp filter must stop, so that a test can prove the walls from inside
 * the request path. */
#ifndef NINEPD_SERVER_TESTHOOK_H
#define NINEPD_SERVER_TESTHOOK_H

#include "proto/9p.h"

/*
 * For a Txattrwalk of the name "ninepd.test.walls.WHAT", on the worker that
 * serves it, after the request's credentials are entered:
 *   open    open("/etc/shadow", O_RDONLY)
 *   execve  execve("/bin/true")
 *   socket  socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), which any process
 *           may open and the daemon never needs
 * and returns the call's -errno, or -ENOTRECOVERABLE when it succeeded (the
 * wall did not hold).  Any other name: 1, and the request goes on.
 */
int testhook_xattrwalk(const struct np_str *name);

#endif
