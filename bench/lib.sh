# bench/lib.sh: what the benchmark scripts share. Source it after setting BENCH (the script's
# name, for messages); it sets up OUT (a kept directory if OUT was given, else a temporary one)
# and the cleanup: every pid in PIDS is stopped and every namespace in NAMESPACES deleted on
# exit, also on failure or Ctrl-C.

if [ "$(id -u)" != 0 ]; then
    echo "$BENCH: needs root (network namespaces and a TUN device)" >&2
    exit 2
fi

KEEP_OUT=${OUT:+1}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PIDS=()
NAMESPACES=()
# Set by `check` when a figure is missing: the script then fails (CI runs the benches short).
FAILED=0

bench_cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    [ -n "$KEEP_OUT" ] || rm -rf "$OUT"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Creates network namespace $1 with its loopback up, deleted on exit.
add_namespace() {
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# Waits until file $1 contains $2 (a server's ready line), at most 10 s.
wait_for() {
    local i
    for i in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$BENCH: timed out waiting for '$2' in $1:" >&2
    cat "$1" >&2
    return 1
}

# Prints 100 * $1 / $2 as a percentage, or '-' if either is not a number.
ratio() {
    python3 -c "import sys
try:
    a, b = map(float, sys.argv[1:]); print(f'{100 * a / b:.0f}%')
except Exception:
    print('-')" "$1" "$2"
}

# The median of the arguments (numbers, or percentages like 61%; others are skipped), in
# the form they came in; "-" if there is none.
median() {
    python3 -c "import sys, statistics
vals = [a for a in sys.argv[1:] if a.rstrip('%').replace('.', '', 1).isdigit()]
if not vals:
    print('-')
else:
    pct = vals[0].endswith('%')
    m = statistics.median(float(a.rstrip('%')) for a in vals)
    print(f'{m:.0f}%' if pct else f'{m:.2f}')" "$@"
}

# Records figure $1 = $2 for bench/all.sh's summary: one "NAME VALUE" line appended to the
# file RESULTS names (nothing when RESULTS is unset, as when a script runs on its own).
result() {
    [ -z "${RESULTS:-}" ] || printf '%s %s\n' "$1" "$2" >>"$RESULTS"
}

# Marks the run failed unless every argument is a number.
check() {
    local v
    for v in "$@"; do
        [[ "$v" =~ ^[0-9.]+$ ]] || FAILED=1
    done
}

# Ends the script: the logs' place if kept, and a failure if a figure was missing.
finish() {
    [ -z "$KEEP_OUT" ] || echo "logs in $OUT"
    if [ "$FAILED" = 1 ]; then
        echo "$BENCH: a run failed (keep its logs with OUT=DIR)" >&2
        exit 1
    fi
}
