"""Merged and split clusters resolved per epoch; splitting by k-means; keep-one rules."""

from __future__ import annotations

import numpy as np
import pytest

from dcgui.core.analysis.groups import (
    KIND_CLUSTER,
    KIND_MERGE,
    KIND_PART,
    MergeDef,
    SplitDef,
    Unit,
    parse_key,
    propose_split,
    resolve_groups,
    split_members,
)
from dcgui.core.analysis.keep import keep_one_flags, rank_members


def test_keys() -> None:
    assert parse_key("12") == (KIND_CLUSTER, 12, 0)
    assert parse_key(" 12.3 ") == (KIND_PART, 12, 3)
    assert parse_key("G5") == (KIND_MERGE, 5, 0)
    for bad in ("", "x", "12.", "12.0", "g", "-1", "1.2.3"):
        with pytest.raises(KeyError):
            parse_key(bad)


def test_plain_view_is_the_assignment() -> None:
    assign = np.array([2, 0, 2, 1, 0])
    view = resolve_groups(3, assign, 4, cluster_names={1: "cats"})
    np.testing.assert_array_equal(view.labels, assign)
    assert [(g.key, g.size, g.title) for g in view.groups] == [
        ("0", 2, "cluster 0"), ("1", 1, "cats"), ("2", 2, "cluster 2"), ("3", 0, "cluster 3")]
    assert not view.refined
    assert view.curate_names() == {0: None, 1: "cats", 2: None, 3: None}
    # the lookups that answer None instead of raising
    assert view.get(1) is view.group(1) and view.get(None) is None and view.get(9) is None
    assert view.lookup("1") is view.find("1") and view.lookup(None) is None and view.lookup("g4") is None


def _split(gid: int, epoch: int, cluster: int, labels: list[int], names: tuple[str | None, ...] = (None, None)) -> SplitDef:
    return SplitDef(gid, epoch, cluster, np.array(labels, dtype=np.int16), names)


def test_newer_groups_supersede_older_ones_for_the_units_they_share() -> None:
    assign = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    s_old = _split(1, 2, 1, [0, 1, 0, 1, 0, 1, 0, 1])
    s_new = _split(2, 4, 1, [1, 1, 0, 0, 2, 2, 2, 2], ("a", "b", "c"))
    m_old = MergeDef(3, 2, (Unit(0), Unit(2), Unit(3)), "old")
    m_new = MergeDef(4, 3, (Unit(3), Unit(1, 1, 1)), "new")
    groups = [s_old, s_new], [m_old, m_new]

    v1 = resolve_groups(1, assign, 4, *groups)  # nothing made yet
    assert [g.key for g in v1.groups] == ["0", "1", "2", "3"]

    v2 = resolve_groups(2, assign, 4, *groups)  # old split and old merge
    assert [(g.key, g.size) for g in v2.groups] == [("1.1", 1), ("1.2", 1), ("g3", 6)]
    assert v2.find("g3").clusters == (0, 2, 3)

    v3 = resolve_groups(3, assign, 4, *groups)  # the new merge takes cluster 3 and part 1.2
    assert [(g.key, g.size, g.title) for g in v3.groups] == [
        ("1.1", 1, "cluster 1.1"), ("g3", 4, "old"), ("g4", 3, "new")]
    np.testing.assert_array_equal(v3.members(v3.find("g4").code), [3, 6, 7])

    v4 = resolve_groups(4, assign, 4, *groups)  # the new split replaces the old one: 1.2 of split 1 is gone
    assert [(g.key, g.size, g.title) for g in v4.groups] == [
        ("1.1", 2, "a"), ("1.2", 0, "b"), ("1.3", 0, "c"), ("g3", 4, "old"), ("g4", 2, "new")]
    assert v4.find("1.1").group_id == 2
    assert sum(g.size for g in v4.groups) == len(assign)
    assert v4.curate_names()[v4.find("1.2").code] == "b"
    with pytest.raises(KeyError, match="part of g3"):
        v4.find("0")
    with pytest.raises(KeyError, match=r"split into 1\.1, 1\.2, 1\.3"):
        v4.find("1")
    with pytest.raises(KeyError, match="no part 4"):
        v4.find("1.4")
    with pytest.raises(KeyError, match="does not exist at epoch 4 \\(k=4\\)"):
        v4.find("9")
    assert [g.key for g in v4.of_cluster(1)] == ["1.1", "1.2", "1.3"]


