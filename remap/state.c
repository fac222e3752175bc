/* Save and load a remap engine's tables; the format is in docs/remap.md. */
#include "remap/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define STATE_MAGIC "NINEPDRM"
#define STATE_VERSION 1
#define HEADER_SIZE 56
#define ENTRY_SIZE 16
#define TRAILER_SIZE 8
#define IO_CHUNK 65536

static void set_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* A buffered writer that hashes what it writes; the first error sticks
 * and turns every later call into a no-op. */
struct writer {
	int fd;
	int error; /* 0 or -errno */
	XXH64_state_t *hash;
	size_t len;
	uint8_t buf[IO_CHUNK];
};

static void writer_flush(struct writer *w)
{
	size_t off = 0;

	while (w->error == 0 && off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0 && errno != EINTR)
			w->error = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	w->len = 0;
}

static void writer_put(struct writer *w, uint64_t v, size_t n)
{
	if (w->len + n > sizeof(w->buf))
		writer_flush(w);
	put_le(w->buf + w->len, v, n);
	XXH64_update(w->hash, w->buf + w->len, n);
	w->len += n;
}

static void write_keys(struct writer *w, const struct remap_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		writer_put(w, keys[i].dev, 8);
		writer_put(w, keys[i].bits, 8);
	}
}

static void write_state(struct writer *w, const struct remap_snapshot *s)
{
	for (size_t i = 0; i < 8; i++)
		writer_put(w, (uint8_t)STATE_MAGIC[i], 1);
	writer_put(w, STATE_VERSION, 4);
	writer_put(w, REMAP_SUFFIX_BITS, 4);
	writer_put(w, s->root_dev, 8);
	writer_put(w, s->limits.prefix_codes, 4);
	writer_put(w, s->limits.device_prefixes, 4);
	writer_put(w, s->limits.exact_ids, 8);
	writer_put(w, s->nprefixes, 8);
	writer_put(w, s->nexact, 8);
	write_keys(w, s->prefixes, s->nprefixes);
	write_keys(w, s->exact, s->nexact);
	/* The trailer is the hash of everything before it, so it goes
	 * straight into the buffer rather than through writer_put(). */
	if (w->len + TRAILER_SIZE > sizeof(w->buf))
		writer_flush(w);
	put_le(w->buf + w->len, XXH64_digest(w->hash), TRAILER_SIZE);
	w->len += TRAILER_SIZE;
	writer_flush(w);
}

/*
 * Open the directory that holds path, one component at a time from / (or
 * the working directory, for a relative path) with O_NOFOLLOW: a symbolic
 * link anywhere on the way is refused, so whoever can plant one cannot send
 * the state file elsewhere.  Returns the directory as an O_PATH fd and sets
 * *base to path's last component, or returns -errno with a reason in err:
 * -ELOOP (a symbolic link), -ENOTDIR, -ENOENT, -EISDIR (path names a
 * directory), -ENAMETOOLONG.
 */
static int open_state_dir(const char *path, const char **base, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	const char *p = path;
	char name[NAME_MAX + 1];
	int fd, rc;

	*base = slash ? slash + 1 : path;
	if (!**base || !strcmp(*base, ".") || !strcmp(*base, "..")) {
		set_error(err, errlen, "%s: names a directory, not a file", path);
		return -EISDIR;
	}
	fd = open(*path == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_error(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	while (p < *base) {
		const char *end = strchr(p, '/'); /* found: p is before the last '/' */
		size_t len = (size_t)(end - p);
		struct stat st;
		int next;

		if (len == 0 || (len == 1 && *p == '.')) {
			p = end + 1;
			continue;
		}
		if (len > NAME_MAX) {
			set_error(err, errlen, "%s: a directory name is longer than %d bytes", path,
				  NAME_MAX);
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			rc = -errno;
			/* O_PATH | O_NOFOLLOW would open a link itself, so
			 * O_DIRECTORY says ENOTDIR for it: tell them apart. */
			if (rc == -ENOTDIR && !fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) &&
			    S_ISLNK(st.st_mode))
				rc = -ELOOP;
			set_error(err, errlen, "%s: '%.*s' %s", path, (int)(end - path), path,
				  rc == -ELOOP     ? "is a symbolic link, which is not followed"
				  : rc == -ENOTDIR ? "is not a directory"
				  : rc == -ENOENT  ? "does not exist"
						   : strerror(-rc));
			close(fd);
			return rc;
		}
		close(fd);
		fd = next;
		p = end + 1;
	}
	return fd;
}

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	}
	return "of an unknown type";
}

