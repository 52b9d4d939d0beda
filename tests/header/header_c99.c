/* header_c99.c: proves include/cairn.h compiles alone under strict C99 and C++-free flags. */
#include "cairn.h"

int main(void)
{
	cairn_store_options store_options = CAIRN_STORE_OPTIONS_INIT;
	cairn_sync_options sync_options = CAIRN_SYNC_OPTIONS_INIT;
	cairn_remote remote = { CAIRN_REMOTE_VERSION, "http://127.0.0.1:8080/v1", "p", "k", "db", NULL, 0, NULL, CAIRN_REMOTE_SYNC };

	/* The INIT macros must fill the version field first and agree with the constants. */
	if (store_options.version != CAIRN_STORE_OPTIONS_VERSION)
		return 1;
	if (sync_options.version != CAIRN_SYNC_OPTIONS_VERSION || sync_options.push_batch == 0)
		return 1;
	return remote.version == CAIRN_REMOTE_VERSION ? 0 : 1;
}
