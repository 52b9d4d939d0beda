// databases.test.mjs: node-appwrite's Databases service (databases and collections), ping,
// and the errors every route shares (401, 404 project/route), against a real cairn server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, guestNodeClient, endpoint, project, freshId, rejectsWith, TIMESTAMP,
	nodeSdk } from './support.mjs';

const { Databases, ID, Query, Permission, Role, Client } = nodeSdk;

function assertDatabaseModel(model, id, name) {
	assert.equal(model.$id, id);
	assert.equal(model.name, name);
	assert.match(model.$createdAt, TIMESTAMP);
	assert.match(model.$updatedAt, TIMESTAMP);
	assert.equal(model.enabled, true);
	assert.equal(model.type, 'legacy');
}

test('ping answers Pong! through client.ping()', async () => {
	const result = await adminClient().ping();
	// A text/plain body becomes {message}; the SDK returns it as is.
	assert.equal(typeof result === 'string' ? result : result.message, 'Pong!');
});

test('databases: create with a chosen id and ID.unique(), get, list, update, delete', async () => {
	const databases = new Databases(adminClient());
	const chosen = freshId('db');
	const created = await databases.create({ databaseId: chosen, name: 'Chosen' });
	assertDatabaseModel(created, chosen, 'Chosen');
	assert.equal(created.$createdAt, created.$updatedAt);

	const generated = await databases.create({ databaseId: ID.unique(), name: 'Generated' });
	assert.match(generated.$id, /^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/);
	assert.notEqual(generated.$id, 'unique()');

	assertDatabaseModel(await databases.get({ databaseId: chosen }), chosen, 'Chosen');

	const listed = await databases.list({ queries: [Query.equal('$id', [chosen, generated.$id]),
		Query.orderAsc('name')] });
	assert.equal(listed.total, 2);
	assert.deepEqual(listed.databases.map((d) => d.name), ['Chosen', 'Generated']);
	const searched = await databases.list({ search: chosen });
	assert.deepEqual(searched.databases.map((d) => d.$id), [chosen]);
	const limited = await databases.list({ queries: [Query.equal('$id', [chosen, generated.$id]),
		Query.limit(1)], total: false });
	assert.equal(limited.databases.length, 1);
	assert.equal(limited.total, 0, 'total=false gives 0');

	const renamed = await databases.update({ databaseId: chosen, name: 'Renamed' });
	assertDatabaseModel(renamed, chosen, 'Renamed');
	assert.ok(Date.parse(renamed.$updatedAt) >= Date.parse(created.$updatedAt));

	// 204 with no JSON content-type: the SDK must resolve, not throw a SyntaxError.
	await databases.delete({ databaseId: chosen });
	await databases.delete({ databaseId: generated.$id });
	await rejectsWith(() => databases.get({ databaseId: chosen }), 404, 'database_not_found');
});

test('databases: 409 on a taken id, 400 on a bad id or name, 404 when missing', async () => {
	const databases = new Databases(adminClient());
	const id = freshId('dup');
	await databases.create({ databaseId: id, name: 'One' });
	await rejectsWith(() => databases.create({ databaseId: id, name: 'Two' }), 409,
		'database_already_exists');
	await rejectsWith(() => databases.create({ databaseId: '_starts-badly', name: 'x' }), 400,
		'general_argument_invalid');
	await rejectsWith(() => databases.create({ databaseId: 'x'.repeat(37), name: 'x' }), 400,
		'general_argument_invalid');
	await rejectsWith(() => databases.create({ databaseId: freshId('n'), name: '' }), 400,
		'general_argument_invalid');
	await rejectsWith(() => databases.update({ databaseId: freshId('none'), name: 'x' }), 404,
		'database_not_found');
	await rejectsWith(() => databases.delete({ databaseId: freshId('none') }), 404,
		'database_not_found');
	await rejectsWith(() => databases.list({ queries: ['{"method":"nope"}'] }), 400,
		'general_query_invalid');
	// The SDK's own argument check: code 0, before any request.
	await assert.rejects(async () => databases.get({}), (error) => error.name === 'AppwriteException' &&
		error.code === 0);
});

