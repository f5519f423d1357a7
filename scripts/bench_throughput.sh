# The "throughput" scenario of scripts/bench.sh (sourced by it; not run on its own),
# and the single baseline run the other scenarios use when it is not chosen.
#
# Sluice is measured in two modes, each against the bare producer doing the same work:
# the default (the gateway stamps its four headers; the same-work producer is baseline_h)
# and kafka.stamp-headers: [] (no stamped headers; the same-work producer is baseline).
# Each repetition runs these configurations, one after the other, each against its own
# fresh (empty, in-memory) Tansu broker, Sluice's each with its own fresh gateway:
#
#   baseline_h  bench/rdkafka_baseline --stamp-headers: the bare librdkafka producer (the
#               gateway's settings), every record carrying the four headers the gateway
#               stamps, made the way the gateway makes them
#   sluice1     one bench/sluice_publisher -> gateway -> broker, durable acks
#   sluiceN     BENCH_CLIENTS (4) sluice_publisher processes at once (see below)
#   baseline    the bare producer without headers
#   sluice1_nh  as sluice1, the gateway configured with kafka.stamp-headers: []
#   sluiceN_nh  as sluiceN, the same
#   sluice1z    as sluice1, with the client compressing its batches (zstd level 1), to show
#               what compression on the socket costs (the C client's default is off)
#
#   sluiceN's   BENCH_CLIENTS (4) sluice_publisher processes at once, the events split
#               among them (the remainder to the first). They share the key space: each
#               draws its keys from all BENCH_KEYS keys (its own generator seed, from
#               --first-seq) and numbers its events from its own first seq, so together
#               they send distinct events, as several processes on a host publishing
#               events of the same players would.
#
# Every publisher warms up (connects, one record acked), makes all its events in memory
# (so that making them is in no CPU figure), says "ready", and blocks on a
# FIFO; the script then reads the CPU counters of the gateway and the broker, writes one
# byte per publisher to the FIFO, waits for every publisher to exit and reads the
# counters again. So:
#   - events/s = all events / (latest end - earliest start), the publishers' own
#     CLOCK_MONOTONIC readings (system-wide, so comparable across processes);
#   - a publisher's CPU is measured in the process itself with getrusage(RUSAGE_SELF)
#     from its clock's start to the end of its final flush (all threads; microseconds;
#     the kernel's total is the scheduler's exact runtime, only its split into user and
#     sys is sampled), so a process's start, connection, warm-up and exit are left out;
#   - the gateway's context switches (gateway_vcsw, gateway_ivcsw: voluntary and involuntary,
#     per million events) are summed over /proc/PID/task/*/status at the same two moments;
#   - the gateway's CPU per kind of thread (cpu_NAME, per million events: cpu_sluice_publish,
#     cpu_rdk_broker, ...) from /proc/PID/task/*/stat at the same two moments, live threads only;
#   - the gateway's and the broker's CPU is utime + stime from /proc/PID/stat (all
#     threads, exited ones included; in 10 ms ticks, under 1 % of a 1M-event figure)
#     read just before the start signal and just after the last publisher exited.
# Each is reported as CPU-seconds per million events; the gateway's also as user + sys.
#
# Latency: after the repetitions, per mode, BENCH_REPS runs (fresh broker and gateway
# each) of one publisher paced at half the mode's median 1-client rate of this run for
# BENCH_LATENCY_SECONDS, with --latency: per record, the time from its sluice_publish()
# call to the client reading the ACK that covers it (how: the head of
# bench/sluice_publisher.c) (latency, latency_nh). Each is followed by the same-work bare
# producer paced at the same rate (fresh broker: latency_bare_h stamping the four headers,
# latency_bare without), timing every record from its produce call to its own delivery
# report, and to the last report of its 1 ms batch (when a durable ACK of the batch could
# go out, which is what the Sluice figure measures): what librdkafka and the broker take alone.
# The 1-client throughput runs record the same at the maximum rate (a closed loop: there
# the latency is mostly the queue in the window of unacked batches).
#
# Every run appends one line of key=value to $tmp/throughput.txt; scripts/bench_stats.py
# "throughput" turns them into the report (medians, min-max, ratios, targets).

tp_fd=
tp_pids=() # the running publishers (cleanup in bench.sh stops them)

