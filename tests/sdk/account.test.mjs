// account.test.mjs: sign-up and email/password sessions through node-appwrite (server-side
// rendering: a key-made session secret, then setSession) and the web SDK (the browser path:
// X-Fallback-Cookies kept in localStorage), and document permissions and realtime as signed-in
// users see them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, guestNodeClient, webClient, freshCollection, freshId, rejectsWith,
	eventually, hasRoute, installBrowserStandIns, project, TIMESTAMP, nodeSdk,
	webSdk } from './support.mjs';

installBrowserStandIns();
const { Account, Databases, ID, Permission, Role, Query } = nodeSdk;
let skip = false;
before(async () => {
	if (!(await hasRoute('POST', '/account', {}))) {
		skip = 'this server has no account routes (POST /v1/account answers '
			+ 'general_route_not_found)';
	}
});

const password = 'correct horse battery';

/** Signs a user up with a guest node-appwrite client and returns {user, email}. */
async function signUp(name) {
	const email = `${freshId(name)}@example.com`;
	const user = await new Account(guestNodeClient()).create({ userId: ID.unique(), email,
		password, name });
	return { user, email };
}

/** A node-appwrite client acting as that user: the key mints the session secret (SSR). */
async function sessionClient(email) {
	const session = await new Account(adminClient()).createEmailPasswordSession({ email,
		password });
	assert.ok(session.secret.length > 0, 'a key caller gets the session secret');
	return { client: guestNodeClient().setSession(session.secret), session };
}

test('sign-up: the User model, 409 for a taken email, 400 for a short password', async (t) => {
	if (skip)
		return t.skip(skip);
	const { user, email } = await signUp('signup');
	assert.match(user.$id, /^[0-9a-f]{20}$/);
	assert.equal(user.email, email);
	assert.equal(user.name, 'signup');
	assert.equal(user.status, true);
	assert.match(user.$createdAt, TIMESTAMP);
	assert.match(user.registration, TIMESTAMP);
	assert.deepEqual([...user.labels], []);
	assert.equal(user.emailVerification, false);
	assert.ok(!('password' in user), 'no password in the model');
	const account = new Account(guestNodeClient());
	await rejectsWith(() => account.create({ userId: ID.unique(), email, password }), 409,
		'user_already_exists');
	await rejectsWith(() => account.create({ userId: ID.unique(),
		email: `${freshId('short')}@example.com`, password: 'short' }), 400,
	'general_argument_invalid');
	await rejectsWith(() => account.create({ userId: ID.unique(), email: 'not-an-email',
		password }), 400, 'general_argument_invalid');
	await rejectsWith(() => account.get(), 401, 'general_unauthorized_scope');
});

test('node-appwrite sessions: secret, setSession, get, list, delete current', async (t) => {
	if (skip)
		return t.skip(skip);
	const { user, email } = await signUp('ssr');
	const { client, session } = await sessionClient(email);
	assert.equal(session.userId, user.$id);
	assert.equal(session.provider, 'email');
	assert.equal(session.current, true);
	assert.match(session.expire, TIMESTAMP);
	const account = new Account(client);
	const me = await account.get();
	assert.equal(me.$id, user.$id);
	assert.equal(me.email, email);
	const sessions = await account.listSessions();
	assert.equal(sessions.total, 1);
	assert.equal(sessions.sessions[0].$id, session.$id);
	assert.equal(sessions.sessions[0].secret, '', 'the secret is shown only once, to a key');
	assert.equal((await account.getSession({ sessionId: 'current' })).$id, session.$id);
	await rejectsWith(() => account.createEmailPasswordSession({ email, password }), 401,
		'user_session_already_exists');
	await account.deleteSession({ sessionId: 'current' });
	// The deleted session's token is refused. Appwrite treats an unknown session as a guest
	// (general_unauthorized_scope); cairn names the token (user_invalid_token): both 401.
	await assert.rejects(() => account.get(), (error) => error.code === 401);
	await rejectsWith(() => new Account(guestNodeClient()).createEmailPasswordSession({ email,
		password: 'wrong password!' }), 401, 'user_invalid_credentials');
});

test('web SDK sessions: X-Fallback-Cookies in localStorage, then get and log out',
	async (t) => {
		if (skip)
			return t.skip(skip);
		const { user, email } = await signUp('web');
		const account = new webSdk.Account(webClient());
		const session = await account.createEmailPasswordSession({ email, password });
		assert.equal(session.userId, user.$id);
		assert.equal(session.secret, '', 'no secret for a client without a key');
		const fallback = JSON.parse(localStorage.getItem('cookieFallback'));
		assert.ok(fallback[`a_session_${project}`], 'the SDK kept the fallback cookie');
		// A fresh client of the same "browser" sends the stored cookie by itself.
		const me = await new webSdk.Account(webClient()).get();
		assert.equal(me.$id, user.$id);
		await account.deleteSession({ sessionId: 'current' }); // 204: must not throw
		localStorage.removeItem('cookieFallback');
		await rejectsWith(() => account.get(), 401, 'general_unauthorized_scope');
	});

