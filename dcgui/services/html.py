"""Self-contained HTML pieces for ``dcgui report`` and ``dcgui compare``: a page whose
Content-Security-Policy allows nothing but inline styles and ``data:`` images (no script, no
network), tables, thumbnails as data URIs and plots as inline SVG.

Strings in, strings out; every text from the session (names, paths, settings) goes through
``esc``.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np

from dcgui.core.analysis.river import River

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
COLOURS = ["#1f6fb4", "#2e8b3a", "#c8553d", "#8e44ad", "#d4a017", "#17a2b8", "#6c757d", "#e83e8c"]

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#222;background:#fff}
h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.diff{background:#fff3b0;font-weight:600}.warn{color:#a04000;font-weight:600}.muted{color:#777}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ccc;border-radius:6px;padding:6px 8px;
width:300px}.card h3{margin:2px 0 4px}.strip{display:flex;flex-wrap:wrap;gap:2px;margin:2px 0}
.strip img{width:56px;height:56px;object-fit:cover;border:1px solid #ccc;image-rendering:auto}
.lab{font-size:11px;color:#666;margin-top:4px}svg{max-width:100%;height:auto}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}code{font-size:12px}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] | None = None,
          highlight: Iterable[tuple[int, int]] = ()) -> str:
    """An HTML table; ``highlight``: (row, column) cells marked as differences."""
    marked = set(highlight)
    out = ["<table>" + ("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else "")]
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            cls = []
            if numeric and c < len(numeric) and numeric[c]:
                cls.append("n")
            if (r, c) in marked:
                cls.append("diff")
            attr = f" class=\"{' '.join(cls)}\"" if cls else ""
            cells.append(f"<td{attr}>{esc(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def small_jpeg(jpeg: bytes, side: int = 64, quality: int = 70) -> bytes:
    """A thumbnail for the page: at most ``side`` px on its long side, JPEG at ``quality``."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as src:
        im = src.convert("RGB")
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def img(jpeg: bytes, title: str = "") -> str:
    data = base64.b64encode(jpeg).decode("ascii")
    return f"<img src=\"data:image/jpeg;base64,{data}\" alt=\"{esc(title)}\" title=\"{esc(title)}\">"


# ---------------------------------------------------------------------------------------------
# SVG plots
# ---------------------------------------------------------------------------------------------
def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo] if math.isfinite(lo) else [0.0]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step + 1e-9) + 1)]


def _chart_frame(title: str, width: int, height: int, left: float, top: float, pw: float, ph: float) -> list[str]:
    """The opening of an SVG chart: the canvas, its title (also as a tooltip) and the plot area's frame
    (``pw`` x ``ph`` at ``left``, ``top``); the caller appends the marks and closes ``</svg>``."""
    return [f"<svg width=\"{width}\" height=\"{height}\" "
            f"viewBox=\"0 0 {width} {height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">",
            f"<title>{esc(title)}</title>",
            f"<text x=\"{left}\" y=\"15\" font-size=\"13\" font-weight=\"bold\">{esc(title)}</text>",
            f"<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>"]


def line_chart(series: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str, y_label: str = "",
               width: int = 520, height: int = 240, y_range: tuple[float, float] | None = None,
               dashed: Iterable[str] = (), colours: Sequence[str] | None = None) -> str:
    """Lines (x, y) with NaN gaps, axes with ticks, a legend; ``series``: (name, x, y);
    ``colours``: one per series (default: the palette in order)."""
    dashed = set(dashed)
    left, right, top, bottom = 48, 12, 26, 34
    xs = np.concatenate([np.asarray(x, float) for _, x, _ in series]) if series else np.zeros(0)
    ys = np.concatenate([np.asarray(y, float) for _, _, y in series]) if series else np.zeros(0)
    ys = ys[np.isfinite(ys)]
    if not len(xs) or not len(ys):
        return (f"<svg width=\"{width}\" height=\"60\" role=\"img\">"
                f"<text x=\"4\" y=\"20\" font-size=\"13\">{esc(title)}: no values yet</text></svg>")
    x0, x1 = float(xs.min()), float(xs.max())
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = y_range if y_range else (float(ys.min()), float(ys.max()))
    y0, y1 = min(y0, float(ys.min())), max(y1, float(ys.max()))  # AMI can be below 0: never clip
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = _chart_frame(title, width, height, left, top, pw, ph)
    for t in _nice_ticks(y0, y1):
        y = py(t)
        out.append(f"<line x1=\"{left}\" x2=\"{left + pw}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" stroke=\"#eee\"/>"
                   f"<text x=\"{left - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{t:g}</text>")
    for t in _nice_ticks(x0, x1, 8):
        if abs(t - round(t)) > 1e-9:
            continue  # epochs are whole numbers
        x = px(t)
        out.append(f"<text x=\"{x:.1f}\" y=\"{top + ph + 14}\" text-anchor=\"middle\">{round(t)}</text>")
    out.append(f"<text x=\"{left + pw / 2}\" y=\"{height - 4}\" text-anchor=\"middle\">epoch</text>")
    if y_label:
        out.append(f"<text transform=\"translate(12 {top + ph / 2}) rotate(-90)\" text-anchor=\"middle\">{esc(y_label)}</text>")
    legend_x, legend_y = left + 6.0, top + 10.0
    for i, (name, xv, yv) in enumerate(series):
        colour = colours[i] if colours else COLOURS[i % len(COLOURS)]
        dash = " stroke-dasharray=\"5 3\"" if name in dashed else ""
        runs: list[list[str]] = [[]]
        for a, b in zip(np.asarray(xv, float).tolist(), np.asarray(yv, float).tolist()):
            if math.isfinite(b):
                runs[-1].append(f"{px(a):.1f},{py(b):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                out.append(f"<polyline points=\"{' '.join(run)}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>")
            for p in run if len(run) <= 60 else []:
                cx, cy = p.split(",")
                out.append(f"<circle cx=\"{cx}\" cy=\"{cy}\" r=\"2.5\" fill=\"{colour}\"/>")
        if legend_x + 28 + 6.5 * len(name) > left + pw:  # next legend line
            legend_x, legend_y = left + 6, legend_y + 14
        out.append(f"<line x1=\"{legend_x}\" x2=\"{legend_x + 16}\" y1=\"{legend_y}\" y2=\"{legend_y}\" "
                   f"stroke=\"{colour}\" stroke-width=\"3\"{dash}/>"
                   f"<text x=\"{legend_x + 20}\" y=\"{legend_y + 4}\">{esc(name)}</text>")
        legend_x += 28 + 6.5 * len(name)
    out.append("</svg>")
    return "".join(out)


