"""GeneratorWorker: real QThreads running small generators, observed from the GUI thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import Message, PhaseProgress
from dcgui.gui import errors
from dcgui.gui.worker import GeneratorWorker, WorkerError, call_job


def _collect(worker: GeneratorWorker) -> tuple[list[Any], list[str]]:
    events: list[Any] = []
    threads: list[str] = []

    def on_event(ev: Any) -> None:
        events.append(ev)
        threads.append(threading.current_thread().name)

    worker.event.connect(on_event)
    return events, threads


def test_events_arrive_in_order_in_the_gui_thread(qtbot: Any) -> None:
    seen_in: list[str] = []

    def job(control: RunControl) -> Generator[Any, None, str]:
        seen_in.append(threading.current_thread().name)
        for i in range(5):
            yield Message(f"m{i}")
        return "done"

    worker = GeneratorWorker(job, name="t")
    events, threads = _collect(worker)
    returned: list[Any] = []
    worker.returned.connect(returned.append)
    with qtbot.waitSignals([worker.started, worker.returned, worker.finished], order="strict", timeout=10_000):
        worker.start()
    assert [e.text for e in events] == [f"m{i}" for i in range(5)]
    assert set(threads) == {threading.main_thread().name}  # plain callables run in the GUI thread
    assert seen_in and seen_in[0] != threading.main_thread().name  # the generator ran elsewhere
    assert returned == ["done"]
    assert worker.wait(5000) and not worker.is_running


def test_progress_is_throttled_but_the_end_of_a_phase_is_kept(qtbot: Any) -> None:
    def job(control: RunControl) -> Generator[Any, None, None]:
        for i in range(1, 2001):
            yield PhaseProgress("cache", i, 2000)
        yield Message("after")

    worker = GeneratorWorker(job, progress_hz=20.0)
    events, _ = _collect(worker)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        worker.start()
    progress = [e for e in events if isinstance(e, PhaseProgress)]
    assert 1 <= len(progress) < 200  # 2000 yields in a fraction of a second -> a handful of signals
    assert progress[-1].done == 2000  # the last one always arrives
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert isinstance(events[-1], Message)


def test_pause_resume_and_stop(qtbot: Any) -> None:
    produced: list[int] = []
    closed = threading.Event()

    def job(control: RunControl) -> Generator[Any, None, None]:
        try:
            for i in range(10_000):
                time.sleep(0.005)
                produced.append(i)
                yield Message(str(i))
        finally:
            closed.set()

    worker = GeneratorWorker(job)
    events, _ = _collect(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(events) >= 3, timeout=10_000)
    with qtbot.waitSignal(worker.paused, timeout=5000):
        worker.pause()
    assert worker.is_paused
    n_paused = len(produced)
    qtbot.wait(300)
    assert len(produced) == n_paused  # parked: no progress while paused
    with qtbot.waitSignal(worker.resumed, timeout=5000):
        worker.resume()
    qtbot.waitUntil(lambda: len(produced) > n_paused + 3, timeout=10_000)
    with qtbot.waitSignals([worker.stopped, worker.finished], order="strict", timeout=10_000):
        worker.stop()
    assert closed.is_set()  # the generator was closed in its thread (its finally ran)
    assert len(produced) < 10_000
    assert worker.wait(5000)


def test_stop_while_paused(qtbot: Any) -> None:
    def job(control: RunControl) -> Generator[Any, None, None]:
        while True:
            time.sleep(0.01)
            yield Message("tick")

    worker = GeneratorWorker(job)
    worker.start()
    with qtbot.waitSignal(worker.paused, timeout=5000):
        worker.pause()
    with qtbot.waitSignals([worker.stopped, worker.finished], timeout=5000):
        worker.stop()
    assert not worker.is_running


def test_control_aware_generator_ends_itself_after_stop(qtbot: Any) -> None:
    """close_on_stop=False (training): the generator sees the stop at its next check and may
    still yield its final events (the engine's ``Stopped``)."""

    def job(control: RunControl) -> Generator[Any, None, None]:
        i = 0
        while True:
            time.sleep(0.01)
            if control.stop_requested:
                yield Message("saved and stopping")
                return
            i += 1
            yield Message(f"batch {i}")

    worker = GeneratorWorker(job, close_on_stop=False)
    events, _ = _collect(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(events) >= 2, timeout=5000)
    with qtbot.waitSignals([worker.stopped, worker.finished], order="strict", timeout=5000):
        worker.stop()
    assert events[-1].text == "saved and stopping"


def test_stop_requested_raised_inside_counts_as_stopped(qtbot: Any) -> None:
    def job(control: RunControl) -> Generator[Any, None, None]:
        while True:
            time.sleep(0.01)
            control.check()
            yield Message("x")

    worker = GeneratorWorker(job, close_on_stop=False)
    errored: list[Any] = []
    worker.errored.connect(errored.append)
    worker.start()
    with qtbot.waitSignal(worker.stopped, timeout=5000):
        worker.stop()
    assert worker.wait(5000)
    assert errored == []


@pytest.mark.parametrize(
    ("exc", "user_facing"),
    [(DcguiError("photos/x.jpg is unreadable: remove it"), True), (ZeroDivisionError("division by zero"), False)],
)
def test_errors_reach_the_error_dialog_with_traceback(qtbot: Any, monkeypatch: pytest.MonkeyPatch,
                                                       exc: Exception, user_facing: bool) -> None:
    shown: list[tuple[str, str, str]] = []
    monkeypatch.setattr(errors, "_present", lambda parent, title, message, details: shown.append((title, message, details)))

    def job(control: RunControl) -> Generator[Any, None, None]:
        yield Message("before")
        raise exc

    worker = GeneratorWorker(job)
    worker.errored.connect(lambda err: errors.show_error(None, err, "Training failed"))
    got: list[Any] = []
    worker.errored.connect(got.append)
    with qtbot.waitSignals([worker.errored, worker.finished], order="strict", timeout=5000):
        worker.start()
    err = got[0]
    assert isinstance(err, WorkerError) and err.user_facing is user_facing
    assert shown and shown[0][0] == "Training failed"
    assert str(exc) in shown[0][1]
    assert "Traceback" in shown[0][2] and "job" in shown[0][2]  # the generator's frame is in the details


def test_call_job_returns_a_plain_function_result(qtbot: Any) -> None:
    worker = GeneratorWorker(call_job(lambda: threading.current_thread().name))
    with qtbot.waitSignal(worker.returned, timeout=5000) as blocker:
        worker.start()
    assert blocker.args[0] != threading.main_thread().name


def test_real_error_dialog_opens_without_blocking(qtbot: Any) -> None:
    errors.show_error(None, ValueError("k=0 is invalid: use at least 2 clusters"), "Settings")
    dialogs = list(errors._open_dialogs.values())
    assert dialogs and "k=0" in dialogs[0].text()
    # The same message again does not stack a second dialog.
    errors.show_error(None, ValueError("k=0 is invalid: use at least 2 clusters"), "Settings")
    assert len(errors._open_dialogs) == 1
    dialogs[0].accept()
    qtbot.waitUntil(lambda: not errors._open_dialogs, timeout=2000)


def test_slots_given_at_construction_are_connected(qtbot: Any) -> None:
    got: dict[str, list[Any]] = {"event": [], "returned": [], "finished": []}

    def job(control: RunControl) -> Generator[Any, None, int]:
        yield Message("one")
        return 7

    worker = GeneratorWorker(job, event=got["event"].append, returned=got["returned"].append,
                             finished=lambda: got["finished"].append(True))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert [e.text for e in got["event"]] == ["one"] and got["returned"] == [7] and got["finished"] == [True]

    stopped: list[bool] = []
    errored: list[WorkerError] = []
    failing = GeneratorWorker(call_job(lambda: 1 / 0), errored=errored.append, stopped=lambda: stopped.append(True))
    with qtbot.waitSignal(failing.finished, timeout=10_000):
        failing.start()
    assert len(errored) == 1 and isinstance(errored[0].exception, ZeroDivisionError) and not stopped


def test_session_job_reads_the_session_in_the_worker_thread(qtbot: Any, tmp_path: Any, image_folder: Any) -> None:
    from dcgui.core.config import TrainConfig
    from dcgui.gui.worker import session_job
    from dcgui.services.training import create_session

    path = tmp_path / "s.dcgui"
    create_session(path, image_folder, TrainConfig(k=4, epochs=1, image_size=32)).close()
    seen: list[tuple[str, bool]] = []

    def run(store: Any, control: RunControl) -> Generator[Any, None, str]:
        seen.append((threading.current_thread().name, store.readonly))
        control.check()
        yield Message("reading")
        return str(store.folder)

    worker = GeneratorWorker(session_job(path, run))
    with qtbot.waitSignal(worker.returned, timeout=10_000) as blocker:
        worker.start()
    assert blocker.args[0] == str(image_folder)
    assert seen and seen[0][0] != threading.main_thread().name and seen[0][1]  # its own read-only connection
    assert worker.wait(5000)


def test_worker_progress_stops_the_worker_and_closes_with_it(qtbot: Any) -> None:
    from dcgui.gui.worker import worker_progress

    def job(control: RunControl) -> Generator[Any, None, None]:
        while True:
            control.check()
            yield None
            time.sleep(0.01)

    worker = GeneratorWorker(job)
    progress = worker_progress(worker, None, "Working…", "Job", maximum=10)
    assert (progress.windowTitle(), progress.labelText(), progress.maximum()) == ("Job", "Working…", 10)
    stopped: list[bool] = []
    worker.stopped.connect(lambda: stopped.append(True))
    worker.start()
    progress.show()
    from PySide6.QtWidgets import QPushButton

    stop_button = progress.findChild(QPushButton)
    assert stop_button is not None and stop_button.text() == "Stop"
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        stop_button.click()
    assert stopped == [True]
    qtbot.waitUntil(lambda: not progress.isVisible(), timeout=5000)
