// documents.test.mjs: node-appwrite's and the web SDK's document calls against a real cairn
// server: create (ID.unique(), server-made and chosen ids), get, list with every query method
// the server evaluates, update, upsert, delete, bulk calls, the Document model, and errors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, webKeyClient, freshCollection, rejectsWith, TIMESTAMP, nodeSdk,
	webSdk } from './support.mjs';

const { Databases, ID, Query, Permission, Role } = nodeSdk;
const databases = new Databases(adminClient());

// Five documents created in order a..e, so $sequence, $createdAt and $updatedAt ascend.
const rows = {
	a: { title: 'alpha', n: 1, price: 1.5, tags: ['red', 'blue'], done: true },
	b: { title: 'beta', n: 2, price: 2.25, tags: ['blue'], done: false, note: null },
	c: { title: 'gamma', n: 3, price: 3, tags: [], done: false, note: 'x' },
	d: { title: 'delta', n: 4, price: 10.75, tags: ['red'], done: true },
	e: { title: 'alphabet', n: 5, price: 0.5, tags: ['green'], done: false },
};
let db; // { databaseId, collectionId } of the query fixture
const docs = {};

function assertDocumentModel(doc, where, id) {
	assert.equal(doc.$id, id);
	assert.equal(doc.$databaseId, where.databaseId);
	assert.equal(doc.$collectionId, where.collectionId);
	assert.match(doc.$createdAt, TIMESTAMP);
	assert.match(doc.$updatedAt, TIMESTAMP);
	assert.equal(typeof doc.$sequence, 'string', '$sequence is a string in format 1.9');
	assert.match(doc.$sequence, /^[1-9][0-9]*$/);
	assert.ok(Array.isArray(doc.$permissions));
}

/** The user fields of a document (the '$' keys dropped), as plain objects (json-bigint
 * parses objects with a null prototype). */
function userFields(doc) {
	return structuredClone(Object.fromEntries(Object.entries(doc)
		.filter(([key]) => !key.startsWith('$'))));
}

before(async () => {
	db = await freshCollection('docs');
	for (const [id, data] of Object.entries(rows))
		docs[id] = await databases.createDocument({ ...db, documentId: id, data });
});

test('create: chosen id, ID.unique() and unique(); the Document model', async () => {
	const where = await freshCollection('create');
	const data = { title: 'alpha', n: 7, price: 1.25, nested: { deep: [1, { k: 'v' }] },
		tags: ['a'], flag: false, nothing: null, when: '2026-01-02T03:04:05.678Z' };
	const chosen = await databases.createDocument({ ...where, documentId: 'doc-1.a_b', data,
		permissions: [Permission.read(Role.any())] });
	assertDocumentModel(chosen, where, 'doc-1.a_b');
	assert.equal(chosen.$createdAt, chosen.$updatedAt);
	assert.deepEqual(chosen.$permissions, ['read("any")']);
	// Values come back exactly as written, nothing added (compat §9.3).
	assert.deepEqual(userFields(chosen), data);

	const clientMade = ID.unique();
	assert.match(clientMade, /^[0-9a-f]{20}$/);
	const fromSdk = await databases.createDocument({ ...where, documentId: clientMade,
		data: { title: 'beta' } });
	assertDocumentModel(fromSdk, where, clientMade);
	assert.deepEqual(fromSdk.$permissions, [], 'a key-created document without permissions');

	const serverMade = await databases.createDocument({ ...where, documentId: 'unique()',
		data: { title: 'gamma' } });
	assert.match(serverMade.$id, /^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/);
	assert.notEqual(serverMade.$id, 'unique()');
	assert.ok(BigInt(serverMade.$sequence) > BigInt(fromSdk.$sequence) &&
		BigInt(fromSdk.$sequence) > BigInt(chosen.$sequence), '$sequence follows insert order');
	assert.ok(serverMade.$updatedAt > fromSdk.$updatedAt, 'every write gets a later $updatedAt');

	// $createdAt/$updatedAt in data are dropped, even for a key (docs/appwrite.md).
	const past = '2000-01-02T03:04:05.678+00:00';
	const overridden = await databases.createDocument({ ...where, documentId: 'past',
		data: { $createdAt: past, $updatedAt: past, $sequence: '999', v: 1 } });
	assert.ok(overridden.$createdAt > past && overridden.$updatedAt > past);
	assert.notEqual(overridden.$sequence, '999');
	assert.deepEqual(userFields(overridden), { v: 1 });

	const got = await databases.getDocument({ ...where, documentId: 'doc-1.a_b' });
	assert.deepEqual(got, chosen);
	const selected = await databases.getDocument({ ...where, documentId: 'doc-1.a_b',
		queries: [Query.select(['title', 'n'])] });
	assert.deepEqual(userFields(selected), { title: 'alpha', n: 7 });
	assert.equal(selected.$id, 'doc-1.a_b');
});

