/* postgres.c: test helpers: a private PostgreSQL server in a temp dir, and `cairn serve --postgres`. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support/postgres.h"

#define MAX_ARGS 32

struct cairn_test_pg {
	char dir[64];       /* mkdtemp'd: data/, the socket, logs */
	char data[96];      /* <dir>/data */
	char log[96];       /* <dir>/tools.log: output of initdb, pg_ctl, psql */
	int port;
	int as_postgres;    /* running as root: the server programs run as `postgres` */
	int running;
};

static int free_port(void)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) == 0 &&
		getsockname(fd, (struct sockaddr *)&address, &length) == 0)
		port = ntohs(address.sin_port);
	close(fd);
	return port;
}

/* Runs argv (argv[0] a full path) with stdout to `output` (NULL: appended to pg->log) and
 * stderr appended to pg->log; as `postgres` when `privileged_drop` and the tests run as
 * root. Returns the exit status or -1. */
static int run_to(cairn_test_pg *pg, int privileged_drop, const char *const *argv,
	const char *output)
{
	const char *full[MAX_ARGS + 5];
	int count = 0, status = 0;
	pid_t pid;

	if (privileged_drop && pg->as_postgres) {
		full[count++] = "/usr/sbin/runuser";
		full[count++] = "-u";
		full[count++] = "postgres";
		full[count++] = "--";
	}
	for (int i = 0; argv[i] && count < MAX_ARGS + 4; i++)
		full[count++] = argv[i];
	full[count] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(pg->log, O_WRONLY | O_CREAT | O_APPEND, 0666);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		if (output) {
			fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0666);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				close(fd);
			}
		}
		execv(full[0], (char *const *)full);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(cairn_test_pg *pg, int privileged_drop, const char *const *argv)
{
	return run_to(pg, privileged_drop, argv, NULL);
}

static void show_log(const cairn_test_pg *pg, const char *what)
{
	char line[512];
	FILE *file = fopen(pg->log, "r");

	fprintf(stderr, "postgres test server: %s failed; its output:\n", what);
	while (file && fgets(line, sizeof(line), file))
		fprintf(stderr, "  %s", line);
	if (file)
		fclose(file);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

void cairn_test_pg_stop(cairn_test_pg *pg)
{
	if (!pg)
		return;
	if (pg->running) {
		const char *argv[] = { CAIRN_TEST_PG_BIN "/pg_ctl", "-D", pg->data, "-m", "fast", "-w",
			"-s", "stop", NULL };

		if (run(pg, 1, argv) != 0)
			show_log(pg, "pg_ctl stop");
	}
	nftw(pg->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(pg);
}

int cairn_test_pg_start(cairn_test_pg **out)
{
	cairn_test_pg *pg;
	char options[256];
	char server_log[96];

	*out = NULL;
	if (access(CAIRN_TEST_PG_BIN "/initdb", X_OK) != 0 ||
		access(CAIRN_TEST_PG_BIN "/pg_ctl", X_OK) != 0) {
		fprintf(stderr, "postgres tests skipped: PostgreSQL 15 is not installed (%s/initdb "
			"missing); run scripts/install-deps.sh\n", CAIRN_TEST_PG_BIN);
		return 1;
	}
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return -1;
	snprintf(pg->dir, sizeof(pg->dir), "/tmp/cairn-pg-XXXXXX");
	if (!mkdtemp(pg->dir)) {
		perror("postgres test server: mkdtemp");
		free(pg);
		return -1;
	}
	snprintf(pg->data, sizeof(pg->data), "%s/data", pg->dir);
	snprintf(pg->log, sizeof(pg->log), "%s/tools.log", pg->dir);
	snprintf(server_log, sizeof(server_log), "%s/server.log", pg->dir);
	if (geteuid() == 0) {
		struct passwd *user = getpwnam("postgres");

		if (!user || chown(pg->dir, user->pw_uid, user->pw_gid) != 0) {
			fprintf(stderr, "postgres test server: running as root needs the `postgres` "
				"user to own %s\n", pg->dir);
			goto fail;
		}
		pg->as_postgres = 1;
	}
	{
		const char *argv[] = { CAIRN_TEST_PG_BIN "/initdb", "-D", pg->data, "-U", "postgres",
			"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", NULL };

		if (run(pg, 1, argv) != 0) {
			show_log(pg, "initdb");
			goto fail;
		}
	}
	/* A free port may be taken between the probe and the start: try a few. */
	for (int attempt = 0; attempt < 5 && !pg->running; attempt++) {
		pg->port = free_port();
		snprintf(options, sizeof(options), "-p %d -k %s -c listen_addresses=127.0.0.1 "
			"-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
			"-c max_connections=200", pg->port, pg->dir);
		const char *argv[] = { CAIRN_TEST_PG_BIN "/pg_ctl", "-D", pg->data, "-l", server_log,
			"-o", options, "-w", "-s", "start", NULL };

		if (run(pg, 1, argv) == 0)
			pg->running = 1;
	}
	if (!pg->running) {
		show_log(pg, "pg_ctl start");
		goto fail;
	}
	*out = pg;
	return 0;
fail:
	cairn_test_pg_stop(pg);
	return -1;
}

int cairn_test_pg_sql(cairn_test_pg *pg, const char *name, const char *sql)
{
	char port[16];
	const char *argv[] = { CAIRN_TEST_PG_BIN "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", name, "-c", sql, NULL };

	snprintf(port, sizeof(port), "%d", pg->port);
	if (run(pg, 0, argv) != 0) {
		show_log(pg, "psql");
		return -1;
	}
	return 0;
}

int cairn_test_pg_query_int(cairn_test_pg *pg, const char *name, const char *sql,
	long long *out)
{
	char port[16], output[128];
	const char *argv[] = { CAIRN_TEST_PG_BIN "/psql", "-X", "-q", "-t", "-A", "-v",
		"ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", name, "-c",
		sql, NULL };
	FILE *file;
	int found;

	snprintf(port, sizeof(port), "%d", pg->port);
	snprintf(output, sizeof(output), "%s/query-%d.out", pg->dir, (int)getpid());
	if (run_to(pg, 0, argv, output) != 0) {
		show_log(pg, "psql");
		return -1;
	}
	file = fopen(output, "r");
	found = file && fscanf(file, "%lld", out) == 1;
	if (file)
		fclose(file);
	unlink(output);
	return found ? 0 : -1;
}

int cairn_test_pg_create_database(cairn_test_pg *pg, const char *name, char *conninfo,
	size_t size)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\"", name);
	if (cairn_test_pg_sql(pg, "postgres", sql) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	if (cairn_test_pg_sql(pg, "postgres", sql) < 0)
		return -1;
	snprintf(conninfo, size, "host=127.0.0.1 port=%d user=postgres dbname=%s", pg->port,
		name);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec delay = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&delay, NULL);
}

