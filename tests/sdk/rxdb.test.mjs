// rxdb.test.mjs: RxDB 17's replicateAppwrite (in-memory storage) syncing two ways with a real
// cairn server: local inserts, edits and deletes reach the server; server creates, edits and
// soft deletes reach RxDB by pull and by realtime; no local edit is lost to a spurious
// conflict (compat §9.3); a push of 100 updates goes through (§9.4).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRxDatabase, addRxPlugin } from 'rxdb';
import { getRxStorageMemory } from 'rxdb/plugins/storage-memory';
import { replicateAppwrite } from 'rxdb/plugins/replication-appwrite';
import { RxDBDevModePlugin, disableWarnings } from 'rxdb/plugins/dev-mode';
import { wrappedValidateAjvStorage } from 'rxdb/plugins/validate-ajv';
import { defaultConflictHandler } from 'rxdb/plugins/core';
import { adminClient, webClient, webKeyClient, freshCollection, freshId, eventually,
	hasRoute, installBrowserStandIns, nodeSdk, webSdk } from './support.mjs';

installBrowserStandIns();
disableWarnings();
addRxPlugin(RxDBDevModePlugin);
const { Databases, Query, Permission, Role } = nodeSdk;
const admin = new Databases(adminClient());
const closers = [];

// RxDB runs as a signed-in user of the web SDK, as in a browser: the session comes from
// createEmailPasswordSession and travels as the X-Fallback-Cookies the SDK keeps in
// localStorage, on REST calls and in realtime's `authentication`. Collections grant that user
// read, create and update. Without account routes on the server, the web client carries the
// API key instead.
let rxClient;
const rxPermissions = [Permission.read(Role.users()), Permission.create(Role.users()),
	Permission.update(Role.users())];
before(async () => {
	if (!(await hasRoute('POST', '/account', {}))) {
		console.log('# rxdb: no account routes on this server; RxDB uses the API key');
		rxClient = webKeyClient;
		return;
	}
	const account = new webSdk.Account(webClient());
	const email = `${freshId('rxdb')}@example.com`;
	const password = 'replicate me please';
	await account.create({ userId: webSdk.ID.unique(), email, password, name: 'RxDB' });
	await account.createEmailPasswordSession({ email, password });
	rxClient = webClient;
});

after(async () => {
	for (const close of closers.reverse())
		await close();
});

const heroSchema = {
	version: 0,
	primaryKey: 'id',
	type: 'object',
	properties: {
		id: { type: 'string', maxLength: 36 },
		name: { type: 'string' },
		age: { type: 'integer' },
		nick: { type: 'string' },      // optional: never set on most documents (§9.3)
		score: { type: 'number' },
		tags: { type: 'array', items: { type: 'string' } },
	},
	required: ['id', 'name'],
};

/** An RxDB database with one `heroes` collection replicating with a fresh server
 * collection. Counts the conflicts the Appwrite plugin detects on push. */
async function replicatedHeroes(label, options = {}) {
	const where = options.where ?? await freshCollection('rx', rxPermissions);
	const conflicts = [];
	const database = await createRxDatabase({
		name: freshId(`rx${label}`).toLowerCase(),
		storage: wrappedValidateAjvStorage({ storage: getRxStorageMemory() }),
		multiInstance: false,
	});
	closers.push(() => database.close());
	const { heroes } = await database.addCollections({
		heroes: {
			schema: heroSchema,
			conflictHandler: {
				isEqual(a, b, context) {
					const equal = defaultConflictHandler.isEqual(a, b, context);
					if (!equal && context === 'replication-appwrite-push')
						conflicts.push({ server: a, assumed: b });
					return equal;
				},
				resolve: defaultConflictHandler.resolve,
			},
		},
	});
	const client = rxClient();
	const replication = replicateAppwrite({
		replicationIdentifier: `cairn-${where.databaseId}-${label}`,
		client,
		databaseId: where.databaseId,
		collectionId: where.collectionId,
		deletedField: 'deleted',
		collection: heroes,
		pull: { batchSize: options.pullBatchSize ?? 10 },
		push: {},
		live: true,
		retryTime: 500,
		waitForLeadership: false,
	});
	const errors = [];
	replication.error$.subscribe((error) => errors.push(error));
	const received = new Set();
	replication.received$.subscribe((doc) => received.add(doc.id));
	closers.push(() => replication.cancel());
	await replication.awaitInitialReplication();
	// RxDB pulls once, then lives on realtime events and never re-pulls (compat §9.5), so a
	// server write made before its socket is subscribed would never reach it. Write a
	// soft-deleted marker until its event arrives: from then on the subscription is live.
	const marker = freshId('live');
	let round = 0;
	await eventually(async () => {
		await admin.upsertDocument({ ...where, documentId: marker,
			data: { name: 'marker', score: round++, deleted: true } });
		await new Promise((resolve) => setTimeout(resolve, 100));
		return received.has(marker);
	}, `${label}: the realtime subscription`);
	return { where, heroes, replication, conflicts, errors, client };
}

