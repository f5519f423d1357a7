#!/usr/bin/env python3
"""Reads the STATS samples that bench/stats_poll writes for scripts/bench.sh.

Each line of a samples file is `MONOTONIC_S REALTIME_S STATS_MS JSON` (STATS_MS -1: the
sample failed and the rest of the line is the error). Times given on the command line
and printed are wall-clock (REALTIME) seconds, so they compare with `date +%s.%N`.

  bench_stats.py wait FILE (--pending-zero | --closed) --since T --timeout S [--watch-pid PID]
      Waits until a sample taken after T shows retry.pending == 0 (or the breaker CLOSED).
      Exit 0 when it does, 1 after S seconds, 3 when PID (the gateway) is gone.
  bench_stats.py drain FILE --since T_BROKER_UP [--limit S]
      The drain of a backlog after the broker came back at T: key=value lines.
  bench_stats.py recovery FILE --start T0 --kill T --up T --load-end T --topic TOPIC --acked N
      The recovery scenario's figures: key=value lines.
  bench_stats.py spool-check SPOOL_DB --topic T --missing FILE
      For a stopped gateway's spool: which of the seqs in FILE (events not read back
      from Kafka) are waiting in it (PENDING, DLQ or DLQ_FAILED): key=value lines.
  bench_stats.py throughput FILE --clients N --events N --keys N --partitions N --latency-seconds S
      The throughput scenario's report from its key=value result lines (config=baseline,
      baseline_h, sluice1, sluiceN, sluice1z, latency, latency_bare, latency_bare_h; one per
      run): medians and min-max, ratios, targets.
  bench_stats.py median FILE CONFIG FIELD
      The median of FIELD over the runs of CONFIG in such a file (for the shell).
  bench_stats.py field JSON_FILE PATH.TO.FIELD
      One field of a STATS document (for the shell).
  bench_stats.py last FILE PATH.TO.FIELD
      That field in the last good sample of FILE.

Absent fields (retry.oldestPendingAgeSeconds, retry.drainRate, retry.secondsToEmpty,
which the gateway may not have yet) are printed as "n/a", never required.
"""
import argparse
import json
import os
import statistics
import sys
import time

from bench_stats_samples import fmt, parse, samples
from bench_stats_throughput import cmd_median, cmd_throughput

OPTIONAL = ("oldestPendingAgeSeconds", "drainRate", "secondsToEmpty")


def cmd_wait(a):
    deadline = time.time() + a.timeout
    pos = 0
    last = None
    while True:
        try:
            with open(a.file) as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            chunk = ""
        # Only whole lines; keep a partial one for the next read.
        cut = chunk.rfind("\n") + 1
        pos += len(chunk[:cut].encode())
        for line in chunk[:cut].splitlines():
            s = parse(line)
            if s is None or "error" in s or s["t"] < a.since:
                continue
            last = s
            if a.pending_zero and s["pending"] == 0:
                print(f"pending 0 at +{s['t'] - a.since:.1f}s")
                return 0
            if a.closed and s["state"] == "CLOSED":
                print(f"CLOSED at +{s['t'] - a.since:.1f}s")
                return 0
        if a.watch_pid and not os.path.exists(f"/proc/{a.watch_pid}"):
            print("the gateway exited", file=sys.stderr)
            return 3
        if time.time() > deadline:
            if last is not None:
                print(f"not reached after {a.timeout:.0f}s: pending={last['pending']} state={last['state']}")
            else:
                print(f"not reached after {a.timeout:.0f}s: no STATS sample")
            return 1
        time.sleep(0.1)


def optional_fields(s):
    retry = s["doc"].get("retry", {}) if s else {}
    return " ".join(f"{k}={fmt(retry.get(k))}" for k in OPTIONAL)


def stats_latency(ss):
    ms = [s["ms"] for s in ss if "ms" in s]
    if not ms:
        return "stats_ms_median=n/a stats_ms_max=n/a"
    return f"stats_ms_median={statistics.median(ms):.1f} stats_ms_max={max(ms):.1f}"


