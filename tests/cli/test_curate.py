"""dcgui.core.output.curate on real files: plans never collide, applying never replaces or deletes a file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.control import drain
from dcgui.core.events import PhaseProgress
from dcgui.core.output.curate import (
    check_target,
    cluster_folder_name,
    iter_apply,
    plan_curation,
)


def make_folder(root: Path) -> tuple[Path, list[str]]:
    folder = root / "photos"
    paths = ["a/x.jpg", "b/x.jpg", "b/X.JPG", "c/y.png", "c/z.png", "top.gif"]
    for p in paths:
        (folder / p).parent.mkdir(parents=True, exist_ok=True)
        (folder / p).write_bytes(f"pixels of {p}".encode())
    return folder, paths


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "cluster_0042"),
        ("", "cluster_0042"),
        ("  Beach / sea: 2024?  ", "Beach _ sea_ 2024_"),
        ("..", "cluster_0042"),
        ("...hidden.", "hidden"),
        ("CON", "CON_"),
        ("nul.txt", "nul.txt_"),
        ("tab\tand\nnewline", "tab_and_newline"),
        ("x" * 200, "x" * 80),
        ("Café", "Café"),
    ],
)
def test_cluster_folder_names_are_safe(name: str | None, expected: str) -> None:
    assert cluster_folder_name(42, name) == expected


def test_plan_names_never_collide(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    out = tmp_path / "sorted"
    (out / "cluster_0001").mkdir(parents=True)
    (out / "cluster_0001" / "x.jpg").write_bytes(b"user file")  # already there: must not be reused
    assign = np.array([1, 1, 1, 2, 3, 2])
    ops = plan_curation([folder / p for p in paths], assign, out, names={3: "Pets"}, excluded=[5])
    assert ops == [
        (folder / "a/x.jpg", out / "cluster_0001" / "x_1.jpg"),
        (folder / "b/x.jpg", out / "cluster_0001" / "x_2.jpg"),
        (folder / "b/X.JPG", out / "cluster_0001" / "X_3.JPG"),  # case-insensitive file systems
        (folder / "c/y.png", out / "cluster_0002" / "y.png"),
        (folder / "c/z.png", out / "Pets" / "z.png"),
    ]
    # A subset of clusters, and two clusters the user gave the same name share a folder.
    ops = plan_curation([folder / p for p in paths], assign, out, clusters=[2, 3], names={2: "Pets", 3: "Pets"})
    assert sorted(dst.name for _, dst in ops) == ["top.gif", "y.png", "z.png"]
    assert {dst.parent for _, dst in ops} == {out / "Pets"}
    with pytest.raises(ValueError, match="must match"):
        plan_curation([folder / p for p in paths], assign[:3], out)


def test_copy_keeps_sources_and_existing_files(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    out = tmp_path / "sorted"
    assign = np.array([0, 0, 1, 1, 1, 0])
    ops = plan_curation([folder / p for p in paths], assign, out)
    # A file appears at a planned destination after planning: it must survive.
    (out / "cluster_0000").mkdir(parents=True)
    (out / "cluster_0000" / "x.jpg").write_bytes(b"arrived later")
    before = snapshot(folder)
    events: list[PhaseProgress] = []
    result = drain(iter_apply(ops, "copy"), events.append)
    assert all(isinstance(e, PhaseProgress) and e.phase == "curate" for e in events)
    assert events[-1].done == events[-1].total == len(ops)
    assert snapshot(folder) == before  # sources untouched
    assert (out / "cluster_0000" / "x.jpg").read_bytes() == b"arrived later"
    assert len(result.done) == len(paths) and not result.failed
    for src, dst in result.done:
        assert dst.read_bytes() == src.read_bytes()
        assert dst.stat().st_mtime_ns == src.stat().st_mtime_ns  # metadata copied too
    moved_name = dict(result.done)[folder / "a/x.jpg"]
    assert moved_name.name == "x_1.jpg"
    # Running the same plan again adds suffixed copies and replaces nothing.
    first = snapshot(out)
    again = drain(iter_apply(ops, "copy"))
    assert all(dst.name != planned.name for (_, dst), (_, planned) in zip(again.done, ops))
    assert {k: v for k, v in snapshot(out).items() if k in first} == first


def test_symlink(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), tmp_path / "links")
    result = drain(iter_apply(ops, "symlink"))
    assert len(result.done) == len(paths)
    for src, dst in result.done:
        assert dst.is_symlink() and Path(os.readlink(dst)) == src.absolute()
        assert dst.read_bytes() == src.read_bytes()


def test_move_moves_only_planned_files(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    (folder / "notes.txt").write_text("not an image, not in the plan")
    out = tmp_path / "sorted"
    (out / "cluster_0001").mkdir(parents=True)
    (out / "cluster_0001" / "y.png").write_bytes(b"user file")
    contents = {p: (folder / p).read_bytes() for p in paths}
    assign = np.array([0, 0, 0, 1, 1, 1])
    ops = plan_curation([folder / p for p in paths], assign, out, excluded=[4])
    result = drain(iter_apply(ops, "move"))
    assert not result.failed and len(result.done) == 5
    for src, dst in result.done:
        assert not src.exists()
        assert dst.read_bytes() == contents[str(src.relative_to(folder))]
    assert (folder / "c/z.png").read_bytes() == contents["c/z.png"]  # excluded: stays
    assert (folder / "notes.txt").read_text() == "not an image, not in the plan"
    assert (out / "cluster_0001" / "y.png").read_bytes() == b"user file"
    assert (folder / "a").is_dir()  # emptied folders are not deleted either


def test_missing_source_is_reported_and_others_continue(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), tmp_path / "out")
    (folder / "c/y.png").unlink()
    result = drain(iter_apply(ops, "copy"))
    assert [src for src, _ in result.failed] == [folder / "c/y.png"]
    assert "No such file" in result.failed[0][1]
    assert len(result.done) == len(paths) - 1


def test_targets(tmp_path: Path) -> None:
    folder, _ = make_folder(tmp_path)
    with pytest.raises(ValueError, match=r"inside the photo folder .* refused"):
        check_target(folder, folder / "sorted", "move")
    with pytest.raises(ValueError, match="inside the photo folder"):
        check_target(folder, folder, "move")
    for mode in ("copy", "symlink"):  # issues 20, 21: refused in every mode, no longer a warning
        with pytest.raises(ValueError, match=r"inside the photo folder .* refused"):
            check_target(folder, folder / "sorted", mode)
    assert check_target(folder, tmp_path / "sorted", "move") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_target(folder, tmp_path / "file", "copy")
    with pytest.raises(ValueError, match="mode 'delete' is unknown"):
        check_target(folder, tmp_path / "x", "delete")


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_vanished_source_never_costs_a_file_that_appeared_at_the_destination(tmp_path: Path, mode: str) -> None:
    """The race of issue 12: between plan and apply the source vanishes while a user's file
    appears at the destination. The user's file must survive; only the source is reported."""
    folder, paths = make_folder(tmp_path)
    out = tmp_path / "sorted"
    ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out)
    src, dst = ops[3]
    src.unlink()
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"the user's own file")
    result = drain(iter_apply(ops, mode))
    assert dst.read_bytes() == b"the user's own file"
    assert [s for s, _ in result.failed] == [src] and "No such file" in result.failed[0][1]
    assert len(result.done) == len(paths) - 1


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc/self/mem")
def test_a_failed_copy_removes_only_its_own_partial_file(tmp_path: Path) -> None:
    """A read error after the destination was created (/proc/self/mem opens, then reading its
    first page fails with EIO) removes the file this run created, and nothing else."""
    folder, _ = make_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.jpg").write_bytes(b"user file")
    bad = Path("/proc/self/mem")
    result = drain(iter_apply([(bad, out / "mem.jpg"), (folder / "top.gif", out / "keep.jpg")], "copy"))
    assert [s for s, _ in result.failed] == [bad]
    assert not (out / "mem.jpg").exists()  # our own partial copy is gone
    assert (out / "keep.jpg").read_bytes() == b"user file"
    assert (out / "keep_1.jpg").read_bytes() == b"pixels of top.gif"


