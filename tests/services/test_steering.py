"""A person's corrections steer the next epochs of a real session (issue 24): the pseudo-labels
themselves are checked, as stored by the trainer."""

from __future__ import annotations

import csv
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from dcgui.cli import main
from dcgui.core.analysis.groups import Unit
from dcgui.store import SessionStore
from dcgui.store.edits import MergeClusters, SplitCluster
from tests.conftest import copy_session, drain_events, write_image_folder

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


def _csv_groups(session: Path, epoch: int) -> dict[str, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["clusters", str(session), "--epoch", str(epoch), "--csv", "-", "--groups"]) == 0
    return {r["path"]: r["group"] for r in csv.DictReader(io.StringIO(out.getvalue()))}


def test_a_merged_group_is_shown_where_its_members_landed(one_epoch: Path, tmp_path: Path) -> None:
    """Issue 24's display defect: the merged images get one pseudo-label, matching gives that
    cluster one of the merged ids and the other id to unrelated images; every view of the next
    epoch (the groups, the clusters CSV, curation, the report) shows the members, not the ids."""
    from dcgui.services.curation import plan_curation
    from dcgui.services.report import ReportOptions, iter_report

    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        a, b = _two_clusters(s)
        seen = np.flatnonzero(np.isin(s.assignments(1), [a, b]))
        gid = s.apply_edit(MergeClusters(1, [Unit(a), Unit(b)], "both")).preview.group_id
    _train(session, 2)
    with SessionStore.open(session) as s:
        now = s.assignments(2)
        (landed,) = np.unique(now[seen])  # steering gave them one pseudo-label
        cluster = np.flatnonzero(now == landed)
        unrelated = np.setdiff1d(np.flatnonzero(np.isin(now, [a, b])), cluster)
        assert len(unrelated), "the old ids should hold other images at epoch 2 for this test to mean anything"
        view = s.group_view(2)
        g = view.find(f"g{gid}")
        np.testing.assert_array_equal(view.members(g.code), cluster)
        assert g.title == "both" and g.clusters == (int(landed),) and g.follows
        assert not np.isin(unrelated, view.members(g.code)).any()
        paths = s.image_paths()
        plan = plan_curation(s, 2, tmp_path / "sorted", clusters=[f"g{gid}"])
        assert sorted(src.name for src, _ in plan.ops) == sorted(Path(paths[i]).name for i in cluster)
        assert {dst.parent.name for _, dst in plan.ops} == {"both"}
        groups = _csv_groups(session, 2)
        assert {groups[paths[i]] for i in cluster} == {f"g{gid}"}
        assert f"g{gid}" not in {groups[paths[i]] for i in unrelated}
        at_merge = _csv_groups(session, 1)  # at the epoch of the merge: what the person merged
        assert {p for p, key in at_merge.items() if key == f"g{gid}"} == {paths[i] for i in seen}
        # the report's cluster cards say which group each cluster is shown in
        drain_events(iter_report(s, tmp_path / "r.html", ReportOptions(full_cards=4)))
        html = (tmp_path / "r.html").read_text(encoding="utf-8")
        in_group = {int(c) for c, rest in re.findall(r"<h3>cluster (\d+)</h3><div>([^<]*)</div>", html)
                    if "in both" in rest}
        assert in_group == {int(landed)}
        # undo: the merge is gone from every epoch, the clusters are the epoch's own again
        s.undo()
        assert not s.group_view(2).refined and not s.group_view(1).refined
        s.redo()
        assert s.group_view(2).find(f"g{gid}").clusters == (int(landed),)
        # steering off: as before steering, the group is its ids at every epoch
        s.set_config(s.config.replace(steer=False))
        ids = s.group_view(2).find(f"g{gid}")
        assert ids.clusters == tuple(sorted((a, b))) and not ids.follows
        assert np.isin(unrelated, s.group_view(2).members(ids.code)).all()


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
        # the parts are shown where they landed, each as the whole cluster its part went to
        now, view = s.assignments(2), s.group_view(2)
        for key, part in ((f"{a}.1", p1), (f"{a}.2", p2)):
            g = view.find(key)
            assert g.follows and g.clusters == (int(now[part[0]]),)
            np.testing.assert_array_equal(view.members(g.code), np.flatnonzero(now == now[part[0]]))


def test_splitting_a_cluster_again_replaces_its_split_for_the_training_too(one_epoch: Path, tmp_path: Path) -> None:
    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        a, _ = _two_clusters(s)
        members = np.flatnonzero(s.assignments(1) == a)
        halves = np.zeros(s.n_images, dtype=np.int64)
        halves[members[len(members) // 2:]] = 1
        s.apply_edit(SplitCluster(1, a, halves))
        thirds = np.zeros(s.n_images, dtype=np.int64)
        thirds[members[len(members) // 3:]] = 1
        thirds[members[2 * len(members) // 3:]] = 2
        s.apply_edit(SplitCluster(1, a, thirds))
        steer = s.steering(2)
        assert steer.splits == 1 and len(steer.sets) == 3  # the second split's three parts only
        assert [set(x.tolist()) for x in steer.sets] == [set(members[thirds[members] == p].tolist()) for p in range(3)]
        assert steer.origins == tuple((2, p) for p in range(3))
        assert [g.key for g in s.group_view(1).groups if g.kind == "part"] == [f"{a}.1", f"{a}.2", f"{a}.3"]


def test_no_steer_leaves_the_training_as_the_paper(one_epoch: Path, tmp_path: Path) -> None:
    session = copy_session(one_epoch, tmp_path)
    with SessionStore.open(session) as s:
        s.set_image_flag([0, 1], "exclude")
    _train(session, 2, "--no-steer")
    with SessionStore.open(session, readonly=True) as s:
        assert s.config.steer is False
        assert (s.assignments(2) >= 0).all()
        assert s.epochs()[1].excluded == 0