int cairn_test_pg_serve_stop(pid_t pid, int kill_hard)
{
	int status = 0;

	if (pid <= 0)
		return -1;
	kill(pid, kill_hard ? SIGKILL : SIGTERM);
	for (int i = 0; i < 1000; i++) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (done < 0 && errno != EINTR)
			return -1;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int cairn_test_pg_serve(pid_t *pid, int *port, const char *conninfo, const char *data_dir,
	const char *project, const char *api_key)
{
	char port_file[512];

	*pid = 0;
	*port = 0;
	snprintf(port_file, sizeof(port_file), "%s.port", data_dir);
	unlink(port_file);
	pid_t child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(CAIRN_BIN, CAIRN_BIN, "serve", "--postgres", conninfo, "--listen",
			"127.0.0.1:0", "--data", data_dir, "--project", project, "--api-key", api_key,
			"--port-file", port_file, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		FILE *file = fopen(port_file, "r");
		int status;

		if (file) {
			int found = fscanf(file, "%d", port) == 1 && *port > 0;

			fclose(file);
			if (found) {
				*pid = child;
				return 0;
			}
		}
		if (waitpid(child, &status, WNOHANG) == child) {
			fprintf(stderr, "cairn serve --postgres exited before listening\n");
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "cairn serve --postgres did not listen within 10 s\n");
	cairn_test_pg_serve_stop(child, 1);
	return -1;
}

int cairn_test_pg_run_group(cairn_test_pg **pg, const char *name,
	const struct CMUnitTest *tests, size_t count)
{
	int rc = cairn_test_pg_start(pg);
	int failed;

	if (rc == 1)
		return 0; /* skipped: the message says why */
	if (rc != 0)
		return 1;
	failed = _cmocka_run_group_tests(name, tests, count, NULL, NULL);
	cairn_test_pg_stop(*pg);
	*pg = NULL;
	return failed;
}