def sizes_chart(sizes: np.ndarray, title: str, width: int = 520, height: int = 200) -> str:
    """Cluster sizes sorted largest first (one bar each, or an area when there are many)."""
    s = np.sort(np.asarray(sizes, dtype=np.int64))[::-1]
    left, top, bottom, right = 48, 26, 28, 12
    pw, ph = width - left - right, height - top - bottom
    top_size = max(int(s.max()) if len(s) else 1, 1)
    out = _chart_frame(title, width, height, left, top, pw, ph)
    for t in _nice_ticks(0, top_size):
        y = top + ph - t / top_size * ph
        out.append(f"<text x=\"{left - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{t:g}</text>")
    n = max(len(s), 1)
    pts = [f"{left},{top + ph}"]
    for i, v in enumerate(s):
        x0, x1 = left + i / n * pw, left + (i + 1) / n * pw
        y = top + ph - v / top_size * ph
        pts += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
    pts.append(f"{left + pw},{top + ph}")
    out.append(f"<polygon points=\"{' '.join(pts)}\" fill=\"#5aa9e6\" stroke=\"#1f6fb4\" stroke-width=\"0.5\"/>")
    empty = int((s == 0).sum())
    out.append(f"<text x=\"{left + pw / 2}\" y=\"{height - 6}\" text-anchor=\"middle\">{len(s)} clusters, "
               f"largest first{f'; {empty} empty' if empty else ''}</text></svg>")
    return "".join(out)


def river_svg(r: River, title: str, width: int = 1000, height: int = 420) -> str:
    """The river as SVG: columns of cluster nodes, bands between them, grey stubs for the rest."""
    left, right, top, bottom = 30, 30, 26, 24
    cols = len(r.columns)
    if cols == 0:
        return ""
    pw, ph = width - left - right, height - top - bottom
    node_w = 6.0
    step = pw / max(cols - 1, 1)

    def cx(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + v * ph

    out = [f"<svg width=\"{width}\" height=\"{height}\" "
           f"viewBox=\"0 0 {width} {height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">",
           f"<title>{esc(title)}</title>",
           f"<text x=\"{left}\" y=\"15\" font-size=\"13\" font-weight=\"bold\">{esc(title)}</text>"]
    for i, f in enumerate(r.flows):
        xa, xb = cx(i) + node_w / 2, cx(i + 1) - node_w / 2
        mid = (xa + xb) / 2
        for b in range(len(f.src)):
            colour = COLOURS[int(f.src[b]) % len(COLOURS)]
            a0, a1, b0, b1 = y(f.sy0[b]), y(f.sy1[b]), y(f.dy0[b]), y(f.dy1[b])
            out.append(f"<path d=\"M{xa:.1f} {a0:.1f}C{mid:.1f} {a0:.1f} {mid:.1f} {b0:.1f} {xb:.1f} {b0:.1f}"
                       f"L{xb:.1f} {b1:.1f}C{mid:.1f} {b1:.1f} {mid:.1f} {a1:.1f} {xa:.1f} {a1:.1f}Z\" "
                       f"fill=\"{colour}\" fill-opacity=\"0.35\"><title>{int(f.count[b])} images: cluster "
                       f"{int(f.src[b])} (epoch {f.epoch}) to {int(f.dst[b])} (epoch {f.epoch + 1})</title></path>")
        stub = (xb - xa) * 0.3
        d = []
        for j in range(len(f.out_cluster)):
            a0, a1 = y(f.out_y0[j]), y(f.out_y1[j])
            d.append(f"M{xa:.1f} {a0:.1f}h{stub:.1f}v{a1 - a0:.1f}h{-stub:.1f}Z")
        for j in range(len(f.in_cluster)):
            b0, b1 = y(f.in_y0[j]), y(f.in_y1[j])
            d.append(f"M{xb:.1f} {b0:.1f}h{-stub:.1f}v{b1 - b0:.1f}h{stub:.1f}Z")
        if d:
            out.append(f"<path d=\"{''.join(d)}\" fill=\"#999\" fill-opacity=\"0.35\"><title>smaller flows "
                       f"(not drawn as bands)</title></path>")
    label_every = max(1, cols // 12)
    for i, col in enumerate(r.columns):
        x = cx(i) - node_w / 2
        nodes = "".join(f"M{x:.1f} {y(a):.1f}h{node_w}v{max(y(b) - y(a), 0.3):.1f}h{-node_w}Z"
                        for a, b in zip(col.y0, col.y1))
        out.append(f"<path d=\"{nodes}\" fill=\"#333\"/>")
        if i % label_every == 0 or i == cols - 1:
            out.append(f"<text x=\"{cx(i):.1f}\" y=\"{height - 6}\" text-anchor=\"middle\">{col.epoch}</text>")
    out.append("</svg>")
    return "".join(out)
