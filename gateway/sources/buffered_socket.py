"""A receive buffer under paho's socket: one ``recv`` of up to 64 KiB serves many packets.

paho-mqtt 2.x reads every packet with at least three ``recv`` calls (the command byte,
each remaining-length byte, then the body) and goes back to ``select`` after each
packet. In a flood of ~100-byte device messages that is most of its receive cost:
``tests/benchmarks/bench_mqtt_receive.py`` measures paho's receive thread per message
with and without this wrapper (figures in docs/gateway.md, "paho's receive path").

What the buffer holds can also be read in place (``unread``/``consume_to``): the MQTT
source takes whole PUBLISH packets from it (gateway/sources/publish_packets.py).

The wrapper answers ``pending()`` with the bytes it holds (plus, under TLS, the bytes
the SSL object holds), which is how paho's loop already learns that a read is
possible without the socket being readable (it does so for TLS): it then skips the
``select`` wait, so nothing buffered here waits for the next network event.
"""

from __future__ import annotations

from typing import Any

READ_SIZE = 65536


class BufferedReceiveSocket:
    """Wraps the socket paho created; everything but ``recv``/``pending`` goes to it."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(READ_SIZE)  # BlockingIOError / SSLWant* go to paho
            if len(data) <= bufsize:
                return bytes(data)  # b"" (closed) included
            self._buf, self._pos = data, 0
        end = self._pos + bufsize
        chunk = self._buf[self._pos:end]
        self._pos = min(end, len(self._buf))
        return chunk

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def unread(self) -> tuple[bytes, int]:
        """The buffer and the position of its first unread byte (nothing is consumed)."""
        return self._buf, self._pos

    def consume_to(self, pos: int) -> None:
        """Mark the buffer read up to ``pos`` (from ``unread``'s buffer)."""
        self._pos = min(pos, len(self._buf))

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return self.buffered() + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
