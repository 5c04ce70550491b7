"""Stop reaches the near-duplicate pair and linkage stages (issue 21 item 17): a pair stage
asked to stop ends within one chunk per thread, the linkage within LINKAGE_CHECK merges."""

from __future__ import annotations

import numpy as np
import pytest

from dcgui.core.analysis import duplicates as neardup
from dcgui.core.control import RunControl, StopRequested


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(n)]


def test_pair_stage_stops_within_a_chunk_per_thread() -> None:
    images = _images(40)
    read = images.__getitem__
    sig = neardup.Signatures(*map(np.stack, zip(*(neardup.signature(im) for im in images))))
    control = RunControl()
    judged: list[int] = []

    class Judge(neardup.PairJudge):
        def judge(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            judged.append(len(pairs))
            control.stop()  # the user presses Stop while the first chunks run
            return super().judge(pairs)

    ii, jj = np.triu_indices(len(images), 1)
    pairs = np.stack([ii, jj], axis=1).astype(np.int64)  # 780 pairs: 13 chunks
    with pytest.raises(StopRequested):
        for _ in neardup.iter_pair_differences(Judge(read, sig), pairs, control):
            pass
    assert sum(judged) <= neardup._workers() * neardup.PAIR_CHUNK < len(pairs)


def test_linkage_stops() -> None:
    n = 3 * neardup.LINKAGE_CHECK  # disjoint pairs: one merge each
    pairs = np.stack([np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)], axis=1).astype(np.int64)
    diffs = np.linspace(0.0, 0.5, n).astype(np.float32)
    assert len(neardup.complete_linkage(pairs, diffs, 0.6)) == n
    control = RunControl()
    control.stop()
    with pytest.raises(StopRequested):
        neardup.complete_linkage(pairs, diffs, 0.6, control)
