"""Frames between the gateway and its uplink sender process: a 4-byte big-endian length, then
a ``marshal``-encoded tuple of str, bytes, int, float, bool and None.

marshal, not pickle: it is built into the interpreter (the sender imports nothing for it),
it is fast, and both ends are this program over a socketpair of its own, never a peer it
does not trust. One frame is one ``sendall``, and reads are buffered, so a small frame costs
each side one system call: every call the gateway makes releases its GIL, and getting it
back from the busy core thread can take the 5 ms switch interval (docs/gateway.md,
"Uplink sender process").
"""

from __future__ import annotations

import contextlib
import marshal
import socket
import threading
from typing import Any

HEADER_BYTES = 4
MAX_FRAME_BYTES = 256 * 1024 * 1024  # far above a batch (50,000 entries), below nonsense

Frame = tuple[Any, ...]


class FrameSocket:
    """One end of the socketpair. ``send`` may be called from several threads (each frame
    is one ``sendall`` under a lock); ``recv`` from one thread only."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb", buffering=64 * 1024)
        self._send_lock = threading.Lock()

    def send(self, frame: Frame) -> None:
        """OSError (BrokenPipeError, ...) when the other end is gone."""
        data = marshal.dumps(frame)
        with self._send_lock:
            self.sock.sendall(len(data).to_bytes(HEADER_BYTES, "big") + data)

    def recv(self) -> Frame:
        """The next frame; EOFError when the other end closed (or died) or the stream is
        corrupt: either way nothing more can be read from it."""
        header = self._read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            raise EOFError("the other end closed the sender socket")
        size = int.from_bytes(header, "big")
        if size > MAX_FRAME_BYTES:
            raise EOFError(f"a sender frame of {size} bytes: the stream is corrupt")
        data = self._read(size)
        if len(data) < size:
            raise EOFError("the other end closed the sender socket mid-frame")
        try:
            frame = marshal.loads(data)
        except (ValueError, TypeError, EOFError) as exc:
            raise EOFError(f"a sender frame that does not decode: {exc}") from None
        if not isinstance(frame, tuple) or not frame or not isinstance(frame[0], str):
            raise EOFError(f"not a sender frame: {type(frame).__name__}")
        return frame

    def _read(self, size: int) -> bytes:
        try:
            data: bytes = self._reader.read(size)
        except ValueError:  # closed by another thread (the gateway's stop) before this read
            raise EOFError("the sender socket is closed") from None
        return data

    def close(self) -> None:
        # A thread blocked in recv holds the buffered reader's lock, which close needs:
        # shutting the socket down first wakes that thread with EOF (else stop hangs).
        with contextlib.suppress(OSError):  # the other end is gone already
            self.sock.shutdown(socket.SHUT_RDWR)
        self._reader.close()
        self.sock.close()
