"""Sort a collection into one folder per cluster: plan first, then apply.

``plan_curation`` computes every (source, destination) pair without touching the disk beyond
listing existing destination folders; the command line prints it for ``--dry-run`` and the GUI
shows it before asking. ``iter_apply`` performs it and yields progress.

Safety rules (a user's photos are at stake):
* Never overwrite or delete a file: an existing destination gets a ``_1``, ``_2`` ... suffix, and
  every file is created exclusively (``O_EXCL``, ``os.link``, ``os.symlink`` fail rather than
  replace), so even a file that appears between planning and applying is kept. After an error
  only a file this run created is removed, and the source is opened before the destination.
* Different cluster names never share a folder (``cluster_folder_names``); names are cut to fit
  the file systems' 255-byte limit.
* No destination folder may resolve inside the photo folder (``check_destinations``), checked
  after cluster names are made into folders.
* ``move`` only moves the planned files; a file is removed only once its copy is complete and
  synced; a killed move is finished by a re-run. A copy is written under a temporary name and
  takes the photo's name only when complete. Sources are opened without following a symbolic
  link (a file swapped for a link since planning is refused).
* Images flagged "exclude" are left out.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
import unicodedata
from collections.abc import Collection, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcgui.core.control import RunControl
from dcgui.core.errors import InvalidValue
from dcgui.core.events import PHASE_CURATE, PhaseProgress
from dcgui.core.fsutil import fsync_dir

MODES = ("copy", "symlink", "move")
_MAX_NAME = 80  # characters of a user's cluster name kept in its folder name
_MAX_NAME_BYTES = 200  # and bytes (file systems allow 255): room for a " (cluster 123)" suffix
_MAX_FILE_BYTES = 255
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_DEFAULT_NAME = re.compile(r"cluster_(\d{4,})")
# link() failures that mean "no hard links here" (another file system, FAT, a policy): copy instead
_NO_HARD_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


@dataclass
class CurateResult:
    """``done``: (source, destination actually used); ``failed``: (source, reason)."""

    done: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _fs_len(name: str) -> int:
    return len(os.fsencode(name))


def _truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes in the file system's encoding, at a character boundary."""
    while _fs_len(text) > limit:
        text = text[:-1]
    return text


def _same_name(name: str) -> str:
    """Names the user gave that mean the same cluster folder (same text up to normalisation)."""
    return unicodedata.normalize("NFC", name).strip()


def cluster_folder_name(cluster: int, name: str | None = None) -> str:
    """The user's cluster name made safe as a folder name on every OS, else ``cluster_0042``.

    At most 80 characters and 200 bytes (UTF-8), cut at a character boundary.
    """
    if name:
        text = _same_name(name).encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
        text = _UNSAFE.sub("_", text).strip().strip(".").strip()
        text = re.sub(r"\s+", " ", text)[:_MAX_NAME]
        text = _truncate_bytes(text, _MAX_NAME_BYTES).rstrip(" .")
        if text and text not in {".", ".."}:
            if text.split(".")[0].upper() in _WINDOWS_RESERVED:
                text = f"{text}_"
            return text
    return f"cluster_{cluster:04d}"


