// realtime.test.mjs: the web SDK's realtime under Node (with the stand-ins of compat §2.6)
// against cairn's /v1/realtime, for each subscribe generation: appwrite 21.5.0 (channels in
// the URL), 24.2.0 (URL channels plus per-slot queries), 28.0.0 client.subscribe and its
// Realtime service (subscribe messages). Each sees create, update and delete events.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as web21 from 'appwrite-21';
import * as web24 from 'appwrite-24';
import { adminClient, webClient, freshCollection, eventually, installBrowserStandIns, TIMESTAMP,
	nodeSdk, webSdk } from './support.mjs';

installBrowserStandIns();
const { Databases, Permission, Role } = nodeSdk;
const admin = new Databases(adminClient());
const cleanups = [];
after(async () => {
	for (const cleanup of cleanups)
		await cleanup();
});

/** Collects events; `start(channel, onEvent)` subscribes and returns an async unsubscribe. */
async function exercise(label, start) {
	// Guests may read: the events reach a subscriber without a session under any permission
	// model the server applies.
	const where = await freshCollection('rt', [Permission.read(Role.any())]);
	const channel = `databases.${where.databaseId}.collections.${where.collectionId}.documents`;
	const events = [];
	const stop = await start(channel, (message) => events.push(message));
	cleanups.push(stop);

	// Whether the subscription is live yet is not observable from the SDK: write a warm-up
	// document until its event arrives, then only count what follows.
	let round = 0;
	await eventually(async () => {
		await admin.upsertDocument({ ...where, documentId: 'warm', data: { round: round++ } });
		await new Promise((resolve) => setTimeout(resolve, 100));
		return events.some((e) => e.payload?.$id === 'warm');
	}, `${label}: a first event`);
	const base = `databases.${where.databaseId}.collections.${where.collectionId}.documents.doc`;
	const seen = (action) => events.find((e) => e.events.includes(`${base}.${action}`));

	const created = await admin.createDocument({ ...where, documentId: 'doc',
		data: { title: 'one', n: 1 } });
	const onCreate = await eventually(() => seen('create'), `${label}: the create event`);
	assert.equal(onCreate.events[0], `${base}.create`, 'the fully specified event comes first');
	assert.ok(onCreate.events.includes('databases.*.collections.*.documents.*.create'));
	assert.ok(onCreate.channels.includes(channel));
	assert.ok(onCreate.channels.includes('documents'));
	assert.ok(onCreate.channels.includes(`${channel}.doc`));
	assert.match(onCreate.timestamp, TIMESTAMP);
	assert.equal(onCreate.payload.$id, 'doc');
	assert.equal(onCreate.payload.title, 'one');
	assert.equal(onCreate.payload.$updatedAt, created.$updatedAt);

	const updated = await admin.updateDocument({ ...where, documentId: 'doc',
		data: { title: 'two' } });
	const onUpdate = await eventually(() => seen('update'), `${label}: the update event`);
	assert.equal(onUpdate.payload.title, 'two');
	assert.equal(onUpdate.payload.n, 1);
	assert.equal(onUpdate.payload.$updatedAt, updated.$updatedAt);

	await admin.deleteDocument({ ...where, documentId: 'doc' });
	const onDelete = await eventually(() => seen('delete'), `${label}: the delete event`);
	assert.equal(onDelete.payload.$id, 'doc');
	assert.equal(onDelete.payload.$collectionId, where.collectionId);

	// Order follows the writes.
	const order = events.filter((e) => e.payload?.$id === 'doc').map((e) => e.events[0]);
	assert.deepEqual(order, [`${base}.create`, `${base}.update`, `${base}.delete`]);

	// Writes elsewhere do not reach this subscription.
	const other = await freshCollection('rtother', [Permission.read(Role.any())]);
	await admin.createDocument({ ...other, documentId: 'elsewhere', data: {} });
	await admin.createDocument({ ...where, documentId: 'marker', data: {} });
	await eventually(() => events.some((e) => e.payload?.$id === 'marker'), `${label}: marker`);
	assert.ok(!events.some((e) => e.payload?.$id === 'elsewhere'),
		'an event of another collection arrived');
	await stop();
	cleanups.pop();
}

test('appwrite 21.5.0: channels in the URL (client.subscribe)', async () => {
	await exercise('21.5.0', async (channel, onEvent) => {
		const unsubscribe = webClient(web21).subscribe(channel, onEvent);
		return async () => unsubscribe();
	});
});

test('appwrite 24.2.0: URL channels with per-slot queries (client.subscribe)', async () => {
	await exercise('24.2.0', async (channel, onEvent) => {
		const unsubscribe = webClient(web24).subscribe(channel, onEvent);
		return async () => unsubscribe();
	});
});

test('appwrite 28.0.0: subscribe messages (client.subscribe, as RxDB uses it)', async () => {
	await exercise('28.0.0 client.subscribe', async (channel, onEvent) => {
		const unsubscribe = webClient().subscribe(channel, onEvent);
		return async () => unsubscribe();
	});
});

test('appwrite 28.0.0: the Realtime service, routed by subscription id', async () => {
	const realtime = new webSdk.Realtime(webClient());
	await exercise('28.0.0 Realtime', async (channel, onEvent) => {
		const subscription = await realtime.subscribe(channel, onEvent);
		return async () => subscription.close();
	});
});

