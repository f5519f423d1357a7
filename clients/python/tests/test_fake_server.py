"""The client's handling of each kind of reply, against a scripted server on a Unix socket."""

from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
import unittest
from typing import Callable, List, Tuple, Union

import sluice
from sluice import payload as payloads
from sluice import protocol
from sluice.protocol import Limits, MessageType

from gateway import wait_until

#: Decides the reply to a PUBLISH: (connection number, publish number, request id, record count) → bytes
#: to send, ``b"close"`` to close without answering, or ``(bytes, "close")`` to send, then close.
Script = Callable[[int, int, int, int], Union[bytes, Tuple[bytes, str]]]


def hello_ok(request_id: int) -> bytes:
    limits = Limits()
    payload = struct.pack(
        ">HIIIIHHI",
        1,
        limits.max_frame_bytes,
        limits.max_decompressed_bytes,
        limits.max_records_per_frame,
        limits.max_record_bytes,
        limits.max_key_bytes,
        limits.max_headers,
        limits.max_header_bytes,
    ) + protocol.str16("fake/1")
    return protocol.frame(MessageType.HELLO_OK, payload, request_id)


def ack(request_id: int, count: int, failures: Tuple[Tuple[int, int], ...] = ()) -> bytes:
    body = struct.pack(">II", count, len(failures)) + b"".join(struct.pack(">IH", i, c) for i, c in failures)
    return protocol.frame(MessageType.ACK, body, request_id)


def error(request_id: int, code: int, closing: bool, retriable: bool) -> bytes:
    flags = (1 if closing else 0) | (2 if retriable else 0)
    return protocol.frame(MessageType.ERROR, struct.pack(">HBB", code, flags, 0) + protocol.str16("scripted"), request_id)