def drain_rate(ss, peak_at, peak):
    """Steady-middle drain rate: from the first sample at or below 90% of the peak to the
    first at or below 10%. When the samples are too coarse to put two of them in that
    band, the window starts at the sample before (a slight underestimate). When the
    pending count never reaches 10%, the rate so far, from the 90% point (or the first
    decrease) to the last sample."""
    after = [s for s in ss if s["t"] >= peak_at]
    hi = next((i for i, s in enumerate(after) if s["pending"] <= 0.9 * peak), None)
    lo = next((i for i, s in enumerate(after) if s["pending"] <= 0.1 * peak), None)
    if hi is None:
        # Not even 10% drained: rate over everything since the first decrease.
        first = next((i for i, s in enumerate(after) if s["pending"] < peak), None)
        if first is None or first == len(after) - 1:
            return None, "no drain", None
        a, b = after[max(first - 1, 0)], after[-1]
        return (a["pending"] - b["pending"]) / (b["t"] - a["t"]), "partial(<90%)", (a, b)
    if lo is None:
        a, b = after[hi], after[-1]
        if b is a:
            a = after[max(hi - 1, 0)]
        if b["t"] == a["t"]:
            return None, "no drain", None
        return (a["pending"] - b["pending"]) / (b["t"] - a["t"]), "partial(90%->last)", (a, b)
    if lo == hi:
        hi = max(hi - 1, 0)
    a, b = after[hi], after[lo]
    return (a["pending"] - b["pending"]) / (b["t"] - a["t"]), "90%->10%", (a, b)


def cmd_drain(a):
    ss = [s for s in samples(a.file) if "error" not in s and s["pending"] is not None]
    errors = sum(1 for s in samples(a.file) if "error" in s)
    after = [s for s in ss if s["t"] >= a.since]
    if not after:
        print("drain_result=no-samples")
        return 1
    peak_s = max(after, key=lambda s: s["pending"])
    peak = peak_s["pending"]
    first_dec = next((s for s in after if s["t"] >= peak_s["t"] and s["pending"] < peak), None)
    zero = next((s for s in after if s["pending"] == 0), None)
    closed = next((s for s in after if s["state"] == "CLOSED"), None)
    last = after[-1]
    rate, method, window = drain_rate(ss, peak_s["t"], peak) if peak > 0 else (None, "empty", None)
    print(f"peak_pending={peak}")
    print(f"first_decrease_after_s={fmt(first_dec and first_dec['t'] - a.since)}")
    print(f"closed_after_s={fmt(closed and closed['t'] - a.since)}")
    print(f"empty_after_s={fmt(zero and zero['t'] - a.since)}")
    print(f"observed_s={last['t'] - a.since:.1f}")
    print(f"last_pending={last['pending']} last_state={last['state']}")
    print(f"drain_rate={fmt(rate, 0)} drain_method={method}")
    if window:
        inside = sum(1 for s in after if window[0]["t"] <= s["t"] <= window[1]["t"])
        coarse = " (coarse: fewer than 5 samples, the rate is uncertain)" if inside < 5 else ""
        print(f"drain_window=+{window[0]['t'] - a.since:.2f}s({window[0]['pending']})"
              f"..+{window[1]['t'] - a.since:.2f}s({window[1]['pending']}) samples={inside}{coarse}")
    overall = None
    if first_dec is not None and last["t"] > peak_s["t"]:
        overall = (peak - last["pending"]) / (last["t"] - peak_s["t"])
    print(f"drain_rate_since_return={fmt(overall, 0)}  (peak - last pending over the time since the broker's return)")
    # Is the drain slowing down? Rate in each third of the observed drain.
    if first_dec is not None and last["t"] - first_dec["t"] > 3:
        t0, t1 = first_dec["t"], last["t"]
        parts = []
        for k in range(3):
            lo_t, hi_t = t0 + (t1 - t0) * k / 3, t0 + (t1 - t0) * (k + 1) / 3
            seg = [s for s in after if lo_t <= s["t"] <= hi_t]
            if len(seg) >= 2 and seg[-1]["t"] > seg[0]["t"]:
                parts.append(f"{(seg[0]['pending'] - seg[-1]['pending']) / (seg[-1]['t'] - seg[0]['t']):.0f}")
            else:
                parts.append("n/a")
        print("drain_rate_by_third=" + ",".join(parts))
    states = []
    for s in after:
        if not states or states[-1][1] != s["state"]:
            states.append((s["t"] - a.since, s["state"]))
    print("breaker_states=" + ",".join(f"{st}@+{t:.1f}s" for t, st in states[:30]))
    print(optional_fields(last))
    print(stats_latency(after) + f" stats_errors={errors}")
    return 0


