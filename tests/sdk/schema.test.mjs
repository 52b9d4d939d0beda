// schema.test.mjs: the attribute and index set-up calls of node-appwrite 27.1.0 (Databases
// and TablesDB) against a real cairn server: they are accepted and stored, answer the
// Attribute/Index models with status "available", list/get/update/delete, and show in the
// Collection/Table models; documents are not checked against them (docs/appwrite.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, guestNodeClient, freshCollection, freshId, rejectsWith, TIMESTAMP,
	nodeSdk } from './support.mjs';

const { Databases, TablesDB, Query } = nodeSdk;
const databases = new Databases(adminClient());

test('attributes: a set-up script runs, and the models come back', async () => {
	const where = await freshCollection('schema');
	const title = await databases.createStringAttribute({ ...where, key: 'title', size: 128,
		required: true });
	assert.equal(title.key, 'title');
	assert.equal(title.type, 'string');
	assert.equal(title.status, 'available');
	assert.equal(title.size, 128);
	assert.equal(title.required, true);
	assert.match(title.$createdAt, TIMESTAMP);
	const count = await databases.createIntegerAttribute({ ...where, key: 'count',
		required: false, min: 0, max: 100, xdefault: 5 });
	assert.equal(count.type, 'integer');
	assert.equal(count.min, 0);
	assert.equal(count.max, 100);
	assert.equal(count.default, 5);
	await databases.createBooleanAttribute({ ...where, key: 'done', required: false });
	await databases.createFloatAttribute({ ...where, key: 'price', required: false });
	const mail = await databases.createEmailAttribute({ ...where, key: 'mail', required: false });
	assert.equal(mail.format, 'email');
	await databases.createDatetimeAttribute({ ...where, key: 'due', required: false });
	await databases.createEnumAttribute({ ...where, key: 'state', elements: ['a', 'b'],
		required: false });
	await databases.createStringAttribute({ ...where, key: 'tags', size: 16, required: false,
		array: true });
	await rejectsWith(() => databases.createStringAttribute({ ...where, key: 'title', size: 1,
		required: false }), 409, 'attribute_already_exists');

	const list = await databases.listAttributes(where);
	assert.equal(list.total, 8);
	assert.deepEqual(list.attributes.map((a) => a.key),
		['title', 'count', 'done', 'price', 'mail', 'due', 'state', 'tags']);
	assert.equal((await databases.getAttribute({ ...where, key: 'state' })).elements.length, 2);
	const updated = await databases.updateStringAttribute({ ...where, key: 'title',
		required: false, xdefault: 'untitled', size: 256 });
	assert.equal(updated.required, false);
	assert.equal(updated.default, 'untitled');
	assert.equal(updated.size, 256);
	await databases.createRelationshipAttribute({ ...where, relatedCollectionId: 'other',
		type: 'oneToMany', key: 'kids' });
	const relation = await databases.updateRelationshipAttribute({ ...where, key: 'kids',
		onDelete: 'cascade' });
	assert.equal(relation.key, 'kids');
	assert.equal(relation.relatedCollection, 'other');
	assert.equal(relation.relationType, 'oneToMany');
	assert.equal(relation.onDelete, 'cascade');
	await databases.deleteAttribute({ ...where, key: 'kids' });
	await databases.deleteAttribute({ ...where, key: 'tags' });
	await rejectsWith(() => databases.getAttribute({ ...where, key: 'tags' }), 404,
		'attribute_not_found');

	const index = await databases.createIndex({ ...where, key: 'by_title', type: 'key',
		attributes: ['title'], orders: ['asc'] });
	assert.equal(index.key, 'by_title');
	assert.equal(index.status, 'available');
	assert.deepEqual(index.attributes, ['title']);
	await databases.createIndex({ ...where, key: 'by_count', type: 'unique',
		attributes: ['count', '$createdAt'] });
	await rejectsWith(() => databases.createIndex({ ...where, key: 'bad', type: 'key',
		attributes: ['nope'] }), 400, 'attribute_unknown');
	await rejectsWith(() => databases.createIndex({ ...where, key: 'by_title',
		type: 'key', attributes: ['title'] }), 409, 'index_already_exists');
	assert.equal((await databases.listIndexes(where)).total, 2);
	assert.equal((await databases.getIndex({ ...where, key: 'by_count' })).type, 'unique');
	await databases.deleteIndex({ ...where, key: 'by_count' });
	await rejectsWith(() => databases.getIndex({ ...where, key: 'by_count' }), 404,
		'index_not_found');

	const collection = await databases.getCollection(where);
	assert.deepEqual(collection.attributes.map((a) => a.key),
		['title', 'count', 'done', 'price', 'mail', 'due', 'state']);
	assert.deepEqual(collection.indexes.map((i) => i.key), ['by_title']);
	const listed = await databases.listCollections({ databaseId: where.databaseId });
	assert.equal(listed.collections[0].attributes.length, 7);

	// Not enforced: a document without the required title and with a string count is stored.
	const doc = await databases.createDocument({ ...where, documentId: 'free',
		data: { count: 'many' } });
	assert.equal(doc.count, 'many');
	assert.equal(doc.title, undefined);

	// Key only, and a deleted then re-created collection starts with no schema.
	await rejectsWith(() => new Databases(guestNodeClient()).listAttributes(where), 401,
		'general_unauthorized_scope');
	await databases.deleteCollection(where);
	await databases.createCollection({ ...where, name: 'again' });
	assert.equal((await databases.listAttributes(where)).total, 0);
	assert.deepEqual((await databases.getCollection(where)).indexes, []);
	await rejectsWith(() => databases.listAttributes({ ...where, collectionId: 'missing' }), 404,
		'collection_not_found');
});

