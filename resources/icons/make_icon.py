"""Writes the dcgui app icon: ``dcgui.svg`` (the source) and ``dcgui.png`` (256 px, rendered from it
with Qt's SVG renderer). Run: ``python resources/icons/make_icon.py``.

The picture: three clusters of points (three colours, each inside a soft hull) on a deep-blue
rounded square, joined to a small network node: DeepCluster's loop of clustering and training.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLUSTERS = [  # centre x, centre y, radius, colour
    (92, 100, 46, "#ffb347"),
    (168, 92, 40, "#5ee3c1"),
    (126, 170, 44, "#ff7aa8"),
]


def svg() -> str:
    rng = random.Random(7)
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">',
        "<defs>",
        '<linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">',
        '<stop offset="0" stop-color="#24487f"/><stop offset="1" stop-color="#10213f"/>',
        "</linearGradient>",
        "</defs>",
        '<rect x="8" y="8" width="240" height="240" rx="52" fill="url(#bg)"/>',
        # links from each cluster centre to the hub: the network that learns from the clusters
        *[f'<line x1="{cx}" y1="{cy}" x2="128" y2="124" stroke="#ffffff" stroke-opacity="0.28" '
          f'stroke-width="5" stroke-linecap="round"/>' for cx, cy, _r, _c in CLUSTERS],
    ]
    for cx, cy, r, colour in CLUSTERS:
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}" fill-opacity="0.18" '
                     f'stroke="{colour}" stroke-opacity="0.75" stroke-width="4"/>')
        # a centre point and a jittered ring: a tight, readable cluster even at 16 px
        for j in range(7):
            a = j * 2 * math.pi / 6 + rng.uniform(-0.25, 0.25)
            d = 0.0 if j == 6 else r * rng.uniform(0.45, 0.6)
            x, y = cx + d * math.cos(a), cy + d * math.sin(a)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7.5" fill="{colour}"/>')
    parts.append('<circle cx="128" cy="124" r="13" fill="#ffffff"/>')
    parts.append('<circle cx="128" cy="124" r="6" fill="#24487f"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    text = svg()
    (HERE / "dcgui.svg").write_text(text, encoding="utf-8")
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(text.encode())
    image = QImage(256, 256, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    ok = image.save(str(HERE / "dcgui.png"))
    del app
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
