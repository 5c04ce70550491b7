"""A separate process that records synthetic epochs into a session in a loop.

Used by the crash-safety test (killed with SIGKILL at chosen points of a write) and the concurrent-reader test.
Every epoch's data derives from its number, so the parent can check exactly what was stored.

    python tests/store/writer_process.py SESSION N_IMAGES K FIRST_EPOCH LAST_EPOCH [KILL_POINT]

KILL_POINT (``"SQL prefix#n"`` or ``after-commit``) SIGKILLs the process at that point of the
last epoch's write transaction.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from pathlib import Path

import numpy as np

from dcgui.core.events import EpochFinished, EpochMetrics

AFTER_COMMIT = "after-commit"


def expected_epoch(epoch: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(matched ids, mapping[raw] = matched) of ``epoch``."""
    rng = np.random.default_rng(epoch)
    return rng.integers(0, k, n).astype(np.int32), rng.permutation(k).astype(np.int32)


def epoch_event(epoch: int, n: int, k: int, checkpoint_dir: Path) -> EpochFinished:
    matched, mapping = expected_epoch(epoch, n, k)
    inverse = np.argsort(mapping).astype(np.int32)
    sizes = np.bincount(matched, minlength=k)
    m = EpochMetrics(
        epoch=epoch, nmi_prev=None if epoch == 1 else 0.5, nmi_labels=None, ari_labels=None,
        loss=1.0 / epoch, kmeans_objective=float(epoch), k=k, empty_clusters=int((sizes == 0).sum()),
        min_cluster=int(sizes[sizes > 0].min()), max_cluster=int(sizes.max()), size_entropy=0.9,
        seconds_features=0.1, seconds_clustering=0.1, seconds_training=0.1, images_per_second=1.0,
        n_images=n,
    )
    ckpt = checkpoint_dir / f"epoch_{epoch:04d}.pt"
    return EpochFinished(m, inverse[matched], matched, mapping, str(ckpt), f"{epoch:064x}")


def _kill_at(conn: sqlite3.Connection, point: str) -> None:
    """SIGKILL this process when the ``nth`` statement starting with ``prefix`` is about to run.

    ``point`` is ``"prefix#nth"``. The trace callback runs before SQLite executes the statement,
    so everything before it ran and nothing after it did: the crash lands at a chosen place
    inside the write transaction, every time.
    """
    prefix, nth = point.rsplit("#", 1)
    seen = 0

    def trace(sql: str) -> None:
        nonlocal seen
        if sql.startswith(prefix):
            seen += 1
            if seen == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(trace)


def main(argv: list[str]) -> int:
    from dcgui.store import SessionStore

    path, n, k, first, last = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    kill = argv[5] if len(argv) > 5 else None
    store = SessionStore.open(path)
    print("ready", flush=True)
    for epoch in range(first, last + 1):
        if kill and epoch == last and kill != AFTER_COMMIT:
            _kill_at(store.database.conn, kill)
        store.record_epoch(epoch_event(epoch, n, k, store.checkpoint_dir))
        if kill == AFTER_COMMIT and epoch == last:
            os.kill(os.getpid(), signal.SIGKILL)  # committed, but the caller never heard of it
        print(f"committed {epoch}", flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
