"""Frozen slotted records built at the speed of plain attribute stores, for the few made
for every message (a ``DeviceMessage``, its ``NodeMessage``, a ``Reading`` per channel,
and the uplink's buffer ``Entry`` per row it peeks).

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` by name.
Calling each slot's setter directly halved that. A plain class with the record's
``__slots__`` (``slots_twin``) is faster still: its fields are ordinary attribute stores,
which CPython specialises to a direct write into the slot, and the filled object is then
given the record's class (``obj.__class__ = Record``). The object is then a record like
any other (its type, equality, hash, repr and immutability are the record's).

CPython allows that assignment only between classes of the same layout (same base, same
size, the same slot names: it compares them sorted) and raises TypeError otherwise.
``slots_twin`` makes one such assignment when it is called, at import. That proves only
that this CPython accepts the switch for this record: the twin copies the record's own
``__slots__``, so a field added to the record passes it. It does not prove that a fast
constructor sets every field; a field it leaves out is unset (AttributeError when read).
The tests do that: tests/slot_record_checks.py compares every slot of a record each fast
constructor makes with the dataclass's own, for all four.

Where the probe fails (CPython 3.11 refuses a ``weakref_slot=True`` record's twin)
``slots_twin`` returns None and the module binds the fast constructor's name to a plain
one once, at import: no cost per call, the record's own ``__init__``'s speed.

Measured (CPU, ``timeit`` best of 5 with ``time.process_time``, the kit's message; issue 17;
against the slots' setters, or for ``NodeMessage`` its constructor): a ``Reading`` 0.68 ->
0.25 us, an ``up`` ``DeviceMessage`` 0.80 -> 0.24 us, a ``NodeMessage`` 0.38 -> 0.13 us, 500
buffer ``Entry`` records 0.13 -> 0.067 ms. docs/gateway.md has the gateway's figures.
"""

from __future__ import annotations

from typing import Any


def slots_twin(record: type) -> Any:
    """A plain class with ``record``'s slots, whose instances may be given ``record`` as
    their class once every field is set; None when this CPython refuses that switch (the
    caller then builds ``record`` the plain way). ``record`` must be a slotted dataclass
    with no base but ``object`` (TypeError otherwise)."""
    slots = vars(record).get("__slots__")
    if record.__bases__ != (object,) or slots is None:
        raise TypeError(f"{record.__name__} is not a slotted record")
    twin = type(f"_{record.__name__}Slots", (), {"__slots__": slots})
    probe = twin()
    try:
        probe.__class__ = record
    except TypeError:  # the layouts differ
        return None
    return twin
