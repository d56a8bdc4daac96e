#!/usr/bin/env bash
# bench/memory.sh: memory that follows the load (issue 14 item 3). CONNS concurrent echo
# connections from kernel sockets (examples/loadgen echo-many: all opened first, then all
# started together, each sending a seeded random stream of 1 byte to MAX_SIZE bytes and
# checking every byte of its echo) to `synack serve --mode echo` over TUN. Prints the
# server's idle RSS before the load, its peak RSS (VmHWM), the stack's own peak accounting
# (Stack::memory_usage, sampled every 50 ms by serve), and its RSS once every connection has
# closed (serve reports its stack empty: tables given back, heap trimmed). Goals: peak RSS
# <= 256 MiB with every byte intact, and RSS after <= 1.5x the idle baseline.
#
# Needs root (network namespace, TUN). Creates its own namespace (198.18.40.0/24 inside it)
# and deletes it, and every process it started, on exit, also on failure or Ctrl-C.
#
# Environment: CONNS (default 10000), MAX_SIZE (bytes, default 262144), BUFFER (the server's
# per-connection send and receive maximum, default 4194304; autotuning sizes them below it),
# SEED (default 1), CLIENT_CC (the kernel clients' congestion control, e.g. reno or bbr, one of
# net.ipv4.tcp_allowed_congestion_control; default the
# host's), SERVE_ARGS (extra options for serve, e.g. "--stats 1"), OUT (directory for
# logs, kept; default a temporary one that is removed). .ci/run runs it with CONNS=500 through
# `QUICK=1 bench/all.sh`, so it never rots; no figure is asserted there.
set -euo pipefail

cd "$(dirname "$0")/.."
CONNS=${CONNS:-10000}
MAX_SIZE=${MAX_SIZE:-262144}
BUFFER=${BUFFER:-4194304}
SEED=${SEED:-1}

BENCH=bench/memory.sh
. bench/lib.sh
cargo build --release --quiet --bin synack --example loadgen
SYNACK=$PWD/target/release/synack
LOADGEN=$PWD/target/release/examples/loadgen
# One descriptor per client connection, plus some.
ulimit -n $((CONNS + 1024))

NS=mem-$$
add_namespace "$NS"
if [ -n "${CLIENT_CC:-}" ]; then
    ip netns exec "$NS" sysctl -qw net.ipv4.tcp_congestion_control="$CLIENT_CC"
fi

# Field $2 (e.g. VmRSS, VmHWM) of /proc/$1/status, in MiB with one decimal.
mib() {
    awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

ip netns exec "$NS" "$SYNACK" serve --tun memtun0 --addr 198.18.40.2 \
    --kernel-addr 198.18.40.1/24 --port 7 --mode echo --backlog 4096 --buffer "$BUFFER" ${SERVE_ARGS:-} \
    >"$OUT/serve.log" 2>"$OUT/serve.err" &
SERVER=$!
PIDS+=("$SERVER")
wait_for "$OUT/serve.log" listening
sleep 1
IDLE=$(mib "$SERVER" VmRSS)

read -r ok failed bytes secs < <(ip netns exec "$NS" "$LOADGEN" echo-many 198.18.40.2:7 \
    --connections "$CONNS" --max-size "$MAX_SIZE" --seed "$SEED" 2>"$OUT/loadgen.log" \
    || echo failed - - -)
if [ "$ok" = failed ]; then
    cat "$OUT/loadgen.log" >&2
fi
PEAK=$(mib "$SERVER" VmHWM)
DROPPED=$(ip netns exec "$NS" cat /sys/class/net/memtun0/statistics/tx_dropped 2>/dev/null || echo -)
TIMES=$(sed -n 's/^loadgen: connection times: //p' "$OUT/loadgen.log")
# Every connection is closed on the server's side once the client has its echo (the client
# closed first, so TIME-WAIT is the client's), but a server connection whose last ACK the
# queue dropped waits for its FIN's retransmission: RSS is read once serve says its stack
# holds no connection (it then gives back its tables and trims the heap), at most 60 s.
for _ in $(seq 600); do
    grep -q "no connection left" "$OUT/serve.err" && break
    sleep 0.1
done
EMPTIED=$(sed -n 's/.*no connection left: stack memory back to \([0-9]*\) bytes.*/\1/p' \
    "$OUT/serve.err" | tail -1)
sleep 0.2
AFTER=$(mib "$SERVER" VmRSS)
kill -TERM "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
STACK_PEAK=$(sed -n 's/.*stack memory: peak \([0-9]*\) bytes.*/\1/p' "$OUT/serve.err" |
    awk '{ printf "%.1f", $1 / 1048576 }')
STACK_AT=$(sed -n 's/.*stack memory: peak [0-9]* bytes with \([0-9]*\) connection.*/\1/p' \
    "$OUT/serve.err")
INTACT=no
if [ "$ok" = "$CONNS" ] && [ "$failed" = 0 ]; then INTACT=yes; fi

echo "bench/memory.sh: $CONNS concurrent echo connections over TUN, 1 B to $MAX_SIZE B each" \
    "(seed $SEED), synack serve --buffer $BUFFER (the maxima; autotuned below)"
printf '%-52s %s\n' "echoed intact (connections, failed, MB, seconds)" \
    "$ok, $failed, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }' 2>/dev/null || echo -), $secs"
printf '%-52s %s\n' "time per connection (from the common start)" "${TIMES:--}"
printf '%-52s %s\n' "packets the kernel dropped at the TUN queue" "$DROPPED"
printf '%-52s %s MiB\n' "server RSS idle, before the load" "$IDLE"
printf '%-52s %s MiB\n' "server peak RSS (VmHWM)" "$PEAK"
printf '%-52s %s MiB (with %s connections)\n' "stack's own peak (Stack::memory_usage, 50 ms)" \
    "$STACK_PEAK" "${STACK_AT:--}"
EMPTIED=${EMPTIED:+$EMPTIED bytes}
printf '%-52s %s\n' "stack's own memory once all closed" "${EMPTIED:-not reached in 60 s}"
printf '%-52s %s MiB (%s of idle)\n' "server RSS once all closed" "$AFTER" \
    "$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" \
        "$AFTER" "$IDLE" 2>/dev/null || echo -)"
check "$ok" "$IDLE" "$PEAK" "$AFTER" "$STACK_PEAK"
[ "$INTACT" = yes ] || FAILED=1
result memory.idle_rss_mib "$IDLE"
result memory.peak_rss_mib "$PEAK"
result memory.stack_peak_mib "$STACK_PEAK"
result memory.after_rss_mib "$AFTER"
result memory.intact "$INTACT"
finish
