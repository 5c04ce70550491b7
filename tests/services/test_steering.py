"""A person's corrections steer the next epochs of a real session (issue 24): the pseudo-labels
themselves are checked, as stored by the trainer."""

from __future__ import annotations

import csv
import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from dcgui.cli import main
from dcgui.core.analysis.groups import Unit
from dcgui.store import SessionStore
from dcgui.store.edits import MergeClusters, SplitCluster
from tests.conftest import copy_session, write_image_folder

TRAIN = ["--k", "4", "--arch", "smallnet", "--image-size", "32", "--device", "cpu", "--batch-size", "16",
         "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("steer")
    folder = write_image_folder(root / "photos")
    path = root / "s.dcgui"
    assert main(["train", str(folder), "--session", str(path), "--epochs", "1", *TRAIN]) == 0
    return path


def _train(session: Path, epochs: int, *extra: str) -> None:
    with SessionStore.open(session, readonly=True) as s:
        folder = s.folder
    assert main(["train", str(folder), "--session", str(session), "--epochs", str(epochs), *TRAIN, *extra]) == 0


def _two_clusters(store: SessionStore) -> tuple[int, int]:
    sizes = store.cluster_sizes(1)
    a, b = np.argsort(-sizes, kind="stable")[:2]
    return int(a), int(b)


def test_a_merge_is_one_pseudo_label_and_excluded_images_have_none(one_epoch: Path, tmp_path: Path) -> None:
    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        a, b = _two_clusters(s)
        seen = np.flatnonzero(np.isin(s.assignments(1), [a, b]))  # what the person saw merged
        excluded = [int(seen[0]), int(np.flatnonzero(~np.isin(s.assignments(1), [a, b]))[0])]
        s.set_image_flag(excluded, "exclude")
        s.set_image_flag([int(seen[1])], "keep")  # other flags do not leave the method
        s.apply_edit(MergeClusters(1, [Unit(a), Unit(b)], "both"))
    _train(session, 3)
    with SessionStore.open(session, readonly=True) as s:
        members = np.setdiff1d(seen, excluded)
        for epoch in (2, 3):
            raw = s.assignments(epoch, matched=False)
            assert len(np.unique(raw[members])) == 1, f"epoch {epoch}: the merged images got several pseudo-labels"
            assert (raw[excluded] == -1).all()
            assert (np.delete(raw, excluded) >= 0).all()
            m = s.epochs()[epoch - 1]
            assert (m.excluded, m.merges_applied, m.splits_applied) == (2, 1, 0)
        assert s.image_history(excluded[0]).tolist()[1:] == [-1, -1]
        assert s.cluster_sizes(2).sum() == s.n_images - 2
        paths = s.image_paths()
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["clusters", str(session), "--epoch", "2", "--csv", "-"]) == 0
    rows = {r["path"]: r["cluster"] for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert [rows[paths[i]] for i in excluded] == ["", ""]
    assert all(v != "" for p, v in rows.items() if p not in {paths[i] for i in excluded})
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["info", str(session)]) == 0
    assert "over the clustered images" in out.getvalue()


def test_the_parts_of_a_split_stay_apart(one_epoch: Path, tmp_path: Path) -> None:
    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        a, _ = _two_clusters(s)
        assign = s.assignments(1)
        # the person splits the largest cluster into its first and second half (an arbitrary
        # split the k-means would not make by itself)
        members = np.flatnonzero(assign == a)
        labels = np.zeros(s.n_images, dtype=np.int64)
        labels[members[len(members) // 2:]] = 1
        s.apply_edit(SplitCluster(1, a, labels))
    _train(session, 2)
    with SessionStore.open(session, readonly=True) as s:
        raw = s.assignments(2, matched=False)
        p1, p2 = members[: len(members) // 2], members[len(members) // 2:]
        assert len(set(raw[p1])) == 1 and len(set(raw[p2])) == 1
        assert raw[p1[0]] != raw[p2[0]]
        assert s.epochs()[1].splits_applied == 1


def test_no_steer_leaves_the_training_as_the_paper(one_epoch: Path, tmp_path: Path) -> None:
    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        s.set_image_flag([0, 1], "exclude")
    _train(session, 2, "--no-steer")
    with SessionStore.open(session, readonly=True) as s:
        assert s.config.steer is False
        assert (s.assignments(2) >= 0).all()
        assert s.epochs()[1].excluded == 0
