# shellcheck shell=bash
# Scenario "ab" of scripts/bench.sh (sourced by it; uses its variables, scripts/bench_lib.sh and
# tp_sluice of scripts/bench_throughput.sh): this checkout's gateway against another build of it, on
# the same machine in the same run, for "no change in speed" claims (issue #19: before against after).
#
#   BENCH_SCENARIOS=ab BENCH_GATEWAY_B=/path/to/other/sluice make bench
#
# BENCH_REPS repetitions of four runs, each on a fresh broker and gateway with default settings: 1 C
# client and BENCH_CLIENTS (4) C clients, durable, against this checkout's .build/release/sluice (a)
# and BENCH_GATEWAY_B (b). The order of a and b alternates between repetitions. Reported: events/s, the
# gateway's CPU-seconds per million events (user + sys), the same per kind of thread, and its
# threads' voluntary and involuntary context switches per million events, medians and min-max,
# and b / a.

# thread_medians CONFIG: " NAME MEDIAN" for each cpu_NAME field of CONFIG's result lines whose
# median is not 0.
thread_medians() {
    local name median
    for name in $(grep "^config=$1 " "$tmp/throughput.txt" | tr ' ' '\n' | sed -n 's/^cpu_\([^=]*\)=.*/\1/p' | sort -u); do
        median=$(median_value "$tmp/throughput.txt" "$1" "cpu_$name")
        [ "$median" = 0 ] || printf ' %s %s' "$name" "$median"
    done
}

ab_scenario() {
    local rep order side n config a_bin=$gateway_bin b_bin=${BENCH_GATEWAY_B:-}
    [ -x "$b_bin" ] || fail "ab: BENCH_GATEWAY_B must name the other sluice executable (got '$b_bin')"
    : >"$tmp/throughput.txt"
    echo "bench: ab: $reps x (a = $a_bin, b = $b_bin) with 1 and $clients clients, $events durable events each" >&2
    for ((rep = 1; rep <= reps; rep++)); do
        order="a b"
        if ((rep % 2 == 0)); then order="b a"; fi
        for side in $order; do
            if [ "$side" = a ]; then gateway_bin=$a_bin; else gateway_bin=$b_bin; fi
            tp_sluice "${side}_1" 1 "$rep"
            tp_sluice "${side}_$clients" "$clients" "$rep"
        done
    done
    gateway_bin=$a_bin
    echo
    echo "== ab ($events durable events of 200 B over $keys keys; median of $reps, min-max; CPU-s per million events)"
    echo "a: $a_bin"
    echo "b: $b_bin"
    printf '%-12s %24s %24s %24s %24s %24s\n' "" "events/s" "gateway CPU" "gateway user" "gateway sys" \
        "context switches (inv.)"
    for n in 1 "$clients"; do
        for side in a b; do
            config=${side}_$n
            printf '%-12s %24s %24s %24s %24s %24s\n' "$side, $n client(s)" \
                "$(median_cell "$tmp/throughput.txt" "$config" rate)" \
                "$(median_cell "$tmp/throughput.txt" "$config" gateway_cpu)" \
                "$(median_cell "$tmp/throughput.txt" "$config" gateway_user)" \
                "$(median_cell "$tmp/throughput.txt" "$config" gateway_sys)" \
                "$(median_value "$tmp/throughput.txt" "$config" gateway_vcsw) ($(
                    median_value "$tmp/throughput.txt" "$config" gateway_ivcsw))"
        done
        for side in a b; do
            printf '  %s, %s client(s), gateway CPU by thread:%s\n' "$side" "$n" "$(thread_medians "${side}_$n")"
        done
        printf '%-44s %8s\n' "$n client(s): gateway CPU per event, b / a" \
            "$(ratio "$(median_value "$tmp/throughput.txt" "b_$n" gateway_cpu)" \
                "$(median_value "$tmp/throughput.txt" "a_$n" gateway_cpu)")"
        printf '%-44s %8s\n' "$n client(s): events/s, b / a" \
            "$(ratio "$(median_value "$tmp/throughput.txt" "b_$n" rate)" \
                "$(median_value "$tmp/throughput.txt" "a_$n" rate)")"
    done
}
