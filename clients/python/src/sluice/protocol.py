"""The Sluice wire protocol v1 without I/O: frames, messages, local record checks (PROTOCOL.md)."""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass, field
import uuid
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import zstandard

from .errors import ErrorCode, InvalidRecord, error_name

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


HeadersArg = Union[Mapping[str, Union[bytes, str]], Sequence[Tuple[str, Union[bytes, str]]], None]


def _as_bytes(value: Union[bytes, bytearray, memoryview, str]) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def prepare_record(
    topic: str,
    key: Union[str, bytes],
    value: Union[bytes, str],
    headers: HeadersArg,
    event_type: str,
    event_id: Optional[Union[bytes, uuid.UUID]],
    timestamp_ms: int,
    limits: Limits,
) -> Tuple[bytes, bytes, bytes]:
    """Checks a record as the gateway would and encodes it: (wire bytes, key bytes, event id).

    Raises `InvalidRecord` with the protocol's code; a missing event id becomes a random UUIDv4.
    """
    key_bytes, value_bytes, topic_bytes = _as_bytes(key), _as_bytes(value), _as_bytes(topic)
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    header_bytes = [(_as_bytes(name), _as_bytes(val)) for name, val in pairs]
    event_type_bytes = _as_bytes(event_type)
    code = check_record(topic_bytes, key_bytes, event_type_bytes, timestamp_ms, header_bytes, len(value_bytes), limits)
    if code:
        raise InvalidRecord("record rejected locally: %s" % error_name(code), code)
    if event_id is None:
        eid = uuid.uuid4().bytes
    else:
        eid = event_id.bytes if isinstance(event_id, uuid.UUID) else bytes(event_id)
        if len(eid) != 16:
            raise InvalidRecord("an event id is 16 bytes", ErrorCode.MALFORMED_PAYLOAD)
    record = Record(
        topic=topic,
        key=key_bytes,
        value=value_bytes,
        event_type=event_type_bytes.decode("utf-8"),
        event_id=eid,
        timestamp_ms=timestamp_ms,
        headers=[(name.decode("utf-8"), val) for name, val in header_bytes],
    )
    return encode_record(record), key_bytes, eid
