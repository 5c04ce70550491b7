"""``dcgui report`` and File ▸ Export report…: one self-contained HTML page about a session.

It opens offline in any browser: a Content-Security-Policy meta tag allows only inline styles
and ``data:`` images, thumbnails are small JPEG data URIs (from the session's thumbnail cache),
plots are inline SVG, and there is no script. Paths are relative to the image folder unless
``absolute_paths`` (so no home folder or user name leaves the machine by accident).

Size: a fixed number of thumbnails per card (``per`` nearest, sampled and boundary members)
and full cards only for the ``full_cards`` largest clusters (the others are one row with one
thumbnail each), so k = 1,000 stays well under 15 MB.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.analysis.cards import cards, purity
from dcgui.core.analysis.river import river
from dcgui.core.errors import USER_ERRORS
from dcgui.core.events import PHASE_REPORT, Event, Message, PhaseProgress
from dcgui.core.fsutil import atomic_write_text
from dcgui.core.numbers import fmt
from dcgui.services import html as h
from dcgui.services.metrics import complete_metrics, metric_arrays

if TYPE_CHECKING:
    from dcgui.core.control import RunControl
    from dcgui.core.events import EpochMetrics
    from dcgui.store import SessionStore

RIVER_EPOCHS = 30  # the river shows the last epochs up to this many (columns stay readable)
RIVER_BANDS = 120  # bands per epoch pair in the report's SVG (the window draws up to 200)
_STEPS = 8


@dataclass(frozen=True)
class ReportOptions:
    absolute_paths: bool = False
    per: int = 4  # thumbnails of each kind on a card (nearest, sample, boundary)
    full_cards: int = 120  # the largest clusters get a full card; the others a one-line row
    thumb_side: int = 64
    outliers: int = 12
    duplicate_groups: int = 8
    device: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class ReportResult:
    path: Path
    bytes: int
    seconds: float
    epoch: int  # the epoch the clusters are from (0: no trained epoch)
    cards: int


def _rel(path: str | os.PathLike[str], folder: Path, absolute: bool) -> str:
    """``path`` for the page: relative to the image folder unless ``absolute``."""
    if absolute:
        return str(path)
    try:
        return Path(os.path.relpath(Path(path), folder)).as_posix()
    except ValueError:  # another drive (Windows): the name only
        return Path(path).name


def _curves(metrics: list[EpochMetrics], has_labels: bool) -> str:
    a = metric_arrays(metrics)
    x = a["epoch"]
    parts = [h.line_chart([("NMI(t−1, t)", x, a["nmi_prev"]), ("AMI(t−1, t)", x, a["ami_prev"])],
                          "Stability between consecutive epochs", y_range=(0, 1), dashed=["AMI(t−1, t)"])]
    if has_labels:
        parts.append(h.line_chart([("NMI", x, a["nmi_labels"]), ("AMI", x, a["ami_labels"]), ("ARI", x, a["ari_labels"])],
                                  "Against the labels", y_range=(0, 1), dashed=["AMI"]))
    parts.append(h.line_chart([("loss", x, a["loss"])], "Training loss"))
    return "".join(parts)


def _metrics_table(metrics: list[EpochMetrics]) -> str:
    rows = [(m.epoch, fmt(m.loss), fmt(m.nmi_prev), fmt(m.ami_prev), fmt(m.nmi_labels),
             fmt(m.ami_labels), fmt(m.ari_labels), m.empty_clusters, m.max_cluster, fmt(m.seconds, 1))
            for m in metrics]
    return h.table(["epoch", "loss", "NMI t−1", "AMI t−1", "NMI labels", "AMI labels", "ARI labels",
                    "empty", "largest", "seconds"], rows, numeric=[True] * 10)


def iter_report(store: SessionStore, out: str | os.PathLike[str], options: ReportOptions | None = None,
                control: RunControl | None = None) -> Generator[Event, None, ReportResult]:
    """Write the report of ``store`` to ``out`` (atomically); yields progress, returns a summary."""
    from dcgui.store.paths import check_output

    t0 = time.perf_counter()
    opt = options or ReportOptions()
    out = check_output(out, store.path, "report")
    if out.is_dir():
        raise ValueError(f"cannot write the report to {out}: it is a folder; give a file name such as {out / 'report.html'}")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write the report to {out}: the folder {out.parent} does not exist")
    folder = store.folder
    rel: Callable[[str | os.PathLike[str]], str] = lambda p: _rel(p, folder, opt.absolute_paths)  # noqa: E731
    step = 0

    def progress() -> PhaseProgress:
        nonlocal step
        step += 1
        return PhaseProgress(PHASE_REPORT, step, _STEPS)

    yield PhaseProgress(PHASE_REPORT, 0, _STEPS)
    metrics = yield from complete_metrics(store, save=not store.readonly)
    yield progress()
    last = store.last_epoch()
    labels = store.labels()
    names = store.label_names()
    cfg = store.config
    title = f"dcgui report: {store.path.stem}"
    body: list[str] = [f"<h1>{h.esc(title)}</h1>"]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    v = store.versions
    body.append(f"<p class=\"muted\">Written {stamp} by dcgui {h.esc(v.get('dcgui'))} (torch {h.esc(v.get('torch'))}). "
                f"Session <code>{h.esc(store.path if opt.absolute_paths else store.path.name)}</code>, created "
                f"{h.esc(store.created)}. DeepCluster (Caron et al., ECCV 2018): features → PCA-whitening → "
                "k-means → the clusters become pseudo-labels → train → repeat.</p>")

    # -- the collection and the settings ------------------------------------------------------
    skipped = store.skipped()
    body.append("<h2>Collection</h2>")
    body.append(h.table([], [
        ("image folder", str(folder) if opt.absolute_paths else folder.name),
        ("images used", f"{store.n_images:,}"),
        ("files skipped", f"{len(skipped):,}"),
        ("labels (class sub-folders)", f"{len(names)}: {', '.join(names[:20])}{' …' if len(names) > 20 else ''}" if names else "none"),
        ("epochs trained", str(last)),
    ]))
    if skipped:
        shown = skipped[:200]
        body.append(f"<details><summary>Skipped files ({len(skipped)})</summary>"
                    + h.table(["file", "reason"], [(rel(folder / p), r) for p, r in shown])
                    + (f"<p class=\"muted\">… and {len(skipped) - len(shown)} more</p>" if len(skipped) > len(shown) else "")
                    + "</details>")
    body.append("<h2>Settings</h2>")
    body.append(h.table(["setting", "value"], sorted(cfg.to_dict().items())))

    if last == 0:
        body.append("<h2>Training</h2><p class=\"warn\">This session has no trained epoch yet: there are no "
                    "clusters, curves or cards to show. Train it (<code>dcgui train</code> or the window's "
                    "Training tab) and write the report again.</p>")
        cards_written = 0
    else:
        cards_written = yield from _trained_sections(store, metrics, labels, names, body, rel, opt, control, progress)

    # -- edits and exports -------------------------------------------------------------------
    body.append("<h2>Edit log</h2>")
    edits = store.edit_log()
    if edits:
        body.append(h.table(["time", "edit", "rows", ""], [(e.time, e.summary, e.rows, "undone" if e.undone else "")
                                                            for e in edits[-300:]]))
    else:
        body.append("<p class=\"muted\">No edits.</p>")
    body.append("<h2>Exports</h2>")
    exports = store.exports()
    if exports:
        rows = []
        for e in exports:
            d = e.get("details") or {}
            what = ", ".join(f"{k} {d[k]}" for k in ("epoch", "format", "mode", "rows", "files", "folders", "failed",
                                                      "excluded", "bytes") if d.get(k) is not None)
            rows.append((e["time"], e["kind"], rel(e["path"]), what, d.get("sha256", "")))
        body.append(h.table(["time", "kind", "path", "details", "sha256"], rows))
    else:
        body.append("<p class=\"muted\">Nothing exported yet.</p>")
    yield progress()
    text = h.page(title, "\n".join(body))
    atomic_write_text(out, text)
    yield PhaseProgress(PHASE_REPORT, _STEPS, _STEPS)
    return ReportResult(out, len(text.encode("utf-8")), time.perf_counter() - t0, last, cards_written)


def _trained_sections(store: SessionStore, metrics: list[EpochMetrics], labels: np.ndarray | None,
                      names: list[str], body: list[str], rel: Callable[[str | os.PathLike[str]], str], opt: ReportOptions,
                      control: RunControl | None, progress: Callable[[], PhaseProgress]) -> Generator[Event, None, int]:
    from dcgui.services import explore as es

    last = store.last_epoch()
    k = int(metrics[-1].k) if metrics else store.config.k
    assign = store.assignments(last)
    body.append("<h2>Training curves</h2>")
    body.append("<p class=\"muted\">NMI grows with k even for random clusters; AMI (dashed) is corrected for "
                "chance: about 0 for unrelated partitions, 1 for identical ones.</p>")
    body.append(_curves(metrics, labels is not None))
    body.append(f"<details><summary>Metrics per epoch</summary>{_metrics_table(metrics)}</details>")
    body.append(h.sizes_chart(np.bincount(assign, minlength=k), f"Cluster sizes at epoch {last}"))
    yield progress()

    # -- the river ---------------------------------------------------------------------------
    first = max(1, last - RIVER_EPOCHS + 1)
    if last > 1:
        r = river([store.assignments(e) for e in range(first, last + 1)], k, first_epoch=first, max_bands=RIVER_BANDS)
        body.append("<h2>Cluster river</h2><p class=\"muted\">Each column is an epoch, each dark bar a cluster "
                    "(height = images); bands carry the images that went from one cluster to the next epoch's "
                    f"(the {RIVER_BANDS} largest flows per pair; grey stubs: the rest). Hover a band for its count.</p>")
        body.append(h.river_svg(r, f"Epochs {first}–{last}"))
    yield progress()

    # -- features (cached per epoch), thumbnails ---------------------------------------------
    features = None
    try:
        features = yield from es.iter_session_features(store, last, opt.device, control)
    except USER_ERRORS as exc:
        yield Message(f"no features for the cards ({exc}): showing random members only", "warning")
    yield progress()
    thumb: Callable[[int], str]
    try:
        cache = es.open_cache(store)
        paths = store.image_paths()

        def thumb(i: int) -> str:
            return h.img(h.small_jpeg(cache.thumbnail_jpeg(i), opt.thumb_side), paths[i])
    except USER_ERRORS as exc:
        cache = None
        body.append(f"<p class=\"warn\">No thumbnails: {h.esc(exc)}</p>")

        def thumb(i: int) -> str:
            return ""

    # -- one card per cluster ----------------------------------------------------------------
    view = store.group_view(last)
    user = store.cluster_user_data()
    share, major = purity(assign, labels, k)
    sizes = np.bincount(assign, minlength=k)
    order = [int(c) for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    full = order[:opt.full_cards]
    body.append(f"<h2>Clusters at epoch {last}</h2>")
    body.append(f"<p class=\"muted\">{len(order)} non-empty clusters of k = {k}. Each card: the members nearest "
                "its centroid, a random sample, and boundary members (closest to another cluster).</p>")
    card_list = cards(assign, k, full, opt.per, features, opt.seed)

    def group_of(c: int) -> str:
        titles = [g.title for g in view.of_cluster(c) if g.kind != "cluster"]
        return ", ".join(dict.fromkeys(titles))

    html_cards = []
    for n_done, card in enumerate(card_list, 1):
        c = card.cluster
        name = (user.get(c) or {}).get("name") or ""
        pur = (f"purity {share[c]:.2f} ({h.esc(names[major[c]])})" if names and np.isfinite(share[c]) and major[c] >= 0
               else "")
        strips = "".join(f"<div class=\"lab\">{label}</div><div class=\"strip\">{''.join(thumb(i) for i in ids)}</div>"
                         for label, ids in (("nearest the centroid", card.nearest), ("random sample", card.sample),
                                            ("boundary", card.boundary)) if ids)
        group = group_of(c)
        html_cards.append(f"<div class=\"card\"><h3>cluster {c}{' · ' + h.esc(name) if name else ''}</h3>"
                          f"<div>{int(sizes[c])} images{' · ' + pur if pur else ''}"
                          f"{' · in ' + h.esc(group) if group else ''}</div>{strips}</div>")
        if n_done % 20 == 0:
            yield PhaseProgress(PHASE_REPORT, 5, 8)
    body.append(f"<div class=\"cards\">{''.join(html_cards)}</div>")
    rest = order[opt.full_cards:]
    if rest:
        rows = []
        rng = np.random.default_rng(opt.seed)
        for c in rest:
            members = np.flatnonzero(assign == c)
            one = thumb(int(rng.choice(members))) if len(members) else ""
            name = (user.get(c) or {}).get("name") or ""
            p = f"{share[c]:.2f}" if np.isfinite(share[c]) else ""
            rows.append(f"<tr><td class=\"n\">{c}</td><td>{h.esc(name)}</td><td class=\"n\">{int(sizes[c])}</td>"
                        f"<td class=\"n\">{p}</td><td class=\"strip\">{one}</td></tr>")
        body.append(f"<details><summary>The other {len(rest)} clusters (one image each)</summary><table><tr><th>cluster"
                    "</th><th>name</th><th>images</th><th>purity</th><th></th></tr>" + "".join(rows) + "</table></details>")
    yield progress()

    # -- duplicates and outliers, in brief ---------------------------------------------------
    body.append("<h2>Duplicates and outliers</h2>")
    if cache is not None:
        from dcgui.services.duplicates import identical_groups, iter_session_signatures

        try:
            sig = yield from iter_session_signatures(store, control)
            groups = identical_groups(sig)
            extra = sum(len(g) - 1 for g in groups)
            body.append(f"<p>{len(groups)} group{'s' if len(groups) != 1 else ''} of identical images "
                        f"({extra} image{'s' if extra != 1 else ''} are copies of another). Resized, re-encoded or "
                        "cropped copies: Explore ▸ Duplicates in the window, or <code>dcgui duplicates</code>.</p>")
            for g in groups[:opt.duplicate_groups]:
                body.append("<div class=\"strip\">" + "".join(thumb(int(i)) for i in g[:8]) + "</div>")
        except USER_ERRORS as exc:
            body.append(f"<p class=\"muted\">Duplicates not checked: {h.esc(exc)}</p>")
    if features is not None:
        from dcgui.services.explore import iter_session_outliers

        outl = yield from iter_session_outliers(store, last, opt.outliers, opt.device, control, features)
        body.append(f"<h3>The {len(outl)} images farthest from every cluster centre</h3>")
        body.append("<div class=\"strip\">" + "".join(thumb(o.index) for o in outl) + "</div>")
        body.append(h.table(["rank", "image", "cluster", "score"],
                            [(o.rank, rel(store.folder / o.path), o.cluster_name or o.group, fmt(o.score))
                             for o in outl]))
    yield progress()

    # -- evaluation --------------------------------------------------------------------------
    from dcgui.services.evaluate import stored_evaluations

    evals = stored_evaluations(store)
    if evals:
        body.append("<h2>Evaluation</h2>")
        for e in evals[-3:]:
            body.append(f"<p>{h.esc(e.get('time', ''))}: {e.get('n_images')} images of {e.get('n_classes')} classes "
                        f"in <code>{h.esc(rel(e.get('folder', '')))}</code>; chance {fmt(e.get('chance'))}; "
                        f"kNN {h.esc((e.get('knn') or {}).get('protocol', ''))}.</p>")
            body.append(h.table(["model", "kNN accuracy", "linear probe", "NMI (k-means)"],
                                [(r["model"], fmt(r["knn_acc"]), fmt(r["linear_acc"]), fmt(r["nmi"]))
                                 for r in e.get("rows", [])], numeric=[False, True, True, True]))
    return len(card_list)


def report_summary(result: ReportResult) -> dict[str, Any]:
    return {"path": str(result.path), "bytes": result.bytes, "seconds": round(result.seconds, 2),
            "epoch": result.epoch, "cards": result.cards}