# tp_latency_bare CONFIG REP RATE [ARGS...]: the bare producer paced at RATE on a fresh broker.
tp_latency_bare() {
    local config=$1 rep=$2 rate=$3 result
    shift 3
    tp_broker bench-latency
    run "$tmp/$config-$rep.out" "$out/rdkafka_baseline" --brokers "127.0.0.1:$port" --topic bench-latency \
        --keys "$keys" --rate "$rate" --seconds "$latency_seconds" --timeout-s $((latency_seconds + timeout_s)) \
        "$@" 2>"$tmp/$config-$rep.log" || fail "latency (rep $rep): the paced bare producer ($config) failed"
    result=$(grep '^events=' "$tmp/$config-$rep.out" | tail -n 1)
    echo "config=$config rep=$rep target_rate=$rate rate=$(field rate "$result")" \
        "p50_ms=$(field latency_p50_ms "$result") p99_ms=$(field latency_p99_ms "$result")" \
        "max_ms=$(field latency_max_ms "$result") batch_p50_ms=$(field batch_p50_ms "$result")" \
        "batch_p99_ms=$(field batch_p99_ms "$result") batch_max_ms=$(field batch_max_ms "$result")" |
        tee -a "$tmp/throughput.txt" >&2
}

# tp_broker TOPIC: stops the previous broker and starts a fresh one; sets port.
tp_broker() {
    stop "$broker_pid"
    broker_pid=
    port=$(free_port)
    start_broker "$port" broker-throughput
    create_topic "$port" "$1"
}

# tp_publishers LABEL N CMD...: starts N copies of CMD (the events split among them, with
# --events/--first-seq/--start-fifo appended), waits for each to be ready, samples the
# CPU of the gateway (if running) and the broker, starts them together, waits for them
# all, samples again. Sets tp_result (key=value: events, rate, client CPU, gateway and
# broker CPU) and tp_outs (the publishers' result lines, one per line).
tp_publishers() {
    local label=$1 n=$2 k share first count g0="0 0" b0 g1="0 0" b1 rc s0="0 0" s1="0 0" t0= t1=
    shift 2
    share=$((events / n))
    # The start signal: this script holds the FIFO open read-write (so the publishers'
    # opens do not block) only while they start, so nothing else inherits it.
    local fifo=$tmp/$label.fifo
    mkfifo "$fifo"
    exec {tp_fd}<>"$fifo"
    tp_pids=()
    for ((k = 0; k < n; k++)); do
        first=$((k * share + (k > 0 ? events - share * n : 0)))
        count=$((k == 0 ? share + events - share * n : share))
        "$@" --events "$count" --first-seq "$first" --start-fifo "$fifo" \
            >"$tmp/$label-$k.out" 2>"$tmp/$label-$k.log" {tp_fd}>&- &
        tp_pids+=($!)
    done
    for ((k = 0; k < n; k++)); do
        wait_for "$label: publisher $k ready" "${tp_pids[k]}" 120 grep -qs '^ready$' "$tmp/$label-$k.log"
    done
    if [ -n "$gateway_pid" ]; then
        g0=$(cpu_split "$gateway_pid")
        s0=$(ctx_switches "$gateway_pid")
        t0=$(thread_ticks "$gateway_pid")
    fi
    b0=$(cpu_split "$broker_pid")
    head -c "$n" /dev/zero >&"$tp_fd"
    exec {tp_fd}>&- # the bytes stay in the pipe for the publishers, which hold it open
    for ((k = 0; k < n; k++)); do
        rc=0
        wait "${tp_pids[k]}" || rc=$?
        ((rc == 0)) || fail "$label: publisher $k exited with status $rc"
    done
    tp_pids=()
    if [ -n "$gateway_pid" ]; then
        kill -0 "$gateway_pid" 2>/dev/null || fail "$label: the gateway exited"
        g1=$(cpu_split "$gateway_pid")
        s1=$(ctx_switches "$gateway_pid")
        t1=$(thread_ticks "$gateway_pid")
    fi
    b1=$(cpu_split "$broker_pid")
    tp_outs=$(for ((k = 0; k < n; k++)); do grep '^events=' "$tmp/$label-$k.out" | tail -n 1; done)
    tp_result=$(awk -v g0="$g0" -v g1="$g1" -v b0="$b0" -v b1="$b1" -v s0="$s0" -v s1="$s1" -v n="$events" '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
          if (NR == 1 || f["start"] < s) s = f["start"]; if (NR == 1 || f["end"] > e) e = f["end"]
          cu += f["cpu_user"]; cs += f["cpu_sys"] }
        END { split(g0, a, " "); split(g1, b, " "); split(b0, c, " "); split(b1, d, " ")
              m = 1e6 / n
              printf "events=%d seconds=%.3f rate=%.0f client_cpu=%.3f client_user=%.3f client_sys=%.3f", \
                  n, e - s, n / (e - s), (cu + cs) * m, cu * m, cs * m
              split(s0, x, " "); split(s1, y, " ")
              printf " gateway_cpu=%.3f gateway_user=%.3f gateway_sys=%.3f broker_cpu=%.3f", \
                  (b[1] + b[2] - a[1] - a[2]) * m, (b[1] - a[1]) * m, (b[2] - a[2]) * m, \
                  (d[1] + d[2] - c[1] - c[2]) * m
              printf " gateway_vcsw=%.0f gateway_ivcsw=%.0f", (y[1] - x[1]) * m, (y[2] - x[2]) * m }' <<<"$tp_outs")
    if [ -n "$t1" ]; then tp_result+=$(thread_cpu_fields "$t0" "$t1" "$events"); fi
}