test('create: 64-bit integers travel exactly (json-bigint on both sides)', async () => {
	const where = await freshCollection('big');
	const big = 9007199254740993n; // 2^53 + 1: not a double
	const created = await databases.createDocument({ ...where, documentId: 'big',
		data: { big, small: -5 } });
	assert.equal(BigInt(created.big), big);
	const got = await databases.getDocument({ ...where, documentId: 'big' });
	assert.equal(BigInt(got.big), big);
	assert.equal(got.small, -5);
});

test('create: doubles, odd strings and datetimes come back exactly (compat §9.3)', async () => {
	const where = await freshCollection('exact');
	const numbers = [0.1, 0.1 + 0.2, 1e-7, 1.7976931348623157e308, 5e-324, 1e21, -0.5, 1 / 3,
		123456789.123, Number.MAX_SAFE_INTEGER];
	const text = 'é ✓ \u0000 "quoted" \\ / \u2028 😀';
	const when = '2026-01-02T03:04:05.678Z'; // not rewritten to +00:00 (schemaless)
	await databases.createDocument({ ...where, documentId: 'x', data: { numbers, text, when } });
	const got = await databases.getDocument({ ...where, documentId: 'x' });
	numbers.forEach((value, i) => assert.ok(Object.is(Number(got.numbers[i]), value),
		`${value} came back as ${got.numbers[i]}`));
	assert.equal(got.text, text);
	assert.equal(got.when, when);
});

test('list: comparison, string, array, null and logical filters', async () => {
	async function ids(...queries) {
		const list = await databases.listDocuments({ ...db, queries });
		assert.equal(list.total, list.documents.length);
		return list.documents.map((doc) => doc.$id);
	}
	assert.deepEqual(await ids(), ['a', 'b', 'c', 'd', 'e'], 'no query: $sequence order');
	assert.deepEqual(await ids(Query.equal('title', 'beta')), ['b']);
	assert.deepEqual(await ids(Query.equal('title', ['beta', 'gamma'])), ['b', 'c']);
	assert.deepEqual(await ids(Query.equal('done', true)), ['a', 'd']);
	assert.deepEqual(await ids(Query.notEqual('title', 'beta')), ['a', 'c', 'd', 'e']);
	assert.deepEqual(await ids(Query.lessThan('n', 3)), ['a', 'b']);
	assert.deepEqual(await ids(Query.lessThanEqual('n', 3)), ['a', 'b', 'c']);
	assert.deepEqual(await ids(Query.greaterThan('price', 2.25)), ['c', 'd']);
	assert.deepEqual(await ids(Query.greaterThanEqual('price', 2.25)), ['b', 'c', 'd']);
	assert.deepEqual(await ids(Query.between('n', 2, 4)), ['b', 'c', 'd']);
	assert.deepEqual(await ids(Query.notBetween('n', 2, 4)), ['a', 'e']);
	assert.deepEqual(await ids(Query.isNull('note')), ['a', 'b', 'd', 'e'],
		'an attribute never set is null');
	assert.deepEqual(await ids(Query.isNotNull('note')), ['c']);
	assert.deepEqual(await ids(Query.startsWith('title', 'alpha')), ['a', 'e']);
	assert.deepEqual(await ids(Query.notStartsWith('title', 'alpha')), ['b', 'c', 'd']);
	assert.deepEqual(await ids(Query.endsWith('title', 'ta')), ['b', 'd']);
	assert.deepEqual(await ids(Query.notEndsWith('title', 'ta')), ['a', 'c', 'e']);
	assert.deepEqual(await ids(Query.contains('tags', 'red')), ['a', 'd']);
	assert.deepEqual(await ids(Query.contains('tags', ['green', 'blue'])), ['a', 'b', 'e']);
	assert.deepEqual(await ids(Query.contains('title', 'ph')), ['a', 'e'], 'substring');
	assert.deepEqual(await ids(Query.notContains('tags', 'red')), ['b', 'c', 'e']);
	assert.deepEqual(await ids(Query.or([Query.equal('n', 1), Query.equal('n', 5)])), ['a', 'e']);
	assert.deepEqual(await ids(Query.and([Query.greaterThan('n', 1), Query.equal('done', false)])),
		['b', 'c', 'e']);
	assert.deepEqual(await ids(Query.or([Query.and([Query.equal('done', true),
		Query.greaterThan('n', 1)]), Query.equal('title', 'beta')])), ['b', 'd']);
	assert.deepEqual(await ids(Query.greaterThan('n', 1), Query.lessThan('n', 5),
		Query.equal('done', false)), ['b', 'c'], 'several filters AND together');
});

