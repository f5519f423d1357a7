"""The Sluice wire protocol v1 without I/O: frames, messages, local record checks (PROTOCOL.md)."""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import zstandard

from .errors import ErrorCode, ProtocolViolation

MAGIC = b"SL"
VERSION = 1
HEADER = struct.Struct(">2sBBHHII")
HEADER_SIZE = 16
COMPRESSED = 0x0001

#: Largest server frame payload this client accepts (section 6).
MAX_SERVER_PAYLOAD = 16_777_216
MAX_PING_BYTES = 256
MAX_HELLO_BYTES = 1024
#: A PUBLISH payload's fixed start: ack level, reserved byte, record count.
PUBLISH_PREAMBLE = 6
#: A record's fixed wire bytes: three str16 lengths, event id, timestamp, header count, value length.
RECORD_FIXED = 2 + 2 + 2 + 16 + 8 + 2 + 4


class MessageType(enum.IntEnum):
    """Frame types (section 3)."""

    HELLO = 0x01
    HELLO_OK = 0x02
    PUBLISH = 0x03
    ACK = 0x04
    ERROR = 0x05
    STATS = 0x06
    STATS_REPLY = 0x07
    PING = 0x08
    PONG = 0x09


CLIENT_TYPES = frozenset({MessageType.HELLO, MessageType.PUBLISH, MessageType.STATS, MessageType.PING})


class AckLevel(enum.IntEnum):
    """When the gateway acknowledges a PUBLISH (section 4)."""

    DURABLE = 0
    ACCEPTED = 1
    NONE = 2


@dataclass
class Limits:
    """The server's limits from HELLO_OK; defaults are the spec's (section 6)."""

    version: int = 1
    max_frame_bytes: int = 1_048_576
    max_decompressed_bytes: int = 4_194_304
    max_records_per_frame: int = 10_000
    max_record_bytes: int = 1_000_000
    max_key_bytes: int = 1_024
    max_headers: int = 64
    max_header_bytes: int = 65_536
    max_unacked_bytes: int = 67_108_864
    handshake_timeout_ms: int = 5_000
    idle_timeout_ms: int = 600_000
    max_connections: int = 1_024


@dataclass
class HelloOK:
    """HELLO_OK: the chosen version, the limits and the server's name."""

    limits: Limits
    server_name: str


@dataclass
class Ack:
    """ACK: record count and failures as (index, code), ascending."""

    record_count: int
    failures: List[Tuple[int, int]]


@dataclass
class ErrorMessage:
    """ERROR: a numbered error; `closing` and `retriable` come from its flags."""

    code: int
    closing: bool
    retriable: bool
    message: str


@dataclass
class Frame:
    """One decoded server frame: type, request id and the message it carries."""

    type: MessageType
    request_id: int
    message: Union[HelloOK, Ack, ErrorMessage, str, bytes]


Header = Tuple[str, bytes]


@dataclass
class Record:
    """A record as a client sends it (section 3.2)."""

    topic: str
    key: bytes
    value: bytes
    event_type: str = ""
    event_id: bytes = bytes(16)
    timestamp_ms: int = 0
    headers: Sequence[Header] = field(default_factory=list)


def frame(type_: int, payload: bytes, request_id: int, flags: int = 0, version: int = VERSION) -> bytes:
    """A whole frame: the 16-byte header and `payload`."""
    return HEADER.pack(MAGIC, version, type_, flags, 0, request_id, len(payload)) + payload


