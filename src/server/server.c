/* server.c: `cairn serve`: data directory, storage, API key, transport and signal handling. */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/api.h"
#include "server/realtime.h"
#include "server/transport.h"
#include "storage/storage.h"
#include "util/error.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DATA_DIR "./cairn-data"
#define DEFAULT_PROJECT "cairn"
#define API_KEY_SETTING "api_key"
#define API_KEY_BYTES 32

/* The transport the signal handler stops; set only while cairn__transport_run runs. */
static cairn_transport *volatile running_transport;

static void on_signal(int signal_number)
{
	cairn_transport *transport = running_transport;

	(void)signal_number;
	if (transport)
		cairn__transport_stop(transport);
}

static void handle_request(void *payload, const cairn_http_request *request,
	cairn_http_response *response)
{
	cairn__api_handle(payload, request, response);
}

/* mkdir -p: creates `path` and its missing parents. */
static int make_directories(const char *path)
{
	char buffer[PATH_MAX];
	size_t len = strlen(path), i;
	struct stat st;

	if (len == 0 || len >= sizeof(buffer))
		return cairn__error_set(CAIRN_EINVALID, "data directory path '%s' is empty or too long",
			path);
	memcpy(buffer, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buffer[i] != '/' && buffer[i] != '\0')
			continue;
		buffer[i] = '\0';
		if (mkdir(buffer, 0700) != 0 && errno != EEXIST)
			return cairn__error_set(CAIRN_EIO, "could not create data directory '%s': %s",
				buffer, strerror(errno));
		buffer[i] = path[i];
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return cairn__error_set(CAIRN_EIO, "data directory '%s' is not a directory", path);
	if (access(path, W_OK) != 0)
		return cairn__error_set(CAIRN_EIO, "data directory '%s' is not writable: %s", path,
			strerror(errno));
	return 0;
}

/* The configured key, else the stored one, else a new random key (stored and printed). */
static int resolve_api_key(char **out, const cairn_storage_backend *backend,
	cairn_storage *storage, const char *configured, const char *data_dir)
{
	unsigned char bytes[API_KEY_BYTES];
	char *key;
	size_t i;
	int error;

	*out = NULL;
	if (configured && *configured) {
		*out = strdup(configured);
		return *out ? 0 : cairn__error_set(CAIRN_ENOMEM, "out of memory");
	}
	error = backend->setting_get(out, storage, API_KEY_SETTING);
	if (error == 0 && *out && **out)
		return 0;
	free(*out);
	*out = NULL;
	if (error < 0 && error != CAIRN_ENOTFOUND)
		return error;

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return cairn__error_set(CAIRN_ERROR, "could not read random bytes for the API key: %s",
			strerror(errno));
	key = malloc(API_KEY_BYTES * 2 + 1);
	if (!key)
		return cairn__error_set(CAIRN_ENOMEM, "out of memory");
	for (i = 0; i < API_KEY_BYTES; i++)
		snprintf(key + i * 2, 3, "%02x", bytes[i]);
	error = backend->setting_set(storage, API_KEY_SETTING, key);
	if (error < 0) {
		free(key);
		return error;
	}
	printf("Generated API key (stored in %s, shown once): %s\n", data_dir, key);
	fflush(stdout);
	*out = key;
	return 0;
}

/* Extra API keys and the session lifetime (docs/security.md). */
static int accounts_configure(cairn_api *api, const cairn_server_config *config)
{
	cairn_api_account_options options = { 0 };
	int error;

	if (!config)
		return 0;
	if (config->api_keys_file && (error = cairn__api_add_keys_file(api,
		config->api_keys_file)) < 0)
		return error;
	if (config->session_lifetime <= 0)
		return 0; /* the API's defaults stand */
	options.session_lifetime_seconds = config->session_lifetime;
	return cairn__api_set_account_options(api, &options);
}

/* Every realtime client holds a socket: take the whole descriptor allowance the system
 * grants (the soft limit up to the hard one) before the event loop sizes its tables. */
static void raise_descriptor_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

/* Writes the port to `path` atomically, so a reader never sees a half-written file. */
static int write_port_file(const char *path, int port)
{
	char temporary[PATH_MAX];
	FILE *file;
	int written;

	if (snprintf(temporary, sizeof(temporary), "%s.tmp.%ld", path, (long)getpid()) >=
		(int)sizeof(temporary))
		return cairn__error_set(CAIRN_EINVALID, "port file path '%s' is too long", path);
	file = fopen(temporary, "w");
	if (!file)
		return cairn__error_set(CAIRN_EIO, "could not write port file '%s': %s", temporary,
			strerror(errno));
	written = fprintf(file, "%d\n", port);
	if (fclose(file) != 0 || written < 0) {
		unlink(temporary);
		return cairn__error_set(CAIRN_EIO, "could not write port file '%s'", temporary);
	}
	if (rename(temporary, path) != 0) {
		int saved = errno;

		unlink(temporary);
		return cairn__error_set(CAIRN_EIO, "could not create port file '%s': %s", path,
			strerror(saved));
	}
	return 0;
}

