"""Error codes of the Sluice wire protocol (PROTOCOL.md section 5) and the client's exceptions."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional


class ErrorCode(enum.IntEnum):
    """A numbered protocol error, as listed in PROTOCOL.md section 5."""

    BAD_MAGIC = 1
    UNSUPPORTED_VERSION = 2
    RESERVED_BITS = 3
    FRAME_TOO_LARGE = 4
    UNKNOWN_TYPE = 5
    PROTOCOL_STATE = 6
    MALFORMED_PAYLOAD = 7
    CONTENT_SIZE_MISSING = 8
    DECOMPRESSED_TOO_LARGE = 9
    BAD_COMPRESSION = 10
    TOO_MANY_RECORDS = 11
    INVALID_TOPIC = 20
    INVALID_KEY = 21
    RECORD_TOO_LARGE = 22
    INVALID_HEADERS = 23
    TOPIC_NOT_ALLOWED = 24
    INVALID_EVENT_TYPE = 25
    INVALID_TIMESTAMP = 26
    CONTRACT_VIOLATION = 27
    UNKNOWN_TOPIC = 28
    DELIVERY_FAILED = 30
    REJECTED_BY_BROKER = 31
    OVERLOADED = 40
    SHUTTING_DOWN = 41
    INTERNAL = 42
    NOT_PERMITTED = 43
    TIMED_OUT = 44
    TOO_MANY_CONNECTIONS = 45


#: Codes the protocol marks retriable: the same request may succeed later.
RETRIABLE_CODES = frozenset(
    {
        ErrorCode.DELIVERY_FAILED,
        ErrorCode.OVERLOADED,
        ErrorCode.SHUTTING_DOWN,
        ErrorCode.INTERNAL,
        ErrorCode.TIMED_OUT,
        ErrorCode.TOO_MANY_CONNECTIONS,
    }
)


def error_name(code: int) -> str:
    """The spec's name of `code`, e.g. ``INVALID_KEY``; ``UNKNOWN(n)`` for codes this client does not know."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return "UNKNOWN(%d)" % code


def is_retriable(code: int) -> bool:
    """Whether the protocol says sending the same record or request again may succeed."""
    return code in RETRIABLE_CODES


class SluiceError(Exception):
    """A failure talking to the gateway; `code` is a protocol code when the gateway sent one."""

    def __init__(self, message: str, code: Optional[int] = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


class ProtocolViolation(SluiceError):
    """The peer sent bytes that break the protocol; the connection cannot be trusted any more."""


class InvalidRecord(SluiceError):
    """A record fails the protocol's rules or the gateway's limits; it was not taken."""


class ConnectionLost(SluiceError):
    """The connection broke and could not be re-established in time; held records stay held."""


@dataclass(frozen=True)
class RecordFailure:
    """One record the gateway rejected, with what the client still knows about it."""

    code: int
    topic: Optional[str] = None
    key: Optional[bytes] = None
    event_id: Optional[bytes] = None
    index: int = 0
    message: str = ""
    retriable: bool = field(default=False)

    @property
    def name(self) -> str:
        """The code's name, e.g. ``INVALID_KEY``."""
        return error_name(self.code)
