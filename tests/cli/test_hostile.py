"""Hostile sessions and faults through the `dcgui` command (issue 12): a doctored session cannot
make dcgui touch files outside its folder, no output replaces the session, one trainer per
session, bad settings are refused before anything is written, settings survive a Ctrl-C during
the first scan, and any cluster name gives its own folder. Real images, real training, real files."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcgui.cli import Progress, main
from dcgui.core.events import PhaseProgress
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--k", "4", "--arch", "smallnet", "--image-size", "32", "--batch-size", "16", "--device", "cpu",
         "--seed", "3", "--workers", "1", "--no-progress"]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    folder = write_image_folder(root / "photos", n_per_class=6)
    session = root / "photos.dcgui"
    assert main(["train", str(folder), "--session", str(session), "--epochs", "1", *TRAIN]) == 0
    return folder, session


def clone(trained: tuple[Path, Path], dest: Path) -> tuple[Path, Path]:
    folder, session = trained
    shutil.copytree(folder, dest / "photos")
    shutil.copy2(session, dest / session.name)
    shutil.copytree(Path(f"{session}.d"), dest / f"{session.name}.d")
    with SessionStore.open(dest / session.name) as s:
        s.set_folder(dest / "photos")
    return dest / "photos", dest / session.name


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------
# 1. a doctored session cannot reach files outside its folder
# ------------------------------------------------------------------------------------------
def test_doctored_rows_make_curate_refuse_and_touch_nothing(trained: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "a.txt").write_text("victim's file a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.txt").write_text("victim's file b")
    with sqlite3.connect(session) as conn:  # what an attacker does before handing the file over
        conn.execute("UPDATE images SET path = '../victim/a.txt' WHERE idx = 0")
        conn.execute("UPDATE images SET path = ? WHERE idx = 1", (str(elsewhere / "b.txt"),))
    conn.close()
    photos = tree(folder)
    out = tmp_path / "OUT"
    for extra in ([], ["--dry-run"]):
        rc, stdout, err = run(capsys, "curate", session, "--epoch", "1", "--out", out, "--move", *extra)
        assert rc == 2, err
        assert "image 0 '../victim/a.txt': leads outside the folder with '..'" in err
        assert f"image 1 '{elsewhere / 'b.txt'}': absolute path" in err
        assert "nothing was done" in err and "Traceback" not in err and stdout == ""
    assert (victim / "a.txt").read_text() == "victim's file a"
    assert (elsewhere / "b.txt").read_text() == "victim's file b"
    assert tree(folder) == photos  # not one photo moved either
    assert not out.exists()


@pytest.mark.skipif(os.name == "nt", reason="creating symlinks needs privileges on Windows")
def test_symlink_escape_is_refused(trained: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not a photo of this collection")
    with SessionStore.open(session, readonly=True) as s:
        first = s.image_paths()[0]
    (folder / first).unlink()
    (folder / first).symlink_to(secret)  # the row is unchanged; the file became a link out
    rc, _, err = run(capsys, "curate", session, "--out", tmp_path / "OUT", "--copy")
    assert rc == 2 and f"image 0 '{first}': it is a symbolic link to {secret}" in err
    assert not (tmp_path / "OUT").exists() and secret.read_bytes() == b"not a photo of this collection"


# ------------------------------------------------------------------------------------------
# 3. outputs never replace the session
# ------------------------------------------------------------------------------------------
def test_outputs_onto_the_session_are_refused(trained: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    data = Path(f"{session}.d")
    checkpoint = data / "checkpoints" / "epoch_0001.pt"
    before = {p: digest(p) for p in (session, checkpoint)}
    cases = [
        (["export", session, "--format", "state-dict", "--out", session], "that is the session file photos.dcgui"),
        (["clusters", session, "--csv", session], "that is the session file photos.dcgui"),
        (["clusters", session, "--csv", f"{session}-wal"], "that is the write-ahead log of photos.dcgui"),
        (["embed", session, folder, "--out", checkpoint, "--device", "cpu"],
         "that is inside photos.dcgui.d, the data folder of photos.dcgui"),
        (["curate", session, "--out", data, "--copy"], "that is inside photos.dcgui.d"),
        (["export", session, "--format", "onnx", "--out", tmp_path / "x" / ".." / session.name],
         "that is the session file"),
    ]
    for argv, text in cases:
        rc, _, err = run(capsys, *argv)
        assert rc == 2, (argv, err)
        assert text in err and "writing there would destroy the session; choose another path" in err, err
    assert {p: digest(p) for p in before} == before
    with SessionStore.open(session, readonly=True) as s:
        assert s.integrity_check() == "ok" and s.last_epoch() == 1
    # A cluster named like the data folder, curated next to the session: refused, not merged into it.
    with SessionStore.open(session) as s:
        s.set_cluster_name(int(s.assignments(1)[0]), "photos.dcgui.d")
    before = {p: digest(p) for p in before}
    rc, _, err = run(capsys, "curate", session, "--out", tmp_path, "--copy")
    assert rc == 2 and "the cluster folder" in err and "inside photos.dcgui.d" in err
    assert {p: digest(p) for p in before} == before


# ------------------------------------------------------------------------------------------
# 4. one trainer per session
# ------------------------------------------------------------------------------------------
def _train_process(folder: Path, session: Path, epochs: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "dcgui", "train", str(folder), "--session", str(session),
                             "--epochs", str(epochs), *TRAIN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_two_trainers_one_session(trained: tuple[Path, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)

    def epochs() -> int:
        conn = sqlite3.connect(f"file:{session}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0])
        finally:
            conn.close()

    first = _train_process(folder, session, 1000)
    try:
        deadline = time.monotonic() + 300
        while epochs() < 2:  # the first trainer is surely at work: it has written an epoch
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first trainer never finished an epoch"
            time.sleep(0.2)
        second = _train_process(folder, session, 1000)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert f"is being trained by pid {first.pid} on host" in err
        assert f"(dcgui train {folder} --session {session} --epochs 1000" in err  # the other command
        assert "scanning" not in err and "epoch 2/" not in err  # refused before doing anything
        first.send_signal(signal.SIGKILL)  # a holder killed without any cleanup
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    with SessionStore.open(session, readonly=True) as s:
        done = s.last_epoch()
    rc, _, err = run(capsys, "train", folder, "--session", session, "--epochs", done + 1, *TRAIN)
    assert rc == 0, err  # the stale lock file does not block
    with SessionStore.open(session, readonly=True) as s:
        assert s.last_epoch() == done + 1


# ------------------------------------------------------------------------------------------
# 6. invalid settings are refused before anything is written
# ------------------------------------------------------------------------------------------
def test_negative_seed_is_refused_before_anything_is_written(trained: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = trained
    new = tmp_path / "new.dcgui"
    rc, _, err = run(capsys, "train", folder, "--session", new, "--epochs", "1", *TRAIN, "--seed", "-1")
    assert rc == 2 and "seed=-1 is invalid: use a whole number from 0 to 2147483647" in err
    assert not new.exists() and not Path(f"{new}.d").exists()
    folder, session = clone(trained, tmp_path / "c")
    before = digest(session)
    rc, _, err = run(capsys, "train", folder, "--session", session, "--epochs", "2", *TRAIN, "--seed", "-1")
    assert rc == 2 and "seed=-1 is invalid" in err
    with SessionStore.open(session, readonly=True) as s:
        assert s.config.seed == 3 and s.last_epoch() == 1
    assert digest(session) == before


# ------------------------------------------------------------------------------------------
# 7. Ctrl-C during the first decode keeps the user's settings
# ------------------------------------------------------------------------------------------
def test_ctrl_c_while_decoding_keeps_the_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_image_folder(tmp_path / "photos", n_per_class=5)
    session = tmp_path / "s.dcgui"
    update = Progress.update
    sent: list[PhaseProgress] = []

    def ctrl_c_while_decoding(self: Progress, ev: PhaseProgress, epochs: int | None = None) -> None:
        if ev.phase == "cache" and not sent:  # a real SIGINT, at a moment the test can rely on
            sent.append(ev)
            os.kill(os.getpid(), signal.SIGINT)
        update(self, ev, epochs)

    monkeypatch.setattr(Progress, "update", ctrl_c_while_decoding)
    settings = ["--k", "5", "--image-size", "40", "--batch-size", "8", "--seed", "7", "--device", "cpu",
                "--workers", "1", "--no-progress"]
    rc, _, err = run(capsys, "train", folder, "--session", session, "--epochs", "1", *settings)
    assert sent and rc == 130, err
    assert "Resume with:" in err
    resume = shlex.split(err.split("Resume with:")[1].strip().splitlines()[0])
    assert resume[:5] == ["dcgui", "train", str(folder), "--session", str(session)]
    monkeypatch.setattr(Progress, "update", update)
    rc, _, err = run(capsys, *resume[1:])  # exactly the printed command
    assert rc == 0, err
    with SessionStore.open(session, readonly=True) as s:
        cfg = s.config
        assert (cfg.k, cfg.image_size, cfg.batch_size, cfg.seed) == (5, 40, 8, 7)
        assert s.last_epoch() == 1 and s.get_meta("config_pending") is False


# ------------------------------------------------------------------------------------------
# 12. every cluster name gets its own folder
# ------------------------------------------------------------------------------------------
def test_long_and_colliding_cluster_names(trained: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session) as s:
        sizes = s.cluster_sizes(1)
        c0, c1, c2 = [int(c) for c in (sizes > 0).nonzero()[0][:3]]
        s.set_cluster_name(c0, "😀" * 100)  # 400 bytes in UTF-8
        s.set_cluster_name(c1, "a/b")
        s.set_cluster_name(c2, "a_b")
        assign = s.assignments(1)
        files = [folder / p for p in s.image_paths()]
    out = tmp_path / "OUT"
    rc, _, err = run(capsys, "curate", session, "--out", out, "--copy")
    assert rc == 0, err
    emoji = "😀" * 50
    expected = {c0: emoji, c1: f"a_b (cluster {c1})", c2: "a_b"}
    for c, name in expected.items():
        got = sorted(p.read_bytes() for p in (out / name).iterdir())
        assert got == sorted(f.read_bytes() for f, a in zip(files, assign) if a == c), c
    assert len(emoji.encode()) == 200
    assert sum(1 for p in out.rglob("*") if p.is_file()) == len(files)


# ==========================================================================================
# Issue 20: the second hostile round
# ==========================================================================================
def copy_project(trained: tuple[Path, Path], dest: Path) -> tuple[Path, Path]:
    """What a user does for a backup: copy the folder holding photos/ and the session, as is."""
    folder, session = trained
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, dest / folder.name)
    shutil.copy2(session, dest / session.name)
    shutil.copytree(Path(f"{session}.d"), dest / f"{session.name}.d")
    return dest / folder.name, dest / session.name


# 1. a copied project works on its own photos, never on the original's
def test_a_copied_project_moves_its_own_photos(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    original = tree(trained[0])
    folder, session = copy_project(trained, tmp_path / "copy")
    rc, out, err = run(capsys, "info", session)
    assert rc == 0
    note = (f"dcgui: note: photos.dcgui uses the photo folder {folder} (beside the session file), "
            f"not the recorded {trained[0]}")
    assert note in err
    assert f"folder    {folder}  (recorded: {trained[0]})" in out
    rc, out, err = run(capsys, "curate", session, "--out", tmp_path / "sorted", "--move", "--no-progress")
    assert rc == 0, err
    assert note in err
    assert tree(trained[0]) == original  # the original photos are all where they were
    assert not any(p.is_file() for p in folder.rglob("*"))  # the copy's photos were moved
    assert len([p for p in (tmp_path / "sorted").rglob("*") if p.is_file()]) == len(original)


def test_relink_checks_the_files_then_repoints(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, session = copy_project(trained, tmp_path / "a")
    shutil.rmtree(tmp_path / "a" / "photos")  # the session alone: it falls back on the recorded folder
    moved = tmp_path / "disk2" / "pictures"
    shutil.copytree(trained[0], moved)
    wrong = tmp_path / "wrong"
    shutil.copytree(trained[0], wrong)
    victims = sorted(p for p in wrong.rglob("*") if p.is_file())
    victims[0].unlink()
    victims[-1].write_bytes(victims[-1].read_bytes() + b"x")
    before = session.read_bytes()
    rc, out, err = run(capsys, "relink", session, wrong)
    assert rc == 2
    first, last = (v.relative_to(wrong).as_posix() for v in (victims[0], victims[-1]))
    size = victims[-1].stat().st_size
    assert (f"dcgui: error: {wrong} does not hold the photos of photos.dcgui: 2 of {len(victims)} checked files "
            f"differ: {first}: missing; {last}: {size} bytes instead of {size - 1}. Give the folder that holds "
            "the same files; nothing was changed") in err
    assert session.read_bytes() == before
    rc, out, err = run(capsys, "relink", session, moved)
    assert rc == 0, err
    assert out.startswith(f"photos.dcgui now uses the photo folder {moved} (was {trained[0]}); "
                          f"{len(victims)} of {len(victims)} files checked")
    with SessionStore.open(session, readonly=True) as s:
        assert s.folder == moved and s.recorded_folder == moved
    rc, out, err = run(capsys, "info", session)
    assert "note:" not in err and f"folder    {moved}\n" in out


def test_a_missing_folder_says_how_to_relink(trained: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    shutil.rmtree(folder)
    _rc, _out, err = run(capsys, "info", session)
    assert (f"dcgui: note: the photo folder {folder} of photos.dcgui does not exist: if the photos moved, "
            f"run `dcgui relink {session} NEWFOLDER`") in err


# 9. terminal escapes in names are shown escaped wherever a name reaches the terminal
EVIL = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J"  # OSC 52 (write the clipboard), then clear the screen
EVIL_SHOWN = "\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J"


def test_escape_sequences_in_names_are_shown_escaped(trained: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session, readonly=True) as s:
        first = s.image_paths()[0]
    evil = f"{Path(first).parent.as_posix()}/{EVIL}.png"
    (folder / first).rename(folder / evil)
    with sqlite3.connect(session) as conn:
        conn.execute("UPDATE images SET path = ? WHERE path = ?", (evil, first))
    conn.close()
    rc, out, err = run(capsys, "curate", session, "--out", tmp_path / "out", "--dry-run")
    assert rc == 0, err
    assert EVIL_SHOWN in out and "\x1b" not in out + err
    rc, out, err = run(capsys, "merge", session, "0", "1", "--name", f"pets{EVIL}")
    assert rc == 0, err
    assert f"pets{EVIL_SHOWN}" in out and "\x1b" not in out + err
    for command in ("edits", "undo", "redo"):
        rc, out, err = run(capsys, command, session)
        assert rc == 0 and f"pets{EVIL_SHOWN}" in out and "\x1b" not in out + err, (command, out, err)
    rc, out, err = run(capsys, "curate", session, "--out", tmp_path / "out", "--clusters", f"3{EVIL}")
    assert rc == 2 and EVIL_SHOWN in err and "\x1b" not in out + err, err


# 17. a bug is a crash report (traceback + log), a user error one line
def test_a_bug_is_a_crash_report_with_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, image_folder: Path) -> None:
    from dcgui.cli import info
    from dcgui.core.config import TrainConfig

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    session = tmp_path / "s.dcgui"
    SessionStore.create(session, image_folder, TrainConfig()).close()

    def bug(store: object, *args: object) -> None:
        raise ValueError("an internal slip")  # a ValueError is no longer taken for the user's fault

    monkeypatch.setattr(info, "info_dict", bug)
    rc, _out, err = run(capsys, "info", session)
    assert rc == 1
    logs = list((tmp_path / "state").rglob("crash-*.log"))
    assert len(logs) == 1
    assert "Traceback (most recent call last)" in err and 'raise ValueError("an internal slip")' in err
    assert err.rstrip().endswith(
        "dcgui: internal error (a bug in dcgui, not something you did): ValueError: an internal slip. "
        f"The report is in {logs[0]}; please send it with the issue. Files written before the error are kept")
    text = logs[0].read_text()
    assert f"command: dcgui info {session}" in text and "ValueError: an internal slip" in text
    monkeypatch.undo()
    rc, _out, err = run(capsys, "train", image_folder, "--session", tmp_path / "t.dcgui", "--k", "1")
    assert rc == 2 and err.startswith("dcgui: error: k=1 is invalid") and "Traceback" not in err


# 3, 4, 11, 12. nothing stale is shown as true; a refused command changes nothing
def prepared(root: Path, folder: Path) -> Path:
    """A session whose images are scanned and decoded (no epoch): enough for `duplicates`."""
    from dcgui.core.config import TrainConfig
    from dcgui.core.control import drain
    from dcgui.services.training import iter_prepare

    session = root / "photos.dcgui"
    with SessionStore.create(session, folder, TrainConfig(image_size=32, arch="smallnet", workers=1)) as s:
        drain(iter_prepare(s))
    return session


def distinct_photos(folder: Path, n: int = 8) -> Path:
    """``n`` pictures that are nothing alike (smooth random fields: no two are near-duplicates)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    for k in range(n):
        d = folder / f"class_{k % 2}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(small).resize((64, 48), Image.Resampling.BICUBIC).save(d / f"img_{k:03d}.png")
    return folder


