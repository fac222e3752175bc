/* Listeners: where clients connect (unix, tcp and vsock sockets, sockets
 * passed by systemd) and the connections that need no listener (stdio, adopted
 * descriptors).  Each accepted connection is handed to conn.c.  Loop
 * thread only. */
#ifndef NINEPD_SERVER_LISTEN_H
#define NINEPD_SERVER_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/conn.h"

struct listener {
	struct conn_hub *hub;
	union {
		uv_pipe_t pipe;
		uv_tcp_t tcp;
	} h;
	bool is_tcp;
	bool is_vsock;           /* AF_VSOCK (in a pipe handle): peers are checked */
	struct cid_range *allow; /* vsock: the peers let in, owned; none: every one */
	size_t nallow;
	uint32_t *refused;       /* vsock: the peer CIDs refused and logged so far */
	size_t nrefused;
	char *unix_path; /* removed when the listener closes */
	char *addr;      /* as configured, or "systemd:fdN" */
	struct listener *next;
};

/* Listens on one configured address (unix:PATH, tcp:HOST:PORT,
 * vsock:[CID:]PORT) and adds the listener to *list, or serves stdin/stdout
 * for "stdio"; 0 or -errno (logged). */
int listen_on(struct listener **list, struct conn_hub *hub, const struct listen_addr *a);
/* The sockets systemd passed (LISTEN_PID, LISTEN_FDS); *count of them. */
int listen_systemd(struct listener **list, struct conn_hub *hub, int *count);
/* Serves one client already connected on in/out (equal for a socket); the
 * hub's on_hangup runs when it hangs up if exit_on_hangup.  Takes the
 * descriptors. */
int listen_adopt_fds(struct conn_hub *hub, int in, int out, bool exit_on_hangup);
/* True when a listener of list was opened for the address text addr. */
bool listen_has(const struct listener *list, const char *addr);
/* Closes l (already unlinked from its list); frees it later. */
void listen_close(struct listener *l);

#endif
