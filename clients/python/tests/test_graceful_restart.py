"""A graceful restart of the real gateway under a steady durable load, read back from the broker."""

from __future__ import annotations

import threading
import time
import unittest
from typing import Dict, List, Optional

import sluice

from gateway import Broker, Gateway, wait_until
from kafka import Record, consume

PLAYERS = ["player-%d" % i for i in range(40)]


class PacedPublisher:
    """A client publishing `total` records at `rate` per second on a thread of its own, then flushing once.

    Record `i` goes to player `i % len(PLAYERS)` with value ``PLAYER:SEQ``. Batches are small and
    written as they fill, so one is under way when the gateway stops.
    """

    def __init__(self, path: str, topic: str, total: int, rate: float) -> None:
        self.published = 0
        self.finished = False
        self.failure: Optional[str] = None
        self._thread = threading.Thread(target=self._run, args=(path, topic, total, rate), daemon=True)
        self._thread.start()

    def _run(self, path: str, topic: str, total: int, rate: float) -> None:
        try:
            # One connection attempt per publish while the gateway is away: publish never blocks
            # on backoff, and the records wait in the client until the flush.
            client = sluice.connect(
                path, compression=False, max_batch_records=20, reconnect_attempts=1, backoff=0.01, backoff_max=0.05
            )
            try:
                start = time.monotonic()
                for index in range(total):
                    if index % 20 == 0:
                        pause = start + index / rate - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                    player = PLAYERS[index % len(PLAYERS)]
                    client.publish(topic, player, ("%s:%d" % (player, index // len(PLAYERS))).encode())
                    self.published = index + 1
                client.reconnect_attempts = 100
                failures = client.flush(timeout=60)
                if failures:
                    self.failure = "rejected: %s" % failures[:3]
            finally:
                client.close()
        except Exception as error:  # reported by the test, not lost in the thread
            self.failure = "%s: %s" % (type(error).__name__, error)
        finally:
            self.finished = True


def count_problems(records: List[Record], sequences: int) -> Dict[str, object]:
    """Lost, duplicated (by event id) and reordered (per key) records of a `PLAYER:SEQ` load."""
    ids = set()
    duplicates = reordered = 0
    order: Dict[str, List[int]] = {}
    examples: List[str] = []
    for record in records:
        event_id = record.headers.get("event-id")
        if event_id is None or event_id in ids:
            duplicates += 1
            examples.append("duplicate %s" % record.value.decode())
            continue
        ids.add(event_id)
        player, sequence = record.value.decode().split(":")
        assert player.encode() == record.key, "value %r under key %r" % (record.value, record.key)
        seen = order.setdefault(player, [])
        if seen and seen[-1] >= int(sequence):
            reordered += 1
            examples.append("%s: %s after %d" % (player, sequence, seen[-1]))
        seen.append(int(sequence))
    lost = sum(len(set(range(sequences)) - set(order.get(p, []))) for p in PLAYERS)
    return {"lost": lost, "duplicates": duplicates, "reordered": reordered, "examples": examples[:5]}


class GracefulRestartUnderLoad(unittest.TestCase):
    def test_sigterm_and_a_new_gateway_lose_and_duplicate_nothing(self) -> None:
        broker = Broker()
        self.addCleanup(broker.stop)
        topic = "py.restart"
        broker.create_topic(topic, 4)
        gateway = Gateway(broker)
        self.addCleanup(gateway.remove)
        total, rate = 8_000, 2_000.0  # four seconds
        load = PacedPublisher(gateway.socket_path, topic, total, rate)
        wait_until("the client publishes its first second", lambda: load.published >= 2_000 or load.finished, 30)
        gateway.stop()  # SIGTERM: it acks what it read, says SHUTTING_DOWN and exits
        assert gateway.process is not None
        self.assertEqual(gateway.process.returncode, 0, "the gateway's exit status after SIGTERM")
        at_stop = load.published
        wait_until("the client publishes on without a gateway", lambda: load.published >= at_stop + 1_000 or load.finished, 30)
        gateway.start()  # the same socket and spool
        wait_until("every record is published and flushed", lambda: load.finished, 90)
        self.assertIsNone(load.failure)
        self.assertLess(at_stop, total - 1_000, "the restart came in the middle of the load")

        records = consume("127.0.0.1:%d" % broker.port, topic, 4, total)
        problems = count_problems(records, total // len(PLAYERS))
        self.assertEqual((problems["lost"], problems["duplicates"], problems["reordered"]), (0, 0, 0), problems)
        self.assertEqual(len(records), total)


if __name__ == "__main__":
    unittest.main()
