"""The one CSV writer and the output writer: real files, a real FIFO, read back with csv."""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.csvfile import safe_cell, write_csv, write_rows
from dcgui.core.fsutil import is_stream_output, output_writer


def test_formula_cells_are_inert_and_numbers_untouched(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    rows = [["=cmd|' /C calc'!A0", -1.5, np.float32(-2.0)], ["+1", 3, "@sum"], ["-beach.jpg", 0, "\tx"],
            ["a\r\nb", 1, "plain"]]
    assert write_csv(out, ["path", "x", "name"], rows) == 4
    back = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert back[0] == ["path", "x", "name"]
    assert back[1] == ["'=cmd|' /C calc'!A0", "-1.5", "-2.0"]
    assert back[2] == ["'+1", "3", "'@sum"]
    assert back[3] == ["'-beach.jpg", "0", "'\tx"]
    assert back[4] == ["a\r\nb", "1", "plain"]  # one record, not two
    assert len(back) == 5


def test_safe_cell_none_is_empty() -> None:
    assert safe_cell(None) == ""
    assert safe_cell(True) is True


def test_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader)
    t.start()
    assert is_stream_output(fifo)
    write_csv(fifo, ["a"], [["=x"]])
    t.join(10)
    assert got == [b"a\n'=x\n"]
    assert fifo.is_fifo()  # still the FIFO, not a regular file put in its place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left beside it


def test_dev_null_stays_a_device() -> None:
    assert is_stream_output("/dev/null")
    with output_writer("/dev/null") as fh:
        fh.write(b"x")
    assert Path("/dev/null").is_char_device()


def test_dash_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_csv("-", ["a"], [["b"]])
    assert capsys.readouterr().out == "a\nb\n"


def test_regular_file_is_replaced_atomically(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    out.write_text("old")
    assert not is_stream_output(out)
    with pytest.raises(RuntimeError), output_writer(out, text=True) as fh:
        fh.write("new")
        raise RuntimeError("interrupted")
    assert out.read_text() == "old"  # an interrupted write leaves the old content
    buf = io.StringIO()
    write_rows(buf, ["h"], [])
    assert buf.getvalue() == "h\n"
