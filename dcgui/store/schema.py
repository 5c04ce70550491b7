"""The session file's schema and its migrations.

The schema version lives in ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as
a dcgui session so another program's SQLite file is recognised and left alone. ``MIGRATIONS[v]``
upgrades a file from version ``v`` to ``v + 1`` (``MIGRATIONS[0]`` builds the schema of an empty
file), so ``SCHEMA_VERSION == len(MIGRATIONS)``. Every migration runs inside the caller's
transaction: a failed upgrade leaves the file as it was.

To change the schema: append a function to ``MIGRATIONS`` (never edit an old one) and teach
``dcgui.store.session`` the new layout.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

APPLICATION_ID = 0x64634755  # "dcGU": written into the SQLite header of every session file

# Images per assignment chunk. A chunk of matched ids is one zlib blob: "history of image i"
# inflates (the start of) one blob per epoch and "members of cluster c" all N / CHUNK_SIZE blobs
# of one epoch. 1024 balances the two: zlib compresses 1024 ids as well as 4096 (1.57 vs 1.54
# bytes per id on random ids), while a history over 500 epochs inflates 4x fewer bytes.
# Each file records its own chunk size (meta "chunk_size"), so this may change between versions.
CHUNK_SIZE = 1024
# "No cluster" in an assignment chunk: the largest value of the chunk's dtype (see _v5).
U2_LIMIT = 0xFFFF


def _v1(db: sqlite_utils.Database) -> None:
    db["session"].create(
        {
            "id": int,
            "config": str,  # TrainConfig JSON
            "folder": str,  # absolute
            "folder_rel": str,  # relative to the session file's directory (the file may move)
            "created": str,  # ISO 8601, UTC
            "dcgui_version": str,
            "torch_version": str,
            "python_version": str,
            "schema_version": int,
        },
        pk="id",
        not_null=["config", "folder", "created"],
    )
    # idx: the image index (row of every array) for usable images, NULL for skipped files.
    db["images"].create(
        {
            "id": int,
            "idx": int,
            "path": str,  # relative to the session's folder, "/" separators
            "size": int,
            "mtime_ns": int,
            "width": int,
            "height": int,
            "label": str,  # ground-truth label name (class sub-folder) or NULL
            "status": str,  # "ok" or "skipped"
            "reason": str,  # why a file was skipped
        },
        pk="id",
        not_null=["path", "status"],
    )
    db["images"].create_index(["idx"], unique=True)
    db["images"].create_index(["path"], unique=True)
    # One column per dcgui.core.events.EpochMetrics field. Small rows: the GUI re-reads all of
    # them whenever a new epoch arrives; the per-epoch blobs live in epoch_mappings.
    db["epochs"].create(
        {
            "epoch": int,
            "nmi_prev": float,
            "nmi_labels": float,
            "ari_labels": float,
            "loss": float,
            "kmeans_objective": float,
            "k": int,
            "empty_clusters": int,
            "min_cluster": int,
            "max_cluster": int,
            "size_entropy": float,
            "seconds_features": float,
            "seconds_clustering": float,
            "seconds_training": float,
            "images_per_second": float,
            "n_images": int,
            "finished": str,  # ISO 8601, UTC
        },
        pk="epoch",
        not_null=["k"],
    )
    # The raw -> matched mapping (``mapping[raw] = matched``, k int32, zlib) and the dtype of
    # the epoch's assignment chunks.
    db["epoch_mappings"].create(
        {"epoch": int, "mapping": bytes, "dtype": str},  # dtype: "<u2" when k <= 65535, else "<u4"
        pk="epoch",
        not_null=["mapping", "dtype"],
        foreign_keys=[("epoch", "epochs", "epoch")],
    )
    # Matched ids only; raw ids are derived through the epoch's mapping.
    db["assignments"].create(
        {"epoch": int, "chunk": int, "data": bytes},
        pk=("epoch", "chunk"),
        not_null=["data"],
        foreign_keys=[("epoch", "epochs", "epoch")],
    )
    # History of one image = one row per epoch with the same chunk: this index finds them.
    db["assignments"].create_index(["chunk", "epoch"])
    db["clusters"].create(
        {"epoch": int, "cluster": int, "raw": int, "size": int},
        pk=("epoch", "cluster"),
        not_null=["raw", "size"],
        foreign_keys=[("epoch", "epochs", "epoch")],
    )
    # User data keyed by matched cluster id, which is stable across epochs.
    db["cluster_user"].create(
        {"cluster": int, "name": str, "tags": str, "notes": str}, pk="cluster"
    )
    # Keyed by path so flags survive a rescan that shifts image indices.
    db["image_flags"].create({"path": str, "flag": str}, pk="path", not_null=["flag"])
    db["checkpoints"].create(
        {"epoch": int, "file": str, "sha256": str},  # file: relative to NAME.dcgui.d/
        pk="epoch",
        not_null=["file"],
    )
    db["exports"].create(
        {"id": int, "kind": str, "path": str, "details": str, "time": str},
        pk="id",
        not_null=["kind", "path", "time"],
    )
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["meta"].insert({"key": "chunk_size", "value": str(CHUNK_SIZE)})


def _v2(db: sqlite_utils.Database) -> None:
    """Edit log (undo/redo), flag provenance, merged and split clusters."""
    # Who set a flag: "hand" (the user chose these images) or "bulk" (a rule picked them, e.g.
    # "keep one per duplicate group"). Bulk actions never change a hand-set flag unless asked to.
    # Flags from before provenance existed count as hand-set: nothing overwrites them silently.
    db.execute("ALTER TABLE image_flags ADD COLUMN source TEXT NOT NULL DEFAULT 'hand'")
    # One row per user edit; ``changes`` (zlib JSON) holds every touched row's before and after,
    # so undo writes the befores back and redo the afters. undone = 1: on the redo stack.
    db.execute(
        "CREATE TABLE edits (id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, "
        "summary TEXT NOT NULL, changes BLOB NOT NULL, rows INTEGER NOT NULL, undone INTEGER NOT NULL DEFAULT 0)"
    )
    # Merges and splits on top of the clusters of ``epoch`` (and every later epoch: matched ids
    # are stable). A split stores each image's part (``labels``: zlib "<u2", every image, so members
    # that join the cluster later have a part too); a merge its units (JSON: clusters / split parts).
    # AUTOINCREMENT: the id of a deleted (undone) group is never reused for another one.
    db.execute(
        "CREATE TABLE cluster_groups (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
        "epoch INTEGER NOT NULL, cluster INTEGER, parts INTEGER, labels BLOB, units TEXT, "
        "name TEXT, names TEXT, created TEXT NOT NULL)"
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Edit ids are never reused (AUTOINCREMENT): after an undo and a new edit, another window's
    Undo menu could name an edit by the id of a different one. ``undone`` gains a third state:
    0 = done, 1 = undone (the redo stack), 2 = archived by a rewind (the merge or split belongs to
    discarded epochs: neither undone nor redone here)."""
    db.execute(
        "CREATE TABLE edits_v3 (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL, "
        "summary TEXT NOT NULL, changes BLOB NOT NULL, rows INTEGER NOT NULL, undone INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute("INSERT INTO edits_v3 (id, time, kind, summary, changes, rows, undone) "
               "SELECT id, time, kind, summary, changes, rows, undone FROM edits")
    db.execute("DROP TABLE edits")
    db.execute("ALTER TABLE edits_v3 RENAME TO edits")


