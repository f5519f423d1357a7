#!/usr/bin/env bash
# `make bench`: events/s through a plain librdkafka producer and through Sluice
# (C client -> Unix socket -> gateway -> Kafka, durable acks), measured in the
# same run against the same fresh Tansu dev broker, and their ratio. Runs vary
# by 20-50 % from one run to the next, so only the ratio within a run means much.
#
#   BENCH_EVENTS   events per run (default 1000000)
#   BENCH_KEYS     distinct keys (default 10000)
#   BENCH_TIMEOUT  seconds each publisher may take, produce + flush (default 300)
#
# Expects the release gateway (.build/release/sluice; `make bench` builds it).
# Everything it starts listens on loopback only and is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

events=${BENCH_EVENTS:-1000000}
keys=${BENCH_KEYS:-10000}
timeout_s=${BENCH_TIMEOUT:-300}
for v in "$events" "$keys" "$timeout_s"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_EVENTS, BENCH_KEYS and BENCH_TIMEOUT must be positive integers" >&2; exit 2; }
done

rdkafka=$root/.deps/librdkafka
tansu=$root/.deps/bin/tansu
gateway_bin=$root/.build/release/sluice
out=$root/bench/build
partitions=8

[ -x "$tansu" ] && [ -f "$rdkafka/include/librdkafka/rdkafka.h" ] || { echo "bench: dependencies missing; run 'make setup'" >&2; exit 1; }
[ -x "$gateway_bin" ] || { echo "bench: $gateway_bin missing; run 'make release' (or 'make bench')" >&2; exit 1; }

# ---- build the two publishers ------------------------------------------------
make -s -C clients/c build/libsluice.a >/dev/null
mkdir -p "$out"
CC=${CC:-cc}
CFLAGS=(-O2 -Wall -Wextra -Werror)
# -isystem: rdkafka.h itself trips -Wextra (a const-qualified return type).
"$CC" "${CFLAGS[@]}" -isystem "$rdkafka/include" bench/rdkafka_baseline.c -o "$out/rdkafka_baseline" \
    -L"$rdkafka/lib" -Wl,-rpath,"$rdkafka/lib" -lrdkafka
"$CC" "${CFLAGS[@]}" -Iclients/c/include bench/sluice_publisher.c -o "$out/sluice_publisher" \
    clients/c/build/libsluice.a -lzstd

# ---- scratch space, cleanup ----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
broker_pid=
gateway_pid=
child_pid=

stop() { # stop PID: SIGTERM, wait up to 5 s, then SIGKILL
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop "$child_pid"
    stop "$gateway_pid"
    stop "$broker_pid"
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "bench: $*" >&2
    for log in "$tmp"/*.log; do
        [ -s "$log" ] && { echo "--- last lines of $(basename "$log"):" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

# run OUTFILE COMMAND...: runs COMMAND with stdout to OUTFILE, in the background so
# that a signal to this script is handled at once (and cleanup stops COMMAND too).
run() {
    local outfile=$1
    shift
    "$@" >"$outfile" &
    child_pid=$!
    local status=0
    wait "$child_pid" || status=$?
    child_pid=
    return "$status"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESCRIPTION PID SECONDS COMMAND...: polls COMMAND every 50 ms until it
# succeeds; fails if PID exits or SECONDS pass.
wait_for() {
    local what=$1 pid=$2 limit=$3
    shift 3
    local deadline=$((SECONDS + limit))
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || fail "$what: the process exited"
        ((SECONDS < deadline)) || fail "$what: not ready after ${limit}s"
        sleep 0.05
    done
}

# ---- broker --------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=tcp://127.0.0.1:$port
"$tansu" broker --listener-url "$url" --advertised-listener-url "$url" >"$tmp/broker.log" 2>&1 &
broker_pid=$!
wait_for "Tansu broker on 127.0.0.1:$port" "$broker_pid" 20 port_open "$port"
for topic in bench-baseline bench-sluice; do
    timeout 30 "$tansu" topic create --broker "$url" --partitions "$partitions" "$topic" >>"$tmp/topics.log" 2>&1 ||
        fail "creating topic $topic failed"
done

echo "bench: $events events of 200 bytes over $keys keys, topics of $partitions partitions, Tansu on 127.0.0.1:$port" >&2

# ---- 1. plain librdkafka -------------------------------------------------------
run "$tmp/baseline.out" "$out/rdkafka_baseline" --brokers "127.0.0.1:$port" --topic bench-baseline \
    --events "$events" --keys "$keys" --timeout-s "$timeout_s" ||
    fail "the librdkafka baseline failed"
baseline=$(grep '^events=' "$tmp/baseline.out" | tail -n 1)

# ---- 2. through Sluice ---------------------------------------------------------
socket=$tmp/sluice.sock
"$gateway_bin" serve --socket "$socket" --brokers "127.0.0.1:$port" >"$tmp/gateway.log" 2>&1 &
gateway_pid=$!
wait_for "gateway on $socket" "$gateway_pid" 30 test -S "$socket"
run "$tmp/sluice.out" "$out/sluice_publisher" --socket "$socket" --topic bench-sluice \
    --events "$events" --keys "$keys" --timeout-s "$timeout_s" ||
    fail "the Sluice publisher failed"
through=$(grep '^events=' "$tmp/sluice.out" | tail -n 1)
kill -0 "$gateway_pid" 2>/dev/null || fail "the gateway exited"
published=$(timeout 30 "$gateway_bin" stats --socket "$socket" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["records"]["published"])') ||
    fail "sluice stats failed"

# ---- report --------------------------------------------------------------------
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
base_rate=$(field rate "$baseline")
sluice_rate=$(field rate "$through")
printf '\n%-58s %12s %9s\n' "path ($events events, ~200 B, $keys keys)" "events/s" "seconds"
printf '%-58s %12s %9s\n' "plain librdkafka producer (acks=all, idempotent, lz4)" "$base_rate" "$(field seconds "$baseline")"
printf '%-58s %12s %9s\n' "Sluice: C client -> socket -> gateway -> Kafka (durable)" "$sluice_rate" "$(field seconds "$through")"
awk -v s="$sluice_rate" -v b="$base_rate" 'BEGIN { printf "%-58s %12.2f\n", "ratio Sluice / baseline", s / b }'
expected=$((events + 1))
if [ "$published" = "$expected" ]; then
    echo "gateway records.published: $published ($events + 1 warm-up) - all published"
else
    fail "gateway records.published is $published, expected $expected"
fi