/* Only a regular file is a state file; -ELOOP for a symbolic link (it is
 * never followed), else -EBADMSG. */
static int refuse_unless_regular(const struct stat *st, const char *path, char *err,
				 size_t errlen)
{
	if (S_ISREG(st->st_mode))
		return 0;
	set_error(err, errlen, "%s: not a regular file but %s, which is refused", path,
		  file_kind(st->st_mode));
	return S_ISLNK(st->st_mode) ? -ELOOP : -EBADMSG;
}

/* What is at base in dirfd: 0 for a regular file (in *st), else -ENOENT,
 * a refusal or another -errno, with a reason in err. */
static int stat_state_file(int dirfd, const char *base, const char *path, struct stat *st,
			   char *err, size_t errlen)
{
	int rc;

	if (fstatat(dirfd, base, st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		set_error(err, errlen, "%s: %s", path,
			  rc == -ENOENT ? "no state file" : strerror(-rc));
		return rc;
	}
	return refuse_unless_regular(st, path, err, errlen);
}

int remap_state_check_path(const char *path, char *err, size_t errlen)
{
	const char *base;
	struct stat st;
	int dirfd = open_state_dir(path, &base, err, errlen);
	int rc;

	if (dirfd < 0)
		return dirfd;
	rc = stat_state_file(dirfd, base, path, &st, err, errlen);
	close(dirfd);
	return rc == -ENOENT ? 0 : rc;
}

/* Create a temporary file next to base in dirfd, its name in tmp; an fd or
 * -errno.  O_EXCL: never an existing file, nor a link's target. */
static int create_temp(int dirfd, const char *base, char *tmp, size_t tmplen)
{
	for (unsigned attempt = 0;; attempt++) {
		int n = snprintf(tmp, tmplen, "%s.tmp-%ld-%u", base, (long)getpid(), attempt);
		int fd;

		if (n < 0 || (size_t)n >= tmplen)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST || attempt == 99)
			return fd >= 0 ? fd : -errno;
	}
}

/* fsync() the directory, so a rename into it is durable. */
static int sync_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

int remap_state_save(struct remap *r, const char *path, char *err, size_t errlen)
{
	struct remap_snapshot snap;
	struct writer *w = NULL;
	char tmp[NAME_MAX + 1];
	const char *base;
	int rc, fd, dirfd = -1;

	rc = remap_snapshot(r, &snap);
	if (rc == -EINVAL) {
		set_error(err, errlen, "%s: state files exist only for multidevs=remap", path);
		return rc;
	}
	w = rc == 0 ? calloc(1, sizeof(*w)) : NULL;
	if (!w || !(w->hash = XXH64_createState())) {
		rc = -ENOMEM;
		set_error(err, errlen, "%s: out of memory saving state", path);
		goto out;
	}
	dirfd = rc = open_state_dir(path, &base, err, errlen);
	if (rc < 0)
		goto out;
	fd = create_temp(dirfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = fd;
		set_error(err, errlen, "%s: cannot create a temporary file next to it: %s", path,
			  strerror(-rc));
		goto out;
	}
	XXH64_reset(w->hash, 0);
	w->fd = fd;
	write_state(w, &snap);
	rc = w->error;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dirfd, tmp, dirfd, base) < 0)
		rc = -errno;
	if (rc < 0) {
		set_error(err, errlen, "%s: cannot write state: %s", path, strerror(-rc));
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	rc = sync_dir(dirfd);
	if (rc < 0)
		set_error(err, errlen, "%s: saved, but syncing its directory failed: %s", path,
			  strerror(-rc));
out:
	if (dirfd >= 0)
		close(dirfd);
	if (w)
		XXH64_freeState(w->hash);
	free(w);
	remap_snapshot_release(&snap);
	return rc;
}

