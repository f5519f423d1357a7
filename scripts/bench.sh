#!/usr/bin/env bash
# `make bench`: Sluice against a bare librdkafka producer measured in the same run
# (runs vary by 20-50 % from one run to the next, so only ratios within a run mean
# much). Three scenarios, all by default; BENCH_SCENARIOS picks some, e.g.
# BENCH_SCENARIOS=outage make bench.
#
#   throughput  BENCH_REPS (3) repetitions of: the bare librdkafka producer (the
#               baseline), Sluice with 1 C client, Sluice with BENCH_CLIENTS (4) C
#               clients at once (C client -> Unix socket -> gateway -> Kafka, durable
#               acks), each run on a fresh Tansu broker (and gateway). For each:
#               events/s and CPU-seconds per million events of every process (the
#               publishers', measured in themselves with getrusage; the gateway's and
#               the broker's from /proc/PID/stat over the same window), median and
#               min-max. Then BENCH_REPS runs of one client paced at half the median
#               1-client rate for BENCH_LATENCY_SECONDS: durable-ack latency p50/p99
#               per record (also reported at the maximum rate, from the 1-client
#               runs). Ratios to the baseline and issue #9's targets with ok/MISSED.
#               How each figure is taken: scripts/bench_throughput.sh.
#   outage      with no broker reachable (the gateway points at a loopback port
#               where nothing listens), one C client publishes BENCH_OUTAGE_EVENTS
#               durable events, all spooled (synchronous=FULL): spool ingest rate,
#               gateway RSS with all of them spooled, gateway CPU-seconds per million
#               events. Then a broker starts on that port and the drain rate is
#               measured from retry.pending in STATS; the same with a small backlog
#               (BENCH_OUTAGE_SMALL_EVENTS), and the ratio of the two drain rates.
#   recovery    a C client publishes BENCH_RECOVERY_RATE events/s (durable) for
#               BENCH_RECOVERY_SECONDS; the broker is killed with -9 at 10 s and a
#               fresh one (same port, topic re-created) starts at 20 s. Peak pending,
#               seconds from the broker's return until the breaker is CLOSED and
#               until the spool is empty, the client's acked events against the
#               gateway's published + pending, and (BENCH_RECOVERY_VERIFY, default 1)
#               the topic read back from the new broker: every event sent after the
#               kill there (or still pending), no duplicates counted as events, no
#               per-key reordering.
#   java        the Java client (clients/java) against the C client, BENCH_REPS times each, one
#               publisher on a fresh broker and gateway: events/s, CPU per event of publisher,
#               gateway and broker, and Java/C rate with issue #18's target (scripts/bench_java.sh).
#   contracts   the gateway's CPU per event with the MyNewEvent topic contract against the same
#               run without contracts, BENCH_REPS times each, one C client sending the seed's
#               envelope (BENCH_CONTRACT_VALUE_BYTES, 224 B), with issue #20's target <= 1.3x
#               (scripts/bench_contracts.sh).
#   ab          only when named: this checkout's gateway (a) against another build of it
#               (b, BENCH_GATEWAY_B), 1 and BENCH_CLIENTS C clients, BENCH_REPS times each in
#               alternating order: events/s and the gateway's CPU per event, b / a
#               (scripts/bench_ab.sh). For "before against after" on one machine.
#
# Every scenario reports its rates as ratios to the bare producer measured at the
# start of the same run (the "baseline": the median of the throughput scenario's
# baseline runs, or one run when that scenario is not chosen), and raw values.
# Targets (issues #7 and #9) are printed next to them. Helpers: scripts/bench_lib.sh.
#
#   BENCH_SCENARIOS             "throughput outage recovery java contracts" (default: all five; "ab" on request)
#   BENCH_GATEWAY_B             the other sluice executable of scenario ab
#   BENCH_EVENTS                events per throughput/baseline run (default 1000000), split
#                               among the clients in the multi-client runs
#   BENCH_REPS                  repetitions of each throughput configuration (default 3)
#   BENCH_CLIENTS               C clients of the multi-client configuration (default 4)
#   BENCH_LATENCY_SECONDS       duration of each paced latency run (default 10)
#   BENCH_KEYS                  distinct keys (default 10000)
#   BENCH_TIMEOUT               seconds each publisher may take, produce + flush (default 300)
#   BENCH_OUTAGE_EVENTS         large backlog of the outage scenario (default 1000000)
#   BENCH_OUTAGE_SMALL_EVENTS   small backlog of the outage scenario (default 10000)
#   BENCH_DRAIN_TIMEOUT         longest wait for a backlog to drain, seconds (default 600);
#                               past it the rate so far is reported ("did not drain")
#   BENCH_RECOVERY_RATE         events/s of the recovery client (default 20000)
#   BENCH_RECOVERY_SECONDS      its duration (default 60; the kill is at 10 s, the return at 20 s)
#   BENCH_RECOVERY_DRAIN_TIMEOUT  how long after the load stops to wait for an empty spool (default 120)
#   BENCH_RECOVERY_VERIFY       1 (default): read the topic back after the recovery scenario; 0: skip
#   BENCH_STATS_INTERVAL_MS     STATS sampling period (default 250; 20 for backlogs of 100k or less)
#   BENCH_CONTRACT_VALUE_BYTES  size of the contracts scenario's envelopes (default 224, at least 218)
#   BENCH_LOG_DIR               if set, logs and STATS samples are copied there at the end
#
# The gateway runs with its defaults, except the socket, spool and brokers paths
# (a spool in a temporary directory, never /var/lib/sluice). Expects the release
# gateway (.build/release/sluice; `make bench` builds it). Everything it starts
# listens on loopback only and is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/bench_lib.sh
source "$root/scripts/bench_lib.sh"
# shellcheck source=scripts/bench_throughput.sh
source "$root/scripts/bench_throughput.sh"
# shellcheck source=scripts/bench_java.sh
source "$root/scripts/bench_java.sh"
# shellcheck source=scripts/bench_contracts.sh
source "$root/scripts/bench_contracts.sh"
# shellcheck source=scripts/bench_ab.sh
source "$root/scripts/bench_ab.sh"
# shellcheck source=scripts/bench_outage.sh
source "$root/scripts/bench_outage.sh"

