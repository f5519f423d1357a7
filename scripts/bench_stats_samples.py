"""The samples files that bench/stats_poll writes, as scripts/bench_stats.py reads them, and how
its commands print a value (see bench_stats.py for the line format and the commands)."""
import json


def parse(line):
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4:
        return None
    try:
        mono, real, ms = float(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        return None
    if ms < 0:
        return {"t": real, "error": parts[3]}
    try:
        doc = json.loads(parts[3])
    except ValueError:
        return None
    retry = doc.get("retry", {})
    return {
        "t": real,
        "ms": ms,
        "pending": retry.get("pending"),
        "state": doc.get("publisher", {}).get("circuitBreakerState"),
        "published": doc.get("records", {}).get("published"),
        "received": doc.get("records", {}).get("received"),
        "doc": doc,
    }


def samples(path):
    out = []
    with open(path) as f:
        for line in f:
            s = parse(line)
            if s is not None:
                out.append(s)
    return out


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)
