"""The bundled demo: archive location, extraction into class folders, idempotency."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.errors import DcguiError
from dcgui.core.images import demo
from dcgui.core.images.collection import scan
from dcgui.core.images.demo import DEMO_ARCHIVE, extract_demo


def small_resources(root: Path, n: int = 12) -> Path:
    """A resources folder with a small archive of the real layout (for fast, isolated tests)."""
    rng = np.random.default_rng(0)
    (root / "demo").mkdir(parents=True)
    np.savez(
        root / "demo" / demo.ARCHIVE_NAME,
        images=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        labels=(np.arange(n) % 3).astype(np.uint8),
        class_names=np.array(["shirt", "bag", "sandal"]),
        source_index=(np.arange(n) * 7).astype(np.int32),
    )
    return root


def test_shipped_archive_is_found_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DCGUI_RESOURCES", raising=False)
    repo = Path(demo.__file__).resolve().parents[3]
    assert demo.demo_archive() == repo / "resources" / "demo" / "fashion_mnist_4000.npz"
    assert DEMO_ARCHIVE.is_file()
    with np.load(DEMO_ARCHIVE) as data:
        assert data["images"].shape == (4000, 28, 28) and data["images"].dtype == np.uint8
        assert data["labels"].shape == (4000,) and len(data["class_names"]) == 10
        assert len(np.unique(data["source_index"])) == 4000


def test_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCGUI_RESOURCES", str(tmp_path / "res"))
    assert demo.demo_archive() == tmp_path / "res" / "demo" / "fashion_mnist_4000.npz"
    with pytest.raises(DcguiError) as info:
        extract_demo(tmp_path / "out")
    assert "DCGUI_RESOURCES" in str(info.value) and str(tmp_path / "res") in str(info.value)


def test_extract_writes_class_folders_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCGUI_RESOURCES", str(small_resources(tmp_path / "res")))
    target = tmp_path / "demo"
    assert extract_demo(target) == target
    result = scan(target)
    assert len(result.images) == 12 and result.label_names == ["bag", "sandal", "shirt"]
    first = result.images[0]
    with np.load(demo.demo_archive()) as data:
        k = int(np.flatnonzero(data["source_index"] == int(first.relpath[-9:-4]))[0])
        np.testing.assert_array_equal(np.asarray(Image.open(target / first.relpath)), data["images"][k])
        assert data["class_names"][data["labels"][k]] == first.label

    # A second call touches nothing, so a session's image cache stays valid.
    stamps = {r.relpath: (target / r.relpath).stat().st_mtime_ns for r in result.images}
    assert extract_demo(target) == target
    assert {r.relpath: (target / r.relpath).stat().st_mtime_ns for r in result.images} == stamps

    # An incomplete folder (a file deleted, or the run killed before the marker) is redone.
    (target / first.relpath).unlink()
    extract_demo(target)
    assert (target / first.relpath).is_file()
    (target / demo.MARKER_NAME).unlink()
    (target / "bag" / "bag_99999.png").write_bytes(b"stale")
    extract_demo(target)
    assert len(scan(target).images) == 12 and (target / demo.MARKER_NAME).is_file()


def test_extract_real_demo(tmp_path: Path) -> None:
    target = extract_demo(tmp_path / "fashion")
    result = scan(target)
    assert len(result.images) == 4000 and len(result.label_names) == 10
    assert extract_demo(tmp_path / "fashion") == target


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_DATA_HOME is the Linux convention")
def test_default_target_is_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DCGUI_RESOURCES", str(small_resources(tmp_path / "res", n=3)))
    folder = extract_demo()
    assert folder == tmp_path / "xdg" / "dcgui" / "demo" / "fashion-mnist"
    assert len(scan(folder).images) == 3


def test_damaged_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "res" / "demo").mkdir(parents=True)
    (tmp_path / "res" / "demo" / demo.ARCHIVE_NAME).write_bytes(b"not a zip")
    monkeypatch.setenv("DCGUI_RESOURCES", str(tmp_path / "res"))
    with pytest.raises(DcguiError, match="damaged"):
        extract_demo(tmp_path / "out")
    assert not (tmp_path / "out").exists()
