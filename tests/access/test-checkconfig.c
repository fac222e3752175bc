/* Integration: `ninepd -n` run as a program.  A good configuration is
 * printed on stdout, "configuration OK" goes to stderr, the exit status is
 * 0 and nothing listens; a bad one exits 1 with messages naming FILE:LINE,
 * the key and the accepted values, and prints no configuration. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "np_client.h"

#ifndef CONFIG_DATA
#error "CONFIG_DATA must name tests/config/data"
#endif

extern char **environ;

static char dir[128]; /* holds the config files and exported dirs a, b */

static void setup(void)
{
	cr_assert_eq(np_tmpdir(dir, sizeof(dir), "ninepd-checkconfig"), 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/a", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/b", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
}

static void teardown(void)
{
	np_rmtree(dir);
}

TestSuite(check_config, .init = setup, .fini = teardown, .timeout = 60);

/* dir/rel; the buffer lives until the end of the full expression. */
#define IN(rel) in_dir((rel), (char[512]){0})

static const char *in_dir(const char *rel, char *buf)
{
	snprintf(buf, 512, "%s/%s", dir, rel);
	return buf;
}

/* Writes dir/rel with printf-style content; returns its path. */
static const char *write_file(const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const char *write_file(const char *rel, const char *fmt, ...)
{
	static char path[8][512];
	static unsigned next;
	char *p = path[next++ % 8];
	snprintf(p, 512, "%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	cr_assert(f, "create %s: %s", p, strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	cr_assert_eq(fclose(f), 0);
	return p;
}

struct run {
	int status; /* exit status, or 128 + signal */
	char *out, *err;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs $NINEPD with args (NULL-terminated), stdout and stderr on separate
 * pipes, stdin from /dev/null; killed after 20 s. */
static struct run run(const char *const args[])
{
	const char *bin = getenv("NINEPD");
	cr_assert(bin, "NINEPD is not set");
	const char *argv[32] = {"ninepd"};
	size_t argc = 1;
	for (; args[argc - 1]; argc++) {
		cr_assert_lt(argc, 31);
		argv[argc] = args[argc - 1];
	}
	argv[argc] = NULL;

	int outp[2], errp[2];
	cr_assert_eq(pipe2(outp, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	pid_t pid;
	int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(outp[1]);
	close(errp[1]);
	cr_assert_eq(rc, 0, "spawn %s: %s", bin, strerror(rc));

	struct run r = {0};
	size_t outlen = 0, errlen = 0;
	FILE *out = open_memstream(&r.out, &outlen), *err = open_memstream(&r.err, &errlen);
	struct pollfd pfd[2] = {{.fd = outp[0], .events = POLLIN}, {.fd = errp[0], .events = POLLIN}};
	FILE *sink[2] = {out, err};
	long deadline = now_ms() + 20000;
	bool killed = false;
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		long left = deadline - now_ms();
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			char buf[4096];
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n > 0) {
				fwrite(buf, 1, (size_t)n, sink[i]);
			} else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	fclose(out);
	fclose(err);
	int ws;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	cr_assert(!killed, "ninepd did not exit within 20 s; stderr:\n%s", r.err);
	r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return r;
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void expect_ok(const struct run *r)
{
	cr_expect_eq(r->status, 0, "exit status %d; stderr:\n%s", r->status, r->err);
	cr_expect_str_eq(r->err, "configuration OK\n", "stderr is not just the verdict");
	cr_expect(!strncmp(r->out, "# ninepd effective configuration\n", 33),
		  "stdout does not start with the configuration:\n%s", r->out);
}

static void expect_refused(const struct run *r)
{
	cr_expect_eq(r->status, 1, "exit status %d; stderr:\n%s", r->status, r->err);
	cr_expect_str_empty(r->out, "a refused configuration was printed");
	cr_expect(!strstr(r->err, "configuration OK"), "stderr:\n%s", r->err);
	cr_expect(np_log_clean(r->err), "sanitizer report:\n%s", r->err);
}

static void expect_in(const char *text, const char *stream, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* text (a run's stdout or stderr) holds the formatted string. */
static void expect_in(const char *text, const char *stream, const char *fmt, ...)
{
	char *want;
	va_list ap;
	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&want, fmt, ap), 0);
	va_end(ap);
	cr_expect(strstr(text, want), "%s lacks\n%s\n--- it is:\n%s", stream, want, text);
	free(want);
}

#define expect_out(r, ...) expect_in((r)->out, "stdout", __VA_ARGS__)
#define expect_err(r, ...) expect_in((r)->err, "stderr", __VA_ARGS__)

static size_t count(const char *text, const char *what)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* --- good configurations ------------------------------------------------ */

Test(check_config, good_file_prints_the_configuration_and_ok_and_does_not_listen)
{
	const char *conf = write_file("ninepd.conf",
				      "[server]\n"
				      "listen = unix:%s/sock\n"
				      "max_msize = 65536\n"
				      "threads = 2\n"
				      "log_level = debug\n"
				      "\n"
				      "[export alpha]\n"
				      "path = a\n"
				      "multidevs = forbid\n"
				      "security_model = mapped-xattr\n"
				      "readonly = yes\n"
				      "\n"
				      "[export beta]\n"
				      "path = %s/b\n"
				      "security_model = squash\n"
				      "squash_uid = 1234\n"
				      "squash_gid = 1234\n",
				      dir, dir);
	struct run r = run((const char *[]){"-n", "-c", conf, NULL});
	expect_ok(&r);
	expect_out(&r, "# read from %s\n", conf);
	expect_out(&r,
		   "[server]\nlisten = unix:%s/sock\nmax_msize = 65536\nthreads = 2\n"
		   "log_level = debug\n",
		   dir);
	expect_out(&r,
		   "[export alpha]\npath = %s/a\nmultidevs = forbid\n"
		   "security_model = mapped-xattr\nreadonly = yes\n",
		   dir);
	expect_out(&r,
		   "[export beta]\npath = %s/b\nmultidevs = default\nsecurity_model = none\n"
		   "readonly = no\nsquash_uid = 1234\nsquash_gid = 1234\n",
		   dir);
	struct stat st;
	cr_expect_eq(lstat(IN("sock"), &st), -1, "-n created the listening socket");
	run_free(&r);
}

Test(check_config, printed_configuration_is_accepted_again_and_prints_the_same)
{
	const char *conf = write_file("first.conf",
				      "[server]\nlisten = tcp:127.0.0.1:5640, stdio\nmax_fids = 64\n"
				      "[export alpha]\npath = a\nmultidevs = remap\n"
				      "remap_state = a.remap\n");
	struct run first = run((const char *[]){"-n", "-c", conf, NULL});
	expect_ok(&first);
	const char *again = write_file("second.conf", "%s", first.out);
	struct run second = run((const char *[]){"-n", "-c", again, NULL});
	expect_ok(&second);
	/* Everything after the "# read from" line is the same. */
	const char *a = strstr(first.out, "\n\n[server]"), *b = strstr(second.out, "\n\n[server]");
	cr_assert(a && b, "no [server] section:\n%s\n---\n%s", first.out, second.out);
	cr_expect_str_eq(b, a);
	expect_out(&first, "remap_state = %s/a.remap\n", dir);
	run_free(&first);
	run_free(&second);
}

Test(check_config, shipped_good_conf_is_valid)
{
	struct run r = run((const char *[]){"-n", "-c", CONFIG_DATA "/good.conf", NULL});
	expect_ok(&r);
	expect_out(&r, "[export data]\npath = %s/.\nmultidevs = remap\n", CONFIG_DATA);
	expect_out(&r, "[export parent]\npath = %s/..\nmultidevs = forbid\n", CONFIG_DATA);
	run_free(&r);
}

Test(check_config, command_line_export_is_checked_and_printed)
{
	char spec[512];
	snprintf(spec, sizeof(spec), "%s/a,name=x,security_model=mapped-xattr,multidevs=warn,readonly",
		 dir);
	struct run r = run((const char *[]){"-n", "-e", spec, NULL});
	expect_ok(&r);
	expect_out(&r,
		   "[export x]\npath = %s/a\nmultidevs = warn\nsecurity_model = mapped-xattr\n"
		   "readonly = yes\n",
		   dir);
	expect_out(&r, "# listen: not set; the daemon uses its default\n");
	run_free(&r);
}

Test(check_config, command_line_export_replaces_the_file_export_of_that_name)
{
	const char *conf = write_file("ninepd.conf", "[export x]\npath = a\nmultidevs = forbid\n");
	char spec[512];
	snprintf(spec, sizeof(spec), "%s/b,name=x", dir);
	struct run r = run((const char *[]){"-n", "-c", conf, "-e", spec, NULL});
	expect_ok(&r);
	cr_expect_eq(count(r.out, "[export "), 1, "%s", r.out);
	expect_out(&r, "[export x]\npath = %s/b\nmultidevs = default\n", dir);
	run_free(&r);
}

/* --- bad configuration files --------------------------------------------- */

static const char *conf; /* the file check_file() wrote */

/* Writes content to dir/ninepd.conf and runs `ninepd -n -c` on it. */
static struct run check_file(const char *content)
{
	conf = write_file("ninepd.conf", "%s", content);
	return run((const char *[]){"-n", "-c", conf, NULL});
}

Test(check_config, unknown_key_names_file_line_key_and_accepted_keys)
{
	struct run r = check_file("[server]\nthreads = 2\nlisten_on = stdio\n"
				  "[export a]\npath = a\ncolour = blue\n");
	expect_refused(&r);
	expect_err(&r,
		   "%s:3: [server] unknown key 'listen_on' (accepted: listen, max_msize, threads, "
		   "log_level, max_connections, max_fids, user, max_open_fds, rlimit_nofile, "
		   "sandbox, seccomp)\n",
		   conf);
	expect_err(&r,
		   "%s:6: [export a] unknown key 'colour' (accepted: path, multidevs, "
		   "security_model, readonly, squash_uid, squash_gid, remap_state, translate_uid, translate_gid, xattrmap, bps_limit, "
		   "bps_read_limit, bps_write_limit, iops_limit, iops_read_limit, iops_write_limit, "
		   "bps_burst, bps_read_burst, bps_write_burst, iops_burst, iops_read_burst, "
		   "iops_write_burst)\n",
		   conf);
	run_free(&r);
}

Test(check_config, bad_multidevs_value_names_file_line_and_accepted_values)
{
	struct run r = check_file("[export a]\npath = a\nmultidevs = sometimes\n");
	expect_refused(&r);
	expect_err(&r,
		   "%s:3: [export a] multidevs: unknown value 'sometimes' (accepted: remap, forbid, "
		   "warn, default)\n",
		   conf);
	run_free(&r);
}

Test(check_config, bad_security_model_names_the_accepted_values)
{
	struct run r = check_file("[export a]\npath = a\n\nsecurity_model = mapped-file\n");
	expect_refused(&r);
	expect_err(&r,
		   "%s:4: [export a] security_model: unknown value 'mapped-file' (accepted: "
		   "passthrough, mapped-xattr, none)\n",
		   conf);
	run_free(&r);
	char spec[512];
	snprintf(spec, sizeof(spec), "%s/a,security_model=bogus", dir);
	r = run((const char *[]){"-n", "-e", spec, NULL});
	expect_refused(&r);
	expect_err(&r, "security_model: unknown value 'bogus' (accepted: passthrough, mapped-xattr, "
		       "none)");
	run_free(&r);
}

Test(check_config, export_without_path_is_refused_with_its_line)
{
	struct run r = check_file("[export a]\npath = a\n\n[export nopath]\nmultidevs = remap\n");
	expect_refused(&r);
	expect_err(&r, "%s:4: [export nopath]: missing path (accepted: path = DIRECTORY)\n", conf);
	run_free(&r);
}

Test(check_config, export_path_that_does_not_exist_is_refused_with_its_line)
{
	struct run r = check_file("[export gone]\nreadonly = yes\npath = gone\n");
	expect_refused(&r);
	expect_err(&r,
		   "%s:3: [export gone] path: '%s/gone': No such file or directory (accepted: an "
		   "existing directory, as an absolute path)\n",
		   conf, dir);
	run_free(&r);
}

Test(check_config, export_path_that_is_a_file_is_refused)
{
	write_file("plain", "x");
	struct run r = check_file("[export f]\npath = plain\n");
	expect_refused(&r);
	expect_err(&r, "%s:2: [export f] path: '%s/plain': is not a directory", conf, dir);
	run_free(&r);
}

Test(check_config, duplicate_export_names_name_both_places)
{
	struct run r = check_file("[export same]\npath = a\n\n[export same]\npath = b\n");
	expect_refused(&r);
	expect_err(&r,
		   "%s:4: [export same] name: already used by the export from %s:1 (accepted: a "
		   "unique name)\n",
		   conf, conf);
	run_free(&r);

	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/a,name=same", dir);
	snprintf(b, sizeof(b), "%s/b,name=same", dir);
	r = run((const char *[]){"-n", "-e", a, "-e", b, NULL});
	expect_refused(&r);
	expect_err(&r,
		   "command line: -e same: name: already used by the export from command line "
		   "(accepted: a unique name)\n");
	run_free(&r);
}

Test(check_config, bad_listen_address_names_file_line_and_accepted_forms)
{
	struct run r = check_file("[server]\n"
				  "listen = udp:127.0.0.1:564\n"
				  "listen = tcp:127.0.0.1\n"
				  "listen = tcp:127.0.0.1:70000\n"
				  "listen = unix:\n"
				  "listen = vsock:2:0, vsock:3:5640,allow=x\n"
				  "[export a]\npath = a\n");
	expect_refused(&r);
	const char *accepted =
		"(accepted: unix:PATH, tcp:HOST:PORT, vsock:[CID:]PORT[,allow=CIDS], stdio)\n";
	expect_err(&r, "%s:2: [server] listen: 'udp:127.0.0.1:564': unknown address type %s", conf,
		   accepted);
	expect_err(&r, "%s:3: [server] listen: 'tcp:127.0.0.1': expected tcp:HOST:PORT %s", conf,
		   accepted);
	expect_err(&r, "%s:4: [server] listen: 'tcp:127.0.0.1:70000': port is not a number from 1 "
		       "to 65535 %s", conf, accepted);
	expect_err(&r, "%s:5: [server] listen: 'unix:': empty socket path %s", conf, accepted);
	expect_err(&r, "%s:6: [server] listen: 'vsock:2:0': port is not a number from 1 to "
		       "4294967294 %s", conf, accepted);
	expect_err(&r, "%s:6: [server] listen: 'vsock:3:5640,allow=x': allow= takes peer CIDs from "
		       "0 to 4294967294 and ranges FIRST-LAST, joined by '+' %s", conf, accepted);
	run_free(&r);

	char spec[512];
	snprintf(spec, sizeof(spec), "%s/a", dir);
	r = run((const char *[]){"-n", "-l", "tcp:localhost", "-e", spec, NULL});
	expect_refused(&r);
	expect_err(&r, "command line: -l 'tcp:localhost': expected tcp:HOST:PORT %s", accepted);
	run_free(&r);
}

Test(check_config, every_error_in_a_file_is_reported)
{
	struct run r = run((const char *[]){"-n", "-c", CONFIG_DATA "/bad.conf", NULL});
	expect_refused(&r);
	expect_err(&r, "%s/bad.conf:2: [server] threads: 0 out of range (accepted: 1..256)\n",
		   CONFIG_DATA);
	expect_err(&r,
		   "%s/bad.conf:6: [export data] multidevs: unknown value 'foo' (accepted: remap, "
		   "forbid, warn, default)\n",
		   CONFIG_DATA);
	run_free(&r);
}

Test(check_config, unreadable_config_file_is_refused)
{
	struct run r = run((const char *[]){"-n", "-c", IN("missing.conf"), NULL});
	expect_refused(&r);
	expect_err(&r, "%s/missing.conf: No such file or directory\n", dir);
	run_free(&r);
}

/* --- --libvirt-xml --------------------------------------------------------- */

/* The seed domain with "/export/" replaced by dir and `from` by `to`. */
static const char *seed_copy(const char *rel, const char *from, const char *to)
{
	FILE *f = fopen(CONFIG_DATA "/seed-domain.xml", "r");
	cr_assert(f);
	char *xml = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&xml, &len);
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "/export/");
		char *q = from ? strstr(line, from) : NULL;
		if (p) {
			*p = '\0';
			fprintf(out, "%s%s/%s", line, dir, p + strlen("/export/"));
		} else if (q) {
			*q = '\0';
			fprintf(out, "%s%s%s", line, to, q + strlen(from));
		} else {
			fputs(line, out);
		}
	}
	fclose(f);
	fclose(out);
	const char *path = write_file(rel, "%s", xml);
	free(xml);
	const char *fs[] = {"fs0", "fs1", "fs2"};
	for (size_t i = 0; i < 3; i++)
		mkdir(IN(fs[i]), 0755);
	return path;
}

Test(check_config, seed_domain_gives_three_exports_remap_forbid_warn)
{
	const char *xml = seed_copy("domain.xml", NULL, NULL);
	struct run r = run((const char *[]){"-n", "--libvirt-xml", xml, NULL});
	expect_ok(&r);
	expect_out(&r, "# exports imported from %s\n", xml);
	cr_expect_eq(count(r.out, "[export "), 3, "%s", r.out);
	const char *fs[] = {"fs0", "fs1", "fs2"}, *policy[] = {"remap", "forbid", "warn"};
	for (size_t i = 0; i < 3; i++)
		expect_out(&r,
			   "[export %s]\npath = %s/%s\nmultidevs = %s\n"
			   "security_model = mapped-xattr\nreadonly = no\n",
			   fs[i], dir, fs[i], policy[i]);
	run_free(&r);
}

Test(check_config, seed_domain_as_shipped_names_its_missing_source_dirs)
{
	struct stat st;
	if (stat("/export/fs0", &st) == 0)
		cr_skip_test("/export/fs0 exists on this machine");
	struct run r = run((const char *[]){"-n", "--libvirt-xml", CONFIG_DATA "/seed-domain.xml",
					    NULL});
	expect_refused(&r);
	const int line[] = {25, 30, 35};
	for (int i = 0; i < 3; i++)
		expect_err(&r,
			   "%s/seed-domain.xml:%d: [export fs%d] path: '/export/fs%d': No such file "
			   "or directory",
			   CONFIG_DATA, line[i], i, i);
	run_free(&r);
}

Test(check_config, unknown_multidevs_in_the_xml_says_unknown_multidevs_x)
{
	const char *xml = seed_copy("domain.xml", "multidevs='forbid'", "multidevs='x'");
	struct run r = run((const char *[]){"-n", "--libvirt-xml", xml, NULL});
	expect_refused(&r);
	expect_err(&r, "%s:29: unknown multidevs 'x' (accepted: default, remap, forbid, warn)\n",
		   xml);
	run_free(&r);
}

Test(check_config, malformed_xml_is_refused_with_its_line)
{
	struct run r = run((const char *[]){"-n", "--libvirt-xml", CONFIG_DATA "/malformed.xml",
					    NULL});
	expect_refused(&r);
	expect_err(&r, "%s/malformed.xml:6: malformed XML: ", CONFIG_DATA);
	run_free(&r);
}

/* ---- --print-vm-args: what QEMU and the guest need for one export ---- */

/* `ninepd -l listen -e dir/a,name=export --print-vm-args asked`. */
static struct run print_vm_args(const char *listen, const char *export, const char *asked)
{
	char spec[600];
	snprintf(spec, sizeof(spec), "%s,name=%s", IN("a"), export);
	return run((const char *[]){"-l", listen, "-e", spec, "--print-vm-args", asked, NULL});
}

Test(check_config, print_vm_args_for_a_unix_listener_names_the_socket_and_reconnects)
{
	struct run r = print_vm_args("unix:/run/n.sock", "share", "share");
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "-device virtio-serial-pci,id=ninepd-serial \\\n");
	/* Without reconnect=, QEMU never reaches a restarted ninepd. */
	expect_out(&r, "-chardev socket,id=share,path=/run/n.sock,reconnect=1 \\\n");
	expect_out(&r, "-device virtserialport,chardev=share,name=share\n");
	expect_out(&r, "mount.ninepd share /mnt -o aname=share,msize=");
	run_free(&r);
}

Test(check_config, print_vm_args_for_a_tcp_listener_sets_nodelay_and_reconnect)
{
	struct run r = print_vm_args("tcp:127.0.0.1:5640", "share", "share");
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "-chardev socket,id=share,host=127.0.0.1,port=5640,nodelay=on,reconnect=1 \\\n");
	run_free(&r);
}

Test(check_config, print_vm_args_turns_an_export_name_into_a_valid_port_name)
{
	struct run r = print_vm_args("unix:/run/n.sock", "my share:1", "my share:1");
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "-device virtserialport,chardev=my_share_1,name=my_share_1\n");
	run_free(&r);
}

