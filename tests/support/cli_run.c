/* cli_run.c: runs the `cairn` binary for tests and captures its output and exit code;
 * temp dirs; a `cairn serve` child for end-to-end CLI tests. */
#include "cli_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define RUN_TIMEOUT_MS 120000
#define SERVER_START_TIMEOUT_MS 15000
#define SERVER_STOP_TIMEOUT_MS 10000
#define MAX_ARGS 64

static long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

typedef struct {
	char *data;
	size_t length, capacity;
} buffer;

static int buffer_append(buffer *b, const char *data, size_t length)
{
	if (b->length + length + 1 > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;
		char *bigger;

		while (b->length + length + 1 > capacity)
			capacity *= 2;
		bigger = realloc(b->data, capacity);
		if (!bigger)
			return -1;
		b->data = bigger;
		b->capacity = capacity;
	}
	memcpy(b->data + b->length, data, length);
	b->length += length;
	b->data[b->length] = '\0';
	return 0;
}

/* In the child: environment, cwd, then exec. Never returns. */
static void exec_child(const char *cwd, const char *const *env, const char *const *argv)
{
	const char *args[MAX_ARGS + 2];
	size_t count = 0;

	unsetenv("CAIRN_STORE");
	for (size_t i = 0; env && env[i]; i++) {
		const char *equals = strchr(env[i], '=');

		if (equals) {
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)(equals - env[i]), env[i]);
			setenv(name, equals + 1, 1);
		} else {
			unsetenv(env[i]);
		}
	}
	if (cwd && chdir(cwd) != 0) {
		fprintf(stderr, "cli_run: chdir %s: %s\n", cwd, strerror(errno));
		_exit(126);
	}
	args[count++] = CAIRN_BIN;
	for (size_t i = 0; argv[i] && count < MAX_ARGS + 1; i++)
		args[count++] = argv[i];
	args[count] = NULL;
	execv(CAIRN_BIN, (char *const *)args);
	fprintf(stderr, "cli_run: exec %s: %s\n", CAIRN_BIN, strerror(errno));
	_exit(127);
}