test('list: system attributes $id, $sequence, $createdAt, $updatedAt', async () => {
	async function ids(...queries) {
		return (await databases.listDocuments({ ...db, queries })).documents.map((d) => d.$id);
	}
	assert.deepEqual(await ids(Query.equal('$id', ['a', 'c'])), ['a', 'c']);
	assert.deepEqual(await ids(Query.greaterThan('$id', 'c')), ['d', 'e']);
	assert.deepEqual(await ids(Query.orderDesc('$sequence')), ['e', 'd', 'c', 'b', 'a']);
	assert.deepEqual(await ids(Query.createdAfter(docs.c.$createdAt)), ['d', 'e']);
	assert.deepEqual(await ids(Query.createdBefore(docs.b.$createdAt)), ['a']);
	assert.deepEqual(await ids(Query.createdBetween(docs.b.$createdAt, docs.d.$createdAt)),
		['b', 'c', 'd']);
	assert.deepEqual(await ids(Query.updatedAfter(docs.d.$updatedAt)), ['e']);
	assert.deepEqual(await ids(Query.updatedBefore(docs.b.$updatedAt)), ['a']);
	assert.deepEqual(await ids(Query.updatedBetween(docs.c.$updatedAt, docs.e.$updatedAt)),
		['c', 'd', 'e']);
	// Instants compare whatever the offset: the same time written with 'Z'.
	const zulu = new Date(docs.c.$updatedAt).toISOString();
	assert.ok(zulu.endsWith('Z'));
	assert.deepEqual(await ids(Query.greaterThan('$updatedAt', zulu)), ['d', 'e']);
	assert.deepEqual(await ids(Query.equal('$updatedAt', zulu)), ['c']);
	// RxDB's checkpoint query (compat §8).
	assert.deepEqual(await ids(Query.or([Query.greaterThan('$updatedAt', docs.b.$updatedAt),
		Query.and([Query.equal('$updatedAt', docs.b.$updatedAt), Query.greaterThan('$id', 'b')])]),
	Query.orderAsc('$updatedAt'), Query.orderAsc('$id'), Query.limit(2)), ['c', 'd']);
});

