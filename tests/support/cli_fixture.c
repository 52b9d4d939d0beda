/* cli_fixture.c: the CLI tests' shared fixture and assertions (see cli_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/cli_fixture.h"

int cairn_cli_fixture_setup(void **state)
{
	static cairn_cli_fixture f;

	memset(&f, 0, sizeof(f));
	if (cairn_cli_tmpdir(f.dir) != 0)
		return -1;
	snprintf(f.store, sizeof(f.store), "%s/a.db", f.dir);
	snprintf(f.store_b, sizeof(f.store_b), "%s/b.db", f.dir);
	*state = &f;
	return 0;
}

int cairn_cli_fixture_teardown(void **state)
{
	cairn_cli_fixture *f = *state;

	cairn_cli_server_stop(&f->server);
	cairn_cli_rmtree(f->dir);
	return 0;
}

void cairn_cli_expect_status(const cairn_cli_result *r, int status)
{
	if (r->status != status)
		fail_msg("exit %d, expected %d\nstdout: %s\nstderr: %s", r->status, status, r->out,
			r->err);
}

void cairn_cli_expect_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("expected '%s' in:\n%s", part, text);
}

json_object *cairn_cli_parse(const char *text)
{
	json_object *value = json_tokener_parse(text);

	if (!value)
		fail_msg("not JSON: %s", text);
	return value;
}

json_object *cairn_cli_member(json_object *object, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(object, key, &value))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(object));
	return value;
}