/* The host part of "HOST:PORT" for the banner, as the user wrote it. */
static void listen_host(char *out, size_t out_size, const char *listen)
{
	const char *colon = listen[0] == '[' ? strstr(listen, "]:") : strrchr(listen, ':');
	size_t len = colon ? (size_t)(colon - listen) + (listen[0] == '[' ? 1 : 0) : strlen(listen);

	if (len >= out_size)
		len = out_size - 1;
	memcpy(out, listen, len);
	out[len] = '\0';
	if (out[0] == '\0')
		snprintf(out, out_size, "0.0.0.0");
}

int cairn__server_run(const cairn_server_config *config)
{
	const char *postgres = config && config->postgres && *config->postgres ?
		config->postgres : NULL;
	const cairn_storage_backend *backend = postgres ? &cairn__storage_postgres :
		&cairn__storage_sqlite;
	const char *listen = config && config->listen ? config->listen : DEFAULT_LISTEN;
	const char *data_dir = config && config->data_dir ? config->data_dir : DEFAULT_DATA_DIR;
	const char *project = config && config->project ? config->project : DEFAULT_PROJECT;
	int workers = config && config->workers > 0 ? config->workers : 0;
	cairn_transport_tls tls = { config ? config->tls_cert : NULL,
		config ? config->tls_key : NULL };
	int tls_on = tls.cert_file || tls.key_file;
	cairn_storage *storage = NULL;
	cairn_api *api = NULL;
	cairn_transport *transport = NULL;
	cairn_realtime *realtime = NULL;
	char *api_key = NULL;
	char host[256];
	struct sigaction action, old_int, old_term, old_pipe;
	int handlers_installed = 0;
	int error;

	raise_descriptor_limit();
	/* Bad certificate files are refused before any data is created or a key printed. */
	if (tls_on && (error = cairn__transport_check_tls(&tls)) < 0)
		goto cleanup;
	if (!postgres && (error = make_directories(data_dir)) < 0)
		goto cleanup;
	if ((error = backend->open(&storage, postgres ? postgres : data_dir)) < 0)
		goto cleanup;
	if ((error = resolve_api_key(&api_key, backend, storage, config ? config->api_key : NULL,
		postgres ? "the PostgreSQL database" : data_dir)) < 0)
		goto cleanup;
	if ((error = cairn__api_new(&api, backend, storage, project, api_key)) < 0 ||
		(error = accounts_configure(api, config)) < 0)
		goto cleanup;
	if ((error = cairn__transport_new_tls(&transport, listen, workers, tls_on ? &tls : NULL,
		handle_request, api)) < 0)
		goto cleanup;
	if ((error = cairn__realtime_new(&realtime, backend, storage, project)) < 0)
		goto cleanup;
	cairn__transport_set_realtime(transport, realtime);
	cairn__realtime_set_api(realtime, api); /* who each realtime client is */
	/* Log-outs turn that session's live realtime connections into guests. */
	cairn__api_on_sessions_ended(api, cairn__realtime_sessions_ended, realtime);
	/* Other instances' writes (PostgreSQL) reach this instance's realtime clients. */
	if ((error = cairn__realtime_watch(realtime, 1)) < 0)
		goto cleanup;

	/* Handlers go in before we announce readiness: a supervisor (or test) may signal us as
	 * soon as the port file appears. A signal before run() makes run() return at once. */
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	running_transport = transport;
	sigaction(SIGINT, &action, &old_int);
	sigaction(SIGTERM, &action, &old_term);
	/* A client vanishing mid-response must not kill the server. */
	action.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &action, &old_pipe);
	handlers_installed = 1;

	listen_host(host, sizeof(host), listen);
	printf("cairn server listening on %s://%s:%d/v1 (project %s)\n", tls_on ? "https" : "http",
		host, cairn__transport_port(transport), project);
	fflush(stdout);
	if (config && config->port_file &&
		(error = write_port_file(config->port_file, cairn__transport_port(transport))) < 0)
		goto cleanup;

	error = cairn__transport_run(transport);

cleanup:
	if (handlers_installed) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGPIPE, &old_pipe, NULL);
		running_transport = NULL;
	}
	/* The watcher wakes the transport: it stops first. Workers are joined before the API
	 * and storage they use go away. */
	if (realtime)
		cairn__realtime_watch(realtime, 0);
	cairn__transport_free(transport);
	cairn__realtime_free(realtime);
	cairn__api_free(api);
	if (storage)
		backend->close(storage);
	free(api_key);
	return error < 0 ? error : 0;
}
