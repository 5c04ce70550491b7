"""The session store: one SQLite file per DeepCluster session, and the one entry point to it.

``SessionStore`` is composed of parts that each own one job and share one connection:
``database`` (connection, integrity checks, migrations, transactions, caches, SQLite's errors
said as what to do), ``info`` (folders, configuration, versions, meta, export log), ``images``
(the image list, flags, named image groups), ``epoch_data`` (metrics, assignments and their
encoding, checkpoints), ``edits`` (apply / preview / undo / redo), ``groups`` (cluster names,
merges and splits) and ``archive`` (rewinding to an earlier epoch, which moves files). The
methods below keep the store's public API; each delegates to the part that owns the job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.analysis.groups import GroupView, MergeDef, SplitDef
from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.store.archive import Archive
from dcgui.store.database import Database
from dcgui.store.editlog import EditRecord
from dcgui.store.edits import HAND, AppliedEdit, Edit, Editor, EditPreview
from dcgui.store.epochs import EpochData
from dcgui.store.groups import Groups
from dcgui.store.images import Images
from dcgui.store.info import SessionInfo
from dcgui.store.paths import SessionPaths

if TYPE_CHECKING:
    from dcgui.core.images.collection import ImageRecord


class SessionStore:
    """A DeepCluster session on disk: config, images, per-epoch metrics and assignments, user data.

    Thread use: an instance may be handed to another thread (calls are serialised by a lock), but
    open one instance per concurrent user (e.g. ``open(path, readonly=True)`` for a viewer).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.path = database.path
        self.readonly = database.readonly
        self.db = database.db  # sqlite_utils over the connection, for tests and tools
        self.info = SessionInfo(database)
        self.images = Images(database, self.info, self.last_epoch)  # called after epoch_data is set
        self.epoch_data = EpochData(database, self.info, self.images)
        self.edits = Editor(database, self.images, self.epoch_data)
        self.groups = Groups(database, self.epoch_data)
        self.archive = Archive(database, self.info, self.epoch_data)

    # opening, closing, the trainer's claim -----------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], folder: str | os.PathLike[str], config: TrainConfig,
               meta: dict[str, Any] | None = None) -> SessionStore:
        """Create a new session file (``Database.create``) and its ``NAME.dcgui.d`` folder."""
        Database.create(Path(path).absolute(), Path(folder).absolute(), config, meta)
        store = cls.open(path)
        for d in (store.data_dir, store.cache_dir, store.checkpoint_dir):
            d.mkdir(parents=True, exist_ok=True)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], readonly: bool = False) -> SessionStore:
        """Open a session file; ``readonly`` for viewers (``Database.open``)."""
        return cls(Database.open(Path(path).absolute(), readonly))

    def close(self) -> None:
        self.database.close()

    def claim_trainer(self, command: str | None = None) -> None:
        self.database.claim_trainer(command)

    def release_trainer(self) -> None:
        self.database.release_trainer()

    @property
    def is_trainer(self) -> bool:
        return self.database.is_trainer

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r}{', readonly' if self.readonly else ''})"

    def data_version(self) -> int:
        return self.database.data_version()

    def integrity_check(self) -> str:
        return self.database.integrity_check()

    # the session record (info) ------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.info.data_dir

    @property
    def cache_dir(self) -> Path:
        return self.info.cache_dir

    @property
    def checkpoint_dir(self) -> Path:
        return self.info.checkpoint_dir

    @property
    def derived_cache_dir(self) -> Path:
        return self.info.derived_cache_dir

    @property
    def folder(self) -> Path:
        return self.info.folder

    @property
    def path_guard(self) -> SessionPaths:
        return self.info.path_guard

    def set_folder(self, folder: str | os.PathLike[str]) -> None:
        self.info.set_folder(folder)

    @property
    def config(self) -> TrainConfig:
        return self.info.config

    def set_config(self, cfg: TrainConfig) -> None:
        self.info.set_config(cfg)

    @property
    def created(self) -> str:
        return self.info.created

    @property
    def versions(self) -> dict[str, Any]:
        return self.info.versions

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.info.get_meta(key, default)

    def set_meta(self, key: str, value: Any) -> None:
        self.info.set_meta(key, value)

    def record_export(self, kind: str, path: str | os.PathLike[str], details: dict[str, Any]) -> None:
        self.info.record_export(kind, path, details)

    def exports(self) -> list[dict[str, Any]]:
        return self.info.exports()

    # images ---------------------------------------------------------------------------------
    def set_images(self, records: Sequence[ImageRecord], skipped: list[tuple[str, str]],
                   label_names: list[str] | None = None, sizes: np.ndarray | None = None) -> None:
        self.images.replace(records, skipped, label_names, sizes)

    @property
    def n_images(self) -> int:
        return self.images.count

    def image_paths(self) -> list[str]:
        return self.images.paths()

    def image_files(self, indices: Iterable[int] | None = None) -> list[Path]:
        return self.images.files(indices)

    def skipped(self) -> list[tuple[str, str]]:
        return self.images.skipped()

    def label_names(self) -> list[str]:
        return self.images.label_names()

    def labels(self) -> np.ndarray | None:
        return self.images.labels()

    def image_info(self, i: int) -> dict[str, Any]:
        return self.images.info(i)

    def image_stats(self) -> dict[str, np.ndarray]:
        return self.images.stats()

    def image_flags(self) -> dict[int, str]:
        return self.images.flags()

    def image_flag_sources(self) -> dict[int, tuple[str, str]]:
        return self.images.flag_sources()

    def image_groups(self) -> dict[str, list[int]]:
        return self.images.groups()

    # epochs, assignments, checkpoints -----------------------------------------------------------
    @property
    def chunk_size(self) -> int:
        return self.epoch_data.chunk_size

    def record_epoch(self, ev: EpochFinished) -> None:
        self.epoch_data.record(ev)

    def truncate_epochs(self, after: int) -> None:
        self.epoch_data.truncate(after)

    def epochs_run(self) -> int:
        """How many times later epochs were set aside: (run, epoch) names one trained epoch."""
        return self.epoch_data.run()

    def epochs(self) -> list[EpochMetrics]:
        return self.epoch_data.metrics()

    def last_epoch(self) -> int:
        return self.epoch_data.last()

    def assignments(self, epoch: int, matched: bool = True) -> np.ndarray:
        return self.epoch_data.assignments(epoch, matched)

    def cluster_members(self, epoch: int, cluster: int) -> np.ndarray:
        return self.epoch_data.cluster_members(epoch, cluster)

    def image_history(self, i: int) -> np.ndarray:
        return self.epoch_data.image_history(i)

    def cluster_sizes(self, epoch: int) -> np.ndarray:
        return self.epoch_data.cluster_sizes(epoch)

    def record_checkpoint(self, epoch: int, path: str | os.PathLike[str], sha256: str) -> None:
        self.epoch_data.record_checkpoint(epoch, path, sha256)

    def checkpoints(self) -> list[tuple[int, Path, str]]:
        return self.epoch_data.checkpoints()

    def checkpoint_sha256(self, epoch: int) -> str:
        return self.epoch_data.checkpoint_sha256(epoch)

    def checkpoint_path(self, epoch: int) -> Path:
        return self.epoch_data.checkpoint_path(epoch)

    @property
    def archive_dir(self) -> Path:
        return self.archive.dir

    def archive_epochs_after(self, epoch: int) -> Path:
        return self.archive.epochs_after(epoch)

    # groups and cluster user data ---------------------------------------------------------------
    def cluster_user_data(self) -> dict[int, dict[str, Any]]:
        return self.groups.cluster_user_data()

    def cluster_groups(self) -> tuple[list[SplitDef], list[MergeDef]]:
        return self.groups.cluster_groups()

    def group_view(self, epoch: int) -> GroupView:
        return self.groups.view(epoch)

    # edits: every change of user data is one logged edit ---------------------------------------
    def preview_edit(self, edit: Edit) -> EditPreview:
        return self.edits.preview(edit)

    def apply_edit(self, edit: Edit) -> AppliedEdit:
        return self.edits.apply(edit)

    def undo(self, steps: int = 1) -> list[EditRecord]:
        return self.edits.undo(steps)

    def redo(self, steps: int = 1) -> list[EditRecord]:
        return self.edits.redo(steps)

    def edit_log(self) -> list[EditRecord]:
        return self.edits.log()

    def next_undo_redo(self) -> tuple[EditRecord | None, EditRecord | None]:
        return self.edits.next_undo_redo()

    def set_image_flag(self, indices: int | Iterable[int], flag: str | None, source: str = HAND,
                       action: str = "") -> AppliedEdit:
        return self.edits.set_image_flag(indices, flag, source, action)

    def set_image_group(self, name: str, indices: Iterable[int] | None) -> AppliedEdit:
        return self.edits.set_image_group(name, indices)

    def set_cluster_name(self, c: int, name: str | None) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "name", name)

    def set_cluster_tags(self, c: int, tags: list[str]) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "tags", tags)

    def set_cluster_notes(self, c: int, text: str | None) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "notes", text)