class FakeServer:
    """Accepts connections one at a time, answers HELLO, and PUBLISH frames as `script` says."""

    def __init__(self, script: Script) -> None:
        self.directory = tempfile.mkdtemp(prefix="sluice-fake-")
        self.path = os.path.join(self.directory, "fake.sock")
        self.script = script
        #: Per PUBLISH seen: (connection number, request id, payload as sent).
        self.publishes: List[Tuple[int, int, bytes]] = []
        #: Connections the server has closed.
        self.closed = 0
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection_number = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            connection_number += 1
            with conn:
                self._session(conn, connection_number)
            self.closed += 1

    def _session(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        while True:
            while len(buffer) < 16 or len(buffer) < 16 + struct.unpack(">I", buffer[12:16])[0]:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            length = struct.unpack(">I", buffer[12:16])[0]
            kind, flags, request_id = buffer[3], struct.unpack(">H", buffer[4:6])[0], struct.unpack(">I", buffer[8:12])[0]
            payload, buffer = buffer[16 : 16 + length], buffer[16 + length :]
            if kind == MessageType.HELLO:
                conn.sendall(hello_ok(request_id))
            elif kind == MessageType.PUBLISH:
                plain = payloads.decompress_payload(payload, 1 << 22) if flags & 1 else payload
                self.publishes.append((number, request_id, plain))
                count = struct.unpack(">I", plain[2:6])[0]
                reply = self.script(number, len(self.publishes), request_id, count)
                if reply == b"close":
                    return
                if isinstance(reply, tuple):
                    conn.sendall(reply[0])
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self.listener.close()
        os.unlink(self.path)
        os.rmdir(self.directory)


class RepliesFromAScriptedServer(unittest.TestCase):
    def serve(self, script: Script) -> FakeServer:
        server = FakeServer(script)
        self.addCleanup(server.close)
        return server

    def publish_three(self, server: FakeServer, **options: object) -> sluice.Client:
        client = sluice.connect(server.path, compression=False, backoff=0.01, backoff_max=0.05, **options)
        self.addCleanup(client.close)
        for i in range(3):
            client.publish("t", "k%d" % i, b"v")
        return client

    def test_a_retriable_error_resends_the_same_batch_after_a_pause(self) -> None:
        def script(conn: int, n: int, request_id: int, count: int) -> bytes:
            return error(request_id, 40, False, True) if n == 1 else ack(request_id, count)

        server = self.serve(script)
        client = self.publish_three(server)
        self.assertEqual(client.flush(timeout=10), [])
        (c1, id1, first), (c2, id2, second) = server.publishes
        self.assertEqual((c1, c2), (1, 1), "same connection: OVERLOADED does not close")
        self.assertNotEqual(id1, id2, "a new request id")
        self.assertEqual(first, second, "the same records with the same event ids")

    def test_a_final_error_fails_every_record_of_the_batch(self) -> None:
        server = self.serve(lambda conn, n, request_id, count: error(request_id, 7, False, False))
        client = self.publish_three(server)
        failures = client.flush(timeout=10)
        self.assertEqual([(f.code, f.index, f.retriable) for f in failures], [(7, 0, False), (7, 1, False), (7, 2, False)])
        self.assertEqual(len(server.publishes), 1, "never resent")

    def test_a_broken_connection_resends_on_the_next_one(self) -> None:
        def script(conn: int, n: int, request_id: int, count: int) -> bytes:
            return b"close" if conn == 1 else ack(request_id, count, ((1, 21),))

        server = self.serve(script)
        client = self.publish_three(server)
        failures = client.flush(timeout=10)
        self.assertEqual([(f.code, f.index, f.key) for f in failures], [(21, 1, b"k1")])
        self.assertEqual([c for c, _, _ in server.publishes], [1, 2])
        self.assertEqual(server.publishes[0][2], server.publishes[1][2], "resent as it was")

    def test_a_reply_that_breaks_the_protocol_reconnects_and_resends(self) -> None:
        def script(conn: int, n: int, request_id: int, count: int) -> bytes:
            # First an ACK whose record count differs from the PUBLISH's, then a proper one.
            return ack(request_id, count + 1) if conn == 1 else ack(request_id, count)

        server = self.serve(script)
        client = self.publish_three(server)
        self.assertEqual(client.flush(timeout=10), [])
        self.assertEqual([c for c, _, _ in server.publishes], [1, 2])

    def test_shutting_down_reconnects_and_resends(self) -> None:
        def script(conn: int, n: int, request_id: int, count: int) -> bytes:
            return error(0, 41, True, True) if conn == 1 else ack(request_id, count)

        server = self.serve(script)
        client = self.publish_three(server)
        self.assertEqual(client.flush(timeout=10), [])
        self.assertEqual([c for c, _, _ in server.publishes], [1, 2])

    def test_replies_left_on_a_broken_connection_are_read_before_resending(self) -> None:
        # The server acks five batches and closes (with and without SHUTTING_DOWN) before the
        # client has read the ACKs; the client's next write fails. The ACKs still in the socket
        # settle those batches, so only what was not acked is sent again.
        for shutting_down in (False, True):
            with self.subTest(shutting_down=shutting_down):
                release = threading.Event()
                held: List[bytes] = []

                def script(conn: int, n: int, request_id: int, count: int) -> Union[bytes, Tuple[bytes, str]]:
                    if conn > 1:
                        return ack(request_id, count)
                    held.append(ack(request_id, count))
                    if len(held) < 5:
                        return b""
                    release.wait(10)
                    return (b"".join(held) + (error(0, 41, True, True) if shutting_down else b""), "close")

                server = self.serve(script)
                client = sluice.connect(server.path, compression=False, max_batch_records=1, backoff=0.01)
                self.addCleanup(client.close)
                for i in range(6):  # a batch is sent when the next record finds it full: five go out
                    client.publish("t", "k", b"v%d" % i)
                wait_until("the server reads five batches", lambda: len(server.publishes) == 5)
                release.set()
                wait_until("the server closes the connection", lambda: server.closed == 1)
                self.assertEqual(client.unacked_records, 6, "the client has not read the ACKs yet")
                client.publish("t", "k", b"v6")  # sends v5: the write meets the closed socket first
                self.assertEqual(client.flush(timeout=10), [])
                self.assertEqual(
                    [c for c, _, _ in server.publishes], [1, 1, 1, 1, 1, 2, 2], "acked batches were sent again"
                )
                self.assertEqual(len({p for _, _, p in server.publishes}), 7, "each batch (and event id) once")

    def test_ack_level_none_reports_late_failures(self) -> None:
        server = self.serve(lambda conn, n, request_id, count: ack(request_id, count, ((2, 23),)))
        seen: List[sluice.RecordFailure] = []
        client = self.publish_three(server, ack=sluice.AckLevel.NONE, on_failure=seen.append)
        reported = client.flush(timeout=10)  # returns once written; the ACK may or may not be read yet
        wait_until("the late failure is read", lambda: bool(reported or client.flush(timeout=1) or seen), 10)
        self.assertEqual([(f.code, f.index, f.key) for f in seen], [(23, 2, b"k2")])

if __name__ == "__main__":
    unittest.main()
