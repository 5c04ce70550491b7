"""File names that are not valid UTF-8 (``caf\\xe9.jpg`` from an old camera or a Latin-1 system):
a real such file on disk goes through scan -> cache -> session -> train and back, losslessly, and
is shown readably."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.config import TrainConfig
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.pathtext import printable
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

LATIN1_NAME = b"caf\xe9.jpg"  # "café.jpg" as a Latin-1 system writes it: not valid UTF-8


def write_latin1_file(folder: Path, subdir: str = "class_0") -> str:
    """Write a real JPEG named ``caf\\xe9.jpg`` and return its relpath as Python sees it."""
    target = os.path.join(os.fsencode(folder / subdir), LATIN1_NAME)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:  # macOS (APFS) and Windows refuse such names
        pytest.skip(f"this file system does not allow non-UTF-8 names ({exc})")
    with os.fdopen(fd, "wb") as fh:
        Image.fromarray(np.full((40, 40, 3), (200, 60, 30), np.uint8)).save(fh, "JPEG")
    return f"{subdir}/{os.fsdecode(LATIN1_NAME)}"


@pytest.mark.skipif(sys.platform == "win32", reason="Windows file names are UTF-16")
def test_non_utf8_name_round_trips_through_scan_cache_and_session(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "photos", n_per_class=3, classes=2)
    rel = write_latin1_file(folder)
    result = scan(folder)
    assert rel in [r.relpath for r in result.images]
    gen = ImageCache.iter_build(tmp_path / "cache", folder, result.images, 32, workers=1)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            cache = stop.value
            break
    assert cache.failed == []
    store = SessionStore.create(tmp_path / "s.dcgui", folder, TrainConfig(k=2))
    store.set_images(cache.records, [(rel.replace(".jpg", "_bad.jpg"), "truncated file")],
                     result.label_names, sizes=cache.original_sizes)
    i = store.image_paths().index(rel)
    store.set_image_flag(i, "keep")
    store.close()

    with SessionStore.open(tmp_path / "s.dcgui", readonly=True) as s:
        paths = s.image_paths()
        assert paths == [r.relpath for r in cache.records]  # lossless, same order
        assert (s.folder / paths[i]).is_file()  # the stored name opens the real file
        assert os.fsencode(paths[i]).endswith(LATIN1_NAME)
        assert s.image_info(i)["path"] == rel and s.image_info(i)["flag"] == "keep"
        assert s.image_flags() == {i: "keep"}
        assert s.skipped() == [(rel.replace(".jpg", "_bad.jpg"), "truncated file")]
    # The exact bytes are in the file (a BLOB), readable by any SQLite tool.
    conn = sqlite3.connect(tmp_path / "s.dcgui")
    stored = conn.execute("SELECT path FROM images WHERE idx = ?", (i,)).fetchone()[0]
    conn.close()
    assert stored == b"class_0/" + LATIN1_NAME


def test_printable_shows_undecodable_bytes_as_escapes() -> None:
    assert printable(os.fsdecode(b"class_0/" + LATIN1_NAME)) == "class_0/caf\\xe9.jpg"
    assert printable("class_0/café.jpg") == "class_0/café.jpg"  # valid UTF-8 stays as it is
    assert printable(Path("a") / "b.png") == str(Path("a") / "b.png")


@pytest.mark.skipif(sys.platform == "win32", reason="Windows file names are UTF-16")
def test_non_utf8_folder_and_label(tmp_path: Path) -> None:
    """The photo folder itself and a class sub-folder may carry such a name too."""
    folder_bytes = os.fsencode(tmp_path) + b"/Fotos_" + b"\xe9t\xe9"
    try:
        os.mkdir(folder_bytes)
    except OSError as exc:
        pytest.skip(f"this file system does not allow non-UTF-8 names ({exc})")
    folder = Path(os.fsdecode(folder_bytes))
    write_image_folder(folder, n_per_class=2, classes=2)
    os.rename(os.fsencode(folder / "class_1"), os.fsencode(folder) + b"/\xe9t\xe9")
    result = scan(folder)
    assert os.fsdecode(b"\xe9t\xe9") in result.label_names
    store = SessionStore.create(tmp_path / "s.dcgui", folder, TrainConfig(k=2))
    store.set_images(result.images, [], result.label_names, sizes=np.full((len(result.images), 2), 48))
    store.record_export("csv", folder / "out.csv", {})
    store.close()
    with SessionStore.open(tmp_path / "s.dcgui", readonly=True) as s:
        assert s.folder == folder
        assert sorted(set(s.labels().tolist())) == [0, 1]
        assert s.image_info(0)["label"] in result.label_names
        assert s.exports()[0]["path"] == str(folder / "out.csv")
