/* Integration: ninepd for VMs over vsock.
 *
 * Hybrid vsock (Firecracker, Cloud Hypervisor) is a unix socket named
 * <uds_path>_PORT on the host, so those tests run everywhere: they follow
 * --print-vm-args's recipe and connect where the VMM's muxer connects for a
 * guest (format!("{}_{}", uds_path, port), nothing sent before the guest's
 * own bytes).  AF_VSOCK itself needs a transport both ends can use on one
 * machine, the loopback one (CID 1); where this kernel has none the tests
 * say so and are skipped.  The e2e scenario vsock-loopback runs the same
 * paths in a Linux 6.1 guest that has it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../faults/faults.h"
#include "np_client.h"

static char dir[128];  /* the export and the sockets */
static char exp_dir[200];
static struct np_daemon daemon_;

static void setup(void)
{
	cr_assert_eq(np_tmpdir(dir, sizeof(dir), "ninepd-vsock"), 0);
	snprintf(exp_dir, sizeof(exp_dir), "%s/export", dir);
	cr_assert_eq(mkdir(exp_dir, 0755), 0);
}

static void teardown(void)
{
	if (daemon_.pid > 0)
		np_daemon_stop(&daemon_);
	np_daemon_cleanup(&daemon_);
	np_rmtree(dir);
}

TestSuite(vsock, .init = setup, .fini = teardown, .timeout = 60);

/* A port of its own for each test process, in the dynamic range. */
static unsigned test_port(unsigned offset)
{
	return 40000 + (unsigned)getpid() % 20000 + offset;
}

/* What a guest's mount does first: Tversion, Tattach to the first export,
 * Tgetattr of its root, which must be a directory. */
static void expect_session(struct np_client *c, const char *how)
{
	struct np_attr attr;
	int err = np_version(c, 65536, "9P2000.L", NULL, NULL, 0);
	cr_assert_eq(err, 0, "%s: Tversion: %s", how, strerror(-err));
	err = np_attach(c, 1, NP_NOFID, "root", "", 0, NULL);
	cr_assert_eq(err, 0, "%s: Tattach: %s", how, strerror(-err));
	err = np_getattr(c, 1, NP_GETATTR_BASIC, &attr);
	cr_assert_eq(err, 0, "%s: Tgetattr: %s", how, strerror(-err));
	cr_expect(S_ISDIR(attr.mode), "%s: the root's mode is 0%o", how, attr.mode);
}

/* The daemon stops with status 0 and logged no sanitizer report. */
static void expect_clean_stop(void)
{
	char *log = np_daemon_log(&daemon_);
	int status = np_daemon_stop(&daemon_);
	cr_expect_eq(status, 0, "exit status %d after SIGTERM; log:\n%s", status, log);
	cr_expect(np_log_clean(log), "sanitizer report:\n%s", log);
	free(log);
}

/* `ninepd -l unix:SOCKET -e export,name=share --print-vm-args share --vm vm`:
 * its output (malloc'd). */
static char *print_vm_args(const char *socket_path, const char *vm)
{
	char listen[320], spec[300];
	struct np_daemon d;
	snprintf(listen, sizeof(listen), "unix:%s", socket_path);
	snprintf(spec, sizeof(spec), "%s,name=share", exp_dir);
	const char *argv[] = {"-l", listen, "-e", spec, "--print-vm-args", "share", "--vm", vm, NULL};
	int status = np_daemon_run(&d, argv, 10000);
	char *out = np_daemon_log(&d);
	np_daemon_cleanup(&d);
	cr_assert_eq(status, 0, "--print-vm-args --vm %s: status %d:\n%s", vm, status, out);
	return out;
}

