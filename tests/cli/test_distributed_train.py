"""`torchrun --nproc-per-node 2 -m dcgui train` on the CPU (gloo): a complete, sane session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dcgui.store import SessionStore
from tests.conftest import write_image_folder


def test_two_gloo_processes_train_a_complete_session(tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "photos", n_per_class=10)
    session = tmp_path / "dist.dcgui"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "dcgui", "train", str(folder), "--session", str(session), "--epochs", "2", "--k", "4",
           "--arch", "smallnet", "--image-size", "32", "--batch-size", "8", "--device", "cpu"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    with SessionStore.open(session, readonly=True) as store:
        assert store.n_images == 40 and store.last_epoch() == 2
        epochs = store.epochs()
        assert [m.epoch for m in epochs] == [1, 2]
        assert all(np.isfinite(m.loss) and m.loss > 0 for m in epochs)
        assert epochs[1].nmi_prev is not None and 0 <= epochs[1].nmi_prev <= 1
        assert epochs[0].nmi_labels is not None  # labels come from the class sub-folders
        for e in (1, 2):
            a = store.assignments(e)
            assert a.shape == (40,) and a.min() >= 0 and a.max() < 4
        assert sorted(c[0] for c in store.checkpoints()) == [0, 1, 2]
    info = subprocess.run([sys.executable, "-m", "dcgui", "info", str(session), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert info.returncode == 0 and json.loads(info.stdout)["images"] == 40
