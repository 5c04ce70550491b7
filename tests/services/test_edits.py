"""Merge, split and keep-one on a real trained session: real image files, real features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcgui.core.analysis.groups import KIND_MERGE, KIND_PART
from dcgui.core.control import drain
from dcgui.core.errors import DcguiError
from dcgui.services.edits import (
    iter_split_proposal,
    merge_edit,
    split_cluster_id,
    split_edit,
)
from dcgui.services.flags import keep_one_edit, unflag_edit
from dcgui.store import BULK, HAND, SessionStore
from tests.conftest import copy_session


@pytest.fixture
def store(curation_session: Path, tmp_path: Path) -> SessionStore:
    """A private copy of the trained session (tests edit it)."""
    s = SessionStore.open(copy_session(curation_session, tmp_path))
    yield s  # type: ignore[misc]
    s.close()


def test_split_on_real_features_then_merge_carry_to_the_next_epoch(store: SessionStore) -> None:
    sizes = store.cluster_sizes(1)
    big = int(np.argmax(sizes))
    proposal = drain(iter_split_proposal(store, 1, split_cluster_id(store, 1, str(big)), 2, device="cpu"))
    assert sum(proposal.sizes) == sizes[big] and min(proposal.sizes) >= 1
    assert proposal.sizes[0] >= proposal.sizes[1]  # largest part first
    assert len(proposal.labels) == store.n_images
    assert all(set(s) <= set(proposal.members) for s in proposal.samples)
    assert store.image_paths() == store.image_paths()  # nothing written by a proposal
    assert store.edit_log() == []

    store.apply_edit(split_edit(proposal, ["left"]))
    others = [str(c) for c in range(4) if c != big][:2]
    merge = merge_edit(store, 1, [*others, f"{big}.2"], "mixed")
    store.apply_edit(merge)

    for epoch in (1, 2):  # made at epoch 1, carried to epoch 2 by the matched cluster ids
        view = store.group_view(epoch)
        a = store.assignments(epoch)
        g = view.find("g2")
        assert g.kind == KIND_MERGE and g.title == "mixed"
        in_big = a == big
        part2 = in_big & (proposal.labels == 1)
        expected = np.flatnonzero(np.isin(a, [int(c) for c in others]) | part2)
        np.testing.assert_array_equal(view.members(g.code), expected)
        left = view.find(f"{big}.1")
        assert left.kind == KIND_PART and left.title == "left"
        np.testing.assert_array_equal(view.members(left.code), np.flatnonzero(in_big & (proposal.labels == 0)))

    with pytest.raises(DcguiError, match="merged group"):
        split_cluster_id(store, 1, "g2")
    with pytest.raises(DcguiError, match=f"a part of cluster {big}"):
        split_cluster_id(store, 1, f"{big}.1")
    with pytest.raises(DcguiError, match="does not exist at epoch 1"):
        merge_edit(store, 1, [f"{big}.1", "9"])
    with pytest.raises(DcguiError, match="not 40"):
        drain(iter_split_proposal(store, 1, 0, 40))
    store.undo(2)
    assert not store.group_view(2).refined


def test_keep_one_rules_on_real_files_and_hand_set_flags(store: SessionStore) -> None:
    paths = store.image_paths()
    group = [paths.index(f"class_1/img_002{s}") for s in (".png", "_big.jpg", "_copy.jpg", "_old.png")]
    orig, big, jpeg, old = group
    stats = store.image_stats()
    assert stats["width"][big] == 128 and stats["size"][big] < stats["size"][orig] == stats["size"][old]

    def kept(rule: str) -> int:
        edit = keep_one_edit(store, [group], rule)
        return next(i for i, f in edit.targets.items() if f == "keep")

    assert kept("largest") == orig  # ties with its old copy (same pixels): path order
    assert kept("resolution") == big
    assert kept("oldest") == old

    store.set_image_flag(jpeg, "keep")  # the user wants the JPEG
    edit = keep_one_edit(store, [group], "oldest")
    preview = store.preview_edit(edit)
    assert (preview.images, preview.changed, preview.hand_kept) == (4, 3, 1)
    assert preview.summary == "keep one per group (oldest file (modification time)): 1 group"
    store.apply_edit(edit)
    flags = store.image_flag_sources()
    assert flags[old] == ("keep", BULK) and flags[jpeg] == ("keep", HAND)
    assert flags[orig] == flags[big] == ("duplicate", BULK)
    store.apply_edit(unflag_edit(group))  # "unflag group" leaves the hand-set keep
    assert {i: f for i, f in store.image_flag_sources().items() if i in group} == {jpeg: ("keep", HAND)}
    with pytest.raises(DcguiError, match="unknown"):
        keep_one_edit(store, [group], "newest")