test('list: order, limit, offset, cursors, select and total', async () => {
	async function list(...queries) {
		return databases.listDocuments({ ...db, queries });
	}
	const ids = (page) => page.documents.map((doc) => doc.$id);
	assert.deepEqual(ids(await list(Query.orderDesc('n'))), ['e', 'd', 'c', 'b', 'a']);
	assert.deepEqual(ids(await list(Query.orderAsc('title'))), ['a', 'e', 'b', 'd', 'c']);
	assert.deepEqual(ids(await list(Query.orderAsc('done'), Query.orderDesc('n'))),
		['e', 'c', 'b', 'd', 'a'], 'orders apply in the order given');
	const page = await list(Query.orderAsc('n'), Query.limit(2), Query.offset(1));
	assert.deepEqual(ids(page), ['b', 'c']);
	assert.equal(page.total, 5, 'total ignores limit and offset');
	assert.deepEqual(ids(await list(Query.orderAsc('n'), Query.cursorAfter('b'))), ['c', 'd', 'e']);
	assert.deepEqual(ids(await list(Query.orderAsc('n'), Query.cursorBefore('d'), Query.limit(2))),
		['b', 'c']);
	assert.deepEqual(ids(await list(Query.orderDesc('price'), Query.cursorAfter('c'),
		Query.limit(1))), ['b']);
	const selected = await list(Query.select(['title']), Query.equal('$id', 'a'));
	assert.deepEqual(userFields(selected.documents[0]), { title: 'alpha' });
	assert.equal(selected.documents[0].$id, 'a');
	const noTotal = await databases.listDocuments({ ...db, queries: [Query.limit(1)],
		total: false });
	assert.equal(noTotal.total, 0);
	assert.equal(noTotal.documents.length, 1);
});

test('list: the default page is 25 documents and total counts all', async () => {
	const where = await freshCollection('page');
	await databases.createDocuments({ ...where, documents: Array.from({ length: 30 },
		(_, i) => ({ $id: `d${String(i).padStart(2, '0')}`, i })) });
	const first = await databases.listDocuments({ ...where });
	assert.equal(first.documents.length, 25);
	assert.equal(first.total, 30);
	const rest = await databases.listDocuments({ ...where,
		queries: [Query.cursorAfter(first.documents[24].$id)] });
	assert.deepEqual(rest.documents.map((d) => d.i), [25, 26, 27, 28, 29]);
});

test('list: bad and unsupported queries are 400s', async () => {
	await rejectsWith(() => databases.listDocuments({ ...db, queries: [Query.cursorAfter('nope')] }),
		400, 'general_cursor_not_found');
	await rejectsWith(() => databases.listDocuments({ ...db, queries: ['not json'] }), 400,
		'general_query_invalid');
	await rejectsWith(() => databases.listDocuments({ ...db, queries: ['{"method":"nope"}'] }), 400,
		'general_query_invalid');
	await rejectsWith(() => databases.listDocuments({ ...db,
		queries: [Query.search('title', 'alpha')] }), 400, 'general_query_invalid');
	await rejectsWith(() => databases.listDocuments({ ...db, queries: [Query.orderRandom()] }), 400,
		'general_query_invalid');
	await rejectsWith(() => databases.listDocuments({ ...db,
		queries: Array.from({ length: 101 }, () => Query.limit(1)) }), 400, 'general_query_invalid');
});

