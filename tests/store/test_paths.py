"""dcgui.store.paths on real folders: session rows become files only inside the image folder (no
``..``, no absolute path, no symbolic link leading out, never the session's own files), and no
output may replace the session file, its side files or anything in its data folder."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.config import TrainConfig
from dcgui.core.images.collection import ImageRecord
from dcgui.store import SessionStore
from dcgui.store.paths import SessionPaths, UnsafeOutput, UnsafeSessionPath, check_output

needs_symlinks = pytest.mark.skipif(os.name == "nt", reason="creating symlinks needs privileges on Windows")


def make_session(tmp_path: Path, rels: list[str]) -> SessionStore:
    folder = tmp_path / "photos"
    for rel in rels:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"pixels")
    store = SessionStore.create(tmp_path / "s.dcgui", folder, TrainConfig(k=2))
    store.set_images([ImageRecord(r, 6, 1) for r in rels], [])
    return store


def doctor(session: Path, rows: dict[int, str]) -> None:
    """What an attacker does to a session file: rewrite image rows with plain SQL."""
    with sqlite3.connect(session) as conn:
        for idx, path in rows.items():
            conn.execute("UPDATE images SET path = ? WHERE idx = ?", (path, idx))
    conn.close()


def test_plain_rows_resolve_inside(tmp_path: Path) -> None:
    store = make_session(tmp_path, ["a.png", "sub/b.png", "sub/deeper/c.png"])
    files = store.image_files()
    assert files == [store.folder / "a.png", store.folder / "sub/b.png", store.folder / "sub/deeper/c.png"]
    assert store.image_files([1]) == [store.folder / "sub/b.png"]
    assert store.image_files([2, 0]) == [files[2], files[0]]


@needs_symlinks
def test_doctored_rows_are_refused_naming_each_row(tmp_path: Path) -> None:
    store = make_session(tmp_path, ["a.png", "b.png", "c.png", "d.png", "e.png"])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a.txt").write_text("secret")
    (store.folder / "evil_dir").symlink_to(victim, target_is_directory=True)
    (store.folder / "evil.png").symlink_to(victim / "a.txt")
    store.close()
    doctor(tmp_path / "s.dcgui", {0: "../victim/a.txt", 1: str(victim / "a.txt"), 2: "evil.png",
                                   3: "evil_dir/a.txt"})
    with SessionStore.open(tmp_path / "s.dcgui", readonly=True) as s:
        with pytest.raises(UnsafeSessionPath) as err:
            s.image_files()
        text = str(err.value)
        assert "image 0 '../victim/a.txt': leads outside the folder with '..'" in text
        assert f"image 1 '{victim / 'a.txt'}': absolute path" in text
        assert f"image 2 'evil.png': it is a symbolic link to {os.path.realpath(victim / 'a.txt')}" in text
        assert f"image 3 'evil_dir/a.txt': its folder is a symbolic link to {os.path.realpath(victim)}" in text
        assert "image 4" not in text and "nothing was done" in text
        for i in range(4):  # one row at a time as well (the image pane, "open folder")
            with pytest.raises(UnsafeSessionPath, match=f"image {i} "):
                s.image_files([i])
        assert s.image_files([4]) == [s.folder / "e.png"]
    assert (victim / "a.txt").read_text() == "secret"


def test_rows_naming_the_session_itself_are_refused(tmp_path: Path) -> None:
    # The session file lives inside its own photo folder: a row may still never name it.
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    paths = SessionPaths(folder, folder / "s.dcgui")
    for rel in ("s.dcgui", "s.dcgui-wal", "s.dcgui.d/checkpoints/epoch_0001.pt", "s.dcgui.d"):
        assert paths.problem(rel) == "it names the session's own file or data folder", rel
    assert paths.problem("a.png") is None
    assert paths.problem("") == "empty path"
    assert paths.problem("a/../../x.png") == "leads outside the folder with '..'"


def test_checkpoint_rows_stay_in_the_data_folder(tmp_path: Path) -> None:
    store = make_session(tmp_path, ["a.png"])
    victim = tmp_path / "victim.pt"
    victim.write_bytes(b"not yours")
    store.record_checkpoint(1, store.checkpoint_dir / "epoch_0001.pt", "00")
    assert store.checkpoint_path(1) == store.checkpoint_dir / "epoch_0001.pt"
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE checkpoints SET file = '../victim.pt' WHERE epoch = 1")
    conn.close()
    with pytest.raises(UnsafeSessionPath, match=r"checkpoint of epoch 1 as '\.\./victim\.pt', outside its data folder"):
        store.checkpoint_path(1)
    with pytest.raises(UnsafeSessionPath):
        store.checkpoints()


@needs_symlinks
def test_check_output_refuses_every_way_onto_the_session(tmp_path: Path) -> None:
    store = make_session(tmp_path, ["a.png"])
    session = store.path
    (store.checkpoint_dir / "epoch_0001.pt").write_bytes(b"weights")
    (tmp_path / "link.dcgui").symlink_to(session)
    refused = {
        session: "that is the session file s.dcgui",
        Path(f"{session}-wal"): "that is the write-ahead log of s.dcgui",
        Path(f"{session}-shm"): "that is the shared-memory file of s.dcgui",
        tmp_path / "link.dcgui": "that is the session file s.dcgui",
        tmp_path / "sub" / ".." / "s.dcgui": "that is the session file s.dcgui",
        store.data_dir: "that is inside s.dcgui.d, the data folder of s.dcgui",
        store.checkpoint_dir / "epoch_0001.pt": "that is inside s.dcgui.d",
        store.cache_dir / "new.csv": "that is inside s.dcgui.d",
    }
    for out, text in refused.items():
        with pytest.raises(UnsafeOutput, match="writing there would destroy the session") as err:
            check_output(out, session, "CSV file")
        assert text in str(err.value), out
    fine = tmp_path / "clusters.csv"
    assert check_output(fine, session) == fine
    assert check_output(tmp_path / "s.dcgui.json", session) == tmp_path / "s.dcgui.json"
    assert check_output(tmp_path, session) == tmp_path  # the folder holding the session is fine


def test_checking_many_rows_is_cheap(tmp_path: Path) -> None:
    """The check costs about one lstat per row (folders are resolved once)."""
    import time

    folder = tmp_path / "photos"
    rels = [f"d{i % 20}/img_{i:05d}.png" for i in range(20_000)]
    for d in {r.split("/")[0] for r in rels}:
        (folder / d).mkdir(parents=True)
    paths = SessionPaths(folder, tmp_path / "s.dcgui")
    start = time.perf_counter()
    files = paths.images(rels, np.arange(len(rels)).tolist())
    assert len(files) == 20_000
    assert time.perf_counter() - start < 10  # about 0.1 s on a laptop; generous for loaded CI
