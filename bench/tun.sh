#!/usr/bin/env bash
# bench/tun.sh: synack over TUN against the kernel talking to itself over veth, side by side.
#
#   (a) kernel client -> synack serve --mode discard, over TUN
#   (b) synack serve --mode source -> kernel client, over TUN
#   (c) the same two transfers kernel -> kernel over a veth pair between two namespaces
#   (d) kernel client -> smoltcp 0.14 discard server (examples/smol_tun.rs) over plain TUN
#       (smoltcp's TUN device has no offloads), the comparator for synack's --no-offload run
#
# Every transfer uses the same client (bench/tun_client.py: one TCP connection, 1 MiB
# send()/recv_into() calls) for the same time, at MTU 1500. TUN runs twice: with the device's
# offloads (the default: IFF_VNET_HDR, TSO both ways, checksum offload) and with --no-offload. Prints
# Gbit/s for each and the ratios TUN/veth.
#
# Needs root (network namespaces, TUN). Creates its own namespaces (198.18.0.0/15 addresses)
# and deletes them, and every process it started, on exit, also on failure or Ctrl-C.
#
# Environment: DURATION (seconds per transfer, default 5), RUNS (how many times the plain-TUN
# pair (a, d) runs, alternating synack and smoltcp, with medians printed; default 1), SYNACK (the binary; default
# target/release/synack, built if missing), BUFFER (synack's per-connection buffers, default
# 4 MiB), PERF=1 (record `perf stat` of synack serve in each TUN run into the output dir),
# OUT (directory for logs, default a temporary one that is removed).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
RUNS=${RUNS:-1}
BUFFER=${BUFFER:-4194304}
SYNACK=${SYNACK:-target/release/synack}
CLIENT=$PWD/bench/tun_client.py

BENCH=bench/tun.sh
. bench/lib.sh
if [ ! -x "$SYNACK" ]; then
    cargo build --release --quiet
fi
SYNACK=$(realpath "$SYNACK")
SMOL=${SMOL:-target/release/examples/smol_tun}
if [ ! -x "$SMOL" ]; then
    cargo build --release --quiet --example smol_tun
fi
SMOL=$(realpath "$SMOL")

NS_TUN=synack-bench-tun-$$
NS_A=synack-bench-va-$$
NS_B=synack-bench-vb-$$

