"""Found in the walkthrough under Xvfb: the Map tab stayed black while the duplicate search ran
first (the Explore jobs run one at a time), with nothing saying why. A queued tab says so."""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from dcgui.core.control import RunControl
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.session_model import SessionModel
from tests.gui.test_session_model import store  # noqa: F401 (fixture)


class _Tab:
    """The JobOwner side of a tab: its status line."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.ended = 0

    def say(self, text: str, transient: bool = False) -> None:
        self.said.append(text)

    def show_error(self, err: Any) -> None:
        self.said.append(err.message)

    def job_ended(self) -> None:
        self.ended += 1


def test_a_tab_queued_behind_another_job_says_what_it_waits_for(qtbot: Any, store: Any) -> None:  # noqa: F811
    model = SessionModel()
    model.open(store)
    jobs = ExploreJobs(model)
    release = threading.Event()

    def slow(s: Any, f: Any, control: RunControl) -> Generator[Any, Any, int]:
        while not release.wait(0.02):
            control.check()
        return 1
        yield  # a generator

    def quick(s: Any, f: Any, control: RunControl) -> Generator[Any, Any, int]:
        return 2
        yield

    dup_tab, map_tab = _Tab(), _Tab()
    results: list[int] = []
    jobs.submit("duplicates", dup_tab, slow, results.append, need_features=False, per_epoch=False)
    try:
        jobs.submit("map", map_tab, quick, results.append, need_features=False)
        assert map_tab.said and map_tab.said[-1].startswith("Waiting for the duplicate search to finish")
    finally:
        release.set()  # the first job ends whatever happened
    qtbot.waitUntil(lambda: results == [1, 2], timeout=30_000)
    assert map_tab.said[-1] == "Working…" or map_tab.ended  # its own job ran after
