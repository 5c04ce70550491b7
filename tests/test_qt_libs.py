"""`make run` names every system library Qt's X11 plugin lacks in one apt-get line (issue 21
item 14), from the real plugin and the real linker cache of this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import check_qt_libs  # noqa: E402

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd / ldconfig")


@linux
def test_libraries_dropped_from_the_real_linker_cache_are_all_named() -> None:
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    gone = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0")
    without = "\n".join(line for line in cache.splitlines() if line.split()[0] not in gone)
    missing = check_qt_libs.absent(without)
    assert set(gone) <= missing
    line = check_qt_libs.apt_line(missing)
    assert line.startswith("sudo apt-get install ")
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"} <= set(line.split()[3:])


@linux
def test_the_real_plugin_is_checked_and_the_answer_is_one_line(capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = check_qt_libs.plugin_path()
    assert plugin is not None and plugin.name == "libqxcb.so"
    ldd = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    missing = check_qt_libs.missing_libraries()
    assert check_qt_libs.not_found(ldd) <= missing  # whatever ldd cannot find is reported
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    rc = check_qt_libs.main()
    err = capsys.readouterr().err
    assert rc == (1 if missing else 0)
    if missing:
        assert len([ln for ln in err.splitlines() if "apt-get install" in ln]) == 1
        assert all(check_qt_libs.PACKAGES.get(s, s) in err for s in missing)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert check_qt_libs.main() == 0  # no X11 plugin loaded: nothing to check


def test_make_run_checks_before_it_opens_the_window() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\nrun: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
    lines = [ln.strip() for ln in recipe.splitlines()]
    assert lines[0] == "$(PY) scripts/check_qt_libs.py" and lines[1].startswith("$(PY) main.py")
