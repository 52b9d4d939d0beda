/* cmd_scope.c: `cairn scope`: shows or sets a collection's sync scope (the filter queries that
 * decide which readable documents the store pulls), through cairn_sync_scope_set/_get. */
#include "cli/cmd_scope.h"

#include <stdio.h>

#include "cli/cmd_conflicts.h"

CAIRN__CLI_COMMAND_FN(cairn__cli_cmd_scope)
{
	cairn_store *store = NULL;
	char *scope = NULL;
	int all = cairn__cli_all_given();
	int rc, status;

	if (all && argc > 1)
		return cairn__cli_usage_error(command, "give either QUERY_JSON arguments or --all, "
			"not both");
	status = cairn__cli_store_open(&store, args);
	if (status)
		return status;
	if (all || argc > 1) {
		rc = cairn_sync_scope_set(store, argv[0], argv + 1, argc - 1);
		if (rc < 0) {
			status = cairn__cli_fail(rc, rc == CAIRN_EINVALID
					? "each query is one Appwrite filter query JSON, e.g. "
					  "'{\"method\":\"equal\",\"attribute\":\"storeId\",\"values\":[42]}'"
					: NULL,
				"cannot set the scope of %s", argv[0]);
			goto cleanup;
		}
	}
	rc = cairn_sync_scope_get(&scope, store, argv[0]);
	if (rc < 0) {
		status = cairn__cli_fail(rc, NULL, "cannot read the scope of %s", argv[0]);
		goto cleanup;
	}
	cairn__cli_print_json(scope);
	status = CLI_EXIT_OK;
cleanup:
	cairn_free(scope);
	cairn_store_free(store);
	return status;
}
