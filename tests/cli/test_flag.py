"""``dcgui flag SESSION --exclude|--keep|--clear PATH...`` (issue 24, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.store import SessionStore
from tests.conftest import copy_session


def test_flag_by_path_is_one_edit_previewed_for_several_images(curation_session: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    session = copy_session(curation_session, tmp_path)
    with SessionStore.open(session, readonly=True) as s:
        paths = s.image_paths()
    one, two, three = paths[0], paths[1], paths[2]
    assert main(["flag", str(session), "--exclude", one]) == 0
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flag_sources() == {0: ("exclude", "hand")}
    # several images: the summary first, --yes applies
    listing = tmp_path / "list.txt"
    listing.write_text(f"# from a spreadsheet\n{two}\n\n./{three}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["flag", str(session), "--keep", one, "--from-file", str(listing)]) == 0
    out = capsys.readouterr().out
    assert "3 images" in out and "1 × exclude → keep" in out and "nothing changed" in out
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {0: "exclude"}
    assert main(["flag", str(session), "--keep", one, "--from-file", str(listing), "--yes"]) == 0
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {0: "keep", 1: "keep", 2: "keep"}
        assert len([e for e in s.edit_log() if "dcgui flag" in e.summary]) == 2
    assert main(["undo", str(session)]) == 0
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {0: "exclude"}
    assert main(["flag", str(session), "--clear", one]) == 0
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {}
    # a path that is not an image of the session names itself and the fix
    capsys.readouterr()
    assert main(["flag", str(session), "--exclude", "nope/missing.png", one]) == 2
    err = capsys.readouterr().err
    assert "nope/missing.png" in err and "relative to" in err
