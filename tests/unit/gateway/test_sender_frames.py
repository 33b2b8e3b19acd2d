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