scenarios=${BENCH_SCENARIOS:-throughput outage recovery java contracts}
events=${BENCH_EVENTS:-1000000}
keys=${BENCH_KEYS:-10000}
timeout_s=${BENCH_TIMEOUT:-300}
outage_events=${BENCH_OUTAGE_EVENTS:-1000000}
outage_small=${BENCH_OUTAGE_SMALL_EVENTS:-10000}
drain_timeout=${BENCH_DRAIN_TIMEOUT:-600}
recovery_rate=${BENCH_RECOVERY_RATE:-20000}
recovery_seconds=${BENCH_RECOVERY_SECONDS:-60}
recovery_drain_timeout=${BENCH_RECOVERY_DRAIN_TIMEOUT:-120}
stats_interval=${BENCH_STATS_INTERVAL_MS:-}
reps=${BENCH_REPS:-3}
clients=${BENCH_CLIENTS:-4}
latency_seconds=${BENCH_LATENCY_SECONDS:-10}
for v in "$events" "$keys" "$timeout_s" "$reps" "$clients" "$latency_seconds" "$outage_events" "$outage_small" \
    "$drain_timeout" "$recovery_rate" "$recovery_seconds" "$recovery_drain_timeout" ${stats_interval:+"$stats_interval"}; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench: the BENCH_* counts and times must be positive integers (got '$v')" >&2; exit 2; }
done
want_throughput=0 want_outage=0 want_recovery=0 want_java=0 want_contracts=0 want_ab=0
for s in $scenarios; do
    case $s in
    throughput) want_throughput=1 ;;
    outage) want_outage=1 ;;
    recovery) want_recovery=1 ;;
    java) want_java=1 ;;
    contracts) want_contracts=1 ;;
    ab) want_ab=1 ;;
    *) echo "bench: unknown scenario '$s' in BENCH_SCENARIOS (throughput, outage, recovery, java, contracts, ab)" >&2; exit 2 ;;
    esac
