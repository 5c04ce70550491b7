"""Builders for the widget shapes every panel and dialog repeats.

A row or column of widgets is one call (``hbox(a, (b, 1), Space(8), c)`` instead of a run of
``addWidget`` / ``addSpacing`` lines), a push button is made with its tooltip and slot in one
place (``button("Evaluate", self.run, tip=...)``), and a dialog's buttons come from
``dialog_buttons``. Each panel then reads as what it holds; how Qt is told is written once here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)
from superqt import QFlowLayout


@dataclass(frozen=True)
class Stretch:
    """Stretchable empty space in a row or column (``addStretch(factor)``)."""

    factor: int = 1


@dataclass(frozen=True)
class Space:
    """Fixed empty space of ``px`` pixels in a row or column (``addSpacing(px)``)."""

    px: int


#: What a row or column takes: a widget or a layout, either with a stretch factor as
#: ``(item, factor)``, a widget with a factor and an alignment as ``(widget, factor, align)``,
#: or a ``Stretch`` / ``Space``.
Item = (QWidget | QLayout | tuple[QWidget | QLayout, int] | tuple[QWidget, int, Qt.AlignmentFlag]
        | Stretch | Space)
Margins = int | tuple[int, int, int, int] | None

_Box = TypeVar("_Box", bound=QBoxLayout)
_Dialog = TypeVar("_Dialog", bound=QDialog)


def add_items(layout: QBoxLayout, *items: Item) -> None:
    """Append ``items`` to ``layout`` in order (see ``Item``)."""
    for item in items:
        if isinstance(item, Stretch):
            layout.addStretch(item.factor)
        elif isinstance(item, Space):
            layout.addSpacing(item.px)
        elif isinstance(item, QLayout):
            layout.addLayout(item)
        elif isinstance(item, QWidget):
            layout.addWidget(item)
        elif len(item) == 3:
            layout.addWidget(item[0], item[1], item[2])
        elif isinstance(item[0], QLayout):
            layout.addLayout(item[0], item[1])
        else:
            layout.addWidget(item[0], item[1])


def _box(layout: _Box, items: tuple[Item, ...], margins: Margins, spacing: int | None) -> _Box:
    if margins is not None:
        if isinstance(margins, int):
            margins = (margins, margins, margins, margins)
        layout.setContentsMargins(*margins)
    if spacing is not None:
        layout.setSpacing(spacing)
    add_items(layout, *items)
    return layout


def hbox(*items: Item, parent: QWidget | None = None, margins: Margins = None,
         spacing: int | None = None) -> QHBoxLayout:
    """A row of ``items``; installed on ``parent`` when given. ``margins``: one number for all four
    sides or (left, top, right, bottom); None keeps Qt's (the style's) margins and spacing."""
    return _box(QHBoxLayout(parent) if parent is not None else QHBoxLayout(), items, margins, spacing)


def vbox(*items: Item, parent: QWidget | None = None, margins: Margins = None,
         spacing: int | None = None) -> QVBoxLayout:
    """A column of ``items``; as ``hbox``."""
    return _box(QVBoxLayout(parent) if parent is not None else QVBoxLayout(), items, margins, spacing)


def flow(*items: QWidget | QLayout, parent: QWidget | None = None, spacing: int | None = None) -> QFlowLayout:
    """``items`` in a row that wraps onto more lines when there is not room for it: a toolbar of
    many buttons must not set the window's minimum width. A layout item (a group that stays on
    one line, such as ``hbox(..., margins=0)``) is put in a widget of its own. ``spacing``: pixels
    between items on a line."""
    layout = QFlowLayout(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    # Explicit: nested in another layout, the flow's "smart" spacing falls back to 0.
    layout.setHorizontalSpacing(6 if spacing is None else spacing)
    layout.setVerticalSpacing(4)
    widgets = []
    for item in items:
        if isinstance(item, QLayout):
            holder = QWidget()
            holder.setLayout(item)
            item = holder
        layout.addWidget(item)
        widgets.append(item)
    # A flow line puts its items at the top: one height for all keeps a label level with buttons.
    height = max((w.sizeHint().height() for w in widgets), default=0)
    for w in widgets:
        w.setMinimumHeight(height)
    return layout


def splitter(orientation: Qt.Orientation, *panes: QWidget | tuple[QWidget, int],
             parent: QWidget | None = None) -> QSplitter:
    """A splitter of ``panes`` in order; ``(pane, factor)`` gives that pane a stretch factor."""
    split = QSplitter(orientation, parent)
    for i, pane in enumerate(panes):
        widget, factor = pane if isinstance(pane, tuple) else (pane, None)
        split.addWidget(widget)
        if factor is not None:
            split.setStretchFactor(i, factor)
    return split


@contextmanager
def quietly(*objects: QObject) -> Iterator[None]:
    """Change ``objects`` with their signals blocked, and restore what they were: a control that
    shows the model's value must not send that value back as if the user had chosen it."""
    was = [o.blockSignals(True) for o in objects]
    try:
        yield
    finally:
        for o, blocked in zip(objects, was):
            o.blockSignals(blocked)