def cmd_recovery(a):
    all_s = samples(a.file)
    ss = [s for s in all_s if "error" not in s and s["pending"] is not None]
    if not ss:
        print("recovery_result=no-samples")
        return 1
    peak_s = max(ss, key=lambda s: s["pending"])
    after_up = [s for s in ss if s["t"] >= a.up]
    closed = next((s for s in after_up if s["state"] == "CLOSED"), None)
    # The breaker "stays closed" from the last transition to CLOSED after the return.
    closed_for_good = None
    for i, s in enumerate(after_up):
        if s["state"] == "CLOSED" and (i == 0 or after_up[i - 1]["state"] != "CLOSED"):
            closed_for_good = s
    if after_up and after_up[-1]["state"] != "CLOSED":
        closed_for_good = None
    zero = next((s for s in after_up if s["pending"] == 0 and s["t"] > peak_s["t"]), None)
    last = ss[-1]
    print(f"peak_pending={peak_s['pending']} peak_at_s={peak_s['t'] - a.start:.1f}")
    print(f"closed_after_return_s={fmt(closed and closed['t'] - a.up)}")
    if closed is None:
        print('closed_when="never"')
    elif closed["t"] <= a.load_end:
        print(f'closed_when="while load continued" closed_under_load_s={closed["t"] - a.up:.1f}')
    else:
        print(f'closed_when="only after the load stopped (+{closed["t"] - a.load_end:.1f}s after its end)"'
              ' closed_under_load_s=n/a')
    print(f"closed_for_good_after_return_s={fmt(closed_for_good and closed_for_good['t'] - a.up)}")
    if zero is not None:
        when = "while load continued" if zero["t"] <= a.load_end else \
            f"after the load stopped (+{zero['t'] - a.load_end:.1f}s after its end)"
        print(f"empty_after_return_s={zero['t'] - a.up:.1f} empty_when=\"{when}\"")
    else:
        print(f"empty_after_return_s=n/a empty_when=\"not empty {last['t'] - a.up:.1f}s after the return"
              f" (pending {last['pending']})\"")
    # Direct publishing after the return: records.published while the load continued.
    during = [s for s in after_up if s["t"] <= a.load_end]
    if len(during) >= 2 and during[-1]["t"] > during[0]["t"]:
        rate = (during[-1]["published"] - during[0]["published"]) / (during[-1]["t"] - during[0]["t"])
        print(f"published_rate_after_return_under_load={rate:.0f}")
    states = []
    for s in ss:
        if not states or states[-1][1] != s["state"]:
            states.append((s["t"] - a.start, s["state"]))
    print("breaker_states=" + ",".join(f"{st}@{t:.1f}s" for t, st in states[:40]))
    # Pending over time, every 5 s of the run.
    marks, next_t = [], a.start
    for s in ss:
        if s["t"] >= next_t:
            marks.append(f"{s['t'] - a.start:.0f}s:{s['pending']}")
            next_t += 5
    print("pending_every_5s=" + ",".join(marks))
    topic = last["doc"].get("topics", {}).get(a.topic, {})
    published, pending = topic.get("published", 0), topic.get("pending", 0)
    dlq, dropped = topic.get("dlq", 0), topic.get("dropped", 0)
    expected = a.acked + 1  # + the warm-up record
    total = published + pending + dlq
    verdict = "all acked events accounted for" if total >= expected and dropped == 0 and dlq == 0 else \
        "MISSING or dead-lettered events"
    print(f"topic_received={topic.get('received')} topic_published={published} topic_pending={pending}"
          f" topic_dlq={dlq} topic_dropped={dropped}")
    print(f"accounting=\"client acked {a.acked} + 1 warm-up = {expected}; published + pending + dlq = {total}"
          f" (difference {total - expected:+d}): {verdict}\"")
    print(optional_fields(last))
    print(stats_latency(ss) + f" stats_errors={len(all_s) - len(ss)}")
    return 0


