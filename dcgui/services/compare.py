"""``dcgui compare`` and File ▸ Compare with…: several runs side by side.

``iter_compare_data`` gathers, per session, its metrics (AMI completed in memory, nothing is
written to the sessions), its settings and its latest evaluation; ``setting_rows`` lines the
settings up and marks the ones that differ; ``iter_compare`` writes them as one self-contained
HTML page (the same page rules as ``dcgui report``). The window draws the same data with
pyqtgraph.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.errors import DcguiError
from dcgui.core.events import PHASE_REPORT, Event, PhaseProgress
from dcgui.core.fsutil import atomic_write_text
from dcgui.core.numbers import fmt
from dcgui.services import html as h
from dcgui.services.metrics import complete_metrics, metric_arrays

if TYPE_CHECKING:
    from dcgui.core.events import EpochMetrics


@dataclass(frozen=True)
class Run:
    name: str  # short, unique among the runs compared
    path: Path
    folder: Path
    n_images: int
    settings: dict[str, Any]
    metrics: list[EpochMetrics]
    has_labels: bool
    evaluation: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    runs: list[Run]
    warnings: list[str]


def _names(paths: Sequence[Path]) -> list[str]:
    """The file stems, with parent folders added until they are unique."""
    names = [p.stem for p in paths]
    depth = 1
    while len(set(names)) < len(names) and depth < 6:
        names = ["/".join([*p.parent.parts[-depth:], p.stem]) for p in paths]
        depth += 1
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def iter_compare_data(paths: Sequence[str | os.PathLike[str]]) -> Generator[Event, None, Comparison]:
    """Read every session (read-only) into a ``Comparison``; two at least."""
    from dcgui.services.evaluate import stored_evaluations
    from dcgui.services.session import open_session

    files = [Path(p).expanduser().absolute() for p in paths]
    if len(files) < 2:
        raise DcguiError("compare needs at least two session files (dcgui compare A.dcgui B.dcgui ...)")
    runs = []
    for i, (path, name) in enumerate(zip(files, _names(files))):
        yield PhaseProgress(PHASE_REPORT, i, len(files))
        with open_session(path, readonly=True) as store:
            metrics = yield from complete_metrics(store, save=False)
            evals = stored_evaluations(store)
            runs.append(Run(name, path, store.folder, store.n_images, store.config.to_dict(), metrics,
                            store.labels() is not None, evals[-1] if evals else None))
    yield PhaseProgress(PHASE_REPORT, len(files), len(files))
    warnings = []
    folders = {str(r.folder) for r in runs}
    if len(folders) > 1:
        warnings.append("These runs were trained on different image folders ("
                        + ", ".join(f"{r.name}: {r.folder.parent.name}/{r.folder.name}" for r in runs)
                        + "): their NMI/AMI against labels and their evaluations are not measured on the same images.")
    return Comparison(runs, warnings)


def setting_rows(runs: Sequence[Run]) -> tuple[list[tuple[str, ...]], list[int]]:
    """(rows: setting, then its value in each run), indices of the rows whose values differ."""
    keys = sorted(set().union(*(r.settings for r in runs)))
    rows: list[tuple[str, ...]] = []
    differ: list[int] = []
    for key in keys:
        values = tuple("" if key not in r.settings else str(r.settings[key]) for r in runs)
        if len(set(values)) > 1:
            differ.append(len(rows))
        rows.append((key, *values))
    return rows, differ


def compare_html(cmp: Comparison, absolute_paths: bool = False) -> str:
    runs = cmp.runs
    colours = [h.COLOURS[i % len(h.COLOURS)] for i in range(len(runs))]
    body = [f"<h1>dcgui: {len(runs)} runs compared</h1>"]
    body += [f"<p class=\"warn\">{h.esc(w)}</p>" for w in cmp.warnings]
    body.append(h.table(["run", "session", "image folder", "images", "epochs"],
                        [(r.name, str(r.path) if absolute_paths else r.path.name,
                          str(r.folder) if absolute_paths else r.folder.name, r.n_images, len(r.metrics)) for r in runs]))
    arrays = [metric_arrays(r.metrics) for r in runs]

    def chart(title: str, keys: Sequence[tuple[str, str]], y_range: tuple[float, float] | None = None) -> str:
        series, cols, dashed = [], [], []
        for r, a, colour in zip(runs, arrays, colours):
            for key, label in keys:
                name = f"{r.name} {label}".strip()
                series.append((name, a["epoch"], a[key]))
                cols.append(colour)
                if label.startswith("AMI"):
                    dashed.append(name)
        return h.line_chart(series, title, y_range=y_range, dashed=dashed, colours=cols, width=1000, height=300)

    body.append("<h2>Curves</h2><p class=\"muted\">Solid: NMI; dashed: AMI (corrected for chance). One colour per run.</p>")
    body.append(chart("Stability between consecutive epochs", [("nmi_prev", "NMI"), ("ami_prev", "AMI")], (0, 1)))
    if any(r.has_labels for r in runs):
        body.append(chart("Against the labels", [("nmi_labels", "NMI"), ("ami_labels", "AMI")], (0, 1)))
    body.append(chart("Training loss", [("loss", "")]))
    last = [(r.name, len(r.metrics), fmt(r.metrics[-1].nmi_prev) if r.metrics else "–",
             fmt(r.metrics[-1].ami_prev) if r.metrics else "–",
             fmt(r.metrics[-1].nmi_labels) if r.metrics else "–", fmt(r.metrics[-1].ami_labels) if r.metrics else "–",
             fmt(r.metrics[-1].loss) if r.metrics else "–") for r in runs]
    body.append(h.table(["run", "epochs", "NMI t−1", "AMI t−1", "NMI labels", "AMI labels", "loss"], last,
                        numeric=[False] + [True] * 6))
    evaluated = [r for r in runs if r.evaluation]
    if evaluated:
        body.append("<h2>Evaluation</h2>")
        rows = []
        for r in evaluated:
            e = r.evaluation or {}
            for row in e.get("rows", []):
                rows.append((r.name, row["model"], fmt(row["knn_acc"]), fmt(row["linear_acc"]), fmt(row["nmi"]),
                             e.get("n_images", ""), e.get("time", "")))
        body.append(h.table(["run", "model", "kNN accuracy", "linear probe", "NMI (k-means)", "images", "when"], rows,
                            numeric=[False, False, True, True, True, True, False]))
    settings, differ = setting_rows(runs)
    body.append(f"<h2>Settings</h2><p class=\"muted\">{len(differ)} of {len(settings)} settings differ (highlighted).</p>")
    body.append(h.table(["setting", *[r.name for r in runs]], settings,
                        highlight=[(i, c) for i in differ for c in range(len(runs) + 1)]))
    return h.page("dcgui: runs compared", "\n".join(body))


@dataclass(frozen=True)
class CompareResult:
    path: Path
    bytes: int
    seconds: float
    warnings: list[str]


def iter_compare(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 absolute_paths: bool = False) -> Generator[Event, None, CompareResult]:
    """Write the comparison of the sessions ``paths`` to ``out`` (HTML, atomically)."""
    from dcgui.store.paths import check_output

    t0 = time.perf_counter()
    target = Path(out).expanduser().absolute()
    for p in paths:
        target = check_output(target, p, "comparison")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write the comparison to {target}: the folder {target.parent} does not exist")
    cmp = yield from iter_compare_data(paths)
    text = compare_html(cmp, absolute_paths)
    atomic_write_text(target, text)
    return CompareResult(target, len(text.encode("utf-8")), time.perf_counter() - t0, cmp.warnings)
