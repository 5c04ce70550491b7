"""File names as the session file stores them.

A name that is valid UTF-8 is stored as text; any other (``caf\\xe9.jpg`` written by an old
camera or a Latin-1 system, which Python holds with surrogate escapes) as its bytes, a BLOB,
so it round-trips exactly instead of failing the whole folder. Every read and write of a path
column goes through these two functions: the image list and the edit log alike.
"""

from __future__ import annotations

import os
from typing import Any


def name_to_db(name: Any) -> Any:
    """``name`` as stored: text when it encodes as UTF-8, else its file-system bytes; any value
    that is not a string (an id, None) is returned as it is."""
    if not isinstance(name, str):
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name)
    return name


def name_from_db(value: Any) -> Any:
    """The inverse of :func:`name_to_db`."""
    return os.fsdecode(value) if isinstance(value, bytes) else value
