"""Choose the CPU thread count by measuring it, at the start of every epoch's training.

On an idle machine all cores train fastest; on a busy one (another training run, a browser, a
build) the same run can be several times faster on one thread, because torch's threads wait for
each other at every operator and one of them is always descheduled (benchmarks/results.md). The
right count changes with the machine's load, so it is measured again every epoch, on the epoch's
own first batches: they are real training steps, so the measurement costs only the difference
between the slower and the faster setting on a few batches.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch

WARMUP_BATCHES = 1  # the first batch of an epoch pays for allocations at whatever count
BATCHES_PER_CANDIDATE = 2
MIN_BATCHES = 12  # an epoch shorter than this is not worth probing: keep the last choice


def candidates(n_threads: int) -> list[int]:
    """The thread counts to try: all of them, half of them (from 4 cores), one."""
    out = [n_threads]
    if n_threads >= 4:
        out.append(n_threads // 2)
    if n_threads > 1:
        out.append(1)
    return out


@dataclass
class ThreadTuner:
    """Drives ``torch.set_num_threads`` over an epoch's first batches and keeps the fastest.

    Call ``before_batch(b)`` before training batch ``b`` and ``after_batch(b, seconds)`` with its
    wall time; ``choice`` is the count in use once the probe is over, ``summary()`` says what was
    measured (for the log). With one candidate it never changes anything.
    """

    n_threads: int
    choice: int = 0
    times: dict[int, list[float]] = field(default_factory=dict)
    _plan: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.choice = self.choice or self.n_threads

    @property
    def active(self) -> bool:
        return len(candidates(self.n_threads)) > 1

    def start_epoch(self, n_batches: int) -> None:
        """Plan this epoch's probe: warm-up, then each candidate for a few batches."""
        self.times = {}
        self._plan = []
        if not self.active or n_batches < MIN_BATCHES:
            return
        self._plan = [self.choice] * WARMUP_BATCHES
        for c in candidates(self.n_threads):
            self._plan += [c] * BATCHES_PER_CANDIDATE

    def before_batch(self, b: int) -> None:
        if b < len(self._plan):  # after the plan, after_batch has set the choice
            torch.set_num_threads(self._plan[b])

    def after_batch(self, b: int, seconds: float) -> None:
        if WARMUP_BATCHES <= b < len(self._plan):
            self.times.setdefault(self._plan[b], []).append(seconds)
            if b == len(self._plan) - 1:
                self.choice = min(self.times, key=lambda c: statistics.median(self.times[c]))
                torch.set_num_threads(self.choice)

    def summary(self) -> str:
        """``"1 (0.120 s per batch; 2: 0.310 s)"``: the choice and what each candidate took."""
        if not self.times:
            return str(self.choice)
        med = {c: statistics.median(t) for c, t in self.times.items()}
        others = "; ".join(f"{c}: {med[c]:.3f} s" for c in sorted(med, reverse=True) if c != self.choice)
        return f"{self.choice} ({med.get(self.choice, 0.0):.3f} s per batch; {others})"
