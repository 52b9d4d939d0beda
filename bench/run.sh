#!/usr/bin/env bash
# Runs cairn's benchmarks (never part of the test suite) beside the peer (PouchDB) and the
# machine's limits, in one run, and writes bench/results/<date>.{txt,md}.
# Usage: bench/run.sh [N=10000] [BIG=1]   (default sizes: 10000 and 100000; BIG=1 adds 1000000)
# Env: BUILD (build dir, default build), PEERS=0 skips the peer, LIMITS=0 skips the limits,
#      CLIENTS (concurrent clients, default 4), PEER_HARNESS (default ../shared/bench),
#      BENCH_SCRATCH (where the harness is copied and run, default $BUILD/bench-peers),
#      CONNS (realtime connections held at once, default 10000),
#      PG=1 also runs push/pull/concurrent with the server on a private PostgreSQL 15
#      (initdb'd in $BENCH_SCRATCH/pg, default settings; lines renamed cairn_pg.*).
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

# the same sync workloads with the server on PostgreSQL (PG=1): a private server, one fresh
# database per cairn server the bench starts
if [ "${PG:-0}" = 1 ]; then
	pgbin=/usr/lib/postgresql/15/bin
	pgdir="$scratch/pg"
	as_pg=()
	[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
	rm -rf "$pgdir" && mkdir -p "$pgdir"
	[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
	pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 \
		--locale=C > "$pgdir/initdb.log" 2>&1
	"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -s \
		-o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=200" start
	for n in $sizes; do
		echo "# cairn on PostgreSQL N=$n"
		for db in cairn_push cairn_concurrent; do
			"${as_pg[@]}" "$pgbin/psql" -q -h 127.0.0.1 -p "$pgport" -U postgres \
				-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" postgres > /dev/null
		done
		for workload in pull concurrent; do # pull: push, pull, incremental, RSS
			"$build/cairn_bench" --cairn "$build/cairn" -n "$n" -c "$clients" \
				--only "$workload" --postgres "host=127.0.0.1 port=$pgport user=postgres" |
				sed 's/^metric cairn\./metric cairn_pg./' | tee -a "$out" ||
				echo "# pg $workload failed"
		done
	done
	"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w -s stop || true
fi

# realtime scale, once: K WebSocket connections, one write, every connection gets its event
echo "# cairn realtime connections"
"$build/cairn_bench" --cairn "$build/cairn" --only realtime_conns --conns "${CONNS:-10000}" |
	tee -a "$out" || echo "# realtime_conns failed"

# recovery, once: writes made while the server is down, time from server-up to in sync
echo "# cairn recovery"
"$build/cairn_bench" --cairn "$build/cairn" --only recovery | tee -a "$out" ||
	echo "# recovery failed"

python3 bench/report.py "$out" "bench/results/$stamp.md" "$envfile"
cp "$out" bench/results/latest.txt
cp "bench/results/$stamp.md" bench/results/latest.md
echo "# report: bench/results/$stamp.md"
