"""A network server's uplink -> (node id, channel values): profile, codec, node naming.

Pure. The decoded object wins when the network server sent one (a codec configured
in its device profile); otherwise the payload goes through the profile's codec.
"""

from __future__ import annotations

import re

from siaga.firmware_bridge.channels import CHANNELS
from siaga.firmware_bridge.lorawan import LorawanUplink
from siaga.firmware_bridge.payload_codecs import PayloadError, decode_cayenne_lpp
from siaga.gateway.lorawan.settings import LorawanSettings, PayloadProfile

_NODE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def node_of(up: LorawanUplink, settings: LorawanSettings) -> str:
    """The Siaga node id: ``[lorawan.nodes]`` by DevEUI or device name, else the name."""
    node = settings.nodes.get(up.dev_eui) or settings.nodes.get(up.device.lower()) or up.device
    if not _NODE.fullmatch(node):
        raise PayloadError("bad_node_id", f"device {up.device!r} ({up.dev_eui}) is no valid "
                           "node id; name it in [lorawan.nodes]")
    return node


def profile_of(up: LorawanUplink, settings: LorawanSettings) -> PayloadProfile | None:
    name = settings.device_profiles.get(up.device) or (
        up.profile if up.profile in settings.profiles else None) or settings.default_profile
    return settings.profiles.get(name) if name is not None else None


def values_of(up: LorawanUplink, profile: PayloadProfile | None) -> dict[str, float]:
    """Channel values of one uplink; PayloadError when nothing can decode it."""
    if up.decoded is not None:
        fields = profile.object_fields if profile is not None else {}
        out: dict[str, float] = {}
        for key, value in up.decoded.items():
            channel = fields.get(key) or (key if key in CHANNELS and not fields else None)
            if channel and isinstance(value, int | float) and not isinstance(value, bool):
                out[channel] = float(value)
        return out
    if profile is None or profile.codec == "object":
        raise PayloadError("no_codec", f"device {up.device}: no decoded object and no "
                           "payload codec (set the device's profile in [lorawan])")
    if profile.codec == "cayenne_lpp":
        return decode_cayenne_lpp(up.payload, profile.lpp)
    assert profile.layout is not None
    return profile.layout.decode(up.payload)
