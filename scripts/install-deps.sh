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
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

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
