"""File names as text users can read.

A name that is not valid UTF-8 (``caf\\xe9.jpg`` from an old camera or a Latin-1 system) reaches
Python as a str with surrogate escapes: the file opens fine, but printing it, putting it in a Qt
widget (which silently drops the byte) or writing it to a UTF-8 CSV fails. ``printable`` shows
such bytes as ``\\xNN`` (as ``ls -b`` and git do) and leaves every valid name unchanged; the
``PRINTABLE`` codec error handler does the same for a whole stream (the CLI's stdout, a CSV).
"""

from __future__ import annotations

import codecs
import os

PRINTABLE = "dcgui-printable"  # errors= name for encoders: undecodable bytes become \xNN


def _escape(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start:exc.end]:
        code = ord(ch)
        # U+DC80..U+DCFF: a byte Python could not decode (surrogateescape); other lone
        # surrogates (Windows names that are not valid UTF-16) are shown as \uXXXX.
        out.append(f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}")
    return "".join(out), exc.end


codecs.register_error(PRINTABLE, _escape)


def is_printable(name: str) -> bool:
    """True when ``name`` holds no undecodable byte (no surrogate escape)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str | os.PathLike[str]) -> str:
    """``name`` with each byte that is not valid UTF-8 written as ``\\xNN``."""
    text = os.fspath(name)
    if is_printable(text):
        return text
    return text.encode("utf-8", PRINTABLE).decode("utf-8")


# C0 and C1 control characters and DEL (ESC starts the terminal's escape sequences: OSC 52
# writes the clipboard, others retitle the window or hide text), and the bidirectional overrides
# that make a name display as another one.
_CONTROL = set(range(0x20)) | set(range(0x7F, 0xA0)) | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROL}
_ESCAPES_KEEP_LINES = {c: e for c, e in _ESCAPES.items() if c != 0x0A}


def terminal_text(text: object, lines: bool = False) -> str:
    """``text`` (a name, a path, a message holding names) safe to show in a terminal or a log:
    control characters written as ``\\xNN`` (``\\x1b`` for ESC, ``\\x0d`` for CR) and
    undecodable bytes as ``printable`` does; ``lines``: line feeds are kept (a message of several
    lines). Every line dcgui prints that may hold a file, cluster or group name goes through here."""
    shown = printable(os.fspath(text) if isinstance(text, os.PathLike) else str(text))
    return shown.translate(_ESCAPES_KEEP_LINES if lines else _ESCAPES)
