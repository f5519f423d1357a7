# Helpers of scripts/bench.sh (sourced by it; not run on its own): process control,
# waiting for conditions, arithmetic for the report, /proc readings, and starting the
# dev broker, the gateway and the STATS sampler. They use bench.sh's globals ($tmp,
# $tansu, $gateway_bin, $out, $partitions, $stats_interval and the *_pid variables).

stop() { # stop PID [SECONDS]: SIGTERM, wait up to SECONDS (5), then SIGKILL
    local pid=$1 grace=${2:-5}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

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

# shellcheck source=scripts/port_lib.sh
source "$root/scripts/port_lib.sh" # port_open

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

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# elapsed T0 [T1]: seconds from T0 to T1 (default: now), one decimal.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }
# ratio A B: A / B with two decimals, "n/a" when either is not a number.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# verdict VALUE OP TARGET: "ok" or "MISSED" (n/a when VALUE is not a number).
# median_cell FILE CONFIG KEY: "median (min-max)" of KEY over the result lines of CONFIG in FILE.
median_cell() {
    local values
    values=$(awk -v c="config=$2" -v k="$3" '$1 == c { for (i = 2; i <= NF; i++) { split($i, kv, "=")
        if (kv[1] == k) print kv[2] } }' "$1" | sort -g)
    [ -n "$values" ] || { echo n/a; return; }
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.6g (%.6g-%.6g)\n", m, v[1], v[NR] }' <<<"$values"
}
# median_value FILE CONFIG KEY: the median alone.
median_value() { median_cell "$@" | cut -d' ' -f1; }
# publisher_table FILE CONFIG...: a row per CONFIG of one-publisher runs: events/s, the publisher's,
# the gateway's and the broker's CPU, each "median (min-max)".
publisher_table() {
    local file=$1 cfg
    shift
    printf '%-14s %22s %22s %22s %22s\n' "" "events/s" "publisher CPU" "gateway CPU" "broker CPU"
    for cfg in "$@"; do
        printf '%-14s %22s %22s %22s %22s\n' "$cfg" "$(median_cell "$file" "$cfg" rate)" \
            "$(median_cell "$file" "$cfg" client_cpu)" "$(median_cell "$file" "$cfg" gateway_cpu)" \
            "$(median_cell "$file" "$cfg" broker_cpu)"
    done
}

verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v !~ /^[0-9.]+$/) { print "n/a"; exit }
        ok = (op == ">=") ? (v >= t) : (v <= t)
        print ok ? "ok" : "MISSED" }'
}
clk_tck=$(getconf CLK_TCK)
# ctx_switches PID: "voluntary involuntary" context switches of PID's live threads so far.
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '$1 == "voluntary_ctxt_switches:" { v += $2 }
        $1 == "nonvoluntary_ctxt_switches:" { n += $2 } END { printf "%d %d\n", v, n }'
}
# thread_ticks PID: "TID NAME TICKS" for each live thread of PID: its name from comm (spaces
# as _) and its utime + stime in clock ticks.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        # comm may hold spaces and parentheses; it ends at the last ") ". A thread gone meanwhile is skipped.
        awk -v tid="${t##*/}" '{ c = $0; sub(/^[^(]*\(/, "", c); sub(/\) [^)]*$/, "", c)
            gsub(/[[:space:]]/, "_", c); if (c == "") c = "unnamed"
            r = $0; sub(/^.*\) /, "", r); split(r, f, " "); print tid, c, f[12] + f[13] }' "$t/stat" 2>/dev/null || true
    done
}
# thread_cpu_fields BEFORE AFTER EVENTS: " cpu_NAME=S" per kind of thread between two thread_ticks
# listings, in CPU-seconds per million events; threads named alike (sluice-loop-0, -1) summed.
thread_cpu_fields() {
    awk -v tck="$clk_tck" -v n="$3" 'FNR == NR { before[$1] = $3; next }
        { name = $2; sub(/[-0-9]+$/, "", name); gsub(/[^A-Za-z0-9]+/, "_", name)
          cpu[name] += $3 - before[$1] }
        END { for (k in cpu) printf " cpu_%s=%.3f", k, cpu[k] / tck * 1e6 / n }' \
        <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
# cpu_seconds PID: utime + stime of PID so far (fields 14 and 15 of /proc/PID/stat).
cpu_seconds() {
    awk -v tck="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' "/proc/$1/stat"
}
# cpu_split PID: "USER SYS", seconds of PID so far (fields 14 and 15 of /proc/PID/stat,
# every thread's, the exited ones' included), to the clock tick (1/CLK_TCK s).
cpu_split() {
    awk -v tck="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f %.2f", $12 / tck, $13 / tck }' "/proc/$1/stat"
}
# proc_kib PID FIELD: VmRSS / VmHWM of PID in KiB.
proc_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# kv KEY TEXT: the value of KEY=VALUE (or KEY="VALUE WITH SPACES") in the lines of TEXT.
kv() { sed -n "s/.*\\b$1=\"\\([^\"]*\\)\".*/\\1/p; t; s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

# start_broker PORT LOGNAME: a fresh (empty, in-memory) Tansu on 127.0.0.1:PORT.
start_broker() {
    local url=tcp://127.0.0.1:$1
    "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" >>"$tmp/$2.log" 2>&1 &
    broker_pid=$!
    wait_for "Tansu broker on 127.0.0.1:$1" "$broker_pid" 20 port_open "$1"
}
# create_topic PORT TOPIC: with $partitions partitions. A topic the gateway's producer
# already had auto-created (it reconnects on its own) is reported, not fatal.
create_topic() {
    local said
    if ! said=$(timeout 30 "$tansu" topic create --broker "tcp://127.0.0.1:$1" --partitions "$partitions" "$2" 2>&1); then
        echo "$said" >>"$tmp/topics.log"
        grep -qi 'exist' <<<"$said" || fail "creating topic $2 failed: $said"
        echo "bench: note: topic $2 existed already (auto-created by the gateway's producer?)" >&2
    fi
}
# start_gateway NAME BROKERS: the release gateway with its defaults (or the file
# $gateway_config, when set), socket and spool in $tmp/NAME/; sets gateway_pid and socket.
start_gateway() {
    mkdir -p "$tmp/$1"
    socket=$tmp/$1/sluice.sock
    "$gateway_bin" serve --socket "$socket" --brokers "$2" --spool "$tmp/$1/spool.db" \
        ${gateway_config:+--config "$gateway_config"} >"$tmp/gateway-$1.log" 2>&1 &
    gateway_pid=$!
    wait_for "gateway on $socket" "$gateway_pid" 30 test -S "$socket"
}
# stats_now FILE: one STATS document into FILE.
stats_now() {
    timeout 60 "$gateway_bin" stats --socket "$socket" --json >"$1" || fail "sluice stats failed"
}
# start_poller FILE [INTERVAL_MS]: STATS samples of the running gateway into FILE.
start_poller() {
    "$out/stats_poll" --socket "$socket" --interval-ms "${2:-${stats_interval:-250}}" >"$1" 2>>"$tmp/poller.log" &
    poller_pid=$!
}
stop_poller() { stop "$poller_pid"; poller_pid=; }
