"""sluice.testing.FakePublisher: the in-memory stand-in applications use in their unit tests."""

from __future__ import annotations

import inspect
import json
import os
import re
import unittest
from typing import List

import sluice
from sluice.testing import ANY, FakePublisher


class PlayerEventService:
    """Application code as a service would write it: it is given a publisher and publishes to it."""

    def __init__(self, publisher: sluice.Client) -> None:
        self.publisher = publisher

    def publish_player_registered(self, player_id: int, name: str) -> List[sluice.RecordFailure]:
        event = json.dumps({"playerId": player_id, "name": name}).encode()
        self.publisher.publish("player.registered", str(player_id), event, event_type="PlayerRegistered")
        return self.publisher.flush(timeout=5)


class FakePublisherTests(unittest.TestCase):
    def test_the_seeds_style_verify_publish_topic_key_and_any_event(self) -> None:
        publisher = FakePublisher()
        PlayerEventService(publisher).publish_player_registered(42, "Ada")  # type: ignore[arg-type]
        record = publisher.assert_published("player.registered", key="42", value=ANY)
        self.assertEqual(json.loads(record.value), {"playerId": 42, "name": "Ada"})
        self.assertEqual(record.event_type, "PlayerRegistered")
        with self.assertRaises(AssertionError) as missing:
            publisher.assert_published("player.registered", key="43")
        self.assertIn("42", str(missing.exception), "the message lists what was published")

    def test_it_has_the_clients_publishing_surface(self) -> None:
        for name in ("publish", "flush", "stats", "ping", "close", "__enter__", "__exit__"):
            with self.subTest(method=name):
                real, fake = getattr(sluice.Client, name), getattr(FakePublisher, name)
                self.assertEqual(
                    list(inspect.signature(real).parameters.items()),
                    list(inspect.signature(fake).parameters.items()),
                )
        for name in ("unacked_records", "is_connected"):
            self.assertIsInstance(getattr(FakePublisher, name), property, name)

    def test_records_keep_every_field_and_the_event_id_returned(self) -> None:
        publisher = FakePublisher()
        given = b"\x01" * 16
        returned = publisher.publish(
            "t", b"k", "v", headers={"h": "x"}, event_type="e", event_id=given, timestamp_ms=1700000000000
        )
        generated = publisher.publish("t", "k2", b"v2")
        self.assertEqual(returned, given)
        first, second = publisher.published
        self.assertEqual((first.topic, first.key, first.value, first.headers), ("t", b"k", b"v", (("h", b"x"),)))
        self.assertEqual((first.event_type, first.event_id, first.timestamp_ms), ("e", given, 1700000000000))
        self.assertEqual((second.event_id, len(second.event_id)), (generated, 16))
        self.assertNotEqual(generated, given)
        self.assertEqual([r.key_text for r in publisher.records(topic="t", key="k2")], ["k2"])
        self.assertEqual(publisher.unacked_records, 2)
        self.assertEqual(publisher.flush(), [])
        self.assertEqual(publisher.unacked_records, 0)

    def test_records_the_gateway_would_refuse_raise_as_with_the_real_client(self) -> None:
        publisher = FakePublisher()
        cases = [
            (dict(topic="bad topic", key="k"), sluice.ErrorCode.INVALID_TOPIC),
            (dict(topic="t", key=""), sluice.ErrorCode.INVALID_KEY),
            (dict(topic="t", key="k", headers={"event-id": b"x"}), sluice.ErrorCode.INVALID_HEADERS),
            (dict(topic="t", key="k", timestamp_ms=-1), sluice.ErrorCode.INVALID_TIMESTAMP),
        ]
        for arguments, code in cases:
            with self.subTest(code=code.name), self.assertRaises(sluice.InvalidRecord) as caught:
                publisher.publish(value=b"v", **arguments)  # type: ignore[arg-type]
            self.assertEqual(caught.exception.code, code)
        self.assertEqual(publisher.published, [], "a refused record is not taken")

    def test_chosen_records_fail_with_the_given_code_at_the_next_flush(self) -> None:
        seen: List[sluice.RecordFailure] = []
        publisher = FakePublisher(on_failure=seen.append)
        publisher.fail(sluice.ErrorCode.REJECTED_BY_BROKER, key="player-2")
        publisher.fail(sluice.ErrorCode.DELIVERY_FAILED, topic="other", times=1)
        for i in range(4):
            publisher.publish("events", "player-%d" % i, b"e%d" % i)
        publisher.publish("other", "player-9", b"x")
        publisher.publish("other", "player-9", b"y")
        self.assertEqual(seen, [], "failures are reported by flush, as the real client reads them from ACKs")
        failures = publisher.flush()
        self.assertEqual(
            [(f.code, f.topic, f.key, f.index, f.retriable) for f in failures],
            [(31, "events", b"player-2", 2, False), (30, "other", b"player-9", 4, True)],
        )
        self.assertEqual(failures[0].event_id, publisher.published[2].event_id)
        self.assertEqual(seen, failures)
        self.assertEqual(publisher.failed_records, 2)
        self.assertEqual(publisher.flush(), [], "reported once")
        self.assertEqual([r.failure_code for r in publisher.records(topic="other")], [30, None], "times=1 is spent")

    def test_a_predicate_chooses_records_and_clear_forgets_everything(self) -> None:
        publisher = FakePublisher()
        publisher.fail(sluice.ErrorCode.INVALID_KEY, when=lambda r: r.value.startswith(b"bad"))
        publisher.publish("t", "k", b"bad-1")
        publisher.publish("t", "k", b"good")
        self.assertEqual([f.code for f in publisher.flush()], [21])
        publisher.clear()
        publisher.publish("t", "k", b"bad-2")
        self.assertEqual(publisher.flush(), [])
        self.assertEqual(len(publisher.published), 1)

    def test_the_context_manager_flushes_and_closes(self) -> None:
        seen: List[sluice.RecordFailure] = []
        with FakePublisher(on_failure=seen.append) as publisher:
            publisher.fail(40, times=1)
            publisher.publish("t", "k", b"v")
            self.assertTrue(publisher.is_connected)
        self.assertFalse(publisher.is_connected)
        self.assertEqual([(f.code, f.retriable) for f in seen], [(40, True)])

    def test_the_readme_example_runs(self) -> None:
        readme = os.path.join(os.path.dirname(__file__), "..", "README.md")
        with open(readme, encoding="utf-8") as text:
            section = text.read().split("## Testing code that publishes", 1)[1]
        match = re.search(r"```python\n(.*?)```", section, re.S)
        assert match is not None, "README has a python block under 'Testing code that publishes'"
        namespace: dict = {}
        exec(compile(match.group(1), "README.md", "exec"), namespace)
        tests = [name for name in namespace if name.startswith("test_")]
        self.assertGreaterEqual(len(tests), 2)
        for name in tests:
            namespace[name]()


if __name__ == "__main__":
    unittest.main()
