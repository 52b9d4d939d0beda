/* cmd_login.c: `cairn login` (password without echo, never from argv), `cairn logout`, and
 * the "signed in as" line of `cairn status`. */
#include "cli/cmd_login.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define MAX_PASSWORD 1024

static void wipe(char *text, size_t size)
{
	for (volatile char *p = text; size--; p++)
		*p = '\0';
}

/* Reads one line (without its end) from `file` into `out`. 0, or -1 at EOF before any byte
 * or when the line does not fit. */
static int read_line(char *out, size_t size, FILE *file)
{
	size_t length;

	if (!fgets(out, (int)size, file))
		return -1;
	length = strlen(out);
	if (length == size - 1 && out[length - 1] != '\n' && !feof(file))
		return -1;
	while (length > 0 && (out[length - 1] == '\n' || out[length - 1] == '\r'))
		out[--length] = '\0';
	return 0;
}

static struct termios saved_terminal; /* echo settings to put back on Ctrl-C */

/* Ctrl-C or SIGTERM at the prompt: echo back on, then die of the signal as usual. */
static void restore_and_die(int signal_number)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
	signal(signal_number, SIG_DFL);
	raise(signal_number);
}

/* The password from the terminal with echo off (prompt on stderr), else from stdin. */
static int read_password(char *out, size_t size)
{
	struct sigaction action, old_int, old_term;
	struct termios quiet;
	int rc;

	if (!isatty(STDIN_FILENO))
		return read_line(out, size, stdin);
	if (tcgetattr(STDIN_FILENO, &saved_terminal) != 0)
		return -1;
	quiet = saved_terminal;
	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	memset(&action, 0, sizeof(action));
	action.sa_handler = restore_and_die;
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, &old_int);
	sigaction(SIGTERM, &action, &old_term);
	fputs("Password: ", stderr);
	fflush(stderr);
	rc = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0 ? read_line(out, size, stdin) : -1;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	fputc('\n', stderr);
	return rc;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_login)
{
	const char *email = args->values[CLI_OPT_EMAIL];
	char password[MAX_PASSWORD];
	cairn_store_status store_status;
	cairn_store *store = NULL;
	int status, rc;

	(void)argv;
	(void)argc;
	if (!email || !email[0])
		return cairn__cli_usage_error(command, "--email is required (the password is "
			"read from the terminal or stdin, never from the command line)");
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	/* No remote: say so before asking for a password that cannot be used. */
	memset(&store_status, 0, sizeof(store_status));
	if (cairn_store_status_get(&store_status, store) == 0 && !store_status.remote_url[0]) {
		fprintf(stderr, "cairn: cannot sign in as %s: no remote is configured\n"
			"hint: run `cairn remote --server URL --project ID --database DB` first\n", email);
		status = CLI_EXIT_ERROR;
		goto cleanup;
	}
	if (read_password(password, sizeof(password)) != 0 || !password[0]) {
		fprintf(stderr, "cairn: no password given (type it at the prompt, or pipe it as "
			"the first line of stdin)\n");
		status = CLI_EXIT_USAGE;
		goto cleanup;
	}
	rc = cairn_store_login(store, email, password);
	if (rc < 0) {
		status = cairn__cli_fail(rc, rc == CAIRN_EAUTH ? "check the email and password" :
			rc == CAIRN_EBUSY ? "wait a few minutes before trying again" : NULL,
			"cannot sign in as %s", email);
		goto cleanup;
	}
	printf("signed in as %s\n", email);
	status = CLI_EXIT_OK;
cleanup:
	wipe(password, sizeof(password));
	cairn_store_free(store);
	return status;
}

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_logout)
{
	cairn_store *store = NULL;
	char *email = NULL;
	int status, rc;

	(void)command;
	(void)argv;
	(void)argc;
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	rc = cairn_store_session_email(&email, store);
	if (rc == 0) {
		printf("not signed in\n");
		goto cleanup;
	}
	rc = cairn_store_logout(store);
	if (rc < 0 && rc != CAIRN_EOFFLINE && rc != CAIRN_ESERVER && rc != CAIRN_ENOREMOTE) {
		status = cairn__cli_fail(rc, NULL, "cannot sign out");
		goto cleanup;
	}
	/* Signed out locally in every case; say so when the server was not told. */
	if (rc < 0)
		fprintf(stderr, "cairn: warning: %s\n", cairn_error_last());
	printf("signed out\n");
cleanup:
	cairn_free(email);
	cairn_store_free(store);
	return status;
}

void cairn__cli_print_session(cairn_store *store)
{
	char *email = NULL;
	int rc = cairn_store_session_email(&email, store);

	if (rc > 0)
		printf("session:    signed in as %s\n", email);
	else if (rc == 0)
		printf("session:    not signed in\n");
	cairn_free(email);
}