/* `ninepd -l l1 [-l l2] -e dir/a,name=share --print-vm-args share --vm vm`. */
static struct run print_vm_args_for(const char *vm, const char *l1, const char *l2)
{
	char spec[600];
	snprintf(spec, sizeof(spec), "%s,name=share", IN("a"));
	if (l2)
		return run((const char *[]){"-l", l1, "-l", l2, "-e", spec, "--print-vm-args",
					    "share", "--vm", vm, NULL});
	return run((const char *[]){"-l", l1, "-e", spec, "--print-vm-args", "share", "--vm", vm,
				    NULL});
}

Test(check_config, print_vm_args_qemu_serial_is_the_default)
{
	struct run r = print_vm_args_for("qemu-serial", "unix:/run/n.sock", NULL);
	struct run d = print_vm_args("unix:/run/n.sock", "share", "share");
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	cr_expect_str_eq(r.out, d.out);
	run_free(&r);
	run_free(&d);
}

Test(check_config, print_vm_args_qemu_vsock_gives_vhost_vsock_and_the_guest_connects_to_cid_2)
{
	struct run r = print_vm_args_for("qemu-vsock", "unix:/run/n.sock", "vsock:5640");
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "-device vhost-vsock-pci,guest-cid=3\n");
	expect_out(&r, "mount.ninepd vsock:2:5640 /mnt -o aname=share,msize=");
	run_free(&r);
}

