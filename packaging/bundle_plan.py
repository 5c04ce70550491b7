"""What goes into the dcgui bundle: shared by ``dcgui.spec`` (the build) and ``check_bundle.py``.

The rule: every *plain* shared library (one loaded by path or by ``dlopen``, not imported as a
Python module: torchvision's ``_C_stable.so``, cuDNN's engine libraries, ``libnvrtc-builtins``,
``libllvmlite.so``, Qt's plugins...) of every distribution dcgui needs at run time goes in,
except what ``LEFT_OUT`` names, each with the reason dcgui never loads it. Python extension
modules come in through PyInstaller's import analysis, plus ``FULL_PACKAGES``, whose modules
import each other by name at run time (Cython ``cimport``, numba's threading layers), so the
analysis cannot see them. A distribution added to ``pyproject.toml`` is covered without an edit
here; ``check_bundle.py`` then proves that the build holds what this file promises.
"""

from __future__ import annotations

import fnmatch
import mmap
import re
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

# (pattern on the path inside the bundle, why dcgui never loads it). Patterns use fnmatch: "*"
# also matches "/".
LEFT_OUT: list[tuple[str, str]] = [
    # Qt: dcgui is a widgets application on X11 or Wayland
    ("PySide6/Qt/qml/*", "QML modules: dcgui has no QML interface"),
    ("PySide6/libpyside6qml*", "PySide's QML support library: dcgui has no QML interface"),
    ("PySide6/Qt/translations/*", "Qt's own translations: dcgui installs no QTranslator"),
    ("PySide6/Qt/plugins/designer/*", "Qt Designer plugins"),
    ("PySide6/Qt/plugins/qmllint/*", "QML tooling"),
    ("PySide6/Qt/plugins/qmltooling/*", "QML debugger and profiler"),
    ("PySide6/Qt/plugins/sqldrivers/*", "Qt SQL drivers: sessions are read with Python's sqlite3"),
    ("PySide6/Qt/plugins/tls/*", "TLS back-ends: dcgui opens no network connection"),
    ("PySide6/Qt/plugins/networkinformation/*", "network status back-ends: no network use"),
    ("PySide6/Qt/plugins/printsupport/*", "printing: dcgui does not print"),
    ("PySide6/Qt/plugins/vectorimageformats/*", "Lottie animations (needs QtQuick)"),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", "PDF images (needs QtPdf, not in PySide6-Essentials)"),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", "embedded full-screen platform (no window system)"),
    ("PySide6/Qt/plugins/platforms/libqlinuxfb.so", "Linux framebuffer platform (no window system)"),
    ("PySide6/Qt/plugins/platforms/libqminimalegl.so", "embedded EGL test platform"),
    ("PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so", "Vulkan display platform (no window system)"),
    ("PySide6/Qt/plugins/platforms/libqvnc.so", "VNC server platform"),
    ("PySide6/Qt/plugins/wayland-graphics-integration-server/*",
     "Wayland compositor plugins: dcgui is a Wayland client"),
    ("PySide6/Qt/plugins/egldeviceintegrations/*", "device back-ends of the eglfs platform"),
    ("PySide6/Qt/plugins/generic/*", "evdev/TUIO input for eglfs and linuxfb"),
    ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
     "on-screen keyboard (needs QtQuick)"),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so",
     "GTK 3 theme: it would pull the build machine's GTK, GLib and Pango into the bundle (and mix "
     "them with the user's); Qt's own dialogs are used instead"),
    # CUDA: libtorch_cuda links cuBLAS, cuFFT, cuSPARSE(Lt), cuSOLVER, NCCL, NVSHMEM, cuFile and
    # NVRTC; cuDNN opens its engine libraries itself and torch preloads libnvrtc-builtins: all in.
    ("nvidia/cu13/lib/libcusolverMg.so*", "multi-GPU cuSOLVER API: torch calls cuSOLVER only"),
    ("nvidia/cu13/lib/libcufftw.so*", "FFTW-compatible wrapper: torch calls cuFFT directly"),
    ("nvidia/cu13/lib/libnvblas.so*", "BLAS interposer for CPU programs"),
    ("nvidia/cu13/lib/libnvperf_*.so*", "CUPTI profiler back-ends (profiling tools only)"),
    ("nvidia/cu13/lib/libpcsamplingutil.so*", "CUPTI PC sampling (profiling tools only)"),
    ("nvidia/cu13/lib/libcheckpoint.so*", "CUPTI checkpoint API (profiling tools only)"),
    ("nvidia/cu13/lib/libnvtx3interop.so*", "NVTX interop for profilers"),
    ("nvidia/cu13/lib/libcufile_rdma.so*", "GPUDirect Storage over RDMA: dcgui reads files with ordinary I/O"),
    ("nvidia/nvshmem/lib/nvshmem_bootstrap_*", "NVSHMEM launchers (MPI, PMI): dcgui's multi-GPU "
                                               "training uses NCCL collectives, never symmetric memory"),
    ("nvidia/nvshmem/lib/nvshmem_transport_*", "NVSHMEM network transports (InfiniBand, UCX): as above"),
    # glibc's own libraries come from the user's system (PyInstaller copies libmvec, which x265 in
    # pillow-heif links, but it calls glibc's private symbols: another glibc would refuse it)
    ("libmvec.so*", "part of glibc: the user's glibc provides it"),
    # the rest
    ("triton/*", "Triton compiles kernels for torch.compile, which dcgui does not use"),
    ("torch/bin/protoc*", "the Protocol Buffers compiler (a build tool), twice"),
    ("*/tests/*", "test folders of the dependencies"),
]

