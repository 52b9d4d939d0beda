/* storage.c: releasing the records that storage backends fill into caller-provided structs. */
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

void cairn__storage_record_clear(cairn_storage_record *record)
{
	if (!record)
		return;
	free(record->database_id);
	free(record->collection_id);
	free(record->id);
	json_object_put(record->data);
	json_object_put(record->permissions);
	free(record->author);
	free(record->last_mutation);
	memset(record, 0, sizeof(*record));
}

void cairn__storage_database_clear(cairn_storage_database *database)
{
	if (!database)
		return;
	free(database->id);
	free(database->name);
	memset(database, 0, sizeof(*database));
}

void cairn__storage_collection_clear(cairn_storage_collection *collection)
{
	if (!collection)
		return;
	free(collection->database_id);
	free(collection->id);
	free(collection->name);
	json_object_put(collection->permissions);
	memset(collection, 0, sizeof(*collection));
}

void cairn__storage_outcome_clear(cairn_storage_outcome *outcome)
{
	if (!outcome)
		return;
	cairn__storage_record_clear(&outcome->record);
	memset(outcome, 0, sizeof(*outcome));
}