done
((want_throughput + want_outage + want_recovery + want_java + want_contracts + want_ab > 0)) || { echo "bench: BENCH_SCENARIOS names no scenario" >&2; exit 2; }
((clients <= events)) || { echo "bench: BENCH_CLIENTS must not exceed BENCH_EVENTS" >&2; exit 2; }
((recovery_seconds > 20)) || { echo "bench: BENCH_RECOVERY_SECONDS must be more than 20 (kill at 10 s, return at 20 s)" >&2; exit 2; }

rdkafka=$root/.deps/librdkafka
tansu=$root/.deps/bin/tansu
gateway_bin=$root/.build/release/sluice
out=$root/bench/build
stats_py=$root/scripts/bench_stats.py
partitions=8

[ -x "$tansu" ] && [ -f "$rdkafka/include/librdkafka/rdkafka.h" ] || { echo "bench: dependencies missing; run 'make setup'" >&2; exit 1; }
[ -x "$gateway_bin" ] || { echo "bench: $gateway_bin missing; run 'make release' (or 'make bench')" >&2; exit 1; }

# ---- build the publishers and the STATS sampler --------------------------------
make -s -C clients/c build/libsluice.a >/dev/null
mkdir -p "$out"
CC=${CC:-cc}
CFLAGS=(-O2 -Wall -Wextra -Werror)
# -isystem: rdkafka.h itself trips -Wextra (a const-qualified return type).
"$CC" "${CFLAGS[@]}" -isystem "$rdkafka/include" bench/rdkafka_baseline.c -o "$out/rdkafka_baseline" \
    -L"$rdkafka/lib" -Wl,-rpath,"$rdkafka/lib" -lrdkafka
# --wrap=recv: the publisher sees the ACKs the library reads (its --latency option).
"$CC" "${CFLAGS[@]}" -Iclients/c/include bench/sluice_publisher.c bench/ack_latency.c -o "$out/sluice_publisher" \
    clients/c/build/libsluice.a -lzstd -Wl,--wrap=recv
"$CC" "${CFLAGS[@]}" -Iclients/c/include bench/stats_poll.c -o "$out/stats_poll" clients/c/build/libsluice.a -lzstd
"$CC" "${CFLAGS[@]}" -isystem "$rdkafka/include" bench/count_events.c -o "$out/count_events" \
    -L"$rdkafka/lib" -Wl,-rpath,"$rdkafka/lib" -lrdkafka

# ---- scratch space, cleanup ----------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
broker_pid=
gateway_pid=
child_pid=
poller_pid=
publisher_pid=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop "$child_pid"
    stop "$publisher_pid"
    for pid in "${tp_pids[@]}"; do stop "$pid"; done
    stop "$poller_pid"
    stop "$gateway_pid"
    stop "$broker_pid"
    if [ -n "${BENCH_LOG_DIR:-}" ]; then
        mkdir -p "$BENCH_LOG_DIR" && find "$tmp" -maxdepth 2 \( -name '*.log' -o -name '*.out' -o -name '*.txt' -o -name '*.json' \) \
            -exec cp {} "$BENCH_LOG_DIR"/ \; 2>/dev/null || true
        echo "bench: logs copied to $BENCH_LOG_DIR" >&2
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench: scenarios: $scenarios; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# ---- the baseline, and scenario "throughput" (scripts/bench_throughput.sh) --------
# Every scenario's ratios are to the bare producer's rate measured in this run: the
# median of the throughput scenario's baseline runs, or one run of its own.
if ((want_throughput)); then
    throughput_scenario
elif ((want_outage + want_recovery + want_java > 0)); then
    single_baseline # the contracts scenario compares two runs of its own and needs none
fi

# ---- scenario "outage" (scripts/bench_outage.sh) ------------------------------------
if ((want_outage)); then outage_scenario; fi

