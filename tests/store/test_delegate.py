"""The store facade's typed delegation reaches the part that owns each job."""

from __future__ import annotations

from pathlib import Path

from dcgui.core.config import TrainConfig
from dcgui.store import SessionStore
from dcgui.store.delegate import delegate, delegate_property
from dcgui.store.edits import Editor
from dcgui.store.images import Images


def test_facade_methods_are_the_parts_methods(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with SessionStore.create(tmp_path / "s.dcgui", tmp_path / "photos", TrainConfig()) as store:
        # a method: the part's bound method, so arguments and results pass through unchanged
        assert store.undo == store.edits.undo
        assert store.epochs.__self__ is store.epoch_data
        store.set_meta("k", [1, 2])
        assert store.get_meta("k") == [1, 2] == store.info.get_meta("k")
        # a property, read from the part under the part's own name
        assert store.n_images == store.images.count == 0
        assert store.data_dir == store.info.data_dir
        assert store.archive_dir == store.archive.dir
    # on the class: the descriptor, carrying the part's docstring for help()
    assert isinstance(SessionStore.__dict__["undo"], delegate)
    assert SessionStore.__dict__["undo"].__doc__ == Editor.undo.__doc__
    assert isinstance(SessionStore.__dict__["n_images"], delegate_property)
    assert SessionStore.__dict__["n_images"].name == "count" and Images.count is not None


def test_every_delegate_names_a_member_of_its_part(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with SessionStore.create(tmp_path / "s.dcgui", tmp_path / "photos", TrainConfig()) as store:
        for name, member in vars(SessionStore).items():
            if isinstance(member, delegate | delegate_property):
                part = getattr(store, member.part)
                assert hasattr(part, member.name), f"SessionStore.{name} -> {member.part}.{member.name}"
                getattr(store, name)  # resolves on an instance
