"""`dcgui merge | split | edits | undo | redo`, and `clusters` / `curate` / `outliers` following
the groups, end to end on a real trained session (a private copy per test)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dcgui.cli import main
from dcgui.store import SessionStore
from tests.conftest import copy_session


@pytest.fixture
def session(curation_session: Path, tmp_path: Path) -> Path:
    return copy_session(curation_session, tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_merge_split_undo_redo_and_the_groups_in_csv_curate_outliers(
        session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SessionStore.open(session, readonly=True) as s:
        sizes = s.cluster_sizes(1)
    big = int(np.argmax(sizes))
    a, b = [c for c in range(4) if c != big][:2]

    rc, out, _ = run(capsys, "merge", session, "--epoch", 1, a, b, "--name", "pets")
    assert rc == 0 and f"merge {a}, {b} into g1 “pets” (epoch 1)" in out
    rc, out, _ = run(capsys, "split", session, "--epoch", 1, big, "--into", 2, "--dry-run", "--samples", 2)
    assert rc == 0 and f"{big}.1: " in out and f"{big}.2: " in out and "nothing stored" in out
    with SessionStore.open(session, readonly=True) as s:
        assert len(s.edit_log()) == 1
    rc, out, _ = run(capsys, "split", session, "--epoch", 1, big, "--into", 2, "--names", "left,right",
                     "--device", "cpu")
    assert rc == 0 and f"split cluster {big} into 2 parts (epoch 1)" in out and "“left”" in out

    rc, out, _ = run(capsys, "info", session)
    assert f"split     cluster {big} into 2 parts from epoch 1" in out and "merge     g1 'pets' from epoch 1" in out
    assert "edits     2 " in out
    rc, out, _ = run(capsys, "edits", session)
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].split()[2] == "done" and "split cluster" in lines[2]
    rc, out, _ = run(capsys, "edits", session, "--json")
    assert [e["kind"] for e in json.loads(out)] == ["merge", "split"]

    # epoch 2: the groups made at epoch 1 follow the matched clusters
    csv_path = tmp_path / "groups.csv"
    assert run(capsys, "clusters", session, "--epoch", 2, "--csv", csv_path, "--groups")[0] == 0
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "cluster", "cluster_name", "group", "group_name", "flag", "flag_set_by",
                             "taken", "camera"]
    for r in rows:
        c = int(r["cluster"])
        if c in (a, b):
            assert (r["group"], r["group_name"]) == ("g1", "pets")
        elif c == big:
            assert (r["group"], r["group_name"]) in {(f"{big}.1", "left"), (f"{big}.2", "right")}
        else:
            assert (r["group"], r["group_name"]) == (str(c), f"cluster {c}")
    assert run(capsys, "clusters", session, "--csv", csv_path)[0] == 0  # the contract: two columns
    assert csv_path.read_text().splitlines()[0] == "path,cluster"

    out_dir = tmp_path / "sorted"
    rc, _, _ = run(capsys, "curate", session, "--epoch", 2, "--out", out_dir, "--clusters", f"g1,{big}.2")
    assert rc == 0
    pets = [r for r in rows if r["group"] == "g1"]
    right = [r for r in rows if r["group"] == f"{big}.2"]  # (could be empty at epoch 2)
    assert sorted(p.name for p in out_dir.iterdir()) == ["pets", *(["right"] if right else [])]
    assert len(list((out_dir / "pets").iterdir())) == len(pets) > 0
    if right:
        assert len(list((out_dir / "right").iterdir())) == len(right)
    rc, _, err = run(capsys, "curate", session, "--out", out_dir, "--clusters", str(a), "--dry-run")
    assert rc == 2 and f"cluster {a} is part of g1" in err

    rc, out, _ = run(capsys, "outliers", session, "-n", 40, "--json", "--device", "cpu")
    names = {o["cluster_name"] for o in json.loads(out)}
    assert "pets" in names and names <= {"pets", "left", "right", *(f"cluster {c}" for c in range(4))}

    rc, out, _ = run(capsys, "undo", session, "--steps", 5)
    assert rc == 0 and out.splitlines()[:2] == [f"undone: split cluster {big} into 2 parts (epoch 1)",
                                                f"undone: merge {a}, {b} into g1 “pets” (epoch 1)"]
    assert "2 of 5" in out
    with SessionStore.open(session, readonly=True) as s:
        assert not s.group_view(2).refined
    rc, out, _ = run(capsys, "redo", session)
    assert out.startswith("redone: merge") and "next redo: split" in out
    with SessionStore.open(session, readonly=True) as s:
        assert [g.key for g in s.group_view(2).groups if g.kind != "cluster"] == ["g1"]
    assert run(capsys, "undo", session, "--steps", 3)[1].count("undone") == 1
    assert "nothing to undo" in run(capsys, "undo", session)[1]


def test_user_errors(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "merge", session, "1")
    assert rc == 2 and "at least two" in err
    rc, _, err = run(capsys, "merge", session, "--epoch", 9, "1", "2")
    assert rc == 2 and "epoch 9" in err and "available: 1, 2" in err
    rc, _, err = run(capsys, "split", session, "7", "--into", "2")
    assert rc == 2 and "cluster 7 does not exist at epoch 2 (k=4)" in err
    rc, _, err = run(capsys, "split", session, "1.2", "--into", "2")
    assert rc == 2 and "1.2 is a part of cluster 1" in err
    rc, _, err = run(capsys, "undo", session, "--steps", "0")
    assert rc == 2 and "at least 1" in err
    with SessionStore.open(session, readonly=True) as s:
        assert s.edit_log() == []