def str16(text: Union[str, bytes]) -> bytes:
    """A `str16` field; text is encoded as UTF-8."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > 0xFFFF:
        raise ValueError("a str16 field holds at most 65,535 bytes")
    return struct.pack(">H", len(data)) + data


def encode_hello(request_id: int, client_name: str, min_version: int = 1, max_version: int = 1) -> bytes:
    """HELLO for versions `min_version`…`max_version`."""
    return frame(MessageType.HELLO, struct.pack(">HH", min_version, max_version) + str16(client_name), request_id)


def encode_ping(request_id: int, data: bytes = b"") -> bytes:
    """PING with up to 256 opaque bytes."""
    if len(data) > MAX_PING_BYTES:
        raise ValueError("a PING carries at most 256 bytes")
    return frame(MessageType.PING, data, request_id)


def encode_stats(request_id: int) -> bytes:
    """STATS (empty payload)."""
    return frame(MessageType.STATS, b"", request_id)


def encode_record(record: Record) -> bytes:
    """A record's wire form."""
    parts = [
        str16(record.topic),
        str16(record.key),
        str16(record.event_type),
        record.event_id,
        struct.pack(">qH", record.timestamp_ms, len(record.headers)),
    ]
    for name, value in record.headers:
        parts.append(str16(name))
        parts.append(struct.pack(">I", len(value)))
        parts.append(value)
    parts.append(struct.pack(">I", len(record.value)))
    parts.append(record.value)
    return b"".join(parts)


def encode_publish_payload(records: Sequence[bytes], ack_level: int) -> bytes:
    """An uncompressed PUBLISH payload from already encoded records."""
    return struct.pack(">BBI", ack_level, 0, len(records)) + b"".join(records)


def encode_publish(
    request_id: int, payload: bytes, compressor: Optional[zstandard.ZstdCompressor] = None
) -> bytes:
    """A PUBLISH frame; compressed (one zstd frame declaring its size) when that makes it smaller."""
    if compressor is not None and len(payload) >= 256:
        packed = compressor.compress(payload)
        if len(packed) < len(payload):
            return frame(MessageType.PUBLISH, packed, request_id, flags=COMPRESSED)
    return frame(MessageType.PUBLISH, payload, request_id)


