"""The `dcgui` command end to end: real images, real training (smallnet, 32 px, k=4, 2 epochs
on 32 images), real session files; every sub-command through ``main([...])``."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgui.cli import Progress, main
from dcgui.core.events import PhaseProgress
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

TRAIN = ["--epochs", "2", "--k", "4", "--arch", "smallnet", "--image-size", "32", "--batch-size", "16",
         "--device", "cpu", "--seed", "3", "--workers", "1"]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(photo folder, session) trained for 2 epochs; the folder also holds one broken file."""
    root = tmp_path_factory.mktemp("cli")
    folder = write_image_folder(root / "photos")
    (folder / "class_0" / "broken.png").write_bytes(b"")
    session = root / "photos.dcgui"
    assert main(["train", str(folder), "--session", str(session), *TRAIN]) == 0
    return folder, session


def clone(trained: tuple[Path, Path], dest: Path) -> tuple[Path, Path]:
    """A private copy of the trained session and its photos (for commands that change them)."""
    folder, session = trained
    shutil.copytree(folder, dest / "photos")
    shutil.copy2(session, dest / session.name)
    shutil.copytree(Path(str(session) + ".d"), dest / (session.name + ".d"))
    with SessionStore.open(dest / session.name) as s:
        s.set_folder(dest / "photos")
    return dest / "photos", dest / session.name


def test_train_creates_a_complete_session(trained: tuple[Path, Path]) -> None:
    folder, session = trained
    with SessionStore.open(session, readonly=True) as s:
        assert s.folder == folder
        assert s.last_epoch() == 2 and s.n_images == 32
        assert s.skipped()[0][0] == "class_0/broken.png"
        cfg = s.config
        assert (cfg.k, cfg.arch, cfg.image_size, cfg.batch_size, cfg.seed, cfg.epochs) == (4, "smallnet", 32, 16, 3, 2)
        assert [c[0] for c in s.checkpoints()] == [0, 1, 2]
        assert all(p.is_file() for _, p, _ in s.checkpoints())
        assert s.get_meta("config_pending") is False
        assert s.assignments(2).shape == (32,)
        assert s.integrity_check() == "ok"