def later(path: Path, seconds: int = 5) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


def test_a_replaced_copy_is_judged_as_it_is_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = distinct_photos(tmp_path / "photos")
    original, copy = folder / "class_0" / "img_000.png", folder / "class_0" / "zz_copy.png"
    shutil.copy2(original, copy)
    session = prepared(tmp_path, folder)
    rc, out, err = run(capsys, "duplicates", session, "--csv", tmp_path / "before.csv")
    assert rc == 0 and out.startswith("1 group, 2 images"), (out, err)
    # the user replaces the copy by another picture under the same name
    copy.write_bytes((folder / "class_1" / "img_001.png").read_bytes())
    later(copy)
    rc, out, err = run(capsys, "duplicates", session, "--csv", tmp_path / "after.csv", "--flag", "--yes")
    assert rc == 0, err
    assert ("warning: 1 file(s) changed on disk since the image cache was built and were read again: "
            "class_0/zz_copy.png (`dcgui train` brings the cache up to date)") in err
    # judged by its pixels now: a copy of class_1/img_001.png, and the original is in no group
    assert out.startswith("1 group, 2 images"), out
    rows = (tmp_path / "after.csv").read_text().splitlines()[1:]
    assert {r.split(",")[1] for r in rows} == {"class_0/zz_copy.png", "class_1/img_001.png"}
    with SessionStore.open(session, readonly=True) as s:
        flagged = {s.image_paths()[i] for i in s.image_flags()}
    assert "class_0/img_000.png" not in flagged  # the only copy left is never flagged
    # the original is deleted: it is in no group and the note names it
    copy.write_bytes(original.read_bytes())
    later(copy, 10)
    original.unlink()
    rc, out, err = run(capsys, "duplicates", session, "--csv", tmp_path / "gone.csv", "--flag", "--yes")
    assert rc == 0, err
    assert "1 file(s) are missing or unreadable and are left out: class_0/img_000.png" in err
    assert out.startswith("0 groups")


