#!/usr/bin/env bash
# bench/lossless.sh: timers that fire on a lossless link are bugs. Counts them.
#
#   (a) CONNS concurrent kernel echo clients (tests/interop/many.py, BYTES each) against
#       `synack serve --mode echo` over TUN;
#   (b) SOURCE_CONNS kernel clients one after another reading `synack serve --mode source
#       --bytes SOURCE_BYTES` to the end (a quiet link).
#
# Nothing is lost on a TUN device in one namespace, so every retransmission, RTO and loss probe
# synack counts is spurious. Prints synack's counters (TcpRetransSegs, TcpExtTCPTimeouts,
# TcpExtTCPLossProbes, TcpExtTCPDSACKRecv) and the kernel's (`nstat` in the namespace:
# TcpRetransSegs, TcpExtTCPLossProbes, TcpExtTCPDSACKOldSent = duplicates the kernel received)
# for each run.
#
# Needs root. Creates its own namespace (198.18.0.0/15 addresses) and deletes it, and every
# process it started, on exit, also on failure or Ctrl-C.
#
# Environment: SYNACK (default target/release/synack, built if missing), CONNS (1000), BYTES
# (10000), SOURCE_CONNS (100), SOURCE_BYTES (100000), EXTRA (more `serve` options, e.g.
# --no-offload), NICE (e.g. -10: run in a session of its own whose scheduler autogroup has
# that niceness, so that a machine busy with other work delays synack and the clients less;
# every wakeup late by more than the peer's 2·SRTT + a few ms shows as a loss probe on one
# side or the other), VERBOSE=1 (all of synack's counters).
set -euo pipefail

cd "$(dirname "$0")/.."
NICE=${NICE:-0}
if [ "$NICE" != 0 ] && [ -z "${LOSSLESS_SESSION:-}" ]; then
    # With autogroups, niceness only counts within a session: start one and set its own.
    exec env LOSSLESS_SESSION=1 setsid -w "$0" "$@"
fi
if [ -n "${LOSSLESS_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
    echo "$NICE" >/proc/self/autogroup
fi
SYNACK=${SYNACK:-target/release/synack}
CONNS=${CONNS:-1000}
BYTES=${BYTES:-10000}
SOURCE_CONNS=${SOURCE_CONNS:-100}
SOURCE_BYTES=${SOURCE_BYTES:-100000}
EXTRA=${EXTRA:-}
MANY=$PWD/tests/interop/many.py

BENCH=bench/lossless.sh
. bench/lib.sh
if [ ! -x "$SYNACK" ]; then
    cargo build --release --quiet
fi
SYNACK=$(realpath "$SYNACK")

NS=synack-bench-lossless-$$

add_namespace "$NS"
# nstat keeps its last reading in a file per user, not per namespace: give it one of ours.
export NSTAT_HISTORY=$OUT/nstat.history

# The named counters of a `synack serve: counters: NAME N NAME N …` line, or of nstat output.
pick() {
    python3 - "$1" <<'EOF'
import sys
text = open(sys.argv[1]).read().split()
want = ["TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPDSACKRecv",
        "TcpExtTCPDSACKOldSent"]
vals = {}
for i, w in enumerate(text[:-1]):
    if w in want and text[i + 1].isdigit():
        vals[w] = text[i + 1]
print("  ".join("%s %s" % (k, vals.get(k, 0)) for k in want))
EOF
}

# $1 = tag, $2 = mode, then serve options; runs the client given in CLIENT.
run() {
    local tag=$1 mode=$2 pid
    shift 2
    # shellcheck disable=SC2086
    ip netns exec "$NS" nice -n "$NICE" "$SYNACK" serve --tun tun0 --addr 198.18.0.2 \
        --kernel-addr 198.18.0.1/24 --port 7 --mode "$mode" --msl 1s $EXTRA "$@" \
        >"$OUT/$tag.out" 2>"$OUT/$tag.err" &
    pid=$!
    PIDS+=("$pid")
    wait_for "$OUT/$tag.out" listening
    ip netns exec "$NS" nstat -n
    eval "$CLIENT" >"$OUT/$tag.client"
    sleep 0.5
    ip netns exec "$NS" nstat >"$OUT/$tag.nstat"
    ip -n "$NS" -s link show tun0 >"$OUT/$tag.link"
    kill -TERM "$pid"
    wait "$pid" || true
    echo "($tag) client: $(cat "$OUT/$tag.client")"
    echo "($tag) synack: $(pick "$OUT/$tag.err")"
    [ -z "${VERBOSE:-}" ] || grep -h "counters:" "$OUT/$tag.err"
    echo "($tag) kernel: $(pick "$OUT/$tag.nstat")"
    # The kernel's TX is toward synack: drops there are packets synack never saw.
    echo "($tag) tun0 (kernel side): $(awk '/TX:/ {getline; print "tx packets " $2 ", dropped " $4}' "$OUT/$tag.link")"
}

echo "bench/lossless.sh: $CONNS concurrent echoes of $BYTES B; $SOURCE_CONNS sources of $SOURCE_BYTES B ${EXTRA:+($EXTRA)} (nice $NICE; load $(cut -d' ' -f1-3 /proc/loadavg))"
CLIENT="ip netns exec $NS nice -n $NICE python3 $MANY 198.18.0.2 7 --conns $CONNS --concurrency $CONNS --bytes $BYTES"
run echo echo --backlog "$CONNS"
CLIENT="for i in \$(seq $SOURCE_CONNS); do ip netns exec $NS nice -n $NICE python3 -c '
import socket; s = socket.create_connection((\"198.18.0.2\", 7)); n = 0
while True:
    d = s.recv(65536)
    if not d: break
    n += len(d)
s.close(); assert n == $SOURCE_BYTES, n'; done; echo done"
run source source --bytes "$SOURCE_BYTES"