test('tablesdb: columns and indexes, and the Table model', async () => {
	const tables = new TablesDB(adminClient());
	const databaseId = freshId('tcol');
	await tables.create({ databaseId, name: 'cols' });
	await tables.createTable({ databaseId, tableId: 't', name: 'T' });
	const column = await tables.createStringColumn({ databaseId, tableId: 't', key: 'name',
		size: 64, required: true });
	assert.equal(column.key, 'name');
	assert.equal(column.status, 'available');
	await tables.createIntegerColumn({ databaseId, tableId: 't', key: 'n', required: false });
	const columns = await tables.listColumns({ databaseId, tableId: 't',
		queries: [Query.equal('type', 'integer')] });
	assert.equal(columns.total, 1);
	assert.equal(columns.columns[0].key, 'n');
	const index = await tables.createIndex({ databaseId, tableId: 't', key: 'by_name',
		type: 'key', columns: ['name'] });
	assert.deepEqual(index.columns, ['name']);
	assert.equal(index.attributes, undefined);
	const table = await tables.getTable({ databaseId, tableId: 't' });
	assert.deepEqual(table.columns.map((c) => c.key), ['name', 'n']);
	assert.deepEqual(table.indexes[0].columns, ['name']);
	await tables.deleteColumn({ databaseId, tableId: 't', key: 'n' });
	await rejectsWith(() => tables.getColumn({ databaseId, tableId: 't', key: 'n' }), 404,
		'column_not_found');
});

test('inline schema: createCollection attributes/indexes and createTable columns/indexes',
	async () => {
		const databaseId = freshId('inline');
		await databases.create({ databaseId, name: 'inline' });
		const collection = await databases.createCollection({ databaseId, collectionId: 'c',
			name: 'C', attributes: [{ key: 'title', type: 'string', size: 64, required: true },
				{ key: 'n', type: 'integer', required: false }],
			indexes: [{ key: 'by_n', type: 'key', attributes: ['n'] }] });
		assert.deepEqual(collection.attributes.map((a) => [a.key, a.type, a.status]),
			[['title', 'string', 'available'], ['n', 'integer', 'available']]);
		assert.deepEqual(collection.indexes.map((i) => i.key), ['by_n']);
		assert.equal((await databases.getAttribute({ databaseId, collectionId: 'c',
			key: 'title' })).size, 64);
		// A bad inline schema creates nothing.
		await rejectsWith(() => databases.createCollection({ databaseId, collectionId: 'bad',
			name: 'Bad', attributes: [{ key: 'x', type: 'nonsense' }] }), 400,
		'attribute_type_invalid');
		await rejectsWith(() => databases.getCollection({ databaseId, collectionId: 'bad' }), 404,
			'collection_not_found');

		const tables = new TablesDB(adminClient());
		const table = await tables.createTable({ databaseId, tableId: 't', name: 'T',
			columns: [{ key: 'name', type: 'string', size: 8, required: false }],
			indexes: [{ key: 'by_name', type: 'unique', columns: ['name'] }] });
		assert.deepEqual(table.columns.map((c) => c.key), ['name']);
		assert.deepEqual(table.indexes[0].columns, ['name']);
	});
