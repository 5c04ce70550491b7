"""`dcgui similar | duplicates | outliers | map | eval` end to end on a tiny trained session."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dcgui.cli import main
from dcgui.core.analysis.evaluate import evaluate_features
from dcgui.core.control import drain
from dcgui.services import explore as es
from dcgui.store import SessionStore
from tests.conftest import make_shape_image, reference_knn_loo, write_image_folder


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 shapes in 4 class folders + an exact copy of one, smallnet 32 px k=4, 2 epochs."""
    root = tmp_path_factory.mktemp("explore_cli")
    folder = write_image_folder(root / "photos")
    shutil.copy(folder / "class_1" / "img_002.png", folder / "class_1" / "img_002_copy.png")
    path = root / "s.dcgui"
    rc = main(["train", str(folder), "--session", str(path), "--epochs", "2", "--k", "4", "--arch", "smallnet",
               "--image-size", "32", "--device", "cpu", "--batch-size", "16", "--no-progress"])
    assert rc == 0
    return path


def _paths(session: Path) -> list[str]:
    from dcgui.store import SessionStore

    with SessionStore.open(session, readonly=True) as s:
        return s.image_paths()


def test_similar_with_an_image_of_the_folder(session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = session.parent / "photos"
    assert main(["similar", str(session), str(folder / "class_1" / "img_002.png"), "-n", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# images most similar to class_1/img_002.png (epoch 2)")
    rows = [line.split(None, 2) for line in out[2:]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][2] == str(folder / "class_1" / "img_002_copy.png")  # the copy first
    assert float(rows[0][1]) > 0.999
    assert all(r[2] != str(folder / "class_1" / "img_002.png") for r in rows)  # never itself
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_similar_json_with_an_outside_image_and_an_epoch(session: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    img = tmp_path / "query.jpg"
    Image.fromarray(make_shape_image(2, np.random.default_rng(11), 48)).save(img, quality=90)
    assert main(["similar", str(session), str(img), "-n", "8", "--epoch", "1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["epoch"] == 1 and d["query_index"] is None and d["query"] == str(img)
    assert [r["rank"] for r in d["results"]] == list(range(1, 9))
    paths = _paths(session)
    assert all(Path(r["path"]).is_file() and paths[r["index"]] in r["path"] for r in d["results"])
    # stripes: most of the nearest are stripes (class_2)
    assert sum("class_2/" in r["path"] for r in d["results"][:5]) >= 3


def test_duplicates_csv_and_flags(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dcgui.store import SessionStore

    out = tmp_path / "dups.csv"
    assert main(["duplicates", str(session), "--csv", str(out), "--threshold", "0.05"]) == 0
    assert re.search(r"\b\d+ groups?, \d+ images? at difference", capsys.readouterr().out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["group", "path", "keep", "file_size", "width", "height", "group_difference",
                                      "reason"]
    copy_group = {r["group"] for r in rows if r["path"] == "class_1/img_002_copy.png"}
    assert len(copy_group) == 1
    members = [r for r in rows if r["group"] in copy_group]
    assert {r["path"] for r in members} >= {"class_1/img_002.png", "class_1/img_002_copy.png"}
    assert [r["keep"] for r in members].count("1") == 1 and members[0]["keep"] == "1"
    photo = session.parent / "photos" / "class_1" / "img_002.png"
    first = members[0]
    assert (int(first["width"]), int(first["height"])) == (48, 48)
    assert int(first["file_size"]) == photo.stat().st_size
    assert all(0.0 <= float(r["group_difference"]) <= 0.05 for r in rows)
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {}  # without --flag the session is untouched
    # the signatures were stored beside the cache: a second run reuses them
    assert list((session.parent / (session.name + ".d")).rglob("neardup_signatures_*.npz"))

    # --flag alone says what would change and changes nothing; --yes applies it as one edit
    assert main(["duplicates", str(session), "--csv", str(out), "--threshold", "0.05", "--flag"]) == 0
    text = capsys.readouterr().out
    assert "no flag → duplicate" in text and "add --yes" in text
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {}
    assert main(["duplicates", str(session), "--csv", str(out), "--threshold", "0.05", "--flag", "--yes"]) == 0
    assert "no flag → duplicate" in capsys.readouterr().out
    with SessionStore.open(session) as s:
        flags = s.image_flags()
        paths = s.image_paths()
        kept = [paths.index(r["path"]) for r in rows if r["keep"] == "1"]
        rest = [paths.index(r["path"]) for r in rows if r["keep"] == "0"]
        assert {i for i, f in flags.items() if f == "duplicate"} == set(rest)
        assert {i for i, f in flags.items() if f == "keep"} == set(kept)
        s.undo()
        assert s.image_flags() == {}
    assert (session.parent / "photos" / "class_1" / "img_002_copy.png").is_file()  # never deleted


def test_outliers_map_and_eval(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outliers", str(session), "-n", "3", "--json"]) == 0
    outl = json.loads(capsys.readouterr().out)
    assert [o["rank"] for o in outl] == [1, 2, 3]
    assert outl[0]["score"] >= outl[1]["score"] >= outl[2]["score"]

    out = tmp_path / "map.csv"
    assert main(["map", str(session), "--csv", str(out)]) == 0
    assert "2-D map of 33 images at epoch 2" in capsys.readouterr().out
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(_paths(session)) and rows[0]["label"] == "class_0"
    assert all(np.isfinite(float(r["x"])) for r in rows)

    assert main(["eval", str(session), str(session.parent / "photos"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["epoch"] == 2 and [r["model"] for r in rep["rows"]] == ["epoch 2", "random init (epoch 0)"]
    assert rep["knn_protocol"] == "leave-one-out" and rep["n_classes"] == 4 and rep["n_images"] == 33
    assert [r["epoch"] for r in rep["rows"]] == [2, 0]
    with SessionStore.open(session, readonly=True) as store:
        labels = store.labels()
        for r in rep["rows"]:
            feats = drain(es.iter_session_features(store, r["epoch"], "cpu"))
            # kNN: what a plain-numpy leave-one-out vote gives on the same features (a multiple of 1/33)
            assert r["knn_acc"] == pytest.approx(reference_knn_loo(feats, labels), abs=1e-9)
            # linear probe and NMI: the library's numbers on these features, not some other ones
            _, linear, nmi = evaluate_features(feats, labels, leave_one_out=True)
            assert (r["linear_acc"], r["nmi"]) == pytest.approx((linear, nmi), abs=1e-6)


def test_eval_on_another_labelled_folder_uses_a_split(session: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    other = write_image_folder(tmp_path / "other", n_per_class=6, seed=5)
    assert main(["eval", str(session), str(other), "--epoch", "1"]) == 0
    table = capsys.readouterr().out
    assert "epoch 1" in table and "random init (epoch 0)" in table
    assert "stratified 50/50 split" in table and "24 images" in table


def test_user_errors_name_the_fix(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["similar", str(session), str(tmp_path / "nope.jpg")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["similar", str(session), str(session.parent / "photos" / "class_0" / "img_000.png"),
                 "--epoch", "9"]) == 2
    assert "available: 0, 1, 2" in capsys.readouterr().err
    assert main(["duplicates", str(session), "--csv", str(tmp_path / "x.csv"), "--threshold", "0.9"]) == 2
    assert "--threshold" in capsys.readouterr().err
    unlabelled = tmp_path / "flat"
    unlabelled.mkdir()
    for f in (session.parent / "photos" / "class_0").glob("*.png"):
        shutil.copy(f, unlabelled / f.name)
    assert main(["eval", str(session), str(unlabelled)]) == 2
    assert "no class sub-folders" in capsys.readouterr().err
    assert main(["outliers", str(tmp_path / "missing.dcgui")]) == 2
    assert "does not exist" in capsys.readouterr().err
