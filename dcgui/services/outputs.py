"""Where a front end may write a file the user named: one rule for the CLI and the window.

Every export (CSV, backbone, plot, features, map) checks its path here before anything is
written: never the session file, its ``-wal`` / ``-shm`` / ``-journal``, nor anything in its data
folder (``dcgui.store.paths.check_output``), and the folder it goes into must exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from dcgui.core.fsutil import STDOUT, check_file_target, is_stream_output
from dcgui.store.paths import UnsafeOutput, check_output

__all__ = ["UnsafeOutput", "check_output", "output_file"]


def output_file(text: str | os.PathLike[str], session: str | os.PathLike[str], what: str = "output",
                make_folder: bool = False) -> Path:
    """The absolute path of an output file the user named for session ``session``.

    Refused (``DcguiError``, naming the file and the fix): a path over the session or its data
    (``UnsafeOutput``), a folder, or a file in a folder that does not exist (``make_folder``
    creates that folder instead, as ``dcgui duplicates --csv`` does).
    ``-`` (standard output), a device or a FIFO are written into (``fsutil.output_writer``)."""
    if os.fspath(text) == STDOUT:
        return Path(STDOUT)
    out = check_output(text, session, what)
    if is_stream_output(out):
        return out
    if make_folder:
        out.parent.mkdir(parents=True, exist_ok=True)
    check_file_target(out)
    return out
