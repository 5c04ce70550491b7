"""The single-trainer lock with real processes: a second trainer is refused at once with the
holder's pid, host and command; readers stay free; a SIGKILLed holder never blocks anyone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcgui.core.config import TrainConfig
from dcgui.store import SessionStore
from dcgui.store.lock import SessionBusyError

ROOT = Path(__file__).resolve().parents[2]
HOLDER = Path(__file__).with_name("lock_holder.py")


def start_holder(session: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HOLDER), str(session)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "locked\n", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


@pytest.fixture
def session(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir()
    SessionStore.create(tmp_path / "s.dcgui", tmp_path / "photos", TrainConfig(k=2)).close()
    return tmp_path / "s.dcgui"


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_second_trainer_is_refused_and_a_killed_holder_never_blocks(session: Path) -> None:
    holder = start_holder(session)
    try:
        store = SessionStore.open(session)
        start = time.monotonic()
        with pytest.raises(SessionBusyError) as err:
            store.claim_trainer()
        assert time.monotonic() - start < 1  # at once, not after a timeout
        text = str(err.value)
        assert f"pid {holder.pid} on host {socket.gethostname()!r} (lock_holder.py (a test trainer))" in text
        assert text.startswith(f"{session} is being trained by") and "wait for it to finish or stop it" in text
        assert not store.is_trainer
        # Readers and small edits stay free while the other process trains.
        with SessionStore.open(session, readonly=True) as reader:
            assert reader.config.k == 2
        store.set_cluster_name(0, "still editable")
        # The holder dies without any chance to clean up: the OS drops its lock.
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert (session.parent / "s.dcgui.d" / "trainer.lock").exists()  # a stale file...
        store.claim_trainer()  # ...that does not block
        assert store.is_trainer
        store.close()  # releases it: the next trainer gets it
        again = SessionStore.open(session)
        again.claim_trainer()
        again.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_a_released_lock_is_free_and_readonly_stores_cannot_train(session: Path) -> None:
    holder = start_holder(session)
    try:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "released\n"
        with SessionStore.open(session) as store:  # the holder still runs, but gave the lock up
            store.claim_trainer()
            store.claim_trainer()  # idempotent for its holder
            assert store.is_trainer
    finally:
        holder.kill()
        holder.wait(10)
    with SessionStore.open(session, readonly=True) as reader, pytest.raises(Exception, match="read-only"):
        reader.claim_trainer()
