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
