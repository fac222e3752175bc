/* --trace: one readable line per T- and R-message, client strings escaped. */
#ifndef NINEPD_SERVER_TRACE_H
#define NINEPD_SERVER_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/9p.h"

void trace_msg(uint64_t conn_id, const struct np_msg *m, bool reply);

#endif
