"""One Unix-socket connection to the gateway: the handshake, frames out, frames in."""

from __future__ import annotations

import selectors
import socket
import time
from typing import Callable, Optional

from . import protocol
from .errors import ConnectionLost, ProtocolViolation, SluiceError, error_name
from .protocol import ErrorMessage, HelloOK, MessageType
from .reader import Frame, FrameReader

FrameHandler = Callable[[Frame], None]


class Connection:
    """A connected, handshaken socket; an I/O failure raises `ConnectionLost` and leaves it to `drain`."""

    def __init__(self, sock: socket.socket, hello: HelloOK) -> None:
        self._sock: Optional[socket.socket] = sock
        self._reader = FrameReader()
        self.hello = hello

    @classmethod
    def open(cls, path: str, client_name: str, request_id: int, timeout: float) -> "Connection":
        """Connects to `path` and does the HELLO handshake within `timeout` seconds; raises `SluiceError`."""
        deadline = time.monotonic() + timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(protocol.encode_hello(request_id, client_name))
        except OSError as error:
            sock.close()
            raise ConnectionLost("cannot connect to %s: %s" % (path, error), retriable=True) from error
        sock.setblocking(False)
        reader = FrameReader()
        try:
            frame = cls._first_frame(sock, reader, deadline)
        except BaseException:
            sock.close()
            raise
        if frame.type == MessageType.ERROR:
            sock.close()
            assert isinstance(frame.message, ErrorMessage)
            message = frame.message
            raise SluiceError(
                "handshake refused: %s: %s" % (error_name(message.code), message.message),
                message.code,
                message.retriable,
            )
        if frame.type != MessageType.HELLO_OK or frame.request_id != request_id:
            sock.close()
            raise ProtocolViolation("expected HELLO_OK, got %s" % frame.type.name, 6)
        assert isinstance(frame.message, HelloOK)
        if frame.message.limits.version != protocol.VERSION:
            sock.close()
            raise ProtocolViolation("HELLO_OK names a version this client did not offer", 6)
        connection = cls(sock, frame.message)
        connection._reader = reader
        return connection

    @staticmethod
    def _first_frame(sock: socket.socket, reader: FrameReader, deadline: float) -> Frame:
        while True:
            frame = reader.next()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionLost("no HELLO_OK in time", retriable=True)
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                if not selector.select(remaining):
                    continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as error:
                raise ConnectionLost("read failed: %s" % error, retriable=True) from error
            if not data:
                raise ConnectionLost("the gateway closed the connection during the handshake", retriable=True)
            reader.feed(data)

    @property
    def is_open(self) -> bool:
        """Whether the socket is still open."""
        return self._sock is not None

    def close(self) -> None:
        """Closes the socket; later calls do nothing."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def write(self, data: bytes, on_frame: FrameHandler) -> None:
        """Writes all of `data`; while the socket is full, frames that arrive go to `on_frame`."""
        sock = self._open_socket()
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                self.wait(time.monotonic() + 30, on_frame, writable=True)
            except OSError as error:
                # Replies may still wait in the socket (e.g. the ACKs sent before SHUTTING_DOWN).
                raise ConnectionLost("write failed: %s" % error, retriable=True) from error

    def wait(self, deadline: Optional[float], on_frame: FrameHandler, writable: bool = False) -> None:
        """Waits until the socket is readable (or writable) or `deadline`; hands complete frames to `on_frame`."""
        sock = self._open_socket()
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writable else 0)
        with selectors.DefaultSelector() as selector:
            selector.register(sock, events)
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = selector.select(timeout)
        if ready and ready[0][1] & selectors.EVENT_READ:
            self._receive(on_frame)

    def _open_socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost("the connection is closed", retriable=True)
        return self._sock

    def drain(self, on_frame: FrameHandler) -> Optional[SluiceError]:
        """Hands every reply still readable to `on_frame` without waiting, then closes the socket.

        It reads until EOF, "would block" or a read error; a frame that breaks the protocol
        ends it. Returns the error `on_frame` raised for a reply that ends the connection (a
        closing ERROR), if any (PROTOCOL.md section 9).
        """
        sock = self._sock
        try:
            while sock is not None and self._sock is not None:
                self._hand_over(on_frame)
                try:
                    data = sock.recv(65536, socket.MSG_DONTWAIT)
                except OSError:
                    return None
                if not data:
                    return None
                self._reader.feed(data)
            return None
        except ProtocolViolation:
            return None
        except SluiceError as error:
            return error
        finally:
            self.close()

    def _receive(self, on_frame: FrameHandler) -> None:
        sock = self._open_socket()
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as error:
            raise ConnectionLost("read failed: %s" % error, retriable=True) from error
        if not data:
            raise ConnectionLost("the gateway closed the connection", retriable=True)
        self._reader.feed(data)
        self._hand_over(on_frame)

    def _hand_over(self, on_frame: FrameHandler) -> None:
        """Passes every complete frame read so far to `on_frame`; raises `ProtocolViolation` on a bad one."""
        while self._sock is not None:
            try:
                frame = self._reader.next()
            except ProtocolViolation:
                self.close()
                raise
            if frame is None:
                return
            on_frame(frame)
