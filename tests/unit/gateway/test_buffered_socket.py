"""The receive buffer under paho (gateway/sources/buffered_socket.py), on a real socketpair:
it hands out exactly the bytes sent, in order, in the sizes paho asks for, says what it
holds through pending(), and passes 'would block' and 'closed' through unchanged."""

from __future__ import annotations

import socket

import pytest

from siaga.gateway.sources.buffered_socket import BufferedReceiveSocket


def test_many_small_reads_from_one_recv_keep_every_byte_in_order() -> None:
    a, b = socket.socketpair()
    b.setblocking(False)
    s = BufferedReceiveSocket(b)
    sent = bytes(range(256)) * 3
    a.sendall(sent)
    got = bytearray()
    got += s.recv(1)
    assert s.pending() == len(sent) - 1  # the rest came in with the first recv
    while s.pending():
        got += s.recv(7)
    assert bytes(got) == sent
    with pytest.raises(BlockingIOError):  # nothing buffered, nothing on the wire
        s.recv(1)
    a.sendall(b"xy")
    assert s.recv(10) == b"xy"  # a read larger than what arrived returns what arrived
    a.close()
    assert s.recv(1) == b""  # closed by the peer: paho's CONN_LOST
    assert s.fileno() == b.fileno()
    b.close()