def test_with_steering_a_merge_and_a_split_follow_their_member_sets() -> None:
    """Steering keeps a merged group's images under one pseudo-label, so matching gives that one
    cluster one of the merged ids and the other id to unrelated images: the group is shown where
    its members landed, not by its ids; a split's parts likewise."""
    # epoch 1: clusters 0 and 1 merged (images 0-3), cluster 2 split into {4, 5} and {6, 7}
    merge = MergeDef(1, 1, (Unit(0), Unit(1)), "mine")
    split = _split(2, 1, 2, [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    sets = [(1, None, np.array([0, 1, 2, 3])), (2, 0, np.array([4, 5])), (2, 1, np.array([6, 7]))]
    # epoch 2: the merged images are all in cluster 0; id 1 now holds images 8 and 9; the split's
    # parts landed in clusters 3 and 2; image 11 was left out (-1)
    assign = np.array([0, 0, 0, 0, 3, 3, 2, 2, 1, 1, 0, -1])
    view = resolve_groups(2, assign, 4, [split], [merge], member_sets=sets)
    g = view.find("g1")
    np.testing.assert_array_equal(view.members(g.code), [0, 1, 2, 3, 10])  # cluster 0, where they landed
    assert g.clusters == (0,) and g.units == (Unit(0),) and g.follows and g.made_at == 1
    assert [(x.key, x.clusters) for x in view.groups] == [("1", (1,)), ("2.1", (3,)), ("2.2", (2,)), ("g1", (0,))]
    np.testing.assert_array_equal(view.members(view.find("2.1").code), [4, 5])
    np.testing.assert_array_equal(view.members(view.find("2.2").code), [6, 7])
    np.testing.assert_array_equal(view.members(view.find("1").code), [8, 9])  # id 1 is another cluster now
    assert view.labels[11] == -1
    with pytest.raises(KeyError, match=r"split into 2\.1"):
        view.find("3")
    # without steering (no member sets): the ids, as matched across epochs
    ids = resolve_groups(2, assign, 4, [split], [merge])
    np.testing.assert_array_equal(ids.members(ids.find("g1").code), [0, 1, 2, 3, 8, 9, 10])
    assert not ids.find("g1").follows
    # at the epoch it was made, a group is its ids
    made = resolve_groups(1, np.array([0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]), 4, [split], [merge], member_sets=[])
    np.testing.assert_array_equal(made.members(made.find("g1").code), [0, 1, 2, 3])
    # a set the epoch did not keep together (clustered before the merge was made): the ids
    scattered = np.array([0, 1, 2, 3, 3, 3, 2, 2, 1, 1, 0, 0])
    v = resolve_groups(2, scattered, 4, [split], [merge], member_sets=sets)
    assert v.find("g1").clusters == (0, 1) and not v.find("g1").follows
    # a merge with no set left (a later group took its images, or they are excluded) is not shown
    v = resolve_groups(2, assign, 4, [split], [merge], member_sets=sets[1:])
    assert [x.key for x in v.groups] == ["0", "1", "2.1", "2.2"]
    # a merge made at epoch 2 of the followed group and cluster 1 takes it over
    later = MergeDef(3, 2, (Unit(0), Unit(1)), "more")
    v = resolve_groups(2, assign, 4, [split], [merge, later], member_sets=sets)
    assert [x.key for x in v.groups] == ["2.1", "2.2", "g3"]
    np.testing.assert_array_equal(v.members(v.find("g3").code), [0, 1, 2, 3, 8, 9, 10])


def test_folder_names_of_unnamed_groups() -> None:
    view = resolve_groups(1, np.array([0, 1, 2, 2]), 3, [_split(7, 1, 2, [0, 0, 0, 1])],
                          [MergeDef(8, 1, (Unit(0), Unit(1)))])
    names = {view.group(c).key: n for c, n in view.curate_names().items()}
    assert names == {"2.1": "cluster_0002.1", "2.2": "cluster_0002.2", "g8": "group_g8"}
    # one display name each, the folder derived from it
    assert {g.key: g.title for g in view.groups} == {"2.1": "cluster 2.1", "2.2": "cluster 2.2", "g8": "group g8"}


def test_display_and_folder_names() -> None:
    from dcgui.core.analysis.groups import (
        KIND_CLUSTER,
        KIND_MERGE,
        KIND_PART,
        display_name,
        folder_name,
    )

    assert display_name(KIND_CLUSTER, "12", None) == "cluster 12"
    assert display_name(KIND_CLUSTER, "12", "  heels ") == "heels"
    assert display_name(KIND_PART, "30.1", "") == "cluster 30.1"
    assert display_name(KIND_MERGE, "g1", None) == "group g1"
    assert folder_name(KIND_CLUSTER, "12", None) == "cluster_0012"
    assert folder_name(KIND_PART, "30.1", None) == "cluster_0030.1"
    assert folder_name(KIND_MERGE, "g1", "heels") == "heels"


def blobs(n_per: int, centres: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim)) * 5
    x = np.concatenate([c[j] + rng.normal(size=(n_per * (j + 1), dim)) * 0.3 for j in range(centres)])
    y = np.concatenate([np.full(n_per * (j + 1), j) for j in range(centres)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def test_split_recovers_well_separated_parts_largest_first() -> None:
    x, y = blobs(10, 3)  # sizes 10, 20, 30
    members = np.flatnonzero(y > 0)  # the cluster holds blobs 1 and 2; blob 0 is outside it
    labels, sizes, samples = split_members(x, members, 2, seed=1)
    assert sizes.tolist() == [30, 20]
    assert set(members[labels[members] == 0]) == set(np.flatnonzero(y == 2))
    assert set(members[labels[members] == 1]) == set(np.flatnonzero(y == 1))
    assert labels.shape == (len(x),) and set(np.unique(labels)) <= {0, 1}
    assert all(set(s) <= set(members[labels[members] == p]) for p, s in enumerate(samples))
    again, _, _ = split_members(x, members, 2, seed=1)
    np.testing.assert_array_equal(labels, again)

    prop = propose_split(x, (y > 0).astype(int), epoch=4, cluster=1, parts=2)
    assert (prop.epoch, prop.cluster, prop.parts, prop.sizes) == (4, 1, 2, (30, 20))
    np.testing.assert_array_equal(prop.members, members)
    with pytest.raises(ValueError, match="cannot be split into 61 parts"):
        split_members(x, members[:60], 61)
    with pytest.raises(ValueError, match="2 to 64 parts"):
        split_members(x, members, 1)


STATS = {
    "size": np.array([100, 300, 300, 50, 10]),
    "width": np.array([10, 10, 20, 40, 5]),
    "height": np.array([10, 10, 10, 40, 5]),
    "mtime_ns": np.array([5, 4, 9, 1, 1]),
}


def test_keep_rules() -> None:
    assert rank_members([0, 1, 2, 3], "largest", STATS).tolist() == [2, 1, 0, 3]  # 1 and 2: more pixels wins
    assert rank_members([0, 1, 2, 3], "resolution", STATS).tolist() == [3, 2, 1, 0]
    assert rank_members([0, 1, 2, 3, 4], "oldest", STATS).tolist() == [3, 4, 1, 0, 2]  # 3, 4 tie on time: bigger file
    assert keep_one_flags([[0, 1, 2], [3], [4, 3]], "largest", STATS) == {
        2: "keep", 1: "duplicate", 0: "duplicate", 3: "keep", 4: "duplicate"}
    # complete: a crop of another member never wins; then pixels, file size, age
    assert rank_members([0, 1, 2, 3], "complete", STATS).tolist() == [3, 2, 1, 0]
    assert rank_members([0, 1, 2, 3], "complete", STATS, {3: {2}}).tolist() == [2, 1, 0, 3]
    assert rank_members([0, 1, 3], "complete", STATS, {3: {2}}).tolist() == [3, 1, 0]  # 2 is not in the group
    with pytest.raises(ValueError, match="complete, largest, resolution, oldest"):
        rank_members([0], "newest", STATS)


def test_units_for_keys() -> None:
    from dcgui.core.analysis.groups import units_for_keys

    view = resolve_groups(1, np.array([0, 1, 2, 2, 3]), 4, [_split(7, 1, 2, [0, 0, 0, 1, 0])],
                          [MergeDef(8, 1, (Unit(0), Unit(1)))])
    units, keys = units_for_keys(view, ["g8", "2.2", "3", "G8"])
    assert keys == ["g8", "2.2", "3"]
    assert units == [Unit(0), Unit(1), Unit(2, 7, 1), Unit(3)]
    with pytest.raises(KeyError, match=r"split into 2\.1, 2\.2"):
        units_for_keys(view, ["2", "3"])
    with pytest.raises(KeyError, match="at least two"):
        units_for_keys(view, ["3", "3"])
