"""The edit log on real session files: every edit kind is undone and redone after closing and
reopening the file, bulk actions never change hand-set flags unless asked (and say so first),
and merges and splits made at one epoch carry to the next through the cluster matching."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.analysis.groups import KIND_MERGE, KIND_PART, Unit
from dcgui.core.analysis.matching import match_clusters
from dcgui.store import BULK, HAND, SessionStore, schema
from dcgui.store.edits import DissolveGroup, MergeClusters, RenameGroup, SetFlags, SplitCluster
from tests.store.test_session import event, new_store

N, K = 20, 4


def user_state(store: SessionStore) -> tuple[object, ...]:
    splits, merges = store.cluster_groups()
    return (store.image_flag_sources(), store.cluster_user_data(), store.image_groups(),
            [(s.id, s.epoch, s.cluster, s.labels.tolist(), s.names) for s in splits],
            [(m.id, m.epoch, m.units, m.name) for m in merges])


def trained(tmp_path: Path) -> SessionStore:
    store = new_store(tmp_path, n=N, k=K)
    store.record_epoch(event(1, np.arange(N) % K, np.arange(K)))
    return store


def reopen(store: SessionStore) -> SessionStore:
    path = store.path
    store.close()
    return SessionStore.open(path)


def split_labels(store: SessionStore, cluster: int) -> np.ndarray:
    members = store.cluster_members(1, cluster)
    labels = np.zeros(N, dtype=np.int16)
    labels[members[len(members) // 2:]] = 1
    return labels


EDITS = {
    "hand flag": lambda s: s.set_image_flag(3, "keep"),
    "hand flags": lambda s: s.set_image_flag([1, 2, 5], "exclude"),
    "unflag": lambda s: s.set_image_flag([0], None),
    "bulk flags": lambda s: s.apply_edit(SetFlags({0: "keep", 4: "duplicate", 8: "duplicate"}, BULK, "keep one")),
    "name": lambda s: s.set_cluster_name(2, "  beach "),
    "tags": lambda s: s.set_cluster_tags(2, ["sea", " ", "sand"]),
    "notes": lambda s: s.set_cluster_notes(1, "blurry ones"),
    "merge": lambda s: s.apply_edit(MergeClusters(1, [Unit(0), Unit(3)], "animals")),
    "split": lambda s: s.apply_edit(SplitCluster(1, 2, split_labels(s, 2), ["left", None])),
    "rename merge": lambda s: s.apply_edit(RenameGroup(1, "pets")),
    "rename part": lambda s: s.apply_edit(RenameGroup(2, "right", part=1)),
    "dissolve": lambda s: s.apply_edit(DissolveGroup(1)),
    "image group": lambda s: s.set_image_group("sunsets", [1, 2, 9]),
    "delete image group": lambda s: s.set_image_group("kept", None),
}


@pytest.mark.parametrize("kind", list(EDITS))
def test_every_edit_kind_undoes_and_redoes_across_reopen(tmp_path: Path, kind: str) -> None:
    store = trained(tmp_path)
    # earlier user data that the edit changes (or must leave alone)
    store.set_image_flag([0, 1], "duplicate")
    store.set_cluster_name(1, "old name")
    store.apply_edit(MergeClusters(1, [Unit(0), Unit(1)], "first"))  # group 1
    store.apply_edit(SplitCluster(1, 3, split_labels(store, 3)))  # group 2
    store.set_image_group("kept", [4, 5])
    before = user_state(store)
    applied = EDITS[kind](store)
    assert applied.record is not None, f"{kind} changed nothing"
    after = user_state(store)
    assert after != before

    store = reopen(store)
    assert user_state(store) == after
    undone = store.undo()
    assert [r.id for r in undone] == [applied.record.id] and undone[0].undone
    assert user_state(store) == before

    store = reopen(store)
    assert user_state(store) == before
    assert store.next_undo_redo()[1].id == applied.record.id  # type: ignore[union-attr]
    assert [r.id for r in store.redo()] == [applied.record.id]
    assert user_state(store) == after
    store.close()


def test_log_is_linear_and_undo_takes_steps(tmp_path: Path) -> None:
    store = trained(tmp_path)
    store.set_image_flag(0, "keep")
    store.set_image_flag(1, "keep")
    store.set_image_flag(2, "keep")
    assert [r.summary for r in store.edit_log()] == ["flag 1 image “keep”"] * 3
    assert len(store.undo(steps=2)) == 2
    assert store.image_flags() == {0: "keep"}
    assert [r.undone for r in store.edit_log()] == [False, True, True]
    store.set_image_flag(5, "exclude")  # a new edit drops the redo stack
    assert store.redo() == []
    assert [r.undone for r in store.edit_log()] == [False, False]
    assert len(store.undo(steps=10)) == 2  # only two left to undo
    assert store.image_flags() == {}
    assert store.undo() == []
    # an edit that changes nothing is not logged
    store.redo(steps=5)
    n = len(store.edit_log())
    assert store.set_image_flag(5, "exclude").record is None
    assert store.set_cluster_name(0, None).record is None
    assert len(store.edit_log()) == n
    store.close()


def test_undo_from_another_connection(tmp_path: Path) -> None:
    """`dcgui undo` in a terminal while the window has the session open."""
    gui = trained(tmp_path)
    gui.set_cluster_name(2, "cats")
    cli = SessionStore.open(gui.path)
    assert cli.next_undo_redo()[0].summary == "name cluster 2 “cats”"  # type: ignore[union-attr]
    cli.undo()
    cli.close()
    assert gui.cluster_user_data() == {}  # the window's connection sees it at once
    assert gui.next_undo_redo()[0] is None
    gui.close()


def test_bulk_action_never_silently_changes_hand_set_flags(tmp_path: Path) -> None:
    store = trained(tmp_path)
    store.set_image_flag([0, 1], "keep")  # by hand
    store.set_image_flag([2], "exclude")  # by hand
    store.apply_edit(SetFlags({3: "duplicate"}, BULK))  # by a rule
    everyone = dict.fromkeys(range(6), "duplicate")
    bulk = SetFlags(everyone, BULK, "flag all groups")
    preview = store.preview_edit(bulk)
    assert (preview.images, preview.changed, preview.unchanged, preview.hand_kept, preview.hand_changed) == (6, 2, 1, 3, 0)
    assert preview.transitions == ((None, "duplicate", 2),)
    assert "3 flags you set by hand left as they are" in preview.describe()
    assert store.image_flags() == {0: "keep", 1: "keep", 2: "exclude", 3: "duplicate"}  # preview wrote nothing

    applied = store.apply_edit(bulk)
    assert applied.preview == preview
    assert store.image_flag_sources() == {0: ("keep", HAND), 1: ("keep", HAND), 2: ("exclude", HAND),
                                          3: ("duplicate", BULK), 4: ("duplicate", BULK), 5: ("duplicate", BULK)}
    # "unflag" as a bulk action clears what rules set and nothing the user set by hand
    unflag = SetFlags(dict.fromkeys(range(6)), BULK, "unflag group")
    assert store.preview_edit(unflag).hand_kept == 3
    store.apply_edit(unflag)
    assert store.image_flags() == {0: "keep", 1: "keep", 2: "exclude"}
    # only when the user asks for it (after seeing the count) does a bulk action change them
    forced = SetFlags(everyone, BULK, "flag all groups", override_hand=True)
    preview = store.preview_edit(forced)
    assert (preview.changed, preview.hand_changed, preview.hand_kept) == (6, 3, 0)
    assert "3 of the changes replace a flag you set by hand" in preview.describe()
    store.apply_edit(forced)
    assert set(store.image_flags().values()) == {"duplicate"}
    store.undo()
    assert store.image_flag_sources()[0] == ("keep", HAND)  # provenance restored too


def test_hand_edit_adopts_a_bulk_flag(tmp_path: Path) -> None:
    store = trained(tmp_path)
    store.apply_edit(SetFlags({4: "keep"}, BULK))
    preview = store.preview_edit(SetFlags.same(4, "keep"))
    assert (preview.changed, preview.unchanged, preview.rows) == (0, 1, 1)
    store.set_image_flag(4, "keep")
    assert store.image_flag_sources()[4] == ("keep", HAND)
    assert store.preview_edit(SetFlags({4: None}, BULK)).hand_kept == 1


def test_flags_of_an_older_file_count_as_hand_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    store = new_store(tmp_path, n=N, k=K)
    store.db.execute("INSERT INTO image_flags (path, flag) VALUES (?, 'keep')", (store.image_paths()[7],))
    store.close()
    monkeypatch.undo()
    store = SessionStore.open(tmp_path / "s.dcgui")
    assert store.versions["schema"] == len(schema.MIGRATIONS)
    assert store.image_flag_sources() == {7: ("keep", HAND)}
    assert store.preview_edit(SetFlags({7: None}, BULK)).hand_kept == 1
    store.close()


def test_bad_edits_raise_and_change_nothing(tmp_path: Path) -> None:
    store = trained(tmp_path)
    before = user_state(store)
    with pytest.raises(IndexError, match="out of range"):
        store.set_image_flag([1, N], "keep")
    with pytest.raises(ValueError, match="unknown"):
        store.set_image_flag(1, "favourite")
    with pytest.raises(KeyError, match="does not exist at epoch 1"):
        store.apply_edit(MergeClusters(1, [Unit(0), Unit(K)]))
    with pytest.raises(KeyError, match="epoch 7 is not recorded"):
        store.apply_edit(MergeClusters(7, [Unit(0), Unit(1)]))
    with pytest.raises(ValueError, match="labels every image"):
        store.apply_edit(SplitCluster(1, 0, np.zeros(3, dtype=np.int16)))
    with pytest.raises(KeyError, match="does not exist"):
        store.apply_edit(DissolveGroup(42))
    assert user_state(store) == before and store.edit_log() == []
    ro = SessionStore.open(store.path, readonly=True)
    assert ro.preview_edit(SetFlags.same([0, 1], "keep")).changed == 2  # previews work read-only
    with pytest.raises(Exception, match="read-only"):
        ro.set_image_flag(0, "keep")
    ro.close()


def test_group_ids_are_never_reused(tmp_path: Path) -> None:
    store = trained(tmp_path)
    first = store.apply_edit(MergeClusters(1, [Unit(0), Unit(1)])).preview.summary
    assert "into g1" in first
    store.undo()
    assert "into g2" in store.apply_edit(MergeClusters(1, [Unit(2), Unit(3)])).preview.summary
    store = reopen(store)
    assert "into g3" in store.apply_edit(MergeClusters(1, [Unit(0), Unit(3)])).preview.summary
    store.close()


def test_merge_and_split_carry_to_the_next_epoch(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=N, k=K)
    e1 = np.arange(N) % K
    store.record_epoch(event(1, e1, np.arange(K)))
    store.set_cluster_name(1, "one")
    store.apply_edit(MergeClusters(1, [Unit(0), Unit(3)], "animals"))
    labels = split_labels(store, 2)
    store.apply_edit(SplitCluster(1, 2, labels, ["dark", None]))
    # epoch 2: k-means numbers clusters differently and two images move; the matching gives the
    # new clusters the ids of the old ones they overlap most
    raw2 = (e1 + 1) % K
    raw2[[0, 6]] = raw2[[1, 1]]
    mapping = match_clusters(e1, raw2, K)
    store.record_epoch(event(2, mapping[raw2], mapping))
    a2 = store.assignments(2)
    assert a2[0] == 1 and a2[6] == 1  # images 0 (was 0) and 6 (was 2) joined cluster 1

    view = store.group_view(2)
    assert [(g.key, g.kind, g.title) for g in view.groups] == [
        ("1", "cluster", "one"), ("2.1", KIND_PART, "dark"), ("2.2", KIND_PART, "cluster 2.2"),
        ("g1", KIND_MERGE, "animals")]
    animals = view.find("g1")
    np.testing.assert_array_equal(view.members(animals.code), np.flatnonzero(np.isin(a2, [0, 3])))
    for p in (0, 1):  # every remaining member of cluster 2 keeps its part from epoch 1
        part = view.find(f"2.{p + 1}")
        members = view.members(part.code)
        assert set(members) == {i for i in np.flatnonzero(a2 == 2) if labels[i] == p}
    assert sum(g.size for g in view.groups) == N
    # groups made at epoch 2 do not reach back to epoch 1
    store.apply_edit(MergeClusters(2, [Unit(1), Unit(2, 2, 0)], "more"))
    assert [g.key for g in store.group_view(1).groups] == ["1", "2.1", "2.2", "g1"]
    assert [g.key for g in store.group_view(2).groups] == ["2.2", "g1", "g3"]
    store.close()


def test_edits_table_holds_whole_rows(tmp_path: Path) -> None:
    """The log is plain SQLite: one row per edit, readable without dcgui."""
    store = trained(tmp_path)
    store.set_image_flag(range(N), "keep")
    store.close()
    conn = sqlite3.connect(tmp_path / "s.dcgui")
    rows = conn.execute("SELECT kind, summary, rows, undone FROM edits").fetchall()
    conn.close()
    assert rows == [("flags", f"flag {N} images “keep”", N, 0)]


def test_setting_epochs_aside_starts_another_run(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=6, k=2)
    for e in (1, 2, 3):
        store.record_epoch(event(e, np.arange(6) % 2, np.arange(2)))
    assert store.epochs_run() == 0
    store.archive_epochs_after(1)
    assert store.epochs_run() == 1 and store.get_meta("run") == 1  # JSON in meta, like every value
    store.archive_epochs_after(0)
    assert store.epochs_run() == 2
    store.close()


# -------------------------------------------------------------------------------------------------
# Issue 20
# -------------------------------------------------------------------------------------------------
def test_edit_ids_are_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 13: another window's Undo menu names edits by id; an id once given stays that edit's."""
    store = trained(tmp_path)
    first = store.set_cluster_name(0, "a").record
    store.undo()
    second = store.set_cluster_name(1, "b").record  # drops the undone one from the log
    assert first is not None and second is not None and second.id > first.id
    store.close()
    # an older file (before AUTOINCREMENT) keeps its edits and gets the same guarantee
    # (no epoch is recorded there: today's epoch rows have columns of later versions)
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:schema.MIGRATIONS.index(schema._v3)])
    (tmp_path / "old").mkdir()
    old = new_store(tmp_path / "old", n=N, k=K)
    kept = old.set_cluster_name(2, "c").record
    gone = old.set_cluster_name(3, "d").record
    old.undo()
    old.close()
    monkeypatch.undo()
    old = SessionStore.open(tmp_path / "old" / "s.dcgui")
    assert old.versions["schema"] == schema.SCHEMA_VERSION
    assert [(r.id, r.summary, r.undone) for r in old.edit_log()] == [
        (kept.id, kept.summary, False), (gone.id, gone.summary, True)]
    new = old.set_cluster_name(1, "e").record
    assert new is not None and gone is not None and new.id > gone.id
    old.close()


