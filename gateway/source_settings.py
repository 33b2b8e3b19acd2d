"""What the settings tables of the gateway's field sources share (``[modbus]``, ``[sdi12]``,
``[lorawan]``): the node id type, the ``alert_after`` key and which value of it a polled
device is held to, the rule that a bus name and a node each appear once, and validation that
raises the gateway's ConfigError."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Le, doc
from pydantic import StringConstraints, TypeAdapter

from siaga.analytics.errors import ConfigError as AnalyticsConfigError
from siaga.analytics.settings_file import validated
from siaga.gateway.errors import ConfigError

T = TypeVar("T")

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$"),
                   doc("A Siaga node id: 1-16 of A-Z a-z 0-9 - _")]
AlertAfter = Annotated[int, Ge(1), Le(10_000),
                       doc("Failed polls in a row before a sensor_fault alert")]


def alert_after_in_force(own: int | None, table_alert_after: int) -> int:
    """The failed polls in a row before a polled device (a Modbus device, an SDI-12 sensor)
    raises a sensor_fault alert: its own ``alert_after``, else its table's
    (``modbus.alert_after``, ``sdi12.alert_after``). Its poller asks when it is built."""
    return table_alert_after if own is None else own


def check_buses(buses: Iterable[tuple[str, Iterable[str]]], member: str) -> None:
    """ValueError naming the key if two buses share a name or a node is on two buses;
    ``buses`` gives each bus's name and its members' nodes, ``member`` the members' key."""
    names: set[str] = set()
    nodes: set[str] = set()
    for i, (name, members) in enumerate(buses):
        if name in names:
            raise ValueError(f"bus[{i}].name: {name!r} names two buses")
        names.add(name)
        for j, node in enumerate(members):
            if node in nodes:
                raise ValueError(f"bus[{i}].{member}[{j}].node: {node!r} is on two buses")
            nodes.add(node)


def validated_table(adapter: TypeAdapter[T], table: Mapping[str, Any], key: str) -> T:
    """``table`` validated as a TOML file types it (environment text already typed by the
    caller); ConfigError naming the dotted key."""
    try:
        return validated(adapter, dict(table), key, strict=True)
    except AnalyticsConfigError as e:
        raise ConfigError(e.key, e.problem) from None
