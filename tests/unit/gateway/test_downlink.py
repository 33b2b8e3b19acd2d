"""Command retries, acks and timeouts; the transport is the injected send function
(the one boundary: the integration tests send over a real pty and Mosquitto)."""

from __future__ import annotations

from siaga.firmware_bridge.codec import decode_frame
from siaga.firmware_bridge.device_message import decode_device_message
from siaga.gateway.config import DownlinkSettings
from siaga.gateway.downlink import CommandRequest, Downlink, command_frame, command_mqtt


class Sent(list[tuple[str, str, int, str, float | None]]):
    ok = True

    def __call__(self, source: str, node: str, cseq: int, cmd: str, v: float | None) -> bool:
        self.append((source, node, cseq, cmd, v))
        return self.ok


def test_ack_resolves_and_numbers_increase_per_node() -> None:
    sent = Sent()
    d = Downlink(DownlinkSettings(ack_timeout_s=5, retries=2), sent)
    a, b = CommandRequest("n1", "interval", 30.0), CommandRequest("n1", "ping", None)
    d.send(a, "serial:/dev/x", 0.0)
    d.send(b, "serial:/dev/x", 0.0)
    assert [s[2] for s in sent] == [1, 2]
    assert d.on_ack("n1", 2, True) is not None
    assert b.future.result(0).status == "acked" and not a.future.done()
    assert d.on_ack("n1", 2, True) is None  # late duplicate ack
    d.on_ack("n1", 1, False)
    assert a.future.result(0).status == "rejected"
    assert (d.sent, d.acked, d.failed, d.pending) == (2, 1, 1, 0)


def test_resent_with_the_same_number_then_timeout() -> None:
    sent = Sent()
    d = Downlink(DownlinkSettings(ack_timeout_s=1, retries=2), sent)
    r = CommandRequest("n2", "reboot", None)
    d.send(r, "mqtt", 100.0)
    d.tick(100.5)
    assert len(sent) == 1
    d.tick(101.0)
    d.tick(102.0)
    assert [s[2] for s in sent] == [1, 1, 1]
    d.tick(103.0)
    result = r.future.result(0)
    assert (result.status, result.attempts) == ("timeout", 3)
    assert d.pending == 0


def test_no_route_and_unknown_command() -> None:
    sent = Sent()
    d = Downlink(DownlinkSettings(), sent)
    r1, r2 = CommandRequest("n3", "ping", None), CommandRequest("n3", "selfdestruct", None)
    d.send(r1, None, 0.0)
    d.send(r2, "mqtt", 0.0)
    assert r1.future.result(0).status == "no_route"
    assert r2.future.result(0).status == "invalid"
    assert not sent


def test_wire_forms_decode_as_commands() -> None:
    frame = decode_frame(command_frame("slope-07", 12, "interval", 30))
    assert (frame.type, frame.node, frame.seq, frame.fields) == (
        "C", "slope-07", 12, {"cmd": "interval", "v": 30}
    )
    topic, payload = command_mqtt("slope-07", 13, "ping", None)
    assert topic == "siaga/node/slope-07/cmd"
    msg = decode_device_message(topic, payload)
    assert (msg.kind, msg.seq, msg.cmd, msg.cmd_value) == ("cmd", 13, "ping", None)