def test_a_rewind_archives_the_splits_of_the_discarded_epochs(tmp_path: Path) -> None:
    """Item 14: merges and splits made on discarded epochs go to the archive with them; their
    edits say so and are neither undone nor redone here."""
    store = trained(tmp_path)
    store.record_epoch(event(2, np.arange(N) % K, np.arange(K)))
    store.record_epoch(event(3, np.arange(N) % K, np.arange(K)))
    kept = store.apply_edit(MergeClusters(1, [Unit(0), Unit(1)], "early"))  # on a kept epoch
    split = store.apply_edit(SplitCluster(3, 2, split_labels(store, 2), ["left", None]))
    merge = store.apply_edit(MergeClusters(2, [Unit(2), Unit(3)], "late"))
    store.undo()  # the late merge is on the redo stack
    archive = store.archive_epochs_after(1)
    splits, merges = store.cluster_groups()
    assert splits == [] and [m.name for m in merges] == ["early"]
    log = {r.id: r for r in store.edit_log()}
    note = f" (archived with epochs 2-3 in {archive.name}: can no longer be undone here)"
    assert log[split.record.id].summary == split.record.summary + note and log[split.record.id].archived
    assert log[merge.record.id].summary == merge.record.summary + note and log[merge.record.id].archived
    assert not log[kept.record.id].archived
    assert store.redo() == []  # the archived merge is not redone onto the retrained epochs
    assert [r.id for r in store.undo()] == [kept.record.id]  # the split is passed by
    assert store.cluster_groups() == ([], [])
    with SessionStore.open(archive, readonly=True) as old:  # the archive holds them as they were
        a_splits, a_merges = old.cluster_groups()
        assert [s.cluster for s in a_splits] == [2] and [m.name for m in a_merges] == ["early"]
    store.close()


