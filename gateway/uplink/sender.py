"""The uplink's sender process: ``python -m siaga.gateway.uplink.sender FD``.

Started by the gateway (``sender_process.SenderProcess``) with one end of a socketpair as
``FD``; never by hand. The first frame is ``("config", kind, config, log_level)``; it answers
``("ready",)`` (or ``("failed", why)``) and then serves its transport:

- HTTP: ``("post", endpoint, body)`` -> ``("answer", status, reason, retry_after, body,
  connections_opened)`` or ``("error", why, connections_opened)``; ``("close",)`` ends it.
- MQTT: ``("publish", topic, payload, retain)`` and ``("subscribe", topic)`` go to paho; the
  client's events (``mqtt_transport``) go back as frames; ``("close", topic, payload,
  timeout)`` publishes the last status, disconnects cleanly and ends it.

It ignores SIGINT and SIGTERM (the signals that stop the gateway reach its whole process
group or unit). It holds no buffer and no state worth keeping: when its socket closes (the
gateway stopped or was killed) it exits at once, without an MQTT DISCONNECT, so the broker
publishes the gateway's last will. It imports only its transport (no pydantic, numpy or
firmware_bridge).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

from siaga.gateway.uplink.sender_frames import Frame, FrameSocket

log = logging.getLogger("siaga.gateway.uplink.sender")


def serve_http(frames: FrameSocket, config: tuple[object, ...]) -> None:
    import http.client

    from siaga.gateway.uplink.http_transport import HttpTransport, HttpTransportConfig

    try:
        transport = HttpTransport(HttpTransportConfig(*config))  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:  # a TLS file it cannot read
        frames.send(("failed", str(exc)))
        return
    frames.send(("ready",))
    while True:
        frame = frames.recv()
        if frame[0] == "close":
            transport.close()
            return
        _, endpoint, body = frame
        try:
            a = transport.post(endpoint, body)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            frames.send(("error", str(exc) or type(exc).__name__, transport.opened))
            continue
        frames.send(("answer", a.status, a.reason, a.retry_after, a.body, transport.opened))


def serve_mqtt(frames: FrameSocket, config: tuple[object, ...]) -> None:
    from siaga.gateway.uplink.mqtt_transport import MqttTransport, MqttTransportConfig

    def forward(event: Frame) -> None:  # in paho's thread
        try:
            frames.send(event)
        except OSError:
            os._exit(0)  # the gateway is gone: no clean disconnect, so the will goes out

    try:
        transport = MqttTransport(MqttTransportConfig(*config), forward)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:  # a TLS file it cannot read
        frames.send(("failed", str(exc)))
        return
    frames.send(("ready",))
    transport.open()
    while True:
        frame = frames.recv()
        op = frame[0]
        if op == "publish":
            transport.publish(frame[1], frame[2], frame[3])
        elif op == "subscribe":
            transport.subscribe(frame[1])
        elif op == "close":
            transport.close(frame[1], frame[2], frame[3])
            return


SERVE = {"http": serve_http, "mqtt": serve_mqtt}


def main(argv: list[str]) -> int:
    # Ctrl-C signals the whole process group, and systemd's KillMode=control-group SIGTERMs
    # every process of the unit: the sender must outlive that signal, so that the gateway
    # can still publish its offline status through it and stop it cleanly. Its lifetime is
    # its socket's (and the gateway SIGKILLs a sender that does not exit in time).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    frames = FrameSocket(socket.socket(fileno=int(argv[1])))
    try:
        _, kind, config, level = frames.recv()
        logging.basicConfig(stream=sys.stderr, level=level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        try:
            serve = SERVE[kind]
        except KeyError:
            frames.send(("failed", f"unknown uplink kind {kind!r}"))
            return 2
        serve(frames, config)
    except (EOFError, OSError):
        os._exit(0)  # the gateway closed the socket or died: nothing to finish
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