def test_cluster_folders_are_distinct_deterministic_and_short(tmp_path: Path) -> None:
    from dcgui.core.output.curate import cluster_folder_names

    names = {1: "a/b", 2: "a_b", 3: "Pets", 4: "pets", 5: "cluster_0007", 6: "a_b", 9: "😀" * 100, 10: "é" * 300}
    folders = cluster_folder_names(range(12), names)
    assert folders == {0: "cluster_0000", 1: "a_b (cluster 1)", 2: "a_b", 3: "Pets", 4: "pets (cluster 4)",
                       5: "cluster_0007 (cluster 5)", 6: "a_b", 7: "cluster_0007", 8: "cluster_0008",
                       9: "😀" * 50, 10: "é" * 80, 11: "cluster_0011"}
    assert len({f.casefold() for c, f in folders.items() if c != 6}) == 11  # only same names share
    assert cluster_folder_names([1], names) == {1: folders[1]}  # a subset gets the same folders
    assert all(len(f.encode()) <= 255 for f in folders.values())
    # Folders that long really work, and a file whose suffixed name would pass 255 bytes is shortened.
    folder = tmp_path / "photos"
    folder.mkdir()
    long_name = "ö" * 125 + ".jpg"  # 254 bytes
    (folder / long_name).write_bytes(b"a")
    (folder / "b.jpg").write_bytes(b"b")
    out = tmp_path / "out"
    (out / folders[9]).mkdir(parents=True)
    (out / folders[9] / long_name).write_bytes(b"already there")
    ops = plan_curation([folder / long_name, folder / "b.jpg"], np.array([9, 1]), out, names=names)
    result = drain(iter_apply(ops, "copy"))
    assert not result.failed and len(result.done) == 2
    assert (out / folders[9] / long_name).read_bytes() == b"already there"
    copy = dict(result.done)[folder / long_name]
    assert copy.parent.name == "😀" * 50 and len(copy.name.encode()) <= 255 and copy.name.endswith("_1.jpg")
    assert (out / "a_b (cluster 1)" / "b.jpg").read_bytes() == b"b"


