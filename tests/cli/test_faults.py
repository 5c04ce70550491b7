"""Hostile files and faults through the real ``dcgui`` command: a file name that is not UTF-8,
a damaged session, a damaged checkpoint and ``--from-epoch``, a session on a read-only disk, a
full disk, SIGTERM. Read-only and full disks are real: a read-only bind mount and a small tmpfs
in a private mount namespace (``unshare``; skipped where user namespaces are not allowed)."""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.store import SessionStore
from tests.conftest import write_image_folder
from tests.store.test_hostile_names import LATIN1_NAME

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--k", "4", "--arch", "smallnet", "--image-size", "32", "--batch-size", "16", "--device", "cpu",
         "--seed", "3", "--workers", "1"]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def dcgui_cmd(*argv: object) -> list[str]:
    return [sys.executable, "-m", "dcgui", *map(str, argv)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder (with a Latin-1 file name where the file system allows one) and its session,
    trained for 2 epochs: ``root/photos``, ``root/s.dcgui``."""
    root = tmp_path_factory.mktemp("faults")
    folder = write_image_folder(root / "photos", n_per_class=4)
    try:
        fd = os.open(os.path.join(os.fsencode(folder / "class_0"), LATIN1_NAME), os.O_WRONLY | os.O_CREAT, 0o644)
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj((folder / "class_0" / "img_000.png").open("rb"), fh)
    except OSError:
        pass  # macOS / Windows: the name test skips itself
    assert main(["train", str(folder), "--session", str(root / "s.dcgui"), "--epochs", "2", *TRAIN]) == 0
    return root


def clone(trained: Path, dest: Path) -> Path:
    shutil.copytree(trained, dest, dirs_exist_ok=True, symlinks=True)
    with SessionStore.open(dest / "s.dcgui") as s:
        s.set_folder(dest / "photos")
    return dest / "s.dcgui"


# -- 5. file names that are not UTF-8 ---------------------------------------------------------
def test_latin1_file_name_trains_and_is_shown_readably(trained: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    name = os.fsdecode(b"class_0/" + LATIN1_NAME)
    if not (trained / "photos" / name).exists():
        pytest.skip("this file system does not allow non-UTF-8 names")
    session = trained / "s.dcgui"
    with SessionStore.open(session, readonly=True) as s:
        assert name in s.image_paths() and s.n_images == 17  # trained with the others
    rc, _, err = run(capsys, "clusters", session, "--csv", tmp_path / "c.csv")
    assert rc == 0, err
    rows = list(csv.reader((tmp_path / "c.csv").open(encoding="utf-8")))  # valid UTF-8 throughout
    assert "class_0/caf\\xe9.jpg" in [r[0] for r in rows]
    rc, out, err = run(capsys, "clusters", session, "--csv", "-")
    assert rc == 0 and "class_0/caf\\xe9.jpg," in out
    rc, out, err = run(capsys, "outliers", session, "-n", "17")
    assert rc == 0 and f"{trained / 'photos'}/class_0/caf\\xe9.jpg" in out, err


# -- 8. a damaged session ---------------------------------------------------------------------
def test_a_damaged_session_is_one_line_that_says_what_to_do(trained: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    session = clone(trained, tmp_path)
    conn = sqlite3.connect(session)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()[0]
    conn.close()
    with open(session, "r+b") as fh:
        fh.seek((root - 1) * page + 8)
        fh.write(b"\xff" * 64)
    before = session.read_bytes()
    for argv in (["info", session], ["train", tmp_path / "photos", "--session", session, "--epochs", "3"]):
        rc, _, err = run(capsys, *argv)
        assert rc == 2 and "Traceback" not in err
        assert err.startswith(f"dcgui: error: {session} is damaged (")
        assert "the file was left untouched. Restore s.dcgui from a backup, or start a new session" in err
    assert session.read_bytes() == before


# -- 9. a damaged checkpoint, and --from-epoch ------------------------------------------------
def test_damaged_checkpoint_then_from_epoch(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = clone(trained, tmp_path)
    ckpt = tmp_path / "s.dcgui.d" / "checkpoints" / "epoch_0002.pt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.write_bytes(bytes(data))
    train = ["train", tmp_path / "photos", "--session", session, *TRAIN]
    rc, _, err = run(capsys, *train, "--epochs", "3")
    assert rc == 2
    assert f"checkpoint {ckpt} is not the file saved for epoch 2" in err and "--from-epoch 1" in err
    rc, _, err = run(capsys, "export", session, "--format", "state-dict", "--out", tmp_path / "b.pt")
    assert rc == 2 and "is not the file saved for epoch 2" in err  # never exported silently
    rc, out, err = run(capsys, *train, "--epochs", "3", "--from-epoch", "1")
    assert rc == 0, err
    (archive,) = (tmp_path / "s.dcgui.d" / "archive").glob("s-epochs-2-2-*.dcgui")
    assert f"continuing from epoch 1; epochs 2-2 are kept in {archive}" in err
    assert "epoch 2/3" in out and "epoch 3/3" in out
    lines = out.splitlines()  # the run's ETA after each epoch but the last
    assert "ETA about" in next(t for t in lines if t.startswith("epoch 2/3  loss"))
    assert "ETA" not in next(t for t in lines if t.startswith("epoch 3/3  loss"))
    rc, out, _ = run(capsys, "info", archive)
    assert rc == 0 and "\n      2 " in out  # the set-aside epoch is still readable
    rc, _, err = run(capsys, *train, "--from-epoch", "7")
    assert rc == 2 and "--from-epoch 7 is not an earlier epoch of s.dcgui: it has epochs 1-3" in err


# -- 11. SIGTERM ------------------------------------------------------------------------------
def test_sigterm_stops_after_the_batch_and_keeps_the_last_epoch(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "photos", n_per_class=6)
    session = tmp_path / "s.dcgui"
    proc = subprocess.Popen(dcgui_cmd("train", folder, "--session", session, "--epochs", "1000", *TRAIN),
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    done = 0
    while done < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        try:
            conn = sqlite3.connect(f"file:{session}?mode=ro", uri=True)
            done = conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            pass
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "SIGTERM received: stopping after the current batch (a second SIGTERM aborts now)..." in err
    with SessionStore.open(session, readonly=True) as s:
        last = s.last_epoch()
        assert last >= 1 and s.checkpoint_path(last).is_file() and s.integrity_check() == "ok"
    assert f"stopped; epoch {last} is saved. Resume with:" in err


# -- 10. read-only media and a full disk ------------------------------------------------------
@functools.cache
def _namespaces() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt || mount -t tmpfs tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif("not _namespaces()", reason="needs unprivileged mount namespaces (unshare -rm)")


def in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root of a private mount namespace (mounts vanish with it)."""
    return subprocess.run(["unshare", "-rm", "sh", "-ec", script], env={**env(), "DCGUI": " ".join(dcgui_cmd())},
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)


@needs_namespaces
def test_a_session_on_a_read_only_disk_can_be_viewed_explored_and_exported(trained: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    clone(trained, media)
    shutil.rmtree(media / "s.dcgui.d" / "cache" / "explore", ignore_errors=True)  # other tests' features
    out = tmp_path / "out"
    out.mkdir()
    script = f"""
mount --bind {media} {media}; mount -o remount,bind,ro {media}
! touch {media}/probe 2>/dev/null
export XDG_CACHE_HOME={tmp_path}/usercache
S={media}/s.dcgui
$DCGUI info $S > {out}/info.txt
$DCGUI clusters $S --csv {out}/c.csv
$DCGUI outliers $S -n 3 --json > {out}/outliers.json
$DCGUI similar $S {media}/photos/class_1/img_000.png -n 2 > {out}/similar.txt
$DCGUI export $S --format state-dict --out {out}/b.pt 2> {out}/export.err
$DCGUI curate $S --out {out}/sorted --copy 2> {out}/curate.err
"""
    res = in_namespace(script, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "epochs:" in (out / "info.txt").read_text()
    with SessionStore.open(media / "s.dcgui", readonly=True) as s:
        n = s.n_images
    assert len(list(csv.reader((out / "c.csv").open(encoding="utf-8")))) == 1 + n
    assert len(json.loads((out / "outliers.json").read_text())) == 3
    assert "img_000.png" in (out / "similar.txt").read_text()
    assert (out / "b.pt").is_file() and (out / "b.pt.json").is_file()
    assert "s.dcgui cannot be written, so this export is not listed in it" in (out / "export.err").read_text()
    assert len([p for p in (out / "sorted").rglob("*") if p.is_file()]) == n
    # The features were cached in the user's cache dir, not on the read-only disk.
    assert list((tmp_path / "usercache" / "dcgui" / "sessions").glob("s-*/explore/features_e0002_*.npz"))
    assert not (media / "s.dcgui.d" / "cache" / "explore").exists()


@needs_namespaces
def test_a_full_disk_names_the_file_the_space_and_the_resume_command(trained: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    log = tmp_path / "log"
    log.mkdir()
    script = f"""
mount -t tmpfs -o size=48m tmpfs {disk}
cp -r {trained}/s.dcgui {trained}/s.dcgui.d {disk}/
free=$(df --output=avail -B1 {disk} | tail -1)
fallocate -l $((free - 3000000)) {disk}/filler || head -c $((free - 3000000)) /dev/zero > {disk}/filler
set +e
$DCGUI train {trained}/photos --session {disk}/s.dcgui --epochs 3 {' '.join(TRAIN)} > {log}/full.out 2> {log}/full.err
echo $? > {log}/full.rc
set -e
ls {disk}/s.dcgui.d/checkpoints > {log}/ckpts.txt
rm {disk}/filler
$DCGUI train {trained}/photos --session {disk}/s.dcgui --epochs 3 {' '.join(TRAIN)} > {log}/resumed.out 2>&1
"""
    res = in_namespace(script, tmp_path)
    resumed = (log / "resumed.out").read_text() if (log / "resumed.out").exists() else ""
    assert res.returncode == 0, res.stderr + resumed
    err = (log / "full.err").read_text()
    assert (log / "full.rc").read_text().strip() == "2"
    ckpt = disk / "s.dcgui.d" / "checkpoints" / "epoch_0003.pt"
    assert f"dcgui: error: the disk is full: writing {ckpt} needs about " in err
    assert " MB are free. Free some space on that disk" in err
    assert "epoch 2 is saved. Once there is space, resume with:" in err
    assert f"dcgui train {trained}/photos --session {disk}/s.dcgui --epochs 3" in err
    assert (log / "ckpts.txt").read_text().split() == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    assert "done: 3 epochs" in resumed