test('update: partial data, permissions only, $updatedAt moves and $createdAt stays', async () => {
	const where = await freshCollection('update');
	const created = await databases.createDocument({ ...where, documentId: 'u',
		data: { title: 'one', n: 1, keep: [1, 2] } });
	const updated = await databases.updateDocument({ ...where, documentId: 'u',
		data: { title: 'two', added: { x: 1 } } });
	assertDocumentModel(updated, where, 'u');
	assert.deepEqual(userFields(updated), { title: 'two', n: 1, keep: [1, 2], added: { x: 1 } });
	assert.equal(updated.$createdAt, created.$createdAt);
	assert.equal(updated.$sequence, created.$sequence, '$sequence is set once, at insert');
	assert.ok(updated.$updatedAt > created.$updatedAt);

	const permitted = await databases.updateDocument({ ...where, documentId: 'u',
		permissions: [Permission.read(Role.any()), Permission.write(Role.user('u1'))] });
	assert.deepEqual(userFields(permitted), userFields(updated), 'permissions only: data kept');
	assert.ok(permitted.$permissions.includes('read("any")'));
	assert.ok(permitted.$permissions.some((p) => p.startsWith('update("user:u1")') ||
		p === 'write("user:u1")'));

	// Unlike Appwrite, a write that changes nothing still moves $updatedAt (docs/appwrite.md).
	const same = await databases.updateDocument({ ...where, documentId: 'u',
		data: { title: 'two' } });
	assert.deepEqual(userFields(same), userFields(permitted));
	assert.ok(same.$updatedAt > permitted.$updatedAt);

	await rejectsWith(() => databases.updateDocument({ ...where, documentId: 'u' }), 400,
		'document_missing_payload');
	await rejectsWith(() => databases.updateDocument({ ...where, documentId: 'missing',
		data: { a: 1 } }), 404, 'document_not_found');
	await rejectsWith(() => databases.updateDocument({ ...where, documentId: 'u',
		permissions: ['read(any)'] }), 400, 'general_argument_invalid');
});

test('update: X-Appwrite-Timestamp older than the document is 409 document_update_conflict',
	async () => {
		const where = await freshCollection('since');
		const created = await databases.createDocument({ ...where, documentId: 's',
			data: { v: 1 } });
		const stale = new Databases(adminClient().addHeader('X-Appwrite-Timestamp',
			new Date(Date.parse(created.$updatedAt) - 1000).toISOString()));
		await rejectsWith(() => stale.updateDocument({ ...where, documentId: 's', data: { v: 2 } }),
			409, 'document_update_conflict');
		await rejectsWith(() => stale.deleteDocument({ ...where, documentId: 's' }), 409,
			'document_update_conflict');
		const current = new Databases(adminClient().addHeader('X-Appwrite-Timestamp',
			created.$updatedAt));
		const updated = await current.updateDocument({ ...where, documentId: 's', data: { v: 3 } });
		assert.equal(updated.v, 3);
		const malformed = new Databases(adminClient().addHeader('X-Appwrite-Timestamp', 'yesterday'));
		await rejectsWith(() => malformed.updateDocument({ ...where, documentId: 's',
			data: { v: 4 } }), 400, 'general_argument_invalid');
	});

test('upsert: creates, then replaces the user fields', async () => {
	const where = await freshCollection('upsert');
	const created = await databases.upsertDocument({ ...where, documentId: 'p',
		data: { a: 1, b: 2 } });
	assertDocumentModel(created, where, 'p');
	assert.deepEqual(userFields(created), { a: 1, b: 2 });
	const replaced = await databases.upsertDocument({ ...where, documentId: 'p',
		data: { a: 3 }, permissions: [Permission.read(Role.any())] });
	assert.deepEqual(userFields(replaced), { a: 3 });
	assert.deepEqual(replaced.$permissions, ['read("any")']);
	assert.equal(replaced.$createdAt, created.$createdAt);
	assert.ok(replaced.$updatedAt > created.$updatedAt);
	assert.equal((await databases.getDocument({ ...where, documentId: 'p' })).a, 3);
});