/* The text between before and the next after in s, into buf. */
static const char *between(const char *s, const char *before, const char *after, char *buf,
			   size_t cap)
{
	const char *start = strstr(s, before);
	cr_assert_not_null(start, "no '%s' in:\n%s", before, s);
	start += strlen(before);
	size_t len = strcspn(start, after);
	cr_assert_lt(len, cap);
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

/*
 * Serves the export on the unix socket <base>_<port>, prints vm's recipe,
 * and connects where the VMM connects a guest's connection to host port P:
 * uds_path (as the recipe gives it) + "_" + P (as the guest's mount line
 * gives it).  The recipe's parts are returned in uds and port.
 */
static void hybrid_vsock_session(const char *vm, const char *uds_key, const char *uds_end)
{
	char base[256], path[300], listen[310], uds[256], port[16], guest_path[300];
	snprintf(base, sizeof(base), "%s/vm1.vsock", dir);
	snprintf(path, sizeof(path), "%s_%u", base, 5640u);
	snprintf(listen, sizeof(listen), "unix:%s", path);
	const char *argv[] = {"-l", listen, "-e", exp_dir, NULL};
	int err = np_daemon_start(&daemon_, argv);
	cr_assert_eq(err, 0, "starting ninepd -l %s: %s", listen, strerror(-err));

	char *recipe = print_vm_args(path, vm);
	between(recipe, uds_key, uds_end, uds, sizeof(uds));
	between(recipe, "mount.ninepd vsock:2:", " ", port, sizeof(port));
	cr_expect_str_eq(uds, base, "the VMM's socket path in:\n%s", recipe);
	cr_expect_str_eq(port, "5640", "the guest's port in:\n%s", recipe);
	free(recipe);

	/* The VMM's muxer: UnixStream::connect(format!("{}_{}", uds_path,
	 * dst_port)), then the guest's bytes and nothing before them. */
	snprintf(guest_path, sizeof(guest_path), "unix:%s_%s", uds, port);
	struct np_client *c;
	err = np_client_connect(&c, guest_path);
	cr_assert_eq(err, 0, "connecting to %s: %s", guest_path, strerror(-err));
	expect_session(c, vm);
	np_client_close(c);
	expect_clean_stop();
}

Test(vsock, hybrid_firecracker_recipe_reaches_ninepd_where_firecracker_connects_a_guest)
{
	hybrid_vsock_session("firecracker", "\"uds_path\": \"", "\"");
}

Test(vsock, hybrid_cloud_hypervisor_recipe_reaches_ninepd_where_it_connects_a_guest)
{
	hybrid_vsock_session("cloud-hypervisor", "--vsock cid=3,socket=", "\n");
}

/* ---- AF_VSOCK ---- */

/* NULL when this kernel makes AF_VSOCK sockets, else why not. */
static const char *no_vsock_reason(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == EAFNOSUPPORT ? "this kernel has no AF_VSOCK (the vsock module is "
					       "not loaded)"
					     : strerror(errno);
	close(fd);
	return NULL;
}

/* True when the kernel's symbols show a vsock loopback transport, or
 * cannot be read (then the connect below decides). */
static bool kallsyms_has_loopback(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	if (!f)
		return true;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " vsock_loopback") != NULL;
	fclose(f);
	return found;
}

/*
 * NULL when a vsock socket can reach a listener of this machine at CID 1
 * (the loopback transport), else why not.  Without vsock_loopback a
 * connection to CID 1 goes to the guest-to-host transport, if any, whose
 * host may drop it: the symbols are looked at first, and the connect is
 * bounded by 2 s.
 */
static const char *no_loopback_reason(void)
{
	static char why[256];
	const char *no_vsock = no_vsock_reason();
	if (no_vsock)
		return no_vsock;
	if (!kallsyms_has_loopback())
		return "this kernel has no vsock loopback transport: vsock_loopback is not loaded "
		       "(/proc/kallsyms has no vsock_loopback symbol; modprobe vsock_loopback to "
		       "run this test)";
	unsigned port = test_port(19);
	int l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm any = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	struct sockaddr_vm local = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_LOCAL,
				    .svm_port = port};
	struct timeval tv = {.tv_sec = 2};
	const char *reason = NULL;
	if (bind(l, (struct sockaddr *)&any, sizeof(any)) < 0 || listen(l, 1) < 0) {
		snprintf(why, sizeof(why), "binding vsock port %u: %s", port, strerror(errno));
		reason = why;
	} else if (setsockopt(c, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) < 0 ||
		   connect(c, (struct sockaddr *)&local, sizeof(local)) < 0) {
		snprintf(why, sizeof(why), "no vsock loopback: connecting to CID 1 port %u: %s",
			 port, strerror(errno));
		reason = why;
	}
	close(c);
	close(l);
	return reason;
}

