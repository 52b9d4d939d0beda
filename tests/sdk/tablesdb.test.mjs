// tablesdb.test.mjs: the TablesDB service (node-appwrite 27.1.0 and the web SDK 28.0.0)
// against a real cairn server: databases, tables, rows (CRUD, list with queries, upsert,
// bulk, X-Appwrite-Timestamp), the Table/Row/RowList models, row_/table_ error types,
// permissions, and realtime on tablesdb channels (appwrite-compat.md §1.5, §7.6).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, guestNodeClient, webClient, webKeyClient, freshId, rejectsWith, eventually,
	installBrowserStandIns, TIMESTAMP, nodeSdk, webSdk } from './support.mjs';

installBrowserStandIns();
const { TablesDB, Databases, ID, Query, Permission, Role } = nodeSdk;
const tables = new TablesDB(adminClient());
const cleanups = [];
after(async () => {
	for (const cleanup of cleanups)
		await cleanup();
});

async function freshTable(prefix, permissions = [], rowSecurity = false) {
	const databaseId = freshId(prefix);
	const tableId = 'items';
	const database = await tables.create({ databaseId, name: `${prefix} tables` });
	assert.equal(database.type, 'tablesdb');
	await tables.createTable({ databaseId, tableId, name: 'Items', permissions, rowSecurity });
	return { databaseId, tableId };
}

function assertRowModel(row, where, id) {
	assert.equal(row.$id, id);
	assert.equal(row.$databaseId, where.databaseId);
	assert.equal(row.$tableId, where.tableId);
	assert.equal(row.$collectionId, undefined, 'a Row has $tableId, not $collectionId');
	assert.match(row.$createdAt, TIMESTAMP);
	assert.match(row.$updatedAt, TIMESTAMP);
	assert.match(row.$sequence, /^[1-9][0-9]*$/);
	assert.ok(Array.isArray(row.$permissions));
}

test('tablesdb: databases and tables under TablesDB names', async () => {
	const databaseId = freshId('tdb');
	const created = await tables.create({ databaseId, name: 'Tables' });
	assert.equal(created.$id, databaseId);
	assert.equal(created.type, 'tablesdb');
	assert.equal((await tables.get({ databaseId })).name, 'Tables');
	const listed = await tables.list({ queries: [Query.equal('$id', databaseId)] });
	assert.equal(listed.total, 1);
	assert.equal(listed.databases[0].$id, databaseId);

	const table = await tables.createTable({ databaseId, tableId: 'things', name: 'Things',
		permissions: [Permission.read(Role.any())], rowSecurity: true });
	assert.equal(table.$id, 'things');
	assert.equal(table.databaseId, databaseId);
	assert.equal(table.rowSecurity, true);
	assert.equal(table.documentSecurity, undefined);
	assert.ok(Array.isArray(table.columns));
	assert.ok(Array.isArray(table.indexes));
	assert.equal(table.attributes, undefined);
	const tableList = await tables.listTables({ databaseId });
	assert.equal(tableList.total, 1);
	assert.equal(tableList.tables[0].$id, 'things');
	const updated = await tables.updateTable({ databaseId, tableId: 'things', name: 'Renamed',
		rowSecurity: false });
	assert.equal(updated.name, 'Renamed');
	assert.equal(updated.rowSecurity, false);
	// The same table is a collection of the legacy service (one store, two namings).
	const legacy = await new Databases(adminClient()).getCollection({ databaseId,
		collectionId: 'things' });
	assert.equal(legacy.documentSecurity, false);
	await rejectsWith(() => tables.createTable({ databaseId, tableId: 'things', name: 'Again' }),
		409, 'table_already_exists');
	await tables.deleteTable({ databaseId, tableId: 'things' });
	await rejectsWith(() => tables.getTable({ databaseId, tableId: 'things' }), 404,
		'table_not_found');
	await tables.delete({ databaseId });
	await rejectsWith(() => tables.get({ databaseId }), 404, 'database_not_found');
});

test('tablesdb: rows CRUD, list with queries, upsert, and the Row model', async () => {
	const where = await freshTable('rows');
	const a = await tables.createRow({ ...where, rowId: 'a', data: { title: 'alpha', n: 1 } });
	assertRowModel(a, where, 'a');
	assert.equal(a.title, 'alpha');
	const b = await tables.createRow({ ...where, rowId: ID.unique(), data: { title: 'beta',
		n: 2 } });
	assertRowModel(b, where, b.$id);
	await tables.createRow({ ...where, rowId: 'c', data: { title: 'gamma', n: 3 } });

	const got = await tables.getRow({ ...where, rowId: 'a' });
	assertRowModel(got, where, 'a');
	const selected = await tables.getRow({ ...where, rowId: 'a', queries: [Query.select(['n'])] });
	assert.equal(selected.n, 1);
	assert.equal(selected.title, undefined);

	const list = await tables.listRows({ ...where, queries: [Query.greaterThan('n', 1),
		Query.orderDesc('n')] });
	assert.equal(list.total, 2);
	assert.equal(list.documents, undefined, 'a RowList has rows, not documents');
	assert.deepEqual(list.rows.map((row) => row.n), [3, 2]);
	for (const row of list.rows)
		assert.equal(row.$tableId, where.tableId);

	const updated = await tables.updateRow({ ...where, rowId: 'a', data: { n: 10 } });
	assert.equal(updated.n, 10);
	assert.equal(updated.title, 'alpha');
	const upserted = await tables.upsertRow({ ...where, rowId: 'u', data: { fresh: true } });
	assertRowModel(upserted, where, 'u');
	const replaced = await tables.upsertRow({ ...where, rowId: 'u', data: { fresh: false } });
	assert.equal(replaced.fresh, false);

	await tables.deleteRow({ ...where, rowId: 'a' });
	await rejectsWith(() => tables.getRow({ ...where, rowId: 'a' }), 404, 'row_not_found');
	await rejectsWith(() => tables.createRow({ ...where, rowId: 'c', data: {} }), 409,
		'row_already_exists');
	await rejectsWith(() => tables.createRow({ ...where, rowId: 'x', data: 'not json' }), 400,
		'row_invalid_structure');
	await rejectsWith(() => tables.listRows({ ...where, tableId: 'missing' }), 404,
		'table_not_found');
	await rejectsWith(() => tables.updateRow({ ...where, rowId: 'c' }), 400,
		'row_missing_payload');
});