test('collections: create, get, list, update, delete and the Collection model', async () => {
	const databases = new Databases(adminClient());
	const databaseId = freshId('col');
	await databases.create({ databaseId, name: 'Collections' });
	const permissions = [Permission.read(Role.any()), Permission.create(Role.users()),
		Permission.update(Role.user('u1')), Permission.delete(Role.team('t1', 'owner'))];
	const created = await databases.createCollection({ databaseId, collectionId: 'items',
		name: 'Items', permissions, documentSecurity: true });
	assert.equal(created.$id, 'items');
	assert.equal(created.databaseId, databaseId);
	assert.equal(created.name, 'Items');
	assert.equal(created.enabled, true);
	assert.equal(created.documentSecurity, true);
	assert.deepEqual(created.$permissions, permissions);
	assert.match(created.$createdAt, TIMESTAMP);
	assert.match(created.$updatedAt, TIMESTAMP);
	assert.ok(Array.isArray(created.attributes) && Array.isArray(created.indexes));

	const generated = await databases.createCollection({ databaseId, collectionId: ID.unique(),
		name: 'Other' });
	assert.deepEqual(generated.$permissions, []);
	assert.equal(generated.documentSecurity, false);

	const got = await databases.getCollection({ databaseId, collectionId: 'items' });
	assert.deepEqual(got, created);
	const listed = await databases.listCollections({ databaseId,
		queries: [Query.orderDesc('name')] });
	assert.equal(listed.total, 2);
	assert.deepEqual(listed.collections.map((c) => c.name), ['Other', 'Items']);
	const searched = await databases.listCollections({ databaseId, search: 'Oth' });
	assert.deepEqual(searched.collections.map((c) => c.$id), [generated.$id]);

	const updated = await databases.updateCollection({ databaseId, collectionId: 'items',
		name: 'Renamed', permissions: [Permission.read(Role.any())], documentSecurity: false,
		enabled: false });
	assert.equal(updated.name, 'Renamed');
	assert.deepEqual(updated.$permissions, ['read("any")']);
	assert.equal(updated.documentSecurity, false);
	assert.equal(updated.enabled, false);

	await rejectsWith(() => databases.createCollection({ databaseId, collectionId: 'items',
		name: 'Again' }), 409, 'collection_already_exists');
	await rejectsWith(() => databases.createCollection({ databaseId, collectionId: 'bad perms',
		name: 'x' }), 400, 'general_argument_invalid');
	await rejectsWith(() => databases.createCollection({ databaseId, collectionId: 'p',
		name: 'x', permissions: ['read(any)'] }), 400, 'general_argument_invalid');
	await rejectsWith(() => databases.createCollection({ databaseId: freshId('none'),
		collectionId: 'c', name: 'x' }), 404, 'database_not_found');

	await databases.deleteCollection({ databaseId, collectionId: 'items' });
	await rejectsWith(() => databases.getCollection({ databaseId, collectionId: 'items' }), 404,
		'collection_not_found');
	await rejectsWith(() => databases.deleteCollection({ databaseId, collectionId: 'items' }), 404,
		'collection_not_found');
	await databases.delete({ databaseId });
});

test('auth errors: no key, a wrong key, a wrong project, an unknown route', async () => {
	await rejectsWith(() => new Databases(guestNodeClient()).list(), 401,
		'general_unauthorized_scope');
	const wrongKey = new Client().setEndpoint(endpoint).setProject(project).setKey('not-the-key');
	await rejectsWith(() => new Databases(wrongKey).list(), 401, 'general_unauthorized_scope');
	const wrongProject = new Client().setEndpoint(endpoint).setProject('other')
		.setKey(process.env.CAIRN_SDK_KEY);
	await rejectsWith(() => new Databases(wrongProject).list(), 404, 'project_not_found');
	await rejectsWith(() => wrongProject.ping(), 404, 'project_not_found');
	// The SDKs send X-Appwrite-Project even when it was never set (an empty string).
	const noProject = new Client().setEndpoint(endpoint).setKey(process.env.CAIRN_SDK_KEY);
	await rejectsWith(() => new Databases(noProject).list(), 404, 'project_not_found');
	const client = adminClient();
	await rejectsWith(() => client.call('get', new URL(endpoint + '/no/such/route'),
		{ 'X-Appwrite-Project': project }), 404, 'general_route_not_found');
});

test('what a browser needs: CORS preflight, echoed origin with credentials, no warnings',
	async () => {
		const origin = 'http://app.example';
		const preflight = await fetch(`${endpoint}/databases/x/collections/y/documents`, {
			method: 'OPTIONS',
			headers: { origin, 'access-control-request-method': 'PATCH',
				'access-control-request-headers': 'x-appwrite-project,x-fallback-cookies,'
					+ 'content-type,x-sdk-version,x-appwrite-response-format' },
		});
		assert.ok(preflight.status === 204 || preflight.status === 200, `${preflight.status}`);
		assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
		assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
		assert.match(preflight.headers.get('access-control-allow-methods'), /PATCH/);
		const allowed = preflight.headers.get('access-control-allow-headers').toLowerCase();
		for (const header of ['x-appwrite-project', 'x-fallback-cookies', 'content-type',
			'x-sdk-version', 'x-appwrite-response-format'])
			assert.ok(allowed.includes(header), `${header} is not allowed`);

		// The web SDK's response format (2.3.0) is newer than the version we claim: Appwrite
		// would warn on every call (compat §2.5); cairn does not.
		const response = await fetch(`${endpoint}/ping`, { headers: { origin,
			'x-appwrite-project': project, 'x-appwrite-response-format': '2.3.0' } });
		assert.equal(response.status, 200);
		assert.equal(await response.text(), 'Pong!');
		assert.equal(response.headers.get('access-control-allow-origin'), origin);
		assert.equal(response.headers.get('x-appwrite-warning'), null);
		assert.match(response.headers.get('access-control-expose-headers'), /X-Fallback-Cookies/i);
	});
