"""The check every fast record constructor (firmware_bridge/slot_records.py) is held to:
it makes the record the dataclass's own constructor makes, every slot set and equal.

Equality and repr alone cannot tell: a field added with ``compare=False`` or ``repr=False``
that the fast constructor does not set passes both. Every name in the record's
``__slots__`` (the dataclass's fields) is read here, so such a field fails: unset, it
raises AttributeError; set wrong, it differs."""

from __future__ import annotations


def assert_same_record(made: object, plain: object) -> None:
    """``made`` (a fast constructor's) is ``plain`` (the dataclass's), slot for slot."""
    record = type(plain)
    assert type(made) is record, f"{type(made).__name__} is not {record.__name__}"
    for name in vars(record)["__slots__"]:
        if name == "__weakref__":  # weakref_slot=True: not a field
            continue
        assert hasattr(made, name), f"{record.__name__}.{name} is not set"
        got, want = getattr(made, name), getattr(plain, name)
        assert got is want or got == want, f"{record.__name__}.{name}: {got!r} != {want!r}"
    assert made == plain and repr(made) == repr(plain)
    try:
        want = hash(plain)
    except TypeError:  # a field holds a dict (DeviceMessage.values): neither hashes
        return
    assert hash(made) == want
