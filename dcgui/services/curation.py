"""Curating a session: its clusters into folders, and its assignments as a CSV table.

``plan_curation`` turns "these clusters of this epoch into that folder" into a dry run
(``CurationPlan``) from the session's assignments, cluster names and "exclude" flags; the file
operations themselves are ``dcgui.core.output.curate``'s (never overwriting a file). ``dcgui curate``
and the cluster browser's "Export clusters to folders" both plan here; ``dcgui clusters`` and
"Export assignments as CSV" both write the table of ``cluster_table``.

Both follow the user's merges and splits (``SessionStore.group_view``): a merged group is one
folder, each part of a split cluster its own folder, and the table says each image's group.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.analysis.groups import KIND_CLUSTER, display_name
from dcgui.core.csvfile import write_csv
from dcgui.core.errors import DcguiError
from dcgui.core.images.exif import photo_facts
from dcgui.core.output import curate
from dcgui.store.paths import UnsafeOutput, UnsafeSessionPath, check_output

if TYPE_CHECKING:
    from dcgui.core.control import RunControl
    from dcgui.core.events import Event
    from dcgui.store import SessionStore

# The one schema of a cluster table: a file's path, its cluster id at the epoch, the cluster's
# name (empty when unnamed), the group it is shown in after the user's merges and splits (its
# key: "12", "12.2" for part 2 of split cluster 12, "g5" for merged group 5) and that group's
# name (empty when unnamed). ``dcgui clusters`` writes the first two columns (its contract), all
# of them with --groups. ``taken`` and ``camera`` come from each photo's EXIF header (empty where
# it has none; reading them costs one header read per file, so only when asked for).
# cluster_name / group_name: the one display name (``groups.display_name``: the user's name, else
# "cluster 12", "cluster 12.1", "group g5"); flag_set_by: "hand" or "bulk" (a rule or a bulk action).
CLUSTER_COLUMNS = ("path", "cluster", "cluster_name", "group", "group_name", "flag", "flag_set_by", "taken", "camera")


@dataclass
class CurationPlan:
    """A dry run of sorting clusters into folders: what would be created, nothing touched yet."""

    folder: Path  # the session's photo folder
    epoch: int
    out_dir: Path
    mode: str
    clusters: list[str]  # the chosen groups' keys ("12", "12.2", "g5")
    ops: list[tuple[Path, Path]]
    renamed: int  # destinations that got a _1, _2 ... suffix (a file of that name exists or repeats)
    left_out: int  # images of the chosen clusters flagged "exclude", not exported
    warnings: list[str] = field(default_factory=list)
    error: str = ""  # a target that is refused (no export possible)
    every_cluster: bool = False  # no choice was made: all clusters

    @property
    def n_files(self) -> int:
        return len(self.ops)

    @property
    def n_folders(self) -> int:
        return len({dst.parent for _, dst in self.ops})

    def summary(self) -> str:
        """What the plan would do, for the user to confirm."""
        if self.error:
            return self.error
        n = len(self.clusters)
        verb = {"copy": "copied", "symlink": "linked", "move": "moved"}[self.mode]
        lines = [
            f"{n} cluster{'s' if n != 1 else ''}, {self.n_files:,} file{'s' if self.n_files != 1 else ''} "
            f"will be {verb} into {self.n_folders} folder{'s' if self.n_folders != 1 else ''} of",
            f"    {self.out_dir}",
        ]
        folders = sorted({dst.parent.name for _, dst in self.ops})
        if folders:
            lines.append("Folders: " + ", ".join(folders[:6]) + (f" and {len(folders) - 6} more" if len(folders) > 6 else ""))
        if self.renamed:
            lines.append(f"{self.renamed:,} name conflict{'s' if self.renamed != 1 else ''}: those files get a _1, _2 … "
                         "suffix (existing files are never overwritten)")
        else:
            lines.append("No name conflicts: no existing file is touched.")
        if self.left_out:
            lines.append(f"{self.left_out:,} image{'s' if self.left_out != 1 else ''} flagged “exclude” left out.")
        lines += self.warnings
        return "\n".join(lines)


def plan_curation(store: SessionStore, epoch: int, out_dir: Path, mode: str = "copy",
                  clusters: Iterable[int | str] | None = None, leave_out_excluded: bool = True) -> CurationPlan:
    """Plan putting ``clusters`` (default: all) of ``epoch`` into ``out_dir``, one sub-folder per
    cluster or group: cluster ids or group keys ("12", "12.2", "g5"). A refused target is
    ``plan.error``; a key that is not a group at ``epoch`` raises ``DcguiError``."""
    folder = store.folder
    out_dir = Path(out_dir)
    view = store.group_view(epoch)
    if clusters is None:
        chosen = list(view.groups)
    else:
        chosen = []
        for key in clusters:
            try:
                g = view.find(str(key))
            except KeyError as exc:
                raise DcguiError(str(exc.args[0])) from None
            if g not in chosen:
                chosen.append(g)
    keys = [g.key for g in chosen]
    codes = [g.code for g in chosen]
    labels = view.labels
    excluded = [i for i, f in store.image_flags().items() if f == "exclude"] if leave_out_excluded else []
    try:
        check_output(out_dir, store.path, "curate folder")
        warnings = curate.check_target(folder, out_dir, mode)
        # Every source is checked to lie inside the folder: a doctored session is refused whole.
        ops = curate.plan_curation(store.image_files(), labels, out_dir,
                                   clusters=None if clusters is None else codes, names=view.curate_names(),
                                   excluded=excluded)
        targets = sorted({dst.parent for _, dst in ops})
        curate.check_destinations(folder, targets)  # a cluster named like the photo folder
        for target in targets:
            check_output(target, store.path, "cluster folder")
    except (UnsafeOutput, UnsafeSessionPath, ValueError) as exc:  # ValueError: check_target's refusals
        return CurationPlan(folder, epoch, out_dir, mode, keys, [], 0, 0, [], str(exc))
    wanted = set(codes)
    left_out = sum(1 for i in excluded if 0 <= i < labels.size and int(labels[i]) in wanted)
    renamed = sum(1 for src, dst in ops if src.name != dst.name)
    return CurationPlan(folder, epoch, out_dir, mode, keys, ops, renamed, left_out, warnings,
                        every_cluster=clusters is None)


def iter_curate(plan: CurationPlan, control: RunControl | None = None
                ) -> Generator[Event, None, curate.CurateResult]:
    """Carry out ``plan`` (copy, link or move each file; an existing name gets a suffix, nothing is
    replaced); a stop is honoured between files. Touches no session: safe on a worker thread."""
    return (yield from curate.iter_apply(plan.ops, plan.mode, control))


def record_curation(store: SessionStore, plan: CurationPlan, result: curate.CurateResult, kind: str) -> None:
    """Log a finished curation in the session (``dcgui info`` lists it)."""
    store.record_export(kind, plan.out_dir, {
        "epoch": plan.epoch, "mode": plan.mode, "files": len(result.done), "folders": plan.n_folders,
        "failed": len(result.failed), "excluded": plan.left_out, "clusters": None if plan.every_cluster else plan.clusters,
    })


def cluster_table(store: SessionStore, epoch: int, absolute: bool = True,
                  columns: Sequence[str] = CLUSTER_COLUMNS) -> list[list[Any]]:
    """Rows of ``columns`` (a prefix of ``CLUSTER_COLUMNS``), one per usable image at ``epoch``.

    ``absolute``: the files, each checked to lie inside the photo folder (``UnsafeSessionPath``
    otherwise), else the paths relative to it. Read on the store's thread; writing the rows may
    happen anywhere."""
    if tuple(columns) != CLUSTER_COLUMNS[:len(columns)]:
        raise ValueError(f"columns {list(columns)} must be the first of {list(CLUSTER_COLUMNS)}")
    assign = store.assignments(epoch).tolist()
    names = {c: d.get("name") for c, d in store.cluster_user_data().items()}
    view = store.group_view(epoch)
    groups = {g.code: (g.key, g.title) for g in view.groups}
    cluster_names = {c: display_name(KIND_CLUSTER, str(c), names.get(c)) for c in set(assign)}
    flags = store.image_flag_sources() if len(columns) > CLUSTER_COLUMNS.index("flag") else {}
    with_exif = len(columns) > EXIF_AT
    # the files are read (or named) only when needed; each is checked to lie inside the folder
    files = store.image_files() if absolute or with_exif else []
    paths = [str(f) for f in files] if absolute else store.image_paths()
    # an image the epoch left out of the clustering (flagged exclude, steering on): empty cluster cells
    rows = [[path, c, cluster_names[c], *groups[code], *flags.get(i, ("", ""))] if c >= 0
            else [path, "", "", "", "", *flags.get(i, ("", ""))]
            for i, (path, c, code) in enumerate(zip(paths, assign, view.labels.tolist()))]
    if with_exif:
        add_photo_facts(rows, files)
    return [row[:len(columns)] for row in rows]


EXIF_AT = CLUSTER_COLUMNS.index("taken")  # the first column read from the files, not the session


def add_photo_facts(rows: list[list[Any]], files: Sequence[Path], control: RunControl | None = None) -> None:
    """Append ``taken`` and ``camera`` (EXIF, one header read per file) to each row of
    ``cluster_table(..., columns=CLUSTER_COLUMNS[:EXIF_AT])``. File I/O with no store access, so
    it may run on a worker thread; ``control``: a stop is honoured between files."""
    for row, f in zip(rows, files, strict=True):
        if control is not None:
            control.check()
        facts = photo_facts(f)
        row += [facts.taken, facts.camera]


def write_cluster_table(dest: str | os.PathLike[str], rows: Sequence[Sequence[Any]],
                        columns: Sequence[str] = CLUSTER_COLUMNS) -> int:
    """The clusters CSV (the CLI's and the window's) through the one CSV writer
    (``dcgui.core.csvfile``: spreadsheet-safe text cells, one row per image); returns the rows."""
    return write_csv(dest, columns, rows)