/* Read exactly n bytes, hashing them; a short file reads as -EBADMSG. */
static int read_hashed(int fd, uint8_t *buf, size_t n, XXH64_state_t *hash)
{
	size_t off = 0;

	while (off < n) {
		ssize_t got = read(fd, buf + off, n - off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EBADMSG;
		off += (size_t)got;
	}
	if (hash)
		XXH64_update(hash, buf, n);
	return 0;
}

static int read_keys(int fd, struct remap_key *keys, size_t n, XXH64_state_t *hash, uint8_t *buf)
{
	while (n > 0) {
		size_t batch = n < IO_CHUNK / ENTRY_SIZE ? n : IO_CHUNK / ENTRY_SIZE;
		int rc = read_hashed(fd, buf, batch * ENTRY_SIZE, hash);

		if (rc < 0)
			return rc;
		for (size_t i = 0; i < batch; i++) {
			keys[i].dev = get_le(buf + i * ENTRY_SIZE, 8);
			keys[i].bits = get_le(buf + i * ENTRY_SIZE + 8, 8);
		}
		keys += batch;
		n -= batch;
	}
	return 0;
}

/* Check the header of a file of file_size bytes and fill in s's counts
 * and limits.  The body is not read yet, so nothing here is trusted beyond
 * deciding how much to read. */
static int parse_header(const uint8_t *h, uint64_t file_size, struct remap_snapshot *s,
			const char *path, char *err, size_t errlen)
{
	uint32_t version = (uint32_t)get_le(h + 8, 4);
	uint32_t suffix_bits = (uint32_t)get_le(h + 12, 4);
	uint64_t nprefixes = get_le(h + 40, 8);
	uint64_t nexact = get_le(h + 48, 8);
	uint64_t room = (file_size - HEADER_SIZE - TRAILER_SIZE) / ENTRY_SIZE;

	if (memcmp(h, STATE_MAGIC, 8) != 0) {
		set_error(err, errlen, "%s: not a ninepd remap state file (bad magic)", path);
		return -EBADMSG;
	}
	if (version != STATE_VERSION) {
		set_error(err, errlen, "%s: state format version %" PRIu32 ", this ninepd reads %d",
			  path, version, STATE_VERSION);
		return -EBADMSG;
	}
	if (nprefixes > room || nexact > room - nprefixes ||
	    file_size != HEADER_SIZE + (nprefixes + nexact) * ENTRY_SIZE + TRAILER_SIZE) {
		set_error(err, errlen,
			  "%s: truncated or padded: header lists %" PRIu64 " prefixes and %" PRIu64
			  " exact entries, which do not fill %" PRIu64 " bytes",
			  path, nprefixes, nexact, file_size);
		return -EBADMSG;
	}
	if (suffix_bits != REMAP_SUFFIX_BITS) {
		set_error(err, errlen, "%s: encoding with %" PRIu32 " suffix bits, this ninepd uses %d",
			  path, suffix_bits, REMAP_SUFFIX_BITS);
		return -EBADMSG;
	}
	s->root_dev = get_le(h + 16, 8);
	s->limits.prefix_codes = (uint32_t)get_le(h + 24, 4);
	s->limits.device_prefixes = (uint32_t)get_le(h + 28, 4);
	s->limits.exact_ids = get_le(h + 32, 8);
	s->nprefixes = (size_t)nprefixes;
	s->nexact = (size_t)nexact;
	return 0;
}

/* Read and verify the whole file into s; nothing is used before the
 * checksum over all of it has matched. */
static int read_state(int fd, uint64_t file_size, struct remap_snapshot *s, const char *path,
		      char *err, size_t errlen)
{
	XXH64_state_t *hash = XXH64_createState();
	uint8_t *buf = malloc(IO_CHUNK);
	int rc = -ENOMEM;

	if (!hash || !buf)
		goto out;
	XXH64_reset(hash, 0);
	rc = read_hashed(fd, buf, HEADER_SIZE, hash);
	if (rc == 0)
		rc = parse_header(buf, file_size, s, path, err, errlen);
	if (rc < 0)
		goto out;
	s->prefixes = calloc(s->nprefixes ? s->nprefixes : 1, sizeof(*s->prefixes));
	s->exact = calloc(s->nexact ? s->nexact : 1, sizeof(*s->exact));
	rc = -ENOMEM;
	if (!s->prefixes || !s->exact)
		goto out;
	rc = read_keys(fd, s->prefixes, s->nprefixes, hash, buf);
	if (rc == 0)
		rc = read_keys(fd, s->exact, s->nexact, hash, buf);
	if (rc == 0)
		rc = read_hashed(fd, buf, TRAILER_SIZE, NULL);
	if (rc == 0 && get_le(buf, TRAILER_SIZE) != XXH64_digest(hash)) {
		set_error(err, errlen, "%s: checksum mismatch, the file is corrupt", path);
		rc = -EBADMSG;
	} else if (rc == -EBADMSG) {
		set_error(err, errlen, "%s: file shrank while being read", path);
	} else if (rc < 0) {
		set_error(err, errlen, "%s: read failed: %s", path, strerror(-rc));
	}
out:
	if (rc == -ENOMEM)
		set_error(err, errlen, "%s: out of memory loading state", path);
	XXH64_freeState(hash);
	free(buf);
	return rc;
}

int remap_state_load(const char *path, uint64_t root_dev, struct remap **out, char *err,
		     size_t errlen)
{
	struct remap_snapshot snap = {0};
	char why[256] = "";
	const char *base;
	struct stat st;
	int dirfd, fd = -1, rc;

	*out = NULL;
	dirfd = rc = open_state_dir(path, &base, err, errlen);
	if (rc < 0)
		return rc;
	/* Looked at before it is opened: a device is never opened at all. */
	rc = stat_state_file(dirfd, base, path, &st, err, errlen);
	if (rc < 0)
		goto out;
	/* O_NONBLOCK: a FIFO put there since must not hang the start. */
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_error(err, errlen, "%s: %s", path,
			  rc == -ELOOP ? "is a symbolic link, which is not followed"
				       : strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_error(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	rc = refuse_unless_regular(&st, path, err, errlen);
	if (rc < 0)
		goto out;
	if (st.st_size < HEADER_SIZE + TRAILER_SIZE) {
		set_error(err, errlen, "%s: not a state file: %jd bytes, a state file has at least %d",
			  path, (intmax_t)st.st_size, HEADER_SIZE + TRAILER_SIZE);
		rc = -EBADMSG;
		goto out;
	}
	rc = read_state(fd, (uint64_t)st.st_size, &snap, path, err, errlen);
	if (rc < 0)
		goto out;
	if (snap.root_dev != root_dev) {
		set_error(err, errlen,
			  "%s: written for root device %#" PRIx64 ", the export root is on %#" PRIx64,
			  path, snap.root_dev, root_dev);
		rc = -ESTALE;
		goto out;
	}
	rc = remap_from_snapshot(&snap, out, why, sizeof(why));
	if (rc < 0)
		set_error(err, errlen, "%s: inconsistent content: %s", path,
			  rc == -ENOMEM ? "out of memory" : why);
out:
	remap_snapshot_release(&snap);
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return rc;
}