Test(check_config, print_vm_args_qemu_vsock_takes_the_guest_cid_from_a_one_cid_allow_list)
{
	/* Both options also take their value after '='. */
	char spec[600];
	snprintf(spec, sizeof(spec), "%s,name=share", IN("a"));
	struct run r = run((const char *[]){"-l", "vsock:2:5640,allow=7", "-e", spec,
					    "--print-vm-args=share", "--vm=qemu-vsock", NULL});
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "-device vhost-vsock-pci,guest-cid=7\n");
	expect_out(&r, "mount.ninepd vsock:2:5640 /mnt");
	run_free(&r);
}

Test(check_config, print_vm_args_qemu_vsock_needs_a_vsock_listener_the_guest_can_reach)
{
	struct run r = print_vm_args_for("qemu-vsock", "unix:/run/n.sock", NULL);
	cr_expect_eq(r.status, 1);
	cr_expect_str_empty(r.out);
	expect_err(&r, "--print-vm-args --vm qemu-vsock: give a vsock:PORT listen address\n");
	run_free(&r);
	r = print_vm_args_for("qemu-vsock", "vsock:1:5640", NULL);
	cr_expect_eq(r.status, 1);
	expect_err(&r, "vsock:1:5640 is bound to CID 1, but a guest reaches the host at CID 2: "
		       "listen on vsock:5640 or vsock:2:5640\n");
	run_free(&r);
}

