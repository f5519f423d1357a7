"""The shared vectors against the Python client's encoder, reader and local checks."""

from __future__ import annotations

import random
import struct
import unittest

from sluice import payload as payloads
from sluice import protocol
from sluice import reader as readers
from sluice.errors import ProtocolViolation
from sluice.protocol import Limits, Record

from vectors import ALL, named


def read_all(data: bytes, chunks: list) -> tuple:
    """Feeds `data` in the given chunk sizes; returns (frames, error code or None, pending bytes)."""
    reader = readers.FrameReader()
    frames = []
    offset = 0
    for size in chunks:
        reader.feed(data[offset : offset + size])
        offset += size
        while True:
            try:
                frame = reader.next()
            except ProtocolViolation as violation:
                return frames, violation.code, reader.pending
            if frame is None:
                break
            frames.append(frame)
    return frames, None, reader.pending


class ServerFrameVectors(unittest.TestCase):
    """s2c vectors: what the client's reader makes of server frames."""

    def test_every_s2c_vector_whole_byte_by_byte_and_split(self) -> None:
        vectors = [v for v in ALL if v.direction == "s2c"]
        self.assertGreaterEqual(len(vectors), 25)
        rng = random.Random(7)
        for v in vectors:
            splits = [[len(v.frame)], [1] * len(v.frame)]
            for _ in range(5):
                sizes, left = [], len(v.frame)
                while left:
                    sizes.append(rng.randint(1, min(40, left)))
                    left -= sizes[-1]
                splits.append(sizes)
            for sizes in splits:
                frames, code, pending = read_all(v.frame, sizes)
                with self.subTest(vector=v.name, chunks=len(sizes)):
                    if v.expect == "ok":
                        self.assertEqual((len(frames), code, pending), (1, None, 0))
                    elif v.error is not None:
                        self.assertEqual((frames, code), ([], v.error))
                    else:
                        self.assertEqual((frames, code, pending), ([], None, len(v.frame)))

    def test_field_values(self) -> None:
        (frame,) = list(readers.iter_frames(named("hello_ok").frame))
        self.assertEqual(frame.request_id, 1)
        self.assertEqual(frame.message.server_name, "sluice/0.1.0")
        self.assertEqual(frame.message.limits, Limits())
        (frame,) = list(readers.iter_frames(named("ack_one_failed").frame))
        self.assertEqual((frame.request_id, frame.message.record_count, frame.message.failures), (9, 3, [(1, 21)]))
        (frame,) = list(readers.iter_frames(named("error_overloaded").frame))
        self.assertEqual((frame.message.code, frame.message.closing, frame.message.retriable), (40, False, True))
        (frame,) = list(readers.iter_frames(named("hello_ok_without_session_limits").frame))
        self.assertEqual(frame.message.limits.idle_timeout_ms, 0)
        # The server's own limits, not section 6's reference values, are what the client keeps.
        (frame,) = list(readers.iter_frames(named("hello_ok_own_limits").frame))
        limits = frame.message.limits
        self.assertEqual((limits.max_frame_bytes, limits.max_records_per_frame, limits.max_key_bytes), (65536, 100, 64))
        self.assertEqual((limits.max_unacked_bytes, limits.idle_timeout_ms, limits.max_connections), (16777216, 0, 10))


class ClientFrameVectors(unittest.TestCase):
    """c2s vectors: the client's encoder, payload rules and local record checks."""

    def test_control_frames_are_byte_exact(self) -> None:
        self.assertEqual(protocol.encode_hello(1, "c"), named("hello_v1").frame)
        self.assertEqual(protocol.encode_hello(1, "libsluice/9", 1, 3), named("hello_range_1_3").frame)
        self.assertEqual(protocol.encode_ping(7, b"hi"), named("ping_hi").frame)
        self.assertEqual(protocol.encode_ping(8), named("ping_empty").frame)
        self.assertEqual(protocol.encode_stats(10), named("stats").frame)
        with self.assertRaises(ValueError):
            protocol.encode_ping(1, b"x" * 257)

    def test_publish_frames_are_byte_exact(self) -> None:
        plain = protocol.encode_record(Record(topic="t", key=b"p1", value=b"v"))
        payload = protocol.encode_publish_payload([plain], 0)
        self.assertEqual(protocol.encode_publish(2, payload), named("publish_one_plain").frame)
        payload = protocol.encode_publish_payload([plain], 2)
        self.assertEqual(protocol.encode_publish(2, payload), named("publish_ack_none").frame)
        full = Record(
            topic="game.events-v1_x",
            key=b"player-42",
            value=b'{"level":3}',
            event_type="login",
            event_id=bytes(range(1, 17)),
            timestamp_ms=1764412800000,
            headers=[("source", b"svc-a"), ("trace", b"\x00\x01")],
        )
        payload = protocol.encode_publish_payload([protocol.encode_record(full)], 1)
        self.assertEqual(protocol.encode_publish(2, payload), named("publish_full_record").frame)
        records = [
            protocol.encode_record(Record(topic="t", key=b"player-%d" % i, value=b"event %d" % i)) for i in range(50)
        ]
        payload = protocol.encode_publish_payload(records, 0)
        self.assertEqual(payload, named("publish_zstd_50").plain)
        compressed = protocol.encode_publish(3, payload, protocol.make_compressor())
        self.assertEqual(struct.unpack(">H", compressed[4:6])[0], protocol.COMPRESSED)
        self.assertEqual(payloads.decompress_payload(compressed[16:], 4_194_304), payload)

    def test_publish_payload_rules(self) -> None:
        checked = 0
        for v in ALL:
            if v.direction != "c2s" or len(v.frame) < 16 or v.frame[3] != protocol.MessageType.PUBLISH:
                continue
            if struct.unpack(">I", v.frame[12:16])[0] != len(v.frame) - 16:
                continue  # header-level vectors
            code = None
            try:
                payload = v.frame[16:]
                if v.frame[5] & protocol.COMPRESSED:
                    payload = payloads.decompress_payload(payload, 4_194_304)
                    if v.plain is not None:
                        self.assertEqual(payload, v.plain, v.name)
                payloads.decode_publish_payload(payload)
            except ProtocolViolation as violation:
                code = violation.code
            with self.subTest(vector=v.name):
                self.assertEqual(code, v.error)
            checked += 1
        self.assertGreaterEqual(checked, 30)

    def test_local_checks_give_the_vectors_record_codes(self) -> None:
        checked = 0
        for v in ALL:
            if v.record_codes is None:
                continue
            payload = v.frame[16:]
            if v.frame[5] & protocol.COMPRESSED:
                payload = payloads.decompress_payload(payload, 4_194_304)
            _, records = payloads.decode_publish_payload(payload)
            self.assertEqual(len(records), len(v.record_codes), v.name)
            for record, want in zip(records, v.record_codes):
                got = protocol.check_record(
                    record.topic, record.key, record.event_type, record.timestamp_ms, record.headers,
                    len(record.value), Limits(),
                )
                with self.subTest(vector=v.name, key=record.key[:20]):
                    self.assertEqual(got, want)
                checked += 1
        self.assertGreaterEqual(checked, 40)


if __name__ == "__main__":
    unittest.main()
