/* The request contract: one table row per 9P2000.L request saying which
 * fids it takes and of what kind, that they belong to one export, whether
 * it modifies the export (EROFS when read-only), whose credentials its
 * work runs with and what happens to new fids afterwards; and the one
 * wrapper that enforces a row before the row's handler (ops.h) runs.
 *
 * A request's three steps, called by conn.c:
 *   dispatch_prep  loop thread: the checks of the row, fid references, the
 *                  handler's own loop-side part; DISPATCH_REPLY (r->err or
 *                  r->out is the answer) or DISPATCH_WORK;
 *   dispatch_work  worker thread: enters the row's credentials, runs the
 *                  handler's file-system part;
 *   dispatch_done  loop thread: installs new fids or an opened descriptor;
 *                  DISPATCH_REPLY, or DISPATCH_WAIT (a blocking Tlock that
 *                  found the lock taken: conn.c retries it later).
 * Tversion and Tflush have rows too, but are the session's: conn.c
 * serves them and never hands them to dispatch_prep. */
#ifndef NINEPD_SERVER_DISPATCH_H
#define NINEPD_SERVER_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

struct req;

enum dispatch_result {
	DISPATCH_REPLY = 0,
	DISPATCH_WORK,
	DISPATCH_WAIT,
};

int dispatch_prep(struct req *r);
void dispatch_work(struct req *r);
int dispatch_done(struct req *r);
/* True when the request has no done step that could change its reply, so
 * a worker may send the reply as soon as the work is over. */
bool dispatch_reply_is_final(const struct req *r);
/* True when the request counts against its export's bps/iops limits
 * (Tread and Twrite of a file, on a throttled export): *dir and *bytes say
 * how (dispatch_prep has accepted it). */
bool dispatch_throttled(const struct req *r, int *dir, uint64_t *bytes);
/* The contract's name for a request type (tests, logs); NULL if none. */
const char *dispatch_contract_name(uint8_t type);

#endif