test('appwrite 28.0.0: action channels from the Channel helper get only that action',
	async () => {
		const where = await freshCollection('rtaction', [Permission.read(Role.any())]);
		const realtime = new webSdk.Realtime(webClient());
		const collection = webSdk.Channel.database(where.databaseId)
			.collection(where.collectionId);
		const updates = [];
		const all = [];
		const onlyUpdates = await realtime.subscribe(collection.document().update(),
			(message) => updates.push(message));
		const everything = await realtime.subscribe(collection.document(),
			(message) => all.push(message));
		cleanups.push(async () => { await onlyUpdates.close(); await everything.close(); });
		let round = 0;
		await eventually(async () => {
			await admin.upsertDocument({ ...where, documentId: 'warm', data: { round: round++ } });
			await new Promise((resolve) => setTimeout(resolve, 100));
			return updates.length > 0 && all.length > 0;
		}, 'the first events');
		// One write per published event: the server folds several writes to one document
		// between two publications into one event (docs/protocol.md, "Realtime").
		const freshEvents = () => all.filter((e) => e.payload.$id === 'fresh').length;
		await admin.createDocument({ ...where, documentId: 'fresh', data: { v: 1 } });
		await eventually(() => freshEvents() === 1, 'the create on the collection channel');
		await admin.updateDocument({ ...where, documentId: 'fresh', data: { v: 2 } });
		await eventually(() => freshEvents() === 2, 'the update on the collection channel');
		await admin.deleteDocument({ ...where, documentId: 'fresh' });
		await eventually(() => freshEvents() === 3, 'the delete on the collection channel');
		await eventually(() => updates.some((e) => e.payload.$id === 'fresh'), 'the update');
		const fresh = updates.filter((e) => e.payload.$id === 'fresh');
		assert.equal(fresh.length, 1, 'only the update reached the .update channel');
		assert.ok(fresh[0].events[0].endsWith('.fresh.update'));
	});

test('appwrite 28.0.0: subscription queries filter events, update() changes them',
	async () => {
		const where = await freshCollection('rtquery', [Permission.read(Role.any())]);
		const channel = `databases.${where.databaseId}.collections.${where.collectionId}.documents`;
		const realtime = new webSdk.Realtime(webClient());
		const got = [];
		const subscription = await realtime.subscribe(channel, (message) => got.push(message),
			[webSdk.Query.equal('kind', 'hot')]);
		cleanups.push(() => subscription.close());
		let round = 0;
		const warmUntilSeen = (kind) => eventually(async () => {
			const id = `${kind}${round++}`;
			await admin.createDocument({ ...where, documentId: id, data: { kind } });
			await new Promise((resolve) => setTimeout(resolve, 100));
			return got.some((e) => e.payload.$id === id);
		}, `an event for kind ${kind}`);
		await warmUntilSeen('hot');
		await admin.createDocument({ ...where, documentId: 'cold-before', data: { kind: 'cold' } });
		await admin.createDocument({ ...where, documentId: 'hot-marker', data: { kind: 'hot' } });
		await eventually(() => got.some((e) => e.payload.$id === 'hot-marker'), 'the hot marker');
		assert.ok(!got.some((e) => e.payload.$id === 'cold-before'),
			'a document outside the queries was sent');

		await subscription.update({ queries: [webSdk.Query.equal('kind', 'cold')] });
		await warmUntilSeen('cold');
		await admin.createDocument({ ...where, documentId: 'hot-after', data: { kind: 'hot' } });
		await admin.createDocument({ ...where, documentId: 'cold-marker', data: { kind: 'cold' } });
		await eventually(() => got.some((e) => e.payload.$id === 'cold-marker'), 'the cold marker');
		assert.ok(!got.some((e) => e.payload.$id === 'hot-after'),
			'the old queries still applied after update()');
		await subscription.close();
		cleanups.pop();
	});

test('appwrite 24.2.0: two query slots on one socket, each gets its own events', async () => {
	const where = await freshCollection('rtslots', [Permission.read(Role.any())]);
	const channel = `databases.${where.databaseId}.collections.${where.collectionId}.documents`;
	const client = webClient(web24);
	const hot = [];
	const cold = [];
	const stopHot = client.subscribe(channel, (m) => hot.push(m), [web24.Query.equal('kind', 'hot')]);
	const stopCold = client.subscribe(channel, (m) => cold.push(m),
		[web24.Query.equal('kind', 'cold')]);
	cleanups.push(async () => { stopHot(); stopCold(); });
	let round = 0;
	await eventually(async () => {
		await admin.createDocument({ ...where, documentId: `h${round}`, data: { kind: 'hot' } });
		await admin.createDocument({ ...where, documentId: `c${round}`, data: { kind: 'cold' } });
		round++;
		await new Promise((resolve) => setTimeout(resolve, 100));
		return hot.length > 0 && cold.length > 0;
	}, 'events on both slots');
	await admin.createDocument({ ...where, documentId: 'hot-last', data: { kind: 'hot' } });
	await admin.createDocument({ ...where, documentId: 'cold-last', data: { kind: 'cold' } });
	await eventually(() => hot.some((e) => e.payload.$id === 'hot-last') &&
		cold.some((e) => e.payload.$id === 'cold-last'), 'the last events');
	assert.ok(hot.every((e) => e.payload.kind === 'hot'), 'a cold event reached the hot slot');
	assert.ok(cold.every((e) => e.payload.kind === 'cold'), 'a hot event reached the cold slot');
	stopHot();
	stopCold();
	cleanups.pop();
});