def button(text: str, slot: Callable[..., Any] | None = None, *, tip: str = "") -> QPushButton:
    """A push button showing ``text`` that calls ``slot`` when clicked, with tooltip ``tip``."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    if slot is not None:
        b.clicked.connect(slot)
    return b


_Spin = TypeVar("_Spin", QSpinBox, QDoubleSpinBox)


def _bounded(box: _Spin, lo: float, hi: float, step: float | None, prefix: str, suffix: str,
             special: str) -> _Spin:
    box.setRange(lo, hi)  # type: ignore[arg-type]  # int for a QSpinBox, float for a QDoubleSpinBox
    if step is not None:
        box.setSingleStep(step)  # type: ignore[arg-type]
    if prefix:
        box.setPrefix(prefix)
    if suffix:
        box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)  # shown instead of the minimum
    return box


def spin_box(lo: int, hi: int, *, step: int | None = None, prefix: str = "", suffix: str = "",
             special: str = "", separators: bool = False) -> QSpinBox:
    """A whole-number field bounded by ``lo``..``hi``; ``special`` is the text shown for ``lo``
    (e.g. "automatic" for 0), ``separators`` groups the thousands."""
    box = QSpinBox()
    if separators:
        box.setGroupSeparatorShown(True)
    return _bounded(box, lo, hi, step, prefix, suffix, special)


def float_spin_box(lo: float, hi: float, *, decimals: int, step: float | None = None,
                   suffix: str = "") -> QDoubleSpinBox:
    """A decimal field bounded by ``lo``..``hi`` with ``decimals`` digits after the point."""
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    return _bounded(box, lo, hi, step, "", suffix, "")


def wrapped_label(text: str = "") -> QLabel:
    """A label that wraps its text to the width it is given (explanations, notes, hints)."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def read_only_table(headers: list[str], rows: int = 0) -> QTableWidget:
    """A table that shows facts: one column a header in ``headers``, no row numbers, no editing."""
    table = QTableWidget(rows, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return table


def open_dialog(dialog: _Dialog, *, modal: bool = True) -> _Dialog:
    """Open ``dialog`` over its window (``open()``: window-modal, the call does not block) or, with
    ``modal`` False, beside it (``show()``); either way it is deleted when closed."""
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if modal:
        dialog.open()
    else:
        dialog.show()
    return dialog


def dialog_buttons(dialog: QDialog, standard: QDialogButtonBox.StandardButton,
                   main: QPushButton | None = None,
                   role: QDialogButtonBox.ButtonRole = QDialogButtonBox.ButtonRole.AcceptRole,
                   reject: Callable[[], Any] | None = None) -> QDialogButtonBox:
    """``dialog``'s button box: the ``standard`` buttons (Close, Cancel, OK ...) plus, when given, the
    dialog's own ``main`` button in ``role``, made the default. An accepting button accepts the
    dialog; Close / Cancel call ``reject`` (default: the dialog's own ``reject``)."""
    box = QDialogButtonBox(standard, dialog)
    if main is not None:
        box.addButton(main, role)
        main.setDefault(True)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(reject if reject is not None else dialog.reject)
    return box
