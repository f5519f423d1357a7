"""Loads proto-spec/vectors/frames.tsv (PROTOCOL.md section 8)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VECTORS_DIR = os.path.join(ROOT, "proto-spec", "vectors")


@dataclass
class Vector:
    """One line of frames.tsv."""

    name: str
    direction: str
    expect: str
    frame: bytes
    plain: Optional[bytes]
    reply: Optional[Tuple[int, bool]]

    @property
    def error(self) -> Optional[int]:
        return int(self.expect[6:]) if self.expect.startswith("error:") else None

    @property
    def record_codes(self) -> Optional[List[int]]:
        return [int(c) for c in self.expect[8:].split(",")] if self.expect.startswith("records:") else None


def load() -> List[Vector]:
    vectors = []
    with open(os.path.join(VECTORS_DIR, "frames.tsv"), encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, direction, expect, frame, plain, reply = line.split("\t")
            reply_value = None
            if reply != "-":
                request_id, closes = reply.split(",")
                reply_value = (int(request_id), closes == "close")
            vectors.append(
                Vector(
                    name, direction, expect, bytes.fromhex(frame), None if plain == "-" else bytes.fromhex(plain),
                    reply_value,
                )
            )
    return vectors


ALL = load()


def named(name: str) -> Vector:
    return next(v for v in ALL if v.name == name)
