#!/usr/bin/env bash
# bench/all.sh: every performance figure the README's table shows, from one run, with each
# goal and whether this run met it.
#
# Runs, one after the other on the same build:
#   cargo bench --bench compare        synack against smoltcp on one harness (bulk, lifecycles,
#                                      idle connections, memory, lossy path)
#   bench/tun.sh                       over TUN against kernel veth; plain TUN against smoltcp
#   bench/memory.sh                    10,000 concurrent echo connections over TUN: peak memory
#   bench/shards.sh                    1 and 2 shards on a multi-queue TUN
#   bench/forward.sh, bench/api.sh     the library path (tun2socks through the socket APIs)
# then writes summary.md: one line per goal with the figure, the goal and met / not met.
# A script missing from this checkout is reported and skipped.
#
# Needs root (the TUN benches). Every script creates and deletes its own namespaces.
# Environment: OUT (where the logs and summary.md go; default target/bench-all-DATE), QUICK=1
# (every script at its shortest, to check that the whole run works: figures meaningless).
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "bench/all.sh: needs root (network namespaces and TUN devices)" >&2
    exit 2
fi
OUT=${OUT:-$PWD/target/bench-all-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
export RESULTS=$OUT/results.txt
: >"$RESULTS"
QUICK=${QUICK:-0}

echo "bench/all.sh: logs and summary in $OUT"
cargo build --release --quiet --bin synack --examples
{
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"
    echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"

# Runs step $1 (a name for its log) with the rest as the command; a failing step is reported
# and the run goes on, so one broken bench does not hide the others' figures.
FAILED_STEPS=()
step() {
    local name=$1
    shift
    echo "== $name: $*"
    # Each script keeps its own logs in a folder of its own (several name theirs alike).
    mkdir -p "$OUT/logs/$name"
    if OUT="$OUT/logs/$name" "$@" >"$OUT/$name.txt" 2>&1; then
        tail -n 40 "$OUT/$name.txt"
    else
        echo "bench/all.sh: $name failed; its log: $OUT/$name.txt" >&2
        tail -n 20 "$OUT/$name.txt" >&2
        FAILED_STEPS+=("$name")
    fi
}

if [ "$QUICK" = 1 ]; then
    step compare cargo bench --locked --bench compare -- --quick
    step tun env DURATION=1 bash bench/tun.sh
else
    step compare cargo bench --locked --bench compare
    step tun env DURATION=5 RUNS=3 bash bench/tun.sh
fi
cp target/compare.json "$OUT/compare.json" 2>/dev/null || true
if [ -f bench/memory.sh ]; then
    if [ "$QUICK" = 1 ]; then step memory env CONNS=500 bash bench/memory.sh
    else step memory bash bench/memory.sh; fi
else
    echo "== memory: bench/memory.sh is not in this checkout"
fi
if [ -f bench/shards.sh ]; then
    if [ "$QUICK" = 1 ]; then step shards env DURATION=1 RATE_SECS=1 ROUNDS=1 bash bench/shards.sh
    else step shards bash bench/shards.sh; fi
else
    echo "== shards: bench/shards.sh is not in this checkout"
fi
if [ "$QUICK" = 1 ]; then
    step forward env DURATION=1 CONNS="1 8" RATE_SECS=1 bash bench/forward.sh
    step api env DURATION=1 bash bench/api.sh
else
    step forward env DURATION=3 ROUNDS=3 CONNS="1 8 100" RATE_SECS=3 bash bench/forward.sh
    step api env DURATION=5 bash bench/api.sh
fi

python3 bench/summary.py "$OUT" | tee "$OUT/summary.md"
if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
    echo "bench/all.sh: failed steps: ${FAILED_STEPS[*]}" >&2
    exit 1
fi