test('permissions: owners read their documents, others get 404, guests 401', async (t) => {
	if (skip)
		return t.skip(skip);
	const where = await freshCollection('perm', [Permission.create(Role.users())], true);
	const alice = await signUp('alice');
	const bob = await signUp('bob');
	const asAlice = new Databases((await sessionClient(alice.email)).client);
	const asBob = new Databases((await sessionClient(bob.email)).client);

	const mine = await asAlice.createDocument({ ...where, documentId: 'mine',
		data: { secret: 'a' } });
	assert.deepEqual([...mine.$permissions].sort(), [`delete("user:${alice.user.$id}")`,
		`read("user:${alice.user.$id}")`, `update("user:${alice.user.$id}")`],
	'a user creating without permissions gets read, update and delete for itself');
	const shared = await asAlice.createDocument({ ...where, documentId: 'shared',
		data: { secret: 'b' }, permissions: [Permission.read(Role.users())] });
	assert.equal((await asAlice.getDocument({ ...where, documentId: 'mine' })).secret, 'a');
	await rejectsWith(() => asBob.getDocument({ ...where, documentId: 'mine' }), 404,
		'document_not_found');
	assert.equal((await asBob.getDocument({ ...where, documentId: 'shared' })).$id, shared.$id);
	const bobSees = await asBob.listDocuments({ ...where, queries: [Query.orderAsc('$id')] });
	assert.deepEqual(bobSees.documents.map((d) => d.$id), ['shared']);
	await rejectsWith(() => asBob.updateDocument({ ...where, documentId: 'shared',
		data: { secret: 'c' } }), 401, 'user_unauthorized');
	await rejectsWith(() => asBob.createDocument({ ...where, documentId: 'forged',
		data: {}, permissions: [Permission.read(Role.user(alice.user.$id))] }), 401,
	'user_unauthorized');
	const guest = new Databases(guestNodeClient());
	await rejectsWith(() => guest.createDocument({ ...where, documentId: 'g', data: {} }), 401,
		'user_unauthorized');
	await rejectsWith(() => asBob.createDocuments({ ...where, documents: [{ $id: 'bulk' }] }),
		401, 'general_unauthorized_scope');
	// The key still sees everything.
	const all = await new Databases(adminClient()).listDocuments({ ...where });
	assert.equal(all.total, 2);
});

test('realtime: an authenticated subscriber gets events only for what it may read',
	async (t) => {
		if (skip)
			return t.skip(skip);
		const where = await freshCollection('rtperm', [Permission.create(Role.users())], true);
		const alice = await signUp('rtalice');
		const bob = await signUp('rtbob');
		const aliceSession = await sessionClient(alice.email);
		const asAlice = new Databases(aliceSession.client);
		const bobSession = (await sessionClient(bob.email)).session;
		const channel = `databases.${where.databaseId}.collections.${where.collectionId}.documents`;
		const seenByBob = [];
		const realtime = new webSdk.Realtime(webClient().setSession(bobSession.secret));
		const subscription = await realtime.subscribe(channel, (e) => seenByBob.push(e));
		try {
			// Documents Bob may read, until one reaches him: then he is authenticated.
			let round = 0;
			await eventually(async () => {
				await asAlice.upsertDocument({ ...where, documentId: 'open',
					data: { round: round++ }, permissions: [Permission.read(Role.users()),
						Permission.update(Role.user(alice.user.$id))] });
				await new Promise((resolve) => setTimeout(resolve, 100));
				return seenByBob.length > 0;
			}, 'an event for a document Bob may read');
			await asAlice.createDocument({ ...where, documentId: 'private', data: { v: 1 } });
			// Only a key may grant a role it does not hold (Alice cannot name Bob).
			await new Databases(adminClient()).createDocument({ ...where, documentId: 'after',
				data: { v: 2 }, permissions: [Permission.read(Role.user(bob.user.$id))] });
			await eventually(() => seenByBob.some((e) => e.payload.$id === 'after'),
				'the event of a document shared with Bob');
			assert.ok(!seenByBob.some((e) => e.payload.$id === 'private'),
				'Bob received an event for a document he may not read');
		} finally {
			await subscription.close();
		}
	});

test('guests: the web SDK without a session works within the collection\'s permissions',
	async () => {
		const where = await freshCollection('guest', [Permission.read(Role.any()),
			Permission.create(Role.guests())]);
		const web = new webSdk.Databases(webClient());
		localStorage.removeItem('cookieFallback'); // no session in this "browser"
		const created = await web.createDocument({ ...where, documentId: 'g1',
			data: { note: 'from a guest' } });
		assert.deepEqual([...created.$permissions], [], 'a guest\'s document gets no permissions');
		const listed = await web.listDocuments({ ...where });
		assert.deepEqual(listed.documents.map((d) => d.$id), ['g1']);
		await rejectsWith(() => web.updateDocument({ ...where, documentId: 'g1',
			data: { note: 'changed' } }), 401, 'user_unauthorized');
		await rejectsWith(() => web.deleteDocument({ ...where, documentId: 'g1' }), 401,
			'user_unauthorized');
		await rejectsWith(() => web.createDocument({ ...where, documentId: 'g2', data: {},
			permissions: [Permission.read(Role.users())] }), 401, 'user_unauthorized');
		const closed = await freshCollection('closed');
		await rejectsWith(() => web.listDocuments({ ...closed }), 401, 'user_unauthorized');
	});
