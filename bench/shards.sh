#!/usr/bin/env bash
# bench/shards.sh: the sharded runtime over a multi-queue TUN device, one shard against two,
# against the kernel over veth, in the same run.
#
#   synack:  loadgen (kernel sockets, ns C) -> TUN shd0 with SHARDS queues ->
#            examples/api_server --api sharded --shards SHARDS (ns C: one stack per queue,
#            each on its own thread, discard on :5001 and echo on :5002)
#   kernel:  loadgen (ns C) -> veth -> loadgen discard / echo servers (ns K)
#
# Rows: aggregate Gbit/s of CONNS connections writing at once to a discard server
# (`loadgen bulk`), and connections per second (`loadgen connect`, 64 at a time: connect, a
# 64-byte request, half-close, read the echo, close). Each round runs 1 shard, 2 shards and
# the kernel, alternating, and the table prints medians over ROUNDS with the ratios 2 shards /
# 1 shard and each / kernel, then CPU time per GB and per connection of the server (from
# /proc: user + system time of the api_server process, which includes the TUN system calls it
# makes, or of the kernel path's loadgen servers) and of the client (loadgen under
# /usr/bin/time, including the kernel TCP its system calls run).
#
# Needs root. Creates namespaces shd-c-PID and shd-k-PID (198.18.50.0/24 on the TUN device,
# 198.51.100.0/24 on the veth) and deletes them, and every process it started, on exit, also on
# failure or Ctrl-C.
#
# Environment: DURATION (seconds per transfer, default 5), CONNS (connections of the transfer,
# default 16), RATE_SECS (seconds of the connections-per-second run, default 3; 0 skips it),
# ROUNDS (default 3), THREADS (loadgen bulk's client threads, default 2), OUT (keep logs).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
RATE_SECS=${RATE_SECS:-3}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}

BENCH=bench/shards.sh
. bench/lib.sh
command -v ip >/dev/null || { echo "$BENCH: needs ip (apt-get install iproute2)" >&2; exit 2; }
cargo build --release --quiet --example api_server --example loadgen
API_SERVER=$PWD/target/release/examples/api_server
LOADGEN=$PWD/target/release/examples/loadgen

NS_C=shd-c-$$
NS_K=shd-k-$$
add_namespace "$NS_C"
add_namespace "$NS_K"
ip -n "$NS_C" link add shdv0 type veth peer name shdv1 netns "$NS_K"
ip -n "$NS_C" addr add 198.51.100.1/24 dev shdv0
ip -n "$NS_K" addr add 198.51.100.2/24 dev shdv1
ip -n "$NS_C" link set shdv0 mtu 1500 up
ip -n "$NS_K" link set shdv1 mtu 1500 up
# The client closes first: let it reuse TIME-WAIT ports during the connection-rate runs.
ip netns exec "$NS_C" sysctl -qw net.ipv4.tcp_tw_reuse=1
ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"

ip netns exec "$NS_K" "$LOADGEN" discard 198.51.100.2:5001 >"$OUT/kernel-discard.log" 2>&1 &
PIDS+=("$!")
KERNEL_DISCARD=$!
ip netns exec "$NS_K" "$LOADGEN" serve 198.51.100.2:5002 >"$OUT/kernel-echo.log" 2>&1 &
PIDS+=("$!")
KERNEL_ECHO=$!
wait_for "$OUT/kernel-discard.log" listening
wait_for "$OUT/kernel-echo.log" listening

# CPU seconds (user + system) process $1 has used so far.
cpu_secs() {
    python3 -c "import os, sys
f = open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')', 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'))" "$1" 2>/dev/null || echo 0
}

# Prints $1 / ($2 * $3 / $4) with three decimals: CPU seconds $1 per unit of work done at
# rate $2 for $3 seconds, the rate counting units of $4 (8 for Gbit/s to GB); '-' if not
# numbers.
per() {
    python3 -c "import sys
c, r, d, u = map(float, sys.argv[1:]); print(f'{c / (r * d / u):.3f}')" "$@" 2>/dev/null ||
        echo -
}

# Runs the transfer and the connection rate against $1 (ports 5001 and 5002), tagging logs
# $2, with the servers' pids $3 (discard) and $4 (echo); sets GBPS and CPS, and the servers'
# and the clients' CPU seconds per GB (SRV_GB, CLI_GB) and CPU µs per connection (SRV_KC,
# CLI_KC).
measure() {
    local addr=$1 tag=$2 c0 c1 c2 c3 cli
    c0=$(cpu_secs "$3")
    GBPS=$(ip netns exec "$NS_C" /usr/bin/time -f '%U %S' -o "$OUT/bulk-$tag.cpu" \
        "$LOADGEN" bulk "$addr:5001" --connections "$CONNS" --seconds "$DURATION" \
        --threads "$THREADS" 2>"$OUT/bulk-$tag.log" || echo failed)
    c1=$(cpu_secs "$3")
    cli=$(awk '{print $1 + $2}' "$OUT/bulk-$tag.cpu" 2>/dev/null || echo 0)
    SRV_GB=$(per "$(echo "$c1 - $c0" | bc)" "$GBPS" "$DURATION" 8)
    CLI_GB=$(per "$cli" "$GBPS" "$DURATION" 8)
    CPS=- SRV_KC=- CLI_KC=-
    if [ "$RATE_SECS" != 0 ]; then
        c2=$(cpu_secs "$4")
        CPS=$(ip netns exec "$NS_C" /usr/bin/time -f '%U %S' -o "$OUT/rate-$tag.cpu" \
            "$LOADGEN" connect "$addr:5002" --concurrency 64 --seconds "$RATE_SECS" \
            2>"$OUT/rate-$tag.log" || echo failed)
        c3=$(cpu_secs "$4")
        cli=$(awk '{print $1 + $2}' "$OUT/rate-$tag.cpu" 2>/dev/null || echo 0)
        SRV_KC=$(per "$(echo "($c3 - $c2) * 1000000" | bc)" "$CPS" "$RATE_SECS" 1)
        CLI_KC=$(per "$(echo "$cli * 1000000" | bc)" "$CPS" "$RATE_SECS" 1)
    fi
}