def test_similar_ranks_a_replaced_file_by_its_new_pixels(trained: tuple[Path, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session, readonly=True) as s:
        paths = s.image_paths()
    replaced = next(p for p in paths if p.startswith("class_0/"))
    model = next(p for p in paths if p.startswith("class_3/"))
    rc, out, _ = run(capsys, "similar", session, folder / replaced, "-n", "3")
    assert rc == 0 and f"  {folder / model}\n" not in out.splitlines()[2] + "\n"
    (folder / replaced).write_bytes((folder / model).read_bytes())
    later(folder / replaced)
    rc, out, err = run(capsys, "similar", session, folder / replaced, "-n", "3")
    assert rc == 0, err
    first = out.splitlines()[2].split()
    assert first[0] == "1" and first[2] == str(folder / model) and float(first[1]) > 0.99, out
    assert f"read again: {replaced}" in err


def test_a_refused_resume_changes_nothing_and_exploring_goes_on(trained: tuple[Path, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    cache = Path(f"{session}.d") / "cache"
    before = tree(cache)
    shutil.copy(folder / "class_1" / "img_000.png", folder / "class_1" / "new_photo.png")
    gone = folder / "class_2" / "img_003.png"
    gone.unlink()
    rc, out, err = run(capsys, "train", folder, "--session", session, "--epochs", "2", *TRAIN)
    assert rc == 2
    assert err.startswith(f"dcgui: error: the images in {folder} changed since epoch 1 of photos.dcgui was "
                          "trained (1 added, 1 removed or now unreadable, e.g. class_1/new_photo.png): restore "
                          "the folder, or start a new session for the changed folder. Nothing was changed: "
                          "the trained epochs can still be explored"), err
    assert tree(cache) == before  # the decoded cache was not rebuilt for the refused list
    rc, out, err = run(capsys, "outliers", session, "-n", "100")
    assert rc == 0, err
    assert "1 file(s) are missing or unreadable and are left out: class_2/img_003.png" in err
    assert "class_2/img_003.png" not in out
    rc, out, err = run(capsys, "similar", session, folder / "class_1" / "img_000.png", "-n", "100")
    assert rc == 0 and "class_2/img_003.png" not in out, err


def test_non_utf8_names_and_truncated_caches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.core.analysis.duplicates import Signatures
    from dcgui.services.explore import explore_dir

    folder = distinct_photos(tmp_path / "photos")
    latin1 = os.fsdecode(b"caf\xe9.png")  # a name from an old camera: not valid UTF-8
    shutil.copy(folder / "class_0" / "img_000.png", folder / "class_0" / latin1)
    session = prepared(tmp_path, folder)
    rc, out, err = run(capsys, "duplicates", session, "--csv", tmp_path / "d.csv")
    assert rc == 0 and out.startswith("1 group, 2 images"), (out, err)
    with SessionStore.open(session, readonly=True) as s:
        (sig,) = explore_dir(s).glob("neardup_signatures_*.npz")
    sig.write_bytes(sig.read_bytes()[: sig.stat().st_size // 2])  # a crash mid-write of another version
    rc, out, err = run(capsys, "duplicates", session, "--csv", tmp_path / "d2.csv")
    assert rc == 0 and out.startswith("1 group, 2 images"), (out, err)
    loaded = Signatures.load(sig, sig.stem.split("_")[-1])
    assert loaded is not None and len(loaded) == 9  # computed again and stored whole
    # two writers (the window and a command) never share one temporary name
    target = tmp_path / "sig.npz"
    Path(f"{target}.tmp").mkdir()  # what a fixed temporary name would collide with
    loaded.save(target, "k")
    assert Signatures.load(target, "k") is not None


# 10. the smaller ones
def test_a_damaged_edit_row_gives_the_damage_message(trained: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, session = clone(trained, tmp_path)
    assert run(capsys, "merge", session, "0", "1", "--name", "pets")[0] == 0
    with sqlite3.connect(session) as conn:
        conn.execute("UPDATE edits SET changes = X'00112233'")
    conn.close()
    before = tree(tmp_path)
    rc, _out, err = run(capsys, "undo", session)
    assert rc == 2 and "Traceback" not in err
    assert err.startswith(
        "dcgui: error: edit 1 of the edit log is damaged (Error -3 while decompressing data: incorrect header "
        f"check) in {session}: nothing was undone. The other edits and every epoch are intact; restore "
        "photos.dcgui from a backup, or start a new session on the same folder"), err
    assert tree(tmp_path) == before


def test_small_refusals_say_what_to_do(trained: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.core.errors import DcguiError
    from dcgui.core.images.cache import ImageCache

    _, session = clone(trained, tmp_path)
    rc, out, err = run(capsys, "outliers", session, "-n", "-1")
    assert rc == 2 and "argument -n: must be at least 1 (got -1)" in err and out == ""
    rc, out, err = run(capsys, "similar", session, tmp_path / "x.jpg", "-n", "abc")
    assert rc == 2 and "argument -n: must be a whole number, at least 1 (got 'abc')" in err
    with pytest.raises(DcguiError) as info:
        ImageCache.open(tmp_path / "empty", 32)
    assert "dcgui prepare" not in str(info.value)
    assert "run `dcgui train FOLDER --session SESSION` on it" in str(info.value)


def test_a_fifo_as_session_is_refused_at_once(tmp_path: Path, image_folder: Path) -> None:
    fifo = tmp_path / "s.dcgui"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "dcgui", "train", str(image_folder), "--session", str(fifo)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.startswith(f"dcgui: error: {fifo} is not a regular file (a pipe or a device), not a "
                                  "session file: choose the .dcgui file"), done.stderr


def test_a_session_through_a_symlink_uses_the_real_files(trained: tuple[Path, Path], tmp_path: Path) -> None:
    _, session = clone(trained, tmp_path / "real")
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "mine.dcgui"
    link.symlink_to(session)
    with SessionStore.open(link, readonly=True) as s:
        assert s.path == session and s.cache_dir == Path(f"{session}.d") / "cache"
        assert s.checkpoint_path(1).is_file()


def test_pillow_remarks_do_not_reach_stderr(tmp_path: Path) -> None:
    from PIL import Image

    bad = tmp_path / "bad_exif.jpg"
    exif = (b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x02\x00\x0f\x01\x02\x00\xff\x00\x00\x00\x99\x99\x00\x00"
            b"\x10\x01\x02\x00\x50\x00\x00\x00\x88\x88\x00\x00")
    Image.new("RGB", (64, 48), (10, 20, 30)).save(bad, exif=exif)
    code = ("import sys; from pathlib import Path; from dcgui.core.images import imageio; "
            "print(imageio.load_rgb(Path(sys.argv[1]), max_side=64).size)")
    done = subprocess.run([sys.executable, "-W", "default", "-c", code, str(bad)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.strip() == "(64, 48)"
    assert done.stderr == ""


def test_nothing_to_train_is_said_before_torch_loads(trained: tuple[Path, Path], tmp_path: Path) -> None:
    folder, session = clone(trained, tmp_path)
    code = ("import sys; from dcgui.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'torch' in sys.modules)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "train", str(folder), "--session", str(session), "--epochs", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.splitlines() == [
        f"{session} already has 1 trained epochs (target 1); train more with --epochs 11", "0 False"], done
    assert time.perf_counter() - t0 < 60


# 6. curating into the photo folder is refused, after names are made into folders
def test_a_cluster_named_like_the_photo_folder_cannot_curate_into_it(trained: tuple[Path, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder, session = clone(trained, tmp_path)
    with SessionStore.open(session) as s:
        cluster = int(s.assignments(1)[0])
        s.set_cluster_name(cluster, "photos")
    before = tree(folder)
    for mode in (["--copy"], ["--move", "--dry-run"], ["--symlink"]):
        rc, out, err = run(capsys, "curate", session, "--out", tmp_path, *mode)
        assert rc == 2 and out == "", (mode, out, err)
        assert err == (f"dcgui: error: {folder} is inside the photo folder {folder}: curating into the collection "
                       "the files come from is refused (copies would be found by the next scan, moves would "
                       "shuffle it); choose an output folder outside it, or rename the cluster\n")
    rc, out, err = run(capsys, "curate", session, "--out", folder / "sorted", "--copy")
    assert rc == 2 and f"{folder / 'sorted'} is inside the photo folder {folder}" in err
    assert tree(folder) == before


# 2. outputs to special files: written into, never replaced; no sidecar beside them
def read_fifo(path: Path) -> tuple[object, list[bytes]]:
    import threading

    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return t, got


def test_outputs_into_a_fifo_and_through_links(trained: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import stat

    folder, session = clone(trained, tmp_path)
    fifo = tmp_path / "pipe"
    commands = {
        "clusters": ["clusters", session, "--csv", fifo],
        "duplicates": ["duplicates", session, "--csv", fifo],
        "map": ["map", session, "--csv", fifo],
        "export": ["export", session, "--format", "state-dict", "--out", fifo],
        "embed": ["embed", session, folder / "class_0", "--out", fifo],
    }
    for name, argv in commands.items():
        os.mkfifo(fifo)
        thread, got = read_fifo(fifo)
        rc, _out, err = run(capsys, *argv)
        thread.join(60)  # type: ignore[attr-defined]
        assert rc == 0, (name, err)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode), name  # still the FIFO, not a regular file
        assert got and got[0], name
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pipe")) == ["pipe"], name
        if name == "export":
            assert "(no " in err and "pipe.json beside it: the preprocessing is inside the file)" in err
        fifo.unlink()
    # a link to a regular file: the file is replaced, the link stays a link
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert run(capsys, "clusters", session, "--csv", link)[0] == 0
    assert link.is_symlink() and real.read_text().startswith("path,cluster\n")
    # our own descriptor (/dev/stdout is a link to /proc/self/fd/1): written into, in append mode
    redirected = tmp_path / "stdout.txt"
    with open(redirected, "w") as fh:
        fh.write("earlier output\n")
        fh.flush()
        rc, _out, err = run(capsys, "clusters", session, "--csv", f"/proc/self/fd/{fh.fileno()}")
    assert rc == 0, err
    text = redirected.read_text()
    assert text.startswith("earlier output\npath,cluster\n") and len(text.splitlines()) == 1 + 1 + 24


# 5. CSVs are spreadsheet-safe and one row per record
def test_csv_cells_are_inert_and_rows_whole(trained: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    folder, session = clone(trained, tmp_path)
    rc, _, err = run(capsys, "map", session, "--csv", tmp_path / "map.csv")
    assert rc == 0, err
    with open(tmp_path / "map.csv", newline="", encoding="utf-8") as fh:
        mrows = list(csv.DictReader(fh))
    assert len(mrows) == 24 and all(not r[c].startswith("'") for r in mrows for c in ("x", "y"))
    assert all(float(r["x"]) == float(r["x"]) for r in mrows)  # numbers, written as numbers
    with SessionStore.open(session) as s:
        paths = s.image_paths()
        s.set_cluster_name(int(s.assignments(1)[0]), "=cmd|' /C calc'!A0")
    renames = {paths[0]: "-beach.png", paths[1]: "@SUM(1).png", paths[2]: "class_0/a\rb\nc.png"}
    for old, new in renames.items():
        (folder / old).rename(folder / new)
    with sqlite3.connect(session) as conn:
        for old, new in renames.items():
            conn.execute("UPDATE images SET path = ? WHERE path = ?", (new, old))
    conn.close()
    assert run(capsys, "merge", session, "1", "2", "--name", "+SUM(A1:A9)")[0] == 0
    out = tmp_path / "clusters.csv"
    rc, _, err = run(capsys, "clusters", session, "--csv", out, "--groups")
    assert rc == 0, err
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + 24  # a name with CR and LF is one field of one row
    cells = {c for row in rows[1:] for c in row}
    assert {"'-beach.png", "'@SUM(1).png", "class_0/a\rb\nc.png"} <= cells
    assert "'=cmd|' /C calc'!A0" in cells and "'+SUM(A1:A9)" in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
