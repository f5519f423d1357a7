# shellcheck shell=bash
# Scenario "contracts" of scripts/bench.sh (sourced by it; uses its variables, scripts/bench_lib.sh and
# tp_broker/tp_publishers of scripts/bench_throughput.sh): what checking a topic contract costs the gateway
# (issue #20: at most 1.3x the gateway's CPU per event of the same run without contracts).
#
# BENCH_REPS repetitions of two runs, each on a fresh broker and gateway, one C publisher sending the same
# BENCH_EVENTS durable events (bench/workload.h --envelope: the seed's envelope, BENCH_CONTRACT_VALUE_BYTES
# (224) bytes, userId equal to the key, event type MY_NEW_EVENT) to topic casino.domain.my-action.v1:
#
#   plain     the gateway with its defaults: no topics: section, nothing checked
#   contract  the gateway with the MyNewEvent contract of docs/contracts.md: key-from, event-types,
#             event-type-from, value json, six required pointers with types, max-value-bytes
#
# The order of the two alternates from one repetition to the next, so a machine that drifts favours
# neither. Every event must keep the contract: a violation counted in STATS fails the run. Reported:
# events/s and CPU-seconds per million events of the gateway, the publisher and the broker (taken as in
# the throughput scenario), medians and min-max, and the ratio of the gateway's medians contract/plain
# with the target.

ct_topic=casino.domain.my-action.v1

# ct_run LABEL REP: one run of configuration LABEL (plain or contract); appends its result line.
ct_run() {
    local label=$1 rep=$2 violations
    if [ "$label" = contract ]; then gateway_config=$tmp/contract.yaml; fi
    one_publisher_run "$label" "$rep" "$tmp/contracts.txt" "$ct_topic" "$out/sluice_publisher" --envelope \
        --value-bytes "${BENCH_CONTRACT_VALUE_BYTES:-224}" --event-type MY_NEW_EVENT
    gateway_config=
    violations=$(python3 "$stats_py" field "$tmp/$label-$rep-stats.json" errors.CONTRACT_VIOLATION)
    if [[ $violations =~ ^[1-9] ]]; then fail "contracts $label (rep $rep): $violations events broke the contract"; fi
}


contracts_scenario() {
    local rep plain contract
    : >"$tmp/contracts.txt"
    cat >"$tmp/contract.yaml" <<EOF
topics:
  contracts:
    - topic: $ct_topic
      key-from: /userId
      event-types: [MY_NEW_EVENT]
      event-type-from: /eventType
      value: json
      required: [/eventId, "/eventTimestamp: string", "/brandId: string", "/userId: string", "/metadata: object",
                 "/payload: object"]
      max-value-bytes: 64KiB
EOF
    echo "bench: contracts: $reps x (gateway without contracts, with the MyNewEvent contract), $events durable" \
        "events of the seed's envelope each, 1 C client, a fresh broker and gateway per run" >&2
    for ((rep = 1; rep <= reps; rep++)); do
        if ((rep % 2)); then
            ct_run plain "$rep"
            ct_run contract "$rep"
        else
            ct_run contract "$rep"
            ct_run plain "$rep"
        fi
    done
    plain=$(median_value "$tmp/contracts.txt" plain gateway_cpu)
    contract=$(median_value "$tmp/contracts.txt" contract gateway_cpu)
    echo
    echo "== contracts ($events durable events of the seed's envelope, ${BENCH_CONTRACT_VALUE_BYTES:-224} B," \
        "1 C client, median of $reps, min-max; CPU-s per million events)"
    publisher_table "$tmp/contracts.txt" plain contract
    printf '%-50s %8s  %s\n' "gateway CPU per event, contract / plain" "$(ratio "$contract" "$plain")" \
        "<= 1.3: $(verdict "$(ratio "$contract" "$plain")" '<=' 1.3)"
    printf '%-50s %8s\n' "events/s, contract / plain" \
        "$(ratio "$(median_value "$tmp/contracts.txt" contract rate)" "$(median_value "$tmp/contracts.txt" plain rate)")"
}