# Stops a server started in the background (by its pid) and waits for it: SIGTERM (background
# jobs of a script ignore SIGINT) to the server itself, or, under perf stat, to its child.
stop() {
    local child
    child=$(ps -o pid= --ppid "$1" 2>/dev/null | head -n1 | tr -d ' ' || true)
    kill -TERM "${child:-$1}" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# ---- namespaces
add_namespace "$NS_TUN"
add_namespace "$NS_A"
add_namespace "$NS_B"
ip link add veth-a netns "$NS_A" type veth peer name veth-b netns "$NS_B"
ip -n "$NS_A" addr add 198.18.1.1/24 dev veth-a
ip -n "$NS_B" addr add 198.18.1.2/24 dev veth-b
ip -n "$NS_A" link set veth-a mtu 1500 up
ip -n "$NS_B" link set veth-b mtu 1500 up

# ---- one TUN run: $1 = discard|source, $2 = "" or --no-offload; Gbit/s into $OUT/$tag.client
tun_run() {
    local mode=$1 offload=$2 tag=tun-$1 pid client
    [ -n "$offload" ] || tag=tun-$mode-offload
    local serve=("$SYNACK" serve --tun tun0 --addr 198.18.0.2 --kernel-addr 198.18.0.1/24
        --port 5001 --mode "$mode" --buffer "$BUFFER" $offload)
    if [ "${PERF:-0}" = 1 ]; then
        serve=(perf stat -e task-clock,context-switches,cycles,instructions,syscalls:sys_enter_read,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_epoll_wait
            -o "$OUT/$tag.perf" "${serve[@]}")
    fi
    ip netns exec "$NS_TUN" "${serve[@]}" >"$OUT/$tag.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for "$OUT/$tag.log" listening
    if [ "$mode" = discard ]; then client=send; else client=recv; fi
    ip netns exec "$NS_TUN" python3 "$CLIENT" "$client" 198.18.0.2 5001 "$DURATION" \
        >"$OUT/$tag.client"
    sleep 0.2
    stop "$pid"
}

# ---- the smoltcp run: kernel client -> smoltcp discard over tun1 (created here, no
# offloads); Gbit/s into $OUT/smol-discard.client
smol_run() {
    local pid
    ip -n "$NS_TUN" tuntap add dev tun1 mode tun
    ip -n "$NS_TUN" addr add 198.18.2.1/24 dev tun1
    ip -n "$NS_TUN" link set tun1 mtu 1500 txqueuelen 4096 up
    ip netns exec "$NS_TUN" "$SMOL" --tun tun1 --addr 198.18.2.2/24 --port 5001 \
        --buffer "$BUFFER" >"$OUT/smol-discard.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for "$OUT/smol-discard.log" listening
    ip netns exec "$NS_TUN" python3 "$CLIENT" send 198.18.2.2 5001 "$DURATION" \
        >"$OUT/smol-discard.client"
    sleep 0.2
    stop "$pid"
    ip -n "$NS_TUN" link del tun1
}

# ---- one veth run: $1 = discard|source; Gbit/s into $OUT/veth-$mode.client
veth_run() {
    local mode=$1 pid client
    ip netns exec "$NS_B" python3 "$CLIENT" serve-"$mode" 198.18.1.2 5001 \
        >"$OUT/veth-$mode.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_for "$OUT/veth-$mode.log" listening
    if [ "$mode" = discard ]; then client=send; else client=recv; fi
    ip netns exec "$NS_A" python3 "$CLIENT" "$client" 198.18.1.2 5001 "$DURATION" \
        >"$OUT/veth-$mode.client"
    stop "$pid"
}

echo "bench/tun.sh: $DURATION s per transfer, MTU 1500, one connection, synack buffers $BUFFER B"
declare -A R
for mode in discard source; do
    veth_run "$mode"
    tun_run "$mode" ""
    tun_run "$mode" --no-offload
    for tag in veth-$mode tun-$mode-offload tun-$mode; do
        R[$tag]=$(cat "$OUT/$tag.client")
    done
done
smol_run
R[smol-discard]=$(cat "$OUT/smol-discard.client")
# More plain-TUN pairs (RUNS > 1), alternating, for medians: this machine's figures move by
# a third between runs, and the two stacks should see the same moments.
plain_synack=("${R[tun-discard]}") plain_smol=("${R[smol-discard]}")
for _ in $(seq 2 "$RUNS"); do
    tun_run discard --no-offload
    plain_synack+=("$(cat "$OUT/tun-discard.client")")
    smol_run
    plain_smol+=("$(cat "$OUT/smol-discard.client")")
done
if [ "$RUNS" -gt 1 ]; then
    R[tun-discard]=$(median "${plain_synack[@]}")
    R[smol-discard]=$(median "${plain_smol[@]}")
fi
check "${R[tun-discard]}" "${R[smol-discard]}" "${R[veth-discard]}" "${R[veth-source]}"

printf '\n%-40s %10s %10s %10s\n' "" "TUN+offl" "TUN plain" "veth"
printf '%-40s %10s %10s %10s\n' "(a) kernel -> synack (discard), Gbit/s" \
    "${R[tun-discard-offload]}" "${R[tun-discard]}" "${R[veth-discard]}"
printf '%-40s %10s %10s %10s\n' "(b) synack (source) -> kernel, Gbit/s" \
    "${R[tun-source-offload]}" "${R[tun-source]}" "${R[veth-source]}"
printf '\nratio TUN/veth, with offloads: (a) %s  (b) %s;  without: (a) %s  (b) %s\n' \
    "$(ratio "${R[tun-discard-offload]}" "${R[veth-discard]}")" \
    "$(ratio "${R[tun-source-offload]}" "${R[veth-source]}")" \
    "$(ratio "${R[tun-discard]}" "${R[veth-discard]}")" \
    "$(ratio "${R[tun-source]}" "${R[veth-source]}")"
printf '%-40s %10s %10s %10s\n' "(d) kernel -> smoltcp (discard), Gbit/s" \
    "-" "${R[smol-discard]}" "-"
printf 'ratio synack/smoltcp on plain TUN, kernel -> stack (discard): %s\n' \
    "$(ratio "${R[tun-discard]}" "${R[smol-discard]}")"
if [ "$RUNS" -gt 1 ]; then
    printf 'plain TUN runs (a): %s; (d): %s (the table has their medians)\n' \
        "${plain_synack[*]}" "${plain_smol[*]}"
fi
for tag in tun-discard-offload tun-source-offload tun-discard tun-source veth-discard \
    veth-source smol-discard; do
    result "tun.$tag" "${R[$tag]}"
done
grep -h "^conn " "$OUT"/tun-*.log | sed 's/^/synack: /'
finish
