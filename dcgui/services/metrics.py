"""A session's per-epoch metrics, complete: AMI of epochs trained before it was recorded.

The engine computes AMI with every epoch. A session trained before that has NULL ``ami_prev`` /
``ami_labels``; ``iter_missing_ami`` computes them from the stored assignments (one epoch
decoded at a time) and ``complete_metrics`` gives the epochs with them filled in, so the CLI,
the report and the comparison never show a missing AMI as 0. The window runs the same
generator on a worker and shows "computing" meanwhile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis.ami import ami
from dcgui.core.events import PHASE_METRICS, Event, PhaseProgress

if TYPE_CHECKING:
    from dcgui.core.control import RunControl
    from dcgui.core.events import EpochMetrics
    from dcgui.store import SessionStore

AmiValues = dict[int, tuple[float | None, float | None]]  # epoch -> (ami_prev, ami_labels)


def missing_ami(store: SessionStore) -> list[int]:
    """The epochs whose AMI could exist but is not stored (trained before AMI was recorded)."""
    has_labels = bool(store.label_names())  # a meta lookup: cheap enough for the GUI thread
    return [m.epoch for m in store.epochs()
            if (m.epoch > 1 and m.ami_prev is None) or (has_labels and m.ami_labels is None)]


def iter_missing_ami(store: SessionStore, control: RunControl | None = None,
                     save: bool = True) -> Generator[Event, None, AmiValues]:
    """Compute the AMI of every epoch ``missing_ami`` lists; returns ``{epoch: (prev, labels)}``.

    ``save``: also store them when the session is writable (a read-only session keeps them in
    memory only: the caller holds the result).
    """
    todo = missing_ami(store)
    out: AmiValues = {}
    if not todo:
        return out
    labels = store.labels()
    has = labels >= 0 if labels is not None else None
    stored = {m.epoch: m for m in store.epochs()}
    yield PhaseProgress(PHASE_METRICS, 0, len(todo))
    for done, epoch in enumerate(todo, 1):
        if control is not None:
            control.pause_point()
        current = store.assignments(epoch)
        m = stored[epoch]
        prev = m.ami_prev
        if prev is None and epoch > 1 and epoch - 1 in stored:
            prev = ami(store.assignments(epoch - 1), current)
        lab = m.ami_labels
        if lab is None and labels is not None and has is not None:
            # AMI is invariant to renumbering clusters: the matched ids give the raw ids' value
            lab = ami(labels[has], current[has])
        out[epoch] = (prev, lab)
        yield PhaseProgress(PHASE_METRICS, done, len(todo))
    if save and not store.readonly and out:
        store.set_epoch_ami(out)
    return out


def with_ami(metrics: list[EpochMetrics], values: AmiValues) -> list[EpochMetrics]:
    """``metrics`` with the AMI of ``values`` filled in where it was missing."""
    out = []
    for m in metrics:
        if m.epoch in values:
            prev, lab = values[m.epoch]
            m = dataclasses.replace(m, ami_prev=m.ami_prev if m.ami_prev is not None else prev,
                                    ami_labels=m.ami_labels if m.ami_labels is not None else lab)
        out.append(m)
    return out


def complete_metrics(store: SessionStore, save: bool = False) -> Generator[Event, None, list[EpochMetrics]]:
    """Every epoch's metrics with AMI present wherever it can exist (computed when missing)."""
    values = yield from iter_missing_ami(store, save=save)
    return with_ami(store.epochs(), values)


def metric_arrays(metrics: list[EpochMetrics]) -> dict[str, np.ndarray]:
    """Columns of the metrics as float arrays (NaN where a value does not exist), for plots."""
    def col(name: str) -> np.ndarray:
        return np.array([np.nan if getattr(m, name) is None else float(getattr(m, name)) for m in metrics],
                        dtype=np.float64)

    names = ("nmi_prev", "nmi_labels", "ari_labels", "ami_prev", "ami_labels", "loss")
    return {"epoch": np.array([m.epoch for m in metrics], dtype=np.float64), **{n: col(n) for n in names}}