def test_info_json_and_text(trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, session = trained
    rc, out, _ = run(capsys, "info", session, "--json")
    assert rc == 0
    info = json.loads(out)
    assert {"config", "images", "skipped", "epochs"} <= set(info)
    assert info["images"] == 32 and info["config"]["k"] == 4
    assert info["skipped"] == [{"path": "class_0/broken.png", "reason": info["skipped"][0]["reason"]}]
    assert info["skipped"][0]["reason"]
    assert [e["epoch"] for e in info["epochs"]] == [1, 2]
    for e in info["epochs"]:
        assert {"epoch", "nmi_prev", "nmi_labels", "loss", "empty_clusters", "seconds"} <= set(e)
    assert info["epochs"][0]["nmi_prev"] is None and 0 <= info["epochs"][1]["nmi_prev"] <= 1
    assert 0 <= info["epochs"][1]["nmi_labels"] <= 1  # the class sub-folders are labels
    rc, out, _ = run(capsys, "info", session)
    assert rc == 0
    assert "32 used, 1 skipped" in out and "class_0/broken.png:" in out
    assert out.count("\n      1 ") == 1 and "\n      2 " in out  # one table row per epoch


def test_clusters_csv(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, session = trained
    for epoch, args in ((2, []), (1, ["--epoch", "1"])):
        out = tmp_path / f"c{epoch}.csv"
        assert run(capsys, "clusters", session, "--csv", out, *args)[0] == 0
        rows = list(csv.reader(out.open()))
        assert rows[0] == ["path", "cluster"]
        with SessionStore.open(session, readonly=True) as s:
            assert [r[0] for r in rows[1:]] == s.image_paths()
            assert [int(r[1]) for r in rows[1:]] == s.assignments(epoch).tolist()
    rc, _, err = run(capsys, "clusters", session, "--epoch", "5", "--csv", tmp_path / "x.csv")
    assert rc == 2 and "epoch 5" in err and "is not trained" in err and "Traceback" not in err


def test_embed_matches_the_engine_view(trained: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.core.images.cache import ImageCache
    from dcgui.core.train.checkpoint import load_model
    from dcgui.core.train.features import iter_features

    folder, session = trained
    out = tmp_path / "f.npz"
    rc, _, err = run(capsys, "embed", session, folder, "--out", out, "--device", "cpu")
    assert rc == 0
    assert "skipped class_0/broken.png" in err
    data = np.load(out)
    assert data["features"].dtype == np.float32
    with SessionStore.open(session, readonly=True) as s:
        assert data["paths"].tolist() == s.image_paths()
        model, cfg = load_model(s.checkpoint_path(2))
        cache = ImageCache.open(s.cache_dir, cfg.cache_size)
    assert data["features"].shape == (32, model.rep_dim)
    # Same decode, crop and centre view as the engine's, before the projection head.
    gen = iter_features(model, cache.pixels, cfg.image_size, 16, "cpu", representation=True)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            expected = stop.value
            break
    np.testing.assert_allclose(data["features"], expected, atol=1e-4)
    # Epoch 0 (the random initialisation) gives different features.
    assert run(capsys, "embed", session, folder, "--out", tmp_path / "f0.npz", "--epoch", "0")[0] == 0
    assert not np.allclose(np.load(tmp_path / "f0.npz")["features"], data["features"])


def test_export_three_formats(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.core.output.export import load_backbone
    from dcgui.core.train.checkpoint import load_model
    from tests.cli.test_export import run_without_dcgui

    _, session2 = clone(trained, tmp_path)  # export records itself in the session
    with SessionStore.open(session2, readonly=True) as s:
        model, _ = load_model(s.checkpoint_path(2))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.represent(x).numpy()
    for fmt, name in (("state-dict", "b.pt"), ("torchscript", "b.ts"), ("onnx", "b.onnx")):
        rc, _, err = run(capsys, "export", session2, "--format", fmt, "--out", tmp_path / name)
        assert rc == 0, err
        meta = json.loads((tmp_path / (name + ".json")).read_text())
        assert meta["epoch"] == 2 and meta["arch"] == "smallnet" and meta["input_size"] == 32
        if fmt == "state-dict":
            with torch.no_grad():
                np.testing.assert_allclose(load_backbone(tmp_path / name)(x).numpy(), expected, atol=1e-5)
        else:
            got, _ = run_without_dcgui(fmt, tmp_path / name, x, tmp_path)
            np.testing.assert_allclose(got, expected, atol=1e-4)
    with SessionStore.open(session2, readonly=True) as s:
        assert [e["kind"] for e in s.exports()] == ["backbone-state-dict", "backbone-torchscript", "backbone-onnx"]
        for e, name in zip(s.exports(), ("b.pt", "b.ts", "b.onnx")):  # the file as written, for the report
            assert e["details"]["sha256"] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    rc, _, err = run(capsys, "export", session2, "--format", "onnx", "--out", tmp_path / "nope" / "b.onnx")
    assert rc == 2 and err.startswith("dcgui: error:") and "does not exist" in err


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_curate(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session) as s:
        assign = s.assignments(2)
        paths = s.image_paths()
        c0 = int(assign[0])
        s.set_cluster_name(c0, "Red/Discs?")
        s.set_image_flag([0], "exclude")
    photos_before = _tree(folder)

    # --dry-run: prints the plan, creates nothing, records nothing.
    out = tmp_path / "sorted"
    rc, stdout, err = run(capsys, "curate", session, "--out", out, "--dry-run")
    assert rc == 0 and not out.exists()
    lines = stdout.splitlines()
    assert len(lines) == 31 and all(line.startswith("copy ") for line in lines)
    assert "would copy 31 files" in err and "1 excluded" in err
    assert f"{folder / paths[0]} ->" not in stdout

    # --copy into a folder that already holds a file of the same name: nothing is replaced.
    (out / "Red_Discs_").mkdir(parents=True)
    first_in_c0 = paths[int(np.flatnonzero(assign == c0)[1])]
    name = first_in_c0.rsplit("/", 1)[-1]
    (out / "Red_Discs_" / name).write_bytes(b"the user's own file")
    rc, _, err = run(capsys, "curate", session, "--out", out, "--copy")
    assert rc == 0, err
    assert (out / "Red_Discs_" / name).read_bytes() == b"the user's own file"
    copied = [p for p in out.rglob("*") if p.is_file()]
    assert len(copied) == 31 + 1
    assert {p.parent.name for p in copied} <= {"Red_Discs_"} | {f"cluster_{c:04d}" for c in range(4)}
    assert (folder / paths[0]).read_bytes() not in [p.read_bytes() for p in copied]  # excluded image
    assert _tree(folder) == photos_before

    # --symlink, a subset of clusters.
    rc, _, _ = run(capsys, "curate", session, "--out", tmp_path / "links", "--symlink", "--clusters", str(c0))
    assert rc == 0
    links = list((tmp_path / "links").rglob("*"))
    assert links and all(p.is_symlink() for p in links if not p.is_dir())

    # --move into the photo folder is refused; outside it moves the files and deletes nothing else.
    rc, _, err = run(capsys, "curate", session, "--out", folder / "sorted", "--move")
    assert rc == 2 and "inside the photo folder" in err and not (folder / "sorted").exists()
    moved = tmp_path / "moved"
    rc, _, err = run(capsys, "curate", session, "--out", moved, "--move")
    assert rc == 0 and "no longer resumed" in err
    remaining = _tree(folder)
    assert set(remaining) == {paths[0], "class_0/broken.png"}  # the excluded image and the unusable file
    moved_files = _tree(moved)
    assert sorted(moved_files.values()) == sorted(v for k, v in photos_before.items() if k not in remaining)

    with SessionStore.open(session, readonly=True) as s:
        kinds = [(e["kind"], e["details"]["mode"], e["details"]["files"]) for e in s.exports()]
    assert kinds == [("curate", "copy", 31), ("curate", "symlink", len([p for p in links if not p.is_dir()])),
                     ("curate", "move", 31)]


def test_resume_and_fixed_settings(trained: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session, readonly=True) as s:
        before = s.epochs()
        a2 = s.assignments(2)
    rc, out, _ = run(capsys, "train", folder, "--session", session, "--epochs", "3", "--device", "cpu")
    assert rc == 0
    assert "epoch 3/3" in out and "epoch 1/" not in out  # resumed, not retrained
    with SessionStore.open(session, readonly=True) as s:
        assert s.last_epoch() == 3 and s.epochs()[:2] == before
        np.testing.assert_array_equal(s.assignments(2), a2)
        assert s.config.epochs == 3
    rc, out, _ = run(capsys, "train", folder, "--session", session, "--epochs", "3")
    assert rc == 0 and "already has 3 trained epochs" in out
    rc, _, err = run(capsys, "train", folder, "--session", session, "--epochs", "4", "--k", "8")
    assert rc == 2 and "--k 8 differs from the session's k=4" in err and "Traceback" not in err
    rc, _, err = run(capsys, "train", tmp_path, "--session", session)
    assert rc == 2 and f"belongs to the folder {folder}" in err


def test_ctrl_c_keeps_the_last_completed_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A real SIGINT while training: the run stops at the next batch, keeps its last epoch and
    prints the command that resumes it."""
    folder = write_image_folder(tmp_path / "photos", n_per_class=6)
    session = tmp_path / "s.dcgui"
    args = [*TRAIN]
    args[1] = "1000"  # far more epochs than the test waits for

    def interrupt_after_first_epoch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if session.exists():
                try:
                    conn = sqlite3.connect(f"file:{session}?mode=ro", uri=True)
                    done = conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
                    conn.close()
                except sqlite3.Error:
                    done = 0
                if done >= 1:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_after_first_epoch, daemon=True)
    watcher.start()
    rc, _, err = run(capsys, "train", folder, "--session", session, *args)
    watcher.join(5)
    assert rc == 130
    assert "stopping after the current batch" in err
    with SessionStore.open(session, readonly=True) as s:
        last = s.last_epoch()
        assert 1 <= last < 1000
        assert [m.epoch for m in s.epochs()] == list(range(1, last + 1))
        assert s.checkpoint_path(last).is_file()
        assert s.integrity_check() == "ok"
    assert f"epoch {last} is saved" in err
    assert f"dcgui train {folder} --session {session} --epochs 1000" in err


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "train", tmp_path / "missing", "--session", tmp_path / "s.dcgui")
    assert rc == 2 and err.strip().count("\n") == 0 and err.startswith("dcgui: error: the folder")
    assert not (tmp_path / "s.dcgui").exists()
    damaged = tmp_path / "bad.dcgui"
    damaged.write_bytes(b"\x00" * 4096)
    for cmd in (["info", damaged], ["clusters", damaged, "--csv", tmp_path / "c.csv"]):
        rc, _, err = run(capsys, *cmd)
        assert rc == 2 and "left untouched" in err and "Traceback" not in err
    assert damaged.read_bytes() == b"\x00" * 4096
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    rc, _, err = run(capsys, "train", empty, "--session", tmp_path / "e.dcgui", "--device", "cpu")
    assert rc == 2 and "dcgui: error:" in err and str(empty) in err
    assert not (tmp_path / "e.dcgui").exists() and not (tmp_path / "e.dcgui.d").exists()  # nothing half-made
    rc, _, err = run(capsys, "train", tmp_path, "--session", tmp_path / "x.dcgui", "--k", "1")
    assert rc == 2 and "k=1 is invalid" in err
    rc, _, err = run(capsys, "train")
    assert rc == 2 and "required" in err  # argparse's usage error


def test_too_large_k_can_be_fixed_by_rerunning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The config is decided after the scan; a k that does not fit removes the session the
    command had just created (keeping the decoded cache), and a corrected command succeeds."""
    folder = write_image_folder(tmp_path / "photos", n_per_class=2)
    session = tmp_path / "s.dcgui"
    base = [*TRAIN]
    base[1] = "1"
    base[3] = "50"
    rc, _, err = run(capsys, "train", folder, "--session", session, *base)
    assert rc == 2 and "k=50 is larger than the number of images (8)" in err
    assert not session.exists() and (tmp_path / "s.dcgui.d" / "cache").is_dir()  # the decoded cache is kept
    base[3] = "2"
    rc, _, err = run(capsys, "train", folder, "--session", session, *base)
    assert rc == 0, err
    with SessionStore.open(session, readonly=True) as s:
        assert s.config.k == 2 and s.last_epoch() == 1


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ([], ["train"], ["info"], ["clusters"], ["embed"], ["export"], ["curate"], ["gui"]):
        rc, out, _ = run(capsys, *cmd, "--help")
        assert rc == 0 and out.startswith("usage: dcgui")
    rc, out, _ = run(capsys, "train", "--help")
    for option in ("--session", "--epochs", "--k", "--arch", "--image-size", "--batch-size", "--device", "--seed",
                   "--workers", "--head", "--no-sobel", "Ctrl-C"):
        assert option in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.startswith("dcgui ")


def test_without_a_command_the_window_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def run_gui(argv: list[str] | None = None, demo: bool = False, session: str | None = None) -> int:
        calls.append((argv, demo, session))
        return 0

    fake = types.ModuleType("dcgui.gui.app")
    fake.run_gui = run_gui  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dcgui.gui.app", fake)
    assert main([]) == 0
    assert main(["--demo"]) == 0
    assert main(["--demo", "-style", "fusion"]) == 0
    assert main(["gui", "my.dcgui"]) == 0
    assert main(["gui", "--demo"]) == 0
    # Qt's options that take a value are never read as the session
    assert main(["gui", "-style", "fusion", "my.dcgui"]) == 0
    assert main(["-platform", "offscreen", "--demo", "-reverse"]) == 0
    # a session file alone, as a file manager passes it on a double-click (dcgui %f)
    assert main(["/home/me/photos.dcgui"]) == 0
    assert main(["-style", "fusion", "Photos.DCGUI"]) == 0
    assert calls == [([], False, None), ([], True, None), (["-style", "fusion"], True, None),
                     ([], False, "my.dcgui"), ([], True, None),
                     (["-style", "fusion"], False, "my.dcgui"), (["-platform", "offscreen", "-reverse"], True, None),
                     ([], False, "/home/me/photos.dcgui"), (["-style", "fusion"], False, "Photos.DCGUI")]


def test_a_word_that_is_neither_command_nor_session_is_an_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    calls: list[object] = []
    fake = types.ModuleType("dcgui.gui.app")
    fake.run_gui = lambda argv=None, demo=False, session=None: calls.append(session) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dcgui.gui.app", fake)
    rc, _, err = run(capsys, "tarin", "photos")
    assert rc == 2 and "invalid choice: 'tarin'" in err and not calls
    rc, _, err = run(capsys, "--demo", "photos.dcgui")
    assert rc == 2 and "not both" in err and not calls
    existing = tmp_path / "renamed-session"  # an existing file opens whatever its name
    existing.write_bytes(b"")
    assert main([str(existing)]) == 0 and calls == [str(existing)]


def test_install_and_uninstall_desktop(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    exe = tmp_path / "bin" / "dcgui"  # what the console script (or the bundle) is called
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(exe)])
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    entry = tmp_path / "data" / "applications" / "dcgui.desktop"
    rc, out, _ = run(capsys, "--install-desktop")
    assert rc == 0 and f"wrote {entry}" in out
    assert f"Exec={exe} %f" in entry.read_text()
    assert (tmp_path / "data" / "mime" / "packages" / "dcgui.xml").is_file()
    rc, out, _ = run(capsys, "--uninstall-desktop")
    assert rc == 0 and f"removed {entry}" in out and not entry.exists()
    rc, _, err = run(capsys, "--install-desktop", "--uninstall-desktop")
    assert rc == 2 and "not allowed" in err


def test_split_qt_options_and_main_py(monkeypatch: pytest.MonkeyPatch) -> None:
    from dcgui.qtargs import split_qt_options

    assert split_qt_options(["-style", "fusion", "s.dcgui", "--demo"]) == (["s.dcgui", "--demo"], ["-style", "fusion"])
    assert split_qt_options(["--platform=offscreen", "-reverse", "x"]) == (["x"], ["--platform=offscreen", "-reverse"])
    assert split_qt_options(["-style"]) == ([], ["-style"])  # a value missing: Qt reports it
    import main as main_py

    calls: list[tuple[object, ...]] = []
    fake = types.ModuleType("dcgui.gui.app")
    fake.run_gui = lambda argv=None, demo=False, session=None: calls.append((argv, demo, session)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dcgui.gui.app", fake)
    assert main_py.main(["-style", "fusion", "my.dcgui", "-widgetcount"]) == 0
    assert calls == [(["-style", "fusion", "-widgetcount"], False, "my.dcgui")]


def test_progress_bars_follow_phases() -> None:
    buf = io.StringIO()
    p = Progress(enabled=True, file=buf, mininterval=0)
    p.update(PhaseProgress("scan", 10, 0))
    for done in (0, 16, 32):
        p.update(PhaseProgress("training", done, 32, epoch=1, images_per_second=100.0), epochs=2)
    p.update(PhaseProgress("features", 32, 32, epoch=2), epochs=2, note="ETA about 5 s")
    p.close()
    text = buf.getvalue()
    assert "scanning files" in text and "epoch 1/2 training" in text and "32/32" in text
    assert "epoch 2/2 features" in text and "100 img/s" in text and "ETA about 5 s" in text


def test_session_stopped_before_its_config_was_decided(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A first `train` stopped while decoding leaves a session whose config is still provisional:
    the next command decides it from the collection (and the options given now)."""
    from dcgui.core.config import TrainConfig

    folder = write_image_folder(tmp_path / "photos", n_per_class=3)
    session = tmp_path / "s.dcgui"
    with SessionStore.create(session, folder, TrainConfig(k=500, image_size=32)) as s:
        s.set_meta("config_pending", True)
    args = [*TRAIN]
    args[1], args[3] = "1", "3"
    rc, _, err = run(capsys, "train", folder, "--session", session, *args)
    assert rc == 0, err
    with SessionStore.open(session, readonly=True) as s:
        assert s.config.k == 3 and s.get_meta("config_pending") is False and s.last_epoch() == 1
