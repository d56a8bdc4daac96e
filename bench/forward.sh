#!/usr/bin/env bash
# bench/forward.sh: the library path against the kernel, side by side in one run.
#
#   forward:  iperf3 client (ns C) -> TUN -> examples/forward (ns F: synack's tokio API
#             intercepting, spliced to kernel sockets) -> veth -> iperf3 server (ns S)
#   routing:  iperf3 client (ns C) -> veth -> kernel router (ns R, ip_forward) -> veth ->
#             iperf3 server (ns S)
#
# For 1, 8 and 100 connections, up (client to server) and down (iperf3 -R), it prints Gbit/s
# for both paths and the ratio forward/routing, then connections per second through each
# (examples/loadgen: connect, one request and reply, close). Same MTU (1500), same addresses,
# same client and server programs on both paths.
#
# Needs root (network namespaces, TUN). Creates its own namespaces (198.18.0.0/24 and
# 198.51.100.0/24 inside them) and deletes them, and every process it started, on exit, also
# on failure or Ctrl-C.
#
# Environment: DURATION (seconds per transfer, default 5), CONNS (the connection counts,
# default "1 8 100"), RATE_SECS (seconds of the connections-per-second run, default 3; 0
# skips it), OUT (directory for logs, kept; default a temporary one that is removed),
# THREADS (the forwarder's threads, one TUN queue and one stack each; default one per core),
# SPLICE (zero-copy, the default: synack::tokio_net::copy_bidirectional; or buffered:
# tokio::io::copy_bidirectional_with_sizes with 256 KiB buffers),
# ROUNDS (default 1: each transfer row runs forward then routing ROUNDS times, alternating,
# and prints the medians and the median of the rounds' ratios, with each round's ratio: the
# router's own figure swings by 2x between runs on a shared machine),
# PERF=1 (record `perf record -g` of the forwarder during the 1-connection upload into
# $OUT/forward.perf.data; PERF_DIR=down for the download instead).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-1 8 100}
RATE_SECS=${RATE_SECS:-3}
THREADS=${THREADS:-$(nproc)}
SPLICE=${SPLICE:-zero-copy}
ROUNDS=${ROUNDS:-1}

BENCH=bench/forward.sh
. bench/lib.sh
for tool in iperf3 ip; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench/forward.sh: needs $tool (apt-get install iperf3 iproute2)" >&2
        exit 2
    fi
done
cargo build --release --quiet --example forward --example loadgen
FORWARD=$PWD/target/release/examples/forward
LOADGEN=$PWD/target/release/examples/loadgen

NS_C=synack-fwd-c-$$
NS_F=synack-fwd-f-$$
NS_S=synack-fwd-s-$$
NS_R=synack-fwd-r-$$

# Starts "$@" in the background, logging to $OUT/$1.log... (name given as first argument).
start() {
    local name=$1
    shift
    "$@" >"$OUT/$name.log" 2>&1 &
    PIDS+=("$!")
}

# ---- namespaces: the client and the server are the same for both paths; the client reaches
# 198.51.100.0/24 through the TUN device (forward) or through the router (routing), chosen by
# which of its two links carries the route.
for ns in "$NS_C" "$NS_F" "$NS_S" "$NS_R"; do
    add_namespace "$ns"
done
# The server has one link to the forwarder and one to the router, same address on both
# sides of each; the active path decides which one is up.
ip -n "$NS_F" link add vfs type veth peer name vsf netns "$NS_S"
ip -n "$NS_R" link add vrs type veth peer name vsr netns "$NS_S"
ip -n "$NS_R" link add vrc type veth peer name vcr netns "$NS_C"
ip -n "$NS_F" addr add 198.51.100.1/24 dev vfs
ip -n "$NS_R" addr add 198.51.100.1/24 dev vrs
ip -n "$NS_R" addr add 198.18.0.2/24 dev vrc
ip -n "$NS_C" addr add 198.18.0.1/24 dev vcr
ip -n "$NS_S" addr add 198.51.100.2/24 dev vsf
ip -n "$NS_S" addr add 198.51.100.2/24 dev vsr 2>/dev/null ||
    ip -n "$NS_S" addr add 198.51.100.2/32 dev vsr
for l in "$NS_F vfs" "$NS_R vrs" "$NS_R vrc" "$NS_C vcr" "$NS_S vsf" "$NS_S vsr"; do
    set -- $l
    ip -n "$1" link set "$2" mtu 1500 up
done
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
# The client closes first, so its ports pile up in TIME-WAIT during the connection-rate runs:
# let it reuse them (RFC 7323 timestamps make that safe) on both paths alike.
# The forwarder's kernel sockets close first too (they pass the client's FIN on).
for ns in "$NS_C" "$NS_F"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
done

