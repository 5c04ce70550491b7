"""Capture date and camera from EXIF: real JPEG and HEIC files written with those tags, shown in
the image pane and written to the clusters CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dcgui.core.images.exif import PhotoFacts, photo_facts


def write_photo(path: Path, *, taken: str = "2021:07:03 14:22:05", make: str = "Canon",
                model: str = "Canon EOS 80D", fmt: str = "JPEG") -> Path:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal lives in the Exif sub-IFD
    exif[0x0132] = "2030:01:01 00:00:00"  # file-modified date: must lose to DateTimeOriginal
    Image.fromarray(np.full((24, 32, 3), (30, 120, 200), np.uint8)).save(path, fmt, exif=exif.tobytes())
    return path


def test_jpeg_capture_date_and_camera(tmp_path: Path) -> None:
    facts = photo_facts(write_photo(tmp_path / "a.jpg"))
    assert facts == PhotoFacts("2021-07-03 14:22:05", "Canon EOS 80D")
    assert facts.summary() == "taken 2021-07-03 14:22:05 · Canon EOS 80D"
    other = photo_facts(write_photo(tmp_path / "b.jpg", make="NIKON CORPORATION", model="D750"))
    assert other.camera == "NIKON CORPORATION D750"  # the maker is kept when the model lacks it


def test_heic_capture_date_and_camera(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    facts = photo_facts(write_photo(tmp_path / "a.heic", model="Canon EOS R6", fmt="HEIF"))
    assert facts == PhotoFacts("2021-07-03 14:22:05", "Canon EOS R6")


def test_files_without_exif_or_unreadable_give_empty_facts(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(plain)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert photo_facts(plain) == PhotoFacts() == photo_facts(tmp_path / "broken.jpg")
    assert photo_facts(tmp_path / "missing.jpg").summary() == ""


def test_image_pane_shows_the_capture_date_and_camera(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.image_pane import ImagePane
    from dcgui.store.paths import SessionPaths

    folder = tmp_path / "photos"
    (folder / "c").mkdir(parents=True)
    write_photo(folder / "c" / "a.jpg")
    pane = ImagePane()
    qtbot.addWidget(pane)
    pane.set_folder(SessionPaths(folder, tmp_path / "s.dcgui"))
    info = {"path": "c/a.jpg", "size": (folder / "c" / "a.jpg").stat().st_size, "width": 32, "height": 24,
            "label": None, "flag": None}
    pane.show_image(0, info, np.array([0], np.int32), 1, 0)
    qtbot.waitUntil(lambda: "Canon EOS 80D" in pane.size_label.text(), timeout=30_000)
    assert "taken 2021-07-03 14:22:05" in pane.size_label.text()
    assert pane.size_label.text().startswith("32 × 24 px")


def test_clusters_csv_carries_the_capture_date_and_camera(curation_session: Path, tmp_path: Path) -> None:
    import shutil

    from dcgui.services.curation import CLUSTER_COLUMNS, cluster_table
    from dcgui.store import SessionStore
    from tests.conftest import copy_session

    photos = tmp_path / "photos"
    shutil.copytree(curation_session.parent / "photos", photos)  # the fixture's photos stay untouched
    session = copy_session(curation_session, tmp_path)
    with SessionStore.open(session) as s:
        s.set_folder(photos)
        rel = next(p for p in s.image_paths() if p.endswith(".jpg"))
        write_photo(photos / rel, model="Canon EOS 5D")
        rows = cluster_table(s, 1, absolute=False)
        short = cluster_table(s, 1, absolute=False, columns=CLUSTER_COLUMNS[:2])
    by_path = {r[0]: r for r in rows}
    assert by_path[rel][-2:] == ["2021-07-03 14:22:05", "Canon EOS 5D"]
    assert sum(1 for r in rows if r[-1]) == 1  # the other files carry no EXIF
    assert all(len(r) == 2 for r in short)
