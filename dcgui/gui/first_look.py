"""The first look: the untrained network's clusters of the images decoded so far (issue 22).

While a new session's photos decode (minutes for thousands of big JPEGs), the trainer yields
``FirstLook`` events; the training panel hands each to the model (``set_first_look``) and this
view shows it in the Clusters tab: a banner that says what it is (not a trained epoch, how many
of the images, what replaces it) and one row of thumbnails per cluster, largest first, the images
nearest the cluster's centre first. The thumbnails travel in the event (the cache cannot be
opened before it is complete) and are decoded off the GUI thread by the view's own
``AsyncPixmapCache``. Epoch 1 clears the model's first look, and the layout shows the cluster
browser again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg

if TYPE_CHECKING:
    from dcgui.core.events import FirstLook

MAX_ROWS = 40  # clusters shown (the largest); the banner says when there are more
ROW_THUMB = 80  # px: a row of examples per cluster, smaller than the browser's grid


def banner_text(look: FirstLook) -> str:
    """What the window says a first look is."""
    more = (f" The {MAX_ROWS} largest of the {look.k} clusters are shown." if look.k > MAX_ROWS else "")
    return (f"<b>First look — not a trained epoch.</b> The untrained network's {look.k} clusters of "
            f"{look.n_decoded:,} of {look.n_total:,} images decoded so far (features of the random "
            f"initialisation, PCA and k-means as in an epoch; {look.seconds:.0f} s after Train). Training "
            f"starts when all images are decoded; epoch 1 then replaces this view.{more}")


class FirstLookView(QWidget):
    """The model's first look as a banner and a thumbnail row per cluster (empty when none)."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.thumbnails = AsyncPixmapCache(capacity=2000, max_bytes=64 << 20, parent=self)
        self.banner = QLabel()
        self.banner.setObjectName("firstLookBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setStyleSheet("#firstLookBanner { background: #fff4ce; color: #3b2f00; "
                                  "border: 1px solid #e0b400; border-radius: 4px; padding: 8px; }")
        self.area = QScrollArea()
        self.area.setWidgetResizable(True)
        self.area.setFrameShape(QFrame.Shape.NoFrame)
        self.rows: list[tuple[QLabel, ThumbnailGrid]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.area, 1)
        self.look: FirstLook | None = None
        model.firstLookChanged.connect(self.show_look)
        self.show_look(model.first_look)

    def show_look(self, look: FirstLook | None) -> None:
        self.look = look
        content = QWidget()
        box = QVBoxLayout(content)
        box.setContentsMargins(0, 0, 0, 0)
        self.rows = []  # the old rows go with the old content widget (setWidget deletes it)
        if look is None:
            self.banner.setText("")
            self.thumbnails.reset(None)
            self.area.setWidget(content)
            return
        self.banner.setText(banner_text(look))
        thumbs = look.thumbnails  # read-only from here on: safe to read on the decoding threads
        self.thumbnails.reset(lambda key: image_from_jpeg(thumbs[int(key)]))
        sizes = look.sizes()
        path_of = dict(zip(look.images.tolist(), look.relpaths, strict=True))
        for rank, c in enumerate(np.argsort(-sizes, kind="stable")[:MAX_ROWS]):
            examples = look.examples[int(c)]
            if not examples:
                continue  # an empty cluster has nothing to show
            title = QLabel(f"Cluster {rank + 1} · {int(sizes[c]):,} image{'s' if sizes[c] != 1 else ''}"
                           f"{' (nearest its centre first)' if sizes[c] > len(examples) else ''}")
            grid = ThumbnailGrid(self.thumbnails, thumb_size=ROW_THUMB)
            grid.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)  # nothing to act on yet
            grid.setWrapping(False)
            grid.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
            grid.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            grid.setFixedHeight(ROW_THUMB + 28)
            grid.set_images(list(examples), tooltips=[path_of[p] for p in examples])
            box.addWidget(title)
            box.addWidget(grid)
            self.rows.append((title, grid))
        box.addStretch(1)
        self.area.setWidget(content)
