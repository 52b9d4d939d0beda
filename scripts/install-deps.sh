#!/usr/bin/env bash
# Installs the Debian 12 packages cairn builds and tests with, when they are missing.
# Idempotent: installs nothing (and does not touch apt) when everything is present.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libsqlite3-dev     # both stores
	libjson-c-dev      # JSON with exact 64-bit integers
	libcurl4-openssl-dev # client HTTP
	libwebsockets-dev  # server HTTP (+ WebSocket later)
	libcmocka-dev      # unit tests
	curl               # used by scripts to probe a running server
	libpq-dev          # the PostgreSQL storage backend (libpq)
	postgresql-15      # the tests start their own PostgreSQL (initdb, pg_ctl)
	libsodium-dev      # server accounts: argon2id password hashes, session secrets
	libssl-dev         # serve --tls-cert: OpenSSL (libcrypto) checks the PEM files
	openssl            # the TLS tests make their own CA and certificates
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

# The Appwrite SDK suite (tests/sdk) needs Node.js >= 20 and npm. A machine that already has
# a node (such as NodeSource's, which bundles npm) keeps it: Debian's packages are only the
# fallback when there is none.
if ! command -v node >/dev/null 2>&1; then
	missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done" >&2
