"""Evaluation of a session: its network at an epoch against its random initialisation (epoch 0),
with the protocols of ``dcgui.core.analysis.evaluate`` on its own labelled folder or on another one."""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.analysis.evaluate import EvalReport, EvalRow, evaluate_features
from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import PHASE_EVAL, Event, Message, PhaseProgress
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def iter_evaluate(
    store: SessionStore,
    labeled_folder: Path | None = None,
    epoch: int | None = None,
    device: str | None = None,
    control: RunControl | None = None,
    seed: int = 0,
) -> Generator[Event, None, EvalReport]:
    """Compare the network at ``epoch`` (default: the latest) with its random initialisation.

    ``labeled_folder`` None or the session's folder: the session's images and labels (class
    sub-folders), kNN leave-one-out. Another folder with class sub-folders: its images are
    decoded into a cache under the session's data folder, kNN on a stratified 50/50 split.
    """
    t0 = time.perf_counter()
    epoch = es.resolve_epoch(store, epoch)
    if epoch == 0:
        raise DcguiError(f"{store.path.name} has no trained epoch yet: train at least one epoch, "
                         "then compare it with the random initialisation")
    own = labeled_folder is None or _same_folder(Path(labeled_folder), store.folder)
    rows: list[EvalRow] = []
    if own:
        labels = store.labels()
        if labels is None or (labels >= 0).sum() < 2:
            raise DcguiError(f"the folder {store.folder} has no class sub-folders, so there are no labels "
                             "to evaluate against: pass a folder with one sub-folder per class")
        folder, names = store.folder, store.label_names()
        feats = {}
        for e in (epoch, 0):
            yield Message(f"features of epoch {e}")
            feats[e] = yield from es.iter_session_features(store, e, device=device, control=control)
    else:
        folder = Path(labeled_folder)  # type: ignore[arg-type]
        pixels, labels, names = yield from es.iter_folder_pixels(store, folder, control=control)
        feats = {}
        for e in (epoch, 0):
            yield Message(f"features of epoch {e} on {folder}")
            raw = yield from es.iter_pixels_features(store, e, pixels, device=device, control=control)
            feats[e] = es.centre_normalize(raw)[0]  # the same space as the session's features
    n_labelled = int((labels >= 0).sum())
    n_classes = len(np.unique(labels[labels >= 0]))
    if n_classes < 2:
        raise DcguiError(f"the folder {folder} has images of {n_classes} class: evaluation needs >= 2 classes")
    for step, (e, name) in enumerate(((epoch, f"epoch {epoch}"), (0, "random init (epoch 0)"))):
        if control is not None:
            control.check()
        yield PhaseProgress(PHASE_EVAL, step, 2, epoch)
        knn, lin, nmi = evaluate_features(feats[e], labels, leave_one_out=own, seed=seed)
        rows.append(EvalRow(name, e, knn, lin, nmi))
    yield PhaseProgress(PHASE_EVAL, 2, 2, epoch)
    report = EvalReport(
        epoch=epoch, rows=rows, folder=str(folder), n_images=n_labelled, n_classes=n_classes,
        class_names=list(names),
        knn_protocol="leave-one-out" if own else "stratified 50/50 split",
        linear_protocol="logistic regression (L-BFGS) on standardised features, stratified 50/50 split",
        seconds=time.perf_counter() - t0,
    )
    record_evaluation(store, report)
    return report


EVALUATIONS_FILE = "evaluations.json"  # in the session's derived cache (works for read-only sessions)
_KEEP_EVALUATIONS = 20


def _evaluations_path(store: SessionStore) -> Path:
    return es.explore_dir(store) / EVALUATIONS_FILE


def record_evaluation(store: SessionStore, report: EvalReport) -> None:
    """Keep ``report`` beside the session (its derived cache) for ``dcgui report`` / ``compare``.
    Best effort: a cache folder that cannot be written loses the note, not the evaluation."""
    import datetime as dt
    import json

    from dcgui.core.fsutil import atomic_write_text

    entries = stored_evaluations(store)[-(_KEEP_EVALUATIONS - 1):]
    entries.append({"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **report.to_dict()})
    path = _evaluations_path(store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entries, indent=1))
    except OSError:
        pass


def stored_evaluations(store: SessionStore) -> list[dict[str, Any]]:
    """The evaluations run on this session (oldest first), as ``EvalReport.to_dict`` plus ``time``."""
    import json

    try:
        data = json.loads(_evaluations_path(store).read_text())
    except (OSError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict) and "rows" in d] if isinstance(data, list) else []
