#!/usr/bin/env bash
# Runs cairn's benchmarks (never part of the test suite) beside the peer (PouchDB) and the
# machine's limits, in one run, and writes bench/results/<date>.{txt,md}.
# Usage: bench/run.sh [N=10000] [BIG=1]   (default sizes: 10000 and 100000; BIG=1 adds 1000000)
# Env: BUILD (build dir, default build), PEERS=0 skips the peer, LIMITS=0 skips the limits,
#      CLIENTS (concurrent clients, default 4), PEER_HARNESS (default ../shared/bench),
#      BENCH_SCRATCH (where the harness is copied and run, default $BUILD/bench-peers).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sizes="10000 100000"
big=${BIG:-0}
for arg in "$@"; do
	case "$arg" in
		N=*) sizes="${arg#N=}" ;;
		BIG=*) big="${arg#BIG=}" ;;
	esac
done
[ "$big" = 1 ] && sizes="$sizes 1000000"
build=${BUILD:-build}
harness=${PEER_HARNESS:-$root/../shared/bench}
scratch=${BENCH_SCRATCH:-$root/$build/bench-peers}
clients=${CLIENTS:-4}
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)

cmake --build "$build" --target cairn_cli cairn_bench -j"$(nproc)" >/dev/null
mkdir -p bench/results
out="bench/results/$stamp.txt"
envfile="$build/bench-env.txt"
: > "$out"
{
	echo "date_utc $stamp"
	echo "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) x $(nproc)"
	echo "sizes $sizes; concurrent clients $clients"
} > "$envfile"
cat "$envfile"

# The harness writes node_modules/, tmp/ and results/ beside itself: run a scratch copy so
# nothing of it lands in the tree.
have_harness=0
if [ -d "$harness/peers" ] && { [ "${PEERS:-1}" = 1 ] || [ "${LIMITS:-1}" = 1 ]; }; then
	mkdir -p "$scratch"
	cp -r "$harness/peers" "$harness/limits" "$scratch/"
	have_harness=1
elif [ ! -d "$harness/peers" ]; then
	echo "# no peer harness at $harness; peer and limits skipped"
fi

# limits: raw SQLite on the same documents at each size, loopback TCP once; lines renamed
# limit.<what>
if [ "$have_harness" = 1 ] && [ "${LIMITS:-1}" = 1 ]; then
	echo "# limits"
	make -s -C "$scratch/limits" all
	mkdir -p "$scratch/limits/tmp"
	for n in $sizes; do
		rm -f "$scratch/limits/tmp/bench.sqlite"*
		timeout 600 "$scratch/limits/sqlite_bench" --db "$scratch/limits/tmp/bench.sqlite" \
			--n "$n" --single 20000 --time-limit 300 |
			sed -n 's/^metric /metric limit./p' | tee -a "$out" || echo "# sqlite limit failed"
		rm -f "$scratch/limits/tmp/bench.sqlite"*
	done
	timeout 60 "$scratch/limits/tcp_bench" --seconds 3 |
		sed -n 's/^metric /metric limit./p' | tee -a "$out" || echo "# tcp limit failed"
fi

# the peer, same sizes, one repetition, leveldb client and server; its lines as it prints them
if [ "$have_harness" = 1 ] && [ "${PEERS:-1}" = 1 ]; then
	echo "# peer: PouchDB + express-pouchdb (npm ci in $scratch/peers)"
	peer_out="$scratch/peers/results/$stamp"
	if (cd "$scratch/peers" && NS="$sizes" REPEATS=1 CLIENTS=leveldb SERVERS=leveldb \
		SKIP_LIMITS=1 INSTALL_DEB=0 IDLE_WAIT_MAX=10 OUTDIR="$peer_out" \
		bash run.sh > "$scratch/peers-$stamp.log" 2>&1); then
		:
	else
		echo "# the peer harness failed; see $scratch/peers-$stamp.log"
	fi
	cat "$peer_out"/*.r1.txt 2>/dev/null | grep '^metric ' | tee -a "$out" || true
fi

# cairn
for n in $sizes; do
	echo "# cairn N=$n"
	"$build/cairn_bench" --cairn "$build/cairn" -n "$n" -c "$clients" | tee -a "$out"
done

python3 bench/report.py "$out" "bench/results/$stamp.md" "$envfile"
cp "$out" bench/results/latest.txt
cp "bench/results/$stamp.md" bench/results/latest.md
echo "# report: bench/results/$stamp.md"