# Libraries that are only ever linked, never opened by path: they come in when something in the
# bundle links them (PyInstaller follows the links), and the check's link test proves none is
# missing. The other Qt libraries (Quick, QML, Designer, Test, Network, Sql...) stay out.
LINKED_ONLY: list[tuple[str, str]] = [
    ("PySide6/Qt/lib/*", "Qt libraries that no Qt module or plugin of the bundle links (Quick, QML, "
                         "Designer, Test, Network, Sql...)"),
]

QTPY_OTHER_BINDINGS: list[str] = ["PyQt5", "PyQt6", "PySide2"]

# Python modules the analysis would pull in although dcgui never imports them.
EXCLUDED_MODULES: list[str] = [
    "tkinter", "matplotlib", "IPython", "pytest", "_pytest",  # (sqlite-utils imports pluggy)
    "onnxruntime",  # only torch.onnx's optional verification imports it; dcgui's export does not
    "PySide6.QtNetwork", "PySide6.QtTest",  # (pyqtgraph imports QtOpenGL: it stays)
    "PySide6.QtWebEngineCore", "PySide6.QtQml", "PySide6.QtQuick",
    "triton", "torch.utils.tensorboard",  # (torch.utils.checkpoint imports torch.testing._internal)
    # qtpy (under superqt) names every Qt binding; dcgui runs on PySide6 only, and PyInstaller
    # refuses to collect two bindings when the build machine has another one installed.
    *QTPY_OTHER_BINDINGS,
]

# Import packages whose extension modules load each other by name at run time: all of them go in.
FULL_PACKAGES: list[str] = ["cuda.bindings", "numba", "llvmlite", "torchvision", "faiss"]

# Distributions whose every extension module must be in the bundle (check_bundle fails otherwise).
# psygnal is compiled with mypyc: its modules import a top-level helper (``<hash>__mypyc``) by
# name, which psygnal's own PyInstaller hook (its ``pyinstaller40`` entry point) adds; being
# strict here makes check_bundle prove that the hook did.
STRICT_DISTRIBUTIONS: set[str] = {"torch", "torchvision", "faiss-cpu", "numba", "llvmlite",
                                  "cuda-bindings", "pynndescent", "umap-learn", "shiboken6", "psygnal"}

# Distributions whose metadata the bundle carries: they read their own version with
# importlib.metadata on import (superqt, psygnal, qtpy's checks) and say "unknown" without it.
METADATA: list[str] = ["superqt", "psygnal", "qtpy", "platformdirs"]

# Libraries whose links must all resolve on the build machine, so that the bundle carries them:
# without Qt's X11 platform plugin the window cannot open on a system that lacks, for instance,
# libxcb-icccm4 (Debian: apt-get install libxcb-icccm4 libxcb-keysyms1 before building).
MUST_LINK: list[str] = ["PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/lib/libQt6XcbQpa.so*"]

_SHARED_LIB = re.compile(r"\.so(\.\d+)*$")


def left_out_reason(path: str) -> str | None:
    """Why ``path`` (inside the bundle, "/"-separated) is left out, or None if it belongs in."""
    return _reason(path, LEFT_OUT)


