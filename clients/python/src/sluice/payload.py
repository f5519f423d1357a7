"""PUBLISH payloads as a server reads them: zstd rules and record fields (for tests and tools)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import zstandard

from .errors import ErrorCode, ProtocolViolation
from .protocol import AckLevel
from .reader import FieldReader

#: The largest zstd window a frame may declare unless max decompressed bytes is larger (section 2.2).
MAX_WINDOW_BYTES = 8 << 20


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
    if params.window_size > max(MAX_WINDOW_BYTES, limit):  # a single-segment frame's is its content size
        raise ProtocolViolation("a zstd window of %d bytes" % params.window_size, ErrorCode.BAD_COMPRESSION)
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
    r = FieldReader(payload)
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
