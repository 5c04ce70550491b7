"""The engine, the session store, the services and the CLI never import Qt (they must run headless)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import dcgui.cli
import dcgui.core
import dcgui.services
import dcgui.store  # noqa: F401

HEADLESS_PACKAGES = ("dcgui.core", "dcgui.store", "dcgui.services", "dcgui.cli")


def _headless_modules() -> list[str]:
    names = ["dcgui.cli"]
    for pkg_name in HEADLESS_PACKAGES:
        pkg = sys.modules[pkg_name]
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg_name + ".")]
    return names


def test_headless_modules_do_not_import_qt() -> None:
    modules = _headless_modules()
    assert "dcgui.core.train.engine" in modules and "dcgui.store.session" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt imported by the headless layer: {out.stdout}"


def test_contract_detects_a_qt_import(tmp_path) -> None:
    """The check above can fail: importing a GUI module does pull Qt in."""
    code = "import sys, dcgui.gui.worker; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
