# shellcheck shell=bash
# Scenario "java" of scripts/bench.sh (sourced by it; uses its variables and scripts/bench_lib.sh):
# the Java client (clients/java, bench/BenchPublisher.java: the same workload, byte for byte, as
# bench/sluice_publisher.c, durable acks, the library's default options) against the C client in
# the same run. BENCH_REPS repetitions of: one C publisher, then one Java publisher, each on a fresh
# broker and gateway (tp_sluice's procedure, scripts/bench_throughput.sh). Reported: events/s and
# CPU-seconds per million events of the publisher (its own process: getrusage for C, /proc/self/stat
# for the whole JVM, JIT and GC included), the gateway and the broker, medians and min-max, and the
# ratio of the medians Java/C with issue #18's target (>= 0.8). Both publishers warm up outside the
# clock: the C one with 1 event (the gateway's producer connects), the Java one with 50,000 more
# (BENCH_JAVA_WARMUP), so its JIT has compiled the hot path; BENCH_JAVA_WARMUP=0 measures a cold JVM.

# java_run LABEL REP CMD...: one publisher CMD on a fresh broker and gateway; appends the result.
java_run() {
    local label=$1 rep=$2
    shift 2
    one_publisher_run "$label" "$rep" "$tmp/java.txt" bench-java "$@"
}


java_scenario() {
    command -v java >/dev/null || fail "java: no JDK; run 'make setup' (openjdk-17-jdk-headless)"
    make -s -C clients/java bench-publisher >/dev/null
    local jar=$root/clients/java/build/sluice-bench.jar rep
    echo "bench: java: $reps x (C client, Java client), $events durable events each, fresh broker and gateway" >&2
    for ((rep = 1; rep <= reps; rep++)); do
        java_run c_client "$rep" "$out/sluice_publisher"
        java_run java_client "$rep" java -XX:+UseParallelGC -jar "$jar" --warmup-events "${BENCH_JAVA_WARMUP:-50000}"
    done
    local c_rate j_rate
    c_rate=$(median_value "$tmp/java.txt" c_client rate)
    j_rate=$(median_value "$tmp/java.txt" java_client rate)
    echo
    echo "== java ($events durable events, 1 publisher, median of $reps, min-max; CPU-s per million events;" \
        "Java warm-up ${BENCH_JAVA_WARMUP:-50000} events)"
    publisher_table "$tmp/java.txt" c_client java_client
    printf '%-40s %8s  %s\n' "Java client rate / C client rate" "$(ratio "$j_rate" "$c_rate")" \
        ">= 0.8: $(verdict "$(ratio "$j_rate" "$c_rate")" '>=' 0.8)"
}
