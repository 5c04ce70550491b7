"""Scanning real folders: recursion, extensions, hidden entries, symlink loops, labels, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from dcgui.core.control import RunControl, StopRequested, drain
from dcgui.core.errors import UnusableCollectionError
from dcgui.core.events import PhaseProgress
from dcgui.core.images.collection import ImageRecord, iter_scan, scan

needs_symlinks = pytest.mark.skipif(os.name == "nt", reason="creating symlinks needs privileges on Windows")


def _img(path: Path, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path, format="PNG")
    return path


def test_recursive_case_insensitive_sorted(tmp_path: Path) -> None:
    for rel in ["b.JPG", "a.png", "sub/deeper/c.Jpeg", "sub/d.TIFF", "e.webp", "f.gif", "g.bmp", "h.tif"]:
        _img(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub" / "photo.xmp").write_bytes(b"\x00" * 10)  # a sidecar, not an image
    result = scan(tmp_path)
    rels = [r.relpath for r in result.images]
    assert rels == ["a.png", "b.JPG", "e.webp", "f.gif", "g.bmp", "h.tif", "sub/d.TIFF", "sub/deeper/c.Jpeg"]
    assert result.folder == tmp_path and result.skipped == []
    rec = result.images[0]
    st = (tmp_path / "a.png").stat()
    assert (rec.size, rec.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert rec.key == ("a.png", st.st_size, st.st_mtime_ns)


def test_hidden_files_and_folders_skipped(tmp_path: Path) -> None:
    _img(tmp_path / "visible.png")
    _img(tmp_path / ".hidden.png")
    _img(tmp_path / ".thumbnails" / "x.png")
    _img(tmp_path / "__MACOSX" / "y.png")  # zip-extraction debris
    assert [r.relpath for r in scan(tmp_path).images] == ["visible.png"]


@needs_symlinks
@pytest.mark.timeout(30)
def test_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _img(root / "a" / "x.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # a/loop -> photos
    (root / "a" / "self").symlink_to(root / "a", target_is_directory=True)
    rels = [r.relpath for r in scan(root).images]
    assert rels == ["a/x.png"]  # every real folder listed once


@needs_symlinks
def test_symlinks_leading_outside_are_skipped_with_the_reason(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    _img(outside / "o.png")
    root = tmp_path / "photos"
    _img(root / "own.png")
    _img(root / "sub" / "in.png")
    (root / "link1").symlink_to(outside, target_is_directory=True)
    (root / "file_link.png").symlink_to(outside / "o.png")
    (root / "inside_link").symlink_to(root / "sub", target_is_directory=True)  # stays inside: fine
    result = scan(root)
    assert [r.relpath for r in result.images] == ["own.png", "sub/in.png"]
    reasons = dict(result.skipped)
    assert sorted(reasons) == ["file_link.png", "link1"]
    assert reasons["link1"].startswith(f"symbolic link to {os.path.realpath(outside)}, outside the folder")


@needs_symlinks
def test_real_path_wins_over_a_link_to_it(tmp_path: Path) -> None:
    _img(tmp_path / "zebra" / "z.png")
    (tmp_path / "a_link").symlink_to(tmp_path / "zebra", target_is_directory=True)
    assert [r.relpath for r in scan(tmp_path).images] == ["zebra/z.png"]


@needs_symlinks
def test_broken_symlink_is_reported(tmp_path: Path) -> None:
    _img(tmp_path / "ok.png")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = scan(tmp_path)
    assert [r.relpath for r in result.images] == ["ok.png"]
    assert result.skipped == [("dangling.jpg", "broken symbolic link")]


def test_labels_from_class_subfolders(tmp_path: Path) -> None:
    for cls in ["dogs", "cats", "birds"]:
        _img(tmp_path / cls / "1.png")
        _img(tmp_path / cls / "nested" / "2.png")  # deeper files keep the top-level label
    result = scan(tmp_path)
    assert result.label_names == ["birds", "cats", "dogs"]
    assert {r.relpath: r.label for r in result.images}["cats/nested/2.png"] == "cats"
    assert result.labels == [0, 0, 1, 1, 2, 2]


def test_no_labels_when_flat_or_mixed_or_single_folder(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    _img(flat / "a.png")
    _img(flat / "b.png")
    assert scan(flat).label_names == [] and scan(flat).labels is None

    mixed = tmp_path / "mixed"  # one image outside the class folders: no labels at all
    _img(mixed / "x" / "a.png")
    _img(mixed / "y" / "b.png")
    _img(mixed / "loose.png")
    res = scan(mixed)
    assert res.label_names == [] and all(r.label is None for r in res.images)

    single = tmp_path / "single"
    _img(single / "only" / "a.png")
    _img(single / "only" / "b.png")
    assert scan(single).label_names == []


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no photos here")
    with pytest.raises(UnusableCollectionError) as info:
        scan(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert "found 0 image files" in msg and ".jpg" in msg and ".png" in msg
    assert "1 other file(s) ignored" in msg


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(UnusableCollectionError, match="does not exist"):
        scan(tmp_path / "nope")
    f = _img(tmp_path / "a.png")
    with pytest.raises(UnusableCollectionError, match="not a folder"):
        scan(f)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can list any folder")
def test_unreadable_subfolder_is_reported(tmp_path: Path) -> None:
    _img(tmp_path / "ok.png")
    locked = tmp_path / "locked"
    _img(locked / "x.png")
    locked.chmod(0)
    try:
        result = scan(tmp_path)
    finally:
        locked.chmod(0o755)
    assert [r.relpath for r in result.images] == ["ok.png"]
    assert result.skipped[0][0] == "locked" and "unreadable" in result.skipped[0][1]


def test_progress_and_stop(tmp_path: Path) -> None:
    for i in range(3):
        _img(tmp_path / f"d{i}" / "a.png")
    events: list[PhaseProgress] = []
    result = drain(iter_scan(tmp_path), events.append)
    assert all(e.phase == "scan" for e in events)
    assert (events[-1].done, events[-1].total) == (3, 3)
    assert len(result.images) == 3

    control = RunControl()
    control.stop()
    with pytest.raises(StopRequested):
        scan(tmp_path, control)


def test_record_defaults() -> None:
    r = ImageRecord("a/b.png", 10, 5)
    assert r.label is None and r.key == ("a/b.png", 10, 5)
