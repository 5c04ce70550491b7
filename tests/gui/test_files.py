"""dcgui.gui.files: the file and folder questions give a Path, or None when cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog

from dcgui.gui.files import ask_folder, ask_open_file, ask_save_file


def test_answers_become_paths_and_cancel_becomes_none(qtbot: Any, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    asked: list[tuple[Any, ...]] = []
    answer = {"value": str(tmp_path / "a.png")}

    def file_dialog(*args: Any) -> tuple[str, str]:
        asked.append(args)
        return answer["value"], "PNG image (*.png)"

    def folder_dialog(*args: Any) -> str:
        asked.append(args)
        return answer["value"]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(file_dialog))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(file_dialog))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(folder_dialog))
    assert ask_open_file(None, "Open", tmp_path, "PNG image (*.png)") == tmp_path / "a.png"
    assert asked[-1] == (None, "Open", str(tmp_path), "PNG image (*.png)")
    assert ask_save_file(None, "Save", "x.png", "PNG image (*.png)") == tmp_path / "a.png"
    assert ask_folder(None, "Folder") == tmp_path / "a.png" and asked[-1] == (None, "Folder", "")
    answer["value"] = ""  # the user pressed Cancel
    assert ask_open_file(None, "Open", "", "") is None
    assert ask_save_file(None, "Save", "", "") is None
    assert ask_folder(None, "Folder", tmp_path) is None
