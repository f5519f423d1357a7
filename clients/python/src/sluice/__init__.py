"""Python client for the Sluice event gateway (wire protocol v1, proto-spec/PROTOCOL.md)."""

from .client import Client, connect
from .errors import (
    ConnectionLost,
    ErrorCode,
    InvalidRecord,
    ProtocolViolation,
    RecordFailure,
    SluiceError,
    error_name,
    is_retriable,
)
from .protocol import AckLevel, Limits

__version__ = "0.1.0"
__all__ = [
    "AckLevel",
    "Client",
    "ConnectionLost",
    "ErrorCode",
    "InvalidRecord",
    "Limits",
    "ProtocolViolation",
    "RecordFailure",
    "SluiceError",
    "connect",
    "error_name",
    "is_retriable",
]
