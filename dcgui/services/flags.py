"""Flagging images as the window and the command line do it: by hand, or by a rule in bulk.

Each function turns what the user asked into a ``SetFlags`` edit of ``dcgui.store.edits``; the
caller previews it when it touches more than one image and applies it (``store.apply_edit`` in
the CLI, ``SessionModel.apply_edit`` in the window), so Ctrl+Z / ``dcgui undo`` take it back.
A bulk edit leaves the flags set by hand alone unless ``with_hand_set`` says otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis.keep import KEEP_RULES, CropsOf, keep_one_flags
from dcgui.core.errors import DcguiError
from dcgui.store.edits import BULK, HAND, SetFlags, flags_text

if TYPE_CHECKING:
    from dcgui.store import SessionStore
    from dcgui.store.edits import Edit

__all__ = ["BULK", "HAND", "flag_edit", "flag_paths_edit", "flags_text", "image_indices_for_paths", "keep_chosen_edit",
           "keep_one_edit", "leaves_hand_set", "unflag_edit", "with_hand_set"]


def flag_edit(indices: Iterable[int], flag: str | None, source: str = HAND, action: str = "") -> SetFlags:
    """``flag`` ("keep" / "exclude" / "duplicate"; None clears) on ``indices``, set by ``source``."""
    return SetFlags.same(sorted({int(i) for i in indices}), flag, source, action)


def keep_one_edit(store: SessionStore, groups: Sequence[Sequence[int] | np.ndarray], rule: str,
                  what: str = "keep one per group", include_hand_set: bool = False,
                  crops_of: CropsOf | None = None) -> SetFlags:
    """Per group, ``keep`` on the best image under ``rule`` and ``duplicate`` on the others; a
    bulk action, so flags the user set by hand stay as they are unless ``include_hand_set``.
    ``crops_of`` (``NearDuplicates.crops_of()``) lets the default rule tell crops from originals."""
    if rule not in KEEP_RULES:
        raise DcguiError(f"keep rule {rule!r} is unknown: use one of {', '.join(KEEP_RULES)}")
    n = sum(1 for g in groups if len(g) > 1)
    targets = keep_one_flags(groups, rule, store.image_stats(), crops_of)
    return SetFlags(targets, BULK, f"{what} ({KEEP_RULES[rule]}): {n} group{'s' if n != 1 else ''}",
                    include_hand_set)


def keep_chosen_edit(members: Iterable[int], keep: int, what: str) -> SetFlags:
    """The user chose ``keep`` in a group: ``keep`` on it, ``duplicate`` on the others (by hand)."""
    targets: dict[int, str | None] = {int(i): ("keep" if int(i) == int(keep) else "duplicate") for i in members}
    return SetFlags(targets, HAND, what)


def unflag_edit(members: Iterable[int], what: str = "unflag group") -> SetFlags:
    """Clear the flags of ``members`` that a bulk action set (hand-set ones stay)."""
    return SetFlags(dict.fromkeys(int(i) for i in members), BULK, what)


def leaves_hand_set(edit: Edit) -> bool:
    """Whether ``edit`` is a flag edit whose choice about hand-set flags the user may change."""
    return isinstance(edit, SetFlags)


def with_hand_set(edit: Edit, on: bool) -> Edit:
    """``edit`` that also changes (``on``) or leaves alone the flags set by hand."""
    return dataclasses.replace(edit, override_hand=bool(on)) if isinstance(edit, SetFlags) else edit


def image_indices_for_paths(store: SessionStore, paths: Iterable[str]) -> list[int]:
    """The image indices of ``paths`` (relative to the session's folder, "/" or the system's
    separator; an absolute path inside the folder is accepted). Unknown paths raise one error
    naming them and the fix."""
    import os
    from pathlib import PurePath

    index = {p: i for i, p in enumerate(store.image_paths())}
    skipped = {p for p, _ in store.skipped()}
    folder = str(store.folder)
    out: list[int] = []
    unknown: list[str] = []
    for raw in paths:
        p = str(raw)
        if os.path.isabs(p):
            rel = os.path.relpath(p, folder)
            p = p if rel.startswith("..") else rel
        p = PurePath(p).as_posix().removeprefix("./")
        if p in index:
            out.append(index[p])
        else:
            unknown.append(f"{p} (skipped when scanned)" if p in skipped else p)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise DcguiError(f"{len(unknown)} path(s) are not images of {store.path.name}: {shown}. Give paths relative "
                         f"to {folder}, as `dcgui clusters` writes them")
    return sorted(set(out))


def flag_paths_edit(store: SessionStore, paths: Iterable[str], flag: str | None) -> SetFlags:
    """``dcgui flag``: the images ``paths`` flagged by hand (``None`` clears), through ``flag_edit``
    like every flag the window sets: one edit, previewed when it touches several images."""
    indices = image_indices_for_paths(store, paths)
    what = f"{'unflag' if flag is None else f'flag {flag}'} {len(indices)} image{'s' if len(indices) != 1 else ''}"
    return flag_edit(indices, flag, HAND, f"{what} (dcgui flag)")
