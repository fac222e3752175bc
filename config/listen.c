/* listen_addr_parse(): the one place a listen address is taken apart. */
#include <errno.h>
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
		*out = (struct listen_addr){0};
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
	*a = (struct listen_addr){0};
}