/* Skips the test when why is not NULL, saying why on stdout too (meson's
 * log keeps that; Criterion's [SKIP] line needs --verbose).  Not
 * cr_log_warn: Criterion 2.4.1 then exits 1 for a run that only skipped. */
static void skip_if(const char *why)
{
	if (!why)
		return;
	printf("SKIP vsock::%s: %s\n", criterion_current_test->name, why);
	fflush(stdout);
	cr_skip_test("%s", why);
}

/* This machine's CID as ninepd logs it. */
static void local_cid_text(char *buf, size_t cap)
{
	unsigned int cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
			cid = VMADDR_CID_ANY;
		close(fd);
	}
	if (cid == VMADDR_CID_ANY)
		snprintf(buf, cap, "no vsock transport loaded");
	else
		snprintf(buf, cap, "this machine is CID %u", cid);
}

/* ninepd -v -l unix:dir/probe.sock -l each of listen, up once it logged
 * "ready".  np_daemon_start only waits until the probe (the first -l, as
 * it wants) accepts, which it does from its listen(2) on, before the vsock
 * listeners after it exist: a connect then would be reset. */
static void start_with(const char *const listen[], size_t n)
{
	char probe[300];
	const char *argv[16];
	size_t argc = 0;
	snprintf(probe, sizeof(probe), "unix:%s/probe.sock", dir);
	argv[argc++] = "-v";
	argv[argc++] = "-l";
	argv[argc++] = probe;
	for (size_t i = 0; i < n; i++) {
		argv[argc++] = "-l";
		argv[argc++] = listen[i];
	}
	argv[argc++] = "-e";
	argv[argc++] = exp_dir;
	argv[argc] = NULL;
	int err = np_daemon_start(&daemon_, argv);
	char *log = np_daemon_log(&daemon_);
	cr_assert_eq(err, 0, "starting ninepd: %s\n%s", strerror(-err), log);
	for (int i = 0; i < 200 && !strstr(log, " ready ("); i++) {
		free(log);
		fault_sleep_ms(50);
		log = np_daemon_log(&daemon_);
	}
	cr_assert(strstr(log, " ready ("), "ninepd not ready after 10 s:\n%s", log);
	free(log);
}

static void expect_log(const char *text)
{
	char *log = np_daemon_log(&daemon_);
	cr_expect(strstr(log, text), "the log does not say '%s':\n%s", text, log);
	free(log);
}

Test(vsock, listener_logs_its_port_this_machines_cid_and_its_allow_list)
{
	skip_if(no_vsock_reason());
	char listen[64], want[256], me[64];
	unsigned port = test_port(0);
	snprintf(listen, sizeof(listen), "vsock:%u,allow=3+10-19", port);
	start_with((const char *[]){listen}, 1);
	local_cid_text(me, sizeof(me));
	snprintf(want, sizeof(want),
		 "listening on %s (vsock port %u of every local CID; %s; peer CIDs 3, 10-19)",
		 listen, port, me);
	expect_log(want);
	expect_clean_stop();
}

Test(vsock, listener_on_cid_1_without_loopback_fails_saying_what_to_load)
{
	skip_if(no_vsock_reason());
	skip_if(no_loopback_reason() ? NULL
				     : "this kernel has a vsock loopback transport: CID 1 can be bound");
	char listen[64];
	snprintf(listen, sizeof(listen), "vsock:1:%u", test_port(1));
	const char *argv[] = {"-l", listen, "-e", exp_dir, NULL};
	int status = np_daemon_run(&daemon_, argv, 10000);
	char *log = np_daemon_log(&daemon_);
	cr_expect_eq(status, 1, "exit status %d:\n%s", status, log);
	cr_expect(strstr(log, "Cannot assign requested address (CID 1 needs the vsock_loopback "
			      "module)"),
		  "%s", log);
	free(log);
}

