/* Shared by the tests of tests/privs: what they need to run, what they
 * expect of a dropped process, and how they read it from /proc/.../status.
 * The masks are written out from <linux/capability.h>, not taken from
 * server/privs.c, so that the tests check privs.c. */
#ifndef NINEPD_TESTS_PRIVS_PRIVS_TEST_H
#define NINEPD_TESTS_PRIVS_PRIVS_TEST_H

#include <criterion/criterion.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The user every test drops to, filled by need_root_and_nobody(). */
static uid_t nobody_uid;
static gid_t nobody_gid;

/* Skips the test unless it runs as root and a user "nobody" exists. */
static inline void need_root_and_nobody(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		cr_skip_test("needs a user 'nobody'");
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
}

#define BIT(c) (1ull << (c))
/* Permitted after the drop, effective only while a thread's fsuid is 0. */
#define FS_CAPS                                                                        \
	(BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH) |           \
	 BIT(CAP_FOWNER) | BIT(CAP_FSETID) | BIT(CAP_MKNOD))
/* Permitted and always effective: per-request identity switching. */
#define SWITCH_CAPS (BIT(CAP_SETUID) | BIT(CAP_SETGID))

/* The value of "key:" in a /proc status file, blanks trimmed; "" if the
 * file or the key is missing. */
static inline const char *status_of(const char *file, const char *key, char *buf, size_t cap)
{
	FILE *f = fopen(file, "r");
	char line[512];
	size_t klen = strlen(key);
	buf[0] = '\0';
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		char *v = line + klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t');)
			v[--n] = '\0';
		snprintf(buf, cap, "%s", v);
		break;
	}
	if (f)
		fclose(f);
	return buf;
}

/* A capability mask as status prints it. */
static inline const char *status_hex(unsigned long long v, char buf[17])
{
	snprintf(buf, 17, "%016llx", v);
	return buf;
}
#define HEX(v) status_hex((v), (char[17]){0})

/* A Uid:/Gid: line whose four ids (real, effective, saved, fs) are all id. */
static inline const char *status_ids(unsigned id, char buf[64])
{
	snprintf(buf, 64, "%u\t%u\t%u\t%u", id, id, id, id);
	return buf;
}
#define FOUR(id) status_ids((id), (char[64]){0})

#endif
