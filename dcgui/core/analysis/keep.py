"""Which copy to keep in a group of near-duplicates: a rule the user sees and chooses.

``keep_one_flags`` turns groups into flags: the kept image of each group ``keep``, the others
``duplicate``. Nothing here touches a file; the flags go through the session's edit log as one
bulk action (``dcgui.store.edits.SetFlags``), so they can be previewed and undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

# rule -> what the user reads; every rule breaks ties by the next criteria, then by path order
KEEP_RULES: dict[str, str] = {
    "largest": "largest file",
    "resolution": "highest resolution",
    "oldest": "oldest file (modification time)",
}
DEFAULT_KEEP_RULE = "largest"


def _check(rule: str) -> None:
    if rule not in KEEP_RULES:
        raise ValueError(f"keep rule {rule!r} is unknown: use one of {', '.join(KEEP_RULES)}")


def rank_members(members: Sequence[int] | np.ndarray, rule: str, stats: Mapping[str, np.ndarray]) -> np.ndarray:
    """``members`` best first under ``rule``. ``stats``: per-image ``size``, ``mtime_ns``,
    ``width``, ``height`` arrays (``SessionStore.image_stats()``)."""
    _check(rule)
    m = np.asarray(members, dtype=np.int64)
    size = np.asarray(stats["size"], dtype=np.int64)[m]
    pixels = np.asarray(stats["width"], dtype=np.int64)[m] * np.asarray(stats["height"], dtype=np.int64)[m]
    mtime = np.asarray(stats["mtime_ns"], dtype=np.int64)[m]
    # np.lexsort: the last key is the primary one
    if rule == "largest":
        order = np.lexsort((m, -pixels, -size))
    elif rule == "resolution":
        order = np.lexsort((m, -size, -pixels))
    else:
        order = np.lexsort((m, -size, mtime))
    return m[order]


def keep_one_flags(groups: Iterable[Sequence[int] | np.ndarray], rule: str, stats: Mapping[str, np.ndarray]
                   ) -> dict[int, str]:
    """Image -> flag: ``keep`` for the best image of each group under ``rule``, ``duplicate`` for
    the rest. Groups of one image are left alone."""
    out: dict[int, str] = {}
    for g in groups:
        if len(g) < 2:
            continue
        ranked = rank_members(g, rule, stats)
        out[int(ranked[0])] = "keep"
        out.update(dict.fromkeys((int(i) for i in ranked[1:]), "duplicate"))
    return out
