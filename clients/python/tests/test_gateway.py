"""The Python client and the shared vectors against a real gateway and broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time
import unittest
from typing import Any, List, Optional

import sluice
from sluice import payload as payloads
from sluice import protocol
from sluice import reader as readers
from sluice.protocol import AckLevel, Limits, MessageType

from gateway import Broker, Gateway, wait_until
from vectors import ALL, VECTORS_DIR, named

broker: Optional[Broker] = None
gateway: Optional[Gateway] = None


def setUpModule() -> None:
    global broker, gateway
    broker = Broker()
    gateway = Gateway(broker)


def tearDownModule() -> None:
    if gateway is not None:
        gateway.remove()
    if broker is not None:
        broker.stop()


def topic_stats(client: sluice.Client, topic: str) -> dict:
    return client.stats()["topics"].get(topic, {})


class RawConnection:
    """A bare socket speaking frames, for vectors the client would never send."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(20)
        self.sock.connect(path)
        self.reader = readers.FrameReader()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self) -> Optional[protocol.Frame]:
        """The next frame, or None when the server closed the connection."""
        while True:
            got = self.reader.next()
            if got is not None:
                return got
            data = self.sock.recv(65536)
            if not data:
                return None
            self.reader.feed(data)

    def close(self) -> None:
        self.sock.close()


class VectorsAgainstTheGateway(unittest.TestCase):
    """Every c2s vector sent to the real gateway gets the reply the spec gives it."""

    def test_every_c2s_vector(self) -> None:
        assert gateway is not None
        checked = 0
        for v in ALL:
            if v.direction != "c2s" or v.expect == "incomplete":
                continue
            with self.subTest(vector=v.name):
                self.exchange(v)
                checked += 1
        self.assertGreaterEqual(checked, 70)

    def exchange(self, v: Any) -> None:
        assert gateway is not None
        conn = RawConnection(gateway.socket_path)
        try:
            if not v.name.startswith("hello"):
                conn.send(named("hello_v1").frame)
                hello_ok = conn.frame()
                assert hello_ok is not None and hello_ok.type == MessageType.HELLO_OK
            conn.send(v.frame)
            request_id = struct.unpack(">I", v.frame[8:12])[0]
            if v.error is not None:
                reply = conn.frame()
                assert reply is not None, "closed without an ERROR"
                self.assertEqual(reply.type, MessageType.ERROR)
                self.assertEqual(reply.message.code, v.error)
                self.assertEqual((reply.request_id, reply.message.closing), v.reply)
                if reply.message.closing:
                    self.assertIsNone(conn.frame(), "a closing ERROR closes the connection")
                else:
                    self.assert_still_served(conn)
                return
            kind = v.frame[3]
            if kind == MessageType.PUBLISH:
                payload = v.frame[16:]
                if v.frame[5] & protocol.COMPRESSED:
                    payload = payloads.decompress_payload(payload, 4_194_304)
                ack_level = payload[0]
                codes = v.record_codes or [0] * struct.unpack(">I", payload[2:6])[0]
                failures = [(i, c) for i, c in enumerate(codes) if c]
                if ack_level != AckLevel.NONE or failures:
                    reply = conn.frame()
                    assert reply is not None
                    self.assertEqual((reply.type, reply.request_id), (MessageType.ACK, request_id))
                    self.assertEqual(reply.message.record_count, len(codes))
                    self.assertEqual(reply.message.failures, failures)
                self.assert_still_served(conn)
            else:
                reply = conn.frame()
                assert reply is not None
                want = {
                    MessageType.HELLO: MessageType.HELLO_OK,
                    MessageType.PING: MessageType.PONG,
                    MessageType.STATS: MessageType.STATS_REPLY,
                }[MessageType(kind)]
                self.assertEqual((reply.type, reply.request_id), (want, request_id))
        finally:
            conn.close()

    def assert_still_served(self, conn: RawConnection) -> None:
        conn.send(protocol.encode_ping(4242, b"alive"))
        while True:
            reply = conn.frame()
            assert reply is not None, "the connection must stay open"
            if reply.type == MessageType.PONG:
                self.assertEqual((reply.request_id, reply.message), (4242, b"alive"))
                return