# one_publisher_run LABEL REP FILE TOPIC CMD...: a fresh broker and gateway (with the file
# $gateway_config when set), one publisher CMD on TOPIC; fails unless the gateway published every
# event plus the publisher's warm-up; appends the result line (config=LABEL) to FILE. The
# gateway's last STATS stay in $tmp/LABEL-REP-stats.json.
one_publisher_run() {
    local label=$1 rep=$2 file=$3 topic=$4 published warmup
    shift 4
    tp_broker "$topic"
    start_gateway "$label-$rep" "127.0.0.1:$port"
    tp_publishers "$label-$rep" 1 "$@" --socket "$socket" --topic "$topic" --keys "$keys" --timeout-s "$timeout_s"
    stats_now "$tmp/$label-$rep-stats.json"
    published=$(python3 "$stats_py" field "$tmp/$label-$rep-stats.json" records.published)
    warmup=$(field warmup "$tp_outs")
    [ "$published" = "$((events + warmup))" ] ||
        fail "$label (rep $rep): gateway records.published is $published, expected $((events + warmup)) ($events + $warmup warm-up)"
    stop "$gateway_pid"
    gateway_pid=
    echo "config=$label rep=$rep clients=1 $tp_result" | tee -a "$file" >&2
}

# tp_sluice LABEL N REP [PUBLISHER OPTION...]: a fresh broker and gateway (with the file
# $gateway_config when set), N publishers; appends the result.
tp_sluice() {
    local label=$1 n=$2 rep=$3 published expected lat=()
    shift 3
    tp_broker bench-sluice
    start_gateway "$label-$rep" "127.0.0.1:$port"
    if ((n == 1)); then lat=(--latency); fi
    tp_publishers "$label-$rep" "$n" "$out/sluice_publisher" --socket "$socket" --topic bench-sluice \
        --keys "$keys" --timeout-s "$timeout_s" "${lat[@]}" "$@"
    stats_now "$tmp/$label-$rep-stats.json"
    published=$(python3 "$stats_py" field "$tmp/$label-$rep-stats.json" records.published)
    expected=$((events + n))
    [ "$published" = "$expected" ] ||
        fail "$label (rep $rep): gateway records.published is $published, expected $expected ($events + $n warm-up)"
    stop "$gateway_pid"
    gateway_pid=
    local extra=
    if ((n == 1)); then
        extra=" p50_ms=$(field latency_p50_ms "$tp_outs") p99_ms=$(field latency_p99_ms "$tp_outs")"
        extra+=" acks_out_of_order=$(field latency_acks_out_of_order "$tp_outs")"
    fi
    echo "config=$label rep=$rep clients=$n $tp_result$extra" | tee -a "$tmp/throughput.txt" >&2
}

# tp_latency MODE RATE REP: one Sluice client paced at RATE (gateway with $gateway_config
# when set), then the same-work bare producer at the same rate.
tp_latency() {
    local mode=$1 rate=$2 rep=$3 config=latency bare=latency_bare_h result
    local bare_args=(--stamp-headers)
    if [ "$mode" = nh ]; then
        config=latency_nh bare=latency_bare
        bare_args=()
    fi
    tp_broker bench-latency
    start_gateway "$config-$rep" "127.0.0.1:$port"
    run "$tmp/$config-$rep.out" "$out/sluice_publisher" --socket "$socket" --topic bench-latency --keys "$keys" \
        --rate "$rate" --seconds "$latency_seconds" --latency --timeout-s $((latency_seconds + timeout_s)) \
        2>"$tmp/$config-$rep.log" || fail "$config (rep $rep): the publisher failed"
    result=$(grep '^events=' "$tmp/$config-$rep.out" | tail -n 1)
    stop "$gateway_pid"
    gateway_pid=
    echo "config=$config rep=$rep target_rate=$rate rate=$(field rate "$result")" \
        "p50_ms=$(field latency_p50_ms "$result") p99_ms=$(field latency_p99_ms "$result")" \
        "max_ms=$(field latency_max_ms "$result") max_lag_ms=$(field max_lag_ms "$result")" \
        "acks=$(field latency_acks "$result") acks_out_of_order=$(field latency_acks_out_of_order "$result")" \
        "note=$(kv latency_note "$result" | tr ' ' '_')" | tee -a "$tmp/throughput.txt" >&2
    tp_latency_bare "$bare" "$rep" "$rate" "${bare_args[@]}"
}

