"""The throughput scenario's report for scripts/bench_stats.py (commands `throughput` and `median`):
read from the key=value result lines that scripts/bench_throughput.sh appends, one per run."""
import statistics

from bench_stats_samples import fmt


def tp_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if "config" in kv:
                runs.append(kv)
    return runs


def tp_values(runs, config, key):
    out = []
    for r in runs:
        if r.get("config") != config:
            continue
        try:
            out.append(float(r[key]))
        except (KeyError, ValueError):
            pass
    return out


def cmd_median(a):
    v = tp_values(tp_runs(a.file), a.config, a.field)
    print(fmt(statistics.median(v), 0 if a.field == "rate" else 3) if v else "n/a")
    return 0


def cmd_throughput(a):
    runs = tp_runs(a.file)
    reps = max((int(r["rep"]) for r in runs if r.get("rep", "").isdigit()), default=0)

    def med(config, key):
        v = tp_values(runs, config, key)
        return statistics.median(v) if v else None

    def cell(config, key, digits):
        v = tp_values(runs, config, key)
        if not v:
            return f"{'n/a':>10} {'':>21}"
        spread = f"({min(v):.{digits}f}-{max(v):.{digits}f})" if len(v) > 1 else ""
        return f"{statistics.median(v):>10.{digits}f} {spread:>21}"

    def row(label, config, key, digits=2):
        print(f"  {label:<48} {cell(config, key, digits)}")

    def ratio(x, y):
        return x / y if x is not None and y not in (None, 0) else None

    def pair_range(config_a, key_a, config_b, key_b):
        """min-max of the per-repetition ratios (each against the same-work run of its own repetition)."""
        by_rep = {}
        for r in runs:
            by_rep.setdefault(r.get("rep"), {})[r.get("config")] = r
        v = []
        for reps_runs in by_rep.values():
            try:
                v.append(float(reps_runs[config_a][key_a]) / float(reps_runs[config_b][key_b]))
            except (KeyError, ValueError, ZeroDivisionError):
                pass
        return f"({min(v):.2f}-{max(v):.2f})" if len(v) > 1 else ""

    def verdict(v, op, t):
        if v is None:
            return "n/a"
        return "ok" if (v >= t if op == ">=" else v <= t) else "MISSED"

    def ratio_line(label, ca, ka, cb, kb, op=None, t=None):
        v = ratio(med(ca, ka), med(cb, kb))
        if v is None and op is None:
            return
        target = f"  {op} {t}x: {verdict(v, op, t)}" if op else ""
        print(f"  {label:<58} {fmt(v, 2):>6} {pair_range(ca, ka, cb, kb):>13}{target}")

    n = a.clients
    # Each mode is judged against the bare producer doing the same work (issue #17).
    modes = (("the four stamped headers (the default)", "", "baseline_h", "latency_bare_h", 1.15),
             ("kafka.stamp-headers: [] (no stamped headers)", "_nh", "baseline", "latency_bare", 1.25))
    print(f"== throughput ({a.events} events of 200 B over {a.keys} keys, durable acks, topics of {a.partitions}"
          f" partitions, a fresh broker per run; median of {reps} runs (min-max))")
    print("targets (issue #17): each mode against the bare librdkafka producer doing the same work, in this run;"
          " ratios of the medians, per-repetition ratios in brackets")
    for title, sfx, base, bare_lat, cpu_target in modes:
        if not tp_values(runs, "sluice1" + sfx, "rate"):
            continue
        print(f" {title}, against the producer {'stamping them' if sfx == '' else 'stamping none'}:")
        ratio_line("Sluice 1 client, events/s", "sluice1" + sfx, "rate", base, "rate", ">=", 0.9)
        ratio_line(f"Sluice {n} clients at once, events/s", "sluiceN" + sfx, "rate", base, "rate", ">=", 0.85)
        ratio_line("gateway CPU per event / producer's (1 client)", "sluice1" + sfx, "gateway_cpu", base,
                   "client_cpu", "<=", cpu_target)
        ratio_line("durable-ack p99 / producer's per-batch p99, same rate", "latency" + sfx, "p99_ms", bare_lat,
                   "batch_p99_ms", "<=", 1.2)
        ratio_line(f"  (gateway CPU per event / producer's, {n} clients)", "sluiceN" + sfx, "gateway_cpu", base,
                   "client_cpu")
        ratio_line(f"  ({n} clients / 1 client, events/s)", "sluiceN" + sfx, "rate", "sluice1" + sfx, "rate")
    print(" for information:")
    ratio_line("C client CPU per event / producer's (default headers)", "sluice1", "client_cpu", "baseline_h",
               "client_cpu")
    ratio_line("Sluice 1 client (default) / producer without headers, events/s", "sluice1", "rate", "baseline",
               "rate")
    ratio_line("headers: producer CPU with them / without", "baseline_h", "client_cpu", "baseline", "client_cpu")
    ratio_line("zstd client: gateway CPU per event / producer's (default)", "sluice1z", "gateway_cpu", "baseline_h",
               "client_cpu")
    ratio_line("zstd C client CPU per event / producer's (default)", "sluice1z", "client_cpu", "baseline_h",
               "client_cpu")

    print()
    print(f"  {'':<48} {'median':>10} {'(min-max)':>21}")
    for config, title in (("baseline_h", "bare librdkafka producer stamping the four headers (acks=all, idempotent,"
                                         " lz4)"),
                          ("baseline", "bare librdkafka producer without headers")):
        if not tp_values(runs, config, "rate"):
            continue
        print(title)
        row("events/s", config, "rate", 0)
        row("producer CPU-s per 1M events", config, "client_cpu")
        row("broker CPU-s per 1M events", config, "broker_cpu")
    for config, title in (("sluice1", "Sluice, 1 C client"), ("sluiceN", f"Sluice, {n} C clients at once"),
                          ("sluice1_nh", "Sluice stamping no headers, 1 C client"),
                          ("sluiceN_nh", f"Sluice stamping no headers, {n} C clients at once"),
                          ("sluice1z", "Sluice, 1 C client compressing with zstd level 1 (for information)")):
        if not tp_values(runs, config, "rate"):
            continue
        print(title)
        row("events/s", config, "rate", 0)
        row("C client CPU-s per 1M events" + (f" (all {n})" if config.startswith("sluiceN") else ""), config,
            "client_cpu")
        row("gateway CPU-s per 1M events", config, "gateway_cpu")
        row("  of which user", config, "gateway_user")
        row("  of which sys", config, "gateway_sys")
        row("broker CPU-s per 1M events", config, "broker_cpu")
        if config.startswith("sluice1"):
            row("durable-ack latency p50 at max rate (ms)", config, "p50_ms", 1)
            row("durable-ack latency p99 at max rate (ms)", config, "p99_ms", 1)
    for sluice, bare, what in (("latency", "latency_bare_h", "the four headers"),
                               ("latency_nh", "latency_bare", "no headers")):
        if not tp_values(runs, sluice, "rate"):
            continue
        print(f"Sluice stamping {what}, 1 C client paced at {fmt(med(sluice, 'target_rate'), 0)} events/s (half"
              f" the mode's median 1-client rate), {a.latency_seconds} s, 1 ms batches")
        row("achieved events/s", sluice, "rate", 0)
        row("durable-ack latency p50 (ms)", sluice, "p50_ms", 2)
        row("durable-ack latency p99 (ms)", sluice, "p99_ms", 2)
        row("durable-ack latency max (ms)", sluice, "max_ms", 2)
        row("ACKs per run (one per 1 ms batch)", sluice, "acks", 0)
        row("  of which read after a later batch's ACK", sluice, "acks_out_of_order", 0)
        print(f"bare producer stamping {what}, paced at the same rate")
        row("achieved events/s", bare, "rate", 0)
        row("record's own delivery report, p50 (ms)", bare, "p50_ms", 2)
        row("record's own delivery report, p99 (ms)", bare, "p99_ms", 2)
        row("its 1 ms batch's last report, p50 (ms)", bare, "batch_p50_ms", 2)
        row("its 1 ms batch's last report, p99 (ms)", bare, "batch_p99_ms", 2)
        row("its 1 ms batch's last report, max (ms)", bare, "batch_max_ms", 2)
    notes = {r.get("note") for r in runs
             if r.get("config", "").startswith("latency") and r.get("note") not in (None, "", "n/a")}
    for note in sorted(notes):
        print(f"  latency not measured in a run: {note.replace('_', ' ')}")
    print("(CPU: publishers by getrusage in the process over their timed part; gateway and broker by /proc/PID/stat"
          " utime+stime over the same window. Latency: sluice_publish() to the client reading the ACK covering"
          " the record; see bench/sluice_publisher.c.)")
    return 0
