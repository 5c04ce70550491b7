"""The session view-model alone: a real SQLite session, no widget (the model imports none)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.gui.session_model import SessionModel, cluster_display_name
from dcgui.store import SessionStore
from tests.conftest import wait_for_edit

N, K = 12, 3


@dataclass
class _Record:  # the fields SessionStore.set_images reads from collection.ImageRecord
    relpath: str
    size: int
    mtime_ns: int
    label: str | None


def _epoch(e: int) -> EpochFinished:
    ids = (np.arange(N) % K).astype(np.int32)
    m = EpochMetrics(epoch=e, nmi_prev=None, nmi_labels=None, ari_labels=None, loss=1.0, kmeans_objective=1.0, k=K,
                     empty_clusters=0, min_cluster=4, max_cluster=4, size_entropy=1.0, seconds_features=0.1,
                     seconds_clustering=0.1, seconds_training=0.1, images_per_second=100.0, n_images=N)
    return EpochFinished(m, ids, ids, np.arange(K, dtype=np.int32))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SessionStore.create(tmp_path / "s.dcgui", tmp_path, TrainConfig(k=K))
    s.set_images([_Record(f"img{i:02d}.png", 100, 1, None) for i in range(N)], [])  # type: ignore[arg-type]
    s.record_epoch(_epoch(1))
    s.record_epoch(_epoch(2))
    yield s
    s.close()


class Spy:
    """Records every signal of a model, in order: (name, args)."""

    NAMES = ("sessionChanged", "epochsChanged", "epochChanged", "followChanged", "selectionChanged",
             "currentImageChanged", "activeClusterChanged", "flagsChanged", "clusterDataChanged", "groupsChanged",
             "similarRequested", "errorOccurred")

    def __init__(self, model: SessionModel) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name in self.NAMES:
            getattr(model, name).connect(lambda *args, n=name: self.seen.append((n, args)))

    def names(self) -> list[str]:
        return [n for n, _ in self.seen]

    def clear(self) -> None:
        self.seen.clear()


def test_the_model_module_imports_no_widget_or_painting_code() -> None:
    code = ("import sys, dcgui.gui.session_model; "
            "bad = [m for m in ('PySide6.QtWidgets', 'PySide6.QtGui', 'pyqtgraph') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_open_follows_live_and_going_back_stops_following(store: SessionStore) -> None:
    model = SessionModel()
    spy = Spy(model)
    model.open(store)
    assert model.epoch == 2 and model.last_epoch == 2 and model.follow_live
    assert spy.names()[0] == "sessionChanged" and ("epochChanged", (2,)) in spy.seen
    spy.clear()
    model.set_epoch(1)
    assert model.epoch == 1 and not model.follow_live
    assert spy.seen == [("followChanged", (False,)), ("epochChanged", (1,))]
    store.record_epoch(_epoch(3))  # another connection would do this; refresh is the poll's call
    spy.clear()
    model.refresh()
    assert model.last_epoch == 3 and model.epoch == 1  # not following: stays
    assert spy.seen == [("epochsChanged", (3,))]
    model.set_follow_live(True)
    assert model.epoch == 3
    model.set_epoch(7)  # no such epoch: refused
    assert model.epoch == 3
    model.close()
    assert model.store is None and model.epoch == 0 and model.selection == ()


def test_a_newer_epoch_asked_for_before_the_poll_keeps_following(store: SessionStore) -> None:
    model = SessionModel()
    model.open(store)
    store.record_epoch(_epoch(3))
    model.set_epoch(3)  # a view read epoch 3 first: the model catches up instead of refusing
    assert model.epoch == 3 and model.follow_live and model.last_epoch == 3


def test_selection_is_shared_with_its_source_and_current_image(store: SessionStore) -> None:
    model = SessionModel()
    model.open(store)
    spy = Spy(model)
    model.select_images([5, 3, 5, 99, -1], "map")  # duplicates and out-of-range indices dropped
    assert model.selection == (5, 3) and model.selection_source == "map"
    assert model.current_image == 5  # the pane shows the first selected image
    assert spy.names() == ["selectionChanged", "currentImageChanged"]
    model.select_images([3, 4], "grid", current=4)
    assert model.current_image == 4 and model.selection_source == "grid"
    model.select_images([3], "similar")  # the current image is no longer selected: the first is
    assert model.current_image == 3
    model.clear_selection()
    assert model.selection == () and model.selection_source == "" and model.current_image is None
    with pytest.raises(ValueError, match="selection source 'lasso' is unknown"):
        model.select_images([1], "lasso")
    spy.clear()
    model.request_similar(4)
    assert spy.seen == [("similarRequested", (4,))]


def test_flags_are_written_once_and_announced(qtbot: Any, store: SessionStore, tmp_path: Path) -> None:
    model = SessionModel()
    model.open(store)
    spy = Spy(model)
    model.select_images([1, 2], "grid")
    assert model.flag_selection("keep") == 2
    wait_for_edit(qtbot, model)  # two images: applied on a worker
    assert store.image_flags() == {1: "keep", 2: "keep"} == model.flags
    assert ("flagsChanged", ([1, 2],)) in spy.seen
    # A flag set by another connection arrives through refresh, with only what changed.
    with SessionStore.open(store.path) as other:
        other.set_image_flag([7], "exclude")
    spy.clear()
    model.refresh()
    assert spy.seen == [("flagsChanged", ([7],))] and model.flags[7] == "exclude"
    # Read-only: nothing is written, the user is told why.
    ro = SessionStore.open(store.path, readonly=True)
    try:
        model.open(ro, readonly=True)
        spy.clear()
        assert model.set_flag([3], "keep") == 0
        assert spy.names() == ["errorOccurred"] and "read-only" in spy.seen[0][1][0]
        assert 3 not in store.image_flags()
    finally:
        ro.close()


def test_one_display_name_per_cluster(store: SessionStore) -> None:
    model = SessionModel()
    model.open(store)
    assert model.cluster_title(2) == "cluster 2" == cluster_display_name(2, None)
    spy = Spy(model)
    assert model.rename_cluster(2, "  Crosses ")
    assert model.cluster_title(2) == "Crosses" and store.cluster_user_data()[2]["name"] == "Crosses"
    assert spy.seen == [("clusterDataChanged", ([2],))]
    assert model.set_cluster_tags(1, ["a", " ", "b "]) and model.cluster_tags(1) == ["a", "b"]
    with SessionStore.open(store.path) as other:
        other.set_cluster_notes(0, "from the command line")
    spy.clear()
    model.refresh()
    assert spy.seen == [("clusterDataChanged", ([0],))] and model.cluster_notes(0) == "from the command line"


def test_named_groups_are_stored_in_the_session(store: SessionStore) -> None:
    model = SessionModel()
    model.open(store)
    assert model.save_group("odd ones", [3, 1])
    assert model.save_group("odd ones", [5])  # adds to the group of that name
    assert model.groups == {"odd ones": [1, 3, 5]}
    with SessionStore.open(store.path, readonly=True) as again:
        assert again.image_groups() == {"odd ones": [1, 3, 5]}
    model.select_group("odd ones")
    assert model.selection == (1, 3, 5) and model.selection_source == "group"
    assert model.delete_group("odd ones") and store.image_groups() == {}
    with pytest.raises(ValueError, match="needs a name"):
        store.set_image_group("  ", [1])
    with pytest.raises(IndexError, match="out of range"):
        store.set_image_group("x", [N])


def test_each_state_field_has_one_signal_relayed_to_its_qt_signal(store: SessionStore) -> None:
    from dataclasses import fields

    from dcgui.gui.session_model import _FIELD_SIGNALS, ViewState

    assert set(_FIELD_SIGNALS) == {f.name for f in fields(ViewState)}  # every field reaches the views
    model = SessionModel()
    model.open(store)
    field_seen: list[int] = []
    qt_seen: list[int] = []
    follow_seen: list[bool] = []
    model.state.events.epoch.connect(field_seen.append)
    model.epochChanged.connect(qt_seen.append)
    model.followChanged.connect(follow_seen.append)
    model.set_epoch(1)
    model.set_epoch(1)  # the same value: no signal
    model.set_epoch(2)
    assert field_seen == [1, 2] and qt_seen == [1, 2]
    assert follow_seen == [False]  # going back in time stopped following, once
    clusters: list[list[int]] = []
    model.clusterSelectionChanged.connect(clusters.append)
    model.select_clusters([2, 0])
    model.select_clusters([2, 0])
    assert clusters == [[2, 0]] and model.selected_clusters == [2, 0]
