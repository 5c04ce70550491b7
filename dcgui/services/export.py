"""Exporting the trained backbone of an epoch: one path for ``dcgui export`` and the window.

``backbone_outputs`` checks where the files go (the model file and ``FILE.json`` beside it),
``backbone_source`` finds the epoch's checkpoint and its recorded sha256, ``export_backbone_file``
rebuilds the network on the CPU (a damaged or replaced checkpoint is refused by its sha256) and
writes it, and ``record_backbone_export`` notes it in the session under one kind,
``backbone-<format>``. The window runs ``export_backbone_file`` on a worker thread and records on
the GUI thread, which owns the session's connection; the CLI calls ``export_backbone``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.errors import DcguiError
from dcgui.core.fsutil import is_stream_output
from dcgui.services.outputs import output_file

if TYPE_CHECKING:
    from dcgui.store import SessionStore


def backbone_outputs(out: str | os.PathLike[str], session: str | os.PathLike[str]) -> Path:
    """The absolute path of the model file, after checking it and its ``.json`` beside it."""
    path = output_file(out, session, "exported backbone")
    if not is_stream_output(path):  # "-", a device or a FIFO is written into: no .json beside it
        output_file(f"{path}.json", session, "backbone's preprocessing file")
    return path


def backbone_source(store: SessionStore, epoch: int) -> tuple[Path, str]:
    """(checkpoint file, recorded sha256) of ``epoch``; a clear error when the file is missing."""
    path = store.checkpoint_path(epoch)
    if not path.is_file():
        raise DcguiError(f"the checkpoint of epoch {epoch} is missing from {store.checkpoint_dir}: "
                         "train the session again from an earlier epoch or export another one")
    return path, store.checkpoint_sha256(epoch)


def export_backbone_file(checkpoint: Path, sha256: str, epoch: int, fmt: str, out: Path) -> dict[str, Any]:
    """Rebuild the backbone of ``checkpoint`` on the CPU and write it as ``fmt`` to ``out`` (and
    ``out.json``); returns the metadata. Safe on a worker thread: it touches no session."""
    from dcgui.core.output.export import export_backbone as write_backbone
    from dcgui.core.train.checkpoint import load_model

    model, config = load_model(checkpoint, "cpu", sha256=sha256, epoch=epoch)
    meta: dict[str, Any] = write_backbone(model, config, epoch, fmt, out)
    return meta


def record_backbone_export(store: SessionStore, fmt: str, out: Path, epoch: int, meta: dict[str, Any]) -> bool:
    """Note the export in the session; False (nothing written) when the session is read-only."""
    if store.readonly:
        return False
    store.record_export(f"backbone-{fmt}", out, {"epoch": epoch, **(meta or {})})
    return True


def export_backbone(store: SessionStore, epoch: int, fmt: str, out: Path) -> tuple[dict[str, Any], bool]:
    """Export ``epoch``'s backbone to ``out`` (checked with ``backbone_outputs`` first) and record
    it: (metadata, whether the session recorded it)."""
    checkpoint, sha256 = backbone_source(store, epoch)
    meta = export_backbone_file(checkpoint, sha256, epoch, fmt, out)
    return meta, record_backbone_export(store, fmt, out, epoch, meta)
