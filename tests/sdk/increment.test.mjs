// increment.test.mjs: incrementDocumentAttribute / decrementDocumentAttribute (node-appwrite
// 27.1.0, the web SDK 28.0.0) and TablesDB's incrementRowColumn / decrementRowColumn against a
// real cairn server: defaults, max/min, concurrency, permissions and errors (compat §1.4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, webClient, freshCollection, freshId, rejectsWith, nodeSdk,
	webSdk } from './support.mjs';

const { Databases, TablesDB, Permission, Role } = nodeSdk;
const databases = new Databases(adminClient());

test('increment and decrement: default 1, value, doubles, missing field counts as 0',
	async () => {
		const where = await freshCollection('inc');
		await databases.createDocument({ ...where, documentId: 'c', data: { n: 5, f: 1.5,
			title: 'x' } });
		let doc = await databases.incrementDocumentAttribute({ ...where, documentId: 'c',
			attribute: 'n' });
		assert.equal(doc.n, 6);
		assert.equal(doc.title, 'x', 'other fields stay');
		assert.equal(doc.$collectionId, where.collectionId);
		doc = await databases.incrementDocumentAttribute({ ...where, documentId: 'c',
			attribute: 'n', value: 10 });
		assert.equal(doc.n, 16);
		doc = await databases.decrementDocumentAttribute({ ...where, documentId: 'c',
			attribute: 'n', value: 20 });
		assert.equal(doc.n, -4);
		doc = await databases.incrementDocumentAttribute({ ...where, documentId: 'c',
			attribute: 'f', value: 0.25 });
		assert.equal(doc.f, 1.75);
		doc = await databases.incrementDocumentAttribute({ ...where, documentId: 'c',
			attribute: 'fresh', value: 3 });
		assert.equal(doc.fresh, 3);
		assert.equal((await databases.getDocument({ ...where, documentId: 'c' })).n, -4);
	});

test('increment: max and decrement: min refuse a step past the bound', async () => {
	const where = await freshCollection('incmax');
	await databases.createDocument({ ...where, documentId: 'c', data: { n: 8 } });
	const doc = await databases.incrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n', value: 2, max: 10 });
	assert.equal(doc.n, 10);
	await rejectsWith(() => databases.incrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n', max: 10 }), 400, 'attribute_value_invalid');
	assert.equal((await databases.decrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n', value: 10, min: 0 })).n, 0);
	await rejectsWith(() => databases.decrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n', min: 0 }), 400, 'attribute_value_invalid');
	assert.equal((await databases.getDocument({ ...where, documentId: 'c' })).n, 0);
});

test('increment: concurrent calls all count, and a max holds under concurrency', async () => {
	const where = await freshCollection('incpar');
	await databases.createDocument({ ...where, documentId: 'c', data: { n: 0, m: 0 } });
	await Promise.all(Array.from({ length: 20 }, () => databases.incrementDocumentAttribute({
		...where, documentId: 'c', attribute: 'n' })));
	assert.equal((await databases.getDocument({ ...where, documentId: 'c' })).n, 20);
	const results = await Promise.allSettled(Array.from({ length: 12 }, () =>
		databases.incrementDocumentAttribute({ ...where, documentId: 'c', attribute: 'm',
			max: 5 })));
	assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
	for (const r of results.filter((r) => r.status === 'rejected'))
		assert.equal(r.reason.type, 'attribute_value_invalid');
	assert.equal((await databases.getDocument({ ...where, documentId: 'c' })).m, 5);
});

test('increment: errors and permissions', async () => {
	const where = await freshCollection('incerr', [Permission.read(Role.any())]);
	await databases.createDocument({ ...where, documentId: 'c', data: { n: 1, s: 'text' } });
	await rejectsWith(() => databases.incrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 's' }), 400, 'general_argument_invalid');
	await rejectsWith(() => databases.incrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n', value: -1 }), 400, 'general_argument_invalid');
	await rejectsWith(() => databases.incrementDocumentAttribute({ ...where,
		documentId: 'missing', attribute: 'n' }), 404, 'document_not_found');
	await rejectsWith(() => databases.incrementDocumentAttribute({ ...where,
		collectionId: 'missing', documentId: 'c', attribute: 'n' }), 404, 'collection_not_found');
	// A guest may read but not update: 401, and nothing changes.
	const guest = new webSdk.Databases(webClient());
	await rejectsWith(() => guest.incrementDocumentAttribute({ ...where, documentId: 'c',
		attribute: 'n' }), 401, 'user_unauthorized');
	assert.equal((await databases.getDocument({ ...where, documentId: 'c' })).n, 1);
	// With update("any") the guest may.
	const open = await freshCollection('incopen', [Permission.read(Role.any()),
		Permission.update(Role.any())]);
	await databases.createDocument({ ...open, documentId: 'c', data: { n: 1 } });
	assert.equal((await guest.incrementDocumentAttribute({ ...open, documentId: 'c',
		attribute: 'n' })).n, 2);
});

test('tablesdb: incrementRowColumn and decrementRowColumn', async () => {
	const tables = new TablesDB(adminClient());
	const databaseId = freshId('tinc');
	await tables.create({ databaseId, name: 'inc' });
	await tables.createTable({ databaseId, tableId: 't', name: 'T' });
	await tables.createRow({ databaseId, tableId: 't', rowId: 'r', data: { n: 1 } });
	const row = await tables.incrementRowColumn({ databaseId, tableId: 't', rowId: 'r',
		column: 'n', value: 4 });
	assert.equal(row.n, 5);
	assert.equal(row.$tableId, 't');
	assert.equal((await tables.decrementRowColumn({ databaseId, tableId: 't', rowId: 'r',
		column: 'n', min: 4 })).n, 4);
	await rejectsWith(() => tables.incrementRowColumn({ databaseId, tableId: 't',
		rowId: 'missing', column: 'n' }), 404, 'row_not_found');
	await rejectsWith(() => tables.decrementRowColumn({ databaseId, tableId: 't', rowId: 'r',
		column: 'n', min: 4 }), 400, 'column_value_invalid');
});