int cairn_cli_run(cairn_cli_result *result, const char *cwd, const char *const *env,
	const char *stdin_text, const char *const *argv)
{
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	buffer out = { 0 }, err = { 0 };
	FILE *input = NULL;
	long deadline;
	int wait_status = 0, rc = -1;
	pid_t pid;

	result->status = -1;
	result->out = NULL;
	result->err = NULL;
	/* A temp file rather than a pipe for stdin: no need to interleave writing it with
	 * reading the outputs. */
	input = tmpfile();
	if (!input || pipe(out_pipe) < 0 || pipe(err_pipe) < 0) {
		fprintf(stderr, "cli_run: cannot set up pipes: %s\n", strerror(errno));
		goto cleanup;
	}
	if (stdin_text && fwrite(stdin_text, 1, strlen(stdin_text), input) != strlen(stdin_text))
		goto cleanup;
	fflush(input);
	rewind(input);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cli_run: fork: %s\n", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fileno(input), STDIN_FILENO);
		dup2(out_pipe[1], STDOUT_FILENO);
		dup2(err_pipe[1], STDERR_FILENO);
		close(out_pipe[0]);
		close(err_pipe[0]);
		close(out_pipe[1]);
		close(err_pipe[1]);
		exec_child(cwd, env, argv);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	deadline = monotonic_ms() + RUN_TIMEOUT_MS;
	while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
		struct pollfd fds[2] = { { out_pipe[0], POLLIN, 0 }, { err_pipe[0], POLLIN, 0 } };
		long left = deadline - monotonic_ms();
		int ready;

		if (left <= 0) {
			fprintf(stderr, "cli_run: cairn did not finish in %d ms; killing it\n",
				RUN_TIMEOUT_MS);
			kill(pid, SIGKILL);
			break;
		}
		ready = poll(fds, 2, (int)left);
		if (ready < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2 && ready > 0; i++) {
			int *fd = i == 0 ? &out_pipe[0] : &err_pipe[0];
			buffer *target = i == 0 ? &out : &err;
			char chunk[8192];
			ssize_t got;

			if (*fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(*fd, chunk, sizeof(chunk));
			if (got > 0) {
				buffer_append(target, chunk, (size_t)got);
			} else if (got == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR)
		;
	result->status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
	rc = 0;

cleanup:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	if (input)
		fclose(input);
	if (!out.data)
		buffer_append(&out, "", 0);
	if (!err.data)
		buffer_append(&err, "", 0);
	result->out = out.data;
	result->err = err.data;
	return rc;
}

int cairn_cli_runl(cairn_cli_result *result, const char *cwd, const char *const *env,
	const char *stdin_text, ...)
{
	const char *argv[MAX_ARGS + 1];
	size_t count = 0;
	const char *arg;
	va_list ap;

	va_start(ap, stdin_text);
	while ((arg = va_arg(ap, const char *)) != NULL && count < MAX_ARGS)
		argv[count++] = arg;
	va_end(ap);
	argv[count] = NULL;
	return cairn_cli_run(result, cwd, env, stdin_text, argv);
}

void cairn_cli_result_free(cairn_cli_result *result)
{
	if (!result)
		return;
	free(result->out);
	free(result->err);
	result->out = result->err = NULL;
}

int cairn_cli_tmpdir(char *out)
{
	snprintf(out, PATH_MAX, "/tmp/cairn-cli-XXXXXX");
	return mkdtemp(out) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void cairn_cli_rmtree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int read_port(const char *path)
{
	FILE *file = fopen(path, "r");
	int port = 0;

	if (!file)
		return 0;
	if (fscanf(file, "%d", &port) != 1)
		port = 0;
	fclose(file);
	return port;
}

static int can_connect(int port)
{
	struct sockaddr_in address = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok;

	if (fd < 0)
		return 0;
	address.sin_family = AF_INET;
	address.sin_port = htons((unsigned short)port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0;
	close(fd);
	return ok;
}

static void print_log(const cairn_cli_server *server)
{
	FILE *log = fopen(server->log_path, "r");
	char line[512];

	if (!log)
		return;
	fprintf(stderr, "--- %s ---\n", server->log_path);
	while (fgets(line, sizeof(line), log))
		fputs(line, stderr);
	fclose(log);
}

int cairn_cli_server_start(cairn_cli_server *server, const char *dir, const char *project,
	const char *api_key)
{
	char port_file[PATH_MAX + 16];
	long deadline;
	int status;

	memset(server, 0, sizeof(*server));
	snprintf(server->data_dir, sizeof(server->data_dir), "%s/server", dir);
	snprintf(server->log_path, sizeof(server->log_path), "%s/server.log", dir);
	snprintf(port_file, sizeof(port_file), "%s/server.port", dir);
	unlink(port_file);
	fflush(stdout);
	fflush(stderr);
	server->pid = fork();
	if (server->pid < 0) {
		server->pid = 0;
		return -1;
	}
	if (server->pid == 0) {
		int log = open(server->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (log >= 0) {
			dup2(log, STDOUT_FILENO);
			dup2(log, STDERR_FILENO);
			close(log);
		}
		execl(CAIRN_BIN, CAIRN_BIN, "serve", "--listen", "127.0.0.1:0", "--data",
			server->data_dir, "--project", project, "--api-key", api_key, "--port-file",
			port_file, (char *)NULL);
		_exit(127);
	}
	deadline = monotonic_ms() + SERVER_START_TIMEOUT_MS;
	while (monotonic_ms() < deadline) {
		int port;

		if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
			fprintf(stderr, "cli_run: cairn serve exited early\n");
			server->pid = 0;
			print_log(server);
			return -1;
		}
		port = read_port(port_file);
		if (port > 0 && can_connect(port)) {
			server->port = port;
			snprintf(server->url, sizeof(server->url), "http://127.0.0.1:%d/v1", port);
			return 0;
		}
		sleep_ms(20);
	}
	fprintf(stderr, "cli_run: cairn serve did not come up in %d ms\n", SERVER_START_TIMEOUT_MS);
	kill(server->pid, SIGKILL);
	waitpid(server->pid, &status, 0);
	server->pid = 0;
	print_log(server);
	return -1;
}

int cairn_cli_server_stop(cairn_cli_server *server)
{
	long deadline = monotonic_ms() + SERVER_STOP_TIMEOUT_MS;
	int status = 0;

	if (server->pid <= 0)
		return 0;
	kill(server->pid, SIGTERM);
	for (;;) {
		pid_t done = waitpid(server->pid, &status, WNOHANG);

		if (done == server->pid)
			break;
		if (monotonic_ms() >= deadline) {
			kill(server->pid, SIGKILL);
			waitpid(server->pid, &status, 0);
			server->pid = 0;
			print_log(server);
			return -1;
		}
		sleep_ms(10);
	}
	server->pid = 0;
	if (!WIFEXITED(status)) {
		print_log(server);
		return -1;
	}
	return WEXITSTATUS(status);
}

static size_t discard_body(char *data, size_t size, size_t count, void *payload)
{
	(void)data;
	(void)payload;
	return size * count;
}

long cairn_cli_http(const char *method, const char *url, const char *project,
	const char *api_key, const char *json_body)
{
	struct curl_slist *headers = NULL;
	char line[512];
	long status = -1;
	CURL *curl = curl_easy_init();

	if (!curl)
		return -1;
	snprintf(line, sizeof(line), "X-Appwrite-Project: %s", project);
	headers = curl_slist_append(headers, line);
	snprintf(line, sizeof(line), "X-Appwrite-Key: %s", api_key);
	headers = curl_slist_append(headers, line);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (json_body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return status;
}
