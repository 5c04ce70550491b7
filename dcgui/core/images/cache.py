"""The decoded-image cache: every usable image as ``size x size`` uint8 RGB in one memory-mapped
file, plus a 128-px JPEG thumbnail per image in one pack file.

DeepCluster reads every image every epoch, so images are decoded exactly once (on threads) and
all epochs read the memory map. The cache follows the folder: rows whose file is unchanged
(same relative path, byte size and mtime) are reused, only new or changed files are decoded,
removed files are dropped.

On-disk layout (``S`` = cache size, ``G`` = a random generation token)::

    index_S.json        the commit point: which rows of which data files hold which image
    data_S_G.u8         raw uint8 rows of S*S*3 bytes
    thumbs_S_G.bin      JPEG thumbnails back to back (offsets and lengths in the index)

Data files are never modified after the index names them: a build writes new files, then
replaces the index atomically (write, fsync, rename) and deletes files no index names. A build
that is stopped (or killed) keeps what it decoded: the index it leaves (at the stop, and every
``COMMIT_INTERVAL_S`` while decoding) is marked incomplete and lists only finished rows, and
the next build reuses them and decodes the rest. ``ImageCache.open`` accepts only a complete index.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dcgui.core.control import RunControl, iter_pause_point
from dcgui.core.errors import DcguiError, DiskFullError, UnusableCollectionError
from dcgui.core.events import PHASE_CACHE, Event, Message, PhaseProgress
from dcgui.core.fsutil import atomic_write_bytes, disk_full_error, is_disk_full
from dcgui.core.images import imageio
from dcgui.core.images.collection import ImageRecord

FORMAT = 1
THUMB_SIDE = 128  # long side of a thumbnail, in pixels (never upscaled)
THUMB_QUALITY = 85
PROGRESS_INTERVAL_S = 0.2
COMMIT_INTERVAL_S = 30.0  # a killed build loses at most this much decoding work
_COPY_CHUNK_BYTES = 64 << 20
# First looks (issue 22): a new folder of big photos can take minutes to decode, so the images decoded
# so far are handed to a hook (which clusters them) after FIRST_LOOK_AFTER_S of decoding, then at
# growing intervals; none once FIRST_LOOK_LAST_FRACTION of the images are done (epoch 1 is near).
FIRST_LOOK_AFTER_S = 4.0
FIRST_LOOK_GROWTH = 2.0
FIRST_LOOK_MIN_IMAGES = 20
FIRST_LOOK_LAST_FRACTION = 0.9
LOOK_WINDOW_PER_WORKER = 64  # files queued per decoding thread while a look runs (a few MB of rows)


@dataclass
class DecodedSoFar:
    """What a cache build has decoded so far, handed to a first-look hook while it goes on.

    ``positions``: record positions (int64, ascending) of the usable images decoded so far,
    reused rows included; ``pixels``: their cache squares (a copy, row i = ``positions[i]``);
    ``total``: the records of the build; ``thumbnail(position)``: that image's thumbnail JPEG
    (readable while the hook runs)."""

    positions: np.ndarray
    relpaths: list[str]
    total: int
    pixels: np.ndarray
    thumbnail: Callable[[int], bytes]


@dataclass(frozen=True)
class LookTiming:
    """When a cache build makes first looks: after ``after_s`` seconds of decoding with at least
    ``min_images`` usable, then after gaps growing ``growth`` times (and at least 3x as long as
    the last look took, so looks cost at most about a quarter of the decoding time), none once
    ``last_fraction`` of the records are done."""

    after_s: float = FIRST_LOOK_AFTER_S
    growth: float = FIRST_LOOK_GROWTH
    min_images: int = FIRST_LOOK_MIN_IMAGES
    last_fraction: float = FIRST_LOOK_LAST_FRACTION


@dataclass(frozen=True)
class FirstLooks:
    """A cache build hands what it has decoded so far to ``hook`` (a generator of events that the
    build yields on) at the times ``timing`` says. The decoding threads go on meanwhile, with
    ``LOOK_WINDOW_PER_WORKER`` files each queued before the look starts."""

    hook: Callable[[DecodedSoFar], Generator[Event, None, None]]
    timing: LookTiming = LookTiming()


@dataclass
class _Row:
    """Where one decoded image lives: row ``row`` of data file ``data``, thumbnail bytes
    ``[toff, toff + tlen)`` of pack ``thumbs``."""

    record: ImageRecord
    width: int  # full-resolution size as displayed (after EXIF rotation)
    height: int
    data: str
    row: int
    thumbs: str
    toff: int
    tlen: int


@dataclass
class _Failure:
    record: ImageRecord
    reason: str

    @property
    def retry(self) -> bool:
        """Permissions and I/O errors can change without the file changing: try those again."""
        return self.reason.startswith("unreadable")


@dataclass
class _Index:
    size: int
    complete: bool
    rows: list[_Row]
    failed: list[_Failure]

    def files(self) -> set[str]:
        return {r.data for r in self.rows} | {r.thumbs for r in self.rows}


class _CacheDamaged(Exception):
    """The index or a file it names is unusable (the builder starts over, viewers get an error)."""


class ImageCache:
    """Decoded images of a collection (read-only). Row ``i`` of ``pixels`` is ``records[i]``.

    ``pixels``: (N, size, size, 3) uint8 memory map; ``records``: the usable images in order;
    ``failed``: (relpath, reason) of the files that could not be decoded;
    ``original_sizes``: (N, 2) int32 full-resolution (width, height) as displayed.
    Thumbnail reads are thread-safe (the pack is memory-mapped).
    """

    def __init__(self, cache_dir: Path, size: int, pixels: np.ndarray, records: list[ImageRecord],
                 failed: list[tuple[str, str]], original_sizes: np.ndarray, thumbs: np.ndarray,
                 thumb_offsets: np.ndarray, thumb_lengths: np.ndarray) -> None:
        self.cache_dir = cache_dir
        self.size = size
        self.pixels = pixels
        self.records = records
        self.failed = failed
        self.original_sizes = original_sizes
        self._thumbs = thumbs
        self._thumb_offsets = thumb_offsets
        self._thumb_lengths = thumb_lengths

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"ImageCache({str(self.cache_dir)!r}, size={self.size}, images={len(self)}, failed={len(self.failed)})"

    # -- thumbnails -----------------------------------------------------------------------------
    def thumbnail_jpeg(self, i: int) -> bytes:
        """JPEG bytes of image ``i``'s thumbnail (long side 128 px, or less for smaller images)."""
        if not 0 <= i < len(self.records):
            raise IndexError(f"image index {i} is out of range (the cache holds {len(self.records)} images)")
        off = int(self._thumb_offsets[i])
        return bytes(self._thumbs[off:off + int(self._thumb_lengths[i])])

    def thumbnail(self, i: int) -> np.ndarray:
        """Image ``i``'s thumbnail decoded to an (H, W, 3) uint8 array."""
        with Image.open(io.BytesIO(self.thumbnail_jpeg(i))) as im:
            return np.asarray(im.convert("RGB"))

    def close(self) -> None:
        """Drop the memory maps (lets Windows delete the files); the object is unusable afterwards."""
        self.pixels = np.zeros((0, self.size, self.size, 3), np.uint8)
        self._thumbs = np.zeros(0, np.uint8)

    # -- opening --------------------------------------------------------------------------------
    @staticmethod
    def built(cache_dir: Path, size: int) -> bool:
        """Whether a finished build of ``size`` is in ``cache_dir`` (readable or damaged).

        False while there is none yet or a build is under way: a viewer then waits instead of
        reporting an error."""
        try:
            index = _read_index(Path(cache_dir), size)
        except (_CacheDamaged, FileNotFoundError):
            return True  # present but unreadable: ``open`` says why
        return index is not None and index.complete

    @classmethod
    def open(cls, cache_dir: Path, size: int) -> ImageCache:
        """Open the complete cache of ``size`` in ``cache_dir`` read-only (for viewers).

        Raises ``DcguiError`` naming the folder when there is none, it is incomplete or damaged.
        """
        cache_dir = Path(cache_dir)
        for attempt in range(3):
            try:
                index = _read_index(cache_dir, size)
                if index is None:
                    raise DcguiError(
                        f"there is no image cache of size {size} in {cache_dir}: prepare the session "
                        "first (open it in the dcgui window, or run `dcgui train FOLDER --session SESSION` on it)"
                    )
                if not index.complete:
                    raise DcguiError(
                        f"the image cache in {cache_dir} is incomplete (its build was stopped): "
                        "run `dcgui train FOLDER --session SESSION` again (or open the session in the window) to finish it"
                    )
                return cls._from_index(cache_dir, index)
            except (_CacheDamaged, FileNotFoundError) as exc:
                if attempt < 2:  # a build may have replaced the files while we read: look again
                    time.sleep(0.05)
                    continue
                raise DcguiError(
                    f"the image cache in {cache_dir} is damaged ({exc}): run `dcgui train FOLDER --session SESSION` "
                    "again (or open the session in the window) to rebuild it"
                ) from exc
        raise AssertionError("unreachable")

    @classmethod
    def _from_index(cls, cache_dir: Path, index: _Index) -> ImageCache:
        size, rows = index.size, index.rows
        n = len(rows)
        if n and (len({(r.data, r.thumbs) for r in rows}) != 1 or [r.row for r in rows] != list(range(n))):
            raise _CacheDamaged("rows are not in image order")
        pixels: np.ndarray
        if n:
            pixels = np.memmap(cache_dir / rows[0].data, np.uint8, "r", shape=(n, size, size, 3))
            thumb_file = cache_dir / rows[0].thumbs
            thumbs = (np.memmap(thumb_file, np.uint8, "r") if thumb_file.stat().st_size
                      else np.zeros(0, np.uint8))
        else:
            pixels = np.zeros((0, size, size, 3), np.uint8)
            thumbs = np.zeros(0, np.uint8)
        return cls(
            cache_dir, size, pixels,
            records=[r.record for r in rows],
            failed=[(f.record.relpath, f.reason) for f in index.failed],
            original_sizes=np.array([(r.width, r.height) for r in rows], np.int32).reshape(n, 2),
            thumbs=thumbs,
            thumb_offsets=np.array([r.toff for r in rows], np.int64),
            thumb_lengths=np.array([r.tlen for r in rows], np.int64),
        )

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def iter_build(
        cls,
        cache_dir: Path,
        folder: Path,
        records: list[ImageRecord],
        size: int,
        workers: int = 0,
        control: RunControl | None = None,
        first_looks: FirstLooks | None = None,
    ) -> Generator[Event, None, ImageCache]:
        """Bring the cache of ``records`` (files under ``folder``) at ``size`` up to date.

        Yields ``PhaseProgress("cache", done, total)`` about every 0.2 s or 1 % (reused rows count
        as done at once), ``Paused``/``Resumed`` while ``control`` is paused, and a ``Message``
        when a damaged cache is discarded. Files that fail to decode end up in ``.failed``.
        Raises ``UnusableCollectionError`` when none of ``records`` can be decoded and
        ``StopRequested`` when ``control`` asks to stop (the decoded rows are kept for next time).
        ``first_looks``: while decoding, hand the images decoded so far to its hook and yield what
        it yields (see ``FirstLooks``).
        """
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"cache size={size!r} is invalid: use a positive number of pixels")
        if workers < 0:
            raise ValueError("workers must be >= 0 (0 means one per CPU core)")
        relpaths = [r.relpath for r in records]
        if len(set(relpaths)) != len(relpaths):
            raise ValueError("records contain the same relative path twice: pass each file once")
        cache_dir = Path(cache_dir)
        folder = Path(folder)
        cache_dir.mkdir(parents=True, exist_ok=True)
        builder = _Builder(cache_dir, folder, list(records), size, workers or os.cpu_count() or 1, control)
        builder.first_looks = first_looks
        return (yield from builder.run())


