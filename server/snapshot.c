/* Reference-counted configurations (snapshot.h). */
#include "server/snapshot.h"

#include <stdlib.h>

struct cfg_snapshot *cfg_snapshot_new(struct ninepd_config *cfg, bool owned)
{
	struct cfg_snapshot *s = calloc(1, sizeof *s);
	if (s) {
		s->cfg = cfg;
		s->refs = 1;
		s->owned = owned;
	}
	return s;
}

struct cfg_snapshot *cfg_snapshot_ref(struct cfg_snapshot *s)
{
	if (s)
		s->refs++;
	return s;
}

void cfg_snapshot_unref(struct cfg_snapshot *s)
{
	if (!s || --s->refs > 0)
		return;
	if (s->owned) {
		config_free(s->cfg);
		free(s->cfg);
	}
	free(s);
}