# The forwarder opens tun0 in its namespace; the device then moves to the client's.
start forward ip netns exec "$NS_F" "$FORWARD" --tun tun0 --threads "$THREADS" --splice "$SPLICE"
FORWARD_PID=${PIDS[-1]}
wait_for "$OUT/forward.log" "forwarding on"
ip -n "$NS_F" link set tun0 netns "$NS_C"
ip -n "$NS_C" addr add 198.18.0.1/24 dev tun0 2>/dev/null || true
ip -n "$NS_C" link set tun0 mtu 1500 up

start iperf3 ip netns exec "$NS_S" iperf3 -s -B 198.51.100.2
start loadgen ip netns exec "$NS_S" "$LOADGEN" serve 198.51.100.2:5002
wait_for "$OUT/loadgen.log" listening
sleep 0.5

# Routes the client (and the server's replies) through $1: forward or routing.
use_path() {
    ip -n "$NS_S" route del 198.18.0.0/24 2>/dev/null || true
    if [ "$1" = forward ]; then
        ip -n "$NS_C" route replace 198.51.100.0/24 dev tun0
        ip -n "$NS_S" link set vsr down
        ip -n "$NS_S" link set vsf up
    else
        ip -n "$NS_C" route replace 198.51.100.0/24 via 198.18.0.2 dev vcr
        ip -n "$NS_S" link set vsf down
        ip -n "$NS_S" link set vsr up
        ip -n "$NS_S" route replace 198.18.0.0/24 via 198.51.100.1 dev vsr
    fi
}

# One iperf3 run: $1 = path, $2 = connections, $3 = up|down; prints Gbit/s.
iperf() {
    local path=$1 n=$2 dir=$3 flags=() tag=$1-$2-$3
    [ "$dir" = down ] && flags=(-R)
    use_path "$path"
    ip netns exec "$NS_C" iperf3 -c 198.51.100.2 -P "$n" -t "$DURATION" -J "${flags[@]}" \
        >"$OUT/$tag.json" 2>&1 || true
    python3 - "$OUT/$tag.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print(f"{r['end']['sum_received']['bits_per_second'] / 1e9:.2f}")
except Exception:
    print("failed")
EOF
}



echo "bench/forward.sh: $DURATION s per transfer, MTU 1500, forward on $THREADS threads ($SPLICE splice), iperf3 $(iperf3 --version | head -1 | cut -d' ' -f2)"
if [ "$ROUNDS" = 1 ]; then
    printf '\n%-24s %12s %12s %8s\n' "Gbit/s" "forward" "routing" "ratio"
else
    printf '\n%-24s %12s %12s %8s\n' "Gbit/s (median of $ROUNDS)" "forward" "routing" "ratio"
fi
for n in $CONNS; do
    for dir in up down; do
        if [ "${PERF:-0}" = 1 ] && [ "$n" = 1 ] && [ "$dir" = "${PERF_DIR:-up}" ]; then
            perf record -g -p "$FORWARD_PID" -o "$OUT/forward.perf.data" -- sleep "$DURATION" \
                >/dev/null 2>&1 &
            PIDS+=("$!")
        fi
        fs=() rs=() ratios=()
        for _ in $(seq "$ROUNDS"); do
            f=$(iperf forward "$n" "$dir")
            r=$(iperf routing "$n" "$dir")
            check "$f" "$r"
            fs+=("$f") rs+=("$r") ratios+=("$(ratio "$f" "$r")")
        done
        printf '%-24s %12s %12s %8s' "$n conn, $dir" "$(median "${fs[@]}")" \
            "$(median "${rs[@]}")" "$(median "${ratios[@]}")"
        [ "$ROUNDS" = 1 ] || printf '   rounds: %s' "${ratios[*]}"
        printf '\n'
        result "forward.$n-$dir.forward" "$(median "${fs[@]}")"
        result "forward.$n-$dir.routing" "$(median "${rs[@]}")"
        result "forward.$n-$dir.ratio" "$(median "${ratios[@]}")"
    done
done

if [ "$RATE_SECS" != 0 ]; then
    printf '\n%-24s %12s %12s %8s\n' "connections/s" "forward" "routing" "ratio"
    for c in 1 64; do
        use_path forward
        f=$(ip netns exec "$NS_C" "$LOADGEN" connect 198.51.100.2:5002 --concurrency "$c" \
            --seconds "$RATE_SECS" 2>"$OUT/rate-forward-$c.log" || echo failed)
        use_path routing
        r=$(ip netns exec "$NS_C" "$LOADGEN" connect 198.51.100.2:5002 --concurrency "$c" \
            --seconds "$RATE_SECS" 2>"$OUT/rate-routing-$c.log" || echo failed)
        printf '%-24s %12s %12s %8s\n' "$c at a time" "$f" "$r" "$(ratio "$f" "$r")"
        check "$f" "$r"
        result "forward.rate-$c.forward" "$f"
        result "forward.rate-$c.routing" "$r"
        result "forward.rate-$c.ratio" "$(ratio "$f" "$r")"
    done
fi
finish