# -------------------------------------------------------------------------------------------------
# Issue 20
# -------------------------------------------------------------------------------------------------
def _cross_device(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Hard links out of ``folder`` fail as they do across file systems (EXDEV)."""
    import errno

    real = os.link

    def link(src: os.PathLike[str] | str, dst: os.PathLike[str] | str, *a: object, **k: object) -> None:
        if Path(src).is_relative_to(folder):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), None, str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "link", link)


def test_a_move_across_file_systems_killed_mid_copy_leaves_no_truncated_photo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL (no cleanup runs) while a cross-device move copies a photo, then a re-run."""
    import signal
    import subprocess
    import sys
    import time

    folder, paths = make_folder(tmp_path)
    big = folder / "a" / "x.jpg"
    big.write_bytes(os.urandom(3 << 20))
    contents = snapshot(folder)
    out = tmp_path / "sorted"
    marker = tmp_path / "a third written"
    code = f"""
import errno, os, shutil, sys, time
from pathlib import Path
import numpy as np
from dcgui.core.control import drain
from dcgui.core.output.curate import iter_apply, plan_curation
folder, out, marker = Path({str(folder)!r}), Path({str(out)!r}), Path({str(marker)!r})
real = os.link
def link(src, dst, *a, **k):
    if Path(src).is_relative_to(folder):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
    real(src, dst)
os.link = link
def slow(fin, fout, length=0):
    fout.write(fin.read(1 << 20))
    fout.flush()
    marker.touch()
    time.sleep(600)
shutil.copyfileobj = slow
paths = {paths!r}
ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out)
drain(iter_apply(ops, "move"))
"""
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the copy never started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert big.read_bytes() == contents["a/x.jpg"]  # the source is intact
    names = [p.name for p in (out / "cluster_0000").iterdir()]
    assert "x.jpg" not in names and all(n.startswith(".dcgui-part-") for n in names), names
    for part in (out / "cluster_0000").iterdir():  # a part file left by a run killed long ago
        os.utime(part, (time.time() - 7200, time.time() - 7200))
    _cross_device(monkeypatch, folder)
    again = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out)
    result = drain(iter_apply(again, "move"))
    assert not result.failed
    moved = {str(src.relative_to(folder)): dst for src, dst in result.done}
    assert moved["a/x.jpg"] == out / "cluster_0000" / "x.jpg"
    for rel, dst in moved.items():
        assert dst.read_bytes() == contents[rel] and not (folder / rel).exists()
    assert sorted(p.name for p in (out / "cluster_0000").iterdir()) == sorted(d.name for d in moved.values())


def test_a_killed_move_is_finished_by_a_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, paths = make_folder(tmp_path)
    contents = snapshot(folder)
    out = tmp_path / "sorted"
    ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out)
    _cross_device(monkeypatch, folder)
    real_unlink = os.unlink

    def killed(path: os.PathLike[str] | str, *a: object, **k: object) -> None:
        if Path(path) == folder / "a" / "x.jpg":
            raise KeyboardInterrupt  # killed after the copy is complete, before the source goes
        real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        drain(iter_apply(ops, "move"))
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert (out / "cluster_0000" / "x.jpg").read_bytes() == contents["a/x.jpg"]
    again = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out)
    assert (folder / "a" / "x.jpg", out / "cluster_0000" / "x_1.jpg") in again  # what the plan sees
    result = drain(iter_apply(again, "move"))
    assert not result.failed
    assert dict(result.done)[folder / "a" / "x.jpg"] == out / "cluster_0000" / "x.jpg"  # finished
    assert not (out / "cluster_0000" / "x_1.jpg").exists() and not (folder / "a" / "x.jpg").exists()
    assert sorted(p.name for p in (out / "cluster_0000").iterdir()) == sorted(
        dst.name for _, dst in result.done)


def test_a_source_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    folder, paths = make_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the victim's private file")
    out = tmp_path / "sorted"
    for mode in ("copy", "symlink"):
        ops = plan_curation([folder / p for p in paths], np.zeros(len(paths), int), out / mode)
        victim = folder / "c" / "y.png"
        if not victim.is_symlink():
            victim.unlink()
            victim.symlink_to(secret)  # swapped while curate runs (after the plan)
        result = drain(iter_apply(ops, mode))
        assert [src for src, _ in result.failed] == [victim]
        assert "symbolic link" in result.failed[0][1] or "no longer a regular file" in result.failed[0][1]
        for _, dst in result.done:
            assert dst.resolve().read_bytes() != secret.read_bytes()
        assert len(result.done) == len(paths) - 1
