"""dcgui.gui.layout: rows, columns, buttons and dialog button boxes built from real widgets."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpacerItem,
    QWidget,
)

from dcgui.gui.layout import Space, Stretch, button, dialog_buttons, hbox, vbox, wrapped_label


def test_rows_and_columns_keep_order_stretch_and_spacing(qtbot):
    host = QWidget()
    qtbot.addWidget(host)
    a, b, c = QLabel("a"), QLabel("b"), QLabel("c")
    inner = hbox(c, margins=(1, 2, 3, 4), spacing=5)
    col = vbox((a, 2), Space(8), b, Stretch(3), inner, parent=host, margins=0)
    assert host.layout() is col
    assert col.count() == 5
    assert col.itemAt(0).widget() is a and col.stretch(0) == 2
    spacer = col.itemAt(1).spacerItem()
    assert isinstance(spacer, QSpacerItem) and spacer.sizeHint().height() == 8
    assert col.itemAt(2).widget() is b and col.stretch(2) == 0
    assert col.itemAt(3).spacerItem() is not None and col.stretch(3) == 3
    assert isinstance(col.itemAt(4).layout(), QHBoxLayout)
    m = col.contentsMargins()
    assert (m.left(), m.top(), m.right(), m.bottom()) == (0, 0, 0, 0)
    m = inner.contentsMargins()
    assert (m.left(), m.top(), m.right(), m.bottom()) == (1, 2, 3, 4)
    assert inner.spacing() == 5


def test_button_calls_its_slot_and_shows_its_tip(qtbot):
    clicks: list[bool] = []
    b = button("Go", lambda: clicks.append(True), tip="does it")
    qtbot.addWidget(b)
    assert (b.text(), b.toolTip()) == ("Go", "does it")
    b.click()
    assert clicks == [True]
    assert wrapped_label("x").wordWrap()


def test_dialog_buttons_accept_reject_and_default(qtbot):
    dialog = QDialog()
    qtbot.addWidget(dialog)
    main = QPushButton("Create")
    box = dialog_buttons(dialog, QDialogButtonBox.StandardButton.Cancel, main)
    assert main.isDefault()
    main.click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    dialog.setResult(QDialog.DialogCode.Accepted)
    box.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert dialog.result() == QDialog.DialogCode.Rejected

    # an action button does not accept; Close goes to the given reject
    other = QDialog()
    qtbot.addWidget(other)
    closed: list[bool] = []
    act = QPushButton("Export")
    box = dialog_buttons(other, QDialogButtonBox.StandardButton.Close, act, QDialogButtonBox.ButtonRole.ActionRole,
                         reject=lambda: closed.append(True))
    other.setResult(-1)
    act.click()
    assert other.result() == -1
    box.button(QDialogButtonBox.StandardButton.Close).click()
    assert closed == [True] and other.result() == -1
