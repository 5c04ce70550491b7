"""The bundle's plan and its check, on the real installed packages and a bundle folder built here
from them (PyInstaller itself runs only in ``make package``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))
import bundle_plan  # noqa: E402
import check_bundle  # noqa: E402

linux_wheels = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux wheels' layout")


@pytest.fixture(scope="module")
def libs() -> list[bundle_plan.SharedLib]:
    return list(bundle_plan.shared_libraries(bundle_plan.runtime_distributions()))


def test_runtime_distributions_follow_pyproject_not_the_dev_tools() -> None:
    dists = bundle_plan.runtime_distributions()
    assert {"torch", "torchvision", "faiss-cpu", "pyside6-essentials", "umap-learn", "numba", "llvmlite"} <= set(dists)
    assert not {"pytest", "ruff", "mypy", "pyinstaller", "onnxruntime"} & set(dists)


@linux_wheels
def test_plan_collects_the_libraries_loaded_by_path(libs: list[bundle_plan.SharedLib]) -> None:
    """What the spec adds: every plain library not left out. The libraries whose absence broke the
    first bundle (torchvision's operators, NVRTC's builtins) must be among them."""
    collected = {lib.path for lib in libs if not lib.extension and bundle_plan.left_out_reason(lib.path) is None}
    assert {"torchvision/_C_stable.so", "torchvision/image_stable.so", "llvmlite/binding/libllvmlite.so",
            "PySide6/Qt/plugins/platforms/libqxcb.so"} <= collected
    assert any(p.startswith("nvidia/cu13/lib/libnvrtc-builtins.so") for p in collected)
    assert any(p.startswith("nvidia/cudnn/lib/libcudnn_engines_precompiled.so") for p in collected)
    assert not any(p.startswith(("PySide6/Qt/qml/", "triton/")) for p in collected)


@linux_wheels
def test_extension_modules_are_told_from_libraries(libs: list[bundle_plan.SharedLib]) -> None:
    kinds = {lib.path: lib.extension for lib in libs}
    assert kinds["torchvision/_C_stable.so"] is False  # loaded with torch.ops.load_library
    assert kinds["PySide6/QtCore.abi3.so"] is True
    assert kinds["faiss/libfaiss.so"] is False
    assert any(path.startswith("faiss/_swigfaiss") and ext for path, ext in kinds.items())


def test_left_out_reasons() -> None:
    assert bundle_plan.left_out_reason("PySide6/Qt/plugins/platforms/libqxcb.so") is None
    assert bundle_plan.left_out_reason("PySide6/Qt/plugins/platforms/libqwayland.so") is None
    assert "VNC" in (bundle_plan.left_out_reason("PySide6/Qt/plugins/platforms/libqvnc.so") or "")
    assert bundle_plan.left_out_reason("sklearn/datasets/tests/data/x.csv") is not None
    assert bundle_plan.left_out_reason("torchvision/_C_stable.so") is None


@linux_wheels
def test_check_fails_on_a_missing_library_and_passes_when_it_is_back(
        libs: list[bundle_plan.SharedLib], tmp_path: Path) -> None:
    """A bundle folder with every library the plan keeps (empty stand-ins), then one taken away."""
    internal = tmp_path / "dcgui" / "_internal"
    for lib in libs:
        if bundle_plan.left_out_reason(lib.path) is None:
            (internal / lib.path).parent.mkdir(parents=True, exist_ok=True)
            (internal / lib.path).touch()
    fatal, left_out, not_imported = check_bundle.missing_libraries(internal, libs)
    assert not fatal and not not_imported and left_out
    (internal / "torchvision" / "_C_stable.so").unlink()
    (internal / "PySide6" / "QtSql.abi3.so").unlink()  # an extension module dcgui never imports
    shutil.rmtree(internal / "numba" / "np" / "ufunc")  # numba's threading layers (imported by name)
    fatal, _, not_imported = check_bundle.missing_libraries(internal, libs)
    missing = {lib.path for lib in fatal}
    assert "torchvision/_C_stable.so" in missing
    assert any(p.startswith("numba/np/ufunc/") for p in missing)
    assert not_imported == {"pyside6-essentials": ["PySide6/QtSql.abi3.so"]}


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd")
def test_link_check_reports_a_library_whose_dependency_is_missing(tmp_path: Path) -> None:
    """Real ELF files: a copy of libtorch_global_deps.so (it links libcudart) without libcudart."""
    torch_lib = Path(__import__("torch").__file__).parent / "lib" / "libtorch_global_deps.so"
    if not torch_lib.is_file():
        pytest.skip("this torch has no libtorch_global_deps.so")
    internal = tmp_path / "_internal"
    (internal / "torch" / "lib").mkdir(parents=True)
    shutil.copy2(torch_lib, internal / "torch" / "lib" / torch_lib.name)
    fatal, _system = check_bundle.unresolved_links(internal, {"libcudart.so.13", "libcudart.so.12"})
    assert any(name.startswith("libcudart.so") for name in fatal)


@linux_wheels
@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf")
def test_left_out_plugins_take_their_system_libraries_with_them(tmp_path: Path) -> None:
    """The GTK theme plugin is left out; the system libraries that only it links go too, those
    that something kept links stay. Real ELF files (PySide6's), copied to stand for /lib ones."""
    qt = Path(__import__("PySide6").__file__).parent
    stand_in = qt / "Qt" / "plugins" / "imageformats" / "libqico.so"
    system = tmp_path / "lib"
    system.mkdir()
    for name in ("libgtk-3.so.0", "libQt6Core.so.6"):
        shutil.copy2(stand_in, system / name)
    gtk_plugin = qt / "Qt" / "plugins" / "platformthemes" / "libqgtk3.so"
    core = next(qt.glob("QtCore.*so"))
    binaries = [
        (f"PySide6/{core.name}", str(core), "EXTENSION"),  # links libQt6Core.so.6
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", str(gtk_plugin), "BINARY"),  # links libgtk-3 and Qt
        ("libgtk-3.so.0", str(system / "libgtk-3.so.0"), "BINARY"),
        ("libQt6Core.so.6", str(system / "libQt6Core.so.6"), "BINARY"),
    ]
    kept, dropped = bundle_plan.drop_left_out(binaries)
    assert [e[0] for e in kept] == [f"PySide6/{core.name}", "libQt6Core.so.6"]
    assert [e[0] for e in dropped] == ["PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libgtk-3.so.0"]


@pytest.mark.skipif(shutil.which("readelf") is None or not Path("/lib/x86_64-linux-gnu/libmvec.so.1").exists(),
                    reason="needs readelf and x86-64 glibc's libmvec")
def test_a_part_of_glibc_in_the_bundle_is_found(tmp_path: Path) -> None:
    """libmvec (which PyInstaller copied for pillow-heif's x265) calls glibc's private symbols."""
    internal = tmp_path / "dcgui" / "_internal"
    internal.mkdir(parents=True)
    shutil.copy2(Path(__import__("PySide6").__file__).parent / "Qt" / "plugins" / "imageformats" / "libqico.so",
                 internal / "libqico.so")
    newest, _, private = check_bundle.glibc_needed(internal)
    assert newest is not None and newest >= (2, 2) and private == []
    shutil.copy2("/lib/x86_64-linux-gnu/libmvec.so.1", internal / "libmvec.so.1")
    assert check_bundle.glibc_needed(internal)[2] == ["_internal/libmvec.so.1"]
    assert bundle_plan.left_out_reason("libmvec.so.1") is not None


def test_psygnal_hook_names_every_compiled_module_of_psygnal(libs: list[bundle_plan.SharedLib]) -> None:
    """psygnal is mypyc-compiled: its extension modules import a top-level ``<hash>__mypyc`` helper
    by name. The spec adds nothing for it because psygnal's own hook (found by PyInstaller through
    its ``pyinstaller40`` entry point) names them all; check that it does on what is installed,
    and that check_bundle is strict about psygnal."""
    import runpy
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="pyinstaller40") if e.name == "hook-dirs" and e.value.startswith("psygnal")]
    (hook_dir,) = ep.load()()
    hidden = set(runpy.run_path(str(Path(hook_dir) / "hook-psygnal.py"))["hiddenimports"])
    compiled = {lib.path.split(".")[0].replace("/", ".") for lib in libs if lib.dist == "psygnal" and lib.extension}
    assert any(name.endswith("__mypyc") and "." not in name for name in compiled)  # the helper, outside psygnal/
    assert compiled <= hidden, f"psygnal's hook misses {sorted(compiled - hidden)}"
    assert "psygnal" in bundle_plan.STRICT_DISTRIBUTIONS


def test_qtpy_gets_pyside6_only() -> None:
    """qtpy (superqt's Qt layer) imports every binding it knows; all but PySide6 stay out, and the
    runtime hook names PySide6 before qtpy chooses."""
    import qtpy

    source = Path(qtpy.__file__).read_text(encoding="utf-8")
    bindings = {b for b in ("PyQt5", "PyQt6", "PySide2", "PySide6") if f"from {b}" in source}
    assert bindings - {"PySide6"} <= set(bundle_plan.EXCLUDED_MODULES)
    assert "PySide6" not in bundle_plan.EXCLUDED_MODULES
    hook = (ROOT / "packaging" / "rthook_qt_api.py").read_text(encoding="utf-8")
    assert 'setdefault("QT_API", "pyside6")' in hook
    assert "rthook_qt_api.py" in (ROOT / "packaging" / "dcgui.spec").read_text(encoding="utf-8")
    assert set(bundle_plan.METADATA) <= set(bundle_plan.runtime_distributions())