async function serverDoc(where, id) {
	try {
		return await admin.getDocument({ ...where, documentId: id });
	} catch (error) {
		if (error.code === 404)
			return null;
		throw error;
	}
}

test('RxDB: initial pull pages through existing server documents', async () => {
	const where = await freshCollection('rxpull', rxPermissions);
	await admin.createDocuments({ ...where, documents: Array.from({ length: 23 }, (_, i) => ({
		$id: `h${String(i).padStart(2, '0')}`, name: `hero ${i}`, age: i, deleted: false })) });
	await admin.createDocument({ ...where, documentId: 'gone',
		data: { name: 'gone', deleted: true } });
	const { heroes, errors } = await replicatedHeroes('pull', { where, pullBatchSize: 5 });
	const all = await heroes.find({ sort: [{ id: 'asc' }] }).exec();
	assert.equal(all.length, 23, 'every live document, across five pages');
	assert.equal(all[7].name, 'hero 7');
	assert.equal(all[7].age, 7);
	assert.equal(await heroes.findOne('gone').exec(), null, 'deleted: true arrives as deleted');
	assert.deepEqual(errors, []);
});

test('RxDB: local inserts, edits and deletes reach the server', async () => {
	const { where, heroes, conflicts, errors } = await replicatedHeroes('push');
	const doc = await heroes.insert({ id: 'batman', name: 'Bruce', age: 40, score: 1.5,
		tags: ['cape'] });
	const onServer = await eventually(() => serverDoc(where, 'batman'), 'the insert on the server');
	assert.equal(onServer.name, 'Bruce');
	assert.equal(onServer.age, 40);
	assert.equal(onServer.score, 1.5);
	assert.deepEqual([...onServer.tags], ['cape']);
	assert.equal(onServer.deleted, false);
	assert.ok(!('nick' in onServer), 'a field RxDB never set is not invented');

	await doc.incrementalPatch({ age: 41 });
	await eventually(async () => (await serverDoc(where, 'batman')).age === 41, 'the edit');
	await (await heroes.findOne('batman').exec()).incrementalPatch({ nick: 'Bat' });
	await eventually(async () => (await serverDoc(where, 'batman')).nick === 'Bat',
		'setting the optional field');

	await (await heroes.findOne('batman').exec()).remove();
	const removed = await eventually(async () => {
		const current = await serverDoc(where, 'batman');
		return current.deleted === true && current;
	}, 'the delete as deleted: true');
	assert.equal(removed.name, 'Bruce', 'a soft delete keeps the last fields');
	assert.equal(removed.age, 41);
	assert.deepEqual(conflicts, []);
	assert.deepEqual(errors, []);
});

test('RxDB: server creates, edits and soft deletes reach RxDB live (realtime)', async () => {
	const { where, heroes, errors } = await replicatedHeroes('live');
	await admin.createDocument({ ...where, documentId: 'robin',
		data: { name: 'Dick', age: 20, deleted: false } });
	const robin = await eventually(() => heroes.findOne('robin').exec(), 'the server create');
	assert.equal(robin.name, 'Dick');
	await admin.updateDocument({ ...where, documentId: 'robin', data: { age: 21 } });
	await eventually(async () => (await heroes.findOne('robin').exec())?.age === 21,
		'the server edit');
	await admin.updateDocument({ ...where, documentId: 'robin', data: { deleted: true } });
	await eventually(async () => (await heroes.findOne('robin').exec()) === null,
		'the server soft delete');
	assert.deepEqual(errors, []);
});

