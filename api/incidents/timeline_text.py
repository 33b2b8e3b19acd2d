"""What the hub itself writes into an incident's timeline, in Bahasa Indonesia with the English
beside it (pure). The Indonesian text is the entry's ``note``; the English goes into its data
as ``note_en`` for a reader who chose English, as alerts carry ``explanation_en``.
"""

from __future__ import annotations

__all__ = ["POSITION_NAMES", "deadline_missed", "position_name", "rung_told"]

POSITION_NAMES: dict[str, tuple[str, str]] = {
    "duty_officer": ("petugas piket", "duty officer"),
    "head_of_section": ("kepala seksi", "head of section"),
    "head": ("kepala", "head"),
}
"""The default escalation positions as people say them (Indonesian, English); a position
configured beyond these is shown as written."""

_DEADLINE = {"ack": ("tanggapan", "acknowledgement"), "resolve": ("penyelesaian", "resolution")}


def position_name(position: str, english: bool = False) -> str:
    names = POSITION_NAMES.get(position)
    return position if names is None else names[int(english)]


def deadline_missed(agency: str, deadline: str, told: str | None) -> tuple[str, str]:
    """An agency missed its ack or resolve deadline (and who of its chain is told now)."""
    what_id, what_en = _DEADLINE[deadline]
    text_id = f"{agency} melewati batas waktu {what_id}"
    text_en = f"{agency} missed the {what_en} deadline"
    if told is not None:
        text_id += f"; {position_name(told)} diberi tahu"
        text_en += f"; {position_name(told, True)} told"
    return text_id, text_en


def rung_told(agency: str, position: str) -> tuple[str, str]:
    """A further rung of the chain is told: the agency has still not acknowledged."""
    return (f"{agency}: masih belum ditanggapi; {position_name(position)} diberi tahu",
            f"{agency}: still no acknowledgement; {position_name(position, True)} told")