test('delete: 204 resolves, then 404; create errors 409, 400 and 404', async () => {
	const where = await freshCollection('delete');
	await databases.createDocument({ ...where, documentId: 'x', data: { v: 1 } });
	await rejectsWith(() => databases.createDocument({ ...where, documentId: 'x',
		data: { v: 2 } }), 409, 'document_already_exists');
	const result = await databases.deleteDocument({ ...where, documentId: 'x' });
	// node-appwrite turns an empty non-JSON body into {message: ''}, as with real Appwrite.
	assert.deepEqual({ ...result }, { message: '' }, 'a 204 resolves with an empty body');
	await rejectsWith(() => databases.getDocument({ ...where, documentId: 'x' }), 404,
		'document_not_found');
	await rejectsWith(() => databases.deleteDocument({ ...where, documentId: 'x' }), 404,
		'document_not_found');
	// A deleted id can be created again.
	const again = await databases.createDocument({ ...where, documentId: 'x', data: { v: 3 } });
	assert.equal(again.v, 3);

	await rejectsWith(() => databases.createDocument({ ...where, documentId: '-bad',
		data: {} }), 400, 'general_argument_invalid');
	await rejectsWith(() => databases.createDocument({ ...where, documentId: 'y',
		data: 'not an object' }), 400, 'document_invalid_structure');
	await rejectsWith(() => databases.createDocument({ ...where, documentId: 'y',
		data: { big: 'x'.repeat(1024 * 1024 + 1) } }), 400, 'document_invalid_structure');
	await rejectsWith(() => databases.createDocument({ ...where, collectionId: 'nope',
		documentId: 'y', data: {} }), 404, 'collection_not_found');
	await rejectsWith(() => databases.createDocument({ ...where, databaseId: 'nope',
		documentId: 'y', data: {} }), 404, 'database_not_found');
	await rejectsWith(() => databases.listDocuments({ ...where, collectionId: 'nope' }), 404,
		'collection_not_found');
});

test('bulk: createDocuments, upsertDocuments, updateDocuments, deleteDocuments', async () => {
	const where = await freshCollection('bulk');
	const created = await databases.createDocuments({ ...where, documents: [
		{ $id: 'b1', kind: 'x', n: 1 }, { $id: 'b2', kind: 'x', n: 2 }, { kind: 'y', n: 3 }] });
	assert.equal(created.total, 3);
	assert.deepEqual(created.documents.slice(0, 2).map((d) => d.$id), ['b1', 'b2']);
	created.documents.forEach((doc) => assertDocumentModel(doc, where, doc.$id));
	await rejectsWith(() => databases.createDocuments({ ...where, documents: [{ $id: 'b1' }] }),
		409, 'document_already_exists');

	const upserted = await databases.upsertDocuments({ ...where, documents: [
		{ $id: 'b1', kind: 'x', n: 10 }, { $id: 'b4', kind: 'z', n: 4 }] });
	assert.equal(upserted.total, 2);
	assert.equal((await databases.getDocument({ ...where, documentId: 'b1' })).n, 10);

	const updated = await databases.updateDocuments({ ...where, data: { seen: true },
		queries: [Query.equal('kind', 'x')] });
	assert.deepEqual(updated.documents.map((d) => d.$id).sort(), ['b1', 'b2']);
	assert.ok(updated.documents.every((d) => d.seen === true));

	const deleted = await databases.deleteDocuments({ ...where,
		queries: [Query.equal('kind', ['x', 'z'])] });
	assert.deepEqual(deleted.documents.map((d) => d.$id).sort(), ['b1', 'b2', 'b4']);
	const left = await databases.listDocuments({ ...where });
	assert.deepEqual(left.documents.map((d) => d.kind), ['y']);
});

test('the web SDK (appwrite 28) reads the same models and errors', async () => {
	const where = await freshCollection('web');
	const web = new webSdk.Databases(webKeyClient());
	const created = await web.createDocument({ ...where, documentId: webSdk.ID.unique(),
		data: { title: 'from the web' } });
	assertDocumentModel(created, where, created.$id);
	const listed = await web.listDocuments({ ...where,
		queries: [webSdk.Query.equal('title', 'from the web')] });
	assert.deepEqual(listed.documents.map((d) => d.$id), [created.$id]);
	const updated = await web.updateDocument({ ...where, documentId: created.$id,
		data: { title: 'changed' } });
	assert.equal(updated.title, 'changed');
	const upserted = await web.upsertDocument({ ...where, documentId: 'w2', data: { n: 1 } });
	assert.equal(upserted.n, 1);
	await web.deleteDocument({ ...where, documentId: created.$id });
	const error = await rejectsWith(() => web.getDocument({ ...where, documentId: created.$id }),
		404, 'document_not_found');
	assert.ok(error instanceof webSdk.AppwriteException);
});
