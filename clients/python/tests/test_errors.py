"""The client's error codes against the table of PROTOCOL.md section 5."""

from __future__ import annotations

import os
import re
import unittest

import sluice
from sluice.errors import ErrorCode, error_name, is_retriable

from vectors import ROOT

ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([A-Z_]+)`\s*\|\s*(\w+)\s*\|[^|]*\|\s*(yes|no)\s*\|")


def spec_codes() -> list:
    """(code, name, where, retriable) of every row of section 5's table."""
    rows, inside = [], False
    with open(os.path.join(ROOT, "proto-spec", "PROTOCOL.md"), encoding="utf-8") as spec:
        for line in spec:
            if line.startswith("## "):
                inside = line.startswith("## 5.")
            match = ROW.match(line) if inside else None
            if match:
                rows.append((int(match[1]), match[2], match[3], match[4] == "yes"))
    return rows


class ErrorCodesFollowTheSpec(unittest.TestCase):
    def test_every_code_of_section_5_is_known_with_its_name_and_retriability(self) -> None:
        rows = spec_codes()
        self.assertGreaterEqual(len(rows), 28)
        for code, name, _, retriable in rows:
            with self.subTest(code=code):
                self.assertEqual(error_name(code), name)
                self.assertEqual(ErrorCode[name], code)
                self.assertEqual(is_retriable(code), retriable)
        self.assertEqual({c.value for c in ErrorCode}, {row[0] for row in rows}, "no code the spec lacks")

    def test_the_contract_codes_are_per_record_and_final(self) -> None:
        self.assertEqual((sluice.ErrorCode.CONTRACT_VIOLATION, sluice.ErrorCode.UNKNOWN_TOPIC), (27, 28))
        where = {code: place for code, _, place, _ in spec_codes()}
        self.assertEqual((where[27], where[28]), ("record", "record"))
        self.assertFalse(is_retriable(27) or is_retriable(28))
        failure = sluice.RecordFailure(code=27, topic="casino.domain.x.v1")
        self.assertEqual(failure.name, "CONTRACT_VIOLATION")


if __name__ == "__main__":
    unittest.main()