def cmd_last(a):
    ss = [s for s in samples(a.file) if "error" not in s]
    v = ss[-1]["doc"] if ss else None
    for k in a.path.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    print(fmt(v))
    return 0


def cmd_spool_check(a):
    import re
    import sqlite3
    with open(a.missing) as f:
        missing = {int(line) for line in f if line.strip()}
    seq_re = re.compile(rb'"seq":([0-9]+)')
    counts = {}
    found = set()
    try:
        db = sqlite3.connect(f"file:{a.spool}?mode=ro", uri=True)
        rows = db.execute("SELECT status, value FROM failed_kafka_events WHERE topic = ? AND status != 'RESOLVED'",
                          (a.topic,))
        for status, value in rows:
            counts[status] = counts.get(status, 0) + 1
            m = seq_re.search(bytes(value[:96]))
            if m and int(m.group(1)) in missing:
                found.add(int(m.group(1)))
        db.close()
    except sqlite3.Error as e:
        print(f'spool_check="could not read the spool: {e}"')
        return 1
    absent = sorted(missing - found)
    print(" ".join(f"spool_{k.lower()}={v}" for k, v in sorted(counts.items())) or "spool_pending=0")
    print(f"not_in_kafka={len(missing)} of_those_in_spool={len(found)} in_neither={len(absent)}"
          f" first_in_neither={absent[0] if absent else '-'}")
    return 0


def cmd_field(a):
    with open(a.json_file) as f:
        v = json.load(f)
    for k in a.path.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    print(fmt(v))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait")
    w.add_argument("file")
    g = w.add_mutually_exclusive_group(required=True)
    g.add_argument("--pending-zero", action="store_true")
    g.add_argument("--closed", action="store_true")
    w.add_argument("--since", type=float, default=0)
    w.add_argument("--timeout", type=float, required=True)
    w.add_argument("--watch-pid", type=int)
    d = sub.add_parser("drain")
    d.add_argument("file")
    d.add_argument("--since", type=float, required=True)
    r = sub.add_parser("recovery")
    r.add_argument("file")
    for name in ("--start", "--kill", "--up", "--load-end"):
        r.add_argument(name, type=float, required=True)
    r.add_argument("--topic", required=True)
    r.add_argument("--acked", type=int, required=True)
    tp = sub.add_parser("throughput")
    tp.add_argument("file")
    for name in ("--clients", "--events", "--keys", "--partitions", "--latency-seconds"):
        tp.add_argument(name, type=int, required=True)
    md = sub.add_parser("median")
    md.add_argument("file")
    md.add_argument("config")
    md.add_argument("field")
    sc = sub.add_parser("spool-check")
    sc.add_argument("spool")
    sc.add_argument("--topic", required=True)
    sc.add_argument("--missing", required=True)
    last = sub.add_parser("last")
    last.add_argument("file")
    last.add_argument("path")
    f = sub.add_parser("field")
    f.add_argument("json_file")
    f.add_argument("path")
    a = p.parse_args()
    return {"wait": cmd_wait, "drain": cmd_drain, "recovery": cmd_recovery, "field": cmd_field, "last": cmd_last, "spool-check": cmd_spool_check,
            "throughput": cmd_throughput, "median": cmd_median}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