def cluster_folder_names(clusters: Iterable[int], names: Mapping[int, str | None] | None = None) -> dict[int, str]:
    """The folder of each of ``clusters``: clusters with the same name share one, different names never do.

    Two different names can become the same folder name (``a/b`` and ``a_b``, ``Pets`` and ``pets``
    on a case-insensitive disk, a name ``cluster_0007`` while cluster 7 has none). The name that
    needed no change, else the one on the lowest cluster id, keeps the folder; each other one gets
    `` (cluster N)`` with its lowest cluster id. The result depends on ``names`` alone, so curating
    a few clusters gives them the same folders as curating all.
    """
    names = names or {}
    by_name: dict[str, list[int]] = {}
    for c, name in names.items():
        if name and name.strip():
            by_name.setdefault(_same_name(name), []).append(int(c))
    named = set().union(*by_name.values()) if by_name else set()

    def free(folder: str) -> bool:
        key = folder.casefold()
        m = _DEFAULT_NAME.fullmatch(key)  # cluster_0007 belongs to cluster 7 while it has no name
        return key not in used and (m is None or int(m.group(1)) in named)

    order = sorted(by_name, key=lambda n: (cluster_folder_name(0, n) != n, min(by_name[n]), n))
    used: set[str] = set()
    folder_of: dict[str, str] = {}
    for name in order:
        first = min(by_name[name])
        base = cluster_folder_name(first, name)
        candidate, n = base, 1
        while not free(candidate):
            n += 1
            candidate = f"{base} (cluster {first})" if n == 2 else f"{base} (cluster {first}, {n - 1})"
        used.add(candidate.casefold())
        folder_of[name] = candidate
    out: dict[int, str] = {}
    for c in clusters:
        name = names.get(int(c))
        out[int(c)] = folder_of[_same_name(name)] if name and name.strip() else f"cluster_{int(c):04d}"
    return out


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def check_target(folder: Path, out_dir: Path, mode: str) -> list[str]:
    """Refuse unsafe targets (``InvalidValue``); return warnings for questionable ones."""
    if mode not in MODES:
        raise InvalidValue(f"curate mode {mode!r} is unknown: choose one of {', '.join(MODES)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidValue(f"the output {out_dir} is a file: choose a folder")
    check_destinations(folder, [out_dir])
    if _inside(folder, out_dir) and mode == "move":
        return [f"the photo folder {folder} is inside {out_dir}: the moved files leave the collection"]
    return []


def check_destinations(folder: Path, targets: Iterable[Path]) -> None:
    """Refuse (``InvalidValue``) any destination folder that resolves inside the photo folder:
    the output folder itself, or a cluster's folder once its name is made into a folder (a
    cluster named like the photo folder, with ``--out`` its parent). Copies would multiply the
    collection and moves would shuffle it."""
    for target in targets:
        if _inside(Path(target), folder):
            raise InvalidValue(
                f"{target} is inside the photo folder {folder}: curating into the collection the files come "
                "from is refused (copies would be found by the next scan, moves would shuffle it); choose "
                "an output folder outside it, or rename the cluster"
            )


def _free_name(name: str, taken: set[str]) -> str:
    """``name`` or ``stem_1.ext``, ``stem_2.ext`` ...: the first not in ``taken`` (case-folded),
    the stem shortened when the suffix would pass the file systems' 255-byte limit."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    candidate, n = name, 0
    while candidate.casefold() in taken or _fs_len(candidate) > _MAX_FILE_BYTES:
        n += 1
        tail = f"_{n}{dot}{ext}"
        candidate = _truncate_bytes(stem, _MAX_FILE_BYTES - _fs_len(tail)) + tail
    return candidate


def plan_curation(
    sources: Sequence[Path],
    assignments: np.ndarray,
    out_dir: Path,
    *,
    clusters: Iterable[int] | None = None,
    names: Mapping[int, str | None] | None = None,
    excluded: Collection[int] = (),
) -> list[tuple[Path, Path]]:
    """(source, destination) for every image of the chosen ``clusters`` (default: all non-empty).

    ``sources[i]`` is image ``i``'s file (from ``SessionStore.image_files``, which checked that it
    lies inside the session's folder) and ``assignments[i]`` its cluster; ``names`` maps a cluster
    to the user's name (see :func:`cluster_folder_names`); ``excluded`` image indices are left
    out. Destinations never collide with each other or with files already in ``out_dir``.
    """
    out_dir = Path(out_dir)
    assignments = np.asarray(assignments)
    if assignments.shape != (len(sources),):
        raise ValueError(f"{len(sources)} paths but {assignments.shape[0]} assignments: they must match")
    # -1: images an epoch left out of the clustering (steering's exclusions) have no folder
    chosen = sorted(set(int(c) for c in (np.unique(assignments) if clusters is None else clusters) if int(c) >= 0))
    folders = cluster_folder_names(chosen, names)
    excluded_set = set(int(i) for i in excluded)
    taken: dict[Path, set[str]] = {}
    ops: list[tuple[Path, Path]] = []
    for c in chosen:
        target = out_dir / folders[c]
        if target not in taken:
            taken[target] = {p.casefold() for p in os.listdir(target)} if target.is_dir() else set()
        used = taken[target]
        for i in np.flatnonzero(assignments == c):
            if int(i) in excluded_set:
                continue
            src = Path(sources[int(i)])
            name = _free_name(src.name, used)
            used.add(name.casefold())
            ops.append((src, target / name))
    return ops


def _next_free(dst: Path) -> Path:
    taken = {p.casefold() for p in os.listdir(dst.parent)} if dst.parent.is_dir() else set()
    return dst.with_name(_free_name(dst.name, taken))


def _remove_if_ours(dst: Path, ours: os.stat_result) -> None:
    """Remove ``dst`` only if it is still the file this run created (not one put there since)."""
    with contextlib.suppress(OSError):
        now = os.lstat(dst)
        if (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino):
            os.unlink(dst)


_PART = ".dcgui-part-"  # a copy being written: it gets the photo's name only once complete
_PART_STALE_S = 3600.0  # a part file untouched this long was left by a killed run


def _drop_stale_parts(folder: Path) -> None:
    """Remove the partial copies a killed run left in ``folder`` (ours by name; a running copy
    writes its part file continuously, so it is never this old)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(_PART) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > _PART_STALE_S:
                        os.unlink(entry.path)


def _open_source(src: Path) -> int:
    """Open the planned file for reading without following a symbolic link: a file swapped for
    a link since the plan was made (which could lead anywhere) is refused, never copied."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(src, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it was replaced by a symbolic link since the plan was made; "
                          "not followed", str(src)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is no longer a regular file", str(src))
    return fd


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fsync_dir(folder)


def _publish(tmp: Path, dst: Path) -> None:
    """Give the complete file ``tmp`` the name ``dst`` without ever replacing a file there."""
    try:
        os.link(tmp, dst)  # FileExistsError if dst exists
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINK:
            raise
        if os.path.lexists(dst):  # no hard links here (FAT, exFAT): rename after a check
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from None
        os.rename(tmp, dst)
        return
    os.unlink(tmp)


def _copy_exclusive(src: Path, dst: Path) -> None:
    """Copy ``src`` into a new file ``dst``. The source is opened first, without following a
    symbolic link (a vanished source touches nothing); the bytes go to a temporary name in
    ``dst``'s folder and are flushed to the disk (fsync) before the file takes the name ``dst``,
    which never replaces a file (``FileExistsError``). Killed at any point, the destination
    holds the complete file under the photo's name or nothing (at most a ``.dcgui-part-`` file)."""
    with os.fdopen(_open_source(src), "rb") as fin:
        st = os.fstat(fin.fileno())
        tmp = dst.with_name(f"{_PART}{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        ours = os.fstat(fd)
        try:
            with os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
            if os.lstat(tmp).st_size != st.st_size:
                raise OSError(errno.EIO, f"the copy of {src} is incomplete", str(dst))
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            _publish(tmp, dst)
        finally:
            _remove_if_ours(tmp, ours)  # still there only after an error: our partial copy


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` hold the same bytes (the same inode, or equal contents)."""
    sa, sb = os.lstat(a), os.lstat(b)
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _move(src: Path, dst: Path) -> Path:
    """Move ``src`` to ``dst`` (or finish an interrupted move of it); returns where it is now.

    The source is removed only once the destination holds it completely (synced to the disk). A
    run killed after that point but before the removal left the photo under its own name in the
    destination folder: a re-run recognises the same bytes there and only removes the source."""
    earlier = dst.parent / src.name
    with contextlib.suppress(OSError):
        if os.path.lexists(earlier) and _same_file(src, earlier):
            os.unlink(src)
            return earlier
    try:
        os.link(src, dst)  # fails if dst exists: never replaces a file, unlike os.rename
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINK:
            raise  # dst exists, src vanished, ...: nothing to fall back to
        _copy_exclusive(src, dst)  # another file system, or no hard links: a complete copy first
    _fsync_dir(dst.parent)
    os.unlink(src)
    return dst


def _apply_one(src: Path, dst: Path, mode: str) -> Path:
    if mode == "copy":
        _copy_exclusive(src, dst)
    elif mode == "symlink":
        if not stat.S_ISREG(os.lstat(src).st_mode):  # vanished or swapped for a link since planning
            raise FileNotFoundError(errno.ENOENT, "it is no longer a regular file", str(src))
        os.symlink(src.absolute(), dst)
    else:
        return _move(src, dst)
    return dst


def iter_apply(
    ops: Sequence[tuple[Path, Path]], mode: str, control: RunControl | None = None
) -> Generator[PhaseProgress, None, CurateResult]:
    """Copy / symlink / move every planned file, never replacing an existing one.

    A destination that appeared since planning gets the next free suffix. Files that fail
    (vanished, permission denied) are reported in the result; the rest continue.
    """
    if mode not in MODES:
        raise InvalidValue(f"curate mode {mode!r} is unknown: choose one of {', '.join(MODES)}")
    result = CurateResult()
    total = len(ops)
    for folder in {dst.parent for _, dst in ops}:
        _drop_stale_parts(folder)
    last_report = 0.0
    for n, (src, dst) in enumerate(ops, start=1):
        if control is not None:
            control.check()
        for _attempt in range(1000):
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                result.done.append((src, _apply_one(src, dst, mode)))
                break
            except FileExistsError:
                dst = _next_free(dst)
            except OSError as exc:
                result.failed.append((src, exc.strerror or str(exc)))
                break
        now = time.monotonic()
        if now - last_report > 0.1 or n == total:
            last_report = now
            yield PhaseProgress(PHASE_CURATE, n, total)
    return result