def make_compressor(level: int = 1) -> zstandard.ZstdCompressor:
    """A compressor whose frames declare their content size and carry a checksum, without a dictionary."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=True)


# --- local record checks (section 3.2), in the spec's order ------------------------------

_TOPIC = re.compile(rb"[a-zA-Z0-9._-]{1,249}")
_RESERVED_EXACT = (b"event-id", b"event-type")
_RESERVED_PREFIX = b"sluice-"


def is_utf8(data: bytes) -> bool:
    """Whether `data` is well-formed UTF-8 (Python's codec follows RFC 3629)."""
    try:
        data.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


def topic_is_valid(topic: bytes) -> bool:
    """Kafka's rule: 1–249 bytes of ``a–z A–Z 0–9 . _ -``, and not ``.`` or ``..``."""
    return _TOPIC.fullmatch(topic) is not None and topic not in (b".", b"..")


def header_name_is_reserved(name: bytes) -> bool:
    """``event-id``, ``event-type`` and ``sluice-*``, compared without regard to ASCII case."""
    lowered = name.lower()
    return lowered in _RESERVED_EXACT or lowered.startswith(_RESERVED_PREFIX)


def check_record(
    topic: bytes,
    key: bytes,
    event_type: bytes,
    timestamp_ms: int,
    headers: Sequence[Tuple[bytes, bytes]],
    value_len: int,
    limits: Limits,
) -> int:
    """The per-record code the gateway gives this record, or 0 when it is valid (section 3.2)."""
    if not topic_is_valid(topic):
        return ErrorCode.INVALID_TOPIC
    if not key or len(key) > limits.max_key_bytes or not is_utf8(key):
        return ErrorCode.INVALID_KEY
    if not is_utf8(event_type):
        return ErrorCode.INVALID_EVENT_TYPE
    if timestamp_ms < 0:
        return ErrorCode.INVALID_TIMESTAMP
    header_bytes = 0
    for name, value in headers:
        if not name or not is_utf8(name) or header_name_is_reserved(name):
            return ErrorCode.INVALID_HEADERS
        header_bytes += len(name) + len(value)
    if len(headers) > limits.max_headers or header_bytes > limits.max_header_bytes:
        return ErrorCode.INVALID_HEADERS
    if len(topic) + len(key) + len(event_type) + header_bytes + value_len > limits.max_record_bytes:
        return ErrorCode.RECORD_TOO_LARGE
    return 0


# --- decoding ---------------------------------------------------------------------------


class _Reader:
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
    r = _Reader(payload)
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
    r = _Reader(payload)
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
    r = _Reader(payload)
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


# --- PUBLISH payloads, as a server reads them (used by tests and tools) -----------------


@dataclass
class DecodedRecord:
    """A record read from a PUBLISH payload."""

    topic: bytes
    key: bytes
    event_type: bytes
    event_id: bytes
    timestamp_ms: int
    headers: List[Tuple[bytes, bytes]]
    value: bytes


def decompress_payload(data: bytes, limit: int) -> bytes:
    """Decompresses a COMPRESSED payload under the rules of section 2.2; raises `ProtocolViolation`."""
    if data[:4] != b"\x28\xb5\x2f\xfd":
        raise ProtocolViolation("not a zstd data frame", ErrorCode.BAD_COMPRESSION)
    try:
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError:
        raise ProtocolViolation("not a zstd frame", ErrorCode.BAD_COMPRESSION) from None
    if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
        raise ProtocolViolation("no declared content size", ErrorCode.CONTENT_SIZE_MISSING)
    if params.content_size == zstandard.CONTENTSIZE_ERROR:
        raise ProtocolViolation("not a zstd frame", ErrorCode.BAD_COMPRESSION)
    if params.content_size > limit:
        raise ProtocolViolation("declared size over the limit", ErrorCode.DECOMPRESSED_TOO_LARGE)
    if params.dict_id != 0:
        raise ProtocolViolation("a zstd dictionary", ErrorCode.BAD_COMPRESSION)
    try:
        if zstandard.frame_content_size(data) != params.content_size:
            raise ProtocolViolation("inconsistent frame", ErrorCode.BAD_COMPRESSION)
        reader = zstandard.ZstdDecompressor().decompressobj()
        out = reader.decompress(data)
        if not reader.eof or reader.unused_data or len(out) != params.content_size:
            raise ProtocolViolation("not exactly one complete zstd frame", ErrorCode.BAD_COMPRESSION)
    except zstandard.ZstdError as error:
        raise ProtocolViolation("zstd: %s" % error, ErrorCode.BAD_COMPRESSION) from None
    return out


def decode_publish_payload(payload: bytes, max_records: int = 10_000) -> Tuple[int, List[DecodedRecord]]:
    """The ack level and records of an uncompressed PUBLISH payload, checked in wire order."""
    r = _Reader(payload)
    ack = r.u8()
    if ack > AckLevel.NONE:
        raise ProtocolViolation("unknown ack level %d" % ack, ErrorCode.MALFORMED_PAYLOAD)
    if r.u8() != 0:
        raise ProtocolViolation("reserved byte set", ErrorCode.RESERVED_BITS)
    count = r.u32()
    if count == 0:
        raise ProtocolViolation("no records", ErrorCode.MALFORMED_PAYLOAD)
    if count > max_records:
        raise ProtocolViolation("%d records" % count, ErrorCode.TOO_MANY_RECORDS)
    records = []
    for _ in range(count):
        topic, key, event_type = r.bytes16(), r.bytes16(), r.bytes16()
        event_id, timestamp = r.take(16), r.i64()
        headers = []
        for _ in range(r.u16()):
            name = r.bytes16()
            headers.append((name, r.take(r.u32())))
        records.append(DecodedRecord(topic, key, event_type, event_id, timestamp, headers, r.take(r.u32())))
    r.expect_end()
    return ack, records


def iter_frames(data: bytes) -> Iterator[Frame]:
    """Every frame of a complete server byte stream."""
    reader = FrameReader()
    reader.feed(data)
    while True:
        item = reader.next()
        if item is None:
            return
        yield item
