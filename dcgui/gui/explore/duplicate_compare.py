"""Two copies of one photo, large, so that their difference can be seen: side by side, or
flickering in one place (the eye finds a crop, a shift or a changed detail at once when the two
alternate at the same scale).

The files are decoded on the thread pool (``image_pane.decode_for_display``: EXIF orientation,
any colour mode, at most the pane's resolution); the GUI thread only scales the result.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from dcgui.gui.image_pane import DisplayDecodes, ImageView, display_side, session_file
from dcgui.gui.layout import hbox, vbox

if TYPE_CHECKING:
    from dcgui.store.paths import SessionPaths

FLICKER_MS = 600  # one image, then the other: slow enough to see what moved


class DuplicateCompare(QWidget):
    """The kept copy (left) beside the copy being looked at (right), or both flickering in the
    left view. ``show_pair(kept, other, captions)``; ``flicker`` is the toggle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paths: SessionPaths | None = None
        self._rel: list[str] = ["", ""]
        self._index: list[int | None] = [None, None]
        self._images: list[QImage | None] = [None, None]
        self._texts = ["", ""]
        self._decodes = DisplayDecodes(self._on_decoded, self)
        self._shown = 0  # which image the flickering view shows now
        self.views = [ImageView(self), ImageView(self)]
        self.captions = [QLabel(self), QLabel(self)]
        for c in self.captions:
            c.setWordWrap(True)
            c.setTextFormat(Qt.TextFormat.PlainText)
        self.flicker_box = QCheckBox("Flicker", self)
        self.flicker_box.setToolTip("Show the two copies in turn in one place, at the same size: a crop, a shift or "
                                    "a changed detail jumps out (F)")
        self.flicker_box.toggled.connect(self._on_flicker)
        self._timer = QTimer(self)
        self._timer.setInterval(FLICKER_MS)
        self._timer.timeout.connect(self._flip)
        cols = hbox(*((vbox((v, 1), c), 1) for v, c in zip(self.views, self.captions)))
        self.hint = QLabel(self)  # what the keys do (set by the view that binds them)
        self.hint.setEnabled(False)  # drawn muted
        self.hint.setWordWrap(True)  # a long line of keys must not widen the window
        vbox((cols, 1), hbox(self.flicker_box, (self.hint, 1)), parent=self, margins=0)
        self.clear()

    # -- API --------------------------------------------------------------------------------------
    def set_paths(self, paths: SessionPaths | None) -> None:
        self._paths = paths

    @property
    def flicker(self) -> bool:
        return self.flicker_box.isChecked()

    def toggle_flicker(self) -> None:
        self.flicker_box.toggle()

    def shown_pair(self) -> tuple[int | None, int | None]:
        return self._index[0], self._index[1]

    def loaded(self) -> bool:
        """Both images decoded (tests)."""
        return all(img is not None for img, i in zip(self._images, self._index) if i is not None)

    def clear(self, message: str = "Pick a group to compare its copies") -> None:
        self._decodes.begin()
        self._index, self._rel, self._images, self._texts = [None, None], ["", ""], [None, None], ["", ""]
        for v in self.views:
            v.set_image(None, message)
        self._render_captions()

    def show_pair(self, kept: int, kept_rel: str, kept_caption: str,
                  other: int | None, other_rel: str, other_caption: str) -> None:
        """Show ``kept`` on the left and ``other`` (another member; None: nothing) on the right."""
        self._texts = [kept_caption, other_caption if other is not None else ""]
        if self._index == [kept, other]:
            self._render_captions()
            return
        self._decodes.begin()
        self._index, self._rel, self._images = [kept, other], [kept_rel, other_rel], [None, None]
        max_side, paths = display_side(self.views[0]), self._paths
        for s, (i, rel) in enumerate(zip(self._index, self._rel)):
            if i is None:
                self.views[s].set_image(None, "Select another copy of the group to compare")
                continue
            self.views[s].set_image(None, "Loading…")
            self._decodes.decode(s, partial(session_file, paths, rel, i), max_side)
        self._shown = 0
        self._render_captions()

    # -- internals --------------------------------------------------------------------------------
    def _on_decoded(self, side: int, image: QImage | None, _size: object, _facts: object, error: str) -> None:
        self._images[side] = image
        if self.flicker and side == self._shown:
            self.views[0].set_image(image, error)
        elif not self.flicker:
            self.views[side].set_image(image, f"Cannot show this image: {error}" if image is None else "")

    def _on_flicker(self, on: bool) -> None:
        self.views[1].setVisible(not on)
        self.captions[1].setVisible(not on)
        if on:
            self._shown = 0
            self._timer.start()
        else:
            self._timer.stop()
            self._shown = 0
            self.views[1].set_image(self._images[1])
        self._show_left()

    def _flip(self) -> None:
        if self._index[1] is None:
            return
        self._shown = 1 - self._shown
        self._show_left()

    def _show_left(self) -> None:
        self.views[0].set_image(self._images[self._shown], "Loading…")
        self._render_captions()

    def _render_captions(self) -> None:
        if self.flicker:
            which = "Now showing the kept copy" if self._shown == 0 else "Now showing the other copy"
            self.captions[0].setText(f"{which}\n{self._texts[self._shown]}")
        else:
            for c, t in zip(self.captions, self._texts):
                c.setText(t)
