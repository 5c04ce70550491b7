""""Expected time" for a training configuration, measured on this machine in the background.

The label asks ``dcgui.core.train.estimate.measure_rates`` (a few real training and feature steps of
the chosen network on random pixels) in a ``GeneratorWorker``, once per network-shaped part of
the configuration (architecture, image size, device, k...); changing only the number of epochs
or samples rescales the last measurement at once. Edits are debounced, a measurement for an
older configuration is dropped, and the GUI thread never waits for one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget
from superqt.utils import qdebounced

from dcgui.core.config import TrainConfig
from dcgui.core.train.estimate import (
    PhaseTimes,
    Rates,
    epoch_seconds,
    estimate_run_seconds,
    format_duration,
    measure_rates,
)
from dcgui.gui.worker import GeneratorWorker, WorkerError, call_job, torch_threads_for_worker

# Fields that change the cost of a step; the others (epochs, samples, lr, seed...) do not.
_COST_FIELDS = ("arch", "image_size", "batch_size", "k", "sobel", "projection", "pca_dim", "kmeans_iters",
                "device", "amp", "channels_last", "crop_scale_min", "threads")


def _cost_key(cfg: TrainConfig, n_images: int, folder: Path | None = None) -> tuple[Any, ...]:
    # The folder: its decoding is timed too (a new session decodes every image first).
    return (*(getattr(cfg, f) for f in _COST_FIELDS), min(n_images, 2000), min(cfg.k, n_images), folder)


class ExpectedTimeLabel(QLabel):
    """Shows "Expected time: about 6 min (20 epochs of about 18 s, measured on this machine)"."""

    DEBOUNCE_MS = 600

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self._config: TrainConfig | None = None
        self._n = 0
        self._folder: Path | None = None
        self._rates: dict[tuple[Any, ...], Rates] = {}
        self._worker: GeneratorWorker | None = None
        self._measuring: tuple[Any, ...] | None = None
        self.measurements = 0  # measurements started (each runs a few real training steps)
        # Measure once the settings rest (typing a number changes them on every key).
        self._measure_later = qdebounced(self._measure, timeout=self.DEBOUNCE_MS, parent=self)

    def set_request(self, config: TrainConfig | None, n_images: int, folder: Path | None = None) -> None:
        """Estimate ``config`` on ``n_images`` images (None: nothing to estimate); ``folder``: its
        images still need decoding into a new cache (a few are decoded to time it)."""
        self._config, self._n, self._folder = config, int(n_images), folder
        if config is None or n_images < 2:
            self.setText("")
            return
        if self._show():
            return
        self.setText("Expected time: measuring a few training steps on this machine…")
        self._measure_later()

    @property
    def seconds(self) -> float | None:
        """The estimate shown (total seconds), or None while there is none."""
        rates = self._rates.get(_cost_key(self._config, self._n, self._folder)) if self._config is not None else None
        if rates is None or self._config is None:
            return None
        return estimate_run_seconds(self._config, self._n, rates, cached=self._folder is None)

    @property
    def epoch_seconds(self) -> float | None:
        """One epoch of the estimate (the total also decodes a new collection once)."""
        rates = self._rates.get(_cost_key(self._config, self._n, self._folder)) if self._config is not None else None
        return epoch_seconds(self._config, self._n, rates) if rates is not None and self._config is not None else None

    def phase_times(self) -> PhaseTimes | None:
        """One epoch of the estimate, per phase (the training ETA's expectation before an epoch ends)."""
        rates = self._rates.get(_cost_key(self._config, self._n, self._folder)) if self._config is not None else None
        return PhaseTimes.from_rates(self._config, self._n, rates) if rates is not None and self._config else None

    def busy(self) -> bool:
        return self._worker is not None

    def stop(self) -> None:
        self._measure_later.cancel()
        if self._worker is not None:
            self._worker.stop()

    # -- internals ------------------------------------------------------------------------------
    def _show(self) -> bool:
        cfg, total = self._config, self.seconds
        if cfg is None or total is None:
            return False
        per = self.epoch_seconds or 0.0
        self.setText(f"Expected time: <b>{format_duration(total)}</b> for {cfg.epochs} epoch"
                     f"{'s' if cfg.epochs != 1 else ''} ({format_duration(per)} each, measured on this machine; "
                     "and decoding the images first). Pause, stop or change the target at any time.")
        return True

    def _measure(self) -> None:
        cfg, n = self._config, self._n
        if cfg is None or self._worker is not None:
            return  # a measurement runs: the newest request is taken when it ends
        key = _cost_key(cfg, n, self._folder)
        if key in self._rates:
            self._show()
            return
        self._measuring = key
        self.measurements += 1
        threads = cfg.threads or torch_threads_for_worker()  # what the training worker will use
        folder = self._folder
        worker = GeneratorWorker(call_job(lambda: measure_rates(cfg, n, threads=threads, folder=folder)),
                                 name="estimate", returned=lambda rates, k=key: self._on_rates(k, rates),
                                 errored=self._failed, finished=self._finished)
        self._worker = worker
        worker.start()

    def _on_rates(self, key: tuple[Any, ...], rates: Rates) -> None:
        self._rates[key] = rates
        self._show()  # shown if it is for the settings on screen; else _finished measures again

    def _failed(self, err: WorkerError) -> None:
        # Not worth a dialog: the settings are checked elsewhere; say it in place.
        self.setText(f"Expected time: cannot measure ({err.message.splitlines()[0]}).")

    def _finished(self) -> None:
        self._worker = None
        if self._config is not None and not self._show() and self._measuring != _cost_key(self._config, self._n, self._folder):
            self._measure_later()  # the settings changed while measuring
