"""What training recorded, per epoch: metrics, assignments, cluster sizes and checkpoints.

**Compact assignments.** Per (epoch, chunk of ``CHUNK_SIZE`` images) one zlib blob of matched
ids in the smallest unsigned dtype; per epoch the ``mapping[raw] = matched`` array. Raw ids are
derived (``raw = inverse[matched]``), never stored twice. "Members of cluster c at epoch e"
decodes one epoch (N / CHUNK_SIZE blobs, LRU-cached); "history of image i" decodes the start of
one blob per epoch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from dcgui.core.errors import SessionFileError
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.core.lru import LRU
from dcgui.core.train.checkpoint import checkpoint_name
from dcgui.store import schema
from dcgui.store.database import Database, now, relpath_or_none
from dcgui.store.images import Images
from dcgui.store.info import SessionInfo

_ASSIGN_CACHE = 8  # decoded epochs kept (200k images: 0.8 MB each)
_METRIC_FIELDS = [f.name for f in dataclasses.fields(EpochMetrics)]
_OPTIONAL_METRICS = {"nmi_prev", "nmi_labels", "ari_labels", "ami_prev", "ami_labels"}


def assign_dtype(k: int) -> np.dtype:
    """The chunk dtype of an epoch with ``k`` clusters: its largest value stays free for "no cluster"."""
    return np.dtype("<u2") if k < schema.U2_LIMIT else np.dtype("<u4")


def decode_assign(raw: np.ndarray) -> np.ndarray:
    """Stored ids -> int32 with "no cluster" (the dtype's largest value) as -1 (schema v5)."""
    out = raw.astype(np.int32)
    out[raw == np.iinfo(raw.dtype).max] = -1
    return out


def encode_ids(ids: np.ndarray, dtype: np.dtype) -> bytes:
    return zlib.compress(np.ascontiguousarray(ids, dtype=dtype).tobytes(), 6)


class EpochData:
    """The ``epochs``, ``epoch_mappings``, ``assignments``, ``clusters`` and ``checkpoints``
    tables, with the last decoded epochs cached."""

    def __init__(self, database: Database, info: SessionInfo, images: Images) -> None:
        self._db = database
        self._info = info
        self._images = images
        self._cache: LRU[int, np.ndarray] = LRU(_ASSIGN_CACHE)
        self._cache_key: tuple[int, int] = (-1, -1)
        with database.checked():
            row = database.conn.execute("SELECT value FROM meta WHERE key = 'chunk_size'").fetchone()
        self._chunk_size = int(row[0]) if row else schema.CHUNK_SIZE

    @property
    def chunk_size(self) -> int:
        """Rows per stored assignment chunk, as this file was written."""
        return self._chunk_size

    def clear_cache(self) -> None:
        """Forget the decoded epochs (the next read decodes again)."""
        self._cache.clear()

    # writing ---------------------------------------------------------------------------------
    def record(self, ev: EpochFinished) -> None:
        """Store a finished epoch: metrics, assignments, clusters and its checkpoint, atomically.

        Re-recording an epoch replaces it (a resumed run that redid an epoch whose commit was
        lost). ``assign_matched`` must equal ``mapping[assign_raw]``.
        """
        m = ev.metrics
        epoch = int(m.epoch)
        if epoch < 1:
            raise ValueError(f"record_epoch: epoch {epoch} is invalid (epochs start at 1; 0 is only a checkpoint)")
        k = int(m.k)
        matched = np.asarray(ev.assign_matched)
        mapping = np.asarray(ev.mapping).astype(np.int64)
        raw = np.asarray(ev.assign_raw)
        n = self._images.count
        if matched.ndim != 1 or (n and matched.shape[0] != n):
            raise ValueError(f"record_epoch: epoch {epoch} has {matched.shape[0]} assignments but the session has {n} images")
        if mapping.shape != (k,) or not np.array_equal(np.sort(mapping), np.arange(k)):
            raise ValueError(f"record_epoch: the mapping of epoch {epoch} is not a permutation of range(k={k})")
        if matched.size and (matched.min() < -1 or matched.max() >= k):
            raise ValueError(f"record_epoch: epoch {epoch} has cluster ids outside [0, {k}) (or -1: no cluster)")
        if raw.shape != matched.shape or not np.array_equal(np.where(raw >= 0, mapping[np.maximum(raw, 0)], -1),
                                                            matched):
            raise ValueError(f"record_epoch: epoch {epoch}: assign_matched is not mapping[assign_raw]")
        dtype = assign_dtype(k)
        sizes = np.bincount(matched[matched >= 0], minlength=k)
        matched = np.where(matched >= 0, matched, np.iinfo(dtype).max)  # -1 (no cluster): the dtype's max
        inverse = np.empty(k, dtype=np.int64)
        inverse[mapping] = np.arange(k)
        cs = self.chunk_size
        chunks = [(epoch, c, encode_ids(matched[c * cs:(c + 1) * cs], dtype)) for c in range(-(-matched.size // cs))]
        row: dict[str, Any] = {f: getattr(m, f) for f in _METRIC_FIELDS}
        for f, v in row.items():  # SQLite turns NaN into NULL: keep the distinction explicit
            if isinstance(v, float) and math.isnan(v) and f not in _OPTIONAL_METRICS:
                row[f] = None
        row.update(n_images=int(matched.size), finished=now())
        mapping_blob = encode_ids(mapping, np.dtype("<i4"))
        mapping_row = {"epoch": epoch, "mapping": mapping_blob, "dtype": dtype.str}
        payload = sum(len(c[2]) for c in chunks) + len(mapping_blob) + 24 * k
        with self._db.write(need=2 * payload + (64 << 10)) as db:  # pages in the WAL, then in the file
            conn = db.conn
            conn.execute("DELETE FROM assignments WHERE epoch = ?", (epoch,))
            conn.execute("DELETE FROM clusters WHERE epoch = ?", (epoch,))
            db["epochs"].upsert(row, pk="epoch")
            db["epoch_mappings"].upsert(mapping_row, pk="epoch")
            conn.executemany("INSERT INTO assignments (epoch, chunk, data) VALUES (?, ?, ?)", chunks)
            conn.executemany(
                "INSERT INTO clusters (epoch, cluster, raw, size) VALUES (?, ?, ?, ?)",
                zip([epoch] * k, range(k), inverse.tolist(), sizes.tolist()),
            )
            if ev.checkpoint_path:
                self._insert_checkpoint(epoch, Path(ev.checkpoint_path), ev.checkpoint_sha256)
        self._cache.pop(epoch)

    def truncate(self, after: int, note: str = "made on a discarded epoch: can no longer be undone") -> None:
        """Forget epochs > ``after`` (rows only; checkpoint files are left on disk), with the merges
        and splits made on them: kept, they would reapply to the retrained epochs. Their edits
        are marked archived, with ``note`` (``editlog.archive_groups_after``). The run number goes
        up: an epoch trained again is another epoch than the one set aside."""
        from dcgui.store import editlog

        with self._db.write() as db:
            for table in ("assignments", "clusters", "epoch_mappings", "epochs", "checkpoints"):
                db.execute(f"DELETE FROM {table} WHERE epoch > ?", (int(after),))
            editlog.archive_groups_after(db.conn, int(after), note)
            db.execute("INSERT INTO meta (key, value) VALUES ('run', '1') ON CONFLICT(key) "
                       "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)")  # JSON text, as get_meta reads
        self._cache.clear()

    def run(self) -> int:
        """How many times later epochs were set aside (0: the first run). With the epoch number
        it names one trained epoch: caches of per-epoch numbers key on both."""
        value = self._db.scalar("SELECT value FROM meta WHERE key = 'run'")
        return int(value) if value is not None else 0

    # metrics ---------------------------------------------------------------------------------
    def metrics(self) -> list[EpochMetrics]:
        cols = ", ".join(_METRIC_FIELDS)
        with self._db.checked():
            rows = self._db.conn.execute(f"SELECT {cols} FROM epochs ORDER BY epoch").fetchall()
        out = []
        for r in rows:
            values = dict(zip(_METRIC_FIELDS, r))
            for f, v in values.items():
                if v is None and f not in _OPTIONAL_METRICS:
                    values[f] = math.nan  # a NaN loss (diverged run) was stored as NULL
            out.append(EpochMetrics(**values))
        return out

    def set_ami(self, values: dict[int, tuple[float | None, float | None]]) -> None:
        """Store ``{epoch: (ami_prev, ami_labels)}`` computed after the epoch was recorded (an
        epoch trained before AMI existed); one transaction."""
        with self._db.write() as db:
            db.conn.executemany("UPDATE epochs SET ami_prev = ?, ami_labels = ? WHERE epoch = ?",
                                [(p, lab, int(e)) for e, (p, lab) in values.items()])

    def last(self) -> int:
        """The last fully recorded epoch (0: none)."""
        return int(self._db.scalar("SELECT COALESCE(MAX(epoch), 0) FROM epochs"))

    # assignments -----------------------------------------------------------------------------
    def row(self, epoch: int) -> tuple[int, np.ndarray, np.dtype]:
        """(k, mapping[raw] = matched, the assignments' dtype) of ``epoch``; ``KeyError`` if absent."""
        with self._db.checked():
            row = self._db.conn.execute(
                "SELECT e.k, m.mapping, m.dtype FROM epochs e JOIN epoch_mappings m ON m.epoch = e.epoch "
                "WHERE e.epoch = ?", (int(epoch),)
            ).fetchone()
        if row is None:
            raise KeyError(f"epoch {epoch} is not recorded in {self._db.path.name} (last epoch: {self.last()})")
        k, blob, dtype = row
        try:
            mapping = np.frombuffer(zlib.decompress(blob), dtype="<i4")
            dt = np.dtype(dtype)
        except (zlib.error, ValueError, TypeError) as exc:
            raise self._bad_epoch(epoch, "cluster mapping", exc) from exc
        if mapping.shape != (int(k),) or not np.array_equal(np.sort(mapping), np.arange(int(k))):
            raise self._bad_epoch(epoch, "cluster mapping", f"not a permutation of {k} clusters")
        return int(k), mapping, dt

    def _bad_epoch(self, epoch: int, what: str, detail: object) -> SessionFileError:
        """A stored blob of ``epoch`` that does not decode (its page is fine, its content is not)."""
        earlier = f"epoch {epoch - 1} or earlier" if epoch > 1 else "a new session"
        return SessionFileError(
            f"the {what} of epoch {epoch} in {self._db.path} is damaged ({detail}): look at another epoch, "
            f"or continue training from {earlier} (`dcgui train ... --from-epoch {max(epoch - 1, 0)}` "
            "retrains this epoch and keeps the later ones' records in an archive)"
        )

    def matched(self, epoch: int) -> np.ndarray:
        """Decoded matched ids of ``epoch`` (shared, read-only; LRU-cached)."""
        with self._db.checked():
            key = self._db.version_key()
            if key != self._cache_key:  # another connection may have re-recorded an epoch
                self._cache.clear()
                self._cache_key = key
            hit = self._cache.get(epoch)
            if hit is not None:
                return hit
            k, _, dtype = self.row(epoch)
            blobs = self._db.conn.execute(
                "SELECT chunk, data FROM assignments WHERE epoch = ? ORDER BY chunk", (int(epoch),)
            ).fetchall()
            try:
                if [c for c, _ in blobs] != list(range(len(blobs))):
                    raise ValueError("chunks are missing")
                arr = decode_assign(np.frombuffer(b"".join(zlib.decompress(b) for _, b in blobs), dtype=dtype))
            except (zlib.error, ValueError, TypeError) as exc:
                raise self._bad_epoch(epoch, "assignments", exc) from exc
            n = self._images.count
            if arr.shape != (n,) or (n and (arr.min() < -1 or arr.max() >= k)):
                raise self._bad_epoch(epoch, "assignments", f"{arr.size} ids for {n} images, or ids outside [0, {k})")
            arr.setflags(write=False)
            self._cache.put(epoch, arr)
            return arr

    def assignments(self, epoch: int, matched: bool = True) -> np.ndarray:
        """Cluster id per image at ``epoch`` (int32): matched (display) ids, or k-means' raw ids;
        -1 for an image the epoch left out (flagged exclude while steering was on)."""
        ids = self.matched(epoch)
        if matched:
            return ids.copy()
        k, mapping, _ = self.row(epoch)
        inverse = np.empty(k, dtype=np.int32)
        inverse[mapping] = np.arange(k, dtype=np.int32)
        return np.where(ids >= 0, inverse[np.maximum(ids, 0)], -1).astype(np.int32)

    def cluster_members(self, epoch: int, cluster: int) -> np.ndarray:
        """Image indices in matched cluster ``cluster`` at ``epoch`` (int64, ascending)."""
        return np.flatnonzero(self.matched(epoch) == int(cluster)).astype(np.int64)

    def image_history(self, i: int) -> np.ndarray:
        """Matched cluster id of image ``i`` at epochs 1..last (int32; -1 where an epoch is missing
        or left the image out)."""
        n = self._images.count
        if not 0 <= i < n:
            raise IndexError(f"image index {i} is out of range (the session has {n} images)")
        cs = self.chunk_size
        chunk, offset = divmod(int(i), cs)
        dtypes = self._db.cached("dtypes", lambda: {
            int(e): np.dtype(d) for e, d in self._db.conn.execute("SELECT epoch, dtype FROM epoch_mappings")
        })
        with self._db.checked():
            rows = self._db.conn.execute(
                "SELECT epoch, data FROM assignments WHERE chunk = ? ORDER BY epoch", (chunk,)
            ).fetchall()
        last = rows[-1][0] if rows else 0
        out = np.full(last, -1, dtype=np.int32)
        for epoch, blob in rows:
            dt = dtypes.get(epoch)
            if dt is None:
                continue  # an epoch being re-recorded right now, or one whose mapping is gone
            need = (offset + 1) * dt.itemsize
            # Only inflate up to image i: on average half a chunk per epoch.
            try:
                head = zlib.decompressobj().decompress(blob, need)
                out[epoch - 1] = decode_assign(np.frombuffer(head[need - dt.itemsize:need], dtype=dt))[0]
            except (zlib.error, ValueError, TypeError, IndexError) as exc:
                raise self._bad_epoch(epoch, "assignments", exc) from exc
        return out

    def cluster_sizes(self, epoch: int) -> np.ndarray:
        """Images per matched cluster id at ``epoch`` (int64, length k)."""
        k, _, _ = self.row(epoch)
        sizes = np.zeros(k, dtype=np.int64)
        with self._db.checked():
            rows = self._db.conn.execute("SELECT cluster, size FROM clusters WHERE epoch = ?", (int(epoch),)).fetchall()
        if rows:
            ids, vals = zip(*rows)
            sizes[list(ids)] = vals
        return sizes

    # checkpoints -----------------------------------------------------------------------------
    def _insert_checkpoint(self, epoch: int, path: Path, sha256: str) -> None:
        if not path.is_absolute():
            path = self._info.data_dir / path
        stored = relpath_or_none(path, self._info.data_dir, inside_only=True) or str(path)
        self._db.db["checkpoints"].upsert({"epoch": int(epoch), "file": stored, "sha256": sha256 or None}, pk="epoch")

    def record_checkpoint(self, epoch: int, path: str | os.PathLike[str], sha256: str) -> None:
        with self._db.write():
            self._insert_checkpoint(epoch, Path(path), sha256)

    def checkpoints(self) -> list[tuple[int, Path, str]]:
        """(epoch, absolute path, sha256) of every recorded checkpoint, by epoch."""
        with self._db.checked():
            rows = self._db.conn.execute("SELECT epoch, file, sha256 FROM checkpoints ORDER BY epoch").fetchall()
        return [(int(e), self._info.path_guard.checkpoint(f, int(e)), s or "") for e, f, s in rows]

    def checkpoint_sha256(self, epoch: int) -> str:
        """The sha256 recorded for the checkpoint of ``epoch`` ("" when none was recorded)."""
        return str(self._db.scalar("SELECT sha256 FROM checkpoints WHERE epoch = ?", (int(epoch),)) or "")

    def checkpoint_path(self, epoch: int) -> Path:
        """The recorded checkpoint of ``epoch``, else where the engine writes it; a recorded file
        outside the data folder raises ``UnsafeSessionPath``."""
        f = self._db.scalar("SELECT file FROM checkpoints WHERE epoch = ?", (int(epoch),))
        return self._info.path_guard.checkpoint(f, int(epoch)) if f else self._info.checkpoint_dir / checkpoint_name(epoch)
