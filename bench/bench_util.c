/* bench_util.c: the clock, quantiles, server process and RSS helpers the bench programs share. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

double bench_util_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_util_compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_util_quantile(const double *sorted, size_t count, double q)
{
	size_t index = (size_t)((double)count * q);

	return sorted[index < count ? index : count - 1];
}

pid_t bench_util_server_start(const char *binary, const char *dir, const char *listen,
	int *port)
{
	char data[512], port_file[512], text[32] = "";
	pid_t pid;

	*port = 0;
	snprintf(data, sizeof(data), "%s/server", dir);
	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	unlink(port_file);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(binary, binary, "serve", "--listen", listen, "--data", data,
			"--project", "bench", "--api-key", "bench-key", "--port-file", port_file,
			(char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && pid > 0; i++) {
		FILE *file = fopen(port_file, "r");

		if (file) {
			int ok = fgets(text, sizeof(text), file) && atoi(text) > 0;

			fclose(file);
			if (ok)
				break;
		}
		usleep(10000);
	}
	*port = atoi(text);
	return pid;
}

void bench_util_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int bench_util_free_port(void)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd < 0)
		return 0;
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) == 0 &&
		getsockname(fd, (struct sockaddr *)&address, &length) == 0)
		port = ntohs(address.sin_port);
	close(fd);
	return port;
}

long bench_util_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *file;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	file = fopen(path, "r");
	if (!file)
		return -1;
	while (fgets(line, sizeof(line), file)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	}
	fclose(file);
	return kib;
}
