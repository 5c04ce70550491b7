"""The session store: one SQLite file per DeepCluster session, and the one entry point to it.

``SessionStore`` is composed of parts that each own one job and share one connection:
``database`` (connection, integrity checks, migrations, transactions, caches, SQLite's errors
said as what to do), ``info`` (folders, configuration, versions, meta, export log), ``images``
(the image list, flags, named image groups), ``epoch_data`` (metrics, assignments and their
encoding, checkpoints), ``edits`` (apply / preview / undo / redo), ``groups`` (cluster names,
merges and splits) and ``archive`` (rewinding to an earlier epoch, which moves files). The
store's public API is kept: each method delegates to the part that owns the job
(``dcgui.store.delegate``: one typed line each).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dcgui.core.config import TrainConfig
from dcgui.store.archive import Archive
from dcgui.store.database import Database
from dcgui.store.delegate import delegate, delegate_property
from dcgui.store.edits import AppliedEdit, Editor
from dcgui.store.epochs import EpochData
from dcgui.store.groups import Groups
from dcgui.store.images import Images
from dcgui.store.info import SessionInfo


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
        self.images = Images(database, self.info, lambda: self.epoch_data.last())  # set just below
        self.epoch_data = EpochData(database, self.info, self.images)
        self.edits = Editor(database, self.images, self.epoch_data)
        self.groups = Groups(database, self.epoch_data, self.images, self.info)
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
    def open(cls, path: str | os.PathLike[str], readonly: bool = False, check: bool = True) -> SessionStore:
        """Open a session file; ``readonly`` for viewers; ``check`` False: no page scan, for a
        second connection to a file just opened (``Database.open``)."""
        path = Path(path).absolute()
        if path.is_symlink():  # the data folder NAME.dcgui.d is the one beside the real file
            path = Path(os.path.realpath(path))
        return cls(Database.open(path, readonly, check))

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r}{', readonly' if self.readonly else ''})"

    # Each line below is one public method or property of the store that one part owns: the
    # part's own signature and docstring (``delegate``), so mypy checks callers against it.

    # the connection and the trainer's claim
    claim_trainer = delegate("database", Database.claim_trainer)
    release_trainer = delegate("database", Database.release_trainer)
    is_trainer = delegate_property("database", Database.is_trainer)
    data_version = delegate("database", Database.data_version)
    integrity_check = delegate("database", Database.integrity_check)

    # the session record (info)
    data_dir = delegate_property("info", SessionInfo.data_dir)
    cache_dir = delegate_property("info", SessionInfo.cache_dir)
    checkpoint_dir = delegate_property("info", SessionInfo.checkpoint_dir)
    derived_cache_dir = delegate_property("info", SessionInfo.derived_cache_dir)
    folder = delegate_property("info", SessionInfo.folder)
    recorded_folder = delegate_property("info", SessionInfo.recorded_folder)
    path_guard = delegate_property("info", SessionInfo.path_guard)
    set_folder = delegate("info", SessionInfo.set_folder)
    config = delegate_property("info", SessionInfo.config)
    set_config = delegate("info", SessionInfo.set_config)
    created = delegate_property("info", SessionInfo.created)
    versions = delegate_property("info", SessionInfo.versions)
    get_meta = delegate("info", SessionInfo.get_meta)
    set_meta = delegate("info", SessionInfo.set_meta)
    record_export = delegate("info", SessionInfo.record_export)
    exports = delegate("info", SessionInfo.exports)

    # images
    set_images = delegate("images", Images.replace)
    check_image_list = delegate("images", Images.check_list)
    n_images = delegate_property("images", Images.count)
    n_images_now = delegate("images", Images.count_now)
    image_paths = delegate("images", Images.paths)
    image_files = delegate("images", Images.files)
    skipped = delegate("images", Images.skipped)
    label_names = delegate("images", Images.label_names)
    labels = delegate("images", Images.labels)
    image_info = delegate("images", Images.info)
    image_stats = delegate("images", Images.stats)
    image_flags = delegate("images", Images.flags)
    image_flag_sources = delegate("images", Images.flag_sources)
    image_groups = delegate("images", Images.groups)

    # epochs, assignments, checkpoints
    chunk_size = delegate_property("epoch_data", EpochData.chunk_size)
    record_epoch = delegate("epoch_data", EpochData.record)
    truncate_epochs = delegate("epoch_data", EpochData.truncate)
    epochs_run = delegate("epoch_data", EpochData.run)  # (run, epoch) names one trained epoch
    epochs = delegate("epoch_data", EpochData.metrics)
    set_epoch_ami = delegate("epoch_data", EpochData.set_ami)  # AMI of epochs recorded before it existed
    last_epoch = delegate("epoch_data", EpochData.last)
    assignments = delegate("epoch_data", EpochData.assignments)
    cluster_members = delegate("epoch_data", EpochData.cluster_members)
    image_history = delegate("epoch_data", EpochData.image_history)
    cluster_sizes = delegate("epoch_data", EpochData.cluster_sizes)
    record_checkpoint = delegate("epoch_data", EpochData.record_checkpoint)
    checkpoints = delegate("epoch_data", EpochData.checkpoints)
    checkpoint_sha256 = delegate("epoch_data", EpochData.checkpoint_sha256)
    checkpoint_path = delegate("epoch_data", EpochData.checkpoint_path)
    archive_dir = delegate_property("archive", Archive.dir)
    archive_epochs_after = delegate("archive", Archive.epochs_after)

    # groups and cluster user data
    cluster_user_data = delegate("groups", Groups.cluster_user_data)
    cluster_groups = delegate("groups", Groups.cluster_groups)
    dismissed_duplicates = delegate("groups", Groups.dismissed_duplicates)
    group_view = delegate("groups", Groups.view)
    steering = delegate("groups", Groups.steering)

    # edits: every change of user data is one logged edit
    preview_edit = delegate("edits", Editor.preview)
    apply_edit = delegate("edits", Editor.apply)
    undo = delegate("edits", Editor.undo)
    redo = delegate("edits", Editor.redo)
    edit_log = delegate("edits", Editor.log)
    next_undo_redo = delegate("edits", Editor.next_undo_redo)
    edit_log_token = delegate("edits", Editor.log_token)
    set_image_flag = delegate("edits", Editor.set_image_flag)
    set_image_group = delegate("edits", Editor.set_image_group)

    def set_cluster_name(self, c: int, name: str | None) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "name", name)

    def set_cluster_tags(self, c: int, tags: list[str]) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "tags", tags)

    def set_cluster_notes(self, c: int, text: str | None) -> AppliedEdit:
        return self.edits.set_cluster_field(c, "notes", text)