class _Builder:
    """One run of ``ImageCache.iter_build`` (state shared by the decode loop and the commits)."""

    def __init__(self, cache_dir: Path, folder: Path, records: list[ImageRecord], size: int,
                 workers: int, control: RunControl | None) -> None:
        self.cache_dir, self.folder, self.records, self.size = cache_dir, folder, records, size
        self.workers, self.control = workers, control
        self.row_bytes = size * size * 3
        self.reused: dict[int, _Row] = {}  # record position -> row of an existing data file
        self.known_failed: dict[int, _Failure] = {}
        self.todo: list[int] = []  # record positions to decode; the t-th goes to stage row t
        self.decoded: dict[int, _Row] = {}
        self.new_failed: dict[int, _Failure] = {}
        self.stage_data = ""
        self.stage_thumbs = ""
        self._stage_fh: Any = None
        self._thumb_fh: Any = None
        self._thumb_end = 0
        self.first_looks: FirstLooks | None = None

    # -- plan -------------------------------------------------------------------------------------
    def run(self) -> Generator[Event, None, ImageCache]:
        old: _Index | None
        try:
            old = _read_index(self.cache_dir, self.size)
        except _CacheDamaged as exc:
            yield Message(f"the image cache in {self.cache_dir} was damaged ({exc}); rebuilding it", "warning")
            old = None
        old_rows = {r.record.key: r for r in old.rows} if old else {}
        old_failed = {f.record.key: f for f in old.failed} if old else {}
        for pos, rec in enumerate(self.records):
            if rec.key in old_rows:
                found = old_rows[rec.key]
                self.reused[pos] = _Row(rec, found.width, found.height, found.data, found.row,
                                        found.thumbs, found.toff, found.tlen)
            elif rec.key in old_failed and not old_failed[rec.key].retry:
                self.known_failed[pos] = _Failure(rec, old_failed[rec.key].reason)
            else:
                self.todo.append(pos)
        self._gc(keep=old.files() if old else set())  # leftovers of a killed build

        if self.todo:
            self._open_stage()
        try:
            yield from self._decode_all()
            final = self._assemble(old)
        except BaseException:
            # Stopped, closed or failed: keep the finished rows for the next build. The original
            # exception matters more than a failed save (the next build just redoes the work).
            with contextlib.suppress(Exception):
                self._commit_partial()
            raise
        finally:
            self._close_stage()
        n_ok = len(final.rows)
        if n_ok == 0:
            raise UnusableCollectionError(self._nothing_usable_message(final))
        return ImageCache._from_index(self.cache_dir, final)

    def _nothing_usable_message(self, final: _Index) -> str:
        first = final.failed[0] if final.failed else None
        text = f"{self.folder} holds no usable image: "
        if first is None:
            return text + "found 0 image files. Choose a folder of photos."
        n = len(final.failed)
        return (text + f"all {n} image file{'s' if n != 1 else ''} failed to decode; first: "
                f"{first.record.relpath}: {first.reason}. Check that the files open in an image viewer.")

    # -- decoding ---------------------------------------------------------------------------------
    def _ensure_space(self, need: int) -> None:
        free = shutil.disk_usage(self.cache_dir).free
        if need > free:
            raise DiskFullError(
                f"not enough disk space for the image cache in {self.cache_dir}: it needs "
                f"{need / 1e9:.1f} GB and {free / 1e9:.1f} GB are free. Free some space or choose a "
                "smaller image size"
            )

    def _open_stage(self) -> None:
        need = len(self.todo) * self.row_bytes
        self._ensure_space(need)
        token = secrets.token_hex(6)
        self.stage_data = f"data_{self.size}_{token}.u8"
        self.stage_thumbs = f"thumbs_{self.size}_{token}.bin"
        # Plain file writes (not a writable memory map): a full disk is then an OSError, not SIGBUS.
        self._stage_fh = open(self.cache_dir / self.stage_data, "w+b")  # noqa: SIM115
        self._stage_fh.truncate(need)
        self._thumb_fh = open(self.cache_dir / self.stage_thumbs, "wb")  # noqa: SIM115
        self._thumb_end = 0

    def _close_stage(self) -> None:
        for fh in (self._stage_fh, self._thumb_fh):
            if fh is not None:
                with contextlib.suppress(OSError):
                    fh.close()
        self._stage_fh = self._thumb_fh = None

    def _flush_stage(self) -> None:
        for fh in (self._stage_fh, self._thumb_fh):
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())

    def _decode_all(self) -> Generator[Event, None, None]:
        total = len(self.records)
        base = len(self.reused) + len(self.known_failed)
        yield PhaseProgress(PHASE_CACHE, base, total)
        if not self.todo:
            return
        step = max(1, total // 100)
        t_start = last_report = last_commit = time.perf_counter()
        last_done = base
        window = 4 * self.workers  # bounded: results wait in memory only briefly
        next_t = 0
        looks = self.first_looks.timing if self.first_looks is not None else None
        # With first looks the files are decoded in a seeded random order, so the images decoded
        # so far are a sample of the whole folder, not its first sub-folders. Each still goes to
        # its own stage row (todo order), so the finished file is the same either way.
        order = (np.random.default_rng(0).permutation(len(self.todo)) if looks is not None
                 else np.arange(len(self.todo)))
        look_gap = looks.after_s if looks is not None else 0.0
        next_look = look_gap if looks is not None else float("inf")  # seconds after t_start
        pending: dict[Future[_Decoded | str], int] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="dcgui-decode") as pool:
            try:
                while pending or next_t < len(self.todo):
                    next_t = self._submit(pool, pending, order, next_t, window)
                    done, _ = wait(pending, timeout=PROGRESS_INTERVAL_S, return_when=FIRST_COMPLETED)
                    for fut in done:
                        self._store(pending.pop(fut), fut.result())
                    if self.control is not None:
                        yield from iter_pause_point(self.control)
                    now = time.perf_counter()
                    n_new = len(self.decoded) + len(self.new_failed)
                    if (n_new and now - last_commit >= COMMIT_INTERVAL_S):
                        self._commit_partial()
                        last_commit = now
                    done_count = base + n_new
                    if done_count - last_done >= step or now - last_report >= PROGRESS_INTERVAL_S:
                        last_report, last_done = now, done_count
                        yield PhaseProgress(PHASE_CACHE, done_count, total, 0, n_new / max(now - t_start, 1e-9))
                    if (looks is not None and now - t_start >= next_look and done_count < total
                            and done_count < looks.last_fraction * total
                            and len(self.reused) + len(self.decoded) >= looks.min_images):
                        assert self.first_looks is not None
                        so_far = self._so_far()
                        # The decoding threads keep going while the look runs on this thread: queue
                        # more files first (finished rows are small; they wait for the look's end).
                        next_t = self._submit(pool, pending, order, next_t, LOOK_WINDOW_PER_WORKER * self.workers)
                        yield from self.first_looks.hook(so_far)
                        took = time.perf_counter() - now
                        look_gap *= looks.growth
                        next_look = time.perf_counter() - t_start + max(look_gap, 3 * took)
            finally:
                for fut in pending:
                    fut.cancel()
        elapsed = max(time.perf_counter() - t_start, 1e-9)
        yield PhaseProgress(PHASE_CACHE, total, total, 0, len(self.todo) / elapsed)

    def _submit(self, pool: ThreadPoolExecutor, pending: dict[Future[_Decoded | str], int], order: np.ndarray,
                next_t: int, window: int) -> int:
        """Queue files ``order[next_t:]`` until ``window`` are pending; return the new ``next_t``."""
        while next_t < len(self.todo) and len(pending) < window:
            t = int(order[next_t])
            path = self.folder / self.records[self.todo[t]].relpath
            pending[pool.submit(_decode, path, self.size)] = t
            next_t += 1
        return next_t

    def _so_far(self) -> DecodedSoFar:
        """The usable images decoded so far, read back from the data files (reused rows from
        the old files, new ones from the stage file, flushed first so a reader sees them)."""
        if self._stage_fh is not None:
            self._stage_fh.flush()
            self._thumb_fh.flush()
        rows = sorted({**self.reused, **self.decoded}.items())
        positions = np.array([p for p, _ in rows], dtype=np.int64)
        pixels = np.empty((len(rows), self.size, self.size, 3), np.uint8)
        maps: dict[str, np.ndarray] = {}
        for i, (_, r) in enumerate(rows):
            if r.data not in maps:
                maps[r.data] = np.memmap(self.cache_dir / r.data, np.uint8, "r").reshape(-1, self.size, self.size, 3)
            pixels[i] = maps[r.data][r.row]
        maps.clear()
        by_pos = dict(rows)

        def thumbnail(pos: int) -> bytes:
            r = by_pos[pos]
            with open(self.cache_dir / r.thumbs, "rb") as fh:
                fh.seek(r.toff)
                return fh.read(r.tlen)

        return DecodedSoFar(positions, [r.record.relpath for _, r in rows], len(self.records), pixels, thumbnail)

    def _store(self, t: int, result: _Decoded | str) -> None:
        pos = self.todo[t]
        rec = self.records[pos]
        if isinstance(result, str):
            self.new_failed[pos] = _Failure(rec, result)
            return
        try:
            self._stage_fh.seek(t * self.row_bytes)
            self._stage_fh.write(result.pixels.tobytes())
            self._thumb_fh.write(result.thumb)
        except OSError as exc:  # the space was there at the start: something else filled the disk
            if is_disk_full(exc):
                left = (len(self.todo) - len(self.decoded)) * (self.row_bytes + len(result.thumb))
                raise disk_full_error(self.cache_dir / self.stage_data, left) from exc
            raise
        toff, self._thumb_end = self._thumb_end, self._thumb_end + len(result.thumb)
        self.decoded[pos] = _Row(rec, result.width, result.height, self.stage_data, t,
                                 self.stage_thumbs, toff, len(result.thumb))

    # -- committing -------------------------------------------------------------------------------
    def _failures(self) -> list[_Failure]:
        merged = {**self.known_failed, **self.new_failed}
        return [merged[p] for p in sorted(merged)]

    def _commit_partial(self) -> None:
        if not self.decoded and not self.new_failed:
            return  # nothing new: the index on disk is still right
        self._flush_stage()
        rows = [*self.reused.values(), *self.decoded.values()]
        index = _Index(self.size, False, rows, self._failures())
        _write_index(self.cache_dir, index)
        self._gc(keep=index.files() | {self.stage_data, self.stage_thumbs})

    def _assemble(self, old: _Index | None) -> _Index:
        """Commit the complete index, copying rows into one new file only when they are not
        already one file in image order."""
        self._flush_stage()
        self._close_stage()  # before old files are deleted (Windows cannot delete open files)
        usable = sorted({**self.reused, **self.decoded}.items())
        rows = [row for _, row in usable]
        failed = self._failures()
        n = len(rows)
        in_place = n > 0 and len({r.data for r in rows}) == 1 and all(r.row == i for i, r in enumerate(rows))
        if in_place or n == 0:
            index = _Index(self.size, True, rows, failed)
        else:
            index = _Index(self.size, True, self._copy_rows(rows), failed)
        if old is None or not _same_index(old, index):
            _write_index(self.cache_dir, index)
        self._gc(keep=index.files())
        return index

    def _copy_rows(self, rows: list[_Row]) -> list[_Row]:
        self._ensure_space(len(rows) * self.row_bytes)
        token = secrets.token_hex(6)
        data, thumbs = f"data_{self.size}_{token}.u8", f"thumbs_{self.size}_{token}.bin"
        sources: dict[str, np.ndarray] = {}
        out_rows: list[_Row] = []
        with open(self.cache_dir / data, "wb") as out, open(self.cache_dir / thumbs, "wb") as tout:
            for src, start, count in _runs(rows):
                if src not in sources:
                    sources[src] = np.memmap(self.cache_dir / src, np.uint8, "r")
                flat = sources[src]
                chunk = max(1, _COPY_CHUNK_BYTES // self.row_bytes)
                for s in range(start, start + count, chunk):
                    if self.control is not None:
                        self.control.check()
                    e = min(s + chunk, start + count)
                    out.write(flat[s * self.row_bytes:e * self.row_bytes].tobytes())
            toff = 0
            thumb_files: dict[str, Any] = {}
            try:
                for i, r in enumerate(rows):
                    fh = thumb_files.get(r.thumbs)
                    if fh is None:
                        fh = thumb_files[r.thumbs] = open(self.cache_dir / r.thumbs, "rb")  # noqa: SIM115
                    fh.seek(r.toff)
                    blob = fh.read(r.tlen)
                    if len(blob) != r.tlen:
                        raise _CacheDamaged(f"thumbnail pack {r.thumbs} is shorter than its index says")
                    tout.write(blob)
                    out_rows.append(_Row(r.record, r.width, r.height, data, i, thumbs, toff, r.tlen))
                    toff += r.tlen
            finally:
                for fh in thumb_files.values():
                    fh.close()
            for fh in (out, tout):
                fh.flush()
                os.fsync(fh.fileno())
        sources.clear()  # release the maps before the old files are deleted
        return out_rows

    def _gc(self, keep: set[str]) -> None:
        """Delete this size's data files that no index names (and temporary index files)."""
        for path in self.cache_dir.iterdir():
            name = path.name
            ours = (name.startswith((f"data_{self.size}_", f"thumbs_{self.size}_"))
                    or (name.startswith(f"index_{self.size}.json.") and name.endswith(".tmp")))
            if ours and name not in keep:
                with contextlib.suppress(OSError):  # e.g. still mapped by a viewer on Windows
                    path.unlink()


def _runs(rows: Sequence[_Row]) -> Iterator[tuple[str, int, int]]:
    """Maximal runs of consecutive rows of one data file: (file, start row, count)."""
    i = 0
    while i < len(rows):
        j = i + 1
        while j < len(rows) and rows[j].data == rows[i].data and rows[j].row == rows[j - 1].row + 1:
            j += 1
        yield rows[i].data, rows[i].row, j - i
        i = j


# -- decoding one image (runs on worker threads) --------------------------------------------------
@dataclass
class _Decoded:
    pixels: np.ndarray  # (size, size, 3) uint8, C-contiguous
    thumb: bytes
    width: int
    height: int


def _decode(path: Path, size: int) -> _Decoded | str:
    """Decode ``path`` once into the cache square and the thumbnail; a ``str`` is the failure reason."""
    try:
        im = imageio.load_rgb(path, max_side=max(size, THUMB_SIDE))
        width, height = im.info.get("original_size", im.size)
        return _Decoded(square_crop(im, size), thumbnail_jpeg(im), int(width), int(height))
    except imageio.ImageDecodeError as exc:
        return exc.reason
    except MemoryError:
        return "too large to decode (out of memory)"


def decode_like_cache(path: Path, size: int) -> tuple[np.ndarray, bytes] | str:
    """One file decoded exactly as a cache build does: (``size`` square pixels, thumbnail JPEG),
    or the reason it cannot be decoded (a file replaced after the cache was built is judged by
    these, not by its cached rows)."""
    decoded = _decode(Path(path), size)
    return decoded if isinstance(decoded, str) else (decoded.pixels, decoded.thumb)


def decode_square(path: Path, size: int) -> np.ndarray:
    """Decode one file exactly as the cache does (same draft scale, shorter side to ``size``,
    centre square), so a copy of a collection image gets the same pixels and the same feature."""
    return square_crop(imageio.load_rgb(Path(path), max_side=max(size, THUMB_SIDE)), size)


def square_crop(im: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` and take the centre ``size x size`` square, in one
    resampling step (Lanczos down, bicubic up; integer pre-reduction for big images)."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    box = (left, top, left + s, top + s)
    if s == size:
        out = im.crop(box)
    elif s > size:
        out = im.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    else:
        out = im.resize((size, size), Image.Resampling.BICUBIC, box=box)
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


def thumbnail_jpeg(im: Image.Image, side: int = THUMB_SIDE, quality: int = THUMB_QUALITY) -> bytes:
    """JPEG of ``im`` with its long side ``side`` px (smaller images keep their size), aspect kept."""
    w, h = im.size
    long_side = max(w, h)
    t = min(side, long_side)
    tw, th = max(1, round(w * t / long_side)), max(1, round(h * t / long_side))
    # Integer box reduction, then bicubic for the rest: ~8x faster than Lanczos on the full image
    # and within ~1.5 grey levels of it, plenty for a grid of small previews.
    thumb = im if (tw, th) == (w, h) else im.resize((tw, th), Image.Resampling.BICUBIC, reducing_gap=1.0)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# -- the index file --------------------------------------------------------------------------------
def _index_path(cache_dir: Path, size: int) -> Path:
    return cache_dir / f"index_{size}.json"


def _read_index(cache_dir: Path, size: int) -> _Index | None:
    """The committed index of ``size`` (``None`` when there is none); checks the files it names."""
    path = _index_path(cache_dir, size)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _CacheDamaged(f"{path.name}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise _CacheDamaged(f"{path.name} has format {doc.get('format')!r}, expected {FORMAT}")
        if doc["size"] != size:
            raise _CacheDamaged(f"{path.name} describes size {doc['size']}")
        rows = [
            _Row(ImageRecord(rel, int(nbytes), int(mtime), label), int(w), int(h), data, int(row),
                 thumbs, int(toff), int(tlen))
            for rel, nbytes, mtime, label, w, h, data, row, thumbs, toff, tlen in doc["rows"]
        ]
        failed = [_Failure(ImageRecord(rel, int(nbytes), int(mtime), label), str(reason))
                  for rel, nbytes, mtime, label, reason in doc["failed"]]
        complete = bool(doc["complete"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _CacheDamaged(f"{path.name} cannot be read ({exc})") from exc
    _check_files(cache_dir, size, rows)
    return _Index(size, complete, rows, failed)


def _check_files(cache_dir: Path, size: int, rows: list[_Row]) -> None:
    need: dict[str, int] = {}
    row_bytes = size * size * 3
    for r in rows:
        need[r.data] = max(need.get(r.data, 0), (r.row + 1) * row_bytes)
        need[r.thumbs] = max(need.get(r.thumbs, 0), r.toff + r.tlen)
    for name, nbytes in need.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise _CacheDamaged(f"the index names an invalid file {name!r}")
        try:
            have = (cache_dir / name).stat().st_size
        except FileNotFoundError as exc:
            raise _CacheDamaged(f"{name} is missing") from exc
        if have < nbytes:
            raise _CacheDamaged(f"{name} is shorter than its index says")


def _index_doc(index: _Index) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "size": index.size,
        "complete": index.complete,
        "rows": [[r.record.relpath, r.record.size, r.record.mtime_ns, r.record.label, r.width,
                  r.height, r.data, r.row, r.thumbs, r.toff, r.tlen] for r in index.rows],
        "failed": [[f.record.relpath, f.record.size, f.record.mtime_ns, f.record.label, f.reason]
                   for f in index.failed],
    }


def _same_index(a: _Index, b: _Index) -> bool:
    return _index_doc(a) == _index_doc(b)


def _write_index(cache_dir: Path, index: _Index) -> None:
    path = _index_path(cache_dir, index.size)
    data = json.dumps(_index_doc(index), separators=(",", ":")).encode("utf-8")
    atomic_write_bytes(path, data)
