/* The walls hook (testhook.h).  Never part of ninepd itself. */
#include "server/testhook.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PREFIX "ninepd.test.walls."

extern char **environ;

static bool is(const struct np_str *name, size_t at, const char *what)
{
	return name->len - at == strlen(what) && !memcmp(name->s + at, what, strlen(what));
}

int testhook_xattrwalk(const struct np_str *name)
{
	size_t at = strlen(PREFIX);
	if (name->len <= at || memcmp(name->s, PREFIX, at))
		return 1;
	int fd = -1;
	if (is(name, at, "open")) {
		fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
	} else if (is(name, at, "execve")) {
		char *argv[] = {"true", NULL};
		execve("/bin/true", argv, environ);
		return -errno;
	} else if (is(name, at, "socket")) {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	} else {
		return -EINVAL;
	}
	if (fd < 0)
		return -errno;
	close(fd);
	return -ENOTRECOVERABLE;
}
