// support.mjs: what every SDK suite shares: the server run.sh started (endpoint, project,
// API key), SDK clients pointed at it, fresh database names, the browser stand-ins the web
// SDK's realtime needs under Node (appwrite-compat.md §2.6), and a bounded wait.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as nodeSdk from 'node-appwrite';
import * as webSdk from 'appwrite';
import WebSocket from 'ws';

export const endpoint = process.env.CAIRN_SDK_ENDPOINT;
export const project = process.env.CAIRN_SDK_PROJECT;
export const apiKey = process.env.CAIRN_SDK_KEY;
if (!endpoint || !project || !apiKey)
	throw new Error('run these suites through tests/sdk/run.sh (CAIRN_SDK_* unset)');

// Appwrite's timestamp format: UTC, exactly 3 fractional digits, "+00:00" (compat §3.1).
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$/;

/** node-appwrite (the server SDK) with the API key: admin work. */
export function adminClient() {
	return new nodeSdk.Client().setEndpoint(endpoint).setProject(project).setKey(apiKey);
}

/** node-appwrite with no credentials at all (a guest). */
export function guestNodeClient() {
	return new nodeSdk.Client().setEndpoint(endpoint).setProject(project);
}

/** The web SDK (`appwrite`, or an older build passed as `sdk`) with no credentials. */
export function webClient(sdk = webSdk) {
	return new sdk.Client().setEndpoint(endpoint).setProject(project);
}

/** The web SDK carrying the API key. The web SDK has no setKey() and an app never ships a
 * key; the suites use this only where they test the web SDK's parsing of models and errors
 * apart from permissions, and for RxDB on a server without account routes. */
export function webKeyClient(sdk = webSdk) {
	const client = webClient(sdk);
	client.headers['X-Appwrite-Key'] = apiKey;
	return client;
}

/** A fresh, valid Appwrite id with a readable prefix. */
export function freshId(prefix) {
	return `${prefix}${randomBytes(6).toString('hex')}`.slice(0, 36);
}

/** Creates a database and a collection (permissions as given) and returns their ids. */
export async function freshCollection(prefix, permissions = [], documentSecurity = false) {
	const databases = new nodeSdk.Databases(adminClient());
	const databaseId = freshId(prefix);
	const collectionId = 'items';
	await databases.create({ databaseId, name: `${prefix} tests` });
	await databases.createCollection({ databaseId, collectionId, name: 'Items', permissions,
		documentSecurity });
	return { databaseId, collectionId };
}

/** Runs `call` and asserts it throws the SDK's AppwriteException with `code` and `type`. */
export async function rejectsWith(call, code, type) {
	let caught;
	try {
		await call();
	} catch (error) {
		caught = error;
	}
	assert.ok(caught, `expected an AppwriteException ${code} ${type}, but the call succeeded`);
	assert.equal(caught.name, 'AppwriteException', `not an AppwriteException: ${caught.stack}`);
	assert.equal(caught.code, code, `code for ${type}: ${caught.message}`);
	assert.equal(caught.type, type, `type (${caught.message})`);
	assert.ok(caught.message.length > 0, 'the exception carries a message');
	const body = JSON.parse(caught.response);
	assert.equal(body.code, code, 'the body code equals the HTTP status');
	assert.equal(body.type, type);
	assert.equal(typeof body.version, 'string');
	return caught;
}

/** Waits until `probe()` returns a truthy value (returned), polling; fails after `ms`. */
export async function eventually(probe, what, ms = 15000) {
	const deadline = Date.now() + ms;
	let last;
	for (;;) {
		try {
			last = await probe();
			if (last)
				return last;
		} catch (error) {
			last = error;
		}
		if (Date.now() > deadline)
			assert.fail(`timed out waiting for ${what}; last: ${last?.stack ?? JSON.stringify(last)}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** Whether the server has a route (anything but 404 general_route_not_found). */
export async function hasRoute(method, path, body) {
	const response = await fetch(endpoint + path, {
		method,
		headers: { 'content-type': 'application/json', 'x-appwrite-project': project },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	if (response.status !== 404)
		return true;
	const text = await response.text();
	return !text.includes('general_route_not_found');
}

/** The stand-ins the web SDK needs for realtime under Node 20 (compat §2.6): a `window`, a
 * global WebSocket (the `ws` package) and a localStorage. `window` is the global object
 * except for its timers, which do not keep the process alive: older SDKs never stop their
 * 20 s heartbeat, and the test process must end when its sockets are closed. */
export function installBrowserStandIns() {
	if (globalThis.window)
		return;
	const items = new Map();
	const unref = (timer) => { timer?.unref?.(); return timer; };
	globalThis.window = new Proxy(globalThis, {
		get(target, key) {
			if (key === 'setTimeout' || key === 'setInterval')
				return (...args) => unref(target[key](...args));
			return Reflect.get(target, key);
		},
	});
	globalThis.WebSocket = WebSocket;
	globalThis.localStorage = {
		getItem: (key) => (items.has(key) ? items.get(key) : null),
		setItem: (key, value) => { items.set(key, String(value)); },
		removeItem: (key) => { items.delete(key); },
		clear: () => { items.clear(); },
		key: (index) => [...items.keys()][index] ?? null,
		get length() { return items.size; },
	};
}

export { nodeSdk, webSdk };
