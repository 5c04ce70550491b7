"""File names as text users can read.

A name that is not valid UTF-8 (``caf\\xe9.jpg`` from an old camera or a Latin-1 system) reaches
Python as a str with surrogate escapes: the file opens fine, but printing it, putting it in a Qt
widget or writing it to a UTF-8 CSV fails or silently drops the byte. ``printable`` shows such
bytes as ``\\xNN`` (as ``ls -b`` and git do), and leaves every valid name unchanged.
"""

from __future__ import annotations

import os


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
    return os.fsencode(text).decode("utf-8", "backslashreplace")