# ---- scenario "recovery" ----------------------------------------------------------
if ((want_recovery)); then
    rport=$(free_port)
    start_broker "$rport" broker-recovery-1
    create_topic "$rport" bench-recovery
    start_gateway recovery "127.0.0.1:$rport"
    samples=$tmp/recovery/stats.txt
    start_poller "$samples" "${stats_interval:-250}"
    echo "bench: recovery: $recovery_rate events/s for ${recovery_seconds}s, durable; broker killed (-9) at 10 s," \
        "back (fresh, same port) at 20 s" >&2
    "$out/sluice_publisher" --socket "$socket" --topic bench-recovery --keys "$keys" --rate "$recovery_rate" \
        --seconds "$recovery_seconds" --timeout-s $((recovery_seconds + timeout_s)) \
        >"$tmp/recovery.out" 2>"$tmp/publisher-recovery.log" &
    publisher_pid=$!
    # The client prints its paced start (after its warm-up) on stderr.
    wait_for "recovery client start" "$publisher_pid" 60 grep -qs '^paced start' "$tmp/publisher-recovery.log"
    t0=$(sed -n 's/^paced start realtime=\([0-9.]*\).*/\1/p' "$tmp/publisher-recovery.log")
    # sleep_until T: until wall-clock T, failing if the client or the gateway exits.
    sleep_until() {
        while awk -v t="$1" -v n="$(now)" 'BEGIN { exit !(n < t) }'; do
            kill -0 "$publisher_pid" 2>/dev/null || fail "recovery: the client exited early"
            kill -0 "$gateway_pid" 2>/dev/null || fail "recovery: the gateway exited"
            sleep 0.05
        done
    }
    sleep_until "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 10 }')"
    t_kill=$(now)
    kill -KILL "$broker_pid"
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
    sleep_until "$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 20 }')"
    t_up=$(now)
    start_broker "$rport" broker-recovery-2
    create_topic "$rport" bench-recovery
    echo "bench: recovery: broker killed at +$(elapsed "$t0" "$t_kill")s, back at +$(elapsed "$t0" "$t_up")s" \
        "(topic re-created +$(elapsed "$t_up")s later)" >&2
    rc=0
    wait "$publisher_pid" || rc=$?
    publisher_pid=
    t_end=$(now)
    result=$(grep '^events=' "$tmp/recovery.out" | tail -n 1 || true)
    [ -n "$result" ] || fail "recovery: the client printed no result (exit status $rc)"
    ((rc == 0)) || echo "bench: recovery: the client exited with status $rc: $result" >&2
    acked=$(field acked "$result")
    # The load is the client's sending; its final flush (waiting for the last acks) is not.
    t_send_end=$(awk -v t="$t0" -v s="$(field seconds "$result")" 'BEGIN { printf "%.3f", t + s }')
    # Load over: wait (bounded) for the spool to empty, then a last STATS.
    wait_out=$(python3 "$stats_py" wait "$samples" --pending-zero --since "$t_up" \
        --timeout "$recovery_drain_timeout" --watch-pid "$gateway_pid") || true
    sleep 0.5
    stop_poller
    report=$(python3 "$stats_py" recovery "$samples" --start "$t0" --kill "$t_kill" --up "$t_up" \
        --load-end "$t_send_end" --topic bench-recovery --acked "$acked")
    closed=$(kv closed_after_return_s "$report")
    empty=$(kv empty_after_return_s "$report")
    echo
    echo "== recovery ($recovery_rate events/s for ${recovery_seconds}s, durable; broker -9 at 10 s, back at 20 s;" \
        "sending ended at +$(elapsed "$t0" "$t_send_end")s, the client's final flush at +$(elapsed "$t0" "$t_end")s)"
    printf '%-58s %s\n' "client" "$result"
    printf '%-58s %s\n' "longest the client waited with no ack coming" "$(field max_ack_stall_ms "$result") ms" \
        "final flush (acks of the last records)" "$(elapsed "$t_send_end" "$t_end") s"
    printf '%-58s %s\n' "peak pending" "$(kv peak_pending "$report") (at +$(kv peak_at_s "$report")s)"
    printf '%-58s %s\n' "seconds from the broker's return to breaker CLOSED" \
        "$closed ($(kv closed_when "$report"); target <= 15 = wait-in-open 10 s + 5 s, under load: $(verdict \
        "$(kv closed_under_load_s "$report")" '<=' 15))"
    printf '%-58s %s\n' "seconds from the broker's return to retry.pending == 0" "$empty ($(kv empty_when "$report"))"
    printf '%-58s %s\n' "acked events accounted for" "$(kv accounting "$report")"
    failed=$(field failed "$result")
    if [ "$failed" != 0 ]; then
        printf '%-58s %s\n' "records the gateway FAILED (not acked; durable client)" \
            "$failed (codes of the first ones the client logged: $(grep -o 'failed: [A-Z_]*' "$tmp/publisher-recovery.log" |
                sed 's/failed: //' | sort -u | paste -sd ' '))"
    fi
    echo "after the load stopped: $wait_out"
    sed 's/^/    /' <<<"$report"
    # Stop the gateway (SIGTERM: it spools what Kafka did not take) before reading back,
    # so nothing moves between the read and the look into its spool.
    stop "$gateway_pid" 15
    gateway_pid=
    if [ "${BENCH_RECOVERY_VERIFY:-1}" = 1 ]; then
        # Events sent after the kill: those the client scheduled after it, plus its largest lag.
        sent=$(field events "$result")
        min_seq=$(awk -v r="$recovery_rate" -v t0="$t0" -v tk="$t_kill" -v lag="$(field max_lag_events "$result")" \
            'BEGIN { s = int(r * (tk - t0)) + 1 + lag; print s }')
        ((min_seq <= sent)) || min_seq=$sent
        count=$("$out/count_events" --brokers "127.0.0.1:$rport" --topic bench-recovery --events "$sent" \
            --min-seq "$min_seq" --keys "$keys" --idle-ms 2000 --timeout-s "$timeout_s" \
            --missing-out "$tmp/recovery/missing.txt" 2>>"$tmp/count-recovery.log") ||
            echo "bench: recovery: reading the topic back failed or timed out: $count" >&2
        found=$(field seqs_from_min "$count")
        of=$(field of "$count")
        if [[ $found =~ ^[0-9]+$ && $of =~ ^[0-9]+$ ]]; then
            check=$(python3 "$stats_py" spool-check "$tmp/recovery/spool.db" --topic bench-recovery \
                --missing "$tmp/recovery/missing.txt") || true
            neither=$(kv in_neither "$check")
            # Records the gateway failed were not acked (the client was told): they need not be anywhere.
            if ((found == of)); then
                verdict_read="all in Kafka"
            elif [[ $neither =~ ^[0-9]+$ ]] && ((neither <= failed)); then
                verdict_read="the other $((of - found)) in the spool ($(kv of_those_in_spool "$check")) or failed to the"
                verdict_read+=" client ($failed): none lost"
            elif [[ $neither =~ ^[0-9]+$ ]]; then
                verdict_read="MISSING $((neither - failed)) acked events, in neither Kafka nor the spool"
                verdict_read+=" (first seq $(kv first_in_neither "$check"); $failed failed to the client)"
            else
                verdict_read="$((of - found)) not in Kafka; spool not readable: $check"
            fi
            printf '%-58s %s\n' "events sent after the kill (seq >= $min_seq), in Kafka" "$found of $of; $verdict_read"
            printf '%-58s %s\n' "read back: records / distinct event ids / per-key reordered" \
                "$(field records "$count") / $(field distinct "$count") / $(field reordered "$count")"
            sed 's/^/    /' <<<"$check"
        fi
        sed 's/^/    /' <<<"$count"
    fi
    stop "$broker_pid"
    broker_pid=
fi

# ---- scenario "java" (scripts/bench_java.sh) ----------------------------------------
if ((want_java)); then java_scenario; fi

# ---- scenario "contracts" (scripts/bench_contracts.sh) ------------------------------
if ((want_contracts)); then contracts_scenario; fi

# ---- scenario "ab" (scripts/bench_ab.sh), only when asked for ------------------------
if ((want_ab)); then ab_scenario; fi
