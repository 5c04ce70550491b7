"""Which copy to keep in a group of near-duplicates: a rule the user sees and chooses.

``keep_one_flags`` turns groups into flags: the kept image of each group ``keep``, the others
``duplicate``. Nothing here touches a file; the flags go through the session's edit log as one
bulk action (``dcgui.store.edits.SetFlags``), so they can be previewed and undone.

The default rule keeps the most complete picture: the copy the others are crops or downscales
of. Which image is a crop of which comes from the pixel alignment of the pair
(``NearDuplicates.crops_of``); an image that is a crop of another group member never wins, so an
upscaled crop (more pixels, bigger file) cannot displace its original. Among the images that
show the whole picture, the one with the most pixels is the one the others are downscales of.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np

from dcgui.core.errors import InvalidValue

# rule -> what the user reads; every rule breaks ties by the next criteria, then by path order
KEEP_RULES: dict[str, str] = {
    "complete": "most complete picture",
    "largest": "largest file",
    "resolution": "highest resolution",
    "oldest": "oldest file (modification time)",
}
DEFAULT_KEEP_RULE = "complete"
# what each rule compares, in order (tooltips, --help)
KEEP_RULE_DETAILS: dict[str, str] = {
    "complete": "the image the others are crops or downscales of (never a crop of another copy, even an "
                "upscaled one), then the largest file, then the oldest",
    "largest": "the largest file, then the most pixels",
    "resolution": "the most pixels, then the largest file",
    "oldest": "the oldest modification time, then the largest file",
}

CropsOf = Mapping[int, Collection[int]]  # image -> the images it is a crop of


def _check(rule: str) -> None:
    if rule not in KEEP_RULES:
        raise InvalidValue(f"keep rule {rule!r} is unknown: use one of {', '.join(KEEP_RULES)}")


def _cropped(m: np.ndarray, crops_of: CropsOf | None) -> np.ndarray:
    """1 where the member is a crop of another member of the same group, else 0."""
    if not crops_of:
        return np.zeros(len(m), np.int64)
    inside = set(m.tolist())
    return np.array([int(bool(set(crops_of.get(int(i), ())) & (inside - {int(i)}))) for i in m], np.int64)


def rank_members(members: Sequence[int] | np.ndarray, rule: str, stats: Mapping[str, np.ndarray],
                 crops_of: CropsOf | None = None) -> np.ndarray:
    """``members`` best first under ``rule``. ``stats``: per-image ``size``, ``mtime_ns``,
    ``width``, ``height`` arrays (``SessionStore.image_stats()``); ``crops_of``: which image is
    a crop of which (``NearDuplicates.crops_of()``), read by the ``complete`` rule."""
    _check(rule)
    m = np.asarray(members, dtype=np.int64)
    size = np.asarray(stats["size"], dtype=np.int64)[m]
    pixels = np.asarray(stats["width"], dtype=np.int64)[m] * np.asarray(stats["height"], dtype=np.int64)[m]
    mtime = np.asarray(stats["mtime_ns"], dtype=np.int64)[m]
    # np.lexsort: the last key is the primary one
    if rule == "complete":
        order = np.lexsort((m, mtime, -size, -pixels, _cropped(m, crops_of)))
    elif rule == "largest":
        order = np.lexsort((m, -pixels, -size))
    elif rule == "resolution":
        order = np.lexsort((m, -size, -pixels))
    else:
        order = np.lexsort((m, -size, mtime))
    return m[order]


def keep_reasons(members: Sequence[int] | np.ndarray, rule: str, stats: Mapping[str, np.ndarray],
                 crops_of: CropsOf | None = None) -> dict[int, str]:
    """Image -> one short sentence: why the rule keeps it, or why the kept image beats it."""
    ranked = rank_members(members, rule, stats, crops_of)
    size = np.asarray(stats["size"], dtype=np.int64)
    pixels = np.asarray(stats["width"], dtype=np.int64) * np.asarray(stats["height"], dtype=np.int64)
    mtime = np.asarray(stats["mtime_ns"], dtype=np.int64)
    best = int(ranked[0])
    group = {int(i) for i in ranked}
    crops = {int(i) for i, c in zip(ranked.tolist(), _cropped(ranked, crops_of).tolist()) if c}
    out: dict[int, str] = {}
    for i in (int(x) for x in ranked):
        if i == best:
            continue
        if rule == "complete" and i in crops:
            of = sorted(set((crops_of or {}).get(i, ())) & group)
            out[i] = "a crop of " + ("the kept image" if best in of else f"{len(of)} other image{'s' if len(of) != 1 else ''}")
        elif rule in ("complete", "resolution") and pixels[i] < pixels[best]:
            out[i] = "a downscale: fewer pixels" if rule == "complete" else "fewer pixels"
        elif rule == "oldest" and mtime[i] > mtime[best]:
            out[i] = "newer file"
        elif size[i] < size[best]:
            out[i] = "smaller file"
        elif rule == "largest" and pixels[i] < pixels[best]:
            out[i] = "same file size, fewer pixels"
        elif mtime[i] > mtime[best]:
            out[i] = "same size, newer file"
        else:
            out[i] = "a tie: the path order decides"
    others = [i for i in (int(x) for x in ranked) if i != best]
    if rule == "complete":
        if others and all(out[i].startswith("a crop") for i in others):
            out[best] = "the whole picture: the others are crops of it"
        elif others and all(out[i].startswith(("a crop", "a downscale")) for i in others):
            out[best] = "the whole picture at the most pixels: the others are crops or downscales"
        elif crops:
            out[best] = "not a crop, and the most pixels, largest file or oldest of those that are not"
        else:
            out[best] = "the most pixels, then the largest file, then the oldest"
    else:
        out[best] = f"kept: {KEEP_RULES[rule]}"
    return out


def keep_one_flags(groups: Iterable[Sequence[int] | np.ndarray], rule: str, stats: Mapping[str, np.ndarray],
                   crops_of: CropsOf | None = None) -> dict[int, str]:
    """Image -> flag: ``keep`` for the best image of each group under ``rule``, ``duplicate`` for
    the rest. Groups of one image are left alone."""
    out: dict[int, str] = {}
    for g in groups:
        if len(g) < 2:
            continue
        ranked = rank_members(g, rule, stats, crops_of)
        out[int(ranked[0])] = "keep"
        out.update(dict.fromkeys((int(i) for i in ranked[1:]), "duplicate"))
    return out
