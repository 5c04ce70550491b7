"""Damaged session contents on real files: a corrupt page is found when the file is opened, a bad
assignment or mapping blob gives an error naming the epoch, and a file found damaged while in
use is never written again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.config import TrainConfig
from dcgui.core.errors import SessionFileError
from dcgui.store import SessionStore
from tests.store.test_session import event, file_state, new_store


def trained_store(tmp_path: Path, n: int = 3000, epochs: int = 2) -> Path:
    store = new_store(tmp_path, n=n, k=4)
    rng = np.random.default_rng(0)
    for e in range(1, epochs + 1):
        store.record_epoch(event(e, rng.integers(0, 4, n).astype(np.int32), rng.permutation(4).astype(np.int32)))
    store.set_cluster_name(1, "beach")
    store.close()
    return tmp_path / "s.dcgui"


def corrupt_table_page(path: Path, table: str) -> None:
    """Overwrite the cell pointers of ``table``'s root page, as a bad disk sector would."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xff" * 64)


def test_a_corrupt_page_is_refused_at_open_untouched(tmp_path: Path) -> None:
    path = trained_store(tmp_path)
    corrupt_table_page(path, "images")
    before = file_state(path)
    for readonly in (True, False):
        with pytest.raises(SessionFileError) as err:
            SessionStore.open(path, readonly=readonly)
        msg = str(err.value)
        assert msg.startswith(f"{path} is damaged (")
        assert "the file was left untouched" in msg and "Restore s.dcgui from a backup" in msg
        assert file_state(path) == before


@pytest.mark.parametrize("what", ["assignments", "cluster mapping"])
def test_a_bad_blob_names_its_epoch(tmp_path: Path, what: str) -> None:
    path = trained_store(tmp_path)
    conn = sqlite3.connect(path)
    if what == "assignments":
        conn.execute("UPDATE assignments SET data = ? WHERE epoch = 2 AND chunk = 1", (b"\x78\x9c garbage",))
    else:
        conn.execute("UPDATE epoch_mappings SET mapping = ? WHERE epoch = 2", (b"not zlib",))
    conn.commit()
    conn.close()
    with SessionStore.open(path, readonly=True) as s:  # the pages are fine: the file opens
        assert s.assignments(1).shape == (3000,)  # other epochs stay readable
        reads = [lambda: s.assignments(2), lambda: s.cluster_members(2, 0)]
        # the history reads matched ids only; the sizes are a table of their own
        reads.append((lambda: s.image_history(1500)) if what == "assignments" else (lambda: s.cluster_sizes(2)))
        for read in reads:
            with pytest.raises(SessionFileError) as err:
                read()
            assert str(err.value).startswith(f"the {what} of epoch 2 in {path} is damaged (")
            assert "--from-epoch 1" in str(err.value)


def test_damage_found_while_open_stops_all_writes(tmp_path: Path) -> None:
    path = trained_store(tmp_path)
    store = SessionStore.open(path)
    corrupt_table_page(path, "images")  # a sector goes bad under a running session
    with pytest.raises(SessionFileError, match=r"is damaged .*nothing more is written to it"):
        store.image_paths()
    before = file_state(path)
    with pytest.raises(SessionFileError, match="nothing more is written to it"):
        store.set_cluster_name(2, "sea")
    with pytest.raises(SessionFileError, match="nothing more is written to it"):
        store.set_config(TrainConfig(k=4))
    store.close()
    assert file_state(path)[0] == before[0]


@pytest.mark.slow  # a wall-clock bound
def test_quick_check_cost_is_small(tmp_path: Path) -> None:
    """Opening checks every page; on a 3000-image, 20-epoch file that is far below a second."""
    import time

    path = trained_store(tmp_path, n=3000, epochs=20)
    t0 = time.perf_counter()
    SessionStore.open(path, readonly=True).close()
    assert time.perf_counter() - t0 < 2.0