Test(vsock, session_over_vsock_loopback_and_the_peer_cid_in_the_log)
{
	skip_if(no_loopback_reason());
	char listen[64], addr[64], want[128];
	unsigned port = test_port(2);
	snprintf(listen, sizeof(listen), "vsock:%u", port);
	start_with((const char *[]){listen}, 1);
	snprintf(addr, sizeof(addr), "vsock:1:%u", port);
	struct np_client *c;
	int err = np_client_connect(&c, addr);
	cr_assert_eq(err, 0, "connecting to %s: %s", addr, strerror(-err));
	expect_session(c, addr);
	np_client_close(c);
	snprintf(want, sizeof(want), "connected on %s from CID 1", listen);
	expect_log(want);
	expect_clean_stop();
}

Test(vsock, allow_list_refuses_cid_1_every_time_and_logs_it_once)
{
	skip_if(no_loopback_reason());
	char refusing[64], allowing[64], addr[64];
	unsigned port = test_port(3);
	snprintf(refusing, sizeof(refusing), "vsock:%u,allow=3+10-19", port);
	snprintf(allowing, sizeof(allowing), "vsock:%u,allow=0-2", port + 1);
	start_with((const char *[]){refusing, allowing}, 2);
	snprintf(addr, sizeof(addr), "vsock:1:%u", port);
	for (int i = 0; i < 3; i++) {
		struct np_client *c;
		int err = np_client_connect(&c, addr);
		cr_assert_eq(err, 0, "the kernel accepts before ninepd refuses: %s", strerror(-err));
		c->timeout_ms = 5000;
		err = np_version(c, 65536, "9P2000.L", NULL, NULL, 0);
		cr_expect(err == -ECONNRESET || err == -EPIPE, "connection %d of a refused CID: %s",
			  i, strerror(-err));
		np_client_close(c);
	}
	char *log = np_daemon_log(&daemon_);
	size_t lines = 0;
	for (const char *p = log; (p = strstr(p, "refusing peer CID 1: not in the allow list")); p++)
		lines++;
	cr_expect_eq(lines, 1, "three refused connections logged %zu times:\n%s", lines, log);
	free(log);
	/* A range that holds CID 1 lets it in. */
	snprintf(addr, sizeof(addr), "vsock:1:%u", port + 1);
	struct np_client *c;
	cr_assert_eq(np_client_connect(&c, addr), 0);
	expect_session(c, allowing);
	np_client_close(c);
	expect_clean_stop();
}

Test(vsock, socket_activation_serves_on_a_passed_vsock_socket)
{
	skip_if(no_loopback_reason());
	unsigned port = test_port(5);
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_vm svm = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	cr_assert_eq(bind(fd, (struct sockaddr *)&svm, sizeof(svm)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	/* No -l: systemd's ListenStream=vsock::PORT on fd 3 is all it has. */
	const char *argv[] = {"-e", exp_dir, NULL};
	struct fault_spawn o = FAULT_SPAWN_DEFAULTS;
	o.listen_fd = fd;
	int err = fault_spawn(&daemon_, argv, &o);
	close(fd);
	cr_assert_eq(err, 0, "starting ninepd with LISTEN_FDS=1: %s", strerror(-err));
	char addr[64];
	snprintf(addr, sizeof(addr), "vsock:1:%u", port);
	struct np_client *c = NULL;
	for (int i = 0; i < 100 && np_client_connect(&c, addr) != 0; i++)
		fault_sleep_ms(50);
	cr_assert_not_null(c, "nothing answers on %s", addr);
	expect_session(c, "socket activation");
	np_client_close(c);
	char want[128];
	snprintf(want, sizeof(want),
		 "listening on systemd:fd3 (socket activation: vsock port %u of every local CID", port);
	expect_log(want);
	expect_clean_stop();
}
