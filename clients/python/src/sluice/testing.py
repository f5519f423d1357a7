"""An in-memory stand-in for `sluice.Client` in application unit tests: no socket, no gateway.

`FakePublisher` has the client's publishing surface (`publish`, `flush`, `close`, the context
manager, the counters). It checks each record as the real client does, records it, and fails
the records you choose with the protocol code you give, as a gateway's ACK would::

    publisher = FakePublisher()
    publisher.fail(sluice.ErrorCode.REJECTED_BY_BROKER, key="player-13")
    service = PlayerEventService(publisher)
    service.register(player)
    publisher.assert_published("player.registered", key=str(player.id))  # any event
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from unittest.mock import ANY

from . import protocol
from .errors import RecordFailure, is_retriable
from .protocol import AckLevel, Limits

__all__ = ["ANY", "FakePublisher", "PublishedRecord"]


@dataclass(frozen=True)
class PublishedRecord:
    """One record given to `FakePublisher.publish`, as the gateway would have received it."""

    topic: str
    key: bytes
    value: bytes
    headers: Tuple[Tuple[str, bytes], ...]
    event_type: str
    event_id: bytes
    timestamp_ms: int
    #: The code `fail` chose for it, or None when it was delivered.
    failure_code: Optional[int] = None

    @property
    def key_text(self) -> str:
        """The key as text (keys are UTF-8)."""
        return self.key.decode("utf-8")


@dataclass
class _Rule:
    code: int
    topic: Optional[str]
    key: Optional[bytes]
    when: Optional[Callable[[PublishedRecord], bool]]
    times: Optional[int]

    def takes(self, record: PublishedRecord) -> bool:
        if self.times == 0:
            return False
        if self.topic is not None and record.topic != self.topic:
            return False
        if self.key is not None and record.key != self.key:
            return False
        if self.when is not None and not self.when(record):
            return False
        if self.times is not None:
            self.times -= 1
        return True


def _as_bytes(data: Union[str, bytes]) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class FakePublisher:
    """Records what is published instead of sending it; fails chosen records with a given code.

    Records are checked like `sluice.Client.publish` does (topic, key, headers, sizes against
    `limits`), so a record the gateway would refuse raises `sluice.InvalidRecord` here too.
    Failures chosen with `fail` are returned by the next `flush` and passed to `on_failure`
    then, as the real client reports the failures of an ACK.
    """

    def __init__(
        self,
        *,
        ack: AckLevel = AckLevel.DURABLE,
        limits: Optional[Limits] = None,
        on_failure: Optional[Callable[[RecordFailure], None]] = None,
        server_name: str = "sluice-fake/1",
    ) -> None:
        self.ack = AckLevel(ack)
        self.limits = limits or Limits()
        self.on_failure = on_failure
        self.server_name = server_name
        #: Every record taken, in publish order.
        self.published: List[PublishedRecord] = []
        self.failed_records = 0
        self.flushes = 0
        self.closed = False
        self._rules: List[_Rule] = []
        self._since_flush: List[PublishedRecord] = []

    # --- the client's surface -----------------------------------------------------------

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
        """Checks the record as the real client does and records it; returns its 16-byte event id."""
        _, key_bytes, eid = protocol.prepare_record(
            topic, key, value, headers, event_type, event_id, timestamp_ms, self.limits
        )
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        record = PublishedRecord(
            topic=topic,
            key=key_bytes,
            value=_as_bytes(value),
            headers=tuple((name, _as_bytes(val)) for name, val in pairs),
            event_type=event_type,
            event_id=eid,
            timestamp_ms=timestamp_ms,
        )
        for rule in self._rules:
            if rule.takes(record):
                record = dataclasses.replace(record, failure_code=rule.code)
                break
        self.published.append(record)
        self._since_flush.append(record)
        return eid

    def flush(self, timeout: Optional[float] = None) -> List[RecordFailure]:
        """Returns the records failed since the previous flush (also passed to `on_failure`)."""
        del timeout
        self.flushes += 1
        batch, self._since_flush = self._since_flush, []
        failures: List[RecordFailure] = []
        for index, record in enumerate(batch):
            if record.failure_code is None:
                continue
            failure = RecordFailure(
                code=record.failure_code,
                topic=record.topic,
                key=record.key,
                event_id=record.event_id,
                index=index,
                message="",
                retriable=is_retriable(record.failure_code),
            )
            self.failed_records += 1
            failures.append(failure)
            if self.on_failure is not None:
                self.on_failure(failure)
        return failures

    def stats(self, timeout: float = 5.0) -> Dict[str, Any]:
        """A small STATS-shaped document: the records received."""
        del timeout
        return {"records": {"received": len(self.published)}, "server": self.server_name}

    def ping(self, data: bytes = b"", timeout: float = 5.0) -> float:
        """Always answers at once."""
        del data, timeout
        return 0.0

    @property
    def unacked_records(self) -> int:
        """Records published since the last flush."""
        return len(self._since_flush)

    @property
    def is_connected(self) -> bool:
        """True until `close`."""
        return not self.closed

    def close(self) -> None:
        """Like `Client.close`: does not flush."""
        self.closed = True

    def __enter__(self) -> "FakePublisher":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush()
        finally:
            self.close()

    # --- for the test -------------------------------------------------------------------

    def fail(
        self,
        code: int,
        *,
        topic: Optional[str] = None,
        key: Optional[Union[str, bytes]] = None,
        when: Optional[Callable[[PublishedRecord], bool]] = None,
        times: Optional[int] = None,
    ) -> None:
        """Fails the records published from now on that match (all given conditions) with protocol `code`.

        `times` limits how many records this rule fails (None: every match). Rules are tried in
        the order they were added; the first that matches decides.
        """
        self._rules.append(_Rule(int(code), topic, None if key is None else _as_bytes(key), when, times))

    def records(self, topic: Optional[str] = None, key: Optional[Union[str, bytes]] = None) -> List[PublishedRecord]:
        """The records published to `topic` with `key` (None: any), in publish order."""
        want = None if key is None else _as_bytes(key)
        return [r for r in self.published if (topic is None or r.topic == topic) and (want is None or r.key == want)]

    def assert_published(
        self, topic: str, key: Any = ANY, value: Any = ANY, *, event_type: Any = ANY, headers: Any = ANY
    ) -> PublishedRecord:
        """Fails unless a record matching every argument was published; returns the first one.

        Arguments default to `ANY` (``unittest.mock.ANY``); a `str` key or value is compared
        as UTF-8; `headers` as a dict.
        """
        want_key = _as_bytes(key) if isinstance(key, str) else key
        want_value = _as_bytes(value) if isinstance(value, str) else value
        for record in self.published:
            if (
                record.topic == topic
                and want_key == record.key
                and want_value == record.value
                and event_type == record.event_type
                and headers == dict(record.headers)
            ):
                return record
        seen = ", ".join("(%s, %r)" % (r.topic, r.key) for r in self.published[-10:]) or "nothing"
        raise AssertionError(
            "no record published to %s with key %r and value %r; published: %s" % (topic, key, value, seen)
        )

    def clear(self) -> None:
        """Forgets what was published and the failure rules."""
        self.published.clear()
        self._since_flush.clear()
        self._rules.clear()
        self.failed_records = 0
