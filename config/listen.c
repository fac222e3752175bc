/* listen_addr_parse(): the one place a listen address is taken apart;
 * listen_cid_allowed(): the one place a vsock peer is let in or not. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/internal.h"

/* The port of "tcp:HOST:PORT": 1..65535 in decimal (leading zeros are
 * fine, as getaddrinfo() takes them); 0 if it is anything else. */
static unsigned parse_port(const char *s)
{
	unsigned v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return 0;
	}
	return v;
}

/*
 * Split "HOST:PORT" or "[IPV6]:PORT" into the host (*host, *hostlen,
 * brackets removed) and a->port.  NULL, or what is wrong.  An IPv6 address
 * needs brackets: without them its last colon could be read as the port's.
 */
static const char *split_tcp(const char *hostport, struct listen_addr *a, const char **host,
			     size_t *hostlen)
{
	const char *port;

	if (*hostport == '[') {
		const char *end = strchr(hostport, ']');

		if (!end || end == hostport + 1 || end[1] != ':')
			return "expected tcp:[IPV6]:PORT";
		*host = hostport + 1;
		*hostlen = (size_t)(end - *host);
		port = end + 2;
	} else {
		port = strrchr(hostport, ':');
		if (!port)
			return "expected tcp:HOST:PORT";
		if (memchr(hostport, ':', (size_t)(port - hostport)))
			return "an IPv6 host must be in brackets: tcp:[IPV6]:PORT";
		*host = hostport;
		*hostlen = (size_t)(port - hostport);
		port++;
	}
	if (*hostlen > LISTEN_HOST_MAX)
		return "host longer than 255 bytes";
	if (!(a->port = parse_port(port)))
		return "port is not a number from 1 to 65535";
	return NULL;
}

bool config_parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* The problem that is not one: listen_addr_parse() returns -ENOMEM for it. */
static const char out_of_memory[] = "out of memory";

/* A peer CID of an allow list: any number but VMADDR_CID_ANY. */
static bool parse_peer_cid(const char *s, size_t len, uint32_t *out)
{
	return config_parse_u32(s, len, LISTEN_CID_ANY - 1, out);
}

/* Append the ranges of "CID[-CID][+...]" (s, len) to a's allow list.
 * NULL, or what is wrong. */
static const char *parse_allow(const char *s, size_t len, struct listen_addr *a)
{
	const char *end = s + len;

	if (!len)
		return "allow= needs peer CIDs, as in allow=3+4 or allow=3-9";
	while (s <= end) {
		const char *plus = memchr(s, '+', (size_t)(end - s));
		const char *item_end = plus ? plus : end;
		const char *dash = memchr(s, '-', (size_t)(item_end - s));
		struct cid_range r;
		struct cid_range *grown;

		if (!parse_peer_cid(s, (size_t)((dash ? dash : item_end) - s), &r.first))
			return "allow= takes peer CIDs from 0 to 4294967294 and ranges FIRST-LAST, "
			       "joined by '+'";
		r.last = r.first;
		if (dash && !parse_peer_cid(dash + 1, (size_t)(item_end - dash - 1), &r.last))
			return "allow= takes peer CIDs from 0 to 4294967294 and ranges FIRST-LAST, "
			       "joined by '+'";
		if (r.last < r.first)
			return "allow= range FIRST-LAST with LAST below FIRST";
		grown = realloc(a->allow, (a->nallow + 1) * sizeof(*grown));
		if (!grown)
			return out_of_memory;
		a->allow = grown;
		a->allow[a->nallow++] = r;
		s = item_end + 1;
	}
	return NULL;
}

/*
 * "[CID:]PORT[,allow=CIDS]..." after "vsock:" into a.  NULL, or what is
 * wrong.  CID "any" and "-1" are VMADDR_CID_ANY, as is leaving it out.
 */
