"""A form for ``TrainConfig``: smart defaults, a tooltip per field, inline validation.

The form edits the fields a user should think about (k, backbone, image size, epochs, Sobel,
batch size, head, device; projection head, learning rate, images per epoch, smallest crop, seed and CPU threads
under "Advanced"); every other field comes from the base config. ``config()`` builds a
``TrainConfig`` and runs its validation (including the checks that depend on the number of
images); a ``ValueError`` is shown under the form with the offending field marked, never raised
to the caller.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from dcgui.core.config import ARCHS, FIELD_HELP, HEADS, SEED_MAX, TrainConfig, default_config
from dcgui.gui import theme
from dcgui.gui.help import explain
from dcgui.gui.layout import button, hbox, vbox, wrapped_label

MAIN_FIELDS = ("k", "arch", "image_size", "epochs", "sobel", "batch_size", "head", "device", "steer")
ADVANCED_FIELDS = ("projection", "lr", "samples_per_epoch", "crop_scale_min", "seed", "threads")
LABELS = {
    "k": "Clusters (k)",
    "arch": "Backbone",
    "image_size": "Image size (px)",
    "epochs": "Epochs",
    "sobel": "Sobel filter",
    "batch_size": "Batch size",
    "head": "Top layer",
    "device": "Device",
    "lr": "Learning rate",
    "seed": "Random seed",
    "threads": "CPU threads",
    "samples_per_epoch": "Images per epoch",
    "crop_scale_min": "Smallest crop",
    "projection": "Projection head",
    "steer": "Steering",
}
HEAD_TEXT = {"reset": "reset each epoch (paper)", "centroids": "k-means centroids (v2)"}
_FIELD_IN_MESSAGE = re.compile(r"^\s*(\w+)=")

# glossary terms a field's help is about beyond the words it uses (None: the words it uses)
_FIELD_TERMS: dict[str, list[str]] = {
    "k": ["k", "pseudo-label"],
    "epochs": ["epoch"],
    "projection": ["projection head", "pseudo-label"],
    "sobel": ["Sobel"],
    "head": ["centroid", "pseudo-label"],
}


def device_type_of(name: str, devices: list[tuple[str, str]]) -> str:
    """The kind of device ``name`` resolves to: "auto" picks CUDA, then MPS, then the CPU."""
    if name == "auto":
        names = [n for n, _ in devices]
        for kind in ("cuda", "mps"):
            if any(n.startswith(kind) for n in names):
                return kind
        return "cpu"
    return name.split(":")[0]


class SettingsForm(QWidget):
    """``validityChanged(bool)`` after every edit; ``config()`` returns the config or ``None``."""

    validityChanged = Signal(bool)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = TrainConfig()
        self._n_images: int | None = None
        self._n_classes: int | None = None
        self._devices: list[tuple[str, str]] = [("auto", "Automatic"), ("cpu", "CPU")]
        self._user_edited = False
        self._loading = False
        self._valid = True
        self.editors: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}

        k = QSpinBox()
        k.setRange(2, 100_000)
        k.setGroupSeparatorShown(True)
        arch = QComboBox()
        for name in ARCHS:
            arch.addItem(name, name)
        size = QSpinBox()
        size.setRange(16, 1024)
        size.setSingleStep(8)
        size.setSuffix(" px")
        epochs = QSpinBox()
        epochs.setRange(1, 100_000)
        sobel = QCheckBox("grey + edges instead of colour")
        batch = QSpinBox()
        batch.setRange(2, 65_536)
        head = QComboBox()
        for name in HEADS:
            head.addItem(HEAD_TEXT.get(name, name), name)
        device = QComboBox()
        lr = QDoubleSpinBox()
        lr.setDecimals(4)
        lr.setRange(0.0001, 10.0)
        lr.setSingleStep(0.005)
        seed = QSpinBox()
        seed.setRange(0, SEED_MAX)  # the config's own bounds: the form cannot hold an invalid seed
        projection = QCheckBox("cluster an MLP's output, keep the features before it")
        steer = QCheckBox("your exclusions, merges and splits steer the training")
        samples = QSpinBox()
        samples.setRange(0, 2**31 - 1)
        samples.setSingleStep(1000)
        samples.setGroupSeparatorShown(True)
        samples.setSpecialValueText("one per image")  # 0
        crop = QDoubleSpinBox()
        crop.setDecimals(2)
        crop.setRange(0.01, 1.0)
        crop.setSingleStep(0.05)
        crop.setSuffix(" of the image")
        threads = QSpinBox()
        threads.setRange(0, 1024)
        threads.setSpecialValueText("automatic")  # 0
        self.editors = {"k": k, "arch": arch, "image_size": size, "epochs": epochs, "sobel": sobel,
                        "batch_size": batch, "head": head, "device": device, "lr": lr, "seed": seed,
                        "samples_per_epoch": samples, "crop_scale_min": crop, "threads": threads,
                        "projection": projection,
                        "steer": steer}

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in MAIN_FIELDS:
            form.addRow(self._label(name), self.editors[name])
        # "Advanced" is a disclosure button: the rarely changed fields stay out of the way.
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.advanced = QWidget()
        adv_form = QFormLayout(self.advanced)
        adv_form.setContentsMargins(0, 0, 0, 0)
        for name in ADVANCED_FIELDS:
            adv_form.addRow(self._label(name), self.editors[name])
        self.advanced.setVisible(False)

        self.error_label = wrapped_label()
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.hint_label = wrapped_label()
        self.reset_button = button("Suggested values", self.reset_defaults,
                                   tip="Reset every field to the defaults suggested for this collection and device")
        hint_row = hbox((self.hint_label, 1), (self.reset_button, 0, Qt.AlignmentFlag.AlignTop))
        vbox(form, (self.advanced_button, 0, Qt.AlignmentFlag.AlignLeft), self.advanced, hint_row, self.error_label,
             parent=self, margins=0)

        for name, editor in self.editors.items():
            # tooltip and What's This, with the glossary entries the help text uses (k, epoch, Sobel...)
            explain(editor, FIELD_HELP.get(name, ""), _FIELD_TERMS.get(name))
            explain(self.labels[name], FIELD_HELP.get(name, ""), _FIELD_TERMS.get(name))
            signal: Any
            if isinstance(editor, QSpinBox | QDoubleSpinBox):
                signal = editor.valueChanged
            elif isinstance(editor, QComboBox):
                signal = editor.currentIndexChanged
            else:
                signal = editor.toggled  # type: ignore[attr-defined]
            signal.connect(lambda *_a, n=name: self._edited(n))
        self.set_devices(self._devices)
        self.set_config(self._base)

    def _show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _label(self, name: str) -> QLabel:
        label = QLabel(LABELS[name] + ":")
        self.labels[name] = label
        return label

    # ---------------------------------------------------------------------------------------
    # public API
    # ---------------------------------------------------------------------------------------
    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Fill the device picker from ``dcgui.core.device.available_devices()``."""
        devices = list(devices)
        if not any(n == "auto" for n, _ in devices):
            devices.insert(0, ("auto", "Automatic (CUDA, then MPS, then CPU)"))
        self._devices = devices
        combo: QComboBox = self.editors["device"]  # type: ignore[assignment]
        current = combo.currentData() or self._base.device
        self._loading = True
        combo.clear()
        for name, description in devices:
            label = description if name == "auto" or name in description.lower() else f"{description} ({name})"
            combo.addItem(label, name)
            combo.setItemData(combo.count() - 1, f"{name}: {description}", Qt.ItemDataRole.ToolTipRole)
        i = combo.findData(current)
        combo.setCurrentIndex(i if i >= 0 else 0)
        self._loading = False
        self._update_hint()

    def set_collection(self, n_images: int, n_classes: int | None = None) -> None:
        """Use the collection's size (and class count) for the defaults and the k <= N check."""
        self._n_images = int(n_images)
        self._n_classes = n_classes if n_classes and n_classes >= 2 else None
        self.reset_defaults()

    def reset_defaults(self) -> None:
        if self._n_images is None:
            self.set_config(TrainConfig())
            return
        device = self._value("device") or "auto"
        try:
            cfg = default_config(self._n_images, device_type_of(device, self._devices), self._n_classes,
                                 device=device)
        except ValueError:  # a collection too small for any k: show the error through validation
            cfg = TrainConfig(k=2, device=device)
        self.set_config(cfg)
        self._user_edited = False

    def set_config(self, cfg: TrainConfig) -> None:
        self._base = cfg
        self._loading = True
        for name in MAIN_FIELDS + ADVANCED_FIELDS:
            self._set_value(name, getattr(cfg, name))
        self._loading = False
        self._validate()
        self._update_hint()

    def set_values(self, values: dict[str, Any]) -> None:
        """Set some fields (e.g. those a backbone file fixes), keeping the others as edited."""
        self._loading = True
        for name, value in values.items():
            if name in self.editors:
                self._set_value(name, value)
        self._loading = False
        self._validate()
        self._update_hint()
        self.changed.emit()

    def config(self) -> TrainConfig | None:
        """The edited config, or ``None`` when a value is invalid (the reason is shown)."""
        cfg, _ = self._build()
        return cfg

    @property
    def is_valid(self) -> bool:
        return self._valid

    @property
    def error_text(self) -> str:
        return self.error_label.text() if not self.error_label.isHidden() else ""

    # ---------------------------------------------------------------------------------------
    # internals
    # ---------------------------------------------------------------------------------------
    def _value(self, name: str) -> Any:
        w = self.editors[name]
        if isinstance(w, QSpinBox | QDoubleSpinBox):
            return w.value()
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        raise TypeError(name)

    def _set_value(self, name: str, value: Any) -> None:
        w = self.editors[name]
        if isinstance(w, QSpinBox):
            w.setValue(int(value))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(value))
        elif isinstance(w, QComboBox):
            i = w.findData(value)
            if i < 0:  # a value the picker does not list (e.g. a device not present now)
                w.addItem(f"{value} (not available here)", value)
                i = w.count() - 1
            w.setCurrentIndex(i)
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))

    def _build(self) -> tuple[TrainConfig | None, str]:
        values = {name: self._value(name) for name in MAIN_FIELDS + ADVANCED_FIELDS}
        try:
            cfg = self._base.replace(**values)
            cfg.validate(self._n_images)
        except ValueError as exc:
            return None, str(exc)
        return cfg, ""

    def _edited(self, name: str) -> None:
        if self._loading:
            return
        if name == "device" and not self._user_edited and self._n_images is not None:
            self.reset_defaults()  # untouched form: follow the device's defaults (GPU: resnet18, 128 px)
        else:
            self._user_edited = True
            self._validate()
        self._update_hint()
        self.changed.emit()

    def _validate(self) -> None:
        cfg, message = self._build()
        for label in self.labels.values():
            label.setStyleSheet("")
        if cfg is None:
            colour = theme.error_colour(self.palette()).name()
            self.error_label.setText(message)
            self.error_label.setStyleSheet(f"color: {colour};")
            self.error_label.setVisible(True)
            m = _FIELD_IN_MESSAGE.match(message)
            if m and m.group(1) in self.labels:
                self.labels[m.group(1)].setStyleSheet(f"color: {colour}; font-weight: bold;")
        else:
            self.error_label.setVisible(False)
            self.error_label.setText("")
        valid = cfg is not None
        if valid != self._valid:
            self._valid = valid
        self.validityChanged.emit(valid)

    def _update_hint(self) -> None:
        n = self._n_images
        if n is None:
            self.hint_label.setText("")
            return
        device = self._value("device") or "auto"
        kind = device_type_of(device, self._devices)
        classes = f", {self._n_classes} classes" if self._n_classes else ""
        self.hint_label.setText(
            f"Suggested for {n:,} images{classes} on {kind.upper() if kind != 'cpu' else 'the CPU'}. "
            "Hover over a field for what it does."
        )
