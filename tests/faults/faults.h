/* Support for the fault tests: a daemon spawner with the knobs the shared
 * one (np_daemon_start) does not have, a look at the daemon's resources
 * through /proc, a 9P exchange over a pipe pair, and test data patterns. */
#ifndef NINEPD_TESTS_FAULTS_H
#define NINEPD_TESTS_FAULTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "np_client.h"

/* How fault_spawn() sets up the child between fork and exec. */
struct fault_spawn {
	rlim_t nofile;   /* > 0: soft and hard RLIMIT_NOFILE */
	int listen_fd;   /* >= 0: becomes fd 3, with LISTEN_FDS=1 and LISTEN_PID */
	pid_t listen_pid; /* LISTEN_PID to announce; 0: the child's own pid */
	int in_fd;       /* >= 0: the child's stdin */
	int out_fd;      /* >= 0: the child's stdout */
	const char *wait_addr; /* "unix:PATH" to wait for, or NULL */
};

/* fault_spawn options that change nothing: no fd passed, limits inherited. */
#define FAULT_SPAWN_DEFAULTS {.listen_fd = -1, .in_fd = -1, .out_fd = -1}

/*
 * Fork and exec $NINEPD with argv (argv[0] is the first argument) like
 * np_daemon_start(), set up as o says; d then works with np_daemon_stop(),
 * np_daemon_wait(), np_daemon_log() and np_daemon_cleanup().  With
 * o->wait_addr, waits up to 10 s until it accepts connections (-ECHILD if
 * the daemon exited first, -ETIMEDOUT).  The caller's fds given in o stay
 * open in the caller.
 */
int fault_spawn(struct np_daemon *d, const char *const argv[], const struct fault_spawn *o);

/* CLOCK_MONOTONIC in milliseconds; sleeping that long. */
long fault_now_ms(void);
void fault_sleep_ms(long ms);

/* Open fds of process pid (entries of /proc/PID/fd), or -errno. */
int proc_fd_count(pid_t pid);
/* A "Key:   N kB" line of /proc/PID/status in KiB, or -errno. */
long proc_status_kib(pid_t pid, const char *key);
/* Wait up to timeout_ms until pid has at most `target` fds open; returns
 * the last count seen. */
int proc_wait_fd_count(pid_t pid, int target, int timeout_ms);
/* The soft RLIMIT_NOFILE of pid from /proc/PID/limits, or -errno. */
long proc_nofile_limit(pid_t pid);

/* Bytes that depend only on seed and position: what a write put there. */
void fault_pattern(void *buf, size_t len, uint64_t seed);

/*
 * One request/reply over a pipe pair (np_client speaks only to sockets):
 * encode *t (tag as given) into buf, write it to wfd, read one frame from
 * rfd into buf and decode it into *r (views into buf).  Returns 0 when the
 * reply is t->type + 1, -ecode for Rlerror, -EPROTO, -ETIMEDOUT (10 s) or
 * -ECONNRESET (end of file).
 */
int pipe_rpc(int wfd, int rfd, const struct np_msg *t, uint8_t *buf, size_t cap,
	     struct np_msg *r);
/* Its halves: send one request; receive and decode one frame, whatever it
 * is (0, -EPROTO, -ETIMEDOUT or -ECONNRESET at end of file). */
int pipe_send(int wfd, const struct np_msg *t, uint8_t *buf, size_t cap);
int pipe_recv(int rfd, uint8_t *buf, size_t cap, struct np_msg *r);

#endif
