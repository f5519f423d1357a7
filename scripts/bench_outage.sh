# shellcheck shell=bash
# Scenario "outage" of scripts/bench.sh (sourced by it; uses its variables and scripts/bench_lib.sh).
# The drain rate is measured over the steady middle of the drain: from the first STATS
# sample with retry.pending at or below 90% of its peak to the first at or below 10%
# (scripts/bench_stats.py, drain_rate). That leaves out the wait for the breaker to
# close at the start and the tail at the end. A drain that does not reach 10% within
# BENCH_DRAIN_TIMEOUT is reported with its rate so far.
#
# outage_run LABEL N: a gateway pointed at a loopback port where nothing listens; one
# client publishes N durable events, all of which go to the spool. Then a broker
# starts on that port and the backlog drains. Sets o_rate (ingest events/s), o_rss and
# o_hwm (KiB), o_cpu (CPU-s per million ingested), o_drain (drain events/s or n/a),
# o_drain_note, o_report (the analysis lines).
outage_run() {
    local label=$1 n=$2 oport dir interval t_up rc=0 wait_out cpu0 cpu1 cpu2 pending samples
    oport=$(free_port)
    dir=$tmp/outage-$label
    start_gateway "outage-$label" "127.0.0.1:$oport"
    cpu0=$(cpu_seconds "$gateway_pid")
    run "$tmp/outage-$label.out" "$out/sluice_publisher" --socket "$socket" --topic bench-outage \
        --events "$n" --keys "$keys" --timeout-s "$timeout_s" 2>>"$tmp/publisher-outage-$label.log" ||
        fail "outage ($label): the Sluice publisher failed (no broker on 127.0.0.1:$oport)"
    kill -0 "$gateway_pid" 2>/dev/null || fail "outage ($label): the gateway exited"
    cpu1=$(cpu_seconds "$gateway_pid")
    o_rss=$(proc_kib "$gateway_pid" VmRSS)
    o_hwm=$(proc_kib "$gateway_pid" VmHWM)
    o_rate=$(field rate "$(grep '^events=' "$tmp/outage-$label.out" | tail -n 1)")
    o_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) * 1e6 / n }')
    stats_now "$dir/before-drain.json"
    pending=$(python3 "$stats_py" field "$dir/before-drain.json" retry.pending)
    [ "$pending" = "$((n + 1))" ] ||
        echo "bench: outage ($label): retry.pending is $pending with $n + 1 warm-up events acked, no broker" >&2

    # The drain: a broker on the port, the topic re-created, pending sampled until 0.
    # A small backlog drains in well under a second once the spool is fast: sample it
    # often (STATS is cheap on a small spool, and the sampler backs off when it is not).
    interval=${stats_interval:-$(((n <= 100000) ? 5 : 250))}
    samples=$dir/stats.txt
    start_poller "$samples" "$interval"
    sleep 0.5 # a few samples of the full spool first
    t_up=$(now)
    start_broker "$oport" "broker-outage-$label"
    create_topic "$oport" bench-outage
    cpu2=$(cpu_seconds "$gateway_pid")
    wait_out=$(python3 "$stats_py" wait "$samples" --pending-zero --since "$t_up" --timeout "$drain_timeout" \
        --watch-pid "$gateway_pid") || rc=$?
    ((rc != 3)) || fail "outage ($label): the gateway exited during the drain"
    sleep 0.3
    stop_poller
    # Per million drained; the drain is incomplete when it timed out, so per record it ended.
    o_drain_cpu=$(awk -v a="$cpu2" -v b="$(cpu_seconds "$gateway_pid")" -v p="$pending" -v n="$n" \
        -v left="$(python3 "$stats_py" last "$samples" retry.pending)" \
        'BEGIN { if (p !~ /^[0-9]+$/) p = n + 1; if (left !~ /^[0-9]+$/) left = 0
                 d = p - left; if (d > 0) printf "%.2f", (b - a) * 1e6 / d; else print "n/a" }')
    o_report=$(python3 "$stats_py" drain "$samples" --since "$t_up")
    o_drain=$(kv drain_rate "$o_report")
    if ((rc == 0)); then
        o_drain_note="drained: $wait_out"
    else
        o_drain_note="did not drain within ${drain_timeout}s ($wait_out): rate so far"
    fi
    echo "bench: outage ($label): $o_drain_note" >&2
    stop "$gateway_pid"
    gateway_pid=
    stop "$broker_pid"
    broker_pid=
}

outage_scenario() {
    echo "bench: outage: $outage_small then $outage_events durable events with no broker, then drain" \
        "(bounded by ${drain_timeout}s each)" >&2
    outage_run small "$outage_small"
    s_rate=$o_rate s_drain=$o_drain s_note=$o_drain_note s_report=$o_report
    outage_run large "$outage_events"
    l_rate=$o_rate l_drain=$o_drain l_note=$o_drain_note l_report=$o_report
    echo
    echo "== outage (no broker reachable, durable acks, synchronous=FULL; baseline $base_rate events/s)"
    printf '%-50s %12s %8s  %s\n' "" "value" "ratio" "target"
    row() { printf '%-50s %12s %8s  %s\n' "$@"; }
    row "spool ingest, $outage_events events (events/s)" "$l_rate" "$(ratio "$l_rate" "$base_rate")" \
        ">= 0.3x: $(verdict "$(ratio "$l_rate" "$base_rate")" '>=' 0.3)"
    row "spool ingest, $outage_small events (events/s)" "$s_rate" "$(ratio "$s_rate" "$base_rate")" ""
    row "gateway RSS with $outage_events spooled (MiB)" "$(mib "$o_rss")" "" \
        "<= 256 MiB: $(verdict "$(mib "$o_rss")" '<=' 256) (peak VmHWM $(mib "$o_hwm") MiB)"
    row "gateway CPU-s per million events spooled" "$o_cpu" "" ""
    row "drain, $outage_events pending (events/s)" "$l_drain" "$(ratio "$l_drain" "$base_rate")" \
        ">= 0.15x: $(verdict "$(ratio "$l_drain" "$base_rate")" '>=' 0.15)"
    row "drain, $outage_small pending (events/s)" "$s_drain" "$(ratio "$s_drain" "$base_rate")" ""
    row "drain rate ${outage_events} / drain rate ${outage_small}" "" "$(ratio "$l_drain" "$s_drain")" \
        ">= 0.8: $(verdict "$(ratio "$l_drain" "$s_drain")" '>=' 0.8)"
    row "gateway CPU-s per million events drained" "$o_drain_cpu" "" ""
    echo "drain, $outage_events: $l_note"
    sed 's/^/    /' <<<"$l_report"
    echo "drain, $outage_small: $s_note"
    sed 's/^/    /' <<<"$s_report"
    echo "(drain rate: pending from STATS over the steady middle of the drain, from the first sample at or"
    echo " below 90% of the peak to the first at or below 10%; ingest rate: the client's clock, warm-up excluded)"
}
