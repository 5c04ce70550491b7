"""Find the image files of a folder: the collection a session clusters.

The scan only lists and stats files (decoding happens once, in ``dcgui.core.images.cache``). It walks
sub-folders recursively, follows symbolic links that stay inside the folder but never enters the
same real folder twice (so link loops end), skips hidden files and folders, and matches extensions
case-insensitively. A symbolic link leading outside the folder is skipped with the reason: every
path a session stores must resolve inside its folder (``dcgui.store.paths``), so that a session
file can never make dcgui read, move or show files elsewhere. When every image sits in a top-level sub-folder and there are at least two
such folders, the sub-folder name is kept as a ground-truth label, used only for metrics.
"""

from __future__ import annotations

import heapq
import os
import stat
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from dcgui.core.control import RunControl, drain
from dcgui.core.errors import UnusableCollectionError
from dcgui.core.events import PHASE_SCAN, PhaseProgress
from dcgui.core.images.imageio import IMAGE_EXTENSIONS

PROGRESS_INTERVAL_S = 0.2
# Folders that only ever hold copies or metadata written by other software.
_IGNORED_DIRS = frozenset({"__MACOSX", "@eaDir", "$RECYCLE.BIN", "System Volume Information"})


@dataclass
class ImageRecord:
    """One image file: ``relpath`` uses "/" on every OS; (relpath, size, mtime_ns) keys the cache."""

    relpath: str
    size: int
    mtime_ns: int
    label: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.relpath, self.size, self.mtime_ns)


@dataclass
class ScanResult:
    """``images`` sorted by relpath; ``skipped`` = (relpath, reason) for entries that could not be
    listed; ``label_names`` sorted (empty when the folder has no class sub-folders)."""

    folder: Path
    images: list[ImageRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    label_names: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[int] | None:
        """Label index per image (into ``label_names``), or ``None`` without labels."""
        if not self.label_names:
            return None
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[r.label] if r.label is not None else -1 for r in self.images]


def supported_extensions_text() -> str:
    return ", ".join(sorted(IMAGE_EXTENSIONS))


def iter_scan(
    folder: Path, control: RunControl | None = None
) -> Generator[PhaseProgress, None, ScanResult]:
    """List the image files under ``folder``; yields ``PhaseProgress("scan", found, 0)``
    (``total`` 0: not known while walking) about every 0.2 s, then ``(n, n)``.

    Raises ``UnusableCollectionError`` naming the folder when it is missing or holds no image file.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UnusableCollectionError(f"the folder {folder} does not exist: choose an existing folder of images")
    if not folder.is_dir():
        raise UnusableCollectionError(f"{folder} is a file, not a folder: choose the folder that holds your images")

    images: list[ImageRecord] = []
    skipped: list[tuple[str, str]] = []
    n_other = 0
    try:
        root_stat = folder.stat()
    except OSError as exc:
        raise UnusableCollectionError(f"cannot open the folder {folder}: {exc.strerror or exc}") from exc
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    real_root = os.path.realpath(folder)
    # Real folders are walked first and symbolic links to folders only afterwards (smallest
    # relpath first), so a folder reachable both ways keeps its real path, and the result does
    # not depend on directory listing order.
    stack: list[tuple[str, str]] = [(str(folder), "")]  # (path to list, relpath prefix)
    links: list[tuple[str, str]] = []  # heap of (relpath, path) of symlinked folders
    last_report = time.perf_counter()
    yield PhaseProgress(PHASE_SCAN, 0, 0)
    while stack or links:
        if control is not None:
            control.check()
        if stack:
            dir_path, prefix = stack.pop()
        else:
            rel_link, link_path = heapq.heappop(links)
            try:
                st = os.stat(link_path)
            except OSError as exc:
                skipped.append((rel_link, f"folder unreadable: {exc.strerror or exc}"))
                continue
            key = (st.st_dev, st.st_ino)
            if key in visited:  # a symlink loop, or a second route to a folder already listed
                continue
            visited.add(key)
            dir_path, prefix = link_path, rel_link + "/"
        try:
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=lambda e: e.name, reverse=True)  # popped in name order
        except OSError as exc:
            skipped.append((prefix.rstrip("/") or ".", f"folder unreadable: {exc.strerror or exc}"))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or _hidden_on_windows(entry):
                continue
            rel = prefix + name
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:
                is_dir = False
            if entry.is_symlink() and (outside := _outside(entry.path, real_root)) is not None:
                skipped.append((rel, f"symbolic link to {outside}, outside the folder: dcgui reads only files "
                                     "inside the folder (move or copy them in)"))
                continue
            if is_dir:
                if name in _IGNORED_DIRS:
                    continue
                if entry.is_symlink():
                    heapq.heappush(links, (rel, entry.path))
                    continue
                try:
                    st = entry.stat()
                except OSError as exc:
                    skipped.append((rel, f"folder unreadable: {exc.strerror or exc}"))
                    continue
                visited.add((st.st_dev, st.st_ino))
                stack.append((entry.path, rel + "/"))
                continue
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                n_other += 1
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                reason = "broken symbolic link" if entry.is_symlink() else f"unreadable: {exc.strerror or exc}"
                skipped.append((rel, reason))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((rel, "not a regular file"))
                continue
            images.append(ImageRecord(rel, int(st.st_size), int(st.st_mtime_ns)))
        now = time.perf_counter()
        if now - last_report >= PROGRESS_INTERVAL_S:
            last_report = now
            yield PhaseProgress(PHASE_SCAN, len(images), 0)

    if not images:
        raise UnusableCollectionError(_no_images_message(folder, n_other, skipped))
    images.sort(key=lambda r: r.relpath)
    skipped.sort()
    label_names = _assign_labels(images)
    yield PhaseProgress(PHASE_SCAN, len(images), len(images))
    return ScanResult(folder, images, skipped, label_names)


def scan(folder: Path, control: RunControl | None = None) -> ScanResult:
    """Run ``iter_scan`` to the end and return its result."""
    return drain(iter_scan(folder, control))


def _assign_labels(images: list[ImageRecord]) -> list[str]:
    """Label = top-level sub-folder, only if every image has one and there are >= 2 of them."""
    tops = [r.relpath.split("/", 1)[0] if "/" in r.relpath else None for r in images]
    if any(t is None for t in tops):
        return []
    names = sorted({t for t in tops if t is not None})
    if len(names) < 2:
        return []
    for record, top in zip(images, tops):
        record.label = top
    return names


def _outside(path: str, real_root: str) -> str | None:
    """The real target of the link ``path`` when it lies outside ``real_root`` (None when inside
    or broken: a broken link is reported as such)."""
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return None
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    return real


def _hidden_on_windows(entry: os.DirEntry[str]) -> bool:
    attrs = getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0)
    if not attrs or os.name != "nt":
        return False
    try:
        return bool(entry.stat(follow_symlinks=False).st_file_attributes & attrs)  # type: ignore[attr-defined]
    except OSError:
        return False


def _no_images_message(folder: Path, n_other: int, skipped: list[tuple[str, str]]) -> str:
    text = f"{folder} holds no image dcgui can use: found 0 image files (supported: {supported_extensions_text()})"
    if n_other:
        text += f"; {n_other} other file(s) ignored"
    if skipped:
        rel, reason = skipped[0]
        text += f"; {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} could not be read, first: {rel}: {reason}"
    return text + ". Choose a folder of photos (sub-folders are searched too)."
