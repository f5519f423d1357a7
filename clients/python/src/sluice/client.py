"""A synchronous client for the Sluice gateway: batches, acks, and resends after a reconnect."""

from __future__ import annotations

import collections
import json
import os
import time
import uuid
from typing import Any, Callable, Deque, Dict, List, Optional, Union

from . import protocol
from .batches import _Batch, _Batching
from .connection import Connection
from .errors import (
    ConnectionLost,
    ErrorCode,
    InvalidRecord,
    ProtocolViolation,
    RecordFailure,
    SluiceError,
    error_name,
)
from .protocol import AckLevel, ErrorMessage, Limits
from .reader import Frame

__all__ = ["Client", "connect"]

_DEFAULT_NAME = "sluice-python/0.1.0"


class Client(_Batching):
    """One connection to a Sluice gateway; not thread-safe (use one per thread).

    `publish` appends a record to an open batch, which is sent when full or on `flush`.
    Every batch is kept until the gateway acknowledges it; if the connection breaks the
    client reconnects, redoes the handshake and resends every unacknowledged batch in the
    original order, with the same event ids (delivery is at least once).

    Example::

        with sluice.connect("/run/sluice/sluice.sock") as client:
            client.publish("game.events", "player-42", b'{"level": 3}', event_type="level-up")
            failures = client.flush(timeout=5.0)
    """

    def __init__(
        self,
        path: str,
        *,
        ack: AckLevel = AckLevel.DURABLE,
        client_name: str = _DEFAULT_NAME,
        max_batch_records: int = 1000,
        max_batch_bytes: int = 1_048_576,
        compression: bool = True,
        zstd_level: int = 1,
        connect_timeout: float = 5.0,
        reconnect_attempts: int = 5,
        backoff: float = 0.1,
        backoff_max: float = 2.0,
        on_failure: Optional[Callable[[RecordFailure], None]] = None,
    ) -> None:
        """Connects to the gateway at `path` and does the HELLO handshake (raises `SluiceError` on failure)."""
        self.path = path
        self.ack = AckLevel(ack)
        self.client_name = client_name
        self.max_batch_records = max_batch_records
        self.max_batch_bytes = max_batch_bytes
        self.connect_timeout = connect_timeout
        self.reconnect_attempts = max(1, reconnect_attempts)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.on_failure = on_failure
        self.limits = Limits()
        self.server_name = ""
        self._compressor = protocol.make_compressor(zstd_level) if compression else None
        self._conn: Optional[Connection] = None
        self._next_id = 1
        self._open: Optional[_Batch] = None
        #: Batches in publish order, sent or not, until acknowledged.
        self._held: Deque[_Batch] = collections.deque()
        #: Request id → batch, for batches sent and awaiting their ACK.
        self._in_flight: Dict[int, _Batch] = {}
        #: Ack level `none`: what the client recalls of recent batches, to attribute late failures.
        self._unacked_none: "collections.OrderedDict[int, _Batch]" = collections.OrderedDict()
        self._replies: Dict[int, Frame] = {}
        self._failures: List[RecordFailure] = []
        self.failed_records = 0
        self._connect()

    # --- public API ---------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        key: Union[str, bytes],
        value: Union[bytes, str],
        *,
        headers: protocol.HeadersArg = None,
        event_type: str = "",
        event_id: Optional[Union[bytes, uuid.UUID]] = None,
        timestamp_ms: int = 0,
    ) -> bytes:
        """Validates a record against the protocol and the server's limits and appends it to the open batch.

        Returns the record's 16-byte event id (a random UUIDv4 unless given), which it keeps
        when resent. Raises `InvalidRecord` (with the protocol's code) for a record the
        gateway would reject; the record is not taken then. A full batch is sent at once.
        """
        encoded, key_bytes, eid = protocol.prepare_record(
            topic, key, value, headers, event_type, event_id, timestamp_ms, self.limits
        )
        batch_limit = self._batch_byte_limit()
        if protocol.PUBLISH_PREAMBLE + len(encoded) > batch_limit:
            raise InvalidRecord("record of %d bytes does not fit a frame" % len(encoded), ErrorCode.RECORD_TOO_LARGE)
        if self._open is not None and (
            self._open.size + len(encoded) > batch_limit
            or len(self._open.encoded) >= min(self.max_batch_records, self.limits.max_records_per_frame)
        ):
            self._close_open_batch()
        if self._open is None:
            self._open = _Batch(self.ack)
        self._open.encoded.append(encoded)
        self._open.meta.append((topic, key_bytes, eid))
        self._open.size += len(encoded)
        try:
            self._pump(block=False)
            # Backpressure: past the server's unacked-bytes limit, wait for acks.
            deadline = time.monotonic() + 30.0
            while self._held_bytes() > self.limits.max_unacked_bytes:
                self._pump(block=True, deadline=deadline)
                if time.monotonic() >= deadline:
                    raise TimeoutError("the gateway did not acknowledge held batches in time")
        except ConnectionLost:
            pass  # the record is held; the next call reconnects and resends
        return eid

    def flush(self, timeout: Optional[float] = None) -> List[RecordFailure]:
        """Sends the open batch and waits until every batch is acknowledged (or, at ack level `none`, written).

        Returns the records the gateway rejected since the previous flush (empty when all
        succeeded); they are also passed to `on_failure`. Raises `TimeoutError` when not done
        in time and `ConnectionLost` when the gateway cannot be reached; unacknowledged
        records stay held for the next call either way.
        """
        self._close_open_batch()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._pump(block=False)  # also reads failures reported late (ack level none)
        except ConnectionLost:
            pass
        while self._held:
            self._pump(block=True, deadline=deadline)
            if deadline is not None and time.monotonic() >= deadline and self._held:
                raise TimeoutError("%d records not acknowledged in time" % self.unacked_records)
        failures, self._failures = self._failures, []
        return failures

    def stats(self, timeout: float = 5.0) -> Dict[str, Any]:
        """The gateway's STATS document, parsed from JSON (section 3.5)."""
        reply = self._request(protocol.encode_stats, timeout)
        assert isinstance(reply.message, str)
        document = json.loads(reply.message)
        if not isinstance(document, dict):
            raise ProtocolViolation("STATS_REPLY is not a JSON object", ErrorCode.MALFORMED_PAYLOAD)
        return document

    def ping(self, data: bytes = b"", timeout: float = 5.0) -> float:
        """Sends PING and waits for its PONG; returns the round trip in seconds."""
        started = time.monotonic()
        reply = self._request(lambda request_id: protocol.encode_ping(request_id, data), timeout)
        if reply.message != data:
            raise ProtocolViolation("PONG does not echo the PING", ErrorCode.MALFORMED_PAYLOAD)
        return time.monotonic() - started

    @property
    def unacked_records(self) -> int:
        """Records held: in the open batch or sent and not yet acknowledged."""
        held = sum(len(batch.encoded) for batch in self._held)
        return held + (len(self._open.encoded) if self._open else 0)

    @property
    def is_connected(self) -> bool:
        """Whether the connection is up and the handshake done."""
        return self._conn is not None

    def close(self) -> None:
        """Closes the connection. Does not flush: call `flush` first to keep held records."""
        self._disconnect()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush(timeout=self.connect_timeout * 2)
        finally:
            self.close()

    # --- request ids --------------------------------------------------------------------

    def _take_id(self) -> int:
        request_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFFF else 1
        return request_id

    # --- connection ---------------------------------------------------------------------

    def _connect(self) -> None:
        """One connection attempt with the handshake; raises `SluiceError`."""
        self._disconnect()
        self._conn = Connection.open(self.path, self.client_name, self._take_id(), self.connect_timeout)
        self.limits = self._conn.hello.limits
        self.server_name = self._conn.hello.server_name
        self._replies.clear()
        # Everything not acknowledged is sent again, in the original order.
        for batch in self._held:
            batch.sent = False
        self._in_flight.clear()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reconnect(self, deadline: Optional[float]) -> None:
        """Reconnects with backoff, bounded by `reconnect_attempts` and `deadline`."""
        pause = self.backoff
        last: Optional[BaseException] = None
        for attempt in range(self.reconnect_attempts):
            if attempt:
                if deadline is not None and time.monotonic() + pause > deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, self.backoff_max)
            try:
                self._connect()
                return
            except SluiceError as error:
                last = error
                if not error.retriable and error.code is not None:
                    raise
        raise ConnectionLost("cannot reconnect to %s: %s" % (self.path, last), retriable=True)

    def _write(self, data: bytes) -> None:
        """Writes all of `data` (replies that arrive meanwhile are handled)."""
        if self._conn is None:
            raise ConnectionLost("not connected", retriable=True)
        try:
            self._conn.write(data, self._handle)
        except ProtocolViolation:
            self._disconnect()
            raise
        except SluiceError as error:
            raise self._settle_and_disconnect(error)

    def _wait(self, deadline: Optional[float]) -> None:
        """Waits for replies until one arrives or `deadline`, and handles them."""
        if self._conn is None:
            raise ConnectionLost("not connected", retriable=True)
        try:
            self._conn.wait(deadline, self._handle)
        except ProtocolViolation:
            self._disconnect()
            raise
        except SluiceError as error:
            raise self._settle_and_disconnect(error)

    def _settle_and_disconnect(self, error: SluiceError) -> SluiceError:
        """Handles the replies still readable on the broken connection, then closes it; returns the error to raise.

        The gateway acks what it read before it closes: resending those batches would publish
        them twice (PROTOCOL.md section 9). A closing ERROR found there is the better reason.
        """
        connection, self._conn = self._conn, None
        found = connection.drain(self._handle) if connection is not None else None
        return found or error

    # --- the loop -----------------------------------------------------------------------

    def _pump(self, block: bool, deadline: Optional[float] = None) -> None:
        """Sends what is due and reads replies; with `block`, waits for one event (bounded by `deadline`)."""
        while True:
            try:
                if self._conn is None:
                    self._reconnect(deadline)
                self._send_due_batches()
                if not block or not self._held:
                    # Nothing to wait for (ack level none is done once written): read what is there.
                    self._wait(time.monotonic())
                    return
                wake = deadline
                paused = [b.not_before for b in self._held if not b.sent and b.not_before > 0]
                if paused:
                    wake = min(paused) if wake is None else min(wake, min(paused))
                self._wait(wake)
                return
            except (ConnectionLost, ProtocolViolation):
                # A broken connection or a reply that breaks the protocol: reconnect and resend.
                if not self._held and not block:
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                self._reconnect(deadline)

    def _request(self, encode: Callable[[int], bytes], timeout: float) -> Frame:
        """Sends a request and waits for the reply with its id; reconnects once if the connection broke."""
        deadline = time.monotonic() + timeout
        for attempt in range(2):
            try:
                if self._conn is None:
                    self._reconnect(deadline)
                self._send_due_batches()
                request_id = self._take_id()
                self._write(encode(request_id))
                while request_id not in self._replies:
                    if time.monotonic() >= deadline:
                        raise TimeoutError("no reply in time")
                    self._wait(deadline)
                    if self._conn is None:
                        raise ConnectionLost("connection lost", retriable=True)
                reply = self._replies.pop(request_id)
                if isinstance(reply.message, ErrorMessage):
                    error = reply.message
                    raise SluiceError("%s: %s" % (error_name(error.code), error.message), error.code, error.retriable)
                return reply
            except ConnectionLost:
                if attempt == 1 or time.monotonic() >= deadline:
                    raise
        raise AssertionError("unreachable")


def connect(path: Optional[str] = None, **options: Any) -> Client:
    """Connects to the gateway at `path` (default: ``$SLUICE_SOCKET``, then ``/run/sluice/sluice.sock``)."""
    return Client(path or os.environ.get("SLUICE_SOCKET", "/run/sluice/sluice.sock"), **options)

