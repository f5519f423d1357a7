#!/usr/bin/env bash
# Builds the fuzzers (fuzz/build.sh), then runs each for FUZZ_SECONDS (default 60), one
# after the other on one core. Exits non-zero when a fuzzer finds a crash, a timeout or an
# out-of-memory input, and prints where the input is and how to replay it.
#
#   FUZZ_SECONDS=300 bash fuzz/run.sh        or   make fuzz FUZZ_SECONDS=300
#   FUZZ_TARGETS="c" bash fuzz/run.sh         only the C reader ("swift c" by default)
#   FUZZ_ARGS="-seed=1" bash fuzz/run.sh      extra libFuzzer flags for every target
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/fuzz/build"
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-swift c}
case "$seconds" in '' | *[!0-9]*) echo "[fuzz] FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2; exit 2 ;; esac

bash "$root/fuzz/build.sh" || exit 1
mkdir -p "$out/logs"
# Swift's own crash backtracer reads the dying process's memory and trips ASan, burying
# the real report; libFuzzer and ASan print the stack instead.
export SWIFT_BACKTRACE=enable=no

failed=0
for target in $targets; do
    case "$target" in
    # The Swift target's longest seed (65,605 bytes) sets its -max_len; the C reader's seeds
    # are short, and without longer inputs it never grows past its first 4 KiB buffer.
    swift) binary="$out/fuzz-swift" max_len=() ;;
    c) binary="$out/fuzz-c-reader" max_len=(-max_len=65536) ;;
    *) echo "[fuzz] unknown target '$target' (swift, c)" >&2; exit 2 ;;
    esac
    corpus="$out/corpus-$target"
    artifacts="$out/artifacts/$target"
    log="$out/logs/$target.log"
    mkdir -p "$artifacts"
    echo "[fuzz] $target: ${seconds}s on $(ls "$corpus" | wc -l) corpus inputs (log: ${log#"$root"/})"
    # -timeout: an input that stalls the decoder for 10 s is a finding too (it would stall
    # a connection). New inputs go back into the corpus, so later runs start further on.
    # shellcheck disable=SC2086
    (cd "$out" && "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="$root/fuzz/sluice.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
        "${max_len[@]}" ${FUZZ_ARGS:-} "$corpus") >"$log" 2>&1
    status=$?

    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\) .*/cov \1, features \2, corpus \3/p' <<<"$done_line")
    echo "[fuzz] $target: ${execs:-?} executions, ${rate:-?} exec/s, ${cov:-no coverage line}"

    if [ "$status" -ne 0 ]; then
        failed=1
        echo "[fuzz] $target: FAILED (libFuzzer exit status $status)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*fuzz invariant|.*runtime error)' "$log" | head -n 5 | sed 's/^/    /'
        unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        if [ -n "$unit" ]; then
            echo "[fuzz] $target: crashing input: ${unit#"$root"/}"
            echo "[fuzz]   replay:   SWIFT_BACKTRACE=enable=no ${binary#"$root"/} ${unit#"$root"/}"
            echo "[fuzz]   minimize: ${binary#"$root"/} -minimize_crash=1 -runs=100000 ${unit#"$root"/}"
            echo "[fuzz]   hex:      $(od -An -tx1 -v "$unit" | tr -d ' \n' | cut -c1-200)"
        else
            echo "[fuzz] $target: no input was written; see ${log#"$root"/}"
        fi
        echo "[fuzz] $target: stack (whole report in ${log#"$root"/}):"
        grep -E '^[[:space:]]+#[0-9]+ 0x' "$log" | head -n 25 | sed 's/^/    /'
    fi
done
exit $failed
