/* Requests (request.h). */
#include "server/request.h"

#include <errno.h>
#include <stdlib.h>

int req_out_reserve(struct req *r, uint32_t size)
{
	if (size <= r->outcap)
		return 0;
	uint8_t *b = malloc(size);
	if (!b)
		return -ENOMEM;
	if (r->outbuf != r->outsmall)
		free(r->outbuf);
	r->outbuf = b;
	r->outcap = size;
	return 0;
}
