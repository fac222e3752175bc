/* Startup time of ninepd under each confinement (issue 18): from fork to
 * the first Rversion, that is through option parsing, opening the export,
 * binding the listener, the sandbox, the privilege drop and the seccomp
 * filter, up to a loop that answers.  The configurations run in turns
 * (paired, alternating: a noisy machine slows all of them alike), and
 * each is reported as median, min and max, and as the ratio of its median
 * to the first configuration's.
 *
 *   bench-startup NINEPD EXPORT_DIR RUN_DIR [ROUNDS] [CONFIG...]
 *
 * A CONFIG is SANDBOX/SECCOMP (default: none/none namespace/none none/kill
 * namespace/kill); ROUNDS defaults to 30.  Needs root for the sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/client/np_client.h"

#define MAX_CONFIGS 8
#define MAX_ROUNDS 1000

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One start: microseconds from fork to the first Rversion, or -1. */
static double start_once(const char *ninepd, const char *export_dir, const char *sock,
			 const char *sandbox, const char *seccomp)
{
	char addr[300];
	snprintf(addr, sizeof addr, "unix:%s", sock);
	unlink(sock);
	double t0 = now_us();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(ninepd, ninepd, "-l", addr, "-e", export_dir, "--sandbox", sandbox,
		      "--seccomp", seccomp, (char *)NULL);
		_exit(127);
	}
	double took = -1;
	for (int tries = 0; tries < 200000; tries++) {
		struct np_client *c;
		if (np_client_connect(&c, addr) == 0) {
			uint32_t msize;
			char version[32];
			int rc = np_version(c, 8192, "9P2000.L", &msize, version, sizeof version);
			np_client_close(c);
			if (rc == 0) {
				took = now_us() - t0;
				break;
			}
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		usleep(50);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return took;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench-startup NINEPD EXPORT_DIR RUN_DIR [ROUNDS] "
				"[SANDBOX/SECCOMP...]\n");
		return 2;
	}
	int rounds = argc > 4 ? atoi(argv[4]) : 30;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 30;
	const char *defaults[] = {"none/none", "namespace/none", "none/kill", "namespace/kill"};
	const char *configs[MAX_CONFIGS];
	int n = 0;
	for (int i = 5; i < argc && n < MAX_CONFIGS; i++)
		configs[n++] = argv[i];
	if (!n)
		for (; n < 4; n++)
			configs[n] = defaults[n];
	char sandbox[MAX_CONFIGS][32], seccomp[MAX_CONFIGS][32];
	for (int k = 0; k < n; k++) {
		if (sscanf(configs[k], "%31[^/]/%31s", sandbox[k], seccomp[k]) != 2) {
			fprintf(stderr, "bench-startup: %s is not SANDBOX/SECCOMP\n", configs[k]);
			return 2;
		}
	}
	char sock[256];
	snprintf(sock, sizeof sock, "%s/startup.sock", argv[3]);
	static double us[MAX_CONFIGS][MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < n; j++) {
			int k = (r + j) % n; /* each round starts with another one */
			us[k][r] = start_once(argv[1], argv[2], sock, sandbox[k], seccomp[k]);
			if (us[k][r] < 0) {
				fprintf(stderr, "bench-startup: %s did not start\n", configs[k]);
				return 1;
			}
		}
	}
	double base = 0;
	printf("| sandbox/seccomp | median ms | min ms | max ms | median vs %s |\n", configs[0]);
	printf("|---|---:|---:|---:|---:|\n");
	for (int k = 0; k < n; k++) {
		qsort(us[k], (size_t)rounds, sizeof us[k][0], cmp_double);
		double med = us[k][rounds / 2];
		if (k == 0)
			base = med;
		printf("| %s | %.2f | %.2f | %.2f | %.2fx |\n", configs[k], med / 1e3, us[k][0] / 1e3,
		       us[k][rounds - 1] / 1e3, med / base);
	}
	unlink(sock);
	return 0;
}
