#!/usr/bin/env bash
# bench/api.sh: what the socket APIs cost over `synack serve`, on the same TUN device.
#
#   bulk:      kernel client (bench/tun_client.py, one connection, 1 MiB calls) -> TUN ->
#              a server that discards (up) or sources (down): `synack serve`, then
#              examples/api_server through the tokio API (stack as a task on the
#              application's runtime), the tokio API with the stack on its own thread, and
#              the blocking API. Prints Gbit/s and each one's ratio to serve.
#   ping-pong: one 64-byte request and its echo at a time (examples/loadgen pingpong) to an
#              echo server over TUN (serve, the tokio API) and to a kernel echo server on the
#              namespace's loopback: requests per second, p50 and p99 latency.
#
# Needs root (network namespace, TUN). Creates its own namespace (198.18.0.0/24 inside it)
# and deletes it, and every process it started, on exit, also on failure or Ctrl-C.
#
# Environment: DURATION (seconds per run, default 5), BUFFER (per-connection buffers of
# every synack server, default 4 MiB), OUT (directory for logs, kept; default a temporary
# one that is removed).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
BUFFER=${BUFFER:-4194304}
CLIENT=$PWD/bench/tun_client.py

BENCH=bench/api.sh
. bench/lib.sh
cargo build --release --quiet --bin synack --example api_server --example loadgen
NS=synack-bench-api-$$
SYNACK=$PWD/target/release/synack
API_SERVER=$PWD/target/release/examples/api_server
LOADGEN=$PWD/target/release/examples/loadgen



# Starts a server ($1 = tag, then its command) in the namespace and waits until it listens;
# its pid goes to $SERVER.
start_server() {
    local tag=$1
    shift
    ip netns exec "$NS" "$@" >"$OUT/$tag.log" 2>&1 &
    SERVER=$!
    PIDS+=("$SERVER")
    wait_for "$OUT/$tag.log" listening
}

# Stops the server started last (SIGTERM; background jobs of a script ignore SIGINT).
stop_server() {
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    sleep 0.2
}

add_namespace "$NS"
TUN=(--tun tun0 --addr 198.18.0.2 --kernel-addr 198.18.0.1/24)

# The server command for $1 = serve|tokio|tokio-thread|blocking in mode $2.
server() {
    if [ "$1" = serve ]; then
        echo "$SYNACK" serve "${TUN[@]}" --port 5001 --mode "$2" --buffer "$BUFFER"
    else
        echo "$API_SERVER" "${TUN[@]}" --port 5001 --api "$1" --mode "$2" --buffer "$BUFFER"
    fi
}



echo "bench/api.sh: $DURATION s per run, MTU 1500, one connection, synack buffers $BUFFER B"
declare -A R
for mode in discard source; do
    if [ "$mode" = discard ]; then client=send; else client=recv; fi
    for api in serve tokio tokio-thread blocking; do
        # shellcheck disable=SC2046
        start_server "$api-$mode" $(server "$api" "$mode")
        R[$api-$mode]=$(ip netns exec "$NS" python3 "$CLIENT" "$client" 198.18.0.2 5001 \
            "$DURATION" 2>"$OUT/$api-$mode.client" || echo failed)
        stop_server
        check "${R[$api-$mode]}"
        result "api.$api-$mode" "${R[$api-$mode]}"
    done
done

printf '\n%-34s %10s %10s %10s %10s\n' "Gbit/s" serve tokio tokio-thread blocking
for mode in discard source; do
    if [ "$mode" = discard ]; then what="kernel -> synack (discard)"; else what="synack (source) -> kernel"; fi
    printf '%-34s %10s %10s %10s %10s\n' "$what" "${R[serve-$mode]}" "${R[tokio-$mode]}" \
        "${R[tokio-thread-$mode]}" "${R[blocking-$mode]}"
    printf '%-34s %10s %10s %10s %10s\n' "  ratio to serve" "" \
        "$(ratio "${R[tokio-$mode]}" "${R[serve-$mode]}")" \
        "$(ratio "${R[tokio-thread-$mode]}" "${R[serve-$mode]}")" \
        "$(ratio "${R[blocking-$mode]}" "${R[serve-$mode]}")"
done

printf '\n%-34s %12s %10s %10s\n' "ping-pong, 64 B" "requests/s" "p50 us" "p99 us"
for api in serve tokio; do
    # shellcheck disable=SC2046
    start_server "$api-echo" $(server "$api" echo)
    read -r rps p50 p99 < <(ip netns exec "$NS" "$LOADGEN" pingpong 198.18.0.2:5001 \
        --seconds "$DURATION" 2>"$OUT/pingpong-$api.log" || echo failed - -)
    printf '%-34s %12s %10s %10s\n' "over TUN to synack ($api)" "$rps" "$p50" "$p99"
    check "$rps" "$p50" "$p99"
    result "api.pingpong-$api.rps" "$rps"
    stop_server
done
start_server kernel-echo "$LOADGEN" serve 127.0.0.1:5002
read -r rps p50 p99 < <(ip netns exec "$NS" "$LOADGEN" pingpong 127.0.0.1:5002 \
    --seconds "$DURATION" 2>"$OUT/pingpong-kernel.log" || echo failed - -)
printf '%-34s %12s %10s %10s\n' "kernel loopback" "$rps" "$p50" "$p99"
check "$rps" "$p50" "$p99"
result "api.pingpong-kernel.rps" "$rps"
stop_server
finish
