"""Reading the server's byte stream: frames and the messages they carry (PROTOCOL.md section 3)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

from .errors import ErrorCode, ProtocolViolation
from .protocol import (
    CLIENT_TYPES,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_PING_BYTES,
    MAX_SERVER_PAYLOAD,
    VERSION,
    Ack,
    ErrorMessage,
    HelloOK,
    Limits,
    MessageType,
    is_utf8,
)


@dataclass
class Frame:
    """One decoded server frame: type, request id and the message it carries."""

    type: MessageType
    request_id: int
    message: Union[HelloOK, Ack, ErrorMessage, str, bytes]


class FieldReader:
    """Big-endian fields out of a payload; running past the end is MALFORMED_PAYLOAD."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.offset:
            raise ProtocolViolation("a length runs past the end of the payload", ErrorCode.MALFORMED_PAYLOAD)
        start = self.offset
        self.offset += count
        return self.data[start : self.offset]

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def i64(self) -> int:
        return int(struct.unpack(">q", self.take(8))[0])

    def bytes16(self) -> bytes:
        return self.take(self.u16())

    def text16(self) -> str:
        raw = self.bytes16()
        if not is_utf8(raw):
            raise ProtocolViolation("a str16 field is not UTF-8", ErrorCode.MALFORMED_PAYLOAD)
        return raw.decode("utf-8")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def expect_end(self) -> None:
        if self.remaining:
            raise ProtocolViolation("%d trailing bytes" % self.remaining, ErrorCode.MALFORMED_PAYLOAD)


def _decode_hello_ok(payload: bytes) -> HelloOK:
    r = FieldReader(payload)
    limits = Limits(
        version=r.u16(),
        max_frame_bytes=r.u32(),
        max_decompressed_bytes=r.u32(),
        max_records_per_frame=r.u32(),
        max_record_bytes=r.u32(),
        max_key_bytes=r.u16(),
        max_headers=r.u16(),
        max_header_bytes=r.u32(),
    )
    name = r.text16()
    if 0 < r.remaining < 16:  # the four session limits come as a group (PROTOCOL.md section 3.1)
        raise ProtocolViolation(
            "HELLO_OK has %d of the 16 bytes of session limits" % r.remaining, ErrorCode.MALFORMED_PAYLOAD
        )
    if r.remaining >= 16:
        limits.max_unacked_bytes = r.u32()
        limits.handshake_timeout_ms = r.u32()
        limits.idle_timeout_ms = r.u32()
        limits.max_connections = r.u32()
    else:  # an early version 1 server: no such limits
        limits.max_unacked_bytes = 2**32 - 1
        limits.handshake_timeout_ms = 0
        limits.idle_timeout_ms = 0
        limits.max_connections = 2**32 - 1
    return HelloOK(limits, name)  # later fields are ignored


def _decode_ack(payload: bytes) -> Ack:
    r = FieldReader(payload)
    count, failed = r.u32(), r.u32()
    if count == 0 or failed > count or r.remaining != failed * 6:
        raise ProtocolViolation("ACK counts do not fit (%d records, %d failed)" % (count, failed), 7)
    failures: List[Tuple[int, int]] = []
    for _ in range(failed):
        index, code = r.u32(), r.u16()
        if index >= count or (failures and index <= failures[-1][0]):
            raise ProtocolViolation("ACK failure index %d out of range or order" % index, 7)
        failures.append((index, code))
    return Ack(count, failures)


def _decode_error(payload: bytes) -> ErrorMessage:
    r = FieldReader(payload)
    code, flags, reserved = r.u16(), r.u8(), r.u8()
    if flags & ~3 or reserved:
        raise ProtocolViolation("reserved bits set in ERROR", ErrorCode.RESERVED_BITS)
    message = r.text16()
    r.expect_end()
    return ErrorMessage(code, bool(flags & 1), bool(flags & 2), message)


class FrameReader:
    """Splits the server's byte stream into frames: feed bytes, then call `next()` until it returns None.

    Header checks come before any payload byte is waited for; a violation raises
    `ProtocolViolation` and the reader stays failed (the stream cannot be trusted).
    """

    def __init__(self, max_payload: int = MAX_SERVER_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload
        self._failed: Optional[ProtocolViolation] = None

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as frames."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Appends received bytes."""
        if self._failed is None:
            self._buffer += data

    def next(self) -> Optional[Frame]:
        """The next complete frame, or None when more bytes are needed."""
        if self._failed is not None:
            raise self._failed
        try:
            return self._next()
        except ProtocolViolation as violation:
            self._failed = violation
            self._buffer.clear()
            raise

    def _next(self) -> Optional[Frame]:
        if len(self._buffer) < HEADER_SIZE:
            return None
        magic, version, type_, flags, reserved, request_id, length = HEADER.unpack_from(self._buffer)
        if magic != MAGIC:
            raise ProtocolViolation("bad magic %r" % magic, ErrorCode.BAD_MAGIC)
        if version != VERSION:
            raise ProtocolViolation("frame version %d" % version, ErrorCode.UNSUPPORTED_VERSION)
        if flags or reserved:
            raise ProtocolViolation("reserved header bits set", ErrorCode.RESERVED_BITS)
        if length > self._max_payload:
            raise ProtocolViolation("payload length %d over %d" % (length, self._max_payload), 4)
        try:
            kind = MessageType(type_)
        except ValueError:
            raise ProtocolViolation("unknown frame type %d" % type_, ErrorCode.UNKNOWN_TYPE) from None
        if kind in CLIENT_TYPES:
            raise ProtocolViolation("a client frame type from the server", ErrorCode.PROTOCOL_STATE)
        if len(self._buffer) < HEADER_SIZE + length:
            return None
        payload = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
        del self._buffer[: HEADER_SIZE + length]
        message: Union[HelloOK, Ack, ErrorMessage, str, bytes]
        if kind == MessageType.HELLO_OK:
            message = _decode_hello_ok(payload)
        elif kind == MessageType.ACK:
            message = _decode_ack(payload)
        elif kind == MessageType.ERROR:
            message = _decode_error(payload)
        elif kind == MessageType.STATS_REPLY:
            if not is_utf8(payload):
                raise ProtocolViolation("STATS_REPLY is not UTF-8", ErrorCode.MALFORMED_PAYLOAD)
            message = payload.decode("utf-8")
        else:
            if length > MAX_PING_BYTES:
                raise ProtocolViolation("PONG over 256 bytes", ErrorCode.MALFORMED_PAYLOAD)
            message = payload
        return Frame(kind, request_id, message)


def iter_frames(data: bytes) -> Iterator[Frame]:
    """Every frame of a complete server byte stream."""
    reader = FrameReader()
    reader.feed(data)
    while True:
        item = reader.next()
        if item is None:
            return
        yield item