def _v4(db: sqlite_utils.Database) -> None:
    """Adjusted mutual information per epoch (``EpochMetrics.ami_prev`` / ``ami_labels``).

    NULL in the epochs trained before: ``services.metrics.iter_missing_ami`` computes them from the
    stored assignments when such a session is opened."""
    db.execute("ALTER TABLE epochs ADD COLUMN ami_prev REAL")
    db.execute("ALTER TABLE epochs ADD COLUMN ami_labels REAL")


def _v5(db: sqlite_utils.Database) -> None:
    """Steering (issue 24): what each epoch's clustering respected, and "Not duplicates" decisions.

    Assignment chunks may now hold "no cluster" (an image flagged exclude that an epoch left out):
    the dtype's largest value (0xFFFF / 0xFFFFFFFF), read back as -1. ``<u2`` is used while
    k < 65535, so that value is never a cluster id; older files never contain it.
    """
    for col in ("excluded", "merges_applied", "splits_applied", "steered_images"):
        db.execute(f"ALTER TABLE epochs ADD COLUMN {col} INTEGER NOT NULL DEFAULT 0")
    # A near-duplicate group the person marked "not duplicates". key: a hash of its members'
    # paths, sizes and mtimes, so the group comes back only when one of its images changes.
    db.execute("CREATE TABLE dismissed_duplicates (key TEXT PRIMARY KEY, paths TEXT NOT NULL, "
               "created TEXT NOT NULL)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)