class ClientAgainstTheGateway(unittest.TestCase):
    """The client's API end to end."""

    def connect(self, **options: Any) -> sluice.Client:
        assert gateway is not None
        client = sluice.connect(gateway.socket_path, **options)
        self.addCleanup(client.close)
        return client

    def test_three_ack_levels_publish_to_kafka(self) -> None:
        for level in AckLevel:
            topic = "py.ack.%s" % level.name.lower()
            client = self.connect(ack=level, max_batch_records=7)
            for i in range(20):
                client.publish(topic, "player-%d" % (i % 3), b"event %d" % i, headers={"n": str(i)}, event_type="t")
            started = time.monotonic()
            self.assertEqual(client.flush(timeout=30), [], level.name)
            if level == AckLevel.NONE:
                self.assertLess(time.monotonic() - started, 5, "ack level none: flush returns once written")
            self.assertEqual(client.unacked_records, 0)
            # Durable and accepted: acked; none: written. Kafka has all of them soon.
            wait_until(topic + " published", lambda: topic_stats(client, topic).get("published") == 20, 30)
            stats = topic_stats(client, topic)
            self.assertEqual((stats["received"], stats["rejected"], stats["pending"]), (20, 0, 0))

    def test_ping_and_stats_have_the_spec_shape(self) -> None:
        client = self.connect()
        self.assertGreaterEqual(client.ping(b"x" * 256), 0)
        self.assertEqual(client.server_name.split("/")[0], "sluice")
        self.assertEqual(client.limits.max_key_bytes, 1024)
        client.publish("py.shape", "k", b"v")
        client.flush(timeout=30)
        live = client.stats()
        with open(os.path.join(VECTORS_DIR, "stats.json"), encoding="utf-8") as example:
            self.assert_same_shape(json.load(example), live, "")

    # Objects keyed by names (an error, a topic, a rule); fields a live reply may lack (section
    # 3.5 says when); and one it may have that the example, showing an applied reload, cannot.
    MAPS = {"errors", "topics", "contracts.violations", "contracts.violations.*"}
    MAY_BE_ABSENT = {"retry.oldestPendingAgeSeconds", "retry.secondsToEmpty"} | {
        "config.lastReload" + name for name in ("At", "Result", "Error", "Applied", "NeedsRestart")
    }
    NOT_IN_EXAMPLE = {"config.lastReloadError"}

    def assert_same_shape(self, example: Any, live: Any, path: str, pattern: str = "") -> None:
        """Same fields both ways (stats.json is complete) and JSON types; `pattern` is `path` with map keys as `*`."""
        if isinstance(example, dict):
            self.assertIsInstance(live, dict, path)
            if pattern in self.MAPS:  # every value has the example value's shape
                sample = next(iter(example.values()))
                for name, value in live.items():
                    self.assert_same_shape(sample, value, path + "." + name, pattern + ".*")
                return
            for name, value in example.items():
                child, child_pattern = (path + "." + name).lstrip("."), (pattern + "." + name).lstrip(".")
                if name not in live and child_pattern in self.MAY_BE_ABSENT:
                    continue
                self.assertIn(name, live, child)
                self.assert_same_shape(value, live[name], child, child_pattern)
            for name in live:
                if (pattern + "." + name).lstrip(".") not in self.NOT_IN_EXAMPLE:
                    self.assertIn(name, example, (path + "." + name).lstrip(".") + " is missing from stats.json")
        elif isinstance(example, bool):
            self.assertIsInstance(live, bool, path)
        elif isinstance(example, (int, float)):
            self.assertTrue(isinstance(live, (int, float)) and not isinstance(live, bool), path)
        else:
            self.assertIsInstance(live, type(example), path)

    def test_local_checks_refuse_records_the_gateway_would_reject(self) -> None:
        client = self.connect()
        cases = [
            (dict(topic="bad topic", key="k"), sluice.ErrorCode.INVALID_TOPIC),
            (dict(topic="t", key=""), sluice.ErrorCode.INVALID_KEY),
            (dict(topic="t", key=b"\xff"), sluice.ErrorCode.INVALID_KEY),
            (dict(topic="t", key="k", timestamp_ms=-1), sluice.ErrorCode.INVALID_TIMESTAMP),
            (dict(topic="t", key="k", headers={"event-id": b"x"}), sluice.ErrorCode.INVALID_HEADERS),
            (dict(topic="t", key="k", value=b"x" * 1_000_000), sluice.ErrorCode.RECORD_TOO_LARGE),
        ]
        for arguments, code in cases:
            arguments.setdefault("value", b"v")
            with self.subTest(code=code.name):
                with self.assertRaises(sluice.InvalidRecord) as caught:
                    client.publish(**arguments)
                self.assertEqual(caught.exception.code, code)
        self.assertEqual(client.unacked_records, 0)

    def test_gateway_rejections_come_back_as_failures(self) -> None:
        seen: List[sluice.RecordFailure] = []
        client = self.connect(on_failure=seen.append)
        # Pretend the server allowed longer keys, so the gateway (not the client) rejects one.
        client.limits = Limits(max_key_bytes=4096)
        client.publish("py.reject", "ok-1", b"v")
        client.publish("py.reject", "k" * 2000, b"v")
        client.publish("py.reject", "ok-2", b"v")
        failures = client.flush(timeout=30)
        self.assertEqual([(f.code, f.index, f.topic, f.retriable) for f in failures], [(21, 1, "py.reject", False)])
        self.assertEqual(seen, failures)
        self.assertEqual(client.flush(timeout=5), [], "failures are reported once")
        wait_until("balance", lambda: topic_stats(client, "py.reject").get("published") == 2, 30)
        self.assertEqual(topic_stats(client, "py.reject")["rejected"], 1)

    def test_unacked_batches_are_resent_after_a_reconnect(self) -> None:
        assert gateway is not None
        client = self.connect(max_batch_records=4, reconnect_attempts=50, backoff=0.05, backoff_max=0.2)
        client.publish("py.resend", "warm-up", b"v")
        self.assertEqual(client.flush(timeout=30), [])
        # The gateway stops reading: the batches go out and wait for acks that never come.
        gateway.signal(signal.SIGSTOP)
        try:
            for i in range(10):
                client.publish("py.resend", "player-%d" % i, b"event %d" % i)
            with self.assertRaises(TimeoutError):
                client.flush(timeout=0.5)
            self.assertEqual(client.unacked_records, 10)
        finally:
            gateway.kill()  # never read them; a new gateway on the same socket and spool
        gateway.start()
        self.assertEqual(client.flush(timeout=30), [])
        self.assertEqual(client.unacked_records, 0)
        # The new gateway received all ten, resent in their batches, and published them.
        wait_until("resent records published", lambda: topic_stats(client, "py.resend").get("published") == 10, 30)
        self.assertEqual(topic_stats(client, "py.resend")["received"], 10)

    def test_shutting_down_then_resend(self) -> None:
        assert gateway is not None
        client = self.connect(reconnect_attempts=200, backoff=0.02, backoff_max=0.1)
        client.publish("py.shutdown", "a", b"1")
        self.assertEqual(client.flush(timeout=30), [])
        gateway.stop()  # SIGTERM: SHUTTING_DOWN on every connection
        gateway.start()
        client.publish("py.shutdown", "b", b"2")
        self.assertEqual(client.flush(timeout=30), [])
        wait_until("published after the restart", lambda: topic_stats(client, "py.shutdown").get("published") == 1)


if __name__ == "__main__":
    unittest.main()
