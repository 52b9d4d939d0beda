/* api_account_setup.c: the API's account settings: extra API keys, session lifetime,
 * password cost and the failed-login limiters (apart from the routes, so that linking the
 * server's set-up does not pull in the request handlers). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "server/account.h"
#include "server/api_int.h"
#include "server/ratelimit.h"
#include "util/error.h"

#define DEFAULT_LOGIN_FAILURES 10
#define DEFAULT_LOGIN_WINDOW_SECONDS (15 * 60)

int cairn__api_accounts_init(cairn_api *api)
{
	api->session_lifetime_ms = CAIRN_ACCOUNT_DEFAULT_SESSION_SECONDS * 1000;
	api->password_cost = CAIRN_PASSWORD_COST_INTERACTIVE;
	if (cairn__account_crypto_init() < 0)
		return CAIRN_ERROR;
	if (cairn__ratelimit_new(&api->login_by_email, DEFAULT_LOGIN_FAILURES,
		DEFAULT_LOGIN_WINDOW_SECONDS * 1000LL) < 0 ||
		cairn__ratelimit_new(&api->login_by_address, DEFAULT_LOGIN_FAILURES,
		DEFAULT_LOGIN_WINDOW_SECONDS * 1000LL) < 0)
		return CAIRN_ENOMEM;
	return 0;
}

void cairn__api_accounts_free(cairn_api *api)
{
	for (size_t i = 0; i < api->extra_key_count; i++) {
		sodium_memzero(api->extra_keys[i], strlen(api->extra_keys[i]));
		free(api->extra_keys[i]);
	}
	free(api->extra_keys);
	api->extra_keys = NULL;
	api->extra_key_count = 0;
	cairn__ratelimit_free(api->login_by_email);
	cairn__ratelimit_free(api->login_by_address);
	api->login_by_email = api->login_by_address = NULL;
}

int cairn__api_add_key(cairn_api *api, const char *key)
{
	char **keys;
	char *copy;

	if (!api || !key || !key[0])
		return cairn__error_set(CAIRN_EINVALID, "an API key may not be empty");
	copy = strdup(key);
	keys = copy ? realloc(api->extra_keys, (api->extra_key_count + 1) * sizeof(*keys)) : NULL;
	if (!keys) {
		free(copy);
		return cairn__error_set(CAIRN_ENOMEM, "out of memory adding an API key");
	}
	keys[api->extra_key_count++] = copy;
	api->extra_keys = keys;
	return 0;
}

int cairn__api_add_keys_file(cairn_api *api, const char *path)
{
	FILE *file = fopen(path, "r");
	char *line = NULL;
	size_t capacity = 0;
	ssize_t length;
	size_t added = 0;
	int rc = 0;

	if (!file)
		return cairn__error_set(CAIRN_EIO, "cannot read the API keys file %s: %s", path,
			strerror(errno));
	while (rc == 0 && (length = getline(&line, &capacity, file)) >= 0) {
		char *start = line;

		while (length > 0 && isspace((unsigned char)line[length - 1]))
			line[--length] = '\0';
		while (isspace((unsigned char)*start))
			start++;
		if (!*start || *start == '#')
			continue;
		rc = cairn__api_add_key(api, start);
		added++;
	}
	if (line) {
		sodium_memzero(line, capacity);
		free(line);
	}
	fclose(file);
	if (rc == 0 && added == 0)
		rc = cairn__error_set(CAIRN_EINVALID, "the API keys file %s holds no key", path);
	return rc;
}

int cairn__api_set_account_options(cairn_api *api, const cairn_api_account_options *options)
{
	cairn_ratelimit *by_email = NULL, *by_address = NULL;
	unsigned failures;
	int64_t window_ms;

	if (!api || !options)
		return cairn__error_set(CAIRN_EINVALID, "no API or options");
	if (options->session_lifetime_seconds < 0 || options->login_window_seconds < 0)
		return cairn__error_set(CAIRN_EINVALID, "session lifetime and login window may not "
			"be negative");
	failures = options->login_failures ? options->login_failures : DEFAULT_LOGIN_FAILURES;
	window_ms = (options->login_window_seconds ? options->login_window_seconds :
		DEFAULT_LOGIN_WINDOW_SECONDS) * 1000LL;
	if (cairn__ratelimit_new(&by_email, failures, window_ms) < 0 ||
		cairn__ratelimit_new(&by_address, failures, window_ms) < 0) {
		cairn__ratelimit_free(by_email);
		return CAIRN_ENOMEM;
	}
	cairn__ratelimit_free(api->login_by_email);
	cairn__ratelimit_free(api->login_by_address);
	api->login_by_email = by_email;
	api->login_by_address = by_address;
	api->session_lifetime_ms = (options->session_lifetime_seconds ?
		options->session_lifetime_seconds : CAIRN_ACCOUNT_DEFAULT_SESSION_SECONDS) * 1000;
	api->password_cost = options->fast_password_hash ? CAIRN_PASSWORD_COST_MIN :
		CAIRN_PASSWORD_COST_INTERACTIVE;
	return 0;
}

int cairn__api_account_ignores_stale_session(const cairn_http_request *http)
{
	if (!http->method || strcmp(http->method, "POST") != 0 || !http->path)
		return 0;
	return strcmp(http->path, "/v1/account") == 0 ||
		strcmp(http->path, "/v1/account/sessions") == 0 ||
		strcmp(http->path, "/v1/account/sessions/email") == 0;
}