Test(check_config, print_vm_args_firecracker_splits_the_port_off_the_unix_socket_path)
{
	struct run r = print_vm_args_for("firecracker", "unix:/run/fc/vm1.vsock_5640", NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	/* Firecracker connects a guest's port 5640 to <uds_path>_5640. */
	expect_out(&r, "{\"guest_cid\": 3, \"uds_path\": \"/run/fc/vm1.vsock\"}\n");
	expect_out(&r, "mount.ninepd vsock:2:5640 /mnt -o aname=share,msize=");
	run_free(&r);
}

Test(check_config, print_vm_args_cloud_hypervisor_gives_its_vsock_option)
{
	/* The last '_' splits: the socket's own name may have more. */
	struct run r = print_vm_args_for("cloud-hypervisor", "unix:/run/ch/vm_a_5640", NULL);
	cr_expect_eq(r.status, 0, "exit status %d; stderr:\n%s", r.status, r.err);
	expect_out(&r, "--vsock cid=3,socket=/run/ch/vm_a\n");
	expect_out(&r, "mount.ninepd vsock:2:5640 /mnt -o aname=share,msize=");
	run_free(&r);
}

Test(check_config, print_vm_args_hybrid_vsock_needs_a_socket_named_after_the_port)
{
	static const char *const bad[] = {"unix:/run/fc/vm1.vsock", "unix:/run/fc/vm1.vsock_",
					  "unix:/run/fc/vm1.vsock_0", "unix:/run/fc/vm1.vsock_x1",
					  "unix:_5640"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run r = print_vm_args_for("firecracker", bad[i], NULL);
		cr_expect_eq(r.status, 1, "%s: exit status %d", bad[i], r.status);
		cr_expect_str_empty(r.out);
		expect_err(&r, "--print-vm-args --vm firecracker: the VMM connects a guest's vsock port "
			       "P to the unix socket <uds_path>_P: listen on unix:<uds_path>_<PORT>, "
			       "as in unix:/run/ninepd/vm1.vsock_5640\n");
		run_free(&r);
	}
}

Test(check_config, print_vm_args_refuses_an_unknown_vm_and_vm_alone)
{
	struct run r = print_vm_args_for("xen", "unix:/run/n.sock", NULL);
	cr_expect_eq(r.status, 1);
	expect_err(&r, "--vm 'xen' (accepted: qemu-serial, qemu-vsock, firecracker, "
		       "cloud-hypervisor)\n");
	run_free(&r);
	char spec[600];
	snprintf(spec, sizeof(spec), "%s,name=share", IN("a"));
	r = run((const char *[]){"-l", "unix:/run/n.sock", "-e", spec, "--vm", "qemu-vsock", NULL});
	cr_expect_eq(r.status, 1);
	expect_err(&r, "--vm goes with --print-vm-args NAME\n");
	run_free(&r);
}

Test(check_config, print_vm_args_for_an_unknown_export_is_refused)
{
	struct run r = print_vm_args("unix:/run/n.sock", "share", "other");
	cr_expect_eq(r.status, 1, "exit status %d", r.status);
	cr_expect_str_empty(r.out);
	expect_err(&r, "--print-vm-args: no export named 'other'");
	run_free(&r);
}