def test_the_edit_log_encodes_large_edits_in_pieces_to_the_same_text() -> None:
    """``encode_changes`` writes 2,000 rows per json call (so a worker saving 100k rows lets the
    window's thread run between them); the blob is the one text of a single json.dumps."""
    import json
    import zlib

    from dcgui.store.editlog import RowChange, decode_changes, encode_changes

    for n in (0, 1, 1999, 2000, 2001, 4500):
        changes = [RowChange("image_flags", f"c/{i}.png", None if i % 2 else {"flag": "keep", "source": "hand"},
                             {"flag": "exclude", "source": "bulk"}) for i in range(n)]
        whole = json.dumps([[c.table, c.key, c.before, c.after] for c in changes], separators=(",", ":"))
        blob = encode_changes(changes)
        assert zlib.decompress(blob).decode("utf-8") == whole, n
        assert decode_changes(blob) == changes


def test_the_edit_log_reads_rows_one_at_a_time_and_any_other_text_whole() -> None:
    """``decode_changes`` parses the log's array row by row (the window's thread gets the GIL
    between rows during a worker's undo of 100k rows); other JSON still reads as json.loads does."""
    import json

    from dcgui.store.editlog import _loads_rows

    for text in ("[]", "[1]", '[["image_flags","a",null,{"flag":"keep"}],{"x":null}]', '{"a":1}', "[1, 2]",
                 "[1,2] ", '"x"'):
        assert _loads_rows(text) == json.loads(text), text


def test_flags_text_names_what_a_flag_edit_does() -> None:
    from dcgui.store.edits import SetFlags, flags_text

    assert flags_text({1: "keep"}) == "flag 1 image “keep”"
    assert flags_text(dict.fromkeys(range(1200), "exclude")) == "flag 1,200 images “exclude”"
    assert flags_text({1: None, 2: None}) == "unflag 2 images"
    assert flags_text({1: "keep", 2: None}) == "change the flags of 2 images"
    assert SetFlags.same(range(3), "duplicate")._summary() == "flag 3 images “duplicate”"
