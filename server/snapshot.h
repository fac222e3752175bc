/* A configuration as the daemon runs it, reference counted: requests and
 * exports hold a reference, so a SIGHUP reload can replace it while they
 * still read it, and it is freed with the last reference.  References
 * change on the loop thread only; a worker reads the configuration of the
 * request it runs, which cannot go away under it. */
#ifndef NINEPD_SERVER_SNAPSHOT_H
#define NINEPD_SERVER_SNAPSHOT_H

#include <stdbool.h>

#include "config/config.h"

struct cfg_snapshot {
	struct ninepd_config *cfg;
	int refs;
	bool owned; /* config_free + free with the last reference */
};

struct cfg_snapshot *cfg_snapshot_new(struct ninepd_config *cfg, bool owned);
struct cfg_snapshot *cfg_snapshot_ref(struct cfg_snapshot *s);   /* NULL: NULL */
void cfg_snapshot_unref(struct cfg_snapshot *s);                  /* NULL: no-op */

#endif