test('RxDB: a server write missed while realtime was down arrives by reSync() (pull)',
	async (t) => {
		const { where, heroes, replication, client, errors } = await replicatedHeroes('resync');
		const socket = client.realtime.socket;
		socket.close(); // the SDK reconnects on its own, after a second
		await eventually(() => socket.readyState === socket.CLOSED, 'the socket closed');
		await admin.createDocument({ ...where, documentId: 'missed',
			data: { name: 'missed', deleted: false } });
		await eventually(() => client.realtime.socket !== socket &&
			client.realtime.socket.readyState === socket.OPEN, 'the SDK reconnected');
		// Events are not replayed (compat §9.5): unless this write was slower than the SDK's
		// reconnect, RxDB has not seen it, and only a pull from its checkpoint brings it.
		if (await heroes.findOne('missed').exec())
			t.diagnostic('the write arrived live: it took longer than the reconnect');
		await replication.reSync();
		const missed = await eventually(() => heroes.findOne('missed').exec(),
			'the missed write after reSync()');
		assert.equal(missed.name, 'missed');
		assert.deepEqual(errors, []);
	});

test('RxDB: two RxDB databases converge through the server, no edit lost (§9.3)', async () => {
	const left = await replicatedHeroes('left');
	const right = await replicatedHeroes('right', { where: left.where });
	await left.heroes.insert({ id: 'joker', name: 'Joker', age: 1 });
	await eventually(() => right.heroes.findOne('joker').exec(), 'the insert on the right');
	// Several edits in a row, each pushed on top of what the server echoed back.
	for (let age = 2; age <= 6; age++) {
		const current = await left.heroes.findOne('joker').exec();
		await current.incrementalPatch({ age });
		await eventually(async () => (await serverDoc(left.where, 'joker')).age === age,
			`edit ${age} on the server`);
	}
	await eventually(async () => (await right.heroes.findOne('joker').exec())?.age === 6,
		'the last edit on the right');
	// And back the other way.
	await (await right.heroes.findOne('joker').exec()).incrementalPatch({ score: 0.25 });
	await eventually(async () => (await left.heroes.findOne('joker').exec())?.score === 0.25,
		'the right edit on the left');
	const server = await serverDoc(left.where, 'joker');
	assert.equal(server.age, 6);
	assert.equal(server.score, 0.25);
	assert.deepEqual(left.conflicts, [], 'a push saw the server copy differ from its master');
	assert.deepEqual(right.conflicts, []);
	assert.deepEqual([...left.errors, ...right.errors], []);
});

test('RxDB: one push of 100 updates (its lookup: no limit, one long or(), §9.4)',
	async () => {
		// 100 is RxDB's default push batch: say, edits made offline, pushed on reconnect. The
		// plugin reads them back with one or() of 100 equal("$id") queries and no limit.
		const { where, heroes, conflicts, errors } = await replicatedHeroes('many');
		const ids = Array.from({ length: 100 }, () => webSdk.ID.unique());
		await heroes.bulkInsert(ids.map((id) => ({ id, name: id, age: 0 })));
		await eventually(async () => (await admin.listDocuments({ ...where,
			queries: [Query.equal('age', 0), Query.limit(200)] })).total === 100,
		'the 100 inserts');
		await heroes.bulkUpsert(ids.map((id) => ({ id, name: id, age: 1 })));
		await eventually(async () => {
			assert.deepEqual(errors, [], 'the push failed');
			return (await admin.listDocuments({ ...where,
				queries: [Query.equal('age', 1), Query.limit(200)] })).total === 100;
		}, 'the 100 updates');
		assert.deepEqual(conflicts, []);
		assert.deepEqual(errors, []);
	});