test('tablesdb: X-Appwrite-Timestamp older than the row is 409 row_update_conflict', async () => {
	const where = await freshTable('tsince');
	const created = await tables.createRow({ ...where, rowId: 's', data: { v: 1 } });
	const stale = new TablesDB(adminClient().addHeader('X-Appwrite-Timestamp',
		new Date(Date.parse(created.$updatedAt) - 1000).toISOString()));
	await rejectsWith(() => stale.updateRow({ ...where, rowId: 's', data: { v: 2 } }), 409,
		'row_update_conflict');
	const current = new TablesDB(adminClient().addHeader('X-Appwrite-Timestamp',
		created.$updatedAt));
	assert.equal((await current.updateRow({ ...where, rowId: 's', data: { v: 3 } })).v, 3);
});

test('tablesdb: bulk createRows, upsertRows, updateRows, deleteRows (key only)', async () => {
	const where = await freshTable('tbulk', [Permission.read(Role.any()),
		Permission.create(Role.any())]);
	const created = await tables.createRows({ ...where, rows: [{ $id: 'r1', n: 1 },
		{ $id: 'r2', n: 2 }, { n: 3 }] });
	assert.equal(created.total, 3);
	assert.equal(created.rows.length, 3);
	assert.equal(created.rows[0].$tableId, where.tableId);
	const upserted = await tables.upsertRows({ ...where, rows: [{ $id: 'r1', n: 11 },
		{ $id: 'r4', n: 4 }] });
	assert.equal(upserted.total, 2);
	assert.deepEqual(upserted.rows.map((row) => row.n), [11, 4]);
	const updated = await tables.updateRows({ ...where, data: { flag: true },
		queries: [Query.lessThan('n', 5)] });
	assert.equal(updated.total, 3);
	assert.ok(updated.rows.every((row) => row.flag === true));
	const deleted = await tables.deleteRows({ ...where, queries: [Query.equal('flag', true)] });
	assert.equal(deleted.total, 3);
	assert.equal((await tables.listRows(where)).total, 1);
	const guest = new TablesDB(guestNodeClient());
	await rejectsWith(() => guest.createRows({ ...where, rows: [{ n: 9 }] }), 401,
		'general_unauthorized_scope');
});

test('tablesdb: permissions apply as on documents (web SDK guest)', async () => {
	const closed = await freshTable('tperm');
	await tables.createRow({ ...closed, rowId: 'secret', data: { v: 1 } });
	const guest = new webSdk.TablesDB(webClient());
	await rejectsWith(() => guest.listRows(closed), 401, 'user_unauthorized');
	await rejectsWith(() => guest.getRow({ ...closed, rowId: 'secret' }), 404, 'row_not_found');
	await rejectsWith(() => guest.createRow({ ...closed, rowId: 'mine', data: {} }), 401,
		'user_unauthorized');

	const open = await freshTable('topen', [Permission.read(Role.any())]);
	await tables.createRow({ ...open, rowId: 'public', data: { v: 2 } });
	const list = await guest.listRows(open);
	assert.equal(list.total, 1);
	assert.equal(list.rows[0].$tableId, open.tableId);
	assert.equal((await guest.getRow({ ...open, rowId: 'public' })).v, 2);
	// The web SDK's models with a key client, for parsing only.
	const keyed = new webSdk.TablesDB(webKeyClient());
	assert.equal((await keyed.getRow({ ...open, rowId: 'public' })).$tableId, open.tableId);
});

test('tablesdb: realtime events on tablesdb.<db>.tables.<t>.rows (web SDK 28)', async () => {
	const where = await freshTable('trt', [Permission.read(Role.any())]);
	const channel = `tablesdb.${where.databaseId}.tables.${where.tableId}.rows`;
	const events = [];
	const client = webClient();
	const subscription = client.subscribe(channel, (message) => events.push(message));
	cleanups.push(async () => subscription());
	let round = 0;
	await eventually(async () => {
		await tables.upsertRow({ ...where, rowId: 'warm', data: { round: round++ } });
		await new Promise((resolve) => setTimeout(resolve, 100));
		return events.some((e) => e.payload?.$id === 'warm');
	}, 'a first event');
	await tables.createRow({ ...where, rowId: 'r', data: { v: 1 } });
	const onCreate = await eventually(() => events.find((e) => e.payload?.$id === 'r'),
		'the row create event');
	assert.ok(onCreate.channels.includes(channel));
	assert.ok(onCreate.channels.includes(`${channel}.r`));
	assert.ok(onCreate.events.includes(
		`databases.${where.databaseId}.tables.${where.tableId}.rows.r.create`));
	assert.equal(onCreate.payload.v, 1);
});
