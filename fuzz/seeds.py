#!/usr/bin/env python3
"""Writes libFuzzer seed corpora from the protocol vectors (proto-spec/vectors/frames.tsv).

    seeds.py FRAMES_TSV SWIFT_CORPUS_DIR C_CORPUS_DIR

The Swift target decodes both directions, so it gets every vector; the C reader only
decodes server frames, so it gets the s2c ones. Each vector becomes `vector-NAME`; one
more seed per corpus strings the `ok` frames together, so multi-frame streams are there
from the start. Earlier `vector-*` files are replaced; inputs libFuzzer added are kept.
"""
import os
import sys


def main():
    tsv, swift_dir, c_dir = sys.argv[1:4]
    vectors = []
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, direction, expect, frame = line.split("\t")[:4]
            vectors.append((name, direction, expect, bytes.fromhex(frame)))

    corpora = {
        swift_dir: vectors,
        c_dir: [v for v in vectors if v[1] == "s2c"],
    }
    for directory, chosen in corpora.items():
        os.makedirs(directory, exist_ok=True)
        for old in os.listdir(directory):
            if old.startswith("vector-"):
                os.remove(os.path.join(directory, old))
        for name, _direction, _expect, frame in chosen:
            with open(os.path.join(directory, "vector-" + name), "wb") as out:
                out.write(frame)
        written = len(chosen)
        for direction in sorted({v[1] for v in chosen}):
            # After hello_v1 a second HELLO closes the connection, so c2s streams leave it out.
            stream = b"".join(frame for name, d, expect, frame in chosen
                              if d == direction and expect == "ok" and not (d == "c2s" and name.startswith("hello")))
            with open(os.path.join(directory, "vector-stream-%s-ok" % direction), "wb") as out:
                out.write(stream)
            written += 1
        print("%s: %d seeds" % (os.path.relpath(directory), written))

main()
