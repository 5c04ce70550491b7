"""The one CSV writer: every CSV dcgui writes (clusters, groups, duplicates, map, metrics) goes
through ``write_csv``.

Two rules hold for every file:
- **Spreadsheet-safe text** (OWASP's CSV-injection rule): a text cell that a spreadsheet would
  run as a formula, one that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return,
  is written with a leading single quote (``'=cmd|...`` shows as text). Numbers (int, float,
  numpy scalars) are written as they are, so numeric columns such as map coordinates keep their
  sign. A file named ``-beach.jpg`` therefore reads back as ``'-beach.jpg``: strip one leading
  quote when reading such a cell by program.
- **One row per record**: a cell holding CR or LF is one quoted field, which Python's csv reader
  and spreadsheets read back as one cell.

The destination is any path ``fsutil.output_writer`` takes: ``-`` (standard output), a device
or FIFO (written into), or a regular file (written atomically).
"""

from __future__ import annotations

import csv
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import IO, Any

from dcgui.core.fsutil import output_writer

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as written to a CSV: inert text, numbers unchanged, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool | numbers.Number):
        return value
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def write_rows(fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``header`` and ``rows`` to an open text handle; returns the number of rows."""
    w = csv.writer(fh, lineterminator="\n")
    w.writerow([safe_cell(h) for h in header])
    n = 0
    for row in rows:
        w.writerow([safe_cell(v) for v in row])
        n += 1
    return n


def write_csv(dest: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write one CSV file to ``dest`` (see the module's rules); returns the number of rows."""
    with output_writer(dest, text=True) as fh:
        return write_rows(fh, header, rows)
