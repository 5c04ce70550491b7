"""AMI per epoch: recorded by the engine with each epoch, computed for sessions trained before
it (saved when writable, in memory only when read-only) and shown by ``dcgui info --json``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.core.analysis.ami import ami
from dcgui.core.control import drain
from dcgui.services.metrics import complete_metrics, iter_missing_ami, missing_ami
from dcgui.store import SessionStore
from tests.conftest import copy_session


def _forget_ami(path: Path) -> None:
    """What a session trained before AMI existed looks like after its schema upgrade."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE epochs SET ami_prev = NULL, ami_labels = NULL")
    conn.commit()
    conn.close()


def test_engine_records_ami_with_each_epoch(curation_session: Path) -> None:
    with SessionStore.open(curation_session, readonly=True) as store:
        m1, m2 = store.epochs()
        labels = store.labels()
        assert labels is not None
        assert m1.ami_prev is None and m2.ami_prev == pytest.approx(ami(store.assignments(1), store.assignments(2)))
        for m in (m1, m2):
            has = labels >= 0
            assert m.ami_labels == pytest.approx(ami(labels[has], store.assignments(m.epoch)[has]))
        assert missing_ami(store) == []


def test_old_epochs_get_ami_saved_when_writable(curation_session: Path, tmp_path: Path) -> None:
    path = copy_session(curation_session, tmp_path)
    with SessionStore.open(path, readonly=True) as store:
        expected = {m.epoch: (m.ami_prev, m.ami_labels) for m in store.epochs()}
    _forget_ami(path)
    with SessionStore.open(path) as store:
        assert missing_ami(store) == [1, 2]
        values = drain(iter_missing_ami(store))
        assert values.keys() == {1, 2}
        assert values[1][0] is None and values[2][0] == pytest.approx(expected[2][0])
        assert values[1][1] == pytest.approx(expected[1][1]) and values[2][1] == pytest.approx(expected[2][1])
    with SessionStore.open(path, readonly=True) as store:  # written to the file
        assert missing_ami(store) == []
        assert store.epochs()[1].ami_prev == pytest.approx(expected[2][0])


def test_read_only_session_keeps_them_in_memory(curation_session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy_session(curation_session, tmp_path)
    with SessionStore.open(path, readonly=True) as store:
        expected = {m.epoch: (m.ami_prev, m.ami_labels) for m in store.epochs()}
    _forget_ami(path)
    before = path.read_bytes()
    with SessionStore.open(path, readonly=True) as store:
        metrics = drain(complete_metrics(store, save=True))
        assert [(m.ami_prev, m.ami_labels) for m in metrics] == [pytest.approx(v) if v[0] is not None else
                                                                 (None, pytest.approx(v[1])) for v in expected.values()]
        assert missing_ami(store) == [1, 2]  # nothing written
    assert path.read_bytes() == before
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [e["ami_prev"] for e in info["epochs"]] == [None, pytest.approx(expected[2][0])]
    assert [e["ami_labels"] for e in info["epochs"]] == [pytest.approx(expected[1][1]), pytest.approx(expected[2][1])]
