"""Resuming from checkpoints on a real session: a damaged or foreign checkpoint is refused with
a clear error, and training can continue from an earlier epoch with the later epochs archived in
a session file of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError
from dcgui.core.events import EpochFinished
from dcgui.services import training as runner
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

CFG = TrainConfig(arch="smallnet", k=4, epochs=3, image_size=32, batch_size=8, seed=3, device="cpu", workers=1)


def train(store: SessionStore, epochs: int) -> list[EpochFinished]:
    return [ev for ev in runner.iter_train(store, epochs=epochs) if isinstance(ev, EpochFinished)]


@pytest.fixture(scope="module")
def trained3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    folder = write_image_folder(root / "photos", n_per_class=4, classes=4)
    with SessionStore.create(root / "s.dcgui", folder, CFG) as store:
        train(store, 3)
    return root


def copy_session(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, dirs_exist_ok=True)
    with SessionStore.open(dest / "s.dcgui") as s:
        s.set_folder(dest / "photos")
    return dest / "s.dcgui"


@pytest.mark.parametrize("damage", ["flipped_byte", "foreign"])
def test_a_damaged_or_foreign_checkpoint_is_refused_on_resume(trained3: Path, tmp_path: Path, damage: str) -> None:
    path = copy_session(trained3, tmp_path)
    ckpt = tmp_path / "s.dcgui.d" / "checkpoints" / "epoch_0003.pt"
    if damage == "flipped_byte":
        data = bytearray(ckpt.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit in the middle of the weights
        ckpt.write_bytes(bytes(data))
    else:  # another epoch's file put in its place
        shutil.copy(tmp_path / "s.dcgui.d" / "checkpoints" / "epoch_0002.pt", ckpt)
    with SessionStore.open(path) as store, pytest.raises(DcguiError) as err:
        train(store, 4)
    msg = str(err.value)
    assert msg.startswith(f"checkpoint {ckpt} is not the file saved for epoch 3 (its sha256 ")
    assert "it was damaged or replaced" in msg and "--from-epoch 2" in msg
    with SessionStore.open(path, readonly=True) as store:
        assert store.last_epoch() == 3  # nothing was recorded from a bad start


def test_resume_from_an_earlier_epoch_archives_the_later_ones(trained3: Path, tmp_path: Path) -> None:
    path = copy_session(trained3, tmp_path)
    with SessionStore.open(path, readonly=True) as s:
        before = {e: s.assignments(e) for e in (1, 2, 3)}
        shas = {e: sha for e, _, sha in s.checkpoints()}
    ckdir = tmp_path / "s.dcgui.d" / "checkpoints"
    (ckdir / "epoch_0003.pt").write_bytes(b"damaged")  # the reason to go back
    with SessionStore.open(path) as store:
        archive = runner.rewind(store, 2)
        assert store.last_epoch() == 2 and [e for e, _, _ in store.checkpoints()] == [0, 1, 2]
        assert not (ckdir / "epoch_0003.pt").exists()  # moved into the archive
        redone = train(store, 3)
    assert [ev.metrics.epoch for ev in redone] == [3]
    assert archive.parent == tmp_path / "s.dcgui.d" / "archive"
    assert archive.name.startswith("s-epochs-3-3-") and archive.suffix == ".dcgui"
    with SessionStore.open(archive, readonly=True) as old:  # the archive is a session of its own
        assert old.last_epoch() == 3
        for e in (1, 2, 3):
            np.testing.assert_array_equal(old.assignments(e), before[e])
        assert {e: sha for e, _, sha in old.checkpoints()} == shas
        assert old.checkpoint_path(3).read_bytes() == b"damaged"  # kept as it was, for inspection
        assert old.checkpoint_path(2).is_file()
    with SessionStore.open(path, readonly=True) as s:
        assert s.last_epoch() == 3 and s.integrity_check() == "ok"
        np.testing.assert_array_equal(s.assignments(2), before[2])
        np.testing.assert_array_equal(s.assignments(3), before[3])  # the same seed retrains the same epoch


def test_from_epoch_must_be_an_earlier_usable_epoch(trained3: Path, tmp_path: Path) -> None:
    path = copy_session(trained3, tmp_path)
    (tmp_path / "s.dcgui.d" / "checkpoints" / "epoch_0001.pt").write_bytes(b"damaged")
    with SessionStore.open(path) as store:
        with pytest.raises(DcguiError, match=r"--from-epoch 3 is not an earlier epoch of s.dcgui: it has epochs 1-3"):
            runner.rewind(store, 3)
        with pytest.raises(DcguiError, match="is not the file saved for epoch 1"):
            runner.rewind(store, 1)
        assert store.last_epoch() == 3 and not (tmp_path / "s.dcgui.d" / "archive").exists()  # nothing moved
        archive = runner.rewind(store, 0)  # back to the random initialisation
        assert store.last_epoch() == 0 and archive.is_file()
        redone = train(store, 1)
    assert [ev.metrics.epoch for ev in redone] == [1]


KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from dcgui.core import fsutil
os.fsync = lambda fd: time.sleep(600)  # hold the write open: the parent kills us meanwhile
fsutil.atomic_write_bytes(Path(sys.argv[1]), b"x" * 1_000_000)
"""


def test_a_checkpoint_cut_short_by_a_kill_is_cleaned_by_the_next_run(trained3: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from dcgui.core.events import Message

    path = copy_session(trained3, tmp_path)
    ckdir = tmp_path / "s.dcgui.d" / "checkpoints"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(ckdir / "epoch_0004.pt")], env=env)
    deadline = time.monotonic() + 60
    while not list(ckdir.glob("epoch_0004.pt.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    (leftover,) = ckdir.glob("epoch_0004.pt.*.tmp")
    with SessionStore.open(path) as store:
        events = list(runner.iter_train(store, epochs=4))
    assert not leftover.exists()
    notes = [ev.text for ev in events if isinstance(ev, Message)]
    assert any(f"removed 1 unfinished checkpoint file(s) left in {ckdir}" in t for t in notes)
    assert sorted(p.name for p in ckdir.iterdir()) == [f"epoch_{e:04d}.pt" for e in range(5)]
