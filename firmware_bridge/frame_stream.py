"""The serial byte stream cut into frames: ``FrameDecoder`` (PROTOCOL.md, "Siaga
implementation notes"), each line decoded by ``codec.decode_frame``.

Pure, no I/O: the gateway's serial source and the simulators' pty nodes feed it what
they read.
"""

from __future__ import annotations

from dataclasses import dataclass

from siaga.firmware_bridge.codec import Frame, decode_frame
from siaga.firmware_bridge.errors import FrameDecodeError
from siaga.firmware_bridge.frame_rules import MAX_FRAME_BYTES

__all__ = ["DecodeError", "FrameDecoder"]


@dataclass(frozen=True, slots=True)
class DecodeError:
    """What the streaming decoder returns instead of raising; ``raw`` is capped at 251 bytes."""

    reason: str
    detail: str
    raw: bytes


_BETWEEN, _IN_FRAME, _SKIPPING = 0, 1, 2
_GARBAGE_SAMPLE = 64
_BLANK = b" \t\r\n"


class FrameDecoder:
    """Cuts a byte stream into frames; feed it chunks split anywhere.

    Never raises on input and never holds more than one frame's worth of bytes:

    - a line ``$`` ... LF is decoded with ``decode_frame`` (a frame or its error);
    - a ``$`` inside a partial frame ends that frame (``no_terminator``) and starts anew;
    - a partial frame over 250 bytes is dropped (``too_long`` once), and the rest of
      its line is skipped silently up to the next LF or ``$``;
    - bytes between frames (boot banners, debug prints, noise) are skipped up to the
      next ``$``; each line of them that holds more than blanks gives one ``garbage``
      record (raw = its first 64 bytes), so they are visible without flooding.
    """

    def __init__(self) -> None:
        self._state = _BETWEEN
        self._pending = b""  # the frame in progress, from its '$'
        self._garbage_sample = b""
        self._garbage_len = 0
        self._garbage_visible = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Frame | DecodeError]:
        out: list[Frame | DecodeError] = []
        if type(chunk) is not bytes:
            chunk = bytes(chunk)  # raw records and pending state stay immutable bytes
        first_nl = chunk.find(b"\n")
        if first_nl < 0:
            self._run(chunk, out)
            return out
        self._run(chunk[: first_nl + 1], out)
        # Every LF ends whatever was going on, so each further whole line starts
        # between frames: a clean frame line needs no state machine, only a decode.
        lines = chunk[first_nl + 1 :].split(b"\n")
        tail = lines.pop()
        append, decode = out.append, decode_frame
        for line in lines:
            # decode_frame accepts no line that is over-long or holds a second '$', so
            # only a line that starts a frame needs trying; _run sorts out the rest.
            if line[:1] == b"$":
                try:
                    append(decode(line))
                    continue
                except FrameDecodeError:
                    pass  # _run reports it with the raw line as received, LF included
            self._run(line + b"\n", out)
        if tail:
            self._run(tail, out)
        return out

    def _run(self, chunk: bytes, out: list[Frame | DecodeError]) -> None:
        data = self._pending + chunk if self._pending else chunk
        self._pending = b""
        pos, n = 0, len(data)
        state = self._state
        # The next LF and '$' at or after pos (n: none). Found once and reused until
        # pos passes them, so a run of '$' without a LF costs linear time, not quadratic.
        nl = dl = -1
        while pos < n:
            if nl < pos:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    nl = n
            if state == _IN_FRAME:  # data[pos] is the frame's '$'
                if dl <= pos:
                    dl = data.find(b"$", pos + 1)
                    if dl < 0:
                        dl = n
                if dl == nl:  # both n: the data ends inside this frame
                    if n - pos > MAX_FRAME_BYTES:
                        out.append(_cut_frame(data[pos : pos + MAX_FRAME_BYTES + 1]))
                        state = _SKIPPING
                    else:
                        self._pending = data[pos:]
                    pos = n
                elif dl < nl:  # a new frame starts before this one's LF
                    out.append(_cut_frame(data[pos : min(dl, pos + MAX_FRAME_BYTES + 1)]))
                    pos = dl
                else:
                    try:
                        out.append(decode_frame(data[pos : nl + 1]))
                    except FrameDecodeError as e:
                        out.append(DecodeError(e.reason, e.detail, e.raw[: MAX_FRAME_BYTES + 1]))
                    pos, state = nl + 1, _BETWEEN
                continue
            if dl < pos:
                dl = data.find(b"$", pos)
                if dl < 0:
                    dl = n
            if state == _SKIPPING:  # the rest of an over-long frame's line
                if nl < dl:
                    pos, state = nl + 1, _BETWEEN
                else:
                    pos = dl
                    state = _IN_FRAME if dl < n else _SKIPPING
            elif nl < dl:  # a line between frames
                self._add_garbage(data[pos : nl + 1])
                self._end_garbage(out)
                pos = nl + 1
            else:  # bytes between frames, then a '$' or the end of the data
                self._add_garbage(data[pos:dl])
                pos = dl
                if dl < n:
                    self._end_garbage(out)
                    state = _IN_FRAME
        self._state = state

    def flush(self) -> list[Frame | DecodeError]:
        """End of stream (port closed): report what is left half-read, and start clean."""
        out: list[Frame | DecodeError] = []
        if self._state == _IN_FRAME and self._pending:
            out.append(_cut_frame(self._pending))
        self._end_garbage(out)
        self._pending = b""
        self._state = _BETWEEN
        return out

    def _add_garbage(self, segment: bytes) -> None:
        if len(self._garbage_sample) < _GARBAGE_SAMPLE:
            self._garbage_sample += segment[: _GARBAGE_SAMPLE - len(self._garbage_sample)]
        self._garbage_len += len(segment)
        if not self._garbage_visible and segment.strip(_BLANK):
            self._garbage_visible = True

    def _end_garbage(self, out: list[Frame | DecodeError]) -> None:
        if self._garbage_visible:
            out.append(DecodeError(
                "garbage", f"{self._garbage_len} bytes between frames", self._garbage_sample
            ))
        self._garbage_sample = b""
        self._garbage_len = 0
        self._garbage_visible = False


def _cut_frame(partial: bytes) -> DecodeError:
    """A frame that ended without its LF: cut by a new '$', the 250-byte limit or flush
    (``partial`` is at most 251 bytes: more says only that it was too long)."""
    if len(partial) > MAX_FRAME_BYTES:
        return DecodeError("too_long", f"no LF within {MAX_FRAME_BYTES} bytes", partial)
    return DecodeError("no_terminator", f"frame cut after {len(partial)} bytes", partial)