static const char *split_vsock(const char *spec, struct listen_addr *a)
{
	const char *opts = strchr(spec, ',');
	const char *addr_end = opts ? opts : spec + strlen(spec);
	const char *colon = memchr(spec, ':', (size_t)(addr_end - spec));
	const char *port = colon ? colon + 1 : spec;
	uint32_t v;

	a->cid = LISTEN_CID_ANY;
	if (colon) {
		size_t len = (size_t)(colon - spec);

		if ((len == 3 && !strncmp(spec, "any", 3)) || (len == 2 && !strncmp(spec, "-1", 2)))
			a->cid = LISTEN_CID_ANY;
		else if (config_parse_u32(spec, len, LISTEN_CID_ANY, &v))
			a->cid = v;
		else
			return "CID is not a number from 0 to 4294967295, any or -1";
		if (memchr(port, ':', (size_t)(addr_end - port)))
			return "expected vsock:PORT or vsock:CID:PORT";
	}
	if (!config_parse_u32(port, (size_t)(addr_end - port), LISTEN_VSOCK_PORT_MAX, &v) || v == 0)
		return "port is not a number from 1 to 4294967294";
	a->port = v;
	while (opts) {
		const char *opt = opts + 1;
		const char *next = strchr(opt, ',');
		size_t len = next ? (size_t)(next - opt) : strlen(opt);
		const char *problem;

		if (len < 6 || strncmp(opt, "allow=", 6))
			return "unknown vsock option, allow=CIDS is the only one";
		if ((problem = parse_allow(opt + 6, len - 6, a)))
			return problem;
		opts = next;
	}
	return NULL;
}

/* Set a's kind and port and find the span of its path or host (none for
 * stdio).  NULL, or what is wrong with text. */
static const char *split_listen(const char *text, struct listen_addr *a, const char **part,
				size_t *partlen)
{
	*part = NULL;
	*partlen = 0;
	if (!strcmp(text, "stdio")) {
		a->kind = LISTEN_STDIO;
		return NULL;
	}
	if (!strncmp(text, "unix:", 5)) {
		a->kind = LISTEN_UNIX;
		*part = text + 5;
		*partlen = strlen(*part);
		if (!*partlen)
			return "empty socket path";
		if (*partlen >= CONFIG_UNIX_PATH_MAX)
			return "socket path longer than 107 bytes";
		return NULL;
	}
	if (!strncmp(text, "tcp:", 4)) {
		a->kind = LISTEN_TCP;
		return split_tcp(text + 4, a, part, partlen);
	}
	if (!strncmp(text, "vsock:", 6)) {
		a->kind = LISTEN_VSOCK;
		return split_vsock(text + 6, a);
	}
	return "unknown address type";
}

int listen_addr_parse(struct listen_addr *out, const char *text, char *msg, size_t msglen)
{
	const char *problem, *part;
	size_t partlen;
	char *copy;

	*out = (struct listen_addr){0};
	problem = split_listen(text, out, &part, &partlen);
	if (problem) {
		listen_addr_free(out);
		if (problem == out_of_memory) {
			snprintf(msg, msglen, "%s", problem);
			return -ENOMEM;
		}
		snprintf(msg, msglen, "%s (accepted: " ACCEPTED_LISTEN ")", problem);
		return -EINVAL;
	}
	copy = part ? strndup(part, partlen) : NULL;
	if ((part && !copy) || !(out->text = strdup(text))) {
		free(copy);
		listen_addr_free(out);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	if (out->kind == LISTEN_UNIX)
		out->path = copy;
	else
		out->host = copy;
	return 0;
}

void listen_addr_free(struct listen_addr *a)
{
	free(a->text);
	free(a->path);
	free(a->host);
	free(a->allow);
	*a = (struct listen_addr){0};
}

bool listen_cid_allowed(const struct cid_range *allow, size_t n, uint32_t cid)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (cid >= allow[i].first && cid <= allow[i].last)
			return true;
	return false;
}

bool listen_addr_same_socket(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->kind == LISTEN_VSOCK && b->kind == LISTEN_VSOCK)
		return a->port == b->port &&
		       (a->cid == b->cid || a->cid == LISTEN_CID_ANY || b->cid == LISTEN_CID_ANY);
	return a->kind == b->kind && !strcmp(a->text, b->text);
}
