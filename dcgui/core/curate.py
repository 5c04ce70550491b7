"""Sort a collection into one folder per cluster: plan first, then apply.

``plan_curation`` computes every (source, destination) pair without touching the disk beyond
listing existing destination folders; the command line prints it for ``--dry-run`` and the GUI
shows it before asking. ``iter_apply`` performs it and yields progress.

Safety rules (a user's photos are at stake):
* Never overwrite or delete a file: an existing destination gets a ``_1``, ``_2`` ... suffix, and
  every file is created exclusively (``open(..., "xb")``, ``os.link``, ``os.symlink`` fail rather
  than replace), so even a file that appears between planning and applying is kept.
* ``move`` only moves the planned files; it refuses a target inside the source folder (the files
  would be moved into the collection they come from).
* Images flagged "exclude" are left out.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import unicodedata
from collections.abc import Collection, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcgui.core.control import RunControl
from dcgui.core.events import PHASE_CURATE, PhaseProgress

MODES = ("copy", "symlink", "move")
_MAX_NAME = 80
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


@dataclass
class CurateResult:
    """``done``: (source, destination actually used); ``failed``: (source, reason)."""

    done: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def cluster_folder_name(cluster: int, name: str | None = None) -> str:
    """The user's cluster name made safe as a folder name on every OS, else ``cluster_0042``."""
    if name:
        text = unicodedata.normalize("NFC", name)
        text = _UNSAFE.sub("_", text).strip().strip(".").strip()
        text = re.sub(r"\s+", " ", text)[:_MAX_NAME].rstrip(" .")
        if text and text not in {".", ".."}:
            if text.split(".")[0].upper() in _WINDOWS_RESERVED:
                text = f"{text}_"
            return text
    return f"cluster_{cluster:04d}"


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def check_target(folder: Path, out_dir: Path, mode: str) -> list[str]:
    """Refuse unsafe targets (``ValueError``); return warnings for questionable ones."""
    if mode not in MODES:
        raise ValueError(f"curate mode {mode!r} is unknown: choose one of {', '.join(MODES)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"the output {out_dir} is a file: choose a folder")
    if _inside(out_dir, folder):
        if mode == "move":
            raise ValueError(
                f"the output {out_dir} is inside the photo folder {folder}: moving files into the collection "
                "they come from is refused; choose a folder outside it"
            )
        return [f"{out_dir} is inside the photo folder: a later rescan of {folder} will find the "
                f"{'copies' if mode == 'copy' else 'links'} and the session will no longer resume"]
    if _inside(folder, out_dir) and mode == "move":
        return [f"the photo folder {folder} is inside {out_dir}: the moved files leave the collection"]
    return []


def _free_name(directory: Path, name: str, taken: set[str]) -> str:
    """``name`` or ``stem_1.ext``, ``stem_2.ext`` ...: the first not in ``taken`` (case-folded)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    candidate, n = name, 0
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem}_{n}{dot}{ext}"
    return candidate


def plan_curation(
    folder: Path,
    paths: Sequence[str],
    assignments: np.ndarray,
    out_dir: Path,
    *,
    clusters: Iterable[int] | None = None,
    names: Mapping[int, str | None] | None = None,
    excluded: Collection[int] = (),
) -> list[tuple[Path, Path]]:
    """(source, destination) for every image of the chosen ``clusters`` (default: all non-empty).

    ``paths[i]`` (relative to ``folder``) is image ``i`` and ``assignments[i]`` its cluster;
    ``names`` maps a cluster to the user's name (clusters sharing a name share a folder);
    ``excluded`` image indices are left out. Destinations never collide with each other or with
    files already in ``out_dir``.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    assignments = np.asarray(assignments)
    if assignments.shape != (len(paths),):
        raise ValueError(f"{len(paths)} paths but {assignments.shape[0]} assignments: they must match")
    chosen = sorted(set(int(c) for c in (np.unique(assignments) if clusters is None else clusters)))
    names = names or {}
    excluded_set = set(int(i) for i in excluded)
    taken: dict[Path, set[str]] = {}
    ops: list[tuple[Path, Path]] = []
    for c in chosen:
        target = out_dir / cluster_folder_name(c, names.get(c))
        if target not in taken:
            taken[target] = {p.casefold() for p in os.listdir(target)} if target.is_dir() else set()
        used = taken[target]
        for i in np.flatnonzero(assignments == c):
            if int(i) in excluded_set:
                continue
            rel = paths[int(i)]
            name = _free_name(target, rel.rsplit("/", 1)[-1], used)
            used.add(name.casefold())
            ops.append((folder / rel, target / name))
    return ops


def _next_free(dst: Path) -> Path:
    taken = {p.casefold() for p in os.listdir(dst.parent)} if dst.parent.is_dir() else set()
    return dst.with_name(_free_name(dst.parent, dst.name, taken))


def _copy_exclusive(src: Path, dst: Path) -> None:
    try:
        with open(src, "rb") as fin, open(dst, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except FileExistsError:
        raise
    except BaseException:
        dst.unlink(missing_ok=True)  # our own partial copy (disk full, interrupted)
        raise
    shutil.copystat(src, dst)


def _apply_one(src: Path, dst: Path, mode: str) -> None:
    if mode == "copy":
        _copy_exclusive(src, dst)
    elif mode == "symlink":
        os.symlink(src.absolute(), dst)
    else:
        try:
            os.link(src, dst)  # fails if dst exists: never replaces a file, unlike os.rename
        except FileExistsError:
            raise
        except OSError:  # another filesystem, or hard links unsupported: copy, verify, then remove
            _copy_exclusive(src, dst)
            if dst.stat().st_size != src.stat().st_size:
                dst.unlink()
                raise OSError(f"copy of {src} to {dst} is incomplete") from None
        os.unlink(src)


def iter_apply(
    ops: Sequence[tuple[Path, Path]], mode: str, control: RunControl | None = None
) -> Generator[PhaseProgress, None, CurateResult]:
    """Copy / symlink / move every planned file, never replacing an existing one.

    A destination that appeared since planning gets the next free suffix. Files that fail
    (vanished, permission denied) are reported in the result; the rest continue.
    """
    if mode not in MODES:
        raise ValueError(f"curate mode {mode!r} is unknown: choose one of {', '.join(MODES)}")
    result = CurateResult()
    total = len(ops)
    last_report = 0.0
    for n, (src, dst) in enumerate(ops, start=1):
        if control is not None:
            control.check()
        dst.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(1000):
            try:
                _apply_one(src, dst, mode)
                result.done.append((src, dst))
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


def apply_curation(ops: Sequence[tuple[Path, Path]], mode: str) -> CurateResult:
    """Run :func:`iter_apply` to the end."""
    gen = iter_apply(ops, mode)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