# One synack run with $1 shards: starts the server on a fresh device, measures, stops it.
synack_run() {
    local shards=$1 tag=$2 pid
    ip netns exec "$NS_C" "$API_SERVER" --api sharded --shards "$shards" --tun shd0 \
        --addr 198.18.50.2 --kernel-addr 198.18.50.1/24 --port 5001 --echo-port 5002 \
        --mode discard >"$OUT/server-$tag.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for "$OUT/server-$tag.log" listening
    measure 198.18.50.2 "$tag" "$pid" "$pid"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # The device goes with its last queue.
    for _ in $(seq 50); do
        ip -n "$NS_C" link show shd0 >/dev/null 2>&1 || break
        sleep 0.1
    done
}

declare -A G C SG CG SK CK
for name in one two kernel; do
    G[$name]="" C[$name]="" SG[$name]="" CG[$name]="" SK[$name]="" CK[$name]=""
done
for round in $(seq "$ROUNDS"); do
    for run in one two kernel; do
        case $run in
            one) synack_run 1 "one-$round" ;;
            two) synack_run 2 "two-$round" ;;
            kernel) measure 198.51.100.2 "kernel-$round" "$KERNEL_DISCARD" "$KERNEL_ECHO" ;;
        esac
        check "$GBPS"
        [ "$RATE_SECS" = 0 ] || check "$CPS"
        G[$run]+=" $GBPS" C[$run]+=" $CPS" SG[$run]+=" $SRV_GB" CG[$run]+=" $CLI_GB"
        SK[$run]+=" $SRV_KC" CK[$run]+=" $CLI_KC"
    done
done

med() { median $1; }
echo "bench/shards.sh: $CONNS connections x $DURATION s, connections/s over $RATE_SECS s (64 at a time), $ROUNDS rounds alternating, MTU 1500, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-26s %10s %10s %10s %8s %8s %8s\n' "median" "1 shard" "2 shards" "kernel" "2/1" "1/kern" "2/kern"
g1=$(med "${G[one]}") g2=$(med "${G[two]}") gk=$(med "${G[kernel]}")
printf '%-26s %10s %10s %10s %8s %8s %8s\n' "Gbit/s, $CONNS connections" "$g1" "$g2" "$gk" \
    "$(ratio "$g2" "$g1")" "$(ratio "$g1" "$gk")" "$(ratio "$g2" "$gk")"
result shards.tput.1 "$g1"
result shards.tput.2 "$g2"
result shards.tput.kernel "$gk"
if [ "$RATE_SECS" != 0 ]; then
    c1=$(med "${C[one]}") c2=$(med "${C[two]}") ck=$(med "${C[kernel]}")
    printf '%-26s %10s %10s %10s %8s %8s %8s\n' "connections/s" "$c1" "$c2" "$ck" \
        "$(ratio "$c2" "$c1")" "$(ratio "$c1" "$ck")" "$(ratio "$c2" "$ck")"
    result shards.cps.1 "$c1"
    result shards.cps.2 "$c2"
    result shards.cps.kernel "$ck"
fi
# CPU seconds per unit, medians: the server's (synack's process, or the kernel's discard or
# echo program) and the client's (loadgen, with the kernel TCP it runs in its system calls).
cpu_row() {
    printf '%-26s %10s %10s %10s\n' "$1" "$(med "$2")" "$(med "$3")" "$(med "$4")"
}
cpu_row "server CPU s per GB" "${SG[one]}" "${SG[two]}" "${SG[kernel]}"
cpu_row "client CPU s per GB" "${CG[one]}" "${CG[two]}" "${CG[kernel]}"
if [ "$RATE_SECS" != 0 ]; then
    cpu_row "server CPU µs per conn" "${SK[one]}" "${SK[two]}" "${SK[kernel]}"
    cpu_row "client CPU µs per conn" "${CK[one]}" "${CK[two]}" "${CK[kernel]}"
fi
printf '\nrounds (Gbit/s):  1 shard:%s  2 shards:%s  kernel:%s\n' "${G[one]}" "${G[two]}" "${G[kernel]}"
[ "$RATE_SECS" = 0 ] ||
    printf 'rounds (conn/s):  1 shard:%s  2 shards:%s  kernel:%s\n' "${C[one]}" "${C[two]}" "${C[kernel]}"
finish
