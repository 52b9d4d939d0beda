#!/usr/bin/env bash
# run.sh: the Appwrite SDK conformance suite. Installs the pinned npm packages (node-appwrite,
# appwrite, rxdb...) into a lockfile-keyed cache in the build directory, starts `cairn serve` on
# a free loopback port with a temporary data directory, runs the JS suites with node's test
# runner against it, and stops the server. Exits 77 (ctest SKIP_RETURN_CODE) only when the
# packages are not cached and npm cannot reach its registry.
#
# usage: run.sh CAIRN_BINARY BUILD_DIR [TEST_FILE...]
set -uo pipefail

cairn_bin=${1:?usage: run.sh CAIRN_BINARY BUILD_DIR [TEST_FILE...]}
build_dir=${2:?usage: run.sh CAIRN_BINARY BUILD_DIR [TEST_FILE...]}
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "sdk: '$tool' is not installed; run scripts/install-deps.sh" >&2
		exit 1
	fi
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	echo "sdk: Node.js >= 20 is needed (rxdb 17 and the SDKs); found $(node --version)" >&2
	exit 1
fi

# ---- packages: one install per lockfile, reused by every later run ---------------------
lock_hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
cache="$build_dir/sdk-node_modules/$lock_hash"
mkdir -p "$build_dir/sdk-node_modules"
exec 9>"$build_dir/sdk-node_modules/.lock" # one installer at a time per build directory
flock 9
if [ ! -f "$cache/.installed" ]; then
	# Ask the registry first: npm ci alone would retry an unreachable one for minutes.
	if ! timeout 30 npm ping --fetch-retries=0 >/dev/null 2>&1; then
		echo "SKIPPED: npm registry unreachable (npm ping failed); the Appwrite SDK" \
			"suite needs the packages in tests/sdk/package-lock.json" >&2
		exit 77
	fi
	mkdir -p "$cache"
	cp "$here/package.json" "$here/package-lock.json" "$cache/"
	echo "sdk: npm ci into $cache" >&2
	if ! (cd "$cache" && timeout 240 npm ci --no-audit --no-fund --loglevel=error \
		>"$cache/npm-ci.log" 2>&1); then
		echo "sdk: npm ci failed although the registry answered a ping:" >&2
		cat "$cache/npm-ci.log" >&2
		exit 1
	fi
	touch "$cache/.installed"
fi
flock -u 9

# The suites import bare package names, so they run from a directory whose node_modules is
# the cache (the source tree never gets a node_modules of its own).
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-sdk.XXXXXX")
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/suite"
cp "$here"/*.mjs "$here/package.json" "$work/suite/"
ln -s "$cache/node_modules" "$work/suite/node_modules"

# ---- the server ------------------------------------------------------------------------
project="sdk-project"
api_key="sdk-key-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$cairn_bin" serve --listen 127.0.0.1:0 --data "$work/data" --project "$project" \
	--api-key "$api_key" --port-file "$work/port" >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 200); do
	if [ -s "$work/port" ]; then
		port=$(cat "$work/port")
		break
	fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		break
	fi
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "sdk: cairn serve did not start; its log:" >&2
	cat "$work/server.log" >&2
	exit 1
fi

# ---- the suites ------------------------------------------------------------------------
if [ $# -eq 0 ]; then
	set -- databases.test.mjs documents.test.mjs account.test.mjs realtime.test.mjs \
		rxdb.test.mjs
fi
export CAIRN_SDK_ENDPOINT="http://127.0.0.1:$port/v1"
export CAIRN_SDK_PROJECT="$project"
export CAIRN_SDK_KEY="$api_key"
(cd "$work/suite" && timeout 150 node --test --test-concurrency=2 --test-timeout=60000 "$@")
suite_rc=$?

# ---- stop the server: a clean exit (and no sanitizer report) is part of passing --------
kill -TERM "$server_pid"
wait "$server_pid"
server_rc=$?
server_pid=""
if [ "$server_rc" -ne 0 ]; then
	echo "sdk: cairn serve exited with status $server_rc; its log:" >&2
	cat "$work/server.log" >&2
	exit 1
fi
if [ "$suite_rc" -ne 0 ]; then
	echo "sdk: the suites failed (status $suite_rc); the server's log:" >&2
	tail -n 50 "$work/server.log" >&2
fi
exit "$suite_rc"
