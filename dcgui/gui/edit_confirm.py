"""Say what an edit of many images will change before it happens.

Every action that touches more than one image (flagging a selection, "keep one per group",
"unflag group", merging clusters ...) opens ``EditConfirmDialog`` with the store's preview of the
edit: how many images change from which flag to which, how many already are as asked, and how
many flags the user set by hand it would change or leave alone. Any flag action on more than one
image is a bulk action (the grid's Keep / Exclude on a selection included): it leaves hand-set
flags alone, and the one check box, "Also replace the N flags you set by hand", lets the user
include them. Apply runs the very edit previewed, through the session's edit log (so Ctrl+Z
undoes it). ``what`` names the images acted on ("20 of the 191 images chosen on the map").

Opened with ``open()``, not ``exec()`` (no nested event loop; tests press the buttons).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QWidget

from dcgui.gui.layout import dialog_buttons, vbox, wrapped_label
from dcgui.gui.session_model import deliver
from dcgui.services.flags import BULK, HAND, flag_edit, leaves_hand_set, with_hand_set

if TYPE_CHECKING:
    from dcgui.store.edits import Edit, EditPreview

Preview = Callable[["Edit"], "EditPreview"]
Apply = Callable[["Edit"], Any]


class EditConfirmDialog(QDialog):
    """The preview of ``edit`` with Apply / Cancel. ``applied(result)`` once the edit Apply
    started has landed (``SessionModel.apply_edit`` applies a large one on a worker)."""

    applied = Signal(object)

    def __init__(self, parent: QWidget | None, edit: Edit, preview: Preview, apply: Apply, title: str = "",
                 what: str = "") -> None:
        super().__init__(parent)
        self.what = wrapped_label(what[:1].upper() + what[1:])  # which images: the selection's source named
        self.what.setVisible(bool(what))
        self._edit = edit
        self._preview_fn = preview
        self._apply_fn = apply
        self.preview = preview(edit)
        self.setWindowTitle(title or self.preview.summary[:1].upper() + self.preview.summary[1:])
        self.text = wrapped_label()
        self.text.setMinimumWidth(380)
        self.include_hand = QCheckBox()
        self.include_hand.setVisible(False)
        self.include_hand.toggled.connect(self._on_include_hand)
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.clicked.connect(self.accept)
        vbox(self.what, self.text, self.include_hand, QLabel("Edit ▸ Undo (Ctrl+Z) takes it back."), self.buttons,
             parent=self)
        hand = self.preview.hand_kept
        if hand and leaves_hand_set(edit):
            self.include_hand.setText(f"Also replace the {hand:,} flag{'s' if hand != 1 else ''} you set by hand "
                                      "(unticked, they stay as they are)")
            self.include_hand.setVisible(True)
        self._show()

    @property
    def edit(self) -> Edit:
        """The edit Apply will run (with the check box's choice)."""
        return self._edit

    def _on_include_hand(self, on: bool) -> None:
        if leaves_hand_set(self._edit):
            self._edit = with_hand_set(self._edit, on)
            self.preview = self._preview_fn(self._edit)
            self._show()

    def _show(self) -> None:
        self.text.setText(self.preview.describe())
        self.apply_button.setEnabled(self.preview.rows > 0)

    def accept(self) -> None:
        result = self._apply_fn(self._edit)
        super().accept()
        deliver(result, self.applied.emit)  # a large edit lands later, from its worker


def needs_confirmation(preview: EditPreview) -> bool:
    """An edit of more than one image is shown first. (One image is the user's own click: it
    may replace that image's hand-set flag, and Ctrl+Z is there.)"""
    return preview.images > 1


def confirm_edit(parent: QWidget | None, edit: Edit, preview: Preview, apply: Apply, title: str = "",
                 done: Callable[[Any], None] | None = None, what: str = "") -> EditConfirmDialog | None:
    """Apply ``edit`` at once when it touches at most one image, else open ``EditConfirmDialog``; ``done(result)`` follows once the edit has landed. Returns the dialog."""
    p = preview(edit)
    if not needs_confirmation(p):
        result = apply(edit)
        if done is not None:
            deliver(result, done)
        return None
    dialog = EditConfirmDialog(parent, edit, preview, apply, title, what)
    if done is not None:
        dialog.applied.connect(done)
    dialog.open()
    return dialog


class _FlagModel(Protocol):
    """What ``confirm_flags`` needs of the session model."""

    @property
    def writable(self) -> bool: ...
    @property
    def message(self) -> Any: ...
    def set_flag(self, indices: Iterable[int], flag: str | None) -> int: ...
    def preview_edit(self, edit: Edit) -> EditPreview: ...
    def apply_edit(self, edit: Edit, quiet: bool = False) -> Any: ...


def confirm_flags(parent: QWidget | None, model: _FlagModel, indices: Iterable[int], flag: str | None,
                  source: str = HAND, action: str = "", what: str = "") -> EditConfirmDialog | None:
    """Flag ``indices``: one image at once (by hand unless ``source`` says otherwise), several
    as a bulk action after the preview, whose box may also replace hand-set flags. ``what``
    names the images for the dialog. Returns the dialog when one is shown."""
    idx = sorted({int(i) for i in indices})
    if not idx:
        model.message.emit("Select images first (click, Shift+click, Ctrl+A, or a lasso on the map)")
        return None
    if (len(idx) == 1 and source == HAND) or not model.writable:
        model.set_flag(idx, flag)  # (a read-only session says so there)
        return None
    return confirm_edit(parent, flag_edit(idx, flag, BULK, action), model.preview_edit,
                        model.apply_edit, what=what)
