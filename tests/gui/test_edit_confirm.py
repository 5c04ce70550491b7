"""The confirmation of edits of many images, on a real session file and real Qt widgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QDialogButtonBox

from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_edit
from dcgui.store import BULK, HAND
from dcgui.store.edits import SetFlags
from tests.store.test_session import event, new_store


def test_bulk_flags_show_counts_and_spare_hand_set_flags(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = new_store(tmp_path, n=10, k=2)
    store.record_epoch(event(1, np.arange(10) % 2, np.arange(2)))
    store.set_image_flag([0, 1], "keep")  # by hand
    edit = SetFlags(dict.fromkeys(range(6), "duplicate"), BULK, "flag all groups")
    results: list[object] = []
    dialog = confirm_edit(None, edit, store.preview_edit, store.apply_edit, done=results.append)
    assert isinstance(dialog, EditConfirmDialog)
    qtbot.addWidget(dialog)
    assert store.image_flags() == {0: "keep", 1: "keep"}  # nothing happens before Apply
    text = dialog.text.text()
    assert "flag all groups: 6 images" in text and "4 × no flag → duplicate" in text
    assert "2 flags you set by hand left as they are" in text
    assert dialog.include_hand.isVisible() and not dialog.include_hand.isChecked()
    assert dialog.include_hand.text().startswith("Also replace the 2 flags you set by hand")

    dialog.include_hand.setChecked(True)  # the user opts in, and sees the new count first
    assert "6 × no flag → duplicate" not in dialog.text.text()
    assert "2 of the changes replace a flag you set by hand" in dialog.text.text()
    dialog.include_hand.setChecked(False)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    assert len(results) == 1 and not dialog.isVisible()
    assert store.image_flag_sources() == {0: ("keep", HAND), 1: ("keep", HAND),
                                          **{i: ("duplicate", BULK) for i in range(2, 6)}}
    assert store.next_undo_redo()[0].summary == "flag all groups"  # type: ignore[union-attr]

    # Cancel leaves everything as it was
    dialog = confirm_edit(None, SetFlags.same(range(10), "exclude"), store.preview_edit, store.apply_edit)
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert "2 of the changes replace a flag you set by hand" in dialog.text.text()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert len(store.edit_log()) == 2 and store.image_flags()[0] == "keep"

    # one image is applied at once; nothing to change disables Apply
    assert confirm_edit(None, SetFlags.same(9, "exclude"), store.preview_edit, store.apply_edit) is None
    assert store.image_flags()[9] == "exclude"
    dialog = confirm_edit(None, SetFlags.same([0, 1], "keep"), store.preview_edit, store.apply_edit)
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).isEnabled()
    store.close()
