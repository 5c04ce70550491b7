"""The bundled demo collection: 4,000 Fashion-MNIST images (10 classes) shipped as one archive.

``extract_demo`` writes them as PNG files in one sub-folder per class, so the demo is an
ordinary folder of images (with labels, so NMI against the classes can be shown) and goes
through exactly the same scan / cache / train path as the user's own photos.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dcgui.core.errors import DcguiError

ARCHIVE_NAME = "fashion_mnist_4000.npz"
RESOURCES_ENV = "DCGUI_RESOURCES"  # set by the PyInstaller bundle (or by hand) to the resources folder
MARKER_NAME = ".dcgui-demo.json"  # hidden, so the scan never lists it


def resources_dir() -> Path:
    """The folder holding ``demo/``: ``$DCGUI_RESOURCES``, else a frozen bundle's data folder,
    else ``resources/`` beside the ``dcgui`` package (a source checkout)."""
    env = os.environ.get(RESOURCES_ENV)
    if env:
        return Path(env).expanduser()
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[3] / "resources"  # dcgui/core/images/demo.py -> repo


def demo_archive() -> Path:
    """Where the demo archive is looked for now (honours a later change of ``DCGUI_RESOURCES``)."""
    return resources_dir() / "demo" / ARCHIVE_NAME


DEMO_ARCHIVE: Path = demo_archive()


def default_demo_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("dcgui")) / "demo" / "fashion-mnist"


def extract_demo(target: Path | None = None) -> Path:
    """Write the demo images as PNGs in class sub-folders under ``target`` and return it.

    Default ``target``: ``<per-user data dir>/demo/fashion-mnist``. Idempotent: a marker file
    records the finished extraction, so later calls return at once (leaving the files and their
    modification times alone, so the session's image cache stays valid); an interrupted or
    damaged extraction is redone.
    """
    archive = demo_archive()
    target = Path(target) if target is not None else default_demo_folder()
    images, labels, class_names, source_index = _load_archive(archive)
    expected = _expected_files(labels, class_names, source_index)
    if _is_complete(target, expected):
        return target

    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / MARKER_NAME).unlink(missing_ok=True)  # invalid until the end
        for name in class_names:
            (target / name).mkdir(exist_ok=True)
        for img, rel in zip(images, expected):
            path = target / rel
            tmp = path.with_name(f".{path.name}.tmp")  # a killed write never leaves a half PNG
            Image.fromarray(np.ascontiguousarray(img), "L").save(tmp, format="PNG")
            os.replace(tmp, path)
        wanted = set(expected)
        for name in class_names:  # files of an older, different extraction
            for path in (target / name).glob("*.png"):
                if f"{name}/{path.name}" not in wanted:
                    path.unlink()
        marker = {"archive": ARCHIVE_NAME, "count": len(expected)}
        (target / MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")
    except OSError as exc:
        raise DcguiError(
            f"cannot write the demo images to {target}: {exc.strerror or exc}. "
            "Free some disk space or check the folder's permissions"
        ) from exc
    return target


def _load_archive(archive: Path) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    if not archive.is_file():
        raise DcguiError(
            f"the demo archive {archive} is missing: reinstall dcgui, or set {RESOURCES_ENV} to the "
            f"folder that holds demo/{ARCHIVE_NAME}"
        )
    try:
        with np.load(archive, allow_pickle=False) as data:
            images = np.asarray(data["images"])
            labels = np.asarray(data["labels"])
            class_names = [str(c) for c in data["class_names"]]
            source_index = np.asarray(data["source_index"])
    except (OSError, ValueError, KeyError) as exc:
        raise DcguiError(f"the demo archive {archive} is damaged ({exc}): reinstall dcgui") from exc
    n = len(images)
    if (images.dtype != np.uint8 or images.ndim != 3 or labels.shape != (n,) or source_index.shape != (n,)
            or not class_names or int(labels.max(initial=0)) >= len(class_names)):
        raise DcguiError(f"the demo archive {archive} has unexpected contents: reinstall dcgui")
    for name in class_names:
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise DcguiError(f"the demo archive {archive} has an invalid class name {name!r}: reinstall dcgui")
    return images, labels, class_names, source_index


def _expected_files(labels: np.ndarray, class_names: list[str], source_index: np.ndarray) -> list[str]:
    """Relative path of each image: ``<class>/<class>_<index in Fashion-MNIST>.png``."""
    names = []
    for label, src in zip(labels.tolist(), source_index.tolist()):
        cls = class_names[label]
        names.append(f"{cls}/{cls}_{src:05d}.png")
    if len(set(names)) != len(names):  # source indices must be unique for the names to be
        names = [f"{n[:-4]}_{i:04d}.png" for i, n in enumerate(names)]
    return names


def _is_complete(target: Path, expected: list[str]) -> bool:
    try:
        marker = json.loads((target / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("count") != len(expected):
        return False
    # Cheap check that nobody deleted files since: one directory listing per class.
    present: set[str] = set()
    for cls in {rel.split("/", 1)[0] for rel in expected}:
        try:
            present.update(f"{cls}/{e.name}" for e in os.scandir(target / cls) if e.name.endswith(".png"))
        except OSError:
            return False
    return present.issuperset(expected)
