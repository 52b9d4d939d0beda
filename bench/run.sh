#!/usr/bin/env bash
# Runs cairn's benchmarks (never part of the test suite) and prints `metric NAME VALUE UNIT`.
# Usage: bench/run.sh [N=10000]   (default sizes: 10000 and 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="10000 100000"
for arg in "$@"; do
	case "$arg" in
		N=*) sizes="${arg#N=}" ;;
	esac
done
build=${BUILD:-build}
cmake --build "$build" --target cairn_cli cairn_bench -j"$(nproc)" >/dev/null
mkdir -p bench/results
out="bench/results/latest.txt"
: > "$out"
for n in $sizes; do
	"$build/cairn_bench" --cairn "$build/cairn" -n "$n" | tee -a "$out"
done
