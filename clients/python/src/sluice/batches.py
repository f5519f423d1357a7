"""The batches a `Client` holds until the gateway acknowledges them, and what its ACK and ERROR replies do to them."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, List, Optional, Tuple

import zstandard

from . import protocol
from .errors import (
    ConnectionLost,
    ErrorCode,
    ProtocolViolation,
    RecordFailure,
    SluiceError,
    error_name,
    is_retriable,
)
from .protocol import Ack, AckLevel, ErrorMessage, Limits, MessageType
from .reader import Frame


@dataclass(eq=False)
class _Batch:
    """Records sent (or to be sent) in one PUBLISH, kept until acknowledged."""

    ack: AckLevel
    encoded: List[bytes] = field(default_factory=list)
    #: Per record: topic, key and event id, for failure reports.
    meta: List[Tuple[str, bytes, bytes]] = field(default_factory=list)
    size: int = protocol.PUBLISH_PREAMBLE
    request_id: int = 0
    sent: bool = False
    #: A retriable ERROR answered it: not before this monotonic time.
    not_before: float = 0.0
    retries: int = 0


class _Batching:
    """The batch half of `Client` (a mixin): building, sending and settling the batches it holds.

    `Client.__init__` sets the state below; `Client` provides the three methods after it.
    """

    limits: Limits
    max_batch_bytes: int
    backoff: float
    backoff_max: float
    on_failure: Optional[Callable[[RecordFailure], None]]
    failed_records: int
    _compressor: Optional[zstandard.ZstdCompressor]
    _open: Optional[_Batch]
    #: Batches in publish order, sent or not, until acknowledged.
    _held: Deque[_Batch]
    #: Request id → batch, for batches sent and awaiting their ACK.
    _in_flight: Dict[int, _Batch]
    #: Ack level `none`: what the client recalls of recent batches, to attribute late failures.
    _unacked_none: "collections.OrderedDict[int, _Batch]"
    _replies: Dict[int, Frame]
    _failures: List[RecordFailure]

    def _write(self, data: bytes) -> None:
        raise NotImplementedError  # Client: writes a frame on the connection

    def _take_id(self) -> int:
        raise NotImplementedError  # Client: the next request id

    def _disconnect(self) -> None:
        raise NotImplementedError  # Client: closes the connection

    # --- batches ------------------------------------------------------------------------

    def _batch_byte_limit(self) -> int:
        frame_limit = self.limits.max_frame_bytes if self._compressor is None else self.limits.max_decompressed_bytes
        return max(protocol.PUBLISH_PREAMBLE + 64, min(self.max_batch_bytes, frame_limit, self.limits.max_frame_bytes))

    def _held_bytes(self) -> int:
        return sum(batch.size for batch in self._held)

    def _close_open_batch(self) -> None:
        if self._open is not None and self._open.encoded:
            self._held.append(self._open)
        self._open = None

    def _frame_for(self, batch: _Batch) -> bytes:
        payload = protocol.encode_publish_payload(batch.encoded, batch.ack)
        data = protocol.encode_publish(batch.request_id, payload, self._compressor)
        if len(data) - protocol.HEADER_SIZE > self.limits.max_frame_bytes:
            data = protocol.encode_publish(batch.request_id, payload, None)
        return data

    def _send_due_batches(self) -> None:
        """Writes batches not yet sent, in order; one paused after a retriable ERROR holds back the rest."""
        now = time.monotonic()
        for batch in list(self._held):
            if batch.sent:
                continue
            if batch.not_before > now:
                break
            batch.request_id = self._take_id()
            self._write(self._frame_for(batch))
            batch.sent = True
            if batch.ack == AckLevel.NONE:
                # Never acked: done once written; recall it a while for failure reports.
                self._held.remove(batch)
                self._unacked_none[batch.request_id] = batch
                while len(self._unacked_none) > 1024:
                    self._unacked_none.popitem(last=False)
            else:
                self._in_flight[batch.request_id] = batch

    # --- replies ------------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        if frame.type == MessageType.ACK:
            assert isinstance(frame.message, Ack)
            self._on_ack(frame.request_id, frame.message)
        elif frame.type == MessageType.ERROR:
            assert isinstance(frame.message, ErrorMessage)
            self._on_error(frame.request_id, frame.message)
        elif frame.type == MessageType.HELLO_OK:
            self._disconnect()
            raise ProtocolViolation("HELLO_OK after the handshake", ErrorCode.PROTOCOL_STATE)
        else:
            self._replies[frame.request_id] = frame

    def _on_ack(self, request_id: int, ack: Ack) -> None:
        batch = self._in_flight.get(request_id) or self._unacked_none.get(request_id)
        if batch is None:
            return  # an ACK for a batch this client no longer recalls
        if ack.record_count != len(batch.encoded):
            # The batch stays held: the caller reconnects and resends it (PROTOCOL.md section 3.3).
            raise ProtocolViolation("ACK record count differs from the PUBLISH", ErrorCode.MALFORMED_PAYLOAD)
        self._in_flight.pop(request_id, None)
        self._unacked_none.pop(request_id, None)
        if batch in self._held:
            self._held.remove(batch)
        for index, code in ack.failures:
            self._fail(batch, index, code, "")

    def _on_error(self, request_id: int, error: ErrorMessage) -> None:
        batch = self._in_flight.pop(request_id, None) if request_id else None
        recalled = self._unacked_none.pop(request_id, None) if request_id and batch is None else None
        if recalled is not None:
            # Ack level none: the batch is no longer held, so its records are reported as failed.
            for index in range(len(recalled.encoded)):
                self._fail(recalled, index, error.code, error.message)
        elif batch is not None:
            if error.retriable and not error.closing:
                # None of its records was accepted: send the whole batch again after a pause.
                batch.sent = False
                batch.retries += 1
                batch.not_before = time.monotonic() + min(self.backoff * (2 ** (batch.retries - 1)), self.backoff_max)
            elif not error.retriable:
                self._held.remove(batch)
                for index in range(len(batch.encoded)):
                    self._fail(batch, index, error.code, error.message)
            else:
                batch.sent = False  # closing and retriable: resent after the reconnect
        elif request_id:
            # The answer to a STATS or PING this client waits for.
            self._replies[request_id] = Frame(MessageType.ERROR, request_id, error)
        if error.closing:  # the caller reads what is left on the connection, then closes it
            if not error.retriable:
                raise SluiceError(
                    "the gateway closed the connection: %s: %s" % (error_name(error.code), error.message), error.code
                )
            raise ConnectionLost("the gateway is closing: %s" % error_name(error.code), error.code, True)

    def _fail(self, batch: _Batch, index: int, code: int, message: str) -> None:
        topic, key, event_id = batch.meta[index] if index < len(batch.meta) else (None, None, None)
        failure = RecordFailure(
            code=code,
            topic=topic,
            key=key,
            event_id=event_id,
            index=index,
            message=message,
            retriable=is_retriable(code),
        )
        self.failed_records += 1
        self._failures.append(failure)
        if self.on_failure is not None:
            self.on_failure(failure)
