"""A real dev broker (Tansu) and a real `sluice serve` for the live tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Callable, Optional

from vectors import ROOT

TANSU = os.path.join(ROOT, ".deps", "bin", "tansu")
SLUICE = os.path.join(ROOT, ".build", "debug", "sluice")


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Polls `condition` until it holds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting until " + what)
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """Tansu on a free port, in memory."""

    def __init__(self) -> None:
        self.port = free_port()
        url = "tcp://127.0.0.1:%d" % self.port
        self.log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [TANSU, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until("the broker listens", self._listening)

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError("tansu exited; see " + self.log.name)
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def create_topic(self, name: str, partitions: int) -> None:
        """Creates `name` with `partitions` partitions through Tansu's admin command."""
        url = "tcp://127.0.0.1:%d" % self.port
        result = subprocess.run(
            [TANSU, "topic", "create", "--broker", url, "--partitions", str(partitions), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError("tansu topic create %s: %s" % (name, result.stdout.decode(errors="replace")))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        os.unlink(self.log.name)


class Gateway:
    """`sluice serve` on a temporary socket and spool; restartable on the same files."""

    def __init__(self, broker: Broker, directory: Optional[str] = None) -> None:
        self.broker = broker
        self.directory = directory or tempfile.mkdtemp(prefix="sluice-py-")
        self.socket_path = os.path.join(self.directory, "s.sock")
        self.process: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        with open(os.path.join(self.directory, "sluice.log"), "ab") as log:
            self.process = subprocess.Popen(
                [
                    SLUICE, "serve", "--socket", self.socket_path, "--brokers", "127.0.0.1:%d" % self.broker.port,
                    "--spool", os.path.join(self.directory, "spool.db"), "--log-level", "error",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until("the gateway serves", self._serving)

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError("sluice serve exited; see " + self.directory)
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(self.socket_path)
            return True
        except OSError:
            return False

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