def linked_only_reason(path: str) -> str | None:
    """Why ``path`` comes in only when linked (see ``LINKED_ONLY``), or None."""
    return _reason(path, LINKED_ONLY)


def _reason(path: str, table: list[tuple[str, str]]) -> str | None:
    for pattern, reason in table:
        if fnmatch.fnmatchcase(path, pattern):
            return reason
    return None


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_distributions(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, metadata.Distribution]:
    """dcgui's run-time dependencies (pyproject's ``[project] dependencies``, no extras) and all
    of theirs, as installed in this environment; canonical name -> distribution."""
    wanted = [Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]
    found: dict[str, metadata.Distribution] = {}
    while wanted:
        req = wanted.pop()
        name = canonical(req.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement not installed here: nothing of it can be bundled
        found[name] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                wanted.append(sub)
    return found


@dataclass(frozen=True)
class SharedLib:
    dist: str  # canonical distribution name
    path: str  # inside site-packages (= inside the bundle), "/"-separated
    source: Path
    extension: bool  # a Python extension module (imported), else a plain library (opened by path)


def is_extension_module(path: Path) -> bool:
    """A Python extension module: a tagged name (``x.cpython-311-...so``, ``x.abi3.so``), or a bare
    ``x.so`` that exports ``PyInit_x`` (torchvision's ``_C_stable.so`` does not: it is loaded by path)."""
    name = path.name
    if not name.endswith(".so"):
        return False
    stem = name[: -len(".so")]
    if "." in stem:
        return bool(re.search(r"\.(cpython-\d+[^.]*|abi3)$", stem))
    if stem.startswith("lib"):  # libfaiss.so, libtorch_cpu.so: plain libraries (and large)
        return False
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(f"PyInit_{stem}".encode()) >= 0
    except (OSError, ValueError):
        return False


def shared_libraries(dists: dict[str, metadata.Distribution]) -> Iterator[SharedLib]:
    """Every shared library file the given distributions installed under site-packages."""
    for name, dist in sorted(dists.items()):
        base = Path(str(dist.locate_file(""))).resolve()
        for entry in dist.files or []:
            if not _SHARED_LIB.search(entry.name):
                continue
            source = Path(str(dist.locate_file(entry))).resolve()
            try:
                rel = source.relative_to(base).as_posix()
            except ValueError:
                continue  # installed outside site-packages (scripts): not part of a package
            if source.is_file():
                yield SharedLib(name, rel, source, is_extension_module(source))


TocEntry = tuple[str, str, str]  # PyInstaller's (path in the bundle, source file, kind)


def drop_left_out(binaries: list[TocEntry]) -> tuple[list[TocEntry], list[TocEntry]]:
    """``(kept, dropped)``: the binaries ``LEFT_OUT`` names, plus the build machine's system
    libraries that only those linked (the GTK theme plugin pulls GTK, Pango, ATK, cairo...).
    A system library that anything kept links stays."""
    kept = [e for e in binaries if left_out_reason(e[0]) is None]
    dropped = [e for e in binaries if left_out_reason(e[0]) is not None]
    system = {e[0]: e for e in kept if "/" not in e[0] and "site-packages" not in e[1]
              and not e[0].startswith("libpython")}
    by_name = dict(system)
    for entry in system.values():
        soname = _dynamic(entry[1], "SONAME")
        if soname:
            by_name.setdefault(soname[0], entry)

    def reach(sources: list[str]) -> set[str]:
        found: set[str] = set()
        todo = list(sources)
        while todo:
            for name in _dynamic(todo.pop(), "NEEDED"):
                entry = by_name.get(name)
                if entry is not None and entry[0] not in found:
                    found.add(entry[0])
                    todo.append(entry[1])
        return found

    needed = reach([e[1] for e in kept if e[0] not in system])
    orphans = reach([e[1] for e in dropped]) - needed
    return [e for e in kept if e[0] not in orphans], dropped + [system[name] for name in sorted(orphans)]


def _dynamic(path: str, tag: str) -> list[str]:
    """The ``NEEDED`` (or ``SONAME``) entries of an ELF file's dynamic section."""
    out = subprocess.run(["readelf", "-d", "--wide", path], capture_output=True, text=True, check=False).stdout
    return re.findall(rf"\({tag}\)\s+\S+ \S+: \[([^\]]+)\]", out)
