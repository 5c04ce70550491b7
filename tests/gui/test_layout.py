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

from dcgui.gui.layout import (
    Space,
    Stretch,
    button,
    dialog_buttons,
    float_spin_box,
    hbox,
    spin_box,
    vbox,
    wrapped_label,
)


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


def test_spin_boxes_hold_their_bounds_step_texts_and_decimals(qtbot):
    n = spin_box(0, 1024, step=8, prefix="up to ", suffix=" px", special="automatic", separators=True)
    qtbot.addWidget(n)
    assert (n.minimum(), n.maximum(), n.singleStep()) == (0, 1024, 8)
    assert (n.prefix(), n.suffix(), n.specialValueText()) == ("up to ", " px", "automatic")
    assert n.isGroupSeparatorShown()
    n.setValue(5000)
    assert n.value() == 1024  # clamped to the bound
    plain = spin_box(1, 10)
    qtbot.addWidget(plain)
    assert plain.singleStep() == 1 and plain.prefix() == plain.suffix() == plain.specialValueText() == ""
    assert not plain.isGroupSeparatorShown()
    # the decimals are set: with the default 2 the lower bound 0.0001 would read 0.0
    f = float_spin_box(0.0001, 10.0, decimals=4, step=0.005, suffix=" x")
    qtbot.addWidget(f)
    assert f.decimals() == 4 and f.suffix() == " x"
    assert abs(f.minimum() - 0.0001) < 1e-9 and abs(f.maximum() - 10.0) < 1e-9
    assert abs(f.singleStep() - 0.005) < 1e-9


def test_quietly_sets_values_without_signals_and_restores_blocking(qtbot):
    from PySide6.QtWidgets import QCheckBox, QSpinBox

    from dcgui.gui.layout import quietly

    spin, check = QSpinBox(), QCheckBox()
    heard: list[object] = []
    spin.valueChanged.connect(heard.append)
    check.toggled.connect(heard.append)
    with quietly(spin, check):
        spin.setValue(5)
        check.setChecked(True)
    assert heard == [] and spin.value() == 5 and check.isChecked()
    spin.setValue(6)  # unblocked again afterwards
    assert heard == [6]
    check.blockSignals(True)  # a control blocked before stays blocked
    with quietly(check):
        pass
    assert check.signalsBlocked()
    try:
        with quietly(spin):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not spin.signalsBlocked()


def test_flow_wraps_its_items_instead_of_widening(qtbot):
    from dcgui.gui.layout import flow

    holder = QWidget()
    qtbot.addWidget(holder)
    buttons = [QPushButton(f"A button with a long name {i}") for i in range(6)]
    layout = flow(hbox(QLabel("a group"), buttons[0], margins=0), *buttons[1:], parent=holder)
    one_line = layout.heightForWidth(10_000)
    assert layout.heightForWidth(300) > 2 * one_line  # several lines when narrow
    widest = max(b.sizeHint().width() for b in buttons)
    assert layout.minimumSize().width() < 2 * widest  # the minimum is about one item, not the row
