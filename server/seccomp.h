/* The system calls the daemon may make once it is set up: one allow-list
 * (server/seccomp.c, a comment per group), installed on every thread
 * after the sandbox and the privilege drop. */
#ifndef NINEPD_SERVER_SECCOMP_H
#define NINEPD_SERVER_SECCOMP_H

#include <stddef.h>

#include "config/config.h"

/*
 * Installs the allow-list on every thread of the process (TSYNC) and sets
 * no_new_privs.  A call off the list then kills the process with SIGSYS
 * (SECCOMP_FILTER_KILL), or fails with EPERM and is logged on stderr by
 * name (SECCOMP_FILTER_LOG: a SIGSYS handler; threads must not block
 * SIGSYS).  SECCOMP_FILTER_NONE does nothing.  Returns 0, or -errno with a
 * one-line reason in err (the caller must exit: the list is the
 * configuration's promise).
 */
int syscall_filter_install(enum seccomp_mode mode, char *err, size_t errlen);

#endif
