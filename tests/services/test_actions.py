"""The one service function per user action, on a real trained session: flags, cluster names,
tags and notes, output paths, the backbone export (and its sha256 check), and the rule that
settles a provisional session's settings wherever it trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcgui.core.control import drain
from dcgui.core.errors import DcguiError
from dcgui.services import clusters, export, flags, outputs, training
from dcgui.services.edits import group_view, undo_or_redo
from dcgui.store import BULK, SessionStore
from tests.conftest import copy_session, write_image_folder


@pytest.fixture
def store(curation_session: Path, tmp_path: Path) -> SessionStore:
    """A private copy of the trained session (tests edit it)."""
    s = SessionStore.open(copy_session(curation_session, tmp_path))
    yield s  # type: ignore[misc]
    s.close()


def test_flags_by_hand_and_the_choice_about_hand_set_ones(store: SessionStore) -> None:
    store.apply_edit(flags.flag_edit([3, 1, 3], "exclude"))
    assert store.image_flags() == {1: "exclude", 3: "exclude"}
    # a bulk unflag leaves hand-set flags alone, unless the user says otherwise
    bulk = flags.unflag_edit([1, 3])
    assert flags.leaves_hand_set(bulk) and store.preview_edit(bulk).rows == 0
    store.apply_edit(flags.with_hand_set(bulk, True))
    assert store.image_flags() == {}
    # "keep the one I chose, flag the rest": by hand
    store.apply_edit(flags.keep_chosen_edit([5, 6, 7], 6, "keep 6"))
    assert store.image_flags() == {5: "duplicate", 6: "keep", 7: "duplicate"}
    assert store.preview_edit(flags.unflag_edit([5, 6, 7])).rows == 0  # set by hand: a bulk unflag keeps them
    # keep one per group by a rule, with or without the hand-set flags
    assert store.preview_edit(flags.keep_one_edit(store, [[5, 6, 7]], "largest")).hand_kept > 0
    assert store.preview_edit(flags.keep_one_edit(store, [[5, 6, 7]], "largest", include_hand_set=True)).hand_kept == 0
    assert flags.keep_one_edit(store, [[8, 9]], "largest").source == BULK
    undone = undo_or_redo(store, 2)
    assert len(undone) == 2 and store.image_flags() == {1: "exclude", 3: "exclude"}
    assert len(undo_or_redo(store, 1, redo=True)) == 1 and store.image_flags() == {}
    with pytest.raises(DcguiError, match="at least 1"):
        undo_or_redo(store, 0)


def test_cluster_names_tags_notes_and_group_edits(store: SessionStore) -> None:
    store.apply_edit(clusters.rename_cluster_edit(2, "  pets "))
    store.apply_edit(clusters.tag_cluster_edit(2, ["a", " ", " b "]))
    store.apply_edit(clusters.note_cluster_edit(2, "seen"))
    assert store.cluster_user_data()[2] == {"name": "pets", "tags": ["a", "b"], "notes": "seen"}
    store.apply_edit(clusters.rename_cluster_edit(2, "   "))
    assert store.cluster_user_data()[2]["name"] is None
    view = group_view(store, 1)
    whole = view.find("2")
    assert clusters.dissolve_group_edit(whole) is None  # a plain cluster: nothing to dissolve
    store.apply_edit(clusters.rename_group_edit(whole, "cats"))  # a cluster's group: its own name
    assert store.cluster_user_data()[2]["name"] == "cats"
    store.apply_edit(clusters.image_group_edit("  my   picks ", [4, 1, 4]))
    assert store.image_groups() == {"my picks": [1, 4]}
    store.apply_edit(clusters.image_group_edit("my picks", None))
    assert store.image_groups() == {}


def test_output_file_refuses_the_session_a_folder_and_a_missing_folder(store: SessionStore, tmp_path: Path) -> None:
    for bad, text in ((store.path, "session"), (store.data_dir / "x.csv", "data"),
                      (tmp_path, "it is a folder"), (tmp_path / "nope" / "a.csv", "does not exist")):
        with pytest.raises(DcguiError, match=text):
            outputs.output_file(bad, store.path, "CSV file")
    made = outputs.output_file(tmp_path / "new" / "a.csv", store.path, make_folder=True)
    assert made.parent.is_dir() and made.is_absolute()
    (tmp_path / "m.pt.json").mkdir()  # the .json beside the model is checked too
    with pytest.raises(DcguiError, match=r"m\.pt\.json: it is a folder"):
        export.backbone_outputs(tmp_path / "m.pt", store.path)


def test_backbone_export_checks_the_checkpoint_and_records_one_kind(store: SessionStore, tmp_path: Path) -> None:
    out = export.backbone_outputs(tmp_path / "b.pt", store.path)
    before = len(store.exports())
    meta, recorded = export.export_backbone(store, 2, "state-dict", out)
    assert recorded and out.is_file() and Path(f"{out}.json").is_file() and meta["epoch"] == 2
    (kind,) = [e["kind"] for e in store.exports()[before:]]
    assert kind == "backbone-state-dict"
    # the window's worker runs export_backbone_file: a replaced checkpoint is refused there too
    checkpoint, sha256 = export.backbone_source(store, 1)
    checkpoint.write_bytes(export.backbone_source(store, 2)[0].read_bytes())  # a valid file, not epoch 1's
    with pytest.raises(DcguiError, match="sha256"):
        export.export_backbone_file(checkpoint, sha256, 1, "state-dict", tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()
    checkpoint.unlink()
    with pytest.raises(DcguiError, match="missing"):
        export.backbone_source(store, 1)


def test_a_provisional_session_is_settled_by_one_rule_wherever_it_trains(tmp_path: Path) -> None:
    """A `dcgui train` stopped before its settings were decided leaves a provisional config
    (k for a million images): the window's trainer settles it as the CLI does, from the
    collection and the settings stored with the session."""
    from dcgui.core.config import default_config
    from dcgui.core.control import RunControl

    folder = write_image_folder(tmp_path / "photos", n_per_class=3)
    overrides = {"k": 3, "arch": "smallnet", "image_size": 32, "batch_size": 16, "device": "cpu", "epochs": 1,
                 "workers": 1}
    provisional = default_config(1_000_000, "cpu", None, **{**overrides, "k": 500})
    store = training.create_session(tmp_path / "s.dcgui", folder, provisional, pending=True, overrides=overrides)
    store.close()
    drain(training.iter_train_file(tmp_path / "s.dcgui", RunControl(), default_threads=1))
    with SessionStore.open(tmp_path / "s.dcgui", readonly=True) as s:
        assert s.config.k == 3 and not training.config_pending(s) and s.last_epoch() == 1
        assert np.unique(s.assignments(1)).size <= 3
