"""Frames between the gateway and its uplink sender process (gateway/uplink/sender_frames.py),
over a real socketpair: what goes in comes out, and a broken stream is an EOFError, never a
frame."""

from __future__ import annotations

import marshal
import socket
import threading
from collections.abc import Iterator

import pytest

from siaga.gateway.uplink.sender_frames import MAX_FRAME_BYTES, FrameSocket


@pytest.fixture
def pair() -> Iterator[tuple[FrameSocket, socket.socket]]:
    ours, theirs = socket.socketpair()
    frames = FrameSocket(ours)
    yield frames, theirs
    frames.close()
    theirs.close()


def test_frames_round_trip_in_order() -> None:
    a, b = socket.socketpair()
    left, right = FrameSocket(a), FrameSocket(b)
    body = b"x" * 300_000  # larger than the reader's buffer and a socket's send buffer
    sent = [("post", "/api/v1/ingest", body), ("answer", 200, "OK", None, b"{}", 1),
            ("connected", True), ("message", "siaga/gw/g/ack", b"\x00\xff")]
    for frame in sent[:2]:  # sent from a thread: the big one outgrows the socket's buffer
        sender = threading.Thread(target=left.send, args=(frame,))
        sender.start()
        assert right.recv() == frame
        sender.join()
    for frame in sent[2:]:
        right.send(frame)
    assert [left.recv() for _ in sent[2:]] == sent[2:]
    left.close()
    with pytest.raises(EOFError):
        right.recv()
    right.close()


def raw(theirs: socket.socket, data: bytes) -> None:
    theirs.sendall(data)
    theirs.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("data", [
    b"",  # closed before a frame
    b"\x00\x00",  # a partial header
    len(b"abc").to_bytes(4, "big") + b"ab",  # a partial body
    (MAX_FRAME_BYTES + 1).to_bytes(4, "big"),  # a length no frame has
    len(marshal.dumps([1])).to_bytes(4, "big") + marshal.dumps([1]),  # not a tuple
    len(marshal.dumps(())).to_bytes(4, "big") + marshal.dumps(()),  # an empty tuple
    len(marshal.dumps((1,))).to_bytes(4, "big") + marshal.dumps((1,)),  # no name first
])
def test_a_broken_stream_is_eof(pair: tuple[FrameSocket, socket.socket], data: bytes) -> None:
    frames, theirs = pair
    raw(theirs, data)
    with pytest.raises(EOFError):
        frames.recv()


def test_garbage_body_is_eof_not_a_frame(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, theirs = pair
    raw(theirs, (4).to_bytes(4, "big") + b"\xff\xfe\xfd\xfc")
    with pytest.raises(EOFError, match="does not decode"):
        frames.recv()


def test_close_wakes_a_reader_blocked_in_recv(pair: tuple[FrameSocket, socket.socket]) -> None:
    """The gateway's stop closes the socket while its reader thread waits in recv (holding
    the buffered reader's lock): close must not wait for a frame that never comes."""
    frames, _theirs = pair
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            frames.recv()
        except EOFError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(0.2)  # let it block in recv
    closer = threading.Thread(target=frames.close, daemon=True)
    closer.start()
    closer.join(5)
    reader.join(5)
    assert not closer.is_alive(), "close waited for the blocked reader"
    assert not reader.is_alive() and len(outcome) == 1


def test_a_read_after_close_is_eof(pair: tuple[FrameSocket, socket.socket]) -> None:
    frames, _theirs = pair
    frames.close()
    with pytest.raises(EOFError):
        frames.recv()
