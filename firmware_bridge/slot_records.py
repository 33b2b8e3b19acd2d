"""Frozen slotted records built at the speed of plain attribute stores, for the few made
for every message (a ``DeviceMessage``, its ``NodeMessage``, a ``Reading`` per channel).

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` by name
(``Reading(...)``: 1.26 us of CPU). Calling each slot's setter directly halved that. A
plain class with the record's ``__slots__`` (``slots_twin``) is faster still: its fields are
ordinary attribute stores, which CPython specialises to a direct write into the slot, and
the filled object is then given the record's class (``obj.__class__ = Record``). CPython
allows that assignment only between classes of the same layout (same base, same slots in
the same order, same size) and raises TypeError otherwise; ``slots_twin`` makes one such
assignment when it is called, so a record whose layout stops matching fails at import, not
on the first message. The object is then a record like any other (its type, equality,
hash, repr and immutability are the record's).

Measured (CPU, ``timeit`` best of 5 with ``time.process_time``, the kit's message; issue 17;
against the slots' setters or the constructor): a ``Reading`` 0.68 -> 0.25 us, an ``up``
``DeviceMessage`` 0.80 -> 0.24 us, a ``NodeMessage`` 0.38 -> 0.13 us, 500 buffer ``Entry``
records 0.13 -> 0.067 ms. Each fast constructor is pinned by a test to the record's
own constructor, field for field.
"""

from __future__ import annotations

from typing import Any


def slots_twin(record: type) -> Any:
    """A plain class with ``record``'s slots, whose instances may be given ``record`` as
    their class once every field is set. ``record`` must be a slotted dataclass with no
    base but ``object`` (TypeError otherwise)."""
    slots = vars(record).get("__slots__")
    if record.__bases__ != (object,) or slots is None:
        raise TypeError(f"{record.__name__} is not a slotted record")
    twin = type(f"_{record.__name__}Slots", (), {"__slots__": slots})
    probe = twin()
    probe.__class__ = record  # TypeError here when the layouts differ
    return twin
