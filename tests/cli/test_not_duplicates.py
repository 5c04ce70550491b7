"""``dcgui duplicates --dismiss``: "not duplicates" is an undoable edit that sticks (issue 24, item 4)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.cli.common import drive
from dcgui.services import training
from dcgui.store import SessionStore
from tests.conftest import copy_session


def _groups(session: Path, out: Path) -> dict[str, list[str]]:
    assert main(["duplicates", str(session), "--csv", str(out)]) == 0
    groups: dict[str, list[str]] = {}
    with open(out, newline="") as fh:
        for row in csv.DictReader(fh):
            groups.setdefault(row["group"], []).append(row["path"])
    return groups


def test_a_dismissed_group_stays_away_until_one_of_its_images_changes(curation_session: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    session = copy_session(curation_session, tmp_path)
    before = _groups(session, tmp_path / "a.csv")
    copies = next(paths for paths in before.values() if "class_1/img_002.png" in paths)  # the four copies
    number = next(g for g, paths in before.items() if paths == copies)
    assert main(["duplicates", str(session), "--dismiss", number]) == 0
    assert "not duplicates" in capsys.readouterr().out
    after = _groups(session, tmp_path / "b.csv")
    assert sorted(copies) not in [sorted(p) for p in after.values()]
    assert len(after) == len(before) - 1
    # an edit like any other: undo brings the group back, redo takes it away again
    with SessionStore.open(session) as s:
        assert s.edit_log()[-1].kind == "not duplicates"
        s.undo()
    assert sorted(copies) in [sorted(p) for p in _groups(session, tmp_path / "c.csv").values()]
    with SessionStore.open(session) as s:
        s.redo()
        folder = s.folder
    assert sorted(copies) not in [sorted(p) for p in _groups(session, tmp_path / "d.csv").values()]
    # one of its images changes (the next scan sees it): the decision no longer covers the group
    changed = folder / copies[-1]
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        with SessionStore.open(session) as s:
            drive(training.iter_prepare(s))
        assert sorted(copies) in [sorted(p) for p in _groups(session, tmp_path / "e.csv").values()]
    finally:  # the photos are shared with other tests' copies of the session
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert main(["duplicates", str(session), "--dismiss", "99"]) == 2