throughput_scenario() {
    local rep rate lat_rate lat_rate_nh load0 no_headers=$tmp/stamp-none.yaml
    : >"$tmp/throughput.txt"
    printf 'kafka:\n  stamp-headers: []\n' >"$no_headers"
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "bench: throughput: $reps repetitions of: the bare producer with the stamped headers, Sluice with 1 and" \
        "$clients clients; the bare producer without headers, Sluice with 1 and $clients clients stamping none;" \
        "Sluice with 1 zstd client; $events events of 200 bytes over $keys keys each, topics of $partitions" \
        "partitions, a fresh broker for each run" >&2
    for ((rep = 1; rep <= reps; rep++)); do
        gateway_config=
        tp_broker bench-baseline
        tp_publishers "baseline_h-$rep" 1 "$out/rdkafka_baseline" --brokers "127.0.0.1:$port" \
            --topic bench-baseline --keys "$keys" --timeout-s "$timeout_s" --stamp-headers
        echo "config=baseline_h rep=$rep clients=1 $tp_result" | tee -a "$tmp/throughput.txt" >&2
        tp_sluice sluice1 1 "$rep"
        tp_sluice sluiceN "$clients" "$rep"
        tp_broker bench-baseline
        tp_publishers "baseline-$rep" 1 "$out/rdkafka_baseline" --brokers "127.0.0.1:$port" --topic bench-baseline \
            --keys "$keys" --timeout-s "$timeout_s"
        echo "config=baseline rep=$rep clients=1 $tp_result" | tee -a "$tmp/throughput.txt" >&2
        gateway_config=$no_headers
        tp_sluice sluice1_nh 1 "$rep"
        tp_sluice sluiceN_nh "$clients" "$rep"
        gateway_config=
        tp_sluice sluice1z 1 "$rep" --zstd-level 1
    done
    rate=$(python3 "$stats_py" median "$tmp/throughput.txt" sluice1 rate)
    lat_rate=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 2 }')
    rate=$(python3 "$stats_py" median "$tmp/throughput.txt" sluice1_nh rate)
    lat_rate_nh=$(awk -v r="$rate" 'BEGIN { printf "%d", r / 2 }')
    ((lat_rate > 0 && lat_rate_nh > 0)) || fail "throughput: no 1-client rate to halve"
    echo "bench: latency: $reps runs of one client paced at half the median 1-client rate ($lat_rate events/s;" \
        "$lat_rate_nh stamping no headers) for ${latency_seconds}s, durable, each with the same-work producer" >&2
    for ((rep = 1; rep <= reps; rep++)); do
        gateway_config=
        tp_latency h "$lat_rate" "$rep"
        gateway_config=$no_headers
        tp_latency nh "$lat_rate_nh" "$rep"
        gateway_config=
    done
    # The in-memory broker holds every record: give its memory back before the next scenario.
    stop "$broker_pid"
    broker_pid=
    echo
    python3 "$stats_py" throughput "$tmp/throughput.txt" --clients "$clients" --events "$events" --keys "$keys" \
        --partitions "$partitions" --latency-seconds "$latency_seconds"
    echo "(load average, 1/5/15 min: $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(nproc)" \
        "cores. Other work on the machine shows as a wide min-max.)"
    base_rate=$(python3 "$stats_py" median "$tmp/throughput.txt" baseline rate)
}

# single_baseline: one run of the bare producer (when the throughput scenario is not chosen).
single_baseline() {
    local baseline
    port=$(free_port)
    start_broker "$port" broker-baseline
    create_topic "$port" bench-baseline
    echo "bench: $events events of 200 bytes over $keys keys, topics of $partitions partitions, Tansu on 127.0.0.1:$port" >&2
    run "$tmp/baseline.out" "$out/rdkafka_baseline" --brokers "127.0.0.1:$port" --topic bench-baseline \
        --events "$events" --keys "$keys" --timeout-s "$timeout_s" ||
        fail "the librdkafka baseline failed"
    baseline=$(grep '^events=' "$tmp/baseline.out" | tail -n 1)
    base_rate=$(field rate "$baseline")
    printf '\n%-58s %12s %9s\n' "baseline ($events events, ~200 B, $keys keys)" "events/s" "seconds"
    printf '%-58s %12s %9s\n' "plain librdkafka producer (acks=all, idempotent, lz4)" "$base_rate" \
        "$(field seconds "$baseline")"
    stop "$broker_pid"
    broker_pid=
}
