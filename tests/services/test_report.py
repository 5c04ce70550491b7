"""``dcgui report`` and ``dcgui compare`` on real sessions: the page is self-contained (CSP,
data-URI images, no URL, no script), holds what the issue lists, hides the home folder, and
bad input ends in a page or a one-line error, never a traceback."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError
from dcgui.services.compare import iter_compare
from dcgui.services.html import CSP
from dcgui.services.report import ReportOptions, iter_report
from dcgui.store import SessionStore
from tests.conftest import copy_session, drain_events


def assert_self_contained(text: str) -> None:
    assert f'http-equiv="Content-Security-Policy" content="{CSP}"' in text
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    assert "url(" not in text  # no CSS-loaded resource either


def test_report_is_self_contained_and_complete(curation_session: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    session = copy_session(curation_session, tmp_path)
    assert main(["export", str(session), "--format", "state-dict", "--out", str(tmp_path / "b.pt")]) == 0
    out = tmp_path / "report.html"
    assert main(["report", str(session), "--out", str(out)]) == 0
    text = out.read_text()
    assert_self_contained(text)
    for needle in ("Collection", "Settings", "AMI", "Cluster river", "Clusters at epoch 2", "nearest the centroid",
                   "boundary", "purity", "Edit log", "Exports", "Duplicates and outliers"):
        assert needle in text, needle
    sha = hashlib.sha256((tmp_path / "b.pt").read_bytes()).hexdigest()
    assert sha in text  # the exported backbone, identified
    assert str(tmp_path) not in text and str(Path.home()) not in text  # relative paths only
    assert "class_1/img_002_copy.jpg" in text or "class_1/img_002.png" in text
    with SessionStore.open(session, readonly=True) as s:
        assert s.exports()[-1]["kind"] == "report"
    assert main(["report", str(session), "--out", str(tmp_path / "abs.html"), "--absolute-paths"]) == 0
    assert str(tmp_path) in (tmp_path / "abs.html").read_text()


def test_report_of_an_untrained_session_says_so(tmp_path: Path, image_folder: Path) -> None:
    path = tmp_path / "new.dcgui"
    with SessionStore.create(path, image_folder, TrainConfig(k=4)) as store:
        result, events = drain_events(iter_report(store, tmp_path / "r.html"))
    text = (tmp_path / "r.html").read_text()
    assert "no trained epoch yet" in text and "Collection" in text
    assert result.epoch == 0 and any(getattr(e, "phase", "") == "report" for e in events)
    assert_self_contained_no_images(text)


def assert_self_contained_no_images(text: str) -> None:
    assert CSP in text and not re.search(r"https?://", text) and "<script" not in text


def test_report_refuses_the_session_and_its_data_folder(curation_session: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    session = copy_session(curation_session, tmp_path)
    before = session.read_bytes()
    for bad in (session, session.with_name(session.name + ".d") / "r.html"):
        assert main(["report", str(session), "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dcgui: error: cannot write the report to") and "would destroy the session" in err
    assert session.read_bytes() == before


def test_read_only_session_gets_a_report(curation_session: Path, tmp_path: Path) -> None:
    with SessionStore.open(curation_session, readonly=True) as store:
        result, _ = drain_events(iter_report(store, tmp_path / "ro.html", ReportOptions(full_cards=1)))
    text = (tmp_path / "ro.html").read_text()
    assert_self_contained(text)
    assert result.cards == 1 and "The other 3 clusters" in text


def test_compare_two_runs(curation_session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = copy_session(curation_session, tmp_path / "a")
    b = copy_session(curation_session, tmp_path / "b")
    with SessionStore.open(b) as s:
        cfg = s.config
        s.set_config(TrainConfig(**{**cfg.to_dict(), "lr": cfg.lr * 2}))
    out = tmp_path / "compare.html"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    text = out.read_text()
    assert CSP in text and not re.search(r"https?://", text) and "<script" not in text
    assert "a/s" in text and "b/s" in text  # two files called s.dcgui: told apart by their folders
    assert re.search(r'<tr><td class="diff">lr</td>', text)  # the difference, highlighted
    assert capsys.readouterr().err.count("warning:") == 0  # same image folder
    result, _ = drain_events(iter_compare([a, b], tmp_path / "c2.html"))
    assert result.warnings == []
    with SessionStore.open(b) as s:
        other = tmp_path / "elsewhere"
        other.mkdir()
        s.set_folder(other)
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    assert "different image folders" in capsys.readouterr().err and "different image folders" in out.read_text()
    with pytest.raises(DcguiError, match="at least two"):
        drain_events(iter_compare([a], tmp_path / "c3.html"))
