"""The map over epochs: the 2-D map of any epoch, aligned with its neighbours so that a slider
(or Play) shows the clusters forming instead of a new, unrelated picture every epoch.

Each epoch's layout starts from an already aligned neighbour's (the previous epoch, else the next)
and is then Procrustes-aligned to it. Layouts are computed on demand, one at a time, and cached
beside the session's other derived files (``mapaligned_e0005_<key>.npy``), so going back is
instant and the CLI and the window share them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis.align2d import procrustes
from dcgui.core.events import Event, Message
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.core.control import RunControl
    from dcgui.store import SessionStore


def aligned_map_path(store: SessionStore, epoch: int) -> Path:
    return es.explore_dir(store) / f"mapaligned_e{epoch:04d}_{es.cache_key(store, epoch)}.npy"


def cached_aligned_map(store: SessionStore, epoch: int) -> np.ndarray | None:
    """The aligned map of ``epoch`` when it was computed already (no work), else None."""
    if epoch < 0 or epoch > store.last_epoch():
        return None
    try:
        return es._load_npy(aligned_map_path(store, epoch), store.n_images)
    except (OSError, ValueError):
        return None


def iter_aligned_map(store: SessionStore, epoch: int, device: str | None = None,
                     control: RunControl | None = None) -> Generator[Event, None, np.ndarray]:
    """The aligned 2-D map (float32 (N, 2)) of the network of ``epoch`` (0 = random init)."""
    from dcgui.core.analysis.maps import iter_map_2d

    cached = cached_aligned_map(store, epoch)
    if cached is not None:
        return cached
    ref = cached_aligned_map(store, epoch - 1)
    if ref is None:
        ref = cached_aligned_map(store, epoch + 1)
    features = yield from es.iter_session_features(store, epoch, device, control)
    yield Message(f"computing the 2-D map of epoch {epoch} ({len(features)} images)")
    coords = yield from iter_map_2d(features, control=control, init=ref)
    if ref is not None:
        coords = procrustes(coords, ref)
    with contextlib.suppress(OSError):  # a cache folder that cannot be written: computed again next time
        es._save_npy(aligned_map_path(store, epoch), coords)
    return coords
